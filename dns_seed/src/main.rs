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
use dns_seed::crawl::{AllowRule, CrawlAllow, CrawlConfig};
use dns_seed::dns::DnsConfig;
use dns_seed::{Config, GenesisHash};
use ferro::http::ServerLimits;
use hickory_proto::rr::Name;
use tracing_subscriber::EnvFilter;

/// Ferro seed server: hands out live nodes of one network, over HTTP and DNS.
///
/// Nodes register with `POST /nodes {"address": "ip:port"}`, and the crawler learns
/// more from listed nodes' `GET /nodes`; the seed checks each one's `GET /info` before
/// listing it, re-probes them periodically and serves random samples on
/// `GET /nodes?limit=N` and, with `--dns-listen` and `--zone`, as DNS records. Prints
/// `listening on ADDR` on stdout once ready (and `dns listening on ADDR` after it when
/// DNS is on). Logs go to stderr (`RUST_LOG`, default `info`).
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

    /// Most client connections open at once (over it: 503).
    #[arg(long, env = "DNS_SEED_MAX_CONNECTIONS", value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,

    /// Most connections open at once from one source address (over it: 429
    /// rate-limited); 127.0.0.1 and ::1 are exempt.
    #[arg(long, env = "DNS_SEED_CONNECTIONS_PER_SOURCE", value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..))]
    connections_per_source: u32,

    /// Requests per second one source address may average, bursts of twice that (over
    /// it: 429 rate-limited with Retry-After); 127.0.0.1 and ::1 are exempt.
    #[arg(long, env = "DNS_SEED_REQUESTS_PER_SOURCE", value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..))]
    requests_per_source: u32,

    /// Largest request body accepted, in bytes (larger ones get 413).
    #[arg(long, env = "DNS_SEED_MAX_BODY_BYTES", value_name = "BYTES", default_value_t = 65_536,
          value_parser = clap::value_parser!(u32).range(64..))]
    max_body_bytes: u32,

    /// Serve DNS (UDP and TCP) on this address and port (port 0 picks a free one); needs
    /// --zone. Without it the seed speaks HTTP only.
    #[arg(
        long,
        env = "DNS_SEED_DNS_LISTEN",
        value_name = "ADDR:PORT",
        requires = "zone",
        help_heading = "DNS"
    )]
    dns_listen: Option<SocketAddr>,

    /// The DNS zone the seed is authoritative for, e.g. seed.devnet.ferro. (names outside
    /// it are REFUSED).
    #[arg(long, env = "DNS_SEED_ZONE", value_name = "NAME", value_parser = parse_zone,
          help_heading = "DNS")]
    zone: Option<Name>,

    /// The network's default port: the port users assume when DNS gives only an
    /// address. Apex A/AAAA answers list only nodes listening on it; SRV lists every port.
    #[arg(long, env = "DNS_SEED_DEFAULT_PORT", value_name = "PORT", default_value_t = 8000,
          value_parser = clap::value_parser!(u16).range(1..), help_heading = "DNS")]
    default_port: u16,

    /// Name server of the zone, for NS and SOA (default ns.<zone>; answered with the
    /// --dns-listen address when it is inside the zone and that address is specific).
    #[arg(long, env = "DNS_SEED_NS", value_name = "NAME", value_parser = parse_name,
          help_heading = "DNS")]
    ns: Option<Name>,

    /// Operator mailbox in the SOA, `@` written as `.` (default hostmaster.<zone>).
    #[arg(long, env = "DNS_SEED_MBOX", value_name = "NAME", value_parser = parse_name,
          help_heading = "DNS")]
    mbox: Option<Name>,

    /// DNS queries per second one source (an IPv4 address, an IPv6 /64) may sustain;
    /// queries over it are dropped unanswered and counted in the log.
    #[arg(long, env = "DNS_SEED_DNS_RATE_LIMIT", value_name = "QPS", default_value_t = 20.0,
          value_parser = parse_rate, help_heading = "DNS")]
    dns_rate_limit: f64,

    /// DNS queries one source may send at once before its rate applies.
    #[arg(long, env = "DNS_SEED_DNS_RATE_BURST", value_name = "N", default_value_t = 40,
          value_parser = clap::value_parser!(u32).range(1..), help_heading = "DNS")]
    dns_rate_burst: u32,

    /// Sources the DNS rate limiter tracks at once (its table's bound; new sources share
    /// one budget while it is full).
    #[arg(long, env = "DNS_SEED_DNS_MAX_SOURCES", value_name = "N", default_value_t = 65_536,
          value_parser = clap::value_parser!(u32).range(1..), help_heading = "DNS")]
    dns_max_sources: u32,

    /// DNS-over-TCP connections served at once (4 per source at most).
    #[arg(long, env = "DNS_SEED_DNS_MAX_TCP", value_name = "N", default_value_t = 128,
          value_parser = clap::value_parser!(u32).range(1..), help_heading = "DNS")]
    dns_max_tcp: u32,

    /// Seconds between two crawl rounds (asking listed nodes for their peers).
    #[arg(long, env = "DNS_SEED_CRAWL_INTERVAL", value_name = "SECS", default_value = "60",
          value_parser = parse_seconds, help_heading = "Crawler")]
    crawl_interval: Duration,

    /// Addresses the crawler may probe when a node lists them: `public` (globally
    /// routable addresses, the default), a CIDR range (e.g. 127.0.0.0/8 for a devnet on
    /// loopback) or an IP; repeat or comma-separate; `none` turns the crawler off. A seed
    /// must not become a scanner of private networks.
    #[arg(
        long,
        env = "DNS_SEED_CRAWL_ALLOW",
        value_name = "CIDR",
        value_delimiter = ',',
        help_heading = "Crawler"
    )]
    crawl_allow: Vec<AllowRule>,

    /// New addresses the crawler probes per round, at most.
    #[arg(long, env = "DNS_SEED_CRAWL_MAX_NEW", value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=10_000), help_heading = "Crawler")]
    crawl_max_new: u32,

    /// Crawler requests in flight at once.
    #[arg(long, env = "DNS_SEED_CRAWL_CONCURRENCY", value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1024), help_heading = "Crawler")]
    crawl_concurrency: u32,
}

fn parse_zone(raw: &str) -> Result<Name, String> {
    dns_seed::dns::answer::parse_zone(raw).map_err(|e| e.to_string())
}

fn parse_name(raw: &str) -> Result<Name, String> {
    dns_seed::dns::answer::parse_name(raw).map_err(|e| e.to_string())
}

fn parse_rate(raw: &str) -> Result<f64, String> {
    let rate: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("expected queries per second, got {raw:?}"))?;
    if !rate.is_finite() || !(0.01..=1_000_000.0).contains(&rate) {
        return Err(format!("must be between 0.01 and 1000000, got {raw:?}"));
    }
    Ok(rate)
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
                reserved_connections: to_usize(self.max_connections) / 8,
                per_source_connections: to_usize(self.connections_per_source),
                ..ServerLimits::default()
            },
            requests_per_source: self.requests_per_source,
            dns: self
                .dns_listen
                .and(self.zone.clone())
                .map(|zone| DnsConfig {
                    default_port: self.default_port,
                    ns: self.ns.clone(),
                    mbox: self.mbox.clone(),
                    rate_limit: self.dns_rate_limit,
                    rate_burst: self.dns_rate_burst,
                    max_sources: to_usize(self.dns_max_sources),
                    max_tcp_connections: to_usize(self.dns_max_tcp),
                    ..DnsConfig::new(zone)
                }),
            crawl: CrawlConfig {
                interval: self.crawl_interval,
                allow: CrawlAllow::from_rules(&self.crawl_allow),
                max_new: to_usize(self.crawl_max_new),
                concurrency: to_usize(self.crawl_concurrency),
                ..CrawlConfig::default()
            },
        }
    }
}

fn main() -> ExitCode {
    // Usage errors exit with 2 and `--help`/`--version` with 0, inside clap.
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            // hickory-server logs every DNS answer at info (and spoofable packets at
            // warn): quiet by default, RUST_LOG can bring it back.
            EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                EnvFilter::new("info,hickory_server=error,hickory_net=error,hickory_proto=error")
            }),
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
    let dns = match cli.dns_listen {
        Some(dns_listen) => Some(
            dns_seed::dns::Sockets::bind(dns_listen)
                .await
                .with_context(|| {
                    format!("could not listen for dns on {dns_listen} (is another process using it? ports below 1024 need root)")
                })?,
        ),
        None => None,
    };
    // The one line scripts and tests read to learn the port.
    println!("listening on {address}");
    if let Some(dns) = &dns {
        let dns_address = dns.local_addr().context("could not read the dns address")?;
        println!("dns listening on {dns_address}");
    }
    {
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
    let shutdown = tokio_util::sync::CancellationToken::new();
    let cancel = shutdown.clone();
    tokio::spawn(async move {
        ferro::http::server::os_signal().await;
        tracing::info!("shutdown signal received");
        cancel.cancel();
    });
    dns_seed::serve(listener, dns, cli.to_config(), shutdown)
        .await
        .context("the seed stopped with an error")?;
    tracing::info!("stopped");
    Ok(())
}
