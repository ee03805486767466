//! SQL errors that point at the offending text, psql style:
//!
//! ```text
//! syntax error: Expected: end of statement, found: FORM
//! LINE 1: SELECT * FORM t
//!                  ^^^^
//! ```

use datafusion::sql::sqlparser::tokenizer::Span;

/// What kind of SQL error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SqlErrorKind {
    /// The text does not parse.
    Syntax,
    /// It parses but does not make sense (unknown column, wrong type, ...).
    Semantic,
    /// A valid statement nestdb does not support.
    Unsupported,
}

/// An error in a SQL statement, with its position in the input (1-based; 0 when unknown).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}", self.render())]
#[non_exhaustive]
pub struct SqlError {
    /// The kind of error.
    pub kind: SqlErrorKind,
    /// What is wrong.
    pub message: String,
    /// Line of the offending token (1-based, 0 if unknown).
    pub line: u64,
    /// Column of the offending token (1-based, in characters).
    pub column: u64,
    /// Width of the offending token in characters.
    pub width: u64,
    /// The text of that line.
    pub source_line: Option<String>,
}

impl SqlError {
    fn new(kind: SqlErrorKind, message: impl Into<String>, span: Span, sql: &str) -> SqlError {
        let (line, column) = (span.start.line, span.start.column);
        let width = if span.end.line == span.start.line && span.end.column > column {
            span.end.column - column
        } else {
            1
        };
        let source_line = (line > 0)
            .then(|| sql.lines().nth(line as usize - 1).map(str::to_string))
            .flatten();
        SqlError {
            kind,
            message: message.into(),
            line,
            column,
            width,
            source_line,
        }
    }

    /// A syntax error at `span` of `sql`.
    pub fn syntax(message: impl Into<String>, span: Span, sql: &str) -> SqlError {
        Self::new(SqlErrorKind::Syntax, message, span, sql)
    }

    /// A semantic error at `span` of `sql`.
    pub fn semantic(message: impl Into<String>, span: Span, sql: &str) -> SqlError {
        Self::new(SqlErrorKind::Semantic, message, span, sql)
    }

    /// An unsupported construct at `span` of `sql`.
    pub fn unsupported(message: impl Into<String>, span: Span, sql: &str) -> SqlError {
        Self::new(SqlErrorKind::Unsupported, message, span, sql)
    }

    /// An error without a position.
    pub fn plain(message: impl Into<String>) -> SqlError {
        SqlError {
            kind: SqlErrorKind::Semantic,
            message: message.into(),
            line: 0,
            column: 0,
            width: 0,
            source_line: None,
        }
    }

    /// This error with the line it points at taken from `sql` (when it has a position).
    pub fn with_source(mut self, sql: &str) -> SqlError {
        if self.line > 0 && self.source_line.is_none() {
            self.source_line = sql.lines().nth(self.line as usize - 1).map(str::to_string);
        }
        self
    }

    fn render(&self) -> String {
        let mut s = match self.kind {
            SqlErrorKind::Syntax => format!("syntax error: {}", self.message),
            SqlErrorKind::Semantic => self.message.clone(),
            SqlErrorKind::Unsupported => format!("not supported: {}", self.message),
        };
        if let Some(src) = &self.source_line {
            let prefix = format!("LINE {}: ", self.line);
            let pad: String = src
                .chars()
                .take(self.column.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            s.push_str(&format!(
                "\n{prefix}{src}\n{}{pad}{}",
                " ".repeat(prefix.len()),
                "^".repeat(self.width.clamp(1, 80) as usize)
            ));
        }
        s
    }
}
