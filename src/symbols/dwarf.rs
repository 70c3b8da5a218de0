//! DWARF of one module, loaded on first use: the sections (decompressed when the
//! file stores them compressed) and an `addr2line` context over them.

use std::sync::Arc;

use gimli::{EndianSlice, RunTimeEndian, SectionId};
use object::Object;

use super::elf::{ElfCell, FileBytes, SectionData, section_data};

/// The reader type of every DWARF section handed out by this crate.
pub type Reader<'a> = EndianSlice<'a, RunTimeEndian>;

/// The sections of one DWARF, by id, and where their bytes are.
pub(crate) struct DwarfOwner {
    file: Arc<FileBytes>,
    endian: RunTimeEndian,
    sections: Vec<(SectionId, SectionData)>,
}

impl DwarfOwner {
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
    pub(crate) ctx: addr2line::Context<Reader<'a>>,
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

/// The sections `gimli::Dwarf` uses and we load (macro and name indexes are left
/// empty: nothing here reads them).
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
    SectionId::DebugLoc,
    SectionId::DebugLocLists,
    SectionId::DebugRanges,
    SectionId::DebugRngLists,
];

impl DwarfCell {
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
        };
        DwarfCell::try_new(owner, |o| {
            let dwarf = gimli::Dwarf::load(|id| {
                Ok::<_, gimli::Error>(EndianSlice::new(o.slice(id), o.endian))
            })?;
            let dwarf = Arc::new(dwarf);
            let ctx = addr2line::Context::from_arc_dwarf(dwarf.clone())?;
            Ok::<_, gimli::Error>(DwarfDep { dwarf, ctx })
        })
        .ok()
    }
}
