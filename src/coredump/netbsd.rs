//! NetBSD cores: a process-info note owned by `NetBSD-CORE` and per-LWP register
//! notes owned by `NetBSD-CORE@<lwpid>` (sys/sys/exec_elf.h, sys/kern/core_elf32.c).

use super::bytes::Bytes;
use super::*;

const NT_NETBSDCORE_PROCINFO: u32 = 1;
const NT_NETBSDCORE_AUXV: u32 = 2;
/// `PT_GETREGS` on amd64 (machine-dependent first note type).
const PT_AMD64_GETREGS: u32 = 33;

static AMD64_REGS: &[&str] = &[
    "rdi", "rsi", "rdx", "rcx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rbp", "rbx",
    "rax", "gs", "fs", "es", "ds", "trapno", "err", "rip", "cs", "rflags", "rsp", "ss",
];

pub(super) fn note_name(n: &Note<'_>) -> Option<&'static str> {
    if n.owner.starts_with(b"NetBSD-CORE@") {
        return match n.n_type {
            PT_AMD64_GETREGS => Some("PT_GETREGS"),
            35 => Some("PT_GETFPREGS"),
            _ => None,
        };
    }
    match n.n_type {
        NT_NETBSDCORE_PROCINFO => Some("NT_NETBSDCORE_PROCINFO"),
        NT_NETBSDCORE_AUXV => Some("NT_NETBSDCORE_AUXV"),
        _ => None,
    }
}

pub(super) fn apply_notes(core: &mut Core<'_>, notes: &[Note<'_>]) {
    let endian = core.endian;
    let mut siglwp = None;
    // tid -> index in core.threads (a lookup per note must not scan every thread).
    let mut index: std::collections::HashMap<u32, usize> = core
        .threads
        .iter()
        .enumerate()
        .map(|(i, t)| (t.tid, i))
        .collect();
    for n in notes {
        let d = Bytes::new(n.desc, endian);
        let owner = n.owner_str();
        if owner == "NetBSD-CORE" {
            match n.n_type {
                NT_NETBSDCORE_PROCINFO => {
                    if d.len() < 160 {
                        core.warnings.push(Warning::new(
                            "bad-note",
                            format!("NetBSD procinfo of {} bytes is too short", d.len()),
                        ));
                        continue;
                    }
                    let signo = d.u32(8).unwrap_or(0);
                    let code = d.i32(12).unwrap_or(0);
                    // cpi_ppid (offset 84) is not reported: no independent decoder
                    // (file(1), eu-readelf, gdb) shows it, so its offset is unverified;
                    // pid, uid, gid, name and the signalled LWP are checked against
                    // file(1) on a real NetBSD core.
                    core.process = Some(ProcessInfo {
                        pid: d.u32(80),
                        ppid: None,
                        pgrp: d.u32(88),
                        sid: d.u32(92),
                        uid: d.u32(96),
                        gid: d.u32(108),
                        state: None,
                        fname: d.cstr(124, 32),
                        psargs: None,
                    });
                    siglwp = d.u32(156);
                    if signo != 0 {
                        core.siginfo = Some(SigInfo {
                            signo,
                            errno: 0,
                            code,
                            addr: None,
                            sender_pid: None,
                            sender_uid: None,
                        });
                    }
                }
                NT_NETBSDCORE_AUXV => {
                    let word = if core.is64 { 8 } else { 4 };
                    let mut off = 0;
                    while core.auxv.len() < MAX_AUXV {
                        let (Some(k), Some(v)) = (d.word(off, word), d.word(off + word, word))
                        else {
                            break;
                        };
                        if k == 0 {
                            break;
                        }
                        core.auxv.push((k, v));
                        off += 2 * word;
                    }
                }
                _ => {}
            }
        } else if let Some(lwp) = owner.strip_prefix("NetBSD-CORE@") {
            let Ok(tid) = lwp.parse::<u32>() else {
                continue;
            };
            if n.n_type != PT_AMD64_GETREGS && index.contains_key(&tid) {
                continue;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = index.entry(tid) {
                if core.threads.len() >= MAX_THREADS {
                    continue;
                }
                e.insert(core.threads.len());
                core.threads.push(Thread {
                    syscall_note: Some("NetBSD: system call state is not decoded".into()),
                    ..Thread::new(tid)
                });
            }
            if n.n_type == PT_AMD64_GETREGS && core.arch == Arch::X86_64 {
                let mut regs = Vec::with_capacity(AMD64_REGS.len());
                for i in 0..AMD64_REGS.len() {
                    match d.u64(i * 8) {
                        Some(v) => regs.push(v),
                        None => break,
                    }
                }
                if let Some(t) = index.get(&tid).and_then(|&i| core.threads.get_mut(i))
                    && regs.len() == AMD64_REGS.len()
                {
                    t.pc = regs.get(21).copied();
                    t.sp = regs.get(24).copied();
                    t.reg_names = AMD64_REGS;
                    t.regs = regs;
                }
            }
        }
    }
    let sig = core.siginfo.as_ref().map(|s| s.signo).unwrap_or(0);
    for t in &mut core.threads {
        if Some(t.tid) == siglwp {
            t.crashed = true;
            t.cursig = sig;
            t.signo = sig;
        }
    }
}
