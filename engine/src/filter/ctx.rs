//! What filter evaluation reads from one source: its columns, and for a segment its label
//! dictionaries, label ordinal columns and zone maps.

use std::cell::RefCell;
use std::convert::Infallible;
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
    memo: Option<&'a Memo<'a>>,
}

/// What an evaluation over many windows of one segment looks up once instead of per window:
/// each PATH column's label dictionary and ordinal column, the label ids each label leaf
/// resolves to (a binary search over the dictionary's strings) and the order in which each AND
/// evaluates its parts. Leaves and ANDs are keyed by their address, so a memo must not outlive
/// the one evaluation of one filter on one segment it was made for (`filter::eval` makes one
/// per segment per call).
#[derive(Default)]
pub(crate) struct Memo<'a> {
    labels: Memoized<Option<LabelIndex<'a>>>,
    ordinals: Memoized<Option<&'a [u32]>>,
    ids: Memoized<Vec<Range<usize>>>,
    orders: Memoized<Vec<usize>>,
}

/// Values by key (a column, or a filter node's address), few enough to search in a list.
type Memoized<V> = RefCell<Vec<(usize, V)>>;

/// `key`'s value in `memo`, computed by `f` (and kept) on first use; errors are not kept.
fn memoized<V: Clone, E>(
    memo: &Memoized<V>,
    key: usize,
    f: impl FnOnce() -> std::result::Result<V, E>,
) -> std::result::Result<V, E> {
    if let Some((_, v)) = memo.borrow().iter().find(|(k, _)| *k == key) {
        return Ok(v.clone());
    }
    let v = f()?;
    memo.borrow_mut().push((key, v.clone()));
    Ok(v)
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
            memo: None,
        }
    }

    /// This context looking up dictionaries, ordinal columns, label ids and AND orders through
    /// `memo` (shared by the windows of one segment in one evaluation).
    pub(crate) fn with_memo(self, memo: &'a Memo<'a>) -> Ctx<'a> {
        Ctx {
            memo: Some(memo),
            ..self
        }
    }

    /// The label ids leaf `leaf` selects in this source's dictionary, from `ids` (run once per
    /// evaluation when the context has a memo).
    pub fn label_ids(
        &self,
        leaf: &super::Filter,
        ids: impl FnOnce() -> Vec<Range<usize>>,
    ) -> Vec<Range<usize>> {
        self.by_node(leaf, |m| &m.ids, ids)
    }

    /// The order in which AND `node` evaluates its parts, from `order` (run once per evaluation
    /// when the context has a memo: the first window's estimates order every window, which
    /// changes the work, never the result).
    pub fn and_order(
        &self,
        node: &super::Filter,
        order: impl FnOnce() -> Vec<usize>,
    ) -> Vec<usize> {
        self.by_node(node, |m| &m.orders, order)
    }

    /// `f()` for filter node `node`, kept in the memo's `field` under the node's address.
    fn by_node<V: Clone + 'a>(
        &self,
        node: &super::Filter,
        field: impl Fn(&'a Memo<'a>) -> &'a Memoized<V>,
        f: impl FnOnce() -> V,
    ) -> V {
        let key = node as *const super::Filter as usize;
        match self.memo {
            Some(m) => match memoized(field(m), key, || Ok::<_, Infallible>(f())) {
                Ok(v) => v,
                Err(never) => match never {},
            },
            None => f(),
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
        let Source::Segment(s) = self.src else {
            return Ok(None);
        };
        let open = || LabelIndex::open(s.sidecar(), col);
        Ok(match self.memo {
            Some(m) => memoized(&m.labels, col, open)?,
            None => open()?,
        })
    }

    /// Each row's label ordinal in PATH column `col` (segments that store them).
    pub fn ordinals(&self, col: usize) -> Result<Option<&'a [u32]>> {
        let Source::Segment(s) = self.src else {
            return Ok(None);
        };
        let rows = self.source_rows as usize;
        let whole = || -> Result<Option<&'a [u32]>> {
            let sec = s
                .sidecar()
                .section(label_tag(col, sections::LABEL_ORDINALS))?;
            Ok(sec.map(cast_slice::<u32>).filter(|o| o.len() == rows))
        };
        let whole = match self.memo {
            Some(m) => memoized(&m.ordinals, col, whole)?,
            None => whole()?,
        };
        let (a, b) = (self.base as usize, (self.base + self.n) as usize);
        Ok(whole.map(|o| &o[a..b]))
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

    /// `decide`'s verdict on column `col` when it is the same for every zone of the window
    /// (None when zones differ, the column is not zoned, or the window is empty): `All` means
    /// every row of the window is TRUE, `None` every row FALSE.
    pub fn uniform(&self, col: usize, decide: impl Fn(Bounds, u32) -> Zone) -> Option<Zone> {
        if self.n == 0 {
            return None;
        }
        let decided = |b, rows| Some(decide(b, rows)).filter(|z| *z != Zone::Scan);
        self.zones
            .as_ref()?
            .uniform(col, self.base..self.base + self.n, decided)
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
