//! `--db FILE`: an SQLite index of triaged inputs, so that a run over an archive that
//! keeps growing analyses only the new or changed cores, and so that history (when a
//! bucket first appeared, whether it still occurs) outlives the cores.
//!
//! Tables (schema version in `PRAGMA user_version`, migrated by [`MIGRATIONS`]):
//! - `inputs`: one row per input id ever seen: size, mtime, fingerprint, status,
//!   reason, signature, bucket, timestamp, the record (JSON, with its bucket example,
//!   without the full report), `missing` (the input was not found by a later run over
//!   the same paths; the row is kept), the runs that first and last saw it;
//! - `buckets`: per bucket its signature, code, count of inputs ever seen in it,
//!   first and last seen (crash timestamps), the runs that first and last saw it;
//! - `runs`: one row per run: start, end, paths, shard, counts.
//!
//! The fingerprint ([`fingerprint`]) is SHA-256 of the size, the first 64 KiB and the
//! last 64 KiB of the stored file: cheap (two reads, whatever the core's size), and
//! any rewrite of a core changes its ELF header, its notes (at the start) or its
//! length; a compressed core's frame trailer is at the end. A tar member is identified
//! by its size and mtime from the tar header (reading it would mean reading the
//! archive).
//!
//! Concurrency: WAL journal, a busy timeout, and every write in a short
//! `BEGIN IMMEDIATE` transaction (batches of records), so two runs on one index
//! interleave their writes instead of failing or losing records.

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};

use super::model::{CoreRecord, Status, Summary};
use super::run::{Shard, epoch};
use super::sources::{Entry, Locator, Place};

/// The schema version this build writes.
pub const INDEX_SCHEMA_VERSION: u32 = 1;

/// Schema steps: `MIGRATIONS[v]` takes an index from version `v` to `v + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 0 → 1
    "CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started TEXT NOT NULL,
        finished TEXT,
        paths TEXT NOT NULL,
        shard TEXT,
        inputs INTEGER, analysed INTEGER, cached INTEGER, failed INTEGER,
        skipped INTEGER, missing INTEGER
    );
    CREATE TABLE inputs (
        id TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime INTEGER,
        fingerprint TEXT,
        status TEXT NOT NULL,
        reason TEXT,
        signature TEXT,
        bucket TEXT,
        timestamp TEXT,
        time INTEGER,
        record TEXT NOT NULL,
        missing INTEGER NOT NULL DEFAULT 0,
        first_run INTEGER NOT NULL,
        last_run INTEGER NOT NULL
    );
    CREATE INDEX inputs_bucket ON inputs(bucket);
    CREATE TABLE buckets (
        id TEXT PRIMARY KEY,
        signature TEXT NOT NULL,
        code TEXT,
        count INTEGER NOT NULL,
        first_seen TEXT,
        last_seen TEXT,
        first_run INTEGER NOT NULL,
        last_run INTEGER NOT NULL
    );",
];

/// What went wrong with an index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// SQLite said no.
    #[error("index database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A stored record is not readable.
    #[error("index database: the record of {id} is unreadable: {why}")]
    Record {
        /// The input.
        id: String,
        /// The parser's message.
        why: String,
    },
    /// The index was written by a newer mutexdiag.
    #[error(
        "index database has schema version {0}; this mutexdiag knows up to {INDEX_SCHEMA_VERSION}"
    )]
    TooNew(u32),
    /// Not there.
    #[error("{0}: no such index database")]
    Missing(PathBuf),
    /// A record could not be written as JSON.
    #[error("index database: {0}")]
    Json(#[from] serde_json::Error),
}

/// An open index.
pub struct Index {
    conn: Connection,
}

/// One input's fingerprint and what the index knew of it.
pub struct Known {
    /// The fingerprint now.
    pub fingerprint: String,
    /// The stored record, when the stored fingerprint is the same (and the input was
    /// analysed, not failed: a failure is retried).
    pub record: Option<CoreRecord>,
}

/// The fingerprint of an input (see the module documentation); `None` when its file
/// cannot be read (it is then analysed, and fails there with a clear reason).
pub fn fingerprint(e: &Entry) -> Option<String> {
    const W: u64 = 64 * 1024;
    let mut h = Sha256::new();
    h.update(e.size.to_le_bytes());
    match e.locator.as_ref()? {
        Locator {
            place: Place::File(p),
            ..
        } => {
            let mut f = std::fs::File::open(p).ok()?;
            let len = f.metadata().ok()?.len();
            h.update(len.to_le_bytes());
            let mut buf = vec![0u8; W.min(len) as usize];
            f.read_exact(&mut buf).ok()?;
            h.update(&buf);
            if len > W {
                let at = len.saturating_sub(W).max(W);
                f.seek(SeekFrom::Start(at)).ok()?;
                buf.clear();
                f.take(W).read_to_end(&mut buf).ok()?;
                h.update(&buf);
            }
        }
        Locator {
            place: Place::Member { .. },
            ..
        } => {
            h.update(b"tar-member");
            h.update(e.mtime.unwrap_or(0).to_le_bytes());
        }
    }
    let d = h.finalize();
    Some(d[..16].iter().map(|b| format!("{b:02x}")).collect())
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Analysed => "analysed",
        Status::Failed => "failed",
        Status::Skipped => "skipped",
    }
}

/// Whether an input id was found by walking `paths` (so a run over `paths` that does
/// not find it any more may call it missing).
pub fn under(id: &str, paths: &[PathBuf]) -> bool {
    paths.iter().any(|p| {
        let p = p.to_string_lossy();
        let p = p.trim_end_matches('/');
        id == p
            || id
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('!'))
    })
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

impl Index {
    /// Open (creating or migrating) the index at `path`.
    pub fn open(path: &Path) -> Result<Index, IndexError> {
        let conn = Connection::open(path)?;
        Self::setup(conn)
    }

    /// Open an index that must exist already (for `report` and `merge`).
    pub fn open_existing(path: &Path) -> Result<Index, IndexError> {
        if !path.is_file() {
            return Err(IndexError::Missing(path.to_path_buf()));
        }
        Self::open(path)
    }

    fn setup(mut conn: Connection) -> Result<Index, IndexError> {
        conn.busy_timeout(Duration::from_secs(120))?;
        // WAL: readers never block the writer; set once, persistent in the file.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let v: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if v > INDEX_SCHEMA_VERSION {
            return Err(IndexError::TooNew(v));
        }
        for (step, sql) in MIGRATIONS.iter().enumerate().skip(v as usize) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (step + 1) as u32)?;
        }
        tx.commit()?;
        Ok(Index { conn })
    }

    /// The schema version of the open index.
    pub fn schema_version(&self) -> Result<u32, IndexError> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Record the start of a run; its id.
    pub fn begin_run(
        &mut self,
        paths: &[PathBuf],
        shard: Option<Shard>,
    ) -> Result<i64, IndexError> {
        let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO runs (started, paths, shard) VALUES (?1, ?2, ?3)",
            params![
                now(),
                serde_json::to_string(&paths)?,
                shard.map(|s| format!("{}/{}", s.index, s.count))
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(id)
    }

    /// What the index knows of a core now found as `e`.
    pub fn lookup(&self, e: &Entry) -> Result<Known, IndexError> {
        let Some(fp) = fingerprint(e) else {
            return Ok(Known {
                fingerprint: String::new(),
                record: None,
            });
        };
        let row: Option<(Option<String>, String, String)> = self
            .conn
            .prepare_cached("SELECT fingerprint, status, record FROM inputs WHERE id = ?1")?
            .query_row([&e.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let record = match row {
            Some((Some(old), status, json)) if old == fp && status == "analysed" => Some(
                serde_json::from_str::<CoreRecord>(&json).map_err(|x| IndexError::Record {
                    id: e.id.clone(),
                    why: x.to_string(),
                })?,
            ),
            _ => None,
        };
        Ok(Known {
            fingerprint: fp,
            record,
        })
    }

    /// Store a batch of records of run `run` (with the fingerprints of their inputs).
    pub fn store(
        &mut self,
        run: i64,
        batch: &[(CoreRecord, u64, Option<i64>, Option<String>)],
    ) -> Result<(), IndexError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO inputs (id, size, mtime, fingerprint, status, reason, signature,
                    bucket, timestamp, time, record, missing, first_run, last_run)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, ?12, ?12)
                 ON CONFLICT(id) DO UPDATE SET size = excluded.size, mtime = excluded.mtime,
                    fingerprint = excluded.fingerprint, status = excluded.status,
                    reason = excluded.reason, signature = excluded.signature,
                    bucket = excluded.bucket, timestamp = excluded.timestamp,
                    time = excluded.time, record = excluded.record, missing = 0,
                    last_run = excluded.last_run",
            )?;
            for (rec, size, mtime, fp) in batch {
                let mut r = rec.clone();
                r.cached = false;
                r.report = None;
                r.peers.clear();
                for f in &mut r.findings {
                    f.owner_core = None;
                }
                st.execute(params![
                    r.id,
                    *size as i64,
                    mtime,
                    fp,
                    status_name(r.status),
                    r.reason,
                    r.signature,
                    r.bucket,
                    r.timestamp,
                    r.timestamp.as_deref().and_then(epoch),
                    serde_json::to_string(&r)?,
                    run
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// End run `run`: inputs under `paths` (in `shard`) that it did not see are marked
    /// missing; buckets are recounted; the run's counts recorded. Returns how many
    /// inputs became missing.
    pub fn finish_run(
        &mut self,
        run: i64,
        paths: Option<&[PathBuf]>,
        shard: Option<Shard>,
        summary: &Summary,
    ) -> Result<u64, IndexError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut gone = 0u64;
        if let Some(paths) = paths {
            let stale: Vec<String> = {
                let mut st =
                    tx.prepare("SELECT id FROM inputs WHERE missing = 0 AND last_run < ?1")?;
                let ids = st.query_map([run], |r| r.get::<_, String>(0))?;
                let mut v = Vec::new();
                for id in ids {
                    let id = id?;
                    if under(&id, paths) && shard.is_none_or(|s| s.takes(&id)) {
                        v.push(id);
                    }
                }
                v
            };
            let mut st = tx.prepare("UPDATE inputs SET missing = 1 WHERE id = ?1")?;
            for id in &stale {
                gone += st.execute([id])? as u64;
            }
        }
        // Buckets: every input ever seen in them (missing ones too: history).
        tx.execute(
            "INSERT INTO buckets (id, signature, code, count, first_seen, last_seen,
                first_run, last_run)
             SELECT bucket, signature, json_extract(record, '$.findings[0].code'), count(*),
                (SELECT timestamp FROM inputs j WHERE j.bucket = i.bucket AND j.time IS NOT NULL
                    ORDER BY j.time ASC LIMIT 1),
                (SELECT timestamp FROM inputs j WHERE j.bucket = i.bucket AND j.time IS NOT NULL
                    ORDER BY j.time DESC LIMIT 1),
                min(first_run), max(last_run)
             FROM inputs i WHERE bucket IS NOT NULL GROUP BY bucket
             ON CONFLICT(id) DO UPDATE SET count = excluded.count,
                first_seen = excluded.first_seen, last_seen = excluded.last_seen,
                last_run = excluded.last_run",
            [],
        )?;
        tx.execute(
            "UPDATE runs SET finished = ?2, inputs = ?3, analysed = ?4, cached = ?5,
                failed = ?6, skipped = ?7, missing = ?8 WHERE id = ?1",
            params![
                run,
                now(),
                summary.inputs as i64,
                summary.analysed as i64,
                summary.cached as i64,
                summary.failed as i64,
                summary.skipped as i64,
                gone as i64
            ],
        )?;
        tx.commit()?;
        Ok(gone)
    }

    /// The records of every input not missing, in walk order of their last run.
    pub fn current_records(&self) -> Result<Vec<CoreRecord>, IndexError> {
        let mut st = self
            .conn
            .prepare("SELECT id, record FROM inputs WHERE missing = 0 ORDER BY id")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, json) = row?;
            let r: CoreRecord = serde_json::from_str(&json).map_err(|x| IndexError::Record {
                id,
                why: x.to_string(),
            })?;
            out.push(r);
        }
        Ok(out)
    }

    /// Ids of inputs marked missing.
    pub fn missing(&self) -> Result<HashSet<String>, IndexError> {
        let mut st = self
            .conn
            .prepare("SELECT id FROM inputs WHERE missing = 1")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = HashSet::new();
        for r in rows {
            out.insert(r?);
        }
        Ok(out)
    }

    /// The number of rows of `inputs`, and of `runs`.
    pub fn counts(&self) -> Result<(u64, u64), IndexError> {
        let i: i64 = self
            .conn
            .query_row("SELECT count(*) FROM inputs", [], |r| r.get(0))?;
        let r: i64 = self
            .conn
            .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))?;
        Ok((i as u64, r as u64))
    }

    /// `PRAGMA integrity_check` says `ok`.
    pub fn integrity_ok(&self) -> Result<bool, IndexError> {
        let s: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(s == "ok")
    }
}

/// One run's use of an index: consulted for each input before analysis, told each
/// record as it is made (written in batches), finished with the run's summary.
pub struct Session {
    ix: Index,
    run: i64,
    paths: Option<Vec<PathBuf>>,
    shard: Option<Shard>,
    /// Per input of this run: size, mtime, fingerprint (cores only).
    seen: std::collections::HashMap<String, (u64, Option<i64>, Option<String>)>,
    pending: Vec<(CoreRecord, u64, Option<i64>, Option<String>)>,
    error: Option<IndexError>,
}

const BATCH: usize = 256;

impl Session {
    /// Open the index at `db` and start a run over `paths` (`None`: the inputs came
    /// from a list on stdin, so nothing is marked missing).
    pub fn start(
        db: &Path,
        paths: Option<Vec<PathBuf>>,
        shard: Option<Shard>,
    ) -> Result<Session, IndexError> {
        let mut ix = Index::open(db)?;
        let run = ix.begin_run(paths.as_deref().unwrap_or(&[]), shard)?;
        Ok(Session {
            ix,
            run,
            paths,
            shard,
            seen: Default::default(),
            pending: Vec::new(),
            error: None,
        })
    }

    /// The hook of [`super::run::run_cached`]: remember the input; for a core whose
    /// fingerprint is unchanged, its stored record.
    pub fn consult(&mut self, e: &Entry) -> Option<CoreRecord> {
        if e.what != super::sources::What::Core {
            self.seen.insert(e.id.clone(), (e.size, e.mtime, None));
            return None;
        }
        match self.ix.lookup(e) {
            Ok(k) => {
                let fp = (!k.fingerprint.is_empty()).then_some(k.fingerprint);
                self.seen.insert(e.id.clone(), (e.size, e.mtime, fp));
                k.record
            }
            Err(err) => {
                self.error.get_or_insert(err);
                None
            }
        }
    }

    /// A record of this run (written with the next batch).
    pub fn record(&mut self, r: &CoreRecord) {
        let (size, mtime, fp) = self.seen.remove(&r.id).unwrap_or((0, None, None));
        let mut r = r.clone();
        r.report = None;
        self.pending.push((r, size, mtime, fp));
        if self.pending.len() >= BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.pending.is_empty() || self.error.is_some() {
            return;
        }
        let batch = std::mem::take(&mut self.pending);
        if let Err(e) = self.ix.store(self.run, &batch) {
            self.error = Some(e);
        }
    }

    /// Write what is left, mark vanished inputs missing, recount buckets, record the
    /// run. Returns how many inputs became missing.
    pub fn finish(mut self, summary: &Summary) -> Result<u64, IndexError> {
        self.flush();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.ix
            .finish_run(self.run, self.paths.as_deref(), self.shard, summary)
    }
}
