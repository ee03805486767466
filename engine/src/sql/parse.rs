//! Statement dispatch, and hand-written parsers for the statements sqlparser does not know
//! (or knows differently): CREATE TABLE with VECTOR/PATH/MATRYOSHKA, CREATE/DROP/SHOW MODEL(S),
//! COPY with our options, FLUSH, COMPACT, ANALYZE, SET/RESET/SHOW, DESCRIBE, DROP TABLE.

use datafusion::sql::sqlparser::tokenizer::{Span, Token};

use super::ast::{CreateTable, Statement, TuneOn};
use super::lex::{is_word, StmtTokens};
use super::SqlError;
use crate::schema::{ColumnType, Metric};

/// A cursor over one statement's tokens.
pub struct Cur<'a> {
    /// The statement.
    pub st: &'a StmtTokens,
    /// Position.
    pub i: usize,
    /// The whole input (for error lines).
    pub sql: &'a str,
}

impl<'a> Cur<'a> {
    /// A cursor at the start of `st`.
    pub fn new(st: &'a StmtTokens, sql: &'a str) -> Self {
        Cur { st, i: 0, sql }
    }

    fn peek(&self) -> &'a Token {
        self.st.get(self.i)
    }

    /// A syntax error at the current token.
    pub fn err(&self, msg: impl Into<String>) -> SqlError {
        SqlError::syntax(msg, self.st.span_at(self.i), self.sql)
    }

    fn found(&self) -> String {
        match self.peek() {
            Token::EOF => "end of statement".into(),
            t => format!("\"{t}\""),
        }
    }

    /// Consumes word `w` if it is next.
    pub fn word(&mut self, w: &str) -> bool {
        let hit = is_word(self.peek(), w);
        self.i += hit as usize;
        hit
    }

    /// Consumes word `w` or fails.
    pub fn expect_word(&mut self, w: &str) -> Result<(), SqlError> {
        if self.word(w) {
            Ok(())
        } else {
            Err(self.err(format!("expected {w}, found {}", self.found())))
        }
    }

    /// Consumes token `t` if it is next.
    pub fn token(&mut self, t: &Token) -> bool {
        let hit = self.peek() == t;
        self.i += hit as usize;
        hit
    }

    /// Consumes token `t` or fails.
    pub fn expect(&mut self, t: &Token) -> Result<(), SqlError> {
        if self.token(t) {
            Ok(())
        } else {
            Err(self.err(format!("expected \"{t}\", found {}", self.found())))
        }
    }

    /// An identifier (unquoted ones folded to lower case, as in PostgreSQL).
    pub fn ident(&mut self, what: &str) -> Result<(String, Span), SqlError> {
        match self.peek() {
            Token::Word(w) => {
                let span = self.st.span_at(self.i);
                self.i += 1;
                let v = if w.quote_style.is_some() {
                    w.value.clone()
                } else {
                    w.value.to_lowercase()
                };
                Ok((v, span))
            }
            _ => Err(self.err(format!("expected {what}, found {}", self.found()))),
        }
    }

    /// A string literal.
    pub fn string(&mut self, what: &str) -> Result<String, SqlError> {
        match self.peek() {
            Token::SingleQuotedString(s) => {
                self.i += 1;
                Ok(s.clone())
            }
            _ => Err(self.err(format!(
                "expected {what} (a quoted string), found {}",
                self.found()
            ))),
        }
    }

    /// An unsigned integer literal.
    pub fn uint(&mut self, what: &str) -> Result<u64, SqlError> {
        match self.peek() {
            Token::Number(n, _) => match n.parse::<u64>() {
                Ok(v) => {
                    self.i += 1;
                    Ok(v)
                }
                Err(_) => Err(self.err(format!("expected {what} (a whole number), found {n}"))),
            },
            _ => Err(self.err(format!("expected {what}, found {}", self.found()))),
        }
    }

    /// A value for an option: string, number, word, TRUE/FALSE, as text.
    pub fn value(&mut self) -> Result<String, SqlError> {
        let v = match self.peek() {
            Token::SingleQuotedString(s) => s.clone(),
            Token::Number(n, _) => n.clone(),
            Token::Minus => {
                self.i += 1;
                return Ok(format!("-{}", self.value()?));
            }
            Token::Word(w) => w.value.clone(),
            _ => return Err(self.err(format!("expected a value, found {}", self.found()))),
        };
        self.i += 1;
        Ok(v)
    }

    /// `( KEY value [, ...] )` with optional `=` between key and value; keys upper-cased.
    pub fn options(&mut self) -> Result<Vec<(String, String)>, SqlError> {
        let mut out = Vec::new();
        if !self.token(&Token::LParen) {
            return Ok(out);
        }
        loop {
            let (k, _) = self.ident("an option name")?;
            self.token(&Token::Eq);
            out.push((k.to_uppercase(), self.value()?));
            if self.token(&Token::RParen) {
                return Ok(out);
            }
            self.expect(&Token::Comma)?;
        }
    }

    /// Fails unless the statement is over.
    pub fn done(&self) -> Result<(), SqlError> {
        if matches!(self.peek(), Token::EOF) {
            Ok(())
        } else {
            Err(self.err(format!("expected end of statement, found {}", self.found())))
        }
    }
}

/// Whether `st` is one of nestdb's own statements (else a query or a write).
pub fn is_own(st: &StmtTokens) -> bool {
    let (t0, t1) = (st.get(0), st.get(1));
    (is_word(t0, "CREATE") && (is_word(t1, "TABLE") || is_word(t1, "MODEL")))
        || (is_word(t0, "DROP") && (is_word(t1, "TABLE") || is_word(t1, "MODEL")))
        || [
            "SHOW", "DESCRIBE", "DESC", "SET", "RESET", "FLUSH", "COMPACT", "ANALYZE", "COPY",
        ]
        .iter()
        .any(|w| is_word(t0, w))
}

/// Parses one of nestdb's own statements.
pub fn statement(st: &StmtTokens, sql: &str) -> Result<Statement, SqlError> {
    let mut c = Cur::new(st, sql);
    let t0 = st.get(0);
    let t1 = st.get(1);
    let s = if is_word(t0, "CREATE") && is_word(t1, "TABLE") {
        c.i = 2;
        Statement::CreateTable(create_table(&mut c)?)
    } else if is_word(t0, "CREATE") && is_word(t1, "MODEL") {
        c.i = 2;
        create_model(&mut c)?
    } else if is_word(t0, "DROP") && (is_word(t1, "TABLE") || is_word(t1, "MODEL")) {
        c.i = 2;
        drop_object(&mut c, is_word(t1, "TABLE"))?
    } else if is_word(t0, "SHOW") {
        c.i = 1;
        show(&mut c)?
    } else if is_word(t0, "DESCRIBE") || is_word(t0, "DESC") {
        c.i = 1;
        c.word("TABLE");
        Statement::Describe(c.ident("a table name")?.0)
    } else if is_word(t0, "SET") {
        c.i = 1;
        set(&mut c)?
    } else if is_word(t0, "RESET") {
        c.i = 1;
        reset(&mut c)?
    } else if ["FLUSH", "COMPACT", "ANALYZE"]
        .iter()
        .any(|w| is_word(t0, w))
    {
        c.i = 1;
        table_command(&mut c, t0)?
    } else if is_word(t0, "COPY") {
        c.i = 1;
        copy(&mut c)?
    } else {
        return Err(c.err("not one of nestdb's statements"));
    };
    c.done()?;
    Ok(s)
}

/// `CREATE MODEL name FROM 'file' [(options)]`, after `CREATE MODEL`.
fn create_model(c: &mut Cur<'_>) -> Result<Statement, SqlError> {
    let (name, _) = c.ident("a model name")?;
    c.expect_word("FROM")?;
    let path = c.string("the model file")?;
    let options = c.options()?;
    Ok(Statement::CreateModel {
        name,
        path,
        options,
    })
}

/// `DROP TABLE|MODEL [IF EXISTS] name`, after `DROP TABLE` (`table`) or `DROP MODEL`.
fn drop_object(c: &mut Cur<'_>, table: bool) -> Result<Statement, SqlError> {
    let if_exists = c.word("IF") && {
        c.expect_word("EXISTS")?;
        true
    };
    let (name, _) = c.ident("a name")?;
    Ok(if table {
        Statement::DropTable { name, if_exists }
    } else {
        Statement::DropModel { name, if_exists }
    })
}

/// `SHOW TABLES`, `SHOW RECALL [table]`, `SHOW MODELS` or `SHOW setting`, after `SHOW`.
fn show(c: &mut Cur<'_>) -> Result<Statement, SqlError> {
    Ok(if c.word("TABLES") {
        Statement::ShowTables
    } else if c.word("RECALL") {
        Statement::ShowRecall(match c.ident("a table name") {
            Ok((t, _)) => Some(t),
            Err(_) => None,
        })
    } else if c.word("MODELS") {
        Statement::ShowModels
    } else {
        Statement::ShowSetting(c.ident("TABLES, MODELS or a setting name")?.0)
    })
}

/// `SET [SESSION] name = value` (or `TO value`), after `SET`.
fn set(c: &mut Cur<'_>) -> Result<Statement, SqlError> {
    c.word("SESSION");
    let (name, _) = c.ident("a setting name")?;
    if !c.token(&Token::Eq) {
        c.expect_word("TO")?;
    }
    Ok(Statement::Set {
        name,
        value: c.value()?,
    })
}

/// `RESET ALL` or `RESET name`, after `RESET`.
fn reset(c: &mut Cur<'_>) -> Result<Statement, SqlError> {
    Ok(if c.word("ALL") {
        Statement::Reset(None)
    } else {
        Statement::Reset(Some(c.ident("a setting name or ALL")?.0))
    })
}

/// `FLUSH|COMPACT|ANALYZE [TABLE] name`, after the command word `t0`; ANALYZE may add
/// `TUNE ON ROWS`, `TUNE ON SAMPLED` or `TUNE ON queries_table`.
fn table_command(c: &mut Cur<'_>, t0: &Token) -> Result<Statement, SqlError> {
    c.word("TABLE");
    let (t, _) = c.ident("a table name")?;
    Ok(if is_word(t0, "FLUSH") {
        Statement::Flush(t)
    } else if is_word(t0, "COMPACT") {
        Statement::Compact(t)
    } else {
        let tune_on = if c.word("TUNE") {
            c.expect_word("ON")?;
            Some(if c.word("ROWS") {
                TuneOn::Rows
            } else if c.word("SAMPLED") {
                TuneOn::Sampled
            } else {
                TuneOn::Table(c.ident("ROWS or a table of query vectors")?.0)
            })
        } else {
            None
        };
        Statement::Analyze { table: t, tune_on }
    })
}

/// `COPY table FROM 'source' [WITH] [(options)]`, after `COPY`.
fn copy(c: &mut Cur<'_>) -> Result<Statement, SqlError> {
    let (table, _) = c.ident("a table name")?;
    c.expect_word("FROM")?;
    let source = c.string("a file path or glob")?;
    c.word("WITH");
    let options = c.options()?;
    Ok(Statement::Copy {
        table,
        source,
        options,
    })
}

fn column_type(c: &mut Cur<'_>) -> Result<ColumnType, SqlError> {
    let at = c.i;
    let (t, _) = c.ident("a column type")?;
    let ty = match t.as_str() {
        "bigint" | "int" | "integer" | "int8" | "int4" | "int2" | "smallint" => ColumnType::Int64,
        "double" => {
            c.word("PRECISION");
            ColumnType::Float64
        }
        "float" | "float8" | "float4" | "real" | "numeric" | "decimal" => ColumnType::Float64,
        "text" | "varchar" | "string" | "char" | "character" => {
            c.word("VARYING");
            if c.token(&Token::LParen) {
                c.uint("a length")?;
                c.expect(&Token::RParen)?;
            }
            ColumnType::Utf8
        }
        "boolean" | "bool" => ColumnType::Boolean,
        "timestamp" => ColumnType::Timestamp,
        "path" | "ltree" => ColumnType::Path,
        "vector" => {
            c.expect(&Token::LParen)?;
            let d = c.uint("the vector dimension")?;
            c.expect(&Token::RParen)?;
            ColumnType::Vector {
                dim: d.min(u32::MAX as u64) as u32,
            }
        }
        _ => {
            c.i = at;
            return Err(c.err(format!(
                "unknown type \"{t}\" (types: BIGINT, DOUBLE, TEXT, BOOLEAN, TIMESTAMP, PATH, VECTOR(n))"
            )));
        }
    };
    Ok(ty)
}

fn create_table(c: &mut Cur<'_>) -> Result<CreateTable, SqlError> {
    let if_not_exists = c.word("IF") && {
        c.expect_word("NOT")?;
        c.expect_word("EXISTS")?;
        true
    };
    let (name, _) = c.ident("a table name")?;
    let mut t = CreateTable {
        name,
        if_not_exists,
        columns: Vec::new(),
        primary_key: None,
        matryoshka: None,
        metric: None,
        options: Vec::new(),
    };
    c.expect(&Token::LParen)?;
    loop {
        if c.word("PRIMARY") {
            c.expect_word("KEY")?;
            c.expect(&Token::LParen)?;
            t.primary_key = Some(c.ident("a column name")?.0);
            c.expect(&Token::RParen)?;
        } else {
            let (col, _) = c.ident("a column name")?;
            let ty = column_type(c)?;
            loop {
                if c.word("PRIMARY") {
                    c.expect_word("KEY")?;
                    t.primary_key = Some(col.clone());
                } else if c.word("NOT") {
                    c.expect_word("NULL")?;
                } else if c.word("MATRYOSHKA") {
                    if !matches!(ty, ColumnType::Vector { .. }) {
                        return Err(c.err("MATRYOSHKA applies to VECTOR columns"));
                    }
                    c.expect(&Token::LParen)?;
                    let mut b = Vec::new();
                    loop {
                        b.push(c.uint("a prefix size")?.min(u32::MAX as u64) as u32);
                        if c.token(&Token::RParen) {
                            break;
                        }
                        c.expect(&Token::Comma)?;
                    }
                    t.matryoshka = Some(b);
                } else {
                    break;
                }
            }
            t.columns.push((col, ty));
        }
        if c.token(&Token::RParen) {
            break;
        }
        c.expect(&Token::Comma)?;
    }
    if c.word("WITH") {
        for (k, v) in c.options()? {
            if k == "METRIC" {
                t.metric =
                    Some(Metric::parse(&v).ok_or_else(|| {
                        c.err(format!("unknown metric '{v}' (cosine, l2 or dot)"))
                    })?);
            } else {
                t.options.push((k.to_lowercase(), v));
            }
        }
    }
    Ok(t)
}
