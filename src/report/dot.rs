//! Graphviz (`--format dot`): a picture of the bug, drawn from the [`Report`] only.
//!
//! - This process is a cluster; its involved threads are nodes in it (the crashed
//!   thread, owners and waiters of drawn mutexes). Threads of *another* process
//!   (foreign owners) are nodes in a cluster of their own.
//! - A mutex is drawn when it is locked, has waiters or is named by a finding; it sits
//!   in a cluster for the mapping (segment) that holds it. Shared segments (SysV, POSIX
//!   shm, memfd, anonymous shared, shared files) are drawn between the processes,
//!   private ones inside this process.
//! - Edges: `thread -> mutex` "waits for" (class `waits-for`) and `mutex -> owner`
//!   "owned by" (class `owns`). Both point along the wait-for relation, so a deadlock
//!   is a directed cycle. Edges and mutexes named by an error finding are red.
//!
//! Every node and edge carries a `class` (Graphviz copies it into SVG), and node ids
//! are stable: `t<TID>`, `m<ADDRESS>`, `seg<START>`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use super::Hex;
use super::model::{MutexModel, OwnerClass, Report, Severity};
use crate::MappingKind;

/// A DOT string literal.
fn q(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn tid_node(t: u32) -> String {
    format!("t{t}")
}

fn pointer_node(p: Hex) -> String {
    format!("p{p}")
}

fn mutex_node(a: Hex) -> String {
    format!("m{a}")
}

/// Mapping kinds another process can map too.
fn shared_kind(kind: MappingKind) -> bool {
    kind.is_shared() || kind == MappingKind::Hugetlb
}

/// The mutexes worth drawing: locked, waited for, or named by a finding.
fn drawn(r: &Report) -> Vec<&MutexModel> {
    let named: BTreeSet<Hex> = r
        .findings
        .iter()
        .flat_map(|f| f.mutexes.iter().copied())
        .collect();
    r.mutexes
        .iter()
        .filter(|m| {
            named.contains(&m.address)
                || !m.waiters.is_empty()
                || m.owner.tid.is_some()
                || m.owner.pointer.is_some()
                || m.state
                    .is_some_and(|s| !matches!(s, crate::mutex::LockState::Unlocked))
        })
        .collect()
}

/// The report as a Graphviz digraph, written to `w`.
pub fn write_report(r: &Report, w: &mut impl Write) -> io::Result<()> {
    let mutexes = drawn(r);
    let own: BTreeSet<u32> = r.threads.iter().map(|t| t.tid).collect();
    let error_mutexes: BTreeSet<Hex> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .flat_map(|f| f.mutexes.iter().copied())
        .collect();
    let error_threads: BTreeSet<u32> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .flat_map(|f| f.threads.iter().copied())
        .collect();

    // Threads to draw: this process's involved ones, and foreign owners.
    let mut involved: BTreeSet<u32> = r
        .threads
        .iter()
        .filter(|t| t.crashed)
        .map(|t| t.tid)
        .collect();
    let mut foreign: BTreeSet<u32> = BTreeSet::new();
    let mut dead: BTreeSet<u32> = BTreeSet::new();
    // Owners known only by a thread pointer (Solaris): in this process or not.
    let mut pointers: BTreeMap<Hex, bool> = BTreeMap::new();
    for m in &mutexes {
        involved.extend(m.waiters.iter().copied().filter(|t| own.contains(t)));
        if let Some(t) = m.owner.tid {
            if own.contains(&t) {
                involved.insert(t);
            } else if m.owner.class == OwnerClass::Dead {
                dead.insert(t);
            } else {
                foreign.insert(t);
            }
        } else if let Some(p) = m.owner.pointer {
            pointers.insert(p, m.owner.class == OwnerClass::OwnThread);
        }
    }
    involved.extend(error_threads.iter().copied().filter(|t| own.contains(t)));

    // Segments of the drawn mutexes, keyed by mapping start.
    let mut segments: BTreeMap<Option<Hex>, Vec<&MutexModel>> = BTreeMap::new();
    for m in &mutexes {
        segments.entry(m.mapping).or_default().push(m);
    }
    let mapping_of = |start: Hex| r.mappings.iter().find(|x| x.start == start);
    let is_shared = |start: Option<Hex>, ms: &[&MutexModel]| {
        start
            .and_then(mapping_of)
            .map(|x| x.shared)
            .or_else(|| ms[0].mapping_kind.map(shared_kind))
            .unwrap_or(false)
    };

    let c = &r.core;
    let exe = c
        .executable
        .as_deref()
        .map(|e| e.rsplit('/').next().unwrap_or(e))
        .unwrap_or("?");
    writeln!(
        w,
        "// mutexdiag --format dot: {}",
        c.path.replace('\n', " ")
    )?;
    writeln!(w, "digraph mutexdiag {{")?;
    writeln!(
        w,
        "  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=11, labelloc=t, labeljust=l, compound=true];"
    )?;
    writeln!(w, "  node [fontname=\"Helvetica\", fontsize=10];")?;
    writeln!(w, "  edge [fontname=\"Helvetica\", fontsize=9];")?;
    let mut title = format!("{}: ", c.path.rsplit('/').next().unwrap_or(&c.path));
    if r.findings.is_empty() {
        title.push_str("no finding");
    } else {
        let mut fs: Vec<_> = r.findings.iter().collect();
        fs.sort_by_key(|f| f.severity);
        let parts: Vec<String> = fs
            .iter()
            .map(|f| format!("{} {}: {}", sev(f.severity), f.code, f.title))
            .collect();
        title.push_str(&parts.join("\n"));
    }
    writeln!(w, "  label={};", q(&title))?;

    let segment = |w: &mut dyn Write, start: Option<Hex>, ms: &[&MutexModel], indent: &str| {
        let id = match start {
            Some(s) => format!("seg{s}"),
            None => "segunknown".to_string(),
        };
        let map = start.and_then(mapping_of);
        let mut label = ms[0].location.clone();
        if let Some(x) = map {
            label.push_str(&format!(
                "\n{}-{} {}{}",
                x.start,
                x.end,
                x.perms,
                if x.shared { " shared" } else { " private" }
            ));
        }
        let shared = is_shared(start, ms);
        writeln!(w, "{indent}subgraph cluster_{id} {{")?;
        writeln!(
            w,
            "{indent}  label={}; class={}; style=\"rounded,filled\"; fillcolor={};",
            q(&label),
            q(if shared {
                "segment shared"
            } else {
                "segment private"
            }),
            q(if shared { "#fff4d6" } else { "#eef3fb" })
        )?;
        for m in ms {
            let mut l = m.address.to_string();
            if let Some(s) = &m.symbol {
                l.push('\n');
                l.push_str(s);
            }
            let state = m
                .state
                .and_then(|s| serde_json::to_value(s).ok())
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "not in core".into());
            let kind = match m.pshared {
                Some(true) => "process-shared",
                Some(false) => "process-private",
                None => "sharing unknown",
            };
            l.push_str(&format!("\n{state}, {kind}"));
            let err = error_mutexes.contains(&m.address);
            writeln!(
                w,
                "{indent}  {} [shape=box, style=\"rounded,filled\", fillcolor=white, class={}, label={}{}];",
                q(&mutex_node(m.address)),
                q(if err { "mutex error" } else { "mutex" }),
                q(&l),
                if err { ", color=red, penwidth=2" } else { "" }
            )?;
        }
        writeln!(w, "{indent}}}")
    };

    // This process.
    writeln!(w, "  subgraph cluster_process {{")?;
    let shown = involved.len();
    writeln!(
        w,
        "    label={}; class=\"process\"; style=rounded;",
        q(&format!(
            "process {} ({exe}){}, {} thread{}{}",
            c.pid.map_or("?".into(), |p| p.to_string()),
            c.ppid.map_or(String::new(), |p| format!(", ppid {p}")),
            r.threads.len(),
            if r.threads.len() == 1 { "" } else { "s" },
            if shown < r.threads.len() {
                format!(", {shown} involved shown")
            } else {
                String::new()
            }
        ))
    )?;
    for t in r.threads.iter().filter(|t| involved.contains(&t.tid)) {
        let mut l = format!("thread {}", t.tid);
        if t.crashed {
            l.push_str("\ncrashed");
        }
        // The innermost named frame, and the innermost one in the executable
        // (the program's own code) when that is another.
        if let Some(fs) = t.frames.as_ref() {
            let named = fs.iter().find(|f| f.function.is_some());
            let own = fs
                .iter()
                .find(|f| f.function.is_some() && f.module.is_some() && f.module == c.executable);
            if let Some(name) = named.and_then(|f| f.function.as_deref()) {
                l.push('\n');
                l.push_str(name);
            }
            if let Some(name) = own.and_then(|f| f.function.as_deref())
                && named.and_then(|f| f.function.as_deref()) != Some(name)
            {
                l.push_str("\nin ");
                l.push_str(name);
            }
        }
        writeln!(
            w,
            "    {} [shape=ellipse, class={}, label={}{}];",
            q(&tid_node(t.tid)),
            q(if t.crashed {
                "thread crashed"
            } else {
                "thread"
            }),
            q(&l),
            if t.crashed { ", peripheries=2" } else { "" }
        )?;
    }
    for p in pointers.iter().filter(|(_, own)| **own).map(|(p, _)| p) {
        writeln!(
            w,
            "    {} [shape=ellipse, class=\"thread\", label={}];",
            q(&pointer_node(*p)),
            q(&format!("thread at {p}"))
        )?;
    }
    for (start, ms) in &segments {
        if !is_shared(*start, ms) {
            segment(w, *start, ms, "    ")?;
        }
    }
    writeln!(w, "  }}")?;

    // Shared segments, between the processes.
    for (start, ms) in &segments {
        if is_shared(*start, ms) {
            segment(w, *start, ms, "  ")?;
        }
    }

    // Another process: owners that are not threads of this one.
    let foreign_pointers: Vec<Hex> = pointers
        .iter()
        .filter(|(_, own)| !**own)
        .map(|(p, _)| *p)
        .collect();
    if !foreign.is_empty() || !foreign_pointers.is_empty() {
        writeln!(w, "  subgraph cluster_foreign {{")?;
        writeln!(
            w,
            "    label=\"another process (owner TIDs not in this core)\"; class=\"process foreign\"; style=\"rounded,dashed\";"
        )?;
        for t in &foreign {
            writeln!(
                w,
                "    {} [shape=ellipse, class=\"thread foreign\", style=dashed, label={}];",
                q(&tid_node(*t)),
                q(&format!("thread {t}\nnot in this process"))
            )?;
        }
        for p in &foreign_pointers {
            writeln!(
                w,
                "    {} [shape=ellipse, class=\"thread foreign\", style=dashed, label={}];",
                q(&pointer_node(*p)),
                q(&format!("thread at {p}\nnot in this process"))
            )?;
        }
        writeln!(w, "  }}")?;
    }
    for t in &dead {
        writeln!(
            w,
            "  {} [shape=ellipse, class=\"thread dead\", style=dotted, label={}];",
            q(&tid_node(*t)),
            q(&format!("thread {t}\ndead"))
        )?;
    }

    // Edges.
    for m in &mutexes {
        let err = error_mutexes.contains(&m.address);
        let red = if err {
            ", color=red, fontcolor=red"
        } else {
            ""
        };
        for t in &m.waiters {
            writeln!(
                w,
                "  {} -> {} [label=\"waits for\", class=\"waits-for\"{red}];",
                q(&tid_node(*t)),
                q(&mutex_node(m.address))
            )?;
        }
        let owner = match (m.owner.tid, m.owner.pointer) {
            (Some(t), _) => Some(tid_node(t)),
            (None, Some(p)) => Some(pointer_node(p)),
            (None, None) => None,
        };
        if let Some(o) = owner {
            writeln!(
                w,
                "  {} -> {} [label=\"owned by\", class=\"owns\"{red}];",
                q(&mutex_node(m.address)),
                q(&o)
            )?;
        }
    }
    writeln!(w, "}}")
}

fn sev(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// The report as a Graphviz digraph.
pub fn report(r: &Report) -> String {
    let mut v = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_report(r, &mut v);
    String::from_utf8_lossy(&v).into_owned()
}
