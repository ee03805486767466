//! The container every non-Parquet file nestdb owns is written in.
//!
//! ```text
//! offset  size  field
//! 0       8     magic  b"NESTDB\0\x1a"
//! 8       4     format version (u32 LE) = FORMAT_VERSION
//! 12      4     file kind (u32 LE): 1 = segment sidecar, 2 = learned index
//! 16      4     section count N (u32 LE)
//! 20      44    reserved, zero
//! 64      32*N  section table: tag u32, reserved u32, offset u64, length u64, reserved u64
//! ...           sections, each starting at a 64-byte aligned offset, zero padding between
//! L-16    8     footer: offset of the footer = L-16 (u64 LE)
//! L-8     4     CRC-32 (IEEE) of bytes [0, L-16) (u32 LE)
//! L-4     4     footer magic b"NEND"
//! ```
//! Readers check the magic, the version, the footer, the checksum and that every section lies
//! inside the file and is aligned, before they hand out a single byte.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::{Result, StorageError};
use crate::fsutil;

/// Magic bytes at the start of every container file.
pub const MAGIC: [u8; 8] = *b"NESTDB\0\x1a";
/// Magic bytes at the very end of every container file.
pub const FOOTER_MAGIC: [u8; 4] = *b"NEND";
/// The container format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Alignment of every section, in bytes.
pub const ALIGN: usize = 64;
const HEADER_LEN: usize = 64;
const ENTRY_LEN: usize = 32;
const FOOTER_LEN: usize = 16;

/// What a container file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum FileKind {
    /// A segment's memory-mapped sidecar (band regions, ids, index codes).
    Sidecar = 1,
    /// A table's learned index model (rotation, centroids, quantizers, schedule).
    Index = 2,
}

/// One section to write: a tag and its bytes.
pub struct Section<'a> {
    /// Section tag (see the engine's section constants).
    pub tag: u32,
    /// Section contents.
    pub bytes: &'a [u8],
}

fn align_up(x: usize) -> usize {
    x.div_ceil(ALIGN) * ALIGN
}

/// Writes `sections` to `path` atomically: a temporary file, fsync, rename, directory fsync.
pub fn write(path: &Path, kind: FileKind, sections: &[Section<'_>]) -> Result<()> {
    let tmp = fsutil::tmp_path(path);
    write_file(&tmp, kind, sections)?;
    fsutil::rename_durable(&tmp, path)
}

fn write_file(tmp: &Path, kind: FileKind, sections: &[Section<'_>]) -> Result<()> {
    let file = File::create(tmp).map_err(|e| StorageError::io(tmp, e))?;
    let mut w = CrcWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        crc: crc32fast::Hasher::new(),
        pos: 0,
    };
    let table_end = HEADER_LEN + ENTRY_LEN * sections.len();
    let mut header = Vec::with_capacity(align_up(table_end));
    header.extend_from_slice(&MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&(kind as u32).to_le_bytes());
    header.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    header.resize(HEADER_LEN, 0);
    let mut offset = align_up(table_end);
    for s in sections {
        header.extend_from_slice(&s.tag.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&(offset as u64).to_le_bytes());
        header.extend_from_slice(&(s.bytes.len() as u64).to_le_bytes());
        header.extend_from_slice(&0u64.to_le_bytes());
        offset = align_up(offset + s.bytes.len());
    }
    header.resize(align_up(table_end), 0);
    w.put(&header).map_err(|e| StorageError::io(tmp, e))?;
    for s in sections {
        w.put(s.bytes).map_err(|e| StorageError::io(tmp, e))?;
        w.pad_to(align_up(w.pos))
            .map_err(|e| StorageError::io(tmp, e))?;
    }
    let footer_at = w.pos as u64;
    w.put(&footer_at.to_le_bytes())
        .map_err(|e| StorageError::io(tmp, e))?;
    let crc = w.crc.clone().finalize();
    let mut inner = w.inner;
    let tail = [crc.to_le_bytes(), FOOTER_MAGIC].concat();
    inner
        .write_all(&tail)
        .map_err(|e| StorageError::io(tmp, e))?;
    let file = inner
        .into_inner()
        .map_err(|e| StorageError::io(tmp, e.into_error()))?;
    file.sync_all().map_err(|e| StorageError::io(tmp, e))
}

struct CrcWriter<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
    pos: usize,
}

impl<W: Write> CrcWriter<W> {
    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.crc.update(b);
        self.pos += b.len();
        self.inner.write_all(b)
    }
    fn pad_to(&mut self, target: usize) -> std::io::Result<()> {
        const ZEROS: [u8; ALIGN] = [0; ALIGN];
        let n = target - self.pos;
        self.put(&ZEROS[..n])
    }
}

/// A verified, memory-mapped container file.
#[derive(Debug)]
pub struct Container {
    path: PathBuf,
    map: Mmap,
    kind: u32,
    sections: Vec<(u32, usize, usize)>,
}

impl Container {
    /// Maps `path` and verifies magic, version, footer, checksum and the section table.
    pub fn open(path: &Path, expect: FileKind) -> Result<Container> {
        let file = File::open(path).map_err(|e| StorageError::io(path, e))?;
        // SAFETY: nestdb never modifies a container after it is renamed into place (files are
        // immutable; replacements get new names), so the mapping cannot change under us.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| StorageError::io(path, e))?;
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
        if len < HEADER_LEN + FOOTER_LEN || map[..8] != MAGIC {
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
        let footer_at = read_u64(&map, len - 16) as usize;
        if footer_at != len - FOOTER_LEN {
            return Err(bad(
                "footer offset does not match the file length (truncated file?)",
            ));
        }
        let stored = read_u32(&map, len - 8);
        let computed = crc32fast::hash(&map[..len - 8]);
        if stored != computed {
            return Err(StorageError::ChecksumMismatch {
                path: path.into(),
                stored,
                computed,
            });
        }
        let kind = read_u32(&map, 12);
        let n = read_u32(&map, 16) as usize;
        if HEADER_LEN + n * ENTRY_LEN > footer_at {
            return Err(bad("section table runs past the end of the file"));
        }
        let mut sections = Vec::with_capacity(n);
        for i in 0..n {
            let e = HEADER_LEN + i * ENTRY_LEN;
            let tag = read_u32(&map, e);
            let off = read_u64(&map, e + 8) as usize;
            let slen = read_u64(&map, e + 16) as usize;
            if !off.is_multiple_of(ALIGN) || off.checked_add(slen).is_none_or(|end| end > footer_at)
            {
                return Err(bad(&format!("section {tag} out of bounds or misaligned")));
            }
            sections.push((tag, off, slen));
        }
        Ok(Container {
            path: path.into(),
            map,
            kind,
            sections,
        })
    }

    /// The file this container was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bytes of section `tag`, if present.
    pub fn section(&self, tag: u32) -> Option<&[u8]> {
        self.sections
            .iter()
            .find(|s| s.0 == tag)
            .map(|&(_, off, len)| &self.map[off..off + len])
    }

    /// The bytes of section `tag`, or a corruption error naming the file.
    pub fn require(&self, tag: u32) -> Result<&[u8]> {
        self.section(tag).ok_or_else(|| {
            StorageError::corrupt(
                self.path.display().to_string(),
                format!("missing section {tag}"),
            )
        })
    }

    /// Section `tag` viewed as a slice of `T` (f32, u64, i64, ...), checked for size.
    pub fn typed<T: Pod>(&self, tag: u32, count: usize) -> Result<&[T]> {
        let bytes = self.require(tag)?;
        if bytes.len() != count * std::mem::size_of::<T>() {
            return Err(StorageError::corrupt(
                self.path.display().to_string(),
                format!(
                    "section {tag} holds {} bytes, expected {}",
                    bytes.len(),
                    count * std::mem::size_of::<T>()
                ),
            ));
        }
        Ok(cast_slice(bytes))
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

fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn read_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_alignment() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.vec");
        let a: Vec<f32> = (0..37).map(|i| i as f32).collect();
        let b = [1u8, 2, 3];
        write(
            &p,
            FileKind::Sidecar,
            &[
                Section { tag: 7, bytes: &b },
                Section {
                    tag: 9,
                    bytes: as_bytes(&a),
                },
            ],
        )
        .unwrap();
        let c = Container::open(&p, FileKind::Sidecar).unwrap();
        assert_eq!(c.section(7).unwrap(), &b);
        assert_eq!(c.typed::<f32>(9, 37).unwrap(), &a[..]);
        assert!(c.typed::<f32>(9, 36).is_err());
        assert!(matches!(
            Container::open(&p, FileKind::Index),
            Err(StorageError::Corrupt { .. })
        ));
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.vec");
        let a: Vec<u64> = (0..20).collect();
        write(
            &p,
            FileKind::Sidecar,
            &[Section {
                tag: 1,
                bytes: as_bytes(&a),
            }],
        )
        .unwrap();
        let good = std::fs::read(&p).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            std::fs::write(&p, &bad).unwrap();
            assert!(
                Container::open(&p, FileKind::Sidecar).is_err(),
                "flip at byte {i} not detected"
            );
        }
        std::fs::write(&p, &good[..good.len() - 1]).unwrap();
        assert!(Container::open(&p, FileKind::Sidecar).is_err());
    }

    #[test]
    fn unknown_version_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.vec");
        write(&p, FileKind::Sidecar, &[]).unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[8] = 9;
        let n = bytes.len();
        let crc = crc32fast::hash(&bytes[..n - 8]);
        bytes[n - 8..n - 4].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(&p, &bytes).unwrap();
        match Container::open(&p, FileKind::Sidecar) {
            Err(StorageError::UnsupportedVersion { found: 9, .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}
