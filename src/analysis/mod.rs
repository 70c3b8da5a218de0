//! The analysis pipeline: core → mappings → layout → discovery → decoding →
//! classification → findings → [`Report`]. Pure: no printing, no global state.

mod analyzer;
mod evidence;
pub mod findings;
/// The inputs of `analyze_core` (not part of the API: reached through
/// `mutexdiag::internals::analysis`).
pub(crate) mod inputs;
mod location;
mod message;
mod owner;
mod rules;

pub(crate) use location::Location;

pub(crate) use inputs::Inputs;

use std::path::{Path, PathBuf};

use crate::CoreFile;
use crate::coredump::{Core, Warning};
use crate::error::Result;
use crate::input::InputOptions;
use crate::mappings::{Mapping, MappingKind};
use crate::memory::AddressSpace;
use crate::mutex::declared::DeclaredLayout;
use crate::mutex::discover::{self, Candidate, Candidates, FoundBy, ScanScope};
use crate::mutex::owner::{self as owner_ptr, OwnerPointer};
use crate::mutex::select::{self, LibcGuess};
use crate::mutex::solaris::{self, SolarisMutex};
use crate::mutex::{Decoded, Layout, LockState, magic};
use crate::report::Hex;
use crate::report::model::{self, CoreModel, MutexModel, OwnerClass, OwnerModel, Report};
use crate::symbols::Modules;

pub use analyzer::{Analyzer, AnalyzerConfig, AnalyzerStats, CoreOptions, DEFAULT_CACHE_ENTRIES};

/// What `analyze` should do.
#[derive(Clone, Debug)]
pub struct Options {
    /// How the core file is read (decompression, size limit).
    pub input: InputOptions,
    /// The executable that produced the core (for symbols and debug info).
    pub binary: Option<PathBuf>,
    /// Where the core's file paths are looked up (default `/`).
    pub sysroot: PathBuf,
    /// Extra folders holding separate debug files.
    pub debug_dirs: Vec<PathBuf>,
    /// Force a built-in layout by name (`glibc-x86_64`, `musl-aarch64`, ...).
    pub layout: Option<String>,
    /// Which mappings to scan for locked mutexes.
    pub scan: ScanScope,
    /// Threads of that scan: 0, as many as help (a big window on two threads when
    /// the machine has a second CPU); 1, the caller's alone (`mutexdiag triage`
    /// with several analysers, which keep the CPUs busy with other cores).
    pub scan_threads: usize,
    /// Cores of other processes of the same incident: foreign owners are looked up
    /// among their threads.
    pub peers: Vec<PathBuf>,
    /// User-declared lock layouts (`--layout FILE.toml`), loaded with
    /// [`DeclaredLayout::load`]: their locks are found by magic number (or by the
    /// locked-mutex scan when they declare none) besides the default layout's.
    pub declared_layouts: Vec<DeclaredLayout>,
    /// The process's `/proc/PID/maps` text (`--maps`), parsed: its shared/private
    /// flags replace the ones inferred from mapping names.
    pub proc_maps: Option<std::sync::Arc<crate::procmaps::ProcMaps>>,
}

/// Another process's core, summarised: who its threads are.
#[derive(Clone, Debug)]
pub struct Peer {
    /// The peer core's path, as given.
    pub path: String,
    /// Its process id, when the core records one.
    pub pid: Option<u32>,
    /// Its parent's process id.
    pub ppid: Option<u32>,
    /// Its threads' ids.
    pub tids: Vec<u32>,
    /// (thread id, thread pointer) of its threads that record one.
    pub thread_pointers: Vec<(u32, u64)>,
}

impl Peer {
    /// The summary of an already parsed core.
    pub fn from_core(path: &str, core: &Core<'_>) -> Peer {
        let p = core.process.as_ref();
        Peer {
            path: path.to_string(),
            pid: p.and_then(|p| p.pid),
            ppid: p.and_then(|p| p.ppid),
            tids: core.threads.iter().map(|t| t.tid).collect(),
            thread_pointers: core
                .threads
                .iter()
                .filter_map(|t| Some((t.tid, t.thread_pointer?)))
                .collect(),
        }
    }

    /// Open and summarise a peer core.
    pub fn open(path: &Path, input: &InputOptions) -> Result<Peer> {
        let f = CoreFile::open(path, input)?;
        let core = f.parse()?;
        Ok(Peer::from_core(&path.display().to_string(), &core))
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            input: InputOptions::default(),
            binary: None,
            sysroot: PathBuf::from("/"),
            debug_dirs: Vec::new(),
            layout: None,
            scan: ScanScope::Shared,
            scan_threads: 0,
            peers: Vec::new(),
            declared_layouts: Vec::new(),
            proc_maps: None,
        }
    }
}

/// Analyse the core at `path`: one core, nothing kept afterwards. For many cores,
/// use an [`Analyzer`], which shares module and debug files between them.
pub fn analyze(path: &Path, opts: &Options) -> Result<Report> {
    Analyzer::new(opts.analyzer_config()).analyze(path, &opts.core_options())
}

/// The executable's bytes, mapped read-only, for static executables' libc detection.
fn open_exe(p: &Path) -> Option<memmap2::Mmap> {
    let f = std::fs::File::open(p).ok()?;
    // SAFETY: read-only (PROT_READ) mapping of a file we only read; see input.rs.
    unsafe { memmap2::Mmap::map(&f) }.ok()
}

/// One mutex under analysis.
#[derive(Debug)]
pub(crate) struct Mutex {
    pub address: u64,
    pub candidate: Candidate,
    pub decoded: Option<Decoded>,
    pub mapping: Option<usize>,
    pub waiters: Vec<u32>,
    /// Who holds it, classified (its class and note are read from it).
    pub owner: owner::Owner,
    /// The owner pointer, classified (layouts that record a thread pointer).
    pub owner_pointer: Option<OwnerPointer>,
    /// Confidence that these bytes really are a mutex of the layout.
    pub confirmed: bool,
    pub layout_name: String,
    /// ".bss of app", "SysV shm segment key 0x…", ... (typed, rendered by `Display`)
    pub location: Location,
}

/// Everything the rules look at.
pub(crate) struct Facts<'a, 'd> {
    pub core: &'a Core<'d>,
    pub maps: &'a [Mapping],
    /// The analysis' address space (with file backing when files are available).
    pub space: &'a AddressSpace<'d>,
    pub mutexes: &'a [Mutex],
    pub layout: Option<&'a dyn Layout>,
    /// Loaded modules (symbols, debug information), when symbols were asked for.
    pub modules: Option<&'a crate::symbols::Modules>,
    /// `--binary`, as given.
    pub binary: Option<&'a std::path::Path>,
    /// glibc's `__abort_msg`, when set.
    pub abort: Option<&'a crate::symbols::abort_msg::AbortMessage>,
}

impl Facts<'_, '_> {
    pub fn mutex_at(&self, addr: u64) -> Option<&Mutex> {
        self.mutexes.iter().find(|m| m.address == addr)
    }
}

pub(crate) fn mapping_index(maps: &[Mapping], addr: u64) -> Option<usize> {
    let i = maps.partition_point(|m| m.start <= addr);
    (0..i).rev().take(4).find(|&j| maps[j].contains(addr))
}

/// The analysis of an already parsed core (no file access but the optional
/// executable bytes). Usable on in-memory cores. The stages, each a function over
/// the previous one's value (see docs/design.md, "The stages of one core"):
/// `CoreContext` → `LayoutPlan` → `Candidates` → classified `Mutex`es → findings
/// → [`Report`].
pub(crate) fn analyze_core(
    inputs: &Inputs<'_, '_>,
    opts: &Options,
    mut warnings: Vec<Warning>,
) -> Report {
    let cx = CoreContext::new(inputs);
    let mut tracer = cx
        .modules
        .map(|mods| crate::symbols::unwind::Backtracer::new(mods, crate::symbols::Detail::FULL));
    // A C library's DWARF read ahead on another CPU (a cold cache) stops where the
    // threads' frames stop needing it: the stacks are walked now (the walks are
    // kept for the backtraces), while it has only started.
    if let (Some(t), Some(mods)) = (&mut tracer, cx.modules)
        && mods.reads_ahead()
        && cx.core.threads.len() <= WALK_AHEAD_THREADS
    {
        mods.limit_read_ahead(t.walk_ahead(&cx.space, cx.core.arch, &cx.core.threads));
    }
    let plan = plan_layouts(&cx, opts, &mut warnings);
    let cands = discover_candidates(&cx, &plan, opts, &mut warnings);
    let mutexes = classify_mutexes(&cx, &plan, cands);
    let abort = cx
        .modules
        .and_then(|mods| crate::symbols::abort_msg::abort_message(&cx.space, mods));
    let findings = rules::run(&Facts {
        core: cx.core,
        maps: cx.maps,
        space: &cx.space,
        mutexes: &mutexes,
        layout: plan.layout.as_deref(),
        modules: cx.modules,
        binary: opts.binary.as_deref(),
        abort: abort.as_ref(),
    });
    build_report(
        &cx,
        &plan,
        &mutexes,
        &findings,
        abort.as_ref(),
        tracer,
        warnings,
    )
}

/// Up to how many threads [`analyze_core`] walks every stack ahead to bound the
/// read ahead of the C library's DWARF: beyond, the walks of threads the report
/// shows no backtrace of cost more than the inflating they save (a cold run of a
/// core of 1 000 idle threads took 53.3 ms with every stack walked ahead, 47.8 ms
/// without; docs/performance.md).
const WALK_AHEAD_THREADS: usize = 64;

/// Stage 1: the parsed core with its mappings, modules and peers, and the address
/// space the analysis reads.
struct CoreContext<'a, 'd> {
    core: &'a Core<'d>,
    maps: &'a [Mapping],
    path: &'a str,
    exe: Option<&'a [u8]>,
    modules: Option<&'a Modules>,
    peers: &'a [Peer],
    /// With file access (modules loaded), read-only file mappings the core lacks
    /// are read from the files under the sysroot.
    space: AddressSpace<'d>,
}

impl<'a, 'd> CoreContext<'a, 'd> {
    fn new(inputs: &Inputs<'a, 'd>) -> Self {
        let Inputs {
            core,
            maps,
            path,
            exe,
            modules,
            peers,
        } = *inputs;
        let space = match modules {
            Some(mods) => AddressSpace::new(core).with_module_backing(maps, mods),
            None => AddressSpace::new(core),
        };
        CoreContext {
            core,
            maps,
            path,
            exe,
            modules,
            peers,
            space,
        }
    }
}

/// Stage 2: which C library, the default layout, and the layouts used besides it.
struct LayoutPlan {
    guess: LibcGuess,
    layout: Option<Box<dyn Layout>>,
    extra: Vec<Extra>,
}

impl LayoutPlan {
    /// The layout that decodes a candidate (its declared or guest layout, else the
    /// default).
    fn layout_of(&self, c: &Candidate) -> Option<&dyn Layout> {
        match c.layout {
            Some(i) => self.extra.get(i).map(|x| x.layout.as_ref()),
            None => self.layout.as_deref(),
        }
    }
}

fn plan_layouts(
    cx: &CoreContext<'_, '_>,
    opts: &Options,
    warnings: &mut Vec<Warning>,
) -> LayoutPlan {
    let core = cx.core;
    // A static executable carries its C library's marks: read them from --binary, or
    // from the executable's first page as the core holds it.
    let marks = if has_interp(core, cx.maps) {
        None
    } else {
        cx.exe
            .and_then(|b| select::exe_marks(b, "--binary", true))
            .or_else(|| {
                select::exe_head_from_core(core, &cx.space, cx.maps).and_then(|b| {
                    select::exe_marks(b, "the executable's first page in the core", false)
                })
            })
    };
    let guess: LibcGuess = select::detect_libc(cx.maps, marks.as_ref());
    let (guess, decided) = select::decide_by_futex_waits(core, &cx.space, guess);
    if let Some(msg) = decided {
        warnings.push(Warning::new("libc-guess", msg));
    } else if guess.weak && opts.layout.is_none() && core.os == crate::coredump::Os::Linux {
        warnings.push(Warning::new(
            "libc-guess",
            format!(
                "C library not recognised for sure: {}; no blocked futex wait settles it (use --layout to force one)",
                guess.evidence
            ),
        ));
    }
    let layout: Option<Box<dyn Layout>> = match &opts.layout {
        Some(name) => match select::builtin(name) {
            Some(l) => Some(l),
            None => {
                warnings.push(Warning::new(
                    "layout",
                    format!(
                        "unknown layout {name:?}; known: {}",
                        select::builtin_names().join(", ")
                    ),
                ));
                select::for_core(core, guess.libc)
            }
        },
        None => select::for_core(core, guess.libc),
    };
    if layout.is_none() {
        warnings.push(Warning::new(
            "layout",
            format!(
                "no mutex layout for {} ({:?}): mutexes are not decoded",
                core.arch.name(),
                guess.libc
            ),
        ));
    }
    let extra = extra_layouts(core, layout.as_deref(), opts);
    LayoutPlan {
        guess,
        layout,
        extra,
    }
}

/// Stage 3: candidate addresses. One pass over the memory `--scan` covers serves
/// the locked-mutex scans (the layout's and declared layouts' without a magic
/// number) and the search for Solaris locks on x86 Linux cores (a guest layout
/// obeys `--scan`). Magic numbers of the core's own layout (Solaris cores, whose
/// mappings carry no shared flag) and of declared layouts are searched over all
/// dumped memory, unless `--scan none`, which reads no bulk memory at all.
fn discover_candidates(
    cx: &CoreContext<'_, '_>,
    plan: &LayoutPlan,
    opts: &Options,
    warnings: &mut Vec<Warning>,
) -> Candidates {
    let (core, maps, space) = (cx.core, cx.maps, &cx.space);
    let layout = plan.layout.as_deref();
    let extra = &plan.extra;
    let mut scan_layouts: Vec<&dyn Layout> = Vec::new();
    let mut guest_magic: Vec<(&dyn Layout, crate::coredump::Endian)> = Vec::new();
    if let Some(l) = layout {
        scan_layouts.push(l);
    }
    for x in extra {
        if x.layout.magic().is_none() {
            scan_layouts.push(x.layout.as_ref());
        } else if x.guest {
            guest_magic.push((x.layout.as_ref(), space.endian()));
        }
    }
    let pass = discover::one_pass(
        space,
        maps,
        opts.scan,
        &scan_layouts,
        &guest_magic,
        opts.scan_threads,
    );
    let mut pass_scans = pass.scans.into_iter();
    let mut pass_magic = pass.magic.into_iter();

    let mut cands = Candidates::default();
    if let Some(l) = layout {
        for t in &core.threads {
            if let Some(f) = &t.futex
                && let Some(addr) = discover::mutex_wait(f, l)
            {
                cands.add(addr, FoundBy::FutexWait, None, false);
            }
        }
        if let Some(mods) = cx.modules {
            symbol_candidates(mods, space, core.pointer_size(), l, &mut cands, warnings);
        }
        for addr in pass_scans.next().unwrap_or_default() {
            if scan_hit_fits(core, maps, space, l, cx.peers, addr) {
                cands.add(addr, FoundBy::Scan, None, false);
            }
        }
        if cands.len() >= discover::SCAN_LIMIT {
            warnings.push(Warning::new(
                "scan-limit",
                format!(
                    "the scan stopped after {} hits: the memory does not look like {} data",
                    discover::SCAN_LIMIT,
                    l.name()
                ),
            ));
        }
    }

    // Discovery by magic number, and declared layouts.
    let whole_memory = opts.scan != ScanScope::None;
    if let Some(l) = layout
        && l.magic().is_some()
        && whole_memory
    {
        add_magic_hits(magic::scan(space, l), None, false, &mut cands);
    }
    for (i, x) in extra.iter().enumerate() {
        if x.layout.magic().is_some() {
            let found = if x.guest {
                pass_magic.next().unwrap_or_default()
            } else if whole_memory {
                magic::scan(space, x.layout.as_ref())
            } else {
                continue;
            };
            add_magic_hits(found, Some(i), x.guest, &mut cands);
        } else {
            for addr in pass_scans.next().unwrap_or_default() {
                cands.add(addr, FoundBy::Scan, None, false);
                cands.set_layout(addr, i);
            }
        }
    }

    // Names for what was found without a symbol.
    if let Some(mods) = cx.modules {
        cands.name_unnamed(|a| {
            mods.data_symbol(a).map(|s| {
                if s.offset == 0 {
                    s.name
                } else {
                    format!("{}+{:#x}", s.name, s.offset)
                }
            })
        });
    }
    cands
}

/// Stage 4: each candidate decoded by its layout, its owner, waiters and location
/// classified.
fn classify_mutexes(cx: &CoreContext<'_, '_>, plan: &LayoutPlan, cands: Candidates) -> Vec<Mutex> {
    cands
        .into_vec()
        .into_iter()
        .map(|c| {
            build_mutex(
                cx.core,
                cx.maps,
                &cx.space,
                plan.layout_of(&c),
                cx.peers,
                cx.modules,
                c,
            )
        })
        .collect()
}

/// Stage 6: the report: backtraces of the threads that matter (waiters, local
/// owners, the crashed thread and every thread a finding names), the findings'
/// sentences, the models of the core's parts.
fn build_report(
    cx: &CoreContext<'_, '_>,
    plan: &LayoutPlan,
    mutexes: &[Mutex],
    findings: &[rules::Finding],
    abort: Option<&crate::symbols::abort_msg::AbortMessage>,
    tracer: Option<crate::symbols::unwind::Backtracer<'_>>,
    mut warnings: Vec<Warning>,
) -> Report {
    let (core, maps, space) = (cx.core, cx.maps, &cx.space);
    if let Some(mods) = cx.modules {
        warnings.extend(mods.warnings().iter().cloned());
    }
    let process = model::process_model(core, maps, space);
    let mut threads = model::thread_models(core);
    if let Some(mut tracer) = tracer {
        let mut involved: Vec<u32> = findings
            .iter()
            .flat_map(|f| f.threads.iter().copied())
            .collect();
        for m in mutexes {
            involved.extend(m.waiters.iter().copied());
            if m.owner.class() == OwnerClass::OwnThread {
                involved.extend(m.decoded.as_ref().and_then(|d| d.owner_tid));
            }
        }
        involved.extend(core.threads.iter().filter(|t| t.crashed).map(|t| t.tid));
        // Sorted, so that each of a thousand threads is looked up, not searched for.
        involved.sort_unstable();
        involved.dedup();
        // Threads stopped at the same places (many waiters of one lock) share
        // their symbolization.
        for (tm, t) in threads.iter_mut().zip(&core.threads) {
            if involved.binary_search(&t.tid).is_ok() {
                let (frames, stopped) = tracer.frames(space, core.arch, t);
                tm.frames = Some(model::frame_models(frames));
                tm.backtrace_stopped = stopped;
            }
        }
    }
    warnings.extend(core.warnings.iter().cloned());
    Report {
        schema_version: 1,
        core: CoreModel {
            path: cx.path.to_string(),
            pid: process.pid,
            ppid: process.ppid,
            executable: process.executable,
            args: process.args,
            arch: core.arch.name().to_string(),
            os: core.os,
            libc: plan.guess.libc,
            layout: plan.layout.as_ref().map(|l| l.name().to_string()),
            signal: process.signal,
            truncated: core.truncated,
            abort_message: abort.map(|m| m.text.trim_end().to_string()),
        },
        threads,
        mappings: model::mapping_models(maps),
        mutexes: mutexes.iter().map(|m| mutex_model(m, maps)).collect(),
        findings: findings.iter().map(rules::Finding::model).collect(),
        warnings: model::warning_models(&warnings),
    }
}

/// How far (in thread ids) a scan-only foreign owner in shared memory may be from
/// this process's threads. See `docs/layouts.md#scan-plausibility`.
pub const FOREIGN_OWNER_WINDOW: u32 = 1024;

/// The scan's check that needs the core (the layout's byte test cannot do it). A
/// hit found by the scan alone is kept when
/// - its owner is a thread of this process, or a thread of a `--peer` core;
/// - it is a robust mutex in a state only the kernel or glibc writes after an owner
///   died (owner-died, inconsistent, not-recoverable): the exact lock word is the
///   evidence, and the owner it names is dead by definition;
/// - in shared memory only: it is process-shared (a mutex made to be locked by other
///   processes) and its owner is a TID within [`FOREIGN_OWNER_WINDOW`] of one of this
///   process's threads (processes sharing memory are started together).
///
/// Everything else is dropped. Bytes alone cannot tell "lock 2, owner 202, nusers 2,
/// kind 0" in an array of small integers from a private mutex held by thread 202, and
/// the TIDs of a process change from run to run (pid_max is often 32768, and a
/// container starts at 1), so any rule that accepts a non-pshared mutex because its
/// owner is *near* this process's TIDs fails on some runs (it did: `scan_ordinary`
/// found a 17th mutex in about 1 run of 13). A private mutex held by another process
/// or by an exited thread is still found through a thread's futex wait, a symbol, a
/// typed pointer, or the owner's core (`--peer`). See docs/layouts.md#scan-plausibility.
fn scan_hit_fits(
    core: &Core<'_>,
    maps: &[Mapping],
    space: &AddressSpace<'_>,
    layout: &dyn Layout,
    peers: &[Peer],
    addr: u64,
) -> bool {
    let Ok(bytes) = space.read(addr, layout.size()) else {
        return false;
    };
    let d = layout.decode(&bytes, space.endian());
    if d.robust
        && matches!(
            d.state,
            LockState::OwnerDied | LockState::Inconsistent | LockState::NotRecoverable
        )
    {
        return true;
    }
    let Some(owner) = d.owner_tid else {
        return true;
    };
    if core.thread(owner).is_some() || peers.iter().any(|p| p.tids.contains(&owner)) {
        return true;
    }
    let lo = core.threads.iter().map(|t| t.tid).min().unwrap_or(0);
    let hi = core.threads.iter().map(|t| t.tid).max().unwrap_or(0);
    mapping_index(maps, addr).is_some_and(|i| maps[i].shared)
        && d.pshared
        && owner >= lo.saturating_sub(FOREIGN_OWNER_WINDOW)
        && owner <= hi.saturating_add(FOREIGN_OWNER_WINDOW)
}

/// `symbol` and `pointer` discovery: mutex variables named by each verified module's
/// DWARF; with no DWARF, ELF data symbols of the mutex's size whose name says lock.
fn symbol_candidates(
    mods: &Modules,
    space: &AddressSpace<'_>,
    ptr: usize,
    layout: &dyn Layout,
    cands: &mut Candidates,
    warnings: &mut Vec<Warning>,
) {
    let names = layout.family().mutex_type_names();
    for m in mods.iter() {
        if m.object().is_none() {
            continue;
        }
        if symbol_table_suffices(m) {
            elf_symbol_candidates(m, layout, cands);
            continue;
        }
        let found = m.mutex_variables(names);
        match found.as_deref() {
            Some(Ok(found)) => {
                for v in &found.direct {
                    cands.add(
                        v.address.wrapping_add(m.bias),
                        FoundBy::Symbol,
                        Some(v.name.clone()),
                        true,
                    );
                }
                for p in &found.pointers {
                    let at = p.address.wrapping_add(m.bias);
                    let Ok(target) = space.read_word(at, ptr) else {
                        continue;
                    };
                    if target == 0 {
                        continue;
                    }
                    for v in &p.mutexes {
                        cands.add(
                            target.wrapping_add(v.address),
                            FoundBy::Pointer,
                            Some(v.name.clone()),
                            true,
                        );
                    }
                }
                if found.truncated {
                    warnings.push(Warning::new(
                        "limit",
                        format!("{}: too many mutex variables in the debug information; the rest are ignored", m.name),
                    ));
                }
            }
            Some(Err(e)) => warnings.push(Warning::new(
                "debug-info",
                format!("{}: cannot read its debug information: {e}", m.name),
            )),
            None => elf_symbol_candidates(m, layout, cands),
        }
    }
}

/// The C library's mutex variables are top-level data objects named after locks
/// (`__aio_requests_mutex`, `__gai_requests_mutex`, `__timer_active_sigev_thread_lock`
/// in glibc; none in musl, whose internal locks are not `pthread_mutex_t`), so its
/// symbol tables (the debug file's `.symtab` included) name them without walking
/// every DIE of its DWARF — which is most of a small core's analysis time. What the
/// walk found besides is glibc's `__nptl_rtld_global` pointer to the dynamic linker's
/// `_rtld_global`, whose mutexes the dynamic linker's own DWARF names too (see
/// docs/performance.md, "System libraries").
fn symbol_table_suffices(m: &crate::symbols::Module) -> bool {
    use crate::symbols::ModuleKind;
    if !matches!(m.kind, ModuleKind::Library | ModuleKind::Interpreter) {
        return false;
    }
    let n = m.short_name();
    n.starts_with("libc.so.")
        || (n.starts_with("libc-2.") && n.ends_with(".so"))
        || n.starts_with("libc.musl-")
        || n.starts_with("ld-musl-")
}

/// Data symbols exactly the size of the layout whose (demangled, last component of
/// the) names say they are locks (`*mutex*`, `*lock*`, `*mtx*`), except the C++
/// ABI's objects that are not variables (vtables `_ZTV…`, typeinfo `_ZTI…`/`_ZTS…`,
/// guard variables `_ZGV…`, …), from the module file's symbol tables and its
/// debug file's: for modules without DWARF, and for the C library (see
/// [`symbol_table_suffices`]). Not typed: the rules treat them like any other
/// unconfirmed bytes.
fn elf_symbol_candidates(m: &crate::symbols::Module, layout: &dyn Layout, cands: &mut Candidates) {
    use object::{Object, ObjectSymbol, SymbolKind};
    let Some(obj) = m.object() else { return };
    let size = layout.size() as u64;
    let debug = m.debug_object().into_iter().flat_map(|d| d.symbols());
    for sym in obj.symbols().chain(obj.dynamic_symbols()).chain(debug) {
        if sym.kind() != SymbolKind::Data || sym.size() != size || sym.address() == 0 {
            continue;
        }
        let Ok(name) = sym.name() else { continue };
        // C++ vtables, typeinfo, guard variables…: named after a class or a
        // function, never a mutex, whatever their size.
        if crate::symbols::mangled_non_object(name) {
            continue;
        }
        let name = crate::symbols::demangle(name);
        // The variable's own name decides (`ns::g_lock`, not `lock_name()::buf`).
        let own = name.rsplit("::").next().unwrap_or(&name);
        let lower = own.to_ascii_lowercase();
        if lower.contains("mutex") || lower.contains("lock") || lower.contains("mtx") {
            cands.add(
                sym.address().wrapping_add(m.bias),
                FoundBy::Symbol,
                Some(name),
                false,
            );
        }
    }
}

/// A layout used besides the default one.
struct Extra {
    layout: Box<dyn Layout>,
    /// The Solaris `mutex_t` looked for in a core of another system (a Solaris
    /// lock re-implemented or emulated there): only strong hits count.
    guest: bool,
}

/// Declared layouts, then — on x86 cores that are not Solaris cores — the Solaris
/// `mutex_t`, whose magic number makes a scan for it cheap and specific.
fn extra_layouts(core: &Core<'_>, default: Option<&dyn Layout>, opts: &Options) -> Vec<Extra> {
    let mut v: Vec<Extra> = opts
        .declared_layouts
        .iter()
        .map(|d| Extra {
            layout: Box::new(d.clone()),
            guest: false,
        })
        .collect();
    let default_is_solaris = default.is_some_and(|l| l.family().is_solaris());
    if !default_is_solaris
        && core.os != crate::coredump::Os::Solaris
        && matches!(
            core.arch,
            crate::coredump::Arch::X86_64 | crate::coredump::Arch::I386
        )
        && let Some(l) = SolarisMutex::for_arch(core.arch)
    {
        v.push(Extra {
            layout: Box::new(l),
            guest: true,
        });
    }
    v
}

/// Add the validated hits of a layout's magic-number search as candidates.
fn add_magic_hits(
    found: magic::MagicScan,
    index: Option<usize>,
    guest: bool,
    cands: &mut Candidates,
) {
    for h in found.hits {
        if guest && !solaris::strong_hit(&h.decoded) {
            continue;
        }
        cands.add(h.address, FoundBy::Magic, None, false);
        if let Some(i) = index {
            cands.set_layout(h.address, i);
        }
        if let Some(e) = &h.embedded_in {
            cands.add_note(h.address, e.note.clone());
        }
    }
}

/// A dynamically linked process maps its interpreter (AT_BASE != 0).
fn has_interp(core: &Core<'_>, _maps: &[Mapping]) -> bool {
    core.auxv_value(crate::coredump::AT_BASE)
        .is_some_and(|b| b != 0)
}

fn build_mutex(
    core: &Core<'_>,
    maps: &[Mapping],
    space: &AddressSpace<'_>,
    layout: Option<&dyn Layout>,
    peers: &[Peer],
    modules: Option<&Modules>,
    c: Candidate,
) -> Mutex {
    let addr = c.address;
    let mapping = mapping_index(maps, addr);
    let decoded = layout.and_then(|l| {
        space
            .read(addr, l.size())
            .ok()
            .map(|b| l.decode(&b, space.endian()))
    });
    let futex_off = layout.map_or(0, |l| l.futex_offset());
    let waiters: Vec<u32> = core
        .threads
        .iter()
        .filter(|t| {
            t.futex
                .as_ref()
                .is_some_and(|f| f.waits && f.address == addr + futex_off)
        })
        .map(|t| t.tid)
        .collect();
    let shared = mapping.is_some_and(|i| maps[i].shared);
    let owner_pointer = decoded.as_ref().and_then(|d| d.owner_pointer).map(|p| {
        owner_ptr::classify(
            &core.threads,
            maps,
            p,
            Some((space, owner_ptr::BlockShape::for_core(core.os, core.arch))),
        )
    });
    let owner = owner::classify(
        core,
        decoded.as_ref(),
        owner_pointer.as_ref(),
        peers,
        shared,
    );
    let confirmed = c.typed
        || c.found_by.contains(&FoundBy::Scan)
        || c.found_by.contains(&FoundBy::Magic)
        || decoded.as_ref().is_some_and(|d| d.anomalies.is_empty());
    let location = modules
        .and_then(|mods| section_location(mods, addr))
        .unwrap_or_else(|| location(maps, mapping));
    Mutex {
        address: addr,
        location,
        layout_name: layout.map_or_else(String::new, |l| l.name().to_string()),
        candidate: c,
        decoded,
        mapping,
        waiters,
        owner,
        owner_pointer,
        confirmed,
    }
}

/// The section of a module holding an address: ".bss of app", ".data of libc.so.6".
fn section_location(mods: &Modules, addr: u64) -> Option<Location> {
    use object::{Object, ObjectSection};
    let m = mods.module_at(addr)?;
    let obj = m.object()?;
    let link = m.to_link(addr);
    let sec = obj
        .sections()
        .find(|s| s.address() != 0 && link >= s.address() && link - s.address() < s.size())?;
    let name = sec.name().ok()?;
    Some(Location::Section {
        section: name.to_string(),
        module: m.short_name().to_string(),
    })
}

/// ".bss of app", "SysV shm segment key 0x6d757478", "stack of thread 12", ...
pub(crate) fn location(maps: &[Mapping], idx: Option<usize>) -> Location {
    let Some(i) = idx else {
        return Location::Unmapped;
    };
    let m = &maps[i];
    let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
    match m.kind {
        MappingKind::File => match &m.path {
            Some(p) if m.perms.contains('w') => Location::Section {
                section: ".data".into(),
                module: base(p),
            },
            Some(p) => Location::File {
                file: base(p),
                perms: m.perms.clone(),
            },
            None => Location::Mapping(m.place()),
        },
        MappingKind::Anon => {
            // The .bss tail right after a module's writable file mapping.
            if i > 0
                && maps[i - 1].end == m.start
                && maps[i - 1].perms.contains('w')
                && let Some(p) = &maps[i - 1].path
                && maps[i - 1].kind == MappingKind::File
            {
                Location::Section {
                    section: ".bss".into(),
                    module: base(p),
                }
            } else {
                Location::AnonymousPrivate
            }
        }
        MappingKind::Heap => Location::Heap,
        _ => Location::Mapping(m.place()),
    }
}

fn mutex_model(m: &Mutex, maps: &[Mapping]) -> MutexModel {
    let map = m.mapping.map(|i| &maps[i]);
    let d = m.decoded.as_ref();
    MutexModel {
        address: Hex(m.address),
        layout: d.map_or_else(|| m.layout_name.clone(), |d| d.layout.clone()),
        mtype: d.map(|d| d.mtype),
        pshared: d.map(|d| d.pshared),
        robust: d.map(|d| d.robust),
        protocol: d.map(|d| d.protocol),
        state: d.map(|d| d.state),
        count: d.map(|d| d.count),
        nusers: d.and_then(|d| d.nusers),
        ceiling: d.and_then(|d| d.ceiling),
        owner: OwnerModel {
            tid: d.and_then(|d| d.owner_tid),
            pointer: d.and_then(|d| d.owner_pointer).map(Hex),
            class: m.owner.class(),
            pointer_class: m.owner_pointer.as_ref().map(|o| o.class),
            note: m.owner.note(),
        },
        mapping: map.map(|m| Hex(m.start)),
        mapping_kind: map.map(|m| m.kind),
        location: m.location.to_string(),
        key: map.and_then(|m| m.key).map(|k| Hex(u64::from(k))),
        symbol: m.candidate.symbol.clone(),
        waiters: m.waiters.clone(),
        found_by: m.candidate.found_by.clone(),
        dumped: d.is_some(),
        fields: d.map_or_else(Vec::new, |d| {
            d.fields
                .iter()
                .map(|(n, v)| (n.to_string(), Hex(*v)))
                .collect()
        }),
        anomalies: d.map_or_else(Vec::new, |d| d.anomalies.clone()),
        notes: {
            let mut n = m.candidate.notes.clone();
            n.extend(d.and_then(solaris::spinner_note));
            n
        },
    }
}
