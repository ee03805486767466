//! The SQL-like query language: parsing (sqlparser plus a token pre-pass), planning and
//! execution against a [`crate::Database`]. See `docs/sql.md` for the dialect.

pub mod ast;
mod error;
mod exec;
pub mod lex;
mod parse;
mod select;
mod settings;
mod show;
pub mod values;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow_array::RecordBatch;

pub use error::{SqlError, SqlErrorKind};
pub use select::parse_vector;
pub use settings::Settings;

use crate::error::Result;
use crate::Database;

/// The result of one statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Rows (SELECT, SHOW, DESCRIBE, EXPLAIN).
    Rows(RecordBatch),
    /// A statement that changed something: its command tag and the rows affected.
    Status {
        /// Command, e.g. `INSERT`, `CREATE TABLE`.
        command: String,
        /// Rows affected.
        rows: usize,
    },
}

/// A positional parameter (`$1`, `$2`, ...).
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    /// A vector.
    Vector(Vec<f32>),
    /// A scalar.
    Value(crate::filter::Value),
}

/// A SQL session: settings (`SET`), parameters and a cancellation flag, over a database.
pub struct Session {
    db: Database,
    settings: Settings,
    params: Vec<Param>,
    cancel: Arc<AtomicBool>,
    pool: Option<(usize, Arc<rayon::ThreadPool>)>,
    progress: Option<Arc<crate::load::ProgressFn>>,
    last_copy: Option<crate::load::CopyReport>,
}

impl Session {
    /// A session with default settings.
    pub fn new(db: Database) -> Session {
        Session {
            db,
            settings: Settings::default(),
            params: Vec::new(),
            cancel: Arc::new(AtomicBool::new(false)),
            pool: None,
            progress: None,
            last_copy: None,
        }
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The current settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Sets `$1`, `$2`, ... for the next statements.
    pub fn set_params(&mut self, params: Vec<Param>) {
        self.params = params;
    }

    /// A flag that cancels the running statement when set (checked between batches and
    /// stages); it is cleared when the next statement starts.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    /// Receives progress of COPY statements.
    pub fn set_progress(&mut self, f: Option<Arc<crate::load::ProgressFn>>) {
        self.progress = f;
    }

    /// The report of the last COPY this session ran.
    pub fn last_copy(&self) -> Option<&crate::load::CopyReport> {
        self.last_copy.as_ref()
    }

    /// Runs every `;`-separated statement of `sql` in order, stopping at the first error.
    pub fn execute(&mut self, sql: &str) -> Result<Vec<Output>> {
        let stmts = lex::statements(sql)?;
        let mut out = Vec::with_capacity(stmts.len());
        for st in &stmts {
            self.cancel.store(false, Ordering::SeqCst);
            let s = parse::statement(st, sql)?;
            out.push(self.run(s, st, sql)?);
        }
        Ok(out)
    }

    /// Parses `sql` without running it (for syntax checks and fuzzing).
    pub fn parse(sql: &str) -> Result<Vec<ast::Statement>> {
        let stmts = lex::statements(sql)?;
        Ok(stmts
            .iter()
            .map(|st| parse::statement(st, sql))
            .collect::<Result<_, _>>()?)
    }

    fn run(&mut self, s: ast::Statement, st: &lex::StmtTokens, sql: &str) -> Result<Output> {
        let threads = self.settings.threads;
        match threads {
            Some(n) => {
                let pool = match &self.pool {
                    Some((m, p)) if *m == n => p.clone(),
                    _ => {
                        let p = Arc::new(
                            rayon::ThreadPoolBuilder::new()
                                .num_threads(n)
                                .build()
                                .map_err(|e| crate::QueryError::Setting {
                                    name: "threads".into(),
                                    value: n.to_string(),
                                    reason: e.to_string(),
                                })?,
                        );
                        self.pool = Some((n, p.clone()));
                        p
                    }
                };
                pool.install(|| exec::run(self, s, st, sql))
            }
            None => exec::run(self, s, st, sql),
        }
    }

    pub(crate) fn cancelled(&self) -> Result<()> {
        if self.cancel.load(Ordering::SeqCst) {
            Err(crate::Error::Cancelled)
        } else {
            Ok(())
        }
    }
}

impl Database {
    /// Runs SQL in a fresh session; returns one output per statement.
    pub fn sql(&self, sql: &str) -> Result<Vec<Output>> {
        Session::new(self.clone()).execute(sql)
    }

    /// A session (settings persist across its statements).
    pub fn session(&self) -> Session {
        Session::new(self.clone())
    }
}
