//! Solaris / illumos `mutex_t` (= `lwp_mutex_t` = `pthread_mutex_t`), 24 bytes.
//!
//! Field offsets are the same for ILP32 and LP64 and for both byte orders; what
//! differs is which byte of a multi-byte word a field is (sources: illumos
//! `sys/synch.h`, `{intel,sparc}/sys/synch32.h`, `libc/inc/thr_uberdata.h`; the table
//! is in `docs/layouts.md`, section "Solaris mutex_t"):
//!
//! | Offset | Field | x86 (LE) | SPARC (BE) |
//! |---|---|---|---|
//! | 0 | `mutex_flag` u16 | | |
//! | 3 | `mutex_ceiling` u8 | | |
//! | 4 | u8 | `mutex_type` | `mutex_rcount` |
//! | 5 | u8 | `mutex_rcount` | `mutex_type` |
//! | 6 | `mutex_magic` u16 = 0x4d58 | bytes `58 4d` | bytes `4d 58` |
//! | 8 | `mutex_ownerpid` u32 | | |
//! | 12 | lock byte `mutex_lockw` | offset 15, 0x01 when held | offset 12, 0xff when held |
//! | 13 | `mutex_spinners` (illumos ≥ 2008) | 13 | 13 |
//! | 14/15 | `mutex_waiters` | 14 | 15 |
//! | 16 | `mutex_owner` u64: the owner's `ulwp_t *` | low half used on i386 | low half (bytes 20..23) on sparc32 |

use serde::Serialize;

use super::{Decoded, Embedding, Family, Layout, LockState, Magic, MutexType, Protocol};
use crate::coredump::{Arch, Bytes, Endian};
use crate::memory::AddressSpace;

pub const SIZE: usize = 24;

pub const MUTEX_MAGIC: u16 = 0x4d58;
pub const SEMA_MAGIC: u16 = 0x534d;
pub const COND_MAGIC: u16 = 0x4356;
pub const RWL_MAGIC: u16 = 0x5257;

/// `mutex_type` bits (`sys/synch.h`, `pthread.h`).
pub const USYNC_THREAD: u8 = 0x00;
pub const USYNC_PROCESS: u8 = 0x01;
pub const LOCK_ERRORCHECK: u8 = 0x02;
pub const LOCK_RECURSIVE: u8 = 0x04;
pub const USYNC_PROCESS_ROBUST: u8 = 0x08;
pub const LOCK_PRIO_INHERIT: u8 = 0x10;
pub const LOCK_PRIO_PROTECT: u8 = 0x20;
pub const LOCK_ROBUST: u8 = 0x40;
/// Every type bit libc knows.
pub const TYPE_BITS: u8 = 0x7f;

/// `mutex_flag` bits.
pub const LOCK_OWNERDEAD: u16 = 0x1;
pub const LOCK_NOTRECOVERABLE: u16 = 0x2;
pub const LOCK_INITED: u16 = 0x4;
pub const LOCK_UNMAPPED: u16 = 0x8;
pub const FLAG_BITS: u16 = 0xf;

/// Offset of the embedded mutex inside an `rwlock_t` (the rwlock magic is at +6).
pub const RWLOCK_MUTEX_OFFSET: u64 = 8;

/// The four Solaris ABIs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Isa {
    Amd64,
    I386,
    Sparcv9,
    Sparc,
}

impl Isa {
    pub fn for_arch(arch: Arch) -> Option<Isa> {
        Some(match arch {
            Arch::X86_64 => Isa::Amd64,
            Arch::I386 => Isa::I386,
            Arch::Sparc64 => Isa::Sparcv9,
            Arch::Sparc => Isa::Sparc,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Isa::Amd64 => "amd64",
            Isa::I386 => "i386",
            Isa::Sparcv9 => "sparcv9",
            Isa::Sparc => "sparc",
        }
    }

    pub fn sparc(self) -> bool {
        matches!(self, Isa::Sparcv9 | Isa::Sparc)
    }

    pub fn endian(self) -> Endian {
        if self.sparc() {
            Endian::Big
        } else {
            Endian::Little
        }
    }

    pub fn is64(self) -> bool {
        matches!(self, Isa::Amd64 | Isa::Sparcv9)
    }

    /// `mutex_lockw`: 15 on x86 (`pad[7]`), 12 on SPARC (`pad[4]`).
    pub fn lock_byte(self) -> usize {
        if self.sparc() { 12 } else { 15 }
    }

    /// `mutex_waiters`: 14 on x86, 15 on SPARC.
    pub fn waiters_byte(self) -> usize {
        if self.sparc() { 15 } else { 14 }
    }

    /// `mutex_spinners` (illumos since 2008): 13 on both.
    pub fn spinners_byte(self) -> usize {
        13
    }

    /// `mutex_type`: the low-order byte of the native u16 at 4.
    pub fn type_byte(self) -> usize {
        if self.sparc() { 5 } else { 4 }
    }

    pub fn rcount_byte(self) -> usize {
        if self.sparc() { 4 } else { 5 }
    }

    /// `LOCKSET`: the lock byte of a held mutex (`xchgb` of 1 on x86, `ldstub` on SPARC).
    pub fn lockset(self) -> u8 {
        if self.sparc() { 0xff } else { 0x01 }
    }

    /// `_LONG_LONG_ALIGNMENT`: 4 on i386, 8 elsewhere.
    pub fn align(self) -> usize {
        if self == Isa::I386 { 4 } else { 8 }
    }

    /// `offsetof(ulwp_t, ul_schedctl)`: what `mutex_trylock_adaptive()` loads through
    /// the owner pointer (COMPUTED in the facts, same in S05, S06 and illumos).
    pub fn schedctl_offset(self) -> u64 {
        match self {
            Isa::Amd64 => 0x128,
            Isa::I386 => 0xc8,
            Isa::Sparcv9 => 0x140,
            Isa::Sparc => 0xf0,
        }
    }

    /// `offsetof(ulwp_t, ul_lwpid)`.
    pub fn lwpid_offset(self) -> u64 {
        match self {
            Isa::Amd64 => 0xc4,
            Isa::I386 => 0x70,
            Isa::Sparcv9 => 0xdc,
            Isa::Sparc => 0x98,
        }
    }
}

/// The `mutex_t` layout of one Solaris ABI.
#[derive(Debug, Clone)]
pub struct SolarisMutex {
    isa: Isa,
    name: String,
}

impl SolarisMutex {
    pub fn new(isa: Isa) -> SolarisMutex {
        SolarisMutex {
            isa,
            name: format!("solaris-{}", isa.name()),
        }
    }

    pub fn for_arch(arch: Arch) -> Option<SolarisMutex> {
        Isa::for_arch(arch).map(SolarisMutex::new)
    }

    pub fn isa(&self) -> Isa {
        self.isa
    }
}

/// The raw fields of a `mutex_t`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Raw {
    pub flag: u16,
    pub flag2: u8,
    pub ceiling: u8,
    pub mtype: u8,
    pub rcount: u8,
    pub magic: u16,
    pub ownerpid: u32,
    pub lockw: u8,
    pub spinners: u8,
    pub waiters: u8,
    /// The whole native u64 at 16 (for 32-bit ABIs the pointer is its low half).
    pub owner64: u64,
}

impl Raw {
    pub fn read(isa: Isa, bytes: &[u8], endian: Endian) -> Option<Raw> {
        let b = Bytes::new(bytes, endian);
        if bytes.len() < SIZE {
            return None;
        }
        Some(Raw {
            flag: b.u16(0)?,
            flag2: b.u8(2)?,
            ceiling: b.u8(3)?,
            mtype: b.u8(isa.type_byte())?,
            rcount: b.u8(isa.rcount_byte())?,
            magic: b.u16(6)?,
            ownerpid: b.u32(8)?,
            lockw: b.u8(isa.lock_byte())?,
            spinners: b.u8(isa.spinners_byte())?,
            waiters: b.u8(isa.waiters_byte())?,
            owner64: b.u64(16)?,
        })
    }

    /// The owner pointer: the whole u64 on LP64, its low 32 bits on ILP32.
    pub fn owner(&self, isa: Isa) -> u64 {
        if isa.is64() {
            self.owner64
        } else {
            self.owner64 & 0xffff_ffff
        }
    }
}

/// A human name for a `mutex_type` value, e.g. `USYNC_PROCESS|LOCK_ROBUST`.
pub fn type_name(t: u8) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.push(
        if t & USYNC_PROCESS != 0 {
            "USYNC_PROCESS"
        } else {
            "USYNC_THREAD"
        }
        .into(),
    );
    for (bit, name) in [
        (LOCK_ERRORCHECK, "LOCK_ERRORCHECK"),
        (LOCK_RECURSIVE, "LOCK_RECURSIVE"),
        (USYNC_PROCESS_ROBUST, "USYNC_PROCESS_ROBUST"),
        (LOCK_PRIO_INHERIT, "LOCK_PRIO_INHERIT"),
        (LOCK_PRIO_PROTECT, "LOCK_PRIO_PROTECT"),
        (LOCK_ROBUST, "LOCK_ROBUST"),
    ] {
        if t & bit != 0 {
            parts.push(name.into());
        }
    }
    if t & !TYPE_BITS != 0 {
        parts.push(format!("{:#x}", t & !TYPE_BITS));
    }
    parts.join("|")
}

/// A human name for `mutex_flag`.
pub fn flag_name(f: u16) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (bit, name) in [
        (LOCK_OWNERDEAD, "LOCK_OWNERDEAD"),
        (LOCK_NOTRECOVERABLE, "LOCK_NOTRECOVERABLE"),
        (LOCK_INITED, "LOCK_INITED"),
        (LOCK_UNMAPPED, "LOCK_UNMAPPED"),
    ] {
        if f & bit != 0 {
            parts.push(name.into());
        }
    }
    if f & !FLAG_BITS != 0 {
        parts.push(format!("{:#x}", f & !FLAG_BITS));
    }
    if parts.is_empty() {
        "0".into()
    } else {
        parts.join("|")
    }
}

/// The Solaris 10 (S05/S06) forensic signature: libc counts adaptive spinners in
/// the otherwise unused `mutex_ownerpid` word of a USYNC_THREAD mutex. A non-zero
/// count means threads were spinning in `mutex_trylock_adaptive()` when the core
/// was written, or died spinning. `None` when the word is 0 or the mutex is
/// process-shared (where the word is a real pid).
pub fn spinner_note(d: &Decoded) -> Option<String> {
    if d.pshared || !d.family.counts_spinners_in_ownerpid() {
        return None;
    }
    let n = d.field("mutex_ownerpid")?;
    if n == 0 || n >= SPINNER_COUNT_LIMIT {
        return None;
    }
    Some(format!(
        "mutex_ownerpid = {n} on a USYNC_THREAD mutex: Solaris 10-era libc (S05/S06 synch.c) counts adaptive spinners in that word, so {n} thread(s) were spinning in mutex_trylock_adaptive() when the core was written, or died while spinning"
    ))
}

/// A magic hit strong enough to report in a core of another system (a Solaris lock
/// re-implemented there): `mutex_init()` ran (LOCK_INITED), or it is held with an
/// owner. An unlocked static initializer is only believed in a Solaris core.
pub fn strong_hit(d: &Decoded) -> bool {
    d.anomalies.is_empty()
        && (d
            .field("mutex_flag")
            .is_some_and(|f| f & u64::from(LOCK_INITED) != 0)
            || (d.state.is_held() && d.owner_pointer.is_some()))
}

/// Above this, a USYNC_THREAD "ownerpid" is not a believable spinner count.
const SPINNER_COUNT_LIMIT: u64 = 1 << 16;

impl Layout for SolarisMutex {
    fn name(&self) -> &str {
        &self.name
    }
    fn family(&self) -> Family {
        Family::Solaris(self.isa)
    }
    fn size(&self) -> usize {
        SIZE
    }
    fn align(&self) -> usize {
        self.isa.align()
    }
    /// Solaris has no futex: this is the lock word (`mutex_lockword`, offset 12)
    /// that the kernel's `lwp_mutex_*` calls operate on.
    fn futex_offset(&self) -> u64 {
        12
    }

    fn decode(&self, bytes: &[u8], endian: Endian) -> Decoded {
        let raw = Raw::read(self.isa, bytes, endian).unwrap_or_default();
        decode_raw(&self.name, self.isa, &raw)
    }

    fn plausible_locked(&self, bytes: &[u8], endian: Endian) -> bool {
        Raw::read(self.isa, bytes, endian).is_some_and(|r| {
            r.magic == MUTEX_MAGIC
                && structurally_valid(self.isa, &r)
                && r.lockw == self.isa.lockset()
                && r.owner(self.isa) != 0
        })
    }

    fn has_magic(&self, bytes: &[u8], endian: Endian) -> Option<bool> {
        Some(Bytes::new(bytes, endian).u16(6) == Some(MUTEX_MAGIC))
    }

    fn magic(&self) -> Option<Magic> {
        Some(Magic {
            offset: 6,
            size: 2,
            value: u64::from(MUTEX_MAGIC),
        })
    }

    fn plausible(&self, bytes: &[u8], endian: Endian) -> bool {
        Raw::read(self.isa, bytes, endian)
            .is_some_and(|r| r.magic == MUTEX_MAGIC && structurally_valid(self.isa, &r))
    }

    fn embedded_in(&self, space: &AddressSpace<'_>, addr: u64) -> Option<Embedding> {
        let rw = addr.checked_sub(RWLOCK_MUTEX_OFFSET)?;
        let b = space.read(rw, 8).ok()?;
        let b = Bytes::new(&b, space.endian());
        if b.u16(6)? != RWL_MAGIC {
            return None;
        }
        let readers = b.u32(0)?;
        let rtype = b.u16(4)?;
        Some(Embedding {
            container: "rwlock",
            address: rw,
            note: format!(
                "the mutex_t embedded at offset 8 of an rwlock_t at {rw:#x} (rwlock magic \"RW\" {RWL_MAGIC:#06x}; readers word {readers:#x}, type {rtype:#x}): rwlock_init() stamps MUTEX_MAGIC on it; it is part of the rwlock, not a mutex of its own"
            ),
        })
    }
}

/// What libc could have written: known type and flag bits, a lock byte of 0 or
/// LOCKSET, a waiters byte of 0 or 1, no ceiling without PRIO_PROTECT, no
/// recursion count without LOCK_RECURSIVE, the high half of a 32-bit owner zero,
/// an aligned owner pointer, and a USYNC_THREAD "ownerpid" that is at most a
/// spinner count.
pub fn structurally_valid(isa: Isa, r: &Raw) -> bool {
    if r.mtype & !TYPE_BITS != 0 || r.flag & !FLAG_BITS != 0 {
        return false;
    }
    if r.mtype & LOCK_PRIO_INHERIT != 0 && r.mtype & LOCK_PRIO_PROTECT != 0 {
        return false;
    }
    if r.lockw != 0 && r.lockw != isa.lockset() {
        return false;
    }
    if r.waiters > 1 {
        return false;
    }
    if r.ceiling != 0 && r.mtype & LOCK_PRIO_PROTECT == 0 {
        return false;
    }
    if r.rcount != 0 && r.mtype & LOCK_RECURSIVE == 0 {
        return false;
    }
    if !isa.is64() && r.owner64 >> 32 != 0 {
        return false;
    }
    let owner = r.owner(isa);
    if !owner.is_multiple_of(4) {
        return false;
    }
    if r.mtype & (USYNC_PROCESS | USYNC_PROCESS_ROBUST) == 0
        && u64::from(r.ownerpid) >= SPINNER_COUNT_LIMIT
    {
        return false;
    }
    true
}

/// Decode raw fields into the neutral model.
pub fn decode_raw(layout: &str, isa: Isa, r: &Raw) -> Decoded {
    let owner = r.owner(isa);
    let t = r.mtype;
    let pshared = t & (USYNC_PROCESS | USYNC_PROCESS_ROBUST) != 0;
    let robust = t & (LOCK_ROBUST | USYNC_PROCESS_ROBUST) != 0;
    let inherit = t & LOCK_PRIO_INHERIT != 0;
    let protect = t & LOCK_PRIO_PROTECT != 0;
    let mut anomalies = Vec::new();
    let fields = vec![
        ("mutex_flag", u64::from(r.flag)),
        ("mutex_ceiling", u64::from(r.ceiling)),
        ("mutex_type", u64::from(t)),
        ("mutex_rcount", u64::from(r.rcount)),
        ("mutex_magic", u64::from(r.magic)),
        ("mutex_ownerpid", u64::from(r.ownerpid)),
        ("mutex_lockw", u64::from(r.lockw)),
        ("mutex_spinners", u64::from(r.spinners)),
        ("mutex_waiters", u64::from(r.waiters)),
        ("mutex_owner", r.owner64),
    ];
    let mtype = if t & !TYPE_BITS != 0 {
        anomalies.push(format!(
            "mutex_type = {t:#x} has bits no libc sets (known: USYNC_PROCESS 0x1, ERRORCHECK 0x2, RECURSIVE 0x4, USYNC_PROCESS_ROBUST 0x8, PRIO_INHERIT 0x10, PRIO_PROTECT 0x20, ROBUST 0x40)"
        ));
        MutexType::Unknown
    } else if t & LOCK_RECURSIVE != 0 {
        MutexType::Recursive
    } else if t & LOCK_ERRORCHECK != 0 {
        MutexType::Errorcheck
    } else {
        MutexType::Normal
    };
    if inherit && protect {
        anomalies.push("mutex_type has both LOCK_PRIO_INHERIT and LOCK_PRIO_PROTECT".into());
    }
    let protocol = if inherit {
        Protocol::Inherit
    } else if protect {
        Protocol::Protect
    } else {
        Protocol::None
    };
    if r.magic != MUTEX_MAGIC && r.magic != 0 {
        anomalies.push(format!(
            "mutex_magic = {:#06x}, not MUTEX_MAGIC ({MUTEX_MAGIC:#06x}) nor 0: not a mutex_t, or overwritten",
            r.magic
        ));
    }
    if r.flag & !FLAG_BITS != 0 {
        anomalies.push(format!(
            "mutex_flag = {:#x} has bits no libc sets (known: OWNERDEAD 0x1, NOTRECOVERABLE 0x2, INITED 0x4, UNMAPPED 0x8)",
            r.flag
        ));
    }
    let held = r.lockw != 0;
    if held && r.lockw != isa.lockset() {
        anomalies.push(format!(
            "lock byte = {:#04x}: libc stores only 0 or {:#04x} (LOCKSET) on {}",
            r.lockw,
            isa.lockset(),
            isa.name()
        ));
    }
    if r.waiters > 1 {
        anomalies.push(format!(
            "waiters byte = {:#04x}: libc stores only 0 or 1",
            r.waiters
        ));
    }
    let dead = r.flag & LOCK_OWNERDEAD != 0;
    let notrec = r.flag & LOCK_NOTRECOVERABLE != 0;
    if (dead || notrec) && !robust {
        anomalies.push(format!(
            "mutex_flag has {} on a mutex that is not robust",
            flag_name(r.flag & (LOCK_OWNERDEAD | LOCK_NOTRECOVERABLE))
        ));
    }
    let state = if notrec {
        LockState::NotRecoverable
    } else if dead && held {
        LockState::Inconsistent
    } else if dead {
        LockState::OwnerDied
    } else if held {
        if r.waiters != 0 {
            LockState::Contended
        } else {
            LockState::Locked
        }
    } else if r.magic == 0 && r.flag & LOCK_INITED == 0 && t != 0 && owner == 0 {
        // mutex_destroy() zeroes the magic and clears LOCK_INITED, keeping the type.
        LockState::Destroyed
    } else {
        LockState::Unlocked
    };
    if state == LockState::Destroyed {
        // Nothing more to say about a destroyed mutex.
    } else if held && owner == 0 && !dead {
        anomalies.push(
            "lock byte set but mutex_owner is 0: taken by something other than libc's lock path, or the core caught the instant between the two stores".into(),
        );
    } else if !held && owner != 0 && !dead {
        anomalies.push(format!(
            "lock byte clear but mutex_owner = {owner:#x}: released by something other than libc's unlock (which clears the owner first), or caught mid-unlock"
        ));
    }
    if !isa.is64() && r.owner64 >> 32 != 0 {
        anomalies.push(format!(
            "mutex_owner = {:#x}: the high half of a 32-bit process's owner word is not 0",
            r.owner64
        ));
    }
    if owner != 0 && !owner.is_multiple_of(4) {
        anomalies.push(format!(
            "mutex_owner = {owner:#x} is not aligned: not a ulwp_t address"
        ));
    }
    if protect {
        // The ceiling is meaningful only for PRIO_PROTECT.
    } else if r.ceiling != 0 {
        anomalies.push(format!(
            "mutex_ceiling = {} without LOCK_PRIO_PROTECT",
            r.ceiling
        ));
    }
    if r.rcount != 0 && t & LOCK_RECURSIVE == 0 {
        anomalies.push(format!(
            "mutex_rcount = {} on a mutex that is not LOCK_RECURSIVE",
            r.rcount
        ));
    }
    let owner_pid = if pshared {
        if held && r.ownerpid == 0 && !dead {
            anomalies.push(
                "USYNC_PROCESS mutex held with mutex_ownerpid 0 (libc and the kernel write the pid with the lock)".into(),
            );
        }
        (r.ownerpid != 0).then_some(r.ownerpid)
    } else {
        if u64::from(r.ownerpid) >= SPINNER_COUNT_LIMIT {
            anomalies.push(format!(
                "mutex_ownerpid = {} on a USYNC_THREAD mutex: libc never writes a pid there (Solaris 10 keeps a small spinner count in it)",
                r.ownerpid
            ));
        }
        None
    };
    Decoded {
        layout: layout.to_string(),
        family: Family::Solaris(isa),
        mtype,
        pshared,
        robust,
        protocol,
        ceiling: protect.then_some(u32::from(r.ceiling)),
        state,
        owner_tid: None,
        owner_pointer: (owner != 0).then_some(owner),
        owner_pid,
        count: u32::from(r.rcount),
        nusers: None,
        waiters_flag: r.waiters != 0,
        futex_offset: 12,
        fields,
        anomalies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build the 24 bytes of a mutex_t the way libc lays it out, field by field.
    fn bytes(isa: Isa, raw: &Raw) -> Vec<u8> {
        let mut b = vec![0u8; SIZE];
        let be = isa.sparc();
        let put16 = |b: &mut [u8], o: usize, v: u16| {
            b[o..o + 2].copy_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() })
        };
        put16(&mut b, 0, raw.flag);
        b[2] = raw.flag2;
        b[3] = raw.ceiling;
        b[isa.type_byte()] = raw.mtype;
        b[isa.rcount_byte()] = raw.rcount;
        put16(&mut b, 6, raw.magic);
        let pid = if be {
            raw.ownerpid.to_be_bytes()
        } else {
            raw.ownerpid.to_le_bytes()
        };
        b[8..12].copy_from_slice(&pid);
        b[isa.lock_byte()] = raw.lockw;
        b[isa.spinners_byte()] = raw.spinners;
        b[isa.waiters_byte()] = raw.waiters;
        let o = if be {
            raw.owner64.to_be_bytes()
        } else {
            raw.owner64.to_le_bytes()
        };
        b[16..24].copy_from_slice(&o);
        b
    }

    #[test]
    fn documented_offsets_amd64() {
        // DEFAULTMUTEX locked by ulwp 0xfffffd7fff232a40, with a waiter.
        let mut b = [0u8; 24];
        b[6] = 0x58;
        b[7] = 0x4d;
        b[15] = 0x01;
        b[14] = 0x01;
        b[16..24].copy_from_slice(&0xffff_fd7f_ff23_2a40u64.to_le_bytes());
        let l = SolarisMutex::new(Isa::Amd64);
        assert_eq!(l.has_magic(&b, Endian::Little), Some(true));
        let d = l.decode(&b, Endian::Little);
        assert_eq!(d.state, LockState::Contended);
        assert_eq!(d.owner_pointer, Some(0xffff_fd7f_ff23_2a40));
        assert!(!d.pshared && d.mtype == MutexType::Normal);
        assert!(d.anomalies.is_empty(), "{:?}", d.anomalies);
        assert!(l.plausible_locked(&b, Endian::Little));
    }

    #[test]
    fn documented_offsets_sparcv9() {
        // USYNC_PROCESS|LOCK_ROBUST held by pid 0x1234, ulwp 0xffffffff7e300000.
        let mut b = [0u8; 24];
        b[0..2].copy_from_slice(&LOCK_INITED.to_be_bytes());
        b[5] = USYNC_PROCESS | LOCK_ROBUST;
        b[6] = 0x4d;
        b[7] = 0x58;
        b[8..12].copy_from_slice(&0x1234u32.to_be_bytes());
        b[12] = 0xff;
        b[16..24].copy_from_slice(&0xffff_ffff_7e30_0000u64.to_be_bytes());
        let l = SolarisMutex::new(Isa::Sparcv9);
        let d = l.decode(&b, Endian::Big);
        assert_eq!(d.state, LockState::Locked);
        assert!(d.pshared && d.robust);
        assert_eq!(d.owner_pid, Some(0x1234));
        assert_eq!(d.owner_pointer, Some(0xffff_ffff_7e30_0000));
        assert!(d.anomalies.is_empty(), "{:?}", d.anomalies);
        // The same bytes read as x86 are not a held mutex: the lock byte is at 15.
        assert!(!SolarisMutex::new(Isa::Amd64).plausible_locked(&b, Endian::Big));
    }

    #[test]
    fn thirty_two_bit_owner_is_the_low_half() {
        // sparc32: the pointer is in bytes 20..23.
        let mut b = [0u8; 24];
        b[6] = 0x4d;
        b[7] = 0x58;
        b[12] = 0xff;
        b[20..24].copy_from_slice(&0xfe7a_0200u32.to_be_bytes());
        let d = SolarisMutex::new(Isa::Sparc).decode(&b, Endian::Big);
        assert_eq!(d.owner_pointer, Some(0xfe7a_0200));
        assert!(d.anomalies.is_empty(), "{:?}", d.anomalies);
        // i386: bytes 16..19.
        let mut b = [0u8; 24];
        b[6] = 0x58;
        b[7] = 0x4d;
        b[15] = 1;
        b[16..20].copy_from_slice(&0xfec2_1000u32.to_le_bytes());
        let d = SolarisMutex::new(Isa::I386).decode(&b, Endian::Little);
        assert_eq!(d.owner_pointer, Some(0xfec2_1000));
        b[20] = 1;
        let d = SolarisMutex::new(Isa::I386).decode(&b, Endian::Little);
        assert!(d.anomalies.iter().any(|a| a.contains("high half")));
    }

    #[test]
    fn states_from_flags() {
        for isa in [Isa::Amd64, Isa::I386, Isa::Sparcv9, Isa::Sparc] {
            let l = SolarisMutex::new(isa);
            let e = isa.endian();
            let base = Raw {
                magic: MUTEX_MAGIC,
                mtype: USYNC_PROCESS | LOCK_ROBUST,
                flag: LOCK_INITED,
                ..Raw::default()
            };
            let dec = |r: Raw| l.decode(&bytes(isa, &r), e);
            assert_eq!(dec(base).state, LockState::Unlocked);
            let died = Raw {
                flag: LOCK_INITED | LOCK_OWNERDEAD,
                ..base
            };
            assert_eq!(dec(died).state, LockState::OwnerDied);
            let taken = Raw {
                lockw: isa.lockset(),
                owner64: 0x8000,
                ownerpid: 77,
                ..died
            };
            let d = dec(taken);
            assert_eq!(d.state, LockState::Inconsistent);
            assert_eq!(d.owner_pid, Some(77));
            let notrec = Raw {
                flag: LOCK_INITED | LOCK_NOTRECOVERABLE,
                ..base
            };
            assert_eq!(dec(notrec).state, LockState::NotRecoverable);
            // OWNERDEAD on a non-robust mutex is impossible.
            let bad = Raw {
                mtype: USYNC_THREAD,
                ..died
            };
            assert!(!dec(bad).anomalies.is_empty());
            // PRIO_PROTECT keeps its ceiling.
            let pp = Raw {
                mtype: LOCK_PRIO_PROTECT,
                ceiling: 42,
                ..base
            };
            let d = dec(pp);
            assert_eq!((d.protocol, d.ceiling), (Protocol::Protect, Some(42)));
            assert!(d.anomalies.is_empty(), "{:?}", d.anomalies);
            // Recursive with a count.
            let rec = Raw {
                mtype: LOCK_RECURSIVE | LOCK_ERRORCHECK,
                rcount: 3,
                lockw: isa.lockset(),
                owner64: 0x9000,
                ..base
            };
            let d = dec(rec);
            assert_eq!((d.mtype, d.count), (MutexType::Recursive, 3));
            assert!(d.anomalies.is_empty(), "{:?}", d.anomalies);
            // Destroyed: magic 0, INITED clear, type kept.
            let destroyed = Raw {
                magic: 0,
                flag: 0,
                ..base
            };
            assert_eq!(dec(destroyed).state, LockState::Destroyed);
            // All zeroes: a valid unlocked USYNC_THREAD mutex (never initialised).
            let d = dec(Raw::default());
            assert_eq!(d.state, LockState::Unlocked);
            assert!(d.anomalies.is_empty());
            assert_eq!(l.has_magic(&bytes(isa, &Raw::default()), e), Some(false));
        }
    }

    #[test]
    fn impossible_combinations() {
        let isa = Isa::Amd64;
        let l = SolarisMutex::new(isa);
        let base = Raw {
            magic: MUTEX_MAGIC,
            ..Raw::default()
        };
        let d = |r: Raw| l.decode(&bytes(isa, &r), Endian::Little);
        assert!(!d(Raw { lockw: 7, ..base }).anomalies.is_empty());
        assert!(
            !d(Raw {
                mtype: 0x80,
                ..base
            })
            .anomalies
            .is_empty()
        );
        assert!(
            !d(Raw {
                mtype: LOCK_PRIO_INHERIT | LOCK_PRIO_PROTECT,
                ..base
            })
            .anomalies
            .is_empty()
        );
        assert!(!d(Raw { lockw: 1, ..base }).anomalies.is_empty()); // held, no owner
        assert!(
            !d(Raw {
                owner64: 0x1000,
                ..base
            })
            .anomalies
            .is_empty()
        ); // owner but unlocked
        assert!(
            !d(Raw {
                owner64: 0x1003,
                lockw: 1,
                ..base
            })
            .anomalies
            .is_empty()
        );
        assert!(
            !d(Raw {
                magic: 0x1234,
                ..base
            })
            .anomalies
            .is_empty()
        );
        assert!(!l.plausible(&bytes(isa, &Raw { lockw: 7, ..base }), Endian::Little));
        assert!(!l.plausible(&bytes(isa, &Raw { magic: 0, ..base }), Endian::Little));
    }

    #[test]
    fn spinner_count_quirk() {
        let isa = Isa::Amd64;
        let r = Raw {
            magic: MUTEX_MAGIC,
            lockw: 1,
            owner64: 0x7f00_0000_1000,
            ownerpid: 2,
            ..Raw::default()
        };
        let d = decode_raw("solaris-amd64", isa, &r);
        assert_eq!(d.owner_pid, None, "not a pid on USYNC_THREAD");
        assert!(d.anomalies.is_empty());
        assert!(spinner_note(&d).is_some_and(|n| n.contains("2 thread(s)")));
        let shared = Raw {
            mtype: USYNC_PROCESS,
            ..r
        };
        let d = decode_raw("solaris-amd64", isa, &shared);
        assert_eq!(d.owner_pid, Some(2));
        assert!(spinner_note(&d).is_none());
    }

    #[test]
    fn names() {
        assert_eq!(type_name(0), "USYNC_THREAD");
        assert_eq!(
            type_name(USYNC_PROCESS | LOCK_ROBUST),
            "USYNC_PROCESS|LOCK_ROBUST"
        );
        assert_eq!(
            flag_name(LOCK_INITED | LOCK_OWNERDEAD),
            "LOCK_OWNERDEAD|LOCK_INITED"
        );
        let m = SolarisMutex::new(Isa::Sparcv9).magic().unwrap();
        assert_eq!(m.bytes(Endian::Big), vec![0x4d, 0x58]);
        assert_eq!(m.bytes(Endian::Little), vec![0x58, 0x4d]);
    }
}
