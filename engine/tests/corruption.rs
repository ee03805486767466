//! A flipped byte in any file nestdb owns (Parquet segment, sidecar, index model) is detected
//! and reported with the file's name: never a panic, never a wrong answer.

mod common;

use std::path::{Path, PathBuf};

use nestdb::{Database, Error, Metric, StorageError, TableOptions};

fn build(dir: &Path) {
    let db = Database::open(dir).unwrap();
    let mut o = TableOptions::default();
    o.index.min_rows = 100;
    o.index.sample_queries = 10;
    let t = db
        .create_table_with("t", common::schema(16, Metric::Cosine), o)
        .unwrap();
    t.insert(&common::batch(&(0..200).collect::<Vec<_>>(), 16, 0))
        .unwrap();
    t.compact().unwrap(); // fits an index: index file + clustered segment
    t.insert(&common::batch(&(200..220).collect::<Vec<_>>(), 16, 0))
        .unwrap();
    t.flush().unwrap();
    assert!(db.describe("t").unwrap().index.is_some());
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// Opens the table in a copy of `base` where `file` had byte `at` flipped; returns the error.
fn open_corrupted(
    base: &Path,
    ext: &str,
    which: usize,
    at: impl Fn(usize) -> usize,
) -> (String, Error) {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(base, tmp.path());
    let f = files(tmp.path(), ext)[which].clone();
    let mut bytes = std::fs::read(&f).unwrap();
    let i = at(bytes.len());
    bytes[i] ^= 0x5a;
    std::fs::write(&f, &bytes).unwrap();
    let name = f.file_name().unwrap().to_string_lossy().into_owned();
    let db = Database::open(tmp.path()).unwrap();
    let err = match db.table("t") {
        Ok(t) => panic!(
            "{name}: flip at {i} not detected ({} rows readable)",
            t.count()
        ),
        Err(e) => e,
    };
    (name, err)
}

#[test]
fn flipped_bytes_are_detected_in_every_file_kind() {
    let base = tempfile::tempdir().unwrap();
    build(base.path());
    for ext in ["vec", "parquet", "nidx"] {
        let n = files(base.path(), ext).len();
        assert!(n >= 1, "no .{ext} file to corrupt");
        for which in 0..n {
            for frac in [0.0, 0.1, 0.5, 0.9, 0.999] {
                let (name, err) = open_corrupted(base.path(), ext, which, |len| {
                    ((len as f64 * frac) as usize).min(len - 1)
                });
                let msg = err.to_string();
                assert!(matches!(err, Error::Storage(_)), "{name}: {err:?}");
                assert!(
                    msg.contains(&name),
                    "error does not name the file {name}: {msg}"
                );
            }
        }
    }
}

#[test]
fn unknown_sidecar_version_is_reported() {
    let base = tempfile::tempdir().unwrap();
    build(base.path());
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(base.path(), tmp.path());
    let f = files(tmp.path(), "vec")[0].clone();
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[8] = 99; // format version
    let n = bytes.len();
    let crc = crc32fast::hash(&bytes[..n - 8]);
    bytes[n - 8..n - 4].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&f, &bytes).unwrap();
    let db = Database::open(tmp.path()).unwrap();
    match db.table("t") {
        Err(Error::Storage(StorageError::UnsupportedVersion {
            found: 99, path, ..
        })) => assert_eq!(path, f),
        Err(e) => panic!("wrong error: {e:?}"),
        Ok(_) => panic!("unknown version accepted"),
    }
}

#[test]
fn missing_segment_file_is_reported() {
    let base = tempfile::tempdir().unwrap();
    build(base.path());
    let f = files(base.path(), "parquet")[0].clone();
    std::fs::remove_file(&f).unwrap();
    let db = Database::open(base.path()).unwrap();
    let err = db.table("t").err().expect("missing file not detected");
    assert!(
        err.to_string()
            .contains(&*f.file_name().unwrap().to_string_lossy()),
        "{err}"
    );
}
