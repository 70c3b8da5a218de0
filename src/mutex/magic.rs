//! Discovery by magic number: scan every dumped byte of the address space for a
//! layout's magic at the layout's alignment, then validate each hit by the lock's
//! other fields ([`Layout::plausible`]). A hit that is part of a larger object (the
//! `mutex_t` inside a Solaris `rwlock_t`) is kept and labelled.
//!
//! The search itself is `memchr::memmem` (SIMD) over each dumped range; only the
//! rare positions where the magic's bytes occur are looked at further. Throughput
//! is measured by `benches/magic_scan.rs` (`docs/performance.md`, "Magic scan").

use memchr::memmem;
use serde::Serialize;

use super::{Decoded, Embedding, Layout, Magic};
use crate::coredump::Endian;
use crate::memory::AddressSpace;

/// At most this many validated hits are kept (memory full of magic numbers is
/// corrupt or hostile; the count of the rest is still reported).
pub const MAX_HITS: usize = 1 << 20;

/// A lock found by its magic number.
#[derive(Clone, Debug, Serialize)]
pub struct MagicHit {
    pub address: u64,
    pub layout: String,
    /// Always `"magic"`.
    pub found_by: &'static str,
    pub decoded: Decoded,
    /// The object the lock is part of, if any (e.g. a Solaris rwlock).
    pub embedded_in: Option<Embedding>,
}

/// Counts of what the scan saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ScanStats {
    /// Dumped bytes searched.
    pub bytes_scanned: u64,
    /// Occurrences of the magic's bytes at any alignment.
    pub raw_hits: u64,
    /// Occurrences at the layout's alignment.
    pub aligned_hits: u64,
    /// Aligned occurrences whose other fields are not what the layout writes.
    pub rejected: u64,
    /// Aligned occurrences whose bytes could not be read whole (segment end).
    pub unreadable: u64,
    /// Validated hits beyond [`MAX_HITS`], counted but not kept.
    pub dropped: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct MagicScan {
    pub hits: Vec<MagicHit>,
    pub stats: ScanStats,
}

/// Addresses of every aligned occurrence of `magic` in the dumped memory: the
/// address is that of the lock (the magic's address minus its offset), a multiple
/// of `align`. `f` is called for each, in address order within each segment.
pub fn for_each_aligned(
    space: &AddressSpace<'_>,
    magic: Magic,
    align: usize,
    stats: &mut ScanStats,
    mut f: impl FnMut(u64, &[u8], usize),
) {
    let needle = magic.bytes(space.endian());
    if needle.is_empty() {
        return;
    }
    let finder = memmem::Finder::new(&needle);
    let align = align.max(1) as u64;
    let off = magic.offset as u64;
    // Enough context on each side for the caller's look at the object around a hit.
    let margin = needle.len().max(magic.offset + 256);
    space.for_each_dumped(margin, |base, data, from, to| {
        stats.bytes_scanned += (to - from) as u64;
        // Occurrences that start in [from, to).
        let end = to.saturating_add(needle.len() - 1).min(data.len());
        let Some(hay) = data.get(from..end) else {
            return;
        };
        for q in finder.find_iter(hay) {
            let p = from + q;
            stats.raw_hits += 1;
            let Some(lock) = base.checked_add(p as u64).and_then(|a| a.checked_sub(off)) else {
                continue;
            };
            if !lock.is_multiple_of(align) {
                continue;
            }
            stats.aligned_hits += 1;
            f(lock, data, p);
        }
    });
}

/// Count the aligned occurrences of a layout's magic, without validating them (the
/// raw speed of the search; used by the benchmark).
pub fn count_aligned(space: &AddressSpace<'_>, magic: Magic, align: usize) -> ScanStats {
    let mut stats = ScanStats::default();
    for_each_aligned(space, magic, align, &mut stats, |_, _, _| {});
    stats
}

/// Scan all dumped memory for `layout`'s magic and validate each hit. Layouts
/// without a magic number find nothing.
pub fn scan(space: &AddressSpace<'_>, layout: &dyn Layout) -> MagicScan {
    scan_with_endian(space, layout, space.endian())
}

/// As [`scan`], decoding with an explicit byte order (a declared layout may fix one).
pub fn scan_with_endian(
    space: &AddressSpace<'_>,
    layout: &dyn Layout,
    endian: Endian,
) -> MagicScan {
    let Some(mut st) = Search::new(space, layout, endian) else {
        return MagicScan::default();
    };
    space.for_each_dumped(st.margin(), |base, data, from, to| {
        st.feed(base, data, from, to)
    });
    st.finish()
}

/// A magic-number search fed range by range, or chunk by chunk of a range, so that
/// it can share one pass over memory with other scans (`discover::one_pass`);
/// [`Search::finish`] validates what could not be validated in place and gives the
/// same result as [`scan_with_endian`] over the same ranges.
pub struct Search<'s, 'd, 'l> {
    space: &'s AddressSpace<'d>,
    layout: &'l dyn Layout,
    endian: Endian,
    magic: Magic,
    finder: memmem::Finder<'static>,
    tally: Tally,
    /// Positions found in the current piece by the aligned search (kept to reuse
    /// its allocation).
    found: Vec<usize>,
    /// Look only at aligned occurrences ([`Search::aligned_only`]).
    aligned: Option<Aligned>,
}

/// The aligned-only search: occurrences of an `n`-byte needle (2 or 4 bytes) at
/// addresses `off` modulo `align`, which are multiples of `n`, so that one SIMD
/// compare of `n`-byte lanes finds them; `phase` is the bit mask of the lane starts
/// to keep in a 64-byte window whose address is a multiple of `align`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Aligned {
    /// The needle's bytes, repeated to fill 4 bytes (as read in native order).
    pub needle: u32,
    /// The needle's length: 2 or 4.
    pub n: usize,
    /// The layout's alignment: a power of two, at most 64, a multiple of `n`.
    pub align: u64,
    /// The needle's offset in the lock, modulo `align`: a multiple of `n`.
    pub off: u64,
    phase: u64,
}

impl<'s, 'd, 'l> Search<'s, 'd, 'l> {
    /// `None` when the layout has no magic number.
    pub fn new(
        space: &'s AddressSpace<'d>,
        layout: &'l dyn Layout,
        endian: Endian,
    ) -> Option<Search<'s, 'd, 'l>> {
        let magic = layout.magic()?;
        let needle = magic.bytes(space.endian());
        if needle.is_empty() {
            return None;
        }
        Some(Search {
            space,
            layout,
            endian,
            magic,
            finder: memmem::Finder::new(&needle).into_owned(),
            tally: Tally::default(),
            found: Vec::new(),
            aligned: None,
        })
    }

    /// Bytes of context on each side of the part of memory a [`Search::feed`] call
    /// covers that let every hit in it be checked in place: the magic, and the lock
    /// around it.
    pub fn margin(&self) -> usize {
        self.finder.needle().len() + self.magic.offset + self.layout.size()
    }

    /// Look only for the occurrences of the magic at the layout's alignment (the
    /// only ones that can be a lock), with one SIMD compare per lane instead of a
    /// search at every byte, when the magic is 2 or 4 bytes long and its
    /// occurrences fall on multiples of its size (a Solaris mutex: 2 bytes at
    /// offset 6 of an 8-aligned lock). The hits are the same; `stats.raw_hits`
    /// then counts only aligned occurrences (as `aligned_hits` does). Used by
    /// `discover::one_pass`, which sees every scanned byte once per layout.
    pub fn aligned_only(mut self) -> Self {
        self.aligned = Aligned::new(
            self.finder.needle(),
            self.layout.align().max(1),
            self.magic.offset,
        );
        self
    }

    /// Search the occurrences that start in `data[from..to]` (`data` is a whole
    /// range at `vaddr`; an occurrence may run past `to`).
    pub fn feed(&mut self, vaddr: u64, data: &[u8], from: usize, to: usize) {
        let n = self.finder.needle().len();
        let end = to.saturating_add(n - 1).min(data.len());
        let Some(hay) = data.get(from..end) else {
            return;
        };
        self.tally.stats.bytes_scanned += (to - from) as u64;
        if let Some(a) = self.aligned {
            let mut found = std::mem::take(&mut self.found);
            found.clear();
            aligned_positions(a, vaddr.wrapping_add(from as u64), hay, &mut found);
            for &q in &found {
                self.tally
                    .occurrence(self.layout, self.magic, self.endian, vaddr, data, from + q);
            }
            self.found = found;
            return;
        }
        let (layout, magic, endian) = (self.layout, self.magic, self.endian);
        for q in self.finder.find_iter(hay) {
            self.tally
                .occurrence(layout, magic, endian, vaddr, data, from + q);
        }
    }

    /// The aligned form of this search ([`Search::aligned_only`]), when it has
    /// one: what a scan reading the same bytes can look for in passing
    /// (`discover::one_pass`), handing the positions to [`Search::feed_found`].
    pub(crate) fn lanes(&self) -> Option<Aligned> {
        self.aligned
    }

    /// As [`Search::feed`] of `data[from..to]`, the occurrences having been found
    /// by the caller: `found` holds every `p` in `from..to` where the magic occurs
    /// whole in `data` at an address `lanes().off` modulo `lanes().align`.
    pub(crate) fn feed_found(
        &mut self,
        vaddr: u64,
        data: &[u8],
        from: usize,
        to: usize,
        found: &[usize],
    ) {
        self.tally.stats.bytes_scanned += to.saturating_sub(from) as u64;
        for &p in found {
            self.tally
                .occurrence(self.layout, self.magic, self.endian, vaddr, data, p);
        }
    }

    /// Take in what `other` found in memory after all this search was fed (the
    /// second half of a window scanned on another thread): its counts added, its
    /// hits after these (those past [`MAX_HITS`] counted as dropped, as one search
    /// fed both halves in order would), its cut hits to validate at the end.
    pub(crate) fn absorb(&mut self, other: Search<'_, '_, '_>) {
        let Tally {
            stats,
            pending,
            hits,
        } = other.tally;
        let t = &mut self.tally;
        t.stats.bytes_scanned += stats.bytes_scanned;
        t.stats.raw_hits += stats.raw_hits;
        t.stats.aligned_hits += stats.aligned_hits;
        t.stats.rejected += stats.rejected;
        t.stats.unreadable += stats.unreadable;
        t.stats.dropped += stats.dropped;
        t.pending.extend(pending);
        for h in hits {
            if t.hits.len() >= MAX_HITS {
                t.stats.dropped += 1;
            } else {
                t.hits.push(h);
            }
        }
    }

    /// Validate the hits cut by a range's edge, label embedded locks, sort.
    pub fn finish(self) -> MagicScan {
        let Search {
            space,
            layout,
            endian,
            tally:
                Tally {
                    mut stats,
                    pending,
                    mut hits,
                },
            ..
        } = self;
        let size = layout.size();
        for lock in pending {
            match space.read(lock, size) {
                Ok(b) if layout.plausible(&b, endian) => {
                    if hits.len() >= MAX_HITS {
                        stats.dropped += 1;
                    } else {
                        hits.push(hit(layout, lock, &b, endian));
                    }
                }
                Ok(_) => stats.rejected += 1,
                Err(_) => stats.unreadable += 1,
            }
        }
        for h in &mut hits {
            h.embedded_in = layout.embedded_in(space, h.address);
        }
        hits.sort_by_key(|h| h.address);
        MagicScan { hits, stats }
    }
}

impl Aligned {
    /// The aligned form of a search for `needle` at addresses `off` modulo
    /// `align`, when there is one (see [`Search::aligned_only`]).
    pub(crate) fn new(needle: &[u8], align: usize, off: usize) -> Option<Aligned> {
        let n = needle.len();
        if !((n == 2 || n == 4)
            && align.is_power_of_two()
            && align <= 64
            && align.is_multiple_of(n)
            && off.is_multiple_of(n))
        {
            return None;
        }
        let mut word = [0u8; 4];
        for (i, b) in word.iter_mut().enumerate() {
            *b = needle[i % n];
        }
        let mut phase = 0u64;
        for b in 0..64 {
            if b % align == off % align {
                phase |= 1 << b;
            }
        }
        Some(Aligned {
            needle: u32::from_ne_bytes(word),
            n,
            align: align as u64,
            off: (off % align) as u64,
            phase,
        })
    }
}

/// Positions `q` in `hay` (which starts at address `addr`) where `a.needle`'s `n`
/// bytes occur whole, at an address `off` modulo `align`, in increasing order.
fn aligned_positions(a: Aligned, addr: u64, hay: &[u8], out: &mut Vec<usize>) {
    // Windows of 64 bytes at addresses that are multiples of `align` (so `phase`
    // holds in each); the edges before the first and after the last are looked at
    // lane by lane.
    let align = a.align;
    let head = ((align - addr % align) % align) as usize;
    let lane = |q: usize| -> bool {
        hay.get(q..q + a.n)
            .is_some_and(|b| b == &a.needle.to_ne_bytes()[..a.n])
    };
    let wanted = |q: usize| (a.phase >> ((addr.wrapping_add(q as u64)) % align)) & 1 == 1;
    for q in 0..head.min(hay.len()) {
        if wanted(q) && lane(q) {
            out.push(q);
        }
    }
    let Some(body) = hay.get(head..) else {
        return;
    };
    let mut windows = body.chunks_exact(64);
    let mut q0 = head;
    for w in &mut windows {
        let mut m = window_mask(a, w) & a.phase;
        while m != 0 {
            out.push(q0 + m.trailing_zeros() as usize);
            m &= m - 1;
        }
        q0 += 64;
    }
    for q in q0..hay.len() {
        if wanted(q) && lane(q) {
            out.push(q);
        }
    }
}

/// One bit per byte of a 64-byte window: set at the first byte of each `n`-byte
/// lane equal to the needle (and possibly at the lane's other bytes).
#[inline(always)]
fn window_mask(a: Aligned, w: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi16, _mm_cmpeq_epi32, _mm_loadu_si128, _mm_movemask_epi8,
            _mm_set1_epi32,
        };
        // SAFETY: SSE2 is part of every x86_64; each load reads 16 bytes of the
        // 64-byte window (`chunks_exact(16)`), unaligned loads are allowed.
        unsafe {
            let needle = _mm_set1_epi32(a.needle as i32);
            let eq = |v: __m128i| {
                if a.n == 2 {
                    _mm_cmpeq_epi16(v, needle)
                } else {
                    _mm_cmpeq_epi32(v, needle)
                }
            };
            let mut m = 0u64;
            for (j, c) in w.chunks_exact(16).enumerate() {
                let v = _mm_loadu_si128(c.as_ptr().cast());
                m |= u64::from(_mm_movemask_epi8(eq(v)) as u16) << (16 * j);
            }
            m
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let needle = &a.needle.to_ne_bytes()[..a.n];
        let mut m = 0u64;
        for (j, c) in w.chunks_exact(a.n).enumerate() {
            if c == needle {
                m |= 1 << (j * a.n);
            }
        }
        m
    }
}

/// What a [`Search`] has found so far.
#[derive(Default)]
struct Tally {
    stats: ScanStats,
    pending: Vec<u64>,
    hits: Vec<MagicHit>,
}

impl Tally {
    /// The magic's bytes occur at `data[p..]`: if at the layout's alignment,
    /// validate the lock around them (or keep it for [`Search::finish`] when it is
    /// cut by the range's edge).
    #[inline]
    fn occurrence(
        &mut self,
        layout: &dyn Layout,
        magic: Magic,
        endian: Endian,
        vaddr: u64,
        data: &[u8],
        p: usize,
    ) {
        let align = layout.align().max(1) as u64;
        let off = magic.offset;
        let size = layout.size();
        self.stats.raw_hits += 1;
        let Some(lock) = vaddr
            .checked_add(p as u64)
            .and_then(|a| a.checked_sub(off as u64))
        else {
            return;
        };
        if !lock.is_multiple_of(align) {
            return;
        }
        self.stats.aligned_hits += 1;
        // Within the same range when possible (zero-copy); else across segments.
        let in_range = p
            .checked_sub(off)
            .and_then(|s| data.get(s..s.checked_add(size)?));
        match in_range {
            Some(b) => {
                if !layout.plausible(b, endian) {
                    self.stats.rejected += 1;
                } else if self.hits.len() >= MAX_HITS {
                    self.stats.dropped += 1;
                } else {
                    self.hits.push(hit(layout, lock, b, endian));
                }
            }
            None => self.pending.push(lock),
        }
    }
}

fn hit(layout: &dyn Layout, address: u64, bytes: &[u8], endian: Endian) -> MagicHit {
    MagicHit {
        address,
        layout: layout.name().to_string(),
        found_by: "magic",
        decoded: layout.decode(bytes, endian),
        embedded_in: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coredump::Core;
    use crate::mutex::solaris::{Isa, SolarisMutex};

    /// A minimal little-endian ELF64 core with one PT_LOAD holding `mem` at `vaddr`.
    fn core_bytes(vaddr: u64, mem: &[u8], big: bool) -> Vec<u8> {
        let w16 = |v: u16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let w32 = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let w64 = |v: u64| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut f = vec![0u8; 64];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = if big { 2 } else { 1 };
        f[6] = 1;
        f[16..18].copy_from_slice(&w16(4));
        f[18..20].copy_from_slice(&w16(if big { 43 } else { 62 }));
        f[32..40].copy_from_slice(&w64(64));
        f[52..54].copy_from_slice(&w16(64));
        f[54..56].copy_from_slice(&w16(56));
        f[56..58].copy_from_slice(&w16(1));
        let mut ph = vec![0u8; 56];
        ph[0..4].copy_from_slice(&w32(1));
        ph[4..8].copy_from_slice(&w32(6));
        ph[8..16].copy_from_slice(&w64(128));
        ph[16..24].copy_from_slice(&w64(vaddr));
        ph[32..40].copy_from_slice(&w64(mem.len() as u64));
        ph[40..48].copy_from_slice(&w64(mem.len() as u64));
        f.extend_from_slice(&ph);
        f.resize(128, 0);
        f.extend_from_slice(mem);
        f
    }

    fn put_mutex(mem: &mut [u8], at: usize, isa: Isa, owner: u64) {
        let be = isa.sparc();
        mem[at + 6..at + 8].copy_from_slice(&if be {
            0x4d58u16.to_be_bytes()
        } else {
            0x4d58u16.to_le_bytes()
        });
        mem[at + isa.lock_byte()] = isa.lockset();
        mem[at + 16..at + 24].copy_from_slice(&if be {
            owner.to_be_bytes()
        } else {
            owner.to_le_bytes()
        });
    }

    #[test]
    fn finds_aligned_validated_hits_and_labels_rwlocks() {
        for isa in [Isa::Amd64, Isa::Sparcv9] {
            let be = isa.sparc();
            let mut mem = vec![0u8; 0x2000];
            put_mutex(&mut mem, 0x100, isa, 0x7fff_0000_1000);
            // Misaligned magic: ignored.
            mem[0x203] = if be { 0x4d } else { 0x58 };
            mem[0x204] = if be { 0x58 } else { 0x4d };
            // Aligned magic with an impossible lock byte: rejected.
            put_mutex(&mut mem, 0x300, isa, 0x7fff_0000_2000);
            mem[0x300 + isa.lock_byte()] = 0x42;
            // An rwlock at 0x400: "RW" at +6, its mutex at +8.
            mem[0x406..0x408].copy_from_slice(&if be {
                0x5257u16.to_be_bytes()
            } else {
                0x5257u16.to_le_bytes()
            });
            mem[0x408 + 6..0x408 + 8].copy_from_slice(&if be {
                0x4d58u16.to_be_bytes()
            } else {
                0x4d58u16.to_le_bytes()
            });
            // A mutex that ends exactly where the segment ends: found.
            put_mutex(&mut mem[..], 0x1ff0 - 8, isa, 0);
            let data = core_bytes(0x10_0000, &mem, be);
            let core = Core::parse(&data).unwrap();
            let space = AddressSpace::new(&core);
            let l = SolarisMutex::new(isa);
            let r = scan(&space, &l);
            let addrs: Vec<u64> = r.hits.iter().map(|h| h.address).collect();
            assert_eq!(addrs, vec![0x10_0100, 0x10_0408, 0x10_1fe8], "{isa:?}");
            assert_eq!(r.hits[0].decoded.owner_pointer, Some(0x7fff_0000_1000));
            assert_eq!(r.hits[0].found_by, "magic");
            assert!(r.hits[0].embedded_in.is_none());
            let e = r.hits[1].embedded_in.as_ref().unwrap();
            assert_eq!((e.container, e.address), ("rwlock", 0x10_0400));
            assert_eq!(r.stats.rejected, 1);
            assert_eq!(r.stats.raw_hits, 5);
            assert_eq!(r.stats.aligned_hits, 4);
            assert_eq!(r.stats.bytes_scanned, 0x2000);
        }
    }

    /// The aligned-only search, fed chunk by chunk (chunk edges at every phase),
    /// finds the hits of the plain search, with the same counts but `raw_hits`.
    #[test]
    fn aligned_only_search_equals_the_plain_search() {
        for isa in [Isa::Amd64, Isa::Sparcv9, Isa::I386] {
            let be = isa.sparc();
            let mut mem = vec![0u8; 0x3000];
            // Noise full of the magic's bytes at every alignment.
            let mut seed = 0x1234_5678_9abc_def1u64;
            for b in mem.iter_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *b = [0x4d, 0x58, 0, 1, 0x4d, 0x58, 0x58, 0x4d][(seed % 8) as usize];
            }
            for at in [0x0, 0x100, 0x208, 0x7f8, 0x1000, 0x2fe8] {
                mem[at..at + 24].fill(0);
                put_mutex(&mut mem, at, isa, 0x7fff_0000_1000 + at as u64);
            }
            let data = core_bytes(0x10_0000, &mem, be);
            let core = Core::parse(&data).unwrap();
            let space = AddressSpace::new(&core);
            let l = SolarisMutex::new(isa);
            let plain = scan(&space, &l);
            assert!(plain.stats.aligned_hits >= 6, "{isa:?}");
            // (The planted locks need not pass the i386 plausibility test: the
            // rejections are compared then.)
            assert!(isa == Isa::I386 || plain.hits.len() >= 6, "{isa:?}");
            for chunk in [1usize, 2, 3, 7, 64, 100, 0x1000, 0x3000] {
                let mut st = Search::new(&space, &l, space.endian())
                    .unwrap()
                    .aligned_only();
                assert!(st.lanes().is_some(), "{isa:?}");
                let parts: Vec<(u64, u64)> = space.dumped_parts().collect();
                for (vaddr, len) in parts {
                    space
                        .for_each_window(vaddr, len, 0, |vaddr, d, _, _| {
                            let mut from = 0;
                            while from < d.len() {
                                let to = (from + chunk).min(d.len());
                                st.feed(vaddr, d, from, to);
                                from = to;
                            }
                        })
                        .unwrap();
                }
                let r = st.finish();
                let a: Vec<_> = r
                    .hits
                    .iter()
                    .map(|h| (h.address, h.embedded_in.clone()))
                    .collect();
                let b: Vec<_> = plain
                    .hits
                    .iter()
                    .map(|h| (h.address, h.embedded_in.clone()))
                    .collect();
                assert_eq!(a, b, "{isa:?} chunk {chunk}");
                let mut want = plain.stats.clone();
                want.raw_hits = want.aligned_hits;
                assert_eq!(r.stats, want, "{isa:?} chunk {chunk}");
            }
        }
    }

    #[test]
    fn lock_cut_by_segment_end_is_unreadable() {
        let isa = Isa::Amd64;
        let mut mem = vec![0u8; 0x1000];
        // Magic at 0xffe: the lock starts at 0xff8 and would need 24 bytes.
        mem[0xffe] = 0x58;
        mem[0xfff] = 0x4d;
        let data = core_bytes(0x40_0000, &mem, false);
        let core = Core::parse(&data).unwrap();
        let space = AddressSpace::new(&core);
        let r = scan(&space, &SolarisMutex::new(isa));
        assert!(r.hits.is_empty());
        assert_eq!(r.stats.unreadable, 1);
    }

    /// Read through windows of any size, the search finds, rejects and counts what
    /// it does on the mapped core: hits cut by a window's edge are whole in the
    /// window's margins.
    #[test]
    fn windowed_reads_find_the_same_hits_at_every_window_size() {
        use crate::coredump::{Data, Windowed};
        use std::io::Write;
        for isa in [Isa::Amd64, Isa::Sparcv9] {
            let be = isa.sparc();
            let mut mem = vec![0u8; 0x3000];
            for (i, at) in [0x100, 0x7f0, 0x810, 0xff8, 0x1018, 0x1fe8, 0x2fe8]
                .into_iter()
                .enumerate()
            {
                put_mutex(&mut mem, at, isa, 0x7fff_0000_1000 + i as u64 * 0x100);
            }
            let data = core_bytes(0x10_0000, &mem, be);
            let core = Core::parse(&data).unwrap();
            let l = SolarisMutex::new(isa);
            let want = scan(&AddressSpace::new(&core), &l);
            assert_eq!(want.hits.len(), 7, "{isa:?}");
            let mut f = tempfile::tempfile().unwrap();
            f.write_all(&data).unwrap();
            for window in [1, 7, 8, 24, 0x7f9, 0x800, 0x801, 0x1000, 0x10_0000] {
                let w = Windowed::new(f.try_clone().unwrap(), data.len() as u64)
                    .unwrap()
                    .with_window(window);
                let core = Core::parse_data(Data::Windowed(&w)).unwrap();
                let got = scan(&AddressSpace::new(&core), &l);
                let addrs = |r: &MagicScan| r.hits.iter().map(|h| h.address).collect::<Vec<_>>();
                assert_eq!(addrs(&got), addrs(&want), "{isa:?} window {window}");
                assert_eq!(
                    serde_json::to_string(&got.stats).unwrap(),
                    serde_json::to_string(&want.stats).unwrap(),
                    "{isa:?} window {window}"
                );
            }
        }
    }
}
