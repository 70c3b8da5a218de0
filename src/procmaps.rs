//! The text of `/proc/PID/maps` (`--maps FILE`; systemd-coredump keeps it in the
//! journal field `COREDUMP_PROC_MAPS`, apport in the `ProcMaps` field of a `.crash`
//! file, ABRT in the `maps` file of a problem directory).
//!
//! A core does not record whether a mapping was `MAP_SHARED` or `MAP_PRIVATE`
//! (`p_flags` holds only R/W/X), so [`crate::mappings`] infers it from the mapping's
//! name. The maps text has the true flag (the fourth letter of the permissions,
//! `s` or `p`) and the device and inode of every mapped file; [`apply`] puts them
//! over the inference.
//!
//! The parser is tolerant: a line it cannot read is reported with its number and
//! skipped, never a panic.
//!
//! Format (proc(5)): `start-end perms offset major:minor inode [path]`, for example
//! `7f1e1e504000-7f1e1e505000 rw-s 00000000 00:01 10     /SYSV6d757478 (deleted)`.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::coredump::Warning;
use crate::mappings::{self, Mapping, MappingKind};

/// A maps file larger than this is refused (a process with a million mappings
/// writes about 100 MiB).
pub const MAX_MAPS_FILE: u64 = 256 << 20;

/// Reported bad lines are capped at this many (the rest are counted).
const MAX_LINE_WARNINGS: usize = 20;

#[warn(missing_docs)] // public API (re-exported at the crate root)
/// One line of `/proc/PID/maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcMapsEntry {
    /// First address.
    pub start: u64,
    /// Address after the last one.
    pub end: u64,
    /// The four letters: `r`/`-`, `w`/`-`, `x`/`-`, `s`/`p`.
    pub perms: String,
    /// `MAP_SHARED` (`s`), else `MAP_PRIVATE` (`p`).
    pub shared: bool,
    /// Offset in the file, in bytes.
    pub offset: u64,
    /// `major:minor` in hexadecimal, as written.
    pub dev: String,
    /// Inode of the mapped file (0 for anonymous mappings).
    pub inode: u64,
    /// The path or pseudo-name (`[heap]`, `[stack]`, `/SYSV... (deleted)`), if any.
    pub path: Option<String>,
    /// 1-based line number in the source text.
    pub line: usize,
}

/// A parsed maps text.
#[derive(Clone, Debug, Default)]
pub struct ProcMaps {
    /// Where the text came from (a file name, or "apport ProcMaps").
    pub source: String,
    /// The lines that were read, sorted by start address.
    pub entries: Vec<ProcMapsEntry>,
    /// Lines that could not be read, each naming the source and line number.
    pub warnings: Vec<Warning>,
}

/// Why a maps file could not be used at all.
#[derive(Debug, thiserror::Error)]
pub enum MapsError {
    #[error("--maps {path}: cannot read: {source}", path = .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--maps {path}: larger than {limit} bytes; not a /proc/PID/maps text", path = .path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("--maps {path}: no line has the /proc/PID/maps format (start-end perms offset dev inode [path]){first}", path = .path.display())]
    NoEntries { path: PathBuf, first: String },
}

impl ProcMaps {
    /// Read and parse a maps file. Errors only when nothing usable is in it.
    pub fn load(path: &Path) -> Result<ProcMaps, MapsError> {
        let file = crate::input::open_regular(path).map_err(|source| MapsError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut bytes = Vec::new();
        file.take(MAX_MAPS_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| MapsError::Read {
                path: path.to_owned(),
                source,
            })?;
        if bytes.len() as u64 > MAX_MAPS_FILE {
            return Err(MapsError::TooLarge {
                path: path.to_owned(),
                limit: MAX_MAPS_FILE,
            });
        }
        let text = String::from_utf8_lossy(&bytes);
        let m = ProcMaps::parse(&text, &path.display().to_string());
        if m.entries.is_empty() {
            return Err(MapsError::NoEntries {
                path: path.to_owned(),
                first: m
                    .warnings
                    .first()
                    .map(|w| format!("; {}", w.message))
                    .unwrap_or_default(),
            });
        }
        Ok(m)
    }

    /// Parse maps text. Blank lines are skipped; apport's one-space indentation of
    /// continuation lines is accepted.
    pub fn parse(text: &str, source: &str) -> ProcMaps {
        let mut entries = Vec::new();
        let mut warnings = Vec::new();
        let mut bad = 0usize;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            match parse_line(line) {
                Ok(mut e) => {
                    e.line = i + 1;
                    entries.push(e);
                }
                Err(why) => {
                    bad += 1;
                    if bad <= MAX_LINE_WARNINGS {
                        let shown: String = line.chars().take(80).collect();
                        warnings.push(Warning::new(
                            "maps-file",
                            format!("{source} line {}: {why}; line skipped: {shown:?}", i + 1),
                        ));
                    }
                }
            }
        }
        if bad > MAX_LINE_WARNINGS {
            warnings.push(Warning::new(
                "maps-file",
                format!(
                    "{source}: {} more unreadable lines skipped",
                    bad - MAX_LINE_WARNINGS
                ),
            ));
        }
        entries.sort_by_key(|e| (e.start, e.end));
        ProcMaps {
            source: source.to_string(),
            entries,
            warnings,
        }
    }

    /// The entry with exactly this range, else the one containing `start`.
    fn find(&self, start: u64, end: u64) -> Option<&ProcMapsEntry> {
        let i = self.entries.partition_point(|e| e.start < start);
        if let Some(e) = self.entries.get(i)
            && e.start == start
            && e.end == end
        {
            return Some(e);
        }
        // The last entry starting at or before `start`, if it reaches past it.
        let j = self.entries.partition_point(|e| e.start <= start);
        j.checked_sub(1)
            .and_then(|k| self.entries.get(k))
            .filter(|e| e.start <= start && start < e.end)
    }
}

fn parse_line(line: &str) -> Result<ProcMapsEntry, String> {
    // Five space-separated fields, then the path (which may hold spaces).
    let mut rest = line;
    let mut field = || -> Option<&str> {
        let s = rest.trim_start();
        let end = s.find(char::is_whitespace).unwrap_or(s.len());
        let (f, r) = s.split_at(end);
        rest = r;
        (!f.is_empty()).then_some(f)
    };
    let range = field().ok_or("no address range")?;
    let perms = field().ok_or("no permissions")?;
    let offset = field().ok_or("no offset")?;
    let dev = field().ok_or("no device")?;
    let inode = field().ok_or("no inode")?;
    let path = rest.trim();
    let (a, b) = range
        .split_once('-')
        .ok_or_else(|| format!("address range {range:?} is not START-END"))?;
    let start = u64::from_str_radix(a, 16).map_err(|_| format!("bad start address {a:?}"))?;
    let end = u64::from_str_radix(b, 16).map_err(|_| format!("bad end address {b:?}"))?;
    if end <= start {
        return Err(format!("empty or reversed range {range}"));
    }
    let pb = perms.as_bytes();
    let ok = pb.len() == 4
        && matches!(pb[0], b'r' | b'-')
        && matches!(pb[1], b'w' | b'-')
        && matches!(pb[2], b'x' | b'-')
        && matches!(pb[3], b's' | b'p');
    if !ok {
        return Err(format!(
            "permissions {perms:?} are not four letters like rw-p or r--s"
        ));
    }
    let offset = u64::from_str_radix(offset, 16).map_err(|_| format!("bad offset {offset:?}"))?;
    let dev_ok = dev.split_once(':').is_some_and(|(x, y)| {
        u32::from_str_radix(x, 16).is_ok() && u32::from_str_radix(y, 16).is_ok()
    });
    if !dev_ok {
        return Err(format!("device {dev:?} is not MAJOR:MINOR"));
    }
    let inode = inode
        .parse::<u64>()
        .map_err(|_| format!("bad inode {inode:?}"))?;
    Ok(ProcMapsEntry {
        start,
        end,
        perms: perms.to_string(),
        shared: pb[3] == b's',
        offset,
        dev: dev.to_string(),
        inode,
        path: (!path.is_empty()).then(|| path.to_string()),
        line: 0,
    })
}

/// Put the maps text's facts over the core's inferred ones: the shared/private
/// flag (and the kind when the inference was wrong), the full permissions, the
/// device and inode, and names the core lacks. Returns the warnings to report:
/// the source's bad lines, every mapping whose flag changed, and mappings the
/// text does not cover.
pub fn apply(maps: &mut [Mapping], pm: &ProcMaps) -> Vec<Warning> {
    let mut warnings = pm.warnings.clone();
    // A maps text of another process (or another run) shares few ranges with the
    // core: then it is not used at all.
    let found = maps
        .iter()
        .filter(|m| pm.find(m.start, m.end).is_some())
        .count();
    if found * 2 < maps.len() || found == 0 {
        warnings.push(Warning::new(
            "maps-file",
            format!(
                "{}: only {found} of the core's {} mappings are in it: is it the maps of another process? Not used",
                pm.source,
                maps.len()
            ),
        ));
        return warnings;
    }
    let mut unmatched = 0usize;
    let mut changed: Vec<String> = Vec::new();
    for m in maps.iter_mut() {
        let Some(e) = pm.find(m.start, m.end) else {
            unmatched += 1;
            continue;
        };

        if m.path.is_none()
            && let Some(p) = &e.path
        {
            match p.as_str() {
                "[heap]" if m.kind == MappingKind::Anon => m.kind = MappingKind::Heap,
                "[stack]" if m.kind == MappingKind::Anon => m.kind = MappingKind::Stack,
                "[vdso]" => m.kind = MappingKind::Vdso,
                "[vvar]" => m.kind = MappingKind::Vvar,
                "[vsyscall]" => m.kind = MappingKind::Vsyscall,
                _ if !p.starts_with('[') => {
                    m.path = Some(p.clone());
                    let (base, deleted) = match p.strip_suffix(" (deleted)") {
                        Some(b) => (b, true),
                        None => (p.as_str(), false),
                    };
                    m.deleted = deleted;
                    m.kind = mappings::kind_from_path(base).unwrap_or(MappingKind::File);
                    if m.kind == MappingKind::SysvShm {
                        m.key = mappings::sysv_key(base);
                    }
                }
                _ => {}
            }
        }
        let was = m.shared;
        if e.shared && !m.kind.is_shared() {
            m.kind = if m.path.is_some() {
                MappingKind::FileShared
            } else {
                MappingKind::AnonShared
            };
        } else if !e.shared && m.kind.is_shared() {
            m.kind = if m.path.is_some() {
                MappingKind::File
            } else {
                MappingKind::Anon
            };
        }
        m.shared = e.shared;
        m.perms = e.perms.clone();
        m.from_maps = Some(Box::new(mappings::MapsFacts {
            dev: e.dev.clone(),
            inode: e.inode,
        }));
        if was != e.shared {
            changed.push(format!(
                "{:#x}-{:#x} {} is {} (inferred {})",
                m.start,
                m.end,
                m.path.as_deref().unwrap_or("(anonymous)"),
                if e.shared { "shared" } else { "private" },
                if was { "shared" } else { "private" }
            ));
        }
    }
    if !changed.is_empty() {
        warnings.push(Warning::new(
            "maps-file",
            format!(
                "{}: the shared/private flag of {} mapping(s) comes from it, against the inference from names: {}",
                pm.source,
                changed.len(),
                changed.join("; ")
            ),
        ));
    }
    if unmatched > 0 {
        warnings.push(Warning::new(
            "maps-file",
            format!(
                "{}: {unmatched} of the core's {} mappings are not in it (their flag stays inferred)",
                pm.source,
                maps.len()
            ),
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_and_reports_bad_ones() {
        let text = "\
7f1e1e504000-7f1e1e505000 rw-s 00000000 00:01 10                         /SYSV6d757478 (deleted)
55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0                          [heap]
garbage
 7ffd1000-7ffd2000 r--p 00001000 fd:01 123 /path with spaces/lib.so
7ffd3000-7ffd2000 r--p 0 00:00 0
7ffd3000-7ffd4000 rwxq 0 00:00 0
";
        let m = ProcMaps::parse(text, "maps.txt");
        assert_eq!(m.entries.len(), 3);
        assert!(m.entries.iter().any(|e| e.shared && e.inode == 10));
        let spaced = m.entries.iter().find(|e| e.inode == 123).unwrap();
        assert_eq!(spaced.path.as_deref(), Some("/path with spaces/lib.so"));
        assert_eq!(spaced.line, 4);
        assert_eq!(m.warnings.len(), 3, "{:?}", m.warnings);
        assert!(m.warnings[0].message.contains("maps.txt line 3"));
        assert!(m.warnings[1].message.contains("line 5"));
        assert!(m.warnings[2].message.contains("line 6"));
    }

    #[test]
    fn never_panics_on_junk() {
        for junk in [
            "",
            "-",
            "a-b c d e f",
            "0-1 rw-p",
            "0-ffffffffffffffffff rw-p 0 0:0 0",
            "\u{0}\u{1}",
            "1-2 rw-p 0 zz:1 0",
        ] {
            let _ = ProcMaps::parse(junk, "x");
        }
    }
}
