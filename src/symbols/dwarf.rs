//! DWARF of one module, loaded on first use: the sections (decompressed when the
//! file stores them compressed) and an `addr2line` context over them.

use std::cell::OnceCell;
use std::sync::Arc;

use gimli::{EndianSlice, RunTimeEndian, SectionId};
use object::Object;

use super::elf::{ElfCell, FileBytes, SectionData, section_data};

/// The reader type of every DWARF section handed out by this crate.
pub type Reader<'a> = EndianSlice<'a, RunTimeEndian>;

/// The sections of one DWARF, by id, and where their bytes are.
pub(crate) struct DwarfOwner {
    file: Arc<FileBytes>,
    pub(crate) endian: RunTimeEndian,
    sections: Vec<(SectionId, SectionData)>,
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

    fn slice(&self, id: SectionId) -> &[u8] {
        for (sid, d) in &self.sections {
            if *sid == id {
                return match d {
                    SectionData::Range(r) => self.file.get(r.clone()).unwrap_or(&[]),
                    SectionData::Owned(v) => v,
                };
            }
        }
        &[]
    }
}

pub(crate) struct DwarfDep<'a> {
    pub(crate) dwarf: Arc<gimli::Dwarf<Reader<'a>>>,
    /// An `addr2line` context over every unit, built on first use.
    full: OnceCell<Option<addr2line::Context<Reader<'a>>>>,
    /// `.debug_aranges`: (start, end, unit offset), sorted.
    aranges: Vec<(u64, u64, usize)>,
    /// Unit offsets in `aranges` order, deduplicated, and a context per unit.
    units: Vec<usize>,
    unit_ctx: Vec<OnceCell<Option<Box<addr2line::Context<Reader<'a>>>>>>,
}

impl<'a> DwarfDep<'a> {
    /// The context that knows `probe` (link-time): the one of its unit when
    /// `.debug_aranges` names it (parsing only that unit is what makes symbolizing
    /// a few frames in a big library cheap), else the context over all units.
    pub(crate) fn ctx_for(
        &self,
        owner: &'a DwarfOwner,
        probe: u64,
    ) -> Option<&addr2line::Context<Reader<'a>>> {
        let i = self.aranges.partition_point(|(s, _, _)| *s <= probe);
        let hit = self.aranges[..i]
            .iter()
            .rev()
            .take(8)
            .find(|(s, e, _)| probe >= *s && probe < *e)
            .map(|(_, _, u)| *u);
        if let Some(u) = hit
            && let Ok(k) = self.units.binary_search(&u)
            && let Some(Some(c)) = self
                .unit_ctx
                .get(k)
                .map(|c| c.get_or_init(|| unit_context(owner, &self.dwarf, u)))
        {
            return Some(c);
        }
        self.full_ctx()
    }

    pub(crate) fn full_ctx(&self) -> Option<&addr2line::Context<Reader<'a>>> {
        self.full
            .get_or_init(|| addr2line::Context::from_arc_dwarf(self.dwarf.clone()).ok())
            .as_ref()
    }
}

/// DW_FORM_ref_addr, DW_FORM_ref_sup4/8, DW_FORM_GNU_ref_alt: references out of
/// the unit, which a context over that unit alone cannot follow.
fn abbrevs_leave_unit(abbrev: &[u8], offset: usize) -> bool {
    fn uleb(b: &[u8], p: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let x = *b.get(*p)?;
            *p += 1;
            if shift < 64 {
                v |= u64::from(x & 0x7f) << shift;
            }
            shift += 7;
            if x & 0x80 == 0 {
                return Some(v);
            }
        }
    }
    let mut p = offset;
    let mut walk = || -> Option<bool> {
        for _ in 0..100_000 {
            if uleb(abbrev, &mut p)? == 0 {
                return Some(false);
            }
            uleb(abbrev, &mut p)?; // tag
            p += 1; // children
            loop {
                let name = uleb(abbrev, &mut p)?;
                let form = uleb(abbrev, &mut p)?;
                if name == 0 && form == 0 {
                    break;
                }
                if matches!(form, 0x10 | 0x1c | 0x24 | 0x1f20) {
                    return Some(true);
                }
                if form == 0x21 {
                    uleb(abbrev, &mut p)?; // implicit_const (sleb, same length rule)
                }
            }
        }
        Some(true)
    };
    walk().unwrap_or(true)
}

fn unit_context<'a>(
    owner: &'a DwarfOwner,
    full: &gimli::Dwarf<Reader<'a>>,
    unit: usize,
) -> Option<Box<addr2line::Context<Reader<'a>>>> {
    let header = full
        .debug_info
        .header_from_offset(gimli::DebugInfoOffset(unit))
        .ok()?;
    if abbrevs_leave_unit(
        owner.slice(SectionId::DebugAbbrev),
        header.debug_abbrev_offset().0,
    ) {
        return None;
    }
    let info = owner.slice(SectionId::DebugInfo);
    let bytes = info.get(unit..unit.checked_add(header.length_including_self())?)?;
    let dwarf = gimli::Dwarf::load(|id| {
        Ok::<_, gimli::Error>(EndianSlice::new(
            match id {
                SectionId::DebugInfo => bytes,
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
const SECTIONS: &[SectionId] = &[
    SectionId::DebugAbbrev,
    SectionId::DebugAddr,
    SectionId::DebugAranges,
    SectionId::DebugInfo,
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

    /// Load the DWARF of `elf` (the file that holds `.debug_info`). `None` when it
    /// has none or it cannot be parsed.
    pub(crate) fn load(elf: &ElfCell) -> Option<DwarfCell> {
        let file = elf.file();
        let data: &[u8] = elf.bytes();
        let endian = if file.is_little_endian() {
            RunTimeEndian::Little
        } else {
            RunTimeEndian::Big
        };
        let mut sections = Vec::with_capacity(SECTIONS.len());
        for &id in SECTIONS {
            if let Some(d) = section_data(file, data, id.name()) {
                sections.push((id, d));
            }
        }
        if !sections.iter().any(|(id, _)| *id == SectionId::DebugInfo) {
            return None;
        }
        let owner = DwarfOwner {
            file: elf.bytes().clone(),
            endian,
            sections,
            loc: OnceCell::new(),
            loclists: OnceCell::new(),
        };
        DwarfCell::try_new(owner, |o| {
            let dwarf = gimli::Dwarf::load(|id| {
                Ok::<_, gimli::Error>(EndianSlice::new(o.slice(id), o.endian))
            })?;
            let mut aranges = Vec::new();
            let mut headers = dwarf.debug_aranges.headers();
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
                dwarf: Arc::new(dwarf),
                full: OnceCell::new(),
                aranges,
                units,
                unit_ctx,
            })
        })
        .ok()
    }
}
