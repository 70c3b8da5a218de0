//! The on-disk cache of what module files' DWARF yielded (`src/symbols/diskcache.rs`):
//! a warm run gives the same report without reading any DWARF section, a corrupt
//! entry is ignored with a warning and changes nothing in the output, and with the
//! cache off nothing is written. Every test points the cache at its own temporary
//! folder: none depends on the user's cache.

use std::path::{Path, PathBuf};

mod support;

use mutexdiag::analysis::{Analyzer, AnalyzerConfig, CoreOptions};
use mutexdiag::internals::symbols::DiskCache;
use support::{fixture, fixture_cores};

/// One analysis as one process makes it: a fresh analyzer keeping nothing in memory.
fn analyse(
    core: &Path,
    app: &Path,
    disk: Option<DiskCache>,
) -> (String, mutexdiag::internals::symbols::CacheStats) {
    let a = Analyzer::new(AnalyzerConfig {
        cache_entries: 0,
        disk_cache: disk,
        ..AnalyzerConfig::default()
    });
    let opts = CoreOptions {
        binary: Some(app.to_path_buf()),
        ..CoreOptions::default()
    };
    let r = a.analyze(core, &opts).expect("analysis");
    (
        serde_json::to_string_pretty(&r).expect("serialise"),
        a.stats(),
    )
}

#[test]
fn warm_runs_read_no_dwarf_and_report_the_same() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let disk = DiskCache::new(tmp.path());
    let mut cold_read = 0;
    let mut warm_reused = 0;
    let cores = fixture_cores();
    assert!(cores.len() >= 20, "fixture cores: {}", cores.len());
    for f in &cores {
        let (core, app) = (&f.core, &f.app());
        let (reference, _) = analyse(core, app, None);
        let (cold, c) = analyse(core, app, Some(disk.clone()));
        let (warm, w) = analyse(core, app, Some(disk.clone()));
        let name = core.display();
        assert_eq!(cold, reference, "{name}: cold run with the cache");
        assert_eq!(warm, reference, "{name}: warm run");
        cold_read += c.dwarf_sections_read;
        if w.dwarf_loads > 0 && has_file_without_build_id(core, app) {
            // Only files with a GNU build-id are kept on disk (a file without one
            // has nothing that names it for good): its DWARF is read again.
            eprintln!("{name}: a module file has no build-id: its DWARF is read again");
            assert_eq!(w.dwarf_variable_walks, c.dwarf_variable_walks, "{name}");
            continue;
        }
        // Everything the warm run needed from the DWARF came from the cache.
        assert_eq!(w.dwarf_loads, 0, "{name}: {w:?}");
        assert_eq!(w.dwarf_sections_read, 0, "{name}: {w:?}");
        assert_eq!(w.dwarf_variable_walks, 0, "{name}: {w:?}");
        assert_eq!(w.disk_entries_rejected, 0, "{name}: {w:?}");
        if c.dwarf_loads > 0 {
            assert!(w.disk_entries_read > 0, "{name}: {w:?}");
            assert!(w.answers_reused > 0, "{name}: {w:?}");
        }
        warm_reused += w.answers_reused;
    }
    eprintln!(
        "{} cores: cold runs read {cold_read} DWARF sections, warm runs none ({warm_reused} answers reused)",
        cores.len()
    );
    // The fixtures' executables carry DWARF of their own: the cold runs read it.
    assert!(cold_read > 0);
    assert!(warm_reused > 0);
    let entries = std::fs::read_dir(disk.dir()).expect("cache folder").count();
    assert!(entries > 0);
}

/// A verified module file of the core has DWARF but no build-id.
fn has_file_without_build_id(core: &Path, app: &Path) -> bool {
    let f = mutexdiag::CoreFile::open(core, &mutexdiag::input::InputOptions::default())
        .expect("open the core");
    let parsed = f.parse().expect("parse the core");
    let maps = mutexdiag::internals::mappings::build(&parsed);
    let opts = mutexdiag::internals::symbols::SymbolOptions::new(
        Some(app.to_path_buf()),
        PathBuf::from("/"),
        Vec::new(),
    );
    let modules = mutexdiag::internals::symbols::Modules::load(&parsed, &maps, &opts);
    modules
        .iter()
        .any(|m| m.object().is_some() && m.file_build_id.is_none() && m.has_own_dwarf)
}

fn mutexdiag(core: &Path, app: &Path, cache_home: &Path, cache: &str) -> (String, String) {
    let out = support::mutexdiag()
        .arg(core)
        .arg("--binary")
        .arg(app)
        .args(["--format", "json"])
        .env("XDG_CACHE_HOME", cache_home)
        .env("MUTEXDIAG_CACHE", cache)
        .output()
        .expect("run mutexdiag");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A way to damage entry `i` whose good content is given.
type Damage<'a> = dyn Fn(usize, &[u8]) -> Vec<u8> + 'a;

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn corrupt_entries_are_ignored_with_a_warning() {
    let core = fixture("abba/core.main.zst");
    let app = fixture("abba/app");
    let home = tempfile::tempdir().expect("temp dir");
    let dir = DiskCache::new(&home.path().join("mutexdiag"))
        .dir()
        .to_path_buf();
    let (reference, _) = mutexdiag(&core, &app, home.path(), "off");
    assert!(
        entries(&dir).is_empty(),
        "MUTEXDIAG_CACHE=off wrote {dir:?}"
    );
    let (cold, err) = mutexdiag(&core, &app, home.path(), "on");
    assert_eq!(cold, reference);
    assert!(!err.contains("cache entry"), "{err}");
    let files = entries(&dir);
    assert!(!files.is_empty(), "no entry written in {dir:?}");
    // Four kinds of damage, one per round: truncated, garbage, another entry's
    // content (another build-id), another format version.
    let good: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let damages: [&Damage<'_>; 4] = [
        &|_, b| b[..b.len() / 2].to_vec(),
        &|_, _| b"\x00\xffnot json at all".to_vec(),
        &|i, _| good[(i + 1) % good.len()].clone(),
        &|_, b| {
            String::from_utf8_lossy(b)
                .replacen("\"version\":1", "\"version\":999", 1)
                .into_bytes()
        },
    ];
    for (round, damage) in damages.iter().enumerate() {
        for (i, f) in files.iter().enumerate() {
            std::fs::write(f, damage(i, &good[i])).unwrap();
        }
        let (out, err) = mutexdiag(&core, &app, home.path(), "on");
        assert_eq!(out, reference, "damage {round}: the output changed");
        if round == 2 && files.len() < 2 {
            continue; // one entry: swapping contents damages nothing
        }
        assert!(
            err.contains("warning: cache entry ignored") && err.contains(".json"),
            "damage {round}: no warning naming the entry: {err}"
        );
        // The run rewrote the entries: the next one warns no more.
        let (out, err) = mutexdiag(&core, &app, home.path(), "on");
        assert_eq!(out, reference);
        assert!(!err.contains("cache entry"), "damage {round}: {err}");
    }
}

#[test]
fn the_cache_folder_is_bounded() {
    // Entries are written whole (temp file + rename) and the folder trimmed to
    // its bound after each write: fill it past the bound with old files and
    // check that one analysis brings it back under.
    let home = tempfile::tempdir().expect("temp dir");
    let disk = DiskCache::new(&home.path().join("mutexdiag"));
    std::fs::create_dir_all(disk.dir()).unwrap();
    let chunk = vec![b' '; 1 << 20];
    let n = (mutexdiag::internals::symbols::diskcache::MAX_TOTAL_BYTES >> 20) + 8;
    for i in 0..n {
        let p = disk.dir().join(format!("{i:040x}.json"));
        std::fs::write(&p, &chunk).unwrap();
        let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 + i);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }
    let core = fixture("abba/core.main.zst");
    let app = fixture("abba/app");
    analyse(&core, &app, Some(disk.clone()));
    let total: u64 = entries(disk.dir())
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    assert!(
        total <= mutexdiag::internals::symbols::diskcache::MAX_TOTAL_BYTES,
        "{total} bytes left"
    );
    // The oldest went first; the entries just written stayed.
    assert!(!disk.dir().join(format!("{:040x}.json", 0)).exists());
    assert!(
        entries(disk.dir())
            .iter()
            .any(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0) < (1 << 20))
    );
}
