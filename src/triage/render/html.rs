//! `--format html`: one self-contained page (inline CSS and SVG, no script, no
//! external resource; a Content-Security-Policy forbids loading any) with the
//! summary, the bucket table, each bucket's example (evidence and fix), the chart
//! of cores per bucket over time, incidents, failed and skipped inputs.
//!
//! Stable hooks for tests and scripts: `#summary` (`dd[data-key]`), `#buckets`
//! (`tr.bucket[data-bucket]`, `td.count`), `#timeline` (`g.series[data-bucket]`),
//! `section.bucket-detail#bucket-ID`, `#incidents` (`tr.incident`), `#failed`
//! (`tr.failed`), `#skipped` (`tr.skipped[data-count]`).

use std::io::{self, Write};

use super::timeline::Timeline;
use super::{buckets_by_count, one_line, serde_name, severity_name, skipped_groups, summary_line};
use crate::triage::model::{Status, TriageDoc};

/// How many cores a bucket's section names before folding the rest.
const CORES_SHOWN: usize = 20;

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1d1d1d; max-width: 1400px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h4 { margin: 10px 0 4px; }
code { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 4px 0 8px; }
th, td { text-align: left; vertical-align: top; padding: 4px 10px; border-bottom: 1px solid #e4e4e4; }
th { background: #f4f4f4; }
td.count, th.count { text-align: right; font-variant-numeric: tabular-nums; }
td.id, td.code, td.severity, td.first-seen, td.last-seen, td.mutexes { white-space: nowrap; }
td.id code, td.code code, td.mutexes code { overflow-wrap: normal; }
figure { margin: 0; }
.message { color: #444; }
.sev { font-weight: 600; }
.sev-error { color: #b00020; }
.sev-warning { color: #a05a00; }
.sev-note { color: #00639b; }
#summary { display: flex; flex-wrap: wrap; gap: 8px 24px; margin: 8px 0; }
#summary div { min-width: 80px; }
#summary dt { font-size: 12px; color: #666; }
#summary dd { margin: 0; font-size: 20px; font-weight: 600; }
details { margin: 6px 0; }
summary { cursor: pointer; }
section.bucket-detail { border-left: 3px solid #ccc; padding: 2px 12px; margin: 10px 0; }
ul { margin: 4px 0; padding-left: 22px; }
footer { margin-top: 32px; color: #777; font-size: 12px; }
"#;

/// Writes `doc` as one HTML page.
pub fn html<W: Write + ?Sized>(doc: &TriageDoc, w: &mut W) -> io::Result<()> {
    let s = &doc.summary;
    let buckets = buckets_by_count(doc);
    writeln!(w, "<!DOCTYPE html>")?;
    writeln!(w, r#"<html lang="en"><head><meta charset="utf-8">"#)?;
    writeln!(
        w,
        r#"<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">"#
    )?;
    writeln!(
        w,
        r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#
    )?;
    writeln!(
        w,
        "<title>mutexdiag triage: {} inputs, {} buckets</title>",
        s.inputs, s.buckets
    )?;
    writeln!(w, "<style>{STYLE}</style></head><body>")?;
    writeln!(w, "<h1>mutexdiag triage</h1>")?;
    writeln!(w, r#"<p id="summary-line">{}</p>"#, esc(&summary_line(doc)))?;
    writeln!(w, r#"<dl id="summary">"#)?;
    for (key, n) in [
        ("inputs", s.inputs),
        ("analysed", s.analysed),
        ("cached", s.cached),
        ("failed", s.failed),
        ("skipped", s.skipped),
        ("buckets", s.buckets),
        ("incidents", s.incidents),
    ] {
        writeln!(
            w,
            r#"<div><dt>{key}</dt><dd data-key="{key}">{n}</dd></div>"#
        )?;
    }
    writeln!(w, "</dl>")?;

    // The bucket table.
    writeln!(w, "<h2>Buckets</h2>")?;
    if buckets.is_empty() {
        writeln!(
            w,
            r#"<p id="no-buckets">No buckets: no core was analysed.</p>"#
        )?;
    } else {
        writeln!(
            w,
            r#"<table id="buckets"><thead><tr><th>bucket</th><th>code</th><th>severity</th><th class="count">count</th><th>first seen</th><th>last seen</th><th>example core</th></tr></thead><tbody>"#
        )?;
        for b in &buckets {
            writeln!(
                w,
                r##"<tr class="bucket" data-bucket="{id}"><td class="id"><a href="#bucket-{id}"><code>{id}</code></a></td><td class="code"><code>{}</code></td><td class="severity">{}</td><td class="count">{}</td><td class="first-seen">{}</td><td class="last-seen">{}</td><td class="example"><code>{}</code><div class="message">{}</div></td></tr>"##,
                b.code.as_deref().map_or_else(|| "-".to_string(), esc),
                severity(b.severity),
                b.count,
                b.first_seen.as_deref().map_or_else(|| "-".to_string(), esc),
                b.last_seen.as_deref().map_or_else(|| "-".to_string(), esc),
                esc(&b.example.core),
                esc(&b.example.message),
                id = esc(&b.id),
            )?;
        }
        writeln!(w, "</tbody></table>")?;
    }

    // The chart.
    writeln!(w, "<h2>Cores per bucket over time</h2>")?;
    match Timeline::build(doc, &buckets) {
        Some(t) => {
            writeln!(w, r#"<figure id="timeline-figure">"#)?;
            t.svg(w)?;
            writeln!(
                w,
                "<figcaption>Analysed cores per bucket, by time of crash (UTC); cores with no known time in the last column.</figcaption></figure>"
            )?;
        }
        None => writeln!(
            w,
            r#"<p id="timeline-empty">No analysed core to chart.</p>"#
        )?,
    }

    // Each bucket's example.
    if !buckets.is_empty() {
        writeln!(w, "<h2>Examples, evidence and fixes</h2>")?;
    }
    for (i, b) in buckets.iter().enumerate() {
        let e = &b.example;
        writeln!(
            w,
            r#"<section class="bucket-detail" id="bucket-{id}" data-bucket="{id}"><details{}><summary><code>{id}</code> <code>{}</code> {} — {} {}</summary>"#,
            if i == 0 { " open" } else { "" },
            b.code
                .as_deref()
                .map_or_else(|| "no finding".to_string(), esc),
            severity(b.severity),
            b.count,
            if b.count == 1 { "core" } else { "cores" },
            id = esc(&b.id),
        )?;
        if let Some(t) = &e.title {
            writeln!(w, r#"<h3 class="title">{}</h3>"#, esc(t))?;
        }
        writeln!(w, r#"<p class="message">{}</p>"#, esc(&e.message))?;
        writeln!(
            w,
            r#"<p>Example core: <code class="core">{}</code><br>Signature: <code class="signature">{}</code></p>"#,
            esc(&e.core),
            esc(&b.signature)
        )?;
        writeln!(w, "<h4>Evidence</h4>")?;
        if e.evidence.is_empty() {
            writeln!(w, r#"<p class="evidence">None recorded.</p>"#)?;
        } else {
            writeln!(w, r#"<ul class="evidence">"#)?;
            for line in &e.evidence {
                writeln!(w, "<li>{}</li>", esc(line))?;
            }
            writeln!(w, "</ul>")?;
        }
        if let Some(f) = &e.fix {
            writeln!(w, r#"<h4>Fix</h4><p class="fix">{}</p>"#, esc(f))?;
        }
        writeln!(w, r#"<h4>Cores</h4><ul class="cores">"#)?;
        for c in b.cores.iter().take(CORES_SHOWN) {
            writeln!(w, "<li><code>{}</code></li>", esc(c))?;
        }
        writeln!(w, "</ul>")?;
        if b.cores.len() > CORES_SHOWN {
            writeln!(
                w,
                r#"<details class="more-cores"><summary>{} more</summary><ul class="cores">"#,
                b.cores.len() - CORES_SHOWN
            )?;
            for c in b.cores.iter().skip(CORES_SHOWN) {
                writeln!(w, "<li><code>{}</code></li>", esc(c))?;
            }
            writeln!(w, "</ul></details>")?;
        }
        writeln!(w, "</details></section>")?;
    }

    if !doc.incidents.is_empty() {
        writeln!(w, "<h2>Incidents</h2>")?;
        writeln!(
            w,
            r#"<table id="incidents"><thead><tr><th>cores</th><th>mutexes</th><th>why</th></tr></thead><tbody>"#
        )?;
        for inc in &doc.incidents {
            write!(w, r#"<tr class="incident"><td><ul class="cores">"#)?;
            for c in &inc.cores {
                write!(w, "<li><code>{}</code></li>", esc(c))?;
            }
            write!(w, r#"</ul></td><td class="mutexes">"#)?;
            let ms: Vec<String> = inc
                .mutexes
                .iter()
                .map(|m| format!("<code>{}</code>", esc(m)))
                .collect();
            writeln!(w, "{}</td><td>{}</td></tr>", ms.join(", "), esc(&inc.why))?;
        }
        writeln!(w, "</tbody></table>")?;
    }

    let failed: Vec<_> = doc
        .cores
        .iter()
        .filter(|c| c.status == Status::Failed)
        .collect();
    if !failed.is_empty() {
        writeln!(w, "<h2>Failed ({})</h2>", failed.len())?;
        writeln!(
            w,
            r#"<table id="failed"><thead><tr><th>input</th><th>source</th><th>reason</th></tr></thead><tbody>"#
        )?;
        for c in failed {
            writeln!(
                w,
                r#"<tr class="failed"><td><code>{}</code></td><td>{}</td><td>{}</td></tr>"#,
                esc(&c.id),
                esc(&serde_name(&c.source)),
                esc(c.reason.as_deref().unwrap_or("no reason given"))
            )?;
        }
        writeln!(w, "</tbody></table>")?;
    }

    let groups = skipped_groups(doc);
    if !groups.is_empty() {
        let n: usize = groups.iter().map(|g| g.ids.len()).sum();
        writeln!(w, "<h2>Skipped ({n})</h2>")?;
        writeln!(
            w,
            r#"<table id="skipped"><thead><tr><th>reason</th><th class="count">inputs</th><th>which</th></tr></thead><tbody>"#
        )?;
        for g in groups {
            write!(
                w,
                r#"<tr class="skipped" data-count="{}"><td>{}</td><td class="count">{}</td><td>"#,
                g.ids.len(),
                esc(g.reason),
                g.ids.len()
            )?;
            let list = |w: &mut W, ids: &[&str]| -> io::Result<()> {
                write!(w, "<ul>")?;
                for id in ids {
                    write!(w, "<li><code>{}</code></li>", esc(id))?;
                }
                write!(w, "</ul>")
            };
            if g.ids.len() <= CORES_SHOWN {
                list(w, &g.ids)?;
            } else {
                write!(w, "<details><summary>{} inputs</summary>", g.ids.len())?;
                list(w, &g.ids)?;
                write!(w, "</details>")?;
            }
            writeln!(w, "</td></tr>")?;
        }
        writeln!(w, "</tbody></table>")?;
    }

    writeln!(
        w,
        "<footer>mutexdiag {} · schema_version {} · signature_version {}</footer>",
        env!("CARGO_PKG_VERSION"),
        doc.schema_version,
        doc.signature_version
    )?;
    writeln!(w, "</body></html>")
}

fn severity(s: Option<crate::triage::model::Severity>) -> String {
    let name = severity_name(s);
    format!(r#"<span class="sev sev-{name}">{name}</span>"#)
}

/// `s` escaped for HTML text and quoted attributes, on one line, control and bidi
/// characters shown as escapes.
pub(crate) fn esc(s: &str) -> String {
    let s = one_line(s);
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc(r#"<script>alert("x&y")</script>'"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;"
        );
        assert_eq!(esc("a\nb\x1b"), "a b\\u{1b}");
    }
}
