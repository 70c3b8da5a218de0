//! Plain-text tables (comfy-table), laid out for a given width (100 columns by
//! default; the CLI passes the terminal's). Colour codes never count as width.

use comfy_table::{Cell, ContentArrangement, Table, presets};

use super::model::{MapsDoc, ThreadsDoc, WarningModel};

/// The default width of text output.
pub const WIDTH: usize = 100;

/// A table in the style of every text output, with this header.
pub fn table(header: &[&str]) -> Table {
    table_width(header, WIDTH)
}

/// A table as text for `width` columns: as laid out when it fits; squeezed by
/// comfy-table at 100 columns or more; narrower, one record per row
/// (`header: value`, wrapped at word boundaries) so that no word is broken.
pub fn render(t: &mut Table, width: usize) -> String {
    t.set_content_arrangement(ContentArrangement::Disabled);
    let natural = t.to_string();
    let fits = natural.lines().all(|l| visible_width(l) <= width);
    if fits {
        return format!("{natural}\n");
    }
    if width >= WIDTH {
        t.set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(u16::try_from(width).unwrap_or(u16::MAX));
        return format!("{t}\n");
    }
    let names: Vec<String> = t
        .header()
        .map(|h| h.cell_iter().map(|c| c.content()).collect())
        .unwrap_or_default();
    let label = names.iter().map(|n| visible_width(n)).max().unwrap_or(0);
    let rule = "─".repeat(width.min(60));
    let mut out = format!("{rule}\n");
    for row in t.row_iter() {
        for (i, c) in row.cell_iter().enumerate() {
            let text = c.content().replace('\n', " ");
            if text.trim().is_empty() {
                continue;
            }
            let name = names.get(i).map(String::as_str).unwrap_or("");
            let first = if name.is_empty() {
                format!(" {name:>label$}  ")
            } else {
                format!(" {name:>label$}: ")
            };
            let rest = " ".repeat(label + 3);
            out.push_str(&wrap_hanging(&text, width, &first, &rest));
        }
        out.push_str(&rule);
        out.push('\n');
    }
    out
}

/// A table laid out for `width` columns.
pub fn table_width(header: &[&str], width: usize) -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(u16::try_from(width).unwrap_or(u16::MAX))
        .set_header(header.iter().map(Cell::new));
    t
}

/// A value, or `-` when absent.
pub fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// Append the warnings, one a line.
pub fn warnings(out: &mut String, ws: &[WarningModel]) {
    for w in ws {
        out.push_str(&format!("warning: {}\n", w.message));
    }
}

/// "FUTEX_WAIT (private) on 0x…", "pause", "syscall 7", or nothing.
fn blocked_in(th: &super::model::ThreadModel) -> String {
    match (&th.futex, &th.syscall) {
        (Some(f), _) => format!(
            "{}{} on {}",
            f.op,
            if f.private { " (private)" } else { " (shared)" },
            f.address
        ),
        (None, Some(s)) => s
            .name
            .clone()
            .unwrap_or_else(|| format!("syscall {}", s.number)),
        (None, None) => String::new(),
    }
}

/// pmap-like listing, one line per mapping (a plain writer, not a table: a core can
/// hold hundreds of thousands of mappings, and a table builder keeps every cell).
pub fn maps(doc: &MapsDoc) -> String {
    use std::fmt::Write;
    let kind_of = |m: &super::model::MappingModel| {
        if m.shared {
            format!("{} (shared)", m.kind)
        } else {
            m.kind.to_string()
        }
    };
    // Column widths from the data (addresses and kinds only; the path is last).
    let w_addr = doc
        .mappings
        .iter()
        .map(|m| m.end.to_string().len().max(m.start.to_string().len()))
        .max()
        .unwrap_or(10)
        .max(5);
    let w_off = doc
        .mappings
        .iter()
        .map(|m| m.offset.to_string().len())
        .max()
        .unwrap_or(6)
        .max(6);
    let w_kind = doc
        .mappings
        .iter()
        .map(|m| kind_of(m).len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = String::with_capacity(doc.mappings.len().min(1 << 16) * 100);
    let _ = writeln!(
        out,
        "{:<w_addr$}  {:<w_addr$}  perms  {:<w_off$}  {:<w_kind$}  dumped   path / note",
        "start", "end", "offset", "kind"
    );
    let mut line = String::new();
    for m in &doc.mappings {
        line.clear();
        let _ = write!(
            line,
            "{:<w_addr$}  {:<w_addr$}  {:<5}  {:<w_off$}  {:<w_kind$}  {:<7}  {}",
            m.start.to_string(),
            m.end.to_string(),
            m.perms,
            m.offset.to_string(),
            kind_of(m),
            m.dumped,
            m.path.as_deref().unwrap_or("")
        );
        if let Some(k) = m.key {
            let _ = write!(line, "  [key {:#010x}]", k.0);
        }
        if !m.stack_of.is_empty() {
            let tids: Vec<String> = m.stack_of.iter().map(u32::to_string).collect();
            let _ = write!(line, "  [stack of {}]", tids.join(", "));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let from_maps = doc
        .mappings
        .iter()
        .filter(|m| m.maps_file.is_some())
        .count();
    if from_maps > 0 {
        let _ = writeln!(
            out,
            "\nshared/private: from the maps file for {from_maps} of {} mappings (perms ending in s or p); \
             the others inferred from their names",
            doc.mappings.len()
        );
    }
    warnings(&mut out, &doc.warnings);
    out
}

/// The `threads` command's text.
pub fn threads(doc: &ThreadsDoc) -> String {
    threads_width(doc, WIDTH)
}

/// `threads` laid out for `width` columns.
pub fn threads_width(doc: &ThreadsDoc, width: usize) -> String {
    let p = &doc.process;
    let mut out = String::new();
    out.push_str(&format!(
        "process {} (ppid {}) {}\n",
        opt(&p.pid),
        opt(&p.ppid),
        p.executable.as_deref().unwrap_or("?")
    ));
    if let Some(a) = &p.args {
        out.push_str(&format!("command line: {a}\n"));
    }
    if let Some(s) = &p.signal {
        out.push_str(&format!(
            "signal: {} ({}){}{}\n",
            s.number,
            s.name.as_deref().unwrap_or("?"),
            s.code_name
                .as_ref()
                .map(|c| format!(", {c}"))
                .or_else(|| s.code.map(|c| format!(", code {c}")))
                .unwrap_or_default(),
            s.address
                .map(|a| format!(", fault address {a}"))
                .unwrap_or_default()
        ));
    }
    let mut t = table_width(
        &["tid", "", "pc", "sp", "thread pointer", "blocked in"],
        width,
    );
    for th in &doc.threads {
        let blocked = blocked_in(th);
        t.add_row(vec![
            th.tid.to_string(),
            if th.crashed {
                "crashed".into()
            } else {
                String::new()
            },
            opt(&th.pc),
            opt(&th.sp),
            opt(&th.thread_pointer),
            blocked,
        ]);
    }
    out.push_str(&render(&mut t, width));
    for th in &doc.threads {
        if let Some(frames) = &th.frames {
            out.push_str(&format!(
                "\nthread {}{}:\n",
                th.tid,
                if th.crashed { " (crashed)" } else { "" }
            ));
            out.push_str(&backtrace(frames));
            if let Some(s) = &th.backtrace_stopped {
                out.push_str(&format!("    (backtrace stops: {s})\n"));
            }
        }
    }
    warnings(&mut out, &doc.warnings);
    out
}

/// A backtrace as gdb shows one: `#N  0xPC in FUNC at FILE:LINE`, inlined frames
/// without an address, the module + offset when the function is unknown.
pub fn backtrace(frames: &[crate::report::model::FrameModel]) -> String {
    let mut out = String::new();
    for (i, f) in frames.iter().enumerate() {
        let after_inline = i > 0 && frames[i - 1].inlined;
        let addr = if f.inlined || after_inline {
            String::new()
        } else {
            format!("{} in ", f.pc)
        };
        let what = if f.signal_trampoline {
            "<signal handler called>".to_string()
        } else {
            match (&f.function, &f.module, &f.offset) {
                (Some(func), _, _) => func.clone(),
                (None, Some(m), Some(o)) => {
                    format!("?? ({}+{})", m.rsplit('/').next().unwrap_or(m), o)
                }
                _ => "??".to_string(),
            }
        };
        let at = match (&f.file, f.line) {
            (Some(file), Some(line)) => format!(" at {file}:{line}"),
            (Some(file), None) => format!(" at {file}"),
            _ => match (&f.function, &f.module) {
                (Some(_), Some(m)) => format!(" from {m}"),
                _ => String::new(),
            },
        };
        let how = match f.source.as_str() {
            "scan" => "  [found by stack scan]",
            "frame-pointer" => "  [frame pointer]",
            "tail-call" => "  [tail call]",
            _ => "",
        };
        out.push_str(&format!("  #{i:<3} {addr}{what}{at}{how}\n"));
    }
    out
}

/// Columns `s` takes on a terminal: colour codes take none.
pub fn visible_width(s: &str) -> usize {
    anstream::adapter::strip_str(s)
        .map(|piece| piece.chars().count())
        .sum()
}

/// Word-wrap `s` to `width` columns, each line starting with `indent`.
pub fn wrap(s: &str, width: usize, indent: &str) -> String {
    wrap_hanging(s, width, indent, indent)
}

/// Word-wrap with a different prefix for the first line (e.g. a bullet).
pub fn wrap_hanging(s: &str, width: usize, first: &str, rest: &str) -> String {
    let mut out = String::new();
    let mut prefix = first;
    let mut line = String::from(prefix);
    for w in s.split_whitespace() {
        let len = visible_width(&line);
        if len > visible_width(prefix) && len + 1 + visible_width(w) > width {
            out.push_str(line.trim_end());
            out.push('\n');
            prefix = rest;
            line = String::from(prefix);
        }
        if line.chars().count() > prefix.chars().count() {
            line.push(' ');
        }
        line.push_str(w);
    }
    if line.chars().count() > prefix.chars().count() {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn paint(s: &str, fg: anstyle::AnsiColor, color: bool) -> String {
    if color {
        let style = anstyle::Style::new().bold().fg_color(Some(fg.into()));
        format!("{style}{s}{style:#}")
    } else {
        s.to_string()
    }
}

fn sev(s: super::model::Severity, color: bool) -> String {
    use super::model::Severity::*;
    match s {
        Error => paint("ERROR", anstyle::AnsiColor::Red, color),
        Warning => paint("WARNING", anstyle::AnsiColor::Yellow, color),
        Note => paint("NOTE", anstyle::AnsiColor::Cyan, color),
    }
}

/// The main report: verdicts first, then the tables, then explanations and fixes.
pub fn report(r: &super::model::Report, color: bool) -> String {
    report_width(r, color, WIDTH)
}

/// The main report laid out for `width` columns.
pub fn report_width(r: &super::model::Report, color: bool, width: usize) -> String {
    use super::model::Severity;
    let mut out = String::new();
    let errors: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    for f in &errors {
        out.push_str(&wrap(
            &format!("{} {}: {}", sev(f.severity, color), f.code, f.message),
            width,
            "",
        ));
    }
    if errors.is_empty() {
        out.push_str(&format!(
            "{} no lock error found in this core ({} mutexes examined)\n",
            paint("OK", anstyle::AnsiColor::Green, color),
            r.mutexes.len()
        ));
    }
    for f in r.findings.iter().filter(|f| f.severity != Severity::Error) {
        out.push_str(&wrap(
            &format!("{} {}: {}", sev(f.severity, color), f.code, f.message),
            width,
            "",
        ));
    }
    out.push('\n');

    let c = &r.core;
    out.push_str(&wrap(
        &format!(
            "Core {}: pid {} (ppid {}), {}, {} {}/{}, layout {}{}{}",
            c.path,
            opt(&c.pid),
            opt(&c.ppid),
            c.executable.as_deref().unwrap_or("executable unknown"),
            c.arch,
            format!("{:?}", c.os).to_lowercase(),
            format!("{:?}", c.libc).to_lowercase(),
            c.layout.as_deref().unwrap_or("none"),
            c.signal
                .as_ref()
                .map(|s| format!(
                    ", signal {} ({}){}",
                    s.number,
                    s.name.as_deref().unwrap_or("?"),
                    s.address.map(|a| format!(" at {a}")).unwrap_or_default()
                ))
                .unwrap_or_default(),
            if c.truncated { ", TRUNCATED core" } else { "" }
        ),
        width,
        "",
    ));
    if let Some(m) = &c.abort_message {
        out.push_str(&wrap(&format!("Abort message: {m}"), width, ""));
    }

    // The text report shows the mutexes that matter: held, waited on, named by a
    // finding, in shared memory, not dumped or odd. The rest are counted (all are in
    // the JSON output).
    let in_findings: Vec<u64> = r
        .findings
        .iter()
        .flat_map(|f| f.mutexes.iter().map(|a| a.0))
        .collect();
    let shown: Vec<&super::model::MutexModel> = r
        .mutexes
        .iter()
        .filter(|m| {
            !matches!(
                m.state,
                Some(crate::mutex::LockState::Unlocked) | Some(crate::mutex::LockState::Destroyed)
            ) || !m.waiters.is_empty()
                || in_findings.contains(&m.address.0)
                || m.mapping_kind.as_deref().is_some_and(|k| {
                    matches!(
                        k,
                        "sysv-shm" | "posix-shm" | "memfd" | "anon-shared" | "file-shared"
                    )
                })
                || !m.anomalies.is_empty()
        })
        .collect();
    if !r.mutexes.is_empty() {
        out.push_str("\nMutexes\n");
        let mut t = table_width(
            &[
                "address", "where", "type", "state", "owner", "waiters", "found by",
            ],
            width,
        );
        if let Some(c) = t.column_mut(0) {
            c.set_constraint(comfy_table::ColumnConstraint::ContentWidth);
        }
        for m in &shown {
            let ty = match (m.mtype, m.pshared) {
                (Some(t), Some(p)) => {
                    let mut v = vec![format!("{t:?}").to_lowercase()];
                    v.push(if p { "pshared" } else { "private" }.into());
                    if m.robust == Some(true) {
                        v.push("robust".into());
                    }
                    match m.protocol {
                        Some(crate::mutex::Protocol::Inherit) => v.push("prio-inherit".into()),
                        Some(crate::mutex::Protocol::Protect) => v.push("prio-protect".into()),
                        _ => {}
                    }
                    v.join(", ")
                }
                _ => "not in core".into(),
            };
            let owner = match (m.owner.tid, m.owner.pointer) {
                (Some(t), _) => format!("{t} ({})", m.owner.class),
                (None, Some(p)) => format!("{p} ({})", m.owner.class),
                _ => m.owner.class.to_string(),
            };
            let mut place = m.location.clone();
            if let Some(s) = &m.symbol {
                place = format!("{s}\n{place}");
            }
            t.add_row(vec![
                m.address.to_string(),
                place,
                ty,
                m.state
                    .map(|s| format!("{s:?}").to_lowercase())
                    .unwrap_or_else(|| "-".into()),
                owner,
                m.waiters
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
                m.found_by.join(" "),
            ]);
        }
        out.push_str(&render(&mut t, width));
        let hidden = r.mutexes.len() - shown.len();
        if hidden > 0 {
            out.push_str(&wrap(
                &format!(
                    "({hidden} more mutexes, unlocked and unremarkable, are listed in --format json)"
                ),
                width,
                "",
            ));
        }
    }

    // Threads and mappings involved in findings (or all blocked threads).
    let mut involved: Vec<u32> = r
        .findings
        .iter()
        .flat_map(|f| f.threads.iter().copied())
        .collect();
    for m in &r.mutexes {
        involved.extend(m.waiters.iter().copied());
        involved.extend(m.owner.tid.filter(|_| m.owner.class == "own-thread"));
    }
    involved.extend(r.threads.iter().filter(|t| t.crashed).map(|t| t.tid));
    involved.sort_unstable();
    involved.dedup();
    if !involved.is_empty() {
        out.push_str("\nThreads involved\n");
        let mut t = table_width(&["tid", "", "pc", "blocked in"], width);
        for th in r.threads.iter().filter(|t| involved.contains(&t.tid)) {
            let blocked = blocked_in(th);
            t.add_row(vec![
                th.tid.to_string(),
                if th.crashed {
                    "crashed".into()
                } else {
                    String::new()
                },
                opt(&th.pc),
                blocked,
            ]);
        }
        out.push_str(&render(&mut t, width));
    }
    // Backtraces of the threads involved (when the files were available).
    let traced: Vec<&super::model::ThreadModel> = r
        .threads
        .iter()
        .filter(|t| t.frames.as_ref().is_some_and(|f| !f.is_empty()))
        .collect();
    if !traced.is_empty() {
        out.push_str("\nBacktraces\n");
        for t in traced {
            out.push_str(&format!(
                "  thread {}{}\n",
                t.tid,
                if t.crashed { " (crashed)" } else { "" }
            ));
            let frames = t.frames.as_deref().unwrap_or(&[]);
            for (i, f) in frames.iter().take(16).enumerate() {
                let func = f.function.as_deref().unwrap_or("??");
                let at = match (&f.file, f.line) {
                    (Some(file), Some(line)) => {
                        format!(" at {}:{line}", file.rsplit('/').next().unwrap_or(file))
                    }
                    _ => f
                        .module
                        .as_deref()
                        .map(|m| format!(" in {}", m.rsplit('/').next().unwrap_or(m)))
                        .unwrap_or_default(),
                };
                let how = if f.source == "scan" { " [scan]" } else { "" };
                out.push_str(&wrap_hanging(
                    &format!(
                        "{}{func}{at}{how}",
                        if f.inlined { "(inlined) " } else { "" }
                    ),
                    width,
                    &format!("    #{i:<2} "),
                    "          ",
                ));
            }
            if frames.len() > 16 {
                out.push_str(&format!("    ... {} more frames\n", frames.len() - 16));
            }
        }
    }

    let mut addrs: Vec<u64> = shown.iter().map(|m| m.address.0).collect();
    addrs.extend(
        r.threads
            .iter()
            .filter_map(|t| t.futex.as_ref().map(|f| f.address.0)),
    );
    let maps: Vec<_> = r
        .mappings
        .iter()
        .filter(|m| m.shared || addrs.iter().any(|a| *a >= m.start.0 && *a < m.end.0))
        .collect();
    if !maps.is_empty() {
        out.push_str("\nMappings involved\n");
        let mut t = table_width(&["range", "perms", "kind", "dumped", "path"], width);
        if let Some(c) = t.column_mut(0) {
            c.set_constraint(comfy_table::ColumnConstraint::ContentWidth);
        }
        for m in maps {
            let mut kind = m.kind.to_string();
            if let Some(k) = m.key {
                kind.push_str(&format!(" key {:#010x}", k.0));
            }
            t.add_row(vec![
                format!("{}-{}", m.start, m.end),
                m.perms.clone(),
                kind,
                m.dumped.to_string(),
                m.path.clone().unwrap_or_default(),
            ]);
        }
        out.push_str(&render(&mut t, width));
    }

    if !r.findings.is_empty() {
        out.push_str("\nFindings\n");
    }
    for (i, f) in r.findings.iter().enumerate() {
        out.push('\n');
        out.push_str(&wrap_hanging(
            &format!("{} {} — {}", sev(f.severity, color), f.code, f.title),
            width,
            &format!("{}. ", i + 1),
            "   ",
        ));
        out.push_str(&wrap(&f.message, width, "   "));
        if !f.evidence.is_empty() {
            out.push_str("   Evidence:\n");
            for e in &f.evidence {
                out.push_str(&wrap_hanging(e, width, "     - ", "       "));
            }
        }
        out.push_str(&wrap(&format!("Why: {}", f.explanation), width, "   "));
        out.push_str(&wrap(&format!("Fix: {}", f.fix), width, "   "));
    }
    if !r.warnings.is_empty() {
        out.push('\n');
        warnings(&mut out, &r.warnings);
    }
    out
}
