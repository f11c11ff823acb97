//! The resolution order end to end: environment, config-file profiles, and the messages of
//! every misconfiguration.

use super::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A temporary directory with a config file, removed on drop.
struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn new(name: &str, config: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("sdp-agent-auth-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(".databrickscfg"), config).unwrap();
        Self { dir }
    }

    fn home(&self) -> String {
        self.dir.display().to_string()
    }

    fn cfg(&self) -> PathBuf {
        self.dir.join(".databrickscfg")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const CONFIG: &str = "[DEFAULT]\n\
                      host = https://default.cloud.databricks.com\n\
                      token = dapi-default\n\
                      [m2m]\n\
                      host = https://m2m.cloud.databricks.com\n\
                      client_id = svc\n\
                      client_secret = dose-secret\n\
                      [both]\n\
                      host = https://both.cloud.databricks.com\n\
                      token = dapi-both\n\
                      client_id = svc\n\
                      client_secret = dose-secret\n\
                      [nohost]\n\
                      token = dapi-nohost\n";

fn run(vars: &[(&str, &str)], flag: Option<&str>) -> Result<Resolved, ResolveError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    resolve(|k| map.get(k).cloned(), flag)
}

fn bearer(r: &Resolved) -> String {
    match &r.credentials {
        Credentials::Pat(h) => h.to_str().unwrap().to_string(),
        other => panic!("expected a PAT, got {other:?}"),
    }
}

fn client_id(r: &Resolved) -> String {
    match &r.credentials {
        Credentials::OAuthM2m { client_id, .. } => client_id.clone(),
        other => panic!("expected M2M, got {other:?}"),
    }
}

#[test]
fn environment_alone() {
    let r = run(
        &[
            ("DATABRICKS_HOST", "h.example.com"),
            ("DATABRICKS_TOKEN", " dapi-env "),
        ],
        None,
    )
    .unwrap();
    assert_eq!(r.host, "h.example.com");
    assert_eq!(r.host_source, Source::Env("DATABRICKS_HOST"));
    assert_eq!(bearer(&r), "Bearer dapi-env");

    let r = run(
        &[
            ("DATABRICKS_HOST", "h"),
            ("DATABRICKS_CLIENT_ID", "svc"),
            ("DATABRICKS_CLIENT_SECRET", "s"),
        ],
        None,
    )
    .unwrap();
    assert_eq!(client_id(&r), "svc");
    assert!(
        r.summary.contains("DATABRICKS_CLIENT_ID (environment)"),
        "{}",
        r.summary
    );
}

#[test]
fn environment_skips_the_default_profile() {
    let f = Fixture::new("skip", CONFIG);
    // The DEFAULT profile has a token, but an explicit environment is used as is.
    let r = run(
        &[
            ("HOME", &f.home()),
            ("DATABRICKS_HOST", "env.example.com"),
            ("DATABRICKS_TOKEN", "dapi-env"),
        ],
        None,
    )
    .unwrap();
    assert_eq!(
        (r.host.as_str(), bearer(&r).as_str()),
        ("env.example.com", "Bearer dapi-env")
    );
    let err = run(
        &[("HOME", &f.home()), ("DATABRICKS_HOST", "env.example.com")],
        None,
    )
    .unwrap_err();
    assert!(matches!(err, ResolveError::NoCredentials { .. }), "{err}");
    assert!(err.to_string().contains("--profile"), "{err}");
}

#[test]
fn default_profile_when_the_environment_is_empty() {
    let f = Fixture::new("default", CONFIG);
    let r = run(&[("HOME", &f.home())], None).unwrap();
    assert_eq!(r.host, "https://default.cloud.databricks.com");
    assert_eq!(bearer(&r), "Bearer dapi-default");
    assert_eq!(
        r.host_source,
        Source::Profile {
            key: "host",
            profile: "DEFAULT".into(),
            path: f.cfg()
        }
    );
}

#[test]
fn named_profile_flag_beats_env_var_and_env_values_beat_the_profile() {
    let f = Fixture::new("named", CONFIG);
    let cfg = f.cfg().display().to_string();
    let base = [
        ("DATABRICKS_CONFIG_FILE", cfg.as_str()),
        ("DATABRICKS_CONFIG_PROFILE", "m2m"),
    ];
    let r = run(&base, None).unwrap();
    assert_eq!(r.host, "https://m2m.cloud.databricks.com");
    assert_eq!(client_id(&r), "svc");

    let r = run(&base, Some("DEFAULT")).unwrap();
    assert_eq!(
        bearer(&r),
        "Bearer dapi-default",
        "--profile wins over the env var"
    );

    // A profile is named, so it is read even though the environment sets a host; the
    // environment's host wins, the profile supplies the credentials.
    let mut vars = base.to_vec();
    vars.push(("DATABRICKS_HOST", "override.example.com"));
    let r = run(&vars, None).unwrap();
    assert_eq!(r.host, "override.example.com");
    assert_eq!(client_id(&r), "svc");
    vars.push(("DATABRICKS_CLIENT_ID", "svc-env"));
    let r = run(&vars, None).unwrap();
    assert_eq!(client_id(&r), "svc-env");
    assert!(
        r.summary.contains("client_secret in profile [m2m]"),
        "{}",
        r.summary
    );

    // A profile without a host takes it from the environment.
    let r = run(
        &[
            ("DATABRICKS_CONFIG_FILE", &cfg),
            ("DATABRICKS_HOST", "h.example.com"),
        ],
        Some("nohost"),
    )
    .unwrap();
    assert_eq!(
        (r.host.as_str(), bearer(&r).as_str()),
        ("h.example.com", "Bearer dapi-nohost")
    );
}

#[test]
fn both_methods_are_a_conflict_naming_the_sources() {
    let f = Fixture::new("conflict", CONFIG);
    let cfg = f.cfg().display().to_string();
    let err = run(&[("DATABRICKS_CONFIG_FILE", &cfg)], Some("both")).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("validate: more than one authorization method configured"),
        "{message}"
    );
    assert!(message.contains("token in profile [both]"), "{message}");
    assert!(message.contains("client_id in profile [both]"), "{message}");
    assert!(
        !message.contains("dapi-both") && !message.contains("dose-secret"),
        "{message}"
    );

    // Environment token + profile client credentials: also two methods.
    let err = run(
        &[
            ("DATABRICKS_CONFIG_FILE", &cfg),
            ("DATABRICKS_TOKEN", "dapi-env"),
        ],
        Some("m2m"),
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("DATABRICKS_TOKEN (environment)"),
        "{message}"
    );
    assert!(
        message.contains("client_secret in profile [m2m]"),
        "{message}"
    );

    // auth_type picks one.
    let r = run(
        &[
            ("DATABRICKS_CONFIG_FILE", &cfg),
            ("DATABRICKS_AUTH_TYPE", "pat"),
        ],
        Some("both"),
    )
    .unwrap();
    assert_eq!(bearer(&r), "Bearer dapi-both");
    let r = run(
        &[
            ("DATABRICKS_CONFIG_FILE", &cfg),
            ("DATABRICKS_AUTH_TYPE", "oauth-m2m"),
        ],
        Some("both"),
    )
    .unwrap();
    assert_eq!(client_id(&r), "svc");
}

#[test]
fn misconfigurations_say_what_is_wrong() {
    let f = Fixture::new("errors", CONFIG);
    let cfg = f.cfg().display().to_string();
    let missing = f.dir.join("absent.cfg").display().to_string();
    // (environment, --profile, part of the message)
    type Case<'a> = (Vec<(&'a str, &'a str)>, Option<&'a str>, &'a str);
    let cases: Vec<Case> = vec![
        (vec![], None, "no workspace host: set DATABRICKS_HOST"),
        (
            vec![("DATABRICKS_CONFIG_FILE", &cfg)],
            Some("prod"),
            "profile [prod] (named by --profile) is not in",
        ),
        (
            vec![
                ("DATABRICKS_CONFIG_FILE", &cfg),
                ("DATABRICKS_CONFIG_PROFILE", "prod"),
            ],
            None,
            "profiles there: [DEFAULT], [m2m], [both], [nohost]",
        ),
        (
            vec![("DATABRICKS_CONFIG_FILE", &missing)],
            Some("dev"),
            "does not exist",
        ),
        (vec![], Some("dev"), "no home directory"),
        (
            vec![("DATABRICKS_CONFIG_FILE", &cfg)],
            Some("nohost"),
            "neither DATABRICKS_HOST nor host in profile [nohost]",
        ),
        (
            vec![("DATABRICKS_HOST", "h"), ("DATABRICKS_CLIENT_ID", "svc")],
            None,
            "DATABRICKS_CLIENT_ID (environment) is set but DATABRICKS_CLIENT_SECRET",
        ),
        (
            vec![("DATABRICKS_HOST", "h"), ("DATABRICKS_CLIENT_SECRET", "s")],
            None,
            "but DATABRICKS_CLIENT_ID (or client_id) is not",
        ),
        (
            vec![
                ("DATABRICKS_HOST", "h"),
                ("DATABRICKS_TOKEN", "t"),
                ("DATABRICKS_AUTH_TYPE", "azure-cli"),
            ],
            None,
            "\"azure-cli\" (DATABRICKS_AUTH_TYPE (environment)) is not supported",
        ),
        (
            vec![
                ("DATABRICKS_HOST", "h"),
                ("DATABRICKS_TOKEN", "t"),
                ("DATABRICKS_AUTH_TYPE", "oauth-m2m"),
            ],
            None,
            "needs DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET",
        ),
        (
            vec![("DATABRICKS_HOST", "h"), ("DATABRICKS_TOKEN", "bad\u{7f}")],
            None,
            "DATABRICKS_TOKEN (environment): contains characters",
        ),
    ];
    for (vars, flag, expected) in cases {
        let message = run(&vars, flag).unwrap_err().to_string();
        assert!(message.contains(expected), "{vars:?} {flag:?}: {message}");
    }
}

#[test]
fn bad_default_file_is_reported_but_a_missing_one_is_not() {
    let f = Fixture::new("badfile", "[DEFAULT\nhost = x\n");
    let err = run(&[("HOME", &f.home())], None).unwrap_err();
    assert!(matches!(err, ResolveError::InvalidFile { .. }), "{err}");
    let empty_home = Path::new(&f.home()).join("empty");
    std::fs::create_dir_all(&empty_home).unwrap();
    let err = run(&[("HOME", &empty_home.display().to_string())], None).unwrap_err();
    assert!(matches!(err, ResolveError::NoHost { .. }), "{err}");
    assert!(
        err.to_string().contains(".databrickscfg does not exist"),
        "{err}"
    );
}
