//! One power-loss cycle: mount the disk, run the child, cut the power in the middle of an
//! operation, kill the child, mount what survived and check it against the model.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nestdb_crashfs::Disk;
use rand::Rng;

use super::model::{self, Op, Rows};

/// A line of the child's output and when the parent received it.
struct Line {
    at: Instant,
    text: String,
}

/// What one cycle found.
pub struct Outcome {
    /// The phase of the operation in flight when the power was cut (None: between operations).
    pub landed: Option<String>,
    /// Acknowledged operations in the cycle.
    pub acked: usize,
    /// Whether the in-flight operation turned out to be durable.
    pub inflight_durable: bool,
    /// Bytes the cut threw away.
    pub dropped: u64,
}

/// The test's world: the disk, where to mount it, the expected rows and timing estimates.
pub struct World {
    pub disk: Disk,
    pub root: PathBuf,
    pub rows: Rows,
    pub mounts: usize,
    /// Typical duration of each phase, to aim the cut inside it.
    pub est: std::collections::HashMap<String, Duration>,
    /// Extra environment for the child (the fsync mutation).
    pub child_env: Vec<(String, String)>,
}

impl World {
    pub fn new(root: &Path) -> World {
        World {
            disk: Disk::new(),
            root: root.to_path_buf(),
            rows: Rows::new(),
            mounts: 0,
            est: Default::default(),
            child_env: Vec::new(),
        }
    }

    /// Mounts the disk at a fresh directory (fuser 0.18 must never unmount a reused path).
    pub fn mount(&mut self) -> (nestdb_crashfs::Mount, PathBuf) {
        self.mounts += 1;
        let at = self.root.join(format!("mnt-{}", self.mounts));
        std::fs::create_dir_all(&at).expect("mountpoint");
        let m = self
            .disk
            .mount(&at)
            .expect("mount the crash filesystem (needs /dev/fuse and root)");
        (m, at)
    }

    /// Writes `batches` batches through the library with every write acknowledged.
    pub fn seed(&mut self, batches: i64) {
        let (m, at) = self.mount();
        {
            let (_db, t) = model::open(&at.join("db")).expect("open");
            for b in 0..batches {
                let op = Op::Insert(b);
                t.insert(&super::common::batch(&model::batch_ids(b), model::DIM, 0))
                    .expect("seed");
                model::apply(&mut self.rows, &op);
            }
            t.flush().expect("flush");
        }
        m.unmount().expect("unmount");
    }
}

fn spawn_reader(out: impl Read + Send + 'static) -> mpsc::Receiver<Line> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for text in BufReader::new(out).lines().map_while(Result::ok) {
            if tx
                .send(Line {
                    at: Instant::now(),
                    text,
                })
                .is_err()
            {
                break;
            }
        }
    });
    rx
}

/// Runs one cycle aimed at `target`; Err describes a broken promise.
pub fn run(w: &mut World, target: &str, seed: u64, rng: &mut impl Rng) -> Result<Outcome, String> {
    let (mnt, at) = w.mount();
    let scratch = w.root.join("scratch");
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let mut child = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .args([
            "child",
            &at.join("db").to_string_lossy(),
            &scratch.to_string_lossy(),
        ])
        .args([seed.to_string(), target.to_string()])
        .envs(w.child_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let rx = spawn_reader(child.stdout.take().expect("stdout"));
    let mut err = child.stderr.take().expect("stderr");
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut log = Vec::new();
    let cut_at = aim(w, target, &rx, &mut log, rng);
    let tear = rng.random_bool(0.5);
    let report = if tear {
        w.disk.power_cut(Some(rng))
    } else {
        w.disk.power_cut(None)
    };
    let cut = Instant::now();
    let _ = child.kill();
    let status = child.wait().map_err(|e| e.to_string())?;
    log.extend(rx.iter());
    let stderr = errs.join().unwrap_or_default();
    // After the cut every file operation fails: the child either died of our SIGKILL or
    // reported the failure and exited 3. Anything else (a panic) is a defect.
    let code = status.code();
    if status.signal() != Some(libc::SIGKILL) && code != Some(3) {
        return Err(format!(
            "child ended with {status:?} (cut aimed: {cut_at:?}):\n{stderr}"
        ));
    }
    mnt.unmount().map_err(|e| format!("unmount: {e}"))?;
    let mut out = check(w, &log, cut)?;
    out.dropped = report.bytes_dropped;
    Ok(out)
}

/// Waits until the child begins an operation of `target`, then sleeps a random part of that
/// phase's typical duration. Returns how long it slept.
fn aim(
    w: &mut World,
    target: &str,
    rx: &mpsc::Receiver<Line>,
    log: &mut Vec<Line>,
    rng: &mut impl Rng,
) -> Option<Duration> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Ok(l) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        learn(w, log, &l);
        let begins = l.text.strip_prefix("BEGIN ").map(str::split_whitespace);
        let hit = begins
            .and_then(|mut ws| ws.next())
            .is_some_and(|op| Op::parse(&[op, "0", "0"]).is_some_and(|o| o.phase() == target));
        log.push(l);
        if hit {
            let est = w
                .est
                .get(target)
                .copied()
                .unwrap_or(Duration::from_millis(5));
            let d = est.mul_f64(rng.random_range(0.0..1.0));
            std::thread::sleep(d);
            return Some(d);
        }
    }
    None
}

/// Updates the phase duration estimate from an ACK line.
fn learn(w: &mut World, log: &[Line], l: &Line) {
    let Some(done) = l.text.strip_prefix("ACK ") else {
        return;
    };
    let Some(begin) = log
        .iter()
        .rev()
        .find(|b| b.text.strip_prefix("BEGIN ") == Some(done))
    else {
        return;
    };
    let Some(op) = Op::parse(&done.split_whitespace().collect::<Vec<_>>()) else {
        return;
    };
    let took = l.at.duration_since(begin.at);
    let e = w.est.entry(op.phase().to_string()).or_insert(took);
    *e = e.mul_f64(0.7) + took.mul_f64(0.3);
}

/// Mounts what survived and checks it against the model (updating the model).
fn check(w: &mut World, log: &[Line], cut: Instant) -> Result<Outcome, String> {
    let mut acked = 0;
    let mut inflight: Option<(Op, Instant)> = None;
    for l in log {
        let mut ws = l.text.split_whitespace();
        let kind = ws.next();
        let op = Op::parse(&ws.collect::<Vec<_>>());
        match (kind, op) {
            (Some("BEGIN"), Some(op)) => inflight = Some((op, l.at)),
            (Some("ACK"), Some(op)) => {
                model::apply(&mut w.rows, &op);
                acked += 1;
                inflight = None;
            }
            _ => {}
        }
    }
    let landed = inflight
        .as_ref()
        .filter(|(_, at)| *at < cut)
        .map(|(op, _)| op.phase().to_string());
    let (m, at) = w.mount();
    let result = verify(w, &at.join("db"), inflight.map(|(op, _)| op));
    drop(m);
    let inflight_durable = result?;
    Ok(Outcome {
        landed,
        acked,
        inflight_durable,
        dropped: 0,
    })
}

fn verify(w: &mut World, dir: &Path, inflight: Option<Op>) -> Result<bool, String> {
    let (db, t) = model::open(dir).map_err(|e| format!("reopen after the cut: {e}"))?;
    let got = model::present(&t)?;
    let mut after = w.rows.clone();
    if let Some(op) = &inflight {
        model::apply(&mut after, op);
    }
    let durable = if got == w.rows {
        false
    } else if got == after {
        w.rows = after;
        true
    } else {
        return Err(format!(
            "after the cut (in flight: {inflight:?}): {} ({} rows found, {} expected)",
            model::diff(&w.rows, &got),
            got.len(),
            w.rows.len()
        ));
    };
    let problems = db.check().map_err(|e| format!("check: {e}"))?;
    if !problems.is_empty() {
        return Err(format!("integrity check: {problems:?}"));
    }
    model::search_agrees(&t, &w.rows, w.mounts as u64)?;
    Ok(durable)
}
