//! What the benchmarks share: the cache folder, real cores made on demand by
//! `benches/make-core.sh`, the facts the generator writes, and fixture cores expanded
//! once.
//!
//! Cores live in `$MUTEXDIAG_BENCH_DIR` (default: `mutexdiag-bench` in the system
//! temporary folder) and are made only when absent. They are never part of the
//! repository.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Bumped when `make-core.c` changes what it writes, so stale cores are not reused.
const GENERATOR_VERSION: &str = "v1";

pub fn bench_dir() -> PathBuf {
    let d = std::env::var_os("MUTEXDIAG_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("mutexdiag-bench"));
    std::fs::create_dir_all(&d).expect("create the benchmark cache folder");
    d
}

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The core `name` made by `make-core.sh` with `args`, made now if it is not cached.
pub fn core(name: &str, args: &[&str]) -> PathBuf {
    let path = bench_dir().join(format!("{name}-{GENERATOR_VERSION}.core"));
    let facts = facts_path(&path);
    if path.exists() && facts.exists() {
        return path;
    }
    eprintln!("making {} ({})", path.display(), args.join(" "));
    let status = Command::new("bash")
        .arg(manifest_dir().join("benches/make-core.sh"))
        .arg(&path)
        .args(args)
        .env("MUTEXDIAG_BENCH_DIR", bench_dir())
        .status()
        .expect("run benches/make-core.sh");
    assert!(status.success(), "make-core.sh failed for {name}");
    path
}

/// The > 1 GiB core of the scan benchmarks: 1152 MiB of MAP_SHARED|MAP_ANONYMOUS
/// memory of ordinary data, 16 locked mutexes planted at known places, 100 extra
/// mappings, the fill's block map in the facts.
pub fn scan_core() -> PathBuf {
    core(
        "scan-1152M-shared-ordinary",
        &[
            "--mib",
            "1152",
            "--shared",
            "--fill",
            "ordinary",
            "--mutexes",
            "16",
            "--maps",
            "100",
            "--blocks",
        ],
    )
}

pub fn facts_path(core: &Path) -> PathBuf {
    let mut s = core.as_os_str().to_owned();
    s.push(".facts");
    PathBuf::from(s)
}

/// What `make-core` wrote about its process.
#[derive(Debug, Default)]
pub struct Facts {
    /// The big region: start, end, shared, fill.
    pub region: (u64, u64, bool, String),
    /// Planted locked mutexes: address, type.
    pub mutexes: Vec<(u64, String)>,
    /// Fill blocks (with `--blocks`): start, end, kind.
    pub blocks: Vec<(u64, u64, String)>,
    pub threads: Vec<u32>,
    pub maps: usize,
}

impl Facts {
    pub fn read(core: &Path) -> Facts {
        let text = std::fs::read_to_string(facts_path(core)).expect("read the facts file");
        let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex");
        let mut f = Facts::default();
        for line in text.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            match w.as_slice() {
                ["region", a, b, sh, fill] => {
                    f.region = (hex(a), hex(b), *sh == "shared", fill.to_string())
                }
                ["mutex", a, ty] => f.mutexes.push((hex(a), ty.to_string())),
                ["block", a, b, k] => f.blocks.push((hex(a), hex(b), k.to_string())),
                ["thread", t] => f.threads.push(t.parse().expect("tid")),
                ["map", ..] => f.maps += 1,
                _ => panic!("unexpected facts line: {line}"),
            }
        }
        f
    }

    /// The fill kind of the block holding `addr`.
    pub fn block_kind(&self, addr: u64) -> &str {
        let i = self.blocks.partition_point(|b| b.0 <= addr);
        match i.checked_sub(1).map(|i| &self.blocks[i]) {
            Some(b) if addr < b.1 => &b.2,
            _ => "?",
        }
    }
}

/// A zstd fixture core (`fixtures/NAME/core.ROLE.zst`) expanded once into the cache.
pub fn fixture_core(name: &str, role: &str) -> PathBuf {
    let src = manifest_dir().join(format!("fixtures/{name}/core.{role}.zst"));
    let dst = bench_dir().join(format!("fixture-{name}-{role}.core"));
    let fresh = match (std::fs::metadata(&src), std::fs::metadata(&dst)) {
        (Ok(s), Ok(d)) => d.modified().ok() >= s.modified().ok(),
        _ => false,
    };
    if !fresh {
        let data = std::fs::read(&src).expect("read the fixture core");
        let raw = zstd::decode_all(&data[..]).expect("expand the fixture core");
        let tmp = dst.with_extension("tmp");
        std::fs::write(&tmp, raw).expect("write the expanded fixture core");
        std::fs::rename(&tmp, &dst).expect("rename the expanded fixture core");
    }
    dst
}

/// The machine, for the record.
pub fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(str::to_string))
        .unwrap_or_default();
    let n = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!("machine: {n} CPUs, {cpu}, {mem}");
}

// Timing of whole processes, shared by the benchmarks that compare the binary
// with other tools (engine, backtrace_threads, scan_modes).

/// The median of some timings (the upper one of an even count).
pub fn median(mut v: Vec<std::time::Duration>) -> std::time::Duration {
    v.sort();
    v[v.len() / 2]
}

/// A duration in milliseconds.
pub fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn rusage_cpu(who: libc::c_int) -> std::time::Duration {
    // SAFETY: getrusage writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut u) };
    let tv = |t: libc::timeval| std::time::Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// CPU time (user + system) of the waited-for children of this process so far.
pub fn children_cpu() -> std::time::Duration {
    rusage_cpu(libc::RUSAGE_CHILDREN)
}

/// CPU time (user + system) of this process so far.
pub fn self_cpu() -> std::time::Duration {
    rusage_cpu(libc::RUSAGE_SELF)
}

/// Wall and CPU time of one run of a command, output discarded; `None` if it could
/// not run or was killed by a signal. An exit status is not a failure: mutexdiag
/// exits 1 when it finds an error-severity finding, eu-stack 1 on some threads it
/// cannot unwind.
pub fn run_timed<S: AsRef<std::ffi::OsStr>>(
    prog: &Path,
    args: &[S],
) -> Option<(std::time::Duration, std::time::Duration)> {
    run_timed_env::<S, &str, &str>(prog, args, &[])
}

/// [`run_timed`] with extra environment variables for the child.
pub fn run_timed_env<S, K, V>(
    prog: &Path,
    args: &[S],
    env: &[(K, V)],
) -> Option<(std::time::Duration, std::time::Duration)>
where
    S: AsRef<std::ffi::OsStr>,
    K: AsRef<std::ffi::OsStr>,
    V: AsRef<std::ffi::OsStr>,
{
    let c0 = children_cpu();
    let t = std::time::Instant::now();
    let st = Command::new(prog)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    let wall = t.elapsed();
    st.code().map(|_| (wall, children_cpu().saturating_sub(c0)))
}

/// `name` on `PATH`, if there.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// `MUTEXDIAG_BENCH_ROUNDS`, or `default`: how many interleaved rounds a benchmark
/// runs (at least one).
pub fn rounds(default: usize) -> usize {
    std::env::var("MUTEXDIAG_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
        .max(1)
}

/// The core of a process with 1 000 threads whose stacks are `stack_kib` KiB (16 MiB
/// of heap, 7 locked mutexes): with 8 MiB stacks (`8192`), 8.4 GB of which about
/// 28 MB hold data (a sparse core); with 64 KiB stacks, the same data densely.
pub fn threads_core(stack_kib: u32) -> PathBuf {
    let label = if stack_kib.is_multiple_of(1024) {
        format!("{}M", stack_kib / 1024)
    } else {
        format!("{stack_kib}K")
    };
    core(
        &format!("threads-1000-stack-{label}"),
        &[
            "--mib",
            "16",
            "--threads",
            "1000",
            "--stack-kib",
            &stack_kib.to_string(),
            "--mutexes",
            "7",
        ],
    )
}

/// The load averages of the last 1, 5 and 15 minutes ("?" where unreadable): printed
/// next to every figure, as the machines are shared.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
