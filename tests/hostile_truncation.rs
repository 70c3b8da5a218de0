//! Truncation sweep: every fixture and corpus core cut at every page boundary and at
//! odd offsets inside the ELF header, the program headers and the notes. Each cut
//! must give a clear error (only when not even the program header table is there) or
//! a partial result that says the core is truncated and what is missing — and the
//! memory that is still there must read exactly as in the whole core. Never a panic.
//!
//! What is expected is computed from the whole core's program headers as read by the
//! `object` crate, not by mutexdiag. A sample of cuts is also run through the real
//! binary to pin the message and the exit status.

use std::collections::BTreeSet;
use std::time::Duration;

use mutexdiag::ScanScope;
use mutexdiag::internals::coredump::{Core, CoreError};
use mutexdiag::internals::memory::{AddressSpace, Presence, ReadError};
use support::hostile::*;

mod support;

/// The offsets at which one core is cut.
fn cuts(data: &[u8], elf: &Elf) -> BTreeSet<usize> {
    let len = data.len();
    let mut c: BTreeSet<usize> = (0..len).step_by(4096).collect();
    // Every byte of the ELF header and a little past it.
    c.extend(0..96.min(len));
    // Every byte of the program header table.
    let ph_end = elf.phoff as usize + elf.phdrs.len() * elf.phentsize as usize;
    c.extend((elf.phoff as usize..=ph_end).filter(|&o| o < len));
    // Inside the notes: around every note header and descriptor, and a stride.
    for n in notes(data, elf) {
        for d in [0usize, 1, 3, 4, 8, 11, 12, 13, 15, 16] {
            c.insert(n.header + d);
            c.insert(n.desc + d);
        }
        c.insert(n.desc + n.descsz as usize / 2);
        c.insert(n.desc + n.descsz as usize);
        c.insert((n.desc + n.descsz as usize).saturating_sub(1));
    }
    for ph in elf.phdrs.iter().filter(|p| p.p_type == PT_NOTE) {
        c.extend((ph.offset as usize..(ph.offset + ph.filesz) as usize).step_by(37));
    }
    // Odd offsets inside memory segments, and just around every segment's edges.
    for ph in elf
        .phdrs
        .iter()
        .filter(|p| p.p_type == PT_LOAD && p.filesz > 0)
    {
        let (o, f) = (ph.offset as usize, ph.filesz as usize);
        for x in [o, o + 1, o + f / 3, o + f - 1, o + f, o + f + 1] {
            c.insert(x);
        }
    }
    c.retain(|&x| x < len);
    c
}

/// What a cut at `cut` loses: (PT_LOAD segments cut short, bytes absent, some note
/// segment cut, phdr table cut).
fn expected(elf: &Elf, cut: u64) -> (usize, u64, bool, bool) {
    let mut segs = 0;
    let mut absent = 0u64;
    let mut note = false;
    let ph_count_kept = cut.saturating_sub(elf.phoff) / elf.phentsize;
    let phdr_cut = (ph_count_kept as usize) < elf.phdrs.len();
    for ph in &elf.phdrs[..elf.phdrs.len().min(ph_count_kept as usize)] {
        let held = cut.saturating_sub(ph.offset).min(ph.filesz);
        if held < ph.filesz {
            match ph.p_type {
                PT_LOAD => {
                    segs += 1;
                    absent += ph.filesz - held;
                }
                PT_NOTE => note = true,
                _ => {}
            }
        }
    }
    (segs, absent, note, phdr_cut)
}

/// Check one cut. Returns an error description, or None when all is as expected.
fn check_cut(
    name: &str,
    data: &[u8],
    full: &Core<'_>,
    full_space: &AddressSpace<'_>,
    elf: &Elf,
    cut: usize,
) -> Option<String> {
    let part = &data[..cut];
    let ehsize = if elf.is64 { 64 } else { 52 };
    let res = Core::parse(part);
    let core = match res {
        Err(e) => {
            let msg = e.to_string();
            // An error is acceptable only when not even one program header is there.
            let first_ph = elf.phoff as usize + elf.phentsize as usize;
            let ok = match &e {
                CoreError::NotElf(_) => cut < 4,
                CoreError::Truncated(m) => {
                    (cut < ehsize && m.contains("shorter than"))
                        || (cut <= elf.phoff as usize && m.contains("past the end of the file"))
                }
                _ => false,
            };
            if !ok || cut >= first_ph {
                return Some(format!("{name} cut at {cut}: unexpected error: {msg}"));
            }
            if msg.is_empty() {
                return Some(format!("{name} cut at {cut}: empty message"));
            }
            return None;
        }
        Ok(c) => c,
    };
    if cut < ehsize {
        return Some(format!("{name} cut at {cut}: parsed a partial ELF header"));
    }
    let (segs, absent, note_cut, phdr_cut) = expected(elf, cut as u64);
    let texts: Vec<&str> = core.warnings.iter().map(|w| w.message.as_str()).collect();
    let has = |code: &str, needle: &str| {
        core.warnings
            .iter()
            .any(|w| w.code == code && w.message.contains(needle))
    };
    if phdr_cut {
        let held = (cut as u64).saturating_sub(elf.phoff) / elf.phentsize;
        let needle = format!(
            "declares {} program headers but the file holds only {held}",
            elf.phdrs.len()
        );
        if !has("truncated", &needle) {
            return Some(format!(
                "{name} cut at {cut}: program header table cut but no warning '{needle}': {texts:?}"
            ));
        }
    }
    if segs > 0 {
        if !core.truncated {
            return Some(format!("{name} cut at {cut}: not flagged truncated"));
        }
        let needle = format!("({absent} bytes absent");
        let count = format!("the core is truncated: {segs} of ");
        if !has("truncated", &needle) || !has("truncated", &count) {
            return Some(format!(
                "{name} cut at {cut}: expected {segs} segments / {absent} bytes missing, got {texts:?}"
            ));
        }
    }
    if note_cut && !has("truncated", "note segment") {
        return Some(format!(
            "{name} cut at {cut}: a note segment is cut but not said: {texts:?}"
        ));
    }
    if segs == 0 && !note_cut && !phdr_cut && core.warnings.iter().any(|w| w.code == "truncated") {
        return Some(format!(
            "{name} cut at {cut}: nothing is missing but a truncation is reported: {texts:?}"
        ));
    }
    if !note_cut && !phdr_cut {
        // Every note is there: the same threads as the whole core.
        let a: Vec<u32> = core.threads.iter().map(|t| t.tid).collect();
        let b: Vec<u32> = full.threads.iter().map(|t| t.tid).collect();
        if a != b {
            return Some(format!("{name} cut at {cut}: threads {a:?} != {b:?}"));
        }
    }
    // Memory: what is still in the file reads as in the whole core; what is gone is
    // reported as truncated, never as zeros or as unmapped.
    let space = AddressSpace::new(&core);
    for ph in elf
        .phdrs
        .iter()
        .filter(|p| p.p_type == PT_LOAD && p.memsz > 0)
    {
        if !core.segments.iter().any(|s| s.index == ph.index) {
            continue; // its program header was cut off
        }
        let held = (cut as u64).saturating_sub(ph.offset).min(ph.filesz);
        let mut probes = vec![0, ph.filesz / 2, held, held.saturating_sub(8)];
        probes.push(ph.filesz.saturating_sub(8));
        for o in probes {
            if o + 8 > ph.memsz {
                continue;
            }
            let addr = ph.vaddr + o;
            if full_space.segment(addr).map(|s| s.index) != Some(ph.index) {
                continue; // overlapped by another segment in the whole core
            }
            let got = space.slice(addr, 8);
            if o + 8 <= held {
                let want = full_space.slice(addr, 8).ok();
                if got.ok() != want {
                    return Some(format!(
                        "{name} cut at {cut}: bytes at {addr:#x} differ from the whole core"
                    ));
                }
            } else if o < ph.filesz {
                let trunc = matches!(got, Err(ReadError::Truncated { .. }));
                if !trunc || space.presence(addr.max(ph.vaddr + held)) != Presence::Truncated {
                    return Some(format!(
                        "{name} cut at {cut}: {addr:#x} is past the cut but reads as {got:?}"
                    ));
                }
            }
        }
    }
    // Everything downstream (mappings, models, the analysis, rendering) on the cuts that change
    // what the notes say, and on one page cut in 16 beyond them.
    if phdr_cut || note_cut || cut.is_multiple_of(16 * 4096) {
        mutexdiag::internals::fuzzing::exercise(&core);
        mutexdiag::internals::fuzzing::analyze(&core, ScanScope::Shared);
    }
    None
}

#[test]
fn every_core_cut_everywhere() {
    let mut failures = Vec::new();
    let mut total = 0usize;
    let mut partial = 0usize;
    for p in all_core_paths() {
        let tc = load(&p);
        if tc.data.get(..4) != Some(b"\x7fELF".as_slice()) {
            continue;
        }
        let elf = elf(&tc.data);
        let full = Core::parse(&tc.data).unwrap();
        let full_space = AddressSpace::new(&full);
        for cut in cuts(&tc.data, &elf) {
            total += 1;
            let r = std::panic::catch_unwind(|| {
                check_cut(&tc.name, &tc.data, &full, &full_space, &elf, cut)
            });
            match r {
                Ok(None) => {}
                Ok(Some(f)) => failures.push(f),
                Err(_) => failures.push(format!("{} cut at {cut}: PANIC", tc.name)),
            }
            if cut as u64 >= elf.phoff + elf.phentsize {
                partial += 1;
            }
            if failures.len() > 20 {
                break;
            }
        }
    }
    println!("{total} cuts checked, {partial} of them past the first program header");
    assert!(total > 10_000, "too few cuts: {total}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The binary on a few cuts of one fixture: a partial report with the warning, exit
/// 0; or the error with the file name, exit 2.
#[test]
fn binary_reports_truncation() {
    let p = fixture_paths()
        .into_iter()
        .find(|p| p.to_string_lossy().contains("/sysv-private/core.child"))
        .expect("fixture sysv-private/core.child.zst");
    let tc = load(&p);
    let elf = elf(&tc.data);
    let dir = tempfile::tempdir().unwrap();
    let notes_end = elf
        .phdrs
        .iter()
        .filter(|p| p.p_type == PT_NOTE)
        .map(|p| p.offset + p.filesz)
        .max()
        .unwrap() as usize;
    let mid_memory = notes_end + (tc.data.len() - notes_end) / 2;
    let f = dir.path().join("cut.core");

    // Cut in the middle of the memory: a partial report.
    std::fs::write(&f, &tc.data[..mid_memory]).unwrap();
    let (segs, absent, _, _) = expected(&elf, mid_memory as u64);
    for cmd in ["maps", "threads"] {
        let r = run_bin(&[cmd.as_ref(), f.as_os_str()], &[], Duration::from_secs(20));
        assert_eq!(r.code, Some(0), "{cmd}: {r:?}");
        // Text mode: warnings go to stderr.
        assert!(
            r.stderr
                .contains(&format!("warning: the core is truncated: {segs} of "))
                && r.stderr
                    .contains(&format!("({absent} bytes absent, from address")),
            "{cmd}: {}",
            r.stderr
        );
    }
    // `maps` marks what was lost.
    let r = run_bin(
        &[
            "maps".as_ref(),
            "--format".as_ref(),
            "json".as_ref(),
            f.as_os_str(),
        ],
        &[],
        Duration::from_secs(20),
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "truncated")
    );

    // Cut inside the notes: threads after the cut are lost, and it says so.
    let n = notes(&tc.data, &elf);
    let cut = n[n.len() / 2].desc + 5;
    std::fs::write(&f, &tc.data[..cut]).unwrap();
    let r = run_bin(
        &["threads".as_ref(), f.as_os_str()],
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stderr.contains("warning: note segment 0 declares")
            && r.stderr.contains("the file holds")
            && r.stderr.contains("the notes after it are lost"),
        "{}",
        r.stderr
    );

    // Cut inside the ELF header: nothing to analyse, exit 2, the file is named.
    std::fs::write(&f, &tc.data[..40]).unwrap();
    let r = run_bin(
        &["maps".as_ref(), f.as_os_str()],
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(r.code, Some(2));
    assert_eq!(
        r.stderr,
        format!(
            "mutexdiag: {}: truncated: the file is 40 bytes, shorter than an ELF header\n",
            f.display()
        )
    );
    // Cut where the program header table starts.
    let cut = elf.phoff as usize;
    std::fs::write(&f, &tc.data[..cut]).unwrap();
    let r = run_bin(
        &["threads".as_ref(), f.as_os_str()],
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(r.code, Some(2));
    assert_eq!(
        r.stderr,
        format!(
            "mutexdiag: {}: truncated: the program header table is at offset {:#x}, past the end of the file ({cut} bytes)\n",
            f.display(),
            elf.phoff
        )
    );
}
