//! Power-loss crash testing (a custom harness: `harness = false`).
//!
//! The database runs on a FUSE filesystem (`nestdb-crashfs`) that keeps everything not yet
//! fsynced in memory, the way a disk's cache would. A child process inserts, upserts,
//! deletes, flushes, compacts, copies Parquet files in and re-analyzes, announcing each
//! operation (`BEGIN`) and acknowledging it once it returned (`ACK`). The parent waits for an
//! operation of a chosen phase to begin, cuts the power a random part of the way into it
//! (dropping all unsynced data and directory entries, sometimes keeping a torn prefix of an
//! unsynced append), kills the child, mounts what survived and checks: every acknowledged
//! row is there with its exact vector and columns, the in-flight operation is all there or
//! not at all, nothing else is, `check()` passes, and exact search agrees with brute force
//! over the expected rows.
//!
//! Unlike SIGKILL (which keeps the kernel's page cache), this fails when a needed fsync is
//! missing: `power_loss_detects_a_skipped_directory_fsync` switches nestdb's directory
//! fsyncs off (a test-only fault switch) and asserts the test then finds lost data.
//!
//! Needs `/dev/fuse` and root (both present here and in CI). `NESTDB_POWER_CYCLES` raises
//! the minimum number of cycles (default 200); `NESTDB_POWER_SEED` changes the seed.

mod power;

use std::collections::BTreeMap;

use power::child::PHASES;
use power::cycle::{self, World};
use rand::SeedableRng;

/// Cuts that must land inside each phase.
const PER_PHASE: usize = 20;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn root(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(name)
        .tempdir()
        .expect("temp dir")
}

/// Aims at the phase with the fewest landed cuts so far.
fn next_target(landed: &BTreeMap<String, usize>) -> &'static str {
    PHASES
        .iter()
        .min_by_key(|p| landed.get(**p).copied().unwrap_or(0))
        .copied()
        .unwrap_or("insert")
}

fn power_loss_keeps_every_acknowledged_write() {
    let min_cycles = env_num("NESTDB_POWER_CYCLES", 200) as usize;
    let mut rng = rand::rngs::StdRng::seed_from_u64(env_num("NESTDB_POWER_SEED", 20261202));
    let dir = root("nestdb-power-");
    let mut w = World::new(dir.path());
    w.seed(30);
    let mut landed: BTreeMap<String, usize> = BTreeMap::new();
    let (mut cycles, mut acked, mut durable_inflight, mut dropped) = (0, 0, 0, 0u64);
    let enough = |l: &BTreeMap<String, usize>| {
        PHASES
            .iter()
            .all(|p| l.get(*p).copied().unwrap_or(0) >= PER_PHASE)
    };
    while cycles < min_cycles || !enough(&landed) {
        assert!(
            cycles < min_cycles * 5,
            "cuts did not land in every phase: {landed:?}"
        );
        let target = next_target(&landed);
        let out = cycle::run(&mut w, target, cycles as u64, &mut rng)
            .unwrap_or_else(|e| panic!("cycle {cycles} (aimed at {target}): {e}"));
        *landed
            .entry(out.landed.unwrap_or_else(|| "between".into()))
            .or_default() += 1;
        acked += out.acked;
        durable_inflight += out.inflight_durable as usize;
        dropped += out.dropped;
        cycles += 1;
    }
    println!(
        "power loss: {cycles} cycles, cuts landed per phase {landed:?}, {acked} operations \
         acknowledged, {durable_inflight} in-flight operations found durable, {} KiB of \
         unsynced data dropped, {} rows at the end",
        dropped / 1024,
        w.rows.len()
    );
}

fn power_loss_detects_a_skipped_directory_fsync() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let dir = root("nestdb-power-mutant-");
    let mut w = World::new(dir.path());
    w.seed(30);
    w.child_env
        .push(("NESTDB_FAULT_SKIP_FSYNC".into(), "dir".into()));
    for c in 0..60 {
        let target = ["flush", "compact", "copy"][c % 3];
        if let Err(e) = cycle::run(&mut w, target, c as u64, &mut rng) {
            println!("fsync mutation caught after {} cycles: {e}", c + 1);
            return;
        }
    }
    panic!("with directory fsyncs skipped, 60 power cuts lost nothing: the test cannot fail");
}

fn disk_full_fails_cleanly_and_keeps_writes_honest() {
    let dir = root("nestdb-full-");
    let mut w = World::new(dir.path());
    w.seed(30);
    match power::full::run(&mut w) {
        Ok(report) => println!("disk full: {report}"),
        Err(e) => panic!("disk full: {e}"),
    }
    match power::full::maintenance_failure_does_not_fail_the_write(&mut w) {
        Ok(report) => println!("disk full: {report}"),
        Err(e) => panic!("disk full: {e}"),
    }
}

/// Defect found by this test: RocksDB creates the database's `catalog/` folder without
/// fsyncing its parent, so a power cut soon after creating a database lost the whole catalog.
fn power_loss_right_after_creating_a_database_keeps_it() {
    let dir = root("nestdb-power-new-");
    let mut w = World::new(dir.path());
    w.seed(3);
    w.disk.power_cut(None);
    let (m, at) = w.mount();
    let (_db, t) = power::model::open(&at.join("db")).expect("reopen");
    let got = power::model::present(&t).expect("scan");
    assert_eq!(got, w.rows, "{}", power::model::diff(&w.rows, &got));
    drop(t);
    drop(_db);
    drop(m);
}

const TESTS: [(&str, fn()); 4] = [
    (
        "power_loss_right_after_creating_a_database_keeps_it",
        power_loss_right_after_creating_a_database_keeps_it,
    ),
    (
        "power_loss_keeps_every_acknowledged_write",
        power_loss_keeps_every_acknowledged_write,
    ),
    (
        "power_loss_detects_a_skipped_directory_fsync",
        power_loss_detects_a_skipped_directory_fsync,
    ),
    (
        "disk_full_fails_cleanly_and_keeps_writes_honest",
        disk_full_fails_cleanly_and_keeps_writes_honest,
    ),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        let seed = args[4].parse().expect("seed");
        power::child::main(args[2].as_ref(), args[3].as_ref(), seed, &args[5]);
        return;
    }
    if args.iter().any(|a| a == "--list") {
        for (name, _) in TESTS {
            println!("{name}: test");
        }
        return;
    }
    let filters: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with('-')).collect();
    for (name, f) in TESTS {
        if filters.is_empty() || filters.iter().any(|p| name.contains(p.as_str())) {
            f();
            println!("test {name} ... ok");
        }
    }
}
