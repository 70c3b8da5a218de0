//! The ELF modules of a core: which files were mapped where (NT_FILE, NT_AUXV), the
//! load bias of each, the build-id the core recorded against the file found on disk,
//! and where the debugging information is.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use object::{Object, ObjectSymbol, ObjectSymbolTable, SymbolKind};
use serde::Serialize;

use super::SymbolOptions;
use super::cache::{Counters, FileCache, FileKey, ModuleFiles};
use super::dwarf::{DwarfCell, Reader};
use super::elf::{self, ElfCell, FileBytes, HeaderInfo};
use crate::coredump::{self, Core, Endian, Warning};
use crate::mappings::{Mapping, MappingKind};
use crate::memory::AddressSpace;
use crate::sysroot::Sysroot;

/// How the file found for a module compares with what the core recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuildIdStatus {
    /// The file's build-id equals the one in the core's memory: the file is used.
    Match,
    /// The file differs (another build-id, none, another machine, or another first
    /// page): it is NOT used.
    Mismatch,
    /// No file was found: addresses in the module stay module + offset.
    NoFile,
    /// The core holds no build-id for the module (its first page was not dumped or
    /// it has none), so the file could not be checked by build-id; it is used (its
    /// first page was compared when the core has it).
    NoBuildId,
}

impl BuildIdStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BuildIdStatus::Match => "match",
            BuildIdStatus::Mismatch => "mismatch",
            BuildIdStatus::NoFile => "no-file",
            BuildIdStatus::NoBuildId => "no-build-id",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModuleKind {
    /// The main program (holds AT_PHDR / AT_ENTRY).
    Executable,
    /// The dynamic linker (holds AT_BASE).
    Interpreter,
    Library,
    /// The kernel's vDSO, read from the core's memory.
    Vdso,
}

/// One mapping of a module's file: runtime [start, end) at file offset `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ModuleMapping {
    pub start: u64,
    pub end: u64,
    pub offset: u64,
    pub executable: bool,
    /// Writable: from the core's program header, or — when the core has no
    /// PT_LOAD for the mapping (gdb's `gcore` omits what it does not dump, so the
    /// permissions are unknown) — from the verified file's PT_LOAD that maps it.
    pub writable: bool,
    /// The permissions came from the module file, not from the core.
    pub perms_from_file: bool,
}

/// Sorted symbol table entry (names stay in the file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SymEntry {
    pub(crate) addr: u64,
    pub(crate) size: u64,
    /// 0: the module file's .symtab, 1: its .dynsym, 2: the debug file's .symtab.
    pub(crate) src: u8,
    pub(crate) index: u32,
    /// Lower is preferred among symbols at the same address.
    pub(crate) rank: u8,
    pub(crate) func: bool,
}

/// One ELF module of the process.
pub struct Module {
    /// The path the core names (NT_FILE, without " (deleted)"), or `[vdso]`.
    pub name: String,
    pub kind: ModuleKind,
    /// The file looked at on disk (whether or not it matched).
    pub file: Option<PathBuf>,
    /// Runtime extent: from the lowest to the highest address of its PT_LOADs (or
    /// of its mappings, when the program headers are unknown). Includes .bss.
    pub start: u64,
    pub end: u64,
    /// Runtime address minus link-time address.
    pub bias: u64,
    /// The program headers were read (from the core's memory or the file): `bias`
    /// is exact. Otherwise it assumes the file's first PT_LOAD is at address 0.
    pub bias_known: bool,
    pub mappings: Vec<ModuleMapping>,
    /// The build-id read from the module's first page in the core.
    pub core_build_id: Option<Vec<u8>>,
    /// The build-id of the file found on disk.
    pub file_build_id: Option<Vec<u8>>,
    pub status: BuildIdStatus,
    /// The separate debug file used, if any.
    pub debug_file: Option<PathBuf>,
    /// The module file itself holds DWARF.
    pub has_own_dwarf: bool,
    /// The files, their symbols, CFI and DWARF: shared between cores through the
    /// analyzer's cache.
    pub(crate) files: Arc<ModuleFiles>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("file", &self.file)
            .field("start", &format_args!("{:#x}", self.start))
            .field("end", &format_args!("{:#x}", self.end))
            .field("bias", &format_args!("{:#x}", self.bias))
            .field("status", &self.status)
            .field("debug_file", &self.debug_file)
            .finish()
    }
}

/// A symbol found by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SymbolAddress {
    /// Runtime address.
    pub address: u64,
    pub size: u64,
    /// The module's name (as in [`Module::name`]).
    pub module: String,
}

impl Module {
    /// The `object` parse of the module's file, when a usable (verified) file was
    /// found. Section addresses are link-time: add [`Module::bias`].
    pub fn object(&self) -> Option<&object::File<'_>> {
        self.files.elf.as_ref().map(ElfCell::file)
    }

    /// The separate debug file's `object` parse, when one was found.
    pub fn debug_object(&self) -> Option<&object::File<'_>> {
        self.files.debug.as_ref().map(ElfCell::file)
    }

    /// Run `f` over the module's DWARF cell (loaded on first use). The cell is
    /// shared between cores: its use is serialised (reentrantly) per module.
    fn with_dwarf_cell<T>(&self, f: impl FnOnce(&DwarfCell) -> T) -> Option<T> {
        let m = self.files.dwarf()?;
        let g = m.lock();
        Some(f(&g))
    }

    /// Whether DWARF was found for this module (loads it on first call).
    pub fn has_dwarf(&self) -> bool {
        self.files.dwarf().is_some()
    }

    /// Run `f` over the module's DWARF (loaded and decompressed on first use).
    /// Addresses in it are link-time: add [`Module::bias`].
    pub fn with_dwarf<T>(
        &self,
        f: impl for<'s, 'a> FnOnce(&'s gimli::Dwarf<Reader<'a>>) -> T,
    ) -> Option<T> {
        self.with_dwarf_cell(|c| c.with_dependent(|owner, dep| dep.dwarf(owner).map(|d| f(d))))
            .flatten()
    }

    /// The mutex variables the module's DWARF declares with one of these type
    /// names (link-time addresses), walked once per file and analyzer. `None`
    /// when the module has no DWARF.
    pub(crate) fn mutex_variables(&self, names: &[&str]) -> Option<Arc<super::cache::VarsResult>> {
        self.files.mutex_variables(names)
    }

    /// Run `f` over an `addr2line` context that knows the link-time address
    /// `probe`: the context of its compilation unit alone when `.debug_aranges`
    /// names it, else one over the whole DWARF.
    pub fn with_addr2line<T>(
        &self,
        probe: u64,
        f: impl for<'s, 'a> FnOnce(&'s addr2line::Context<Reader<'a>>) -> T,
    ) -> Option<T> {
        self.with_dwarf_cell(|c| c.with_dependent(|owner, dep| dep.ctx_for(owner, probe).map(f)))
            .flatten()
    }

    /// Like [`Module::with_addr2line`], with the DWARF's owner (for the lazily
    /// loaded location lists).
    pub(crate) fn with_dwarf_parts<T>(
        &self,
        probe: u64,
        f: impl for<'s, 'a> FnOnce(
            &'a super::dwarf::DwarfOwner,
            &'s addr2line::Context<Reader<'a>>,
        ) -> T,
    ) -> Option<T> {
        self.with_dwarf_cell(|c| {
            c.with_dependent(|owner, dep| dep.ctx_for(owner, probe).map(|ctx| f(owner, ctx)))
        })
        .flatten()
    }

    /// The module holds this runtime address.
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.start && addr < self.end
    }

    /// Link-time address of a runtime address.
    pub fn to_link(&self, addr: u64) -> u64 {
        addr.wrapping_sub(self.bias)
    }

    /// A short name: the file name of the path.
    pub fn short_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }

    fn elf_of(&self, src: u8) -> Option<&ElfCell> {
        if src == 2 {
            self.files.debug.as_ref()
        } else {
            self.files.elf.as_ref()
        }
    }

    pub(crate) fn symbols(&self) -> &[SymEntry] {
        self.files.syms.get_or_init(|| {
            let mut out = Vec::new();
            if let Some(e) = &self.files.elf {
                collect_file_symbols(e.file(), false, 0, &mut out);
                collect_file_symbols(e.file(), true, 1, &mut out);
            }
            if let Some(d) = &self.files.debug {
                collect_file_symbols(d.file(), false, 2, &mut out);
            }
            // (addr, rank, src, index) as one integer: one comparison per step.
            out.sort_unstable_by_key(|s| {
                u128::from(s.addr) << 64
                    | u128::from(s.rank) << 40
                    | u128::from(s.src) << 32
                    | u128::from(s.index)
            });
            out
        })
    }

    pub(crate) fn symbol_name(&self, e: &SymEntry) -> Option<&str> {
        let f = self.elf_of(e.src)?.file();
        let table = if e.src == 1 {
            f.dynamic_symbol_table()?
        } else {
            f.symbol_table()?
        };
        let s = table
            .symbol_by_index(object::SymbolIndex(e.index as usize))
            .ok()?;
        s.name().ok().filter(|n| !n.is_empty())
    }

    /// The symbol-table entry covering a link-time address: (name, its start).
    /// `functions_only` restricts to code symbols.
    pub(crate) fn symbol_for(&self, vaddr: u64, functions_only: bool) -> Option<(&str, u64, u64)> {
        let syms = self.symbols();
        let mut i = syms.partition_point(|s| s.addr <= vaddr);
        // Walk back over candidates: the first (highest address, best rank) whose
        // range covers the address; a size-0 symbol covers what follows it up to
        // the next symbol, within 64 KiB.
        let mut seen_addr = None;
        let mut steps = 0;
        while i > 0 && steps < 64 {
            i -= 1;
            steps += 1;
            let s = syms[i];
            if functions_only && !s.func {
                continue;
            }
            let covers = if s.size > 0 {
                vaddr < s.addr.saturating_add(s.size)
            } else {
                seen_addr.is_none() && vaddr - s.addr < 0x10000
            };
            // Within one address: the best rank, then (as gdb's minimal symbols)
            // the greatest name.
            if covers {
                let mut j = i;
                while j > 0 && syms[j - 1].addr == s.addr {
                    j -= 1;
                }
                let mut best: Option<(&str, SymEntry)> = None;
                for t in &syms[j..] {
                    if t.addr != s.addr {
                        break;
                    }
                    if (functions_only && !t.func)
                        || (t.size != 0 && vaddr >= t.addr.saturating_add(t.size))
                    {
                        continue;
                    }
                    let Some(n) = self.symbol_name(t) else {
                        continue;
                    };
                    let better = match best {
                        None => true,
                        Some((bn, b)) => t.rank < b.rank || (t.rank == b.rank && n > bn),
                    };
                    if better {
                        best = Some((n, *t));
                    }
                }
                if let Some((n, b)) = best {
                    return Some((n, b.addr, b.size));
                }
            }
            if s.size > 0 && seen_addr.is_none() {
                seen_addr = Some(s.addr);
            }
        }
        None
    }

    /// The module's symbol tables in the order [`Module::find_symbol`] searches
    /// them: .dynsym, .symtab, the debug file's .symtab.
    fn name_tables(&self) -> [Option<object::read::SymbolTable<'_, '_>>; 3] {
        let elf = self.files.elf.as_ref().map(ElfCell::file);
        let debug = self.files.debug.as_ref().map(ElfCell::file);
        [
            elf.and_then(|f| f.dynamic_symbol_table()),
            elf.and_then(|f| f.symbol_table()),
            debug.and_then(|f| f.symbol_table()),
        ]
    }

    /// Every defined symbol, sorted by (hash of its name, table in search order,
    /// index): built once per module file.
    fn names(&self) -> &[NameEntry] {
        self.files.names.get_or_init(|| {
            let mut out = Vec::new();
            for (table, t) in self.name_tables().into_iter().enumerate() {
                let Some(t) = t else { continue };
                for s in t.symbols() {
                    if !s.is_definition() {
                        continue;
                    }
                    let (Ok(name), Ok(index)) = (s.name_bytes(), u32::try_from(s.index().0)) else {
                        continue;
                    };
                    out.push(NameEntry {
                        hash: name_hash(name),
                        table: table as u8,
                        index,
                    });
                }
            }
            out.sort_unstable_by_key(|e| {
                u128::from(e.hash) << 64 | u128::from(e.table) << 32 | u128::from(e.index)
            });
            out
        })
    }

    /// A symbol of this module by name: its runtime address and size. Defined
    /// symbols of .dynsym, then .symtab, then the debug file's .symtab (the first
    /// in that order, as a linear search of the tables would find it; looked up
    /// by binary search in [`Module::names`]).
    pub fn find_symbol(&self, name: &str) -> Option<SymbolAddress> {
        // The first few lookups of a module search its tables: most runs ask one
        // or two names (`__abort_msg`, `main`), and indexing every name of the C
        // library (hashing and sorting 13 000 of them) costs more than that. From
        // then on (tail-call targets of many threads), the index.
        if self.files.names.get().is_none()
            && self
                .files
                .name_lookups
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                < LINEAR_LOOKUPS
        {
            return self.find_symbol_linear(name);
        }
        let names = self.names();
        let h = name_hash(name.as_bytes());
        let first = names.partition_point(|e| e.hash < h);
        let tables = self.name_tables();
        for e in names[first..].iter().take_while(|e| e.hash == h) {
            let Some(t) = &tables[usize::from(e.table)] else {
                continue;
            };
            let Ok(s) = t.symbol_by_index(object::SymbolIndex(e.index as usize)) else {
                continue;
            };
            if s.name_bytes().is_ok_and(|n| n == name.as_bytes()) {
                return Some(SymbolAddress {
                    address: s.address().wrapping_add(self.bias),
                    size: s.size(),
                    module: self.name.clone(),
                });
            }
        }
        None
    }

    /// [`Module::find_symbol`] by a linear search of the tables (the previous
    /// algorithm: the reference of the test that compares the two, and of
    /// `benches/backtrace.rs`).
    #[doc(hidden)]
    pub fn find_symbol_linear(&self, name: &str) -> Option<SymbolAddress> {
        for t in self.name_tables().into_iter().flatten() {
            for s in t.symbols() {
                if s.is_definition() && s.name_bytes().is_ok_and(|n| n == name.as_bytes()) {
                    return Some(SymbolAddress {
                        address: s.address().wrapping_add(self.bias),
                        size: s.size(),
                        module: self.name.clone(),
                    });
                }
            }
        }
        None
    }

    /// Names of every defined symbol of the module's tables (for tests comparing
    /// the lookups).
    #[doc(hidden)]
    pub fn defined_symbol_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in self.name_tables().into_iter().flatten() {
            for s in t.symbols() {
                if s.is_definition()
                    && let Ok(n) = s.name()
                {
                    out.push(n.to_string());
                }
            }
        }
        out
    }
}

/// A defined symbol in the by-name index: which table (0 .dynsym, 1 .symtab, 2 the
/// debug file's .symtab) and its index there; names stay in the files.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NameEntry {
    hash: u64,
    table: u8,
    index: u32,
}

/// How many [`Module::find_symbol`] lookups of a module file search its tables
/// before its names are indexed.
const LINEAR_LOOKUPS: u32 = 4;

/// FNV-1a of a symbol name (collisions are resolved by comparing the names).
fn name_hash(name: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in name {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The defined symbols of `file`'s `.symtab` (or `.dynsym`) that [`collect_symbols`]
/// keeps, read from the ELF entries directly: the same entries as through `object`'s
/// generic symbols (`tests::elf_symbols_read_directly_equal_the_generic_ones`), without
/// the length of every name (only its first byte decides) nor the per-symbol dispatch
/// — a third of a warm run was the C library's 13 000 symbols.
fn collect_file_symbols(file: &object::File<'_>, dynamic: bool, src: u8, out: &mut Vec<SymEntry>) {
    match file {
        object::File::Elf64(f) => collect_elf_symbols(f, dynamic, src, out),
        object::File::Elf32(f) => collect_elf_symbols(f, dynamic, src, out),
        f if dynamic => collect_symbols(f.dynamic_symbol_table(), src, out),
        f => collect_symbols(f.symbol_table(), src, out),
    }
}

fn collect_elf_symbols<'d, Elf: object::read::elf::FileHeader<Endian = object::Endianness>>(
    f: &object::read::elf::ElfFile<'d, Elf>,
    dynamic: bool,
    src: u8,
    out: &mut Vec<SymEntry>,
) {
    use object::elf;
    use object::read::elf::{SectionHeader as _, Sym as _};
    let endian = f.endian();
    let table = if dynamic {
        f.elf_dynamic_symbol_table()
    } else {
        f.elf_symbol_table()
    };
    let strings = table.strings();
    let strtab: &[u8] = f
        .elf_section_table()
        .section(table.string_section())
        .ok()
        .and_then(|s| s.data(endian, f.data()).ok())
        .unwrap_or(&[]);
    for (i, sym) in table.symbols().iter().enumerate() {
        let value: u64 = sym.st_value(endian).into();
        if !sym.is_definition(endian, strings) || sym.is_common(endian) || value == 0 {
            continue;
        }
        let kind = match sym.st_type() {
            elf::STT_OBJECT | elf::STT_COMMON => SymbolKind::Data,
            elf::STT_FUNC | elf::STT_GNU_IFUNC => SymbolKind::Text,
            elf::STT_SECTION | elf::STT_FILE | elf::STT_TLS => continue,
            _ => SymbolKind::Unknown,
        };
        let Ok(index) = u32::try_from(i) else {
            continue;
        };
        // An empty name, or a mapping symbol (`$x`, `$d`): as `name_bytes()` would
        // say, whose errors (no terminator) keep the symbol.
        let first = usize::try_from(sym.st_name(endian))
            .ok()
            .and_then(|o| strtab.get(o));
        match first {
            Some(0) => continue,
            Some(b'$') if strings.get(sym.st_name(endian)).is_ok() => continue,
            _ => {}
        }
        out.push(SymEntry {
            addr: value,
            size: sym.st_size(endian).into(),
            src,
            index,
            rank: u8::from(sym.is_local()) * 2 + u8::from(kind == SymbolKind::Unknown),
            func: matches!(kind, SymbolKind::Text | SymbolKind::Unknown),
        });
    }
}

fn collect_symbols<'d, T: ObjectSymbolTable<'d>>(
    table: Option<T>,
    src: u8,
    out: &mut Vec<SymEntry>,
) {
    let Some(t) = table else { return };
    for s in t.symbols() {
        if !s.is_definition() || s.address() == 0 {
            continue;
        }
        let kind = s.kind();
        let func = matches!(kind, SymbolKind::Text | SymbolKind::Unknown);
        if !matches!(
            kind,
            SymbolKind::Text | SymbolKind::Data | SymbolKind::Unknown
        ) {
            continue;
        }
        let Ok(index) = u32::try_from(s.index().0) else {
            continue;
        };
        if s.name_bytes()
            .is_ok_and(|n| n.is_empty() || n.starts_with(b"$"))
        {
            continue;
        }
        // Global or weak before local; typed before untyped.
        let rank =
            u8::from(!(s.is_weak() || s.is_global())) * 2 + u8::from(kind == SymbolKind::Unknown);
        out.push(SymEntry {
            addr: s.address(),
            size: s.size(),
            src,
            index,
            rank,
            func,
        });
    }
}

/// All modules of a core.
#[derive(Debug)]
pub struct Modules {
    modules: Vec<Module>,
    /// (start, end, module index), sorted by start.
    index: Vec<(u64, u64, usize)>,
    warnings: Vec<Warning>,
    pub(crate) endian: Endian,
    pub(crate) pointer_size: usize,
    pub(crate) arch: coredump::Arch,
    /// The module whose `.debug_info` [`Modules::prefetch_dwarf`] reads ahead (see
    /// [`Modules::limit_read_ahead`]).
    read_ahead: std::sync::OnceLock<usize>,
}

/// Find a path read from the core under the sysroot: only absolute paths, and no
/// `..` (a path from a core is data, never a way out of the sysroot); symbolic
/// links met on the way are resolved inside the sysroot ([`Sysroot::resolve`]:
/// an absolute link target starts again at the sysroot). `None` when the file is
/// not there.
pub fn join_sysroot(sysroot: &Path, core_path: &str) -> Option<PathBuf> {
    let p = Path::new(core_path);
    if !p.is_absolute()
        || p.components()
            .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)))
    {
        return None;
    }
    Sysroot::new(sysroot).ok()?.resolve(p)
}

struct Group {
    path: String,
    maps: Vec<ModuleMapping>,
    /// Per mapping: the core does not say its permissions (no PT_LOAD).
    unknown_perms: Vec<bool>,
    vdso: bool,
}

fn group_mappings(maps: &[Mapping]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut open: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for m in maps {
        let vdso = m.kind == MappingKind::Vdso;
        let path = match (&m.path, vdso) {
            (_, true) => "[vdso]",
            (Some(p), false) if matches!(m.kind, MappingKind::File | MappingKind::FileShared) => {
                p.strip_suffix(" (deleted)").unwrap_or(p)
            }
            _ => continue,
        };
        let mm = ModuleMapping {
            start: m.start,
            end: m.end,
            offset: m.offset,
            executable: m.perms.contains('x'),
            writable: m.perms.contains('w'),
            perms_from_file: false,
        };
        let unknown = m.perms == "???";
        match open.get(path) {
            Some(&gi) if !(m.offset == 0 && groups[gi].maps.iter().any(|x| x.offset == 0)) => {
                groups[gi].maps.push(mm);
                groups[gi].unknown_perms.push(unknown);
            }
            _ => {
                open.insert(path, groups.len());
                groups.push(Group {
                    path: path.to_string(),
                    maps: vec![mm],
                    unknown_perms: vec![unknown],
                    vdso,
                });
            }
        }
    }
    groups
}

/// Runtime − link-time address, from a mapping at file `offset` placed at `start`.
fn bias_from(loads: &[elf::LoadSegment], start: u64, offset: u64, page: u64) -> Option<u64> {
    let mask = !(page.max(1) - 1);
    let l = loads
        .iter()
        .find(|l| l.offset & mask <= offset && offset < l.offset.saturating_add(l.filesz.max(1)))?;
    let link = l.vaddr.wrapping_sub(l.offset).wrapping_add(offset);
    Some(start.wrapping_sub(link))
}

fn extent(loads: &[elf::LoadSegment], bias: u64) -> Option<(u64, u64)> {
    let lo = loads.iter().map(|l| l.vaddr).min()?;
    let hi = loads
        .iter()
        .map(|l| l.vaddr.saturating_add(l.memsz))
        .max()?;
    Some((lo.wrapping_add(bias), hi.wrapping_add(bias)))
}

impl Modules {
    /// Find the modules of a core. Problems (missing files, mismatched build-ids)
    /// become warnings, never errors.
    pub fn load(core: &Core<'_>, maps: &[Mapping], opts: &SymbolOptions) -> Modules {
        Modules::load_cached(
            core,
            maps,
            opts,
            &FileCache::with_disk(0, super::DiskCache::from_env()),
        )
    }

    /// [`Modules::load`] taking the verified files' parts (symbols, CFI, debug
    /// files, DWARF) from `cache` when another core used the same file.
    pub(crate) fn load_cached(
        core: &Core<'_>,
        maps: &[Mapping],
        opts: &SymbolOptions,
        cache: &FileCache,
    ) -> Modules {
        let space = AddressSpace::new(core);
        // gdb's gcore writes NT_FILE with a page size of 1 (its offsets are in
        // bytes): that is no page size, so the auxiliary vector's AT_PAGESZ decides.
        let page = core
            .files
            .as_ref()
            .map(|f| f.page_size)
            .filter(|p| p.is_power_of_two() && *p >= 1024)
            .or_else(|| {
                core.auxv_value(coredump::AT_PAGESZ)
                    .filter(|p| p.is_power_of_two())
            })
            .unwrap_or(4096);
        let exe_anchor = core
            .auxv_value(coredump::AT_PHDR)
            .or_else(|| core.auxv_value(coredump::AT_ENTRY));
        let interp_base = core.auxv_value(coredump::AT_BASE).filter(|&b| b != 0);
        let mut warnings = Vec::new();
        let mut modules = Vec::new();

        for g in group_mappings(maps) {
            let lowest = g.maps.iter().min_by_key(|m| m.offset).copied();
            let Some(lowest) = lowest else { continue };
            // The first page as the core holds it.
            let head: Option<std::borrow::Cow<'_, [u8]>> = (lowest.offset == 0)
                .then(|| {
                    let len = (lowest.end - lowest.start).min(page) as usize;
                    space.read(lowest.start, len).ok()
                })
                .flatten()
                .filter(|b| b.starts_with(b"\x7fELF"));
            let core_hdr = head.as_deref().and_then(elf::parse_header);
            let is_elf = core_hdr.is_some() || g.maps.iter().any(|m| m.executable);
            if !is_elf {
                continue;
            }
            let kind = if g.vdso {
                ModuleKind::Vdso
            } else if exe_anchor.is_some_and(|a| g.maps.iter().any(|m| a >= m.start && a < m.end)) {
                ModuleKind::Executable
            } else if interp_base.is_some_and(|a| g.maps.iter().any(|m| a >= m.start && a < m.end))
            {
                ModuleKind::Interpreter
            } else {
                ModuleKind::Library
            };

            // Build-id from the core's memory.
            let endian = head
                .as_deref()
                .and_then(elf::header_endian)
                .unwrap_or(core.endian);
            let core_build_id = core_hdr.as_ref().and_then(|h| {
                let bias = bias_from(&h.loads, lowest.start, lowest.offset, page)?;
                h.notes.iter().find_map(|&(vaddr, off, size)| {
                    let size = usize::try_from(size.min(1 << 16)).ok()?;
                    // Inside the dumped first page, by file offset; else by address.
                    let from_head = usize::try_from(off)
                        .ok()
                        .and_then(|o| head.as_deref()?.get(o..o.checked_add(size)?));
                    match from_head {
                        Some(b) => elf::find_build_id(b, endian),
                        None => {
                            let b = space.read(vaddr.wrapping_add(bias), size).ok()?;
                            elf::find_build_id(&b, endian)
                        }
                    }
                })
            });

            // The file.
            let (file_path, file_bytes): (Option<PathBuf>, Option<Arc<FileBytes>>) = if g.vdso {
                let len = (lowest.end - lowest.start).min(1 << 24) as usize;
                let b = space
                    .read(lowest.start, len)
                    .ok()
                    .map(|b| Arc::new(FileBytes::Owned(b.into_owned())));
                (None, b)
            } else {
                let p = match (&opts.binary, kind) {
                    (Some(b), ModuleKind::Executable) => Some(b.clone()),
                    _ => join_sysroot(&opts.sysroot, &g.path),
                };
                let b = p
                    .as_deref()
                    .and_then(|p| elf::map_file(p).ok())
                    .map(Arc::new);
                if b.is_some() {
                    Counters::bump(&cache.counters.module_files_opened);
                }
                (p, b)
            };
            let mut status = BuildIdStatus::NoFile;
            let mut file_build_id = None;
            let mut elf_cell = None;
            match (&file_path, file_bytes) {
                (_, Some(bytes)) => match ElfCell::open(bytes) {
                    Ok(cell) => {
                        file_build_id = cell.build_id();
                        let shown = file_path
                            .as_ref()
                            .map_or_else(|| g.path.clone(), |p| p.display().to_string());
                        let machine_ok = cell_machine(&cell).is_none_or(|m| {
                            core_hdr.as_ref().map_or(core.machine, |h| h.machine) == m
                        });
                        let verdict = match (&core_build_id, &file_build_id) {
                            _ if !machine_ok => Err(format!(
                                "{shown} is for another machine than the core's; it is not used"
                            )),
                            (Some(c), Some(f)) if c == f => Ok(BuildIdStatus::Match),
                            (Some(c), Some(f)) => Err(format!(
                                "{shown} has build-id {} but the core's {} has {}; it is not used (addresses in it stay module + offset)",
                                elf::hex(f),
                                g.path,
                                elf::hex(c)
                            )),
                            (Some(c), None) => Err(format!(
                                "{shown} has no build-id but the core's {} has {}; it is not used",
                                g.path,
                                elf::hex(c)
                            )),
                            (None, _) => match head.as_deref() {
                                Some(h)
                                    if !first_page_matches(h, cell.bytes(), core_hdr.as_ref()) =>
                                {
                                    Err(format!(
                                        "{shown} differs from the first page of {} in the core; it is not used",
                                        g.path
                                    ))
                                }
                                _ => Ok(BuildIdStatus::NoBuildId),
                            },
                        };
                        match verdict {
                            Ok(s) => {
                                status = s;
                                elf_cell = Some(cell);
                            }
                            Err(msg) => {
                                status = BuildIdStatus::Mismatch;
                                warnings.push(Warning::new("build-id-mismatch", msg));
                            }
                        }
                    }
                    Err(e) => {
                        status = BuildIdStatus::Mismatch;
                        warnings.push(Warning::new(
                            "module-unreadable",
                            format!(
                                "{}: not a readable ELF file ({e}); addresses in {} stay module + offset",
                                file_path.as_deref().map_or_else(|| g.path.clone(), |p| p.display().to_string()),
                                g.path
                            ),
                        ));
                    }
                },
                (Some(p), None) => {
                    warnings.push(Warning::new(
                        "module-missing",
                        format!(
                            "{} (mapped as {}) not found; addresses in it stay module + offset",
                            p.display(),
                            g.path
                        ),
                    ));
                }
                (None, None) => {
                    if !g.vdso {
                        warnings.push(Warning::new(
                            "module-missing",
                            format!("{}: cannot be looked up under the sysroot", g.path),
                        ));
                    }
                }
            }
            if g.vdso && elf_cell.is_some() {
                status = if core_build_id.is_some() {
                    BuildIdStatus::Match
                } else {
                    BuildIdStatus::NoBuildId
                };
            }

            // Bias and extent.
            let file_hdr = elf_cell
                .as_ref()
                .and_then(|c| elf::parse_header(&c.bytes()[..c.bytes().len().min(1 << 16)]));
            let hdr = core_hdr.as_ref().or(file_hdr.as_ref());
            let mut bias_known = false;
            let mut bias = lowest.start.wrapping_sub(lowest.offset);
            if let Some(h) = hdr {
                let from_auxv = match kind {
                    ModuleKind::Executable => core
                        .auxv_value(coredump::AT_PHDR)
                        .zip(h.phdr_vaddr)
                        .map(|(a, v)| a.wrapping_sub(v)),
                    _ => None,
                };
                if let Some(b) =
                    from_auxv.or_else(|| bias_from(&h.loads, lowest.start, lowest.offset, page))
                {
                    bias = b;
                    bias_known = true;
                }
            }
            let map_lo = g.maps.iter().map(|m| m.start).min().unwrap_or(lowest.start);
            let map_hi = g.maps.iter().map(|m| m.end).max().unwrap_or(lowest.end);
            let (start, end) = match hdr
                .filter(|_| bias_known)
                .and_then(|h| extent(&h.loads, bias))
            {
                Some((lo, hi)) if lo <= map_lo && hi >= map_hi && hi - lo < (1 << 40) => (lo, hi),
                _ => (map_lo, map_hi),
            };

            // The files' parts shared between cores: from the cache when this
            // verified file (same build-id, or same path, size and time) was seen.
            let key = if g.vdso || elf_cell.is_none() {
                None
            } else {
                file_key(file_build_id.as_deref(), file_path.as_deref())
            };
            let cached = key.as_ref().and_then(|k| cache.get(k));
            let files = match cached {
                Some(f) => f,
                None => {
                    let has_own_dwarf = elf_cell.as_ref().is_some_and(ElfCell::has_dwarf);
                    let mut debug = None;
                    if !has_own_dwarf && !g.vdso {
                        let id = file_build_id.as_deref().or(core_build_id.as_deref());
                        let link = elf_cell.as_ref().and_then(|c| {
                            let (n, crc) = c.file().gnu_debuglink().ok().flatten()?;
                            Some((String::from_utf8_lossy(n).into_owned(), crc))
                        });
                        debug = find_debug_file(
                            opts,
                            &g.path,
                            file_path.as_deref(),
                            id,
                            link.as_ref(),
                            &cache.counters,
                        );
                    }
                    let mut f = ModuleFiles::new(elf_cell, debug, cache.counters.clone());
                    if let (Some(disk), Some(FileKey::BuildId(id))) = (&cache.disk, &key) {
                        f = f.with_disk(disk.clone(), id.clone());
                    }
                    let f = Arc::new(f);
                    if let Some(k) = key {
                        cache.insert(k, f.clone());
                    }
                    f
                }
            };

            // Mappings whose permissions the core does not record (gcore writes
            // no PT_LOAD for what it does not dump): take them from the verified
            // file's own PT_LOADs, by file offset, as gdb does from the file.
            let mut g = g;
            if let Some(fh) = file_hdr.as_ref().filter(|_| {
                matches!(status, BuildIdStatus::Match | BuildIdStatus::NoBuildId) && !g.vdso
            }) {
                // gcore's NT_FILE page size is 1: round PT_LOAD offsets to a page.
                let mask = !(page.max(4096) - 1);
                for (mm, _) in g
                    .maps
                    .iter_mut()
                    .zip(&g.unknown_perms)
                    .filter(|(_, unknown)| **unknown)
                {
                    if let Some(l) = fh.loads.iter().find(|l| {
                        l.offset & mask <= mm.offset
                            && mm.offset < l.offset.saturating_add(l.filesz.max(1))
                    }) {
                        mm.executable = l.flags & 1 != 0;
                        mm.writable = l.flags & 2 != 0;
                        mm.perms_from_file = true;
                    }
                }
            }

            modules.push(Module {
                name: g.path,
                kind,
                file: file_path,
                start,
                end,
                bias,
                bias_known,
                mappings: g.maps,
                core_build_id,
                file_build_id,
                status,
                debug_file: files.debug_file.clone(),
                has_own_dwarf: files.has_own_dwarf,
                files,
            });
        }
        modules.sort_by_key(|m| m.start);
        let mut index: Vec<(u64, u64, usize)> = modules
            .iter()
            .enumerate()
            .map(|(i, m)| (m.start, m.end, i))
            .collect();
        index.sort_unstable();
        Modules {
            modules,
            index,
            warnings,
            endian: core.endian,
            pointer_size: core.pointer_size(),
            arch: core.arch,
            read_ahead: std::sync::OnceLock::new(),
        }
    }

    /// Start reading the C library's and the dynamic linker's DWARF on another
    /// thread, when no answer from it is known yet (a cold cache): a core's threads
    /// almost always stop in the C library, whose debug sections are the largest
    /// to read (and inflate), the dynamic linker's DWARF is walked for its mutex
    /// variables, and the rest of the analysis (unwinding, scanning, other
    /// modules) goes on meanwhile. Two threads, the two CPUs of a small machine:
    /// one inflates the largest compressed `.debug_info` (libc's, the longest
    /// chain) from the start; the other walks ld.so's DWARF for glibc's mutex
    /// variables (the answer is kept as if the analysis had asked), then inflates
    /// libc's other compressed sections, a step at a time: whoever needs a part of
    /// a section first inflates up to there (or waits for the step under way)
    /// instead of starting another load. No thread is started when there is
    /// nothing to read.
    pub fn prefetch_dwarf(&self) {
        // (files, is the dynamic linker)
        let todo: Vec<(Arc<ModuleFiles>, bool)> = self
            .modules
            .iter()
            .filter_map(|m| {
                let n = m.short_name();
                let libc =
                    n.starts_with("libc.so.") || (n.starts_with("libc-2.") && n.ends_with(".so"));
                let ld =
                    n.starts_with("ld-linux") || (n.starts_with("ld-2.") && n.ends_with(".so"));
                (matches!(m.kind, ModuleKind::Library | ModuleKind::Interpreter)
                    && (libc || ld)
                    && m.files.wants_prefetch())
                .then(|| (m.files.clone(), ld))
            })
            .collect();
        if todo.is_empty() {
            return;
        }
        // The longest read is the largest `.debug_info` (the C library's): a thread
        // of its own from the start. On a second thread: the dynamic linker's
        // sections and its walk for glibc's mutex variables (what the analysis asks
        // of it first, see `analysis::symbol_candidates`), then the other sections
        // (the small ones first), then what a load parses (`.debug_aranges`).
        let mut rest: Vec<Arc<super::dwarf::Inflating>> = Vec::new();
        let mut infos: Vec<(&Arc<ModuleFiles>, Arc<super::dwarf::Inflating>)> = Vec::new();
        for (f, _) in todo.iter().filter(|(_, ld)| !ld) {
            for (id, i) in f.lazy_sections() {
                if *id == gimli::SectionId::DebugInfo {
                    infos.push((f, i.clone()));
                } else {
                    rest.push(i.clone());
                }
            }
        }
        infos.sort_by_key(|(_, i)| std::cmp::Reverse(i.len()));
        let big = (!infos.is_empty()).then(|| infos.remove(0));
        rest.extend(infos.into_iter().map(|(_, i)| i));
        if let Some((files, big)) = big {
            if let Some(k) = self
                .modules
                .iter()
                .position(|m| Arc::ptr_eq(&m.files, files))
            {
                let _ = self.read_ahead.set(k);
            }
            let _ = std::thread::Builder::new()
                .name("mutexdiag-dwarf".into())
                .spawn(move || big.read_ahead());
        }
        let _ = std::thread::Builder::new()
            .name("mutexdiag-dwarf2".into())
            .spawn(move || {
                let glibc = crate::mutex::Family::Glibc.mutex_type_names();
                for (f, _) in todo.iter().filter(|(_, ld)| *ld) {
                    let _ = f.mutex_variables(glibc);
                }
                for i in rest {
                    i.read_ahead();
                }
                for (f, _) in &todo {
                    let _ = f.dwarf();
                }
            });
    }

    /// Whether [`Modules::prefetch_dwarf`] reads a `.debug_info` ahead that
    /// [`Modules::limit_read_ahead`] can stop early.
    pub fn reads_ahead(&self) -> bool {
        self.read_ahead.get().is_some()
    }

    /// Stop the `.debug_info` read ahead by [`Modules::prefetch_dwarf`] (the C
    /// library's) where the units of `addrs` end: the code addresses (runtime) whose
    /// source lines will be asked, the pcs of every frame (a return address less
    /// one). Past the last unit they need, the rest of the section would be
    /// inflated for nothing, on a CPU the analysis needs (1.6 of libc's 5.8 MB,
    /// for a typical core whose threads end in `clone3`). Not limited when an
    /// address falls in no unit `.debug_aranges` names (its context reads every
    /// unit). Asking for more later still works: only the read ahead stops.
    pub fn limit_read_ahead(&self, addrs: impl IntoIterator<Item = u64>) {
        let Some(m) = self.read_ahead.get().and_then(|k| self.modules.get(*k)) else {
            return;
        };
        let Some((_, info)) = m
            .files
            .lazy_sections()
            .iter()
            .find(|(id, _)| *id == gimli::SectionId::DebugInfo)
        else {
            return;
        };
        let probes: Vec<u64> = addrs
            .into_iter()
            .filter(|a| m.contains(*a))
            .map(|a| m.to_link(a))
            .collect();
        let end = if probes.is_empty() {
            Some(0)
        } else {
            m.with_dwarf_cell(|c| {
                c.with_dependent(|owner, dep| {
                    probes.iter().try_fold(0, |end, &p| {
                        dep.info_needed_for(owner, p).map(|n| end.max(n))
                    })
                })
            })
            .flatten()
        };
        if let Some(end) = end {
            info.limit_read_ahead(end);
        }
    }

    /// Write the new DWARF answers of every module to the on-disk cache (also
    /// done when the modules are dropped).
    pub fn persist(&self) {
        for m in &self.modules {
            m.files.persist();
        }
    }

    /// The machine of the core.
    pub fn arch(&self) -> coredump::Arch {
        self.arch
    }

    /// Byte order of the core.
    pub fn endian(&self) -> Endian {
        self.endian
    }

    /// Size of a pointer in the process.
    pub fn pointer_size(&self) -> usize {
        self.pointer_size
    }

    pub fn modules(&self) -> &[Module] {
        &self.modules
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Module> {
        self.modules.iter()
    }

    /// What went wrong finding or checking files.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The module that holds a runtime address (within its PT_LOAD extent,
    /// so .bss included).
    pub fn module_at(&self, addr: u64) -> Option<&Module> {
        let i = self.index.partition_point(|(s, _, _)| *s <= addr);
        self.index[..i]
            .iter()
            .rev()
            .take(4)
            .find(|(s, e, _)| addr >= *s && addr < *e)
            .map(|(_, _, m)| &self.modules[*m])
    }

    /// The main executable's module.
    pub fn executable(&self) -> Option<&Module> {
        self.modules
            .iter()
            .find(|m| m.kind == ModuleKind::Executable)
    }

    /// Find a symbol by name in every module (the executable first, then in address
    /// order): its runtime address. Defined symbols of .dynsym and .symtab (and the
    /// debug file's .symtab) count, so `__abort_msg` is found without debug info.
    pub fn find_symbol(&self, name: &str) -> Option<SymbolAddress> {
        self.executable()
            .into_iter()
            .chain(
                self.modules
                    .iter()
                    .filter(|m| m.kind != ModuleKind::Executable),
            )
            .find_map(|m| m.find_symbol(name))
    }
}

impl Drop for Modules {
    fn drop(&mut self) {
        self.persist();
    }
}

fn cell_machine(cell: &ElfCell) -> Option<u16> {
    let b = cell.bytes();
    let e = elf::header_endian(b)?;
    crate::coredump::Bytes::new(b, e).u16(18)
}

/// How a verified module file is known in the cache: its build-id, else its path,
/// size and modification time. `None` when it cannot be told apart from another.
fn file_key(build_id: Option<&[u8]>, path: Option<&Path>) -> Option<FileKey> {
    if let Some(id) = build_id.filter(|id| !id.is_empty()) {
        return Some(FileKey::BuildId(id.to_vec()));
    }
    let p = path?;
    let meta = std::fs::metadata(p).ok()?;
    let t = meta.modified().ok()?;
    let ns = match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    Some(FileKey::Path(p.to_path_buf(), meta.len(), ns))
}

/// Without build-ids, compare the ELF header and program headers the core holds
/// with the file's.
fn first_page_matches(head: &[u8], file: &[u8], hdr: Option<&HeaderInfo>) -> bool {
    let Some(h) = hdr else { return true };
    let Some(e) = elf::header_endian(head) else {
        return true;
    };
    let b = crate::coredump::Bytes::new(head, e);
    let is64 = head.get(4) == Some(&2);
    let (phoff, phentsize, phnum) = if is64 {
        (b.u64(32), b.u16(54), b.u16(56))
    } else {
        (b.u32(28).map(u64::from), b.u16(42), b.u16(44))
    };
    let (Some(phoff), Some(es), Some(n)) = (phoff, phentsize, phnum) else {
        return true;
    };
    let end = phoff
        .saturating_add(u64::from(es) * u64::from(n))
        .min(head.len() as u64) as usize;
    let _ = h;
    file.len() >= end && head.len() >= end && head[..end] == file[..end]
}

/// Look for a separate debug file: by build-id in each `--debug-dir` and the
/// sysroot's `/usr/lib/debug`, by `.gnu_debuglink` next to the file and in those
/// directories, then in the debuginfod client cache. A candidate must carry the
/// module's build-id (or, without one, the debuglink CRC).
fn find_debug_file(
    opts: &SymbolOptions,
    core_path: &str,
    real_file: Option<&Path>,
    build_id: Option<&[u8]>,
    link: Option<&(String, u32)>,
    counters: &Counters,
) -> Option<(PathBuf, ElfCell)> {
    let mut dirs: Vec<PathBuf> = opts.debug_dirs.clone();
    if let Some(d) = join_sysroot(&opts.sysroot, "/usr/lib/debug") {
        dirs.push(d);
    }
    let mut cands: Vec<PathBuf> = Vec::new();
    if let Some(id) = build_id.filter(|id| id.len() >= 2) {
        let h = elf::hex(id);
        for d in &dirs {
            cands.push(
                d.join(".build-id")
                    .join(&h[..2])
                    .join(format!("{}.debug", &h[2..])),
            );
        }
    }
    if let Some((name, _)) = link
        && !name.is_empty()
        && !name.contains('/')
    {
        let core_dir = Path::new(core_path)
            .parent()
            .and_then(|p| p.to_str())
            .unwrap_or("/");
        let mut dir_cands = Vec::new();
        if let Some(d) = join_sysroot(&opts.sysroot, core_dir) {
            dir_cands.push(d);
        }
        if let Some(d) = real_file.and_then(Path::parent) {
            dir_cands.push(d.to_path_buf());
        }
        for d in &dir_cands {
            cands.push(d.join(name));
            cands.push(d.join(".debug").join(name));
        }
        for d in &dirs {
            if let Some(sub) = join_sysroot(d, core_dir) {
                cands.push(sub.join(name));
            }
            cands.push(d.join(name));
        }
    }
    if let (Some(id), Some(cache)) = (build_id, &opts.debuginfod_cache) {
        cands.push(cache.join(elf::hex(id)).join("debuginfo"));
    }
    let mut seen = std::collections::HashSet::new();
    for c in cands {
        if !seen.insert(c.clone()) || real_file.is_some_and(|r| r == c) {
            continue;
        }
        let Ok(bytes) = elf::map_file(&c) else {
            continue;
        };
        Counters::bump(&counters.debug_files_opened);
        let Ok(cell) = ElfCell::open(Arc::new(bytes)) else {
            continue;
        };
        let ok = match (build_id, cell.build_id()) {
            (Some(want), Some(have)) => want == have.as_slice(),
            (Some(_), None) | (None, _) => match link {
                Some((_, crc)) => {
                    let mut h = flate2::Crc::new();
                    h.update(cell.bytes());
                    h.sum() == *crc
                }
                None => false,
            },
        };
        if ok {
            return Some((c, cell));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The symbols read from the ELF entries are those `object`'s generic symbols
    /// give, in the same order: on the C library, its debug file (10 015 symbols)
    /// and ld.so of the bundled sysroot, and on this test program.
    #[test]
    fn elf_symbols_read_directly_equal_the_generic_ones() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sysroot/usr");
        let mut files: Vec<Vec<u8>> = [
            "lib/x86_64-linux-gnu/libc.so.6.zst",
            "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2.zst",
            "lib32/libc.so.6.zst",
            "lib/debug/.build-id/93/ac61ec5a8eb1396f9fbd350e3169a558528a40.debug.zst",
        ]
        .iter()
        .map(|p| zstd::decode_all(std::fs::File::open(root.join(p)).unwrap()).unwrap())
        .collect();
        files.push(std::fs::read(std::env::current_exe().unwrap()).unwrap());
        let mut total = 0;
        for data in &files {
            let f = object::File::parse(&data[..]).unwrap();
            for dynamic in [false, true] {
                let (mut direct, mut generic) = (Vec::new(), Vec::new());
                collect_file_symbols(&f, dynamic, 1, &mut direct);
                if dynamic {
                    collect_symbols(f.dynamic_symbol_table(), 1, &mut generic);
                } else {
                    collect_symbols(f.symbol_table(), 1, &mut generic);
                }
                assert_eq!(direct, generic);
                total += direct.len();
            }
        }
        assert!(total > 15_000, "only {total} symbols compared");
    }

    #[test]
    fn sysroot_join_is_safe() {
        let t = tempfile::tempdir().unwrap();
        let r = std::fs::canonicalize(t.path()).unwrap();
        std::fs::create_dir_all(r.join("usr/lib")).unwrap();
        std::fs::write(r.join("usr/lib/libc.so.6"), b"libc").unwrap();
        assert_eq!(
            join_sysroot(&r, "/usr/lib/libc.so.6"),
            Some(r.join("usr/lib/libc.so.6"))
        );
        assert_eq!(join_sysroot(&r, "/usr/lib/missing.so"), None);
        assert_eq!(join_sysroot(&r, "/usr/../../etc/passwd"), None);
        assert_eq!(join_sysroot(&r, "relative"), None);
        // An absolute link inside the sysroot is resolved against the sysroot, not
        // the host: `/usr/lib/evil -> /etc/hostname` finds nothing here.
        std::os::unix::fs::symlink("/etc/hostname", r.join("usr/lib/evil")).unwrap();
        assert_eq!(join_sysroot(&r, "/usr/lib/evil"), None);
        std::os::unix::fs::symlink("/usr/lib/libc.so.6", r.join("usr/lib/abs")).unwrap();
        assert_eq!(
            join_sysroot(&r, "/usr/lib/abs"),
            Some(r.join("usr/lib/libc.so.6"))
        );
        assert_eq!(
            join_sysroot(Path::new("/"), "/proc/self"),
            std::fs::canonicalize("/proc/self").ok()
        );
    }

    #[test]
    fn bias_of_a_pie() {
        let loads = [
            elf::LoadSegment {
                vaddr: 0,
                offset: 0,
                filesz: 0x1000,
                memsz: 0x1000,
                flags: 4,
            },
            elf::LoadSegment {
                vaddr: 0x1000,
                offset: 0x1000,
                filesz: 0x2000,
                memsz: 0x2000,
                flags: 5,
            },
            elf::LoadSegment {
                vaddr: 0x4de0,
                offset: 0x3de0,
                filesz: 0x230,
                memsz: 0x238,
                flags: 6,
            },
        ];
        assert_eq!(
            bias_from(&loads, 0x5555_0000_0000, 0, 4096),
            Some(0x5555_0000_0000)
        );
        assert_eq!(
            bias_from(&loads, 0x5555_0000_1000, 0x1000, 4096),
            Some(0x5555_0000_0000)
        );
        // The data segment: file offset 0x3000 (page of 0x3de0) mapped at 0x...4000.
        assert_eq!(
            bias_from(&loads, 0x5555_0000_4000, 0x3000, 4096),
            Some(0x5555_0000_0000)
        );
        assert_eq!(
            extent(&loads, 0x1000),
            Some((0x1000, 0x1000 + 0x4de0 + 0x238))
        );
    }
}
