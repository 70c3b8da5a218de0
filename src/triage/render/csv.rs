//! `--format csv`: one row per input (every record of `cores`), quoted by the `csv`
//! crate (RFC 4180 quoting, lines ending in `\n`). Values are the JSON's: enums spelt as in the JSON, missing
//! values empty, lists `;`-joined. Strings are written as they are (a spreadsheet
//! user opening a file built from hostile names should import it as text).

use std::io::{self, Write};

use super::serde_name;
use crate::triage::model::TriageDoc;

/// The header row.
pub const COLUMNS: [&str; 14] = [
    "id",
    "source",
    "status",
    "reason",
    "cached",
    "pid",
    "executable",
    "binary",
    "signal",
    "timestamp",
    "signature",
    "bucket",
    "codes",
    "peers",
];

/// Writes one row per input of `doc`, after a header row.
pub fn csv<W: Write + ?Sized>(doc: &TriageDoc, w: &mut W) -> io::Result<()> {
    let mut out = ::csv::Writer::from_writer(&mut *w);
    out.write_record(COLUMNS).map_err(into_io)?;
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let num = |v: Option<u32>| v.map(|n| n.to_string()).unwrap_or_default();
    for c in &doc.cores {
        let codes: Vec<&str> = c.findings.iter().map(|f| f.code.as_str()).collect();
        out.write_record([
            c.id.clone(),
            serde_name(&c.source),
            serde_name(&c.status),
            opt(&c.reason),
            c.cached.to_string(),
            num(c.pid),
            opt(&c.executable),
            opt(&c.binary),
            num(c.signal),
            opt(&c.timestamp),
            opt(&c.signature),
            opt(&c.bucket),
            codes.join(";"),
            c.peers.join(";"),
        ])
        .map_err(into_io)?;
    }
    out.flush()
}

/// The `csv` crate wraps the writer's errors; give them back as they were.
fn into_io(e: ::csv::Error) -> io::Error {
    match e.into_kind() {
        ::csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("csv: {other:?}")),
    }
}
