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

/// See the module docs.
#[derive(Default)]
pub struct SelectionCache {
    entries: Mutex<Vec<(u64, Filter, Arc<CachedSelection>)>>,
}

impl SelectionCache {
    /// The selection of `f` in `v`, cached; also whether it was in the cache.
    pub fn get(&self, v: &Arc<TableVersion>, f: &Filter) -> Result<(Arc<CachedSelection>, bool)> {
        let lock = || self.entries.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut cache = lock();
            if let Some(pos) = cache
                .iter()
                .position(|(seq, filt, _)| *seq == v.seq && filt == f)
            {
                let mut hit = cache.remove(pos);
                if hit.2.gathered.is_none() {
                    // seen twice: worth keeping the selected rows' codes gathered too
                    hit.2 = Arc::new(CachedSelection {
                        selection: hit.2.selection.clone(),
                        gathered: Some(GatherCache::new(v.segments.len())),
                    });
                }
                let sel = hit.2.clone();
                cache.insert(0, hit);
                return Ok((sel, true));
            }
        }
        // a filter seen once gathers codes into the query's own (reused) buffers
        let sel = Arc::new(CachedSelection {
            gathered: None,
            selection: f.selection(v)?,
        });
        let mut cache = lock();
        cache.insert(0, (v.seq, f.clone(), sel.clone()));
        let mut total = 0;
        let keep = cache
            .iter()
            .take_while(|(_, _, s)| {
                total += s.bytes();
                total <= BYTES
            })
            .count()
            .clamp(1, ENTRIES);
        cache.truncate(keep);
        Ok((sel, false))
    }
}
