//! A repair round: the files the model wrote and the errors validation found in them go back
//! to the model, in the same conversation; its answer is read for corrected files.

use super::Conversation;
use super::answer::extract_object;
use crate::error::{FieldError, Result, UpdateError};
use serde_json::Value;
use std::collections::BTreeMap;

impl Conversation<'_> {
    /// Asks for corrected versions of `files` (path → text as imported) given `errors`.
    /// `None` when the answer could not be used; the next request says why.
    pub async fn repair(
        &mut self,
        files: &BTreeMap<String, String>,
        errors: &[UpdateError],
    ) -> Result<Option<BTreeMap<String, String>>> {
        let request = request(files, errors, self.unusable.take().as_deref());
        self.push("user", request);
        let answer = self.chat.ask(&self.messages).await?;
        let outcome = read(&answer, files);
        self.push("assistant", answer);
        match outcome {
            Ok(corrected) => Ok(Some(corrected)),
            Err(problems) => {
                let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
                self.unusable = Some(problems.join("; "));
                Ok(None)
            }
        }
    }
}

/// The repair request: what failed, the files as they are now, and the answer's shape.
fn request(
    files: &BTreeMap<String, String>,
    errors: &[UpdateError],
    unusable: Option<&str>,
) -> String {
    let mut text = String::new();
    if let Some(problems) = unusable {
        text.push_str(&format!(
            "Your last answer could not be used: {problems}.\n\n"
        ));
    }
    text.push_str(
        "The pipeline failed validation (a validate_only update, which analyses the graph and \
         the code without writing data). Errors:\n",
    );
    for e in errors {
        text.push_str(&format!("- {e}\n"));
    }
    text.push_str("\nThe files you wrote, as imported:\n");
    for (path, source) in files {
        let language = if path.ends_with(".py") {
            "python"
        } else {
            "sql"
        };
        text.push_str(&format!("\n{path}\n```{language}\n{source}\n```\n"));
    }
    text.push_str(
        "\nReturn the corrected files: ONE JSON object {\"sources\": {\"<path>\": \"<complete \
         corrected file text>\"}} with each file to change, under the same paths, and nothing \
         else.",
    );
    text
}

/// The corrected files of an answer: only paths of `files`, each a non-empty text.
fn read(
    text: &str,
    files: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Vec<FieldError>> {
    let Some(doc) = extract_object(text) else {
        return Err(vec![FieldError::new(
            "$",
            "no JSON object found in the answer",
        )]);
    };
    let Some(Value::Object(sources)) = doc.get("sources") else {
        return Err(vec![FieldError::new(
            "sources",
            "required: an object mapping each corrected file's path to its text",
        )]);
    };
    let mut problems = Vec::new();
    let mut corrected = BTreeMap::new();
    for (path, source) in sources {
        let field = format!("sources.{path}");
        match source.as_str().map(str::trim) {
            _ if !files.contains_key(path) => problems.push(FieldError::new(
                field,
                "not one of the files you wrote (keep their paths)",
            )),
            Some(s) if !s.is_empty() => {
                // An unchanged file needs no re-import.
                if files.get(path).map(|t| t.trim()) != Some(s) {
                    corrected.insert(path.clone(), s.to_string());
                }
            }
            _ => problems.push(FieldError::new(field, "must be the file's whole text")),
        }
    }
    if problems.is_empty() && corrected.is_empty() {
        problems.push(FieldError::new(
            "sources",
            "no file was changed, but the errors above remain",
        ));
    }
    if problems.is_empty() {
        Ok(corrected)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("/p/a.sql".to_string(), "SELECT 1".to_string()),
            ("/p/b.sql".to_string(), "SELECT * FROM nope".to_string()),
        ])
    }

    #[test]
    fn the_request_carries_errors_files_and_the_answer_shape() {
        let errors = [UpdateError {
            dataset: Some("m.s.b".into()),
            file: Some("/p/b.sql".into()),
            message: "[TABLE_OR_VIEW_NOT_FOUND] `nope`".into(),
        }];
        let text = request(&files(), &errors, Some("sources: required"));
        assert!(text.starts_with("Your last answer could not be used: sources: required."));
        assert!(text.contains("- /p/b.sql: [TABLE_OR_VIEW_NOT_FOUND] `nope`"));
        assert!(text.contains("/p/b.sql\n```sql\nSELECT * FROM nope\n```"));
        assert!(text.contains("\"sources\""));
    }

    #[test]
    fn only_changed_files_of_the_models_own_are_taken() {
        let fixed = r#"{"sources": {"/p/a.sql": "SELECT 1", "/p/b.sql": "SELECT * FROM a"}}"#;
        assert_eq!(
            read(fixed, &files()).unwrap(),
            BTreeMap::from([("/p/b.sql".to_string(), "SELECT * FROM a".to_string())])
        );
        let stranger = r#"{"sources": {"/q/x.sql": "SELECT 2"}}"#;
        assert_eq!(
            read(stranger, &files()).unwrap_err()[0].path,
            "sources./q/x.sql"
        );
        let same = r#"{"sources": {"/p/b.sql": "SELECT * FROM nope"}}"#;
        assert_eq!(read(same, &files()).unwrap_err()[0].path, "sources");
        assert_eq!(read("sorry", &files()).unwrap_err()[0].path, "$");
    }
}
