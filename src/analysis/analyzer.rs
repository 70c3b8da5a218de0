//! [`Analyzer`]: the analysis of many cores with what they share loaded once.
//!
//! ```no_run
//! use mutexdiag::analysis::{Analyzer, AnalyzerConfig, CoreOptions};
//! let a = Analyzer::new(AnalyzerConfig::default());
//! for core in ["a.core", "b.core"] {
//!     let report = a.analyze(core.as_ref(), &CoreOptions::default());
//! }
//! println!("{:?}", a.stats()); // debug files opened once, DWARF loaded once per build-id
//! ```
//!
//! Options are split in two: [`AnalyzerConfig`] is fixed for the analyzer's life
//! (where files are looked up, how much is cached), [`CoreOptions`] is given per core
//! (its executable, layout, scan, peers). An `Analyzer` is `Send + Sync`: share it by
//! reference (or `Arc`) between threads; each `analyze` call works on its own core.
//!
//! # Failure containment
//! A bad core gives an `Err` (or warnings in the report), never a panic or an
//! exit. One fault cannot be contained in-process: a core or module file that
//! another process truncates while it is mapped raises SIGBUS on the next read of
//! the vanished pages. [`crate::guard`] turns that into an error for the thread that
//! installed a guard, but a batch driver that cannot rule out such files changing
//! under it should run analyses in worker processes (as `mutexdiag triage` does).

use std::path::{Path, PathBuf};

use super::{Options, Peer, analyze_core, open_exe};
use crate::CoreFile;
use crate::coredump::Warning;
use crate::error::Result;
use crate::input::InputOptions;
use crate::mappings;
use crate::mutex::declared::DeclaredLayout;
use crate::mutex::discover::ScanScope;
use crate::report::model::Report;
use crate::symbols::cache::FileCache;
use crate::symbols::{CacheStats, DiskCache, Modules, SymbolOptions};

/// Module files kept by default (a process maps a few dozen; several programs
/// sharing a C library fit).
pub const DEFAULT_CACHE_ENTRIES: usize = 256;

/// What is fixed for the life of an [`Analyzer`]: where the files named by cores
/// are found, and how many module files are kept between cores.
#[derive(Clone, Debug)]
pub struct AnalyzerConfig {
    /// Where the cores' file paths are looked up (default `/`).
    pub sysroot: PathBuf,
    /// Extra folders holding separate debug files.
    pub debug_dirs: Vec<PathBuf>,
    /// The debuginfod client cache (read only); by default found as the client finds it.
    pub debuginfod_cache: Option<PathBuf>,
    /// At most this many verified module files (with their debug files, symbols,
    /// CFI and DWARF) are kept between cores, least recently used dropped first.
    /// 0 keeps nothing: every core loads its files afresh.
    pub cache_entries: usize,
    /// Where what the DWARF of files with a build-id yielded is kept between
    /// processes (see [`crate::symbols::diskcache`]); by default
    /// [`DiskCache::from_env`] (`$XDG_CACHE_HOME/mutexdiag`, off with
    /// `MUTEXDIAG_CACHE=off`). `None`: nothing is read or written.
    pub disk_cache: Option<DiskCache>,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            sysroot: PathBuf::from("/"),
            debug_dirs: Vec::new(),
            debuginfod_cache: SymbolOptions::default().debuginfod_cache,
            cache_entries: DEFAULT_CACHE_ENTRIES,
            disk_cache: DiskCache::from_env(),
        }
    }
}

/// What is given per core.
#[derive(Clone, Debug)]
pub struct CoreOptions {
    /// How the core file is read (decompression, size limit).
    pub input: InputOptions,
    /// The executable that produced the core (for symbols and debug info).
    pub binary: Option<PathBuf>,
    /// Force a built-in layout by name (`glibc-x86_64`, `musl-aarch64`, ...).
    pub layout: Option<String>,
    /// Which mappings to scan for locked mutexes.
    pub scan: ScanScope,
    /// Threads of that scan (see [`Options::scan_threads`]).
    pub scan_threads: usize,
    /// Cores of other processes of the same incident: foreign owners are looked up
    /// among their threads.
    pub peers: Vec<PathBuf>,
    /// User-declared lock layouts (see [`DeclaredLayout::load`]).
    pub declared_layouts: Vec<DeclaredLayout>,
    /// The process's `/proc/PID/maps` text, parsed (see [`crate::ProcMaps`]).
    pub proc_maps: Option<std::sync::Arc<crate::procmaps::ProcMaps>>,
}

impl Default for CoreOptions {
    fn default() -> Self {
        let o = Options::default();
        CoreOptions {
            input: o.input,
            binary: o.binary,
            layout: o.layout,
            scan: o.scan,
            scan_threads: o.scan_threads,
            peers: o.peers,
            declared_layouts: o.declared_layouts,
            proc_maps: o.proc_maps,
        }
    }
}

/// The analysis of cores, with module files, debug files, symbol tables, CFI and
/// DWARF shared between them (keyed by GNU build-id). `Send + Sync`.
#[derive(Debug)]
pub struct Analyzer {
    config: AnalyzerConfig,
    cache: FileCache,
}

/// What an [`Analyzer`] has done so far (counters since its creation).
pub type AnalyzerStats = CacheStats;

impl Analyzer {
    /// An analyzer with an empty cache.
    pub fn new(config: AnalyzerConfig) -> Analyzer {
        Analyzer {
            cache: FileCache::with_disk(config.cache_entries, config.disk_cache.clone()),
            config,
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &AnalyzerConfig {
        &self.config
    }

    /// Counters: module and debug files opened, DWARF loads and walks, cache hits,
    /// misses and evictions, entries held.
    pub fn stats(&self) -> AnalyzerStats {
        self.cache.stats()
    }

    /// Analyse the core at `path`. Errors name the file and what is wrong with it.
    pub fn analyze(&self, path: &Path, opts: &CoreOptions) -> Result<Report> {
        let file = CoreFile::open(path, &opts.input)?;
        let core = file.parse()?;
        // The input's own name: "standard input" for `-`, else the path given.
        let name = file.input().path().display().to_string();
        Ok(self.analyze_parsed(&core, &name, opts, Vec::new()))
    }

    /// Analyse an already parsed core (`name` is the report's `core.path`), with
    /// `warnings` the caller already has about it (they come first in the report).
    /// Not part of the API (it takes the parser's `Core`): the `mutexdiag` command
    /// reaches it through `mutexdiag::internals::analysis::analyze_parsed`.
    pub(crate) fn analyze_parsed(
        &self,
        core: &crate::coredump::Core<'_>,
        name: &str,
        opts: &CoreOptions,
        mut warnings: Vec<Warning>,
    ) -> Report {
        let exe = opts.binary.as_deref().and_then(open_exe);
        let mut peers = Vec::new();
        for p in &opts.peers {
            match Peer::open(p, &opts.input) {
                Ok(peer) => peers.push(peer),
                Err(e) => warnings.push(Warning::new("peer", format!("peer core not used: {e}"))),
            }
        }
        if let Some(b) = &opts.binary
            && exe.is_none()
        {
            warnings.push(Warning::new(
                "binary",
                format!("cannot open --binary {}: analysing without it", b.display()),
            ));
        }
        let mut maps = mappings::build(core);
        // A core that names no mapping (qemu-user): the executable's segments come from
        // --binary and the auxiliary vector.
        if let (Some(b), Some(bytes)) = (&opts.binary, exe.as_deref())
            && let Some(bias) =
                mappings::place_executable(core, &mut maps, bytes, &b.to_string_lossy())
        {
            warnings.push(Warning::new(
                "no-file-note",
                format!(
                    "the core names no mapping (no NT_FILE, as qemu-user writes them): the executable's segments were placed from --binary at load bias {bias:#x} (AT_ENTRY)"
                ),
            ));
        }
        if let Some(pm) = &opts.proc_maps {
            warnings.extend(crate::procmaps::apply(&mut maps, pm));
        }
        let symbol_opts = SymbolOptions {
            binary: opts.binary.clone(),
            sysroot: self.config.sysroot.clone(),
            debug_dirs: self.config.debug_dirs.clone(),
            debuginfod_cache: self.config.debuginfod_cache.clone(),
        };
        let modules = Modules::load_cached(core, &maps, &symbol_opts, &self.cache);
        modules.prefetch_dwarf();
        let all = self.options(opts);
        let report = analyze_core(
            &super::Inputs {
                core,
                maps: &maps,
                path: name,
                exe: exe.as_deref(),
                modules: Some(&modules),
                peers: &peers,
            },
            &all,
            warnings,
        );
        modules.persist();
        report
    }

    /// The single-core [`Options`] these per-run and per-core options make.
    fn options(&self, c: &CoreOptions) -> Options {
        Options {
            input: c.input.clone(),
            binary: c.binary.clone(),
            sysroot: self.config.sysroot.clone(),
            debug_dirs: self.config.debug_dirs.clone(),
            layout: c.layout.clone(),
            scan: c.scan,
            scan_threads: c.scan_threads,
            peers: c.peers.clone(),
            declared_layouts: c.declared_layouts.clone(),
            proc_maps: c.proc_maps.clone(),
        }
    }
}

impl Options {
    /// The per-run half of these options (no cache: the one-core case).
    pub fn analyzer_config(&self) -> AnalyzerConfig {
        AnalyzerConfig {
            sysroot: self.sysroot.clone(),
            debug_dirs: self.debug_dirs.clone(),
            debuginfod_cache: SymbolOptions::default().debuginfod_cache,
            cache_entries: 0,
            disk_cache: DiskCache::from_env(),
        }
    }

    /// The per-core half of these options.
    pub fn core_options(&self) -> CoreOptions {
        CoreOptions {
            input: self.input.clone(),
            binary: self.binary.clone(),
            layout: self.layout.clone(),
            scan: self.scan,
            scan_threads: self.scan_threads,
            peers: self.peers.clone(),
            declared_layouts: self.declared_layouts.clone(),
            proc_maps: self.proc_maps.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn analyzer_is_send_and_sync() {
        assert_send_sync::<Analyzer>();
    }
}
