//! The ELF core model: header, program headers, notes, threads and process facts.
//!
//! Parsing is zero-copy over the mapped bytes and never trusts a size read from the
//! file: every count is bounded by the bytes that are really there, and what cannot
//! be read becomes a [`Warning`] while the rest is still analysed.

pub mod arch;
pub mod bytes;
pub mod data;
mod linux;
mod netbsd;
pub mod signals;
pub mod solaris;
pub mod syscall;

use serde::Serialize;

pub use arch::Arch;
pub use bytes::{Bytes, Endian};
pub use data::{Data, Windowed};
pub use syscall::{FutexCall, Syscall};

/// Hard ceilings on what one core may make us hold in memory (a real Linux process
/// has at most `vm.max_map_count` = 65530 mappings by default).
pub const MAX_SEGMENTS: usize = 1 << 18;
pub const MAX_THREADS: usize = 1 << 16;
/// Notes held at once. Each costs about 100 bytes (the note and its summary), so
/// this bounds their memory to ~27 MiB whatever the file claims; it is 4 notes for
/// each of 65536 threads.
pub const MAX_NOTES: usize = 1 << 18;
/// A core has one PT_NOTE segment; corrupt program headers can declare thousands,
/// each re-reading the file as notes.
pub const MAX_NOTE_SEGMENTS: usize = 64;
pub const MAX_FILE_ENTRIES: usize = 1 << 18;
pub const MAX_AUXV: usize = 4096;

#[warn(missing_docs)] // public API (re-exported at the crate root)
/// Why a core could not be parsed at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// Not an ELF file (the first bytes, shown).
    #[error("not an ELF file (starts with {0})")]
    NotElf(String),
    /// An ELF file of another type (an executable, a library, ...).
    #[error("ELF file of type {name} (e_type {e_type}), not a core dump (ET_CORE = 4)")]
    NotCore {
        /// `e_type` of the file.
        e_type: u16,
        /// Its name (`ET_EXEC`, `ET_DYN`, ...).
        name: &'static str,
    },
    /// The file ends before a header it needs.
    #[error("truncated: {0}")]
    Truncated(String),
    /// A header that cannot be right.
    #[error("corrupt ELF header: {0}")]
    Corrupt(String),
}

impl CoreError {
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::NotElf(_) => "not-elf",
            CoreError::NotCore { .. } => "not-core",
            CoreError::Truncated(_) => "truncated",
            CoreError::Corrupt(_) => "corrupt",
        }
    }
}

#[warn(missing_docs)] // public API (re-exported at the crate root)
/// Something wrong with the input that did not stop the analysis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Stable short name, e.g. `truncated`, `bad-note`.
    pub code: &'static str,
    /// What is wrong, in a sentence.
    pub message: String,
}

impl Warning {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Warning {
            code,
            message: message.into(),
        }
    }
}

#[warn(missing_docs)] // public API (re-exported at the crate root)
/// The operating system that wrote the core, recognised by its notes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    /// Linux (`CORE` notes with `NT_PRSTATUS`, `NT_FILE`, ...).
    Linux,
    /// NetBSD (`NetBSD-CORE` notes).
    NetBsd,
    /// Solaris or illumos (`CORE` notes with `NT_PSTATUS`, `NT_LWPSTATUS`).
    Solaris,
    /// Not recognised.
    Unknown,
}

#[warn(missing_docs)] // public API (re-exported at the crate root)
/// How much of a mapping the core file holds (`dumped` of a mapping in the JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dumped {
    /// Every byte.
    Full,
    /// Some bytes (the file was cut, or the segment is partly dumped).
    Partial,
    /// None: the kernel left it out (or the file ends before it).
    None,
}

#[warn(missing_docs)]
impl Dumped {
    /// The JSON spelling (`"partial"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Dumped::Full => "full",
            Dumped::Partial => "partial",
            Dumped::None => "none",
        }
    }
}

impl std::fmt::Display for Dumped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

/// One PT_LOAD segment.
#[derive(Clone, Debug, Serialize)]
pub struct Segment {
    /// Index among the program headers.
    pub index: usize,
    pub vaddr: u64,
    pub memsz: u64,
    pub offset: u64,
    pub filesz: u64,
    pub flags: u32,
    pub align: u64,
    /// How many bytes of `filesz` the file really holds (less when truncated).
    pub available: u64,
}

impl Segment {
    pub fn end(&self) -> u64 {
        self.vaddr.saturating_add(self.memsz)
    }

    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.vaddr && addr < self.end()
    }

    /// How much of the mapping's memory is in the file.
    pub fn dumped(&self) -> Dumped {
        if self.available == 0 {
            Dumped::None
        } else if self.available >= self.memsz {
            Dumped::Full
        } else {
            Dumped::Partial
        }
    }

    /// The segment was declared with data the file does not hold (cut short).
    pub fn truncated(&self) -> bool {
        self.available < self.filesz
    }

    pub fn perms(&self) -> String {
        let mut s = String::with_capacity(3);
        s.push(if self.flags & PF_R != 0 { 'r' } else { '-' });
        s.push(if self.flags & PF_W != 0 { 'w' } else { '-' });
        s.push(if self.flags & PF_X != 0 { 'x' } else { '-' });
        s
    }
}

/// A note, as found.
#[derive(Clone, Debug)]
pub struct Note<'d> {
    pub owner: &'d [u8],
    pub n_type: u32,
    pub desc: &'d [u8],
    /// File offset of the descriptor.
    pub offset: usize,
}

impl Note<'_> {
    pub fn owner_str(&self) -> String {
        let n = self
            .owner
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.owner.len());
        String::from_utf8_lossy(&self.owner[..n]).into_owned()
    }
}

/// A note, summarised: every note is listed, known or not.
#[derive(Clone, Debug, Serialize)]
pub struct NoteInfo {
    pub owner: String,
    #[serde(rename = "type")]
    pub n_type: u32,
    pub name: Option<&'static str>,
    pub size: usize,
}

/// The process as a whole (NT_PRPSINFO, NT_PSINFO, NetBSD procinfo).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProcessInfo {
    pub pid: Option<u32>,
    pub ppid: Option<u32>,
    pub pgrp: Option<u32>,
    pub sid: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub state: Option<char>,
    /// The command name (`comm`, at most 15 bytes on Linux).
    pub fname: Option<String>,
    /// The start of the command line (80 bytes, NULs turned to spaces by the kernel).
    pub psargs: Option<String>,
}

/// Signal information for the process (NT_SIGINFO, or what the threads carry).
#[derive(Clone, Debug, Serialize)]
pub struct SigInfo {
    pub signo: u32,
    pub errno: i32,
    pub code: i32,
    /// Fault address, for SIGSEGV/SIGBUS/SIGILL/SIGFPE/SIGTRAP raised by the kernel.
    pub addr: Option<u64>,
    /// Sender, for signals sent by kill/tkill (`si_code <= 0`).
    pub sender_pid: Option<u32>,
    pub sender_uid: Option<u32>,
}

/// One NT_FILE entry.
#[derive(Clone, Debug, Serialize)]
pub struct FileEntry {
    pub start: u64,
    pub end: u64,
    /// Offset into the file, in pages of the note's page size.
    pub page_offset: u64,
    /// Offset into the file in bytes.
    pub offset: u64,
    pub path: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct FileNote {
    pub page_size: u64,
    pub entries: Vec<FileEntry>,
}

/// A thread (Linux: one NT_PRSTATUS; Solaris: one LWP; NetBSD: one LWP).
#[derive(Clone, Debug, Serialize)]
pub struct Thread {
    pub tid: u32,
    /// The thread that took the signal that caused the dump.
    pub crashed: bool,
    /// `pr_cursig`: the signal being delivered to this thread.
    pub cursig: u32,
    pub signo: u32,
    pub code: i32,
    pub pc: Option<u64>,
    pub sp: Option<u64>,
    /// Thread pointer: fs_base (x86_64), the TLS descriptor base (i386), tpidr_el0
    /// (aarch64), tp (riscv), r13 (ppc64), %g7 (SPARC, Solaris).
    pub thread_pointer: Option<u64>,
    #[serde(skip)]
    pub reg_names: &'static [&'static str],
    #[serde(skip)]
    pub regs: Vec<u64>,
    pub syscall: Option<Syscall>,
    pub futex: Option<FutexCall>,
    /// Why the syscall state could not be recovered, if it could not.
    pub syscall_note: Option<String>,
}

impl Thread {
    /// A thread known only by its id: no registers, no signal, no syscall.
    pub fn new(tid: u32) -> Thread {
        Thread {
            tid,
            crashed: false,
            cursig: 0,
            signo: 0,
            code: 0,
            pc: None,
            sp: None,
            thread_pointer: None,
            reg_names: &[],
            regs: Vec::new(),
            syscall: None,
            futex: None,
            syscall_note: None,
        }
    }

    pub fn reg(&self, name: &str) -> Option<u64> {
        let i = self.reg_names.iter().position(|n| *n == name)?;
        self.regs.get(i).copied()
    }

    pub fn registers(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.reg_names
            .iter()
            .copied()
            .zip(self.regs.iter().copied())
    }
}

/// The parsed core.
#[derive(Debug)]
pub struct Core<'d> {
    /// The file's bytes: mapped whole, or read through windows.
    pub data: Data<'d>,
    pub is64: bool,
    pub endian: Endian,
    pub machine: u16,
    pub arch: Arch,
    pub os: Os,
    pub segments: Vec<Segment>,
    pub notes: Vec<NoteInfo>,
    pub process: Option<ProcessInfo>,
    pub threads: Vec<Thread>,
    pub siginfo: Option<SigInfo>,
    pub auxv: Vec<(u64, u64)>,
    pub files: Option<FileNote>,
    pub warnings: Vec<Warning>,
    /// Some segment claims bytes past the end of the file.
    pub truncated: bool,
    /// Solaris-only facts (content flags, platform, brk/stack bases).
    pub solaris: Option<solaris::SolarisInfo>,
    /// Written by a debugger (gdb's `gcore`) rather than by the kernel on a fatal
    /// signal: no thread crashed, and the stop signal in NT_SIGINFO is the debugger's.
    pub debugger_snapshot: bool,
    /// The ranges of `data` (file offsets `[start, end)`, in order) that the file
    /// holds as data when it is sparse; the rest are holes, zeros never read by the
    /// scans. `None`: every byte counts as data (set by [`crate::CoreFile::parse`]).
    pub data_extents: Option<std::sync::Arc<[(u64, u64)]>>,
    /// `data` is a read-only shared mapping of a file (set by
    /// [`crate::CoreFile::parse`]): pages the scans are done with may be given back
    /// (`madvise(MADV_DONTNEED)`), the file gives them again if they are read.
    pub data_is_file_mapping: bool,
}

const ET_CORE: u16 = 4;
const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const PN_XNUM: u16 = 0xffff;

pub const NT_PRSTATUS: u32 = 1;
pub const NT_PRFPREG: u32 = 2;
pub const NT_PRPSINFO: u32 = 3;
pub const NT_AUXV: u32 = 6;
pub const NT_SIGINFO: u32 = 0x5349_4749;
pub const NT_FILE: u32 = 0x4649_4c45;
pub const NT_386_TLS: u32 = 0x200;
pub const NT_X86_XSTATE: u32 = 0x202;
pub const NT_ARM_TLS: u32 = 0x401;
pub const NT_ARM_SYSTEM_CALL: u32 = 0x404;

pub const AT_PHDR: u64 = 3;
pub const AT_PHENT: u64 = 4;
pub const AT_PHNUM: u64 = 5;
pub const AT_PAGESZ: u64 = 6;
pub const AT_BASE: u64 = 7;
pub const AT_ENTRY: u64 = 9;
pub const AT_EXECFN: u64 = 31;
pub const AT_SYSINFO_EHDR: u64 = 33;

fn e_type_name(t: u16) -> &'static str {
    match t {
        0 => "ET_NONE",
        1 => "ET_REL (object file)",
        2 => "ET_EXEC (executable)",
        3 => "ET_DYN (shared object or PIE executable)",
        4 => "ET_CORE",
        _ => "unknown",
    }
}

/// ELF header fields we use.
struct Header {
    is64: bool,
    endian: Endian,
    machine: u16,
    phoff: u64,
    phentsize: u16,
    phnum: u64,
}

fn parse_header(file: Data<'_>, warnings: &mut Vec<Warning>) -> Result<Header, CoreError> {
    let data = file.get_clipped(0, 64);
    if data.len() < 4 || &data[..4] != b"\x7fELF" {
        let head: Vec<String> = data.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(CoreError::NotElf(if head.is_empty() {
            "nothing".into()
        } else {
            format!("bytes {}", head.join(" "))
        }));
    }
    if data.len() < 52 {
        return Err(CoreError::Truncated(format!(
            "the file is {} bytes, shorter than an ELF header",
            file.len()
        )));
    }
    let is64 = match data[4] {
        1 => false,
        2 => true,
        c => return Err(CoreError::Corrupt(format!("EI_CLASS is {c}, not 1 or 2"))),
    };
    let endian = match data[5] {
        1 => Endian::Little,
        2 => Endian::Big,
        d => return Err(CoreError::Corrupt(format!("EI_DATA is {d}, not 1 or 2"))),
    };
    let b = Bytes::new(data, endian);
    let ehsize = if is64 { 64 } else { 52 };
    if data.len() < ehsize {
        return Err(CoreError::Truncated(format!(
            "the file is {} bytes, shorter than a 64-bit ELF header",
            file.len()
        )));
    }
    let e_type = b.u16(16).unwrap_or(0);
    if e_type != ET_CORE {
        return Err(CoreError::NotCore {
            e_type,
            name: e_type_name(e_type),
        });
    }
    let machine = b.u16(18).unwrap_or(0);
    let (phoff, shoff, phentsize, phnum) = if is64 {
        (
            b.u64(32).unwrap_or(0),
            b.u64(40).unwrap_or(0),
            b.u16(54).unwrap_or(0),
            b.u16(56).unwrap_or(0),
        )
    } else {
        (
            b.u32(28).map(u64::from).unwrap_or(0),
            b.u32(32).map(u64::from).unwrap_or(0),
            b.u16(42).unwrap_or(0),
            b.u16(44).unwrap_or(0),
        )
    };
    let mut phnum = u64::from(phnum);
    if phnum == u64::from(PN_XNUM) {
        // The real count is in section header 0's sh_info.
        let sh_info_off = if is64 { 44 } else { 28 };
        match usize::try_from(shoff)
            .ok()
            .and_then(|o| o.checked_add(sh_info_off))
            .and_then(|o| file.get(o, 4))
            .and_then(|w| Bytes::new(w, endian).u32(0))
        {
            Some(n) if shoff != 0 => phnum = u64::from(n),
            _ => warnings.push(Warning::new(
                "corrupt",
                "e_phnum is PN_XNUM (0xffff) but section header 0, which holds the real count, cannot be read; reading 65535 program headers at most",
            )),
        }
    }
    let want = if is64 { 56 } else { 32 };
    if phnum > 0 && usize::from(phentsize) < want {
        return Err(CoreError::Corrupt(format!(
            "e_phentsize is {phentsize}, smaller than a program header ({want} bytes)"
        )));
    }
    Ok(Header {
        is64,
        endian,
        machine,
        phoff,
        phentsize,
        phnum,
    })
}

impl<'d> Core<'d> {
    /// Parse a core from its bytes. Fails only when nothing at all can be read; every
    /// lesser problem becomes a warning.
    pub fn parse(data: &'d [u8]) -> Result<Core<'d>, CoreError> {
        Core::parse_data(Data::Mapped(data))
    }

    /// [`Core::parse`] of a core however its bytes are reached (mapped whole or
    /// through windows): it reads the ELF header, the program headers and the notes,
    /// and no memory.
    pub fn parse_data(data: Data<'d>) -> Result<Core<'d>, CoreError> {
        let mut warnings = Vec::new();
        let h = parse_header(data, &mut warnings)?;
        let len = data.len() as u64;

        // Program headers, bounded by the file.
        let phentsize = u64::from(h.phentsize);
        let room = len.saturating_sub(h.phoff);
        let fit = room.checked_div(phentsize).unwrap_or(0);
        let mut phnum = h.phnum;
        if h.phoff >= len && h.phnum > 0 {
            return Err(CoreError::Truncated(format!(
                "the program header table is at offset {:#x}, past the end of the file ({len} bytes)",
                h.phoff
            )));
        }
        if fit < phnum {
            warnings.push(Warning::new(
                "truncated",
                format!(
                    "the header declares {phnum} program headers but the file holds only {fit} of them"
                ),
            ));
            phnum = fit;
        }
        if phnum > MAX_SEGMENTS as u64 * 2 {
            warnings.push(Warning::new(
                "limit",
                format!(
                    "{phnum} program headers: only the first {} are read",
                    MAX_SEGMENTS * 2
                ),
            ));
            phnum = MAX_SEGMENTS as u64 * 2;
        }

        let mut segments = Vec::new();
        let mut note_ranges = Vec::new();
        let mut extra_note_segments = 0usize;
        let mut truncated = false;
        let mut bad_offsets = 0usize;
        // The table (`phnum` entries fit in the file, checked above).
        let table = data.get_clipped(h.phoff as usize, (phnum * phentsize) as usize);
        let b = Bytes::new(table, h.endian);
        for i in 0..phnum as usize {
            let off = (i as u64 * phentsize) as usize;
            let (p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz, p_align) = if h.is64 {
                (
                    b.u32(off),
                    b.u32(off + 4),
                    b.u64(off + 8),
                    b.u64(off + 16),
                    b.u64(off + 32),
                    b.u64(off + 40),
                    b.u64(off + 48),
                )
            } else {
                (
                    b.u32(off),
                    b.u32(off + 24),
                    b.u32(off + 4).map(u64::from),
                    b.u32(off + 8).map(u64::from),
                    b.u32(off + 16).map(u64::from),
                    b.u32(off + 20).map(u64::from),
                    b.u32(off + 28).map(u64::from),
                )
            };
            let (
                Some(p_type),
                Some(p_flags),
                Some(p_offset),
                Some(p_vaddr),
                Some(p_filesz),
                Some(p_memsz),
                Some(p_align),
            ) = (
                p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz, p_align,
            )
            else {
                break;
            };
            let available = if p_offset >= len {
                0
            } else {
                p_filesz.min(len - p_offset)
            };
            if available < p_filesz {
                truncated = true;
                if p_offset > len {
                    bad_offsets += 1;
                }
            }
            match p_type {
                PT_LOAD => {
                    if segments.len() >= MAX_SEGMENTS {
                        continue;
                    }
                    segments.push(Segment {
                        index: i,
                        vaddr: p_vaddr,
                        memsz: p_memsz,
                        offset: p_offset,
                        filesz: p_filesz,
                        flags: p_flags,
                        align: p_align,
                        available,
                    });
                }
                PT_NOTE => {
                    if note_ranges.len() >= MAX_NOTE_SEGMENTS {
                        extra_note_segments += 1;
                        continue;
                    }
                    if available < p_filesz {
                        warnings.push(Warning::new(
                            "truncated",
                            format!(
                                "note segment {i} declares {p_filesz} bytes at offset {p_offset:#x}; the file holds {available} of them"
                            ),
                        ));
                    }
                    if available > 0 {
                        note_ranges.push((p_offset as usize, available as usize));
                    }
                }
                _ => {}
            }
        }
        if extra_note_segments > 0 {
            warnings.push(Warning::new(
                "limit",
                format!(
                    "{} PT_NOTE segments: only the first {MAX_NOTE_SEGMENTS} are read (a core has one)",
                    extra_note_segments + MAX_NOTE_SEGMENTS
                ),
            ));
        }
        if segments.len() >= MAX_SEGMENTS {
            warnings.push(Warning::new(
                "limit",
                format!("more than {MAX_SEGMENTS} PT_LOAD segments: the rest are ignored"),
            ));
        }
        if truncated {
            let missing: u64 = segments
                .iter()
                .map(|s| s.filesz - s.available)
                .fold(0u64, u64::saturating_add);
            let cut: Vec<_> = segments.iter().filter(|s| s.truncated()).collect();
            let first = cut.first().map(|s| s.vaddr);
            warnings.push(Warning::new(
                "truncated",
                match first {
                    Some(first) => format!(
                        "the core is truncated: {} of {} memory segments are cut short or missing ({missing} bytes absent, from address {first:#x} on); their memory is reported as not dumped",
                        cut.len(),
                        segments.len()
                    ),
                    None => "the core is truncated: a note segment is cut short".to_string(),
                },
            ));
            if bad_offsets > 0 {
                warnings.push(Warning::new(
                    "corrupt",
                    format!("{bad_offsets} program headers point past the end of the file"),
                ));
            }
        }

        let arch = Arch::from_machine(h.machine, h.is64);
        let mut core = Core {
            data,
            is64: h.is64,
            endian: h.endian,
            machine: h.machine,
            arch,
            os: Os::Unknown,
            segments,
            notes: Vec::new(),
            process: None,
            threads: Vec::new(),
            siginfo: None,
            auxv: Vec::new(),
            files: None,
            warnings,
            truncated,
            solaris: None,
            debugger_snapshot: false,
            data_extents: None,
            data_is_file_mapping: false,
        };

        let mut notes = Vec::new();
        for (off, size) in note_ranges {
            if notes.len() >= MAX_NOTES {
                break;
            }
            let seg = data.get_clipped(off, size);
            iterate_notes(seg, off, h.endian, &mut notes, &mut core.warnings);
        }
        core.os = detect_os(&notes);
        if arch == Arch::Unknown {
            core.warnings.push(Warning::new(
                "unsupported",
                format!(
                    "unknown machine e_machine={}: registers are not decoded",
                    h.machine
                ),
            ));
        }
        match core.os {
            Os::NetBsd => netbsd::apply_notes(&mut core, &notes),
            Os::Solaris => solaris::apply_notes(&mut core, &notes),
            _ => linux::apply_notes(&mut core, &notes),
        }
        core.confirm_syscalls();
        if core.os != Os::Solaris && core.os != Os::NetBsd {
            core.detect_debugger_snapshot(&h);
        }
        core.notes = notes
            .iter()
            .take(MAX_NOTES)
            .map(|n| NoteInfo {
                owner: n.owner_str(),
                n_type: n.n_type,
                name: note_name(core.os, n),
                size: n.desc.len(),
            })
            .collect();
        if core.threads.is_empty() {
            core.warnings.push(Warning::new(
                "no-threads",
                "the core holds no thread status notes: no registers, no thread list",
            ));
        }
        Ok(core)
    }

    pub fn pointer_size(&self) -> usize {
        if self.arch == Arch::Unknown {
            if self.is64 { 8 } else { 4 }
        } else {
            self.arch.pointer_size()
        }
    }

    pub fn auxv_value(&self, key: u64) -> Option<u64> {
        self.auxv.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    /// Bytes at a virtual address, if the core holds them (no crossing of segments).
    pub fn read_memory(&self, addr: u64, len: usize) -> Option<&'d [u8]> {
        let s = self
            .segments
            .iter()
            .find(|s| addr >= s.vaddr && addr < s.vaddr.saturating_add(s.available))?;
        let o = addr - s.vaddr;
        if o.checked_add(len as u64)? > s.available {
            return None;
        }
        let start = usize::try_from(s.offset.checked_add(o)?).ok()?;
        self.data.get(start, len)
    }

    /// On ABIs where only an ordinary register names the syscall (aarch64 x8, arm r7,
    /// riscv a7), check the instruction at pc: after a syscall interrupted by the
    /// fatal signal the kernel rewinds pc to the trap instruction. If the core holds
    /// that instruction, the syscall is confirmed or dismissed; if not, it stays
    /// "number register only" and the thread says so.
    fn confirm_syscalls(&mut self) {
        let (insn, len): (&[u32], usize) = match self.arch {
            Arch::Aarch64 => (&[0xd400_0001], 4),                 // svc #0
            Arch::Arm => (&[0xef00_0000, 0xdf00], 4), // svc #0 (ARM), svc 0 (Thumb, 2 bytes)
            Arch::Riscv64 | Arch::Riscv32 => (&[0x0000_0073], 4), // ecall
            _ => return,
        };
        let endian = self.endian;
        let mut verdicts = Vec::new();
        for (i, t) in self.threads.iter().enumerate() {
            let (Some(sc), Some(pc)) = (&t.syscall, t.pc) else {
                continue;
            };
            if sc.confidence != syscall::Confidence::NumberRegisterOnly {
                continue;
            }
            let v = self
                .read_memory(pc, len)
                .and_then(|b| Bytes::new(b, endian).u32(0));
            verdicts.push((
                i,
                v.map(|w| insn.contains(&w) || insn.contains(&(w & 0xffff))),
            ));
        }
        for (i, v) in verdicts {
            let t = &mut self.threads[i];
            match v {
                Some(true) => {
                    if let Some(sc) = &mut t.syscall {
                        sc.confidence = syscall::Confidence::Certain;
                    }
                }
                Some(false) => {
                    t.syscall = None;
                    t.futex = None;
                    t.syscall_note = Some(
                        "the syscall-number register looks like a futex call, but the instruction at pc is not a system call: the thread was running user code".into(),
                    );
                }
                None => {
                    let msg = "syscall recovered from the number register only: the instruction at pc is not in the core (pass --sysroot with the program's files to confirm it)";
                    t.syscall_note = Some(match t.syscall_note.take() {
                        Some(n) => format!("{n}; {msg}"),
                        None => msg.into(),
                    });
                }
            }
        }
    }

    /// gdb's `gcore` writes what the kernel never does: section headers (`e_shnum` >
    /// 0: it builds the core with BFD) and an NT_FILE page size of 1 (both are
    /// required); and it records
    /// no signal in any thread (`pr_cursig` 0 everywhere) while its NT_SIGINFO holds
    /// the SIGSTOP (or SIGTRAP) it used to stop the process. Such a core is a
    /// snapshot: the stop signal is dropped and no thread is marked crashed.
    fn detect_debugger_snapshot(&mut self, h: &Header) {
        let b = Bytes::new(self.data.get_clipped(0, 64), self.endian);
        let shnum = if h.is64 { b.u16(60) } else { b.u16(48) }.unwrap_or(0);
        let page1 = self.files.as_ref().is_some_and(|f| f.page_size == 1);
        // Both marks: lldb's `process save-core` also writes section headers but no
        // NT_FILE of page size 1, and its cores keep their recorded stop signal.
        if shnum == 0 || !page1 {
            return;
        }
        if self.threads.is_empty() || self.threads.iter().any(|t| t.cursig != 0 || t.signo != 0) {
            return;
        }
        let stop = self
            .siginfo
            .as_ref()
            .map(|s| signals::signal_name(self.os, self.arch, s.signo).unwrap_or("?"));
        if !matches!(stop, None | Some("SIGSTOP" | "SIGTRAP" | "SIGINT")) {
            return;
        }
        self.debugger_snapshot = true;
        self.siginfo = None;
        for t in &mut self.threads {
            t.crashed = false;
        }
        self.warnings.push(Warning::new(
            "debugger-snapshot",
            format!(
                "core written by a debugger (gdb gcore: {}), not by the kernel: a snapshot of a live process; no thread crashed and there was no fatal signal{}",
                [
                    (shnum > 0).then(|| format!("{shnum} section headers")),
                    page1.then(|| "NT_FILE page size 1".to_string()),
                    Some("no signal in any thread's status".to_string()),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", "),
                stop.map(|s| format!(" ({s} in NT_SIGINFO is the debugger's stop)"))
                    .unwrap_or_default()
            ),
        ));
    }

    pub fn crashed_thread(&self) -> Option<&Thread> {
        self.threads.iter().find(|t| t.crashed)
    }

    pub fn thread(&self, tid: u32) -> Option<&Thread> {
        self.threads.iter().find(|t| t.tid == tid)
    }

    /// The signal that ended the process: NT_SIGINFO if present, else the crashed
    /// thread's `pr_cursig`.
    pub fn signal(&self) -> Option<SigInfo> {
        if let Some(s) = &self.siginfo {
            return Some(s.clone());
        }
        let t = self.crashed_thread()?;
        if t.cursig == 0 && t.signo == 0 {
            return None;
        }
        Some(SigInfo {
            signo: if t.cursig != 0 { t.cursig } else { t.signo },
            errno: 0,
            code: t.code,
            addr: None,
            sender_pid: None,
            sender_uid: None,
        })
    }
}

/// Decode an NT_FILE descriptor on its own (for the fuzz targets and tests).
#[doc(hidden)]
pub fn parse_file_note(
    desc: &[u8],
    endian: Endian,
    word: usize,
) -> Result<(FileNote, Vec<Warning>), String> {
    linux::parse_file_note(Bytes::new(desc, endian), word)
}

fn detect_os(notes: &[Note<'_>]) -> Os {
    let mut os = Os::Unknown;
    for n in notes {
        if n.owner.starts_with(b"NetBSD-CORE") {
            return Os::NetBsd;
        }
        if n.owner == b"CORE\0" || n.owner == b"CORE" {
            // NT_PSTATUS, NT_PSINFO, NT_LWPSTATUS, NT_LWPSINFO; or NT_PLATFORM (5),
            // which only Solaris writes and which old-style-only cores also have.
            if matches!(n.n_type, 5 | 10 | 13 | 16 | 17) {
                return Os::Solaris;
            }
            os = Os::Linux;
        }
        if n.owner.starts_with(b"LINUX") {
            os = Os::Linux;
        }
    }
    os
}

fn note_name(os: Os, n: &Note<'_>) -> Option<&'static str> {
    if os == Os::Solaris {
        return solaris::note_name(n.n_type);
    }
    if os == Os::NetBsd {
        return netbsd::note_name(n);
    }
    Some(match n.n_type {
        NT_PRSTATUS => "NT_PRSTATUS",
        NT_PRFPREG => "NT_PRFPREG",
        NT_PRPSINFO => "NT_PRPSINFO",
        NT_AUXV => "NT_AUXV",
        NT_SIGINFO => "NT_SIGINFO",
        NT_FILE => "NT_FILE",
        NT_386_TLS => "NT_386_TLS",
        NT_X86_XSTATE => "NT_X86_XSTATE",
        0x205 => "NT_X86_SHSTK",
        NT_ARM_TLS => "NT_ARM_TLS",
        0x400 => "NT_ARM_VFP",
        0x402 => "NT_ARM_HW_BREAK",
        0x403 => "NT_ARM_HW_WATCH",
        NT_ARM_SYSTEM_CALL => "NT_ARM_SYSTEM_CALL",
        0x405 => "NT_ARM_SVE",
        0x406 => "NT_ARM_PAC_MASK",
        0x409 => "NT_ARM_TAGGED_ADDR_CTRL",
        0x46e6_2b7f => "NT_PRXFPREG",
        0x100 => "NT_PPC_VMX",
        0x102 => "NT_PPC_VSX",
        0x300 => "NT_S390_HIGH_GPRS",
        0x301 => "NT_S390_TIMER",
        0x302 => "NT_S390_TODCMP",
        0x303 => "NT_S390_TODPREG",
        0x304 => "NT_S390_CTRS",
        0x305 => "NT_S390_PREFIX",
        0x306 => "NT_S390_LAST_BREAK",
        0x307 => "NT_S390_SYSTEM_CALL",
        _ => return None,
    })
}

/// Walk the notes of one PT_NOTE segment (its bytes `data`, at file offset
/// `base`). Linux and Solaris align name and descriptor to 4 bytes in both classes.
fn iterate_notes<'d>(
    data: &'d [u8],
    base: usize,
    endian: Endian,
    out: &mut Vec<Note<'d>>,
    warnings: &mut Vec<Warning>,
) {
    let end = data.len();
    let b = Bytes::new(data, endian);
    let mut p = 0;
    while p < end {
        if out.len() >= MAX_NOTES {
            warnings.push(Warning::new(
                "limit",
                format!("more than {MAX_NOTES} notes: the rest are ignored"),
            ));
            return;
        }
        if end - p < 12 {
            // Padding at the end of the segment is normal when all zero.
            if data[p..end].iter().any(|&x| x != 0) {
                warnings.push(Warning::new(
                    "bad-note",
                    format!(
                        "{} stray bytes at the end of the note segment at {base:#x}",
                        end - p
                    ),
                ));
            }
            return;
        }
        let (Some(namesz), Some(descsz), Some(n_type)) = (b.u32(p), b.u32(p + 4), b.u32(p + 8))
        else {
            return;
        };
        let name_start = p + 12;
        let name_len = namesz as usize;
        let desc_start = name_start.saturating_add(name_len.saturating_add(3) & !3);
        let desc_len = descsz as usize;
        let desc_end = desc_start.saturating_add(desc_len);
        if desc_start > end || desc_end > end {
            warnings.push(Warning::new(
                "bad-note",
                format!(
                    "note at offset {:#x} (type {n_type:#x}) declares a {namesz}-byte name and a {descsz}-byte descriptor, past the end of its segment ({} bytes left); the notes after it are lost",
                    base + p,
                    end - p
                ),
            ));
            return;
        }
        out.push(Note {
            owner: &data[name_start..name_start + name_len],
            n_type,
            desc: &data[desc_start..desc_end],
            offset: base + desc_start,
        });
        p = desc_start.saturating_add(desc_len.saturating_add(3) & !3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_elf() {
        assert!(matches!(Core::parse(b"hello"), Err(CoreError::NotElf(_))));
        assert!(matches!(Core::parse(b""), Err(CoreError::NotElf(_))));
    }

    #[test]
    fn rejects_non_core() {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[16] = 3;
        let e = Core::parse(&h).unwrap_err();
        assert_eq!(e.code(), "not-core");
        assert!(e.to_string().contains("ET_DYN"));
    }
}
