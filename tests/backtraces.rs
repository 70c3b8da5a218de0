//! Backtraces of every thread of every fixture core, compared with gdb's
//! `thread apply all bt` on the same core (the `gdb.<role>.txt` oracles, made when
//! the fixtures were generated, and gdb run live when it is installed). Both use the
//! C library bundled in `fixtures/sysroot/` (the exact libc and debug files of the
//! cores), not this machine's.

use std::collections::BTreeMap;

use mutexdiag::CoreFile;
use mutexdiag::input::InputOptions;
use mutexdiag::internals::mappings;
use mutexdiag::internals::memory::AddressSpace;
use mutexdiag::internals::symbols::unwind::{self, Backtrace};
use mutexdiag::internals::symbols::{BuildIdStatus, Detail, Modules, SymbolOptions};

mod support;

use support::sysroot;

/// Our names agree with gdb's: equal, except that where gdb gave up (its last
/// frame is `??` and ours is known) we may go on.
fn agree(gdb: &[String], us: &[String]) -> bool {
    if gdb == us {
        return true;
    }
    match gdb.split_last() {
        Some((last, head)) if last == "??" => {
            us.len() > head.len() && us[..head.len()] == *head && us[head.len()] != "??"
        }
        _ => false,
    }
}

/// gdb's function names per LWP, in frame order ("<signal handler called>" kept).
fn parse_gdb(text: &str) -> BTreeMap<u32, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut cur: Option<u32> = None;
    for line in text.lines() {
        if line.starts_with("Thread ") && line.ends_with("):") {
            cur = line
                .rsplit_once("(LWP ")
                .and_then(|(_, r)| r.split(')').next())
                .and_then(|n| n.parse().ok());
            if let Some(t) = cur {
                out.insert(t, Vec::new());
            }
            continue;
        }
        if line.is_empty() {
            cur = None;
            continue;
        }
        let Some(t) = cur else { continue };
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let rest = rest
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start();
        let rest = match rest.split_once(" in ") {
            Some((a, b)) if a.starts_with("0x") => b,
            _ => rest,
        };
        let name = if rest.starts_with("<signal handler called>") {
            "<signal handler called>".to_string()
        } else {
            rest.split(" (").next().unwrap_or(rest).to_string()
        };
        out.get_mut(&t).unwrap().push(name);
    }
    out
}

fn names(bt: &Backtrace) -> Vec<String> {
    bt.frames
        .iter()
        .map(|f| {
            if f.signal_trampoline {
                "<signal handler called>".to_string()
            } else {
                f.function.clone().unwrap_or_else(|| "??".into())
            }
        })
        .collect()
}

struct Case {
    name: String,
    role: String,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(support::fixture(""))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("meta.json").exists())
        .collect();
    dirs.sort();
    for d in dirs {
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("meta.json")).unwrap()).unwrap();
        // gdb's oracle of a stripped fixture was made with the unstripped build (the
        // kept `app` has no symbols to name the frames with).
        if meta["stripped"] == true {
            continue;
        }
        for role in meta["roles"].as_array().unwrap() {
            let role = role.as_str().unwrap().to_string();
            if d.join(format!("gdb.{role}.txt")).exists() {
                out.push(Case {
                    name: d.file_name().unwrap().to_string_lossy().into_owned(),
                    role,
                });
            }
        }
    }
    out
}

fn backtraces(case: &Case) -> (Vec<Backtrace>, Vec<String>) {
    let dir = support::fixture("").join(&case.name);
    let tmp = support::expand_temp(&dir.join(format!("core.{}.zst", case.role)));
    let f = CoreFile::open(&tmp, &InputOptions::default()).unwrap();
    let core = f.parse().unwrap();
    let maps = mappings::build(&core);
    let opts = SymbolOptions {
        binary: Some(dir.join("app")),
        sysroot: sysroot::sysroot().to_path_buf(),
        debug_dirs: vec![],
        debuginfod_cache: None,
    };
    let modules = Modules::load(&core, &maps, &opts);
    let mut problems = Vec::new();
    let mut libc_dwarf = false;
    for m in modules.iter() {
        if m.status != BuildIdStatus::Match && m.status != BuildIdStatus::NoBuildId {
            problems.push(format!("{}: {:?}", m.name, m.status));
        }
        // gdb's oracles were made with glibc's debug info (libc6-dbg), bundled.
        libc_dwarf |= m.name.ends_with("x86_64-linux-gnu/libc.so.6") && m.has_dwarf();
        if m.name.ends_with("x86_64-linux-gnu/libc.so.6") && !libc_dwarf {
            problems.push(format!(
                "{}: no debug info found in fixtures/sysroot (rerun fixtures/make-sysroot.sh)",
                m.name
            ));
        }
    }
    // As the CLI does: the text the core lacks (gcore cores) from the verified files.
    let space = AddressSpace::new(&core).with_module_backing(&maps, &modules);
    let bts = core
        .threads
        .iter()
        .map(|t| unwind::backtrace(&space, &modules, core.arch, t, Detail::FULL))
        .collect::<Vec<Backtrace>>();
    // The shared symbolization of `threads --backtrace` gives the same frames,
    // with and without DWARF.
    for detail in [Detail::FULL, Detail::SYMTAB] {
        let mut tracer = unwind::Backtracer::new(&modules, detail);
        for t in &core.threads {
            let one = unwind::backtrace(&space, &modules, core.arch, t, detail);
            let (frames, stopped) = tracer.frames(&space, core.arch, t);
            assert_eq!(
                frames,
                one.frames.as_slice(),
                "{}: thread {}",
                case.name,
                t.tid
            );
            assert_eq!(stopped, one.stopped, "{}: thread {}", case.name, t.tid);
        }
    }
    // Walked ahead (as the analysis does on a cold cache, to stop reading the C
    // library's DWARF ahead where the frames stop needing it): the same frames,
    // whether the read ahead is stopped there or at once (a reader then inflates
    // what it needs itself).
    for limit in [true, false] {
        let modules = Modules::load(&core, &maps, &opts);
        modules.prefetch_dwarf();
        // libc6-dbg's debug files are compressed: the C library's is read ahead.
        assert_eq!(modules.reads_ahead(), libc_dwarf, "{}", case.name);
        let mut tracer = unwind::Backtracer::new(&modules, Detail::FULL);
        let addrs = tracer.walk_ahead(&space, core.arch, &core.threads);
        assert!(
            addrs.len() >= core.threads.len(),
            "{}: {} addresses for {} threads",
            case.name,
            addrs.len(),
            core.threads.len()
        );
        if limit {
            modules.limit_read_ahead(addrs);
        } else {
            modules.limit_read_ahead([]);
        }
        for (t, one) in core.threads.iter().zip(&bts) {
            let (frames, stopped) = tracer.frames(&space, core.arch, t);
            assert_eq!(
                frames,
                one.frames.as_slice(),
                "{}: thread {} (walked ahead)",
                case.name,
                t.tid
            );
            assert_eq!(
                stopped, one.stopped,
                "{}: thread {} (walked ahead)",
                case.name, t.tid
            );
        }
    }
    (bts, problems)
}

/// Compare our backtraces of one core with gdb's function names per thread;
/// returns how many threads were compared, pushing every disagreement.
fn compare(case: &Case, gdb: &BTreeMap<u32, Vec<String>>, failures: &mut Vec<String>) -> usize {
    let (bts, problems) = backtraces(case);
    if !problems.is_empty() {
        failures.push(format!(
            "{}/{}: the bundled files (fixtures/sysroot) are not those of the core: {}",
            case.name,
            case.role,
            problems.join("; ")
        ));
        return 0;
    }
    let mut checked = 0;
    for bt in &bts {
        let Some(want) = gdb.get(&bt.tid) else {
            failures.push(format!(
                "{}/{}: gdb shows no thread {}",
                case.name, case.role, bt.tid
            ));
            continue;
        };
        let got = names(bt);
        checked += 1;
        if !agree(want, &got) {
            failures.push(format!(
                "{}/{} thread {}:\n  gdb: {:?}\n  us:  {:?} ({:?})",
                case.name, case.role, bt.tid, want, got, bt.stopped
            ));
        }
    }
    checked
}

#[test]
fn function_names_equal_gdb_oracles() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases() {
        let gdb = parse_gdb(
            &std::fs::read_to_string(
                support::fixture("")
                    .join(&case.name)
                    .join(format!("gdb.{}.txt", case.role)),
            )
            .unwrap(),
        );
        checked += compare(&case, &gdb, &mut failures);
    }
    eprintln!("{checked} threads compared");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// gdb's `gcore` omits the text of the executable and of every library (and writes
/// no PT_LOAD for it, so the core does not even say which mappings are executable):
/// the frames of the gcore pair are named only from the files (`--binary`, the
/// bundled sysroot), build-id checked. They must be among the fixtures compared
/// above, with every frame named, as gdb names them.
#[test]
fn gcore_pair_is_named_from_the_files() {
    let cases: Vec<Case> = cases()
        .into_iter()
        .filter(|c| c.name == "gcore-sysv-private")
        .collect();
    assert_eq!(cases.len(), 2, "the gcore pair fixtures/gcore-sysv-private");
    let mut threads = 0;
    let mut failures = Vec::new();
    for case in &cases {
        let gdb = parse_gdb(
            &std::fs::read_to_string(
                support::fixture("")
                    .join(&case.name)
                    .join(format!("gdb.{}.txt", case.role)),
            )
            .unwrap(),
        );
        threads += compare(case, &gdb, &mut failures);
        let (bts, _) = backtraces(case);
        for bt in &bts {
            let n = names(bt);
            assert!(n.len() >= 4, "{}/{}: {n:?}", case.name, case.role);
            assert!(
                n.iter().all(|f| f != "??"),
                "{}/{} thread {}: {n:?}",
                case.name,
                case.role,
                bt.tid
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(threads, 3, "parent: 1 thread, child: 2");
}

/// The same comparison with gdb run now, given the same bundled sysroot and debug
/// files (so gdb does not read this machine's libc or /usr/lib/debug either).
#[test]
fn function_names_equal_live_gdb() {
    if std::process::Command::new("gdb")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "gdb is not installed: the live comparison is not made (the oracle test still runs)"
        );
        return;
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases() {
        let dir = support::fixture("").join(&case.name);
        let core = support::expand_temp(&dir.join(format!("core.{}.zst", case.role)));
        let out = std::process::Command::new("gdb")
            .args([
                "-batch",
                "-nx",
                "-iex",
                "set debuginfod enabled off",
                "-iex",
            ])
            .arg(format!("set sysroot {}", sysroot::sysroot().display()))
            .arg("-iex")
            .arg(format!(
                "set debug-file-directory {}",
                sysroot::debug_dir().display()
            ))
            .args(["-ex", "set pagination off", "-ex", "thread apply all bt"])
            .arg(dir.join("app"))
            .arg(&*core)
            .output()
            .unwrap();
        let gdb = parse_gdb(&String::from_utf8_lossy(&out.stdout));
        checked += compare(&case, &gdb, &mut failures);
    }
    eprintln!("{checked} threads compared with live gdb");
    assert!(checked > 0);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
