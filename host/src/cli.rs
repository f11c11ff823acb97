//! Command line: flags, commands, and turning payload arguments into JSON text.

use crate::agent::AgentOptions;
use crate::client::HttpClient;
use crate::config::CLAUDE_ENDPOINT_ENV;
use crate::egress::AllowedHost;
use crate::limits::Limits;
use crate::output::Failure;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use clap::{ArgGroup, Args, Parser, Subcommand};
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "sdp-agent",
    version,
    about = "Runs the sdp-agent WebAssembly component: request in words -> Spark Declarative Pipeline",
    after_help = "Environment: DATABRICKS_HOST (workspace URL); DATABRICKS_TOKEN, or DATABRICKS_CLIENT_ID + \
                  DATABRICKS_CLIENT_SECRET (OAuth M2M); else a profile of ~/.databrickscfg \
                  (DATABRICKS_CONFIG_FILE, DATABRICKS_CONFIG_PROFILE). Credentials stay in the host, \
                  never given to the component. CLAUDE_ENDPOINT_NAME (optional), RUST_LOG (log level, default warn)."
)]
pub struct Cli {
    /// Component to run instead of the embedded one (.wasm).
    #[arg(long, global = true, value_name = "PATH", env = "SDP_AGENT_COMPONENT")]
    pub component: Option<PathBuf>,

    /// Also let the component reach HOST (any port) or HOST:PORT; repeatable. The workspace is
    /// always allowed; credentials are only ever sent to the workspace.
    #[arg(long = "allow-host", global = true, value_name = "HOST[:PORT]")]
    pub allow_host: Vec<AllowedHost>,

    /// Deadline of each component call, in seconds.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,

    /// Longest wait, in seconds, for the answer to one outgoing request (its response head).
    /// A stalled workspace then looks like a timeout to the component, which retries what
    /// is safe to retry (reads, idempotent submits) instead of waiting for --timeout.
    #[arg(long = "http-timeout", global = true, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub http_timeout: u64,

    /// Linear memory the component may use per call, in MiB (all its memories together).
    /// Past it, allocations fail and the call ends with a `trap` error naming this limit.
    #[arg(long, global = true, value_name = "MIB",
          default_value_t = crate::limits::DEFAULT_MAX_MEMORY_MIB,
          value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub max_memory: u64,

    /// Profile of ~/.databrickscfg (or DATABRICKS_CONFIG_FILE) to take the workspace and
    /// credentials from; overrides DATABRICKS_CONFIG_PROFILE. Environment values still win.
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a payload and submit the one-time Jobs run that will build the pipeline.
    Predict {
        /// Payload JSON, `@FILE`, or `-`/absent for stdin.
        #[arg(value_name = "PAYLOAD")]
        payload: Option<String>,
    },
    /// Job side: create or edit the pipeline and start an update.
    Run(RunArgs),
    /// Serve the component's Model Serving (MLflow scoring) protocol over HTTP/1.1.
    Serve(ServeArgs),
    /// Offline end-to-end demo against an in-process workspace emulator.
    Demo {
        /// What the pipeline should do, in words.
        #[arg(value_name = "QUESTION")]
        question: Option<String>,
    },
}

/// Exactly one payload source: the Databricks job convention (base64 in argv) or plain JSON.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["payload_b64", "payload"])))]
pub struct RunArgs {
    /// Base64 of the payload JSON (standard or URL-safe, padding optional), as a job passes it.
    #[arg(value_name = "PAYLOAD_B64")]
    pub payload_b64: Option<String>,

    /// Payload JSON or `@FILE`, instead of PAYLOAD_B64.
    #[arg(long, value_name = "JSON|@FILE")]
    pub payload: Option<String>,
}

impl Cli {
    /// What every call of the component shares: egress, deadline, model endpoint, limits.
    pub fn agent_options(&self) -> AgentOptions {
        AgentOptions {
            allow_hosts: self.allow_host.clone(),
            timeout: Duration::from_secs(self.timeout),
            claude_endpoint: std::env::var(CLAUDE_ENDPOINT_ENV)
                .ok()
                .filter(|v| !v.trim().is_empty()),
            limits: Limits::from_mib(self.max_memory),
        }
    }

    /// The one pooled client of this process, with the host's cap on waiting for an answer.
    pub fn http_client(&self) -> Result<HttpClient, Failure> {
        HttpClient::new()
            .map(|c| c.with_head_limit(Duration::from_secs(self.http_timeout)))
            .map_err(|e| Failure::Config(format!("HTTP client: {e:#}")))
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the line on stderr tells which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Requests run at once, each in its own instance [default: 2 x CPU cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_concurrency: Option<u32>,

    /// Requests that may wait for a free slot; beyond that the answer is 503 with Retry-After.
    #[arg(long, value_name = "M", default_value_t = 64)]
    pub max_queue: u32,

    /// Largest request body accepted (413 beyond).
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: u64,

    /// Deadline of each request, queueing and the component's outgoing calls included (504).
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout: u64,
}

/// The payload argument of `predict`: JSON text, `@file`, or stdin when absent or `-`.
pub fn predict_payload(arg: Option<&str>, stdin: impl Read) -> Result<String, Failure> {
    match arg {
        None | Some("-") => read_stdin("PAYLOAD", stdin),
        Some(text) => text_or_file("PAYLOAD", text, stdin),
    }
}

/// The payload of `run`, from `PAYLOAD_B64` or `--payload`.
pub fn run_payload(args: &RunArgs, stdin: impl Read) -> Result<String, Failure> {
    match (&args.payload_b64, &args.payload) {
        (Some(b64), None) => decode_b64_payload(b64),
        (None, Some(text)) => text_or_file("--payload", text, stdin),
        // clap's group makes these unreachable; keep a clear answer anyway.
        _ => Err(Failure::Config(
            "give exactly one of PAYLOAD_B64 or --payload".into(),
        )),
    }
}

/// Decodes `argv[1]` of a job run. Accepts both alphabets with or without padding, because
/// callers build it by hand in several languages.
pub fn decode_b64_payload(b64: &str) -> Result<String, Failure> {
    const FIELD: &str = "argv[1]";
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(Failure::invalid_field(
            FIELD,
            "empty; expected base64 of the payload JSON",
        ));
    }
    let alphabet = if compact.contains(['-', '_']) {
        &alphabet::URL_SAFE
    } else {
        &alphabet::STANDARD
    };
    let bytes = GeneralPurpose::new(alphabet, config)
        .decode(compact.as_bytes())
        .map_err(|e| Failure::invalid_field(FIELD, format!("not valid base64: {e}")))?;
    String::from_utf8(bytes)
        .map_err(|e| Failure::invalid_field(FIELD, format!("decoded payload is not UTF-8: {e}")))
}

/// `@path` reads a file (`@-` is stdin); anything else is the JSON text itself.
fn text_or_file(field: &str, text: &str, stdin: impl Read) -> Result<String, Failure> {
    match text.strip_prefix('@') {
        Some("-") => read_stdin(field, stdin),
        Some(path) => std::fs::read(path)
            .map_err(|e| Failure::invalid_field(field, format!("cannot read {path}: {e}")))
            .and_then(|bytes| utf8(field, bytes)),
        None => Ok(text.to_string()),
    }
}

fn read_stdin(field: &str, mut stdin: impl Read) -> Result<String, Failure> {
    let mut bytes = Vec::new();
    stdin
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::invalid_field(field, format!("cannot read stdin: {e}")))?;
    utf8(field, bytes)
}

fn utf8(field: &str, bytes: Vec<u8>) -> Result<String, Failure> {
    String::from_utf8(bytes).map_err(|_| Failure::invalid_field(field, "not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::FieldProblem;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use clap::CommandFactory;

    const JSON: &str = r#"{"question":"ünïcode? >>>","wait":true}"#;

    fn field_path(f: Failure) -> String {
        match f {
            Failure::InvalidPayload(mut v) => {
                let FieldProblem { path, .. } = v.remove(0);
                path
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn predict_literal_file_and_stdin() {
        let no_stdin = std::io::empty();
        assert_eq!(predict_payload(Some(JSON), no_stdin).unwrap(), JSON);
        assert_eq!(predict_payload(None, JSON.as_bytes()).unwrap(), JSON);
        assert_eq!(predict_payload(Some("-"), JSON.as_bytes()).unwrap(), JSON);

        let path =
            std::env::temp_dir().join(format!("sdp-agent-payload-{}.json", std::process::id()));
        std::fs::write(&path, JSON).unwrap();
        let arg = format!("@{}", path.display());
        assert_eq!(predict_payload(Some(&arg), std::io::empty()).unwrap(), JSON);
        std::fs::remove_file(&path).unwrap();

        let err =
            predict_payload(Some("@/nonexistent/payload.json"), std::io::empty()).unwrap_err();
        assert_eq!(field_path(err), "PAYLOAD");
        let err = predict_payload(None, &[0xff, 0xfe][..]).unwrap_err();
        assert_eq!(field_path(err), "PAYLOAD");
    }

    #[test]
    fn base64_variants() {
        let std_padded = STANDARD.encode(JSON);
        assert!(
            std_padded.contains(['+', '/', '=']),
            "test data should exercise the alphabet"
        );
        assert_eq!(decode_b64_payload(&std_padded).unwrap(), JSON);
        assert_eq!(
            decode_b64_payload(std_padded.trim_end_matches('=')).unwrap(),
            JSON
        );
        let url = URL_SAFE_NO_PAD.encode(JSON);
        assert_eq!(decode_b64_payload(&url).unwrap(), JSON);
        assert_eq!(
            decode_b64_payload(&format!(" {std_padded}\n")).unwrap(),
            JSON
        );
    }

    #[test]
    fn base64_errors_name_argv1() {
        for bad in ["", "not base64!", "@@@@"] {
            let err = decode_b64_payload(bad).unwrap_err();
            assert_eq!(err.kind(), "invalid_payload");
            assert_eq!(field_path(err), "argv[1]");
        }
        let not_utf8 = STANDARD.encode([0xff, 0xfe, 0xfd]);
        let err = decode_b64_payload(&not_utf8).unwrap_err();
        assert!(err.message().contains("not UTF-8"), "{}", err.message());
    }

    #[test]
    fn run_takes_exactly_one_source() {
        Cli::command().debug_assert();
        let parse = |args: &[&str]| Cli::try_parse_from(args);
        let b64 = STANDARD.encode(JSON);
        let cli = parse(&["sdp-agent", "run", &b64]).unwrap();
        let Command::Run(args) = cli.command else {
            panic!()
        };
        assert_eq!(run_payload(&args, std::io::empty()).unwrap(), JSON);

        let cli = parse(&["sdp-agent", "run", "--payload", JSON]).unwrap();
        let Command::Run(args) = cli.command else {
            panic!()
        };
        assert_eq!(run_payload(&args, std::io::empty()).unwrap(), JSON);

        for bad in [
            &["sdp-agent", "run"][..],
            &["sdp-agent", "run", &b64, "--payload", JSON],
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }

    fn serve_args(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        let cli = Cli::try_parse_from([&["sdp-agent", "serve"], args].concat())?;
        match cli.command {
            Command::Serve(args) => Ok(args),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn serve_defaults_and_bounds() {
        let args = serve_args(&[]).unwrap();
        assert_eq!(args.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(args.max_concurrency, None);
        assert_eq!(args.max_queue, 64);
        assert_eq!(args.max_body_bytes, 1024 * 1024);
        assert_eq!(args.request_timeout, 60);

        let args = serve_args(&["--listen", "0.0.0.0:0", "--max-concurrency", "2"]).unwrap();
        assert_eq!(args.listen.port(), 0);
        assert_eq!(args.max_concurrency, Some(2));
        for bad in [
            &["--max-concurrency", "0"][..],
            &["--request-timeout", "0"],
            &["--listen", "localhost"],
        ] {
            assert!(serve_args(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn global_flags_anywhere() {
        let cli = Cli::try_parse_from([
            "sdp-agent",
            "predict",
            "{}",
            "--allow-host",
            "api.example.com:443",
            "--timeout",
            "5",
            "--allow-host",
            "other.example.com",
        ])
        .unwrap();
        assert_eq!(cli.timeout, 5);
        assert_eq!(cli.allow_host.len(), 2);
        assert_eq!(cli.max_memory, crate::limits::DEFAULT_MAX_MEMORY_MIB);
        let cli = Cli::try_parse_from(["sdp-agent", "run", "--max-memory", "64", "x"]).unwrap();
        assert_eq!(cli.max_memory, 64);
        assert!(Cli::try_parse_from(["sdp-agent", "--max-memory", "0", "predict"]).is_err());
        assert!(Cli::try_parse_from(["sdp-agent", "--timeout", "0", "predict"]).is_err());
        assert!(Cli::try_parse_from(["sdp-agent", "--allow-host", "a/b", "predict"]).is_err());
    }
}
