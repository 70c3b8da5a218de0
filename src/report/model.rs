//! The serialisable model shared by every command's output. Renderers (text, JSON,
//! markdown) only read it. Field-by-field documentation: `docs/json.md`.

use serde::{Deserialize, Serialize};

use super::hex::Hex;
use crate::coredump::{self, Core, signals};
use crate::mappings::Mapping;
use crate::memory::AddressSpace;

/// The signal that killed the process (or stopped it for a dump).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignalModel {
    /// Signal number.
    pub number: u32,
    /// Signal name (`SIGSEGV`, ...), when known for the core's system.
    pub name: Option<String>,
    /// `si_code`, when the core records one.
    pub code: Option<i32>,
    /// Name of `si_code` (`SEGV_MAPERR`, ...), when known.
    pub code_name: Option<String>,
    /// Fault address (SIGSEGV, SIGBUS, ...), null for signals that have none.
    pub address: Option<Hex>,
    /// Sender of a kill()/tkill() signal.
    pub sender_pid: Option<u32>,
}

/// The process of a core.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcessModel {
    /// Process id.
    pub pid: Option<u32>,
    /// Parent process id.
    pub ppid: Option<u32>,
    /// Path of the executable (NT_FILE, AT_EXECFN, else the command name).
    pub executable: Option<String>,
    /// Command line (`pr_psargs`, truncated by the kernel).
    pub args: Option<String>,
    /// The signal, when the core records one.
    pub signal: Option<SignalModel>,
}

/// The futex call a thread is blocked in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FutexModel {
    /// The futex word.
    pub address: Hex,
    /// The operation (`FUTEX_WAIT`, `FUTEX_LOCK_PI`, ...).
    pub op: String,
    /// `FUTEX_PRIVATE_FLAG` set: only threads of this process wake it.
    pub private: bool,
    /// The value the call expects at the address.
    pub value: Hex,
}

/// The system call a thread is in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyscallModel {
    /// System call number.
    pub number: u64,
    /// Its name, when known.
    pub name: Option<String>,
    /// Its arguments, as registers hold them.
    pub args: Vec<Hex>,
    /// How sure the number is (`certain`, `number-register-only`).
    pub confidence: crate::coredump::syscall::Confidence,
}

/// One thread of the core.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadModel {
    /// Thread id (LWP id).
    pub tid: u32,
    /// The thread that took the fatal signal.
    pub crashed: bool,
    /// The signal pending on this thread, if any.
    pub signal: Option<u32>,
    /// Program counter.
    pub pc: Option<Hex>,
    /// Stack pointer.
    pub sp: Option<Hex>,
    /// Thread pointer (`fs_base`, `tpidr_el0`, ...).
    pub thread_pointer: Option<Hex>,
    /// The futex call it is blocked in, if any.
    pub futex: Option<FutexModel>,
    /// The system call it is in, if any.
    pub syscall: Option<SyscallModel>,
    /// Why something above could not be recovered.
    pub note: Option<String>,
    /// Backtrace, when asked for (`threads --backtrace`): innermost first, one
    /// entry per inlined function too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<Vec<FrameModel>>,
    /// Why the backtrace stops before the outermost frame, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backtrace_stopped: Option<String>,
}

/// One frame of a backtrace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameModel {
    /// Program counter of the frame (a return address for outer frames).
    pub pc: Hex,
    /// The module's path as the core names it.
    pub module: Option<String>,
    /// `pc` in the module's link-time address space (what `addr2line -e` takes).
    pub offset: Option<Hex>,
    /// Demangled function name (DWARF, else the symbol tables).
    pub function: Option<String>,
    /// Source file, from DWARF.
    pub file: Option<String>,
    /// Source line, from DWARF.
    pub line: Option<u32>,
    /// Inlined into the next frame (same pc).
    pub inlined: bool,
    /// How the frame was found: context, cfi, signal-context, frame-pointer,
    /// link-register, tail-call, or scan (a guess).
    pub source: crate::symbols::unwind::FrameSource,
    /// The signal trampoline (`<signal handler called>`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub signal_trampoline: bool,
}

pub(crate) fn frame_models(frames: &[crate::symbols::unwind::Frame]) -> Vec<FrameModel> {
    frames
        .iter()
        .map(|f| FrameModel {
            pc: Hex(f.pc),
            module: f.module.clone(),
            offset: f.offset.map(Hex),
            function: f.function.clone(),
            file: f.file.clone(),
            line: f.line,
            inlined: f.inlined,
            source: f.source,
            signal_trampoline: f.signal_trampoline,
        })
        .collect()
}

/// One mapping of the address space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MappingModel {
    /// First address.
    pub start: Hex,
    /// Address after the last one.
    pub end: Hex,
    /// `rwx` and `s`/`p`, as in `/proc/PID/maps`.
    pub perms: String,
    /// Offset into the file, in bytes.
    pub offset: Hex,
    /// Mapped file (NT_FILE), or the name of a special mapping.
    pub path: Option<String>,
    /// Classification (`file`, `heap`, `stack`, `sysv-shm`, `posix-shm`, `memfd`, `anon-shared`, ...).
    pub kind: crate::mappings::MappingKind,
    /// Shared between processes (inferred from the name, or from a maps file).
    pub shared: bool,
    /// `full`, `partial` or `none`: how much of it the core file holds.
    pub dumped: crate::coredump::Dumped,
    /// SysV IPC key of a SysV shared-memory segment.
    pub key: Option<Hex>,
    /// Threads whose stack pointer is in this mapping.
    pub stack_of: Vec<u32>,
    /// Present when `shared` (and `perms`) come from a `/proc/PID/maps` text
    /// (`--maps`): its fields `shared_from`, `dev`, `inode` appear in the mapping.
    /// Boxed: one pointer per mapping when absent.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub maps_file: Option<Box<MapsFileModel>>,
}

/// The fields a `/proc/PID/maps` text adds to a mapping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapsFileModel {
    /// Always `"maps-file"`.
    pub shared_from: String,
    /// Device `major:minor` of the mapped file.
    pub dev: String,
    /// Inode of the mapped file.
    pub inode: u64,
}

/// A warning about the core or the analysis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WarningModel {
    /// Stable kebab-case code.
    pub code: String,
    /// What is wrong, in a sentence.
    pub message: String,
}

/// The `threads --format json` document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadsDoc {
    /// The process.
    pub process: ProcessModel,
    /// Every thread.
    pub threads: Vec<ThreadModel>,
    /// Warnings about the core.
    pub warnings: Vec<WarningModel>,
}

/// The `maps --format json` document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapsDoc {
    /// Every mapping.
    pub mappings: Vec<MappingModel>,
    /// Warnings about the core.
    pub warnings: Vec<WarningModel>,
}

pub(crate) fn signal_model(core: &Core<'_>) -> Option<SignalModel> {
    let s = core.signal()?;
    let name = signals::signal_name(core.os, core.arch, s.signo);
    let has_code = core.siginfo.is_some() || s.code != 0;
    Some(SignalModel {
        number: s.signo,
        name: name.map(str::to_string),
        code: has_code.then_some(s.code),
        code_name: if has_code {
            name.and_then(|n| signals::code_name(core.os, n, s.code))
                .map(str::to_string)
        } else {
            None
        },
        address: s.addr.map(Hex),
        sender_pid: s.sender_pid,
    })
}

/// The executable's path: the NT_FILE name of the mapping holding AT_PHDR or
/// AT_ENTRY, else AT_EXECFN from memory, else the command name.
pub(crate) fn executable(
    core: &Core<'_>,
    maps: &[Mapping],
    space: &AddressSpace<'_>,
) -> Option<String> {
    for key in [coredump::AT_PHDR, coredump::AT_ENTRY] {
        if let Some(a) = core.auxv_value(key)
            && let Some(p) = maps
                .iter()
                .find(|m| m.contains(a))
                .and_then(|m| m.path.clone())
        {
            return Some(p);
        }
    }
    if let Some(a) = core.auxv_value(coredump::AT_EXECFN)
        && let Ok(s) = space.read_cstr(a, 4096)
        && !s.is_empty()
    {
        return Some(s);
    }
    core.process.as_ref().and_then(|p| p.fname.clone())
}

pub(crate) fn process_model(
    core: &Core<'_>,
    maps: &[Mapping],
    space: &AddressSpace<'_>,
) -> ProcessModel {
    let p = core.process.as_ref();
    ProcessModel {
        pid: p.and_then(|p| p.pid),
        ppid: p.and_then(|p| p.ppid),
        executable: executable(core, maps, space),
        args: p
            .and_then(|p| p.psargs.clone())
            .map(|s| s.trim_end().to_string()),
        signal: signal_model(core),
    }
}

pub(crate) fn thread_models(core: &Core<'_>) -> Vec<ThreadModel> {
    core.threads
        .iter()
        .map(|t| ThreadModel {
            tid: t.tid,
            crashed: t.crashed,
            signal: (t.cursig != 0).then_some(t.cursig),
            pc: t.pc.map(Hex),
            sp: t.sp.map(Hex),
            thread_pointer: t.thread_pointer.map(Hex),
            futex: t.futex.as_ref().map(|f| FutexModel {
                address: Hex(f.address),
                op: f.op.clone(),
                private: f.private,
                value: Hex(f.value),
            }),
            syscall: t.syscall.as_ref().map(|s| SyscallModel {
                number: s.number,
                name: s.name.map(str::to_string),
                args: s.args.iter().copied().map(Hex).collect(),
                confidence: s.confidence,
            }),
            note: t.syscall_note.clone(),
            frames: None,
            backtrace_stopped: None,
        })
        .collect()
}

pub(crate) fn mapping_models(maps: &[Mapping]) -> Vec<MappingModel> {
    maps.iter()
        .map(|m| MappingModel {
            start: Hex(m.start),
            end: Hex(m.end),
            perms: m.perms.clone(),
            offset: Hex(m.offset),
            path: m.path.clone(),
            kind: m.kind,
            shared: m.shared,
            dumped: m.dumped,
            key: m.key.map(|k| Hex(u64::from(k))),
            stack_of: m.stack_of.clone(),
            maps_file: m.from_maps.as_ref().map(|f| {
                Box::new(MapsFileModel {
                    shared_from: "maps-file".into(),
                    dev: f.dev.clone(),
                    inode: f.inode,
                })
            }),
        })
        .collect()
}

pub(crate) fn warning_models(ws: &[coredump::Warning]) -> Vec<WarningModel> {
    ws.iter()
        .map(|w| WarningModel {
            code: w.code.to_string(),
            message: w.message.clone(),
        })
        .collect()
}

/// Who holds a mutex, as the analysis classifies its owner field (`owner.class` in
/// the JSON, spelt in kebab-case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OwnerClass {
    /// Nobody holds it (unlocked, destroyed, not recoverable, or a null owner pointer).
    None,
    /// A thread of this process.
    OwnThread,
    /// A thread that is not in this process (another process's, or one that exited).
    Foreign,
    /// A robust mutex's owner died holding it.
    Dead,
    /// Not known: the bytes are not in the core, or the mutex type records no owner.
    Unknown,
}

impl OwnerClass {
    /// The JSON spelling (`"own-thread"`).
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerClass::None => "none",
            OwnerClass::OwnThread => "own-thread",
            OwnerClass::Foreign => "foreign",
            OwnerClass::Dead => "dead",
            OwnerClass::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for OwnerClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// The mutex's owner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OwnerModel {
    /// Owner thread id, when the layout records one.
    pub tid: Option<u32>,
    /// Owner thread pointer (Solaris and declared layouts that record one).
    pub pointer: Option<Hex>,
    /// `none`, `own-thread`, `foreign`, `dead`, `unknown`.
    pub class: OwnerClass,
    /// For owner pointers: `none`, `own-thread`, `foreign-unmapped` (not mapped in
    /// this process) or `foreign-mapped` (mapped, but no thread's thread pointer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer_class: Option<crate::mutex::owner::PointerClass>,
    /// What else is known: "the parent process (ppid)", "thread 1234 of this process"...
    pub note: Option<String>,
}

/// One mutex found in the core, decoded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MutexModel {
    /// Address of the mutex.
    pub address: Hex,
    /// The layout that decoded it (`glibc-x86_64`, `musl-x86_64`, `solaris-amd64`, ...).
    pub layout: String,
    /// `normal`, `recursive`, `errorcheck`, `adaptive`, `unknown`; null when the
    /// bytes are not in the core.
    #[serde(rename = "type")]
    pub mtype: Option<crate::mutex::MutexType>,
    /// Process-shared (`PTHREAD_PROCESS_SHARED`); null when not in the core.
    pub pshared: Option<bool>,
    /// Robust (`PTHREAD_MUTEX_ROBUST`); null when not in the core.
    pub robust: Option<bool>,
    /// Priority protocol; null when not in the core.
    pub protocol: Option<crate::mutex::Protocol>,
    /// Locked, contended, owner died, ...; null when not in the core.
    pub state: Option<crate::mutex::LockState>,
    /// Recursion count (glibc `__count`; musl `_m_count + 1` while held).
    pub count: Option<u32>,
    /// glibc `__nusers`; null for other layouts.
    pub nusers: Option<u32>,
    /// Priority ceiling of a priority-protect mutex.
    pub ceiling: Option<u32>,
    /// Who holds it.
    pub owner: OwnerModel,
    /// Start of the mapping holding the mutex.
    pub mapping: Option<Hex>,
    /// Kind of the mapping holding it (as `MappingModel::kind`).
    pub mapping_kind: Option<crate::mappings::MappingKind>,
    /// Human description of the location ("SysV shm segment key 0x6d757478", ".bss of app").
    pub location: String,
    /// SysV IPC key when the mutex is in a SysV segment.
    pub key: Option<Hex>,
    /// Symbol or DWARF variable naming it (`g_lock`, `ns::obj+0x8`).
    pub symbol: Option<String>,
    /// Threads blocked on it.
    pub waiters: Vec<u32>,
    /// How it was found: `futex-wait`, `symbol`, `pointer`, `scan`, `magic`, `assertion`.
    pub found_by: Vec<crate::mutex::discover::FoundBy>,
    /// The mutex's bytes are in the core.
    pub dumped: bool,
    /// Raw fields as decoded (name → value).
    pub fields: Vec<(String, Hex)>,
    /// Field combinations that cannot occur.
    pub anomalies: Vec<String>,
    /// What else is known about these bytes (e.g. "the mutex_t embedded in an
    /// rwlock_t", the Solaris 10 spinner count).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Severity of a finding, most severe first (the derived order: `Error < Warning <
/// Note`). Triage records use this type too (`triage::model::Severity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A bug.
    Error,
    /// Suspicious.
    Warning,
    /// For information.
    Note,
}

/// One finding: a diagnosed problem, with its evidence and fix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FindingModel {
    /// The finding code (docs/findings.md).
    pub code: crate::analysis::findings::Code,
    /// How bad it is.
    pub severity: Severity,
    /// The code's title.
    pub title: String,
    /// The mutexes it is about.
    pub mutexes: Vec<Hex>,
    /// The threads it is about.
    pub threads: Vec<u32>,
    /// One-line verdict.
    pub message: String,
    /// The facts from the core that support it.
    pub evidence: Vec<String>,
    /// Why this happens (the code's explanation).
    pub explanation: String,
    /// How to fix it (the code's advice).
    pub fix: String,
}

/// The core file and its process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoreModel {
    /// The core's path as given.
    pub path: String,
    /// Process id.
    pub pid: Option<u32>,
    /// Parent process id.
    pub ppid: Option<u32>,
    /// Path of the executable.
    pub executable: Option<String>,
    /// Command line.
    pub args: Option<String>,
    /// Machine (`x86_64`, `aarch64`, `i386`, ...).
    pub arch: String,
    /// Operating system the core comes from.
    pub os: crate::coredump::Os,
    /// C library detected.
    pub libc: crate::mutex::select::Libc,
    /// The mutex layout used, if any.
    pub layout: Option<String>,
    /// The signal, when the core records one.
    pub signal: Option<SignalModel>,
    /// The file is shorter than its headers claim.
    pub truncated: bool,
    /// glibc's `__abort_msg` text (assertions, malloc and fortify failures), if set.
    pub abort_message: Option<String>,
}

/// The full analysis (`mutexdiag CORE --format json`); `schema_version` 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Version of this JSON schema (1).
    pub schema_version: u32,
    /// The core and its process.
    pub core: CoreModel,
    /// Every thread.
    pub threads: Vec<ThreadModel>,
    /// Every mapping.
    pub mappings: Vec<MappingModel>,
    /// Every mutex found.
    pub mutexes: Vec<MutexModel>,
    /// Findings, most severe first.
    pub findings: Vec<FindingModel>,
    /// Warnings about the core or the analysis.
    pub warnings: Vec<WarningModel>,
}

impl Report {
    /// Whether a finding has severity error (the command then exits 1).
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}
