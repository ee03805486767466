//! COPY: loading Parquet files (any schema, matched by column name) and MLCPD-style datasets
//! (one row per source file, turned into definition chunks) into tables.
//!
//! Loads stream: files are decoded batch by batch on a reader thread while the caller's thread
//! embeds, checks and writes segments, so memory stays bounded by a batch plus one segment. A
//! load is atomic: rows go into new segments that are committed together at the end (see
//! `nestdb_storage::bulk`); on any error the table is unchanged.

mod chunk;
mod mlcpd;
pub mod options;
mod parquet;
mod reader;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

pub use options::{CopyOptions, Format, OnError};

use crate::error::Result;
use crate::Database;

pub use crate::error::load::LoadError;

/// What a COPY did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CopyReport {
    /// Files read.
    pub files: usize,
    /// Source rows read.
    pub source_rows: usize,
    /// Rows written to the target table (chunks for MLCPD).
    pub rows: usize,
    /// Rows written to the files table (MLCPD).
    pub file_rows: usize,
    /// Rows skipped under ON_ERROR 'skip'.
    pub skipped: usize,
    /// The first skipped rows: file, row and reason.
    pub skipped_rows: Vec<String>,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Progress of a running COPY (reported after every batch).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    /// Files finished.
    pub files_done: usize,
    /// Files in all.
    pub files: usize,
    /// Source rows read so far.
    pub source_rows: usize,
    /// Rows written so far.
    pub rows: usize,
    /// Bytes of the files finished plus the current position estimate.
    pub bytes_done: u64,
    /// Bytes of all files.
    pub bytes: u64,
}

/// Receives [`Progress`] updates.
pub type ProgressFn = dyn Fn(&Progress) + Send + Sync;

/// Sends `progress` (if any) the state after a batch of file `file` of `files`, read up to
/// `bytes_done` of `bytes`.
fn notify(
    progress: Option<&ProgressFn>,
    report: &CopyReport,
    (file, files): (usize, usize),
    (bytes_done, bytes): (u64, u64),
) {
    if let Some(p) = progress {
        p(&Progress {
            files_done: file,
            files,
            source_rows: report.source_rows,
            rows: report.rows,
            bytes_done,
            bytes,
        });
    }
}

/// How many skipped rows a report lists.
pub const SKIPPED_LISTED: usize = 20;

/// Expands a path or glob into sorted file paths.
pub fn expand(pattern: &str) -> Result<Vec<PathBuf>, LoadError> {
    let paths = glob::glob(pattern).map_err(|e| LoadError::Pattern {
        pattern: pattern.into(),
        reason: e.to_string(),
    })?;
    let mut files: Vec<PathBuf> = paths
        .filter_map(|p| p.ok())
        .filter(|p| p.is_file())
        .collect();
    if files.is_empty() && Path::new(pattern).exists() && !Path::new(pattern).is_dir() {
        files.push(PathBuf::from(pattern));
    }
    files.sort();
    if files.is_empty() {
        return Err(LoadError::NoFiles(pattern.into()));
    }
    Ok(files)
}

/// Runs `COPY table FROM source (options)`.
pub fn copy(
    db: &Database,
    table: &str,
    source: &str,
    options: &[(String, String)],
    cancel: &AtomicBool,
    progress: Option<&ProgressFn>,
) -> Result<CopyReport> {
    let opts = CopyOptions::parse(options)?;
    let files = expand(source)?;
    let start = std::time::Instant::now();
    let mut report = match opts.format {
        Format::Parquet => parquet::load(db, &db.table(table)?, &files, &opts, cancel, progress)?,
        Format::Mlcpd => mlcpd::load(db, table, &files, &opts, cancel, progress)?,
    };
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// Fails with [`crate::Error::Cancelled`] once `cancel` is set.
pub fn check_cancel(cancel: &AtomicBool) -> Result<()> {
    if cancel.load(Ordering::SeqCst) {
        Err(crate::Error::Cancelled)
    } else {
        Ok(())
    }
}
