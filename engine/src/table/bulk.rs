//! Bulk loads through a table: storage's [`nestdb_storage::BulkLoad`] buffers and checks the
//! rows; each full buffer is coded under the table's current index and written as a segment;
//! the load commits every segment at once. Memory stays bounded by one buffer.

use arrow_array::RecordBatch;
use nestdb_storage::{BulkLoad, InputError, WriteBatch, WriteError};

use super::Table;
use crate::encode;
use crate::error::Result;
use crate::index::IndexModel;
use crate::layout::Layout;

/// An open bulk load of one table (see the module docs).
pub struct BulkSink<'w, 'a> {
    load: BulkLoad<'w, 'a>,
    model: Option<std::sync::Arc<IndexModel>>,
    layout: Layout,
}

impl BulkSink<'_, '_> {
    /// Checks and stages a batch; a full buffer is written as a segment. Returns the rows
    /// staged, or (inner `Err`) why the batch is invalid: a batch that fails changes nothing
    /// staged before it. The outer `Err` is any other failure (storage, writing the buffer).
    pub fn add(&mut self, batch: &RecordBatch) -> Result<Result<usize, InputError>> {
        let n = match self.load.add(batch) {
            Ok(n) => n,
            Err(WriteError::Input(e)) => return Ok(Err(e)),
            Err(other) => return Err(other.into()),
        };
        if self.load.full() {
            self.write_buffer()?;
        }
        Ok(Ok(n))
    }

    fn write_buffer(&mut self) -> Result<()> {
        if let Some((batch, rowids)) = self.load.take()? {
            let meta = encode::write_rows(
                &mut self.load,
                self.model.as_deref(),
                &self.layout,
                &batch,
                &rowids,
            )?;
            self.load.written(meta)?;
            crate::heap::release_free();
        }
        Ok(())
    }
}

impl Table {
    /// Runs a bulk load under this table's writer lock, commits it, then runs the maintenance
    /// the policy asks for (an index fit; its failure does not fail the load).
    pub(crate) fn bulk<R>(
        &self,
        segment_rows: usize,
        f: impl FnOnce(&mut BulkSink<'_, '_>) -> Result<R>,
    ) -> Result<R> {
        let mut w = self.inner.store.writer()?;
        let model = self.model_for(&w.snapshot())?;
        let layout = crate::index::layout_for(self.schema(), model.as_deref());
        let r = {
            let mut sink = BulkSink {
                load: w.bulk_load(segment_rows),
                model,
                layout,
            };
            let r = f(&mut sink)?;
            sink.write_buffer()?;
            sink.load.commit()?;
            r
        };
        self.after_load(&mut w);
        Ok(r)
    }

    /// Two bulk loads committed in one write batch (both tables change, or neither). The two
    /// tables must differ.
    pub(crate) fn bulk_pair<R>(
        a: &Table,
        b: &Table,
        segment_rows: usize,
        f: impl FnOnce(&mut BulkSink<'_, '_>, &mut BulkSink<'_, '_>) -> Result<R>,
    ) -> Result<R> {
        let (ida, idb) = (a.inner.store.def().id, b.inner.store.def().id);
        if ida == idb {
            return Err(crate::error::QueryError::Setting {
                name: "FILES_TABLE".into(),
                value: b.name().into(),
                reason: "the files table must differ from the table being loaded".into(),
            }
            .into());
        }
        // lock in table-id order so two loads can never wait on each other
        let (mut wa, mut wb) = if ida < idb {
            let wa = a.inner.store.writer()?;
            (wa, b.inner.store.writer()?)
        } else {
            let wb = b.inner.store.writer()?;
            (a.inner.store.writer()?, wb)
        };
        let sink = |t: &Table, m: Option<std::sync::Arc<IndexModel>>| {
            (crate::index::layout_for(t.schema(), m.as_deref()), m)
        };
        let (la, ma) = sink(a, a.model_for(&wa.snapshot())?);
        let (lb, mb) = sink(b, b.model_for(&wb.snapshot())?);
        let r = {
            let mut sa = BulkSink {
                load: wa.bulk_load(segment_rows),
                model: ma,
                layout: la,
            };
            let mut sb = BulkSink {
                load: wb.bulk_load(segment_rows),
                model: mb,
                layout: lb,
            };
            let r = f(&mut sa, &mut sb)?;
            sa.write_buffer()?;
            sb.write_buffer()?;
            let mut batch = WriteBatch::default();
            let pa = sa.load.stage(&mut batch)?;
            let pb = sb.load.stage(&mut batch)?;
            sa.load.write_batch(batch)?;
            sa.load.publish(pa);
            sb.load.publish(pb);
            r
        };
        a.after_load(&mut wa);
        b.after_load(&mut wb);
        Ok(r)
    }
}
