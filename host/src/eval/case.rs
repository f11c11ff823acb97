//! One evaluation case: a JSON file `{"question", "payload", "data", "reference", "expect"}`
//! (every key but `question` optional; unknown keys are an error naming the file and key).

use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// The request in words, as a user would ask it.
    pub question: String,
    /// Payload keys beside the question (catalog, schema, pipeline name, ...).
    #[serde(default)]
    pub payload: Map<String, Value>,
    /// A folder beside the case, mounted like `--data` (`<catalog>/<schema>/<volume>/...`).
    #[serde(default)]
    pub data: Option<String>,
    /// A folder beside the case holding a good answer's source files (`.sql`, `.py`), which
    /// `eval --reference` runs instead of asking a model.
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub expect: Expect,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// By table name: unqualified (any catalog and schema) or qualified (`catalog.schema.t`).
    #[serde(default)]
    pub tables: BTreeMap<String, TableExpect>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableExpect {
    pub min_rows: Option<u64>,
    pub max_rows: Option<u64>,
    #[serde(default)]
    pub columns: Vec<String>,
    /// Columns whose values are each a key: no two rows share one, none is null.
    #[serde(default)]
    pub unique: Vec<String>,
}

/// A case read from its file, with its name (the file's stem) and folder.
#[derive(Debug)]
pub struct LoadedCase {
    pub name: String,
    pub dir: PathBuf,
    pub case: Case,
}

impl LoadedCase {
    pub fn load(path: &Path) -> Result<LoadedCase, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let case: Case =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if case.question.trim().is_empty() {
            return Err(format!("{}: question is empty", path.display()));
        }
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(LoadedCase { name, dir, case })
    }

    /// The folder `data` names, beside the case.
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.case.data.as_ref().map(|d| self.dir.join(d))
    }

    /// The payload the agent gets: the case's keys, its question, and what the offline
    /// session needs (the runner, the endpoint, waiting for the update). With `reference`,
    /// the reference sources fill every key the model would have written, so it is not asked.
    pub fn payload(
        &self,
        runner_path: &str,
        endpoint: &str,
        reference: bool,
    ) -> Result<Value, String> {
        let mut payload = self.case.payload.clone();
        payload.insert("question".into(), json!(self.case.question));
        payload.insert("runner_path".into(), json!(runner_path));
        payload
            .entry("claude_endpoint")
            .or_insert_with(|| json!(endpoint));
        payload.entry("wait").or_insert(json!(true));
        if reference {
            // No model, so no repair: a validation update could only fail where the run fails
            // too. The reference's update runs directly (one engine start, not two), unless the
            // case says otherwise.
            payload.entry("validate").or_insert(json!(false));
            self.fill_reference(&mut payload)?;
        }
        Ok(Value::Object(payload))
    }

    fn fill_reference(&self, payload: &mut Map<String, Value>) -> Result<(), String> {
        let folder = self
            .case
            .reference
            .as_ref()
            .ok_or_else(|| format!("case {}: no reference (a folder of sources)", self.name))?;
        let folder = self.dir.join(folder);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
            .map_err(|e| format!("case {}: reference {}: {e}", self.name, folder.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("sql" | "py")))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(format!(
                "case {}: reference {} holds no .sql or .py file",
                self.name,
                folder.display()
            ));
        }
        let stem = format!(
            "eval_{}",
            self.name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        let name = payload
            .get("pipelineName")
            .or_else(|| payload.get("pipeline_name"))
            .and_then(Value::as_str)
            .unwrap_or(&stem)
            .to_string();
        let root = format!("/Workspace/Shared/{name}");
        let mut paths = Vec::new();
        let mut sources = Map::new();
        for file in &files {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("case {}: {}: {e}", self.name, file.display()))?;
            let file_name = file.file_name().unwrap_or_default().to_string_lossy();
            let path = format!("{root}/transformations/{file_name}");
            sources.insert(path.clone(), json!(text));
            paths.push(json!(path));
        }
        if !payload.contains_key("pipeline_name") {
            payload.entry("pipelineName").or_insert(json!(name));
        }
        payload.entry("catalog").or_insert(json!("main"));
        payload.entry("schema").or_insert(json!(stem));
        payload.insert("root_path".into(), json!(root));
        payload.insert("workspace_file_paths".into(), Value::Array(paths));
        payload.insert("sources".into(), Value::Object(sources));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_case(dir: &Path, name: &str, text: &str) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_case_names_its_mistakes_and_a_reference_fills_the_payload() {
        let dir = std::env::temp_dir().join(format!("sdp-agent-eval-case-{}", std::process::id()));
        let typo = write_case(
            &dir,
            "typo",
            r#"{"question": "q", "expect": {"tables": {"t": {"min_row": 1}}}}"#,
        );
        let err = LoadedCase::load(&typo).unwrap_err();
        assert!(
            err.contains("typo.json") && err.contains("min_row"),
            "{err}"
        );
        let empty = write_case(&dir, "empty", r#"{"question": " "}"#);
        assert!(
            LoadedCase::load(&empty)
                .unwrap_err()
                .contains("question is empty")
        );

        let ok = write_case(
            &dir,
            "daily",
            r#"{"question": "orders by day", "payload": {"schema": "sales"}, "reference": "daily.ref",
                "expect": {"tables": {"orders_daily": {"min_rows": 1, "unique": ["day"]}}}}"#,
        );
        std::fs::create_dir_all(dir.join("daily.ref")).unwrap();
        std::fs::write(
            dir.join("daily.ref/b.sql"),
            "CREATE MATERIALIZED VIEW b AS SELECT 1;",
        )
        .unwrap();
        std::fs::write(dir.join("daily.ref/notes.txt"), "not a source").unwrap();
        let case = LoadedCase::load(&ok).unwrap();
        assert_eq!(case.name, "daily");
        assert_eq!(case.case.expect.tables["orders_daily"].unique, ["day"]);
        let asked = case.payload("/r.py", "ep", false).unwrap();
        assert_eq!(asked["question"], "orders by day");
        assert!(asked.get("sources").is_none(), "{asked}");
        assert!(
            asked.get("validate").is_none(),
            "the model is validated and repaired"
        );
        let reference = case.payload("/r.py", "ep", true).unwrap();
        assert_eq!(reference["schema"], "sales", "the case's own keys win");
        assert_eq!(reference["catalog"], "main");
        assert_eq!(reference["validate"], false, "a reference is not repaired");
        assert_eq!(
            reference["workspace_file_paths"],
            json!(["/Workspace/Shared/eval_daily/transformations/b.sql"])
        );
        assert_eq!(
            reference["sources"]["/Workspace/Shared/eval_daily/transformations/b.sql"],
            "CREATE MATERIALIZED VIEW b AS SELECT 1;"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
