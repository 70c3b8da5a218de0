//! aarch64 kernel cores keep no `orig_x0`: a thread interrupted in futex() shows the
//! kernel's return value in x0 (-EINTR, -ERESTARTSYS, ...). No real aarch64 kernel
//! core can be made on this x86_64 machine (qemu-user keeps the guest's x0 intact
//! while the host call blocks), so this test takes the real qemu-user core of
//! `qemu-user/static-glibc-aarch64`, overwrites the waiter's x0 in its NT_PRSTATUS
//! with each errno value, and requires that no mutex and no futex wait is reported at
//! that address, and that the thread says the address is unknown.

use mutexdiag::analysis::{Options, analyze};

mod support;

use support::root;

/// Offset of `pr_reg[0]` (x0) in each NT_PRSTATUS of an ELF64 little-endian core,
/// with its `pr_pid`.
fn prstatus_x0(data: &[u8]) -> Vec<(u32, usize)> {
    let u16le = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]) as usize;
    let u32le = |o: usize| u32::from_le_bytes(data[o..o + 4].try_into().expect("4 bytes"));
    let u64le = |o: usize| u64::from_le_bytes(data[o..o + 8].try_into().expect("8 bytes")) as usize;
    let (phoff, phentsize, phnum) = (u64le(32), u16le(54), u16le(56));
    let mut out = Vec::new();
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32le(ph) != 4 {
            continue;
        }
        let (off, size) = (u64le(ph + 8), u64le(ph + 32));
        let mut at = off;
        while at + 12 <= off + size {
            let (namesz, descsz, ty) = (u32le(at) as usize, u32le(at + 4) as usize, u32le(at + 8));
            let desc = at + 12 + namesz.next_multiple_of(4);
            if ty == 1 {
                // elf_prstatus: pr_pid at 32, pr_reg at 112 on 64-bit Linux.
                out.push((u32le(desc + 32), desc + 112));
            }
            at = desc + descsz.next_multiple_of(4);
        }
    }
    out
}

#[test]
fn errno_in_x0_is_never_a_mutex() {
    let dir = root().join("fixtures/qemu-user/static-glibc-aarch64");
    let facts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("facts.main.json")).expect("facts"))
            .expect("json");
    let waiter = facts["waiters"][0]["tid"].as_u64().expect("waiter") as u32;
    let raw = support::decompress(&dir.join("core.main.zst"));
    let x0 = prstatus_x0(&raw)
        .into_iter()
        .find(|(tid, _)| *tid == waiter)
        .map(|(_, o)| o)
        .expect("the waiter's NT_PRSTATUS");
    let tmp = tempfile::tempdir().expect("tempdir");
    for errno in [4i64, 512, 110, 11] {
        let mut data = raw.clone();
        data[x0..x0 + 8].copy_from_slice(&(-errno).to_le_bytes());
        let p = tmp.path().join("core");
        std::fs::write(&p, &data).expect("write");
        let opts = Options {
            binary: Some(dir.join("app")),
            ..Options::default()
        };
        let r = analyze(&p, &opts).expect("analysis");
        let bad = (-errno) as u64;
        assert!(
            r.mutexes
                .iter()
                .all(|m| m.address.0 != bad && m.address.0 != bad.wrapping_sub(4)),
            "-{errno}: a mutex at the errno value"
        );
        let t = r.threads.iter().find(|t| t.tid == waiter).expect("waiter");
        let v = serde_json::to_value(t).expect("json");
        assert!(v["futex"].is_null(), "-{errno}: {}", v["futex"]);
        assert!(
            v["note"]
                .as_str()
                .is_some_and(|n| n.contains("address is unknown")),
            "-{errno}: {}",
            v["note"]
        );
    }
}
