//! Structure-aware fuzzing of the index file parser: index files with valid checksums but
//! arbitrary dimensions, counts and section lengths must be rejected with an error naming the
//! file (or accepted only when consistent), never panic.

use nestdb_storage::container::{self, as_bytes, Container, FileKind, Section};
use nestdb_storage::{sections, Metric};
use proptest::prelude::*;

use super::*;

fn meta(
    dim: usize,
    partitions: usize,
    coarse: usize,
    mid: usize,
    bits: usize,
    rotated: bool,
    schedules: usize,
) -> ModelMeta {
    ModelMeta {
        version: 1,
        dim,
        metric: Metric::L2,
        rotated,
        rotation_reason: String::new(),
        coarse_dims: coarse,
        mid_dims: mid,
        bits_dims: bits,
        partitions,
        fit_rows: 100,
        sample_rows: 100,
        variance_profile: Vec::new(),
        schedules: (0..schedules)
            .map(|_| Schedule {
                nprobe: 1,
                stages: vec![Stage::Int8 { keep: 10 }],
                k: 10,
                target: 0.9,
                estimate: RecallEstimate::default(),
                cost: 1.0,
                probe_slack: None,
                probe_seeds: None,
                keep_slack: None,
                kept_ratio: None,
                min_candidates: None,
                filter_share: None,
                scan_all: false,
            })
            .collect(),
        tuning: TuningInfo::default(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn index_parser_never_panics_on_checksummed_garbage(
        (dim, partitions, coarse, mid, bits) in (0usize..24, 0usize..9, 0usize..24, 0usize..24, 0usize..24),
        (rotated, schedules) in (any::<bool>(), 0usize..2),
        (rot, cen, quant) in (0usize..700, 0usize..300, 0usize..60),
        table_dim in prop::sample::select(vec![8usize, 16]),
        garbage_meta in any::<bool>(),
        tuning in prop::option::of(0usize..100),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index-0000000000000001.nidx");
        let json = if garbage_meta {
            b"{\"dim\": 8, \"partitions\": ".to_vec()
        } else {
            serde_json::to_vec(&meta(dim, partitions, coarse, mid, bits, rotated, schedules)).unwrap()
        };
        let (r, c, q) = (vec![0.5f32; rot], vec![0.25f32; cen], vec![1.0f32; quant]);
        let t = vec![0.125f32; tuning.unwrap_or(0)];
        let mut secs = vec![
            Section { tag: sections::INDEX_META, bytes: &json },
            Section { tag: sections::INDEX_ROTATION, bytes: as_bytes(&r) },
            Section { tag: sections::INDEX_CENTROIDS, bytes: as_bytes(&c) },
            Section { tag: sections::INDEX_QUANT, bytes: as_bytes(&q) },
        ];
        if tuning.is_some() {
            secs.push(Section { tag: sections::INDEX_TUNING_QUERIES, bytes: as_bytes(&t) });
        }
        container::write(&p, FileKind::Index, &secs).unwrap();
        let file = Container::open(&p, FileKind::Index).unwrap();
        match IndexModel::from_container(&file, table_dim, Metric::L2) {
            Err(e) => prop_assert!(e.to_string().contains("index-0000000000000001.nidx"), "{e}"),
            Ok(m) => {
                // accepted: every length agrees with the table and the metadata
                prop_assert_eq!(m.meta.dim, table_dim);
                prop_assert_eq!(m.centroids.len(), m.meta.partitions * m.meta.coarse_dims);
                prop_assert!(m.meta.coarse_dims <= m.meta.mid_dims && m.meta.mid_dims <= table_dim);
                if let Some(r) = &m.rotation {
                    prop_assert_eq!(r.len(), table_dim * table_dim);
                }
                prop_assert_eq!(m.tuning_queries.len() % table_dim, 0);
            }
        }
    }
}
