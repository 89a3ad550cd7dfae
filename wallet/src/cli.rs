//! The command line (DESIGN.md): flags, environment variables and help texts.

use clap::{Parser, Subcommand};
use ferro::primitives::Amount;
use std::path::PathBuf;

/// The default node.
pub const DEFAULT_NODE: &str = "http://127.0.0.1:8000";

const AFTER_HELP: &str = "\
Environment:
  WALLET_PASSWORD          the wallet password (for scripts; otherwise it is prompted)
  WALLET_BIP39_PASSPHRASE  the bip39 passphrase for `new --with-passphrase`
  WALLET_MAX_FEE_RATE      --max-fee-rate: highest fee rate signed for (default 1000)
  WALLET_MAX_FEE           --max-fee: highest fee in coins signed for (default 0.1)
  RUST_LOG                 log filter (logs go to stderr)
  Every flag also reads the environment variable shown with it.

Exit codes: 0 success, 1 a failure you can fix (the message says how), 2 usage error.";

/// Ferro wallet: BIP39 keys in an encrypted file; builds, signs and sends transactions
/// through a node.
#[derive(Parser, Debug)]
#[command(name = "wallet", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// The wallet file [default: $HOME/.ferro/wallet.json].
    #[arg(long, global = true, env = "WALLET_FILE", value_name = "FILE")]
    pub wallet: Option<PathBuf>,

    /// The node to talk to (http://host:port).
    #[arg(long, global = true, env = "WALLET_NODE", value_name = "URL", default_value = DEFAULT_NODE)]
    pub node: String,

    /// Read the wallet password from this file (its first line) instead of prompting.
    #[arg(long, global = true, env = "WALLET_PASSWORD_FILE", value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// A network file (genesis JSON): its address prefix is used without asking the
    /// node, and the node must be on the same network.
    #[arg(long, global = true, env = "WALLET_GENESIS", value_name = "FILE")]
    pub genesis: Option<PathBuf>,

    /// The highest fee rate (base units per byte) `send` and `consolidate` sign for,
    /// whatever the node recommends.
    #[arg(long, global = true, env = "WALLET_MAX_FEE_RATE", value_name = "R",
          default_value_t = crate::guard::DEFAULT_MAX_FEE_RATE)]
    pub max_fee_rate: u64,

    /// The highest fee in coins `send` and `consolidate` sign for (like Bitcoin Core's
    /// maxtxfee).
    #[arg(long, global = true, env = "WALLET_MAX_FEE", value_name = "COINS",
          default_value = "0.1", value_parser = parse_coins_or_zero)]
    pub max_fee: Amount,

    /// Print results as one JSON object (errors too, on stderr) for scripts.
    #[arg(long, global = true, env = "WALLET_JSON")]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a wallet: a new BIP39 mnemonic, shown once, stored encrypted.
    New {
        /// Mnemonic length in words.
        #[arg(long, env = "WALLET_WORDS", default_value = "12", value_parser = ["12", "24"])]
        words: String,
        /// Also protect the keys with a BIP39 passphrase (asked for, or read from
        /// WALLET_BIP39_PASSPHRASE). Without it the mnemonic alone restores the wallet.
        #[arg(long, env = "WALLET_WITH_PASSPHRASE")]
        with_passphrase: bool,
    },
    /// Create a wallet from an existing mnemonic (prompted, or read from standard input:
    /// the mnemonic on the first line, an optional bip39 passphrase on the second).
    Restore,
    /// Show the current receive address.
    Address {
        /// Hand out a fresh receive address instead of the current one.
        #[arg(long = "new", env = "WALLET_NEW_ADDRESS")]
        fresh: bool,
    },
    /// Show the confirmed and unconfirmed balance of all wallet addresses.
    Balance,
    /// List the wallet's unspent outputs.
    Utxos,
    /// List the wallet's transactions, newest first.
    History {
        /// At most this many transactions.
        #[arg(long, env = "WALLET_HISTORY_LIMIT", default_value_t = 25)]
        limit: usize,
    },
    /// Send coins: select coins, add change, show a summary, sign, submit, print the txid.
    Send {
        /// The address to pay.
        #[arg(long, env = "WALLET_TO", value_name = "ADDR")]
        to: String,
        /// The amount in coins, a decimal with at most 8 places (e.g. 1.5).
        #[arg(long, env = "WALLET_AMOUNT", value_name = "COINS", value_parser = parse_coins)]
        amount: Amount,
        /// Fee rate in base units per byte [default: the node's recommended rate].
        #[arg(long, env = "WALLET_FEE_RATE", value_name = "R")]
        fee_rate: Option<u64>,
        /// Send without asking for confirmation.
        #[arg(long, short = 'y', env = "WALLET_YES")]
        yes: bool,
    },
    /// Sweep many small coins into one output back to the wallet, at a low fee rate
    /// (as many coins as fit in one transaction; run again for more).
    Consolidate {
        /// Fee rate in base units per byte [default: the node's minimum rate].
        #[arg(long, env = "WALLET_FEE_RATE", value_name = "R")]
        fee_rate: Option<u64>,
        /// Consolidate without asking for confirmation.
        #[arg(long, short = 'y', env = "WALLET_YES")]
        yes: bool,
    },
}

fn parse_coins_or_zero(text: &str) -> Result<Amount, String> {
    Amount::from_coins_str(text).map_err(|e| e.to_string())
}

fn parse_coins(text: &str) -> Result<Amount, String> {
    let amount = Amount::from_coins_str(text).map_err(|e| e.to_string())?;
    if amount.is_zero() {
        return Err("the amount must be above zero".into());
    }
    Ok(amount)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn amounts_are_exact_decimals() {
        let cli = Cli::try_parse_from([
            "wallet",
            "send",
            "--to",
            "x",
            "--amount",
            "0.00000001",
            "--yes",
        ])
        .unwrap();
        match cli.command {
            Command::Send { amount, yes, .. } => {
                assert_eq!(amount.to_base_units(), 1);
                assert!(yes);
            }
            other => panic!("{other:?}"),
        }
        for bad in ["1.000000001", "-1", "1e3", "0", "abc"] {
            let e = Cli::try_parse_from(["wallet", "send", "--to", "x", "--amount", bad]);
            assert!(e.is_err(), "{bad}");
        }
        assert!(Cli::try_parse_from(["wallet", "new", "--words", "15"]).is_err());
    }
}
