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

use serde::{Deserialize, Serialize};

use crate::coredump::{Arch, Os, Thread};
use crate::mappings::Mapping;
use crate::memory::AddressSpace;

/// What an owner pointer is in this process (`owner.pointer_class` in the JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PointerClass {
    None,
    OwnThread,
    ForeignUnmapped,
    ForeignMapped,
}

impl PointerClass {
    pub fn as_str(self) -> &'static str {
        match self {
            PointerClass::None => "none",
            PointerClass::OwnThread => "own-thread",
            PointerClass::ForeignUnmapped => "foreign-unmapped",
            PointerClass::ForeignMapped => "foreign-mapped",
        }
    }

    /// Not a thread pointer of this process.
    pub fn is_foreign(self) -> bool {
        matches!(
            self,
            PointerClass::ForeignUnmapped | PointerClass::ForeignMapped
        )
    }
}

impl std::fmt::Display for PointerClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// An owner pointer, classified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OwnerPointer {
    pub pointer: u64,
    pub class: PointerClass,
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

/// What a thread block of this ABI looks like, to recognise one in memory.
#[derive(Clone, Copy, Debug)]
pub struct BlockShape {
    pub pointer_size: usize,
    /// Offsets of words that hold the block's own address: Solaris `ul_self` (0 on
    /// x86, 80 on SPARC); glibc x86_64 `tcbhead_t.tcb` (0) and `.self` (16).
    pub self_offsets: &'static [u64],
    /// Offset of the LWP id in the block (Solaris `ul_lwpid`), if known.
    pub lwpid_offset: Option<u64>,
}

impl BlockShape {
    pub fn for_core(os: Os, arch: Arch) -> BlockShape {
        let solaris = crate::mutex::solaris::Isa::for_arch(arch).filter(|_| os == Os::Solaris);
        BlockShape {
            pointer_size: arch.pointer_size(),
            self_offsets: match (os, arch) {
                (Os::Solaris, Arch::X86_64 | Arch::I386) => &[0],
                (Os::Solaris, Arch::Sparc64 | Arch::Sparc) => &[80],
                (_, Arch::X86_64) => &[0, 16],
                (_, Arch::I386) => &[0, 8],
                _ => &[],
            },
            lwpid_offset: solaris.map(|i| i.lwpid_offset()),
        }
    }
}

/// Classify `pointer` against this process's threads and mappings. With the
/// address space and the ABI's [`BlockShape`], a pointer that is no thread's
/// thread pointer is checked for the shape of a thread block; and where the core
/// records no thread pointer for a thread (Solaris i386 keeps it in the `%gs` base,
/// which is not in the core), a self-pointing block whose `ul_lwpid` is that
/// thread's id is taken as its thread block (`own-thread`).
pub fn classify(
    threads: &[Thread],
    maps: &[Mapping],
    pointer: u64,
    space: Option<(&AddressSpace<'_>, BlockShape)>,
) -> OwnerPointer {
    let mut out = OwnerPointer {
        pointer,
        class: PointerClass::None,
        tid: None,
        mapping: None,
        self_pointing: false,
    };
    if pointer == 0 {
        return out;
    }
    if let Some(t) = threads.iter().find(|t| t.thread_pointer == Some(pointer)) {
        out.class = PointerClass::OwnThread;
        out.tid = Some(t.tid);
        return out;
    }
    match maps.iter().find(|m| m.contains(pointer)) {
        None => out.class = PointerClass::ForeignUnmapped,
        Some(m) => {
            out.class = PointerClass::ForeignMapped;
            out.mapping = Some(format!(
                "{:#x}-{:#x} {} ({})",
                m.start,
                m.end,
                m.perms,
                m.describe()
            ));
            if let Some((space, shape)) = space {
                out.self_pointing = !shape.self_offsets.is_empty()
                    && shape.self_offsets.iter().all(|&o| {
                        pointer
                            .checked_add(o)
                            .and_then(|a| space.read_word(a, shape.pointer_size).ok())
                            == Some(pointer)
                    });
                let lwpid = shape
                    .lwpid_offset
                    .and_then(|o| pointer.checked_add(o))
                    .and_then(|a| space.read_u32(a).ok());
                if out.self_pointing
                    && let Some(t) = threads.iter().find(|t| {
                        Some(t.tid) == lwpid && t.thread_pointer.is_none() && !t.regs.is_empty()
                    })
                {
                    out.class = PointerClass::OwnThread;
                    out.tid = Some(t.tid);
                    out.mapping = None;
                }
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
            thread_pointer: tp,
            ..Thread::new(tid)
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
            from_maps: None,
        }
    }

    #[test]
    fn four_classes() {
        let threads = [thread(1, Some(0x7000_1000)), thread(2, None)];
        let maps = [mapping(0x7000_0000, 0x7001_0000)];
        let c = |p| classify(&threads, &maps, p, None);
        assert_eq!(c(0).class, PointerClass::None);
        let own = c(0x7000_1000);
        assert_eq!((own.class, own.tid), (PointerClass::OwnThread, Some(1)));
        assert_eq!(c(0x7000_2000).class, PointerClass::ForeignMapped);
        assert!(c(0x7000_2000).mapping.unwrap().contains("anon"));
        assert_eq!(c(0x9000_0000).class, PointerClass::ForeignUnmapped);
        assert!(c(0x9000_0000).class.is_foreign());
        assert_eq!(PointerClass::ForeignUnmapped.as_str(), "foreign-unmapped");
    }
}
