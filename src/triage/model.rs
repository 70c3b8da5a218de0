//! The triage document (`mutexdiag triage --format json`), its per-input records
//! (`--format jsonl`, one per line) and everything the renderers read. Contract:
//! `docs/json.md`, section "triage". Serialisable both ways, so that shard outputs can
//! be merged and an index can store records.

use serde::{Deserialize, Serialize};

/// Version of this document's shape.
pub const SCHEMA_VERSION: u32 = 1;

/// What kind of input a record comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// An ELF core, plain or compressed, with no producer metadata.
    Core,
    /// A systemd-coredump file (`core.COMM.UID.BOOTID.PID.USEC[.zst|.xz|.lz4]`).
    SystemdCoredump,
    /// An apport `.crash` report with a `CoreDump`.
    Apport,
    /// An ABRT problem directory.
    Abrt,
}

/// What became of an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Analysed (its report is complete).
    Analysed,
    /// Meant for analysis, but the analysis could not be completed (`reason` says why).
    Failed,
    /// Not a core (`reason` says what it is).
    Skipped,
}

/// Severity of a finding: the single-core report's own type (one definition, so the
/// two cannot drift apart).
pub use crate::report::model::Severity;

/// One finding of a core, reduced to what triage shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FindingRef {
    /// The finding code (`mutexdiag explain CODE`).
    pub code: String,
    /// Its severity.
    pub severity: Severity,
    /// The mutexes it is about (hex addresses).
    pub mutexes: Vec<String>,
    /// The core (among the inputs) of the process whose thread owns the mutex, when
    /// incident linking found it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_core: Option<String>,
}

/// A shared segment a process maps, identified in a way another process's core can
/// match: `sysv:0x6d757478`, `path:/dev/shm/name`, `inode:DEV:INO`.
pub type SegmentId = String;

/// A mutex whose owner is not a thread of this process: what incident linking needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignOwner {
    /// The mutex (hex address in this process).
    pub mutex: String,
    /// The owner's TID.
    pub tid: u32,
    /// Identities of the segment holding the mutex (empty when it has none, e.g.
    /// anonymous shared memory).
    pub segment: Vec<SegmentId>,
}

/// What linking cores into incidents needs from one core; carried by every record
/// so that shard outputs can be linked when merged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correlation {
    /// Parent PID, when the core says.
    pub ppid: Option<u32>,
    /// Every thread's TID.
    pub tids: Vec<u32>,
    /// Thread pointers (Solaris-style owner pointers), `(tid, pointer)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thread_pointers: Vec<(u32, u64)>,
    /// Shared segments this process maps.
    pub segments: Vec<SegmentId>,
    /// Mutexes owned by threads of other processes.
    pub foreign_owners: Vec<ForeignOwner>,
    /// Boot id (systemd-coredump), when known: cores of different boots are never
    /// one incident.
    pub boot_id: Option<String>,
    /// Host name, when known.
    pub hostname: Option<String>,
    /// The directory or tar archive the input was found in.
    #[serde(default)]
    pub group: String,
    /// Seconds since the epoch of `timestamp`, when known.
    pub time: Option<i64>,
}

/// One input: a core analysed, a core that failed, or something skipped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoreRecord {
    /// The path as found while walking the argument (`!MEMBER` for a tar member).
    pub id: String,
    /// The input's position in the walk over all inputs (the same in every shard):
    /// merged shard outputs are put back in this order.
    #[serde(default)]
    pub seq: u64,
    /// What kind of input it is.
    pub source: Source,
    /// What became of it.
    pub status: Status,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
    /// Taken from an index without analysing it again.
    pub cached: bool,
    /// The process id.
    pub pid: Option<u32>,
    /// The executable's path as the core (or its metadata) records it.
    pub executable: Option<String>,
    /// The file used as the executable (symbols, build-id), and how it was found.
    pub binary: Option<String>,
    /// The signal that killed the process.
    pub signal: Option<u32>,
    /// When it crashed (RFC 3339), from the best metadata available.
    pub timestamp: Option<String>,
    /// The bucket signature (see `docs/triage.md`).
    pub signature: Option<String>,
    /// Short stable hash of `signature`.
    pub bucket: Option<String>,
    /// The findings, in report order.
    pub findings: Vec<FindingRef>,
    /// Other cores of the same incident (their ids).
    pub peers: Vec<String>,
    /// Warnings of the analysis and of the input (what could not be used and why).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What incident linking needs (analysed cores only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<Correlation>,
    /// The bucket example this core gives (`--format jsonl` only: what a merge of
    /// shard outputs needs to show the bucket's example).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<Example>,
    /// The full single-core report (`--format jsonl` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
}

/// The example of a bucket: its first core, with what a reader needs to act.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// The core's id.
    pub core: String,
    /// The primary finding's one-line message (or what the core shows when it has none).
    pub message: String,
    /// The finding's title.
    pub title: Option<String>,
    /// Its evidence.
    pub evidence: Vec<String>,
    /// Its fix.
    pub fix: Option<String>,
}

/// Cores with the same signature: one bug.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Short stable hash of the signature.
    pub id: String,
    /// The signature.
    pub signature: String,
    /// The primary finding's code (null for cores with no finding).
    pub code: Option<String>,
    /// Its severity.
    pub severity: Option<Severity>,
    /// Number of cores.
    pub count: u64,
    /// Their ids, in input order.
    pub cores: Vec<String>,
    /// Earliest and latest timestamp among them (RFC 3339), when known.
    pub first_seen: Option<String>,
    /// See `first_seen`.
    pub last_seen: Option<String>,
    /// The example core.
    pub example: Example,
}

/// Cores of processes that shared a mutex when they crashed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// The cores (ids, sorted).
    pub cores: Vec<String>,
    /// The mutexes that tie them (hex addresses as seen in the core that names the
    /// owner).
    pub mutexes: Vec<String>,
    /// Why they are linked.
    pub why: String,
}

/// Counts over the inputs; `analysed + failed + skipped = inputs`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Every input considered.
    pub inputs: u64,
    /// Analysed (including cached).
    pub analysed: u64,
    /// Of those, taken from an index.
    pub cached: u64,
    /// Could not be analysed.
    pub failed: u64,
    /// Not cores.
    pub skipped: u64,
    /// Distinct buckets.
    pub buckets: u64,
    /// Incidents linking several cores.
    pub incidents: u64,
}

/// The whole triage document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TriageDoc {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// [`super::signature::SIGNATURE_VERSION`].
    pub signature_version: u32,
    /// Counts.
    pub summary: Summary,
    /// Buckets, largest first.
    pub buckets: Vec<Bucket>,
    /// Incidents.
    pub incidents: Vec<Incident>,
    /// One record per input, in input order.
    pub cores: Vec<CoreRecord>,
}

impl TriageDoc {
    /// At least one analysed core has an error finding.
    pub fn has_errors(&self) -> bool {
        self.cores
            .iter()
            .any(|c| c.findings.iter().any(|f| f.severity == Severity::Error))
    }
}
