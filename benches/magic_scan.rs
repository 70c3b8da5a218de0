//! Magic-number scan throughput on a real, page-cached core of at least 1 GiB
//! (`docs/performance.md`, "Magic scan"). The core is made on first use by
//! `benches/make-big-core.sh` under `target/bench-data/` and never committed.
//!
//! Measures, single-threaded, over every dumped byte of the core:
//! - `search`: the aligned MUTEX_MAGIC occurrences only (`magic::count_aligned`);
//! - `scan`: the full discovery (`magic::scan`: search + validation + decoding).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mutexdiag::internals::coredump::Core;
use mutexdiag::internals::memory::AddressSpace;
use mutexdiag::internals::mutex::Layout;
use mutexdiag::internals::mutex::magic;
use mutexdiag::internals::mutex::solaris::{Isa, SolarisMutex};

fn big_core() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = std::env::var_os("MUTEXDIAG_BIG_CORE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/bench-data/big.core"));
    if !path.exists() {
        let st = Command::new("bash")
            .arg(root.join("benches/make-big-core.sh"))
            .arg(&path)
            .status()
            .ok()?;
        if !st.success() {
            return None;
        }
    }
    Some(path)
}

fn bench(c: &mut Criterion) {
    let Some(path) = big_core() else {
        eprintln!("magic_scan: no big core could be made (see benches/make-big-core.sh)");
        return;
    };
    let file = std::fs::File::open(&path).expect("open big core");
    // SAFETY: read-only mapping of a file this benchmark made and nobody changes.
    let map = unsafe { memmap2::Mmap::map(&file) }.expect("mmap");
    let core = Core::parse(&map).expect("parse");
    let space = AddressSpace::new(&core);
    let layout = SolarisMutex::new(Isa::Amd64);
    let magic = layout.magic().expect("magic");
    // Warm the page cache and check the planted mutexes are found.
    let r = magic::scan(&space, &layout);
    let bytes = r.stats.bytes_scanned;
    assert!(
        bytes >= 1 << 30,
        "the core holds {bytes} dumped bytes, want >= 1 GiB"
    );
    assert!(r.hits.len() >= 64, "{} hits", r.hits.len());
    eprintln!(
        "magic_scan: {} dumped bytes, {} raw / {} aligned magic hits, {} validated",
        bytes,
        r.stats.raw_hits,
        r.stats.aligned_hits,
        r.hits.len()
    );

    let mut g = c.benchmark_group("magic_scan");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(15));
    g.bench_function("search", |b| {
        b.iter(|| magic::count_aligned(&space, magic, layout.align()).aligned_hits)
    });
    g.bench_function("scan", |b| {
        b.iter(|| magic::scan(&space, &layout).hits.len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
