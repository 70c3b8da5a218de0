//! Every fixture's `Report` survives JSON: Report → JSON → Report → JSON gives the
//! same JSON and an equal `Report`; and the stored outputs (`tests/data/golden/`)
//! read back as typed `Report`s.

use std::path::PathBuf;

use mutexdiag::analysis::{Analyzer, AnalyzerConfig, CoreOptions};
use mutexdiag::report::model::Report;

mod support;

use support::root;

fn fixture_cores() -> Vec<(PathBuf, PathBuf)> {
    support::fixture_cores()
        .into_iter()
        .map(|f| {
            let app = f.app();
            (f.core, app)
        })
        .collect()
}

#[test]
fn every_fixture_report_round_trips() {
    let a = Analyzer::new(AnalyzerConfig::default());
    let cores = fixture_cores();
    assert!(cores.len() >= 30);
    for (core, app) in cores {
        let opts = CoreOptions {
            binary: Some(app),
            ..CoreOptions::default()
        };
        let r = a.analyze(&core, &opts).expect("analysis");
        let json = serde_json::to_string_pretty(&r).unwrap();
        let back: Report = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("{}: the report does not read back: {e}", core.display()));
        assert_eq!(back, r, "{}", core.display());
        assert_eq!(serde_json::to_string_pretty(&back).unwrap(), json);
        assert_eq!(back.schema_version, 1);
    }
}

#[test]
fn stored_outputs_read_as_reports() {
    let dir = root().join("tests/data/golden");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let r: Report =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let again: serde_json::Value = serde_json::to_value(&r).unwrap();
        let was: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(again, was, "{}", p.display());
        n += 1;
    }
    assert!(n >= 30);
}

#[test]
fn a_bad_address_is_an_error_not_a_panic() {
    let text = std::fs::read_to_string(root().join("tests/data/golden/abba.main.json")).unwrap();
    let bad = text.replacen("\"pc\": \"0x", "\"pc\": \"zz", 1);
    let e = serde_json::from_str::<Report>(&bad).unwrap_err();
    assert!(e.to_string().contains("hex"), "{e}");
}
