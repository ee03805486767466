//! Binary encoding of one row, for write-ahead rows kept in RocksDB until a flush.
//!
//! ```text
//! u8 codec version (1), then per column in schema order:
//!   u8 0 = NULL | 1 = value, then the value:
//!   Int64, Timestamp: i64 LE | Float64: f64 LE | Boolean: u8
//!   Utf8, Path: u32 LE byte length + UTF-8 bytes | Vector: dim x f32 LE
//! ```

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array, RecordBatch};
use arrow_schema::{DataType, Field};

use crate::conform::vector_values;
use crate::error::{Result, StorageError};
use crate::schema::{ColumnType, TableSchema};

const CODEC_VERSION: u8 = 1;

/// Encodes row `row` of a conformed batch.
pub fn encode_row(schema: &TableSchema, batch: &RecordBatch, row: usize, out: &mut Vec<u8>) {
    out.push(CODEC_VERSION);
    for (i, c) in schema.columns().iter().enumerate() {
        let a = batch.column(i);
        if a.is_null(row) {
            out.push(0);
            continue;
        }
        out.push(1);
        match &c.ty {
            ColumnType::Int64 => {
                out.extend_from_slice(&a.as_primitive::<Int64Type>().value(row).to_le_bytes())
            }
            ColumnType::Timestamp => out.extend_from_slice(
                &a.as_primitive::<TimestampMicrosecondType>()
                    .value(row)
                    .to_le_bytes(),
            ),
            ColumnType::Float64 => {
                out.extend_from_slice(&a.as_primitive::<Float64Type>().value(row).to_le_bytes())
            }
            ColumnType::Boolean => out.push(a.as_boolean().value(row) as u8),
            ColumnType::Utf8 | ColumnType::Path => {
                let s = a.as_string::<i32>().value(row);
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            ColumnType::Vector { dim } => {
                let d = *dim as usize;
                for x in &vector_values(a)[row * d..(row + 1) * d] {
                    out.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
    }
}

enum Builder {
    I64(Int64Builder),
    Ts(TimestampMicrosecondBuilder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
    Str(StringBuilder),
    Vec(usize, Vec<f32>),
}

/// Decodes encoded rows into one batch of the table's canonical schema.
pub fn decode_rows<'a>(
    schema: &TableSchema,
    rows: impl ExactSizeIterator<Item = &'a [u8]>,
) -> Result<RecordBatch> {
    let n = rows.len();
    let mut builders: Vec<Builder> = schema
        .columns()
        .iter()
        .map(|c| match c.ty {
            ColumnType::Int64 => Builder::I64(Int64Builder::with_capacity(n)),
            ColumnType::Timestamp => Builder::Ts(TimestampMicrosecondBuilder::with_capacity(n)),
            ColumnType::Float64 => Builder::F64(Float64Builder::with_capacity(n)),
            ColumnType::Boolean => Builder::Bool(BooleanBuilder::with_capacity(n)),
            ColumnType::Utf8 | ColumnType::Path => Builder::Str(StringBuilder::new()),
            ColumnType::Vector { dim } => {
                Builder::Vec(dim as usize, Vec::with_capacity(n * dim as usize))
            }
        })
        .collect();
    for bytes in rows {
        decode_one(bytes, &mut builders)?;
    }
    let cols: Vec<ArrayRef> = builders
        .into_iter()
        .map(|b| -> ArrayRef {
            match b {
                Builder::I64(mut b) => Arc::new(b.finish()),
                Builder::Ts(mut b) => Arc::new(b.finish()),
                Builder::F64(mut b) => Arc::new(b.finish()),
                Builder::Bool(mut b) => Arc::new(b.finish()),
                Builder::Str(mut b) => Arc::new(b.finish()),
                Builder::Vec(d, v) => Arc::new(FixedSizeListArray::new(
                    Arc::new(Field::new("item", DataType::Float32, false)),
                    d as i32,
                    Arc::new(Float32Array::from(v)),
                    None,
                )),
            }
        })
        .collect();
    Ok(RecordBatch::try_new(schema.arrow_schema(), cols)?)
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let s = self
            .b
            .get(self.at..self.at + n)
            .ok_or_else(|| StorageError::corrupt("write-ahead row", "truncated"))?;
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u64(&mut self) -> Result<[u8; 8]> {
        Ok(self.take(8)?.try_into().expect("8 bytes"))
    }
}

fn decode_one(bytes: &[u8], builders: &mut [Builder]) -> Result<()> {
    let mut r = Reader { b: bytes, at: 0 };
    if r.u8()? != CODEC_VERSION {
        return Err(StorageError::corrupt(
            "write-ahead row",
            "unknown codec version",
        ));
    }
    for b in builders.iter_mut() {
        let present = r.u8()? == 1;
        match b {
            Builder::I64(b) => b.append_option(if present {
                Some(i64::from_le_bytes(r.u64()?))
            } else {
                None
            }),
            Builder::Ts(b) => b.append_option(if present {
                Some(i64::from_le_bytes(r.u64()?))
            } else {
                None
            }),
            Builder::F64(b) => b.append_option(if present {
                Some(f64::from_le_bytes(r.u64()?))
            } else {
                None
            }),
            Builder::Bool(b) => b.append_option(if present { Some(r.u8()? != 0) } else { None }),
            Builder::Str(b) => {
                if present {
                    let len = u32::from_le_bytes(r.take(4)?.try_into().expect("4 bytes")) as usize;
                    let s = std::str::from_utf8(r.take(len)?)
                        .map_err(|_| StorageError::corrupt("write-ahead row", "invalid UTF-8"))?;
                    b.append_value(s);
                } else {
                    b.append_null();
                }
            }
            Builder::Vec(d, v) => {
                if !present {
                    return Err(StorageError::corrupt("write-ahead row", "NULL vector"));
                }
                for c in r.take(*d * 4)?.chunks_exact(4) {
                    v.push(f32::from_le_bytes(c.try_into().expect("4 bytes")));
                }
            }
        }
    }
    if r.at != bytes.len() {
        return Err(StorageError::corrupt("write-ahead row", "trailing bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::schema::{Column, ColumnType, Metric, TableSchema};
    use proptest::prelude::*;

    fn schema() -> TableSchema {
        let col = |name: &str, ty| Column {
            name: name.into(),
            ty,
        };
        let cols = vec![
            col("id", ColumnType::Int64),
            col("at", ColumnType::Timestamp),
            col("x", ColumnType::Float64),
            col("ok", ColumnType::Boolean),
            col("name", ColumnType::Utf8),
            col("label", ColumnType::Path),
            col("v", ColumnType::Vector { dim: 3 }),
        ];
        TableSchema::new(cols, "id", None, Metric::L2).expect("schema")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// A damaged write-ahead row (RocksDB checksums its blocks, but a row written by
        /// another version or a bug) is an error, never a panic.
        #[test]
        fn wal_row_decoder_never_panics(rows in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..120), 1..4)) {
            let s = schema();
            let _ = decode_rows(&s, rows.iter().map(Vec::as_slice));
        }

        /// Valid rows with one byte changed or the tail cut: an error or rows, never a panic.
        #[test]
        fn edited_wal_rows_never_panic(at in any::<usize>(), v in any::<u8>(), cut in any::<bool>()) {
            let s = schema();
            let mut row = vec![1u8];
            row.extend([1u8]); row.extend(7i64.to_le_bytes());
            row.extend([1u8]); row.extend(9i64.to_le_bytes());
            row.extend([1u8]); row.extend(0.5f64.to_le_bytes());
            row.extend([1u8, 1]);
            row.extend([1u8]); row.extend(3u32.to_le_bytes()); row.extend(b"abc");
            row.extend([1u8]); row.extend(3u32.to_le_bytes()); row.extend(b"a/b");
            row.extend([1u8]);
            for x in [1f32, 2.0, 3.0] { row.extend(x.to_le_bytes()); }
            prop_assert!(decode_rows(&s, std::iter::once(row.as_slice())).is_ok());
            let i = at % row.len();
            if cut { row.truncate(i); } else { row[i] = v; }
            let _ = decode_rows(&s, std::iter::once(row.as_slice()));
        }
    }
}
