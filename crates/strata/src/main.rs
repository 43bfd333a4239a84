//! The `strata` command: parses arguments, then hands each subcommand to its own function.
//! Everything it prints goes through `printer`.

mod cli;
mod commands;
mod live;
mod printer;

use std::process::ExitCode;

use clap::Parser;

/// Exit codes, the same for every command: 0 when it did what was asked (for `validate`, a
/// valid spec; warnings are printed), 1 when it could not (an invalid spec, an unreadable
/// file, a failed step or check), 2 when the command line itself is wrong (clap).
fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let mut out = printer::Printer::stdio();
    match commands::run(cli, &mut out) {
        Ok(code) => code,
        Err(err) => {
            out.error(&cause_chain(&err));
            ExitCode::from(1)
        }
    }
}

/// An error and its causes in one line, each cause said once: a cause whose text the
/// message already holds (`cannot read x: No such file`) is not repeated.
fn cause_chain(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let said = cause.to_string();
        if text.contains(&said) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&said);
    }
    text
}
