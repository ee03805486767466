//! Progress bars (stderr, terminals only) for COPY, and spinners for ANALYZE and COMPACT.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use nestdb::load::{CopyReport, Progress};

/// A bar for a COPY, sized on its first update.
pub fn copy_bar() -> ProgressBar {
    let bar = ProgressBar::hidden();
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {msg} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Applies a COPY progress update.
pub fn update(bar: &ProgressBar, p: &Progress) {
    if bar.is_hidden() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }
    bar.set_length(p.bytes.max(1));
    bar.set_position(p.bytes_done);
    let secs = bar.elapsed().as_secs_f64().max(1e-3);
    bar.set_message(format!(
        "file {}/{}, {} rows in, {} rows out, {:.0} rows/s",
        (p.files_done + 1).min(p.files),
        p.files,
        p.source_rows,
        p.rows,
        p.rows as f64 / secs
    ));
}

/// A spinner for long maintenance statements (ANALYZE, COMPACT, FLUSH), if `sql` is one.
pub fn spinner_for(sql: &str) -> Option<ProgressBar> {
    let head = sql.split_whitespace().next()?.to_ascii_uppercase();
    let what = match head.as_str() {
        "ANALYZE" => "fitting the index (PCA, k-means, quantizers, schedule)",
        "COMPACT" => "compacting",
        "FLUSH" => "flushing",
        _ => return None,
    };
    let s = ProgressBar::new_spinner();
    s.set_message(what);
    s.enable_steady_tick(Duration::from_millis(120));
    Some(s)
}

/// One line summing up a COPY.
pub fn summary(r: &CopyReport) -> String {
    let mut s = format!(
        "loaded {} rows from {} source rows in {} file(s) in {:.1}s ({:.0} rows/s)",
        r.rows,
        r.source_rows,
        r.files,
        r.seconds,
        r.rows as f64 / r.seconds.max(1e-3)
    );
    if r.file_rows > 0 {
        s.push_str(&format!(", {} file rows", r.file_rows));
    }
    if r.skipped > 0 {
        s.push_str(&format!("; skipped {} rows:", r.skipped));
        for line in &r.skipped_rows {
            s.push_str(&format!("\n  {line}"));
        }
    }
    s
}
