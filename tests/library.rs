//! The library is usable without the CLI: `analyze` is a pure call returning a
//! serialisable report, and everything crossing threads is `Send`.

use std::path::PathBuf;

use mutexdiag::analysis::{Options, analyze};
use mutexdiag::report::model::Report;

mod support;

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}

#[test]
fn report_and_options_cross_threads() {
    assert_send::<Report>();
    assert_send::<Options>();
    assert_sync::<Options>();
    assert_send::<mutexdiag::Error>();
}

#[test]
fn analyze_in_parallel_threads() {
    let root = support::root();
    let cores = [
        "fixtures/sysv-private/core.parent.zst",
        "fixtures/abba/core.main.zst",
        "fixtures/pshared-ok/core.parent.zst",
    ];
    let handles: Vec<_> = cores
        .iter()
        .map(|c| {
            let p = root.join(c);
            std::thread::spawn(move || analyze(&p, &Options::default()))
        })
        .collect();
    let reports: Vec<Report> = handles
        .into_iter()
        .map(|h| h.join().expect("thread").expect("analysis"))
        .collect();
    let errors: Vec<Vec<&str>> = reports
        .iter()
        .map(|r| {
            r.findings
                .iter()
                .filter(|f| f.severity == mutexdiag::report::model::Severity::Error)
                .map(|f| f.code.as_str())
                .collect()
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            vec!["cross-process-private-mutex"],
            vec!["deadlock-cycle"],
            Vec::<&str>::new()
        ]
    );
    // The report serialises with its schema version.
    let v = serde_json::to_value(&reports[0]).expect("json");
    assert_eq!(v["schema_version"], 1);
}

/// Read-only file mappings that the core did not dump are served from the files
/// when file backing is on, and are "not dumped" (never zeros) when it is off.
#[test]
fn file_backing_serves_undumped_text() {
    use mutexdiag::internals::coredump::{Core, Dumped};
    use mutexdiag::internals::mappings::{self, MappingKind};
    use mutexdiag::internals::memory::{AddressSpace, ReadError};
    let raw = support::decompress(&support::fixture("threads-contention/core.main.zst"));
    let core = Core::parse(&raw).expect("core");
    let maps = mappings::build(&core);
    let text = maps
        .iter()
        .find(|m| {
            m.kind == MappingKind::File
                && m.perms == "r-x"
                && m.dumped == Dumped::None
                && m.path.as_deref().is_some_and(|p| p.contains("libc.so"))
        })
        .expect("libc text mapping, not dumped");
    let plain = AddressSpace::new(&core);
    assert!(matches!(
        plain.read(text.start, 16),
        Err(ReadError::NotDumped { .. })
    ));
    let path = text.path.clone().expect("path");
    let Ok(file) = std::fs::read(&path) else {
        panic!("{path} is not on this machine: the fixture needs the same libc");
    };
    let backed = AddressSpace::new(&core).with_file_backing(&maps, |p| Some(PathBuf::from(p)));
    let got = backed
        .read(text.start + 0x100, 16)
        .expect("file-backed read");
    let off = (text.offset + 0x100) as usize;
    assert_eq!(&got[..], &file[off..off + 16]);
    assert!(backed.file_backed(text.start));
}

/// A byte pattern that looks like a held mutex in private memory but names an owner
/// this process never had (the Go 1.9 corpus core: "TID 1") is not reported.
#[test]
fn private_scan_hits_need_a_possible_owner() {
    let Some(dir) = support::corpus_dir(
        "library::private_scan_hits_need_a_possible_owner",
        "cores/godebug-go1.9-core.zst",
    ) else {
        return;
    };
    let corpus = dir.join("cores/godebug-go1.9-core.zst");
    let opts = Options {
        scan: mutexdiag::ScanScope::All,
        ..Options::default()
    };
    let r = analyze(&corpus, &opts).expect("analysis");
    assert!(
        r.mutexes
            .iter()
            .all(|m| !m.found_by.contains(&mutexdiag::FoundBy::Scan)),
        "{:?}",
        r.mutexes
            .iter()
            .map(|m| (m.address, &m.found_by, m.owner.tid))
            .collect::<Vec<_>>()
    );
}
