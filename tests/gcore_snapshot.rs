//! A core written by gdb's `gcore` is a snapshot of a live process: no fatal signal,
//! no crashed thread, and the report says a debugger wrote it. Made at test time:
//! `gcore` of a running `sleep`. Skipped, with a message, without gdb or when gdb
//! cannot attach (ptrace restrictions).

use std::process::{Command, Stdio};

use mutexdiag::coredump::Core;

#[test]
fn gcore_is_a_snapshot() {
    if Command::new("gdb").arg("--version").output().is_err() {
        eprintln!("SKIPPED: gdb not installed: gcore snapshot not checked");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new("sleep")
        .arg("30")
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn sleep");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let core = dir.path().join("core");
    let out = Command::new("gdb")
        .args(["-nx", "-batch", "-iex", "set debuginfod enabled off", "-p"])
        .arg(child.id().to_string())
        .arg("-ex")
        .arg(format!("gcore {}", core.display()))
        .output()
        .expect("run gdb");
    let _ = child.kill();
    let _ = child.wait();
    if !core.exists() {
        eprintln!(
            "SKIPPED: gdb could not write a core (ptrace?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let data = std::fs::read(&core).expect("read core");
    let c = Core::parse(&data).expect("parse");
    assert!(c.debugger_snapshot, "not recognised as a gcore snapshot");
    assert!(c.crashed_thread().is_none());
    assert!(c.signal().is_none());
    assert!(c.warnings.iter().any(|w| w.code == "debugger-snapshot"));
    // Through the CLI: no signal, no crashed thread.
    let out = Command::new(env!("CARGO_BIN_EXE_mutexdiag"))
        .arg("threads")
        .arg(&core)
        .args(["--format", "json"])
        .output()
        .expect("run mutexdiag");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let crashed = v["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .filter(|t| t["crashed"] == true)
        .count();
    assert_eq!(crashed, 0, "{v}");
    assert!(v["process"]["signal"].is_null(), "{}", v["process"]);
    assert!(
        v["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .any(|w| w["code"] == "debugger-snapshot"),
        "{}",
        v["warnings"]
    );
}
