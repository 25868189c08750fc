//! `sabench`: parse the command line, run it, print any error once with its causes.

use std::process::ExitCode;

use clap::Parser;
use sync_async_bench::cli::{self, Cli};

fn main() -> ExitCode {
    match cli::run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            // Bad input exits 2, as a bad flag does; anything else 1.
            let bad_input = error
                .downcast_ref::<sync_async_bench::load::LoadError>()
                .is_some_and(sync_async_bench::load::LoadError::is_bad_input);
            ExitCode::from(if bad_input { cli::exit::BAD_INPUT } else { 1 })
        }
    }
}
