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

/// The vectors (as stored) of `rows`, `rows.len() x dim`, in that order.
pub fn vectors_of(v: &TableVersion, rows: &[RowRef]) -> Result<Vec<f32>> {
    let d = v.def.schema.dim();
    let base = v.segments.len();
    let mut out = Vec::with_capacity(rows.len() * d);
    for &(src, off) in rows {
        if src < base {
            v.segments[src].vector(off, &mut out)?;
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
            out.extend_from_slice(&vals[off * d..(off + 1) * d]);
        }
    }
    // a sample touches pages all over the table: unmap them (the page cache keeps them)
    for s in &v.segments {
        (0..s.row_groups()).for_each(|g| s.release_group(g));
    }
    Ok(out)
}

/// Up to `max` vectors of live rows of `v`, uniformly sampled, in random order.
pub fn vectors(v: &TableVersion, max: usize, seed: u64) -> Result<Vec<f32>> {
    vectors_of(v, &rows(v, max, seed))
}
