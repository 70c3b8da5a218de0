//! The analysis of one core inside a triage worker process.
//!
//! The driver ([`super::run`]) starts worker processes (`mutexdiag triage-worker`)
//! and talks to each over its stdin/stdout, one JSON document per line: first a
//! [`WorkerConfig`], then [`Job`]s, each answered by one [`Done`]. A worker analyses
//! cores one at a time with the same analysis as `mutexdiag CORE`; a fault that
//! cannot be contained in a process (SIGBUS from a file truncated while mapped, an
//! abort, running out of memory) ends only the worker, and the driver records that
//! core as failed and starts another worker.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::CoreFile;
use crate::analysis::{Analyzer, AnalyzerConfig, CoreOptions};
use crate::coredump::Warning;
use crate::input::InputOptions;
use crate::mappings;
use crate::mutex::discover::ScanScope;
use crate::report::model::Report;
use crate::symbols::{Modules, SymbolOptions};

use super::model::{Correlation, Example, FindingRef, ForeignOwner, SegmentId};
use super::signature;

/// What every job of a run shares.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WorkerConfig {
    /// Where paths recorded in cores (and in metadata) are looked up.
    pub sysroot: PathBuf,
    /// Extra folders of debug files.
    pub debug_dirs: Vec<PathBuf>,
    /// A built-in layout to force.
    pub layout: Option<String>,
    /// `none`, `shared` or `all`.
    pub scan: String,
    /// Threads of the scan of one core (`Options::scan_threads`): 1 when several
    /// analysers run at once, 0 (as many as help) when one does.
    #[serde(default)]
    pub scan_threads: usize,
    /// Refuse compressed cores that expand past this many bytes.
    pub max_core_size: Option<u64>,
    /// Where compressed cores are expanded.
    pub temp_dir: Option<PathBuf>,
    /// ELF files of `--binary-dir`, by GNU build-id (hex).
    pub binary_index: Vec<(String, PathBuf)>,
    /// Return the full report with each record (`--format jsonl`).
    pub with_report: bool,
}

/// One core to analyse.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    /// Sequence number, echoed in the answer.
    pub seq: u64,
    /// The input's id (the report's `core.path`).
    pub id: String,
    /// A file holding the core's bytes (plain or compressed).
    pub path: PathBuf,
    /// The executable's path as the producer's metadata records it.
    pub exe_hint: Option<String>,
    /// ELF files found among the same inputs (same directory or tar), by build-id.
    pub group_elves: Vec<(String, PathBuf)>,
    /// The process's `/proc/PID/maps` text from the producer's metadata (apport
    /// `ProcMaps`, ABRT `maps`): its shared/private flags are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proc_maps: Option<String>,
}

/// The answer to a [`Job`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Done {
    /// The job's sequence number.
    pub seq: u64,
    /// The analysis, or why it failed.
    pub result: Result<Analysed, String>,
}

/// What triage keeps of one analysed core.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Analysed {
    /// Process id.
    pub pid: Option<u32>,
    /// The executable as the core records it.
    pub executable: Option<String>,
    /// The file used as the executable, and how it was found.
    pub binary: Option<String>,
    /// When that file was one of the inputs (same directory or tar): its build-id.
    pub binary_from_inputs: Option<String>,
    /// The killing signal.
    pub signal: Option<u32>,
    /// Bucket signature.
    pub signature: String,
    /// Bucket id.
    pub bucket: String,
    /// Findings.
    pub findings: Vec<FindingRef>,
    /// Warnings of the analysis.
    pub warnings: Vec<String>,
    /// Correlation facts.
    pub correlation: Correlation,
    /// The bucket example this core would give.
    pub example: Example,
    /// The full report, when asked for.
    pub report: Option<serde_json::Value>,
}

/// Serve jobs until the input ends. Each answer is flushed as soon as it is made.
pub fn serve(mut input: impl BufRead, mut output: impl Write) -> std::io::Result<()> {
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        return Ok(());
    }
    let cfg: WorkerConfig = serde_json::from_str(&line)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    // One analyzer for the worker's life: libraries and debug files are parsed once
    // per build-id, not once per core.
    let analyzer = analyzer_for(&cfg);
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let job: Job = serde_json::from_str(&line)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            analyse(&analyzer, &cfg, &job)
        })) {
            Ok(r) => r,
            Err(p) => Err(format!(
                "the analysis panicked: {}",
                p.downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".into())
            )),
        };
        let done = Done {
            seq: job.seq,
            result,
        };
        let s = serde_json::to_string(&done)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        output.write_all(s.as_bytes())?;
        output.write_all(b"\n")?;
        output.flush()?;
    }
}

fn scan_scope(s: &str) -> ScanScope {
    match s {
        "none" => ScanScope::None,
        "all" => ScanScope::All,
        _ => ScanScope::Shared,
    }
}

/// The GNU build-id (hex) of an ELF file, or why it has none.
pub fn file_build_id(path: &Path) -> Result<Option<String>, String> {
    use object::Object;
    let f = crate::input::open_regular(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: read-only (PROT_READ) mapping of a file we only read; see input.rs.
    let map = unsafe { memmap2::Mmap::map(&f) }.map_err(|e| format!("{}: {e}", path.display()))?;
    let obj = object::File::parse(&*map).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(obj.build_id().ok().flatten().map(hex))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Test hooks (`MUTEXDIAG_TRIAGE_TEST_HOOK`), for the fault tests only: `panic:S`,
/// `abort:S`, `hang:S` act on a job whose id contains `S`; `hold:S:DIR` creates
/// `DIR/ready` once the core is mapped and waits (at most 60 s) for `DIR/go`
/// before the analysis reads it, so that a test can truncate the file in between.
fn test_hook(job: &Job) {
    let Ok(spec) = std::env::var("MUTEXDIAG_TRIAGE_TEST_HOOK") else {
        return;
    };
    for h in spec.split(',') {
        let mut it = h.splitn(3, ':');
        let (Some(what), Some(s)) = (it.next(), it.next()) else {
            continue;
        };
        if s.is_empty() || !job.id.contains(s) {
            continue;
        }
        match what {
            "panic" => panic!("test hook: panic on {}", job.id),
            "abort" => std::process::abort(),
            "hang" => std::thread::sleep(std::time::Duration::from_secs(3600)),
            "hold" => {
                if let Some(dir) = it.next() {
                    let dir = Path::new(dir);
                    let _ = std::fs::write(dir.join("ready"), b"");
                    for _ in 0..6000 {
                        if dir.join("go").exists() {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                }
            }
            _ => {}
        }
    }
}

/// The analyzer a worker keeps for its life.
pub fn analyzer_for(cfg: &WorkerConfig) -> Analyzer {
    Analyzer::new(AnalyzerConfig {
        sysroot: cfg.sysroot.clone(),
        debug_dirs: cfg.debug_dirs.clone(),
        ..AnalyzerConfig::default()
    })
}

/// Analyse one core.
pub fn analyse(analyzer: &Analyzer, cfg: &WorkerConfig, job: &Job) -> Result<Analysed, String> {
    let input = InputOptions {
        max_core_size: cfg.max_core_size,
        temp_dir: cfg.temp_dir.clone(),
        ..InputOptions::default()
    };
    let file = CoreFile::open(&job.path, &input).map_err(|e| e.to_string())?;
    let core = file.parse().map_err(|e| e.to_string())?;
    test_hook(job);
    let maps = mappings::build(&core);

    // The executable's build-id as the core holds it (no file is opened: the
    // sysroot given does not exist).
    let probe = Modules::load(
        &core,
        &maps,
        &SymbolOptions {
            binary: None,
            sysroot: PathBuf::from("/nonexistent/mutexdiag-probe"),
            debug_dirs: Vec::new(),
            debuginfod_cache: None,
        },
    );
    let exe_module = probe.executable();
    let want = exe_module.and_then(|m| m.core_build_id.as_deref().map(hex));
    let core_exe = exe_module.map(|m| m.name.clone());
    drop(probe);

    let mut warnings = Vec::new();
    let (binary, binary_note) = choose_binary(
        cfg,
        job,
        core_exe.as_deref(),
        want.as_deref(),
        &mut warnings,
    );
    let from_inputs = binary
        .as_ref()
        .and_then(|b| job.group_elves.iter().find(|(_, p)| p == b))
        .map(|(id, _)| id.clone());

    let opts = CoreOptions {
        input,
        binary: binary.clone(),
        layout: cfg.layout.clone(),
        scan: scan_scope(&cfg.scan),
        scan_threads: cfg.scan_threads,
        proc_maps: job.proc_maps.as_deref().map(|text| {
            std::sync::Arc::new(crate::procmaps::ProcMaps::parse(
                text,
                &format!("{} (the producer's /proc/PID/maps)", job.id),
            ))
        }),
        ..CoreOptions::default()
    };
    let core_warnings: Vec<Warning> = warnings
        .iter()
        .map(|w: &String| Warning::new("binary", w.clone()))
        .collect();
    let report = analyzer.analyze_parsed(&core, &job.id, &opts, core_warnings);
    let mut a = summarise(&report, binary_note, cfg.with_report);
    a.binary_from_inputs = from_inputs;
    Ok(a)
}

/// Which file serves as the executable: the producer's metadata under the sysroot,
/// an ELF file of the same inputs, `--binary-dir`, the core's own path under the
/// sysroot — always with the build-id the core records. A file with another
/// build-id is never used; it is named in a warning.
fn choose_binary(
    cfg: &WorkerConfig,
    job: &Job,
    core_exe: Option<&str>,
    want: Option<&str>,
    warnings: &mut Vec<String>,
) -> (Option<PathBuf>, Option<String>) {
    let check = |p: &Path, how: &str, warnings: &mut Vec<String>| -> Option<(PathBuf, String)> {
        match (file_build_id(p), want) {
            (Ok(Some(have)), Some(want)) if have == want => Some((
                p.to_path_buf(),
                format!("{} ({how}, build-id matches)", p.display()),
            )),
            (Ok(Some(have)), Some(want)) => {
                warnings.push(format!(
                    "{} ({how}) has build-id {have}, the core's executable {want}: not used",
                    p.display()
                ));
                None
            }
            (Ok(_), None) => Some((
                p.to_path_buf(),
                format!(
                    "{} ({how}, build-id not checked: the core records none)",
                    p.display()
                ),
            )),
            (Ok(None), Some(want)) => {
                warnings.push(format!(
                    "{} ({how}) has no build-id, the core's executable {want}: not used",
                    p.display()
                ));
                None
            }
            (Err(e), _) => {
                warnings.push(format!("{how}: {e}: not used"));
                None
            }
        }
    };
    // 1. The producer's metadata.
    if let Some(exe) = &job.exe_hint
        && let Some(p) = crate::symbols::join_sysroot(&cfg.sysroot, exe)
        && p.is_file()
        && let Some((p, how)) = check(&p, "executable named by the crash report", warnings)
    {
        return (Some(p), Some(how));
    }
    if let Some(want) = want {
        // 2. The same inputs; 3. --binary-dir.
        for (list, how) in [
            (&job.group_elves, "found among the inputs"),
            (&cfg.binary_index, "found in --binary-dir"),
        ] {
            if let Some((_, p)) = list.iter().find(|(id, _)| id == want) {
                return (
                    Some(p.clone()),
                    Some(format!("{} ({how}, build-id matches)", p.display())),
                );
            }
        }
    }
    // 4. The core's own path under the sysroot.
    if let Some(exe) = core_exe
        && let Some(p) = crate::symbols::join_sysroot(&cfg.sysroot, exe)
        && p.is_file()
        && let Some((p, how)) = check(&p, "the core's executable path", warnings)
    {
        return (Some(p), Some(how));
    }
    (None, None)
}

/// Identities of a shared mapping that another process's core can match.
fn segment_ids(m: &crate::report::model::MappingModel) -> Vec<SegmentId> {
    let mut v = Vec::new();
    if !m.shared {
        return v;
    }
    if let Some(k) = &m.key {
        v.push(format!("sysv:{:#x}", k.0));
    }
    if let Some(p) = &m.path {
        let p = p.strip_suffix(" (deleted)").unwrap_or(p);
        if m.kind != crate::MappingKind::SysvShm {
            v.push(format!("path:{p}"));
        }
    }
    v
}

/// What triage keeps of a report.
pub fn summarise(report: &Report, binary: Option<String>, with_report: bool) -> Analysed {
    let (sig, primary) = signature::of(report);
    let findings = report
        .findings
        .iter()
        .map(|f| FindingRef {
            code: f.code.to_string(),
            severity: f.severity,
            mutexes: f.mutexes.iter().map(|h| format!("{:#x}", h.0)).collect(),
            owner_core: None,
        })
        .collect();
    let mut segments: Vec<SegmentId> = report.mappings.iter().flat_map(segment_ids).collect();
    segments.sort();
    segments.dedup();
    let foreign_owners = report
        .mutexes
        .iter()
        .filter(|m| m.owner.class == crate::report::model::OwnerClass::Foreign)
        .filter_map(|m| {
            let tid = m.owner.tid?;
            let seg = m
                .mapping
                .and_then(|s| report.mappings.iter().find(|x| x.start.0 == s.0))
                .map(segment_ids)
                .unwrap_or_default();
            Some(ForeignOwner {
                mutex: format!("{:#x}", m.address.0),
                tid,
                segment: seg,
            })
        })
        .collect();
    let correlation = Correlation {
        ppid: report.core.ppid,
        tids: report.threads.iter().map(|t| t.tid).collect(),
        thread_pointers: report
            .threads
            .iter()
            .filter_map(|t| Some((t.tid, t.thread_pointer.as_ref()?.0)))
            .collect(),
        segments,
        foreign_owners,
        boot_id: None,
        hostname: None,
        group: String::new(),
        time: None,
    };
    let example = match primary {
        Some(i) => {
            let f = &report.findings[i];
            Example {
                core: report.core.path.clone(),
                message: f.message.clone(),
                title: Some(f.title.to_string()),
                evidence: f.evidence.clone(),
                fix: Some(f.fix.clone()),
            }
        }
        None => Example {
            core: report.core.path.clone(),
            message: match &report.core.signal {
                Some(s) => format!(
                    "no lock finding; the process died of {}",
                    s.name
                        .clone()
                        .unwrap_or_else(|| format!("signal {}", s.number))
                ),
                None => "no lock finding".to_string(),
            },
            title: None,
            evidence: Vec::new(),
            fix: None,
        },
    };
    Analysed {
        pid: report.core.pid,
        executable: report.core.executable.clone(),
        binary,
        binary_from_inputs: None,
        signal: report.core.signal.as_ref().map(|s| s.number),
        bucket: signature::bucket_id(&sig),
        signature: sig,
        findings,
        warnings: report
            .warnings
            .iter()
            .map(|w| format!("{}: {}", w.code, w.message))
            .collect(),
        correlation,
        example,
        report: if with_report {
            serde_json::to_value(report).ok()
        } else {
            None
        },
    }
}
