//! Conformance on the shared Solaris / illumos corpus: 12 real Solaris 10/11 SPARC
//! and illumos i386/amd64 cores, compared by `check-solaris` with oracles from an
//! independent note decoder cross-checked with gdb-multiarch (not by us).
//! Skipped, with a message, when `../shared` is absent.

use std::path::PathBuf;
use std::process::Command;

use mutexdiag::internals::coredump::Core;
use mutexdiag::internals::coredump::solaris::{ULWP_AMD64, ULWP_I386, find_ulwps};

mod support;

/// `../shared/corpus/solaris`; `None`, after a SKIPPED line naming `test`, without it.
fn solaris_dir(test: &str) -> Option<PathBuf> {
    support::corpus_dir(test, "solaris/check-solaris").map(|d| d.join("solaris"))
}

fn core_bytes(dir: &std::path::Path, id: &str) -> Vec<u8> {
    support::decompress(&dir.join("cores").join(format!("{id}.core.zst")))
}

#[test]
fn solaris_corpus_matches_oracles() {
    let Some(dir) = solaris_dir("solaris_corpus_matches_oracles") else {
        return;
    };
    let out = Command::new("python3")
        .arg(dir.join("check-solaris"))
        .arg(env!("CARGO_BIN_EXE_mutexdiag"))
        .output()
        .expect("run check-solaris (needs python3 and zstd)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "check-solaris failed:\n{stdout}\n{stderr}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    let (passed, total) = last
        .trim_start_matches("corpus: ")
        .split(' ')
        .next()
        .and_then(|s| s.split_once('/'))
        .expect("PASSED/TOTAL");
    assert_eq!(passed, total, "{last}");
    assert!(
        total.parse::<u32>().unwrap_or(0) >= 600,
        "too few checks ran: {last}"
    );
}

/// The `ulwp_t` walk, checked where the truth is in the core: on amd64 the
/// thread pointer is `pr_reg[REG_FSBASE]`, and the walk with the amd64 offsets
/// must find exactly that block for every LWP.
#[test]
fn ulwp_walk_finds_the_fsbase_on_amd64() {
    let Some(dir) = solaris_dir("ulwp_walk_finds_the_fsbase_on_amd64") else {
        return;
    };
    for id in ["illumos-amd64-lab9-osi", "illumos-amd64-lab9-gcclab9"] {
        let data = core_bytes(&dir, id);
        let core = Core::parse(&data).expect("parse");
        let found = find_ulwps(&core, &ULWP_AMD64);
        assert!(!core.threads.is_empty(), "{id}");
        for t in &core.threads {
            let fsbase = t.reg("fsbase").expect("fsbase");
            assert_ne!(fsbase, 0, "{id}");
            let mine: Vec<u64> = found
                .iter()
                .filter(|(_, l)| *l == t.tid)
                .map(|(a, _)| *a)
                .collect();
            assert_eq!(mine, vec![fsbase], "{id} LWP {}", t.tid);
        }
    }
}

/// i386 illumos records only the %gs selector: the thread pointer comes from the
/// walk, and it must be a block that names this LWP and points at itself.
#[test]
fn i386_illumos_threads_have_a_thread_pointer() {
    let Some(dir) = solaris_dir("i386_illumos_threads_have_a_thread_pointer") else {
        return;
    };
    for id in ["illumos-i386-sigquit", "illumos-i386-lab20"] {
        let data = core_bytes(&dir, id);
        let core = Core::parse(&data).expect("parse");
        assert!(!core.threads.is_empty(), "{id}");
        for t in &core.threads {
            let tp = t
                .thread_pointer
                .unwrap_or_else(|| panic!("{id}: LWP {} has no thread pointer", t.tid));
            let rd = |a: u64| {
                core.read_memory(a, 4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            };
            assert_eq!(rd(tp).map(u64::from), Some(tp), "{id}: ul_self");
            assert_eq!(rd(tp + ULWP_I386.lwpid), Some(t.tid), "{id}: ul_lwpid");
        }
    }
}
