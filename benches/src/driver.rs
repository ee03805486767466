//! What the benchmark drivers (`src/bin/`) share: command-line options and the table they
//! build from the shared data.

use std::time::Instant;

use arrow_array::RecordBatch;
use nestdb::{Database, DatabaseBuilder, Table};

use crate::data;

/// The value after `--name` on the command line.
pub fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// A table built from `base` in a temporary database.
pub struct Built {
    /// The database's folder (removed on drop).
    pub dir: tempfile::TempDir,
    /// The database.
    pub db: Database,
    /// The table `chunks`.
    pub table: Table,
    /// Seconds to insert the rows and fit the index.
    pub build_s: f64,
}

/// Bulk build: load everything, then fit the index once (ANALYZE), as one builds any index
/// after a load. (With the defaults, the first automatic flush at 20,000 rows would fit an
/// index and compaction would re-fit it at 40,000.) Table options come from
/// `NESTDB_BENCH_OPTIONS`, e.g. "partitions=400,coarse_dims=128".
pub fn build(base: &RecordBatch) -> Built {
    build_with(base, Database::builder())
}

/// [`build`] with other database options (sync, automatic index and flush are set here).
pub fn build_with(base: &RecordBatch, builder: DatabaseBuilder) -> Built {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = builder
        .sync(false)
        .auto_index(false)
        .auto_flush_rows(usize::MAX)
        .open(dir.path())
        .expect("open");
    let mut opts = nestdb::TableOptions::default();
    for kv in std::env::var("NESTDB_BENCH_OPTIONS")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
    {
        let (k, v) = kv.split_once('=').expect("key=value");
        opts.set(k, v).expect("table option");
    }
    let table = db
        .create_table_with("chunks", data::table_schema(), opts)
        .expect("create");
    let start = Instant::now();
    for s in (0..base.num_rows()).step_by(10_000) {
        table
            .insert(&base.slice(s, 10_000.min(base.num_rows() - s)))
            .expect("insert");
    }
    table.analyze().expect("analyze");
    Built {
        dir,
        db,
        table,
        build_s: start.elapsed().as_secs_f64(),
    }
}

/// Bytes of every file under `dir`, in MiB.
pub fn dir_mib(dir: &std::path::Path) -> f64 {
    fn walk(p: &std::path::Path) -> u64 {
        std::fs::read_dir(p)
            .map(|rd| {
                rd.flatten()
                    .map(|e| match e.file_type() {
                        Ok(t) if t.is_dir() => walk(&e.path()),
                        _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(dir) as f64 / 1048576.0
}

/// This process's peak resident memory (`VmHWM`, mapped file pages included), in MiB.
pub fn peak_rss_mib() -> f64 {
    proc_status_kib("VmHWM:") / 1024.0
}

/// A `kB` field of `/proc/self/status`, 0 when missing.
fn proc_status_kib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}

/// Bytes this process has read from storage so far (`read_bytes` of `/proc/self/io`; page-cache
/// hits are not counted).
pub fn read_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("read_bytes:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
