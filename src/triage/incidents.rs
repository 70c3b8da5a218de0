//! Incidents: cores of different processes that shared a mutex when they died.
//!
//! Core A names core B when a mutex of A is owned by a thread that is not A's and
//! that thread is one of B's (its TID is among B's threads, or is B's PID), and:
//! - the mutex's segment is mapped by B too (same SysV key, or same shm/memfd/file
//!   path); a mutex in a segment with no identity (anonymous shared memory) needs a
//!   parent–child relation between the two processes instead;
//! - the cores are compatible in time and place: when both know them, the same boot
//!   id, the same host, and timestamps at most [`WINDOW_SECS`] apart.
//!
//! A PID reused by an unrelated process fails these tests (another segment, another
//! boot, another time). When several cores still qualify, the nearest in time is
//! taken; when they cannot be told apart, none is (the record says so).

use std::collections::{BTreeMap, BTreeSet};

use super::model::{CoreRecord, Correlation, Incident};

/// Cores further apart in time than this are never one incident.
pub const WINDOW_SECS: i64 = 3600;

fn compatible(a: &Correlation, b: &Correlation) -> bool {
    let same = |x: &Option<String>, y: &Option<String>| match (x, y) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    same(&a.boot_id, &b.boot_id)
        && same(&a.hostname, &b.hostname)
        && match (a.time, b.time) {
            (Some(x), Some(y)) => (x - y).abs() <= WINDOW_SECS,
            _ => true,
        }
}

struct Link {
    a: usize,
    b: usize,
    mutex: String,
    why: String,
}

/// Link the records into incidents: fills each record's `peers` (and its findings'
/// `owner_core`) and returns the incidents, sorted by their first core.
pub fn link(records: &mut [CoreRecord]) -> Vec<Incident> {
    let mut links = Vec::new();
    // Who could own what: TID → records having that thread (or PID).
    let mut by_tid: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        if let Some(c) = &r.correlation {
            let mut tids: BTreeSet<u32> = c.tids.iter().copied().collect();
            tids.extend(r.pid);
            for t in tids {
                by_tid.entry(t).or_default().push(i);
            }
        }
    }
    for (a, ra) in records.iter().enumerate() {
        let Some(ca) = &ra.correlation else { continue };
        for fo in &ca.foreign_owners {
            let cands: Vec<usize> = by_tid
                .get(&fo.tid)
                .into_iter()
                .flatten()
                .copied()
                .filter(|&b| b != a)
                .filter(|&b| {
                    let rb = &records[b];
                    let Some(cb) = &rb.correlation else {
                        return false;
                    };
                    if !compatible(ca, cb) {
                        return false;
                    }
                    if fo.segment.is_empty() {
                        // No identity: parent and child.
                        (ca.ppid.is_some() && ca.ppid == rb.pid)
                            || (cb.ppid.is_some() && cb.ppid == ra.pid)
                    } else {
                        fo.segment.iter().any(|s| cb.segments.contains(s))
                    }
                })
                .collect();
            let chosen = match cands.as_slice() {
                [] => None,
                [b] => Some(*b),
                many => {
                    // Several processes had that TID: prefer the same boot (both
                    // known), then the same directory or archive, then the nearest
                    // in time; a tie links nothing.
                    let score = |b: usize| {
                        let rb = &records[b];
                        let cb = rb.correlation.as_ref();
                        let boot = match (&ca.boot_id, cb.and_then(|c| c.boot_id.as_ref())) {
                            (Some(x), Some(y)) if x == y => 0,
                            _ => 1,
                        };
                        let group = u8::from(cb.is_none_or(|c| c.group != ca.group));
                        let dist = match (ca.time, cb.and_then(|c| c.time)) {
                            (Some(x), Some(y)) => (x - y).abs(),
                            _ => i64::MAX,
                        };
                        (boot, group, dist)
                    };
                    let mut d: Vec<((u8, u8, i64), usize)> =
                        many.iter().map(|&b| (score(b), b)).collect();
                    d.sort();
                    match d.as_slice() {
                        [(x, b), (y, _), ..] if x < y => Some(*b),
                        _ => None,
                    }
                }
            };
            let Some(b) = chosen else { continue };
            let rb = &records[b];
            let place = if fo.segment.is_empty() {
                "anonymous shared memory of a parent and its child".to_string()
            } else {
                let common: Vec<&str> = fo
                    .segment
                    .iter()
                    .filter(|s| {
                        rb.correlation
                            .as_ref()
                            .is_some_and(|c| c.segments.contains(s))
                    })
                    .map(String::as_str)
                    .collect();
                format!("both map {}", common.join(", "))
            };
            links.push(Link {
                a,
                b,
                mutex: fo.mutex.clone(),
                why: format!(
                    "mutex {} in {} is owned by TID {}, a thread of process {} whose core is {}; {}",
                    fo.mutex,
                    ra.id,
                    fo.tid,
                    rb.pid.map_or_else(|| "?".to_string(), |p| p.to_string()),
                    rb.id,
                    place
                ),
            });
        }
    }

    // Union-find over linked records.
    let mut parent: Vec<usize> = (0..records.len()).collect();
    fn find(p: &mut [usize], x: usize) -> usize {
        let mut r = x;
        while p[r] != r {
            r = p[r];
        }
        let mut x = x;
        while p[x] != r {
            let n = p[x];
            p[x] = r;
            x = n;
        }
        r
    }
    for l in &links {
        let (x, y) = (find(&mut parent, l.a), find(&mut parent, l.b));
        if x != y {
            parent[x.max(y)] = x.min(y);
        }
    }
    // Per incident: its cores, its mutexes, why.
    type Group = (BTreeSet<usize>, Vec<String>, Vec<String>);
    let mut groups: BTreeMap<usize, Group> = BTreeMap::new();
    for l in &links {
        let root = find(&mut parent, l.a);
        let g = groups.entry(root).or_default();
        g.0.insert(l.a);
        g.0.insert(l.b);
        if !g.1.contains(&l.mutex) {
            g.1.push(l.mutex.clone());
        }
        g.2.push(l.why.clone());
    }
    for l in &links {
        let bid = records[l.b].id.clone();
        let aid = records[l.a].id.clone();
        let ra = &mut records[l.a];
        if !ra.peers.contains(&bid) {
            ra.peers.push(bid.clone());
        }
        for f in &mut ra.findings {
            if f.mutexes.contains(&l.mutex) && f.owner_core.is_none() {
                f.owner_core = Some(bid.clone());
            }
        }
        let rb = &mut records[l.b];
        if !rb.peers.contains(&aid) {
            rb.peers.push(aid);
        }
    }
    for r in records.iter_mut() {
        r.peers.sort();
    }
    let mut out: Vec<Incident> = groups
        .into_values()
        .map(|(members, mutexes, why)| {
            let mut cores: Vec<String> = members.iter().map(|&i| records[i].id.clone()).collect();
            cores.sort();
            Incident {
                cores,
                mutexes,
                why: why.join("; "),
            }
        })
        .collect();
    out.sort_by(|x, y| x.cores.cmp(&y.cores));
    out
}
