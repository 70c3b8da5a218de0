//! Conformance on the shared corpus: 30 real cores from other projects' test suites,
//! compared by `check-corpus` with oracles made by eu-readelf (not by us).

use std::process::Command;

mod support;

#[test]
fn corpus_maps_and_threads_match_oracles() {
    let Some(dir) = support::corpus_dir(
        "corpus::corpus_maps_and_threads_match_oracles",
        "check-corpus",
    ) else {
        return;
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
