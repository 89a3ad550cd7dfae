//! `dns_seed`: command line, logging, signals and exit codes around
//! [`dns_seed::run`].
//!
//! Exit codes: 0 after a clean shutdown (Ctrl-C or SIGTERM), 1 on a runtime
//! failure (cannot listen, cannot read or write the data file), 2 on a usage
//! error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use dns_seed::{Config, GenesisHash};
use ferro::http::ServerLimits;
use tracing_subscriber::EnvFilter;

/// Ferro seed server: hands out live nodes of one network.
///
/// Nodes register with `POST /nodes {"address": "ip:port"}`; the seed checks
/// their `GET /info` before listing them, re-probes them periodically and
/// serves random samples on `GET /nodes?limit=N`. Prints `listening on ADDR`
/// on stdout once ready. Logs go to stderr (`RUST_LOG`, default `info`).
#[derive(Debug, Parser)]
#[command(name = "dns_seed", version)]
struct Cli {
    /// Address and port to listen on (port 0 picks a free port).
    #[arg(long, env = "DNS_SEED_LISTEN", default_value = "127.0.0.1:7000")]
    listen: SocketAddr,

    /// File where the node list is saved (atomically) and restored from at
    /// start. Without it the list is kept in memory only.
    #[arg(long, env = "DNS_SEED_DATA_FILE", value_name = "PATH")]
    data_file: Option<PathBuf>,

    /// Seconds between two re-probe rounds over every listed node
    /// (fractions allowed, e.g. 0.5).
    #[arg(long, env = "DNS_SEED_PROBE_INTERVAL", value_name = "SECS", default_value = "60", value_parser = parse_seconds)]
    probe_interval: Duration,

    /// Only list nodes whose `/info` reports this genesis hash (64 hex digits);
    /// others are refused with `wrong-network`. Without it any network is listed.
    #[arg(long, env = "DNS_SEED_GENESIS_HASH", value_name = "HEX")]
    genesis_hash: Option<GenesisHash>,

    /// Seconds one probe (connect, request and answer) may take.
    #[arg(long, env = "DNS_SEED_PROBE_TIMEOUT", value_name = "SECS", default_value = "5", value_parser = parse_seconds)]
    probe_timeout: Duration,

    /// Probes in flight at once during a re-probe round.
    #[arg(long, env = "DNS_SEED_PROBE_CONCURRENCY", value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    probe_concurrency: u32,

    /// Failed probes in a row after which a node is dropped.
    #[arg(long, env = "DNS_SEED_MAX_FAILURES", value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_failures: u32,

    /// Most nodes listed at once; registrations beyond it get 503 `seed-full`.
    #[arg(long, env = "DNS_SEED_MAX_NODES", value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_nodes: u32,

    /// Most nodes listed per source IP address (PROTOCOL.md section 8).
    #[arg(long, env = "DNS_SEED_MAX_PER_SOURCE", value_name = "N", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_per_source: u32,

    /// Most client connections served at once.
    #[arg(long, env = "DNS_SEED_MAX_CONNECTIONS", value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,

    /// Largest request body accepted, in bytes (larger ones get 413).
    #[arg(long, env = "DNS_SEED_MAX_BODY_BYTES", value_name = "BYTES", default_value_t = 65_536,
          value_parser = clap::value_parser!(u32).range(64..))]
    max_body_bytes: u32,
}

/// Largest accepted `SECS` value (one year).
const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

fn parse_seconds(raw: &str) -> Result<Duration, String> {
    let seconds: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of seconds, got {raw:?}"))?;
    if !seconds.is_finite() || seconds < 0.001 {
        return Err(format!("must be at least 0.001 seconds, got {raw:?}"));
    }
    // One year is far beyond any sensible probe period or timeout.
    if seconds > MAX_SECONDS {
        return Err(format!(
            "must be at most {MAX_SECONDS} seconds, got {raw:?}"
        ));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{raw:?} is not a valid duration"))
}

impl Cli {
    fn to_config(&self) -> Config {
        let to_usize = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        Config {
            data_file: self.data_file.clone(),
            probe_interval: self.probe_interval,
            probe_timeout: self.probe_timeout,
            probe_concurrency: to_usize(self.probe_concurrency),
            max_failures: self.max_failures,
            max_nodes: to_usize(self.max_nodes),
            max_per_source: to_usize(self.max_per_source),
            genesis_hash: self.genesis_hash.clone(),
            max_body_bytes: to_usize(self.max_body_bytes),
            server: ServerLimits {
                max_connections: to_usize(self.max_connections),
                ..ServerLimits::default()
            },
        }
    }
}

fn main() -> ExitCode {
    // Usage errors exit with 2 and `--help`/`--version` with 0, inside clap.
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("dns_seed: error: could not start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(serve(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dns_seed: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn serve(cli: Cli) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .with_context(|| {
            format!(
                "could not listen on {} (is another process using it?)",
                cli.listen
            )
        })?;
    let address = listener
        .local_addr()
        .context("could not read the bound address")?;
    // The one line scripts and tests read to learn the port.
    println!("listening on {address}");
    dns_seed::run(listener, cli.to_config(), {
        let token = tokio_util::sync::CancellationToken::new();
        let cancel = token.clone();
        tokio::spawn(async move {
            ferro::http::server::os_signal().await;
            tracing::info!("shutdown signal received");
            cancel.cancel();
        });
        token
    })
    .await
    .context("the seed stopped with an error")?;
    tracing::info!("stopped");
    Ok(())
}
