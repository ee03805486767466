//! The SQL dialect (see `docs/sql.md`). Queries run on DataFusion, with nestdb tables as
//! DataFusion tables and vector search planned into nestdb's funnel ([`df`]); nestdb's own
//! statements (CREATE TABLE with VECTOR and PATH columns, COPY, CREATE MODEL, FLUSH, COMPACT,
//! ANALYZE, SET, SHOW, DESCRIBE) and the writes (INSERT, UPDATE, DELETE) are parsed here and run
//! on the library.
//!
//! A token pre-pass (`lex.rs`) splits statements, gives pgvector's operators one precedence and
//! keeps positions, so every error can point at the offending text.

mod ast;
mod df;
mod dml;
mod exec;
mod lex;
mod parse;
mod query;
mod settings;
mod show;
mod values;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use arrow_array::RecordBatch;

pub use crate::error::sql::{SqlError, SqlErrorKind};
pub use df::Stream;
pub use settings::Settings;
pub use values::parse_vector;

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

pub(crate) fn status(command: &str, rows: usize) -> Output {
    Output::Status {
        command: command.into(),
        rows,
    }
}

/// A positional parameter (`$1`, `$2`, ...).
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    /// A vector.
    Vector(Vec<f32>),
    /// A scalar.
    Value(crate::filter::Value),
}

/// A SQL session: settings (`SET`), parameters, a cancellation flag and a DataFusion session
/// (with its plan cache) over a database.
pub struct Session {
    db: Database,
    settings: Arc<RwLock<Settings>>,
    params: df::param::SharedParams,
    cancel: Arc<AtomicBool>,
    pool: Option<(usize, Arc<rayon::ThreadPool>)>,
    progress: Option<Arc<crate::load::ProgressFn>>,
    last_copy: Option<crate::load::CopyReport>,
    engine: std::cell::OnceCell<df::Engine>,
}

impl Session {
    /// A session with default settings.
    pub fn new(db: Database) -> Session {
        Session {
            db,
            settings: Arc::new(RwLock::new(Settings::default())),
            params: Arc::new(RwLock::new(Vec::new())),
            cancel: Arc::new(AtomicBool::new(false)),
            pool: None,
            progress: None,
            last_copy: None,
            engine: std::cell::OnceCell::new(),
        }
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The current settings.
    pub fn settings(&self) -> Settings {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sets `$1`, `$2`, ... for the next statements.
    pub fn set_params(&mut self, params: Vec<Param>) {
        *self.params.write().unwrap_or_else(|e| e.into_inner()) = params;
    }

    /// The current parameter values.
    pub(crate) fn params(&self) -> std::sync::RwLockReadGuard<'_, Vec<Param>> {
        self.params.read().unwrap_or_else(|e| e.into_inner())
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

    /// The DataFusion session, created on first use.
    fn engine(&self) -> Result<&df::Engine> {
        if let Some(e) = self.engine.get() {
            return Ok(e);
        }
        let e = df::Engine::new(self.db.clone(), self.settings.clone(), self.params.clone())?;
        Ok(self.engine.get_or_init(|| e))
    }

    fn invalidate_plans(&self) {
        if let Some(e) = self.engine.get() {
            e.invalidate();
        }
    }

    /// Runs every `;`-separated statement of `sql` in order, stopping at the first error.
    pub fn execute(&mut self, sql: &str) -> Result<Vec<Output>> {
        let stmts = lex::statements(sql)?;
        let mut out = Vec::with_capacity(stmts.len());
        for st in &stmts {
            self.cancel.store(false, Ordering::SeqCst);
            out.push(self.run(st, sql)?);
        }
        Ok(out)
    }

    /// Runs a single query and streams its batches (large scans are not collected).
    pub fn query_stream(&mut self, sql: &str) -> Result<(arrow_schema::SchemaRef, df::Stream)> {
        let stmts = lex::statements(sql)?;
        let [st] = stmts.as_slice() else {
            return Err(SqlError::plain("query_stream takes exactly one query").into());
        };
        query::stream(self, st, sql)
    }

    /// Checks that `sql` parses (for syntax checks and fuzzing); runs nothing.
    pub fn parse(sql: &str) -> Result<usize> {
        let stmts = lex::statements(sql)?;
        for st in &stmts {
            exec::check_syntax(st, sql)?;
        }
        Ok(stmts.len())
    }

    fn run(&mut self, st: &lex::StmtTokens, sql: &str) -> Result<Output> {
        match self.settings().threads {
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
                pool.install(|| exec::run(self, st, sql))
            }
            None => exec::run(self, st, sql),
        }
    }

    /// Runs `sql` (a single query; parameters bound) and returns its rows in one batch.
    fn eval(&self, text: &str, orig: &str) -> Result<RecordBatch> {
        let stmts = lex::statements(text)?;
        let [st] = stmts.as_slice() else {
            return Err(SqlError::plain("expected one query").into());
        };
        match query::run(self, st, text) {
            Ok(Output::Rows(b)) => Ok(b),
            Ok(_) => Err(SqlError::plain("expected rows").into()),
            Err(crate::Error::Sql(e)) if e.source_line.is_none() => {
                Err(crate::Error::Sql(e.with_source(orig)))
            }
            Err(e) => Err(e),
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

    /// A session (settings and prepared plans persist across its statements).
    pub fn session(&self) -> Session {
        Session::new(self.clone())
    }
}
