//! Crash consistency under SIGKILL (a custom harness: `harness = false`).
//!
//! The parent runs a child process (this same binary, `child` mode) that inserts batches,
//! deletes rows, flushes and compacts (fitting learned indexes) in a loop, printing `BEGIN`
//! before and `ACK` after every operation. The parent kills it with SIGKILL at a random moment,
//! reopens the database and checks: every acknowledged batch is there (minus acknowledged
//! deletes), the in-flight batch is all there or not at all, nothing else is, and the
//! integrity check passes. At least 50 cycles per run.

#[path = "common/mod.rs"]
mod common;

use std::collections::{BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use nestdb::{Database, Metric, TableOptions};
use rand::{Rng, SeedableRng};

const BATCH: i64 = 10;
const DIM: usize = 16;
const CYCLES: usize = 60;

fn open(dir: &str) -> (Database, nestdb::Table) {
    let db = Database::builder().auto_flush_rows(150).open(dir).unwrap();
    let t = match db.table("t") {
        Ok(t) => t,
        Err(_) => {
            let mut o = TableOptions::default();
            o.index.min_rows = 300;
            o.index.sample_queries = 20;
            db.create_table_with("t", common::schema(DIM as u32, Metric::Cosine), o)
                .unwrap()
        }
    };
    (db, t)
}

fn ids(t: &nestdb::Table) -> BTreeSet<i64> {
    let b = t.snapshot().scan(Some(&["id"]), None).unwrap();
    b.column(0)
        .as_primitive::<Int64Type>()
        .values()
        .iter()
        .copied()
        .collect()
}

fn child(dir: &str, seed: u64) {
    let (_db, t) = open(dir);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut next = ids(&t).last().map_or(0, |m| m / BATCH + 1);
    let out = std::io::stdout();
    let say = |s: String| {
        let mut o = out.lock();
        writeln!(o, "{s}").unwrap();
        o.flush().unwrap();
    };
    loop {
        let r: f64 = rng.random();
        if r < 0.70 {
            let batch_ids: Vec<i64> = (next * BATCH..(next + 1) * BATCH).collect();
            say(format!("BEGIN ins {next}"));
            t.insert(&common::batch(&batch_ids, DIM, 0)).unwrap();
            say(format!("ACK ins {next}"));
            next += 1;
        } else if r < 0.82 && next > 0 {
            let victim = rng.random_range(0..next * BATCH);
            say(format!("BEGIN del {victim}"));
            t.delete(&[victim]).unwrap();
            say(format!("ACK del {victim}"));
        } else if r < 0.94 {
            say("BEGIN flush".into());
            t.flush().unwrap();
            say("ACK flush".into());
        } else {
            say("BEGIN compact".into());
            t.compact().unwrap();
            say("ACK compact".into());
        }
    }
}

#[derive(Default)]
struct Expect {
    acked_batches: BTreeSet<i64>,
    deleted: HashSet<i64>,
}

fn verify(dir: &str, e: &mut Expect, log: &[String]) {
    let mut inflight_batch = None;
    let mut inflight_del = None;
    for line in log {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["BEGIN", "ins", b] => inflight_batch = Some(b.parse::<i64>().unwrap()),
            ["ACK", "ins", b] => {
                e.acked_batches.insert(b.parse().unwrap());
                inflight_batch = None;
            }
            ["BEGIN", "del", i] => inflight_del = Some(i.parse::<i64>().unwrap()),
            ["ACK", "del", i] => {
                e.deleted.insert(i.parse().unwrap());
                inflight_del = None;
            }
            _ => {}
        }
    }
    let (db, t) = open(dir);
    let present = ids(&t);
    if let Some(b) = inflight_batch {
        let rows: Vec<i64> = (b * BATCH..(b + 1) * BATCH).collect();
        let n = rows.iter().filter(|i| present.contains(i)).count();
        assert!(
            n == 0 || n == rows.len(),
            "in-flight batch {b} is half visible ({n} rows)"
        );
        if n > 0 {
            e.acked_batches.insert(b); // committed before the kill: now it is durable state
        }
    }
    if let Some(i) = inflight_del {
        if !present.contains(&i) {
            e.deleted.insert(i);
        }
    }
    let expected: BTreeSet<i64> = e
        .acked_batches
        .iter()
        .flat_map(|b| b * BATCH..(b + 1) * BATCH)
        .filter(|i| !e.deleted.contains(i))
        .collect();
    let missing: Vec<_> = expected.difference(&present).take(5).collect();
    let extra: Vec<_> = present.difference(&expected).take(5).collect();
    assert!(missing.is_empty(), "acknowledged rows lost: {missing:?}");
    assert!(
        extra.is_empty(),
        "rows that were never acknowledged: {extra:?}"
    );
    let problems = db.check().unwrap();
    assert!(problems.is_empty(), "integrity check failed: {problems:?}");
}

fn parent() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(
        std::env::var("NESTDB_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20261128),
    );
    let mut e = Expect::default();
    let mut ops = 0;
    for cycle in 0..CYCLES {
        let mut c = Command::new(&exe)
            .args(["child", &d, &cycle.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let log = log.clone();
            let out = c.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            })
        };
        std::thread::sleep(Duration::from_millis(rng.random_range(30..400)));
        // SIGKILL: no destructor, no flush, no chance to tidy up.
        c.kill().unwrap();
        let status = c.wait().unwrap();
        reader.join().unwrap();
        let log = log.lock().unwrap().clone();
        // the child must have died of our SIGKILL, not of a panic that looks like a crash
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL),
            "child did not die of SIGKILL: {status:?}"
        );
        ops += log.len() / 2;
        verify(&d, &mut e, &log);
    }
    println!(
        "crash test: {CYCLES} SIGKILL cycles, {ops} operations, {} batches acknowledged",
        e.acked_batches.len()
    );
    assert!(
        e.acked_batches.len() > CYCLES,
        "the child made too little progress to test anything"
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        child(&args[2], args[3].parse().unwrap());
        return;
    }
    // `cargo test -- --list` and filters: this harness runs one test.
    if args.iter().any(|a| a == "--list") {
        println!("crash_consistency_under_sigkill: test");
        return;
    }
    parent();
    println!("test crash_consistency_under_sigkill ... ok");
}
