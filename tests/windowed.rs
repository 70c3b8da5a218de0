//! Cores read through windows of the file instead of one mapping of the whole file
//! (`src/coredump/data.rs`): what a core larger than the address-space limit
//! (`ulimit -v`) is read with. The analysis must be the same either way — every
//! fixture and corpus core, with windows small enough that every scanned mapping is
//! cut into many (objects across a window's edge are found in its margins) — and a
//! real kernel core larger than the limit must be analysed under it, in bounded
//! memory, with the report of the mapped run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mutexdiag::ScanScope;
use mutexdiag::analysis::{Analyzer, AnalyzerConfig, CoreOptions};
use mutexdiag::input::InputOptions;

mod support;

/// The report as JSON, without the warning that says the core was read through
/// windows (which the windowed run must give and the mapped one must not).
fn report(
    a: &Analyzer,
    core: &Path,
    app: Option<&Path>,
    scan: ScanScope,
    window: Option<usize>,
) -> String {
    let opts = CoreOptions {
        binary: app.map(Path::to_path_buf),
        scan,
        input: InputOptions {
            windowed: window.is_some(),
            window,
            ..InputOptions::default()
        },
        ..CoreOptions::default()
    };
    let r = a
        .analyze(core, &opts)
        .unwrap_or_else(|e| panic!("{}: {e}", core.display()));
    let mut v = serde_json::to_value(&r).expect("serialise");
    let ws = v["warnings"].as_array_mut().expect("warnings");
    let n = ws.len();
    ws.retain(|w| w["code"] != "windowed");
    assert_eq!(
        n - ws.len(),
        usize::from(window.is_some()),
        "{}: the `windowed` warning is given exactly when the core is read through windows",
        core.display()
    );
    serde_json::to_string_pretty(&v).expect("serialise")
}

fn analyzer() -> Analyzer {
    Analyzer::new(AnalyzerConfig {
        cache_entries: 0,
        ..AnalyzerConfig::default()
    })
}

#[test]
fn every_fixture_core_reads_the_same_through_windows() {
    let a = analyzer();
    let cores = support::fixture_cores();
    assert!(cores.len() >= 20, "fixture cores: {}", cores.len());
    for f in &cores {
        let app = f.app();
        for scan in [ScanScope::Shared, ScanScope::All] {
            let mapped = report(&a, &f.core, Some(&app), scan, None);
            // 4 KiB + 3: every scanned mapping is cut into windows at odd places.
            for window in [4099, 1 << 20] {
                let windowed = report(&a, &f.core, Some(&app), scan, Some(window));
                assert!(
                    mapped == windowed,
                    "{} (--scan {scan:?}, window {window}): the report read through windows differs",
                    f.core.display()
                );
            }
        }
    }
}

#[test]
fn every_corpus_core_reads_the_same_through_windows() {
    let Some(cores) = support::corpus_cores("every_corpus_core_reads_the_same_through_windows")
    else {
        return;
    };
    let mut solaris: Vec<PathBuf> = support::corpus_dir(
        "every_corpus_core_reads_the_same_through_windows (Solaris)",
        "solaris/check-solaris",
    )
    .and_then(|d| std::fs::read_dir(d.join("solaris/cores")).ok())
    .map(|d| d.flatten().map(|e| e.path()).collect())
    .unwrap_or_default();
    solaris.sort();
    let a = analyzer();
    let mut n = 0;
    for p in cores.into_iter().map(|(_, p)| p).chain(solaris) {
        let mapped = report(&a, &p, None, ScanScope::All, None);
        let windowed = report(&a, &p, None, ScanScope::All, Some(4099));
        assert!(
            mapped == windowed,
            "{}: the report read through windows differs",
            p.display()
        );
        n += 1;
    }
    assert!(n >= 42, "corpus cores compared: {n}");
}

/// Run `cmd` to its end with its output in `out`; its exit status and its own peak
/// resident memory in KiB (`wait4`'s rusage of that one child).
fn run_measured(cmd: &mut Command, out: &Path) -> (i32, i64) {
    let f = std::fs::File::create(out).expect("output file");
    let child = cmd
        .stdout(f)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run mutexdiag");
    support::wait::wait_measured(child)
}

#[test]
fn a_core_larger_than_the_address_space_limit_is_analysed_under_it() {
    let test = "a_core_larger_than_the_address_space_limit_is_analysed_under_it";
    let dir = tempfile::tempdir().expect("temp dir");
    let core = dir.path().join("big.core");
    // 300 idle threads with 16 MiB stacks (4.9 GB of address space, holes on disk)
    // and 64 MiB of ordinary data in shared memory with 16 locked mutexes.
    let out = Command::new("bash")
        .arg(support::root().join("benches/make-core.sh"))
        .arg(&core)
        .args([
            "--mib",
            "64",
            "--shared",
            "--mutexes",
            "16",
            "--threads",
            "300",
            "--stack-kib",
            "16384",
        ])
        .env("MUTEXDIAG_BENCH_DIR", dir.path())
        .output()
        .expect("run benches/make-core.sh");
    if out.status.code() == Some(77) {
        support::skip(test, String::from_utf8_lossy(&out.stderr).trim());
        return;
    }
    assert!(
        out.status.success(),
        "benches/make-core.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size = std::fs::metadata(&core).expect("core").len();
    let limit_kib: u64 = 3 << 20; // 3 GiB of address space
    assert!(
        size > (limit_kib << 10),
        "the core ({size} bytes) is larger than the limit"
    );
    let sysroot = dir.path().join("no-sysroot");
    std::fs::create_dir(&sysroot).expect("sysroot");
    let bin = env!("CARGO_BIN_EXE_mutexdiag");
    let run = |limit: Option<u64>, out: &Path| {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(match limit {
                Some(k) => format!("ulimit -v {k} && exec \"$0\" \"$@\""),
                None => "exec \"$0\" \"$@\"".to_string(),
            })
            .arg(bin)
            .arg(&core)
            .args(["--format", "json", "--scan", "all", "--sysroot"])
            .arg(&sysroot)
            .env("MUTEXDIAG_CACHE", "off");
        run_measured(&mut c, out)
    };
    let (mapped_out, windowed_out) = (
        dir.path().join("mapped.json"),
        dir.path().join("windowed.json"),
    );
    let (code, _) = run(None, &mapped_out);
    assert_eq!(code, 0, "mapped run");
    let (code, rss_kib) = run(Some(limit_kib), &windowed_out);
    assert_eq!(code, 0, "the run under `ulimit -v {limit_kib}` fails");
    let read = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).expect("output")).expect("JSON")
    };
    let (mut mapped, mut windowed) = (read(&mapped_out), read(&windowed_out));
    let codes = |v: &serde_json::Value| -> Vec<String> {
        v["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| w["code"].as_str().map(str::to_string))
            .collect()
    };
    assert!(!codes(&mapped).contains(&"windowed".to_string()));
    let why = windowed["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|w| w["code"] == "windowed")
        .and_then(|w| w["message"].as_str())
        .map(str::to_string)
        .expect("the windowed run says it read through windows");
    assert!(why.contains("cannot be mapped whole"), "{why}");
    for v in [&mut mapped, &mut windowed] {
        if let Some(ws) = v["warnings"].as_array_mut() {
            ws.retain(|w| w["code"] != "windowed");
        }
    }
    assert_eq!(mapped, windowed, "the reports differ");
    // The planted mutexes are found (the scan read the 64 MiB through windows).
    let facts = std::fs::read_to_string(dir.path().join("big.core.facts")).expect("facts");
    let planted: Vec<u64> = facts
        .lines()
        .filter_map(|l| l.strip_prefix("mutex 0x"))
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().next()?, 16).ok())
        .collect();
    assert_eq!(planted.len(), 16, "facts");
    let found: Vec<u64> = windowed["mutexes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["address"].as_str())
        .filter_map(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok())
        .collect();
    for a in &planted {
        assert!(
            found.contains(a),
            "planted mutex {a:#x} not found under the limit"
        );
    }
    // Bounded memory: the goal's 256 MiB.
    eprintln!("core {size} bytes; under ulimit -v {limit_kib}: peak RSS {rss_kib} KiB");
    assert!(rss_kib < 256 << 10, "peak RSS {rss_kib} KiB");
}
