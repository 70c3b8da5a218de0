//! Mutexes named by debug information: global and static variables whose DWARF type
//! is, or contains (in structs, unions, arrays, base classes, at any depth), a mutex
//! type such as `pthread_mutex_t`; and global pointers whose pointee contains one
//! (`struct region *region` → `region->mu`, one level deep).
//!
//! Names are those gdb accepts and prints: C++ variables are qualified with their
//! namespaces and classes (`ns::g_obj`, from the demangled `DW_AT_linkage_name`, else
//! from the enclosing `DW_TAG_namespace` / class entries); elements of arrays are
//! indexed (`S[3].mu`, `locks[2]`); and a mutex that is the first member of a C++
//! standard library object (`std::mutex` holds its `pthread_mutex_t` as
//! `__mutex_base::_M_mutex`, at offset 0) is named by that object (`ns::g_obj.a`, not
//! `ns::g_obj.a._M_mutex`): `p ns::g_obj.a` is what a gdb user types, and the library's
//! private member path is an implementation detail (docs/symbols.md).
//!
//! Addresses returned are link-time addresses; add the module's load bias.

use std::collections::{HashMap, HashSet};

use gimli::{AttributeValue, DwTag, Reader, Unit, UnitOffset, constants as dw};

/// Limits that keep a hostile or huge DWARF from exploding the result.
pub const MAX_RESULTS: usize = 100_000;
pub const MAX_ARRAY: u64 = 4096;
const MAX_DEPTH: u32 = 12;

/// A mutex inside a global variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MutexVar {
    /// `config_lock`, `table[3].lock`, `region->slots[2].mu`.
    pub name: String,
    /// Link-time address (for `pointer` entries: offset from the pointee's start).
    pub address: u64,
}

/// A global pointer whose pointee holds mutexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PointerVar {
    pub name: String,
    /// Link-time address of the pointer variable itself.
    pub address: u64,
    /// Mutexes inside the pointee: names start with `name->`, addresses are offsets.
    pub mutexes: Vec<MutexVar>,
}

#[derive(Clone, Debug, Default)]
pub struct Found {
    pub direct: Vec<MutexVar>,
    pub pointers: Vec<PointerVar>,
    /// The search stopped at a limit.
    pub truncated: bool,
}

/// Search all compilation units for variables holding mutex types named in
/// `type_names` (typedef or struct names, e.g. `pthread_mutex_t`, `mutex_t`).
pub fn find<R: Reader>(
    dwarf: &gimli::Dwarf<R>,
    type_names: &[&str],
) -> Result<Found, gimli::Error> {
    let mut found = Found::default();
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let Ok(unit) = dwarf.unit(header) else {
            continue;
        };
        let mut w = Walker {
            dwarf,
            unit: &unit,
            names: type_names,
            memo: HashMap::new(),
            found: &mut found,
            scopes: HashMap::new(),
            std_types: HashSet::new(),
            vars: Vec::new(),
        };
        if w.unit_scopes().is_err() || w.unit_vars().is_err() {
            continue;
        }
        if found.truncated {
            break;
        }
    }
    Ok(found)
}

struct Walker<'a, R: Reader> {
    dwarf: &'a gimli::Dwarf<R>,
    unit: &'a Unit<R>,
    names: &'a [&'a str],
    /// type offset → contains a mutex
    memo: HashMap<UnitOffset<R::Offset>, bool>,
    found: &'a mut Found,
    /// Variable entries nested in namespaces or classes → their scope (`ns::`).
    scopes: HashMap<UnitOffset<R::Offset>, String>,
    /// Struct, class and union entries of the C++ standard library (namespace `std`
    /// or `__gnu_cxx`).
    std_types: HashSet<UnitOffset<R::Offset>>,
    /// Variable entries with a location expression, in the unit's order: the
    /// candidates `unit_vars` looks at (so the unit's tree is walked once).
    vars: Vec<UnitOffset<R::Offset>>,
}

/// Namespaces whose classes wrap a mutex as a private member (`std::mutex`).
const LIBRARY_NAMESPACES: &[&str] = &["std", "__gnu_cxx"];

enum Step<O> {
    /// A mutex type: stop here.
    Mutex,
    /// Members (name, offset, type), and whether it is a C++ standard library type.
    Struct(Vec<(Option<String>, u64, UnitOffset<O>)>, bool),
    Array(UnitOffset<O>, u64),
    Pointer(Option<UnitOffset<O>>),
    Other,
}

impl<R: Reader> Walker<'_, R> {
    fn name(&self, v: Option<AttributeValue<R>>) -> Option<String> {
        let v = v?;
        let s = self.dwarf.attr_string(self.unit, v).ok()?;
        Some(s.to_string_lossy().ok()?.into_owned())
    }

    fn type_ref(e: &gimli::DebuggingInformationEntry<R>) -> Option<UnitOffset<R::Offset>> {
        match e.attr_value(dw::DW_AT_type) {
            Some(AttributeValue::UnitRef(o)) => Some(o),
            _ => None,
        }
    }

    /// One pass over the unit's tree: the namespace/class scope of every variable
    /// entry nested in one, and which types belong to the C++ standard library.
    fn unit_scopes(&mut self) -> Result<(), gimli::Error> {
        // (depth of the scope's entry, its name or None for a function body).
        let mut stack: Vec<(isize, Option<String>)> = Vec::new();
        let mut cursor = self.unit.entries();
        while let Some(e) = cursor.next_dfs()? {
            let depth = e.depth();
            while stack.last().is_some_and(|(d, _)| *d >= depth) {
                stack.pop();
            }
            let tag = e.tag();
            if tag == dw::DW_TAG_variable
                && matches!(
                    e.attr_value(dw::DW_AT_location),
                    Some(AttributeValue::Exprloc(_))
                )
            {
                self.vars.push(e.offset());
            }
            match tag {
                // In namespaces and classes only: a variable inside a function is
                // a local, named as declared (as gdb does).
                dw::DW_TAG_variable
                    if !stack.is_empty() && stack.iter().all(|(_, n)| n.is_some()) =>
                {
                    let scope: String = stack
                        .iter()
                        .filter_map(|(_, n)| n.as_deref())
                        .map(|n| format!("{n}::"))
                        .collect();
                    self.scopes.insert(e.offset(), scope);
                }
                dw::DW_TAG_namespace => {
                    let n = self
                        .name(e.attr_value(dw::DW_AT_name))
                        .unwrap_or_else(|| "(anonymous namespace)".to_string());
                    stack.push((depth, Some(n)));
                }
                dw::DW_TAG_structure_type | dw::DW_TAG_class_type | dw::DW_TAG_union_type => {
                    if stack
                        .first()
                        .and_then(|(_, n)| n.as_deref())
                        .is_some_and(|n| LIBRARY_NAMESPACES.contains(&n))
                    {
                        self.std_types.insert(e.offset());
                    }
                    if e.has_children() {
                        let n = self
                            .name(e.attr_value(dw::DW_AT_name))
                            .unwrap_or_else(|| "(anonymous)".to_string());
                        stack.push((depth, Some(n)));
                    }
                }
                dw::DW_TAG_subprogram
                | dw::DW_TAG_lexical_block
                | dw::DW_TAG_inlined_subroutine
                    if e.has_children() =>
                {
                    stack.push((depth, None));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A variable's name as gdb prints it: the demangled linkage name of the entry
    /// or of its declaration (`_ZN2ns5g_objE` → `ns::g_obj`), else its scope and
    /// `DW_AT_name`.
    fn var_name(
        &self,
        e: &gimli::DebuggingInformationEntry<R>,
        decl: Option<&gimli::DebuggingInformationEntry<R>>,
    ) -> Option<String> {
        let linkage = |d: &gimli::DebuggingInformationEntry<R>| {
            self.name(d.attr_value(dw::DW_AT_linkage_name))
                .or_else(|| self.name(d.attr_value(dw::DW_AT_MIPS_linkage_name)))
        };
        if let Some(l) = linkage(e).or_else(|| decl.and_then(linkage))
            && let Some(d) = demangle_variable(&l)
        {
            return Some(d);
        }
        let src = decl.unwrap_or(e);
        let n = self.name(src.attr_value(dw::DW_AT_name))?;
        let scope = self
            .scopes
            .get(&src.offset())
            .map(String::as_str)
            .unwrap_or("");
        Some(format!("{scope}{n}"))
    }

    fn unit_vars(&mut self) -> Result<(), gimli::Error> {
        for o in std::mem::take(&mut self.vars) {
            let e = &self.unit.entry(o)?;
            let Some(addr) = self.location(e) else {
                continue;
            };
            // C++ statics: name and type live on the declaration.
            let (name, ty) = match e.attr_value(dw::DW_AT_specification) {
                Some(AttributeValue::UnitRef(o)) => match self.unit.entry(o) {
                    Ok(d) => (self.var_name(e, Some(&d)), Self::type_ref(&d)),
                    Err(_) => continue,
                },
                _ => (self.var_name(e, None), Self::type_ref(e)),
            };
            let (Some(name), Some(ty)) = (name, ty) else {
                continue;
            };
            self.variable(name, addr, ty);
            if self.found.truncated {
                break;
            }
        }
        Ok(())
    }

    /// A static location: `DW_OP_addr X` or `DW_OP_addrx i`, alone.
    fn location(&self, e: &gimli::DebuggingInformationEntry<R>) -> Option<u64> {
        let Some(AttributeValue::Exprloc(expr)) = e.attr_value(dw::DW_AT_location) else {
            return None;
        };
        let mut ops = expr.operations(self.unit.encoding());
        let first = ops.next().ok()??;
        if ops.next().ok()?.is_some() {
            return None;
        }
        match first {
            gimli::Operation::Address { address } => Some(address),
            gimli::Operation::AddressIndex { index } => self.dwarf.address(self.unit, index).ok(),
            _ => None,
        }
    }

    fn variable(&mut self, name: String, addr: u64, ty: UnitOffset<R::Offset>) {
        match self.step(ty) {
            Step::Pointer(Some(pointee)) => {
                if self.contains(pointee, 0) {
                    let mut inner = Vec::new();
                    self.walk(pointee, 0, format!("{name}->"), 0, &mut inner);
                    if !inner.is_empty() {
                        self.found.pointers.push(PointerVar {
                            name,
                            address: addr,
                            mutexes: inner,
                        });
                    }
                }
            }
            _ => {
                if self.contains(ty, 0) {
                    let mut out = Vec::new();
                    self.walk(ty, addr, name, 0, &mut out);
                    self.found.direct.extend(out);
                }
            }
        }
        let n = self.found.direct.len()
            + self
                .found
                .pointers
                .iter()
                .map(|p| p.mutexes.len())
                .sum::<usize>();
        if n >= MAX_RESULTS {
            self.found.truncated = true;
        }
    }

    /// What a type is, seen through typedefs and qualifiers (a typedef with a wanted
    /// name is a mutex).
    fn step(&self, mut ty: UnitOffset<R::Offset>) -> Step<R::Offset> {
        for _ in 0..32 {
            let Ok(e) = self.unit.entry(ty) else {
                return Step::Other;
            };
            let tag: DwTag = e.tag();
            if matches!(
                tag,
                dw::DW_TAG_typedef
                    | dw::DW_TAG_structure_type
                    | dw::DW_TAG_union_type
                    | dw::DW_TAG_class_type
            ) && let Some(n) = self.name(e.attr_value(dw::DW_AT_name))
                && self.names.iter().any(|w| *w == n)
            {
                return Step::Mutex;
            }
            match tag {
                dw::DW_TAG_typedef
                | dw::DW_TAG_const_type
                | dw::DW_TAG_volatile_type
                | dw::DW_TAG_atomic_type
                | dw::DW_TAG_restrict_type => match Self::type_ref(&e) {
                    Some(t) => ty = t,
                    None => return Step::Other,
                },
                dw::DW_TAG_structure_type | dw::DW_TAG_union_type | dw::DW_TAG_class_type => {
                    return Step::Struct(self.members(ty), self.std_types.contains(&ty));
                }
                dw::DW_TAG_array_type => {
                    let Some(elem) = Self::type_ref(&e) else {
                        return Step::Other;
                    };
                    return Step::Array(elem, self.array_count(ty));
                }
                dw::DW_TAG_pointer_type => return Step::Pointer(Self::type_ref(&e)),
                _ => return Step::Other,
            }
        }
        Step::Other
    }

    fn members(
        &self,
        ty: UnitOffset<R::Offset>,
    ) -> Vec<(Option<String>, u64, UnitOffset<R::Offset>)> {
        let mut out = Vec::new();
        let Ok(mut tree) = self.unit.entries_tree(Some(ty)) else {
            return out;
        };
        let Ok(root) = tree.root() else { return out };
        let mut children = root.children();
        while let Ok(Some(child)) = children.next() {
            let e = child.entry();
            if !matches!(e.tag(), dw::DW_TAG_member | dw::DW_TAG_inheritance) {
                continue;
            }
            // Static members have no data_member_location (they are variables).
            let off = match e.attr_value(dw::DW_AT_data_member_location) {
                Some(v) => v.udata_value().unwrap_or(0),
                None if e.tag() == dw::DW_TAG_member => {
                    if e.attr_value(dw::DW_AT_external).is_some()
                        || e.attr_value(dw::DW_AT_declaration).is_some()
                    {
                        continue;
                    }
                    0 // union members
                }
                None => 0,
            };
            let Some(t) = Self::type_ref(e) else { continue };
            let name = if e.tag() == dw::DW_TAG_inheritance {
                None
            } else {
                self.name(e.attr_value(dw::DW_AT_name))
            };
            out.push((name, off, t));
        }
        out
    }

    fn array_count(&self, ty: UnitOffset<R::Offset>) -> u64 {
        let Ok(mut tree) = self.unit.entries_tree(Some(ty)) else {
            return 0;
        };
        let Ok(root) = tree.root() else { return 0 };
        let mut children = root.children();
        let mut total: u64 = 1;
        let mut any = false;
        while let Ok(Some(child)) = children.next() {
            let e = child.entry();
            if e.tag() != dw::DW_TAG_subrange_type {
                continue;
            }
            any = true;
            let n = if let Some(c) = e.attr_value(dw::DW_AT_count).and_then(|v| v.udata_value()) {
                c
            } else if let Some(u) = e
                .attr_value(dw::DW_AT_upper_bound)
                .and_then(|v| v.udata_value())
            {
                u.saturating_add(1)
            } else {
                0
            };
            total = total.saturating_mul(n);
        }
        if any { total } else { 0 }
    }

    fn size(&self, mut ty: UnitOffset<R::Offset>) -> Option<u64> {
        for _ in 0..32 {
            let e = self.unit.entry(ty).ok()?;
            if let Some(s) = e
                .attr_value(dw::DW_AT_byte_size)
                .and_then(|v| v.udata_value())
            {
                return Some(s);
            }
            match e.tag() {
                dw::DW_TAG_array_type => {
                    let elem = Self::type_ref(&e)?;
                    return Some(self.size(elem)?.saturating_mul(self.array_count(ty)));
                }
                _ => ty = Self::type_ref(&e)?,
            }
        }
        None
    }

    /// Does this type hold a mutex by value?
    fn contains(&mut self, ty: UnitOffset<R::Offset>, depth: u32) -> bool {
        if let Some(&b) = self.memo.get(&ty) {
            return b;
        }
        if depth > MAX_DEPTH {
            return false;
        }
        self.memo.insert(ty, false);
        let r = match self.step(ty) {
            Step::Mutex => true,
            Step::Struct(ms, _) => ms.iter().any(|(_, _, t)| self.contains(*t, depth + 1)),
            Step::Array(elem, n) => n > 0 && self.contains(elem, depth + 1),
            Step::Pointer(_) | Step::Other => false,
        };
        self.memo.insert(ty, r);
        r
    }

    fn walk(
        &mut self,
        ty: UnitOffset<R::Offset>,
        addr: u64,
        path: String,
        depth: u32,
        out: &mut Vec<MutexVar>,
    ) {
        if depth > MAX_DEPTH || out.len() >= MAX_RESULTS || !self.contains(ty, 0) {
            return;
        }
        match self.step(ty) {
            Step::Mutex => out.push(MutexVar {
                name: path,
                address: addr,
            }),
            Step::Struct(ms, library) => {
                let first = out.len();
                for (name, off, t) in ms {
                    let p = match name {
                        Some(n) if path.ends_with("->") => format!("{path}{n}"),
                        Some(n) => format!("{path}.{n}"),
                        None => path.clone(),
                    };
                    self.walk(t, addr.wrapping_add(off), p, depth + 1, out);
                }
                // `std::mutex` and its kin: the object is the mutex (offset 0).
                if library && !path.ends_with("->") {
                    for v in out[first..].iter_mut().filter(|v| v.address == addr) {
                        v.name.clone_from(&path);
                    }
                }
            }
            Step::Array(elem, n) => {
                let Some(stride) = self.size(elem).filter(|s| *s > 0) else {
                    return;
                };
                for i in 0..n.min(MAX_ARRAY) {
                    self.walk(
                        elem,
                        addr.wrapping_add(i.saturating_mul(stride)),
                        format!("{path}[{i}]"),
                        depth + 1,
                        out,
                    );
                }
            }
            Step::Pointer(_) | Step::Other => {}
        }
    }
}

/// The demangled name of a C++ (or Rust) variable's linkage name, `None` when it is
/// not mangled. Variables carry no parameter list, so the demangled name is what
/// gdb prints (`ns::g_obj`, `(anonymous namespace)::lock`, `f()::m`).
fn demangle_variable(linkage: &str) -> Option<String> {
    if !linkage.starts_with("_Z") && !linkage.starts_with("_R") {
        return None;
    }
    let d = crate::symbols::demangle(linkage);
    (d != linkage).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::demangle_variable;

    #[test]
    fn variable_names_as_gdb_prints_them() {
        assert_eq!(
            demangle_variable("_ZN2ns5g_objE").as_deref(),
            Some("ns::g_obj")
        );
        assert_eq!(
            demangle_variable("_ZN12_GLOBAL__N_14lockE").as_deref(),
            Some("(anonymous namespace)::lock")
        );
        assert_eq!(
            demangle_variable("_ZZN2ns9lock_nameB5cxx11EvE4name").as_deref(),
            Some("ns::lock_name[abi:cxx11]()::name")
        );
        // C names are not mangled.
        assert_eq!(demangle_variable("config_lock"), None);
    }
}
