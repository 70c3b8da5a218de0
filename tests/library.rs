//! The library is usable without the CLI: `analyze` is a pure call returning a
//! serialisable report, and everything crossing threads is `Send`.

use std::path::PathBuf;

use mutexdiag::analysis::{Options, analyze};
use mutexdiag::report::model::Report;

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
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
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
                .map(|f| f.code)
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
