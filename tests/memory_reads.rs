//! What an analysis reads of a core's memory, counted through the address space
//! (`mutexdiag::internals::memory::bytes_read`, per thread): `--scan none` reads no bulk
//! memory, and the holes of a sparse core are never read — with the same findings
//! as a dense copy of the same core, whose every byte is read. Real kernel cores,
//! made at test time by `benches/make-core.sh` (skipped, with the reason, where the
//! kernel writes no core into the process's folder and gdb is missing).

use std::path::{Path, PathBuf};
use std::process::Command;

use mutexdiag::CoreFile;
use mutexdiag::ScanScope;
use mutexdiag::analysis::{Options, analyze};
use mutexdiag::input::InputOptions;
use mutexdiag::internals::memory::bytes_read;
use mutexdiag::report::model::Report;

mod support;

const MIB: u64 = 1 << 20;

fn make_core(test: &str, dir: &Path, name: &str, args: &[&str]) -> Option<(PathBuf, Vec<u64>)> {
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
        support::skip(test, String::from_utf8_lossy(&out.stderr).trim());
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

/// The report and the bytes of core memory read to make it.
fn analyse(dir: &Path, core: &Path, scan: ScanScope) -> (Report, u64) {
    let opts = Options {
        scan,
        sysroot: dir.join("no-sysroot"),
        ..Options::default()
    };
    let before = bytes_read();
    let r = analyze(core, &opts).expect("analysis");
    (r, bytes_read() - before)
}

fn addresses(r: &Report) -> Vec<u64> {
    let mut v: Vec<u64> = r.mutexes.iter().map(|m| m.address.0).collect();
    v.sort_unstable();
    v
}

#[test]
fn scan_none_reads_no_bulk_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((core, planted)) = make_core(
        "scan_none_reads_no_bulk_memory",
        dir.path(),
        "shared.core",
        &[
            "--mib",
            "64",
            "--mutexes",
            "8",
            "--threads",
            "4",
            "--seed",
            "7",
        ],
    ) else {
        return;
    };
    let (none, n_none) = analyse(dir.path(), &core, ScanScope::None);
    let (shared, n_shared) = analyse(dir.path(), &core, ScanScope::Shared);
    let (all, n_all) = analyse(dir.path(), &core, ScanScope::All);
    eprintln!(
        "bytes read: --scan none {n_none}, shared {n_shared}, all {n_all}; mutexes: {}, {}, {}",
        none.mutexes.len(),
        shared.mutexes.len(),
        all.mutexes.len()
    );
    // The 64 MiB shared region is read by the scans that cover it, once (one pass
    // for the glibc scan and the Solaris magic search together).
    assert!(n_shared >= 64 * MIB, "--scan shared read {n_shared} bytes");
    assert!(n_shared < 66 * MIB, "--scan shared read {n_shared} bytes");
    assert!(n_all >= n_shared, "--scan all read {n_all} bytes");
    // Without a scan: headers of threads' stacks, lock words, symbols' bytes only.
    assert!(n_none < MIB, "--scan none read {n_none} bytes");
    assert_eq!(addresses(&shared), planted);
    assert_eq!(addresses(&all), planted);
    // What --scan none still finds (futex waits, symbols) is found by the others.
    for a in addresses(&none) {
        assert!(addresses(&shared).contains(&a), "{a:#x}");
    }
}

#[test]
fn sparse_core_holes_are_never_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 24 threads with glibc's default 8 MiB stacks, of which a few pages were
    // touched: the kernel leaves the rest of each stack out (holes).
    let Some((core, planted)) = make_core(
        "sparse_core_holes_are_never_read",
        dir.path(),
        "sparse.core",
        &[
            "--mib",
            "8",
            "--mutexes",
            "7",
            "--threads",
            "24",
            "--stack-kib",
            "8192",
            "--private",
        ],
    ) else {
        return;
    };
    let len = std::fs::metadata(&core).expect("stat").len();
    let f = CoreFile::open(&core, &InputOptions::default()).expect("open");
    let Some(ext) = f.input().data_extents().cloned() else {
        support::skip(
            "sparse_core_holes_are_never_read",
            "the file system holding the temporary folder reports no holes (SEEK_HOLE) in a sparse core",
        );
        return;
    };
    drop(f);
    let data: u64 = ext.iter().map(|(a, b)| b - a).sum();
    eprintln!(
        "sparse core: {len} bytes, {data} in {} data extents",
        ext.len()
    );
    assert!(len - data > 150 * MIB, "only {} bytes of holes", len - data);

    // A dense copy: every byte written, no hole.
    let dense = dir.path().join("dense.core");
    {
        let mut r = std::fs::File::open(&core).expect("open");
        let mut w = std::fs::File::create(&dense).expect("create");
        std::io::copy(&mut r, &mut w).expect("copy");
        w.sync_all().expect("sync");
    }
    let dense_ext = CoreFile::open(&dense, &InputOptions::default())
        .expect("open dense")
        .input()
        .data_extents()
        .cloned();
    for scan in [ScanScope::All, ScanScope::Shared] {
        let (rs, ns) = analyse(dir.path(), &core, scan);
        eprintln!("{scan:?}: sparse core read {ns} bytes");
        // Holes are never read: what is read is at most the data, plus the widening
        // of each data part by less than a mutex on each side.
        assert!(
            ns <= data + ext.len() as u64 * 2 * 64,
            "{scan:?}: read {ns} bytes of a core holding {data} bytes of data"
        );
        if dense_ext.is_none() {
            let (rd, nd) = analyse(dir.path(), &dense, scan);
            eprintln!("{scan:?}: dense copy read {nd} bytes");
            if scan == ScanScope::All {
                assert!(nd > ns + 150 * MIB, "dense copy read only {nd} bytes");
            }
            assert_eq!(
                serde_json::to_value(&rs.mutexes).unwrap(),
                serde_json::to_value(&rd.mutexes).unwrap(),
                "{scan:?}"
            );
            assert_eq!(
                serde_json::to_value(&rs.findings).unwrap(),
                serde_json::to_value(&rd.findings).unwrap(),
                "{scan:?}"
            );
        } else {
            eprintln!("the copy has holes too (the file system made it sparse): not compared");
        }
        if scan == ScanScope::All {
            assert_eq!(addresses(&rs), planted);
        }
    }
}
