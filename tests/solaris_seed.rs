//! The seed's crash reproduced on Linux (`fixtures/solaris-seed`): a Solaris-layout
//! USYNC_THREAD lock in SysV shared memory, owned by a non-main thread of another
//! process; the spinning process died reading owner + 0x128. Checked through the
//! real binary on the committed cores, and on fresh cores made by running the
//! fixture's program (cores that are not in the repository).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod support;

use support::kernel_core;
use support::root;
use support::sysroot;

fn fixture() -> PathBuf {
    root().join("fixtures/solaris-seed")
}

fn expand(dir: &Path, role: &str) -> PathBuf {
    support::expand(
        &fixture().join(format!("core.{role}.zst")),
        &dir.join(format!("{role}.core")),
    )
}

/// Analyse `core`: committed cores with the C library bundled in fixtures/sysroot,
/// fresh cores (`fresh`) with this machine's.
fn run(core: &Path, extra: &[&Path], fresh: bool) -> (i32, serde_json::Value) {
    let mut cmd = support::mutexdiag();
    cmd.arg(core).arg("--binary").arg(fixture().join("app"));
    if !fresh {
        cmd.arg("--sysroot").arg(sysroot::sysroot());
    }
    cmd.args(["--format", "json"]);
    for p in extra {
        cmd.arg("--peer").arg(p);
    }
    let out = cmd.output().expect("run mutexdiag");
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

fn json_file(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).expect("facts")).expect("facts json")
}

fn hex(v: &serde_json::Value) -> u64 {
    let s = v.as_str().expect("hex string");
    u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex")
}

/// Everything the verdict must say, checked against the facts the program wrote.
fn check_spinner(code: i32, v: &serde_json::Value, facts: &serde_json::Value, peer: bool) {
    let lock = hex(&facts["lock_address"]);
    let owner = hex(&facts["owner_pointer"]);
    let fault = hex(&facts["fault_address"]);
    assert_eq!(fault, owner + 0x128);
    assert_eq!(code, 1, "an error finding gives exit status 1");
    let errors: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    let codes: Vec<&str> = errors.iter().map(|f| f["code"].as_str().unwrap()).collect();
    assert_eq!(codes, vec!["owner-deref-crash"], "{v:#}");
    let f = errors[0];
    let msg = f["message"].as_str().unwrap();
    for want in [
        format!("{lock:#x}"),
        format!("{owner:#x}"),
        format!("{fault:#x}"),
        "key 0x6d75747e".to_string(),
        format!("thread {}", facts["crash_tid"]),
    ] {
        assert!(msg.contains(&want), "{want} not in {msg}");
    }
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("PTHREAD_PROCESS_SHARED")
    );
    let ev = f["evidence"].to_string();
    assert!(
        ev.contains("offsetof(ulwp_t, ul_schedctl) on amd64"),
        "{ev}"
    );
    assert!(ev.contains("SEGV_MAPERR"), "{ev}");
    let m = v["mutexes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| hex(&m["address"]) == lock)
        .expect("the lock is among the mutexes");
    assert_eq!(m["layout"], "solaris-amd64");
    assert_eq!(hex(&m["owner"]["pointer"]), owner);
    assert_eq!(m["owner"]["pointer_class"], "foreign-unmapped");
    assert_eq!(m["key"], "0x6d75747e");
    assert_eq!(m["found_by"][0], "magic");
    assert_eq!(m["state"], "locked");
    assert_eq!(m["pshared"], false);
    if peer {
        let note = m["owner"]["note"].as_str().unwrap();
        let want = format!(
            "thread {} of process {}",
            facts["owner_tid"], facts["owner_pid"]
        );
        assert!(note.contains(&want), "{note}");
    }
}

fn check_owner(code: i32, v: &serde_json::Value, facts: &serde_json::Value) {
    // The owner's own core: the lock is held by its own thread; no proof of the
    // other process, no crash: a warning, no error.
    assert_eq!(code, 0, "{v:#}");
    let lock = hex(&facts["lock_address"]);
    let m = v["mutexes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| hex(&m["address"]) == lock)
        .expect("the lock");
    assert_eq!(m["owner"]["class"], "own-thread");
    assert_eq!(m["owner"]["pointer_class"], "own-thread");
    let codes: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"private-mutex-in-shared-memory"),
        "{codes:?}"
    );
}

#[test]
fn committed_fixture_cores() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spinner = expand(dir.path(), "spinner");
    let owner = expand(dir.path(), "owner");
    let sf = json_file(&fixture().join("facts.spinner.json"));
    let of = json_file(&fixture().join("facts.owner.json"));
    let (code, v) = run(&spinner, &[], false);
    check_spinner(code, &v, &sf, false);
    let (code, v) = run(&spinner, &[&owner], false);
    check_spinner(code, &v, &sf, true);
    let (code, v) = run(&owner, &[], false);
    check_owner(code, &v, &of);
}

/// Kills the fixture program's processes whatever happens.
struct Reaper(Vec<i32>);
impl Drop for Reaper {
    fn drop(&mut self) {
        for &pid in &self.0 {
            // SAFETY: plain kill(2) on pids this test started.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

fn wait_for(p: &Path, secs: u64) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(secs) {
        if p.exists() && std::fs::metadata(p).is_ok_and(|m| m.len() > 0) {
            // Let the writer finish.
            std::thread::sleep(Duration::from_millis(300));
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A fresh reproduction: run the fixture's program, let the spinner crash, dump the
/// owner with SIGABRT, and analyse both new cores (other pids, other addresses).
#[test]
fn fresh_cores_from_the_fixture_program() {
    // The spinner's core is the kernel's, written when it crashes: gdb's gcore
    // cannot stand in for it (it would have to be attached before the crash).
    if let Err(why) = kernel_core::kernel_cores_in_cwd() {
        support::skip(
            "solaris_seed::fresh_cores_from_the_fixture_program",
            &format!("needs a kernel core of the crashing spinner: {why}"),
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let app = fixture().join("app");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -c unlimited && exec \"$0\"")
        .arg(&app)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run the fixture program");
    let mut reaper = Reaper(vec![child.id() as i32]);
    let spinner_core = dir.path().join("spinner/core");
    let owner_facts = dir.path().join("owner/facts.owner.json");
    assert!(
        wait_for(&spinner_core, 30) && wait_for(&owner_facts, 30),
        "the spinner did not crash with a core"
    );
    let of = json_file(&owner_facts);
    let owner_pid = of["pid"].as_i64().expect("pid") as i32;
    reaper.0.push(owner_pid);
    // SAFETY: kill(2) on the process this test started.
    unsafe {
        libc::kill(owner_pid, libc::SIGABRT);
    }
    let owner_core = dir.path().join("owner/core");
    assert!(wait_for(&owner_core, 30), "the owner did not dump");
    let _ = child.wait();
    // Remove the SysV segment the program created (key 0x6d75747e).
    // SAFETY: shmget/shmctl with a key and IPC_RMID, no pointers kept.
    unsafe {
        let id = libc::shmget(0x6d75747e, 0, 0);
        if id >= 0 {
            libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
        }
    }
    let sf = json_file(&dir.path().join("spinner/facts.spinner.json"));
    let (code, v) = run(&spinner_core, &[&owner_core], true);
    check_spinner(code, &v, &sf, true);
    let (code, v) = run(&owner_core, &[], true);
    check_owner(code, &v, &of);
}
