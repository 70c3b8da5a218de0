//! ABRT problem directories (`/var/spool/abrt/ccpp-DATE-PID`): one file per item,
//! named as libreport names them. The directory is one input; its `coredump` is the
//! core, and these small files give metadata: `executable`, `pid`, `uid`, `time`
//! (seconds since the epoch), `cmdline`, `hostname`, `maps` (`/proc/PID/maps`),
//! `proc_pid_status` (for the command name and gid) and `signal` where present.

use std::path::{Path, PathBuf};

use super::Meta;

/// The items read for metadata (each at most [`MAX_ITEM`] bytes, `maps` at most
/// [`MAX_MAPS`]).
pub const ITEMS: [&str; 9] = [
    "executable",
    "pid",
    "uid",
    "time",
    "cmdline",
    "hostname",
    "maps",
    "proc_pid_status",
    "signal",
];
pub const MAX_ITEM: u64 = 64 << 10;
pub const MAX_MAPS: u64 = 16 << 20;

/// Files that mark a directory as an ABRT problem directory, besides `coredump`.
const MARKERS: [&str; 4] = ["time", "analyzer", "type", "executable"];

/// The core file of a problem directory, if `dir` is one: a regular file named
/// `coredump` (or `coredump.*`, which ABRT and tools around it use for compressed
/// copies) next to at least one of `time`, `analyzer`, `type`, `executable`.
pub fn core_of(dir: &Path) -> Option<PathBuf> {
    let is_file = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file());
    if !MARKERS.iter().any(|m| is_file(&dir.join(m))) {
        return None;
    }
    let plain = dir.join("coredump");
    if is_file(&plain) {
        return Some(plain);
    }
    let mut alts: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("coredump."))
        })
        .map(|e| e.path())
        .filter(|p| is_file(p))
        .collect();
    alts.sort();
    alts.into_iter().next()
}

/// Whether a set of member names (the files of one directory inside a tar) forms a
/// problem directory; returns the core's name.
pub fn core_among<'a>(names: impl Iterator<Item = &'a str> + Clone) -> Option<&'a str> {
    if !names.clone().any(|n| MARKERS.contains(&n)) {
        return None;
    }
    let mut alts: Vec<&str> = names
        .filter(|n| *n == "coredump" || n.starts_with("coredump."))
        .collect();
    alts.sort_by_key(|n| (*n != "coredump", *n));
    alts.first().copied()
}

/// Apply one item's content to `meta`.
pub fn apply(meta: &mut Meta, item: &str, content: &[u8]) {
    let text = String::from_utf8_lossy(content);
    let one = text.trim();
    match item {
        "executable" => meta.exe = Some(one.to_owned()),
        "pid" => meta.pid = one.parse().ok(),
        "uid" => meta.uid = one.parse().ok(),
        "signal" => meta.signal = one.parse().ok(),
        "time" => meta.timestamp = one.parse::<i64>().ok().and_then(super::rfc3339_secs),
        "cmdline" => meta.cmdline = Some(one.to_owned()),
        "hostname" => meta.hostname = Some(one.to_owned()),
        "maps" => meta.proc_maps = Some(text.into_owned()),
        "proc_pid_status" => {
            for l in text.lines() {
                if let Some(v) = l.strip_prefix("Name:") {
                    meta.comm = Some(v.trim().to_owned());
                } else if let Some(v) = l.strip_prefix("Gid:") {
                    meta.gid = v.split_whitespace().next().and_then(|s| s.parse().ok());
                }
            }
        }
        _ => {}
    }
}

/// Read the metadata items of a problem directory on disk. Returns bytes read.
pub fn read_meta(dir: &Path, meta: &mut Meta) -> u64 {
    use std::io::Read;
    let mut read = 0;
    for item in ITEMS {
        let Ok(f) = crate::input::open_regular(&dir.join(item)) else {
            continue;
        };
        let cap = if item == "maps" { MAX_MAPS } else { MAX_ITEM };
        let mut buf = Vec::new();
        if f.take(cap).read_to_end(&mut buf).is_ok() {
            read += buf.len() as u64;
            apply(meta, item, &buf);
        }
    }
    read
}
