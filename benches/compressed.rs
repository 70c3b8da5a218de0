//! Issue 14, goal 5: compressed cores near the decompressor's speed. Whole
//! `mutexdiag` processes on zstd-compressed real kernel cores made by
//! `benches/make-core.sh`, each next to the reference measured in the same run
//! (interleaved rounds, medians): `zstd -d -c CORE.zst > /dev/null`, the bare
//! decompression every reader of the file pays.
//!
//! - dense: the scan benchmark's core (1152 MiB of shared memory, ordinary data);
//! - sparse: 1 000 threads with 8 MiB stacks (8.4 GB, about 28 MB of data).
//!
//! Each is analysed twice: as one core (`mutexdiag CORE.zst`) and by the batch driver
//! (`mutexdiag triage DIR -j 1`, DIR holding only that `.zst`), which materializes
//! compressed cores into its own temporary files before a worker analyses them.
//!
//! The analyses run with an empty `--sysroot` (no library or debug file read), so
//! what is timed is expansion and the core: decompress, write, parse, scan, decode.
//! Wall and CPU times (user + system of the child) are printed; the machine is
//! shared, CPU is steadier. `MUTEXDIAG_BENCH_ROUNDS` (default 5). Skips when `zstd`
//! is not on PATH.

#[path = "common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `core` compressed with `zstd -1` next to it (made once).
fn compressed(core: &Path, zstd: &Path) -> PathBuf {
    let mut s = core.as_os_str().to_owned();
    s.push(".zst");
    let out = PathBuf::from(s);
    if !out.exists() {
        eprintln!("compressing {}", core.display());
        let tmp = out.with_extension("zst.part");
        let st = Command::new(zstd)
            .args(["-q", "-1", "-T0", "-f", "-o"])
            .arg(&tmp)
            .arg(core)
            .status()
            .expect("run zstd");
        assert!(st.success(), "zstd failed on {}", core.display());
        std::fs::rename(&tmp, &out).expect("rename the compressed core");
    }
    out
}

struct Case {
    label: &'static str,
    zst: PathBuf,
    /// A folder holding only `zst` (a hard link, else a copy), for `triage`.
    dir: tempfile::TempDir,
    reference: Vec<(Duration, Duration)>,
    analysis: Vec<(Duration, Duration)>,
    triage: Vec<(Duration, Duration)>,
}

/// A folder with `zst` in it, by a hard link when the file system allows it.
fn folder_with(zst: &Path) -> tempfile::TempDir {
    let parent = zst.parent().unwrap_or(Path::new("."));
    let dir = tempfile::tempdir_in(parent).expect("temp dir next to the core");
    let name = zst.file_name().expect("a file name");
    let to = dir.path().join(name);
    if std::fs::hard_link(zst, &to).is_err() {
        std::fs::copy(zst, &to).expect("copy the compressed core");
    }
    dir
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Some(zstd) = common::which("zstd") else {
        eprintln!("SKIP compressed: zstd is not on PATH");
        return;
    };
    common::print_machine();
    let rounds = common::rounds(5);
    let dense = common::scan_core();
    let sparse = common::threads_core(8192);
    let empty = tempfile::tempdir().expect("tempdir");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_mutexdiag"));
    let mut cases = [("dense", &dense), ("sparse", &sparse)].map(|(label, core)| {
        let zst = compressed(core, &zstd);
        Case {
            label,
            dir: folder_with(&zst),
            zst,
            reference: vec![],
            analysis: vec![],
            triage: vec![],
        }
    });
    let triage_args = |c: &Case| {
        [
            "triage".as_ref(),
            c.dir.path().as_os_str(),
            "-q".as_ref(),
            "-j".as_ref(),
            "1".as_ref(),
            "--format".as_ref(),
            "json".as_ref(),
            "--sysroot".as_ref(),
            empty.path().as_os_str(),
        ]
        .map(std::ffi::OsStr::to_owned)
    };
    let triage = |c: &Case| common::run_timed(&bin, &triage_args(c)).expect("run mutexdiag triage");
    let analyse = |c: &Case| {
        let args = [
            c.zst.as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
            "--sysroot".as_ref(),
            empty.path().as_os_str(),
        ];
        common::run_timed(&bin, &args).expect("run mutexdiag")
    };
    let decompress = |c: &Case| {
        let args = [
            "-q".as_ref(),
            "-d".as_ref(),
            "-c".as_ref(),
            c.zst.as_os_str(),
        ];
        common::run_timed(&zstd, &args).expect("run zstd -d")
    };
    // Warm-up: page cache, and a check that the analysis succeeds.
    for c in &cases {
        let st = Command::new(&bin)
            .arg(&c.zst)
            .args(["--format", "json", "--sysroot"])
            .arg(empty.path())
            .output()
            .expect("run mutexdiag");
        assert!(
            st.status.code().is_some_and(|c| c <= 1),
            "mutexdiag failed on {}: {}",
            c.zst.display(),
            String::from_utf8_lossy(&st.stderr)
        );
        let t = Command::new(&bin)
            .args(triage_args(c))
            .output()
            .expect("run mutexdiag triage");
        let doc = String::from_utf8_lossy(&t.stdout);
        assert!(
            t.status.code().is_some_and(|c| c <= 1) && doc.contains("\"analysed\": 1"),
            "triage did not analyse {}: {}",
            c.zst.display(),
            String::from_utf8_lossy(&t.stderr)
        );
        decompress(c);
    }
    for _ in 0..rounds {
        for c in &mut cases {
            c.reference.push(decompress(c));
            c.analysis.push(analyse(c));
            let t = triage(c);
            c.triage.push(t);
        }
    }
    println!("{rounds} rounds; load average {}", common::loadavg());
    for c in &cases {
        let size = std::fs::metadata(&c.zst).map_or(0, |m| m.len());
        let med = |v: &[(Duration, Duration)]| {
            (
                common::median(v.iter().map(|p| p.0).collect()),
                common::median(v.iter().map(|p| p.1).collect()),
            )
        };
        let (rw, rc) = med(&c.reference);
        let (aw, ac) = med(&c.analysis);
        let (tw, tc) = med(&c.triage);
        println!(
            "{:6} ({size} bytes compressed): zstd -d -c > /dev/null wall {:.1} ms cpu {:.1} ms; \
             mutexdiag wall {:.1} ms cpu {:.1} ms; {:.2}x (wall), {:.2}x (cpu)",
            c.label,
            common::ms(rw),
            common::ms(rc),
            common::ms(aw),
            common::ms(ac),
            aw.as_secs_f64() / rw.as_secs_f64(),
            ac.as_secs_f64() / rc.as_secs_f64(),
        );
        println!(
            "{:6} triage -j 1: wall {:.1} ms cpu {:.1} ms; {:.2}x (wall), {:.2}x (cpu) the decompressor",
            "",
            common::ms(tw),
            common::ms(tc),
            tw.as_secs_f64() / rw.as_secs_f64(),
            tc.as_secs_f64() / rc.as_secs_f64(),
        );
    }
}
