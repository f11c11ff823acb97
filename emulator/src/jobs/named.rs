//! Named jobs: jobs/create, get, list and reset (run-now is `run_now.rs`).

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use super::run_as;
use super::validate::validate_submit;
use crate::body::{JsonBody, Params};
use crate::error::{ApiError, ApiResult};
use crate::fields::{field, item_obj, known_keys, opt_array, opt_int, opt_obj, opt_str, req_str};
use crate::identity::Caller;
use crate::ids::now_ms;
use crate::permissions::{self, ObjectType};
use crate::state::{SharedApp, State as Workspace};

/// The fields of `JobSettings` (databricks-sdk 0.16x `jobs.JobSettings`).
const SETTINGS_KEYS: &[&str] = &[
    "budget_policy_id",
    "continuous",
    "deployment",
    "description",
    "duration_target",
    "edit_mode",
    "email_notifications",
    "environment_variables",
    "environments",
    "format",
    "git_source",
    "health",
    "job_clusters",
    "max_concurrent_runs",
    "name",
    "notification_settings",
    "parameters",
    "parent_path",
    "performance_target",
    "queue",
    "run_as",
    "schedule",
    "tags",
    "tasks",
    "timeout_seconds",
    "trigger",
    "triggers",
    "usage_policy_id",
    "webhook_notifications",
];

const MAX_CONCURRENT_RUNS: i64 = 1000;
const MAX_TAGS: usize = 25;

#[derive(Debug)]
pub(super) struct Job {
    pub(super) job_id: i64,
    created_time: i64,
    /// Who created it (`creator_user_name`): the caller, or whoever a test says.
    creator: String,
    pub(super) settings: Map<String, Value>,
}

impl Job {
    /// As get and list answer it; `owner` holds IS_OWNER (the creator unless changed).
    fn json(&self, with_tasks: bool, owner: &str) -> Value {
        let mut settings = self.settings.clone();
        if !with_tasks {
            settings.remove("tasks");
            settings.remove("job_clusters");
        }
        // "Write-only setting" (JobSettings.run_as): answered as run_as_user_name.
        settings.remove("run_as");
        json!({
            "job_id": self.job_id,
            "creator_user_name": self.creator,
            "run_as_user_name": run_as::user_name(&self.settings, owner),
            "created_time": self.created_time,
            "settings": settings,
        })
    }

    pub(super) fn name(&self) -> &str {
        self.settings
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("Untitled")
    }
}

#[derive(Debug, Default)]
pub struct NamedJobs {
    jobs: Vec<Job>,
}

impl NamedJobs {
    pub(super) fn find(&self, job_id: i64) -> ApiResult<&Job> {
        self.jobs
            .iter()
            .find(|j| j.job_id == job_id)
            .ok_or_else(|| no_such_job(job_id))
    }

    pub fn contains(&self, job_id: i64) -> bool {
        self.jobs.iter().any(|j| j.job_id == job_id)
    }

    /// Adds a job `creator` made (create's, or a test's seed without validation).
    pub(crate) fn seed(&mut self, job_id: i64, settings: Map<String, Value>, creator: &str) {
        self.jobs.push(Job {
            job_id,
            created_time: now_ms(),
            creator: creator.to_string(),
            settings,
        });
    }

    /// `{"job_id", "settings"}` of every job, in creation order.
    pub fn summaries(&self) -> Vec<Value> {
        self.jobs
            .iter()
            .map(|j| json!({"job_id": j.job_id, "settings": j.settings}))
            .collect()
    }
}

/// Who holds IS_OWNER on the job.
fn owner<'a>(state: &'a Workspace, job: &'a Job) -> &'a str {
    state
        .permissions
        .owner(ObjectType::Jobs, &job.job_id.to_string())
        .unwrap_or(&job.creator)
}

/// Jobs answers an unknown job id with 400, as for a bad parameter.
fn no_such_job(job_id: i64) -> ApiError {
    ApiError::invalid(format!("Job {job_id} does not exist."))
}

/// Checks a whole `JobSettings`; the tasks and environments get runs/submit's checks.
fn validate_settings(settings: &Map<String, Value>, ctx: &str) -> ApiResult<()> {
    known_keys(settings, SETTINGS_KEYS, ctx)?;
    opt_str(settings, "name", ctx)?;
    opt_str(settings, "description", ctx)?;
    if let Some(n) = opt_int(settings, "max_concurrent_runs", ctx)?
        && !(0..=MAX_CONCURRENT_RUNS).contains(&n)
    {
        return Err(ApiError::invalid(format!(
            "{} must be between 0 and {MAX_CONCURRENT_RUNS}",
            field(ctx, "max_concurrent_runs")
        )));
    }
    if let Some(tags) = opt_obj(settings, "tags", ctx)? {
        if tags.len() > MAX_TAGS {
            return Err(ApiError::invalid(format!(
                "{} may have at most {MAX_TAGS} entries",
                field(ctx, "tags")
            )));
        }
        if let Some((k, _)) = tags.iter().find(|(_, v)| !v.is_string()) {
            return Err(ApiError::invalid(format!(
                "Invalid value for field '{}.{k}': expected a string",
                field(ctx, "tags")
            )));
        }
    }
    let mut names = Vec::new();
    for (i, p) in opt_array(settings, "parameters", ctx)?
        .into_iter()
        .flatten()
        .enumerate()
    {
        let p_ctx = format!("{}[{i}]", field(ctx, "parameters"));
        let p = item_obj(p, &p_ctx)?;
        known_keys(p, &["name", "default"], &p_ctx)?;
        let name = req_str(p, "name", &p_ctx)?;
        if opt_str(p, "default", &p_ctx)?.is_none() {
            return Err(ApiError::invalid(format!(
                "Missing required field: {p_ctx}.default"
            )));
        }
        if names.contains(&name) {
            return Err(ApiError::invalid(format!(
                "{p_ctx}.name '{name}' is not unique"
            )));
        }
        names.push(name);
    }
    if settings.contains_key("job_clusters") {
        return Err(ApiError::invalid(format!(
            "{}: shared job clusters are not supported by this emulator",
            field(ctx, "job_clusters")
        )));
    }
    // The task checks of runs/submit apply unchanged to a job's tasks.
    let mut tasks = Map::new();
    for key in ["tasks", "environments"] {
        if let Some(v) = settings.get(key) {
            tasks.insert(key.to_string(), v.clone());
        }
    }
    validate_submit(&tasks).map_err(|e| {
        if ctx.is_empty() {
            e
        } else {
            ApiError::invalid(format!("{ctx}: {}", e.message))
        }
    })
}

pub(super) fn job_id_field(obj: &Map<String, Value>) -> ApiResult<i64> {
    match opt_int(obj, "job_id", "")? {
        Some(id) => Ok(id),
        None => Err(ApiError::invalid("Missing required field: job_id")),
    }
}

fn job_id_param(params: &Params) -> ApiResult<i64> {
    match params.get("job_id") {
        None | Some("") => Err(ApiError::invalid("Missing required field: job_id")),
        Some(raw) => raw
            .parse()
            .map_err(|_| ApiError::invalid(format!("Invalid value for job_id: '{raw}'"))),
    }
}

/// `POST /api/2.x/jobs/create` (JobSettings plus `access_control_list`).
pub async fn create(
    State(app): State<SharedApp>,
    caller: Caller,
    JsonBody(mut body): JsonBody,
) -> ApiResult<Json<Value>> {
    if let Some(acl) = body.remove("access_control_list")
        && !acl.is_array()
    {
        return Err(ApiError::invalid(
            "Invalid value for field 'access_control_list': expected an array",
        ));
    }
    validate_settings(&body, "")?;
    let run_as = run_as::parse(&body, "")?;
    let mut state = app.lock();
    let state = &mut *state;
    if let Some(principal) = &run_as {
        run_as::check(&app, state, &caller, principal)?;
    }
    let job_id = state.ids.job_id();
    state
        .permissions
        .set_owner(ObjectType::Jobs, &job_id.to_string(), &caller.name);
    state.named_jobs.seed(job_id, body, &caller.name);
    Ok(Json(json!({"job_id": job_id})))
}

/// `GET /api/2.x/jobs/get?job_id=N`.
pub async fn get(State(app): State<SharedApp>, params: Params) -> ApiResult<Json<Value>> {
    let job_id = job_id_param(&params)?;
    let state = app.lock();
    let job = state.named_jobs.find(job_id)?;
    Ok(Json(job.json(true, owner(&state, job))))
}

/// `GET /api/2.x/jobs/list[?name=NAME&limit=N&page_token=T&offset=M&expand_tasks=true]`.
/// As documented (databricks-sdk `JobsAPI.list`): `name` is the exact job name compared
/// case-insensitively, `limit` defaults to 20 (at most 100), and the next page is asked for
/// with the answer's `next_page_token` (`offset` is deprecated but still read).
pub async fn list(State(app): State<SharedApp>, params: Params) -> ApiResult<Json<Value>> {
    let number = |key: &str, default: usize, max: usize| -> ApiResult<usize> {
        match params.get(key) {
            None | Some("") => Ok(default),
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if n <= max => Ok(n),
                _ => Err(ApiError::invalid(format!(
                    "Invalid value for {key}: '{raw}' (0 to {max})"
                ))),
            },
        }
    };
    let limit = match number("limit", 20, 100)? {
        0 => 20,
        n => n,
    };
    let offset = match params.get("page_token") {
        None | Some("") => number("offset", 0, usize::MAX)?,
        Some(token) => page_offset(token)?,
    };
    let expand = params.get("expand_tasks") == Some("true");
    let name = params.get("name").map(str::to_lowercase);
    let state = app.lock();
    let matching: Vec<&Job> = state
        .named_jobs
        .jobs
        .iter()
        .filter(|j| name.as_ref().is_none_or(|n| j.name().to_lowercase() == *n))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|j| j.json(expand, owner(&state, j)))
        .collect();
    let next = offset + page.len();
    let has_more = matching.len() > next;
    let mut out = json!({"has_more": has_more});
    if has_more {
        out["next_page_token"] = json!(page_token(next));
    }
    if offset > 0 {
        out["prev_page_token"] = json!(page_token(offset.saturating_sub(limit)));
    }
    // Like the real service, no `jobs` key at all when nothing matched.
    if !page.is_empty() {
        out["jobs"] = Value::Array(page);
    }
    Ok(Json(out))
}

/// Page tokens are opaque to clients: here, the offset of the page in a form no client would
/// mistake for a number.
fn page_token(offset: usize) -> String {
    format!("jobs-page-{offset:x}")
}

fn page_offset(token: &str) -> ApiResult<usize> {
    token
        .strip_prefix("jobs-page-")
        .and_then(|hex| usize::from_str_radix(hex, 16).ok())
        .ok_or_else(|| ApiError::invalid(format!("Invalid page_token: '{token}'")))
}

/// `POST /api/2.x/jobs/reset {job_id, new_settings}`: replaces every setting, keeps the id.
pub async fn reset(
    State(app): State<SharedApp>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    known_keys(&body, &["job_id", "new_settings"], "")?;
    let job_id = job_id_field(&body)?;
    let Some(settings) = opt_obj(&body, "new_settings", "")? else {
        return Err(ApiError::invalid("Missing required field: new_settings"));
    };
    validate_settings(settings, "new_settings")?;
    let run_as = run_as::parse(settings, "new_settings")?;
    let mut state = app.lock();
    state.named_jobs.find(job_id)?;
    let id = job_id.to_string();
    if !permissions::allows(&state, &caller, ObjectType::Jobs, &id, "CAN_MANAGE") {
        return Err(permissions::denied(
            &caller,
            "CAN_MANAGE",
            &format!("job {id}"),
            "resetting it",
        ));
    }
    if let Some(principal) = &run_as {
        run_as::check(&app, &state, &caller, principal)?;
    }
    let job = state
        .named_jobs
        .jobs
        .iter_mut()
        .find(|j| j.job_id == job_id)
        .ok_or_else(|| no_such_job(job_id))?;
    job.settings = settings.clone();
    Ok(Json(json!({})))
}
