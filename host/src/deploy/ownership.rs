//! Whose job, app and serving endpoint: deploy updates only what it made, which carries its
//! mark (the job's and the endpoint's tag `sdp-agent`, the app's description), or what
//! `--adopt` hands over to it. Everything of that name is looked at before the first write,
//! so a refusal leaves the workspace untouched.

use super::args::{DeployArgs, Serve};
use super::job;
use super::rest::Rest;
use crate::outcome::Failure;
use serde_json::Value;

/// The tag key on the jobs and endpoints deploy makes (its value: the version that made it).
pub const TAG_KEY: &str = "sdp-agent";
/// The words in the description of the apps deploy makes (apps have no tags).
pub const APP_MARK: &str = "Managed by `sdp-agent deploy`.";

/// What of that name exists, each deploy's to update.
#[derive(Default)]
pub struct Existing {
    pub job_id: Option<i64>,
    pub app: Option<Value>,
    pub endpoint: Option<Value>,
}

/// Finds the job, and the app or endpoint `--serve` makes, named `--name`; refuses any not
/// deploy's (unless `--adopt`).
pub async fn survey(rest: &Rest, args: &DeployArgs) -> Result<Existing, Failure> {
    let name = &args.name;
    let jobs = job::named(rest, name).await?;
    let job_id = match jobs.as_slice() {
        [] => None,
        [job] => {
            let id = job["job_id"].as_i64().ok_or_else(|| {
                Failure::Transport(format!("jobs/list answered a job without a job_id: {job}"))
            })?;
            let ours = job.pointer(&format!("/settings/tags/{TAG_KEY}")).is_some();
            let creator = text(job, "creator_user_name");
            check(
                &format!("job {name:?} (id {id})"),
                ours,
                creator,
                args.adopt,
            )?;
            Some(id)
        }
        many => {
            let ids: Vec<&Value> = many.iter().map(|j| &j["job_id"]).collect();
            return Err(Failure::Config(format!(
                "{} jobs are named {name:?} (ids {ids:?}; Jobs compares names ignoring case): delete or rename all but one, or deploy with another --name",
                many.len()
            )));
        }
    };
    let mut existing = Existing {
        job_id,
        ..Existing::default()
    };
    match args.serve {
        Serve::App => {
            existing.app = rest.get_optional(&format!("/api/2.0/apps/{name}")).await?;
            if let Some(app) = &existing.app {
                let ours = text(app, "description").contains(APP_MARK);
                check(
                    &format!("app {name:?}"),
                    ours,
                    text(app, "creator"),
                    args.adopt,
                )?;
            }
        }
        Serve::ModelServing => {
            existing.endpoint = rest
                .get_optional(&format!("/api/2.0/serving-endpoints/{name}"))
                .await?;
            if let Some(endpoint) = &existing.endpoint {
                let ours = endpoint_is_ours(endpoint);
                let what = format!("serving endpoint {name:?}");
                check(&what, ours, text(endpoint, "creator"), args.adopt)?;
            }
        }
        Serve::None => {}
    }
    Ok(existing)
}

/// Whether the endpoint carries deploy's tag.
pub fn endpoint_is_ours(endpoint: &Value) -> bool {
    endpoint["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["key"] == TAG_KEY)
}

fn check(what: &str, ours: bool, creator: &str, adopt: bool) -> Result<(), Failure> {
    if ours || adopt {
        return Ok(());
    }
    let creator = if creator.is_empty() {
        "someone else"
    } else {
        creator
    };
    Err(Failure::invalid_field(
        "--name",
        format!(
            "the {what} was created by {creator}, not by sdp-agent deploy (it lacks the `{TAG_KEY}` mark): deploy with another --name, or pass --adopt to take it over"
        ),
    ))
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}
