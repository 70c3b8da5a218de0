//! apport `.crash` reports (`/var/crash`).
//!
//! The format, from apport's `problem_report.py` (`ProblemReport.write`): RFC 822-like
//! `Key: value` lines; a multi-line value is written as `Key:` followed by lines that
//! start with one space. Text keys come first (sorted, `ProblemType` first), then the
//! binary keys, each written as `Key: base64` followed by continuation lines: the
//! first holds the base64 of a gzip header (FNAME = the key), each following one the
//! base64 of one block of raw deflate output, and the last one the final block with the
//! gzip trailer (CRC-32, size). Every line is base64-encoded on its own, so padded on
//! its own: decoding line by line and concatenating gives one gzip stream. Older
//! reports used a zlib stream instead (no gzip header); both are read.
//!
//! The scan reads the text keys and the first lines of `CoreDump` (enough to see an
//! ELF core header), and remembers where `CoreDump` starts; the core is expanded later,
//! line by line, straight into a temporary file.

use std::io::{self, BufRead, Write};

use base64::Engine;

use super::Meta;

/// Longest value kept for a text key (ProcMaps of a big process; longer is cut).
const MAX_VALUE: usize = 16 << 20;
/// Longest line kept while reading text keys (the rest of a longer line is skipped).
const MAX_LINE: usize = 1 << 20;
/// Most bytes read to get through the text keys to `CoreDump`.
pub const MAX_TEXT: u64 = 64 << 20;

/// What the scan learnt from a report.
#[derive(Debug, Default)]
pub struct Report {
    pub meta: Meta,
    /// Byte offset of the first continuation line of `CoreDump`, if there is one.
    pub core_at: Option<u64>,
    /// The first bytes of the expanded `CoreDump`.
    pub core_head: Vec<u8>,
    /// Bytes read.
    pub read: u64,
}

/// Read a line into `buf` (without the newline), keeping at most `cap` bytes and
/// consuming the rest. Returns bytes consumed (0 at end of input).
fn read_line(r: &mut dyn BufRead, buf: &mut Vec<u8>, cap: usize) -> io::Result<usize> {
    buf.clear();
    let mut used = 0;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(used);
        }
        let (chunk, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (&avail[..i], Some(i + 1)),
            None => (avail, None),
        };
        let room = cap.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let n = done.unwrap_or(avail.len());
        r.consume(n);
        used += n;
        if done.is_some() {
            return Ok(used);
        }
    }
}

/// Parse the text keys of a report and peek at its `CoreDump`. `r` starts at the
/// beginning of the report.
pub fn scan(r: &mut dyn BufRead, head_len: usize) -> io::Result<Report> {
    let mut rep = Report::default();
    let mut line = Vec::new();
    let mut key: Option<String> = None;
    let mut value: Vec<u8> = Vec::new();
    let mut pos: u64 = 0;
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut in_binary = false;
    loop {
        if pos > MAX_TEXT {
            break;
        }
        let n = read_line(r, &mut line, MAX_LINE)?;
        if n == 0 {
            break;
        }
        pos += n as u64;
        if line.first() == Some(&b' ') {
            if !in_binary && key.is_some() && value.len() < MAX_VALUE {
                if !value.is_empty() {
                    value.push(b'\n');
                }
                let room = MAX_VALUE - value.len();
                value.extend_from_slice(&line[1..line.len().min(room + 1)]);
            }
            continue;
        }
        if let Some(k) = key.take()
            && !in_binary
        {
            fields.push((k, String::from_utf8_lossy(&value).into_owned()));
        }
        value.clear();
        in_binary = false;
        let Some(colon) = memchr::memchr(b':', &line) else {
            // Not a report line: stop reading (a malformed report is read as far as it is valid).
            break;
        };
        let k = String::from_utf8_lossy(&line[..colon]).into_owned();
        let v = line[colon + 1..].trim_ascii();
        if v == b"base64" {
            in_binary = true;
            if k == "CoreDump" {
                rep.core_at = Some(pos);
                rep.core_head = peek_core(r, head_len, &mut pos)?;
                break;
            }
            key = Some(k);
            continue;
        }
        value.extend_from_slice(v);
        key = Some(k);
    }
    if let Some(k) = key
        && !in_binary
    {
        fields.push((k, String::from_utf8_lossy(&value).into_owned()));
    }
    rep.read = pos;
    for (k, v) in fields {
        apply(&mut rep.meta, &k, v);
    }
    Ok(rep)
}

fn apply(meta: &mut Meta, key: &str, v: String) {
    match key {
        "ExecutablePath" => meta.exe = Some(v),
        "ProcCmdline" => meta.cmdline = Some(v),
        "ProcMaps" => meta.proc_maps = Some(v),
        "Signal" => meta.signal = v.trim().parse().ok(),
        "Date" => meta.timestamp = parse_date(&v, &jiff::tz::TimeZone::system()),
        "ProcStatus" => {
            for l in v.lines() {
                let mut it = l.splitn(2, ':');
                let (Some(k), Some(val)) = (it.next(), it.next()) else {
                    continue;
                };
                let first = val.split_whitespace().next();
                match k {
                    "Name" => meta.comm = Some(val.trim().to_owned()),
                    "Pid" => meta.pid = first.and_then(|s| s.parse().ok()),
                    "Uid" => meta.uid = first.and_then(|s| s.parse().ok()),
                    "Gid" => meta.gid = first.and_then(|s| s.parse().ok()),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// apport's `Date` is `time.asctime()` of the crashing machine's local time, without a
/// zone (apport reads it back with `time.mktime`, in the reader's zone). It is read
/// the same way, in `tz` (the system's zone), and given in UTC.
pub fn parse_date(s: &str, tz: &jiff::tz::TimeZone) -> Option<String> {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let dt = jiff::civil::DateTime::strptime("%a %b %d %H:%M:%S %Y", &s).ok()?;
    let ts = tz.to_timestamp(dt).ok()?;
    super::rfc3339_secs(ts.as_second())
}

/// Decode the first continuation lines of `CoreDump` until `want` expanded bytes.
fn peek_core(r: &mut dyn BufRead, want: usize, pos: &mut u64) -> io::Result<Vec<u8>> {
    let mut sink = HeadSink {
        buf: Vec::new(),
        cap: want,
    };
    let mut dec = CoreDecoder::new(&mut sink);
    // A decoding error leaves what was expanded before it: too short to be a core.
    let _ = stream_value(r, &mut dec, pos, &|d| d.expanded() >= want);
    drop(dec);
    Ok(sink.buf)
}

/// Feed the continuation lines of a base64 value to `dec`, streaming (a line is
/// never held whole), until the value ends or `enough` says so. `pos` counts the
/// bytes consumed.
fn stream_value<W: Write>(
    r: &mut dyn BufRead,
    dec: &mut CoreDecoder<W>,
    pos: &mut u64,
    enough: &dyn Fn(&CoreDecoder<W>) -> bool,
) -> io::Result<()> {
    loop {
        if enough(dec) {
            return Ok(());
        }
        // Start of a line: a continuation line starts with a space.
        match fill(r)?.first() {
            Some(b' ') => {
                r.consume(1);
                *pos += 1;
            }
            _ => return Ok(()),
        }
        loop {
            let avail = fill(r)?;
            if avail.is_empty() {
                // End of input inside a line.
                dec.end_line()?;
                return Ok(());
            }
            let nl = memchr::memchr(b'\n', avail);
            let n = nl.unwrap_or(avail.len());
            let res = dec.push(&avail[..n]);
            let used = n + usize::from(nl.is_some());
            r.consume(used);
            *pos += used as u64;
            res?;
            if nl.is_some() {
                dec.end_line()?;
                break;
            }
            if enough(dec) {
                return Ok(());
            }
        }
    }
}

fn fill(r: &mut dyn BufRead) -> io::Result<&[u8]> {
    loop {
        match r.fill_buf() {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    r.fill_buf()
}

/// Keeps the first `cap` bytes written, accepts and drops the rest.
struct HeadSink {
    buf: Vec<u8>,
    cap: usize,
}
impl Write for HeadSink {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let room = self.cap.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&b[..b.len().min(room)]);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Inflate<W: Write> {
    /// Nothing decoded yet: the first bytes say gzip or legacy zlib.
    Start(Option<W>),
    Gzip(flate2::write::GzDecoder<Counter<W>>),
    Zlib(flate2::write::ZlibDecoder<Counter<W>>),
}

/// Counts bytes written through.
struct Counter<W> {
    inner: W,
    n: u64,
}
impl<W: Write> Write for Counter<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(b)?;
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Decodes `CoreDump` continuation lines (base64, each padded on its own) and
/// inflates the gzip (or legacy zlib) stream into `W`.
pub struct CoreDecoder<W: Write> {
    inflate: Inflate<W>,
    /// Base64 characters of a group not yet complete.
    carry: Vec<u8>,
    out: Vec<u8>,
}

impl<W: Write> CoreDecoder<W> {
    pub fn new(w: W) -> Self {
        CoreDecoder {
            inflate: Inflate::Start(Some(w)),
            carry: Vec::with_capacity(4),
            out: Vec::with_capacity(4096),
        }
    }

    pub fn expanded(&self) -> usize {
        match &self.inflate {
            Inflate::Start(_) => 0,
            Inflate::Gzip(d) => d.get_ref().n as usize,
            Inflate::Zlib(d) => d.get_ref().n as usize,
        }
    }

    /// Part of a continuation line (without its leading space). Base64 is decoded
    /// in groups of four characters; a group with padding ends a padded chunk, so a
    /// line may hold several chunks as long as each is padded.
    pub fn push(&mut self, part: &[u8]) -> io::Result<()> {
        self.out.clear();
        let mut quad = std::mem::take(&mut self.carry);
        let mut run: Vec<u8> = Vec::with_capacity(part.len() + 4);
        let flush = |run: &mut Vec<u8>, out: &mut Vec<u8>| -> io::Result<()> {
            if !run.is_empty() {
                base64::engine::general_purpose::STANDARD
                    .decode_vec(&run[..], out)
                    .map_err(|e| bad(format!("invalid base64: {e}")))?;
                run.clear();
            }
            Ok(())
        };
        for &c in part {
            if c.is_ascii_whitespace() {
                continue;
            }
            quad.push(c);
            if quad.len() == 4 {
                run.extend_from_slice(&quad);
                if quad.contains(&b'=') {
                    flush(&mut run, &mut self.out)?;
                }
                quad.clear();
            }
        }
        flush(&mut run, &mut self.out)?;
        self.carry = quad;
        let out = std::mem::take(&mut self.out);
        let r = self.feed(&out);
        self.out = out;
        r
    }

    /// End of a continuation line: it must end on a whole base64 group.
    pub fn end_line(&mut self) -> io::Result<()> {
        if self.carry.is_empty() {
            Ok(())
        } else {
            Err(bad(format!(
                "base64 line does not end on a group of four characters ({} left over)",
                self.carry.len()
            )))
        }
    }

    fn feed(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        if let Inflate::Start(w) = &mut self.inflate {
            let Some(w) = w.take() else {
                return Err(bad("decoder used after an error".into()));
            };
            let c = Counter { inner: w, n: 0 };
            self.inflate = if data.starts_with(b"\x1f\x8b\x08") {
                Inflate::Gzip(flate2::write::GzDecoder::new(c))
            } else {
                Inflate::Zlib(flate2::write::ZlibDecoder::new(c))
            };
        }
        match &mut self.inflate {
            Inflate::Gzip(d) => d.write_all(data),
            Inflate::Zlib(d) => d.write_all(data),
            Inflate::Start(_) => Ok(()),
        }
    }

    /// End of the value: check the stream is complete; returns the expanded size.
    pub fn finish(self) -> io::Result<(W, u64)> {
        let c = match self.inflate {
            Inflate::Start(_) => return Err(bad("CoreDump is empty".into())),
            Inflate::Gzip(d) => d.finish()?,
            Inflate::Zlib(d) => d.finish()?,
        };
        Ok((c.inner, c.n))
    }
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Expand `CoreDump` from `r`, positioned at its first continuation line, into `w`.
/// Streams: memory is one read buffer, whatever the length of the lines.
pub fn expand<W: Write>(r: &mut dyn BufRead, w: W) -> io::Result<(W, u64)> {
    let mut dec = CoreDecoder::new(w);
    let mut pos = 0;
    stream_value(r, &mut dec, &mut pos, &|_| false)?;
    dec.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report written the way `ProblemReport.write` writes one.
    fn report(core: &[u8], block: usize) -> Vec<u8> {
        use flate2::Compression;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let mut out = b"ProblemType: Crash\nDate: Tue Dec  1 16:30:33 2026\nExecutablePath: /usr/bin/app\nProcMaps:\n 00400000-00401000 r-xp 00000000 08:01 1 /usr/bin/app\n 7f00-7f01 rw-s 0 00:01 2 /SYSV00000000 (deleted)\nProcStatus:\n Name:\tapp\n Pid:\t77\n Uid:\t1000\t1000\t1000\t1000\nSignal: 6\n".to_vec();
        out.extend_from_slice(b"CoreDump: base64\n ");
        let mut hdr = b"\x1f\x8b\x08\x08\x00\x00\x00\x00\x02\xff".to_vec();
        hdr.extend_from_slice(b"CoreDump\0");
        out.extend_from_slice(b64(&hdr).as_bytes());
        out.extend_from_slice(b"\n ");
        let mut comp = flate2::Compress::new(Compression::new(6), false);
        let mut crc = flate2::Crc::new();
        crc.update(core);
        for chunk in core.chunks(block) {
            let mut o = Vec::with_capacity(chunk.len() + 1024);
            comp.compress_vec(chunk, &mut o, flate2::FlushCompress::None)
                .unwrap();
            if !o.is_empty() {
                out.extend_from_slice(b64(&o).as_bytes());
                out.extend_from_slice(b"\n ");
            }
        }
        let mut o = Vec::with_capacity(1 << 16);
        comp.compress_vec(&[], &mut o, flate2::FlushCompress::Finish)
            .unwrap();
        o.extend_from_slice(&crc.sum().to_le_bytes());
        o.extend_from_slice(&(core.len() as u32).to_le_bytes());
        out.extend_from_slice(b64(&o).as_bytes());
        out.extend_from_slice(b"\n");
        out.extend_from_slice(b"UserGroups: base64\n H4sIAAAAAAAA/wMAAAAAAAAAAAA=\n");
        out
    }

    #[test]
    fn scans_and_expands_a_report() {
        let mut core = b"\x7fELF\x02\x01\x01".to_vec();
        core.extend((0..300_000u32).map(|i| (i * 7 % 251) as u8));
        let rep = report(&core, 4096);
        let mut r = io::Cursor::new(&rep);
        let s = scan(&mut r, 64).unwrap();
        assert_eq!(s.core_head, core[..64]);
        assert_eq!(s.meta.exe.as_deref(), Some("/usr/bin/app"));
        assert_eq!(s.meta.signal, Some(6));
        assert_eq!(s.meta.pid, Some(77));
        assert_eq!(s.meta.uid, Some(1000));
        assert_eq!(s.meta.comm.as_deref(), Some("app"));
        assert!(s.meta.proc_maps.as_deref().unwrap().contains("rw-s"));
        let at = s.core_at.unwrap() as usize;
        let mut r2 = io::Cursor::new(&rep[at..]);
        let (got, n) = expand(&mut r2, Vec::new()).unwrap();
        assert_eq!(n, core.len() as u64);
        assert_eq!(got, core);
    }

    /// `CompressedValue` values are written as one base64 line of the whole gzip
    /// stream: a line of several MiB, read without holding it.
    #[test]
    fn one_long_line_streams() {
        use std::io::Write as _;
        let core: Vec<u8> = b"\x7fELF\x02\x01\x01"
            .iter()
            .copied()
            .chain((0..3_000_000u32).scan(0x9e37_79b9_7f4a_7c15u64, |x, _| {
                *x ^= *x << 13;
                *x ^= *x >> 7;
                *x ^= *x << 17;
                Some((*x >> 24) as u8)
            }))
            .collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&core).unwrap();
        let gz = gz.finish().unwrap();
        let mut rep = b"ProblemType: Crash\nCoreDump: base64\n ".to_vec();
        rep.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(&gz)
                .as_bytes(),
        );
        rep.extend_from_slice(b"\nUserGroups: \n");
        assert!(rep.len() > 3 * MAX_LINE);
        let s = scan(&mut io::BufReader::with_capacity(8192, &rep[..]), 64).unwrap();
        assert_eq!(s.core_head, core[..64]);
        assert!(s.read < 64 << 10, "peeked {} bytes", s.read);
        let at = s.core_at.unwrap() as usize;
        let (got, n) = expand(
            &mut io::BufReader::with_capacity(8192, &rep[at..]),
            Vec::new(),
        )
        .unwrap();
        assert_eq!(n, core.len() as u64);
        assert!(got == core);
    }

    #[test]
    fn a_corrupt_line_is_an_error() {
        let core = vec![7u8; 10_000];
        let rep = report(&core, 1000);
        let s = scan(&mut io::Cursor::new(&rep), 64).unwrap();
        let at = s.core_at.unwrap() as usize;
        let mut bad = rep[at..].to_vec();
        let i = bad.len() / 2;
        bad[i] = b'!';
        assert!(expand(&mut io::Cursor::new(&bad), Vec::new()).is_err());
        // Cut short: the gzip trailer is missing.
        let cut = &rep[at..at + 40];
        assert!(expand(&mut io::Cursor::new(cut), Vec::new()).is_err());
    }

    #[test]
    fn dates_are_local_time_without_zone() {
        let utc = jiff::tz::TimeZone::UTC;
        assert_eq!(
            parse_date("Tue Dec  1 16:30:33 2026", &utc).as_deref(),
            Some("2026-12-01T16:30:33Z")
        );
        let paris = jiff::tz::TimeZone::fixed(jiff::tz::offset(1));
        assert_eq!(
            parse_date("Tue Dec  1 16:30:33 2026", &paris).as_deref(),
            Some("2026-12-01T15:30:33Z")
        );
        assert_eq!(parse_date("yesterday", &utc), None);
    }
}
