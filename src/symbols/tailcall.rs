//! Tail calls: a function that ends in a jump to another leaves no frame, so the
//! stack goes straight from the callee to the caller of the jumping function.
//! Like gdb, we find the missing frames from DWARF call-site information
//! (`DW_TAG_call_site` with `DW_AT_call_tail_call`): the caller's call site names
//! the function it called; if that is not the callee, a unique chain of tail calls
//! from it to the callee fills the gap.

use gimli::{AttributeValue, UnitOffset, constants as dw};

use super::dwarf::Reader;
use super::modules::{Module, Modules};

/// One call site of a function.
#[derive(Clone, Debug)]
pub(crate) struct CallSite {
    /// Link-time address right after the call or jump.
    pub(crate) return_pc: u64,
    pub(crate) tail: bool,
    pub(crate) target: Target,
}

/// The called function.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// Link-time address (in the module that holds the call site).
    Address(u64),
    /// A name to look up in the module's symbol tables.
    Name(String),
    Unknown,
}

impl CallSite {
    fn resolve(&self, m: &Module) -> Option<u64> {
        match &self.target {
            Target::Address(a) => Some(a.wrapping_add(m.bias)),
            Target::Name(n) => m.find_symbol(n).map(|s| s.address),
            Target::Unknown => None,
        }
    }
}

/// Deepest chain of tail calls looked for.
const MAX_CHAIN: usize = 4;
/// At most this many DIEs are walked in one function.
const MAX_DIES: usize = 20_000;

fn site_target(
    unit: gimli::UnitRef<'_, Reader<'_>>,
    entry: &gimli::DebuggingInformationEntry<Reader<'_>>,
) -> Target {
    target_of(unit, entry).unwrap_or(Target::Unknown)
}

fn target_of(
    unit: gimli::UnitRef<'_, Reader<'_>>,
    entry: &gimli::DebuggingInformationEntry<Reader<'_>>,
) -> Option<Target> {
    if let Some(AttributeValue::Exprloc(e)) = entry.attr_value(dw::DW_AT_call_target) {
        // DW_OP_addr X.
        let b = e.0.slice();
        if b.first() == Some(&0x03) && b.len() == 9 {
            let v = u64::from_le_bytes(b[1..9].try_into().ok()?);
            return Some(Target::Address(v));
        }
        return None;
    }
    let origin = entry
        .attr_value(dw::DW_AT_call_origin)
        .or_else(|| entry.attr_value(dw::DW_AT_abstract_origin))?;
    let AttributeValue::UnitRef(off) = origin else {
        return None;
    };
    let mut off: UnitOffset<usize> = off;
    // Follow abstract origins / specifications to a name (or an address).
    for _ in 0..4 {
        let die = unit.entry(off).ok()?;
        if let Some(v) = die.attr_value(dw::DW_AT_low_pc)
            && let Ok(Some(a)) = unit.attr_address(v)
            && a != 0
        {
            return Some(Target::Address(a));
        }
        let name = die
            .attr_value(dw::DW_AT_linkage_name)
            .or_else(|| die.attr_value(dw::DW_AT_name));
        if let Some(n) = name
            && let Ok(s) = unit.attr_string(n)
            && let Ok(s) = std::str::from_utf8(s.slice())
        {
            return Some(Target::Name(s.to_string()));
        }
        match die
            .attr_value(dw::DW_AT_abstract_origin)
            .or_else(|| die.attr_value(dw::DW_AT_specification))
        {
            Some(AttributeValue::UnitRef(o)) => off = o,
            _ => return None,
        }
    }
    None
}

impl Module {
    /// The call sites of the (non-inlined) function holding a link-time address,
    /// and that function's DWARF entry address (runtime).
    pub(crate) fn call_sites(&self, vaddr: u64) -> Option<Vec<CallSite>> {
        if let Some(s) = self.files.memo_sites(vaddr) {
            return s;
        }
        let s = self.read_call_sites(vaddr);
        self.files.memo_put_sites(vaddr, &s);
        s
    }

    /// [`Module::call_sites`] read from the DWARF now.
    fn read_call_sites(&self, vaddr: u64) -> Option<Vec<CallSite>> {
        self.with_addr2line(vaddr, |ctx| {
            let unit = ctx.find_dwarf_and_unit(vaddr).skip_all_loads()?;
            let mut frames = ctx.find_frames(vaddr).skip_all_loads().ok()?;
            let mut die = None;
            while let Ok(Some(f)) = frames.next() {
                die = f.dw_die_offset.or(die);
            }
            let die = die?;
            let mut c = unit.entries_at_offset(die).ok()?;
            if !c.next_entry().ok()? {
                return None;
            }
            let mut out = Vec::new();
            let mut n = 0;
            while c.next_entry().ok()? {
                n += 1;
                if n > MAX_DIES || c.depth() <= 0 {
                    break;
                }
                let Some(e) = c.current() else { continue };
                if e.tag() != dw::DW_TAG_call_site && e.tag() != dw::DW_TAG_GNU_call_site {
                    continue;
                }
                let ret = e
                    .attr_value(dw::DW_AT_call_return_pc)
                    .or_else(|| e.attr_value(dw::DW_AT_low_pc))
                    .and_then(|v| unit.attr_address(v).ok().flatten());
                let Some(return_pc) = ret else { continue };
                let tail = matches!(
                    e.attr_value(dw::DW_AT_call_tail_call)
                        .or_else(|| e.attr_value(dw::DW_AT_GNU_tail_call)),
                    Some(AttributeValue::Flag(true))
                );
                let target = site_target(unit, e);
                out.push(CallSite {
                    return_pc,
                    tail,
                    target,
                });
            }
            Some(out)
        })
        .flatten()
    }
}

/// The start (runtime) of the function holding a runtime address, from the
/// symbol tables.
fn function_start(modules: &Modules, addr: u64) -> Option<u64> {
    let m = modules.module_at(addr)?;
    let (_, start, _) = m.symbol_for(m.to_link(addr), true)?;
    Some(start.wrapping_add(m.bias))
}

/// The frames missing between a callee (whose code holds `callee_pc`, a lookup
/// address) and its caller (returning to `return_addr`): the functions that
/// tail-called, outermost (nearest the caller) last. Each is the runtime address
/// right after its tail jump. Empty when there is no gap, or it is ambiguous.
pub(crate) fn missing_tail_calls(modules: &Modules, callee_pc: u64, return_addr: u64) -> Vec<u64> {
    let Some(callee) = function_start(modules, callee_pc) else {
        return Vec::new();
    };
    let Some(cm) = modules.module_at(return_addr.wrapping_sub(1)) else {
        return Vec::new();
    };
    let link_ra = cm.to_link(return_addr);
    let Some(sites) = cm.call_sites(link_ra.wrapping_sub(1)) else {
        return Vec::new();
    };
    let Some(target) = sites
        .iter()
        .find(|s| s.return_pc == link_ra && !s.tail)
        .and_then(|s| s.resolve(cm))
    else {
        return Vec::new();
    };
    if target == callee {
        return Vec::new();
    }
    // Depth-first search of tail-call chains from `target` to `callee`.
    let mut paths: Vec<Vec<u64>> = Vec::new();
    let mut stack: Vec<(u64, Vec<u64>)> = vec![(target, Vec::new())];
    let mut steps = 0;
    while let Some((f, path)) = stack.pop() {
        steps += 1;
        if steps > 256 || paths.len() > 8 {
            return Vec::new();
        }
        let Some(m) = modules.module_at(f) else {
            continue;
        };
        let Some(sites) = m.call_sites(m.to_link(f)) else {
            continue;
        };
        for s in sites.iter().filter(|s| s.tail) {
            let Some(t) = s.resolve(m) else { continue };
            let mut p = path.clone();
            p.push(s.return_pc.wrapping_add(m.bias));
            if t == callee {
                paths.push(p);
            } else if p.len() < MAX_CHAIN {
                stack.push((t, p));
            }
        }
    }
    paths.sort();
    paths.dedup();
    match paths.as_slice() {
        [one] => one.iter().rev().copied().collect(),
        _ => Vec::new(),
    }
}
