//! The stage pipeline: one set of primitives the funnel runs and the tuner evaluates, so the
//! recall the tuner promises is the recall the funnel delivers.
//!
//! Every stage orders candidates by `(score, address)`, a total order, so "the best `keep`" is
//! one well-defined set however it is computed (a heap, a sort, a parallel merge, or the
//! tuner's prefix of a longer sorted list). Scores are smaller-is-better: `-dot` under cosine
//! and dot (vectors are unit length under cosine), squared L2 under l2.

use nestdb_storage::{Metric, StorageError};
use rayon::prelude::*;

use super::rows::{Gathered, ViewRows};
use super::view::SegView;
use super::{PreparedQuery, QueryCoded};
use crate::index::{IndexModel, Stage};
use crate::kernels;
use crate::topk::{Cand, TopK};

/// Selected rows above which the first stage is scanned in parallel.
const PAR_ROWS: usize = 65_536;
/// How many candidates ahead the later stages prefetch.
const PREFETCH_AHEAD: usize = 6;

/// Everything a query's stages read: the model, the prepared query, the segments and which of
/// their rows may be returned.
pub struct QueryCtx<'a> {
    /// The learned index.
    pub model: &'a IndexModel,
    /// The query.
    pub q: &'a PreparedQuery,
    /// The query's codes.
    pub qc: &'a QueryCoded,
    /// The version's segments.
    pub views: &'a [SegView<'a>],
    /// Which rows of each segment may be returned.
    pub rows: &'a [ViewRows<'a>],
    /// The vector's band ranges.
    pub bands: &'a [(usize, usize)],
}

/// Rows of partition `p` over the segments `views`, selected or not.
pub fn partition_size(views: &[SegView<'_>], p: usize) -> u64 {
    views
        .iter()
        .filter_map(|v| v.partitions.filter(|o| p + 1 < o.len()))
        .map(|o| u64::from(o[p + 1] - o[p]))
        .sum()
}

/// A run of rows of one segment the first stage scans: (segment, start, end).
pub type Range = (usize, u32, u32);

impl<'a> QueryCtx<'a> {
    /// The `n` partitions nearest the query's coarse prefix, nearest first. Centroids are scored
    /// with their int8 codes like rows (a quarter of f32's memory and arithmetic).
    pub fn probe_order(&self, n: usize) -> Vec<usize> {
        probe_order(self.model, self.qc, n)
    }

    /// [`probe_scored`] for this query.
    pub fn probe_scored(&self, n: usize) -> Vec<Cand> {
        probe_scored(self.model, self.qc, n)
    }

    /// [`partition_scores`] for this query.
    pub fn partition_scores(&self) -> std::borrow::Cow<'a, [Cand]> {
        partition_scores(self.model, self.qc)
    }

    /// Selected rows of partition `p` over all segments.
    pub fn partition_rows(&self, p: usize) -> u64 {
        self.views
            .iter()
            .zip(self.rows)
            .filter_map(|(v, r)| {
                v.partitions
                    .filter(|o| p + 1 < o.len())
                    .map(|o| r.count(o[p], o[p + 1]))
            })
            .sum()
    }

    /// Rows of partition `p` over all segments, selected or not.
    pub fn partition_size(&self, p: usize) -> u64 {
        partition_size(self.views, p)
    }

    /// The row runs of `probes` in every segment (all rows when `probes` is `None`).
    pub fn ranges(&self, probes: Option<&[usize]>) -> Vec<Range> {
        match probes {
            None => (0..self.views.len())
                .map(|vi| (vi, 0, self.views[vi].rows as u32))
                .filter(|r| r.2 > 0)
                .collect(),
            Some(ps) => self
                .views
                .iter()
                .enumerate()
                .flat_map(|(vi, v)| {
                    let offs = v.partitions.unwrap_or(&[]);
                    ps.iter()
                        .filter(move |&&p| p + 1 < offs.len())
                        .map(move |&p| (vi, offs[p], offs[p + 1]))
                })
                .filter(|r| r.2 > r.1)
                .collect(),
        }
    }

    /// Score of an int8 coarse dot product `dot` of row `r` of `view`.
    #[inline]
    pub fn int8_score(&self, view: &SegView<'_>, r: usize, dot: i32) -> Result<f32, StorageError> {
        let d = self.qc.coarse.offset + self.qc.coarse.scale * dot as f32;
        Ok(match self.q.metric {
            Metric::L2 => aux(view, r, 0)? - 2.0 * d,
            _ => -d,
        })
    }

    /// The first stage over `ranges` with `stage`: the best `stage.keep()` selected rows, in
    /// address order, and the number of selected rows scanned.
    pub fn first_stage(
        &self,
        ranges: &[Range],
        stage: Stage,
    ) -> Result<(Vec<Cand>, usize), StorageError> {
        let total: usize = ranges
            .iter()
            .map(|&(vi, a, b)| self.rows[vi].count(a, b) as usize)
            .sum();
        let keep = stage.keep();
        let fresh = || Scratch::new(keep);
        let top = if total >= PAR_ROWS {
            ranges
                .par_iter()
                .try_fold(fresh, |mut t, r| {
                    self.scan_range(&mut t, *r, stage).map(|_| t)
                })
                .map(|t| t.map(Scratch::into_top))
                .try_reduce(
                    || TopK::new(keep),
                    |mut a, b| {
                        a.merge(b);
                        Ok(a)
                    },
                )?
        } else {
            let mut t = fresh();
            for r in ranges {
                self.scan_range(&mut t, *r, stage)?;
            }
            t.into_top()
        };
        Ok((top.into_by_addr(), total))
    }

    fn scan_range(
        &self,
        st: &mut Scratch,
        (vi, a, b): Range,
        stage: Stage,
    ) -> Result<(), StorageError> {
        let v = &self.views[vi];
        let rows = &self.rows[vi];
        let (Stage::Int8 { .. }, Some(codes)) = (stage, v.codes.as_ref()) else {
            let mut err = None;
            rows.for_each(a, b, |off| match self.score(stage, vi, off as usize) {
                Ok(s) => st.top.push(s, Cand::addr(vi, off as usize)),
                Err(e) => err = Some(e),
            });
            return err.map_or(Ok(()), Err);
        };
        let kernel = kernels::get().dot_i8_rows;
        let c = codes.width;
        let dense = rows.count(a, b) * 4 >= u64::from(b - a);
        if dense {
            st.dots.resize((b - a) as usize, 0);
            kernel(
                &self.qc.coarse.codes,
                codes.range(a as usize, b as usize)?,
                &mut st.dots,
            );
            let Scratch { top, dots, .. } = st;
            if rows.is_all() {
                return self.push_int8(top, v, vi, (a..b).zip(dots.iter().copied()));
            }
            let mut sel = Vec::with_capacity(dots.len());
            rows.for_each(a, b, |off| sel.push((off, dots[(off - a) as usize])));
            return self.push_int8(top, v, vi, sel.into_iter());
        }
        // sparse: score only the selected rows' codes; gathered back to back once per cached
        // selection (a whole segment), scored in place otherwise
        let whole = a == 0 && b as usize == v.rows;
        let Some(cell) = rows.gathered.filter(|_| whole) else {
            let offs = &mut st.offs;
            offs.clear();
            rows.for_each(a, b, |off| offs.push(off - a));
            st.dots.resize(offs.len(), 0);
            (kernels::get().dot_i8_rows_at)(
                &self.qc.coarse.codes,
                codes.range(a as usize, b as usize)?,
                offs,
                &mut st.dots,
            );
            let Scratch { top, dots, offs } = st;
            return self.push_int8(
                top,
                v,
                vi,
                offs.iter().map(|o| o + a).zip(dots.iter().copied()),
            );
        };
        let g: &Gathered = match cell.get() {
            Some(g) => g,
            None => {
                let g = gather(rows, (a, b), codes, c)?;
                cell.get_or_init(|| g)
            }
        };
        st.dots.resize(g.offs.len(), 0);
        kernel(&self.qc.coarse.codes, &g.codes, &mut st.dots);
        self.push_int8(
            &mut st.top,
            v,
            vi,
            g.offs.iter().copied().zip(st.dots.iter().copied()),
        )
    }

    /// Pushes int8-scored rows `(offset, dot)` into `top`. Under cosine and dot the score
    /// `-(offset + scale * dot)` beats the threshold only when the integer dot exceeds a bound
    /// derived from it: rows are compared in integers first (the bound is kept one unit loose,
    /// so float rounding never drops a row the heap would keep), and the bound is refreshed only
    /// after a push moved the threshold.
    #[inline]
    fn push_int8(
        &self,
        top: &mut TopK,
        v: &SegView<'_>,
        vi: usize,
        rows: impl Iterator<Item = (u32, i32)>,
    ) -> Result<(), StorageError> {
        if self.q.metric == Metric::L2 {
            for (off, d) in rows {
                top.push(
                    self.int8_score(v, off as usize, d)?,
                    Cand::addr(vi, off as usize),
                );
            }
            return Ok(());
        }
        let (off0, scale) = (self.qc.coarse.offset, self.qc.coarse.scale);
        let bound = |t: f32| -> i32 {
            let x = ((-t - off0) / scale).floor();
            if x.is_finite() {
                (x.clamp(i32::MIN as f32 + 2.0, i32::MAX as f32) as i32) - 1
            } else {
                i32::MIN
            }
        };
        let mut min_dot = bound(top.threshold());
        for (off, d) in rows {
            if d >= min_dot {
                top.push(-(off0 + scale * d as f32), Cand::addr(vi, off as usize));
                min_dot = bound(top.threshold());
            }
        }
        Ok(())
    }

    /// Score of row `off` of segment `vi` at `stage`.
    pub fn score(&self, stage: Stage, vi: usize, off: usize) -> Result<f32, StorageError> {
        let v = &self.views[vi];
        let k = kernels::get();
        match stage {
            Stage::Int8 { .. } => {
                let codes = v.codes.as_ref().ok_or_else(|| not_indexed(v))?;
                let d = (k.dot_i8)(&self.qc.coarse.codes, codes.row(off)?) as i32;
                self.int8_score(v, off, d)
            }
            Stage::Mid { .. } => self.mid_score(vi, off),
            Stage::Bits { .. } => {
                let bits = v.bits.as_ref().ok_or_else(|| not_indexed(v))?;
                Ok((k.hamming)(&self.qc.bits, bits.row(off)?) as f32)
            }
            Stage::F32 { bands, .. } => {
                self.prefix_score(vi, off, bands.clamp(1, self.bands.len()))
            }
        }
    }

    /// Score on the mid prefix (coarse and mid int8 codes).
    pub fn mid_score(&self, vi: usize, off: usize) -> Result<f32, StorageError> {
        let v = &self.views[vi];
        let k = kernels::get();
        let (codes, mid) = match (&v.codes, &v.mid) {
            (Some(c), Some(m)) => (c, m),
            _ => return Err(not_indexed(v)),
        };
        let dc = (k.dot_i8)(&self.qc.coarse.codes, codes.row(off)?);
        let dm = (k.dot_i8)(&self.qc.mid.codes, mid.row(off)?);
        let dot = self.qc.coarse.offset
            + self.qc.coarse.scale * dc
            + self.qc.mid.offset
            + self.qc.mid.scale * dm;
        Ok(match self.q.metric {
            Metric::L2 => aux(v, off, 1)? - 2.0 * dot,
            _ => -dot,
        })
    }

    /// Score on the first `nb` bands of the vector as stored (exact on all of them).
    pub fn prefix_score(&self, vi: usize, off: usize, nb: usize) -> Result<f32, StorageError> {
        let v = &self.views[vi];
        let k = kernels::get();
        let mut acc = 0f32;
        for (b, &(s, e)) in self.bands[..nb].iter().enumerate() {
            let x = v.seg.band_row(b, off)?;
            acc += match self.q.metric {
                Metric::L2 => (k.l2sq_f32_le)(&self.q.unit[s..e], x),
                _ => -(k.dot_f32_le)(&self.q.unit[s..e], x),
            };
        }
        if self.q.metric == Metric::Cosine {
            let inv = v
                .inv_norms
                .as_ref()
                .map_or(Ok(1.0), |n| n.row(off).map(|r| r[0]))?;
            acc *= inv;
        }
        Ok(acc)
    }

    /// Rescores `cands` with `stage` and keeps its best `keep`, in address order.
    pub fn rescore(&self, stage: Stage, cands: &[Cand]) -> Result<Vec<Cand>, StorageError> {
        let mut top = TopK::new(stage.keep());
        for (i, c) in cands.iter().enumerate() {
            if let Some(n) = cands.get(i + PREFETCH_AHEAD) {
                let v = &self.views[n.source()];
                match stage {
                    Stage::F32 { bands, .. } => v.prefetch_exact(n.offset(), bands),
                    _ => v.prefetch_mid(n.offset()),
                }
            }
            top.push(self.score(stage, c.source(), c.offset())?, c.addr);
        }
        Ok(top.into_by_addr())
    }

    /// The exact stage: every candidate at full dimension, the best `k` with their reported
    /// distances, best first.
    pub fn finish(&self, cands: &[Cand], k: usize) -> Result<Vec<Cand>, StorageError> {
        let nb = self.bands.len();
        let mut top = TopK::new(k);
        // every candidate's rows at once: the misses overlap instead of queueing
        for c in cands {
            self.views[c.source()].prefetch_exact(c.offset(), nb);
        }
        for c in cands {
            let s = self.prefix_score(c.source(), c.offset(), nb)?;
            top.push(super::to_distance(self.q.metric, s), c.addr);
        }
        Ok(top.into_sorted())
    }
}

/// The `n` partitions of `m` nearest the query's coarse prefix, nearest first (see
/// [`QueryCtx::probe_order`]).
pub fn probe_order(m: &IndexModel, qc: &QueryCoded, n: usize) -> Vec<usize> {
    probe_scored(m, qc, n)
        .iter()
        .map(|c| c.addr as usize)
        .collect()
}

/// The `n` partitions nearest the query, nearest first, with their scores (`addr` is the
/// partition), comparable with the first stage's row scores.
pub fn probe_scored(m: &IndexModel, qc: &QueryCoded, n: usize) -> Vec<Cand> {
    nearest_sorted(&partition_scores(m, qc), n)
}

/// The best `n` of `scores` (in partition order: `addr` is the position) in the funnel's total
/// order, best first. Selected and sorted as integers ([`order_key`]), which orders exactly as
/// [`Cand`]'s `Ord` does at a fraction of its cost (a filtered walk sorts 256 of 2,000).
fn nearest_sorted(scores: &[Cand], n: usize) -> Vec<Cand> {
    debug_assert!(scores.iter().enumerate().all(|(p, c)| c.addr == p as u64));
    let mut keys: Vec<u64> = scores.iter().map(order_key).collect();
    if n == 0 {
        keys.clear();
    } else if n < keys.len() {
        keys.select_nth_unstable(n - 1);
        keys.truncate(n);
    }
    keys.sort_unstable();
    keys.iter()
        .map(|&k| scores[(k & u64::from(u32::MAX)) as usize])
        .collect()
}

/// A partition's (score, partition) as one integer ordered as `Cand`'s `Ord` orders them: the
/// score's bits made monotone in `f32::total_cmp`'s order (negative scores' bits inverted,
/// the others' sign bit set), the partition (below 2^32) in the low half.
#[inline]
fn order_key(c: &Cand) -> u64 {
    let b = c.dist.to_bits();
    let m = if b >> 31 == 1 { !b } else { b | 0x8000_0000 };
    (u64::from(m) << 32) | (c.addr & u64::from(u32::MAX))
}

/// Every partition's score for the query (`addr` is the partition), in partition order:
/// what [`probe_scored`] sorts, for callers that select from all of them. A score that is
/// not a number (an overflowed centroid norm) is infinite, the farthest, so "at most a bar"
/// picks a prefix of the sorted order ([`super::probe`] relies on it). Kept in `qc` for the
/// model it was prepared for (scoring 2,000 centroids costs about 30 us); recomputed for any
/// other centroids.
pub fn partition_scores<'q>(m: &IndexModel, qc: &'q QueryCoded) -> std::borrow::Cow<'q, [Cand]> {
    let key = (m.centroid_codes.as_ptr() as usize, m.centroid_codes.len());
    let (k, scores) = qc
        .partition_scores
        .get_or_init(|| (key, score_partitions(m, qc)));
    if *k == key {
        std::borrow::Cow::Borrowed(scores)
    } else {
        std::borrow::Cow::Owned(score_partitions(m, qc))
    }
}

fn score_partitions(m: &IndexModel, qc: &QueryCoded) -> Vec<Cand> {
    let mut raw = vec![0i32; m.meta.partitions];
    (kernels::get().dot_i8_rows)(&qc.coarse.codes, &m.centroid_codes, &mut raw);
    raw.iter()
        .enumerate()
        .map(|(p, &d)| {
            let dot = qc.coarse.offset + qc.coarse.scale * d as f32;
            // L2: |q - c|^2 = |q|^2 - 2 q.c + |c|^2, and |q|^2 is the same for every partition
            let dist = if m.spherical() {
                -dot
            } else {
                m.centroid_norms[p] - 2.0 * dot
            };
            Cand {
                dist: probe_score(dist),
                addr: p as u64,
            }
        })
        .collect()
}

/// A partition's score as the probe ranks it: NaN (which `f32::total_cmp` would put before
/// every number when its sign bit is set) becomes infinity.
#[inline]
pub fn probe_score(dist: f32) -> f32 {
    if dist.is_nan() {
        f32::INFINITY
    } else {
        dist
    }
}

fn aux(v: &SegView<'_>, r: usize, i: usize) -> Result<f32, StorageError> {
    v.aux.as_ref().map_or(Ok(0.0), |a| a.row(r).map(|x| x[i]))
}

fn not_indexed(v: &SegView<'_>) -> StorageError {
    StorageError::corrupt(
        format!("segment {}", v.seg.meta().id),
        "not encoded under the table's index",
    )
}

/// Per-thread buffers of a first-stage scan.
struct Scratch {
    top: TopK,
    dots: Vec<i32>,
    /// Selected row offsets of a range scored in place.
    offs: Vec<u32>,
}

/// Scratch buffers larger than this go back to the allocator instead of the thread's spare.
const SPARE_BYTES: usize = 16 << 20;

thread_local! {
    /// The last query's scratch buffers on this thread: a filtered query reuses them
    /// instead of faulting in fresh pages every time.
    static SPARE: std::cell::RefCell<Option<(Vec<i32>, Vec<u32>)>> =
        const { std::cell::RefCell::new(None) };
}

impl Scratch {
    fn new(keep: usize) -> Scratch {
        let (dots, offs) = SPARE.with(|s| s.borrow_mut().take()).unwrap_or_default();
        Scratch {
            top: TopK::new(keep),
            dots,
            offs,
        }
    }

    fn into_top(mut self) -> TopK {
        std::mem::replace(&mut self.top, TopK::new(0))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let bytes = 4 * self.dots.capacity() + 4 * self.offs.capacity();
        if bytes <= SPARE_BYTES {
            let spare = (
                std::mem::take(&mut self.dots),
                std::mem::take(&mut self.offs),
            );
            SPARE.with(|s| *s.borrow_mut() = Some(spare));
        }
    }
}

/// The selected rows of `a..b` and their int8 codes (`c` per row) back to back.
fn gather(
    rows: &ViewRows<'_>,
    (a, b): (u32, u32),
    codes: &super::view::Rows<'_, i8>,
    c: usize,
) -> Result<Gathered, StorageError> {
    let n = rows.count(a, b) as usize;
    let mut g = Gathered {
        offs: Vec::with_capacity(n),
        codes: Vec::with_capacity(n * c),
    };
    let all = codes.range(a as usize, b as usize)?;
    rows.for_each(a, b, |off| {
        g.offs.push(off);
        let o = (off - a) as usize * c;
        g.codes.extend_from_slice(&all[o..o + c]);
    });
    Ok(g)
}

#[cfg(test)]
mod order_tests {
    use super::{nearest_sorted, order_key};
    use crate::topk::Cand;
    use rand::{Rng, SeedableRng};

    /// Regression guard for the integer selection of the probe order: it must keep exactly the
    /// partitions, in exactly the order, that sorting the candidates would, ties, signed zeros
    /// and infinities included.
    #[test]
    fn integer_probe_order_is_the_candidates_total_order() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(38);
        let special = [
            0.0f32,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MIN_POSITIVE,
            -1e-30,
        ];
        for _ in 0..2000 {
            let len = rng.random_range(1..400usize);
            let scores: Vec<Cand> = (0..len)
                .map(|p| {
                    let dist = match rng.random_range(0..4) {
                        0 => special[rng.random_range(0..special.len())],
                        1 => rng.random_range(-4..4) as f32 / 2.0,
                        _ => rng.random_range(-1e3f32..1e3),
                    };
                    Cand {
                        dist,
                        addr: p as u64,
                    }
                })
                .collect();
            let n = rng.random_range(0..=len + 1);
            let mut want = scores.clone();
            want.sort_unstable();
            want.truncate(n);
            let got = nearest_sorted(&scores, n);
            let bits = |v: &[Cand]| {
                v.iter()
                    .map(|c| (c.dist.to_bits(), c.addr))
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(&got), bits(&want), "len {len} n {n}");
            for w in scores.windows(2) {
                assert_eq!(order_key(&w[0]).cmp(&order_key(&w[1])), w[0].cmp(&w[1]));
            }
        }
    }
}
