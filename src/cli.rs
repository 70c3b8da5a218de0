//! Command-line definitions (clap derive). `main.rs` turns them into library calls.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "mutexdiag",
    version,
    about = "Post-mortem forensics of ELF core dumps, centred on locks",
    long_about = "mutexdiag reads an ELF core dump (plain or zstd/xz/lz4/gzip-compressed), \
finds the mutexes in it, decodes their type, state and owner, places them on the \
process's mappings (SysV/POSIX shared memory, memfd, heap, stacks, ...) and explains \
what went wrong: a process-private mutex used across processes, a lost wake-up, an \
abandoned lock, a deadlock.\n\n\
Run `mutexdiag CORE` (same as `mutexdiag analyze CORE`) for the full report.",
    after_help = "Exit status: 0 no error finding, 1 at least one error finding, 2 the input could not be analysed."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Write the output to FILE instead of standard output (any command).
    #[arg(short = 'o', long = "output", value_name = "FILE", global = true)]
    pub output: Option<PathBuf>,
    /// Colour in text output: auto (a terminal, unless NO_COLOR is set;
    /// CLICOLOR_FORCE forces it), always or never.
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, global = true)]
    pub color: ColorWhen,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Analyse the locks in a core (the default: `mutexdiag CORE` = `mutexdiag analyze CORE`).
    Analyze(AnalyzeArgs),
    /// List the process's mappings (like pmap), classified and with what the core holds.
    Maps(CoreArgs),
    /// List the process and its threads: registers, thread pointers, futex waits,
    /// and with --backtrace the stack of each.
    Threads(ThreadsArgs),
    /// Explain a finding code (e.g. `mutexdiag explain cross-process-private-mutex`);
    /// without a code, list them all.
    Explain {
        /// The finding code.
        code: Option<String>,
    },
    /// Triage a crash archive: many cores (directories, tar archives,
    /// systemd-coredump, apport, ABRT), bucketed into distinct bugs and linked into
    /// incidents across processes.
    Triage(crate::triage_cmd::TriageArgs),
    /// (internal) Analyse cores for `triage`: JSON lines on stdin and stdout.
    #[command(hide = true)]
    TriageWorker,
    /// Cores captured by systemd-coredump: list them (`coredumpctl list`), or
    /// analyse the one MATCH selects (or the newest, with --last), with the
    /// executable coredumpctl records.
    Coredumpctl(CoredumpctlArgs),
    /// Print a shell completion script (e.g. `mutexdiag completions bash >
    /// /etc/bash_completion.d/mutexdiag`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff; docs/mutexdiag.1 is this output).
    Man,
}

#[derive(Args, Debug, Clone)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub core: CoreArgs,
    /// The executable that produced the core (symbols, debug info, build-id check).
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// Where file paths recorded in the core are looked up.
    #[arg(long, default_value = "/")]
    pub sysroot: PathBuf,
    /// A folder with separate debug files (repeatable).
    #[arg(long = "debug-dir")]
    pub debug_dirs: Vec<PathBuf>,
    /// Force the mutex layout by name (glibc-x86_64, glibc-i386, musl-x86_64,
    /// solaris-amd64, solaris-sparcv9, ...), or add a layout declared in a TOML file
    /// (`--layout FILE.toml`, repeatable; format in docs/layouts.md, "Declared
    /// layouts").
    #[arg(long = "layout")]
    pub layouts: Vec<String>,
    /// Which memory to scan for locked mutexes: shared mappings, every writable
    /// mapping, or none.
    #[arg(long, value_enum, default_value_t = Scan::Shared)]
    pub scan: Scan,
    /// The core of another process of the same incident (repeatable): owners that are
    /// not threads of CORE are looked up among its threads.
    #[arg(long = "peer")]
    pub peers: Vec<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct CoredumpctlArgs {
    /// coredumpctl matches: a PID, a command name, an executable path, or
    /// FIELD=VALUE (see coredumpctl(1)). None: every core.
    pub matches: Vec<String>,
    /// Analyse the newest matching core, even when several match.
    #[arg(long)]
    pub last: bool,
    /// List the matching cores, even when only one matches.
    #[arg(long, conflicts_with = "last")]
    pub list: bool,
    /// Output format (of the list, or of the analysis).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The executable (default: the one coredumpctl records, when it exists and
    /// its build-id is the core's).
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// Where file paths recorded in the core are looked up.
    #[arg(long, default_value = "/")]
    pub sysroot: PathBuf,
    /// A folder with separate debug files (repeatable).
    #[arg(long = "debug-dir")]
    pub debug_dirs: Vec<PathBuf>,
    /// Force the mutex layout by name, or add a declared layout (FILE.toml); as
    /// for `analyze`.
    #[arg(long = "layout")]
    pub layouts: Vec<String>,
    /// Which memory to scan for locked mutexes.
    #[arg(long, value_enum, default_value_t = Scan::Shared)]
    pub scan: Scan,
    /// Refuse a core larger than this (as for `analyze`).
    #[arg(long, value_parser = parse_size)]
    pub max_core_size: Option<u64>,
    /// Where the core is spooled (an unlinked file). Default: $TMPDIR, else /tmp.
    #[arg(long, value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,
    /// The process's /proc/PID/maps text (default: the COREDUMP_PROC_MAPS field
    /// systemd-coredump stored, when coredumpctl gives it).
    #[arg(long = "maps", value_name = "FILE")]
    pub proc_maps: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct ThreadsArgs {
    #[command(flatten)]
    pub core: CoreArgs,
    /// Show a backtrace of every thread (CFI, then frame pointers, then a marked
    /// stack scan), symbolized with DWARF: inlined frames, file:line.
    #[arg(long)]
    pub backtrace: bool,
    /// With --backtrace: names from the symbol tables only (no DWARF, so no
    /// inlined frames, no file:line, no tail-call frames); faster.
    #[arg(long, requires = "backtrace")]
    pub plain: bool,
    /// The executable that produced the core (default: its recorded path under
    /// --sysroot).
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// Where file paths recorded in the core are looked up.
    #[arg(long, default_value = "/")]
    pub sysroot: PathBuf,
    /// A folder with separate debug files (repeatable).
    #[arg(long = "debug-dir")]
    pub debug_dirs: Vec<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan {
    None,
    Shared,
    All,
}

#[derive(Args, Debug, Clone)]
pub struct CoreArgs {
    /// The core file (plain, or compressed with zstd, xz, lz4 or gzip); `-` reads it
    /// from standard input (`coredumpctl dump PID | mutexdiag -`).
    pub core: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Refuse compressed cores that expand past this many bytes: 1073741824, 64G,
    /// 64GB, 64GiB, 1.5G, 512 MiB (K, M, G, T with or without B or iB are all powers
    /// of 1024). Default: the lesser of 64 GiB and the free space where they expand.
    #[arg(long, value_parser = parse_size)]
    pub max_core_size: Option<u64>,
    /// Where a compressed core is expanded, and a core read from standard input
    /// spooled (an unlinked file, gone when mutexdiag exits). Default: $TMPDIR, else
    /// /tmp.
    #[arg(long, value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,
    /// The process's /proc/PID/maps text (systemd-coredump's COREDUMP_PROC_MAPS,
    /// apport's ProcMaps): its s/p flag says which mappings were really shared,
    /// instead of inferring it from their names.
    #[arg(long = "maps", value_name = "FILE")]
    pub proc_maps: Option<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
    /// Graphviz: processes, threads, mutexes and their segments, with "owns" and
    /// "waits for" edges (the analysis only; `dot -Tsvg` draws it).
    Dot,
}

/// Parse a size: "123", "64G", "64GB", "1.5GiB", "512 MiB" (units are powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(s.trim())
        .map_err(|e| format!("{s:?} is not a size ({e}; e.g. 512M, 64G, 1.5GiB)"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        let g = 1u64 << 30;
        for (s, want) in [
            ("123", 123),
            ("64G", 64 * g),
            ("64GB", 64 * g),
            ("64GiB", 64 * g),
            ("64 GiB", 64 * g),
            ("1.5GiB", 3 * g / 2),
            ("512M", 512 << 20),
            ("1T", 1 << 40),
            ("2k", 2048),
        ] {
            assert_eq!(parse_size(s), Ok(want), "{s}");
        }
        for bad in ["", "G", "12Q", "-1G", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
