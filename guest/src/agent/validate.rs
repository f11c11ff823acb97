//! Validate, then repair: before the real update, a `validate_only` update checks the sources
//! the run wrote. Errors in the model's files go back to the model (at most `MAX_ROUNDS`), its
//! corrected files are re-imported and validated again; anything still invalid, or invalid
//! sources that were not the model's, fail the run before any data is touched.

use super::attribute::Attribution;
use super::progress::Progress;
use super::sources::Written;
use crate::databricks::updates::{self, Kind, Started};
use crate::databricks::{WorkspaceClient, events, workspace};
use crate::error::{Error, Invalid, Result, UpdateError};
use crate::model_fill::Conversation;
use std::collections::BTreeMap;

/// Repair rounds the model gets.
pub const MAX_ROUNDS: u32 = 2;

/// How validation ended, when it did not fail the run.
pub struct Validated {
    /// The validation update that passed; None in plan mode (nothing ran).
    pub update_id: Option<String>,
    pub rounds: u32,
    /// The model's files as last written (repaired ones included), path → text.
    pub model_files: BTreeMap<String, String>,
}

impl Validated {
    /// For the run's `message`.
    pub fn note(&self) -> String {
        match (&self.update_id, self.rounds) {
            (None, _) => "would validate the sources (validate_only update) first".into(),
            (Some(u), 0) => format!("validated by update {u} on the first try"),
            (Some(u), 1) => format!("validated by update {u} after 1 repair round"),
            (Some(u), n) => format!("validated by update {u} after {n} repair rounds"),
        }
    }
}

/// What a validation needs besides the workspace.
pub struct Check<'a> {
    pub pipeline_id: &'a str,
    /// Every source file of the pipeline, to name the file an error is in.
    pub files: &'a [String],
    /// The payload's source files (path → text): the file an error is in is found from them
    /// and the model's (events name none).
    pub payload_sources: &'a BTreeMap<String, String>,
    pub timeout_secs: u64,
    pub progress: &'a Progress,
}

/// Validates until the sources pass, repairing the model's files with `conversation` (None
/// when the model wrote nothing, or was not asked).
pub async fn validate(
    ws: &WorkspaceClient,
    check: &Check<'_>,
    written: &Written,
    mut conversation: Option<&mut Conversation<'_>>,
) -> Result<Validated> {
    let mut model_files = written.by_model.clone();
    let mut rounds = 0;
    loop {
        let update_id = start(ws, check.pipeline_id).await?;
        if ws.is_dry_run() {
            // Plan mode: the update is a placeholder and never runs.
            return Ok(Validated {
                update_id: None,
                rounds,
                model_files,
            });
        }
        let state = check
            .progress
            .wait_for(
                ws,
                check.pipeline_id,
                &update_id,
                "validation update",
                check.timeout_secs,
            )
            .await?;
        if state == "COMPLETED" {
            return Ok(Validated {
                update_id: Some(update_id),
                rounds,
                model_files,
            });
        }
        let errors = errors(ws, check, &update_id, &state, &model_files).await;
        let invalid = |rounds| {
            Error::ValidationFailed(Invalid {
                pipeline_id: check.pipeline_id.to_string(),
                update_id: update_id.clone(),
                repair_rounds: rounds,
                errors: errors.clone(),
            })
        };
        // A canceled validation says nothing about the sources: nothing to repair.
        let Some(talk) = conversation.as_deref_mut().filter(|_| state == "FAILED") else {
            return Err(invalid(rounds));
        };
        if model_files.is_empty() {
            return Err(invalid(rounds));
        }
        let corrected = loop {
            if rounds == MAX_ROUNDS {
                return Err(invalid(rounds));
            }
            rounds += 1;
            check.progress.say(format_args!(
                "repair round {rounds}: asking the model to fix {} error(s)",
                errors.len()
            ));
            match talk.repair(&model_files, &errors).await? {
                Some(corrected) => break corrected,
                None => check.progress.say(format_args!(
                    "repair round {rounds}: the model's answer could not be used"
                )),
            }
        };
        for (path, text) in &corrected {
            workspace::upload(ws, path, text).await?;
            model_files.insert(path.clone(), text.clone());
        }
        let paths: Vec<&str> = corrected.keys().map(String::as_str).collect();
        check.progress.say(format_args!(
            "repair round {rounds}: re-imported {}",
            paths.join(", ")
        ));
    }
}

/// Starts a validation update; 409 is the same `update_active` as for any update.
async fn start(ws: &WorkspaceClient, pipeline_id: &str) -> Result<String> {
    match updates::start(ws, pipeline_id, Kind::Validate).await? {
        Started::Update(u) => Ok(u),
        Started::AlreadyRunning => Err(Error::UpdateActive(pipeline_id.to_string())),
    }
}

/// The errors of a validation that did not complete; never empty.
async fn errors(
    ws: &WorkspaceClient,
    check: &Check<'_>,
    update_id: &str,
    state: &str,
    model_files: &BTreeMap<String, String>,
) -> Vec<UpdateError> {
    // The files as they are now: the payload's, then the model's latest.
    let mut sources = check.payload_sources.clone();
    sources.extend(model_files.iter().map(|(p, t)| (p.clone(), t.clone())));
    let attribution = Attribution::of(&sources);
    let locate = |dataset: Option<&str>, message: &str| attribution.file(dataset, message);
    let errors = events::errors(ws, check.pipeline_id, update_id, check.files, &locate).await;
    if errors.is_empty() {
        vec![UpdateError {
            dataset: None,
            file: None,
            message: format!("validation update {update_id} ended {state} with no ERROR event"),
        }]
    } else {
        errors
    }
}
