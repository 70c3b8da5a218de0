//! Mutexes: the decoded model, the layouts that decode raw bytes into it, and
//! discovery of candidate addresses.
//!
//! A [`Layout`] knows one in-memory representation (glibc on x86_64, musl on
//! aarch64, Solaris `mutex_t` on SPARC, a user's declared lock...). It decodes bytes
//! into a [`Decoded`], a representation-neutral description: type, attributes, lock
//! state, owner, and any field combination that cannot occur.

pub mod declared;
pub mod discover;
pub mod dwarf;
pub mod glibc;
pub mod magic;
pub mod musl;
pub mod owner;
pub mod select;
pub mod solaris;

use serde::Serialize;

use crate::coredump::Endian;
use crate::memory::AddressSpace;

#[warn(missing_docs)] // public API (re-exported at the crate root)
/// The type of a mutex (`pthread_mutexattr_settype`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MutexType {
    /// `PTHREAD_MUTEX_NORMAL` (the default).
    Normal,
    /// `PTHREAD_MUTEX_RECURSIVE`: the owner may lock it again.
    Recursive,
    /// `PTHREAD_MUTEX_ERRORCHECK`: relocking and foreign unlocks fail.
    Errorcheck,
    /// `PTHREAD_MUTEX_ADAPTIVE_NP`: spins before sleeping (glibc).
    Adaptive,
    /// Any other value (the raw type is in `Decoded::fields`).
    Unknown,
}

#[warn(missing_docs)] // public API (re-exported at the crate root)
/// The priority protocol of a mutex (`pthread_mutexattr_setprotocol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// `PTHREAD_PRIO_NONE`.
    None,
    /// `PTHREAD_PRIO_INHERIT`: the owner inherits the priority of its waiters.
    Inherit,
    /// `PTHREAD_PRIO_PROTECT`: the owner runs at the mutex's priority ceiling.
    Protect,
}

#[warn(missing_docs)] // public API (re-exported at the crate root)
/// The state of a mutex, as its lock word and owner say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockState {
    /// Not held.
    Unlocked,
    /// Held, no sign of waiters.
    Locked,
    /// Held, and the lock word says threads may be waiting.
    Contended,
    /// A robust mutex whose owner died; nobody has taken it since.
    OwnerDied,
    /// Taken after its owner died (EOWNERDEAD); not yet made consistent.
    Inconsistent,
    /// Unlocked while inconsistent: unusable until re-initialised.
    NotRecoverable,
    /// `pthread_mutex_destroy`ed.
    Destroyed,
}

impl LockState {
    pub fn is_held(self) -> bool {
        matches!(
            self,
            LockState::Locked | LockState::Contended | LockState::Inconsistent
        )
    }
}

/// The C library (or declaration) a layout belongs to. The platform questions the
/// analysis asks — is this a Solaris lock, which futex waits are lock waits, which
/// DWARF types are mutexes, where a thread block is read through an owner pointer —
/// are answered here, never by comparing layout names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// glibc's `pthread_mutex_t` (any ABI).
    Glibc,
    /// musl's `pthread_mutex_t`.
    Musl,
    /// Solaris / illumos `mutex_t` of this ABI.
    Solaris(solaris::Isa),
    /// A user-declared layout (`--layout FILE.toml`).
    Declared,
}

impl Family {
    /// A Solaris `mutex_t` (in a Solaris core or as a guest elsewhere).
    pub fn is_solaris(self) -> bool {
        matches!(self, Family::Solaris(_))
    }

    /// The Solaris ABI, for Solaris locks.
    pub fn solaris_isa(self) -> Option<solaris::Isa> {
        match self {
            Family::Solaris(i) => Some(i),
            _ => None,
        }
    }

    /// Type names that denote a mutex of this family (DWARF typedef or struct names).
    pub fn mutex_type_names(self) -> &'static [&'static str] {
        match self {
            Family::Solaris(_) => &["mutex_t", "lwp_mutex_t", "pthread_mutex_t"],
            _ => &["pthread_mutex_t"],
        }
    }

    /// Is a plain `FUTEX_WAIT` expecting the value `v` this family's wait for a
    /// mutex? glibc (and layouts read like it): 2 (`__lll_lock_wait`) or a robust
    /// wait (`TID | FUTEX_WAITERS`); musl: the lock word with its waiters bit set.
    pub fn is_lock_wait_value(self, v: u32) -> bool {
        match self {
            Family::Musl => v & 0x8000_0000 != 0 && v != 0xffff_ffff,
            _ => v == 2 || (v & 0x8000_0000 != 0 && v & 0x3fff_ffff != 0 && v != 0xffff_ffff),
        }
    }

    /// Where the C library reads through a lock's owner pointer into the owner's
    /// thread block: `offsetof(ulwp_t, ul_schedctl)` for Solaris (the load
    /// `mutex_trylock_adaptive()` makes); `None` when not known.
    pub fn owner_block_read_offset(self) -> Option<u64> {
        self.solaris_isa().map(solaris::Isa::schedctl_offset)
    }

    /// The library counts adaptive spinners in the `mutex_ownerpid` word of a
    /// process-private lock (Solaris 10-era libc).
    pub fn counts_spinners_in_ownerpid(self) -> bool {
        self.is_solaris()
    }
}

/// A mutex as decoded from its bytes by one layout.
#[derive(Clone, Debug, Serialize)]
pub struct Decoded {
    /// Name of the layout that decoded it (e.g. `glibc-x86_64`).
    pub layout: String,
    /// The family of the layout that decoded it.
    #[serde(skip)]
    pub family: Family,
    pub mtype: MutexType,
    /// Process-shared (PTHREAD_PROCESS_SHARED / USYNC_PROCESS).
    pub pshared: bool,
    pub robust: bool,
    pub protocol: Protocol,
    pub ceiling: Option<u32>,
    pub state: LockState,
    /// Owner thread id, when the representation records one (glibc, musl
    /// owner-tracked mutexes). For an owner that died this is the dead TID.
    pub owner_tid: Option<u32>,
    /// Owner thread pointer (Solaris `mutex_owner`, declared layouts).
    pub owner_pointer: Option<u64>,
    /// Owner process id (Solaris USYNC_PROCESS `mutex_ownerpid`).
    pub owner_pid: Option<u32>,
    /// Recursion count (glibc `__count`, musl `_m_count + 1`, Solaris rcount).
    pub count: u32,
    /// glibc `__nusers`.
    pub nusers: Option<u32>,
    /// The lock word itself says there are (or may be) waiters.
    pub waiters_flag: bool,
    /// Byte offset of the futex word inside the mutex.
    pub futex_offset: u64,
    /// Raw fields by name, for the report and for comparison with gdb.
    pub fields: Vec<(&'static str, u64)>,
    /// Field combinations that cannot occur in a correctly used mutex.
    pub anomalies: Vec<String>,
}

impl Decoded {
    pub fn field(&self, name: &str) -> Option<u64> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

/// A magic number a layout stamps into every initialised lock: `size` bytes at
/// `offset`, holding `value` in the core's byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Magic {
    pub offset: usize,
    /// 1, 2, 4 or 8.
    pub size: usize,
    pub value: u64,
}

impl Magic {
    /// The magic's bytes as they appear in memory of this byte order.
    pub fn bytes(&self, endian: Endian) -> Vec<u8> {
        let v = match endian {
            Endian::Little => self.value.to_le_bytes(),
            Endian::Big => self.value.to_be_bytes(),
        };
        match endian {
            Endian::Little => v[..self.size.min(8)].to_vec(),
            Endian::Big => v[8 - self.size.min(8)..].to_vec(),
        }
    }
}

/// A lock found inside a larger synchronisation object (a Solaris `rwlock_t`
/// embeds a `mutex_t` at offset 8 and stamps it with `MUTEX_MAGIC`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Embedding {
    /// What contains the lock, e.g. `rwlock`.
    pub container: &'static str,
    /// Address of the container.
    pub address: u64,
    /// A short description of the container's state.
    pub note: String,
}

/// A range test on the 32-bit word at byte `offset` of a candidate mutex:
/// `plausible_locked` rejects every candidate whose word lies outside `min..=max`, so
/// the scan may skip those positions without calling it (see
/// [`discover::scan_range`]). `offset` must be a multiple of 4 and the word must lie
/// inside the mutex.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WordFilter {
    pub offset: usize,
    pub min: u32,
    pub max: u32,
}

/// One in-memory representation of a mutex.
pub trait Layout: Send + Sync + std::fmt::Debug {
    fn name(&self) -> &str;
    /// The family: what the analysis asks of the platform is answered by it.
    fn family(&self) -> Family;
    /// Bytes the mutex occupies.
    fn size(&self) -> usize;
    /// Required alignment (scans step by this).
    fn align(&self) -> usize;
    /// Offset of the word threads sleep on (futex word), relative to the mutex.
    fn futex_offset(&self) -> u64;
    /// Decode `bytes` (at least `size()` long).
    fn decode(&self, bytes: &[u8], endian: Endian) -> Decoded;
    /// A fast, strict test used when scanning memory: could these bytes be a *locked*
    /// mutex of this layout? Must reject the overwhelming majority of ordinary data.
    fn plausible_locked(&self, bytes: &[u8], endian: Endian) -> bool;
    /// Necessary conditions of [`Layout::plausible_locked`], one 32-bit word each, that
    /// the scan tests at every position before calling it. A position that fails any
    /// of them must be one `plausible_locked` rejects. Empty: the scan calls
    /// `plausible_locked` at every aligned position whose futex word is not zero.
    fn scan_filters(&self) -> Vec<WordFilter> {
        Vec::new()
    }
    /// Do these bytes carry this layout's magic number (layouts that have one)?
    fn has_magic(&self, _bytes: &[u8], _endian: Endian) -> Option<bool> {
        None
    }
    /// The magic number, for layouts that have one (used by the magic scan).
    fn magic(&self) -> Option<Magic> {
        None
    }
    /// A structural test of a lock in any state (locked or not), used to validate a
    /// magic hit by its other fields. Defaults to [`Layout::plausible_locked`].
    fn plausible(&self, bytes: &[u8], endian: Endian) -> bool {
        self.plausible_locked(bytes, endian)
    }
    /// Whether the lock at `addr` is part of a larger object, judged from the
    /// address space around it (e.g. the mutex inside a Solaris rwlock).
    fn embedded_in(&self, _space: &AddressSpace<'_>, _addr: u64) -> Option<Embedding> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_layout_names_its_family_and_decodes_with_it() {
        for name in select::builtin_names() {
            let l = select::builtin(&name).expect("builtin layout");
            let f = l.family();
            let d = l.decode(&vec![0u8; l.size()], Endian::Little);
            assert_eq!(d.family, f, "{name}");
            let expected = if name.starts_with("glibc-") {
                Family::Glibc
            } else if name.starts_with("musl-") {
                Family::Musl
            } else {
                assert!(name.starts_with("solaris-"), "{name}");
                assert!(f.owner_block_read_offset().is_some(), "{name}");
                f
            };
            assert_eq!(f, expected, "{name}");
            assert_eq!(f.is_solaris(), name.starts_with("solaris-"), "{name}");
        }
    }

    #[test]
    fn lock_wait_values_per_family() {
        // glibc's __lll_lock_wait waits for 2; musl waits for the lock word with its
        // waiters bit (here: held by 1234, contended).
        assert!(Family::Glibc.is_lock_wait_value(2));
        assert!(!Family::Musl.is_lock_wait_value(2));
        assert!(Family::Musl.is_lock_wait_value(0x8000_0000 | 1234));
        assert!(Family::Glibc.is_lock_wait_value(0x8000_0000 | 1234));
        assert!(!Family::Glibc.is_lock_wait_value(0x8000_0000));
        assert!(!Family::Musl.is_lock_wait_value(0xffff_ffff));
    }
}
