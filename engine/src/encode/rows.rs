//! The per-row sections of a segment: the learned index's codes of each row (its partition,
//! int8 codes of the rotated coarse and mid prefixes, sign bits, the prefix norms L2 needs) and
//! `1 / |x|` (cosine), computed from the vectors as stored.

use nestdb_storage::container::as_bytes;
use nestdb_storage::{sections, Metric};
use rayon::prelude::*;

use crate::index::IndexModel;
use crate::layout::Layout;

/// Rows coded per block (bounds the transformed copy).
const BLOCK: usize = 4096;

/// The coded rows of a batch, in the batch's order.
#[derive(Debug, Default)]
pub struct CodedRows {
    /// Partition of each row (indexed tables).
    pub parts: Vec<u32>,
    /// int8 codes of the coarse prefix, `rows x coarse_dims`.
    pub codes: Vec<i8>,
    /// int8 codes of dims `coarse..mid`, `rows x (mid - coarse)`.
    pub mid: Vec<i8>,
    /// Sign bits, `rows x bits_bytes`.
    pub bits: Vec<u8>,
    /// Squared norms of the rotated coarse and mid prefixes (L2), 2 per row.
    pub aux: Vec<f32>,
    /// `1 / |x|` (cosine).
    pub inv_norms: Vec<f32>,
}

/// The per-row sections a segment under `model` carries for `metric`: (tag, bytes per row),
/// in the order [`CodedRows::row_bytes`] yields them. PATH ordinals are appended by the caller.
pub fn row_spec(model: Option<&IndexModel>, metric: Metric) -> Vec<(u32, usize)> {
    let mut v = Vec::new();
    if let Some(m) = model {
        v.push((sections::CODES_I8, m.meta.coarse_dims));
        v.push((sections::CODES_MID, m.meta.mid_dims - m.meta.coarse_dims));
        v.push((sections::CODES_BITS, m.bits_bytes()));
        if metric == Metric::L2 {
            v.push((sections::CODES_AUX, 8));
        }
    }
    if metric == Metric::Cosine {
        v.push((sections::INV_NORMS, 4));
    }
    v
}

impl CodedRows {
    /// Codes `vectors` (`n x dim`, as stored) under `model` (or none).
    /// Blocks of [`BLOCK`] rows are coded in parallel and joined in order.
    pub fn code(model: Option<&IndexModel>, layout: &Layout, vectors: &[f32]) -> CodedRows {
        Self::code_in(model, layout, vectors, None)
    }

    /// [`CodedRows::code`] for rows whose partitions under `model` are already known (one per
    /// row, as [`IndexModel::assign`] gives them): compaction's bucket pass assigned them, so
    /// the coding does not assign every row a second time.
    ///
    /// # Panics
    /// If `parts` does not hold one partition per row (a caller's bug: misaligned partitions
    /// would file rows out of order).
    pub fn code_assigned(
        model: &IndexModel,
        layout: &Layout,
        vectors: &[f32],
        parts: &[u32],
    ) -> CodedRows {
        assert_eq!(
            parts.len() * layout.dim.max(1),
            vectors.len(),
            "one partition per row"
        );
        Self::code_in(Some(model), layout, vectors, Some(parts))
    }

    fn code_in(
        model: Option<&IndexModel>,
        layout: &Layout,
        vectors: &[f32],
        parts: Option<&[u32]>,
    ) -> CodedRows {
        let d = layout.dim.max(1);
        let blocks: Vec<CodedRows> = vectors
            .par_chunks(BLOCK * d)
            .enumerate()
            .map(|(i, block)| {
                let mut out = CodedRows::default();
                if layout.metric == Metric::Cosine {
                    out.inv_norms.extend(block.chunks_exact(d).map(inv_norm));
                }
                if let Some(m) = model {
                    let known = parts.map(|p| {
                        let a = (i * BLOCK).min(p.len());
                        &p[a..(a + block.len() / d).min(p.len())]
                    });
                    out.code_block(m, layout, block, known);
                }
                out
            })
            .collect();
        let mut out = CodedRows::default();
        for b in blocks {
            out.append(b);
        }
        out
    }

    /// Appends the rows of `b` after these.
    fn append(&mut self, mut b: CodedRows) {
        self.parts.append(&mut b.parts);
        self.codes.append(&mut b.codes);
        self.mid.append(&mut b.mid);
        self.bits.append(&mut b.bits);
        self.aux.append(&mut b.aux);
        self.inv_norms.append(&mut b.inv_norms);
    }

    fn code_block(
        &mut self,
        m: &IndexModel,
        layout: &Layout,
        block: &[f32],
        known: Option<&[u32]>,
    ) {
        let (c, mid) = (m.meta.coarse_dims, m.meta.mid_dims);
        // every code reads the rotated prefix up to `mid` (sign bits cover `bits_dims <= mid`)
        let w = mid.max(m.meta.bits_dims);
        let x = layout.transform_prefix(block, w);
        match known {
            Some(p) => self.parts.extend_from_slice(p),
            None => self.parts.extend(m.assign(&x, w)),
        }
        let bb = m.bits_bytes();
        for row in x.chunks_exact(w) {
            let at = self.codes.len();
            self.codes.resize(at + c, 0);
            m.quant.encode_range(row, 0..c, &mut self.codes[at..]);
            let at = self.mid.len();
            self.mid.resize(at + mid - c, 0);
            m.quant.encode_range(row, c..mid, &mut self.mid[at..]);
            let at = self.bits.len();
            self.bits.resize(at + bb, 0);
            m.quant
                .encode_bits(row, m.meta.bits_dims, &mut self.bits[at..]);
            if layout.metric == Metric::L2 {
                let sc: f32 = row[..c].iter().map(|v| v * v).sum();
                let sm: f32 = row[c..mid].iter().map(|v| v * v).sum();
                self.aux.extend_from_slice(&[sc, sc + sm]);
            }
        }
    }

    /// Rows `order` of these (a permutation or a subset), in that order.
    pub fn select(&self, order: &[u32], model: Option<&IndexModel>) -> CodedRows {
        let pick = |v: &[u8], w: usize| -> Vec<u8> {
            let mut out = Vec::with_capacity(order.len() * w);
            for &o in order {
                out.extend_from_slice(&v[o as usize * w..(o as usize + 1) * w]);
            }
            out
        };
        let (c, mw, bb) = model.map_or((0, 0, 0), |m| {
            (
                m.meta.coarse_dims,
                m.meta.mid_dims - m.meta.coarse_dims,
                m.bits_bytes(),
            )
        });
        let i8s = |v: &[i8], w: usize| -> Vec<i8> {
            pick(as_bytes(v), w).into_iter().map(|b| b as i8).collect()
        };
        let f32s = |v: &[f32], w: usize| -> Vec<f32> {
            let mut out = Vec::with_capacity(order.len() * w);
            for &o in order {
                out.extend_from_slice(&v[o as usize * w..(o as usize + 1) * w]);
            }
            out
        };
        CodedRows {
            parts: order
                .iter()
                .filter_map(|&o| self.parts.get(o as usize).copied())
                .collect(),
            codes: if c > 0 {
                i8s(&self.codes, c)
            } else {
                Vec::new()
            },
            mid: if mw > 0 {
                i8s(&self.mid, mw)
            } else {
                Vec::new()
            },
            bits: if bb > 0 {
                pick(&self.bits, bb)
            } else {
                Vec::new()
            },
            aux: if self.aux.is_empty() {
                Vec::new()
            } else {
                f32s(&self.aux, 2)
            },
            inv_norms: if self.inv_norms.is_empty() {
                Vec::new()
            } else {
                f32s(&self.inv_norms, 1)
            },
        }
    }

    /// Bytes of rows `a..b` of every section of [`row_spec`], in its order.
    pub fn row_bytes(&self, spec: &[(u32, usize)], a: usize, b: usize) -> Vec<&[u8]> {
        spec.iter()
            .map(|&(tag, w)| {
                let all: &[u8] = match tag {
                    sections::CODES_I8 => as_bytes(&self.codes),
                    sections::CODES_MID => as_bytes(&self.mid),
                    sections::CODES_BITS => &self.bits,
                    sections::CODES_AUX => as_bytes(&self.aux),
                    sections::INV_NORMS => as_bytes(&self.inv_norms),
                    _ => &[],
                };
                all.get(a * w..b * w).unwrap_or(&[])
            })
            .collect()
    }
}

/// `1 / |x|` (0 for the zero vector, which cosine tables reject on input).
pub fn inv_norm(x: &[f32]) -> f32 {
    let n = x
        .iter()
        .map(|v| (*v as f64) * (*v as f64))
        .sum::<f64>()
        .sqrt();
    if n > 0.0 {
        (1.0 / n) as f32
    } else {
        0.0
    }
}
