//! Temporary space for expanded cores: one directory per run, a byte budget shared by
//! every temporary file of the run, and guards that give the space back when dropped.
//!
//! Files must have a path (the analysis may happen in another process), so they cannot
//! be unlinked up front. They live in one run directory named
//! `mutexdiag-triage-PID-RANDOM`; each file is removed when its guard drops, the
//! directory when the last user drops, and a run that died without cleaning up (killed,
//! crashed) is cleaned by the next run: directories whose PID is no longer alive are
//! removed when a new run directory is created.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

/// Prefix of run directories.
const RUN_PREFIX: &str = "mutexdiag-triage-";

/// Bytes reserved from the budget at a time while a file is written.
const RESERVE_STEP: u64 = 1 << 20;

/// The shared byte budget.
#[derive(Debug)]
pub(crate) struct Budget {
    max: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

impl Budget {
    fn new(max: u64) -> Budget {
        Budget {
            max,
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Reserve at least `need` and up to `want` more bytes for a file that already
    /// holds `own`, for a caller that also holds `pinned` bytes it cannot release while
    /// it waits; returns the bytes granted. Waits while other files hold the space
    /// (they are released as their analyses finish); fails at once when the file and
    /// the pinned bytes alone would exceed the budget.
    fn reserve(&self, own: u64, pinned: u64, need: u64, want: u64) -> io::Result<u64> {
        if own.saturating_add(need).saturating_add(pinned) > self.max {
            return Err(io::Error::other(OverBudget(self.max)));
        }
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        while used.saturating_add(need) > self.max {
            used = self.freed.wait(used).unwrap_or_else(|p| p.into_inner());
        }
        let n = want.max(need).min(self.max - *used);
        *used += n;
        Ok(n)
    }

    /// Reserve `n` bytes if they are free now.
    fn try_reserve(&self, n: u64) -> bool {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        if used.saturating_add(n) > self.max {
            return false;
        }
        *used += n;
        true
    }

    fn release(&self, n: u64) {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        *used = used.saturating_sub(n);
        self.freed.notify_all();
    }

    /// Bytes held now (for tests and progress).
    pub(crate) fn used(&self) -> u64 {
        *self.used.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The expansion would need more than the whole budget.
#[derive(Debug)]
pub(crate) struct OverBudget(pub u64);
impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "needs more temporary space than the limit of {} bytes (--max-temp)",
            self.0
        )
    }
}
impl std::error::Error for OverBudget {}

/// The per-run temporary space: where files go and how much they may take.
#[derive(Debug)]
pub(crate) struct TempSpace {
    base: PathBuf,
    run: OnceLock<Result<Arc<RunDir>, String>>,
    pub(crate) budget: Arc<Budget>,
}

#[derive(Debug)]
struct RunDir {
    dir: tempfile::TempDir,
}

impl TempSpace {
    pub(crate) fn new(base: Option<&Path>, max: u64) -> TempSpace {
        TempSpace {
            base: base.map_or_else(std::env::temp_dir, Path::to_owned),
            run: OnceLock::new(),
            budget: Arc::new(Budget::new(max)),
        }
    }

    fn run_dir(&self) -> io::Result<Arc<RunDir>> {
        self.run
            .get_or_init(|| {
                clean_stale(&self.base);
                tempfile::Builder::new()
                    .prefix(&format!("{RUN_PREFIX}{}-", std::process::id()))
                    .tempdir_in(&self.base)
                    .map(|dir| Arc::new(RunDir { dir }))
                    .map_err(|e| format!("{}: {e}", self.base.display()))
            })
            .clone()
            .map_err(io::Error::other)
    }

    /// A new empty temporary file whose writes are charged to the budget, for a
    /// caller holding `pinned` bytes of it elsewhere.
    pub(crate) fn create(&self, limit: Option<u64>, pinned: u64) -> io::Result<TempWriter> {
        self.create_with(limit, pinned, 0)
    }

    /// A temporary file of at most `size` bytes, reserved at once if the space is
    /// free now (`None` if it is not: the caller goes without).
    pub(crate) fn create_sized(&self, size: u64) -> io::Result<Option<TempWriter>> {
        if !self.budget.try_reserve(size) {
            return Ok(None);
        }
        match self.create_with(Some(size), 0, size) {
            Ok(w) => Ok(Some(w)),
            Err(e) => {
                self.budget.release(size);
                Err(e)
            }
        }
    }

    fn create_with(
        &self,
        limit: Option<u64>,
        pinned: u64,
        reserved: u64,
    ) -> io::Result<TempWriter> {
        let run = self.run_dir()?;
        let file = tempfile::Builder::new()
            .prefix("x")
            .tempfile_in(run.dir.path())?;
        Ok(TempWriter {
            out: io::BufWriter::with_capacity(1 << 20, file),
            guard: TempGuard {
                path: None,
                reserved,
                budget: self.budget.clone(),
                _run: run,
            },
            written: 0,
            limit,
            pinned,
        })
    }
}

/// Remove run directories left by processes that no longer exist.
fn clean_stale(base: &Path) {
    let Ok(rd) = std::fs::read_dir(base) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(RUN_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if pid <= 0 || pid == std::process::id() as i32 {
            continue;
        }
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone && e.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Holds a temporary file and its share of the budget; dropping it deletes the file
/// and returns the space. `Send`, so it can be dropped on another thread.
#[derive(Debug)]
pub struct TempGuard {
    path: Option<tempfile::TempPath>,
    reserved: u64,
    budget: Arc<Budget>,
    _run: Arc<RunDir>,
}

impl TempGuard {
    /// Make room for a file of `after` bytes: refused past `limit` (`OverLimit`),
    /// else reserved from the budget ahead, `RESERVE_STEP` at least (waiting for
    /// space other files hold; `OverBudget` when even all of it would not do,
    /// `pinned` bytes of it being the caller's elsewhere).
    fn charge(&mut self, limit: Option<u64>, pinned: u64, after: u64) -> io::Result<()> {
        if let Some(l) = limit
            && after > l
        {
            return Err(io::Error::other(OverLimit(l)));
        }
        if after > self.reserved {
            let need = after - self.reserved;
            let got = self
                .budget
                .reserve(self.reserved, pinned, need, need.max(RESERVE_STEP))?;
            self.reserved += got;
        }
        Ok(())
    }

    pub(crate) fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }
    /// Bytes of budget this file holds.
    pub fn size(&self) -> u64 {
        self.reserved
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = p.close();
        }
        self.budget.release(self.reserved);
    }
}

/// A temporary file being written; `finish` turns it into a [`TempGuard`].
pub(crate) struct TempWriter {
    out: io::BufWriter<tempfile::NamedTempFile>,
    guard: TempGuard,
    written: u64,
    limit: Option<u64>,
    pinned: u64,
}

/// The expansion passed `max_core_size`.
#[derive(Debug)]
pub(crate) struct OverLimit(pub u64);
impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "expands past the limit of {} bytes (--max-core-size)",
            self.0
        )
    }
}
impl std::error::Error for OverLimit {}

impl TempWriter {
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Reads `r` to its end into the file as the single-core expansion does
    /// ([`crate::input::expand_sparse`]: decoding on this thread, zero tests and
    /// writes on a second one, 64 KiB blocks of zeros left as holes), each buffer
    /// charged to the limit and the budget before it is written. Returns the bytes read.
    pub(crate) fn fill_sparse_from(&mut self, r: &mut dyn io::Read) -> io::Result<u64> {
        self.sparse(|sink| sink.fill_from(r)).map(|(n, _)| n)
    }

    /// Like [`TempWriter::fill_sparse_from`] for a decoder that writes (pushes) what
    /// it decodes: `body` writes into the sink it is given.
    pub(crate) fn write_sparse_with<T>(
        &mut self,
        body: impl FnOnce(&mut dyn Write) -> io::Result<T>,
    ) -> io::Result<T> {
        self.sparse(|sink| body(sink)).map(|(v, _)| v)
    }

    fn sparse<T>(
        &mut self,
        body: impl FnOnce(&mut crate::input::SparseSink<'_>) -> io::Result<T>,
    ) -> io::Result<(T, u64)> {
        self.out.flush()?;
        let start = self.written;
        let TempWriter {
            out,
            guard,
            limit,
            pinned,
            ..
        } = self;
        let file: &File = out.get_ref().as_file();
        let mut charge = |total: u64| guard.charge(*limit, *pinned, start.saturating_add(total));
        let (v, n) = crate::input::sparse_sink(file, start, &mut charge, body)?;
        self.written += n;
        // A trailing hole is not written: the file gets its length here, and its
        // position (`pwrite` left it where it was) for any later `write`.
        let file = self.out.get_mut().as_file_mut();
        if file.metadata()?.len() < self.written {
            file.set_len(self.written)?;
        }
        io::Seek::seek(file, io::SeekFrom::Start(self.written))?;
        Ok((v, n))
    }

    pub(crate) fn finish(self) -> io::Result<TempGuard> {
        let TempWriter {
            out,
            mut guard,
            written,
            ..
        } = self;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        let (f, path): (File, tempfile::TempPath) = file.into_parts();
        drop(f);
        guard.path = Some(path);
        // Give back what was reserved ahead and not written.
        if guard.reserved > written {
            guard.budget.release(guard.reserved - written);
            guard.reserved = written;
        }
        Ok(guard)
    }
}

impl Write for TempWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let after = self.written.saturating_add(buf.len() as u64);
        self.guard.charge(self.limit, self.pinned, after)?;
        let n = self.out.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Whether an I/O error is the budget or size limit (the message is then the whole story).
pub(crate) fn limit_message(e: &io::Error) -> Option<String> {
    let inner = e.get_ref()?;
    if let Some(o) = inner.downcast_ref::<OverBudget>() {
        return Some(o.to_string());
    }
    inner.downcast_ref::<OverLimit>().map(|o| o.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_shared_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let space = TempSpace::new(Some(dir.path()), 3 << 20);
        let mut w = space.create(None, 0).unwrap();
        w.write_all(&vec![1u8; 2 << 20]).unwrap();
        let g = w.finish().unwrap();
        assert!(g.path().exists());
        assert_eq!(space.budget.used(), 2 << 20);
        // Reserved ahead, given back at the end: a 10-byte file holds 10 bytes.
        let mut w3 = space.create(None, 0).unwrap();
        w3.write_all(b"0123456789").unwrap();
        assert_eq!(space.budget.used(), 3 << 20);
        let g3 = w3.finish().unwrap();
        assert_eq!(space.budget.used(), (2 << 20) + 10);
        drop(g3);
        // Alone past the budget: refused at once, not a wait.
        let mut w2 = space.create(None, 0).unwrap();
        let e = w2.write_all(&vec![1u8; 4 << 20]).unwrap_err();
        assert!(limit_message(&e).unwrap().contains("--max-temp"));
        drop(w2);
        let p = g.path().to_owned();
        drop(g);
        assert!(!p.exists());
        assert_eq!(space.budget.used(), 0);
    }

    /// The sparse fill: same bytes and length (trailing zeros included), zero
    /// blocks left as holes where the file system keeps them, the whole length
    /// charged to the budget, and the limit and the budget told as such.
    #[test]
    fn sparse_fill_keeps_bytes_leaves_holes_and_charges_the_budget() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let space = TempSpace::new(Some(dir.path()), 64 << 20);
        let mut data = vec![0u8; 12 << 20];
        data[(3 << 20) + 5] = 1;
        data[(9 << 20) + 70000] = 2;
        let mut w = space.create(None, 0).unwrap();
        let n = w.fill_sparse_from(&mut &data[..]).unwrap();
        assert_eq!(n, data.len() as u64);
        let g = w.finish().unwrap();
        assert_eq!(space.budget.used(), data.len() as u64);
        let back = std::fs::read(g.path()).unwrap();
        assert!(back == data, "same bytes, same length");
        let probe = dir.path().join("probe");
        let f = File::create(&probe).unwrap();
        f.set_len(1 << 20).unwrap();
        if f.metadata().unwrap().blocks() == 0 {
            let used = std::fs::metadata(g.path()).unwrap().blocks() * 512;
            assert!(used <= 1 << 20, "{used} bytes on disk for two data blocks");
        } else {
            eprintln!("SKIPPED hole check: the temp file system does not keep holes");
        }
        drop(g);
        let mut w = space.create(Some(5 << 20), 0).unwrap();
        let e = w.fill_sparse_from(&mut &data[..]).unwrap_err();
        assert!(
            limit_message(&e).unwrap().contains("--max-core-size"),
            "{e}"
        );
        let mut w = space.create(None, 60 << 20).unwrap();
        let e = w.fill_sparse_from(&mut &data[..]).unwrap_err();
        assert!(limit_message(&e).unwrap().contains("--max-temp"), "{e}");
    }

    #[test]
    fn waits_for_space_released_by_another_thread() {
        let dir = tempfile::tempdir().unwrap();
        let space = TempSpace::new(Some(dir.path()), 2 << 20);
        let mut w = space.create(None, 0).unwrap();
        w.write_all(&vec![1u8; 2 << 20]).unwrap();
        let g = w.finish().unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            drop(g);
        });
        let mut w2 = space.create(None, 0).unwrap();
        w2.write_all(&vec![1u8; 1 << 20]).unwrap();
        let g2 = w2.finish().unwrap();
        t.join().unwrap();
        assert_eq!(space.budget.used(), 1 << 20);
        drop(g2);
    }

    #[test]
    fn stale_run_dirs_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // PID 0x7ffffff0 does not exist (beyond pid_max).
        let stale = dir.path().join(format!("{RUN_PREFIX}2147483632-abc"));
        std::fs::create_dir(&stale).unwrap();
        std::fs::write(stale.join("x"), b"old").unwrap();
        let live = dir.path().join(format!("{RUN_PREFIX}1-abc"));
        std::fs::create_dir(&live).unwrap();
        let space = TempSpace::new(Some(dir.path()), 1 << 20);
        let _w = space.create(None, 0).unwrap();
        assert!(!stale.exists());
        assert!(live.exists(), "PID 1 is alive: its directory stays");
    }
}
