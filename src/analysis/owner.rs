//! Who owns a mutex: the owner field classified against this process's threads and
//! the peer cores, as a typed [`Owner`]. Its sentence (the report's `owner.note`) is
//! produced by `Display` when the report is built, not during the analysis.

use std::fmt;

use super::Peer;
use crate::coredump::Core;
use crate::mutex::owner::{OwnerPointer, PointerClass};
use crate::mutex::{Decoded, LockState};
use crate::report::model::OwnerClass;

/// A thread of another process's core (`--peer`) that an owner field names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PeerThread {
    pub tid: u32,
    /// The peer process's id, when its core records one.
    pub pid: Option<u32>,
    /// The peer core's path, as given.
    pub path: String,
    /// How the peer process is related to this one.
    pub relation: Relation,
}

/// A peer process's relation to this one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Relation {
    Child,
    Parent,
    Other,
}

/// Why an owner TID that is not a thread of this process is foreign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ForeignTid {
    /// A thread of a peer core.
    Peer(PeerThread),
    /// The parent process's id.
    Parent,
    /// This process's own id: its main thread, which is gone.
    MainThreadGone,
    /// Nothing else is known; `shared` tells whether the mutex is in shared memory.
    Absent { shared: bool },
}

/// The owner of a mutex, classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The mutex's bytes are not in the core.
    NotDumped,
    /// Nobody holds it (unlocked, destroyed, not recoverable).
    Nobody,
    /// A robust mutex whose owner died holding it.
    Died { tid: Option<u32> },
    /// A thread of this process.
    OwnThread { tid: u32 },
    /// A TID that is not a thread of this process.
    ForeignTid { tid: u32, why: ForeignTid },
    /// The mutex type records no owner.
    NotRecorded,
    /// An owner thread pointer, classified; `peer`: the peer core thread whose
    /// thread pointer it is.
    Pointer {
        pointer: OwnerPointer,
        peer: Option<PeerThread>,
    },
}

impl Owner {
    /// The class the report gives (`owner.class`).
    pub fn class(&self) -> OwnerClass {
        match self {
            Owner::NotDumped | Owner::NotRecorded => OwnerClass::Unknown,
            Owner::Nobody => OwnerClass::None,
            Owner::Died { .. } => OwnerClass::Dead,
            Owner::OwnThread { .. } => OwnerClass::OwnThread,
            Owner::ForeignTid { .. } => OwnerClass::Foreign,
            Owner::Pointer { pointer, .. } => match pointer.class {
                PointerClass::None => OwnerClass::None,
                PointerClass::OwnThread => OwnerClass::OwnThread,
                PointerClass::ForeignUnmapped | PointerClass::ForeignMapped => OwnerClass::Foreign,
            },
        }
    }

    /// The sentence the report gives (`owner.note`), when there is one.
    pub fn note(&self) -> Option<String> {
        let none = match self {
            Owner::Nobody | Owner::Died { tid: None } => true,
            Owner::Pointer { pointer, .. } => pointer.class == PointerClass::None,
            _ => false,
        };
        (!none).then(|| self.to_string())
    }
}

fn opt(x: Option<u32>) -> String {
    x.map_or_else(|| "?".to_string(), |x| x.to_string())
}

impl fmt::Display for PeerThread {
    /// "thread 12 of process 10, a child of this process (peer core c.core)"
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rel = match self.relation {
            Relation::Child => ", a child of this process",
            Relation::Parent => ", the parent of this process",
            Relation::Other => "",
        };
        write!(
            f,
            "thread {} of process {}{rel} (peer core {})",
            self.tid,
            opt(self.pid),
            self.path
        )
    }
}

/// "the thread pointer of thread 12 of process 10 (peer core c.core)"
struct PeerPointer<'a>(&'a PeerThread);

impl fmt::Display for PeerPointer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the thread pointer of thread {} of process {} (peer core {})",
            self.0.tid,
            opt(self.0.pid),
            self.0.path
        )
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::NotDumped => f.write_str("the mutex's bytes are not in the core"),
            Owner::Nobody | Owner::Died { tid: None } => Ok(()),
            Owner::Died { tid: Some(t) } => write!(f, "thread {t} died holding it"),
            Owner::OwnThread { tid } => write!(f, "thread {tid} of this process"),
            Owner::ForeignTid { tid: t, why } => match why {
                ForeignTid::Peer(p) => write!(f, "thread {t} is not in this process: it is {p}"),
                ForeignTid::Parent => write!(
                    f,
                    "thread {t} is not in this process: it is the parent process (ppid {t})"
                ),
                ForeignTid::MainThreadGone => {
                    write!(f, "thread {t} is this process's main thread, which is gone")
                }
                ForeignTid::Absent { shared: true } => {
                    write!(f, "thread {t} is not a thread of this process")
                }
                ForeignTid::Absent { shared: false } => write!(
                    f,
                    "thread {t} is not a thread of this process and the mutex is in private memory: the thread exited holding it, or the lock was inherited locked across fork()"
                ),
            },
            Owner::NotRecorded => f.write_str("this mutex type records no owner"),
            Owner::Pointer { pointer: op, peer } => {
                let p = op.pointer;
                match op.class {
                    PointerClass::None => Ok(()),
                    PointerClass::OwnThread => write!(
                        f,
                        "owner pointer {p:#x} is the thread pointer of thread {} of this process",
                        opt(op.tid)
                    ),
                    PointerClass::ForeignUnmapped => match peer {
                        Some(n) => write!(
                            f,
                            "owner pointer {p:#x} is not mapped in this process (foreign-unmapped): it is {}",
                            PeerPointer(n)
                        ),
                        None => write!(
                            f,
                            "owner pointer {p:#x} is not mapped in this process (foreign-unmapped): a thread pointer of another process"
                        ),
                    },
                    PointerClass::ForeignMapped => {
                        write!(
                            f,
                            "owner pointer {p:#x} is mapped here ({}) but is no thread's thread pointer (foreign-mapped)",
                            op.mapping.as_deref().unwrap_or("?"),
                        )?;
                        if op.self_pointing {
                            f.write_str("; the memory there is shaped like a thread block (it points to itself): an exited thread's, or another process's at the same address")?;
                        }
                        if let Some(n) = peer {
                            write!(f, "; it is {}", PeerPointer(n))?;
                        }
                        Ok(())
                    }
                }
            }
        }
    }
}

/// The peer core thread with this TID, and how its process relates to this one.
fn peer_thread(core: &Core<'_>, peers: &[Peer], tid: u32) -> Option<PeerThread> {
    let me = core.process.as_ref().and_then(|p| p.pid);
    let parent = core.process.as_ref().and_then(|p| p.ppid);
    let p = peers.iter().find(|p| p.tids.contains(&tid))?;
    let relation = if p.ppid.is_some() && p.ppid == me {
        Relation::Child
    } else if p.pid.is_some() && p.pid == parent {
        Relation::Parent
    } else {
        Relation::Other
    };
    Some(PeerThread {
        tid,
        pid: p.pid,
        path: p.path.clone(),
        relation,
    })
}

/// The peer core thread whose thread pointer is `pointer`.
fn peer_pointer(peers: &[Peer], pointer: u64) -> Option<PeerThread> {
    peers.iter().find_map(|peer| {
        let (tid, _) = peer.thread_pointers.iter().find(|(_, tp)| *tp == pointer)?;
        Some(PeerThread {
            tid: *tid,
            pid: peer.pid,
            path: peer.path.clone(),
            relation: Relation::Other,
        })
    })
}

/// Classify a mutex's owner: its decoded fields (none: the bytes are not in the
/// core), its owner pointer classified, the peer cores, and whether the mutex is in
/// shared memory.
pub(crate) fn classify(
    core: &Core<'_>,
    d: Option<&Decoded>,
    op: Option<&OwnerPointer>,
    peers: &[Peer],
    shared: bool,
) -> Owner {
    let Some(d) = d else {
        return Owner::NotDumped;
    };
    let ppid = core.process.as_ref().and_then(|p| p.ppid);
    let pid = core.process.as_ref().and_then(|p| p.pid);
    match d.state {
        LockState::Unlocked | LockState::Destroyed | LockState::NotRecoverable => Owner::Nobody,
        LockState::OwnerDied => Owner::Died { tid: d.owner_tid },
        _ => match d.owner_tid {
            Some(t) if core.thread(t).is_some() => Owner::OwnThread { tid: t },
            Some(t) => {
                let why = if let Some(p) = peer_thread(core, peers, t) {
                    ForeignTid::Peer(p)
                } else if Some(t) == ppid {
                    ForeignTid::Parent
                } else if Some(t) == pid {
                    ForeignTid::MainThreadGone
                } else {
                    ForeignTid::Absent { shared }
                };
                Owner::ForeignTid { tid: t, why }
            }
            None => match op {
                Some(op) => Owner::Pointer {
                    pointer: op.clone(),
                    peer: peer_pointer(peers, op.pointer),
                },
                None => Owner::NotRecorded,
            },
        },
    }
}
