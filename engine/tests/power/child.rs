//! The child process of the power-loss test: a random mix of writes and maintenance on the
//! crash filesystem, each operation announced with `BEGIN <op>` and acknowledged with
//! `ACK <op>` once it returned Ok.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use rand::{Rng, SeedableRng};

use super::common;
use super::model::{self, batch_ids, Op, BATCH, DIM};

/// The phases the parent aims its cuts at.
pub const PHASES: [&str; 5] = ["insert", "flush", "compact", "copy", "analyze"];

fn say(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{s}");
    let _ = o.flush();
}

/// Picks the next operation: the target phase half of the time, otherwise a random one.
fn pick(rng: &mut impl Rng, target: &str, next_batch: i64, version: i64) -> Op {
    let phase = if rng.random_bool(0.5) {
        target
    } else {
        PHASES[rng.random_range(0..5)]
    };
    match phase {
        "insert" => match rng.random_range(0..10) {
            0..6 => Op::Insert(next_batch),
            6..8 if next_batch > 0 => Op::Upsert(rng.random_range(0..next_batch), version),
            _ if next_batch > 0 => Op::Delete(rng.random_range(0..next_batch * BATCH)),
            _ => Op::Insert(next_batch),
        },
        "copy" => Op::Copy(next_batch),
        m => Op::Maintain(m.to_string()),
    }
}

fn run(db: &nestdb::Database, t: &nestdb::Table, op: &Op, scratch: &Path) -> nestdb::Result<()> {
    match op {
        Op::Insert(b) => t.insert(&common::batch(&batch_ids(*b), DIM, 0)).map(drop),
        Op::Upsert(b, v) => t.upsert(&common::batch(&batch_ids(*b), DIM, *v)).map(drop),
        Op::Delete(i) => t.delete(&[*i]).map(drop),
        Op::Copy(b) => {
            let file = scratch.join(format!("copy-{b}.parquet"));
            write_parquet(&file, &common::batch(&batch_ids(*b), DIM, 0));
            let src = file.to_string_lossy();
            nestdb::load::copy(db, "t", &src, &[], &AtomicBool::new(false), None).map(drop)
        }
        Op::Maintain(m) => match m.as_str() {
            "flush" => t.flush().map(drop),
            "compact" => t.compact().map(drop),
            _ => t.analyze().map(drop),
        },
    }
}

pub fn write_parquet(path: &Path, batch: &arrow_array::RecordBatch) {
    let f = std::fs::File::create(path).expect("scratch file");
    let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).expect("writer");
    w.write(batch).expect("write");
    w.close().expect("close");
}

/// Runs operations until killed. Batches continue after the largest id already stored.
pub fn main(dir: &Path, scratch: &Path, seed: u64, target: &str) {
    let (db, t) = model::open(dir).expect("child: open");
    let rows = model::present(&t).expect("child: scan");
    let mut next_batch = rows.keys().last().map_or(0, |m| m / BATCH + 1);
    let mut version = rows.values().copied().max().unwrap_or(0) + 1;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    say("READY");
    loop {
        let op = pick(&mut rng, target, next_batch, version);
        say(&format!("BEGIN {}", op.line()));
        if let Err(e) = run(&db, &t, &op, scratch) {
            say(&format!("FAIL {} {e}", op.line()));
            std::process::exit(3);
        }
        say(&format!("ACK {}", op.line()));
        match op {
            Op::Insert(_) | Op::Copy(_) => next_batch += 1,
            Op::Upsert(..) => version += 1,
            _ => {}
        }
    }
}
