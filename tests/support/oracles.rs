//! The fixture oracles, for the conformance tests (`tests/fixtures.rs`): find the committed
//! scenarios, decompress their cores once, run the `mutexdiag` binary on them, and
//! parse the oracle files written by `fixtures/generate.sh` (gdb, eu-readelf,
//! `/proc/self/maps`). Formats: `fixtures/README.md`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

/// `fixtures/` of this checkout.
pub fn root() -> PathBuf {
    super::fixture("")
}

/// One core of one scenario, with its oracles and mutexdiag's outputs.
pub struct Case {
    pub scenario: String,
    pub role: String,
    pub dir: PathBuf,
    pub meta: Value,
    pub facts: Value,
    pub gdb: String,
    pub eu: String,
    pub proc_maps: String,
    /// `mutexdiag maps CORE --format json`.
    pub maps: Value,
    /// `mutexdiag maps CORE.zst --format json` (the tool's own decompression).
    pub maps_from_zst: Value,
    /// `mutexdiag threads CORE --format json`.
    pub threads: Value,
    /// `mutexdiag CORE --binary app --scan all --format json`.
    pub analysis: Value,
    pub analysis_exit: i32,
}

impl Case {
    pub fn name(&self) -> String {
        format!("{}/{}", self.scenario, self.role)
    }
}

struct All {
    cases: Vec<Case>,
    _tmp: tempfile::TempDir,
}

static ALL: OnceLock<All> = OnceLock::new();

/// Every (scenario, role) under `fixtures/`, found by listing the folders (a
/// folder is a scenario when it has a `meta.json`). Prepared once per test binary.
pub fn cases() -> &'static [Case] {
    &ALL.get_or_init(prepare).cases
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn json_file(p: &Path) -> Value {
    serde_json::from_str(&read(p)).unwrap_or_else(|e| panic!("parse {}: {e}", p.display()))
}

/// (scenario dir, meta, role) for every role of every scenario, sorted.
pub fn list() -> Vec<(PathBuf, Value, String)> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root())
        .expect("list fixtures/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("meta.json").is_file())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for d in dirs {
        let meta = json_file(&d.join("meta.json"));
        let roles = meta["roles"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: meta.json has no roles", d.display()));
        for r in roles {
            let r = r.as_str().expect("role name").to_string();
            out.push((d.clone(), meta.clone(), r));
        }
    }
    out
}

fn run_json(args: &[&std::ffi::OsStr]) -> (Value, i32) {
    let out = super::mutexdiag()
        .args(args)
        .output()
        .expect("run mutexdiag");
    let code = out.status.code().unwrap_or(-1);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "mutexdiag {:?}: exit {code}, output is not JSON ({e}); stderr: {}",
            args,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v, code)
}

fn prepare() -> All {
    let tmp = tempfile::tempdir().expect("temp dir");
    let list = list();
    // Two workers: the machine may be shared, and each run is short.
    let chunks: Vec<Vec<(PathBuf, Value, String)>> = {
        let mut a = Vec::new();
        let mut b = Vec::new();
        for (i, x) in list.into_iter().enumerate() {
            if i.is_multiple_of(2) {
                a.push(x)
            } else {
                b.push(x)
            }
        }
        vec![a, b]
    };
    let tmp_path = tmp.path().to_path_buf();
    let mut cases: Vec<Case> = std::thread::scope(|s| {
        let hs: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let t = tmp_path.clone();
                s.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|(d, meta, role)| prepare_case(&t, d, meta, role))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().expect("prepare worker"))
            .collect()
    });
    cases.sort_by(|a, b| (&a.scenario, &a.role).cmp(&(&b.scenario, &b.role)));
    All { cases, _tmp: tmp }
}

fn prepare_case(tmp: &Path, dir: PathBuf, meta: Value, role: String) -> Case {
    let scenario = dir
        .file_name()
        .expect("scenario name")
        .to_string_lossy()
        .to_string();
    let zst = dir.join(format!("core.{role}.zst"));
    let core = tmp.join(format!("{scenario}.{role}.core"));
    super::expand(&zst, &core);
    let app = dir.join("app");
    let (maps, _) = run_json(&[
        "maps".as_ref(),
        core.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    let (maps_from_zst, _) = run_json(&[
        "maps".as_ref(),
        zst.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    let (threads, _) = run_json(&[
        "threads".as_ref(),
        core.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    // The C library of the cores comes from fixtures/sysroot, not this machine.
    let (analysis, analysis_exit) = run_json(&[
        core.as_os_str(),
        "--binary".as_ref(),
        app.as_os_str(),
        "--sysroot".as_ref(),
        super::sysroot::sysroot().as_os_str(),
        "--scan".as_ref(),
        "all".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    Case {
        facts: json_file(&dir.join(format!("facts.{role}.json"))),
        gdb: read(&dir.join(format!("gdb.{role}.txt"))),
        eu: read(&dir.join(format!("eu-readelf.{role}.txt"))),
        proc_maps: read(&dir.join(format!("maps.{role}.txt"))),
        scenario,
        role,
        dir,
        meta,
        maps,
        maps_from_zst,
        threads,
        analysis,
        analysis_exit,
    }
}

// ---------------------------------------------------------------------------
// Values

/// A JSON number or a `"0x…"` / decimal string as an unsigned number (negative
/// decimals are taken as 32-bit two's complement, like the C `int` fields).
pub fn num(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_i64().map(|i| u64::from(i as u32))),
        Value::String(s) => parse_num(s),
        _ => None,
    }
}

/// `0x1f`, `31`, `-2147463687` (→ 32-bit), with an optional trailing `,`/`}`.
pub fn parse_num(s: &str) -> Option<u64> {
    let s = s.trim().trim_end_matches([',', '}']);
    if let Some(h) = s.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(d) = s.strip_prefix('-') {
        d.parse::<i64>().ok().map(|v| u64::from((-v) as u32))
    } else {
        s.parse().ok()
    }
}

// ---------------------------------------------------------------------------
// gdb oracle

/// One thread of gdb's `info threads`.
#[derive(Debug, Clone)]
pub struct GdbThread {
    pub current: bool,
    pub lwp: u32,
    /// `Thread 0x…` (glibc's `pthread_self()`), absent for static musl.
    pub pointer: Option<u64>,
}

/// `info threads`: lines `* 1    Thread 0x7f… (LWP 123) frame` or `  2    LWP 124  frame`.
pub fn gdb_threads(gdb: &str) -> Vec<GdbThread> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in gdb.lines() {
        if line.trim_start().starts_with("Id ") && line.contains("Target Id") {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        if line.starts_with("Mapped address spaces") {
            break;
        }
        let current = line.starts_with('*');
        let rest = line.trim_start_matches('*').trim_start();
        let mut it = rest.split_whitespace();
        let Some(id) = it.next() else { continue };
        if id.parse::<u32>().is_err() {
            continue; // a frame line continued after a warning
        }
        let (pointer, lwp) = match (it.next(), it.next(), it.next(), it.next()) {
            (Some("Thread"), Some(p), Some("(LWP"), Some(l)) => {
                (parse_num(p), l.trim_end_matches(')').parse().ok())
            }
            (Some("LWP"), Some(l), _, _) => (None, l.parse().ok()),
            _ => continue,
        };
        if let Some(lwp) = lwp {
            out.push(GdbThread {
                current,
                lwp,
                pointer,
            });
        }
    }
    out
}

/// One line of gdb's `info proc mappings` (the core's NT_FILE table).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileMapping {
    pub start: u64,
    pub end: u64,
    pub offset: u64,
    pub path: String,
}

pub fn gdb_mappings(gdb: &str) -> Vec<FileMapping> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in gdb.lines() {
        if line.starts_with("Mapped address spaces") {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        let t = line.trim_start();
        if t.starts_with("Start Addr") || t.is_empty() {
            continue;
        }
        let cols = tokens(t);
        if cols.len() < 5 || !cols[..4].iter().all(|(_, f)| f.starts_with("0x")) {
            break;
        }
        let (Some(start), Some(end), Some(offset)) = (
            parse_num(cols[0].1),
            parse_num(cols[1].1),
            parse_num(cols[3].1),
        ) else {
            break;
        };
        let rest = &t[cols[4].0..];
        out.push(FileMapping {
            start,
            end,
            offset,
            path: rest.trim().to_string(),
        });
    }
    out
}

/// `p $_siginfo`.
#[derive(Debug, Clone)]
pub struct GdbSiginfo {
    pub signo: u32,
    pub code: i32,
    pub kill_pid: i64,
    pub addr: u64,
}

/// The text after `key = ` up to the next `,` or `}` (first occurrence after `from`).
pub fn field_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("{key} = ");
    let mut from = 0;
    while let Some(i) = text[from..].find(&pat) {
        let at = from + i;
        // A whole key: preceded by `{`, ` ` or start.
        let ok = at == 0 || matches!(text.as_bytes()[at - 1], b'{' | b' ');
        if ok {
            let v = &text[at + pat.len()..];
            let end = v.find([',', '}']).unwrap_or(v.len());
            return Some(v[..end].trim());
        }
        from = at + pat.len();
    }
    None
}

pub fn gdb_siginfo(gdb: &str) -> Option<GdbSiginfo> {
    let line = gdb.lines().find(|l| l.contains("{si_signo = "))?;
    Some(GdbSiginfo {
        signo: field_after(line, "si_signo")?.parse().ok()?,
        code: field_after(line, "si_code")?.parse().ok()?,
        kill_pid: {
            let k = &line[line.find("_kill = ")?..];
            field_after(k, "si_pid")?.parse().ok()?
        },
        addr: parse_num(field_after(line, "si_addr")?)?,
    })
}

/// The oracle's block for one mutex: `=== NAME @ ADDR`, then its `p/x` line.
#[derive(Debug, Clone)]
pub struct GdbMutex {
    pub name: String,
    pub address: u64,
    pub px: String,
}

pub fn gdb_mutexes(gdb: &str) -> Vec<GdbMutex> {
    let lines: Vec<&str> = gdb.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(h) = l.strip_prefix("=== ") else {
            continue;
        };
        let Some((name, addr)) = h.rsplit_once(" @ ") else {
            continue;
        };
        let Some(address) = parse_num(addr) else {
            continue;
        };
        let vals: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| !l.starts_with("==="))
            .filter(|l| l.starts_with('$'))
            .copied()
            .collect();
        out.push(GdbMutex {
            name: name.to_string(),
            address,
            px: vals.first().map_or_else(String::new, |s| s.to_string()),
        });
    }
    out
}

/// The glibc pretty printer's lines (`pthread_mutex_t = {…}`), in facts order.
pub fn gdb_pretty(gdb: &str) -> Vec<String> {
    gdb.lines()
        .skip_while(|l| !l.starts_with("=== glibc pretty printer"))
        .filter_map(|l| {
            let i = l.find("= pthread_mutex_t = {")?;
            let inner = &l[i + "= pthread_mutex_t = {".len()..];
            Some(inner.trim_end().trim_end_matches('}').to_string())
        })
        .collect()
}

const PRETTY_KEYS: &[&str] = &[
    "Type",
    "Status",
    "Owner ID",
    "State protected by this mutex",
    "Robust",
    "Shared",
    "Protocol",
    "Priority ceiling",
    "Times acquired by the owner",
];

/// Split a pretty-printer line into (key, value) pairs. Values may contain commas
/// ("Acquired, possibly with waiters"), so split only before a known key.
pub fn pretty_pairs(inner: &str) -> Vec<(String, String)> {
    let mut cuts = vec![0usize];
    for k in PRETTY_KEYS {
        let pat = format!(", {k} = ");
        let mut from = 0;
        while let Some(i) = inner[from..].find(&pat) {
            cuts.push(from + i);
            from += i + pat.len();
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    for (j, &c) in cuts.iter().enumerate() {
        let end = cuts.get(j + 1).copied().unwrap_or(inner.len());
        let part = inner[c..end].trim_start_matches(", ");
        if let Some((k, v)) = part.split_once(" = ") {
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// eu-readelf oracle

#[derive(Debug, Clone)]
pub struct Load {
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    /// `R`, `W`, `E` as `r`, `w`, `x` (`-` when absent).
    pub perms: String,
}

/// The `LOAD` program headers.
pub fn eu_loads(eu: &str) -> Vec<Load> {
    let mut out = Vec::new();
    for l in eu.lines() {
        let t = l.trim_start();
        if !t.starts_with("LOAD ") {
            continue;
        }
        // LOAD Offset VirtAddr PhysAddr FileSiz MemSiz Flg Align. Flg is a fixed
        // 3-column field ("R  ", "R E", "RW ", "  E"): take the text between MemSiz
        // and Align.
        let cols = tokens(t);
        if cols.len() < 7 {
            continue;
        }
        let (Some(vaddr), Some(filesz), Some(memsz)) = (
            parse_num(cols[2].1),
            parse_num(cols[4].1),
            parse_num(cols[5].1),
        ) else {
            continue;
        };
        let flags_from = cols[5].0 + cols[5].1.len();
        let flags_to = cols[cols.len() - 1].0;
        let raw = t.get(flags_from..flags_to).unwrap_or("");
        let perms = format!(
            "{}{}{}",
            if raw.contains('R') { 'r' } else { '-' },
            if raw.contains('W') { 'w' } else { '-' },
            if raw.contains('E') { 'x' } else { '-' }
        );
        out.push(Load {
            vaddr,
            filesz,
            memsz,
            perms,
        });
    }
    out
}

/// Whitespace-separated tokens with their byte offsets.
fn tokens(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(b)) => {
                out.push((b, &s[b..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(b) = start {
        out.push((b, &s[b..]));
    }
    out
}

/// `(pid, ppid)` of every NT_PRSTATUS note, in note order.
pub fn eu_prstatus(eu: &str) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut in_prstatus = false;
    for l in eu.lines() {
        let t = l.trim_start();
        if t.starts_with("CORE ") || t.starts_with("LINUX ") {
            in_prstatus = t.ends_with("PRSTATUS");
            continue;
        }
        if in_prstatus && t.starts_with("pid: ") {
            let pid = field_after_colon(t, "pid");
            let ppid = field_after_colon(t, "ppid");
            if let (Some(pid), Some(ppid)) = (pid, ppid) {
                out.push((pid, ppid));
            }
            in_prstatus = false;
        }
    }
    out
}

/// `key: N` in a comma-separated eu-readelf line.
fn field_after_colon(line: &str, key: &str) -> Option<u32> {
    line.split(", ")
        .find_map(|p| p.trim().strip_prefix(key)?.strip_prefix(": "))
        .and_then(|v| v.trim().parse().ok())
}

/// Does the core hold all `len` bytes at `addr` (a LOAD covering them with file
/// bytes)? `None` when no LOAD covers the address at all.
pub fn eu_dumped(loads: &[Load], addr: u64, len: u64) -> Option<bool> {
    let l = loads
        .iter()
        .find(|l| addr >= l.vaddr && addr < l.vaddr + l.memsz)?;
    Some(addr + len <= l.vaddr + l.filesz)
}

// ---------------------------------------------------------------------------
// /proc/self/maps at run time

#[derive(Debug, Clone)]
pub struct ProcMap {
    pub start: u64,
    pub end: u64,
    pub perms: String,
    pub offset: u64,
    pub path: String,
}

pub fn proc_maps(text: &str) -> Vec<ProcMap> {
    let mut out = Vec::new();
    for l in text.lines() {
        let cols = tokens(l);
        if cols.len() < 5 {
            continue;
        }
        let Some((s, e)) = cols[0].1.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end), Ok(offset)) = (
            u64::from_str_radix(s, 16),
            u64::from_str_radix(e, 16),
            u64::from_str_radix(cols[2].1, 16),
        ) else {
            continue;
        };
        let path = cols.get(5).map_or("", |&(i, _)| l[i..].trim_end());
        out.push(ProcMap {
            start,
            end,
            perms: cols[1].1.to_string(),
            offset,
            path: path.to_string(),
        });
    }
    out
}

// ---------------------------------------------------------------------------
// mutexdiag JSON

pub fn hexv(v: &Value) -> Option<u64> {
    v.as_str().and_then(parse_num)
}

/// The facts' TIDs of every role of a scenario (for cross-process owners).
pub fn scenario_tids(scenario: &str) -> BTreeSet<u32> {
    cases()
        .iter()
        .filter(|c| c.scenario == scenario)
        .flat_map(|c| {
            c.facts["tids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_u64().map(|t| t as u32))
        })
        .collect()
}
