//! Compressed cores (zstd, xz, lz4 frame, gzip) are expanded transparently and give
//! exactly what the plain core gives.

use std::io::Write;

use mutexdiag::input::InputOptions;

mod support;

fn plain() -> Vec<u8> {
    support::decompress(&support::fixture("threads-contention/core.main.zst"))
}

#[test]
fn every_format_gives_the_same_threads_and_maps() {
    let raw = plain();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    let plain_path = dir.path().join("core");
    std::fs::write(&plain_path, &raw).unwrap();
    files.push(("zstd", zstd::encode_all(&raw[..], 3).unwrap()));
    let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
    xz.write_all(&raw).unwrap();
    files.push(("xz", xz.finish().unwrap()));
    let mut lz = lz4_flex::frame::FrameEncoder::new(Vec::new());
    lz.write_all(&raw).unwrap();
    files.push(("lz4", lz.finish().unwrap()));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    files.push(("gzip", gz.finish().unwrap()));

    let opts = InputOptions::default();
    let want_t = serde_json::to_value(mutexdiag::threads(&plain_path, &opts).unwrap()).unwrap();
    let want_m = serde_json::to_value(mutexdiag::maps(&plain_path, &opts).unwrap()).unwrap();
    for (name, bytes) in files {
        let p = dir.path().join(format!("core.{name}"));
        std::fs::write(&p, bytes).unwrap();
        let t = serde_json::to_value(mutexdiag::threads(&p, &opts).unwrap()).unwrap();
        let m = serde_json::to_value(mutexdiag::maps(&p, &opts).unwrap()).unwrap();
        assert_eq!(t, want_t, "{name}");
        assert_eq!(m, want_m, "{name}");
    }
}
