//! Mappings: PT_LOAD segments merged with NT_FILE names and classified by what they
//! are (SysV shm, POSIX shm, memfd, anonymous shared, stack, heap, ...).
//!
//! A core has no direct MAP_SHARED/MAP_PRIVATE flag (`p_flags` holds only R/W/X);
//! `shared` is inferred from the name, as documented in `docs/json.md`, unless a
//! `/proc/PID/maps` text is given ([`crate::procmaps`]), whose `s`/`p` flag wins.

use serde::{Deserialize, Serialize};

use crate::coredump::{self, Core, Dumped, Os, Segment};

#[warn(missing_docs)] // public API (re-exported at the crate root)
/// What a mapping is (`kind` of a mapping, `mapping_kind` of a mutex in the JSON,
/// spelt in kebab-case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MappingKind {
    /// A SysV shared-memory segment (`/SYSV<key>`).
    SysvShm,
    /// A POSIX shared-memory object (`/dev/shm/...`).
    PosixShm,
    /// A `memfd_create` file.
    Memfd,
    /// Anonymous shared memory (`/dev/zero`, `MAP_SHARED|MAP_ANONYMOUS`).
    AnonShared,
    /// A file mapped shared.
    FileShared,
    /// A file mapped privately.
    File,
    /// A hugetlbfs mapping.
    Hugetlb,
    /// A thread's stack.
    Stack,
    /// The heap (`brk`).
    Heap,
    /// The vDSO.
    Vdso,
    /// The vDSO's data page.
    Vvar,
    /// The legacy vsyscall page.
    Vsyscall,
    /// Anonymous private memory.
    Anon,
}

#[warn(missing_docs)]
impl MappingKind {
    /// The JSON spelling (`"sysv-shm"`).
    pub fn as_str(self) -> &'static str {
        match self {
            MappingKind::SysvShm => "sysv-shm",
            MappingKind::PosixShm => "posix-shm",
            MappingKind::Memfd => "memfd",
            MappingKind::AnonShared => "anon-shared",
            MappingKind::FileShared => "file-shared",
            MappingKind::File => "file",
            MappingKind::Hugetlb => "hugetlb",
            MappingKind::Stack => "stack",
            MappingKind::Heap => "heap",
            MappingKind::Vdso => "vdso",
            MappingKind::Vvar => "vvar",
            MappingKind::Vsyscall => "vsyscall",
            MappingKind::Anon => "anon",
        }
    }

    /// Memory another process can map too.
    pub fn is_shared(self) -> bool {
        matches!(
            self,
            MappingKind::SysvShm
                | MappingKind::PosixShm
                | MappingKind::Memfd
                | MappingKind::AnonShared
                | MappingKind::FileShared
        )
    }
}

impl std::fmt::Display for MappingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One mapping of the process.
#[derive(Clone, Debug, Serialize)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub perms: String,
    /// Offset into the mapped file, in bytes.
    pub offset: u64,
    pub path: Option<String>,
    pub kind: MappingKind,
    pub shared: bool,
    pub dumped: Dumped,
    /// SysV IPC key for `sysv-shm` mappings.
    pub key: Option<u32>,
    /// Threads whose stack pointer lies here.
    pub stack_of: Vec<u32>,
    /// The file was unlinked (" (deleted)").
    pub deleted: bool,
    /// Index of the PT_LOAD segment, if the core has one for this mapping.
    pub segment: Option<usize>,
    /// Set when `shared` and `perms` come from a `/proc/PID/maps` text (`--maps`,
    /// [`crate::procmaps::apply`]), not from the inference: that text's device and
    /// inode of the file. Boxed: one pointer per mapping when absent.
    pub from_maps: Option<Box<MapsFacts>>,
}

/// What a `/proc/PID/maps` line adds to a mapping.
#[derive(Clone, Debug, Serialize)]
pub struct MapsFacts {
    /// Device `major:minor` of the mapped file.
    pub dev: String,
    /// Inode of the mapped file.
    pub inode: u64,
}

impl Mapping {
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.start && addr < self.end
    }

    pub fn size(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// A short human description: "sysv-shm key 0x6d757478", "stack of thread 123"...
    pub fn describe(&self) -> String {
        self.place().to_string()
    }

    /// What [`Mapping::describe`] says, as a value (rendered by `Display`).
    pub fn place(&self) -> Place {
        Place {
            kind: self.kind,
            key: self.key,
            stack_of: self.stack_of.clone(),
            path: self.path.clone(),
        }
    }
}

/// A mapping as a sentence names it ("SysV shm segment key 0x6d757478", "stack of
/// thread 12", "posix-shm /dev/shm/x"): the facts, rendered by `Display`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub kind: MappingKind,
    pub key: Option<u32>,
    pub stack_of: Vec<u32>,
    pub path: Option<String>,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            MappingKind::SysvShm => match self.key {
                Some(k) => write!(f, "SysV shm segment key {k:#010x}"),
                None => f.write_str("SysV shm segment"),
            },
            MappingKind::Stack => match self.stack_of.as_slice() {
                [] => f.write_str("stack"),
                [t] => write!(f, "stack of thread {t}"),
                ts => write!(
                    f,
                    "stack of threads {}",
                    ts.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
                ),
            },
            _ => match &self.path {
                Some(p) => write!(f, "{} {p}", self.kind.as_str()),
                None => f.write_str(self.kind.as_str()),
            },
        }
    }
}

/// Parse "/SYSV6d757478 (deleted)" → key.
pub fn sysv_key(path: &str) -> Option<u32> {
    let rest = path.strip_prefix("/SYSV")?;
    let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    if hex.len() != 8 {
        return None;
    }
    u32::from_str_radix(&hex, 16).ok()
}

/// Classify a named (file-backed) mapping from its name alone.
pub fn kind_from_path(path: &str) -> Option<MappingKind> {
    if path.starts_with("/SYSV") {
        return Some(MappingKind::SysvShm);
    }
    if path.starts_with("/dev/shm/") {
        return Some(MappingKind::PosixShm);
    }
    if path.starts_with("/memfd:") {
        return Some(if path.contains("hugetlb") {
            MappingKind::Hugetlb
        } else {
            MappingKind::Memfd
        });
    }
    if path.starts_with("/dev/zero") {
        return Some(MappingKind::AnonShared);
    }
    if path.starts_with("/anon_hugepage") || path.contains("/hugepages/") {
        return Some(MappingKind::Hugetlb);
    }
    None
}

fn strip_deleted(path: &str) -> (&str, bool) {
    match path.strip_suffix(" (deleted)") {
        Some(p) => (p, true),
        None => (path, false),
    }
}

/// At most this many segments are examined for one NT_FILE entry that matches no
/// segment exactly (bounds the work on corrupt cores whose segments all overlap).
const MAX_OVERLAP_SCAN: usize = 256;

/// Build the mapping list of a core.
pub fn build(core: &Core<'_>) -> Vec<Mapping> {
    let empty = Vec::new();
    let files = core.files.as_ref().map_or(&empty, |f| &f.entries);
    let mut out: Vec<Mapping> = Vec::with_capacity(core.segments.len() + 8);
    let mut used = vec![false; files.len()];

    // Index NT_FILE entries by (start, end) for exact matches: every lookup is a
    // binary search, so a core with many entries and segments stays linear-ish.
    let mut by_range: Vec<(u64, u64, usize)> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.start, f.end, i))
        .collect();
    by_range.sort_unstable();

    for s in &core.segments {
        if s.memsz == 0 {
            continue;
        }
        let key = (s.vaddr, s.end());
        let lo = by_range.partition_point(|&(st, en, _)| (st, en) < key);
        let file = by_range
            .get(lo)
            .filter(|&&(st, en, _)| (st, en) == key)
            .map(|&(_, _, i)| i);
        if let Some(i) = file {
            used[i] = true;
        }
        out.push(from_segment(s, file.map(|i| &files[i])));
    }
    // Segments by start address, with the running maximum of their ends, to find
    // those overlapping a range without scanning them all.
    let mut by_addr: Vec<&Segment> = core.segments.iter().collect();
    by_addr.sort_by_key(|s| (s.vaddr, s.index));
    let mut max_end = Vec::with_capacity(by_addr.len());
    let mut m = 0u64;
    for s in &by_addr {
        m = m.max(s.end());
        max_end.push(m);
    }
    // NT_FILE entries without a PT_LOAD of the same range (gcore omits what it does
    // not dump; or the ranges differ): list them too.
    for (i, f) in files.iter().enumerate() {
        if used[i] {
            continue;
        }
        // Segments starting before the entry's end, scanned backwards while some
        // earlier segment may still reach into it. Only corrupt cores overlap
        // segments; there, at most MAX_OVERLAP_SCAN segments are examined.
        let hi = by_addr.partition_point(|s| s.vaddr < f.end);
        let mut overlapping: Vec<&Segment> = Vec::new();
        let mut j = hi;
        let mut steps = 0;
        while j > 0 && max_end[j - 1] > f.start && steps < MAX_OVERLAP_SCAN {
            j -= 1;
            steps += 1;
            let s = by_addr[j];
            if s.end() > f.start {
                overlapping.push(s);
            }
        }
        overlapping.sort_by_key(|s| s.index);
        let avail: u64 = overlapping
            .iter()
            .map(|s| {
                let lo = s.vaddr.max(f.start);
                let hi = s.end().min(f.end).min(s.vaddr.saturating_add(s.available));
                hi.saturating_sub(lo)
            })
            .sum();
        let size = f.end.saturating_sub(f.start);
        let dumped = if avail == 0 {
            Dumped::None
        } else if avail >= size {
            Dumped::Full
        } else {
            Dumped::Partial
        };
        let flags = overlapping.first().map_or(0, |s| s.flags);
        let mut m = from_segment(
            &Segment {
                index: usize::MAX,
                vaddr: f.start,
                memsz: size,
                offset: 0,
                filesz: 0,
                flags,
                align: 0,
                available: 0,
            },
            Some(f),
        );
        m.dumped = dumped;
        m.segment = None;
        if overlapping.is_empty() {
            m.perms = "???".into();
        }
        out.push(m);
    }
    out.sort_by_key(|m| (m.start, m.end));
    classify_anonymous(core, &mut out);
    out
}

/// `reach[j]`: the highest end among `maps[..=j]`.
fn reach(maps: &[Mapping]) -> Vec<u64> {
    maps.iter()
        .scan(0u64, |r, m| {
            *r = (*r).max(m.end);
            Some(*r)
        })
        .collect()
}

/// The index of the first mapping (in the order of `maps`, sorted by start) that
/// contains `addr`, overlapping mappings included: the first `j` whose `reach`
/// passes `addr`, if that mapping starts at or below `addr`.
fn first_containing(maps: &[Mapping], reach: &[u64], addr: u64) -> Option<usize> {
    let started = maps.partition_point(|m| m.start <= addr);
    let first = reach.partition_point(|&e| e <= addr);
    (first < started).then_some(first)
}

fn from_segment(s: &Segment, file: Option<&coredump::FileEntry>) -> Mapping {
    let perms = s.perms();
    let writable = perms.as_bytes().get(1) == Some(&b'w');
    let (kind, key, deleted, path) = match file {
        Some(f) => {
            let (base, deleted) = strip_deleted(&f.path);
            let kind = kind_from_path(base).unwrap_or(if writable && !deleted {
                // Decided later: an ELF module's data segment is private.
                MappingKind::FileShared
            } else {
                MappingKind::File
            });
            let key = if kind == MappingKind::SysvShm {
                sysv_key(base)
            } else {
                None
            };
            (kind, key, deleted, Some(f.path.clone()))
        }
        None => (MappingKind::Anon, None, false, None),
    };
    Mapping {
        start: s.vaddr,
        end: s.end(),
        perms,
        offset: file.map_or(0, |f| f.offset),
        path,
        kind,
        shared: kind.is_shared(),
        dumped: s.dumped(),
        key,
        stack_of: Vec::new(),
        deleted,
        segment: (s.index != usize::MAX).then_some(s.index),
        from_maps: None,
    }
}

/// Name the anonymous mappings (stacks, heap, vdso, vvar, vsyscall) and settle
/// writable file mappings: a writable mapping of a file that is also mapped as an
/// ELF module is the module's private data, not shared.
fn classify_anonymous(core: &Core<'_>, maps: &mut [Mapping]) {
    // Files that are ELF modules: some mapping of them at offset 0 starts with \x7fELF
    // or is executable.
    let space = crate::memory::AddressSpace::new(core);
    let mut elf_paths: Vec<&str> = Vec::new();
    for m in maps.iter() {
        if let Some(p) = &m.path
            && (m.perms.contains('x')
                || (m.offset == 0 && space.slice(m.start, 4).is_ok_and(|b| b == b"\x7fELF")))
        {
            elf_paths.push(p.as_str());
        }
    }
    elf_paths.sort_unstable();
    elf_paths.dedup();
    let elf: std::collections::HashSet<String> = elf_paths.iter().map(|s| s.to_string()).collect();
    for m in maps.iter_mut() {
        if m.kind == MappingKind::FileShared
            && m.path.as_ref().is_some_and(|p| elf.contains(p.as_str()))
        {
            m.kind = MappingKind::File;
            m.shared = false;
        }
    }

    let vdso = core.auxv_value(coredump::AT_SYSINFO_EHDR);
    for m in maps.iter_mut() {
        if m.path.is_some() {
            continue;
        }
        if vdso.is_some_and(|v| m.contains(v)) {
            m.kind = MappingKind::Vdso;
        } else if m.start == 0xffff_ffff_ff60_0000 && core.arch == coredump::Arch::X86_64 {
            m.kind = MappingKind::Vsyscall;
        }
    }
    // vvar: the unnamed read-only mapping(s) right before the vdso.
    if let Some(vi) = maps.iter().position(|m| m.kind == MappingKind::Vdso) {
        let mut j = vi;
        while j > 0 {
            let (prev, cur) = (&maps[j - 1], &maps[j]);
            if prev.path.is_none()
                && prev.end == cur.start
                && !prev.perms.contains('w')
                && prev.kind == MappingKind::Anon
            {
                maps[j - 1].kind = MappingKind::Vvar;
                j -= 1;
            } else {
                break;
            }
        }
    }
    // Stacks: mappings holding a thread's stack pointer (looked up in O(log n): a
    // core with thousands of threads and mappings must not cost threads x mappings).
    let reach = reach(maps);
    for t in &core.threads {
        let Some(sp) = t.sp else { continue };
        if let Some(m) = first_containing(maps, &reach, sp).map(|i| &mut maps[i]) {
            if m.path.is_none() && matches!(m.kind, MappingKind::Anon | MappingKind::Stack) {
                m.kind = MappingKind::Stack;
            }
            if !m.stack_of.contains(&t.tid) {
                m.stack_of.push(t.tid);
            }
        }
    }
    // Solaris: pstatus names the brk heap and the main stack.
    if core.os == Os::Solaris
        && let Some(sol) = &core.solaris
    {
        if let (Some(b), Some(sz)) = (sol.brk_base, sol.brk_size) {
            for m in maps.iter_mut() {
                if m.start >= b
                    && m.start < b.saturating_add(sz.max(1))
                    && m.kind == MappingKind::Anon
                {
                    m.kind = MappingKind::Heap;
                }
            }
        }
        if let Some(sb) = sol.stack_base {
            for m in maps.iter_mut() {
                if m.start == sb && m.kind == MappingKind::Anon {
                    m.kind = MappingKind::Stack;
                }
            }
        }
        return;
    }
    // Heap: the first writable anonymous mapping after the executable's last mapping
    // (brk starts a random distance past the end of .bss). Without NT_FILE (qemu-user
    // cores) the executable's extent is unknown, and its .data would be taken for
    // the heap: no guess then (`place_executable` guesses again from --binary).
    if core.files.as_ref().is_none_or(|f| f.entries.is_empty()) {
        return;
    }
    let exe_end = executable_end(core, maps);
    if let Some(end) = exe_end
        && let Some(m) = maps.iter_mut().find(|m| {
            m.start >= end
                && m.path.is_none()
                && m.kind == MappingKind::Anon
                && m.perms.starts_with("rw")
                && m.start - end < (1u64 << 32)
        })
    {
        m.kind = MappingKind::Heap;
    }
}

/// Where the heap may start: past the main executable's last file mapping and the
/// anonymous `.bss` tail adjacent to it. The executable is the module holding
/// AT_PHDR (or AT_ENTRY).
fn executable_end(core: &Core<'_>, maps: &[Mapping]) -> Option<u64> {
    let anchor = core
        .auxv_value(coredump::AT_PHDR)
        .or_else(|| core.auxv_value(coredump::AT_ENTRY))?;
    let m = maps.iter().find(|m| m.contains(anchor))?;
    let Some(path) = &m.path else {
        return Some(m.end);
    };
    let end = maps
        .iter()
        .filter(|x| x.path.as_ref() == Some(path))
        .map(|x| x.end)
        .max()?;
    // The .bss tail continues in an anonymous mapping right after the file.
    Some(
        maps.iter()
            .find(|x| x.start == end && x.path.is_none() && x.perms.starts_with("rw"))
            .map_or(end, |bss| bss.end),
    )
}

/// A core without NT_FILE (qemu-user writes only NT_PRSTATUS, NT_PRPSINFO and
/// NT_AUXV) names no mapping: place the executable's PT_LOAD segments from its file
/// (`--binary`), at the load bias the auxiliary vector gives (`AT_ENTRY - e_entry`,
/// checked against `AT_PHDR`), so that its text and data are file mappings of that
/// path and `.data`/`.bss` are not taken for the heap. Returns the bias, or `None`
/// (nothing changed) when the core has NT_FILE, the file is not an ELF executable
/// of this core, or the auxiliary vector disagrees with it.
pub fn place_executable(
    core: &Core<'_>,
    maps: &mut [Mapping],
    exe: &[u8],
    path: &str,
) -> Option<u64> {
    use object::{Object, ObjectSegment};
    if core.files.as_ref().is_some_and(|f| !f.entries.is_empty()) {
        return None;
    }
    let obj = object::File::parse(exe).ok()?;
    let entry = core.auxv_value(coredump::AT_ENTRY)?;
    let bias = entry.checked_sub(obj.entry())?;
    // AT_PHDR must fall inside the first segment, at the same bias.
    if let Some(phdr) = core.auxv_value(coredump::AT_PHDR) {
        let inside = obj.segments().any(|sg| {
            let lo = sg.address().wrapping_add(bias);
            phdr >= lo && phdr < lo.saturating_add(sg.size())
        });
        if !inside {
            return None;
        }
    }
    let page = core
        .auxv_value(coredump::AT_PAGESZ)
        .filter(|p| p.is_power_of_two())
        .unwrap_or(4096);
    let mut placed = false;
    for sg in obj.segments() {
        let (off, filesz) = sg.file_range();
        let lo = sg.address().wrapping_add(bias) & !(page - 1);
        let file_end = sg.address().wrapping_add(bias).saturating_add(filesz);
        let hi = file_end.saturating_add(page - 1) & !(page - 1);
        for m in maps.iter_mut() {
            if m.path.is_none() && m.start >= lo && m.end <= hi && m.start < m.end {
                m.path = Some(path.to_string());
                m.kind = MappingKind::File;
                m.offset = (off & !(page - 1)).saturating_add(m.start - lo);
                placed = true;
            }
        }
    }
    if !placed {
        return None;
    }
    // The heap was guessed before the executable had a name: guess again.
    for m in maps.iter_mut() {
        if m.kind == MappingKind::Heap {
            m.kind = MappingKind::Anon;
        }
    }
    let exe_end = executable_end(core, maps);
    if let Some(end) = exe_end
        && let Some(m) = maps.iter_mut().find(|m| {
            m.start >= end
                && m.path.is_none()
                && m.kind == MappingKind::Anon
                && m.perms.starts_with("rw")
                && m.start - end < (1u64 << 32)
        })
    {
        m.kind = MappingKind::Heap;
    }
    Some(bias)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(sysv_key("/SYSV6d757478 (deleted)"), Some(0x6d757478));
        assert_eq!(sysv_key("/SYSV00000000 (deleted)"), Some(0));
        assert_eq!(sysv_key("/SYSVzz"), None);
        assert_eq!(kind_from_path("/dev/zero"), Some(MappingKind::AnonShared));
        assert_eq!(kind_from_path("/memfd:x"), Some(MappingKind::Memfd));
        assert_eq!(kind_from_path("/dev/shm/a"), Some(MappingKind::PosixShm));
    }

    /// The binary-search lookup of stack mappings finds what a linear search finds,
    /// overlapping (corrupt) mappings included.
    #[test]
    fn first_containing_equals_linear_search() {
        let map = |start: u64, end: u64| {
            let mut m = from_segment(
                &Segment {
                    index: 0,
                    vaddr: start,
                    memsz: end - start,
                    offset: 0,
                    filesz: 0,
                    flags: 6,
                    align: 0,
                    available: 0,
                },
                None,
            );
            m.end = end;
            m
        };
        let sets = [
            vec![
                map(0x1000, 0x2000),
                map(0x3000, 0x5000),
                map(0x5000, 0x6000),
            ],
            // Overlaps: a long mapping covering later ones, and equal starts.
            vec![
                map(0x1000, 0x9000),
                map(0x2000, 0x3000),
                map(0x2000, 0x4000),
                map(0x8000, 0xa000),
                map(0xb000, 0xc000),
            ],
            vec![],
        ];
        for mut maps in sets {
            maps.sort_by_key(|m| (m.start, m.end));
            let reach = reach(&maps);
            for addr in (0..0xd000u64)
                .step_by(0x800)
                .chain([0xfff, 0x1fff, 0x2fff, 0x9fff])
            {
                let linear = maps.iter().position(|m| m.contains(addr));
                assert_eq!(first_containing(&maps, &reach, addr), linear, "{addr:#x}");
            }
        }
    }
}
