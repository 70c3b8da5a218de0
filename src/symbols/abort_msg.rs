//! glibc's abort message (`__abort_msg`, exported in libc's `.dynsym`, so no debug
//! information is needed to read it), the assertion it reports, and, for glibc's
//! own mutex assertions, which mutex: the `mutex` argument of the function that
//! asserted, when DWARF can still locate it in that frame.

use gimli::{AttributeValue, constants as dw};
use serde::Serialize;

use super::dwarf::Reader;
use super::modules::{Module, Modules};
use super::unwind::{self, Mem, RawFrame, ReadMem, Regs};
use crate::coredump::Core;
use crate::memory::AddressSpace;

/// Longest message read (glibc allocates a page or more for it).
const MAX_MESSAGE: usize = 1 << 16;

/// `__abort_msg`'s text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AbortMessage {
    /// Address of the `struct abort_msg_s` (`{ unsigned size; char msg[]; }`).
    pub address: u64,
    /// The message, as glibc wrote it (with its final newline).
    pub text: String,
    /// The assertion, when the message is one (`__assert_fail`).
    pub assertion: Option<Assertion>,
}

/// "PROG: FILE:LINE: FUNCTION: Assertion `EXPR' failed."
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Assertion {
    pub program: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub function: Option<String>,
    pub expression: String,
}

impl Assertion {
    /// glibc's own assertion about a mutex (`pthread_mutex_lock.c`,
    /// `pthread_mutex_unlock.c`, `tpp.c`..., or an expression about a mutex).
    pub fn concerns_mutex(&self) -> bool {
        let f = self.file.as_deref().unwrap_or("");
        let func = self.function.as_deref().unwrap_or("");
        f.contains("pthread_mutex")
            || f.ends_with("tpp.c")
            || func.contains("pthread_mutex")
            || self.expression.contains("mutex")
    }
}

/// Which mutex a glibc mutex assertion is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MutexAssertion {
    /// The thread that asserted (its backtrace holds `__assert_fail`).
    pub tid: Option<u32>,
    /// The function named by the message, as found in that thread's stack.
    pub function: Option<String>,
    /// The mutex's address, when recovered.
    pub mutex: Option<u64>,
    /// How it was recovered, or why it could not be.
    pub how: String,
}

/// Parse glibc's assertion message format
/// `"%s%s%s:%u: %s%sAssertion `%s' failed.\n"`.
pub fn parse_assertion(text: &str) -> Option<Assertion> {
    let start = text.find("Assertion `")?;
    let rest = &text[start + "Assertion `".len()..];
    let end = rest.rfind("' failed")?;
    let expression = rest[..end].to_string();
    let head = text[..start].trim_end().trim_end_matches(':');
    // head: "PROG: FILE:LINE: FUNCTION" (PROG and FUNCTION may be absent).
    let mut program = None;
    let mut file = None;
    let mut line = None;
    let mut function = None;
    let parts: Vec<&str> = head.split(": ").collect();
    for (i, p) in parts.iter().enumerate() {
        if let Some((f, l)) = p.rsplit_once(':')
            && let Ok(n) = l.parse::<u32>()
        {
            file = Some(f.to_string());
            line = Some(n);
            if i > 0 {
                program = Some(parts[..i].join(": "));
            }
            if i + 1 < parts.len() {
                function = Some(parts[i + 1..].join(": "));
            }
            break;
        }
    }
    Some(Assertion {
        program,
        file,
        line,
        function,
        expression,
    })
}

/// Read `__abort_msg`. `None` when libc (or its symbol) is not found or no message
/// was set (the pointer is NULL).
pub fn abort_message(space: &AddressSpace<'_>, modules: &Modules) -> Option<AbortMessage> {
    let sym = modules.find_symbol("__abort_msg")?;
    let ptr = space.read_word(sym.address, modules.pointer_size()).ok()?;
    if ptr == 0 {
        return None;
    }
    let size = space.read_u32(ptr).ok()? as usize;
    let max = size.saturating_sub(4).clamp(1, MAX_MESSAGE);
    let text = space.read_cstr(ptr + 4, max).ok()?;
    Some(AbortMessage {
        address: ptr,
        assertion: parse_assertion(&text),
        text,
    })
}

/// For an assertion about a mutex: the asserting thread and, if DWARF can locate
/// it there, the `mutex` argument of the function the message names. `None` when
/// the message is not a mutex assertion.
pub fn mutex_assertion(
    core: &Core<'_>,
    space: &AddressSpace<'_>,
    modules: &Modules,
    msg: &AbortMessage,
) -> Option<MutexAssertion> {
    let a = msg.assertion.as_ref()?;
    if !a.concerns_mutex() {
        return None;
    }
    let func = a.function.clone();
    let mut out = MutexAssertion {
        tid: None,
        function: func.clone(),
        mutex: None,
        how: "no thread's stack holds __assert_fail".into(),
    };
    for t in &core.threads {
        let (raw, _) = unwind::unwind_raw(space, modules, core.arch, t);
        let raw = unwind::with_tail_calls(modules, raw);
        let names: Vec<Option<String>> = raw
            .iter()
            .map(|f| {
                let m = modules.module_at(f.lookup_pc())?;
                m.source_frames(m.to_link(f.lookup_pc()), super::Detail::SYMTAB)
                    .pop()?
                    .function
            })
            .collect();
        let Some(af) = names
            .iter()
            .position(|n| n.as_deref().is_some_and(|n| n.contains("__assert_fail")))
        else {
            continue;
        };
        out.tid = Some(t.tid);
        // The frame of the named function, above the assertion.
        let Some(fi) =
            (af + 1..raw.len()).find(|&i| frame_has_function(modules, &raw[i], func.as_deref()))
        else {
            out.how = format!(
                "thread {} asserted, but no frame of {} was found above __assert_fail",
                t.tid,
                func.as_deref()
                    .unwrap_or("the function named by the message")
            );
            return Some(out);
        };
        let cfa = raw.get(fi + 1).map(|f| f.sp);
        let mem = Mem {
            space,
            word: modules.pointer_size(),
        };
        match parameter_value(modules, &raw[fi], func.as_deref(), "mutex", cfa, &mem) {
            Ok(v) => {
                out.mutex = Some(v);
                out.how = format!(
                    "the `mutex` argument of {} in thread {} (frame #{fi}), located by DWARF",
                    func.as_deref().unwrap_or("?"),
                    t.tid
                );
            }
            Err(why) => {
                out.how = format!(
                    "the `mutex` argument of {} in thread {} (frame #{fi}) cannot be recovered: {why}",
                    func.as_deref().unwrap_or("?"),
                    t.tid
                );
            }
        }
        return Some(out);
    }
    Some(out)
}

fn frame_has_function(modules: &Modules, f: &RawFrame, func: Option<&str>) -> bool {
    let Some(func) = func else { return false };
    let Some(m) = modules.module_at(f.lookup_pc()) else {
        return false;
    };
    m.source_frames(m.to_link(f.lookup_pc()), super::Detail::FULL)
        .iter()
        .any(|s| s.function.as_deref() == Some(func))
        || m.symtab_function(m.to_link(f.lookup_pc())).as_deref() == Some(func)
}

/// The value of parameter `param` of function `func` (which may be inlined there;
/// `None`: the frame's real function) in frame `index` of a raw backtrace
/// (from [`unwind::unwind_raw`]), from its DWARF location at that pc and the
/// registers the unwinder recovered for that frame.
pub fn parameter_in_frame(
    space: &AddressSpace<'_>,
    modules: &Modules,
    frames: &[RawFrame],
    index: usize,
    func: Option<&str>,
    param: &str,
) -> Result<u64, String> {
    let f = frames.get(index).ok_or("no such frame")?;
    let cfa = frames.get(index + 1).map(|f| f.sp);
    let mem = Mem {
        space,
        word: modules.pointer_size(),
    };
    parameter_value(modules, f, func, param, cfa, &mem)
}

/// The value of parameter `param` of function `func` (or of the outermost
/// function when `None`) in a frame, from its DWARF location at that pc.
pub(crate) fn parameter_value(
    modules: &Modules,
    frame: &RawFrame,
    func: Option<&str>,
    param: &str,
    cfa: Option<u64>,
    mem: &Mem<'_, '_>,
) -> Result<u64, String> {
    let probe_rt = frame.lookup_pc();
    let m: &Module = modules
        .module_at(probe_rt)
        .ok_or("the frame is in no known module")?;
    let probe = m.to_link(probe_rt);
    let address_size = modules.pointer_size() as u8;
    // Where the parameter is, from the DWARF (or from the answers kept from an
    // earlier read of it); then its value, from this frame's registers and memory.
    let key = (probe, func.map(str::to_string), param.to_string());
    let loc = match m.files.memo_param(&key) {
        Some(l) => l,
        None => {
            let l = parameter_location(m, probe, func, param);
            m.files.memo_put_param(key, &l);
            l
        }
    }?;
    let endian = if loc.big_endian {
        gimli::RunTimeEndian::Big
    } else {
        gimli::RunTimeEndian::Little
    };
    let expr = gimli::Expression(gimli::EndianSlice::new(&loc.expr, endian));
    let fb = if loc.frame_base_is_cfa { cfa } else { None };
    eval_location(expr, address_size, &frame.regs, mem, fb)
}

/// Where a parameter lives at a pc, as the DWARF says: its location expression
/// there and whether the function's frame base is the CFA.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ParamLocation {
    pub(crate) expr: Vec<u8>,
    pub(crate) frame_base_is_cfa: bool,
    pub(crate) big_endian: bool,
}

fn parameter_location(
    m: &Module,
    probe: u64,
    func: Option<&str>,
    param: &str,
) -> Result<ParamLocation, String> {
    m.with_dwarf_parts(probe, |owner, ctx| -> Result<ParamLocation, String> {
        let unit = ctx
            .find_dwarf_and_unit(probe)
            .skip_all_loads()
            .ok_or("no DWARF unit covers the pc")?;
        let mut frames = ctx
            .find_frames(probe)
            .skip_all_loads()
            .map_err(|e| e.to_string())?;
        let mut die = None;
        let mut outer = None;
        while let Ok(Some(f)) = frames.next() {
            let name = f
                .function
                .as_ref()
                .and_then(|n| n.raw_name().ok())
                .map(|n| n.into_owned());
            if func.is_some() && name.as_deref() == func && die.is_none() {
                die = f.dw_die_offset;
            }
            outer = f.dw_die_offset.or(outer);
        }
        let die = if func.is_none() { outer } else { die }
            .ok_or("the function is not in the DWARF at this pc")?;
        // The parameter among the function's (or inlined instance's) children.
        let mut c = unit.entries_at_offset(die).map_err(|e| e.to_string())?;
        if !c.next_entry().map_err(|e| e.to_string())? {
            return Err("bad DIE".into());
        }
        let frame_base = c.current().and_then(|e| e.attr_value(dw::DW_AT_frame_base));
        let mut loc = None;
        let mut n = 0;
        while c.next_entry().map_err(|e| e.to_string())? {
            n += 1;
            if n > 10_000 || c.depth() <= 0 {
                break;
            }
            if c.depth() != 1 {
                continue;
            }
            let Some(e) = c.current() else { continue };
            if e.tag() != dw::DW_TAG_formal_parameter {
                continue;
            }
            if param_name(unit, e).as_deref() == Some(param) {
                loc = Some(e.attr_value(dw::DW_AT_location));
                break;
            }
        }
        let loc = loc.ok_or_else(|| format!("no parameter `{param}` in the DWARF"))?;
        let expr = match loc {
            None => return Err("optimized out (no location)".into()),
            Some(AttributeValue::Exprloc(e)) => e,
            Some(AttributeValue::LocationListsRef(off)) => {
                let lists = owner.location_lists();
                let mut it = lists
                    .locations(
                        off,
                        unit.encoding(),
                        unit.low_pc,
                        &unit.dwarf.debug_addr,
                        unit.addr_base,
                    )
                    .map_err(|e| e.to_string())?;
                let mut found = None;
                while let Ok(Some(l)) = it.next() {
                    if probe >= l.range.begin && probe < l.range.end {
                        found = Some(l.data);
                        break;
                    }
                }
                match found {
                    Some(e) => e,
                    None => return Err("optimized out at this pc (no location list entry)".into()),
                }
            }
            Some(_) => return Err("unsupported location form".into()),
        };
        Ok(ParamLocation {
            expr: expr.0.slice().to_vec(),
            frame_base_is_cfa: matches!(
                frame_base,
                Some(AttributeValue::Exprloc(e)) if e.0.slice() == [0x9c]
            ),
            big_endian: owner.endian == gimli::RunTimeEndian::Big,
        })
    })
    .unwrap_or_else(|| Err("no DWARF for this module".into()))
}

fn param_name<'a>(
    unit: gimli::UnitRef<'_, Reader<'a>>,
    e: &gimli::DebuggingInformationEntry<Reader<'a>>,
) -> Option<String> {
    let mut cur = e.clone();
    for _ in 0..4 {
        if let Some(n) = cur.attr_value(dw::DW_AT_name) {
            let s = unit.attr_string(n).ok()?;
            return Some(String::from_utf8_lossy(s.slice()).into_owned());
        }
        match cur.attr_value(dw::DW_AT_abstract_origin) {
            Some(AttributeValue::UnitRef(o)) => cur = unit.entry(o).ok()?,
            _ => return None,
        }
    }
    None
}

/// Evaluate a variable's location description to the variable's value (a
/// pointer-sized integer).
fn eval_location(
    expr: gimli::Expression<Reader<'_>>,
    address_size: u8,
    regs: &Regs,
    mem: &Mem<'_, '_>,
    frame_base: Option<u64>,
) -> Result<u64, String> {
    let enc = gimli::Encoding {
        address_size,
        format: gimli::Format::Dwarf32,
        version: 5,
    };
    let mut e = expr.evaluation(enc);
    let mut res = e.evaluate().map_err(|x| x.to_string())?;
    for _ in 0..10_000 {
        res = match res {
            gimli::EvaluationResult::Complete => break,
            gimli::EvaluationResult::RequiresMemory { address, size, .. } => {
                let b = mem
                    .space
                    .read(address, usize::from(size))
                    .map_err(|x| x.to_string())?;
                let v =
                    crate::coredump::bytes::word_from(&b, mem.space.endian(), usize::from(size))
                        .ok_or("short read")?;
                e.resume_with_memory(gimli::Value::Generic(v))
                    .map_err(|x| x.to_string())?
            }
            gimli::EvaluationResult::RequiresRegister { register, .. } => {
                let v = regs
                    .get(register.0)
                    .ok_or_else(|| format!("register {} is not known in this frame", register.0))?;
                e.resume_with_register(gimli::Value::Generic(v))
                    .map_err(|x| x.to_string())?
            }
            gimli::EvaluationResult::RequiresFrameBase => {
                let fb = frame_base.ok_or("the frame base is not known")?;
                e.resume_with_frame_base(fb).map_err(|x| x.to_string())?
            }
            gimli::EvaluationResult::RequiresCallFrameCfa => {
                let fb = frame_base.ok_or("the CFA is not known")?;
                e.resume_with_call_frame_cfa(fb)
                    .map_err(|x| x.to_string())?
            }
            gimli::EvaluationResult::RequiresEntryValue(_) => {
                return Err("optimized out (only its value at function entry is described)".into());
            }
            other => return Err(format!("unsupported DWARF operation ({other:?})")),
        };
    }
    let pieces = e.result();
    match pieces.first().map(|p| &p.location) {
        Some(gimli::Location::Register { register }) => regs
            .get(register.0)
            .ok_or_else(|| format!("register {} is not known in this frame", register.0)),
        Some(gimli::Location::Address { address }) => mem
            .word(*address)
            .ok_or_else(|| format!("cannot read {address:#x}")),
        Some(gimli::Location::Value { value }) => value.to_u64(u64::MAX).map_err(|x| x.to_string()),
        Some(gimli::Location::Empty) | None => Err("optimized out".into()),
        Some(_) => Err("unsupported location".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_glibc_assertions() {
        let a = parse_assertion(
            "app: pthread_mutex_lock.c:94: ___pthread_mutex_lock: Assertion `mutex->__data.__owner == 0' failed.\n",
        )
        .unwrap();
        assert_eq!(a.program.as_deref(), Some("app"));
        assert_eq!(a.file.as_deref(), Some("pthread_mutex_lock.c"));
        assert_eq!(a.line, Some(94));
        assert_eq!(a.function.as_deref(), Some("___pthread_mutex_lock"));
        assert_eq!(a.expression, "mutex->__data.__owner == 0");
        assert!(a.concerns_mutex());
        let b = parse_assertion("prog: x.c:3: main: Assertion `n > 0' failed.\n").unwrap();
        assert!(!b.concerns_mutex());
        assert_eq!(b.function.as_deref(), Some("main"));
        assert!(parse_assertion("double free or corruption (out)").is_none());
    }
}
