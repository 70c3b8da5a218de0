//! Path-safe lookup of files named by a core under a `--sysroot`.
//!
//! Paths read from a core (NT_FILE names, build-id paths, `.gnu_debuglink` names) are
//! written by whoever produced the core and must be treated as hostile. A
//! [`Sysroot`] interprets such a path as the process saw it, but inside the sysroot
//! directory, exactly as if the sysroot were `/` after a `chroot`:
//!
//! - the path is resolved one component at a time, and every symbolic link met on the
//!   way is followed *inside* the sysroot: an absolute target (`/lib/libc.so.6`) starts
//!   again at the sysroot, a relative one is taken from the link's directory;
//! - `..` never climbs above the sysroot (`/../../etc/passwd` is `<sysroot>/etc/passwd`),
//!   neither in the path nor in a link target;
//! - more than [`MAX_SYMLINKS`] links in one lookup (a loop, or a chain built to waste
//!   time) fail the lookup.
//!
//! The result is a path below [`Sysroot::root`] whose components are all real
//! directories or the final file: no symbolic link is left in it, so opening it cannot
//! leave the sysroot unless the tree is changed between the lookup and the open.
//! [`Sysroot::open`] closes that window too on Linux 5.6 and later by letting the
//! kernel do the same resolution (`openat2` with `RESOLVE_IN_ROOT`).
//!
//! Callers join relative names themselves before resolving: a debuglink `foo.debug`
//! of `/usr/bin/foo` is looked up as `/usr/bin/foo.debug`, `/usr/bin/.debug/foo.debug`
//! and `/usr/lib/debug/usr/bin/foo.debug`; a build-id as
//! `/usr/lib/debug/.build-id/ab/cdef….debug`. A relative path given to
//! [`Sysroot::resolve`] is taken from the sysroot's root.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};

/// The most symbolic links one lookup follows (Linux's own limit is 40).
pub const MAX_SYMLINKS: usize = 40;

/// The most components one lookup handles, link targets included (bounds the work a
/// hostile tree of long link targets can cause).
pub const MAX_COMPONENTS: usize = 4096;

/// A directory standing for `/` of the machine a core came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sysroot {
    root: PathBuf,
}

impl Sysroot {
    /// Use `dir` as the sysroot. It must be an existing directory; it is made
    /// absolute and its own symbolic links are resolved once, here.
    pub fn new(dir: impl AsRef<Path>) -> io::Result<Sysroot> {
        let root = std::fs::canonicalize(dir.as_ref())?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(Sysroot { root })
    }

    /// The sysroot directory (absolute, without symbolic links).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `core_path` (a path as the crashed process saw it) is inside the
    /// sysroot, with every symbolic link resolved inside it. `None` when it does not
    /// exist there, a component before the last is not a directory, or the lookup
    /// meets more than [`MAX_SYMLINKS`] links.
    pub fn resolve(&self, core_path: impl AsRef<Path>) -> Option<PathBuf> {
        let mut todo: Vec<OsString> = Vec::new();
        push_components(&mut todo, core_path.as_ref())?;
        // Resolved components below the root (all real directories, then the file).
        let mut cur: Vec<OsString> = Vec::new();
        let mut links = 0usize;
        let mut steps = 0usize;
        // `todo` is a stack: its last element is the next component.
        while let Some(name) = todo.pop() {
            steps += 1;
            if steps > MAX_COMPONENTS {
                return None;
            }
            if name.is_empty() {
                // Marks an absolute link target: start again at the root.
                cur.clear();
                continue;
            }
            if name == ".." {
                cur.pop();
                continue;
            }
            let mut here = self.root.clone();
            here.extend(&cur);
            here.push(&name);
            let meta = std::fs::symlink_metadata(&here).ok()?;
            if meta.file_type().is_symlink() {
                links += 1;
                if links > MAX_SYMLINKS {
                    return None;
                }
                let target = std::fs::read_link(&here).ok()?;
                push_components(&mut todo, &target)?;
                continue;
            }
            if !todo.is_empty() && !meta.is_dir() {
                // A file used as a directory (and not a `..` that would undo it: the
                // kernel refuses `file/..` too).
                return None;
            }
            cur.push(name);
        }
        let mut out = self.root.clone();
        out.extend(&cur);
        Some(out)
    }

    /// Open `core_path` read-only inside the sysroot, resolving it as
    /// [`Sysroot::resolve`] does. On Linux the kernel resolves the path itself
    /// (`openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`), so a tree changed during
    /// the lookup still cannot lead outside the sysroot; elsewhere, or on kernels
    /// older than 5.6, the path from [`Sysroot::resolve`] is opened.
    pub fn open(&self, core_path: impl AsRef<Path>) -> io::Result<File> {
        let core_path = core_path.as_ref();
        #[cfg(target_os = "linux")]
        match openat2_in_root(&self.root, core_path) {
            Ok(f) => return Ok(f),
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {}
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
            Err(e) => return Err(e),
        }
        match self.resolve(core_path) {
            Some(p) => File::open(p),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} not found under {}",
                    core_path.display(),
                    self.root.display()
                ),
            )),
        }
    }
}

/// Push the components of `p` on the stack `todo` so that they pop in order. An
/// absolute path pushes an empty marker first (popped first: back to the root).
fn push_components(todo: &mut Vec<OsString>, p: &Path) -> Option<()> {
    let mut parts: Vec<OsString> = Vec::new();
    for c in p.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => {
                parts.clear();
                parts.push(OsString::new());
            }
            Component::CurDir => {}
            Component::ParentDir => parts.push(OsString::from("..")),
            Component::Normal(n) => parts.push(n.to_owned()),
        }
        if parts.len() + todo.len() > MAX_COMPONENTS {
            return None;
        }
    }
    todo.extend(parts.into_iter().rev());
    Some(())
}

#[cfg(target_os = "linux")]
fn openat2_in_root(root: &Path, p: &Path) -> io::Result<File> {
    use std::ffi::CString;
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::ffi::OsStrExt;

    let dir = File::open(root)?;
    // RESOLVE_IN_ROOT takes an absolute path from `dir` as well; strip the leading
    // slashes anyway so the call is the same on every kernel.
    let rel = p.as_os_str().as_bytes();
    let rel = match rel.iter().position(|&b| b != b'/') {
        Some(i) => &rel[i..],
        None => b".".as_slice(),
    };
    let c = CString::new(rel).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `open_how` is a plain C struct; all-zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: the arguments are a valid directory fd, a NUL-terminated path, and a
    // pointer to an `open_how` of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new file descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Read;
    use std::os::unix::fs::symlink;

    /// A sysroot next to a directory `outside/` holding `secret`, and inside the
    /// sysroot a decoy `outside/secret` and a real `usr/lib/libc.so.6`.
    fn tree() -> (tempfile::TempDir, Sysroot, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret"), "outside").unwrap();
        let sr = t.path().join("sysroot");
        fs::create_dir_all(sr.join("usr/lib")).unwrap();
        fs::create_dir_all(sr.join("usr/bin")).unwrap();
        fs::create_dir_all(sr.join("outside")).unwrap();
        fs::write(sr.join("outside/secret"), "decoy").unwrap();
        fs::write(sr.join("usr/lib/libc.so.6"), "libc").unwrap();
        fs::write(sr.join("usr/bin/app"), "app").unwrap();
        let s = Sysroot::new(&sr).unwrap();
        (t, s, outside)
    }

    fn read(p: &Path) -> String {
        fs::read_to_string(p).unwrap()
    }

    fn read_open(s: &Sysroot, p: &str) -> Option<String> {
        let mut f = s.open(p).ok()?;
        let mut out = String::new();
        f.read_to_string(&mut out).unwrap();
        Some(out)
    }

    /// Every result is inside the root, and is its own canonical form (no link left).
    fn inside(s: &Sysroot, p: &Path) {
        assert!(p.starts_with(s.root()), "{} escaped", p.display());
        assert_eq!(fs::canonicalize(p).unwrap(), p);
    }

    #[test]
    fn plain_paths() {
        let (_t, s, _) = tree();
        let p = s.resolve("/usr/lib/libc.so.6").unwrap();
        inside(&s, &p);
        assert_eq!(read(&p), "libc");
        assert_eq!(s.resolve("usr/lib/libc.so.6").unwrap(), p);
        assert_eq!(s.resolve("/usr/./lib//libc.so.6").unwrap(), p);
        assert_eq!(s.resolve("/").unwrap(), s.root());
        assert_eq!(s.resolve("").unwrap(), s.root());
        assert!(s.resolve("/usr/lib/missing.so").is_none());
        // A file used as a directory.
        assert!(s.resolve("/usr/lib/libc.so.6/x").is_none());
        assert_eq!(read_open(&s, "/usr/lib/libc.so.6").as_deref(), Some("libc"));
    }

    #[test]
    fn dotdot_is_clamped_at_the_root() {
        let (_t, s, _) = tree();
        for p in [
            "/../outside/secret",
            "/../../../../outside/secret",
            "../outside/secret",
            "/usr/../../outside/secret",
            "/usr/lib/../../../../outside/secret",
        ] {
            let r = s.resolve(p).unwrap();
            inside(&s, &r);
            assert_eq!(read(&r), "decoy", "{p}");
            assert_eq!(read_open(&s, p).as_deref(), Some("decoy"), "{p}");
        }
        assert_eq!(s.resolve("/..").unwrap(), s.root());
    }

    #[test]
    fn absolute_links_are_rerooted() {
        let (_t, s, outside) = tree();
        let lib = s.root().join("usr/lib");
        // Absolute link to a path that exists only on the host: not found.
        symlink(outside.join("secret"), lib.join("host-secret")).unwrap();
        assert!(s.resolve("/usr/lib/host-secret").is_none());
        assert!(read_open(&s, "/usr/lib/host-secret").is_none());
        // Absolute link to `/outside/secret`: the sysroot's decoy.
        symlink("/outside/secret", lib.join("abs")).unwrap();
        let r = s.resolve("/usr/lib/abs").unwrap();
        inside(&s, &r);
        assert_eq!(read(&r), "decoy");
        assert_eq!(read_open(&s, "/usr/lib/abs").as_deref(), Some("decoy"));
        // A Debian-style /lib -> usr/lib and an absolute libc link.
        symlink("usr/lib", s.root().join("lib")).unwrap();
        symlink("/lib/libc.so.6", lib.join("libc-abs.so")).unwrap();
        let r = s.resolve("/lib/libc-abs.so").unwrap();
        assert_eq!(r, s.root().join("usr/lib/libc.so.6"));
        // A link to `/` itself.
        symlink("/", lib.join("root")).unwrap();
        assert_eq!(s.resolve("/usr/lib/root").unwrap(), s.root());
        let r = s.resolve("/usr/lib/root/../../outside/secret").unwrap();
        assert_eq!(read(&r), "decoy");
    }

    #[test]
    fn relative_links_cannot_climb_out() {
        let (_t, s, _) = tree();
        let lib = s.root().join("usr/lib");
        // Enough `..` to leave the sysroot on the host: clamped.
        symlink("../../../../../../../../outside/secret", lib.join("climb")).unwrap();
        let r = s.resolve("/usr/lib/climb").unwrap();
        inside(&s, &r);
        assert_eq!(read(&r), "decoy");
        assert_eq!(read_open(&s, "/usr/lib/climb").as_deref(), Some("decoy"));
        // Exactly enough `..` to reach the host directory holding the sysroot.
        symlink("../../../outside/secret", lib.join("climb3")).unwrap();
        assert_eq!(read(&s.resolve("/usr/lib/climb3").unwrap()), "decoy");
        // A directory link climbing out, then more path.
        symlink("../../..", lib.join("up")).unwrap();
        let r = s.resolve("/usr/lib/up/outside/secret").unwrap();
        assert_eq!(read(&r), "decoy");
        assert_eq!(
            read_open(&s, "/usr/lib/up/outside/secret").as_deref(),
            Some("decoy")
        );
    }

    #[test]
    fn dotdot_after_a_directory_link_follows_the_link() {
        let (_t, s, _) = tree();
        // /usr/lib64 -> lib ; /usr/lib64/../bin/app is /usr/bin/app.
        symlink("lib", s.root().join("usr/lib64")).unwrap();
        // /opt/l -> /usr/lib ; /opt/l/../bin/app is /usr/bin/app, not /opt/bin/app.
        fs::create_dir_all(s.root().join("opt/bin")).unwrap();
        fs::write(s.root().join("opt/bin/app"), "wrong").unwrap();
        symlink("/usr/lib", s.root().join("opt/l")).unwrap();
        assert_eq!(read(&s.resolve("/usr/lib64/../bin/app").unwrap()), "app");
        assert_eq!(read(&s.resolve("/opt/l/../bin/app").unwrap()), "app");
        assert_eq!(read_open(&s, "/opt/l/../bin/app").as_deref(), Some("app"));
    }

    #[test]
    fn loops_and_long_chains_fail() {
        let (_t, s, _) = tree();
        let d = s.root().join("usr/lib");
        symlink("b", d.join("a")).unwrap();
        symlink("a", d.join("b")).unwrap();
        assert!(s.resolve("/usr/lib/a").is_none());
        symlink("self/x", d.join("self")).unwrap();
        assert!(s.resolve("/usr/lib/self").is_none());
        // A chain of MAX_SYMLINKS links resolves; one more does not.
        for i in 0..=MAX_SYMLINKS {
            let target = if i == 0 {
                "libc.so.6".to_string()
            } else {
                format!("c{}", i - 1)
            };
            symlink(target, d.join(format!("c{i}"))).unwrap();
        }
        let ok = s
            .resolve(format!("/usr/lib/c{}", MAX_SYMLINKS - 1))
            .unwrap();
        assert_eq!(read(&ok), "libc");
        assert!(s.resolve(format!("/usr/lib/c{MAX_SYMLINKS}")).is_none());
        // A path of absurd length is refused without work proportional to it.
        let long = "/a".repeat(MAX_COMPONENTS + 1);
        assert!(s.resolve(long).is_none());
    }

    #[test]
    fn dangling_and_odd_names() {
        let (_t, s, _) = tree();
        let d = s.root().join("usr/lib");
        symlink("nowhere", d.join("dangling")).unwrap();
        assert!(s.resolve("/usr/lib/dangling").is_none());
        // Names as the kernel writes them in NT_FILE for unlinked files.
        assert!(s.resolve("/usr/lib/libc.so.6 (deleted)").is_none());
        assert!(s.resolve("/SYSV6d757478 (deleted)").is_none());
        assert!(read_open(&s, "/usr/lib/dangling").is_none());
    }

    /// The kernel's resolution (openat2 RESOLVE_IN_ROOT) and ours agree on the
    /// hostile links; skipped only where the kernel lacks openat2.
    #[cfg(target_os = "linux")]
    #[test]
    fn kernel_resolution_agrees() {
        let (_t, s, outside) = tree();
        let lib = s.root().join("usr/lib");
        symlink("../../../../../../outside/secret", lib.join("climb")).unwrap();
        symlink("/outside/secret", lib.join("abs")).unwrap();
        symlink(outside.join("secret"), lib.join("host")).unwrap();
        match openat2_in_root(s.root(), Path::new("/usr/lib/libc.so.6")) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) => {
                eprintln!("openat2 unavailable here ({e}): only the fallback is tested");
                return;
            }
            r => assert!(r.is_ok(), "{r:?}"),
        }
        for p in ["/usr/lib/climb", "/usr/lib/abs", "/../outside/secret"] {
            let mut f = openat2_in_root(s.root(), Path::new(p)).unwrap();
            let mut got = String::new();
            f.read_to_string(&mut got).unwrap();
            assert_eq!(got, "decoy", "{p}");
            assert_eq!(read(&s.resolve(p).unwrap()), "decoy", "{p}");
        }
        assert!(openat2_in_root(s.root(), Path::new("/usr/lib/host")).is_err());
        assert!(s.resolve("/usr/lib/host").is_none());
    }

    #[test]
    fn sysroot_given_through_a_link() {
        let (t, s, _) = tree();
        let via = t.path().join("via");
        symlink(s.root(), &via).unwrap();
        let s2 = Sysroot::new(&via).unwrap();
        assert_eq!(s2.root(), s.root());
        assert!(Sysroot::new(t.path().join("sysroot/usr/lib/libc.so.6")).is_err());
        assert!(Sysroot::new(t.path().join("missing")).is_err());
    }
}
