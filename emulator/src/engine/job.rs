//! Starting an update's work: the structural check answers at once; the Spark engine runs in
//! a task that hands its verdict to the update when it is done (the update cannot reach a
//! final state before that).

use serde_json::{Map, Value};

use super::sources::SourceFile;
use super::spark::{Job, Mode, Volume, VolumeFiles};
use super::structure::{Target, check};
use super::{Engine, Verdict, collect};
use crate::state::{SharedApp, State};

/// The engine's answer for a new update.
pub enum Started {
    Ready(Verdict),
    /// Running in the background; `AbortHandle` stops it (and kills Spark).
    Pending(tokio::task::AbortHandle),
}

/// The pipeline's target: `catalog` and `schema` (or the legacy `target`).
pub fn target_of(spec: &Map<String, Value>) -> (String, String) {
    let text = |key: &str| spec.get(key).and_then(Value::as_str).unwrap_or("");
    let catalog = match text("catalog") {
        "" => "hive_metastore",
        c => c,
    };
    let schema = match (text("schema"), text("target")) {
        ("", "") => "default",
        ("", target) => target,
        (schema, _) => schema,
    };
    (catalog.to_string(), schema.to_string())
}

fn names(selection: &[Value]) -> Vec<String> {
    selection
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// The volumes an update can read: every mounted one, and those stored in memory whose
/// `/Volumes/c/s/v` path the sources mention.
fn volumes_named(state: &State, files: &[SourceFile]) -> Vec<Volume> {
    let text: String = files
        .iter()
        .map(|f| f.text.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("\n");
    let mut volumes = Vec::new();
    for full_name in state.volumes.names() {
        let parts: Vec<String> = full_name.split('.').map(str::to_string).collect();
        let Ok(names) = <[String; 3]>::try_from(parts) else {
            continue;
        };
        let path = format!("/volumes/{}", names.join("/"));
        let named = ["/", "'", "\""]
            .iter()
            .any(|end| text.contains(&format!("{path}{end}")));
        // Mounted volumes cost nothing (read in place); stored ones are copied, so only when
        // named.
        let files = match state.files.mount_of(&full_name) {
            Some(dir) => VolumeFiles::Dir(dir.clone()),
            None if named => VolumeFiles::Stored(state.files.volume_contents(&full_name)),
            None => continue,
        };
        volumes.push(Volume { names, files });
    }
    volumes
}

/// The update whose work starts.
pub struct UpdateRef<'a> {
    pub pipeline_id: &'a str,
    pub update_id: &'a str,
    /// The pipeline's settings when the update started.
    pub spec: &'a Map<String, Value>,
    pub validate_only: bool,
    pub full_refresh: bool,
    /// Datasets to refresh (`refresh_selection`) and to fully refresh
    /// (`full_refresh_selection`); both empty = every dataset.
    pub refresh_selection: &'a [Value],
    pub full_refresh_selection: &'a [Value],
}

/// Hands a pending update its verdict: `(state, pipeline_id, update_id, verdict)`.
pub type Deliver = fn(&mut State, &str, &str, Verdict);

/// Starts an update's work, reading its sources from the workspace as they are now.
/// `deliver` gets the verdict of pending work.
pub fn start(app: &SharedApp, state: &State, update: &UpdateRef, deliver: Deliver) -> Started {
    let UpdateRef {
        pipeline_id,
        update_id,
        spec,
        validate_only,
        full_refresh,
        refresh_selection,
        full_refresh_selection,
    } = *update;
    let (files, problems) = collect(spec, &state.workspace);
    let (catalog, schema) = target_of(spec);
    if !problems.is_empty() {
        return Started::Ready(Verdict {
            problems,
            ..Verdict::default()
        });
    }
    let spark = match &app.config.engine {
        Engine::Structural => {
            let target = Target {
                catalog: &catalog,
                schema: &schema,
            };
            return Started::Ready(check(&files, &target));
        }
        Engine::Spark(spark) => spark.clone(),
    };
    let job = Job {
        pipeline_id: pipeline_id.to_string(),
        name: spec
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("pipeline")
            .to_string(),
        catalog,
        schema,
        volumes: volumes_named(state, &files),
        tables: state.data_tables.clone(),
        configuration: spec
            .get("configuration")
            .and_then(Value::as_object)
            .map(|c| {
                c.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_string),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        refresh: names(refresh_selection),
        full_refresh_selection: names(full_refresh_selection),
        files,
        mode: if validate_only {
            Mode::DryRun
        } else if full_refresh {
            Mode::FullRefresh
        } else {
            Mode::Run
        },
    };
    let app = app.clone();
    let (pipeline_id, update_id) = (pipeline_id.to_string(), update_id.to_string());
    let task = tokio::spawn(async move {
        let verdict = spark.execute(job).await;
        deliver(&mut app.lock(), &pipeline_id, &update_id, verdict);
    });
    Started::Pending(task.abort_handle())
}
