//! Disk full: the crash filesystem's quota makes writes fail with ENOSPC in the middle of
//! inserts, flushes, compactions and COPY. Every operation either succeeds or fails with a
//! clear error and changes nothing; a committed write whose follow-up maintenance failed still
//! reports success; once space is freed the database reopens clean and works.

use std::sync::atomic::AtomicBool;

use super::common;
use super::cycle::World;
use super::model::{self, batch_ids, Op, DIM};

/// One operation under the quota: Ok(true) when it succeeded, Ok(false) when it failed
/// cleanly; Err when a failure changed something or the error is unclear.
fn attempt(
    w: &mut World,
    db: &nestdb::Database,
    t: &nestdb::Table,
    op: &Op,
    scratch: &std::path::Path,
) -> Result<bool, String> {
    let before = model::present(t)?;
    let r = match op {
        Op::Insert(b) => t.insert(&common::batch(&batch_ids(*b), DIM, 0)).map(drop),
        Op::Copy(b) => {
            let file = scratch.join(format!("full-{b}.parquet"));
            super::child::write_parquet(&file, &common::batch(&batch_ids(*b), DIM, 0));
            nestdb::load::copy(
                db,
                "t",
                &file.to_string_lossy(),
                &[],
                &AtomicBool::new(false),
                None,
            )
            .map(drop)
        }
        Op::Maintain(m) if m == "flush" => t.flush().map(drop),
        _ => t.compact().map(drop),
    };
    let after = model::present(t)?;
    match r {
        Ok(()) => {
            model::apply(&mut w.rows, op);
            if after != w.rows {
                return Err(format!(
                    "{op:?} succeeded but: {}",
                    model::diff(&w.rows, &after)
                ));
            }
            Ok(true)
        }
        Err(e) => {
            let msg = e.to_string();
            if !msg.to_lowercase().contains("space") {
                return Err(format!(
                    "{op:?} failed without saying the disk is full: {msg}"
                ));
            }
            if after != before {
                return Err(format!(
                    "failed {op:?} changed the table: {}",
                    model::diff(&before, &after)
                ));
            }
            Ok(false)
        }
    }
}

/// Fills the disk during each kind of operation, then frees space and checks.
pub fn run(w: &mut World) -> Result<String, String> {
    let scratch = w.root.join("scratch-full");
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let mut next = w.rows.keys().last().map_or(0, |m| m / model::BATCH + 1);
    let mut failed = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..4 {
        let (m, at) = w.mount();
        {
            let (db, t) = model::open(&at.join("db")).map_err(|e| format!("open: {e}"))?;
            // a little headroom, less each round, so each kind of operation runs into the wall
            w.disk
                .set_quota(Some(w.disk.used() + ((64u64 << 10) >> round)));
            for i in 0..40 {
                let op = match i % 4 {
                    0 | 1 => Op::Insert(next),
                    2 => Op::Copy(next + 1),
                    _ => Op::Maintain(["flush", "compact"][i / 4 % 2].into()),
                };
                let ok = attempt(w, &db, &t, &op, &scratch)?;
                if ok {
                    if let Op::Insert(_) | Op::Copy(_) = op {
                        next += 2;
                    }
                } else {
                    *failed.entry(op.phase().to_string()).or_default() += 1;
                }
            }
        }
        drop(m);
        // free the space: the database opens, checks clean, holds what was acknowledged
        w.disk.set_quota(None);
        let (m, at) = w.mount();
        {
            let (db, t) = model::open(&at.join("db")).map_err(|e| format!("reopen: {e}"))?;
            let got = model::present(&t)?;
            if got != w.rows {
                return Err(format!(
                    "after the disk was full: {}",
                    model::diff(&w.rows, &got)
                ));
            }
            let problems = db.check().map_err(|e| format!("check: {e}"))?;
            if !problems.is_empty() {
                return Err(format!(
                    "integrity check after the disk was full: {problems:?}"
                ));
            }
            t.insert(&common::batch(&batch_ids(next), DIM, 0))
                .map_err(|e| format!("insert after: {e}"))?;
            model::apply(&mut w.rows, &Op::Insert(next));
            next += 2;
            t.flush().map_err(|e| format!("flush after: {e}"))?;
            t.compact().map_err(|e| format!("compact after: {e}"))?;
            model::search_agrees(&t, &w.rows, round)?;
        }
        drop(m);
    }
    if failed.values().sum::<usize>() == 0 {
        return Err("the quota never made an operation fail: the test tested nothing".into());
    }
    Ok(format!("failed cleanly per phase {failed:?}"))
}

/// Defect: insert committed its rows and then ran the automatic flush with `?`, so a full disk
/// during the flush made the insert report an error for rows it had committed (and a retry
/// then failed with a duplicate key). With room for the write-ahead rows but not for a
/// segment, the insert that triggers the flush must succeed and report the flush separately.
pub fn maintenance_failure_does_not_fail_the_write(w: &mut World) -> Result<String, String> {
    let (m, at) = w.mount();
    let mut next = w.rows.keys().last().map_or(0, |m| m / model::BATCH + 1);
    let (db, t) = model::open(&at.join("db")).map_err(|e| format!("open: {e}"))?;
    t.flush().map_err(|e| format!("flush: {e}"))?;
    let mut deferred = None;
    for _ in 0..(2 * 64 / model::BATCH) {
        // room for one more batch of write-ahead rows, not for a segment
        w.disk.set_quota(Some(w.disk.used() + 4096));
        let op = Op::Insert(next);
        t.insert(&common::batch(&batch_ids(next), DIM, 0))
            .map_err(|e| format!("an insert failed though its rows fit: {e}"))?;
        model::apply(&mut w.rows, &op);
        next += 1;
        if let Some(e) = t.maintenance_error() {
            deferred = Some(e);
            break;
        }
    }
    let e = deferred.ok_or("no automatic flush ran into the full disk")?;
    if !e.to_lowercase().contains("space") {
        return Err(format!(
            "the deferred maintenance error does not say why: {e}"
        ));
    }
    w.disk.set_quota(None);
    // the next write retries the maintenance, which now succeeds
    t.insert(&common::batch(&batch_ids(next), DIM, 0))
        .map_err(|e| format!("insert after: {e}"))?;
    model::apply(&mut w.rows, &Op::Insert(next));
    if let Some(e) = t.maintenance_error() {
        return Err(format!(
            "maintenance still failing with space available: {e}"
        ));
    }
    let got = model::present(&t)?;
    if got != w.rows {
        return Err(model::diff(&w.rows, &got));
    }
    drop(t);
    drop(db);
    drop(m);
    Ok(format!("insert reported Ok with the flush deferred ({e})"))
}
