//! The `html` triage output in a real browser: headless Chromium (Debian's
//! `chromium` package, installed by `.ci/run`) loads the page from a file, and the
//! DOM it dumps after parsing must hold the bucket table with the right rows, the
//! chart with one bar group per bucket, and the hostile core id as text; a
//! screenshot of the page must be written and not be blank.
//!
//! Skips, saying so, when no Chromium is installed.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mutexdiag::triage::render::{self, Format, Options};
use scraper::{Html, Selector};
use support::triage_doc::*;

mod support;

/// Chromium's executable on `PATH`.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// Runs headless Chromium with `args` on `url`, under a time limit; returns its
/// standard output.
fn run_chromium(bin: &Path, dir: &Path, args: &[&str], url: &str) -> String {
    let out_path = dir.join("chromium.out");
    let err_path = dir.join("chromium.err");
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("stdout file"))
        .stderr(File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for chromium") {
            break s;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium {args:?} still running after 120 s; stderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(status.success(), "chromium {args:?}: {status}\n{stderr}");
    std::fs::read_to_string(&out_path).expect("chromium output")
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

#[test]
fn html_renders_in_headless_chromium() {
    let Some(bin) = chromium() else {
        support::skip(
            "html_renders_in_headless_chromium",
            "no chromium on PATH (apt-get install chromium)",
        );
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let page_path = dir.path().join("triage.html");
    let doc = doc();
    let mut f = File::create(&page_path).expect("page");
    render::render(&doc, Format::Html, &mut f, &Options::default()).expect("render");
    drop(f);
    let url = format!("file://{}", page_path.display());

    let dom = run_chromium(&bin, dir.path(), &["--dump-dom"], &url);
    let page = Html::parse_document(&dom);
    // What Chromium built: the bucket table, with exactly the buckets, by count.
    let rows: Vec<(String, String)> = page
        .select(&sel("table#buckets > tbody > tr.bucket"))
        .map(|r| {
            (
                r.select(&sel("td.id")).next().unwrap().text().collect(),
                r.select(&sel("td.count")).next().unwrap().text().collect(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = ORDER
        .iter()
        .zip(COUNTS)
        .map(|(id, n)| (id.to_string(), n.to_string()))
        .collect();
    assert_eq!(rows, want, "bucket rows in Chromium's DOM:\n{dom}");
    // The chart: one bar group per bucket, bars in them, a legend entry each.
    let series: Vec<(String, usize)> = page
        .select(&sel("svg#timeline g.series"))
        .map(|g| {
            (
                g.value().attr("data-bucket").unwrap().to_string(),
                g.select(&sel("rect.bar")).count(),
            )
        })
        .collect();
    assert_eq!(
        series,
        [(A, 3), (B, 2), (C, 1), (D, 1)].map(|(id, n)| (id.to_string(), n)),
        "chart series in Chromium's DOM"
    );
    assert_eq!(page.select(&sel("svg#timeline g.legend-item")).count(), 4);
    // The hostile id is text in its cell, and no script element exists.
    assert_eq!(page.select(&sel("script")).count(), 0, "{dom}");
    let example: String = page
        .select(&sel(
            r#"tr.bucket[data-bucket="d00dfeedd00d"] td.example code"#,
        ))
        .next()
        .expect("D's example cell")
        .text()
        .collect();
    assert_eq!(example, HOSTILE_ID);
    let evidence: Vec<String> = page
        .select(&sel(
            r#"section[data-bucket="d00dfeedd00d"] ul.evidence li"#,
        ))
        .map(|li| li.text().collect())
        .collect();
    assert_eq!(evidence, ["<img src=x onerror=alert(2)>"]);
    assert_eq!(page.select(&sel("img")).count(), 0);

    // A screenshot: a PNG of the asked size, with content (a blank page of this
    // size compresses to a few kilobytes).
    let shot = dir.path().join("triage.png");
    run_chromium(
        &bin,
        dir.path(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000",
        ],
        &url,
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be32 = |o: usize| u32::from_be_bytes([png[o], png[o + 1], png[o + 2], png[o + 3]]);
    assert_eq!((be32(16), be32(20)), (1280, 2000), "screenshot size");
    assert!(
        png.len() > 50_000,
        "screenshot of {} bytes: blank page?",
        png.len()
    );
    if let Some(keep) = std::env::var_os("MUTEXDIAG_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).expect("copy screenshot");
    }
    eprintln!(
        "chromium rendered {} ({} bytes of DOM, screenshot {} bytes)",
        page_path.display(),
        dom.len(),
        png.len()
    );
}
