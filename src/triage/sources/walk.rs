//! Walking the arguments and classifying plain files.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use super::sniff::{self, Kind};
use super::{
    Archive, Encoding, Entry, Inventory, Locator, Meta, Place, ScanOptions, SourceKind, What, abrt,
    apport, systemd, tarball, temp,
};
use crate::input::Compression;

pub(crate) struct Scanner {
    pub entries: Vec<Entry>,
    pub executables: std::collections::BTreeMap<(String, String), usize>,
    pub bytes_read: u64,
    pub archives: Vec<Archive>,
    /// Files known unchanged by an index (see [`super::KnownFiles`]).
    pub known: super::KnownFiles,
    temp: Arc<temp::TempSpace>,
}

/// What a stream of bytes turned out to be.
pub(crate) enum Classified {
    Core {
        encoding: Encoding,
        meta: Meta,
        apport: bool,
    },
    Elf {
        build_id: Option<String>,
    },
    Tar(Option<Compression>),
    Skip(String),
    Fail(String),
}

/// Classify a stream from its first bytes `head` (up to [`sniff::HEAD`]) and the rest
/// `rest`; reads at most what the format needs. `nested`: inside an archive (a tar
/// found there is not opened). Returns the classification and the bytes read from
/// `rest`.
pub(crate) fn classify_stream(
    id: &str,
    head: &[u8],
    rest: &mut dyn Read,
    size: u64,
    nested: bool,
) -> (Classified, u64) {
    let kind = sniff::classify(head);
    match kind {
        Kind::Core => (
            Classified::Core {
                encoding: Encoding::Plain,
                meta: Meta::default(),
                apport: false,
            },
            0,
        ),
        Kind::Elf { e_type } => {
            let mut buf = head.to_vec();
            let mut more = Vec::new();
            let want = (sniff::ELF_HEAD - head.len().min(sniff::ELF_HEAD)) as u64;
            let got = rest.take(want).read_to_end(&mut more);
            buf.extend_from_slice(&more);
            let build_id = sniff::build_id(&buf);
            let read = more.len() as u64;
            if let Err(e) = got {
                return (Classified::Fail(format!("{id}: read error: {e}")), read);
            }
            if matches!(e_type, 2 | 3) {
                (Classified::Elf { build_id }, read)
            } else {
                (Classified::Skip(sniff::skip_reason(&kind, size)), read)
            }
        }
        Kind::Compressed(c) => {
            let mut chained = io::Cursor::new(head).chain(rest);
            match sniff::peek_compressed(c, &mut chained) {
                Err(e) => (
                    Classified::Fail(format!(
                        "{id}: {}-compressed data is corrupt: {e}",
                        c.name()
                    )),
                    0,
                ),
                Ok((inner, consumed)) => {
                    let read = consumed.saturating_sub(head.len() as u64);
                    let what = match sniff::classify(&inner) {
                        Kind::Core => Classified::Core {
                            encoding: Encoding::Compressed(c),
                            meta: Meta::default(),
                            apport: false,
                        },
                        Kind::Tar if !nested => Classified::Tar(Some(c)),
                        Kind::Tar => Classified::Skip(format!(
                            "{}-compressed tar archive inside an archive (not opened)",
                            c.name()
                        )),
                        Kind::Empty => {
                            Classified::Skip(format!("{}-compressed empty data", c.name()))
                        }
                        Kind::Compressed(c2) => Classified::Skip(format!(
                            "{}-compressed {}-compressed data (not opened)",
                            c.name(),
                            c2.name()
                        )),
                        k => Classified::Skip(format!(
                            "{}-compressed {}",
                            c.name(),
                            sniff::skip_reason(&k, inner.len() as u64)
                        )),
                    };
                    (what, read)
                }
            }
        }
        Kind::Apport => {
            let mut chained = BufReader::with_capacity(64 << 10, io::Cursor::new(head).chain(rest));
            match apport::scan(&mut chained, 64) {
                Err(e) => (Classified::Fail(format!("{id}: read error: {e}")), 0),
                Ok(rep) => {
                    let read = rep.read.saturating_sub(head.len() as u64);
                    let what = match rep.core_at {
                        None => Classified::Skip("apport report without a CoreDump".into()),
                        Some(at) => match sniff::classify(&rep.core_head) {
                            Kind::Core => Classified::Core {
                                encoding: Encoding::Apport { core_at: at },
                                meta: rep.meta,
                                apport: true,
                            },
                            Kind::Empty => Classified::Skip(
                                "apport report whose CoreDump cannot be decoded".into(),
                            ),
                            k => Classified::Skip(format!(
                                "apport report whose CoreDump is not an ELF core ({})",
                                sniff::skip_reason(&k, 0)
                            )),
                        },
                    };
                    (what, read)
                }
            }
        }
        Kind::Tar if !nested => (Classified::Tar(None), 0),
        Kind::Tar => (
            Classified::Skip("tar archive inside an archive (not opened)".into()),
            0,
        ),
        k => (Classified::Skip(sniff::skip_reason(&k, size)), 0),
    }
}

/// Read up to `n` bytes at offset 0.
fn read_head(f: &File, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let got = crate::coredump::data::read_full_at(f, &mut buf, 0)?;
    buf.truncate(got);
    Ok(buf)
}

pub(crate) fn group_of(id: &str) -> String {
    match Path::new(id).parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_string_lossy().into_owned(),
        _ => ".".into(),
    }
}

impl Scanner {
    pub fn new(opts: &ScanOptions) -> Scanner {
        Scanner {
            entries: Vec::new(),
            executables: Default::default(),
            bytes_read: 0,
            archives: Vec::new(),
            known: Default::default(),
            temp: Arc::new(temp::TempSpace::new(
                opts.temp_dir.as_deref(),
                opts.max_temp,
            )),
        }
    }

    pub fn finish(self) -> Inventory {
        Inventory {
            entries: self.entries,
            executables: self.executables,
            bytes_read: self.bytes_read,
            archives: self.archives,
            temp: self.temp,
        }
    }

    pub(crate) fn push(&mut self, e: Entry) {
        if let What::Elf {
            build_id: Some(b), ..
        } = &e.what
        {
            self.executables
                .entry((e.group.clone(), b.clone()))
                .or_insert(self.entries.len());
        }
        self.entries.push(e);
    }

    fn simple(&mut self, id: String, what: What) {
        let group = group_of(&id);
        self.push(Entry {
            id,
            source: SourceKind::Core,
            size: 0,
            mtime: None,
            meta: Meta::default(),
            what,
            group,
            locator: None,
        });
    }

    /// Walk one argument: a file, a directory (recursively, sorted by name, symbolic
    /// links inside not followed), or a tar archive.
    pub fn walk(&mut self, arg: &Path) {
        let mut it = walkdir::WalkDir::new(arg)
            .follow_links(false)
            .follow_root_links(true)
            .sort_by_file_name()
            .into_iter();
        while let Some(next) = it.next() {
            let de = match next {
                Ok(de) => de,
                Err(e) => {
                    let p = e.path().unwrap_or(arg).to_string_lossy().into_owned();
                    let why = e
                        .io_error()
                        .map_or_else(|| e.to_string(), |io| io.to_string());
                    self.simple(p.clone(), What::Fail(format!("{p}: cannot read: {why}")));
                    continue;
                }
            };
            let id = de.path().to_string_lossy().into_owned();
            let ft = de.file_type();
            if ft.is_dir() {
                if let Some(core) = abrt::core_of(de.path()) {
                    self.abrt_dir(de.path(), id, &core);
                    it.skip_current_dir();
                }
            } else if ft.is_file() {
                self.file(de.path(), id);
            } else if ft.is_symlink() {
                self.simple(id, What::Skip("symbolic link (not followed)".into()));
            } else {
                self.simple(
                    id,
                    What::Skip("not a regular file (FIFO, socket or device)".into()),
                );
            }
        }
    }

    fn file(&mut self, path: &Path, id: String) {
        let group = group_of(&id);
        // A core the index analysed, found with the same stamp: one lstat, no read.
        if let Some((stamp, source)) = self.known.get(&id)
            && let Ok(md) = std::fs::symlink_metadata(path)
            && md.is_file()
            && super::FileStamp::of(&md) == *stamp
        {
            let source = *source;
            self.push(Entry {
                id,
                source,
                size: md.len(),
                mtime: Some(md.mtime()),
                meta: Meta::default(),
                what: What::Core,
                group,
                locator: None,
            });
            return;
        }
        let (what, source, meta, encoding, size, mtime) = match self.classify_file(path, &id) {
            Ok(FileClass::Tar(c, size)) => {
                tarball::scan(self, path, &id, c, size);
                return;
            }
            Ok(FileClass::Done {
                what,
                source,
                meta,
                encoding,
                size,
                mtime,
            }) => (what, source, *meta, encoding, size, mtime),
            Err(e) => (
                What::Fail(format!("{id}: cannot read: {e}")),
                SourceKind::Core,
                Meta::default(),
                None,
                0,
                None,
            ),
        };
        self.push(Entry {
            id,
            source,
            size,
            mtime,
            meta,
            what,
            group,
            locator: encoding.map(|encoding| Locator {
                place: Place::File(path.to_owned()),
                encoding,
            }),
        });
    }

    fn classify_file(&mut self, path: &Path, id: &str) -> io::Result<FileClass> {
        let f = crate::input::open_regular(path)?;
        let md = f.metadata()?;
        let size = md.len();
        let mtime = Some(md.mtime());
        let head = read_head(&f, sniff::HEAD)?;
        self.bytes_read += head.len() as u64;
        let mut rest = f;
        rest.seek(SeekFrom::Start(head.len() as u64))?;
        let (c, read) = classify_stream(id, &head, &mut rest, size, false);
        self.bytes_read += read;
        let done = |what, source, meta, encoding| FileClass::Done {
            what,
            source,
            meta: Box::new(meta),
            encoding,
            size,
            mtime,
        };
        Ok(match c {
            Classified::Tar(c) => FileClass::Tar(c, size),
            Classified::Core {
                encoding,
                meta,
                apport,
            } => {
                if apport {
                    done(What::Core, SourceKind::Apport, meta, Some(encoding))
                } else {
                    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    let from_name = systemd::parse_name(name);
                    let mut attrs = Meta::default();
                    let has_attrs = systemd::read_xattrs(path, &mut attrs);
                    if from_name.is_some() || has_attrs {
                        let meta = systemd::merge(from_name, attrs);
                        done(
                            What::Core,
                            SourceKind::SystemdCoredump,
                            meta,
                            Some(encoding),
                        )
                    } else {
                        done(What::Core, SourceKind::Core, meta, Some(encoding))
                    }
                }
            }
            Classified::Elf { build_id } => done(
                What::Elf { build_id },
                SourceKind::Core,
                Meta::default(),
                Some(Encoding::Plain),
            ),
            Classified::Skip(why) => done(What::Skip(why), SourceKind::Core, Meta::default(), None),
            Classified::Fail(why) => done(What::Fail(why), SourceKind::Core, Meta::default(), None),
        })
    }

    fn abrt_dir(&mut self, dir: &Path, id: String, core: &Path) {
        let group = group_of(&id);
        let mut meta = Meta::default();
        self.bytes_read += abrt::read_meta(dir, &mut meta);
        let core_id = core.to_string_lossy().into_owned();
        let (what, encoding, size, mtime) = match self.classify_file(core, &core_id) {
            Err(e) => (
                What::Fail(format!("{core_id}: cannot read: {e}")),
                None,
                0,
                None,
            ),
            Ok(FileClass::Tar(_, size)) => (
                What::Skip("ABRT problem directory whose coredump is a tar archive".into()),
                None,
                size,
                None,
            ),
            Ok(FileClass::Done {
                what,
                encoding,
                size,
                mtime,
                ..
            }) => match what {
                What::Core => (What::Core, encoding, size, mtime),
                What::Fail(w) => (What::Fail(w), None, size, mtime),
                What::Skip(w) => (
                    What::Skip(format!(
                        "ABRT problem directory whose coredump is not a core: {w}"
                    )),
                    None,
                    size,
                    mtime,
                ),
                What::Elf { .. } => (
                    What::Skip(
                        "ABRT problem directory whose coredump is an ELF file but not a core"
                            .into(),
                    ),
                    None,
                    size,
                    mtime,
                ),
            },
        };
        self.push(Entry {
            id,
            source: SourceKind::Abrt,
            size,
            mtime,
            meta,
            what,
            group,
            locator: encoding.map(|encoding| Locator {
                place: Place::File(core.to_owned()),
                encoding,
            }),
        });
    }

    pub(crate) fn add_archive(&mut self, a: Archive) -> usize {
        self.archives.push(a);
        self.archives.len() - 1
    }

    pub(crate) fn add_read(&mut self, n: u64) {
        self.bytes_read += n;
    }
}

enum FileClass {
    Tar(Option<Compression>, u64),
    Done {
        what: What,
        source: SourceKind,
        meta: Box<Meta>,
        encoding: Option<Encoding>,
        size: u64,
        mtime: Option<i64>,
    },
}
