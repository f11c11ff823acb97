//! Job side: complete the config (asking the model when needed), make sure the source files
//! exist, create or edit the pipeline, start an update and optionally wait for it.

use crate::config::{PartialConfig, PipelineConfig};
use crate::databricks::pipelines::{self, Started};
use crate::databricks::plan::PlannedCall;
use crate::databricks::{Workspace, workspace};
use crate::error::{Error, FieldError, Result};
use crate::payload::{Payload, Side};
use crate::planner;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct PipelineResult {
    pub service_url: String,
    pub pipeline_id: String,
    pub update_id: String,
    pub message: String,
    pub state: Option<String>,
    /// Plan mode: the withheld writes (ids they would have made are placeholders).
    pub plan: Option<Vec<PlannedCall>>,
}

pub async fn run(text: &str) -> Result<PipelineResult> {
    let payload = Payload::parse(text, Side::Run)?;
    let ws = Workspace::from_env()?.dry_run(payload.dry_run);
    let (cfg, model_sources) = resolve_config(&ws, &payload).await?;
    let mut notes = write_sources(&ws, &cfg, &payload.config.sources, &model_sources).await?;

    let pipeline_id = match pipelines::find_by_name(&ws, &cfg.pipeline_name).await? {
        Some(id) => {
            let changed = pipelines::edit(&ws, &id, &cfg).await?;
            notes.insert(
                0,
                if changed.is_empty() {
                    format!("Pipeline '{}' already up to date", cfg.pipeline_name)
                } else {
                    format!(
                        "Updated pipeline '{}' ({} changed; other settings kept)",
                        cfg.pipeline_name,
                        changed.join(", ")
                    )
                },
            );
            id
        }
        None => {
            let id = create_once(&ws, &cfg).await?;
            notes.insert(
                0,
                format!(
                    "Created serverless pipeline '{}' publishing to {}.{} with {} source file(s)",
                    cfg.pipeline_name,
                    cfg.catalog,
                    cfg.schema,
                    cfg.workspace_file_paths.len()
                ),
            );
            id
        }
    };

    let update_id = match pipelines::start_update(&ws, &pipeline_id, payload.full_refresh).await? {
        Started::Update(u) => u,
        Started::AlreadyRunning => return Err(Error::UpdateActive(pipeline_id)),
    };
    notes.push(format!(
        "started update {update_id}{}",
        if payload.full_refresh {
            " (full refresh)"
        } else {
            ""
        }
    ));

    // A planned update never runs: there is nothing to wait for.
    let state = if payload.wait && !payload.dry_run {
        let state = wait_for(&ws, &pipeline_id, &update_id, payload.wait_timeout_seconds).await?;
        let mut note = format!("update {state}");
        if state != "COMPLETED"
            && let Some(why) = pipelines::first_error(&ws, &pipeline_id).await
        {
            note.push_str(&format!(": {why}"));
        }
        notes.push(note);
        Some(state)
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
        plan: ws.planned(),
    })
}

/// The complete config (payload values win over the model's) and the sources the model wrote.
async fn resolve_config(
    ws: &Workspace,
    payload: &Payload,
) -> Result<(PipelineConfig, BTreeMap<String, String>)> {
    let mut config = payload.config.clone();
    let missing = config.missing();
    let mut model_sources = BTreeMap::new();
    if !missing.is_empty() {
        let endpoint = payload
            .claude_endpoint
            .clone()
            .or_else(|| std::env::var("CLAUDE_ENDPOINT_NAME").ok())
            .filter(|e| !e.is_empty());
        match (&payload.question, endpoint) {
            (Some(question), Some(endpoint)) => {
                let mut answer: PartialConfig =
                    planner::fill_missing(ws, &endpoint, question, &config).await?;
                model_sources = std::mem::take(&mut answer.sources);
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
    Ok((cfg, model_sources))
}

/// Makes every library file exist before the pipeline refers to it. Checks everything first so
/// that a missing file fails the run before anything is written.
async fn write_sources(
    ws: &Workspace,
    cfg: &PipelineConfig,
    given: &BTreeMap<String, String>,
    generated: &BTreeMap<String, String>,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for path in given.keys() {
        if !cfg.workspace_file_paths.contains(path) {
            problems.push(FieldError::new(
                format!("sources.{path}"),
                "not one of workspace_file_paths",
            ));
        }
    }
    let mut uploads: Vec<(&str, &str)> = Vec::new();
    for (i, path) in cfg.workspace_file_paths.iter().enumerate() {
        if let Some(text) = given.get(path) {
            uploads.push((path, text));
        } else if !workspace::exists(ws, path).await? {
            match generated.get(path) {
                Some(text) => uploads.push((path, text)),
                None => problems.push(FieldError::new(
                    format!("workspace_file_paths[{i}]"),
                    format!(
                        "`{path}` does not exist in the workspace and no source was given for it"
                    ),
                )),
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::InvalidPayload(problems));
    }
    for (path, text) in &uploads {
        workspace::upload(ws, path, text).await?;
    }
    Ok(if uploads.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "wrote {}",
            uploads
                .iter()
                .map(|(p, _)| *p)
                .collect::<Vec<_>>()
                .join(", ")
        )]
    })
}

/// Creates the pipeline, retrying a failure whose outcome is unknown only after checking by
/// name that the earlier attempt did not in fact create it (a create carries no idempotency
/// token, so a blind retry could make two).
async fn create_once(ws: &Workspace, cfg: &PipelineConfig) -> Result<String> {
    const ATTEMPTS: u32 = 4;
    let mut attempt = 1;
    loop {
        let error = match pipelines::create(ws, cfg).await {
            Ok(id) => return Ok(id),
            Err(e) if attempt < ATTEMPTS && outcome_unknown(&e) => e,
            Err(e) => return Err(e),
        };
        if let Some(id) = pipelines::find_by_name(ws, &cfg.pipeline_name).await? {
            eprintln!("sdp-agent: pipeline create answered {error}, but it was created: {id}");
            return Ok(id);
        }
        eprintln!("sdp-agent: pipeline create failed ({error}); not created, retrying");
        wstd::task::sleep(crate::databricks::client::backoff(attempt).into()).await;
        attempt += 1;
    }
}

/// Failures after which the workspace may or may not have acted.
fn outcome_unknown(e: &Error) -> bool {
    match e {
        Error::Upstream(u) => u.status == 429 || u.status >= 500,
        Error::Transport(_) | Error::Timeout(_) => true,
        _ => false,
    }
}

/// Polls the update until a final state, backing off from 50 ms to 5 s between polls.
async fn wait_for(ws: &Workspace, id: &str, update_id: &str, timeout_secs: u64) -> Result<String> {
    let started = Instant::now();
    let limit = Duration::from_secs(timeout_secs);
    let mut pause = Duration::from_millis(50);
    loop {
        let state = pipelines::update_state(ws, id, update_id).await?;
        if pipelines::FINAL_STATES.contains(&state.as_str()) {
            return Ok(state);
        }
        if started.elapsed() + pause > limit {
            return Err(Error::Timeout(format!(
                "pipeline {id} update {update_id} still {state} after {timeout_secs} s"
            )));
        }
        wstd::task::sleep(pause.into()).await;
        pause = Duration::from_millis((pause.as_millis() as u64 * 2).min(5_000));
    }
}
