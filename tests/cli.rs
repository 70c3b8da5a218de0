//! The command line as a new user meets it: mistakes are fatal and clear (stderr,
//! exit 2), write errors are errors, warnings go to stderr, `mutexdiag CORE` takes
//! options in any order, sizes take the usual spellings, `-o FILE` everywhere.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;

use support::root;

fn core() -> PathBuf {
    root().join("fixtures/sysv-private/core.parent.zst")
}

fn app() -> PathBuf {
    root().join("fixtures/sysv-private/app")
}

fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    support::mutexdiag()
        .args(args)
        .output()
        .expect("run mutexdiag")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit 2, nothing on stdout, and stderr containing every `want`.
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

#[test]
fn unknown_layout_lists_the_valid_names() {
    let o = run([core().as_os_str(), "--layout".as_ref(), "nope".as_ref()]);
    fatal(
        &o,
        &[
            "--layout nope",
            "unknown layout",
            "glibc-x86_64",
            "musl-x86_64",
            "solaris-amd64",
        ],
    );
}

#[test]
fn binary_missing_is_not_found() {
    let o = run([
        core().as_os_str(),
        "--binary".as_ref(),
        "/nonexistent/app".as_ref(),
    ]);
    fatal(&o, &["--binary /nonexistent/app", "not found"]);
    // The same for `threads --backtrace`.
    let o = run([
        "threads".as_ref(),
        core().as_os_str(),
        "--backtrace".as_ref(),
        "--binary".as_ref(),
        "/nonexistent/app".as_ref(),
    ]);
    fatal(&o, &["--binary /nonexistent/app", "not found"]);
}

#[test]
fn binary_directory_is_refused() {
    let o = run([core().as_os_str(), "--binary".as_ref(), root().as_os_str()]);
    fatal(&o, &["--binary", "is a directory"]);
}

/// An unreadable `--binary` says "permission denied", not "not found". Root reads
/// everything, so as root the run drops to user nobody with setpriv.
#[test]
fn binary_unreadable_is_permission_denied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("app");
    std::fs::copy(app(), &bin).expect("copy app");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o000)).unwrap();
    // SAFETY: geteuid has no preconditions.
    let root_user = unsafe { libc::geteuid() } == 0;
    let mut cmd = if root_user {
        if Command::new("setpriv").arg("--version").output().is_err() {
            support::skip(
                "cli::binary_unreadable_is_permission_denied",
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
    let o = cmd
        .arg(core())
        .arg("--binary")
        .arg(&bin)
        .output()
        .expect("run");
    let e = stderr(&o);
    if root_user && e.contains("Permission denied") && !e.contains("--binary") {
        support::skip(
            "cli::binary_unreadable_is_permission_denied",
            &format!("user nobody cannot run the test binary here: {e}"),
        );
        return;
    }
    fatal(&o, &["--binary", "permission denied", "cannot be read"]);
}

#[test]
fn sysroot_and_debug_dir_must_exist() {
    let o = run([
        core().as_os_str(),
        "--sysroot".as_ref(),
        "/nonexistent/root".as_ref(),
    ]);
    fatal(&o, &["--sysroot /nonexistent/root", "no such directory"]);
    let o = run([
        core().as_os_str(),
        "--debug-dir".as_ref(),
        "/nonexistent/debug".as_ref(),
    ]);
    fatal(&o, &["--debug-dir /nonexistent/debug", "no such directory"]);
    let o = run([
        core().as_os_str(),
        "--debug-dir".as_ref(),
        app().as_os_str(),
    ]);
    fatal(&o, &["--debug-dir", "not a directory"]);
}

/// A full disk is an error (exit 2 and a message), for stdout and for `-o FILE`.
#[test]
fn write_errors_are_errors() {
    if !Path::new("/dev/full").exists() {
        support::skip("cli::write_errors_are_errors", "/dev/full does not exist");
        return;
    }
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    for args in [
        vec!["maps"],
        vec!["threads"],
        vec!["analyze"],
        vec!["analyze", "--format", "json"],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_mutexdiag"))
            .args(&args)
            .arg(core())
            .stdout(full.try_clone().unwrap())
            .output()
            .expect("run");
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert!(
            e.contains("cannot write to standard output") && e.contains("No space left"),
            "{args:?}: {e}"
        );
    }
    let o = run([
        "maps".as_ref(),
        core().as_os_str(),
        "-o".as_ref(),
        "/dev/full".as_ref(),
    ]);
    fatal(&o, &["cannot write to /dev/full", "No space left"]);
    let o = run(["explain", "-o", "/nonexistent/dir/out.txt"]);
    fatal(&o, &["-o /nonexistent/dir/out.txt", "cannot create"]);
}

/// A reader that stops early (`| head -1`) is not an error: no message, the
/// analysis' own exit status.
#[test]
fn closed_pipe_is_silent() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mutexdiag"))
        .arg("maps")
        .arg(core())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Close our end of stdout without reading it.
    drop(child.stdout.take());
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    assert!(o.stderr.is_empty(), "stderr: {}", stderr(&o));
}

/// Text mode: warnings on stderr, not at the bottom of the report.
#[test]
fn text_warnings_go_to_stderr() {
    // Without --binary, the recorded executable path is not on this machine: a warning.
    let o = run([core().as_os_str()]);
    let out = String::from_utf8_lossy(&o.stdout);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(out.contains("cross-process-private-mutex"), "{out}");
    assert!(!out.contains("warning:"), "warning in stdout: {out}");
    assert!(e.contains("mutexdiag: warning: "), "stderr: {e}");
    // JSON keeps them in the document.
    let o = run([core().as_os_str(), "--format".as_ref(), "json".as_ref()]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(!v["warnings"].as_array().expect("warnings").is_empty());
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

#[test]
fn core_shortcut_takes_options_in_any_order() {
    let a = run([
        "--format".as_ref(),
        "json".as_ref(),
        core().as_os_str(),
        "--binary".as_ref(),
        app().as_os_str(),
    ]);
    let b = run([
        "analyze".as_ref(),
        core().as_os_str(),
        "--binary".as_ref(),
        app().as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert_eq!(a.status.code(), Some(1), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).expect("json");
    assert_eq!(v["findings"][0]["code"], "cross-process-private-mutex");
    // `--format=json` and options after the core too.
    let c = run([
        "--format=json".as_ref(),
        "--scan".as_ref(),
        "shared".as_ref(),
        core().as_os_str(),
        "--binary".as_ref(),
        app().as_os_str(),
    ]);
    assert_eq!(c.stdout, b.stdout);
}

#[test]
fn typo_of_a_command_is_helpful() {
    let o = run(["thread".as_ref(), core().as_os_str()]);
    fatal(&o, &["\"thread\"", "did you mean `mutexdiag threads`"]);
    let o = run(["map".as_ref(), core().as_os_str()]);
    fatal(&o, &["did you mean `mutexdiag maps`"]);
    // A core that does not exist and looks like no command: the analysis says so.
    let o = run(["/nonexistent/core"]);
    fatal(&o, &["/nonexistent/core"]);
}

#[test]
fn sizes_take_the_usual_spellings() {
    for s in ["64G", "64GB", "64GiB", "1.5GiB", "512M", "100000000"] {
        let o = run([
            "maps".as_ref(),
            core().as_os_str(),
            "--max-core-size".as_ref(),
            s.as_ref(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{s}: {}", stderr(&o));
    }
    // 1K is less than the expanded core: refused, naming the limit.
    let o = run([
        "maps".as_ref(),
        core().as_os_str(),
        "--max-core-size".as_ref(),
        "1K".as_ref(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = run([
        "maps".as_ref(),
        core().as_os_str(),
        "--max-core-size".as_ref(),
        "12Q".as_ref(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("\"12Q\" is not a size"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn output_file_on_every_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: Vec<(&str, Vec<std::ffi::OsString>)> = vec![
        (
            "analyze",
            vec![core().into(), "--binary".into(), app().into()],
        ),
        ("maps", vec!["maps".into(), core().into()]),
        ("threads", vec!["threads".into(), core().into()]),
        ("explain", vec!["explain".into()]),
    ];
    for (name, args) in cases {
        let file = dir.path().join(format!("{name}.txt"));
        let to_stdout = run(&args);
        let mut with_o = args.clone();
        with_o.push("-o".into());
        with_o.push(file.clone().into());
        let o = run(&with_o);
        assert_eq!(o.status.code(), to_stdout.status.code(), "{name}");
        assert!(o.stdout.is_empty(), "{name}: stdout not empty");
        let written = std::fs::read(&file).expect("output file");
        assert!(!written.is_empty(), "{name}: empty file");
        assert_eq!(
            written, to_stdout.stdout,
            "{name}: file differs from stdout"
        );
    }
}
