//! Solaris / illumos cores: recognised by their notes (NT_PSTATUS, NT_PSINFO,
//! NT_LWPSTATUS, NT_LWPSINFO); `EI_OSABI` is left 0 by the Solaris kernel.
//! Layouts (`sys/procfs.h`, `sys/regset.h`, `sys/elf.h`) are in
//! `docs/layouts.md`; offsets are the same for the kernel and gcore(1).
//!
//! A Solaris core names no mapping and carries no shared-memory flag: the mapping
//! model says so and infers what it can (brk heap, stacks).

use serde::Serialize;

use super::bytes::Bytes;
use super::*;

pub const NT_PLATFORM: u32 = 5;
pub const NT_PSTATUS: u32 = 10;
pub const NT_PSINFO: u32 = 13;
pub const NT_PRCRED: u32 = 14;
pub const NT_UTSNAME: u32 = 15;
pub const NT_LWPSTATUS: u32 = 16;
pub const NT_LWPSINFO: u32 = 17;
pub const NT_CONTENT: u32 = 20;
pub const NT_ZONENAME: u32 = 21;
pub const NT_LWPNAME: u32 = 25;

/// Syscall numbers that matter for locks (`sys/syscall.h`, same in S06 and illumos).
pub const SYS_LWP_PARK: u64 = 77;
pub const SYS_LWP_MUTEX_TIMEDLOCK: u64 = 210;
pub const SYS_LWP_MUTEX_WAKEUP: u64 = 168;

/// Facts only a Solaris core has.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SolarisInfo {
    pub platform: Option<String>,
    pub uname: Option<String>,
    pub zone: Option<String>,
    /// `NT_CONTENT`: the `CC_CONTENT_*` bits that were in force.
    pub content: Option<u64>,
    pub brk_base: Option<u64>,
    pub brk_size: Option<u64>,
    pub stack_base: Option<u64>,
    pub stack_size: Option<u64>,
    /// `psinfo.pr_wstat == 0`: written by gcore(1) rather than by a fatal signal.
    pub gcore: bool,
    /// `psinfo.pr_wstat` (or the old `prpsinfo.pr_wstat`).
    pub wstat: Option<u32>,
    /// `pstatus.pr_dmodel`: 1 = ILP32, 2 = LP64. A `char` followed by three pad
    /// bytes (`char pr_dmodel; char pr_pad[3];`), so one byte on either endianness.
    pub data_model: Option<u8>,
    /// `NT_LWPNAME` notes (illumos): (LWP id, name).
    pub lwp_names: Vec<(u32, String)>,
    /// The core has only the old-style notes (`NT_PRSTATUS`, `NT_PRPSINFO`).
    pub old_notes_only: bool,
}

pub(super) fn note_name(t: u32) -> Option<&'static str> {
    Some(match t {
        1 => "NT_PRSTATUS",
        2 => "NT_PRFPREG",
        3 => "NT_PRPSINFO",
        4 => "NT_PRXREG",
        NT_PLATFORM => "NT_PLATFORM",
        6 => "NT_AUXV",
        7 => "NT_GWINDOWS",
        8 => "NT_ASRS",
        9 => "NT_LDT",
        NT_PSTATUS => "NT_PSTATUS",
        NT_PSINFO => "NT_PSINFO",
        NT_PRCRED => "NT_PRCRED",
        NT_UTSNAME => "NT_UTSNAME",
        NT_LWPSTATUS => "NT_LWPSTATUS",
        NT_LWPSINFO => "NT_LWPSINFO",
        18 => "NT_PRPRIV",
        19 => "NT_PRPRIVINFO",
        NT_CONTENT => "NT_CONTENT",
        NT_ZONENAME => "NT_ZONENAME",
        22 => "NT_FDINFO",
        23 => "NT_SPYMASTER",
        24 => "NT_SECFLAGS",
        NT_LWPNAME => "NT_LWPNAME",
        26 => "NT_UPANIC",
        27 => "NT_CWD",
        _ => return None,
    })
}

static AMD64_REGS: &[&str] = &[
    "r15", "r14", "r13", "r12", "r11", "r10", "r9", "r8", "rdi", "rsi", "rbp", "rbx", "rdx", "rcx",
    "rax", "trapno", "err", "rip", "cs", "rfl", "rsp", "ss", "fs", "gs", "es", "ds", "fsbase",
    "gsbase",
];
static I386_REGS: &[&str] = &[
    "gs", "fs", "es", "ds", "edi", "esi", "ebp", "esp", "ebx", "edx", "ecx", "eax", "trapno",
    "err", "eip", "cs", "efl", "uesp", "ss",
];
/// sparcv9 `prgregset_t` (`long` each): 32 = CCR, 36 = ASI, 37 = FPRS.
static SPARCV9_REGS: &[&str] = &[
    "g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7", "o0", "o1", "o2", "o3", "o4", "o5", "o6", "o7",
    "l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "i0", "i1", "i2", "i3", "i4", "i5", "i6", "i7",
    "ccr", "pc", "npc", "y", "asi", "fprs",
];
/// sparc (V8, 32-bit) `prgregset_t` (`int` each): 32 = PSR, 36 = WIM, 37 = TBR.
static SPARC32_REGS: &[&str] = &[
    "g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7", "o0", "o1", "o2", "o3", "o4", "o5", "o6", "o7",
    "l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "i0", "i1", "i2", "i3", "i4", "i5", "i6", "i7",
    "psr", "pc", "npc", "y", "wim", "tbr",
];

/// (names, pc, sp, thread pointer) of the Solaris gregset for an architecture.
/// The register width is the data model's word (8 on amd64/sparcv9, 4 on
/// i386/sparc), which `LwpLayout::word` carries.
fn regset(arch: Arch) -> Option<(&'static [&'static str], usize, usize, Option<usize>)> {
    Some(match arch {
        Arch::X86_64 => (AMD64_REGS, 17, 20, Some(26)),
        Arch::I386 => (I386_REGS, 14, 17, None),
        Arch::Sparc64 => (SPARCV9_REGS, 33, 14, Some(7)),
        Arch::Sparc => (SPARC32_REGS, 33, 14, Some(7)),
        _ => return None,
    })
}

/// Offsets inside `lwpstatus_t` (or the old `prstatus_t`) for one data model.
struct LwpLayout {
    lwpid: usize,
    cursig: usize,
    /// `pr_info` (siginfo_t): si_signo at +0, si_code at +4, si_errno at +8.
    info: usize,
    /// `pr_info.si_addr`, absolute.
    si_addr: usize,
    syscall: usize,
    sysarg: usize,
    reg: usize,
    word: usize,
}

/// `lwpstatus_t`, LP64 (amd64, sparcv9); `sys/procfs.h`.
const LWP_LP64: LwpLayout = LwpLayout {
    lwpid: 4,
    cursig: 12,
    info: 16,
    si_addr: 32,
    syscall: 368,
    sysarg: 376,
    reg: 544,
    word: 8,
};
/// `lwpstatus_t`, ILP32 (i386, sparc).
const LWP_ILP32: LwpLayout = LwpLayout {
    lwpid: 4,
    cursig: 12,
    info: 16,
    si_addr: 28,
    syscall: 224,
    sysarg: 232,
    reg: 344,
    word: 4,
};
/// The old `prstatus_t` (`sys/old_procfs.h`) of the first PT_NOTE, LP64: pr_who
/// (the LWP id) at 520, pr_cursig 264, pr_info 8, pr_syscall 448, pr_sysarg 456,
/// pr_reg 600; pid/ppid/pgrp/sid at 360..372, brkbase/brksize/stkbase/stksize
/// at 552..576.
const OLD_LP64: LwpLayout = LwpLayout {
    lwpid: 520,
    cursig: 264,
    info: 8,
    si_addr: 24,
    syscall: 448,
    sysarg: 456,
    reg: 600,
    word: 8,
};
/// The old `prstatus_t`, ILP32 (also `prstatus32_t` of a 32-bit process on a
/// 64-bit kernel): pr_who 308, pr_cursig 136, pr_info 8, pr_syscall 272,
/// pr_sysarg 276, pr_reg 356; pid.. at 216..228, brkbase.. at 332..344.
const OLD_ILP32: LwpLayout = LwpLayout {
    lwpid: 308,
    cursig: 136,
    info: 8,
    si_addr: 20,
    syscall: 272,
    sysarg: 276,
    reg: 356,
    word: 4,
};

/// Old `prstatus_t` process fields: (pid, brkbase) offsets; ppid, pgrp and sid
/// follow pid, brksize, stkbase and stksize follow brkbase, one word each.
fn old_prstatus_process(is64: bool) -> (usize, usize) {
    if is64 { (360, 552) } else { (216, 332) }
}

fn syscall_name(nr: u64) -> Option<&'static str> {
    Some(match nr {
        3 => "read",
        4 => "write",
        29 => "pause",
        52 => "shmsys",
        SYS_LWP_PARK => "lwp_park",
        160 => "lwp_exit",
        167 => "lwp_wait",
        SYS_LWP_MUTEX_WAKEUP => "lwp_mutex_wakeup",
        170 => "lwp_cond_wait",
        171 => "lwp_cond_signal",
        172 => "lwp_cond_broadcast",
        183 => "pollsys",
        199 => "nanosleep",
        SYS_LWP_MUTEX_TIMEDLOCK => "lwp_mutex_timedlock",
        211 => "lwp_sema_timedwait",
        212 => "lwp_rwlock_sys",
        250 => "lwp_mutex_unlock",
        251 => "lwp_mutex_trylock",
        _ => return None,
    })
}

fn parse_lwpstatus(arch: Arch, l: &LwpLayout, d: Bytes<'_>) -> Option<Thread> {
    // The whole register set must be there for the note to count as a status.
    let nregs = regset(arch).map_or(0, |r| r.0.len());
    if d.len() < l.reg + nregs * l.word {
        return None;
    }
    let tid = d.u32(l.lwpid)?;
    let cursig = d.u16(l.cursig).map(u32::from).unwrap_or(0);
    let signo = d.u32(l.info).unwrap_or(0);
    let code = d.i32(l.info + 4).unwrap_or(0);
    let mut t = Thread {
        cursig,
        signo,
        code,
        ..Thread::new(tid)
    };
    if let Some((names, pc, sp, tp)) = regset(arch) {
        let mut regs = Vec::with_capacity(names.len());
        for i in 0..names.len() {
            match d.word(l.reg + i * l.word, l.word) {
                Some(v) => regs.push(v),
                None => break,
            }
        }
        if regs.len() == names.len() {
            t.pc = regs.get(pc).copied();
            t.sp = regs.get(sp).copied();
            // SPARC V9 keeps %o6 biased by STACK_BIAS (2047) in 64-bit code: an odd
            // %o6 is the real stack pointer minus 2047.
            if arch == Arch::Sparc64
                && let Some(v) = t.sp
                && v & 1 == 1
            {
                t.sp = Some(v.wrapping_add(2047));
            }
            t.thread_pointer = tp.and_then(|i| regs.get(i).copied());
            t.reg_names = names;
            t.regs = regs;
        }
    }
    let nr = d.u16(l.syscall).map(u64::from).unwrap_or(0);
    if nr != 0 {
        let mut args = [0u64; 6];
        for (i, a) in args.iter_mut().enumerate() {
            *a = d.word(l.sysarg + i * l.word, l.word).unwrap_or(0);
        }
        t.syscall = Some(Syscall {
            number: nr,
            name: syscall_name(nr),
            args,
            confidence: syscall::Confidence::Certain,
        });
    }
    Some(t)
}

/// The signal an LWP status (at `base` inside `d`) carries, if any.
fn lwp_signal(l: &LwpLayout, d: Bytes<'_>, base: usize) -> Option<SigInfo> {
    let cursig = d.u16(base + l.cursig).map(u32::from).unwrap_or(0);
    let signo = d.u32(base + l.info).unwrap_or(0);
    if cursig == 0 && signo == 0 {
        return None;
    }
    let code = d.i32(base + l.info + 4).unwrap_or(0);
    let errno = d.i32(base + l.info + 8).unwrap_or(0);
    // SIGILL 4, SIGTRAP 5, SIGEMT 7, SIGFPE 8, SIGBUS 10, SIGSEGV 11 raised by a
    // fault (si_code > 0) carry the faulting address.
    let fault = matches!(signo, 4 | 5 | 7 | 8 | 10 | 11) && code > 0;
    Some(SigInfo {
        signo: if signo != 0 { signo } else { cursig },
        errno,
        code,
        addr: if fault {
            d.word(base + l.si_addr, l.word)
        } else {
            None
        },
        sender_pid: None,
        sender_uid: None,
    })
}

pub(super) fn apply_notes(core: &mut Core<'_>, notes: &[Note<'_>]) {
    let is64 = core.is64;
    let endian = core.endian;
    let arch = core.arch;
    let lwp_layout = if is64 { &LWP_LP64 } else { &LWP_ILP32 };
    let old_layout = if is64 { &OLD_LP64 } else { &OLD_ILP32 };
    let w = if is64 { 8 } else { 4 };
    let mut info = SolarisInfo::default();
    let mut rep_lwp: Option<u32> = None;
    let mut rep_sig: Option<SigInfo> = None;
    let mut lwpsinfo_ids = Vec::new();
    let mut old_threads: Vec<Thread> = Vec::new();
    let mut old_sig: Option<(u32, SigInfo)> = None;
    let mut old_process: Option<ProcessInfo> = None;
    let mut old_areas: Option<[Option<u64>; 4]> = None;
    let mut old_wstat: Option<u32> = None;
    let mut wstat: Option<u32> = None;
    let (mut have_psinfo, mut have_pstatus) = (false, false);
    let mut old_auxv: Vec<(u64, u64)> = Vec::new();
    for n in notes {
        if !(n.owner == b"CORE\0" || n.owner == b"CORE") {
            continue;
        }
        let d = Bytes::new(n.desc, endian);
        match n.n_type {
            NT_PSTATUS => {
                have_pstatus = true;
                let mut p = core.process.take().unwrap_or_default();
                p.pid = d.u32(8).or(p.pid);
                p.ppid = d.u32(12).or(p.ppid);
                p.pgrp = d.u32(16).or(p.pgrp);
                p.sid = d.u32(20).or(p.sid);
                core.process = Some(p);
                info.brk_base = d.word(48, w);
                info.brk_size = d.word(48 + w, w);
                let stk = if is64 { 64 } else { 56 };
                info.stack_base = d.word(stk, w);
                info.stack_size = d.word(stk + w, w);
                info.data_model = d.u8(if is64 { 304 } else { 256 });
                // pr_lwp: the representative LWP (the one that took the signal).
                let lwp = if is64 { 384 } else { 336 };
                rep_lwp = d.u32(lwp + lwp_layout.lwpid);
                rep_sig = lwp_signal(lwp_layout, d, lwp);
            }
            NT_PSINFO => {
                have_psinfo = true;
                let mut p = core.process.take().unwrap_or_default();
                p.pid = p.pid.or(d.u32(8));
                p.ppid = p.ppid.or(d.u32(12));
                p.uid = d.u32(24);
                p.gid = d.u32(32);
                let (fname, psargs, ws) = if is64 {
                    (136, 152, 232)
                } else {
                    (88, 104, 184)
                };
                p.fname = d.cstr(fname, 16);
                p.psargs = d.cstr(psargs, 80);
                wstat = d.u32(ws);
                core.process = Some(p);
            }
            NT_LWPSTATUS => {
                if core.threads.len() >= MAX_THREADS {
                    continue;
                }
                match parse_lwpstatus(arch, lwp_layout, d) {
                    Some(t) => core.threads.push(t),
                    None => core.warnings.push(Warning::new(
                        "bad-note",
                        format!("NT_LWPSTATUS of {} bytes is too short", d.len()),
                    )),
                }
            }
            NT_LWPSINFO => {
                if let Some(id) = d.u32(4) {
                    lwpsinfo_ids.push(id);
                }
            }
            NT_LWPNAME => {
                // prlwpname_t { uint64_t pr_lwpid; char pr_lwpname[32]; }
                if let (Some(id), Some(name)) = (d.u64(0), d.cstr(8, 32))
                    && info.lwp_names.len() < MAX_THREADS
                    && !name.is_empty()
                {
                    info.lwp_names.push((id as u32, name));
                }
            }
            NT_PRSTATUS => {
                // Old-style notes (first PT_NOTE): used only when the new ones are
                // missing (cores from before Solaris 2.6, or a lost second segment).
                if old_threads.len() >= MAX_THREADS {
                    continue;
                }
                if let Some(t) = parse_lwpstatus(arch, old_layout, d) {
                    if old_areas.is_none() {
                        let (pid, brk) = old_prstatus_process(is64);
                        let p = old_process.get_or_insert_with(ProcessInfo::default);
                        p.pid = p.pid.or(d.u32(pid));
                        p.ppid = p.ppid.or(d.u32(pid + 4));
                        p.pgrp = p.pgrp.or(d.u32(pid + 8));
                        p.sid = p.sid.or(d.u32(pid + 12));
                        old_areas = Some([
                            d.word(brk, w),
                            d.word(brk + w, w),
                            d.word(brk + 2 * w, w),
                            d.word(brk + 3 * w, w),
                        ]);
                    }
                    if old_sig.is_none()
                        && let Some(s) = lwp_signal(old_layout, d, 0)
                    {
                        old_sig = Some((t.tid, s));
                    }
                    old_threads.push(t);
                } else {
                    core.warnings.push(Warning::new(
                        "bad-note",
                        format!("old-style NT_PRSTATUS of {} bytes is too short", d.len()),
                    ));
                }
            }
            NT_PRPSINFO => {
                // Old prpsinfo_t: uid 8, gid 12, pid 16, ppid 20, pgrp 24, sid 28;
                // fname/psargs/wstat at 120/136/280 (LP64) or 84/100/212 (ILP32).
                let (fname, psargs, ws) = if is64 {
                    (120, 136, 280)
                } else {
                    (84, 100, 212)
                };
                let p = old_process.get_or_insert_with(ProcessInfo::default);
                p.uid = d.u32(8);
                p.gid = d.u32(12);
                p.pid = p.pid.or(d.u32(16));
                p.ppid = p.ppid.or(d.u32(20));
                p.pgrp = p.pgrp.or(d.u32(24));
                p.sid = p.sid.or(d.u32(28));
                p.fname = d.cstr(fname, 16);
                p.psargs = d.cstr(psargs, 80);
                old_wstat = d.u32(ws);
            }
            NT_AUXV => {
                // auxv_t { int a_type; union { long a_val; ... } }: 8 or 16 bytes.
                // It is in both segments: keep the first complete copy.
                let (size, val) = if is64 { (16, 8) } else { (8, 4) };
                let mut v = Vec::new();
                let mut off = 0;
                while v.len() < MAX_AUXV {
                    let (Some(k), Some(x)) = (d.u32(off), d.word(off + val, w)) else {
                        break;
                    };
                    if k == 0 {
                        break;
                    }
                    v.push((u64::from(k), x));
                    off += size;
                }
                if old_auxv.is_empty() {
                    old_auxv = v;
                }
            }
            NT_PLATFORM => info.platform = d.cstr(0, n.desc.len()),
            NT_ZONENAME => info.zone = d.cstr(0, n.desc.len()),
            NT_UTSNAME => {
                // struct utsname: five 257-byte strings.
                let f: Vec<String> = (0..5).filter_map(|i| d.cstr(i * 257, 257)).collect();
                if !f.is_empty() {
                    info.uname = Some(f.join(" ").trim().to_string());
                }
            }
            NT_CONTENT => info.content = d.u64(0),
            _ => {}
        }
    }
    core.auxv = old_auxv;
    if core.threads.is_empty() && !old_threads.is_empty() {
        core.threads = old_threads;
        info.old_notes_only = true;
        core.warnings.push(Warning::new(
            "solaris-old-notes",
            "Solaris core without NT_LWPSTATUS notes: threads come from the old-style NT_PRSTATUS notes",
        ));
        if rep_sig.is_none()
            && let Some((tid, s)) = old_sig
        {
            rep_lwp = Some(tid);
            rep_sig = Some(s);
        }
    }
    if !have_psinfo && !have_pstatus {
        if let Some(p) = old_process {
            core.process = Some(p);
        }
        if let Some([bb, bs, sb, ss]) = old_areas {
            info.brk_base = bb;
            info.brk_size = bs;
            info.stack_base = sb;
            info.stack_size = ss;
        }
    }
    // psinfo.pr_wstat is wstat(CLD_DUMPED, sig) for a core the kernel wrote on a
    // fatal signal, and 0 for one written by gcore(1).
    info.wstat = wstat.or(old_wstat);
    info.gcore = info.wstat == Some(0);
    // Zombie LWPs have an lwpsinfo but no lwpstatus.
    let mut known: std::collections::HashSet<u32> = core.threads.iter().map(|t| t.tid).collect();
    for id in lwpsinfo_ids {
        if core.threads.len() < MAX_THREADS && known.insert(id) {
            core.threads.push(Thread {
                syscall_note: Some("zombie LWP: no status in the core".into()),
                ..Thread::new(id)
            });
        }
    }
    // Only a core written on a signal has a crashed LWP: gcore's pr_lwp is just
    // the representative LWP.
    let crashed = if rep_sig.is_some() {
        rep_lwp
    } else {
        core.threads.iter().find(|t| t.cursig != 0).map(|t| t.tid)
    };
    for t in &mut core.threads {
        t.crashed = Some(t.tid) == crashed;
    }
    core.siginfo = rep_sig;
    if info.gcore {
        core.warnings.push(Warning::new(
            "solaris-gcore",
            "Solaris core written by gcore(1) (psinfo.pr_wstat = 0): the process was not killed by a signal",
        ));
    }
    if let Some(dm) = info.data_model {
        let want = if is64 { 2 } else { 1 };
        if dm != want {
            core.warnings.push(Warning::new(
                "corrupt",
                format!(
                    "pstatus.pr_dmodel = {dm} ({}) but the ELF class is {}-bit",
                    match dm {
                        1 => "ILP32",
                        2 => "LP64",
                        _ => "unknown",
                    },
                    if is64 { 64 } else { 32 }
                ),
            ));
        }
    }
    if arch == Arch::I386 {
        find_i386_thread_pointers(core);
    }
    core.warnings.push(Warning::new(
        "solaris-no-mapping-names",
        "Solaris core: mappings carry no names and no shared/private flag (no SysV shm ids); shared memory is inferred",
    ));
    core.solaris = Some(info);
}

/// Offsets inside libc's `ulwp_t` (`lib/libc/inc/thr_uberdata.h`) used to find a
/// thread's `ulwp_t` in memory when no register holds it.
#[derive(Clone, Copy, Debug)]
pub struct UlwpLayout {
    /// `ul_self` (points at the `ulwp_t` itself).
    pub self_off: u64,
    /// `ul_uberdata`: the same `uberdata_t *` in every thread.
    pub uberdata: u64,
    /// `ul_forw`, `ul_back`: the circular `all_lwps` list.
    pub forw: u64,
    pub back: u64,
    /// `ul_lwpid`.
    pub lwpid: u64,
    pub word: usize,
}

/// i386: `ul_self` 0, `ul_uberdata` 44, `ul_forw`/`ul_back` 56/60, `ul_lwpid`
/// 112 (`ul_lwpid` from the computed layout in the Solaris facts; the others
/// read off the real illumos i386 cores of the shared corpus, and the same
/// walk with the amd64 offsets finds exactly `pr_reg[REG_FSBASE]` on the amd64
/// cores, where the register is recorded).
pub const ULWP_I386: UlwpLayout = UlwpLayout {
    self_off: 0,
    uberdata: 44,
    forw: 56,
    back: 60,
    lwpid: 112,
    word: 4,
};
/// amd64: `ul_self` 0, `ul_uberdata` 64, `ul_forw`/`ul_back` 88/96, `ul_lwpid` 196.
pub const ULWP_AMD64: UlwpLayout = UlwpLayout {
    self_off: 0,
    uberdata: 64,
    forw: 88,
    back: 96,
    lwpid: 196,
    word: 8,
};

/// A `ulwp_t` is aligned on 64 bytes (for DTrace, `thr_uberdata.h`).
const ULWP_ALIGN: u64 = 64;
/// At most this many bytes of writable memory are searched for `ulwp_t`s.
const ULWP_SCAN_LIMIT: u64 = 256 << 20;

/// Every `ulwp_t` in the core's writable memory, as (address, LWP id): a
/// 64-byte-aligned block whose `ul_self` is its own address, whose
/// `ul_forw` and `ul_back` point at blocks that are also their own `ul_self`, and
/// whose `ul_uberdata` is non-null and shared by all the blocks found. This is
/// how mdb's `::walk ulwp` sees them (the `all_lwps` ring), without the
/// `_uberdata` symbol.
pub fn find_ulwps(core: &Core<'_>, l: &UlwpLayout) -> Vec<(u64, u32)> {
    let e = core.endian;
    let word = |a: u64| -> Option<u64> {
        core.read_memory(a, l.word)
            .and_then(|b| super::bytes::word_from(b, e, l.word))
    };
    let is_self = |a: u64| word(a.wrapping_add(l.self_off)) == Some(a);
    let mut found: Vec<(u64, u32, u64)> = Vec::new();
    let mut budget = ULWP_SCAN_LIMIT;
    for s in &core.segments {
        if s.flags & 2 == 0 || s.available == 0 || budget == 0 {
            continue;
        }
        let span = s.available.min(budget);
        budget -= span;
        let Some(bytes) = core.read_memory(s.vaddr, span as usize) else {
            continue;
        };
        let first = s.vaddr.next_multiple_of(ULWP_ALIGN) - s.vaddr;
        let mut off = first;
        while off + l.lwpid + 4 <= span {
            let a = s.vaddr + off;
            let o = (off + l.self_off) as usize;
            if bytes
                .get(o..o + l.word)
                .and_then(|b| super::bytes::word_from(b, e, l.word))
                == Some(a)
                && let (Some(ub), Some(f), Some(b), Some(id)) = (
                    word(a + l.uberdata),
                    word(a + l.forw),
                    word(a + l.back),
                    core.read_memory(a + l.lwpid, 4)
                        .and_then(|b| Bytes::new(b, e).u32(0)),
                )
                && ub != 0
                && id != 0
                && is_self(f)
                && is_self(b)
                && found.len() < MAX_THREADS
            {
                found.push((a, id, ub));
            }
            off += ULWP_ALIGN;
        }
    }
    // All the threads of one process share one uberdata.
    let Some(&(_, _, ub)) = found.first() else {
        return Vec::new();
    };
    if found.iter().any(|x| x.2 != ub) {
        return Vec::new();
    }
    found.into_iter().map(|(a, id, _)| (a, id)).collect()
}

/// i386 Solaris keeps the thread pointer in the `%gs` base, which the core does
/// not record: find each LWP's `ulwp_t` in memory instead.
fn find_i386_thread_pointers(core: &mut Core<'_>) {
    let ulwps = find_ulwps(core, &ULWP_I386);
    for t in &mut core.threads {
        if t.regs.is_empty() {
            continue;
        }
        let mut m = ulwps.iter().filter(|(_, id)| *id == t.tid);
        match (m.next(), m.next()) {
            (Some(&(a, _)), None) => {
                t.thread_pointer = Some(a);
                t.syscall_note = t.syscall_note.take().or_else(|| {
                    Some(
                        "thread pointer: i386 Solaris keeps it in the %gs base, which the core does not record; this is the ulwp_t found in memory with this LWP id (ul_self, ul_forw/ul_back ring)"
                            .into(),
                    )
                });
            }
            _ => {
                t.syscall_note = t.syscall_note.take().or_else(|| {
                    Some(
                        "i386 Solaris keeps the thread pointer in the %gs base, which the core does not record, and no single ulwp_t with this LWP id was found in memory"
                            .into(),
                    )
                });
            }
        }
    }
}
