//! What a file is, from its first bytes: an ELF core or other ELF file, a compressed
//! stream, an apport report, a tar archive, or something to skip. Also the GNU
//! build-id of an ELF file from the first bytes of it (its notes).

use std::io::{self, Read};

use crate::input::Compression;

/// Bytes read from the start of every file to classify it.
pub const HEAD: usize = 4096;
/// Bytes read from the start of an ELF file that is not a core, to find its build-id
/// note (program headers and notes sit in the first pages of every linker output).
pub const ELF_HEAD: usize = 64 * 1024;
/// Bytes expanded from the start of a compressed file to classify what it holds.
pub const INNER_HEAD: usize = 512;
/// Compressed bytes read at most to expand [`INNER_HEAD`] bytes (lz4 blocks are up
/// to 4 MiB; zstd, xz and gzip produce output long before that).
pub const INNER_READ_MAX: u64 = 4 << 20 | 64 << 10;

/// What the first bytes say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Empty,
    Core,
    /// An ELF file that is not a core (executable, shared object, object file).
    Elf {
        e_type: u16,
    },
    /// Starts with the ELF magic but the header is cut short or invalid.
    BadElf(String),
    Compressed(Compression),
    Apport,
    Tar,
    Text,
    Binary,
}

pub fn classify(head: &[u8]) -> Kind {
    if head.is_empty() {
        return Kind::Empty;
    }
    if head.starts_with(b"\x7fELF") {
        return elf_kind(head);
    }
    if let Some(c) = Compression::sniff(head) {
        return Kind::Compressed(c);
    }
    if head.starts_with(b"ProblemType:") {
        return Kind::Apport;
    }
    if is_tar(head) {
        return Kind::Tar;
    }
    if looks_text(head) {
        Kind::Text
    } else {
        Kind::Binary
    }
}

fn elf_kind(head: &[u8]) -> Kind {
    if head.len() < 20 {
        return Kind::BadElf(format!("ELF header cut short ({} bytes)", head.len()));
    }
    let e_type = match head[5] {
        1 => u16::from_le_bytes([head[16], head[17]]),
        2 => u16::from_be_bytes([head[16], head[17]]),
        d => return Kind::BadElf(format!("ELF header with invalid data encoding {d}")),
    };
    if !matches!(head[4], 1 | 2) {
        return Kind::BadElf(format!("ELF header with invalid class {}", head[4]));
    }
    if e_type == 4 {
        Kind::Core
    } else {
        Kind::Elf { e_type }
    }
}

/// POSIX ustar or GNU tar header: "ustar" at offset 257 and a valid header checksum.
pub fn is_tar(head: &[u8]) -> bool {
    if head.len() < 512 || &head[257..262] != b"ustar" {
        return false;
    }
    let field = &head[148..156];
    let stored = std::str::from_utf8(field)
        .ok()
        .map(|s| s.trim_matches(|c: char| c == '\0' || c == ' '))
        .and_then(|s| u32::from_str_radix(s, 8).ok());
    let sum: u32 = head[..512]
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u32
            }
        })
        .sum();
    stored == Some(sum)
}

fn looks_text(head: &[u8]) -> bool {
    let bad = head
        .iter()
        .filter(|&&b| b == 0 || (b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c | 0x1b)))
        .count();
    bad == 0 && (std::str::from_utf8(head).is_ok() || valid_utf8_prefix(head))
}

/// UTF-8 that may be cut in the middle of the last character.
fn valid_utf8_prefix(b: &[u8]) -> bool {
    match std::str::from_utf8(b) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && e.valid_up_to() + 4 > b.len(),
    }
}

/// Why a non-core is skipped, in words.
pub fn skip_reason(kind: &Kind, size: u64) -> String {
    match kind {
        Kind::Empty => "empty file".into(),
        Kind::Elf { e_type } => format!("ELF {} (not a core)", elf_type_name(*e_type)),
        Kind::BadElf(why) => why.clone(),
        Kind::Text => "text file (not a core)".into(),
        Kind::Binary => format!(
            "unrecognised data ({size} bytes; not an ELF core, compressed core, apport report or tar archive)"
        ),
        Kind::Core => "ELF core".into(),
        Kind::Compressed(c) => format!("{}-compressed data", c.name()),
        Kind::Apport => "apport report".into(),
        Kind::Tar => "tar archive".into(),
    }
}

pub fn elf_type_name(e_type: u16) -> String {
    match e_type {
        0 => "file of type NONE".into(),
        1 => "relocatable object".into(),
        2 => "executable".into(),
        3 => "shared object or PIE executable".into(),
        t => format!("file of type {t:#x}"),
    }
}

/// A reader that counts the bytes it delivered and refuses to read past a cap.
pub struct Counted<R> {
    pub inner: R,
    pub count: u64,
    pub cap: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = self.cap.saturating_sub(self.count);
        if room == 0 {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(room) as usize;
        let k = self.inner.read(&mut buf[..n])?;
        self.count += k as u64;
        Ok(k)
    }
}

/// Fill `buf` as far as the reader goes; returns how many bytes were read.
pub fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The first [`INNER_HEAD`] bytes of a compressed stream, reading at most
/// [`INNER_READ_MAX`] compressed bytes. Returns the expanded head and the compressed
/// bytes consumed. A stream that ends early gives a short head, not an error; an
/// error is corrupt data.
pub fn peek_compressed(c: Compression, r: &mut dyn Read) -> io::Result<(Vec<u8>, u64)> {
    let mut counted = Counted {
        inner: r,
        count: 0,
        cap: INNER_READ_MAX,
    };
    let mut head = vec![0u8; INNER_HEAD];
    let n = {
        let br = io::BufReader::with_capacity(16 << 10, &mut counted);
        let mut d = c.decoder(br)?;
        read_full(&mut *d, &mut head)?
    };
    head.truncate(n);
    Ok((head, counted.count))
}

/// The GNU build-id (hex) of an ELF file, from its first bytes: the program headers
/// and the `NT_GNU_BUILD_ID` note of a `PT_NOTE` segment must lie within `head`.
pub fn build_id(head: &[u8]) -> Option<String> {
    use object::read::elf::{FileHeader, ProgramHeader};
    fn find<E: FileHeader<Endian = object::Endianness>>(head: &[u8]) -> Option<String> {
        let h = E::parse(head).ok()?;
        let endian = h.endian().ok()?;
        for ph in h.program_headers(endian, head).ok()? {
            let Ok(Some(mut notes)) = ph.notes(endian, head) else {
                continue;
            };
            while let Ok(Some(n)) = notes.next() {
                if n.name() == b"GNU" && n.n_type(endian) == object::elf::NT_GNU_BUILD_ID {
                    let d = n.desc();
                    if d.is_empty() {
                        return None;
                    }
                    return Some(d.iter().map(|b| format!("{b:02x}")).collect());
                }
            }
        }
        None
    }
    match head.get(4) {
        Some(1) => find::<object::elf::FileHeader32<object::Endianness>>(head),
        Some(2) => find::<object::elf::FileHeader64<object::Endianness>>(head),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_heads() {
        assert_eq!(classify(b""), Kind::Empty);
        assert_eq!(classify(b"hello\nworld\n"), Kind::Text);
        assert_eq!(classify(&[0u8, 1, 2, 3, 200]), Kind::Binary);
        assert_eq!(classify(b"ProblemType: Crash\n"), Kind::Apport);
        assert!(matches!(classify(b"\x7fELF\x02"), Kind::BadElf(_)));
        let mut core = vec![0u8; 64];
        core[..4].copy_from_slice(b"\x7fELF");
        core[4] = 2;
        core[5] = 1;
        core[16] = 4;
        assert_eq!(classify(&core), Kind::Core);
        core[16] = 3;
        assert_eq!(classify(&core), Kind::Elf { e_type: 3 });
        assert_eq!(
            classify(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Kind::Compressed(Compression::Zstd)
        );
    }

    #[test]
    fn tar_header_needs_a_valid_checksum() {
        let mut h = tar::Header::new_ustar();
        h.set_path("a").unwrap();
        h.set_size(0);
        h.set_cksum();
        assert!(is_tar(h.as_bytes()));
        let mut bad = h.as_bytes().to_vec();
        bad[0] ^= 1;
        assert!(!is_tar(&bad));
    }
}
