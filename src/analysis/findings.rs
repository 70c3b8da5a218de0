//! The finding codes: stable names, severities, explanations and fixes. This table
//! is the single source for `mutexdiag explain CODE` and is checked against
//! `docs/findings.md` by a test.

// Not yet documented item by item (issue 9): the report's fields are described in
// docs/json.md, the error variants by their messages, the codes in docs/findings.md.
#![allow(missing_docs)]

use crate::report::model::Severity;

#[derive(Debug)]
pub struct Code {
    pub code: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub explanation: &'static str,
    pub fix: &'static str,
}

pub const CROSS_PROCESS_PRIVATE_MUTEX: &str = "cross-process-private-mutex";
pub const PRIVATE_MUTEX_IN_SHARED_MEMORY: &str = "private-mutex-in-shared-memory";
pub const PRIVATE_FUTEX_ON_SHARED_MEMORY: &str = "private-futex-on-shared-memory";
pub const ABANDONED_LOCK: &str = "abandoned-lock";
pub const OWNER_DIED: &str = "owner-died";
pub const SELF_DEADLOCK: &str = "self-deadlock";
pub const DEADLOCK_CYCLE: &str = "deadlock-cycle";
pub const CORRUPT_MUTEX: &str = "corrupt-mutex";
pub const SEGMENT_NOT_DUMPED: &str = "segment-not-dumped";
pub const BINARY_MISMATCH: &str = "binary-mismatch";
pub const MUTEX_ASSERTION: &str = "mutex-assertion";
pub const OWNER_DEREF_CRASH: &str = "owner-deref-crash";

pub static CODES: &[Code] = &[
    Code {
        code: CROSS_PROCESS_PRIVATE_MUTEX,
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
    Code {
        code: OWNER_DEREF_CRASH,
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
    Code {
        code: PRIVATE_MUTEX_IN_SHARED_MEMORY,
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
    Code {
        code: PRIVATE_FUTEX_ON_SHARED_MEMORY,
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
    Code {
        code: ABANDONED_LOCK,
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
    Code {
        code: OWNER_DIED,
        severity: Severity::Warning,
        title: "robust mutex whose owner died",
        explanation: "A robust mutex's owner died while holding it (FUTEX_OWNER_DIED), or the \
mutex was taken after that (EOWNERDEAD) and not yet marked consistent, or it was released \
while inconsistent and is now unusable (ENOTRECOVERABLE). The data it protects may be \
half-updated.",
        fix: "On EOWNERDEAD, repair the protected state and call pthread_mutex_consistent() \
before unlocking; a mutex that is not recoverable must be destroyed and re-initialised.",
    },
    Code {
        code: SELF_DEADLOCK,
        severity: Severity::Error,
        title: "thread waits for a mutex it holds itself",
        explanation: "A thread is blocked locking a non-recursive mutex whose owner is that \
same thread. A normal (default) mutex does not detect this: the thread sleeps for ever.",
        fix: "Do not lock the mutex again while holding it: restructure the code (split \
locked/unlocked variants of the function), or use a recursive mutex if re-entry is \
intended; an error-checking mutex turns the hang into EDEADLK.",
    },
    Code {
        code: DEADLOCK_CYCLE,
        severity: Severity::Error,
        title: "deadlock: threads wait for each other in a cycle",
        explanation: "Following 'thread waits for mutex, mutex is held by thread' leads back to \
the first thread: every thread in the cycle holds a mutex the next one needs, so none can \
proceed.",
        fix: "Acquire the mutexes in one global order everywhere (lock ordering), or take the \
second lock with pthread_mutex_trylock and back off on failure.",
    },
    Code {
        code: CORRUPT_MUTEX,
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
    Code {
        code: SEGMENT_NOT_DUMPED,
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
    Code {
        code: MUTEX_ASSERTION,
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
    Code {
        code: BINARY_MISMATCH,
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

pub fn lookup(code: &str) -> Option<&'static Code> {
    CODES.iter().find(|c| c.code == code)
}
