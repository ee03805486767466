//! Table schemas: column types, the primary key, the Matryoshka vector column and its bands.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

/// Field metadata key marking a `PATH` column in Arrow schemas.
pub const NESTDB_TYPE_KEY: &str = "nestdb.type";
/// Name of the stable row id column nestdb adds to results and segments.
pub const ROWID: &str = "_rowid";
/// Largest vector dimension accepted.
pub const MAX_DIM: u32 = 16_384;

/// The type of a column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ColumnType {
    /// 64-bit signed integer (`BIGINT`).
    Int64,
    /// 64-bit float (`DOUBLE PRECISION`).
    Float64,
    /// UTF-8 text (`TEXT`).
    Utf8,
    /// Boolean.
    Boolean,
    /// Timestamp, microseconds since the Unix epoch, no time zone.
    Timestamp,
    /// A hierarchical label such as `python/declarations/functions` (`PATH`).
    Path,
    /// A dense float vector of `dim` dimensions (`VECTOR(dim)`).
    Vector {
        /// Number of dimensions.
        dim: u32,
    },
}

impl ColumnType {
    /// The Arrow type a column of this type has in batches going in and out.
    pub fn arrow_type(&self) -> DataType {
        match self {
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Utf8 | ColumnType::Path => DataType::Utf8,
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            ColumnType::Vector { dim } => vector_type(*dim as usize),
        }
    }

    /// The SQL spelling of the type.
    pub fn sql_name(&self) -> String {
        match self {
            ColumnType::Int64 => "BIGINT".into(),
            ColumnType::Float64 => "DOUBLE".into(),
            ColumnType::Utf8 => "TEXT".into(),
            ColumnType::Boolean => "BOOLEAN".into(),
            ColumnType::Timestamp => "TIMESTAMP".into(),
            ColumnType::Path => "PATH".into(),
            ColumnType::Vector { dim } => format!("VECTOR({dim})"),
        }
    }
}

/// The Arrow type of a `dim`-dimensional vector: `FixedSizeList<Float32>`.
pub fn vector_type(dim: usize) -> DataType {
    DataType::FixedSizeList(
        Arc::new(Field::new("item", DataType::Float32, false)),
        dim as i32,
    )
}

/// Distance metric of the vector column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Metric {
    /// Cosine distance, `1 - cos(a, b)` (pgvector `<=>`). The default.
    #[default]
    Cosine,
    /// Euclidean distance (pgvector `<->`).
    L2,
    /// Negative inner product (pgvector `<#>`).
    Dot,
}

impl Metric {
    /// Parses `cosine`, `l2` (or `euclidean`) and `dot` (or `ip`, `inner_product`).
    pub fn parse(s: &str) -> Option<Metric> {
        match s.to_ascii_lowercase().as_str() {
            "cosine" | "cos" => Some(Metric::Cosine),
            "l2" | "euclidean" => Some(Metric::L2),
            "dot" | "ip" | "inner_product" => Some(Metric::Dot),
            _ => None,
        }
    }

    /// The lower-case name.
    pub fn name(&self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::L2 => "l2",
            Metric::Dot => "dot",
        }
    }
}

/// One column of a table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Column type.
    pub ty: ColumnType,
}

/// A table's schema. Build one with [`TableSchema::new`], which validates it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableSchema {
    columns: Vec<Column>,
    primary_key: usize,
    vector: usize,
    /// Band end offsets, ascending, the last one equal to the dimension.
    band_ends: Vec<u32>,
    metric: Metric,
}

/// Why a schema is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// Two columns share a name.
    #[error("column \"{0}\" appears more than once")]
    DuplicateColumn(String),
    /// A column name is empty or reserved.
    #[error("invalid column name \"{0}\": names must be non-empty and must not start with '_' (reserved for _rowid, _distance, _score)")]
    InvalidColumnName(String),
    /// The primary key is missing or not a BIGINT.
    #[error("primary key: {0}")]
    PrimaryKey(String),
    /// There is not exactly one vector column.
    #[error("a table needs exactly one VECTOR column, found {0}")]
    VectorCount(usize),
    /// The vector dimension is out of range.
    #[error("vector dimension {0} is out of range (1..={MAX_DIM})")]
    Dimension(u32),
    /// The Matryoshka band boundaries are invalid.
    #[error("MATRYOSHKA boundaries {boundaries:?} are invalid for VECTOR({dim}): {reason}")]
    Bands {
        /// The boundaries given.
        boundaries: Vec<u32>,
        /// The vector dimension.
        dim: u32,
        /// What is wrong.
        reason: String,
    },
}

impl TableSchema {
    /// Validates and builds a schema.
    ///
    /// `boundaries` are the Matryoshka prefix sizes below the full dimension (for 384 dims, e.g.
    /// `[32, 64, 128, 256]`, giving bands 32|32|64|128|128). `None` picks powers of two from 32
    /// below the dimension ([`default_boundaries`]).
    pub fn new(
        columns: Vec<Column>,
        primary_key: &str,
        boundaries: Option<Vec<u32>>,
        metric: Metric,
    ) -> Result<TableSchema, SchemaError> {
        let mut seen = HashSet::new();
        for c in &columns {
            if c.name.is_empty() || c.name.starts_with('_') {
                return Err(SchemaError::InvalidColumnName(c.name.clone()));
            }
            if !seen.insert(c.name.as_str()) {
                return Err(SchemaError::DuplicateColumn(c.name.clone()));
            }
        }
        let pk = columns
            .iter()
            .position(|c| c.name == primary_key)
            .ok_or_else(|| SchemaError::PrimaryKey(format!("no column named \"{primary_key}\"")))?;
        if columns[pk].ty != ColumnType::Int64 {
            return Err(SchemaError::PrimaryKey(format!(
                "\"{primary_key}\" must be BIGINT, not {}",
                columns[pk].ty.sql_name()
            )));
        }
        let vectors: Vec<usize> = (0..columns.len())
            .filter(|&i| matches!(columns[i].ty, ColumnType::Vector { .. }))
            .collect();
        if vectors.len() != 1 {
            return Err(SchemaError::VectorCount(vectors.len()));
        }
        let dim = match columns[vectors[0]].ty {
            ColumnType::Vector { dim } => dim,
            _ => unreachable!("filtered above"),
        };
        if dim == 0 || dim > MAX_DIM {
            return Err(SchemaError::Dimension(dim));
        }
        let boundaries = boundaries.unwrap_or_else(|| default_boundaries(dim));
        let band_ends = band_ends(&boundaries, dim)?;
        Ok(TableSchema {
            columns,
            primary_key: pk,
            vector: vectors[0],
            band_ends,
            metric,
        })
    }

    /// All columns, in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Index of a column by name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The column names in order, comma-separated (`id, name, v`), for error messages.
    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The primary-key column's index.
    pub fn pk_index(&self) -> usize {
        self.primary_key
    }

    /// The primary-key column's name.
    pub fn pk_name(&self) -> &str {
        &self.columns[self.primary_key].name
    }

    /// The vector column's index.
    pub fn vector_index(&self) -> usize {
        self.vector
    }

    /// The vector column's name.
    pub fn vector_name(&self) -> &str {
        &self.columns[self.vector].name
    }

    /// The vector dimension.
    pub fn dim(&self) -> usize {
        *self.band_ends.last().expect("at least one band") as usize
    }

    /// Band end offsets (the last equals the dimension).
    pub fn band_ends(&self) -> &[u32] {
        &self.band_ends
    }

    /// Band ranges `[start, end)` in dimensions.
    pub fn bands(&self) -> Vec<(usize, usize)> {
        let mut start = 0;
        self.band_ends
            .iter()
            .map(|&e| {
                let r = (start, e as usize);
                start = e as usize;
                r
            })
            .collect()
    }

    /// The Matryoshka boundaries as declared (band ends without the full dimension).
    pub fn boundaries(&self) -> &[u32] {
        &self.band_ends[..self.band_ends.len() - 1]
    }

    /// The distance metric.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The Arrow schema of batches going in and out (user columns only).
    pub fn arrow_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .enumerate()
                .map(|(i, c)| self.arrow_field(i, c))
                .collect::<Vec<_>>(),
        ))
    }

    /// The Arrow field of column `i`.
    pub fn arrow_field(&self, i: usize, c: &Column) -> Field {
        let nullable = i != self.primary_key && i != self.vector;
        let f = Field::new(&c.name, c.ty.arrow_type(), nullable);
        if c.ty == ColumnType::Path {
            f.with_metadata(HashMap::from([(
                NESTDB_TYPE_KEY.to_string(),
                "path".to_string(),
            )]))
        } else {
            f
        }
    }
}

/// Default Matryoshka boundaries: 32, 64, 128, ... below `dim`.
pub fn default_boundaries(dim: u32) -> Vec<u32> {
    let mut b = Vec::new();
    let mut x = 32;
    while x < dim {
        b.push(x);
        x *= 2;
    }
    b
}

fn band_ends(boundaries: &[u32], dim: u32) -> Result<Vec<u32>, SchemaError> {
    let err = |reason: &str| SchemaError::Bands {
        boundaries: boundaries.to_vec(),
        dim,
        reason: reason.into(),
    };
    let mut ends = boundaries.to_vec();
    if ends.last() == Some(&dim) {
        ends.pop();
    }
    let mut prev = 0;
    for &b in &ends {
        if b <= prev {
            return Err(err("boundaries must be positive and strictly increasing"));
        }
        if b >= dim {
            return Err(err("boundaries must be below the dimension"));
        }
        prev = b;
    }
    if ends.len() > 32 {
        return Err(err("at most 32 bands"));
    }
    ends.push(dim);
    Ok(ends)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(dim: u32) -> Vec<Column> {
        vec![
            Column {
                name: "id".into(),
                ty: ColumnType::Int64,
            },
            Column {
                name: "v".into(),
                ty: ColumnType::Vector { dim },
            },
        ]
    }

    #[test]
    fn default_bands_for_384() {
        let s = TableSchema::new(cols(384), "id", None, Metric::Cosine).unwrap();
        assert_eq!(s.band_ends(), &[32, 64, 128, 256, 384]);
        assert_eq!(s.bands()[1], (32, 64));
    }

    #[test]
    fn invalid_schemas_are_rejected() {
        assert!(matches!(
            TableSchema::new(cols(384), "nope", None, Metric::L2),
            Err(SchemaError::PrimaryKey(_))
        ));
        assert!(matches!(
            TableSchema::new(cols(64), "id", Some(vec![32, 16]), Metric::L2),
            Err(SchemaError::Bands { .. })
        ));
        assert!(matches!(
            TableSchema::new(cols(0), "id", None, Metric::L2),
            Err(SchemaError::Dimension(0))
        ));
        let mut c = cols(8);
        c.push(Column {
            name: "_x".into(),
            ty: ColumnType::Utf8,
        });
        assert!(matches!(
            TableSchema::new(c, "id", None, Metric::L2),
            Err(SchemaError::InvalidColumnName(_))
        ));
    }
}
