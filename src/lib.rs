//! mutexdiag: post-mortem forensics of ELF core dumps, centred on locks.
//!
//! The library is the product; the `mutexdiag` binary only parses arguments, calls
//! it and renders the result. Data flows one way:
//! input → [`coredump`] → [`memory`] → [`mappings`] → analysis → report.

pub mod analysis;
pub mod coredump;
pub mod error;
pub mod input;
pub mod mappings;
pub mod memory;
pub mod mutex;
pub mod report;
pub mod symbols;

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
    pub fn open(path: &Path, opts: &InputOptions) -> Result<CoreFile> {
        Ok(CoreFile {
            input: Input::open(path, opts)?,
        })
    }

    pub fn input(&self) -> &Input {
        &self.input
    }

    pub fn parse(&self) -> Result<Core<'_>> {
        Core::parse(self.input.bytes()).map_err(|source| Error::Core {
            path: self.input.path().to_owned(),
            source,
        })
    }
}

/// The mappings of a core (`mutexdiag maps`).
pub fn maps(path: &Path, opts: &InputOptions) -> Result<MapsDoc> {
    let f = CoreFile::open(path, opts)?;
    let core = f.parse()?;
    let maps = mappings::build(&core);
    Ok(MapsDoc {
        mappings: model::mapping_models(&maps),
        warnings: model::warning_models(&core.warnings),
    })
}

/// The process and its threads (`mutexdiag threads`).
pub fn threads(path: &Path, opts: &InputOptions) -> Result<ThreadsDoc> {
    let f = CoreFile::open(path, opts)?;
    let core = f.parse()?;
    let maps = mappings::build(&core);
    let space = AddressSpace::new(&core);
    Ok(ThreadsDoc {
        process: model::process_model(&core, &maps, &space),
        threads: model::thread_models(&core),
        warnings: model::warning_models(&core.warnings),
    })
}
