//! Integrity check: files verify, the id index and the live rows agree one to one, and no file
//! is left unreferenced.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use rocksdb::DB;

use crate::error::Result;
use crate::keys::{self, Location};
use crate::segment::Segment;
use crate::table::TableStore;

/// Checks one table; returns the problems found (empty: healthy).
pub fn check_table(db: &DB, t: &TableStore) -> Result<Vec<String>> {
    let _w = t.writer()?; // no writer may move things while we compare
    let v = t.snapshot();
    let name = &v.def.name;
    let mut problems = Vec::new();
    for s in &v.segments {
        if let Err(e) = Segment::open(t.dir(), s.meta(), &v.def.schema) {
            problems.push(format!("table {name}: {e}"));
        }
    }
    let mut mem_rows: HashMap<u64, i64> = HashMap::new();
    for c in v.mem.chunks() {
        let pks = c
            .batch
            .column(v.def.schema.pk_index())
            .as_primitive::<Int64Type>();
        for (r, &rowid) in c.rowids.iter().enumerate() {
            if !v.mem.is_dead(rowid) {
                mem_rows.insert(rowid, pks.value(r));
            }
        }
    }
    let tid = v.def.id;
    let mut entries = 0usize;
    for item in prefix_iter(db, &keys::pk_prefix(tid)) {
        let (k, val) = item?;
        entries += 1;
        let pk = keys::suffix_u64(&k).unwrap_or(0) as i64;
        let Some(loc) = Location::decode(&val) else {
            problems.push(format!("table {name}: id {pk}: malformed id-index entry"));
            continue;
        };
        if let Some(p) = locate_problem(&v, &mem_rows, pk, loc) {
            problems.push(format!("table {name}: id {pk}: {p}"));
        }
    }
    if entries != v.count() {
        problems.push(format!(
            "table {name}: {entries} id-index entries for {} live rows",
            v.count()
        ));
    }
    let wal = prefix_iter(db, &keys::wal_prefix(tid)).count();
    if wal != mem_rows.len() {
        problems.push(format!(
            "table {name}: {wal} write-ahead rows stored, {} unflushed rows live",
            mem_rows.len()
        ));
    }
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

fn locate_problem(
    v: &crate::table::TableVersion,
    mem_rows: &HashMap<u64, i64>,
    pk: i64,
    loc: Location,
) -> Option<String> {
    if loc.segment == Location::WAL {
        return match mem_rows.get(&loc.rowid) {
            Some(&p) if p == pk => None,
            Some(&p) => Some(format!("unflushed row {} holds id {p}", loc.rowid)),
            None => Some(format!("unflushed row {} is not live", loc.rowid)),
        };
    }
    let Some(pos) = v.segment_pos(loc.segment) else {
        return Some(format!("segment {} is not in the manifest", loc.segment));
    };
    let s = &v.segments[pos];
    let off = loc.offset as usize;
    if off >= s.rows() {
        return Some(format!("offset {off} beyond segment {}", loc.segment));
    }
    if v.deletes[pos].contains(loc.offset) {
        return Some(format!("row {off} of segment {} is deleted", loc.segment));
    }
    if s.pks()[off] != pk || s.rowids()[off] != loc.rowid {
        return Some(format!(
            "segment {} row {off} holds id {} / row id {}",
            loc.segment,
            s.pks()[off],
            s.rowids()[off]
        ));
    }
    None
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
