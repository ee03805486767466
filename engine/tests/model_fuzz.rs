//! Random operation sequences applied to nestdb and to a `BTreeMap` model; every observable
//! result must agree: counts, full scans (ids, payloads, vectors) and exact search.

mod common;

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type};
use common::{batch, schema, vector};
use nestdb::{Database, Error, InputError, Metric, TableOptions};
use proptest::prelude::*;

const DIM: usize = 8;

#[derive(Clone, Debug)]
enum Op {
    Insert(Vec<i64>, i64),
    Upsert(Vec<i64>, i64),
    Delete(Vec<i64>),
    Flush,
    Compact,
    Reopen,
}

fn ids() -> impl Strategy<Value = Vec<i64>> {
    proptest::collection::vec(0i64..40, 1..8)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (ids(), 0i64..1000).prop_map(|(i, s)| Op::Insert(i, s)),
        2 => (ids(), 0i64..1000).prop_map(|(i, s)| Op::Upsert(i, s)),
        2 => ids().prop_map(Op::Delete),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

/// id -> salt of the version stored.
type Model = BTreeMap<i64, i64>;

fn has_dup(ids: &[i64]) -> bool {
    let mut s = ids.to_vec();
    s.sort();
    s.windows(2).any(|w| w[0] == w[1])
}

fn open(dir: &std::path::Path, index_rows: usize) -> (Database, nestdb::Table) {
    let db = Database::builder().auto_flush_rows(25).open(dir).unwrap();
    let t = match db.table("t") {
        Ok(t) => t,
        Err(_) => {
            let mut o = TableOptions::default();
            o.index.min_rows = index_rows;
            o.index.partitions = Some(4);
            o.index.sample_queries = 8;
            db.create_table_with("t", schema(DIM as u32, Metric::L2), o)
                .unwrap()
        }
    };
    (db, t)
}

fn check(t: &nestdb::Table, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(t.count(), model.len());
    let snap = t.snapshot();
    let all = snap.scan(Some(&["id", "tag", "v"]), None).unwrap();
    let ids = all.column(0).as_primitive::<Int64Type>();
    let tags = all.column(1).as_string::<i32>();
    let vecs = all.column(2).as_fixed_size_list();
    let mut got = BTreeMap::new();
    for r in 0..all.num_rows() {
        let id = ids.value(r);
        let salt = model.get(&id).copied();
        prop_assert!(salt.is_some(), "row {} not in the model", id);
        let salt = salt.unwrap();
        prop_assert_eq!(tags.value(r), format!("tag-{id}-{salt}"));
        let v = vecs.value(r);
        prop_assert_eq!(
            v.as_primitive::<Float32Type>().values().to_vec(),
            vector(id * 1000 + salt, DIM)
        );
        got.insert(id, salt);
    }
    prop_assert_eq!(&got, model);
    // exact search agrees with brute force over the model
    let q = vector(424242, DIM);
    let k = 5;
    let r = snap
        .search(&q)
        .limit(k)
        .exact(true)
        .select(&["id"])
        .execute()
        .unwrap();
    let mut want: Vec<(f32, i64)> = model
        .iter()
        .map(|(&id, &s)| {
            let v = vector(id * 1000 + s, DIM);
            let d: f32 = v
                .iter()
                .zip(&q)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f32>()
                .sqrt();
            (d, id)
        })
        .collect();
    want.sort_by(|a, b| a.0.total_cmp(&b.0));
    let want_ids: Vec<i64> = want.iter().take(k).map(|x| x.1).collect();
    let got_ids: Vec<i64> = r.column(0).as_primitive::<Int64Type>().values().to_vec();
    prop_assert_eq!(got_ids, want_ids);
    // filtered: exact search and a filtered scan agree with the model; the funnel returns
    // min(k, matching) rows
    let f = nestdb::Filter::parse("label <@ 'root/g1' AND (tag LIKE 'tag-1%' OR id < 20)").unwrap();
    let keep = |id: i64, salt: i64| {
        id % 3 == 1 && (format!("tag-{id}-{salt}").starts_with("tag-1") || id < 20)
    };
    let want_f: Vec<i64> = want
        .iter()
        .map(|x| x.1)
        .filter(|id| keep(*id, model[id]))
        .take(k)
        .collect();
    let r = snap
        .search(&q)
        .limit(k)
        .exact(true)
        .select(&["id"])
        .filter(f.clone())
        .execute()
        .unwrap();
    prop_assert_eq!(
        r.column(0).as_primitive::<Int64Type>().values().to_vec(),
        want_f.clone()
    );
    let r = snap
        .search(&q)
        .limit(k)
        .select(&["id"])
        .filter(f.clone())
        .execute()
        .unwrap();
    prop_assert_eq!(r.num_rows(), want_f.len());
    let scanned = snap.scan_where(Some(&f), Some(&["id"]), None).unwrap();
    let mut got_f: Vec<i64> = scanned
        .column(0)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    got_f.sort();
    let all_f: Vec<i64> = model
        .iter()
        .filter(|(i, s)| keep(**i, **s))
        .map(|(i, _)| *i)
        .collect();
    prop_assert_eq!(got_f, all_f);
    Ok(())
}

fn run(ops: Vec<Op>, index_rows: usize) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let (mut db, mut t) = open(dir.path(), index_rows);
    let mut model = Model::new();
    for op in ops {
        match op {
            Op::Insert(ids, salt) => {
                let res = t.insert(&batch(&ids, DIM, salt));
                if has_dup(&ids) || ids.iter().any(|i| model.contains_key(i)) {
                    prop_assert!(
                        matches!(res, Err(Error::Input(InputError::DuplicateKey(_)))),
                        "expected a duplicate-key error, got {:?}",
                        res.map(|_| ())
                    );
                } else {
                    prop_assert_eq!(res.unwrap(), ids.len());
                    model.extend(ids.iter().map(|&i| (i, salt)));
                }
            }
            Op::Upsert(ids, salt) => {
                let res = t.upsert(&batch(&ids, DIM, salt));
                if has_dup(&ids) {
                    prop_assert!(res.is_err());
                } else {
                    prop_assert_eq!(res.unwrap(), ids.len());
                    model.extend(ids.iter().map(|&i| (i, salt)));
                }
            }
            Op::Delete(ids) => {
                let mut uniq = ids.clone();
                uniq.sort();
                uniq.dedup();
                let expect = uniq.iter().filter(|i| model.contains_key(i)).count();
                prop_assert_eq!(t.delete(&ids).unwrap(), expect);
                for i in &ids {
                    model.remove(i);
                }
            }
            Op::Flush => {
                t.flush().unwrap();
            }
            Op::Compact => {
                t.compact().unwrap();
            }
            Op::Reopen => {
                drop(t);
                drop(db);
                (db, t) = open(dir.path(), index_rows);
            }
        }
        check(&t, &model)?;
    }
    let problems = db.check().unwrap();
    prop_assert!(problems.is_empty(), "integrity: {:?}", problems);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn matches_btreemap_model(ops in proptest::collection::vec(op(), 1..40)) {
        run(ops, 1_000_000)?;
    }

    #[test]
    fn matches_btreemap_model_with_learned_index(ops in proptest::collection::vec(op(), 1..40)) {
        run(ops, 16)?;
    }
}
