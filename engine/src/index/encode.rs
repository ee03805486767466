//! Encoding rows under a model: partition assignment, clustering, coarse codes.

use nestdb_storage::container::as_bytes;
use nestdb_storage::{sections, Metric};

use super::{kmeans, IndexModel};
use crate::layout::{Layout, SegView};

/// Rows encoded under a model, in clustered order.
pub struct EncodedRows {
    /// New position -> input row.
    pub order: Vec<u32>,
    /// Partition row offsets (`partitions + 1`).
    pub offsets: Vec<u32>,
    /// int8 codes, `rows x coarse_dims`.
    pub codes: Vec<i8>,
    /// Sign bits, `rows x bits_dims / 8`.
    pub bits: Vec<u8>,
    /// Squared norm of each row's coarse prefix.
    pub norms: Vec<f32>,
    /// Band regions of the transformed rows, in clustered order.
    pub bands: Vec<Vec<f32>>,
}

impl EncodedRows {
    /// The index sections of a segment holding these rows (band regions excluded).
    pub fn sections(&self) -> Vec<(u32, Vec<u8>)> {
        vec![
            (
                sections::PARTITION_OFFSETS,
                as_bytes(&self.offsets).to_vec(),
            ),
            (sections::CODES_I8, as_bytes(&self.codes).to_vec()),
            (sections::CODES_BITS, self.bits.clone()),
            (sections::CODES_I8_AUX, as_bytes(&self.norms).to_vec()),
        ]
    }

    /// A search view over these rows.
    pub fn view(&self) -> SegView<'_> {
        SegView {
            rows: self.order.len(),
            bands: self.bands.iter().map(|b| b.as_slice()).collect(),
            partitions: Some(&self.offsets),
            codes_i8: Some(&self.codes),
            codes_bits: Some(&self.bits),
            norms: Some(&self.norms),
        }
    }
}

impl IndexModel {
    /// Whether partitions use inner product (cosine, dot) rather than L2.
    pub fn spherical(&self) -> bool {
        self.meta.metric != Metric::L2
    }

    /// Bytes of sign code per row.
    pub fn bits_bytes(&self) -> usize {
        self.meta.bits_dims.div_ceil(8)
    }

    /// Clusters transformed rows `x` (`n x dim`) by partition and computes their codes.
    pub fn encode_transformed(&self, layout: &Layout, x: &[f32]) -> EncodedRows {
        let d = self.meta.dim;
        let c = self.meta.coarse_dims;
        let n = x.len() / d;
        let prefix: Vec<f32> = x
            .chunks_exact(d)
            .flat_map(|r| r[..c].iter().copied())
            .collect();
        let parts = kmeans::assign(&prefix, c, &self.centroids, self.spherical());
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by_key(|&i| parts[i as usize]);
        let mut offsets = vec![0u32; self.meta.partitions + 1];
        for &p in &parts {
            offsets[p as usize + 1] += 1;
        }
        for i in 0..self.meta.partitions {
            offsets[i + 1] += offsets[i];
        }
        let bb = self.bits_bytes();
        let mut sorted = Vec::with_capacity(x.len());
        let mut codes = vec![0i8; n * c];
        let mut bits = vec![0u8; n * bb];
        let mut norms = Vec::with_capacity(n);
        for (new, &old) in order.iter().enumerate() {
            let row = &x[old as usize * d..(old as usize + 1) * d];
            sorted.extend_from_slice(row);
            self.quant.encode(row, &mut codes[new * c..(new + 1) * c]);
            self.quant.encode_bits(
                row,
                self.meta.bits_dims,
                &mut bits[new * bb..(new + 1) * bb],
            );
            norms.push(row[..c].iter().map(|v| v * v).sum());
        }
        EncodedRows {
            bands: layout.band_regions(&sorted),
            order,
            offsets,
            codes,
            bits,
            norms,
        }
    }
}
