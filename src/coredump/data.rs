//! The bytes of a core file, however they are reached: one memory mapping of the
//! whole file (the usual case: zero-copy, the kernel pages in what is touched), or,
//! when the whole file cannot be mapped (a core larger than the address-space
//! limit, `ulimit -v`), reads through bounded windows of the file.
//!
//! A read through windows copies the pages it needs into buffers that live as long
//! as the [`Windowed`] reader, so that it can hand out slices with the same
//! lifetime as a mapping's: headers, notes, stacks, the words of a mutex. Bulk
//! reads (the scans of whole mappings) do not go through these buffers: they read
//! a window at a time into one reused buffer
//! ([`crate::memory::AddressSpace::for_each_window`]), so memory stays bounded
//! whatever the core's size.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};

/// The bytes of a core file.
#[derive(Clone, Copy, Debug)]
pub enum Data<'d> {
    /// The whole file, mapped (or in memory).
    Mapped(&'d [u8]),
    /// The file, read through windows.
    Windowed(&'d Windowed),
}

impl<'d> Data<'d> {
    /// The file's length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Data::Mapped(d) => d.len(),
            Data::Windowed(w) => w.len,
        }
    }

    /// The file holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `len` bytes at file offset `start`, or `None` when they are not all in the
    /// file (or, through windows, cannot be read).
    pub fn get(&self, start: usize, len: usize) -> Option<&'d [u8]> {
        match self {
            Data::Mapped(d) => d.get(start..start.checked_add(len)?),
            Data::Windowed(w) => w.get(start, len),
        }
    }

    /// At most `len` bytes at `start`: as many as the file holds from there.
    pub fn get_clipped(&self, start: usize, len: usize) -> &'d [u8] {
        let len = len.min(self.len().saturating_sub(start));
        self.get(start, len).unwrap_or(&[])
    }

    /// The whole file, when it is mapped.
    pub fn mapped(&self) -> Option<&'d [u8]> {
        match self {
            Data::Mapped(d) => Some(d),
            Data::Windowed(_) => None,
        }
    }
}

/// Bytes a bulk read of a core read through windows handles at a time, by default
/// ([`crate::memory::AddressSpace::for_each_window`]).
pub const WINDOW: usize = 8 << 20;

/// Granule of the reads [`Windowed::get`] keeps: a read within one granule reads
/// (and keeps) the whole granule, so that neighbouring reads (a stack's words, a
/// structure's fields) cost one system call.
const GRANULE: usize = 16 << 10;

/// A core file read through windows (`pread`), for cores that cannot be mapped
/// whole. What [`Windowed::get`] reads is kept until the reader is dropped (it is
/// borrowed by the core model); [`Windowed::kept`] says how much that is.
pub struct Windowed {
    file: File,
    len: usize,
    /// Granules read, by index.
    granules: elsa::sync::FrozenMap<usize, Box<[u8]>>,
    /// Reads that cross a granule boundary, by (offset, length).
    spans: elsa::sync::FrozenMap<(usize, usize), Box<[u8]>>,
    kept: AtomicU64,
    /// Bytes a bulk read handles at a time.
    window: usize,
}

impl std::fmt::Debug for Windowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Windowed")
            .field("len", &self.len)
            .field("kept", &self.kept())
            .finish()
    }
}

impl Windowed {
    /// Read `file` (of `len` bytes, as seen when it was opened) through windows.
    pub fn new(file: File, len: u64) -> io::Result<Windowed> {
        let len = usize::try_from(len).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the file is larger than this machine's address space",
            )
        })?;
        Ok(Windowed {
            file,
            len,
            granules: elsa::sync::FrozenMap::new(),
            spans: elsa::sync::FrozenMap::new(),
            kept: AtomicU64::new(0),
            window: WINDOW,
        })
    }

    /// Bulk reads ([`crate::memory::AddressSpace::for_each_window`]) handle `bytes`
    /// at a time (at least one; [`WINDOW`] by default).
    pub fn with_window(mut self, bytes: usize) -> Windowed {
        self.window = bytes.max(1);
        self
    }

    /// Bytes a bulk read handles at a time.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Bytes kept for the reads handed out so far.
    pub fn kept(&self) -> u64 {
        self.kept.load(Ordering::Relaxed)
    }

    fn get(&self, start: usize, len: usize) -> Option<&[u8]> {
        let end = start.checked_add(len)?;
        if end > self.len {
            return None;
        }
        if len == 0 {
            return Some(&[]);
        }
        let g = start / GRANULE;
        if (end - 1) / GRANULE == g {
            let at = start - g * GRANULE;
            let b = match self.granules.get(&g) {
                Some(b) => b,
                None => {
                    let from = g * GRANULE;
                    let n = GRANULE.min(self.len - from);
                    let mut buf = Vec::new();
                    if !self.read_into(from, n, &mut buf) {
                        return None;
                    }
                    self.kept.fetch_add(n as u64, Ordering::Relaxed);
                    self.granules.insert(g, buf.into_boxed_slice())
                }
            };
            return b.get(at..at + len);
        }
        if let Some(b) = self.spans.get(&(start, len)) {
            return Some(b);
        }
        let mut buf = Vec::new();
        if !self.read_into(start, len, &mut buf) {
            return None;
        }
        self.kept.fetch_add(len as u64, Ordering::Relaxed);
        Some(self.spans.insert((start, len), buf.into_boxed_slice()))
    }

    /// `pread` `len` bytes at `start` into `buf` (replacing its contents), for bulk
    /// reads that must not keep what they read; `false` if the file ends first or
    /// cannot be read.
    pub fn read_into(&self, start: usize, len: usize, buf: &mut Vec<u8>) -> bool {
        if start.checked_add(len).is_none_or(|e| e > self.len) {
            buf.clear();
            return false;
        }
        // Only bytes not there before are zeroed: a reused buffer costs no fill.
        buf.resize(len, 0);
        let n = read_full_at(&self.file, buf, start as u64).unwrap_or(0);
        buf.truncate(n);
        n == len
    }
}

/// Fill `buf` from `offset` of `file` by `pread` (the file position does not move),
/// again when interrupted: the number of bytes read, fewer than `buf.len()` only
/// where the file ends.
pub(crate) fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_file(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().expect("temp file");
        f.write_all(bytes).expect("write");
        f
    }

    #[test]
    fn windowed_reads_equal_mapped_reads() {
        let bytes: Vec<u8> = (0..(3 * GRANULE + 123))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let w = Windowed::new(temp_file(&bytes), bytes.len() as u64).expect("windowed");
        let (m, d) = (Data::Mapped(&bytes), Data::Windowed(&w));
        assert_eq!(d.len(), bytes.len());
        let edges = [0, 1, GRANULE - 8, GRANULE - 1, GRANULE, 2 * GRANULE + 5];
        for &s in &edges {
            for len in [0, 1, 8, 16, GRANULE, 2 * GRANULE + 1] {
                assert_eq!(d.get(s, len), m.get(s, len), "get({s}, {len})");
            }
        }
        // Past the end, and the clipped read at the end.
        assert_eq!(d.get(bytes.len() - 4, 8), None);
        assert_eq!(d.get_clipped(bytes.len() - 4, 8), &bytes[bytes.len() - 4..]);
        assert_eq!(d.get(usize::MAX, 2), None);
        // The same read twice is kept once.
        let kept = w.kept();
        assert_eq!(d.get(GRANULE - 8, 16), m.get(GRANULE - 8, 16));
        assert_eq!(w.kept(), kept);
        let mut buf = Vec::new();
        assert!(w.read_into(5, 1000, &mut buf));
        assert_eq!(&buf[..], &bytes[5..1005]);
        assert!(!w.read_into(bytes.len() - 1, 2, &mut buf));
    }

    #[test]
    fn a_file_that_shrinks_reads_as_missing() {
        let bytes = vec![1u8; 2 * GRANULE];
        let f = temp_file(&bytes);
        let w = Windowed::new(f.try_clone().expect("clone"), bytes.len() as u64).expect("w");
        f.set_len(GRANULE as u64).expect("truncate");
        let d = Data::Windowed(&w);
        assert_eq!(d.get(0, 4), Some(&[1u8; 4][..]));
        assert_eq!(d.get(GRANULE + 4, 4), None);
    }
}
