//! Linux core notes: NT_PRSTATUS (per thread), NT_PRPSINFO, NT_SIGINFO, NT_AUXV,
//! NT_FILE, NT_386_TLS and NT_ARM_TLS. Layouts: `include/linux/elfcore.h`,
//! `fs/binfmt_elf.c` and the per-architecture `user_regs_struct`s.

use super::arch::Arch;
use super::bytes::Bytes;
use super::syscall::{decode_futex, decode_syscall};
use super::*;

pub(super) fn apply_notes(core: &mut Core<'_>, notes: &[Note<'_>]) {
    let endian = core.endian;
    let word = if core.is64 { 8 } else { 4 };
    let mut tls_386: Vec<(usize, Vec<(u32, u32)>)> = Vec::new();
    let mut arm_tls: Vec<(usize, u64)> = Vec::new();
    let mut dropped_threads = 0usize;
    for n in notes {
        let is_core = n.owner == b"CORE\0" || n.owner == b"CORE";
        let is_linux = n.owner.starts_with(b"LINUX");
        if !(is_core || is_linux) {
            continue;
        }
        let d = Bytes::new(n.desc, endian);
        match n.n_type {
            NT_PRSTATUS if is_core => {
                if core.threads.len() >= MAX_THREADS {
                    dropped_threads += 1;
                    continue;
                }
                match parse_prstatus(core.arch, d) {
                    Ok(mut t) => {
                        t.crashed = core.threads.is_empty();
                        core.threads.push(t);
                    }
                    Err(msg) => core.warnings.push(Warning::new("bad-note", msg)),
                }
            }
            NT_PRPSINFO if is_core => match parse_prpsinfo(d, core.is64, core.arch) {
                Some(p) => core.process = Some(p),
                None => core.warnings.push(Warning::new(
                    "bad-note",
                    format!("NT_PRPSINFO of {} bytes is too short", n.desc.len()),
                )),
            },
            // gdb writes one NT_SIGINFO per thread: the first is the process's.
            NT_SIGINFO if is_core && core.siginfo.is_none() => {
                match parse_siginfo(d, core.is64, core.arch) {
                    Some(s) => core.siginfo = Some(s),
                    None => core.warnings.push(Warning::new(
                        "bad-note",
                        format!("NT_SIGINFO of {} bytes is too short", n.desc.len()),
                    )),
                }
            }
            NT_AUXV if is_core && core.auxv.is_empty() => core.auxv = parse_auxv(d, word),
            NT_FILE if is_core => match parse_file_note(d, word) {
                Ok((f, warn)) => {
                    core.warnings.extend(warn);
                    core.files = Some(f);
                }
                Err(msg) => core.warnings.push(Warning::new("bad-note", msg)),
            },
            NT_386_TLS if is_linux => {
                // struct user_desc { u32 entry_number, base_addr, limit, flags }
                let mut v = Vec::new();
                for i in 0..(n.desc.len() / 16).min(16) {
                    if let (Some(e), Some(base)) = (d.u32(i * 16), d.u32(i * 16 + 4)) {
                        v.push((e, base));
                    }
                }
                tls_386.push((core.threads.len(), v));
            }
            NT_ARM_TLS if is_linux => {
                if let Some(tp) = d.u64(0) {
                    arm_tls.push((core.threads.len(), tp));
                }
            }
            _ => {}
        }
    }
    if dropped_threads > 0 {
        core.warnings.push(Warning::new(
            "limit",
            format!("more than {MAX_THREADS} threads: {dropped_threads} were ignored"),
        ));
    }
    // Per-thread notes follow their NT_PRSTATUS: attach by position.
    for (count, descs) in tls_386 {
        if let Some(t) = count.checked_sub(1).and_then(|i| core.threads.get_mut(i)) {
            // %gs selector: index = gs >> 3.
            if let Some(gs) = t.reg("gs") {
                let idx = (gs >> 3) as u32;
                if let Some((_, base)) = descs.iter().find(|(e, _)| *e == idx) {
                    t.thread_pointer = Some(u64::from(*base));
                }
            }
        }
    }
    for (count, tp) in arm_tls {
        if let Some(t) = count.checked_sub(1).and_then(|i| core.threads.get_mut(i)) {
            t.thread_pointer = Some(tp);
        }
    }
}

fn parse_prstatus(arch: Arch, d: Bytes<'_>) -> Result<Thread, String> {
    let layout = match arch.prstatus_layout() {
        Some(l) => l,
        None => {
            // Unknown machine: guess the common header by size class.
            let tid = d.u32(if d.len() > 200 { 32 } else { 24 });
            return match tid {
                Some(tid) => Ok(Thread {
                    cursig: d.u16(12).map(u32::from).unwrap_or(0),
                    signo: d.u32(0).unwrap_or(0),
                    code: d.i32(4).unwrap_or(0),
                    syscall_note: Some("unknown architecture: registers not decoded".into()),
                    ..Thread::new(tid)
                }),
                None => Err(format!("NT_PRSTATUS of {} bytes is too short", d.len())),
            };
        }
    };
    let tid = d.u32(layout.pid).ok_or_else(|| {
        format!(
            "NT_PRSTATUS of {} bytes is too short for a thread id",
            d.len()
        )
    })?;
    let regs_bytes = d.data.get(layout.reg..).unwrap_or(&[]);
    let regs = layout.regs.read(Bytes::new(regs_bytes, d.endian));
    let (reg_names, regs, note) = match regs {
        Some(r) => (layout.regs.names, r, None),
        None => (
            &[][..],
            Vec::new(),
            Some(format!(
                "NT_PRSTATUS of {} bytes is too short for the {} register set",
                d.len(),
                arch.name()
            )),
        ),
    };
    let mut t = Thread {
        cursig: d.u16(layout.cursig).map(u32::from).unwrap_or(0),
        signo: d.u32(0).unwrap_or(0),
        code: d.i32(4).unwrap_or(0),
        reg_names,
        regs,
        syscall_note: note,
        ..Thread::new(tid)
    };
    if !t.regs.is_empty() {
        t.pc = t.regs.get(layout.regs.pc).copied();
        t.sp = t.regs.get(layout.regs.sp).copied();
        t.thread_pointer = layout.regs.tp.and_then(|i| t.regs.get(i).copied());
        if arch == Arch::X32 {
            // x32 registers are 64-bit but addresses are 32-bit.
            t.thread_pointer = t.thread_pointer.map(|v| v & 0xffff_ffff);
        }
        match decode_syscall(arch, |n| t.reg(n)) {
            Some(sc) => {
                t.futex = decode_futex(arch, &sc);
                if t.futex.is_none()
                    && sc.name.is_some_and(|n| n.starts_with("futex"))
                    && let Some(e) = super::syscall::clobbered_first_arg(arch, sc.args[0])
                {
                    t.syscall_note = Some(format!(
                        "in a futex call, but its address is unknown: the first argument register holds the syscall's return value {e} (the core keeps no copy of the original argument)"
                    ));
                }
                t.syscall = Some(sc);
            }
            None => {
                if !matches!(
                    arch,
                    Arch::X86_64
                        | Arch::X32
                        | Arch::I386
                        | Arch::Aarch64
                        | Arch::Arm
                        | Arch::Riscv64
                ) {
                    t.syscall_note = Some(format!(
                        "the syscall a thread was in is not recoverable from {} registers",
                        arch.name()
                    ));
                }
            }
        }
    }
    Ok(t)
}

fn parse_prpsinfo(d: Bytes<'_>, is64: bool, arch: Arch) -> Option<ProcessInfo> {
    // (flag word, uid/gid size) decide the offsets; 32-bit ABIs differ on uid width:
    // i386, arm, m68k, s390, sh, x32-compat use 16-bit ids (124 bytes); ppc, mips,
    // sparc use 32-bit ids (128 bytes).
    let (uid, gid, pid, fname, psargs, idsz) = if is64 {
        (16, 20, 24, 40, 56, 4)
    } else if d.len() >= 128 && !matches!(arch, Arch::I386 | Arch::Arm | Arch::M68k | Arch::X32) {
        (8, 12, 16, 32, 48, 4)
    } else {
        (8, 10, 12, 28, 44, 2)
    };
    if d.len() < psargs {
        return None;
    }
    let id = |off: usize| -> Option<u32> {
        if idsz == 2 {
            d.u16(off).map(u32::from)
        } else {
            d.u32(off)
        }
    };
    let state = d.u8(1).filter(|c| c.is_ascii_graphic()).map(char::from);
    Some(ProcessInfo {
        pid: d.u32(pid),
        ppid: d.u32(pid + 4),
        pgrp: d.u32(pid + 8),
        sid: d.u32(pid + 12),
        uid: id(uid),
        gid: id(gid),
        state,
        fname: d.cstr(fname, 16),
        psargs: d.cstr(psargs, 80),
    })
}

const SIGILL: u32 = 4;
const SIGTRAP: u32 = 5;
const SIGBUS: u32 = 7;
const SIGFPE: u32 = 8;
const SIGSEGV: u32 = 11;

fn parse_siginfo(d: Bytes<'_>, is64: bool, arch: Arch) -> Option<SigInfo> {
    let signo = d.u32(0)?;
    // MIPS swaps si_code and si_errno.
    let (errno, code) = if matches!(arch, Arch::Mips | Arch::Mips64) {
        (d.i32(8)?, d.i32(4)?)
    } else {
        (d.i32(4)?, d.i32(8)?)
    };
    let union = if is64 { 16 } else { 12 };
    let ptr = if is64 { 8 } else { 4 };
    let fault = matches!(signo, SIGILL | SIGTRAP | SIGBUS | SIGFPE | SIGSEGV) && code > 0;
    let addr = if fault { d.word(union, ptr) } else { None };
    let (sender_pid, sender_uid) = if code <= 0 {
        (d.u32(union), d.u32(union + 4))
    } else {
        (None, None)
    };
    Some(SigInfo {
        signo,
        errno,
        code,
        addr,
        sender_pid,
        sender_uid,
    })
}

fn parse_auxv(d: Bytes<'_>, word: usize) -> Vec<(u64, u64)> {
    let mut v = Vec::new();
    let mut off = 0;
    while v.len() < MAX_AUXV {
        let (Some(k), Some(val)) = (d.word(off, word), d.word(off + word, word)) else {
            break;
        };
        if k == 0 {
            break;
        }
        v.push((k, val));
        off += 2 * word;
    }
    v
}

pub(super) fn parse_file_note(
    d: Bytes<'_>,
    word: usize,
) -> Result<(FileNote, Vec<Warning>), String> {
    let count = d
        .word(0, word)
        .ok_or_else(|| format!("NT_FILE of {} bytes is too short", d.len()))?;
    let page_size = d
        .word(word, word)
        .ok_or_else(|| format!("NT_FILE of {} bytes is too short", d.len()))?;
    let mut warn = Vec::new();
    // Each entry needs 3 words plus at least a NUL: bound the count by the note.
    let room = (d.len().saturating_sub(2 * word) / (3 * word + 1)) as u64;
    let mut n = count;
    if n > room {
        warn.push(Warning::new(
            "bad-note",
            format!(
                "NT_FILE claims {count} entries but its {} bytes can hold at most {room}; reading {room}",
                d.len()
            ),
        ));
        n = room;
    }
    if n > MAX_FILE_ENTRIES as u64 {
        warn.push(Warning::new(
            "limit",
            format!("NT_FILE has {n} entries: only the first {MAX_FILE_ENTRIES} are read"),
        ));
        n = MAX_FILE_ENTRIES as u64;
    }
    let n = n as usize;
    let page = if page_size == 0 {
        warn.push(Warning::new(
            "bad-note",
            "NT_FILE page size is 0: file offsets are taken as 0",
        ));
        0
    } else {
        page_size
    };
    let mut names = 2 * word + n * 3 * word;
    let mut entries = Vec::with_capacity(n.min(4096));
    let mut names_ended = false;
    for i in 0..n {
        let base = 2 * word + i * 3 * word;
        let (Some(start), Some(end), Some(pgoff)) = (
            d.word(base, word),
            d.word(base + word, word),
            d.word(base + 2 * word, word),
        ) else {
            break;
        };
        let rest = d.data.get(names..).unwrap_or(&[]);
        let len = rest.iter().position(|&b| b == 0);
        let path = match len {
            Some(l) => {
                let p = String::from_utf8_lossy(&rest[..l]).into_owned();
                names += l + 1;
                p
            }
            None => {
                if !names_ended {
                    warn.push(Warning::new(
                        "bad-note",
                        format!("NT_FILE names end early: entry {i} and later have no path"),
                    ));
                }
                names_ended = true;
                names = d.len();
                String::new()
            }
        };
        entries.push(FileEntry {
            start,
            end,
            page_offset: pgoff,
            offset: pgoff.saturating_mul(page),
            path,
        });
    }
    Ok((FileNote { page_size, entries }, warn))
}
