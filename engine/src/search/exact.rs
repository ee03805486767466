//! Exact search: every selected row scored at full dimension.

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use nestdb_storage::{Metric, TableVersion};
use rayon::prelude::*;

use super::{to_distance, PreparedQuery, RowSet, Selection};
use crate::error::Result;
use crate::kernels;
use crate::layout::{Layout, SegView};
use crate::topk::{Cand, TopK};

/// Rows scored per parallel task.
const CHUNK_ROWS: usize = 4096;
/// Selected rows below which the scan stays on the calling thread.
const PAR_ROWS: usize = 16_384;

/// The exact `k` nearest selected rows of `v`, best first, with reported distances.
/// Addresses: segment position, or `segments.len() + chunk` for unflushed rows.
pub fn search(
    v: &TableVersion,
    layout: &Layout,
    q: &PreparedQuery,
    k: usize,
    sel: &Selection,
) -> Result<Vec<Cand>> {
    let views = v
        .segments
        .iter()
        .map(|s| SegView::new(s, layout))
        .collect::<Result<Vec<_>, _>>()?;
    let mut tasks: Vec<(usize, usize, usize)> = Vec::new();
    for (pos, s) in v.segments.iter().enumerate() {
        if matches!(sel.segments[pos], RowSet::Nothing) {
            continue;
        }
        for start in (0..s.rows()).step_by(CHUNK_ROWS) {
            tasks.push((pos, start, (start + CHUNK_ROWS).min(s.rows())));
        }
    }
    let nb = layout.bands.len();
    let run = |&(pos, start, end): &(usize, usize, usize)| {
        let view = &views[pos];
        let mut t = TopK::new(k);
        match &sel.segments[pos] {
            RowSet::Some(b) => {
                let offs: Vec<u32> = b.range(start as u32..end as u32).collect();
                for (i, &off) in offs.iter().enumerate() {
                    if let Some(&next) = offs.get(i + 4) {
                        view.prefetch_row(layout, next as usize, nb);
                    }
                    let d = to_distance(q.metric, q.partial(layout, view, off as usize, nb));
                    t.push(d, Cand::addr(pos, off as usize));
                }
            }
            RowSet::All if q.metric != Metric::L2 => {
                scan_dense(view, layout, q, (pos, start, end), &v.deletes[pos], &mut t);
            }
            _ => {
                for off in start..end {
                    if sel.keep_segment_row(v, pos, off as u32) {
                        let d = to_distance(q.metric, q.partial(layout, view, off, nb));
                        t.push(d, Cand::addr(pos, off));
                    }
                }
            }
        }
        t
    };
    let merge = |mut a: TopK, b: TopK| {
        a.merge(b);
        a
    };
    // Waking the thread pool costs more than scoring a few thousand rows.
    let selected = sel.count(v) as usize;
    let seg_top = if selected >= PAR_ROWS {
        tasks.par_iter().map(run).reduce(|| TopK::new(k), merge)
    } else {
        tasks.iter().map(run).fold(TopK::new(k), merge)
    };
    let mut top = seg_top;
    top.merge(mem_search(v, q, k, sel));
    Ok(top.into_sorted())
}

/// Scores rows `start..end` of segment `pos` band by band with matrix-vector products (each
/// band region is `rows x width` row-major, so one call covers a whole chunk of rows), then
/// pushes the live ones. Dot and cosine only: stored vectors are unit length under cosine.
fn scan_dense(
    view: &SegView<'_>,
    layout: &Layout,
    q: &PreparedQuery,
    (pos, start, end): (usize, usize, usize),
    deletes: &roaring::RoaringBitmap,
    t: &mut TopK,
) {
    let n = end - start;
    let mut dots = [0f32; CHUNK_ROWS];
    let mut band = [0f32; CHUNK_ROWS];
    for (b, &(s, e)) in layout.bands.iter().enumerate() {
        let w = e - s;
        let rows = &view.bands[b][start * w..end * w];
        let out = if b == 0 {
            &mut dots[..n]
        } else {
            &mut band[..n]
        };
        kernels::avx2::matvec(rows, n, w, &q.transformed[s..e], out);
        if b > 0 {
            dots[..n]
                .iter_mut()
                .zip(&band[..n])
                .for_each(|(d, x)| *d += x);
        }
    }
    let any_deleted = deletes.range_cardinality(start as u32..end as u32) > 0;
    for (i, &dot) in dots[..n].iter().enumerate() {
        let off = start + i;
        if !any_deleted || !deletes.contains(off as u32) {
            t.push(to_distance(q.metric, -dot), Cand::addr(pos, off));
        }
    }
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
