//! Output as people see it: the report laid out for 60, 100 and 200 columns
//! (snapshots in tests/snapshots/, rewritten with MUTEXDIAG_BLESS=1), colour rules
//! (--color, NO_COLOR, CLICOLOR_FORCE), markdown for every command, shell
//! completions and the manual page.

use std::process::Output;

mod support;

use support::root;
use support::sysroot;

const CORE: &str = "fixtures/sysv-private/core.parent.zst";
const APP: &str = "fixtures/sysv-private/app";

/// Run in the repository root (so the core's path in the report is relative), with
/// the colour variables cleared and `env` added.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = support::mutexdiag();
    c.current_dir(root()).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run mutexdiag")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 output")
}

fn snapshot(name: &str, got: &str) {
    let p = root().join("tests/snapshots").join(name);
    if std::env::var_os("MUTEXDIAG_BLESS").is_some() {
        std::fs::write(&p, got).expect("write snapshot");
        return;
    }
    let want = std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e} (MUTEXDIAG_BLESS=1 writes it)", p.display()));
    assert!(
        want == got,
        "{name} differs from the snapshot (MUTEXDIAG_BLESS=1 rewrites it):\n{got}"
    );
}

#[test]
fn report_fits_60_100_and_200_columns() {
    let sysroot = sysroot::sysroot().to_string_lossy().into_owned();
    for width in [60usize, 100, 200] {
        let cols = width.to_string();
        let o = run(
            &[CORE, "--binary", APP, "--sysroot", &sysroot],
            &[("COLUMNS", &cols)],
        );
        assert_eq!(o.status.code(), Some(1));
        let text = stdout(&o);
        for line in text.lines() {
            assert!(
                line.chars().count() <= width,
                "{width} columns: a line of {}: {line}",
                line.chars().count()
            );
        }
        // Every word of the findings and of the mutex's place is whole.
        for word in [
            "cross-process-private-mutex",
            "region->mu",
            "0x7f1e1e504000",
            "contended",
        ] {
            assert!(
                text.contains(word),
                "{width} columns: {word} broken or missing:\n{text}"
            );
        }
        snapshot(&format!("report-{width}.txt"), &text);
    }
    // Not a terminal and no COLUMNS: the fixed wide layout, the same as 100.
    let o = run(&[CORE, "--binary", APP, "--sysroot", &sysroot], &[]);
    let wide = std::fs::read_to_string(root().join("tests/snapshots/report-100.txt"));
    if let Ok(w) = wide {
        assert_eq!(stdout(&o), w);
    }
}

#[test]
fn color_follows_the_option_and_the_environment() {
    let esc = |o: &Output| o.stdout.contains(&0x1b);
    // Not a terminal: no colour by default.
    assert!(!esc(&run(&[CORE], &[])));
    assert!(esc(&run(&[CORE, "--color", "always"], &[])));
    assert!(!esc(&run(
        &[CORE, "--color", "never"],
        &[("CLICOLOR_FORCE", "1")]
    )));
    assert!(esc(&run(&[CORE], &[("CLICOLOR_FORCE", "1")])));
    assert!(!esc(&run(
        &[CORE],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
    )));
    // JSON never carries colour codes.
    assert!(!esc(&run(
        &[CORE, "--color", "always", "--format", "json"],
        &[]
    )));
    // Colour codes do not count as width: the coloured report wraps like the plain one.
    let plain = stdout(&run(&[CORE], &[("COLUMNS", "60")]));
    let coloured = stdout(&run(&[CORE, "--color", "always"], &[("COLUMNS", "60")]));
    let stripped: String = anstream::adapter::strip_str(&coloured).collect();
    assert_eq!(stripped, plain);
}

#[test]
fn markdown_for_every_command() {
    let o = run(&["maps", CORE, "--format", "markdown"], &[]);
    assert_eq!(o.status.code(), Some(0));
    let m = stdout(&o);
    assert!(
        m.starts_with("## Mappings\n\n| start | end | perms |"),
        "{m}"
    );
    assert!(
        m.contains("| sysv-shm | yes | full | /SYSV6d757478 (deleted) [key 0x6d757478] |"),
        "{m}"
    );
    let o = run(
        &[
            "threads",
            CORE,
            "--format",
            "markdown",
            "--backtrace",
            "--binary",
            APP,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0));
    let t = stdout(&o);
    assert!(t.contains("### Threads\n\n| tid |"), "{t}");
    assert!(
        t.contains("FUTEX_WAIT (private) on `0x7f1e1e504000`"),
        "{t}"
    );
    assert!(t.contains("backtrace:\n\n```text\n#0"), "{t}");
    let sysroot = sysroot::sysroot().to_string_lossy().into_owned();
    let o = run(
        &[
            CORE,
            "--format",
            "markdown",
            "--binary",
            APP,
            "--sysroot",
            &sysroot,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    let r = stdout(&o);
    for part in [
        "`cross-process-private-mutex`",
        "### Mutexes",
        "### Threads",
        "### Mappings involved",
        "/SYSV6d757478",
    ] {
        assert!(r.contains(part), "analysis markdown lacks {part}:\n{r}");
    }
}

#[test]
fn completions_and_man_page() {
    for (shell, marker) in [
        ("bash", "complete -F _mutexdiag"),
        ("zsh", "#compdef mutexdiag"),
        ("fish", "complete -c mutexdiag"),
    ] {
        let o = run(&["completions", shell], &[]);
        assert_eq!(o.status.code(), Some(0), "{shell}");
        let s = stdout(&o);
        assert!(s.contains(marker), "{shell}: {s}");
        assert!(
            s.contains("threads") && s.contains("max-core-size"),
            "{shell}"
        );
    }
    let o = run(&["man"], &[]);
    assert_eq!(o.status.code(), Some(0));
    let man = stdout(&o);
    assert!(man.contains(".TH mutexdiag 1"), "{man}");
    // docs/mutexdiag.1 is the generated page, kept current.
    let committed = std::fs::read_to_string(root().join("docs/mutexdiag.1")).unwrap_or_default();
    if std::env::var_os("MUTEXDIAG_BLESS").is_some() {
        std::fs::write(root().join("docs/mutexdiag.1"), &man).expect("write man page");
        return;
    }
    assert!(
        committed == man,
        "docs/mutexdiag.1 is not `mutexdiag man` (MUTEXDIAG_BLESS=1 rewrites it)"
    );
}
