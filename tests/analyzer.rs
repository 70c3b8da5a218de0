//! One `Analyzer` for many cores: the reports are those of fresh analyses, and the
//! files the cores share (the C library's debug file, its DWARF) are read once.

use std::path::{Path, PathBuf};

use mutexdiag::analysis::{self, Analyzer, AnalyzerConfig, CoreOptions};

mod support;

use support::root;

/// Every fixture core (relative to the repository root) and its executable.
fn fixture_cores() -> Vec<(PathBuf, PathBuf)> {
    support::fixture_cores()
        .iter()
        .map(|f| (PathBuf::from(f.rel_core()), PathBuf::from(f.rel_app())))
        .collect()
}

fn core_opts(app: &Path) -> CoreOptions {
    CoreOptions {
        binary: Some(root().join(app)),
        ..CoreOptions::default()
    }
}

fn json(r: &mutexdiag::report::model::Report) -> String {
    serde_json::to_string_pretty(r).expect("serialise")
}

/// The libc debug file the x86-64 fixtures need, when this machine has it.
fn libc_debug_installed() -> bool {
    // The build-id directory of libc6-dbg; the golden test checks the exact file.
    Path::new("/usr/lib/debug/.build-id").is_dir()
        && std::fs::read_to_string(root().join("tests/data/golden/host.txt"))
            .is_ok_and(|t| t.lines().next().is_some_and(|l| l.ends_with(" yes")))
}

#[test]
fn hundred_analyses_read_shared_debug_info_once() {
    let cores = fixture_cores();
    assert!(cores.len() >= 30, "{} fixture cores", cores.len());
    let shared = Analyzer::new(AnalyzerConfig::default());
    // The cores analysed in turn, 100 analyses in all, each compared with a fresh
    // analysis of the same core (no cache).
    let mut fresh_reports = Vec::new();
    for (core, app) in &cores {
        let opts = analysis::Options {
            binary: Some(root().join(app)),
            ..analysis::Options::default()
        };
        let r = analysis::analyze(&root().join(core), &opts).expect("fresh analysis");
        fresh_reports.push(json(&r));
    }
    let mut after_first_round = None;
    for i in 0..100 {
        let k = i % cores.len();
        if i == cores.len() {
            after_first_round = Some(shared.stats());
        }
        let (core, app) = &cores[k];
        let r = shared
            .analyze(&root().join(core), &core_opts(app))
            .expect("shared analysis");
        assert_eq!(
            json(&r),
            fresh_reports[k],
            "{}: the shared analyzer's report differs from a fresh one",
            core.display()
        );
    }
    let first = after_first_round.expect("more than 100 cores?");
    let s = shared.stats();
    eprintln!("after one round of {} cores: {first:?}", cores.len());
    eprintln!("after 100 analyses: {s:?}");
    // Nothing is read again once every core was seen.
    assert_eq!(s.debug_files_opened, first.debug_files_opened);
    assert_eq!(s.dwarf_loads, first.dwarf_loads);
    assert_eq!(s.dwarf_variable_walks, first.dwarf_variable_walks);
    assert_eq!(s.misses, first.misses);
    assert!(s.hits > first.hits);
    if !libc_debug_installed() {
        support::skip(
            "hundred_analyses_read_shared_debug_info_once",
            "the count of debug files: libc6-dbg (the fixtures' libc debug file) is not installed",
        );
        return;
    }
    // x86-64 glibc's libc.so.6 and ld-linux-x86-64.so.2 have separate debug files
    // (the fixture programs carry their own DWARF): each is opened once for all
    // 100 analyses, where fresh analyses open them for every core.
    assert_eq!(
        s.debug_files_opened, 2,
        "libc and ld.so debug files opened {} times",
        s.debug_files_opened
    );
}

#[test]
fn the_c_library_dwarf_is_not_walked_for_variables() {
    if !libc_debug_installed() {
        support::skip(
            "the_c_library_dwarf_is_not_walked_for_variables",
            "libc6-dbg (the fixtures' libc debug file) is not installed",
        );
        return;
    }
    // abba: the program, libc.so.6, ld-linux-x86-64.so.2 and the vDSO. The program's
    // and the dynamic linker's DWARF are walked for mutex variables; libc's is not
    // (its symbol tables name its mutexes), yet its mutexes are found by name.
    let a = Analyzer::new(AnalyzerConfig::default());
    let r = a
        .analyze(
            &root().join("fixtures/abba/core.main.zst"),
            &core_opts(Path::new("fixtures/abba/app")),
        )
        .unwrap();
    let s = a.stats();
    assert_eq!(s.dwarf_variable_walks, 2, "{s:?}");
    let names: Vec<&str> = r
        .mutexes
        .iter()
        .filter(|m| m.location.ends_with("of libc.so.6"))
        .filter_map(|m| m.symbol.as_deref())
        .collect();
    for want in [
        "__aio_requests_mutex",
        "__gai_requests_mutex",
        "__timer_active_sigev_thread_lock",
    ] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
}

#[test]
fn fresh_analyses_read_debug_files_every_time() {
    if !libc_debug_installed() {
        support::skip(
            "fresh_analyses_read_debug_files_every_time",
            "libc6-dbg (the fixtures' libc debug file) is not installed",
        );
        return;
    }
    // The reference the shared count is compared with: the same analyses with a
    // cache of 0 entries.
    let cores = fixture_cores();
    let a = Analyzer::new(AnalyzerConfig {
        cache_entries: 0,
        ..AnalyzerConfig::default()
    });
    let glibc64: Vec<_> = cores
        .iter()
        .filter(|(c, _)| {
            let s = c.to_string_lossy();
            !s.contains("i386") && !s.contains("musl") && !s.contains("solaris")
        })
        .take(5)
        .collect();
    for (core, app) in &glibc64 {
        a.analyze(&root().join(core), &core_opts(app))
            .expect("analysis");
    }
    let s = a.stats();
    eprintln!("5 glibc cores, no cache: {s:?}");
    assert_eq!(s.hits, 0);
    assert!(
        s.debug_files_opened >= 5,
        "debug files opened {} times for 5 cores",
        s.debug_files_opened
    );
}

#[test]
fn one_analyzer_from_two_threads() {
    let cores = fixture_cores();
    let a = Analyzer::new(AnalyzerConfig::default());
    let expected: Vec<String> = cores
        .iter()
        .map(|(core, app)| {
            let opts = analysis::Options {
                binary: Some(root().join(app)),
                ..analysis::Options::default()
            };
            json(&analysis::analyze(&root().join(core), &opts).expect("analysis"))
        })
        .collect();
    std::thread::scope(|s| {
        for t in 0..2 {
            let a = &a;
            let cores = &cores;
            let expected = &expected;
            s.spawn(move || {
                for (i, (core, app)) in cores.iter().enumerate() {
                    if i % 2 != t {
                        continue;
                    }
                    let r = a.analyze(&root().join(core), &core_opts(app)).unwrap();
                    assert_eq!(json(&r), expected[i], "{}", core.display());
                }
            });
        }
    });
}

#[test]
fn cache_bound_is_kept() {
    let cores = fixture_cores();
    let a = Analyzer::new(AnalyzerConfig {
        cache_entries: 2,
        ..AnalyzerConfig::default()
    });
    for (core, app) in cores.iter().take(6) {
        a.analyze(&root().join(core), &core_opts(app)).unwrap();
    }
    let s = a.stats();
    assert!(s.entries <= 2, "{s:?}");
    assert!(s.evictions > 0, "{s:?}");
}

#[test]
fn a_bad_core_is_an_error_and_the_analyzer_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.core");
    std::fs::write(&bad, b"\x7fELF not really").unwrap();
    let a = Analyzer::new(AnalyzerConfig::default());
    let e = a.analyze(&bad, &CoreOptions::default()).unwrap_err();
    assert!(e.to_string().contains("bad.core"), "{e}");
    let (core, app) = &fixture_cores()[0];
    assert!(a.analyze(&root().join(core), &core_opts(app)).is_ok());
}
