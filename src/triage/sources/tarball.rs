//! Tar archives (`.tar`, and gzip/zstd/xz/lz4-compressed tars, recognised by content):
//! members are streamed with the `tar` crate, never the whole archive in memory.
//! A plain tar on disk is read with seeks over the member data; a compressed one is
//! decompressed once from end to end.

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::sniff::{self, Counted};
use super::walk::{Classified, Scanner, classify_stream, group_of};
use super::{Archive, Encoding, Entry, Locator, Meta, Place, SourceKind, What, abrt, systemd};
use crate::input::Compression;

impl<R: Seek> Seek for Counted<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Receives the members of an archive, in order.
pub(crate) trait Visitor {
    /// One member (`ordinal` counts every header the `tar` crate yields, directories
    /// included). Return `false` to stop.
    fn member<R: Read>(&mut self, ordinal: u64, e: &mut ::tar::Entry<'_, R>) -> bool;
    /// The archive cannot be read past this point.
    fn error(&mut self, ordinal: u64, err: io::Error);
}

/// Read the members of the archive at `path`; returns the bytes read from the file.
pub(crate) fn visit<V: Visitor>(
    path: &Path,
    compression: Option<Compression>,
    v: &mut V,
) -> io::Result<u64> {
    let f = crate::input::open_regular(path)?;
    let mut counted = Counted {
        inner: f,
        count: 0,
        cap: u64::MAX,
    };
    match compression {
        None => {
            let mut ar = ::tar::Archive::new(&mut counted);
            drive(ar.entries_with_seek(), v);
        }
        Some(c) => {
            let br = BufReader::with_capacity(256 << 10, &mut counted);
            let d = c.decoder(br)?;
            let mut ar = ::tar::Archive::new(d);
            drive(ar.entries(), v);
        }
    }
    Ok(counted.count)
}

fn drive<R: Read, V: Visitor>(entries: io::Result<::tar::Entries<'_, R>>, v: &mut V) {
    let entries = match entries {
        Ok(e) => e,
        Err(err) => return v.error(0, err),
    };
    for (i, e) in entries.enumerate() {
        match e {
            Ok(mut e) => {
                if !v.member(i as u64, &mut e) {
                    return;
                }
            }
            Err(err) => return v.error(i as u64, err),
        }
    }
}

/// A member's path as text.
pub(crate) fn member_path<R: Read>(e: &::tar::Entry<'_, R>) -> String {
    let p = String::from_utf8_lossy(&e.path_bytes()).into_owned();
    p.trim_start_matches("./").to_owned()
}

/// Classification of an archive's members.
struct ScanVisitor<'a> {
    archive: usize,
    id: &'a str,
    entries: Vec<Entry>,
    /// Per member entry (index in `entries`): directory, file name, and the content of
    /// ABRT metadata items.
    parts: Vec<(String, String, usize, Option<Vec<u8>>)>,
    error: Option<(u64, io::Error)>,
    headers: u64,
    /// Where the data of the last member ends (offset in the uncompressed archive).
    data_end: u64,
}

impl Visitor for ScanVisitor<'_> {
    fn member<R: Read>(&mut self, ordinal: u64, e: &mut ::tar::Entry<'_, R>) -> bool {
        use ::tar::EntryType as T;
        self.headers += 1;
        let mpath = member_path(e);
        let mid = format!("{}!{}", self.id, mpath);
        let size = e.size();
        let mtime = e.header().mtime().ok().map(|m| m as i64);
        let group = self.id.to_owned();
        let base = |what| Entry {
            id: mid.clone(),
            source: SourceKind::Core,
            size,
            mtime,
            meta: Meta::default(),
            what,
            group: group.clone(),
            locator: None,
        };
        let t = e.header().entry_type();
        match t {
            T::Regular | T::Continuous => {}
            T::Directory | T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => {
                return true;
            }
            T::Symlink => {
                self.entries
                    .push(base(What::Skip("symbolic link in the archive".into())));
                return true;
            }
            T::Link => {
                let to = e
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                self.entries.push(base(What::Skip(format!(
                    "hard link in the archive (to {to})"
                ))));
                return true;
            }
            T::GNUSparse => {
                self.entries
                    .push(base(What::Skip("GNU sparse member (not supported)".into())));
                return true;
            }
            _ => {
                self.entries.push(base(What::Skip(
                    "not a regular file (FIFO or device node in the archive)".into(),
                )));
                return true;
            }
        }
        let (dir, name) = match mpath.rsplit_once('/') {
            Some((d, n)) => (d.to_owned(), n.to_owned()),
            None => (String::new(), mpath.clone()),
        };
        // systemd-coredump attributes recorded by `tar --xattrs`.
        let mut attrs = Meta::default();
        let has_attrs = systemd::pax_xattrs(e, &mut attrs);
        // ABRT metadata items are small: keep them whole.
        let item = abrt::ITEMS.contains(&name.as_str());
        let cap = if name == "maps" {
            abrt::MAX_MAPS
        } else {
            abrt::MAX_ITEM
        };
        let mut head = Vec::new();
        let want = if item && size <= cap {
            size
        } else {
            sniff::HEAD as u64
        };
        let end = e.raw_file_position().saturating_add(size);
        self.data_end = self.data_end.max(end);
        if let Err(err) = (&mut *e).take(want).read_to_end(&mut head) {
            self.entries
                .push(base(What::Fail(format!("{mid}: read error: {err}"))));
            return true;
        }
        if (head.len() as u64) < want.min(size) {
            self.entries.push(base(What::Fail(format!(
                "{mid}: the archive ends inside this member ({} of {size} bytes)",
                head.len()
            ))));
            return true;
        }
        let content = (item && size <= cap).then(|| head.clone());
        let hl = head.len().min(sniff::HEAD);
        let mut rest = io::Cursor::new(&head[hl..]).chain(&mut *e);
        let (c, _) = classify_stream(&mid, &head[..hl], &mut rest, size, true);
        let entry = match c {
            Classified::Core {
                encoding,
                meta,
                apport,
            } => {
                let (source, meta) = if apport {
                    (SourceKind::Apport, meta)
                } else {
                    let from_name = systemd::parse_name(&name);
                    if from_name.is_some() || has_attrs {
                        (
                            SourceKind::SystemdCoredump,
                            systemd::merge(from_name, attrs),
                        )
                    } else {
                        (SourceKind::Core, meta)
                    }
                };
                Entry {
                    source,
                    meta,
                    locator: Some(Locator {
                        place: Place::Member {
                            archive: self.archive,
                            ordinal,
                        },
                        encoding,
                    }),
                    ..base(What::Core)
                }
            }
            Classified::Elf { build_id } => Entry {
                locator: Some(Locator {
                    place: Place::Member {
                        archive: self.archive,
                        ordinal,
                    },
                    encoding: Encoding::Plain,
                }),
                ..base(What::Elf { build_id })
            },
            Classified::Tar(_) => base(What::Skip(
                "tar archive inside an archive (not opened)".into(),
            )),
            Classified::Skip(w) => base(What::Skip(w)),
            Classified::Fail(w) => base(What::Fail(w)),
        };
        self.parts.push((dir, name, self.entries.len(), content));
        self.entries.push(entry);
        true
    }

    fn error(&mut self, ordinal: u64, err: io::Error) {
        self.error = Some((ordinal, err));
    }
}

/// Scan the members of an archive into `s`.
pub(crate) fn scan(s: &mut Scanner, path: &Path, id: &str, c: Option<Compression>, size: u64) {
    let archive = s.add_archive(Archive {
        path: path.to_owned(),
        id: id.to_owned(),
        compression: c,
    });
    let mut v = ScanVisitor {
        archive,
        id,
        entries: Vec::new(),
        parts: Vec::new(),
        error: None,
        headers: 0,
        data_end: 0,
    };
    let kind = c.map_or("tar archive".to_owned(), |c| {
        format!("{}-compressed tar archive", c.name())
    });
    let read = match visit(path, c, &mut v) {
        Ok(n) => n,
        Err(e) => {
            v.error = Some((0, e));
            0
        }
    };
    s.add_read(read);
    // Over a plain file, member data is skipped with seeks, which do not notice the end
    // of the file: compare the end of the last member with the file's size.
    if c.is_none() && v.error.is_none() && v.data_end > size {
        v.error = Some((
            v.headers,
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the last member needs {} bytes, the file has {size}",
                    v.data_end
                ),
            ),
        ));
    }
    let entries = merge_abrt(v.entries, &v.parts, id);
    let n = entries.len();
    for e in entries {
        s.push(e);
    }
    let group = group_of(id);
    let whole = |what| Entry {
        id: id.to_owned(),
        source: SourceKind::Core,
        size,
        mtime: None,
        meta: Meta::default(),
        what,
        group: group.clone(),
        locator: None,
    };
    if let Some((_, err)) = v.error {
        s.push(whole(What::Fail(format!(
            "{id}: {kind} is corrupt or truncated after {} members: {err}",
            v.headers
        ))));
    } else if n == 0 {
        s.push(whole(What::Skip(format!("{kind} with no files"))));
    }
}

/// Turn the members of each ABRT problem directory into one entry (id `ARCHIVE!DIR`,
/// placed where its first member was).
fn merge_abrt(
    entries: Vec<Entry>,
    parts: &[(String, String, usize, Option<Vec<u8>>)],
    id: &str,
) -> Vec<Entry> {
    let mut by_dir: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (k, (dir, ..)) in parts.iter().enumerate() {
        by_dir.entry(dir.as_str()).or_default().push(k);
    }
    let mut replace: BTreeMap<usize, Entry> = BTreeMap::new();
    let mut drop = vec![false; entries.len()];
    for (dir, ks) in by_dir {
        let names = ks.iter().map(|&k| parts[k].1.as_str());
        let Some(core_name) = abrt::core_among(names) else {
            continue;
        };
        let Some(&ck) = ks.iter().find(|&&k| parts[k].1 == core_name) else {
            continue;
        };
        let core = &entries[parts[ck].2];
        let mut meta = Meta::default();
        for &k in &ks {
            if let Some(c) = &parts[k].3 {
                abrt::apply(&mut meta, &parts[k].1, c);
            }
        }
        let what = match &core.what {
            What::Core => What::Core,
            What::Fail(w) => What::Fail(w.clone()),
            What::Skip(w) => What::Skip(format!(
                "ABRT problem directory whose coredump is not a core: {w}"
            )),
            What::Elf { .. } => What::Skip(
                "ABRT problem directory whose coredump is an ELF file but not a core".into(),
            ),
        };
        let merged = Entry {
            id: if dir.is_empty() {
                id.to_owned()
            } else {
                format!("{id}!{dir}")
            },
            source: SourceKind::Abrt,
            size: core.size,
            mtime: core.mtime,
            meta,
            locator: if what == What::Core {
                core.locator.clone()
            } else {
                None
            },
            what,
            group: id.to_owned(),
        };
        let first = ks.iter().map(|&k| parts[k].2).min().unwrap_or(0);
        for &k in &ks {
            drop[parts[k].2] = true;
        }
        replace.insert(first, merged);
    }
    let mut out = Vec::with_capacity(entries.len());
    for (i, e) in entries.into_iter().enumerate() {
        if let Some(m) = replace.remove(&i) {
            out.push(m);
        } else if !drop[i] {
            out.push(e);
        }
    }
    out
}
