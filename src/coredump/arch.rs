//! Machines and their register sets as they appear in Linux `NT_PRSTATUS` notes.

use serde::Serialize;

use super::bytes::Bytes;

#[warn(missing_docs)] // public API (re-exported at the crate root)
/// The machine a core was written on (from `e_machine` and the ELF class).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// x86-64 (64-bit).
    X86_64,
    /// x86-64 with 32-bit pointers (the x32 ABI).
    X32,
    /// 32-bit x86.
    I386,
    /// 64-bit Arm.
    Aarch64,
    /// 32-bit Arm.
    Arm,
    /// 32-bit PowerPC.
    Ppc,
    /// 64-bit PowerPC.
    Ppc64,
    /// 31-bit IBM Z.
    S390,
    /// 64-bit IBM Z.
    S390x,
    /// 32-bit SPARC.
    Sparc,
    /// 64-bit SPARC (SPARC V9).
    Sparc64,
    /// 32-bit MIPS.
    Mips,
    /// 64-bit MIPS.
    Mips64,
    /// 32-bit RISC-V.
    Riscv32,
    /// 64-bit RISC-V.
    Riscv64,
    /// Motorola 68000.
    M68k,
    /// 64-bit LoongArch.
    Loongarch64,
    /// Another machine.
    Unknown,
}

pub const EM_SPARC: u16 = 2;
pub const EM_386: u16 = 3;
pub const EM_68K: u16 = 4;
pub const EM_MIPS: u16 = 8;
pub const EM_PPC: u16 = 20;
pub const EM_PPC64: u16 = 21;
pub const EM_S390: u16 = 22;
pub const EM_ARM: u16 = 40;
pub const EM_SPARCV9: u16 = 43;
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;
pub const EM_RISCV: u16 = 243;
pub const EM_LOONGARCH: u16 = 258;

/// The Linux architectures with a known register layout, in a stable order.
pub const LINUX_ARCHES: &[Arch] = &[
    Arch::X86_64,
    Arch::X32,
    Arch::I386,
    Arch::Aarch64,
    Arch::Arm,
    Arch::Ppc,
    Arch::Ppc64,
    Arch::S390,
    Arch::S390x,
    Arch::Sparc,
    Arch::Sparc64,
    Arch::Mips,
    Arch::Mips64,
    Arch::Riscv32,
    Arch::Riscv64,
    Arch::M68k,
    Arch::Loongarch64,
];

impl Arch {
    pub fn from_machine(machine: u16, is64: bool) -> Arch {
        match (machine, is64) {
            (EM_X86_64, true) => Arch::X86_64,
            (EM_X86_64, false) => Arch::X32,
            (EM_386, _) => Arch::I386,
            (EM_AARCH64, _) => Arch::Aarch64,
            (EM_ARM, _) => Arch::Arm,
            (EM_PPC, _) => Arch::Ppc,
            (EM_PPC64, _) => Arch::Ppc64,
            (EM_S390, false) => Arch::S390,
            (EM_S390, true) => Arch::S390x,
            (EM_SPARC, _) => Arch::Sparc,
            (EM_SPARCV9, _) => Arch::Sparc64,
            (EM_MIPS, false) => Arch::Mips,
            (EM_MIPS, true) => Arch::Mips64,
            (EM_RISCV, false) => Arch::Riscv32,
            (EM_RISCV, true) => Arch::Riscv64,
            (EM_68K, _) => Arch::M68k,
            (EM_LOONGARCH, true) => Arch::Loongarch64,
            _ => Arch::Unknown,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::X32 => "x32",
            Arch::I386 => "i386",
            Arch::Aarch64 => "aarch64",
            Arch::Arm => "arm",
            Arch::Ppc => "ppc",
            Arch::Ppc64 => "ppc64",
            Arch::S390 => "s390",
            Arch::S390x => "s390x",
            Arch::Sparc => "sparc",
            Arch::Sparc64 => "sparc64",
            Arch::Mips => "mips",
            Arch::Mips64 => "mips64",
            Arch::Riscv32 => "riscv32",
            Arch::Riscv64 => "riscv64",
            Arch::M68k => "m68k",
            Arch::Loongarch64 => "loongarch64",
            Arch::Unknown => "unknown",
        }
    }

    /// Size of a pointer in a process of this architecture.
    pub fn pointer_size(self) -> usize {
        match self {
            Arch::X86_64
            | Arch::Aarch64
            | Arch::Ppc64
            | Arch::S390x
            | Arch::Sparc64
            | Arch::Mips64
            | Arch::Riscv64
            | Arch::Loongarch64 => 8,
            _ => 4,
        }
    }
}

/// Where the fields of a Linux `struct elf_prstatus` are, for one ABI.
#[derive(Clone, Copy, Debug)]
pub struct PrstatusLayout {
    pub cursig: usize,
    pub pid: usize,
    pub ppid: usize,
    pub pgrp: usize,
    pub sid: usize,
    pub reg: usize,
    pub regs: &'static RegSet,
}

/// A register set: names, and where each register sits inside `pr_reg`.
#[derive(Debug)]
pub struct RegSet {
    pub names: &'static [&'static str],
    /// Byte offset of each register inside `pr_reg` and its size.
    pub slots: Slots,
    pub pc: usize,
    pub sp: usize,
    /// Register index that holds the thread pointer, if it is in `pr_reg`.
    pub tp: Option<usize>,
}

#[derive(Debug)]
pub enum Slots {
    /// `names.len()` registers of this many bytes each, back to back.
    Uniform(usize),
    /// Explicit (offset, size) per register.
    Explicit(&'static [(usize, usize)]),
}

impl RegSet {
    pub fn read(&self, pr_reg: Bytes<'_>) -> Option<Vec<u64>> {
        let mut out = Vec::with_capacity(self.names.len());
        match self.slots {
            Slots::Uniform(size) => {
                for i in 0..self.names.len() {
                    out.push(pr_reg.word(i * size, size)?);
                }
            }
            Slots::Explicit(slots) => {
                for &(off, size) in slots {
                    out.push(pr_reg.word(off, size)?);
                }
            }
        }
        Some(out)
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| *n == name)
    }

    pub fn byte_len(&self) -> usize {
        match self.slots {
            Slots::Uniform(size) => size * self.names.len(),
            Slots::Explicit(slots) => slots.iter().map(|(o, s)| o + s).max().unwrap_or(0),
        }
    }
}

pub static X86_64_REGS: RegSet = RegSet {
    names: &[
        "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx",
        "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds",
        "es", "fs", "gs",
    ],
    slots: Slots::Uniform(8),
    pc: 16,
    sp: 19,
    tp: Some(21),
};

pub static I386_REGS: RegSet = RegSet {
    names: &[
        "ebx", "ecx", "edx", "esi", "edi", "ebp", "eax", "ds", "es", "fs", "gs", "orig_eax", "eip",
        "cs", "eflags", "esp", "ss",
    ],
    slots: Slots::Uniform(4),
    pc: 12,
    sp: 15,
    tp: None,
};

pub static AARCH64_REGS: RegSet = RegSet {
    names: &[
        "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13",
        "x14", "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26",
        "x27", "x28", "x29", "x30", "sp", "pc", "pstate",
    ],
    slots: Slots::Uniform(8),
    pc: 32,
    sp: 31,
    tp: None,
};

pub static ARM_REGS: RegSet = RegSet {
    names: &[
        "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "sp",
        "lr", "pc", "cpsr", "orig_r0",
    ],
    slots: Slots::Uniform(4),
    pc: 15,
    sp: 13,
    tp: None,
};

const PPC_NAMES: &[&str] = &[
    "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
    "r15", "r16", "r17", "r18", "r19", "r20", "r21", "r22", "r23", "r24", "r25", "r26", "r27",
    "r28", "r29", "r30", "r31", "nip", "msr", "orig_r3", "ctr", "lr", "xer", "ccr", "softe",
    "trap", "dar", "dsisr", "result", "r44", "r45", "r46", "r47",
];

pub static PPC_REGS: RegSet = RegSet {
    names: PPC_NAMES,
    slots: Slots::Uniform(4),
    pc: 32,
    sp: 1,
    tp: Some(2),
};

pub static PPC64_REGS: RegSet = RegSet {
    names: PPC_NAMES,
    slots: Slots::Uniform(8),
    pc: 32,
    sp: 1,
    tp: Some(13),
};

const S390_NAMES: &[&str] = &[
    "pswm", "pswa", "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11",
    "r12", "r13", "r14", "r15",
];

pub static S390_REGS: RegSet = RegSet {
    names: S390_NAMES,
    slots: Slots::Uniform(4),
    pc: 1,
    sp: 17,
    tp: None,
};

pub static S390X_REGS: RegSet = RegSet {
    names: S390_NAMES,
    slots: Slots::Uniform(8),
    pc: 1,
    sp: 17,
    tp: None,
};

pub static SPARC64_REGS: RegSet = RegSet {
    names: &[
        "g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7", "o0", "o1", "o2", "o3", "o4", "o5", "o6",
        "o7", "l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "i0", "i1", "i2", "i3", "i4", "i5",
        "i6", "i7", "tstate", "tpc", "tnpc", "y",
    ],
    slots: Slots::Uniform(8),
    pc: 33,
    sp: 14,
    tp: Some(7),
};

/// sparc32: psr, pc, npc, y, g0-g7, o0-o7 (`struct pt_regs`), then l/i from the window.
pub static SPARC_REGS: RegSet = RegSet {
    names: &[
        "psr", "pc", "npc", "y", "g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7", "o0", "o1", "o2",
        "o3", "o4", "o5", "o6", "o7",
    ],
    slots: Slots::Uniform(4),
    pc: 1,
    sp: 18,
    tp: Some(11),
};

const MIPS64_NAMES: &[&str] = &[
    "zero", "at", "v0", "v1", "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "t0", "t1", "t2",
    "t3", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "t8", "t9", "k0", "k1", "gp", "sp", "s8",
    "ra", "lo", "hi", "epc", "badvaddr", "status", "cause",
];

pub static MIPS64_REGS: RegSet = RegSet {
    names: MIPS64_NAMES,
    slots: Slots::Uniform(8),
    pc: 34,
    sp: 29,
    tp: None,
};

/// mips o32: six padding words come first (`EF_REG0` = 6).
pub static MIPS_REGS: RegSet = RegSet {
    names: MIPS64_NAMES,
    slots: Slots::Explicit(&MIPS_O32_SLOTS),
    pc: 34,
    sp: 29,
    tp: None,
};

const MIPS_O32_SLOTS: [(usize, usize); 38] = {
    let mut s = [(0usize, 4usize); 38];
    let mut i = 0;
    while i < 38 {
        s[i] = ((6 + i) * 4, 4);
        i += 1;
    }
    s
};

const RISCV_NAMES: &[&str] = &[
    "pc", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
    "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5",
    "t6",
];

pub static RISCV64_REGS: RegSet = RegSet {
    names: RISCV_NAMES,
    slots: Slots::Uniform(8),
    pc: 0,
    sp: 2,
    tp: Some(4),
};

pub static RISCV32_REGS: RegSet = RegSet {
    names: RISCV_NAMES,
    slots: Slots::Uniform(4),
    pc: 0,
    sp: 2,
    tp: Some(4),
};

/// LoongArch64 `user_pt_regs`: r0-r31, orig_a0, csr_era (pc), csr_badv, reserved.
pub static LOONGARCH64_REGS: RegSet = RegSet {
    names: &[
        "r0", "ra", "tp", "sp", "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "t0", "t1", "t2",
        "t3", "t4", "t5", "t6", "t7", "t8", "r21", "fp", "s0", "s1", "s2", "s3", "s4", "s5", "s6",
        "s7", "s8", "orig_a0", "pc", "badv",
    ],
    slots: Slots::Uniform(8),
    pc: 33,
    sp: 3,
    tp: Some(2),
};

/// m68k `struct user_regs_struct`: 17 longs, then `short stkadj, sr; long pc; short fmtvec`.
pub static M68K_REGS: RegSet = RegSet {
    names: &[
        "d1", "d2", "d3", "d4", "d5", "d6", "d7", "a0", "a1", "a2", "a3", "a4", "a5", "a6", "d0",
        "usp", "orig_d0", "sr", "pc",
    ],
    slots: Slots::Explicit(&[
        (0, 4),
        (4, 4),
        (8, 4),
        (12, 4),
        (16, 4),
        (20, 4),
        (24, 4),
        (28, 4),
        (32, 4),
        (36, 4),
        (40, 4),
        (44, 4),
        (48, 4),
        (52, 4),
        (56, 4),
        (60, 4),
        (64, 4),
        (70, 2),
        (72, 4),
    ]),
    pc: 18,
    sp: 15,
    tp: None,
};

const LP64: (usize, usize, usize, usize, usize, usize) = (12, 32, 36, 40, 44, 112);
const ILP32: (usize, usize, usize, usize, usize, usize) = (12, 24, 28, 32, 36, 72);
/// m68k aligns `long` to 2 bytes.
const M68K: (usize, usize, usize, usize, usize, usize) = (12, 22, 26, 30, 34, 70);

impl Arch {
    /// The Linux `elf_prstatus` layout of this architecture.
    pub fn prstatus_layout(self) -> Option<PrstatusLayout> {
        let (hdr, regs): (_, &'static RegSet) = match self {
            Arch::X86_64 => (LP64, &X86_64_REGS),
            Arch::X32 => (ILP32, &X86_64_REGS),
            Arch::I386 => (ILP32, &I386_REGS),
            Arch::Aarch64 => (LP64, &AARCH64_REGS),
            Arch::Arm => (ILP32, &ARM_REGS),
            Arch::Ppc => (ILP32, &PPC_REGS),
            Arch::Ppc64 => (LP64, &PPC64_REGS),
            Arch::S390 => (ILP32, &S390_REGS),
            Arch::S390x => (LP64, &S390X_REGS),
            Arch::Sparc => (ILP32, &SPARC_REGS),
            Arch::Sparc64 => (LP64, &SPARC64_REGS),
            Arch::Mips => (ILP32, &MIPS_REGS),
            Arch::Mips64 => (LP64, &MIPS64_REGS),
            Arch::Riscv32 => (ILP32, &RISCV32_REGS),
            Arch::Riscv64 => (LP64, &RISCV64_REGS),
            Arch::Loongarch64 => (LP64, &LOONGARCH64_REGS),
            Arch::M68k => (M68K, &M68K_REGS),
            Arch::Unknown => return None,
        };
        Some(PrstatusLayout {
            cursig: hdr.0,
            pid: hdr.1,
            ppid: hdr.2,
            pgrp: hdr.3,
            sid: hdr.4,
            reg: hdr.5,
            regs,
        })
    }
}
