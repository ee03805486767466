//! The container every non-Parquet file nestdb owns is written in (format version 2).
//!
//! ```text
//! offset  size   field
//! 0       8      magic b"NESTDB\0\x1a"
//! 8       4      format version (u32 LE) = FORMAT_VERSION
//! 12      4      file kind (u32 LE): 1 = segment sidecar, 2 = learned index
//! 16      4      log2 of the checksum block size (u32 LE) = 16 (64 KiB)
//! 20      44     reserved, zero
//! 64      ...    sections, each starting at a 64-byte aligned offset, zero padding between
//! T       40*N   section table: tag u32, flags u32 (0), offset u64, length u64,
//!                first block u64 (its first entry in the checksum table), reserved u64 (0)
//! C       4*B    checksum table: CRC-32 of every 64 KiB block of every section, in table order
//! L-32    8      T (u64 LE)
//! L-24    4      N (u32 LE)
//! L-20    4      reserved (0)
//! L-16    8      B (u64 LE)
//! L-8     4      CRC-32 of bytes [0, 64) followed by bytes [T, L-8) (u32 LE)
//! L-4     4      footer magic b"NEND"
//! ```
//! Opening a file reads the header and the footer only: magic, version, footer magic, that the
//! table and checksum table end exactly at `L-32` (a truncated file fails here), the footer's
//! CRC, and that every section lies inside `[64, T)` and is aligned. Section bytes are verified
//! lazily, block by block, the first time they are read ([`crate::blockcrc`]); `check()`
//! verifies them all. So opening a multi-gigabyte sidecar costs microseconds.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::blockcrc::{self, BlockHasher, Verified};
use crate::error::{Result, StorageError};
use crate::fsutil;

/// Magic bytes at the start of every container file.
pub const MAGIC: [u8; 8] = *b"NESTDB\0\x1a";
/// Magic bytes at the very end of every container file.
pub const FOOTER_MAGIC: [u8; 4] = *b"NEND";
/// The container format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 2;
/// Alignment of every section, in bytes.
pub const ALIGN: usize = 64;
const HEADER_LEN: usize = 64;
const ENTRY_LEN: usize = 40;
const TAIL_LEN: usize = 32;

/// What a container file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum FileKind {
    /// A segment's memory-mapped sidecar (ids, index codes, label dictionaries).
    Sidecar = 1,
    /// A table's learned index model (rotation, centroids, quantizers, schedules).
    Index = 2,
}

/// One section to write: a tag and its bytes.
pub struct Section<'a> {
    /// Section tag (see [`crate::sections`]).
    pub tag: u32,
    /// Section contents.
    pub bytes: &'a [u8],
}

fn align_up(x: u64) -> u64 {
    x.div_ceil(ALIGN as u64) * ALIGN as u64
}

/// Writes `sections` to `path` atomically: a temporary file, fsync, rename, directory fsync.
pub fn write(path: &Path, kind: FileKind, sections: &[Section<'_>]) -> Result<u64> {
    let mut w = ContainerWriter::create(path, kind)?;
    for s in sections {
        w.append(s.tag, s.bytes)?;
    }
    w.finish()
}

struct Pending {
    tag: u32,
    offset: u64,
    len: u64,
    written: u64,
    buf: Vec<u8>,
    hasher: BlockHasher,
    crcs: Option<Vec<u32>>,
}

/// Handle of a section reserved with [`ContainerWriter::reserve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionId(usize);

/// Writes a container file: sections of known length are reserved up front and filled in
/// order (each may be filled a piece at a time, interleaved with the others), others are
/// appended whole. The file is written under a temporary name; [`ContainerWriter::finish`]
/// fsyncs and renames it into place; dropping the writer unfinished removes it.
pub struct ContainerWriter {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
    sections: Vec<Pending>,
    end: u64,
    header: [u8; HEADER_LEN],
}

/// Bytes buffered per reserved section before they are written.
const SECTION_BUF: usize = 256 << 10;

impl ContainerWriter {
    /// Starts writing `path` (under its temporary name).
    pub fn create(path: &Path, kind: FileKind) -> Result<ContainerWriter> {
        let tmp = fsutil::tmp_path(path);
        let file = File::create(&tmp).map_err(|e| StorageError::io(&tmp, e))?;
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(&MAGIC);
        header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        header[12..16].copy_from_slice(&(kind as u32).to_le_bytes());
        header[16..20].copy_from_slice(&blockcrc::BLOCK_LOG2.to_le_bytes());
        file.write_all_at(&header, 0)
            .map_err(|e| StorageError::io(&tmp, e))?;
        Ok(ContainerWriter {
            path: path.to_path_buf(),
            tmp,
            file: Some(file),
            sections: Vec::new(),
            end: HEADER_LEN as u64,
            header,
        })
    }

    fn file(&self) -> &File {
        self.file.as_ref().expect("open until finish")
    }

    /// Reserves a section of exactly `len` bytes, to be filled with [`ContainerWriter::write`].
    pub fn reserve(&mut self, tag: u32, len: u64) -> SectionId {
        let offset = align_up(self.end);
        self.end = offset + len;
        self.sections.push(Pending {
            tag,
            offset,
            len,
            written: 0,
            buf: Vec::new(),
            hasher: BlockHasher::default(),
            crcs: None,
        });
        SectionId(self.sections.len() - 1)
    }

    /// Appends the next bytes of reserved section `id`.
    pub fn write(&mut self, id: SectionId, bytes: &[u8]) -> Result<()> {
        let s = &mut self.sections[id.0];
        if s.written + (s.buf.len() + bytes.len()) as u64 > s.len {
            return Err(StorageError::corrupt(
                self.tmp.display().to_string(),
                format!(
                    "section {} written past its reserved {} bytes",
                    s.tag, s.len
                ),
            ));
        }
        s.hasher.update(bytes);
        s.buf.extend_from_slice(bytes);
        if s.buf.len() >= SECTION_BUF {
            self.spill(id.0)?;
        }
        Ok(())
    }

    fn spill(&mut self, i: usize) -> Result<()> {
        let at = self.sections[i].offset + self.sections[i].written;
        let buf = std::mem::take(&mut self.sections[i].buf);
        self.file()
            .write_all_at(&buf, at)
            .map_err(|e| StorageError::io(&self.tmp, e))?;
        let s = &mut self.sections[i];
        s.written += buf.len() as u64;
        s.buf = buf;
        s.buf.clear();
        Ok(())
    }

    /// Appends a whole section.
    pub fn append(&mut self, tag: u32, bytes: &[u8]) -> Result<()> {
        let id = self.reserve(tag, bytes.len() as u64);
        self.write(id, bytes)
    }

    /// Writes the section table, checksums and footer, fsyncs and renames the file into place.
    /// Returns the file's length.
    pub fn finish(mut self) -> Result<u64> {
        for i in 0..self.sections.len() {
            self.spill(i)?;
            let s = &mut self.sections[i];
            if s.written != s.len {
                return Err(StorageError::corrupt(
                    self.tmp.display().to_string(),
                    format!("section {} has {} of its {} bytes", s.tag, s.written, s.len),
                ));
            }
            s.crcs = Some(std::mem::take(&mut s.hasher).finish());
        }
        let table_at = align_up(self.end);
        let mut footer = Vec::new();
        let mut first = 0u64;
        for s in &self.sections {
            footer.extend_from_slice(&s.tag.to_le_bytes());
            footer.extend_from_slice(&0u32.to_le_bytes());
            footer.extend_from_slice(&s.offset.to_le_bytes());
            footer.extend_from_slice(&s.len.to_le_bytes());
            footer.extend_from_slice(&first.to_le_bytes());
            footer.extend_from_slice(&0u64.to_le_bytes());
            first += s.crcs.as_ref().map_or(0, |c| c.len() as u64);
        }
        for s in &self.sections {
            for c in s.crcs.iter().flatten() {
                footer.extend_from_slice(&c.to_le_bytes());
            }
        }
        footer.extend_from_slice(&table_at.to_le_bytes());
        footer.extend_from_slice(&(self.sections.len() as u32).to_le_bytes());
        footer.extend_from_slice(&0u32.to_le_bytes());
        footer.extend_from_slice(&first.to_le_bytes());
        let mut h = crc32fast::Hasher::new();
        h.update(&self.header);
        h.update(&footer);
        footer.extend_from_slice(&h.finalize().to_le_bytes());
        footer.extend_from_slice(&FOOTER_MAGIC);
        self.file()
            .write_all_at(&footer, table_at)
            .map_err(|e| StorageError::io(&self.tmp, e))?;
        let len = table_at + footer.len() as u64;
        let file = self.file.take().expect("open until finish");
        file.set_len(len)
            .map_err(|e| StorageError::io(&self.tmp, e))?;
        file.sync_all()
            .map_err(|e| StorageError::io(&self.tmp, e))?;
        drop(file);
        fsutil::rename_durable(&self.tmp, &self.path)?;
        Ok(len)
    }
}

impl Drop for ContainerWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// A section's place in the file and in the checksum table.
#[derive(Clone, Copy, Debug)]
struct Entry {
    tag: u32,
    off: usize,
    len: usize,
    first_block: usize,
}

/// A memory-mapped container file whose header and footer were verified; section bytes are
/// verified on first read (see the module docs).
#[derive(Debug)]
pub struct Container {
    path: PathBuf,
    map: Mmap,
    kind: u32,
    sections: Vec<Entry>,
    crc_at: usize,
    blocks: usize,
    verified: Verified,
}

/// A section's bytes, not yet verified: read them through [`Container::verify`].
#[derive(Clone, Copy, Debug)]
pub struct Raw<'a> {
    /// The bytes.
    pub bytes: &'a [u8],
    first_block: usize,
}

impl Container {
    /// Maps `path` and verifies its header, footer and section table (not the section bytes).
    pub fn open(path: &Path, expect: FileKind) -> Result<Container> {
        let file = File::open(path).map_err(|e| StorageError::io(path, e))?;
        // SAFETY: nestdb never modifies a container after it is renamed into place (files are
        // immutable; replacements get new names), so the mapping cannot change under us.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| StorageError::io(path, e))?;
        random_access(&map);
        let c = Self::parse(path, map)?;
        if c.kind != expect as u32 {
            return Err(StorageError::corrupt(
                path.display().to_string(),
                format!("file kind {} where {} was expected", c.kind, expect as u32),
            ));
        }
        Ok(c)
    }

    fn parse(path: &Path, map: Mmap) -> Result<Container> {
        let bad = |reason: &str| StorageError::corrupt(path.display().to_string(), reason);
        let len = map.len();
        if len < HEADER_LEN + TAIL_LEN || map[..8] != MAGIC {
            return Err(StorageError::BadMagic { path: path.into() });
        }
        let version = read_u32(&map, 8);
        if version != FORMAT_VERSION {
            return Err(StorageError::UnsupportedVersion {
                path: path.into(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if map[len - 4..] != FOOTER_MAGIC {
            return Err(bad("missing footer (truncated file?)"));
        }
        let tail = len - TAIL_LEN;
        let table_at = read_u64(&map, tail) as usize;
        let n = read_u32(&map, tail + 8) as usize;
        let blocks = read_u64(&map, tail + 16) as usize;
        let expect_end = (n as u128) * ENTRY_LEN as u128 + (blocks as u128) * 4 + table_at as u128;
        if table_at < HEADER_LEN || expect_end != tail as u128 {
            return Err(bad(
                "footer does not match the file length (truncated file?)",
            ));
        }
        let mut h = crc32fast::Hasher::new();
        h.update(&map[..HEADER_LEN]);
        h.update(&map[table_at..len - 8]);
        let (stored, computed) = (read_u32(&map, len - 8), h.finalize());
        if stored != computed {
            return Err(StorageError::ChecksumMismatch {
                path: path.into(),
                stored,
                computed,
            });
        }
        if read_u32(&map, 16) != blockcrc::BLOCK_LOG2 {
            return Err(bad("unsupported checksum block size"));
        }
        let mut sections = Vec::with_capacity(n);
        for i in 0..n {
            let e = table_at + i * ENTRY_LEN;
            let entry = Entry {
                tag: read_u32(&map, e),
                off: read_u64(&map, e + 8) as usize,
                len: read_u64(&map, e + 16) as usize,
                first_block: read_u64(&map, e + 24) as usize,
            };
            let in_file = entry.off >= HEADER_LEN
                && entry.off.is_multiple_of(ALIGN)
                && entry
                    .off
                    .checked_add(entry.len)
                    .is_some_and(|end| end <= table_at);
            let in_table = entry
                .first_block
                .checked_add(blockcrc::blocks(entry.len))
                .is_some_and(|end| end <= blocks);
            if !in_file || !in_table {
                return Err(bad(&format!(
                    "section {} out of bounds or misaligned",
                    entry.tag
                )));
            }
            sections.push(entry);
        }
        Ok(Container {
            path: path.into(),
            crc_at: table_at + n * ENTRY_LEN,
            kind: read_u32(&map, 12),
            verified: Verified::new(blocks),
            blocks,
            map,
            sections,
        })
    }

    /// The file this container was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn crcs(&self) -> &[u32] {
        cast_slice(&self.map[self.crc_at..self.crc_at + 4 * self.blocks])
    }

    fn entry(&self, tag: u32) -> Option<Entry> {
        self.sections.iter().find(|s| s.tag == tag).copied()
    }

    /// Unmaps every page of the file from this process (see [`crate::blockcrc::release`]).
    pub fn release(&self) {
        // SAFETY: `map` is a read-only shared mapping of an immutable container file (`open`).
        unsafe { crate::blockcrc::release(&self.map) };
    }

    /// Whether section `tag` exists.
    pub fn has(&self, tag: u32) -> bool {
        self.entry(tag).is_some()
    }

    /// Tags of every section, in file order.
    pub fn tags(&self) -> Vec<u32> {
        self.sections.iter().map(|s| s.tag).collect()
    }

    /// Section `tag` without verification (read it through [`Container::verify`]).
    pub fn raw(&self, tag: u32) -> Option<Raw<'_>> {
        self.entry(tag).map(|e| Raw {
            bytes: &self.map[e.off..e.off + e.len],
            first_block: e.first_block,
        })
    }

    /// Verifies bytes `range` of a raw section (blocks already verified are skipped).
    #[inline]
    pub fn verify(&self, raw: &Raw<'_>, range: std::ops::Range<usize>) -> Result<()> {
        self.verified
            .ensure(self.crcs(), raw.first_block, raw.bytes, range)
            .map_err(|b| self.bad_block(b))
    }

    #[cold]
    fn bad_block(&self, b: blockcrc::BadBlock) -> StorageError {
        StorageError::BlockChecksum {
            path: self.path.clone(),
            block: b.block as u64,
            stored: b.stored,
            computed: b.computed,
        }
    }

    /// The verified bytes of section `tag`, if present.
    pub fn section(&self, tag: u32) -> Result<Option<&[u8]>> {
        match self.raw(tag) {
            None => Ok(None),
            Some(r) => {
                self.verify(&r, 0..r.bytes.len())?;
                Ok(Some(r.bytes))
            }
        }
    }

    /// The verified bytes of section `tag`, or a corruption error naming the file.
    pub fn require(&self, tag: u32) -> Result<&[u8]> {
        self.section(tag)?.ok_or_else(|| {
            StorageError::corrupt(
                self.path.display().to_string(),
                format!("missing section {tag}"),
            )
        })
    }

    /// Section `tag` viewed as a slice of `T` (f32, u64, i64, ...), checked for size and
    /// verified.
    pub fn typed<T: Pod>(&self, tag: u32, count: usize) -> Result<&[T]> {
        let bytes = self.require(tag)?;
        self.check_len::<T>(tag, bytes.len(), count)?;
        Ok(cast_slice(bytes))
    }

    /// Section `tag` viewed as `count` values of `T` without verifying it (large sections read a
    /// range at a time: verify each range with [`Container::verify`] before trusting it).
    pub fn typed_raw<T: Pod>(&self, tag: u32, count: usize) -> Result<(&[T], Raw<'_>)> {
        let raw = self.raw(tag).ok_or_else(|| {
            StorageError::corrupt(
                self.path.display().to_string(),
                format!("missing section {tag}"),
            )
        })?;
        self.check_len::<T>(tag, raw.bytes.len(), count)?;
        Ok((cast_slice(raw.bytes), raw))
    }

    fn check_len<T>(&self, tag: u32, bytes: usize, count: usize) -> Result<()> {
        let want = count.checked_mul(std::mem::size_of::<T>());
        if want != Some(bytes) {
            return Err(StorageError::corrupt(
                self.path.display().to_string(),
                format!(
                    "section {tag} holds {bytes} bytes, expected {count} values of {} bytes",
                    std::mem::size_of::<T>()
                ),
            ));
        }
        Ok(())
    }

    /// Verifies every block of every section, and that the padding between sections is zero
    /// (so no byte of the file escapes `check()`).
    pub fn verify_all(&self) -> Result<()> {
        let mut spans: Vec<(usize, usize)> = self
            .sections
            .iter()
            .map(|e| (e.off, e.off + e.len))
            .collect();
        spans.sort_unstable();
        let table_at = self.crc_at - self.sections.len() * ENTRY_LEN;
        let mut at = HEADER_LEN;
        for &(a, b) in spans.iter().chain(std::iter::once(&(table_at, table_at))) {
            if a > at && self.map[at..a].iter().any(|&x| x != 0) {
                return Err(StorageError::corrupt(
                    self.path.display().to_string(),
                    format!("non-zero padding at bytes {at}..{a}"),
                ));
            }
            at = at.max(b);
        }
        for e in &self.sections {
            self.verified
                .ensure_all(self.crcs(), e.first_block, &self.map[e.off..e.off + e.len])
                .map_err(|b| self.bad_block(b))?;
        }
        Ok(())
    }

    /// Total bytes of the file.
    pub fn len_bytes(&self) -> usize {
        self.map.len()
    }
}

/// Plain-old-data element types a section may be viewed as.
///
/// # Safety
/// Implementors must be valid for every bit pattern and have no padding.
pub unsafe trait Pod: Copy + 'static {}
// SAFETY: primitive numeric types accept every bit pattern and have no padding.
unsafe impl Pod for f32 {}
// SAFETY: as above.
unsafe impl Pod for u64 {}
// SAFETY: as above.
unsafe impl Pod for i64 {}
// SAFETY: as above.
unsafe impl Pod for u32 {}
// SAFETY: as above.
unsafe impl Pod for i8 {}
// SAFETY: as above.
unsafe impl Pod for u8 {}
// SAFETY: as above.
unsafe impl Pod for u16 {}
// SAFETY: as above.
unsafe impl Pod for f64 {}

/// Views bytes as a slice of `T`. Panics only on a misaligned slice, which the 64-byte aligned
/// section layout (and page-aligned mappings) rule out.
pub fn cast_slice<T: Pod>(bytes: &[u8]) -> &[T] {
    let size = std::mem::size_of::<T>();
    assert!(
        (bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>()),
        "misaligned section"
    );
    // SAFETY: alignment checked above; T is Pod so any bytes are a valid T; the length is
    // rounded down to whole elements and the lifetime is tied to `bytes`.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), bytes.len() / size) }
}

/// Views a slice of `T` as bytes (for writing sections).
pub fn as_bytes<T: Pod>(v: &[T]) -> &[u8] {
    // SAFETY: T is Pod (no padding), so every byte of the slice is initialized; u8 has
    // alignment 1 and the length covers exactly the same memory.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// Views a mutable slice of `T` as bytes (for filling it from little-endian storage).
pub fn as_bytes_mut<T: Pod>(v: &mut [T]) -> &mut [u8] {
    // SAFETY: T is Pod (no padding, valid for every bit pattern), so whatever bytes are
    // written leave valid values; u8 has alignment 1 and the length covers exactly the same
    // memory, borrowed mutably for the returned lifetime.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn read_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
#[path = "container_tests.rs"]
mod tests;

/// Marks `map` as read at random: a page fault then reads that page, not the kernel's
/// read-around window (8 MiB on some disks), so opening a file touches only what it reads;
/// ranges read whole are requested ahead explicitly ([`crate::blockcrc::will_need`]).
pub(crate) fn random_access(map: &Mmap) {
    // a hint: a failure only costs read-ahead
    let _ = map.advise(memmap2::Advice::Random);
}
