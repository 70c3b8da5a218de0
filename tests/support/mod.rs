//! The one support module of the integration tests: every test file that needs a
//! helper says `mod support;` and uses what it needs from here. One of each:
//!
//! - [`root`], [`fixture`]: the checkout and its `fixtures/` folder;
//! - [`fixture_cores`]: the fixture loader (every `fixtures/S/core.R.zst` with its
//!   facts), [`corpus_dir`] and [`corpus_cores`]: the shared corpus, skipped with a
//!   message when absent;
//! - [`decompress`] / [`expand`] / [`expand_temp`]: the one decompress helper (a core
//!   into memory, into a named file, into a temporary file);
//! - [`skip`]: the one way to say a test skipped part of its work;
//! - [`mutexdiag`]: the binary as a [`Command`], with the colour variables cleared.
//!
//! Submodules hold what only some tests need: [`oracles`] (the fixture oracle files
//! and the binary's outputs on every fixture), [`sysroot`] (the bundled C library),
//! [`hostile`] (an independent ELF reader and a bounded runner for the
//! hostile-input tests), [`archive`] (crash archives for triage), [`solaris_core`]
//! (synthetic Solaris cores), [`kernel_core`] (can the kernel write a core here?),
//! [`triage_doc`] (a typed triage document for the renderer tests), [`wait`] (a child's
//! exit code and peak memory by `wait4`).
#![allow(dead_code)]

pub mod archive;
pub mod hostile;
pub mod kernel_core;
pub mod oracles;
pub mod solaris_core;
pub mod sysroot;
pub mod triage_doc;
pub mod wait;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The root of this checkout.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `fixtures/REL` of this checkout.
pub fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures").join(rel)
}

/// Say that a test skipped part or all of its work, and why, where the person
/// running `cargo test` sees it: written straight to stderr, which the test
/// harness does not capture (it captures only `print!`/`eprint!`).
pub fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {why}");
}

/// A file's bytes, expanded when it is zstd-compressed (by its magic, so a plain
/// core passes through). Panics naming the file.
pub fn decompress(path: &Path) -> Vec<u8> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::decode_all(&data[..]).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    } else {
        data
    }
}

/// [`decompress`] `path` into the file `to`; returns `to`.
pub fn expand(path: &Path, to: &Path) -> PathBuf {
    std::fs::write(to, decompress(path)).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    to.to_owned()
}

/// [`decompress`] `path` into a temporary file, removed when dropped.
pub fn expand_temp(path: &Path) -> tempfile::TempPath {
    let mut tmp = tempfile::NamedTempFile::new().expect("temporary file");
    tmp.write_all(&decompress(path))
        .expect("write temporary file");
    tmp.into_temp_path()
}

/// One fixture core: scenario, role, its folder, the core and its facts.
#[derive(Clone, Debug)]
pub struct Fixture {
    pub scenario: String,
    pub role: String,
    pub dir: PathBuf,
    pub core: PathBuf,
    pub facts: PathBuf,
}

impl Fixture {
    /// `SCENARIO/ROLE`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.scenario, self.role)
    }
    /// The program that dumped the core (`fixtures/SCENARIO/app`).
    pub fn app(&self) -> PathBuf {
        self.dir.join("app")
    }
    /// The core's path relative to the checkout (`fixtures/S/core.R.zst`).
    pub fn rel_core(&self) -> String {
        format!("fixtures/{}/core.{}.zst", self.scenario, self.role)
    }
    /// The program's path relative to the checkout (`fixtures/S/app`).
    pub fn rel_app(&self) -> String {
        format!("fixtures/{}/app", self.scenario)
    }
    /// The mutex addresses the program recorded in its facts (none without facts).
    pub fn mutexes(&self) -> Vec<u64> {
        let Ok(s) = std::fs::read_to_string(&self.facts) else {
            return Vec::new();
        };
        let v: serde_json::Value =
            serde_json::from_str(&s).unwrap_or_else(|e| panic!("{}: {e}", self.facts.display()));
        v["mutexes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["address"].as_str())
            .map(|a| {
                u64::from_str_radix(a.trim_start_matches("0x"), 16)
                    .unwrap_or_else(|e| panic!("{}: {a}: {e}", self.facts.display()))
            })
            .collect()
    }
}

/// The fixture loader: every fixture core (`fixtures/S/core.R.zst`), sorted by
/// scenario and role. There must be some.
pub fn fixture_cores() -> Vec<Fixture> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root().join("fixtures")).expect("list fixtures/") {
        let dir = e.expect("fixtures entry").path();
        let Ok(files) = std::fs::read_dir(&dir) else {
            continue;
        };
        let scenario = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for f in files {
            let f = f.expect("scenario entry");
            let name = f.file_name().to_string_lossy().into_owned();
            if let Some(role) = name
                .strip_prefix("core.")
                .and_then(|r| r.strip_suffix(".zst"))
            {
                out.push(Fixture {
                    scenario: scenario.clone(),
                    role: role.to_string(),
                    dir: dir.clone(),
                    core: f.path(),
                    facts: dir.join(format!("facts.{role}.json")),
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.scenario, &a.role).cmp(&(&b.scenario, &b.role)));
    assert!(
        !out.is_empty(),
        "no fixture cores under fixtures/*/core.*.zst"
    );
    out
}

/// The shared corpus (`../shared/corpus`: real cores from other projects with
/// eu-readelf oracles) lives next to the repository, not in it. `Some` when it holds
/// `need` (e.g. "cores", "check-corpus"); `None`, after a SKIPPED line naming `test`,
/// when it does not. CI sets `MUTEXDIAG_REQUIRE_CORPUS=1`, which turns its absence
/// into a failure.
pub fn corpus_dir(test: &str, need: &str) -> Option<PathBuf> {
    let d = root().join("../shared/corpus");
    if d.join(need).exists() {
        return Some(d);
    }
    assert!(
        std::env::var_os("MUTEXDIAG_REQUIRE_CORPUS").is_none(),
        "{test}: ../shared/corpus/{need} not found and MUTEXDIAG_REQUIRE_CORPUS is set"
    );
    skip(
        test,
        &format!("the shared corpus (../shared/corpus/{need}) is not next to this checkout"),
    );
    None
}

/// Every corpus core: (id, path), sorted by id; `None` as for [`corpus_dir`].
pub fn corpus_cores(test: &str) -> Option<Vec<(String, PathBuf)>> {
    let dir = corpus_dir(test, "cores")?;
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

/// The `mutexdiag` binary, with the colour variables (`NO_COLOR`, `CLICOLOR_FORCE`,
/// `COLUMNS`) cleared so that its output does not depend on the caller's terminal.
pub fn mutexdiag() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mutexdiag"));
    c.env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("COLUMNS");
    c
}
