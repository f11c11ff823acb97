//! Which binaries `deploy` uploads and how: an App or Model Serving runs them on an image whose
//! C library is not ours, so a dynamically linked binary (an ELF with `PT_INTERP`) is refused
//! for them, pointing at `scripts/release`, before anything is sent; the job alone takes it.
//! Files API paths are percent-encoded, and the deployed launcher runs exactly the deployed
//! version's binary.

mod common;

use common::deploying;
use common::*;
use deploying::*;

fn assert_refused_as_dynamic(out: &Outcome) {
    assert_eq!(out.kind(), "config", "{}", out.json);
    let message = out.json["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("dynamically linked") && message.contains("scripts/release"),
        "{message}"
    );
}

#[test]
fn a_dynamically_linked_binary_is_refused_for_an_app_or_model_serving() {
    let emu = emulator_with_app_client();
    emu.put_secret("sdp-agent", "client-id", "endpoint-service-principal");
    emu.put_secret("sdp-agent", "client-secret", "endpoint-secret");
    let dynamic = dynamic_dist();
    for serve in ["app", "model-serving"] {
        let out = deploy(&emu, &dynamic.0, &["--serve", serve]);
        assert_refused_as_dynamic(&out);
    }
    let dir = TempDir::new("bundle-dynamic");
    let mut cmd = agent_command(&emu);
    cmd.args(["deploy", "--volume", VOLUME, "--dist"])
        .arg(&dynamic.0)
        .args(["--workspace-dir", "/Workspace/Shared/sdp-agent"])
        .arg("--bundle")
        .arg(dir.0.join("b"));
    assert_refused_as_dynamic(&finish(cmd));
    assert!(!dir.0.join("b").exists());
    let mut cmd = agent_command(&emu);
    cmd.args(["package-model"])
        .arg(dir.0.join("model"))
        .arg("--dist")
        .arg(&dynamic.0);
    assert_refused_as_dynamic(&finish(cmd));
    assert!(!dir.0.join("model").exists());
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());

    // The job alone runs it on the workspace's clusters: taken.
    deploy(&emu, &dynamic.0, &["--serve", "none"]).assert_ok();
    // A static build is taken for an app.
    let dist = dist();
    deploy(&emu, &dist.0, &[]).assert_ok();
}

#[test]
fn files_api_paths_are_percent_encoded() {
    let emu = emulator();
    let dist = dist();
    let mut cmd = agent_command(&emu);
    cmd.args([
        "deploy",
        "--serve",
        "none",
        "--volume",
        "main.tools.données",
        "--dist",
    ])
    .arg(&dist.0);
    let out = finish(cmd).assert_ok().clone();
    let uploaded = format!(
        "/Volumes/main/tools/données/{}/sdp-agent-x86_64",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(out["binaries"][0]["path"], uploaded);
    assert_eq!(
        emu.volume_file(&uploaded),
        Some(std::fs::read(release_binary(&dist)).unwrap())
    );
    let put = emu
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert!(put.path.contains("/donn%C3%A9es/"), "{}", put.path);
}

/// A stale `sdp-agent` left next to the deployed launcher (an older manual install) must not
/// run instead of the version deploy uploaded to the volume.
#[test]
fn the_deployed_launcher_runs_the_deployed_version_not_a_stale_binary() {
    let emu = emulator();
    let dist = dist();
    let deployed = deploy(&emu, &dist.0, &["--serve", "none"])
        .assert_ok()
        .clone();
    let cluster = TempDir::new("cluster-stale");
    // The cluster's view, with a stale binary beside the launcher.
    let launcher = cluster_view(&emu, &deployed, &cluster.0);
    let stale = "#!/bin/sh\necho 'stale binary ran' >&2\nexit 42\n";
    for name in ["sdp-agent", "sdp-agent-x86_64"] {
        let path = cluster.0.join(name);
        std::fs::write(&path, stale).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // Within deploy's default policy: the volume's catalog, under its root, the model's SQL.
    let payload = payload_within_policy(&deployed, "deployed_version");
    let encoded = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(payload.to_string())
    };
    let out = launch_on_cluster(&emu, &launcher, &encoded);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("stale binary ran"), "{stderr}");
    assert!(
        out.status.success(),
        "launcher ({}): {stderr}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(pipelines_named(&emu, "deployed_version").len(), 1);
}
