//! Which release binaries `deploy` uploads: `sdp-agent-<arch>-unknown-linux-musl` for each
//! Databricks CPU, from `--dist` (default `./dist`) or next to the running binary, and the
//! running binary itself for its own CPU when nothing else covers it (Linux only: it is what
//! runs on the workspace's machines). Each is checked to be an ELF executable for its CPU;
//! what an App or Model Serving runs must also be statically linked (`require_static`).

use super::elf;
use crate::outcome::Failure;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// CPU names as `platform.machine()` reports them on Databricks, with their ELF `e_machine`.
pub const ARCHES: [(&str, u16); 2] = [("x86_64", 62), ("aarch64", 183)];

/// One binary to upload.
#[derive(Clone, Debug)]
pub struct Binary {
    pub arch: &'static str,
    pub path: PathBuf,
    /// The dynamic loader it asks for (`PT_INTERP`); None when statically linked.
    pub interpreter: Option<String>,
}

impl Binary {
    /// Its name in the volume, which the launchers look for: `sdp-agent-<arch>`.
    pub fn volume_name(&self) -> String {
        format!("sdp-agent-{}", self.arch)
    }

    /// Its bytes; a failure names the file.
    pub fn read(&self) -> Result<Vec<u8>, Failure> {
        std::fs::read(&self.path)
            .map_err(|e| Failure::Config(format!("{}: cannot read: {e}", self.path.display())))
    }

    /// Its path under `volume_path`, and the entry that lists it in deploy's result (`bytes`,
    /// its content, gives the size and checksum).
    pub fn listing(&self, volume_path: &str, bytes: &[u8]) -> (String, Value) {
        let target = format!("{volume_path}/{}", self.volume_name());
        let entry = json!({
            "arch": self.arch,
            "path": target,
            "source": self.path.display().to_string(),
            "bytes": bytes.len(),
            "sha256": super::rest::sha256_hex(bytes),
        });
        (target, entry)
    }
}

/// The file name `scripts/release` gives the static build for `arch`.
pub fn release_name(arch: &str) -> String {
    format!("sdp-agent-{arch}-unknown-linux-musl")
}

/// The binaries to upload, at most one per CPU; an error when there is none.
pub fn find(dist: Option<&Path>) -> Result<Vec<Binary>, Failure> {
    if let Some(dir) = dist
        && !dir.is_dir()
    {
        return Err(Failure::Config(format!(
            "--dist {}: not a directory",
            dir.display()
        )));
    }
    let exe = std::env::current_exe().ok();
    let mut dirs: Vec<PathBuf> =
        vec![dist.map_or_else(|| PathBuf::from("dist"), Path::to_path_buf)];
    if let Some(dir) = exe.as_deref().and_then(Path::parent) {
        dirs.push(dir.to_path_buf());
    }
    let mut found = Vec::new();
    for (arch, machine) in ARCHES {
        let candidate = dirs
            .iter()
            .map(|d| d.join(release_name(arch)))
            .find(|p| p.is_file());
        if let Some(path) = candidate {
            found.push(inspect(path, arch, machine)?);
        }
    }
    let own = ARCHES.iter().find(|(a, _)| *a == std::env::consts::ARCH);
    if cfg!(target_os = "linux")
        && let (Some((arch, machine)), Some(exe)) = (own, exe)
        && !found.iter().any(|b| b.arch == *arch)
    {
        found.push(inspect(exe, arch, *machine)?);
    }
    if found.is_empty() {
        return Err(Failure::Config(format!(
            "no Linux binary to upload: build them with scripts/release (they land in dist/ as {} and {}) or pass --dist DIR",
            release_name("x86_64"),
            release_name("aarch64")
        )));
    }
    Ok(found)
}

/// A binary that would not run on the CPU it is uploaded for is refused here, not on a
/// cluster: it must be a 64-bit little-endian ELF executable for that machine.
fn inspect(path: PathBuf, arch: &'static str, machine: u16) -> Result<Binary, Failure> {
    let bytes = std::fs::read(&path)
        .map_err(|e| Failure::Config(format!("{}: cannot read: {e}", path.display())))?;
    let found = elf::inspect(&bytes)
        .map_err(|why| Failure::Config(format!("{}: {why}", path.display())))?;
    if found.machine != machine {
        return Err(Failure::Config(format!(
            "{}: not a 64-bit Linux binary for {arch} (ELF machine {}, expected {machine})",
            path.display(),
            found.machine
        )));
    }
    Ok(Binary {
        arch,
        path,
        interpreter: found.interpreter,
    })
}

/// What an App or Model Serving runs must be statically linked: their images' C library
/// (Apps: Ubuntu 22.04, glibc 2.35) is not the one a local build linked against, and a
/// mismatch fails only when the app or endpoint starts. `for_what` names who runs it.
pub fn require_static(found: &[Binary], for_what: &str) -> Result<(), Failure> {
    match found.iter().find(|b| b.interpreter.is_some()) {
        None => Ok(()),
        Some(b) => Err(Failure::Config(format!(
            "{}: dynamically linked (it needs {}), but {for_what} runs it on an image whose C library is not ours to choose: build static binaries with scripts/release (dist/{}) or pass --dist DIR",
            b.path.display(),
            b.interpreter.as_deref().unwrap_or_default(),
            release_name(b.arch),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_of_the_wrong_cpu_is_refused() {
        let dir = std::env::temp_dir().join(format!("sdp-agent-bins-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let own = std::env::current_exe().unwrap();
        // This test binary is an x86_64 (or aarch64) ELF: named for the other CPU, it is refused.
        let other = ARCHES
            .iter()
            .find(|(a, _)| *a != std::env::consts::ARCH)
            .unwrap()
            .0;
        std::fs::copy(&own, dir.join(release_name(other))).unwrap();
        let err = find(Some(&dir)).unwrap_err();
        assert!(err.message().contains(other), "{}", err.message());
        std::fs::remove_dir_all(&dir).unwrap();

        let missing = find(Some(Path::new("/nonexistent/dist"))).unwrap_err();
        assert!(
            missing.message().contains("--dist"),
            "{}",
            missing.message()
        );
    }
}
