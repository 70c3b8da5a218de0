//! Finding mutexes: every candidate address remembers how it was found.
//!
//! - `futex-wait`: the futex word a blocked thread sleeps on, when the wait has the
//!   shape of a mutex wait (see [`mutex_wait`]);
//! - `symbol`: global/static variables whose debug type is or contains a mutex;
//! - `pointer`: mutexes inside the object a typed global pointer points to;
//! - `scan`: memory scanned for plausible *locked* mutexes ([`Layout::plausible_locked`]);
//! - `magic`: layouts with a magic number, found by scanning for it.

use std::collections::HashMap;

use serde::Serialize;

use super::Layout;
use crate::coredump::{Endian, FutexCall};
use crate::mappings::{Mapping, MappingKind};
use crate::memory::AddressSpace;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FoundBy {
    FutexWait,
    Symbol,
    Pointer,
    Scan,
    Magic,
    Assertion,
}

impl FoundBy {
    pub fn as_str(self) -> &'static str {
        match self {
            FoundBy::FutexWait => "futex-wait",
            FoundBy::Symbol => "symbol",
            FoundBy::Pointer => "pointer",
            FoundBy::Scan => "scan",
            FoundBy::Magic => "magic",
            FoundBy::Assertion => "assertion",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Candidate {
    pub address: u64,
    pub found_by: Vec<FoundBy>,
    /// Variable name path (`config_lock`, `region->slots[2].mu`).
    pub symbol: Option<String>,
    /// The debug type says this is a mutex (symbol/pointer discovery).
    pub typed: bool,
    /// Index of a non-default layout (declared / magic layouts) to decode it with.
    pub layout: Option<usize>,
}

/// Candidates keyed by address, in discovery order.
#[derive(Default, Debug)]
pub struct Candidates {
    list: Vec<Candidate>,
    index: HashMap<u64, usize>,
}

impl Candidates {
    pub fn add(&mut self, address: u64, by: FoundBy, symbol: Option<String>, typed: bool) {
        match self.index.get(&address) {
            Some(&i) => {
                let c = &mut self.list[i];
                let first_symbol = by == FoundBy::Symbol && !c.found_by.contains(&by);
                if !c.found_by.contains(&by) {
                    c.found_by.push(by);
                    c.found_by.sort();
                }
                // A variable's own name beats a path through a pointer.
                if c.symbol.is_none() || (first_symbol && symbol.is_some()) {
                    c.symbol = symbol.or(c.symbol.take());
                }
                c.typed |= typed;
            }
            None => {
                self.index.insert(address, self.list.len());
                self.list.push(Candidate {
                    address,
                    found_by: vec![by],
                    symbol,
                    typed,
                    layout: None,
                });
            }
        }
    }

    /// Give a name to every candidate that has none (from ELF symbols).
    pub fn name_unnamed(&mut self, mut name: impl FnMut(u64) -> Option<String>) {
        for c in &mut self.list {
            if c.symbol.is_none() {
                c.symbol = name(c.address);
            }
        }
    }

    pub fn set_layout(&mut self, address: u64, layout: usize) {
        if let Some(&i) = self.index.get(&address) {
            self.list[i].layout = Some(layout);
        }
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn into_vec(self) -> Vec<Candidate> {
        self.list
    }

    pub fn iter(&self) -> impl Iterator<Item = &Candidate> {
        self.list.iter()
    }
}

/// Does this futex call look like a thread blocking on a mutex of `layout`? Returns
/// the mutex address. glibc: `FUTEX_WAIT` with value 2 (`__lll_lock_wait`), a robust
/// wait (`TID | FUTEX_WAITERS`), or `FUTEX_LOCK_PI`. musl: `FUTEX_WAIT` on
/// `_m_lock` with the waiters bit set. Condition variables, semaphores and joins
/// wait with `FUTEX_WAIT_BITSET` and are not taken for mutexes.
pub fn mutex_wait(f: &FutexCall, layout: &dyn Layout) -> Option<u64> {
    if !f.waits {
        return None;
    }
    let cmd = f.op_raw & 0x7f;
    let v = f.value as u32;
    let mutexy = match cmd {
        // FUTEX_LOCK_PI, FUTEX_LOCK_PI2
        6 | 13 => true,
        0 => {
            if layout.name().starts_with("musl") {
                v & 0x8000_0000 != 0 && v != 0xffff_ffff
            } else {
                v == 2 || (v & 0x8000_0000 != 0 && v & 0x3fff_ffff != 0 && v != 0xffff_ffff)
            }
        }
        _ => false,
    };
    if !mutexy {
        return None;
    }
    f.address.checked_sub(layout.futex_offset())
}

/// Scan one range of dumped bytes for plausible locked mutexes.
pub fn scan_range(
    layout: &dyn Layout,
    base: u64,
    bytes: &[u8],
    endian: Endian,
    out: &mut Vec<u64>,
    limit: usize,
) {
    let align = layout.align().max(1);
    let size = layout.size();
    if bytes.len() < size {
        return;
    }
    // Start at the first aligned address.
    let skew = (align - (base % align as u64) as usize) % align;
    let mut off = skew;
    let last = bytes.len() - size;
    let lw = layout.futex_offset() as usize;
    while off <= last {
        // Fast reject: a locked mutex never has a zero lock word.
        let w = &bytes[off + lw..off + lw + 4];
        if w != [0, 0, 0, 0] && layout.plausible_locked(&bytes[off..off + size], endian) {
            out.push(base + off as u64);
            if out.len() >= limit {
                return;
            }
        }
        off += align;
    }
}

/// Which mappings a scan covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanScope {
    /// No scan.
    None,
    /// Shared mappings (SysV/POSIX shm, memfd, anonymous shared, shared files).
    Shared,
    /// Every writable mapping.
    All,
}

/// At most this many scan hits are kept (a flood of hits means the data is not what
/// the layout thinks; the report says so).
pub const SCAN_LIMIT: usize = 100_000;

/// Scan the dumped memory of the chosen mappings.
pub fn scan(
    layout: &dyn Layout,
    space: &AddressSpace<'_>,
    maps: &[Mapping],
    scope: ScanScope,
) -> Vec<u64> {
    let mut out = Vec::new();
    if scope == ScanScope::None {
        return out;
    }
    for m in maps {
        let wanted = match scope {
            ScanScope::Shared => m.shared,
            ScanScope::All => m.perms.contains('w') || m.shared,
            ScanScope::None => false,
        };
        if !wanted
            || matches!(
                m.kind,
                MappingKind::Vdso | MappingKind::Vvar | MappingKind::Vsyscall
            )
        {
            continue;
        }
        let Some(seg) = space.segment(m.start) else {
            continue;
        };
        // Only the dumped bytes of this mapping.
        let off = m.start - seg.vaddr;
        let avail = seg
            .available
            .min(seg.memsz)
            .saturating_sub(off)
            .min(m.size());
        if avail == 0 {
            continue;
        }
        let Ok(bytes) = space.slice(m.start, avail as usize) else {
            continue;
        };
        scan_range(layout, m.start, bytes, space.endian(), &mut out, SCAN_LIMIT);
        if out.len() >= SCAN_LIMIT {
            break;
        }
    }
    out
}
