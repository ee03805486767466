//! What the benchmark drivers (`src/bin/`) share: command-line options and the table they
//! build from the shared data.

use std::time::Instant;

use arrow_array::RecordBatch;
use nestdb::{Database, Table};

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
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::builder()
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
