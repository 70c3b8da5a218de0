//! Real cores for scan tests: the project's fixture cores (`fixtures/NAME/core.ROLE.zst`
//! with `facts.ROLE.json`) and the shared corpus (`../shared/corpus/cores`), expanded
//! into memory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A core's bytes, expanded if the file is zstd-compressed.
pub fn load(path: &Path) -> Vec<u8> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::decode_all(&data[..]).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    } else {
        data
    }
}

/// One fixture core: scenario, role, path of the core, path of its facts.
pub struct Fixture {
    pub scenario: String,
    pub role: String,
    pub core: PathBuf,
    pub facts: PathBuf,
}

/// Every fixture core, sorted by scenario and role.
pub fn fixtures() -> Vec<Fixture> {
    let dir = root().join("fixtures");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).expect("fixtures folder") {
        let e = e.expect("fixtures entry");
        if !e.path().is_dir() {
            continue;
        }
        let scenario = e.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(e.path()).expect("scenario folder") {
            let f = f.expect("scenario entry");
            let name = f.file_name().to_string_lossy().into_owned();
            if let Some(role) = name
                .strip_prefix("core.")
                .and_then(|r| r.strip_suffix(".zst"))
            {
                out.push(Fixture {
                    scenario: scenario.clone(),
                    role: role.to_string(),
                    core: f.path(),
                    facts: e.path().join(format!("facts.{role}.json")),
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.scenario, &a.role).cmp(&(&b.scenario, &b.role)));
    out
}

/// Every corpus core: (id, path), sorted by id. None when the corpus is absent
/// (after a SKIPPED line naming `test`; a failure if MUTEXDIAG_REQUIRE_CORPUS is set).
pub fn corpus(test: &str) -> Option<Vec<(String, PathBuf)>> {
    let dir = crate::corpus::corpus_dir(test, "cores")?;
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(dir.join("cores"))
        .expect("corpus cores")
        .map(|e| {
            let p = e.expect("corpus entry").path();
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            let id = name.unwrap_or_default();
            let id = id.strip_suffix(".zst").unwrap_or(&id).to_string();
            (id, p)
        })
        .collect();
    out.sort();
    Some(out)
}
