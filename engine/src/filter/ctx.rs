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

/// See the module docs. A context covers a window of the source's rows (all of them, or the
/// rows of one partition when a filter is tested inside the funnel's first stage): row `r` of
/// the context is row `base + r` of the source, and every bitset is `n` rows long.
pub struct Ctx<'a> {
    /// The table's schema.
    pub schema: &'a TableSchema,
    /// The source.
    pub src: &'a Source<'a>,
    /// Rows of the window.
    pub n: u32,
    /// The window's first row in the source.
    pub base: u32,
    /// Rows of the whole source.
    pub source_rows: u32,
    zones: Option<ZoneMaps<'a>>,
}

impl<'a> Ctx<'a> {
    /// A context over every row of `src`; `use_zones` false ignores zone maps (tests compare
    /// both ways).
    pub fn new(schema: &'a TableSchema, src: &'a Source<'a>, use_zones: bool) -> Result<Ctx<'a>> {
        Self::window(schema, src, use_zones, 0..src.rows())
    }

    /// A context over rows `rows` of `src` (clamped to the source).
    pub fn window(
        schema: &'a TableSchema,
        src: &'a Source<'a>,
        use_zones: bool,
        rows: Range<u32>,
    ) -> Result<Ctx<'a>> {
        let zones = if use_zones { Self::zones(src)? } else { None };
        Ok(Self::with_zones(schema, src, zones, rows))
    }

    /// The zone maps of `src` (segments that have them), checked once for many windows.
    pub fn zones(src: &'a Source<'a>) -> Result<Option<ZoneMaps<'a>>> {
        Ok(match src {
            Source::Segment(s) => ZoneMaps::open(s.sidecar(), s.rows() as u32)?,
            Source::Rows(_) => None,
        })
    }

    /// A context over rows `rows` of `src` with its zone maps `zones` (from [`Ctx::zones`]).
    pub fn with_zones(
        schema: &'a TableSchema,
        src: &'a Source<'a>,
        zones: Option<ZoneMaps<'a>>,
        rows: Range<u32>,
    ) -> Ctx<'a> {
        let total = src.rows();
        let end = rows.end.min(total);
        let base = rows.start.min(end);
        Ctx {
            schema,
            src,
            n: end - base,
            base,
            source_rows: total,
            zones,
        }
    }

    /// Whether the context covers only part of the source.
    pub fn windowed(&self) -> bool {
        self.n != self.source_rows
    }

    /// The type of column `i`.
    pub fn ty(&self, i: usize) -> &'a ColumnType {
        &self.schema.columns()[i].ty
    }

    /// Column `i`, whole (a segment decodes it once and keeps it).
    pub fn column(&self, i: usize) -> Result<ArrayRef> {
        let whole = match self.src {
            Source::Segment(s) => s.column(i)?,
            Source::Rows(b) => b.column(i).clone(),
        };
        Ok(if self.windowed() {
            whole.slice(self.base as usize, self.n as usize)
        } else {
            whole
        })
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
        let (a, b) = (self.base as usize, (self.base + self.n) as usize);
        Ok(sec
            .map(cast_slice::<u32>)
            .filter(|o| o.len() == self.source_rows as usize)
            .map(|o| &o[a..b]))
    }

    /// Per zone, `decide`'s verdict on column `col` (None without zone maps for it).
    pub fn decide(
        &self,
        col: usize,
        decide: impl Fn(Bounds, u32) -> Zone,
    ) -> Option<Vec<(Range<u32>, Zone)>> {
        self.zones
            .as_ref()?
            .decide(col, self.base..self.base + self.n, decide)
    }

    /// The estimated fraction of the window's rows where a predicate on column `col` is TRUE or
    /// UNKNOWN, from `share(bounds, rows)` per zone (None without zone maps for `col`).
    pub fn zone_share(&self, col: usize, share: impl Fn(Bounds, u32) -> f64) -> Option<f64> {
        let kept = self.zones.as_ref()?.fold(
            col,
            self.base..self.base + self.n,
            0.0,
            |acc, r, b, rows| acc + f64::from(r.end - r.start) * share(b, rows),
        )?;
        Some(kept / f64::from(self.n.max(1)))
    }
}
