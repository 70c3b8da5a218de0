//! Inputs the fuzzers (`fuzz/`) found to crash or hang mutexdiag, kept as named
//! regression tests. Each runs the same entry point as its fuzz target. The bytes are
//! in `tests/data/crash-<target>-<what>.bin`; a test at the end checks that every
//! such file has its named test here.

use mutexdiag::internals::coredump::Endian;
use mutexdiag::internals::fuzzing;

mod support;

fn data(name: &str) -> Vec<u8> {
    let p = support::root().join("tests/data").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// What the `core` fuzz target runs.
fn core_target(bytes: &[u8]) {
    fuzzing::core(bytes);
}

/// What the `notes` fuzz target runs.
fn notes_target(bytes: &[u8]) {
    if let Some((&sel, notes)) = bytes.split_first() {
        fuzzing::core(&fuzzing::core_with_notes(sel, notes));
    }
}

/// What the `nt_file` fuzz target runs.
#[allow(dead_code)]
fn nt_file_target(bytes: &[u8]) {
    if let Some((&sel, desc)) = bytes.split_first() {
        let word = if sel & 1 == 0 { 8 } else { 4 };
        let endian = if sel & 2 == 0 {
            Endian::Little
        } else {
            Endian::Big
        };
        let _ = fuzzing::file_note(desc, endian, word);
    }
}

/// `core` target, found in the first minute: a PT_LOAD whose data lies past the end
/// of the file, with a huge p_memsz, read near the top of its range. Computing the
/// first missing address as `addr + max(available, o) - o` overflowed
/// (`attempt to add with overflow`, src/memory.rs `AddressSpace::slice`).
#[test]
fn core_slice_missing_address_overflow() {
    core_target(&data("crash-core-slice-overflow.bin"));
}

/// Not found by a fuzzer but by reading the code while writing the targets: with
/// thousands of threads, each NetBSD LWP note looked its thread up by scanning every
/// thread (quadratic). 20000 LWP notes must take well under the fuzzers' 10 s
/// timeout (this is a bound on the work, not a benchmark).
#[test]
fn netbsd_many_lwps_is_not_quadratic() {
    let mut notes = Vec::new();
    for i in 0..20_000u32 {
        let owner = format!("NetBSD-CORE@{}\0", i + 1);
        notes.extend_from_slice(&(owner.len() as u32).to_le_bytes());
        notes.extend_from_slice(&0u32.to_le_bytes());
        notes.extend_from_slice(&35u32.to_le_bytes()); // PT_GETFPREGS: no registers
        notes.extend_from_slice(owner.as_bytes());
        while !notes.len().is_multiple_of(4) {
            notes.push(0);
        }
    }
    // Selector 0: x86_64, little-endian.
    let core = fuzzing::core_with_notes(0, &notes);
    let t = std::time::Instant::now();
    let c = mutexdiag::internals::coredump::Core::parse(&core).unwrap();
    assert_eq!(c.threads.len(), 20_000);
    fuzzing::exercise(&c);
    assert!(t.elapsed().as_secs() < 10, "{:?}", t.elapsed());
}

/// Same for Solaris: one NT_LWPSINFO per zombie LWP was checked against every thread.
#[test]
fn solaris_many_lwpsinfo_is_not_quadratic() {
    let mut notes = Vec::new();
    // An NT_PSTATUS first, so the core is recognised as Solaris.
    for (t, id) in std::iter::once((10u32, 0u32)).chain((0..20_000u32).map(|i| (17, i + 1))) {
        let mut desc = vec![0u8; 16];
        desc[4..8].copy_from_slice(&id.to_le_bytes());
        notes.extend_from_slice(&5u32.to_le_bytes());
        notes.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        notes.extend_from_slice(&t.to_le_bytes());
        notes.extend_from_slice(b"CORE\0\0\0\0");
        notes.extend_from_slice(&desc);
    }
    let core = fuzzing::core_with_notes(0, &notes);
    let t = std::time::Instant::now();
    let c = mutexdiag::internals::coredump::Core::parse(&core).unwrap();
    assert_eq!(c.os, mutexdiag::internals::coredump::Os::Solaris);
    assert_eq!(c.threads.len(), 20_000);
    fuzzing::exercise(&c);
    assert!(t.elapsed().as_secs() < 10, "{:?}", t.elapsed());
}

/// Every `tests/data/crash-*` file is used by a test above.
#[test]
fn every_crasher_has_a_named_test() {
    let src = include_str!("fuzz_regressions.rs");
    let dir = support::root().join("tests/data");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("crash-") {
            n += 1;
            assert!(
                src.contains(&format!("data(\"{name}\")")),
                "{name} has no named regression test"
            );
            let target = name.trim_start_matches("crash-");
            assert!(
                ["core-", "notes-", "ntfile-", "layout-", "analysis-"]
                    .iter()
                    .any(|p| target.starts_with(p)),
                "{name}: name it crash-<target>-<what>.bin"
            );
        }
    }
    assert!(n >= 1);
    let _ = notes_target; // used by the notes crashers as they are found
}
