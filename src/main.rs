//! The `mutexdiag` command: parse arguments, call the library, render, exit.

mod cli;
mod coredumpctl_cmd;
mod output;
mod triage_cmd;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use cli::{AnalyzeArgs, Cli, Command, CoreArgs, Format, Scan};
use mutexdiag::DeclaredLayout;
use mutexdiag::ScanScope;
use mutexdiag::analysis::{self, findings};
use mutexdiag::input::InputOptions;
use mutexdiag::report::dot;
use mutexdiag::report::markdown;
use mutexdiag::report::model::WarningModel;
use mutexdiag::report::text;
use output::Output;

/// What a command produced: the document, the warnings that go to stderr (text
/// mode), and the exit status.
struct Rendered {
    text: String,
    warnings: Vec<WarningModel>,
    code: u8,
}

impl Rendered {
    fn ok(text: String) -> Self {
        Self {
            text,
            warnings: Vec::new(),
            code: 0,
        }
    }
}

fn input_options(a: &CoreArgs) -> Result<InputOptions, String> {
    if let Some(d) = &a.temp_dir {
        check_dir("--temp-dir", d)?;
    }
    Ok(InputOptions {
        max_core_size: a.max_core_size,
        temp_dir: a.temp_dir.clone(),
        ..InputOptions::default()
    })
}

/// `--maps FILE`, read and parsed (bad lines become warnings; a file with no
/// usable line is an error).
fn proc_maps(a: &CoreArgs) -> Result<Option<mutexdiag::ProcMaps>, String> {
    let Some(p) = &a.proc_maps else {
        return Ok(None);
    };
    check_file("--maps", p)?;
    mutexdiag::ProcMaps::load(p)
        .map(Some)
        .map_err(|e| e.to_string())
}

fn json<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_string_pretty(v) {
        Ok(mut s) => {
            s.push('\n');
            s
        }
        Err(e) => format!("{{\"error\": \"cannot serialise: {e}\"}}\n"),
    }
}

/// The subcommand names (from the clap definition, so new ones count) and the
/// options that take a value (so `mutexdiag --format json CORE` finds CORE).
fn grammar() -> (Vec<String>, Vec<String>) {
    let cmd = Cli::command();
    let mut names: Vec<String> = vec!["help".into()];
    let mut valued: Vec<String> = Vec::new();
    let mut add_args = |c: &clap::Command| {
        for a in c.get_arguments() {
            if a.get_action().takes_values() && !a.is_positional() {
                if let Some(l) = a.get_long() {
                    valued.push(format!("--{l}"));
                }
                if let Some(s) = a.get_short() {
                    valued.push(format!("-{s}"));
                }
            }
        }
    };
    add_args(&cmd);
    for sc in cmd.get_subcommands() {
        names.push(sc.get_name().to_string());
        names.extend(sc.get_all_aliases().map(str::to_string));
        add_args(sc);
    }
    (names, valued)
}

/// `mutexdiag [OPTIONS] CORE [OPTIONS]` means `mutexdiag analyze ...`. The first
/// operand that is not an option's value decides: a subcommand, or a core. A word
/// that is no file but looks like a subcommand (`thread`) is a typo, not a core.
fn args(mut v: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let (names, valued) = grammar();
    let mut i = 1;
    let mut first = None;
    while i < v.len() {
        let s = v[i].to_string_lossy().into_owned();
        if s == "--" {
            first = (i + 1 < v.len()).then_some(i + 1);
            break;
        }
        if s.starts_with('-') && s != "-" {
            if !s.contains('=') && valued.contains(&s) {
                i += 1;
            }
            i += 1;
            continue;
        }
        first = Some(i);
        break;
    }
    let Some(i) = first else { return Ok(v) };
    let word = v[i].to_string_lossy().into_owned();
    if names.contains(&word) {
        return Ok(v);
    }
    if word != "-" && !Path::new(&word).exists() {
        let close: Vec<&String> = names
            .iter()
            .filter(|n| {
                *n != "help"
                    && (strsim::damerau_levenshtein(n, &word) <= 2
                        || (word.len() >= 3 && n.starts_with(&word)))
            })
            .collect();
        if let Some(n) = close.first() {
            return Err(format!(
                "{word:?} is neither a command nor a core file; did you mean `mutexdiag {n}`? \
                 (commands: {}; `mutexdiag CORE` analyses CORE)",
                names
                    .iter()
                    .filter(|n| *n != "help")
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    v.insert(1, "analyze".into());
    Ok(v)
}

/// A file option must name a readable file: say whether it is missing or
/// unreadable.
fn check_file(flag: &str, p: &Path) -> Result<(), String> {
    let shown = p.display();
    match std::fs::metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("{flag} {shown}: not found (no such file)"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(format!(
            "{flag} {shown}: permission denied (a folder on the way cannot be searched)"
        )),
        Err(e) => Err(format!("{flag} {shown}: {e}")),
        Ok(m) if m.is_dir() => Err(format!("{flag} {shown}: is a directory, not a file")),
        Ok(_) => match std::fs::File::open(p) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(format!(
                "{flag} {shown}: permission denied (the file exists but cannot be read)"
            )),
            Err(e) => Err(format!("{flag} {shown}: cannot be read: {e}")),
        },
    }
}

/// A folder option must name an existing folder.
fn check_dir(flag: &str, p: &Path) -> Result<(), String> {
    let shown = p.display();
    match std::fs::metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("{flag} {shown}: no such directory"))
        }
        Err(e) => Err(format!("{flag} {shown}: {e}")),
        Ok(m) if !m.is_dir() => Err(format!("{flag} {shown}: not a directory")),
        Ok(_) => Ok(()),
    }
}

fn check_symbol_options(
    binary: Option<&Path>,
    sysroot: &Path,
    debug_dirs: &[std::path::PathBuf],
) -> Result<(), String> {
    if let Some(b) = binary {
        check_file("--binary", b)?;
    }
    check_dir("--sysroot", sysroot)?;
    for d in debug_dirs {
        check_dir("--debug-dir", d)?;
    }
    Ok(())
}

/// `--layout` values: one built-in name, and any number of declared layout files
/// (a value ending in `.toml` or naming an existing file).
fn layouts(a: &AnalyzeArgs) -> Result<(Option<String>, Vec<DeclaredLayout>), String> {
    let mut name = None;
    let mut declared = Vec::new();
    for v in &a.layouts {
        let p = Path::new(v);
        if v.ends_with(".toml") || p.is_file() {
            declared.push(DeclaredLayout::load(p).map_err(|e| e.to_string())?);
            continue;
        }
        let known = mutexdiag::internals::mutex::select::builtin_names();
        if !known.iter().any(|k| k == v) {
            return Err(format!(
                "--layout {v}: unknown layout; valid names: {} (or a declared layout, FILE.toml)",
                known.join(", ")
            ));
        }
        if name.replace(v.clone()).is_some() {
            return Err(format!(
                "--layout {v}: only one built-in layout can be forced (declared layouts are TOML files)"
            ));
        }
    }
    Ok((name, declared))
}

fn analyze(a: &AnalyzeArgs, color: bool, width: usize) -> Result<Rendered, String> {
    let opts = analysis_options(a)?;
    let r = analysis::analyze(&a.core.core, &opts).map_err(|e| e.to_string())?;
    Ok(render_report(r, a.core.format, color, width))
}

/// The analysis options `analyze` takes (checked: files exist, layouts known).
fn analysis_options(a: &AnalyzeArgs) -> Result<analysis::Options, String> {
    let (layout, declared_layouts) = layouts(a)?;
    check_symbol_options(a.binary.as_deref(), &a.sysroot, &a.debug_dirs)?;
    for p in &a.peers {
        check_file("--peer", p)?;
    }
    let opts = analysis::Options {
        input: input_options(&a.core)?,
        binary: a.binary.clone(),
        sysroot: a.sysroot.clone(),
        debug_dirs: a.debug_dirs.clone(),
        layout,
        scan: match a.scan {
            Scan::None => ScanScope::None,
            Scan::Shared => ScanScope::Shared,
            Scan::All => ScanScope::All,
        },
        scan_threads: 0,
        peers: a.peers.clone(),
        declared_layouts,
        proc_maps: proc_maps(&a.core)?.map(std::sync::Arc::new),
    };
    Ok(opts)
}

/// A report in `format`; in text, its warnings go to stderr.
fn render_report(
    mut r: mutexdiag::report::model::Report,
    format: Format,
    color: bool,
    width: usize,
) -> Rendered {
    let code = if r.has_errors() { 1 } else { 0 };
    let mut warnings = Vec::new();
    let text = match format {
        Format::Json => json(&r),
        Format::Markdown => markdown::report(&r),
        Format::Dot => {
            warnings = std::mem::take(&mut r.warnings);
            dot::report(&r)
        }
        Format::Text => {
            warnings = std::mem::take(&mut r.warnings);
            text::report_width(&r, color, width)
        }
    };
    Rendered {
        text,
        warnings,
        code,
    }
}

fn explain(code: Option<&str>) -> Result<Rendered, String> {
    match code {
        None => {
            let mut s = String::from("Finding codes (mutexdiag explain CODE for details):\n");
            for c in findings::CODES {
                s.push_str(&format!(
                    "  {:<32} {:<8} {}\n",
                    c.code,
                    format!("{:?}", c.severity).to_lowercase(),
                    c.title
                ));
            }
            Ok(Rendered::ok(s))
        }
        Some(code) => match findings::lookup(code) {
            Some(c) => Ok(Rendered::ok(format!(
                "{} ({})\n{}\n\n{}\nFix:\n{}",
                c.code,
                format!("{:?}", c.severity).to_lowercase(),
                c.title,
                text::wrap(c.explanation, 100, "  "),
                text::wrap(c.fix, 100, "  ")
            ))),
            None => Err(format!(
                "unknown finding code {code:?}; `mutexdiag explain` lists them"
            )),
        },
    }
}

fn no_graph(cmd: &str) -> String {
    format!(
        "--format dot draws the analysis (mutexdiag CORE --format dot); `{cmd}` has no graph: use text, json or markdown"
    )
}

fn maps(a: &CoreArgs) -> Result<Rendered, String> {
    if a.format == Format::Dot {
        return Err(no_graph("maps"));
    }
    let mut doc = mutexdiag::maps_with(&a.core, &input_options(a)?, proc_maps(a)?.as_ref())
        .map_err(|e| e.to_string())?;
    Ok(match a.format {
        Format::Json => Rendered::ok(json(&doc)),
        Format::Markdown => Rendered::ok(markdown::maps(&doc)),
        Format::Dot => return Err(no_graph("maps")),
        Format::Text => {
            let warnings = std::mem::take(&mut doc.warnings);
            Rendered {
                text: text::maps(&doc),
                warnings,
                code: 0,
            }
        }
    })
}

fn threads(t: &cli::ThreadsArgs, width: usize) -> Result<Rendered, String> {
    let a = &t.core;
    if a.format == Format::Dot {
        return Err(no_graph("threads"));
    }
    if t.backtrace {
        check_symbol_options(t.binary.as_deref(), &t.sysroot, &t.debug_dirs)?;
    }
    let bt = t.backtrace.then(|| mutexdiag::BacktraceOptions {
        symbols: mutexdiag::SymbolOptions::new(
            t.binary.clone(),
            t.sysroot.clone(),
            t.debug_dirs.clone(),
        ),
        detail: if t.plain {
            mutexdiag::Detail::SYMTAB
        } else {
            mutexdiag::Detail::FULL
        },
    });
    let mut doc = mutexdiag::threads_with_maps(
        &a.core,
        &input_options(a)?,
        bt.as_ref(),
        proc_maps(a)?.as_ref(),
    )
    .map_err(|e| e.to_string())?;
    Ok(match a.format {
        Format::Json => Rendered::ok(json(&doc)),
        Format::Markdown => Rendered::ok(markdown::threads(&doc)),
        Format::Dot => return Err(no_graph("threads")),
        Format::Text => {
            let warnings = std::mem::take(&mut doc.warnings);
            Rendered {
                text: text::threads_width(&doc, width),
                warnings,
                code: 0,
            }
        }
    })
}

fn main() -> ExitCode {
    let argv = match args(std::env::args_os().collect()) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("mutexdiag: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(argv);
    // A plain core that shrinks while mapped: say so instead of dying silently.
    mutexdiag::install_sigbus_handler();
    // Triage streams its own output (records as cores finish).
    match &cli.command {
        Command::Triage(t) => return triage_cmd::triage(t, cli.output.as_deref()),
        Command::TriageWorker => return triage_cmd::worker(),
        _ => {}
    }
    let mut out = match Output::open(cli.output.as_deref(), cli.color) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("mutexdiag: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match &cli.command {
        Command::Analyze(a) => analyze(a, out.color, out.width),
        Command::Explain { code } => explain(code.as_deref()),
        Command::Maps(a) => maps(a),
        Command::Threads(t) => threads(t, out.width),
        Command::Coredumpctl(c) => coredumpctl_cmd::run(c, out.color, out.width),
        Command::Triage(_) | Command::TriageWorker => Ok(Rendered::ok(String::new())),
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "mutexdiag", &mut buf);
            Ok(Rendered::ok(String::from_utf8_lossy(&buf).into_owned()))
        }
        Command::Man => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut buf)
                .map_err(|e| format!("cannot render the manual page: {e}"))
                .map(|()| Rendered::ok(String::from_utf8_lossy(&buf).into_owned()))
        }
    };
    let r = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mutexdiag: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = out.write_str(&r.text).and_then(|()| out.finish()) {
        eprintln!("mutexdiag: {e}");
        return ExitCode::from(2);
    }
    for w in &r.warnings {
        eprintln!("mutexdiag: warning: {}", w.message);
    }
    ExitCode::from(r.code)
}
