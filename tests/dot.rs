//! `--format dot`: the picture of the bug. On real fixture cores, the graph's
//! "owns" and "waits for" edges are exactly the report's owners and waiters of the
//! drawn mutexes; a deadlock is a directed cycle; a cross-process mutex puts its
//! foreign owner in a cluster of its own and its shared segment outside this
//! process; Graphviz's `dot -Tsvg` (Debian's graphviz, installed by `.ci/run`)
//! renders it with those edges. Skips only the rendering, saying so, without `dot`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output, Stdio};

use mutexdiag::LockState;
use mutexdiag::report::model::{OwnerClass, Report};

mod support;

use support::root;

fn run(args: &[&str]) -> Output {
    support::mutexdiag()
        .args(args)
        .current_dir(root())
        .output()
        .expect("run mutexdiag")
}

/// The report and the dot text of one fixture core.
fn both(core: &str, extra: &[&str]) -> (Report, String) {
    let mut a = vec![core, "--format", "json"];
    a.extend_from_slice(extra);
    let j = run(&a);
    assert!(
        matches!(j.status.code(), Some(0 | 1)),
        "{core}: {}",
        String::from_utf8_lossy(&j.stderr)
    );
    let r: Report = serde_json::from_slice(&j.stdout).expect("report JSON");
    let mut a = vec![core, "--format", "dot"];
    a.extend_from_slice(extra);
    let d = run(&a);
    assert_eq!(
        d.status.code(),
        j.status.code(),
        "{core}: same exit code as the report: {}",
        String::from_utf8_lossy(&d.stderr)
    );
    (r, String::from_utf8(d.stdout).expect("utf-8 dot"))
}

/// What the dot text says: edges (from, to, class), and each node's cluster path.
#[derive(Default, Debug)]
struct Graph {
    edges: BTreeSet<(String, String, String)>,
    nodes: BTreeMap<String, Vec<String>>,
}

fn unquote(s: &str) -> String {
    s.trim().trim_matches('"').to_string()
}

fn attr(line: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let at = line.find(&key)? + key.len();
    let rest = &line[at..];
    Some(rest[..rest.find('"')?].to_string())
}

fn parse(dot: &str) -> Graph {
    let mut g = Graph::default();
    let mut stack: Vec<String> = Vec::new();
    let mut depth = 0;
    for line in dot.lines().map(str::trim) {
        if line.starts_with("//") || line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("subgraph ") {
            stack.push(rest.trim_end_matches('{').trim().to_string());
            continue;
        }
        if line.starts_with("digraph ") {
            depth += 1;
            continue;
        }
        if line == "}" {
            if stack.pop().is_none() {
                depth -= 1;
            }
            continue;
        }
        if !line.starts_with('"') {
            continue; // graph/node/edge defaults and cluster attributes
        }
        let head = &line[..line.find('[').unwrap_or(line.len())];
        if let Some((a, b)) = head.split_once("->") {
            let class = attr(line, "class").expect("every edge has a class");
            g.edges.insert((unquote(a), unquote(b), class));
        } else {
            g.nodes.insert(unquote(head), stack.clone());
        }
    }
    assert_eq!(depth, 0, "one digraph, braces balanced");
    assert!(stack.is_empty(), "clusters closed");
    g
}

/// The edges the report implies for the mutexes the graph draws.
fn expected(r: &Report) -> BTreeSet<(String, String, String)> {
    let named: BTreeSet<_> = r.findings.iter().flat_map(|f| f.mutexes.clone()).collect();
    let mut e = BTreeSet::new();
    for m in &r.mutexes {
        let drawn = named.contains(&m.address)
            || !m.waiters.is_empty()
            || m.owner.tid.is_some()
            || m.owner.pointer.is_some()
            || m.state.is_some_and(|s| s != LockState::Unlocked);
        if !drawn {
            continue;
        }
        for t in &m.waiters {
            e.insert((
                format!("t{t}"),
                format!("m{}", m.address),
                "waits-for".into(),
            ));
        }
        if let Some(t) = m.owner.tid {
            e.insert((format!("m{}", m.address), format!("t{t}"), "owns".into()));
        } else if let Some(p) = m.owner.pointer {
            e.insert((format!("m{}", m.address), format!("p{p}"), "owns".into()));
        }
    }
    e
}

/// Does the directed graph of `edges` have a cycle through `start`?
fn cycle_through(edges: &BTreeSet<(String, String, String)>, start: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut todo = vec![start.to_string()];
    while let Some(n) = todo.pop() {
        for (a, b, _) in edges.iter().filter(|(a, _, _)| *a == n) {
            let _ = a;
            if b == start {
                return true;
            }
            if seen.insert(b.clone()) {
                todo.push(b.clone());
            }
        }
    }
    false
}

/// Renders with Graphviz; `None` (and a SKIPPED line) without it.
fn svg(test: &str, dot: &str) -> Option<String> {
    use std::io::Write;
    let Ok(mut child) = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        support::skip(
            test,
            "Graphviz `dot` is not installed (Debian: graphviz); rendering not checked",
        );
        return None;
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(dot.as_bytes())
        .expect("write dot");
    let o = child.wait_with_output().expect("dot runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "dot -Tsvg failed: {err}");
    assert!(
        !err.contains("Warning") && !err.contains("Error"),
        "dot complained: {err}"
    );
    Some(String::from_utf8(o.stdout).expect("utf-8 svg"))
}

/// SVG edges by class, as Graphviz writes them (`<g id="edgeN" class="edge owns">`,
/// a hyphen written `&#45;`).
fn svg_edges(svg: &str, class: &str) -> usize {
    svg.replace("&#45;", "-")
        .matches(&format!("class=\"edge {class}\""))
        .count()
}

fn check(test: &str, core: &str, extra: &[&str]) -> (Report, Graph) {
    let (r, dot) = both(core, extra);
    let g = parse(&dot);
    let want = expected(&r);
    assert!(
        !want.is_empty(),
        "{core}: the fixture has an owner or a waiter"
    );
    assert_eq!(
        g.edges, want,
        "{core}: edges = the report's owners and waiters"
    );
    for (a, b, _) in &g.edges {
        assert!(g.nodes.contains_key(a), "{core}: node {a} declared");
        assert!(g.nodes.contains_key(b), "{core}: node {b} declared");
    }
    if let Some(svg) = svg(test, &dot) {
        for class in ["owns", "waits-for"] {
            let n = g.edges.iter().filter(|e| e.2 == class).count();
            assert_eq!(
                svg_edges(&svg, class),
                n,
                "{core}: {class} edges in the SVG"
            );
        }
        for m in r.findings.iter().flat_map(|f| &f.mutexes) {
            assert!(
                svg.contains(&format!("<title>m{m}</title>")),
                "{core}: mutex {m} of a finding drawn"
            );
        }
    }
    (r, g)
}

#[test]
fn deadlock_is_a_directed_cycle() {
    let (r, g) = check(
        "deadlock_is_a_directed_cycle",
        "fixtures/abba/core.main.zst",
        &["--binary", "fixtures/abba/app"],
    );
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "deadlock-cycle")
        .expect("the abba fixture's deadlock finding");
    assert_eq!(f.threads.len(), 2);
    for t in &f.threads {
        assert!(
            cycle_through(&g.edges, &format!("t{t}")),
            "thread {t} of the deadlock is on a cycle: {:?}",
            g.edges
        );
        assert_eq!(g.nodes[&format!("t{t}")], vec!["cluster_process"]);
    }
    // The third locked mutex's waiter is not in the cycle.
    let on_cycle: Vec<_> = r
        .threads
        .iter()
        .filter(|t| cycle_through(&g.edges, &format!("t{}", t.tid)))
        .map(|t| t.tid)
        .collect();
    assert_eq!(
        on_cycle.len(),
        2,
        "only the deadlocked threads: {on_cycle:?}"
    );
}

#[test]
fn foreign_owner_and_shared_segment() {
    let (r, g) = check(
        "foreign_owner_and_shared_segment",
        "fixtures/sysv-private/core.parent.zst",
        &["--binary", "fixtures/sysv-private/app"],
    );
    let m = r
        .mutexes
        .iter()
        .find(|m| m.owner.class == OwnerClass::Foreign)
        .expect("the parent core's mutex is owned by the child");
    let owner = format!("t{}", m.owner.tid.expect("owner TID"));
    assert_eq!(g.nodes[&owner], vec!["cluster_foreign"], "its own cluster");
    let seg = &g.nodes[&format!("m{}", m.address)];
    assert_eq!(
        seg.len(),
        1,
        "the SysV segment is outside the process: {seg:?}"
    );
    assert!(seg[0].starts_with("cluster_seg"), "{seg:?}");
    // This process's waiter is inside the process.
    for t in &m.waiters {
        assert_eq!(g.nodes[&format!("t{t}")], vec!["cluster_process"]);
    }
    // A path from the waiter to the foreign owner.
    assert!(
        g.edges
            .iter()
            .any(|(a, b, c)| *a == format!("m{}", m.address) && *b == owner && c == "owns")
    );
}

#[test]
fn own_owner_in_shared_segment() {
    let (r, g) = check(
        "own_owner_in_shared_segment",
        "fixtures/sysv-private/core.child.zst",
        &["--binary", "fixtures/sysv-private/app"],
    );
    let m = r
        .mutexes
        .iter()
        .find(|m| {
            m.owner.class == OwnerClass::OwnThread
                && m.mapping_kind == Some(mutexdiag::MappingKind::SysvShm)
        })
        .expect("the child holds the SysV mutex");
    let owner = format!("t{}", m.owner.tid.expect("owner TID"));
    assert_eq!(g.nodes[&owner], vec!["cluster_process"]);
    assert!(
        !g.nodes
            .keys()
            .any(|k| g.nodes[k].contains(&"cluster_foreign".to_string()))
    );
}

#[test]
fn maps_and_threads_have_no_graph() {
    for cmd in ["maps", "threads"] {
        let o = run(&[cmd, "fixtures/abba/core.main.zst", "--format", "dot"]);
        assert_eq!(o.status.code(), Some(2));
        assert!(o.stdout.is_empty());
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("--format dot draws the analysis"), "{e}");
    }
}

#[test]
fn every_fixture_core_draws_its_owners_and_waiters() {
    let mut n = 0;
    let mut dirs: Vec<_> = std::fs::read_dir(root().join("fixtures"))
        .expect("fixtures/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    dirs.sort();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut cores: Vec<_> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("core.") && n.ends_with(".zst"))
            })
            .collect();
        cores.sort();
        let app = d.join("app");
        for c in cores {
            let c = c.to_string_lossy().into_owned();
            let a = app.to_string_lossy().into_owned();
            let extra: Vec<&str> = if app.is_file() {
                vec!["--binary", &a]
            } else {
                vec![]
            };
            let (r, dot) = both(&c, &extra);
            let g = parse(&dot);
            assert_eq!(g.edges, expected(&r), "{c}");
            let _ = svg("every_fixture_core_draws_its_owners_and_waiters", &dot);
            n += 1;
        }
    }
    assert!(n >= 30, "the fixture cores were found: {n}");
}
