//! Unwinding and symbolizing every thread of a fixture core, as
//! `mutexdiag threads --backtrace` does: with DWARF (inlined frames, file:line,
//! tail calls) and with the symbol tables only. Each iteration starts from the
//! opened core and opens the modules afresh (files mapped, DWARF parsed on use),
//! which is what a run of the command costs besides reading the core.
//! Peers measured on the same core: see docs/performance.md.

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use mutexdiag::CoreFile;
use mutexdiag::input::InputOptions;
use mutexdiag::internals::mappings;
use mutexdiag::internals::memory::AddressSpace;
use mutexdiag::internals::symbols::{Detail, Modules, SymbolOptions, unwind};

fn bench(c: &mut Criterion) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/segv");
    let zst = std::fs::File::open(dir.join("core.main.zst")).unwrap();
    let mut tmp = tempfile::NamedTempFile::new().unwrap();
    zstd::stream::copy_decode(zst, &mut tmp).unwrap();
    let path = tmp.into_temp_path();
    let f = CoreFile::open(&path, &InputOptions::default()).unwrap();
    let core = f.parse().unwrap();
    let maps = mappings::build(&core);
    let space = AddressSpace::new(&core);
    let opts = SymbolOptions {
        binary: Some(dir.join("app")),
        sysroot: PathBuf::from("/"),
        debug_dirs: vec![],
        debuginfod_cache: None,
    };
    for (name, detail) in [
        ("segv 3 threads, DWARF inlines+lines", Detail::FULL),
        ("segv 3 threads, symbol tables only", Detail::SYMTAB),
    ] {
        c.bench_function(name, |b| {
            b.iter(|| {
                let modules = Modules::load(&core, &maps, &opts);
                let n: usize = core
                    .threads
                    .iter()
                    .map(|t| {
                        unwind::backtrace(&space, &modules, core.arch, t, detail)
                            .frames
                            .len()
                    })
                    .sum();
                assert!(n >= 10);
                n
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
