//! The serialisable model shared by every command's output. Renderers (text, JSON,
//! markdown) only read it. Field-by-field documentation: `docs/json.md`.

// Not yet documented item by item (issue 9): the report's fields are described in
// docs/json.md, the error variants by their messages, the codes in docs/findings.md.
#![allow(missing_docs)]

use serde::{Deserialize, Serialize};

use super::hex::Hex;
use crate::coredump::{self, Core, signals};
use crate::mappings::Mapping;
use crate::memory::AddressSpace;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignalModel {
    pub number: u32,
    pub name: Option<String>,
    pub code: Option<i32>,
    pub code_name: Option<String>,
    /// Fault address (SIGSEGV, SIGBUS, ...), null for signals that have none.
    pub address: Option<Hex>,
    /// Sender of a kill()/tkill() signal.
    pub sender_pid: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcessModel {
    pub pid: Option<u32>,
    pub ppid: Option<u32>,
    pub executable: Option<String>,
    pub args: Option<String>,
    pub signal: Option<SignalModel>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FutexModel {
    pub address: Hex,
    pub op: String,
    pub private: bool,
    pub value: Hex,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyscallModel {
    pub number: u64,
    pub name: Option<String>,
    pub args: Vec<Hex>,
    pub confidence: coredump::syscall::Confidence,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadModel {
    pub tid: u32,
    pub crashed: bool,
    pub signal: Option<u32>,
    pub pc: Option<Hex>,
    pub sp: Option<Hex>,
    pub thread_pointer: Option<Hex>,
    pub futex: Option<FutexModel>,
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
    pub pc: Hex,
    /// The module's path as the core names it.
    pub module: Option<String>,
    /// `pc` in the module's link-time address space (what `addr2line -e` takes).
    pub offset: Option<Hex>,
    /// Demangled function name (DWARF, else the symbol tables).
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// Inlined into the next frame (same pc).
    pub inlined: bool,
    /// How the frame was found: context, cfi, signal-context, frame-pointer,
    /// link-register, tail-call, or scan (a guess).
    pub source: String,
    /// The signal trampoline ("<signal handler called>").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub signal_trampoline: bool,
}

pub fn frame_models(frames: &[crate::symbols::unwind::Frame]) -> Vec<FrameModel> {
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
            source: f.source.as_str().to_string(),
            signal_trampoline: f.signal_trampoline,
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MappingModel {
    pub start: Hex,
    pub end: Hex,
    pub perms: String,
    /// Offset into the file, in bytes.
    pub offset: Hex,
    pub path: Option<String>,
    pub kind: String,
    pub shared: bool,
    pub dumped: String,
    pub key: Option<Hex>,
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WarningModel {
    pub code: String,
    pub message: String,
}

/// The `threads --format json` document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadsDoc {
    pub process: ProcessModel,
    pub threads: Vec<ThreadModel>,
    pub warnings: Vec<WarningModel>,
}

/// The `maps --format json` document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapsDoc {
    pub mappings: Vec<MappingModel>,
    pub warnings: Vec<WarningModel>,
}

pub fn signal_model(core: &Core<'_>) -> Option<SignalModel> {
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
pub fn executable(core: &Core<'_>, maps: &[Mapping], space: &AddressSpace<'_>) -> Option<String> {
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

pub fn process_model(core: &Core<'_>, maps: &[Mapping], space: &AddressSpace<'_>) -> ProcessModel {
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

pub fn thread_models(core: &Core<'_>) -> Vec<ThreadModel> {
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

pub fn mapping_models(maps: &[Mapping]) -> Vec<MappingModel> {
    maps.iter()
        .map(|m| MappingModel {
            start: Hex(m.start),
            end: Hex(m.end),
            perms: m.perms.clone(),
            offset: Hex(m.offset),
            path: m.path.clone(),
            kind: m.kind.as_str().to_string(),
            shared: m.shared,
            dumped: m.dumped.as_str().to_string(),
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

pub fn warning_models(ws: &[coredump::Warning]) -> Vec<WarningModel> {
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

/// Compares with the JSON spelling, for code written against the string form.
impl PartialEq<&str> for OwnerClass {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The mutex's owner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OwnerModel {
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MutexModel {
    pub address: Hex,
    pub layout: String,
    /// `normal`, `recursive`, `errorcheck`, `adaptive`, `unknown`; null when the
    /// bytes are not in the core.
    #[serde(rename = "type")]
    pub mtype: Option<crate::mutex::MutexType>,
    pub pshared: Option<bool>,
    pub robust: Option<bool>,
    pub protocol: Option<crate::mutex::Protocol>,
    pub state: Option<crate::mutex::LockState>,
    pub count: Option<u32>,
    pub nusers: Option<u32>,
    /// Priority ceiling of a priority-protect mutex.
    pub ceiling: Option<u32>,
    pub owner: OwnerModel,
    /// Start of the mapping holding the mutex.
    pub mapping: Option<Hex>,
    pub mapping_kind: Option<String>,
    /// Human description of the location ("SysV shm segment key 0x6d757478", ".bss of app").
    pub location: String,
    /// SysV IPC key when the mutex is in a SysV segment.
    pub key: Option<Hex>,
    pub symbol: Option<String>,
    pub waiters: Vec<u32>,
    pub found_by: Vec<String>,
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FindingModel {
    pub code: crate::analysis::findings::Code,
    pub severity: Severity,
    pub title: String,
    pub mutexes: Vec<Hex>,
    pub threads: Vec<u32>,
    /// One-line verdict.
    pub message: String,
    /// The facts from the core that support it.
    pub evidence: Vec<String>,
    pub explanation: String,
    pub fix: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoreModel {
    pub path: String,
    pub pid: Option<u32>,
    pub ppid: Option<u32>,
    pub executable: Option<String>,
    pub args: Option<String>,
    pub arch: String,
    pub os: crate::coredump::Os,
    pub libc: crate::mutex::select::Libc,
    pub layout: Option<String>,
    pub signal: Option<SignalModel>,
    pub truncated: bool,
    /// glibc's `__abort_msg` text (assertions, malloc and fortify failures), if set.
    pub abort_message: Option<String>,
}

/// The full analysis (`mutexdiag CORE --format json`); `schema_version` 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub core: CoreModel,
    pub threads: Vec<ThreadModel>,
    pub mappings: Vec<MappingModel>,
    pub mutexes: Vec<MutexModel>,
    pub findings: Vec<FindingModel>,
    pub warnings: Vec<WarningModel>,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}
