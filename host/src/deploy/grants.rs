//! The grants that let each identity do its part and no more (README "Least privilege"):
//! workspace folders through the Permissions API (`PATCH /api/2.0/permissions/directories/{id}`,
//! the folder's id from get-status), the volume through Unity Catalog
//! (`PATCH /api/2.1/unity-catalog/permissions/volume/{name}`), the job through
//! `PATCH /api/2.0/permissions/jobs/{id}`. PATCH adds or replaces the one principal's level and
//! leaves everyone else's, so a redeploy repeats them harmlessly.

use super::rest::{Rest, Retry};
use super::run_as::principal;
use crate::outcome::Failure;
use http::Method;
use serde_json::{Value, json};

/// Grants made (or, in a dry run, planned), for deploy's output.
pub struct Grants<'a> {
    rest: &'a Rest,
    made: Vec<Value>,
}

impl<'a> Grants<'a> {
    pub fn new(rest: &'a Rest) -> Self {
        Self {
            rest,
            made: Vec::new(),
        }
    }

    /// `level` (CAN_READ, CAN_MANAGE, ...) on the workspace folder `path` for `who`.
    pub async fn folder(&mut self, path: &str, who: &str, level: &str) -> Result<(), Failure> {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("path", path)
            .finish();
        let status = self
            .rest
            .get_optional(&format!("/api/2.0/workspace/get-status?{query}"))
            .await?;
        let id = match status.as_ref().and_then(|s| s["object_id"].as_i64()) {
            Some(id) => id.to_string(),
            // A dry run has not made the folder yet.
            None if self.rest.dry_run() => "<object_id>".to_string(),
            None => {
                return Err(Failure::Transport(format!(
                    "get-status of {path} answered no object_id: {status:?}"
                )));
            }
        };
        self.acl(
            &format!("/api/2.0/permissions/directories/{id}"),
            who,
            level,
        )
        .await?;
        self.record(path, who, level);
        Ok(())
    }

    /// `level` (CAN_MANAGE_RUN, ...) on the job for `who`; `job` is its id, or what stands
    /// for it in a dry run.
    pub async fn job(&mut self, job: &str, who: &str, level: &str) -> Result<(), Failure> {
        self.acl(&format!("/api/2.0/permissions/jobs/{job}"), who, level)
            .await?;
        self.record(&format!("job {job}"), who, level);
        Ok(())
    }

    /// READ_VOLUME on the volume `full_name` for `who`.
    pub async fn read_volume(&mut self, full_name: &str, who: &str) -> Result<(), Failure> {
        let body = json!({"changes": [{"principal": who, "add": ["READ_VOLUME"]}]});
        self.rest
            .write(
                Method::PATCH,
                &format!("/api/2.1/unity-catalog/permissions/volume/{full_name}"),
                &body,
                Retry::Safe,
            )
            .await?;
        self.record(&format!("volume {full_name}"), who, "READ_VOLUME");
        Ok(())
    }

    async fn acl(&self, path: &str, who: &str, level: &str) -> Result<(), Failure> {
        let mut entry = principal(who);
        entry["permission_level"] = json!(level);
        let body = json!({"access_control_list": [entry]});
        self.rest
            .write(Method::PATCH, path, &body, Retry::Safe)
            .await
            .map(drop)
    }

    fn record(&mut self, on: &str, who: &str, level: &str) {
        self.made
            .push(json!({"on": on, "to": who, "permission": level}));
    }

    /// Every grant, in the order made.
    pub fn made(self) -> Vec<Value> {
        self.made
    }
}

/// The deployment's folders: its own (launcher, policy, app sources), the policy root runs
/// write under, and the staging folder large payloads are handed over in.
pub struct Folders<'a> {
    pub dir: &'a str,
    pub root: &'a str,
    pub staging: &'a str,
}

/// What the run identity needs, when it is not the deployer (who owns all of it): to read
/// the deployment's folder (launcher, policy, staged payloads) and the binaries, and to manage
/// the root its runs write pipelines under.
pub async fn for_run_identity(
    grants: &mut Grants<'_>,
    folders: &Folders<'_>,
    volume: &str,
    who: &str,
) -> Result<(), Failure> {
    grants.folder(folders.dir, who, "CAN_READ").await?;
    grants.folder(folders.root, who, "CAN_MANAGE").await?;
    grants.read_volume(volume, who).await
}

/// What the serving identity needs: to read the deployment's folder and to create the staged
/// copies of large payloads in the staging folder (creating items in a folder takes
/// CAN_MANAGE on it), and with `job`, to start the job's runs (CAN_MANAGE_RUN; an App gets
/// that from its job resource).
pub async fn for_serving_identity(
    grants: &mut Grants<'_>,
    folders: &Folders<'_>,
    who: &str,
    job: Option<&str>,
) -> Result<(), Failure> {
    grants.folder(folders.dir, who, "CAN_READ").await?;
    grants.folder(folders.staging, who, "CAN_MANAGE").await?;
    if let Some(job) = job {
        grants.job(job, who, "CAN_MANAGE_RUN").await?;
    }
    Ok(())
}
