//! One function per finding code. Each looks at the facts and returns findings with
//! their evidence; none prints or fails.

use std::collections::{BTreeSet, HashMap};

use super::evidence::{Evidence, Held, OwnerId, Pointer};
use super::findings::Code;
use super::message::{Message, MutexName};
use super::{Facts, Mutex, mapping_index};
use crate::coredump::{Os, signals};
use crate::mappings::{Mapping, MappingKind};
use crate::memory::Presence;
use crate::mutex::owner::PointerClass;
use crate::mutex::{LockState, MutexType};
use crate::report::Hex;
use crate::report::model::FindingModel;
use crate::report::model::OwnerClass;

/// One rule: the codes it can give and the function that looks for them in the facts.
/// Rules do not look at each other's findings; precedence between root causes is
/// [`merge_root_causes`]'s job.
pub(crate) struct Rule {
    pub codes: &'static [Code],
    pub run: fn(&Facts<'_, '_>, &mut Vec<Finding>),
}

/// Every rule, in the order their findings are listed (then sorted by severity).
pub(crate) static RULES: &[Rule] = &[
    Rule {
        codes: &[Code::OwnerDerefCrash],
        run: owner_deref_crash,
    },
    Rule {
        codes: &[
            Code::CrossProcessPrivateMutex,
            Code::PrivateMutexInSharedMemory,
        ],
        run: cross_process_private,
    },
    Rule {
        codes: &[Code::PrivateFutexOnSharedMemory],
        run: private_futex_on_shared_memory,
    },
    Rule {
        codes: &[Code::AbandonedLock],
        run: abandoned_lock,
    },
    Rule {
        codes: &[Code::OwnerDied],
        run: owner_died,
    },
    Rule {
        codes: &[Code::SelfDeadlock],
        run: self_deadlock,
    },
    Rule {
        codes: &[Code::DeadlockCycle],
        run: deadlock_cycle,
    },
    Rule {
        codes: &[Code::CorruptMutex],
        run: corrupt_mutex,
    },
    Rule {
        codes: &[Code::SegmentNotDumped],
        run: segment_not_dumped,
    },
    Rule {
        codes: &[Code::BinaryMismatch],
        run: binary_mismatch_rule,
    },
    Rule {
        codes: &[Code::MutexAssertion],
        run: mutex_assertion_rule,
    },
];

/// One root cause, one verdict: `(winner, loser, why)` — a `loser` finding is
/// dropped when a `winner` finding names the same mutex. Decided over the findings
/// the rules gave, all at once (so the result does not depend on rule order).
pub(crate) const ABSORBS: &[(Code, Code, &str)] = &[
    (
        Code::OwnerDerefCrash,
        Code::CrossProcessPrivateMutex,
        "the crash the foreign owner pointer caused is the verdict for that mutex",
    ),
    (
        Code::OwnerDerefCrash,
        Code::PrivateMutexInSharedMemory,
        "the crash the foreign owner pointer caused is the verdict for that mutex",
    ),
    (
        Code::CrossProcessPrivateMutex,
        Code::PrivateFutexOnSharedMemory,
        "the waiter's private futex wait is part of the cross-process finding",
    ),
];

/// Runs every rule, merges root causes, sorts by severity (stable).
pub(crate) fn run(f: &Facts<'_, '_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in RULES {
        let from = out.len();
        (r.run)(f, &mut out);
        debug_assert!(
            out[from..].iter().all(|x| r.codes.contains(&x.code)),
            "a rule gave a code it does not declare"
        );
    }
    let mut out = merge_root_causes(out);
    out.sort_by_key(|x| x.code.severity());
    out
}

/// Applies [`ABSORBS`] to the rules' findings.
pub(crate) fn merge_root_causes(found: Vec<Finding>) -> Vec<Finding> {
    let winners: Vec<(Code, u64)> = found
        .iter()
        .flat_map(|x| x.mutexes.iter().map(move |m| (x.code, *m)))
        .collect();
    let absorbed = |x: &Finding| {
        !x.mutexes.is_empty()
            && x.mutexes.iter().all(|m| {
                ABSORBS.iter().any(|(win, lose, _)| {
                    *lose == x.code && winners.iter().any(|(c, a)| c == win && a == m)
                })
            })
    };
    let keep: Vec<bool> = found.iter().map(|x| !absorbed(x)).collect();
    found
        .into_iter()
        .zip(keep)
        .filter_map(|(x, k)| k.then_some(x))
        .collect()
}

fn binary_mismatch_rule(f: &Facts<'_, '_>, out: &mut Vec<Finding>) {
    if let (Some(mods), Some(bin)) = (f.modules, f.binary) {
        out.extend(binary_mismatch(mods, bin));
    }
}

fn mutex_assertion_rule(f: &Facts<'_, '_>, out: &mut Vec<Finding>) {
    if let (Some(mods), Some(msg)) = (f.modules, f.abort) {
        let ma = crate::symbols::abort_msg::mutex_assertion(f.core, f.space, mods, msg);
        out.extend(mutex_assertion(f, msg, ma.as_ref()));
    }
}

/// A finding as the rules give it: its evidence as typed values, rendered to
/// sentences when the report is built ([`Finding::model`]).
#[derive(Clone, Debug)]
pub(crate) struct Finding {
    pub code: Code,
    pub mutexes: Vec<u64>,
    pub threads: Vec<u32>,
    /// One-line verdict, rendered by `Display` when the report is built.
    pub message: Message,
    pub evidence: Vec<Evidence>,
    /// A layout that is not Solaris's but stores a thread pointer as its owner
    /// (owner-deref-crash): its name, said before the code's fix.
    pub owner_pointer_layout: Option<String>,
}

impl Finding {
    /// The report's finding: code metadata and evidence sentences.
    pub fn model(&self) -> FindingModel {
        let c = self.code;
        FindingModel {
            code: c,
            severity: c.severity(),
            title: c.title().to_string(),
            mutexes: self.mutexes.iter().copied().map(Hex).collect(),
            threads: self.threads.clone(),
            message: self.message.to_string(),
            evidence: self.evidence.iter().map(Evidence::to_string).collect(),
            explanation: c.explanation().to_string(),
            fix: match &self.owner_pointer_layout {
                Some(l) => format!("{l} stores a thread pointer as its owner: {}", c.fix()),
                None => c.fix().to_string(),
            },
        }
    }
}

fn finding(
    c: Code,
    mutexes: Vec<u64>,
    threads: Vec<u32>,
    message: Message,
    evidence: Vec<Evidence>,
) -> Finding {
    Finding {
        code: c,
        mutexes,
        threads,
        message,
        evidence,
        owner_pointer_layout: None,
    }
}

/// The owner and state of a mutex can be believed: its type field is valid (an
/// invalid `__kind` means the other fields are read through the wrong encoding).
fn owner_reliable(m: &Mutex) -> bool {
    m.decoded
        .as_ref()
        .is_some_and(|d| d.mtype != MutexType::Unknown || d.state == LockState::Destroyed)
}

fn mapping<'a>(f: &'a Facts<'_, '_>, m: &Mutex) -> Option<&'a Mapping> {
    m.mapping.map(|i| &f.maps[i])
}

fn name(m: &Mutex) -> String {
    mutex_name(m).to_string()
}

fn mutex_name(m: &Mutex) -> MutexName {
    MutexName {
        symbol: m.candidate.symbol.clone(),
        address: m.address,
    }
}

/// The futex waits on a mutex: (tid, op, private).
fn waits(f: &Facts<'_, '_>, m: &Mutex) -> Vec<(u32, String, bool)> {
    m.waiters
        .iter()
        .filter_map(|t| {
            let th = f.core.thread(*t)?;
            let fu = th.futex.as_ref()?;
            Some((*t, fu.op.clone(), fu.private))
        })
        .collect()
}

fn private_mutex_in_shared(f: &Facts<'_, '_>, m: &Mutex) -> bool {
    let Some(d) = &m.decoded else { return false };
    m.confirmed
        && !d.pshared
        && d.state != LockState::Destroyed
        && (mapping(f, m).is_some_and(|x| x.shared) || solaris_inferred_shared(f, m))
}

/// A Solaris core names no mapping and flags none as shared: a mapping holding a
/// mutex whose owner pointer is not mapped in this process must be shared with the
/// process that locked it (ulwp_t blocks are never unmapped).
fn solaris_inferred_shared(f: &Facts<'_, '_>, m: &Mutex) -> bool {
    f.core.os == Os::Solaris
        && m.owner_pointer
            .as_ref()
            .is_some_and(|o| o.class == PointerClass::ForeignUnmapped)
}

/// Mutexes that get a cross-process-private-mutex verdict (used to fold the
/// private-futex finding into it).
fn cross_process_evidence(f: &Facts<'_, '_>, m: &Mutex) -> Option<Vec<Evidence>> {
    if !private_mutex_in_shared(f, m) {
        return None;
    }
    let d = m.decoded.as_ref()?;
    let mut ev = Vec::new();
    if m.owner.class() == OwnerClass::Foreign {
        ev.push(Evidence::ForeignOwner {
            owner: match (d.owner_tid, d.owner_pointer) {
                (None, Some(p)) => OwnerId::Pointer(p),
                (Some(t), _) => OwnerId::Tid(t),
                (None, None) => OwnerId::Unknown,
            },
            who: m.owner.clone(),
        });
    }
    let w = waits(f, m);
    if !w.is_empty() && m.owner.class() != OwnerClass::OwnThread {
        for (t, op, private) in &w {
            ev.push(Evidence::SleepsUnheld {
                tid: *t,
                op: op.clone(),
                private: *private,
                unlocked: d.state == LockState::Unlocked,
            });
        }
    }
    (!ev.is_empty()).then_some(ev)
}

fn mutex_facts(m: &Mutex) -> Vec<Evidence> {
    let mut ev = Vec::new();
    if let Some(d) = &m.decoded {
        ev.push(Evidence::Mutex {
            layout: d.layout.clone(),
            address: m.address,
            location: m.location.clone(),
            mtype: d.mtype,
            pshared: d.pshared,
            state: d.state,
            kind: d.field("__kind").or_else(|| d.field("_m_type")),
        });
    }
    ev
}

/// How far past an owner pointer a fault still counts as a read of the owner's
/// thread block (a Solaris `ulwp_t` and glibc's `struct pthread` header are
/// smaller than a page).
pub(crate) const THREAD_BLOCK_SPAN: u64 = 0x1000;

/// The crash a mutex's foreign owner pointer explains: (crashed thread, fault
/// address, offset past the pointer, evidence).
fn deref_crash(f: &Facts<'_, '_>, m: &Mutex) -> Option<(u32, u64, u64, Vec<Evidence>)> {
    let d = m.decoded.as_ref()?;
    let op = m.owner_pointer.as_ref()?;
    if !op.class.is_foreign() {
        return None;
    }
    let sig = f.core.signal()?;
    let fault = sig.addr?;
    let sname = signals::signal_name(f.core.os, f.core.arch, sig.signo)?;
    if !matches!(sname, "SIGSEGV" | "SIGBUS") {
        return None;
    }
    let p = op.pointer;
    let off = fault.checked_sub(p)?;
    if off >= THREAD_BLOCK_SPAN {
        return None;
    }
    let t = f.core.crashed_thread()?;
    let isa = d.family.solaris_isa();
    let schedctl = d.family.owner_block_read_offset();
    let exact = schedctl == Some(off);
    let holds_owner: Vec<&str> = t
        .registers()
        .filter(|(_, v)| *v == p)
        .map(|(n, _)| n)
        .collect();
    let holds_mutex: Vec<&str> = t
        .registers()
        .filter(|(_, v)| *v >= m.address && *v < m.address + 64)
        .map(|(n, _)| n)
        .collect();
    // The crashing thread must be tied to this mutex: the documented offset, or a
    // register holding the owner pointer or the mutex's address.
    let holds_fault = t.registers().any(|(_, v)| v == fault);
    if !exact && holds_owner.is_empty() && holds_mutex.is_empty() && !holds_fault {
        return None;
    }
    let mut ev = mutex_facts(m);
    ev.push(Evidence::Fault {
        tid: t.tid,
        signal: sname,
        code: signals::code_name(f.core.os, sname, sig.code),
        fault,
        pointer: p,
        offset: off,
    });
    ev.push(Evidence::OwnerPointer {
        pointer: p,
        who: m.owner.clone(),
    });
    let tps: Vec<(u32, u64)> = f
        .core
        .threads
        .iter()
        .filter_map(|t| Some((t.tid, t.thread_pointer?)))
        .collect();
    if !tps.is_empty() {
        ev.push(Evidence::ThreadPointers(tps));
    }
    if let (true, Some(isa)) = (exact, isa) {
        ev.push(Evidence::SchedctlLoad { offset: off, isa });
    } else if let Some(schedctl) = schedctl {
        ev.push(Evidence::InsideThreadBlock {
            offset: off,
            schedctl,
        });
    }
    if !holds_owner.is_empty() {
        ev.push(Evidence::Registers {
            names: holds_owner.clone(),
            tid: t.tid,
            held: Held::OwnerPointer(p),
        });
    }
    let holds_fault: Vec<&str> = t
        .registers()
        .filter(|(_, v)| *v == fault && fault != p)
        .map(|(n, _)| n)
        .collect();
    if !holds_fault.is_empty() {
        ev.push(Evidence::Registers {
            names: holds_fault,
            tid: t.tid,
            held: Held::FaultAddress { offset: off },
        });
    }
    if !holds_mutex.is_empty() {
        ev.push(Evidence::Registers {
            names: holds_mutex.clone(),
            tid: t.tid,
            held: Held::Mutex,
        });
    }
    // x86 page-fault error code, when the core has it (Solaris amd64 pr_reg).
    if t.reg("trapno") == Some(14)
        && let Some(err) = t.reg("err")
    {
        ev.push(Evidence::PageFault { error: err });
    }
    if f.core.os == Os::Solaris {
        ev.push(Evidence::SolarisSharedByInference {
            location: m.location.clone(),
        });
        if d.waiters_flag {
            for w in &f.core.threads {
                if w.syscall
                    .as_ref()
                    .is_some_and(|s| s.name == Some("lwp_park"))
                {
                    ev.push(Evidence::ParkedWaiter { tid: w.tid });
                }
            }
        }
    }
    Some((t.tid, fault, off, ev))
}

/// owner-deref-crash: the fault address is a foreign owner pointer (or just past
/// it) of a mutex, and the crashed thread was reading it.
fn owner_deref_crash(f: &Facts<'_, '_>, out: &mut Vec<Finding>) {
    for m in f.mutexes {
        let Some((tid, fault, off, evidence)) = deref_crash(f, m) else {
            continue;
        };
        let p = m.owner_pointer.as_ref().map_or(0, |o| o.pointer);
        let mut threads = vec![tid];
        if f.core.os == Os::Solaris {
            threads.extend(
                f.core
                    .threads
                    .iter()
                    .filter(|w| {
                        w.syscall
                            .as_ref()
                            .is_some_and(|s| s.name == Some("lwp_park"))
                    })
                    .map(|w| w.tid),
            );
        }
        let mut fnd = finding(
            Code::OwnerDerefCrash,
            vec![m.address],
            threads,
            Message::OwnerDerefCrash {
                tid,
                fault,
                pointer: p,
                offset: off,
                mutex: mutex_name(m),
                location: m.location.clone(),
            },
            evidence,
        );
        fnd.owner_pointer_layout = m
            .decoded
            .as_ref()
            .filter(|d| !d.family.is_solaris())
            .map(|d| d.layout.clone());
        out.push(fnd);
    }
}

fn cross_process_private(f: &Facts<'_, '_>, out: &mut Vec<Finding>) {
    for m in f.mutexes {
        if !private_mutex_in_shared(f, m) {
            continue;
        }
        let map = mapping(f, m);
        let place = map.map(Mapping::place);
        match cross_process_evidence(f, m) {
            Some(ev) => {
                let mut evidence = mutex_facts(m);
                evidence.extend(ev);
                let owner = m.decoded.as_ref().and_then(|d| d.owner_tid);
                let mut threads: Vec<u32> = m.waiters.clone();
                threads.extend(owner.filter(|t| f.core.thread(*t).is_some()));
                let msg = Message::CrossProcessPrivate {
                    mutex: mutex_name(m),
                    place,
                    foreign_owner: owner.filter(|_| m.owner.class() == OwnerClass::Foreign),
                    waiters: m.waiters.clone(),
                };
                out.push(finding(
                    Code::CrossProcessPrivateMutex,
                    vec![m.address],
                    threads,
                    msg,
                    evidence,
                ));
            }
            None => {
                let mut evidence = mutex_facts(m);
                if let Some(d) = &m.decoded
                    && d.waiters_flag
                    && m.waiters.is_empty()
                {
                    evidence.push(Evidence::WaitersElsewhere);
                }
                out.push(finding(
                    Code::PrivateMutexInSharedMemory,
                    vec![m.address],
                    m.waiters.clone(),
                    Message::PrivateInShared {
                        mutex: mutex_name(m),
                        place,
                    },
                    evidence,
                ));
            }
        }
    }
}

fn private_futex_on_shared_memory(f: &Facts<'_, '_>, out: &mut Vec<Finding>) {
    let futex_off = f.layout.map_or(0, |l| l.futex_offset());
    for t in &f.core.threads {
        let Some(fu) = &t.futex else { continue };
        if !(fu.waits && fu.private) {
            continue;
        }
        let Some(mi) = mapping_index(f.maps, fu.address) else {
            continue;
        };
        let map = &f.maps[mi];
        if !map.shared {
            continue;
        }
        // Folded into the mutex's cross-process finding when there is one
        // (merge_root_causes).
        let m = fu
            .address
            .checked_sub(futex_off)
            .and_then(|a| f.mutex_at(a));
        let mut evidence = vec![
            Evidence::PrivateFutexCall {
                tid: t.tid,
                address: fu.address,
                op: fu.op.clone(),
                value: fu.value,
            },
            Evidence::LiesIn {
                address: fu.address,
                mapping: map.describe(),
                start: map.start,
                end: map.end,
                perms: map.perms.clone(),
                dumped: map.dumped,
            },
        ];
        if let Some(m) = m
            && let Some(d) = &m.decoded
        {
            evidence.extend(mutex_facts(m));
            if d.state == LockState::Unlocked {
                evidence.push(Evidence::LostWakeup);
            }
        } else if fu.value == 2 && fu.op == "FUTEX_WAIT" {
            evidence.push(Evidence::GlibcLockWait);
        }
        out.push(finding(
            Code::PrivateFutexOnSharedMemory,
            m.map(|m| vec![m.address]).unwrap_or_default(),
            vec![t.tid],
            Message::PrivateFutexOnShared {
                tid: t.tid,
                futex: fu.address,
                place: map.place(),
            },
            evidence,
        ));
    }
}

fn abandoned_lock(f: &Facts<'_, '_>, out: &mut Vec<Finding>) {
    for m in f.mutexes {
        let Some(d) = &m.decoded else { continue };
        if !m.confirmed
            || !owner_reliable(m)
            || !d.state.is_held()
            || m.owner.class() != OwnerClass::Foreign
        {
            continue;
        }
        let Some(map) = mapping(f, m) else { continue };
        if map.shared || solaris_inferred_shared(f, m) {
            continue;
        }
        let owner_id = match (d.owner_tid, m.owner_pointer.as_ref()) {
            (None, Some(op)) => OwnerId::Pointer(op.pointer),
            (t, _) => OwnerId::Tid(t.unwrap_or(0)),
        };
        let mut evidence = mutex_facts(m);
        evidence.push(Evidence::OwnerNotAmong {
            owner: owner_id,
            threads: f.core.threads.iter().map(|t| t.tid).collect(),
        });
        evidence.push(Evidence::Unreachable {
            location: m.location.clone(),
        });
        if !m.waiters.is_empty() {
            evidence.push(Evidence::BlockedForever(m.waiters.clone()));
        }
        out.push(finding(
            Code::AbandonedLock,
            vec![m.address],
            m.waiters.clone(),
            Message::Abandoned {
                mutex: mutex_name(m),
                location: m.location.clone(),
                owner: owner_id,
                waiters: m.waiters.clone(),
            },
            evidence,
        ));
    }
}

fn owner_died(f: &Facts<'_, '_>, out: &mut Vec<Finding>) {
    for m in f.mutexes {
        let Some(d) = &m.decoded else { continue };
        if !m.confirmed || !owner_reliable(m) {
            continue;
        }
        if !matches!(
            d.state,
            LockState::OwnerDied | LockState::Inconsistent | LockState::NotRecoverable
        ) {
            continue;
        }
        let mut evidence = mutex_facts(m);
        evidence.extend(
            d.fields
                .iter()
                .map(|&(name, value)| Evidence::Field { name, value }),
        );
        out.push(finding(
            Code::OwnerDied,
            vec![m.address],
            m.waiters.clone(),
            Message::OwnerDied {
                mutex: mutex_name(m),
                location: m.location.clone(),
                state: d.state,
                owner_tid: d.owner_tid,
            },
            evidence,
        ));
    }
}

fn self_deadlock(f: &Facts<'_, '_>, out: &mut Vec<Finding>) {
    for m in f.mutexes {
        let Some(d) = &m.decoded else { continue };
        let Some(owner) = d.owner_tid else { continue };
        if !owner_reliable(m)
            || !d.state.is_held()
            || !m.waiters.contains(&owner)
            || d.mtype == MutexType::Recursive
        {
            continue;
        }
        let mut evidence = mutex_facts(m);
        evidence.push(Evidence::OwnsAndWaits { tid: owner });
        out.push(finding(
            Code::SelfDeadlock,
            vec![m.address],
            vec![owner],
            Message::SelfDeadlock {
                tid: owner,
                mutex: mutex_name(m),
            },
            evidence,
        ));
    }
}

fn deadlock_cycle(f: &Facts<'_, '_>, out: &mut Vec<Finding>) {
    // thread → the mutex it waits for → that mutex's owner (a thread here).
    let mut waits_for: HashMap<u32, &Mutex> = HashMap::new();
    for m in f.mutexes {
        for t in &m.waiters {
            waits_for.insert(*t, m);
        }
    }
    let owner_of = |m: &Mutex| -> Option<u32> {
        if !owner_reliable(m) {
            return None;
        }
        let d = m.decoded.as_ref()?;
        if !d.state.is_held() {
            return None;
        }
        d.owner_tid.filter(|t| f.core.thread(*t).is_some())
    };
    let mut reported: BTreeSet<Vec<u32>> = BTreeSet::new();
    for start in f.core.threads.iter().map(|t| t.tid) {
        let mut path: Vec<u32> = Vec::new();
        let mut cur = start;
        loop {
            if let Some(pos) = path.iter().position(|&t| t == cur) {
                let cycle = path[pos..].to_vec();
                if cycle.len() >= 2 {
                    let mut key = cycle.clone();
                    key.sort_unstable();
                    if reported.insert(key) {
                        report_cycle(&cycle, &waits_for, out);
                    }
                }
                break;
            }
            path.push(cur);
            let Some(m) = waits_for.get(&cur) else { break };
            let Some(next) = owner_of(m) else { break };
            cur = next;
            if path.len() > f.core.threads.len() + 1 {
                break;
            }
        }
    }
}

fn report_cycle(cycle: &[u32], waits_for: &HashMap<u32, &Mutex>, out: &mut Vec<Finding>) {
    let mut evidence = Vec::new();
    let mut mutexes = Vec::new();
    for (i, t) in cycle.iter().enumerate() {
        let next = cycle[(i + 1) % cycle.len()];
        if let Some(m) = waits_for.get(t) {
            mutexes.push(m.address);
            evidence.push(Evidence::WaitsFor {
                tid: *t,
                mutex: name(m),
                holder: next,
            });
        }
    }
    let chain: Vec<(u32, Option<MutexName>)> = cycle
        .iter()
        .map(|t| (*t, waits_for.get(t).map(|m| mutex_name(m))))
        .collect();
    out.push(finding(
        Code::DeadlockCycle,
        mutexes,
        cycle.to_vec(),
        Message::DeadlockCycle { cycle: chain },
        evidence,
    ));
}

fn corrupt_mutex(f: &Facts<'_, '_>, out: &mut Vec<Finding>) {
    for m in f.mutexes {
        let Some(d) = &m.decoded else { continue };
        if d.anomalies.is_empty() {
            continue;
        }
        // Without type information a futex word might belong to another kind of
        // lock (stdio, malloc): only report what is known to be a mutex.
        if !(m.candidate.typed || (!m.waiters.is_empty() && d.state.is_held())) {
            continue;
        }
        let mut evidence = vec![Evidence::MutexAt {
            layout: d.layout.clone(),
            address: m.address,
            location: m.location.clone(),
        }];
        evidence.extend(d.anomalies.iter().cloned().map(Evidence::Anomaly));
        evidence.push(Evidence::Fields(d.fields.clone()));
        out.push(finding(
            Code::CorruptMutex,
            vec![m.address],
            m.waiters.clone(),
            Message::Corrupt {
                mutex: mutex_name(m),
                anomalies: d.anomalies.clone(),
            },
            evidence,
        ));
    }
}

/// The coredump_filter bit that would have kept a mapping's contents.
fn filter_bit(m: &Mapping) -> &'static str {
    match m.kind {
        MappingKind::SysvShm | MappingKind::AnonShared | MappingKind::Memfd => {
            "bit 1 (0x2, MMF_DUMP_ANON_SHARED)"
        }
        MappingKind::PosixShm | MappingKind::FileShared if m.deleted => {
            "bit 1 (0x2, MMF_DUMP_ANON_SHARED)"
        }
        MappingKind::PosixShm | MappingKind::FileShared => "bit 3 (0x8, MMF_DUMP_MAPPED_SHARED)",
        MappingKind::File => "bit 2 (0x4, MMF_DUMP_MAPPED_PRIVATE)",
        MappingKind::Hugetlb => "bit 5 or 6 (0x20/0x40, MMF_DUMP_HUGETLB_PRIVATE/SHARED)",
        _ => {
            "bit 0 (0x1, MMF_DUMP_ANON_PRIVATE) — but a private anonymous mapping that was never written has no contents to dump"
        }
    }
}

fn segment_not_dumped(f: &Facts<'_, '_>, out: &mut Vec<Finding>) {
    // (address, what points there, threads)
    let mut points: Vec<(u64, Pointer, Vec<u32>)> = Vec::new();
    for t in &f.core.threads {
        if let Some(fu) = &t.futex
            && fu.waits
        {
            points.push((fu.address, Pointer::FutexWord { tid: t.tid }, vec![t.tid]));
        }
    }
    for m in f.mutexes {
        if m.candidate.typed {
            points.push((
                m.address,
                Pointer::Mutex { name: name(m) },
                m.waiters.clone(),
            ));
        }
    }
    /// Per mapping: what points there, the threads involved, the addresses.
    type Pointers = (Vec<Evidence>, Vec<u32>, Vec<u64>);
    let mut by_map: HashMap<usize, Pointers> = HashMap::new();
    let space = f.space;
    for (addr, what, threads) in points {
        if space.presence(addr) != Presence::NotDumped {
            continue;
        }
        let Some(mi) = mapping_index(f.maps, addr) else {
            continue;
        };
        let e = by_map.entry(mi).or_default();
        e.0.push(Evidence::PointsInto {
            what,
            address: addr,
        });
        e.1.extend(threads);
        e.2.push(addr);
    }
    let mut keys: Vec<usize> = by_map.keys().copied().collect();
    keys.sort_unstable();
    for mi in keys {
        let (whats, mut threads, addrs) = by_map.remove(&mi).unwrap_or_default();
        threads.sort_unstable();
        threads.dedup();
        let map = &f.maps[mi];
        let pointers = whats.clone();
        let mut evidence = whats;
        evidence.push(Evidence::NotInCore {
            mapping: map.describe(),
            start: map.start,
            end: map.end,
            perms: map.perms.clone(),
        });
        evidence.push(Evidence::FilterBit(filter_bit(map)));
        let mutexes: Vec<u64> = addrs
            .iter()
            .filter_map(|a| {
                let off = f.layout.map_or(0, |l| l.futex_offset());
                a.checked_sub(off)
                    .and_then(|x| f.mutex_at(x))
                    .map(|m| m.address)
            })
            .collect();
        out.push(finding(
            Code::SegmentNotDumped,
            mutexes,
            threads,
            Message::SegmentNotDumped {
                pointers,
                place: map.place(),
                filter_bit: filter_bit(map),
            },
            evidence,
        ));
    }
}

/// `--binary` given, and its build-id is not the one the core recorded for the
/// executable (or it is another file altogether).
fn binary_mismatch(mods: &crate::symbols::Modules, binary: &std::path::Path) -> Option<Finding> {
    use crate::symbols::BuildIdStatus;
    let exe = mods.executable()?;
    if exe.status != BuildIdStatus::Mismatch || exe.file.as_deref() != Some(binary) {
        return None;
    }
    let hex = |b: &Option<Vec<u8>>| {
        b.as_ref().map_or_else(
            || "none".to_string(),
            |v| v.iter().map(|x| format!("{x:02x}")).collect(),
        )
    };
    let evidence = vec![
        Evidence::CoreBuildId {
            executable: exe.name.clone(),
            build_id: hex(&exe.core_build_id),
        },
        Evidence::BinaryBuildId {
            binary: binary.display().to_string(),
            build_id: hex(&exe.file_build_id),
        },
        Evidence::BinaryNotUsed,
    ];
    Some(finding(
        Code::BinaryMismatch,
        Vec::new(),
        Vec::new(),
        Message::BinaryMismatch {
            binary: binary.display().to_string(),
            executable: exe.name.clone(),
        },
        evidence,
    ))
}

/// `mutex-assertion`: glibc's abort message is one of its mutex assertions. Tied to
/// the mutex when the asserting frame's `mutex` argument is recoverable from DWARF;
/// otherwise, when exactly one process-private mutex in shared memory is in the
/// core, to that one (said so in the evidence).
fn mutex_assertion(
    f: &Facts<'_, '_>,
    msg: &crate::symbols::abort_msg::AbortMessage,
    ma: Option<&crate::symbols::abort_msg::MutexAssertion>,
) -> Option<Finding> {
    let ma = ma?;
    let a = msg.assertion.as_ref()?;
    let mut evidence = vec![Evidence::AbortMessage {
        address: msg.address,
        text: msg.text.trim_end().to_string(),
    }];
    if let Some(t) = ma.tid {
        evidence.push(Evidence::AssertCaller {
            tid: t,
            function: ma.function.clone(),
        });
    }
    let mut mutexes = Vec::new();
    match ma.mutex {
        Some(addr) => {
            mutexes.push(addr);
            evidence.push(Evidence::MutexArgument {
                address: addr,
                how: ma.how.to_string(),
            });
        }
        None => {
            evidence.push(Evidence::MutexArgumentLost {
                how: ma.how.to_string(),
            });
            let suspects: Vec<&Mutex> = f
                .mutexes
                .iter()
                .filter(|m| private_mutex_in_shared(f, m))
                .collect();
            if let [m] = suspects.as_slice() {
                mutexes.push(m.address);
                evidence.push(Evidence::OnlySuspect { mutex: name(m) });
            }
        }
    }
    let which = mutexes.first().and_then(|a| f.mutex_at(*a)).map(mutex_name);
    Some(finding(
        Code::MutexAssertion,
        mutexes,
        ma.tid.into_iter().collect(),
        Message::MutexAssertion {
            tid: ma.tid,
            expression: a.expression.clone(),
            function: a.function.clone(),
            file: a.file.clone(),
            line: a.line,
            mutex: which,
        },
        evidence,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_exactly_one_rule() {
        for c in Code::ALL {
            let n = RULES.iter().filter(|r| r.codes.contains(c)).count();
            assert_eq!(n, 1, "{c}");
        }
    }

    fn fnd(code: Code, mutexes: &[u64]) -> Finding {
        let message = Message::Corrupt {
            mutex: MutexName {
                symbol: None,
                address: mutexes.first().copied().unwrap_or(0),
            },
            anomalies: Vec::new(),
        };
        finding(code, mutexes.to_vec(), vec![], message, vec![])
    }

    #[test]
    fn root_causes_merge_per_mutex_and_all_at_once() {
        let got = merge_root_causes(vec![
            fnd(Code::OwnerDerefCrash, &[0x10]),
            fnd(Code::CrossProcessPrivateMutex, &[0x10]),
            fnd(Code::PrivateFutexOnSharedMemory, &[0x10]),
            fnd(Code::CrossProcessPrivateMutex, &[0x20]),
            fnd(Code::PrivateFutexOnSharedMemory, &[0x20]),
            fnd(Code::PrivateFutexOnSharedMemory, &[0x30]),
            fnd(Code::PrivateFutexOnSharedMemory, &[]),
            fnd(Code::PrivateMutexInSharedMemory, &[0x40]),
        ]);
        let got: Vec<(Code, Vec<u64>)> = got.into_iter().map(|x| (x.code, x.mutexes)).collect();
        assert_eq!(
            got,
            vec![
                (Code::OwnerDerefCrash, vec![0x10]),
                (Code::CrossProcessPrivateMutex, vec![0x20]),
                (Code::PrivateFutexOnSharedMemory, vec![0x30]),
                (Code::PrivateFutexOnSharedMemory, vec![]),
                (Code::PrivateMutexInSharedMemory, vec![0x40]),
            ]
        );
    }
}
