//! `--db FILE`: an SQLite index of triaged inputs, so that a run over an archive that
//! keeps growing analyses only the new or changed cores, and so that history (when a
//! bucket first appeared, whether it still occurs) outlives the cores.
//!
//! Tables (schema version in `PRAGMA user_version`, migrated by [`MIGRATIONS`]):
//! - `inputs`: one row per input id ever seen: size, mtime, stamp, fingerprint,
//!   status, reason, signature, bucket, primary finding code, timestamp, `missing`
//!   (the input was not found by a later run over the same paths; the row is kept),
//!   the runs that first and last saw it;
//! - `records`: per input id its record (JSON, with its bucket example, without the
//!   full report), written when the input is analysed;
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
//! The stamp ([`FileStamp`]: device, inode, size, mtime and ctime in nanoseconds,
//! column `stamp`) of a plain file is stored with its fingerprint. A later run that
//! finds the file with the same stamp takes the stored record without opening the
//! file (one `lstat` per input; see [`Session::start`]): the fingerprint bytes are
//! re-read only when the stamp moved. A user cannot set a file's ctime, and any
//! write, `touch -d`, rename over it or xattr change moves it, so a core whose
//! content changed, even with the same size and its mtime put back, is read again
//! (then re-analysed if its fingerprint differs). What the stamp cannot see: a
//! change made with the system clock set back to the old ctime, or by writing the
//! block device under the file system. `--db-rehash` ([`Session::start`]'s `rehash`)
//! ignores stamps and reads every fingerprint.
//!
//! Concurrency: WAL journal, a busy timeout, and every write in a short
//! `BEGIN IMMEDIATE` transaction (batches of records), so two runs on one index
//! interleave their writes instead of failing or losing records. An input whose
//! stored record is reused is not written again: the end of the run marks all of them
//! seen in the one transaction that also marks missing inputs and recounts buckets.
//!
//! `inputs.code` is the code of the record's primary finding
//! ([`super::signature::primary_of_record`], the rule of the signature and of the
//! document's buckets); `buckets.code` is taken from it.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};

use super::model::{CoreRecord, Source, Status, Summary};
use super::run::{Shard, epoch};
use super::signature::primary_of_record;
use super::sources::{Entry, FileStamp, KnownFiles, Locator, Place, SourceKind, What};

/// The schema version this build writes.
pub const INDEX_SCHEMA_VERSION: u32 = 2;

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
    // 1 → 2: the records move to their own table (written when an input is
    // analysed, never rewritten when a run only sees it again: `inputs` rows stay
    // small, so marking 10 000 of them seen rewrites a few pages, not every record);
    // the file stamp (see the module documentation) and the primary finding's code
    // (filled for existing rows by `backfill_codes`).
    // `inputs` is rebuilt, not altered (DROP COLUMN would leave its pages as
    // sparse as the records made them).
    "CREATE TABLE records (id TEXT PRIMARY KEY, record TEXT NOT NULL);
    INSERT INTO records (id, record) SELECT id, record FROM inputs;
    CREATE TABLE inputs2 (
        id TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime INTEGER,
        stamp TEXT,
        fingerprint TEXT,
        status TEXT NOT NULL,
        reason TEXT,
        signature TEXT,
        bucket TEXT,
        code TEXT,
        timestamp TEXT,
        time INTEGER,
        missing INTEGER NOT NULL DEFAULT 0,
        first_run INTEGER NOT NULL,
        last_run INTEGER NOT NULL,
        seq INTEGER
    );
    INSERT INTO inputs2 (id, size, mtime, fingerprint, status, reason, signature, bucket,
        timestamp, time, missing, first_run, last_run, seq)
        SELECT id, size, mtime, fingerprint, status, reason, signature, bucket,
            timestamp, time, missing, first_run, last_run, json_extract(record, '$.seq')
        FROM inputs ORDER BY id;
    DROP TABLE inputs;
    ALTER TABLE inputs2 RENAME TO inputs;
    CREATE INDEX inputs_bucket ON inputs(bucket);",
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
    /// The stamp of the file now (plain files).
    pub stamp: Option<FileStamp>,
    /// The stored record, when the stored fingerprint is the same (and the input was
    /// analysed, not failed: a failure is retried).
    pub record: Option<CoreRecord>,
}

/// The fingerprint of an input (see the module documentation), with the stamp of
/// its file taken before reading (a plain file); `None` when its file cannot be read
/// (it is then analysed, and fails there with a clear reason).
pub fn fingerprint(e: &Entry) -> Option<(String, Option<FileStamp>)> {
    const W: u64 = 64 * 1024;
    let mut h = Sha256::new();
    h.update(e.size.to_le_bytes());
    let mut stamp = None;
    match e.locator.as_ref()? {
        Locator {
            place: Place::File(p),
            ..
        } => {
            let mut f = std::fs::File::open(p).ok()?;
            let md = f.metadata().ok()?;
            stamp = Some(FileStamp::of(&md));
            let len = md.len();
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
    Some((d[..16].iter().map(|b| format!("{b:02x}")).collect(), stamp))
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
        // Read the file through a mapping and keep up to 64 MiB of pages: a run over
        // a large archive reads every row once or twice (no read(2) per page).
        conn.pragma_update(None, "mmap_size", 1i64 << 30)?;
        conn.pragma_update(None, "cache_size", -65536)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let v: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if v > INDEX_SCHEMA_VERSION {
            return Err(IndexError::TooNew(v));
        }
        for (step, sql) in MIGRATIONS.iter().enumerate().skip(v as usize) {
            tx.execute_batch(sql)?;
            if step + 1 == 2 {
                backfill_codes(&tx)?;
            }
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

    /// What the index knows of a core now found as `e` (its fingerprint read now).
    pub fn lookup(&self, e: &Entry) -> Result<Known, IndexError> {
        let Some((fp, stamp)) = fingerprint(e) else {
            return Ok(Known {
                fingerprint: String::new(),
                stamp: None,
                record: None,
            });
        };
        let row: Option<(Option<String>, String, String)> = self
            .conn
            .prepare_cached(
                "SELECT i.fingerprint, i.status, r.record FROM inputs i
                 JOIN records r ON r.id = i.id WHERE i.id = ?1",
            )?
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
            stamp,
            record,
        })
    }

    /// The stored record of input `id`, if any.
    pub fn stored_record(&self, id: &str) -> Result<Option<CoreRecord>, IndexError> {
        let json: Option<String> = self
            .conn
            .prepare_cached("SELECT record FROM records WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|x| IndexError::Record {
                id: id.to_string(),
                why: x.to_string(),
            })
        })
        .transpose()
    }

    /// Store a batch of records of run `run` (with the fingerprints of their inputs).
    pub fn store(&mut self, run: i64, batch: &[(CoreRecord, Seen)]) -> Result<(), IndexError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO inputs (id, size, mtime, fingerprint, status, reason, signature,
                    bucket, timestamp, time, missing, first_run, last_run, stamp, code, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, ?11, ?11, ?12, ?13, ?14)
                 ON CONFLICT(id) DO UPDATE SET size = excluded.size, mtime = excluded.mtime,
                    fingerprint = excluded.fingerprint, status = excluded.status,
                    reason = excluded.reason, signature = excluded.signature,
                    bucket = excluded.bucket, timestamp = excluded.timestamp,
                    time = excluded.time, missing = 0,
                    last_run = excluded.last_run, stamp = excluded.stamp,
                    code = excluded.code, seq = excluded.seq",
            )?;
            let mut rec_st = tx.prepare_cached(
                "INSERT INTO records (id, record) VALUES (?1, ?2)
                 ON CONFLICT(id) DO UPDATE SET record = excluded.record",
            )?;
            for (rec, seen) in batch {
                let mut r = rec.clone();
                r.cached = false;
                r.report = None;
                r.peers.clear();
                for f in &mut r.findings {
                    f.owner_core = None;
                }
                st.execute(params![
                    r.id,
                    seen.size as i64,
                    seen.mtime,
                    seen.fingerprint,
                    status_name(r.status),
                    r.reason,
                    r.signature,
                    r.bucket,
                    r.timestamp,
                    r.timestamp.as_deref().and_then(epoch),
                    run,
                    seen.stamp.as_ref().map(|s| &s.0),
                    primary_of_record(&r).map(|f| &f.code),
                    r.seq as i64,
                ])?;
                rec_st.execute(params![r.id, serde_json::to_string(&r)?])?;
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
        reused: &[(String, u64, Option<Seen>)],
    ) -> Result<u64, IndexError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Inputs whose stored record this run reused: seen now (their stamp, size
        // and mtime updated when their fingerprint, not their stamp, matched).
        {
            let mut seen = tx.prepare_cached(
                "UPDATE inputs SET last_run = ?2, missing = 0, seq = ?3 WHERE id = ?1",
            )?;
            let mut restamp = tx.prepare_cached(
                "UPDATE inputs SET last_run = ?2, missing = 0, seq = ?3, stamp = ?4,
                    size = ?5, mtime = ?6 WHERE id = ?1",
            )?;
            for (id, seq, new) in reused {
                let seq = *seq as i64;
                match new {
                    None => seen.execute(params![id, run, seq])?,
                    Some(n) => restamp.execute(params![
                        id,
                        run,
                        seq,
                        n.stamp.as_ref().map(|s| &s.0),
                        n.size as i64,
                        n.mtime
                    ])?,
                };
            }
        }
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
             SELECT bucket, signature, min(code), count(*),
                (SELECT timestamp FROM inputs j WHERE j.bucket = i.bucket AND j.time IS NOT NULL
                    ORDER BY j.time ASC LIMIT 1),
                (SELECT timestamp FROM inputs j WHERE j.bucket = i.bucket AND j.time IS NOT NULL
                    ORDER BY j.time DESC LIMIT 1),
                min(first_run), max(last_run)
             FROM inputs i WHERE bucket IS NOT NULL GROUP BY bucket
             ON CONFLICT(id) DO UPDATE SET code = excluded.code, count = excluded.count,
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
        let mut st = self.conn.prepare(
            "SELECT i.id, i.seq, r.record FROM inputs i JOIN records r ON r.id = i.id
                 WHERE i.missing = 0 ORDER BY i.id",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, seq, json) = row?;
            let mut r: CoreRecord =
                serde_json::from_str(&json).map_err(|x| IndexError::Record {
                    id,
                    why: x.to_string(),
                })?;
            // The position in the last walk that saw it (a reused record keeps the
            // one of the run that analysed it).
            if let Some(q) = seq {
                r.seq = q as u64;
            }
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

    /// Every bucket's id and code (the code of its inputs' primary finding).
    pub fn bucket_codes(&self) -> Result<Vec<(String, Option<String>)>, IndexError> {
        let mut st = self
            .conn
            .prepare("SELECT id, code FROM buckets ORDER BY id")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// `PRAGMA integrity_check` says `ok`.
    pub fn integrity_ok(&self) -> Result<bool, IndexError> {
        let s: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(s == "ok")
    }
}

/// What a run saw of an input: size, mtime, fingerprint and stamp (cores only).
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// Bytes as stored.
    pub size: u64,
    /// Modification time, seconds.
    pub mtime: Option<i64>,
    /// [`fingerprint`].
    pub fingerprint: Option<String>,
    /// [`FileStamp`] of a plain file.
    pub stamp: Option<FileStamp>,
}

/// One run's use of an index: consulted for each input before analysis, told each
/// record as it is made (written in batches), finished with the run's summary.
pub struct Session {
    ix: Index,
    run: i64,
    paths: Option<Vec<PathBuf>>,
    shard: Option<Shard>,
    /// Stored records of cores whose stamp [`Session::known`] hands to the walk.
    by_stamp: HashMap<String, (FileStamp, CoreRecord)>,
    /// Per input of this run whose record is not yet written: what was seen of it.
    seen: HashMap<String, Seen>,
    /// Cores whose fingerprint, not their stamp, matched: their new stamp.
    restamp: HashMap<String, Seen>,
    /// Inputs whose stored record was reused: id, position in this walk, and what to
    /// update when their stamp had moved.
    reused: Vec<(String, u64, Option<Seen>)>,
    pending: Vec<(CoreRecord, Seen)>,
    error: Option<IndexError>,
}

const BATCH: usize = 256;

fn source_kind(s: Source) -> SourceKind {
    match s {
        Source::Core => SourceKind::Core,
        Source::SystemdCoredump => SourceKind::SystemdCoredump,
        Source::Apport => SourceKind::Apport,
        Source::Abrt => SourceKind::Abrt,
    }
}

impl Session {
    /// Open the index at `db` and start a run over `paths` (`None`: the inputs came
    /// from a list on stdin, so nothing is marked missing). Unless `rehash`, the
    /// records of analysed cores of this run's paths and shard that have a stamp are
    /// read now, in one query, to be handed to the walk ([`Session::known`]).
    pub fn start(
        db: &Path,
        paths: Option<Vec<PathBuf>>,
        shard: Option<Shard>,
        rehash: bool,
    ) -> Result<Session, IndexError> {
        let mut ix = Index::open(db)?;
        let run = ix.begin_run(paths.as_deref().unwrap_or(&[]), shard)?;
        let mut by_stamp = HashMap::new();
        if !rehash {
            let mut st = ix.conn.prepare(
                "SELECT i.id, i.stamp, r.record FROM inputs i JOIN records r ON r.id = i.id
                 WHERE i.status = 'analysed' AND i.stamp IS NOT NULL",
            )?;
            let mut rows = st.query([])?;
            while let Some(row) = rows.next()? {
                let id: String = row.get(0)?;
                if !paths.as_deref().is_none_or(|p| under(&id, p))
                    || !shard.is_none_or(|s| s.takes(&id))
                {
                    continue;
                }
                let stamp: String = row.get(1)?;
                let json: String = row.get(2)?;
                // An unreadable record: the input is read and fingerprinted as if
                // unknown (and its lookup then says why).
                if let Ok(r) = serde_json::from_str::<CoreRecord>(&json) {
                    by_stamp.insert(id, (FileStamp(stamp), r));
                }
            }
        }
        Ok(Session {
            ix,
            run,
            paths,
            shard,
            by_stamp,
            seen: Default::default(),
            restamp: HashMap::new(),
            reused: Vec::new(),
            pending: Vec::new(),
            error: None,
        })
    }

    /// The plain files the walk may take without reading them: the analysed cores
    /// of this run's paths and shard, with the stamp they had (empty with `rehash`).
    pub fn known(&self) -> KnownFiles {
        self.by_stamp
            .iter()
            .map(|(id, (stamp, r))| (id.clone(), (stamp.clone(), source_kind(r.source))))
            .collect()
    }

    /// The hook of [`super::run::run_cached`]: remember the input; for a core found
    /// with its stamp unchanged, or else whose fingerprint is unchanged, its stored
    /// record.
    pub fn consult(&mut self, e: &Entry) -> Option<CoreRecord> {
        let seen = Seen {
            size: e.size,
            mtime: e.mtime,
            ..Seen::default()
        };
        if e.what != What::Core {
            self.seen.insert(e.id.clone(), seen);
            return None;
        }
        if e.locator.is_none() {
            // Taken by the walk on its stamp (see `known`): not read.
            let r = match self.by_stamp.remove(&e.id) {
                Some((_, r)) => Some(r),
                // The same input walked twice (a path given twice): its stored
                // record again.
                None => self.ix.stored_record(&e.id).unwrap_or_else(|err| {
                    self.error.get_or_insert(err);
                    None
                }),
            };
            return r;
        }
        match self.ix.lookup(e) {
            Ok(k) => {
                let fp = (!k.fingerprint.is_empty()).then_some(k.fingerprint);
                let seen = Seen {
                    fingerprint: fp,
                    stamp: k.stamp,
                    ..seen
                };
                if k.record.is_some() {
                    // Same content, another stamp (copied back, touched): the stamp
                    // is updated, the record not rewritten.
                    self.restamp.insert(e.id.clone(), seen);
                } else {
                    self.seen.insert(e.id.clone(), seen);
                }
                k.record
            }
            Err(err) => {
                self.error.get_or_insert(err);
                self.seen.insert(e.id.clone(), seen);
                None
            }
        }
    }

    /// A record of this run (written with the next batch; a reused record is not
    /// written again, see [`Session::finish`]).
    pub fn record(&mut self, r: &CoreRecord) {
        if r.cached {
            let new = self.restamp.remove(&r.id);
            self.reused.push((r.id.clone(), r.seq, new));
            return;
        }
        let seen = self.seen.remove(&r.id).unwrap_or_default();
        let mut r = r.clone();
        r.report = None;
        self.pending.push((r, seen));
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

    /// Write what is left; in one transaction, mark the reused inputs seen, mark
    /// vanished inputs missing, recount buckets, record the run. Returns how many
    /// inputs became missing.
    pub fn finish(mut self, summary: &Summary) -> Result<u64, IndexError> {
        self.flush();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.ix.finish_run(
            self.run,
            self.paths.as_deref(),
            self.shard,
            summary,
            &self.reused,
        )
    }
}

/// Fill `inputs.code` of rows written before schema 2 (the primary finding's code,
/// by the one rule of [`primary_of_record`]).
fn backfill_codes(tx: &rusqlite::Transaction<'_>) -> Result<(), IndexError> {
    let rows: Vec<(String, String)> = {
        let mut st = tx.prepare(
            "SELECT i.id, r.record FROM inputs i JOIN records r ON r.id = i.id
             WHERE i.code IS NULL",
        )?;
        let it = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        it.collect::<Result<_, _>>()?
    };
    let mut up = tx.prepare("UPDATE inputs SET code = ?2 WHERE id = ?1")?;
    for (id, json) in rows {
        // An unreadable record keeps no code (reading it later says why).
        let Ok(r) = serde_json::from_str::<CoreRecord>(&json) else {
            continue;
        };
        if let Some(f) = primary_of_record(&r) {
            up.execute(params![id, f.code])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(id: &str) -> CoreRecord {
        serde_json::from_value(json!({
            "id": id, "seq": 0, "source": "core", "status": "analysed", "reason": null,
            "cached": false, "pid": 7, "executable": null, "binary": null, "signal": 6,
            "timestamp": null, "signature": "the-error | - | -", "bucket": "b1",
            // Report order where the first finding is not the primary one.
            "findings": [
                {"code": "a-note", "severity": "note", "mutexes": []},
                {"code": "a-warning", "severity": "warning", "mutexes": []},
                {"code": "the-error", "severity": "error", "mutexes": []},
                {"code": "another-error", "severity": "error", "mutexes": []}
            ],
            "peers": [], "warnings": [], "correlation": null
        }))
        .expect("a record")
    }

    fn codes(ix: &Index) -> (Option<String>, Option<String>) {
        let input = ix
            .conn
            .query_row("SELECT code FROM inputs WHERE id = 'c1'", [], |r| r.get(0))
            .expect("input code");
        let bucket = ix
            .conn
            .query_row("SELECT code FROM buckets WHERE id = 'b1'", [], |r| r.get(0))
            .expect("bucket code");
        (input, bucket)
    }

    #[test]
    fn bucket_code_is_the_primary_findings_in_index_and_document() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut ix = Index::open(&tmp.path().join("i.db")).expect("open");
        let run = ix.begin_run(&[], None).expect("run");
        let r = record("c1");
        ix.store(run, &[(r.clone(), Seen::default())])
            .expect("store");
        ix.finish_run(run, None, None, &Summary::default(), &[])
            .expect("finish");
        let want = Some("the-error".to_string());
        assert_eq!(codes(&ix), (want.clone(), want.clone()));
        let doc = super::super::run::assemble(vec![r], &HashMap::new());
        assert_eq!(doc.buckets[0].code, want);
    }

    #[test]
    fn schema_1_is_migrated_records_moved_codes_filled() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("v1.db");
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(MIGRATIONS[0]).expect("schema 1");
            conn.pragma_update(None, "user_version", 1)
                .expect("version");
            conn.execute("INSERT INTO runs (started, paths) VALUES ('t', '[]')", [])
                .expect("run");
            let json = serde_json::to_string(&record("c1")).expect("json");
            conn.execute(
                "INSERT INTO inputs (id, size, status, signature, bucket, record, first_run,
                    last_run) VALUES ('c1', 1, 'analysed', 'the-error | - | -', 'b1', ?1, 1, 1)",
                [json],
            )
            .expect("row");
            conn.execute(
                "INSERT INTO buckets (id, signature, code, count, first_run, last_run)
                 VALUES ('b1', 'the-error | - | -', 'a-note', 1, 1, 1)",
                [],
            )
            .expect("bucket");
        }
        let mut ix = Index::open(&path).expect("migrate");
        assert_eq!(ix.schema_version().expect("version"), INDEX_SCHEMA_VERSION);
        let recs = ix.current_records().expect("records");
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].findings.len(), 4);
        assert_eq!(
            ix.stored_record("c1").expect("stored").map(|r| r.id),
            Some("c1".to_string())
        );
        // The input's code is filled at migration; the bucket's first-finding code of
        // schema 1 is corrected by the next run's recount.
        let run = ix.begin_run(&[], None).expect("run");
        ix.finish_run(
            run,
            None,
            None,
            &Summary::default(),
            &[("c1".into(), 0, None)],
        )
        .expect("finish");
        let want = Some("the-error".to_string());
        assert_eq!(codes(&ix), (want.clone(), want));
        assert!(ix.integrity_ok().expect("integrity"));
    }
}
