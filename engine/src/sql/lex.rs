//! The token pre-pass: tokenize once (PostgreSQL rules), split statements on top-level `;`,
//! give pgvector's operators one precedence, and locate our own clauses. Positions always
//! refer to the original text, so errors can point at it.

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion::sql::sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan, Tokenizer};

use super::SqlError;

/// The dialect nestdb parses with.
pub const DIALECT: PostgreSqlDialect = PostgreSqlDialect {};

/// One statement's tokens (whitespace and comments removed) and its span.
#[derive(Clone, Debug)]
pub struct StmtTokens {
    /// Tokens without whitespace.
    pub tokens: Vec<TokenWithSpan>,
    /// Span of the whole statement.
    pub span: Span,
}

impl StmtTokens {
    /// The token at `i`, or EOF.
    pub fn get(&self, i: usize) -> &Token {
        self.tokens.get(i).map_or(&Token::EOF, |t| &t.token)
    }

    /// The span of token `i` (the statement's end for EOF).
    pub fn span_at(&self, i: usize) -> Span {
        self.tokens
            .get(i)
            .map_or(Span::new(self.span.end, self.span.end), |t| t.span)
    }
}

/// Whether `t` is the unquoted word `w` (case-insensitive).
pub fn is_word(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w))
}

/// Tokenizes `sql` and splits it into statements.
pub fn statements(sql: &str) -> Result<Vec<StmtTokens>, SqlError> {
    let toks = Tokenizer::new(&DIALECT, sql)
        .tokenize_with_location()
        .map_err(|e| SqlError::syntax(e.message, Span::new(e.location, e.location), sql))?;
    let mut out: Vec<Vec<TokenWithSpan>> = vec![Vec::new()];
    let mut depth = 0i32;
    for t in toks {
        let token = match t.token {
            Token::Whitespace(_) => continue,
            Token::SemiColon if depth == 0 => {
                out.push(Vec::new());
                continue;
            }
            // One precedence for all vector operators (sqlparser gives `<=>` that of `=`).
            Token::Spaceship => Token::CustomBinaryOperator("<=>".into()),
            Token::TwoWayArrow => Token::CustomBinaryOperator("<->".into()),
            Token::LParen => {
                depth += 1;
                Token::LParen
            }
            Token::RParen => {
                depth -= 1;
                Token::RParen
            }
            other => other,
        };
        out.last_mut()
            .expect("non-empty")
            .push(TokenWithSpan::new(token, t.span));
    }
    Ok(out
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|tokens| {
            let span = Span::new(
                tokens.first().map_or(Location::new(0, 0), |t| t.span.start),
                tokens.last().map_or(Location::new(0, 0), |t| t.span.end),
            );
            StmtTokens { tokens, span }
        })
        .collect())
}

/// Index of the first top-level (outside parentheses) word `a` followed by word `b`.
pub fn find_pair(toks: &[TokenWithSpan], a: &str, b: &str) -> Option<usize> {
    let mut depth = 0i32;
    for i in 0..toks.len() {
        match &toks[i].token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            t if depth == 0
                && is_word(t, a)
                && toks.get(i + 1).is_some_and(|n| is_word(&n.token, b)) =>
            {
                return Some(i)
            }
            _ => {}
        }
    }
    None
}

/// Converts a sqlparser error into a [`SqlError`] pointing at its location (or at the end of
/// the statement when sqlparser gives none, which it does at end of input).
pub fn parser_error(e: ParserError, stmt: &StmtTokens, sql: &str) -> SqlError {
    let msg = match &e {
        ParserError::ParserError(s) | ParserError::TokenizerError(s) => s.clone(),
        ParserError::RecursionLimitExceeded => "statement nested too deeply".into(),
    };
    if let Some(i) = msg.rfind(" at Line: ") {
        if let Some((l, c)) = msg[i + 10..].split_once(", Column: ") {
            if let (Ok(l), Ok(c)) = (l.parse::<u64>(), c.trim().parse::<u64>()) {
                let at = Location::new(l, c);
                let width = stmt
                    .tokens
                    .iter()
                    .find(|t| t.span.start == at)
                    .map_or(Span::new(at, at), |t| t.span);
                return SqlError::syntax(msg[..i].to_string(), width, sql);
            }
        }
    }
    let end = stmt.span.end;
    SqlError::syntax(
        format!("{msg} (at the end of the statement)"),
        Span::new(end, end),
        sql,
    )
}
