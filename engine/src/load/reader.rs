//! The COPY reader thread: decodes Parquet files batch by batch while the caller writes.
//!
//! The end of the input is only ever reported after the thread finished normally: when the
//! thread dies of a panic (parquet-rs can panic on corrupt files), [`Reader`] turns the closed
//! channel into an error naming the file, so a load can never commit a prefix of its input as
//! if it were all of it.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use super::LoadError;

/// A decoded batch of one file.
pub struct SourceBatch {
    /// Index of the file.
    pub file: usize,
    /// Row offset of the batch in its file.
    pub offset: usize,
    /// The rows (projected columns present in the file).
    pub batch: RecordBatch,
    /// Progress estimate in bytes.
    pub bytes_done: u64,
}

type Msg = std::result::Result<SourceBatch, LoadError>;

/// The batches of a reader thread, in order; ends only when the thread ended normally.
pub struct Reader {
    rx: Receiver<Msg>,
    thread: Option<JoinHandle<()>>,
    files: Vec<PathBuf>,
    current: Arc<AtomicUsize>,
}

impl Iterator for Reader {
    type Item = Msg;

    fn next(&mut self) -> Option<Msg> {
        if let Ok(m) = self.rx.recv() {
            return Some(m);
        }
        let panic = self.thread.take()?.join().err()?;
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let i = self.current.load(Ordering::SeqCst);
        Some(Err(LoadError::NotParquet {
            file: self.files.get(i).cloned().unwrap_or_default(),
            reason: format!("the Parquet reader failed ({reason}); nothing was loaded"),
        }))
    }
}

/// Runs `body` on a reader thread; `body` stores the index of the file it is reading in its
/// second argument so that a panic can name the file.
pub fn spawn_with(
    files: Vec<PathBuf>,
    body: impl FnOnce(SyncSender<Msg>, Arc<AtomicUsize>) + Send + 'static,
) -> Reader {
    let (tx, rx) = sync_channel(2);
    let current = Arc::new(AtomicUsize::new(0));
    let c = current.clone();
    let thread = std::thread::spawn(move || body(tx, c));
    Reader {
        rx,
        thread: Some(thread),
        files,
        current,
    }
}

/// Decodes `files` on a background thread, `batch_size` rows at a time, reading only the
/// named columns (all when `None`). At most two batches wait in the channel.
pub fn spawn_reader(
    files: Vec<PathBuf>,
    columns: Option<Vec<String>>,
    batch_size: usize,
) -> Reader {
    let list = files.clone();
    spawn_with(list, move |tx, current| {
        let mut bytes_before = 0u64;
        for (fi, path) in files.iter().enumerate() {
            current.store(fi, Ordering::SeqCst);
            match read_file(&tx, fi, path, columns.as_deref(), batch_size, bytes_before) {
                Ok(Some(size)) => bytes_before += size,
                Ok(None) => return,
                Err(e) => return drop(tx.send(Err(e))),
            }
        }
    })
}

/// Sends the batches of one file; `Ok(None)` when the receiver hung up.
fn read_file(
    tx: &SyncSender<Msg>,
    fi: usize,
    path: &PathBuf,
    columns: Option<&[String]>,
    batch_size: usize,
    bytes_before: u64,
) -> std::result::Result<Option<u64>, LoadError> {
    let not_parquet = |e: &dyn std::fmt::Display| LoadError::NotParquet {
        file: path.clone(),
        reason: e.to_string(),
    };
    let file = File::open(path).map_err(|e| not_parquet(&e))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let b = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| not_parquet(&e))?;
    let total = b.metadata().file_metadata().num_rows().max(1) as u64;
    let mask = columns.map(|cols| {
        let idx: Vec<usize> = b
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| cols.iter().any(|c| c == f.name()))
            .map(|(i, _)| i)
            .collect();
        ProjectionMask::roots(b.parquet_schema(), idx)
    });
    let mut b = b.with_batch_size(batch_size);
    if let Some(m) = mask {
        b = b.with_projection(m);
    }
    let reader = b.build().map_err(|e| not_parquet(&e))?;
    let mut offset = 0;
    for batch in reader {
        let batch = batch.map_err(|e| not_parquet(&e))?;
        let n = batch.num_rows();
        let bytes_done = bytes_before + size * (offset + n) as u64 / total;
        let sb = SourceBatch {
            file: fi,
            offset,
            batch,
            bytes_done,
        };
        if tx.send(Ok(sb)).is_err() {
            return Ok(None);
        }
        offset += n;
    }
    Ok(Some(size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, RecordBatch};

    fn one_batch(fi: usize) -> SourceBatch {
        let a = Arc::new(Int64Array::from(vec![1, 2])) as arrow_array::ArrayRef;
        let batch = RecordBatch::try_from_iter([("id", a)]).expect("batch");
        SourceBatch {
            file: fi,
            offset: 0,
            batch,
            bytes_done: 0,
        }
    }

    /// Defect: a panicking reader thread closed the channel as if the input had ended, and
    /// COPY committed the prefix it had read.
    #[test]
    fn copy_reader_panic_aborts_the_load() {
        let files = vec![PathBuf::from("a.parquet"), PathBuf::from("b.parquet")];
        let r = spawn_with(files, |tx, current| {
            tx.send(Ok(one_batch(0))).expect("send");
            current.store(1, Ordering::SeqCst);
            panic!("corrupt page header");
        });
        let msgs: Vec<Msg> = r.collect();
        assert_eq!(
            msgs.len(),
            2,
            "the batch read, then an error instead of the end"
        );
        assert!(msgs[0].is_ok());
        let err = msgs[1].as_ref().err().expect("an error").to_string();
        assert!(
            err.contains("b.parquet") && err.contains("corrupt page header"),
            "{err}"
        );
    }

    #[test]
    fn a_reader_that_finishes_ends_the_input() {
        let r = spawn_with(vec![PathBuf::from("a.parquet")], |tx, _| {
            tx.send(Ok(one_batch(0))).expect("send");
        });
        assert_eq!(r.count(), 1);
    }
}
