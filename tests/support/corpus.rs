//! The shared corpus (`../shared/corpus`: real cores from other projects with
//! eu-readelf oracles) lives next to the repository, not in it. A clean clone does
//! not have it: tests that use it then say so on stderr and skip that part. CI has
//! it and sets `MUTEXDIAG_REQUIRE_CORPUS=1`, which turns its absence into a failure.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;

/// `../shared/corpus` when it holds `need` (e.g. "cores", "check-corpus"); `None`,
/// after a SKIPPED line naming `test`, when it does not.
pub fn corpus_dir(test: &str, need: &str) -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if d.join(need).exists() {
        return Some(d);
    }
    assert!(
        std::env::var_os("MUTEXDIAG_REQUIRE_CORPUS").is_none(),
        "{test}: ../shared/corpus/{need} not found and MUTEXDIAG_REQUIRE_CORPUS is set"
    );
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIPPED {test}: the shared corpus (../shared/corpus/{need}) is not next to this checkout"
    );
    None
}
