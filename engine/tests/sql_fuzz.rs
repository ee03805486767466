//! The parser and planner never panic: random token soups and grammar-shaped statements run
//! against a small table (errors are fine, panics are not), and every file of the committed
//! corpus (`tests/sql_corpus/`, inputs that once broke or nearly broke something) runs too.

use nestdb::{Database, Error};
use proptest::prelude::*;

fn db() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    db.sql(
        "CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT, n BIGINT, x DOUBLE, ok BOOLEAN, label PATH, v VECTOR(4) MATRYOSHKA (2));
         INSERT INTO t VALUES (1, 'a', 1, 0.5, true, 'a/b', '[1, 0, 0, 0]'), (2, NULL, NULL, NULL, NULL, NULL, '[0, 1, 0, 0]');",
    )
    .unwrap();
    (dir, db)
}

const TOKENS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "ORDER",
    "BY",
    "LIMIT",
    "INSERT",
    "INTO",
    "VALUES",
    "DELETE",
    "CREATE",
    "TABLE",
    "DROP",
    "COPY",
    "EXPLAIN",
    "ANALYZE",
    "SET",
    "SHOW",
    "DESCRIBE",
    "RERANK",
    "CANDIDATES",
    "MATRYOSHKA",
    "VECTOR",
    "PATH",
    "t",
    "id",
    "name",
    "n",
    "x",
    "ok",
    "label",
    "v",
    "*",
    ",",
    "(",
    ")",
    "[",
    "]",
    ";",
    "=",
    "<>",
    "<",
    ">",
    "<=",
    ">=",
    "<=>",
    "<->",
    "<#>",
    "<@",
    "@>",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "LIKE",
    "BETWEEN",
    "1",
    "-1",
    "0.5",
    "1e309",
    "'a/b'",
    "'[1, 0, 0, 0]'",
    "'[1,2]'",
    "'x'",
    "''",
    "$1",
    "$0",
    "embed('m', 'q')",
    "count(*)",
    "_distance",
    "_rowid",
    "_score",
    "\"Q\"",
    "--",
    "/*",
    "*/",
    "\n",
    "9999999999999999999999",
];

fn soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(TOKENS), 0..25).prop_map(|v| v.join(" "))
}

fn select() -> impl Strategy<Value = String> {
    let col = proptest::sample::select(vec![
        "id",
        "name",
        "n",
        "x",
        "ok",
        "label",
        "v",
        "_distance",
        "*",
        "count(*)",
        "nope",
    ]);
    let cond = proptest::sample::select(vec![
        "",
        "WHERE n = 1",
        "WHERE label <@ 'a'",
        "WHERE label @> 'a/b/c'",
        "WHERE name LIKE 'a%' OR n IS NULL",
        "WHERE NOT (x > 0.1)",
        "WHERE n IN (1, NULL)",
        "WHERE n BETWEEN 0 AND 5",
        "WHERE ok",
        "WHERE label <@ ''",
        "WHERE nope = 1",
        "WHERE name = 1",
        "WHERE v = 1",
    ]);
    let order = proptest::sample::select(vec![
        "",
        "ORDER BY id DESC",
        "ORDER BY v <=> '[1, 0, 0, 0]'",
        "ORDER BY v <-> '[1, 0, 0, 0]'",
        "ORDER BY v <=> '[0,0,0,0]'",
        "ORDER BY v <=> (SELECT v FROM t WHERE id = 1)",
        "ORDER BY v <=> (SELECT v FROM t)",
        "ORDER BY v <=> $1",
        "ORDER BY name <=> '[1,0,0,0]'",
        "ORDER BY v <=> '[1, 2]'",
    ]);
    let limit = proptest::sample::select(vec![
        "",
        "LIMIT 0",
        "LIMIT 1",
        "LIMIT 3",
        "LIMIT -1",
        "LIMIT 99999999",
    ]);
    let rerank = proptest::sample::select(vec![
        "",
        "RERANK BY cross_encoder('ce', name)",
        "RERANK BY vector_scorer('vs') CANDIDATES 0",
    ]);
    (proptest::bool::ANY, col, cond, order, limit, rerank).prop_map(|(explain, c, w, o, l, r)| {
        format!(
            "{}SELECT {c} FROM t {w} {o} {l} {r}",
            if explain { "EXPLAIN ANALYZE " } else { "" }
        )
    })
}

fn run(db: &Database, sql: &str) {
    let mut s = db.session();
    match s.execute(sql) {
        Ok(_) | Err(_) => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn token_soup_never_panics(sql in soup()) {
        let (_d, db) = db();
        run(&db, &sql);
    }

    #[test]
    fn shaped_selects_never_panic(sql in select()) {
        let (_d, db) = db();
        run(&db, &sql);
    }

    #[test]
    fn arbitrary_text_never_panics(sql in "\\PC{0,80}") {
        let _ = nestdb::sql::Session::parse(&sql);
    }
}

#[test]
fn the_corpus_runs_without_panics() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sql_corpus");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let sql = std::fs::read_to_string(e.path()).unwrap();
        let (_d, db) = db();
        for stmt in sql.split("\n\n") {
            run(&db, stmt);
        }
        n += 1;
    }
    assert!(n > 0, "empty corpus");
}

#[test]
fn errors_are_typed() {
    let (_d, db) = db();
    assert!(matches!(db.sql("SELEC 1"), Err(Error::Sql(_))));
    match db.sql("SELECT * FROM t ORDER BY v <=> '[1,2]' LIMIT 1") {
        Err(Error::Sql(e)) => assert!(e.to_string().contains("2 dimensions"), "{e}"),
        other => panic!("expected a SQL error, got {other:?}"),
    }
}

// ---- Statements checked against a model (a BTreeMap of id -> (n, vector)) ----

#[derive(Clone, Debug)]
enum Stmt {
    Insert(i64, i64),
    Upsert(i64, i64),
    Update(i64, i64),
    Delete(i64),
    DeleteRange(i64),
    Flush,
    Compact,
    Analyze,
}

fn vec_of(id: i64, n: i64) -> [f32; 4] {
    let s = (id * 7 + n * 3) as f32;
    [
        1.0 + s.sin(),
        1.0 + (s * 0.5).cos(),
        0.5 + (s * 0.25).sin(),
        1.0,
    ]
}

fn fmt_vec(v: &[f32; 4]) -> String {
    format!("'[{:?}, {:?}, {:?}, {:?}]'", v[0], v[1], v[2], v[3])
}

fn stmt() -> impl Strategy<Value = Stmt> {
    let id = 0i64..40;
    let n = 0i64..5;
    prop_oneof![
        4 => (id.clone(), n.clone()).prop_map(|(i, n)| Stmt::Insert(i, n)),
        2 => (id.clone(), n.clone()).prop_map(|(i, n)| Stmt::Upsert(i, n)),
        2 => (id.clone(), n).prop_map(|(i, n)| Stmt::Update(i, n)),
        2 => id.clone().prop_map(Stmt::Delete),
        1 => id.prop_map(Stmt::DeleteRange),
        1 => Just(Stmt::Flush),
        1 => Just(Stmt::Compact),
        1 => Just(Stmt::Analyze),
    ]
}

type Model = std::collections::BTreeMap<i64, i64>;

/// Runs one statement on the database and the model; the database must agree on success.
fn apply(db: &Database, m: &mut Model, st: &Stmt) {
    let sql = match st {
        Stmt::Insert(i, n) => format!("INSERT INTO m VALUES ({i}, {n}, {})", fmt_vec(&vec_of(*i, *n))),
        Stmt::Upsert(i, n) => format!(
            "INSERT INTO m VALUES ({i}, {n}, {}) ON CONFLICT (id) DO UPDATE SET n = excluded.n, v = excluded.v",
            fmt_vec(&vec_of(*i, *n))
        ),
        Stmt::Update(i, n) => format!("UPDATE m SET n = {n}, v = {} WHERE id = {i}", fmt_vec(&vec_of(*i, *n))),
        Stmt::Delete(i) => format!("DELETE FROM m WHERE id = {i}"),
        Stmt::DeleteRange(i) => format!("DELETE FROM m WHERE id >= {i} AND n = 0"),
        Stmt::Flush => "FLUSH m".into(),
        Stmt::Compact => "COMPACT m".into(),
        Stmt::Analyze => "ANALYZE m".into(),
    };
    let r = db.sql(&sql);
    match st {
        Stmt::Insert(i, n) => {
            assert_eq!(r.is_ok(), !m.contains_key(i), "{sql}: {r:?}");
            m.entry(*i).or_insert(*n);
        }
        Stmt::Upsert(i, n) => {
            r.unwrap_or_else(|e| panic!("{sql}: {e}"));
            m.insert(*i, *n);
        }
        Stmt::Update(i, n) => {
            r.unwrap_or_else(|e| panic!("{sql}: {e}"));
            if let Some(v) = m.get_mut(i) {
                *v = *n;
            }
        }
        Stmt::Delete(i) => {
            r.unwrap_or_else(|e| panic!("{sql}: {e}"));
            m.remove(i);
        }
        Stmt::DeleteRange(i) => {
            r.unwrap_or_else(|e| panic!("{sql}: {e}"));
            m.retain(|id, n| !(*id >= *i && *n == 0));
        }
        _ => drop(r.unwrap_or_else(|e| panic!("{sql}: {e}"))),
    }
}

fn rows(db: &Database, sql: &str) -> arrow_array::RecordBatch {
    match db.sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}")).pop() {
        Some(nestdb::sql::Output::Rows(b)) => b,
        other => panic!("{sql}: {other:?}"),
    }
}

fn ints(b: &arrow_array::RecordBatch, c: usize) -> Vec<i64> {
    use arrow_array::cast::AsArray;
    b.column(c)
        .as_primitive::<arrow_array::types::Int64Type>()
        .values()
        .to_vec()
}

/// The table's contents, an exact vector search and `_rowid`/`_distance` ordering agree with
/// the model.
fn check(db: &Database, m: &Model) {
    let b = rows(db, "SELECT id, n FROM m ORDER BY id");
    let got: Model = ints(&b, 0).into_iter().zip(ints(&b, 1)).collect();
    assert_eq!(&got, m);
    let q = [1.0f32, 1.5, 0.5, 1.0];
    let mut want: Vec<(f32, i64)> = m
        .iter()
        .map(|(&id, &n)| {
            let v = vec_of(id, n);
            (
                v.iter()
                    .zip(&q)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f32>(),
                id,
            )
        })
        .collect();
    want.sort_by(|a, b| a.0.total_cmp(&b.0));
    let k = 5.min(want.len());
    let sql = format!(
        "SELECT id, _distance FROM m ORDER BY v <-> {} LIMIT 5",
        fmt_vec(&q)
    );
    let b = rows(db, &sql);
    use arrow_array::cast::AsArray;
    let d = b
        .column(1)
        .as_primitive::<arrow_array::types::Float32Type>()
        .values()
        .to_vec();
    assert_eq!(d.len(), k, "{sql}");
    for (i, got) in d.iter().enumerate() {
        // L2 distances (squared or not, within rounding): compare both readings
        let w = want[i].0;
        assert!(
            (got - w).abs() < 1e-3 || (got - w.sqrt()).abs() < 1e-3,
            "{sql}: rank {i}: {got} vs {w}"
        );
    }
    // ORDER BY _rowid is ascending row ids; ORDER BY _distance without a vector is an error
    let b = rows(db, "SELECT _rowid FROM m ORDER BY _rowid");
    use arrow_array::types::UInt64Type;
    let r: Vec<u64> = b.column(0).as_primitive::<UInt64Type>().values().to_vec();
    assert!(
        r.windows(2).all(|w| w[0] < w[1]) && r.len() == m.len(),
        "{r:?}"
    );
    assert!(db.sql("SELECT id FROM m ORDER BY _distance").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random DML and maintenance agree with a BTreeMap model, statement by statement.
    #[test]
    fn statements_agree_with_a_model(ops in proptest::collection::vec(stmt(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        db.sql("CREATE TABLE m (id BIGINT PRIMARY KEY, n BIGINT, v VECTOR(4)) WITH (metric = 'l2')").unwrap();
        let mut model = Model::new();
        for (i, st) in ops.iter().enumerate() {
            apply(&db, &mut model, st);
            if i % 8 == 7 {
                check(&db, &model);
            }
        }
        check(&db, &model);
        prop_assert!(db.check().unwrap().is_empty());
    }
}
