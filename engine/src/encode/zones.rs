//! Zone maps: the minimum, maximum and NULL count of each numeric column and each PATH
//! column's label ordinal, per zone of rows (a partition in an indexed segment, a block of
//! [`ZONE_ROWS`] rows otherwise). Filters skip zones whose range cannot match.
//!
//! Section `ZONES`, little-endian:
//! ```text
//! u32 zones Z, u32 columns C
//! u32 x (Z + 1)      zone row offsets
//! C x (u32 column, u32 kind)      kind 1 = i64 (BIGINT, TIMESTAMP), 2 = f64, 3 = label ordinal
//! C x Z x (u64 min, u64 max, u32 nulls, u32 0)   values as i64 / f64 / u64 bits
//! ```

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use nestdb_storage::{ColumnType, TableSchema};

use super::labels::NULL_ORDINAL;

/// Rows per zone of an unindexed segment.
pub const ZONE_ROWS: usize = 4096;

/// Kind of a zoned column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ZoneKind {
    /// BIGINT or TIMESTAMP.
    I64 = 1,
    /// DOUBLE.
    F64 = 2,
    /// A PATH column's label ordinals.
    Ordinal = 3,
}

/// The columns a table's segments keep zone maps for.
pub fn zoned_columns(schema: &TableSchema) -> Vec<(usize, ZoneKind)> {
    schema
        .columns()
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match c.ty {
            ColumnType::Int64 | ColumnType::Timestamp => Some((i, ZoneKind::I64)),
            ColumnType::Float64 => Some((i, ZoneKind::F64)),
            ColumnType::Path => Some((i, ZoneKind::Ordinal)),
            _ => None,
        })
        .collect()
}

#[derive(Clone, Copy)]
struct Acc {
    min: u64,
    max: u64,
    nulls: u32,
    any: bool,
}

impl Acc {
    fn new() -> Acc {
        Acc {
            min: 0,
            max: 0,
            nulls: 0,
            any: false,
        }
    }
}

/// Accumulates zone maps as rows stream in, in storage order.
pub struct ZoneBuilder {
    cols: Vec<(usize, ZoneKind)>,
    bounds: Vec<u32>,
    zones: Vec<Vec<Acc>>,
    cur: Vec<Acc>,
    rows: u32,
}

impl ZoneBuilder {
    /// A builder for `schema`'s zoned columns.
    pub fn new(schema: &TableSchema) -> ZoneBuilder {
        let cols = zoned_columns(schema);
        ZoneBuilder {
            cur: vec![Acc::new(); cols.len()],
            zones: vec![Vec::new(); cols.len()],
            bounds: vec![0],
            cols,
            rows: 0,
        }
    }

    /// Adds rows (canonical schema) and their PATH ordinals (one vector per PATH column, in
    /// schema order), all in the current zone.
    pub fn add(&mut self, batch: &RecordBatch, ordinals: &[Vec<u32>]) {
        let mut path_i = 0;
        for (j, &(col, kind)) in self.cols.iter().enumerate() {
            let a = &mut self.cur[j];
            match kind {
                ZoneKind::I64 => {
                    let c = batch.column(col);
                    let vals: Box<dyn Iterator<Item = Option<i64>>> = match c.data_type() {
                        arrow_schema::DataType::Int64 => {
                            Box::new(c.as_primitive::<Int64Type>().iter())
                        }
                        _ => Box::new(c.as_primitive::<TimestampMicrosecondType>().iter()),
                    };
                    for v in vals {
                        match v {
                            Some(v) => acc_i64(a, v),
                            None => a.nulls += 1,
                        }
                    }
                }
                ZoneKind::F64 => {
                    for v in batch.column(col).as_primitive::<Float64Type>().iter() {
                        match v {
                            Some(v) if !v.is_nan() => acc_f64(a, v),
                            _ => a.nulls += 1,
                        }
                    }
                }
                ZoneKind::Ordinal => {
                    for &o in &ordinals[path_i] {
                        if o == NULL_ORDINAL {
                            a.nulls += 1;
                        } else {
                            acc_u64(a, o as u64);
                        }
                    }
                    path_i += 1;
                }
            }
        }
        self.rows += batch.num_rows() as u32;
    }

    /// Closes the current zone at the rows added so far (empty zones are kept, so zones can
    /// follow partitions one to one).
    pub fn cut(&mut self) {
        for (z, a) in self.zones.iter_mut().zip(&mut self.cur) {
            z.push(*a);
            *a = Acc::new();
        }
        self.bounds.push(self.rows);
    }

    /// Rows added to the current zone.
    pub fn open_rows(&self) -> u32 {
        self.rows - self.bounds.last().copied().unwrap_or(0)
    }

    /// The section's bytes (closing an open zone first).
    pub fn finish(&mut self) -> Vec<u8> {
        if self.open_rows() > 0 || self.bounds.len() == 1 {
            self.cut();
        }
        let z = self.bounds.len() - 1;
        let mut out = Vec::new();
        out.extend_from_slice(&(z as u32).to_le_bytes());
        out.extend_from_slice(&(self.cols.len() as u32).to_le_bytes());
        for b in &self.bounds {
            out.extend_from_slice(&b.to_le_bytes());
        }
        for &(c, k) in &self.cols {
            out.extend_from_slice(&(c as u32).to_le_bytes());
            out.extend_from_slice(&(k as u32).to_le_bytes());
        }
        for (zones, &(_, kind)) in self.zones.iter().zip(&self.cols) {
            for a in zones {
                let (min, max) = if a.any { (a.min, a.max) } else { empty(kind) };
                out.extend_from_slice(&min.to_le_bytes());
                out.extend_from_slice(&max.to_le_bytes());
                out.extend_from_slice(&a.nulls.to_le_bytes());
                out.extend_from_slice(&0u32.to_le_bytes());
            }
        }
        out
    }
}

/// An empty range (min above max) in `kind`'s encoding.
fn empty(kind: ZoneKind) -> (u64, u64) {
    match kind {
        ZoneKind::I64 => (i64::MAX as u64, i64::MIN as u64),
        ZoneKind::F64 => (f64::INFINITY.to_bits(), f64::NEG_INFINITY.to_bits()),
        ZoneKind::Ordinal => (u64::MAX, 0),
    }
}

fn acc_i64(a: &mut Acc, v: i64) {
    if !a.any || v < a.min as i64 {
        a.min = v as u64;
    }
    if !a.any || v > a.max as i64 {
        a.max = v as u64;
    }
    a.any = true;
}

fn acc_f64(a: &mut Acc, v: f64) {
    if !a.any || v < f64::from_bits(a.min) {
        a.min = v.to_bits();
    }
    if !a.any || v > f64::from_bits(a.max) {
        a.max = v.to_bits();
    }
    a.any = true;
}

fn acc_u64(a: &mut Acc, v: u64) {
    if !a.any || v < a.min {
        a.min = v;
    }
    if !a.any || v > a.max {
        a.max = v;
    }
    a.any = true;
}
