//! The `wallet` binary: parses the command line, runs the command, prints the outcome
//! and exits 0, 1 (a failure the user can fix) or 2 (usage error, from clap).

use clap::Parser;
use std::process::ExitCode;
use wallet::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let result = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(wallet::commands::run(&cli)),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match result {
        Ok(outcome) => {
            if cli.json {
                println!("{}", outcome.json);
            } else {
                println!("{}", outcome.text);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if cli.json {
                let mut error = serde_json::json!({"code": e.code(), "message": e.to_string()});
                if let Some(code) = e.node_code() {
                    error["node_code"] = code.into();
                }
                let body = serde_json::json!({ "error": error });
                eprintln!("{body}");
            } else {
                eprintln!("error: {e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
