//! `~/.databrickscfg`: INI sections, one per profile, with `host`, `token`, `client_id`,
//! `client_secret` (and keys we ignore). Read the way the Python SDK reads it (configparser):
//! keys are case-insensitive, values are taken verbatim (no quotes or escapes), comments only
//! at the start of a line, and `[DEFAULT]` is a profile like any other, not merged into others.

use super::ResolveError;
use ini::{Ini, ParseOption};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "DEFAULT";

/// One `[name]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    /// Lower-cased keys; empty values are dropped (an empty setting is no setting).
    values: BTreeMap<String, String>,
}

impl Profile {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
}

/// A parsed config file: its profiles in file order.
#[derive(Clone, Debug)]
pub struct ConfigFile {
    profiles: Vec<Profile>,
}

impl ConfigFile {
    /// Reads and parses `path`; `Ok(None)` when there is no such file.
    pub fn load(path: &Path) -> Result<Option<Self>, ResolveError> {
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|_| ResolveError::InvalidFile {
                path: path.to_path_buf(),
                reason: "not UTF-8 text".into(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(ResolveError::UnreadableFile {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                });
            }
        };
        Self::parse(path, &text).map(Some)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ResolveError> {
        let invalid = |reason: String| ResolveError::InvalidFile {
            path: path.to_path_buf(),
            reason,
        };
        let options = ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            ..ParseOption::default()
        };
        let ini = Ini::load_from_str_opt(text, options)
            .map_err(|e| invalid(format!("line {}: {}", e.line + 1, e.msg)))?;
        let mut profiles: Vec<Profile> = Vec::new();
        for (section, properties) in ini.iter() {
            let Some(name) = section else {
                if properties.is_empty() {
                    continue;
                }
                return Err(invalid(
                    "settings before the first [profile] header".to_string(),
                ));
            };
            if profiles.iter().any(|p| p.name == name) {
                return Err(invalid(format!("profile [{name}] appears more than once")));
            }
            let mut values = BTreeMap::new();
            for (key, value) in properties.iter() {
                let key = key.trim().to_ascii_lowercase();
                if values.contains_key(&key) {
                    return Err(invalid(format!(
                        "profile [{name}] sets {key} more than once"
                    )));
                }
                let value = value.trim();
                if !value.is_empty() {
                    values.insert(key, value.to_string());
                }
            }
            profiles.push(Profile {
                name: name.to_string(),
                values,
            });
        }
        Ok(Self { profiles })
    }

    /// Profile names are case-sensitive, as in the SDKs.
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    pub fn names(&self) -> Vec<String> {
        self.profiles.iter().map(|p| p.name.clone()).collect()
    }
}

/// `DATABRICKS_CONFIG_FILE` (a leading `~/` is the home directory) or `~/.databrickscfg`;
/// `None` when neither is set and there is no home directory.
pub fn config_path(config_file: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
    match config_file {
        Some(path) => Some(match (path.strip_prefix("~/"), home) {
            (Some(rest), Some(home)) => Path::new(home).join(rest),
            _ => PathBuf::from(path),
        }),
        None => home.map(|home| Path::new(home).join(".databrickscfg")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, ResolveError> {
        ConfigFile::parse(Path::new("/cfg"), text)
    }

    #[test]
    fn profiles_keys_and_values() {
        let file = parse(
            "; a comment\n\
             [DEFAULT]\n\
             host = https://adb-1.azuredatabricks.net/\n\
             token = dapi\"quoted;#not-a-comment\n\
             \n\
             # another comment\n\
             [dev]\n\
             HOST: dev.cloud.databricks.com\n\
             Client_ID = svc\n\
             client_secret = dose\\x01\n\
             empty =\n\
             jobs-api-version = 2.1\n",
        )
        .unwrap();
        assert_eq!(file.names(), ["DEFAULT", "dev"]);
        let default = file.profile("DEFAULT").unwrap();
        assert_eq!(
            default.get("host"),
            Some("https://adb-1.azuredatabricks.net/")
        );
        // Verbatim: no unquoting, no escapes, no inline comments.
        assert_eq!(default.get("token"), Some("dapi\"quoted;#not-a-comment"));
        assert_eq!(
            default.get("client_id"),
            None,
            "DEFAULT is not merged into others"
        );
        let dev = file.profile("dev").unwrap();
        assert_eq!(dev.get("host"), Some("dev.cloud.databricks.com"));
        assert_eq!(dev.get("client_id"), Some("svc"));
        assert_eq!(dev.get("client_secret"), Some("dose\\x01"));
        assert_eq!(dev.get("empty"), None);
        assert_eq!(
            dev.get("token"),
            None,
            "DEFAULT's token does not leak into [dev]"
        );
        assert!(
            file.profile("Dev").is_none(),
            "profile names are case-sensitive"
        );
    }

    #[test]
    fn invalid_files_say_why() {
        let cases = [
            ("host = x\n[DEFAULT]\n", "before the first [profile]"),
            (
                "[a]\nhost = x\n[a]\ntoken = y\n",
                "[a] appears more than once",
            ),
            ("[a]\ntoken = x\nTOKEN = y\n", "sets token more than once"),
            ("[a\nhost = x\n", "line"),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err();
            let message = err.to_string();
            assert!(
                matches!(err, ResolveError::InvalidFile { .. }) && message.contains(expected),
                "{text:?}: {message}"
            );
            assert!(message.contains("/cfg"), "{message}");
        }
    }

    #[test]
    fn load_distinguishes_missing_from_unreadable() {
        let dir = std::env::temp_dir().join(format!("sdp-agent-profile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(ConfigFile::load(&dir.join("absent")).unwrap().is_none());
        // A directory exists but cannot be read as a file.
        let err = ConfigFile::load(&dir).unwrap_err();
        assert!(matches!(err, ResolveError::UnreadableFile { .. }), "{err}");
        let binary = dir.join("binary");
        std::fs::write(&binary, [0xff, 0xfe, b'[']).unwrap();
        let err = ConfigFile::load(&binary).unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn path_from_env_or_home() {
        assert_eq!(
            config_path(None, Some("/home/u")),
            Some(PathBuf::from("/home/u/.databrickscfg"))
        );
        assert_eq!(
            config_path(Some("~/cfg/x.ini"), Some("/home/u")),
            Some(PathBuf::from("/home/u/cfg/x.ini"))
        );
        assert_eq!(
            config_path(Some("/etc/dbx"), None),
            Some(PathBuf::from("/etc/dbx"))
        );
        assert_eq!(config_path(None, None), None);
    }
}
