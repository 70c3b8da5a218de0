//! What happens when a mapped core shrinks under us.
//!
//! A plain core is read through a memory mapping of the file itself (no copy). If
//! another process truncates the file while it is mapped, touching a page past the
//! new end raises SIGBUS, whose default action kills the process with no word about
//! why. A process cannot recover from that fault in safe Rust, but it can say what
//! happened: [`install_sigbus_handler`] installs a handler that, when the faulting
//! address lies inside a mapping registered by [`crate::input::Input`], prints
//!
//! ```text
//! mutexdiag: <file>: the file shrank while it was being read (another process truncated it); nothing more can be read from it
//! ```
//!
//! and exits with status 2 (the input could not be analysed). A SIGBUS at any other
//! address is not ours: the handler restores the default action and the fault
//! happens again, as it would have without the handler.
//!
//! A compressed core is read through a mapping while it expands, registered the same
//! way; its expansion goes into an unlinked temporary file that no other process can
//! name, so it cannot shrink afterwards. `docs/reliability.md` explains the choice.
//!
//! The handler is opt-in (the `mutexdiag` binary installs it): a library should not
//! take a process-wide signal disposition behind its caller's back, nor exit.
//!
//! **What cannot be contained in-process.** A SIGBUS from a truncated mapping cannot
//! be turned back into an error for the one analysis that met it: the faulting read
//! is in the middle of safe code, and unwinding out of a signal handler is not
//! possible in Rust. So a library user analysing files that other processes may
//! truncate (a crash archive being rotated, a core still being written) should run
//! each analysis in a worker process and treat a worker killed by SIGBUS as that
//! input's failure (`mutexdiag triage` does). Registrations are kept in a list of
//! slots that grows as needed (no fixed limit on inputs open at once); slots are
//! reused, never freed, so the handler reads them without locks.

use std::path::Path;
use std::ptr;
use std::sync::Once;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

/// Longest message kept per mapping (longer paths are cut).
const MSG: usize = 512;

/// One registered mapping. Slots are allocated on demand, linked into a list that
/// only grows (a slot is reused once free, never freed), so the signal handler can
/// walk it without locks or allocation, and any number of inputs can be open.
struct Slot {
    /// Start address of the mapping; 0 when the slot is free.
    start: AtomicUsize,
    len: AtomicUsize,
    msg_len: AtomicUsize,
    msg: [AtomicU8; MSG],
    /// 1 while owned by a [`Registration`] (or being written).
    claimed: AtomicU8,
    next: AtomicPtr<Slot>,
}

/// The head of the list of slots.
static HEAD: AtomicPtr<Slot> = AtomicPtr::new(ptr::null_mut());

fn slots() -> impl Iterator<Item = &'static Slot> {
    let mut p = HEAD.load(Ordering::Acquire);
    std::iter::from_fn(move || {
        // SAFETY: slots are leaked boxes, never freed; `next` is published with
        // Release before the slot becomes reachable.
        let s = unsafe { p.as_ref()? };
        p = s.next.load(Ordering::Acquire);
        Some(s)
    })
}

/// A free slot, claimed; a new one when every slot is taken.
fn claim() -> &'static Slot {
    if let Some(s) = slots().find(|s| {
        s.claimed
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }) {
        return s;
    }
    let s: &'static Slot = Box::leak(Box::new(Slot {
        start: AtomicUsize::new(0),
        len: AtomicUsize::new(0),
        msg_len: AtomicUsize::new(0),
        msg: [const { AtomicU8::new(0) }; MSG],
        claimed: AtomicU8::new(1),
        next: AtomicPtr::new(ptr::null_mut()),
    }));
    let me = ptr::from_ref(s).cast_mut();
    let mut head = HEAD.load(Ordering::Acquire);
    loop {
        s.next.store(head, Ordering::Release);
        match HEAD.compare_exchange(head, me, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return s,
            Err(h) => head = h,
        }
    }
}

/// A registered mapping; unregisters itself when dropped (before the unmap).
#[derive(Debug)]
pub struct Registration {
    slot: Option<&'static Slot>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Slot({:#x})", self.start.load(Ordering::Relaxed))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(s) = self.slot {
            s.start.store(0, Ordering::Release);
            s.len.store(0, Ordering::Release);
            s.claimed.store(0, Ordering::Release);
        }
    }
}

/// Remember that `[start, start+len)` maps `path`, so a SIGBUS there can be
/// explained (when the application installed [`install_sigbus_handler`]). Any
/// number of mappings can be registered at once.
pub fn register(path: &Path, start: *const u8, len: usize) -> Registration {
    if start.is_null() || len == 0 {
        return Registration { slot: None };
    }
    let s = claim();
    let msg = format!(
        "mutexdiag: {}: the file shrank while it was being read (another process truncated it); nothing more can be read from it\n",
        path.display()
    );
    let bytes = msg.as_bytes();
    let n = bytes.len().min(MSG);
    for (k, b) in bytes[..n].iter().enumerate() {
        s.msg[k].store(*b, Ordering::Relaxed);
    }
    if n == MSG {
        s.msg[MSG - 1].store(b'\n', Ordering::Relaxed);
    }
    s.msg_len.store(n, Ordering::Relaxed);
    s.len.store(len, Ordering::Relaxed);
    s.start.store(start as usize, Ordering::Release);
    Registration { slot: Some(s) }
}

/// Mappings registered now (for tests).
#[doc(hidden)]
pub fn registered() -> usize {
    slots()
        .filter(|s| s.start.load(Ordering::Acquire) != 0)
        .count()
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // Only async-signal-safe work here: atomic loads, write(2), _exit(2), sigaction.
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
    let addr = if info.is_null() {
        0
    } else {
        unsafe { (*info).si_addr() as usize }
    };
    for slot in slots() {
        let start = slot.start.load(Ordering::Acquire);
        let len = slot.len.load(Ordering::Relaxed);
        if start != 0 && addr >= start && addr - start < len {
            let n = slot.msg_len.load(Ordering::Relaxed).min(MSG);
            let mut buf = [0u8; MSG];
            for (k, b) in buf[..n].iter_mut().enumerate() {
                *b = slot.msg[k].load(Ordering::Relaxed);
            }
            // SAFETY: write(2) and _exit(2) are async-signal-safe; `buf` is valid.
            unsafe {
                libc::write(2, buf.as_ptr().cast(), n);
                libc::_exit(2);
            }
        }
    }
    // Not one of our mappings: fall back to the default action; returning re-runs
    // the faulting access, which now kills the process as usual.
    // SAFETY: resetting a disposition with a zeroed sigaction is valid.
    unsafe {
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(sig, &dfl, std::ptr::null_mut());
    }
}

#[warn(missing_docs)] // public API (re-exported at the crate root)
/// Install the SIGBUS handler (once per process; later calls do nothing).
///
/// This is an application's decision, never taken by the library: the handler
/// turns a SIGBUS inside a registered input mapping into a message on stderr and
/// `_exit(2)` of the whole process. Nothing in the library installs it, and the
/// library never exits on its own; without the handler such a SIGBUS kills the
/// process as it always would. The `mutexdiag` command installs it; a batch driver
/// should instead run analyses in worker processes, so that a core truncated under
/// it costs one worker, not the batch.
pub fn install_sigbus_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: a zeroed sigaction is valid; the handler has the SA_SIGINFO
        // signature and only does async-signal-safe work.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigbus as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_number_of_mappings_can_be_registered_and_slots_are_reused() {
        let buf = vec![0u8; 4096];
        let regs: Vec<Registration> = (0..200)
            .map(|i| register(Path::new("x.core"), buf.as_ptr().wrapping_add(i), 1))
            .collect();
        assert!(regs.iter().all(|r| r.slot.is_some()));
        let mut addrs: Vec<usize> = regs
            .iter()
            .map(|r| ptr::from_ref(r.slot.unwrap()) as usize)
            .collect();
        addrs.sort_unstable();
        addrs.dedup();
        assert_eq!(addrs.len(), 200, "a slot was handed out twice");
        let kept: Vec<&'static Slot> = regs.iter().map(|r| r.slot.unwrap()).collect();
        drop(regs);
        assert!(kept.iter().all(|s| s.start.load(Ordering::Acquire) == 0));
        let before = slots().count();
        let again: Vec<Registration> = (0..50)
            .map(|i| register(Path::new("y.core"), buf.as_ptr().wrapping_add(i), 1))
            .collect();
        // Freed slots are reused: the list does not grow by 50.
        assert!(slots().count() < before + 50);
        drop(again);
    }
}
