//! Can a test get a kernel core dump here? Found out by trying, not by reading
//! `core_pattern`: a child shell raises RLIMIT_CORE, kills itself with SIGABRT in a
//! scratch folder, and the kernel's core must appear there. It does not when cores go
//! to a pipe (systemd-coredump, apport), when the hard limit is 0 and cannot be
//! raised, or when the pattern names another folder.

use std::process::Command;
use std::time::{Duration, Instant};

/// `Ok(())` when the kernel writes a core named `core*` into the crashing process's
/// folder; otherwise why not, for the test's skip message.
pub fn kernel_cores_in_cwd() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp folder: {e}"))?;
    let st = Command::new("sh")
        .arg("-c")
        .arg("ulimit -c unlimited 2>/dev/null || exit 3; kill -ABRT $$")
        .current_dir(dir.path())
        .status()
        .map_err(|e| format!("cannot run sh: {e}"))?;
    if st.code() == Some(3) {
        return Err("RLIMIT_CORE cannot be raised here (hard limit 0)".into());
    }
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        let found = std::fs::read_dir(dir.path())
            .map(|r| {
                r.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("core"))
            })
            .unwrap_or(false);
        if found {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    Err(format!(
        "a child killed by SIGABRT with RLIMIT_CORE unlimited left no core file in its folder \
         (kernel.core_pattern reads {:?})",
        pattern.trim()
    ))
}
