//! Modules, build-ids and symbolization on the committed fixture cores.

use std::path::{Path, PathBuf};

use mutexdiag::CoreFile;
use mutexdiag::input::InputOptions;
use mutexdiag::internals::mappings;
use mutexdiag::internals::symbols::{BuildIdStatus, ModuleKind, Modules, SymbolOptions};

mod support;

use support::sysroot;

use support::fixture;

/// The fixture core, expanded here into a temporary file.
fn core_file(name: &str, role: &str) -> (tempfile::TempPath, CoreFile) {
    let path = support::expand_temp(&fixture(name).join(format!("core.{role}.zst")));
    let f = CoreFile::open(&path, &InputOptions::default()).unwrap();
    (path, f)
}

fn load(name: &str, role: &str, opts: &SymbolOptions) -> (CoreFile, Modules) {
    let (_tmp, f) = core_file(name, role);
    let core = f.parse().unwrap();
    let maps = mappings::build(&core);
    let m = Modules::load(&core, &maps, opts);
    drop(core);
    (f, m)
}

/// The fixture's binary, and the C library of the cores bundled in fixtures/sysroot.
fn opts(name: &str) -> SymbolOptions {
    SymbolOptions {
        binary: Some(fixture(name).join("app")),
        sysroot: sysroot::sysroot().to_path_buf(),
        debug_dirs: vec![],
        debuginfod_cache: None,
    }
}

#[test]
fn segv_modules() {
    let (_f, m) = load("segv", "main", &opts("segv"));
    for x in m.iter() {
        eprintln!("{x:?}");
    }
    for w in m.warnings() {
        eprintln!("warning: {w:?}");
    }
    let exe = m.executable().unwrap();
    assert_eq!(exe.kind, ModuleKind::Executable);
    assert_eq!(exe.status, BuildIdStatus::Match);
    assert!(exe.has_own_dwarf);
    let f = exe.find_symbol("node_value").unwrap();
    let s = m.symbolize(f.address + 4).unwrap();
    eprintln!("{s:?}");
    assert_eq!(s.function.as_deref(), Some("node_value"));
    assert!(s.file.as_deref().unwrap().ends_with("segv.c"));
    let _ = Path::new("/");
}

fn facts(name: &str, role: &str) -> serde_json::Value {
    let t = std::fs::read_to_string(fixture(name).join(format!("facts.{role}.json"))).unwrap();
    serde_json::from_str(&t).unwrap()
}

/// The TID of the thread whose `role_in_scenario` starts with `role`.
fn tid_of(f: &serde_json::Value, role: &str) -> u32 {
    f["threads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["role_in_scenario"].as_str().unwrap().starts_with(role))
        .unwrap()["tid"]
        .as_u64()
        .unwrap() as u32
}

fn thread_pcs(name: &str, role: &str) -> Vec<(u32, u64)> {
    let (_tmp, f) = core_file(name, role);
    let core = f.parse().unwrap();
    core.threads
        .iter()
        .filter_map(|t| Some((t.tid, t.pc?)))
        .collect()
}

#[test]
fn libc_symbols_with_debug_info() {
    let (_f, m) = load("segv", "main", &opts("segv"));
    let libc = m.iter().find(|x| x.name.ends_with("/libc.so.6")).unwrap();
    if libc.status != BuildIdStatus::Match {
        panic!(
            "the bundled libc (fixtures/sysroot) is not the one in the fixture core: {:?}",
            m.warnings()
        );
    }
    // The sleeper thread sits in pause().
    let pcs = thread_pcs("segv", "main");
    let (_, pc) = pcs
        .iter()
        .find(|(t, _)| *t == tid_of(&facts("segv", "main"), "sleeper"))
        .unwrap();
    let s = m.symbolize(*pc).unwrap();
    assert_eq!(s.function.as_deref(), Some("__libc_pause"));
    assert!(s.file.as_deref().unwrap().ends_with("pause.c"), "{s:?}");
    // The main thread waits in pthread_join: in __futex_abstimed_wait_common, with
    // __futex_abstimed_wait_common64 inlined into it (as `eu-addr2line -i` says).
    let (_, pc) = pcs
        .iter()
        .find(|(t, _)| *t == tid_of(&facts("segv", "main"), "main"))
        .unwrap();
    let s = m.symbolize(*pc).unwrap();
    let names: Vec<_> = s
        .frames
        .iter()
        .map(|f| f.function.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "__futex_abstimed_wait_common64",
            "__futex_abstimed_wait_common",
        ]
    );
    assert!(s.frames[0].inlined && !s.frames[1].inlined);
    assert_eq!((s.frames[0].line, s.frames[1].line), (Some(57), Some(87)));
    // __abort_msg is exported by libc's .dynsym.
    let a = m.find_symbol("__abort_msg").unwrap();
    assert!(libc.contains(a.address));
}

#[test]
fn global_mutex_names() {
    let (_f, m) = load("abba", "main", &opts("abba"));
    let exe = m.executable().unwrap();
    for name in ["m1", "m2", "m3"] {
        let s = exe.find_symbol(name).unwrap();
        assert_eq!(s.size, 40);
        let d = m.data_symbol(s.address + 16).unwrap();
        assert_eq!(d.name, name);
        assert_eq!(d.offset, 16);
        assert_eq!(d.address, s.address);
    }
}

#[test]
fn missing_library_degrades_to_module_offset() {
    let dir = tempfile::tempdir().unwrap();
    let o = SymbolOptions {
        binary: None,
        sysroot: dir.path().to_path_buf(),
        debug_dirs: vec![],
        debuginfod_cache: None,
    };
    let (_f, m) = load("segv", "main", &o);
    let missing: Vec<_> = m
        .warnings()
        .iter()
        .filter(|w| w.code == "module-missing")
        .collect();
    assert_eq!(missing.len(), 3, "{:?}", m.warnings());
    assert!(missing.iter().any(|w| w.message.contains("libc.so.6")));
    let pcs = thread_pcs("segv", "main");
    let (_, pc) = pcs
        .iter()
        .find(|(t, _)| *t == tid_of(&facts("segv", "main"), "sleeper"))
        .unwrap();
    let s = m.symbolize(*pc).unwrap();
    assert!(s.module.ends_with("/libc.so.6"));
    assert_eq!(s.function, None);
    let libc = m.module_at(*pc).unwrap();
    assert_eq!(libc.status, BuildIdStatus::NoFile);
    // The bias still comes from the core (the first page is dumped).
    assert!(libc.bias_known);
    assert_eq!(s.offset, pc - libc.bias);
}

#[test]
fn wrong_build_id_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let libdir = dir.path().join("usr/lib/x86_64-linux-gnu");
    std::fs::create_dir_all(&libdir).unwrap();
    // Another ELF file where libc should be.
    std::fs::copy(fixture("abba").join("app"), libdir.join("libc.so.6")).unwrap();
    let o = SymbolOptions {
        binary: Some(fixture("segv").join("app")),
        sysroot: dir.path().to_path_buf(),
        debug_dirs: vec![],
        debuginfod_cache: None,
    };
    let (_f, m) = load("segv", "main", &o);
    let w: Vec<_> = m
        .warnings()
        .iter()
        .filter(|w| w.code == "build-id-mismatch")
        .collect();
    assert_eq!(w.len(), 1, "{:?}", m.warnings());
    assert!(w[0].message.contains("libc.so.6"));
    let libc = m.iter().find(|x| x.name.ends_with("/libc.so.6")).unwrap();
    assert_eq!(libc.status, BuildIdStatus::Mismatch);
    assert!(libc.object().is_none());
    let pcs = thread_pcs("segv", "main");
    let (_, pc) = pcs
        .iter()
        .find(|(t, _)| *t == tid_of(&facts("segv", "main"), "sleeper"))
        .unwrap();
    let s = m.symbolize(*pc).unwrap();
    assert_eq!(s.function, None);
    // The executable still symbolizes.
    let (_, pc) = pcs
        .iter()
        .find(|(t, _)| *t == tid_of(&facts("segv", "main"), "crasher"))
        .unwrap();
    assert_eq!(
        m.symbolize(*pc).unwrap().function.as_deref(),
        Some("node_value")
    );
}

#[test]
fn abort_message_of_the_assert_fixture() {
    use mutexdiag::internals::memory::AddressSpace;
    use mutexdiag::internals::symbols::abort_msg;
    let facts = facts("assert", "parent");
    let (_tmp, f) = core_file("assert", "parent");
    let core = f.parse().unwrap();
    let maps = mappings::build(&core);
    let m = Modules::load(&core, &maps, &opts("assert"));
    let space = AddressSpace::new(&core);
    let msg = abort_msg::abort_message(&space, &m).unwrap();
    assert_eq!(msg.text, facts["expected_abort_message"].as_str().unwrap());
    let a = msg.assertion.as_ref().unwrap();
    assert_eq!(a.function.as_deref(), Some("___pthread_mutex_lock"));
    assert_eq!(a.expression, "mutex->__data.__owner == 0");
    let ma = abort_msg::mutex_assertion(&core, &space, &m, &msg).unwrap();
    eprintln!("{ma:?}");
    assert_eq!(ma.tid, Some(facts["main_tid"].as_u64().unwrap() as u32));
    // gdb shows `mutex=<optimized out>` in that frame: DWARF has no location for
    // it at the call to __assert_fail. We say so rather than guess.
    assert_eq!(ma.mutex, None);
    assert!(ma.how.contains("cannot be recovered"), "{}", ma.how);
    // The child of the same scenario did not assert: no message.
    let (_tmp2, f2) = core_file("assert", "child");
    let core2 = f2.parse().unwrap();
    let maps2 = mappings::build(&core2);
    let m2 = Modules::load(&core2, &maps2, &opts("assert"));
    assert_eq!(
        abort_msg::abort_message(&AddressSpace::new(&core2), &m2),
        None
    );
}

#[test]
fn mutex_argument_located_by_dwarf() {
    use mutexdiag::internals::memory::AddressSpace;
    use mutexdiag::internals::symbols::{abort_msg, unwind};
    // In abba, each waiter is in ___pthread_mutex_lock(mutex=&mN), which gdb
    // shows; the DWARF location of `mutex` must give the same address.
    let facts = facts("abba", "main");
    let (_tmp, f) = core_file("abba", "main");
    let core = f.parse().unwrap();
    let maps = mappings::build(&core);
    let m = Modules::load(&core, &maps, &opts("abba"));
    let space = AddressSpace::new(&core);
    let mut found = 0;
    for w in facts["waiters"].as_array().unwrap() {
        let tid = w["tid"].as_u64().unwrap() as u32;
        let want = u64::from_str_radix(
            w["futex_address"]
                .as_str()
                .unwrap()
                .trim_start_matches("0x"),
            16,
        )
        .unwrap();
        let t = core.thread(tid).unwrap();
        let (raw, _) = unwind::unwind_raw(&space, &m, core.arch, t);
        let got: Vec<_> = (0..raw.len())
            .filter_map(|i| {
                abort_msg::parameter_in_frame(
                    &space,
                    &m,
                    &raw,
                    i,
                    Some("___pthread_mutex_lock"),
                    "mutex",
                )
                .ok()
            })
            .collect();
        assert_eq!(got, vec![want], "thread {tid}");
        found += 1;
    }
    assert!(found >= 3);
}

/// The by-name index (`Module::find_symbol`, a binary search on name hashes) gives
/// what the linear search of the tables gave, for every defined name of every
/// module (the executable, libc with its debug file's .symtab, ld.so, the vDSO) and
/// for names that are not there; and with the system's files (sysroot `/`), whose
/// C library has many more symbols. (The first four lookups of a module search its
/// tables by design; the index answers every name after them.)
#[test]
fn find_symbol_index_equals_linear_search() {
    let system = SymbolOptions {
        binary: Some(fixture("segv").join("app")),
        sysroot: PathBuf::from("/"),
        debug_dirs: vec![],
        debuginfod_cache: None,
    };
    // The system's files match the core only on the machine that made the fixtures
    // (elsewhere ld.so and libc are other builds and are not used): no minimum there.
    for (o, min) in [(opts("segv"), 1000), (system, 0)] {
        let (_f, m) = load("segv", "main", &o);
        let mut checked = 0;
        for x in m.iter() {
            let mut names = x.defined_symbol_names();
            names.extend(
                [
                    "",
                    "no_such_symbol",
                    "main ",
                    "mai",
                    "pthread_mutex_lock@GLIBC",
                ]
                .map(String::from),
            );
            for n in &names {
                assert_eq!(
                    x.find_symbol(n),
                    x.find_symbol_linear(n),
                    "{}: {n:?}",
                    x.name
                );
                checked += 1;
            }
        }
        eprintln!("{checked} names compared");
        assert!(checked > min, "only {checked} names compared");
        // All modules: the executable first, then the others in address order.
        for n in [
            "main",
            "__abort_msg",
            "pthread_mutex_lock",
            "no_such_symbol",
        ] {
            let linear = m
                .executable()
                .into_iter()
                .chain(m.iter().filter(|x| x.kind != ModuleKind::Executable))
                .find_map(|x| x.find_symbol_linear(n));
            assert_eq!(m.find_symbol(n), linear, "{n}");
        }
    }
}
