//! The one `wait4` of the tests and benchmarks that measure a child's own peak
//! memory (`tests/windowed.rs`, `benches/triage_index.rs`, which includes this file
//! by path).

use std::process::Child;

/// Wait for `child` to end: its exit code (`-1` when a signal ended it) and its
/// peak resident memory in KiB (`wait4`'s rusage of that one child: the largest of
/// the processes it waited for counts, not their sum).
pub fn wait_measured(child: Child) -> (i32, i64) {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain wait4 on our own child, into valid out-pointers; the `Child`
    // is not waited for again (it is forgotten below).
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    std::mem::forget(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, ru.ru_maxrss)
}
