//! The one-line verdict of each finding, as facts: made by the rules, rendered to
//! the report's `message` by `Display` when the report is built (as evidence is).

use std::fmt;

use super::Location;
use super::evidence::{Evidence, OwnerId, Tids};
use crate::mappings::Place;
use crate::mutex::LockState;

/// A mutex as a sentence names it: `g_lock (0x4010)`, else `mutex 0x4010`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MutexName {
    pub symbol: Option<String>,
    pub address: u64,
}

impl fmt::Display for MutexName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.symbol {
            Some(s) => write!(f, "{s} ({:#x})", self.address),
            None => write!(f, "mutex {:#x}", self.address),
        }
    }
}

/// A finding's one-line verdict, one variant per kind of sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Message {
    /// `owner-deref-crash`.
    OwnerDerefCrash {
        tid: u32,
        fault: u64,
        pointer: u64,
        offset: u64,
        mutex: MutexName,
        location: Location,
    },
    /// `cross-process-private-mutex`.
    CrossProcessPrivate {
        mutex: MutexName,
        place: Option<Place>,
        /// The owner's TID, when the owner is foreign.
        foreign_owner: Option<u32>,
        waiters: Vec<u32>,
    },
    /// `private-mutex-in-shared-memory`.
    PrivateInShared {
        mutex: MutexName,
        place: Option<Place>,
    },
    /// `private-futex-on-shared-memory`.
    PrivateFutexOnShared { tid: u32, futex: u64, place: Place },
    /// `abandoned-lock`.
    Abandoned {
        mutex: MutexName,
        location: Location,
        owner: OwnerId,
        waiters: Vec<u32>,
    },
    /// `owner-died`: the robust mutex's state (owner-died, inconsistent,
    /// not-recoverable) and the owner TID the word records.
    OwnerDied {
        mutex: MutexName,
        location: Location,
        state: LockState,
        owner_tid: Option<u32>,
    },
    /// `self-deadlock`.
    SelfDeadlock { tid: u32, mutex: MutexName },
    /// `deadlock-cycle`: each thread of the cycle with the mutex it waits for.
    DeadlockCycle {
        cycle: Vec<(u32, Option<MutexName>)>,
    },
    /// `corrupt-mutex`.
    Corrupt {
        mutex: MutexName,
        anomalies: Vec<String>,
    },
    /// `segment-not-dumped`: what points into the mapping (`Evidence::PointsInto`).
    SegmentNotDumped {
        pointers: Vec<Evidence>,
        place: Place,
        filter_bit: &'static str,
    },
    /// `binary-mismatch`.
    BinaryMismatch { binary: String, executable: String },
    /// `mutex-assertion`.
    MutexAssertion {
        tid: Option<u32>,
        expression: String,
        function: Option<String>,
        file: Option<String>,
        line: Option<u32>,
        mutex: Option<MutexName>,
    },
}

/// `place`, or nothing (a mutex in no mapping).
struct OrEmpty<'a>(&'a Option<Place>);

impl fmt::Display for OrEmpty<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(p) => p.fmt(f),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::OwnerDerefCrash {
                tid,
                fault,
                pointer,
                offset,
                mutex,
                location,
            } => write!(
                f,
                "thread {tid} crashed at {fault:#x} reading owner pointer {pointer:#x} + {offset:#x} of {mutex} in {location}: this process dereferenced a thread pointer of another process"
            ),
            Message::CrossProcessPrivate {
                mutex,
                place,
                foreign_owner,
                waiters,
            } => {
                write!(
                    f,
                    "{mutex} in {} is process-private but used by another process",
                    OrEmpty(place)
                )?;
                if let Some(t) = foreign_owner {
                    write!(f, ": owner TID {t} is not in this process")?;
                }
                if !waiters.is_empty() {
                    write!(
                        f,
                        "; thread {} waits on it with a private futex",
                        Tids(waiters)
                    )?;
                }
                Ok(())
            }
            Message::PrivateInShared { mutex, place } => {
                write!(f, "{mutex} in {} is process-private", OrEmpty(place))
            }
            Message::PrivateFutexOnShared { tid, futex, place } => write!(
                f,
                "thread {tid} sleeps in a private futex wait on {futex:#x} in {place}: no other process can wake it"
            ),
            Message::Abandoned {
                mutex,
                location,
                owner,
                waiters,
            } => {
                write!(f, "{mutex} in {location} is held by ")?;
                match owner {
                    OwnerId::Pointer(p) => write!(f, "the thread whose thread pointer is {p:#x}")?,
                    OwnerId::Tid(t) => write!(f, "thread {t}")?,
                    OwnerId::Unknown => write!(f, "thread 0")?,
                }
                f.write_str(", which no longer exists")?;
                if !waiters.is_empty() {
                    write!(f, "; thread {} waits on it for ever", Tids(waiters))?;
                }
                Ok(())
            }
            Message::OwnerDied {
                mutex,
                location,
                state,
                owner_tid,
            } => {
                write!(f, "robust {mutex} in {location}: ")?;
                match state {
                    LockState::OwnerDied => {
                        f.write_str("its owner")?;
                        if let Some(t) = owner_tid {
                            write!(f, " (thread {t})")?;
                        }
                        f.write_str(" died holding it; the next locker gets EOWNERDEAD")
                    }
                    LockState::Inconsistent => {
                        f.write_str("it was taken after its owner died")?;
                        if let Some(t) = owner_tid {
                            write!(f, " (now held by {t})")?;
                        }
                        f.write_str(" and is not yet consistent")
                    }
                    _ => f.write_str("it was unlocked while inconsistent and is not recoverable"),
                }
            }
            Message::SelfDeadlock { tid, mutex } => {
                write!(f, "thread {tid} waits for {mutex}, which it already holds")
            }
            Message::DeadlockCycle { cycle } => {
                let tids: Vec<u32> = cycle.iter().map(|(t, _)| *t).collect();
                write!(f, "deadlock between threads {}: ", Tids(&tids))?;
                for (t, m) in cycle {
                    write!(f, "{t} → ")?;
                    if let Some(m) = m {
                        write!(f, "{m}")?;
                    }
                    f.write_str(" → ")?;
                }
                match tids.first() {
                    Some(t) => write!(f, "{t}"),
                    None => Ok(()),
                }
            }
            Message::Corrupt { mutex, anomalies } => write!(
                f,
                "{mutex} holds impossible values: {}",
                anomalies.join("; ")
            ),
            Message::SegmentNotDumped {
                pointers,
                place,
                filter_bit,
            } => {
                for (i, p) in pointers.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{p}")?;
                }
                write!(
                    f,
                    " points into {place}, whose contents are not in the core (coredump_filter {filter_bit})"
                )
            }
            Message::BinaryMismatch { binary, executable } => write!(
                f,
                "--binary {binary} is not the executable that produced this core ({executable})"
            ),
            Message::MutexAssertion {
                tid,
                expression,
                function,
                file,
                line,
                mutex,
            } => {
                match tid {
                    Some(t) => write!(f, "thread {t}")?,
                    None => f.write_str("the process")?,
                }
                write!(
                    f,
                    " aborted: glibc assertion `{expression}' failed in {}",
                    function.as_deref().unwrap_or("?")
                )?;
                if let (Some(file), Some(line)) = (file, line) {
                    write!(f, " ({file}:{line})")?;
                }
                if let Some(m) = mutex {
                    write!(f, " on {m}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(address: u64) -> MutexName {
        MutexName {
            symbol: Some("g_lock".into()),
            address,
        }
    }

    /// The sentences the rules wrote with `format!` before messages were typed.
    #[test]
    fn renders_the_sentences_the_rules_wrote() {
        let cycle = Message::DeadlockCycle {
            cycle: vec![(11, Some(g(0x10))), (12, None)],
        };
        assert_eq!(
            cycle.to_string(),
            "deadlock between threads 11, 12: 11 → g_lock (0x10) → 12 →  → 11"
        );
        let died = Message::OwnerDied {
            mutex: MutexName {
                symbol: None,
                address: 0x20,
            },
            location: Location::Heap,
            state: LockState::OwnerDied,
            owner_tid: Some(7),
        };
        assert_eq!(
            died.to_string(),
            "robust mutex 0x20 in heap: its owner (thread 7) died holding it; the next locker gets EOWNERDEAD"
        );
        let cross = Message::CrossProcessPrivate {
            mutex: g(0x30),
            place: None,
            foreign_owner: Some(99),
            waiters: vec![1, 2],
        };
        assert_eq!(
            cross.to_string(),
            "g_lock (0x30) in  is process-private but used by another process: owner TID 99 is not in this process; thread 1, 2 waits on it with a private futex"
        );
        let assertion = Message::MutexAssertion {
            tid: None,
            expression: "e".into(),
            function: None,
            file: Some("m.c".into()),
            line: Some(3),
            mutex: Some(g(0x40)),
        };
        assert_eq!(
            assertion.to_string(),
            "the process aborted: glibc assertion `e' failed in ? (m.c:3) on g_lock (0x40)"
        );
        let abandoned = Message::Abandoned {
            mutex: g(0x50),
            location: Location::Section {
                section: ".bss".into(),
                module: "app".into(),
            },
            owner: OwnerId::Pointer(0xabc),
            waiters: vec![],
        };
        assert_eq!(
            abandoned.to_string(),
            "g_lock (0x50) in .bss of app is held by the thread whose thread pointer is 0xabc, which no longer exists"
        );
    }
}
