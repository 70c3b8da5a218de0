//! Unwinding: a backtrace of every thread from its registers and the core's stack
//! memory. Call-frame information first (`.eh_frame_hdr` / `.eh_frame`, then
//! `.debug_frame`), then the kernel's signal frame (recognised by the sigreturn
//! trampoline's instructions), then frame pointers, then — marked as such — a scan
//! of the stack for return addresses. x86_64, i386 and aarch64.

use gimli::{
    BaseAddresses, CfaRule, DebugFrame, EhFrame, EhFrameHdr, EndianSlice, RegisterRule,
    RunTimeEndian, UnwindContext, UnwindSection,
};
use object::{Object, ObjectSection};
use serde::Serialize;

use super::elf::{SectionData, section_data};
use super::modules::{Module, Modules};
use super::symbolize::Detail;
use crate::coredump::{Arch, Thread};
use crate::memory::AddressSpace;

/// At most this many frames per thread.
pub const MAX_FRAMES: usize = 512;
/// Words of stack examined by a scan for one return address.
const SCAN_WORDS: u64 = 2048;

#[warn(missing_docs)] // public API (re-exported at the crate root)
/// How a frame's registers were recovered (`source` of a frame in the JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FrameSource {
    /// The thread's registers as the core recorded them (frame 0).
    Context,
    /// Call-frame information (`.eh_frame`, `.debug_frame`).
    Cfi,
    /// The kernel's signal frame on the stack (sigreturn trampoline without CFI).
    SignalContext,
    /// A frame-pointer chain.
    FramePointer,
    /// Frame 0 jumped to an address with no code: the return address at the top
    /// of the stack (x86) or in the link register (aarch64).
    LinkRegister,
    /// Guessed by scanning the stack for a return address: may be wrong.
    Scan,
    /// A function that tail-called the next inner one: it has no frame of its
    /// own; found from DWARF call-site information (as gdb does).
    TailCall,
}

#[warn(missing_docs)]
impl FrameSource {
    /// The JSON spelling (`"frame-pointer"`).
    pub fn as_str(self) -> &'static str {
        match self {
            FrameSource::Context => "context",
            FrameSource::Cfi => "cfi",
            FrameSource::SignalContext => "signal-context",
            FrameSource::FramePointer => "frame-pointer",
            FrameSource::LinkRegister => "link-register",
            FrameSource::Scan => "scan",
            FrameSource::TailCall => "tail-call",
        }
    }
}

impl std::fmt::Display for FrameSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A machine frame, before symbolization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawFrame {
    pub pc: u64,
    /// Stack pointer in this frame.
    pub sp: u64,
    pub source: FrameSource,
    /// This frame is the kernel's signal trampoline (`__restore_rt`): the frame
    /// after it is the code the signal interrupted.
    pub signal_trampoline: bool,
    /// The pc is a return address (look up `pc - 1`); false for frame 0 and for
    /// the frame a signal interrupted.
    pub is_return_address: bool,
    /// The registers known in this frame (DWARF numbering).
    pub(crate) regs: Regs,
}

impl RawFrame {
    /// The address its code is looked up at: `pc - 1` for a return address (the
    /// call, not what follows it), else the pc.
    pub fn lookup_pc(&self) -> u64 {
        if self.is_return_address {
            self.pc.wrapping_sub(1)
        } else {
            self.pc
        }
    }
}

/// A symbolized frame: one per inlined function too (innermost first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Frame {
    pub pc: u64,
    /// Module path as the core names it.
    pub module: Option<String>,
    /// `pc` in the module's link-time address space.
    pub offset: Option<u64>,
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// This function was inlined into the next frame (same `pc`).
    pub inlined: bool,
    /// How this frame was found.
    pub source: FrameSource,
    /// The signal trampoline: `<signal handler called>` in gdb.
    pub signal_trampoline: bool,
}

/// A thread's backtrace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Backtrace {
    pub tid: u32,
    pub frames: Vec<Frame>,
    /// Why the walk stopped early, when it did not reach the outermost frame.
    pub stopped: Option<String>,
}

/// DWARF register numbers of the architectures we unwind.
#[derive(Clone, Copy, Debug)]
struct ArchRegs {
    /// Register count kept (DWARF numbers 0..n).
    n: usize,
    sp: u16,
    fp: u16,
    ra: u16,
    word: usize,
    /// Registers a call may clobber (their value in a caller is unknown unless the
    /// CFI says where it is).
    caller_saved: &'static [u16],
}

fn arch_regs(arch: Arch) -> Option<ArchRegs> {
    Some(match arch {
        Arch::X86_64 => ArchRegs {
            n: 17,
            sp: 7,
            fp: 6,
            ra: 16,
            word: 8,
            caller_saved: &[0, 1, 2, 4, 5, 8, 9, 10, 11],
        },
        Arch::I386 => ArchRegs {
            n: 9,
            sp: 4,
            fp: 5,
            ra: 8,
            word: 4,
            caller_saved: &[0, 1, 2],
        },
        Arch::Aarch64 => ArchRegs {
            n: 32,
            sp: 31,
            fp: 29,
            ra: 30,
            word: 8,
            caller_saved: &[
                0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
            ],
        },
        _ => return None,
    })
}

/// The registers of one frame, by DWARF number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Regs {
    v: [u64; 33],
    valid: u64,
}

impl Regs {
    pub(crate) fn new() -> Self {
        Regs {
            v: [0; 33],
            valid: 0,
        }
    }
    pub(crate) fn get(&self, r: u16) -> Option<u64> {
        let i = usize::from(r);
        (i < 33 && self.valid & (1 << i) != 0).then(|| self.v[i])
    }
    pub(crate) fn set(&mut self, r: u16, val: u64) {
        let i = usize::from(r);
        if i < 33 {
            self.v[i] = val;
            self.valid |= 1 << i;
        }
    }
    fn unset(&mut self, r: u16) {
        let i = usize::from(r);
        if i < 33 {
            self.valid &= !(1 << i);
        }
    }
}

/// Thread registers → DWARF numbering.
pub(crate) fn initial_regs(arch: Arch, t: &Thread) -> Regs {
    let mut r = Regs::new();
    let names: &[&str] = match arch {
        Arch::X86_64 => &[
            "rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11",
            "r12", "r13", "r14", "r15",
        ],
        Arch::I386 => &["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"],
        Arch::Aarch64 => &[
            "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13",
            "x14", "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25",
            "x26", "x27", "x28", "x29", "x30", "sp",
        ],
        _ => &[],
    };
    for (i, n) in names.iter().enumerate() {
        if let Some(v) = t.reg(n) {
            r.set(i as u16, v);
        }
    }
    if let (Some(a), Some(sp)) = (arch_regs(arch), t.sp) {
        r.set(a.sp, sp);
    }
    r
}

/// Where the call-frame information of one module lives.
#[derive(Debug)]
pub(crate) struct Cfi {
    eh_frame: Option<(std::ops::Range<usize>, u64)>,
    eh_frame_hdr: Option<(std::ops::Range<usize>, u64)>,
    /// `.debug_frame`, from the module file or its debug file.
    debug_frame: Option<(bool, SectionData)>,
    text: Option<u64>,
    got: Option<u64>,
    endian: RunTimeEndian,
    address_size: u8,
}

fn section_range(file: &object::File<'_>, name: &str) -> Option<(std::ops::Range<usize>, u64)> {
    let s = file.section_by_name(name)?;
    let (off, len) = s.file_range()?;
    let start = usize::try_from(off).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    Some((start..end, s.address()))
}

impl Module {
    pub(crate) fn cfi(&self) -> Option<&Cfi> {
        self.files
            .cfi
            .get_or_init(|| {
                let elf = self.files.elf.as_ref()?;
                let file = elf.file();
                let endian = if file.is_little_endian() {
                    RunTimeEndian::Little
                } else {
                    RunTimeEndian::Big
                };
                let debug_frame = section_data(file, elf.bytes(), ".debug_frame")
                    .map(|d| (false, d))
                    .or_else(|| {
                        let d = self.files.debug.as_ref()?;
                        section_data(d.file(), d.bytes(), ".debug_frame").map(|s| (true, s))
                    });
                Some(Cfi {
                    eh_frame: section_range(file, ".eh_frame"),
                    eh_frame_hdr: section_range(file, ".eh_frame_hdr"),
                    debug_frame,
                    text: file.section_by_name(".text").map(|s| s.address()),
                    got: file.section_by_name(".got").map(|s| s.address()),
                    endian,
                    address_size: if file.is_64() { 8 } else { 4 },
                })
            })
            .as_ref()
    }

    fn cfi_bytes(&self, range: &std::ops::Range<usize>) -> &[u8] {
        self.files
            .elf
            .as_ref()
            .and_then(|e| e.bytes().get(range.clone()))
            .unwrap_or(&[])
    }

    fn debug_frame_bytes<'s>(&'s self, cfi: &'s Cfi) -> Option<&'s [u8]> {
        let (in_debug, d) = cfi.debug_frame.as_ref()?;
        match d {
            SectionData::Owned(v) => Some(v),
            SectionData::Range(r) => {
                let cell = if *in_debug {
                    self.files.debug.as_ref()?
                } else {
                    self.files.elf.as_ref()?
                };
                cell.bytes().get(r.clone())
            }
        }
    }

    /// Code bytes at a link-time address, from the module file.
    pub(crate) fn code_bytes(&self, vaddr: u64, len: usize) -> Option<&[u8]> {
        let elf = self.files.elf.as_ref()?;
        for seg in elf.file().segments() {
            use object::ObjectSegment;
            let (off, size) = seg.file_range();
            if vaddr >= seg.address() && vaddr - seg.address() < size {
                let o = usize::try_from(off + (vaddr - seg.address())).ok()?;
                return elf.bytes().get(o..o.checked_add(len)?);
            }
        }
        None
    }
}

/// Memory of the process: the core's address space.
pub struct Mem<'a, 'd> {
    pub(crate) space: &'a AddressSpace<'d>,
    pub(crate) word: usize,
}

/// Reads of process memory the unwinder needs.
pub(crate) trait ReadMem {
    /// A pointer-sized word.
    fn word(&self, addr: u64) -> Option<u64>;
    /// `size` bytes (at most a word) as an integer.
    fn sized(&self, addr: u64, size: u8) -> Option<u64>;
}

impl ReadMem for Mem<'_, '_> {
    fn word(&self, addr: u64) -> Option<u64> {
        self.space.read_word(addr, self.word).ok()
    }
    fn sized(&self, addr: u64, size: u8) -> Option<u64> {
        let b = self.space.read(addr, usize::from(size)).ok()?;
        crate::coredump::bytes::word_from(&b, self.space.endian(), usize::from(size))
    }
}

/// Evaluate a DWARF expression to a number (CFI: an address or a value).
pub(crate) fn eval_expr(
    expr: gimli::Expression<EndianSlice<'_, RunTimeEndian>>,
    address_size: u8,
    regs: &Regs,
    mem: &dyn ReadMem,
    initial: Option<u64>,
) -> Option<u64> {
    let enc = gimli::Encoding {
        address_size,
        format: gimli::Format::Dwarf32,
        version: 4,
    };
    let mut e = expr.evaluation(enc);
    if let Some(v) = initial {
        e.set_initial_value(v);
    }
    let mut res = e.evaluate().ok()?;
    for _ in 0..10_000 {
        res = match res {
            gimli::EvaluationResult::Complete => break,
            gimli::EvaluationResult::RequiresMemory { address, size, .. } => {
                let v = mem.sized(address, size)?;
                e.resume_with_memory(gimli::Value::Generic(v)).ok()?
            }
            gimli::EvaluationResult::RequiresRegister { register, .. } => {
                let v = regs.get(register.0)?;
                e.resume_with_register(gimli::Value::Generic(v)).ok()?
            }
            _ => return None,
        };
    }
    let pieces = e.result();
    match pieces.first().map(|p| &p.location) {
        Some(gimli::Location::Address { address }) => Some(*address),
        Some(gimli::Location::Value { value }) => value.to_u64(u64::MAX).ok(),
        Some(gimli::Location::Register { register }) => regs.get(register.0),
        _ => None,
    }
}

type Slice<'a> = EndianSlice<'a, RunTimeEndian>;

/// One CFI step: the caller's registers and whether this frame is a signal
/// trampoline. `pc` is the lookup address (link-time).
pub(crate) struct CfiView<'a> {
    pub(crate) eh_frame: Option<(&'a [u8], u64)>,
    pub(crate) eh_frame_hdr: Option<(&'a [u8], u64)>,
    pub(crate) debug_frame: Option<&'a [u8]>,
    pub(crate) text: Option<u64>,
    pub(crate) got: Option<u64>,
    pub(crate) endian: RunTimeEndian,
    pub(crate) address_size: u8,
    /// Runtime − link-time.
    pub(crate) bias: u64,
}

pub(crate) struct Step {
    pub(crate) regs: Regs,
    pub(crate) pc: u64,
    pub(crate) signal: bool,
}

fn apply_row<'s, S: UnwindSection<Slice<'s>>>(
    section: &S,
    row: &gimli::UnwindTableRow<usize>,
    a: ArchRegs,
    view: &CfiView<'_>,
    regs: &Regs,
    mem: &dyn ReadMem,
) -> Option<(Regs, u64)> {
    let cfa = match row.cfa() {
        CfaRule::RegisterAndOffset { register, offset } => {
            regs.get(register.0)?.wrapping_add_signed(*offset)
        }
        CfaRule::Expression(e) => {
            eval_expr(e.get(section).ok()?, view.address_size, regs, mem, None)?
        }
    };
    let mut out = *regs;
    // Registers the CFI does not mention keep their value if callee-saved, and
    // are unknown if caller-saved; the stack pointer becomes the CFA.
    for &r in a.caller_saved {
        out.unset(r);
    }
    out.set(a.sp, cfa);
    let mut ra_set = false;
    for (reg, rule) in row.registers() {
        let r = reg.0;
        if usize::from(r) >= a.n && r != a.ra {
            continue;
        }
        let v = match rule {
            RegisterRule::Undefined => None,
            RegisterRule::SameValue => regs.get(r),
            RegisterRule::Offset(o) => mem.word(cfa.wrapping_add_signed(*o)),
            RegisterRule::ValOffset(o) => Some(cfa.wrapping_add_signed(*o)),
            RegisterRule::Register(from) => regs.get(from.0),
            RegisterRule::Expression(e) => {
                let addr = eval_expr(
                    e.get(section).ok()?,
                    view.address_size,
                    regs,
                    mem,
                    Some(cfa),
                )?;
                mem.word(addr)
            }
            RegisterRule::ValExpression(e) => eval_expr(
                e.get(section).ok()?,
                view.address_size,
                regs,
                mem,
                Some(cfa),
            ),
            RegisterRule::Constant(c) => Some(*c),
            _ => None,
        };
        if r == a.ra {
            ra_set = true;
        }
        match v {
            Some(v) => out.set(r, v),
            None => out.unset(r),
        }
    }
    // The return address: its column, or (aarch64, no rule) the link register as
    // is. An explicitly undefined return address marks the outermost frame
    // (`_start`, `clone`): 0.
    let ra = if ra_set || a.ra != 30 {
        match out.get(a.ra) {
            Some(v) => v,
            None if matches!(
                row.register(gimli::Register(a.ra)),
                Some(RegisterRule::Undefined)
            ) =>
            {
                0
            }
            None => return None,
        }
    } else {
        regs.get(a.ra)?
    };
    Some((out, ra))
}

pub(crate) fn cfi_step(
    arch: Arch,
    view: &CfiView<'_>,
    lookup: u64,
    regs: &Regs,
    mem: &dyn ReadMem,
    ctx: &mut UnwindContext<usize>,
) -> Option<Step> {
    arch_regs(arch)?;
    apply_cfi_row(arch, view, &cfi_row(view, lookup, ctx), regs, mem)
}

/// The CFI row that covers one address: from `.eh_frame` (through
/// `.eh_frame_hdr` when present), else from `.debug_frame`; with whether its FDE
/// is a signal trampoline's. A function of the module and the address alone, so
/// [`Backtracer`] finds it once per address for all the threads.
#[derive(Clone)]
pub(crate) enum CfiRow {
    Eh(gimli::UnwindTableRow<usize>, bool),
    Debug(gimli::UnwindTableRow<usize>, bool),
    None,
}

fn cfi_bases(view: &CfiView<'_>) -> BaseAddresses {
    let mut bases = BaseAddresses::default();
    if let Some((_, addr)) = view.eh_frame_hdr {
        bases = bases.set_eh_frame_hdr(addr);
    }
    if let Some((_, addr)) = view.eh_frame {
        bases = bases.set_eh_frame(addr);
    }
    if let Some(t) = view.text {
        bases = bases.set_text(t);
    }
    if let Some(g) = view.got {
        bases = bases.set_got(g);
    }
    bases
}

pub(crate) fn cfi_row(view: &CfiView<'_>, lookup: u64, ctx: &mut UnwindContext<usize>) -> CfiRow {
    let link = lookup.wrapping_sub(view.bias);
    let bases = cfi_bases(view);
    if let Some((eh, _)) = view.eh_frame {
        let mut eh_frame = EhFrame::new(eh, view.endian);
        eh_frame.set_address_size(view.address_size);
        let fde = view
            .eh_frame_hdr
            .and_then(|(hdr, _)| {
                let parsed = EhFrameHdr::new(hdr, view.endian)
                    .parse(&bases, view.address_size)
                    .ok()?;
                let table = parsed.table()?;
                table
                    .fde_for_address(&eh_frame, &bases, link, EhFrame::cie_from_offset)
                    .ok()
            })
            .or_else(|| {
                eh_frame
                    .fde_for_address(&bases, link, EhFrame::cie_from_offset)
                    .ok()
            });
        if let Some(fde) = fde
            && let Ok(row) = fde.unwind_info_for_address(&eh_frame, &bases, ctx, link)
        {
            return CfiRow::Eh(row.clone(), fde.is_signal_trampoline());
        }
    }
    if let Some(df) = view.debug_frame {
        let mut debug_frame = DebugFrame::new(df, view.endian);
        debug_frame.set_address_size(view.address_size);
        let Ok(fde) = debug_frame.fde_for_address(&bases, link, DebugFrame::cie_from_offset) else {
            return CfiRow::None;
        };
        let Ok(row) = fde.unwind_info_for_address(&debug_frame, &bases, ctx, link) else {
            return CfiRow::None;
        };
        return CfiRow::Debug(row.clone(), fde.is_signal_trampoline());
    }
    CfiRow::None
}

/// One step of the walk by a CFI row ([`cfi_row`]) of `view`'s module.
pub(crate) fn apply_cfi_row(
    arch: Arch,
    view: &CfiView<'_>,
    row: &CfiRow,
    regs: &Regs,
    mem: &dyn ReadMem,
) -> Option<Step> {
    let a = arch_regs(arch)?;
    let (regs2, ra, signal) = match row {
        CfiRow::Eh(row, signal) => {
            let (eh, _) = view.eh_frame?;
            let mut eh_frame = EhFrame::new(eh, view.endian);
            eh_frame.set_address_size(view.address_size);
            let (r, ra) = apply_row(&eh_frame, row, a, view, regs, mem)?;
            (r, ra, *signal)
        }
        CfiRow::Debug(row, signal) => {
            let df = view.debug_frame?;
            let mut debug_frame = DebugFrame::new(df, view.endian);
            debug_frame.set_address_size(view.address_size);
            let (r, ra) = apply_row(&debug_frame, row, a, view, regs, mem)?;
            (r, ra, *signal)
        }
        CfiRow::None => return None,
    };
    Some(Step {
        regs: regs2,
        pc: ra,
        signal,
    })
}

/// x86_64 `mov $15, %rax; syscall`, i386 `mov $173, %eax; int $0x80`, aarch64
/// `mov x8, #139; svc #0`: the kernel's rt_sigreturn trampolines.
fn is_sigreturn(arch: Arch, code: &[u8]) -> bool {
    match arch {
        Arch::X86_64 => code.starts_with(&[0x48, 0xc7, 0xc0, 0x0f, 0, 0, 0, 0x0f, 0x05]),
        Arch::I386 => code.starts_with(&[0xb8, 0xad, 0, 0, 0, 0xcd, 0x80]),
        Arch::Aarch64 => code.starts_with(&[0x68, 0x11, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4]),
        _ => false,
    }
}

/// Registers of the interrupted code, from the kernel's signal frame at `sp`
/// (the stack pointer in the trampoline frame).
fn signal_context(arch: Arch, sp: u64, mem: &Mem<'_, '_>) -> Option<(Regs, u64)> {
    let mut r = Regs::new();
    match arch {
        Arch::X86_64 => {
            // struct ucontext at sp: uc_flags, uc_link, uc_stack (24), then
            // mcontext gregs: r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip.
            let g = sp + 40;
            let order: [u16; 16] = [8, 9, 10, 11, 12, 13, 14, 15, 5, 4, 6, 3, 1, 0, 2, 7];
            for (i, d) in order.iter().enumerate() {
                r.set(*d, mem.word(g + 8 * i as u64)?);
            }
            let pc = mem.word(g + 8 * 16)?;
            Some((r, pc))
        }
        Arch::Aarch64 => {
            // struct rt_sigframe { siginfo (128); ucontext { uc_flags, uc_link,
            // uc_stack (24), uc_sigmask (8), pad (120), sigcontext @176 } }:
            // sigcontext { fault_address; regs[31]; sp; pc; pstate }.
            let sc = sp + 128 + 176;
            for i in 0..31u16 {
                r.set(i, mem.word(sc + 8 + 8 * u64::from(i))?);
            }
            r.set(31, mem.word(sc + 8 + 8 * 31)?);
            let pc = mem.word(sc + 8 + 8 * 32)?;
            Some((r, pc))
        }
        _ => None,
    }
}

/// A plausible return address: inside an executable mapping of a module, right
/// after a call instruction when the code is available.
fn looks_like_return_address(modules: &Modules, arch: Arch, v: u64) -> bool {
    let Some(m) = modules.module_at(v) else {
        return false;
    };
    if !m
        .mappings
        .iter()
        .any(|mm| mm.executable && v > mm.start && v < mm.end)
    {
        return false;
    }
    let link = m.to_link(v);
    match arch {
        Arch::X86_64 | Arch::I386 => {
            let Some(code) = link.checked_sub(7).and_then(|s| m.code_bytes(s, 7)) else {
                return true;
            };
            // call rel32 (e8), call *r/m (ff /2) of 2, 3, 6 or 7 bytes.
            code[2] == 0xe8
                || (code[5] == 0xff && (code[6] & 0x38) == 0x10)
                || (code[4] == 0xff && (code[5] & 0x38) == 0x10)
                || (code[1] == 0xff && (code[2] & 0x38) == 0x10)
                || (code[0] == 0xff && (code[1] & 0x38) == 0x10)
        }
        Arch::Aarch64 => {
            let Some(code) = link.checked_sub(4).and_then(|s| m.code_bytes(s, 4)) else {
                return true;
            };
            let i = u32::from_le_bytes([code[0], code[1], code[2], code[3]]);
            // bl imm26, blr xN (and its PAC forms blraa/blrab...).
            (i & 0xfc00_0000) == 0x9400_0000
                || (i & 0xfefff800) == 0xd63f0800
                || (i & 0xfffffc1f) == 0xd63f0000
        }
        _ => true,
    }
}

fn strip_pac(arch: Arch, v: u64) -> u64 {
    if arch == Arch::Aarch64 && v >> 48 != 0 && v >> 48 != 0xffff {
        v & 0x0000_ffff_ffff_ffff
    } else {
        v
    }
}

/// Walk one thread's stack: raw frames, innermost first.
pub fn unwind_raw(
    space: &AddressSpace<'_>,
    modules: &Modules,
    arch: Arch,
    t: &Thread,
) -> (Vec<RawFrame>, Option<String>) {
    unwind_raw_with(space, modules, arch, t, None)
}

/// [`unwind_raw`], with the CFI rows found kept in `rows` (by address) for the
/// next walks.
fn unwind_raw_with(
    space: &AddressSpace<'_>,
    modules: &Modules,
    arch: Arch,
    t: &Thread,
    mut rows: Option<&mut std::collections::HashMap<u64, CfiRow>>,
) -> (Vec<RawFrame>, Option<String>) {
    let mut frames = Vec::new();
    let Some(a) = arch_regs(arch) else {
        return (
            frames,
            Some(format!("unwinding {} is not supported", arch.name())),
        );
    };
    let Some(pc0) = t.pc else {
        return (frames, Some("the thread has no registers".into()));
    };
    let mem = Mem {
        space,
        word: a.word,
    };
    let mut regs = initial_regs(arch, t);
    let mut pc = pc0;
    let mut source = FrameSource::Context;
    let mut is_ra = false;
    let mut ctx = Box::new(UnwindContext::<usize>::new());
    let mut stopped = None;
    let main = modules
        .executable()
        .and_then(|m| m.find_symbol("main"))
        .filter(|s| s.size > 0)
        .map(|s| (s.address, s.address + s.size));
    while frames.len() < MAX_FRAMES {
        let Some(sp) = regs.get(a.sp) else {
            stopped = Some("stack pointer unknown".into());
            break;
        };
        let idx = frames.len();
        frames.push(RawFrame {
            pc,
            sp,
            source,
            signal_trampoline: false,
            is_return_address: is_ra,
            regs,
        });
        let lookup = frames[idx].lookup_pc();
        let module = modules.module_at(lookup);
        // 1. CFI.
        let mut next: Option<(Regs, u64, FrameSource, bool)> = None;
        if let Some(m) = module
            && let Some(cfi) = m.cfi()
        {
            let view = CfiView {
                eh_frame: cfi.eh_frame.as_ref().map(|(r, a)| (m.cfi_bytes(r), *a)),
                eh_frame_hdr: cfi.eh_frame_hdr.as_ref().map(|(r, a)| (m.cfi_bytes(r), *a)),
                debug_frame: m.debug_frame_bytes(cfi),
                text: cfi.text,
                got: cfi.got,
                endian: cfi.endian,
                address_size: cfi.address_size,
                bias: m.bias,
            };
            let step = match rows.as_deref_mut() {
                Some(memo) => {
                    let row = memo
                        .entry(lookup)
                        .or_insert_with(|| cfi_row(&view, lookup, &mut ctx));
                    apply_cfi_row(arch, &view, row, &regs, &mem)
                }
                None => cfi_step(arch, &view, lookup, &regs, &mem, &mut ctx),
            };
            if let Some(s) = step {
                next = Some((s.regs, s.pc, FrameSource::Cfi, s.signal));
            }
        }
        // 2. The sigreturn trampoline without CFI.
        if next.is_none() {
            let code = space.read(pc, 9).ok().map(|c| c.into_owned()).or_else(|| {
                module
                    .and_then(|m| m.code_bytes(m.to_link(pc), 9))
                    .map(<[u8]>::to_vec)
            });
            if code.is_some_and(|c| is_sigreturn(arch, &c))
                && let Some((r, p)) = signal_context(arch, sp, &mem)
            {
                next = Some((r, p, FrameSource::SignalContext, true));
            }
        }
        // 3. Frame 0 in no code (a call through a bad pointer).
        if next.is_none()
            && idx == 0
            && !module.is_some_and(|m| {
                m.mappings
                    .iter()
                    .any(|x| x.executable && x.start <= pc && pc < x.end)
            })
        {
            match arch {
                Arch::X86_64 | Arch::I386 => {
                    if let Some(ra) = mem.word(sp) {
                        let mut r = regs;
                        r.set(a.sp, sp + a.word as u64);
                        next = Some((r, ra, FrameSource::LinkRegister, false));
                    }
                }
                Arch::Aarch64 => {
                    if let Some(lr) = regs.get(30) {
                        next = Some((regs, lr, FrameSource::LinkRegister, false));
                    }
                }
                _ => {}
            }
        }
        // 4. x86 without CFI: the function's prologue says where the return
        // address is (at its entry or right after `push %rbp`), and whether %rbp
        // is a frame pointer at all.
        let mut fp_ok = true;
        if next.is_none()
            && matches!(arch, Arch::X86_64 | Arch::I386)
            && let Some(m) = module
            && let Some((_, start, _)) = m.symbol_for(m.to_link(lookup), true)
            && let Some(code) = m.code_bytes(start, 8)
        {
            let link_pc = m.to_link(pc);
            let endbr = usize::from(code.starts_with(&[0xf3, 0x0f, 0x1e])) * 4;
            let mov: &[u8] = if arch == Arch::X86_64 {
                &[0x48, 0x89, 0xe5]
            } else {
                &[0x89, 0xe5]
            };
            let push_at = start + endbr as u64;
            let has_fp = code.get(endbr) == Some(&0x55) && code[endbr + 1..].starts_with(mov);
            fp_ok = has_fp;
            let w = a.word as u64;
            if has_fp && link_pc <= push_at {
                if let Some(ra) = mem.word(sp) {
                    let mut r = regs;
                    r.set(a.sp, sp + w);
                    next = Some((r, ra, FrameSource::FramePointer, false));
                }
            } else if has_fp
                && link_pc == push_at + 1
                && let Some(ra) = mem.word(sp + w)
            {
                let mut r = regs;
                if let Some(fp) = mem.word(sp) {
                    r.set(a.fp, fp);
                }
                r.set(a.sp, sp + 2 * w);
                next = Some((r, ra, FrameSource::FramePointer, false));
            }
        }
        // 5. Frame pointers.
        if next.is_none()
            && fp_ok
            && let Some(fp) = regs.get(a.fp)
            && fp >= sp
            && fp - sp < (1 << 24)
            && let (Some(prev_fp), Some(ra)) = (mem.word(fp), mem.word(fp + a.word as u64))
            && looks_like_return_address(modules, arch, strip_pac(arch, ra))
        {
            let mut r = Regs::new();
            r.set(a.fp, prev_fp);
            r.set(a.sp, fp + 2 * a.word as u64);
            next = Some((r, ra, FrameSource::FramePointer, false));
        }
        // 6. Scan.
        if next.is_none() {
            let start = sp;
            for i in 0..SCAN_WORDS {
                let addr = start + i * a.word as u64;
                let Some(v) = mem.word(addr) else { break };
                if looks_like_return_address(modules, arch, strip_pac(arch, v)) {
                    let mut r = Regs::new();
                    r.set(a.sp, addr + a.word as u64);
                    if let Some(fp) = regs.get(a.fp) {
                        r.set(a.fp, fp);
                    }
                    next = Some((r, v, FrameSource::Scan, false));
                    break;
                }
            }
        }
        let Some((new_regs, new_pc, src, signal)) = next else {
            break;
        };
        // Like gdb (`backtrace past-main off`): the frames that call main are
        // the C runtime's, not the program's.
        if main.is_some_and(|(lo, hi)| lookup >= lo && lookup < hi) {
            break;
        }
        let new_pc = strip_pac(arch, new_pc);
        if signal {
            frames[idx].signal_trampoline = true;
        }
        if new_pc == 0 {
            break;
        }
        let Some(new_sp) = new_regs.get(a.sp) else {
            stopped = Some("stack pointer lost".into());
            break;
        };
        // The stack grows down: callers are at higher addresses. A signal frame
        // may move to another stack (sigaltstack).
        if !signal && (new_sp < sp || (new_sp == sp && new_pc == pc)) {
            stopped = Some(format!(
                "the stack pointer went backwards at frame {idx} ({new_sp:#x} < {sp:#x})"
            ));
            break;
        }
        regs = new_regs;
        pc = new_pc;
        source = src;
        is_ra = !signal;
    }
    if frames.len() >= MAX_FRAMES {
        stopped = Some(format!("more than {MAX_FRAMES} frames"));
    }
    (frames, stopped)
}

/// Symbolize raw frames: module + offset, and with DWARF one entry per inlined
/// function too.
pub fn symbolize_frames(modules: &Modules, raw: &[RawFrame], detail: Detail) -> Vec<Frame> {
    let mut out = Vec::with_capacity(raw.len());
    for f in raw {
        let lookup = f.lookup_pc();
        let m = modules.module_at(lookup);
        let base = Frame {
            pc: f.pc,
            module: m.map(|m| m.name.clone()),
            offset: m.map(|m| m.to_link(f.pc)),
            function: None,
            file: None,
            line: None,
            inlined: false,
            source: f.source,
            signal_trampoline: f.signal_trampoline,
        };
        let mut sf = m
            .map(|m| m.source_frames(m.to_link(lookup), detail))
            .unwrap_or_default();
        if f.source == FrameSource::TailCall {
            // As gdb shows them: the innermost function at the jump, one frame.
            sf.truncate(1);
            if let Some(x) = sf.first_mut() {
                x.inlined = false;
            }
        }
        if sf.is_empty() {
            out.push(base);
            continue;
        }
        for s in sf {
            out.push(Frame {
                function: s.function,
                file: s.file,
                line: s.line,
                inlined: s.inlined,
                ..base.clone()
            });
        }
    }
    out
}

/// Insert the frames of functions that tail-called (see `tailcall.rs`).
pub fn with_tail_calls(modules: &Modules, raw: Vec<RawFrame>) -> Vec<RawFrame> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, f) in raw.iter().enumerate() {
        out.push(*f);
        let Some(caller) = raw.get(i + 1) else { break };
        if !caller.is_return_address || f.signal_trampoline {
            continue;
        }
        let lookup = f.lookup_pc();
        for pc in super::tailcall::missing_tail_calls(modules, lookup, caller.pc) {
            out.push(RawFrame {
                pc,
                sp: caller.sp,
                source: FrameSource::TailCall,
                signal_trampoline: false,
                is_return_address: true,
                regs: Regs::new(),
            });
        }
    }
    out
}

/// The backtrace of one thread.
pub fn backtrace(
    space: &AddressSpace<'_>,
    modules: &Modules,
    arch: Arch,
    t: &Thread,
    detail: Detail,
) -> Backtrace {
    let (mut raw, stopped) = unwind_raw(space, modules, arch, t);
    if detail.dwarf {
        raw = with_tail_calls(modules, raw);
    }
    Backtrace {
        tid: t.tid,
        frames: symbolize_frames(modules, &raw, detail),
        stopped,
    }
}

/// What the symbolized frames of a walk depend on, per raw frame: the tail calls
/// found between two frames ([`with_tail_calls`]) and each frame's symbols
/// ([`symbolize_frames`]) are functions of these and of the modules alone.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct FrameKey {
    pc: u64,
    source: FrameSource,
    signal_trampoline: bool,
    is_return_address: bool,
}

/// One thread's walk: its raw frames, and why it stopped early when it did.
type Walk = (Vec<RawFrame>, Option<String>);

/// Backtraces of many threads of one core, sharing the symbolization: each thread's
/// stack is walked (their stacks differ), but threads stopped at the same places —
/// a pool of 1 000 idle workers has a handful of distinct walks — have their tail
/// calls found and their frames symbolized once, not once per thread. Gives the
/// same frames as [`backtrace`].
pub struct Backtracer<'m> {
    modules: &'m Modules,
    detail: Detail,
    memo: std::collections::HashMap<Vec<FrameKey>, Vec<Frame>>,
    /// CFI rows by address ([`cfi_row`]).
    rows: std::collections::HashMap<u64, CfiRow>,
    /// Walks done ahead ([`Backtracer::walk_ahead`]), by thread id (`None` when
    /// two threads have that id).
    walked: std::collections::HashMap<u32, Option<Walk>>,
}

impl<'m> Backtracer<'m> {
    pub fn new(modules: &'m Modules, detail: Detail) -> Self {
        Backtracer {
            modules,
            detail,
            memo: std::collections::HashMap::new(),
            rows: std::collections::HashMap::new(),
            walked: std::collections::HashMap::new(),
        }
    }

    /// Walk the stacks of `threads` now, before their frames are asked
    /// ([`Backtracer::frames`] takes these walks instead of walking again), and
    /// give the code addresses their frames will be symbolized at (a return
    /// address less one): what [`Modules::limit_read_ahead`] needs.
    pub fn walk_ahead(
        &mut self,
        space: &AddressSpace<'_>,
        arch: Arch,
        threads: &[Thread],
    ) -> Vec<u64> {
        let mut addrs = Vec::new();
        for t in threads {
            let walk = unwind_raw_with(space, self.modules, arch, t, Some(&mut self.rows));
            addrs.extend(walk.0.iter().map(RawFrame::lookup_pc));
            self.walked
                .entry(t.tid)
                .and_modify(|w| *w = None)
                .or_insert(Some(walk));
        }
        addrs
    }

    /// `t`'s symbolized frames, and why the walk stopped early when it did (the
    /// `frames` and `stopped` of [`backtrace`]).
    pub fn frames(
        &mut self,
        space: &AddressSpace<'_>,
        arch: Arch,
        t: &Thread,
    ) -> (&[Frame], Option<String>) {
        let (raw, stopped) = match self.walked.get_mut(&t.tid).and_then(Option::take) {
            Some(w) => w,
            None => unwind_raw_with(space, self.modules, arch, t, Some(&mut self.rows)),
        };
        let key: Vec<FrameKey> = raw
            .iter()
            .map(|f| FrameKey {
                pc: f.pc,
                source: f.source,
                signal_trampoline: f.signal_trampoline,
                is_return_address: f.is_return_address,
            })
            .collect();
        let (modules, detail) = (self.modules, self.detail);
        let frames = self.memo.entry(key).or_insert_with(|| {
            let raw = if detail.dwarf {
                with_tail_calls(modules, raw)
            } else {
                raw
            };
            symbolize_frames(modules, &raw, detail)
        });
        (frames, stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gimli::write::{
        Address, CallFrameInstruction, CommonInformationEntry, EndianVec, FrameDescriptionEntry,
        FrameTable,
    };
    use std::collections::HashMap;

    struct FakeMem(HashMap<u64, u64>);
    impl ReadMem for FakeMem {
        fn word(&self, addr: u64) -> Option<u64> {
            self.0.get(&addr).copied()
        }
        fn sized(&self, addr: u64, _size: u8) -> Option<u64> {
            self.word(addr)
        }
    }

    /// aarch64: `stp x29, x30, [sp, #-32]!; mov x29, sp` at 0x1000, described by
    /// CFI as GCC does; one step must give the caller's pc, sp and x29.
    #[test]
    fn aarch64_cfi_step_on_a_synthetic_stack() {
        let enc = gimli::Encoding {
            address_size: 8,
            format: gimli::Format::Dwarf32,
            version: 1,
        };
        let mut cie = CommonInformationEntry::new(enc, 4, -8, gimli::Register(30));
        cie.add_instruction(CallFrameInstruction::Cfa(gimli::Register(31), 0));
        let mut table = FrameTable::default();
        let cie_id = table.add_cie(cie);
        let mut fde = FrameDescriptionEntry::new(Address::Constant(0x1000), 0x100);
        fde.add_instruction(4, CallFrameInstruction::CfaOffset(32));
        fde.add_instruction(4, CallFrameInstruction::Offset(gimli::Register(29), -32));
        fde.add_instruction(4, CallFrameInstruction::Offset(gimli::Register(30), -24));
        fde.add_instruction(8, CallFrameInstruction::CfaRegister(gimli::Register(29)));
        table.add_fde(cie_id, fde);
        let mut eh = gimli::write::EhFrame(EndianVec::new(gimli::LittleEndian));
        table.write_eh_frame(&mut eh).unwrap();
        let bytes = eh.0.into_vec();

        let bias = 0x5500_0000_0000;
        let view = CfiView {
            eh_frame: Some((&bytes, 0)),
            eh_frame_hdr: None,
            debug_frame: None,
            text: None,
            got: None,
            endian: RunTimeEndian::Little,
            address_size: 8,
            bias,
        };
        let sp = 0x7fff_0000_8000u64;
        let mut regs = Regs::new();
        regs.set(31, sp);
        regs.set(29, sp);
        regs.set(30, 0xdead); // clobbered since the prologue: must not be used
        regs.set(0, 42); // caller-saved: unknown in the caller
        let mut mem = HashMap::new();
        mem.insert(sp, 0x7fff_0000_8100); // saved x29
        mem.insert(sp + 8, bias + 0x2044); // saved x30
        let mem = FakeMem(mem);
        let mut ctx = UnwindContext::new();
        let pc = bias + 0x1040;
        let step = cfi_step(Arch::Aarch64, &view, pc, &regs, &mem, &mut ctx).unwrap();
        assert_eq!(step.pc, bias + 0x2044);
        assert_eq!(step.regs.get(31), Some(sp + 32));
        assert_eq!(step.regs.get(29), Some(0x7fff_0000_8100));
        assert_eq!(step.regs.get(0), None);
        assert!(!step.signal);
        // Before the prologue (at the entry), the return address is still in x30.
        let mut at_entry = Regs::new();
        at_entry.set(31, sp);
        at_entry.set(30, bias + 0x3000);
        let step = cfi_step(
            Arch::Aarch64,
            &view,
            bias + 0x1000,
            &at_entry,
            &mem,
            &mut ctx,
        )
        .unwrap();
        assert_eq!(step.pc, bias + 0x3000);
        assert_eq!(step.regs.get(31), Some(sp));
        // No FDE covers the address: no step.
        assert!(cfi_step(Arch::Aarch64, &view, bias + 0x5000, &regs, &mem, &mut ctx).is_none());
    }

    #[test]
    fn sigreturn_trampolines_are_recognised() {
        assert!(is_sigreturn(
            Arch::X86_64,
            &[0x48, 0xc7, 0xc0, 0x0f, 0, 0, 0, 0x0f, 0x05]
        ));
        assert!(is_sigreturn(
            Arch::Aarch64,
            &[0x68, 0x11, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4]
        ));
        assert!(!is_sigreturn(Arch::X86_64, &[0x90; 9]));
    }
}
