//! Conformance on the shared corpus: 30 real cores from other projects' test suites,
//! compared by `check-corpus` with oracles made by eu-readelf (not by us).

use std::path::PathBuf;
use std::process::Command;

fn corpus_dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    d.join("check-corpus").exists().then_some(d)
}

#[test]
fn corpus_maps_and_threads_match_oracles() {
    let Some(dir) = corpus_dir() else {
        if std::env::var_os("MUTEXDIAG_NO_CORPUS").is_some() {
            eprintln!("shared corpus absent and MUTEXDIAG_NO_CORPUS set: not checked");
            return;
        }
        panic!(
            "../shared/corpus/check-corpus not found (set MUTEXDIAG_NO_CORPUS=1 to run without it)"
        );
    };
    let out = Command::new("python3")
        .arg(dir.join("check-corpus"))
        .arg(env!("CARGO_BIN_EXE_mutexdiag"))
        .output()
        .expect("run check-corpus (needs python3 and zstd)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "check-corpus failed:\n{stdout}\n{stderr}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("corpus: "),
        "unexpected checker output: {last}"
    );
    let (passed, total) = last
        .trim_start_matches("corpus: ")
        .split(' ')
        .next()
        .and_then(|s| s.split_once('/'))
        .expect("PASSED/TOTAL");
    assert_eq!(passed, total);
    assert!(
        total.parse::<u32>().unwrap_or(0) > 1000,
        "too few checks ran: {last}"
    );
}
