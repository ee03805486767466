use super::*;
use proptest::prelude::*;

fn open_and_verify(p: &Path, kind: FileKind) -> Result<Container> {
    let c = Container::open(p, kind)?;
    c.verify_all()?;
    Ok(c)
}

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
    let c = open_and_verify(&p, FileKind::Sidecar).unwrap();
    assert_eq!(c.section(7).unwrap().unwrap(), &b);
    assert_eq!(c.typed::<f32>(9, 37).unwrap(), &a[..]);
    assert!(c.typed::<f32>(9, 36).is_err());
    assert!(c.section(8).unwrap().is_none());
    assert!(matches!(
        Container::open(&p, FileKind::Index),
        Err(StorageError::Corrupt { .. })
    ));
}

#[test]
fn reserved_sections_fill_interleaved() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.vec");
    let n = 200_000u64;
    let mut w = ContainerWriter::create(&p, FileKind::Sidecar).unwrap();
    let a = w.reserve(1, n * 8);
    let b = w.reserve(2, n);
    for i in 0..n {
        w.write(a, &i.to_le_bytes()).unwrap();
        w.write(b, &[(i % 251) as u8]).unwrap();
    }
    w.append(3, b"tail").unwrap();
    w.finish().unwrap();
    let c = open_and_verify(&p, FileKind::Sidecar).unwrap();
    let ids = c.typed::<u64>(1, n as usize).unwrap();
    assert!(ids.iter().enumerate().all(|(i, &v)| v == i as u64));
    assert_eq!(c.section(2).unwrap().unwrap()[300], (300 % 251) as u8);
    assert_eq!(c.section(3).unwrap().unwrap(), b"tail");
}

#[test]
fn short_reserved_section_fails_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.vec");
    let mut w = ContainerWriter::create(&p, FileKind::Sidecar).unwrap();
    let a = w.reserve(1, 16);
    w.write(a, &[0; 8]).unwrap();
    assert!(w.write(a, &[0; 9]).is_err());
    assert!(w.finish().is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
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
            open_and_verify(&p, FileKind::Sidecar).is_err(),
            "flip at byte {i} not detected"
        );
    }
    std::fs::write(&p, &good[..good.len() - 1]).unwrap();
    assert!(Container::open(&p, FileKind::Sidecar).is_err());
}

fn table_offset(file: &[u8]) -> usize {
    read_u64(file, file.len() - TAIL_LEN) as usize
}

#[test]
fn unknown_version_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.vec");
    write(&p, FileKind::Sidecar, &[]).unwrap();
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[8] = 9;
    refresh_footer_crc(&mut bytes);
    std::fs::write(&p, &bytes).unwrap();
    match Container::open(&p, FileKind::Sidecar) {
        Err(StorageError::UnsupportedVersion { found: 9, .. }) => {}
        other => panic!("unexpected {other:?}"),
    }
}

/// Recomputes the footer CRC after a deliberate edit, so the parser sees a file whose
/// checksum is valid but whose contents are inconsistent.
fn refresh_footer_crc(bytes: &mut [u8]) {
    let n = bytes.len();
    let t = table_offset(bytes).min(n - 8);
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[..HEADER_LEN.min(n)]);
    h.update(&bytes[t..n - 8]);
    let crc = h.finalize();
    bytes[n - 8..n - 4].copy_from_slice(&crc.to_le_bytes());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Structure-aware fuzzing: edit any bytes of the footer (section table, checksum table,
    /// tail) and fix the footer CRC, so the parser sees a self-consistent file with arbitrary
    /// contents. It must never panic, and whatever it opens must be safe to read.
    #[test]
    fn parser_never_panics_on_checksummed_garbage(
        edits in proptest::collection::vec((0usize..400, any::<u8>()), 1..12),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.vec");
        let a: Vec<u32> = (0..50).collect();
        write(&p, FileKind::Sidecar, &[
            Section { tag: 1, bytes: as_bytes(&a) },
            Section { tag: 2, bytes: b"hello" },
        ]).unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        let t = table_offset(&bytes);
        let n = bytes.len();
        for (at, v) in edits {
            let i = t + at % (n - 8 - t);
            bytes[i] = v;
        }
        refresh_footer_crc(&mut bytes);
        std::fs::write(&p, &bytes).unwrap();
        if let Ok(c) = Container::open(&p, FileKind::Sidecar) {
            let _ = c.verify_all();
            for tag in c.tags() {
                let _ = c.section(tag);
                let _ = c.typed::<u32>(tag, 50);
            }
        }
    }
}
