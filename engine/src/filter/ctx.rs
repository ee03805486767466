//! What filter evaluation reads from one source: its columns, and for a segment its label
//! dictionaries, label ordinal columns and zone maps.

use std::ops::Range;

use arrow_array::ArrayRef;
use nestdb_storage::container::cast_slice;
use nestdb_storage::sections::{self, label_tag};
use nestdb_storage::{ColumnType, Segment, TableSchema};

use super::labels::LabelIndex;
use super::zones::{Bounds, Zone, ZoneMaps};
use crate::error::Result;

/// One source of rows.
pub enum Source<'a> {
    /// A segment (label predicates use its dictionaries, ranges its zone maps).
    Segment(&'a Segment),
    /// Unflushed rows.
    Rows(&'a arrow_array::RecordBatch),
}

impl Source<'_> {
    /// Rows of the source.
    pub fn rows(&self) -> u32 {
        match self {
            Source::Segment(s) => s.rows() as u32,
            Source::Rows(b) => b.num_rows() as u32,
        }
    }
}

/// See the module docs.
pub struct Ctx<'a> {
    /// The table's schema.
    pub schema: &'a TableSchema,
    /// The source.
    pub src: &'a Source<'a>,
    /// Rows of the source.
    pub n: u32,
    zones: Option<ZoneMaps<'a>>,
}

impl<'a> Ctx<'a> {
    /// A context over `src`; `use_zones` false ignores zone maps (tests compare both ways).
    pub fn new(schema: &'a TableSchema, src: &'a Source<'a>, use_zones: bool) -> Result<Ctx<'a>> {
        let zones = match src {
            Source::Segment(s) if use_zones => ZoneMaps::open(s.sidecar(), s.rows() as u32)?,
            _ => None,
        };
        Ok(Ctx {
            schema,
            src,
            n: src.rows(),
            zones,
        })
    }

    /// The type of column `i`.
    pub fn ty(&self, i: usize) -> &'a ColumnType {
        &self.schema.columns()[i].ty
    }

    /// Column `i`, whole (a segment decodes it once and keeps it).
    pub fn column(&self, i: usize) -> Result<ArrayRef> {
        match self.src {
            Source::Segment(s) => Ok(s.column(i)?),
            Source::Rows(b) => Ok(b.column(i).clone()),
        }
    }

    /// The label dictionary of PATH column `col` (segments only).
    pub fn labels(&self, col: usize) -> Result<Option<LabelIndex<'a>>> {
        match self.src {
            Source::Segment(s) => Ok(LabelIndex::open(s.sidecar(), col)?),
            Source::Rows(_) => Ok(None),
        }
    }

    /// Each row's label ordinal in PATH column `col` (segments that store them).
    pub fn ordinals(&self, col: usize) -> Result<Option<&'a [u32]>> {
        let Source::Segment(s) = self.src else {
            return Ok(None);
        };
        let sec = s
            .sidecar()
            .section(label_tag(col, sections::LABEL_ORDINALS))?;
        Ok(sec
            .map(cast_slice::<u32>)
            .filter(|o| o.len() == self.n as usize))
    }

    /// Per zone, `decide`'s verdict on column `col` (None without zone maps for it).
    pub fn decide(
        &self,
        col: usize,
        decide: impl Fn(Bounds, u32) -> Zone,
    ) -> Option<Vec<(Range<u32>, Zone)>> {
        self.zones.as_ref()?.decide(col, decide)
    }

    /// The estimated fraction of rows where `decide` leaves `Scan` or `All`, weighting `All`
    /// zones fully and `Scan` zones by `scan_share` (None without zone maps for `col`).
    pub fn zone_share(
        &self,
        col: usize,
        decide: impl Fn(Bounds, u32) -> Zone,
        scan_share: f64,
    ) -> Option<f64> {
        let zs = self.decide(col, decide)?;
        let kept: f64 = zs
            .iter()
            .map(|(r, z)| {
                let rows = (r.end - r.start) as f64;
                match z {
                    Zone::None => 0.0,
                    Zone::All => rows,
                    Zone::Scan => rows * scan_share,
                }
            })
            .sum();
        Some(kept / f64::from(self.n.max(1)))
    }
}
