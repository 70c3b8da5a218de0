//! Declared layouts: a user's own lock type, described in a TOML file
//! (`--layout FILE.toml`). The format, with a complete example, is in
//! `docs/layouts.md`, section "Declared layouts".
//!
//! The file is validated strictly: unknown keys, fields that do not fit in the
//! declared size, masks or values wider than their field, a magic number of 0
//! (it would match every zero word) and fields that overlap the magic are errors,
//! each reported with the file and the table it is in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Decoded, Family, Layout, LockState, Magic, MutexType, Protocol};
use crate::coredump::{Bytes, Endian};

/// Why a layout file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeclaredError {
    #[error("{path}: cannot read the layout file: {source}", path = .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid layout file: {message}", path = .path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: {message}", path = .path.display())]
    Invalid { path: PathBuf, message: String },
}

/// How the owner field identifies the owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OwnerKind {
    /// A kernel thread id (Linux TID, Solaris LWP id).
    Tid,
    /// A thread pointer (the owner's thread block: `ulwp_t *`, `pthread_t`, TCB).
    Pointer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeclaredEndian {
    Little,
    Big,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMagic {
    offset: usize,
    size: usize,
    value: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLock {
    offset: usize,
    size: usize,
    held_mask: Option<u64>,
    unlocked: Option<u64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileType {
    offset: usize,
    size: usize,
    mask: Option<u64>,
    #[serde(default)]
    names: BTreeMap<String, String>,
    pshared_bit: Option<u64>,
    robust_bit: Option<u64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOwner {
    offset: usize,
    size: usize,
    kind: OwnerKind,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileField {
    offset: usize,
    size: usize,
    mask: Option<u64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayoutFile {
    name: String,
    size: usize,
    align: usize,
    endianness: Option<DeclaredEndian>,
    magic: Option<FileMagic>,
    lock: FileLock,
    #[serde(rename = "type")]
    ty: Option<FileType>,
    owner: Option<FileOwner>,
    waiters: Option<FileField>,
    count: Option<FileField>,
}

/// One field of a declared lock: `size` bytes at `offset`, bits of `mask`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub offset: usize,
    pub size: usize,
    pub mask: u64,
}

impl Field {
    fn read(&self, b: &Bytes<'_>) -> Option<u64> {
        self.read_raw(b).map(|v| v & self.mask)
    }

    fn read_raw(&self, b: &Bytes<'_>) -> Option<u64> {
        b.word(self.offset, self.size)
    }
}

/// A validated, user-declared lock layout.
#[derive(Clone, Debug)]
pub struct DeclaredLayout {
    pub name: String,
    pub size: usize,
    pub align: usize,
    pub endian: Option<Endian>,
    pub magic: Option<Magic>,
    pub lock: Field,
    /// The lock field's value when free (masked).
    pub unlocked: u64,
    pub ty: Option<Field>,
    /// Type value → name.
    pub type_names: Vec<(u64, String)>,
    pub pshared_bit: Option<u64>,
    pub robust_bit: Option<u64>,
    pub owner: Option<(Field, OwnerKind)>,
    pub waiters: Option<Field>,
    pub count: Option<Field>,
    /// Where the layout was read from.
    pub source: PathBuf,
}

fn full_mask(size: usize) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (size * 8)) - 1
    }
}

fn parse_int(s: &str) -> Option<u64> {
    let t = s.trim().replace('_', "");
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(b) = t.strip_prefix("0b") {
        u64::from_str_radix(b, 2).ok()
    } else {
        t.parse().ok()
    }
}

impl DeclaredLayout {
    /// Read and validate a layout file.
    pub fn load(path: &Path) -> Result<DeclaredLayout, DeclaredError> {
        let text = std::fs::read_to_string(path).map_err(|source| DeclaredError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parse and validate the text of a layout file (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<DeclaredLayout, DeclaredError> {
        let f: LayoutFile = toml::from_str(text).map_err(|e| DeclaredError::Syntax {
            path: path.to_owned(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let bad = |message: String| DeclaredError::Invalid {
            path: path.to_owned(),
            message,
        };
        if f.name.is_empty()
            || !f
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return Err(bad(format!(
                "name = {:?}: use letters, digits, '_', '-' or '.' (it names the layout in reports)",
                f.name
            )));
        }
        if f.size == 0 || f.size > 4096 {
            return Err(bad(format!("size = {}: a lock is 1 to 4096 bytes", f.size)));
        }
        if !f.align.is_power_of_two() || f.align > 4096 {
            return Err(bad(format!(
                "align = {}: must be a power of two, at most 4096",
                f.align
            )));
        }
        let size = f.size;
        let field = |table: &str,
                     offset: usize,
                     fsize: usize,
                     mask: Option<u64>|
         -> Result<Field, DeclaredError> {
            if ![1, 2, 4, 8].contains(&fsize) {
                return Err(bad(format!(
                    "[{table}]: size = {fsize}: a field is 1, 2, 4 or 8 bytes"
                )));
            }
            match offset.checked_add(fsize) {
                Some(end) if end <= size => {}
                _ => {
                    return Err(bad(format!(
                        "[{table}]: offset {offset} + size {fsize} is past the end of the lock (size = {size})"
                    )));
                }
            }
            let full = full_mask(fsize);
            let mask = mask.unwrap_or(full);
            if mask == 0 || mask & !full != 0 {
                return Err(bad(format!(
                    "[{table}]: mask {mask:#x} must be non-zero and fit in {fsize} byte(s)"
                )));
            }
            Ok(Field {
                offset,
                size: fsize,
                mask,
            })
        };
        let magic = match &f.magic {
            None => None,
            Some(m) => {
                let fl = field("magic", m.offset, m.size, None)?;
                if m.value == 0 {
                    return Err(bad(
                        "[magic]: value = 0 would match every zero word; omit [magic] if the lock has none"
                            .into(),
                    ));
                }
                if m.value & !full_mask(m.size) != 0 {
                    return Err(bad(format!(
                        "[magic]: value {:#x} does not fit in {} byte(s)",
                        m.value, m.size
                    )));
                }
                Some((
                    fl,
                    Magic {
                        offset: m.offset,
                        size: m.size,
                        value: m.value,
                    },
                ))
            }
        };
        let lock = field("lock", f.lock.offset, f.lock.size, f.lock.held_mask)?;
        let unlocked = f.lock.unlocked.unwrap_or(0);
        if unlocked & !full_mask(lock.size) != 0 {
            return Err(bad(format!(
                "[lock]: unlocked = {unlocked:#x} does not fit in {} byte(s)",
                lock.size
            )));
        }
        let mut type_names = Vec::new();
        let (ty, pshared_bit, robust_bit) = match &f.ty {
            None => (None, None, None),
            Some(t) => {
                let fl = field("type", t.offset, t.size, t.mask)?;
                for (k, v) in &t.names {
                    let Some(n) = parse_int(k) else {
                        return Err(bad(format!(
                            "[type]: names key {k:?} is not an integer (write e.g. 0 = \"normal\" or \"0x10\" = \"shared\")"
                        )));
                    };
                    if n & !fl.mask != 0 {
                        return Err(bad(format!(
                            "[type]: names key {k} ({n:#x}) has bits outside the type mask {:#x}",
                            fl.mask
                        )));
                    }
                    if v.is_empty() {
                        return Err(bad(format!("[type]: the name of value {k} is empty")));
                    }
                    type_names.push((n, v.clone()));
                }
                type_names.sort();
                for (key, bit) in [("pshared_bit", t.pshared_bit), ("robust_bit", t.robust_bit)] {
                    if let Some(b) = bit
                        && (b == 0 || b & !full_mask(t.size) != 0)
                    {
                        return Err(bad(format!(
                            "[type]: {key} = {b:#x} must be non-zero and fit in {} byte(s)",
                            t.size
                        )));
                    }
                }
                (Some(fl), t.pshared_bit, t.robust_bit)
            }
        };
        let owner = match &f.owner {
            None => None,
            Some(o) => {
                let fl = field("owner", o.offset, o.size, None)?;
                if o.size < 4 {
                    return Err(bad(format!(
                        "[owner]: size = {}: a thread id or pointer is 4 or 8 bytes",
                        o.size
                    )));
                }
                Some((fl, o.kind))
            }
        };
        let waiters = match &f.waiters {
            None => None,
            Some(w) => Some(field("waiters", w.offset, w.size, w.mask)?),
        };
        let count = match &f.count {
            None => None,
            Some(c) => Some(field("count", c.offset, c.size, c.mask)?),
        };
        if let Some((mf, _)) = &magic {
            let others = [
                ("lock", Some(lock)),
                ("type", ty),
                ("owner", owner.map(|o| o.0)),
                ("waiters", waiters),
                ("count", count),
            ];
            for (name, o) in others {
                if let Some(o) = o
                    && o.offset < mf.offset + mf.size
                    && mf.offset < o.offset + o.size
                {
                    return Err(bad(format!(
                        "[{name}] (bytes {}..{}) overlaps [magic] (bytes {}..{})",
                        o.offset,
                        o.offset + o.size,
                        mf.offset,
                        mf.offset + mf.size
                    )));
                }
            }
        }
        if let Some((of, _)) = &owner
            && of.offset < lock.offset + lock.size
            && lock.offset < of.offset + of.size
        {
            return Err(bad(format!(
                "[owner] (bytes {}..{}) overlaps [lock] (bytes {}..{})",
                of.offset,
                of.offset + of.size,
                lock.offset,
                lock.offset + lock.size
            )));
        }
        Ok(DeclaredLayout {
            name: f.name,
            size,
            align: f.align,
            endian: f.endianness.map(|e| match e {
                DeclaredEndian::Little => Endian::Little,
                DeclaredEndian::Big => Endian::Big,
            }),
            magic: magic.map(|m| m.1),
            lock,
            unlocked: unlocked & lock.mask,
            ty,
            type_names,
            pshared_bit,
            robust_bit,
            owner,
            waiters,
            count,
            source: path.to_owned(),
        })
    }

    /// The byte order to decode with: the declared one, else the core's.
    pub fn endian_or(&self, core: Endian) -> Endian {
        self.endian.unwrap_or(core)
    }

    /// The declared name of the type value in `bytes`, if the layout names it.
    pub fn type_name(&self, bytes: &[u8], endian: Endian) -> Option<String> {
        let b = Bytes::new(bytes, self.endian_or(endian));
        let v = self.ty?.read(&b)?;
        self.type_names
            .iter()
            .find(|(n, _)| *n == v)
            .map(|(_, s)| s.clone())
    }

    fn held(&self, b: &Bytes<'_>) -> Option<bool> {
        Some(self.lock.read(b)? != self.unlocked)
    }

    fn type_known(&self, v: u64) -> bool {
        self.type_names.is_empty() || self.type_names.iter().any(|(n, _)| *n == v)
    }
}

fn mutex_type(name: &str) -> MutexType {
    match name.to_ascii_lowercase().as_str() {
        "normal" | "default" | "plain" => MutexType::Normal,
        "recursive" => MutexType::Recursive,
        "errorcheck" | "error-check" | "error_check" => MutexType::Errorcheck,
        "adaptive" => MutexType::Adaptive,
        _ => MutexType::Unknown,
    }
}

impl Layout for DeclaredLayout {
    fn name(&self) -> &str {
        &self.name
    }
    fn family(&self) -> Family {
        Family::Declared
    }
    fn size(&self) -> usize {
        self.size
    }
    fn align(&self) -> usize {
        self.align
    }
    fn futex_offset(&self) -> u64 {
        self.lock.offset as u64
    }

    fn decode(&self, bytes: &[u8], endian: Endian) -> Decoded {
        let b = Bytes::new(bytes, self.endian_or(endian));
        let mut anomalies = Vec::new();
        let mut fields = Vec::new();
        let magic = self
            .magic
            .and_then(|m| b.word(m.offset, m.size).map(|v| (m, v)));
        if let Some((m, v)) = magic {
            fields.push(("magic", v));
            if v != m.value && v != 0 {
                anomalies.push(format!(
                    "magic = {v:#x}, not {:#x}: not a {} or overwritten",
                    m.value, self.name
                ));
            }
        }
        let lock = self.lock.read(&b).unwrap_or(0);
        fields.push(("lock", lock));
        let held = lock != self.unlocked;
        let ty = self
            .ty
            .and_then(|t| t.read_raw(&b).map(|raw| (raw, raw & t.mask)));
        let mut mtype = MutexType::Normal;
        let (mut pshared, mut robust) = (false, false);
        if let Some((raw, v)) = ty {
            fields.push(("type", raw));
            if !self.type_names.is_empty() {
                match self.type_names.iter().find(|(n, _)| *n == v) {
                    Some((_, name)) => mtype = mutex_type(name),
                    None => {
                        mtype = MutexType::Unknown;
                        anomalies.push(format!(
                            "type = {v:#x} is none of the declared values ({})",
                            self.type_names
                                .iter()
                                .map(|(n, s)| format!("{n:#x} = {s}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                }
            }
            pshared = self.pshared_bit.is_some_and(|m| raw & m != 0);
            robust = self.robust_bit.is_some_and(|m| raw & m != 0);
        }
        let waiters = self.waiters.and_then(|w| w.read(&b));
        if let Some(w) = waiters {
            fields.push(("waiters", w));
        }
        let count = self.count.and_then(|c| c.read(&b));
        if let Some(c) = count {
            fields.push(("count", c));
        }
        let (mut owner_tid, mut owner_pointer) = (None, None);
        if let Some((f, kind)) = self.owner {
            let o = f.read(&b).unwrap_or(0);
            fields.push(("owner", o));
            if held && o == 0 {
                anomalies.push("held but the owner field is 0".into());
            }
            if o != 0 {
                match kind {
                    OwnerKind::Tid => match u32::try_from(o) {
                        Ok(t) => owner_tid = Some(t),
                        Err(_) => anomalies.push(format!("owner = {o:#x} is not a thread id")),
                    },
                    OwnerKind::Pointer => owner_pointer = Some(o),
                }
            }
        }
        let waiters_flag = waiters.is_some_and(|w| w != 0);
        Decoded {
            layout: self.name.clone(),
            family: Family::Declared,
            mtype,
            pshared,
            robust,
            protocol: Protocol::None,
            ceiling: None,
            state: match (held, waiters_flag) {
                (false, _) => LockState::Unlocked,
                (true, false) => LockState::Locked,
                (true, true) => LockState::Contended,
            },
            owner_tid: if held { owner_tid } else { None },
            owner_pointer: if held { owner_pointer } else { None },
            owner_pid: None,
            count: count.map_or(0, |c| u32::try_from(c).unwrap_or(u32::MAX)),
            nusers: None,
            waiters_flag,
            futex_offset: self.lock.offset as u64,
            fields,
            anomalies,
        }
    }

    /// Held, with an owner when the layout has an owner field, and (when type
    /// names are declared) a declared type value.
    fn plausible_locked(&self, bytes: &[u8], endian: Endian) -> bool {
        let b = Bytes::new(bytes, self.endian_or(endian));
        if !self.plausible(bytes, endian) || self.held(&b) != Some(true) {
            return false;
        }
        match self.owner {
            Some((f, _)) => f.read(&b).is_some_and(|o| o != 0),
            None => true,
        }
    }

    fn has_magic(&self, bytes: &[u8], endian: Endian) -> Option<bool> {
        let m = self.magic?;
        let b = Bytes::new(bytes, self.endian_or(endian));
        Some(b.word(m.offset, m.size) == Some(m.value))
    }

    fn magic(&self) -> Option<Magic> {
        self.magic
    }

    /// The magic (if declared) and a declared type value (if names are declared).
    fn plausible(&self, bytes: &[u8], endian: Endian) -> bool {
        if bytes.len() < self.size {
            return false;
        }
        if self.has_magic(bytes, endian) == Some(false) {
            return false;
        }
        let b = Bytes::new(bytes, self.endian_or(endian));
        match self.ty.and_then(|t| t.read(&b)) {
            Some(v) => self.type_known(v),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../docs/examples/acme_lock.toml");

    fn load(text: &str) -> Result<DeclaredLayout, DeclaredError> {
        DeclaredLayout::parse(text, Path::new("test.toml"))
    }

    #[test]
    fn documented_example_parses_and_decodes() {
        let l = load(EXAMPLE).unwrap();
        assert_eq!((l.name.as_str(), l.size, l.align), ("acme_lock", 32, 8));
        let m = l.magic.unwrap();
        assert_eq!((m.offset, m.size, m.value), (0, 4, 0x41434d45));
        // A held, shared, recursive acme_lock with a waiter, owned by thread 4242.
        let mut b = vec![0u8; 32];
        b[0..4].copy_from_slice(&0x41434d45u32.to_le_bytes());
        b[4..6].copy_from_slice(&(0x0100u16 | 1).to_le_bytes());
        b[8..12].copy_from_slice(&1u32.to_le_bytes());
        b[12..16].copy_from_slice(&1u32.to_le_bytes());
        b[16..24].copy_from_slice(&4242u64.to_le_bytes());
        b[24..28].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(l.has_magic(&b, Endian::Little), Some(true));
        assert!(l.plausible_locked(&b, Endian::Little));
        let d = l.decode(&b, Endian::Little);
        assert_eq!(d.state, LockState::Contended);
        assert_eq!(d.mtype, MutexType::Recursive);
        assert!(d.pshared);
        assert_eq!(d.owner_tid, Some(4242));
        assert_eq!(d.count, 2);
        assert!(d.anomalies.is_empty(), "{:?}", d.anomalies);
        assert_eq!(
            l.type_name(&b, Endian::Little).as_deref(),
            Some("recursive")
        );
        // Unlocked with no owner; an undeclared type is rejected by the scan test.
        b[8..12].fill(0);
        b[16..24].fill(0);
        assert_eq!(l.decode(&b, Endian::Little).state, LockState::Unlocked);
        b[4] = 9;
        assert!(!l.plausible(&b, Endian::Little));
        assert!(!l.decode(&b, Endian::Little).anomalies.is_empty());
    }

    #[test]
    fn pointer_owner_and_fixed_endianness() {
        let text = r#"
name = "seedlock"
size = 24
align = 8
endianness = "big"
magic = { offset = 6, size = 2, value = 0x4d58 }
lock = { offset = 12, size = 1, held_mask = 0xff }
owner = { offset = 16, size = 8, kind = "pointer" }
"#;
        let l = load(text).unwrap();
        let mut b = vec![0u8; 24];
        b[6] = 0x4d;
        b[7] = 0x58;
        b[12] = 0xff;
        b[16..24].copy_from_slice(&0xdead_beef_0000u64.to_be_bytes());
        // Decoded big-endian whatever the core's order is.
        let d = l.decode(&b, Endian::Little);
        assert_eq!(d.owner_pointer, Some(0xdead_beef_0000));
        assert_eq!(d.state, LockState::Locked);
        assert!(l.plausible_locked(&b, Endian::Little));
    }

    #[test]
    fn strict_validation() {
        let base = "name = \"x\"\nsize = 16\nalign = 8\n";
        let cases = [
            (
                format!("{base}lock = {{ offset = 14, size = 4 }}\n"),
                "past the end",
            ),
            (
                format!("{base}lock = {{ offset = 0, size = 3 }}\n"),
                "1, 2, 4 or 8",
            ),
            (
                format!(
                    "{base}lock = {{ offset = 0, size = 4 }}\nmagic = {{ offset = 2, size = 2, value = 1 }}\n"
                ),
                "overlaps [magic]",
            ),
            (
                format!(
                    "{base}lock = {{ offset = 0, size = 4 }}\nmagic = {{ offset = 8, size = 2, value = 0 }}\n"
                ),
                "every zero word",
            ),
            (
                format!(
                    "{base}lock = {{ offset = 0, size = 4 }}\nmagic = {{ offset = 8, size = 2, value = 0x10000 }}\n"
                ),
                "does not fit",
            ),
            (
                format!(
                    "{base}lock = {{ offset = 0, size = 4 }}\nowner = {{ offset = 8, size = 8, kind = \"tcb\" }}\n"
                ),
                "unknown variant",
            ),
            (
                format!(
                    "{base}lock = {{ offset = 0, size = 4 }}\nowner = {{ offset = 2, size = 4, kind = \"tid\" }}\n"
                ),
                "overlaps [lock]",
            ),
            (
                format!("{base}lock = {{ offset = 0, size = 4, held_mask = 0x100000000 }}\n"),
                "fit in 4",
            ),
            (
                format!("{base}lock = {{ offset = 0, size = 4 }}\ncolour = 1\n"),
                "unknown field",
            ),
            (
                format!(
                    "{base}lock = {{ offset = 0, size = 4 }}\n[type]\noffset = 4\nsize = 1\nnames = {{ x = \"a\" }}\n"
                ),
                "not an integer",
            ),
            (
                format!(
                    "{base}lock = {{ offset = 0, size = 4 }}\n[type]\noffset = 4\nsize = 1\nnames = {{ 256 = \"a\" }}\n"
                ),
                "outside the type mask",
            ),
            (
                "name = \"x\"\nsize = 16\nalign = 6\nlock = { offset = 0, size = 4 }\n".to_string(),
                "power of two",
            ),
            (
                "name = \"a b\"\nsize = 16\nalign = 8\nlock = { offset = 0, size = 4 }\n"
                    .to_string(),
                "letters",
            ),
            (base.to_string(), "missing field `lock`"),
            ("size = [".to_string(), "not a valid layout file"),
        ];
        for (text, want) in cases {
            let e = load(&text).expect_err(&text).to_string();
            assert!(e.contains(want), "{text}\n=> {e}");
            assert!(e.starts_with("test.toml: "), "{e}");
        }
    }
}
