//! Database and table options, with their defaults.

use serde::{Deserialize, Serialize};

use crate::error::QueryError;
use crate::index::fit::IndexOptions;
use crate::index::RotationMode;

/// Options of an open database. Build with [`crate::Database::builder`].
///
/// Defaults: `sync = true` (every acknowledged write is fsynced), `auto_flush_rows = 20_000`,
/// `auto_index = true`.
#[derive(Clone, Debug)]
pub struct DatabaseOptions {
    /// fsync RocksDB's log on every insert, upsert and delete. Without it, acknowledged writes
    /// survive a process crash but not a power loss. Flushes and compactions always sync.
    pub sync: bool,
    /// Flush a table's unflushed rows into a segment once this many accumulate.
    pub auto_flush_rows: usize,
    /// Fit a learned index when a flush brings a table to its `min_rows`.
    pub auto_index: bool,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        DatabaseOptions {
            sync: true,
            auto_flush_rows: 20_000,
            auto_index: true,
        }
    }
}

/// Per-table options (SQL: `CREATE TABLE ... WITH (recall_target = 0.95, ...)`).
///
/// Defaults: `recall_target = 0.95` and the [`IndexOptions`] defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TableOptions {
    /// Recall@k the funnel aims for when a query does not say.
    pub recall_target: f32,
    /// How the learned index is fit.
    #[serde(flatten)]
    pub index: IndexOptions,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            recall_target: 0.95,
            index: IndexOptions::default(),
        }
    }
}

fn bad(name: &str, value: &str, reason: &str) -> QueryError {
    QueryError::Setting {
        name: name.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// Checks a recall target.
pub fn check_recall_target(v: f32) -> Result<f32, QueryError> {
    if v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(bad("recall_target", &v.to_string(), "must be in (0, 1]"))
    }
}

impl TableOptions {
    /// Applies one option given as text (from SQL `WITH (...)`). `metric` is handled by the
    /// schema, not here.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), QueryError> {
        let num = |v: &str| {
            v.parse::<f64>()
                .map_err(|_| bad(name, v, "expected a number"))
        };
        let count = |v: &str| match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(bad(name, v, "expected a positive integer")),
        };
        match name.to_ascii_lowercase().as_str() {
            "recall_target" => self.recall_target = check_recall_target(num(value)? as f32)?,
            "rotation" => {
                self.index.rotation =
                    RotationMode::parse(value).ok_or_else(|| bad(name, value, "expected auto, on or off"))?
            }
            "partitions" => self.index.partitions = Some(count(value)?),
            "coarse_dims" => self.index.coarse_dims = Some(count(value)?),
            "min_rows" | "index_min_rows" => self.index.min_rows = count(value)?,
            "sample_queries" => self.index.sample_queries = count(value)?,
            "seed" => self.index.seed = num(value)? as u64,
            _ => {
                return Err(bad(
                    name,
                    value,
                    "unknown table option (known: metric, recall_target, rotation, partitions, coarse_dims, min_rows, sample_queries, seed)",
                ))
            }
        }
        Ok(())
    }

    /// Reads options stored in a table definition.
    pub fn from_map(map: &serde_json::Map<String, serde_json::Value>) -> TableOptions {
        serde_json::from_value(serde_json::Value::Object(map.clone())).unwrap_or_default()
    }

    /// The options as stored in a table definition.
    pub fn to_map(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        }
    }
}
