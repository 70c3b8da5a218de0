//! `--format text`: aligned plain lines fitted to a width.
//!
//! Every line goes through [`Out::line`], which measures it in terminal columns
//! (`unicode-width`, colour codes not counted) and cuts it with `…` if it is still
//! too wide, so no line is ever wider than asked. Before that, the layout avoids
//! cutting: prose is wrapped at spaces, a word longer than a line (a path) is
//! shortened in its middle, and the bucket table turns into stacked lines when its
//! columns do not fit.

use std::borrow::Cow;
use std::io::{self, Write};

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::{
    GROUP_AT, GROUP_SHOWN, buckets_by_count, one_line, severity_name, skipped_groups, summary_line,
    summary_parts,
};
use crate::triage::model::{Bucket, Severity, Status, TriageDoc};

/// Writes `doc` as text no wider than `width` columns; `color` paints severities
/// with ANSI codes (which take no columns).
pub fn text<W: Write + ?Sized>(
    doc: &TriageDoc,
    w: &mut W,
    width: usize,
    color: bool,
) -> io::Result<()> {
    let mut out = Out { w, width, color };
    let line = summary_line(doc);
    if line.width() <= width {
        out.line(&[(&line, None)])?;
    } else {
        let (a, b) = summary_parts(doc);
        out.wrapped(&format!("{a};"), "", "  ", None)?;
        out.wrapped(&b, "  ", "  ", None)?;
    }

    let buckets = buckets_by_count(doc);
    out.blank()?;
    if buckets.is_empty() {
        out.line(&[("No buckets: no core was analysed.", None)])?;
    } else {
        out.line(&[(
            &format!("Buckets ({}), by number of cores", buckets.len()),
            BOLD,
        )])?;
        bucket_table(&mut out, &buckets)?;
    }

    if !doc.incidents.is_empty() {
        out.blank()?;
        out.line(&[(&format!("Incidents ({})", doc.incidents.len()), BOLD)])?;
        for (i, inc) in doc.incidents.iter().enumerate() {
            let head = format!(
                "{} {}; {} {}",
                inc.cores.len(),
                if inc.cores.len() == 1 {
                    "core"
                } else {
                    "cores"
                },
                if inc.mutexes.len() == 1 {
                    "mutex"
                } else {
                    "mutexes"
                },
                if inc.mutexes.is_empty() {
                    "-".to_string()
                } else {
                    inc.mutexes.join(", ")
                }
            );
            let first = format!("  #{:<3} ", i + 1);
            let rest = " ".repeat(first.len());
            out.wrapped(&head, &first, &rest, None)?;
            out.wrapped(&inc.why, &rest, &rest, None)?;
            for c in &inc.cores {
                out.id_line(&format!("{rest}- "), c)?;
            }
        }
    }

    let failed: Vec<_> = doc
        .cores
        .iter()
        .filter(|c| c.status == Status::Failed)
        .collect();
    if !failed.is_empty() {
        out.blank()?;
        out.line(&[(&format!("Failed ({})", failed.len()), BOLD)])?;
        for c in failed {
            out.id_reason(&c.id, c.reason.as_deref().unwrap_or("no reason given"))?;
        }
    }

    let groups = skipped_groups(doc);
    if !groups.is_empty() {
        let n: usize = groups.iter().map(|g| g.ids.len()).sum();
        out.blank()?;
        out.line(&[(&format!("Skipped ({n})"), BOLD)])?;
        for g in groups {
            if g.ids.len() < GROUP_AT {
                for id in g.ids {
                    out.id_reason(id, g.reason)?;
                }
                continue;
            }
            out.wrapped(
                &format!("{} inputs: {}", g.ids.len(), g.reason),
                "  ",
                "    ",
                None,
            )?;
            for id in g.ids.iter().take(GROUP_SHOWN) {
                out.id_line("    - ", id)?;
            }
            if g.ids.len() > GROUP_SHOWN {
                out.line(&[(
                    &format!("    … and {} more", g.ids.len() - GROUP_SHOWN),
                    None,
                )])?;
            }
        }
    }
    Ok(())
}

const BOLD: Option<&str> = Some("1");

fn severity_style(s: Option<Severity>) -> Option<&'static str> {
    match s {
        Some(Severity::Error) => Some("1;31"),
        Some(Severity::Warning) => Some("1;33"),
        Some(Severity::Note) => Some("1;36"),
        None => None,
    }
}

/// The widest a bucket id or a timestamp is shown (ids are 12 hex digits and RFC
/// 3339 times at most 35 columns; anything longer is not what the model promises).
const ID_MAX: usize = 16;
const TIME_MAX: usize = 35;
/// The narrowest the code column may get before the table becomes stacked lines.
const CODE_MIN: usize = 14;
const GAP: &str = "  ";

fn bucket_table<W: Write + ?Sized>(out: &mut Out<'_, W>, buckets: &[&Bucket]) -> io::Result<()> {
    let time = |t: &Option<String>| -> String {
        t.as_deref()
            .map_or_else(|| "-".to_string(), |t| one_line(t).into_owned())
    };
    let rows: Vec<[String; 6]> = buckets
        .iter()
        .map(|b| {
            [
                one_line(&b.id).into_owned(),
                b.code
                    .as_deref()
                    .map_or_else(|| "-".to_string(), |c| one_line(c).into_owned()),
                severity_name(b.severity).to_string(),
                b.count.to_string(),
                time(&b.first_seen),
                time(&b.last_seen),
            ]
        })
        .collect();
    let header = [
        "BUCKET",
        "CODE",
        "SEVERITY",
        "COUNT",
        "FIRST SEEN",
        "LAST SEEN",
    ];
    let caps = [ID_MAX, usize::MAX, 8, 20, TIME_MAX, TIME_MAX];
    let mut widths = [0usize; 6];
    for (i, w) in widths.iter_mut().enumerate() {
        *w = rows
            .iter()
            .map(|r| r[i].width())
            .chain([header[i].width()])
            .max()
            .unwrap_or(0)
            .min(caps[i]);
    }
    let fixed: usize = widths
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, w)| w)
        .sum::<usize>()
        + GAP.len() * 5;
    let wide = fixed + widths[1].min(CODE_MIN) <= out.width;
    if wide {
        widths[1] = widths[1].min(out.width - fixed);
        let cell = |s: &str, i: usize| -> String {
            let s = if i == 0 {
                trunc_middle(s, widths[i])
            } else {
                trunc_end(s, widths[i])
            };
            if i == 3 {
                pad_left(&s, widths[i])
            } else {
                pad(&s, widths[i])
            }
        };
        let head: Vec<String> = (0..6).map(|i| cell(header[i], i)).collect();
        out.line(&[(&head.join(GAP), None)])?;
        for (i, (b, r)) in buckets.iter().zip(&rows).enumerate() {
            if i > 0 {
                out.blank()?;
            }
            let before = [cell(&r[0], 0), cell(&r[1], 1)].join(GAP);
            let after = [cell(&r[3], 3), cell(&r[4], 4), cell(&r[5], 5)].join(GAP);
            out.line(&[
                (&format!("{before}{GAP}"), None),
                (&r[2], severity_style(b.severity)),
                (
                    &format!(
                        "{}{GAP}{after}",
                        pad("", widths[2].saturating_sub(r[2].width()))
                    ),
                    None,
                ),
            ])?;
            example(out, b)?;
        }
    } else {
        for (i, (b, r)) in buckets.iter().zip(&rows).enumerate() {
            if i > 0 {
                out.blank()?;
            }
            out.line(&[
                (&format!("{}{GAP}", trunc_middle(&r[0], ID_MAX)), None),
                (&r[2], severity_style(b.severity)),
                (
                    &format!(
                        "{GAP}{} {}",
                        b.count,
                        if b.count == 1 { "core" } else { "cores" }
                    ),
                    None,
                ),
            ])?;
            match &b.code {
                Some(_) => out.id_line("  ", &r[1])?,
                None => out.line(&[("  no finding", None)])?,
            }
            let seen = match (&b.first_seen, &b.last_seen) {
                (None, None) => vec!["  seen: time unknown".to_string()],
                (f, l) if f == l => vec![format!("  seen {}", r[4])],
                _ => {
                    let one = format!("  seen {} – {}", r[4], r[5]);
                    if one.width() <= out.width {
                        vec![one]
                    } else {
                        vec![format!("  first {}", r[4]), format!("  last  {}", r[5])]
                    }
                }
            };
            for s in seen {
                out.line(&[(&s, None)])?;
            }
            example(out, b)?;
        }
    }
    Ok(())
}

/// A bucket's example core and its message.
fn example<W: Write + ?Sized>(out: &mut Out<'_, W>, b: &Bucket) -> io::Result<()> {
    out.id_line("  example ", &b.example.core)?;
    out.wrapped(&b.example.message, "    ", "    ", None)
}

struct Out<'w, W: Write + ?Sized> {
    w: &'w mut W,
    width: usize,
    color: bool,
}

impl<W: Write + ?Sized> Out<'_, W> {
    fn blank(&mut self) -> io::Result<()> {
        writeln!(self.w)
    }

    /// One line made of spans with an optional ANSI style each, cut to the width
    /// (trailing spaces dropped).
    fn line(&mut self, spans: &[(&str, Option<&str>)]) -> io::Result<()> {
        let mut budget = self.width;
        let spans: Vec<(Cow<'_, str>, Option<&str>)> =
            spans.iter().map(|(s, st)| (one_line(s), *st)).collect();
        let total: usize = spans.iter().map(|(s, _)| s.width()).sum();
        let mut parts: Vec<(Cow<'_, str>, Option<&str>)> = Vec::new();
        let mut cut = false;
        for (s, style) in spans {
            if cut {
                break;
            }
            let w = s.width();
            if total > self.width && w > budget {
                parts.push((Cow::Owned(trunc_end(&s, budget).into_owned()), style));
                cut = true;
            } else {
                budget -= w;
                parts.push((s, style));
            }
        }
        // Trailing spaces are not content.
        while let Some((s, _)) = parts.last_mut() {
            let t = s.trim_end_matches(' ');
            if t.is_empty() {
                parts.pop();
                continue;
            }
            if t.len() != s.len() {
                *s = Cow::Owned(t.to_string());
            }
            break;
        }
        for (s, style) in parts {
            match style {
                Some(code) if self.color => write!(self.w, "\x1b[{code}m{s}\x1b[0m")?,
                _ => self.w.write_all(s.as_bytes())?,
            }
        }
        writeln!(self.w)
    }

    /// Prose wrapped at spaces: the first line after `first`, the others after
    /// `rest`; a word too long for a line is shortened in its middle.
    fn wrapped(
        &mut self,
        text: &str,
        first: &str,
        rest: &str,
        style: Option<&str>,
    ) -> io::Result<()> {
        for l in wrap(&one_line(text), self.width, first, rest) {
            self.line(&[(&l, style)])?;
        }
        Ok(())
    }

    /// `prefix` and an input's id (a path), shortened in its middle to fit.
    fn id_line(&mut self, prefix: &str, id: &str) -> io::Result<()> {
        let room = self.width.saturating_sub(prefix.width());
        let id = trunc_middle(&one_line(id), room).into_owned();
        self.line(&[(&format!("{prefix}{id}"), None)])
    }

    /// `  id: reason` on one line when it fits, else the id on its line and the
    /// reason wrapped under it.
    fn id_reason(&mut self, id: &str, reason: &str) -> io::Result<()> {
        let id = one_line(id);
        let reason = one_line(reason);
        let one = format!("  {id}: {reason}");
        if one.width() <= self.width {
            return self.line(&[(&one, None)]);
        }
        let room = self.width.saturating_sub(3);
        self.line(&[(&format!("  {}:", trunc_middle(&id, room)), None)])?;
        self.wrapped(&reason, "    ", "    ", None)
    }
}

/// Word-wraps `text` into lines of at most `width` columns, prefixes included.
pub(crate) fn wrap(text: &str, width: usize, first: &str, rest: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let prefix = if lines.is_empty() { first } else { rest };
        let room = width.saturating_sub(prefix.width()).max(1);
        let word = trunc_middle(word, room);
        let need = if empty {
            word.width()
        } else {
            1 + word.width()
        };
        if !empty && line.width() + need > width {
            lines.push(std::mem::replace(&mut line, rest.to_string()));
            // The word is measured again against the continuation prefix.
            let room = width.saturating_sub(rest.width()).max(1);
            line.push_str(&trunc_middle(&word, room));
            empty = false;
            continue;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(&word);
        empty = false;
    }
    if !empty || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// `s` cut at the end to `w` columns, with `…` when cut.
pub(crate) fn trunc_end(s: &str, w: usize) -> Cow<'_, str> {
    if s.width() <= w {
        return Cow::Borrowed(s);
    }
    if w == 0 {
        return Cow::Borrowed("");
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if used + cw > w - 1 {
            break;
        }
        out.push(c);
        used += cw;
    }
    out.push('…');
    Cow::Owned(out)
}

/// `s` cut in the middle to `w` columns (`fleet/core.app…0000.zst`): the start and
/// the end of a path say more than its middle.
pub(crate) fn trunc_middle(s: &str, w: usize) -> Cow<'_, str> {
    if s.width() <= w {
        return Cow::Borrowed(s);
    }
    if w < 8 {
        return trunc_end(s, w);
    }
    let keep = w - 1;
    let head_w = keep / 3;
    let tail_w = keep - head_w;
    let mut head = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if used + cw > head_w {
            break;
        }
        head.push(c);
        used += cw;
    }
    let mut tail: Vec<char> = Vec::new();
    let mut used = 0;
    for c in s.chars().rev() {
        let cw = c.width().unwrap_or(0);
        if used + cw > tail_w {
            break;
        }
        tail.push(c);
        used += cw;
    }
    head.push('…');
    head.extend(tail.into_iter().rev());
    Cow::Owned(head)
}

fn pad(s: &str, w: usize) -> String {
    format!("{s}{}", " ".repeat(w.saturating_sub(s.width())))
}

fn pad_left(s: &str, w: usize) -> String {
    format!("{}{s}", " ".repeat(w.saturating_sub(s.width())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_fits_and_marks() {
        assert_eq!(trunc_end("abcdef", 6), "abcdef");
        assert_eq!(trunc_end("abcdef", 4), "abc…");
        assert_eq!(trunc_end("abcdef", 0), "");
        assert_eq!(trunc_middle("fleet/core.app.1000.zst", 12), "fle…1000.zst");
        // Double-width characters count twice.
        assert_eq!(trunc_end("核心文件", 5), "核心…");
        assert!(trunc_middle("核心文件核心文件核心文件", 9).width() <= 9);
    }

    #[test]
    fn wrap_keeps_words_and_width() {
        let l = wrap("the owner thread 4242 died holding it", 16, "  ", "    ");
        assert_eq!(
            l,
            vec![
                "  the owner",
                "    thread 4242",
                "    died holding",
                "    it"
            ]
        );
        let l = wrap(
            "see /a/very/long/path/that/does/not/fit/anywhere ok",
            20,
            "",
            "",
        );
        assert!(l.iter().all(|l| l.width() <= 20), "{l:?}");
        assert_eq!(l[0], "see");
        assert!(l[1].contains('…') && l[1].starts_with("/a/") && l[1].ends_with("anywhere"));
        assert_eq!(wrap("", 10, "  ", "  "), vec!["  "]);
    }
}
