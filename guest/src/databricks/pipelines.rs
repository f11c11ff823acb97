//! Pipelines API (Spark Declarative Pipelines): find by exact name, read, create, edit.
//! Updates and their events are in `updates`.

use super::client::{Retry, WorkspaceClient, query};
use crate::error::{Error, Refused, Result, Upstream};
use crate::pipeline_config::PipelineConfig;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// The tag that marks a pipeline as the agent's own (set on create and on adoption).
pub const TAG_KEY: &str = "sdp_agent";
const TAG_VALUE: &str = "managed";
/// The tag that says who asked for the run that last created or edited it (`run --caller`).
pub const CALLER_TAG: &str = "sdp_agent_caller";

/// A `name LIKE '…'` filter that finds `name` whether or not the service treats `\` as an
/// escape (the docs name none): `_` and `%` stay wildcards, `\` becomes the one-character
/// wildcard `_`, quotes are doubled. It matches a superset; `find_by_name` compares exactly.
pub fn name_filter(name: &str) -> String {
    let pattern = name.replace('\\', "_").replace('\'', "''");
    format!("name LIKE '{pattern}'")
}

/// The id of the pipeline named exactly `name`, following every page (LIKE is not equality:
/// wildcards and case rules differ between workspaces).
pub async fn find_by_name(ws: &WorkspaceClient, name: &str) -> Result<Option<String>> {
    let filter = name_filter(name);
    let mut token: Option<String> = None;
    loop {
        let mut pairs = vec![("filter", filter.as_str()), ("max_results", "100")];
        if let Some(t) = &token {
            pairs.push(("page_token", t));
        }
        let page = ws
            .get(&format!("/api/2.0/pipelines?{}", query(&pairs)))
            .await?;
        let found = page
            .get("statuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|s| s.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|s| s.get("pipeline_id").and_then(Value::as_str));
        if let Some(id) = found {
            return Ok(Some(id.to_string()));
        }
        token = next_page(&page);
        if token.is_none() {
            return Ok(None);
        }
    }
}

pub fn next_page(page: &Value) -> Option<String> {
    page.get("next_page_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// An existing pipeline as `GET /api/2.0/pipelines/{id}` shows it.
#[derive(Debug, Clone)]
pub struct Existing {
    pub id: String,
    pub spec: Map<String, Value>,
    /// Sent back as `expected_last_modified`, so an edit never undoes a newer one.
    pub last_modified: Option<i64>,
    pub creator: String,
}

impl Existing {
    /// Whether the agent created it (or adopted it).
    pub fn is_ours(&self) -> bool {
        self.spec
            .get("tags")
            .and_then(Value::as_object)
            .is_some_and(|tags| tags.contains_key(TAG_KEY))
    }

    /// A legacy Hive metastore pipeline publishes to `target` and has no `catalog`.
    pub fn is_hive_metastore(&self) -> bool {
        self.spec.contains_key("target") && !self.spec.contains_key("catalog")
    }

    /// The folder of its code, for telling the agent's own files from anyone else's.
    pub fn root_path(&self) -> Option<&str> {
        self.spec.get("root_path").and_then(Value::as_str)
    }

    /// Why the agent must leave it alone, if it must.
    pub fn refusal(&self, adopt: bool) -> Option<Error> {
        let name = self.spec.get("name").and_then(Value::as_str).unwrap_or("");
        let by = if self.creator.is_empty() {
            "someone else".to_string()
        } else {
            self.creator.clone()
        };
        let reason = if self.is_hive_metastore() {
            format!(
                "pipeline '{name}' ({}, created by {by}) publishes to the Hive metastore \
                 (`target`, no `catalog`); moving it to Unity Catalog is a clone, not an edit: \
                 choose another pipelineName",
                self.id
            )
        } else if !adopt && !self.is_ours() {
            format!(
                "pipeline '{name}' ({}) was created by {by}, not by this agent (no `{TAG_KEY}` \
                 tag); set \"adopt\": true in the payload to let the agent edit it, or choose \
                 another pipelineName",
                self.id
            )
        } else {
            return None;
        };
        Some(Error::PipelineRefused(Refused {
            pipeline_id: self.id.clone(),
            creator: self.creator.clone(),
            reason,
        }))
    }
}

/// Reads a pipeline's spec, last-modified time and creator.
pub async fn get(ws: &WorkspaceClient, id: &str) -> Result<Existing> {
    let request = format!("GET /api/2.0/pipelines/{id}");
    let answer = ws.get(&format!("/api/2.0/pipelines/{id}")).await?;
    let Some(Value::Object(spec)) = answer.get("spec") else {
        return Err(malformed(&request, "spec", &answer));
    };
    Ok(Existing {
        id: id.to_string(),
        spec: spec.clone(),
        last_modified: answer.get("last_modified").and_then(Value::as_i64),
        creator: answer
            .get("creator_user_name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

/// The pipeline's libraries: a notebook where the workspace holds a NOTEBOOK, else a file.
fn libraries(cfg: &PipelineConfig, notebooks: &BTreeSet<String>) -> Value {
    cfg.workspace_file_paths
        .iter()
        .map(|p| {
            if notebooks.contains(p) {
                json!({"notebook": {"path": p}})
            } else {
                json!({"file": {"path": p}})
            }
        })
        .collect()
}

/// Creates a serverless, triggered pipeline tagged as the agent's; returns its id.
pub async fn create(
    ws: &WorkspaceClient,
    cfg: &PipelineConfig,
    notebooks: &BTreeSet<String>,
    caller: Option<&str>,
) -> Result<String> {
    let body = json!({
        "name": cfg.pipeline_name,
        "catalog": cfg.catalog,
        "schema": cfg.schema,
        "root_path": cfg.root_path,
        "libraries": libraries(cfg, notebooks),
        "serverless": true,
        "continuous": false,
        "channel": "CURRENT",
        "tags": agent_tags(Map::new(), caller),
    });
    let answer = ws.post("/api/2.0/pipelines", &body, Retry::Never).await?;
    answer
        .get("pipeline_id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| malformed("POST /api/2.0/pipelines", "pipeline_id", &answer))
}

/// How many times an edit is redone after someone else changed the pipeline meanwhile.
const EDIT_ATTEMPTS: u32 = 3;

/// Points an existing pipeline at `cfg`. PUT replaces the whole spec, so the spec read is
/// sent back with only name/catalog/schema/root_path/libraries (and the agent's tag) changed,
/// and with `expected_last_modified`: when someone edited it in between, it is read again and
/// the edit redone on top of their change. Returns the names of the settings that changed.
pub async fn edit(
    ws: &WorkspaceClient,
    existing: &Existing,
    cfg: &PipelineConfig,
    notebooks: &BTreeSet<String>,
    adopt: bool,
    caller: Option<&str>,
) -> Result<Vec<&'static str>> {
    let path = format!("/api/2.0/pipelines/{}", existing.id);
    let mut current = existing.clone();
    let mut attempt = 1;
    loop {
        if let Some(refused) = current.refusal(adopt) {
            return Err(refused);
        }
        let (spec, changed) = edited_spec(current.spec.clone(), cfg, notebooks, caller);
        let mut body = spec;
        body.insert("pipeline_id".into(), Value::from(current.id.as_str()));
        if let Some(t) = current.last_modified {
            body.insert("expected_last_modified".into(), Value::from(t));
        }
        let error = match ws.put(&path, &Value::Object(body)).await {
            Ok(_) => return Ok(changed),
            Err(Error::Upstream(u)) if (400..500).contains(&u.status) => Error::Upstream(u),
            Err(e) => return Err(e),
        };
        // The status of a stale `expected_last_modified` is undocumented: whatever 4xx it
        // is, a newer last_modified on a fresh read says that was the reason.
        let fresh = get(ws, &current.id).await?;
        if attempt >= EDIT_ATTEMPTS || fresh.last_modified == current.last_modified {
            return Err(error);
        }
        eprintln!(
            "sdp-agent: pipeline {} changed while being edited ({error}); editing again",
            current.id
        );
        current = fresh;
        attempt += 1;
    }
}

/// `spec` with the agent's fields set, and which of them changed.
pub fn edited_spec(
    mut spec: Map<String, Value>,
    cfg: &PipelineConfig,
    notebooks: &BTreeSet<String>,
    caller: Option<&str>,
) -> (Map<String, Value>, Vec<&'static str>) {
    // A Unity Catalog pipeline may still name its schema with the legacy `target`; sending
    // `schema` beside it is rejected, so the schema goes where it already lives.
    let schema_key = if spec.contains_key("target") && !spec.contains_key("schema") {
        "target"
    } else {
        "schema"
    };
    let tags = spec
        .get("tags")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let tags = agent_tags(tags, caller);
    let wanted = [
        ("name", Value::from(cfg.pipeline_name.as_str())),
        ("catalog", Value::from(cfg.catalog.as_str())),
        (schema_key, Value::from(cfg.schema.as_str())),
        ("root_path", Value::from(cfg.root_path.as_str())),
        ("libraries", libraries(cfg, notebooks)),
        ("tags", tags),
    ];
    let mut changed = Vec::new();
    for (key, value) in wanted {
        if spec.get(key) != Some(&value) {
            changed.push(key);
            spec.insert(key.to_string(), value);
        }
    }
    (spec, changed)
}

/// `tags` with the agent's mark, and the caller of this run; an earlier caller's name is
/// dropped when this run's caller is unknown, so the tag never names someone who did not ask.
fn agent_tags(mut tags: Map<String, Value>, caller: Option<&str>) -> Value {
    tags.insert(TAG_KEY.into(), Value::from(TAG_VALUE));
    match caller {
        Some(caller) => tags.insert(CALLER_TAG.into(), Value::from(caller)),
        None => tags.remove(CALLER_TAG),
    };
    Value::Object(tags)
}

pub fn malformed(request: &str, field: &str, answer: &Value) -> Error {
    Error::Upstream(Upstream {
        status: 200,
        error_code: "MALFORMED_RESPONSE".into(),
        message: format!(
            "answer lacks `{field}`: {}",
            answer.to_string().chars().take(200).collect::<String>()
        ),
        request: request.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_leaves_no_escape_to_interpret() {
        assert_eq!(name_filter("sdp_clicks"), "name LIKE 'sdp_clicks'");
        assert_eq!(name_filter(r"a\b"), "name LIKE 'a_b'");
        assert_eq!(name_filter("it's 50%"), "name LIKE 'it''s 50%'");
    }

    fn existing(spec: Value, creator: &str) -> Existing {
        Existing {
            id: "p1".into(),
            spec: spec.as_object().unwrap().clone(),
            last_modified: Some(1),
            creator: creator.into(),
        }
    }

    #[test]
    fn ownership_and_hive_metastore() {
        let ours = existing(
            json!({"name": "n", "catalog": "c", "tags": {TAG_KEY: "managed"}}),
            "me",
        );
        assert!(ours.refusal(false).is_none());
        let theirs = existing(json!({"name": "n", "catalog": "c"}), "alice@example.com");
        let why = theirs.refusal(false).unwrap().to_string();
        assert!(
            why.contains("alice@example.com") && why.contains("adopt"),
            "{why}"
        );
        assert!(theirs.refusal(true).is_none());
        let hive = existing(
            json!({"name": "n", "target": "t", "tags": {TAG_KEY: "managed"}}),
            "me",
        );
        assert!(hive.refusal(true).unwrap().to_string().contains("Hive"));
    }
}
