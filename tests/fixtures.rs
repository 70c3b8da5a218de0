//! Conformance of mutexdiag with the truth on every committed fixture core.
//!
//! Each scenario under `fixtures/` holds real kernel cores, the facts the programs
//! wrote about themselves at run time, gdb and eu-readelf output for each core and
//! `/proc/self/maps` from run time (`fixtures/README.md`). These tests run the real
//! binary on every core and compare its JSON with those oracles; `docs/fixtures.md`
//! says which test checks what against which oracle. Scenarios are found by listing
//! the folder, so a new fixture is covered without touching this file.
//!
//! Every test collects all disagreements and fails once, listing them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use serde_json::Value;

use fx::{Case, GdbMutex, cases, hexv, num};

mod support;

use support::oracles as fx;

/// The fixtures hold 34 cores today; fewer than this means some went missing.
const MIN_CORES: usize = 20;

/// Disagreements found so far, and how many comparisons were made (a test that
/// compared nothing proves nothing, so each test also asserts a minimum).
#[derive(Default)]
struct Check {
    errs: Vec<String>,
    n: usize,
}

impl Check {
    fn ok(&mut self, c: &Case, cond: bool, msg: impl FnOnce() -> String) {
        self.n += 1;
        if !cond {
            self.errs.push(format!("{}: {}", c.name(), msg()));
        }
    }

    fn eq<T: PartialEq + Debug>(&mut self, c: &Case, what: &str, ours: T, truth: T) {
        self.n += 1;
        if ours != truth {
            self.errs.push(format!(
                "{}: {what}: mutexdiag {ours:?}, truth {truth:?}",
                c.name()
            ));
        }
    }

    fn fail(&mut self, c: &Case, msg: String) {
        self.n += 1;
        self.errs.push(format!("{}: {msg}", c.name()));
    }

    fn finish(self, test: &str, min_checks: usize) {
        assert!(
            self.errs.is_empty(),
            "{test}: {} disagreement(s) in {} checks:\n  {}",
            self.errs.len(),
            self.n,
            self.errs.join("\n  ")
        );
        assert!(
            self.n >= min_checks,
            "{test}: only {} checks ran (expected at least {min_checks})",
            self.n
        );
        eprintln!("{test}: {} checks passed", self.n);
    }
}

fn all() -> &'static [Case] {
    let cs = cases();
    assert!(
        cs.len() >= MIN_CORES,
        "only {} fixture cores found under fixtures/ (expected at least {MIN_CORES})",
        cs.len()
    );
    cs
}

/// A core written by gdb's `gcore` (the fixture's meta.json says how each core was
/// made): no signal, no crashed thread, and no PT_LOAD for what gcore left out.
fn gcore_snapshot(c: &Case) -> bool {
    c.meta["cores"][&c.role]["killed_by"]
        .as_str()
        .is_some_and(|k| k.contains("gcore"))
}

fn tid_set(v: &Value) -> BTreeSet<u32> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_u64().map(|t| t as u32))
        .collect()
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

fn str_of(v: &Value) -> Option<&str> {
    v.as_str()
}

// ---------------------------------------------------------------------------

#[test]
fn fixture_inventory() {
    let cs = all();
    let mut k = Check::default();
    for c in cs {
        k.eq(
            c,
            "facts scenario",
            str_of(&c.facts["scenario"]),
            Some(c.scenario.as_str()),
        );
        k.eq(
            c,
            "facts role",
            str_of(&c.facts["role"]),
            Some(c.role.as_str()),
        );
        k.ok(c, c.dir.join("app").is_file(), || "no app binary".into());
    }
    // No core without a role in meta.json (it would escape every test).
    let mut seen = BTreeSet::new();
    for c in cs {
        if !seen.insert(c.dir.clone()) {
            continue;
        }
        for e in std::fs::read_dir(&c.dir).expect("list scenario") {
            let name = e.expect("entry").file_name().to_string_lossy().to_string();
            if let Some(role) = name
                .strip_prefix("core.")
                .and_then(|r| r.strip_suffix(".zst"))
            {
                let known = cs.iter().any(|x| x.dir == c.dir && x.role == role);
                k.ok(c, known, || format!("{name} has no role in meta.json"));
            }
        }
    }
    k.finish("fixture_inventory", 3 * MIN_CORES);
}

// ---------------------------------------------------------------------------
// 1. Threads, process and signal.

fn signal_code_name(signo: u64, code: i64) -> Option<&'static str> {
    match (signo, code) {
        (_, 0) => Some("SI_USER"),
        (_, -6) => Some("SI_TKILL"),
        (11, 1) => Some("SEGV_MAPERR"),
        (11, 2) => Some("SEGV_ACCERR"),
        (7, 1) => Some("BUS_ADRALN"),
        (7, 2) => Some("BUS_ADRERR"),
        _ => None,
    }
}

#[test]
fn threads_match_facts_and_oracles() {
    let mut k = Check::default();
    for c in all() {
        let f = &c.facts;
        let threads = arr(&c.threads["threads"]);
        let ours: BTreeSet<u32> = threads
            .iter()
            .filter_map(|t| t["tid"].as_u64().map(|t| t as u32))
            .collect();
        k.eq(c, "thread ids", &ours, &tid_set(&f["tids"]));
        k.eq(c, "thread count", threads.len(), ours.len());

        let proc_ = &c.threads["process"];
        k.eq(c, "pid", proc_["pid"].as_u64(), f["pid"].as_u64());
        k.eq(
            c,
            "analysis pid",
            c.analysis["core"]["pid"].as_u64(),
            f["pid"].as_u64(),
        );
        k.eq(
            c,
            "analysis ppid",
            c.analysis["core"]["ppid"].as_u64(),
            proc_["ppid"].as_u64(),
        );
        let prstatus = fx::eu_prstatus(&c.eu);
        if gcore_snapshot(c) {
            // gcore writes pr_ppid 0 in NT_PRSTATUS (the ppid is in NT_PRPSINFO, and
            // in the facts), leaves SIGSTOP in the siginfo gdb shows, and no thread
            // crashed: mutexdiag reports a snapshot, without signal or crashed thread.
            k.eq(
                c,
                "snapshot ppid vs facts",
                proc_["ppid"].as_u64(),
                f["ppid"].as_u64(),
            );
            let crashed = threads.iter().filter(|t| t["crashed"] == true).count();
            k.eq(c, "snapshot crashed threads", crashed, 0);
            k.ok(c, proc_["signal"].is_null(), || {
                format!("snapshot with a signal: {}", proc_["signal"])
            });
            k.eq(
                c,
                "snapshot analysis signal",
                &c.analysis["core"]["signal"],
                &Value::Null,
            );
            k.eq(
                c,
                "snapshot meta signal",
                c.meta["cores"][&c.role]["signal"].as_u64(),
                Some(0),
            );
        }
        let eu_ppid = prstatus.first().map(|&(_, pp)| u64::from(pp));
        if !gcore_snapshot(c) {
            k.eq(
                c,
                "ppid vs the core (eu-readelf)",
                proc_["ppid"].as_u64(),
                eu_ppid,
            );
        }
        // The facts' ppid is from run time. A process whose parent (another role)
        // died first was reparented before it dumped (`assert`).
        let parent_died_first = all().iter().any(|o| {
            o.scenario == c.scenario
                && o.facts["pid"] == f["ppid"]
                && !o.meta["cores"][&o.role]["killed_by"]
                    .as_str()
                    .unwrap_or("generator")
                    .starts_with("generator")
        });
        if !parent_died_first {
            k.eq(
                c,
                "ppid vs facts",
                proc_["ppid"].as_u64(),
                f["ppid"].as_u64(),
            );
        }

        // Exactly one crashed thread: the one eu-readelf lists first and gdb selects.
        let crashed: Vec<u64> = threads
            .iter()
            .filter(|t| t["crashed"] == Value::Bool(true))
            .filter_map(|t| t["tid"].as_u64())
            .collect();
        let eu_first = prstatus.first().map(|&(p, _)| u64::from(p));
        let gdb_threads = fx::gdb_threads(&c.gdb);
        let gdb_current: Vec<u64> = gdb_threads
            .iter()
            .filter(|t| t.current)
            .map(|t| u64::from(t.lwp))
            .collect();
        k.ok(c, eu_first.is_some(), || {
            "oracle: no PRSTATUS in eu-readelf".into()
        });
        if !gcore_snapshot(c) {
            k.eq(
                c,
                "crashed threads",
                crashed.clone(),
                eu_first.into_iter().collect(),
            );
            k.eq(
                c,
                "crashed thread vs gdb's current thread",
                crashed.clone(),
                gdb_current,
            );
        }
        if let Some(t) = f["crash_tid"].as_u64() {
            k.eq(c, "crashed thread vs facts crash_tid", crashed, vec![t]);
        }

        // Thread pointers: the program's pthread_self() and gdb's "Thread 0x…".
        for ft in arr(&f["threads"]) {
            let tid = ft["tid"].as_u64();
            let ours = threads.iter().find(|t| t["tid"].as_u64() == tid);
            k.eq(
                c,
                &format!("thread {tid:?} thread_pointer"),
                ours.and_then(|t| hexv(&t["thread_pointer"])),
                hexv(&ft["thread_pointer"]),
            );
        }
        for gt in &gdb_threads {
            if let Some(p) = gt.pointer {
                let ours = threads
                    .iter()
                    .find(|t| t["tid"].as_u64() == Some(u64::from(gt.lwp)));
                k.eq(
                    c,
                    &format!("thread {} pointer vs gdb", gt.lwp),
                    ours.and_then(|t| hexv(&t["thread_pointer"])),
                    Some(p),
                );
            }
        }

        if gcore_snapshot(c) {
            continue; // no signal: checked above
        }
        // Signal vs gdb's $_siginfo, meta.json and the facts.
        let Some(si) = fx::gdb_siginfo(&c.gdb) else {
            k.fail(c, "oracle: no $_siginfo in the gdb output".into());
            continue;
        };
        let sig = &proc_["signal"];
        k.eq(
            c,
            "signal number",
            sig["number"].as_u64(),
            Some(u64::from(si.signo)),
        );
        k.eq(
            c,
            "signal number vs meta.json",
            sig["number"].as_u64(),
            c.meta["cores"][&c.role]["signal"].as_u64(),
        );
        k.eq(c, "si_code", sig["code"].as_i64(), Some(i64::from(si.code)));
        if let Some(es) = f["expected_signal"].as_u64() {
            k.eq(
                c,
                "signal vs facts expected_signal",
                sig["number"].as_u64(),
                Some(es),
            );
        }
        if let Some(ec) = f["expected_si_code"].as_i64() {
            k.eq(
                c,
                "si_code vs facts expected_si_code",
                sig["code"].as_i64(),
                Some(ec),
            );
        }
        if let Some(n) = signal_code_name(u64::from(si.signo), i64::from(si.code)) {
            k.eq(c, "si_code name", str_of(&sig["code_name"]), Some(n));
        }
        let faulting = matches!(si.signo, 4 | 7 | 8 | 11);
        if faulting {
            k.eq(c, "fault address", hexv(&sig["address"]), Some(si.addr));
        } else {
            k.ok(c, sig["address"].is_null(), || {
                format!(
                    "signal {} has no fault address, mutexdiag gives {}",
                    si.signo, sig["address"]
                )
            });
        }
        if let Some(fa) = num(&f["fault_address"]) {
            k.eq(c, "fault address vs facts", hexv(&sig["address"]), Some(fa));
        }
        if si.code == 0 || si.code == -6 {
            k.eq(
                c,
                "sender pid",
                sig["sender_pid"].as_i64(),
                Some(si.kill_pid),
            );
        }
        k.eq(c, "analysis signal", &c.analysis["core"]["signal"], sig);
    }
    k.finish("threads_match_facts_and_oracles", 20 * MIN_CORES);
}

// ---------------------------------------------------------------------------
// 2. Futex waits.

/// Address of the facts mutex called `name`.
fn facts_mutex_addr(f: &Value, name: &str) -> Option<u64> {
    arr(&f["mutexes"])
        .iter()
        .find(|m| m["name"].as_str() == Some(name))
        .and_then(|m| num(&m["address"]))
}

#[test]
fn futex_waits_match_facts() {
    let mut k = Check::default();
    let mut waits_seen = 0;
    for c in all() {
        let f = &c.facts;
        let threads = arr(&c.threads["threads"]);
        for (sec, obj) in [("waiters", "mutex"), ("other_waits", "object")] {
            for w in arr(&f[sec]) {
                waits_seen += 1;
                let tid = w["tid"].as_u64();
                let Some(t) = threads.iter().find(|t| t["tid"].as_u64() == tid) else {
                    k.fail(c, format!("{sec}: thread {tid:?} not reported"));
                    continue;
                };
                let fu = &t["futex"];
                let what = format!("thread {tid:?} ({} {})", obj, w[obj]);
                k.ok(c, !fu.is_null(), || {
                    format!("{what}: no futex wait reported")
                });
                if fu.is_null() {
                    continue;
                }
                k.eq(
                    c,
                    &format!("{what} futex address"),
                    hexv(&fu["address"]),
                    num(&w["futex_address"]),
                );
                k.eq(
                    c,
                    &format!("{what} futex op"),
                    str_of(&fu["op"]),
                    str_of(&w["op"]),
                );
                k.eq(
                    c,
                    &format!("{what} futex private"),
                    fu["private"].as_bool(),
                    w["private"].as_bool(),
                );
            }
        }

        // The analysis: each mutex waiter is listed under its mutex, and nobody else
        // is listed as a mutex waiter.
        let mutexes = arr(&c.analysis["mutexes"]);
        let mut truth: BTreeMap<u64, BTreeSet<u32>> = BTreeMap::new();
        for w in arr(&f["waiters"]) {
            let Some(addr) = w["mutex"].as_str().and_then(|n| facts_mutex_addr(f, n)) else {
                k.fail(
                    c,
                    format!("facts: waiter {} names an unknown mutex", w["tid"]),
                );
                continue;
            };
            truth
                .entry(addr)
                .or_default()
                .insert(w["tid"].as_u64().unwrap_or(0) as u32);
        }
        for (addr, tids) in &truth {
            let ours = mutexes.iter().find(|m| hexv(&m["address"]) == Some(*addr));
            k.eq(
                c,
                &format!("waiters of mutex {addr:#x}"),
                ours.map(|m| tid_set(&m["waiters"])),
                Some(tids.clone()),
            );
        }
        for m in mutexes {
            let Some(addr) = hexv(&m["address"]) else {
                continue;
            };
            for t in tid_set(&m["waiters"]) {
                let ok = truth.get(&addr).is_some_and(|s| s.contains(&t));
                k.ok(c, ok, || {
                    format!("thread {t} reported as a waiter of mutex {addr:#x}, which it does not wait for")
                });
            }
        }
    }
    assert!(
        waits_seen >= 10,
        "only {waits_seen} futex waits in the facts"
    );
    k.finish("futex_waits_match_facts", 4 * waits_seen);
}

// ---------------------------------------------------------------------------
// 3. Mappings.

#[derive(Debug, Clone)]
struct OurMap<'a> {
    start: u64,
    end: u64,
    offset: u64,
    perms: &'a str,
    path: Option<&'a str>,
    kind: &'a str,
    shared: Option<bool>,
    dumped: &'a str,
    key: Option<u64>,
}

fn our_maps(v: &Value) -> Vec<OurMap<'_>> {
    arr(&v["mappings"])
        .iter()
        .map(|m| OurMap {
            start: hexv(&m["start"]).unwrap_or(u64::MAX),
            end: hexv(&m["end"]).unwrap_or(u64::MAX),
            offset: hexv(&m["offset"]).unwrap_or(u64::MAX),
            perms: m["perms"].as_str().unwrap_or(""),
            path: m["path"].as_str(),
            kind: m["kind"].as_str().unwrap_or(""),
            shared: m["shared"].as_bool(),
            dumped: m["dumped"].as_str().unwrap_or(""),
            key: hexv(&m["key"]),
        })
        .collect()
}

/// Shared-memory kinds named by their path (as `/proc/PID/maps` shows it).
fn shm_path(path: &str) -> bool {
    path.starts_with("/SYSV")
        || path.starts_with("/dev/shm/")
        || path.starts_with("/memfd:")
        || path.starts_with("/dev/zero")
}

#[test]
fn maps_match_gdb_proc_maps_and_facts() {
    let mut k = Check::default();
    for c in all() {
        let ours = our_maps(&c.maps);
        k.ok(c, !ours.is_empty(), || "no mappings".into());
        k.ok(c, c.maps == c.maps_from_zst, || {
            "maps of the .zst core differ from maps of the decompressed core".into()
        });
        k.ok(c, c.analysis["mappings"] == c.maps["mappings"], || {
            "the analysis' mappings differ from `maps`".into()
        });

        // gdb's `info proc mappings` is the NT_FILE table: the same set both ways.
        let gdb: BTreeSet<fx::FileMapping> = fx::gdb_mappings(&c.gdb).into_iter().collect();
        k.ok(c, gdb.len() >= 3, || {
            "oracle: gdb lists fewer than 3 file mappings".into()
        });
        let named: BTreeSet<fx::FileMapping> = ours
            .iter()
            .filter_map(|m| {
                Some(fx::FileMapping {
                    start: m.start,
                    end: m.end,
                    offset: m.offset,
                    path: m.path?.to_string(),
                })
            })
            .collect();
        for g in gdb.difference(&named) {
            k.fail(c, format!("gdb mapping missing or different: {g:x?}"));
        }
        for o in named.difference(&gdb) {
            k.fail(c, format!("file mapping not in gdb's list: {o:x?}"));
        }

        // /proc/self/maps at run time: every file line, with its s/p flag.
        for pm in fx::proc_maps(&c.proc_maps) {
            if !pm.path.starts_with('/') {
                continue;
            }
            let m = ours.iter().find(|m| m.start == pm.start && m.end == pm.end);
            let Some(m) = m else {
                k.fail(
                    c,
                    format!(
                        "{:#x}-{:#x} {} (from /proc/self/maps) missing",
                        pm.start, pm.end, pm.path
                    ),
                );
                continue;
            };
            k.eq(
                c,
                &format!("{:#x} path", pm.start),
                m.path,
                Some(pm.path.as_str()),
            );
            k.eq(c, &format!("{:#x} offset", pm.start), m.offset, pm.offset);
            if gcore_snapshot(c) && m.perms == "???" {
                // gcore left the mapping out and wrote no PT_LOAD: the core does not
                // say its permissions. It only leaves out what is not writable.
                k.eq(c, &format!("{:#x} dumped", pm.start), m.dumped, "none");
                k.ok(c, pm.perms.as_bytes().get(1) == Some(&b'-'), || {
                    format!(
                        "{:#x}: gcore left out a writable mapping ({})",
                        pm.start, pm.perms
                    )
                });
            } else {
                k.eq(
                    c,
                    &format!("{:#x} perms", pm.start),
                    m.perms,
                    &pm.perms[..3],
                );
            }
            if shm_path(&pm.path) {
                k.eq(
                    c,
                    &format!("{:#x} ({}) shared", pm.start, pm.path),
                    m.shared,
                    Some(pm.perms.ends_with('s')),
                );
            }
        }

        // eu-readelf's program headers: one mapping per PT_LOAD, with the same
        // permissions, and "dumped" telling how much of it the core holds.
        let loads = fx::eu_loads(&c.eu);
        k.ok(c, loads.len() >= 5, || "oracle: fewer than 5 LOADs".into());
        for l in loads.iter().filter(|l| l.memsz > 0) {
            let Some(m) = ours.iter().find(|m| m.start == l.vaddr) else {
                k.fail(c, format!("PT_LOAD at {:#x} has no mapping", l.vaddr));
                continue;
            };
            let dumped = if l.filesz == 0 {
                "none"
            } else if l.filesz >= l.memsz {
                "full"
            } else {
                "partial"
            };
            k.eq(c, &format!("{:#x} end", l.vaddr), m.end, l.vaddr + l.memsz);
            k.eq(
                c,
                &format!("{:#x} perms", l.vaddr),
                m.perms,
                l.perms.as_str(),
            );
            k.eq(c, &format!("{:#x} dumped", l.vaddr), m.dumped, dumped);
        }
        for m in &ours {
            let left_out = gcore_snapshot(c) && m.perms == "???" && m.dumped == "none";
            k.ok(
                c,
                left_out || loads.iter().any(|l| l.vaddr == m.start),
                || format!("mapping {:#x}-{:#x} has no PT_LOAD", m.start, m.end),
            );
        }

        // The scenario's own mappings (facts): kind, key, path, shared flag.
        // `file-maps` holds mappings whose flag a core cannot tell (an unlinked
        // MAP_SHARED file, a written MAP_PRIVATE one): its facts are compared with
        // `maps --maps maps.ROLE.txt` (the program's own /proc/self/maps), and the
        // core alone must get both wrong (tests/inputs.rs checks the rest).
        let with_maps: Value;
        let facts_maps = if c.scenario == "file-maps" {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_mutexdiag"))
                .arg("maps")
                .arg(c.dir.join(format!("core.{}.zst", c.role)))
                .arg("--maps")
                .arg(c.dir.join(format!("maps.{}.txt", c.role)))
                .args(["--format", "json"])
                .output()
                .expect("run mutexdiag maps --maps");
            with_maps = serde_json::from_slice(&out.stdout).expect("maps --maps JSON");
            let wrong = arr(&c.facts["mappings"])
                .iter()
                .filter(|fm| {
                    let (s, e) = (num(&fm["vma_start"]), num(&fm["vma_end"]));
                    ours.iter()
                        .find(|m| Some(m.start) == s && Some(m.end) == e)
                        .is_some_and(|m| {
                            m.shared != Some(fm["perms"].as_str().unwrap_or("").ends_with('s'))
                        })
                })
                .count();
            k.eq(c, "mappings whose flag the core alone gets wrong", wrong, 2);
            our_maps(&with_maps)
        } else {
            ours.clone()
        };
        for fm in arr(&c.facts["mappings"]) {
            let (s, e) = (num(&fm["vma_start"]), num(&fm["vma_end"]));
            let Some(m) = facts_maps
                .iter()
                .find(|m| Some(m.start) == s && Some(m.end) == e)
            else {
                k.fail(c, format!("facts mapping {fm} missing"));
                continue;
            };
            let at = format!("{:#x}", m.start);
            k.eq(c, &format!("{at} kind"), Some(m.kind), str_of(&fm["kind"]));
            k.eq(c, &format!("{at} key"), m.key, num(&fm["key"]));
            k.eq(c, &format!("{at} path"), m.path, str_of(&fm["path"]));
            let perms = fm["perms"].as_str().unwrap_or("");
            k.eq(
                c,
                &format!("{at} shared"),
                m.shared,
                Some(perms.ends_with('s')),
            );
            // A POSIX shm object still linked in /dev/shm is a file-backed shared
            // mapping: coredump_filter 0x33 leaves its contents out of the core.
            if fm["kind"] == "posix-shm" && !m.path.unwrap_or("").ends_with(" (deleted)") {
                k.eq(
                    c,
                    &format!("{at} dumped (linked POSIX shm)"),
                    m.dumped,
                    "none",
                );
            }
        }
    }
    k.finish("maps_match_gdb_proc_maps_and_facts", 30 * MIN_CORES);
}

// ---------------------------------------------------------------------------
// 4./5. Mutexes vs gdb and the facts.

const SHARED_KINDS: &[&str] = &["sysv-shm", "posix-shm", "memfd", "anon-shared"];

/// What the facts and the oracles say about one mutex of one core.
struct Truth<'a> {
    f: &'a Value,
    name: &'a str,
    address: u64,
    ctype: &'a str,
    gdb: Option<GdbMutex>,
    /// The glibc pretty printer's line (glibc `pthread_mutex_t` only).
    pretty: Option<String>,
    /// Its bytes are in the core (eu-readelf's LOAD has them in the file).
    dumped: bool,
    waiters: BTreeSet<u32>,
    /// Held at dump time by a known thread.
    held: bool,
}

impl Truth<'_> {
    fn is_glibc_mutex(&self) -> bool {
        self.ctype == "pthread_mutex_t"
    }
    /// The tool must find it today: a thread waits on it (futex-wait discovery), or
    /// it is held and in the core (the scan finds held mutexes in every writable
    /// mapping with `--scan all`). Free, destroyed and owner-died mutexes can only be
    /// found through debug symbols.
    fn required_now(&self) -> bool {
        self.is_glibc_mutex() && (!self.waiters.is_empty() || (self.held && self.dumped))
    }
}

fn truths(c: &Case) -> Vec<Truth<'_>> {
    let f = &c.facts;
    let glibc = f["libc"] == "glibc";
    let gdb = fx::gdb_mutexes(&c.gdb);
    let pretty = fx::gdb_pretty(&c.gdb);
    let loads = fx::eu_loads(&c.eu);
    let mut pi = 0;
    let mut out = Vec::new();
    for m in arr(&f["mutexes"]) {
        let name = m["name"].as_str().unwrap_or("?");
        let address = num(&m["address"]).unwrap_or(0);
        let size = m["size"].as_u64().unwrap_or(1);
        let ctype = m["c_type"].as_str().unwrap_or("");
        let p = if glibc && ctype == "pthread_mutex_t" {
            pi += 1;
            pretty.get(pi - 1).cloned()
        } else {
            None
        };
        let waiters = arr(&f["waiters"])
            .iter()
            .filter(|w| w["mutex"].as_str() == Some(name))
            .filter_map(|w| w["tid"].as_u64().map(|t| t as u32))
            .collect();
        let held = !m["owner_tid"].is_null()
            && m["owner_at_dump_unknown"] != Value::Bool(true)
            && m["state"] != "owner-died";
        out.push(Truth {
            f: m,
            name,
            address,
            ctype,
            gdb: gdb
                .iter()
                .find(|g| g.name == name && g.address == address)
                .cloned(),
            pretty: p,
            dumped: fx::eu_dumped(&loads, address, size).unwrap_or(false),
            waiters,
            held,
        });
    }
    out
}

fn our_mutex(c: &Case, addr: u64) -> Option<&Value> {
    arr(&c.analysis["mutexes"])
        .iter()
        .find(|m| hexv(&m["address"]) == Some(addr))
}

fn our_field(m: &Value, name: &str) -> Option<u64> {
    arr(&m["fields"])
        .iter()
        .find(|p| p[0].as_str() == Some(name))
        .and_then(|p| hexv(&p[1]))
}

/// `__i = {a, b, ...}` of musl's gdb output.
fn musl_ints(px: &str) -> Vec<u64> {
    let Some(i) = px.find("__i = {") else {
        return Vec::new();
    };
    let rest = &px[i + 7..];
    let end = rest.find('}').unwrap_or(rest.len());
    rest[..end].split(',').filter_map(fx::parse_num).collect()
}

fn ty_name(gdb_type: &str) -> Option<&'static str> {
    Some(match gdb_type {
        "Normal" => "normal",
        "Recursive" => "recursive",
        "Error check" => "errorcheck",
        "Adaptive" => "adaptive",
        _ => return None,
    })
}

/// Compare one reported mutex with gdb's pretty printer (glibc).
fn check_pretty(k: &mut Check, c: &Case, t: &Truth<'_>, m: &Value, line: &str) {
    let at = format!("{} @ {:#x}", t.name, t.address);
    let pairs: BTreeMap<String, String> = fx::pretty_pairs(line).into_iter().collect();
    let get = |key: &str| pairs.get(key).map(String::as_str);
    let status = get("Status").unwrap_or("");
    let state = m["state"].as_str();
    let protect = get("Protocol") == Some("Priority protect");
    if status == "Destroyed" {
        k.eq(
            c,
            &format!("{at} state (gdb: Destroyed)"),
            state,
            Some("destroyed"),
        );
        return; // the printer's Type of a destroyed mutex is __kind -1 & 3
    }
    k.eq(
        c,
        &format!("{at} type"),
        m["type"].as_str(),
        get("Type").and_then(ty_name),
    );
    let owner = get("Owner ID");
    let expected_state = if status == "Not acquired" {
        "unlocked"
    } else if owner.is_some_and(|o| o.ends_with("(dead)")) {
        "owner-died"
    } else if get("State protected by this mutex") == Some("Inconsistent") {
        "inconsistent"
    } else if get("State protected by this mutex") == Some("Not recoverable") {
        "not-recoverable"
    } else if protect {
        // The printer compares the whole PP lock word, ceiling bits included, with
        // 1, so it always says "with waiters". glibc's own test is on the low bits.
        let lock = t
            .gdb
            .as_ref()
            .and_then(|g| fx::field_after(&g.px, "__lock"))
            .and_then(fx::parse_num)
            .unwrap_or(0);
        if lock & 0x7ffff == 1 {
            "locked"
        } else {
            "contended"
        }
    } else if status == "Acquired, possibly with waiters" {
        "contended"
    } else if status == "Acquired, possibly with no waiters" {
        "locked"
    } else {
        k.fail(c, format!("{at}: oracle: unknown status {status:?}"));
        return;
    };
    k.eq(
        c,
        &format!("{at} state (gdb: {status})"),
        state,
        Some(expected_state),
    );
    let owner_tid = owner.and_then(|o| o.trim_end_matches(" (dead)").parse::<u64>().ok());
    if owner.is_some() {
        k.eq(
            c,
            &format!("{at} owner"),
            m["owner"]["tid"].as_u64(),
            owner_tid,
        );
    }
    let yes = |v: Option<&str>| v.map(|v| v == "Yes");
    k.eq(
        c,
        &format!("{at} robust"),
        m["robust"].as_bool(),
        yes(get("Robust")),
    );
    k.eq(
        c,
        &format!("{at} pshared"),
        m["pshared"].as_bool(),
        yes(get("Shared")),
    );
    let proto = get("Protocol").map(|p| match p {
        "None" => "none",
        "Priority inherit" => "inherit",
        "Priority protect" => "protect",
        _ => "?",
    });
    k.eq(c, &format!("{at} protocol"), m["protocol"].as_str(), proto);
    if let Some(n) = get("Times acquired by the owner") {
        k.eq(
            c,
            &format!("{at} count"),
            m["count"].as_u64(),
            n.parse().ok(),
        );
    }
}

/// Compare one reported mutex whose bytes are in the core with gdb and the facts.
fn check_decoded(k: &mut Check, c: &Case, t: &Truth<'_>, m: &Value) {
    let f = &c.facts;
    let at = format!("{} @ {:#x}", t.name, t.address);
    let Some(g) = &t.gdb else {
        k.fail(c, format!("{at}: oracle: no gdb block"));
        return;
    };
    k.eq(
        c,
        &format!("{at} dumped"),
        m["dumped"].as_bool(),
        Some(true),
    );
    let glibc = f["libc"] == "glibc";
    let layout = format!(
        "{}-{}",
        f["libc"].as_str().unwrap_or("?"),
        f["arch"].as_str().unwrap_or("?")
    );
    if t.is_glibc_mutex() {
        k.eq(
            c,
            &format!("{at} layout"),
            m["layout"].as_str(),
            Some(layout.as_str()),
        );
    }

    // Raw fields vs gdb's p/x.
    if glibc && t.is_glibc_mutex() {
        for name in ["__lock", "__count", "__owner", "__nusers", "__kind"] {
            let truth = fx::field_after(&g.px, name).and_then(fx::parse_num);
            k.ok(c, truth.is_some(), || {
                format!("{at}: oracle: no {name} in gdb p/x")
            });
            k.eq(c, &format!("{at} {name}"), our_field(m, name), truth);
        }
    } else if t.is_glibc_mutex() {
        let i = musl_ints(&g.px);
        k.ok(c, i.len() >= 6, || {
            format!("{at}: oracle: musl __i has {} words", i.len())
        });
        for (name, idx) in [
            ("_m_type", 0),
            ("_m_lock", 1),
            ("_m_waiters", 2),
            ("_m_count", 5),
        ] {
            k.eq(
                c,
                &format!("{at} {name}"),
                our_field(m, name),
                i.get(idx).copied(),
            );
        }
    }

    let fm = t.f;
    let corrupted = fm["corrupted"] == Value::Bool(true);
    let unknown = fm["owner_at_dump_unknown"] == Value::Bool(true);
    if corrupted {
        // The pretty printer reads the scribbled __kind as a valid type; the tool
        // must instead say that these bytes cannot occur.
        k.ok(c, !arr(&m["anomalies"]).is_empty(), || {
            format!("{at}: corrupted mutex reported without anomalies")
        });
    } else if let Some(line) = &t.pretty {
        check_pretty(k, c, t, m, line);
    }

    // The facts (the program's own view).
    if !corrupted {
        let destroyed = fm["destroyed"] == Value::Bool(true);
        if destroyed {
            k.eq(
                c,
                &format!("{at} state (destroyed)"),
                m["state"].as_str(),
                Some("destroyed"),
            );
        } else {
            k.eq(
                c,
                &format!("{at} type vs facts"),
                m["type"].as_str(),
                str_of(&fm["type"]),
            );
            k.eq(
                c,
                &format!("{at} robust vs facts"),
                m["robust"].as_bool(),
                fm["robust"].as_bool(),
            );
            k.eq(
                c,
                &format!("{at} protocol vs facts"),
                m["protocol"].as_str(),
                str_of(&fm["protocol"]),
            );
            // glibc sets the pshared kind bit on every robust mutex.
            let pshared = fm["pshared"]
                .as_bool()
                .map(|p| p || (glibc && fm["robust"] == true));
            k.eq(
                c,
                &format!("{at} pshared vs facts"),
                m["pshared"].as_bool(),
                pshared,
            );
        }
        if let Some(s) = fm["state"].as_str() {
            k.eq(
                c,
                &format!("{at} state vs facts"),
                m["state"].as_str(),
                Some(s),
            );
        }
        if let Some(n) = fm["count_expected"].as_u64() {
            k.eq(
                c,
                &format!("{at} count vs facts"),
                m["count"].as_u64(),
                Some(n),
            );
        }
        let recorded = fm["owner_recorded_in_memory"] != Value::Bool(false);
        match fm["owner_tid"].as_u64() {
            // Solaris-layout locks record the owner's thread pointer, not its TID.
            Some(_) if !unknown && fm["owner_pointer"].is_string() => {
                k.eq(
                    c,
                    &format!("{at} owner pointer vs facts"),
                    m["owner"]["pointer"].as_str(),
                    fm["owner_pointer"].as_str(),
                );
            }
            Some(o) if !unknown && recorded => {
                k.eq(
                    c,
                    &format!("{at} owner vs facts"),
                    m["owner"]["tid"].as_u64(),
                    Some(o),
                );
            }
            Some(_) if !unknown => {
                // musl NORMAL: held, but no owner in memory.
                k.eq(
                    c,
                    &format!("{at} owner (not recorded)"),
                    m["owner"]["tid"].as_u64(),
                    None,
                );
                let held = matches!(m["state"].as_str(), Some("locked" | "contended"));
                k.ok(c, held, || {
                    format!("{at}: held mutex reported as {}", m["state"])
                });
            }
            None if !destroyed_or_unknown(fm) => {
                k.eq(
                    c,
                    &format!("{at} state (free)"),
                    m["state"].as_str(),
                    Some("unlocked"),
                );
            }
            _ => {}
        }
        // Owner class: a thread of this core or not.
        if let Some(o) = m["owner"]["tid"].as_u64() {
            let here = tid_set(&f["tids"]).contains(&(o as u32));
            let class = m["owner"]["class"].as_str();
            if matches!(
                m["state"].as_str(),
                Some("locked" | "contended" | "inconsistent")
            ) {
                k.eq(
                    c,
                    &format!("{at} owner class (owner {o} in this core: {here})"),
                    class == Some("own-thread"),
                    here,
                );
            }
        }
    }

    // Where it is.
    if let Some(key) = num(&fm["sysv_key"]) {
        k.eq(c, &format!("{at} SysV key"), hexv(&m["key"]), Some(key));
    }
    if let Some(kind) = fm["mapping_kind"]
        .as_str()
        .filter(|k| SHARED_KINDS.contains(k))
    {
        k.eq(
            c,
            &format!("{at} mapping kind"),
            m["mapping_kind"].as_str(),
            Some(kind),
        );
    }
    // Who waits for it.
    k.eq(
        c,
        &format!("{at} waiters"),
        tid_set(&m["waiters"]),
        t.waiters.clone(),
    );
}

fn destroyed_or_unknown(fm: &Value) -> bool {
    fm["destroyed"] == Value::Bool(true) || fm["owner_at_dump_unknown"] == Value::Bool(true)
}

/// A mutex whose bytes are not in the core: reported, but never with invented
/// values (gdb shows zeros there).
fn check_not_dumped(k: &mut Check, c: &Case, t: &Truth<'_>, m: &Value) {
    let at = format!("{} @ {:#x} (not in the core)", t.name, t.address);
    k.eq(
        c,
        &format!("{at} dumped"),
        m["dumped"].as_bool(),
        Some(false),
    );
    for key in [
        "type", "state", "pshared", "robust", "protocol", "count", "nusers",
    ] {
        k.ok(c, m[key].is_null(), || {
            format!("{at}: {key} = {} from bytes that are not there", m[key])
        });
    }
    k.ok(c, arr(&m["fields"]).is_empty(), || {
        format!("{at}: fields {} from bytes that are not there", m["fields"])
    });
    k.ok(c, m["owner"]["tid"].is_null(), || {
        format!(
            "{at}: owner {} from bytes that are not there",
            m["owner"]["tid"]
        )
    });
    if let Some(g) = &t.gdb {
        // The oracle's zeros are gdb's, not the memory's.
        k.ok(c, g.px.contains("__lock = 0x0,"), || {
            format!("{at}: oracle: gdb no longer shows zeros")
        });
    }
    if let Some(kind) = t.f["mapping_kind"]
        .as_str()
        .filter(|k| SHARED_KINDS.contains(k))
    {
        k.eq(
            c,
            &format!("{at} mapping kind"),
            m["mapping_kind"].as_str(),
            Some(kind),
        );
    }
    k.eq(
        c,
        &format!("{at} waiters"),
        tid_set(&m["waiters"]),
        t.waiters.clone(),
    );
}

#[test]
fn mutexes_match_gdb_and_facts() {
    let mut k = Check::default();
    let mut compared = 0;
    for c in all() {
        for t in truths(c) {
            let ours = our_mutex(c, t.address);
            let at = format!("{} @ {:#x}", t.name, t.address);
            match ours {
                Some(m) if !t.dumped => check_not_dumped(&mut k, c, &t, m),
                Some(m) => {
                    compared += 1;
                    check_decoded(&mut k, c, &t, m)
                }
                None if !t.dumped && !t.waiters.is_empty() => k.fail(
                    c,
                    format!("{at}: not reported, although thread(s) {:?} wait on it (its bytes are not in the core: it must be reported with dumped: false)", t.waiters),
                ),
                None if t.required_now() => k.fail(
                    c,
                    format!(
                        "{at}: MISSING from the analysis ({}, owner {}, waiters {:?})",
                        t.f["mapping_kind"], t.f["owner_tid"], t.waiters
                    ),
                ),
                None => {} // needs symbol discovery or another layout: see the ignored tests
            }
        }
        // Exit status: 1 exactly when there is an error finding.
        let errors = arr(&c.analysis["findings"])
            .iter()
            .any(|f| f["severity"] == "error");
        k.eq(
            c,
            "analysis exit status",
            c.analysis_exit,
            i32::from(errors),
        );
    }
    assert!(compared >= 30, "only {compared} mutexes compared");
    k.finish("mutexes_match_gdb_and_facts", 10 * compared);
}

/// Every lock of the facts is found, also those that only debug-symbol or typed
/// pointer discovery can find (free, destroyed and owner-died globals; free locks
/// in shared memory reached through a global pointer; locks whose bytes are not in
/// the core), under the facts' name, and global ones in the right section.
#[test]
fn mutexes_found_by_symbols() {
    let mut k = Check::default();
    for c in all() {
        for t in truths(c) {
            if !t.is_glibc_mutex() {
                continue;
            }
            let at = format!("{} @ {:#x}", t.name, t.address);
            let Some(m) = our_mutex(c, t.address) else {
                if c.meta["stripped"] == true && t.f["owner_tid"].is_null() {
                    // Free, and no symbol to find it by.
                    continue;
                }
                k.fail(
                    c,
                    format!(
                        "{at}: MISSING ({}, owner {}, state {}, dumped {})",
                        t.f["mapping_kind"],
                        t.f["owner_tid"],
                        t.f.get("state").unwrap_or(&Value::Null),
                        t.dumped
                    ),
                );
                continue;
            };
            if t.dumped {
                check_decoded(&mut k, c, &t, m);
            } else {
                check_not_dumped(&mut k, c, &t, m);
            }
            let found_by: Vec<&str> = arr(&m["found_by"])
                .iter()
                .filter_map(Value::as_str)
                .collect();
            // A program may keep its mutex where no symbol reaches it (it says so
            // in its facts: `"symbol": null`); then the scan must have found it.
            if c.meta["stripped"] == true {
                // A stripped executable names nothing: a lock is found through a
                // futex wait or the scan, or not at all when it is free.
                k.ok(
                    c,
                    !found_by.iter().any(|b| matches!(*b, "symbol" | "pointer")),
                    || format!("{at}: found by {found_by:?} in a stripped executable"),
                );
                continue;
            } else if t.f.get("symbol") == Some(&Value::Null) {
                k.ok(c, found_by.contains(&"scan"), || {
                    format!("{at}: no symbol reaches it, found by {found_by:?}, not by the scan")
                });
            } else if found_by.iter().any(|b| matches!(*b, "symbol" | "pointer")) {
                k.eq(
                    c,
                    &format!("{at} symbol"),
                    str_of(&m["symbol"]),
                    Some(t.name),
                );
            } else {
                k.fail(
                    c,
                    format!("{at}: found by {found_by:?} only, not by its debug symbol"),
                );
            }
            let loc = m["location"].as_str().unwrap_or("");
            match t.f["mapping_kind"].as_str() {
                Some("bss") => k.ok(c, loc.starts_with(".bss of "), || {
                    format!("{at}: location {loc:?}, truth .bss")
                }),
                Some("data") => k.ok(c, loc.starts_with(".data of "), || {
                    format!("{at}: location {loc:?}, truth .data")
                }),
                _ => {}
            }
        }
    }
    k.finish("mutexes_found_by_symbols", 100);
}

/// Locks of a non-glibc layout inside a Linux process (`solaris-seed`: a Solaris
/// `mutex_t` in SysV shm), compared with gdb's view of the C struct.
#[test]
fn foreign_layout_locks() {
    // gdb's member names in the fixture's `struct solaris_mutex` → the tool's.
    const ALIASES: &[(&str, &str)] = &[
        ("mutex_type", "mutex_type"),
        ("mutex_rcount", "mutex_rcount"),
        ("magic", "mutex_magic"),
        ("ownerpid", "mutex_ownerpid"),
        ("owner", "mutex_owner"),
    ];
    let mut k = Check::default();
    let mut seen = 0;
    for c in all() {
        for t in truths(c) {
            if t.is_glibc_mutex() {
                continue;
            }
            seen += 1;
            let at = format!("{} @ {:#x}", t.name, t.address);
            let Some(m) = our_mutex(c, t.address) else {
                k.fail(c, format!("{at} ({}): MISSING", t.ctype));
                continue;
            };
            k.eq(
                c,
                &format!("{at} layout"),
                m["layout"].as_str(),
                str_of(&t.f["layout"]),
            );
            k.eq(
                c,
                &format!("{at} dumped"),
                m["dumped"].as_bool(),
                Some(true),
            );
            k.eq(
                c,
                &format!("{at} owner pointer"),
                hexv(&m["owner"]["pointer"]),
                num(&t.f["owner_pointer"]),
            );
            let Some(g) = &t.gdb else {
                k.fail(c, format!("{at}: oracle: no gdb block"));
                continue;
            };
            for (gname, ours) in ALIASES {
                let truth = fx::field_after(&g.px, gname).and_then(fx::parse_num);
                k.ok(c, truth.is_some(), || format!("{at}: oracle: no {gname}"));
                k.eq(c, &format!("{at} {ours}"), our_field(m, ours), truth);
            }
            // gdb shows the 32-bit lock word; the tool reports its lock byte
            // (`mutex_lockw`, offset 15 on x86), which the program recorded.
            k.eq(
                c,
                &format!("{at} mutex_lockw"),
                our_field(m, "mutex_lockw"),
                t.f["lock_byte"].as_u64(),
            );
            if let Some(key) = num(&t.f["sysv_key"]) {
                k.eq(c, &format!("{at} SysV key"), hexv(&m["key"]), Some(key));
            }
        }
    }
    assert!(seen > 0, "no foreign-layout lock in the facts");
    k.finish("foreign_layout_locks", 10 * seen);
}

/// A mutex the analysis reports outside the facts must not name an owner that
/// never existed: in these small programs every lock holder is a thread the
/// facts know about.
#[test]
fn no_phantom_owners() {
    let mut k = Check::default();
    for c in all() {
        let f = &c.facts;
        let mut known = fx::scenario_tids(&c.scenario);
        for key in ["owner_tid", "previous_owner_tid"] {
            for m in arr(&f["mutexes"]) {
                if let Some(t) = m[key].as_u64() {
                    known.insert(t as u32);
                }
            }
        }
        for t in arr(&f["exited_threads"]) {
            if let Some(t) = t["tid"].as_u64() {
                known.insert(t as u32);
            }
        }
        let facts_addrs: BTreeSet<u64> = arr(&f["mutexes"])
            .iter()
            .filter_map(|m| num(&m["address"]))
            .collect();
        for m in arr(&c.analysis["mutexes"]) {
            let addr = hexv(&m["address"]).unwrap_or(0);
            if facts_addrs.contains(&addr) {
                continue;
            }
            let held = matches!(
                m["state"].as_str(),
                Some("locked" | "contended" | "inconsistent" | "owner-died")
            );
            if let (true, Some(o)) = (held, m["owner"]["tid"].as_u64()) {
                k.ok(c, known.contains(&(o as u32)), || {
                    format!(
                        "mutex {addr:#x} ({}, found by {}) is {} by thread {o}, which never existed; fields {}",
                        m["location"], m["found_by"], m["state"], m["fields"]
                    )
                });
            } else {
                k.n += 1;
            }
        }
    }
    k.finish("no_phantom_owners", 0);
}
