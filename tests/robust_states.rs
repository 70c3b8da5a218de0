//! The states the kernel and glibc leave in robust mutexes, on real cores:
//! - `robust-shm-died`: a robust pshared mutex in SysV shared memory whose owner (a
//!   worker thread of another process) died holding it; no waiter, no symbol. The scan
//!   must find it and `owner-died` must name the dead TID;
//! - `robust-dead`: owner-died (`r_dead`) and inconsistent with a waiter (`r_incons`),
//!   in `.bss`.
//!
//! Every expectation comes from the facts the programs wrote at run time.

use std::process::Command;

mod support;

use support::root;

fn facts(scenario: &str, role: &str) -> serde_json::Value {
    let p = root().join(format!("fixtures/{scenario}/facts.{role}.json"));
    serde_json::from_str(&std::fs::read_to_string(&p).expect("facts")).expect("facts JSON")
}

fn report(scenario: &str, role: &str, with_binary: bool) -> serde_json::Value {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mutexdiag"));
    c.arg(root().join(format!("fixtures/{scenario}/core.{role}.zst")));
    if with_binary {
        c.arg("--binary")
            .arg(root().join(format!("fixtures/{scenario}/app")));
    }
    let out = c
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

fn mutex_at<'a>(r: &'a serde_json::Value, addr: &str) -> &'a serde_json::Value {
    r["mutexes"]
        .as_array()
        .expect("mutexes")
        .iter()
        .find(|m| m["address"] == addr)
        .unwrap_or_else(|| panic!("no mutex reported at {addr}"))
}

#[test]
fn owner_died_in_shared_memory_without_waiter_or_symbol() {
    let f = facts("robust-shm-died", "parent");
    let fm = &f["mutexes"][0];
    let addr = fm["address"].as_str().expect("address");
    let dead = fm["owner_tid"].as_u64().expect("owner_tid");
    assert_eq!(fm["lock_word_seen"], "0x40000000");
    assert_eq!(f["waiters"].as_array().map(Vec::len), Some(0));
    // With and without the binary: nothing names the region, only the scan finds it.
    for with_binary in [true, false] {
        let r = report("robust-shm-died", "parent", with_binary);
        let m = mutex_at(&r, addr);
        assert_eq!(m["found_by"], serde_json::json!(["scan"]), "{m}");
        assert_eq!(m["state"], "owner-died");
        assert_eq!(m["robust"], true);
        assert_eq!(m["pshared"], true);
        assert_eq!(m["owner"]["tid"].as_u64(), Some(dead));
        assert_eq!(m["owner"]["class"], "dead");
        assert_eq!(m["mapping_kind"], "sysv-shm");
        assert_eq!(m["waiters"], serde_json::json!([]));
        let codes: Vec<&str> = r["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|x| x["code"].as_str().expect("code"))
            .collect();
        assert_eq!(codes, vec!["owner-died"], "binary {with_binary}");
        let fd = &r["findings"][0];
        assert_eq!(fd["severity"], "warning");
        assert_eq!(fd["mutexes"], serde_json::json!([addr]));
        let msg = fd["message"].as_str().expect("message");
        assert!(
            msg.contains(&format!("its owner (thread {dead}) died holding it")),
            "{msg}"
        );
        assert!(msg.contains("SysV shm segment key 0x6d75747f"), "{msg}");
    }
}

#[test]
fn owner_died_and_inconsistent_in_private_memory() {
    let f = facts("robust-dead", "main");
    let r = report("robust-dead", "main", true);
    for fm in f["mutexes"].as_array().expect("mutexes") {
        let addr = fm["address"].as_str().expect("address");
        let m = mutex_at(&r, addr);
        let state = fm["state"].as_str().expect("state");
        assert_eq!(m["state"], state, "{addr}");
        match state {
            "owner-died" => {
                assert_eq!(m["owner"]["tid"], fm["owner_tid"]);
                assert_eq!(m["owner"]["class"], "dead");
            }
            "inconsistent" => assert_eq!(m["owner"]["tid"], fm["owner_tid"]),
            s => panic!("unexpected state {s} in the facts"),
        }
        let f = r["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|x| x["code"] == "owner-died" && x["mutexes"] == serde_json::json!([addr]))
            .unwrap_or_else(|| panic!("no owner-died finding for {addr}"));
        assert_eq!(f["severity"], "warning");
    }
}
