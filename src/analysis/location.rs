//! Where a mutex lives, as facts ("the .bss of app", "a SysV segment with key
//! 0x…"), made during the analysis and rendered to the report's `location` text by
//! `Display` when the report is built.

use std::fmt;

use crate::mappings::Place;

/// Where a mutex lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    /// A section of a module (`.bss of app`, `.data of libc.so.6`).
    Section { section: String, module: String },
    /// A read-only (not writable) file mapping: `app (r--p)`.
    File { file: String, perms: String },
    /// Anonymous private memory that is no module's `.bss`.
    AnonymousPrivate,
    /// The heap.
    Heap,
    /// Any other mapping, as [`Place`] names it (SysV segment, stack, heap, ...).
    Mapping(Place),
    /// In no mapping of the core.
    Unmapped,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Section { section, module } => write!(f, "{section} of {module}"),
            Location::File { file, perms } => write!(f, "{file} ({perms})"),
            Location::AnonymousPrivate => f.write_str("anonymous private memory"),
            Location::Heap => f.write_str("heap"),
            Location::Mapping(p) => p.fmt(f),
            Location::Unmapped => f.write_str("unmapped"),
        }
    }
}
