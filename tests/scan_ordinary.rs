//! Real kernel cores holding ordinary data (text, pointers, small integers,
//! counters, doubles, records, random bytes, zeros), with locked mutexes planted at
//! known places, made at test time by `benches/make-core.sh`: the analysis finds
//! exactly the planted mutexes and nothing else (the scan's plausibility test plus
//! its owner check, see docs/layouts.md#scan-plausibility).
//!
//! One 512 MiB core in shared memory (seed 11), then a sweep of 50 seeds of 64 MiB
//! each, alternately in shared and in private memory, so that the result cannot
//! hang on one seed's luck or on this run's thread ids (which decide what the owner
//! check accepts, and change from run to run).

use std::path::{Path, PathBuf};
use std::process::Command;

use mutexdiag::ScanScope;
use mutexdiag::analysis::{Options, analyze};

mod support;

fn make_core(dir: &Path, name: &str, args: &[&str]) -> Option<(PathBuf, Vec<u64>)> {
    let root = support::root();
    let core = dir.join(name);
    let out = Command::new("bash")
        .arg(root.join("benches/make-core.sh"))
        .arg(&core)
        .args(args)
        .env("MUTEXDIAG_BENCH_DIR", dir)
        .output()
        .expect("run benches/make-core.sh");
    if out.status.code() == Some(77) {
        // No kernel core and no gcore here: say why, and check nothing.
        support::skip("scan_ordinary", String::from_utf8_lossy(&out.stderr).trim());
        return None;
    }
    assert!(
        out.status.success(),
        "benches/make-core.sh {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let facts = std::fs::read_to_string(dir.join(format!("{name}.facts"))).expect("facts");
    let mut planted: Vec<u64> = facts
        .lines()
        .filter_map(|l| l.strip_prefix("mutex 0x"))
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().next()?, 16).ok())
        .collect();
    planted.sort_unstable();
    Some((core, planted))
}

/// The mutexes the analysis reports for one scan scope, sorted.
fn found(dir: &Path, core: &Path, scan: ScanScope) -> Vec<u64> {
    let opts = Options {
        scan,
        sysroot: dir.join("no-sysroot"),
        ..Options::default()
    };
    let r = analyze(core, &opts).expect("analysis");
    let mut found: Vec<u64> = r.mutexes.iter().map(|m| m.address.0).collect();
    found.sort_unstable();
    found
}

#[test]
fn ordinary_data_gives_only_the_planted_mutexes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((core, planted)) = make_core(
        dir.path(),
        "ordinary.core",
        &["--mib", "512", "--mutexes", "16", "--seed", "11"],
    ) else {
        return;
    };
    assert_eq!(planted.len(), 16);
    for scan in [ScanScope::Shared, ScanScope::All] {
        let f = found(dir.path(), &core, scan);
        assert_eq!(f, planted, "{scan:?}: found {} mutexes", f.len());
    }
}

#[test]
fn fifty_seeds_give_no_false_positive() {
    const SEEDS: u64 = 50;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut false_positives = Vec::new();
    let mut missed = Vec::new();
    let mut mib = 0u64;
    for seed in 1..=SEEDS {
        let private = seed % 2 == 0;
        let seed_s = (1000 + seed).to_string();
        let mut args = vec!["--mib", "64", "--mutexes", "8", "--seed", &seed_s];
        if private {
            args.push("--private");
        }
        let Some((core, planted)) = make_core(dir.path(), "sweep.core", &args) else {
            return;
        };
        assert_eq!(planted.len(), 8);
        let scopes: &[ScanScope] = if private {
            &[ScanScope::All]
        } else {
            &[ScanScope::Shared, ScanScope::All]
        };
        for &scan in scopes {
            let f = found(dir.path(), &core, scan);
            for a in f.iter().filter(|a| !planted.contains(a)) {
                false_positives.push(format!("seed {seed_s} {scan:?}: {a:#x}"));
            }
            for a in planted.iter().filter(|a| !f.contains(a)) {
                missed.push(format!("seed {seed_s} {scan:?}: {a:#x}"));
            }
        }
        mib += 64;
        std::fs::remove_file(&core).expect("remove core");
        std::fs::remove_file(dir.path().join("sweep.core.facts")).expect("remove facts");
    }
    eprintln!(
        "{SEEDS} seeds, {mib} MiB of ordinary data: {} false positives, {} planted mutexes missed",
        false_positives.len(),
        missed.len()
    );
    assert!(
        false_positives.is_empty(),
        "false positives:\n{}",
        false_positives.join("\n")
    );
    assert!(missed.is_empty(), "missed:\n{}", missed.join("\n"));
}
