//! A builder for table schemas.

pub use nestdb_storage::{Column, ColumnType, Metric, TableSchema};

use crate::error::Result;

/// Builds a [`TableSchema`].
///
/// Defaults: no columns, primary key `id` (must then be declared as `Int64`), Matryoshka
/// boundaries 32, 64, 128, ... below the dimension, metric cosine.
///
/// ```
/// use nestdb::{ColumnType, Metric, SchemaBuilder};
/// let schema = SchemaBuilder::new()
///     .column("id", ColumnType::Int64)
///     .column("label", ColumnType::Path)
///     .vector("embedding", 384)
///     .matryoshka(&[32, 64, 128, 256])
///     .metric(Metric::Cosine)
///     .build()
///     .unwrap();
/// assert_eq!(schema.dim(), 384);
/// ```
#[derive(Clone, Debug)]
pub struct SchemaBuilder {
    columns: Vec<Column>,
    primary_key: String,
    boundaries: Option<Vec<u32>>,
    metric: Metric,
}

impl Default for SchemaBuilder {
    fn default() -> Self {
        SchemaBuilder {
            columns: Vec::new(),
            primary_key: "id".into(),
            boundaries: None,
            metric: Metric::Cosine,
        }
    }
}

impl SchemaBuilder {
    /// An empty builder (see the type's defaults).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a column.
    pub fn column(mut self, name: &str, ty: ColumnType) -> Self {
        self.columns.push(Column {
            name: name.into(),
            ty,
        });
        self
    }

    /// Adds the vector column.
    pub fn vector(self, name: &str, dim: u32) -> Self {
        self.column(name, ColumnType::Vector { dim })
    }

    /// Names the primary-key column (default `id`).
    pub fn primary_key(mut self, name: &str) -> Self {
        self.primary_key = name.into();
        self
    }

    /// Sets the Matryoshka boundaries (prefix sizes below the dimension).
    pub fn matryoshka(mut self, boundaries: &[u32]) -> Self {
        self.boundaries = Some(boundaries.to_vec());
        self
    }

    /// Sets the metric (default cosine).
    pub fn metric(mut self, metric: Metric) -> Self {
        self.metric = metric;
        self
    }

    /// Validates and builds the schema.
    pub fn build(self) -> Result<TableSchema> {
        Ok(TableSchema::new(
            self.columns,
            &self.primary_key,
            self.boundaries,
            self.metric,
        )?)
    }
}
