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

use super::{Layout, WordFilter, magic};
use crate::coredump::{Endian, FutexCall};
use crate::mappings::{Mapping, MappingKind};
use crate::memory::AddressSpace;

#[warn(missing_docs)] // public API (re-exported at the crate root)
/// How a mutex was found (`found_by` in the JSON, spelt in kebab-case).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum FoundBy {
    /// The futex word a blocked thread waits on.
    FutexWait,
    /// A global or static variable whose debug type is or holds a mutex.
    Symbol,
    /// Inside the object a typed global pointer points to.
    Pointer,
    /// The scan of memory for plausible locked mutexes.
    Scan,
    /// The layout's magic number.
    Magic,
    /// glibc's abort message names it (a mutex assertion).
    Assertion,
}

#[warn(missing_docs)]
impl FoundBy {
    /// The JSON spelling (`"futex-wait"`).
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

impl std::fmt::Display for FoundBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
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
    /// What discovery learnt about it (e.g. it is embedded in an rwlock).
    pub notes: Vec<String>,
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
                    notes: Vec::new(),
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

    pub fn add_note(&mut self, address: u64, note: String) {
        if let Some(&i) = self.index.get(&address) {
            let c = &mut self.list[i];
            if !c.notes.contains(&note) {
                c.notes.push(note);
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
        0 => layout.family().is_lock_wait_value(v),
        _ => false,
    };
    if !mutexy {
        return None;
    }
    f.address.checked_sub(layout.futex_offset())
}

/// Scan one range of dumped bytes for plausible locked mutexes: every position aligned
/// to `layout.align()` (as an address, from `base`) whose futex word is not zero and
/// whose bytes pass [`Layout::plausible_locked`]. Hits are appended to `out` in address
/// order; the scan stops once `out` holds `limit` addresses.
///
/// Layouts with [`Layout::scan_filters`] and an alignment of 4 or 8 take a fast path:
/// one tight pass tests the first filter's word at each position; only where it passes
/// are the other filters, the futex word and `plausible_locked` looked at. It finds
/// exactly the hits of [`scan_range_plain`], which tests every position in turn.
pub fn scan_range(
    layout: &dyn Layout,
    base: u64,
    bytes: &[u8],
    endian: Endian,
    out: &mut Vec<u64>,
    limit: usize,
) {
    match fast_filters(layout) {
        Some(filters) => {
            scan_range_fast(layout, &filters, base, bytes, endian, out, limit, None);
        }
        None => scan_range_plain(layout, base, bytes, endian, out, limit),
    }
}

/// A magic number looked for by the block pass of a scan, in passing
/// ([`scan_range_probing`]).
struct Probe<'f> {
    magic: magic::Aligned,
    /// Offsets in the scanned bytes where the magic occurs at its alignment.
    found: &'f mut Vec<usize>,
    /// The bytes the block pass covered (offsets in the scanned bytes): every
    /// aligned occurrence starting there is in `found`.
    covered: (usize, usize),
}

/// As [`scan_range`], and, in the same pass over the bytes, the aligned
/// occurrences of `probe`'s magic (`discover::one_pass` folds a Solaris guest
/// search into the scan this way: the bytes are read once). `found` gets the
/// offsets in `bytes` of the occurrences that start in the returned range of
/// offsets; `None` when the magic could not be looked for in passing (no AVX2,
/// big-endian data, a layout off the fast path, the scan stopped at `limit`): then
/// the caller searches by itself.
#[allow(clippy::too_many_arguments)]
fn scan_range_probing(
    layout: &dyn Layout,
    base: u64,
    bytes: &[u8],
    endian: Endian,
    out: &mut Vec<u64>,
    limit: usize,
    magic: magic::Aligned,
    found: &mut Vec<usize>,
) -> Option<(usize, usize)> {
    found.clear();
    let filters = fast_filters(layout);
    let (Some(filters), true, Endian::Little) = (filters, has_avx2(), endian) else {
        scan_range(layout, base, bytes, endian, out, limit);
        return None;
    };
    let mut probe = Probe {
        magic,
        found,
        covered: (0, 0),
    };
    let stopped = scan_range_fast(
        layout,
        &filters,
        base,
        bytes,
        endian,
        out,
        limit,
        Some(&mut probe),
    );
    let covered = probe.covered;
    (!stopped).then_some(covered)
}

/// The processor has AVX2 (found at run time; the result is cached by the
/// standard library). Always false off x86_64.
#[inline]
fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The straightforward scan: every aligned position, futex word then
/// `plausible_locked`. The reference the fast path is tested against.
pub fn scan_range_plain(
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

/// The fast path's filters, the first one being the one the tight pass tests: the
/// layout's usable [`WordFilter`]s, then the futex word (not zero). `None` (plain scan)
/// when the alignment is not 4 or 8, or when the layout has no usable filter.
fn fast_filters(layout: &dyn Layout) -> Option<Vec<WordFilter>> {
    let align = layout.align();
    let size = layout.size();
    if align != 4 && align != 8 {
        return None;
    }
    let inside = |f: &WordFilter| {
        f.offset.is_multiple_of(4)
            && f.min <= f.max
            && f.offset.checked_add(4).is_some_and(|e| e <= size)
    };
    let mut v: Vec<WordFilter> = layout.scan_filters().into_iter().filter(inside).collect();
    // The tight pass reads `align` bytes per position from the first filter's word on:
    // they must stay inside the mutex.
    let first = v.first()?;
    if first.offset + align > size {
        return None;
    }
    let futex = WordFilter {
        offset: usize::try_from(layout.futex_offset()).ok()?,
        min: 1,
        max: u32::MAX,
    };
    if !inside(&futex) {
        return None;
    }
    v.push(futex);
    Some(v)
}

/// The fast path. `filters[0]` is tested at every position in one tight pass; the
/// rest (which end with the futex word) and `plausible_locked` only where it passes.
/// True when it stopped at `limit`. With a `probe` (little-endian data, AVX2
/// present: checked by the caller), also looks for its magic in the block pass.
#[allow(clippy::too_many_arguments)]
fn scan_range_fast(
    layout: &dyn Layout,
    filters: &[WordFilter],
    base: u64,
    bytes: &[u8],
    endian: Endian,
    out: &mut Vec<u64>,
    limit: usize,
    probe: Option<&mut Probe<'_>>,
) -> bool {
    let align = layout.align();
    let size = layout.size();
    let skew = (align - (base % align as u64) as usize) % align;
    let Some(room) = bytes
        .len()
        .checked_sub(size)
        .and_then(|r| r.checked_sub(skew))
    else {
        return false;
    };
    let range = Range {
        layout,
        filters,
        base,
        bytes,
        endian,
        skew,
        // Positions skew + k * align for k in 0..n hold a whole mutex.
        n: room / align + 1,
        size,
    };
    #[cfg(target_arch = "x86_64")]
    if let (Some(p), Endian::Little) = (probe, endian) {
        // SAFETY: a probe is only given when the processor has AVX2
        // (`scan_range_probing`).
        return unsafe {
            if align == 8 {
                probe_avx2::<8>(&range, out, limit, p)
            } else {
                probe_avx2::<4>(&range, out, limit, p)
            }
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = probe;
    match (align, endian) {
        (8, Endian::Little) => pass_le::<8>(&range, out, limit),
        (8, Endian::Big) => range.pass::<8, _, Walk>(u32::from_be_bytes, out, limit, None),
        (_, Endian::Little) => pass_le::<4>(&range, out, limit),
        (_, Endian::Big) => range.pass::<4, _, Walk>(u32::from_be_bytes, out, limit, None),
    }
}

/// Bytes per block of the fast path's first test: 32 words, one bit each in a `u32`.
const BLOCK_BYTES: usize = 128;

/// How a block's first-filter test is made: which words of `block` (`BLOCK_BYTES`
/// bytes, positions every `A` bytes, each starting with the filter's word) lie in
/// `min..=min + span`, as bits (bit `i` for the word at byte `4 * i`, only words that
/// start a position), or `None` when the block is to be walked position by position.
trait BlockMask {
    fn mask<const A: usize>(block: &[u8], min: u32, span: u32) -> Option<u32>;
}

/// Big-endian data, or no vector unit known: position by position.
struct Walk;

impl BlockMask for Walk {
    #[inline(always)]
    fn mask<const A: usize>(_: &[u8], _: u32, _: u32) -> Option<u32> {
        None
    }
}

/// Little-endian words, SSE2 (part of every x86_64): four words per instruction.
#[cfg(target_arch = "x86_64")]
struct Sse2;

#[cfg(target_arch = "x86_64")]
impl BlockMask for Sse2 {
    #[inline(always)]
    fn mask<const A: usize>(block: &[u8], min: u32, span: u32) -> Option<u32> {
        use std::arch::x86_64::{
            _mm_castsi128_ps, _mm_cmpgt_epi32, _mm_loadu_si128, _mm_movemask_ps, _mm_set1_epi32,
            _mm_sub_epi32, _mm_xor_si128,
        };
        let mut fail = 0u32;
        // SAFETY: SSE2 is always present on x86_64; every load reads 16 bytes inside
        // `block` (`chunks_exact(16)`), and unaligned loads are allowed.
        unsafe {
            let sign = _mm_set1_epi32(i32::MIN);
            let low = _mm_set1_epi32(min as i32);
            let high = _mm_set1_epi32((span ^ 0x8000_0000) as i32);
            for (j, c) in block.chunks_exact(16).enumerate() {
                let v = _mm_loadu_si128(c.as_ptr().cast());
                // Unsigned `v - min <= span` as a signed compare of sign-flipped values.
                let d = _mm_xor_si128(_mm_sub_epi32(v, low), sign);
                let gt = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(d, high))) as u32;
                fail |= gt << (4 * j);
            }
        }
        Some(!fail & lanes::<A>())
    }
}

/// Little-endian words, AVX2 (when the processor has it): eight words per instruction.
#[cfg(target_arch = "x86_64")]
struct Avx2;

#[cfg(target_arch = "x86_64")]
impl BlockMask for Avx2 {
    #[inline(always)]
    fn mask<const A: usize>(block: &[u8], min: u32, span: u32) -> Option<u32> {
        // SAFETY: `Avx2` is only used by `pass_avx2`, called after the processor was
        // found to have AVX2.
        Some(unsafe { block_mask_avx2::<A>(block, min, span) })
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn block_mask_avx2<const A: usize>(block: &[u8], min: u32, span: u32) -> u32 {
    // SAFETY: the caller checked AVX2; `block` holds `BLOCK_BYTES` bytes.
    unsafe {
        let v = load_block_avx2(block);
        let ok = in_range_avx2(&v, min, span);
        mask_bits_avx2::<A>(&ok)
    }
}

/// The four 32-byte vectors of a block.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load_block_avx2(block: &[u8]) -> [std::arch::x86_64::__m256i; 4] {
    use std::arch::x86_64::_mm256_loadu_si256;
    assert!(block.len() >= BLOCK_BYTES);
    let p = block.as_ptr();
    // SAFETY: the caller checked AVX2; the four loads read the block's first
    // 128 bytes (length asserted above); unaligned loads are allowed.
    unsafe {
        [
            _mm256_loadu_si256(p.cast()),
            _mm256_loadu_si256(p.add(32).cast()),
            _mm256_loadu_si256(p.add(64).cast()),
            _mm256_loadu_si256(p.add(96).cast()),
        ]
    }
}

/// Per 32-bit lane of `v`: all ones when the word `w` has `w - min <= span`
/// (unsigned, wrapping), zero otherwise: `min(w - min, span) == w - min`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn in_range_avx2(
    v: &[std::arch::x86_64::__m256i; 4],
    min: u32,
    span: u32,
) -> [std::arch::x86_64::__m256i; 4] {
    use std::arch::x86_64::{
        _mm256_cmpeq_epi32, _mm256_min_epu32, _mm256_set1_epi32, _mm256_sub_epi32,
    };
    let low = _mm256_set1_epi32(min as i32);
    let span = _mm256_set1_epi32(span as i32);
    v.map(|x| {
        let t = _mm256_sub_epi32(x, low);
        _mm256_cmpeq_epi32(_mm256_min_epu32(t, span), t)
    })
}

/// One bit per 32-bit lane of the four masks (bit `i` for the word at byte
/// `4 * i` of the block) that starts a position (every lane when `A` is 4,
/// every other one when 8: [`lanes`]); 0 at once when none is set (the usual
/// case: an or, a test and a branch for the block).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn mask_bits_avx2<const A: usize>(ok: &[std::arch::x86_64::__m256i; 4]) -> u32 {
    use std::arch::x86_64::{
        _mm256_castsi256_ps, _mm256_movemask_ps, _mm256_or_si256, _mm256_set1_epi64x,
        _mm256_testz_si256,
    };
    // The low word of each 8 bytes (little-endian), or all.
    let keep = _mm256_set1_epi64x(if A == 8 { 0xffff_ffff } else { -1 });
    let any = _mm256_or_si256(_mm256_or_si256(ok[0], ok[1]), _mm256_or_si256(ok[2], ok[3]));
    if _mm256_testz_si256(any, keep) == 1 {
        return 0;
    }
    let m = |x| _mm256_movemask_ps(_mm256_castsi256_ps(x)) as u32;
    (m(ok[0]) | m(ok[1]) << 8 | m(ok[2]) << 16 | m(ok[3]) << 24) & lanes::<A>()
}

/// Little-endian words without a known vector unit: the same bits, word by word.
#[cfg(not(target_arch = "x86_64"))]
struct Portable;

#[cfg(not(target_arch = "x86_64"))]
impl BlockMask for Portable {
    #[inline(always)]
    fn mask<const A: usize>(block: &[u8], min: u32, span: u32) -> Option<u32> {
        let mut m = 0u32;
        for (i, c) in block.chunks_exact(A).enumerate() {
            let w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            m |= u32::from(w.wrapping_sub(min) <= span) << (i * A / 4);
        }
        Some(m)
    }
}

/// The bits of the words that start a position: all of them when positions are 4
/// bytes apart, every other one when 8.
#[inline(always)]
const fn lanes<const A: usize>() -> u32 {
    if A == 8 { 0x5555_5555 } else { u32::MAX }
}

/// The little-endian pass compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn pass_avx2<const A: usize>(
    range: &Range<'_, '_>,
    out: &mut Vec<u64>,
    limit: usize,
) -> bool {
    range.pass::<A, _, Avx2>(u32::from_le_bytes, out, limit, None)
}

/// The little-endian pass compiled for AVX2, looking for a magic number too.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn probe_avx2<const A: usize>(
    range: &Range<'_, '_>,
    out: &mut Vec<u64>,
    limit: usize,
    probe: &mut Probe<'_>,
) -> bool {
    range.pass::<A, _, Avx2>(u32::from_le_bytes, out, limit, Some(probe))
}

/// Bits of a 128-byte block (one per byte, as `u128`) where an `n`-byte lane
/// (n = 2 or 4, lanes starting at multiples of `n` from the block's start) equals
/// `needle`; 0 at once when no lane does (the usual case: one compare per 32
/// bytes and a test).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn magic_bits_avx2(v: &[std::arch::x86_64::__m256i; 4], needle: u32, n: usize) -> u128 {
    use std::arch::x86_64::{
        _mm256_cmpeq_epi16, _mm256_cmpeq_epi32, _mm256_movemask_epi8, _mm256_or_si256,
        _mm256_set1_epi32, _mm256_testz_si256,
    };
    let nd = _mm256_set1_epi32(needle as i32);
    let e = if n == 2 {
        v.map(|x| _mm256_cmpeq_epi16(x, nd))
    } else {
        v.map(|x| _mm256_cmpeq_epi32(x, nd))
    };
    let any = _mm256_or_si256(_mm256_or_si256(e[0], e[1]), _mm256_or_si256(e[2], e[3]));
    if _mm256_testz_si256(any, any) == 1 {
        return 0;
    }
    let m = |x| u128::from(_mm256_movemask_epi8(x) as u32);
    m(e[0]) | m(e[1]) << 32 | m(e[2]) << 64 | m(e[3]) << 96
}

/// The little-endian pass with the best block test this processor has.
#[inline(always)]
fn pass_le<const A: usize>(range: &Range<'_, '_>, out: &mut Vec<u64>, limit: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2() {
            // SAFETY: the processor has AVX2 (checked just above).
            unsafe { pass_avx2::<A>(range, out, limit) }
        } else {
            range.pass::<A, _, Sse2>(u32::from_le_bytes, out, limit, None)
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    range.pass::<A, _, Portable>(u32::from_le_bytes, out, limit, None)
}

/// One range under the fast path.
struct Range<'a, 'b> {
    layout: &'a dyn Layout,
    filters: &'a [WordFilter],
    base: u64,
    bytes: &'b [u8],
    endian: Endian,
    skew: usize,
    n: usize,
    size: usize,
}

impl Range<'_, '_> {
    /// The tight pass over the first filter's words, one per `A`-byte chunk (they stay
    /// inside `bytes` because `filters[0].offset + A <= size`). `read` is a function
    /// item (`u32::from_le_bytes`), so the loop has no call and no bounds check.
    ///
    /// With a `probe` (AVX2 only), each block is also compared with its magic
    /// number, and `probe.covered` set to the bytes the blocks span. True when
    /// the pass stopped at `limit`.
    #[inline(always)]
    fn pass<const A: usize, R: Fn([u8; 4]) -> u32 + Copy, M: BlockMask>(
        &self,
        read: R,
        out: &mut Vec<u64>,
        limit: usize,
        mut probe: Option<&mut Probe<'_>>,
    ) -> bool {
        let f0 = self.filters[0];
        let start = self.skew + f0.offset;
        let words = &self.bytes[start..start + self.n * A];
        // The probe's lanes to keep: a block's address modulo the magic's
        // alignment (at most 64, dividing `BLOCK_BYTES`) is the same for every
        // block, so one mask of the bytes where an aligned occurrence starts.
        let phase = probe.as_ref().map_or(0u128, |p| {
            let a0 = self.base.wrapping_add(start as u64);
            (0..BLOCK_BYTES as u64)
                .filter(|b| (a0.wrapping_add(*b)) % p.magic.align == p.magic.off)
                .fold(0u128, |m, b| m | 1 << b)
        });
        if let Some(p) = probe.as_mut() {
            p.covered = (start, start + words.len() / BLOCK_BYTES * BLOCK_BYTES);
        }
        let span = f0.max - f0.min;
        let pass = |c: &[u8]| read([c[0], c[1], c[2], c[3]]).wrapping_sub(f0.min) <= span;
        // Blocks of `BLOCK_BYTES`: on little-endian data one SIMD test gives the
        // block's passing words as bits, and only those positions are looked at.
        let mut blocks = words.chunks_exact(BLOCK_BYTES);
        let mut k0 = 0;
        for block in &mut blocks {
            #[cfg(target_arch = "x86_64")]
            if let Some(p) = probe.as_mut() {
                // SAFETY: a probe is only given to the AVX2 pass (`probe_avx2`).
                let mut m =
                    unsafe { magic_bits_avx2(&load_block_avx2(block), p.magic.needle, p.magic.n) }
                        & phase;
                while m != 0 {
                    p.found.push(start + k0 * A + m.trailing_zeros() as usize);
                    m &= m - 1;
                }
            }
            if let Some(mut m) = M::mask::<A>(block, f0.min, span) {
                while m != 0 {
                    let i = m.trailing_zeros() as usize * 4 / A;
                    m &= m - 1;
                    if self.candidate::<A, R>(k0 + i, read, out, limit) {
                        return true;
                    }
                }
            } else {
                for (i, c) in block.chunks_exact(A).enumerate() {
                    if pass(c) && self.candidate::<A, R>(k0 + i, read, out, limit) {
                        return true;
                    }
                }
            }
            k0 += BLOCK_BYTES / A;
        }
        for (i, c) in blocks.remainder().chunks_exact(A).enumerate() {
            if pass(c) && self.candidate::<A, R>(k0 + i, read, out, limit) {
                return true;
            }
        }
        false
    }

    /// Position `k` passed the first filter: the other filters, then the full test.
    /// True when the hit limit is reached.
    #[inline(always)]
    fn candidate<const A: usize, R: Fn([u8; 4]) -> u32>(
        &self,
        k: usize,
        read: R,
        out: &mut Vec<u64>,
        limit: usize,
    ) -> bool {
        let off = self.skew + k * A;
        let Some(m) = self.bytes.get(off..off + self.size) else {
            return false;
        };
        let pass = self.filters[1..].iter().all(|f| {
            m.get(f.offset..f.offset + 4)
                .and_then(|w| <[u8; 4]>::try_from(w).ok())
                .is_some_and(|w| read(w).wrapping_sub(f.min) <= f.max - f.min)
        });
        pass && self.full_test(m, off, out, limit)
    }

    /// `plausible_locked`, and the hit recorded. True when the hit limit is reached.
    #[inline(never)]
    fn full_test(&self, m: &[u8], off: usize, out: &mut Vec<u64>, limit: usize) -> bool {
        if self.layout.plausible_locked(m, self.endian) {
            out.push(self.base + off as u64);
            if out.len() >= limit {
                return true;
            }
        }
        false
    }
}

/// The dumped bytes a scan of `scope` covers: `(address, bytes)` per mapping, in
/// mapping order. Mappings whose bytes were not dumped are left out.
pub fn scan_ranges<'d>(
    space: &AddressSpace<'d>,
    maps: &[Mapping],
    scope: ScanScope,
) -> Vec<(u64, &'d [u8])> {
    scan_extents(space, maps, scope)
        .into_iter()
        .filter_map(|(start, len)| {
            let len = usize::try_from(len).ok()?;
            space.slice(start, len).ok().map(|b| (start, b))
        })
        .collect()
}

/// As [`scan_ranges`] (`(address, length)` of each, to be read with
/// [`AddressSpace::for_each_window`]), but of a sparse core only the parts that hold data, widened
/// by `pad` bytes on each side ([`AddressSpace::data_parts`]): with `pad` at least
/// a scanned object's size less one, every position whose object is not all zeros
/// (holes) is still scanned whole, and none twice.
pub fn scan_parts(
    space: &AddressSpace<'_>,
    maps: &[Mapping],
    scope: ScanScope,
    pad: usize,
) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for (start, len) in scan_extents(space, maps, scope) {
        for (a, l) in space.data_parts(start, len, pad as u64) {
            if l > 0 {
                out.push((a, l));
            }
        }
    }
    out
}

/// `(address, length)` of the dumped bytes of each mapping a scan of `scope` covers.
fn scan_extents(space: &AddressSpace<'_>, maps: &[Mapping], scope: ScanScope) -> Vec<(u64, u64)> {
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
        let off = m.start - seg.vaddr;
        let avail = seg
            .available
            .min(seg.memsz)
            .saturating_sub(off)
            .min(m.size());
        if avail > 0 {
            out.push((m.start, avail));
        }
    }
    out
}

/// Bytes scanned at a time by [`one_pass`]: every scan of the pass looks at one
/// chunk while it is in the CPU's cache.
const CHUNK: usize = 256 << 10;

/// Scanned pages are given back (`AddressSpace::release`) in whole units of this
/// many bytes of address.
const RELEASE: usize = 2 << 20;

/// How far ahead of the scan pages are asked for (`AddressSpace::will_need`), in a
/// whole number of chunks.
const AHEAD: usize = 32 * CHUNK;

/// What [`one_pass`] found: per scan layout its hits (as [`scan`] gives them), per
/// magic layout its validated hits (as [`magic::scan_with_endian`] over the same
/// memory gives them).
#[derive(Debug, Default)]
pub struct PassResult {
    pub scans: Vec<Vec<u64>>,
    pub magic: Vec<magic::MagicScan>,
}

/// The work of [`one_pass`] on the chunk `data[from..to]` of a range at `base`:
/// each scan layout's positions in the chunk whose object fits in the range, and
/// each magic search's occurrences starting in the chunk. The magic search of the
/// first search that has an aligned form is folded into the first scan's block
/// pass when the processor allows ([`scan_range_probing`]): the chunk is read once
/// for both; the edges the blocks do not span are searched apart.
#[allow(clippy::too_many_arguments)]
fn scan_chunk(
    scan_layouts: &[&dyn Layout],
    scans: &mut [Vec<u64>],
    searches: &mut [Option<magic::Search<'_, '_, '_>>],
    base: u64,
    data: &[u8],
    (from, to): (usize, usize),
    endian: Endian,
    found: &mut Vec<usize>,
) {
    let probed = searches
        .iter()
        .position(|s| s.as_ref().and_then(|s| s.lanes()).is_some());
    let mut covered = None;
    for (i, (l, out)) in scan_layouts.iter().zip(scans.iter_mut()).enumerate() {
        if out.len() >= SCAN_LIMIT {
            continue;
        }
        // Positions in [from, to) whose object fits in the range.
        let end = to
            .saturating_add(l.size().saturating_sub(1))
            .min(data.len());
        let lanes = probed
            .filter(|_| i == 0)
            .and_then(|k| searches[k].as_ref())
            .and_then(|s| s.lanes());
        let bytes = &data[from..end];
        let at = base + from as u64;
        match lanes {
            Some(m) => {
                covered = scan_range_probing(*l, at, bytes, endian, out, SCAN_LIMIT, m, found);
            }
            None => scan_range(*l, at, bytes, endian, out, SCAN_LIMIT),
        }
    }
    for (k, s) in searches.iter_mut().enumerate() {
        let Some(s) = s else { continue };
        match covered.filter(|_| Some(k) == probed) {
            // Offsets in the chunk: occurrences starting at or after `to` belong to
            // the next chunk.
            Some((c0, c1)) => {
                let c1 = from + c1.min(to - from);
                let c0 = (from + c0).min(c1);
                found.retain(|&q| from + q < c1);
                for q in found.iter_mut() {
                    *q += from;
                }
                s.feed(base, data, from, c0);
                s.feed_found(base, data, c0, c1, found);
                s.feed(base, data, c1, to);
            }
            None => s.feed(base, data, from, to),
        }
    }
}

/// One pass over the memory a scan of `scope` covers, for all layouts at once: the
/// locked-mutex scan of each of `scan_layouts` and the magic-number search of each
/// of `magic_layouts` (with its byte order), chunk by chunk, so memory is read
/// once. Holes of a sparse core are skipped. The hits are those of [`scan`] and of
/// a magic search over the same mappings, in the same order. `threads`: 1 keeps
/// the pass on the caller's thread; otherwise a window of `PARALLEL_MIN` bytes or
/// more is scanned by two when the machine has a second CPU (see
/// `analysis::Options::scan_threads`).
pub fn one_pass(
    space: &AddressSpace<'_>,
    maps: &[Mapping],
    scope: ScanScope,
    scan_layouts: &[&dyn Layout],
    magic_layouts: &[(&dyn Layout, Endian)],
    threads: usize,
) -> PassResult {
    let parallel_min = if threads != 1 && second_cpu() {
        PARALLEL_MIN
    } else {
        usize::MAX
    };
    one_pass_split(
        space,
        maps,
        scope,
        scan_layouts,
        magic_layouts,
        parallel_min,
    )
}

/// [`one_pass`], a window of at least `parallel_min` bytes (and two chunks) being
/// scanned by two threads (`usize::MAX`: never): for tests, which compare the
/// passes with and without the split.
#[doc(hidden)]
pub fn one_pass_split(
    space: &AddressSpace<'_>,
    maps: &[Mapping],
    scope: ScanScope,
    scan_layouts: &[&dyn Layout],
    magic_layouts: &[(&dyn Layout, Endian)],
    parallel_min: usize,
) -> PassResult {
    let mut scans: Vec<Vec<u64>> = vec![Vec::new(); scan_layouts.len()];
    let mut searches = new_searches(space, magic_layouts);
    if scope == ScanScope::None || (scan_layouts.is_empty() && searches.iter().all(Option::is_none))
    {
        return PassResult {
            scans,
            magic: searches
                .into_iter()
                .map(|s| s.map(magic::Search::finish).unwrap_or_default())
                .collect(),
        };
    }
    let pad = scan_layouts
        .iter()
        .map(|l| l.size().saturating_sub(1))
        .max()
        .unwrap_or(0);
    let endian = space.endian();
    let margin = searches
        .iter()
        .flatten()
        .map(magic::Search::margin)
        .fold(pad + 1, usize::max);
    let mut found = Vec::new();
    for (start, len) in scan_parts(space, maps, scope, pad) {
        // The whole part at once from a mapped core; a window at a time otherwise,
        // the chunks of the window being `data[lo..hi]`.
        let _ = space.for_each_window(start, len, margin, |base, data, lo, hi| {
            let span = |scans: &mut [Vec<u64>],
                        searches: &mut [Option<magic::Search<'_, '_, '_>>],
                        found: &mut Vec<usize>,
                        lo: usize,
                        hi: usize| {
                scan_span(
                    space,
                    scan_layouts,
                    (scans, searches, found),
                    base,
                    data,
                    (lo, hi),
                    endian,
                )
            };
            // A big window: its second half (whole chunks, so the chunks are those
            // of one pass) on a second thread with searches of its own, the results
            // appended after the first half's, as one pass in address order gives them.
            let mid = lo + (hi - lo) / 2 / CHUNK * CHUNK;
            if hi - lo < parallel_min || mid <= lo {
                span(&mut scans, &mut searches, &mut found, lo, hi);
                return;
            }
            let (b_scans, b_searches, b_read) = std::thread::scope(|s| {
                let b = s.spawn(|| {
                    let mut scans: Vec<Vec<u64>> = vec![Vec::new(); scan_layouts.len()];
                    let mut searches = new_searches(space, magic_layouts);
                    let mut found = Vec::new();
                    span(&mut scans, &mut searches, &mut found, mid, hi);
                    (scans, searches, crate::memory::bytes_read())
                });
                span(&mut scans, &mut searches, &mut found, lo, mid);
                b.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
            });
            crate::memory::count_read_elsewhere(b_read);
            for (a, b) in scans.iter_mut().zip(b_scans) {
                a.extend(b);
                a.truncate(SCAN_LIMIT);
            }
            for (a, b) in searches.iter_mut().zip(b_searches) {
                if let (Some(a), Some(b)) = (a.as_mut(), b) {
                    a.absorb(b);
                }
            }
        });
    }
    PassResult {
        scans,
        magic: searches
            .into_iter()
            .map(|s| s.map(magic::Search::finish).unwrap_or_default())
            .collect(),
    }
}

/// The aligned-only magic searches of [`one_pass`], one per magic layout.
fn new_searches<'s, 'd, 'l>(
    space: &'s AddressSpace<'d>,
    magic_layouts: &[(&'l dyn Layout, Endian)],
) -> Vec<Option<magic::Search<'s, 'd, 'l>>> {
    magic_layouts
        .iter()
        .map(|(l, e)| magic::Search::new(space, *l, *e).map(magic::Search::aligned_only))
        .collect()
}

/// A window at least this long is scanned by two threads, each half (when the
/// machine has a second CPU): the scan of a big core is bound by the page faults of
/// its mapping, which two threads take in parallel.
const PARALLEL_MIN: usize = 64 << 20;

/// The machine has a second CPU for the scan.
fn second_cpu() -> bool {
    static TWO: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TWO.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2))
}

/// The chunks of `data[lo..hi]` (a window at `base`) through [`scan_chunk`], in
/// order, with read-ahead of the pages a few chunks on and the pages scanned given
/// back in whole 2 MiB units of address, the rest of them at the end.
#[allow(clippy::too_many_arguments)]
fn scan_span(
    space: &AddressSpace<'_>,
    scan_layouts: &[&dyn Layout],
    (scans, searches, found): (
        &mut [Vec<u64>],
        &mut [Option<magic::Search<'_, '_, '_>>],
        &mut Vec<usize>,
    ),
    base: u64,
    data: &[u8],
    (lo, hi): (usize, usize),
    endian: Endian,
) {
    let mut from = lo;
    let mut released = lo;
    while from < hi {
        let to = from.saturating_add(CHUNK).min(hi);
        // Read-ahead: the pages a few chunks on are asked for now.
        if (from - lo).is_multiple_of(AHEAD) {
            let ahead = from.saturating_add(AHEAD).min(hi);
            let until = ahead.saturating_add(AHEAD).min(hi);
            if from == lo {
                space.will_need(&data[lo..ahead]);
            }
            space.will_need(&data[ahead..until]);
        }
        scan_chunk(
            scan_layouts,
            scans,
            searches,
            base,
            data,
            (from, to),
            endian,
            found,
        );
        // Done with these pages: bounded resident memory on big cores, given back
        // in whole 2 MiB units of address (a page cache of large folios is mapped
        // 2 MiB at a time; giving back part of one would split it into pages).
        let at = data.as_ptr() as usize;
        let upto = ((at + to) / RELEASE * RELEASE).saturating_sub(at);
        if upto > released {
            space.release(&data[released..upto]);
            released = upto;
        }
        from = to;
    }
    space.release(&data[released.min(hi)..hi]);
}

#[warn(missing_docs)] // public API (re-exported at the crate root)
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
    let pad = layout.size().saturating_sub(1);
    for (start, len) in scan_parts(space, maps, scope, pad) {
        let _ = space.for_each_window(start, len, pad, |base, data, from, to| {
            let end = to.saturating_add(pad).min(data.len());
            scan_range(
                layout,
                base + from as u64,
                &data[from..end],
                space.endian(),
                &mut out,
                SCAN_LIMIT,
            );
        });
        if out.len() >= SCAN_LIMIT {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mutex::select;

    /// Integers as programs keep them (many zeros and small values): the data the word
    /// filters let through most often.
    fn small_ints(len: usize, mut seed: u64) -> Vec<u8> {
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut v = Vec::with_capacity(len);
        while v.len() < len {
            let r = next();
            let x: u32 = match r % 10 {
                0..=2 => 0,
                3..=5 => 1 + (r >> 8) as u32 % 9,
                6..=8 => 10 + (r >> 8) as u32 % 990,
                _ => (r >> 8) as u32,
            };
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.truncate(len);
        v
    }

    /// A locked recursive glibc mutex for both ABI families: lock 1, count 1, owner
    /// 1234, and 1 at offsets 12 and 16 (`__nusers`/`__kind` on LP64, the reverse on
    /// ILP32), zeros after.
    fn plant(buf: &mut [u8], off: usize, endian: Endian) {
        let w = |v: u32| match endian {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        };
        for (i, v) in [1u32, 1, 1234, 1, 1, 0, 0, 0, 0, 0, 0, 0]
            .iter()
            .enumerate()
        {
            if let Some(d) = buf.get_mut(off + 4 * i..off + 4 * i + 4) {
                d.copy_from_slice(&w(*v));
            }
        }
    }

    #[test]
    fn fast_path_equals_plain_loop_at_every_edge() {
        let data = small_ints(40_000, 0x9e37_79b9_7f4a_7c15);
        let mut planted_found = 0;
        for name in select::builtin_names() {
            let layout = select::builtin(&name).expect("builtin layout");
            let (align, size) = (layout.align(), layout.size());
            for endian in [Endian::Little, Endian::Big] {
                for skew in 0..8u64 {
                    let base = 0x7f00_0000_1000 + skew;
                    let mut buf = data.clone();
                    let first = (align - (base % align as u64) as usize) % align;
                    let last = first + (buf.len() - size - first) / align * align;
                    let spots = [first, first + 63 * align, first + 1000 * align, last];
                    for &s in &spots {
                        plant(&mut buf, s, endian);
                    }
                    for limit in [1, 2, 3, usize::MAX] {
                        let mut plain = Vec::new();
                        scan_range_plain(layout.as_ref(), base, &buf, endian, &mut plain, limit);
                        let mut fast = Vec::new();
                        scan_range(layout.as_ref(), base, &buf, endian, &mut fast, limit);
                        assert_eq!(fast, plain, "{name} {endian:?} skew {skew} limit {limit}");
                        if limit == usize::MAX && layout.family() == crate::mutex::Family::Glibc {
                            for &s in &spots {
                                assert!(plain.contains(&(base + s as u64)), "{name}: {s}");
                                planted_found += 1;
                            }
                        }
                    }
                    // Slices shorter than a mutex, and exactly one mutex long.
                    for len in [0, size - 1, size, size + align] {
                        let b = &buf[last + size - len.min(last + size)..last + size];
                        let b0 = base + (last + size - b.len()) as u64;
                        let (mut p, mut f) = (Vec::new(), Vec::new());
                        scan_range_plain(layout.as_ref(), b0, b, endian, &mut p, usize::MAX);
                        scan_range(layout.as_ref(), b0, b, endian, &mut f, usize::MAX);
                        assert_eq!(f, p, "{name} short slice {len}");
                    }
                }
            }
        }
        assert!(planted_found > 0);
    }

    /// Every block test gives the bits of a word-by-word test, for both position
    /// spacings and ranges at the edges of u32 (the sign-bit trick), on data that
    /// passes often.
    #[test]
    fn block_masks_equal_a_word_by_word_test() {
        fn reference<const A: usize>(block: &[u8], min: u32, span: u32) -> u32 {
            let mut m = 0;
            for (i, c) in block.chunks_exact(A).enumerate() {
                let w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                if w.wrapping_sub(min) <= span {
                    m |= 1 << (i * A / 4);
                }
            }
            m
        }
        fn check<M: BlockMask>(data: &[u8], what: &str) {
            for (min, max) in [
                (1, 2),
                (0, 0x3ff),
                (1, u32::MAX),
                (0x7fff_ffff, 0x8000_0001),
            ] {
                let span = max - min;
                for block in data.chunks_exact(BLOCK_BYTES) {
                    let want8 = reference::<8>(block, min, span);
                    let want4 = reference::<4>(block, min, span);
                    assert_eq!(M::mask::<8>(block, min, span), Some(want8), "{what} 8");
                    assert_eq!(M::mask::<4>(block, min, span), Some(want4), "{what} 4");
                }
            }
        }
        let mut data = small_ints(BLOCK_BYTES * 512, 0x5eed);
        for (i, w) in data.chunks_exact_mut(4).enumerate().step_by(37) {
            w.copy_from_slice(
                &[0x7fff_ffffu32, 0x8000_0000, 0x8000_0001, u32::MAX][i % 4].to_le_bytes(),
            );
        }
        #[cfg(target_arch = "x86_64")]
        {
            check::<Sse2>(&data, "sse2");
            if has_avx2() {
                // Under test the Avx2 test runs outside `pass_avx2`, on a processor
                // that has AVX2 (checked).
                check::<Avx2>(&data, "avx2");
            } else {
                eprintln!("SKIP avx2 block test: this processor has no AVX2");
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        check::<Portable>(&data, "portable");
    }

    /// The scan with a magic number probed in passing finds the scan's hits, and
    /// exactly the aligned occurrences of the magic in the bytes it says it
    /// covered, which are all the range but its edges.
    #[test]
    fn probing_scan_finds_the_scan_hits_and_every_aligned_magic() {
        let avx2 = has_avx2();
        if !avx2 {
            eprintln!("SKIP probing scan: no AVX2 (the magic is then searched apart)");
        }
        let mut data = small_ints(20_000, 0x51ab_1e5e_ed00_0001);
        // The magics' bytes at every alignment, often.
        for i in (0..data.len() - 4).step_by(11) {
            data[i..i + 4].copy_from_slice(&[0x58, 0x4d, 0x4d, 0x58]);
        }
        let mut probes = 0;
        for name in ["glibc-x86_64", "glibc-i386", "musl-x86_64"] {
            let layout = select::builtin(name).expect("layout");
            for (needle, align, off) in [
                (&[0x58u8, 0x4d][..], 8usize, 6usize),
                (&[0x58, 0x4d], 4, 6),
                (&[0x58, 0x4d, 0x4d, 0x58], 8, 4),
            ] {
                let m = magic::Aligned::new(needle, align, off).expect("aligned form");
                for skew in 0..8u64 {
                    let base = 0x7f00_0000_1000 + skew;
                    let mut buf = data.clone();
                    plant(&mut buf, 800, Endian::Little);
                    plant(&mut buf, 12_000, Endian::Little);
                    for limit in [1, usize::MAX] {
                        let (mut plain, mut out, mut found) = (Vec::new(), Vec::new(), Vec::new());
                        scan_range(
                            layout.as_ref(),
                            base,
                            &buf,
                            Endian::Little,
                            &mut plain,
                            limit,
                        );
                        let cov = scan_range_probing(
                            layout.as_ref(),
                            base,
                            &buf,
                            Endian::Little,
                            &mut out,
                            limit,
                            m,
                            &mut found,
                        );
                        assert_eq!(out, plain, "{name} skew {skew} limit {limit}");
                        let Some((c0, c1)) = cov else {
                            assert!(!avx2 || out.len() >= limit, "{name}: not probed");
                            continue;
                        };
                        assert!(avx2);
                        assert!(c0 < 64 && c1 + 200 > buf.len() && c0 < c1, "{c0} {c1}");
                        let want: Vec<usize> = (c0..c1)
                            .filter(|&q| {
                                (base + q as u64) % align as u64 == off as u64 % align as u64
                                    && buf.get(q..q + needle.len()) == Some(needle)
                            })
                            .collect();
                        assert!(!want.is_empty());
                        assert_eq!(found, want, "{name} skew {skew} {align} {off}");
                        probes += 1;
                    }
                }
            }
        }
        assert!(!avx2 || probes > 0);
    }

    #[test]
    fn glibc_and_musl_use_the_fast_path() {
        for name in [
            "glibc-x86_64",
            "glibc-i386",
            "glibc-aarch64",
            "musl-x86_64",
            "musl-i386",
        ] {
            let l = select::builtin(name).expect("layout");
            assert!(fast_filters(l.as_ref()).is_some(), "{name}");
        }
    }
}
