//! mutexdiag: post-mortem forensics of ELF core dumps, centred on locks.
//!
//! The library is the product; the `mutexdiag` binary only parses arguments, calls
//! it and renders the result. Data flows one way:
//! input → coredump → memory → mappings → symbols → mutex → analysis → report.

//!
//! # The API
//!
//! What a program that analyses cores needs, documented and held to
//! `missing_docs`: [`analysis`] (the [`Analyzer`](analysis::Analyzer) with its
//! [`AnalyzerConfig`](analysis::AnalyzerConfig) and per-core
//! [`CoreOptions`](analysis::CoreOptions); [`analysis::analyze`] for one core),
//! [`report`] (the serialisable [`Report`](report::model::Report) and its parts, its
//! renderers), [`error`], [`input`] (opening, expanding and spooling cores),
//! [`triage`] (the batch driver: sources, worker processes, buckets, the `--db`
//! index), the crate root ([`CoreFile`], [`maps`], [`threads`]), and the types of
//! the stages that these signatures name, re-exported below ([`LockState`],
//! [`ScanScope`], [`SymbolOptions`], ...).
//!
//! # Internals
//!
//! The stages themselves (`coredump`, `memory`, `mappings`, `mutex`, `symbols`,
//! `procmaps`, `sysroot`, `guard`) are private to the crate. This repository's
//! tests, benchmarks, fuzz targets and the `mutexdiag` command reach them through
//! [`internals`], which is hidden from the documentation and not part of the API:
//! it changes with the implementation.

#![warn(missing_docs)]

pub mod analysis;
pub mod error;
pub mod input;
pub mod report;
pub mod triage;

// The stages: private, and not held to `missing_docs` (they are documented per
// module and in docs/design.md). See [`internals`].
#[allow(missing_docs)]
mod coredump;
#[allow(missing_docs)]
mod fuzzing;
#[allow(missing_docs)]
mod guard;
#[allow(missing_docs)]
mod mappings;
#[allow(missing_docs)]
mod memory;
#[allow(missing_docs)]
mod mutex;
#[allow(missing_docs)]
mod procmaps;
#[allow(missing_docs)]
mod symbols;
#[allow(missing_docs)]
mod sysroot;

/// The stages of the analysis, for this repository's tests, benchmarks, fuzz
/// targets and the `mutexdiag` command: **not part of the API**. Hidden from the
/// documentation; anything here may change or go with the implementation.
#[doc(hidden)]
pub mod internals {
    /// ELF core parsing (`Core::parse`), notes, threads, registers.
    pub mod coredump {
        pub use crate::coredump::*;
    }
    /// Entry points of the fuzz targets.
    pub mod fuzzing {
        pub use crate::fuzzing::*;
    }
    /// The SIGBUS guard of mapped inputs.
    pub mod guard {
        pub use crate::guard::*;
    }
    /// Mappings of a core, classified.
    pub mod mappings {
        pub use crate::mappings::*;
    }
    /// Reads of the core's address space.
    pub mod memory {
        pub use crate::memory::*;
    }
    /// Mutex layouts, discovery, decoding.
    pub mod mutex {
        pub use crate::mutex::*;
    }
    /// `/proc/PID/maps` texts.
    pub mod procmaps {
        pub use crate::procmaps::*;
    }
    /// Modules, symbols, debug information, unwinding.
    pub mod symbols {
        pub use crate::symbols::*;
    }
    /// Paths under a sysroot.
    pub mod sysroot {
        pub use crate::sysroot::*;
    }
    /// The pipeline of one parsed core, without the [`Analyzer`](crate::analysis::Analyzer)'s
    /// file handling (in-memory cores of tests and fuzz targets), and the
    /// `Analyzer`'s entry for an already parsed core (`mutexdiag coredumpctl`).
    pub mod analysis {
        pub use crate::analysis::inputs::Inputs;
        use crate::analysis::{Analyzer, CoreOptions, Options};
        use crate::coredump::{Core, Warning};
        use crate::report::model::Report;

        /// The analysis of an already parsed core (no file access but the optional
        /// executable bytes), `warnings` first in the report.
        pub fn analyze_core(
            inputs: &Inputs<'_, '_>,
            opts: &Options,
            warnings: Vec<Warning>,
        ) -> Report {
            crate::analysis::analyze_core(inputs, opts, warnings)
        }

        /// `analyzer`'s analysis of an already parsed core (`name` is the report's
        /// `core.path`), with `warnings` the caller already has about it.
        pub fn analyze_parsed(
            analyzer: &Analyzer,
            core: &Core<'_>,
            name: &str,
            opts: &CoreOptions,
            warnings: Vec<Warning>,
        ) -> Report {
            analyzer.analyze_parsed(core, name, opts, warnings)
        }
    }
}

// The types of the stages that the API's signatures and the report name.
pub use coredump::syscall::Confidence;
pub use coredump::{Arch, Core, CoreError, Dumped, Os, Warning};
pub use guard::install_sigbus_handler;
pub use mappings::MappingKind;
pub use mutex::declared::DeclaredLayout;
pub use mutex::discover::FoundBy;
pub use mutex::discover::ScanScope;
pub use mutex::owner::PointerClass;
pub use mutex::select::Libc;
pub use mutex::{LockState, MutexType, Protocol};
pub use procmaps::ProcMaps;
pub use symbols::unwind::FrameSource;
pub use symbols::{CacheStats, Detail, DiskCache, SymbolOptions};

pub use error::{Error, Result};

use std::path::Path;

use input::{Input, InputOptions};
use memory::AddressSpace;
use report::model::{self, MapsDoc, ThreadsDoc};

/// An opened core file. Parsing borrows from it.
#[derive(Debug)]
pub struct CoreFile {
    input: Input,
}

impl CoreFile {
    /// Open (and expand, when compressed) the core at `path`.
    pub fn open(path: &Path, opts: &InputOptions) -> Result<CoreFile> {
        Ok(CoreFile {
            input: Input::open(path, opts)?,
        })
    }

    /// An input already opened (e.g. [`input::from_reader`]).
    pub fn from_input(input: Input) -> CoreFile {
        CoreFile { input }
    }

    /// The opened input: its bytes, path and compression.
    pub fn input(&self) -> &Input {
        &self.input
    }

    /// Parse the core; errors name the file.
    pub fn parse(&self) -> Result<Core<'_>> {
        let data = self.input.data();
        let mut core = Core::parse_data(data).map_err(|source| Error::Core {
            path: self.input.path().to_owned(),
            source,
        })?;
        core.data_extents = self.input.data_extents().cloned();
        core.data_is_file_mapping = data.mapped().is_some();
        if let Some(why) = self.input.windowed_reason() {
            core.warnings.push(coredump::Warning::new(
                "windowed",
                format!("the core is read through windows, not mapped: {why}"),
            ));
        }
        Ok(core)
    }
}

/// The mappings of a core (`mutexdiag maps`).
pub fn maps(path: &Path, opts: &InputOptions) -> Result<MapsDoc> {
    maps_with(path, opts, None)
}

/// The mappings of a core, with the shared/private flags of a `/proc/PID/maps`
/// text when one is given (`mutexdiag maps --maps FILE`).
pub fn maps_with(
    path: &Path,
    opts: &InputOptions,
    proc_maps: Option<&procmaps::ProcMaps>,
) -> Result<MapsDoc> {
    let f = CoreFile::open(path, opts)?;
    let core = f.parse()?;
    let mut maps = mappings::build(&core);
    let mut warnings = core.warnings.clone();
    if let Some(pm) = proc_maps {
        warnings.extend(procmaps::apply(&mut maps, pm));
    }
    Ok(MapsDoc {
        mappings: model::mapping_models(&maps),
        warnings: model::warning_models(&warnings),
    })
}

/// The process and its threads (`mutexdiag threads`).
pub fn threads(path: &Path, opts: &InputOptions) -> Result<ThreadsDoc> {
    threads_with(path, opts, None)
}

/// What `threads --backtrace` needs: where the files are, and how much to resolve.
#[derive(Clone, Debug)]
pub struct BacktraceOptions {
    /// Where the executable, libraries and debug files are found.
    pub symbols: symbols::SymbolOptions,
    /// How much of each frame is resolved (functions, lines, inlined frames).
    pub detail: symbols::Detail,
}

/// The process and its threads, with a backtrace of each when `bt` is given.
pub fn threads_with(
    path: &Path,
    opts: &InputOptions,
    bt: Option<&BacktraceOptions>,
) -> Result<ThreadsDoc> {
    threads_with_maps(path, opts, bt, None)
}

/// [`threads_with`], with the shared/private flags of a `/proc/PID/maps` text.
pub fn threads_with_maps(
    path: &Path,
    opts: &InputOptions,
    bt: Option<&BacktraceOptions>,
    proc_maps: Option<&procmaps::ProcMaps>,
) -> Result<ThreadsDoc> {
    let f = CoreFile::open(path, opts)?;
    let core = f.parse()?;
    let mut maps = mappings::build(&core);
    let mut space = AddressSpace::new(&core);
    let mut threads = model::thread_models(&core);
    let mut warnings = model::warning_models(&core.warnings);
    if let Some(pm) = proc_maps {
        warnings.extend(model::warning_models(&procmaps::apply(&mut maps, pm)));
    }
    if let Some(bt) = bt {
        let modules = symbols::Modules::load(&core, &maps, &bt.symbols);
        warnings.extend(model::warning_models(modules.warnings()));
        // The text the core lacks (gcore cores), from the verified files.
        space = space.with_module_backing(&maps, &modules);
        let mut tracer = symbols::unwind::Backtracer::new(&modules, bt.detail);
        for (tm, t) in threads.iter_mut().zip(&core.threads) {
            let (frames, stopped) = tracer.frames(&space, core.arch, t);
            tm.frames = Some(model::frame_models(frames));
            tm.backtrace_stopped = stopped;
        }
    }
    Ok(ThreadsDoc {
        process: model::process_model(&core, &maps, &space),
        threads,
        warnings,
    })
}
