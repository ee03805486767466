//! Keeping the pages a long job maps bounded: the tuner's and the calibration's sample queries
//! read rows all over the table through its memory maps, and every page they touch stays
//! mapped into the process (counted in its resident memory) until it is released.
//!
//! On Linux a fault on a file mapping also maps the neighbouring pages already in the page
//! cache (fault-around, 64 KiB by default), so a sample that reads a few hundred scattered
//! 1.5 KiB rows maps tens of MiB. Sixteen samples between releases (the rule before stop 33)
//! let the mapped pages reach 2.4 GiB (grid) and 4.0 GiB (calibration) of a 3M-row table's
//! ANALYZE, growing with the table. So besides the fixed cadence, [`Releaser::after`] releases
//! as soon as the process's mapped file pages pass [`MAPPED_BUDGET`], checked after every
//! batch of one sample per thread (reading `/proc/self/statm`, a few microseconds).
//!
//! Releasing drops the mappings only (`MADV_DONTNEED` on clean, read-only file pages): the
//! pages stay in the page cache, later reads fault them back in without I/O, and slices
//! borrowed from the maps stay valid.

use super::view::SegView;

/// Samples evaluated between two releases whatever the mapped pages.
pub const EVERY: usize = 16;

/// Mapped file pages (bytes) above which the next check releases.
pub const MAPPED_BUDGET: u64 = 256 << 20;

/// Samples per batch between two checks: one per worker thread.
pub fn batch() -> usize {
    rayon::current_num_threads().max(1)
}

/// Releases the mapped pages of some segments on a cadence and over a budget.
pub struct Releaser<'v, 'a> {
    views: &'v [SegView<'a>],
    since: usize,
}

impl<'v, 'a> Releaser<'v, 'a> {
    /// A releaser for `views`' segments.
    pub fn new(views: &'v [SegView<'a>]) -> Self {
        Releaser { views, since: 0 }
    }

    /// Called after `samples` more samples were evaluated: releases every [`EVERY`] samples,
    /// or sooner when the process maps more than [`MAPPED_BUDGET`] of files.
    pub fn after(&mut self, samples: usize) {
        self.since += samples;
        if self.since >= EVERY || mapped_file_bytes().is_some_and(|b| b > MAPPED_BUDGET) {
            self.release();
        }
    }

    /// Releases now.
    pub fn release(&mut self) {
        self.views.iter().for_each(|v| v.seg.release_all());
        self.since = 0;
    }
}

/// Bytes of file pages mapped into this process (`shared` of `/proc/self/statm`: RssFile plus
/// RssShmem); None where that file does not exist.
pub fn mapped_file_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(2)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    #[cfg(unix)]
    {
        // SAFETY: sysconf only reads a system constant.
        let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if p > 0 {
            return p as u64;
        }
    }
    4096
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn mapped_file_bytes_counts_a_mapped_file_while_it_is_mapped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; 64 << 20]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let before = mapped_file_bytes().expect("statm on linux");
        // SAFETY: the file is private to this test and not modified while mapped.
        let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
        let sum: u64 = map.iter().step_by(4096).map(|&b| u64::from(b)).sum();
        assert_eq!(sum, 7 * (64 << 20) / 4096);
        let mapped = mapped_file_bytes().unwrap();
        drop(map);
        let after = mapped_file_bytes().unwrap();
        // other tests of this process map small files concurrently: a margin of 16 MiB
        assert!(mapped >= before + (48 << 20), "{before} -> {mapped}");
        assert!(
            after + (48 << 20) <= mapped,
            "{mapped} -> {after} after unmapping"
        );
    }
}
