//! The analysis of many small cores: per-core time next to `eu-stack`, and one
//! `Analyzer` for 100 analyses next to 100 fresh analyses. Every figure is printed
//! with its ratio to a reference measured in the same run.
//!
//! `cargo bench --bench engine`. Environment:
//! - `MUTEXDIAG_BEFORE=/path/to/mutexdiag`: another build of the binary (e.g. an
//!   older commit) timed next to this one, core by core.
//! - `MUTEXDIAG_BENCH_ROUNDS` (default 5): runs per core and tool (the median counts).
//!
//! Parts:
//! 1. whole process, per core (pages cached): `eu-stack`, `eu-stack -i -s`, and
//!    `mutexdiag CORE --binary app --format json` (a cold start: every file read and
//!    parsed again);
//! 2. in process, per core: a fresh analysis (`analysis::analyze`, no cache) and one
//!    through an `Analyzer` that has seen the cores before (warm cache);
//! 3. 100 analyses of the fixture cores in turn: through one `Analyzer`, and fresh;
//! 4. the work the analysis no longer does: walking every DIE of libc's DWARF for
//!    mutex variables.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mutexdiag::analysis::{self, Analyzer, AnalyzerConfig, CoreOptions, Options};

struct Core {
    label: String,
    core: PathBuf,
    app: PathBuf,
}

fn cores() -> Vec<Core> {
    let root = common::manifest_dir().join("fixtures");
    let mut v = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("list fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("meta.json").is_file())
        .collect();
    dirs.sort();
    for d in dirs {
        let name = d.file_name().unwrap().to_string_lossy().to_string();
        let mut roles: Vec<String> = std::fs::read_dir(&d)
            .expect("list scenario")
            .filter_map(|e| {
                let n = e.ok()?.file_name().to_string_lossy().to_string();
                Some(n.strip_prefix("core.")?.strip_suffix(".zst")?.to_string())
            })
            .collect();
        roles.sort();
        for r in roles {
            v.push(Core {
                label: format!("{name}/{r}"),
                core: common::fixture_core(&name, &r),
                app: d.join("app"),
            });
        }
    }
    v
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    common::print_machine();
    let rounds = common::rounds(5);
    let cores = cores();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_mutexdiag"));
    let before = std::env::var_os("MUTEXDIAG_BEFORE").map(PathBuf::from);
    let eu = common::which("eu-stack");
    if eu.is_none() {
        eprintln!("eu-stack not installed (Debian: elfutils): its columns are skipped");
    }

    // 1. Whole process, per core.
    println!("\n## 1. whole process, per core (median of {rounds} runs, ms)");
    println!(
        "| core | eu-stack | eu-stack -i -s | mutexdiag{} | mutexdiag / eu-stack | mutexdiag / eu-stack -i -s |",
        if before.is_some() { " | before" } else { "" }
    );
    println!(
        "|---|---|---|---|{}---|---|",
        if before.is_some() { "---|" } else { "" }
    );
    let mut sums = [Duration::ZERO; 4];
    let mut n = 0u32;
    for c in &cores {
        let core_arg = format!("--core={}", c.core.display());
        let exe_arg = format!("--executable={}", c.app.display());
        let mut t = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..rounds {
            if let Some(eu) = &eu {
                t[0].extend(common::run_timed(eu, &[&core_arg, &exe_arg]).map(|(w, _)| w));
                t[1].extend(
                    common::run_timed(eu, &["-i", "-s", &core_arg, &exe_arg]).map(|(w, _)| w),
                );
            }
            let args: [&std::ffi::OsStr; 5] = [
                c.core.as_os_str(),
                "--binary".as_ref(),
                c.app.as_os_str(),
                "--format".as_ref(),
                "json".as_ref(),
            ];
            t[2].extend(common::run_timed(&bin, &args).map(|(w, _)| w));
            if let Some(b) = &before {
                t[3].extend(common::run_timed(b, &args).map(|(w, _)| w));
            }
        }
        let m: Vec<Option<Duration>> = t
            .into_iter()
            .map(|v| (!v.is_empty()).then(|| common::median(v)))
            .collect();
        let f = |d: Option<Duration>| {
            d.map_or_else(|| "-".to_string(), |d| format!("{:.1}", common::ms(d)))
        };
        let ratio = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
            (Some(a), Some(b)) => format!("{:.2}", a.as_secs_f64() / b.as_secs_f64()),
            _ => "-".into(),
        };
        println!(
            "| {} | {} | {} | {}{} | {} | {} |",
            c.label,
            f(m[0]),
            f(m[1]),
            f(m[2]),
            if before.is_some() {
                format!(" | {}", f(m[3]))
            } else {
                String::new()
            },
            ratio(m[2], m[0]),
            ratio(m[2], m[1]),
        );
        if m.iter().take(3).all(Option::is_some) || (eu.is_none() && m[2].is_some()) {
            for (s, x) in sums.iter_mut().zip(&m) {
                *s += x.unwrap_or_default();
            }
            n += 1;
        }
    }
    if n > 0 {
        let avg = |d: Duration| common::ms(d) / f64::from(n);
        println!(
            "mean over {n} cores: eu-stack {:.1} ms, eu-stack -i -s {:.1} ms, mutexdiag {:.1} ms{}",
            avg(sums[0]),
            avg(sums[1]),
            avg(sums[2]),
            if before.is_some() {
                format!(", before {:.1} ms", avg(sums[3]))
            } else {
                String::new()
            }
        );
        if eu.is_some() {
            println!(
                "ratio (cold process): mutexdiag / eu-stack = {:.2}, mutexdiag / eu-stack -i -s = {:.2}",
                sums[2].as_secs_f64() / sums[0].as_secs_f64(),
                sums[2].as_secs_f64() / sums[1].as_secs_f64()
            );
        }
        if before.is_some() {
            println!(
                "ratio: mutexdiag / before = {:.2}",
                sums[2].as_secs_f64() / sums[3].as_secs_f64()
            );
        }
    }

    // 2. In process, per core: fresh vs a warm Analyzer.
    println!("\n## 2. in process, per core (median of {rounds}, ms)");
    let warm = Analyzer::new(AnalyzerConfig::default());
    for c in &cores {
        let _ = warm.analyze(&c.core, &core_opts(c));
    }
    println!("| core | fresh analyze | warm Analyzer | warm / fresh |");
    println!("|---|---|---|---|");
    let (mut fs, mut ws) = (Duration::ZERO, Duration::ZERO);
    for c in &cores {
        let opts = Options {
            binary: Some(c.app.clone()),
            ..Options::default()
        };
        let mut f = Vec::new();
        let mut w = Vec::new();
        for _ in 0..rounds {
            let t = Instant::now();
            let _ = std::hint::black_box(analysis::analyze(&c.core, &opts));
            f.push(t.elapsed());
            let t = Instant::now();
            let _ = std::hint::black_box(warm.analyze(&c.core, &core_opts(c)));
            w.push(t.elapsed());
        }
        let (f, w) = (common::median(f), common::median(w));
        fs += f;
        ws += w;
        println!(
            "| {} | {:.2} | {:.2} | {:.3} |",
            c.label,
            common::ms(f),
            common::ms(w),
            w.as_secs_f64() / f.as_secs_f64()
        );
    }
    let k = cores.len() as f64;
    println!(
        "mean: fresh {:.2} ms, warm {:.2} ms; ratio warm / fresh = {:.3}",
        common::ms(fs) / k,
        common::ms(ws) / k,
        ws.as_secs_f64() / fs.as_secs_f64()
    );

    // 3. 100 analyses: one Analyzer vs fresh.
    println!("\n## 3. 100 analyses of the fixture cores in turn");
    let t = Instant::now();
    for i in 0..100 {
        let c = &cores[i % cores.len()];
        let opts = Options {
            binary: Some(c.app.clone()),
            ..Options::default()
        };
        let _ = std::hint::black_box(analysis::analyze(&c.core, &opts));
    }
    let fresh = t.elapsed();
    let shared = Analyzer::new(AnalyzerConfig::default());
    let t = Instant::now();
    for i in 0..100 {
        let c = &cores[i % cores.len()];
        let _ = std::hint::black_box(shared.analyze(&c.core, &core_opts(c)));
    }
    let one = t.elapsed();
    println!(
        "100 fresh analyses: {:.0} ms; 100 through one Analyzer: {:.0} ms; ratio shared / fresh = {:.3}",
        common::ms(fresh),
        common::ms(one),
        one.as_secs_f64() / fresh.as_secs_f64()
    );
    println!("Analyzer counters: {:?}", shared.stats());

    // 4. The DIE walk of libc the analysis no longer does.
    println!("\n## 4. the walk of libc's DWARF for mutex variables (no longer done)");
    if let Some(c) = cores.iter().find(|c| c.label == "abba/main") {
        libc_walk(c, rounds);
    }
}

fn core_opts(c: &Core) -> CoreOptions {
    CoreOptions {
        binary: Some(c.app.clone()),
        ..CoreOptions::default()
    }
}

fn libc_walk(c: &Core, rounds: usize) {
    use mutexdiag::internals::symbols::{Modules, SymbolOptions};
    let f = mutexdiag::CoreFile::open(&c.core, &Default::default()).expect("open");
    let core = f.parse().expect("parse");
    let maps = mutexdiag::internals::mappings::build(&core);
    let mut walk = Vec::new();
    let mut load = Vec::new();
    for _ in 0..rounds {
        let mods = Modules::load(&core, &maps, &SymbolOptions::default());
        let Some(libc) = mods.iter().find(|m| m.short_name() == "libc.so.6") else {
            println!("libc.so.6 not found");
            return;
        };
        let t = Instant::now();
        if !libc.has_dwarf() {
            println!("libc.so.6 has no DWARF here (libc6-dbg not installed)");
            return;
        }
        load.push(t.elapsed());
        let t = Instant::now();
        let n = libc.with_dwarf(|d| {
            mutexdiag::internals::mutex::dwarf::find(d, &["pthread_mutex_t"])
                .map(|f| f.direct.len())
        });
        walk.push(t.elapsed());
        std::hint::black_box(n);
    }
    println!(
        "{}: loading libc's DWARF {:.1} ms (still done: frames in libc get file and line); walking every DIE for mutex variables {:.1} ms (no longer done)",
        c.label,
        common::ms(common::median(load)),
        common::ms(common::median(walk))
    );
}
