//! ELF files held for the life of a [`super::Modules`]: memory-mapped from disk (or
//! copied out of the core, for the vDSO), parsed once with `object`, and minimal
//! parsing of ELF headers and notes found in a core's memory.

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;
use object::{Object, ObjectSection};

use crate::coredump::{Bytes, Endian};

/// The bytes of one ELF file.
pub(crate) enum FileBytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(m) => m,
            FileBytes::Owned(v) => v,
        }
    }
}

impl std::fmt::Debug for FileBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileBytes({} bytes)", self.len())
    }
}

/// Map a file read-only. Regular files only (a FIFO or device never is a module).
pub(crate) fn map_file(path: &Path) -> std::io::Result<FileBytes> {
    // Opened without blocking (a FIFO named by a core must not hang us) and only if
    // it is a regular file.
    let file = crate::input::open_regular(path)?;
    let meta = file.metadata()?;
    if meta.len() == 0 {
        return Ok(FileBytes::Owned(Vec::new()));
    }
    // SAFETY: the map is read-only. If another process truncates the file while we
    // hold the map, reads past the new end raise SIGBUS; module files are installed
    // libraries and executables, which package managers replace by rename, never
    // truncate in place (the same risk `input.rs` documents for cores).
    let map = unsafe { Mmap::map(&file)? };
    #[cfg(unix)]
    {
        let _ = map.advise(memmap2::Advice::Random);
    }
    Ok(FileBytes::Mapped(map))
}

pub(crate) type ObjectFile<'a> = object::File<'a>;

self_cell::self_cell!(
    /// A mapped ELF file and its `object` parse, which borrows from it.
    pub(crate) struct ElfCell {
        owner: Arc<FileBytes>,
        #[covariant]
        dependent: ObjectFile,
    }
);

impl std::fmt::Debug for ElfCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ElfCell({} bytes)", self.borrow_owner().len())
    }
}

impl ElfCell {
    pub(crate) fn open(bytes: Arc<FileBytes>) -> Result<ElfCell, object::Error> {
        ElfCell::try_new(bytes, |b| object::File::parse(&***b))
    }

    pub(crate) fn file(&self) -> &object::File<'_> {
        self.borrow_dependent()
    }

    pub(crate) fn bytes(&self) -> &Arc<FileBytes> {
        self.borrow_owner()
    }

    pub(crate) fn build_id(&self) -> Option<Vec<u8>> {
        self.file()
            .build_id()
            .ok()
            .flatten()
            .filter(|b| !b.is_empty())
            .map(<[u8]>::to_vec)
    }

    /// The file carries DWARF debugging information of its own.
    pub(crate) fn has_dwarf(&self) -> bool {
        self.file()
            .section_by_name(".debug_info")
            .is_some_and(|s| s.size() > 0 && s.kind() != object::SectionKind::UninitializedData)
    }
}

/// One PT_LOAD program header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadSegment {
    pub vaddr: u64,
    pub offset: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub flags: u32,
}

/// What the ELF header and program headers of a module say (read from the core's
/// memory or from the file).
#[derive(Clone, Debug, Default)]
pub struct HeaderInfo {
    pub e_type: u16,
    pub machine: u16,
    pub loads: Vec<LoadSegment>,
    /// PT_PHDR's p_vaddr.
    pub phdr_vaddr: Option<u64>,
    /// PT_NOTE segments: (p_vaddr, p_offset, p_filesz).
    pub notes: Vec<(u64, u64, u64)>,
}

pub const PT_LOAD: u32 = 1;
pub const PT_NOTE: u32 = 4;
pub const PT_PHDR: u32 = 6;
/// At most this many program headers are read (real files have a dozen).
const MAX_PHDRS: usize = 256;

/// Parse an ELF header and its program headers from `data` (which need only hold
/// the first page of the file). `None` when `data` is not an ELF header.
pub fn parse_header(data: &[u8]) -> Option<HeaderInfo> {
    if data.len() < 52 || &data[..4] != b"\x7fELF" {
        return None;
    }
    let is64 = match data[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let endian = match data[5] {
        1 => Endian::Little,
        2 => Endian::Big,
        _ => return None,
    };
    let b = Bytes::new(data, endian);
    let e_type = b.u16(16)?;
    let machine = b.u16(18)?;
    let (phoff, phentsize, phnum) = if is64 {
        (b.u64(32)?, usize::from(b.u16(54)?), usize::from(b.u16(56)?))
    } else {
        (
            u64::from(b.u32(28)?),
            usize::from(b.u16(42)?),
            usize::from(b.u16(44)?),
        )
    };
    let mut info = HeaderInfo {
        e_type,
        machine,
        ..HeaderInfo::default()
    };
    let want = if is64 { 56 } else { 32 };
    if phentsize < want {
        return Some(info);
    }
    let phoff = usize::try_from(phoff).ok()?;
    for i in 0..phnum.min(MAX_PHDRS) {
        let Some(off) = i.checked_mul(phentsize).and_then(|o| o.checked_add(phoff)) else {
            break;
        };
        if off.checked_add(want).is_none_or(|e| e > data.len()) {
            break;
        }
        let (p_type, flags, offset, vaddr, filesz, memsz) = if is64 {
            (
                b.u32(off)?,
                b.u32(off + 4)?,
                b.u64(off + 8)?,
                b.u64(off + 16)?,
                b.u64(off + 32)?,
                b.u64(off + 40)?,
            )
        } else {
            (
                b.u32(off)?,
                b.u32(off + 24)?,
                u64::from(b.u32(off + 4)?),
                u64::from(b.u32(off + 8)?),
                u64::from(b.u32(off + 16)?),
                u64::from(b.u32(off + 20)?),
            )
        };
        match p_type {
            PT_LOAD => info.loads.push(LoadSegment {
                vaddr,
                offset,
                filesz,
                memsz,
                flags,
            }),
            PT_NOTE => info.notes.push((vaddr, offset, filesz)),
            PT_PHDR => info.phdr_vaddr = Some(vaddr),
            _ => {}
        }
    }
    Some(info)
}

/// The endianness an ELF header declares.
pub fn header_endian(data: &[u8]) -> Option<Endian> {
    match data.get(5)? {
        1 => Some(Endian::Little),
        2 => Some(Endian::Big),
        _ => None,
    }
}

/// NT_GNU_BUILD_ID inside a block of notes (4-byte aligned, as GNU writes them; an
/// 8-byte aligned PT_NOTE is tried too).
pub fn find_build_id(notes: &[u8], endian: Endian) -> Option<Vec<u8>> {
    for align in [4usize, 8] {
        let b = Bytes::new(notes, endian);
        let mut p = 0usize;
        while p + 12 <= notes.len() {
            let namesz = b.u32(p)? as usize;
            let descsz = b.u32(p + 4)? as usize;
            let n_type = b.u32(p + 8)?;
            let name_start = p + 12;
            let desc_start =
                name_start.checked_add(namesz.checked_add(align - 1)? & !(align - 1))?;
            let desc_end = desc_start.checked_add(descsz)?;
            if desc_end > notes.len() {
                break;
            }
            let name = &notes[name_start..name_start + namesz];
            if n_type == 3 && (name == b"GNU\0" || name == b"GNU") && descsz > 0 {
                return Some(notes[desc_start..desc_end].to_vec());
            }
            p = desc_end.checked_add(align - 1)? & !(align - 1);
        }
    }
    None
}

/// Lower-case hex of a build-id.
pub fn hex(id: &[u8]) -> String {
    let mut s = String::with_capacity(id.len() * 2);
    for b in id {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A section's bytes, decompressed when the file stores it compressed
/// (SHF_COMPRESSED zlib or zstd, or GNU `.zdebug_*`). `Ok(None)` when the data can
/// be borrowed as it is: the returned range is into the file.
#[derive(Debug)]
pub(crate) enum SectionData {
    Range(std::ops::Range<usize>),
    Owned(Vec<u8>),
}

/// Largest decompressed section we accept (a libc's .debug_info is a few MiB).
pub(crate) const MAX_SECTION: u64 = 1 << 30;

pub(crate) fn section_data(
    file: &object::File<'_>,
    data: &[u8],
    name: &str,
) -> Option<SectionData> {
    let s = file.section_by_name(name)?;
    if s.kind() == object::SectionKind::UninitializedData {
        return None;
    }
    let r = s.compressed_file_range().ok()?;
    let start = usize::try_from(r.offset).ok()?;
    let len = usize::try_from(r.compressed_size).ok()?;
    let end = start.checked_add(len)?;
    let raw = data.get(start..end)?;
    match r.format {
        object::CompressionFormat::None => Some(SectionData::Range(start..end)),
        object::CompressionFormat::Zlib => {
            // zlib expands at most ~1032:1.
            if r.uncompressed_size > MAX_SECTION
                || r.uncompressed_size > r.compressed_size.saturating_mul(1032)
            {
                return None;
            }
            // Straight into the vector's spare capacity: no zero-fill of the
            // output first (`Read::read_to_end` clears what it hands the decoder).
            let want = r.uncompressed_size as usize;
            let mut out = Vec::with_capacity(want);
            let mut z = flate2::Decompress::new(true);
            loop {
                let before = (z.total_in(), out.len());
                let input = raw.get(z.total_in() as usize..)?;
                let st = z
                    .decompress_vec(input, &mut out, flate2::FlushDecompress::Finish)
                    .ok()?;
                if st == flate2::Status::StreamEnd || out.len() >= want {
                    break;
                }
                if (z.total_in(), out.len()) == before {
                    return None; // truncated stream: no progress
                }
            }
            out.truncate(want);
            Some(SectionData::Owned(out))
        }
        object::CompressionFormat::Zstandard => {
            use std::io::Read;
            if r.uncompressed_size > MAX_SECTION {
                return None;
            }
            let mut out = Vec::with_capacity((r.uncompressed_size as usize).min(len * 64));
            zstd::stream::read::Decoder::new(raw)
                .ok()?
                .take(r.uncompressed_size)
                .read_to_end(&mut out)
                .ok()?;
            Some(SectionData::Owned(out))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_id_note() {
        let mut n = Vec::new();
        n.extend_from_slice(&4u32.to_le_bytes());
        n.extend_from_slice(&3u32.to_le_bytes());
        n.extend_from_slice(&3u32.to_le_bytes());
        n.extend_from_slice(b"GNU\0");
        n.extend_from_slice(&[0xab, 0xcd, 0xef, 0]);
        assert_eq!(
            find_build_id(&n, Endian::Little),
            Some(vec![0xab, 0xcd, 0xef])
        );
        assert_eq!(hex(&[0xab, 0x01]), "ab01");
        // Truncated descriptor: nothing, no panic.
        assert_eq!(find_build_id(&n[..18], Endian::Little), None);
        assert_eq!(find_build_id(&[], Endian::Little), None);
    }

    #[test]
    fn header_of_this_test_binary() {
        let exe = std::env::current_exe().unwrap();
        let bytes = std::fs::read(exe).unwrap();
        let h = parse_header(&bytes[..4096.min(bytes.len())]).unwrap();
        assert!(!h.loads.is_empty());
        assert!(parse_header(b"not an elf file at all, no, not at all, nothing here").is_none());
    }
}
