//! What a module file's DWARF yielded, kept on disk per GNU build-id so that the
//! next process does not read (and inflate) the DWARF again.
//!
//! One JSON file per build-id, `$XDG_CACHE_HOME/mutexdiag/v1/<build-id>.json`
//! (else `~/.cache/mutexdiag/...`), holding the answers already computed from that
//! file's DWARF: the source frames of each address symbolized (per level of
//! detail), the call sites of each function looked at for tail calls, and the mutex
//! variables of each type-name set. A file with a given build-id never changes, so
//! an answer never goes stale; a new answer is added to the entry when a core asks
//! something new (see `cache::ModuleFiles`).
//!
//! - Opt-out: `MUTEXDIAG_CACHE=off` (or `0`, `no`, `false`).
//! - Concurrent writers: an entry is written whole to a temporary file in the same
//!   folder and renamed over the old one; readers see the old or the new entry,
//!   never a mix. Two writers racing lose one's additions, never correctness.
//! - Corrupt entries (truncated, not JSON, another format version, another build-id,
//!   out of bounds): ignored with a warning on standard error (the report of a core
//!   does not depend on the state of the cache) and replaced on the next write.
//! - Bounded: an entry is at most [`MAX_ENTRY_BYTES`]; after a write, when the folder
//!   holds more than [`MAX_TOTAL_BYTES`], the least recently modified entries are
//!   removed until it holds at most three quarters of that.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::abort_msg::ParamLocation;
use super::symbolize::SourceFrame;
use super::tailcall::{CallSite, Target};
use crate::mutex::dwarf::{Found, MutexVar, PointerVar};

/// Format of the entries: bumped when what is stored or how it is computed changes.
pub(crate) const VERSION: u32 = 1;
const FORMAT: &str = "mutexdiag-dwarf-cache";
/// Largest entry written or read.
pub const MAX_ENTRY_BYTES: u64 = 8 << 20;
/// Size of the cache folder above which old entries are removed.
pub const MAX_TOTAL_BYTES: u64 = 64 << 20;
/// Answers kept per kind in one entry (frames, call sites).
pub(crate) const MAX_ANSWERS: usize = 50_000;

/// The on-disk cache folder (already versioned: `.../mutexdiag/v1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    /// A cache in `root` (the `mutexdiag` folder); entries go to `root/v1`.
    pub fn new(root: &Path) -> DiskCache {
        DiskCache {
            dir: root.join(format!("v{VERSION}")),
        }
    }

    /// The cache the environment asks for: `None` when `MUTEXDIAG_CACHE` is
    /// `off`/`0`/`no`/`false`; else `$XDG_CACHE_HOME/mutexdiag`, else
    /// `$HOME/.cache/mutexdiag`; `None` when neither variable is set.
    pub fn from_env() -> Option<DiskCache> {
        if let Some(v) = std::env::var_os("MUTEXDIAG_CACHE") {
            let v = v.to_string_lossy().to_ascii_lowercase();
            if matches!(v.as_str(), "off" | "0" | "no" | "false") {
                return None;
            }
        }
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        let root = var("XDG_CACHE_HOME")
            .or_else(|| var("HOME").map(|h| h.join(".cache")))?
            .join("mutexdiag");
        Some(DiskCache::new(&root))
    }

    /// The versioned folder holding the entries.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry file of a build-id.
    pub fn entry_path(&self, build_id: &[u8]) -> PathBuf {
        self.dir.join(format!("{}.json", super::elf::hex(build_id)))
    }

    /// The entry of a build-id: `Ok(None)` when there is none, `Err` (with the
    /// reason, for a warning) when it is there but unusable.
    pub(crate) fn load(&self, build_id: &[u8]) -> Result<Option<Entry>, String> {
        let path = self.entry_path(build_id);
        let f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len > MAX_ENTRY_BYTES {
            return Err(format!(
                "{}: {len} bytes, more than the {MAX_ENTRY_BYTES} an entry may hold",
                path.display()
            ));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_ENTRY_BYTES + 1), &mut bytes)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let file: EntryFile = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{}: not a cache entry ({e})", path.display()))?;
        file.validate(build_id)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Some(file.entry))
    }

    /// Write the entry of a build-id (temporary file + rename), then keep the
    /// folder within its bound.
    pub(crate) fn store(&self, build_id: &[u8], entry: &Entry) -> Result<(), String> {
        let file = EntryFile {
            format: FORMAT.to_string(),
            version: VERSION,
            build_id: super::elf::hex(build_id),
            entry: entry.clone(),
        };
        let bytes = serde_json::to_vec(&file).map_err(|e| e.to_string())?;
        if bytes.len() as u64 > MAX_ENTRY_BYTES {
            return Err(format!(
                "the entry of {} would take {} bytes; not written",
                file.build_id,
                bytes.len()
            ));
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.dir)
            .map_err(|e| format!("{}: {e}", self.dir.display()))?;
        tmp.write_all(&bytes)
            .map_err(|e| format!("{}: {e}", tmp.path().display()))?;
        let path = self.entry_path(build_id);
        tmp.persist(&path)
            .map_err(|e| format!("{}: {}", path.display(), e.error))?;
        self.trim(MAX_TOTAL_BYTES);
        Ok(())
    }

    /// Remove the least recently modified entries while the folder holds more than
    /// `max` bytes, down to three quarters of it. Errors (a file another process
    /// removed first) are ignored.
    pub(crate) fn trim(&self, max: u64) {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = rd
            .flatten()
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                if !m.is_file() {
                    return None;
                }
                Some((m.modified().ok()?, m.len(), e.path()))
            })
            .collect();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        if total <= max {
            return;
        }
        files.sort();
        for (_, len, p) in files {
            if total <= max / 4 * 3 {
                break;
            }
            if std::fs::remove_file(&p).is_ok() {
                total = total.saturating_sub(len);
            }
        }
    }
}

/// The answers one module file's DWARF gave.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// Source frames by (link-time address, detail bits: 1 dwarf, 2 inlines).
    pub(crate) frames: Vec<(u64, u8, Vec<SourceFrame>)>,
    /// Call sites of the function holding a link-time address (`None`: none known).
    pub(crate) sites: Vec<(u64, Option<Vec<SiteRec>>)>,
    /// Mutex variables per set of type names.
    pub(crate) vars: Vec<(Vec<String>, Result<FoundRec, String>)>,
    /// Parameter locations by (link-time pc, function, parameter).
    #[serde(default)]
    pub(crate) params: Vec<(ParamKey, Result<ParamLocation, String>)>,
}

/// (link-time pc, function name or the outermost, parameter name).
pub(crate) type ParamKey = (u64, Option<String>, String);

#[derive(Debug, Serialize, Deserialize)]
struct EntryFile {
    format: String,
    version: u32,
    build_id: String,
    entry: Entry,
}

impl EntryFile {
    fn validate(&self, build_id: &[u8]) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!("format {:?}, not {FORMAT:?}", self.format));
        }
        if self.version != VERSION {
            return Err(format!("format version {}, not {VERSION}", self.version));
        }
        let want = super::elf::hex(build_id);
        if self.build_id != want {
            return Err(format!(
                "holds build-id {}, not the {want} its name says",
                self.build_id
            ));
        }
        let e = &self.entry;
        if e.frames.len() > MAX_ANSWERS || e.sites.len() > MAX_ANSWERS || e.vars.len() > 64 {
            return Err("more answers than an entry may hold".into());
        }
        if e.frames.iter().any(|(_, d, f)| *d > 3 || f.len() > 64) {
            return Err("a frame answer out of bounds".into());
        }
        Ok(())
    }
}

/// A call site as stored (link-time addresses).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SiteRec {
    return_pc: u64,
    tail: bool,
    /// Link-time address of the called function.
    address: Option<u64>,
    name: Option<String>,
}

impl From<&CallSite> for SiteRec {
    fn from(s: &CallSite) -> SiteRec {
        let (address, name) = match &s.target {
            Target::Address(a) => (Some(*a), None),
            Target::Name(n) => (None, Some(n.clone())),
            Target::Unknown => (None, None),
        };
        SiteRec {
            return_pc: s.return_pc,
            tail: s.tail,
            address,
            name,
        }
    }
}

impl From<&SiteRec> for CallSite {
    fn from(s: &SiteRec) -> CallSite {
        CallSite {
            return_pc: s.return_pc,
            tail: s.tail,
            target: match (s.address, &s.name) {
                (Some(a), _) => Target::Address(a),
                (None, Some(n)) => Target::Name(n.clone()),
                (None, None) => Target::Unknown,
            },
        }
    }
}

/// A variable's name and (link-time) address.
type NamedAddr = (String, u64);

/// [`Found`] as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct FoundRec {
    direct: Vec<NamedAddr>,
    pointers: Vec<(String, u64, Vec<NamedAddr>)>,
    truncated: bool,
}

fn vars_out(v: &[MutexVar]) -> Vec<NamedAddr> {
    v.iter().map(|m| (m.name.clone(), m.address)).collect()
}

fn vars_in(v: &[NamedAddr]) -> Vec<MutexVar> {
    v.iter()
        .map(|(name, address)| MutexVar {
            name: name.clone(),
            address: *address,
        })
        .collect()
}

impl From<&Found> for FoundRec {
    fn from(f: &Found) -> FoundRec {
        FoundRec {
            direct: vars_out(&f.direct),
            pointers: f
                .pointers
                .iter()
                .map(|p| (p.name.clone(), p.address, vars_out(&p.mutexes)))
                .collect(),
            truncated: f.truncated,
        }
    }
}

impl From<&FoundRec> for Found {
    fn from(f: &FoundRec) -> Found {
        Found {
            direct: vars_in(&f.direct),
            pointers: f
                .pointers
                .iter()
                .map(|(name, address, m)| PointerVar {
                    name: name.clone(),
                    address: *address,
                    mutexes: vars_in(m),
                })
                .collect(),
            truncated: f.truncated,
        }
    }
}

/// The answers of one module file in memory: looked up by every core that uses
/// it, filled from its disk entry when there is one, and written back when new
/// answers were added (`dirty`).
#[derive(Debug, Default)]
pub(crate) struct Memo {
    pub(crate) frames: HashMap<(u64, u8), Vec<SourceFrame>>,
    pub(crate) sites: HashMap<u64, Option<Vec<CallSite>>>,
    pub(crate) params: HashMap<ParamKey, Result<ParamLocation, String>>,
    pub(crate) dirty: bool,
}

impl Memo {
    pub(crate) fn from_entry(e: &Entry) -> Memo {
        Memo {
            frames: e
                .frames
                .iter()
                .map(|(a, d, f)| ((*a, *d), f.clone()))
                .collect(),
            sites: e
                .sites
                .iter()
                .map(|(a, s)| {
                    (
                        *a,
                        s.as_ref().map(|v| v.iter().map(CallSite::from).collect()),
                    )
                })
                .collect(),
            params: e.params.iter().cloned().collect(),
            dirty: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let t = tempfile::tempdir().unwrap();
        let c = DiskCache::new(t.path());
        let id = [0xab, 0xcd, 0x01];
        assert!(matches!(c.load(&id), Ok(None)));
        let mut e = Entry::default();
        e.frames.push((
            0x10,
            3,
            vec![SourceFrame {
                function: Some("f".into()),
                file: Some("a.c".into()),
                line: Some(3),
                inlined: false,
            }],
        ));
        e.vars
            .push((vec!["pthread_mutex_t".into()], Err("bad".into())));
        c.store(&id, &e).unwrap();
        let back = c.load(&id).unwrap().unwrap();
        assert_eq!(back.frames, e.frames);
        // Another build-id's entry under this name, garbage, truncation: all refused.
        std::fs::copy(c.entry_path(&id), c.entry_path(&[1, 2])).unwrap();
        assert!(c.load(&[1, 2]).unwrap_err().contains("build-id"));
        let full = std::fs::read(c.entry_path(&id)).unwrap();
        std::fs::write(c.entry_path(&id), &full[..full.len() / 2]).unwrap();
        assert!(c.load(&id).is_err());
        std::fs::write(c.entry_path(&id), b"\0\x01garbage").unwrap();
        assert!(c.load(&id).is_err());
    }

    #[test]
    fn trim_removes_oldest_first() {
        let t = tempfile::tempdir().unwrap();
        let c = DiskCache::new(t.path());
        std::fs::create_dir_all(c.dir()).unwrap();
        for i in 0..8u8 {
            let p = c.entry_path(&[i]);
            std::fs::write(&p, vec![b'x'; 1000]).unwrap();
            let t = std::time::SystemTime::UNIX_EPOCH
                + std::time::Duration::from_secs(1000 + u64::from(i));
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        c.trim(4000);
        // 8000 bytes > 4000: the oldest go until at most 3000 are left.
        let left: Vec<bool> = (0..8u8).map(|i| c.entry_path(&[i]).exists()).collect();
        assert_eq!(left, [false, false, false, false, false, true, true, true]);
    }
}
