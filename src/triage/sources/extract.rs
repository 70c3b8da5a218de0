//! Phase 2: a plain ELF core file for each chosen entry, and the executables of its
//! group.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::tarball::{self, Visitor};
use super::temp::{TempGuard, TempSpace, TempWriter, limit_message};
use super::{Encoding, Inventory, Locator, Place, ScanOptions, What, apport};

/// A chosen core, ready to open.
#[derive(Debug)]
pub struct Materialized {
    /// A plain (uncompressed) ELF core: the original file, or a temporary file.
    pub path: PathBuf,
    temp: Option<TempGuard>,
    execs: Arc<GroupExecs>,
}

/// ELF files of one group (directory or archive) by build-id; for an archive, the
/// extracted copies, deleted when the last core of that pass drops them.
#[derive(Debug, Default)]
struct GroupExecs {
    by_id: HashMap<String, PathBuf>,
    _guards: Vec<TempGuard>,
}

impl Materialized {
    /// Whether `path` is a temporary file (deleted when this value drops).
    pub fn is_temporary(&self) -> bool {
        self.temp.is_some()
    }

    /// An ELF file among the inputs of the same group (directory or tar archive)
    /// whose GNU build-id (hex) is `build_id`, ready to open.
    pub fn executable(&self, build_id: &str) -> Option<&Path> {
        self.execs
            .by_id
            .get(&build_id.to_ascii_lowercase())
            .map(PathBuf::as_path)
    }

    /// Every ELF file of the same group with a build-id: `(build-id hex, path)`,
    /// sorted by build-id.
    pub fn executables(&self) -> impl Iterator<Item = (&str, &Path)> {
        let mut v: Vec<(&str, &Path)> = self
            .execs
            .by_id
            .iter()
            .map(|(k, p)| (k.as_str(), p.as_path()))
            .collect();
        v.sort();
        v.into_iter()
    }
}

fn limit(opts: &ScanOptions) -> Option<u64> {
    opts.max_core_size
}

/// What went wrong expanding, in words.
fn explain(id: &str, what: &str, e: &io::Error) -> String {
    match limit_message(e) {
        Some(m) => format!("{id}: {what} {m}"),
        None => format!("{id}: cannot expand the {what}: {e}"),
    }
}

fn encoding_name(enc: Encoding) -> String {
    match enc {
        Encoding::Plain => "core".into(),
        Encoding::Compressed(c) => format!("{}-compressed core", c.name()),
        Encoding::Apport { .. } => "apport CoreDump".into(),
    }
}

/// Write the core held by `r` (encoded as `enc`, `r` at the start of the file or
/// member) into a new temporary file: decoded on this thread, written on a second one
/// with 64 KiB blocks of zeros left as holes (`TempWriter::fill_sparse_from`, or
/// `write_sparse_with` for apport's decoder, which pushes what it decodes). The
/// input is read by `read(2)`, never mapped: this runs in the driver process, which a
/// file truncated under a mapping would kill (SIGBUS) with the whole batch.
fn expand(
    r: &mut dyn io::BufRead,
    enc: Encoding,
    temp: &TempSpace,
    max: Option<u64>,
    pinned: u64,
    expected: Option<u64>,
) -> io::Result<TempGuard> {
    let mut w = temp.create(max, pinned)?;
    match enc {
        Encoding::Plain => {
            w.fill_sparse_from(r)?;
            if let Some(n) = expected
                && w.written() != n
            {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("member cut short: {} of {n} bytes", w.written()),
                ));
            }
        }
        Encoding::Compressed(c) => {
            let mut d = c.decoder(r)?;
            w.fill_sparse_from(&mut *d)?;
        }
        Encoding::Apport { core_at } => {
            io::copy(&mut r.take(core_at), &mut io::sink())?;
            w.write_sparse_with(|sink| apport::expand(r, sink).map(|_| ()))?;
        }
    }
    if w.written() == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "expands to nothing",
        ));
    }
    let g: TempGuard = TempWriter::finish(w)?;
    Ok(g)
}

pub(crate) fn run(
    inv: &Inventory,
    which: &[usize],
    opts: &ScanOptions,
    mut f: impl FnMut(usize, Result<Materialized, String>),
) {
    let mut plain_groups: HashMap<String, Arc<GroupExecs>> = HashMap::new();
    let mut i = 0;
    while i < which.len() {
        let idx = which[i];
        let Some(e) = inv.entries.get(idx) else {
            f(idx, Err(format!("no input number {idx}")));
            i += 1;
            continue;
        };
        let loc = match (&e.what, &e.locator) {
            (What::Core | What::Elf { .. }, Some(l)) => l.clone(),
            (what, _) => {
                f(idx, Err(format!("{}: not a core ({what:?})", e.id)));
                i += 1;
                continue;
            }
        };
        match loc.place {
            Place::File(p) => {
                let execs = plain_groups
                    .entry(e.group.clone())
                    .or_insert_with(|| Arc::new(plain_execs(inv, &e.group)))
                    .clone();
                let res = match loc.encoding {
                    Encoding::Plain => Ok(Materialized {
                        path: p,
                        temp: None,
                        execs,
                    }),
                    enc => crate::input::open_regular(&p)
                        .map_err(|err| format!("{}: cannot open: {err}", p.display()))
                        .and_then(|file| {
                            expand(
                                &mut BufReader::with_capacity(1 << 20, file),
                                enc,
                                &inv.temp,
                                limit(opts),
                                0,
                                None,
                            )
                            .map_err(|err| explain(&e.id, &encoding_name(enc), &err))
                        })
                        .map(|g| Materialized {
                            path: g.path().to_owned(),
                            temp: Some(g),
                            execs,
                        }),
                };
                f(idx, res);
                i += 1;
            }
            Place::Member { archive, ordinal } => {
                // The run of members of this archive in increasing member order.
                let mut j = i + 1;
                let mut last = ordinal;
                while j < which.len() {
                    match inv.entries.get(which[j]).and_then(|e| e.locator.as_ref()) {
                        Some(Locator {
                            place:
                                Place::Member {
                                    archive: a,
                                    ordinal: o,
                                },
                            ..
                        }) if *a == archive && *o > last => {
                            last = *o;
                            j += 1;
                        }
                        _ => break,
                    }
                }
                tar_pass(inv, archive, &which[i..j], opts, &mut f);
                i = j;
            }
        }
    }
}

/// The ELF files of a plain-file group.
fn plain_execs(inv: &Inventory, group: &str) -> GroupExecs {
    let mut g = GroupExecs::default();
    for ((_, bid), &ix) in inv
        .executables
        .range((group.to_owned(), String::new())..)
        .take_while(|((gr, _), _)| gr == group)
    {
        if let Some(p) = inv.plain_path(ix) {
            g.by_id.insert(bid.clone(), p.to_owned());
        }
    }
    g
}

/// One pass (two when an executable comes after the first wanted core) over an
/// archive for the entries `run` (members of `archive`, in member order).
fn tar_pass(
    inv: &Inventory,
    archive: usize,
    run: &[usize],
    opts: &ScanOptions,
    f: &mut impl FnMut(usize, Result<Materialized, String>),
) {
    let Some(ar) = inv.archives.get(archive) else {
        for &idx in run {
            f(idx, Err(format!("no archive number {archive}")));
        }
        return;
    };
    // Executables of this archive, by member ordinal.
    let mut execs: BTreeMap<u64, String> = BTreeMap::new();
    for ((g, bid), &ix) in inv
        .executables
        .range((ar.id.clone(), String::new())..)
        .take_while(|((g, _), _)| *g == ar.id)
    {
        let _ = g;
        if let Some(Locator {
            place: Place::Member { ordinal, .. },
            ..
        }) = inv.entries.get(ix).and_then(|e| e.locator.as_ref())
        {
            execs.insert(*ordinal, bid.clone());
        }
    }
    let mut wanted: BTreeMap<u64, (usize, Encoding, u64)> = BTreeMap::new();
    for &idx in run {
        if let Some(e) = inv.entries.get(idx)
            && let Some(Locator {
                place: Place::Member { ordinal, .. },
                encoding,
            }) = &e.locator
        {
            wanted.insert(*ordinal, (idx, *encoding, e.size));
        }
    }
    let first = wanted.keys().next().copied().unwrap_or(0);
    let mut group = GroupExecs::default();
    let mut pre_error = None;
    if execs.keys().any(|&o| o >= first) {
        let mut v = ExecVisitor {
            execs: &execs,
            temp: &inv.temp,
            group: &mut group,
        };
        if let Err(e) = tarball::visit(&ar.path, ar.compression, &mut v) {
            pre_error = Some(e.to_string());
        }
        execs.clear();
    }
    let mut v = CoreVisitor {
        inv,
        ar_id: &ar.id,
        execs: &execs,
        wanted: &wanted,
        opts,
        group: Some(group),
        shared: None,
        f,
        done: 0,
        error: pre_error,
    };
    if let Err(e) = tarball::visit(&ar.path, ar.compression, &mut v) {
        v.error = Some(e.to_string());
    }
    // Wanted members never reached.
    let done = v.done;
    let why = v
        .error
        .clone()
        .unwrap_or_else(|| "the member was not found again in the archive".into());
    for (_, (idx, ..)) in wanted.iter().skip(done) {
        let id = inv.entries.get(*idx).map_or("", |e| e.id.as_str());
        (v.f)(*idx, Err(format!("{id}: {}: not reached: {why}", ar.id)));
    }
}

/// Extract executables of an archive into temporary files (only as far as the budget
/// allows now: an executable that does not fit is not offered).
fn extract_exec<R: Read>(
    e: &mut ::tar::Entry<'_, R>,
    bid: &str,
    temp: &TempSpace,
    group: &mut GroupExecs,
) {
    let size = e.size();
    let Ok(Some(mut w)) = temp.create_sized(size) else {
        return;
    };
    if io::copy(e, &mut w).is_ok()
        && w.written() == size
        && let Ok(g) = w.finish()
    {
        group.by_id.insert(bid.to_owned(), g.path().to_owned());
        group._guards.push(g);
    }
}

struct ExecVisitor<'a> {
    execs: &'a BTreeMap<u64, String>,
    temp: &'a TempSpace,
    group: &'a mut GroupExecs,
}

impl Visitor for ExecVisitor<'_> {
    fn member<R: Read>(&mut self, ordinal: u64, e: &mut ::tar::Entry<'_, R>) -> bool {
        if let Some(bid) = self.execs.get(&ordinal) {
            extract_exec(e, bid, self.temp, self.group);
        }
        self.execs.keys().next_back().is_some_and(|&l| ordinal < l)
    }
    fn error(&mut self, _: u64, _: io::Error) {}
}

struct CoreVisitor<'a, F> {
    inv: &'a Inventory,
    ar_id: &'a str,
    /// Executables still to extract in this pass (those before the first core).
    execs: &'a BTreeMap<u64, String>,
    wanted: &'a BTreeMap<u64, (usize, Encoding, u64)>,
    opts: &'a ScanOptions,
    group: Option<GroupExecs>,
    shared: Option<Arc<GroupExecs>>,
    f: &'a mut F,
    done: usize,
    error: Option<String>,
}

impl<F: FnMut(usize, Result<Materialized, String>)> Visitor for CoreVisitor<'_, F> {
    fn member<R: Read>(&mut self, ordinal: u64, e: &mut ::tar::Entry<'_, R>) -> bool {
        if let Some(bid) = self.execs.get(&ordinal)
            && let Some(g) = self.group.as_mut()
        {
            extract_exec(e, bid, &self.inv.temp, g);
        }
        let Some(&(idx, enc, size)) = self.wanted.get(&ordinal) else {
            return true;
        };
        let shared = match &self.shared {
            Some(s) => s.clone(),
            None => {
                let s = Arc::new(self.group.take().unwrap_or_default());
                self.shared = Some(s.clone());
                s
            }
        };
        let pinned: u64 = shared._guards.iter().map(TempGuard::size).sum();
        let id = self.inv.entries.get(idx).map_or("", |e| e.id.as_str());
        let expected = matches!(enc, Encoding::Plain).then_some(size);
        let res = expand(
            &mut BufReader::with_capacity(1 << 20, e),
            enc,
            &self.inv.temp,
            limit(self.opts),
            pinned,
            expected,
        )
        .map(|g| Materialized {
            path: g.path().to_owned(),
            temp: Some(g),
            execs: shared,
        })
        .map_err(|err| explain(id, &encoding_name(enc), &err));
        self.done += 1;
        (self.f)(idx, res);
        self.done < self.wanted.len()
    }

    fn error(&mut self, _: u64, err: io::Error) {
        self.error = Some(format!("{} is corrupt or truncated: {err}", self.ar_id));
    }
}
