//! Names of mutexes as gdb prints them, on real cores (issue 12, item 5):
//! - `cxx-ns-deadlock` (g++): two `std::mutex` members of the namespaced global
//!   `ns::g_obj` in an ABBA deadlock are named `ns::g_obj.a` / `ns::g_obj.b` (the
//!   namespace from DWARF, the `std::mutex` object rather than its private
//!   `_M_mutex`); the program's vtables, typeinfo and guard variable, named like locks
//!   and 40 bytes long, are never reported as mutexes, with or without debug info;
//! - `mutex-array`: elements of global arrays are named `S[3].mu` and `locks[2]`.
//!
//! Every address, TID and name comes from the facts the programs wrote at run time.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

mod support;

use support::root;
use support::sysroot;

fn facts(scenario: &str) -> Value {
    let p = root().join(format!("fixtures/{scenario}/facts.main.json"));
    serde_json::from_str(&std::fs::read_to_string(&p).expect("facts")).expect("facts JSON")
}

fn report(scenario: &str, binary: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_mutexdiag"))
        .arg(root().join(format!("fixtures/{scenario}/core.main.zst")))
        .arg("--binary")
        .arg(binary)
        .arg("--sysroot")
        .arg(sysroot::sysroot())
        .args(["--format", "json"])
        .output()
        .expect("run mutexdiag");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{scenario}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn app(scenario: &str) -> PathBuf {
    root().join(format!("fixtures/{scenario}/app"))
}

fn mutex_at<'a>(r: &'a Value, addr: &str) -> &'a Value {
    r["mutexes"]
        .as_array()
        .expect("mutexes")
        .iter()
        .find(|m| m["address"] == addr)
        .unwrap_or_else(|| panic!("no mutex reported at {addr}"))
}

fn codes(r: &Value) -> Vec<String> {
    r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["code"].as_str().expect("code").to_string())
        .collect()
}

/// No reported mutex lies at an address of the facts' `not_mutexes` (vtables,
/// typeinfo, guard variable), and none is named by a C++ ABI special name.
fn assert_no_abi_objects(r: &Value, f: &Value, what: &str) {
    let not: Vec<&str> = f["not_mutexes"]
        .as_array()
        .expect("not_mutexes")
        .iter()
        .map(|o| o["address"].as_str().expect("address"))
        .collect();
    assert_eq!(not.len(), 5);
    for m in r["mutexes"].as_array().expect("mutexes") {
        let a = m["address"].as_str().expect("address");
        assert!(
            !not.contains(&a),
            "{what}: a non-object reported as a mutex: {m}"
        );
        let name = m["symbol"].as_str().unwrap_or("");
        for bad in ["_ZT", "_ZGV", "vtable for", "typeinfo", "guard variable"] {
            assert!(!name.contains(bad), "{what}: {name} reported as a mutex");
        }
    }
}

#[test]
fn cxx_deadlock_names_carry_the_namespace() {
    let f = facts("cxx-ns-deadlock");
    let r = report("cxx-ns-deadlock", &app("cxx-ns-deadlock"));
    let fm = f["mutexes"].as_array().expect("mutexes");
    assert_eq!(fm.len(), 2);
    for m in fm {
        let addr = m["address"].as_str().expect("address");
        let got = mutex_at(&r, addr);
        assert_eq!(got["symbol"], m["name"], "{got}");
        assert_eq!(got["state"], "contended");
        assert_eq!(got["owner"]["tid"], m["owner_tid"]);
        assert_eq!(got["found_by"], json!(["futex-wait", "symbol"]));
        let waiter = f["waiters"]
            .as_array()
            .expect("waiters")
            .iter()
            .find(|w| w["mutex"] == m["name"])
            .expect("waiter");
        assert_eq!(got["waiters"], json!([waiter["tid"]]));
    }
    // The deadlock, with both names in its message.
    assert_eq!(codes(&r), vec!["deadlock-cycle"]);
    let fd = &r["findings"][0];
    let msg = fd["message"].as_str().expect("message");
    assert!(
        msg.contains("ns::g_obj.a") && msg.contains("ns::g_obj.b"),
        "{msg}"
    );
    assert!(!msg.contains("_M_mutex"), "{msg}");
    let mut want: Vec<&str> = fm.iter().map(|m| m["address"].as_str().unwrap()).collect();
    let mut got: Vec<&str> = fd["mutexes"]
        .as_array()
        .expect("finding mutexes")
        .iter()
        .map(|m| m.as_str().expect("address"))
        .collect();
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, want);
    assert_no_abi_objects(&r, &f, "with DWARF");
    // The backtrace frames are named as gdb names them (no parameter list).
    let names: Vec<String> = r["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .flat_map(|t| t["frames"].as_array().cloned().unwrap_or_default())
        .filter_map(|fr| fr["function"].as_str().map(str::to_string))
        .collect();
    assert!(
        names.iter().any(|n| n == "std::mutex::lock"),
        "no std::mutex::lock frame: {names:?}"
    );
}

/// Without debug info the symbol tables are all there is: the vtables of
/// `ns::MutexLike` and of the class derived from it and a typeinfo name are exactly
/// the size of a `pthread_mutex_t` and named after a mutex, and must still not be
/// taken for mutexes (main reported five of them). Needs objcopy (binutils).
#[test]
fn cxx_abi_objects_without_debug_info_are_not_mutexes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("app");
    let ok = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(app("cxx-ns-deadlock"))
        .arg(&bin)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        support::skip(
            "cxx_names",
            "objcopy (binutils) not available: the no-DWARF case is not checked",
        );
        return;
    }
    let f = facts("cxx-ns-deadlock");
    let r = report("cxx-ns-deadlock", &bin);
    assert_no_abi_objects(&r, &f, "symbol tables only");
    // The symbol tables still name the mutexes, demangled (`ns::g_obj+0x8`).
    for m in f["mutexes"].as_array().expect("mutexes") {
        let got = mutex_at(&r, m["address"].as_str().expect("address"));
        let name = got["symbol"].as_str().unwrap_or("");
        assert!(name.starts_with("ns::g_obj+0x"), "{got}");
    }
    assert_eq!(codes(&r), vec!["deadlock-cycle"]);
}

#[test]
fn array_elements_are_indexed() {
    let f = facts("mutex-array");
    let r = report("mutex-array", &app("mutex-array"));
    let fm = f["mutexes"].as_array().expect("mutexes");
    assert_eq!(fm.len(), 2);
    for m in fm {
        let got = mutex_at(&r, m["address"].as_str().expect("address"));
        assert_eq!(got["symbol"], m["name"], "{got}");
        assert_eq!(got["state"], "contended");
        assert_eq!(got["owner"]["tid"], m["owner_tid"]);
        assert_eq!(got["owner"]["class"], "own-thread");
        let waiter = f["waiters"]
            .as_array()
            .expect("waiters")
            .iter()
            .find(|w| w["mutex"] == m["name"])
            .expect("waiter");
        assert_eq!(got["waiters"], json!([waiter["tid"]]));
    }
    // Every element is named by its index, at its own address; only the two above
    // are locked.
    let base = |k: &str| {
        u64::from_str_radix(f[k].as_str().expect(k).trim_start_matches("0x"), 16).expect("hex")
    };
    let s = base("S_address");
    let stride = f["sizeof_struct_S"].as_u64().expect("sizeof");
    let locks = base("locks_address");
    let msize = f["sizeof_pthread_mutex_t"]
        .as_u64()
        .expect("sizeof_pthread_mutex_t");
    let mu_off = {
        let s3 = u64::from_str_radix(
            fm[0]["address"].as_str().unwrap().trim_start_matches("0x"),
            16,
        )
        .unwrap();
        s3 - s - 3 * stride
    };
    let mut want: Vec<(String, u64)> = (0..8)
        .map(|i| (format!("S[{i}].mu"), s + i * stride + mu_off))
        .chain((0..4).map(|i| (format!("locks[{i}]"), locks + i * msize)))
        .collect();
    want.sort();
    let mut got: Vec<(String, u64)> = r["mutexes"]
        .as_array()
        .expect("mutexes")
        .iter()
        .filter_map(|m| {
            let n = m["symbol"].as_str()?;
            (n.starts_with("S[") || n.starts_with("locks[")).then(|| {
                (
                    n.to_string(),
                    u64::from_str_radix(
                        m["address"].as_str().unwrap().trim_start_matches("0x"),
                        16,
                    )
                    .unwrap(),
                )
            })
        })
        .collect();
    got.sort();
    assert_eq!(got, want);
    let locked = r["mutexes"]
        .as_array()
        .expect("mutexes")
        .iter()
        .filter(|m| m["state"] != "unlocked")
        .count();
    assert_eq!(locked, 2);
    assert!(
        codes(&r).iter().all(|c| c != "deadlock-cycle"),
        "{:?}",
        codes(&r)
    );
}
