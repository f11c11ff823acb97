//! Job side: complete the config (asking the model when needed), refuse a pipeline that is
//! not the agent's, make sure the source files exist, create or edit the pipeline, validate
//! what was written (repairing the model's files), start an update and optionally wait for it.

use super::checks::{self, TableChecks};
use super::progress::Progress;
use super::sources;
use super::validate::{self, Check};
use crate::databricks::client::{backoff, outcome_unknown};
use crate::databricks::events::{self, Dataset};
use crate::databricks::permissions;
use crate::databricks::pipelines::{self, Existing};
use crate::databricks::plan::PlannedCall;
use crate::databricks::serving::Usage;
use crate::databricks::updates::{self, Kind, Started};
use crate::databricks::{WorkspaceClient, unity_catalog};
use crate::error::{Error, Result};
use crate::model_fill::{self, Conversation};
use crate::payload::{Payload, Side};
use crate::pipeline_config::PipelineConfig;
use crate::policy::{self, Policy};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone)]
pub struct PipelineResult {
    pub service_url: String,
    pub pipeline_id: String,
    pub update_id: String,
    pub message: String,
    pub state: Option<String>,
    /// The datasets and what feeds them, from the last update that ran to its end.
    pub datasets: Option<Vec<Dataset>>,
    /// The data checks of each dataset, after a waited update that completed.
    pub checks: Option<Vec<TableChecks>>,
    /// Plan mode: the withheld writes (ids they would have made are placeholders).
    pub plan: Option<Vec<PlannedCall>>,
    /// What the model's answers cost (zero when it was not asked).
    pub model: Usage,
}

pub async fn run(text: &str) -> Result<PipelineResult> {
    let progress = Progress::start();
    let text = super::staging::resolve(text).await?;
    let payload = Payload::parse(&text, Side::Run)?;
    // What the payload asks for is held to the policy before the model is asked; the config
    // the model completed, before anything is looked up, written or started.
    let policy = policy::current()?;
    policy.check_payload(&payload)?;
    let ws = WorkspaceClient::from_env()?.dry_run(payload.dry_run);
    let (cfg, model_sources, mut conversation) = resolve_config(&ws, &payload, &policy).await?;
    policy.check_config(&cfg)?;
    let caller = super::caller();
    let caller = caller.as_deref();

    // Whose pipeline it is decides what may be written: settle it before writing anything.
    let existing = match pipelines::find_by_name(&ws, &cfg.pipeline_name).await? {
        Some(id) => {
            let existing = pipelines::get(&ws, &id).await?;
            if let Some(refused) = existing.refusal(payload.adopt) {
                return Err(refused);
            }
            Some(existing)
        }
        None => None,
    };
    let written = sources::write(
        &ws,
        &cfg,
        &payload.config.sources,
        &model_sources,
        existing.as_ref(),
    )
    .await?;

    let (pipeline_id, summary) = match &existing {
        Some(existing) => {
            let changed = pipelines::edit(
                &ws,
                existing,
                &cfg,
                &written.notebooks,
                payload.adopt,
                caller,
            )
            .await?;
            (existing.id.clone(), edit_summary(&cfg, existing, &changed))
        }
        None => {
            let id = create_once(&ws, &cfg, &written.notebooks, caller).await?;
            let summary = format!(
                "Created serverless pipeline '{}' publishing to {}.{} with {} source file(s)",
                cfg.pipeline_name,
                cfg.catalog,
                cfg.schema,
                cfg.workspace_file_paths.len()
            );
            (id, summary)
        }
    };
    let mut notes = vec![summary];
    notes.extend(written.notes.iter().cloned());
    // The caller may watch and rerun what was built for them, never change its code (that
    // runs as the run identity). Granted on every run: a PATCH adds, so a rerun repairs one
    // that failed. A refused grant costs the caller a view, not the pipeline: said, not fatal.
    if let Some(caller) = caller
        && let Err(e) = permissions::grant_caller(&ws, &pipeline_id, caller).await
    {
        let note = format!("{caller} was not granted CAN_RUN (view and run) on the pipeline: {e}");
        progress.say(format_args!("{note}"));
        notes.push(note);
    }

    // The texts of the files the run wrote (repaired ones as repaired): what the data checks
    // read keys and expectations from.
    let mut texts: BTreeMap<String, String> = written
        .by_model
        .iter()
        .chain(&payload.config.sources)
        .map(|(p, t)| (p.clone(), t.clone()))
        .collect();
    // What the run wrote is proven valid (or repaired) before an update touches data.
    let validated = if payload.validate && written.any() {
        let check = Check {
            pipeline_id: &pipeline_id,
            files: &cfg.workspace_file_paths,
            payload_sources: &payload.config.sources,
            timeout_secs: payload.wait_timeout_seconds,
            progress: &progress,
        };
        let validated = validate::validate(&ws, &check, &written, conversation.as_mut()).await?;
        notes.push(validated.note());
        texts.extend(validated.model_files);
        validated.update_id
    } else {
        None
    };

    // A full refresh clears streaming tables: only the default for a pipeline just made.
    let full_refresh = payload.full_refresh.unwrap_or(existing.is_none());
    let update_id = match updates::start(&ws, &pipeline_id, Kind::Refresh { full_refresh }).await? {
        Started::Update(u) => u,
        Started::AlreadyRunning => return Err(Error::UpdateActive(pipeline_id)),
    };
    progress.say(format_args!("started update {update_id}"));
    notes.push(format!(
        "started update {update_id}{}",
        if full_refresh { " (full refresh)" } else { "" }
    ));

    // A planned update never runs: there is nothing to wait for.
    let state = if payload.wait && !payload.dry_run {
        let state = progress
            .wait_for(
                &ws,
                &pipeline_id,
                &update_id,
                "update",
                payload.wait_timeout_seconds,
            )
            .await?;
        let mut note = format!("update {state}");
        if state != "COMPLETED" {
            let reasons = events::failure_reasons(&ws, &pipeline_id, &update_id).await;
            if !reasons.is_empty() {
                note.push_str(&format!(": {}", reasons.join(" | ")));
            }
        }
        notes.push(note);
        Some(state)
    } else {
        None
    };
    // The graph of the update waited for, else of the validation that passed.
    let update_events = match &state {
        Some(_) => events::info(&ws, &pipeline_id, &update_id).await,
        None => Vec::new(),
    };
    let mut datasets = events::graph(&update_events);
    if datasets.is_empty()
        && let Some(validation) = &validated
    {
        datasets = events::datasets(&ws, &pipeline_id, validation).await;
    }
    // What the update wrote, counted: only when it completed (a failed one wrote nothing to
    // trust), never a reason to fail the run.
    let checks = if state.as_deref() == Some("COMPLETED") && !datasets.is_empty() {
        let run = checks::Run {
            datasets: &datasets,
            events: &update_events,
            sources: &texts,
            warehouse_id: payload.warehouse_id.as_deref(),
            progress: &progress,
        };
        let (found, why) = checks::check(&ws, &run).await;
        notes.extend(why);
        Some(found)
    } else {
        None
    };

    Ok(PipelineResult {
        service_url: format!("{}/pipelines/{pipeline_id}", ws.base()),
        pipeline_id,
        update_id,
        message: if payload.dry_run {
            format!("dry run, nothing written; would have: {}", notes.join("; "))
        } else {
            notes.join("; ")
        },
        state,
        datasets: (!datasets.is_empty()).then_some(datasets),
        checks,
        plan: ws.planned(),
        model: conversation
            .as_ref()
            .map(Conversation::usage)
            .unwrap_or_default(),
    })
}

fn edit_summary(cfg: &PipelineConfig, existing: &Existing, changed: &[&str]) -> String {
    let name = &cfg.pipeline_name;
    if !existing.is_ours() {
        format!(
            "Adopted pipeline '{name}' created by {} ({} changed; other settings kept)",
            existing.creator,
            changed.join(", ")
        )
    } else if changed.is_empty() {
        format!("Pipeline '{name}' already up to date")
    } else {
        format!(
            "Updated pipeline '{name}' ({} changed; other settings kept)",
            changed.join(", ")
        )
    }
}

/// The complete config (payload values win over the model's), the sources the model wrote, and
/// the conversation with it when it was asked.
async fn resolve_config<'a>(
    ws: &'a WorkspaceClient,
    payload: &Payload,
    policy: &Policy,
) -> Result<(
    PipelineConfig,
    BTreeMap<String, String>,
    Option<Conversation<'a>>,
)> {
    let mut config = payload.config.clone();
    let missing = config.missing();
    let mut model_sources = BTreeMap::new();
    let mut conversation = None;
    if !missing.is_empty() {
        let endpoint = payload
            .claude_endpoint
            .clone()
            .or_else(|| std::env::var("CLAUDE_ENDPOINT_NAME").ok())
            .filter(|e| !e.is_empty())
            .or_else(|| policy.claude_endpoint().map(str::to_string));
        match (&payload.question, endpoint) {
            (Some(question), Some(endpoint)) => {
                let default_catalog = match &config.catalog {
                    Some(_) => None,
                    None => unity_catalog::default_catalog(ws).await,
                };
                let (mut answer, talk) = model_fill::fill_missing(
                    ws,
                    &endpoint,
                    question,
                    &config,
                    default_catalog.as_deref(),
                )
                .await?;
                model_sources = std::mem::take(&mut answer.sources);
                conversation = Some(talk);
                config.fill_from(answer);
            }
            (question, endpoint) => {
                let mut keys = missing;
                if question.is_none() {
                    keys.push("question".into());
                }
                if endpoint.is_none() {
                    keys.push("claude_endpoint".into());
                }
                return Err(Error::MissingConfig(keys));
            }
        }
    }
    let cfg = config.complete().map_err(Error::MissingConfig)?;
    Ok((cfg, model_sources, conversation))
}

/// Creates the pipeline, retrying a failure whose outcome is unknown only after checking by
/// name that the earlier attempt did not in fact create it (a create carries no idempotency
/// token, so a blind retry could make two).
async fn create_once(
    ws: &WorkspaceClient,
    cfg: &PipelineConfig,
    notebooks: &BTreeSet<String>,
    caller: Option<&str>,
) -> Result<String> {
    const ATTEMPTS: u32 = 4;
    let mut attempt = 1;
    loop {
        let error = match pipelines::create(ws, cfg, notebooks, caller).await {
            Ok(id) => return Ok(id),
            Err(e) if attempt < ATTEMPTS && outcome_unknown(&e) => e,
            Err(e) => return Err(e),
        };
        if let Some(id) = pipelines::find_by_name(ws, &cfg.pipeline_name).await? {
            eprintln!("sdp-agent: pipeline create answered {error}, but it was created: {id}");
            return Ok(id);
        }
        eprintln!("sdp-agent: pipeline create failed ({error}); not created, retrying");
        wstd::task::sleep(backoff(attempt).into()).await;
        attempt += 1;
    }
}
