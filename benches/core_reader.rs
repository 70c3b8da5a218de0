//! The core reader: `Core::parse` (ELF header, program headers, every note) and
//! `mappings::build` on real kernel cores, over three series that change one thing
//! at a time:
//!
//! - memory: 16 MiB, 256 MiB, 1 GiB of dumped memory, 100 extra mappings;
//! - mappings: 100, 1000, 10000 extra one-page mappings (PT_LOADs; one in three a
//!   file mapping, so NT_FILE grows too), 16 MiB of memory;
//! - threads: 0, 100, 1000 extra threads (notes: NT_PRSTATUS, NT_PRFPREG, NT_X86_XSTATE,
//!   NT_SIGINFO per thread; each thread also adds its stack and guard mappings).
//!
//! `cargo bench --bench core_reader`. Cores are made on first use (benches/make-core.sh).

mod common;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mutexdiag::input::{Input, InputOptions};
use mutexdiag::internals::coredump::Core;
use mutexdiag::internals::mappings;

struct Case {
    series: &'static str,
    label: String,
    path: PathBuf,
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for mib in ["16", "256", "1024"] {
        v.push(Case {
            series: "memory",
            label: format!("{mib}MiB"),
            path: common::core(
                &format!("reader-{mib}M-m100-t0"),
                &["--mib", mib, "--fill", "random", "--maps", "100"],
            ),
        });
    }
    for maps in ["100", "1000", "10000"] {
        v.push(Case {
            series: "mappings",
            label: format!("{maps}maps"),
            path: common::core(
                &format!("reader-16M-m{maps}-t0"),
                &["--mib", "16", "--fill", "random", "--maps", maps],
            ),
        });
    }
    for threads in ["0", "100", "1000"] {
        v.push(Case {
            series: "threads",
            label: format!("{threads}threads"),
            path: common::core(
                &format!("reader-16M-m100-t{threads}"),
                &[
                    "--mib",
                    "16",
                    "--fill",
                    "random",
                    "--maps",
                    "100",
                    "--threads",
                    threads,
                ],
            ),
        });
    }
    v
}

fn bench(c: &mut Criterion) {
    common::print_machine();
    let cases = cases();
    let inputs: Vec<Input> = cases
        .iter()
        .map(|k| Input::open(&k.path, &InputOptions::default()).expect("open core"))
        .collect();
    for (k, input) in cases.iter().zip(&inputs) {
        let core = Core::parse(input.mapped().expect("a mapped core")).expect("parse");
        let maps = mappings::build(&core);
        let note_bytes: usize = core.notes.iter().map(|n| n.size).sum();
        eprintln!(
            "{}/{}: {} bytes, {} segments, {} notes ({} bytes of note data), {} threads, {} NT_FILE entries, {} mappings",
            k.series,
            k.label,
            input.mapped().expect("a mapped core").len(),
            core.segments.len(),
            core.notes.len(),
            note_bytes,
            core.threads.len(),
            core.files.as_ref().map_or(0, |f| f.entries.len()),
            maps.len()
        );
    }
    for series in ["memory", "mappings", "threads"] {
        let mut g = c.benchmark_group(format!("core-reader/{series}"));
        g.warm_up_time(Duration::from_secs(2))
            .measurement_time(Duration::from_secs(5));
        for (k, input) in cases.iter().zip(&inputs) {
            if k.series != series {
                continue;
            }
            g.bench_with_input(
                BenchmarkId::new("parse+mappings", &k.label),
                input,
                |b, input| {
                    b.iter(|| {
                        let core = Core::parse(black_box(input.mapped().expect("a mapped core")))
                            .expect("parse");
                        mappings::build(&core).len()
                    })
                },
            );
        }
        g.finish();
    }
    // With the open (mmap) of the file as well: what a command pays before analysis.
    let mut g = c.benchmark_group("core-reader/open");
    g.warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));
    for k in cases.iter().filter(|k| k.series == "memory") {
        g.bench_with_input(
            BenchmarkId::new("open+parse+mappings", &k.label),
            &k.path,
            |b, path| {
                b.iter(|| {
                    let input = Input::open(path, &InputOptions::default()).expect("open");
                    let core = Core::parse(input.mapped().expect("a mapped core")).expect("parse");
                    mappings::build(&core).len()
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
