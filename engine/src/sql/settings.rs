//! Session settings (`SET name = value`, `SHOW name`, `RESET name`).

use crate::error::QueryError;
use crate::SearchParams;

/// Knobs a session applies to its searches. Defaults: all from the table (`recall_target`
/// and the tuned schedule), exact off, threads = all cores.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    /// Recall target of searches.
    pub recall_target: Option<f32>,
    /// Partitions probed.
    pub nprobe: Option<usize>,
    /// Shortlist sizes of the intermediate stages.
    pub shortlist: Option<Vec<usize>>,
    /// Threads for statements (None: all cores).
    pub threads: Option<usize>,
    /// Exact search.
    pub exact: bool,
    /// Set while an `EXPLAIN ANALYZE` runs: only then do searches record per-stage
    /// statistics (not a `SET` name).
    pub(crate) analyze: bool,
}

/// Names of the settings.
pub const NAMES: [&str; 5] = ["recall_target", "nprobe", "shortlist", "threads", "exact"];

fn bad(name: &str, value: &str, reason: &str) -> QueryError {
    QueryError::Setting {
        name: name.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

fn unknown(name: &str) -> QueryError {
    QueryError::UnknownSetting {
        name: name.into(),
        known: NAMES.join(", "),
    }
}

fn is_default(v: &str) -> bool {
    v.eq_ignore_ascii_case("default")
}

impl Settings {
    /// Applies `SET name = value`.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), QueryError> {
        let positive = |v: &str| match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(bad(name, v, "expected a positive integer or DEFAULT")),
        };
        match name {
            "recall_target" if is_default(value) => self.recall_target = None,
            "recall_target" => {
                let v: f32 = value
                    .parse()
                    .map_err(|_| bad(name, value, "expected a number in (0, 1]"))?;
                self.recall_target = Some(
                    crate::options::check_recall_target(v)
                        .map_err(|e| bad(name, value, &e.to_string()))?,
                );
            }
            "nprobe" => {
                self.nprobe = if is_default(value) {
                    None
                } else {
                    Some(positive(value)?)
                }
            }
            "threads" => {
                self.threads = match value.parse::<usize>() {
                    _ if is_default(value) => None,
                    Ok(0) => None,
                    Ok(n) => Some(n),
                    Err(_) => {
                        return Err(bad(
                            name,
                            value,
                            "expected a number of threads (0 or DEFAULT: all cores)",
                        ))
                    }
                }
            }
            "shortlist" => {
                self.shortlist = if is_default(value) {
                    None
                } else {
                    Some(
                        value
                            .split(',')
                            .map(|x| positive(x.trim()))
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|_| {
                                bad(name, value, "expected sizes such as '400,80' or DEFAULT")
                            })?,
                    )
                }
            }
            "exact" => {
                self.exact = match value.to_ascii_lowercase().as_str() {
                    "on" | "true" | "1" | "yes" => true,
                    "off" | "false" | "0" | "no" | "default" => false,
                    _ => return Err(bad(name, value, "expected on or off")),
                }
            }
            _ => return Err(unknown(name)),
        }
        Ok(())
    }

    /// `SHOW name`.
    pub fn show(&self, name: &str) -> Result<String, QueryError> {
        let d = |o: Option<String>| o.unwrap_or_else(|| "default".into());
        Ok(match name {
            "recall_target" => d(self.recall_target.map(|v| v.to_string())),
            "nprobe" => d(self.nprobe.map(|v| v.to_string())),
            "shortlist" => d(self.shortlist.as_ref().map(|v| {
                v.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            })),
            "threads" => d(self.threads.map(|v| v.to_string())),
            "exact" => (if self.exact { "on" } else { "off" }).into(),
            _ => return Err(unknown(name)),
        })
    }

    /// `RESET name` (None: all).
    pub fn reset(&mut self, name: Option<&str>) -> Result<(), QueryError> {
        match name {
            None => *self = Settings::default(),
            Some(n) => self.set(n, "default")?,
        }
        Ok(())
    }

    /// The search knobs.
    pub fn search_params(&self) -> SearchParams {
        SearchParams {
            exact: self.exact,
            recall_target: self.recall_target,
            nprobe: self.nprobe,
            shortlist: self.shortlist.clone(),
            stages: None,
            filter_in_stage: None,
        }
    }
}
