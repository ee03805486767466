//! A segment seen by the search: its engine sections, each read in place and verified block
//! by block the first time a range of it is used.

use nestdb_storage::container::{Container, Pod, Raw};
use nestdb_storage::{sections, Segment, StorageError};

use crate::index::IndexModel;
use crate::kernels;

/// A per-row section: `width` values of `T` per row, verified on first use of each range.
#[derive(Clone, Copy)]
pub struct Rows<'a, T> {
    data: &'a [T],
    raw: Raw<'a>,
    container: &'a Container,
    /// Values per row.
    pub width: usize,
}

impl<'a, T: Pod> Rows<'a, T> {
    fn open(
        c: &'a Container,
        tag: u32,
        rows: usize,
        width: usize,
    ) -> Result<Option<Rows<'a, T>>, StorageError> {
        if !c.has(tag) {
            return Ok(None);
        }
        let (data, raw) = c.typed_raw::<T>(tag, rows * width)?;
        Ok(Some(Rows {
            data,
            raw,
            container: c,
            width,
        }))
    }

    /// Rows `a..b`, verified.
    #[inline]
    pub fn range(&self, a: usize, b: usize) -> Result<&'a [T], StorageError> {
        let s = std::mem::size_of::<T>() * self.width;
        self.container.verify(&self.raw, a * s..b * s)?;
        Ok(&self.data[a * self.width..b * self.width])
    }

    /// Row `r` without verification (for prefetching only).
    #[inline]
    pub fn row_unverified(&self, r: usize) -> Option<&'a [T]> {
        self.data.get(r * self.width..(r + 1) * self.width)
    }

    /// Row `r`, verified.
    #[inline]
    pub fn row(&self, r: usize) -> Result<&'a [T], StorageError> {
        self.range(r, r + 1)
    }
}

/// A segment's sections the funnel reads.
pub struct SegView<'a> {
    /// The segment (vectors are read from its Parquet pages).
    pub seg: &'a Segment,
    /// Rows in the segment.
    pub rows: usize,
    /// Partition row offsets (`partitions + 1`), when the segment is clustered.
    pub partitions: Option<&'a [u32]>,
    /// int8 codes of the coarse prefix.
    pub codes: Option<Rows<'a, i8>>,
    /// int8 codes of the mid dims.
    pub mid: Option<Rows<'a, i8>>,
    /// Packed sign bits of the coarse prefix.
    pub bits: Option<Rows<'a, u8>>,
    /// Squared norms of the rotated coarse and mid prefixes (L2).
    pub aux: Option<Rows<'a, f32>>,
    /// `1 / |x|` (cosine).
    pub inv_norms: Option<Rows<'a, f32>>,
}

impl<'a> SegView<'a> {
    /// Views segment `s` encoded under `model` (or none), checking every section's size.
    pub fn new(s: &'a Segment, model: Option<&IndexModel>) -> Result<SegView<'a>, StorageError> {
        let c = s.sidecar();
        let rows = s.rows();
        let bad = |r: &str| StorageError::corrupt(c.path().display().to_string(), r);
        let mut v = SegView {
            seg: s,
            rows,
            partitions: None,
            codes: None,
            mid: None,
            bits: None,
            aux: None,
            inv_norms: Rows::open(c, sections::INV_NORMS, rows, 1)?,
        };
        if s.table_schema().metric() == nestdb_storage::Metric::Cosine && v.inv_norms.is_none() {
            return Err(bad("cosine segment without vector norms"));
        }
        let Some(m) = model.filter(|m| m.version == s.meta().index_version) else {
            return Ok(v);
        };
        let p = c.typed::<u32>(sections::PARTITION_OFFSETS, m.meta.partitions + 1)?;
        if p.last().is_some_and(|&l| l as usize != rows) || p.windows(2).any(|w| w[0] > w[1]) {
            return Err(bad("partition offsets do not cover the rows"));
        }
        v.partitions = Some(p);
        v.codes = Rows::open(c, sections::CODES_I8, rows, m.meta.coarse_dims)?;
        v.mid = Rows::open(
            c,
            sections::CODES_MID,
            rows,
            m.meta.mid_dims - m.meta.coarse_dims,
        )?;
        v.bits = Rows::open(c, sections::CODES_BITS, rows, m.bits_bytes())?;
        v.aux = Rows::open(c, sections::CODES_AUX, rows, 2)?;
        if v.codes.is_none() || v.mid.is_none() {
            return Err(bad("indexed segment without its codes"));
        }
        Ok(v)
    }

    /// Hints the CPU to fetch what the mid stage reads of row `r`.
    #[inline]
    pub fn prefetch_mid(&self, r: usize) {
        if let (Some(c), Some(m)) = (&self.codes, &self.mid) {
            c.row_unverified(r).map(kernels::prefetch);
            m.row_unverified(r).map(kernels::prefetch);
        }
    }

    /// Hints the CPU to fetch what the exact stage reads of row `r` (every band, the norm).
    #[inline]
    pub fn prefetch_exact(&self, r: usize, bands: usize) {
        for b in 0..bands {
            if let Some(x) = self.seg.band_row_unverified(b, r) {
                kernels::prefetch(x);
                if x.len() > 256 {
                    kernels::prefetch(&x[256..]);
                }
            }
        }
        if let Some(n) = &self.inv_norms {
            n.row_unverified(r).map(kernels::prefetch);
        }
    }
}
