//! Entry points for the fuzz targets under `fuzz/` and for the hostile-input tests
//! (`tests/hostile_*.rs`). Not part of the stable API: every function here exists to
//! drive the parsers with arbitrary bytes and must never panic, hang or allocate in
//! proportion to a size read from those bytes (see `docs/reliability.md`).

use crate::analysis::{self, Inputs, Options};
use crate::coredump::{self, Arch, Core, Endian, FileNote, Warning};
use crate::mappings;
use crate::memory::AddressSpace;
use crate::mutex::Layout;
use crate::mutex::glibc::Glibc;
use crate::mutex::musl::Musl;
#[cfg(feature = "cli")]
use crate::report::text;
use crate::report::{markdown, model};

/// Every architecture the readers know, in a fixed order (fuzz selectors index it).
pub const ARCHES: &[Arch] = coredump::arch::LINUX_ARCHES;

/// `(e_machine, is64)` for each entry of [`ARCHES`].
const MACHINES: [(u16, bool); 17] = [
    (coredump::arch::EM_X86_64, true),
    (coredump::arch::EM_X86_64, false),
    (coredump::arch::EM_386, false),
    (coredump::arch::EM_AARCH64, true),
    (coredump::arch::EM_ARM, false),
    (coredump::arch::EM_PPC, false),
    (coredump::arch::EM_PPC64, true),
    (coredump::arch::EM_S390, false),
    (coredump::arch::EM_S390, true),
    (coredump::arch::EM_SPARC, false),
    (coredump::arch::EM_SPARCV9, true),
    (coredump::arch::EM_MIPS, false),
    (coredump::arch::EM_MIPS, true),
    (coredump::arch::EM_RISCV, false),
    (coredump::arch::EM_RISCV, true),
    (coredump::arch::EM_68K, false),
    (coredump::arch::EM_LOONGARCH, true),
];

/// Build a minimal ELF core around raw note bytes: an ELF header, one PT_NOTE program
/// header covering `notes`, and the notes. `selector` picks the machine (and so the
/// class) and the byte order, so one fuzz input reaches every note decoder (Linux,
/// Solaris and NetBSD decoders are chosen by the notes' owners).
pub fn core_with_notes(selector: u8, notes: &[u8]) -> Vec<u8> {
    let (machine, is64) = MACHINES[usize::from(selector >> 1) % MACHINES.len()];
    let big = selector & 1 == 1;
    let (ehsize, phentsize) = if is64 { (64usize, 56usize) } else { (52, 32) };
    let off = ehsize + phentsize;
    let mut out = vec![0u8; off];
    out.extend_from_slice(notes);
    let put = |buf: &mut [u8], at: usize, v: u64, n: usize| {
        let bytes = if big {
            v.to_be_bytes()[8 - n..].to_vec()
        } else {
            v.to_le_bytes()[..n].to_vec()
        };
        buf[at..at + n].copy_from_slice(&bytes);
    };
    out[..4].copy_from_slice(b"\x7fELF");
    out[4] = if is64 { 2 } else { 1 };
    out[5] = if big { 2 } else { 1 };
    out[6] = 1;
    put(&mut out, 16, 4, 2); // ET_CORE
    put(&mut out, 18, u64::from(machine), 2);
    put(&mut out, 20, 1, 4);
    let len = notes.len() as u64;
    if is64 {
        put(&mut out, 32, ehsize as u64, 8);
        put(&mut out, 52, ehsize as u64, 2);
        put(&mut out, 54, phentsize as u64, 2);
        put(&mut out, 56, 1, 2);
        let p = ehsize;
        put(&mut out, p, 4, 4); // PT_NOTE
        put(&mut out, p + 8, off as u64, 8);
        put(&mut out, p + 32, len, 8);
        put(&mut out, p + 48, 4, 8);
    } else {
        put(&mut out, 28, ehsize as u64, 4);
        put(&mut out, 40, ehsize as u64, 2);
        put(&mut out, 42, phentsize as u64, 2);
        put(&mut out, 44, 1, 2);
        let p = ehsize;
        put(&mut out, p, 4, 4);
        put(&mut out, p + 4, off as u64, 4);
        put(&mut out, p + 16, len & 0xffff_ffff, 4);
        put(&mut out, p + 28, 4, 4);
    }
    out
}

/// Decode an NT_FILE descriptor (`word` is 4 or 8).
pub fn file_note(
    desc: &[u8],
    endian: Endian,
    word: usize,
) -> Result<(FileNote, Vec<Warning>), String> {
    coredump::parse_file_note(desc, endian, word)
}

/// Decode `bytes` as a mutex with every layout known for `arch`, as the analysis does.
/// Returns how many layouts decoded it (to keep the work observable).
pub fn decode_mutex(arch: Arch, bytes: &[u8], endian: Endian) -> usize {
    let mut layouts: Vec<Box<dyn Layout>> = Vec::new();
    if let Some(g) = Glibc::for_arch(arch) {
        layouts.push(Box::new(g));
    }
    if let Some(m) = Musl::for_arch(arch) {
        layouts.push(Box::new(m));
    }
    let mut n = 0;
    for l in &layouts {
        let d = l.decode(bytes, endian);
        let _ = l.plausible_locked(bytes, endian);
        let _ = l.has_magic(bytes, endian);
        let _ = (d.state.is_held(), d.field("__lock"), d.anomalies.len());
        // The scan decodes every aligned window of a region.
        let step = l.align().max(1);
        let size = l.size();
        let mut off = 0;
        while off + size <= bytes.len() && off < 4096 {
            let w = &bytes[off..off + size];
            if l.plausible_locked(w, endian) {
                let _ = l.decode(w, endian);
            }
            off += step;
        }
        n += 1;
    }
    n
}

/// Everything downstream of [`Core::parse`] that the `maps` and `threads` commands
/// run, plus reads of the address space at the addresses the core itself names
/// (segment edges, stack pointers, thread pointers, futex words) and mutex decoding
/// at futex words. Returns the number of bytes of rendered output, so the work
/// cannot be optimised away.
pub fn exercise(core: &Core<'_>) -> usize {
    let maps = mappings::build(core);
    let space = AddressSpace::new(core);
    let ptr = core.pointer_size();
    let mut addrs: Vec<u64> = Vec::new();
    for s in space.segments().iter().take(256) {
        addrs.push(s.vaddr);
        addrs.push(s.end().wrapping_sub(1));
        addrs.push(s.end().wrapping_sub(4));
        addrs.push(s.vaddr.wrapping_add(s.available));
        addrs.push(s.vaddr.wrapping_add(s.memsz / 2));
    }
    for t in core.threads.iter().take(256) {
        addrs.extend(t.sp);
        addrs.extend(t.pc);
        addrs.extend(t.thread_pointer);
        if let Some(f) = &t.futex {
            addrs.push(f.address);
            if let Ok(b) = space.read(f.address, 48) {
                decode_mutex(core.arch, &b, core.endian);
            }
        }
    }
    for &(_, v) in core.auxv.iter().take(64) {
        addrs.push(v);
    }
    let mut total = 0usize;
    for &a in &addrs {
        let _ = space.presence(a);
        let _ = space.read_word(a, ptr);
        let _ = space.read_cstr(a, 256);
        if let Ok(b) = space.read(a, 64) {
            total += b.len();
        }
    }
    let parts: Vec<(u64, u64)> = space.dumped_parts().take(16).collect();
    for (a, l) in parts {
        let _ = space.for_each_window(a, l, 0, |_, b, from, to| {
            total += b[from..to].len().min(1);
        });
    }
    let maps_doc = model::MapsDoc {
        mappings: model::mapping_models(&maps),
        warnings: model::warning_models(&core.warnings),
    };
    let threads_doc = model::ThreadsDoc {
        process: model::process_model(core, &maps, &space),
        threads: model::thread_models(core),
        warnings: model::warning_models(&core.warnings),
    };
    #[cfg(feature = "cli")]
    {
        total += text::maps(&maps_doc).len();
        total += text::threads(&threads_doc).len();
    }
    total += serde_json::to_string(&maps_doc).map_or(0, |s| s.len());
    total += serde_json::to_string(&threads_doc).map_or(0, |s| s.len());
    total
}

/// Parse `data` as a core and, if that works, [`exercise`] it.
pub fn core(data: &[u8]) -> usize {
    match Core::parse(data) {
        Ok(c) => exercise(&c),
        Err(e) => e.to_string().len(),
    }
}

/// The whole analysis of an in-memory core (`analysis::analyze_core`, no file
/// access: no symbols, no peers), with `scan` choosing which mappings are scanned
/// for locked mutexes, then the three renderings of the report. Returns the bytes
/// rendered.
pub fn analyze(core: &Core<'_>, scan: crate::mutex::discover::ScanScope) -> usize {
    let maps = mappings::build(core);
    let opts = Options {
        scan,
        ..Options::default()
    };
    let r = analysis::analyze_core(
        &Inputs {
            core,
            maps: &maps,
            path: "fuzz.core",
            exe: None,
            modules: None,
            peers: &[],
        },
        &opts,
        Vec::new(),
    );
    let _ = r.has_errors();
    #[cfg(feature = "cli")]
    let text = text::report(&r, false).len();
    #[cfg(not(feature = "cli"))]
    let text = 0;
    text + markdown::report(&r).len() + serde_json::to_string(&r).map_or(0, |s| s.len())
}

/// Parse `data` and run [`exercise`] and the whole analysis (scanning every mapping).
pub fn core_and_analysis(data: &[u8]) -> usize {
    match Core::parse(data) {
        Ok(c) => exercise(&c) + analyze(&c, crate::mutex::discover::ScanScope::All),
        Err(e) => e.to_string().len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_follow_arches() {
        assert_eq!(MACHINES.len(), ARCHES.len());
        for (&(m, is64), &a) in MACHINES.iter().zip(ARCHES) {
            assert_eq!(Arch::from_machine(m, is64), a);
        }
    }
}
