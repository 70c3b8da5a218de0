//! `mutexdiag triage` end to end, through the binary, on an archive built at test
//! time from the fixture cores in every shape (tests/support/archive.rs): every
//! record, the analysis of each core against `mutexdiag CORE`, buckets (same bug in
//! several inputs and runs, different bugs apart), incidents (a parent core and its
//! owner's core), and the faults a batch must survive.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use mutexdiag::triage::model::{CoreRecord, Status, TriageDoc};
use support::archive::{self, Want};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mutexdiag")
}

use support::root as manifest;

fn triage(cwd: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut c = Command::new(bin());
    c.current_dir(cwd).arg("triage").args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run mutexdiag triage")
}

fn doc(o: &Output) -> TriageDoc {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not a triage document ({e}); stderr: {}",
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// `mutexdiag CORE --format json` of a fixture core: (code, severity, mutexes) of
/// each finding.
fn single(scenario: &str, role: &str, with_binary: bool) -> Vec<(String, String, Vec<String>)> {
    let dir = manifest().join("fixtures").join(scenario);
    let mut c = Command::new(bin());
    c.arg(dir.join(format!("core.{role}.zst")))
        .args(["--format", "json"]);
    if with_binary {
        c.arg("--binary").arg(dir.join("app"));
    }
    let o = c.output().expect("run mutexdiag");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("report JSON");
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap_or_default().to_string(),
                f["severity"].as_str().unwrap_or_default().to_string(),
                f["mutexes"]
                    .as_array()
                    .map(|m| {
                        m.iter()
                            .map(|x| x.as_str().unwrap_or_default().to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        })
        .collect()
}

fn sev(s: mutexdiag::triage::model::Severity) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[test]
fn an_archive_in_every_shape() {
    let b = archive::build();
    let cwd = b.root.parent().expect("archive parent").to_path_buf();
    let fixtures = manifest().join("fixtures");
    let o = triage(
        &cwd,
        &[
            "archive",
            "--format",
            "json",
            "-j",
            "2",
            "--binary-dir",
            fixtures.to_str().expect("utf-8 path"),
        ],
        &[],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "error findings → exit 1; stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let d = doc(&o);
    let by_id: BTreeMap<&str, &CoreRecord> = d.cores.iter().map(|r| (r.id.as_str(), r)).collect();

    // One record per input, nothing else; counts add up.
    let want_ids: BTreeSet<String> = b
        .expected
        .iter()
        .map(|e| format!("archive/{}", e.id))
        .collect();
    let got_ids: BTreeSet<String> = d.cores.iter().map(|r| r.id.clone()).collect();
    assert_eq!(got_ids, want_ids);
    let s = &d.summary;
    assert_eq!(s.inputs, d.cores.len() as u64);
    assert_eq!(s.analysed + s.failed + s.skipped, s.inputs);
    assert_eq!(s.cached, 0);
    assert_eq!(s.buckets, d.buckets.len() as u64);
    assert_eq!(s.incidents, d.incidents.len() as u64);

    // Every record as the archive says, every analysis as `mutexdiag CORE`.
    let mut singles = BTreeMap::new();
    for e in &b.expected {
        let id = format!("archive/{}", e.id);
        let r = by_id[id.as_str()];
        assert_eq!(
            serde_json::to_value(r.source).ok(),
            serde_json::to_value(e.source).ok(),
            "{id}: source"
        );
        match (&e.want, &e.expand_error) {
            (Want::Core, Some(err)) => {
                assert_eq!(r.status, Status::Failed, "{id}");
                let reason = r.reason.as_deref().unwrap_or_default();
                assert!(reason.contains(err.as_str()), "{id}: {reason}");
            }
            (Want::Core, None) => {
                assert_eq!(r.status, Status::Analysed, "{id}: {:?}", r.reason);
                assert_eq!(r.timestamp, e.meta.timestamp, "{id}: timestamp");
                let (sc, role) = e.fixture.as_ref().expect("a core has its fixture");
                let with_binary = r.binary.is_some();
                let want = singles
                    .entry((sc.clone(), role.clone(), with_binary))
                    .or_insert_with(|| single(sc, role, with_binary))
                    .clone();
                let got: Vec<(String, String, Vec<String>)> = r
                    .findings
                    .iter()
                    .map(|f| (f.code.clone(), sev(f.severity), f.mutexes.clone()))
                    .collect();
                assert_eq!(got, want, "{id}: findings as `mutexdiag CORE` gives them");
                assert!(r.signature.is_some() && r.bucket.is_some(), "{id}");
                // The fixtures' executables are found (by build-id) for the glibc
                // cores; the musl ones record none.
                if sc != "musl-sysv-private" {
                    let how = r.binary.as_deref().unwrap_or("(none)");
                    assert!(how.contains("build-id matches"), "{id}: binary {how}");
                }
            }
            (Want::Elf { .. }, _) => {
                assert_eq!(r.status, Status::Skipped, "{id}");
                assert!(
                    r.reason
                        .as_deref()
                        .unwrap_or_default()
                        .starts_with("ELF file, not a core"),
                    "{id}: {:?}",
                    r.reason
                );
            }
            (Want::Skip(why), _) => {
                assert_eq!(r.status, Status::Skipped, "{id}");
                assert_eq!(r.reason.as_deref(), Some(why.as_str()), "{id}");
            }
            (Want::Fail(why), _) => {
                assert_eq!(r.status, Status::Failed, "{id}");
                let reason = r.reason.as_deref().unwrap_or_default();
                assert!(reason.contains(why.as_str()), "{id}: {reason}");
            }
        }
    }

    // Buckets: one bug, one bucket, whatever shape and run the core came in;
    // different bugs apart.
    let bucket_of = |sc: &str, role: &str| -> BTreeSet<String> {
        b.expected
            .iter()
            .filter(|e| {
                e.fixture
                    .as_ref()
                    .is_some_and(|(s, r)| s == sc && r == role)
            })
            // A core cut short has lost its stacks: its signature says less.
            .filter(|e| !e.id.contains("truncated"))
            .filter_map(|e| by_id[format!("archive/{}", e.id).as_str()].bucket.clone())
            .collect()
    };
    let sysv = bucket_of("sysv-private", "parent");
    assert_eq!(
        sysv.len(),
        1,
        "every copy of the seed core in one bucket: {sysv:?}"
    );
    for (sc, role) in [
        ("anon-private", "parent"),
        ("memfd-private", "parent"),
        ("posix-private", "parent"),
        ("abandoned", "main"),
        ("self-deadlock", "main"),
        ("segv", "main"),
    ] {
        let other = bucket_of(sc, role);
        assert_eq!(other.len(), 1, "{sc}/{role}: {other:?}");
        assert!(
            other.is_disjoint(&sysv),
            "{sc}/{role} is another bug than the seed"
        );
    }
    let cut = by_id["archive/junk/truncated.core"];
    assert_eq!(cut.status, Status::Analysed);
    assert!(
        cut.warnings.iter().any(|w| w.contains("truncat")),
        "{:?}",
        cut.warnings
    );
    let buckets: BTreeSet<&str> = d.buckets.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(buckets.len(), d.buckets.len(), "bucket ids are unique");
    for bk in &d.buckets {
        assert_eq!(bk.count, bk.cores.len() as u64);
        assert!(bk.cores.contains(&bk.example.core));
        for c in &bk.cores {
            assert_eq!(by_id[c.as_str()].bucket.as_deref(), Some(bk.id.as_str()));
        }
    }
    let seed = d
        .buckets
        .iter()
        .find(|x| sysv.contains(&x.id))
        .expect("seed bucket");
    assert_eq!(seed.code.as_deref(), Some("cross-process-private-mutex"));
    assert!(
        seed.example
            .fix
            .as_deref()
            .unwrap_or_default()
            .contains("PTHREAD_PROCESS_SHARED")
    );
    assert!(!seed.example.evidence.is_empty());
    // Sorted by count.
    assert!(d.buckets.windows(2).all(|w| w[0].count >= w[1].count));

    // Incidents: the seed's parent and child, as systemd-coredump files of one
    // boot, and as members of one tar bundle; nothing else.
    let mut incidents: Vec<Vec<String>> = d.incidents.iter().map(|i| i.cores.clone()).collect();
    incidents.sort();
    let member = |fx: (&str, &str), group_prefix: &str| -> String {
        let e = b
            .expected
            .iter()
            .find(|e| {
                e.fixture
                    .as_ref()
                    .is_some_and(|(s, r)| s == fx.0 && r == fx.1)
                    && e.id.starts_with(group_prefix)
            })
            .unwrap_or_else(|| panic!("{fx:?} under {group_prefix}"));
        format!("archive/{}", e.id)
    };
    let mut want = vec![
        {
            let mut v = vec![
                member(("sysv-private", "parent"), "systemd/"),
                member(("sysv-private", "child"), "systemd/"),
            ];
            v.sort();
            v
        },
        {
            let mut v = vec![
                member(("sysv-private", "parent"), "bundles/incident-42"),
                member(("sysv-private", "child"), "bundles/incident-42"),
            ];
            v.sort();
            v
        },
    ];
    want.sort();
    assert_eq!(incidents, want);
    for inc in &d.incidents {
        assert!(inc.why.contains("sysv:0x6d757478"), "{}", inc.why);
        let (a, c) = (&inc.cores[0], &inc.cores[1]);
        assert_eq!(by_id[a.as_str()].peers, vec![c.clone()]);
        assert_eq!(by_id[c.as_str()].peers, vec![a.clone()]);
        // The waiter's finding names the owner's core.
        let parent = if a.contains("17278") || by_id[a.as_str()].pid == Some(17278) {
            a
        } else {
            c
        };
        let child = if parent == a { c } else { a };
        let f = &by_id[parent.as_str()].findings[0];
        assert_eq!(f.code, "cross-process-private-mutex");
        assert_eq!(f.owner_core.as_deref(), Some(child.as_str()));
    }
}

fn plain_core(scenario: &str, role: &str) -> Vec<u8> {
    archive::fixture_core(scenario, role)
}

#[test]
fn faults_cost_only_their_core() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("in");
    let hook = tmp.path().join("hook");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::create_dir_all(&hook).expect("mkdir");
    let seed = plain_core("sysv-private", "parent");
    for name in [
        "a-ok.core",
        "b-truncated.core",
        "c-panic.core",
        "d-hang.core",
        "e-ok.core",
    ] {
        std::fs::write(dir.join(name), &seed).expect("write core");
    }
    std::fs::copy(
        manifest().join("fixtures/sysv-private/app"),
        dir.join("app"),
    )
    .expect("copy app");
    let spec = format!(
        "hold:b-truncated:{},panic:c-panic,hang:d-hang",
        hook.display()
    );
    let child = Command::new(bin())
        .current_dir(tmp.path())
        .args([
            "triage",
            "in",
            "--format",
            "json",
            "-j",
            "2",
            "--timeout",
            "5",
        ])
        .env("MUTEXDIAG_TRIAGE_TEST_HOOK", spec)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn triage");
    // The worker has mapped b-truncated.core and waits: truncate it under it.
    let mut ready = false;
    for _ in 0..6000 {
        if hook.join("ready").exists() {
            ready = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(ready, "the worker never reached the hold hook");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("b-truncated.core"))
        .expect("open");
    f.set_len(4096).expect("truncate");
    drop(f);
    std::fs::write(hook.join("go"), b"").expect("go");
    let o = child.wait_with_output().expect("wait");
    let d = doc(&o);
    let by: BTreeMap<&str, &CoreRecord> = d.cores.iter().map(|r| (r.id.as_str(), r)).collect();
    let reason = |id: &str| by[id].reason.clone().unwrap_or_default();
    assert_eq!(by["in/b-truncated.core"].status, Status::Failed);
    assert!(
        reason("in/b-truncated.core").contains("shrank")
            || reason("in/b-truncated.core").contains("SIGBUS"),
        "{}",
        reason("in/b-truncated.core")
    );
    assert_eq!(by["in/c-panic.core"].status, Status::Failed);
    assert!(
        reason("in/c-panic.core").contains("panicked"),
        "{}",
        reason("in/c-panic.core")
    );
    assert_eq!(by["in/d-hang.core"].status, Status::Failed);
    assert!(
        reason("in/d-hang.core").contains("--timeout"),
        "{}",
        reason("in/d-hang.core")
    );
    for ok in ["in/a-ok.core", "in/e-ok.core"] {
        let r = by[ok];
        assert_eq!(r.status, Status::Analysed, "{ok}: {:?}", r.reason);
        assert_eq!(r.findings[0].code, "cross-process-private-mutex", "{ok}");
        assert!(
            r.binary
                .as_deref()
                .unwrap_or_default()
                .contains("build-id matches")
        );
    }
    assert_eq!(by["in/app"].status, Status::Skipped);
    assert!(
        reason("in/app").contains("used as the executable of 2 core(s)"),
        "{}",
        reason("in/app")
    );
    assert_eq!(d.summary.analysed, 2);
    assert_eq!(d.summary.failed, 3);
    // Both OK cores are one bug.
    assert_eq!(d.buckets.len(), 1);
    assert_eq!(d.buckets[0].count, 2);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn jsonl_streams_one_record_per_input_with_the_report() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("in");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy(
        manifest().join("fixtures/segv/core.main.zst"),
        dir.join("core.zst"),
    )
    .expect("copy");
    std::fs::write(dir.join("notes.txt"), b"hello\n").expect("write");
    let o = triage(tmp.path(), &["in", "--format", "jsonl"], &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lines: Vec<CoreRecord> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record per line"))
        .collect();
    assert_eq!(lines.len(), 2);
    let core = lines
        .iter()
        .find(|r| r.id == "in/core.zst")
        .expect("core record");
    assert_eq!(core.status, Status::Analysed);
    let report = core.report.as_ref().expect("jsonl carries the report");
    assert_eq!(report["core"]["path"], "in/core.zst");
    assert!(
        core.signature
            .as_deref()
            .unwrap_or_default()
            .starts_with("signal:SIGSEGV")
    );
    assert!(core.example.is_some());
    let txt = lines
        .iter()
        .find(|r| r.id == "in/notes.txt")
        .expect("text record");
    assert_eq!(txt.status, Status::Skipped);
}

#[test]
fn nothing_readable_is_exit_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = triage(tmp.path(), &["does-not-exist"], &[]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = triage(tmp.path(), &["x", "--shard", "4/4"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--shard"));
}
