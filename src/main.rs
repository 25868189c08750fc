//! `sabench`: parse the command line, run it, print any error once with its causes.

use std::process::ExitCode;

use clap::Parser;
use sync_async_bench::cli::{self, Cli};

fn main() -> ExitCode {
    match cli::run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
