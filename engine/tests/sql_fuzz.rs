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
