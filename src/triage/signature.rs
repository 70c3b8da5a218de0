//! Bucket signatures: a stable text naming the bug a core shows, independent of
//! ASLR, PIDs/TIDs, paths and hosts (`docs/triage.md`, "Buckets").
//!
//! `CODE | WHERE | FRAMES`:
//! - `CODE`: the primary finding's code (the first finding of the highest severity,
//!   in report order); `signal:SIGNAME` when the core has no finding but died of a
//!   signal; `clean` otherwise.
//! - `WHERE`: where the finding's first mutex lives: the mapping kind (`sysv-shm`,
//!   `anon-shared`, `heap`, ...), the section when known (`.bss`, `.data`), and the
//!   symbol or DWARF variable path when known (array indices dropped: `S[3].mu` and
//!   `S[5].mu` are one bug); `-` when the finding names no mutex.
//! - `FRAMES`: up to [`FRAMES`] frames of the involved thread (the finding's first
//!   thread, else the crashing thread), innermost first, after the frames inside the
//!   C library's lock and wait code (and the vDSO) are collapsed: `MODULE!FUNCTION`
//!   with the module's base name and no parameter list, or `MODULE+0xOFFSET`
//!   (link-time offset) for a frame with no name.

use sha2::{Digest, Sha256};

use super::model::{CoreRecord, FindingRef};
use crate::report::model::{FrameModel, Report, Severity, ThreadModel};

/// Version of the signature algorithm: a change that moves cores between buckets
/// bumps it.
pub const SIGNATURE_VERSION: u32 = 1;

/// How many frames a signature keeps.
pub const FRAMES: usize = 3;

/// The signature of a report, with the primary finding's index.
pub fn of(report: &Report) -> (String, Option<usize>) {
    let primary = primary_finding(report);
    let (code, where_, thread) = match primary {
        Some(i) => {
            let f = &report.findings[i];
            let where_ = f
                .mutexes
                .first()
                .and_then(|a| report.mutexes.iter().find(|m| m.address == *a))
                .map(|m| {
                    let mut s = m
                        .mapping_kind
                        .map_or("unmapped", |k| k.as_str())
                        .to_string();
                    if let Some(sec) = section(&m.location) {
                        s.push(':');
                        s.push_str(sec);
                    }
                    if let Some(sym) = &m.symbol {
                        s.push(' ');
                        s.push_str(&normalise_symbol(sym));
                    }
                    s
                })
                .unwrap_or_else(|| "-".to_string());
            let thread = f
                .threads
                .first()
                .and_then(|t| report.threads.iter().find(|x| x.tid == *t))
                .or_else(|| crashed(report));
            (f.code.to_string(), where_, thread)
        }
        None => match report.core.signal.as_ref() {
            Some(s) => (
                format!(
                    "signal:{}",
                    s.name.clone().unwrap_or_else(|| s.number.to_string())
                ),
                "-".to_string(),
                crashed(report),
            ),
            None => ("clean".to_string(), "-".to_string(), None),
        },
    };
    let frames = thread.map(frames_of).unwrap_or_default();
    let frames = if frames.is_empty() {
        "-".to_string()
    } else {
        frames.join(" < ")
    };
    (format!("{code} | {where_} | {frames}"), primary)
}

/// The bucket id of a signature: 12 hex digits of its SHA-256, prefixed with the
/// signature version so that ids of different versions never collide.
pub fn bucket_id(signature: &str) -> String {
    let h = Sha256::digest(format!("{SIGNATURE_VERSION}\n{signature}").as_bytes());
    h.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The primary finding of a list in report order: the first one of the highest
/// severity. The one rule, used for a report ([`primary_finding`]), for a triage
/// record's findings ([`primary_of_record`]: the bucket's code and severity in the
/// document, the `code` column of the `--db` index) and so for the signature.
pub fn primary<T>(findings: &[T], severity: impl Fn(&T) -> Severity) -> Option<usize> {
    findings
        .iter()
        .enumerate()
        .min_by_key(|(i, f)| (severity(f), *i))
        .map(|(i, _)| i)
}

/// The primary finding of a report (its index in `report.findings`).
pub fn primary_finding(report: &Report) -> Option<usize> {
    primary(&report.findings, |f| f.severity)
}

/// The primary finding of a triage record (its findings are in report order).
pub fn primary_of_record(r: &CoreRecord) -> Option<&FindingRef> {
    primary(&r.findings, |f| f.severity).map(|i| &r.findings[i])
}

fn crashed(report: &Report) -> Option<&ThreadModel> {
    report.threads.iter().find(|t| t.crashed)
}

/// `.bss` / `.data` / ... from a location such as ".bss of app".
fn section(location: &str) -> Option<&str> {
    let s = location.split(" of ").next()?;
    (s.starts_with('.') && !s.contains(' ')).then_some(s)
}

/// Drop array indices: `S[3].mu` → `S[].mu`.
fn normalise_symbol(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_index = false;
    for c in s.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            _ => out.push(c),
        }
    }
    out
}

/// Function-name prefixes of the C libraries' lock, wait, abort and syscall
/// plumbing (glibc, musl, Solaris libc): collapsed at the top of a stack, so that
/// two builds of the C library, or a static and a dynamic one, give one signature.
const LOCK_INTERNAL: &[&str] = &[
    "futex_",
    "__futex",
    "__GI___futex",
    "__lll_",
    "__GI___lll_",
    "lll_",
    "___pthread_mutex_",
    "__pthread_mutex_",
    "pthread_mutex_",
    "__GI___pthread_mutex_",
    "__pthread_cond_",
    "___pthread_cond_",
    "pthread_cond_",
    "__GI___pthread_cond_",
    "__syscall",
    "syscall",
    "__libc_",
    "__GI_raise",
    "raise",
    "__pthread_kill",
    "pthread_kill",
    "__GI_abort",
    "abort",
    "__assert_fail",
    "__GI___assert_fail",
    "__timedwait",
    "__wait",
    "__lock",
    "a_",
    "__lwp_",
    "___lwp_",
    "_lwp_",
    "lwp_",
    "mutex_lock",
    "mutex_trylock",
    "_mutex_lock",
    "mutex_lock_impl",
    "mutex_lock_queue",
    "mutex_lock_internal",
    "__mutex_lock",
    "_lwp_mutex",
    "std::sys::",
    "std::sync::",
    "std::mutex::lock",
    "std::__1::mutex::lock",
    "__gthread_",
    "__kernel_vsyscall",
    "__vdso_",
];

fn is_c_library(module: &str) -> bool {
    let base = module.rsplit('/').next().unwrap_or(module);
    [
        "libc.so",
        "libc-",
        "libpthread",
        "ld-linux",
        "ld-musl",
        "ld.so",
    ]
    .iter()
    .any(|p| base.starts_with(p))
}

fn lock_internal(f: &FrameModel) -> bool {
    match &f.function {
        Some(name) => {
            LOCK_INTERNAL.iter().any(|p| name.starts_with(p))
                || f.module.as_deref().is_some_and(is_c_library)
        }
        None => f.module.as_deref().is_some_and(is_c_library),
    }
}

fn frame_name(f: &FrameModel) -> String {
    let module = f
        .module
        .as_deref()
        .map(|m| m.rsplit('/').next().unwrap_or(m))
        .unwrap_or("?");
    if let Some(n) = &f.function {
        // Drop a parameter list and anything after it (`ns::f(int) const`).
        let n = match n.find('(') {
            Some(i) if i > 0 => &n[..i],
            _ => n.as_str(),
        };
        return format!("{module}!{n}");
    }
    match &f.offset {
        Some(o) => format!("{module}+{o}"),
        None => format!("{module}+?"),
    }
}

/// The thread's top frames for a signature (`-` frames when it has no backtrace).
pub fn frames_of(t: &ThreadModel) -> Vec<String> {
    let Some(frames) = t.frames.as_ref() else {
        return Vec::new();
    };
    frames
        .iter()
        .filter(|f| !f.signal_trampoline)
        .skip_while(|f| lock_internal(f))
        // Thread start-up and other C library frames further out say nothing
        // about the bug.
        .filter(|f| !f.module.as_deref().is_some_and(is_c_library))
        .take(FRAMES)
        .map(frame_name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_dropped() {
        assert_eq!(normalise_symbol("S[3].mu"), "S[].mu");
        assert_eq!(normalise_symbol("a[1][22].b[3]"), "a[][].b[]");
        assert_eq!(normalise_symbol("region->mu"), "region->mu");
    }

    #[test]
    fn sections() {
        assert_eq!(section(".bss of app"), Some(".bss"));
        assert_eq!(section("SysV shm segment key 0x1"), None);
        assert_eq!(section("heap"), None);
    }

    #[test]
    fn bucket_ids_are_short_and_stable() {
        let a = bucket_id("x | y | z");
        assert_eq!(a.len(), 12);
        assert_eq!(a, bucket_id("x | y | z"));
        assert_ne!(a, bucket_id("x | y | w"));
    }

    #[test]
    fn primary_is_the_first_of_the_highest_severity() {
        use Severity::*;
        let sev = |s: &Severity| *s;
        assert_eq!(primary(&[Note, Warning, Error, Error], sev), Some(2));
        assert_eq!(primary(&[Warning, Note, Warning], sev), Some(0));
        assert_eq!(primary(&[Note, Warning], sev), Some(1));
        assert_eq!(primary::<Severity>(&[], sev), None);
    }
}
