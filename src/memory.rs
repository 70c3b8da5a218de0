//! The process's address space as the core records it. A read knows which of four
//! cases holds: the bytes were dumped; the address is mapped but its bytes were not
//! dumped (`p_filesz < p_memsz`, coredump_filter); the address is not mapped at all;
//! or the bytes should be in the file but the file ends first (truncated core).
//! Memory that was not dumped is never reported as zeros.

use std::borrow::Cow;

use serde::Serialize;

use crate::coredump::{Bytes, Core, Data, Endian, Segment};

/// Why bytes at an address cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum ReadError {
    #[error("address {addr:#x} is mapped ({start:#x}-{end:#x}) but its contents were not dumped")]
    NotDumped { addr: u64, start: u64, end: u64 },
    #[error("address {addr:#x} is not mapped in this process")]
    Unmapped { addr: u64 },
    #[error(
        "address {addr:#x} lies in the part of the core that is missing (the file is truncated)"
    )]
    Truncated { addr: u64 },
}

/// What the core holds at one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Presence {
    Dumped,
    NotDumped,
    Unmapped,
    Truncated,
}

thread_local! {
    static BYTES_READ: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Bytes of core memory handed out by [`AddressSpace`] reads on this thread so far
/// ([`AddressSpace::slice`] and everything built on it, and
/// [`AddressSpace::for_each_window`]): monotonic, for tests and benchmarks that check
/// what an analysis reads (`--scan none` reads no bulk memory, holes of a sparse core
/// are never read). An analysis runs on its caller's thread.
pub fn bytes_read() -> u64 {
    BYTES_READ.with(std::cell::Cell::get)
}

fn count_read(n: usize) {
    BYTES_READ.with(|c| c.set(c.get().wrapping_add(n as u64)));
}

/// The size of a page of memory (`sysconf(_SC_PAGESIZE)`: 4 KiB on x86, 4, 16 or
/// 64 KiB on arm64), the unit of `madvise`.
pub(crate) fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(n)
            .ok()
            .filter(|n| n.is_power_of_two())
            .unwrap_or(4096)
    })
}

/// Count on this thread the `n` bytes a helper thread read for it (the second half
/// of a scan window, `discover::one_pass`), so that [`bytes_read`] stays the whole
/// analysis's count.
pub(crate) fn count_read_elsewhere(n: u64) {
    BYTES_READ.with(|c| c.set(c.get().wrapping_add(n)));
}

/// Reads of virtual addresses out of a core.
#[derive(Debug, Clone)]
pub struct AddressSpace<'d> {
    data: Data<'d>,
    endian: Endian,
    /// Segments sorted by start address.
    segs: Vec<Segment>,
    /// Read-only file mappings whose bytes the core lacks, served from the files.
    files: Vec<FileBacking>,
    /// Data extents of a sparse core file ([`Core::data_extents`]).
    extents: Option<std::sync::Arc<[(u64, u64)]>>,
    /// `data` maps a file read-only ([`Core::data_is_file_mapping`]).
    file_mapping: bool,
    /// The mapped core file, for small reads by `pread`
    /// ([`AddressSpace::with_small_reads`]).
    file: Option<&'d std::fs::File>,
    /// One thread's stack words, read ahead ([`AddressSpace::read_ahead_stack`]).
    stack: StackWindow,
}

/// Bytes of the core's memory from `vaddr`, read by `pread` from the core file,
/// lying wholly in the dumped part of one segment (the one any read of them would
/// use): the same bytes a read through the mapping gives.
#[derive(Debug, Clone, Default)]
struct StackWindow {
    vaddr: u64,
    bytes: Vec<u8>,
}

/// How far above a stack pointer [`AddressSpace::read_ahead_stack`] reads: an
/// unwinder reads words at and above the stack pointer (the frames' saved
/// registers and return addresses).
const STACK_ABOVE: u64 = 4096;

/// A read-only file mapping backed by the file itself (`--sysroot`).
#[derive(Debug, Clone)]
struct FileBacking {
    start: u64,
    end: u64,
    /// File offset of `start`.
    offset: u64,
    map: std::sync::Arc<memmap2::Mmap>,
}

impl<'d> AddressSpace<'d> {
    pub fn new(core: &Core<'d>) -> Self {
        let mut segs: Vec<Segment> = core
            .segments
            .iter()
            .filter(|s| s.memsz > 0)
            .cloned()
            .collect();
        // Kernels with core_sort_vma=1 write PT_LOADs by size, not by address.
        segs.sort_by_key(|s| (s.vaddr, s.index));
        AddressSpace {
            data: core.data,
            endian: core.endian,
            segs,
            files: Vec::new(),
            extents: core.data_extents.clone(),
            file_mapping: core.data_is_file_mapping,
            file: None,
            stack: StackWindow::default(),
        }
    }

    /// Let [`AddressSpace::read_ahead_stack`] read `file`, the core file whose
    /// bytes `data` maps (nothing changes for a core read through windows, nor for
    /// one in memory).
    ///
    /// Why: the first read of a page through the mapping costs a page fault, and,
    /// when the page lies far from any touched before (the stacks of a process's
    /// threads are usually 8 MiB apart), a page table allocated, 16 pages mapped
    /// around it and all of it torn down again at exit: on a core of 1 000 threads
    /// about 4 times the cost of a `pread` of the same bytes.
    pub fn with_small_reads(mut self, file: &'d std::fs::File) -> Self {
        if self.file_mapping && self.data.mapped().is_some() {
            self.file = Some(file);
        }
        self
    }

    /// Read the memory above the stack pointer `sp` (4 KiB: the frames of a thread
    /// blocked in a call or two) by one `pread` from the core file, and serve word
    /// reads there ([`AddressSpace::read_u64`], [`AddressSpace::read_u32`],
    /// [`AddressSpace::read_word`]) from it until the next call: the words an
    /// unwinder reads of one thread, without faulting the pages into the mapping.
    /// `None`, a core without [`AddressSpace::with_small_reads`], or a stack pointer
    /// whose bytes were not dumped forget the last window; reads outside the
    /// window go through the mapping as before. The bytes are the file's, as a
    /// read through the mapping gives them.
    pub fn read_ahead_stack(&mut self, sp: Option<u64>) {
        self.stack.bytes.clear();
        let Some(file) = self.file else {
            return;
        };
        let Some((vaddr, off, len)) = sp.and_then(|sp| self.stack_window(sp)) else {
            return;
        };
        let w = &mut self.stack;
        w.bytes.resize(len, 0);
        let n = crate::coredump::data::read_full_at(file, &mut w.bytes, off).unwrap_or(0);
        w.bytes.truncate(n);
        w.vaddr = vaddr;
    }

    /// Where [`AddressSpace::read_ahead_stack`] reads for the stack pointer `sp`:
    /// its first address (`sp`), file offset and length, when anything is dumped
    /// there. The window, from `sp` up, lies in the dumped part of the segment every
    /// address in it reads from: `sp`'s, as no other segment starts inside the
    /// window (then `segment` finds the same one for each of its addresses, even
    /// among a corrupt core's overlapping segments).
    fn stack_window(&self, sp: u64) -> Option<(u64, u64, usize)> {
        let i = self.segs.partition_point(|s| s.vaddr <= sp);
        let s = self.segment(sp)?;
        let next = self.segs.get(i).map_or(u64::MAX, |n| n.vaddr);
        let dumped_end = s.vaddr.saturating_add(s.available.min(s.memsz));
        let hi = sp.saturating_add(STACK_ABOVE).min(dumped_end).min(next);
        let off = s.offset.checked_add(sp - s.vaddr)?;
        let file_end = self.data.len() as u64;
        let hi = hi.min(sp.saturating_add(file_end.saturating_sub(off)));
        (hi > sp).then(|| (sp, off, (hi - sp) as usize))
    }

    /// `len` bytes at `addr` from the stack window, when it holds them all.
    fn stacked(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let at = usize::try_from(addr.checked_sub(self.stack.vaddr)?).ok()?;
        let b = self.stack.bytes.get(at..at.checked_add(len)?)?;
        count_read(len);
        Some(b)
    }

    /// Give back the whole pages of `bytes` (a slice of this core's data) that a
    /// scan is done with, so that scanning a core larger than memory does not keep
    /// all of it resident: `madvise(MADV_DONTNEED)` on a read-only shared file
    /// mapping drops the pages from this process, and a later read faults them in
    /// again from the file (page cache) with the same contents. Does nothing when
    /// the core's bytes are not a file mapping (an in-memory core: there it would
    /// zero them).
    pub fn release(&self, bytes: &[u8]) {
        self.advise(bytes, libc::MADV_DONTNEED);
    }

    /// Say that `bytes` (a slice of this core's data) is about to be read from
    /// start to end, as a scan does: unless its pages look cached already,
    /// `madvise(MADV_WILLNEED)` starts reading them, ahead and in large requests.
    /// (The core is mapped with `MADV_RANDOM`, right for its headers, notes and
    /// stacks, which turns read-ahead off: a scan of a core that is not cached
    /// would otherwise read it a page per fault.) `MADV_WILLNEED` walks the page
    /// cache page by page even when there is nothing to read; whether there is,
    /// is sampled ([`AddressSpace::looks_cached`]). Does nothing when the core's
    /// bytes are not a file mapping.
    pub fn will_need(&self, bytes: &[u8]) {
        if !self.looks_cached(bytes) {
            self.advise(bytes, libc::MADV_WILLNEED);
        }
    }

    /// One page in every 512 KiB of `bytes` (a slice of this core's file
    /// mapping), the first and the last, are in the page cache (`mincore`, a
    /// page at a time: asked of a whole range, it looks up every page, which
    /// costs more than the read-ahead advice it would save). False when some is
    /// not, or when it cannot tell. A page missed by the sample is read when the
    /// scan faults on it.
    fn looks_cached(&self, bytes: &[u8]) -> bool {
        let Some((start, end)) = self.pages_of(bytes) else {
            return true;
        };
        const PAGE: usize = 4096;
        const STEP: usize = 512 << 10;
        let resident = |at: usize| {
            let mut v = [0u8; 1];
            // SAFETY: the page at `at` lies inside the read-only file mapping
            // (`pages_of`, `at` in [start, end), page-aligned); `v` has room for
            // the one page asked about.
            let r = unsafe { libc::mincore(at as *mut libc::c_void, PAGE, v.as_mut_ptr()) };
            r == 0 && v[0] & 1 == 1
        };
        (start..end).step_by(STEP).all(resident) && resident(end - PAGE)
    }

    /// `madvise(advice)` on the whole pages of `bytes`, when they lie in this core's
    /// read-only file mapping.
    fn advise(&self, bytes: &[u8], advice: libc::c_int) {
        if let Some((start, end)) = self.pages_of(bytes) {
            // SAFETY: [start, end) lies inside the read-only MAP_SHARED file mapping
            // `data` (`pages_of`). The advice given (`release`, `will_need`) never
            // changes what is read: MADV_DONTNEED only drops this process's
            // page-table entries, and the bytes read afterwards are the file's, the
            // same as before (docs/reliability.md covers a file changed under us);
            // MADV_WILLNEED only starts reading pages into the page cache.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, advice);
            }
        }
    }

    /// The whole pages `[start, end)` (addresses) of `bytes`, when they lie in this
    /// core's read-only file mapping and there is at least one.
    fn pages_of(&self, bytes: &[u8]) -> Option<(usize, usize)> {
        if !self.file_mapping || bytes.is_empty() {
            return None;
        }
        // Bytes read through windows are copies: nothing to advise.
        let data = self.data.mapped()?;
        let base = data.as_ptr() as usize;
        let (lo, hi) = (
            bytes.as_ptr() as usize,
            bytes.as_ptr() as usize + bytes.len(),
        );
        if lo < base || hi > base + data.len() {
            return None;
        }
        let page = page_size();
        let start = lo.div_ceil(page) * page;
        let end = hi / page * page;
        (end > start).then_some((start, end))
    }

    /// The parts of `[addr, addr + len)` — dumped bytes within one segment — that
    /// the core file holds as data, each widened by `pad` bytes on both sides
    /// (clipped to the range, overlapping parts merged) so that any object of at
    /// most `pad + 1` bytes overlapping data lies wholly in one part: as `(address,
    /// length)`, in address order. What is left out lies in holes of a sparse file
    /// (zeros never written by the kernel) and is not read. Without holes (or
    /// outside the file's segments), the whole range.
    pub fn data_parts(&self, addr: u64, len: u64, pad: u64) -> Vec<(u64, u64)> {
        let whole = vec![(addr, len)];
        let Some(ext) = &self.extents else {
            return whole;
        };
        let Some(s) = self.segment(addr) else {
            return whole;
        };
        let Some(fo) = s.offset.checked_add(addr - s.vaddr) else {
            return whole;
        };
        let Some(fe) = fo.checked_add(len) else {
            return whole;
        };
        let mut parts: Vec<(u64, u64)> = Vec::new();
        let mut i = ext.partition_point(|e| e.1 <= fo);
        while let Some(&(es, ee)) = ext.get(i) {
            if es >= fe {
                break;
            }
            let a = es.max(fo).saturating_sub(pad).max(fo);
            let b = ee.min(fe).saturating_add(pad).min(fe);
            match parts.last_mut() {
                Some(l) if a <= l.1 => l.1 = l.1.max(b),
                _ => parts.push((a, b)),
            }
            i += 1;
        }
        parts
            .into_iter()
            .map(|(a, b)| (addr + (a - fo), b - a))
            .collect()
    }

    /// Serve the bytes of read-only file mappings that the core did not dump (text of
    /// the executable and libraries, with the default coredump_filter) from the files
    /// themselves. `resolve` maps a path recorded in the core to a file on this
    /// machine (under the sysroot); files that cannot be opened are skipped. Writable
    /// and deleted mappings are never backed: their memory may differ from the file.
    pub fn with_file_backing(
        mut self,
        maps: &[crate::mappings::Mapping],
        resolve: impl Fn(&str) -> Option<std::path::PathBuf>,
    ) -> Self {
        use crate::coredump::Dumped;
        use crate::mappings::MappingKind;
        let mut opened: std::collections::HashMap<String, Option<std::sync::Arc<memmap2::Mmap>>> =
            std::collections::HashMap::new();
        for m in maps {
            if m.kind != MappingKind::File
                || m.deleted
                || m.perms.contains('w')
                || m.dumped == Dumped::Full
            {
                continue;
            }
            let Some(path) = &m.path else { continue };
            let map = opened
                .entry(path.clone())
                .or_insert_with(|| {
                    let p = resolve(path)?;
                    // A core names any path it likes: never wait on a FIFO, never
                    // map a device (only regular files back memory).
                    let f = crate::input::open_regular(&p).ok()?;
                    // SAFETY: read-only (PROT_READ) mapping of a file we only read; the
                    // same SIGBUS caveat as for cores applies (docs/reliability.md).
                    unsafe { memmap2::Mmap::map(&f) }
                        .ok()
                        .map(std::sync::Arc::new)
                })
                .clone();
            if let Some(map) = map {
                self.files.push(FileBacking {
                    start: m.start,
                    end: m.end,
                    offset: m.offset,
                    map,
                });
            }
        }
        self.files.sort_by_key(|f| f.start);
        self
    }

    /// Serve the read-only file mappings the core did not dump from the files of
    /// the verified modules (build-id checked, or first page compared: see
    /// [`crate::symbols::BuildIdStatus`]): `--binary` for the executable, the
    /// sysroot's files for the libraries, as gdb reads them. gdb's `gcore` omits the
    /// text of every module and writes no PT_LOAD for it, so the permissions come
    /// from the module file's program headers ([`crate::symbols::ModuleMapping`]).
    pub fn with_module_backing(
        self,
        maps: &[crate::mappings::Mapping],
        modules: &crate::symbols::Modules,
    ) -> Self {
        use crate::symbols::BuildIdStatus;
        let mut files: std::collections::HashMap<&str, &std::path::Path> =
            std::collections::HashMap::new();
        let mut writable: Vec<(u64, u64)> = Vec::new();
        for m in modules.iter() {
            if !matches!(m.status, BuildIdStatus::Match | BuildIdStatus::NoBuildId) {
                continue;
            }
            let Some(f) = m.file.as_deref() else { continue };
            files.insert(m.name.as_str(), f);
            writable.extend(
                m.mappings
                    .iter()
                    .filter(|mm| mm.writable)
                    .map(|mm| (mm.start, mm.end)),
            );
        }
        // Mappings the core gives no permissions for are backed only when the
        // file says they are read-only.
        let keep: Vec<crate::mappings::Mapping> = maps
            .iter()
            .filter(|m| !writable.iter().any(|&(s, e)| s == m.start && e == m.end))
            .cloned()
            .collect();
        self.with_file_backing(&keep, |p| {
            let p = p.strip_suffix(" (deleted)").unwrap_or(p);
            files.get(p).map(|f| f.to_path_buf())
        })
    }

    /// Bytes of a backed file mapping, if `[addr, addr+len)` lies in one.
    fn file_bytes(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let i = self.files.partition_point(|f| f.start <= addr);
        let f = self.files[..i].last()?;
        let end = addr.checked_add(len as u64)?;
        if end > f.end {
            return None;
        }
        let off = usize::try_from(f.offset.checked_add(addr - f.start)?).ok()?;
        f.map.get(off..off.checked_add(len)?).map(<[u8]>::to_vec)
    }

    /// The address is not dumped but its file mapping is backed by the file.
    pub fn file_backed(&self, addr: u64) -> bool {
        self.file_bytes(addr, 1).is_some()
    }

    pub fn endian(&self) -> Endian {
        self.endian
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segs
    }

    /// The segment that maps `addr`.
    pub fn segment(&self, addr: u64) -> Option<&Segment> {
        let i = self.segs.partition_point(|s| s.vaddr <= addr);
        // Overlapping segments only occur in corrupt cores: look back a little.
        self.segs[..i]
            .iter()
            .rev()
            .take(4)
            .find(|s| s.contains(addr))
    }

    pub fn presence(&self, addr: u64) -> Presence {
        match self.segment(addr) {
            None => Presence::Unmapped,
            Some(s) => {
                let o = addr - s.vaddr;
                if o < s.available {
                    Presence::Dumped
                } else if o < s.filesz {
                    Presence::Truncated
                } else {
                    Presence::NotDumped
                }
            }
        }
    }

    /// Zero-copy read of `len` bytes inside one segment.
    pub fn slice(&self, addr: u64, len: usize) -> Result<&'d [u8], ReadError> {
        let s = self.segment(addr).ok_or(ReadError::Unmapped { addr })?;
        let o = addr - s.vaddr;
        let want_end = o.saturating_add(len as u64);
        if want_end <= s.available {
            let start = (s.offset + o) as usize;
            let b = self
                .data
                .get(start, len)
                .ok_or(ReadError::Truncated { addr })?;
            count_read(b.len());
            return Ok(b);
        }
        // Which byte is the first we cannot give? (`vaddr + max(available, o)`; it
        // saturates at the top of the address space rather than overflow.)
        let missing = s.vaddr.saturating_add(s.available.max(o));
        if want_end > s.memsz {
            // Crosses the end of this segment: the caller may use `read`.
            if s.available >= s.memsz {
                return Err(ReadError::Unmapped { addr: s.end() });
            }
        }
        if s.available < s.filesz && o.max(s.available) < s.filesz {
            Err(ReadError::Truncated { addr: missing })
        } else {
            Err(ReadError::NotDumped {
                addr: missing,
                start: s.vaddr,
                end: s.end(),
            })
        }
    }

    /// Read `len` bytes, across adjacent segments if needed, and from the mapped
    /// file for backed read-only file mappings the core did not dump (with a
    /// PT_LOAD of `p_filesz` 0, or, from gcore, none at all).
    pub fn read(&self, addr: u64, len: usize) -> Result<Cow<'d, [u8]>, ReadError> {
        match self.slice(addr, len) {
            Ok(s) => Ok(Cow::Borrowed(s)),
            Err(e @ ReadError::NotDumped { .. }) => match self.file_bytes(addr, len) {
                Some(v) => Ok(Cow::Owned(v)),
                None => Err(e),
            },
            // gcore writes no PT_LOAD for what it leaves out: the range is mapped
            // only according to NT_FILE, and a backed mapping serves it.
            Err(e @ ReadError::Unmapped { addr: a }) if a == addr => {
                match self.file_bytes(addr, len) {
                    Some(v) => Ok(Cow::Owned(v)),
                    None => Err(e),
                }
            }
            Err(ReadError::Unmapped { addr: a }) if a != addr => {
                let mut out = Vec::with_capacity(len.min(1 << 20));
                let mut cur = addr;
                let end = addr
                    .checked_add(len as u64)
                    .ok_or(ReadError::Unmapped { addr })?;
                while cur < end {
                    let s = self.segment(cur).ok_or(ReadError::Unmapped { addr: cur })?;
                    let n = (s.end().min(end) - cur) as usize;
                    out.extend_from_slice(self.slice(cur, n)?);
                    cur += n as u64;
                }
                Ok(Cow::Owned(out))
            }
            Err(e) => Err(e),
        }
    }

    pub fn read_u32(&self, addr: u64) -> Result<u32, ReadError> {
        if let Some(b) = self.stacked(addr, 4) {
            return Bytes::new(b, self.endian)
                .u32(0)
                .ok_or(ReadError::Unmapped { addr });
        }
        let b = self.read(addr, 4)?;
        Bytes::new(&b, self.endian)
            .u32(0)
            .ok_or(ReadError::Unmapped { addr })
    }

    pub fn read_u64(&self, addr: u64) -> Result<u64, ReadError> {
        if let Some(b) = self.stacked(addr, 8) {
            return Bytes::new(b, self.endian)
                .u64(0)
                .ok_or(ReadError::Unmapped { addr });
        }
        let b = self.read(addr, 8)?;
        Bytes::new(&b, self.endian)
            .u64(0)
            .ok_or(ReadError::Unmapped { addr })
    }

    /// A pointer-sized word.
    pub fn read_word(&self, addr: u64, size: usize) -> Result<u64, ReadError> {
        if size == 8 {
            self.read_u64(addr)
        } else {
            self.read_u32(addr).map(u64::from)
        }
    }

    /// A NUL-terminated string of at most `max` bytes.
    pub fn read_cstr(&self, addr: u64, max: usize) -> Result<String, ReadError> {
        let s = self.segment(addr).ok_or(ReadError::Unmapped { addr })?;
        let avail = (s.available.saturating_sub(addr - s.vaddr)) as usize;
        let b = self.slice(addr, max.min(avail).max(1))?;
        let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        Ok(String::from_utf8_lossy(&b[..n]).into_owned())
    }

    /// Every dumped byte range, as (virtual address, length), in address order; of
    /// a sparse core, only the parts that hold data ([`AddressSpace::data_parts`]
    /// without padding: the holes are zeros). Read them with
    /// [`AddressSpace::for_each_window`].
    pub fn dumped_parts(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.segs.iter().flat_map(move |s| {
            let len = s.available.min(s.memsz);
            let in_file = s
                .offset
                .checked_add(len)
                .is_some_and(|e| e <= self.data.len() as u64);
            if len == 0 || !in_file {
                return Vec::new();
            }
            self.data_parts(s.vaddr, len, 0)
        })
    }

    /// [`AddressSpace::for_each_window`] over every part [`AddressSpace::dumped_parts`]
    /// gives, in address order; a part that cannot be read is skipped.
    pub fn for_each_dumped(&self, margin: usize, mut f: impl FnMut(u64, &[u8], usize, usize)) {
        for (addr, len) in self.dumped_parts() {
            let _ = self.for_each_window(addr, len, margin, &mut f);
        }
    }

    /// Bulk read of `[addr, addr + len)` (dumped bytes within one segment, as
    /// [`AddressSpace::dumped_parts`] and [`AddressSpace::data_parts`] give them):
    /// `f(vaddr, bytes, from, to)` is called with memory from `vaddr` in `bytes`, of
    /// which this call covers `bytes[from..to]`; up to `margin` bytes before `from`
    /// and after `to` (within the range) are the neighbours' bytes, so that an
    /// object starting in `[from, to)` and at most `margin` bytes long is whole in
    /// `bytes`. A mapped core gives the whole range at once and zero-copy (`from` 0,
    /// `to` its length); a core read through windows gives it
    /// [`Windowed::window`](crate::coredump::Windowed::window) bytes at a time (8 MiB
    /// by default), read into one buffer, so that memory stays bounded. Stops with the
    /// error of the first part that cannot be read.
    pub fn for_each_window(
        &self,
        addr: u64,
        len: u64,
        margin: usize,
        mut f: impl FnMut(u64, &[u8], usize, usize),
    ) -> Result<(), ReadError> {
        let total = usize::try_from(len).map_err(|_| ReadError::Unmapped { addr })?;
        let w = match self.data {
            Data::Mapped(_) => {
                let b = self.slice(addr, total)?;
                f(addr, b, 0, b.len());
                return Ok(());
            }
            Data::Windowed(w) => w,
        };
        let s = self.segment(addr).ok_or(ReadError::Unmapped { addr })?;
        let o = addr - s.vaddr;
        if o.saturating_add(len) > s.available {
            // Not all dumped: the error a read of the range gives.
            self.slice(addr, total)?;
        }
        let file = (s.offset + o) as usize;
        let mut buf = Vec::new();
        let mut at = 0usize;
        while at < total {
            let lo = at.saturating_sub(margin);
            let to = at.saturating_add(w.window()).min(total);
            let hi = to.saturating_add(margin).min(total);
            if !w.read_into(file + lo, hi - lo, &mut buf) {
                return Err(ReadError::Truncated {
                    addr: addr + lo as u64,
                });
            }
            count_read(to - at);
            f(addr + lo as u64, &buf, at - lo, to - lo);
            at = to;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(segs: Vec<Segment>, data: &'static [u8]) -> AddressSpace<'static> {
        AddressSpace {
            data: Data::Mapped(data),
            endian: Endian::Little,
            segs,
            files: Vec::new(),
            extents: None,
            file_mapping: false,
            file: None,
            stack: StackWindow::default(),
        }
    }

    fn seg(vaddr: u64, memsz: u64, offset: u64, filesz: u64, available: u64) -> Segment {
        Segment {
            index: 0,
            vaddr,
            memsz,
            offset,
            filesz,
            flags: 6,
            align: 4096,
            available,
        }
    }

    #[test]
    fn four_cases() {
        static DATA: [u8; 32] = [7; 32];
        let a = space(
            vec![
                seg(0x1000, 0x10, 0, 0x10, 0x10),
                seg(0x2000, 0x20, 0x10, 0x8, 0x8),
                seg(0x3000, 0x20, 0x18, 0x20, 0x8),
            ],
            &DATA,
        );
        assert_eq!(a.slice(0x1004, 4).unwrap(), &[7, 7, 7, 7]);
        assert_eq!(a.presence(0x1004), Presence::Dumped);
        assert!(matches!(
            a.slice(0x2010, 4),
            Err(ReadError::NotDumped { .. })
        ));
        assert_eq!(a.presence(0x2010), Presence::NotDumped);
        assert!(matches!(
            a.slice(0x5000, 4),
            Err(ReadError::Unmapped { .. })
        ));
        assert!(matches!(
            a.slice(0x3010, 4),
            Err(ReadError::Truncated { .. })
        ));
        assert_eq!(a.presence(0x3010), Presence::Truncated);
        assert_eq!(a.read_u32(0x1000).unwrap(), 0x07070707);
    }

    /// Word reads served from a stack window read by `pread` give what reads through
    /// the core's bytes give (values, errors and bytes counted), around segment
    /// edges, in a truncated segment, in overlapping segments and where nothing was
    /// dumped.
    #[test]
    fn stack_window_reads_equal_mapped_reads() {
        use std::io::Write;
        let bytes: Vec<u8> = (0..3 * 4096u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut f = tempfile::tempfile().expect("temp file");
        f.write_all(&bytes).expect("write");
        let file: &'static std::fs::File = Box::leak(Box::new(f));
        let data: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        let mut s = space(
            vec![
                seg(0x10000, 0x1000, 0, 0x1000, 0x1000),
                seg(0x11000, 0x1000, 0x1000, 0x1000, 0x1000),
                // Truncated: half of it is in the file.
                seg(0x20000, 0x2000, 0x2000, 0x2000, 0x1000),
                // Overlapping (a corrupt core).
                seg(0x30000, 0x1000, 0x1000, 0x1000, 0x1000),
                seg(0x30800, 0x800, 0x2800, 0x800, 0x800),
                // Mapped, not dumped.
                seg(0x40000, 0x1000, 0x3000, 0, 0),
            ],
            data,
        );
        s.file_mapping = true;
        let mut s = s.with_small_reads(file);
        let plain = s.clone();
        let mut served = 0;
        for sp in [
            0x10000, 0x10ff8, 0x10ffc, 0x11ff0, 0x20000, 0x20ff8, 0x30000, 0x307f8, 0x30800,
            0x40000, 0x5000,
        ] {
            s.read_ahead_stack(Some(sp));
            if !s.stack.bytes.is_empty() {
                served += 1;
            }
            for a in (sp.saturating_sub(16)..sp + 0x1100).step_by(4) {
                let n0 = bytes_read();
                let got = s.read_u64(a);
                let n1 = bytes_read();
                let want = plain.read_u64(a);
                assert_eq!(got, want, "u64 at {a:#x}, sp {sp:#x}");
                assert_eq!(n1 - n0, bytes_read() - n1, "bytes counted at {a:#x}");
                assert_eq!(s.read_u32(a), plain.read_u32(a), "u32 at {a:#x}");
                assert_eq!(s.read_word(a, 8), plain.read_word(a, 8));
            }
        }
        assert_eq!(served, 9, "windows read");
        s.read_ahead_stack(None);
        assert!(s.stack.bytes.is_empty());
    }
}
