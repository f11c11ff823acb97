//! Payload arguments to JSON text: literal, `@FILE`, stdin, or the job's base64 `argv[1]`.

use super::RunArgs;
use crate::outcome::Failure;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::io::Read;

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
        (Some(arg), None) => job_argument(arg),
        (None, Some(text)) => text_or_file("--payload", text, stdin),
        // clap's group makes these unreachable; keep a clear answer anyway.
        _ => Err(Failure::Config(
            "give exactly one of PAYLOAD_B64 or --payload".into(),
        )),
    }
}

/// `argv[1]` of a job run as the component's payload: a staged payload's `@/Workspace/...`
/// path as it is (the component reads the file from the workspace), else decoded base64.
pub fn job_argument(arg: &str) -> Result<String, Failure> {
    match arg.trim() {
        staged if staged.starts_with("@/") => Ok(staged.to_string()),
        b64 => decode_b64_payload(b64),
    }
}

/// Decodes `argv[1]` of a job run. Accepts both alphabets with or without padding, because
/// callers build it by hand in several languages.
fn decode_b64_payload(b64: &str) -> Result<String, Failure> {
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

/// The payload with `"dry_run": true` (for `--dry-run`); other keys and values keep their exact
/// text. Anything but a JSON object is passed on as it is, for the component to report.
pub fn with_dry_run(payload: String) -> String {
    type Doc = BTreeMap<String, Box<RawValue>>;
    let Ok(mut doc) = serde_json::from_str::<Doc>(&payload) else {
        return payload;
    };
    let yes = serde_json::value::to_raw_value(&true).expect("a bool serializes");
    doc.insert("dry_run".into(), yes);
    serde_json::to_string(&doc).unwrap_or(payload)
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
    use crate::cli::{Cli, Command};
    use crate::outcome::FieldProblem;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use clap::CommandFactory;
    use clap::Parser;

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
    fn dry_run_sets_the_key_and_keeps_the_rest_exact() {
        let text = r#"{"wait": true, "x": 0.30000000000000004, "dry_run": false}"#;
        let doc: serde_json::Value = serde_json::from_str(&with_dry_run(text.into())).unwrap();
        assert_eq!(doc["dry_run"], true);
        assert_eq!(doc["wait"], true);
        assert!(with_dry_run(text.into()).contains("0.30000000000000004"));
        for not_an_object in ["[1]", "not json", ""] {
            assert_eq!(with_dry_run(not_an_object.into()), not_an_object);
        }
        use clap::Parser as _;
        let cli = super::super::Cli::try_parse_from(["sdp-agent", "--dry-run", "predict", "{}"]);
        assert!(cli.unwrap().dry_run);
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

        let cli = parse(&["sdp-agent", "run", "--", "@/Workspace/p/payload.json"]).unwrap();
        let Command::Run(args) = cli.command else {
            panic!()
        };
        assert_eq!(
            run_payload(&args, std::io::empty()).unwrap(),
            "@/Workspace/p/payload.json"
        );

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
}
