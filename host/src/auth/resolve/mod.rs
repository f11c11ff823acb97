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
//!
//! [`profile_use`] decides which profile is read (step 2), [`method`] picks the credentials
//! (step 3).

mod method;
mod profile_use;
#[cfg(test)]
mod tests;

use super::{Credentials, ResolveError, Source};
use crate::env::{
    AUTH_TYPE_ENV, CLIENT_ID_ENV, CLIENT_SECRET_ENV, HOST_ENV, PROFILE_ENV, TOKEN_ENV,
};
use method::{Missing, credentials, no_credentials_hint};
use profile_use::{ProfileUse, load_profile};

const PROFILE_FLAG: &str = "--profile";

/// One setting: its environment variable and its key in a profile.
struct Field {
    env: &'static str,
    key: &'static str,
}

impl Field {
    const fn new(env: &'static str, key: &'static str) -> Self {
        Self { env, key }
    }
}

const HOST: Field = Field::new(HOST_ENV, "host");
const TOKEN: Field = Field::new(TOKEN_ENV, "token");
const CLIENT_ID: Field = Field::new(CLIENT_ID_ENV, "client_id");
const CLIENT_SECRET: Field = Field::new(CLIENT_SECRET_ENV, "client_secret");
const AUTH_TYPE: Field = Field::new(AUTH_TYPE_ENV, "auth_type");

/// A value and where it came from.
struct Setting {
    value: String,
    source: Source,
}

/// What to connect to and how to authenticate.
#[derive(Debug)]
pub struct Resolved {
    /// As configured (normalised by `workspace::Workspace`).
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
) -> Result<Resolved, ResolveError> {
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

    let host = pick(&HOST).ok_or_else(|| ResolveError::NoHost {
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
        Missing::Everything => ResolveError::NoCredentials {
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
