//! Exact search: every selected row scored at full dimension, on the vectors in the segments'
//! Parquet pages (and the unflushed rows).

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use nestdb_storage::{Metric, StorageError, TableVersion};
use rayon::prelude::*;

use super::rows::ViewRows;
use super::view::SegView;
use super::{to_distance, PreparedQuery};
use crate::filter::{RowSet, Selection};
use crate::kernels;
use crate::topk::{Cand, TopK};

/// Selected rows below which the scan stays on the calling thread.
const PAR_ROWS: usize = 16_384;

/// The exact `k` nearest selected rows of `v`, best first, with reported distances.
/// Addresses: segment position, or `segments.len() + chunk` for unflushed rows.
pub fn search(
    v: &TableVersion,
    views: &[SegView<'_>],
    q: &PreparedQuery,
    k: usize,
    sel: &Selection,
) -> Result<Vec<Cand>, StorageError> {
    let mut tasks: Vec<(usize, usize)> = Vec::new();
    for (pos, s) in v.segments.iter().enumerate() {
        if !matches!(sel.segments[pos], RowSet::Nothing) {
            tasks.extend((0..s.row_groups()).map(|g| (pos, g)));
        }
    }
    let run = |&(pos, g): &(usize, usize)| -> Result<TopK, StorageError> {
        let rows = ViewRows {
            set: &sel.segments[pos],
            deleted: &v.deletes[pos],
            gathered: None,
        };
        let mut t = TopK::new(k);
        scan_group(&views[pos], pos, g, q, &rows, &mut t)?;
        Ok(t)
    };
    let merge = |a: Result<TopK, StorageError>, b: Result<TopK, StorageError>| {
        let mut a = a?;
        a.merge(b?);
        Ok(a)
    };
    // Waking the thread pool costs more than scoring a few thousand rows.
    let selected = sel.count(v) as usize;
    let mut top = if selected >= PAR_ROWS {
        tasks
            .par_iter()
            .map(run)
            .reduce(|| Ok(TopK::new(k)), merge)?
    } else {
        tasks
            .iter()
            .map(run)
            .try_fold(TopK::new(k), |a, b| merge(Ok(a), b))?
    };
    top.merge(mem_search(v, q, k, sel));
    Ok(top.into_sorted())
}

/// Scores the selected rows of row group `g` of a segment into `t`.
fn scan_group(
    view: &SegView<'_>,
    pos: usize,
    g: usize,
    q: &PreparedQuery,
    rows: &ViewRows<'_>,
    t: &mut TopK,
) -> Result<(), StorageError> {
    let (a, z) = view.seg.group_range(g);
    let selected = rows.count(a as u32, z as u32) as usize;
    if selected == 0 {
        return Ok(());
    }
    if q.metric == Metric::L2 || selected * 4 < z - a {
        let mut err = None;
        rows.for_each(a as u32, z as u32, |off| {
            match row_score(view, q, off as usize) {
                Ok(s) => t.push(to_distance(q.metric, s), Cand::addr(pos, off as usize)),
                Err(e) => err = Some(e),
            }
        });
        return err.map_or(Ok(()), Err);
    }
    // dense: one matrix-vector product per band over the row group's values in place
    let n = z - a;
    let k = kernels::get();
    let mut dots = vec![0f32; n];
    let mut band = vec![0f32; n];
    for (b, &(s, e)) in view.seg.table_schema().bands().iter().enumerate() {
        let region = view.seg.band_region(b, g)?;
        (k.matvec_le)(region, n, &q.unit[s..e], &mut band);
        dots.iter_mut().zip(&band).for_each(|(d, x)| *d += x);
    }
    let inv = match (&view.inv_norms, q.metric) {
        (Some(r), Metric::Cosine) => Some(r.range(a, z)?),
        _ => None,
    };
    let mut push = |off: u32| {
        let i = off as usize - a;
        let s = -dots[i] * inv.map_or(1.0, |v| v[i]);
        t.push(to_distance(q.metric, s), Cand::addr(pos, off as usize));
    };
    if rows.is_all() {
        (a as u32..z as u32).for_each(&mut push);
    } else {
        rows.for_each(a as u32, z as u32, push);
    }
    Ok(())
}

/// Full-dimension score of one row (smaller is better).
pub fn row_score(view: &SegView<'_>, q: &PreparedQuery, off: usize) -> Result<f32, StorageError> {
    let k = kernels::get();
    let mut acc = 0f32;
    for (b, &(s, e)) in view.seg.table_schema().bands().iter().enumerate() {
        let x = view.seg.band_row(b, off)?;
        acc += match q.metric {
            Metric::L2 => (k.l2sq_f32_le)(&q.unit[s..e], x),
            _ => -(k.dot_f32_le)(&q.unit[s..e], x),
        };
    }
    if q.metric == Metric::Cosine {
        if let Some(n) = &view.inv_norms {
            acc *= n.row(off)?[0];
        }
    }
    Ok(acc)
}

/// Exact search over the unflushed rows (stored as given, so scored on the original query).
pub fn mem_search(v: &TableVersion, q: &PreparedQuery, k: usize, sel: &Selection) -> TopK {
    let base = v.segments.len();
    let d = q.original.len();
    let mut t = TopK::new(k);
    for (c, chunk) in v.mem.chunks().iter().enumerate() {
        let col = chunk.batch.column(v.def.schema.vector_index());
        let vals = col
            .as_fixed_size_list()
            .values()
            .as_primitive::<Float32Type>()
            .values();
        for off in 0..chunk.rowids.len() {
            if sel.keep_mem_row(v, c, off) {
                t.push(
                    q.raw_distance(&vals[off * d..(off + 1) * d]),
                    Cand::addr(base + c, off),
                );
            }
        }
    }
    t
}
