//! The triage driver: walk the inputs, hand cores to supervised worker processes,
//! collect records, link incidents, bucket by signature.
//!
//! Workers are long-lived processes (`mutexdiag triage-worker`, see [`super::worker`])
//! so that a core that crashes the analyser (SIGBUS from a file truncated while
//! mapped, an abort, running out of memory) or runs past the timeout costs only that
//! core: the worker is killed or has died, the core is recorded as `failed` with the
//! reason, and a new worker takes the next core. Records are streamed to the caller
//! as they finish; only the short records (without the full reports) are kept for the
//! document.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::incidents;
use super::merge::FROM_INPUTS;
use super::model::{
    Bucket, CoreRecord, Example, SCHEMA_VERSION, Source, Status, Summary, TriageDoc,
};
use super::signature::SIGNATURE_VERSION;
use super::sources::{self, Entry, Inventory, Materialized, ScanOptions, SourceKind, What};
use super::worker::{Analysed, Done, Job, WorkerConfig};

/// How to start a worker process: `program args...` must run
/// [`super::worker::serve`] on its stdin/stdout (the `mutexdiag` binary's hidden
/// `triage-worker` command does).
#[derive(Clone, Debug)]
pub struct WorkerCommand {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
}

/// Which part of the inputs this run takes: shard `index` of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 0-based.
    pub index: u64,
    /// At least 1.
    pub count: u64,
}

impl Shard {
    /// Whether the input `id` falls in this shard (a stable hash of the id).
    pub fn takes(&self, id: &str) -> bool {
        let h = Sha256::digest(id.as_bytes());
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[..8]);
        u64::from_be_bytes(b) % self.count.max(1) == self.index
    }
}

/// Everything a triage run needs.
#[derive(Clone, Debug)]
pub struct TriageOptions {
    /// Files, directories, tar archives, `-` for a list on stdin.
    pub paths: Vec<PathBuf>,
    /// Worker processes.
    pub jobs: usize,
    /// Longest analysis of one core.
    pub timeout: Duration,
    /// Most heap of one worker (bytes; `RLIMIT_DATA`), when limited.
    pub max_memory: Option<u64>,
    /// Walking, classifying and expanding.
    pub scan: ScanOptions,
    /// Folders of executables, indexed by build-id.
    pub binary_dirs: Vec<PathBuf>,
    /// What every worker is told.
    pub worker: WorkerConfig,
    /// How to start a worker.
    pub worker_command: WorkerCommand,
    /// Only this shard of the inputs.
    pub shard: Option<Shard>,
}

/// What the caller hears while a run goes on.
pub enum Event<'a> {
    /// The inputs are known: how many, how many are cores to analyse, their bytes.
    Planned {
        /// Inputs (in this shard).
        inputs: u64,
        /// Cores to analyse.
        cores: u64,
        /// Their stored bytes.
        bytes: u64,
    },
    /// An input is done (its full report is in `record.report` when asked for).
    Record(&'a CoreRecord),
}

fn source(s: SourceKind) -> Source {
    match s {
        SourceKind::Core => Source::Core,
        SourceKind::SystemdCoredump => Source::SystemdCoredump,
        SourceKind::Apport => Source::Apport,
        SourceKind::Abrt => Source::Abrt,
    }
}

fn base_record(seq: usize, e: &Entry, status: Status, reason: Option<String>) -> CoreRecord {
    CoreRecord {
        id: e.id.clone(),
        seq: seq as u64,
        source: source(e.source),
        status,
        reason,
        cached: false,
        pid: e.meta.pid,
        executable: e.meta.exe.clone(),
        binary: None,
        signal: e.meta.signal,
        timestamp: e.meta.timestamp.clone(),
        signature: None,
        bucket: None,
        findings: Vec::new(),
        peers: Vec::new(),
        warnings: Vec::new(),
        correlation: None,
        example: None,
        report: None,
    }
}

/// Seconds since the epoch of an RFC 3339 time.
pub fn epoch(ts: &str) -> Option<i64> {
    ts.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

fn analysed_record(seq: usize, e: &Entry, a: Analysed) -> CoreRecord {
    let mut r = base_record(seq, e, Status::Analysed, None);
    r.pid = a.pid.or(e.meta.pid);
    r.executable = a.executable.or_else(|| e.meta.exe.clone());
    r.binary = a.binary;
    r.signal = a.signal.or(e.meta.signal);
    r.signature = Some(a.signature);
    r.bucket = Some(a.bucket);
    r.findings = a.findings;
    r.warnings = a.warnings;
    let mut c = a.correlation;
    c.boot_id = e.meta.boot_id.clone();
    c.hostname = e.meta.hostname.clone();
    c.group = e.group.clone();
    c.time = e.meta.timestamp.as_deref().and_then(epoch);
    r.correlation = Some(c);
    r.report = a.report;
    let mut ex = a.example;
    ex.core = e.id.clone();
    r.example = Some(ex);
    r
}

/// One worker process and the threads reading its output.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<std::io::Result<String>>,
    last_words: Arc<Mutex<VecDeque<String>>>,
}

fn spawn(
    cmd: &WorkerCommand,
    cfg: &WorkerConfig,
    max_memory: Option<u64>,
) -> std::io::Result<Worker> {
    let mut c = Command::new(&cmd.program);
    c.args(&cmd.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: only async-signal-safe calls (setrlimit) between fork and exec.
        unsafe {
            c.pre_exec(move || {
                // A worker that dies must not leave a core of its own.
                let zero = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &zero);
                if let Some(m) = max_memory {
                    let lim = libc::rlimit {
                        rlim_cur: m as libc::rlim_t,
                        rlim_max: m as libc::rlim_t,
                    };
                    libc::setrlimit(libc::RLIMIT_DATA, &lim);
                }
                Ok(())
            });
        }
    }
    let mut child = c.spawn()?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(std::io::Error::other("worker pipes missing"));
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let end = line.is_err();
            if tx.send(line).is_err() || end {
                break;
            }
        }
    });
    let last_words = Arc::new(Mutex::new(VecDeque::new()));
    let lw = Arc::clone(&last_words);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut q) = lw.lock() {
                if q.len() == 8 {
                    q.pop_front();
                }
                q.push_back(line);
            }
        }
    });
    let cfg_line = serde_json::to_string(cfg).map_err(std::io::Error::other)?;
    stdin.write_all(cfg_line.as_bytes())?;
    stdin.write_all(b"\n")?;
    stdin.flush()?;
    Ok(Worker {
        child,
        stdin,
        lines: rx,
        last_words,
    })
}

fn signal_name(n: i32) -> &'static str {
    match n {
        libc::SIGBUS => "SIGBUS",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

impl Worker {
    /// Why the worker is gone, after it ended.
    fn obituary(mut self) -> String {
        use std::os::unix::process::ExitStatusExt;
        let status = self.child.wait();
        // Let the stderr reader take the last lines.
        std::thread::sleep(Duration::from_millis(20));
        let words: Vec<String> = self
            .last_words
            .lock()
            .map(|q| q.iter().rev().take(3).rev().cloned().collect())
            .unwrap_or_default();
        let how = match status {
            Ok(s) => match (s.code(), s.signal()) {
                (_, Some(sig)) => format!("was killed by {} ({sig})", signal_name(sig)),
                (Some(c), _) => format!("exited with status {c}"),
                _ => "ended".to_string(),
            },
            Err(e) => format!("could not be waited for: {e}"),
        };
        let words = words.join(" / ");
        if words.is_empty() {
            format!("the analyser process {how}")
        } else {
            format!("the analyser process {how}: {words}")
        }
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Task = (usize, Result<Materialized, String>);
type Answer = (usize, Result<Analysed, String>);

/// Serve tasks from `queue` with one worker process, restarting it when it dies.
fn manage(
    opts: &TriageOptions,
    inv: &Inventory,
    queue: &Mutex<Receiver<Task>>,
    answers: &mpsc::Sender<Answer>,
) {
    let mut worker: Option<Worker> = None;
    loop {
        let task = match queue.lock() {
            Ok(q) => q.recv(),
            Err(_) => return,
        };
        let Ok((idx, m)) = task else { break };
        let m = match m {
            Ok(m) => m,
            Err(reason) => {
                let _ = answers.send((idx, Err(reason)));
                continue;
            }
        };
        let e = &inv.entries[idx];
        let job = Job {
            seq: idx as u64,
            id: e.id.clone(),
            path: m.path.clone(),
            exe_hint: e.meta.exe.clone(),
            group_elves: m
                .executables()
                .map(|(id, p)| (id.to_string(), p.to_path_buf()))
                .collect(),
            proc_maps: e.meta.proc_maps.clone(),
        };
        let answer = run_job(opts, &mut worker, &job);
        drop(m);
        let _ = answers.send((idx, answer));
    }
    if let Some(w) = worker.take() {
        // Closing stdin ends it.
        drop(w.stdin);
        let mut child = w.child;
        let _ = child.wait();
    }
}

fn run_job(opts: &TriageOptions, slot: &mut Option<Worker>, job: &Job) -> Result<Analysed, String> {
    if slot.is_none() {
        *slot = Some(
            spawn(&opts.worker_command, &opts.worker, opts.max_memory)
                .map_err(|e| format!("cannot start an analyser process: {e}"))?,
        );
    }
    let Some(w) = slot.as_mut() else {
        return Err("no analyser process".into());
    };
    let line = serde_json::to_string(job).map_err(|e| e.to_string())?;
    let sent = w
        .stdin
        .write_all(line.as_bytes())
        .and_then(|_| w.stdin.write_all(b"\n"))
        .and_then(|_| w.stdin.flush());
    if sent.is_err() {
        let w = slot.take().ok_or("no analyser process")?;
        return Err(w.obituary());
    }
    match w.lines.recv_timeout(opts.timeout) {
        Ok(Ok(line)) => match serde_json::from_str::<Done>(&line) {
            Ok(d) if d.seq == job.seq => d.result,
            Ok(_) => {
                if let Some(w) = slot.take() {
                    w.kill();
                }
                Err("the analyser process answered out of turn".into())
            }
            Err(e) => {
                if let Some(w) = slot.take() {
                    w.kill();
                }
                Err(format!("unreadable answer from the analyser process: {e}"))
            }
        },
        Err(RecvTimeoutError::Timeout) => {
            if let Some(w) = slot.take() {
                w.kill();
            }
            Err(format!(
                "the analysis took longer than --timeout {} s and was stopped",
                opts.timeout.as_secs_f64()
            ))
        }
        Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => {
            let w = slot.take().ok_or("no analyser process")?;
            Err(w.obituary())
        }
    }
}

/// Index ELF files under `dirs` by build-id (hex): `--binary-dir`.
pub fn binary_index(dirs: &[PathBuf], scan: &ScanOptions) -> Vec<(String, PathBuf)> {
    if dirs.is_empty() {
        return Vec::new();
    }
    let inv = sources::scan_from(dirs, scan, &mut std::io::empty());
    let mut out = Vec::new();
    for (i, e) in inv.entries.iter().enumerate() {
        if let What::Elf { build_id: Some(b) } = &e.what
            && let Some(p) = inv.plain_path(i)
        {
            out.push((b.clone(), p.to_path_buf()));
        }
    }
    out
}

/// Run a triage: every input gets a record; `on_event` hears the plan and each
/// record as it is made (cores first, as they finish; then the other inputs).
pub fn run(opts: &TriageOptions, on_event: impl FnMut(Event<'_>)) -> TriageDoc {
    run_cached(opts, None, on_event)
}

/// Stored records in place of analyses (`--db`, see [`super::index::Session`]).
pub struct Cache<'a> {
    /// Plain files known unchanged: the walk takes them as cores without opening
    /// them ([`sources::KnownFiles`]); `consult` must then give their records.
    pub known: sources::KnownFiles,
    /// Called once per input of the run, in walk order, before any analysis; a
    /// record returned for a core is used instead of analysing it (marked `cached`).
    pub consult: &'a mut dyn FnMut(&Entry) -> Option<CoreRecord>,
}

/// [`run`], with records of unchanged cores taken from `cache` (`--db`).
pub fn run_cached(
    opts: &TriageOptions,
    cache: Option<Cache<'_>>,
    mut on_event: impl FnMut(Event<'_>),
) -> TriageDoc {
    let (known, cache) = match cache {
        Some(c) => (c.known, Some(c.consult)),
        None => (Default::default(), None),
    };
    let inv = sources::scan_known(&opts.paths, &opts.scan, known);
    let mut worker_opts = opts.clone();
    worker_opts
        .worker
        .binary_index
        .extend(binary_index(&opts.binary_dirs, &opts.scan));
    let taken: Vec<usize> = (0..inv.entries.len())
        .filter(|&i| opts.shard.is_none_or(|s| s.takes(&inv.entries[i].id)))
        .collect();
    let cores: Vec<usize> = taken
        .iter()
        .copied()
        .filter(|&i| inv.entries[i].what == What::Core)
        .collect();
    let mut cached: Vec<CoreRecord> = Vec::new();
    let cores: Vec<usize> = match cache {
        None => cores,
        Some(cache) => {
            let mut from_cache = BTreeMap::new();
            for &i in &taken {
                if let Some(r) = cache(&inv.entries[i]) {
                    from_cache.insert(i, r);
                }
            }
            cores
                .into_iter()
                .filter(|i| match from_cache.remove(i) {
                    Some(mut r) => {
                        r.id = inv.entries[*i].id.clone();
                        r.seq = *i as u64;
                        r.cached = true;
                        cached.push(r);
                        false
                    }
                    None => true,
                })
                .collect()
        }
    };
    on_event(Event::Planned {
        inputs: taken.len() as u64,
        cores: (cores.len() + cached.len()) as u64,
        bytes: cores.iter().map(|&i| inv.entries[i].size).sum(),
    });

    let mut records: Vec<(usize, CoreRecord)> = Vec::with_capacity(taken.len());
    let mut examples: HashMap<String, (usize, Example)> = HashMap::new();
    for mut rec in cached {
        let idx = rec.seq as usize;
        on_event(Event::Record(&rec));
        if let (Some(b), Some(ex)) = (&rec.bucket, rec.example.take())
            && examples.get(b).is_none_or(|(j, _)| idx < *j)
        {
            examples.insert(b.clone(), (idx, ex));
        }
        records.push((idx, rec));
    }
    let jobs = opts.jobs.max(1);
    let (task_tx, task_rx): (SyncSender<Task>, Receiver<Task>) = mpsc::sync_channel(jobs);
    let task_rx = Mutex::new(task_rx);
    let (ans_tx, ans_rx) = mpsc::channel::<Answer>();
    // Executables that served as a core's binary.
    let mut used_binaries: BTreeMap<usize, usize> = BTreeMap::new();
    std::thread::scope(|s| {
        let wopts = &worker_opts;
        let inv_ref = &inv;
        let q = &task_rx;
        for _ in 0..jobs {
            let a = ans_tx.clone();
            s.spawn(move || manage(wopts, inv_ref, q, &a));
        }
        drop(ans_tx);
        let cores_ref = &cores;
        s.spawn(move || {
            sources::materialize(inv_ref, cores_ref, &wopts.scan, |i, m| {
                let _ = task_tx.send((i, m));
            });
            drop(task_tx);
        });
        for (idx, answer) in ans_rx {
            let e = &inv.entries[idx];
            let mut rec = match answer {
                Ok(a) => {
                    let from = a
                        .binary_from_inputs
                        .as_deref()
                        .and_then(|bid| inv.executable(&e.group, bid));
                    let mut r = analysed_record(idx, e, a);
                    if let Some(x) = from {
                        *used_binaries.entry(x).or_default() += 1;
                        // Name the input, not the temporary file a tar member was
                        // extracted to (merge and the index count uses by this name).
                        r.binary = Some(format!(
                            "{}{FROM_INPUTS}, build-id matches)",
                            inv.entries[x].id
                        ));
                    }
                    r
                }
                Err(reason) => base_record(idx, e, Status::Failed, Some(reason)),
            };
            on_event(Event::Record(&rec));
            rec.report = None;
            if let (Some(b), Some(ex)) = (&rec.bucket, rec.example.take())
                && examples.get(b).is_none_or(|(j, _)| idx < *j)
            {
                examples.insert(b.clone(), (idx, ex));
            }
            records.push((idx, rec));
        }
    });

    // The other inputs.
    for &i in &taken {
        let e = &inv.entries[i];
        let rec = match &e.what {
            What::Core => continue,
            What::Elf { build_id } => {
                let uses = used_binaries.get(&i).copied().unwrap_or(0);
                let what = match build_id {
                    Some(b) => format!("ELF file, not a core (build-id {b})"),
                    None => "ELF file, not a core (no build-id)".to_string(),
                };
                let reason = if uses > 0 {
                    format!("{what}; used as the executable of {uses} core(s)")
                } else {
                    what
                };
                base_record(i, e, Status::Skipped, Some(reason))
            }
            What::Skip(r) => base_record(i, e, Status::Skipped, Some(r.clone())),
            What::Fail(r) => base_record(i, e, Status::Failed, Some(r.clone())),
        };
        on_event(Event::Record(&rec));
        records.push((i, rec));
    }
    let records: Vec<CoreRecord> = records.into_iter().map(|(_, r)| r).collect();
    let examples = examples.into_iter().map(|(b, (_, ex))| (b, ex)).collect();
    assemble(records, &examples)
}

/// The document over records (put in input order by `seq`): incidents, buckets,
/// summary. `examples` maps a bucket id to its example (its first core's); a merge of
/// shard outputs builds it from the records' `example` of the lowest `seq`.
pub fn assemble(mut records: Vec<CoreRecord>, examples: &HashMap<String, Example>) -> TriageDoc {
    records.sort_by_key(|r| r.seq);
    super::merge::recount_executables(&mut records);
    for r in &mut records {
        r.example = None;
        r.report = None;
    }
    let incidents = incidents::link(&mut records);
    let mut buckets: Vec<Bucket> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for r in &records {
        let (Some(b), Some(sig)) = (&r.bucket, &r.signature) else {
            continue;
        };
        let i = *at.entry(b.clone()).or_insert_with(|| {
            let primary = super::signature::primary_of_record(r);
            buckets.push(Bucket {
                id: b.clone(),
                signature: sig.clone(),
                code: primary.map(|f| f.code.clone()),
                severity: primary.map(|f| f.severity),
                count: 0,
                cores: Vec::new(),
                first_seen: None,
                last_seen: None,
                example: examples.get(b).cloned().unwrap_or_else(|| Example {
                    core: r.id.clone(),
                    message: sig.clone(),
                    title: None,
                    evidence: Vec::new(),
                    fix: None,
                }),
            });
            buckets.len() - 1
        });
        let bk = &mut buckets[i];
        bk.count += 1;
        bk.cores.push(r.id.clone());
        if let Some(t) = &r.timestamp
            && let Some(s) = epoch(t)
        {
            if bk
                .first_seen
                .as_deref()
                .and_then(epoch)
                .is_none_or(|f| s < f)
            {
                bk.first_seen = Some(t.clone());
            }
            if bk
                .last_seen
                .as_deref()
                .and_then(epoch)
                .is_none_or(|l| s > l)
            {
                bk.last_seen = Some(t.clone());
            }
        }
    }
    // Largest first; ties in order of first appearance (stable sort).
    buckets.sort_by_key(|b| std::cmp::Reverse(b.count));
    let count = |s: Status| records.iter().filter(|r| r.status == s).count() as u64;
    let summary = Summary {
        inputs: records.len() as u64,
        analysed: count(Status::Analysed),
        cached: records.iter().filter(|r| r.cached).count() as u64,
        failed: count(Status::Failed),
        skipped: count(Status::Skipped),
        buckets: buckets.len() as u64,
        incidents: incidents.len() as u64,
    };
    TriageDoc {
        schema_version: SCHEMA_VERSION,
        signature_version: SIGNATURE_VERSION,
        summary,
        buckets,
        incidents,
        cores: records,
    }
}
