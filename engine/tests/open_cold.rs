//! Opening a table reads nothing proportional to its data (issue 13: "nothing proportional
//! to the data at open; checksums checked lazily"). Structural, not timed: the table's files
//! are dropped from the page cache, the database is opened, and `mincore` then says how much
//! of each file the open brought back. A search afterwards must bring pages back, so the
//! measurement itself is checked to see reads. Needs a disk file system (the target
//! directory), not tmpfs, whose pages cannot be evicted.

mod common;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nestdb::{Database, Metric};

const DIM: usize = 128;
const ROWS: i64 = 24_000;
/// What open may bring into the cache per file: footers, manifests, section tables and the
/// index model (centroids, quantizer ranges); a few pages and checksum blocks, whatever the
/// row count. Measured: 60 KiB of the 12 MiB Parquet file, 282 KiB over all files. Before the
/// mappings were marked random, the kernel's read-around (8 MiB on this machine's disk) pulled
/// 4.2 MiB of the Parquet file in for reading its footer.
const OPEN_BUDGET_PER_FILE: usize = 256 << 10;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Drops every page of `p` from the page cache (the file is synced first: only clean pages
/// can be dropped).
fn evict(p: &Path) {
    let f = File::open(p).unwrap();
    f.sync_all().unwrap();
    // SAFETY: a valid open descriptor; fadvise only changes cache state.
    let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(rc, 0, "posix_fadvise on {}", p.display());
}

/// Bytes of `p` in the page cache.
fn resident(p: &Path) -> usize {
    let Ok(f) = File::open(p) else {
        return 0;
    };
    let len = f.metadata().unwrap().len() as usize;
    if len == 0 {
        return 0;
    }
    // SAFETY: a read-only shared mapping of an open file, unmapped below; only mincore reads it.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    assert_ne!(map, libc::MAP_FAILED);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    let mut vec = vec![0u8; len.div_ceil(page)];
    // SAFETY: `map` spans `len` bytes; `vec` has one byte per page of it.
    let rc = unsafe { libc::mincore(map, len, vec.as_mut_ptr()) };
    // SAFETY: `map`/`len` are the mapping made above.
    unsafe { libc::munmap(map, len) };
    assert_eq!(rc, 0);
    vec.iter().filter(|&&b| b & 1 == 1).count() * page
}

/// Size and cached bytes of each file (0 and 0 once a file is gone: opening the key-value
/// store replaces its log files).
fn snapshot(files: &[PathBuf]) -> Vec<(PathBuf, usize, usize)> {
    files
        .iter()
        .map(|p| match p.metadata() {
            Ok(m) => (p.clone(), m.len() as usize, resident(p)),
            Err(_) => (p.clone(), 0, 0),
        })
        .collect()
}

#[test]
fn opening_a_table_reads_nothing_proportional_to_its_data() {
    // under the target directory: a disk file system (tmpfs pages cannot be evicted)
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = tmp.path().join("db");
    {
        let db = Database::open(&path).unwrap();
        let t = db
            .create_table("t", common::schema(DIM as u32, Metric::Cosine))
            .unwrap();
        for chunk in (0..ROWS).collect::<Vec<_>>().chunks(6_000) {
            t.insert(&common::batch(chunk, DIM, 0)).unwrap();
        }
        t.flush().unwrap();
        t.analyze().unwrap();
    }
    let mut all = Vec::new();
    files(&path, &mut all);
    for p in &all {
        evict(p);
    }
    let before = snapshot(&all);
    let cached_before: usize = before.iter().map(|f| f.2).sum();
    let total: usize = before.iter().map(|f| f.1).sum();
    let raw = ROWS as usize * DIM * 4;
    assert!(total > raw, "the table holds its vectors: {total} B");
    assert!(
        cached_before < total / 20,
        "eviction did not work here ({cached_before} of {total} B still cached)"
    );

    let db = Database::open(&path).unwrap();
    let t = db.table("t").unwrap();
    let opened = snapshot(&all);
    for ((p, len, was), (_, _, now)) in before.iter().zip(&opened) {
        let read = now.saturating_sub(*was);
        assert!(
            read <= OPEN_BUDGET_PER_FILE,
            "open brought {read} of {len} B of {} into the cache",
            p.display()
        );
    }
    let read_at_open: usize = before
        .iter()
        .zip(&opened)
        .map(|(b, o)| o.2.saturating_sub(b.2))
        .sum();

    // the measurement sees reads: searching brings data pages in
    let q = common::vector(7, DIM);
    let r = t.search(&q).limit(10).execute().unwrap();
    assert_eq!(r.num_rows(), 10);
    let searched = snapshot(&all);
    let read_by_search: usize = opened
        .iter()
        .zip(&searched)
        .map(|(o, s)| s.2.saturating_sub(o.2))
        .sum();
    eprintln!("table {total} B; open read {read_at_open} B; one search then {read_by_search} B");
    assert!(
        read_by_search > read_at_open,
        "a search read less than open ({read_by_search} vs {read_at_open} B): the measure is blind"
    );
}
