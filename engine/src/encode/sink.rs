//! Writing rows in their final order into a new segment: the storage writer takes the rows and
//! the per-row engine sections (codes, norms, label ordinals); the sink also gathers what is
//! only known at the end (partition offsets, label postings, zone maps, the layout record).

use arrow_array::RecordBatch;
use nestdb_storage::container::as_bytes;
use nestdb_storage::segment::ROW_GROUP_ROWS;
use nestdb_storage::{
    sections, ColumnType, SegmentFactory, SegmentMeta, SegmentSpec, SegmentWriter, TableSchema,
};

use super::labels::LabelDict;
use super::rows::{row_spec, CodedRows};
use super::zones::{ZoneBuilder, ZONE_ROWS};
use crate::error::Result;
use crate::index::IndexModel;
use crate::layout::Layout;

/// Indices of `schema`'s PATH columns.
pub fn path_columns(schema: &TableSchema) -> Vec<usize> {
    (0..schema.columns().len())
        .filter(|&i| schema.columns()[i].ty == ColumnType::Path)
        .collect()
}

/// A segment being filled in final row order; see the module docs.
pub struct Sink<'m> {
    w: SegmentWriter,
    model: Option<&'m IndexModel>,
    layout: &'m Layout,
    spec: Vec<(u32, usize)>,
    path_cols: Vec<usize>,
    dicts: Vec<LabelDict>,
    ordinals: Vec<Vec<u32>>,
    zones: ZoneBuilder,
    part_counts: Vec<u32>,
    zone_part: usize,
}

impl<'m> Sink<'m> {
    /// A sink for exactly `rows` rows of `w`'s table, coded under `model`, whose PATH columns use
    /// `dicts` (one per PATH column, in schema order).
    pub fn new(
        w: &mut dyn SegmentFactory,
        model: Option<&'m IndexModel>,
        layout: &'m Layout,
        rows: usize,
        dicts: Vec<LabelDict>,
    ) -> Result<Sink<'m>> {
        let schema = w.schema().clone();
        let spec = row_spec(model, schema.metric());
        let path_cols = path_columns(&schema);
        let mut row_sections = spec.clone();
        for &c in &path_cols {
            row_sections.push((sections::label_tag(c, sections::LABEL_ORDINALS), 4));
        }
        let writer = w.new_segment(SegmentSpec {
            rows,
            index_version: model.map_or(0, |m| m.version),
            row_sections,
        })?;
        Ok(Sink {
            w: writer,
            model,
            layout,
            spec,
            ordinals: vec![Vec::new(); path_cols.len()],
            path_cols,
            dicts,
            zones: ZoneBuilder::new(&schema),
            part_counts: vec![0; model.map_or(0, |m| m.meta.partitions)],
            zone_part: 0,
        })
    }

    /// Appends rows in final order with their row ids and codes (`coded` covers exactly these
    /// rows; when indexed, partitions never decrease across calls).
    pub fn push(&mut self, batch: &RecordBatch, rowids: &[u64], coded: &CodedRows) -> Result<()> {
        let n = batch.num_rows();
        let ords: Vec<Vec<u32>> = self
            .path_cols
            .iter()
            .zip(&self.dicts)
            .map(|(&c, d)| d.ordinals(batch.column(c)))
            .collect();
        let mut a = 0;
        while a < n {
            let b = self.run_end(coded, a, n);
            self.zone_rows(batch, &ords, coded, a, b);
            a = b;
        }
        for (chunk_a, chunk_b) in chunks(n, ROW_GROUP_ROWS) {
            let mut eng = coded.row_bytes(&self.spec, chunk_a, chunk_b);
            for o in &ords {
                eng.push(&as_bytes(o)[chunk_a * 4..chunk_b * 4]);
            }
            let piece = batch.slice(chunk_a, chunk_b - chunk_a);
            self.w.append(&piece, &rowids[chunk_a..chunk_b], &eng)?;
        }
        for (all, o) in self.ordinals.iter_mut().zip(ords) {
            all.extend(o);
        }
        Ok(())
    }

    /// End of the run of rows starting at `a` that share a zone.
    fn run_end(&self, coded: &CodedRows, a: usize, n: usize) -> usize {
        if self.model.is_some() {
            let p = coded.parts[a];
            let mut b = a + 1;
            while b < n && coded.parts[b] == p {
                b += 1;
            }
            b
        } else {
            (a + ZONE_ROWS - self.zones.open_rows() as usize).min(n)
        }
    }

    fn zone_rows(
        &mut self,
        batch: &RecordBatch,
        ords: &[Vec<u32>],
        coded: &CodedRows,
        a: usize,
        b: usize,
    ) {
        let slice_ords: Vec<Vec<u32>> = ords.iter().map(|o| o[a..b].to_vec()).collect();
        if self.model.is_some() {
            let p = coded.parts[a] as usize;
            while self.zone_part < p {
                self.zones.cut();
                self.zone_part += 1;
            }
            self.part_counts[p] += (b - a) as u32;
        }
        self.zones.add(&batch.slice(a, b - a), &slice_ords);
        if self.model.is_none() && self.zones.open_rows() as usize >= ZONE_ROWS {
            self.zones.cut();
        }
    }

    /// Writes the trailing sections and finishes both files.
    pub fn finish(mut self) -> Result<SegmentMeta> {
        if let Some(m) = self.model {
            while self.zone_part < m.meta.partitions {
                self.zones.cut();
                self.zone_part += 1;
            }
            let mut offs = vec![0u32; self.part_counts.len() + 1];
            for (i, c) in self.part_counts.iter().enumerate() {
                offs[i + 1] = offs[i] + c;
            }
            self.w
                .add_section(sections::PARTITION_OFFSETS, as_bytes(&offs))?;
        }
        let layout = serde_json::json!({
            "layout": 2,
            "normalized": self.layout.normalized(),
            "rotated": self.layout.rotation.is_some(),
            "index_version": self.model.map_or(0, |m| m.version),
            "coarse_dims": self.model.map_or(0, |m| m.meta.coarse_dims),
            "mid_dims": self.model.map_or(0, |m| m.meta.mid_dims),
            "bits_dims": self.model.map_or(0, |m| m.meta.bits_dims),
            "partitions": self.model.map_or(0, |m| m.meta.partitions),
        });
        self.w
            .add_section(sections::LAYOUT, layout.to_string().as_bytes())?;
        for ((&c, d), o) in self.path_cols.iter().zip(&self.dicts).zip(&self.ordinals) {
            for (tag, bytes) in d.sections(c, o) {
                self.w.add_section(tag, &bytes)?;
            }
        }
        let zones = self.zones.finish();
        self.w.add_section(sections::ZONES, &zones)?;
        Ok(self.w.finish()?)
    }
}

/// `[a, b)` ranges of at most `size` covering `0..n`.
pub fn chunks(n: usize, size: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n)
        .step_by(size.max(1))
        .map(move |a| (a, (a + size).min(n)))
}
