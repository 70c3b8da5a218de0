//! Bad input of every class through the real binary: the message names the file and
//! says what is wrong, and the exit status is 2 when nothing could be analysed.
//! Also: decompression bombs are refused (`--max-core-size`) without leaving a
//! temporary file behind on any exit path; inputs are never written to; a core that
//! shrinks while mapped ends with a message, not a silent SIGBUS.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mutexdiag::input::{Input, InputOptions};
use support::hostile::*;

mod support;

const LIMIT: Duration = Duration::from_secs(20);

fn run(args: &[&OsStr]) -> Run {
    run_bin(args, &[], LIMIT)
}

/// `maps FILE` must fail with exactly `mutexdiag: FILE: <what>` and status 2.
fn fails_with(file: &Path, what: &str) {
    for cmd in ["maps", "threads"] {
        let r = run(&[cmd.as_ref(), file.as_os_str()]);
        assert_eq!(r.code, Some(2), "{cmd} {}: {r:?}", file.display());
        assert_eq!(
            r.stderr,
            format!("mutexdiag: {}: {what}\n", file.display()),
            "{cmd}"
        );
        assert!(r.stdout.is_empty(), "{cmd}: {}", r.stdout);
    }
}

fn fixture(name: &str) -> TestCore {
    let p = fixture_paths()
        .into_iter()
        .find(|p| p.to_string_lossy().contains(name))
        .unwrap_or_else(|| panic!("fixture {name}"));
    load(&p)
}

fn small_core() -> Vec<u8> {
    fixture("/sysv-private/core.parent").data
}

#[test]
fn messages_for_files_that_are_not_cores() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    fails_with(
        &d.join("missing.core"),
        "cannot open: No such file or directory (os error 2)",
    );
    fails_with(d, "cannot open: is a directory");

    let f = d.join("empty.core");
    std::fs::write(&f, b"").unwrap();
    fails_with(&f, "is empty (0 bytes): nothing to analyse");

    let f = d.join("text.core");
    std::fs::write(&f, b"hello, world\n").unwrap();
    fails_with(&f, "not an ELF file (starts with bytes 68 65 6c 6c)");

    let f = d.join("short.core");
    std::fs::write(&f, b"\x7fEL").unwrap();
    fails_with(&f, "not an ELF file (starts with bytes 7f 45 4c)");

    // An executable, not a core.
    let app = support::root().join("fixtures/sysv-private/app");
    fails_with(
        &app,
        "ELF file of type ET_DYN (shared object or PIE executable) (e_type 3), not a core dump (ET_CORE = 4)",
    );

    let core = small_core();
    let mut c = core.clone();
    c[4] = 3;
    let f = d.join("class.core");
    std::fs::write(&f, &c).unwrap();
    fails_with(&f, "corrupt ELF header: EI_CLASS is 3, not 1 or 2");

    let mut c = core.clone();
    c[5] = 0;
    std::fs::write(&f, &c).unwrap();
    fails_with(&f, "corrupt ELF header: EI_DATA is 0, not 1 or 2");

    let mut c = core.clone();
    wr(&mut c, 54, 8, 2, false);
    std::fs::write(&f, &c).unwrap();
    fails_with(
        &f,
        "corrupt ELF header: e_phentsize is 8, smaller than a program header (56 bytes)",
    );

    let mut c = core.clone();
    wr(&mut c, 32, 1 << 40, 8, false);
    std::fs::write(&f, &c).unwrap();
    fails_with(
        &f,
        &format!(
            "truncated: the program header table is at offset 0x10000000000, past the end of the file ({} bytes)",
            c.len()
        ),
    );

    // A FIFO is refused at once (it would otherwise wait for a writer forever).
    let fifo = d.join("fifo.core");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    fails_with(
        &fifo,
        "cannot open: not a regular file (a FIFO, socket or device)",
    );
    fails_with(
        Path::new("/dev/null"),
        "cannot open: not a regular file (a FIFO, socket or device)",
    );
}

/// A core with no notes, or notes that say nothing: a partial report that says
/// what is missing, exit 0.
#[test]
fn partial_reports_say_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let core = small_core();
    let e = elf(&core);
    let note = e.phdrs.iter().find(|p| p.p_type == PT_NOTE).unwrap();
    // Turn the PT_NOTE into PT_NULL: no notes at all.
    let mut c = core.clone();
    wr(
        &mut c,
        e.phoff as usize + note.index * e.phentsize as usize,
        0,
        4,
        false,
    );
    let f = dir.path().join("nonotes.core");
    std::fs::write(&f, &c).unwrap();
    let r = run(&["threads".as_ref(), f.as_os_str()]);
    assert_eq!(r.code, Some(0), "{r:?}");
    // Text mode: warnings go to stderr.
    assert!(
        r.stderr.contains(
            "warning: the core holds no thread status notes: no registers, no thread list"
        ),
        "{}",
        r.stderr
    );
    let r = run(&["maps".as_ref(), f.as_os_str()]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stderr
            .contains("warning: the core holds no thread status notes")
    );
}

/// `n` zstd frames of 1 MiB of zeros each after a real core's first page: a few
/// hundred KiB that expand to `n` MiB. Made by streaming: the expanded data is never
/// in memory.
fn zstd_bomb(head: &[u8], mib: usize) -> Vec<u8> {
    let mut out = zstd::bulk::compress(head, 3).unwrap();
    let frame = zstd::bulk::compress(&vec![0u8; 1 << 20], 19).unwrap();
    for _ in 0..mib {
        out.extend_from_slice(&frame);
    }
    out
}

fn gzip_bomb(head: &[u8], mib: usize) -> Vec<u8> {
    let member = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let mut out = member(head);
    let m = member(&vec![0u8; 1 << 20]);
    for _ in 0..mib {
        out.extend_from_slice(&m);
    }
    out
}

fn xz_bomb(head: &[u8], mib: usize) -> Vec<u8> {
    let stream = |data: &[u8]| {
        let mut e = xz2::write::XzEncoder::new(Vec::new(), 6);
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let mut out = stream(head);
    // 64 MiB per stream, written in 1 MiB pieces.
    let mut e = xz2::write::XzEncoder::new(Vec::new(), 6);
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        e.write_all(&zeros).unwrap();
    }
    let s = e.finish().unwrap();
    for _ in 0..mib / 64 {
        out.extend_from_slice(&s);
    }
    out
}

fn lz4_bomb(head: &[u8], mib: usize) -> Vec<u8> {
    let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
    e.write_all(head).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..mib {
        e.write_all(&zeros).unwrap();
    }
    e.finish().unwrap()
}

fn entries(d: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(d)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect()
}

/// Streams of at most a few MiB that expand to 2 GiB: refused at the limit, in the
/// library (temporary files in a directory we watch) and in the binary (TMPDIR).
#[test]
fn decompression_bombs_are_refused() {
    let core = small_core();
    let head = &core[..4096];
    let bombs: Vec<(&str, Vec<u8>)> = vec![
        ("zstd", zstd_bomb(head, 2048)),
        ("gzip", gzip_bomb(head, 2048)),
        ("xz", xz_bomb(head, 2048)),
        ("lz4", lz4_bomb(head, 2048)),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (fmt, bytes) in &bombs {
        assert!(
            bytes.len() < 16 << 20,
            "{fmt} bomb is {} bytes",
            bytes.len()
        );
        let f = dir.path().join(format!("bomb.core.{fmt}"));
        std::fs::write(&f, bytes).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let opts = InputOptions {
            max_core_size: Some(64 << 20),
            temp_dir: Some(tmp.path().to_owned()),
            ..InputOptions::default()
        };
        let e = Input::open(&f, &opts).unwrap_err();
        assert_eq!(e.code(), "too-large", "{fmt}: {e}");
        assert_eq!(
            e.to_string(),
            format!(
                "{}: {fmt}-compressed core expands past the limit of 67108864 bytes; refusing it (raise the limit with --max-core-size if this core is genuine)",
                f.display()
            )
        );
        assert!(entries(tmp.path()).is_empty(), "{fmt}: temp file left");

        // The binary, with its temporary directory pointed at one we watch.
        let tmp = tempfile::tempdir().unwrap();
        let r = run_bin(
            &[
                "maps".as_ref(),
                "--max-core-size".as_ref(),
                "64M".as_ref(),
                f.as_os_str(),
            ],
            &[("TMPDIR", tmp.path())],
            LIMIT,
        );
        assert_eq!(r.code, Some(2), "{fmt}: {r:?}");
        assert!(
            r.stderr
                .contains("-compressed core expands past the limit of 67108864 bytes"),
            "{fmt}: {}",
            r.stderr
        );
        assert!(entries(tmp.path()).is_empty(), "{fmt}: temp file left");
        // The expansion stopped at the limit: peak memory is nowhere near 2 GiB.
        assert!(r.maxrss < 128 << 20, "{fmt}: peak RSS {}", r.maxrss);
        println!(
            "{fmt} bomb: {} KiB expanding to 2 GiB, refused at 64 MiB in {} ms, peak RSS {} KiB",
            bytes.len() >> 10,
            r.elapsed.as_millis(),
            r.maxrss >> 10
        );
    }
}

/// Under the limit, a compressed core works and leaves nothing behind; killed in the
/// middle of an expansion, the process leaves nothing behind either (the temporary
/// file is unlinked from the moment it is created).
#[test]
fn temporary_files_never_outlive_the_process() {
    let tc = fixture("/sysv-private/core.child");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("core.zst");
    std::fs::write(&f, zstd::bulk::compress(&tc.data, 3).unwrap()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let r = run_bin(
        &["maps".as_ref(), f.as_os_str()],
        &[("TMPDIR", tmp.path())],
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("sysv-shm"), "{}", r.stdout);
    assert!(entries(tmp.path()).is_empty());

    // Corrupt compressed data: an error, nothing left.
    let mut bad = std::fs::read(&f).unwrap();
    let n = bad.len();
    bad.truncate(n / 2);
    let g = dir.path().join("cut.zst");
    std::fs::write(&g, &bad).unwrap();
    let r = run_bin(
        &["maps".as_ref(), g.as_os_str()],
        &[("TMPDIR", tmp.path())],
        LIMIT,
    );
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(
        r.stderr.starts_with(&format!(
            "mutexdiag: {}: zstd-compressed data is corrupt or truncated: ",
            g.display()
        )),
        "{}",
        r.stderr
    );
    assert!(entries(tmp.path()).is_empty());

    // No place to expand to.
    let r = run_bin(
        &["maps".as_ref(), f.as_os_str()],
        &[("TMPDIR", &tmp.path().join("nonexistent"))],
        LIMIT,
    );
    assert_eq!(r.code, Some(2), "{r:?}");
    assert_eq!(
        r.stderr,
        format!(
            "mutexdiag: {}: cannot create a temporary file in {} to hold the core: No such file or directory (os error 2) (choose another folder with --temp-dir)\n",
            f.display(),
            tmp.path().join("nonexistent").display()
        )
    );

    // Killed while expanding a large stream: still nothing left.
    let bomb = dir.path().join("big.zst");
    std::fs::write(&bomb, zstd_bomb(&tc.data[..4096], 16 * 1024)).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mutexdiag"))
        .args([
            "maps".as_ref(),
            "--max-core-size".as_ref(),
            "1T".as_ref(),
            bomb.as_os_str(),
        ])
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "expansion ended too soon"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        entries(tmp.path()).is_empty(),
        "temp file left after SIGKILL"
    );
}

fn fingerprint(p: &Path) -> (Vec<u8>, std::time::SystemTime, u32) {
    use std::os::unix::fs::PermissionsExt;
    let m = std::fs::metadata(p).unwrap();
    (
        std::fs::read(p).unwrap(),
        m.modified().unwrap(),
        m.permissions().mode(),
    )
}

#[test]
fn inputs_are_never_written() {
    let tc = fixture("/sysv-private/core.parent");
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("core");
    std::fs::write(&plain, &tc.data).unwrap();
    let zst = dir.path().join("core.zst");
    std::fs::write(&zst, zstd::bulk::compress(&tc.data, 3).unwrap()).unwrap();
    let mut cut = tc.data.clone();
    cut.truncate(tc.data.len() / 2);
    let trunc = dir.path().join("cut");
    std::fs::write(&trunc, &cut).unwrap();
    // An hour in the past, so any write would move the time forward visibly.
    for f in [&plain, &zst, &trunc] {
        let t = std::time::SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(f)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }
    for f in [&plain, &zst, &trunc] {
        let before = fingerprint(f);
        for cmd in ["maps", "threads"] {
            for fmt in ["text", "json"] {
                let r = run(&[
                    cmd.as_ref(),
                    "--format".as_ref(),
                    fmt.as_ref(),
                    f.as_os_str(),
                ]);
                assert_eq!(r.code, Some(0), "{r:?}");
            }
        }
        assert!(before == fingerprint(f), "{} was modified", f.display());
    }
    // The directory holding the inputs gained nothing either.
    assert_eq!(entries(dir.path()).len(), 3);
}

/// Child half of `a_core_that_shrinks_while_mapped_is_reported`: map the core, let
/// it be truncated, then touch the lost pages.
fn shrink_victim(path: &Path, install: bool) {
    // The run without the handler dies of SIGBUS: no core file from it.
    let none = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid rlimit for this process.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) };
    if install {
        mutexdiag::install_sigbus_handler();
    }
    let input = Input::open(path, &InputOptions::default()).unwrap();
    let n = input.mapped().expect("a mapped core").len();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(0)
        .unwrap();
    let b = input.mapped().expect("a mapped core");
    let mut sum = 0u64;
    for i in (0..n).step_by(4096) {
        // SAFETY: a volatile read of a byte inside the mapping's declared length.
        sum += u64::from(unsafe { std::ptr::read_volatile(&b[i]) });
    }
    println!("read everything: {sum}");
    std::process::exit(0);
}

#[test]
fn a_core_that_shrinks_while_mapped_is_reported() {
    if let Some(p) = std::env::var_os("MUTEXDIAG_SHRINK_VICTIM") {
        let install = std::env::var_os("MUTEXDIAG_SHRINK_HANDLER").is_some();
        shrink_victim(Path::new(&p), install);
    }
    let tc = fixture("/sysv-private/core.parent");
    let dir = tempfile::tempdir().unwrap();
    for install in [true, false] {
        let f = dir.path().join("shrinking.core");
        std::fs::write(&f, &tc.data).unwrap();
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "a_core_that_shrinks_while_mapped_is_reported",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MUTEXDIAG_SHRINK_VICTIM", &f);
        if install {
            cmd.env("MUTEXDIAG_SHRINK_HANDLER", "1");
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if install {
            assert_eq!(out.status.code(), Some(2), "{stderr}");
            assert!(
                stderr.contains(&format!(
                    "mutexdiag: {}: the file shrank while it was being read (another process truncated it); nothing more can be read from it\n",
                    f.display()
                )),
                "{stderr}"
            );
        } else {
            // Without the handler the same access is a plain SIGBUS: the test above
            // really exercises the fault.
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(out.status.signal(), Some(libc::SIGBUS), "{stderr}");
        }
    }
}

/// A core names the files it mapped; with `--sysroot`, each is looked up there. A
/// sysroot where every such name is a FIFO (or a link to a host file) must neither
/// hang the analysis (opening a FIFO waits for a writer) nor lead outside it.
#[test]
fn core_named_fifos_and_links_do_not_hang_or_escape() {
    let tc = fixture("/sysv-private/core.parent");
    let core = mutexdiag::internals::coredump::Core::parse(&tc.data).unwrap();
    let maps = mutexdiag::internals::mappings::build(&core);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sysroot");
    let mut named = 0;
    for (i, m) in maps.iter().enumerate() {
        let Some(p) = &m.path else { continue };
        let p = p.strip_suffix(" (deleted)").unwrap_or(p);
        let Some(rel) = p.strip_prefix('/') else {
            continue;
        };
        let at = root.join(rel);
        if at.exists() || std::fs::symlink_metadata(&at).is_ok() {
            continue;
        }
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        if i.is_multiple_of(2) {
            let c = std::ffi::CString::new(at.to_str().unwrap()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        } else {
            // An absolute link to the real file on this machine: re-rooted, so it
            // is not found in the sysroot.
            std::os::unix::fs::symlink(p, &at).unwrap();
        }
        named += 1;
    }
    assert!(named >= 3, "the fixture names too few files: {named}");
    let f = dir.path().join("core");
    std::fs::write(&f, &tc.data).unwrap();
    for fmt in ["text", "json"] {
        let r = run_bin(
            &[
                "analyze".as_ref(),
                "--format".as_ref(),
                fmt.as_ref(),
                "--sysroot".as_ref(),
                root.as_os_str(),
                f.as_os_str(),
            ],
            &[],
            LIMIT,
        );
        assert!(!r.timed_out, "analysis hung on a sysroot of FIFOs");
        assert!(matches!(r.code, Some(0) | Some(1)), "{r:?}");
    }
}
