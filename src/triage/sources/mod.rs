//! The inputs of `mutexdiag triage`: find every input under the paths given, say what
//! each is from its content, and later give each chosen core a file to open.
//!
//! Two phases:
//! 1. [`scan`] walks the arguments (files, directories, tar archives, `-` for a list
//!    of paths on standard input) in a deterministic order and classifies every input
//!    by its first bytes: an ELF core (plain or zstd/xz/lz4/gzip-compressed), a
//!    systemd-coredump file, an apport report, an ABRT problem directory, an ELF file
//!    that is not a core (indexed by build-id, to serve as a core's executable), or
//!    something skipped with a reason. Only headers are read (see `docs/triage.md`,
//!    "Inputs", for the bytes read per file); tar archives are read once, streaming.
//! 2. [`materialize`] gives each chosen core, in order, a plain ELF core file: the
//!    original file, or a temporary file expanded from a compressed core, a tar member
//!    or an apport `CoreDump`. Temporary space is bounded by a budget shared by the
//!    run and given back when the [`Materialized`] value drops.

mod abrt;
mod apport;
mod extract;
mod sniff;
mod systemd;
mod tarball;
mod temp;
mod walk;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::input::Compression;

pub use extract::Materialized;
pub use sniff::{ELF_HEAD, HEAD, INNER_HEAD, INNER_READ_MAX};
pub use temp::TempGuard;

/// Where an input comes from (tar members keep what they are).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// An ELF core (plain or compressed), no producer metadata.
    Core,
    /// A systemd-coredump file.
    SystemdCoredump,
    /// An apport `.crash` report.
    Apport,
    /// An ABRT problem directory.
    Abrt,
}

/// Metadata recorded next to the core by the tool that stored it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Process id.
    pub pid: Option<u32>,
    /// User id.
    pub uid: Option<u32>,
    /// Group id.
    pub gid: Option<u32>,
    /// Killing signal.
    pub signal: Option<u32>,
    /// RFC 3339, UTC, whole seconds.
    pub timestamp: Option<String>,
    /// Host name.
    pub hostname: Option<String>,
    /// Command name.
    pub comm: Option<String>,
    /// Executable path.
    pub exe: Option<String>,
    /// Command line.
    pub cmdline: Option<String>,
    /// Boot id (systemd-coredump).
    pub boot_id: Option<String>,
    /// `/proc/PID/maps` at the crash (apport `ProcMaps`, ABRT `maps`).
    pub proc_maps: Option<String>,
}

/// What an input is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    /// An ELF core (after expansion, for compressed ones and apport reports).
    Core,
    /// An ELF file that is not a core; indexed by build-id (hex) when it has one.
    Elf {
        /// GNU build-id, hex.
        build_id: Option<String>,
    },
    /// Not a core: why, in words.
    Skip(String),
    /// Could not be read: why, naming the file.
    Fail(String),
}

/// One input.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The path as found while walking the argument, plus `!MEMBER` for a tar member.
    pub id: String,
    /// What kind of input it is.
    pub source: SourceKind,
    /// Bytes as stored (compressed size; the report's size for apport; the core's
    /// size for ABRT).
    pub size: u64,
    /// Modification time (seconds since the epoch) of the file or tar member.
    pub mtime: Option<i64>,
    /// Metadata from the producer.
    pub meta: Meta,
    /// What the input is.
    pub what: What,
    /// The directory the input was found in (for an ABRT problem directory: the
    /// directory holding it), or the tar archive's id for a member.
    pub group: String,
    pub(crate) locator: Option<Locator>,
}

/// Where an input's bytes are and how they are encoded.
#[derive(Clone, Debug)]
pub(crate) struct Locator {
    pub place: Place,
    pub encoding: Encoding,
}

#[derive(Clone, Debug)]
pub(crate) enum Place {
    File(PathBuf),
    /// The `ordinal`-th entry of archive `archive` (index into `Inventory::archives`).
    Member {
        archive: usize,
        ordinal: u64,
    },
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Encoding {
    Plain,
    Compressed(Compression),
    /// An apport report whose `CoreDump` lines start at this byte offset.
    Apport {
        core_at: u64,
    },
}

/// A tar archive among the inputs.
#[derive(Clone, Debug)]
pub(crate) struct Archive {
    pub path: PathBuf,
    pub id: String,
    pub compression: Option<Compression>,
}

/// Everything found by [`scan`].
#[derive(Debug)]
pub struct Inventory {
    /// Every input, in walk order.
    pub entries: Vec<Entry>,
    /// ELF files that are not cores, by (group, build-id) → index in `entries` (the
    /// first one in walk order).
    pub executables: BTreeMap<(String, String), usize>,
    /// Bytes read to classify the inputs (headers, apport text keys, whole tar
    /// archives); see `docs/triage.md`.
    pub bytes_read: u64,
    pub(crate) archives: Vec<Archive>,
    pub(crate) temp: Arc<temp::TempSpace>,
}

impl Inventory {
    /// The entry of an ELF file of `group` with this build-id (hex), if any.
    pub fn executable(&self, group: &str, build_id: &str) -> Option<usize> {
        self.executables
            .get(&(group.to_owned(), build_id.to_ascii_lowercase()))
            .copied()
    }

    /// The file of an entry that is a plain file on disk (not a tar member, not
    /// compressed, not an apport report).
    pub fn plain_path(&self, i: usize) -> Option<&Path> {
        match self.entries.get(i)?.locator.as_ref()? {
            Locator {
                place: Place::File(p),
                encoding: Encoding::Plain,
            } => Some(p),
            _ => None,
        }
    }

    /// Bytes of temporary space held now.
    pub fn temp_used(&self) -> u64 {
        self.temp.budget.used()
    }
}

/// How to scan and expand.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// Most bytes of temporary files at once (expanded cores, executables extracted
    /// from tars), shared by the whole run.
    pub max_temp: u64,
    /// Where temporary files go (default: the system temporary folder).
    pub temp_dir: Option<PathBuf>,
    /// Refuse a core that expands past this many bytes (default: no limit but
    /// `max_temp`).
    pub max_core_size: Option<u64>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            max_temp: default_max_temp(None),
            temp_dir: None,
            max_core_size: None,
        }
    }
}

/// Half the free space where temporary files go, at most 64 GiB (64 GiB when the free
/// space cannot be read).
pub fn default_max_temp(temp_dir: Option<&Path>) -> u64 {
    let dir = temp_dir.map_or_else(std::env::temp_dir, Path::to_owned);
    crate::input::free_space(&dir).map_or(64 << 30, |f| (f / 2).min(64 << 30))
}

/// What identifies one state of a file without reading it: device, inode, size,
/// modification and status-change times (nanoseconds). The status-change time
/// (`ctime`) cannot be set by a user: writing the file, or restoring its `mtime`
/// after writing it, or setting an extended attribute, moves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStamp(pub String);

impl FileStamp {
    /// The stamp of a file's metadata.
    pub fn of(md: &std::fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        FileStamp(format!(
            "{}:{}:{}:{}:{}",
            md.dev(),
            md.ino(),
            md.size(),
            ns(md.mtime(), md.mtime_nsec()),
            ns(md.ctime(), md.ctime_nsec())
        ))
    }
}

/// Plain files an index (`--db`) knows as cores already analysed, by input id: the
/// stamp they had then and their source kind. A file of this table found with the
/// same stamp is not opened nor classified: it becomes a core entry without a
/// locator (never materialised: the caller holds its stored record).
pub type KnownFiles = std::collections::HashMap<String, (FileStamp, SourceKind)>;

/// Phase 1: walk every argument and classify every input (`-` reads a list of paths,
/// one per line, from standard input).
pub fn scan(args: &[PathBuf], opts: &ScanOptions) -> Inventory {
    scan_from(args, opts, &mut std::io::stdin().lock())
}

/// [`scan`], with files of `known` found unchanged taken as they were (see
/// [`KnownFiles`]).
pub fn scan_known(args: &[PathBuf], opts: &ScanOptions, known: KnownFiles) -> Inventory {
    scan_with(args, opts, &mut std::io::stdin().lock(), known)
}

/// [`scan`] with the list for `-` read from `stdin`.
pub fn scan_from(
    args: &[PathBuf],
    opts: &ScanOptions,
    stdin: &mut dyn std::io::BufRead,
) -> Inventory {
    scan_with(args, opts, stdin, KnownFiles::new())
}

fn scan_with(
    args: &[PathBuf],
    opts: &ScanOptions,
    stdin: &mut dyn std::io::BufRead,
    known: KnownFiles,
) -> Inventory {
    let mut s = walk::Scanner::new(opts);
    s.known = known;
    for a in args {
        if a.as_os_str() == "-" {
            for p in read_list(stdin) {
                s.walk(&p);
            }
        } else {
            s.walk(a);
        }
    }
    s.finish()
}

fn read_list(r: &mut dyn std::io::BufRead) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        match r.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let l = line.strip_suffix(b"\n").unwrap_or(&line);
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        if !l.is_empty() {
            out.push(PathBuf::from(std::ffi::OsStr::from_bytes(l)));
        }
    }
    out
}

/// Phase 2: for each entry of `which`, in order, a plain ELF core file to open, passed
/// to `f` as soon as it is ready. `f` may block (it is the backpressure); the next
/// core is expanded after it returns. Temporary files count against
/// `ScanOptions::max_temp`; an expansion waits while the budget is held by
/// [`Materialized`] values not yet dropped, and fails if the core alone is larger.
/// Tar members are extracted in one pass per run of members of the same archive
/// given in archive order.
pub fn materialize(
    inv: &Inventory,
    which: &[usize],
    opts: &ScanOptions,
    f: impl FnMut(usize, Result<Materialized, String>),
) {
    extract::run(inv, which, opts, f)
}

/// Seconds since the epoch → RFC 3339 in UTC.
pub(crate) fn rfc3339_secs(s: i64) -> Option<String> {
    jiff::Timestamp::from_second(s).ok().map(|t| t.to_string())
}

/// Microseconds since the epoch → RFC 3339 in UTC, whole seconds.
pub(crate) fn rfc3339_usec(us: u64) -> Option<String> {
    rfc3339_secs(i64::try_from(us / 1_000_000).ok()?)
}
