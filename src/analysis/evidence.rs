//! The evidence of a finding as structured values: what the rules saw in the core.
//! Each [`Evidence`] renders (`Display`) to the sentence of the report's
//! `findings[].evidence`; the report keeps those sentences (see docs/findings.md).

use std::fmt;

use super::owner::Owner;
use crate::coredump::Dumped;
use crate::mutex::solaris::Isa;
use crate::mutex::{LockState, MutexType};

/// A list of thread ids: "1, 2, 3".
pub(crate) struct Tids<'a>(pub &'a [u32]);

impl fmt::Display for Tids<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

/// What a register of the crashed thread holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Held {
    /// The owner pointer itself.
    OwnerPointer(u64),
    /// The faulting address, this far past the owner pointer.
    FaultAddress { offset: u64 },
    /// An address inside the mutex.
    Mutex,
}

/// A mutex's owner as an evidence line names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OwnerId {
    Tid(u32),
    Pointer(u64),
    /// Neither is recorded ("?").
    Unknown,
}

/// What points into memory that is not in the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pointer {
    /// A blocked thread's futex word.
    FutexWord { tid: u32 },
    /// A mutex known by its type, named as the rules name mutexes.
    Mutex { name: String },
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pointer::FutexWord { tid } => write!(f, "thread {tid}'s futex word"),
            Pointer::Mutex { name } => f.write_str(name),
        }
    }
}

/// One fact supporting a finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Evidence {
    /// The decoded mutex: layout, address, location, type, sharing, state, raw kind.
    Mutex {
        layout: String,
        address: u64,
        location: super::Location,
        mtype: MutexType,
        pshared: bool,
        state: LockState,
        kind: Option<u64>,
    },
    /// The mutex, without its decoded attributes.
    MutexAt {
        layout: String,
        address: u64,
        location: super::Location,
    },
    /// Its owner is foreign: by TID or by owner pointer, with who it is.
    ForeignOwner { owner: OwnerId, who: Owner },
    /// A thread of this process sleeps on it while no thread here holds it.
    SleepsUnheld {
        tid: u32,
        op: String,
        private: bool,
        unlocked: bool,
    },
    /// The lock word's waiters flag is set but no thread here waits.
    WaitersElsewhere,
    /// The crashed thread's signal and fault address, relative to the owner pointer.
    Fault {
        tid: u32,
        signal: &'static str,
        code: Option<&'static str>,
        fault: u64,
        pointer: u64,
        offset: u64,
    },
    /// Who the owner pointer is (or that it is no thread pointer here).
    OwnerPointer { pointer: u64, who: Owner },
    /// This process's thread pointers (tid, pointer).
    ThreadPointers(Vec<(u32, u64)>),
    /// The offset is exactly `offsetof(ulwp_t, ul_schedctl)` of this ABI.
    SchedctlLoad { offset: u64, isa: Isa },
    /// The offset is inside the owner's thread block.
    InsideThreadBlock { offset: u64, schedctl: u64 },
    /// Registers of a thread hold something tied to the mutex.
    Registers {
        names: Vec<&'static str>,
        tid: u32,
        held: Held,
    },
    /// The x86 page-fault error code.
    PageFault { error: u64 },
    /// A Solaris mapping is shared memory by inference.
    SolarisSharedByInference { location: super::Location },
    /// A Solaris LWP parked while the waiters byte is set.
    ParkedWaiter { tid: u32 },
    /// A thread's private futex call.
    PrivateFutexCall {
        tid: u32,
        address: u64,
        op: String,
        value: u64,
    },
    /// The address lies in a mapping.
    LiesIn {
        address: u64,
        mapping: String,
        start: u64,
        end: u64,
        perms: String,
        dumped: Dumped,
    },
    /// The futex word is free while a thread sleeps on it.
    LostWakeup,
    /// A plain wait for value 2: glibc's lock wait.
    GlibcLockWait,
    /// The owner is none of this process's threads.
    OwnerNotAmong { owner: OwnerId, threads: Vec<u32> },
    /// The mutex is in private memory.
    Unreachable { location: super::Location },
    /// Threads blocked on it for ever.
    BlockedForever(Vec<u32>),
    /// One raw field: "name = 0x…".
    Field { name: &'static str, value: u64 },
    /// Every raw field: "name=0x… name=0x…".
    Fields(Vec<(&'static str, u64)>),
    /// A field combination the layout says cannot occur (the layout's sentence).
    Anomaly(String),
    /// The owner waits for the mutex it holds.
    OwnsAndWaits { tid: u32 },
    /// One step of a wait-for cycle.
    WaitsFor {
        tid: u32,
        mutex: String,
        holder: u32,
    },
    /// Something points into memory that is not in the core.
    PointsInto { what: Pointer, address: u64 },
    /// A mapping whose contents are not in the core.
    NotInCore {
        mapping: String,
        start: u64,
        end: u64,
        perms: String,
    },
    /// The coredump_filter bit that would have kept it.
    FilterBit(&'static str),
    /// The core's executable's build-id.
    CoreBuildId {
        executable: String,
        build_id: String,
    },
    /// `--binary`'s build-id.
    BinaryBuildId { binary: String, build_id: String },
    /// The mismatched binary is not used.
    BinaryNotUsed,
    /// glibc's abort message.
    AbortMessage { address: u64, text: String },
    /// The thread that called `__assert_fail`, and from where.
    AssertCaller { tid: u32, function: Option<String> },
    /// The asserting frame's mutex argument, and how it was recovered.
    MutexArgument { address: u64, how: String },
    /// The mutex argument could not be recovered.
    MutexArgumentLost { how: String },
    /// The one private mutex in shared memory the assertion is likely about.
    OnlySuspect { mutex: String },
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Evidence::Mutex {
                layout,
                address,
                location,
                mtype,
                pshared,
                state,
                kind,
            } => {
                write!(
                    f,
                    "{layout} at {address:#x} in {location}: {mtype:?} {} mutex, {}",
                    if *pshared {
                        "process-shared"
                    } else {
                        "process-private"
                    },
                    format!("{state:?}").to_lowercase(),
                )?;
                if let Some(k) = kind {
                    write!(f, " (kind {k:#x})")?;
                }
                Ok(())
            }
            Evidence::MutexAt {
                layout,
                address,
                location,
            } => write!(f, "{layout} at {address:#x} in {location}"),
            Evidence::ForeignOwner { owner, who } => {
                let note = who.note().unwrap_or_default();
                match owner {
                    OwnerId::Pointer(p) => write!(f, "its owner pointer {p:#x}: {note}"),
                    OwnerId::Tid(t) => write!(f, "its owner {t} ({note})"),
                    OwnerId::Unknown => write!(f, "its owner ? ({note})"),
                }
            }
            Evidence::SleepsUnheld {
                tid,
                op,
                private,
                unlocked,
            } => write!(
                f,
                "thread {tid} sleeps in {op}{} on it while no thread of this process holds it{}",
                if *private { " (private)" } else { "" },
                if *unlocked {
                    " — and it is unlocked: the unlock happened in another process and its wake-up could not reach this one"
                } else {
                    ""
                }
            ),
            Evidence::WaitersElsewhere => f.write_str(
                "its lock word says threads may be waiting, but no thread of this process waits on it: a waiter may be in another process",
            ),
            Evidence::Fault {
                tid,
                signal,
                code,
                fault,
                pointer,
                offset,
            } => {
                write!(f, "thread {tid} died of {signal}")?;
                if let Some(c) = code {
                    write!(f, " ({c})")?;
                }
                write!(f, " at {fault:#x} = owner pointer {pointer:#x} + {offset:#x}")
            }
            Evidence::OwnerPointer { pointer, who } => match who.note() {
                Some(n) => f.write_str(&n),
                None => write!(f, "owner pointer {pointer:#x} is not a thread pointer here"),
            },
            Evidence::ThreadPointers(tps) => {
                f.write_str("this process's thread pointers: ")?;
                for (i, (t, p)) in tps.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{t} → {p:#x}")?;
                }
                Ok(())
            }
            Evidence::SchedctlLoad { offset, isa } => write!(
                f,
                "+{offset:#x} is offsetof(ulwp_t, ul_schedctl) on {}: the load mutex_trylock_adaptive() makes through the owner pointer to see whether the owner is running",
                isa.name()
            ),
            Evidence::InsideThreadBlock { offset, schedctl } => write!(
                f,
                "+{offset:#x} is inside the owner's thread block (offsetof(ulwp_t, ul_schedctl) is {schedctl:#x})"
            ),
            Evidence::Registers { names, tid, held } => {
                write!(f, "register {} of thread {tid} ", names.join(", "))?;
                match held {
                    Held::OwnerPointer(p) => write!(f, "holds the owner pointer {p:#x}"),
                    Held::FaultAddress { offset } => write!(
                        f,
                        "holds the faulting address (owner pointer + {offset:#x})"
                    ),
                    Held::Mutex => f.write_str("points at the mutex"),
                }
            }
            Evidence::PageFault { error } => write!(
                f,
                "page-fault error code {error:#x}: a {} of a {} page",
                if error & 2 == 0 { "read" } else { "write" },
                if error & 1 == 0 {
                    "not-present"
                } else {
                    "protected"
                }
            ),
            Evidence::SolarisSharedByInference { location } => write!(
                f,
                "Solaris cores record no mapping names and no SysV shm ids or shared flags: {location} is shared memory by inference (it holds a lock whose owner is not mapped in this process)"
            ),
            Evidence::ParkedWaiter { tid } => write!(
                f,
                "LWP {tid} is parked in lwp_park and the mutex's waiters byte is set: USYNC_THREAD waiters sleep on this process's private sleep queue, which an unlock in the other process never looks at"
            ),
            Evidence::PrivateFutexCall {
                tid,
                address,
                op,
                value,
            } => write!(
                f,
                "thread {tid} is in futex({address:#x}, {op} | FUTEX_PRIVATE_FLAG, {value}) "
            ),
            Evidence::LiesIn {
                address,
                mapping,
                start,
                end,
                perms,
                dumped,
            } => write!(
                f,
                "{address:#x} lies in {mapping} ({start:#x}-{end:#x}, {perms}), contents {}",
                match dumped {
                    Dumped::Full => "dumped",
                    Dumped::Partial => "partly dumped",
                    Dumped::None => "not in the core",
                }
            ),
            Evidence::LostWakeup => {
                f.write_str("the futex word is free, yet the thread still sleeps: a lost wake-up")
            }
            Evidence::GlibcLockWait => f.write_str(
                "a wait with value 2 is glibc's mutex lock wait (__lll_lock_wait): a process-private mutex",
            ),
            Evidence::OwnerNotAmong { owner, threads } => {
                let n = threads.len();
                let list = Tids(threads);
                match owner {
                    OwnerId::Pointer(p) => write!(
                        f,
                        "owner pointer {p:#x} is no thread pointer of this process's {n} threads ({list})"
                    ),
                    OwnerId::Tid(t) => write!(
                        f,
                        "owner TID {t} is not among this process's {n} threads ({list})"
                    ),
                    OwnerId::Unknown => write!(
                        f,
                        "owner TID ? is not among this process's {n} threads ({list})"
                    ),
                }
            }
            Evidence::Unreachable { location } => write!(
                f,
                "the mutex is in {location}, which no other process can reach"
            ),
            Evidence::BlockedForever(t) => {
                write!(f, "blocked on it for ever: thread {}", Tids(t))
            }
            Evidence::Field { name, value } => write!(f, "{name} = {value:#x}"),
            Evidence::Fields(fields) => {
                for (i, (n, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{n}={v:#x}")?;
                }
                Ok(())
            }
            Evidence::Anomaly(a) => f.write_str(a),
            Evidence::OwnsAndWaits { tid } => write!(
                f,
                "thread {tid} owns it (owner field) and is blocked locking it"
            ),
            Evidence::WaitsFor { tid, mutex, holder } => {
                write!(f, "thread {tid} waits for {mutex}, held by thread {holder}")
            }
            Evidence::PointsInto { what, address } => write!(f, "{what} {address:#x}"),
            Evidence::NotInCore {
                mapping,
                start,
                end,
                perms,
            } => write!(
                f,
                "{mapping} {start:#x}-{end:#x} ({perms}) is mapped but its contents are not in the core"
            ),
            Evidence::FilterBit(bit) => write!(f, "coredump_filter {bit} would have kept it"),
            Evidence::CoreBuildId {
                executable,
                build_id,
            } => write!(
                f,
                "the core's executable {executable} has build-id {build_id}"
            ),
            Evidence::BinaryBuildId { binary, build_id } => {
                write!(f, "--binary {binary} has build-id {build_id}")
            }
            Evidence::BinaryNotUsed => {
                f.write_str("its symbols and debug information are not used for this core")
            }
            Evidence::AbortMessage { address, text } => {
                write!(f, "__abort_msg at {address:#x}: {text:?}")
            }
            Evidence::AssertCaller { tid, function } => write!(
                f,
                "thread {tid} called __assert_fail from {}",
                function.as_deref().unwrap_or("glibc's mutex code")
            ),
            Evidence::MutexArgument { address, how } => {
                write!(f, "the mutex argument is {address:#x} ({how})")
            }
            Evidence::MutexArgumentLost { how } => {
                write!(f, "the mutex argument is not recoverable: {how}")
            }
            Evidence::OnlySuspect { mutex } => write!(
                f,
                "{mutex} is the only process-private mutex in shared memory in this core: the assertion is most likely about it"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sentences are those the rules wrote before evidence was typed.
    #[test]
    fn renders_the_report_sentences() {
        let m = Evidence::Mutex {
            layout: "glibc-x86_64".into(),
            address: 0x1000,
            location: super::super::Location::Section {
                section: ".bss".into(),
                module: "app".into(),
            },
            mtype: MutexType::Normal,
            pshared: false,
            state: LockState::Contended,
            kind: Some(0),
        };
        assert_eq!(
            m.to_string(),
            "glibc-x86_64 at 0x1000 in .bss of app: Normal process-private mutex, contended (kind 0x0)"
        );
        let r = Evidence::Registers {
            names: vec!["rdi", "rbx"],
            tid: 7,
            held: Held::FaultAddress { offset: 0x128 },
        };
        assert_eq!(
            r.to_string(),
            "register rdi, rbx of thread 7 holds the faulting address (owner pointer + 0x128)"
        );
        assert_eq!(
            Evidence::PageFault { error: 4 }.to_string(),
            "page-fault error code 0x4: a read of a not-present page"
        );
        assert_eq!(
            Evidence::OwnerNotAmong {
                owner: OwnerId::Tid(9),
                threads: vec![1, 2]
            }
            .to_string(),
            "owner TID 9 is not among this process's 2 threads (1, 2)"
        );
        assert_eq!(
            Evidence::Fields(vec![("__lock", 2), ("__owner", 0x10)]).to_string(),
            "__lock=0x2 __owner=0x10"
        );
        assert_eq!(
            Evidence::PointsInto {
                what: Pointer::FutexWord { tid: 3 },
                address: 0x20
            }
            .to_string(),
            "thread 3's futex word 0x20"
        );
    }
}
