//! What the deploy tests share: a dist folder holding the built agent, running `deploy`
//! against an emulator, the writes it received, and the databricks-sdk check of their bodies.
#![allow(dead_code)]

use super::*;
use sdp_emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const VOLUME: &str = "main.tools.sdp_agent";
pub const VOLUME_PATH: &str = concat!("/Volumes/main/tools/sdp_agent/", env!("CARGO_PKG_VERSION"));
pub const APP_CLIENT: (&str, &str) = ("app-service-principal", "app-secret");

pub fn emulator_with_app_client() -> Emulator {
    emulator_with(EmulatorConfig {
        oauth_clients: vec![(APP_CLIENT.0.into(), APP_CLIENT.1.into())],
        ..Default::default()
    })
}

/// A private folder, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "sdp-agent-deploy-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The x86_64 release binary's name in a dist folder.
pub const RELEASE_X86_64: &str = "sdp-agent-x86_64-unknown-linux-musl";

/// A dist folder holding a statically linked stand-in for the x86_64 release binary: deploy
/// uploads only static binaries for an App or Model Serving, and the test build of the agent
/// is dynamic. The stand-in (`static_agent`) execs the built agent, so what runs is the agent.
pub fn dist() -> TempDir {
    let dir = TempDir::new("dist");
    std::fs::copy(static_agent(), dir.0.join(RELEASE_X86_64)).unwrap();
    dir
}

/// Like `dist`, with a binary of other bytes (a rebuild): the stand-in with bytes appended,
/// which an ELF loader ignores.
pub fn rebuilt_dist() -> TempDir {
    let dir = TempDir::new("dist-rebuilt");
    let mut bytes = std::fs::read(static_agent()).unwrap();
    bytes.extend_from_slice(b"\0rebuilt");
    let path = dir.0.join(RELEASE_X86_64);
    std::fs::write(&path, bytes).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A dist folder holding the built agent itself (dynamically linked) as the release binary.
pub fn dynamic_dist() -> TempDir {
    let dir = TempDir::new("dist-dynamic");
    std::os::unix::fs::symlink(agent_bin(), dir.0.join(RELEASE_X86_64)).unwrap();
    dir
}

/// The release binary of `dist`.
pub fn release_binary(dist: &TempDir) -> PathBuf {
    dist.0.join(RELEASE_X86_64)
}

/// A static executable (glibc, `crt-static`: no PT_INTERP) that execs the built agent with
/// its own arguments: compiled once per agent build, with the rustc that builds the tests.
pub fn static_agent() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let agent = agent_bin();
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
            let stamp = std::fs::metadata(&agent)
                .and_then(|m| m.modified())
                .map(|t| format!("{t:?}"))
                .unwrap_or_default();
            let key = sha256_of(format!("{}|{stamp}", agent.display()).as_bytes());
            let out = dir.join(format!("static-agent-{}", &key[..16]));
            if out.is_file() {
                return out;
            }
            let source = dir.join(format!("static-agent-{}.rs", std::process::id()));
            let program = format!(
                "use std::os::unix::process::CommandExt;\n\
                 fn main() {{\n\
                     let agent = {agent:?};\n\
                     let err = std::process::Command::new(agent).args(std::env::args_os().skip(1)).exec();\n\
                     eprintln!(\"static stand-in: cannot exec {{agent}}: {{err}}\");\n\
                     std::process::exit(127);\n\
                 }}\n",
                agent = agent.display().to_string()
            );
            std::fs::write(&source, program).unwrap();
            let partial = dir.join(format!("static-agent-{}.part", std::process::id()));
            let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
            let status = Command::new(rustc)
                .args(["--edition", "2021", "-C", "target-feature=+crt-static", "-o"])
                .arg(&partial)
                .arg(&source)
                .status()
                .expect("rustc runs");
            assert!(status.success(), "building the static stand-in failed");
            let _ = std::fs::remove_file(&source);
            // A rename is atomic: test binaries running at once never see half a file.
            std::fs::rename(&partial, &out).unwrap();
            out
        })
        .clone()
}

fn sha256_of(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// Runs the launcher as a job's task on a cluster starts it: its first parameter `argv1`, the
/// workspace's host and the run identity's token, no binary named and no runtime.
pub fn launch_on_cluster(emu: &Emulator, launcher: &Path, argv1: &str) -> std::process::Output {
    Command::new("python3")
        .arg(launcher)
        .arg(argv1)
        .env("DATABRICKS_HOST", emu.url())
        .env("DATABRICKS_TOKEN", emu.token().unwrap())
        .env_remove("SDP_AGENT_BIN")
        .env_remove("DATABRICKS_RUNTIME_VERSION")
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap()
}

/// The deployment as a cluster sees it, in `cluster`: the workspace folder's launcher and
/// settings, and the volume mounted under `cluster/volume` (a local copy of what deploy
/// uploaded; the settings' `volume_path` points there). Returns the launcher's path.
pub fn cluster_view(emu: &Emulator, deployed: &Value, cluster: &Path) -> PathBuf {
    let dir = deployed["workspace_dir"].as_str().unwrap();
    let launcher = cluster.join("sdp_agent_launcher.py");
    std::fs::write(
        &launcher,
        emu.file(&format!("{dir}/sdp_agent_launcher.py")).unwrap(),
    )
    .unwrap();
    let mount = cluster.join("volume");
    std::fs::create_dir_all(&mount).unwrap();
    for (path, _) in emu.volume_files() {
        let name = path.rsplit('/').next().unwrap();
        std::fs::write(mount.join(name), emu.volume_file(&path).unwrap()).unwrap();
    }
    let mut settings: Value =
        serde_json::from_str(&emu.file(&format!("{dir}/sdp_agent_deploy.json")).unwrap()).unwrap();
    settings["volume_path"] = json!(mount.display().to_string());
    std::fs::write(cluster.join("sdp_agent_deploy.json"), settings.to_string()).unwrap();
    launcher
}

/// A caller's payload within deploy's default policy: the volume's catalog, a pipeline under the
/// policy's root, the model's SQL (no caller sources).
pub fn payload_within_policy(deployed: &Value, name: &str) -> Value {
    let root = deployed["policy"]["root"].as_str().unwrap();
    json!({
        "question": "bronze and silver over clickstream events",
        "catalog": "main",
        "schema": "demo",
        "pipelineName": name,
        "root_path": format!("{root}/{name}"),
    })
}

pub fn deploy(emu: &Emulator, dist: &Path, extra: &[&str]) -> Outcome {
    let mut cmd = agent_command(emu);
    cmd.args(["deploy", "--volume", VOLUME, "--dist"])
        .arg(dist)
        .args(extra);
    finish(cmd)
}

pub fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// The writes the emulator received, as `{"call": "METHOD /path", "body"}` (uploads excluded).
pub fn writes(emu: &Emulator) -> Vec<Value> {
    emu.requests()
        .into_iter()
        .filter(|r| r.method != "GET" && r.method != "HEAD" && !r.path.starts_with("/api/2.0/fs/"))
        .map(|r| json!({"call": format!("{} {}", r.method, r.path), "body": r.body}))
        .collect()
}

/// Every body must survive the databricks-sdk dataclasses (tests/tests/common/sdk_check.py).
pub fn assert_sdk_accepts(bodies: &[Value]) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/common/sdk_check.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(Value::Array(bodies.to_vec()).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "bodies the databricks-sdk does not accept:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A free loopback port for the app (Databricks hands the app one in DATABRICKS_APP_PORT).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The levels `principal` (a user name or an application id) holds on the object of the
/// Permissions API path `api`, e.g. `/api/2.0/permissions/jobs/{id}`, in the order answered.
pub fn levels(emu: &Emulator, api: &str, principal: &str) -> Vec<String> {
    let (status, text) = http(emu, "GET", api, None);
    assert_eq!(status, 200, "{api}: {text}");
    let acl: Value = serde_json::from_str(&text).unwrap();
    acl["access_control_list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["user_name"] == principal || e["service_principal_name"] == principal)
        .flat_map(|e| e["all_permissions"].as_array().unwrap().clone())
        .map(|p| p["permission_level"].as_str().unwrap().to_string())
        .collect()
}
