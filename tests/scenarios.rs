//! Every fixture scenario gives exactly the expected error findings (and the
//! expected warnings where the scenario is about one), through the real binary.
//! Negative controls (correct PTHREAD_PROCESS_SHARED use, ordinary contention in one
//! process, unlocked mutexes) must give no error finding and exit status 0.

use std::path::{Path, PathBuf};
use std::process::Command;

mod support;

use support::root;
use support::sysroot;

fn core_path(dir: &Path, scenario: &str, role: &str) -> PathBuf {
    support::expand(
        &support::fixture(&format!("{scenario}/core.{role}.zst")),
        &dir.join(format!("{scenario}.{role}.core")),
    )
}

fn analyze(dir: &Path, scenario: &str, role: &str) -> (i32, serde_json::Value) {
    let core = core_path(dir, scenario, role);
    let out = Command::new(env!("CARGO_BIN_EXE_mutexdiag"))
        .arg(&core)
        .arg("--binary")
        .arg(root().join(format!("fixtures/{scenario}/app")))
        .arg("--sysroot")
        .arg(sysroot::sysroot())
        .args(["--format", "json"])
        .output()
        .expect("run mutexdiag");
    let code = out.status.code().unwrap_or(-1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{scenario}/{role}: not JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, v)
}

fn codes(v: &serde_json::Value, severity: &str) -> Vec<String> {
    let mut c: Vec<String> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == severity)
        .map(|f| f["code"].as_str().expect("code").to_string())
        .collect();
    c.sort();
    c
}

/// (scenario, role, exact error codes, warning codes that must be present)
const EXPECTED: &[(&str, &str, &[&str], &[&str])] = &[
    (
        "sysv-private",
        "parent",
        &["cross-process-private-mutex"],
        &[],
    ),
    (
        "sysv-private",
        "child",
        &[],
        &["private-mutex-in-shared-memory"],
    ),
    (
        "memfd-private",
        "parent",
        &["cross-process-private-mutex"],
        &[],
    ),
    (
        "memfd-private",
        "child",
        &[],
        &["private-mutex-in-shared-memory"],
    ),
    (
        "anon-private",
        "parent",
        &["cross-process-private-mutex"],
        &[],
    ),
    (
        "anon-private",
        "child",
        &[],
        &["private-mutex-in-shared-memory"],
    ),
    (
        "posix-unlinked",
        "parent",
        &["cross-process-private-mutex"],
        &[],
    ),
    (
        "posix-unlinked",
        "child",
        &[],
        &["private-mutex-in-shared-memory"],
    ),
    (
        "posix-private",
        "parent",
        &["private-futex-on-shared-memory"],
        &["segment-not-dumped"],
    ),
    ("posix-private", "child", &[], &[]),
    (
        "i386-sysv-private",
        "parent",
        &["cross-process-private-mutex"],
        &[],
    ),
    (
        "i386-sysv-private",
        "child",
        &[],
        &["private-mutex-in-shared-memory"],
    ),
    (
        "musl-sysv-private",
        "parent",
        &["cross-process-private-mutex"],
        &[],
    ),
    (
        "musl-sysv-private",
        "child",
        &[],
        &["private-mutex-in-shared-memory"],
    ),
    (
        "lost-wakeup",
        "parent",
        &["cross-process-private-mutex"],
        &[],
    ),
    ("lost-wakeup", "child", &[], &[]),
    (
        "assert",
        "parent",
        &["cross-process-private-mutex", "mutex-assertion"],
        &[],
    ),
    ("abandoned", "main", &["abandoned-lock"], &[]),
    ("robust-dead", "main", &[], &["owner-died"]),
    ("robust-shm-died", "parent", &[], &["owner-died"]),
    ("static-glibc", "main", &[], &[]),
    ("static-glibc-stripped", "main", &[], &[]),
    ("self-deadlock", "main", &["self-deadlock"], &[]),
    ("abba", "main", &["deadlock-cycle"], &[]),
    ("cxx-ns-deadlock", "main", &["deadlock-cycle"], &[]),
    (
        "gcore-sysv-private",
        "parent",
        &["cross-process-private-mutex"],
        &[],
    ),
    (
        "gcore-sysv-private",
        "child",
        &[],
        &["private-mutex-in-shared-memory"],
    ),
    ("mutex-array", "main", &[], &[]),
    ("corrupt", "main", &[], &["corrupt-mutex"]),
    // Negative controls.
    ("pshared-ok", "parent", &[], &[]),
    ("pshared-ok", "child", &[], &[]),
    ("threads-contention", "main", &[], &[]),
    ("i386-threads-contention", "main", &[], &[]),
    ("kinds", "main", &[], &[]),
    ("segv", "main", &[], &[]),
];

#[test]
fn scenarios_give_exactly_the_expected_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for (scenario, role, errors, warnings) in EXPECTED {
        let (code, v) = analyze(dir.path(), scenario, role);
        let got = codes(&v, "error");
        let want: Vec<String> = errors.iter().map(|s| s.to_string()).collect();
        if got != want {
            failures.push(format!(
                "{scenario}/{role}: errors {got:?}, expected {want:?}"
            ));
        }
        let w = codes(&v, "warning");
        for x in *warnings {
            if !w.iter().any(|c| c == x) {
                failures.push(format!(
                    "{scenario}/{role}: warning {x} missing (got {w:?})"
                ));
            }
        }
        let want_code = if errors.is_empty() { 0 } else { 1 };
        if code != want_code {
            failures.push(format!(
                "{scenario}/{role}: exit {code}, expected {want_code}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn facts(scenario: &str, role: &str) -> serde_json::Value {
    let p = root().join(format!("fixtures/{scenario}/facts.{role}.json"));
    serde_json::from_slice(&std::fs::read(p).expect("facts")).expect("json")
}

fn hex(v: &serde_json::Value) -> u64 {
    let s = v.as_str().expect("hex string");
    u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex")
}

/// The seed's scenario in one command: the mutex, its segment and key, the foreign
/// owner TID, the blocked waiter and its private futex wait, and the fix.
#[test]
fn seed_scenario_names_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, v) = analyze(dir.path(), "sysv-private", "parent");
    assert_eq!(code, 1);
    let parent = facts("sysv-private", "parent");
    let child = facts("sysv-private", "child");
    let fm = &parent["mutexes"][0];
    let addr = hex(&fm["address"]);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "cross-process-private-mutex")
        .expect("finding");
    assert_eq!(hex(&f["mutexes"][0]), addr);
    let m = v["mutexes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| hex(&m["address"]) == addr)
        .expect("mutex in report");
    assert_eq!(m["mapping_kind"], "sysv-shm");
    assert_eq!(hex(&m["key"]), hex(&fm["sysv_key"]));
    assert_eq!(m["pshared"], false);
    assert_eq!(m["owner"]["class"], "foreign");
    let holder = child["holder_tid"].as_u64().expect("holder tid");
    assert_eq!(m["owner"]["tid"].as_u64(), Some(holder));
    let waiter = &parent["waiters"][0];
    assert_eq!(m["waiters"][0].as_u64(), waiter["tid"].as_u64());
    let t = v["threads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tid"] == waiter["tid"])
        .expect("waiter thread");
    assert_eq!(hex(&t["futex"]["address"]), hex(&waiter["futex_address"]));
    assert_eq!(t["futex"]["op"], "FUTEX_WAIT");
    assert_eq!(t["futex"]["private"], true);
    let msg = f["message"].as_str().unwrap();
    assert!(msg.contains(&holder.to_string()), "{msg}");
    assert!(msg.contains("0x6d757478"), "{msg}");
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("PTHREAD_PROCESS_SHARED")
    );
    // The text report leads with the verdict.
    let core = dir.path().join("sysv-private.parent.core");
    let out = Command::new(env!("CARGO_BIN_EXE_mutexdiag"))
        .arg(&core)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("ERROR cross-process-private-mutex"),
        "{text}"
    );
}

/// docs/findings.md documents every code with the same text `explain` prints.
#[test]
fn findings_doc_matches_the_code_table() {
    let doc = std::fs::read_to_string(root().join("docs/findings.md")).expect("docs/findings.md");
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let doc_n = norm(&doc);
    for c in mutexdiag::analysis::findings::CODES {
        assert!(
            doc.contains(&format!("## `{}`", c.code)),
            "no section for {}",
            c.code
        );
        assert!(
            doc_n.contains(&norm(c.explanation)),
            "{}: explanation differs",
            c.code
        );
        assert!(doc_n.contains(&norm(c.fix)), "{}: fix differs", c.code);
    }
}

/// With the other process's core given as a peer, the foreign owner is named as a
/// thread of the child process.
#[test]
fn peer_core_names_the_foreign_owner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let parent = core_path(dir.path(), "sysv-private", "parent");
    let child = core_path(dir.path(), "sysv-private", "child");
    let out = Command::new(env!("CARGO_BIN_EXE_mutexdiag"))
        .arg(&parent)
        .arg("--peer")
        .arg(&child)
        .args(["--format", "json"])
        .output()
        .expect("run");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let child_facts = facts("sysv-private", "child");
    let note = v["mutexes"][0]["owner"]["note"].as_str().expect("note");
    let pid = child_facts["pid"].as_u64().expect("pid");
    assert!(
        note.contains(&format!("of process {pid}, a child of this process")),
        "{note}"
    );
}

/// `--binary` of another program: a binary-mismatch warning naming both build-ids,
/// and the right binary never gives one.
#[test]
fn wrong_binary_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let core = core_path(dir.path(), "sysv-private", "parent");
    let run = |bin: &str| -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_mutexdiag"))
            .arg(&core)
            .arg("--binary")
            .arg(root().join(bin))
            .arg("--sysroot")
            .arg(sysroot::sysroot())
            .args(["--format", "json"])
            .output()
            .expect("run");
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let wrong = run("fixtures/kinds/app");
    let f = wrong["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "binary-mismatch")
        .expect("binary-mismatch finding");
    assert_eq!(f["severity"], "warning");
    assert!(f["evidence"][0].as_str().unwrap().contains("build-id"));
    // The verdict on the mutex does not depend on the binary.
    assert_eq!(codes(&wrong, "error"), vec!["cross-process-private-mutex"]);
    let right = run("fixtures/sysv-private/app");
    assert!(!codes(&right, "warning").contains(&"binary-mismatch".to_string()));
}
