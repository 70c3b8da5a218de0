//! Library errors. Every variant names the input and what is wrong with it, so a
//! message can be shown to a user as it is.

// Not yet documented item by item (issue 9): the report's fields are described in
// docs/json.md, the error variants by their messages, the codes in docs/findings.md.
#![allow(missing_docs)]

use std::io;
use std::path::PathBuf;

use crate::coredump::CoreError;

/// An error that stops the analysis of one input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: cannot open: {source}", path = .path.display())]
    Open { path: PathBuf, source: io::Error },

    #[error("{path}: cannot map into memory: {source}", path = .path.display())]
    Map { path: PathBuf, source: io::Error },

    #[error("{path}: is empty (0 bytes): nothing to analyse", path = .path.display())]
    Empty { path: PathBuf },

    #[error("{path}: {format}-compressed data is corrupt or truncated: {source}", path = .path.display())]
    Decompress {
        path: PathBuf,
        format: &'static str,
        source: io::Error,
    },

    #[error(
        "{path}: {format}-compressed core expands past the limit of {limit} bytes; refusing it \
         (raise the limit with --max-core-size if this core is genuine)",
        path = .path.display()
    )]
    TooLarge {
        path: PathBuf,
        format: &'static str,
        limit: u64,
    },

    #[error(
        "{path}: cannot create a temporary file in {dir} to hold the core: {source} \
         (choose another folder with --temp-dir)",
        path = .path.display(),
        dir = .dir.display()
    )]
    TempFile {
        path: PathBuf,
        dir: PathBuf,
        source: io::Error,
    },

    #[error(
        "{path}: cannot write the temporary copy of the core in {dir}: {source}{hint} \
         (choose another folder with --temp-dir)",
        path = .path.display(),
        dir = .dir.display(),
        hint = if .source.raw_os_error() == Some(28) { " (the folder is full)" } else { "" }
    )]
    TempWrite {
        path: PathBuf,
        dir: PathBuf,
        source: io::Error,
    },

    #[error(
        "{path}: the core is larger than the limit of {limit} bytes; refusing it (the limit \
         is --max-core-size, by default the lesser of 64 GiB and the free space in {dir})",
        path = .path.display(),
        dir = .dir.display()
    )]
    SpoolTooLarge {
        path: PathBuf,
        dir: PathBuf,
        limit: u64,
    },

    #[error("{path}: cannot read: {source}", path = .path.display())]
    Read { path: PathBuf, source: io::Error },

    #[error("{path}: {source}", path = .path.display())]
    Core { path: PathBuf, source: CoreError },
}

impl Error {
    /// A short stable name for the kind of error (for JSON output and tests).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Open { .. } => "open",
            Error::Map { .. } => "map",
            Error::Empty { .. } => "empty",
            Error::Decompress { .. } => "decompress",
            Error::TooLarge { .. } | Error::SpoolTooLarge { .. } => "too-large",
            Error::TempFile { .. } | Error::TempWrite { .. } => "temp-file",
            Error::Read { .. } => "read",
            Error::Core { source, .. } => source.code(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
