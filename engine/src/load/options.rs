//! COPY options.

use super::LoadError;

/// Input format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Any Parquet file: columns matched by name (or mapped).
    Parquet,
    /// MLCPD-style Parquet: one row per source file, chunked into definitions.
    Mlcpd,
}

/// What to do with an invalid row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// Fail the whole COPY (the default).
    Abort,
    /// Skip the row, count it, and list it in the report.
    Skip,
}

/// Parsed COPY options.
///
/// Defaults: `FORMAT parquet`, no model, `TEXT` column `text` (when a model embeds),
/// `ON_ERROR 'abort'`, no column mapping, `BATCH_SIZE 4096` rows (64 for MLCPD),
/// `SEGMENT_ROWS 100000`, `FILES_TABLE '<table>_files'` (MLCPD).
#[derive(Clone, Debug, PartialEq)]
pub struct CopyOptions {
    /// Input format.
    pub format: Format,
    /// Embedding model for rows without vectors.
    pub model: Option<String>,
    /// Source column to embed.
    pub text_column: String,
    /// Invalid rows.
    pub on_error: OnError,
    /// `(source column, table column)` renames.
    pub map: Vec<(String, String)>,
    /// Rows decoded per batch.
    pub batch_size: usize,
    /// Rows per written segment.
    pub segment_rows: usize,
    /// MLCPD: the table receiving one row per source file.
    pub files_table: Option<String>,
}

impl CopyOptions {
    /// Parses `(KEY value, ...)` pairs (keys upper-cased).
    pub fn parse(options: &[(String, String)]) -> Result<CopyOptions, LoadError> {
        let mut o = CopyOptions {
            format: Format::Parquet,
            model: None,
            text_column: "text".into(),
            on_error: OnError::Abort,
            map: Vec::new(),
            batch_size: 0,
            segment_rows: 100_000,
            files_table: None,
        };
        let bad = |name: &str, reason: &str| LoadError::Option {
            name: name.into(),
            reason: reason.into(),
        };
        let count = |k: &str, v: &str| {
            v.parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| bad(k, "expected a positive integer"))
        };
        for (k, v) in options {
            match k.to_uppercase().as_str() {
                "FORMAT" => {
                    o.format = match v.to_lowercase().as_str() {
                        "parquet" => Format::Parquet,
                        "mlcpd" => Format::Mlcpd,
                        _ => return Err(bad(k, &format!("unknown format '{v}' (parquet or mlcpd)"))),
                    }
                }
                "MODEL" => o.model = Some(v.clone()),
                "TEXT" | "TEXT_COLUMN" => o.text_column = v.clone(),
                "ON_ERROR" => {
                    o.on_error = match v.to_lowercase().as_str() {
                        "abort" | "stop" => OnError::Abort,
                        "skip" | "ignore" => OnError::Skip,
                        _ => return Err(bad(k, "expected 'abort' or 'skip'")),
                    }
                }
                "MAP" | "COLUMNS" => {
                    for pair in v.split(',').filter(|p| !p.trim().is_empty()) {
                        let Some((src, dst)) = pair.split_once(['=', ':']) else {
                            return Err(bad(k, "expected 'source_column=table_column, ...'"));
                        };
                        o.map.push((src.trim().to_string(), dst.trim().to_string()));
                    }
                }
                "BATCH_SIZE" => o.batch_size = count(k, v)?,
                "SEGMENT_ROWS" => o.segment_rows = count(k, v)?,
                "FILES_TABLE" => o.files_table = Some(v.clone()),
                _ => {
                    return Err(bad(
                        k,
                        "unknown option (FORMAT, MODEL, TEXT, ON_ERROR, MAP, BATCH_SIZE, SEGMENT_ROWS, FILES_TABLE)",
                    ))
                }
            }
        }
        if o.batch_size == 0 {
            o.batch_size = if o.format == Format::Mlcpd { 64 } else { 4096 };
        }
        Ok(o)
    }

    /// The source column feeding table column `dst`.
    pub fn source_of<'a>(&'a self, dst: &'a str) -> &'a str {
        self.map
            .iter()
            .find(|(_, d)| d == dst)
            .map_or(dst, |(s, _)| s.as_str())
    }
}
