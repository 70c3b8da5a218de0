//! Mutation sweep, in process: bit flips in the ELF header, the program headers, the
//! notes and the mutex bytes of every fixture; absurd values in every header field
//! (offsets and sizes past the end of the file, overlapping and zero-size segments,
//! note sizes of 2^32, an NT_FILE count of 2^40 and a page size of 0, the other byte
//! order and class); random bytes. For each: no panic, at most 64 MiB allocated
//! beyond the input (measured by a counting allocator), and a watchdog aborts the
//! test if one input takes more than 10 seconds.
//!
//! This file holds a single test so that the allocator's peak belongs to it alone.
//! The same kinds of input are run through the real binary, with its peak RSS
//! measured, in `hostile_limits.rs`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mutexdiag::ScanScope;
use mutexdiag::internals::coredump::{Arch, Core, NT_FILE};
use mutexdiag::internals::memory::AddressSpace;
use support::hostile::*;

mod support;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) };
        CURRENT.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new >= l.size() {
                let now = CURRENT.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// 64 MiB beyond the input, whatever sizes the file claims.
const BUDGET: usize = 64 << 20;

/// One mutation: patches (offset, bytes) applied to the core, then undone.
struct Mutation {
    what: String,
    patches: Vec<(usize, Vec<u8>)>,
}

fn word(v: u64, n: usize, big: bool) -> Vec<u8> {
    if big {
        v.to_be_bytes()[8 - n..].to_vec()
    } else {
        v.to_le_bytes()[..n].to_vec()
    }
}

fn flip(at: usize, data: &[u8], bit: u32) -> (usize, Vec<u8>) {
    (at, vec![data[at] ^ (1 << bit)])
}

/// Offsets and sizes of the program header fields: (name, offset, size).
fn ph_fields(is64: bool) -> [(&'static str, usize, usize); 5] {
    if is64 {
        [
            ("p_type", 0, 4),
            ("p_offset", 8, 8),
            ("p_vaddr", 16, 8),
            ("p_filesz", 32, 8),
            ("p_memsz", 40, 8),
        ]
    } else {
        [
            ("p_type", 0, 4),
            ("p_offset", 4, 4),
            ("p_vaddr", 8, 4),
            ("p_filesz", 16, 4),
            ("p_memsz", 20, 4),
        ]
    }
}

fn mutations(tc: &TestCore, elf: &Elf, rng: &mut Rng) -> Vec<Mutation> {
    let d = &tc.data;
    let len = d.len() as u64;
    let big = elf.big;
    let w = if elf.is64 { 8 } else { 4 };
    let ehsize = if elf.is64 { 64 } else { 52 };
    let mut out = Vec::new();
    let mut m = |what: String, patches: Vec<(usize, Vec<u8>)>| {
        out.push(Mutation { what, patches });
    };

    // A. The ELF header: every bit, then absurd field values.
    for at in 0..ehsize {
        for bit in 0..8 {
            m(format!("ehdr byte {at} bit {bit}"), vec![flip(at, d, bit)]);
        }
    }
    let (phoff_at, shoff_at, phent_at, phnum_at) = if elf.is64 {
        (32, 40, 54, 56)
    } else {
        (28, 32, 42, 44)
    };
    let absurd: Vec<u64> = vec![
        0,
        1,
        len - 1,
        len,
        len + 1,
        0xffff_ffff,
        1 << 32,
        1 << 40,
        1 << 63,
        u64::MAX,
        u64::MAX - 4095,
        u64::MAX - 55,
    ];
    for &v in &absurd {
        m(
            format!("e_phoff = {v:#x}"),
            vec![(phoff_at, word(v, w, big))],
        );
        m(
            format!("e_phnum = PN_XNUM, e_shoff = {v:#x}"),
            vec![
                (phnum_at, word(0xffff, 2, big)),
                (shoff_at, word(v, w, big)),
            ],
        );
    }
    for v in [0u64, 1, 31, 55, 57, 0x7fff, 0xffff] {
        m(
            format!("e_phentsize = {v}"),
            vec![(phent_at, word(v, 2, big))],
        );
    }
    for v in [0u64, 1, 0xfffe, 0xffff] {
        m(
            format!("e_phnum = {v:#x}"),
            vec![(phnum_at, word(v, 2, big))],
        );
    }
    // A section header 0 whose sh_info claims 2^32-1 program headers.
    let sh0 = (len as usize).saturating_sub(if elf.is64 { 64 } else { 40 });
    let sh_info = sh0 + if elf.is64 { 44 } else { 28 };
    m(
        "e_phnum = PN_XNUM, sh_info = 0xffffffff".into(),
        vec![
            (phnum_at, word(0xffff, 2, big)),
            (shoff_at, word(sh0 as u64, w, big)),
            (sh_info, word(0xffff_ffff, 4, big)),
        ],
    );
    for mach in [
        0u64, 2, 3, 4, 8, 20, 21, 22, 40, 43, 62, 183, 243, 258, 0xffff,
    ] {
        m(
            format!("e_machine = {mach}"),
            vec![(18, word(mach, 2, big))],
        );
    }
    m("EI_CLASS swapped".into(), vec![(4, vec![3 - d[4]])]);
    m("EI_DATA swapped".into(), vec![(5, vec![3 - d[5]])]);
    m(
        "EI_CLASS and EI_DATA swapped".into(),
        vec![(4, vec![3 - d[4]]), (5, vec![3 - d[5]])],
    );

    // B. Program headers: absurd values in the fields of a sample of them, then
    // whole-table rewrites.
    let phs: Vec<Ph> = elf.phdrs.clone();
    let loads: Vec<&Ph> = phs.iter().filter(|p| p.p_type == PT_LOAD).collect();
    let mut sample: Vec<&Ph> = phs.iter().filter(|p| p.p_type == PT_NOTE).collect();
    sample.extend(loads.iter().take(2));
    sample.extend(loads.last());
    for _ in 0..3 {
        if !loads.is_empty() {
            sample.push(loads[rng.below(loads.len() as u64) as usize]);
        }
    }
    let at = |p: &Ph| elf.phoff as usize + p.index * elf.phentsize as usize;
    for p in &sample {
        for (name, off, size) in ph_fields(elf.is64) {
            let vals: Vec<u64> = if name == "p_type" {
                vec![0, 1, 4, 6, 0xffff_ffff, 0x6474_e550]
            } else {
                absurd.clone()
            };
            for v in vals {
                m(
                    format!("phdr {} {name} = {v:#x}", p.index),
                    vec![(at(p) + off, word(v, size, big))],
                );
            }
        }
        for i in 0..elf.phentsize as usize * 8 {
            if rng.below(8) == 0 {
                m(
                    format!("phdr {} bit {i}", p.index),
                    vec![flip(at(p) + i / 8, d, (i % 8) as u32)],
                );
            }
        }
    }
    let f = ph_fields(elf.is64);
    let all = |pick: &dyn Fn(&Ph) -> Option<(usize, u64)>| -> Vec<(usize, Vec<u8>)> {
        phs.iter()
            .filter_map(|p| {
                let (fi, v) = pick(p)?;
                Some((at(p) + f[fi].1, word(v, f[fi].2, big)))
            })
            .collect()
    };
    m(
        "every p_offset past EOF".into(),
        all(&|_| Some((1, len + 4096))),
    );
    m(
        "every p_offset = u64::MAX".into(),
        all(&|_| Some((1, u64::MAX))),
    );
    m(
        "every p_filesz = u64::MAX".into(),
        all(&|_| Some((3, u64::MAX))),
    );
    m("every p_filesz = 2^32".into(), all(&|_| Some((3, 1 << 32))));
    m(
        "every PT_LOAD at the same address".into(),
        all(&|p| (p.p_type == PT_LOAD).then_some((2, 0x1000))),
    );
    m(
        "every PT_LOAD of memsz u64::MAX".into(),
        all(&|p| (p.p_type == PT_LOAD).then_some((4, u64::MAX))),
    );
    m(
        "every PT_LOAD ending at the top of memory".into(),
        all(&|p| (p.p_type == PT_LOAD).then_some((2, u64::MAX - p.memsz / 2))),
    );
    let mut zero = all(&|p| (p.p_type == PT_LOAD).then_some((3, 0)));
    zero.extend(all(&|p| (p.p_type == PT_LOAD).then_some((4, 0))));
    m("every PT_LOAD of size 0".into(), zero);
    m(
        "every PT_LOAD pointing at the notes".into(),
        all(&|p| {
            let note = phs.iter().find(|n| n.p_type == PT_NOTE)?;
            (p.p_type == PT_LOAD).then_some((1, note.offset))
        }),
    );
    m(
        "every program header is a PT_NOTE".into(),
        all(&|_| Some((0, 4))),
    );
    m(
        "every program header is a PT_LOAD".into(),
        all(&|_| Some((0, 1))),
    );

    // C. Notes: sizes and types of every note header, and the note segment's size.
    let ns = notes(d, elf);
    for n in ns.iter().take(64) {
        let h = n.header;
        for v in [
            0xffff_ffffu64,
            0x8000_0000,
            0xffff_fffc,
            0,
            u64::from(n.namesz) + 1,
        ] {
            m(
                format!("note at {h:#x} namesz = {v:#x}"),
                vec![(h, word(v, 4, big))],
            );
        }
        for v in [
            0xffff_ffffu64,
            0xffff_fffc,
            0x8000_0000,
            0,
            u64::from(n.descsz) + 4,
            u64::from(n.descsz.saturating_sub(4)),
            u64::from(n.descsz / 2),
        ] {
            m(
                format!("note at {h:#x} descsz = {v:#x}"),
                vec![(h + 4, word(v, 4, big))],
            );
        }
        for t in [
            1u64,
            2,
            3,
            6,
            0x5349_4749,
            0x4649_4c45,
            0x200,
            0x401,
            10,
            13,
            16,
            17,
            20,
            33,
        ] {
            m(
                format!("note at {h:#x} type = {t:#x}"),
                vec![(h + 8, word(t, 4, big))],
            );
        }
        // Owner names of the other operating systems.
        for owner in [
            b"NetBSD-CORE\0".as_slice(),
            b"NetBSD-CORE@1",
            b"LINUX\0\0\0",
        ] {
            if n.namesz as usize >= owner.len() {
                m(
                    format!("note at {h:#x} owner {:?}", String::from_utf8_lossy(owner)),
                    vec![(h + 12, owner.to_vec())],
                );
            }
        }
    }
    for p in phs.iter().filter(|p| p.p_type == PT_NOTE) {
        for v in [1u64 << 32, (1 << 32) + p.filesz, u64::MAX, p.filesz + 1, 11] {
            m(
                format!("PT_NOTE p_filesz = {v:#x}"),
                vec![(at(p) + f[3].1, word(v, f[3].2, big))],
            );
        }
        for _ in 0..200 {
            let o = p.offset + rng.below(p.filesz.max(1));
            let bit = rng.below(8) as u32;
            m(
                format!("note byte {o:#x} bit {bit}"),
                vec![flip(o as usize, d, bit)],
            );
        }
    }

    // D. NT_FILE: a count of 2^40, a page size of 0 or 2^64-1, names without NULs.
    for n in ns.iter().filter(|n| n.n_type == NT_FILE) {
        let count = if w == 8 { 1u64 << 40 } else { 0xffff_ffff };
        m(
            "NT_FILE count 2^40".into(),
            vec![(n.desc, word(count, w, big))],
        );
        m(
            "NT_FILE page size 0".into(),
            vec![(n.desc + w, word(0, w, big))],
        );
        m(
            "NT_FILE count 2^40 and page size 0".into(),
            vec![(n.desc, word(count, w, big)), (n.desc + w, word(0, w, big))],
        );
        m(
            "NT_FILE page size u64::MAX".into(),
            vec![(n.desc + w, word(u64::MAX, w, big))],
        );
        let desc = &d[n.desc..n.desc + n.descsz as usize];
        let nuls: Vec<(usize, Vec<u8>)> = desc
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == 0)
            .map(|(i, _)| (n.desc + i, vec![b'A']))
            .collect();
        m("NT_FILE with no NUL at all".into(), nuls);
        // Entries: start > end, end = u64::MAX, page offset u64::MAX.
        let cnt = rd32(d, n.desc + if big { w - 4 } else { 0 }, big) as usize; // low half
        for i in 0..cnt.min(4) {
            let e = n.desc + 2 * w + i * 3 * w;
            m(
                format!("NT_FILE entry {i} start = u64::MAX"),
                vec![(e, word(u64::MAX, w, big))],
            );
            m(
                format!("NT_FILE entry {i} end = 0"),
                vec![(e + w, word(0, w, big))],
            );
            m(
                format!("NT_FILE entry {i} page offset = u64::MAX"),
                vec![(e + 2 * w, word(u64::MAX, w, big))],
            );
        }
    }

    // E. The mutexes the program recorded: every bit, and absurd words.
    for &addr in &tc.mutexes {
        let Some(o) = file_offset(elf, addr) else {
            continue;
        };
        let o = o as usize;
        if o + 48 > d.len() {
            continue;
        }
        for i in 0..48 * 8 {
            m(
                format!("mutex {addr:#x} bit {i}"),
                vec![flip(o + i / 8, d, (i % 8) as u32)],
            );
        }
        for k in 0..12 {
            for v in [
                0u64,
                1,
                2,
                0xffff_ffff,
                0x8000_0000,
                0x7fff_ffff,
                0x4000_0000,
                0x7fff_fffe,
            ] {
                m(
                    format!("mutex {addr:#x} word {k} = {v:#x}"),
                    vec![(o + 4 * k, word(v, 4, big))],
                );
            }
        }
    }

    // F. Random bytes in the headers and notes.
    let head = d.len().min(64 << 10) as u64;
    for i in 0..200 {
        let k = 1 + rng.below(16);
        let patches = (0..k)
            .map(|_| (rng.below(head) as usize, vec![rng.next() as u8]))
            .collect();
        m(format!("random bytes #{i}"), patches);
    }
    out
}

/// Run everything the library does on `data` (the `maps` and `threads` work and,
/// when `whole`, the whole analysis with its default scan of shared mappings), plus
/// the mutex layouts at the recorded mutex addresses.
fn analyse(data: &[u8], mutexes: &[u64], whole: bool) {
    let Ok(core) = Core::parse(data) else {
        return;
    };
    mutexdiag::internals::fuzzing::exercise(&core);
    if whole {
        mutexdiag::internals::fuzzing::analyze(&core, ScanScope::Shared);
    }
    let space = AddressSpace::new(&core);
    let arch = if core.arch == Arch::Unknown {
        Arch::X86_64
    } else {
        core.arch
    };
    for &a in mutexes {
        if let Ok(b) = space.read(a, 48) {
            mutexdiag::internals::fuzzing::decode_mutex(arch, &b, core.endian);
        }
    }
}

#[test]
fn mutation_sweep() {
    // Watchdog: one input taking more than 10 s aborts the whole test (a hang would
    // otherwise only show as a CI timeout).
    static STARTED: AtomicU64 = AtomicU64::new(0);
    static CURRENT_WHAT: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());
    let epoch = Instant::now();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let s = STARTED.load(Ordering::Relaxed);
            if s != 0 && epoch.elapsed().as_millis() as u64 > s + 10_000 {
                let what = CURRENT_WHAT.lock().map(|w| w.clone()).unwrap_or_default();
                eprintln!("mutation sweep: input '{what}' ran for more than 10 s: aborting");
                std::process::abort();
            }
        }
    });

    let mut rng = Rng(0x6d75_7465_7864_6961);
    let mut failures = Vec::new();
    let mut count = 0usize;
    let mut worst = (0usize, String::new());
    let mut slowest = (Duration::ZERO, String::new());
    for p in all_core_paths() {
        let mut tc = load(&p);
        if tc.data.get(..4) != Some(b"\x7fELF".as_slice()) {
            continue;
        }
        let elf = elf(&tc.data);
        let muts = mutations(&tc, &elf, &mut rng);
        let mutexes = tc.mutexes.clone();
        for mu in muts {
            let saved: Vec<(usize, Vec<u8>)> = mu
                .patches
                .iter()
                .filter(|(o, b)| o + b.len() <= tc.data.len())
                .map(|(o, b)| (*o, tc.data[*o..*o + b.len()].to_vec()))
                .collect();
            for (o, b) in &mu.patches {
                if o + b.len() <= tc.data.len() {
                    tc.data[*o..*o + b.len()].copy_from_slice(b);
                }
            }
            let what = format!("{}: {}", tc.name, mu.what);
            if let Ok(mut w) = CURRENT_WHAT.lock() {
                w.clone_from(&what);
            }
            let base = CURRENT.load(Ordering::Relaxed);
            PEAK.store(base, Ordering::Relaxed);
            let t0 = Instant::now();
            STARTED.store(epoch.elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
            let data = &tc.data;
            // The whole analysis on one mutation in three (and on every one that is
            // not a plain bit flip), to keep the sweep within CI's time.
            let whole = count.is_multiple_of(3) || !mu.what.contains(" bit ");
            let r = std::panic::catch_unwind(|| analyse(data, &mutexes, whole));
            STARTED.store(0, Ordering::Relaxed);
            let dt = t0.elapsed();
            let used = PEAK.load(Ordering::Relaxed).saturating_sub(base);
            count += 1;
            if r.is_err() {
                failures.push(format!("{what}: PANIC"));
            }
            if used > BUDGET {
                failures.push(format!("{what}: {used} bytes allocated"));
            }
            if used > worst.0 {
                worst = (used, what.clone());
            }
            if dt > slowest.0 {
                slowest = (dt, what.clone());
            }
            for (o, b) in saved.into_iter().rev() {
                tc.data[o..o + b.len()].copy_from_slice(&b);
            }
        }
    }
    println!(
        "{count} mutations; most memory: {} KiB ({}); slowest: {:?} ({})",
        worst.0 >> 10,
        worst.1,
        slowest.0,
        slowest.1
    );
    assert!(count > 50_000, "too few mutations: {count}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
