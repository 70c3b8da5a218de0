//! The whole analysis of an in-memory core: parsing, mappings, mutex discovery
//! (futex waits and a scan of every mapping), classification, findings, and the
//! text, markdown and JSON reports.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mutexdiag::internals::fuzzing::core_and_analysis(data);
});
