//! The command-line switches for the model, shared by `sdp-emulator`, `sdp-agent demo` and
//! `sdp-agent eval`.

use std::path::PathBuf;

use clap::Args;

use super::{ModelConfig, ModelUpstream, Recording};

#[derive(Clone, Debug, Default, Args)]
pub struct ModelArgs {
    /// Forward the Foundation Model chat route, unchanged, to this chat endpoint: a Databricks
    /// `https://<workspace>/serving-endpoints/<name>/invocations` or any OpenAI-compatible
    /// `/v1/chat/completions` (llama.cpp, vLLM, Ollama). Its bearer token, if it needs one,
    /// comes from SDP_AGENT_MODEL_TOKEN. Without it the demo model answers.
    #[arg(long, value_name = "URL", conflicts_with = "replay")]
    pub model_url: Option<String>,
    /// Store every model exchange in DIR, one JSON file per request, named by a hash of it.
    #[arg(long, value_name = "DIR", conflicts_with = "replay")]
    pub record: Option<PathBuf>,
    /// Answer the model route from the exchanges in DIR (made with --record); a request not
    /// recorded there fails, naming its key.
    #[arg(long, value_name = "DIR")]
    pub replay: Option<PathBuf>,
}

impl ModelArgs {
    /// What these arguments choose; a clear error for a bad URL or an unusable folder.
    pub fn model(&self) -> anyhow::Result<ModelConfig> {
        let upstream = self
            .model_url
            .as_deref()
            .map(ModelUpstream::from_env)
            .transpose()?;
        let recording = match (&self.record, &self.replay) {
            (_, Some(dir)) => Some(Recording::replay(dir)?),
            (Some(dir), None) => Some(Recording::record(dir)?),
            (None, None) => None,
        };
        Ok(ModelConfig {
            upstream,
            recording,
        })
    }
}
