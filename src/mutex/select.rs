//! Choosing the mutex layout for a core: the architecture from the ELF header, the C
//! library from the mapped files (NT_FILE), or forced with `--layout`.

use serde::Serialize;

use super::Layout;
use super::glibc::Glibc;
use super::musl::Musl;
use super::solaris::{Isa, SolarisMutex};
use crate::coredump::{Core, Os};
use crate::mappings::Mapping;
use crate::memory::AddressSpace;

#[warn(missing_docs)] // public API (re-exported at the crate root)
/// The C library of the process, as recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Libc {
    /// GNU libc.
    Glibc,
    /// musl.
    Musl,
    /// Not recognised (or not a Linux C library: Solaris libc is told by `Os`).
    Unknown,
}

/// How the C library was recognised (for the report).
#[derive(Clone, Debug, Serialize)]
pub struct LibcGuess {
    pub libc: Libc,
    pub evidence: String,
    /// Nothing but an absence of marks backs the guess: the analysis says so and
    /// lets a blocked futex wait decide ([`decide_by_futex_waits`]).
    #[serde(skip)]
    pub weak: bool,
}

/// What an executable's own bytes say about the C library linked into it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExeMarks {
    /// An `NT_GNU_ABI_TAG` note (owner "GNU", type 1, `.note.ABI-tag`): glibc's
    /// `crt1.o` (`csu/abi-note.S`) puts it in every program linked with glibc;
    /// musl's start files have none.
    pub gnu_abi_tag: bool,
    /// `EI_OSABI` = ELFOSABI_GNU (3): set by the linker for GNU extensions (IFUNC,
    /// unique symbols) that glibc uses and musl does not support.
    pub osabi_gnu: bool,
    /// A string only glibc carries (its version banner, a tunable name).
    pub glibc_string: Option<&'static str>,
    /// A string only musl carries.
    pub musl_string: Option<&'static str>,
    /// Where the bytes came from (`--binary`, or the executable's first page as
    /// dumped in the core).
    pub source: String,
}

impl ExeMarks {
    fn glibc_reasons(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.gnu_abi_tag {
            v.push("an NT_GNU_ABI_TAG note (glibc's crt1.o)".to_string());
        }
        if self.osabi_gnu {
            v.push("EI_OSABI GNU".to_string());
        }
        if let Some(s) = self.glibc_string {
            v.push(format!("the glibc string {s:?}"));
        }
        v
    }
}

/// Strings that only glibc puts into a program: its version banner and tunable
/// names (present in static glibc, stripped or not). The fixture programs' own
/// strings ("glibc", "musl") are deliberately not among them.
const GLIBC_STRINGS: &[&str] = &[
    "GNU C Library",
    "GLIBC_TUNABLES",
    "glibc.pthread.",
    "GLIBC_PRIVATE",
];
/// Strings that only musl puts into a program.
/// (`__pthread_self` is musl's internal name, in the symbol table of an unstripped
/// static musl program; glibc has no such symbol.)
const MUSL_STRINGS: &[&str] = &["/lib/ld-musl-", "__pthread_self"];

/// Read the ELF header and the notes of the program headers' PT_NOTE segments
/// from `b`, the start of an executable file (a whole file, or as much of its first
/// page as the core holds). File offsets are offsets in `b`.
pub fn exe_marks(b: &[u8], source: &str, whole_file: bool) -> Option<ExeMarks> {
    if b.len() < 52 || &b[..4] != b"\x7fELF" {
        return None;
    }
    let is64 = b[4] == 2;
    let endian = match b[5] {
        1 => crate::coredump::Endian::Little,
        2 => crate::coredump::Endian::Big,
        _ => return None,
    };
    let r = crate::coredump::Bytes::new(b, endian);
    let mut m = ExeMarks {
        osabi_gnu: b[7] == 3,
        source: source.to_string(),
        ..ExeMarks::default()
    };
    let (phoff, phentsize, phnum) = if is64 {
        (r.u64(32)?, usize::from(r.u16(54)?), usize::from(r.u16(56)?))
    } else {
        (
            u64::from(r.u32(28)?),
            usize::from(r.u16(42)?),
            usize::from(r.u16(44)?),
        )
    };
    for i in 0..phnum.min(64) {
        let Some(o) = usize::try_from(phoff)
            .ok()
            .and_then(|p| p.checked_add(i.checked_mul(phentsize)?))
        else {
            break;
        };
        let (ty, off, size) = if is64 {
            (r.u32(o), r.u64(o + 8), r.u64(o + 32))
        } else {
            (
                r.u32(o),
                r.u32(o + 4).map(u64::from),
                r.u32(o + 16).map(u64::from),
            )
        };
        let (Some(4), Some(off), Some(size)) = (ty, off, size) else {
            continue;
        };
        let (Ok(off), Ok(size)) = (usize::try_from(off), usize::try_from(size)) else {
            continue;
        };
        let Some(notes) = b.get(off..off.saturating_add(size.min(4096)).min(b.len())) else {
            continue;
        };
        let n = crate::coredump::Bytes::new(notes, endian);
        let mut at = 0usize;
        while at + 12 <= notes.len() {
            let (Some(namesz), Some(descsz), Some(ntype)) =
                (n.u32(at), n.u32(at + 4), n.u32(at + 8))
            else {
                break;
            };
            let name = notes.get(at + 12..at + 12 + namesz as usize);
            if name == Some(b"GNU\0") && ntype == 1 {
                m.gnu_abi_tag = true;
            }
            let next = (at + 12)
                .saturating_add((namesz as usize).next_multiple_of(4))
                .saturating_add((descsz as usize).next_multiple_of(4));
            if next <= at {
                break;
            }
            at = next;
        }
    }
    if whole_file {
        m.glibc_string = GLIBC_STRINGS
            .iter()
            .copied()
            .find(|s| memchr::memmem::find(b, s.as_bytes()).is_some());
        m.musl_string = MUSL_STRINGS
            .iter()
            .copied()
            .find(|s| memchr::memmem::find(b, s.as_bytes()).is_some());
    }
    Some(m)
}

/// The executable's first page as the core holds it (the kernel dumps the first
/// page of every file mapping that starts with an ELF header): the mapping that
/// holds `AT_PHDR`, from its start.
pub fn exe_head_from_core<'d>(
    core: &Core<'d>,
    space: &AddressSpace<'d>,
    maps: &[Mapping],
) -> Option<&'d [u8]> {
    let phdr = core.auxv_value(crate::coredump::AT_PHDR)?;
    let m = maps.iter().find(|m| m.start <= phdr && phdr < m.end)?;
    let seg = space.segment(m.start)?;
    let avail = seg
        .vaddr
        .saturating_add(seg.available)
        .saturating_sub(m.start);
    let len = usize::try_from(avail.min(m.end - m.start).min(1 << 20)).ok()?;
    space.slice(m.start, len).ok()
}

/// Recognise the C library from the mappings' file names, or, for a static
/// executable, from its own marks ([`ExeMarks`]): `marks` come from `--binary` or
/// from the executable's first page in the core.
pub fn detect_libc(maps: &[Mapping], marks: Option<&ExeMarks>) -> LibcGuess {
    for m in maps {
        let Some(p) = &m.path else { continue };
        let name = p.rsplit('/').next().unwrap_or(p);
        if name.starts_with("ld-musl-") || name.starts_with("libc.musl") {
            return LibcGuess {
                libc: Libc::Musl,
                evidence: format!("{p} is mapped"),
                weak: false,
            };
        }
        if name.starts_with("libc.so.6") || name.starts_with("libc-2.") {
            return LibcGuess {
                libc: Libc::Glibc,
                evidence: format!("{p} is mapped"),
                weak: false,
            };
        }
    }
    let Some(mk) = marks else {
        return LibcGuess {
            libc: Libc::Unknown,
            evidence: "no C library mapped and no executable header to look into".into(),
            weak: true,
        };
    };
    let glibc = mk.glibc_reasons();
    if !glibc.is_empty() {
        return LibcGuess {
            libc: Libc::Glibc,
            evidence: format!(
                "static executable linked with glibc: {} ({})",
                glibc.join(", "),
                mk.source
            ),
            weak: false,
        };
    }
    if let Some(s) = mk.musl_string {
        return LibcGuess {
            libc: Libc::Musl,
            evidence: format!(
                "static executable linked with musl: the musl string {s:?} ({})",
                mk.source
            ),
            weak: false,
        };
    }
    LibcGuess {
        libc: Libc::Musl,
        evidence: format!(
            "static executable with no glibc mark (no NT_GNU_ABI_TAG note, no EI_OSABI GNU{}) in {}: guessed musl",
            if mk.glibc_string.is_none()
                && mk.musl_string.is_none()
                && mk.source.contains("--binary")
            {
                ", no glibc string"
            } else {
                ""
            },
            mk.source
        ),
        weak: true,
    }
}

/// Settle a weak guess with the threads blocked in a futex wait: each layout of the
/// architecture places the mutex at `futex address - futex offset` (glibc: the
/// lock word is at 0; musl: `_m_lock` at 4), and a layout whose reading gives a
/// plausible held mutex there — where the other's does not — is the C library.
/// Returns the new guess and a message saying what was decided and why.
pub fn decide_by_futex_waits(
    core: &Core<'_>,
    space: &AddressSpace<'_>,
    guess: LibcGuess,
) -> (LibcGuess, Option<String>) {
    if !guess.weak {
        return (guess, None);
    }
    let (Some(g), Some(m)) = (Glibc::for_arch(core.arch), Musl::for_arch(core.arch)) else {
        return (guess, None);
    };
    let score = |l: &dyn Layout| -> (usize, Option<(u32, u64)>) {
        let mut n = 0;
        let mut first = None;
        for t in &core.threads {
            let Some(f) = &t.futex else { continue };
            if !f.waits {
                continue;
            }
            let Some(addr) = f.address.checked_sub(l.futex_offset()) else {
                continue;
            };
            if let Ok(b) = space.read(addr, l.size())
                && l.plausible_locked(&b, space.endian())
            {
                n += 1;
                first.get_or_insert((t.tid, f.address));
            }
        }
        (n, first)
    };
    let (ng, fg) = score(&g);
    let (nm, fm) = score(&m);
    let decided = match (ng, nm) {
        (0, 0) => None,
        (a, b) if a > b => Some((Libc::Glibc, fg, a, b)),
        (a, b) if b > a => Some((Libc::Musl, fm, b, a)),
        _ => None,
    };
    match decided {
        Some((libc, Some((tid, fa)), yes, no)) => {
            let name = if libc == Libc::Glibc { "glibc" } else { "musl" };
            let other = if libc == Libc::Glibc { "musl" } else { "glibc" };
            let msg = format!(
                "C library decided by the blocked futex waits: {yes} wait(s) (thread {tid} at {fa:#x}) read as a held {name} mutex, {no} as a {other} one; the executable's marks were inconclusive ({})",
                guess.evidence
            );
            (
                LibcGuess {
                    libc,
                    evidence: format!("{name}, decided by thread {tid}'s futex wait at {fa:#x}"),
                    weak: false,
                },
                Some(msg),
            )
        }
        _ => (guess, None),
    }
}

/// Every built-in layout: glibc and musl for each Linux architecture, Solaris
/// `mutex_t` for each ISA.
pub fn builtins() -> Vec<Box<dyn Layout>> {
    let mut v: Vec<Box<dyn Layout>> = Vec::new();
    for &a in crate::coredump::arch::LINUX_ARCHES {
        if let Some(g) = Glibc::for_arch(a) {
            v.push(Box::new(g));
        }
        if let Some(m) = Musl::for_arch(a) {
            v.push(Box::new(m));
        }
    }
    for isa in SOLARIS_ISAS {
        v.push(Box::new(SolarisMutex::new(isa)));
    }
    v
}

/// Every built-in layout name, for `--layout` and the docs.
pub fn builtin_names() -> Vec<String> {
    builtins().iter().map(|l| l.name().to_string()).collect()
}

const SOLARIS_ISAS: [Isa; 4] = [Isa::Amd64, Isa::I386, Isa::Sparcv9, Isa::Sparc];

/// A built-in layout by name (`glibc-x86_64`, `musl-aarch64`, ...).
pub fn builtin(name: &str) -> Option<Box<dyn Layout>> {
    builtins().into_iter().find(|l| l.name() == name)
}

/// The layout for a core's architecture and C library.
pub fn for_core(core: &Core<'_>, libc: Libc) -> Option<Box<dyn Layout>> {
    if core.os == Os::Solaris {
        return SolarisMutex::for_arch(core.arch).map(|l| Box::new(l) as Box<dyn Layout>);
    }
    match libc {
        Libc::Musl => Musl::for_arch(core.arch).map(|l| Box::new(l) as Box<dyn Layout>),
        _ => Glibc::for_arch(core.arch).map(|l| Box::new(l) as Box<dyn Layout>),
    }
}
