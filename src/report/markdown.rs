//! Markdown, for pasting into a bug report.

use super::model::{Report, Severity};

fn esc(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The report as a markdown document.
pub fn report(r: &Report) -> String {
    let mut out = String::new();
    let c = &r.core;
    out.push_str(&format!(
        "## mutexdiag: `{}`\n\n",
        c.path.rsplit('/').next().unwrap_or(&c.path)
    ));
    out.push_str(&format!(
        "- process: pid {} (ppid {}), `{}`\n- machine: {} / {:?} / {:?}, layout `{}`\n",
        c.pid.map_or("?".into(), |p| p.to_string()),
        c.ppid.map_or("?".into(), |p| p.to_string()),
        c.executable.as_deref().unwrap_or("?"),
        c.arch,
        c.os,
        c.libc,
        c.layout.as_deref().unwrap_or("none")
    ));
    if let Some(s) = &c.signal {
        out.push_str(&format!(
            "- signal: {} ({}){}\n",
            s.number,
            s.name.as_deref().unwrap_or("?"),
            s.address
                .map(|a| format!(", fault address `{a}`"))
                .unwrap_or_default()
        ));
    }
    out.push('\n');
    if r.findings.iter().all(|f| f.severity != Severity::Error) {
        out.push_str("**No lock error found.**\n\n");
    }
    for f in &r.findings {
        out.push_str(&format!(
            "### {} `{}`: {}\n\n{}\n\n",
            match f.severity {
                Severity::Error => "❌ error",
                Severity::Warning => "⚠️ warning",
                Severity::Note => "ℹ️ note",
            },
            f.code,
            f.title,
            f.message
        ));
        for e in &f.evidence {
            out.push_str(&format!("- {e}\n"));
        }
        out.push_str(&format!("\n**Fix:** {}\n\n", f.fix));
    }
    if !r.mutexes.is_empty() {
        out.push_str("### Mutexes\n\n| address | where | type | state | owner | waiters | found by |\n|---|---|---|---|---|---|---|\n");
        for m in &r.mutexes {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} | {} | {} |\n",
                m.address,
                esc(&match &m.symbol {
                    Some(s) => format!("`{s}` in {}", m.location),
                    None => m.location.clone(),
                }),
                m.mtype
                    .map_or("-".into(), |t| format!(
                        "{t:?}{}",
                        if m.pshared == Some(true) {
                            ", pshared"
                        } else {
                            ", private"
                        }
                    ))
                    .to_lowercase(),
                m.state
                    .map_or("-".into(), |s| format!("{s:?}").to_lowercase()),
                m.owner.tid.map_or_else(
                    || m.owner.class.to_string(),
                    |t| format!("{t} ({})", m.owner.class)
                ),
                m.waiters
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
                m.found_by.join(", ")
            ));
        }
        out.push('\n');
    }
    for w in &r.warnings {
        out.push_str(&format!("> warning: {}\n", esc(&w.message)));
    }
    out
}
