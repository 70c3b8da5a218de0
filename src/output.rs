//! Output plumbing shared by every command (and meant for new ones): where the
//! output goes (`-o FILE` or standard output), whether it is coloured (`--color`,
//! `NO_COLOR`, `CLICOLOR_FORCE`, through anstream), how wide text may be (the
//! terminal's width, or `COLUMNS`, or a fixed wide layout when not a terminal), and
//! write errors that are errors (a full disk exits 2; a closed pipe stays silent).

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::cli::ColorWhen;

/// Width of text output when standard output is not a terminal (files, pipes).
pub const WIDE: usize = 100;
/// Narrowest width laid out for; a narrower terminal gets this.
pub const NARROWEST: usize = 40;

/// One destination for a command's output.
pub struct Output {
    sink: Sink,
    /// Colour codes may be written.
    pub color: bool,
    /// Columns available for text.
    pub width: usize,
    /// The stream is closed at the other end (`| head`): stop writing, quietly.
    closed: bool,
}

enum Sink {
    Stdout(io::Stdout),
    File(io::BufWriter<File>, PathBuf),
}

/// A write that failed for another reason than a closed pipe.
#[derive(Debug)]
pub struct WriteError(pub String);

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Terminal width: `COLUMNS` when set to a number, else the terminal's (ioctl on
/// stdout), else `None` (not a terminal).
pub fn terminal_width() -> Option<usize> {
    if let Some(c) = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
    {
        return Some(c);
    }
    if !io::stdout().is_terminal() {
        return None;
    }
    // SAFETY: TIOCGWINSZ fills a winsize we own; fd 1 is valid for the process.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_col > 0).then_some(ws.ws_col as usize)
}

/// Should colour be written to this stream? anstream's rules for `auto`: a terminal,
/// `NO_COLOR` unset or empty, `CLICOLOR_FORCE` forces colour, `TERM=dumb` refuses it.
fn color_for<S: anstream::stream::RawStream>(stream: &S, when: ColorWhen) -> bool {
    let choice = match when {
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
        ColorWhen::Auto => anstream::ColorChoice::Auto,
    };
    choice.write_global();
    anstream::AutoStream::choice(stream) != anstream::ColorChoice::Never
}

impl Output {
    /// Standard output, or `path` (created or truncated) with `-o`.
    pub fn open(path: Option<&Path>, when: ColorWhen) -> Result<Self, WriteError> {
        match path {
            None => {
                let stdout = io::stdout();
                let color = color_for(&stdout, when);
                let width = terminal_width().map_or(WIDE, |w| w.max(NARROWEST));
                Ok(Self {
                    sink: Sink::Stdout(stdout),
                    color,
                    width,
                    closed: false,
                })
            }
            Some(p) => {
                let f = File::create(p).map_err(|e| {
                    WriteError(format!("-o {}: cannot create the file: {e}", p.display()))
                })?;
                let color = color_for(&f, when);
                Ok(Self {
                    sink: Sink::File(io::BufWriter::new(f), p.to_path_buf()),
                    color,
                    width: WIDE,
                    closed: false,
                })
            }
        }
    }

    fn name(&self) -> String {
        match &self.sink {
            Sink::Stdout(_) => "standard output".into(),
            Sink::File(_, p) => p.display().to_string(),
        }
    }

    fn check(&mut self, r: io::Result<()>) -> Result<(), WriteError> {
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(e) => Err(WriteError(format!("cannot write to {}: {e}", self.name()))),
        }
    }

    /// Write all of `s`. A closed pipe ends the output silently; any other
    /// failure (a full disk, an I/O error) is returned.
    pub fn write_str(&mut self, s: &str) -> Result<(), WriteError> {
        if self.closed {
            return Ok(());
        }
        let r = match &mut self.sink {
            Sink::Stdout(o) => o.lock().write_all(s.as_bytes()),
            Sink::File(f, _) => f.write_all(s.as_bytes()),
        };
        self.check(r)
    }

    /// Flush everything: the last buffered bytes may be what fails on a full disk.
    pub fn finish(mut self) -> Result<(), WriteError> {
        if self.closed {
            return Ok(());
        }
        let r = match &mut self.sink {
            Sink::Stdout(o) => o.lock().flush(),
            Sink::File(f, _) => f.flush(),
        };
        self.check(r)
    }
}
