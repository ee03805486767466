//! Integrity check: every checksummed byte verifies, every live key is held exactly once, the
//! id index of unflushed rows matches them one to one, and no file is left unreferenced.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use rocksdb::DB;

use crate::error::Result;
use crate::keys::{self, Location};
use crate::table::{TableStore, TableVersion};

/// Checks one table; returns the problems found (empty: healthy).
pub fn check_table(db: &DB, t: &TableStore) -> Result<Vec<String>> {
    let _w = t.writer()?; // no writer may move things while we compare
    let v = t.snapshot();
    let name = &v.def.name;
    let mut problems = Vec::new();
    let expected = v.manifest.index.as_ref().map_or(0, |r| r.version);
    for (s, d) in v.segments.iter().zip(&v.deletes) {
        let id = s.meta().id;
        if let Err(e) = s.verify_all() {
            problems.push(format!("table {name}: segment {id}: {e}"));
        }
        if s.meta().index_version != expected {
            problems.push(format!(
                "table {name}: segment {id} is encoded under index {}, the manifest uses {expected}",
                s.meta().index_version
            ));
        }
        if d.max().is_some_and(|m| m as usize >= s.rows()) {
            problems.push(format!(
                "table {name}: segment {id}: deletion bitmap beyond its rows"
            ));
        }
    }
    if let Some(ix) = &v.index {
        if let Err(e) = ix.verify_all() {
            problems.push(format!("table {name}: index file: {e}"));
        }
    }
    let mem_rows = live_mem_rows(&v);
    problems.extend(check_wal(db, &v, &mem_rows)?);
    problems.extend(check_keys(&v, &mem_rows)?);
    let keep = v.manifest.files();
    if let Ok(rd) = std::fs::read_dir(t.dir()) {
        for f in rd.flatten() {
            let n = f.file_name().to_string_lossy().into_owned();
            if !keep.contains(&n) {
                problems.push(format!("table {name}: unreferenced file {n}"));
            }
        }
    }
    Ok(problems)
}

/// Live unflushed rows: row id -> key.
fn live_mem_rows(v: &TableVersion) -> HashMap<u64, i64> {
    let mut out = HashMap::new();
    for c in v.mem.chunks() {
        let pks = c
            .batch
            .column(v.def.schema.pk_index())
            .as_primitive::<Int64Type>();
        for (r, &rowid) in c.rowids.iter().enumerate() {
            if !v.mem.is_dead(rowid) {
                out.insert(rowid, pks.value(r));
            }
        }
    }
    out
}

/// The id index holds exactly the live unflushed rows, and so do the write-ahead rows.
fn check_wal(db: &DB, v: &TableVersion, mem_rows: &HashMap<u64, i64>) -> Result<Vec<String>> {
    let name = &v.def.name;
    let tid = v.def.id;
    let mut problems = Vec::new();
    let mut entries = 0usize;
    for item in prefix_iter(db, &keys::pk_prefix(tid)) {
        let (k, val) = item?;
        entries += 1;
        let pk = keys::suffix_u64(&k).unwrap_or(0) as i64;
        let problem = match Location::decode(&val) {
            None => Some("malformed id-index entry".to_string()),
            Some(l) if l.segment != Location::WAL => {
                Some(format!("id-index entry points at segment {}", l.segment))
            }
            Some(l) => match mem_rows.get(&l.rowid) {
                Some(&p) if p == pk => None,
                Some(&p) => Some(format!("unflushed row {} holds id {p}", l.rowid)),
                None => Some(format!("unflushed row {} is not live", l.rowid)),
            },
        };
        if let Some(p) = problem {
            problems.push(format!("table {name}: id {pk}: {p}"));
        }
    }
    if entries != mem_rows.len() {
        problems.push(format!(
            "table {name}: {entries} id-index entries for {} unflushed rows",
            mem_rows.len()
        ));
    }
    let wal = prefix_iter(db, &keys::wal_prefix(tid)).count();
    if wal != mem_rows.len() {
        problems.push(format!(
            "table {name}: {wal} write-ahead rows stored, {} unflushed rows live",
            mem_rows.len()
        ));
    }
    Ok(problems)
}

/// Every live key is held by exactly one live row (segments' key indexes merged, deleted
/// offsets skipped, plus the unflushed rows), and each segment's key index is sorted.
fn check_keys(v: &TableVersion, mem_rows: &HashMap<u64, i64>) -> Result<Vec<String>> {
    let name = &v.def.name;
    let mut problems = Vec::new();
    let mut views = Vec::new();
    for (s, d) in v.segments.iter().zip(&v.deletes) {
        let (order, pks) = (s.pk_order()?, s.pks()?);
        if order
            .windows(2)
            .any(|w| pks[w[0] as usize] > pks[w[1] as usize])
        {
            problems.push(format!(
                "table {name}: segment {}: key index not sorted",
                s.meta().id
            ));
        }
        let live: Vec<i64> = order
            .iter()
            .filter(|&&o| !d.contains(o))
            .map(|&o| pks[o as usize])
            .collect();
        views.push(live);
    }
    let mut mem: Vec<i64> = mem_rows.values().copied().collect();
    mem.sort_unstable();
    views.push(mem);
    let mut heap: BinaryHeap<Reverse<(i64, usize, usize)>> = views
        .iter()
        .enumerate()
        .filter(|(_, k)| !k.is_empty())
        .map(|(s, k)| Reverse((k[0], s, 0)))
        .collect();
    let mut last = None;
    while let Some(Reverse((k, s, i))) = heap.pop() {
        if last == Some(k) {
            problems.push(format!(
                "table {name}: id {k} is held by more than one live row"
            ));
        }
        last = Some(k);
        if let Some(&next) = views[s].get(i + 1) {
            heap.push(Reverse((next, s, i + 1)));
        }
    }
    Ok(problems)
}

/// A RocksDB key and value.
type KeyValue = (Box<[u8]>, Box<[u8]>);

fn prefix_iter<'a>(db: &'a DB, prefix: &[u8]) -> impl Iterator<Item = Result<KeyValue>> + 'a {
    let mut ro = rocksdb::ReadOptions::default();
    ro.set_iterate_upper_bound(keys::prefix_end(prefix));
    db.iterator_opt(
        rocksdb::IteratorMode::From(prefix, rocksdb::Direction::Forward),
        ro,
    )
    .map(|r| r.map_err(Into::into))
}
