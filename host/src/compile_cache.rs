//! On-disk cache of compiled components: Cranelift takes seconds, loading a cached artifact
//! takes milliseconds. Best effort: any cache problem just means compiling again.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::Engine;

/// `$XDG_CACHE_HOME/sdp-agent`, else `~/.cache/sdp-agent`, else a directory under the temp dir.
pub fn cache_dir() -> PathBuf {
    let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(xdg) = non_empty("XDG_CACHE_HOME") {
        return PathBuf::from(xdg).join("sdp-agent");
    }
    if let Some(home) = non_empty("HOME") {
        return PathBuf::from(home).join(".cache").join("sdp-agent");
    }
    std::env::temp_dir().join("sdp-agent-cache")
}

/// File name for `wasm` compiled by `engine`: changes with the component bytes and with
/// anything about the engine (wasmtime version, target, settings) that affects compatibility.
pub fn cache_file_name(wasm: &[u8], engine: &Engine) -> String {
    let wasm_hash = hex(&Sha256::digest(wasm));
    let mut engine_hash = Sha256Hasher(Sha256::new());
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let engine_hash = hex(&engine_hash.0.finalize());
    format!("{}-{}.cwasm", wasm_hash, &engine_hash[..16])
}

/// Writes `bytes` so that readers see either nothing or the whole file: a torn artifact would
/// be mapped as code.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(
        ".{}.{}.{nanos}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("cache"),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Feeds `Hash` output into SHA-256, so the key is stable across runs (unlike `DefaultHasher`
/// seeds, which the standard library may change).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        // Only the full digest is used.
        0
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_name_depends_on_bytes_and_is_stable() {
        let engine = Engine::default();
        let a = cache_file_name(b"\0asm-a", &engine);
        assert_eq!(a, cache_file_name(b"\0asm-a", &engine));
        assert_ne!(a, cache_file_name(b"\0asm-b", &engine));
        assert!(a.ends_with(".cwasm"));
        assert_eq!(a.len(), 64 + 1 + 16 + ".cwasm".len());
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = std::env::temp_dir().join(format!("sdp-agent-cache-test-{}", std::process::id()));
        let path = dir.join("x.cwasm");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
