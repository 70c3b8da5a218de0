//! Renderers of a [`TriageDoc`]: `text`, `markdown`, `csv`, `html` (and `json`, the
//! document itself). Each writes to any [`Write`] and returns its errors.
//!
//! Everything shown comes from crash files and their names, so every string is
//! hostile input: the text and markdown renderers replace control and bidi
//! characters (`one_line`), markdown escapes its syntax, HTML escapes every
//! string, CSV quotes.

mod csv;
mod html;
mod markdown;
mod text;
mod timeline;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use super::model::{Bucket, Severity, Status, TriageDoc};

pub use self::csv::csv;
pub use self::html::html;
pub use self::markdown::markdown;
pub use self::text::text;

/// An output format of a triage document. `jsonl` is not one: its records are
/// written by the driver as cores finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Aligned plain text, fitted to a width (the default).
    Text,
    /// The whole document, as JSON (`docs/json.md`).
    Json,
    /// GitHub markdown tables.
    Markdown,
    /// One row per input.
    Csv,
    /// One self-contained HTML file with a chart.
    Html,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 5] = [
        Format::Text,
        Format::Json,
        Format::Markdown,
        Format::Csv,
        Format::Html,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Csv => "csv",
            Format::Html => "html",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown format name.
#[derive(Debug, thiserror::Error)]
#[error("unknown triage format `{0}` (expected text, json, markdown, csv or html)")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s || (s == "md" && *f == Format::Markdown))
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

/// What the renderers need besides the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Columns available to `text` (terminal width, or 100 when not a terminal).
    pub width: usize,
    /// ANSI colours in `text` (severities).
    pub color: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            width: 100,
            color: false,
        }
    }
}

/// Renders `doc` in `format` to `w`.
pub fn render<W: Write + ?Sized>(
    doc: &TriageDoc,
    format: Format,
    w: &mut W,
    opts: &Options,
) -> io::Result<()> {
    match format {
        Format::Text => text(doc, w, opts.width, opts.color),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *w, doc)?;
            writeln!(w)
        }
        Format::Markdown => markdown(doc, w),
        Format::Csv => csv(doc, w),
        Format::Html => html(doc, w),
    }
}

/// The buckets, largest first; ties in order of first appearance (the first of
/// their cores among the inputs, then their order in the document).
pub(crate) fn buckets_by_count(doc: &TriageDoc) -> Vec<&Bucket> {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, c) in doc.cores.iter().enumerate() {
        if let Some(b) = &c.bucket {
            first.entry(b.as_str()).or_insert(i);
        }
    }
    let mut v: Vec<(usize, &Bucket)> = doc.buckets.iter().enumerate().collect();
    v.sort_by_key(|(pos, b)| {
        (
            std::cmp::Reverse(b.count),
            first.get(b.id.as_str()).copied().unwrap_or(usize::MAX),
            *pos,
        )
    });
    v.into_iter().map(|(_, b)| b).collect()
}

/// A group of skipped inputs sharing one reason, in order of first appearance.
pub(crate) struct SkipGroup<'a> {
    pub reason: &'a str,
    pub ids: Vec<&'a str>,
}

/// From this many inputs skipped for one reason on, the reason is shown once with
/// a count and a few of the inputs.
pub(crate) const GROUP_AT: usize = 3;
/// How many inputs of a group are named.
pub(crate) const GROUP_SHOWN: usize = 3;

pub(crate) fn skipped_groups(doc: &TriageDoc) -> Vec<SkipGroup<'_>> {
    let mut groups: Vec<SkipGroup<'_>> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for c in doc.cores.iter().filter(|c| c.status == Status::Skipped) {
        let reason = c.reason.as_deref().unwrap_or("no reason given");
        let i = *index.entry(reason).or_insert_with(|| {
            groups.push(SkipGroup {
                reason,
                ids: Vec::new(),
            });
            groups.len() - 1
        });
        groups[i].ids.push(&c.id);
    }
    groups
}

/// `error`, `warning`, `note`, or `-` for a bucket of cores with no finding.
pub(crate) fn severity_name(s: Option<Severity>) -> &'static str {
    match s {
        Some(Severity::Error) => "error",
        Some(Severity::Warning) => "warning",
        Some(Severity::Note) => "note",
        None => "-",
    }
}

/// The summary line: `12 inputs: 8 analysed (2 cached), 1 failed, 3 skipped; 3
/// buckets, 1 incident`.
pub(crate) fn summary_line(doc: &TriageDoc) -> String {
    let (a, b) = summary_parts(doc);
    format!("{a}; {b}")
}

/// The summary line's two halves (the text output breaks between them first).
pub(crate) fn summary_parts(doc: &TriageDoc) -> (String, String) {
    let s = &doc.summary;
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    (
        format!(
            "{}: {} analysed ({} cached), {} failed, {} skipped",
            plural(s.inputs, "input", "inputs"),
            s.analysed,
            s.cached,
            s.failed,
            s.skipped,
        ),
        format!(
            "{}, {}",
            plural(s.buckets, "bucket", "buckets"),
            plural(s.incidents, "incident", "incidents"),
        ),
    )
}

/// The name serde gives a unit variant (`systemd-coredump`, `analysed`), so that
/// every format spells the model's values as the JSON does.
pub(crate) fn serde_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::from("?"),
    }
}

/// Characters that reorder or hide text on a terminal or in a browser (Trojan
/// source): shown escaped like control characters.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` on one line, safe to print: line breaks and tabs become spaces, other
/// control characters and bidi controls become `\u{..}` escapes (an ESC in a core's
/// name must not drive the reader's terminal).
pub(crate) fn one_line(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() || is_bidi_control(c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_escapes_controls() {
        assert_eq!(one_line("a\nb\tc"), "a b c");
        assert_eq!(one_line("x\x1b[31my"), "x\\u{1b}[31my");
        assert_eq!(one_line("ab\u{202e}cd"), "ab\\u{202e}cd");
        assert!(matches!(one_line("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn formats_parse() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>().ok(), Some(f));
        }
        assert_eq!("md".parse::<Format>().ok(), Some(Format::Markdown));
        assert!("jsonl".parse::<Format>().is_err());
    }
}
