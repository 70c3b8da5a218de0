//! The finding codes: a [`Code`] enum whose metadata (severity, title, explanation,
//! fix) lives in one table, [`CODES`]. The table is the single source for
//! `mutexdiag explain CODE` and is checked against `docs/findings.md` by a test.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::report::model::Severity;

/// A finding's code. Serialised as its stable kebab-case name (`"deadlock-cycle"`),
/// the spelling of the JSON report and of `mutexdiag explain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// `cross-process-private-mutex`
    CrossProcessPrivateMutex,
    /// `private-mutex-in-shared-memory`
    PrivateMutexInSharedMemory,
    /// `private-futex-on-shared-memory`
    PrivateFutexOnSharedMemory,
    /// `abandoned-lock`
    AbandonedLock,
    /// `owner-died`
    OwnerDied,
    /// `self-deadlock`
    SelfDeadlock,
    /// `deadlock-cycle`
    DeadlockCycle,
    /// `corrupt-mutex`
    CorruptMutex,
    /// `segment-not-dumped`
    SegmentNotDumped,
    /// `binary-mismatch`
    BinaryMismatch,
    /// `mutex-assertion`
    MutexAssertion,
    /// `owner-deref-crash`
    OwnerDerefCrash,
}

impl Code {
    /// Every code.
    pub const ALL: &'static [Code] = &[
        Code::CrossProcessPrivateMutex,
        Code::PrivateMutexInSharedMemory,
        Code::PrivateFutexOnSharedMemory,
        Code::AbandonedLock,
        Code::OwnerDied,
        Code::SelfDeadlock,
        Code::DeadlockCycle,
        Code::CorruptMutex,
        Code::SegmentNotDumped,
        Code::BinaryMismatch,
        Code::MutexAssertion,
        Code::OwnerDerefCrash,
    ];

    /// The stable name (`"deadlock-cycle"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::CrossProcessPrivateMutex => "cross-process-private-mutex",
            Code::PrivateMutexInSharedMemory => "private-mutex-in-shared-memory",
            Code::PrivateFutexOnSharedMemory => "private-futex-on-shared-memory",
            Code::AbandonedLock => "abandoned-lock",
            Code::OwnerDied => "owner-died",
            Code::SelfDeadlock => "self-deadlock",
            Code::DeadlockCycle => "deadlock-cycle",
            Code::CorruptMutex => "corrupt-mutex",
            Code::SegmentNotDumped => "segment-not-dumped",
            Code::BinaryMismatch => "binary-mismatch",
            Code::MutexAssertion => "mutex-assertion",
            Code::OwnerDerefCrash => "owner-deref-crash",
        }
    }

    /// The code's metadata.
    pub fn info(self) -> &'static CodeInfo {
        // CODES holds every code once (checked by a test), so the search succeeds.
        CODES.iter().find(|c| c.code == self).unwrap_or(&CODES[0])
    }

    /// How bad a finding with this code is.
    pub fn severity(self) -> Severity {
        self.info().severity
    }

    /// One-line title.
    pub fn title(self) -> &'static str {
        self.info().title
    }

    /// What it means and why it breaks.
    pub fn explanation(self) -> &'static str {
        self.info().explanation
    }

    /// How to fix the program.
    pub fn fix(self) -> &'static str {
        self.info().fix
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Code {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown finding code {s:?}"))
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A code's metadata.
#[derive(Debug)]
pub struct CodeInfo {
    /// The code.
    pub code: Code,
    /// Its severity.
    pub severity: Severity,
    /// One-line title.
    pub title: &'static str,
    /// What it means and why it breaks (docs/findings.md has the same text).
    pub explanation: &'static str,
    /// How to fix the program.
    pub fix: &'static str,
}

/// Every code with its metadata, in the order `mutexdiag explain` lists them.
pub static CODES: &[CodeInfo] = &[
    CodeInfo {
        code: Code::CrossProcessPrivateMutex,
        severity: Severity::Error,
        title: "process-private mutex used by more than one process",
        explanation: "The mutex lives in memory shared between processes (SysV or POSIX shared \
memory, a memfd, an anonymous shared mapping) but was initialised process-private \
(PTHREAD_PROCESS_PRIVATE, the default; on Solaris USYNC_THREAD). The core shows another \
process using it: its owner is a thread that is not in this process, or a thread of this \
process sleeps on it while no thread here holds it. A private mutex keys its futex waits on \
the waiting process's own address space, so an unlock in one process never wakes a waiter in \
the other (a lost wake-up: the waiter hangs for ever), glibc's single-threaded fast path takes \
and releases it with plain stores (no mutual exclusion between two single-threaded processes), \
and the owner field holds a thread id (Linux) or a thread pointer (Solaris) that means \
nothing in the other process.",
        fix: "Initialise the mutex with a pthread_mutexattr_t on which \
pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) was called (on Solaris: \
mutex_init(&m, USYNC_PROCESS, NULL)), before any process uses it, exactly once; consider \
PTHREAD_MUTEX_ROBUST as well so that a process dying while holding it does not hang the \
others.",
    },
    CodeInfo {
        code: Code::OwnerDerefCrash,
        severity: Severity::Error,
        title: "crash dereferencing a thread pointer of another process",
        explanation: "The process died of SIGSEGV or SIGBUS at an address that is a mutex's \
owner pointer or lies just past it (within a thread block), and the owner pointer is not a \
thread pointer of this process: the crashing thread was reading the owner's thread block \
through a pointer that another process stored. A Solaris mutex_t records its owner as the \
owner's ulwp_t address; mutex_trylock_adaptive() (the spin phase of mutex_lock on a \
USYNC_THREAD mutex) loads owner->ul_schedctl (owner + 0x128 on amd64, + 0x140 on sparcv9, \
+ 0xc8 on i386, + 0xf0 on sparc) to see whether the owner is running. When the mutex was \
initialised USYNC_THREAD (process-private) but lives in shared memory, the owner can be a \
thread of another process, whose ulwp_t is unmapped (SIGSEGV) or garbage here: this process \
dereferenced a thread pointer of another process. The same misuse also loses wake-ups \
(waiters park on a process-private sleep queue).",
        fix: "Initialise the mutex process-shared: mutex_init(&m, USYNC_PROCESS, NULL) or \
pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) before pthread_mutex_init, once, \
before any other process maps it (add LOCK_ROBUST / PTHREAD_MUTEX_ROBUST so a dying holder \
does not hang the others). The process-shared path (mutex_trylock_process) spins on the lock \
byte and owner pid and never dereferences the owner pointer. A lock of your own that stores a \
thread pointer must not be shared between processes, or must store a process-independent \
owner (a pid and tid).",
    },
    CodeInfo {
        code: Code::PrivateMutexInSharedMemory,
        severity: Severity::Warning,
        title: "process-private mutex placed in shared memory",
        explanation: "The mutex lives in a shared mapping but was initialised process-private. \
Nothing in this core proves that another process uses it yet (its owner, if any, is a thread \
of this process and no thread here waits on it in a way another process could cause). If a \
second process maps the same memory and locks this mutex, wake-ups will be lost and mutual \
exclusion can break.",
        fix: "If the memory is shared on purpose, initialise the mutex PTHREAD_PROCESS_SHARED \
(Solaris: USYNC_PROCESS). If only one process ever touches it, a private mapping is clearer.",
    },
    CodeInfo {
        code: Code::PrivateFutexOnSharedMemory,
        severity: Severity::Error,
        title: "thread sleeps in a private futex wait on shared memory",
        explanation: "A thread is blocked in futex(FUTEX_WAIT|FUTEX_PRIVATE_FLAG, ...) on an \
address in a shared mapping. The kernel keys a private wait on (this process's mm, address), \
so a FUTEX_WAKE issued by any other process that maps the same memory can never reach it: \
the thread sleeps until something in this very process wakes it. This is the hang of a \
process-private mutex, condition variable or semaphore used across processes. It is \
reported even when the mapping's contents are not in the core.",
        fix: "Make the synchronisation object process-shared (pthread_mutexattr_setpshared / \
pthread_condattr_setpshared with PTHREAD_PROCESS_SHARED, sem_init(&s, 1, n)), so that its \
futex operations are not private.",
    },
    CodeInfo {
        code: Code::AbandonedLock,
        severity: Severity::Error,
        title: "mutex held by a thread that no longer exists",
        explanation: "The mutex is locked and its owner thread id is not a thread of this \
process, yet the mutex is in private memory that no other process can reach. The owning \
thread exited (or was cancelled) while holding it, or the lock was held by another thread at \
fork() and the child inherited it locked. Nobody can ever unlock it: every later lock call \
blocks for ever.",
        fix: "Release the mutex on every exit path of the owning thread (cleanup handlers with \
pthread_cleanup_push, RAII guards), do not fork while other threads hold locks (or use \
pthread_atfork), or make it a robust mutex (PTHREAD_MUTEX_ROBUST) so the next locker gets \
EOWNERDEAD instead of hanging.",
    },
    CodeInfo {
        code: Code::OwnerDied,
        severity: Severity::Warning,
        title: "robust mutex whose owner died",
        explanation: "A robust mutex's owner died while holding it (FUTEX_OWNER_DIED), or the \
mutex was taken after that (EOWNERDEAD) and not yet marked consistent, or it was released \
while inconsistent and is now unusable (ENOTRECOVERABLE). The data it protects may be \
half-updated.",
        fix: "On EOWNERDEAD, repair the protected state and call pthread_mutex_consistent() \
before unlocking; a mutex that is not recoverable must be destroyed and re-initialised.",
    },
    CodeInfo {
        code: Code::SelfDeadlock,
        severity: Severity::Error,
        title: "thread waits for a mutex it holds itself",
        explanation: "A thread is blocked locking a non-recursive mutex whose owner is that \
same thread. A normal (default) mutex does not detect this: the thread sleeps for ever.",
        fix: "Do not lock the mutex again while holding it: restructure the code (split \
locked/unlocked variants of the function), or use a recursive mutex if re-entry is \
intended; an error-checking mutex turns the hang into EDEADLK.",
    },
    CodeInfo {
        code: Code::DeadlockCycle,
        severity: Severity::Error,
        title: "deadlock: threads wait for each other in a cycle",
        explanation: "Following 'thread waits for mutex, mutex is held by thread' leads back to \
the first thread: every thread in the cycle holds a mutex the next one needs, so none can \
proceed.",
        fix: "Acquire the mutexes in one global order everywhere (lock ordering), or take the \
second lock with pthread_mutex_trylock and back off on failure.",
    },
    CodeInfo {
        code: Code::CorruptMutex,
        severity: Severity::Warning,
        title: "mutex fields hold values the C library never writes",
        explanation: "The mutex's fields form a combination that the C library cannot produce \
(an unknown type, a lock word outside its encoding, an owner set while unlocked, a holder \
count far beyond the possible). The memory was overwritten, the mutex was used after being \
destroyed or freed, re-initialised while in use, or unlocked by a thread that did not own \
it.",
        fix: "Find what wrote over the mutex: run under AddressSanitizer or Valgrind, set a \
hardware watchpoint on its address in a debugger, and check lock/unlock pairing.",
    },
    CodeInfo {
        code: Code::SegmentNotDumped,
        severity: Severity::Warning,
        title: "evidence points into memory that is not in the core",
        explanation: "A blocked thread's futex word, a mutex found by symbol, or an owner \
pointer lies in a mapping whose contents the kernel did not write into the core \
(/proc/PID/coredump_filter excluded it). What is there cannot be decoded from this core.",
        fix: "Before reproducing, widen the dump filter: echo 0x3f > /proc/PID/coredump_filter \
(or set it in the parent shell: it is inherited); bit 1 keeps anonymous shared memory (SysV \
shm, memfd, /dev/zero), bit 3 keeps shared file mappings such as POSIX shm under /dev/shm, \
bit 2 private file mappings, bits 5/6 hugetlb memory.",
    },
    CodeInfo {
        code: Code::MutexAssertion,
        severity: Severity::Error,
        title: "the process aborted on a glibc mutex assertion",
        explanation: "glibc's abort message (__abort_msg) holds a failed assertion from its \
mutex code, such as \"Assertion `mutex->__data.__owner == 0' failed\" in \
pthread_mutex_lock.c: the lock word was acquired while the owner field still named a \
thread. The rightful unlock clears the owner before it releases the lock word, so something \
else released or overwrote the lock word: two processes using a process-private mutex (glibc's \
single-threaded fast path takes and releases it with plain stores), an unlock by a thread \
that did not own it, a double unlock, memory corruption, or re-initialisation while in use.",
        fix: "If the mutex is in shared memory, initialise it PTHREAD_PROCESS_SHARED; \
otherwise check that every unlock is made by the owner exactly once, and look for writes \
over the mutex (AddressSanitizer, a watchpoint on its address).",
    },
    CodeInfo {
        code: Code::BinaryMismatch,
        severity: Severity::Warning,
        title: "--binary is not the executable of this core",
        explanation: "The build-id of the file given with --binary differs from the build-id \
recorded in the core's copy of the executable's first page, so its symbols and debug \
information describe another build. Names and types taken from it would be wrong; mutexdiag \
does not use it.",
        fix: "Pass the exact binary that produced the core (same build), or its separate debug \
file; check with `readelf -n` that the build-ids match.",
    },
];

/// The metadata of the code named `code`, if there is one.
pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    code.parse::<Code>().ok().map(Code::info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_once_in_the_table_and_round_trips() {
        assert_eq!(CODES.len(), Code::ALL.len());
        for c in Code::ALL {
            assert_eq!(CODES.iter().filter(|i| i.code == *c).count(), 1, "{c}");
            assert_eq!(c.as_str().parse::<Code>(), Ok(*c));
            let j = serde_json::to_string(c).expect("serialise");
            assert_eq!(j, format!("\"{c}\""));
            assert_eq!(serde_json::from_str::<Code>(&j).expect("parse"), *c);
        }
        assert!("nope".parse::<Code>().is_err());
    }
}
