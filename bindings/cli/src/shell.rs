//! Running statements and meta-commands, and printing what they return.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Instant;

use nestdb::sql::{Output, Session};

use crate::format::{self, Format};
use crate::progress;

/// The shell's state: a SQL session plus display settings.
pub struct Shell {
    /// The SQL session.
    pub session: Session,
    /// Output format.
    pub format: Format,
    /// Print each statement's wall time.
    pub timing: bool,
    /// Print each statement before its result (scripts, golden tests).
    pub echo: bool,
    /// Show progress bars (stderr is a terminal).
    pub progress: bool,
    /// Set by `\q`.
    pub quit: bool,
}

const HELP: &str = "\
SQL statements end with ';' and may span lines. Meta-commands:
  \\dt              list tables          \\d [table]     describe a table (or list tables)
  \\dm              list models          \\timing [on|off] show statement times
  \\format FORMAT   table, csv, json or jsonl
  \\help, \\?        this help             \\q              quit
Statements: CREATE TABLE, DROP TABLE, INSERT, DELETE, COPY, SELECT, EXPLAIN [ANALYZE],
SHOW TABLES, SHOW MODELS, DESCRIBE, SET/SHOW/RESET (recall_target, nprobe, shortlist, threads,
exact), FLUSH, COMPACT, ANALYZE, CREATE MODEL, DROP MODEL. See docs/sql.md.
";

impl Shell {
    /// Runs SQL text (one or more statements); prints results. Returns false on error.
    pub fn run_sql(&mut self, sql: &str) -> bool {
        if self.echo {
            println!("{}", sql.trim());
        }
        let start = Instant::now();
        if self.progress {
            let bar = progress::copy_bar();
            self.session
                .set_progress(Some(Arc::new(move |p: &nestdb::load::Progress| {
                    progress::update(&bar, p)
                })));
        }
        let spinner = self.progress.then(|| progress::spinner_for(sql)).flatten();
        let result = self.session.execute(sql);
        if let Some(s) = spinner {
            s.finish_and_clear();
        }
        self.session.set_progress(None);
        let ok = match result {
            Ok(outputs) => {
                for o in &outputs {
                    self.print(o);
                }
                if self.progress
                    && outputs
                        .iter()
                        .any(|o| matches!(o, Output::Status { command, .. } if command == "COPY"))
                {
                    if let Some(r) = self.session.last_copy() {
                        eprintln!("{}", progress::summary(r));
                    }
                }
                true
            }
            Err(e) => {
                let msg = format!("ERROR: {e}");
                if self.echo {
                    println!("{msg}");
                } else {
                    eprintln!("{msg}");
                }
                false
            }
        };
        if self.timing {
            println!("Time: {:.3} ms", start.elapsed().as_secs_f64() * 1e3);
        }
        if self.echo {
            println!();
        }
        let _ = std::io::stdout().flush();
        ok
    }

    fn print(&self, o: &Output) {
        let text = match o {
            Output::Rows(b) => format::render(b, self.format),
            Output::Status { command, rows } => format::status(command, *rows, self.format),
        };
        print!("{text}");
    }

    /// Runs a meta-command (a line starting with `\`). Returns false on error.
    pub fn meta(&mut self, line: &str) -> bool {
        if self.echo {
            println!("{}", line.trim());
        }
        let mut parts = line.trim().trim_start_matches('\\').split_whitespace();
        let cmd = parts.next().unwrap_or("");
        let arg = parts.next();
        let saved_echo = std::mem::replace(&mut self.echo, false);
        let ok = match (cmd, arg) {
            ("q" | "quit", _) => {
                self.quit = true;
                true
            }
            ("dt", _) | ("d", None) => self.run_sql("SHOW TABLES"),
            ("d", Some(t)) => self.run_sql(&format!("DESCRIBE \"{}\"", t.replace('"', ""))),
            ("dm", _) => self.run_sql("SHOW MODELS"),
            ("timing", a) => {
                self.timing = match a {
                    Some("on") => true,
                    Some("off") => false,
                    _ => !self.timing,
                };
                println!("Timing is {}.", if self.timing { "on" } else { "off" });
                true
            }
            ("format" | "pset", Some(f)) => match f {
                "table" | "aligned" => self.set_format(Format::Table),
                "csv" => self.set_format(Format::Csv),
                "json" => self.set_format(Format::Json),
                "jsonl" => self.set_format(Format::Jsonl),
                _ => {
                    println!("ERROR: unknown format \"{f}\" (table, csv, json, jsonl)");
                    false
                }
            },
            ("help" | "?" | "h", _) => {
                print!("{HELP}");
                true
            }
            _ => {
                println!("ERROR: unknown meta-command \"\\{cmd}\" (\\help lists them)");
                false
            }
        };
        self.echo = saved_echo;
        if self.echo {
            println!();
        }
        ok
    }

    fn set_format(&mut self, f: Format) -> bool {
        self.format = f;
        true
    }

    /// Runs a script: statements end with `;` at the end of a line; lines starting with `\`
    /// are meta-commands. Stops at the first error unless `keep_going`. Returns false if any
    /// statement failed.
    pub fn run_script(&mut self, text: &str, keep_going: bool) -> bool {
        let mut ok = true;
        let mut buf = String::new();
        for line in text.lines() {
            if buf.trim().is_empty() && line.trim_start().starts_with('\\') {
                ok &= self.meta(line);
            } else {
                buf.push_str(line);
                buf.push('\n');
                if statement_complete(&buf) {
                    ok &= self.run_sql(&buf);
                    buf.clear();
                }
            }
            if self.quit || (!ok && !keep_going) {
                return ok;
            }
        }
        if !buf.trim().is_empty() && !strip_comments(&buf).trim().is_empty() {
            ok &= self.run_sql(&buf);
        }
        ok
    }
}

/// Whether `buf` ends a statement: its last non-blank, non-comment character is `;`.
pub fn statement_complete(buf: &str) -> bool {
    strip_comments(buf).trim_end().ends_with(';')
}

fn strip_comments(buf: &str) -> String {
    buf.lines()
        .map(|l| match l.find("--") {
            Some(i) if !l[..i].contains('\'') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether stdin is an interactive terminal.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}
