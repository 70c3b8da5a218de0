//! The inputs people have (issue 13): a core on standard input (`mutexdiag -`,
//! spooled to a bounded, unlinked temporary file in `--temp-dir`), `--maps FILE`
//! (the true shared/private flag of every mapping), and `mutexdiag coredumpctl`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

#[path = "support/skip.rs"]
mod skip;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(p: &str) -> PathBuf {
    root().join("fixtures").join(p)
}

fn core() -> PathBuf {
    fixture("sysv-private/core.parent.zst")
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mutexdiag"));
    c.env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("COLUMNS");
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The core's bytes, expanded.
fn plain_core() -> Vec<u8> {
    let f = std::fs::File::open(core()).expect("open fixture");
    zstd::stream::decode_all(std::io::BufReader::new(f)).expect("zstd")
}

/// Run with `input` written to standard input through a pipe.
fn run_piped(args: &[&std::ffi::OsStr], input: &[u8]) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    // A writer thread: the program may stop reading early (errors), which must not
    // block the test.
    let w = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let o = child.wait_with_output().expect("wait");
    let _ = w.join();
    o
}

fn run_args(args: &[&std::ffi::OsStr]) -> Output {
    bin().args(args).output().expect("run")
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

/// Fatal: exit 2, nothing on stdout, every `want` on stderr.
fn fatal(o: &Output, want: &[&str]) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {e}");
    assert!(
        o.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    for w in want {
        assert!(e.contains(w), "stderr lacks {w:?}: {e}");
    }
}

// ---------------------------------------------------------------------------
// Standard input.

/// `mutexdiag -` (the shortcut), `analyze -`, `maps -` and `threads -` read a pipe,
/// plain or compressed, and say what the same core read from its file says.
#[test]
fn stdin_pipe_plain_and_compressed_match_the_file() {
    let compressed = std::fs::read(core()).expect("read fixture");
    let plain = plain_core();
    let app = fixture("sysv-private/app");
    for (cmd, extra) in [
        (None, vec![os("--binary"), app.as_os_str()]),
        (Some("analyze"), vec![os("--binary"), app.as_os_str()]),
        (Some("maps"), vec![]),
        (Some("threads"), vec![]),
    ] {
        let mut from_file: Vec<&std::ffi::OsStr> = cmd.iter().map(|c| os(c)).collect();
        from_file.push(core().into_os_string().leak());
        from_file.extend(extra.iter().copied());
        from_file.extend([os("--format"), os("json")]);
        let want = run_args(&from_file);
        assert!(
            matches!(want.status.code(), Some(0 | 1)),
            "{cmd:?}: {}",
            stderr(&want)
        );
        let mut want_v: serde_json::Value = serde_json::from_slice(&want.stdout).expect("json");
        for input in [&plain, &compressed] {
            let mut args: Vec<&std::ffi::OsStr> = cmd.iter().map(|c| os(c)).collect();
            args.push(os("-"));
            args.extend(extra.iter().copied());
            args.extend([os("--format"), os("json")]);
            let got = run_piped(&args, input);
            assert_eq!(got.status, want.status, "{cmd:?}: {}", stderr(&got));
            let mut got_v: serde_json::Value =
                serde_json::from_slice(&got.stdout).expect("json from stdin");
            // The analysis names its input: the path, or "standard input".
            if let Some(p) = got_v["core"]["path"].as_str() {
                assert_eq!(p, "standard input", "{cmd:?}");
                got_v["core"]["path"] = want_v["core"]["path"].clone();
            }
            // The stored size differs (a pipe's bytes vs the file's).
            for v in [&mut got_v, &mut want_v] {
                if let Some(c) = v.get_mut("core").and_then(|c| c.as_object_mut()) {
                    c.remove("stored_size");
                    c.remove("compression");
                }
            }
            assert_eq!(got_v, want_v, "{cmd:?}: stdin differs from the file");
        }
    }
}

/// `mutexdiag - < core`: a redirected file is used in place.
#[test]
fn stdin_redirected_file() {
    let f = std::fs::File::open(core()).expect("open");
    let o = bin().args(["maps", "-"]).stdin(f).output().expect("run");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("/SYSV6d757478"));
}

#[test]
fn stdin_errors_are_clear() {
    // Empty.
    let o = run_piped(&[os("maps"), os("-")], b"");
    fatal(&o, &["standard input", "is empty"]);
    // Not a core.
    let o = run_piped(&[os("-")], b"this is not a core file at all\n");
    fatal(&o, &["standard input"]);
    // A truncated compressed stream.
    let z = std::fs::read(core()).expect("read");
    let o = run_piped(&[os("maps"), os("-")], &z[..z.len() / 2]);
    fatal(
        &o,
        &[
            "standard input",
            "zstd-compressed data is corrupt or truncated",
        ],
    );
    // Over the size limit, plain and compressed.
    let o = run_piped(
        &[os("maps"), os("-"), os("--max-core-size"), os("4K")],
        &plain_core(),
    );
    fatal(
        &o,
        &[
            "standard input",
            "larger than the limit of 4096 bytes",
            "--max-core-size",
        ],
    );
    let o = run_piped(&[os("maps"), os("-"), os("--max-core-size"), os("4K")], &z);
    fatal(
        &o,
        &["standard input", "expands past the limit of 4096 bytes"],
    );
    // --temp-dir must exist.
    let o = run_piped(
        &[
            os("maps"),
            os("-"),
            os("--temp-dir"),
            os("/nonexistent/tmp"),
        ],
        &z,
    );
    fatal(&o, &["--temp-dir /nonexistent/tmp", "no such directory"]);
}

/// The spool lives in --temp-dir (or $TMPDIR) and leaves nothing behind: the
/// file is unlinked from the start, so even a killed run leaves no file.
#[test]
fn stdin_spool_leaves_nothing_in_the_temp_dir() {
    let plain = plain_core();
    for how in ["--temp-dir", "TMPDIR"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = bin();
        c.args(["maps", "-"]);
        if how == "--temp-dir" {
            c.arg("--temp-dir").arg(dir.path());
        } else {
            c.env("TMPDIR", dir.path());
        }
        // Killed while reading: the writer sends half the core and waits.
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(&plain[..plain.len() / 2]).expect("write");
        stdin.flush().expect("flush");
        std::thread::sleep(std::time::Duration::from_millis(300));
        // The spool exists (its blocks are used) but has no name in the folder.
        let names: Vec<_> = std::fs::read_dir(dir.path()).expect("list").collect();
        assert!(names.is_empty(), "{how}: {names:?} while spooling");
        child.kill().expect("kill");
        let _ = child.wait();
        drop(stdin);
        let names: Vec<_> = std::fs::read_dir(dir.path()).expect("list").collect();
        assert!(names.is_empty(), "{how}: {names:?} after kill");
        // A complete run.
        let mut c = bin();
        c.args(["maps", "-"]).env("TMPDIR", dir.path());
        if how == "--temp-dir" {
            c.arg("--temp-dir").arg(dir.path());
        }
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        let data = plain.clone();
        let w = std::thread::spawn(move || stdin.write_all(&data));
        let o = child.wait_with_output().expect("wait");
        let _ = w.join();
        assert_eq!(o.status.code(), Some(0), "{how}: {}", stderr(&o));
        let names: Vec<_> = std::fs::read_dir(dir.path()).expect("list").collect();
        assert!(names.is_empty(), "{how}: {names:?} after the run");
    }
}

/// A temp dir that is full: the message names it and says it is full. A 64 KiB
/// tmpfs mounted in a private mount namespace (`unshare -m`, root only); skipped
/// with the reason otherwise.
#[test]
fn stdin_temp_dir_full_is_named() {
    let why_not = if unsafe { libc::geteuid() } != 0 {
        Some("not root: cannot mount a small tmpfs".to_string())
    } else {
        match Command::new("unshare")
            .args(["-m", "true"])
            .stderr(Stdio::piped())
            .output()
        {
            Ok(o) if o.status.success() => None,
            Ok(o) => Some(format!("unshare -m fails here: {}", stderr(&o).trim())),
            Err(e) => Some(format!("unshare (util-linux) cannot run: {e}")),
        }
    };
    if let Some(why) = why_not {
        skip::skip("inputs::stdin_temp_dir_full_is_named", &why);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let tiny = dir.path().join("tiny");
    std::fs::create_dir(&tiny).expect("mkdir");
    let t = tiny.display().to_string();
    // With --max-core-size 1G the limit is not the free space: the write fails
    // (ENOSPC). Without it the limit is the free space: refused before it fills.
    for extra in ["--max-core-size 1G", ""] {
        let script = format!(
            "mount -t tmpfs -o size=64k tmpfs '{t}' || exit 99; \
             '{b}' maps - --temp-dir '{t}' {extra}; rc=$?; \
             ls -A '{t}' | sed 's/^/left: /' >&2; exit $rc",
            b = env!("CARGO_BIN_EXE_mutexdiag"),
        );
        let mut child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn unshare");
        let mut stdin = child.stdin.take().expect("stdin");
        let data = plain_core();
        let w = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let o = child.wait_with_output().expect("wait");
        let _ = w.join();
        let e = stderr(&o);
        if o.status.code() == Some(99) {
            skip::skip(
                "inputs::stdin_temp_dir_full_is_named",
                &format!("cannot mount a tmpfs here: {e}"),
            );
            return;
        }
        assert_eq!(o.status.code(), Some(2), "{extra}: {e}");
        assert!(o.stdout.is_empty(), "{extra}");
        assert!(
            !e.contains("left: "),
            "{extra}: files left in the temp dir: {e}"
        );
        if extra.is_empty() {
            assert!(
                e.contains("standard input: the core is larger than the limit")
                    && e.contains(&format!("free space in {t}")),
                "{e}"
            );
        } else {
            assert!(
                e.contains(&format!(
                    "standard input: cannot write the temporary copy of the core in {t}"
                )) && e.contains("(the folder is full)")
                    && e.contains("--temp-dir"),
                "{e}"
            );
        }
    }
}

/// A temp dir that cannot be written: the message names it. Root writes
/// everywhere, so as root the run drops to user nobody with setpriv.
#[test]
fn stdin_temp_dir_unwritable_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    use std::os::unix::fs::PermissionsExt;
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).expect("mkdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let root_user = unsafe { libc::geteuid() } == 0;
    let mut cmd = if root_user {
        if Command::new("setpriv").arg("--version").output().is_err() {
            skip::skip(
                "inputs::stdin_temp_dir_unwritable_is_named",
                "running as root and setpriv (util-linux) is not installed",
            );
            return;
        }
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_mutexdiag"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_mutexdiag"))
    };
    let mut child = cmd
        .args(["maps", "-", "--temp-dir"])
        .arg(&ro)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = plain_core();
    let w = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let o = child.wait_with_output().expect("wait");
    let _ = w.join();
    let e = stderr(&o);
    if root_user && e.contains("Permission denied") && !e.contains("temporary file") {
        skip::skip(
            "inputs::stdin_temp_dir_unwritable_is_named",
            &format!("user nobody cannot run the test binary here: {e}"),
        );
        return;
    }
    fatal(
        &o,
        &[
            "standard input",
            &format!("cannot create a temporary file in {}", ro.display()),
            "Permission denied",
            "--temp-dir",
        ],
    );
}

// ---------------------------------------------------------------------------
// --maps FILE.

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            stderr(o)
        )
    })
}

fn mapping<'a>(doc: &'a serde_json::Value, path_end: &str) -> &'a serde_json::Value {
    doc["mappings"]
        .as_array()
        .expect("mappings")
        .iter()
        .find(|m| m["path"].as_str().is_some_and(|p| p.ends_with(path_end)))
        .unwrap_or_else(|| panic!("no mapping {path_end}"))
}

/// The file-maps fixture: the program's own /proc/self/maps says region.dat
/// (unlinked) is shared and private.dat is private; the names alone say the
/// opposite. With --maps the flags are the maps file's, and the report says so.
#[test]
fn maps_file_flags_win_over_the_inference() {
    let core = fixture("file-maps/core.main.zst");
    let maps = fixture("file-maps/maps.main.txt");
    let facts: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("file-maps/facts.main.json")).unwrap(),
    )
    .unwrap();
    // The program recorded the perms the kernel showed it.
    let fmaps = facts["mappings"].as_array().expect("facts mappings");
    let perms_of = |suffix: &str| {
        fmaps
            .iter()
            .find(|m| m["path"].as_str().is_some_and(|p| p.contains(suffix)))
            .and_then(|m| m["perms"].as_str())
            .map(str::to_string)
    };
    assert_eq!(perms_of("region.dat").as_deref(), Some("rw-s"));
    assert_eq!(perms_of("private.dat").as_deref(), Some("rw-p"));

    // Without --maps: the inference from names is wrong on both.
    let o = run_args(&[os("maps"), core.as_os_str(), os("--format"), os("json")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let before = json(&o);
    assert_eq!(mapping(&before, "region.dat (deleted)")["shared"], false);
    assert_eq!(mapping(&before, "private.dat")["shared"], true);
    assert!(mapping(&before, "private.dat").get("shared_from").is_none());

    // With --maps: the maps file's flags, marked as such, with dev and inode.
    let o = run_args(&[
        os("maps"),
        core.as_os_str(),
        os("--maps"),
        maps.as_os_str(),
        os("--format"),
        os("json"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let after = json(&o);
    let region = mapping(&after, "region.dat (deleted)");
    assert_eq!(region["shared"], true);
    assert_eq!(region["kind"], "file-shared");
    assert_eq!(region["perms"], "rw-s");
    assert_eq!(region["shared_from"], "maps-file");
    assert!(region["inode"].as_u64().is_some_and(|i| i > 0));
    let private = mapping(&after, "private.dat");
    assert_eq!(private["shared"], false);
    assert_eq!(private["kind"], "file");
    assert_eq!(private["perms"], "rw-p");
    let warnings = after["warnings"].to_string();
    assert!(
        warnings.contains("region.dat (deleted) is shared (inferred private)")
            && warnings.contains("private.dat is private (inferred shared)"),
        "{warnings}"
    );
    // Every mapping of the core is in its own process's maps file.
    for m in after["mappings"].as_array().unwrap() {
        assert_eq!(m["shared_from"], "maps-file", "{m}");
    }

    // The analysis: the private mutex in the (truly) shared mapping is found out.
    let app = fixture("file-maps/app");
    let base = [
        core.as_os_str(),
        os("--binary"),
        app.as_os_str(),
        os("--format"),
        os("json"),
    ];
    let o = run_args(&base);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let plain = json(&o);
    let codes = |v: &serde_json::Value| -> Vec<String> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert!(codes(&plain).is_empty(), "{:?}", codes(&plain));
    let mut with = base.to_vec();
    with.extend([os("--maps"), maps.as_os_str()]);
    let o = run_args(&with);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v = json(&o);
    let c = codes(&v);
    assert!(
        c.contains(&"private-futex-on-shared-memory".to_string()),
        "{c:?}"
    );
    assert!(
        c.contains(&"private-mutex-in-shared-memory".to_string()),
        "{c:?}"
    );
    let addr = facts["mutexes"][0]["address"].as_str().unwrap().to_string();
    assert!(v["findings"].to_string().contains(&addr), "{addr}");

    // Text: the maps table says where the flags came from; warnings on stderr.
    let o = run_args(&[os("maps"), core.as_os_str(), os("--maps"), maps.as_os_str()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("shared/private: from the maps file for"),
        "{out}"
    );
    assert!(
        stderr(&o).contains("comes from it, against the inference"),
        "{}",
        stderr(&o)
    );
}

/// A maps file of another process is not used; a bad line is a warning with its
/// line number; a file with no maps line, a missing file: errors naming it.
#[test]
fn maps_file_errors_and_bad_lines() {
    let core = core();
    // Another process's maps (the segv fixture's).
    let other = fixture("segv/maps.main.txt");
    let o = run_args(&[
        os("maps"),
        core.as_os_str(),
        os("--maps"),
        other.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("is it the maps of another process? Not used"),
        "{e}"
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("from the maps file"));

    // Bad lines among good ones.
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(fixture("sysv-private/maps.parent.txt")).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(2, "this line is garbage");
    lines.insert(5, "7f00-7e00 rw-p 0 00:00 0");
    let bad = dir.path().join("maps.txt");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let o = run_args(&[os("maps"), core.as_os_str(), os("--maps"), bad.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("maps.txt line 3: no permissions") || e.contains("maps.txt line 3:"),
        "{e}"
    );
    assert!(
        e.contains("maps.txt line 6: empty or reversed range"),
        "{e}"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("rw-s"));

    // Not a maps file at all; missing; a directory.
    let o = run_args(&[
        os("maps"),
        core.as_os_str(),
        os("--maps"),
        fixture("sysv-private/meta.json").as_os_str(),
    ]);
    fatal(
        &o,
        &[
            "--maps",
            "meta.json",
            "no line has the /proc/PID/maps format",
            "line 1",
        ],
    );
    let o = run_args(&[
        os("maps"),
        core.as_os_str(),
        os("--maps"),
        os("/nonexistent/maps"),
    ]);
    fatal(&o, &["--maps /nonexistent/maps", "not found"]);
    let o = run_args(&[
        os(core.to_str().unwrap()),
        os("--maps"),
        dir.path().as_os_str(),
    ]);
    fatal(&o, &["--maps", "is a directory"]);
}
