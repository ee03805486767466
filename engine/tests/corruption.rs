//! A flipped byte in any file nestdb owns (Parquet segment, sidecar, index model) is detected
//! and reported with the file's name: never a panic, never a wrong answer.
//!
//! Opening checks headers and footers only (opening costs nothing proportional to the data);
//! data blocks are verified the first time they are read, and `check()` verifies every byte.
//! So a flip is caught at open, or by the first read of its block (which then fails naming the
//! file), and always by `check()`; a read that never touches the block returns the right answer.

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

/// What a reader sees of the table: every row (all columns) and an exact and an approximate
/// search; an error when a read hits the corruption.
fn observe(db: &Database) -> nestdb::Result<Vec<String>> {
    let t = db.table("t")?;
    let snap = t.snapshot();
    let rows = snap.scan(None, None)?;
    let q = vec![0.25f32; 16];
    let exact = t.search(&q).limit(5).exact(true).execute()?;
    let approx = t.search(&q).limit(5).execute()?;
    Ok([rows, exact, approx]
        .iter()
        .map(|b| format!("{:?}", b.columns()))
        .collect())
}

/// Corrupts byte `at` of file `which` of kind `ext` in a copy of `base`: the damage must be
/// reported (naming the file) at open, by a read that touches it, or by check(); a read that
/// succeeds must return what the undamaged table returns.
fn corrupt_and_check(
    base: &Path,
    good: &[String],
    ext: &str,
    which: usize,
    at: impl Fn(usize) -> usize,
) {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(base, tmp.path());
    let f = files(tmp.path(), ext)[which].clone();
    let mut bytes = std::fs::read(&f).unwrap();
    let i = at(bytes.len());
    bytes[i] ^= 0x5a;
    std::fs::write(&f, &bytes).unwrap();
    let name = f.file_name().unwrap().to_string_lossy().into_owned();
    let db = Database::open(tmp.path()).unwrap();
    let named = |e: &Error| {
        assert!(matches!(e, Error::Storage(_)), "{name}@{i}: {e:?}");
        assert!(
            e.to_string().contains(&name),
            "error does not name the file {name}: {e}"
        );
    };
    match observe(&db) {
        Err(e) => named(&e),
        Ok(seen) => assert_eq!(seen, good, "{name}@{i}: a read returned a wrong answer"),
    }
    match db.check() {
        Err(e) => named(&e),
        Ok(problems) => assert!(
            problems.iter().any(|p| p.contains(&name)),
            "{name}: flip at {i} not found by check(): {problems:?}"
        ),
    }
}

#[test]
fn flipped_bytes_are_detected_in_every_file_kind() {
    let base = tempfile::tempdir().unwrap();
    build(base.path());
    let good = observe(&Database::open(base.path()).unwrap()).unwrap();
    for ext in ["vec", "parquet", "nidx"] {
        let n = files(base.path(), ext).len();
        assert!(n >= 1, "no .{ext} file to corrupt");
        for which in 0..n {
            for frac in [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.999] {
                corrupt_and_check(base.path(), &good, ext, which, |len| {
                    ((len as f64 * frac) as usize).min(len - 1)
                });
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
    // the footer's CRC covers the header and the footer (see docs/format.md)
    let table_at = u64::from_le_bytes(bytes[n - 32..n - 24].try_into().unwrap()) as usize;
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[..64]);
    h.update(&bytes[table_at..n - 8]);
    bytes[n - 8..n - 4].copy_from_slice(&h.finalize().to_le_bytes());
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
    let err = db
        .table("t")
        .map(drop)
        .expect_err("missing file not detected");
    assert!(
        err.to_string()
            .contains(&*f.file_name().unwrap().to_string_lossy()),
        "{err}"
    );
}

/// The first error of opening the table and reading it all, or None when all of it worked.
fn first_error(dir: &Path) -> Option<String> {
    let db = match Database::open(dir) {
        Ok(db) => db,
        Err(e) => return Some(e.to_string()),
    };
    if let Err(e) = observe(&db) {
        return Some(e.to_string());
    }
    match db.check() {
        Err(e) => Some(e.to_string()),
        Ok(p) if !p.is_empty() => Some(p.join("; ")),
        Ok(_) => None,
    }
}

/// Defect: `sidecar_bytes` was stored in the manifest but never checked, so a sidecar of
/// another segment (valid checksum, wrong contents) was read as this segment's.
#[test]
fn sidecar_of_another_segment_is_rejected() {
    let base = tempfile::tempdir().unwrap();
    build(base.path());
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(base.path(), tmp.path());
    let vecs = files(tmp.path(), "vec");
    assert!(vecs.len() >= 2, "{vecs:?}");
    let (a, b) = (
        std::fs::read(&vecs[0]).unwrap(),
        std::fs::read(&vecs[1]).unwrap(),
    );
    std::fs::write(&vecs[0], &b).unwrap();
    std::fs::write(&vecs[1], &a).unwrap();
    let e = first_error(tmp.path()).expect("swapped sidecars went unnoticed");
    let named = vecs
        .iter()
        .any(|f| e.contains(&*f.file_name().unwrap().to_string_lossy()));
    assert!(named, "the error does not name a sidecar: {e}");
}

/// Defect: an index file whose dimensions differ from the table's (valid checksum) was
/// trusted, and slicing by its dimensions could panic.
#[test]
fn index_of_other_dimensions_is_rejected() {
    let base = tempfile::tempdir().unwrap();
    build(base.path());
    // the same table built at 32 dimensions: its index file has another shape
    let other = tempfile::tempdir().unwrap();
    {
        let db = Database::open(other.path()).unwrap();
        let mut o = TableOptions::default();
        o.index.min_rows = 100;
        o.index.sample_queries = 10;
        let t = db
            .create_table_with("t", common::schema(32, Metric::Cosine), o)
            .unwrap();
        t.insert(&common::batch(&(0..200).collect::<Vec<_>>(), 32, 0))
            .unwrap();
        t.compact().unwrap();
    }
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(base.path(), tmp.path());
    let mine = files(tmp.path(), "nidx");
    let theirs = files(other.path(), "nidx");
    assert_eq!((mine.len(), theirs.len()), (1, 1));
    std::fs::copy(&theirs[0], &mine[0]).unwrap();
    let name = mine[0].file_name().unwrap().to_string_lossy().into_owned();
    let e = first_error(tmp.path()).expect("an index of other dimensions went unnoticed");
    assert!(
        e.contains(&name),
        "the error does not name the index file {name}: {e}"
    );
}
