//! Signal names. Numbers differ between systems and architectures: Linux on
//! MIPS, SPARC and Alpha, and Solaris/NetBSD, use the old System V/BSD numbering.

use super::{Arch, Os};

const LINUX: [&str; 32] = [
    "",
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// Solaris, NetBSD, and Linux on SPARC share the classic numbering for 1-15.
const CLASSIC: [&str; 16] = [
    "", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGEMT", "SIGFPE",
    "SIGKILL", "SIGBUS", "SIGSEGV", "SIGSYS", "SIGPIPE", "SIGALRM", "SIGTERM",
];

pub fn signal_name(os: Os, arch: Arch, n: u32) -> Option<&'static str> {
    let classic = matches!(os, Os::Solaris | Os::NetBsd)
        || matches!(
            arch,
            Arch::Mips | Arch::Mips64 | Arch::Sparc | Arch::Sparc64
        );
    let name = if classic {
        CLASSIC.get(n as usize).copied()
    } else {
        LINUX.get(n as usize).copied()
    };
    name.filter(|s| !s.is_empty())
}

/// Meaning of `si_code` for the common fault signals. The fault codes (positive)
/// are numbered alike on Linux, Solaris and NetBSD; the codes of signals sent by
/// a process (zero or negative, and Solaris' `SI_NOINFO`) differ: Solaris'
/// `sys/siginfo.h` has SI_LWP -1, SI_QUEUE -2, SI_TIMER -3, SI_ASYNCIO -4,
/// SI_MESGQ -5, SI_NOINFO 32767 (the kernel had no siginfo to give, as for a
/// signal sent from the keyboard), SI_RCTL 2049 and SI_DTRACE 2050.
pub fn code_name(os: Os, signame: &str, code: i32) -> Option<&'static str> {
    if os == Os::Solaris {
        match code {
            0 => return Some("SI_USER"),
            -1 => return Some("SI_LWP"),
            -2 => return Some("SI_QUEUE"),
            -3 => return Some("SI_TIMER"),
            -4 => return Some("SI_ASYNCIO"),
            -5 => return Some("SI_MESGQ"),
            32767 => return Some("SI_NOINFO"),
            2049 => return Some("SI_RCTL"),
            2050 => return Some("SI_DTRACE"),
            c if c <= 0 => return None,
            _ => {}
        }
    }
    Some(match (signame, code) {
        (_, 0) => "SI_USER",
        (_, -6) => "SI_TKILL",
        (_, -1) => "SI_QUEUE",
        (_, 0x80) => "SI_KERNEL",
        ("SIGSEGV", 1) => "SEGV_MAPERR",
        ("SIGSEGV", 2) => "SEGV_ACCERR",
        ("SIGSEGV", 3) => "SEGV_BNDERR",
        ("SIGSEGV", 4) => "SEGV_PKUERR",
        ("SIGBUS", 1) => "BUS_ADRALN",
        ("SIGBUS", 2) => "BUS_ADRERR",
        ("SIGBUS", 3) => "BUS_OBJERR",
        ("SIGILL", 1) => "ILL_ILLOPC",
        ("SIGILL", 2) => "ILL_ILLOPN",
        ("SIGFPE", 1) => "FPE_INTDIV",
        ("SIGTRAP", 1) => "TRAP_BRKPT",
        _ => return None,
    })
}
