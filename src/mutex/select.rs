//! Choosing the mutex layout for a core: the architecture from the ELF header, the C
//! library from the mapped files (NT_FILE), or forced with `--layout`.

use serde::Serialize;

use super::Layout;
use super::glibc::Glibc;
use super::musl::Musl;
use super::solaris::{Isa, SolarisMutex};
use crate::coredump::{Core, Os};
use crate::mappings::Mapping;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Libc {
    Glibc,
    Musl,
    Unknown,
}

/// How the C library was recognised (for the report).
#[derive(Clone, Debug, Serialize)]
pub struct LibcGuess {
    pub libc: Libc,
    pub evidence: String,
}

/// Recognise the C library from the mappings' file names, or from the executable's
/// bytes for static binaries.
pub fn detect_libc(maps: &[Mapping], exe_bytes: Option<&[u8]>) -> LibcGuess {
    for m in maps {
        let Some(p) = &m.path else { continue };
        let name = p.rsplit('/').next().unwrap_or(p);
        if name.starts_with("ld-musl-") || name.starts_with("libc.musl") {
            return LibcGuess {
                libc: Libc::Musl,
                evidence: format!("{p} is mapped"),
            };
        }
        if name.starts_with("libc.so.6") || name.starts_with("libc-2.") {
            return LibcGuess {
                libc: Libc::Glibc,
                evidence: format!("{p} is mapped"),
            };
        }
    }
    if let Some(b) = exe_bytes {
        if memchr::memmem::find(b, b"GNU C Library").is_some()
            || memchr::memmem::find(b, b"GLIBC_2.").is_some()
        {
            return LibcGuess {
                libc: Libc::Glibc,
                evidence: "static executable containing glibc".into(),
            };
        }
        if memchr::memmem::find(b, b"__pthread_self").is_some()
            || memchr::memmem::find(b, b"musl").is_some()
        {
            return LibcGuess {
                libc: Libc::Musl,
                evidence: "static executable with musl symbols".into(),
            };
        }
        return LibcGuess {
            libc: Libc::Musl,
            evidence: "static executable without glibc markers: assuming musl".into(),
        };
    }
    LibcGuess {
        libc: Libc::Unknown,
        evidence: "no C library mapped and no executable to look into".into(),
    }
}

/// Every built-in layout: glibc and musl for each Linux architecture, Solaris
/// `mutex_t` for each ISA.
pub fn builtins() -> Vec<Box<dyn Layout>> {
    let mut v: Vec<Box<dyn Layout>> = Vec::new();
    for &a in crate::coredump::arch::LINUX_ARCHES {
        if let Some(g) = Glibc::for_arch(a) {
            v.push(Box::new(g));
        }
        if let Some(m) = Musl::for_arch(a) {
            v.push(Box::new(m));
        }
    }
    for isa in SOLARIS_ISAS {
        v.push(Box::new(SolarisMutex::new(isa)));
    }
    v
}

/// Every built-in layout name, for `--layout` and the docs.
pub fn builtin_names() -> Vec<String> {
    builtins().iter().map(|l| l.name().to_string()).collect()
}

const SOLARIS_ISAS: [Isa; 4] = [Isa::Amd64, Isa::I386, Isa::Sparcv9, Isa::Sparc];

/// A built-in layout by name (`glibc-x86_64`, `musl-aarch64`, ...).
pub fn builtin(name: &str) -> Option<Box<dyn Layout>> {
    builtins().into_iter().find(|l| l.name() == name)
}

/// The layout for a core's architecture and C library.
pub fn for_core(core: &Core<'_>, libc: Libc) -> Option<Box<dyn Layout>> {
    if core.os == Os::Solaris {
        return SolarisMutex::for_arch(core.arch).map(|l| Box::new(l) as Box<dyn Layout>);
    }
    match libc {
        Libc::Musl => Musl::for_arch(core.arch).map(|l| Box::new(l) as Box<dyn Layout>),
        _ => Glibc::for_arch(core.arch).map(|l| Box::new(l) as Box<dyn Layout>),
    }
}
