//! Solaris/illumos cores, written by the test-only writer in
//! `tests/support/solaris_core.rs` from the documented structures (no real Solaris
//! core is publicly available): parsing of the notes, decoding of the seed's mutex
//! on both byte orders, discovery by magic and owner-pointer classification.

mod support;

use mutexdiag::internals::coredump::{Arch, Core, Os};
use mutexdiag::internals::mappings;
use mutexdiag::internals::memory::AddressSpace;
use mutexdiag::internals::mutex::owner::{self, PointerClass};
use mutexdiag::internals::mutex::solaris::{self, SolarisMutex};
use mutexdiag::internals::mutex::{Layout, LockState, MutexType, magic};
use support::solaris_core::{SeedFacts, Target, seed};

const TARGETS: [Target; 4] = [
    Target::Amd64,
    Target::Sparcv9,
    Target::Sparc32,
    Target::I386,
];

fn arch_of(t: Target) -> Arch {
    match t {
        Target::Amd64 => Arch::X86_64,
        Target::Sparcv9 => Arch::Sparc64,
        Target::Sparc32 => Arch::Sparc,
        Target::I386 => Arch::I386,
    }
}

/// The thread pointer the core records: none on i386 (the %gs base is not saved).
fn tp(t: Target, ulwp: u64) -> Option<u64> {
    (t != Target::I386).then_some(ulwp)
}

/// The whole analysis of an in-memory core.
fn run_analysis(
    core: &Core<'_>,
    path: &str,
    opts: &mutexdiag::analysis::Options,
) -> mutexdiag::report::model::Report {
    let maps = mappings::build(core);
    mutexdiag::internals::analysis::analyze_core(
        &mutexdiag::internals::analysis::Inputs {
            core,
            maps: &maps,
            path,
            exe: None,
            modules: None,
            peers: &[],
        },
        opts,
        Vec::new(),
    )
}

fn seed_bytes(t: Target) -> (Vec<u8>, SeedFacts) {
    let (c, f) = seed(t);
    (c.to_bytes(), f)
}

#[test]
fn process_lwps_registers_and_signal() {
    for t in TARGETS {
        let (data, f) = seed_bytes(t);
        let core = Core::parse(&data).unwrap();
        assert_eq!(core.os, Os::Solaris, "{t:?}");
        assert_eq!(core.arch, arch_of(t));
        let p = core.process.as_ref().unwrap();
        assert_eq!((p.pid, p.ppid), (Some(f.pid), Some(4200)));
        assert_eq!(p.fname.as_deref(), Some("spinner"));
        assert_eq!(p.psargs.as_deref(), Some("./spinner -k 0x6d757478"));
        assert_eq!((p.uid, p.gid), (Some(100), Some(10)));

        // Two live LWPs and a zombie.
        let ids: Vec<u32> = core.threads.iter().map(|t| t.tid).collect();
        assert_eq!(ids, vec![1, 2, 3], "{t:?}");
        let crashed = core.crashed_thread().unwrap();
        assert_eq!(crashed.tid, f.spinner);
        assert_eq!(crashed.pc, Some(f.spinner_pc));
        assert_eq!(crashed.sp, Some(f.spinner_sp));
        assert_eq!(crashed.thread_pointer, tp(t, f.ulwps[1].1));
        assert_eq!(crashed.cursig, 11);
        let waiter = core.thread(f.waiter).unwrap();
        assert!(!waiter.crashed);
        assert_eq!(waiter.thread_pointer, tp(t, f.ulwps[0].1));
        let sc = waiter.syscall.as_ref().unwrap();
        assert_eq!((sc.number, sc.name), (77, Some("lwp_park")));
        let zombie = core.thread(f.zombie).unwrap();
        assert!(zombie.regs.is_empty() && zombie.thread_pointer.is_none());

        // Register width and names per ABI.
        match t {
            Target::Amd64 => {
                assert_eq!(crashed.reg("fsbase"), Some(f.ulwps[1].1));
                assert_eq!(crashed.reg("rdi"), Some(f.mutex));
                assert_eq!(crashed.reg("err"), Some(4));
                assert_eq!(crashed.regs.len(), 28);
            }
            Target::Sparcv9 => {
                assert_eq!(crashed.reg("g7"), Some(f.ulwps[1].1));
                assert_eq!(crashed.reg("o0"), Some(f.mutex));
                // %o6 is biased by 2047; sp is the real stack pointer.
                assert_eq!(crashed.reg("o6"), Some(f.spinner_sp - 2047));
                assert_eq!(crashed.reg("npc"), Some(f.spinner_pc + 4));
                assert!(crashed.reg("ccr").is_some() && crashed.reg("psr").is_none());
            }
            Target::Sparc32 => {
                assert_eq!(crashed.reg("g7"), Some(f.ulwps[1].1));
                assert_eq!(crashed.reg("o1"), Some(f.owner));
                assert!(crashed.reg("psr").is_some() && crashed.reg("ccr").is_none());
                assert!(crashed.regs.iter().all(|r| *r <= u64::from(u32::MAX)));
            }
            Target::I386 => {
                assert_eq!(crashed.regs.len(), 19);
                assert_eq!(crashed.reg("eip"), Some(f.spinner_pc));
                assert_eq!(crashed.reg("uesp"), Some(f.spinner_sp));
                assert_eq!(crashed.reg("eax"), Some(f.owner));
                assert_eq!(crashed.reg("gs"), Some(0x1c3));
                assert!(
                    crashed
                        .syscall_note
                        .as_deref()
                        .unwrap()
                        .contains("%gs base")
                );
            }
        }

        // The fatal signal: SIGSEGV, SEGV_MAPERR, at owner + ul_schedctl.
        let s = core.signal().unwrap();
        assert_eq!((s.signo, s.code, s.addr), (11, 1, Some(f.fault)));
        assert_eq!(f.fault, f.owner + t.schedctl());

        let sol = core.solaris.as_ref().unwrap();
        assert!(!sol.gcore && !sol.old_notes_only);
        assert_eq!(sol.wstat, Some(0o200 | 11));
        assert_eq!(sol.content, Some(0x1fff));
        assert_eq!(sol.zone.as_deref(), Some("global"));
        assert!(
            sol.uname
                .as_deref()
                .unwrap()
                .starts_with("SunOS testhost 5.11")
        );
        assert_eq!(
            sol.lwp_names,
            vec![(1, "main".to_string()), (2, "worker".to_string())]
        );
        assert_eq!(sol.data_model, Some(if t.lp64() { 2 } else { 1 }));
        assert!(core.auxv.contains(&(6, 0x1000)));
        assert!(
            core.warnings
                .iter()
                .any(|w| w.code == "solaris-no-mapping-names")
        );
    }
}

#[test]
fn mappings_inferred_without_names() {
    for t in TARGETS {
        let (data, f) = seed_bytes(t);
        let core = Core::parse(&data).unwrap();
        let maps = mappings::build(&core);
        // No names, no SysV key: the shm-like segment is plain anonymous memory.
        let shm = maps.iter().find(|m| m.contains(f.mutex)).unwrap();
        assert!(shm.path.is_none() && shm.key.is_none());
        // brk heap and the stacks are inferred from pstatus and the LWPs' sp.
        let heap = maps.iter().find(|m| m.contains(f.own_mutex)).unwrap();
        assert_eq!(heap.kind.as_str(), "heap", "{t:?}");
        let stack = maps.iter().find(|m| m.contains(f.spinner_sp)).unwrap();
        assert_eq!(stack.stack_of, vec![f.spinner]);
        // The excluded mapping is there but not dumped.
        assert!(maps.iter().any(|m| m.dumped.as_str() == "none"));
    }
}

#[test]
fn seed_mutex_decodes_at_documented_offsets() {
    for t in TARGETS {
        let (data, f) = seed_bytes(t);
        let core = Core::parse(&data).unwrap();
        let space = AddressSpace::new(&core);
        let layout = SolarisMutex::for_arch(core.arch).unwrap();
        let raw = space.slice(f.mutex, layout.size()).unwrap();
        // The documented bytes, checked directly.
        let (lockw, waiters, magic) = if !t.big() {
            (15, 14, [0x58, 0x4d])
        } else {
            (12, 15, [0x4d, 0x58])
        };
        assert_eq!(&raw[6..8], &magic);
        assert_eq!(raw[lockw], t.lockset());
        assert_eq!(raw[waiters], 1);
        let d = layout.decode(raw, core.endian);
        assert_eq!(d.layout, format!("solaris-{}", layout.isa().name()));
        assert_eq!(d.state, LockState::Contended, "{t:?}");
        assert_eq!(d.mtype, MutexType::Normal);
        assert!(!d.pshared && !d.robust);
        assert_eq!(d.owner_pointer, Some(f.owner));
        assert_eq!(d.owner_pid, None);
        assert_eq!(d.field("mutex_ownerpid"), Some(u64::from(f.spinners)));
        assert!(d.anomalies.is_empty(), "{:?}", d.anomalies);
        assert!(solaris::spinner_note(&d).is_some());
        assert!(layout.plausible_locked(raw, core.endian));
    }
}

#[test]
fn magic_scan_and_owner_classes() {
    for t in TARGETS {
        let (data, f) = seed_bytes(t);
        let core = Core::parse(&data).unwrap();
        let space = AddressSpace::new(&core);
        let maps = mappings::build(&core);
        let layout = SolarisMutex::for_arch(core.arch).unwrap();
        let r = magic::scan(&space, &layout);
        let addrs: Vec<u64> = r.hits.iter().map(|h| h.address).collect();
        assert_eq!(
            addrs,
            {
                let mut v = vec![f.mutex, f.own_mutex, f.rwlock + 8];
                v.sort();
                v
            },
            "{t:?}"
        );
        let rw = r.hits.iter().find(|h| h.address == f.rwlock + 8).unwrap();
        let e = rw.embedded_in.as_ref().unwrap();
        assert_eq!((e.container, e.address), ("rwlock", f.rwlock));
        assert!(r.hits.iter().all(|h| h.found_by == "magic"));

        let shape = owner::BlockShape::for_core(core.os, core.arch);
        let classify = |p| owner::classify(&core.threads, &maps, p, Some((&space, shape)));
        let seed_hit = r.hits.iter().find(|h| h.address == f.mutex).unwrap();
        let c = classify(seed_hit.decoded.owner_pointer.unwrap());
        assert_eq!(c.class, PointerClass::ForeignUnmapped, "{t:?}");
        let own = r.hits.iter().find(|h| h.address == f.own_mutex).unwrap();
        let c = classify(own.decoded.owner_pointer.unwrap());
        assert_eq!((c.class, c.tid), (PointerClass::OwnThread, Some(1)));
        // A pointer into the ulwp_t segment that is no live LWP's, but shaped like
        // a ulwp_t (ul_self), versus one that is not.
        let c = classify(f.ulwps[0].1 + 0x400);
        assert_eq!(c.class, PointerClass::ForeignMapped);
        assert!(!c.self_pointing);
        let c = classify(f.exited_ulwp);
        assert_eq!(c.class, PointerClass::ForeignMapped);
        assert!(c.self_pointing, "{t:?}: ul_self of an exited LWP's ulwp_t");
        assert_eq!(classify(0).class, PointerClass::None);
    }
}

#[test]
fn old_notes_only() {
    for t in TARGETS {
        let (mut c, f) = seed(t);
        c.new_notes = false;
        let data = c.to_bytes();
        let core = Core::parse(&data).unwrap();
        assert_eq!(core.os, Os::Solaris, "{t:?}");
        let sol = core.solaris.as_ref().unwrap();
        assert!(sol.old_notes_only);
        let p = core.process.as_ref().unwrap();
        assert_eq!((p.pid, p.ppid), (Some(f.pid), Some(4200)));
        assert_eq!(p.fname.as_deref(), Some("spinner"));
        // Zombies have no prstatus in the old segment.
        let ids: Vec<u32> = core.threads.iter().map(|t| t.tid).collect();
        assert_eq!(ids, vec![1, 2]);
        let crashed = core.crashed_thread().unwrap();
        assert_eq!(crashed.tid, f.spinner);
        assert_eq!(crashed.thread_pointer, tp(t, f.ulwps[1].1));
        assert_eq!(crashed.pc, Some(f.spinner_pc));
        assert_eq!(core.signal().unwrap().addr, Some(f.fault));
        assert_eq!(sol.brk_base, Some(f.own_mutex - 0x100));
        assert_eq!(
            core.thread(f.waiter)
                .unwrap()
                .syscall
                .as_ref()
                .unwrap()
                .number,
            77
        );
    }
}

#[test]
fn gcore_has_no_crashed_lwp() {
    for t in TARGETS {
        let (mut c, _) = seed(t);
        c.wstat = 0;
        for l in &mut c.lwps {
            l.signal = None;
        }
        let data = c.to_bytes();
        let core = Core::parse(&data).unwrap();
        let sol = core.solaris.as_ref().unwrap();
        assert!(sol.gcore);
        assert!(core.crashed_thread().is_none(), "{t:?}");
        assert!(core.signal().is_none());
        assert!(core.warnings.iter().any(|w| w.code == "solaris-gcore"));
    }
}

#[test]
fn truncated_and_corrupted_cores_never_panic() {
    for t in TARGETS {
        let (data, _) = seed_bytes(t);
        let mut cut = 0;
        while cut < data.len() {
            if let Ok(core) = Core::parse(&data[..cut]) {
                let space = AddressSpace::new(&core);
                let _ = mappings::build(&core);
                if let Some(l) = SolarisMutex::for_arch(core.arch) {
                    let _ = magic::scan(&space, &l);
                }
            }
            cut += 97;
        }
        // Flip bytes through the note segments.
        let mut bad = data.clone();
        for i in (64..bad.len().min(40_000)).step_by(13) {
            bad[i] ^= 0xa5;
            let _ = Core::parse(&bad);
        }
    }
}

/// The whole analysis on the synthetic cores, both byte orders: the seed's crash is
/// `owner-deref-crash`, the only error, naming the mutex, the owner pointer and the
/// fault address.
#[test]
fn synthetic_seed_cores_give_owner_deref_crash() {
    use mutexdiag::analysis::Options;
    for t in TARGETS {
        let (data, f) = seed_bytes(t);
        let core = Core::parse(&data).unwrap();
        let r = run_analysis(&core, "synthetic", &Options::default());
        let v = serde_json::to_value(&r).unwrap();
        let errors: Vec<&serde_json::Value> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["severity"] == "error")
            .collect();
        let codes: Vec<&str> = errors.iter().map(|x| x["code"].as_str().unwrap()).collect();
        assert_eq!(codes, vec!["owner-deref-crash"], "{t:?}: {v:#}");
        let e = errors[0];
        let msg = e["message"].as_str().unwrap();
        for want in [
            format!("{:#x}", f.mutex),
            format!("{:#x}", f.owner),
            format!("{:#x}", f.fault),
            format!("thread {}", f.spinner),
            "dereferenced a thread pointer of another process".to_string(),
        ] {
            assert!(msg.contains(&want), "{t:?}: {want} not in {msg}");
        }
        assert_eq!(e["mutexes"][0], format!("{:#x}", f.mutex));
        let threads: Vec<u64> = e["threads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        assert_eq!(
            threads,
            vec![u64::from(f.spinner), u64::from(f.waiter)],
            "the crashed LWP, then the LWP parked in lwp_park"
        );
        let ev = e["evidence"].to_string();
        assert!(ev.contains("offsetof(ulwp_t, ul_schedctl)"), "{ev}");
        assert!(ev.contains("foreign-unmapped"), "{ev}");
        assert!(ev.contains("no mapping names"), "{ev}");
        assert!(ev.contains("lwp_park"), "{ev}");
        assert!(e["fix"].as_str().unwrap().contains("USYNC_PROCESS"));

        // The JSON mutex carries owner.pointer and its class.
        let mutexes = v["mutexes"].as_array().unwrap();
        let m = mutexes
            .iter()
            .find(|m| m["address"] == format!("{:#x}", f.mutex))
            .unwrap();
        assert_eq!(m["owner"]["pointer"], format!("{:#x}", f.owner));
        assert_eq!(m["owner"]["class"], "foreign");
        assert_eq!(m["owner"]["pointer_class"], "foreign-unmapped");
        assert_eq!(m["found_by"][0], "magic");
        assert!(m["notes"].to_string().contains("spinning"), "{m:#}");
        let own = mutexes
            .iter()
            .find(|m| m["address"] == format!("{:#x}", f.own_mutex))
            .unwrap();
        assert_eq!(own["owner"]["class"], "own-thread");
        let rw = mutexes
            .iter()
            .find(|m| m["address"] == format!("{:#x}", f.rwlock + 8))
            .unwrap();
        assert!(rw["notes"].to_string().contains("rwlock_t"), "{rw:#}");
        assert_eq!(
            v["core"]["layout"],
            format!(
                "solaris-{}",
                match t {
                    Target::Amd64 => "amd64",
                    Target::Sparcv9 => "sparcv9",
                    Target::Sparc32 => "sparc",
                    Target::I386 => "i386",
                }
            )
        );
    }
}

/// Without the crash (a gcore of the same process), the same mutex is a
/// cross-process-private-mutex: its owner pointer is another process's.
#[test]
fn synthetic_gcore_gives_cross_process_private_mutex() {
    use mutexdiag::analysis::Options;
    for t in TARGETS {
        let (mut c, f) = seed(t);
        c.wstat = 0;
        for l in &mut c.lwps {
            l.signal = None;
        }
        let data = c.to_bytes();
        let core = Core::parse(&data).unwrap();
        let r = run_analysis(&core, "gcore", &Options::default());
        let errors: Vec<_> = r
            .findings
            .iter()
            .filter(|x| format!("{:?}", x.severity) == "Error")
            .collect();
        assert_eq!(errors.len(), 1, "{t:?}");
        assert_eq!(errors[0].code, "cross-process-private-mutex");
        assert!(errors[0].message.contains(&format!("{:#x}", f.mutex)));
    }
}

/// A declared layout (the documented example) finds its lock by magic through the
/// whole analysis, and a bad layout file is refused by the CLI with a clear error.
#[test]
fn declared_layout_end_to_end() {
    use mutexdiag::DeclaredLayout;
    use mutexdiag::analysis::Options;
    let root = support::root();
    let example = root.join("docs/examples/acme_lock.toml");
    let acme = DeclaredLayout::load(&example).unwrap();
    let (mut c, f) = seed(Target::Amd64);
    // An acme_lock in the heap at +0x400: held by LWP 1, one waiter, recursive.
    let heap = &mut c.segs[1].data;
    heap[0x400..0x404].copy_from_slice(&0x41434d45u32.to_le_bytes());
    heap[0x404..0x406].copy_from_slice(&1u16.to_le_bytes());
    heap[0x408..0x40c].copy_from_slice(&1u32.to_le_bytes());
    heap[0x40c..0x410].copy_from_slice(&1u32.to_le_bytes());
    heap[0x410..0x418].copy_from_slice(&1u64.to_le_bytes());
    heap[0x418..0x41c].copy_from_slice(&2u32.to_le_bytes());
    let addr = f.own_mutex - 0x100 + 0x400;
    let data = c.to_bytes();
    let core = Core::parse(&data).unwrap();
    let opts = Options {
        declared_layouts: vec![acme],
        ..Options::default()
    };
    let r = run_analysis(&core, "declared", &opts);
    let v = serde_json::to_value(&r).unwrap();
    let m = v["mutexes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["address"] == format!("{addr:#x}"))
        .expect("the declared lock is found");
    assert_eq!(m["layout"], "acme_lock");
    assert_eq!(m["found_by"][0], "magic");
    assert_eq!(m["type"], "recursive");
    assert_eq!(m["state"], "contended");
    assert_eq!(m["owner"]["tid"], 1);
    assert_eq!(m["owner"]["class"], "own-thread");
    assert_eq!(m["count"], 2);
    // Without the declared layout it is not found.
    let r = run_analysis(&core, "plain", &Options::default());
    assert!(r.mutexes.iter().all(|m| m.address.0 != addr));

    // The CLI refuses an invalid file, naming it and the problem.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\nsize = 8\nalign = 8\nlock = { offset = 6, size = 4 }\n",
    )
    .unwrap();
    let core_path = dir.path().join("core");
    std::fs::write(&core_path, &data).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mutexdiag"))
        .arg(&core_path)
        .arg("--layout")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("past the end"),
        "{err}"
    );
    // And accepts the example.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mutexdiag"))
        .arg(&core_path)
        .arg("--layout")
        .arg(&example)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["mutexes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["layout"] == "acme_lock")
    );
    // Solaris synthetic core, CLI exit status 1 for the error finding.
    assert_eq!(out.status.code(), Some(1));
}
