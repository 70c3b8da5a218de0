//! glibc `pthread_mutex_t` (NPTL). Offsets and encodings: `docs/layouts.md`, from
//! glibc's `struct_mutex.h`, `pthreadP.h`, `lowlevellock.h` and
//! `pthread_mutex_{lock,unlock}.c`.

use super::{Decoded, Family, Layout, LockState, MutexType, Protocol, WordFilter};
use crate::coredump::{Arch, Bytes, Endian};

pub const FUTEX_WAITERS: u32 = 0x8000_0000;
pub const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
pub const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
pub const PTHREAD_MUTEX_INCONSISTENT: u32 = 0x7fff_ffff;
pub const PTHREAD_MUTEX_NOTRECOVERABLE: u32 = 0x7fff_fffe;
pub const KIND_ROBUST: u32 = 16;
pub const KIND_PRIO_INHERIT: u32 = 32;
pub const KIND_PRIO_PROTECT: u32 = 64;
pub const KIND_PSHARED: u32 = 128;
pub const KIND_ELISION: u32 = 256;
pub const KIND_NO_ELISION: u32 = 512;
pub const PRIO_CEILING_SHIFT: u32 = 19;
pub const PRIO_CEILING_MASK: u32 = 0xfff8_0000;

/// The highest TID Linux hands out (`PID_MAX_LIMIT` = 4M).
pub const PID_MAX_LIMIT: u32 = 4 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Glibc {
    name: String,
    nusers: usize,
    kind: usize,
    size: usize,
    align: usize,
    /// Offset and size of the words after `__kind`: spin/elision counts and the
    /// robust list link(s) (`__list`).
    tail: Tail,
}

/// What follows `__kind`, per ABI family.
#[derive(Debug, Clone, Copy)]
enum Tail {
    /// x86_64/ppc64/s390x: `short __spins`@20, `short __elision`@22, `__list`@24 (2 pointers of `ptr` bytes).
    Shorts { ptr: usize },
    /// generic 64-bit (aarch64, riscv64, ...): `int __spins`@20, `__list`@24.
    Int { ptr: usize },
    /// ILP32: union@20 of {`short __spins`, `short __elision`} and `__list.__next`.
    Union32,
}

impl Glibc {
    /// The layout for an architecture (`__kind` at 16 on LP64 and x32, 12 on ILP32).
    pub fn for_arch(arch: Arch) -> Option<Glibc> {
        let (nusers, kind, size, align, tail) = match arch {
            Arch::X86_64 | Arch::Ppc64 | Arch::S390x => (12, 16, 40, 8, Tail::Shorts { ptr: 8 }),
            Arch::Mips64 | Arch::Riscv64 | Arch::Loongarch64 => {
                (12, 16, 40, 8, Tail::Int { ptr: 8 })
            }
            Arch::Aarch64 => (12, 16, 48, 8, Tail::Int { ptr: 8 }),
            Arch::X32 => (12, 16, 32, 4, Tail::Shorts { ptr: 4 }),
            Arch::I386 | Arch::Arm | Arch::Ppc | Arch::S390 | Arch::Mips | Arch::M68k => {
                (16, 12, 24, 4, Tail::Union32)
            }
            Arch::Riscv32 => (16, 12, 32, 4, Tail::Union32),
            _ => return None,
        };
        Some(Glibc {
            name: format!("glibc-{}", arch.name()),
            nusers,
            kind,
            size,
            align,
            tail,
        })
    }
}

impl Glibc {
    /// The words after `__kind` must agree with the type: a non-robust mutex has an
    /// empty `__list` and a spin count only if adaptive; a locked robust mutex is
    /// linked into its owner's robust list (non-null `__next`).
    fn plausible_tail(&self, b: &Bytes<'_>, kind: u32) -> bool {
        let robust = kind & KIND_ROBUST != 0;
        let adaptive = kind & 3 == 3;
        let spins_ok = |spins: u32| if adaptive { spins <= 32767 } else { spins == 0 };
        match self.tail {
            Tail::Shorts { ptr } => {
                let (Some(spins), Some(elision), Some(prev), Some(next)) =
                    (b.u16(20), b.u16(22), b.word(24, ptr), b.word(24 + ptr, ptr))
                else {
                    return false;
                };
                spins_ok(u32::from(spins))
                    && elision <= 1000
                    && if robust {
                        robust_link(next, ptr) && (prev == 0 || robust_link(prev, ptr))
                    } else {
                        prev == 0 && next == 0
                    }
            }
            Tail::Int { ptr } => {
                let (Some(spins), Some(prev), Some(next)) =
                    (b.u32(20), b.word(24, ptr), b.word(24 + ptr, ptr))
                else {
                    return false;
                };
                spins_ok(spins)
                    && if robust {
                        robust_link(next, ptr) && (prev == 0 || robust_link(prev, ptr))
                    } else {
                        prev == 0 && next == 0
                    }
            }
            Tail::Union32 => {
                let Some(w) = b.u32(20) else { return false };
                if robust {
                    robust_link(u64::from(w), 4)
                } else {
                    let (Some(spins), Some(elision)) = (b.u16(20), b.u16(22)) else {
                        return false;
                    };
                    spins_ok(u32::from(spins)) && elision <= 1000
                }
            }
        }
    }
}

/// A robust-list link as glibc writes it into a held (or owner-died) robust
/// mutex's `__list`: the address of the next entry's `__list.__next` or of the
/// owner's `robust_head` in its `struct pthread` — a user-space pointer, aligned on
/// the pointer size and above the first page. Small integers and unaligned words in
/// ordinary data fail this (seen on the scan test's cores).
fn robust_link(v: u64, ptr: usize) -> bool {
    let user_top: u64 = if ptr == 8 { 1 << 57 } else { 1 << 32 };
    v >= 0x1000 && v < user_top && v.is_multiple_of(ptr as u64)
}

fn words(b: &Bytes<'_>, nusers: usize, kind: usize) -> Option<(u32, u32, u32, u32, u32)> {
    Some((
        b.u32(0)?,
        b.u32(4)?,
        b.u32(8)?,
        b.u32(nusers)?,
        b.u32(kind)?,
    ))
}

impl Layout for Glibc {
    fn name(&self) -> &str {
        &self.name
    }
    fn family(&self) -> Family {
        Family::Glibc
    }
    fn size(&self) -> usize {
        self.size
    }
    fn align(&self) -> usize {
        self.align
    }
    fn futex_offset(&self) -> u64 {
        0
    }

    fn decode(&self, bytes: &[u8], endian: Endian) -> Decoded {
        let b = Bytes::new(bytes, endian);
        let (lock, count, owner, nusers, kind) =
            words(&b, self.nusers, self.kind).unwrap_or_default();
        decode_fields(&self.name, lock, count, owner, nusers, kind)
    }

    /// What `plausible_locked_fields` demands of single words: `__nusers` in 1..=2,
    /// `__owner` in 1..PID_MAX_LIMIT or PTHREAD_MUTEX_INCONSISTENT, no `__kind` bit above 0x3ff. Together they reject
    /// nearly all ordinary data (zeros, text, pointers, counters, random bytes).
    fn scan_filters(&self) -> Vec<WordFilter> {
        vec![
            WordFilter {
                offset: self.nusers,
                min: 1,
                max: 2,
            },
            // A TID, or PTHREAD_MUTEX_INCONSISTENT (0x7fffffff) once the mutex was
            // taken after its owner died.
            WordFilter {
                offset: 8,
                min: 1,
                max: PTHREAD_MUTEX_INCONSISTENT,
            },
            WordFilter {
                offset: self.kind,
                min: 0,
                max: 0x3ff,
            },
        ]
    }

    fn plausible_locked(&self, bytes: &[u8], endian: Endian) -> bool {
        let b = Bytes::new(bytes, endian);
        let Some((lock, count, owner, nusers, kind)) = words(&b, self.nusers, self.kind) else {
            return false;
        };
        plausible_locked_fields(lock, count, owner, nusers, kind) && self.plausible_tail(&b, kind)
    }
}

/// The scan's plausibility test (documented in `docs/layouts.md`): only a mutex that
/// is held by a thread — or a robust mutex the kernel left behind when its owner died
/// (`__lock` = FUTEX_OWNER_DIED, maybe | FUTEX_WAITERS, TID bits 0, `__owner` still
/// the dead TID), or one taken again after that and not made consistent (`__owner` =
/// PTHREAD_MUTEX_INCONSISTENT) — is accepted, and every field must be exactly what
/// glibc or the kernel writes for such a mutex:
/// - `__kind`: a known type value (0-3, optionally robust 16, PI 32, PP 64, pshared
///   128, elision flags 256/512) — never -1 (destroyed), nothing above 0x3ff;
/// - an owner TID in 1..PID_MAX_LIMIT, equal to the TID in the lock word for robust
///   and PI mutexes;
/// - for other types a lock word of exactly 1 or 2;
/// - `__nusers` of 1 (2+ only for recursive mutexes held across a cond wait is not
///   possible; glibc counts one per lock holder) — 1..=2 accepted;
/// - `__count` 0 for non-recursive types, 1..=1000 for recursive and robust/PI/PP.
pub fn plausible_locked_fields(lock: u32, count: u32, owner: u32, nusers: u32, kind: u32) -> bool {
    if kind & !0x3ff != 0 {
        return false;
    }
    let k = kind & 0x7f;
    let ty = k & 3;
    let robust = k & KIND_ROBUST != 0;
    let pi = k & KIND_PRIO_INHERIT != 0;
    let pp = k & KIND_PRIO_PROTECT != 0;
    if pp && (pi || robust) || k & !(3 | KIND_ROBUST | KIND_PRIO_INHERIT | KIND_PRIO_PROTECT) != 0 {
        return false;
    }
    if robust && kind & KIND_PSHARED == 0 {
        // glibc always sets the pshared bit on robust mutexes.
        return false;
    }
    if !elision_bits_possible(kind) {
        return false;
    }
    if !(1..=2).contains(&nusers) {
        return false;
    }
    if robust || pi {
        let tid = lock & FUTEX_TID_MASK;
        if count == 0 || count > 1000 || ty != 1 && count != 1 {
            return false;
        }
        let owner_ok = (1..PID_MAX_LIMIT).contains(&owner);
        if robust && lock & !FUTEX_WAITERS == FUTEX_OWNER_DIED {
            // The kernel's robust-list walk at the owner's death: TID bits cleared,
            // OWNER_DIED set, `__owner` untouched (the dead TID).
            return owner_ok;
        }
        if lock & FUTEX_OWNER_DIED != 0 || tid == 0 || tid >= PID_MAX_LIMIT {
            return false;
        }
        // Held: by the TID in the lock word, which `__owner` repeats — or, taken
        // with EOWNERDEAD and not yet made consistent, `__owner` is INCONSISTENT.
        return tid == owner || robust && owner == PTHREAD_MUTEX_INCONSISTENT;
    }
    if owner == 0 || owner >= PID_MAX_LIMIT {
        return false;
    }
    let l = if pp { lock & !PRIO_CEILING_MASK } else { lock };
    if !(1..=2).contains(&l) {
        return false;
    }
    if ty == 1 {
        (1..=1000).contains(&count)
    } else if pp {
        count == 1
    } else {
        count == 0
    }
}

/// The elision flags as glibc (≤ 2.42) writes them: `PTHREAD_MUTEX_NO_ELISION_NP`
/// (512) only by `pthread_mutexattr_settype(PTHREAD_MUTEX_NORMAL)` (a later settype
/// clears it), so only on type 0; `PTHREAD_MUTEX_ELISION_NP` (256) only on the first
/// lock of a plain `PTHREAD_MUTEX_TIMED_NP` mutex when elision is forced, so only on
/// type 0 without robust/PI/PP; never both (`nptl/pthread_mutexattr_settype.c`,
/// `sysdeps/nptl/lowlevellock.h` FORCE_ELISION).
pub fn elision_bits_possible(kind: u32) -> bool {
    let elision = kind & KIND_ELISION != 0;
    let no_elision = kind & KIND_NO_ELISION != 0;
    let ty = kind & 3;
    let special = kind & (KIND_ROBUST | KIND_PRIO_INHERIT | KIND_PRIO_PROTECT) != 0;
    if no_elision {
        !elision && ty == 0
    } else if elision {
        ty == 0 && !special
    } else {
        true
    }
}

/// Decode glibc fields (shared by every glibc ABI).
pub fn decode_fields(
    layout: &str,
    lock: u32,
    count: u32,
    owner: u32,
    nusers: u32,
    kind: u32,
) -> Decoded {
    let mut anomalies = Vec::new();
    let fields = vec![
        ("__lock", u64::from(lock)),
        ("__count", u64::from(count)),
        ("__owner", u64::from(owner)),
        ("__nusers", u64::from(nusers)),
        ("__kind", u64::from(kind)),
    ];
    let mut d = Decoded {
        layout: layout.to_string(),
        family: Family::Glibc,
        mtype: MutexType::Normal,
        pshared: false,
        robust: false,
        protocol: Protocol::None,
        ceiling: None,
        state: LockState::Unlocked,
        owner_tid: None,
        owner_pointer: None,
        owner_pid: None,
        count,
        nusers: Some(nusers),
        waiters_flag: false,
        futex_offset: 0,
        fields,
        anomalies: Vec::new(),
    };
    if kind == u32::MAX {
        d.state = LockState::Destroyed;
        d.mtype = MutexType::Unknown;
        if lock != 0 || owner != 0 {
            anomalies.push(format!(
                "destroyed (__kind = -1) but __lock = {lock:#x}, __owner = {owner}: used after pthread_mutex_destroy"
            ));
        }
        d.anomalies = anomalies;
        return d;
    }
    if kind & !0x3ff != 0 {
        anomalies.push(format!(
            "__kind = {kind:#x} has bits no glibc sets (valid: type 0-3 | robust 16 | PI 32 | PP 64 | pshared 128 | elision 256/512)"
        ));
        d.mtype = MutexType::Unknown;
    }
    let k = kind & 0x7f;
    d.mtype = if d.mtype == MutexType::Unknown {
        MutexType::Unknown
    } else {
        match k & 3 {
            0 => MutexType::Normal,
            1 => MutexType::Recursive,
            2 => MutexType::Errorcheck,
            _ => MutexType::Adaptive,
        }
    };
    // With garbage in __kind its individual bits mean nothing: report it once and
    // read the lock word in the plain encoding.
    let kind_valid = kind & !0x3ff == 0;
    d.robust = kind_valid && k & KIND_ROBUST != 0;
    d.pshared = kind_valid && kind & KIND_PSHARED != 0;
    let pi = kind_valid && k & KIND_PRIO_INHERIT != 0;
    let pp = kind_valid && k & KIND_PRIO_PROTECT != 0;
    d.protocol = if pi {
        Protocol::Inherit
    } else if pp {
        Protocol::Protect
    } else {
        Protocol::None
    };
    if pi && pp {
        anomalies.push("__kind has both PRIO_INHERIT and PRIO_PROTECT".into());
    }
    if kind_valid && !elision_bits_possible(kind) {
        anomalies.push(format!(
            "__kind = {kind:#x}: elision flags glibc never combines this way (512 only on normal mutexes, 256 only on plain normal ones, never both)"
        ));
    }
    if d.robust && pp {
        anomalies
            .push("__kind has both ROBUST and PRIO_PROTECT (pthread_mutex_init refuses it)".into());
    }
    if d.robust && !d.pshared {
        anomalies.push("robust mutex without the pshared bit (glibc always sets it)".into());
    }

    if d.robust || pi {
        let tid = lock & FUTEX_TID_MASK;
        d.waiters_flag = lock & FUTEX_WAITERS != 0;
        if owner == PTHREAD_MUTEX_NOTRECOVERABLE {
            d.state = LockState::NotRecoverable;
            d.owner_tid = (tid != 0).then_some(tid);
        } else if owner == PTHREAD_MUTEX_INCONSISTENT {
            d.state = LockState::Inconsistent;
            d.owner_tid = (tid != 0).then_some(tid);
        } else if lock & FUTEX_OWNER_DIED != 0 && tid == 0 {
            d.state = LockState::OwnerDied;
            d.owner_tid = (owner != 0).then_some(owner);
        } else if tid != 0 {
            d.state = if d.waiters_flag {
                LockState::Contended
            } else {
                LockState::Locked
            };
            d.owner_tid = Some(tid);
            if owner != 0 && owner != tid {
                anomalies.push(format!(
                    "lock word names thread {tid} but __owner is {owner}"
                ));
            }
        } else {
            d.state = LockState::Unlocked;
            if owner != 0 {
                anomalies.push(format!("unlocked but __owner = {owner}"));
            }
        }
    } else {
        let l = if pp {
            d.ceiling = Some(lock >> PRIO_CEILING_SHIFT);
            lock & !PRIO_CEILING_MASK
        } else {
            lock
        };
        match l {
            0 => {
                d.state = LockState::Unlocked;
                if owner != 0 {
                    anomalies.push(format!(
                        "__lock is 0 (unlocked) but __owner = {owner}: the lock word was released or overwritten by something other than the owner's unlock"
                    ));
                }
            }
            1 => d.state = LockState::Locked,
            2 => {
                d.state = LockState::Contended;
                d.waiters_flag = true;
            }
            _ => {
                d.state = LockState::Contended;
                d.waiters_flag = true;
                anomalies.push(format!(
                    "__lock = {lock:#x}: glibc only stores 0, 1 or 2 in a non-robust, non-PI mutex"
                ));
            }
        }
        if l != 0 {
            d.owner_tid = (owner != 0).then_some(owner);
        }
    }
    if let Some(t) = d.owner_tid
        && t >= PID_MAX_LIMIT
        && !matches!(d.state, LockState::Inconsistent | LockState::NotRecoverable)
    {
        anomalies.push(format!("owner {t} is not a possible thread id"));
    }
    if nusers > 0x10000 {
        anomalies.push(format!(
            "__nusers = {nusers:#x}: far more holders than possible (underflow from unbalanced unlocks, or corruption)"
        ));
    }
    if d.mtype != MutexType::Recursive && count > 1 && !(d.robust || pi || pp) {
        anomalies.push(format!("__count = {count} on a non-recursive mutex"));
    }
    d.anomalies = anomalies;
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(lock: u32, count: u32, owner: u32, nusers: u32, kind: u32) -> Decoded {
        decode_fields("glibc-x86_64", lock, count, owner, nusers, kind)
    }

    /// Values observed in real cores (docs/layouts.md, glibc 2.36 x86_64).
    #[test]
    fn observed_values() {
        let d = dec(2, 0, 4242, 1, 512);
        assert_eq!(
            (d.mtype, d.state, d.owner_tid),
            (MutexType::Normal, LockState::Contended, Some(4242))
        );
        assert!(!d.pshared && d.anomalies.is_empty());
        let d = dec(1, 3, 17518, 1, 1);
        assert_eq!(
            (d.mtype, d.state, d.count),
            (MutexType::Recursive, LockState::Locked, 3)
        );
        let d = dec(0x446e, 1, 0x446e, 1, 656);
        assert_eq!(
            (d.robust, d.pshared, d.state, d.owner_tid),
            (true, true, LockState::Locked, Some(0x446e))
        );
        let d = dec(0x8000446e, 1, 0x446e, 1, 656);
        assert_eq!(d.state, LockState::Contended);
        let d = dec(0x4000_0000, 1, 17519, 1, 656);
        assert_eq!((d.state, d.owner_tid), (LockState::OwnerDied, Some(17519)));
        let d = dec(0x446e, 1, 0x446e, 1, 544);
        assert_eq!(
            (d.protocol, d.state),
            (Protocol::Inherit, LockState::Locked)
        );
        let d = dec(0x500000, 0, 0, 0, 576);
        assert_eq!(
            (d.protocol, d.ceiling, d.state),
            (Protocol::Protect, Some(10), LockState::Unlocked)
        );
        let d = dec(0, 0, 0, 0, u32::MAX);
        assert_eq!(d.state, LockState::Destroyed);
        let d = dec(0, 0, 0, 1, 0);
        assert_eq!((d.state, d.owner_tid), (LockState::Unlocked, None));
        let d = dec(0x446e, 1, PTHREAD_MUTEX_INCONSISTENT, 1, 656);
        assert_eq!(d.state, LockState::Inconsistent);
    }

    #[test]
    fn elision_flags() {
        for ok in [0, 512, 544, 576, 656, 256, 128, 3, 146] {
            assert!(elision_bits_possible(ok), "{ok:#x}");
        }
        for bad in [0x391, 0x393, 0x1b1, 0x221, 768, 512 | 1, 256 | 3, 256 | 16] {
            assert!(!elision_bits_possible(bad), "{bad:#x}");
        }
    }

    #[test]
    fn corrupt_values() {
        assert!(!dec(1, 0, 5, 1, 0x7b7b_7b7b).anomalies.is_empty());
        assert!(!dec(0x7b, 0, 5, 1, 0).anomalies.is_empty());
        assert!(!dec(0, 0, 77, 0, 0).anomalies.is_empty());
        assert!(!dec(1, 0, 5, 0xffff_ffff, 0).anomalies.is_empty());
    }

    #[test]
    fn plausibility() {
        assert!(plausible_locked_fields(1, 0, 1234, 1, 0));
        assert!(plausible_locked_fields(2, 0, 1234, 1, 512));
        assert!(plausible_locked_fields(1, 3, 1234, 1, 1));
        assert!(plausible_locked_fields(0x8000_04d2, 1, 1234, 1, 656));
        // Unlocked, zeros, small integers and ASCII are not mutexes.
        assert!(!plausible_locked_fields(0, 0, 0, 0, 0));
        assert!(!plausible_locked_fields(1, 0, 0, 1, 0));
        assert!(!plausible_locked_fields(
            0x6c6c6568, 0x6f77206f, 0x646c72, 0, 0
        ));
        assert!(!plausible_locked_fields(1, 0, 1234, 1, 0xffff_ffff));
    }

    /// The states the kernel and glibc leave in a robust mutex, as in the
    /// robust-dead fixture (gdb: `__lock = 0x40000000, __count = 1, __owner = 19187,
    /// __nusers = 1, __kind = 0x90` and `__lock = 0x80004af1, __owner = 0x7fffffff`).
    #[test]
    fn kernel_robust_states_are_plausible() {
        // Owner died, no waiter / with a waiter.
        assert!(plausible_locked_fields(FUTEX_OWNER_DIED, 1, 19187, 1, 0x90));
        assert!(plausible_locked_fields(
            FUTEX_OWNER_DIED | FUTEX_WAITERS,
            1,
            19187,
            1,
            0x90
        ));
        // Owner died on a robust PI mutex.
        assert!(plausible_locked_fields(FUTEX_OWNER_DIED, 1, 19187, 1, 0xb0));
        // Inconsistent, held by 0x4af1 with a waiter.
        assert!(plausible_locked_fields(
            0x8000_4af1,
            1,
            PTHREAD_MUTEX_INCONSISTENT,
            1,
            0x90
        ));
        // PI with waiters.
        assert!(plausible_locked_fields(
            FUTEX_WAITERS | 1234,
            1,
            1234,
            1,
            0xa0
        ));
        // Not robust: OWNER_DIED means nothing there; no dead owner recorded.
        assert!(!plausible_locked_fields(
            FUTEX_OWNER_DIED,
            1,
            19187,
            1,
            0x80
        ));
        assert!(!plausible_locked_fields(FUTEX_OWNER_DIED, 1, 0, 1, 0x90));
        // OWNER_DIED with a TID is a lock word glibc never leaves.
        assert!(!plausible_locked_fields(
            FUTEX_OWNER_DIED | 5,
            1,
            5,
            1,
            0x90
        ));
        // INCONSISTENT only on robust mutexes.
        assert!(!plausible_locked_fields(
            0x4af1,
            1,
            PTHREAD_MUTEX_INCONSISTENT,
            1,
            0xa0
        ));
    }

    #[test]
    fn robust_links_are_pointers() {
        let g = Glibc::for_arch(Arch::X86_64).expect("layout");
        let mut b = [0u8; 40];
        let put = |b: &mut [u8; 40], at: usize, v: u64, n: usize| {
            b[at..at + n].copy_from_slice(&v.to_le_bytes()[..n]);
        };
        for (lock, owner) in [(FUTEX_OWNER_DIED, 19187u64), (19187, 19187)] {
            put(&mut b, 0, u64::from(lock), 4);
            put(&mut b, 4, 1, 4);
            put(&mut b, 8, owner, 4);
            put(&mut b, 12, 1, 4);
            put(&mut b, 16, 0x90, 4);
            put(&mut b, 24, 0x7ff7_2fef_c9a0, 8);
            put(&mut b, 32, 0x7ff7_2fef_c9a0, 8);
            assert!(g.plausible_locked(&b, Endian::Little));
            // Words from ordinary data: unaligned or tiny "links".
            put(&mut b, 32, 0x000f_450a_0000_0004, 8);
            assert!(!g.plausible_locked(&b, Endian::Little));
            put(&mut b, 32, 0x98c7e, 8);
            assert!(!g.plausible_locked(&b, Endian::Little));
            put(&mut b, 32, 0x7ff7_2fef_c9a0, 8);
            put(&mut b, 24, 0x1_0000_0006, 8);
            assert!(!g.plausible_locked(&b, Endian::Little));
        }
    }
}
