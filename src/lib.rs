//! mutexdiag: post-mortem forensics of ELF core dumps, centred on locks.
//!
//! The library is the product; the `mutexdiag` binary only parses arguments, calls
//! it and renders the result. Data flows one way:
//! input → [`coredump`] → [`memory`] → [`mappings`] → analysis → report.

#![warn(missing_docs)]

pub mod analysis;
pub mod error;
pub mod input;
pub mod report;

// The stages below are public for the tests, benchmarks and fuzz targets of this
// repository and for tools that want the pieces (a core's threads, its mappings,
// its modules); their documentation is in the module comments and docs/design.md,
// and their items are not held to `missing_docs`.
#[allow(missing_docs)]
pub mod coredump;
#[doc(hidden)]
#[allow(missing_docs)]
pub mod fuzzing;
#[allow(missing_docs)]
pub mod guard;
#[allow(missing_docs)]
pub mod mappings;
#[allow(missing_docs)]
pub mod memory;
#[allow(missing_docs)]
pub mod mutex;
#[allow(missing_docs)]
pub mod procmaps;
#[allow(missing_docs)]
pub mod symbols;
#[allow(missing_docs)]
pub mod sysroot;
pub mod triage;

pub use error::{Error, Result};

use std::path::Path;

use coredump::Core;
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
        let mut core = Core::parse(self.input.bytes()).map_err(|source| Error::Core {
            path: self.input.path().to_owned(),
            source,
        })?;
        core.data_extents = self.input.data_extents().cloned();
        core.data_is_file_mapping = true;
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
        for (tm, t) in threads.iter_mut().zip(&core.threads) {
            let b = symbols::unwind::backtrace(&space, &modules, core.arch, t, bt.detail);
            tm.frames = Some(model::frame_models(&b.frames));
            tm.backtrace_stopped = b.stopped;
        }
    }
    Ok(ThreadsDoc {
        process: model::process_model(&core, &maps, &space),
        threads,
        warnings,
    })
}
