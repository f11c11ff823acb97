//! A job as `sdp-agent deploy` makes it, created through the emulator's Jobs API, and what a
//! run of it was given.

use super::RUNNER;
use sdp_emulator::Emulator;
use serde_json::{Value, json};

/// The deployed job: its task runs the launcher with the payload; `caller` (empty by default)
/// is set by `serve` to whoever it admitted.
pub fn deployed_job(emu: &Emulator) -> i64 {
    let settings = json!({
        "name": "sdp-agent",
        "tasks": [{
            "task_key": "sdp_agent_run",
            "spark_python_task": {
                "python_file": RUNNER,
                "parameters": ["{{job.parameters.payload}}", "--timeout", "{{job.parameters.timeout}}"],
                "source": "WORKSPACE",
            },
            "environment_key": "sdp_agent_env",
        }],
        "environments": [{"environment_key": "sdp_agent_env", "spec": {"environment_version": "3"}}],
        "parameters": [
            {"name": "payload", "default": ""},
            {"name": "timeout", "default": "900"},
            {"name": "caller", "default": ""},
        ],
        "max_concurrent_runs": 100,
    });
    let answer: Value = ureq::post(&format!("{}/api/2.2/jobs/create", emu.url()))
        .set("Authorization", &format!("Bearer {}", emu.token().unwrap()))
        .send_json(settings)
        .expect("jobs/create")
        .into_json()
        .unwrap();
    answer["job_id"].as_i64().expect("job_id")
}

/// The value of job parameter `name` a run of a job was started with.
pub fn job_parameter(run: &Value, name: &str) -> Option<String> {
    run["request"]["job_parameters"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["value"].as_str())
        .map(str::to_string)
}

/// The bodies of the `jobs/run-now` requests sent.
pub fn run_now_bodies(emu: &Emulator) -> Vec<Value> {
    emu.requests()
        .into_iter()
        .filter(|r| r.path == "/api/2.2/jobs/run-now")
        .map(|r| r.body)
        .collect()
}
