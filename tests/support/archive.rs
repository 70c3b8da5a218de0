//! A crash archive built at test time from the fixture cores, in every shape
//! `mutexdiag triage` reads: systemd-coredump files (names and `user.coredump.*`
//! xattrs), an apport report whose `CoreDump` is written the way apport's
//! `problem_report.py` writes it, an ABRT problem directory, tar bundles (plain,
//! gzip, zstd, xz) with the executable inside, compressed cores, junk, a truncated
//! core and broken archives. [`build`] returns the archive and what each input is.
//!
//! Ids in [`Expected`] are relative to [`Built::root`]; give `root` to the scan and
//! strip `ROOT/` from the ids found (see [`Built::rel`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use mutexdiag::triage::sources::{Meta, SourceKind};

/// A boot id for the systemd names.
pub const BOOT: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// What one input must be found as.
#[derive(Clone, Debug)]
pub struct Expected {
    pub id: String,
    pub source: SourceKind,
    pub want: Want,
    pub meta: Meta,
    /// `(scenario, role)` of the fixture core this input holds.
    pub fixture: Option<(String, String)>,
    /// The group (relative to the root, or the archive id for members).
    pub group: String,
    /// For a core that cannot be expanded (`materialize` fails): a phrase of the error.
    pub expand_error: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Want {
    Core,
    Elf {
        build_id: String,
    },
    Skip(String),
    /// The reason starts with the input's full id and contains this.
    Fail(String),
}

pub struct Built {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub expected: Vec<Expected>,
    /// Whether user xattrs could be set on the temporary file system.
    pub xattrs: bool,
}

impl Built {
    /// An id found by a scan of `root`, relative to the root.
    pub fn rel(&self, id: &str) -> String {
        let r = format!("{}/", self.root.display());
        id.strip_prefix(&r).unwrap_or(id).to_owned()
    }
}

pub fn manifest() -> PathBuf {
    super::root()
}

/// The expanded bytes of `fixtures/SCENARIO/core.ROLE.zst`.
pub fn fixture_core(scenario: &str, role: &str) -> Vec<u8> {
    super::decompress(&super::fixture(&format!("{scenario}/core.{role}.zst")))
}

pub fn fixture_file(scenario: &str, name: &str) -> Vec<u8> {
    let p = super::fixture(&format!("{scenario}/{name}"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// GNU build-id of an ELF file, read by the `object` crate (not by the code under test).
pub fn build_id_of(elf: &[u8]) -> String {
    use object::Object;
    let f = object::File::parse(elf).expect("ELF");
    let id = f.build_id().expect("notes").expect("a build-id");
    id.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn zstd(b: &[u8]) -> Vec<u8> {
    zstd::encode_all(b, 3).unwrap()
}
pub fn xz(b: &[u8]) -> Vec<u8> {
    let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
    e.write_all(b).unwrap();
    e.finish().unwrap()
}
pub fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}
pub fn lz4(b: &[u8]) -> Vec<u8> {
    let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// Deterministic pseudo-random bytes.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// An apport report as `ProblemReport.write` writes it: text keys sorted with
/// `ProblemType` first (multi-line values as continuation lines), then binary keys:
/// `Key: base64`, a line with the base64 of a gzip header naming the key, one line per
/// compressed block (the core is fed to a raw deflate stream 1 MiB at a time), and a
/// last line with the final block and the gzip trailer (CRC-32, size).
pub fn apport_report(text: &[(&str, &str)], core: Option<&[u8]>) -> Vec<u8> {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut keys: Vec<&(&str, &str)> = text.iter().collect();
    keys.sort_by_key(|(k, _)| (*k != "ProblemType", *k));
    let mut out = Vec::new();
    for (k, v) in keys {
        out.extend_from_slice(k.as_bytes());
        if v.contains('\n') {
            out.extend_from_slice(b":\n ");
            out.extend_from_slice(v.replace('\n', "\n ").as_bytes());
        } else {
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
        }
        out.push(b'\n');
    }
    if let Some(core) = core {
        out.extend_from_slice(b"CoreDump: base64\n ");
        let mut hdr = b"\x1f\x8b\x08\x08\x00\x00\x00\x00\x02\xff".to_vec();
        hdr.extend_from_slice(b"CoreDump\0");
        out.extend_from_slice(b64(&hdr).as_bytes());
        out.extend_from_slice(b"\n ");
        let mut crc = flate2::Crc::new();
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
        for block in core.chunks(1 << 20) {
            crc.update(block);
            enc.write_all(block).unwrap();
            let got = std::mem::take(enc.get_mut());
            if !got.is_empty() {
                out.extend_from_slice(b64(&got).as_bytes());
                out.extend_from_slice(b"\n ");
            }
        }
        let mut last = enc.finish().unwrap();
        last.extend_from_slice(&crc.sum().to_le_bytes());
        last.extend_from_slice(&(core.len() as u32).to_le_bytes());
        out.extend_from_slice(b64(&last).as_bytes());
        out.push(b'\n');
    }
    out
}

/// One PAX extended-header record.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut n = body.len() + 1;
    while format!("{n}{body}").len() != n {
        n += 1;
    }
    format!("{n}{body}").into_bytes()
}

/// A member of a tar built by [`tar_bytes`].
pub enum Member<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    /// A file with `SCHILY.xattr.*` PAX records (as `tar --xattrs` writes them).
    FileXattrs(&'a str, &'a [u8], &'a [(&'a str, &'a str)]),
}

pub fn tar_bytes(members: &[Member]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for m in members {
        match m {
            Member::Dir(p) => {
                let mut h = tar::Header::new_ustar();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                h.set_mtime(1_764_606_600);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            Member::File(p, data) => {
                let mut h = tar::Header::new_ustar();
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                h.set_mtime(1_764_606_600);
                b.append_data(&mut h, p, *data).unwrap();
            }
            Member::FileXattrs(p, data, attrs) => {
                let recs: Vec<u8> = attrs
                    .iter()
                    .flat_map(|(k, v)| pax_record(&format!("SCHILY.xattr.{k}"), v))
                    .collect();
                let mut x = tar::Header::new_ustar();
                x.set_entry_type(tar::EntryType::XHeader);
                x.set_size(recs.len() as u64);
                x.set_mode(0o644);
                b.append_data(&mut x, "PaxHeaders/x", &recs[..]).unwrap();
                let mut h = tar::Header::new_ustar();
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                h.set_mtime(1_764_606_600);
                b.append_data(&mut h, p, *data).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn write(root: &Path, rel: &str, data: &[u8]) -> PathBuf {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, data).unwrap();
    p
}

fn ts(secs: i64) -> Option<String> {
    Some(jiff::Timestamp::from_second(secs).unwrap().to_string())
}

/// Build the archive in a new temporary directory.
pub fn build() -> Built {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    std::fs::create_dir_all(&root).unwrap();
    let mut ex: Vec<Expected> = Vec::new();
    let fx = |s: &str, r: &str| Some((s.to_owned(), r.to_owned()));
    let mut push = |id: &str, source, want, meta, fixture, group: &str| {
        ex.push(Expected {
            id: id.to_owned(),
            source,
            want,
            meta,
            fixture,
            group: group.to_owned(),
            expand_error: None,
        })
    };

    let sysv_parent = fixture_core("sysv-private", "parent");
    let sysv_child = fixture_core("sysv-private", "child");
    let sysv_app = fixture_file("sysv-private", "app");
    let sysv_bid = build_id_of(&sysv_app);
    let segv = fixture_core("segv", "main");
    let abandoned = fixture_core("abandoned", "main");
    let abandoned_app = fixture_file("abandoned", "app");
    let self_dl = fixture_core("self-deadlock", "main");
    let posix = fixture_core("posix-private", "parent");
    let posix_app = fixture_file("posix-private", "app");
    let assert_child = fixture_core("assert", "child");
    let assert_parent = fixture_core("assert", "parent");
    let pshared = fixture_core("pshared-ok", "parent");
    let memfd = fixture_core("memfd-private", "parent");
    let anon = fixture_core("anon-private", "parent");

    // --- systemd-coredump -------------------------------------------------------
    let name1 = format!("core.app.1000.{BOOT}.17278.1764606633000000.zst");
    let p1 = write(
        &root,
        &format!("systemd/{name1}"),
        &fixture_file("sysv-private", "core.parent.zst"),
    );
    let attrs: [(&str, &str); 9] = [
        ("user.coredump.pid", "17278"),
        ("user.coredump.uid", "1000"),
        ("user.coredump.gid", "1001"),
        ("user.coredump.signal", "6"),
        ("user.coredump.timestamp", "1764606633123456"),
        ("user.coredump.rlimit", "18446744073709551615"),
        ("user.coredump.hostname", "web-7"),
        ("user.coredump.comm", "app"),
        ("user.coredump.exe", "/opt/demo/app"),
    ];
    let mut xattrs = true;
    for (k, v) in attrs {
        if let Err(e) = xattr::set(&p1, k, v.as_bytes()) {
            eprintln!(
                "SKIP xattrs: user extended attributes are not supported in {} ({e}); \
                 the systemd-coredump attribute checks are skipped",
                root.display()
            );
            xattrs = false;
            break;
        }
    }
    let meta1 = if xattrs {
        Meta {
            pid: Some(17278),
            uid: Some(1000),
            gid: Some(1001),
            signal: Some(6),
            timestamp: ts(1_764_606_633),
            hostname: Some("web-7".into()),
            comm: Some("app".into()),
            exe: Some("/opt/demo/app".into()),
            boot_id: Some(BOOT.into()),
            ..Meta::default()
        }
    } else {
        Meta {
            pid: Some(17278),
            uid: Some(1000),
            timestamp: ts(1_764_606_633),
            comm: Some("app".into()),
            boot_id: Some(BOOT.into()),
            ..Meta::default()
        }
    };
    push(
        &format!("systemd/{name1}"),
        SourceKind::SystemdCoredump,
        Want::Core,
        meta1,
        fx("sysv-private", "parent"),
        "systemd",
    );
    let name2 = format!("core.my\\x2eapp\\x20x.0.{BOOT}.4242.1764606634000000.xz");
    write(&root, &format!("systemd/{name2}"), &xz(&segv));
    push(
        &format!("systemd/{name2}"),
        SourceKind::SystemdCoredump,
        Want::Core,
        Meta {
            pid: Some(4242),
            uid: Some(0),
            comm: Some("my.app x".into()),
            boot_id: Some(BOOT.into()),
            timestamp: ts(1_764_606_634),
            ..Meta::default()
        },
        fx("segv", "main"),
        "systemd",
    );
    let name3 = format!("core.app.1000.{BOOT}.17280.1764606635000000.lz4");
    write(&root, &format!("systemd/{name3}"), &lz4(&sysv_child));
    push(
        &format!("systemd/{name3}"),
        SourceKind::SystemdCoredump,
        Want::Core,
        Meta {
            pid: Some(17280),
            uid: Some(1000),
            comm: Some("app".into()),
            boot_id: Some(BOOT.into()),
            timestamp: ts(1_764_606_635),
            ..Meta::default()
        },
        fx("sysv-private", "child"),
        "systemd",
    );

    // --- apport -----------------------------------------------------------------
    let maps = String::from_utf8(fixture_file("abandoned", "maps.main.txt")).unwrap();
    let maps = maps.trim_end().to_owned();
    let status = "Name:\tapp\nUmask:\t0022\nState:\tS (sleeping)\nPid:\t5150\nPPid:\t1\nUid:\t1000\t1000\t1000\t1000\nGid:\t1002\t1002\t1002\t1002";
    let date = "Mon Dec  1 16:30:36 2025";
    let report = apport_report(
        &[
            ("ProblemType", "Crash"),
            ("Date", date),
            ("ExecutablePath", "/opt/demo/app"),
            ("ProcCmdline", "/opt/demo/app --serve"),
            ("ProcMaps", &maps),
            ("ProcStatus", status),
            ("Signal", "6"),
            ("Uname", "Linux 6.1.0 x86_64"),
        ],
        Some(&abandoned),
    );
    write(&root, "crash/_opt_demo_app.1000.crash", &report);
    let local =
        jiff::civil::DateTime::strptime("%a %b %d %H:%M:%S %Y", "Mon Dec 1 16:30:36 2025").unwrap();
    let when = jiff::tz::TimeZone::system()
        .to_timestamp(local)
        .unwrap()
        .to_string();
    let apport_when = Some(when.clone());
    push(
        "crash/_opt_demo_app.1000.crash",
        SourceKind::Apport,
        Want::Core,
        Meta {
            pid: Some(5150),
            uid: Some(1000),
            gid: Some(1002),
            signal: Some(6),
            timestamp: Some(when),
            comm: Some("app".into()),
            exe: Some("/opt/demo/app".into()),
            cmdline: Some("/opt/demo/app --serve".into()),
            proc_maps: Some(maps.clone()),
            ..Meta::default()
        },
        fx("abandoned", "main"),
        "crash",
    );
    let py = apport_report(
        &[
            ("ProblemType", "Crash"),
            ("Date", date),
            ("ExecutablePath", "/usr/bin/tool.py"),
            (
                "Traceback",
                "Traceback (most recent call last):\n  File \"x\"\nKeyError",
            ),
        ],
        None,
    );
    write(&root, "crash/_usr_bin_tool.py.1000.crash", &py);
    push(
        "crash/_usr_bin_tool.py.1000.crash",
        SourceKind::Core,
        Want::Skip("apport report without a CoreDump".into()),
        Meta::default(),
        None,
        "crash",
    );

    // --- ABRT -------------------------------------------------------------------
    let ad = "abrt/ccpp-2025-12-01-16:30:37-5151";
    write(&root, &format!("{ad}/coredump"), &self_dl);
    write(&root, &format!("{ad}/executable"), b"/opt/demo/app");
    write(&root, &format!("{ad}/pid"), b"5151");
    write(&root, &format!("{ad}/uid"), b"1000");
    write(&root, &format!("{ad}/time"), b"1764606637");
    write(&root, &format!("{ad}/cmdline"), b"/opt/demo/app --once");
    write(&root, &format!("{ad}/hostname"), b"db-2");
    write(&root, &format!("{ad}/type"), b"CCpp");
    write(&root, &format!("{ad}/analyzer"), b"CCpp");
    write(&root, &format!("{ad}/reason"), b"app killed by SIGABRT");
    write(
        &root,
        &format!("{ad}/proc_pid_status"),
        b"Name:\tapp\nPid:\t5151\nGid:\t1003\t1003\t1003\t1003\n",
    );
    let self_maps = String::from_utf8(fixture_file("self-deadlock", "maps.main.txt")).unwrap();
    write(&root, &format!("{ad}/maps"), self_maps.as_bytes());
    push(
        ad,
        SourceKind::Abrt,
        Want::Core,
        Meta {
            pid: Some(5151),
            uid: Some(1000),
            gid: Some(1003),
            timestamp: ts(1_764_606_637),
            hostname: Some("db-2".into()),
            comm: Some("app".into()),
            exe: Some("/opt/demo/app".into()),
            cmdline: Some("/opt/demo/app --once".into()),
            proc_maps: Some(self_maps.clone()),
            ..Meta::default()
        },
        fx("self-deadlock", "main"),
        "abrt",
    );

    // --- tar bundles ------------------------------------------------------------
    let readme = b"Incident 42: web-7 hung at 16:30.\n";
    let inc = tar_bytes(&[
        Member::Dir("incident-42"),
        Member::File("incident-42/README", readme),
        Member::File("incident-42/core.parent", &sysv_parent),
        Member::File("incident-42/core.child.gz", &gzip(&sysv_child)),
        Member::File("incident-42/app", &sysv_app),
    ]);
    let tz = "bundles/incident-42.tar.zst";
    write(&root, tz, &zstd(&inc));
    let none = Meta::default;
    push(
        &format!("{tz}!incident-42/README"),
        SourceKind::Core,
        Want::Skip("text file (not a core)".into()),
        none(),
        None,
        tz,
    );
    push(
        &format!("{tz}!incident-42/core.parent"),
        SourceKind::Core,
        Want::Core,
        none(),
        fx("sysv-private", "parent"),
        tz,
    );
    push(
        &format!("{tz}!incident-42/core.child.gz"),
        SourceKind::Core,
        Want::Core,
        none(),
        fx("sysv-private", "child"),
        tz,
    );
    push(
        &format!("{tz}!incident-42/app"),
        SourceKind::Core,
        Want::Elf {
            build_id: sysv_bid.clone(),
        },
        none(),
        None,
        tz,
    );
    // The same bundle shape, in the other containers, with the executable first and a
    // systemd-coredump member carrying its attributes in PAX records.
    let sd_member = format!("b/core.app.0.{BOOT}.99.1764606640000000");
    let b_plain = tar_bytes(&[
        Member::Dir("b"),
        Member::File("b/app", &posix_app),
        Member::File("b/core", &posix),
        Member::FileXattrs(
            &sd_member,
            &zstd(&assert_child),
            &[
                ("user.coredump.signal", "11"),
                ("user.coredump.exe", "/opt/demo/segv"),
            ],
        ),
    ]);
    let posix_bid = build_id_of(&posix_app);
    for (name, bytes) in [
        ("bundles/b.tar", b_plain.clone()),
        ("bundles/b.tar.gz", gzip(&b_plain)),
        ("bundles/b.tar.xz", xz(&b_plain)),
    ] {
        write(&root, name, &bytes);
        push(
            &format!("{name}!b/app"),
            SourceKind::Core,
            Want::Elf {
                build_id: posix_bid.clone(),
            },
            none(),
            None,
            name,
        );
        push(
            &format!("{name}!b/core"),
            SourceKind::Core,
            Want::Core,
            none(),
            fx("posix-private", "parent"),
            name,
        );
        push(
            &format!("{name}!{sd_member}"),
            SourceKind::SystemdCoredump,
            Want::Core,
            Meta {
                pid: Some(99),
                uid: Some(0),
                signal: Some(11),
                timestamp: ts(1_764_606_640),
                comm: Some("app".into()),
                exe: Some("/opt/demo/segv".into()),
                boot_id: Some(BOOT.into()),
                ..Meta::default()
            },
            fx("assert", "child"),
            name,
        );
    }
    // An ABRT problem directory inside a tar.
    let at = "bundles/abrt-spool.tar";
    write(
        &root,
        at,
        &tar_bytes(&[
            Member::Dir("ccpp-1"),
            Member::File("ccpp-1/analyzer", b"CCpp"),
            Member::File("ccpp-1/coredump", &pshared),
            Member::File("ccpp-1/executable", b"/opt/demo/segv"),
            Member::File("ccpp-1/pid", b"31337"),
            Member::File("ccpp-1/time", b"1764606650"),
            Member::File("notes.txt", b"spool copied from db-3\n"),
        ]),
    );
    push(
        &format!("{at}!ccpp-1"),
        SourceKind::Abrt,
        Want::Core,
        Meta {
            pid: Some(31337),
            timestamp: ts(1_764_606_650),
            exe: Some("/opt/demo/segv".into()),
            ..Meta::default()
        },
        fx("pshared-ok", "parent"),
        at,
    );
    push(
        &format!("{at}!notes.txt"),
        SourceKind::Core,
        Want::Skip("text file (not a core)".into()),
        none(),
        None,
        at,
    );

    // A tar cut in the middle of its third member, then gzip-compressed (a valid gzip
    // stream of a truncated tar): the first members are found, the third is found
    // (its header is whole) and the archive is one failure.
    let full = tar_bytes(&[
        Member::File("t/core", &posix),
        Member::File("t/notes.txt", b"two cores\n"),
        Member::File("t/core2", &assert_parent),
    ]);
    let off = 512 + posix.len().div_ceil(512) * 512 + 1024;
    let cut = &full[..off + 512 + 64 * 1024];
    write(&root, "bundles/cut.tar.gz", &gzip(cut));
    let cg = "bundles/cut.tar.gz";
    push(
        &format!("{cg}!t/core"),
        SourceKind::Core,
        Want::Core,
        none(),
        fx("posix-private", "parent"),
        cg,
    );
    push(
        &format!("{cg}!t/notes.txt"),
        SourceKind::Core,
        Want::Skip("text file (not a core)".into()),
        none(),
        None,
        cg,
    );
    push(
        &format!("{cg}!t/core2"),
        SourceKind::Core,
        Want::Core,
        none(),
        fx("assert", "parent"),
        cg,
    );
    push(
        cg,
        SourceKind::Core,
        Want::Fail("gzip-compressed tar archive is corrupt or truncated after 3 members".into()),
        none(),
        None,
        "bundles",
    );
    // A plain tar whose second header is corrupt.
    let mut bad = tar_bytes(&[
        Member::File("x/core", &posix),
        Member::File("x/other", b"hello\n"),
    ]);
    let second = 512 + posix.len().div_ceil(512) * 512;
    bad[second + 148] ^= 0x07;
    write(&root, "bundles/corrupt.tar", &bad);
    push(
        "bundles/corrupt.tar!x/core",
        SourceKind::Core,
        Want::Core,
        none(),
        fx("posix-private", "parent"),
        "bundles/corrupt.tar",
    );
    push(
        "bundles/corrupt.tar",
        SourceKind::Core,
        Want::Fail("tar archive is corrupt or truncated after 1 members".into()),
        none(),
        None,
        "bundles",
    );

    // --- plain and compressed cores ---------------------------------------------
    write(&root, "cores/posix.core", &posix);
    push(
        "cores/posix.core",
        SourceKind::Core,
        Want::Core,
        none(),
        fx("posix-private", "parent"),
        "cores",
    );
    write(&root, "cores/memfd.gz", &gzip(&memfd));
    push(
        "cores/memfd.gz",
        SourceKind::Core,
        Want::Core,
        none(),
        fx("memfd-private", "parent"),
        "cores",
    );
    write(&root, "cores/anon.zst", &zstd(&anon));
    push(
        "cores/anon.zst",
        SourceKind::Core,
        Want::Core,
        none(),
        fx("anon-private", "parent"),
        "cores",
    );

    // --- junk ---------------------------------------------------------------------
    let abandoned_bid = build_id_of(&abandoned_app);
    write(&root, "junk/app", &abandoned_app);
    push(
        "junk/app",
        SourceKind::Core,
        Want::Elf {
            build_id: abandoned_bid,
        },
        none(),
        None,
        "junk",
    );
    write(&root, "junk/empty", b"");
    push(
        "junk/empty",
        SourceKind::Core,
        Want::Skip("empty file".into()),
        none(),
        None,
        "junk",
    );
    write(
        &root,
        "junk/notes.txt",
        b"restart web-7 after the incident\n",
    );
    push(
        "junk/notes.txt",
        SourceKind::Core,
        Want::Skip("text file (not a core)".into()),
        none(),
        None,
        "junk",
    );
    write(&root, "junk/random.bin", &noise(10_000, 42));
    push(
        "junk/random.bin",
        SourceKind::Core,
        Want::Skip(
            "unrecognised data (10000 bytes; not an ELF core, compressed core, apport report or tar archive)"
                .into(),
        ),
        none(),
        None,
        "junk",
    );
    write(&root, "junk/short-elf", &abandoned[..10]);
    push(
        "junk/short-elf",
        SourceKind::Core,
        Want::Skip("ELF header cut short (10 bytes)".into()),
        none(),
        None,
        "junk",
    );
    write(&root, "junk/text.gz", &gzip(b"just a log line\n"));
    push(
        "junk/text.gz",
        SourceKind::Core,
        Want::Skip("gzip-compressed text file (not a core)".into()),
        none(),
        None,
        "junk",
    );
    // A core cut after 64 KiB: still a core by its header (the analysis reports what
    // is missing).
    write(&root, "junk/truncated.core", &abandoned[..64 << 10]);
    push(
        "junk/truncated.core",
        SourceKind::Core,
        Want::Core,
        none(),
        fx("abandoned", "main"),
        "junk",
    );
    // A FIFO (must not block) and a symbolic link loop (must not be followed).
    let fifo = root.join("junk/fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    push(
        "junk/fifo",
        SourceKind::Core,
        Want::Skip("not a regular file (FIFO, socket or device)".into()),
        none(),
        None,
        "junk",
    );
    std::os::unix::fs::symlink("..", root.join("junk/loop")).unwrap();
    push(
        "junk/loop",
        SourceKind::Core,
        Want::Skip("symbolic link (not followed)".into()),
        none(),
        None,
        "junk",
    );

    // An apport report inside a tar.
    let lw = fixture_core("lost-wakeup", "child");
    let small_report = apport_report(
        &[
            ("ProblemType", "Crash"),
            ("Date", date),
            ("ExecutablePath", "/opt/demo/lw"),
            ("ProcCmdline", "lw -n 2"),
            ("Signal", "11"),
        ],
        Some(&lw),
    );
    let ct = "bundles/crash.tar.zst";
    write(
        &root,
        ct,
        &zstd(&tar_bytes(&[
            Member::Dir("var/crash"),
            Member::File("var/crash/_opt_demo_lw.0.crash", &small_report),
        ])),
    );
    push(
        &format!("{ct}!var/crash/_opt_demo_lw.0.crash"),
        SourceKind::Apport,
        Want::Core,
        Meta {
            signal: Some(11),
            timestamp: apport_when.clone(),
            exe: Some("/opt/demo/lw".into()),
            cmdline: Some("lw -n 2".into()),
            ..Meta::default()
        },
        fx("lost-wakeup", "child"),
        ct,
    );
    // A zstd core (with a content checksum) damaged in its last quarter: its header
    // reads, so it is a core; expanding it fails.
    let lwp = fixture_core("lost-wakeup", "parent");
    let mut enc = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    enc.include_checksum(true).unwrap();
    enc.write_all(&lwp).unwrap();
    let mut damaged = enc.finish().unwrap();
    let at = damaged.len() * 3 / 4;
    damaged[at] ^= 0x5a;
    damaged[at + 1] ^= 0xa5;
    write(&root, "junk/damaged.zst", &damaged);
    push(
        "junk/damaged.zst",
        SourceKind::Core,
        Want::Core,
        none(),
        fx("lost-wakeup", "parent"),
        "junk",
    );

    for x in &mut ex {
        x.expand_error = match x.id.as_str() {
            "bundles/cut.tar.gz!t/core2" => Some("member cut short".into()),
            "junk/damaged.zst" => Some("cannot expand the zstd-compressed core".into()),
            _ => None,
        };
    }
    // Walk order: sorted by name within each directory.
    ex.sort_by_key(|a| walk_key(&a.id));
    Built {
        _dir: dir,
        root,
        expected: ex,
        xattrs,
    }
}

/// Sort key reproducing the walk order: path components compared one by one (a
/// directory's files come right after it), members after their archive's position in
/// member order (kept by a stable sort on the archive part only).
fn walk_key(id: &str) -> Vec<Vec<u8>> {
    let (file, _member) = id.split_once('!').unwrap_or((id, ""));
    file.split('/').map(|c| c.as_bytes().to_vec()).collect()
}
