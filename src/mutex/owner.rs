//! Owner pointers: a lock that records its owner as a *thread pointer* (Solaris
//! `mutex_owner` = the owner's `ulwp_t *`; a declared layout with
//! `owner.kind = "pointer"`) is only meaningful in the process that locked it.
//!
//! The thread pointers of this process are the threads' `thread_pointer`s as the
//! core records them: `fs_base` on x86_64, `tpidr_el0` on aarch64, `%g7` on SPARC
//! and `REG_FSBASE` on Solaris amd64 (see [`crate::coredump::Thread`]). An owner
//! pointer is then:
//! - `none`: 0, nobody owns the lock;
//! - `own-thread`: equal to one of this process's thread pointers (which thread is
//!   given);
//! - `foreign-unmapped`: not mapped in this process at all: it can only be a thread
//!   pointer of another process;
//! - `foreign-mapped`: mapped here, but no thread of this process has it.
//!
//! Caveat: processes forked from one parent share address-space layouts, so a
//! foreign pointer can equal a local thread pointer (the main threads of a parent
//! and its child usually have the same one). `own-thread` is what the pointer says,
//! not proof of who locked.

use serde::Serialize;

use crate::coredump::{Arch, Os, Thread};
use crate::mappings::Mapping;
use crate::memory::AddressSpace;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OwnerClass {
    None,
    OwnThread,
    ForeignUnmapped,
    ForeignMapped,
}

impl OwnerClass {
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerClass::None => "none",
            OwnerClass::OwnThread => "own-thread",
            OwnerClass::ForeignUnmapped => "foreign-unmapped",
            OwnerClass::ForeignMapped => "foreign-mapped",
        }
    }

    /// Not a thread pointer of this process.
    pub fn is_foreign(self) -> bool {
        matches!(
            self,
            OwnerClass::ForeignUnmapped | OwnerClass::ForeignMapped
        )
    }
}

/// An owner pointer, classified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OwnerPointer {
    pub pointer: u64,
    pub class: OwnerClass,
    /// For `own-thread`: the thread whose thread pointer it is.
    pub tid: Option<u32>,
    /// For `foreign-mapped`: the mapping it points into.
    pub mapping: Option<String>,
    /// For `foreign-mapped`: the memory there points to itself the way a thread
    /// block does (`ul_self` of a Solaris `ulwp_t`, the TCB self pointer of glibc on
    /// x86_64): a thread block of this address space that no live thread holds
    /// (an exited thread's), or one that coincides with another process's.
    pub self_pointing: bool,
}

/// Where a thread block points to itself, per ABI: Solaris `ul_self` (0 on x86, 80
/// on SPARC); glibc x86_64 `tcbhead_t.tcb` (0) and `.self` (16).
pub fn self_pointer_offsets(os: Os, arch: Arch) -> &'static [u64] {
    match (os, arch) {
        (Os::Solaris, Arch::X86_64 | Arch::I386) => &[0],
        (Os::Solaris, Arch::Sparc64 | Arch::Sparc) => &[80],
        (_, Arch::X86_64) => &[0, 16],
        (_, Arch::I386) => &[0, 8],
        _ => &[],
    }
}

/// Classify `pointer` against this process's threads and mappings. `space` (with
/// the pointer size and self-pointer offsets) lets a `foreign-mapped` pointer be
/// checked for the shape of a thread block; pass `None` to skip that.
pub fn classify(
    threads: &[Thread],
    maps: &[Mapping],
    pointer: u64,
    space: Option<(&AddressSpace<'_>, usize, &[u64])>,
) -> OwnerPointer {
    let mut out = OwnerPointer {
        pointer,
        class: OwnerClass::None,
        tid: None,
        mapping: None,
        self_pointing: false,
    };
    if pointer == 0 {
        return out;
    }
    if let Some(t) = threads.iter().find(|t| t.thread_pointer == Some(pointer)) {
        out.class = OwnerClass::OwnThread;
        out.tid = Some(t.tid);
        return out;
    }
    match maps.iter().find(|m| m.contains(pointer)) {
        None => out.class = OwnerClass::ForeignUnmapped,
        Some(m) => {
            out.class = OwnerClass::ForeignMapped;
            out.mapping = Some(format!(
                "{:#x}-{:#x} {} ({})",
                m.start,
                m.end,
                m.perms,
                m.describe()
            ));
            if let Some((space, ptr_size, offsets)) = space {
                out.self_pointing = !offsets.is_empty()
                    && offsets.iter().all(|&o| {
                        pointer
                            .checked_add(o)
                            .and_then(|a| space.read_word(a, ptr_size).ok())
                            == Some(pointer)
                    });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coredump::Dumped;
    use crate::mappings::MappingKind;

    fn thread(tid: u32, tp: Option<u64>) -> Thread {
        Thread {
            tid,
            crashed: false,
            cursig: 0,
            signo: 0,
            code: 0,
            pc: None,
            sp: None,
            thread_pointer: tp,
            reg_names: &[],
            regs: Vec::new(),
            syscall: None,
            futex: None,
            syscall_note: None,
        }
    }

    fn mapping(start: u64, end: u64) -> Mapping {
        Mapping {
            start,
            end,
            perms: "rw-".into(),
            offset: 0,
            path: None,
            kind: MappingKind::Anon,
            shared: false,
            dumped: Dumped::Full,
            key: None,
            stack_of: Vec::new(),
            deleted: false,
            segment: None,
        }
    }

    #[test]
    fn four_classes() {
        let threads = [thread(1, Some(0x7000_1000)), thread(2, None)];
        let maps = [mapping(0x7000_0000, 0x7001_0000)];
        let c = |p| classify(&threads, &maps, p, None);
        assert_eq!(c(0).class, OwnerClass::None);
        let own = c(0x7000_1000);
        assert_eq!((own.class, own.tid), (OwnerClass::OwnThread, Some(1)));
        assert_eq!(c(0x7000_2000).class, OwnerClass::ForeignMapped);
        assert!(c(0x7000_2000).mapping.unwrap().contains("anon"));
        assert_eq!(c(0x9000_0000).class, OwnerClass::ForeignUnmapped);
        assert!(c(0x9000_0000).class.is_foreign());
        assert_eq!(OwnerClass::ForeignUnmapped.as_str(), "foreign-unmapped");
    }
}
