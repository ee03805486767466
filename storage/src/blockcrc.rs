//! Block checksums verified lazily, on first touch.
//!
//! Large data (a sidecar's code sections, the vector values inside a segment's Parquet file) is
//! checksummed in blocks of [`BLOCK`] bytes: the CRC-32 of every block is stored when the file is
//! written. Opening a file checks none of them, so opening costs nothing proportional to the
//! data; the first read of a range verifies the blocks it covers and remembers them in a bit set,
//! so every later read of those bytes costs one relaxed atomic load per block. `check()` verifies
//! every block.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes per checksummed block (64 KiB).
pub const BLOCK: usize = 1 << BLOCK_LOG2;
/// `log2(BLOCK)`.
pub const BLOCK_LOG2: u32 = 16;

/// Number of blocks covering `len` bytes.
pub fn blocks(len: usize) -> usize {
    len.div_ceil(BLOCK)
}

/// CRC-32 of each block of `data`, appended to `out`.
pub fn checksums(data: &[u8], out: &mut Vec<u32>) {
    out.extend(data.chunks(BLOCK).map(crc32fast::hash));
}

/// A block whose bytes do not match their stored checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadBlock {
    /// Index of the block in the checksum table.
    pub block: usize,
    /// Checksum stored when the file was written.
    pub stored: u32,
    /// Checksum of the bytes read.
    pub computed: u32,
}

/// Which blocks of a checksum table have been verified.
#[derive(Debug)]
pub struct Verified {
    bits: Vec<AtomicU64>,
}

impl Verified {
    /// A set of `blocks` unverified blocks.
    pub fn new(blocks: usize) -> Verified {
        Verified {
            bits: (0..blocks.div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    #[inline]
    fn is_set(&self, b: usize) -> bool {
        self.bits
            .get(b / 64)
            .is_some_and(|w| w.load(Ordering::Relaxed) & (1 << (b % 64)) != 0)
    }

    #[inline]
    fn set(&self, b: usize) {
        if let Some(w) = self.bits.get(b / 64) {
            w.fetch_or(1 << (b % 64), Ordering::Relaxed);
        }
    }

    /// Verifies the blocks of `region` (a run of bytes checksummed from its start, whose first
    /// block is entry `first` of `crcs`) that overlap bytes `range` of the region. Blocks already
    /// verified are skipped.
    #[inline]
    pub fn ensure(
        &self,
        crcs: &[u32],
        first: usize,
        region: &[u8],
        range: std::ops::Range<usize>,
    ) -> Result<(), BadBlock> {
        if range.is_empty() {
            return Ok(());
        }
        let (a, b) = (range.start >> BLOCK_LOG2, (range.end - 1) >> BLOCK_LOG2);
        let mut hinted = false;
        for blk in a..=b {
            if !self.is_set(first + blk) {
                if !hinted {
                    // one read-ahead request for every block still to verify (the mappings
                    // are MADV_RANDOM, so a fault alone reads one page)
                    let from = (blk << BLOCK_LOG2).min(region.len());
                    let to = ((b + 1) << BLOCK_LOG2).min(region.len());
                    will_need(&region[from..to]);
                    hinted = true;
                }
                self.check(crcs, first, region, blk)?;
            }
        }
        Ok(())
    }

    #[cold]
    fn check(&self, crcs: &[u32], first: usize, region: &[u8], blk: usize) -> Result<(), BadBlock> {
        let start = blk << BLOCK_LOG2;
        let bytes = &region[start.min(region.len())..(start + BLOCK).min(region.len())];
        let computed = crc32fast::hash(bytes);
        let stored = crcs.get(first + blk).copied().unwrap_or(!computed);
        if stored != computed {
            return Err(BadBlock {
                block: first + blk,
                stored,
                computed,
            });
        }
        self.set(first + blk);
        Ok(())
    }

    /// Verifies every block of `region` (whatever was verified before).
    pub fn ensure_all(&self, crcs: &[u32], first: usize, region: &[u8]) -> Result<(), BadBlock> {
        for blk in 0..blocks(region.len()) {
            self.check(crcs, first, region, blk)?;
        }
        Ok(())
    }
}

/// Asks the kernel to read `bytes` (part of a file mapping) ahead, in one request; a hint,
/// so errors (such as `bytes` not being a mapping) are ignored.
pub(crate) fn will_need(bytes: &[u8]) {
    // SAFETY: MADV_WILLNEED only starts reads into the page cache; it never changes memory
    // contents, whatever kind of memory `bytes` is.
    unsafe { advise(bytes, libc::MADV_WILLNEED) };
}

/// Drops the pages under `bytes` from this process's page tables. The page cache keeps them
/// and the next read maps them again, unchanged, so this only bounds the process's resident
/// memory in one-pass readers. A hint: errors are ignored.
///
/// # Safety
/// `bytes` must lie in a shared, read-only mapping of a file nobody modifies while it is
/// mapped (a segment's or container's mapping). On anonymous memory MADV_DONTNEED would zero
/// the pages under a shared reference.
pub(crate) unsafe fn release(bytes: &[u8]) {
    // SAFETY: the caller guarantees a read-only shared file mapping: its pages fault back in
    // from the file with the same contents.
    unsafe { advise(bytes, libc::MADV_DONTNEED) };
}

/// `madvise(advice)` over the pages holding `bytes`.
///
/// # Safety
/// `advice` must not change what `bytes` reads (see [`will_need`] and [`release`]).
unsafe fn advise(bytes: &[u8], advice: libc::c_int) {
    if bytes.is_empty() {
        return;
    }
    // SAFETY: sysconf has no preconditions.
    let page = (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).max(4096) as usize;
    let start = bytes.as_ptr() as usize;
    let aligned = start & !(page - 1);
    // SAFETY: the range starts at the page holding `bytes` and ends at its end, so it covers
    // pages the caller may access only; the caller guarantees `advice` leaves their contents
    // as they were.
    unsafe {
        libc::madvise(
            aligned as *mut libc::c_void,
            start + bytes.len() - aligned,
            advice,
        )
    };
}

/// Incremental block checksums of bytes written in order.
#[derive(Debug, Default)]
pub struct BlockHasher {
    crc: crc32fast::Hasher,
    fill: usize,
    /// CRCs of the completed blocks.
    pub crcs: Vec<u32>,
}

impl BlockHasher {
    /// Adds bytes.
    pub fn update(&mut self, mut b: &[u8]) {
        while !b.is_empty() {
            let n = (BLOCK - self.fill).min(b.len());
            self.crc.update(&b[..n]);
            self.fill += n;
            b = &b[n..];
            if self.fill == BLOCK {
                let done = std::mem::take(&mut self.crc);
                self.crcs.push(done.finalize());
                self.fill = 0;
            }
        }
    }

    /// Ends the last (partial) block and returns every block's CRC.
    pub fn finish(mut self) -> Vec<u32> {
        if self.fill > 0 {
            self.crcs.push(self.crc.finalize());
        }
        self.crcs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unmapping pages of a read-only file mapping (and asking for them ahead) never changes
    /// what the mapping reads, at any alignment, and tolerates empty and odd ranges.
    #[test]
    fn released_pages_read_back_unchanged() {
        let data: Vec<u8> = (0..(3 * BLOCK + 777))
            .map(|i| (i * 7 % 253) as u8)
            .collect();
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), &data).unwrap();
        let file = std::fs::File::open(f.path()).unwrap();
        // SAFETY: a private temporary file nobody writes while it is mapped.
        let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
        assert_eq!(&map[..], &data[..]);
        for (a, z) in [
            (0, map.len()),
            (5, 4099),
            (BLOCK + 3, BLOCK + 3),
            (map.len() - 1, map.len()),
        ] {
            will_need(&map[a..z]);
            // SAFETY: a read-only shared mapping of a file nobody writes.
            unsafe { release(&map[a..z]) };
            assert_eq!(&map[a..z], &data[a..z], "range {a}..{z}");
        }
        // SAFETY: as above.
        unsafe { release(&map) };
        assert_eq!(&map[..], &data[..]);
    }

    #[test]
    fn hasher_matches_one_shot() {
        let data: Vec<u8> = (0..(3 * BLOCK + 123))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let mut want = Vec::new();
        checksums(&data, &mut want);
        let mut h = BlockHasher::default();
        for piece in data.chunks(7777) {
            h.update(piece);
        }
        assert_eq!(h.finish(), want);
    }

    #[test]
    fn ensure_detects_a_flip_once_touched() {
        let mut data: Vec<u8> = vec![7; 2 * BLOCK + 10];
        let mut crcs = Vec::new();
        checksums(&data, &mut crcs);
        let v = Verified::new(crcs.len());
        assert!(v.ensure(&crcs, 0, &data, 0..10).is_ok());
        data[BLOCK + 5] ^= 1;
        // block 0 was verified and is not re-read; block 1 is read on first touch and fails
        assert!(v.ensure(&crcs, 0, &data, 0..BLOCK).is_ok());
        let e = v.ensure(&crcs, 0, &data, BLOCK..BLOCK + 1).unwrap_err();
        assert_eq!(e.block, 1);
        assert!(v.ensure_all(&crcs, 0, &data).is_err());
    }
}
