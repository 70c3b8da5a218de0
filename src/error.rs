//! Library errors. Every variant names the input and what is wrong with it, so a
//! message can be shown to a user as it is.

//! Every variant has `path`, the input it is about; the other fields are what the
//! message says.

use std::io;
use std::path::PathBuf;

use crate::coredump::CoreError;

/// An error that stops the analysis of one input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input cannot be opened.
    #[error("{path}: cannot open: {source}", path = .path.display())]
    Open {
        /// The input.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// The input cannot be mapped into memory.
    #[error("{path}: cannot map into memory: {source}", path = .path.display())]
    Map {
        /// The input.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// The input has no bytes.
    #[error("{path}: is empty (0 bytes): nothing to analyse", path = .path.display())]
    Empty {
        /// The input.
        path: PathBuf,
    },

    /// Compressed data that cannot be expanded.
    #[error("{path}: {format}-compressed data is corrupt or truncated: {source}", path = .path.display())]
    Decompress {
        /// The input.
        path: PathBuf,
        /// The compression (`zstd`, `xz`, `lz4`, `gzip`).
        format: &'static str,
        /// The underlying error.
        source: io::Error,
    },

    /// A compressed core that expands past `--max-core-size`.
    #[error(
        "{path}: {format}-compressed core expands past the limit of {limit} bytes; refusing it \
         (raise the limit with --max-core-size if this core is genuine)",
        path = .path.display()
    )]
    TooLarge {
        /// The input.
        path: PathBuf,
        /// The compression (`zstd`, `xz`, `lz4`, `gzip`).
        format: &'static str,
        /// The limit, in bytes.
        limit: u64,
    },

    /// No temporary file for the expanded or spooled core.
    #[error(
        "{path}: cannot create a temporary file in {dir} to hold the core: {source} \
         (choose another folder with --temp-dir)",
        path = .path.display(),
        dir = .dir.display()
    )]
    TempFile {
        /// The input.
        path: PathBuf,
        /// The temporary folder.
        dir: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// Writing the temporary copy of the core failed.
    #[error(
        "{path}: cannot write the temporary copy of the core in {dir}: {source}{hint} \
         (choose another folder with --temp-dir)",
        path = .path.display(),
        dir = .dir.display(),
        hint = if .source.raw_os_error() == Some(28) { " (the folder is full)" } else { "" }
    )]
    TempWrite {
        /// The input.
        path: PathBuf,
        /// The temporary folder.
        dir: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// A core read from a stream that is larger than the limit.
    #[error(
        "{path}: the core is larger than the limit of {limit} bytes; refusing it (the limit \
         is --max-core-size, by default the lesser of 64 GiB and the free space in {dir})",
        path = .path.display(),
        dir = .dir.display()
    )]
    SpoolTooLarge {
        /// The input.
        path: PathBuf,
        /// The temporary folder.
        dir: PathBuf,
        /// The limit, in bytes.
        limit: u64,
    },

    /// Reading the input failed.
    #[error("{path}: cannot read: {source}", path = .path.display())]
    Read {
        /// The input.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// The input is not a core this tool can read (see [`CoreError`]).
    #[error("{path}: {source}", path = .path.display())]
    Core {
        /// The input.
        path: PathBuf,
        /// The underlying error.
        source: CoreError,
    },
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

/// A result whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
