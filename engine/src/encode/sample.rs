//! Uniform samples of a version's live rows, read in place from the segments' Parquet pages
//! (and the unflushed rows), for fitting an index without reading the whole table.

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use nestdb_storage::TableVersion;
use rand::seq::index::sample;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::error::Result;

/// A live row: source (segment position, or `segments.len() + chunk` for unflushed rows) and
/// offset.
pub type RowRef = (usize, usize);

/// Up to `max` live rows of `v` chosen uniformly at random (all of them when there are fewer),
/// in random order.
pub fn rows(v: &TableVersion, max: usize, seed: u64) -> Vec<RowRef> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let total = v.count();
    let mut picks: Vec<usize> = if total <= max {
        (0..total).collect()
    } else {
        let mut p = sample(&mut rng, total, max).into_vec();
        p.sort_unstable();
        p
    };
    let mut out = Vec::with_capacity(picks.len());
    let mut next = picks.iter().copied().peekable();
    let mut rank = 0usize;
    for (pos, (s, d)) in v.segments.iter().zip(&v.deletes).enumerate() {
        for off in 0..s.rows() {
            if next.peek().is_none() {
                break;
            }
            if d.contains(off as u32) {
                continue;
            }
            if next.peek() == Some(&rank) {
                out.push((pos, off));
                next.next();
            }
            rank += 1;
        }
    }
    let base = v.segments.len();
    for (c, chunk) in v.mem.chunks().iter().enumerate() {
        for (off, r) in chunk.rowids.iter().enumerate() {
            if v.mem.is_dead(*r) {
                continue;
            }
            if next.peek() == Some(&rank) {
                out.push((base + c, off));
                next.next();
            }
            rank += 1;
        }
    }
    picks.clear();
    out.shuffle(&mut rng);
    out
}

/// The vectors (as stored) of `rows`, `rows.len() x dim`, in that order. Rows are read in
/// file order, and each row group is unmapped once passed (a sample touches pages all over the
/// table; the page cache keeps them), so resident memory does not grow with the table.
pub fn vectors_of(v: &TableVersion, rows: &[RowRef]) -> Result<Vec<f32>> {
    let d = v.def.schema.dim();
    let base = v.segments.len();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_unstable_by_key(|&i| rows[i]);
    let mut out = vec![0f32; rows.len() * d];
    let mut x = Vec::with_capacity(d);
    let mut open: Option<(usize, usize)> = None; // (segment, row group) being read
    for i in order {
        let (src, off) = rows[i];
        if src < base {
            let seg = &v.segments[src];
            let g = off / seg.group_rows().max(1);
            if let Some((ps, pg)) = open.filter(|&o| o != (src, g)) {
                v.segments[ps].release_group(pg);
            }
            open = Some((src, g));
            x.clear();
            seg.vector(off, &mut x)?;
            out[i * d..(i + 1) * d].copy_from_slice(&x[..d]);
        } else {
            let chunk = &v.mem.chunks()[src - base];
            let vals = chunk
                .batch
                .column(v.def.schema.vector_index())
                .as_fixed_size_list()
                .values()
                .as_primitive::<Float32Type>()
                .values()
                .clone();
            out[i * d..(i + 1) * d].copy_from_slice(&vals[off * d..(off + 1) * d]);
        }
    }
    if let Some((ps, pg)) = open {
        v.segments[ps].release_group(pg);
    }
    Ok(out)
}

/// Up to `max` vectors of live rows of `v`, uniformly sampled, in random order.
pub fn vectors(v: &TableVersion, max: usize, seed: u64) -> Result<Vec<f32>> {
    vectors_of(v, &rows(v, max, seed))
}
