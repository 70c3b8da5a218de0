//! A core written by gdb's `gcore` is a snapshot of a live process: no fatal signal,
//! no crashed thread, and the report says a debugger wrote it. Made at test time:
//! `gcore` of a running `sleep`. Skipped, with a message, without gdb or when gdb
//! cannot attach (ptrace restrictions).
//!
//! And the committed gcore pair `fixtures/gcore-sysv-private` (the sysv-private
//! scenario, each process snapshot by gcore while blocked): the same conclusion as
//! the kernel's cores of sysv-private, and the text gcore left out served from the
//! build-id-checked files. Its backtraces are compared with gdb's in
//! tests/backtraces.rs.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use mutexdiag::CoreFile;
use mutexdiag::input::InputOptions;
use mutexdiag::internals::coredump::Core;
use mutexdiag::internals::mappings;
use mutexdiag::internals::memory::{AddressSpace, ReadError};
use mutexdiag::internals::symbols::{BuildIdStatus, Modules, SymbolOptions};

mod support;

use support::sysroot;

fn root() -> PathBuf {
    support::fixture("")
}

fn report(scenario: &str, role: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_mutexdiag"))
        .arg(root().join(format!("{scenario}/core.{role}.zst")))
        .arg("--binary")
        .arg(root().join(format!("{scenario}/app")))
        .arg("--sysroot")
        .arg(sysroot::sysroot())
        .args(["--format", "json"])
        .output()
        .expect("run mutexdiag");
    serde_json::from_slice(&out.stdout).expect("json")
}

fn codes(v: &serde_json::Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .expect(key)
        .iter()
        .map(|x| x["code"].as_str().expect("code").to_string())
        .collect()
}

/// The gcore pair reaches the kernel pair's conclusion, as a snapshot.
#[test]
fn gcore_pair_concludes_like_the_kernel_pair() {
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("gcore-sysv-private/meta.json")).expect("meta"),
    )
    .expect("meta json");
    for role in ["parent", "child"] {
        assert!(
            meta["cores"][role]["killed_by"]
                .as_str()
                .expect("killed_by")
                .contains("gcore"),
            "{meta}"
        );
        let g = report("gcore-sysv-private", role);
        let k = report("sysv-private", role);
        assert_eq!(codes(&g, "findings"), codes(&k, "findings"), "{role}");
        assert!(codes(&g, "warnings").contains(&"debugger-snapshot".to_string()));
        assert!(g["core"]["signal"].is_null(), "{}", g["core"]);
        let crashed = g["threads"]
            .as_array()
            .expect("threads")
            .iter()
            .filter(|t| t["crashed"] == true)
            .count();
        assert_eq!(crashed, 0, "{role}");
        // The held mutex in the SysV segment, described as in the kernel's core.
        let held = |r: &serde_json::Value| -> Vec<serde_json::Value> {
            r["mutexes"]
                .as_array()
                .expect("mutexes")
                .iter()
                .filter(|m| m["state"] != "unlocked")
                .map(|m| {
                    serde_json::json!([
                        m["symbol"],
                        m["state"],
                        m["owner"]["class"],
                        m["mapping_kind"],
                        m["found_by"]
                    ])
                })
                .collect()
        };
        assert_eq!(held(&g), held(&k), "{role}");
        assert!(!held(&g).is_empty() || role == "child");
    }
    let g = report("gcore-sysv-private", "parent");
    assert_eq!(codes(&g, "findings"), vec!["cross-process-private-mutex"]);
}

/// gcore wrote no PT_LOAD for the text of libc: its bytes are not in the core, and
/// the core does not say the mapping is executable. With the verified files they
/// are read from the file, and the modules know which mappings are executable.
#[test]
fn gcore_text_is_served_from_the_verified_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let core_path = dir.path().join("core");
    support::expand(
        &support::fixture("gcore-sysv-private/core.parent.zst"),
        &core_path,
    );
    let f = CoreFile::open(&core_path, &InputOptions::default()).expect("open");
    let core = f.parse().expect("parse");
    assert!(core.debugger_snapshot);
    let maps = mappings::build(&core);
    let opts = SymbolOptions {
        binary: Some(root().join("gcore-sysv-private/app")),
        sysroot: sysroot::sysroot().to_path_buf(),
        debug_dirs: vec![],
        debuginfod_cache: None,
    };
    let modules = Modules::load(&core, &maps, &opts);
    let libc = modules
        .iter()
        .find(|m| m.name.ends_with("/libc.so.6"))
        .expect("libc module");
    assert_eq!(libc.status, BuildIdStatus::Match);
    // The thread's pc is in libc's text, which the core lacks.
    let pc = core.threads[0].pc.expect("pc");
    let text = libc
        .mappings
        .iter()
        .find(|mm| mm.start <= pc && pc < mm.end)
        .expect("pc in a libc mapping");
    assert!(
        text.executable && text.perms_from_file && !text.writable,
        "{text:?}"
    );
    let bare = AddressSpace::new(&core);
    assert!(
        matches!(
            bare.read(pc, 16),
            Err(ReadError::NotDumped { .. }) | Err(ReadError::Unmapped { .. })
        ),
        "gcore was expected to leave libc's text out"
    );
    let backed = AddressSpace::new(&core).with_module_backing(&maps, &modules);
    let got = backed.read(pc, 16).expect("backed text");
    let file = std::fs::read(libc.file.as_ref().expect("libc file")).expect("read libc");
    let off = (text.offset + (pc - text.start)) as usize;
    assert_eq!(&got[..], &file[off..off + 16]);
    // Writable mappings are in the core and are never replaced by the file.
    for mm in libc.mappings.iter().filter(|mm| mm.writable) {
        assert_eq!(
            backed.read(mm.start, 8).expect("dumped").as_ref(),
            bare.read(mm.start, 8).expect("dumped").as_ref()
        );
    }
}

#[test]
fn gcore_is_a_snapshot() {
    if Command::new("gdb").arg("--version").output().is_err() {
        support::skip(
            "gcore_is_a_snapshot",
            "gdb not installed: gcore snapshot not checked",
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new("sleep")
        .arg("30")
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn sleep");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let core = dir.path().join("core");
    let out = Command::new("gdb")
        .args(["-nx", "-batch", "-iex", "set debuginfod enabled off", "-p"])
        .arg(child.id().to_string())
        .arg("-ex")
        .arg(format!("gcore {}", core.display()))
        .output()
        .expect("run gdb");
    let _ = child.kill();
    let _ = child.wait();
    if !core.exists() {
        support::skip(
            "gcore_is_a_snapshot",
            &format!(
                "gdb could not write a core (ptrace?): {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        );
        return;
    }
    let data = std::fs::read(&core).expect("read core");
    let c = Core::parse(&data).expect("parse");
    assert!(c.debugger_snapshot, "not recognised as a gcore snapshot");
    assert!(c.crashed_thread().is_none());
    assert!(c.signal().is_none());
    assert!(c.warnings.iter().any(|w| w.code == "debugger-snapshot"));
    // Through the CLI: no signal, no crashed thread.
    let out = Command::new(env!("CARGO_BIN_EXE_mutexdiag"))
        .arg("threads")
        .arg(&core)
        .args(["--format", "json"])
        .output()
        .expect("run mutexdiag");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let crashed = v["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .filter(|t| t["crashed"] == true)
        .count();
    assert_eq!(crashed, 0, "{v}");
    assert!(v["process"]["signal"].is_null(), "{}", v["process"]);
    assert!(
        v["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .any(|w| w["code"] == "debugger-snapshot"),
        "{}",
        v["warnings"]
    );
}
