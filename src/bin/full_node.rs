//! The `full_node` binary: runs a node, or makes a new network file (`genesis`).

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use ferro::consensus::{Network, NetworkParams};
use ferro::node::NodeConfig;
use ferro::primitives::{Address, Amount, Target, TxOut};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// mimalloc instead of the system allocator: connecting blocks allocates and frees
/// millions of small index keys, and glibc's malloc spent ~13 % of a sync run in
/// consolidation and frees (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A Ferro full node: validates, stores, mines and relays blocks and transactions.
///
/// Prints `listening on ADDR` on stdout once it serves the HTTP API. Logs go to stderr
/// (`RUST_LOG`, default `info`). Stops cleanly on Ctrl-C or SIGTERM.
#[derive(Parser, Debug)]
#[command(name = "full_node", version, about)]
struct Cli {
    /// Network file (JSON) of the network to join; the built-in devnet when omitted.
    #[arg(long, env = "FULL_NODE_GENESIS", global = true)]
    genesis: Option<PathBuf>,

    #[command(flatten)]
    node: NodeArgs,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args, Debug)]
struct NodeArgs {
    /// Address and port of the HTTP API (port 0 picks a free port).
    #[arg(long, env = "FULL_NODE_LISTEN", default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// HOST:PORT other nodes reach this node at (default: the bound listen address).
    #[arg(long, env = "FULL_NODE_PUBLIC_ADDRESS")]
    public_address: Option<String>,
    /// Folder for the chain database.
    #[arg(long, env = "FULL_NODE_DATA_DIR", default_value = "ferro-data")]
    data_dir: PathBuf,
    /// Seed server URL to register with and learn nodes from (repeatable).
    #[arg(long = "seed", env = "FULL_NODE_SEED", value_delimiter = ',')]
    seeds: Vec<String>,
    /// HOST:PORT of a peer to connect to (repeatable).
    #[arg(long = "peer", env = "FULL_NODE_PEER", value_delimiter = ',')]
    peers: Vec<String>,
    /// DNS seed to bootstrap from (repeatable): SRV _ferro._tcp.NAME, then A/AAAA of NAME
    /// on the network's default port. Without --seed, --peer and --dns-seed, the network
    /// file's `dns_seeds` are used.
    #[arg(long = "dns-seed", env = "FULL_NODE_DNS_SEED", value_delimiter = ',',
          value_name = "NAME", value_parser = parse_dns_seed)]
    dns_seeds: Vec<String>,
    /// DNS server (IP:PORT) to ask the DNS seeds through, instead of the system resolver.
    #[arg(long, env = "FULL_NODE_DNS_SERVER", value_name = "IP:PORT")]
    dns_server: Option<SocketAddr>,
    /// Mine blocks continuously (needs --miner-address).
    #[arg(long, env = "FULL_NODE_MINE", requires = "miner_address")]
    mine: bool,
    /// Address that block rewards are paid to.
    #[arg(long, env = "FULL_NODE_MINER_ADDRESS")]
    miner_address: Option<String>,
    /// Enable POST /mining/generate (development networks and tests).
    #[arg(long, env = "FULL_NODE_ALLOW_GENERATE")]
    allow_generate: bool,
    /// Most peers to keep.
    #[arg(long, env = "FULL_NODE_MAX_PEERS", default_value_t = 16)]
    max_peers: usize,
    /// Seconds between sync rounds and peer discovery rounds (fractions allowed).
    #[arg(long, env = "FULL_NODE_SYNC_INTERVAL", default_value = "10", value_parser = parse_seconds)]
    sync_interval: Duration,
    /// Seconds one request to a peer may take.
    #[arg(long, env = "FULL_NODE_PEER_TIMEOUT", default_value = "10", value_parser = parse_seconds)]
    peer_timeout: Duration,
    /// Seconds a sync round may go without verified progress (more checked work, or
    /// blocks connected) before its peer is set aside for 10 minutes and the next tried.
    #[arg(long, env = "FULL_NODE_SYNC_DEADLINE", default_value = "30", value_parser = parse_seconds)]
    sync_deadline: Duration,
    /// Most client connections open at once, in all (a share is kept for localhost and
    /// for peers that delivered valid blocks or transactions recently).
    #[arg(long, env = "FULL_NODE_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// Most connections open at once from one source address; over it the answer is
    /// 429 rate-limited. 127.0.0.1 and ::1 are exempt.
    #[arg(long, env = "FULL_NODE_CONNECTIONS_PER_SOURCE", default_value_t = 8)]
    connections_per_source: usize,
    /// Requests per second one source address may average (bursts of twice that);
    /// over it the answer is 429 rate-limited with Retry-After. 127.0.0.1 and ::1 are
    /// exempt.
    #[arg(long, env = "FULL_NODE_REQUESTS_PER_SOURCE", default_value_t = 100)]
    requests_per_source: u32,
    /// Seconds a request may take from its headers to its answer (408 past it).
    #[arg(long, env = "FULL_NODE_REQUEST_TIMEOUT", default_value = "30", value_parser = parse_seconds)]
    request_timeout: Duration,
    /// Seconds a connection may stay open with no request before it is closed.
    #[arg(long, env = "FULL_NODE_IDLE_TIMEOUT", default_value = "30", value_parser = parse_seconds)]
    idle_timeout: Duration,
    /// Mempool bound in bytes of memory (its estimated real memory use, `usage`, not the
    /// serialized size of its transactions).
    #[arg(long, env = "FULL_NODE_MEMPOOL_BYTES", default_value_t = 64 * 1024 * 1024)]
    mempool_bytes: usize,
    /// Minimum fee rate (base units per byte) for the mempool.
    #[arg(long, env = "FULL_NODE_MIN_FEE_RATE", default_value_t = 1)]
    min_fee_rate: u64,
    /// Dust limit in base units: a transaction with an output below it is refused by
    /// policy (`dust`).
    #[arg(long, env = "FULL_NODE_DUST_LIMIT", default_value_t = ferro::mempool::DEFAULT_DUST_LIMIT)]
    dust_limit: u64,
    /// Seconds a transaction may wait in the mempool before it is dropped with its
    /// descendants (default 14 days).
    #[arg(long, env = "FULL_NODE_MEMPOOL_EXPIRY", default_value_t = ferro::mempool::DEFAULT_EXPIRY_SECS,
          value_parser = clap::value_parser!(u64).range(1..=10 * 365 * 86_400))]
    mempool_expiry: u64,
    /// Chain state cache in MB: changes to the UTXO set and the explorer indexes stay in
    /// memory and are written in one batch when they pass this (blocks themselves are
    /// written before they count as connected; after a crash the node connects the
    /// stored blocks again).
    #[arg(long, env = "FULL_NODE_DB_CACHE", default_value_t = ferro::node::config::DEFAULT_DB_CACHE_MB)]
    db_cache: usize,
    /// Most `GET /events` streams open at once (each is also a connection, within
    /// --max-connections); over it the answer is 503 not-ready.
    #[arg(long, env = "FULL_NODE_MAX_EVENT_STREAMS", default_value_t = ferro::node::events::DEFAULT_MAX_EVENT_STREAMS)]
    max_event_streams: usize,
}

fn parse_dns_seed(text: &str) -> Result<String, String> {
    ferro::net::bootstrap::parse_seed_name(text)
        .map(|name| name.to_ascii())
        .map_err(|e| e.to_string())
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("expected a number of seconds, got {text:?}"))?;
    if !(0.01..=86_400.0).contains(&secs) {
        return Err("expected between 0.01 and 86400 seconds".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Make a new network file: parameters plus a mined genesis block paying the premine.
    Genesis(GenesisArgs),
}

#[derive(Args, Debug)]
struct GenesisArgs {
    /// Where to write the network file.
    #[arg(long, env = "FULL_NODE_GENESIS_OUT")]
    out: PathBuf,
    /// Network name.
    #[arg(long, env = "FULL_NODE_GENESIS_NAME", default_value = "devnet")]
    name: String,
    /// Human-readable part of the network's bech32m addresses.
    #[arg(long, env = "FULL_NODE_GENESIS_ADDRESS_HRP", default_value = "fdev")]
    address_hrp: String,
    /// Block subsidy at height 0, in coins (exact decimal).
    #[arg(long, env = "FULL_NODE_GENESIS_INITIAL_REWARD", default_value = "50")]
    initial_reward: Amount,
    /// Blocks between subsidy halvings.
    #[arg(
        long,
        env = "FULL_NODE_GENESIS_HALVING_INTERVAL",
        default_value_t = 210_000
    )]
    halving_interval: u64,
    /// Seconds between blocks that the retarget aims for.
    #[arg(
        long,
        env = "FULL_NODE_GENESIS_TARGET_BLOCK_TIME",
        default_value_t = 10
    )]
    target_block_time: u64,
    /// Blocks between difficulty retargets.
    #[arg(
        long,
        env = "FULL_NODE_GENESIS_RETARGET_INTERVAL",
        default_value_t = 20
    )]
    retarget_interval: u64,
    /// Easiest allowed target as 64 hex digits; overrides --pow-limit-bits.
    #[arg(long, env = "FULL_NODE_GENESIS_POW_LIMIT")]
    pow_limit: Option<String>,
    /// Easiest allowed target given as a count of leading zero bits.
    #[arg(long, env = "FULL_NODE_GENESIS_POW_LIMIT_BITS", default_value_t = 16)]
    pow_limit_bits: u32,
    /// Blocks before a coinbase output may be spent.
    #[arg(
        long,
        env = "FULL_NODE_GENESIS_COINBASE_MATURITY",
        default_value_t = 10
    )]
    coinbase_maturity: u64,
    /// Largest encoded block, in bytes.
    #[arg(
        long,
        env = "FULL_NODE_GENESIS_MAX_BLOCK_SIZE",
        default_value_t = 1_000_000
    )]
    max_block_size: u64,
    /// A genesis output, as ADDRESS=COINS; repeat for several. At least one is needed.
    #[arg(
        long = "premine",
        env = "FULL_NODE_GENESIS_PREMINE",
        value_delimiter = ',',
        required = true
    )]
    premine: Vec<String>,
    /// Genesis timestamp in unix seconds (default: now). Fix it to reproduce a file.
    #[arg(long, env = "FULL_NODE_GENESIS_TIMESTAMP")]
    timestamp: Option<u64>,
    /// The network's default port (the port nodes assume for addresses from DNS);
    /// stored beside the rules, not hashed: it never changes the genesis hash.
    #[arg(long, env = "FULL_NODE_GENESIS_DEFAULT_PORT",
          value_parser = clap::value_parser!(u16).range(1..))]
    default_port: Option<u16>,
    /// A DNS seed name nodes of this network use by default (repeatable); not hashed.
    #[arg(long = "dns-seed", env = "FULL_NODE_GENESIS_DNS_SEED", value_delimiter = ',',
          value_name = "NAME", value_parser = parse_dns_seed)]
    dns_seeds: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Genesis(args)) => make_genesis(args),
        None => run_node(cli.genesis, cli.node),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn run_node(genesis: Option<PathBuf>, args: NodeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let network = load_network(genesis)?;
    let miner_address = match &args.miner_address {
        Some(text) => Some(
            Address::parse(text, &network.params.address_hrp)
                .context("--miner-address")?
                .pubkey_hash(),
        ),
        None => None,
    };
    if args.mine && miner_address.is_none() {
        bail!("--mine needs --miner-address");
    }
    let mut config = NodeConfig::new(network, args.data_dir, args.listen);
    config.public_address = args.public_address;
    // A chain state commit failing part way aborts the process; the restart repairs it.
    config.abort_on_store_failure = true;
    // With no way to find peers given, the network's own DNS seeds.
    let dns_seeds = if args.seeds.is_empty() && args.peers.is_empty() && args.dns_seeds.is_empty() {
        config.network.defaults.dns_seeds.clone()
    } else {
        args.dns_seeds
    };
    config.seeds = args.seeds;
    config.peers = args.peers;
    config.dns_seeds = dns_seeds;
    config.dns_server = args.dns_server;
    config.miner_address = if args.mine { miner_address } else { None };
    config.allow_generate = args.allow_generate;
    config.max_peers = args.max_peers;
    config.sync_interval = args.sync_interval;
    config.peer_timeout = args.peer_timeout;
    config.sync_deadline = args.sync_deadline;
    config.server.max_connections = args.max_connections;
    config.server.reserved_connections = args.max_connections / 8;
    config.server.per_source_connections = args.connections_per_source;
    config.server.idle_timeout = args.idle_timeout;
    config.requests.rate_per_second = args.requests_per_source;
    config.requests.rate_burst = args.requests_per_source.saturating_mul(2);
    config.requests.request_timeout = args.request_timeout;
    config.mempool.max_usage = args.mempool_bytes;
    config.mempool.min_fee_rate = args.min_fee_rate;
    config.mempool.dust_limit = args.dust_limit;
    config.mempool.expiry_secs = args.mempool_expiry;
    config.db_cache = args.db_cache.saturating_mul(1024 * 1024);
    config.max_event_streams = args.max_event_streams;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let running = ferro::daemon::run(config).await?;
        println!("listening on {}", running.addr);
        use std::io::Write;
        let _ = std::io::stdout().flush();
        ferro::http::server::os_signal().await;
        tracing::info!("shutting down");
        running.shutdown().await;
        Ok(())
    })
}

fn load_network(path: Option<PathBuf>) -> anyhow::Result<Network> {
    match path {
        None => Ok(Network::devnet()),
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read network file {}", path.display()))?;
            Network::from_json(&text)
                .with_context(|| format!("network file {} is invalid", path.display()))
        }
    }
}

fn make_genesis(args: GenesisArgs) -> anyhow::Result<()> {
    let pow_limit = match &args.pow_limit {
        Some(hex) => Target::from_hex(hex).context("--pow-limit")?,
        None if args.pow_limit_bits < 256 => Target::with_leading_zeros(args.pow_limit_bits),
        None => bail!("--pow-limit-bits must be below 256"),
    };
    let params = NetworkParams {
        name: args.name,
        address_hrp: args.address_hrp,
        initial_reward: args.initial_reward,
        halving_interval: args.halving_interval,
        target_block_time: args.target_block_time,
        retarget_interval: args.retarget_interval,
        pow_limit,
        coinbase_maturity: args.coinbase_maturity,
        max_block_size: args.max_block_size,
    };
    let mut premine = Vec::new();
    for entry in &args.premine {
        let (address, coins) = entry
            .split_once('=')
            .with_context(|| format!("--premine {entry:?}: expected ADDRESS=COINS"))?;
        let address = Address::parse(address, &params.address_hrp)
            .with_context(|| format!("--premine {entry:?}"))?;
        let value: Amount = coins
            .parse()
            .with_context(|| format!("--premine {entry:?}"))?;
        premine.push(TxOut {
            value,
            pubkey_hash: address.pubkey_hash(),
        });
    }
    let timestamp = match args.timestamp {
        Some(t) => t,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("system clock is before 1970")?
            .as_secs(),
    };
    let mut network = Network::create(params, premine, timestamp)?;
    network.defaults.default_port = args.default_port;
    network.defaults.dns_seeds = args.dns_seeds;
    std::fs::write(&args.out, network.to_json())
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "wrote {} (network {}, genesis hash {})",
        args.out.display(),
        network.params.name,
        network.genesis_hash
    );
    Ok(())
}
