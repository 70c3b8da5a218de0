//! DWARF of one module, loaded on first use: the sections (decompressed when the
//! file stores them compressed) and an `addr2line` context over them.
//!
//! A zlib-compressed `.debug_info` (the C library's: 5.8 MB from 2.3 MB) is inflated
//! lazily, as a growing prefix ([`Inflating`]): a frame's unit is parsed as soon as
//! the bytes up to its end are there, and the units after the last one a run needs
//! are never inflated, unless something needs the whole section (a walk of every
//! unit, or an address `.debug_aranges` does not cover).

use std::cell::OnceCell;
use std::mem::MaybeUninit;
use std::ops::Range;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use gimli::{EndianSlice, RunTimeEndian, SectionId};
use object::Object;

use super::elf::{ElfCell, FileBytes, MAX_SECTION, SectionData, section_data};

/// The reader type of every DWARF section handed out by this crate.
pub type Reader<'a> = EndianSlice<'a, RunTimeEndian>;

/// A zlib-compressed section inflated on demand into one buffer of its final size
/// (allocated once, never moved): [`Inflating::prefix`] inflates up to the end asked
/// for and hands out the bytes before it, which are never written again.
pub(crate) struct Inflating {
    file: Arc<FileBytes>,
    /// The compressed stream in `file`.
    raw: Range<usize>,
    buf: NonNull<MaybeUninit<u8>>,
    cap: usize,
    /// Bytes of `buf` initialised (a prefix), only ever growing.
    done: AtomicUsize,
    /// How far [`Inflating::read_ahead`] goes (the whole section unless
    /// [`Inflating::limit_read_ahead`] said less).
    ahead: AtomicUsize,
    /// The decompressor; `None` once the stream ended or turned out corrupt.
    state: Mutex<Option<flate2::Decompress>>,
}

// SAFETY: `buf` is owned by the value (freed in `Drop`). Bytes before `done` are
// only read, through shared slices; bytes from `done` on are only written while the
// `state` lock is held, and `done` is raised (Release) after they are written.
unsafe impl Send for Inflating {}
unsafe impl Sync for Inflating {}

impl Drop for Inflating {
    fn drop(&mut self) {
        // SAFETY: `buf` came from `Box::into_raw` of a slice of `cap` elements.
        drop(unsafe {
            Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.buf.as_ptr(),
                self.cap,
            ))
        });
    }
}

/// How much `Inflating::read_ahead` inflates per lock (so that a reader asking
/// for a prefix waits at most that long for the background thread).
const STEP: usize = 256 << 10;

impl Inflating {
    /// `raw`: a zlib stream in `file` inflating to `size` bytes.
    fn new(file: Arc<FileBytes>, raw: Range<usize>, size: usize) -> Inflating {
        let b: Box<[MaybeUninit<u8>]> = Box::new_uninit_slice(size);
        let cap = b.len();
        let buf =
            NonNull::new(Box::into_raw(b) as *mut MaybeUninit<u8>).unwrap_or(NonNull::dangling());
        Inflating {
            file,
            raw,
            buf,
            cap,
            done: AtomicUsize::new(0),
            ahead: AtomicUsize::new(cap),
            state: Mutex::new(Some(flate2::Decompress::new(true))),
        }
    }

    /// Size of the whole section.
    pub(crate) fn len(&self) -> usize {
        self.cap
    }

    /// The first `end` bytes, inflating what is missing; `None` when the stream
    /// ends early or is corrupt before `end`.
    pub(crate) fn prefix(&self, end: usize) -> Option<&[u8]> {
        if end > self.cap {
            return None;
        }
        if self.done.load(Ordering::Acquire) < end {
            self.inflate_to(end, usize::MAX);
        }
        if self.done.load(Ordering::Acquire) < end {
            return None;
        }
        // SAFETY: the first `end` bytes are initialised and never written again.
        Some(unsafe { std::slice::from_raw_parts(self.buf.as_ptr() as *const u8, end) })
    }

    /// Inflate ahead of the readers, `STEP` bytes per lock: the whole section,
    /// or up to the limit [`Inflating::limit_read_ahead`] set (read at every step,
    /// so a limit set meanwhile stops it there).
    pub(crate) fn read_ahead(&self) {
        loop {
            let end = self.ahead.load(Ordering::Relaxed).min(self.cap);
            if self.done.load(Ordering::Acquire) >= end || !self.inflate_to(end, STEP) {
                return;
            }
        }
    }

    /// Let [`Inflating::read_ahead`] stop at `end`: all the readers are known to
    /// need. A reader asking for more still gets it ([`Inflating::prefix`]).
    pub(crate) fn limit_read_ahead(&self, end: usize) {
        self.ahead.store(end, Ordering::Relaxed);
    }

    /// Inflate until `end` bytes are there or `step` more were inflated; `false`
    /// when nothing more can be inflated.
    fn inflate_to(&self, end: usize, step: usize) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(z) = st.as_mut() else {
            return false;
        };
        let start = self.done.load(Ordering::Acquire);
        let mut done = start;
        let limit = end.min(start.saturating_add(step)).min(self.cap);
        let raw = self.file.get(self.raw.clone()).unwrap_or(&[]);
        while done < limit {
            let input = raw.get(z.total_in() as usize..).unwrap_or(&[]);
            // At least 64 KiB per call, to keep the decompressor's calls few.
            let want = (limit - done).max(64 << 10).min(self.cap - done);
            // SAFETY: `done + want <= cap`; bytes from `done` on are not shared
            // (readers only see the prefix before `done`) and we hold the lock.
            let out = unsafe { std::slice::from_raw_parts_mut(self.buf.as_ptr().add(done), want) };
            let before = z.total_out();
            let r = z.decompress_uninit(input, out, flate2::FlushDecompress::Finish);
            let produced = (z.total_out() - before) as usize;
            done += produced;
            self.done.store(done, Ordering::Release);
            match r {
                Ok(flate2::Status::StreamEnd) => {
                    *st = None;
                    break;
                }
                Ok(_) if produced > 0 => {}
                _ => {
                    *st = None; // corrupt or truncated: no progress
                    break;
                }
            }
        }
        done > start || done >= self.cap
    }
}

/// Where a section's bytes are: in the file or a buffer of their own, or
/// inflated lazily (a zlib-compressed section).
enum Sec {
    Plain(SectionData),
    Lazy(Arc<Inflating>),
}

/// The sections of one DWARF, by id, and where their bytes are.
pub(crate) struct DwarfOwner {
    file: Arc<FileBytes>,
    pub(crate) endian: RunTimeEndian,
    /// `.debug_info` and the sections of [`SECTIONS`] the file has.
    sections: Vec<(SectionId, Sec)>,
    /// `.debug_loc` and `.debug_loclists`, inflated on first use.
    loc: OnceCell<Option<SectionData>>,
    loclists: OnceCell<Option<SectionData>>,
}

impl DwarfOwner {
    /// The location lists (`.debug_loc`, `.debug_loclists`), loaded on first use.
    pub(crate) fn location_lists(&self) -> gimli::LocationLists<Reader<'_>> {
        gimli::LocationLists::new(
            gimli::DebugLoc::new(self.lazy(&self.loc, ".debug_loc"), self.endian),
            gimli::DebugLocLists::new(self.lazy(&self.loclists, ".debug_loclists"), self.endian),
        )
    }

    fn lazy<'s>(&'s self, cell: &'s OnceCell<Option<SectionData>>, name: &str) -> &'s [u8] {
        let d = cell.get_or_init(|| {
            let file = object::File::parse(&**self.file).ok()?;
            section_data(&file, &self.file, name)
        });
        match d {
            Some(SectionData::Range(r)) => self.file.get(r.clone()).unwrap_or(&[]),
            Some(SectionData::Owned(v)) => v,
            None => &[],
        }
    }

    fn sec(&self, id: SectionId) -> Option<&Sec> {
        self.sections.iter().find(|(s, _)| *s == id).map(|(_, d)| d)
    }

    /// Bytes of section `id` up to `end` at least (all of it when it is not
    /// inflated lazily); empty when the section is missing or `end` is past what
    /// its stream gives.
    fn prefix(&self, id: SectionId, end: usize) -> &[u8] {
        match self.sec(id) {
            Some(Sec::Plain(SectionData::Range(r))) => self.file.get(r.clone()).unwrap_or(&[]),
            Some(Sec::Plain(SectionData::Owned(v))) => v,
            Some(Sec::Lazy(i)) => i.prefix(end).unwrap_or(&[]),
            None => &[],
        }
    }

    /// The whole section `id` (inflated first when lazy).
    fn slice(&self, id: SectionId) -> &[u8] {
        self.prefix(id, self.len(id))
    }

    fn len(&self, id: SectionId) -> usize {
        match self.sec(id) {
            Some(Sec::Plain(SectionData::Range(r))) => r.len(),
            Some(Sec::Plain(SectionData::Owned(v))) => v.len(),
            Some(Sec::Lazy(i)) => i.len(),
            None => 0,
        }
    }
}

pub(crate) struct DwarfDep<'a> {
    /// Every unit: built on first use (inflates all of a lazy `.debug_info`).
    dwarf: OnceCell<Option<Arc<gimli::Dwarf<Reader<'a>>>>>,
    /// An `addr2line` context over every unit, built on first use.
    full: OnceCell<Option<addr2line::Context<Reader<'a>>>>,
    /// `.debug_aranges`: (start, end, unit offset), sorted.
    aranges: Vec<(u64, u64, usize)>,
    /// Unit offsets in `aranges` order, deduplicated, and a context per unit.
    units: Vec<usize>,
    unit_ctx: Vec<OnceCell<Option<Box<addr2line::Context<Reader<'a>>>>>>,
}

impl<'a> DwarfDep<'a> {
    /// The DWARF over every unit (the whole `.debug_info`).
    pub(crate) fn dwarf(&self, o: &'a DwarfOwner) -> Option<&Arc<gimli::Dwarf<Reader<'a>>>> {
        self.dwarf
            .get_or_init(|| {
                gimli::Dwarf::load(|id| {
                    Ok::<_, gimli::Error>(EndianSlice::new(o.slice(id), o.endian))
                })
                .ok()
                .map(Arc::new)
            })
            .as_ref()
    }

    /// The context that knows `probe` (link-time): the one of its unit when
    /// `.debug_aranges` names it (parsing only that unit is what makes symbolizing
    /// a few frames in a big library cheap), else the context over all units.
    pub(crate) fn ctx_for(
        &self,
        owner: &'a DwarfOwner,
        probe: u64,
    ) -> Option<&addr2line::Context<Reader<'a>>> {
        if let Some(u) = self.unit_of(probe)
            && let Ok(k) = self.units.binary_search(&u)
            && let Some(Some(c)) = self
                .unit_ctx
                .get(k)
                .map(|c| c.get_or_init(|| unit_context(owner, u)))
        {
            return Some(c);
        }
        self.full_ctx(owner)
    }

    /// The offset of the unit `.debug_aranges` names for `probe` (link-time).
    fn unit_of(&self, probe: u64) -> Option<usize> {
        let i = self.aranges.partition_point(|(s, _, _)| *s <= probe);
        self.aranges[..i]
            .iter()
            .rev()
            .take(8)
            .find(|(s, e, _)| probe >= *s && probe < *e)
            .map(|(_, _, u)| *u)
    }

    /// How much of `.debug_info` the context of `probe` reads ([`DwarfDep::ctx_for`]):
    /// up to the next unit `.debug_aranges` names (the whole section after the
    /// last one). `None` when `.debug_aranges` does not name its unit: the context
    /// is then the one over every unit.
    pub(crate) fn info_needed_for(&self, owner: &DwarfOwner, probe: u64) -> Option<usize> {
        let u = self.unit_of(probe)?;
        let k = self.units.binary_search(&u).ok()?;
        Some(
            self.units
                .get(k + 1)
                .copied()
                .unwrap_or_else(|| owner.len(SectionId::DebugInfo)),
        )
    }

    pub(crate) fn full_ctx(
        &self,
        owner: &'a DwarfOwner,
    ) -> Option<&addr2line::Context<Reader<'a>>> {
        self.full
            .get_or_init(|| addr2line::Context::from_arc_dwarf(self.dwarf(owner)?.clone()).ok())
            .as_ref()
    }
}

/// What a scan of one abbreviation table found.
#[derive(Debug, PartialEq, Eq)]
enum AbbrevScan {
    /// The table ends before `end`; `leaves`: it uses DW_FORM_ref_addr,
    /// DW_FORM_ref_sup4/8 or DW_FORM_GNU_ref_alt, references out of the unit,
    /// which a context over that unit alone cannot follow (also said of a table
    /// too long to be plausible).
    Done { leaves: bool, end: usize },
    /// The bytes end inside the table.
    Short,
}

/// Scan the abbreviation table at `offset` of `abbrev` (a prefix of the section).
fn scan_abbrevs(abbrev: &[u8], offset: usize) -> AbbrevScan {
    use gimli::Reader as _;
    let Some(rest) = abbrev.get(offset..) else {
        return AbbrevScan::Short;
    };
    let mut r = EndianSlice::new(rest, gimli::LittleEndian);
    let mut walk = || -> gimli::Result<bool> {
        for _ in 0..100_000 {
            if r.read_uleb128()? == 0 {
                return Ok(false);
            }
            r.read_uleb128()?; // tag
            r.read_u8()?; // children
            loop {
                let name = r.read_uleb128()?;
                let form = r.read_uleb128()?;
                if name == 0 && form == 0 {
                    break;
                }
                if matches!(form, 0x10 | 0x1c | 0x24 | 0x1f20) {
                    return Ok(true);
                }
                if form == 0x21 {
                    r.read_sleb128()?; // DW_FORM_implicit_const's value
                }
            }
        }
        Ok(true)
    };
    match walk() {
        Ok(leaves) => AbbrevScan::Done {
            leaves,
            end: abbrev.len() - r.len(),
        },
        Err(_) => AbbrevScan::Short,
    }
}

/// The end of the abbreviation table at `offset`, inflating the section as far
/// as the table goes; `None` when the table leaves the unit (see [`AbbrevScan`])
/// or is cut short by the section's end.
fn abbrev_table_end(owner: &DwarfOwner, offset: usize) -> Option<usize> {
    let len = owner.len(SectionId::DebugAbbrev);
    if offset >= len {
        return None;
    }
    let mut want = offset.saturating_add(16 << 10).min(len);
    loop {
        let b = owner.prefix(SectionId::DebugAbbrev, want);
        match scan_abbrevs(b, offset) {
            AbbrevScan::Done { leaves: false, end } => return Some(end),
            AbbrevScan::Done { leaves: true, .. } => return None,
            AbbrevScan::Short if want < len => {
                want = offset
                    .saturating_add((want - offset).saturating_mul(4))
                    .min(len);
            }
            AbbrevScan::Short => return None,
        }
    }
}

/// The end of the line program at `offset` of `.debug_line`, from its initial length.
fn line_program_end(owner: &DwarfOwner, offset: usize) -> Option<usize> {
    use gimli::Reader as _;
    let b = owner.prefix(SectionId::DebugLine, offset.checked_add(12)?);
    let mut r = EndianSlice::new(b.get(offset..)?, owner.endian);
    let (len, format) = r.read_initial_length().ok()?;
    offset
        .checked_add(usize::from(format.initial_length_size()))?
        .checked_add(len)
}

/// The end of the unit at `unit` in `.debug_info`, from its initial length.
fn unit_end(owner: &DwarfOwner, unit: usize) -> Option<usize> {
    use gimli::Reader as _;
    let b = owner.prefix(SectionId::DebugInfo, unit.checked_add(12)?);
    let mut r = EndianSlice::new(b.get(unit..)?, owner.endian);
    let (len, format) = r.read_initial_length().ok()?;
    unit.checked_add(usize::from(format.initial_length_size()))?
        .checked_add(len)
}

fn unit_context<'a>(
    owner: &'a DwarfOwner,
    unit: usize,
) -> Option<Box<addr2line::Context<Reader<'a>>>> {
    let end = unit_end(owner, unit)?;
    let info = owner.prefix(SectionId::DebugInfo, end);
    let header = gimli::DebugInfo::new(info, owner.endian)
        .header_from_offset(gimli::DebugInfoOffset(unit))
        .ok()?;
    // The unit's abbreviations and line program are where their offsets say: the
    // prefixes of `.debug_abbrev` and `.debug_line` up to their ends are all the
    // unit reads of them (inflated that far when they are compressed).
    let abbrev_end = abbrev_table_end(owner, header.debug_abbrev_offset().0)?;
    let abbrev = owner.prefix(SectionId::DebugAbbrev, abbrev_end);
    let line = {
        let abbrevs = header
            .abbreviations(&gimli::DebugAbbrev::new(abbrev, owner.endian))
            .ok()?;
        let mut entries = header.entries(&abbrevs);
        let stmt_list = match entries.next_dfs() {
            Ok(Some(root)) => match root.attr_value(gimli::DW_AT_stmt_list) {
                Some(gimli::AttributeValue::DebugLineRef(o)) => Some(o.0),
                Some(gimli::AttributeValue::SecOffset(o)) => Some(o),
                _ => None,
            },
            _ => None,
        };
        match stmt_list {
            Some(o) => owner.prefix(SectionId::DebugLine, line_program_end(owner, o)?),
            None => &[],
        }
    };
    let bytes = info.get(unit..unit.checked_add(header.length_including_self())?)?;
    let dwarf = gimli::Dwarf::load(|id| {
        Ok::<_, gimli::Error>(EndianSlice::new(
            match id {
                SectionId::DebugInfo => bytes,
                SectionId::DebugAbbrev => abbrev,
                SectionId::DebugLine => line,
                SectionId::DebugAranges | SectionId::DebugTypes => &[],
                _ => owner.slice(id),
            },
            owner.endian,
        ))
    })
    .ok()?;
    addr2line::Context::from_dwarf(dwarf).ok().map(Box::new)
}

self_cell::self_cell!(
    /// A module's DWARF: the bytes and the parsed context that borrows them.
    pub(crate) struct DwarfCell {
        owner: DwarfOwner,
        #[not_covariant]
        dependent: DwarfDep,
    }
);

impl std::fmt::Debug for DwarfCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DwarfCell")
    }
}

/// The sections `gimli::Dwarf` uses and we load. Macro and name indexes are left
/// empty (nothing here reads them), and so are the location lists, which are
/// large and only needed to find a variable: see [`crate::symbols::Module::location_lists`].
/// `.debug_info` is apart (see [`Info`]).
const SECTIONS: &[SectionId] = &[
    SectionId::DebugAbbrev,
    SectionId::DebugAddr,
    SectionId::DebugAranges,
    SectionId::DebugLine,
    SectionId::DebugLineStr,
    SectionId::DebugStr,
    SectionId::DebugStrOffsets,
    SectionId::DebugTypes,
    SectionId::DebugRanges,
    SectionId::DebugRngLists,
];

impl DwarfCell {
    /// How many sections were read when it was loaded.
    pub(crate) fn sections_read(&self) -> u64 {
        self.borrow_owner().sections.len() as u64
    }

    /// Load the DWARF of `elf` (the file that holds `.debug_info`), its
    /// zlib-compressed sections being `lazy` (see [`lazy_sections`]): nothing of
    /// them is inflated here but `.debug_aranges`. `None` when it has no
    /// `.debug_info` or it cannot be parsed.
    pub(crate) fn load(elf: &ElfCell, lazy: &[(SectionId, Arc<Inflating>)]) -> Option<DwarfCell> {
        let file = elf.file();
        let data: &[u8] = elf.bytes();
        let endian = if file.is_little_endian() {
            RunTimeEndian::Little
        } else {
            RunTimeEndian::Big
        };
        let mut sections = Vec::with_capacity(SECTIONS.len() + 1);
        for &id in std::iter::once(&SectionId::DebugInfo).chain(SECTIONS) {
            let d = match lazy.iter().find(|(s, _)| *s == id) {
                Some((_, i)) => Some(Sec::Lazy(i.clone())),
                None => section_data(file, data, id.name()).map(Sec::Plain),
            };
            match d {
                Some(d) => sections.push((id, d)),
                None if id == SectionId::DebugInfo => return None,
                None => {}
            }
        }
        let owner = DwarfOwner {
            file: elf.bytes().clone(),
            endian,
            sections,
            loc: OnceCell::new(),
            loclists: OnceCell::new(),
        };
        DwarfCell::try_new(owner, |o| {
            let mut aranges = Vec::new();
            let mut headers =
                gimli::DebugAranges::new(o.slice(SectionId::DebugAranges), o.endian).headers();
            while let Ok(Some(h)) = headers.next() {
                let unit = h.debug_info_offset().0;
                let mut entries = h.entries();
                while let Ok(Some(e)) = entries.next() {
                    let r = e.range();
                    if r.end > r.begin {
                        aranges.push((r.begin, r.end, unit));
                    }
                }
                if aranges.len() > 1 << 22 {
                    break;
                }
            }
            aranges.sort_unstable();
            let mut units: Vec<usize> = aranges.iter().map(|(_, _, u)| *u).collect();
            units.sort_unstable();
            units.dedup();
            let unit_ctx = units.iter().map(|_| OnceCell::new()).collect();
            Ok::<_, gimli::Error>(DwarfDep {
                dwarf: OnceCell::new(),
                full: OnceCell::new(),
                aranges,
                units,
                unit_ctx,
            })
        })
        .ok()
    }
}

/// The zlib-compressed sections among `.debug_info` and [`SECTIONS`] of `elf`, as
/// [`Inflating`]s (nothing inflated yet): the reads ahead of
/// `Modules::prefetch_dwarf` and [`DwarfCell::load`] share them.
pub(crate) fn lazy_sections(elf: &ElfCell) -> Vec<(SectionId, Arc<Inflating>)> {
    std::iter::once(&SectionId::DebugInfo)
        .chain(SECTIONS)
        .filter_map(|&id| {
            let i = lazy_section(elf.file(), elf.bytes(), id.name())?;
            Some((id, Arc::new(i)))
        })
        .collect()
}

/// A zlib-compressed section as an [`Inflating`] (nothing inflated yet); `None` when
/// the section is missing, stored plain or otherwise compressed, or its size is
/// implausible.
fn lazy_section(file: &object::File<'_>, bytes: &Arc<FileBytes>, name: &str) -> Option<Inflating> {
    use object::ObjectSection;
    let s = file.section_by_name(name)?;
    let r = s.compressed_file_range().ok()?;
    if r.format != object::CompressionFormat::Zlib
        || r.uncompressed_size > MAX_SECTION
        || r.uncompressed_size > r.compressed_size.saturating_mul(1032)
    {
        return None;
    }
    let start = usize::try_from(r.offset).ok()?;
    let end = start.checked_add(usize::try_from(r.compressed_size).ok()?)?;
    bytes.get(start..end)?;
    Some(Inflating::new(
        bytes.clone(),
        start..end,
        usize::try_from(r.uncompressed_size).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn inflating(data: &[u8], corrupt_at: Option<usize>) -> Inflating {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        let mut z = e.finish().unwrap();
        if let Some(at) = corrupt_at {
            z.truncate(at);
        }
        let n = z.len();
        Inflating::new(Arc::new(FileBytes::Owned(z)), 0..n, data.len())
    }

    #[test]
    fn prefixes_grow_and_match_the_data() {
        // 1 MiB, poorly compressible, so that several steps are needed.
        let mut x = 0x1234_5678u32;
        let data: Vec<u8> = (0..1 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x % 7) as u8
            })
            .collect();
        let i = inflating(&data, None);
        assert_eq!(i.len(), data.len());
        let a = i.prefix(100).unwrap();
        assert_eq!(a, &data[..100]);
        let done = i.done.load(Ordering::Acquire);
        assert!(
            done < data.len(),
            "inflated {done} bytes for a prefix of 100"
        );
        let b = i.prefix(700_000).unwrap();
        assert_eq!(b, &data[..700_000]);
        // The first slice is still valid and unchanged.
        assert_eq!(a, &data[..100]);
        i.read_ahead();
        assert_eq!(i.prefix(data.len()).unwrap(), &data[..]);
        assert!(i.prefix(data.len() + 1).is_none());
    }

    #[test]
    fn the_read_ahead_stops_at_its_limit_and_readers_still_get_more() {
        let data: Vec<u8> = (0..1_000_000u32).map(|v| (v * 7 % 253) as u8).collect();
        let i = inflating(&data, None);
        i.limit_read_ahead(300_000);
        i.read_ahead();
        let done = i.done.load(Ordering::Acquire);
        assert!(
            (300_000..data.len()).contains(&done),
            "read ahead to {done} with a limit of 300 000"
        );
        // Past the limit, a reader inflates what it needs itself.
        assert_eq!(i.prefix(800_000).unwrap(), &data[..800_000]);
        let before = i.done.load(Ordering::Acquire);
        i.limit_read_ahead(0);
        i.read_ahead();
        assert_eq!(
            i.done.load(Ordering::Acquire),
            before,
            "a limit of 0 reads nothing more"
        );
        assert!(before < data.len());
        // Without a limit, all of it.
        i.limit_read_ahead(usize::MAX);
        i.read_ahead();
        assert_eq!(i.prefix(data.len()).unwrap(), &data[..]);
    }

    #[test]
    fn abbreviation_tables_end_where_their_terminator_is() {
        // Two tables: at 0, one abbreviation (code 1, DW_TAG_compile_unit, children,
        // DW_AT_name/DW_FORM_string, the attributes' end, the table's end); at 8,
        // one using DW_FORM_ref_addr.
        let t: &[u8] = &[
            1, 0x11, 1, 0x03, 0x08, 0, 0, 0, 1, 0x34, 0, 0x49, 0x10, 0, 0, 0,
        ];
        assert_eq!(
            scan_abbrevs(t, 0),
            AbbrevScan::Done {
                leaves: false,
                end: 8
            }
        );
        assert!(matches!(
            scan_abbrevs(t, 8),
            AbbrevScan::Done { leaves: true, .. }
        ));
        // Every cut inside the first table asks for more bytes.
        for cut in 0..8 {
            assert_eq!(
                scan_abbrevs(&t[..cut], 0),
                AbbrevScan::Short,
                "cut at {cut}"
            );
        }
        assert_eq!(scan_abbrevs(t, 100), AbbrevScan::Short);
    }

    #[test]
    fn a_truncated_stream_gives_what_it_has_and_no_more() {
        let data: Vec<u8> = (0..200_000u32).map(|v| (v * 31 % 251) as u8).collect();
        let i = inflating(&data, Some(50));
        assert!(i.prefix(data.len()).is_none());
        assert!(i.prefix(data.len()).is_none()); // again: no hang, no panic
        i.read_ahead();
        let i = inflating(b"", Some(0));
        assert!(i.prefix(1).is_none());
    }
}
