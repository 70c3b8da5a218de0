//! The triage renderers on a typed document (`tests/support/triage_doc.rs`): text at several
//! widths, markdown tables, CSV parsed back, HTML parsed by a browser-grade parser
//! (html5ever through `scraper`), the chart's bins, and write errors.

use std::io::{self, Write};

use mutexdiag::triage::model::{Status, TriageDoc};
use mutexdiag::triage::render::{self, Format, Options};
use scraper::{Html, Selector};
use support::triage_doc::{self, *};
use unicode_width::UnicodeWidthStr;

mod support;

fn rendered(doc: &TriageDoc, format: Format, width: usize, color: bool) -> String {
    let mut out = Vec::new();
    render::render(doc, format, &mut out, &Options { width, color }).expect("render");
    String::from_utf8(out).expect("utf-8")
}

/// Removes ANSI SGR sequences (`ESC [ ... m`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------- text

/// The sample document, and one with everything too long: a code of 300
/// characters, wide (CJK) characters in ids and messages, a huge count.
fn stressed() -> TriageDoc {
    let mut doc = doc();
    doc.buckets[0].code = Some("x".repeat(300));
    doc.buckets[0].count = u64::MAX;
    doc.buckets[1].example.core = "核心文件/".repeat(40);
    doc.buckets[1].example.message = "锁 被 一个 已经 不存在 的 线程 持有 ".repeat(20);
    doc.buckets[2].first_seen = Some("2026-11-30T10:00:00.123456789+05:30".into());
    doc.incidents[0].mutexes = (0..40).map(|i| format!("0x7f3a2c0000{i:02x}")).collect();
    doc.cores[12].reason = Some("y".repeat(500));
    doc
}

#[test]
fn text_fits_every_width() {
    for doc in [doc(), stressed()] {
        text_fits(&doc);
    }
}

fn text_fits(doc: &TriageDoc) {
    for width in [0, 1, 5, 30, 40, 60, 80, 100, 120, 200] {
        for color in [false, true] {
            let out = rendered(doc, Format::Text, width, color);
            let plain = strip_ansi(&out);
            for line in plain.lines() {
                assert!(
                    line.width() <= width,
                    "width {width}: line of {} columns: {line:?}",
                    line.width()
                );
                assert_eq!(line, line.trim_end(), "trailing spaces: {line:?}");
            }
            if color {
                // Colour changes nothing of the layout.
                assert_eq!(plain, rendered(doc, Format::Text, width, false));
                if width >= 30 {
                    assert!(out.contains("\x1b[1;31merror\x1b[0m"), "{out}");
                }
            } else {
                assert!(!out.contains('\x1b'), "raw ESC at width {width}: {out}");
            }
        }
    }
}

/// The lines of a bucket's example message, joined: the message itself, whole
/// words only, at every width where a word fits on a line.
#[test]
fn text_wraps_messages_at_word_boundaries() {
    let doc = doc();
    for width in [60, 100, 200] {
        let out = rendered(&doc, Format::Text, width, false);
        let lines: Vec<&str> = out.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("  example fleet/core.app.1000.b0.4242"))
            .unwrap_or_else(|| panic!("no example line for A at width {width}:\n{out}"));
        let mut words = Vec::new();
        for l in &lines[at + 1..] {
            if !l.starts_with("    ") {
                break;
            }
            words.extend(l.split_whitespace());
        }
        assert_eq!(words.join(" "), MESSAGE_A, "width {width}:\n{out}");
        // Greedy: no line could have taken the next line's first word.
        let msg: Vec<&str> = lines[at + 1..]
            .iter()
            .copied()
            .take_while(|l| l.starts_with("    "))
            .collect();
        for pair in msg.windows(2) {
            let next = pair[1].split_whitespace().next().unwrap();
            assert!(
                pair[0].width() + 1 + next.width() > width,
                "width {width}: {next:?} fits after {:?}",
                pair[0]
            );
        }
        if width == 200 {
            assert_eq!(msg.len(), 1);
        }
    }
}

#[test]
fn text_lists_buckets_by_count_with_their_columns() {
    let doc = doc();
    // Wide: a table whose rows start with the bucket id.
    let out = rendered(&doc, Format::Text, 200, false);
    let mut lines = out.lines();
    let summary = lines.next().unwrap();
    assert_eq!(
        summary,
        "16 inputs: 7 analysed (1 cached), 1 failed, 8 skipped; 4 buckets, 1 incident"
    );
    let header = out
        .lines()
        .find(|l| l.starts_with("BUCKET"))
        .expect("table header");
    let cols: Vec<&str> = header
        .split("  ")
        .filter(|s| !s.trim().is_empty())
        .collect();
    assert_eq!(
        cols.iter().map(|c| c.trim()).collect::<Vec<_>>(),
        [
            "BUCKET",
            "CODE",
            "SEVERITY",
            "COUNT",
            "FIRST SEEN",
            "LAST SEEN"
        ]
    );
    let rows: Vec<Vec<&str>> = out
        .lines()
        .filter(|l| ORDER.iter().any(|id| l.starts_with(id)))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec![
                A,
                "abandoned-lock",
                "error",
                "3",
                "2026-11-30T10:00:00Z",
                "2026-12-01T10:00:00Z"
            ],
            vec![
                B,
                "lock-order-inversion",
                "warning",
                "2",
                "2026-11-30T12:30:00Z",
                "2026-12-01T09:30:00+01:00"
            ],
            vec![C, "owner-died-in-other-process", "error", "1", "-", "-"],
            vec![D, "-", "-", "1", "-", "-"],
        ]
    );
    // Narrow: stacked lines, same order.
    let out = rendered(&doc, Format::Text, 60, false);
    assert!(!out.contains("BUCKET"), "{out}");
    let heads: Vec<&str> = out
        .lines()
        .filter(|l| ORDER.iter().any(|id| l.starts_with(id)))
        .collect();
    assert_eq!(
        heads,
        [
            format!("{A}  error  3 cores"),
            format!("{B}  warning  2 cores"),
            format!("{C}  error  1 core"),
            format!("{D}  -  1 core"),
        ]
    );
    assert!(
        out.contains("\n  seen 2026-11-30T10:00:00Z – 2026-12-01T10:00:00Z\n"),
        "{out}"
    );
    assert!(out.contains("\n  seen: time unknown\n"), "{out}");
}

#[test]
fn text_sections_incidents_failed_skipped() {
    let doc = doc();
    let out = rendered(&doc, Format::Text, 200, false);
    let section = |name: &str| -> Vec<String> {
        let mut it = out.lines().skip_while(|l| !l.starts_with(name));
        it.next()
            .unwrap_or_else(|| panic!("no {name} section:\n{out}"));
        it.take_while(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    let inc = section("Incidents (1)");
    assert!(
        inc[0].starts_with("  #1   2 cores; mutex 0x7f3a2c000040"),
        "{inc:?}"
    );
    assert!(
        inc[1]
            .trim_start()
            .starts_with("mutex 0x7f3a2c000040 in SysV")
    );
    assert_eq!(
        inc[2].trim(),
        "- bundles/incident-42.tar.zst!incident-42/core"
    );
    assert_eq!(
        inc[3].trim(),
        "- fleet/core.app.1000.b0.4242.1764496800000000.zst"
    );
    assert_eq!(
        section("Failed (1)"),
        [format!("  fleet/truncated.core: {FAILED_REASON}")]
    );
    let skipped = section("Skipped (8)");
    assert_eq!(
        skipped,
        [
            "  bundles/incident-42.tar.zst!incident-42/app: executable: served as the binary of bundles/incident-42.tar.zst!incident-42/core".to_string(),
            "  junk/notes.txt: not a core: text".into(),
            "  junk/empty: empty file".into(),
            // The ESC of the name is shown escaped.
            "  fleet/core.\\u{1b}[2Jwipe.0.b0.1.1: empty file".into(),
            format!("  4 inputs: {SKIP_MANY}"),
            "    - junk/a.bin".into(),
            "    - junk/b.bin".into(),
            "    - junk/c.bin".into(),
            "    … and 1 more".into(),
        ]
    );
    // Narrow: the failed reason goes under its id, wrapped.
    let out = rendered(&doc, Format::Text, 60, false);
    assert!(
        out.contains("\n  fleet/truncated.core:\n    truncated: segment 3"),
        "{out}"
    );
}

#[test]
fn text_shortens_long_ids_in_the_middle() {
    let mut doc = doc();
    doc.buckets[2].example.core = LONG_ID.to_string();
    for width in [60, 100] {
        let out = rendered(&doc, Format::Text, width, false);
        let l = out
            .lines()
            .find(|l| l.starts_with("  example archive/"))
            .unwrap_or_else(|| panic!("{out}"));
        assert_eq!(l.width(), width, "{l}");
        assert!(
            l.contains('…') && l.ends_with(".4242.1764496800000000.zst"),
            "{l}"
        );
    }
    let out = rendered(&doc, Format::Text, 200, false);
    assert!(out.contains(&format!("\n  example {LONG_ID}\n")), "{out}");
}

#[test]
fn text_of_an_empty_run() {
    let doc = TriageDoc {
        schema_version: 1,
        signature_version: 1,
        summary: Default::default(),
        buckets: vec![],
        incidents: vec![],
        cores: vec![],
    };
    let out = rendered(&doc, Format::Text, 80, false);
    assert_eq!(
        out,
        "0 inputs: 0 analysed (0 cached), 0 failed, 0 skipped; 0 buckets, 0 incidents\n\nNo buckets: no core was analysed.\n"
    );
}

// ---------------------------------------------------------------- markdown

/// Splits a markdown table row on its unescaped pipes.
fn md_cells(row: &str) -> Vec<String> {
    let inner = row
        .strip_prefix('|')
        .and_then(|r| r.strip_suffix('|'))
        .unwrap_or_else(|| panic!("not a table row: {row}"));
    let mut cells = vec![String::new()];
    let mut prev = ' ';
    for c in inner.chars() {
        if c == '|' && prev != '\\' {
            cells.push(String::new());
        } else if let Some(last) = cells.last_mut() {
            last.push(c);
        }
        prev = c;
    }
    cells.into_iter().map(|c| c.trim().to_string()).collect()
}

fn md_table(out: &str, heading: &str) -> Vec<Vec<String>> {
    let rows: Vec<Vec<String>> = out
        .lines()
        .skip_while(|l| !l.starts_with(heading))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(md_cells)
        .collect();
    assert!(rows.len() >= 2, "no table under {heading}:\n{out}");
    let n = rows[0].len();
    for r in &rows {
        assert_eq!(r.len(), n, "row with {} cells, header {n}: {r:?}", r.len());
    }
    rows[2..].to_vec()
}

#[test]
fn markdown_tables() {
    let doc = doc();
    let out = rendered(&doc, Format::Markdown, 0, false);
    assert!(out.contains(
        "\n16 inputs: 7 analysed (1 cached), 1 failed, 8 skipped; 4 buckets, 1 incident\n"
    ));
    let buckets = md_table(&out, "### Buckets");
    let ids: Vec<&str> = buckets.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, ORDER.map(|id| format!("`{id}`")));
    assert_eq!(
        buckets[0],
        [
            format!("`{A}`"),
            "`abandoned-lock`".into(),
            "error".into(),
            "3".into(),
            "2026-11-30T10:00:00Z".into(),
            "2026-12-01T10:00:00Z".into(),
            "`fleet/core.app.1000.b0.4242.1764496800000000.zst`".into(),
            MESSAGE_A.replace('_', "\\_"),
        ]
    );
    let d = &buckets[3];
    assert_eq!(d[1], "-");
    assert_eq!(d[6], "`evil/<script>alert(1)</script>\\|core,\"x\"`");
    assert_eq!(
        d[7],
        "killed by SIGSEGV \\<b\\>bold\\</b\\> \\| \"quoted\", with a comma and a new line"
    );
    let inc = md_table(&out, "### Incidents");
    assert_eq!(inc.len(), 1);
    assert_eq!(
        inc[0][0],
        "`bundles/incident-42.tar.zst!incident-42/core`<br>`fleet/core.app.1000.b0.4242.1764496800000000.zst`"
    );
    assert_eq!(inc[0][1], "`0x7f3a2c000040`");
    let failed = md_table(&out, "### Failed (1)");
    assert_eq!(
        failed,
        [vec![
            "`fleet/truncated.core`".to_string(),
            FAILED_REASON.replace('_', "\\_")
        ]]
    );
    let skipped = md_table(&out, "### Skipped (8)");
    assert_eq!(skipped.len(), 5);
    assert_eq!(
        skipped[4],
        [
            "4 inputs: `junk/a.bin`, `junk/b.bin`, `junk/c.bin`, … and 1 more".to_string(),
            SKIP_MANY.to_string()
        ]
    );
    assert_eq!(skipped[3][0], "`fleet/core.\\u{1b}[2Jwipe.0.b0.1.1`");
    assert!(!out.contains('\x1b'));
}

// ---------------------------------------------------------------- csv

#[test]
fn csv_round_trips_every_record() {
    let doc = doc();
    let out = rendered(&doc, Format::Csv, 0, false);
    let mut rd = csv::Reader::from_reader(out.as_bytes());
    let header: Vec<String> = rd.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(
        header,
        [
            "id",
            "source",
            "status",
            "reason",
            "cached",
            "pid",
            "executable",
            "binary",
            "signal",
            "timestamp",
            "signature",
            "bucket",
            "codes",
            "peers"
        ]
    );
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), doc.cores.len());
    let json_name = |v: serde_json::Value| v.as_str().unwrap().to_string();
    for (row, c) in rows.iter().zip(&doc.cores) {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let num = |v: Option<u32>| v.map(|n| n.to_string()).unwrap_or_default();
        let expected = [
            c.id.clone(),
            json_name(serde_json::to_value(c.source).unwrap()),
            json_name(serde_json::to_value(c.status).unwrap()),
            opt(&c.reason),
            c.cached.to_string(),
            num(c.pid),
            opt(&c.executable),
            opt(&c.binary),
            num(c.signal),
            opt(&c.timestamp),
            opt(&c.signature),
            opt(&c.bucket),
            c.findings
                .iter()
                .map(|f| f.code.as_str())
                .collect::<Vec<_>>()
                .join(";"),
            c.peers.join(";"),
        ];
        assert_eq!(row.iter().collect::<Vec<_>>(), expected, "record {}", c.id);
    }
    // Spot checks that the expectation above is not built the same wrong way.
    assert_eq!(&rows[0][1], "systemd-coredump");
    assert_eq!(&rows[0][12], "abandoned-lock;waiters-on-dead-owner");
    assert_eq!(&rows[0][13], "bundles/incident-42.tar.zst!incident-42/core");
    assert_eq!(&rows[13][0], HOSTILE_ID);
    assert_eq!(&rows[13][12], "");
    assert_eq!(&rows[12][2], "failed");
    assert_eq!(&rows[12][3], FAILED_REASON);
    assert_eq!(&rows[14][4], "true");
    assert_eq!(
        rows.iter().filter(|r| &r[2] == "skipped").count() as u64,
        doc.summary.skipped
    );
}

// ---------------------------------------------------------------- html

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

#[test]
fn html_is_self_contained_and_escapes_everything() {
    let doc = doc();
    let out = rendered(&doc, Format::Html, 0, false);
    let page = Html::parse_document(&out);
    assert!(page.errors.is_empty(), "parse errors: {:?}", page.errors);
    // No script, no external resource, whatever the data says.
    assert_eq!(page.select(&sel("script")).count(), 0);
    assert_eq!(
        page.select(&sel("img, link, iframe, object, embed"))
            .count(),
        0
    );
    for el in page.select(&sel("[src], [href]")) {
        for attr in ["src", "href"] {
            if let Some(v) = el.value().attr(attr) {
                assert!(v.starts_with('#'), "{attr}={v}");
            }
        }
    }
    assert!(out.contains("Content-Security-Policy"));
    // The hostile strings are text.
    let text: String = page.root_element().text().collect();
    assert!(text.contains(HOSTILE_ID));
    assert!(text.contains("<img src=x onerror=alert(2)>"));
    assert!(text.contains("</p><script>alert(3)</script>"));
    assert!(!text.contains('\x1b') && text.contains("core.\\u{1b}[2Jwipe"));
    assert!(!out.contains("<script"));
}

#[test]
fn html_bucket_table_and_details() {
    let doc = doc();
    let page = Html::parse_document(&rendered(&doc, Format::Html, 0, false));
    let rows: Vec<_> = page
        .select(&sel("table#buckets > tbody > tr.bucket"))
        .collect();
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            let count = r.select(&sel("td.count")).next().unwrap().text().collect();
            (r.value().attr("data-bucket").unwrap().to_string(), count)
        })
        .collect();
    let want: Vec<(String, String)> = ORDER
        .iter()
        .zip(COUNTS)
        .map(|(id, n)| (id.to_string(), n.to_string()))
        .collect();
    assert_eq!(got, want);
    let cells: Vec<String> = rows[0]
        .select(&sel("td"))
        .map(|td| td.text().collect::<String>())
        .collect();
    assert_eq!(
        cells,
        [
            A.to_string(),
            "abandoned-lock".into(),
            "error".into(),
            "3".into(),
            "2026-11-30T10:00:00Z".into(),
            "2026-12-01T10:00:00Z".into(),
            format!("fleet/core.app.1000.b0.4242.1764496800000000.zst{MESSAGE_A}"),
        ]
    );
    let example: String = rows[3]
        .select(&sel("td.example code"))
        .next()
        .unwrap()
        .text()
        .collect();
    assert_eq!(example, HOSTILE_ID);
    // Each bucket's section: evidence and fix.
    let a = page
        .select(&sel("section#bucket-a1b2c3d4e5f6"))
        .next()
        .unwrap();
    let ev: Vec<String> = a
        .select(&sel("ul.evidence li"))
        .map(|l| l.text().collect())
        .collect();
    assert_eq!(ev, doc.buckets[2].example.evidence);
    let fix: String = a.select(&sel("p.fix")).next().unwrap().text().collect();
    assert_eq!(fix, "Unlock on every exit path; consider robust mutexes");
    assert_eq!(page.select(&sel("section.bucket-detail")).count(), 4);
    // Summary, incidents, failed, skipped.
    let sum: Vec<(String, String)> = page
        .select(&sel("#summary dd"))
        .map(|d| {
            (
                d.value().attr("data-key").unwrap().to_string(),
                d.text().collect(),
            )
        })
        .collect();
    assert_eq!(
        sum,
        [
            ("inputs", "16"),
            ("analysed", "7"),
            ("cached", "1"),
            ("failed", "1"),
            ("skipped", "8"),
            ("buckets", "4"),
            ("incidents", "1")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(page.select(&sel("#incidents tr.incident")).count(), 1);
    assert_eq!(page.select(&sel("#failed tr.failed")).count(), 1);
    let skipped: Vec<String> = page
        .select(&sel("#skipped tr.skipped"))
        .map(|r| r.value().attr("data-count").unwrap().to_string())
        .collect();
    assert_eq!(skipped, ["1", "1", "2", "4"]);
}

/// Counts per series and per column of the chart: `(bucket, bin, count)`.
fn chart(page: &Html) -> Vec<(String, String, u64)> {
    let mut v = Vec::new();
    for g in page.select(&sel("svg#timeline g.series")) {
        let id = g.value().attr("data-bucket").unwrap().to_string();
        for r in g.select(&sel("rect.bar")) {
            v.push((
                id.clone(),
                r.value().attr("data-bin").unwrap().to_string(),
                r.value().attr("data-count").unwrap().parse().unwrap(),
            ));
        }
    }
    v
}

#[test]
fn html_chart_counts_cores_per_bucket_and_time() {
    let doc = doc();
    let page = Html::parse_document(&rendered(&doc, Format::Html, 0, false));
    let svg = page.select(&sel("svg#timeline")).next().expect("chart");
    // Span 2026-11-30T10:00Z .. 2026-12-01T10:00Z: 25 hourly bins.
    assert_eq!(svg.value().attr("data-unit"), Some("hour"));
    assert_eq!(svg.value().attr("data-bins"), Some("25"));
    assert_eq!(svg.value().attr("data-unknown"), Some("true"));
    let series: Vec<&str> = page
        .select(&sel("svg#timeline g.series"))
        .map(|g| g.value().attr("data-bucket").unwrap())
        .collect();
    assert_eq!(series, ORDER);
    let legend: Vec<&str> = page
        .select(&sel("svg#timeline g.legend-item"))
        .map(|g| g.value().attr("data-bucket").unwrap())
        .collect();
    assert_eq!(legend, ORDER);
    let bars = chart(&page);
    let want = [
        (A, "2026-11-30 10:00", 1),
        (A, "2026-11-30 11:00", 1),
        (A, "2026-12-01 10:00", 1),
        (B, "2026-11-30 12:00", 1),
        // 09:30+01:00 is 08:30 UTC.
        (B, "2026-12-01 08:00", 1),
        (C, "unknown time", 1),
        (D, "unknown time", 1),
    ]
    .map(|(a, b, n)| (a.to_string(), b.to_string(), n));
    assert_eq!(bars, want);
    // Every core with a bucket is drawn once.
    let total: u64 = bars.iter().map(|b| b.2).sum();
    assert_eq!(
        total,
        doc.cores
            .iter()
            .filter(|c| c.status == Status::Analysed && c.bucket.is_some())
            .count() as u64
    );
    // Stacked: D's bar sits on C's in the unknown column.
    let rect = |b: &str| {
        page.select(&sel(&format!(
            r#"svg#timeline g.series[data-bucket="{b}"] rect[data-bin="unknown time"]"#
        )))
        .next()
        .map(|r| {
            let f = |a: &str| r.value().attr(a).unwrap().parse::<f64>().unwrap();
            (f("x"), f("y"), f("height"))
        })
        .unwrap()
    };
    let (cx, cy, ch) = rect(C);
    let (dx, dy, dh) = rect(D);
    assert_eq!(cx, dx);
    assert!(ch > 0.0 && (dh - ch).abs() < 0.01);
    assert!(
        (dy + dh - cy).abs() < 0.01,
        "D on top of C: {dy}+{dh} vs {cy}"
    );
}

#[test]
fn html_chart_units_and_many_buckets() {
    let mut doc = doc();
    // Timestamps over three years: 37 monthly bins.
    let stamps = [
        "2024-01-15T00:00:00Z",
        "2025-06-01T00:00:00Z",
        "2027-01-31T23:59:59Z",
    ];
    for (i, c) in doc
        .cores
        .iter_mut()
        .filter(|c| c.timestamp.is_some())
        .enumerate()
    {
        c.timestamp = Some(stamps[i % 3].into());
    }
    let page = Html::parse_document(&rendered(&doc, Format::Html, 0, false));
    let svg = page.select(&sel("svg#timeline")).next().unwrap();
    assert_eq!(svg.value().attr("data-unit"), Some("month"));
    assert_eq!(svg.value().attr("data-bins"), Some("37"));
    // An unreadable timestamp counts as unknown.
    doc.cores[0].timestamp = Some("yesterday".into());
    let bars = chart(&Html::parse_document(&rendered(
        &doc,
        Format::Html,
        0,
        false,
    )));
    assert!(bars.contains(&(A.to_string(), "unknown time".to_string(), 1)));

    // Twenty buckets: eleven series and `other`.
    let mut doc = triage_doc::doc();
    let template = doc.buckets[2].clone();
    let template_core = doc.cores[0].clone();
    for n in 0..16u64 {
        let id = format!("{n:012x}");
        let mut b = template.clone();
        b.id = id.clone();
        b.count = 1;
        b.cores = vec![format!("extra/{n}")];
        doc.buckets.push(b);
        let mut c = template_core.clone();
        c.id = format!("extra/{n}");
        c.bucket = Some(id);
        c.peers.clear();
        doc.cores.push(c);
    }
    let page = Html::parse_document(&rendered(&doc, Format::Html, 0, false));
    assert_eq!(page.select(&sel("table#buckets tr.bucket")).count(), 20);
    let series: Vec<&str> = page
        .select(&sel("svg#timeline g.series"))
        .map(|g| g.value().attr("data-bucket").unwrap())
        .collect();
    assert_eq!(series.len(), 12);
    assert_eq!(&series[..4], ORDER);
    assert_eq!(series[11], "other");
    let bars = chart(&page);
    let other: u64 = bars.iter().filter(|b| b.0 == "other").map(|b| b.2).sum();
    // Buckets 12..20 of the display order: 9 of the 16 one-core extras.
    assert_eq!(other, 9);
}

#[test]
fn html_without_buckets_has_no_chart() {
    let mut doc = doc();
    doc.buckets.clear();
    for c in &mut doc.cores {
        c.bucket = None;
    }
    let page = Html::parse_document(&rendered(&doc, Format::Html, 0, false));
    assert_eq!(page.select(&sel("svg#timeline")).count(), 0);
    assert_eq!(page.select(&sel("#timeline-empty")).count(), 1);
    assert_eq!(page.select(&sel("#no-buckets")).count(), 1);
}

// ---------------------------------------------------------------- errors

/// A writer that fails after `n` bytes.
struct Failing(usize);

impl Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0 == 0 {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"));
        }
        let n = buf.len().min(self.0);
        self.0 -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_errors_are_returned() {
    let doc = doc();
    for f in Format::ALL {
        for after in [0, 10, 500] {
            let e = render::render(&doc, f, &mut Failing(after), &Options::default())
                .expect_err(&format!("{f} after {after} bytes"));
            assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{f}: {e}");
        }
    }
}

#[test]
fn json_is_the_document() {
    let doc = doc();
    let out = rendered(&doc, Format::Json, 0, false);
    let back: TriageDoc = serde_json::from_str(&out).unwrap();
    assert_eq!(back, doc);
}
