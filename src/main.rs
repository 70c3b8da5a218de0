//! The `mutexdiag` command: parse arguments, call the library, render, exit.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, CoreArgs, Format};
use mutexdiag::input::InputOptions;
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Maps(a) => match mutexdiag::maps(&a.core, &input_options(&a)) {
            Ok(doc) => emit(&match a.format {
                Format::Json => json(&doc),
                _ => text::maps(&doc),
            }),
            Err(e) => fail(&e),
        },
        Command::Threads(a) => match mutexdiag::threads(&a.core, &input_options(&a)) {
            Ok(doc) => emit(&match a.format {
                Format::Json => json(&doc),
                _ => text::threads(&doc),
            }),
            Err(e) => fail(&e),
        },
    }
}
