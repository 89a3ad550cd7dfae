//! The wallet commands: each returns an [`Outcome`] (text for people, JSON for scripts)
//! or a [`WalletError`]; `main` prints one or the other and picks the exit code.

use crate::cli::{Cli, Command};
use crate::error::WalletError;
use crate::file::{KdfCost, MacKey, Secrets, WalletFile, WalletState};
use crate::guard::{self, FeeLimits, RateSource};
use crate::keys::{generate_mnemonic, parse_mnemonic, Chain, KeyPath, Keychain, WordCount};
use crate::node::{confirmed_height, hrp_of, NodeClient, UTXO_PAGE};
use crate::prompt::{self, PasswordUse};
use crate::scan::{scan, Scan, ScannedAddress};
use crate::select::{build_transaction, select_coins, tx_size, Candidate, Plan};
use ferro::consensus::Network;
use ferro::json::TransactionJson;
use ferro::primitives::{Address, Amount, BlockHash, OutPoint, PubkeyHash, Txid};
use ferro::wire::{TxSubmitted, Utxo};
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What a successful command prints: `text` normally, `json` with `--json`.
#[derive(Debug)]
pub struct Outcome {
    pub text: String,
    pub json: serde_json::Value,
}

/// Runs the command of `cli`.
pub async fn run(cli: &Cli) -> Result<Outcome, WalletError> {
    let path = wallet_path(cli)?;
    match &cli.command {
        Command::New {
            words,
            with_passphrase,
        } => new_wallet(cli, &path, words, *with_passphrase),
        Command::Restore => restore(cli, &path),
        Command::Address { fresh } => address(cli, &path, *fresh).await,
        Command::Balance => balance(cli, &path).await,
        Command::Utxos => utxos(cli, &path).await,
        Command::History { limit } => history(cli, &path, *limit).await,
        Command::Send {
            to,
            amount,
            fee_rate,
            yes,
        } => send(cli, &path, to, *amount, *fee_rate, *yes).await,
        Command::Consolidate { fee_rate, yes } => consolidate(cli, &path, *fee_rate, *yes).await,
    }
}

/// `--wallet`, or `$HOME/.ferro/wallet.json`.
pub fn wallet_path(cli: &Cli) -> Result<PathBuf, WalletError> {
    if let Some(p) = &cli.wallet {
        return Ok(p.clone());
    }
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => {
            Ok(PathBuf::from(home).join(".ferro").join("wallet.json"))
        }
        _ => Err(WalletError::Invalid(
            "no wallet file given and HOME is not set: pass --wallet FILE or set WALLET_FILE"
                .into(),
        )),
    }
}

fn refuse_existing(path: &Path) -> Result<(), WalletError> {
    if path.exists() {
        return Err(WalletError::WalletExists {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

fn new_wallet(
    cli: &Cli,
    path: &Path,
    words: &str,
    with_passphrase: bool,
) -> Result<Outcome, WalletError> {
    refuse_existing(path)?;
    let count = if words == "24" {
        WordCount::TwentyFour
    } else {
        WordCount::Twelve
    };
    let mnemonic = generate_mnemonic(count)?;
    let passphrase = if with_passphrase {
        prompt::new_passphrase()?
    } else {
        Default::default()
    };
    let secrets = create_file(cli, path, mnemonic.to_string(), passphrase.to_string())?;
    let mut text = format!(
        "created wallet {}\n\nyour recovery mnemonic ({} words):\n\n    {}\n\n",
        path.display(),
        mnemonic.word_count(),
        secrets.mnemonic
    );
    text.push_str(
        "write these words down on paper, in order, and keep them private and safe.\n\
         anyone who has them can spend your coins; without them a lost wallet file or\n\
         forgotten password cannot be recovered. they will not be shown again.",
    );
    if with_passphrase {
        text.push_str("\nthe wallet also uses your bip39 passphrase: restoring needs it too.");
    }
    Ok(Outcome {
        text,
        json: json!({
            "file": path.display().to_string(),
            "mnemonic": secrets.mnemonic,
            "words": mnemonic.word_count(),
            "passphrase": with_passphrase,
            "warning": "write the mnemonic down and keep it private; it is not shown again",
        }),
    })
}

/// Asks for the new wallet's password and writes the encrypted secrets to `path`,
/// refusing to overwrite a file.
fn create_file(
    cli: &Cli,
    path: &Path,
    mnemonic: String,
    passphrase: String,
) -> Result<Secrets, WalletError> {
    let password = prompt::password(cli.password_file.as_deref(), PasswordUse::Create)?;
    let secrets = Secrets {
        mnemonic,
        passphrase,
    };
    WalletFile::encrypt(
        &secrets,
        &password,
        KdfCost::DEFAULT,
        WalletState::default(),
    )?
    .save(path, true)?;
    Ok(secrets)
}

fn restore(cli: &Cli, path: &Path) -> Result<Outcome, WalletError> {
    refuse_existing(path)?;
    let (words, passphrase) = prompt::mnemonic_and_passphrase()?;
    let mnemonic = parse_mnemonic(&words)?;
    create_file(cli, path, mnemonic.to_string(), passphrase.to_string())?;
    Ok(Outcome {
        text: format!(
            "restored wallet {} ({} words{}); run `wallet balance` to find its coins",
            path.display(),
            mnemonic.word_count(),
            if passphrase.is_empty() {
                ""
            } else {
                ", with a bip39 passphrase"
            }
        ),
        json: json!({
            "file": path.display().to_string(),
            "words": mnemonic.word_count(),
            "passphrase": !passphrase.is_empty(),
        }),
    })
}

/// An open wallet: the file and the keys its secrets give.
struct Unlocked {
    path: PathBuf,
    file: WalletFile,
    /// Re-seals the file when its counters change.
    mac_key: MacKey,
    keys: Keychain,
}

/// Loads the file (so a missing file is reported before any prompt), asks for the
/// password and derives the keychain.
fn unlock(cli: &Cli, path: &Path) -> Result<Unlocked, WalletError> {
    let file = WalletFile::load(path)?;
    let password = prompt::password(cli.password_file.as_deref(), PasswordUse::Unlock)?;
    let (secrets, mac_key) = file.open(&password, path)?;
    let (file, mac_key) = match mac_key {
        Some(key) => (file, key),
        None => {
            // A version 1 file: rewrite it with everything authenticated.
            let (migrated, key) = file.migrate(&secrets, &password)?;
            migrated.save(path, false)?;
            eprintln!(
                "note: upgraded wallet file {} to version {} (authenticated parameters and counters)",
                path.display(),
                crate::file::VERSION
            );
            (migrated, key)
        }
    };
    let mnemonic = parse_mnemonic(&secrets.mnemonic).map_err(|e| WalletError::CorruptWallet {
        path: path.to_path_buf(),
        reason: format!("the stored mnemonic is not valid ({e})"),
    })?;
    let keys = Keychain::from_mnemonic(&mnemonic, &secrets.passphrase)?;
    Ok(Unlocked {
        path: path.to_path_buf(),
        file,
        mac_key,
        keys,
    })
}

impl Unlocked {
    /// Re-seals the file (its counters changed) and writes it.
    fn save(&mut self) -> Result<(), WalletError> {
        self.file.seal(&self.mac_key)?;
        self.file.save(&self.path, false)
    }

    /// Moves the counters past addresses the scan found used; saves if they moved.
    /// Saving is best effort here: a read-only file must not break `balance`.
    fn advance(&mut self, scan: &Scan) {
        let state = &mut self.file.state;
        let before = *state;
        state.receive_index = state.receive_index.max(scan.next_unused(Chain::Receive));
        state.change_index = state.change_index.max(scan.next_unused(Chain::Change));
        state.receive_index = state.receive_index.min(crate::file::MAX_ADDRESS_INDEX);
        state.change_index = state.change_index.min(crate::file::MAX_ADDRESS_INDEX);
        if *state != before {
            if let Err(e) = self.save() {
                tracing::warn!("could not record the new address counters: {e}");
            }
        }
    }

    /// The next unused change address and its path.
    fn next_change(&self, hrp: &str) -> Result<(KeyPath, Address), WalletError> {
        let path = KeyPath {
            chain: Chain::Change,
            index: self.file.state.change_index,
        };
        Ok((path, self.keys.address(hrp, path)?))
    }

    /// Signs `plan` (paying `to`, change to `change_to`), submits it, and checks that the
    /// node took it under the txid the wallet computed.
    async fn sign_and_submit(
        &self,
        node: &NodeClient,
        net: &NetworkInfo,
        plan: &Plan<KeyPath>,
        to: PubkeyHash,
        change_to: PubkeyHash,
    ) -> Result<(Txid, TxSubmitted), WalletError> {
        let tx = build_transaction(plan, to, change_to, &net.genesis_hash, |p: &KeyPath| {
            self.keys.secret_key(*p)
        })?;
        let txid = tx.txid();
        let body = TransactionJson::from_transaction(&tx, &net.hrp, Some(plan.fee));
        tracing::debug!(%txid, size = tx.size(), "submitting");
        let submitted = node.submit(&body).await?;
        let node_txid = NodeClient::parse_txid(&submitted.txid)?;
        if node_txid != txid {
            return Err(WalletError::NodeProtocol(format!(
                "the node accepted the transaction as {node_txid}, but its txid is {txid}"
            )));
        }
        Ok((txid, submitted))
    }

    /// Moves the change counter past `used` once a transaction paying it was sent. Best
    /// effort: the coins are sent, and the next scan moves the counter past it anyway.
    fn record_change_used(&mut self, used: KeyPath) {
        self.file.state.change_index = used
            .index
            .saturating_add(1)
            .min(crate::file::MAX_ADDRESS_INDEX);
        if let Err(e) = self.save() {
            eprintln!("warning: sent, but could not record the change address used: {e}");
        }
    }

    async fn scan(&self, node: &NodeClient, hrp: &str) -> Result<Scan, WalletError> {
        let state = self.file.state;
        scan(
            node,
            &self.keys,
            hrp,
            state.receive_index.saturating_add(1),
            state.change_index,
        )
        .await
    }
}

/// The network facts a command needs.
struct NetworkInfo {
    hrp: String,
    genesis_hash: BlockHash,
}

fn network_file(path: &Path) -> Result<Network, WalletError> {
    let bad = |reason: String| WalletError::BadNetworkFile {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    Network::from_json(&text).map_err(|e| bad(e.to_string()))
}

/// The network of the node, checked against `--genesis` when given.
async fn network(cli: &Cli, node: &NodeClient) -> Result<NetworkInfo, WalletError> {
    let info = node.info().await?;
    let genesis_hash = BlockHash::from_hex(&info.genesis_hash)
        .map_err(|e| WalletError::NodeProtocol(format!("bad genesis_hash in /info: {e}")))?;
    if let Some(path) = &cli.genesis {
        let net = network_file(path)?;
        if net.genesis_hash != genesis_hash {
            return Err(WalletError::NodeWrongNetwork {
                url: node.url().to_string(),
                expected: net.genesis_hash.to_hex(),
                found: genesis_hash.to_hex(),
            });
        }
        return Ok(NetworkInfo {
            hrp: net.params.address_hrp,
            genesis_hash,
        });
    }
    Ok(NetworkInfo {
        hrp: hrp_of(&info).to_string(),
        genesis_hash,
    })
}

async fn address(cli: &Cli, path: &Path, fresh: bool) -> Result<Outcome, WalletError> {
    let mut w = unlock(cli, path)?;
    // With a network file the address needs no node.
    let hrp = match &cli.genesis {
        Some(file) => network_file(file)?.params.address_hrp,
        None => {
            let node = NodeClient::new(&cli.node)?;
            network(cli, &node).await?.hrp
        }
    };
    if fresh {
        w.file.state.receive_index = w
            .file
            .state
            .receive_index
            .checked_add(1)
            .filter(|i| *i <= crate::file::MAX_ADDRESS_INDEX)
            .ok_or_else(|| {
                WalletError::Invalid(format!(
                    "no receive addresses left: this wallet hands out at most {} (reuse one, or make a new wallet)",
                    crate::file::MAX_ADDRESS_INDEX
                ))
            })?;
        w.save()?;
    }
    let key_path = KeyPath {
        chain: Chain::Receive,
        index: w.file.state.receive_index,
    };
    let address = w.keys.address(&hrp, key_path)?;
    Ok(Outcome {
        text: address.to_string(),
        json: json!({
            "address": address.to_string(),
            "path": key_path.to_string(),
            "index": key_path.index,
        }),
    })
}

async fn balance(cli: &Cli, path: &Path) -> Result<Outcome, WalletError> {
    let mut w = unlock(cli, path)?;
    let node = NodeClient::new(&cli.node)?;
    let net = network(cli, &node).await?;
    let scan = w.scan(&node, &net.hrp).await?;
    w.advance(&scan);
    let confirmed: u64 = scan.used.iter().map(|a| a.summary.balance).sum();
    let unconfirmed: i64 = scan
        .used
        .iter()
        .map(|a| a.summary.unconfirmed_balance)
        .sum();
    let total = i128::from(confirmed) + i128::from(unconfirmed);
    let count = |c: Chain| scan.used.iter().filter(|a| a.path.chain == c).count();
    let text = format!(
        "confirmed:   {} coins\nunconfirmed: {} coins\ntotal:       {} coins\n({} receive and {} change addresses used)",
        coins(i128::from(confirmed)),
        coins_signed(i128::from(unconfirmed)),
        coins(total),
        count(Chain::Receive),
        count(Chain::Change),
    );
    Ok(Outcome {
        text,
        json: json!({
            "confirmed": confirmed,
            "unconfirmed": unconfirmed,
            "total": total as i64,
            "used_addresses": scan.used.len(),
        }),
    })
}

/// Base units as coins with 8 decimals, negative values with a sign.
fn coins(units: i128) -> String {
    let sign = if units < 0 { "-" } else { "" };
    let abs = units.unsigned_abs();
    format!("{sign}{}.{:08}", abs / 100_000_000, abs % 100_000_000)
}

/// Like [`coins`] with an explicit `+` for positive values.
fn coins_signed(units: i128) -> String {
    if units > 0 {
        format!("+{}", coins(units))
    } else {
        coins(units)
    }
}

/// How often the listing of one address starts over because the tip moved.
const MAX_LISTING_RESTARTS: usize = 5;
/// The most coins the wallet reads for one address (200 pages of 1 000).
const MAX_COINS_PER_ADDRESS: usize = 200_000;

/// Every coin the node lists for `address`, page by page. When the tip changes between
/// pages the listing starts over (at most [`MAX_LISTING_RESTARTS`] times), so the list is
/// one consistent snapshot.
async fn list_address_utxos(
    node: &NodeClient,
    address: &Address,
) -> Result<Vec<Utxo>, WalletError> {
    let bad = |what: String| {
        WalletError::NodeProtocol(format!(
            "listing the coins of {address} at {}: {what}",
            node.url()
        ))
    };
    'attempt: for _ in 0..=MAX_LISTING_RESTARTS {
        let mut list: Vec<Utxo> = Vec::new();
        let mut seen = HashSet::new();
        let mut tip: Option<String> = None;
        let mut after: Option<String> = None;
        loop {
            let page = node
                .utxos_page(address, after.as_deref(), UTXO_PAGE)
                .await?;
            match (&tip, &page.tip_hash) {
                (Some(first), Some(now)) if first != now => continue 'attempt,
                (None, now) if after.is_none() => tip = now.clone(),
                _ => {}
            }
            for u in page.utxos {
                if !seen.insert((u.txid.clone(), u.vout)) {
                    return Err(bad(format!("coin {}:{} listed twice", u.txid, u.vout)));
                }
                list.push(u);
            }
            if list.len() > MAX_COINS_PER_ADDRESS {
                return Err(bad(format!(
                    "more than {MAX_COINS_PER_ADDRESS} coins; consolidate them with a wallet that reads fewer at a time"
                )));
            }
            match page.next {
                Some(next) if after.as_deref() == Some(next.as_str()) => {
                    return Err(bad(format!("the next page cursor {next} does not advance")));
                }
                Some(next) => after = Some(next),
                None => return Ok(list),
            }
        }
    }
    Err(bad(format!(
        "the chain tip changed during each of {} attempts; try again",
        MAX_LISTING_RESTARTS + 1
    )))
}

/// The wallet's unspent outputs with the address and key path they belong to.
async fn collect_utxos(
    node: &NodeClient,
    scan: &Scan,
) -> Result<Vec<(Utxo, ScannedAddress)>, WalletError> {
    let mut out = Vec::new();
    for a in &scan.used {
        let s = &a.summary;
        if s.utxo_count == 0 && s.balance == 0 && s.unconfirmed_balance == 0 {
            continue;
        }
        for u in list_address_utxos(node, &a.address).await? {
            out.push((u, a.clone()));
        }
    }
    Ok(out)
}

/// The wallet's coins as spending candidates, each address's list checked against the
/// balance the node reports for it. Returns the spendable ones and the value of the rest.
async fn spendable_coins(
    node: &NodeClient,
    scan: &Scan,
) -> Result<(Vec<Candidate<KeyPath>>, Amount), WalletError> {
    let listed = collect_utxos(node, scan).await?;
    let mut sums: BTreeMap<String, u128> = BTreeMap::new();
    let mut candidates = Vec::new();
    let mut unspendable = Amount::ZERO;
    for (u, a) in &listed {
        *sums.entry(a.address.to_string()).or_default() += u128::from(u.value);
        let bad =
            |what: &str| WalletError::NodeProtocol(format!("utxo {}:{}: {what}", u.txid, u.vout));
        let value = Amount::from_base_units(u.value).map_err(|e| bad(&e.to_string()))?;
        if !u.spendable {
            unspendable = unspendable.checked_add(value).unwrap_or(Amount::MAX);
            continue;
        }
        let txid = Txid::from_hex(&u.txid).map_err(|e| bad(&e.to_string()))?;
        candidates.push(Candidate {
            outpoint: OutPoint { txid, vout: u.vout },
            value,
            key: a.path,
        });
    }
    // The coins must add up to the balance the node reports for each address (asked
    // again now, so it describes the same tip as the listing).
    for a in &scan.used {
        let listed_sum = sums.get(&a.address.to_string()).copied().unwrap_or(0);
        if listed_sum == 0 && a.summary.balance == 0 {
            continue;
        }
        let summary = node.address(&a.address).await?;
        guard::check_balance(
            node.url(),
            &a.address.to_string(),
            listed_sum,
            summary.balance,
        )?;
    }
    Ok((candidates, unspendable))
}

/// Each coin the plan spends must be what its previous transaction says: same value,
/// paid to the wallet's key.
async fn verify_plan_coins(
    node: &NodeClient,
    keys: &Keychain,
    hrp: &str,
    plan: &Plan<KeyPath>,
) -> Result<(), WalletError> {
    for coin in &plan.inputs {
        let ours = keys.public_key(coin.key)?.pubkey_hash();
        let tx = node.transaction(&coin.outpoint.txid.to_hex()).await?;
        let previous = match tx.outputs.get(coin.outpoint.vout as usize) {
            None => None,
            Some(o) => {
                let value = Amount::from_base_units(o.value).map_err(|e| {
                    WalletError::NodeProtocol(format!("transaction {}: {e}", coin.outpoint.txid))
                })?;
                let owner = Address::parse(&o.address, hrp)?.pubkey_hash();
                Some((value, owner))
            }
        };
        guard::check_coin(node.url(), &coin.outpoint, coin.value, ours, previous)?;
    }
    Ok(())
}

/// The fee rate to use: the user's, or the node's (recommended, or minimum for a
/// consolidation); refused above `--max-fee-rate` either way.
async fn choose_fee_rate(
    cli: &Cli,
    node: &NodeClient,
    given: Option<u64>,
    low: bool,
) -> Result<u64, WalletError> {
    let (rate, source) = match given {
        Some(rate) => (rate, RateSource::User),
        None => {
            let fees = node.fees().await?;
            let rate = if low {
                fees.min_fee_rate
            } else {
                fees.recommended_fee_rate.max(fees.min_fee_rate)
            };
            (rate.max(1), RateSource::Node(node.url().to_string()))
        }
    };
    guard::check_fee_rate(rate, &source, limits(cli))?;
    Ok(rate)
}

fn limits(cli: &Cli) -> FeeLimits {
    FeeLimits {
        max_fee_rate: cli.max_fee_rate,
        max_fee: cli.max_fee,
    }
}

/// "1 input" / "3 inputs".
fn inputs_text(n: usize) -> String {
    format!("{n} input{}", if n == 1 { "" } else { "s" })
}

async fn utxos(cli: &Cli, path: &Path) -> Result<Outcome, WalletError> {
    let mut w = unlock(cli, path)?;
    let node = NodeClient::new(&cli.node)?;
    let net = network(cli, &node).await?;
    let scan = w.scan(&node, &net.hrp).await?;
    w.advance(&scan);
    let list = collect_utxos(&node, &scan).await?;
    let mut text = String::new();
    let mut rows = Vec::new();
    for (u, a) in &list {
        let mut notes = Vec::new();
        if u.coinbase {
            notes.push("coinbase");
        }
        if !u.spendable {
            notes.push("not spendable yet");
        }
        let _ = writeln!(
            text,
            "{}:{}  {} coins  height {}  {}  {}{}",
            u.txid,
            u.vout,
            coins(i128::from(u.value)),
            u.height,
            a.address,
            a.path,
            if notes.is_empty() {
                String::new()
            } else {
                format!("  ({})", notes.join(", "))
            }
        );
        rows.push(json!({
            "txid": u.txid, "vout": u.vout, "value": u.value, "height": u.height,
            "coinbase": u.coinbase, "spendable": u.spendable,
            "address": a.address.to_string(), "path": a.path.to_string(),
        }));
    }
    if list.is_empty() {
        text.push_str("no unspent outputs");
    }
    Ok(Outcome {
        text: text.trim_end().to_string(),
        json: json!({ "utxos": rows }),
    })
}

async fn history(cli: &Cli, path: &Path, limit: usize) -> Result<Outcome, WalletError> {
    let mut w = unlock(cli, path)?;
    let node = NodeClient::new(&cli.node)?;
    let net = network(cli, &node).await?;
    let scan = w.scan(&node, &net.hrp).await?;
    w.advance(&scan);
    let ours: HashSet<String> = scan.used.iter().map(|a| a.address.to_string()).collect();
    let mut our_keys = HashSet::new();
    for a in &scan.used {
        our_keys.insert(w.keys.public_key(a.path)?.to_hex());
    }
    let mut entries = HashMap::new();
    for a in &scan.used {
        for entry in node.history(&a.address, limit).await? {
            let txid = entry.txid.clone().ok_or_else(|| {
                WalletError::NodeProtocol(format!(
                    "the history of {} at {} lists a transaction without its txid",
                    a.address,
                    node.url()
                ))
            })?;
            entries.entry(txid).or_insert(entry);
        }
    }
    let mut entries: Vec<(String, TransactionJson)> = entries.into_iter().collect();
    // Pending first, then newest block first.
    entries.sort_by(|(a_txid, a), (b_txid, b)| {
        let key = |e: &TransactionJson| confirmed_height(e).map_or(u64::MAX, |h| h);
        key(b).cmp(&key(a)).then(a_txid.cmp(b_txid))
    });
    entries.truncate(limit);
    let mut text = String::new();
    let mut rows = Vec::new();
    for (txid, e) in &entries {
        let received: u64 = e
            .outputs
            .iter()
            .filter(|o| ours.contains(&o.address))
            .map(|o| o.value)
            .sum();
        // What the wallet spent: the values of the outputs its inputs consumed.
        let mut sent: Option<u64> = Some(0);
        for input in e.inputs.iter().filter(|i| our_keys.contains(&i.public_key)) {
            let value = node
                .output(&input.txid, input.vout)
                .await
                .ok()
                .map(|o| o.value);
            sent = sent.zip(value).map(|(s, v)| s.saturating_add(v));
        }
        let net_units = sent.map(|s| i128::from(received) - i128::from(s));
        let height = confirmed_height(e);
        let when = height.map_or("pending".to_string(), |h| format!("height {h}"));
        let _ = writeln!(
            text,
            "{when:>14}  {txid}  {}{}",
            net_units.map_or("?".into(), |n| format!("{} coins", coins_signed(n))),
            e.fee
                .filter(|_| sent.is_some_and(|s| s > 0))
                .map_or(String::new(), |f| format!(
                    " (fee {})",
                    coins(i128::from(f))
                ))
        );
        rows.push(json!({
            "txid": txid,
            "height": height,
            "received": received,
            "sent": sent,
            "net": net_units.map(|n| n as i64),
            "fee": e.fee,
        }));
    }
    if entries.is_empty() {
        text.push_str("no transactions");
    }
    Ok(Outcome {
        text: text.trim_end().to_string(),
        json: json!({ "transactions": rows }),
    })
}

async fn send(
    cli: &Cli,
    path: &Path,
    to: &str,
    amount: Amount,
    fee_rate: Option<u64>,
    yes: bool,
) -> Result<Outcome, WalletError> {
    let mut w = unlock(cli, path)?;
    let node = NodeClient::new(&cli.node)?;
    let net = network(cli, &node).await?;
    let to = Address::parse(to.trim(), &net.hrp)?;
    let fee_rate = choose_fee_rate(cli, &node, fee_rate, false).await?;
    let scan = w.scan(&node, &net.hrp).await?;
    w.advance(&scan);

    let (candidates, unspendable) = spendable_coins(&node, &scan).await?;
    let plan = select_coins(&candidates, amount, fee_rate).map_err(|e| match e {
        WalletError::InsufficientFunds {
            available,
            needed,
            amount,
            fee,
            fee_rate,
            ..
        } => WalletError::InsufficientFunds {
            available,
            needed,
            amount,
            fee,
            fee_rate,
            unspendable,
        },
        other => other,
    })?;
    // Whatever the node said: never sign above the limits, never over unverified coins.
    guard::check_fee(plan.fee, limits(cli))?;
    verify_plan_coins(&node, &w.keys, &net.hrp, &plan).await?;
    let (change_path, change_address) = w.next_change(&net.hrp)?;

    let (share, high) = guard::fee_share(plan.fee, amount);
    let mut summary = format!(
        "send   {} coins to {}\nfee    {} coins, {share} of the amount ({} base units/byte x {} bytes, {})",
        amount.to_coins_string(),
        to,
        plan.fee.to_coins_string(),
        plan.fee_rate,
        plan.size,
        inputs_text(plan.inputs.len()),
    );
    if high {
        let _ = write!(
            summary,
            "\nwarning: the fee is more than 1% of the amount sent"
        );
    }
    match plan.change {
        Some(change) => {
            let _ = write!(
                summary,
                "\nchange {} coins back to {} ({})",
                change.to_coins_string(),
                change_address,
                change_path
            );
        }
        None if !plan.dust_to_fee.is_zero() => {
            let _ = write!(
                summary,
                "\nno change: the {} coins left over are less than a change output is worth, so they go to the fee",
                plan.dust_to_fee.to_coins_string()
            );
        }
        None => {}
    }
    if !yes {
        eprintln!("{summary}");
        prompt::confirm("send?")?;
    }

    let (txid, submitted) = w
        .sign_and_submit(
            &node,
            &net,
            &plan,
            to.pubkey_hash(),
            change_address.pubkey_hash(),
        )
        .await?;
    if plan.change.is_some() {
        w.record_change_used(change_path);
    }
    let mut json_plan = BTreeMap::new();
    json_plan.insert("txid", json!(txid.to_hex()));
    json_plan.insert("status", json!(submitted.status));
    json_plan.insert("to", json!(to.to_string()));
    json_plan.insert("amount", json!(amount.to_base_units()));
    json_plan.insert("fee", json!(plan.fee.to_base_units()));
    json_plan.insert("fee_rate", json!(plan.fee_rate));
    json_plan.insert("size", json!(plan.size));
    json_plan.insert("inputs", json!(plan.inputs.len()));
    json_plan.insert("fee_share", json!(share));
    json_plan.insert("dust_to_fee", json!(plan.dust_to_fee.to_base_units()));
    json_plan.insert(
        "change",
        match plan.change {
            Some(c) => json!({
                "value": c.to_base_units(),
                "address": change_address.to_string(),
                "path": change_path.to_string(),
            }),
            None => serde_json::Value::Null,
        },
    );
    if yes && !cli.json {
        eprintln!("{summary}");
    }
    if !cli.json {
        eprintln!("sent with {}", inputs_text(plan.inputs.len()));
    }
    Ok(Outcome {
        text: txid.to_hex(),
        json: json!(json_plan),
    })
}

/// The policy limit on a transaction's size (PROTOCOL.md section 8).
const MAX_TX_SIZE: usize = 100_000;

/// `consolidate`: sweeps the wallet's smallest coins into one output on a fresh change
/// address, as many as fit in one transaction. Coins worth less than the cost of spending
/// them at this fee rate are left alone.
async fn consolidate(
    cli: &Cli,
    path: &Path,
    fee_rate: Option<u64>,
    yes: bool,
) -> Result<Outcome, WalletError> {
    let mut w = unlock(cli, path)?;
    let node = NodeClient::new(&cli.node)?;
    let net = network(cli, &node).await?;
    let fee_rate = choose_fee_rate(cli, &node, fee_rate, true).await?;
    let scan = w.scan(&node, &net.hrp).await?;
    w.advance(&scan);
    let (mut candidates, _) = spendable_coins(&node, &scan).await?;
    let input_cost = fee_rate.saturating_mul(crate::select::INPUT_SIZE as u64);
    let total_coins = candidates.len();
    candidates.retain(|c| c.value.to_base_units() > input_cost);
    let uneconomic = total_coins - candidates.len();
    // Smallest first: those are the coins worth sweeping.
    candidates.sort_by(|a, b| a.value.cmp(&b.value).then(a.outpoint.cmp(&b.outpoint)));
    let max_inputs = (MAX_TX_SIZE - tx_size(0, 1)) / crate::select::INPUT_SIZE;
    candidates.truncate(max_inputs);
    if candidates.len() < 2 {
        return Err(WalletError::Invalid(format!(
            "nothing to consolidate: {} spendable coin{} worth more than spending {} costs at {fee_rate} base units/byte",
            candidates.len(),
            if candidates.len() == 1 { " is" } else { "s are" },
            if candidates.len() == 1 { "it" } else { "them" },
        )));
    }
    let size = tx_size(candidates.len(), 1);
    let fee = crate::select::fee_for(fee_rate, size)
        .ok_or_else(|| WalletError::BadAmount("fee exceeds MAX_MONEY".into()))?;
    let total = Amount::checked_sum(candidates.iter().map(|c| c.value))
        .ok_or_else(|| WalletError::BadAmount("coins exceed MAX_MONEY".into()))?;
    let amount = total
        .checked_sub(fee)
        .filter(|a| !a.is_zero())
        .ok_or_else(|| WalletError::Invalid("the coins do not cover the fee".into()))?;
    crate::select::check_not_dust(amount)?;
    let plan = Plan {
        inputs: candidates,
        amount,
        fee,
        change: None,
        dust_to_fee: Amount::ZERO,
        fee_rate,
        size,
    };
    guard::check_fee(plan.fee, limits(cli))?;
    verify_plan_coins(&node, &w.keys, &net.hrp, &plan).await?;
    let (to_path, to) = w.next_change(&net.hrp)?;
    let (share, _) = guard::fee_share(plan.fee, total);
    let mut summary = format!(
        "consolidate {} coins worth {} coins into one output of {} coins to {} ({})\nfee    {} coins, {share} of the value ({} base units/byte x {} bytes)",
        plan.inputs.len(),
        total.to_coins_string(),
        amount.to_coins_string(),
        to,
        to_path,
        plan.fee.to_coins_string(),
        plan.fee_rate,
        plan.size,
    );
    let left = total_coins - plan.inputs.len();
    if left > 0 {
        let _ = write!(
            summary,
            "\n{left} other coin{} left as {} ({uneconomic} worth less than spending them costs); run consolidate again after this one confirms",
            if left == 1 { " is" } else { "s are" },
            if left == 1 { "it is" } else { "they are" },
        );
    }
    if !yes {
        eprintln!("{summary}");
        prompt::confirm("consolidate?")?;
    } else if !cli.json {
        eprintln!("{summary}");
    }
    let (txid, submitted) = w
        .sign_and_submit(&node, &net, &plan, to.pubkey_hash(), to.pubkey_hash())
        .await?;
    w.record_change_used(to_path);
    Ok(Outcome {
        text: txid.to_hex(),
        json: json!({
            "txid": txid.to_hex(),
            "status": submitted.status,
            "inputs": plan.inputs.len(),
            "value": total.to_base_units(),
            "amount": amount.to_base_units(),
            "fee": plan.fee.to_base_units(),
            "fee_rate": plan.fee_rate,
            "size": plan.size,
            "to": to.to_string(),
            "left": left,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coin_formatting() {
        assert_eq!(coins(150_000_000), "1.50000000");
        assert_eq!(coins(-1), "-0.00000001");
        assert_eq!(coins_signed(5), "+0.00000005");
        assert_eq!(coins_signed(0), "0.00000000");
    }
}
