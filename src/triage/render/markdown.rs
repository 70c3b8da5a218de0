//! `--format markdown`: the text output's content as GitHub markdown tables, for
//! pasting into a ticket.

use std::io::{self, Write};

use super::{
    GROUP_AT, GROUP_SHOWN, buckets_by_count, one_line, severity_name, skipped_groups, summary_line,
};
use crate::triage::model::{Status, TriageDoc};

/// Writes `doc` as markdown.
pub fn markdown<W: Write + ?Sized>(doc: &TriageDoc, w: &mut W) -> io::Result<()> {
    writeln!(w, "## mutexdiag triage\n")?;
    writeln!(w, "{}\n", text(&summary_line(doc)))?;

    let buckets = buckets_by_count(doc);
    writeln!(w, "### Buckets\n")?;
    if buckets.is_empty() {
        writeln!(w, "No buckets: no core was analysed.\n")?;
    } else {
        writeln!(
            w,
            "| bucket | code | severity | count | first seen | last seen | example core | message |"
        )?;
        writeln!(w, "|---|---|---|--:|---|---|---|---|")?;
        for b in buckets {
            writeln!(
                w,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                code(&b.id),
                b.code.as_deref().map_or_else(|| "-".to_string(), code),
                severity_name(b.severity),
                b.count,
                b.first_seen
                    .as_deref()
                    .map_or_else(|| "-".to_string(), text),
                b.last_seen.as_deref().map_or_else(|| "-".to_string(), text),
                code(&b.example.core),
                text(&b.example.message),
            )?;
        }
        writeln!(w)?;
    }

    if !doc.incidents.is_empty() {
        writeln!(w, "### Incidents\n")?;
        writeln!(w, "| cores | mutexes | why |")?;
        writeln!(w, "|---|---|---|")?;
        for i in &doc.incidents {
            writeln!(
                w,
                "| {} | {} | {} |",
                i.cores
                    .iter()
                    .map(|c| code(c))
                    .collect::<Vec<_>>()
                    .join("<br>"),
                if i.mutexes.is_empty() {
                    "-".to_string()
                } else {
                    i.mutexes
                        .iter()
                        .map(|m| code(m))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                text(&i.why),
            )?;
        }
        writeln!(w)?;
    }

    let failed: Vec<_> = doc
        .cores
        .iter()
        .filter(|c| c.status == Status::Failed)
        .collect();
    if !failed.is_empty() {
        writeln!(w, "### Failed ({})\n", failed.len())?;
        writeln!(w, "| input | reason |")?;
        writeln!(w, "|---|---|")?;
        for c in failed {
            writeln!(
                w,
                "| {} | {} |",
                code(&c.id),
                text(c.reason.as_deref().unwrap_or("no reason given"))
            )?;
        }
        writeln!(w)?;
    }

    let groups = skipped_groups(doc);
    if !groups.is_empty() {
        let n: usize = groups.iter().map(|g| g.ids.len()).sum();
        writeln!(w, "### Skipped ({n})\n")?;
        writeln!(w, "| input | reason |")?;
        writeln!(w, "|---|---|")?;
        for g in groups {
            if g.ids.len() < GROUP_AT {
                for id in g.ids {
                    writeln!(w, "| {} | {} |", code(id), text(g.reason))?;
                }
                continue;
            }
            let mut named: Vec<String> = g.ids.iter().take(GROUP_SHOWN).map(|i| code(i)).collect();
            if g.ids.len() > GROUP_SHOWN {
                named.push(format!("… and {} more", g.ids.len() - GROUP_SHOWN));
            }
            writeln!(
                w,
                "| {} inputs: {} | {} |",
                g.ids.len(),
                named.join(", "),
                text(g.reason)
            )?;
        }
        writeln!(w)?;
    }
    Ok(())
}

/// Prose in a table cell: on one line, `|` escaped for the table, and the
/// characters markdown would act on in the middle of a line backslash-escaped (so a
/// `<script>` or `[link](…)` from a crash file is shown, not interpreted).
pub(crate) fn text(s: &str) -> String {
    let s = one_line(s);
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '&' | '~'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An identifier (id, code, address) as a code span, whose content markdown does
/// not interpret: the fence is longer than any run of backticks inside, and `|` is
/// still escaped because GitHub splits table cells before reading code spans.
pub(crate) fn code(s: &str) -> String {
    let s = one_line(s);
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest + 1);
    let body = s.replace('|', "\\|");
    let pad = if body.starts_with('`') || body.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{body}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            text("a|b <x> [l](u) *e*"),
            "a\\|b \\<x\\> \\[l\\](u) \\*e\\*"
        );
        assert_eq!(text("line\nbreak"), "line break");
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("x`y"), "``x`y``");
        assert_eq!(code("`x"), "`` `x ``");
    }
}
