//! DWARF discovery of mutex variables, checked against the fixture programs' own
//! facts (names and relative addresses written at run time).

use std::borrow::Cow;

use mutexdiag::internals::mutex::dwarf;
use object::{Object, ObjectSection};

mod support;

use support::fixture;

fn find(bin: &str) -> dwarf::Found {
    let data = std::fs::read(fixture(bin)).expect("fixture binary");
    let obj = object::File::parse(&*data).expect("ELF");
    let endian = if obj.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<Cow<'_, [u8]>, gimli::Error> {
        Ok(obj
            .section_by_name(id.name())
            .and_then(|s| s.uncompressed_data().ok())
            .unwrap_or(Cow::Borrowed(&[])))
    };
    let owned = gimli::DwarfSections::load(load).expect("sections");
    let d = owned.borrow(|s| gimli::EndianSlice::new(s, endian));
    dwarf::find(&d, &["pthread_mutex_t"]).expect("dwarf")
}

fn facts(scenario: &str, role: &str) -> serde_json::Value {
    let p = fixture(&format!("{scenario}/facts.{role}.json"));
    serde_json::from_slice(&std::fs::read(p).expect("facts")).expect("json")
}

fn hex(v: &serde_json::Value) -> u64 {
    u64::from_str_radix(v.as_str().expect("hex").trim_start_matches("0x"), 16).expect("hex")
}

#[test]
fn globals_match_facts_in_kinds() {
    let found = find("kinds/app");
    let f = facts("kinds", "main");
    let mutexes = f["mutexes"].as_array().expect("mutexes");
    assert!(mutexes.len() >= 10);
    // Every facts mutex is found by name, and the distances between them agree.
    let first = &mutexes[0];
    let base_fact = hex(&first["address"]);
    let base_dwarf = found
        .direct
        .iter()
        .find(|v| v.name == first["name"].as_str().unwrap())
        .map(|v| v.address)
        .expect("first mutex by name");
    for m in mutexes {
        let name = m["name"].as_str().unwrap();
        let v = found
            .direct
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("{name} not found by DWARF: {:?}", found.direct));
        assert_eq!(
            v.address.wrapping_sub(base_dwarf),
            hex(&m["address"]).wrapping_sub(base_fact),
            "{name}"
        );
    }
}

#[test]
fn pointer_to_shared_region() {
    // sysv-private: `struct region *region` points into the SysV segment.
    let found = find("sysv-private/app");
    let p = found
        .pointers
        .iter()
        .flat_map(|p| p.mutexes.iter())
        .find(|m| m.name == "region->mu")
        .unwrap_or_else(|| panic!("region->mu not found: {:?}", found.pointers));
    assert_eq!(p.address, 0, "mu is the first member");
}
