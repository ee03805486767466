//! A small cache of filter selections: applications repeat filters query after query, and a
//! selection (with the filtered funnel's gathered codes) is worth keeping for its version.
//! Codes are gathered into the cache only from a filter's second use: a filter seen once
//! (a per-query predicate) would otherwise fill the cache with codes nobody reads again.
//!
//! Bounded: at most [`ENTRIES`] entries and [`BYTES`] bytes of bitmaps and gathered codes;
//! least recently used first out. Entries are keyed by the version's number, not the version
//! itself, so the cache never keeps an old version (its files, its memory) alive: once the
//! table moves on, old entries simply stop matching and age out.

use std::sync::{Arc, Mutex};

use nestdb_storage::TableVersion;

use crate::error::Result;
use crate::filter::{Filter, RowSet, Selection};
use crate::search::rows::GatherCache;

/// Entries kept at most.
pub const ENTRIES: usize = 16;
/// Bytes of bitmaps kept at most (gathered codes, filled later, count when inserted again).
pub const BYTES: usize = 64 << 20;

/// A filter's rows in one version, and the funnel's cache of their codes.
#[derive(Debug)]
pub struct CachedSelection {
    /// The rows.
    pub selection: Selection,
    /// Per segment, the selected rows' codes gathered by the first funnel that needs them
    /// (`None` for unfiltered searches and for a filter used once so far).
    pub gathered: Option<GatherCache>,
}

impl CachedSelection {
    /// A per-query selection of every live row (nothing to cache).
    pub fn unfiltered(selection: Selection) -> CachedSelection {
        CachedSelection {
            selection,
            gathered: None,
        }
    }

    fn bytes(&self) -> usize {
        let sets: usize = self
            .selection
            .segments
            .iter()
            .chain(&self.selection.mem)
            .map(|r| match r {
                RowSet::Some(b) => b.bytes(),
                _ => 0,
            })
            .sum();
        let codes: usize = self
            .gathered
            .iter()
            .flat_map(|g| &g.segments)
            .filter_map(|c| c.get())
            .map(|g| g.codes.len() + 4 * g.offs.len())
            .sum();
        sets + codes
    }
}

/// What the cache gave for a filter.
pub enum Got<P> {
    /// A selection from an earlier query (`true`) or evaluated now (`false`).
    Selection(Arc<CachedSelection>, bool),
    /// The filter's first sighting, which the caller tests inside the funnel's first stage:
    /// nothing was evaluated; the cache remembers the filter so that a second use evaluates
    /// and keeps its selection. `P` is what the caller's decision produced (its plan).
    InStage(P),
}

type Entry = (u64, Filter, Option<Arc<CachedSelection>>);

/// See the module docs.
#[derive(Default)]
pub struct SelectionCache {
    entries: Mutex<Vec<Entry>>,
}

impl SelectionCache {
    /// The selection of `f` in `v`, cached; also whether it was in the cache.
    pub fn selection(
        &self,
        v: &Arc<TableVersion>,
        f: &Filter,
    ) -> Result<(Arc<CachedSelection>, bool)> {
        match self.get(v, f, || Ok(None::<std::convert::Infallible>))? {
            Got::Selection(s, cached) => Ok((s, cached)),
            Got::InStage(never) => match never {},
        }
    }

    /// [`SelectionCache::selection`], except that on the filter's first sighting in `v`,
    /// `in_stage()` may take it (`Some(plan)`) to test it inside the funnel's first stage
    /// instead ([`Got::InStage`]: nothing evaluated, only the sighting remembered).
    pub fn get<P>(
        &self,
        v: &Arc<TableVersion>,
        f: &Filter,
        in_stage: impl FnOnce() -> Result<Option<P>>,
    ) -> Result<Got<P>> {
        let lock = || self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let seen = {
            let mut cache = lock();
            match cache
                .iter()
                .position(|(seq, filt, _)| *seq == v.seq && filt == f)
            {
                Some(pos) => {
                    let mut hit = cache.remove(pos);
                    if let Some(sel) = &mut hit.2 {
                        if sel.gathered.is_none() {
                            // seen twice: worth keeping the selected rows' codes gathered too
                            *sel = Arc::new(CachedSelection {
                                selection: sel.selection.clone(),
                                gathered: Some(GatherCache::new(v.segments.len())),
                            });
                        }
                        let out = sel.clone();
                        cache.insert(0, hit);
                        return Ok(Got::Selection(out, true));
                    }
                    true
                }
                None => false,
            }
        };
        if !seen {
            if let Some(plan) = in_stage()? {
                self.insert(v, f, None);
                return Ok(Got::InStage(plan));
            }
        }
        // a filter seen once gathers codes into the query's own (reused) buffers; one seen
        // before (tested in stage) is evaluated now and gathers from its next use
        let sel = Arc::new(CachedSelection {
            gathered: seen.then(|| GatherCache::new(v.segments.len())),
            selection: f.selection(v)?,
        });
        self.insert(v, f, Some(sel.clone()));
        Ok(Got::Selection(sel, false))
    }

    fn insert(&self, v: &TableVersion, f: &Filter, sel: Option<Arc<CachedSelection>>) {
        let mut cache = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(0, (v.seq, f.clone(), sel));
        let mut total = 0;
        let keep = cache
            .iter()
            .take_while(|(_, _, s)| {
                total += s.as_ref().map_or(0, |s| s.bytes());
                total <= BYTES
            })
            .count()
            .clamp(1, ENTRIES);
        cache.truncate(keep);
    }
}
