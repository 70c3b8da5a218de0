//! The inputs people have (issue 13): a core on standard input (`mutexdiag -`,
//! spooled to a bounded, unlinked temporary file in `--temp-dir`), `--maps FILE`
//! (the true shared/private flag of every mapping), and `mutexdiag coredumpctl`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

mod support;

use support::archive;

use support::fixture;

fn core() -> PathBuf {
    fixture("sysv-private/core.parent.zst")
}

use support::mutexdiag as bin;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The core's bytes, expanded.
fn plain_core() -> Vec<u8> {
    support::decompress(&core())
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
    let core_path = core();
    for (cmd, extra) in [
        (None, vec![os("--binary"), app.as_os_str()]),
        (Some("analyze"), vec![os("--binary"), app.as_os_str()]),
        (Some("maps"), vec![]),
        (Some("threads"), vec![]),
    ] {
        let mut from_file: Vec<&std::ffi::OsStr> = cmd.iter().map(|c| os(c)).collect();
        from_file.push(core_path.as_os_str());
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
        support::skip("inputs::stdin_temp_dir_full_is_named", &why);
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
            support::skip(
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
            support::skip(
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
        support::skip(
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

// ---------------------------------------------------------------------------
// mutexdiag coredumpctl.

/// A fake `coredumpctl` on PATH: it logs its arguments to $FAKE_LOG, prints
/// $FAKE_LIST (a file) for `list`, the file $FAKE_CORE for `dump`, $FAKE_MAPS for
/// `--field=COREDUMP_PROC_MAPS`, and fails like the real one when told to.
/// The JSON it prints has the shape of systemd's own (src/coredump/coredumpctl.c,
/// `dump_list`/`print_list`, with src/shared/format-table.c `table_data_to_json`):
/// an array of {time µs, pid, uid, gid, sig, corefile state, exe, size}.
const FAKE: &str = r#"#!/bin/sh
echo "$*" >> "$FAKE_LOG"
for a in "$@"; do
  case "$a" in
    --field=COREDUMP_PROC_MAPS) [ -n "$FAKE_MAPS" ] && cat "$FAKE_MAPS"; exit 0 ;;
    list) if [ -n "$FAKE_LIST_FAIL" ]; then echo "$FAKE_LIST_FAIL" >&2; exit 1; fi
          cat "$FAKE_LIST"; exit 0 ;;
    dump) if [ -n "$FAKE_DUMP_FAIL" ]; then echo "$FAKE_DUMP_FAIL" >&2; exit 1; fi
          cat "$FAKE_CORE"; exit 0 ;;
  esac
done
echo "fake coredumpctl: unexpected arguments: $*" >&2
exit 64
"#;

struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new() -> Fake {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let bin_dir = dir.path().join("bin");
        std::fs::create_dir(&bin_dir).unwrap();
        let script = bin_dir.join("coredumpctl");
        std::fs::write(&script, FAKE).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        // The uncompressed core, as `coredumpctl dump` writes it.
        support::expand(
            &fixture("file-maps/core.main.zst"),
            &dir.path().join("core"),
        );
        Fake { dir }
    }

    fn list(&self, entries: serde_json::Value) {
        // --json=short: one line.
        std::fs::write(
            self.dir.path().join("list.json"),
            entries.to_string() + "\n",
        )
        .unwrap();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = bin();
        c.arg("coredumpctl")
            .args(args)
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.dir.path().join("bin").display()),
            )
            .env("FAKE_LOG", self.dir.path().join("log"))
            .env("FAKE_LIST", self.dir.path().join("list.json"))
            .env("FAKE_CORE", self.dir.path().join("core"))
            .env_remove("FAKE_MAPS")
            .env_remove("FAKE_LIST_FAIL")
            .env_remove("FAKE_DUMP_FAIL");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("run")
    }
}

fn facts_pid() -> i64 {
    let facts: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("file-maps/facts.main.json")).unwrap(),
    )
    .unwrap();
    facts["pid"].as_i64().unwrap()
}

fn entry(time: u64, pid: i64, corefile: &str, exe: &str) -> serde_json::Value {
    serde_json::json!({
        "time": time, "pid": pid, "uid": 0, "gid": 0, "sig": 6,
        "corefile": corefile, "exe": exe, "size": 108544
    })
}

#[test]
fn coredumpctl_not_installed() {
    let empty = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["coredumpctl", "1234"])
        .env("PATH", empty.path())
        .output()
        .expect("run");
    fatal(
        &o,
        &[
            "cannot run coredumpctl",
            "systemd-coredump",
            "mutexdiag CORE",
        ],
    );
}

#[test]
fn coredumpctl_lists_cores() {
    let fake = Fake::new();
    let app = fixture("file-maps/app").display().to_string();
    fake.list(serde_json::json!([
        entry(1_764_601_200_000_000, 4242, "present", &app),
        entry(1_764_601_260_000_000, 4343, "missing", "/usr/bin/other"),
    ]));
    let o = fake.run(&[], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("time"), "{out}");
    assert!(
        out.contains("2025-12-01 15:00:00 UTC") && out.contains("4242"),
        "{out}"
    );
    assert!(
        out.contains("SIGABRT") && out.contains("missing") && out.contains(&app),
        "{out}"
    );
    assert_eq!(fake.log().trim(), "--no-pager --json=short list");
    // JSON: the entries as coredumpctl gave them.
    let o = fake.run(&["--format", "json"], &[]);
    let v = json(&o);
    assert_eq!(v["cores"][0]["pid"], 4242);
    assert_eq!(v["cores"][1]["corefile"], "missing");
    assert_eq!(v["cores"][0]["time"], 1_764_601_200_000_000u64);
    // Several match: listed, with a hint on stderr.
    let o = fake.run(&["app"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2 cores match app: add --last"),
        "{}",
        stderr(&o)
    );
    assert!(fake.log().contains("--no-pager --json=short list app"));
    assert!(!fake.log().contains("dump"));
}

#[test]
fn coredumpctl_errors() {
    let fake = Fake::new();
    // No match: coredumpctl says so on stderr and exits 1.
    fake.list(serde_json::json!([]));
    let o = fake.run(&["999"], &[("FAKE_LIST_FAIL", "No coredumps found.")]);
    fatal(&o, &["no core dump matches 999", "No coredumps found"]);
    // The core is missing, or was never stored.
    let pid = facts_pid();
    for (state, want) in [
        ("missing", "is missing"),
        ("none", "was not stored"),
        ("inaccessible", "cannot be read"),
    ] {
        fake.list(serde_json::json!([entry(
            1,
            pid,
            state,
            "/nonexistent/app"
        )]));
        let o = fake.run(&[&pid.to_string()], &[]);
        fatal(&o, &[&format!("the core of PID {pid}"), want]);
    }
    // dump fails.
    fake.list(serde_json::json!([entry(
        1,
        pid,
        "present",
        "/nonexistent/app"
    )]));
    let o = fake.run(
        &[&pid.to_string()],
        &[(
            "FAKE_DUMP_FAIL",
            "Cannot access \"/var/lib/systemd/coredump/core.x.zst\": No such file or directory",
        )],
    );
    fatal(&o, &["coredumpctl dump", "Cannot access"]);
    // Output that is not its JSON.
    std::fs::write(fake.dir.path().join("list.json"), "TIME PID UID\n").unwrap();
    let o = fake.run(&["--last"], &[]);
    fatal(
        &o,
        &["coredumpctl --json=short list printed JSON that is not"],
    );
}

/// One match: the core comes from `coredumpctl dump`, the executable from the
/// entry (its build-id checked), the maps text from COREDUMP_PROC_MAPS.
#[test]
fn coredumpctl_analyses_the_matching_core() {
    let fake = Fake::new();
    let pid = facts_pid();
    let app = fixture("file-maps/app").display().to_string();
    let empty = tempfile::tempdir().unwrap();
    let sysroot = empty.path().display().to_string();
    let pid_s = pid.to_string();
    fake.list(serde_json::json!([entry(
        1_764_601_200_000_000,
        pid,
        "present",
        &app
    )]));
    let maps = fixture("file-maps/maps.main.txt").display().to_string();
    let o = fake.run(
        &[&pid_s, "--sysroot", &sysroot, "--format", "json"],
        &[("FAKE_MAPS", &maps)],
    );
    // The maps text shows the private mutex in a shared mapping: error findings.
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v = json(&o);
    assert!(
        v["core"]["path"]
            .as_str()
            .unwrap()
            .starts_with(&format!("coredumpctl PID {pid}"))
    );
    assert_eq!(v["core"]["pid"], pid);
    // The executable was used: the mutex has its debug name.
    assert_eq!(v["mutexes"][0]["symbol"], "region->mu", "{}", v["mutexes"]);
    assert!(
        v["findings"]
            .to_string()
            .contains("private-futex-on-shared-memory")
    );
    assert!(
        v["warnings"].to_string().contains("COREDUMP_PROC_MAPS"),
        "{}",
        v["warnings"]
    );
    let log = fake.log();
    assert!(
        log.contains(&format!("--no-pager --json=short list {pid}")),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "--no-pager dump COREDUMP_PID={pid} COREDUMP_EXE={app}"
        )),
        "{log}"
    );
    assert!(log.contains("--field=COREDUMP_PROC_MAPS"), "{log}");

    // An executable with another build-id is not used, and the warning says why.
    let other = fixture("sysv-private/app").display().to_string();
    fake.list(serde_json::json!([entry(1, pid, "present", &other)]));
    let o = fake.run(&[&pid_s, "--sysroot", &sysroot], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains(&format!(
            "the executable coredumpctl records, {other}, has build-id"
        )) && e.contains("not used"),
        "{e}"
    );
    // One that is not on this machine.
    fake.list(serde_json::json!([entry(
        1,
        pid,
        "present",
        "/nonexistent/app"
    )]));
    let o = fake.run(&[&pid_s, "--sysroot", &sysroot], &[]);
    assert!(
        stderr(&o).contains("/nonexistent/app, is not on this machine"),
        "{}",
        stderr(&o)
    );

    // --last picks the newest of several.
    fake.list(serde_json::json!([
        entry(2_000, pid, "present", &app),
        entry(1_000, 7, "present", &app),
    ]));
    let o = fake.run(
        &["app", "--last", "--sysroot", &sysroot, "--format", "json"],
        &[],
    );
    assert_eq!(json(&o)["core"]["pid"], pid);
    assert!(
        fake.log().contains(&format!("dump COREDUMP_PID={pid} ")),
        "{}",
        fake.log()
    );
}

/// The real coredumpctl, where systemd-coredump is installed. Capturing a core
/// needs systemd-coredump as the kernel's core handler (kernel.core_pattern), a
/// running systemd-journald and the systemd-coredump socket: a test never changes
/// core_pattern, so here only what the journal already holds is read.
#[test]
fn coredumpctl_real() {
    let have = Command::new("coredumpctl").arg("--version").output();
    if have.as_ref().map_or(true, |o| !o.status.success()) {
        support::skip(
            "inputs::coredumpctl_real",
            "coredumpctl (systemd-coredump) is not installed",
        );
        return;
    }
    let o = bin()
        .args(["coredumpctl", "--format", "json"])
        .output()
        .expect("run");
    match o.status.code() {
        Some(0) => {
            // Cores are in the journal: the list is coredumpctl's.
            let v = json(&o);
            assert!(v["cores"].as_array().is_some_and(|a| !a.is_empty()), "{v}");
            for c in v["cores"].as_array().unwrap() {
                assert!(c["pid"].is_i64() && c["corefile"].is_string(), "{c}");
            }
        }
        _ => {
            fatal(&o, &["no core dump matches", "coredumpctl:"]);
            support::skip(
                "inputs::coredumpctl_real",
                &format!(
                    "the real coredumpctl ran and its journal holds no core ({}); capturing one \
                     needs kernel.core_pattern pointed at systemd-coredump with journald running, \
                     which a test must not set up",
                    stderr(&o).trim()
                ),
            );
        }
    }
}

/// The new options and command are in the completions and the manual page.
#[test]
fn completions_know_the_inputs() {
    for shell in ["bash", "zsh", "fish"] {
        let o = bin().args(["completions", shell]).output().expect("run");
        let s = String::from_utf8_lossy(&o.stdout);
        for w in ["coredumpctl", "temp-dir", "maps", "last"] {
            assert!(s.contains(w), "{shell}: no {w}");
        }
    }
    let o = bin().arg("man").output().expect("run");
    assert!(String::from_utf8_lossy(&o.stdout).contains("coredumpctl"));
}

/// triage passes an apport report's ProcMaps to the analysis: the file-maps core
/// with its maps text is reported for its private mutex in (truly) shared
/// memory; without ProcMaps it is not.
#[test]
fn triage_uses_apport_proc_maps() {
    let core = support::decompress(&fixture("file-maps/core.main.zst"));
    let maps = std::fs::read_to_string(fixture("file-maps/maps.main.txt")).unwrap();
    let mut found = Vec::new();
    for with_maps in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut text = vec![
            ("ProblemType", "Crash"),
            ("Date", "Mon Dec  1 16:30:36 2025"),
            ("ExecutablePath", "/tmp/mutexdiag-fixtures/file-maps/app"),
            ("Signal", "6"),
        ];
        if with_maps {
            text.push(("ProcMaps", maps.trim_end()));
        }
        let report = archive::apport_report(&text, Some(&core));
        std::fs::write(dir.path().join("_app.0.crash"), report).unwrap();
        let o = bin()
            .args(["triage", "--format", "json"])
            .arg(dir.path())
            .output()
            .expect("run triage");
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(out.contains("\"pid\""), "{out}\n{}", stderr(&o));
        found.push(out.contains("private-futex-on-shared-memory"));
    }
    assert_eq!(found, [true, false]);
}
