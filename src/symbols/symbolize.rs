//! Addresses to names: module + offset always, the function from DWARF (with the
//! chain of inlined calls) or else from the symbol tables, and file:line.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::modules::{Module, Modules};

/// One source-level frame at an address: the innermost inlined call first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFrame {
    /// Demangled (C++, Rust) function name.
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// This function was inlined into the next frame.
    pub inlined: bool,
}

/// What is known of one address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Symbol {
    /// The module's path as the core names it.
    pub module: String,
    /// The address in the module's own (link-time) address space, as
    /// `addr2line -e FILE` takes it; for shared objects and PIEs, the offset from
    /// the module's load address.
    pub offset: u64,
    /// The innermost function (an inlined one when the address is in inlined code).
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// Every source frame at the address, innermost first (several when inlined).
    pub frames: Vec<SourceFrame>,
}

/// A data symbol (a global variable) holding an address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DataSymbol {
    pub module: String,
    /// Demangled name.
    pub name: String,
    /// Runtime address of the symbol's start.
    pub address: u64,
    pub size: u64,
    /// `addr - address`.
    pub offset: u64,
}

/// How much to resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Detail {
    /// Use DWARF (function names as the debugger shows them, file:line). Without
    /// it, names come from the symbol tables only.
    pub dwarf: bool,
    /// List inlined frames (needs `dwarf`).
    pub inlines: bool,
}

impl Detail {
    pub const FULL: Detail = Detail {
        dwarf: true,
        inlines: true,
    };
    pub const SYMTAB: Detail = Detail {
        dwarf: false,
        inlines: false,
    };
}

/// A C++ ABI symbol that is not a variable of the program, though it lives in a data
/// section: virtual tables (`_ZTV`), VTTs (`_ZTT`), typeinfo objects and their name
/// strings (`_ZTI`, `_ZTS`), construction vtables (`_ZTC`), TLS init functions and
/// wrappers (`_ZTH`, `_ZTW`), thunks (`_ZTh`, `_ZTv`, `_ZTc`) and guard variables of
/// function-local statics (`_ZGV`), and transaction clones (`_ZGTt`). The Itanium C++
/// ABI reserves the `_ZT` and `_ZG` special-name prefixes for these; `_ZGR` (a
/// lifetime-extended temporary) is a real object and is kept.
pub fn mangled_non_object(name: &str) -> bool {
    // Versioned or local aliases keep the mangled prefix.
    name.starts_with("_ZT") || name.starts_with("_ZGV") || name.starts_with("_ZGT")
}

pub fn demangle(name: &str) -> String {
    gdb_spelling(addr2line::demangle_auto(Cow::Borrowed(name), None).into_owned())
}

/// `cpp_demangle` spells an anonymous namespace as its mangled source name
/// (`_GLOBAL__N_1`); gdb, c++filt and the DWARF say `(anonymous namespace)`.
pub(crate) fn gdb_spelling(name: String) -> String {
    if !name.contains("_GLOBAL__N_") {
        return name;
    }
    let mut out = String::with_capacity(name.len() + 8);
    let mut rest = name.as_str();
    while let Some(i) = rest.find("_GLOBAL__N_") {
        out.push_str(&rest[..i]);
        out.push_str("(anonymous namespace)");
        rest =
            rest[i + "_GLOBAL__N_".len()..].trim_start_matches(|c: char| c.is_ascii_alphanumeric());
    }
    out.push_str(rest);
    out
}

/// A function named by DWARF, as gdb prints it in a backtrace: a C++ function
/// qualified with its namespaces and classes but without its parameter list
/// (`std::mutex::lock`, not `std::mutex::lock()`; gdb builds the name from the DIE
/// tree). Names from the symbol tables alone keep their parameters, as gdb's
/// minimal symbols do.
fn dwarf_function_name<R: gimli::Reader>(n: &addr2line::FunctionName<R>) -> Option<String> {
    let raw = n.raw_name().ok()?;
    if raw.starts_with("_Z") {
        let opts = cpp_demangle::DemangleOptions::new()
            .no_params()
            .no_return_type();
        if let Some(d) = cpp_demangle::Symbol::new(raw.as_bytes())
            .ok()
            .and_then(|s| s.demangle_with_options(&opts).ok())
        {
            return Some(gdb_spelling(d));
        }
    }
    n.demangle().ok().map(|d| gdb_spelling(d.into_owned()))
}

impl Module {
    /// The function holding a link-time address, from the symbol tables.
    pub fn symtab_function(&self, vaddr: u64) -> Option<String> {
        self.symbol_for(vaddr, true).map(|(n, _, _)| demangle(n))
    }

    /// The frames the DWARF gives at a link-time address (read now).
    fn dwarf_frames(&self, vaddr: u64, detail: Detail) -> Vec<SourceFrame> {
        let mut out = Vec::new();
        self.with_addr2line(vaddr, |ctx| {
            let Ok(mut it) = ctx.find_frames(vaddr).skip_all_loads() else {
                return;
            };
            while let Ok(Some(f)) = it.next() {
                if out.len() >= 64 {
                    break;
                }
                out.push(SourceFrame {
                    function: f.function.as_ref().and_then(dwarf_function_name),
                    file: f.location.as_ref().and_then(|l| l.file).map(str::to_string),
                    line: f.location.as_ref().and_then(|l| l.line),
                    inlined: false,
                });
            }
        });
        let n = out.len();
        for (i, f) in out.iter_mut().enumerate() {
            f.inlined = i + 1 < n;
        }
        if !detail.inlines && n > 1 {
            // One frame: the real function, at the innermost source line.
            let inner = out.swap_remove(0);
            let mut last = out.pop().unwrap_or_else(|| inner.clone());
            last.file = inner.file;
            last.line = inner.line;
            last.inlined = false;
            out = vec![last];
        }
        out
    }

    /// Source frames at a link-time address, innermost first. Empty when nothing
    /// is known.
    pub fn source_frames(&self, vaddr: u64, detail: Detail) -> Vec<SourceFrame> {
        let mut out = if detail.dwarf {
            // Asked before (by another thread's frame, another core, or through the
            // on-disk cache an earlier process): the DWARF is not read again.
            let key = (vaddr, 1 | if detail.inlines { 2 } else { 0 });
            match self.files.memo_frames(key) {
                Some(f) => f,
                None => {
                    let f = self.dwarf_frames(vaddr, detail);
                    self.files.memo_put_frames(key, &f);
                    f
                }
            }
        } else {
            Vec::new()
        };
        match out.last_mut() {
            Some(f) if f.function.is_none() => f.function = self.symtab_function(vaddr),
            Some(_) => {}
            None => {
                if let Some(name) = self.symtab_function(vaddr) {
                    out.push(SourceFrame {
                        function: Some(name),
                        file: None,
                        line: None,
                        inlined: false,
                    });
                }
            }
        }
        out
    }
}

impl Modules {
    /// Symbolize a runtime address: module + offset at least, then function,
    /// file:line and inlined frames as far as the files found allow. `None` when no
    /// module holds the address.
    pub fn symbolize(&self, addr: u64) -> Option<Symbol> {
        self.symbolize_with(addr, Detail::FULL)
    }

    pub fn symbolize_with(&self, addr: u64, detail: Detail) -> Option<Symbol> {
        let m = self.module_at(addr)?;
        let offset = m.to_link(addr);
        let frames = m.source_frames(offset, detail);
        let first = frames.first();
        Some(Symbol {
            module: m.name.clone(),
            offset,
            function: first.and_then(|f| f.function.clone()),
            file: first.and_then(|f| f.file.clone()),
            line: first.and_then(|f| f.line),
            frames,
        })
    }

    /// The global variable (symbol-table object) holding a runtime address, e.g.
    /// `config_lock`. Member paths such as `region->slots[2].mu` need DWARF types
    /// and are built on top of this by the caller.
    pub fn data_symbol(&self, addr: u64) -> Option<DataSymbol> {
        let m = self.module_at(addr)?;
        let v = m.to_link(addr);
        let (name, start, size) = m.symbol_for(v, false)?;
        Some(DataSymbol {
            module: m.name.clone(),
            name: demangle(name),
            address: start.wrapping_add(m.bias),
            size,
            offset: v - start,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cxx_abi_objects_are_not_variables() {
        for n in [
            "_ZTVN2ns9MutexLikeE",
            "_ZTIN2ns9MutexLikeE",
            "_ZTSN2ns32MutexTypeinfoNameIsFortyBytesXYZE",
            "_ZTTN2ns5LocksE",
            "_ZGVZN2ns9lock_nameB5cxx11EvE4name",
            "_ZTHN2ns6tls_muE",
            "_ZTWN2ns6tls_muE",
        ] {
            assert!(mangled_non_object(n), "{n}");
        }
        for n in ["_ZN2ns5g_objE", "g_lock", "_ZGR1x_", "__aio_requests_mutex"] {
            assert!(!mangled_non_object(n), "{n}");
        }
        assert_eq!(demangle("_ZN2ns5g_objE"), "ns::g_obj");
        assert!(demangle("_ZTVN2ns9MutexLikeE").contains("ns::MutexLike"));
        assert_eq!(
            demangle("_ZN12_GLOBAL__N_14lockE"),
            "(anonymous namespace)::lock"
        );
    }
}
