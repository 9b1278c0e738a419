//! `tsdb-server`: the tsdb database behind Prometheus' HTTP API.
//!
//! ```sh
//! tsdb-server                                   # 127.0.0.1:8491, data in ./data
//! tsdb-server --listen 0.0.0.0:8491 --auth-file auth.yml --data /var/lib/tsdb
//! ```
//!
//! Everything is in `tsdb_examples::server`; this file parses flags, sets up logging and
//! the runtime, and maps failures to the exit status (0 after a clean shutdown, 1 when
//! the server could not start or the database could not be opened, 2 for a bad command
//! line).

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use tsdb_examples::server::flags::Flags;

fn main() -> ExitCode {
    let flags = Flags::parse();
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&flags.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tsdb-server")
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tsdb-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(tsdb_examples::server::run(flags)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("tsdb-server: {e}");
            ExitCode::FAILURE
        }
    }
}
