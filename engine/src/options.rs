//! Database and table options, with their defaults. Table options are parsed once, from SQL's
//! `WITH (...)` or from the catalog, into [`TableOptions`]; an unknown option or a bad value is
//! an error, never a silent default.

use serde::{Deserialize, Serialize};

use crate::index::fit::IndexOptions;
use crate::index::RotationMode;

/// Options of an open database. Build with [`crate::Database::builder`].
///
/// Defaults: `sync = true` (every acknowledged write is fsynced), `auto_flush_rows = 20_000`,
/// `auto_index = true`, `recall_sample_rate = 0` (live recall monitoring off),
/// `recall_cpu_budget = 0.05` (of one core, when monitoring).
#[derive(Clone, Debug)]
pub struct DatabaseOptions {
    /// fsync RocksDB's log on every insert, upsert and delete. Without it, acknowledged writes
    /// survive a process crash but not a power loss. Flushes and compactions always sync.
    pub sync: bool,
    /// Flush a table's unflushed rows into a segment once this many accumulate.
    pub auto_flush_rows: usize,
    /// Fit a learned index when a table reaches its `min_rows`, and re-fit it when the data
    /// drifts (see `Table::compact`).
    pub auto_index: bool,
    /// Fraction of searches whose recall is measured live (recomputed exactly in the
    /// background; `SHOW RECALL`).
    pub recall_sample_rate: f64,
    /// Share of one core the live recall monitor may use.
    pub recall_cpu_budget: f64,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        DatabaseOptions {
            sync: true,
            auto_flush_rows: 20_000,
            auto_index: true,
            recall_sample_rate: 0.0,
            recall_cpu_budget: 0.05,
        }
    }
}

/// A bad option (nothing was created or changed).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionError {
    /// No option by that name.
    #[error("unknown table option \"{name}\" (known: {KNOWN})")]
    Unknown {
        /// The name given.
        name: String,
    },
    /// A value the option does not take.
    #[error("invalid value for option {name}: {value} ({reason})")]
    Invalid {
        /// The option.
        name: String,
        /// The value given.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// Options stored in the catalog that this build cannot read.
    #[error("stored options of table \"{table}\" are invalid: {reason}")]
    Stored {
        /// The table.
        table: String,
        /// What is wrong.
        reason: String,
    },
}

const KNOWN: &str = "metric, recall_target, rotation, partitions, coarse_dims, min_rows, sample_rows, sample_queries, holdout_radius, seed";

/// Per-table options (SQL: `CREATE TABLE ... WITH (recall_target = 0.95, ...)`).
///
/// Defaults: `recall_target = 0.95`, `holdout_radius = 0.05` and the [`IndexOptions`]
/// defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TableOptions {
    /// Recall@k the funnel aims for when a query does not say.
    pub recall_target: f32,
    /// Tuning holds each sample query out with every row closer than this distance (its
    /// near-duplicates), so the promise holds for queries that are not rows.
    pub holdout_radius: f32,
    /// How the learned index is fit.
    #[serde(flatten)]
    pub index: IndexOptions,
}

/// The fixed `sample_rows` every table definition stored before the default became
/// [`crate::index::IndexOptions::sample_for`]'s; read back as the default.
const LEGACY_SAMPLE_ROWS: usize = 200_000;

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            recall_target: 0.95,
            holdout_radius: 0.05,
            index: IndexOptions::default(),
        }
    }
}

fn invalid(name: &str, value: &str, reason: &str) -> OptionError {
    OptionError::Invalid {
        name: name.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// Checks a recall target.
pub fn check_recall_target(v: f32) -> Result<f32, OptionError> {
    if v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(invalid(
            "recall_target",
            &v.to_string(),
            "must be in (0, 1]",
        ))
    }
}

impl TableOptions {
    /// Options from `name = value` pairs (SQL's `WITH (...)`, the Python bindings); `metric`
    /// belongs to the schema and is skipped here.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<TableOptions, OptionError> {
        let mut o = TableOptions::default();
        for (k, v) in pairs {
            if !k.eq_ignore_ascii_case("metric") {
                o.set(k, v)?;
            }
        }
        Ok(o)
    }

    /// Applies one option given as text.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), OptionError> {
        let num = |v: &str| {
            v.trim()
                .parse::<f64>()
                .map_err(|_| invalid(name, v, "expected a number"))
        };
        let count = |v: &str| match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(invalid(name, v, "expected a positive integer")),
        };
        match name.to_ascii_lowercase().as_str() {
            "recall_target" => self.recall_target = check_recall_target(num(value)? as f32)?,
            "holdout_radius" => {
                let r = num(value)?;
                if !(0.0..2.0).contains(&r) {
                    return Err(invalid(name, value, "must be in [0, 2)"));
                }
                self.holdout_radius = r as f32;
            }
            "rotation" => {
                self.index.rotation = RotationMode::parse(value)
                    .ok_or_else(|| invalid(name, value, "expected auto, on or off"))?
            }
            "partitions" => self.index.partitions = Some(count(value)?),
            "coarse_dims" => self.index.coarse_dims = Some(count(value)?),
            "min_rows" | "index_min_rows" => self.index.min_rows = count(value)?,
            "sample_rows" => self.index.sample_rows = Some(count(value)?.max(100)),
            "sample_queries" => self.index.sample_queries = count(value)?,
            "seed" => {
                self.index.seed = value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| invalid(name, value, "expected a non-negative integer"))?
            }
            _ => return Err(OptionError::Unknown { name: name.into() }),
        }
        Ok(())
    }

    /// Reads options stored in a table definition.
    pub fn from_map(
        table: &str,
        map: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<TableOptions, OptionError> {
        const STORED: [&str; 10] = [
            "recall_target",
            "holdout_radius",
            "rotation",
            "partitions",
            "coarse_dims",
            "min_rows",
            "sample_rows",
            "sample_queries",
            "k",
            "seed",
        ];
        if let Some(k) = map.keys().find(|k| !STORED.contains(&k.as_str())) {
            return Err(OptionError::Stored {
                table: table.into(),
                reason: format!("unknown option \"{k}\""),
            });
        }
        let mut o: TableOptions = serde_json::from_value(serde_json::Value::Object(map.clone()))
            .map_err(|e| OptionError::Stored {
                table: table.into(),
                reason: e.to_string(),
            })?;
        // definitions written before the default followed the partition count stored the old
        // fixed default with every table; it means "the default", not a choice
        if o.index.sample_rows == Some(LEGACY_SAMPLE_ROWS) {
            o.index.sample_rows = None;
        }
        Ok(o)
    }

    /// The options as stored in a table definition.
    pub fn to_map(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        }
    }
}

#[cfg(test)]
mod stored_tests {
    use super::TableOptions;

    #[test]
    fn stored_options_round_trip_and_the_old_fixed_sample_reads_as_the_default() {
        let mut o = TableOptions::default();
        let back = TableOptions::from_map("t", &o.to_map()).unwrap();
        assert_eq!(back.index.sample_rows, None);
        o.set("sample_rows", "5000").unwrap();
        let back = TableOptions::from_map("t", &o.to_map()).unwrap();
        assert_eq!(back.index.sample_rows, Some(5000));
        // a definition written before the default followed the partitions
        let mut old = TableOptions::default().to_map();
        old.insert("sample_rows".into(), serde_json::json!(200_000));
        let back = TableOptions::from_map("t", &old).unwrap();
        assert_eq!(back.index.sample_rows, None);
    }
}
