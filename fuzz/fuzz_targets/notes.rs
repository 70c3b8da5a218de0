//! Raw note bytes wrapped in a minimal ELF core (first byte: machine, class and byte
//! order), so the note walker and every note decoder (Linux, Solaris, NetBSD) see
//! arbitrary notes without the fuzzer having to find a valid ELF header first.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, notes)) = data.split_first() else {
        return;
    };
    let core = mutexdiag::internals::fuzzing::core_with_notes(selector, notes);
    let _ = mutexdiag::internals::fuzzing::core(&core);
});
