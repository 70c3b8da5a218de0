//! Plain-text tables (comfy-table), laid out for a given width (100 columns by
//! default; the CLI passes the terminal's). Colour codes never count as width.

use comfy_table::{Cell, ContentArrangement, Table, presets};

use crate::{FrameSource, MappingKind};
use std::io::{self, Write};

use super::model::{
    CoreModel, FindingModel, MappingModel, MapsDoc, MutexModel, OwnerClass, ProcessModel, Report,
    Severity, ThreadModel, ThreadsDoc, WarningModel,
};

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
    if natural_may_fit(t, width) {
        let natural = lines(t);
        if natural.lines().all(|l| visible_width(l) <= width) {
            return natural;
        }
    }
    if width >= WIDTH {
        t.set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(u16::try_from(width).unwrap_or(u16::MAX));
        return lines(t);
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

/// A table of `header` and `rows` as text for `width` columns: the same text as
/// [`render`] gives for the table [`table_width`] builds of them, without
/// comfy-table in the usual case of a long table (`threads`: a row per thread,
/// 1 000 and more), where laying it out cost more than the rest of the command's
/// text: when every cell is printable ASCII on one line, and the table fits at its
/// natural width or is squeezed (100 columns or more), it is drawn here as
/// comfy-table 8 draws it in that style (`UTF8_HORIZONTAL_ONLY`: columns as wide as
/// their widest cell, at least 1, or as its dynamic arrangement gives, cells split
/// as it splits them, a space each side, left-aligned, joined by a space; `─`
/// borders, `═` under the header, `─` between rows). Anything else goes through
/// comfy-table. `drawn_rows_equal_comfy_tables` holds the two to the same text.
pub fn render_rows(header: &[&str], rows: Vec<Vec<String>>, width: usize) -> String {
    if let Some(s) = natural_plain(header, &rows, width) {
        return s;
    }
    let mut t = table_width(header, width);
    for r in rows {
        t.add_row(r);
    }
    render(&mut t, width)
}

/// [`render_rows`]'s own drawing, when it applies.
fn natural_plain(header: &[&str], rows: &[Vec<String>], width: usize) -> Option<String> {
    let plain = |s: &str| s.bytes().all(|b| (0x20..0x7f).contains(&b));
    let n = header.len();
    if n == 0 || !header.iter().all(|h| plain(h)) {
        return None;
    }
    // comfy-table's widest cell of each column (at least 1).
    let mut widest: Vec<usize> = header.iter().map(|h| h.len().max(1)).collect();
    for r in rows {
        if r.len() > n {
            return None;
        }
        for (w, c) in widest.iter_mut().zip(r) {
            if !plain(c) {
                return None;
            }
            *w = (*w).max(c.len());
        }
    }
    let natural = widest.iter().map(|w| w + 2).sum::<usize>() + (n - 1);
    let cw = if natural <= width {
        widest
    } else if width >= WIDTH {
        arrange(header, rows, &widest, width.min(usize::from(u16::MAX)))
    } else {
        return None;
    };
    let total = cw.iter().map(|w| w + 2).sum::<usize>() + (n - 1);
    let rule = |c: char| {
        let mut l = String::with_capacity(total * c.len_utf8() + 1);
        l.extend(std::iter::repeat_n(c, total));
        l.push('\n');
        l
    };
    let (thin, double) = (rule('─'), rule('═'));
    // One row: each cell's lines (split where wider than its column), as many
    // lines as its tallest cell, the others' topped up with blanks.
    let row = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let parts: Vec<Vec<std::borrow::Cow<'_, str>>> = cw
            .iter()
            .map(|&w| match cells.next() {
                Some(c) if c.len() > w => split_line(c, w).into_iter().map(Into::into).collect(),
                Some(c) => vec![c.into()],
                // A row shorter than the header: a blank line.
                None => vec!["".into()],
            })
            .collect();
        let height = parts.iter().map(Vec::len).max().unwrap_or(0);
        for l in 0..height {
            for (i, (p, &w)) in parts.iter().zip(&cw).enumerate() {
                let c = p.get(l).map_or("", |c| c.as_ref());
                if i > 0 {
                    out.push(' ');
                }
                out.push(' ');
                out.push_str(c);
                out.extend(std::iter::repeat_n(' ', w.saturating_sub(c.len()) + 1));
            }
            out.push('\n');
        }
    };
    let mut out = String::with_capacity((2 * rows.len() + 3) * (3 * total + 1));
    out.push_str(&thin);
    row(&mut out, &mut header.iter().copied());
    out.push_str(&double);
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push_str(&thin);
        }
        row(&mut out, &mut r.iter().map(String::as_str));
    }
    out.push_str(&thin);
    Some(out)
}

/// The content widths comfy-table's dynamic arrangement gives the columns of a
/// table too wide for `width` (comfy-table 8's `utils::arrangement::dynamic`, for
/// this case: no constraints, no hidden columns, padding 1 each side, a junction
/// between columns, no side borders, cells of printable ASCII on one line).
/// `widest`: each column's widest cell, at least 1.
fn arrange(header: &[&str], rows: &[Vec<String>], widest: &[usize], width: usize) -> Vec<usize> {
    let n = header.len();
    let mut fixed: Vec<Option<usize>> = vec![None; n];
    let mut remaining_width = width.saturating_sub(n - 1).saturating_sub(2 * n);
    let mut remaining_columns = n;
    let average = |w: usize, c: usize| w.checked_div(c).unwrap_or(0);
    // Fix a column; false once none is left.
    let fix =
        |fixed: &mut Vec<Option<usize>>, rw: &mut usize, rc: &mut usize, col: usize, w: usize| {
            fixed[col] = Some(w.max(1));
            *rw = rw.saturating_sub(w);
            *rc -= 1;
            *rc > 0
        };
    // Columns whose widest cell fits in the average space left.
    let mut found = true;
    while found {
        found = false;
        if remaining_columns == 0 || average(remaining_width, remaining_columns) == 0 {
            break;
        }
        for col in 0..n {
            if fixed[col].is_some() {
                continue;
            }
            if widest[col] <= average(remaining_width, remaining_columns) {
                if !fix(
                    &mut fixed,
                    &mut remaining_width,
                    &mut remaining_columns,
                    col,
                    widest[col],
                ) {
                    break;
                }
                found = true;
            }
        }
    }
    // Columns whose cells, split at the average space, leave 3 or more free.
    let column = |col: usize| {
        std::iter::once(header[col]).chain(
            rows.iter()
                .filter_map(move |r| r.get(col).map(String::as_str)),
        )
    };
    let mut found = remaining_columns > 0;
    while found {
        found = false;
        for col in 0..n {
            if fixed[col].is_some() {
                continue;
            }
            let avg = average(remaining_width, remaining_columns);
            let mut longest = 0;
            let mut seen = std::collections::HashSet::new();
            for c in column(col) {
                if c.len() > avg {
                    if seen.insert(c) {
                        let split = split_line(c, avg.max(1));
                        longest = split.iter().map(String::len).fold(longest, usize::max);
                    }
                } else {
                    longest = longest.max(c.len());
                }
            }
            if avg.saturating_sub(longest) >= 3 {
                if !fix(
                    &mut fixed,
                    &mut remaining_width,
                    &mut remaining_columns,
                    col,
                    longest,
                ) {
                    break;
                }
                found = true;
            }
        }
    }
    // The rest shares what is left evenly (the first ones one more).
    if remaining_columns > 0 {
        let rw = remaining_width.max(remaining_columns);
        let (each, excess) = (rw / remaining_columns, rw % remaining_columns);
        for (k, f) in fixed.iter_mut().filter(|f| f.is_none()).enumerate() {
            let w = usize::from(u16::try_from(each + usize::from(k < excess)).unwrap_or(u16::MAX));
            *f = Some(w.max(1));
        }
    }
    fixed.into_iter().map(|f| f.unwrap_or(1)).collect()
}

/// A line of printable ASCII wider than `width`, split as comfy-table 8 splits it
/// (`utils::formatting::content_split::split_line`, delimiter a space): words
/// joined while they fit, a line ended when fewer than 3 columns are left, words
/// longer than a line cut.
fn split_line(line: &str, width: usize) -> Vec<String> {
    const MIN_FREE: usize = 2;
    let mut lines = Vec::new();
    let mut words: Vec<&str> = line.split(' ').rev().collect();
    let mut cur = String::new();
    let mut cur_len = 0usize;
    let full = |lines: &mut Vec<String>, cur: &mut String, cur_len: &mut usize| {
        if *cur_len > width.saturating_sub(MIN_FREE) {
            lines.push(std::mem::take(cur));
            *cur_len = 0;
        }
    };
    while let Some(next) = words.pop() {
        let mut added = next.len() + cur_len;
        if !cur.is_empty() {
            added += 1;
        }
        let mut room = width.wrapping_sub(cur_len);
        if !cur.is_empty() {
            room = room.saturating_sub(1);
        }
        if added <= width {
            if !cur.is_empty() {
                cur.push(' ');
                cur_len += 1;
            }
            cur.push_str(next);
            cur_len += next.len();
            full(&mut lines, &mut cur, &mut cur_len);
            continue;
        }
        if !cur.is_empty() && room <= MIN_FREE {
            words.push(next);
            lines.push(std::mem::take(&mut cur));
            cur_len = 0;
            continue;
        }
        if next.len() > width {
            let new_line = cur.is_empty();
            if !new_line {
                cur.push(' ');
            }
            let (head, tail) = next.split_at(next.len().min(room));
            if new_line && head.is_empty() {
                let (first, rest) = tail.split_at(1.min(tail.len()));
                cur.push_str(first);
                words.push(rest);
            } else {
                cur.push_str(head);
                words.push(tail);
            }
            lines.push(std::mem::take(&mut cur));
            cur_len = 0;
            continue;
        }
        lines.push(std::mem::take(&mut cur));
        cur = next.to_string();
        cur_len = next.len();
        full(&mut lines, &mut cur, &mut cur_len);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// The table's lines, each ending in a newline (what `format!("{t}\n")` gives,
/// without joining the lines into one more string first).
fn lines(t: &Table) -> String {
    let mut out = String::new();
    for (i, l) in t.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&l);
    }
    out.push('\n');
    out
}

/// Whether `t` laid out at its natural width (no arrangement) may fit in `width`
/// columns; false only when it surely does not, found without laying out every row
/// (a threads table has one per thread: 1 000 and more). When every cell is plain
/// printable ASCII (no colour code, no tab, no wide character) and the columns keep
/// comfy-table's defaults, every line of the natural layout is exactly as wide as
/// the columns' widths and borders add up to, whatever the row: so the header and,
/// for each column, one row holding that column's widest cell, laid out alone, give
/// lines as wide as the whole table's. Anything else: "may fit" (the caller lays
/// out the whole table and measures it).
fn natural_may_fit(t: &Table, width: usize) -> bool {
    if t.row_count() < 16
        || t.column_iter()
            .any(|c| c.constraint().is_some() || c.padding_width() != 2)
    {
        return true;
    }
    let plain = |s: &str| s.bytes().all(|b| b == b'\n' || (0x20..0x7f).contains(&b));
    let cell_width = |s: &str| s.split('\n').map(str::len).max().unwrap_or(0);
    // Per column: the widest cell seen and its row.
    let mut widest: Vec<(usize, usize)> = Vec::new();
    if let Some(h) = t.header()
        && !h.cell_iter().all(|c| plain(&c.content()))
    {
        return true;
    }
    for (r, row) in t.row_iter().enumerate() {
        for (i, c) in row.cell_iter().enumerate() {
            let s = c.content();
            if !plain(&s) {
                return true;
            }
            let w = cell_width(&s);
            match widest.get_mut(i) {
                Some(x) if x.0 < w => *x = (w, r),
                Some(_) => {}
                None => widest.push((w, r)),
            }
        }
    }
    let mut rows: Vec<usize> = widest.iter().map(|&(_, r)| r).collect();
    rows.sort_unstable();
    rows.dedup();
    let mut small = Table::new();
    small
        .load_style(t.style())
        .set_content_arrangement(ContentArrangement::Disabled);
    if let Some(h) = t.header() {
        small.set_header(h.clone());
    }
    for r in rows {
        if let Some(row) = t.row(r) {
            small.add_row(row.clone());
        }
    }
    small.lines().all(|l| visible_width(&l) <= width)
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

/// The warnings, one a line.
pub fn write_warnings(w: &mut impl Write, ws: &[WarningModel]) -> io::Result<()> {
    for x in ws {
        writeln!(w, "warning: {}", x.message)?;
    }
    Ok(())
}

/// What a renderer wrote into memory, as a string.
fn to_string(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = f(&mut out);
    // Valid UTF-8 (written from strings) is kept as it is, not copied.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// "FUTEX_WAIT (private) on 0x…", "pause", "syscall 7", or nothing.
fn blocked_in(th: &ThreadModel) -> String {
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
    to_string(|w| write_maps(w, doc))
}

/// [`maps`], written to `w`: the listing, where the shared/private flags came
/// from, the warnings.
pub fn write_maps(w: &mut impl Write, doc: &MapsDoc) -> io::Result<()> {
    let kind_of = |m: &MappingModel| {
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
    writeln!(
        w,
        "{:<w_addr$}  {:<w_addr$}  perms  {:<w_off$}  {:<w_kind$}  dumped   path / note",
        "start", "end", "offset", "kind"
    )?;
    let mut line = String::new();
    for m in &doc.mappings {
        use std::fmt::Write as _;
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
        writeln!(w, "{}", line.trim_end())?;
    }
    let from_maps = doc
        .mappings
        .iter()
        .filter(|m| m.maps_file.is_some())
        .count();
    if from_maps > 0 {
        writeln!(
            w,
            "\nshared/private: from the maps file for {from_maps} of {} mappings (perms ending in s or p); \
             the others inferred from their names",
            doc.mappings.len()
        )?;
    }
    write_warnings(w, &doc.warnings)
}

/// The `threads` command's text.
pub fn threads(doc: &ThreadsDoc) -> String {
    threads_width(doc, WIDTH)
}

/// `threads` laid out for `width` columns.
pub fn threads_width(doc: &ThreadsDoc, width: usize) -> String {
    to_string(|w| write_threads(w, doc, width))
}

/// The threads table's mark of the thread that took the signal.
fn crashed_mark(th: &ThreadModel) -> String {
    if th.crashed {
        "crashed".into()
    } else {
        String::new()
    }
}

/// The `threads` command's text, written to `w`: the process, the threads table,
/// each thread's backtrace (when asked for), the warnings.
pub fn write_threads(w: &mut impl Write, doc: &ThreadsDoc, width: usize) -> io::Result<()> {
    write_process(w, &doc.process)?;
    let rows = doc
        .threads
        .iter()
        .map(|th| {
            vec![
                th.tid.to_string(),
                crashed_mark(th),
                opt(&th.pc),
                opt(&th.sp),
                opt(&th.thread_pointer),
                blocked_in(th),
            ]
        })
        .collect();
    let header = ["tid", "", "pc", "sp", "thread pointer", "blocked in"];
    w.write_all(render_rows(&header, rows, width).as_bytes())?;
    let mut bt = String::new();
    for th in &doc.threads {
        if let Some(frames) = &th.frames {
            use std::fmt::Write as _;
            // Writing to a String cannot fail.
            let _ = writeln!(
                bt,
                "\nthread {}{}:",
                th.tid,
                if th.crashed { " (crashed)" } else { "" }
            );
            push_backtrace(&mut bt, frames);
            if let Some(s) = &th.backtrace_stopped {
                let _ = writeln!(bt, "    (backtrace stops: {s})");
            }
        }
    }
    w.write_all(bt.as_bytes())?;
    write_warnings(w, &doc.warnings)
}

/// The process: pid, parent, executable, command line, signal.
pub fn write_process(w: &mut impl Write, p: &ProcessModel) -> io::Result<()> {
    writeln!(
        w,
        "process {} (ppid {}) {}",
        opt(&p.pid),
        opt(&p.ppid),
        p.executable.as_deref().unwrap_or("?")
    )?;
    if let Some(a) = &p.args {
        writeln!(w, "command line: {a}")?;
    }
    if let Some(s) = &p.signal {
        writeln!(
            w,
            "signal: {} ({}){}{}",
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
        )?;
    }
    Ok(())
}

/// A backtrace as gdb shows one: `#N  0xPC in FUNC at FILE:LINE`, inlined frames
/// without an address, the module + offset when the function is unknown.
pub fn backtrace(frames: &[super::model::FrameModel]) -> String {
    let mut out = String::new();
    push_backtrace(&mut out, frames);
    out
}

/// [`backtrace`], appended to `out` (one string for all the threads' frames, not
/// a few small ones per frame).
fn push_backtrace(out: &mut String, frames: &[super::model::FrameModel]) {
    use std::fmt::Write as _;
    // Writing to a String cannot fail.
    for (i, f) in frames.iter().enumerate() {
        let after_inline = i > 0 && frames[i - 1].inlined;
        let _ = write!(out, "  #{i:<3} ");
        if !(f.inlined || after_inline) {
            let _ = write!(out, "{} in ", f.pc);
        }
        if f.signal_trampoline {
            out.push_str("<signal handler called>");
        } else {
            match (&f.function, &f.module, &f.offset) {
                (Some(func), _, _) => out.push_str(func),
                (None, Some(m), Some(o)) => {
                    let _ = write!(out, "?? ({}+{})", m.rsplit('/').next().unwrap_or(m), o);
                }
                _ => out.push_str("??"),
            }
        }
        match (&f.file, f.line) {
            (Some(file), Some(line)) => {
                let _ = write!(out, " at {file}:{line}");
            }
            (Some(file), None) => {
                let _ = write!(out, " at {file}");
            }
            _ => {
                if let (Some(_), Some(m)) = (&f.function, &f.module) {
                    let _ = write!(out, " from {m}");
                }
            }
        }
        out.push_str(match f.source {
            FrameSource::Scan => "  [found by stack scan]",
            FrameSource::FramePointer => "  [frame pointer]",
            FrameSource::TailCall => "  [tail call]",
            _ => "",
        });
        out.push('\n');
    }
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

fn sev(s: Severity, color: bool) -> String {
    match s {
        Severity::Error => paint("ERROR", anstyle::AnsiColor::Red, color),
        Severity::Warning => paint("WARNING", anstyle::AnsiColor::Yellow, color),
        Severity::Note => paint("NOTE", anstyle::AnsiColor::Cyan, color),
    }
}

/// How the text report is laid out: the width in columns and whether severities
/// are coloured.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    /// Columns to fit (the terminal's, or [`WIDTH`]).
    pub width: usize,
    /// Colour the severities (ANSI escapes; they take no width).
    pub color: bool,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            width: WIDTH,
            color: false,
        }
    }
}

/// The main report: verdicts first, then the tables, then explanations and fixes.
pub fn report(r: &Report, color: bool) -> String {
    report_width(r, color, WIDTH)
}

/// The main report laid out for `width` columns, as a string.
pub fn report_width(r: &Report, color: bool, width: usize) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_report(&mut out, r, Style { width, color });
    String::from_utf8_lossy(&out).into_owned()
}

/// The main report, section by section: verdicts, the core, the mutexes, the
/// threads involved, their backtraces, the mappings involved, the findings
/// explained, the warnings.
pub fn write_report(w: &mut impl Write, r: &Report, style: Style) -> io::Result<()> {
    write_verdicts(w, r, style)?;
    writeln!(w)?;
    write_core(w, &r.core, style)?;
    let shown = shown_mutexes(r);
    write_mutexes(w, r, &shown, style)?;
    write_threads_involved(w, r, style)?;
    write_backtraces(w, r, style)?;
    write_mappings_involved(w, r, &shown, style)?;
    write_findings(w, r, style)?;
    if !r.warnings.is_empty() {
        writeln!(w)?;
        write_warnings(w, &r.warnings)?;
    }
    Ok(())
}

/// The verdicts, one a line: errors first (or OK with the count of mutexes
/// examined), then warnings and notes.
pub fn write_verdicts(w: &mut impl Write, r: &Report, style: Style) -> io::Result<()> {
    let verdict = |f: &FindingModel| {
        wrap(
            &format!("{} {}: {}", sev(f.severity, style.color), f.code, f.message),
            style.width,
            "",
        )
    };
    let errors: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    for f in &errors {
        w.write_all(verdict(f).as_bytes())?;
    }
    if errors.is_empty() {
        writeln!(
            w,
            "{} no lock error found in this core ({} mutexes examined)",
            paint("OK", anstyle::AnsiColor::Green, style.color),
            r.mutexes.len()
        )?;
    }
    for f in r.findings.iter().filter(|f| f.severity != Severity::Error) {
        w.write_all(verdict(f).as_bytes())?;
    }
    Ok(())
}

/// The core in a sentence: path, process, machine, layout, signal; and the abort
/// message when there is one.
pub fn write_core(w: &mut impl Write, c: &CoreModel, style: Style) -> io::Result<()> {
    let line = format!(
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
    );
    w.write_all(wrap(&line, style.width, "").as_bytes())?;
    if let Some(m) = &c.abort_message {
        w.write_all(wrap(&format!("Abort message: {m}"), style.width, "").as_bytes())?;
    }
    Ok(())
}

/// The mutexes that matter, shown by the text report: held, waited on, named by a
/// finding, in shared memory, or odd. The rest are counted (all are in the JSON
/// output).
fn shown_mutexes(r: &Report) -> Vec<&MutexModel> {
    let in_findings: Vec<u64> = r
        .findings
        .iter()
        .flat_map(|f| f.mutexes.iter().map(|a| a.0))
        .collect();
    r.mutexes
        .iter()
        .filter(|m| {
            !matches!(
                m.state,
                Some(crate::mutex::LockState::Unlocked) | Some(crate::mutex::LockState::Destroyed)
            ) || !m.waiters.is_empty()
                || in_findings.contains(&m.address.0)
                || m.mapping_kind.is_some_and(MappingKind::is_shared)
                || !m.anomalies.is_empty()
        })
        .collect()
}

/// The "Mutexes" table of the `shown` mutexes, and how many more the JSON lists.
pub fn write_mutexes(
    w: &mut impl Write,
    r: &Report,
    shown: &[&MutexModel],
    style: Style,
) -> io::Result<()> {
    if r.mutexes.is_empty() {
        return Ok(());
    }
    let width = style.width;
    w.write_all(b"\nMutexes\n")?;
    let mut t = table_width(
        &[
            "address", "where", "type", "state", "owner", "waiters", "found by",
        ],
        width,
    );
    if let Some(c) = t.column_mut(0) {
        c.set_constraint(comfy_table::ColumnConstraint::ContentWidth);
    }
    for m in shown {
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
            join(&m.found_by, " "),
        ]);
    }
    w.write_all(render(&mut t, width).as_bytes())?;
    let hidden = r.mutexes.len() - shown.len();
    if hidden > 0 {
        w.write_all(
            wrap(
                &format!(
                    "({hidden} more mutexes, unlocked and unremarkable, are listed in --format json)"
                ),
                width,
                "",
            )
            .as_bytes(),
        )?;
    }
    Ok(())
}

/// The threads a finding names, the waiters and own-thread owners of every mutex,
/// and the crashed thread: their tids, sorted.
fn involved_threads(r: &Report) -> Vec<u32> {
    let mut involved: Vec<u32> = r
        .findings
        .iter()
        .flat_map(|f| f.threads.iter().copied())
        .collect();
    for m in &r.mutexes {
        involved.extend(m.waiters.iter().copied());
        involved.extend(
            m.owner
                .tid
                .filter(|_| m.owner.class == OwnerClass::OwnThread),
        );
    }
    involved.extend(r.threads.iter().filter(|t| t.crashed).map(|t| t.tid));
    involved.sort_unstable();
    involved.dedup();
    involved
}

/// The "Threads involved" table: tid, crashed, pc, what it is blocked in.
pub fn write_threads_involved(w: &mut impl Write, r: &Report, style: Style) -> io::Result<()> {
    let involved = involved_threads(r);
    if involved.is_empty() {
        return Ok(());
    }
    w.write_all(b"\nThreads involved\n")?;
    let mut t = table_width(&["tid", "", "pc", "blocked in"], style.width);
    for th in r.threads.iter().filter(|t| involved.contains(&t.tid)) {
        let blocked = blocked_in(th);
        t.add_row(vec![
            th.tid.to_string(),
            crashed_mark(th),
            opt(&th.pc),
            blocked,
        ]);
    }
    w.write_all(render(&mut t, style.width).as_bytes())
}

/// "Backtraces": the first 16 frames of every thread that has some (when the
/// files were available).
pub fn write_backtraces(w: &mut impl Write, r: &Report, style: Style) -> io::Result<()> {
    let traced: Vec<&ThreadModel> = r
        .threads
        .iter()
        .filter(|t| t.frames.as_ref().is_some_and(|f| !f.is_empty()))
        .collect();
    if traced.is_empty() {
        return Ok(());
    }
    w.write_all(b"\nBacktraces\n")?;
    for t in traced {
        writeln!(
            w,
            "  thread {}{}",
            t.tid,
            if t.crashed { " (crashed)" } else { "" }
        )?;
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
            let how = if f.source == FrameSource::Scan {
                " [scan]"
            } else {
                ""
            };
            let line = wrap_hanging(
                &format!(
                    "{}{func}{at}{how}",
                    if f.inlined { "(inlined) " } else { "" }
                ),
                style.width,
                &format!("    #{i:<2} "),
                "          ",
            );
            w.write_all(line.as_bytes())?;
        }
        if frames.len() > 16 {
            writeln!(w, "    ... {} more frames", frames.len() - 16)?;
        }
    }
    Ok(())
}

/// "Mappings involved": every shared mapping, and those holding a shown mutex or
/// a futex a thread waits on.
pub fn write_mappings_involved(
    w: &mut impl Write,
    r: &Report,
    shown: &[&MutexModel],
    style: Style,
) -> io::Result<()> {
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
    if maps.is_empty() {
        return Ok(());
    }
    w.write_all(b"\nMappings involved\n")?;
    let mut t = table_width(&["range", "perms", "kind", "dumped", "path"], style.width);
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
    w.write_all(render(&mut t, style.width).as_bytes())
}

/// "Findings": each one numbered, with its message, evidence, why and fix.
pub fn write_findings(w: &mut impl Write, r: &Report, style: Style) -> io::Result<()> {
    let width = style.width;
    if !r.findings.is_empty() {
        w.write_all(b"\nFindings\n")?;
    }
    for (i, f) in r.findings.iter().enumerate() {
        writeln!(w)?;
        let mut out = wrap_hanging(
            &format!("{} {} — {}", sev(f.severity, style.color), f.code, f.title),
            width,
            &format!("{}. ", i + 1),
            "   ",
        );
        out.push_str(&wrap(&f.message, width, "   "));
        if !f.evidence.is_empty() {
            out.push_str("   Evidence:\n");
            for e in &f.evidence {
                out.push_str(&wrap_hanging(e, width, "     - ", "       "));
            }
        }
        out.push_str(&wrap(&format!("Why: {}", f.explanation), width, "   "));
        out.push_str(&wrap(&format!("Fix: {}", f.fix), width, "   "));
        w.write_all(out.as_bytes())?;
    }
    Ok(())
}

/// `items` by `Display`, separated by `sep`.
fn join<T: std::fmt::Display>(items: &[T], sep: &str) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(sep)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `render` as it was before `natural_may_fit`: the whole table laid out at
    /// its natural width and measured, every time.
    fn render_reference(t: &mut Table, width: usize) -> Option<String> {
        t.set_content_arrangement(ContentArrangement::Disabled);
        let natural = t.to_string();
        if natural.lines().all(|l| visible_width(l) <= width) {
            return Some(format!("{natural}\n"));
        }
        if width >= WIDTH {
            t.set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(u16::try_from(width).unwrap_or(u16::MAX));
            return Some(format!("{t}\n"));
        }
        None
    }

    /// Tables of many rows, plain, coloured, with wide characters and with several
    /// lines in a cell, at widths around their natural width: the same text as laid
    /// out the old way, whether the shortcut decides or not.
    #[test]
    fn shortcut_gives_the_same_text() {
        let cells: [&[&str]; 6] = [
            &["1", "22", "333", "4444"],
            &["", "crashed"],
            &["0x7f6558f41df2", "0x7f", "0x7f6558ef5619"],
            &[
                "pause",
                "FUTEX_WAIT (private) on 0x55be07e3b164",
                "syscall 7",
            ],
            &["a\nbb\nccccccc", "x"],
            &["\u{1b}[1;31mERROR\u{1b}[0m", "é", "日本語の名前", "plain"],
        ];
        let mut checked = 0;
        for rows in [3usize, 16, 40] {
            for variant in 0..4 {
                let mut t = table(&["tid", "", "pc", "blocked in", "note", "what"]);
                for r in 0..rows {
                    let row: Vec<String> = cells
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            // Variant 0: plain ASCII on one line only; 1: with
                            // several lines; 2: with colour and wide characters;
                            // 3: one row of those, the others plain.
                            match (variant, i) {
                                (0, 4) => return "x".to_string(),
                                (0 | 1, 5) => return "plain".to_string(),
                                (3, 4 | 5) if r != rows / 2 => return "x".to_string(),
                                _ => {}
                            }
                            c[(r * 7 + i * 3 + variant) % c.len()].to_string()
                        })
                        .collect();
                    t.add_row(row);
                }
                if variant == 0 && rows >= 16 {
                    // The shortcut does decide: too wide for 40 columns, and
                    // "may fit" (then measured) in 200.
                    assert!(!natural_may_fit(&t, 40));
                    assert!(natural_may_fit(&t, 200));
                }
                for width in [20, 40, 60, 80, 99, 100, 101, 110, 120, 200] {
                    let mut a = t.clone();
                    let mut b = t.clone();
                    let got = render(&mut a, width);
                    if let Some(want) = render_reference(&mut b, width) {
                        assert_eq!(got, want, "{rows} rows, variant {variant}, width {width}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 50, "{checked}");
    }

    /// `render_rows` gives what comfy-table gives for the same rows, whether it
    /// draws the table itself or not: tables of 0 to 40 rows of cells drawn from
    /// plain, empty, long, multi-line, coloured and wide ones, rows shorter than
    /// the header, at widths from 20 to 200.
    #[test]
    fn drawn_rows_equal_comfy_tables() {
        const PLAIN: usize = 14;
        let pool = [
            "",
            "1",
            "15481",
            "crashed",
            "0x7f6558f41df2",
            "-",
            "pause",
            "FUTEX_WAIT (private) on 0x55be07e3b164",
            "a much longer cell with several words in it, to be wrapped",
            "averyveryverylongwordwithoutanyspacesthatmustbecutsomewhere_xxxxxxxxxxxxxxxxxxxxxxx",
            "two  spaces, then   three and a long-word-joined-by-dashes-that-goes-on-and-on",
            " leading and trailing ",
            "x y z a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 4 5 6 7 8 9",
            "ab cdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789 e",
            // Not drawn here: several lines, colour, wide characters, a tab.
            "two\nlines",
            "\u{1b}[1;31mERROR\u{1b}[0m",
            "日本語",
            "tab\there",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let (mut drawn, mut squeezed, mut total) = (0, 0, 0);
        for case in 0..600 {
            let headers: [&[&str]; 4] = [
                &["tid", "", "pc", "sp", "thread pointer", "blocked in"],
                &["a"],
                &["", ""],
                &[
                    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                ],
            ];
            let header = headers[case % 4];
            let nrows = [0, 1, 2, 5, 17, 40][next(6)];
            // Most cases plain (the drawn path); some with one odd cell.
            let odd = next(3) == 0;
            let rows: Vec<Vec<String>> = (0..nrows)
                .map(|_| {
                    let len = if next(8) == 0 {
                        next(header.len() + 1)
                    } else {
                        header.len()
                    };
                    (0..len)
                        .map(|_| {
                            // Mostly short cells, so that columns fit or not.
                            let k = match (odd, next(4)) {
                                (true, _) => next(pool.len()),
                                (false, 0) => next(PLAIN),
                                (false, _) => next(7),
                            };
                            pool[k].to_string()
                        })
                        .collect()
                })
                .collect();
            for width in [20, 40, 60, 94, 100, 101, 107, 120, 133, 200, 300] {
                let mut t = table_width(header, width);
                for r in &rows {
                    t.add_row(r.clone());
                }
                let want = render(&mut t, width);
                if let Some(d) = natural_plain(header, &rows, width) {
                    drawn += 1;
                    if d.lines().next().is_some_and(|l| l.chars().count() > width)
                        || want.lines().count() > 2 * rows.len() + 3
                    {
                        squeezed += 1;
                    }
                }
                let got = render_rows(header, rows.clone(), width);
                assert_eq!(got, want, "header {header:?}, rows {rows:?}, width {width}");
                total += 1;
            }
        }
        assert!(drawn > 1000 && drawn < total, "{drawn} of {total} drawn");
        // Drawn squeezed (cells split over lines, or still too wide): the dynamic
        // arrangement and the splitting were exercised.
        assert!(squeezed > 300, "{squeezed} of {drawn} drawn squeezed");
    }
}
