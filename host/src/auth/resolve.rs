//! The SDKs' resolution order, as databricks-sdk-py/-go apply it:
//!
//! 1. The environment: `DATABRICKS_HOST`, `DATABRICKS_TOKEN`, `DATABRICKS_CLIENT_ID`,
//!    `DATABRICKS_CLIENT_SECRET`, `DATABRICKS_AUTH_TYPE`.
//! 2. A profile of the config file (`DATABRICKS_CONFIG_FILE`, else `~/.databrickscfg`): the one
//!    named by `--profile`, else `DATABRICKS_CONFIG_PROFILE`, else `[DEFAULT]`. It fills only
//!    the settings the environment left unset. When no profile is named and the environment
//!    already sets a host or a credential, the file is not read at all (as the SDKs do), so a
//!    stray `~/.databrickscfg` cannot mix into an explicit environment.
//! 3. Validation: a host is required; exactly one method (token, or client id + secret) unless
//!    `auth_type` picks one.

use super::profile::{ConfigFile, DEFAULT_PROFILE, Profile, config_path};
use super::{ConfigError, Credentials, Source};
use crate::config::{HOST_ENV, TOKEN_ENV};
use std::path::PathBuf;

pub const CLIENT_ID_ENV: &str = "DATABRICKS_CLIENT_ID";
pub const CLIENT_SECRET_ENV: &str = "DATABRICKS_CLIENT_SECRET";
pub const AUTH_TYPE_ENV: &str = "DATABRICKS_AUTH_TYPE";
pub const PROFILE_ENV: &str = "DATABRICKS_CONFIG_PROFILE";
pub const CONFIG_FILE_ENV: &str = "DATABRICKS_CONFIG_FILE";
const PROFILE_FLAG: &str = "--profile";

/// One setting: its environment variable and its key in a profile.
struct Field {
    env: &'static str,
    key: &'static str,
}

const HOST: Field = Field {
    env: HOST_ENV,
    key: "host",
};
const TOKEN: Field = Field {
    env: TOKEN_ENV,
    key: "token",
};
const CLIENT_ID: Field = Field {
    env: CLIENT_ID_ENV,
    key: "client_id",
};
const CLIENT_SECRET: Field = Field {
    env: CLIENT_SECRET_ENV,
    key: "client_secret",
};
const AUTH_TYPE: Field = Field {
    env: AUTH_TYPE_ENV,
    key: "auth_type",
};

/// A value and where it came from.
struct Setting {
    value: String,
    source: Source,
}

/// The profile that was read, or why none was.
enum ProfileUse {
    Used { profile: Profile, path: PathBuf },
    Skipped(String),
}

/// What to connect to and how to authenticate.
#[derive(Debug)]
pub struct Resolved {
    /// As configured (normalised by `config::Workspace`).
    pub host: String,
    pub host_source: Source,
    pub credentials: Credentials,
    /// For logs: the method and where its settings came from.
    pub summary: String,
}

/// Resolves from `env` (a lookup, so tests need not touch the process environment) and the
/// `--profile` flag.
pub fn resolve(
    env: impl Fn(&str) -> Option<String>,
    profile_flag: Option<&str>,
) -> Result<Resolved, ConfigError> {
    let env = |name: &str| {
        env(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let named = match profile_flag.map(str::trim).filter(|p| !p.is_empty()) {
        Some(flag) => Some((flag.to_string(), PROFILE_FLAG)),
        None => env(PROFILE_ENV).map(|p| (p, PROFILE_ENV)),
    };
    let env_configured = [&HOST, &TOKEN, &CLIENT_ID, &CLIENT_SECRET]
        .iter()
        .any(|f| env(f.env).is_some());
    let profile = match named {
        None if env_configured => ProfileUse::Skipped(
            "the environment sets the workspace, so no profile is read unless one is named".into(),
        ),
        named => load_profile(named, &env)?,
    };
    let pick = |field: &Field| -> Option<Setting> {
        if let Some(value) = env(field.env) {
            return Some(Setting {
                value,
                source: Source::Env(field.env),
            });
        }
        let ProfileUse::Used { profile, path } = &profile else {
            return None;
        };
        profile.get(field.key).map(|value| Setting {
            value: value.to_string(),
            source: Source::Profile {
                key: field.key,
                profile: profile.name.clone(),
                path: path.clone(),
            },
        })
    };

    let host = pick(&HOST).ok_or_else(|| ConfigError::NoHost {
        hint: match &profile {
            ProfileUse::Used { profile, path } => format!(
                "neither {HOST_ENV} nor host in profile [{}] of {} is set",
                profile.name,
                path.display()
            ),
            ProfileUse::Skipped(why) => format!(
                "set {HOST_ENV} (e.g. https://adb-123.4.azuredatabricks.net), or name a \
                 profile that has a host with --profile or {PROFILE_ENV} ({why})"
            ),
        },
    })?;
    let (credentials, from) = credentials(
        pick(&AUTH_TYPE),
        pick(&TOKEN),
        pick(&CLIENT_ID),
        pick(&CLIENT_SECRET),
    )
    .map_err(|e| match e {
        Missing::Config(e) => e,
        Missing::Everything => ConfigError::NoCredentials {
            host: host.value.clone(),
            hint: no_credentials_hint(&profile),
        },
    })?;
    Ok(Resolved {
        summary: format!(
            "{} (host from {}, credentials from {from})",
            credentials.describe(),
            host.source
        ),
        host: host.value,
        host_source: host.source,
        credentials,
    })
}

/// Reads the named profile (or `[DEFAULT]`). A profile named explicitly must exist; the
/// default one is optional.
fn load_profile(
    named: Option<(String, &'static str)>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<ProfileUse, ConfigError> {
    let home = env("HOME").or_else(|| env("USERPROFILE"));
    let Some(path) = config_path(env(CONFIG_FILE_ENV).as_deref(), home.as_deref()) else {
        return match named {
            Some((name, named_by)) => Err(ConfigError::NoHome { name, named_by }),
            None => Ok(ProfileUse::Skipped(
                "no home directory to find ~/.databrickscfg in".into(),
            )),
        };
    };
    let Some(file) = ConfigFile::load(&path)? else {
        return match named {
            Some((name, named_by)) => Err(ConfigError::NoConfigFile {
                name,
                named_by,
                path,
            }),
            None => Ok(ProfileUse::Skipped(format!(
                "{} does not exist",
                path.display()
            ))),
        };
    };
    let name = named
        .as_ref()
        .map_or(DEFAULT_PROFILE, |(name, _)| name.as_str());
    match (file.profile(name), named) {
        (Some(profile), _) => Ok(ProfileUse::Used {
            profile: profile.clone(),
            path,
        }),
        (None, Some((name, named_by))) => Err(ConfigError::ProfileNotFound {
            name,
            named_by,
            available: file.names(),
            path,
        }),
        (None, None) => Ok(ProfileUse::Skipped(format!(
            "{} has no [{DEFAULT_PROFILE}] profile",
            path.display()
        ))),
    }
}

/// Why credentials could not be built: a specific problem, or nothing configured at all
/// (worded by the caller, which knows about the profile).
enum Missing {
    Config(ConfigError),
    Everything,
}

impl From<ConfigError> for Missing {
    fn from(e: ConfigError) -> Self {
        Missing::Config(e)
    }
}

/// Picks the method; returns it with a description of where its settings came from.
fn credentials(
    auth_type: Option<Setting>,
    token: Option<Setting>,
    client_id: Option<Setting>,
    client_secret: Option<Setting>,
) -> Result<(Credentials, String), Missing> {
    if let Some(auth_type) = auth_type {
        let incomplete = |missing: &str| ConfigError::AuthTypeIncomplete {
            auth_type: auth_type.value.clone(),
            from: auth_type.source.clone(),
            missing: missing.to_string(),
        };
        return match auth_type.value.as_str() {
            "pat" => {
                let token = token.ok_or_else(|| incomplete("DATABRICKS_TOKEN (or token)"))?;
                pat(&token)
            }
            "oauth-m2m" => match (client_id, client_secret) {
                (Some(id), Some(secret)) => m2m(&id, &secret),
                _ => Err(incomplete(
                    "DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET (or client_id and client_secret)",
                )
                .into()),
            },
            other => Err(ConfigError::UnsupportedAuthType {
                auth_type: other.to_string(),
                from: auth_type.source.clone(),
            }
            .into()),
        };
    }
    match (token, client_id, client_secret) {
        (Some(token), None, None) => pat(&token),
        (None, Some(id), Some(secret)) => m2m(&id, &secret),
        (None, None, None) => Err(Missing::Everything),
        (Some(token), id, secret) => Err(ConfigError::Conflict {
            pat: token.source.to_string(),
            m2m: [id, secret]
                .iter()
                .flatten()
                .map(|s| s.source.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into()),
        (None, Some(id), None) => Err(ConfigError::IncompleteM2m {
            have: id.source.to_string(),
            missing: format!("{CLIENT_SECRET_ENV} (or client_secret)"),
        }
        .into()),
        (None, None, Some(secret)) => Err(ConfigError::IncompleteM2m {
            have: secret.source.to_string(),
            missing: format!("{CLIENT_ID_ENV} (or client_id)"),
        }
        .into()),
    }
}

fn pat(token: &Setting) -> Result<(Credentials, String), Missing> {
    let credentials = Credentials::pat(&token.value, &token.source)?;
    Ok((credentials, token.source.to_string()))
}

fn m2m(id: &Setting, secret: &Setting) -> Result<(Credentials, String), Missing> {
    let credentials = Credentials::oauth_m2m(&id.value, &secret.value, &id.source)?;
    Ok((credentials, format!("{} and {}", id.source, secret.source)))
}

fn no_credentials_hint(profile: &ProfileUse) -> String {
    let env = format!("{TOKEN_ENV}, or {CLIENT_ID_ENV} and {CLIENT_SECRET_ENV}");
    match profile {
        ProfileUse::Used { profile, path } => format!(
            "profile [{}] of {} has no token and no client_id/client_secret, and the \
             environment sets none of {env}",
            profile.name,
            path.display()
        ),
        ProfileUse::Skipped(why) => {
            format!("set {env}, or name a profile with --profile or {PROFILE_ENV} ({why})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::Path;

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

    fn run(vars: &[(&str, &str)], flag: Option<&str>) -> Result<Resolved, ConfigError> {
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
        assert!(matches!(err, ConfigError::NoCredentials { .. }), "{err}");
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
        assert!(matches!(err, ConfigError::InvalidFile { .. }), "{err}");
        let empty_home = Path::new(&f.home()).join("empty");
        std::fs::create_dir_all(&empty_home).unwrap();
        let err = run(&[("HOME", &empty_home.display().to_string())], None).unwrap_err();
        assert!(matches!(err, ConfigError::NoHost { .. }), "{err}");
        assert!(
            err.to_string().contains(".databrickscfg does not exist"),
            "{err}"
        );
    }
}
