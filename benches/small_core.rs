//! Small cores (issue 14, goal 1): `mutexdiag CORE --binary app` as a whole process,
//! cold (on-disk cache emptied before the run) and warm (the cache filled by the run
//! before), next to `eu-stack` and `eu-stack -i -s` on the same core, measured in
//! the same run, interleaved round by round; medians and the ratios of the goal
//! (cold / `eu-stack -i -s` ≤ 0.5, warm / `eu-stack` ≤ 1.0).
//!
//! Cores: fixture cores expanded once into `$MUTEXDIAG_BENCH_DIR`, with the system's
//! libraries and debug files (sysroot `/`). `MUTEXDIAG_BENCH_ROUNDS` (default 15)
//! sets the rounds; `MUTEXDIAG_BENCH_CORES` (default `abba:main,segv:main,kinds:main,
//! threads-contention:main`) the fixtures. Printed: wall and CPU time (user + system
//! of the child) per command and core, and the ratios. Without eu-stack the
//! benchmark says so and stops. `MUTEXDIAG_BENCH_OTHER=PATH` adds another
//! `mutexdiag` binary (e.g. the main branch's build), run cold and warm in the same
//! rounds with a cache folder of its own, for a paired comparison.

#[path = "common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Wall and CPU time of one run, output discarded.
fn run(prog: &Path, args: &[String], env: &[(&str, &Path)]) -> (Duration, Duration) {
    common::run_timed_env(prog, args, env).expect("run a benchmarked command")
}

/// The load average (1, 5, 15 min), for the record: the ratios depend on free CPUs.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[derive(Default)]
struct Times {
    wall: Vec<Duration>,
    cpu: Vec<Duration>,
}

impl Times {
    fn push(&mut self, (w, c): (Duration, Duration)) {
        self.wall.push(w);
        self.cpu.push(c);
    }
    fn med(&self) -> (f64, f64) {
        (
            common::ms(common::median(self.wall.clone())),
            common::ms(common::median(self.cpu.clone())),
        )
    }
}

/// A cache folder of its own for one binary's cold and warm runs.
struct CacheHome(tempfile::TempDir);

impl CacheHome {
    fn new() -> CacheHome {
        CacheHome(tempfile::tempdir().expect("temp dir for a cache"))
    }

    /// The cache folder itself (emptied before each cold run).
    fn dir(&self) -> PathBuf {
        self.0.path().join("mutexdiag")
    }

    /// The environment that turns the cache on in that folder.
    fn env(&self) -> [(&str, &Path); 2] {
        [
            ("XDG_CACHE_HOME", self.0.path()),
            ("MUTEXDIAG_CACHE", Path::new("on")),
        ]
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    common::print_machine();
    let Some(eu) = common::which("eu-stack") else {
        eprintln!("SKIP: eu-stack is not installed (elfutils): no reference to compare with");
        return;
    };
    let rounds: usize = std::env::var("MUTEXDIAG_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15)
        .max(1);
    let list = std::env::var("MUTEXDIAG_BENCH_CORES")
        .unwrap_or_else(|_| "abba:main,segv:main,kinds:main,threads-contention:main".to_string());
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_mutexdiag"));
    let other = std::env::var_os("MUTEXDIAG_BENCH_OTHER").map(PathBuf::from);
    let cache = CacheHome::new();
    let (dir, on) = (cache.dir(), cache.env());
    let other_cache = CacheHome::new();
    let (other_dir, other_on) = (other_cache.dir(), other_cache.env());
    if let Some(o) = &other {
        println!("other binary (MUTEXDIAG_BENCH_OTHER): {}", o.display());
    }
    println!("load average at the start: {}", load_average());
    let off: [(&str, &Path); 1] = [("MUTEXDIAG_CACHE", Path::new("off"))];
    println!(
        "{:<24} {:>22} {:>22} {:>22} {:>22} {:>22} {:>14} {:>12}",
        "core (medians, wall/CPU ms)",
        "eu-stack",
        "eu-stack -i -s",
        "mutexdiag no cache",
        "mutexdiag cold",
        "mutexdiag warm",
        "cold/eu -i -s",
        "warm/eu"
    );
    let (mut sum_cold_ratio, mut sum_warm_ratio, mut n) = (0.0, 0.0, 0.0);
    let mut sum_other_cold = 0.0;
    for spec in list.split(',') {
        let (name, role) = spec.split_once(':').unwrap_or((spec, "main"));
        let core = common::fixture_core(name, role);
        let app = common::manifest_dir().join(format!("fixtures/{name}/app"));
        let c = core.to_string_lossy().to_string();
        let a = app.to_string_lossy().to_string();
        let md: Vec<String> = vec![c.clone(), "--binary".into(), a.clone()];
        let eu_plain: Vec<String> = vec!["--core".into(), c.clone(), "-e".into(), a.clone()];
        let eu_full: Vec<String> = ["-i", "-s", "--core", &c, "-e", &a]
            .map(String::from)
            .to_vec();
        // Page cache and binaries warmed once.
        run(&eu, &eu_full, &[]);
        run(&bin, &md, &off);
        let (mut e1, mut e2, mut none, mut cold, mut warm) = Default::default();
        let (mut ocold, mut owarm) = (Times::default(), Times::default());
        for _ in 0..rounds {
            Times::push(&mut e1, run(&eu, &eu_plain, &[]));
            Times::push(&mut e2, run(&eu, &eu_full, &[]));
            Times::push(&mut none, run(&bin, &md, &off));
            let _ = std::fs::remove_dir_all(&dir);
            Times::push(&mut cold, run(&bin, &md, &on));
            Times::push(&mut warm, run(&bin, &md, &on));
            if let Some(o) = &other {
                let _ = std::fs::remove_dir_all(&other_dir);
                Times::push(&mut ocold, run(o, &md, &other_on));
                Times::push(&mut owarm, run(o, &md, &other_on));
            }
        }
        let [e1, e2, none, cold, warm]: [Times; 5] = [e1, e2, none, cold, warm];
        let f = |t: &Times| {
            let (w, c) = t.med();
            format!("{w:7.1} / {c:6.1}")
        };
        let cr = cold.med().0 / e2.med().0;
        let wr = warm.med().0 / e1.med().0;
        println!(
            "{:<24} {:>22} {:>22} {:>22} {:>22} {:>22} {:>14.2} {:>12.2}",
            format!("{name}/{role}"),
            f(&e1),
            f(&e2),
            f(&none),
            f(&cold),
            f(&warm),
            cr,
            wr
        );
        println!(
            "{:<24} CPU ratios: cold/eu -i -s {:.2}, warm/eu {:.2}",
            "",
            cold.med().1 / e2.med().1,
            warm.med().1 / e1.med().1.max(0.001)
        );
        if other.is_some() {
            println!(
                "{:<24} other binary: cold {}, warm {}; cold/eu -i -s {:.2} (CPU {:.2}), warm/eu {:.2}",
                "",
                f(&ocold),
                f(&owarm),
                ocold.med().0 / e2.med().0,
                ocold.med().1 / e2.med().1,
                owarm.med().0 / e1.med().0
            );
            sum_other_cold += ocold.med().0 / e2.med().0;
        }
        sum_cold_ratio += cr;
        sum_warm_ratio += wr;
        n += 1.0;
    }
    println!("load average at the end: {}", load_average());
    if n > 0.0 {
        println!(
            "mean of the wall ratios over {n} cores: cold / eu-stack -i -s = {:.2} (goal ≤ 0.5), warm / eu-stack = {:.2} (goal ≤ 1.0)",
            sum_cold_ratio / n,
            sum_warm_ratio / n
        );
        if other.is_some() {
            println!(
                "other binary, mean of the cold wall ratios: {:.2}",
                sum_other_cold / n
            );
        }
    }
}
