//! Which system call a thread was in when the process dumped, and, for futex calls,
//! the futex word, the operation and whether the wait was process-private.
//!
//! On x86 the kernel takes the fatal signal before it rewrites the registers for a
//! syscall restart, so the syscall number (`orig_rax`/`orig_eax`) and the arguments
//! survive in the core. On aarch64, arm and riscv the kernel restores the first
//! argument register from `orig_x0`/`orig_r0`/`orig_a0` before taking the signal, and
//! the number register (x8, r7, a7) is untouched; the number is then trusted only
//! with a caveat (see `Syscall::confidence`).

use serde::Serialize;

use super::arch::Arch;

pub const FUTEX_PRIVATE_FLAG: u64 = 128;
pub const FUTEX_CLOCK_REALTIME: u64 = 256;

#[warn(missing_docs)] // public API (re-exported at the crate root)
/// How sure we are that the thread was in this system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confidence {
    /// The kernel keeps the syscall number in a dedicated register (orig_rax, orig_eax).
    Certain,
    /// Only the number register says so; it may be stale if the thread was running
    /// user code that happened to leave that value there.
    NumberRegisterOnly,
}

#[derive(Clone, Debug, Serialize)]
pub struct Syscall {
    pub number: u64,
    pub name: Option<&'static str>,
    pub args: [u64; 6],
    pub confidence: Confidence,
}

/// A futex system call found in a thread's registers.
#[derive(Clone, Debug, Serialize)]
pub struct FutexCall {
    /// The futex word (for `futex_waitv`, the address of the waiter array).
    pub address: u64,
    /// Operation name, e.g. `FUTEX_WAIT`, `FUTEX_LOCK_PI`, `FUTEX_WAIT_BITSET`.
    pub op: String,
    /// The raw op argument.
    pub op_raw: u64,
    /// `FUTEX_PRIVATE_FLAG` (or `FUTEX2_PRIVATE`) was set: the wait is keyed on this
    /// process's address space and can only be woken from inside this process.
    pub private: bool,
    /// The expected value (`val`).
    pub value: u64,
    /// True for operations that put the thread to sleep (wait, lock_pi, ...).
    pub waits: bool,
}

const FUTEX_OPS: [&str; 14] = [
    "FUTEX_WAIT",
    "FUTEX_WAKE",
    "FUTEX_FD",
    "FUTEX_REQUEUE",
    "FUTEX_CMP_REQUEUE",
    "FUTEX_WAKE_OP",
    "FUTEX_LOCK_PI",
    "FUTEX_UNLOCK_PI",
    "FUTEX_TRYLOCK_PI",
    "FUTEX_WAIT_BITSET",
    "FUTEX_WAKE_BITSET",
    "FUTEX_WAIT_REQUEUE_PI",
    "FUTEX_CMP_REQUEUE_PI",
    "FUTEX_LOCK_PI2",
];

/// Name of a futex op (`op & 0x7f`; newer kernels use bits above 0x100 for flags).
pub fn futex_op_name(op: u64) -> String {
    let cmd = (op & 0x7f) as usize;
    match FUTEX_OPS.get(cmd) {
        Some(n) => (*n).to_string(),
        None => format!("FUTEX_OP_{cmd}"),
    }
}

fn futex_op_waits(op: u64) -> bool {
    matches!(op & 0x7f, 0 | 6 | 9 | 11 | 13)
}

/// Syscall numbers of the futex family per ABI.
struct FutexNrs {
    futex: &'static [u64],
    futex_waitv: Option<u64>,
    futex_wait: Option<u64>,
}

fn futex_nrs(arch: Arch) -> Option<FutexNrs> {
    Some(match arch {
        Arch::X86_64 => FutexNrs {
            futex: &[202],
            futex_waitv: Some(449),
            futex_wait: Some(455),
        },
        Arch::X32 => FutexNrs {
            futex: &[0x4000_0000 | 202],
            futex_waitv: Some(0x4000_0000 | 449),
            futex_wait: Some(0x4000_0000 | 455),
        },
        Arch::I386 | Arch::Arm => FutexNrs {
            futex: &[240, 422],
            futex_waitv: Some(449),
            futex_wait: Some(455),
        },
        Arch::Aarch64 | Arch::Riscv64 | Arch::Loongarch64 => FutexNrs {
            futex: &[98],
            futex_waitv: Some(449),
            futex_wait: Some(455),
        },
        Arch::Riscv32 => FutexNrs {
            futex: &[422],
            futex_waitv: Some(449),
            futex_wait: Some(455),
        },
        Arch::Ppc | Arch::Ppc64 => FutexNrs {
            futex: &[221, 422],
            futex_waitv: Some(449),
            futex_wait: Some(455),
        },
        Arch::S390x | Arch::S390 => FutexNrs {
            futex: &[238, 422],
            futex_waitv: Some(449),
            futex_wait: Some(455),
        },
        Arch::Mips64 => FutexNrs {
            futex: &[5194],
            futex_waitv: None,
            futex_wait: None,
        },
        _ => return None,
    })
}

/// Register names holding (number, arg0..arg5) per ABI, and how sure the number is.
fn syscall_regs(arch: Arch) -> Option<(&'static str, [&'static str; 6], Confidence)> {
    Some(match arch {
        Arch::X86_64 | Arch::X32 => (
            "orig_rax",
            ["rdi", "rsi", "rdx", "r10", "r8", "r9"],
            Confidence::Certain,
        ),
        Arch::I386 => (
            "orig_eax",
            ["ebx", "ecx", "edx", "esi", "edi", "ebp"],
            Confidence::Certain,
        ),
        Arch::Aarch64 => (
            "x8",
            ["x0", "x1", "x2", "x3", "x4", "x5"],
            Confidence::NumberRegisterOnly,
        ),
        Arch::Arm => (
            "r7",
            ["r0", "r1", "r2", "r3", "r4", "r5"],
            Confidence::NumberRegisterOnly,
        ),
        Arch::Riscv64 | Arch::Riscv32 => (
            "a7",
            ["a0", "a1", "a2", "a3", "a4", "a5"],
            Confidence::NumberRegisterOnly,
        ),
        _ => return None,
    })
}

fn syscall_name(arch: Arch, nr: u64) -> Option<&'static str> {
    let nrs = futex_nrs(arch)?;
    if nrs.futex.first() == Some(&nr) {
        return Some("futex");
    }
    if nrs.futex.get(1) == Some(&nr) {
        return Some("futex_time64");
    }
    if nrs.futex_waitv == Some(nr) {
        return Some("futex_waitv");
    }
    if nrs.futex_wait == Some(nr) {
        return Some("futex_wait");
    }
    let name = match (arch, nr) {
        (Arch::X86_64, 0) => "read",
        (Arch::X86_64, 1) => "write",
        (Arch::X86_64, 7) => "poll",
        (Arch::X86_64, 23) => "select",
        (Arch::X86_64, 34) => "pause",
        (Arch::X86_64, 35) => "nanosleep",
        (Arch::X86_64, 43) => "accept",
        (Arch::X86_64, 45) => "recvfrom",
        (Arch::X86_64, 47) => "recvmsg",
        (Arch::X86_64, 61) => "wait4",
        (Arch::X86_64, 62) => "kill",
        (Arch::X86_64, 200) => "tkill",
        (Arch::X86_64, 230) => "clock_nanosleep",
        (Arch::X86_64, 232) => "epoll_wait",
        (Arch::X86_64, 234) => "tgkill",
        (Arch::X86_64, 247) => "waitid",
        (Arch::X86_64, 270) => "pselect6",
        (Arch::X86_64, 271) => "ppoll",
        (Arch::X86_64, 281) => "epoll_pwait",
        (Arch::X86_64, 288) => "accept4",
        (Arch::I386, 3) => "read",
        (Arch::I386, 4) => "write",
        (Arch::I386, 7) => "waitpid",
        (Arch::I386, 29) => "pause",
        (Arch::I386, 37) => "kill",
        (Arch::I386, 162) => "nanosleep",
        (Arch::I386, 238) => "tkill",
        (Arch::I386, 267) => "clock_nanosleep",
        (Arch::I386, 270) => "tgkill",
        (Arch::I386, 407) => "clock_nanosleep_time64",
        (Arch::Aarch64 | Arch::Riscv64, 63) => "read",
        (Arch::Aarch64 | Arch::Riscv64, 64) => "write",
        (Arch::Aarch64 | Arch::Riscv64, 101) => "nanosleep",
        (Arch::Aarch64 | Arch::Riscv64, 115) => "clock_nanosleep",
        _ => return None,
    };
    Some(name)
}

/// The syscall a thread was in, from its registers (`get` looks a register up by name).
pub fn decode_syscall(arch: Arch, get: impl Fn(&str) -> Option<u64>) -> Option<Syscall> {
    let (nr_reg, arg_regs, confidence) = syscall_regs(arch)?;
    let nr = get(nr_reg)?;
    // x86: orig_rax == -1 means "not in a syscall".
    let minus_one = if arch == Arch::I386 {
        0xffff_ffff
    } else {
        u64::MAX
    };
    if nr == minus_one {
        return None;
    }
    // Threads running user code on non-x86 ABIs: only believe futex-family numbers
    // there (the number register is an ordinary register).
    let name = syscall_name(arch, nr);
    if confidence == Confidence::NumberRegisterOnly && name.is_none() {
        return None;
    }
    let mut args = [0u64; 6];
    for (slot, reg) in args.iter_mut().zip(arg_regs) {
        *slot = get(reg).unwrap_or(0);
    }
    Some(Syscall {
        number: nr,
        name,
        args,
        confidence,
    })
}

/// On ABIs whose first argument register also carries the return value (aarch64
/// x0, arm r0, riscv and loongarch a0) and whose core keeps no copy of the original
/// (aarch64's `orig_x0` is not in NT_PRSTATUS), a thread interrupted in a syscall
/// shows the kernel's return value there: -ERESTARTSYS (-512), -EINTR (-4),
/// -ETIMEDOUT, -EAGAIN... The errno value, if the first argument is one.
pub fn clobbered_first_arg(arch: Arch, a0: u64) -> Option<i64> {
    if !matches!(
        arch,
        Arch::Aarch64 | Arch::Arm | Arch::Riscv64 | Arch::Riscv32 | Arch::Loongarch64
    ) {
        return None;
    }
    let v = if arch.pointer_size() == 4 {
        i64::from(a0 as u32 as i32)
    } else {
        a0 as i64
    };
    (-4095..0).contains(&v).then_some(v)
}

/// The futex call described by a syscall, if it is one. A first argument that is an
/// errno value (see [`clobbered_first_arg`]) is not a futex address: the call is
/// then not decoded (the caller says the address is unknown), never reported as a
/// futex on an address like 0xfffffffffffffffc.
pub fn decode_futex(arch: Arch, sc: &Syscall) -> Option<FutexCall> {
    let nrs = futex_nrs(arch)?;
    let a = sc.args;
    if clobbered_first_arg(arch, a[0]).is_some() {
        return None;
    }
    if nrs.futex.contains(&sc.number) {
        let op = a[1] & 0xffff_ffff;
        return Some(FutexCall {
            address: a[0],
            op: futex_op_name(op),
            op_raw: op,
            private: op & FUTEX_PRIVATE_FLAG != 0,
            value: a[2] & 0xffff_ffff,
            waits: futex_op_waits(op),
        });
    }
    if nrs.futex_wait == Some(sc.number) {
        // futex_wait(uaddr, val, mask, flags, timeout, clockid)
        return Some(FutexCall {
            address: a[0],
            op: "FUTEX2_WAIT".into(),
            op_raw: a[3],
            private: a[3] & FUTEX_PRIVATE_FLAG != 0,
            value: a[1],
            waits: true,
        });
    }
    if nrs.futex_waitv == Some(sc.number) {
        // futex_waitv(waiters, nr, flags, timeout, clockid): per-waiter flags live in
        // the array; the caller reads it from memory.
        return Some(FutexCall {
            address: a[0],
            op: "FUTEX_WAITV".into(),
            op_raw: a[2],
            private: false,
            value: a[1],
            waits: true,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_names() {
        assert_eq!(futex_op_name(0x80), "FUTEX_WAIT");
        assert_eq!(futex_op_name(0x189), "FUTEX_WAIT_BITSET");
        assert_eq!(futex_op_name(0x86), "FUTEX_LOCK_PI");
        assert_eq!(futex_op_name(0x7f), "FUTEX_OP_127");
    }

    #[test]
    fn x86_64_private_wait() {
        let regs = [
            ("orig_rax", 202u64),
            ("rdi", 0x1000),
            ("rsi", 0x80),
            ("rdx", 2),
        ];
        let get = |n: &str| regs.iter().find(|r| r.0 == n).map(|r| r.1);
        let sc = decode_syscall(Arch::X86_64, get).expect("syscall");
        let f = decode_futex(Arch::X86_64, &sc).expect("futex");
        assert_eq!(f.address, 0x1000);
        assert_eq!(f.op, "FUTEX_WAIT");
        assert!(f.private && f.waits);
        assert_eq!(f.value, 2);
    }

    /// aarch64: x0 overwritten by -EINTR / -ERESTARTSYS while in futex(): no futex
    /// address is made of it; a real address is kept.
    #[test]
    fn aarch64_clobbered_x0_is_not_an_address() {
        for (x0, lost) in [
            (0xffff_ffff_ffff_fffc_u64, true), // -EINTR
            (0xffff_ffff_ffff_fe00, true),     // -ERESTARTSYS
            (0xffff_ffff_ffff_ff92, true),     // -ETIMEDOUT
            (0x4b_20b8, false),
        ] {
            let regs = [("x8", 98u64), ("x0", x0), ("x1", 0x80), ("x2", 2)];
            let get = |n: &str| regs.iter().find(|r| r.0 == n).map(|r| r.1);
            let sc = decode_syscall(Arch::Aarch64, get).expect("syscall");
            assert_eq!(decode_futex(Arch::Aarch64, &sc).is_none(), lost, "{x0:#x}");
        }
        // arm: r0 is 32 bits.
        let regs = [("r7", 240u64), ("r0", 0xffff_fffc), ("r1", 0x80), ("r2", 2)];
        let get = |n: &str| regs.iter().find(|r| r.0 == n).map(|r| r.1);
        let sc = decode_syscall(Arch::Arm, get).expect("syscall");
        assert!(decode_futex(Arch::Arm, &sc).is_none());
        // x86_64 keeps the arguments apart from the return value.
        assert_eq!(clobbered_first_arg(Arch::X86_64, u64::MAX - 3), None);
    }

    #[test]
    fn not_in_syscall() {
        let get = |n: &str| (n == "orig_rax").then_some(u64::MAX);
        assert!(decode_syscall(Arch::X86_64, get).is_none());
    }
}
