//! Helpers of the hostile-input tests: the fixture and corpus cores as bytes with
//! their recorded mutexes, an independent program-header reader (the `object`
//! crate), and a runner that starts the real binary under a kill timer and reports
//! its peak memory.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use object::Endianness;
use object::read::elf::{FileHeader, ProgramHeader};

/// A core to mutate: a name, its decompressed bytes and, for fixtures, the mutex
/// addresses the program that dumped it recorded.
pub struct TestCore {
    pub name: String,
    pub data: Vec<u8>,
    pub mutexes: Vec<u64>,
}

/// Paths of every fixture core (`fixtures/*/core.*.zst`), sorted.
pub fn fixture_paths() -> Vec<PathBuf> {
    super::fixture_cores().into_iter().map(|f| f.core).collect()
}

/// Paths of the shared corpus cores (`../shared/corpus/cores/*`); none, after a
/// SKIPPED line on stderr, when the corpus is not next to this checkout (a failure
/// when MUTEXDIAG_REQUIRE_CORPUS is set).
pub fn corpus_paths() -> Vec<PathBuf> {
    super::corpus_cores(env!("CARGO_CRATE_NAME"))
        .unwrap_or_default()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

/// Load one core (zstd-compressed or plain) with its fixture facts, if any.
pub fn load(p: &Path) -> TestCore {
    let data = super::decompress(p);
    match super::fixture_cores().into_iter().find(|f| f.core == p) {
        Some(f) => TestCore {
            name: format!("{}/core.{}.zst", f.scenario, f.role),
            mutexes: f.mutexes(),
            data,
        },
        None => TestCore {
            name: p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            data,
            mutexes: Vec::new(),
        },
    }
}

/// The fixture cores, then the corpus cores.
pub fn all_core_paths() -> Vec<PathBuf> {
    let mut v = fixture_paths();
    v.extend(corpus_paths());
    v
}

/// A program header as the `object` crate reads it (an independent reader).
#[derive(Clone, Copy, Debug)]
pub struct Ph {
    pub index: usize,
    pub p_type: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
}

pub struct Elf {
    pub is64: bool,
    pub big: bool,
    pub phoff: u64,
    pub phentsize: u64,
    pub phdrs: Vec<Ph>,
}

fn elf_of<H: FileHeader<Endian = Endianness>>(data: &[u8], is64: bool) -> Elf {
    let h = H::parse(data).unwrap();
    let e = h.endian().unwrap();
    let phdrs = h
        .program_headers(e, data)
        .unwrap()
        .iter()
        .enumerate()
        .map(|(index, p)| Ph {
            index,
            p_type: p.p_type(e).0,
            offset: p.p_offset(e).into(),
            vaddr: p.p_vaddr(e).into(),
            filesz: p.p_filesz(e).into(),
            memsz: p.p_memsz(e).into(),
        })
        .collect();
    Elf {
        is64,
        big: e == Endianness::Big,
        phoff: h.e_phoff(e).into(),
        phentsize: u64::from(h.e_phentsize(e)),
        phdrs,
    }
}

pub fn elf(data: &[u8]) -> Elf {
    if data[4] == 2 {
        elf_of::<object::elf::FileHeader64<Endianness>>(data, true)
    } else {
        elf_of::<object::elf::FileHeader32<Endianness>>(data, false)
    }
}

pub const PT_LOAD: u32 = 1;
pub const PT_NOTE: u32 = 4;

/// A note header found in a core: (offset of the header, namesz, descsz, n_type,
/// offset of the descriptor).
#[derive(Clone, Copy, Debug)]
pub struct NoteAt {
    pub header: usize,
    pub namesz: u32,
    pub descsz: u32,
    pub n_type: u32,
    pub desc: usize,
}

pub fn rd32(data: &[u8], at: usize, big: bool) -> u32 {
    let b: [u8; 4] = data[at..at + 4].try_into().unwrap();
    if big {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

pub fn wr(data: &mut [u8], at: usize, v: u64, n: usize, big: bool) {
    let b = if big {
        v.to_be_bytes()[8 - n..].to_vec()
    } else {
        v.to_le_bytes()[..n].to_vec()
    };
    data[at..at + n].copy_from_slice(&b);
}

pub fn notes(data: &[u8], elf: &Elf) -> Vec<NoteAt> {
    let mut out = Vec::new();
    for ph in elf.phdrs.iter().filter(|p| p.p_type == PT_NOTE) {
        let mut p = ph.offset as usize;
        let end = (ph.offset + ph.filesz) as usize;
        while p + 12 <= end {
            let namesz = rd32(data, p, elf.big);
            let descsz = rd32(data, p + 4, elf.big);
            let n_type = rd32(data, p + 8, elf.big);
            let desc = p + 12 + ((namesz as usize + 3) & !3);
            out.push(NoteAt {
                header: p,
                namesz,
                descsz,
                n_type,
                desc,
            });
            p = desc + ((descsz as usize + 3) & !3);
        }
    }
    out
}

/// File offset of virtual address `addr` in a PT_LOAD whose file data holds it.
pub fn file_offset(elf: &Elf, addr: u64) -> Option<u64> {
    elf.phdrs
        .iter()
        .filter(|p| p.p_type == PT_LOAD)
        .find(|p| addr >= p.vaddr && addr - p.vaddr < p.filesz)
        .map(|p| p.offset + (addr - p.vaddr))
}

/// A finished run of the real binary.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Peak resident set of the child, in bytes (`ru_maxrss`).
    pub maxrss: u64,
    pub elapsed: Duration,
    pub timed_out: bool,
}

/// Run the `mutexdiag` binary with `args` under a kill timer and measure its peak
/// resident set. Output goes through files so a chatty child cannot block on a pipe.
///
/// The peak is the child's own `VmHWM`, read from `/proc/PID/status` when the child
/// stops at its exit under ptrace (`PTRACE_O_TRACEEXIT`). `ru_maxrss` from `wait4`
/// would not do: Linux carries the high-water mark of the forking process (this test
/// harness) across `exec`. If ptrace is not permitted, `ru_maxrss` is used: an
/// over-estimate, so the bounds checked with it still hold.
pub fn run_bin(args: &[&std::ffi::OsStr], envs: &[(&str, &Path)], limit: Duration) -> Run {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let dir = tempfile::tempdir().unwrap();
    let out_p = dir.path().join("out");
    let err_p = dir.path().join("err");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mutexdiag"));
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out_p).unwrap())
        .stderr(std::fs::File::create(&err_p).unwrap());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    // SAFETY: ptrace(PTRACE_TRACEME) is async-signal-safe; a failure is ignored
    // (the child then runs untraced and ru_maxrss is used).
    unsafe {
        cmd.pre_exec(|| {
            libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
            Ok(())
        });
    }
    let start = Instant::now();
    // The child is reaped by the wait4 loop below, not through `Child`.
    #[allow(clippy::zombie_processes)]
    let pid = cmd.spawn().unwrap().id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid out-parameter.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let mut timed_out = false;
    let mut hwm: Option<u64> = None;
    let mut traced = false;
    loop {
        // SAFETY: waiting on our own child with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            if libc::WIFSTOPPED(status) {
                let sig = libc::WSTOPSIG(status);
                let event = status >> 16;
                let mut forward = 0;
                if !traced && sig == libc::SIGTRAP && event == 0 {
                    // The stop after exec: ask to stop again at exit.
                    traced = true;
                    // SAFETY: `pid` is our stopped tracee.
                    unsafe {
                        libc::ptrace(
                            libc::PTRACE_SETOPTIONS,
                            pid,
                            0,
                            libc::PTRACE_O_TRACEEXIT | libc::PTRACE_O_EXITKILL,
                        )
                    };
                } else if sig == libc::SIGTRAP && event == libc::PTRACE_EVENT_EXIT {
                    hwm = vm_hwm(pid);
                } else {
                    forward = sig;
                }
                // SAFETY: `pid` is our stopped tracee.
                unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, forward) };
                continue;
            }
            break;
        }
        assert!(r == 0, "wait4 failed: {}", std::io::Error::last_os_error());
        if start.elapsed() > limit && !timed_out {
            timed_out = true;
            // SAFETY: the child has not been reaped, so `pid` is still ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = start.elapsed();
    let st = std::process::ExitStatus::from_raw(status);
    Run {
        code: st.code(),
        signal: st.signal(),
        stdout: std::fs::read_to_string(&out_p).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_p).unwrap_or_default(),
        maxrss: hwm.unwrap_or(ru.ru_maxrss as u64 * 1024),
        elapsed,
        timed_out,
    }
}

/// `VmHWM` of a process, in bytes.
fn vm_hwm(pid: libc::pid_t) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A tiny deterministic generator (xorshift64*), so sweeps are reproducible.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}
