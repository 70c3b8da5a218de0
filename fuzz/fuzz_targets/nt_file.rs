//! An NT_FILE descriptor on its own (first byte: word size and byte order).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mutexdiag::internals::coredump::Endian;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, desc)) = data.split_first() else {
        return;
    };
    let word = if selector & 1 == 0 { 8 } else { 4 };
    let endian = if selector & 2 == 0 {
        Endian::Little
    } else {
        Endian::Big
    };
    if let Ok((f, _)) = mutexdiag::internals::fuzzing::file_note(desc, endian, word) {
        // Every entry was read from the descriptor: never more than it can hold.
        assert!(f.entries.len() <= desc.len() / (3 * word + 1));
        for e in &f.entries {
            let _ = mutexdiag::internals::mappings::sysv_key(&e.path);
        }
    }
});
