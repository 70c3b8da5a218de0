//! The C library the fixture cores were made with, bundled in `fixtures/sysroot/`
//! (made by `fixtures/make-sysroot.sh`: libc.so.6 and the dynamic loader, x86_64
//! and i386, and the x86_64 debug files, byte for byte, each zstd-compressed, listed
//! with build-id, size and SHA-256 in `MANIFEST`, with the merged-/usr symlinks). Tests pass the expanded folder as `--sysroot`, so they
//! do not depend on this machine's libc build or on libc6-dbg.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn bundle() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/sysroot")
}

/// The folder holding the expanded bundle (a sysroot: `usr/lib/x86_64-linux-gnu/...`,
/// `usr/lib/debug/.build-id/...`). Expanded once per manifest under the target
/// folder (shared by every test binary); each file is checked against its size from
/// the manifest (the tests check build-ids against the cores; `sha256sum` checks the
/// manifest's digests by hand).
pub fn sysroot() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let manifest = std::fs::read_to_string(bundle().join("MANIFEST"))
            .expect("fixtures/sysroot/MANIFEST (made by fixtures/make-sysroot.sh)");
        let tag = {
            // A short tag of the manifest: a new bundle expands into a new folder.
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            manifest.hash(&mut h);
            format!("{:016x}", h.finish())
        };
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let dir = base.join(format!("fixture-sysroot-{tag}"));
        if dir.join("MANIFEST").is_file() {
            return dir;
        }
        let tmp = tempfile::Builder::new()
            .prefix("fixture-sysroot-")
            .tempdir_in(&base)
            .expect("temp folder under CARGO_TARGET_TMPDIR");
        for line in manifest.lines().filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if let ["symlink", link, target] = f[..] {
                let at = tmp.path().join(link.trim_start_matches('/'));
                std::fs::create_dir_all(at.parent().expect("parent")).expect("mkdir");
                std::os::unix::fs::symlink(target, &at).expect("symlink");
                continue;
            }
            assert_eq!(f.len(), 4, "MANIFEST line {line:?}");
            let rel = f[0].trim_start_matches('/');
            let src = bundle().join(format!("{rel}.zst"));
            let data = std::fs::read(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
            let raw =
                zstd::decode_all(&data[..]).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
            assert_eq!(raw.len().to_string(), f[2], "{}: size", src.display());
            let out = tmp.path().join(rel);
            std::fs::create_dir_all(out.parent().expect("parent")).expect("mkdir");
            std::fs::write(&out, raw).expect("write sysroot file");
        }
        std::fs::write(tmp.path().join("MANIFEST"), &manifest).expect("write MANIFEST");
        let kept = tmp.keep();
        // Another test binary may have finished first: then use its folder.
        if std::fs::rename(&kept, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&kept);
            assert!(dir.join("MANIFEST").is_file(), "{}", dir.display());
        }
        dir
    })
}

/// The bundled debug-file folder (`<sysroot>/usr/lib/debug`).
pub fn debug_dir() -> PathBuf {
    sysroot().join("usr/lib/debug")
}
