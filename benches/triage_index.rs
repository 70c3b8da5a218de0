//! Throughput of `mutexdiag triage --db` over an archive of many inputs, first run
//! (every core analysed) and second run (every core unchanged: file stamps checked,
//! records taken from the index), with the db size and the peak memory.
//!
//! The archive is generated at bench time from the real fixture cores
//! (`fixtures/*/core.*.zst`): copies of them under different names. Copies are fine
//! for the throughput of the index (each is walked, classified, fingerprinted,
//! looked up and written like any core); they are not a realistic mix of bugs.
//! References measured in the same run, over the same archive and index:
//! - the first run (full analysis): the ratio is what the index saves;
//! - `find ARCHIVE -type f -printf '%s %T@ %C@ %i'`: one process walking the archive
//!   and stating every file, the least any change detection must do (a cached run
//!   also reads the index, classifies, builds and writes the report);
//! - `sqlite3 DB 'SELECT record FROM records'` (when the sqlite3 shell is installed):
//!   the stored records read back by SQLite's own shell, the least a report of the
//!   index costs.
//!
//! `cargo bench --bench triage_index` (MUTEXDIAG_BENCH_INPUTS=N to change the 10 000).

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/wait.rs"]
mod wait;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn bin() -> PathBuf {
    // The release binary next to the bench executable's profile folder.
    let exe = std::env::current_exe().expect("current exe");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    profile.join("mutexdiag")
}

/// Run `mutexdiag triage ARGS`, returning seconds, the peak RSS (KiB) of that run
/// (`wait4`: the driver, or the largest analyser it waited for) and its stdout.
fn timed(args: &[&str], out: &Path) -> (f64, i64, String) {
    let t = Instant::now();
    let child = Command::new(bin())
        .arg("triage")
        .args(args)
        .stdout(std::fs::File::create(out).expect("output file"))
        .spawn()
        .expect("spawn mutexdiag (cargo build --release first)");
    let (code, maxrss) = wait::wait_measured(child);
    let secs = t.elapsed().as_secs_f64();
    assert!(
        code >= 0 && code != 2,
        "mutexdiag triage failed (exit {code})"
    );
    (
        secs,
        maxrss,
        std::fs::read_to_string(out).expect("read output"),
    )
}

/// Seconds of a command's run (stdout discarded); `None` when it cannot run.
fn reference(program: &str, args: &[&str]) -> Option<f64> {
    let t = Instant::now();
    let st = Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    st.success().then(|| t.elapsed().as_secs_f64())
}

fn main() {
    let n: usize = std::env::var("MUTEXDIAG_BENCH_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut cores: Vec<PathBuf> = Vec::new();
    for d in std::fs::read_dir(&fx).expect("fixtures").flatten() {
        for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
            let name = f.file_name().to_string_lossy().to_string();
            if name.starts_with("core.") && name.ends_with(".zst") {
                cores.push(f.path());
            }
        }
    }
    cores.sort();
    assert!(!cores.is_empty(), "no fixture cores");
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = tmp.path().join("archive");
    let mut bytes = 0u64;
    for i in 0..n {
        let sub = archive.join(format!("{:03}", i / 1000));
        std::fs::create_dir_all(&sub).expect("mkdir");
        let src = &cores[i % cores.len()];
        let dst = sub.join(format!("core.{i:05}.zst"));
        bytes += std::fs::copy(src, &dst).expect("copy");
    }
    let db = tmp.path().join("index.db");
    let a = archive.to_str().expect("utf-8");
    let d = db.to_str().expect("utf-8");
    println!(
        "triage_index: {n} inputs (copies of {} fixture cores), {:.1} MiB",
        cores.len(),
        bytes as f64 / 1048576.0
    );
    println!("load average before: {}", common::loadavg());
    let o = tmp.path().join("out.json");
    let (t1, rss1, _) = timed(&[a, "--db", d, "-q", "--format", "json"], &o);
    // The second run, three times (the best is reported, the machine is shared),
    // each next to its references.
    let mut t2 = f64::MAX;
    let mut all2 = Vec::new();
    let mut rss2 = 0;
    let mut out = String::new();
    let mut find_s = f64::MAX;
    let mut sql_s: Option<f64> = None;
    for _ in 0..3 {
        let (t, rss, o2) = timed(&[a, "--db", d, "-q", "--format", "json"], &o);
        all2.push(format!("{t:.2}"));
        if t < t2 {
            t2 = t;
        }
        rss2 = rss2.max(rss);
        out = o2;
        if let Some(f) = reference("find", &[a, "-type", "f", "-printf", "%s %T@ %C@ %i\n"]) {
            find_s = find_s.min(f);
        }
        if let Some(q) = reference("sqlite3", &[d, "SELECT record FROM records"]) {
            sql_s = Some(sql_s.map_or(q, |x: f64| x.min(q)));
        }
    }
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    let cached = doc["summary"]["cached"].as_u64().unwrap_or(0);
    let analysed = doc["summary"]["analysed"].as_u64().unwrap_or(0);
    let db_size: u64 = ["", "-wal", "-shm"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{d}{s}")).ok())
        .map(|m| m.len())
        .sum();
    let r1 = n as f64 / t1;
    let r2 = n as f64 / t2;
    println!(
        "first run  (--db, every core analysed):  {t1:8.2} s  {r1:9.0} inputs/s  peak RSS {rss1} KiB"
    );
    println!(
        "second run (--db, unchanged, best of 3): {t2:8.2} s  {r2:9.0} inputs/s  peak RSS {rss2} KiB  ({cached} of {analysed} cached; runs: {} s)",
        all2.join(", ")
    );
    println!(
        "ratio second/first: {:.1}x   target >= 5000 inputs/s unchanged: {}",
        r2 / r1,
        if r2 >= 5000.0 { "met" } else { "NOT met" }
    );
    if find_s < f64::MAX {
        println!(
            "reference find -printf stat walk: {find_s:8.2} s  {:9.0} inputs/s  second run / find time ratio {:.1}",
            n as f64 / find_s,
            t2 / find_s
        );
    } else {
        eprintln!("find could not run: no stat-walk reference");
    }
    match sql_s {
        Some(q) => println!(
            "reference sqlite3 SELECT record (all {n} rows): {q:8.2} s  {:9.0} rows/s  second run / sqlite3 time ratio {:.1}",
            n as f64 / q,
            t2 / q
        ),
        None => eprintln!("sqlite3 shell not installed: no stored-records reference"),
    }
    println!(
        "db size: {:.2} MiB ({:.0} bytes/input)",
        db_size as f64 / 1048576.0,
        db_size as f64 / n as f64
    );
    println!("load average after: {}", common::loadavg());
    assert_eq!(
        cached, analysed,
        "every analysed core of the second run is cached"
    );
}
