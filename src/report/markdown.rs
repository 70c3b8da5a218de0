//! Markdown, for pasting into a bug report. Each renderer writes to an
//! [`io::Write`], one function a section; the `String` forms ([`report`], [`maps`],
//! [`threads`]) write into memory.

use std::io::{self, Write};

use super::model::{
    CoreModel, FindingModel, FrameModel, MappingModel, MapsDoc, MutexModel, Report, Severity,
    ThreadModel, ThreadsDoc, WarningModel,
};

fn esc(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// What a renderer wrote into memory, as a string.
fn to_string(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = f(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The report as a markdown document.
pub fn report(r: &Report) -> String {
    to_string(|w| write_report(w, r))
}

/// The report as a markdown document, section by section: the core, the findings,
/// the mutexes, the threads with their backtraces, the mappings involved, the
/// warnings.
pub fn write_report(w: &mut impl Write, r: &Report) -> io::Result<()> {
    write_core(w, &r.core)?;
    write_findings(w, &r.findings)?;
    write_mutexes(w, &r.mutexes)?;
    if !r.threads.is_empty() {
        w.write_all(b"### Threads\n\n")?;
        write_threads_table(w, &r.threads)?;
        write_backtraces(w, &r.threads)?;
    }
    write_mappings_involved(w, r)?;
    write_warnings(w, &r.warnings)
}

/// The title and the core: process, machine, layout, signal.
pub fn write_core(w: &mut impl Write, c: &CoreModel) -> io::Result<()> {
    write!(
        w,
        "## mutexdiag: `{}`\n\n",
        c.path.rsplit('/').next().unwrap_or(&c.path)
    )?;
    writeln!(
        w,
        "- process: pid {} (ppid {}), `{}`\n- machine: {} / {:?} / {:?}, layout `{}`",
        c.pid.map_or("?".into(), |p| p.to_string()),
        c.ppid.map_or("?".into(), |p| p.to_string()),
        c.executable.as_deref().unwrap_or("?"),
        c.arch,
        c.os,
        c.libc,
        c.layout.as_deref().unwrap_or("none")
    )?;
    if let Some(s) = &c.signal {
        writeln!(
            w,
            "- signal: {} ({}){}",
            s.number,
            s.name.as_deref().unwrap_or("?"),
            s.address
                .map(|a| format!(", fault address `{a}`"))
                .unwrap_or_default()
        )?;
    }
    writeln!(w)
}

/// "No lock error found" when there is none, then every finding with its evidence
/// and fix.
pub fn write_findings(w: &mut impl Write, findings: &[FindingModel]) -> io::Result<()> {
    if findings.iter().all(|f| f.severity != Severity::Error) {
        w.write_all(b"**No lock error found.**\n\n")?;
    }
    for f in findings {
        write!(
            w,
            "### {} `{}`: {}\n\n{}\n\n",
            match f.severity {
                Severity::Error => "❌ error",
                Severity::Warning => "⚠️ warning",
                Severity::Note => "ℹ️ note",
            },
            f.code,
            f.title,
            f.message
        )?;
        for e in &f.evidence {
            writeln!(w, "- {e}")?;
        }
        write!(w, "\n**Fix:** {}\n\n", f.fix)?;
    }
    Ok(())
}

/// The "Mutexes" table: every mutex.
pub fn write_mutexes(w: &mut impl Write, mutexes: &[MutexModel]) -> io::Result<()> {
    if mutexes.is_empty() {
        return Ok(());
    }
    w.write_all(b"### Mutexes\n\n| address | where | type | state | owner | waiters | found by |\n|---|---|---|---|---|---|---|\n")?;
    for m in mutexes {
        writeln!(
            w,
            "| `{}` | {} | {} | {} | {} | {} | {} |",
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
            m.found_by
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    writeln!(w)
}

/// "Mappings involved", as in the text report: those holding a reported mutex,
/// and every shared one.
pub fn write_mappings_involved(w: &mut impl Write, r: &Report) -> io::Result<()> {
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
    if involved.is_empty() {
        return Ok(());
    }
    w.write_all(b"### Mappings involved\n\n")?;
    write_mappings_table(w, involved.into_iter())
}

/// The warnings, one a quoted line.
pub fn write_warnings(w: &mut impl Write, ws: &[WarningModel]) -> io::Result<()> {
    for x in ws {
        writeln!(w, "> warning: {}", esc(&x.message))?;
    }
    Ok(())
}

fn cell<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".into(), |v| format!("`{v}`"))
}

/// The threads table: tid, crashed, pc, sp, thread pointer, what it is blocked in.
pub fn write_threads_table(w: &mut impl Write, threads: &[ThreadModel]) -> io::Result<()> {
    w.write_all(b"| tid | | pc | sp | thread pointer | blocked in |\n|---|---|---|---|---|---|\n")?;
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
        writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} |",
            t.tid,
            if t.crashed { "crashed" } else { "" },
            cell(&t.pc),
            cell(&t.sp),
            cell(&t.thread_pointer),
            esc(&blocked)
        )?;
    }
    writeln!(w)
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
    if f.source == crate::FrameSource::Scan {
        s.push_str(" [scan: a guess]");
    }
    s
}

/// Each thread's backtrace (those that have one), in a code block.
pub fn write_backtraces(w: &mut impl Write, threads: &[ThreadModel]) -> io::Result<()> {
    for t in threads {
        let Some(frames) = &t.frames else { continue };
        write!(w, "Thread {} backtrace:\n\n```text\n", t.tid)?;
        for (i, f) in frames.iter().enumerate() {
            writeln!(w, "{}", frame(i, f))?;
        }
        if let Some(s) = &t.backtrace_stopped {
            writeln!(w, "(backtrace stops: {s})")?;
        }
        w.write_all(b"```\n\n")?;
    }
    Ok(())
}

/// A table of mappings: range, perms, offset, kind, shared, dumped, path or note.
pub fn write_mappings_table<'a>(
    w: &mut impl Write,
    maps: impl Iterator<Item = &'a MappingModel>,
) -> io::Result<()> {
    w.write_all(b"| start | end | perms | offset | kind | shared | dumped | path / note |\n|---|---|---|---|---|---|---|---|\n")?;
    for m in maps {
        let mut note = m.path.clone().unwrap_or_default();
        if let Some(k) = m.key {
            note.push_str(&format!(" [key {:#010x}]", k.0));
        }
        if !m.stack_of.is_empty() {
            let tids: Vec<String> = m.stack_of.iter().map(u32::to_string).collect();
            note.push_str(&format!(" [stack of {}]", tids.join(", ")));
        }
        writeln!(
            w,
            "| `{}` | `{}` | {} | `{}` | {} | {} | {} | {} |",
            m.start,
            m.end,
            m.perms,
            m.offset,
            m.kind,
            if m.shared { "yes" } else { "no" },
            m.dumped,
            esc(note.trim())
        )?;
    }
    writeln!(w)
}

/// `maps --format markdown`.
pub fn maps(doc: &MapsDoc) -> String {
    to_string(|w| write_maps(w, doc))
}

/// `maps --format markdown`, written to `w`.
pub fn write_maps(w: &mut impl Write, doc: &MapsDoc) -> io::Result<()> {
    w.write_all(b"## Mappings\n\n")?;
    write_mappings_table(w, doc.mappings.iter())?;
    write_warnings(w, &doc.warnings)
}

/// `threads --format markdown`.
pub fn threads(doc: &ThreadsDoc) -> String {
    to_string(|w| write_threads(w, doc))
}

/// `threads --format markdown`, written to `w`: the process, the threads table,
/// the backtraces, the warnings.
pub fn write_threads(w: &mut impl Write, doc: &ThreadsDoc) -> io::Result<()> {
    let p = &doc.process;
    writeln!(
        w,
        "## Process {} (ppid {})\n\n- executable: `{}`",
        p.pid.map_or("?".into(), |x| x.to_string()),
        p.ppid.map_or("?".into(), |x| x.to_string()),
        p.executable.as_deref().unwrap_or("?")
    )?;
    if let Some(a) = &p.args {
        writeln!(w, "- command line: `{}`", a.replace('`', "'"))?;
    }
    if let Some(s) = &p.signal {
        writeln!(
            w,
            "- signal: {} ({})",
            s.number,
            s.name.as_deref().unwrap_or("?")
        )?;
    }
    w.write_all(b"\n### Threads\n\n")?;
    write_threads_table(w, &doc.threads)?;
    write_backtraces(w, &doc.threads)?;
    write_warnings(w, &doc.warnings)
}
