//! `threads --backtrace` on a core of 1 000 threads (issue 14, goal 6), next to
//! `eu-stack -i -s` and gdb measured in the same run, interleaved (paired runs,
//! medians). The core: `benches/make-core.sh` with 1 000 idle threads (glibc's
//! default 8 MiB stacks, so the core is also the sparse one of goal 3), made on
//! first use in `$MUTEXDIAG_BENCH_DIR`.
//!
//! Printed: wall time and CPU time (user + system of the child, steadier on a
//! shared machine) of each command, their ratios to this build, and in process:
//! modules loaded + every thread unwound and symbolized (fresh), and the
//! backtraces alone once the modules are loaded (the per-thread part).
//! `MUTEXDIAG_BEFORE=<older mutexdiag>` times another build too (cache off and warm);
//! `MUTEXDIAG_BENCH_ROUNDS` (default 7) sets the number of paired runs.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mutexdiag::CoreFile;
use mutexdiag::input::InputOptions;
use mutexdiag::internals::mappings;
use mutexdiag::internals::memory::AddressSpace;
use mutexdiag::internals::symbols::{Detail, Modules, SymbolOptions, unwind};

struct Tool {
    label: String,
    prog: PathBuf,
    args: Vec<String>,
    wall: Vec<Duration>,
    cpu: Vec<Duration>,
    env: Vec<(String, PathBuf)>,
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    common::print_machine();
    let rounds = common::rounds(7);
    let core = common::threads_core(8192);
    let c = core.to_str().expect("UTF-8 path").to_string();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_mutexdiag"));
    let mut tools = vec![Tool {
        label: "mutexdiag threads --backtrace".into(),
        prog: bin,
        args: vec!["threads".into(), "--backtrace".into(), c.clone()],
        wall: vec![],
        cpu: vec![],
        env: vec![("MUTEXDIAG_CACHE".into(), "off".into())],
    }];
    // The same with the on-disk cache warm (filled by the warm-up run below).
    let cache = tempfile::tempdir().expect("temp dir for the cache");
    tools.push(Tool {
        label: "mutexdiag, on-disk cache warm".into(),
        prog: tools[0].prog.clone(),
        args: tools[0].args.clone(),
        wall: vec![],
        cpu: vec![],
        env: vec![
            ("MUTEXDIAG_CACHE".into(), "on".into()),
            ("XDG_CACHE_HOME".into(), cache.path().to_path_buf()),
        ],
    });
    // The older build, the same two ways (its own cache folder, warmed below).
    let before_cache = tempfile::tempdir().expect("temp dir for the older build's cache");
    if let Some(b) = std::env::var_os("MUTEXDIAG_BEFORE") {
        tools.push(Tool {
            label: "MUTEXDIAG_BEFORE, cache off".into(),
            prog: b.clone().into(),
            args: vec!["threads".into(), "--backtrace".into(), c.clone()],
            wall: vec![],
            cpu: vec![],
            env: vec![("MUTEXDIAG_CACHE".into(), "off".into())],
        });
        tools.push(Tool {
            label: "MUTEXDIAG_BEFORE, cache warm".into(),
            prog: b.into(),
            args: vec!["threads".into(), "--backtrace".into(), c.clone()],
            wall: vec![],
            cpu: vec![],
            env: vec![
                ("MUTEXDIAG_CACHE".into(), "on".into()),
                ("XDG_CACHE_HOME".into(), before_cache.path().to_path_buf()),
            ],
        });
    }
    match common::which("eu-stack") {
        Some(eu) => tools.push(Tool {
            label: "eu-stack -i -s".into(),
            prog: eu,
            args: vec!["-i".into(), "-s".into(), "--core".into(), c.clone()],
            wall: vec![],
            cpu: vec![],
            env: vec![],
        }),
        None => eprintln!("eu-stack not installed: no eu-stack reference"),
    }
    match common::which("gdb") {
        Some(g) => tools.push(Tool {
            label: "gdb thread apply all bt".into(),
            prog: g,
            args: [
                "-batch",
                "-nx",
                "-iex",
                "set debuginfod enabled off",
                "-ex",
                "set pagination off",
                "-ex",
                "thread apply all bt",
                "-c",
                &c,
            ]
            .map(String::from)
            .to_vec(),
            wall: vec![],
            cpu: vec![],
            env: vec![],
        }),
        None => eprintln!("gdb not installed: no gdb reference"),
    }
    // Warm the page cache and the binaries once.
    for t in &tools {
        let a: Vec<&str> = t.args.iter().map(String::as_str).collect();
        common::run_timed_env(&t.prog, &a, &t.env);
    }
    let (mut fresh, mut warm) = (vec![], vec![]);
    let f = CoreFile::open(&core, &InputOptions::default()).expect("open the core");
    let parsed = f.parse().expect("parse the core");
    let maps = mappings::build(&parsed);
    let space = AddressSpace::new(&parsed);
    let opts = SymbolOptions {
        binary: None,
        sysroot: PathBuf::from("/"),
        debug_dirs: vec![],
        debuginfod_cache: None,
    };
    // As the command walks them: one `Backtracer` for all the threads.
    let all = |m: &Modules| -> usize {
        let mut tracer = unwind::Backtracer::new(m, Detail::FULL);
        parsed
            .threads
            .iter()
            .map(|t| tracer.frames(&space, parsed.arch, t).0.len())
            .sum()
    };
    let mut frames = 0;
    for _ in 0..rounds {
        for t in &mut tools {
            let a: Vec<&str> = t.args.iter().map(String::as_str).collect();
            if let Some((w, c)) = common::run_timed_env(&t.prog, &a, &t.env) {
                t.wall.push(w);
                t.cpu.push(c);
            }
        }
        let t0 = Instant::now();
        let m = Modules::load(&parsed, &maps, &opts);
        frames = all(&m);
        fresh.push(t0.elapsed());
        let t1 = Instant::now();
        let again = all(&m);
        warm.push(t1.elapsed());
        assert_eq!(frames, again);
    }
    println!(
        "core: {} threads, {frames} frames; {rounds} paired rounds; load average {}",
        parsed.threads.len(),
        common::loadavg()
    );
    let base_wall = common::median(tools[0].wall.clone());
    let base_cpu = common::median(tools[0].cpu.clone());
    for t in &tools {
        if t.wall.is_empty() {
            println!("{:<40} did not run", t.label);
            continue;
        }
        let (w, c) = (
            common::median(t.wall.clone()),
            common::median(t.cpu.clone()),
        );
        println!(
            "{:<40} wall {:>8.1} ms  cpu {:>8.1} ms   mutexdiag / this: wall {:.3}x  cpu {:.3}x",
            t.label,
            common::ms(w),
            common::ms(c),
            base_wall.as_secs_f64() / w.as_secs_f64(),
            base_cpu.as_secs_f64() / c.as_secs_f64()
        );
    }
    println!(
        "in process: modules loaded + {} backtraces {:.1} ms; backtraces alone (modules loaded) {:.1} ms",
        parsed.threads.len(),
        common::ms(common::median(fresh)),
        common::ms(common::median(warm))
    );
}
