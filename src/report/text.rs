//! Plain-text tables (comfy-table), readable at 100 columns.

use comfy_table::{Cell, ContentArrangement, Table, presets};

use super::model::{MapsDoc, ThreadsDoc, WarningModel};

pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(100)
        .set_header(header.iter().map(Cell::new));
    t
}

pub fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_string(), |v| v.to_string())
}

pub fn warnings(out: &mut String, ws: &[WarningModel]) {
    for w in ws {
        out.push_str(&format!("warning: {}\n", w.message));
    }
}

pub fn maps(doc: &MapsDoc) -> String {
    let mut t = table(&[
        "start",
        "end",
        "perms",
        "offset",
        "kind",
        "dumped",
        "path / note",
    ]);
    for m in &doc.mappings {
        let mut note = m.path.clone().unwrap_or_default();
        if let Some(k) = m.key {
            note.push_str(&format!("  [key {:#010x}]", k.0));
        }
        if !m.stack_of.is_empty() {
            let tids: Vec<String> = m.stack_of.iter().map(u32::to_string).collect();
            note.push_str(&format!("  [stack of {}]", tids.join(", ")));
        }
        let kind = if m.shared {
            format!("{} (shared)", m.kind)
        } else {
            m.kind.to_string()
        };
        t.add_row(vec![
            m.start.to_string(),
            m.end.to_string(),
            m.perms.clone(),
            m.offset.to_string(),
            kind,
            m.dumped.to_string(),
            note,
        ]);
    }
    let mut out = format!("{t}\n");
    warnings(&mut out, &doc.warnings);
    out
}

pub fn threads(doc: &ThreadsDoc) -> String {
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
            s.name.unwrap_or("?"),
            s.code_name
                .map(|c| format!(", {c}"))
                .or_else(|| s.code.map(|c| format!(", code {c}")))
                .unwrap_or_default(),
            s.address
                .map(|a| format!(", fault address {a}"))
                .unwrap_or_default()
        ));
    }
    let mut t = table(&["tid", "", "pc", "sp", "thread pointer", "blocked in"]);
    for th in &doc.threads {
        let blocked = match (&th.futex, &th.syscall) {
            (Some(f), _) => format!(
                "{}{} on {}",
                f.op,
                if f.private { " (private)" } else { " (shared)" },
                f.address
            ),
            (None, Some(s)) => s
                .name
                .map_or_else(|| format!("syscall {}", s.number), str::to_string),
            (None, None) => String::new(),
        };
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
    out.push_str(&format!("{t}\n"));
    warnings(&mut out, &doc.warnings);
    out
}
