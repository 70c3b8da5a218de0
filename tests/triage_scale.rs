//! `mutexdiag triage` at scale: shards + `triage merge` equal one run; the `--db`
//! index (caching, added/changed/removed cores, concurrent writers, `triage report`).
//! Over the real fixture cores of `fixtures/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mutexdiag::triage::index::Index;
use mutexdiag::triage::run::Shard;
use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mutexdiag")
}

mod support;

fn fixtures() -> PathBuf {
    support::fixture("")
}

fn triage(args: &[&str]) -> Output {
    let out = Command::new(bin())
        .arg("triage")
        .args(args)
        .output()
        .expect("run mutexdiag");
    assert_ne!(
        out.status.code(),
        Some(2),
        "mutexdiag triage {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend(["--format", "json", "-q"]);
    let out = triage(&a);
    serde_json::from_slice(&out.stdout).expect("triage json")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn ids(doc: &Value) -> Vec<String> {
    doc["cores"]
        .as_array()
        .expect("cores")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect()
}

/// The document with every `cached` flag and count cleared.
fn uncached(mut doc: Value) -> Value {
    doc["summary"]["cached"] = Value::from(0);
    for c in doc["cores"].as_array_mut().expect("cores") {
        c["cached"] = Value::Bool(false);
    }
    doc
}

fn record<'a>(doc: &'a Value, suffix: &str) -> &'a Value {
    doc["cores"]
        .as_array()
        .expect("cores")
        .iter()
        .find(|c| c["id"].as_str().is_some_and(|i| i.ends_with(suffix)))
        .unwrap_or_else(|| panic!("no record of {suffix}"))
}

fn fresh_cores(doc: &Value) -> Vec<String> {
    doc["cores"]
        .as_array()
        .expect("cores")
        .iter()
        .filter(|c| c["status"] == "analysed" && c["cached"] == false)
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect()
}

#[test]
fn shards_and_merge_equal_one_run() {
    let fx = fixtures();
    let single = json(&[s(&fx)]);
    let all = ids(&single);
    assert!(all.len() > 100, "the fixtures are there");
    let incidents = single["incidents"].as_array().expect("incidents").clone();
    assert!(incidents.len() >= 5, "the fixtures have incidents");
    let tmp = tempfile::tempdir().expect("tempdir");
    for n in [3u64, 4] {
        let mut files = Vec::new();
        let mut dbs = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for k in 0..n {
            let f = tmp.path().join(format!("{n}.{k}.jsonl"));
            let db = tmp.path().join(format!("{n}.{k}.db"));
            let shard = format!("{k}/{n}");
            triage(&[
                s(&fx),
                "--shard",
                &shard,
                "--format",
                "jsonl",
                "-o",
                s(&f),
                "-q",
                "--db",
                s(&db),
            ]);
            let text = std::fs::read_to_string(&f).expect("shard output");
            for line in text.lines() {
                let r: Value = serde_json::from_str(line).expect("record");
                let id = r["id"].as_str().expect("id").to_string();
                // The split is by a stable hash of the id.
                assert!(
                    Shard { index: k, count: n }.takes(&id),
                    "{id} in shard {k}/{n}"
                );
                seen.push(id);
            }
            files.push(f);
            dbs.push(db);
        }
        // Every input lands in exactly one shard.
        seen.sort();
        let mut want = all.clone();
        want.sort();
        assert_eq!(seen, want, "shards of {n} cover every input once");

        // An incident whose two cores fell in different shards.
        let split = incidents.iter().any(|i| {
            let c = i["cores"].as_array().expect("cores");
            let k = |v: &Value| {
                (0..n)
                    .find(|&k| Shard { index: k, count: n }.takes(v.as_str().expect("id")))
                    .expect("a shard")
            };
            c.iter()
                .map(k)
                .collect::<std::collections::BTreeSet<_>>()
                .len()
                > 1
        });
        assert!(split, "some incident spans shards of {n}");

        let mut args: Vec<&str> = vec!["merge"];
        args.extend(files.iter().map(|f| s(f)));
        let merged = json(&args);
        assert_eq!(merged, single, "merge of {n} jsonl shards equals one run");

        let mut args: Vec<&str> = vec!["merge"];
        args.extend(dbs.iter().map(|f| s(f)));
        let merged = json(&args);
        assert_eq!(merged, single, "merge of {n} index shards equals one run");

        // Text output of merge works too and names the buckets.
        let mut args: Vec<&str> = vec!["merge"];
        args.extend(files.iter().map(|f| s(f)));
        let text = triage(&args);
        let text = String::from_utf8_lossy(&text.stdout);
        let first = single["buckets"][0]["id"].as_str().expect("bucket id");
        assert!(text.contains(first), "text report lists bucket {first}");
    }
}

#[test]
fn merge_reports_bad_input_clearly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let f = tmp.path().join("bad.jsonl");
    std::fs::write(&f, "{\"id\": 3}\n").expect("write");
    let out = Command::new(bin())
        .args(["triage", "merge", s(&f)])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl, line 1"), "{err}");
}

#[test]
fn a_path_named_merge_is_still_an_input() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("merge");
    std::fs::create_dir(&dir).expect("mkdir");
    copy_dir(&fixtures().join("segv"), &dir.join("segv"));
    let out = Command::new(bin())
        .current_dir(tmp.path())
        .args(["triage", "./merge", "--format", "json", "-q"])
        .output()
        .expect("run");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["summary"]["analysed"], 1);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        if e.file_type().expect("type").is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
}

/// A small archive: a few fixture scenarios (cores + executables + sources).
fn archive(root: &Path, names: &[&str]) -> PathBuf {
    let dir = root.join("archive");
    for n in names {
        copy_dir(&fixtures().join(n), &dir.join(n));
    }
    dir
}

#[test]
fn index_caches_adds_changes_and_marks_missing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = archive(tmp.path(), &["abba", "anon-private", "sysv-private"]);
    let db = tmp.path().join("index.db");
    let plain = json(&[s(&dir)]);

    // First run: everything analysed, same document as without the index.
    let first = json(&[s(&dir), "--db", s(&db)]);
    assert_eq!(first, plain, "a run with --db gives the same document");
    assert_eq!(first["summary"]["cached"], 0);
    let cores = fresh_cores(&first);
    assert_eq!(cores.len(), 5);

    // Second run: nothing analysed, every core cached, same document otherwise.
    let second = json(&[s(&dir), "--db", s(&db)]);
    assert_eq!(second["summary"]["cached"], 5);
    assert!(
        fresh_cores(&second).is_empty(),
        "second run analyses nothing"
    );
    assert_eq!(uncached(second.clone()), plain);

    // The report from the index alone.
    let report = json(&["report", "--db", s(&db)]);
    assert_eq!(report, plain, "triage report --db equals the run's report");

    // One added scenario: only its core is analysed.
    copy_dir(&fixtures().join("segv"), &dir.join("segv"));
    let third = json(&[s(&dir), "--db", s(&db)]);
    let fresh = fresh_cores(&third);
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    assert!(fresh[0].ends_with("segv/core.main.zst"));
    assert_eq!(third["summary"]["cached"], 5);
    assert_eq!(uncached(third), json(&[s(&dir)]));

    // One changed core (another program's core written over it): re-analysed.
    let before = record(&second, "abba/core.main.zst")["bucket"].clone();
    std::fs::copy(
        fixtures().join("robust-dead/core.main.zst"),
        dir.join("abba/core.main.zst"),
    )
    .expect("overwrite");
    let fourth = json(&[s(&dir), "--db", s(&db)]);
    let fresh = fresh_cores(&fourth);
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    assert!(fresh[0].ends_with("abba/core.main.zst"));
    assert_ne!(record(&fourth, "abba/core.main.zst")["bucket"], before);
    assert_eq!(uncached(fourth), json(&[s(&dir)]));

    // A removed core: marked missing, history kept, gone from the report.
    let gone = dir.join("sysv-private/core.child.zst");
    std::fs::remove_file(&gone).expect("remove");
    let fifth = json(&[s(&dir), "--db", s(&db)]);
    assert!(fresh_cores(&fifth).is_empty());
    let ix = Index::open_existing(&db).expect("index");
    let missing = ix.missing().expect("missing");
    assert!(missing.contains(s(&gone)), "{missing:?}");
    assert_eq!(missing.len(), 1);
    let (rows, runs) = ix.counts().expect("counts");
    assert_eq!(
        rows as usize,
        ids(&fifth).len() + 1,
        "the missing row is kept"
    );
    assert_eq!(runs, 5);
    assert_eq!(ix.schema_version().expect("version"), 2);
    bucket_codes_agree(&fifth, &ix);
    let report = json(&["report", "--db", s(&db)]);
    assert_eq!(report, json(&[s(&dir)]));
    assert!(!ids(&report).contains(&s(&gone).to_string()));
}

#[test]
fn two_runs_on_one_index_at_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = archive(&tmp.path().join("a"), &["abba", "anon-private", "segv"]);
    let b = archive(&tmp.path().join("b"), &["sysv-private", "assert", "kinds"]);
    let db = tmp.path().join("shared.db");
    for round in 0..2 {
        let spawn = |d: &Path| {
            Command::new(bin())
                .args([
                    "triage",
                    s(d),
                    "--db",
                    s(&db),
                    "--format",
                    "json",
                    "-q",
                    "-j",
                    "1",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        };
        let (pa, pb) = (spawn(&a), spawn(&b));
        for p in [pa, pb] {
            let out = p.wait_with_output().expect("wait");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_ne!(out.status.code(), Some(2), "round {round}: {err}");
            assert!(!err.contains("index"), "round {round}: {err}");
        }
    }
    let ix = Index::open_existing(&db).expect("index");
    assert!(ix.integrity_ok().expect("integrity"));
    let (rows, runs) = ix.counts().expect("counts");
    let want = ids(&json(&[s(&a)])).len() + ids(&json(&[s(&b)])).len();
    assert_eq!(rows as usize, want, "no record lost");
    assert_eq!(runs, 4);
    assert!(
        ix.missing().expect("missing").is_empty(),
        "one run's inputs are not the other's missing"
    );
    // The index holds both archives: its report has the buckets, counts and
    // incidents of one run over both (the order of inputs of two separate walks is
    // not one walk's, so lists are compared as sets).
    let both = json(&[s(&a), s(&b)]);
    let report = json(&["report", "--db", s(&db)]);
    let sorted = |v: &Value, key: &str| {
        let mut x: Vec<String> = v[key]
            .as_array()
            .expect("list")
            .iter()
            .map(|b| {
                let mut b = b.clone();
                if let Some(c) = b.get_mut("cores").and_then(|c| c.as_array_mut()) {
                    c.sort_by_key(|v| v.to_string());
                }
                b.to_string()
            })
            .collect();
        x.sort();
        x
    };
    assert_eq!(sorted(&report, "buckets"), sorted(&both, "buckets"));
    assert_eq!(sorted(&report, "incidents"), sorted(&both, "incidents"));
    assert_eq!(report["summary"], both["summary"]);
}

/// Every bucket's code in the index is the one of the document (the primary
/// finding's, as in the signature).
fn bucket_codes_agree(doc: &Value, ix: &Index) {
    let buckets = doc["buckets"].as_array().expect("buckets");
    let mut checked = 0;
    for (id, code) in ix.bucket_codes().expect("bucket codes") {
        let Some(b) = buckets.iter().find(|b| b["id"] == id.as_str()) else {
            continue;
        };
        assert_eq!(code.as_deref(), b["code"].as_str(), "bucket {id}");
        let sig = b["signature"].as_str().expect("signature");
        if let Some(c) = &code {
            assert!(sig.starts_with(&format!("{c} |")), "{sig} vs {c}");
        }
        checked += 1;
    }
    assert_eq!(
        checked,
        buckets.len(),
        "every bucket of the document is in the index"
    );
}

#[test]
fn index_stamp_shortcut_still_sees_changes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // posix-private: a core with several findings (primary code in index and report).
    let dir = archive(tmp.path(), &["abba", "posix-private"]);
    let db = tmp.path().join("index.db");
    let first = json(&[s(&dir), "--db", s(&db)]);
    let n = fresh_cores(&first).len();
    assert!(n >= 2);
    assert!(
        first["cores"]
            .as_array()
            .expect("cores")
            .iter()
            .any(|c| c["findings"].as_array().is_some_and(|f| f.len() > 1)),
        "a core with several findings is among the inputs"
    );
    bucket_codes_agree(&first, &Index::open_existing(&db).expect("index"));
    let core = dir.join("abba/core.main.zst");
    let set_mtime = |t: std::time::SystemTime| {
        std::fs::File::options()
            .write(true)
            .open(&core)
            .expect("open core")
            .set_modified(t)
            .expect("set mtime")
    };

    // Touched (stamp moved, content the same): its fingerprint is read and matches,
    // so it is cached; the next run takes it on its new stamp.
    set_mtime(std::time::SystemTime::now() + std::time::Duration::from_secs(60));
    let second = json(&[s(&dir), "--db", s(&db)]);
    assert!(
        fresh_cores(&second).is_empty(),
        "{:?}",
        fresh_cores(&second)
    );
    assert_eq!(second["summary"]["cached"], n);
    assert_eq!(uncached(second.clone()), uncached(first.clone()));
    assert_eq!(json(&[s(&dir), "--db", s(&db)]), second);

    // --db-rehash: every fingerprint read again; nothing changed, all cached.
    let rehash = json(&[s(&dir), "--db", s(&db), "--db-rehash"]);
    assert_eq!(rehash, second);

    // Content changed with the same size and the mtime put back: the ctime moved,
    // so the core is read again and not taken from the index.
    let md = std::fs::metadata(&core).expect("stat");
    let mtime = md.modified().expect("mtime");
    let mut bytes = std::fs::read(&core).expect("read core");
    let k = bytes.len() / 2;
    bytes[k] ^= 0xff;
    std::fs::write(&core, &bytes).expect("rewrite core");
    set_mtime(mtime);
    let md2 = std::fs::metadata(&core).expect("stat");
    assert_eq!(
        (md2.len(), md2.modified().expect("mtime")),
        (md.len(), mtime)
    );
    let third = json(&[s(&dir), "--db", s(&db)]);
    let rec = record(&third, "abba/core.main.zst");
    assert_eq!(
        rec["cached"], false,
        "a changed core (same size, same mtime) is not taken from the index: {rec}"
    );
    assert_eq!(third["summary"]["cached"], n - 1);
}
