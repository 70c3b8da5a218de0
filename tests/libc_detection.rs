//! The C library of a static executable is recognised from the executable's own
//! marks (NT_GNU_ABI_TAG, EI_OSABI GNU, glibc-only strings), from `--binary` or from
//! the executable's first page in the core, and a weak guess is settled by a blocked
//! futex wait. Real cores: `static-glibc` and `static-glibc-stripped` (x86_64, gcc
//! -static, glibc), `musl-sysv-private` (musl-gcc -static). Expectations come from
//! the facts the programs wrote at run time.

use std::process::Command;

use mutexdiag::internals::coredump::Core;
use mutexdiag::internals::memory::AddressSpace;
use mutexdiag::internals::mutex::select::{self, Libc, LibcGuess};

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
        // A relative path, as a user types it (it is shown in the report).
        c.current_dir(root())
            .arg("--binary")
            .arg(format!("fixtures/{scenario}/app"));
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

fn core_bytes(scenario: &str, role: &str) -> Vec<u8> {
    support::decompress(&support::fixture(&format!("{scenario}/core.{role}.zst")))
}

/// The contended mutex of the facts is found, decoded as glibc with its owner and
/// its exact waiters; the layout is glibc; no error finding.
fn check_static_glibc(scenario: &str, layout: &str) {
    let f = facts(scenario, "main");
    let fm = f["mutexes"]
        .as_array()
        .expect("mutexes")
        .iter()
        .find(|m| m["name"] == "contended")
        .expect("contended in facts");
    let addr = fm["address"].as_str().expect("address");
    let mut want_waiters: Vec<u64> = f["waiters"]
        .as_array()
        .expect("waiters")
        .iter()
        .filter(|w| w["mutex"] == "contended")
        .filter_map(|w| w["tid"].as_u64())
        .collect();
    want_waiters.sort_unstable();
    assert_eq!(want_waiters.len(), 3);
    for with_binary in [false, true] {
        let r = report(scenario, "main", with_binary);
        let ctx = format!("{scenario} (--binary: {with_binary})");
        assert_eq!(r["core"]["libc"], "glibc", "{ctx}");
        assert_eq!(r["core"]["layout"], layout, "{ctx}");
        let m = r["mutexes"]
            .as_array()
            .expect("mutexes")
            .iter()
            .find(|m| m["address"] == addr)
            .unwrap_or_else(|| panic!("{ctx}: contended mutex at {addr} not found"));
        assert_eq!(m["layout"], layout, "{ctx}");
        assert_eq!(m["owner"]["tid"], fm["owner_tid"], "{ctx}");
        assert_eq!(m["owner"]["class"], "own-thread", "{ctx}");
        assert_eq!(m["state"], "contended", "{ctx}");
        let mut w: Vec<u64> = m["waiters"]
            .as_array()
            .expect("waiters")
            .iter()
            .filter_map(|x| x.as_u64())
            .collect();
        w.sort_unstable();
        assert_eq!(w, want_waiters, "{ctx}");
        let errors: Vec<&str> = r["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|x| x["severity"] == "error")
            .filter_map(|x| x["code"].as_str())
            .collect();
        assert!(errors.is_empty(), "{ctx}: {errors:?}");
        let guessed: Vec<&str> = r["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .filter(|x| x["code"] == "libc-guess")
            .filter_map(|x| x["message"].as_str())
            .collect();
        assert!(
            guessed.is_empty(),
            "{ctx}: glibc marks ignored: {guessed:?}"
        );
    }
}

#[test]
fn static_glibc_x86_64() {
    check_static_glibc("static-glibc", "glibc-x86_64");
}

#[test]
fn static_glibc_x86_64_stripped() {
    check_static_glibc("static-glibc-stripped", "glibc-x86_64");
}

#[test]
fn marks_of_the_fixture_executables() {
    for (scenario, glibc) in [
        ("static-glibc", true),
        ("static-glibc-stripped", true),
        ("musl-sysv-private", false),
    ] {
        let b = std::fs::read(root().join(format!("fixtures/{scenario}/app"))).expect("app");
        let m = select::exe_marks(&b, "--binary", true).expect("an ELF file");
        assert_eq!(m.gnu_abi_tag, glibc, "{scenario}: NT_GNU_ABI_TAG");
        assert_eq!(
            m.glibc_string.is_some(),
            glibc,
            "{scenario}: {:?}",
            m.glibc_string
        );
        // Only the first page, as a core holds it: the note is in it.
        let head = select::exe_marks(&b[..4096], "first page", false).expect("an ELF header");
        assert_eq!(
            head.gnu_abi_tag, glibc,
            "{scenario}: note in the first page"
        );
    }
}

/// With no mark at all, the guess is weak (musl), and the blocked futex waits of a
/// real glibc core overturn it; on the musl core they confirm musl.
#[test]
fn futex_waits_settle_a_weak_guess() {
    for (scenario, role, want) in [
        ("static-glibc-stripped", "main", Libc::Glibc),
        ("static-glibc", "main", Libc::Glibc),
        ("musl-sysv-private", "parent", Libc::Musl),
    ] {
        let data = core_bytes(scenario, role);
        let core = Core::parse(&data).expect("parse");
        let space = AddressSpace::new(&core);
        let weak = select::detect_libc(&[], Some(&select::ExeMarks::default()));
        assert!(weak.weak, "{scenario}");
        assert_eq!(weak.libc, Libc::Musl);
        let (g, msg): (LibcGuess, Option<String>) =
            select::decide_by_futex_waits(&core, &space, weak);
        assert_eq!(g.libc, want, "{scenario}");
        assert!(!g.weak);
        let msg = msg.expect("a message saying what decided");
        assert!(msg.contains("futex wait"), "{msg}");
    }
}

/// The musl fixture: no glibc mark in the executable's first page; the futex wait
/// of the parent decides musl, and the report says so.
#[test]
fn static_musl_is_musl() {
    for with_binary in [false, true] {
        let r = report("musl-sysv-private", "parent", with_binary);
        assert_eq!(r["core"]["libc"], "musl", "--binary {with_binary}");
        assert_eq!(r["core"]["layout"], "musl-x86_64");
    }
}

/// aarch64 static glibc under qemu-aarch64: the guest core has no NT_FILE and no
/// NT_SIGINFO, and qemu did not dump the executable's text (so its marks are not in
/// the core): without --binary the blocked futex wait decides glibc; with --binary
/// the marks do, the executable's segments are placed from it (`.bss of app`, not
/// "heap") and the backtraces are symbolized from it.
#[test]
fn static_glibc_aarch64_under_qemu() {
    for (scenario, stripped) in [
        ("qemu-user/static-glibc-aarch64", false),
        ("qemu-user/static-glibc-aarch64-stripped", true),
    ] {
        let f = facts(scenario, "main");
        let fm = &f["mutexes"][0];
        assert_eq!(fm["name"], "contended");
        let addr = fm["address"].as_str().expect("address");
        let waiter = &f["waiters"][0];
        assert_eq!(waiter["mutex"], "contended");
        for with_binary in [false, true] {
            let ctx = format!("{scenario} (--binary: {with_binary})");
            let r = report(scenario, "main", with_binary);
            assert_eq!(r["core"]["libc"], "glibc", "{ctx}");
            assert_eq!(r["core"]["layout"], "glibc-aarch64", "{ctx}");
            let m = r["mutexes"]
                .as_array()
                .expect("mutexes")
                .iter()
                .find(|m| m["address"] == addr)
                .unwrap_or_else(|| panic!("{ctx}: contended mutex not found"));
            assert_eq!(m["owner"]["tid"], fm["owner_tid"], "{ctx}");
            assert_eq!(m["state"], "contended", "{ctx}");
            assert_eq!(m["waiters"], serde_json::json!([waiter["tid"]]), "{ctx}");
            let w = r["threads"]
                .as_array()
                .expect("threads")
                .iter()
                .find(|t| t["tid"] == waiter["tid"])
                .expect("waiter thread");
            assert_eq!(w["futex"]["address"], addr, "{ctx}");
            let warned = |code: &str| {
                r["warnings"]
                    .as_array()
                    .expect("warnings")
                    .iter()
                    .any(|x| x["code"] == code)
            };
            if with_binary {
                assert_eq!(m["location"], ".bss of app", "{ctx}");
                assert!(warned("no-file-note"), "{ctx}");
                assert!(!warned("libc-guess"), "{ctx}");
                let names: Vec<&str> = w["frames"]
                    .as_array()
                    .expect("frames")
                    .iter()
                    .filter_map(|x| x["function"].as_str())
                    .collect();
                if !stripped {
                    assert!(names.contains(&"pthread_mutex_lock"), "{ctx}: {names:?}");
                    assert_eq!(m["symbol"], "contended", "{ctx}");
                    assert!(names.contains(&"waiter"), "{ctx}: {names:?}");
                    // The recursive global, by its symbol, held 3 times.
                    let rec = &f["mutexes"][1];
                    let mr = r["mutexes"]
                        .as_array()
                        .expect("mutexes")
                        .iter()
                        .find(|x| x["address"] == rec["address"])
                        .expect("rec");
                    assert_eq!(mr["count"], 3, "{ctx}");
                    assert_eq!(mr["location"], ".data of app", "{ctx}");
                }
            } else {
                assert_ne!(m["location"], "heap", "{ctx}");
                let msg: Vec<&str> = r["warnings"]
                    .as_array()
                    .expect("warnings")
                    .iter()
                    .filter(|x| x["code"] == "libc-guess")
                    .filter_map(|x| x["message"].as_str())
                    .collect();
                assert!(
                    msg.iter()
                        .any(|m| m.contains("decided by the blocked futex waits")),
                    "{ctx}: {msg:?}"
                );
            }
        }
    }
}
