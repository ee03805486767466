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

/// Rewrites the manifest record of table `t` in the (closed) database at `dir` through
/// RocksDB, as a bug or a hand edit would: the record keeps a valid block checksum.
fn edit_manifest(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let db = rocksdb::DB::open_default(dir.join("catalog")).unwrap();
    let def: serde_json::Value = serde_json::from_slice(
        &db.get(nestdb_storage::keys::table_def("t"))
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    let key = nestdb_storage::keys::manifest(def["id"].as_u64().unwrap());
    let mut m: serde_json::Value = serde_json::from_slice(&db.get(&key).unwrap().unwrap()).unwrap();
    f(&mut m);
    db.put(&key, serde_json::to_vec(&m).unwrap()).unwrap();
}

/// Guards `check()`'s index-version invariant (issue 16, item 9): a manifest that switched to
/// another index while its segments stay encoded under the old one (each sidecar agreeing
/// with its own segment entry, so opening the segments succeeds) is reported.
#[test]
fn check_reports_segments_encoded_under_another_index() {
    let base = tempfile::tempdir().unwrap();
    build(base.path());
    let old = files(base.path(), "nidx")[0].clone();
    let mut versions = (0, 0);
    edit_manifest(base.path(), |m| {
        let v = m["index"]["version"].as_u64().unwrap();
        versions = (v, v + 1);
        m["index"]["version"] = (v + 1).into();
        m["next_index_version"] = (v + 2).into();
    });
    let new = old.with_file_name(format!("index-{:016x}.nidx", versions.1));
    std::fs::copy(&old, &new).unwrap();
    let db = Database::open(base.path()).unwrap();
    let problems = db.check().unwrap();
    let (from, to) = versions;
    let want = format!("is encoded under index {from}, the manifest uses {to}");
    assert!(
        problems.iter().any(|p| p.contains(&want)),
        "check() missed segments under index {from} in a table using {to}: {problems:?}"
    );
}

/// One structure-aware change to a manifest: a number set to an edge value, a field removed or
/// retyped, a segment repeated, dropped or reordered, the index removed.
fn mutate(m: &mut serde_json::Value, rng: &mut impl rand::Rng) -> String {
    use serde_json::Value;
    let segs = m["segments"].as_array().map_or(0, Vec::len);
    match rng.random_range(0..6) {
        0 | 1 => {
            let mut leaves = Vec::new();
            numeric_leaves(m, String::new(), &mut leaves);
            let path = leaves[rng.random_range(0..leaves.len())].clone();
            let old = m.pointer(&path).and_then(Value::as_u64).unwrap_or(0);
            let new = [0, 1, old.wrapping_sub(1), old + 1, u64::MAX, rng.random()]
                [rng.random_range(0..6)];
            *m.pointer_mut(&path).unwrap() = new.into();
            format!("{path} = {new}")
        }
        2 => {
            let mut leaves = Vec::new();
            numeric_leaves(m, String::new(), &mut leaves);
            let path = leaves[rng.random_range(0..leaves.len())].clone();
            let new: Value = match rng.random_range(0..4) {
                0 => Value::Null,
                1 => (-1).into(),
                2 => 1.5.into(),
                _ => "7".into(),
            };
            *m.pointer_mut(&path).unwrap() = new.clone();
            format!("{path} = {new}")
        }
        3 if segs > 0 => {
            let i = rng.random_range(0..segs);
            let s = m["segments"][i].clone();
            let a = m["segments"].as_array_mut().unwrap();
            match rng.random_range(0..3) {
                0 => a.push(s),
                1 => drop(a.remove(i)),
                _ => a.reverse(),
            }
            format!("segments changed at {i}")
        }
        4 => {
            m["index"] = Value::Null;
            "index = null".into()
        }
        _ => {
            let o = m.as_object_mut().unwrap();
            let keys: Vec<String> = o.keys().cloned().collect();
            let k = &keys[rng.random_range(0..keys.len())];
            o.remove(k);
            format!("{k} removed")
        }
    }
}

fn numeric_leaves(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Number(_) => out.push(at),
        serde_json::Value::Object(o) => o
            .iter()
            .for_each(|(k, x)| numeric_leaves(x, format!("{at}/{k}"), out)),
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| numeric_leaves(x, format!("{at}/{i}"), out)),
        _ => {}
    }
}

/// Opens, reads and checks the table, then writes, flushes and checks again. Errors are fine
/// (a damaged manifest may be refused); a panic is not, and neither is a write that damages a
/// table `check()` had found healthy (say, a flush reusing a live segment's id).
fn survive(dir: &Path) -> Result<(), String> {
    let db = Database::open(dir).map_err(|e| e.to_string())?;
    observe(&db).map_err(|e| e.to_string())?;
    let before = db.check().map_err(|e| e.to_string())?;
    let t = db.table("t").map_err(|e| e.to_string())?;
    t.insert(&common::batch(&(300..340).collect::<Vec<_>>(), 16, 0))
        .map_err(|e| e.to_string())?;
    t.flush().map_err(|e| e.to_string())?;
    let after = db.check().map_err(|e| e.to_string())?;
    if before.is_empty() && !after.is_empty() {
        panic!("a write damaged a healthy table: {after:?}");
    }
    Ok(())
}

/// Fuzzes manifest records (issue 16, item 10): structure-aware changes that keep the record
/// well-formed for RocksDB. Never a panic, and writes never damage a table found healthy.
#[test]
fn damaged_manifest_records_never_panic() {
    use rand::{Rng, SeedableRng};
    let base = tempfile::tempdir().unwrap();
    build(base.path());
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6d616e6966657374);
    let (mut refused, mut cases) = (0, 300);
    while cases > 0 {
        cases -= 1;
        let tmp = tempfile::tempdir().unwrap();
        copy_dir(base.path(), tmp.path());
        let mut what = Vec::new();
        edit_manifest(tmp.path(), |m| {
            for _ in 0..rng.random_range(1..=3) {
                what.push(mutate(m, &mut rng));
            }
        });
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| survive(tmp.path())));
        match r {
            Ok(Ok(())) => {}
            Ok(Err(_)) => refused += 1,
            Err(_) => panic!("manifest changed by {what:?}: see the panic above"),
        }
    }
    // most changes break the manifest: they must be refused, not trusted
    eprintln!("{refused} of 300 damaged manifests refused");
    assert!(
        refused >= 100,
        "only {refused} of 300 damaged manifests were refused"
    );
}

/// A manifest whose next segment id is a live segment's is refused at open: trusted, the next
/// flush would write its files over that live segment's.
#[test]
fn manifest_handing_out_a_live_segment_id_is_refused() {
    let base = tempfile::tempdir().unwrap();
    build(base.path());
    edit_manifest(base.path(), |m| {
        m["next_segment_id"] = m["segments"][0]["id"].clone();
    });
    match survive(base.path()) {
        Err(e) => assert!(e.contains("next segment id"), "{e}"),
        Ok(()) => panic!("a manifest reusing a live segment id was trusted"),
    }
}
