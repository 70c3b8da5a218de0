//! `mutexdiag triage merge` and `mutexdiag triage report`, and the `--db` glue of a
//! triage run.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use mutexdiag::triage::index::Index;
use mutexdiag::triage::merge;
use mutexdiag::triage::model::TriageDoc;
use mutexdiag::triage::render;

use super::{TriageFormat, open_output, term_width};

#[derive(Args, Debug, Clone)]
pub struct MergeArgs {
    /// Outputs of shard runs: `--format jsonl` files and/or `--db` index files
    /// (told apart by their content).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output format (not jsonl).
    #[arg(long, value_enum, default_value_t = TriageFormat::Text)]
    pub format: TriageFormat,
    /// Accepted as by `triage` (there is no progress bar to hide).
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// The index (`--db` of earlier runs).
    #[arg(long, required = true)]
    pub db: PathBuf,
    /// Output format (not jsonl).
    #[arg(long, value_enum, default_value_t = TriageFormat::Text)]
    pub format: TriageFormat,
    /// Accepted as by `triage` (there is no progress bar to hide).
    #[arg(short, long)]
    pub quiet: bool,
}

fn fail(what: &str, m: String) -> ExitCode {
    eprintln!("mutexdiag triage {what}: {m}");
    ExitCode::from(2)
}

/// Write `doc` in `format` (jsonl: one record per line, in input order).
pub fn write_doc(
    doc: &TriageDoc,
    format: TriageFormat,
    out: &mut dyn Write,
    to_file: bool,
) -> std::io::Result<()> {
    match format {
        TriageFormat::Jsonl => {
            for r in &doc.cores {
                let s = serde_json::to_string(r).map_err(std::io::Error::other)?;
                writeln!(out, "{s}")?;
            }
            Ok(())
        }
        TriageFormat::Json => serde_json::to_writer_pretty(&mut *out, doc)
            .map_err(std::io::Error::other)
            .and_then(|_| writeln!(out)),
        TriageFormat::Text => render::text(doc, out, term_width(to_file), false),
        TriageFormat::Csv => render::csv(doc, out),
        TriageFormat::Markdown => render::markdown(doc, out),
        TriageFormat::Html => render::html(doc, out),
    }
    .and_then(|_| out.flush())
}

fn emit(
    what: &str,
    doc: &TriageDoc,
    format: TriageFormat,
    output: Option<&std::path::Path>,
) -> ExitCode {
    let res =
        open_output(output).and_then(|mut out| write_doc(doc, format, &mut out, output.is_some()));
    if let Err(e) = res {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return ExitCode::SUCCESS;
        }
        return fail(what, format!("cannot write the output: {e}"));
    }
    if doc.summary.inputs == 0 {
        eprintln!("mutexdiag triage {what}: no records");
        return ExitCode::from(2);
    }
    if doc.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `mutexdiag triage merge FILE...`
pub fn merge_cmd(a: &MergeArgs, output: Option<&std::path::Path>) -> ExitCode {
    let records = match merge::read_all(&a.files) {
        Ok(r) => r,
        Err(e) => return fail("merge", e.to_string()),
    };
    let (doc, notes) = merge::merge(records);
    if !notes.duplicates.is_empty() {
        eprintln!(
            "mutexdiag triage merge: {} input(s) appear in several files (first record kept), e.g. {}",
            notes.duplicates.len(),
            notes.duplicates[0]
        );
    }
    emit("merge", &doc, a.format, output)
}

/// `mutexdiag triage report --db FILE`
pub fn report_cmd(a: &ReportArgs, output: Option<&std::path::Path>) -> ExitCode {
    let records = match Index::open_existing(&a.db).and_then(|ix| ix.current_records()) {
        Ok(r) => r,
        Err(e) => return fail("report", format!("{}: {e}", a.db.display())),
    };
    let (doc, _) = merge::merge(records);
    emit("report", &doc, a.format, output)
}
