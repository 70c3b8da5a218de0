//! Symbols and stacks: the ELF modules of a core, their debug information,
//! symbolization of addresses and unwinding of every thread.
//!
//! ```text
//! let maps = mappings::build(&core);
//! let modules = symbols::Modules::load(&core, &maps, &SymbolOptions::new(binary, sysroot, debug_dirs));
//! modules.warnings()                      // missing files, build-id mismatches
//! for m in modules.iter() {               // Module: name, kind, file, start/end, bias,
//!     m.status                            //   core_build_id / file_build_id / status,
//!     m.object()                          //   object::File of the verified file
//!     m.debug_object()                    //   object::File of the separate debug file
//!     m.with_dwarf(|dwarf| ...)           //   gimli::Dwarf (link-time addresses: + m.bias)
//! }
//! modules.find_symbol("__abort_msg")      // -> SymbolAddress { address (runtime), size, module }
//! modules.data_symbol(addr)               // -> DataSymbol { name: "config_lock", offset, .. }
//! modules.symbolize(addr)                 // -> Symbol { module, offset, function, file, line, frames }
//! unwind::backtrace(&space, &modules, core.arch, thread, Detail::FULL)  // -> Backtrace { frames, stopped }
//! let mut tracer = unwind::Backtracer::new(&modules, Detail::FULL);  // many threads of one core:
//! tracer.frames(&space, core.arch, thread)  // -> (&[Frame], stopped); symbols shared between threads
//! abort_msg::abort_message(&space, &modules)        // -> AbortMessage { text, assertion }
//! abort_msg::mutex_assertion(&core, &space, &modules, &msg)  // -> MutexAssertion { tid, mutex, how }
//! ```
//!
//! Files are memory-mapped and parsed lazily (DWARF on first use); nothing here
//! prints or keeps global state, and [`Modules`] is `Send`. Paths read from the core
//! are joined under the sysroot and never leave it. Nothing is fetched from the
//! network: the debuginfod client *cache* is read, the server never asked.

pub mod abort_msg;
pub(crate) mod cache;
pub mod diskcache;
mod dwarf;
mod elf;
pub mod modules;
pub mod symbolize;
mod tailcall;
pub mod unwind;

use std::path::PathBuf;

pub use cache::CacheStats;
pub use diskcache::DiskCache;
pub use dwarf::Reader;
pub use elf::{HeaderInfo, LoadSegment, parse_header};
pub use modules::{
    BuildIdStatus, Module, ModuleKind, ModuleMapping, Modules, SymbolAddress, join_sysroot,
};
pub use symbolize::{DataSymbol, Detail, SourceFrame, Symbol, demangle, mangled_non_object};

#[warn(missing_docs)] // public API (re-exported at the crate root)
/// Where to find the files of a core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolOptions {
    /// The executable, when it is not at its recorded path under the sysroot.
    pub binary: Option<PathBuf>,
    /// Paths named in the core are looked up under this directory (`/` by default).
    pub sysroot: PathBuf,
    /// Extra directories of debug files (searched by build-id, `.build-id/xx/rest.debug`,
    /// and by `.gnu_debuglink` name), before the sysroot's `/usr/lib/debug`.
    pub debug_dirs: Vec<PathBuf>,
    /// The debuginfod client cache (`BUILDID/debuginfo` files), read only.
    pub debuginfod_cache: Option<PathBuf>,
}

impl SymbolOptions {
    /// Options with the debuginfod client cache found as the client finds it:
    /// `$DEBUGINFOD_CACHE_PATH`, else `$XDG_CACHE_HOME/debuginfod_client`, else
    /// `~/.cache/debuginfod_client`.
    pub fn new(binary: Option<PathBuf>, sysroot: PathBuf, debug_dirs: Vec<PathBuf>) -> Self {
        SymbolOptions {
            binary,
            sysroot,
            debug_dirs,
            debuginfod_cache: default_debuginfod_cache(),
        }
    }
}

impl Default for SymbolOptions {
    fn default() -> Self {
        SymbolOptions::new(None, PathBuf::from("/"), Vec::new())
    }
}

fn default_debuginfod_cache() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("DEBUGINFOD_CACHE_PATH")
        .or_else(|| var("XDG_CACHE_HOME").map(|x| x.join("debuginfod_client")))
        .or_else(|| var("HOME").map(|h| h.join(".cache").join("debuginfod_client")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn modules_are_send() {
        assert_send::<Modules>();
    }
}
