//! No real core is called corrupt: every fixture core (made by the kernel from a
//! real program), every core of the shared Linux corpus and every core of the
//! shared Solaris corpus is analysed, and none may carry a `corrupt` warning or a
//! `corrupt-mutex` finding. The one exception is the `corrupt` fixture, whose
//! program scribbles over its own mutex on purpose (its facts say so).
//! The shared corpora are skipped, with a message, when `../shared` is absent.

use std::path::{Path, PathBuf};

use mutexdiag::analysis::{Options, analyze};

mod support;

use support::root;

/// Fixtures whose program corrupts a mutex deliberately.
const DELIBERATELY_CORRUPT: &[&str] = &["corrupt"];

fn problems(path: &Path, opts: &Options) -> Vec<String> {
    let r = match analyze(path, opts) {
        Ok(r) => r,
        Err(e) => return vec![format!("analysis failed: {e}")],
    };
    let mut out: Vec<String> = r
        .warnings
        .iter()
        .filter(|w| w.code == "corrupt")
        .map(|w| format!("warning corrupt: {}", w.message))
        .collect();
    out.extend(
        r.findings
            .iter()
            .filter(|f| f.code == "corrupt-mutex")
            .map(|f| format!("finding corrupt-mutex: {}", f.message)),
    );
    out
}

fn cores_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "zst"));
    v.sort();
    v
}

#[test]
fn no_real_core_is_called_corrupt() {
    let mut bad = Vec::new();
    let mut checked = 0;
    // Fixtures, with their binary.
    let mut dirs: Vec<PathBuf> = ["fixtures", "fixtures/qemu-user"]
        .iter()
        .filter_map(|d| std::fs::read_dir(root().join(d)).ok())
        .flat_map(|r| r.flatten().map(|e| e.path()))
        .filter(|p| p.join("meta.json").exists())
        .collect();
    dirs.sort();
    for d in dirs {
        let name = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if DELIBERATELY_CORRUPT.contains(&name.as_str()) {
            continue;
        }
        let Ok(files) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut cores: Vec<PathBuf> = files
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().is_some_and(|n| {
                    n.to_string_lossy().starts_with("core.")
                        && n.to_string_lossy().ends_with(".zst")
                })
            })
            .collect();
        cores.sort();
        for c in cores {
            let opts = Options {
                binary: d.join("app").exists().then(|| d.join("app")),
                ..Options::default()
            };
            for p in problems(&c, &opts) {
                bad.push(format!(
                    "fixtures/{name}/{}: {p}",
                    c.file_name().unwrap_or_default().to_string_lossy()
                ));
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} fixture cores found");
    // The shared corpora.
    let shared = root().join("../shared/corpus");
    for (label, dir) in [
        ("corpus", shared.join("cores")),
        ("solaris", shared.join("solaris/cores")),
    ] {
        let cores = cores_in(&dir);
        if cores.is_empty() {
            support::skip(
                "real_cores_clean",
                &format!("{label}: no cores under ../shared/corpus (absent): not checked"),
            );
            continue;
        }
        for c in cores {
            for p in problems(&c, &Options::default()) {
                bad.push(format!(
                    "{label}/{}: {p}",
                    c.file_name().unwrap_or_default().to_string_lossy()
                ));
            }
            checked += 1;
        }
    }
    eprintln!("{checked} real cores analysed");
    assert!(
        bad.is_empty(),
        "real cores called corrupt:\n{}",
        bad.join("\n")
    );
}
