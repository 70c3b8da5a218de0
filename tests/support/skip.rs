//! Say that a test skipped part or all of its work, and why, where the person
//! running `cargo test` sees it: written straight to stderr, which the test
//! harness does not capture (it captures only `print!`/`eprint!`).
#![allow(dead_code)]

use std::io::Write;

pub fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {why}");
}
