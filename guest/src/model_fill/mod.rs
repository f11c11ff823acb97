//! Asks the model: the config the payload lacks (with one round to repair an unusable answer),
//! then, in the same conversation, corrected files when validation finds errors in them.

mod answer;
mod prompt;
mod repair;

use crate::databricks::WorkspaceClient;
use crate::databricks::serving::{Chat, Message, Usage};
use crate::error::{Error, Result};
use crate::pipeline_config::PartialConfig;

#[cfg(test)]
pub use answer::extract_object;
pub use answer::read_answer;

/// The conversation with the model, kept so a repair request follows what it answered.
pub struct Conversation<'a> {
    chat: Chat<'a>,
    messages: Vec<Message>,
    /// Why its last repair answer could not be used, said in the next request.
    unusable: Option<String>,
}

impl Conversation<'_> {
    /// What the conversation's answers cost so far.
    pub fn usage(&self) -> Usage {
        self.chat.usage()
    }

    fn push(&mut self, role: &'static str, content: String) {
        self.messages.push(Message { role, content });
    }
}

/// Asks the model for the keys `known` lacks and returns them validated, with the
/// conversation so far. The model gets one chance to repair an unusable answer; after that the
/// call fails.
pub async fn fill_missing<'a>(
    ws: &'a WorkspaceClient,
    endpoint: &str,
    question: &str,
    known: &PartialConfig,
    default_catalog: Option<&str>,
) -> Result<(PartialConfig, Conversation<'a>)> {
    let missing = known.missing();
    let mut talk = Conversation {
        chat: Chat::new(ws, endpoint),
        messages: Vec::new(),
        unusable: None,
    };
    talk.push("system", prompt::SYSTEM_PROMPT.to_string());
    talk.push(
        "user",
        prompt::user_message(question, known, default_catalog, &missing),
    );
    let mut last_problems = String::new();
    for round in 0..2 {
        let answer = talk.chat.ask(&talk.messages).await?;
        let outcome = read_answer(&answer, &missing);
        talk.push("assistant", answer);
        match outcome {
            Ok(cfg) => return Ok((cfg, talk)),
            Err(problems) => {
                last_problems = problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                eprintln!(
                    "sdp-agent: model answer {} unusable: {last_problems}",
                    round + 1
                );
                talk.push(
                    "user",
                    format!(
                        "That answer cannot be used: {last_problems}. Reply again with only the \
corrected JSON object."
                    ),
                );
            }
        }
    }
    Err(Error::LlmUnusable(format!(
        "still invalid after one repair round: {last_problems}"
    )))
}
