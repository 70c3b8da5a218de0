//! A typed triage document for the renderer tests: four buckets (one of cores with
//! no finding), an incident, a failed input, skipped inputs (four with one reason),
//! cores without a timestamp, a cached core, and hostile strings from "crash files"
//! (markup, `|`, quotes, commas, line breaks, an ANSI escape).

use mutexdiag::triage::model::{
    Bucket, CoreRecord, Example, FindingRef, Incident, Severity, Source, Status, Summary, TriageDoc,
};

pub const A: &str = "a1b2c3d4e5f6";
pub const B: &str = "0badc0ffee00";
pub const C: &str = "c0c0c0c0c0c0";
pub const D: &str = "d00dfeedd00d";

pub const HOSTILE_ID: &str = "evil/<script>alert(1)</script>|core,\"x\"";
pub const ESC_ID: &str = "fleet/core.\x1b[2Jwipe.0.b0.1.1";
pub const LONG_ID: &str = "archive/2026/11/30/host-0042.example.internal/var/lib/systemd/coredump/core.averyveryverylongcommandname.1000.8d3f0c5e9b7a41e2a6b1c3d4e5f60718.4242.1764496800000000.zst";
pub const MESSAGE_A: &str = "mutex 0x55d0c2a4e040 (.bss of app, g_lock) is held by thread 4243, which no longer exists: the thread exited or was cancelled while holding it, and every later locker blocks forever";
pub const HOSTILE_MESSAGE: &str =
    "killed by SIGSEGV <b>bold</b> | \"quoted\", with a comma\nand a new line";
pub const FAILED_REASON: &str = "truncated: segment 3 (PT_LOAD at 0x7ffd0000) ends at byte 9437184, the file has 4096 bytes; \"partial\", not analysed";
pub const SKIP_MANY: &str = "not a core: no ELF, archive or report magic";

fn record(id: &str, source: Source, status: Status) -> CoreRecord {
    CoreRecord {
        id: id.to_string(),
        seq: 0,
        source,
        status,
        reason: None,
        cached: false,
        pid: None,
        executable: None,
        binary: None,
        signal: None,
        timestamp: None,
        signature: None,
        bucket: None,
        findings: Vec::new(),
        peers: Vec::new(),
        warnings: Vec::new(),
        correlation: None,
        example: None,
        report: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn analysed(
    id: &str,
    source: Source,
    pid: u32,
    ts: Option<&str>,
    bucket: &str,
    finding: Option<(&str, Severity)>,
    signal: Option<u32>,
) -> CoreRecord {
    let mut r = record(id, source, Status::Analysed);
    r.pid = Some(pid);
    r.executable = Some("/usr/bin/app".into());
    r.binary = Some("fleet/app (build-id match)".into());
    r.signal = signal;
    r.timestamp = ts.map(str::to_string);
    r.signature = Some(format!("sig-of-{bucket}"));
    r.bucket = Some(bucket.to_string());
    if let Some((code, severity)) = finding {
        r.findings.push(FindingRef {
            code: code.into(),
            severity,
            mutexes: vec!["0x55d0c2a4e040".into()],
            owner_core: None,
        });
    }
    r
}

fn skipped(id: &str, reason: &str) -> CoreRecord {
    let mut r = record(id, Source::Core, Status::Skipped);
    r.reason = Some(reason.into());
    r
}

/// The input records, in input order.
pub fn cores() -> Vec<CoreRecord> {
    let abandoned = Some(("abandoned-lock", Severity::Error));
    let order = Some(("lock-order-inversion", Severity::Warning));
    let mut v = Vec::new();
    let mut c1 = analysed(
        "fleet/core.app.1000.b0.4242.1764496800000000.zst",
        Source::SystemdCoredump,
        4242,
        Some("2026-11-30T10:00:00Z"),
        A,
        abandoned,
        Some(6),
    );
    c1.findings.push(FindingRef {
        code: "waiters-on-dead-owner".into(),
        severity: Severity::Warning,
        mutexes: vec!["0x55d0c2a4e040".into(), "0x55d0c2a4e080".into()],
        owner_core: None,
    });
    c1.peers = vec!["bundles/incident-42.tar.zst!incident-42/core".into()];
    v.push(c1);
    v.push(analysed(
        LONG_ID,
        Source::SystemdCoredump,
        4243,
        Some("2026-11-30T11:00:00Z"),
        A,
        abandoned,
        Some(6),
    ));
    v.push(analysed(
        "crash/_usr_bin_srv.0.crash",
        Source::Apport,
        977,
        Some("2026-12-01T09:30:00+01:00"),
        B,
        order,
        Some(6),
    ));
    let mut c4 = analysed(
        "bundles/incident-42.tar.zst!incident-42/core",
        Source::Core,
        4250,
        None,
        C,
        Some(("owner-died-in-other-process", Severity::Error)),
        Some(11),
    );
    c4.peers = vec!["fleet/core.app.1000.b0.4242.1764496800000000.zst".into()];
    v.push(c4);
    v.push(skipped(
        "bundles/incident-42.tar.zst!incident-42/app",
        "executable: served as the binary of bundles/incident-42.tar.zst!incident-42/core",
    ));
    v.push(analysed(
        "abrt/ccpp-2026-11-30-12:30:00-977",
        Source::Abrt,
        977,
        Some("2026-11-30T12:30:00Z"),
        B,
        order,
        Some(6),
    ));
    v.push(skipped("junk/notes.txt", "not a core: text"));
    v.push(skipped("junk/empty", "empty file"));
    for n in ["a", "b", "c", "d"] {
        v.push(skipped(&format!("junk/{n}.bin"), SKIP_MANY));
    }
    let mut f = record("fleet/truncated.core", Source::Core, Status::Failed);
    f.reason = Some(FAILED_REASON.into());
    v.push(f);
    v.push(analysed(
        HOSTILE_ID,
        Source::Core,
        1,
        None,
        D,
        None,
        Some(11),
    ));
    let mut cached = analysed(
        "fleet/core.app.1000.b0.4244.1764583200000000.zst",
        Source::SystemdCoredump,
        4244,
        Some("2026-12-01T10:00:00Z"),
        A,
        abandoned,
        Some(6),
    );
    cached.cached = true;
    v.push(cached);
    v.push(skipped(ESC_ID, "empty file"));
    v
}

fn bucket(
    id: &str,
    code: Option<&str>,
    severity: Option<Severity>,
    cores: &[&CoreRecord],
) -> Bucket {
    let mut times: Vec<&str> = cores
        .iter()
        .filter_map(|c| c.timestamp.as_deref())
        .collect();
    times.sort();
    Bucket {
        id: id.into(),
        signature: format!("sig-of-{id}"),
        code: code.map(str::to_string),
        severity,
        count: cores.len() as u64,
        cores: cores.iter().map(|c| c.id.clone()).collect(),
        first_seen: times.first().map(|s| s.to_string()),
        last_seen: times.last().map(|s| s.to_string()),
        example: Example {
            core: cores[0].id.clone(),
            message: String::new(),
            title: None,
            evidence: Vec::new(),
            fix: None,
        },
    }
}

/// The whole document. Its `buckets` are deliberately not in display order (the
/// renderers sort by count, ties by first appearance among the inputs).
pub fn doc() -> TriageDoc {
    let cores = cores();
    let of = |b: &str| -> Vec<&CoreRecord> {
        cores
            .iter()
            .filter(|c| c.bucket.as_deref() == Some(b))
            .collect()
    };
    let mut a = bucket(A, Some("abandoned-lock"), Some(Severity::Error), &of(A));
    a.example.message = MESSAGE_A.into();
    a.example.title = Some("Lock held by a thread that no longer exists".into());
    a.example.evidence = vec![
        "owner TID 4243 is not a thread of this process".into(),
        "__lock = 2 (locked, waiters)".into(),
    ];
    a.example.fix = Some("Unlock on every exit path; consider robust mutexes".into());
    let mut b = bucket(
        B,
        Some("lock-order-inversion"),
        Some(Severity::Warning),
        &of(B),
    );
    b.example.message = "threads 977 and 978 take m1 and m2 in opposite orders".into();
    b.example.evidence = vec![
        "977 holds m1, waits for m2".into(),
        "978 holds m2, waits for m1".into(),
    ];
    b.example.fix = Some("Take the locks in one global order".into());
    let mut c = bucket(
        C,
        Some("owner-died-in-other-process"),
        Some(Severity::Error),
        &of(C),
    );
    c.example.message = "mutex 0x7f3a2c000040 in SysV segment 0x6d757478 is owned by pid 4242, which dumped core too".into();
    let mut d = bucket(D, None, None, &of(D));
    d.example.message = HOSTILE_MESSAGE.into();
    d.example.evidence = vec!["<img src=x onerror=alert(2)>".into()];
    d.example.fix = Some("</p><script>alert(3)</script>".into());
    let incidents = vec![Incident {
        cores: vec![
            "bundles/incident-42.tar.zst!incident-42/core".into(),
            "fleet/core.app.1000.b0.4242.1764496800000000.zst".into(),
        ],
        mutexes: vec!["0x7f3a2c000040".into()],
        why: "mutex 0x7f3a2c000040 in SysV segment key 0x6d757478 is owned by TID 4242, a thread of the process that dumped fleet/core.app.1000.b0.4242.1764496800000000.zst".into(),
    }];
    let count = |s: Status| cores.iter().filter(|c| c.status == s).count() as u64;
    let summary = Summary {
        inputs: cores.len() as u64,
        analysed: count(Status::Analysed),
        cached: cores.iter().filter(|c| c.cached).count() as u64,
        failed: count(Status::Failed),
        skipped: count(Status::Skipped),
        buckets: 4,
        incidents: incidents.len() as u64,
    };
    TriageDoc {
        schema_version: 1,
        signature_version: 1,
        summary,
        // Not the display order: B before A (A is larger), D before C (C's first
        // core comes first among the inputs).
        buckets: vec![b, d, a, c],
        incidents,
        cores,
    }
}

/// Bucket ids in display order.
pub const ORDER: [&str; 4] = [A, B, C, D];
/// Their counts.
pub const COUNTS: [u64; 4] = [3, 2, 1, 1];
