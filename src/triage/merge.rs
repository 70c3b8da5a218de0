//! `mutexdiag triage merge`: the records of shard runs (`--format jsonl` files and
//! `--db` index files) put back into the one document a single run over all the
//! inputs gives.
//!
//! Each record carries what the document needs: its position in the full walk
//! (`seq`, the same in every shard), its bucket example (`example`, jsonl only) and
//! what incident linking needs (`correlation`), so [`super::run::assemble`] recomputes
//! buckets, counts and incidents (also those whose cores fell in different shards).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::model::{CoreRecord, Example, Status, TriageDoc};
use super::run;

/// Why shard outputs could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line of a jsonl file is not a triage record.
    #[error("{path}, line {line}: not a triage record ({why})")]
    Record {
        /// The file.
        path: PathBuf,
        /// 1-based.
        line: usize,
        /// The parser's message.
        why: String,
    },
    /// An index database could not be read.
    #[error("{path}: {why}")]
    Index {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

/// The first bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

/// Whether `path` is an SQLite database (by its content, not its name).
pub fn is_sqlite(path: &Path) -> bool {
    let mut head = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|_| head == SQLITE_MAGIC)
}

/// The records of one `--format jsonl` file (blank lines are ignored).
pub fn read_jsonl(path: &Path) -> Result<Vec<CoreRecord>, MergeError> {
    let io = |source| MergeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let mut out = Vec::new();
    for (n, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let mut r: CoreRecord = serde_json::from_str(&line).map_err(|e| MergeError::Record {
            path: path.to_path_buf(),
            line: n + 1,
            why: e.to_string(),
        })?;
        // The full report is not part of the document.
        r.report = None;
        out.push(r);
    }
    Ok(out)
}

/// The records of every file: jsonl files, and index databases (their current
/// records; see [`super::index`]).
pub fn read_all(files: &[PathBuf]) -> Result<Vec<CoreRecord>, MergeError> {
    let mut all = Vec::new();
    for f in files {
        if is_sqlite(f) {
            let recs = super::index::Index::open_existing(f)
                .and_then(|ix| ix.current_records())
                .map_err(|e| MergeError::Index {
                    path: f.clone(),
                    why: e.to_string(),
                })?;
            all.extend(recs);
        } else {
            all.extend(read_jsonl(f)?);
        }
    }
    Ok(all)
}

/// What a merge found besides the document.
#[derive(Debug, Default)]
pub struct MergeNotes {
    /// Ids met more than once (in several files or twice in one): the first record
    /// was kept.
    pub duplicates: Vec<String>,
}

const ELF_SKIP: &str = "ELF file, not a core";
const USED_AS: &str = "; used as the executable of ";
/// How a core's `binary` says the executable was one of the inputs: `ID (found among
/// the inputs, build-id matches)`.
pub const FROM_INPUTS: &str = " (found among the inputs";

/// The document over the records of shard runs: the same document one run over all
/// the inputs gives.
pub fn merge(records: Vec<CoreRecord>) -> (TriageDoc, MergeNotes) {
    let mut notes = MergeNotes::default();
    let mut seen: HashMap<String, ()> = HashMap::new();
    let mut kept: Vec<CoreRecord> = Vec::with_capacity(records.len());
    for r in records {
        if seen.insert(r.id.clone(), ()).is_some() {
            notes.duplicates.push(r.id);
            continue;
        }
        kept.push(r);
    }
    // Each bucket's example: its core of the lowest seq.
    let mut examples: HashMap<String, (u64, Example)> = HashMap::new();
    for r in &kept {
        if let (Some(b), Some(ex)) = (&r.bucket, &r.example)
            && examples.get(b).is_none_or(|(s, _)| r.seq < *s)
        {
            examples.insert(b.clone(), (r.seq, ex.clone()));
        }
    }
    let examples = examples.into_iter().map(|(b, (_, e))| (b, e)).collect();
    (run::assemble(kept, &examples), notes)
}

/// A skipped executable says how many cores used it; in a shard run that counts only
/// the shard's cores. Count again over all records: a core names the input it used
/// as `ID (found among the inputs, …)` in `binary`.
pub fn recount_executables(records: &mut [CoreRecord]) {
    let mut uses: BTreeMap<String, usize> = BTreeMap::new();
    for r in records.iter() {
        if r.status == Status::Analysed
            && let Some(b) = &r.binary
            && let Some(at) = b.find(FROM_INPUTS)
        {
            *uses.entry(b[..at].to_string()).or_default() += 1;
        }
    }
    for r in records.iter_mut() {
        if r.status != Status::Skipped {
            continue;
        }
        let Some(reason) = &r.reason else { continue };
        if !reason.starts_with(ELF_SKIP) {
            continue;
        }
        let base = reason.split(USED_AS).next().unwrap_or(reason).to_string();
        r.reason = Some(match uses.get(&r.id) {
            Some(n) if *n > 0 => format!("{base}{USED_AS}{n} core(s)"),
            _ => base,
        });
    }
}
