//! Whom the job runs as (`JobSettings.run_as`). `--run-as <application id>` sets it; a
//! redeploy without the flag keeps what the job has (a reset replaces every setting, so
//! leaving it out would silently make the job run as whoever redeployed). Without either the
//! job runs as the deployer, which deploy's output says and stderr warns about: every
//! caller's pipeline then runs with the deployer's rights.

use super::rest::Rest;
use crate::outcome::Failure;
use serde_json::{Value, json};

/// The job's identity, decided.
#[derive(Clone, Debug, PartialEq)]
pub struct RunAs {
    /// The user name or application id the job's runs act as.
    pub name: String,
    /// `run_as` for the job's settings (None: the job's owner, i.e. the deployer).
    pub setting: Option<Value>,
}

impl RunAs {
    /// Whether runs act as the deployer (who already owns every deployed object).
    pub fn is_deployer(&self) -> bool {
        self.setting.is_none()
    }
}

/// `{"service_principal_name": id}`, or `{"user_name": email}` for a name with `@`: how the
/// Jobs and Permissions APIs name an identity.
pub fn principal(name: &str) -> Value {
    if name.contains('@') {
        json!({"user_name": name})
    } else {
        json!({"service_principal_name": name})
    }
}

/// `--run-as`: an application id (or a user's e-mail), nothing else.
pub fn check_flag(flag: Option<&str>) -> Result<(), Failure> {
    match flag {
        Some(name) if name.trim().is_empty() || name.chars().any(char::is_whitespace) => {
            Err(Failure::invalid_field(
                "--run-as",
                format!("`{name}` is not a service principal's application id"),
            ))
        }
        _ => Ok(()),
    }
}

/// The flag, else what the existing job `job_id` runs as, else the deployer `me`.
pub async fn decide(
    rest: &Rest,
    job_id: Option<i64>,
    flag: Option<&str>,
    me: &str,
) -> Result<RunAs, Failure> {
    if let Some(name) = flag {
        return Ok(RunAs {
            name: name.to_string(),
            setting: Some(principal(name)),
        });
    }
    if let Some(id) = job_id {
        let job = rest.get(&format!("/api/2.2/jobs/get?job_id={id}")).await?;
        if let Some(kept) = kept(&job, me) {
            return Ok(kept);
        }
    }
    Ok(RunAs {
        name: me.to_string(),
        setting: None,
    })
}

/// What an existing job runs as, when that is not its owner: `settings.run_as` where the
/// workspace answers it (the SDK calls it write-only), else `run_as_user_name` when it is
/// neither the creator nor the deployer.
fn kept(job: &Value, me: &str) -> Option<RunAs> {
    if let Some(Value::Object(run_as)) = job.pointer("/settings/run_as")
        && let Some(name) = run_as.values().find_map(Value::as_str)
    {
        return Some(RunAs {
            name: name.to_string(),
            setting: Some(Value::Object(run_as.clone())),
        });
    }
    let name = job["run_as_user_name"].as_str()?;
    let owner = job["creator_user_name"].as_str().unwrap_or_default();
    let same = |other: &str| name.eq_ignore_ascii_case(other);
    (!same(owner) && !same(me)).then(|| RunAs {
        name: name.to_string(),
        setting: Some(principal(name)),
    })
}

/// Said on stderr when the job runs as the deployer.
pub fn warning(me: &str) -> String {
    format!(
        "sdp-agent deploy: warning: the job runs as you ({me}): every caller's pipeline runs \
         with your rights. Deploy with --run-as <service principal application id> to give \
         runs only what the deployment grants."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_run_as_is_kept_from_either_answer() {
        let me = "me@x.com";
        let echoed = json!({"settings": {"run_as": {"service_principal_name": "sp-1"}},
                            "run_as_user_name": "sp-1", "creator_user_name": me});
        assert_eq!(
            kept(&echoed, me).unwrap().setting,
            Some(json!({"service_principal_name": "sp-1"}))
        );
        let write_only =
            json!({"settings": {}, "run_as_user_name": "sp-1", "creator_user_name": me});
        assert_eq!(kept(&write_only, me).unwrap().name, "sp-1");
        let user =
            json!({"settings": {}, "run_as_user_name": "other@x.com", "creator_user_name": me});
        assert_eq!(
            kept(&user, me).unwrap().setting,
            Some(json!({"user_name": "other@x.com"}))
        );
        let owner = json!({"settings": {}, "run_as_user_name": me, "creator_user_name": me});
        assert_eq!(kept(&owner, me), None);
        let someone_elses =
            json!({"settings": {}, "run_as_user_name": "a@x.com", "creator_user_name": "a@x.com"});
        assert_eq!(kept(&someone_elses, me), None);
    }

    #[test]
    fn the_flag_is_an_identity() {
        assert!(check_flag(Some("6a1b-22")).is_ok());
        assert!(check_flag(Some(" ")).is_err());
        assert!(check_flag(Some("a b")).is_err());
        assert!(check_flag(None).is_ok());
    }
}
