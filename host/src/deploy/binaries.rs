//! Which release binaries `deploy` uploads: `sdp-agent-<arch>-unknown-linux-musl` for each
//! Databricks CPU, from `--dist` (default `./dist`) or next to the running binary, and the
//! running binary itself for its own CPU when nothing else covers it (Linux only: it is what
//! runs on the workspace's machines).

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
            check_elf(&path, arch, machine)?;
            found.push(Binary { arch, path });
        }
    }
    let own = ARCHES.iter().find(|(a, _)| *a == std::env::consts::ARCH);
    if cfg!(target_os = "linux")
        && let (Some((arch, _)), Some(exe)) = (own, exe)
        && !found.iter().any(|b| b.arch == *arch)
    {
        found.push(Binary { arch, path: exe });
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
/// cluster: it must be a 64-bit little-endian ELF for that machine.
fn check_elf(path: &Path, arch: &str, machine: u16) -> Result<(), Failure> {
    use std::io::Read;
    let mut head = [0u8; 20];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(|e| Failure::Config(format!("{}: cannot read: {e}", path.display())))?;
    let is_elf64_le = head[..4] == *b"\x7fELF" && head[4] == 2 && head[5] == 1;
    let found = u16::from_le_bytes([head[18], head[19]]);
    if is_elf64_le && found == machine {
        Ok(())
    } else {
        Err(Failure::Config(format!(
            "{}: not a 64-bit Linux binary for {arch} (ELF machine {found}, expected {machine})",
            path.display()
        )))
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
