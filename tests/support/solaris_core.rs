//! A test-only writer of Solaris/illumos-format ELF core files, built byte by byte
//! from the structure layouts documented in the project's Solaris facts
//! (`sys/procfs.h`, `sys/old_procfs.h`, `sys/regset.h`, `sys/synch.h`, `elf.c`):
//! ELF header, an old-notes PT_NOTE, a new-notes PT_NOTE, then one PT_LOAD per
//! mapping. It shares no code and no constant with the parser in `src/`: every
//! offset is written out again here.
//!
//! Targets: amd64 (ELFCLASS64, little-endian), sparcv9 (ELFCLASS64, big-endian),
//! sparc (ELFCLASS32, big-endian, V8 registers) and i386 (ELFCLASS32, little-endian,
//! no thread pointer in the registers).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Amd64,
    Sparcv9,
    Sparc32,
    I386,
}

impl Target {
    pub fn big(self) -> bool {
        matches!(self, Target::Sparcv9 | Target::Sparc32)
    }
    pub fn lp64(self) -> bool {
        matches!(self, Target::Amd64 | Target::Sparcv9)
    }
    /// Bytes of a `long` / pointer / register.
    pub fn word(self) -> usize {
        if self.lp64() { 8 } else { 4 }
    }
    fn machine(self) -> u16 {
        match self {
            Target::Amd64 => 62,   // EM_AMD64
            Target::Sparcv9 => 43, // EM_SPARCV9
            Target::Sparc32 => 2,  // EM_SPARC
            Target::I386 => 3,     // EM_386
        }
    }
    fn nregs(self) -> usize {
        match self {
            Target::Amd64 => 28, // _NGREG
            Target::I386 => 19,  // _NGREG
            _ => 38,             // NPRGREG
        }
    }
    /// offsetof(ulwp_t, ul_schedctl): what mutex_trylock_adaptive() loads.
    pub fn schedctl(self) -> u64 {
        match self {
            Target::Amd64 => 0x128,
            Target::Sparcv9 => 0x140,
            Target::Sparc32 => 0xf0,
            Target::I386 => 0xc8,
        }
    }
    /// offsetof(ulwp_t, ul_self) and ul_lwpid.
    pub fn ul_self(self) -> usize {
        match self {
            Target::Amd64 | Target::I386 => 0,
            _ => 80,
        }
    }
    pub fn ul_lwpid(self) -> usize {
        match self {
            Target::Amd64 => 0xc4,
            Target::Sparcv9 => 0xdc,
            Target::Sparc32 => 0x98,
            Target::I386 => 0x70,
        }
    }
    pub fn lockset(self) -> u8 {
        if self.big() { 0xff } else { 0x01 }
    }
}

/// Register slots in `prgregset_t`.
pub mod reg {
    // amd64 (sys/regset.h)
    pub const RDI: usize = 8;
    pub const RSI: usize = 9;
    pub const RBP: usize = 10;
    pub const RDX: usize = 12;
    pub const RAX: usize = 14;
    pub const TRAPNO: usize = 15;
    pub const ERR: usize = 16;
    pub const RIP: usize = 17;
    pub const RSP: usize = 20;
    pub const FSBASE: usize = 26;
    // i386 (sys/regset.h)
    pub const I386_GS: usize = 0;
    pub const I386_EDX: usize = 9;
    pub const I386_EAX: usize = 11;
    pub const I386_TRAPNO: usize = 12;
    pub const I386_ERR: usize = 13;
    pub const I386_EIP: usize = 14;
    pub const I386_UESP: usize = 17;
    // SPARC (sys/procfs_isa.h)
    pub const G7: usize = 7;
    pub const O0: usize = 8;
    pub const O1: usize = 9;
    pub const O6: usize = 14;
    pub const PC: usize = 33;
    pub const NPC: usize = 34;
}

#[derive(Clone, Debug)]
pub struct Lwp {
    pub id: u32,
    /// Registers by slot (missing ones are 0).
    pub regs: Vec<(usize, u64)>,
    pub syscall: u16,
    pub sysargs: Vec<u64>,
    /// (si_signo, si_code, si_addr) for the LWP that took the fatal signal.
    pub signal: Option<(u32, i32, u64)>,
    pub name: Option<String>,
    /// A zombie: it has an lwpsinfo but no lwpstatus.
    pub zombie: bool,
}

#[derive(Clone, Debug)]
pub struct Seg {
    pub vaddr: u64,
    pub memsz: u64,
    /// The dumped bytes (empty: excluded from the core, p_filesz = 0).
    pub data: Vec<u8>,
    /// PF_R 4 | PF_W 2 | PF_X 1.
    pub flags: u32,
}

#[derive(Clone, Debug)]
pub struct SolarisCore {
    pub target: Target,
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    pub sid: u32,
    pub uid: u32,
    pub gid: u32,
    pub fname: String,
    pub psargs: String,
    /// psinfo.pr_wstat: wstat(CLD_DUMPED, sig) = (sig | 0200), or 0 for gcore.
    pub wstat: u32,
    pub brk: (u64, u64),
    pub stack: (u64, u64),
    pub platform: String,
    pub uname: [String; 5],
    pub zone: String,
    pub content: u64,
    pub auxv: Vec<(u32, u64)>,
    pub lwps: Vec<Lwp>,
    pub segs: Vec<Seg>,
    /// Which LWP pstatus.pr_lwp describes.
    pub rep_lwp: u32,
    pub old_notes: bool,
    pub new_notes: bool,
}

/// Byte order aware little writer.
struct W {
    big: bool,
}

impl W {
    fn put(&self, b: &mut [u8], off: usize, size: usize, v: u64) {
        let bytes = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        let src = if self.big {
            &bytes[8 - size..]
        } else {
            &bytes[..size]
        };
        b[off..off + size].copy_from_slice(src);
    }
    fn str(&self, b: &mut [u8], off: usize, max: usize, s: &str) {
        let n = s.len().min(max - 1);
        b[off..off + n].copy_from_slice(&s.as_bytes()[..n]);
    }
}

// --- Note types (sys/elf.h) ---
const NT_PRSTATUS: u32 = 1;
const NT_PRFPREG: u32 = 2;
const NT_PRPSINFO: u32 = 3;
const NT_PLATFORM: u32 = 5;
const NT_AUXV: u32 = 6;
const NT_PSTATUS: u32 = 10;
const NT_PSINFO: u32 = 13;
const NT_PRCRED: u32 = 14;
const NT_UTSNAME: u32 = 15;
const NT_LWPSTATUS: u32 = 16;
const NT_LWPSINFO: u32 = 17;
const NT_CONTENT: u32 = 20;
const NT_ZONENAME: u32 = 21;
const NT_LWPNAME: u32 = 25;

/// `lwpstatus_t` offsets: (pr_lwpid, pr_cursig, pr_info, si_addr-in-info,
/// pr_syscall, pr_nsysarg, pr_sysarg, pr_reg, sizeof).
struct LwpOffsets {
    lwpid: usize,
    why: usize,
    cursig: usize,
    info: usize,
    si_addr_in_info: usize,
    syscall: usize,
    nsysarg: usize,
    sysarg: usize,
    reg: usize,
    size: usize,
}

fn lwpstatus_offsets(t: Target) -> LwpOffsets {
    match t {
        Target::Amd64 | Target::Sparcv9 => LwpOffsets {
            lwpid: 4,
            why: 8,
            cursig: 12,
            info: 16,
            si_addr_in_info: 16,
            syscall: 368,
            nsysarg: 370,
            sysarg: 376,
            reg: 544,
            size: if t == Target::Amd64 { 1296 } else { 1392 },
        },
        Target::Sparc32 | Target::I386 => LwpOffsets {
            lwpid: 4,
            why: 8,
            cursig: 12,
            info: 16,
            si_addr_in_info: 12,
            syscall: 224,
            nsysarg: 226,
            sysarg: 232,
            reg: 344,
            size: if t == Target::I386 { 800 } else { 896 },
        },
    }
}

/// The old `prstatus_t` (sys/old_procfs.h), same field roles.
fn old_prstatus_offsets(t: Target) -> (LwpOffsets, usize, usize) {
    // (offsets, pr_pid offset, pr_brkbase offset)
    if t.lp64() {
        (
            LwpOffsets {
                lwpid: 520,
                why: 4,
                cursig: 264,
                info: 8,
                si_addr_in_info: 16,
                syscall: 448,
                nsysarg: 450,
                sysarg: 456,
                reg: 600,
                size: 600 + 8 * t.nregs(),
            },
            360,
            552,
        )
    } else {
        (
            LwpOffsets {
                lwpid: 308,
                why: 4,
                cursig: 136,
                info: 8,
                si_addr_in_info: 12,
                syscall: 272,
                nsysarg: 274,
                sysarg: 276,
                reg: 356,
                size: 356 + 4 * t.nregs(),
            },
            216,
            332,
        )
    }
}

fn note(out: &mut Vec<u8>, w: &W, n_type: u32, desc: &[u8]) {
    let mut h = [0u8; 12];
    w.put(&mut h, 0, 4, 5);
    let padded = desc.len().div_ceil(4) * 4;
    w.put(&mut h, 4, 4, padded as u64);
    w.put(&mut h, 8, 4, u64::from(n_type));
    out.extend_from_slice(&h);
    out.extend_from_slice(b"CORE\0\0\0\0");
    out.extend_from_slice(desc);
    out.resize(out.len() + (padded - desc.len()), 0);
}

impl SolarisCore {
    fn w(&self) -> W {
        W {
            big: self.target.big(),
        }
    }

    fn write_status(&self, b: &mut [u8], o: &LwpOffsets, base: usize, lwp: &Lwp) {
        let w = self.w();
        let t = self.target;
        let word = t.word();
        w.put(b, base + o.lwpid, 4, u64::from(lwp.id));
        if let Some((sig, code, addr)) = lwp.signal {
            w.put(b, base + o.cursig, 2, u64::from(sig));
            w.put(b, base + o.info, 4, u64::from(sig));
            w.put(b, base + o.info + 4, 4, code as u32 as u64);
            w.put(b, base + o.info + o.si_addr_in_info, word, addr);
        }
        w.put(b, base + o.syscall, 2, u64::from(lwp.syscall));
        w.put(b, base + o.nsysarg, 2, lwp.sysargs.len() as u64);
        for (i, a) in lwp.sysargs.iter().enumerate().take(8) {
            w.put(b, base + o.sysarg + i * word, word, *a);
        }
        for &(slot, v) in &lwp.regs {
            w.put(b, base + o.reg + slot * word, word, v);
        }
    }

    fn pstatus(&self) -> Vec<u8> {
        let t = self.target;
        let w = self.w();
        let word = t.word();
        // sizeof(pstatus_t): amd64 1680, sparcv9 1776, sparc 1232.
        let size = match t {
            Target::Amd64 => 1680,
            Target::Sparcv9 => 1776,
            Target::Sparc32 => 1232,
            Target::I386 => 1136,
        };
        let mut b = vec![0u8; size];
        let live = self.lwps.iter().filter(|l| !l.zombie).count() as u64;
        w.put(&mut b, 4, 4, live); // pr_nlwp
        w.put(&mut b, 8, 4, u64::from(self.pid));
        w.put(&mut b, 12, 4, u64::from(self.ppid));
        w.put(&mut b, 16, 4, u64::from(self.pgid));
        w.put(&mut b, 20, 4, u64::from(self.sid));
        w.put(&mut b, 48, word, self.brk.0); // pr_brkbase
        w.put(&mut b, 48 + word, word, self.brk.1); // pr_brksize
        let stk = if t.lp64() { 64 } else { 56 };
        w.put(&mut b, stk, word, self.stack.0);
        w.put(&mut b, stk + word, word, self.stack.1);
        // `char pr_dmodel; char pr_pad[3];`: one byte whatever the byte order.
        let dmodel = if t.lp64() { 304 } else { 256 };
        b[dmodel] = if t.lp64() { 2 } else { 1 };
        // pr_lwp: the representative LWP's lwpstatus_t.
        let pr_lwp = if t.lp64() { 384 } else { 336 };
        if let Some(l) = self.lwps.iter().find(|l| l.id == self.rep_lwp) {
            self.write_status(&mut b, &lwpstatus_offsets(t), pr_lwp, l);
        }
        b
    }

    fn psinfo(&self) -> Vec<u8> {
        let t = self.target;
        let w = self.w();
        let mut b = vec![0u8; if t.lp64() { 416 } else { 336 }];
        w.put(&mut b, 4, 4, self.lwps.len() as u64);
        w.put(&mut b, 8, 4, u64::from(self.pid));
        w.put(&mut b, 12, 4, u64::from(self.ppid));
        w.put(&mut b, 16, 4, u64::from(self.pgid));
        w.put(&mut b, 20, 4, u64::from(self.sid));
        w.put(&mut b, 24, 4, u64::from(self.uid));
        w.put(&mut b, 32, 4, u64::from(self.gid));
        let (fname, psargs, wstat, dmodel) = if t.lp64() {
            (136, 152, 232, 256)
        } else {
            (88, 104, 184, 200)
        };
        w.str(&mut b, fname, 16, &self.fname);
        w.str(&mut b, psargs, 80, &self.psargs);
        w.put(&mut b, wstat, 4, u64::from(self.wstat));
        b[dmodel] = if t.lp64() { 2 } else { 1 };
        b
    }

    fn lwpsinfo(&self, l: &Lwp) -> Vec<u8> {
        let t = self.target;
        let w = self.w();
        let mut b = vec![0u8; if t.lp64() { 128 } else { 104 }];
        w.put(&mut b, 4, 4, u64::from(l.id));
        let sname = if t.lp64() { 26 } else { 18 };
        b[sname] = if l.zombie { b'Z' } else { b'S' };
        b
    }

    fn lwpstatus(&self, l: &Lwp) -> Vec<u8> {
        let o = lwpstatus_offsets(self.target);
        let mut b = vec![0u8; o.size];
        self.write_status(&mut b, &o, 0, l);
        b
    }

    fn old_prstatus(&self, l: &Lwp) -> Vec<u8> {
        let t = self.target;
        let w = self.w();
        let word = t.word();
        let (o, pid, brk) = old_prstatus_offsets(t);
        let mut b = vec![0u8; o.size];
        self.write_status(&mut b, &o, 0, l);
        w.put(&mut b, pid, 4, u64::from(self.pid));
        w.put(&mut b, pid + 4, 4, u64::from(self.ppid));
        w.put(&mut b, pid + 8, 4, u64::from(self.pgid));
        w.put(&mut b, pid + 12, 4, u64::from(self.sid));
        w.put(&mut b, brk, word, self.brk.0);
        w.put(&mut b, brk + word, word, self.brk.1);
        w.put(&mut b, brk + 2 * word, word, self.stack.0);
        w.put(&mut b, brk + 3 * word, word, self.stack.1);
        b
    }

    fn old_prpsinfo(&self) -> Vec<u8> {
        let t = self.target;
        let w = self.w();
        let mut b = vec![0u8; if t.lp64() { 328 } else { 260 }];
        w.put(&mut b, 8, 4, u64::from(self.uid));
        w.put(&mut b, 12, 4, u64::from(self.gid));
        w.put(&mut b, 16, 4, u64::from(self.pid));
        w.put(&mut b, 20, 4, u64::from(self.ppid));
        w.put(&mut b, 24, 4, u64::from(self.pgid));
        w.put(&mut b, 28, 4, u64::from(self.sid));
        let (fname, psargs, wstat) = if t.lp64() {
            (120, 136, 280)
        } else {
            (84, 100, 212)
        };
        w.str(&mut b, fname, 16, &self.fname);
        w.str(&mut b, psargs, 80, &self.psargs);
        w.put(&mut b, wstat, 4, u64::from(self.wstat));
        b
    }

    fn auxv(&self) -> Vec<u8> {
        let t = self.target;
        let w = self.w();
        let (size, val) = if t.lp64() { (16, 8) } else { (8, 4) };
        let mut b = vec![0u8; (self.auxv.len() + 1) * size];
        for (i, (k, v)) in self.auxv.iter().enumerate() {
            w.put(&mut b, i * size, 4, u64::from(*k));
            w.put(&mut b, i * size + val, t.word(), *v);
        }
        b
    }

    fn cstring(s: &str) -> Vec<u8> {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        v
    }

    fn old_segment(&self) -> Vec<u8> {
        let w = self.w();
        let mut n = Vec::new();
        note(&mut n, &w, NT_PRPSINFO, &self.old_prpsinfo());
        note(&mut n, &w, NT_PLATFORM, &Self::cstring(&self.platform));
        note(&mut n, &w, NT_AUXV, &self.auxv());
        for l in self.lwps.iter().filter(|l| !l.zombie) {
            note(&mut n, &w, NT_PRSTATUS, &self.old_prstatus(l));
            note(&mut n, &w, NT_PRFPREG, &[0u8; 64]);
        }
        n
    }

    fn new_segment(&self) -> Vec<u8> {
        let w = self.w();
        let mut n = Vec::new();
        note(&mut n, &w, NT_PSINFO, &self.psinfo());
        note(&mut n, &w, NT_PSTATUS, &self.pstatus());
        note(&mut n, &w, NT_PLATFORM, &Self::cstring(&self.platform));
        note(&mut n, &w, NT_AUXV, &self.auxv());
        let mut uts = vec![0u8; 5 * 257];
        for (i, f) in self.uname.iter().enumerate() {
            w.str(&mut uts, i * 257, 257, f);
        }
        note(&mut n, &w, NT_UTSNAME, &uts);
        note(&mut n, &w, NT_PRCRED, &[0u8; 32]);
        let mut c = [0u8; 8];
        w.put(&mut c, 0, 8, self.content);
        note(&mut n, &w, NT_CONTENT, &c);
        note(&mut n, &w, NT_ZONENAME, &Self::cstring(&self.zone));
        for l in &self.lwps {
            note(&mut n, &w, NT_LWPSINFO, &self.lwpsinfo(l));
            if l.zombie {
                continue;
            }
            note(&mut n, &w, NT_LWPSTATUS, &self.lwpstatus(l));
            if let Some(name) = &l.name {
                let mut d = vec![0u8; 40];
                w.put(&mut d, 0, 8, u64::from(l.id));
                w.str(&mut d, 8, 32, name);
                note(&mut n, &w, NT_LWPNAME, &d);
            }
        }
        n
    }

    /// The whole core file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let t = self.target;
        let w = self.w();
        let lp64 = t.lp64();
        let (ehsize, phentsize) = if lp64 { (64, 56) } else { (52, 32) };
        let mut notes: Vec<Vec<u8>> = Vec::new();
        if self.old_notes {
            notes.push(self.old_segment());
        }
        if self.new_notes {
            notes.push(self.new_segment());
        }
        let phnum = notes.len() + self.segs.len();
        let mut off = ehsize + phnum * phentsize;
        let mut phdrs = Vec::new();
        let mut body: Vec<u8> = Vec::new();
        let data_start = off;
        // (type, flags, offset, vaddr, filesz, memsz)
        for n in &notes {
            phdrs.push((4u32, 4u32, off as u64, 0u64, n.len() as u64, 0u64));
            body.extend_from_slice(n);
            off += n.len();
        }
        for s in &self.segs {
            // Keep segment data 8-aligned in the file.
            let pad = (8 - off % 8) % 8;
            body.resize(body.len() + pad, 0);
            off += pad;
            phdrs.push((
                1,
                s.flags,
                off as u64,
                s.vaddr,
                s.data.len() as u64,
                s.memsz,
            ));
            body.extend_from_slice(&s.data);
            off += s.data.len();
        }
        let mut f = vec![0u8; data_start];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = if lp64 { 2 } else { 1 };
        f[5] = if t.big() { 2 } else { 1 };
        f[6] = 1; // EV_CURRENT; EI_OSABI stays 0
        w.put(&mut f, 16, 2, 4); // ET_CORE
        w.put(&mut f, 18, 2, u64::from(t.machine()));
        w.put(&mut f, 20, 4, 1);
        if lp64 {
            w.put(&mut f, 32, 8, ehsize as u64); // e_phoff
            w.put(&mut f, 52, 2, ehsize as u64);
            w.put(&mut f, 54, 2, phentsize as u64);
            w.put(&mut f, 56, 2, phnum as u64);
        } else {
            w.put(&mut f, 28, 4, ehsize as u64);
            w.put(&mut f, 40, 2, ehsize as u64);
            w.put(&mut f, 42, 2, phentsize as u64);
            w.put(&mut f, 44, 2, phnum as u64);
        }
        for (i, (ty, flags, offset, vaddr, filesz, memsz)) in phdrs.into_iter().enumerate() {
            let p = ehsize + i * phentsize;
            w.put(&mut f, p, 4, u64::from(ty));
            if lp64 {
                w.put(&mut f, p + 4, 4, u64::from(flags));
                w.put(&mut f, p + 8, 8, offset);
                w.put(&mut f, p + 16, 8, vaddr);
                w.put(&mut f, p + 32, 8, filesz);
                w.put(&mut f, p + 40, 8, memsz);
            } else {
                w.put(&mut f, p + 4, 4, offset);
                w.put(&mut f, p + 8, 4, vaddr);
                w.put(&mut f, p + 16, 4, filesz);
                w.put(&mut f, p + 20, 4, memsz);
                w.put(&mut f, p + 24, 4, u64::from(flags));
            }
        }
        f.extend_from_slice(&body);
        f
    }
}

/// What the seed scenario put where (the expectations of the tests).
#[derive(Clone, Debug)]
pub struct SeedFacts {
    pub target: Target,
    pub pid: u32,
    /// The USYNC_THREAD mutex in the shm-like segment.
    pub mutex: u64,
    /// Its owner: a ulwp_t of the other process, unmapped here.
    pub owner: u64,
    pub fault: u64,
    pub shm: (u64, u64),
    /// The faulting LWP (spinning in mutex_trylock_adaptive).
    pub spinner: u32,
    /// An LWP parked in lwp_park on the mutex.
    pub waiter: u32,
    pub zombie: u32,
    /// (lwp id, ulwp_t address) of the live LWPs.
    pub ulwps: Vec<(u32, u64)>,
    /// The ulwp_t of an LWP that exited (still in memory, no LWP has it).
    pub exited_ulwp: u64,
    /// A heap mutex held by this process's own LWP 1.
    pub own_mutex: u64,
    /// An rwlock in the heap; its embedded mutex is at +8.
    pub rwlock: u64,
    pub spinner_pc: u64,
    pub spinner_sp: u64,
    /// Value of mutex_ownerpid (the S05/S06 spinner count).
    pub spinners: u32,
}

struct Addrs {
    text: u64,
    heap: u64,
    shm: u64,
    ulwps: u64,
    stack1: u64,
    stack2: u64,
    foreign_owner: u64,
    excluded: u64,
}

fn addrs(t: Target) -> Addrs {
    match t {
        Target::Amd64 => Addrs {
            text: 0x40_0000,
            heap: 0x41_0000,
            shm: 0xffff_fd7f_ff00_0000,
            ulwps: 0xffff_fd7f_ff3f_0000,
            stack1: 0xffff_fd7f_ffdf_e000,
            stack2: 0xffff_fd7f_fe80_0000,
            // A ulwp_t address of the other process: nothing is mapped there here.
            foreign_owner: 0xffff_fd7f_fe5a_1240,
            excluded: 0xffff_fd7f_ff10_0000,
        },
        Target::Sparcv9 => Addrs {
            text: 0x1_0000_0000,
            heap: 0x1_0010_0000,
            shm: 0xffff_ffff_7e00_0000,
            ulwps: 0xffff_ffff_7f3f_0000,
            stack1: 0xffff_ffff_7fff_e000,
            stack2: 0xffff_ffff_7e80_0000,
            foreign_owner: 0xffff_ffff_7e5a_1240,
            excluded: 0xffff_ffff_7e70_0000,
        },
        Target::Sparc32 | Target::I386 => Addrs {
            text: 0x1_0000,
            heap: 0x2_0000,
            shm: 0xfe00_0000,
            ulwps: 0xfef0_0000,
            stack1: 0xffbf_e000,
            stack2: 0xfe80_0000,
            foreign_owner: 0xfe5a_1240,
            excluded: 0xfe70_0000,
        },
    }
}

/// Write a `mutex_t` at `at` in `mem` (offsets of `sys/synch.h`, `synch32.h`).
#[allow(clippy::too_many_arguments)]
pub fn put_mutex(
    t: Target,
    mem: &mut [u8],
    at: usize,
    mtype: u8,
    locked: bool,
    waiters: bool,
    ownerpid: u32,
    owner: u64,
) {
    let w = W { big: t.big() };
    // mutex_flag: LOCK_INITED (0x4) as mutex_init() leaves it.
    w.put(mem, at, 2, 0x4);
    // mutex_type: the low byte of the native u16 at 4.
    w.put(mem, at + 4, 2, u64::from(mtype));
    w.put(mem, at + 6, 2, 0x4d58); // MUTEX_MAGIC
    w.put(mem, at + 8, 4, u64::from(ownerpid));
    let (lockw, waitb) = if t.big() { (12, 15) } else { (15, 14) };
    if locked {
        mem[at + lockw] = t.lockset();
    }
    if waiters {
        mem[at + waitb] = 1;
    }
    // mutex_owner: a native u64 (low half = the pointer on 32-bit).
    w.put(mem, at + 16, 8, owner);
}

/// The seed's crash, in the spinning process's core: a USYNC_THREAD mutex in an
/// anonymous shared segment, locked by a thread of ANOTHER process (its owner is
/// that process's ulwp_t, unmapped here); LWP 2 died dereferencing owner +
/// offsetof(ulwp_t, ul_schedctl) in mutex_trylock_adaptive(); LWP 1 is parked in
/// lwp_park on the same mutex; LWP 3 is a zombie.
pub fn seed(t: Target) -> (SolarisCore, SeedFacts) {
    let a = addrs(t);
    let w = W { big: t.big() };
    let word = t.word();
    let page = 0x2000usize;

    // The process's own ulwp_t blocks (ul_self points to itself, ul_lwpid).
    let mut ulwp_mem = vec![0u8; page];
    let ulwps = vec![(1u32, a.ulwps), (2u32, a.ulwps + 0x800)];
    // LWP 4 exited: its ulwp_t stays (libc never frees them) but no LWP has it.
    let exited_ulwp = a.ulwps + 0x1000;
    for &(id, addr) in ulwps.iter().chain([(4u32, exited_ulwp)].iter()) {
        let o = (addr - a.ulwps) as usize;
        w.put(&mut ulwp_mem, o + t.ul_self(), word, addr);
        w.put(&mut ulwp_mem, o + t.ul_lwpid(), 4, u64::from(id));
    }

    // The shm-like segment with the seed mutex.
    let mutex = a.shm + 0x40;
    let spinners = 1;
    let mut shm = vec![0u8; page];
    put_mutex(
        t,
        &mut shm,
        0x40,
        0, // USYNC_THREAD
        true,
        true,
        spinners,
        a.foreign_owner,
    );

    // The heap: a mutex held by this process's LWP 1, and an rwlock whose embedded
    // mutex carries MUTEX_MAGIC.
    let mut heap = vec![0u8; page];
    let own_mutex = a.heap + 0x100;
    put_mutex(t, &mut heap, 0x100, 0, true, false, 0, a.ulwps);
    let rwlock = a.heap + 0x200;
    w.put(&mut heap, 0x200 + 4, 2, 0); // rwlock type USYNC_THREAD
    w.put(&mut heap, 0x200 + 6, 2, 0x5257); // RWL_MAGIC
    put_mutex(t, &mut heap, 0x208, 0, false, false, 0, 0);
    w.put(&mut heap, 0x200 + 32 + 6, 2, 0x4356); // readercv COND_MAGIC
    w.put(&mut heap, 0x200 + 48 + 6, 2, 0x4356); // writercv COND_MAGIC

    let mut text = vec![0u8; page];
    text[..4].copy_from_slice(b"\x7fELF");
    let spinner_pc = a.text + 0x1234;
    let spinner_sp = a.stack2 + 0x1e00;
    let waiter_sp = a.stack1 + 0x1f00;
    let fault = a.foreign_owner + t.schedctl();

    let mut spinner_regs = Vec::new();
    let mut waiter_regs = Vec::new();
    match t {
        Target::Amd64 => {
            spinner_regs.extend([
                (reg::RIP, spinner_pc),
                (reg::RSP, spinner_sp),
                (reg::RBP, spinner_sp + 0x40),
                (reg::RDI, mutex),
                (reg::RDX, a.foreign_owner),
                (reg::RAX, a.foreign_owner),
                (reg::TRAPNO, 14), // #PF
                (reg::ERR, 4),     // user-mode read of a not-present page
                (reg::FSBASE, ulwps[1].1),
            ]);
            waiter_regs.extend([
                (reg::RIP, a.text + 0x2000 - 0x10),
                (reg::RSP, waiter_sp),
                (reg::FSBASE, ulwps[0].1),
            ]);
        }
        Target::I386 => {
            // No thread pointer: libc keeps it in the %gs base, not in pr_reg.
            spinner_regs.extend([
                (reg::I386_EIP, spinner_pc),
                (reg::I386_UESP, spinner_sp),
                (reg::I386_EDX, mutex),
                (reg::I386_EAX, a.foreign_owner),
                (reg::I386_TRAPNO, 14),
                (reg::I386_ERR, 4),
                (reg::I386_GS, 0x1c3),
            ]);
            waiter_regs.extend([
                (reg::I386_EIP, a.text + 0x2000 - 0x10),
                (reg::I386_UESP, waiter_sp),
                (reg::I386_GS, 0x1c3),
            ]);
        }
        Target::Sparcv9 | Target::Sparc32 => {
            // sparcv9 keeps %o6 biased by STACK_BIAS (2047).
            let bias = if t == Target::Sparcv9 { 2047 } else { 0 };
            spinner_regs.extend([
                (reg::PC, spinner_pc),
                (reg::NPC, spinner_pc + 4),
                (reg::O6, spinner_sp - bias),
                (reg::O0, mutex),
                (reg::O1, a.foreign_owner),
                (reg::G7, ulwps[1].1),
            ]);
            waiter_regs.extend([
                (reg::PC, a.text + 0x2000 - 0x10),
                (reg::O6, waiter_sp - bias),
                (reg::G7, ulwps[0].1),
            ]);
        }
    }
    let lwps = vec![
        Lwp {
            id: 1,
            regs: waiter_regs,
            syscall: 77, // SYS_lwp_park
            sysargs: vec![0, 0, 0],
            signal: None,
            name: Some("main".into()),
            zombie: false,
        },
        Lwp {
            id: 2,
            regs: spinner_regs,
            syscall: 0,
            sysargs: Vec::new(),
            signal: Some((11, 1, fault)), // SIGSEGV, SEGV_MAPERR
            name: Some("worker".into()),
            zombie: false,
        },
        Lwp {
            id: 3,
            regs: Vec::new(),
            syscall: 0,
            sysargs: Vec::new(),
            signal: None,
            name: None,
            zombie: true,
        },
    ];
    let segs = vec![
        Seg {
            vaddr: a.text,
            memsz: page as u64,
            data: text,
            flags: 5,
        },
        Seg {
            vaddr: a.heap,
            memsz: page as u64,
            data: heap,
            flags: 6,
        },
        Seg {
            vaddr: a.shm,
            memsz: page as u64,
            data: shm,
            flags: 6,
        },
        Seg {
            vaddr: a.excluded,
            memsz: 0x10000,
            data: Vec::new(),
            flags: 6,
        },
        Seg {
            vaddr: a.ulwps,
            memsz: page as u64,
            data: ulwp_mem,
            flags: 6,
        },
        Seg {
            vaddr: a.stack2,
            memsz: page as u64,
            data: vec![0u8; page],
            flags: 6,
        },
        Seg {
            vaddr: a.stack1,
            memsz: page as u64,
            data: vec![0u8; page],
            flags: 6,
        },
    ];
    let core = SolarisCore {
        target: t,
        pid: 4242,
        ppid: 4200,
        pgid: 4200,
        sid: 4100,
        uid: 100,
        gid: 10,
        fname: "spinner".into(),
        psargs: "./spinner -k 0x6d757478".into(),
        wstat: 0o200 | 11, // WCOREFLG | SIGSEGV
        brk: (a.heap, page as u64),
        stack: (a.stack1, page as u64),
        platform: match t {
            Target::Amd64 | Target::I386 => "i86pc".into(),
            _ => "SUNW,SPARC-Enterprise-T5220".into(),
        },
        uname: [
            "SunOS".into(),
            "testhost".into(),
            "5.11".into(),
            "illumos-synthetic".into(),
            match t {
                Target::Amd64 | Target::I386 => "i86pc".into(),
                _ => "sun4v".into(),
            },
        ],
        zone: "global".into(),
        content: 0x1fff, // CC_CONTENT_ALL
        auxv: vec![(6, 0x1000), (9, a.text + 0x100), (2008, 0)],
        lwps,
        segs,
        rep_lwp: 2,
        old_notes: true,
        new_notes: true,
    };
    let facts = SeedFacts {
        target: t,
        pid: 4242,
        mutex,
        owner: a.foreign_owner,
        fault,
        shm: (a.shm, a.shm + page as u64),
        spinner: 2,
        waiter: 1,
        zombie: 3,
        ulwps,
        exited_ulwp,
        own_mutex,
        rwlock,
        spinner_pc,
        spinner_sp,
        spinners,
    };
    (core, facts)
}
