//! The scan's fast path (`discover::scan_range`, word filters first) finds exactly the
//! hits of the straightforward loop (`discover::scan_range_plain`) over real memory:
//! every writable or shared mapping of every fixture core and every corpus core, with
//! several layouts (both byte orders, strides of 4 and 8), at shifted start addresses,
//! and with small hit limits.

use mutexdiag::internals::coredump::Core;
use mutexdiag::internals::mappings;
use mutexdiag::internals::memory::AddressSpace;
use mutexdiag::internals::mutex::Layout;
use mutexdiag::internals::mutex::discover::{self, ScanScope};
use mutexdiag::internals::mutex::select;

mod support;

/// Layouts tried on every core, besides the core's own glibc and musl layouts.
const EXTRA: [&str; 6] = [
    "glibc-x86_64",
    "glibc-i386",
    "musl-x86_64",
    "glibc-s390x",
    "glibc-ppc",
    "glibc-aarch64",
];

#[derive(Default)]
struct Tally {
    ranges: usize,
    bytes: u64,
    /// Hits of the plain loop, per layout name.
    hits: std::collections::BTreeMap<String, usize>,
}

fn compare(label: &str, data: &[u8], tally: &mut Tally) {
    let Ok(core) = Core::parse(data) else {
        return;
    };
    let maps = mappings::build(&core);
    let space = AddressSpace::new(&core);
    let mut names: Vec<String> = EXTRA.iter().map(|s| s.to_string()).collect();
    names.push(format!("glibc-{}", core.arch.name()));
    names.push(format!("musl-{}", core.arch.name()));
    names.sort();
    names.dedup();
    let layouts: Vec<Box<dyn Layout>> = names.iter().filter_map(|n| select::builtin(n)).collect();
    for (start, bytes) in discover::scan_ranges(&space, &maps, ScanScope::All) {
        tally.ranges += 1;
        tally.bytes += bytes.len() as u64;
        for l in &layouts {
            // Shifted starts: the same bytes seen from other alignments.
            for shift in [0usize, 1, 4] {
                let Some(b) = bytes.get(shift..) else {
                    continue;
                };
                let base = start + shift as u64;
                let mut plain = Vec::new();
                discover::scan_range_plain(
                    l.as_ref(),
                    base,
                    b,
                    space.endian(),
                    &mut plain,
                    usize::MAX,
                );
                let mut fast = Vec::new();
                discover::scan_range(l.as_ref(), base, b, space.endian(), &mut fast, usize::MAX);
                assert_eq!(
                    fast,
                    plain,
                    "{label}: layout {} over {base:#x}+{:#x}",
                    l.name(),
                    b.len()
                );
                if shift == 0 {
                    *tally.hits.entry(l.name().to_string()).or_default() += plain.len();
                }
                // The limit stops both at the same hit.
                for limit in [1, 2] {
                    if plain.len() > limit {
                        let mut p = Vec::new();
                        discover::scan_range_plain(
                            l.as_ref(),
                            base,
                            b,
                            space.endian(),
                            &mut p,
                            limit,
                        );
                        let mut f = Vec::new();
                        discover::scan_range(l.as_ref(), base, b, space.endian(), &mut f, limit);
                        assert_eq!(f, p, "{label}: layout {} limit {limit}", l.name());
                        assert_eq!(p.len(), limit);
                    }
                }
            }
        }
    }
}

/// `one_pass` with every window of two chunks or more split between two threads
/// finds what one thread finds: the same scan hits in the same order, the same
/// magic hits and counts, with scan layouts of both byte orders and every Solaris
/// magic layout (as the Solaris guest search does). Returns the windows' bytes.
fn compare_split(label: &str, data: &[u8]) -> u64 {
    let Ok(core) = Core::parse(data) else {
        return 0;
    };
    let maps = mappings::build(&core);
    let space = AddressSpace::new(&core);
    let all = select::builtins();
    let scans: Vec<&dyn Layout> = all
        .iter()
        .filter(|l| l.magic().is_none())
        .map(|l| l.as_ref())
        .collect();
    let magic: Vec<(&dyn Layout, _)> = all
        .iter()
        .filter(|l| l.magic().is_some())
        .map(|l| (l.as_ref(), space.endian()))
        .collect();
    let one = discover::one_pass_split(&space, &maps, ScanScope::All, &scans, &magic, usize::MAX);
    let two = discover::one_pass_split(&space, &maps, ScanScope::All, &scans, &magic, 1);
    assert_eq!(one.scans, two.scans, "{label}: scan hits");
    let json = |m: &[discover_magic::MagicScan]| serde_json::to_string(m).expect("json");
    assert_eq!(json(&one.magic), json(&two.magic), "{label}: magic hits");
    one.magic
        .iter()
        .map(|m| m.stats.bytes_scanned)
        .max()
        .unwrap_or(0)
}

use mutexdiag::internals::mutex::magic as discover_magic;

#[test]
fn split_pass_equals_one_thread_on_fixture_and_corpus_cores() {
    let mut bytes = 0;
    for f in &support::fixture_cores() {
        let data = support::decompress(&f.core);
        bytes += compare_split(&format!("{}/{}", f.scenario, f.role), &data);
    }
    assert!(bytes > 0, "nothing scanned");
    eprintln!("fixtures: {bytes} bytes scanned both ways");
    if let Some(corpus) = support::corpus_cores(
        "scan_fast_path::split_pass_equals_one_thread_on_fixture_and_corpus_cores (corpus part)",
    ) {
        for (id, path) in corpus {
            compare_split(&id, &support::decompress(&path));
        }
    }
}

#[test]
fn fast_scan_equals_plain_scan_on_fixture_cores() {
    let mut tally = Tally::default();
    let fixtures = support::fixture_cores();
    assert!(fixtures.len() >= 20, "fixture cores missing");
    for f in &fixtures {
        let data = support::decompress(&f.core);
        compare(&format!("{}/{}", f.scenario, f.role), &data, &mut tally);
    }
    eprintln!(
        "fixtures: {} ranges, {} bytes, plain-loop hits per layout: {:?}",
        tally.ranges, tally.bytes, tally.hits
    );
    // Not vacuous: the fixtures hold locked glibc mutexes (x86_64 and i386) that both
    // paths find.
    assert!(tally.hits.get("glibc-x86_64").copied().unwrap_or(0) >= 10);
    assert!(tally.hits.get("glibc-i386").copied().unwrap_or(0) >= 1);
}

#[test]
fn fast_scan_equals_plain_scan_on_corpus_cores() {
    let mut tally = Tally::default();
    let Some(corpus) =
        support::corpus_cores("scan_fast_path::fast_scan_equals_plain_scan_on_corpus_cores")
    else {
        return;
    };
    for (id, path) in corpus {
        let data = support::decompress(&path);
        compare(&id, &data, &mut tally);
    }
    eprintln!(
        "corpus: {} ranges, {} bytes, plain-loop hits per layout: {:?}",
        tally.ranges, tally.bytes, tally.hits
    );
}
