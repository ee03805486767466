//! `nestdb`: the SQL shell. Thin glue over the `nestdb` library: argument parsing, a REPL,
//! scripts, and printing.

mod format;
mod progress;
mod shell;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use clap::Parser;
use format::Format;
use rustyline::error::ReadlineError;
use shell::{interactive, statement_complete, Shell};

/// The nestdb shell: an embedded vector database with learned indexing.
///
/// Without DB_PATH a temporary database is opened and deleted on exit (like sqlite3 or duckdb
/// without a file). Statements come from -c (repeatable), then -f, or else from stdin: a REPL
/// when stdin is a terminal, a script otherwise.
#[derive(Parser, Debug)]
#[command(name = "nestdb", version, about, long_about)]
struct Args {
    /// Database directory, created if missing (default: a temporary database)
    db_path: Option<PathBuf>,
    /// Run this SQL (repeatable; runs before -f)
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    commands: Vec<String>,
    /// Run the statements in this file
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Print each statement before its result
    #[arg(long)]
    echo: bool,
    /// Keep running after a failed statement (the exit code is still non-zero)
    #[arg(long)]
    keep_going: bool,
    /// Never show progress bars
    #[arg(long)]
    no_progress: bool,
    /// Fraction of vector searches the live recall monitor re-runs exactly in the background
    /// (SHOW RECALL; at most 5% of one core); 0 turns it off
    #[arg(long, value_name = "RATE", default_value_t = 0.01)]
    recall_sample_rate: f64,
}

fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".nestdb_history"))
}

fn repl(shell: &mut Shell) -> bool {
    let Ok(mut ed) = rustyline::DefaultEditor::new() else {
        eprintln!("ERROR: cannot start the line editor");
        return false;
    };
    if let Some(h) = history_path() {
        let _ = ed.load_history(&h);
    }
    println!(
        "nestdb {} — type \\help for help, \\q to quit.",
        env!("CARGO_PKG_VERSION")
    );
    let mut buf = String::new();
    loop {
        let prompt = if buf.is_empty() {
            "nestdb=> "
        } else {
            "nestdb-> "
        };
        match ed.readline(prompt) {
            Ok(line) => {
                if buf.is_empty() && line.trim_start().starts_with('\\') {
                    let _ = ed.add_history_entry(line.as_str());
                    shell.meta(&line);
                    if shell.quit {
                        break;
                    }
                    continue;
                }
                buf.push_str(&line);
                buf.push('\n');
                if statement_complete(&buf) {
                    let _ = ed.add_history_entry(buf.trim());
                    shell.run_sql(&buf);
                    buf.clear();
                }
            }
            Err(ReadlineError::Interrupted) => buf.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("ERROR: {e}");
                break;
            }
        }
    }
    if let Some(h) = history_path() {
        let _ = ed.save_history(&h);
    }
    true
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (_tmp, path) = match &args.db_path {
        Some(p) => (None, p.clone()),
        None => match tempfile::Builder::new().prefix("nestdb-").tempdir() {
            Ok(t) => {
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
            Err(e) => {
                eprintln!("ERROR: cannot create a temporary database: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let db = match nestdb::Database::builder()
        .recall_sample_rate(args.recall_sample_rate)
        .open(&path)
    {
        Ok(db) => db,
        Err(e) => {
            eprintln!("ERROR: cannot open {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let session = db.session();
    let cancel = session.cancel_flag();
    // Ctrl-C cancels the running statement, not the shell.
    let _ = ctrlc::set_handler(move || cancel.store(true, Ordering::SeqCst));
    let mut shell = Shell {
        session,
        format: args.format,
        timing: false,
        echo: args.echo,
        progress: !args.no_progress && std::io::stderr().is_terminal(),
        quit: false,
    };
    let mut ok = true;
    let scripted = !args.commands.is_empty() || args.file.is_some();
    for c in &args.commands {
        ok &= shell.run_script(c, args.keep_going);
        if !ok && !args.keep_going {
            return ExitCode::FAILURE;
        }
    }
    if let Some(f) = &args.file {
        match std::fs::read_to_string(f) {
            Ok(text) => ok &= shell.run_script(&text, args.keep_going),
            Err(e) => {
                eprintln!("ERROR: cannot read {}: {e}", f.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if !scripted {
        if interactive() {
            ok = repl(&mut shell);
        } else {
            let mut text = String::new();
            if std::io::stdin().read_to_string(&mut text).is_err() {
                eprintln!("ERROR: cannot read stdin");
                return ExitCode::FAILURE;
            }
            ok = shell.run_script(&text, args.keep_going);
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
