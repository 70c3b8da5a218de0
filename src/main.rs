//! The `mutexdiag` command: parse arguments, call the library, render, exit.

mod cli;
mod triage_cmd;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use cli::{AnalyzeArgs, Cli, Command, CoreArgs, Format, Scan};
use mutexdiag::analysis::{self, findings};
use mutexdiag::input::InputOptions;
use mutexdiag::mutex::declared::DeclaredLayout;
use mutexdiag::mutex::discover::ScanScope;
use mutexdiag::report::markdown;
use mutexdiag::report::text;

fn input_options(a: &CoreArgs) -> InputOptions {
    InputOptions {
        max_core_size: a.max_core_size,
        temp_dir: None,
    }
}

fn emit(s: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    if out.write_all(s.as_bytes()).is_err() {
        // Broken pipe (e.g. `| head`): not an analysis failure.
        return ExitCode::SUCCESS;
    }
    ExitCode::SUCCESS
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

fn fail(e: &mutexdiag::Error) -> ExitCode {
    eprintln!("mutexdiag: {e}");
    ExitCode::from(2)
}

const SUBCOMMANDS: &[&str] = &[
    "analyze",
    "maps",
    "threads",
    "explain",
    "triage",
    "triage-worker",
    "help",
];

/// `mutexdiag CORE ...` means `mutexdiag analyze CORE ...`.
fn args() -> Vec<std::ffi::OsString> {
    let mut v: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(first) = v.get(1) {
        let s = first.to_string_lossy();
        if !s.starts_with('-') && !SUBCOMMANDS.contains(&s.as_ref()) {
            v.insert(1, "analyze".into());
        }
    }
    v
}

fn color_wanted() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// `--layout` values: one built-in name, and any number of declared layout files
/// (a value ending in `.toml` or naming an existing file).
fn layouts(a: &AnalyzeArgs) -> Result<(Option<String>, Vec<DeclaredLayout>), String> {
    let mut name = None;
    let mut declared = Vec::new();
    for v in &a.layouts {
        let p = std::path::Path::new(v);
        if v.ends_with(".toml") || p.is_file() {
            declared.push(DeclaredLayout::load(p).map_err(|e| e.to_string())?);
        } else if name.replace(v.clone()).is_some() {
            return Err(format!(
                "--layout {v}: only one built-in layout can be forced (declared layouts are TOML files)"
            ));
        }
    }
    Ok((name, declared))
}

fn analyze(a: &AnalyzeArgs) -> ExitCode {
    let (layout, declared_layouts) = match layouts(a) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("mutexdiag: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = analysis::Options {
        input: input_options(&a.core),
        binary: a.binary.clone(),
        sysroot: a.sysroot.clone(),
        debug_dirs: a.debug_dirs.clone(),
        layout,
        scan: match a.scan {
            Scan::None => ScanScope::None,
            Scan::Shared => ScanScope::Shared,
            Scan::All => ScanScope::All,
        },
        peers: a.peers.clone(),
        declared_layouts,
    };
    match analysis::analyze(&a.core.core, &opts) {
        Ok(r) => {
            let s = match a.core.format {
                Format::Json => json(&r),
                Format::Markdown => markdown::report(&r),
                Format::Text => text::report(&r, color_wanted()),
            };
            emit(&s);
            if r.has_errors() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => fail(&e),
    }
}

fn explain(code: Option<&str>) -> ExitCode {
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
            emit(&s)
        }
        Some(code) => match findings::lookup(code) {
            Some(c) => emit(&format!(
                "{} ({})\n{}\n\n{}\nFix:\n{}",
                c.code,
                format!("{:?}", c.severity).to_lowercase(),
                c.title,
                text::wrap(c.explanation, 100, "  "),
                text::wrap(c.fix, 100, "  ")
            )),
            None => {
                eprintln!(
                    "mutexdiag: unknown finding code {code:?}; `mutexdiag explain` lists them"
                );
                ExitCode::from(2)
            }
        },
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(args());
    // A plain core that shrinks while mapped: say so instead of dying silently.
    mutexdiag::guard::install_sigbus_handler();
    match cli.command {
        Command::Analyze(a) => analyze(&a),
        Command::Explain { code } => explain(code.as_deref()),
        Command::Triage(t) => triage_cmd::triage(&t),
        Command::TriageWorker => triage_cmd::worker(),
        Command::Maps(a) => match mutexdiag::maps(&a.core, &input_options(&a)) {
            Ok(doc) => emit(&match a.format {
                Format::Json => json(&doc),
                _ => text::maps(&doc),
            }),
            Err(e) => fail(&e),
        },
        Command::Threads(t) => {
            let a = &t.core;
            let bt = t.backtrace.then(|| mutexdiag::BacktraceOptions {
                symbols: mutexdiag::symbols::SymbolOptions::new(
                    t.binary.clone(),
                    t.sysroot.clone(),
                    t.debug_dirs.clone(),
                ),
                detail: if t.plain {
                    mutexdiag::symbols::Detail::SYMTAB
                } else {
                    mutexdiag::symbols::Detail::FULL
                },
            });
            match mutexdiag::threads_with(&a.core, &input_options(a), bt.as_ref()) {
                Ok(doc) => emit(&match a.format {
                    Format::Json => json(&doc),
                    _ => text::threads(&doc),
                }),
                Err(e) => fail(&e),
            }
        }
    }
}
