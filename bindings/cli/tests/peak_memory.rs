//! The shell's COPY and ANALYZE run in memory that does not grow with the table (issue 13).
//!
//! A child process (the `nestdb` binary) creates a table, COPYs a generated Parquet set into it
//! and ANALYZEs it: the out-of-core load, the sampled fit, the tuner and the compaction that
//! codes every row. The parent samples the child's `/proc/PID/status` every few milliseconds
//! and records the peak of `RssAnon`, the process's own memory (heap, stacks), and takes the
//! kernel's `VmHWM` (which also counts page-cache pages the child mapped) from `wait4`.
//!
//! It runs at two sizes, 3x apart, with the same dimension and options. The bounds, documented
//! in docs/format.md ("Memory bounds of load and ANALYZE"):
//! - `RssAnon` peaks under [`ANON_BOUND`] at both sizes, and the larger table's peak exceeds
//!   the smaller's by less than [`ANON_GROWTH`] of the extra raw vector bytes (a copy of the
//!   table's vectors, codes or row lists held in memory would be all of them);
//! - `VmHWM` stays under [`HWM_BOUND`]. It counts mapped page-cache pages too, and those do
//!   grow with the table for a moment at the end of each fit (docs/format.md), so it gets a
//!   constant bound, not a flatness check.
//!
//! Structural, not timed: sizes, not speed. Linux with glibc only: it reads `/proc`, and the
//! bound relies on the engine trimming glibc's heap between phases.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder};
use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use parquet::arrow::ArrowWriter;

/// MiniLM's width.
const DIM: usize = 384;
const FILE_ROWS: usize = 50_000;
/// The two sizes: both at or above the fit's default sample (200,000 rows), so the sample is
/// the same size in both, and both above compaction's in-memory limit (256 MiB of vectors), so
/// both take the out-of-core path; anything else that follows the table shows as growth.
const SMALL_FILES: usize = 4;
const LARGE_FILES: usize = 12;
const MIB: u64 = 1 << 20;
/// A row in the middle of the first file, searched for with its own vector.
const PROBE_ID: usize = 31_337;
/// The documented bound on the process's own memory for a table of this width (the fit's
/// sample, 200,000 x 384 floats, is 293 MiB of it).
const ANON_BOUND: u64 = 1024 * MIB;
/// Growth of the anonymous peak allowed, as a fraction of the extra raw vector bytes.
const ANON_GROWTH: f64 = 0.25;
/// The documented bound on the peak resident set including mapped file pages.
const HWM_BOUND: u64 = 1536 * MIB;

/// Rows around 256 centres with noise, deterministic (xorshift): clustered like embeddings,
/// so the tuner's probing behaves as on real data.
fn write_file(path: &Path, first: usize) {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
    };
    let centres: Vec<f32> = (0..256 * DIM).map(|_| next()).collect();
    let mut noise = {
        let mut t = (first as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D);
        move || {
            t ^= t << 13;
            t ^= t >> 7;
            t ^= t << 17;
            (t >> 11) as f32 / (1u64 << 53) as f32 - 0.5
        }
    };
    let ids: Int64Array = (first as i64..(first + FILE_ROWS) as i64)
        .collect::<Vec<_>>()
        .into();
    let mut v = FixedSizeListBuilder::new(Float32Builder::new(), DIM as i32);
    for i in 0..FILE_ROWS {
        let c = &centres[((first + i) * 7919 % 256) * DIM..][..DIM];
        for &x in c {
            v.values().append_value(x + 0.4 * noise());
        }
        v.append(true);
    }
    let batch = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(ids) as ArrayRef),
        ("embedding", Arc::new(v.finish()) as ArrayRef),
    ])
    .unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// `key:` of /proc/PID/status in bytes, if the process is still there.
fn status_bytes(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

struct Peaks {
    anon: u64,
    hwm: u64,
}

/// Runs the shell on a fresh database: CREATE, COPY of `files` files, ANALYZE, then a check
/// of the row count; returns the child's peaks.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4 in wait_with_peak, which also gives its peak RSS"
)]
fn load_and_analyze(files: usize) -> Peaks {
    let src = tempfile::tempdir().unwrap();
    for f in 0..files {
        write_file(
            &src.path().join(format!("part-{f:03}.parquet")),
            f * FILE_ROWS,
        );
    }
    let db = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nestdb"))
        .arg(db.path().join("db"))
        .args(["--no-progress", "-c"])
        .arg(format!(
            "CREATE TABLE t (id BIGINT PRIMARY KEY, embedding VECTOR({DIM}))"
        ))
        .arg("-c")
        .arg(format!("COPY t FROM '{}/part-*.parquet'", src.path().display()))
        .args(["-c", "ANALYZE t", "-c", "SELECT count(*) AS n FROM t"])
        // a row's own vector finds it: the out-of-core coding filed it under its partition
        .arg("-c")
        .arg(format!(
            "SELECT id FROM t ORDER BY embedding <=> (SELECT embedding FROM t WHERE id = {PROBE_ID}) LIMIT 1"
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the nestdb binary runs");
    let pid = child.id();
    let anon = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (anon, done) = (anon.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(a) = status_bytes(pid, "RssAnon:") {
                    anon.fetch_max(a, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let stdout = child.stdout.take().unwrap();
    let out = std::io::read_to_string(stdout).unwrap();
    // the child has exited but is not reaped yet, so its pid cannot be reused under the sampler
    wait_exited(pid);
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let (status, hwm) = wait_with_peak(pid);
    assert!(status == 0, "the shell failed (status {status}): {out}");
    // the count and the probe's id each print as a line of their own (the status lines, such
    // as `COPY 200000`, do not match a whole line)
    let line = |v: String| out.lines().any(|l| l.trim().trim_matches('|').trim() == v);
    let rows = files * FILE_ROWS;
    assert!(line(rows.to_string()), "count(*) is not {rows}: {out}");
    assert!(
        line(PROBE_ID.to_string()),
        "row {PROBE_ID} not found by its own vector: {out}"
    );
    Peaks {
        anon: anon.load(Ordering::Relaxed),
        hwm,
    }
}

/// Waits until `pid` has exited, leaving it to be reaped by [`wait_with_peak`].
fn wait_exited(pid: u32) {
    loop {
        // SAFETY: an all-zero siginfo_t is a valid value of this plain C struct.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `pid` is our own unreaped child; `info` is valid for writes during the call.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            assert_eq!(r, 0, "waitid failed");
            return;
        }
    }
}

/// Reaps `pid` and returns its exit status and its peak resident set (`ru_maxrss`, the
/// kernel's VmHWM at exit) in bytes.
fn wait_with_peak(pid: u32) -> (i32, u64) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = loop {
        // SAFETY: `pid` is our own child, not yet reaped (std's Child is never waited on
        // here); `status` and `usage` are valid for writes for the call's duration.
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        if r != -1 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break r;
        }
    };
    assert_eq!(r, pid as libc::pid_t, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, usage.ru_maxrss as u64 * 1024)
}

#[test]
fn copy_and_analyze_peak_memory_does_not_grow_with_the_table() {
    let small = load_and_analyze(SMALL_FILES);
    let large = load_and_analyze(LARGE_FILES);
    let extra_raw = ((LARGE_FILES - SMALL_FILES) * FILE_ROWS * DIM * 4) as u64;
    eprintln!(
        "RssAnon peak {} / {} MiB, VmHWM {} / {} MiB at {} / {} rows; extra raw vectors {} MiB",
        small.anon / MIB,
        large.anon / MIB,
        small.hwm / MIB,
        large.hwm / MIB,
        SMALL_FILES * FILE_ROWS,
        LARGE_FILES * FILE_ROWS,
        extra_raw / MIB
    );
    assert!(small.anon > 0 && large.anon > 0, "no RssAnon samples");
    for p in [&small, &large] {
        assert!(p.anon < ANON_BOUND, "RssAnon peak {} MiB", p.anon / MIB);
        assert!(p.hwm < HWM_BOUND, "VmHWM {} MiB", p.hwm / MIB);
    }
    let growth = large.anon.saturating_sub(small.anon);
    assert!(
        (growth as f64) < ANON_GROWTH * extra_raw as f64,
        "the process's memory followed the table: {} MiB more for {} MiB more vectors",
        growth / MIB,
        extra_raw / MIB
    );
}
