//! Picks the authentication method from the settings found, and words what is missing.

use super::Setting;
use super::profile_use::ProfileUse;
use crate::auth::{Credentials, ResolveError};
use crate::env::{CLIENT_ID_ENV, CLIENT_SECRET_ENV, PROFILE_ENV, TOKEN_ENV};

/// Why credentials could not be built: a specific problem, or nothing configured at all
/// (worded by the caller, which knows about the profile).
pub(super) enum Missing {
    Config(ResolveError),
    Everything,
}

impl From<ResolveError> for Missing {
    fn from(e: ResolveError) -> Self {
        Missing::Config(e)
    }
}

/// Picks the method; returns it with a description of where its settings came from.
pub(super) fn credentials(
    auth_type: Option<Setting>,
    token: Option<Setting>,
    client_id: Option<Setting>,
    client_secret: Option<Setting>,
) -> Result<(Credentials, String), Missing> {
    if let Some(auth_type) = auth_type {
        let incomplete = |missing: &str| ResolveError::AuthTypeIncomplete {
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
            other => Err(ResolveError::UnsupportedAuthType {
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
        (Some(token), id, secret) => Err(ResolveError::Conflict {
            pat: token.source.to_string(),
            m2m: [id, secret]
                .iter()
                .flatten()
                .map(|s| s.source.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into()),
        (None, Some(id), None) => Err(ResolveError::IncompleteM2m {
            have: id.source.to_string(),
            missing: format!("{CLIENT_SECRET_ENV} (or client_secret)"),
        }
        .into()),
        (None, None, Some(secret)) => Err(ResolveError::IncompleteM2m {
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

pub(super) fn no_credentials_hint(profile: &ProfileUse) -> String {
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
