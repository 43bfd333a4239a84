//! The `strata` command: parses arguments, then hands each subcommand to its own function.
//! Everything it prints goes through `printer`.

mod cli;
mod commands;
mod printer;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let mut out = printer::Printer::stdio();
    match commands::run(cli, &mut out) {
        Ok(code) => code,
        Err(err) => {
            out.error(&format!("{err:#}"));
            ExitCode::from(2)
        }
    }
}
