//! Opening an input: memory-map a core, or expand a compressed one (zstd, xz, lz4,
//! gzip) into one unlinked temporary file and map that. There is never a second copy
//! of the core in memory: the bytes live in the page cache behind one mapping.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::{Error, Result};

/// Compression formats recognised by their magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Zstandard (`.zst`).
    Zstd,
    /// xz / LZMA2 (`.xz`).
    Xz,
    /// LZ4 frame (`.lz4`).
    Lz4,
    /// gzip (`.gz`).
    Gzip,
}

impl Compression {
    /// A decoder of a stream compressed this way (large zstd windows accepted, as
    /// systemd-coredump may use them; every member of a multi-member xz or gzip).
    pub fn decoder<'a, R: io::BufRead + 'a>(self, r: R) -> io::Result<Box<dyn io::Read + 'a>> {
        Ok(match self {
            Compression::Zstd => {
                let mut d = zstd::stream::read::Decoder::with_buffer(r)?;
                d.window_log_max(31)?;
                Box::new(d)
            }
            Compression::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(r)),
            Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(r)),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        })
    }

    /// The lower-case name (`zstd`, `xz`, `lz4`, `gzip`).
    pub fn name(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Lz4 => "lz4",
            Compression::Gzip => "gzip",
        }
    }

    /// Recognise a compressed stream by its first bytes.
    pub fn sniff(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Some(Compression::Xz)
        } else if head.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
            Some(Compression::Lz4)
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else {
            None
        }
    }
}

/// How to open inputs.
#[derive(Clone, Debug, Default)]
pub struct InputOptions {
    /// Refuse a compressed core that expands past this many bytes. `None` means the
    /// default: the lesser of 64 GiB and the free space where it expands.
    pub max_core_size: Option<u64>,
    /// Where compressed cores are expanded (default: the system temporary folder).
    pub temp_dir: Option<PathBuf>,
    /// Read the core through bounded windows of the file instead of mapping it
    /// whole. Chosen on its own when the whole core cannot be mapped (a core larger
    /// than the address-space limit, `ulimit -v`, or a file system without `mmap`).
    pub windowed: bool,
    /// When read through windows, the bytes a scan reads at a time (default 8 MiB).
    pub window: Option<usize>,
}

/// The default ceiling for expanded cores.
pub const DEFAULT_MAX_CORE_SIZE: u64 = 64 << 30;

/// An opened input: the bytes of the (possibly expanded) core.
pub struct Input {
    path: PathBuf,
    /// Explains a SIGBUS in the mapping of `bytes` (plain files only); dropped
    /// before it.
    _guard: Option<crate::guard::Registration>,
    bytes: Source,
    compression: Option<Compression>,
    compressed_size: u64,
    /// The (expanded) file itself: small reads by `pread` ([`Input::file`]) and the
    /// holes, found when first asked for ([`Input::data_extents`]).
    file: File,
    /// Where the file holds data, when it has holes (see [`data_extents`]): found on
    /// first use, as only the scans of memory need it (`threads` and `maps` never
    /// ask, and skip the ~2 `lseek`s per extent).
    extents: std::sync::OnceLock<Option<Extents>>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("path", &self.path)
            .field("len", &self.data().len())
            .field("compression", &self.compression)
            .finish()
    }
}

/// Byte ranges `[start, end)` of a file that hold data ([`Input::data_extents`]).
type Extents = std::sync::Arc<[(u64, u64)]>;

/// How an input's bytes are reached.
enum Source {
    /// The whole file, mapped.
    Mapped(Mmap),
    /// The file read through windows, and why it is not mapped.
    Windowed(crate::coredump::Windowed, String),
}

/// The core path that means standard input (`mutexdiag -`).
pub const STDIN_PATH: &str = "-";
/// How standard input is named in messages.
pub const STDIN_NAME: &str = "standard input";

impl Input {
    /// Open `path`, memory-map it and, if it is compressed, expand it into an unlinked
    /// temporary file (removed by the kernel on every exit path) and map that.
    ///
    /// The path `-` ([`STDIN_PATH`]) reads the core from standard input: a
    /// redirected file is mapped as it is; a pipe is spooled (expanded when
    /// compressed) into an unlinked temporary file in [`InputOptions::temp_dir`],
    /// bounded like an expansion.
    pub fn open(path: &Path, opts: &InputOptions) -> Result<Input> {
        if path.as_os_str() == STDIN_PATH {
            return open_stdin(opts);
        }
        // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below).
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|source| Error::Open {
                path: path.to_owned(),
                source,
            })?;
        from_file(path, file, opts)
    }

    /// The path the input was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The core's bytes (after expansion) when it is mapped whole; `None` when it is
    /// read through windows ([`Input::data`] reads it either way).
    pub fn mapped(&self) -> Option<&[u8]> {
        match &self.bytes {
            Source::Mapped(m) => Some(m),
            Source::Windowed(..) => None,
        }
    }

    /// The core's bytes (after expansion), mapped whole or read through windows.
    pub fn data(&self) -> crate::coredump::Data<'_> {
        match &self.bytes {
            Source::Mapped(m) => crate::coredump::Data::Mapped(m),
            Source::Windowed(w, _) => crate::coredump::Data::Windowed(w),
        }
    }

    /// Why the core is read through windows rather than mapped whole, when it is.
    pub fn windowed_reason(&self) -> Option<&str> {
        match &self.bytes {
            Source::Mapped(_) => None,
            Source::Windowed(_, why) => Some(why),
        }
    }

    /// How the file was compressed, when it was expanded.
    pub fn compression(&self) -> Option<Compression> {
        self.compression
    }

    /// Size of the file as stored (compressed size when compressed).
    pub fn stored_size(&self) -> u64 {
        self.compressed_size
    }

    /// The byte ranges `[start, end)` of the (expanded) file that hold data, in
    /// order, when the file is sparse; `None` when it has no holes or the file
    /// system cannot tell. Bytes outside them read as zeros.
    pub fn data_extents(&self) -> Option<&std::sync::Arc<[(u64, u64)]>> {
        self.extents
            .get_or_init(|| data_extents(&self.file, self.data().len() as u64))
            .as_ref()
    }

    /// The (expanded) core file, open for reading: for small reads by `pread`
    /// (`pread` never moves the file position). Its first `data().len()` bytes are
    /// the core's.
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// A second descriptor of `file` (for its holes and small reads) before it is
/// handed to the mapping or the windowed reader.
fn keep(path: &Path, file: &File) -> Result<File> {
    file.try_clone().map_err(|source| Error::Open {
        path: path.to_owned(),
        source,
    })
}

/// At most this many data extents are kept; a file more fragmented is treated as
/// having no holes (it is read whole, as before).
const MAX_EXTENTS: usize = 1 << 20;

/// The data extents of a sparse file, found with `lseek(SEEK_DATA)` and
/// `lseek(SEEK_HOLE)` (Linux, the BSDs, Solaris): holes of a core are the pages the
/// kernel did not write (never touched, so zeros), and need not be read. `None` when
/// the file has no hole within `len`, the file system does not report holes, or
/// anything fails (then every byte is read, as for a dense file).
pub(crate) fn data_extents(file: &File, len: u64) -> Option<std::sync::Arc<[(u64, u64)]>> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    let seek = |off: u64, whence: libc::c_int| -> Option<u64> {
        let off = libc::off_t::try_from(off).ok()?;
        // SAFETY: lseek on a descriptor we own; SEEK_DATA/SEEK_HOLE only move the
        // file position, which nothing else uses (reads go through the mapping or
        // pread).
        let r = unsafe { libc::lseek(fd, off, whence) };
        u64::try_from(r).ok()
    };
    let mut out = Vec::new();
    let mut off = 0u64;
    while off < len {
        // No data after `off` (ENXIO): the rest is a hole.
        let Some(start) = seek(off, libc::SEEK_DATA) else {
            let enxio = io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO);
            if !enxio {
                return None;
            }
            break;
        };
        if start >= len {
            break;
        }
        let end = seek(start, libc::SEEK_HOLE)?.min(len);
        if end <= start || out.len() >= MAX_EXTENTS {
            return None;
        }
        out.push((start, end));
        off = end;
    }
    // Put the position back where the decoders and the head's `pread` expect nothing of it.
    seek(0, libc::SEEK_SET)?;
    if out.len() == 1 && out[0] == (0, len) {
        return None;
    }
    Some(out.into())
}

/// An open regular file (a path's, or standard input redirected from a file).
fn from_file(path: &Path, file: File, opts: &InputOptions) -> Result<Input> {
    let meta = file.metadata().map_err(|source| Error::Open {
        path: path.to_owned(),
        source,
    })?;
    if meta.is_dir() {
        return Err(Error::Open {
            path: path.to_owned(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "is a directory"),
        });
    }
    if !meta.is_file() {
        return Err(Error::Open {
            path: path.to_owned(),
            source: io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file (a FIFO, socket or device)",
            ),
        });
    }
    let len = meta.len();
    if len == 0 {
        return Err(Error::Empty {
            path: path.to_owned(),
        });
    }
    let mut head = [0u8; 8];
    // By `pread`: the file position stays where the decoders expect it (offset 0).
    let n =
        crate::coredump::data::read_full_at(&file, &mut head, 0).map_err(|source| Error::Open {
            path: path.to_owned(),
            source,
        })?;
    match Compression::sniff(&head[..n]) {
        None => {
            let kept = keep(path, &file)?;
            let bytes = open_bytes(path, file, len, opts)?;
            let guard = match &bytes {
                Source::Mapped(m) => Some(crate::guard::register(path, m.as_ptr(), m.len())),
                Source::Windowed(..) => None,
            };
            Ok(Input {
                path: path.to_owned(),
                _guard: guard,
                bytes,
                compression: None,
                compressed_size: len,
                file: kept,
                extents: std::sync::OnceLock::new(),
            })
        }
        Some(c) => match MappedReader::new(path, &file) {
            // The decoder reads the compressed bytes where the mapping has them:
            // `read` copied every one of them out of the page cache first (0.3 s
            // of system time for a 666 MB `.zst`).
            Ok(m) => expand(path, m, Some(c), len, opts),
            // No room to map it (an address-space limit): read it.
            Err(_) => {
                let reader = io::BufReader::with_capacity(1 << 20, file);
                expand(path, reader, Some(c), len, opts)
            }
        },
    }
}

/// A compressed file read through a mapping, handed out `MAPPED_STEP` bytes at a
/// time; the pages read are given back (`MADV_DONTNEED`) every `MAPPED_STEP`, so
/// that the compressed file never counts whole in the resident memory. The mapping
/// is registered with [`crate::guard`] while it lives: a file truncated during its
/// expansion is told as a plain core's is.
struct MappedReader {
    // (Declared first, dropped first: unregistered before the mapping goes.)
    _guard: crate::guard::Registration,
    map: Mmap,
    pos: usize,
    /// Bytes before this offset were given back.
    released: usize,
}

const MAPPED_STEP: usize = 8 << 20;

impl MappedReader {
    fn new(path: &Path, file: &File) -> io::Result<MappedReader> {
        // SAFETY: read-only mapping of a file opened read-only; a concurrent
        // truncation raises SIGBUS on the lost pages, explained by `guard`.
        let map = unsafe { Mmap::map(file)? };
        let _ = map.advise(memmap2::Advice::Sequential);
        Ok(MappedReader {
            _guard: crate::guard::register(path, map.as_ptr(), map.len()),
            map,
            pos: 0,
            released: 0,
        })
    }
}

impl io::Read for MappedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let avail = io::BufRead::fill_buf(self)?;
            let n = avail.len().min(buf.len());
            buf[..n].copy_from_slice(&avail[..n]);
            n
        };
        io::BufRead::consume(self, n);
        Ok(n)
    }
}

impl io::BufRead for MappedReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let end = self.pos.saturating_add(MAPPED_STEP).min(self.map.len());
        Ok(self.map.get(self.pos..end).unwrap_or(&[]))
    }

    fn consume(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.map.len());
        let page = crate::memory::page_size();
        let upto = self.pos / page * page;
        if upto >= self.released + MAPPED_STEP {
            // SAFETY: a read-only shared mapping of a file: MADV_DONTNEED only
            // drops this process's page tables for bytes already read; a later
            // read (none is made) would see the file's bytes again.
            let _ = unsafe {
                self.map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    self.released,
                    upto - self.released,
                )
            };
            self.released = upto;
        }
    }
}

/// Standard input: a redirected regular file is used in place; a pipe (or any
/// other stream) is spooled into an unlinked temporary file, expanded on the way
/// when its first bytes are a compression magic.
fn open_stdin(opts: &InputOptions) -> Result<Input> {
    use std::io::IsTerminal;
    use std::os::fd::{AsFd, OwnedFd};
    let name = Path::new(STDIN_NAME);
    let open_err = |source| Error::Open {
        path: name.to_owned(),
        source,
    };
    let stdin = io::stdin();
    if stdin.is_terminal() {
        return Err(open_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a terminal: pipe a core into it (e.g. `coredumpctl dump PID | mutexdiag -`)",
        )));
    }
    let fd: OwnedFd = stdin.as_fd().try_clone_to_owned().map_err(open_err)?;
    let file = File::from(fd);
    let meta = file.metadata().map_err(open_err)?;
    if meta.is_file() && meta.len() > 0 {
        return from_file(name, file, opts);
    }
    if meta.is_dir() {
        return Err(open_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a directory",
        )));
    }
    from_reader(name, file, opts)
}

/// A core from a stream (a pipe, another program's output): spooled into an
/// unlinked temporary file in [`InputOptions::temp_dir`], expanded on the way when
/// its first bytes are a compression magic, bounded like an expansion. `name`
/// names it in messages.
pub fn from_reader<R: io::Read>(name: &Path, reader: R, opts: &InputOptions) -> Result<Input> {
    use std::io::Read;
    let mut reader = Counting {
        inner: reader,
        count: 0,
    };
    let mut head = [0u8; 8];
    let mut n = 0;
    while n < head.len() {
        match reader.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(Error::Read {
                    path: name.to_owned(),
                    source,
                });
            }
        }
    }
    if n == 0 {
        return Err(Error::Empty {
            path: name.to_owned(),
        });
    }
    let c = Compression::sniff(&head[..n]);
    let chained = io::BufReader::with_capacity(1 << 20, (&head[..n]).chain(&mut reader));
    let mut input = expand(name, chained, c, 0, opts)?;
    input.compressed_size = reader.count;
    Ok(input)
}

/// A reader that counts the bytes read through it.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: io::Read> io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Open a file read-only without ever blocking (`O_NONBLOCK`: a FIFO does not wait
/// for a writer) and only if it is a regular file. For every file whose name comes
/// from input (cores name their libraries; a hostile core can name a FIFO or a
/// device).
pub fn open_regular(path: &Path) -> io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, socket or device)",
        ));
    }
    Ok(file)
}

/// The bytes of an opened core of `len` bytes: mapped whole, or, when that is
/// asked for or cannot be done, read through windows (with the reason).
fn open_bytes(path: &Path, file: File, len: u64, opts: &InputOptions) -> Result<Source> {
    let reason = if opts.windowed {
        "asked for".to_string()
    } else {
        match map_file(&file) {
            Ok(map) => return Ok(Source::Mapped(map)),
            Err(e) => format!(
                "the {len}-byte file cannot be mapped whole ({e}; the address-space limit, `ulimit -v`, may be below its size)"
            ),
        }
    };
    let mut w = crate::coredump::Windowed::new(file, len).map_err(|source| Error::Map {
        path: path.to_owned(),
        source,
    })?;
    if let Some(n) = opts.window {
        w = w.with_window(n);
    }
    Ok(Source::Windowed(w, reason))
}

fn map_file(file: &File) -> io::Result<Mmap> {
    // SAFETY: the mapping is read-only (PROT_READ; memmap2 maps it MAP_SHARED, so nothing is ever written). If another
    // process truncates the file while it is mapped, touching the lost pages raises
    // SIGBUS; docs/reliability.md describes this risk and its mitigation (the reader
    // never trusts sizes beyond the length seen at open, and compressed inputs are
    // expanded into a private unlinked file nobody else can shrink).
    let map = unsafe { Mmap::map(file)? };
    #[cfg(unix)]
    {
        // Access is mostly random (headers, notes, a few pages of memory).
        let _ = map.advise(memmap2::Advice::Random);
    }
    Ok(map)
}

/// Free bytes in the file system holding `dir`.
pub(crate) fn free_space(dir: &Path) -> Option<u64> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out-pointer.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return None;
    }
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// Holes are made block by block: 64 KiB blocks of zeros (a thread stack's unused
/// pages, untouched heap) become holes, while scattered zero pages inside data stay
/// written, so that a dense core is not cut into many small extents. An expanded
/// core's unwritten pages (most of a big core) then cost neither disk nor the time
/// to write them, and the scan, which reads only data extents, skips them.
const HOLE_BLOCK: usize = 64 << 10;
const SPARSE_BUF: usize = 1 << 20;

fn is_zero(block: &[u8]) -> bool {
    // 64 bytes at a time, OR-folded (vectorised), leaving at the first non-zero.
    let mut chunks = block.chunks_exact(64);
    chunks
        .by_ref()
        .all(|c| c.iter().fold(0u8, |a, &b| a | b) == 0)
        && chunks.remainder().iter().all(|&b| b == 0)
}

/// The `charge` of [`expand_sparse`] that refuses more than `limit` bytes.
fn at_most(limit: u64) -> impl FnMut(u64) -> io::Result<()> {
    move |total| {
        if total > limit {
            Err(io::Error::other(LimitExceeded))
        } else {
            Ok(())
        }
    }
}

/// Reads `r` to its end into `file` from offset `start` through a [`SparseSink`]
/// (zero blocks as holes, writes on a second thread), the reader filling the sink's
/// buffers directly (no intermediate copy). Returns the bytes read.
pub(crate) fn expand_sparse<R: io::Read + ?Sized>(
    file: &File,
    start: u64,
    r: &mut R,
    charge: &mut dyn FnMut(u64) -> io::Result<()>,
) -> io::Result<u64> {
    sparse_sink(file, start, charge, |sink| sink.fill_from(r)).map(|(n, _)| n)
}

/// Runs `body` with a [`SparseSink`] writing into `file` from offset `start`, then
/// writes what it left buffered and waits for the writing thread. `charge` is told
/// the running total before each buffer is written; its error (a size limit, a
/// budget) stops the expansion as a reading error would. A failed write comes back
/// as a [`SpoolWrite`] (also to `body`, from the sink's next `write`). The file's
/// length is the caller's to set (a trailing hole is not written). Returns `body`'s
/// value and the bytes the sink took.
pub(crate) fn sparse_sink<T>(
    file: &File,
    start: u64,
    charge: &mut dyn FnMut(u64) -> io::Result<()>,
    body: impl FnOnce(&mut SparseSink<'_>) -> io::Result<T>,
) -> io::Result<(T, u64)> {
    use std::sync::mpsc;
    let (res, written) = std::thread::scope(|s| {
        let (to_writer, full) = mpsc::sync_channel::<(Vec<u8>, usize, u64)>(IN_FLIGHT);
        let (to_reader, spare) = mpsc::channel::<Vec<u8>>();
        let writer = s.spawn(move || -> io::Result<()> {
            for (buf, filled, pos) in full {
                write_sparse(file, &buf[..filled], pos)?;
                // The reader may be gone (its own error); the buffer is then dropped.
                let _ = to_reader.send(buf);
            }
            Ok(())
        });
        let mut sink = SparseSink {
            to_writer,
            spare,
            buf: vec![0; SPARSE_BUF],
            filled: 0,
            pos: start,
            total: 0,
            buffers: 1,
            charge,
        };
        let res = body(&mut sink).and_then(|v| sink.send().map(|()| v));
        let total = sink.total;
        drop(sink);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the writing thread panicked")));
        (res.map(|v| (v, total)), written)
    });
    // A write error first: it is why the sink stopped taking buffers.
    written.map_err(|e| io::Error::other(SpoolWrite(e)))?;
    res
}

/// The reading side of [`sparse_sink`]: fills `SPARSE_BUF`-byte buffers (by
/// `write`, or straight from a reader by [`SparseSink::fill_from`]) and hands each
/// full one to the writing thread, which tests it for zero blocks and writes it, so
/// that an expansion costs about the decoder's own time when a second CPU is free
/// (the writes of a dense core are the kernel copying every byte into the page
/// cache: 0.8 s of system time for 1.2 GB, on the decoder's thread before).
pub(crate) struct SparseSink<'c> {
    to_writer: std::sync::mpsc::SyncSender<(Vec<u8>, usize, u64)>,
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    filled: usize,
    /// File offset of `buf[0]`.
    pos: u64,
    /// Bytes taken so far (charged or about to be).
    total: u64,
    buffers: usize,
    charge: &'c mut dyn FnMut(u64) -> io::Result<()>,
}

impl SparseSink<'_> {
    /// Hands the buffered bytes to the writing thread and takes a spare buffer.
    fn send(&mut self) -> io::Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        (self.charge)(self.total)?;
        let next = match self.spare.try_recv() {
            Ok(b) => Some(b),
            Err(_) if self.buffers <= IN_FLIGHT => {
                self.buffers += 1;
                Some(vec![0; SPARSE_BUF])
            }
            Err(_) => None,
        };
        let full = std::mem::take(&mut self.buf);
        if self.to_writer.send((full, self.filled, self.pos)).is_err() {
            return self.stop();
        }
        self.pos += self.filled as u64;
        self.filled = 0;
        self.buf = match next {
            Some(b) => b,
            None => match self.spare.recv() {
                Ok(b) => b,
                Err(_) => return self.stop(),
            },
        };
        Ok(())
    }

    /// The writing thread stopped: its own error is what `sparse_sink` tells. The
    /// sink takes nothing more (no buffer is left).
    fn stop(&mut self) -> io::Result<()> {
        self.buf = Vec::new();
        self.filled = 0;
        Err(io::Error::other("the writing thread stopped"))
    }

    /// Room in the buffer, sending it first when full; an error once stopped.
    fn room(&mut self) -> io::Result<()> {
        if self.buf.len() != SPARSE_BUF {
            return self.stop();
        }
        if self.filled == SPARSE_BUF {
            self.send()?;
        }
        Ok(())
    }

    /// Reads `r` to its end straight into the buffers; returns the bytes read.
    pub(crate) fn fill_from<R: io::Read + ?Sized>(&mut self, r: &mut R) -> io::Result<u64> {
        let mut n = 0u64;
        loop {
            self.room()?;
            match r.read(&mut self.buf[self.filled..]) {
                Ok(0) => return Ok(n),
                Ok(k) => {
                    self.filled += k;
                    self.total += k as u64;
                    n += k as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Write for SparseSink<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.room()?;
        let n = data.len().min(SPARSE_BUF - self.filled);
        self.buf[self.filled..self.filled + n].copy_from_slice(&data[..n]);
        self.filled += n;
        self.total += n as u64;
        Ok(n)
    }

    /// Buffers go to the writing thread when full, and the last at the end of
    /// [`sparse_sink`].
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Buffers queued for the writing thread while the reader fills another.
const IN_FLIGHT: usize = 3;

/// Writes `data` at `pos` in `file`, its `HOLE_BLOCK`s of zeros left as holes.
fn write_sparse(file: &File, data: &[u8], pos: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut at = 0;
    while at < data.len() {
        // A run of non-zero blocks, written at once.
        let start = at;
        while at < data.len() {
            let end = (at + HOLE_BLOCK).min(data.len());
            if is_zero(&data[at..end]) {
                break;
            }
            at = end;
        }
        if at > start {
            file.write_all_at(&data[start..at], pos + start as u64)?;
        }
        // Then a run of zero blocks, left as a hole.
        while at < data.len() {
            let end = (at + HOLE_BLOCK).min(data.len());
            if !is_zero(&data[at..end]) {
                break;
            }
            at = end;
        }
    }
    Ok(())
}

#[derive(Debug)]
struct LimitExceeded;
impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("expansion limit exceeded")
    }
}
impl std::error::Error for LimitExceeded {}

/// A write to the temporary file failed (a full or read-only folder), as opposed to
/// a read or decoding error of the input.
#[derive(Debug)]
struct SpoolWrite(io::Error);
impl std::fmt::Display for SpoolWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
impl std::error::Error for SpoolWrite {}

fn is_limit(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<LimitExceeded>())
}

/// The temporary file's own write error, if `e` is one.
fn spool_write_error(e: io::Error) -> std::result::Result<io::Error, io::Error> {
    if !e.get_ref().is_some_and(|inner| inner.is::<SpoolWrite>()) {
        return Err(e);
    }
    match e.into_inner().map(|b| b.downcast::<SpoolWrite>()) {
        Some(Ok(w)) => Ok(w.0),
        Some(Err(other)) => Err(io::Error::other(other)),
        None => Err(io::Error::other("write error")),
    }
}

/// Copy `reader` (expanding it when `c` is given) into an unlinked temporary file
/// in the temporary folder, at most the size limit, and map that.
fn expand<R: io::BufRead>(
    path: &Path,
    reader: R,
    c: Option<Compression>,
    len: u64,
    opts: &InputOptions,
) -> Result<Input> {
    let dir = opts.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
    let limit = opts.max_core_size.unwrap_or_else(|| {
        free_space(&dir).map_or(DEFAULT_MAX_CORE_SIZE, |f| f.min(DEFAULT_MAX_CORE_SIZE))
    });
    // An unlinked file (O_TMPFILE where the file system has it, else created and
    // unlinked at once): it disappears whatever way this process ends.
    let tmp = tempfile::tempfile_in(&dir).map_err(|source| Error::TempFile {
        path: path.to_owned(),
        dir: dir.clone(),
        source,
    })?;
    let mut reader = reader;
    let mut charge = at_most(limit);
    let res = match c {
        None => expand_sparse(&tmp, 0, &mut reader, &mut charge),
        Some(c) => c
            .decoder(reader)
            .and_then(|mut d| expand_sparse(&tmp, 0, &mut *d, &mut charge)),
    };
    // A trailing hole is not written: the file gets its length here.
    let res = res.and_then(|n| {
        tmp.set_len(n)
            .map(|()| n)
            .map_err(|e| io::Error::other(SpoolWrite(e)))
    });
    let written = res.map_err(|e| expansion_error(path, c, dir, limit, e))?;
    if written == 0 {
        return Err(Error::Empty {
            path: path.to_owned(),
        });
    }
    let kept = keep(path, &tmp)?;
    let bytes = open_bytes(path, tmp, written, opts)?;
    Ok(Input {
        path: path.to_owned(),
        _guard: None,
        bytes,
        compression: c,
        compressed_size: len,
        file: kept,
        extents: std::sync::OnceLock::new(),
    })
}

/// What went wrong expanding (or spooling, `c` being `None`) `path` into a file in
/// `dir`: the limit, a write to that file, or the input's reading or decoding.
fn expansion_error(
    path: &Path,
    c: Option<Compression>,
    dir: PathBuf,
    limit: u64,
    e: io::Error,
) -> Error {
    if is_limit(&e) {
        return match c {
            Some(c) => Error::TooLarge {
                path: path.to_owned(),
                format: c.name(),
                limit,
            },
            None => Error::SpoolTooLarge {
                path: path.to_owned(),
                dir,
                limit,
            },
        };
    }
    let e = match spool_write_error(e) {
        Ok(source) => {
            return Error::TempWrite {
                path: path.to_owned(),
                dir,
                source,
            };
        }
        Err(e) => e,
    };
    match c {
        Some(c) => Error::Decompress {
            path: path.to_owned(),
            format: c.name(),
            source: e,
        },
        None => Error::Read {
            path: path.to_owned(),
            source: e,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zero blocks of an expansion become holes; the bytes read back are the stream's.
    #[test]
    fn expansion_leaves_zero_blocks_as_holes() {
        use std::os::unix::fs::MetadataExt;
        let mut data = vec![0u8; 3 << 20];
        data[(1 << 20) + 100] = 7; // one data block amid zeros
        data[(2 << 20) - 1] = 9; // the last byte of a block, not its first
        data.extend_from_slice(&[0u8; 1000]); // a trailing partial zero block
        let z = zstd::encode_all(&data[..], 3).expect("compress");
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = InputOptions {
            temp_dir: Some(dir.path().to_owned()),
            ..Default::default()
        };
        let input = expand(
            Path::new("t.zst"),
            io::BufReader::new(&z[..]),
            Some(Compression::Zstd),
            z.len() as u64,
            &opts,
        )
        .expect("expand");
        assert_eq!(input.mapped(), Some(&data[..]), "same bytes");
        // Does this file system keep holes at all?
        let probe = dir.path().join("probe");
        let f = File::create(&probe).expect("probe");
        f.set_len(1 << 20).expect("set_len");
        if f.metadata().expect("stat").blocks() != 0 {
            eprintln!("SKIPPED hole check: the temp file system does not keep holes");
            return;
        }
        let ext = input.data_extents().expect("the expanded core has holes");
        let data_bytes: u64 = ext.iter().map(|(a, b)| b - a).sum();
        assert!(
            data_bytes <= 4 * 65536,
            "only the two data blocks are data: {ext:?}"
        );
    }

    /// An empty file opened read-only (every write to it fails), in a folder that
    /// lives as long as the returned guard.
    fn read_only_file() -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ro");
        std::fs::write(&path, b"").expect("create");
        let ro = File::open(&path).expect("open read-only");
        (dir, ro)
    }

    /// A reader handing out `step` bytes at a time (odd sizes, so buffers fill
    /// across reads), failing after `fail_after` bytes when set.
    struct Stepping<'a> {
        data: &'a [u8],
        at: usize,
        step: usize,
        fail_after: Option<usize>,
    }
    impl io::Read for Stepping<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.fail_after.is_some_and(|f| self.at >= f) {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "bad frame"));
            }
            let n = self.step.min(buf.len()).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// Many buffers through the writing thread (more than are in flight), in odd
    /// read sizes, with zero blocks between: the file holds the stream's bytes, in
    /// order, and its length.
    #[test]
    fn pipelined_writes_keep_order_and_length() {
        let mut data: Vec<u8> = (0..(9 << 20) + 12345u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
            .collect();
        data[(3 << 20)..(5 << 20)].fill(0); // zero blocks inside
        let len = data.len();
        data[len - 70000..].fill(0); // a trailing hole
        let file = tempfile::tempfile().expect("tempfile");
        let mut r = Stepping {
            data: &data,
            at: 0,
            step: 65_537,
            fail_after: None,
        };
        let n = expand_sparse(&file, 0, &mut r, &mut at_most(u64::MAX)).expect("expand");
        assert_eq!(n, data.len() as u64);
        file.set_len(n).expect("length");
        let mut back = Vec::new();
        io::Read::read_to_end(&mut &file, &mut back).expect("read back");
        assert_eq!(
            back.len(),
            data.len(),
            "full length, trailing hole included"
        );
        assert!(back == data, "same bytes in the same order");
    }

    /// A reader's error is the reader's (not a write error), the limit is told as
    /// such, and a write that fails is a `SpoolWrite`: whichever side fails, the
    /// other stops and nothing hangs.
    #[test]
    fn pipelined_errors_are_told_apart() {
        let data = vec![1u8; 5 << 20];
        let file = tempfile::tempfile().expect("tempfile");
        let mut r = Stepping {
            data: &data,
            at: 0,
            step: 1 << 20,
            fail_after: Some(3 << 20),
        };
        let e =
            expand_sparse(&file, 0, &mut r, &mut at_most(u64::MAX)).expect_err("the reader fails");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(!is_limit(&e) && spool_write_error(e).is_err());

        let mut r = Stepping {
            data: &data,
            at: 0,
            step: 4096,
            fail_after: None,
        };
        let e = expand_sparse(&file, 0, &mut r, &mut at_most((2 << 20) + 1))
            .expect_err("over the limit");
        assert!(is_limit(&e));

        // A read-only descriptor: every write fails.
        let (_dir, ro) = read_only_file();
        let mut r = Stepping {
            data: &data,
            at: 0,
            step: 1 << 16,
            fail_after: None,
        };
        let e = expand_sparse(&ro, 0, &mut r, &mut at_most(u64::MAX)).expect_err("writes fail");
        assert!(spool_write_error(e).is_ok(), "a write error");
    }

    /// The push side of the sink (`write`, as apport's decoder uses it): same bytes
    /// in odd-sized writes; a limit stops it; a write that fails on the writing
    /// thread comes back as a write error, and the writes after it fail without a
    /// panic.
    #[test]
    fn pushed_writes_keep_bytes_and_errors() {
        let data: Vec<u8> = (0..(5 << 20) + 777u32)
            .map(|i| {
                if (i >> 16) % 3 == 0 {
                    0
                } else {
                    (i % 251) as u8
                }
            })
            .collect();
        let file = tempfile::tempfile().expect("tempfile");
        let (_, n) = sparse_sink(&file, 0, &mut |_| Ok(()), |sink| {
            for c in data.chunks(1000) {
                sink.write_all(c)?;
            }
            Ok(())
        })
        .expect("push");
        assert_eq!(n, data.len() as u64);
        file.set_len(n).expect("length");
        let mut back = Vec::new();
        io::Read::read_to_end(&mut &file, &mut back).expect("read back");
        assert!(back == data, "same bytes");

        let e = sparse_sink(&file, 0, &mut at_most(2 << 20), |sink| {
            sink.write_all(&data)
        })
        .expect_err("over the limit");
        assert!(is_limit(&e));

        let (_dir, ro) = read_only_file();
        let e = sparse_sink(&ro, 0, &mut |_| Ok(()), |sink| {
            for c in data.chunks(4096) {
                // Keeps writing after the first failure: errors, never a panic.
                let _ = sink.write_all(c);
            }
            Ok(())
        })
        .expect_err("writes fail");
        assert!(spool_write_error(e).is_ok(), "a write error");
    }

    /// The mapped reader hands out the file's bytes in order, across its steps and
    /// its releases of pages already read, whether read by `read` or `fill_buf`.
    #[test]
    fn mapped_reader_gives_the_file_in_order() {
        use std::io::{BufRead, Read, Write};
        let data: Vec<u8> = (0..(2 * MAPPED_STEP + 12345) as u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
            .collect();
        let mut f = tempfile::tempfile().expect("tempfile");
        f.write_all(&data).expect("write");
        let mut r = MappedReader::new(Path::new("t.zst"), &f).expect("map");
        let mut back = Vec::new();
        let mut odd = vec![0u8; 1_000_003];
        loop {
            let n = r.read(&mut odd).expect("read");
            if n == 0 {
                break;
            }
            back.extend_from_slice(&odd[..n]);
        }
        assert!(back == data, "read: same bytes");
        assert!(r.released > MAPPED_STEP, "pages read were given back");
        let mut r = MappedReader::new(Path::new("t.zst"), &f).expect("map");
        let mut back = Vec::new();
        loop {
            let avail = r.fill_buf().expect("fill");
            if avail.is_empty() {
                break;
            }
            let n = avail.len().min(777_777);
            back.extend_from_slice(&avail[..n]);
            r.consume(n);
        }
        assert!(back == data, "fill_buf: same bytes");
    }

    /// A compressed file truncated while it expands: the mapped reader registered
    /// its mapping, so the fault on the lost pages is explained (message naming the
    /// file, exit status 2) as a plain core's is, not a bare SIGBUS. The victim is
    /// this test run again in a child process.
    #[test]
    fn a_compressed_file_that_shrinks_while_expanding_is_reported() {
        use std::io::BufRead;
        const NAME: &str =
            "input::tests::a_compressed_file_that_shrinks_while_expanding_is_reported";
        if let Some(p) = std::env::var_os("MUTEXDIAG_SHRINK_ZST") {
            let path = Path::new(&p);
            crate::install_sigbus_handler();
            let f = File::open(path).expect("open");
            let mut r = MappedReader::new(path, &f).expect("map");
            let first = r.fill_buf().expect("fill").len();
            r.consume(first);
            File::options()
                .write(true)
                .open(path)
                .expect("open for writing")
                .set_len(0)
                .expect("truncate");
            let rest = r.fill_buf().expect("fill");
            // SAFETY: a volatile read inside the mapping's declared length.
            let b = unsafe { std::ptr::read_volatile(&rest[0]) };
            println!("read past the new end: {b}");
            std::process::exit(0);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("shrinking.core.zst");
        std::fs::write(&path, vec![7u8; 3 * MAPPED_STEP]).expect("write");
        let out = std::process::Command::new(std::env::current_exe().expect("exe"))
            .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
            .env("MUTEXDIAG_SHRINK_ZST", &path)
            .output()
            .expect("run the victim");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "mutexdiag: {}: the file shrank while it was being read",
                path.display()
            )),
            "{stderr}"
        );
    }

    #[test]
    fn sniffs_formats() {
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Some(Compression::Zstd)
        );
        assert_eq!(Compression::sniff(b"\xfd7zXZ\0"), Some(Compression::Xz));
        assert_eq!(
            Compression::sniff(&[0x04, 0x22, 0x4d, 0x18]),
            Some(Compression::Lz4)
        );
        assert_eq!(
            Compression::sniff(&[0x1f, 0x8b, 8]),
            Some(Compression::Gzip)
        );
        assert_eq!(Compression::sniff(b"\x7fELF"), None);
    }
}
