//! `mutexdiag triage`: arguments → [`mutexdiag::triage::run`] → output, progress,
//! exit status; and the hidden `triage-worker` command that analyses cores for it.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use mutexdiag::triage::model::{Status, TriageDoc};
use mutexdiag::triage::render;
use mutexdiag::triage::run::{self, Event, Shard, TriageOptions, WorkerCommand};
use mutexdiag::triage::sources::{self, ScanOptions};
use mutexdiag::triage::worker::WorkerConfig;

use crate::cli::{Scan, parse_size};

mod scale;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriageFormat {
    Text,
    Json,
    Jsonl,
    Csv,
    Markdown,
    Html,
}

/// `mutexdiag triage merge|report`: a first word `merge` or `report` is the
/// subcommand (a path of that name is given as `./merge`).
#[derive(Subcommand, Debug, Clone)]
pub enum TriageCommand {
    /// Merge the outputs of shard runs (jsonl files, --db index files) into the
    /// document one run over all the inputs gives.
    Merge(scale::MergeArgs),
    /// The report of an index (--db), without any core present.
    Report(scale::ReportArgs),
}

#[derive(Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct TriageArgs {
    #[command(subcommand)]
    pub command: Option<TriageCommand>,
    /// Cores, directories (walked recursively), tar archives (.tar, .tar.gz, .tgz,
    /// .tar.zst, .tar.xz), systemd-coredump files, apport .crash reports, ABRT
    /// problem directories; `-` reads a list of paths from stdin, one per line.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TriageFormat::Text)]
    pub format: TriageFormat,
    /// Analyser processes (default: the available CPUs).
    #[arg(short = 'j', long = "jobs")]
    pub jobs: Option<usize>,
    /// Longest analysis of one core, in seconds; past it the core is `failed`.
    #[arg(long, default_value_t = 60.0)]
    pub timeout: f64,
    /// Most heap of one analyser process (e.g. 2G); a core needing more is `failed`.
    #[arg(long, value_parser = parse_size)]
    pub max_memory: Option<u64>,
    /// Most temporary space at once for expanded cores and extracted members
    /// (default: half the free space of the temporary folder, at most 64 GiB).
    #[arg(long, value_parser = parse_size)]
    pub max_temp: Option<u64>,
    /// Where temporary files go.
    #[arg(long)]
    pub temp_dir: Option<PathBuf>,
    /// Refuse a compressed core that expands past this many bytes.
    #[arg(long, value_parser = parse_size)]
    pub max_core_size: Option<u64>,
    /// Where paths recorded in cores and crash reports are looked up.
    #[arg(long, default_value = "/")]
    pub sysroot: PathBuf,
    /// A folder with separate debug files (repeatable).
    #[arg(long = "debug-dir")]
    pub debug_dirs: Vec<PathBuf>,
    /// A folder of executables, matched to cores by GNU build-id (repeatable).
    #[arg(long = "binary-dir")]
    pub binary_dirs: Vec<PathBuf>,
    /// Force a built-in mutex layout for every core.
    #[arg(long)]
    pub layout: Option<String>,
    /// Which memory to scan for locked mutexes.
    #[arg(long, value_enum, default_value_t = Scan::Shared)]
    pub scan: Scan,
    /// Only the inputs of shard K of N (`K/N`, K from 0). Default: from
    /// SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX with --shards.
    #[arg(long)]
    pub shard: Option<String>,
    /// The number of shards when the index comes from JOB_COMPLETION_INDEX.
    #[arg(long)]
    pub shards: Option<u64>,
    /// An SQLite index of inputs: unchanged cores are not analysed again, vanished
    /// ones are marked missing, history is kept (`triage report --db FILE`).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// With --db: read every core's fingerprint bytes again, even when its device,
    /// inode, size, mtime and ctime are those recorded when it was analysed.
    #[arg(long, requires = "db")]
    pub db_rehash: bool,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

fn shard(a: &TriageArgs) -> Result<Option<Shard>, String> {
    if let Some(s) = &a.shard {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("--shard {s}: expected K/N, e.g. 0/4"))?;
        let (k, n): (u64, u64) = (
            k.trim()
                .parse()
                .map_err(|_| format!("--shard {s}: K is not a number"))?,
            n.trim()
                .parse()
                .map_err(|_| format!("--shard {s}: N is not a number"))?,
        );
        if n == 0 || k >= n {
            return Err(format!("--shard {s}: K must be in 0..N-1 and N at least 1"));
        }
        return Ok(Some(Shard { index: k, count: n }));
    }
    let env = |k: &str| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let (Some(k), Some(n)) = (env("SLURM_ARRAY_TASK_ID"), env("SLURM_ARRAY_TASK_COUNT")) {
        // Slurm numbers tasks from --array's first index; a plain 0-(N-1) array is assumed
        // unless SLURM_ARRAY_TASK_MIN says otherwise.
        let min = env("SLURM_ARRAY_TASK_MIN").unwrap_or(0);
        let k = k
            .checked_sub(min)
            .ok_or("SLURM_ARRAY_TASK_ID below SLURM_ARRAY_TASK_MIN")?;
        if n == 0 || k >= n {
            return Err(format!("Slurm array task {k} of {n}: out of range"));
        }
        return Ok(Some(Shard { index: k, count: n }));
    }
    if let Some(k) = env("JOB_COMPLETION_INDEX") {
        let n = a
            .shards
            .ok_or("JOB_COMPLETION_INDEX is set: give the number of shards with --shards N")?;
        if n == 0 || k >= n {
            return Err(format!(
                "JOB_COMPLETION_INDEX {k} of --shards {n}: out of range"
            ));
        }
        return Ok(Some(Shard { index: k, count: n }));
    }
    if a.shards.is_some() {
        return Err("--shards needs JOB_COMPLETION_INDEX (or use --shard K/N)".into());
    }
    Ok(None)
}

pub(crate) fn open_output(o: Option<&std::path::Path>) -> std::io::Result<Box<dyn Write>> {
    Ok(match o {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    })
}

pub(crate) fn term_width(to_file: bool) -> usize {
    if to_file {
        return crate::output::WIDE;
    }
    crate::output::terminal_width().map_or(crate::output::WIDE, |w| w.max(crate::output::NARROWEST))
}

pub fn triage(a: &TriageArgs, output: Option<&std::path::Path>) -> ExitCode {
    let fail = |m: String| {
        eprintln!("mutexdiag triage: {m}");
        ExitCode::from(2)
    };
    match &a.command {
        Some(TriageCommand::Merge(m)) => return scale::merge_cmd(m, output),
        Some(TriageCommand::Report(r)) => return scale::report_cmd(r, output),
        None => {}
    }
    let shard = match shard(a) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    // With --db: the index is consulted before analysis and told every record.
    let session = match &a.db {
        Some(db) => {
            let paths = (!a.paths.iter().any(|p| p.as_os_str() == "-")).then(|| a.paths.clone());
            match mutexdiag::triage::index::Session::start(db, paths, shard, a.db_rehash) {
                Ok(s) => Some(std::cell::RefCell::new(s)),
                Err(e) => return fail(format!("{}: {e}", db.display())),
            }
        }
        None => None,
    };
    let mut consult = |e: &sources::Entry| session.as_ref().and_then(|s| s.borrow_mut().consult(e));
    if let Some(l) = &a.layout
        && mutexdiag::internals::mutex::select::builtin(l).is_none()
    {
        return fail(format!(
            "--layout {l}: unknown; known: {}",
            mutexdiag::internals::mutex::select::builtin_names().join(", ")
        ));
    }
    for d in a.debug_dirs.iter().chain(&a.binary_dirs) {
        if !d.is_dir() {
            return fail(format!("{}: not a directory", d.display()));
        }
    }
    let program = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            return fail(format!(
                "cannot find my own executable to start analysers: {e}"
            ));
        }
    };
    let scan = ScanOptions {
        max_temp: a
            .max_temp
            .unwrap_or_else(|| sources::default_max_temp(a.temp_dir.as_deref())),
        temp_dir: a.temp_dir.clone(),
        max_core_size: a.max_core_size,
    };
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let opts = TriageOptions {
        paths: a.paths.clone(),
        jobs,
        timeout: Duration::from_secs_f64(a.timeout.max(0.001)),
        max_memory: a.max_memory,
        scan: scan.clone(),
        binary_dirs: a.binary_dirs.clone(),
        worker: WorkerConfig {
            sysroot: a.sysroot.clone(),
            debug_dirs: a.debug_dirs.clone(),
            layout: a.layout.clone(),
            scan: match a.scan {
                Scan::None => "none",
                Scan::Shared => "shared",
                Scan::All => "all",
            }
            .to_string(),
            // Several analysers keep the CPUs busy with other cores: one scan
            // thread each.
            scan_threads: if jobs > 1 { 1 } else { 0 },
            max_core_size: a.max_core_size,
            temp_dir: a.temp_dir.clone(),
            binary_index: Vec::new(),
            with_report: a.format == TriageFormat::Jsonl,
        },
        worker_command: WorkerCommand {
            program,
            args: vec!["triage-worker".into()],
        },
        shard,
    };
    let mut out = match open_output(output) {
        Ok(o) => o,
        Err(e) => {
            return fail(format!(
                "cannot write {}: {e}",
                output.map_or("stdout".into(), |p| p.display().to_string())
            ));
        }
    };
    let show_progress = !a.quiet && std::io::stderr().is_terminal();
    let bar = indicatif::ProgressBar::hidden();
    if show_progress {
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} cores {msg} [{elapsed_precise}, eta {eta}]",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
    }
    let mut write_err: Option<std::io::Error> = None;
    let mut failed = 0u64;
    let mut bytes_total = 0u64;
    let cache: Option<run::Cache<'_>> = session.as_ref().map(|s| run::Cache {
        known: s.borrow().known(),
        consult: &mut consult,
    });
    let doc: TriageDoc = run::run_cached(&opts, cache, |ev| match ev {
        Event::Planned { cores, bytes, .. } => {
            bar.set_length(cores);
            bytes_total = bytes;
            bar.set_message(format!("of {}", human(bytes_total)));
        }
        Event::Record(r) => {
            if let Some(s) = &session {
                s.borrow_mut().record(r);
            }
            if r.status == Status::Failed {
                failed += 1;
            }
            if r.status != Status::Skipped {
                bar.inc(1);
                if failed > 0 {
                    bar.set_message(format!("of {}, {failed} failed", human(bytes_total)));
                }
            }
            if a.format == TriageFormat::Jsonl && write_err.is_none() {
                let res = serde_json::to_string(r)
                    .map_err(std::io::Error::other)
                    .and_then(|s| writeln!(out, "{s}"))
                    .and_then(|_| out.flush());
                if let Err(e) = res {
                    write_err = Some(e);
                }
            }
        }
    });
    bar.finish_and_clear();
    if let Some(s) = session
        && let Err(e) = s.into_inner().finish(&doc.summary)
    {
        eprintln!("mutexdiag triage: the index was not fully updated: {e}");
    }
    let res = match a.format {
        TriageFormat::Jsonl => Ok(()),
        TriageFormat::Json => serde_json::to_writer_pretty(&mut out, &doc)
            .map_err(std::io::Error::other)
            .and_then(|_| writeln!(out)),
        TriageFormat::Text => render::text(&doc, &mut out, term_width(output.is_some()), false),
        TriageFormat::Csv => render::csv(&doc, &mut out),
        TriageFormat::Markdown => render::markdown(&doc, &mut out),
        TriageFormat::Html => render::html(&doc, &mut out),
    }
    .and_then(|_| out.flush());
    if let Some(e) = write_err.or(res.err()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return ExitCode::SUCCESS;
        }
        return fail(format!("cannot write the output: {e}"));
    }
    let s = &doc.summary;
    if s.inputs == 0 || (s.analysed == 0 && s.failed > 0) {
        eprintln!(
            "mutexdiag triage: nothing could be analysed ({} inputs, {} failed)",
            s.inputs, s.failed
        );
        return ExitCode::from(2);
    }
    if doc.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn human(b: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", U[i])
}

/// The hidden `triage-worker` command.
pub fn worker() -> ExitCode {
    let stdin = std::io::stdin().lock();
    let stdout = std::io::stdout().lock();
    match mutexdiag::triage::worker::serve(stdin, stdout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mutexdiag triage-worker: {e}");
            ExitCode::from(2)
        }
    }
}
