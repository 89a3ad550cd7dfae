//! The `full_node` binary: runs a node, or makes a new network file (`genesis`).

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use ferro::consensus::{Network, NetworkParams};
use ferro::primitives::{Address, Amount, Target, TxOut};
use std::path::PathBuf;
use std::process::ExitCode;

/// A Ferro full node: validates, stores, mines and relays blocks and transactions.
#[derive(Parser, Debug)]
#[command(name = "full_node", version, about)]
struct Cli {
    /// Network file (JSON) of the network to join; the built-in devnet when omitted.
    #[arg(long, env = "FULL_NODE_GENESIS", global = true)]
    genesis: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Genesis(args)) => make_genesis(args),
        None => run_node(cli.genesis),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn run_node(genesis: Option<PathBuf>) -> anyhow::Result<()> {
    let network = load_network(genesis)?;
    bail!(
        "network {} ({}) loaded, but the node runtime is not part of this build yet",
        network.params.name,
        network.genesis_hash
    )
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
    let network = Network::create(params, premine, timestamp)?;
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
