//! The text and markdown reports of every fixture core, compared byte for byte
//! with outputs stored before the renderers were split into sections writing to
//! `impl Write` (`tests/data/rendered/S.R.txt` and `S.R.md`: `mutexdiag
//! fixtures/S/core.R.zst --binary fixtures/S/app --sysroot SYSROOT [--format
//! markdown]` with `COLUMNS=100`, run from the repository root). The C library
//! and debug files are the bundled ones (`fixtures/sysroot`), so the outputs do not
//! depend on this machine's. `MUTEXDIAG_BLESS=1` rewrites them: only on purpose,
//! for a documented change of the output.

mod support;

use support::{Fixture, root};

fn stored_dir() -> std::path::PathBuf {
    root().join("tests/data/rendered")
}

/// The report of `f` as the binary prints it, in `format` (`text` or `markdown`).
fn render(f: &Fixture, format: &str) -> String {
    let sysroot = support::sysroot::sysroot();
    let mut c = support::mutexdiag();
    c.current_dir(root())
        .env("COLUMNS", "100")
        .args([f.rel_core(), "--binary".into(), f.rel_app()])
        .arg("--sysroot")
        .arg(sysroot);
    if format != "text" {
        c.args(["--format", format]);
    }
    let o = c.output().expect("run mutexdiag");
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{} ({format}): exit {:?}: {}",
        f.name(),
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("UTF-8 output")
}

/// The first line where two texts differ, for a readable failure.
fn first_difference(want: &str, got: &str) -> String {
    for (i, (a, b)) in want.lines().zip(got.lines()).enumerate() {
        if a != b {
            return format!("line {}:\n  stored: {a:?}\n  now:    {b:?}", i + 1);
        }
    }
    format!(
        "{} stored lines, {} now",
        want.lines().count(),
        got.lines().count()
    )
}

#[test]
fn every_fixture_core_has_stored_reports() {
    let mut stored: Vec<String> = std::fs::read_dir(stored_dir())
        .expect("list tests/data/rendered")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    stored.sort();
    let mut want: Vec<String> = support::fixture_cores()
        .iter()
        .flat_map(|f| ["md", "txt"].map(|ext| format!("{}.{}.{ext}", f.scenario, f.role)))
        .collect();
    want.sort();
    assert_eq!(stored, want);
}

#[test]
fn text_and_markdown_reports_are_unchanged() {
    let bless = std::env::var_os("MUTEXDIAG_BLESS").is_some();
    let mut failures = Vec::new();
    let mut compared = 0;
    for f in support::fixture_cores() {
        for (format, ext) in [("text", "txt"), ("markdown", "md")] {
            let got = render(&f, format);
            assert!(!got.is_empty(), "{} ({format}): no output", f.name());
            let p = stored_dir().join(format!("{}.{}.{ext}", f.scenario, f.role));
            if bless {
                std::fs::write(&p, &got).expect("write stored output");
                continue;
            }
            let want = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("{}: {e} (MUTEXDIAG_BLESS=1 writes it)", p.display()));
            if want != got {
                failures.push(format!(
                    "{} ({format}): {}",
                    f.name(),
                    first_difference(&want, &got)
                ));
            }
            compared += 1;
        }
    }
    assert!(bless || compared >= 60, "only {compared} outputs compared");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn stored_reports_hold_no_machine_path() {
    let here = root().to_string_lossy().into_owned();
    for e in std::fs::read_dir(stored_dir()).expect("list") {
        let p = e.expect("entry").path();
        let text = std::fs::read_to_string(&p).expect("read");
        assert!(!text.contains(&here), "{}: holds {here}", p.display());
        assert!(!text.contains("/work/"), "{}: holds /work/", p.display());
        assert!(
            !text.contains("fixture-sysroot"),
            "{}: holds the sysroot path",
            p.display()
        );
    }
}
