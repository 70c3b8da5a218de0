//! Bounds-checked, endian-aware reads from a byte slice. Every read returns `None`
//! instead of panicking when it would leave the slice.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Endian {
    Little,
    Big,
}

/// A view of bytes with a byte order.
#[derive(Clone, Copy, Debug)]
pub struct Bytes<'a> {
    pub data: &'a [u8],
    pub endian: Endian,
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8], endian: Endian) -> Self {
        Bytes { data, endian }
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn get(&self, off: usize, len: usize) -> Option<&'a [u8]> {
        let end = off.checked_add(len)?;
        self.data.get(off..end)
    }

    pub fn u8(&self, off: usize) -> Option<u8> {
        self.data.get(off).copied()
    }

    pub fn u16(&self, off: usize) -> Option<u16> {
        let b: [u8; 2] = self.get(off, 2)?.try_into().ok()?;
        Some(match self.endian {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        })
    }

    pub fn u32(&self, off: usize) -> Option<u32> {
        let b: [u8; 4] = self.get(off, 4)?.try_into().ok()?;
        Some(match self.endian {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        })
    }

    pub fn i32(&self, off: usize) -> Option<i32> {
        self.u32(off).map(|v| v as i32)
    }

    pub fn u64(&self, off: usize) -> Option<u64> {
        let b: [u8; 8] = self.get(off, 8)?.try_into().ok()?;
        Some(match self.endian {
            Endian::Little => u64::from_le_bytes(b),
            Endian::Big => u64::from_be_bytes(b),
        })
    }

    /// A 4- or 8-byte unsigned word.
    pub fn word(&self, off: usize, size: usize) -> Option<u64> {
        match size {
            8 => self.u64(off),
            4 => self.u32(off).map(u64::from),
            2 => self.u16(off).map(u64::from),
            1 => self.u8(off).map(u64::from),
            _ => None,
        }
    }

    /// A NUL-terminated string inside `[off, off+max)`, lossily decoded.
    pub fn cstr(&self, off: usize, max: usize) -> Option<String> {
        let end = off.saturating_add(max).min(self.data.len());
        let s = self.data.get(off..end)?;
        let n = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        Some(String::from_utf8_lossy(&s[..n]).into_owned())
    }
}

/// Read a native word of `size` bytes from the start of `b`.
pub fn word_from(b: &[u8], endian: Endian, size: usize) -> Option<u64> {
    Bytes::new(b, endian).word(0, size)
}
