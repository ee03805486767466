//! Bulk load memory is flat in the input's size (issue 16: the load's id set and key lists
//! used to grow with the whole load). A counting global allocator records the Rust heap's
//! peak during a COPY of N rows and of 4N rows, with the same segment size: the peak must not
//! follow the input. Structural, not timed: it counts bytes, so a noisy machine cannot flake it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder};
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use nestdb::sql::Output;
use nestdb::Database;
use parquet::arrow::ArrowWriter;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note_alloc(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation goes there).
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `alloc` and `dealloc`: same allocator, the caller's contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            note_alloc(new_size);
        }
        p
    }
}

fn note_alloc(size: usize) {
    let now = CURRENT.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const DIM: usize = 16;
const FILE_ROWS: usize = 25_000;
const SEGMENT_ROWS: usize = 25_000;
/// Reader batches: small, so the batches in flight between the reader thread and the load
/// (which depend on timing) move the peak by little.
const BATCH_ROWS: usize = 1_000;
/// Rows are narrow (an id, a short text and 16 floats, ~90 bytes), so state kept per row for
/// the whole load (8 bytes or more a row) stands out against a segment's buffer.
const ROW_BYTES: usize = 8 + 10 + DIM * 4;

/// One file of `FILE_ROWS` rows with ids from `first`: an id, a short text and a vector.
fn write_file(path: &Path, first: i64) {
    let ids: Int64Array = (first..first + FILE_ROWS as i64).collect::<Vec<_>>().into();
    let body: StringArray = (0..FILE_ROWS)
        .map(|i| Some(format!("row {i:06}")))
        .collect();
    let mut v = FixedSizeListBuilder::new(Float32Builder::new(), DIM as i32);
    let mut s = first as u64 | 1;
    for _ in 0..FILE_ROWS {
        for _ in 0..DIM {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            v.values().append_value((s % 2001) as f32 / 1000.0 - 1.0);
        }
        v.append(true);
    }
    let batch = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(ids) as ArrayRef),
        ("body", Arc::new(body) as ArrayRef),
        ("embedding", Arc::new(v.finish()) as ArrayRef),
    ])
    .unwrap();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// The heap's peak above its level before the COPY of `files` files, and the segments made.
fn copy_peak(files: usize) -> (usize, usize) {
    let src = tempfile::tempdir().unwrap();
    for f in 0..files {
        write_file(
            &src.path().join(format!("part-{f:03}.parquet")),
            (f * FILE_ROWS) as i64,
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let db = Database::builder()
        .auto_index(false)
        .open(dir.path().join("db"))
        .unwrap();
    db.sql(&format!(
        "CREATE TABLE t (id BIGINT PRIMARY KEY, body TEXT, embedding VECTOR({DIM}))"
    ))
    .unwrap();
    let sql = format!(
        "COPY t FROM '{}/part-*.parquet' (SEGMENT_ROWS {SEGMENT_ROWS}, BATCH_SIZE {BATCH_ROWS})",
        src.path().display()
    );
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let out = db.sql(&sql).unwrap();
    let peak = PEAK.load(Ordering::SeqCst) - base;
    assert!(matches!(out[..], [Output::Status { .. }]), "{out:?}");
    let d = db.describe("t").unwrap();
    assert_eq!(d.rows, files * FILE_ROWS);
    assert!(db.check().unwrap().is_empty());
    (peak, d.segments)
}

#[test]
fn bulk_load_memory_does_not_grow_with_the_input() {
    // 2 and 8 segments (8 is the most a load may leave before compaction runs after it)
    let (small, small_segments) = copy_peak(2);
    let (large, large_segments) = copy_peak(8);
    assert_eq!((small_segments, large_segments), (2, 8));
    let extra_rows = 6 * FILE_ROWS;
    eprintln!(
        "heap peak: 2 segments {small} B, 8 segments {large} B, raw input {} B",
        8 * FILE_ROWS * ROW_BYTES
    );
    // a per-row structure kept for the whole load (an id set, key or row-id lists, batches)
    // costs at least 8 bytes a row: 1.2 MB more for the larger load
    let growth = large.saturating_sub(small);
    assert!(
        growth < 4 * extra_rows,
        "the heap's peak followed the input: {small} B for {} rows, {large} B for {} rows",
        2 * FILE_ROWS,
        8 * FILE_ROWS
    );
}
