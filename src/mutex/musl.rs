//! musl `pthread_mutex_t`: `_m_type`@0, `_m_lock`@4, `_m_waiters`@8, `_m_count`@20,
//! `_m_prev`/`_m_next` (LP64 24/32, ILP32 12/16); 40 bytes on LP64, 24 on ILP32.
//! Source: musl `src/internal/pthread_impl.h`, `src/thread/pthread_mutex_*.c`.

use super::{Decoded, Family, Layout, LockState, MutexType, Protocol, WordFilter};
use crate::coredump::{Arch, Bytes, Endian};

const TYPE_ROBUST: u32 = 4;
const TYPE_PI: u32 = 8;
const TYPE_PSHARED: u32 = 128;
const EBUSY: u32 = 16;

#[derive(Debug, Clone)]
pub struct Musl {
    name: String,
    size: usize,
    align: usize,
}

impl Musl {
    pub fn for_arch(arch: Arch) -> Option<Musl> {
        let lp64 = arch.pointer_size() == 8;
        if arch == Arch::Unknown {
            return None;
        }
        Some(Musl {
            name: format!("musl-{}", arch.name()),
            size: if lp64 { 40 } else { 24 },
            align: if lp64 { 8 } else { 4 },
        })
    }
}

impl Layout for Musl {
    fn name(&self) -> &str {
        &self.name
    }
    fn family(&self) -> Family {
        Family::Musl
    }
    fn size(&self) -> usize {
        self.size
    }
    fn align(&self) -> usize {
        self.align
    }
    fn futex_offset(&self) -> u64 {
        4
    }

    fn decode(&self, bytes: &[u8], endian: Endian) -> Decoded {
        let b = Bytes::new(bytes, endian);
        let ty = b.u32(0).unwrap_or(0);
        let lock = b.u32(4).unwrap_or(0);
        let waiters = b.u32(8).unwrap_or(0);
        let count = b.u32(20).unwrap_or(0);
        decode_fields(&self.name, ty, lock, waiters, count)
    }

    /// What `plausible_locked` demands of single words: `_m_type` without bits above
    /// 0x8f, `_m_waiters` <= 1024, `_m_count` <= 1000.
    fn scan_filters(&self) -> Vec<WordFilter> {
        vec![
            WordFilter {
                offset: 0,
                min: 0,
                max: 3 | TYPE_ROBUST | TYPE_PI | TYPE_PSHARED,
            },
            WordFilter {
                offset: 8,
                min: 0,
                max: 1024,
            },
            WordFilter {
                offset: 20,
                min: 0,
                max: 1000,
            },
        ]
    }

    fn plausible_locked(&self, bytes: &[u8], endian: Endian) -> bool {
        let b = Bytes::new(bytes, endian);
        let (Some(ty), Some(lock), Some(waiters), Some(count)) =
            (b.u32(0), b.u32(4), b.u32(8), b.u32(20))
        else {
            return false;
        };
        if ty & !(3 | TYPE_ROBUST | TYPE_PI | TYPE_PSHARED) != 0 || ty & 3 == 3 {
            return false;
        }
        if waiters > 1024 || count > 1000 {
            return false;
        }
        if ty & 15 == 0 {
            // Plain normal mutexes record no owner: only EBUSY (+waiters bit) is
            // specific enough to accept.
            lock & 0x7fff_ffff == EBUSY && count == 0
        } else {
            let tid = lock & 0x3fff_ffff;
            // Every successful owner-tracked lock links the mutex into the owner's
            // robust list (pthread_mutex_trylock.c): `_m_prev` and `_m_next` are
            // then non-null, pointer-aligned addresses.
            let ptr = if self.size == 40 { 8 } else { 4 };
            let linked = |off: usize| {
                b.word(off, ptr)
                    .is_some_and(|p| p != 0 && p.is_multiple_of(ptr as u64))
            };
            tid != 0
                && tid < super::glibc::PID_MAX_LIMIT
                && lock & 0x4000_0000 == 0
                && linked(3 * ptr)
                && linked(4 * ptr)
        }
    }
}

pub fn decode_fields(layout: &str, ty: u32, lock: u32, waiters: u32, count: u32) -> Decoded {
    let mut anomalies = Vec::new();
    let mtype = match ty & 3 {
        0 => MutexType::Normal,
        1 => MutexType::Recursive,
        2 => MutexType::Errorcheck,
        _ => MutexType::Unknown,
    };
    if ty & !(3 | TYPE_ROBUST | TYPE_PI | TYPE_PSHARED) != 0 || ty & 3 == 3 {
        anomalies.push(format!("_m_type = {ty:#x} has bits musl never sets"));
    }
    let tracked = ty & 15 != 0;
    let mut d = Decoded {
        layout: layout.to_string(),
        family: Family::Musl,
        mtype,
        pshared: ty & TYPE_PSHARED != 0,
        robust: ty & TYPE_ROBUST != 0,
        protocol: if ty & TYPE_PI != 0 {
            Protocol::Inherit
        } else {
            Protocol::None
        },
        ceiling: None,
        state: LockState::Unlocked,
        owner_tid: None,
        owner_pointer: None,
        owner_pid: None,
        count: if lock != 0 {
            count.saturating_add(1)
        } else {
            0
        },
        nusers: None,
        waiters_flag: lock & 0x8000_0000 != 0 || waiters != 0,
        futex_offset: 4,
        fields: vec![
            ("_m_type", u64::from(ty)),
            ("_m_lock", u64::from(lock)),
            ("_m_waiters", u64::from(waiters)),
            ("_m_count", u64::from(count)),
        ],
        anomalies: Vec::new(),
    };
    if lock == 0 {
        d.state = LockState::Unlocked;
    } else if !tracked {
        // Plain normal: EBUSY when held, bit 31 when a waiter announced itself.
        if lock & 0x7fff_ffff != EBUSY {
            anomalies.push(format!(
                "_m_lock = {lock:#x}: a plain musl mutex holds 0 or EBUSY (16), plus bit 31 for waiters"
            ));
        }
        d.state = if d.waiters_flag {
            LockState::Contended
        } else {
            LockState::Locked
        };
    } else if lock == 0x7fff_ffff {
        d.state = LockState::NotRecoverable;
    } else {
        let tid = lock & 0x3fff_ffff;
        if lock & 0x4000_0000 != 0 && tid == 0 {
            d.state = LockState::OwnerDied;
        } else if lock & 0x4000_0000 != 0 {
            d.state = LockState::Inconsistent;
            d.owner_tid = Some(tid);
        } else {
            d.state = if d.waiters_flag {
                LockState::Contended
            } else {
                LockState::Locked
            };
            d.owner_tid = Some(tid);
        }
    }
    if waiters > 0x10000 && waiters != u32::MAX {
        anomalies.push(format!(
            "_m_waiters = {waiters:#x}: implausible waiter count"
        ));
    }
    d.anomalies = anomalies;
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn musl_states() {
        let d = decode_fields("musl-x86_64", 0, EBUSY, 0, 0);
        assert_eq!((d.state, d.owner_tid), (LockState::Locked, None));
        let d = decode_fields("musl-x86_64", 0, EBUSY | 0x8000_0000, 1, 0);
        assert_eq!(d.state, LockState::Contended);
        let d = decode_fields("musl-x86_64", 2, 1234, 0, 0);
        assert_eq!(
            (d.mtype, d.state, d.owner_tid),
            (MutexType::Errorcheck, LockState::Locked, Some(1234))
        );
        let d = decode_fields("musl-x86_64", 1 | 128, 1234 | 0x8000_0000, 1, 2);
        assert_eq!(
            (d.pshared, d.state, d.count),
            (true, LockState::Contended, 3)
        );
        let d = decode_fields("musl-x86_64", 4, 0x4000_0000, 0, 0);
        assert_eq!(d.state, LockState::OwnerDied);
    }

    /// A held owner-tracked mutex is linked into its owner's robust list; the same
    /// words with null links are not a mutex (they were malloc metadata and stack
    /// data in the musl fixture cores).
    #[test]
    fn plausible_needs_robust_list_links() {
        let l = Musl::for_arch(Arch::X86_64).unwrap();
        let mut b = [0u8; 40];
        b[0..4].copy_from_slice(&2u32.to_le_bytes());
        b[4..8].copy_from_slice(&0x8000_5156u32.to_le_bytes());
        b[8..12].copy_from_slice(&1u32.to_le_bytes());
        assert!(!l.plausible_locked(&b, Endian::Little));
        b[24..32].copy_from_slice(&0x7ff1_ae97_1fc0u64.to_le_bytes());
        b[32..40].copy_from_slice(&0x7ff1_ae97_1fc0u64.to_le_bytes());
        assert!(l.plausible_locked(&b, Endian::Little));
        b[32..40].copy_from_slice(&0x7ff1_ae97_1fc3u64.to_le_bytes());
        assert!(!l.plausible_locked(&b, Endian::Little));
        let i = Musl::for_arch(Arch::I386).unwrap();
        let mut b = [0u8; 24];
        b[0..4].copy_from_slice(&1u32.to_le_bytes());
        b[4..8].copy_from_slice(&1234u32.to_le_bytes());
        assert!(!i.plausible_locked(&b, Endian::Little));
        b[12..16].copy_from_slice(&0xf7f0_1f00u32.to_le_bytes());
        b[16..20].copy_from_slice(&0xf7f0_1f00u32.to_le_bytes());
        assert!(i.plausible_locked(&b, Endian::Little));
    }
}
