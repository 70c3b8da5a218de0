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

/// Syscall numbers that matter for locks (S06 `sys/syscall.h`).
pub const SYS_LWP_PARK: u64 = 77;
pub const SYS_LWP_MUTEX_TIMEDLOCK: u64 = 210;
pub const SYS_LWP_MUTEX_WAKEUP: u64 = 67;

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
static SPARC_REGS: &[&str] = &[
    "g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7", "o0", "o1", "o2", "o3", "o4", "o5", "o6", "o7",
    "l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "i0", "i1", "i2", "i3", "i4", "i5", "i6", "i7",
    "ccr", "pc", "npc", "y", "asi", "fprs",
];

/// (names, pc, sp, thread pointer) of the Solaris gregset for an architecture.
fn regset(arch: Arch) -> Option<(&'static [&'static str], usize, usize, Option<usize>)> {
    Some(match arch {
        Arch::X86_64 => (AMD64_REGS, 17, 20, Some(26)),
        Arch::I386 => (I386_REGS, 14, 17, None),
        Arch::Sparc64 | Arch::Sparc => (SPARC_REGS, 33, 14, Some(7)),
        _ => return None,
    })
}

/// Offsets inside `lwpstatus_t` for one data model.
struct LwpLayout {
    lwpid: usize,
    cursig: usize,
    info: usize,
    si_addr: usize,
    syscall: usize,
    sysarg: usize,
    reg: usize,
    word: usize,
}

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

fn syscall_name(nr: u64) -> Option<&'static str> {
    Some(match nr {
        SYS_LWP_PARK => "lwp_park",
        SYS_LWP_MUTEX_TIMEDLOCK => "lwp_mutex_timedlock",
        SYS_LWP_MUTEX_WAKEUP => "lwp_mutex_wakeup",
        169 => "lwp_mutex_lock",
        164 => "lwp_sema_wait",
        3 => "read",
        4 => "write",
        29 => "pause",
        _ => return None,
    })
}

fn parse_lwpstatus(arch: Arch, is64: bool, d: Bytes<'_>) -> Option<Thread> {
    let l = if is64 { &LWP_LP64 } else { &LWP_ILP32 };
    let tid = d.u32(l.lwpid)?;
    let cursig = d.u16(l.cursig).map(u32::from).unwrap_or(0);
    let signo = d.u32(l.info).unwrap_or(0);
    let code = d.i32(l.info + 4).unwrap_or(0);
    let mut t = Thread {
        tid,
        crashed: false,
        cursig,
        signo,
        code,
        pc: None,
        sp: None,
        thread_pointer: None,
        reg_names: &[],
        regs: Vec::new(),
        syscall: None,
        futex: None,
        syscall_note: None,
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
            t.thread_pointer = tp.and_then(|i| regs.get(i).copied());
            t.reg_names = names;
            t.regs = regs;
        }
        if arch == Arch::I386 {
            t.syscall_note = Some(
                "i386 Solaris keeps the thread pointer in the %gs base, which the core does not record"
                    .into(),
            );
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

fn si_addr(is64: bool, d: Bytes<'_>, base: usize) -> Option<u64> {
    let l = if is64 { &LWP_LP64 } else { &LWP_ILP32 };
    d.word(base + l.si_addr, l.word)
}

pub(super) fn apply_notes(core: &mut Core<'_>, notes: &[Note<'_>]) {
    let is64 = core.is64;
    let endian = core.endian;
    let arch = core.arch;
    let mut info = SolarisInfo::default();
    let mut rep_lwp: Option<u32> = None;
    let mut rep_sig: Option<SigInfo> = None;
    let mut lwpsinfo_ids = Vec::new();
    for n in notes {
        if !(n.owner == b"CORE\0" || n.owner == b"CORE") {
            continue;
        }
        let d = Bytes::new(n.desc, endian);
        match n.n_type {
            NT_PSTATUS => {
                let mut p = core.process.take().unwrap_or_default();
                p.pid = d.u32(8).or(p.pid);
                p.ppid = d.u32(12).or(p.ppid);
                p.pgrp = d.u32(16).or(p.pgrp);
                p.sid = d.u32(20).or(p.sid);
                core.process = Some(p);
                let w = if is64 { 8 } else { 4 };
                info.brk_base = d.word(48, w);
                info.brk_size = d.word(48 + w, w);
                let stk = if is64 { 64 } else { 56 };
                info.stack_base = d.word(stk, w);
                info.stack_size = d.word(stk + w, w);
                // pr_lwp: the representative LWP (the one that took the signal).
                let lwp = if is64 { 384 } else { 336 };
                let l = if is64 { &LWP_LP64 } else { &LWP_ILP32 };
                rep_lwp = d.u32(lwp + l.lwpid);
                let cursig = d.u16(lwp + l.cursig).map(u32::from).unwrap_or(0);
                let signo = d.u32(lwp + l.info).unwrap_or(0);
                if cursig != 0 || signo != 0 {
                    let code = d.i32(lwp + l.info + 4).unwrap_or(0);
                    let errno = d.i32(lwp + l.info + 8).unwrap_or(0);
                    let fault = matches!(signo, 4 | 5 | 7 | 8 | 10 | 11) && code > 0;
                    rep_sig = Some(SigInfo {
                        signo: if signo != 0 { signo } else { cursig },
                        errno,
                        code,
                        addr: if fault { si_addr(is64, d, lwp) } else { None },
                        sender_pid: None,
                        sender_uid: None,
                    });
                }
            }
            NT_PSINFO => {
                let mut p = core.process.take().unwrap_or_default();
                p.pid = p.pid.or(d.u32(8));
                p.ppid = p.ppid.or(d.u32(12));
                p.uid = d.u32(24);
                p.gid = d.u32(32);
                let (fname, psargs, wstat) = if is64 {
                    (136, 152, 232)
                } else {
                    (88, 104, 184)
                };
                p.fname = d.cstr(fname, 16);
                p.psargs = d.cstr(psargs, 80);
                info.gcore = d.u32(wstat) == Some(0);
                core.process = Some(p);
            }
            NT_LWPSTATUS => {
                if core.threads.len() >= MAX_THREADS {
                    continue;
                }
                match parse_lwpstatus(arch, is64, d) {
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
            NT_AUXV => {
                // auxv_t { int a_type; union { long a_val; ... } }: 8 or 16 bytes.
                let (size, val) = if is64 { (16, 8) } else { (8, 4) };
                let w = if is64 { 8 } else { 4 };
                let mut off = 0;
                while core.auxv.len() < MAX_AUXV {
                    let (Some(k), Some(v)) = (d.u32(off), d.word(off + val, w)) else {
                        break;
                    };
                    if k == 0 {
                        break;
                    }
                    core.auxv.push((u64::from(k), v));
                    off += size;
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
    // Zombie LWPs have an lwpsinfo but no lwpstatus.
    for id in lwpsinfo_ids {
        if core.thread(id).is_none() && core.threads.len() < MAX_THREADS {
            core.threads.push(Thread {
                tid: id,
                crashed: false,
                cursig: 0,
                signo: 0,
                code: 0,
                pc: None,
                sp: None,
                thread_pointer: None,
                reg_names: &[],
                regs: Vec::new(),
                syscall: None,
                futex: None,
                syscall_note: Some("zombie LWP: no status in the core".into()),
            });
        }
    }
    let crashed = rep_lwp.or_else(|| core.threads.iter().find(|t| t.cursig != 0).map(|t| t.tid));
    for t in &mut core.threads {
        t.crashed = Some(t.tid) == crashed;
    }
    core.siginfo = rep_sig;
    core.warnings.push(Warning::new(
        "solaris-no-mapping-names",
        "Solaris core: mappings carry no names and no shared/private flag; shared memory is inferred",
    ));
    core.solaris = Some(info);
}
