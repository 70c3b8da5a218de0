//! The scan for locked mutexes over a real core of more than 1 GiB whose big mapping is
//! shared memory filled with ordinary data (text, pointers, small integers, counters,
//! random bytes, records, doubles, zeros) and a few locked mutexes at known places.
//!
//! Before measuring, it checks what the scan finds there: every planted mutex, and
//! every other hit (a false hit), listed with the kind of data it sits in.
//!
//! `cargo bench --bench scan`. The core is made on first use (see benches/make-core.sh).

mod common;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mutexdiag::input::{Input, InputOptions};
use mutexdiag::internals::coredump::Core;
use mutexdiag::internals::mappings;
use mutexdiag::internals::memory::AddressSpace;
use mutexdiag::internals::mutex::discover::{self, SCAN_LIMIT, ScanScope};
use mutexdiag::internals::mutex::select;

/// Sum the bytes as little-endian u64 words: the plain memory-read baseline.
fn sum_words(bytes: &[u8]) -> u64 {
    bytes.chunks_exact(8).fold(0u64, |a, c| {
        a.wrapping_add(u64::from_le_bytes([
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
        ]))
    })
}

fn bench(c: &mut Criterion) {
    common::print_machine();
    let path = common::scan_core();
    let facts = common::Facts::read(&path);
    let input = Input::open(&path, &InputOptions::default()).expect("open the core");
    let core = Core::parse(input.mapped().expect("a mapped core")).expect("parse the core");
    let maps = mappings::build(&core);
    let space = AddressSpace::new(&core);
    let layout = select::builtin("glibc-x86_64").expect("glibc-x86_64 layout");
    let ranges = discover::scan_ranges(&space, &maps, ScanScope::Shared);
    let total: usize = ranges.iter().map(|(_, b)| b.len()).sum();
    eprintln!(
        "core {} ({} bytes); shared mappings scanned: {} ({} bytes)",
        path.display(),
        input.mapped().expect("a mapped core").len(),
        ranges.len(),
        total
    );
    assert!(
        total >= 1 << 30,
        "the scanned shared memory must be at least 1 GiB"
    );

    // What the scan finds: the fast path and the plain loop must agree exactly.
    let hits = discover::scan(layout.as_ref(), &space, &maps, ScanScope::Shared);
    let mut plain = Vec::new();
    for (start, bytes) in &ranges {
        discover::scan_range_plain(
            layout.as_ref(),
            *start,
            bytes,
            space.endian(),
            &mut plain,
            SCAN_LIMIT,
        );
    }
    assert_eq!(hits, plain, "fast and plain scans disagree");
    let planted: BTreeMap<u64, &str> = facts
        .mutexes
        .iter()
        .map(|(a, t)| (*a, t.as_str()))
        .collect();
    let found = hits.iter().filter(|a| planted.contains_key(a)).count();
    let false_hits: Vec<u64> = hits
        .iter()
        .copied()
        .filter(|a| !planted.contains_key(a))
        .collect();
    eprintln!("planted locked mutexes found: {found}/{}", planted.len());
    for (a, t) in &planted {
        if !hits.contains(a) {
            eprintln!("  MISSED planted {t} mutex at {a:#x}");
        }
    }
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    let mut bytes_by_kind: BTreeMap<&str, u64> = BTreeMap::new();
    for b in &facts.blocks {
        *bytes_by_kind.entry(b.2.as_str()).or_default() += b.1 - b.0;
    }
    eprintln!(
        "false hits (scan hits that are not planted mutexes): {}",
        false_hits.len()
    );
    for a in &false_hits {
        let kind = facts.block_kind(*a);
        *by_kind.entry(kind).or_default() += 1;
        let d = space
            .read(*a, layout.size())
            .map(|b| layout.decode(&b, space.endian()));
        let fields = d.map_or_else(|e| e.to_string(), |d| format!("{:?}", d.fields));
        eprintln!("  {a:#x} in {kind} data: {fields}");
    }
    for (k, n) in &bytes_by_kind {
        eprintln!(
            "  fill {k:>10}: {:>5} MiB, {} false hits",
            n >> 20,
            by_kind.get(k).copied().unwrap_or(0)
        );
    }

    let mut g = c.benchmark_group("scan-1152MiB-shared");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(5))
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Bytes(total as u64));
    g.bench_function("read-baseline-sum-u64", |b| {
        b.iter(|| {
            ranges.iter().fold(0u64, |a, (_, bytes)| {
                a.wrapping_add(sum_words(black_box(bytes)))
            })
        })
    });
    g.bench_function("scan", |b| {
        b.iter(|| discover::scan(layout.as_ref(), black_box(&space), &maps, ScanScope::Shared))
    });
    g.bench_function("scan-plain-loop", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            for (start, bytes) in &ranges {
                discover::scan_range_plain(
                    layout.as_ref(),
                    *start,
                    black_box(bytes),
                    space.endian(),
                    &mut out,
                    SCAN_LIMIT,
                );
            }
            out
        })
    });
    // A run as the command line does it: map the file, parse, scan. The page cache holds
    // the core, but every page is mapped again; the baseline pays the same.
    g.bench_function("open-parse-sum-u64-baseline", |b| {
        b.iter(|| {
            let input = Input::open(&path, &InputOptions::default()).expect("open");
            let core = Core::parse(input.mapped().expect("a mapped core")).expect("parse");
            let maps = mappings::build(&core);
            let space = AddressSpace::new(&core);
            discover::scan_ranges(&space, &maps, ScanScope::Shared)
                .iter()
                .fold(0u64, |a, (_, bytes)| a.wrapping_add(sum_words(bytes)))
        })
    });
    g.bench_function("open-parse-scan", |b| {
        b.iter(|| {
            let input = Input::open(&path, &InputOptions::default()).expect("open");
            let core = Core::parse(input.mapped().expect("a mapped core")).expect("parse");
            let maps = mappings::build(&core);
            let space = AddressSpace::new(&core);
            discover::scan(layout.as_ref(), &space, &maps, ScanScope::Shared).len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
