//! A real kernel core holding 512 MiB of ordinary data (text, pointers, small
//! integers, counters, doubles, records, random bytes, zeros) in shared memory, with
//! 16 locked mutexes planted at known places, made at test time by
//! `benches/make-core.sh` (the kernel's core, or gdb's gcore when the kernel
//! writes none here; skipped, saying why, when neither can be made): the analysis finds exactly the planted mutexes and
//! nothing else (the scan's plausibility test plus its owner check, see
//! docs/layouts.md#scan-plausibility). The same holds for the 1.1 GiB benchmark
//! core (docs/performance.md).

use std::path::PathBuf;
use std::process::Command;

use mutexdiag::analysis::{Options, analyze};
use mutexdiag::mutex::discover::ScanScope;

#[path = "support/skip.rs"]
mod skip;

#[test]
fn ordinary_data_gives_only_the_planted_mutexes() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tempdir");
    let core = dir.path().join("ordinary.core");
    let out = Command::new("bash")
        .arg(root.join("benches/make-core.sh"))
        .arg(&core)
        .args(["--mib", "512", "--mutexes", "16", "--seed", "11"])
        .env("MUTEXDIAG_BENCH_DIR", dir.path())
        .output()
        .expect("run benches/make-core.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(77) {
        skip::skip(
            "scan_ordinary::ordinary_data_gives_only_the_planted_mutexes",
            stderr.trim(),
        );
        return;
    }
    assert!(
        out.status.success(),
        "benches/make-core.sh failed: {stderr}"
    );
    eprintln!("{stderr}");
    let facts = std::fs::read_to_string(dir.path().join("ordinary.core.facts")).expect("facts");
    let mut planted: Vec<u64> = facts
        .lines()
        .filter_map(|l| l.strip_prefix("mutex 0x"))
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().next()?, 16).ok())
        .collect();
    planted.sort_unstable();
    assert_eq!(planted.len(), 16);
    for scan in [ScanScope::Shared, ScanScope::All] {
        let opts = Options {
            scan,
            sysroot: dir.path().join("no-sysroot"),
            ..Options::default()
        };
        let r = analyze(&core, &opts).expect("analysis");
        let mut found: Vec<u64> = r.mutexes.iter().map(|m| m.address.0).collect();
        found.sort_unstable();
        assert_eq!(found, planted, "{scan:?}: found {} mutexes", found.len());
    }
}
