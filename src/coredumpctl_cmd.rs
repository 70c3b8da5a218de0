//! `mutexdiag coredumpctl [MATCH...]`: the cores systemd-coredump captured.
//!
//! Lists them with `coredumpctl --json=short list [MATCH...]`, or analyses one: the
//! core comes from `coredumpctl dump` through a pipe (spooled like `mutexdiag -`,
//! into an unlinked temporary file), the executable is the one coredumpctl records
//! (used when it exists and its build-id is the core's), and the process's maps
//! text is systemd-coredump's `COREDUMP_PROC_MAPS` field when coredumpctl gives it.
//!
//! The JSON of `coredumpctl --json=short list`: an array of objects with the
//! columns of its table (systemd `src/coredump/coredumpctl.c`, `dump_list` and
//! `print_list`; types from `src/shared/format-table.c`, `table_data_to_json`):
//! `time` (µs since the epoch), `pid`, `uid`, `gid`, `sig` (a number, or null
//! when not a signal), `corefile` (the core's state: "present", "missing",
//! "none", "journal", "truncated", "inaccessible", "error"), `exe` (the
//! executable, else the command name), `size` (bytes on disk, or null).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::Rendered;
use crate::cli::{AnalyzeArgs, CoreArgs, CoredumpctlArgs, Format};
use mutexdiag::analysis::Analyzer;
use mutexdiag::internals::coredump::Warning;

/// One row of `coredumpctl --json=short list`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Entry {
    pub time: Option<u64>,
    pub pid: Option<i64>,
    pub uid: Option<i64>,
    pub gid: Option<i64>,
    pub sig: Option<i64>,
    pub corefile: Option<String>,
    pub exe: Option<String>,
    pub size: Option<u64>,
}

/// The program to run (only ever found on PATH).
const COREDUMPCTL: &str = "coredumpctl";

fn not_installed(e: &std::io::Error) -> String {
    format!(
        "cannot run coredumpctl: {e}; it comes with systemd-coredump (Debian: apt-get install \
         systemd-coredump). Without it, analyse the core file itself (`mutexdiag CORE`)"
    )
}

fn matches_shown(m: &[String]) -> String {
    if m.is_empty() {
        "(no match: every core)".into()
    } else {
        m.join(" ")
    }
}

/// `coredumpctl --json=short list MATCH...`, oldest first.
fn list(matches: &[String]) -> Result<Vec<Entry>, String> {
    let o = Command::new(COREDUMPCTL)
        .args(["--no-pager", "--json=short", "list"])
        .args(matches)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| not_installed(&e))?;
    let err = String::from_utf8_lossy(&o.stderr).trim().to_string();
    if !o.status.success() {
        if err.contains("No coredumps found") || err.contains("No journal files") {
            return Err(format!(
                "no core dump matches {} (coredumpctl: {})",
                matches_shown(matches),
                err.replace('\n', "; ")
            ));
        }
        return Err(format!(
            "coredumpctl list failed ({}): {}",
            o.status,
            err.replace('\n', "; ")
        ));
    }
    let text = String::from_utf8_lossy(&o.stdout);
    if text.trim().is_empty() {
        return Err(format!(
            "no core dump matches {} (coredumpctl printed nothing)",
            matches_shown(matches)
        ));
    }
    let mut v: Vec<Entry> = serde_json::from_str(text.trim()).map_err(|e| {
        format!(
            "coredumpctl --json=short list printed JSON that is not its documented list of \
             cores: {e}"
        )
    })?;
    v.sort_by_key(|e| e.time.unwrap_or(0));
    Ok(v)
}

fn signal_name(sig: i64) -> String {
    let n = match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        31 => "SIGSYS",
        _ => return sig.to_string(),
    };
    n.to_string()
}

fn time_shown(us: Option<u64>) -> String {
    us.and_then(|t| i64::try_from(t).ok())
        .and_then(|t| jiff::Timestamp::from_microsecond(t).ok())
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "-".into())
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".into(), T::to_string)
}

fn render_list(entries: &[Entry], format: Format) -> String {
    match format {
        Format::Json => crate::json(&serde_json::json!({ "cores": entries })),
        // A list of cores has no graph: `--format dot` lists them as text (the
        // analysis of the one selected is drawn).
        Format::Text | Format::Markdown | Format::Dot => {
            let rows: Vec<[String; 7]> = entries
                .iter()
                .map(|e| {
                    [
                        time_shown(e.time),
                        opt(&e.pid),
                        opt(&e.uid),
                        e.sig.map_or_else(|| "-".into(), signal_name),
                        opt(&e.corefile),
                        opt(&e.exe),
                        opt(&e.size),
                    ]
                })
                .collect();
            let head = ["time", "pid", "uid", "signal", "core", "executable", "size"];
            if format == Format::Markdown {
                let mut out = format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(7));
                for r in &rows {
                    let cells: Vec<String> = r.iter().map(|c| c.replace('|', "\\|")).collect();
                    out.push_str(&format!("| {} |\n", cells.join(" | ")));
                }
                return out;
            }
            let mut w = head.map(str::len);
            for r in &rows {
                for (i, c) in r.iter().enumerate() {
                    w[i] = w[i].max(c.chars().count());
                }
            }
            let line = |cells: &[String]| {
                let mut s = String::new();
                for (i, c) in cells.iter().enumerate() {
                    if i + 1 == cells.len() {
                        s.push_str(c);
                    } else {
                        s.push_str(&format!("{c:<width$}  ", width = w[i]));
                    }
                }
                s.trim_end().to_string() + "\n"
            };
            let mut out = line(&head.map(String::from));
            for r in &rows {
                out.push_str(&line(r));
            }
            out
        }
    }
}

/// `coredumpctl dump MATCH` into the spool: the newest core of this PID (and
/// executable, when recorded).
fn entry_matches(e: &Entry) -> Vec<String> {
    let mut m = Vec::new();
    if let Some(p) = e.pid {
        m.push(format!("COREDUMP_PID={p}"));
    }
    if let Some(x) = e.exe.as_deref().filter(|x| x.starts_with('/')) {
        m.push(format!("COREDUMP_EXE={x}"));
    }
    m
}

fn dump(
    e: &Entry,
    name: &Path,
    input: &mutexdiag::input::InputOptions,
) -> Result<mutexdiag::CoreFile, String> {
    let mut child = Command::new(COREDUMPCTL)
        .args(["--no-pager", "dump"])
        .args(entry_matches(e))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| not_installed(&e))?;
    let mut stderr = child.stderr.take();
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let stdout = child
        .stdout
        .take()
        .ok_or("coredumpctl dump: no output pipe")?;
    let spooled = mutexdiag::input::from_reader(name, stdout, input);
    if spooled.is_err() {
        // Stop it if it is still writing (the spool refused the core).
        let _ = child.kill();
    }
    let status = child.wait().map_err(|e| format!("coredumpctl dump: {e}"))?;
    let err = errs.join().unwrap_or_default();
    let err = err.trim().replace('\n', "; ");
    match spooled {
        Ok(i) if status.success() => Ok(mutexdiag::CoreFile::from_input(i)),
        Ok(_) => Err(format!("coredumpctl dump failed ({status}): {err}")),
        Err(e) if status.success() || err.is_empty() => Err(e.to_string()),
        Err(e) => Err(format!("{e} (coredumpctl dump: {err})")),
    }
}

/// systemd-coredump's `COREDUMP_PROC_MAPS` of the newest core of this process,
/// when coredumpctl gives it.
fn stored_maps(e: &Entry) -> Option<String> {
    let o = Command::new(COREDUMPCTL)
        .args(["--no-pager", "-1", "--field=COREDUMP_PROC_MAPS", "list"])
        .args(entry_matches(e))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let t = String::from_utf8_lossy(&o.stdout).into_owned();
    (o.status.success() && !t.trim().is_empty()).then_some(t)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The executable coredumpctl records, if it exists and has the core's build-id.
fn choose_exe(
    e: &Entry,
    core: &mutexdiag::internals::coredump::Core<'_>,
    warnings: &mut Vec<Warning>,
) -> Option<PathBuf> {
    let exe = e.exe.as_deref().filter(|x| x.starts_with('/'))?;
    let p = PathBuf::from(exe);
    if !p.is_file() {
        warnings.push(Warning::new(
            "binary",
            format!(
                "the executable coredumpctl records, {exe}, is not on this machine: analysing \
                 without it (give --binary)"
            ),
        ));
        return None;
    }
    let maps = mutexdiag::internals::mappings::build(core);
    let probe = mutexdiag::internals::symbols::Modules::load(
        core,
        &maps,
        &mutexdiag::SymbolOptions {
            binary: None,
            sysroot: PathBuf::from("/nonexistent/mutexdiag-probe"),
            debug_dirs: Vec::new(),
            debuginfod_cache: None,
        },
    );
    let want = probe
        .executable()
        .and_then(|m| m.core_build_id.as_deref().map(hex));
    match (mutexdiag::triage::worker::file_build_id(&p), want) {
        (Ok(Some(have)), Some(want)) if have == want => Some(p),
        (Ok(Some(have)), Some(want)) => {
            warnings.push(Warning::new(
                "binary",
                format!(
                    "the executable coredumpctl records, {exe}, has build-id {have}, the core's \
                     executable {want} (rebuilt or updated since the crash?): not used"
                ),
            ));
            None
        }
        (Ok(_), None) => {
            warnings.push(Warning::new(
                "binary",
                format!(
                    "the executable coredumpctl records, {exe}, is used unchecked: the core \
                     records no build-id for it"
                ),
            ));
            Some(p)
        }
        (Ok(None), Some(want)) => {
            warnings.push(Warning::new(
                "binary",
                format!(
                    "the executable coredumpctl records, {exe}, has no build-id, the core's \
                     executable {want}: not used"
                ),
            ));
            None
        }
        (Err(err), _) => {
            warnings.push(Warning::new(
                "binary",
                format!("the executable coredumpctl records cannot be read: {err}: not used"),
            ));
            None
        }
    }
}

pub fn run(c: &CoredumpctlArgs, color: bool, width: usize) -> Result<Rendered, String> {
    let entries = list(&c.matches)?;
    let several = entries.len() > 1;
    if c.list || (c.matches.is_empty() && !c.last) || (several && !c.last) {
        let mut r = Rendered::ok(render_list(&entries, c.format));
        if several && !c.list && !c.matches.is_empty() {
            r.warnings.push(mutexdiag::report::model::WarningModel {
                code: "coredumpctl".into(),
                message: format!(
                    "{} cores match {}: add --last to analyse the newest, or a narrower match \
                     (its PID)",
                    entries.len(),
                    matches_shown(&c.matches)
                ),
            });
        }
        return Ok(r);
    }
    let Some(e) = entries.last() else {
        return Err(format!(
            "no core dump matches {}",
            matches_shown(&c.matches)
        ));
    };
    let who = format!(
        "the core of PID {} ({})",
        opt(&e.pid),
        e.exe.as_deref().unwrap_or("?")
    );
    match e.corefile.as_deref() {
        Some("missing") => {
            return Err(format!(
                "{who} is missing: coredumpctl lists it, but its file is gone (removed by \
                 systemd-tmpfiles or by hand)"
            ));
        }
        Some("none") => {
            return Err(format!(
                "{who} was not stored: systemd-coredump kept only its metadata (Storage=none, or \
                 the core was larger than ProcessSizeMax/ExternalSizeMax in coredump.conf)"
            ));
        }
        Some("inaccessible") => {
            return Err(format!(
                "{who} cannot be read by this user (run as root, or as the process's owner)"
            ));
        }
        _ => {}
    }
    // The analysis options, as `analyze` takes them.
    let a = AnalyzeArgs {
        core: CoreArgs {
            core: PathBuf::from("-"),
            format: c.format,
            max_core_size: c.max_core_size,
            temp_dir: c.temp_dir.clone(),
            proc_maps: c.proc_maps.clone(),
        },
        binary: c.binary.clone(),
        sysroot: c.sysroot.clone(),
        debug_dirs: c.debug_dirs.clone(),
        layouts: c.layouts.clone(),
        scan: c.scan,
        peers: Vec::new(),
    };
    let mut opts = crate::analysis_options(&a)?;
    let name = PathBuf::from(format!(
        "coredumpctl PID {} {}",
        opt(&e.pid),
        time_shown(e.time)
    ));
    let file = dump(e, &name, &opts.input)?;
    let core = file.parse().map_err(|e| e.to_string())?;
    let mut warnings = Vec::new();
    if e.corefile.as_deref() == Some("truncated") {
        warnings.push(Warning::new(
            "coredumpctl",
            "systemd-coredump marked this core truncated (larger than its size limits): \
             memory past the cut is missing",
        ));
    }
    if opts.binary.is_none() {
        opts.binary = choose_exe(e, &core, &mut warnings);
    }
    if opts.proc_maps.is_none()
        && let Some(text) = stored_maps(e)
    {
        opts.proc_maps = Some(std::sync::Arc::new(mutexdiag::ProcMaps::parse(
            &text,
            "COREDUMP_PROC_MAPS",
        )));
    }
    let analyzer = Analyzer::new(opts.analyzer_config());
    let report = mutexdiag::internals::analysis::analyze_parsed(
        &analyzer,
        &core,
        &name.display().to_string(),
        &opts.core_options(),
        warnings,
    );
    Ok(crate::render_report(report, c.format, color, width))
}
