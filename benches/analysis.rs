//! The whole analysis (`mutexdiag::analysis::analyze`: open, parse, layout, discovery,
//! decoding, findings) of fixture cores, expanded once from `fixtures/NAME/core.ROLE.zst`
//! into the cache folder; with default options (no `--binary`) and with the
//! fixture's `app` as `--binary` (symbols and DWARF), and with an empty sysroot (no
//! library or debug file found: the analysis alone). Also the default analysis of
//! the 1 GiB generated core of the `scan` benchmark, where the scan dominates.
//!
//! `cargo bench --bench analysis`.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mutexdiag::analysis::{self, Options};

fn bench(c: &mut Criterion) {
    common::print_machine();
    let empty = common::bench_dir().join("empty-sysroot");
    std::fs::create_dir_all(&empty).expect("create the empty sysroot");
    let mut g = c.benchmark_group("analysis/fixture");
    g.warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));
    for (name, role) in [
        ("sysv-private", "parent"),
        ("threads-contention", "main"),
        ("kinds", "main"),
    ] {
        let core = common::fixture_core(name, role);
        let app = common::manifest_dir().join(format!("fixtures/{name}/app"));
        let label = format!("{name}-{role}");
        let bytes = std::fs::metadata(&core).map_or(0, |m| m.len());
        let r = analysis::analyze(&core, &Options::default()).expect("analyze");
        eprintln!(
            "{label}: {bytes} bytes, {} mutexes, {} findings",
            r.mutexes.len(),
            r.findings.len()
        );
        g.bench_with_input(BenchmarkId::new("default", &label), &core, |b, core| {
            b.iter(|| analysis::analyze(black_box(core), &Options::default()).expect("analyze"))
        });
        let with_binary = Options {
            binary: Some(app),
            ..Options::default()
        };
        g.bench_with_input(BenchmarkId::new("with-binary", &label), &core, |b, core| {
            b.iter(|| analysis::analyze(black_box(core), &with_binary).expect("analyze"))
        });
        // An empty sysroot: the core's libraries (and their debug info) are not found,
        // so this is the analysis without reading any other file.
        let bare = Options {
            sysroot: empty.clone(),
            ..Options::default()
        };
        g.bench_with_input(
            BenchmarkId::new("empty-sysroot", &label),
            &core,
            |b, core| b.iter(|| analysis::analyze(black_box(core), &bare).expect("analyze")),
        );
    }
    g.finish();

    let big = common::scan_core();
    let mut g = c.benchmark_group("analysis/generated");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(3))
        .measurement_time(Duration::from_secs(15));
    g.bench_function("default/scan-1152MiB-shared", |b| {
        b.iter(|| analysis::analyze(black_box(&big), &Options::default()).expect("analyze"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
