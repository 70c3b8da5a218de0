//! Markdown, for pasting into a bug report.

use super::model::{
    FrameModel, MappingModel, MapsDoc, Report, Severity, ThreadModel, ThreadsDoc, WarningModel,
};

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
    if !r.threads.is_empty() {
        out.push_str("### Threads\n\n");
        threads_table(&mut out, &r.threads);
        backtraces(&mut out, &r.threads);
    }
    // The mappings that matter, as in the text report: those holding a reported
    // mutex, and every shared one.
    let involved: Vec<&MappingModel> = r
        .mappings
        .iter()
        .filter(|m| {
            m.shared
                || r.mutexes
                    .iter()
                    .any(|x| m.start.0 <= x.address.0 && x.address.0 < m.end.0)
        })
        .collect();
    if !involved.is_empty() {
        out.push_str("### Mappings involved\n\n");
        mappings_table(&mut out, involved.into_iter());
    }
    warnings(&mut out, &r.warnings);
    out
}

fn warnings(out: &mut String, ws: &[WarningModel]) {
    for w in ws {
        out.push_str(&format!("> warning: {}\n", esc(&w.message)));
    }
}

fn cell<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".into(), |v| format!("`{v}`"))
}

fn threads_table(out: &mut String, threads: &[ThreadModel]) {
    out.push_str("| tid | | pc | sp | thread pointer | blocked in |\n|---|---|---|---|---|---|\n");
    for t in threads {
        let blocked = match (&t.futex, &t.syscall) {
            (Some(f), _) => format!(
                "{}{} on `{}`",
                f.op,
                if f.private { " (private)" } else { " (shared)" },
                f.address
            ),
            (None, Some(s)) => s
                .name
                .clone()
                .unwrap_or_else(|| format!("syscall {}", s.number)),
            (None, None) => t.note.clone().unwrap_or_default(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            t.tid,
            if t.crashed { "crashed" } else { "" },
            cell(&t.pc),
            cell(&t.sp),
            cell(&t.thread_pointer),
            esc(&blocked)
        ));
    }
    out.push('\n');
}

fn frame(i: usize, f: &FrameModel) -> String {
    if f.signal_trampoline {
        return format!("#{i:<3} <signal handler called>");
    }
    let mut s = format!("#{i:<3} {}", f.pc);
    s.push_str(&format!(" in {}", f.function.as_deref().unwrap_or("??")));
    if let Some(file) = &f.file {
        s.push_str(&format!(" at {file}"));
        if let Some(l) = f.line {
            s.push_str(&format!(":{l}"));
        }
    } else if let Some(m) = &f.module {
        s.push_str(&format!(" from {m}"));
    }
    if f.inlined {
        s.push_str(" [inlined]");
    }
    if f.source == "scan" {
        s.push_str(" [scan: a guess]");
    }
    s
}

fn backtraces(out: &mut String, threads: &[ThreadModel]) {
    for t in threads {
        let Some(frames) = &t.frames else { continue };
        out.push_str(&format!("Thread {} backtrace:\n\n```text\n", t.tid));
        for (i, f) in frames.iter().enumerate() {
            out.push_str(&frame(i, f));
            out.push('\n');
        }
        if let Some(s) = &t.backtrace_stopped {
            out.push_str(&format!("(backtrace stops: {s})\n"));
        }
        out.push_str("```\n\n");
    }
}

fn mappings_table<'a>(out: &mut String, maps: impl Iterator<Item = &'a MappingModel>) {
    out.push_str("| start | end | perms | offset | kind | shared | dumped | path / note |\n|---|---|---|---|---|---|---|---|\n");
    for m in maps {
        let mut note = m.path.clone().unwrap_or_default();
        if let Some(k) = m.key {
            note.push_str(&format!(" [key {:#010x}]", k.0));
        }
        if !m.stack_of.is_empty() {
            let tids: Vec<String> = m.stack_of.iter().map(u32::to_string).collect();
            note.push_str(&format!(" [stack of {}]", tids.join(", ")));
        }
        out.push_str(&format!(
            "| `{}` | `{}` | {} | `{}` | {} | {} | {} | {} |\n",
            m.start,
            m.end,
            m.perms,
            m.offset,
            m.kind,
            if m.shared { "yes" } else { "no" },
            m.dumped,
            esc(note.trim())
        ));
    }
    out.push('\n');
}

/// `maps --format markdown`.
pub fn maps(doc: &MapsDoc) -> String {
    let mut out = String::from("## Mappings\n\n");
    mappings_table(&mut out, doc.mappings.iter());
    warnings(&mut out, &doc.warnings);
    out
}

/// `threads --format markdown`.
pub fn threads(doc: &ThreadsDoc) -> String {
    let p = &doc.process;
    let mut out = format!(
        "## Process {} (ppid {})\n\n- executable: `{}`\n",
        p.pid.map_or("?".into(), |x| x.to_string()),
        p.ppid.map_or("?".into(), |x| x.to_string()),
        p.executable.as_deref().unwrap_or("?")
    );
    if let Some(a) = &p.args {
        out.push_str(&format!("- command line: `{}`\n", a.replace('`', "'")));
    }
    if let Some(s) = &p.signal {
        out.push_str(&format!(
            "- signal: {} ({})\n",
            s.number,
            s.name.as_deref().unwrap_or("?")
        ));
    }
    out.push_str("\n### Threads\n\n");
    threads_table(&mut out, &doc.threads);
    backtraces(&mut out, &doc.threads);
    warnings(&mut out, &doc.warnings);
    out
}
