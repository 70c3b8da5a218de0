//! Mutex bytes decoded by every layout of every architecture (first byte: architecture
//! and byte order).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mutexdiag::internals::coredump::Endian;
use mutexdiag::internals::fuzzing::{ARCHES, decode_mutex};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let arch = ARCHES[usize::from(selector >> 1) % ARCHES.len()];
    let endian = if selector & 1 == 0 {
        Endian::Little
    } else {
        Endian::Big
    };
    decode_mutex(arch, bytes, endian);
});
