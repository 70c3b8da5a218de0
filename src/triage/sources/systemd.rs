//! systemd-coredump's files: `core.COMM.UID.BOOTID.PID.USEC[.zst|.xz|.lz4]` in
//! `/var/lib/systemd/coredump`, with `user.coredump.*` extended attributes.
//!
//! From systemd's `src/coredump/coredump.c`: the name is
//! `core.%s.%s.<boot id as 32 hex digits>.%s.%s` of COMM, UID, PID and TIMESTAMP, each
//! passed through `xescape(s, "./ ")` (so `.`, `/`, space, `\`, control and non-ASCII
//! bytes appear as `\xNN`); TIMESTAMP is in microseconds since the epoch (the kernel's
//! `%t` seconds expanded to µs). `fix_xattr()` sets `user.coredump.pid`, `.uid`, `.gid`,
//! `.signal`, `.timestamp` (µs), `.rlimit`, `.hostname`, `.comm` and `.exe`.

use std::path::Path;

use super::Meta;

/// The metadata in a systemd-coredump file name, if the name is one.
pub fn parse_name(name: &str) -> Option<Meta> {
    let rest = name.strip_prefix("core.")?;
    let rest = ["zst", "xz", "lz4"]
        .iter()
        .find_map(|ext| rest.strip_suffix(&format!(".{ext}")))
        .unwrap_or(rest);
    let parts: Vec<&str> = rest.split('.').collect();
    let [comm, uid, boot, pid, usec] = parts[..] else {
        return None;
    };
    let uid = uid.parse::<u32>().ok()?;
    if boot.len() != 32 || !boot.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let pid = pid.parse::<u32>().ok()?;
    let usec = usec.parse::<u64>().ok()?;
    Some(Meta {
        pid: Some(pid),
        uid: Some(uid),
        comm: Some(unescape(comm)),
        boot_id: Some(boot.to_ascii_lowercase()),
        timestamp: super::rfc3339_usec(usec),
        ..Meta::default()
    })
}

/// Undo `xescape`: `\xNN` → the byte (then UTF-8, lossily).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && b.get(i + 1) == Some(&b'x')
            && let Some(v) = b
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Apply one `user.coredump.NAME` value to `meta`. Returns whether it was one of ours.
pub fn apply_xattr(meta: &mut Meta, name: &str, value: &[u8]) -> bool {
    let Some(key) = name.strip_prefix("user.coredump.") else {
        return false;
    };
    let v = String::from_utf8_lossy(value);
    let v = v.trim_end_matches('\0').trim();
    match key {
        "pid" => meta.pid = v.parse().ok().or(meta.pid),
        "uid" => meta.uid = v.parse().ok().or(meta.uid),
        "gid" => meta.gid = v.parse().ok().or(meta.gid),
        "signal" => meta.signal = v.parse().ok().or(meta.signal),
        "timestamp" => {
            meta.timestamp = v
                .parse::<u64>()
                .ok()
                .and_then(super::rfc3339_usec)
                .or(meta.timestamp.take())
        }
        "hostname" => meta.hostname = Some(v.to_owned()),
        "comm" => meta.comm = Some(v.to_owned()),
        "exe" => meta.exe = Some(v.to_owned()),
        // rlimit is read but not kept: nothing downstream needs it.
        "rlimit" => {}
        _ => return false,
    }
    true
}

/// Read the `user.coredump.*` attributes of a file. Returns whether any was found.
/// One `listxattr` call, plus one `getxattr` per attribute present.
pub fn read_xattrs(path: &Path, meta: &mut Meta) -> bool {
    let Ok(names) = xattr::list(path) else {
        return false;
    };
    let mut any = false;
    for n in names {
        let Some(name) = n.to_str() else { continue };
        if !name.starts_with("user.coredump.") {
            continue;
        }
        if let Ok(Some(v)) = xattr::get(path, &n) {
            any |= apply_xattr(meta, name, &v);
        }
    }
    any
}

/// The `user.coredump.*` attributes recorded in a tar member's PAX header
/// (`SCHILY.xattr.NAME`, as GNU tar `--xattrs` and bsdtar write them).
pub fn pax_xattrs<R: std::io::Read>(entry: &mut tar::Entry<'_, R>, meta: &mut Meta) -> bool {
    let Ok(Some(exts)) = entry.pax_extensions() else {
        return false;
    };
    let mut any = false;
    for e in exts.flatten() {
        if let Ok(k) = e.key()
            && let Some(name) = k.strip_prefix("SCHILY.xattr.")
        {
            any |= apply_xattr(meta, name, e.value_bytes());
        }
    }
    any
}

/// Merge name metadata under attribute metadata (attributes win: they are complete).
pub fn merge(from_name: Option<Meta>, mut attrs: Meta) -> Meta {
    if let Some(n) = from_name {
        attrs.pid = attrs.pid.or(n.pid);
        attrs.uid = attrs.uid.or(n.uid);
        attrs.comm = attrs.comm.or(n.comm);
        attrs.boot_id = attrs.boot_id.or(n.boot_id);
        attrs.timestamp = attrs.timestamp.or(n.timestamp);
    }
    attrs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        let m = parse_name(
            "core.my\\x2eapp\\x20x.1000.0123456789abcdef0123456789ABCDEF.4242.1764606633123456.zst",
        )
        .unwrap();
        assert_eq!(m.comm.as_deref(), Some("my.app x"));
        assert_eq!(m.uid, Some(1000));
        assert_eq!(m.pid, Some(4242));
        assert_eq!(
            m.boot_id.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(m.timestamp.as_deref(), Some("2025-12-01T16:30:33Z"));
        assert!(parse_name("core.app.1000.xyz.1.2").is_none());
        assert!(parse_name("core.main.zst").is_none());
        assert!(parse_name("core.a.b.0123456789abcdef0123456789abcdef.1.2").is_none());
    }

    #[test]
    fn applies_attributes() {
        let mut m = Meta::default();
        assert!(apply_xattr(&mut m, "user.coredump.signal", b"6"));
        assert!(apply_xattr(
            &mut m,
            "user.coredump.timestamp",
            b"1764606633000000"
        ));
        assert!(apply_xattr(&mut m, "user.coredump.exe", b"/usr/bin/app"));
        assert!(!apply_xattr(&mut m, "user.other", b"x"));
        assert_eq!(m.signal, Some(6));
        assert_eq!(m.timestamp.as_deref(), Some("2025-12-01T16:30:33Z"));
        assert_eq!(m.exe.as_deref(), Some("/usr/bin/app"));
    }
}
