//! The files of modules, shared between the analyses of many cores.
//!
//! A [`ModuleFiles`] is what a verified module file gives: its mapping and `object`
//! parse, its separate debug file, and — built on first use — its sorted symbol
//! table, its CFI, its DWARF with the `addr2line` contexts, and the mutex variables
//! its DWARF declares. [`FileCache`] keeps them by the file's GNU build-id (or by
//! path, size and modification time for a file without one), bounded in count with
//! least-recently-used eviction, `Send + Sync`: cores that share a C library read its
//! debug information once. An entry evicted while a core still uses it lives on
//! until that core's [`super::Modules`] is dropped.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use parking_lot::ReentrantMutex;

use super::diskcache::{DiskCache, Entry, FoundRec, Memo, SiteRec};
use super::dwarf::{DwarfCell, Inflating};
use super::elf::ElfCell;
use super::modules::{NameEntry, SymEntry};
use super::unwind::Cfi;

/// How a module file is known in the cache.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum FileKey {
    /// The file's GNU build-id.
    BuildId(Vec<u8>),
    /// A file without a build-id: its path, size and modification time (ns).
    Path(PathBuf, u64, i128),
}

/// Counters of the work done on module files (monotonic, for tests and benchmarks).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) module_files_opened: AtomicU64,
    pub(crate) debug_files_opened: AtomicU64,
    pub(crate) dwarf_loads: AtomicU64,
    pub(crate) dwarf_variable_walks: AtomicU64,
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) dwarf_sections_read: AtomicU64,
    pub(crate) disk_entries_read: AtomicU64,
    pub(crate) disk_entries_rejected: AtomicU64,
    pub(crate) disk_entries_written: AtomicU64,
    pub(crate) answers_reused: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// A snapshot of the counters of a `FileCache` (see [`crate::analysis::Analyzer::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Module files (executables, libraries) mapped and parsed to check them
    /// against a core (done for every core: the build-id must be read).
    pub module_files_opened: u64,
    /// Separate debug files mapped and parsed (only on a cache miss).
    pub debug_files_opened: u64,
    /// DWARF sections loaded (and inflated when compressed) for a module.
    pub dwarf_loads: u64,
    /// Walks of every DIE of a module's DWARF looking for mutex variables.
    pub dwarf_variable_walks: u64,
    /// Verified module files found in the cache.
    pub hits: u64,
    /// Verified module files not in the cache (loaded and inserted).
    pub misses: u64,
    /// Entries dropped to keep the cache within its bound.
    pub evictions: u64,
    /// Entries held now.
    pub entries: u64,
    /// DWARF sections read from module or debug files (inflated when compressed).
    pub dwarf_sections_read: u64,
    /// Entries of the on-disk cache read and used (see [`super::diskcache`]).
    pub disk_entries_read: u64,
    /// Entries of the on-disk cache found unusable (corrupt) and ignored.
    pub disk_entries_rejected: u64,
    /// Entries of the on-disk cache written.
    pub disk_entries_written: u64,
    /// Answers from DWARF (source frames, call sites, mutex variables) given again
    /// without reading the DWARF: asked before, in this process or (through the
    /// on-disk cache) in an earlier one.
    pub answers_reused: u64,
}

/// The mutex variables of one module's DWARF, by type-name set (link-time addresses).
pub(crate) type VarsResult = Result<crate::mutex::dwarf::Found, String>;

/// What a module's files give; shared between cores (`Send + Sync`).
pub(crate) struct ModuleFiles {
    /// The verified module file (or the vDSO's bytes from the core).
    pub(crate) elf: Option<ElfCell>,
    /// Its separate debug file.
    pub(crate) debug: Option<ElfCell>,
    pub(crate) debug_file: Option<PathBuf>,
    /// The module file holds DWARF of its own.
    pub(crate) has_own_dwarf: bool,
    /// DWARF and `addr2line` contexts. The contexts fill lazily (not `Sync`), so
    /// use is serialised per module; reentrant, because a use may nest another.
    pub(crate) dwarf: OnceLock<Option<ReentrantMutex<DwarfCell>>>,
    /// The DWARF file's zlib-compressed sections, inflated lazily: shared by the
    /// `DwarfCell` and the threads that inflate them ahead (which need not wait
    /// for, nor lock, the `DwarfCell`).
    lazy: OnceLock<Vec<(gimli::SectionId, Arc<Inflating>)>>,
    pub(crate) syms: OnceLock<Vec<SymEntry>>,
    /// Defined symbols by name hash (see `Module::find_symbol`).
    pub(crate) names: OnceLock<Vec<NameEntry>>,
    /// Lookups by name so far (see `Module::find_symbol`).
    pub(crate) name_lookups: std::sync::atomic::AtomicU32,
    pub(crate) cfi: OnceLock<Option<Cfi>>,
    /// Mutex variables found in the DWARF, per set of type names.
    pub(crate) vars: Mutex<Vec<(Vec<String>, Arc<VarsResult>)>>,
    /// Answers already computed from the DWARF (frames, call sites), by address.
    pub(crate) memo: Mutex<Memo>,
    /// The on-disk cache and this file's build-id, when its answers are kept there.
    disk: Option<(Arc<DiskCache>, Vec<u8>)>,
    /// Its answers came from an entry of the on-disk cache.
    from_disk: bool,
    pub(crate) counters: Arc<Counters>,
}

impl std::fmt::Debug for ModuleFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleFiles")
            .field("debug_file", &self.debug_file)
            .field("has_own_dwarf", &self.has_own_dwarf)
            .finish()
    }
}

impl ModuleFiles {
    pub(crate) fn new(
        elf: Option<ElfCell>,
        debug: Option<(PathBuf, ElfCell)>,
        counters: Arc<Counters>,
    ) -> ModuleFiles {
        let has_own_dwarf = elf.as_ref().is_some_and(ElfCell::has_dwarf);
        let (debug_file, debug) = match debug {
            Some((p, c)) => (Some(p), Some(c)),
            None => (None, None),
        };
        ModuleFiles {
            elf,
            debug,
            debug_file,
            has_own_dwarf,
            dwarf: OnceLock::new(),
            lazy: OnceLock::new(),
            syms: OnceLock::new(),
            names: OnceLock::new(),
            name_lookups: std::sync::atomic::AtomicU32::new(0),
            cfi: OnceLock::new(),
            vars: Mutex::new(Vec::new()),
            memo: Mutex::new(Memo::default()),
            disk: None,
            from_disk: false,
            counters,
        }
    }

    /// Keep this file's answers in the on-disk cache under `build_id`, starting
    /// from the entry already there. A corrupt entry is ignored with a warning on
    /// standard error (and replaced on the next write).
    pub(crate) fn with_disk(mut self, disk: Arc<DiskCache>, build_id: Vec<u8>) -> ModuleFiles {
        if !self.has_own_dwarf && self.debug.is_none() {
            return self; // no DWARF: nothing to keep
        }
        match disk.load(&build_id) {
            Ok(Some(e)) => {
                Counters::bump(&self.counters.disk_entries_read);
                self.memo = Mutex::new(Memo::from_entry(&e));
                self.from_disk = true;
                self.vars = Mutex::new(
                    e.vars
                        .iter()
                        .map(|(k, r)| {
                            let r = r
                                .as_ref()
                                .map(crate::mutex::dwarf::Found::from)
                                .map_err(Clone::clone);
                            (k.clone(), Arc::new(r))
                        })
                        .collect(),
                );
            }
            // No usable entry: one is written after this core even when it asked
            // the DWARF nothing, so that the next run knows the file was seen
            // (and does not read its DWARF ahead: see `wants_prefetch`).
            Ok(None) => self.memo.get_mut().unwrap_or_else(|e| e.into_inner()).dirty = true,
            Err(e) => {
                Counters::bump(&self.counters.disk_entries_rejected);
                eprintln!("mutexdiag: warning: cache entry ignored: {e}");
                self.memo.get_mut().unwrap_or_else(|e| e.into_inner()).dirty = true;
            }
        }
        self.disk = Some((disk, build_id));
        self
    }

    /// Write this file's answers to the on-disk cache when new ones were added.
    /// Failures are warnings on standard error: the cache is an optimisation.
    pub(crate) fn persist(&self) {
        let Some((disk, id)) = &self.disk else { return };
        // The same lock order as `mutex_variables`: vars, then memo.
        let vars = self.vars.lock().unwrap_or_else(|e| e.into_inner());
        let mut memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
        if !memo.dirty {
            return;
        }
        let mut entry = Entry {
            frames: memo
                .frames
                .iter()
                .map(|((a, d), f)| (*a, *d, f.clone()))
                .collect(),
            sites: memo
                .sites
                .iter()
                .map(|(a, s)| {
                    (
                        *a,
                        s.as_ref().map(|v| v.iter().map(SiteRec::from).collect()),
                    )
                })
                .collect(),
            vars: vars
                .iter()
                .map(|(k, r)| {
                    (
                        k.clone(),
                        r.as_ref()
                            .as_ref()
                            .map(FoundRec::from)
                            .map_err(Clone::clone),
                    )
                })
                .collect(),
            params: Vec::new(),
        };
        entry.params = memo
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // A stable order: the same answers give the same file.
        entry.params.sort_by(|a, b| a.0.cmp(&b.0));
        entry.frames.sort_by_key(|(a, d, _)| (*a, *d));
        entry.sites.sort_by_key(|(a, _)| *a);
        memo.dirty = false;
        drop(memo);
        drop(vars);
        match disk.store(id, &entry) {
            Ok(()) => Counters::bump(&self.counters.disk_entries_written),
            Err(e) => eprintln!("mutexdiag: warning: cache entry not written: {e}"),
        }
    }

    /// Has DWARF, not read yet, and no answer from it known, in memory or on
    /// disk (see `Modules::prefetch_dwarf`).
    pub(crate) fn wants_prefetch(&self) -> bool {
        (self.has_own_dwarf || self.debug.is_some())
            && !self.from_disk
            && self.dwarf.get().is_none()
            && self
                .memo
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .frames
                .is_empty()
    }

    /// The source frames computed before at this (address, detail bits).
    pub(crate) fn memo_frames(&self, key: (u64, u8)) -> Option<Vec<super::SourceFrame>> {
        let memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
        let r = memo.frames.get(&key).cloned();
        if r.is_some() {
            Counters::bump(&self.counters.answers_reused);
        }
        r
    }

    pub(crate) fn memo_put_frames(&self, key: (u64, u8), frames: &[super::SourceFrame]) {
        let mut memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
        if memo.frames.len() < super::diskcache::MAX_ANSWERS {
            memo.frames.insert(key, frames.to_vec());
            memo.dirty = true;
        }
    }

    /// The location of a parameter found before.
    pub(crate) fn memo_param(
        &self,
        key: &super::diskcache::ParamKey,
    ) -> Option<Result<super::abort_msg::ParamLocation, String>> {
        let memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
        let r = memo.params.get(key).cloned();
        if r.is_some() {
            Counters::bump(&self.counters.answers_reused);
        }
        r
    }

    pub(crate) fn memo_put_param(
        &self,
        key: super::diskcache::ParamKey,
        loc: &Result<super::abort_msg::ParamLocation, String>,
    ) {
        let mut memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
        if memo.params.len() < super::diskcache::MAX_ANSWERS {
            memo.params.insert(key, loc.clone());
            memo.dirty = true;
        }
    }

    /// The call sites computed before for the function at this address.
    pub(crate) fn memo_sites(&self, vaddr: u64) -> Option<Option<Vec<super::tailcall::CallSite>>> {
        let memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
        let r = memo.sites.get(&vaddr).cloned();
        if r.is_some() {
            Counters::bump(&self.counters.answers_reused);
        }
        r
    }

    pub(crate) fn memo_put_sites(
        &self,
        vaddr: u64,
        sites: &Option<Vec<super::tailcall::CallSite>>,
    ) {
        let mut memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
        if memo.sites.len() < super::diskcache::MAX_ANSWERS {
            memo.sites.insert(vaddr, sites.clone());
            memo.dirty = true;
        }
    }

    /// The file that holds DWARF: the module file itself or its debug file.
    fn dwarf_elf(&self) -> Option<&ElfCell> {
        if self.has_own_dwarf {
            self.elf.as_ref()
        } else {
            self.debug.as_ref()
        }
    }

    /// The zlib-compressed DWARF sections, as [`Inflating`]s (nothing inflated
    /// until asked: see `Modules::prefetch_dwarf`).
    pub(crate) fn lazy_sections(&self) -> &[(gimli::SectionId, Arc<Inflating>)] {
        self.lazy.get_or_init(|| {
            self.dwarf_elf()
                .map(super::dwarf::lazy_sections)
                .unwrap_or_default()
        })
    }

    pub(crate) fn dwarf(&self) -> Option<&ReentrantMutex<DwarfCell>> {
        self.dwarf
            .get_or_init(|| {
                let e = self.dwarf_elf()?;
                Counters::bump(&self.counters.dwarf_loads);
                let c = DwarfCell::load(e, self.lazy_sections())?;
                self.counters
                    .dwarf_sections_read
                    .fetch_add(c.sections_read(), Ordering::Relaxed);
                Some(ReentrantMutex::new(c))
            })
            .as_ref()
    }

    /// The mutex variables of the DWARF for these type names, walked once per file.
    pub(crate) fn mutex_variables(&self, names: &[&str]) -> Option<Arc<VarsResult>> {
        let key: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut vars = self.vars.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, r)) = vars.iter().find(|(k, _)| *k == key) {
            Counters::bump(&self.counters.answers_reused);
            return Some(r.clone());
        }
        let cell = self.dwarf()?;
        Counters::bump(&self.counters.dwarf_variable_walks);
        let r = {
            let g = cell.lock();
            g.with_dependent(|owner, dep| match dep.dwarf(owner) {
                Some(d) => crate::mutex::dwarf::find(d, names),
                None => Ok(crate::mutex::dwarf::Found::default()),
            })
        };
        let r = Arc::new(r.map_err(|e| e.to_string()));
        vars.push((key, r.clone()));
        self.memo.lock().unwrap_or_else(|e| e.into_inner()).dirty = true;
        Some(r)
    }
}

/// Verified module files by build-id, bounded (least recently used go first).
#[derive(Debug)]
pub(crate) struct FileCache {
    capacity: usize,
    /// Where the answers of files with a build-id are kept between processes.
    pub(crate) disk: Option<Arc<DiskCache>>,
    inner: Mutex<Lru>,
    pub(crate) counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Lru {
    tick: u64,
    map: HashMap<FileKey, (u64, Arc<ModuleFiles>)>,
}

impl FileCache {
    /// A cache of at most `capacity` module files (0: nothing is kept between cores).
    pub(crate) fn new(capacity: usize) -> FileCache {
        FileCache {
            capacity,
            disk: None,
            inner: Mutex::new(Lru::default()),
            counters: Arc::new(Counters::default()),
        }
    }

    /// A cache of at most `capacity` module files whose DWARF answers are also
    /// kept in `disk` (see [`super::diskcache`]).
    pub(crate) fn with_disk(capacity: usize, disk: Option<DiskCache>) -> FileCache {
        FileCache {
            disk: disk.map(Arc::new),
            ..FileCache::new(capacity)
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        // A panic while holding the lock leaves the map consistent (every update is
        // one insert or remove), so a poisoned lock is used as is.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get(&self, key: &FileKey) -> Option<Arc<ModuleFiles>> {
        let mut l = self.lock();
        l.tick += 1;
        let t = l.tick;
        let r = l.map.get_mut(key).map(|(used, f)| {
            *used = t;
            f.clone()
        });
        drop(l);
        Counters::bump(if r.is_some() {
            &self.counters.hits
        } else {
            &self.counters.misses
        });
        r
    }

    pub(crate) fn insert(&self, key: FileKey, files: Arc<ModuleFiles>) {
        if self.capacity == 0 {
            return;
        }
        let mut l = self.lock();
        l.tick += 1;
        let t = l.tick;
        l.map.insert(key, (t, files));
        while l.map.len() > self.capacity {
            let Some(oldest) = l
                .map
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            l.map.remove(&oldest);
            Counters::bump(&self.counters.evictions);
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            module_files_opened: g(&c.module_files_opened),
            debug_files_opened: g(&c.debug_files_opened),
            dwarf_loads: g(&c.dwarf_loads),
            dwarf_variable_walks: g(&c.dwarf_variable_walks),
            hits: g(&c.hits),
            misses: g(&c.misses),
            evictions: g(&c.evictions),
            entries: self.lock().map.len() as u64,
            dwarf_sections_read: g(&c.dwarf_sections_read),
            disk_entries_read: g(&c.disk_entries_read),
            disk_entries_rejected: g(&c.disk_entries_rejected),
            disk_entries_written: g(&c.disk_entries_written),
            answers_reused: g(&c.answers_reused),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn shared_parts_are_send_and_sync() {
        assert_send_sync::<ModuleFiles>();
        assert_send_sync::<FileCache>();
    }

    #[test]
    fn least_recently_used_goes_first() {
        let c = FileCache::new(2);
        let f = || Arc::new(ModuleFiles::new(None, None, c.counters.clone()));
        let k = |i: u8| FileKey::BuildId(vec![i]);
        c.insert(k(1), f());
        c.insert(k(2), f());
        assert!(c.get(&k(1)).is_some()); // 1 is now newer than 2
        c.insert(k(3), f());
        assert!(c.get(&k(2)).is_none());
        assert!(c.get(&k(1)).is_some());
        assert!(c.get(&k(3)).is_some());
        let s = c.stats();
        assert_eq!((s.entries, s.evictions, s.hits, s.misses), (2, 1, 3, 1));
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let c = FileCache::new(0);
        c.insert(
            FileKey::BuildId(vec![1]),
            Arc::new(ModuleFiles::new(None, None, c.counters.clone())),
        );
        assert!(c.get(&FileKey::BuildId(vec![1])).is_none());
    }
}
