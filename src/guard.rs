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
//! Compressed cores are expanded into an unlinked temporary file that no other process
//! can name, so only plain cores carry this risk. `docs/reliability.md` explains the
//! choice.
//!
//! The handler is opt-in (the `mutexdiag` binary installs it): a library should not
//! take a process-wide signal disposition behind its caller's back.

use std::path::Path;
use std::sync::Once;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// How many mappings can be registered at once (inputs open at the same time).
const SLOTS: usize = 64;
/// Longest message kept per mapping (longer paths are cut).
const MSG: usize = 512;

struct Slot {
    /// Start address of the mapping; 0 when the slot is free.
    start: AtomicUsize,
    len: AtomicUsize,
    msg_len: AtomicUsize,
    msg: [AtomicU8; MSG],
}

static TABLE: [Slot; SLOTS] = [const {
    Slot {
        start: AtomicUsize::new(0),
        len: AtomicUsize::new(0),
        msg_len: AtomicUsize::new(0),
        msg: [const { AtomicU8::new(0) }; MSG],
    }
}; SLOTS];
/// Slots being written (claimed but not yet published).
static CLAIMED: [AtomicU8; SLOTS] = [const { AtomicU8::new(0) }; SLOTS];

/// A registered mapping; unregisters itself when dropped (before the unmap).
#[derive(Debug)]
pub struct Registration {
    slot: Option<usize>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            TABLE[i].start.store(0, Ordering::Release);
            TABLE[i].len.store(0, Ordering::Release);
            CLAIMED[i].store(0, Ordering::Release);
        }
    }
}

/// Remember that `[start, start+len)` maps `path`, so a SIGBUS there can be
/// explained. When every slot is taken the mapping is simply not registered (a
/// SIGBUS there then kills the process as it would without the handler).
pub fn register(path: &Path, start: *const u8, len: usize) -> Registration {
    if start.is_null() || len == 0 {
        return Registration { slot: None };
    }
    let Some(i) = (0..SLOTS).find(|&i| {
        CLAIMED[i]
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }) else {
        return Registration { slot: None };
    };
    let msg = format!(
        "mutexdiag: {}: the file shrank while it was being read (another process truncated it); nothing more can be read from it\n",
        path.display()
    );
    let bytes = msg.as_bytes();
    let n = bytes.len().min(MSG);
    for (k, b) in bytes[..n].iter().enumerate() {
        TABLE[i].msg[k].store(*b, Ordering::Relaxed);
    }
    if n == MSG {
        TABLE[i].msg[MSG - 1].store(b'\n', Ordering::Relaxed);
    }
    TABLE[i].msg_len.store(n, Ordering::Relaxed);
    TABLE[i].len.store(len, Ordering::Relaxed);
    TABLE[i].start.store(start as usize, Ordering::Release);
    Registration { slot: Some(i) }
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // Only async-signal-safe work here: atomic loads, write(2), _exit(2), sigaction.
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
    let addr = if info.is_null() {
        0
    } else {
        unsafe { (*info).si_addr() as usize }
    };
    for slot in &TABLE {
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

/// Install the SIGBUS handler (once per process; later calls do nothing).
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
