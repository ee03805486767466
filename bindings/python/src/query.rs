//! Search options shared by `search`, `search_batch` and `explain`.

use nestdb::Filter;
use nestdb::{Search, SearchParams, Snapshot};

/// What a search asks for besides the query vector.
pub struct SearchOpts {
    pub k: usize,
    pub filter: Option<String>,
    pub select: Option<Vec<String>>,
    pub params: SearchParams,
}

impl SearchOpts {
    pub fn new(
        k: usize,
        filter: Option<String>,
        select: Option<Vec<String>>,
        recall_target: Option<f32>,
        exact: bool,
        nprobe: Option<usize>,
        shortlist: Option<Vec<usize>>,
    ) -> SearchOpts {
        SearchOpts {
            k,
            filter,
            select,
            params: SearchParams {
                exact,
                recall_target,
                nprobe,
                shortlist,
                ..SearchParams::default()
            },
        }
    }

    /// The parsed filter, if any.
    pub fn parsed_filter(&self) -> nestdb::Result<Option<Filter>> {
        self.filter.as_deref().map(Filter::parse).transpose()
    }

    /// A search of `query` on `snap` (the filter parsed once by the caller).
    pub fn build(&self, snap: &Snapshot, query: &[f32], filter: Option<&Filter>) -> Search {
        let mut s = snap.search(query).limit(self.k).params(self.params.clone());
        if let Some(cols) = &self.select {
            let names: Vec<&str> = cols.iter().map(String::as_str).collect();
            s = s.select(&names);
        }
        if let Some(f) = filter {
            s = s.filter(f.clone());
        }
        s
    }
}
