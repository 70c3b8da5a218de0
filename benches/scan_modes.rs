//! Issue 14, goals 2 and 3, whole `mutexdiag` processes on real kernel cores made by
//! `benches/make-core.sh`, each next to a reference measured in the same run
//! (interleaved rounds, medians):
//!
//! - big dense core (1152 MiB of shared memory, ordinary data; the scan benchmark's
//!   core): `--scan none|shared|all` against the read limit, a memory-mapped sum of
//!   every byte of the file timed as a whole process like the analyses (this
//!   benchmark run again as `--mmap-sum FILE`: open + mmap + sum, and the unmapping
//!   at exit that every process mapping the file pays); the same sum in this process
//!   without its unmapping is printed beside it;
//! - sparse core (1 000 threads with 8 MiB stacks, 8.4 GB of which about 28 MB hold
//!   data) against a dense core of the same program with 64 KiB stacks (86 MB):
//!   "costs what is on disk" means the ratio stays near 1.
//!
//! The analyses run with an empty `--sysroot` (no library or debug file read), so
//! what is timed is the core: open, parse, scan, decode. Wall times and CPU times
//! (user + system of the child) are printed; the machine is shared, CPU is steadier.
//! `MUTEXDIAG_BENCH_ROUNDS` (default 5). `MUTEXDIAG_BEFORE=<older mutexdiag>` times
//! that build's `--scan shared|all` on the big core too, in the same rounds.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The read limit: open, mmap and sum every byte of the file as u64 words, then
/// unmap it. Wall and CPU time, and the CPU time before the unmapping.
fn mmap_sum(path: &Path) -> (Duration, Duration, Duration) {
    let c0 = common::self_cpu();
    let t = Instant::now();
    let f = std::fs::File::open(path).expect("open");
    // SAFETY: read-only mapping of a file nobody writes during the benchmark.
    let m = unsafe { memmap2::Mmap::map(&f) }.expect("mmap");
    let mut s = 0u64;
    for c in m.chunks_exact(8) {
        s = s.wrapping_add(u64::from_le_bytes(c.try_into().unwrap()));
    }
    std::hint::black_box(s);
    let mapped = common::self_cpu().saturating_sub(c0);
    drop(m);
    (t.elapsed(), common::self_cpu().saturating_sub(c0), mapped)
}

/// Drop the file's pages from the page cache (`POSIX_FADV_DONTNEED`), so that the
/// next reader reads it from the disk.
fn evict(path: &Path) {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).expect("open");
    // SAFETY: plain advice on an open descriptor; it changes no data.
    let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(r, 0, "posix_fadvise");
}

struct Case {
    label: String,
    bin: PathBuf,
    args: Vec<String>,
    wall: Vec<Duration>,
    cpu: Vec<Duration>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    // The reference as a process of its own: sum the file and exit.
    if let Some(i) = args.iter().position(|a| a == "--mmap-sum") {
        let path = args.get(i + 1).expect("--mmap-sum FILE");
        mmap_sum(Path::new(path));
        return;
    }
    common::print_machine();
    let rounds = common::rounds(5);
    let big = common::scan_core();
    let sparse = common::threads_core(8192);
    let dense = common::threads_core(64);
    let empty = tempfile::tempdir().expect("tempdir");
    let sysroot = empty.path().to_str().expect("UTF-8").to_string();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_mutexdiag"));
    let mut cases = Vec::new();
    for (name, core) in [("big", &big), ("sparse", &sparse), ("dense", &dense)] {
        for scan in ["none", "shared", "all"] {
            if name != "big" && scan == "none" {
                continue;
            }
            cases.push(Case {
                label: format!("{name} --scan {scan}"),
                bin: bin.clone(),
                args: vec![
                    core.to_str().expect("UTF-8").into(),
                    "--format".into(),
                    "json".into(),
                    "--sysroot".into(),
                    sysroot.clone(),
                    "--scan".into(),
                    scan.into(),
                ],
                wall: vec![],
                cpu: vec![],
            });
        }
    }
    if let Some(before) = std::env::var_os("MUTEXDIAG_BEFORE") {
        let extra: Vec<Case> = cases
            .iter()
            .filter(|c| c.label == "big --scan shared" || c.label == "big --scan all")
            .map(|c| Case {
                label: format!("{} (before)", c.label),
                bin: PathBuf::from(&before),
                args: c.args.clone(),
                wall: vec![],
                cpu: vec![],
            })
            .collect();
        cases.extend(extra);
    }
    for c in &cases {
        let a: Vec<&str> = c.args.iter().map(String::as_str).collect();
        common::run_timed(&c.bin, &a).expect("run mutexdiag");
    }
    let me = std::env::current_exe().expect("the benchmark's own path");
    let sum_args = ["--mmap-sum", big.to_str().expect("UTF-8")];
    common::run_timed(&me, &sum_args).expect("run the mmap-sum");
    let (mut sums, mut sum_cpu, mut sum_mapped) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (w, c) = common::run_timed(&me, &sum_args).expect("run the mmap-sum");
        sums.push(w);
        sum_cpu.push(c);
        sum_mapped.push(mmap_sum(&big).2);
        for c in &mut cases {
            let a: Vec<&str> = c.args.iter().map(String::as_str).collect();
            let (w, u) = common::run_timed(&c.bin, &a).expect("run mutexdiag");
            c.wall.push(w);
            c.cpu.push(u);
        }
    }
    let size = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(p).expect("stat");
        (m.len(), m.blocks() * 512)
    };
    println!("{rounds} rounds; load average {}", common::loadavg());
    for (n, p) in [("big", &big), ("sparse", &sparse), ("dense", &dense)] {
        let (l, d) = size(p);
        println!("{n}: {l} bytes, {d} on disk");
    }
    let sum = common::median(sums);
    let sumc = common::median(sum_cpu);
    let summ = common::median(sum_mapped);
    println!(
        "read limit (a process: open + mmap + sum of the big core, exit): wall {:.1} ms  \
         cpu {:.1} ms (in this process, before its munmap: cpu {:.1} ms)",
        common::ms(sum),
        common::ms(sumc),
        common::ms(summ)
    );
    let med = |label: &str| {
        let c = cases.iter().find(|c| c.label == label).expect("case");
        (
            common::median(c.wall.clone()),
            common::median(c.cpu.clone()),
        )
    };
    for c in &cases {
        let (w, u) = med(&c.label);
        let reference = if c.label.starts_with("big") {
            format!(
                "{:.2}x the read limit (wall), {:.2}x (cpu); {:.2}x its cpu before the munmap",
                w.as_secs_f64() / sum.as_secs_f64(),
                u.as_secs_f64() / sumc.as_secs_f64(),
                u.as_secs_f64() / summ.as_secs_f64()
            )
        } else if c.label.starts_with("sparse") {
            let (dw, du) = med(&c.label.replace("sparse", "dense"));
            format!(
                "{:.2}x the dense core (wall), {:.2}x (cpu)",
                w.as_secs_f64() / dw.as_secs_f64(),
                u.as_secs_f64() / du.as_secs_f64()
            )
        } else {
            String::new()
        };
        println!(
            "{:<33} wall {:>8.1} ms  cpu {:>8.1} ms  {reference}",
            c.label,
            common::ms(w),
            common::ms(u)
        );
    }

    // Not in the page cache: the core read from the disk, as in a crash archive
    // nobody has opened yet. Reference: the same mmap-sum on the evicted file.
    let cold_rounds = rounds.min(3);
    let (mut ref_w, mut ref_c, mut md_w, mut md_c) = (vec![], vec![], vec![], vec![]);
    let big_args = [
        big.to_str().expect("UTF-8"),
        "--format",
        "json",
        "--sysroot",
        &sysroot,
        "--scan",
        "shared",
    ];
    for _ in 0..cold_rounds {
        evict(&big);
        let (w, c) = common::run_timed(&me, &sum_args).expect("run the mmap-sum");
        ref_w.push(w);
        ref_c.push(c);
        evict(&big);
        let (w, c) = common::run_timed(&bin, &big_args).expect("run mutexdiag");
        md_w.push(w);
        md_c.push(c);
    }
    let (rw, rc) = (common::median(ref_w), common::median(ref_c));
    let (mw, mc) = (common::median(md_w), common::median(md_c));
    println!(
        "not cached ({cold_rounds} rounds): read limit wall {:.1} ms cpu {:.1} ms; \
         big --scan shared wall {:.1} ms cpu {:.1} ms: {:.2}x the read limit (wall), {:.2}x (cpu)",
        common::ms(rw),
        common::ms(rc),
        common::ms(mw),
        common::ms(mc),
        mw.as_secs_f64() / rw.as_secs_f64(),
        mc.as_secs_f64() / rc.as_secs_f64()
    );
}
