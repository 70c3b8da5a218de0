//! A whole core as bytes: header, program headers, notes, then everything the
//! `maps` and `threads` commands compute from it, address-space reads at the
//! addresses the core names, mutex decoding at futex words, and rendering.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mutexdiag::internals::fuzzing::core(data);
});
