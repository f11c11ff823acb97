//! Which profile of the config file fills what the environment left unset, or why none does.

use crate::auth::ResolveError;
use crate::auth::profile::{ConfigFile, DEFAULT_PROFILE, Profile, config_path};
use crate::env::CONFIG_FILE_ENV;
use std::path::PathBuf;

/// The profile that was read, or why none was.
pub(super) enum ProfileUse {
    Used { profile: Profile, path: PathBuf },
    Skipped(String),
}

/// Reads the named profile (or `[DEFAULT]`). A profile named explicitly must exist; the
/// default one is optional.
pub(super) fn load_profile(
    named: Option<(String, &'static str)>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<ProfileUse, ResolveError> {
    let home = env("HOME").or_else(|| env("USERPROFILE"));
    let Some(path) = config_path(env(CONFIG_FILE_ENV).as_deref(), home.as_deref()) else {
        return match named {
            Some((name, named_by)) => Err(ResolveError::NoHome { name, named_by }),
            None => Ok(ProfileUse::Skipped(
                "no home directory to find ~/.databrickscfg in".into(),
            )),
        };
    };
    let Some(file) = ConfigFile::load(&path)? else {
        return match named {
            Some((name, named_by)) => Err(ResolveError::NoConfigFile {
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
        (None, Some((name, named_by))) => Err(ResolveError::ProfileNotFound {
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
