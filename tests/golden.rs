//! The analysis of every fixture core, compared with outputs stored before the
//! analysis engine was reworked (`tests/data/golden/`, made by `regenerate.sh` in
//! that folder: `mutexdiag fixtures/S/core.R.zst --binary fixtures/S/app --format json`
//! run from the repository root with relative paths).
//!
//! The outputs are compared as JSON values, whole, after [`intended_changes`] has
//! applied the documented, intended differences. The outputs hold names
//! and source lines read from the system's C library and its debug files, so the
//! comparison only means something on a machine with the same files: for a core
//! naming a file that differs here from `host.txt` (recorded with the outputs) the
//! test says so and skips that core.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod support;

use support::root;

fn golden_dir() -> PathBuf {
    root().join("tests/data/golden")
}

/// Intended differences from the stored outputs, field by field. Each entry says
/// which field, why, and is documented in docs/design.md ("Stored outputs").
/// Applied to both the stored and the fresh output.
fn intended_changes(v: &mut Value) {
    // 1. The C library's DWARF is no longer walked for mutex variables (its symbol
    //    tables name them: docs/performance.md, "System libraries"). That walk also
    //    found glibc's `__nptl_rtld_global` pointer to the dynamic linker's
    //    `_rtld_global`, and so listed `pointer` besides `symbol` in `found_by` of the
    //    dynamic linker's own mutexes (`_rtld_global._dl_load_lock.mutex`, ...), which
    //    the dynamic linker's DWARF still names: the same mutexes, names, states and
    //    findings, without `pointer` in their `found_by`.
    if let Some(ms) = v["mutexes"].as_array_mut() {
        for m in ms {
            let rtld = m["symbol"]
                .as_str()
                .is_some_and(|s| s.starts_with("_rtld_global."))
                && m["location"]
                    .as_str()
                    .is_some_and(|l| l.contains(" of ld-linux"));
            if rtld && let Some(f) = m["found_by"].as_array_mut() {
                f.retain(|x| x != "pointer");
            }
            // 2. The scan no longer vouches for a process-private mutex whose owner
            //    is a thread of another process (issue 12: such owners let small
            //    integers in ordinary data pass as mutexes; docs/layouts.md, "Scan
            //    plausibility"): these mutexes are still found by their futex waits
            //    and pointers, with the same fields, owners and findings, without
            //    `scan` in `found_by`.
            let foreign_private = m["owner"]["class"] == "foreign" && m["pshared"] == false;
            if foreign_private && let Some(f) = m["found_by"].as_array_mut() {
                f.retain(|x| x != "scan");
            }
        }
    }
}

/// The build-id of an ELF file, as lower-case hex; "none" when absent or unreadable.
fn build_id(path: &Path) -> String {
    use object::Object;
    let Ok(data) = std::fs::read(path) else {
        return "none".into();
    };
    let Ok(obj) = object::File::parse(&*data) else {
        return "none".into();
    };
    match obj.build_id() {
        Ok(Some(id)) if !id.is_empty() => id.iter().map(|b| format!("{b:02x}")).collect(),
        _ => "none".into(),
    }
}

/// The files of `host.txt` that this machine does not reproduce: (path, message).
fn host_differences() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(golden_dir().join("host.txt")).expect("read host.txt");
    let mut diffs = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 3, "host.txt: bad line {line:?}");
        let id = build_id(Path::new(f[0]));
        let dbg = if id != "none"
            && Path::new(&format!(
                "/usr/lib/debug/.build-id/{}/{}.debug",
                &id[..2],
                &id[2..]
            ))
            .is_file()
        {
            "yes"
        } else {
            "no"
        };
        let here = format!("{} {id} {dbg}", f[0]);
        if here != f.join(" ") {
            diffs.push((
                f[0].to_string(),
                format!("recorded `{line}`, here `{here}`"),
            ));
        }
    }
    diffs
}

/// Every stored output: (scenario, role, file).
fn stored() -> Vec<(String, String, PathBuf)> {
    let mut v: Vec<(String, String, PathBuf)> = std::fs::read_dir(golden_dir())
        .expect("list golden")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().to_string();
            let (s, r) = stem.rsplit_once('.').expect("name is SCENARIO.ROLE.json");
            (s.to_string(), r.to_string(), p)
        })
        .collect();
    v.sort();
    v
}

/// The fixture cores that exist, as (scenario, role).
fn fixture_cores() -> Vec<(String, String)> {
    support::fixture_cores()
        .into_iter()
        .map(|f| (f.scenario, f.role))
        .collect()
}

/// Paths in a JSON value that differ (for a readable failure message).
fn diff(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
    if out.len() >= 20 {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => diff(p, q, &format!("{at}.{k}"), out),
                    (p, q) => out.push(format!("{at}.{k}: {p:?} vs {q:?}")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff(p, q, &format!("{at}[{i}]"), out);
            }
        }
        _ if a != b => out.push(format!("{at}: stored {a} vs now {b}")),
        _ => {}
    }
}

#[test]
fn every_fixture_core_has_a_stored_output() {
    let stored: Vec<(String, String)> = stored().into_iter().map(|(s, r, _)| (s, r)).collect();
    assert_eq!(stored, fixture_cores());
    assert!(stored.len() >= 30, "{} stored outputs", stored.len());
}

#[test]
fn stored_outputs_hold_no_machine_path() {
    for (_, _, p) in stored() {
        let text = std::fs::read_to_string(&p).unwrap();
        let here = root().to_string_lossy().to_string();
        assert!(!text.contains(&here), "{}: holds {here}", p.display());
        assert!(!text.contains("/work/"), "{}: holds /work/", p.display());
        let v: Value = serde_json::from_str(&text).unwrap();
        let path = v["core"]["path"].as_str().unwrap();
        assert!(
            path.starts_with("fixtures/"),
            "{}: path {path}",
            p.display()
        );
    }
}

#[test]
fn analysis_output_is_unchanged() {
    let diffs = host_differences();
    let mut failures = Vec::new();
    let mut compared = 0;
    let mut skipped = 0;
    for (s, r, p) in stored() {
        let mut was: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        // A core whose system files differ here from when its output was stored
        // cannot be compared.
        let named: Vec<&str> = was["mappings"]
            .as_array()
            .expect("mappings")
            .iter()
            .filter_map(|m| m["path"].as_str())
            .collect();
        let differ: Vec<&str> = diffs
            .iter()
            .filter(|(f, _)| named.contains(&f.as_str()))
            .map(|(_, m)| m.as_str())
            .collect();
        if !differ.is_empty() {
            support::skip(
                &format!("analysis_output_is_unchanged {s}/{r}"),
                &format!(
                    "this machine's system files differ from those its output was stored with:\n  {}",
                    differ.join("\n  ")
                ),
            );
            skipped += 1;
            continue;
        }
        let core = format!("fixtures/{s}/core.{r}.zst");
        let app = format!("fixtures/{s}/app");
        let out = Command::new(env!("CARGO_BIN_EXE_mutexdiag"))
            .current_dir(root())
            .args([&core, "--binary", &app, "--format", "json"])
            .output()
            .expect("run mutexdiag");
        let mut now: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{core}: output is not JSON ({e}); stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        intended_changes(&mut now);
        intended_changes(&mut was);
        if now != was {
            let mut d = Vec::new();
            diff(&was, &now, "", &mut d);
            failures.push(format!("{s}/{r}:\n    {}", d.join("\n    ")));
        }
        compared += 1;
    }
    eprintln!("{compared} stored outputs compared, {skipped} skipped");
    assert!(
        compared > 0,
        "no stored output could be compared on this machine"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
