//! The mempool: valid unconfirmed transactions waiting for a block (PROTOCOL.md section 8).
//!
//! A pure data structure: no I/O, no locks, no clocks. The node wraps it in a mutex and
//! passes in the confirmed UTXO set at the tip, the height the next block will have, the
//! network parameters and the signature cache.
//!
//! Policy (documented in `docs/mempool.md`):
//! - conflicts with a pool transaction are refused (`double-spend`), never replaced;
//! - a transaction may spend outputs of pool transactions (unconfirmed chains); the pool
//!   tracks parents and children so a transaction leaves together with its descendants;
//! - the pool is bounded in real memory ([`Mempool::usage`], an estimate of the heap its
//!   transactions and indexes hold, after Bitcoin Core's `DynamicMemoryUsage`), not only in
//!   serialized bytes; when full, the lowest fee-rate transactions (with their
//!   descendants) make room for a newcomer that pays a strictly higher rate;
//! - fee rates are compared exactly, by cross-multiplication in `u128`, never as floats;
//! - an output below the dust limit is refused (`dust`), and a transaction waits at most
//!   the expiry (14 days by default), then leaves with its descendants
//!   ([`Mempool::expire`]). The pool reads the time only through its [`Clock`], which
//!   tests replace.

use crate::chain::sigcache::SigCache;
use crate::clock::Clock;
use crate::consensus::validation::{
    check_transaction_inputs, verify_signatures_parallel, Coin, TxError, TxSpend, UtxoView,
};
use crate::consensus::NetworkParams;
use crate::error::{Code, ErrorCode};
use crate::primitives::{
    Amount, Block, BlockHash, Height, OutPoint, PubkeyHash, Sighash, Transaction, TxIn, TxOut, Txid,
};
use memusage::{btree_set_usage, hash_map_capacity_after, hash_map_usage, vec_usage};
use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::fmt;

pub mod memusage;
pub mod orphans;
pub mod persist;

/// How much memory a largest transaction is assumed to need, per serialized byte, when
/// [`Mempool::min_fee_rate`] asks whether the pool still has room for one: a transaction's
/// usage (its heap, its spent-outpoint and address index entries) is at most about four
/// times its size (many outputs to distinct addresses), two for typical ones.
const LARGEST_TX_USAGE_PER_BYTE: usize = 4;

/// Policy limits of the pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MempoolConfig {
    /// Bound on the pool's memory use, [`Mempool::usage`]: an estimate of the heap its
    /// transactions and indexes hold (not the sum of their encoded sizes, which is
    /// [`Mempool::bytes`] and several times smaller).
    pub max_usage: usize,
    /// Base units per byte a transaction must pay to enter at all.
    pub min_fee_rate: u64,
    /// Largest transaction accepted, in encoded bytes. Also how much free room the pool
    /// must have before it stops reporting a raised entry rate (see
    /// [`Mempool::min_fee_rate`]).
    pub max_tx_size: usize,
    /// Outputs below this many base units are refused (`dust`, PROTOCOL.md section 8).
    pub dust_limit: u64,
    /// Seconds a transaction may wait in the pool; then [`Mempool::expire`] drops it with
    /// its descendants (`--mempool-expiry`).
    pub expiry_secs: u64,
}

/// Default dust limit, base units.
pub const DEFAULT_DUST_LIMIT: u64 = 500;
/// Default expiry: 14 days.
pub const DEFAULT_EXPIRY_SECS: u64 = 14 * 24 * 60 * 60;

impl Default for MempoolConfig {
    fn default() -> MempoolConfig {
        MempoolConfig {
            max_usage: 64 * 1024 * 1024,
            min_fee_rate: 1,
            max_tx_size: 100_000,
            dust_limit: DEFAULT_DUST_LIMIT,
            expiry_secs: DEFAULT_EXPIRY_SECS,
        }
    }
}

/// A fee over a size: an exact rational, compared by cross-multiplication.
///
/// Equality is equality of the ratio (1/2 equals 2/4), consistent with the ordering.
#[derive(Clone, Copy, Debug)]
pub struct FeeRate {
    fee: Amount,
    size: usize,
}

impl FeeRate {
    /// The rate of `fee` over `size` bytes. A size of zero is treated as one byte (no
    /// transaction encodes to fewer than 16 bytes, so this never matters in practice).
    pub fn new(fee: Amount, size: usize) -> FeeRate {
        FeeRate {
            fee,
            size: size.max(1),
        }
    }

    pub fn fee(&self) -> Amount {
        self.fee
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// Whole base units per byte, rounded down.
    pub fn per_byte_floor(&self) -> u64 {
        self.fee.to_base_units() / self.size as u64
    }

    /// The smallest whole rate in base units per byte that is strictly above this one.
    pub fn next_whole_rate(&self) -> u64 {
        self.per_byte_floor().saturating_add(1)
    }

    /// Whether the rate is at least `per_byte` base units per byte.
    pub fn meets(&self, per_byte: u64) -> bool {
        u128::from(self.fee.to_base_units()) >= u128::from(per_byte) * self.size as u128
    }
}

impl Ord for FeeRate {
    fn cmp(&self, other: &FeeRate) -> Ordering {
        // fee_a / size_a vs fee_b / size_b  <=>  fee_a * size_b vs fee_b * size_a
        let a = u128::from(self.fee.to_base_units()) * other.size as u128;
        let b = u128::from(other.fee.to_base_units()) * self.size as u128;
        a.cmp(&b)
    }
}

impl PartialOrd for FeeRate {
    fn partial_cmp(&self, other: &FeeRate) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for FeeRate {
    fn eq(&self, other: &FeeRate) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for FeeRate {}

impl fmt::Display for FeeRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} base units over {} bytes",
            self.fee.to_base_units(),
            self.size
        )
    }
}

/// Why a transaction was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// A consensus rule of PROTOCOL.md section 3; its code is the rule's.
    #[error(transparent)]
    Tx(#[from] TxError),
    #[error("a coinbase cannot be submitted as a loose transaction; only a block may carry one")]
    CoinbaseNotAllowed,
    #[error("transaction is {size} bytes, above the policy limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("fee {fee} for {size} bytes is below the minimum fee rate of {min_rate} base units per byte")]
    FeeTooLow {
        fee: Amount,
        size: usize,
        min_rate: u64,
    },
    #[error(
        "outpoint {}:{} is already spent by mempool transaction {by}; conflicts are not replaced",
        .outpoint.txid,
        .outpoint.vout
    )]
    DoubleSpend { outpoint: OutPoint, by: Txid },
    #[error("mempool is full: no room for {size} bytes at {rate}; a fee rate above that of the transactions it would displace is expected (about {min_rate} base units per byte now)")]
    Full {
        size: usize,
        rate: FeeRate,
        min_rate: u64,
    },
    #[error("output {vout} pays {value} base units, below the dust limit of {limit}")]
    Dust { vout: usize, value: u64, limit: u64 },
}

impl ErrorCode for MempoolError {
    fn code(&self) -> Code {
        match self {
            MempoolError::Tx(e) => e.code(),
            MempoolError::CoinbaseNotAllowed => Code::CoinbaseNotAllowed,
            MempoolError::TooLarge { .. } => Code::TxTooLarge,
            MempoolError::FeeTooLow { .. } => Code::FeeTooLow,
            MempoolError::DoubleSpend { .. } => Code::DoubleSpend,
            MempoolError::Full { .. } => Code::MempoolFull,
            MempoolError::Dust { .. } => Code::Dust,
        }
    }
}

/// The outcome of [`Mempool::accept`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub txid: Txid,
    pub fee: Amount,
    /// The transaction was already in the pool; nothing changed (relay must not repeat it).
    pub already_known: bool,
    /// Transactions evicted to make room, each with its descendants.
    pub evicted: Vec<Txid>,
}

/// What [`Mempool::check`] found.
enum Checked {
    Known(Accepted),
    New(CheckedTx),
}

/// A transaction that passed every check before the signatures.
struct CheckedTx {
    txid: Txid,
    size: usize,
    spend: TxSpend,
    rate: FeeRate,
}

/// Orders entries by fee rate, lowest first; among equal rates the newest first, so the
/// newest is evicted first and the oldest is mined first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RateKey {
    rate: FeeRate,
    seq: u64,
    txid: Txid,
}

impl Ord for RateKey {
    fn cmp(&self, other: &RateKey) -> Ordering {
        self.rate
            .cmp(&other.rate)
            .then_with(|| other.seq.cmp(&self.seq))
            .then_with(|| self.txid.cmp(&other.txid))
    }
}

impl PartialOrd for RateKey {
    fn partial_cmp(&self, other: &RateKey) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

struct Entry {
    tx: Transaction,
    size: usize,
    fee: Amount,
    /// Arrival order: ties between equal fee rates go to the older transaction.
    seq: u64,
    /// Unix time the transaction entered the pool (kept across a restart), for expiry.
    entered: u64,
    /// Pool transactions this one spends outputs of (distinct; usually none or one, so a
    /// `Vec`, which allocates nothing when empty, rather than a set).
    parents: Vec<Txid>,
    /// Pool transactions spending outputs of this one (distinct).
    children: Vec<Txid>,
}

/// Addresses paid by a transaction's outputs or owning the coins its inputs spend (HASH160
/// of the input key, which rule 4 makes equal to the spent output's pubkey hash), sorted,
/// without repeats. Recomputed on removal rather than kept in every entry.
fn addresses_of(tx: &Transaction) -> Vec<PubkeyHash> {
    let mut addresses: Vec<PubkeyHash> = tx
        .inputs
        .iter()
        .map(|i| i.pubkey.pubkey_hash())
        .chain(tx.outputs.iter().map(|o| o.pubkey_hash))
        .collect();
    addresses.sort_unstable();
    addresses.dedup();
    addresses
}

/// The heap a transaction's own vectors hold.
fn tx_heap(tx: &Transaction) -> usize {
    vec_usage::<TxIn>(tx.inputs.capacity()) + vec_usage::<TxOut>(tx.outputs.capacity())
}

impl Entry {
    /// The heap this entry holds outside the pool's tables: the transaction's vectors and
    /// the parent and child lists.
    fn heap(&self) -> usize {
        tx_heap(&self.tx)
            + vec_usage::<Txid>(self.parents.capacity())
            + vec_usage::<Txid>(self.children.capacity())
    }

    fn key(&self, txid: Txid) -> RateKey {
        RateKey {
            rate: FeeRate::new(self.fee, self.size),
            seq: self.seq,
            txid,
        }
    }
}

/// Valid unconfirmed transactions, indexed by txid, spent outpoint, fee rate and address.
pub struct Mempool {
    config: MempoolConfig,
    entries: HashMap<Txid, Entry>,
    /// Which pool transaction spends each outpoint (at most one: conflicts are refused).
    spenders: HashMap<OutPoint, Txid>,
    by_rate: BTreeSet<RateKey>,
    /// Which pool transactions pay to or spend from each address: one ordered set of
    /// pairs (about 80 bytes a pair) rather than a set per address (a 384-byte node for
    /// the first transaction of each).
    by_address: BTreeSet<(PubkeyHash, Txid)>,
    /// Sum of the encoded sizes of the pool's transactions.
    bytes: usize,
    /// Sum of [`Entry::heap`] over the entries.
    heap: usize,
    next_seq: u64,
    clock: Clock,
}

/// The dimensions of the pool that its usage is computed from, so that admission can ask
/// what the usage would be after adding and evicting transactions.
struct Shape {
    heap: usize,
    /// Entries in the txid table, and its capacity now (it grows once they pass it).
    entries_len: usize,
    entries_capacity: usize,
    /// Entries in the spent-outpoint table, and its capacity now.
    spenders_len: usize,
    spenders_capacity: usize,
    rate_len: usize,
    address_len: usize,
}

impl Shape {
    fn usage(&self) -> usize {
        let entries = hash_map_capacity_after(self.entries_len, self.entries_capacity, 0);
        let spenders = hash_map_capacity_after(self.spenders_len, self.spenders_capacity, 0);
        self.heap
            + hash_map_usage::<Txid, Entry>(entries)
            + hash_map_usage::<OutPoint, Txid>(spenders)
            + btree_set_usage::<RateKey>(self.rate_len)
            + btree_set_usage::<(PubkeyHash, Txid)>(self.address_len)
    }
}

/// The view a pool transaction is checked against: the chain's UTXO set plus the outputs
/// of pool transactions (unconfirmed, non-coinbase, at the next height), minus what other
/// pool transactions spend.
struct PoolView<'a, V> {
    pool: &'a Mempool,
    chain: &'a V,
    height: Height,
    /// The transaction being checked: its own spends do not hide its inputs.
    checking: Option<Txid>,
}

impl<V: UtxoView> UtxoView for PoolView<'_, V> {
    fn coin(&self, outpoint: &OutPoint) -> Option<Coin> {
        if let Some(by) = self.pool.spenders.get(outpoint) {
            if Some(*by) != self.checking {
                return None;
            }
        }
        match self.pool.entries.get(&outpoint.txid) {
            Some(entry) => {
                let output = entry.tx.outputs.get(outpoint.vout as usize)?;
                Some(Coin {
                    output: *output,
                    height: self.height,
                    coinbase: false,
                })
            }
            None => self.chain.coin(outpoint),
        }
    }
}

impl Default for Mempool {
    fn default() -> Mempool {
        Mempool::new(MempoolConfig::default())
    }
}

impl Mempool {
    pub fn new(config: MempoolConfig) -> Mempool {
        Mempool::with_clock(config, crate::clock::system())
    }

    /// A pool reading the time from `clock` (tests pass a clock they move).
    pub fn with_clock(config: MempoolConfig, clock: Clock) -> Mempool {
        Mempool {
            clock,
            config,
            entries: HashMap::new(),
            spenders: HashMap::new(),
            by_rate: BTreeSet::new(),
            by_address: BTreeSet::new(),
            bytes: 0,
            heap: 0,
            next_seq: 0,
        }
    }

    pub fn config(&self) -> &MempoolConfig {
        &self.config
    }

    // ---- admission -----------------------------------------------------------------

    /// Admits `tx` if it is valid on top of `chain` (the confirmed UTXO set at the tip) and
    /// the pool's own transactions, for a block at `next_height`, and passes the policy.
    ///
    /// Checks run cheapest first: already known, coinbase, size, conflicts with the pool,
    /// the consensus rules except signatures, the fee rate, signatures (skipped when
    /// `sig_cache` already vouches for the txid; recorded there on success), and finally
    /// the memory bound, evicting lower fee-rate transactions if that makes room.
    ///
    /// The node does not call this with the pool locked for the signatures: it runs
    /// [`Mempool::precheck`] under the lock, verifies outside it
    /// ([`verify_signatures_parallel`]), records the txid in `sig_cache` and then calls
    /// `accept`, which re-checks everything under the lock and finds the signatures
    /// vouched for.
    pub fn accept(
        &mut self,
        tx: Transaction,
        chain: &impl UtxoView,
        next_height: Height,
        params: &NetworkParams,
        genesis_hash: &BlockHash,
        sig_cache: &SigCache,
    ) -> Result<Accepted, MempoolError> {
        let now = (self.clock)();
        self.accept_entered(tx, chain, next_height, params, genesis_hash, sig_cache, now)
    }

    /// [`Mempool::accept`] for a transaction that entered the pool at unix time `entered`
    /// (a pool restored at start keeps its transactions' ages, so expiry still applies).
    /// A time in the future is taken as now. Callers skip transactions already past
    /// expiry (the next [`Mempool::expire`] would drop them anyway).
    #[allow(clippy::too_many_arguments)]
    pub fn accept_entered(
        &mut self,
        mut tx: Transaction,
        chain: &impl UtxoView,
        next_height: Height,
        params: &NetworkParams,
        genesis_hash: &BlockHash,
        sig_cache: &SigCache,
        entered: u64,
    ) -> Result<Accepted, MempoolError> {
        let checked = match self.check(&tx, chain, next_height, params)? {
            Checked::Known(accepted) => return Ok(accepted),
            Checked::New(c) => c,
        };
        let CheckedTx {
            txid,
            size,
            spend,
            rate,
        } = checked;
        // Rule 5, the expensive one, last among the rules.
        if !sig_cache.contains(&txid) {
            verify_signatures_parallel(&tx, &spend.sighash(&tx, genesis_hash))?;
            sig_cache.insert(txid);
        }
        // The memory bound. A decoded transaction's vectors may have spare capacity.
        tx.inputs.shrink_to_fit();
        tx.outputs.shrink_to_fit();
        let Some(evict) = self.plan_eviction(&tx, rate) else {
            return Err(MempoolError::Full {
                size,
                rate,
                min_rate: self.min_fee_rate(),
            });
        };
        for victim in &evict {
            self.remove_entry(victim);
        }
        // Never in the future: a restored file cannot make a transaction outlive expiry.
        let entered = entered.min((self.clock)());
        self.insert(txid, tx, size, spend.fee, entered);
        Ok(Accepted {
            txid,
            fee: spend.fee,
            already_known: false,
            evicted: evict,
        })
    }

    /// Every check of [`Mempool::accept`] but the signatures and the memory bound,
    /// changing nothing. `Ok(Some(txid, sighash))`: the signatures of `tx` still need
    /// verifying over `sighash`; `Ok(None)`: the pool already has it or `sig_cache`
    /// vouches for it. For the node, to verify signatures outside the pool's lock.
    pub fn precheck(
        &self,
        tx: &Transaction,
        chain: &impl UtxoView,
        next_height: Height,
        params: &NetworkParams,
        genesis_hash: &BlockHash,
        sig_cache: &SigCache,
    ) -> Result<Option<(Txid, Sighash)>, MempoolError> {
        match self.check(tx, chain, next_height, params)? {
            Checked::Known(_) => Ok(None),
            Checked::New(c) if sig_cache.contains(&c.txid) => Ok(None),
            Checked::New(c) => Ok(Some((c.txid, c.spend.sighash(tx, genesis_hash)))),
        }
    }

    /// The checks before the signatures, cheapest first: already known, coinbase, size,
    /// conflicts with the pool, the consensus rules except signatures, the fee rate.
    fn check(
        &self,
        tx: &Transaction,
        chain: &impl UtxoView,
        next_height: Height,
        params: &NetworkParams,
    ) -> Result<Checked, MempoolError> {
        let txid = tx.txid();
        // Idempotent: a relay of a known transaction changes nothing.
        if let Some(entry) = self.entries.get(&txid) {
            return Ok(Checked::Known(Accepted {
                txid,
                fee: entry.fee,
                already_known: true,
                evicted: Vec::new(),
            }));
        }
        // Only a block may carry a coinbase.
        if tx.is_coinbase() {
            return Err(MempoolError::CoinbaseNotAllowed);
        }
        // Policy size limit.
        let size = tx.size();
        if size > self.config.max_tx_size {
            return Err(MempoolError::TooLarge {
                size,
                max: self.config.max_tx_size,
            });
        }
        // No conflicts with the pool: the first seen stays.
        for input in &tx.inputs {
            if let Some(by) = self.spenders.get(&input.prev) {
                return Err(MempoolError::DoubleSpend {
                    outpoint: input.prev,
                    by: *by,
                });
            }
        }
        // Consensus rules except signatures, over the chain plus unconfirmed parents.
        let view = PoolView {
            pool: self,
            chain,
            height: next_height,
            checking: None,
        };
        let spend = check_transaction_inputs(tx, &view, next_height, params)?;
        // Policy dust limit, after the consensus rules: a zero output is
        // `value-out-of-range` (a rule a relaying peer is punished for), not `dust`.
        if let Some((vout, output)) = tx
            .outputs
            .iter()
            .enumerate()
            .find(|(_, o)| o.value.to_base_units() < self.config.dust_limit)
        {
            return Err(MempoolError::Dust {
                vout,
                value: output.value.to_base_units(),
                limit: self.config.dust_limit,
            });
        }
        // Policy minimum fee rate.
        let rate = FeeRate::new(spend.fee, size);
        if !rate.meets(self.config.min_fee_rate) {
            return Err(MempoolError::FeeTooLow {
                fee: spend.fee,
                size,
                min_rate: self.config.min_fee_rate,
            });
        }
        Ok(Checked::New(CheckedTx {
            txid,
            size,
            spend,
            rate,
        }))
    }

    /// In-pool ancestors of a transaction not yet in the pool (they cannot be evicted for
    /// it: it would lose its inputs).
    fn ancestors_of(&self, tx: &Transaction) -> HashSet<Txid> {
        let mut seen = HashSet::new();
        let mut queue: VecDeque<Txid> = tx
            .inputs
            .iter()
            .map(|i| i.prev.txid)
            .filter(|t| self.entries.contains_key(t))
            .collect();
        while let Some(txid) = queue.pop_front() {
            if !seen.insert(txid) {
                continue;
            }
            if let Some(entry) = self.entries.get(&txid) {
                queue.extend(entry.parents.iter().copied());
            }
        }
        seen
    }

    /// The pool's dimensions now.
    fn shape(&self) -> Shape {
        Shape {
            heap: self.heap,
            entries_len: self.entries.len(),
            entries_capacity: self.entries.capacity(),
            spenders_len: self.spenders.len(),
            spenders_capacity: self.spenders.capacity(),
            rate_len: self.by_rate.len(),
            address_len: self.by_address.len(),
        }
    }

    /// The pool's dimensions with `tx` added: its heap, the growth of its in-pool parents'
    /// child lists and of the tables it enters (a full hash table doubles).
    fn shape_with(&self, tx: &Transaction) -> Shape {
        let mut shape = self.shape();
        let parents: BTreeSet<Txid> = tx
            .inputs
            .iter()
            .map(|i| i.prev.txid)
            .filter(|t| self.entries.contains_key(t))
            .collect();
        // Its own parent list is built with exactly this capacity (see `insert`).
        shape.heap += tx_heap(tx) + vec_usage::<Txid>(parents.len());
        for parent in parents.iter().filter_map(|t| self.entries.get(t)) {
            let children = &parent.children;
            if children.len() == children.capacity() {
                let grown = (children.capacity() * 2).max(4);
                shape.heap += vec_usage::<Txid>(grown) - vec_usage::<Txid>(children.capacity());
            }
        }
        shape.entries_len += 1;
        shape.spenders_len += tx.inputs.len();
        shape.rate_len += 1;
        shape.address_len += addresses_of(tx).len();
        shape
    }

    /// What must leave for `tx` at `rate` to fit within `max_usage`: the lowest-rate
    /// transactions (each with its descendants) while their rate is strictly below
    /// `rate`, skipping the newcomer's own in-pool ancestors. `None` when that does not
    /// free enough room. Hash tables keep their capacity when entries leave: victims only
    /// spare the newcomer a table's growth.
    fn plan_eviction(&self, tx: &Transaction, rate: FeeRate) -> Option<Vec<Txid>> {
        let max = self.config.max_usage;
        let mut shape = self.shape_with(tx);
        if shape.usage() <= max {
            return Some(Vec::new());
        }
        let protected = self.ancestors_of(tx);
        let mut chosen = HashSet::new();
        let mut evict = Vec::new();
        for key in &self.by_rate {
            if shape.usage() <= max {
                break;
            }
            if key.rate >= rate {
                return None;
            }
            if chosen.contains(&key.txid) || protected.contains(&key.txid) {
                continue;
            }
            for txid in self.descendants(&key.txid) {
                if !chosen.insert(txid) {
                    continue;
                }
                if let Some(entry) = self.entries.get(&txid) {
                    shape.heap -= entry.heap();
                    shape.entries_len -= 1;
                    shape.spenders_len -= entry.tx.inputs.len();
                    shape.rate_len -= 1;
                    shape.address_len -= addresses_of(&entry.tx).len();
                }
                evict.push(txid);
            }
        }
        (shape.usage() <= max).then_some(evict)
    }

    fn insert(&mut self, txid: Txid, tx: Transaction, size: usize, fee: Amount, entered: u64) {
        let mut parents = Vec::new();
        for input in &tx.inputs {
            self.spenders.insert(input.prev, txid);
            let parent_txid = input.prev.txid;
            if parents.contains(&parent_txid) {
                continue;
            }
            if let Some(parent) = self.entries.get_mut(&parent_txid) {
                let before = vec_usage::<Txid>(parent.children.capacity());
                parent.children.push(txid);
                self.heap += vec_usage::<Txid>(parent.children.capacity()) - before;
                parents.push(parent_txid);
            }
        }
        parents.shrink_to_fit();
        // After a reorg a transaction can return to the pool below children that were
        // admitted while it was confirmed.
        let mut children = Vec::new();
        for vout in 0..tx.outputs.len() {
            let outpoint = OutPoint {
                txid,
                vout: vout as u32,
            };
            if let Some(child) = self.spenders.get(&outpoint).copied() {
                if children.contains(&child) {
                    continue;
                }
                if let Some(entry) = self.entries.get_mut(&child) {
                    let before = vec_usage::<Txid>(entry.parents.capacity());
                    entry.parents.push(txid);
                    self.heap += vec_usage::<Txid>(entry.parents.capacity()) - before;
                    children.push(child);
                }
            }
        }
        for address in addresses_of(&tx) {
            self.by_address.insert((address, txid));
        }
        let entry = Entry {
            tx,
            size,
            fee,
            seq: self.next_seq,
            entered,
            parents,
            children,
        };
        self.next_seq += 1;
        self.bytes += size;
        self.heap += entry.heap();
        self.by_rate.insert(entry.key(txid));
        self.entries.insert(txid, entry);
    }

    // ---- removal -------------------------------------------------------------------

    /// Removes one transaction and unlinks it from its parents and children (which stay).
    fn remove_entry(&mut self, txid: &Txid) -> Option<Entry> {
        let entry = self.entries.remove(txid)?;
        self.by_rate.remove(&entry.key(*txid));
        self.bytes -= entry.size;
        self.heap -= entry.heap();
        for input in &entry.tx.inputs {
            if self.spenders.get(&input.prev) == Some(txid) {
                self.spenders.remove(&input.prev);
            }
        }
        // Removing from a list keeps its capacity, so the heap total does not change.
        for parent in &entry.parents {
            if let Some(p) = self.entries.get_mut(parent) {
                p.children.retain(|c| c != txid);
            }
        }
        for child in &entry.children {
            if let Some(c) = self.entries.get_mut(child) {
                c.parents.retain(|p| p != txid);
            }
        }
        for address in addresses_of(&entry.tx) {
            self.by_address.remove(&(address, *txid));
        }
        Some(entry)
    }

    /// `txid` and every in-pool descendant, parents before children.
    fn descendants(&self, txid: &Txid) -> Vec<Txid> {
        let mut seen = HashSet::new();
        let mut order = Vec::new();
        let mut queue = VecDeque::from([*txid]);
        while let Some(next) = queue.pop_front() {
            let Some(entry) = self.entries.get(&next) else {
                continue;
            };
            if !seen.insert(next) {
                continue;
            }
            order.push(next);
            queue.extend(entry.children.iter().copied());
        }
        order
    }

    /// Removes `txid` with all its descendants; returns what was removed.
    fn remove_with_descendants(&mut self, txid: &Txid) -> Vec<Txid> {
        let removed = self.descendants(txid);
        for t in &removed {
            self.remove_entry(t);
        }
        removed
    }

    /// A block joined the active chain: drops the transactions it confirms, and every pool
    /// transaction that conflicts with it (spends an outpoint the block spent) together with
    /// its descendants. Returns the conflicting transactions removed (not the confirmed).
    pub fn remove_for_block(&mut self, block: &Block) -> Vec<Txid> {
        let mut conflicts = Vec::new();
        for tx in block.transactions.iter().filter(|t| !t.is_coinbase()) {
            let txid = tx.txid();
            // Its children stay: their inputs are now confirmed outputs.
            self.remove_entry(&txid);
            for input in &tx.inputs {
                if let Some(by) = self.spenders.get(&input.prev).copied() {
                    conflicts.extend(self.remove_with_descendants(&by));
                }
            }
        }
        self.shrink_tables();
        conflicts
    }

    /// Drops every transaction that has waited `expiry_secs` or longer, with its
    /// descendants (PROTOCOL.md section 8). Returns the removed txids. A scan of the pool:
    /// the node calls it on each new tip and once a minute.
    pub fn expire(&mut self) -> Vec<Txid> {
        let now = (self.clock)();
        // One pass over the entries, no ordering (this runs on every new tip, under the
        // chain lock): a child that goes before its parent is simply gone when the
        // parent's descendants are removed.
        let expired: Vec<Txid> = self
            .entries
            .iter()
            .filter(|(_, e)| now.saturating_sub(e.entered) >= self.config.expiry_secs)
            .map(|(t, _)| *t)
            .collect();
        let mut removed = Vec::new();
        for txid in expired {
            if self.entries.contains_key(&txid) {
                removed.extend(self.remove_with_descendants(&txid));
            }
        }
        if !removed.is_empty() {
            self.shrink_tables();
        }
        removed
    }

    /// Every pool transaction with the unix time it entered, parents before children
    /// (what [`persist`] saves at shutdown).
    pub fn snapshot(&self) -> Vec<(Transaction, u64)> {
        self.topological_order()
            .into_iter()
            .filter_map(|t| self.entries.get(&t).map(|e| (e.tx.clone(), e.entered)))
            .collect()
    }

    /// The arrival number of a pool transaction (increasing with each admission; a
    /// transaction's parents in the pool arrived before it).
    pub fn arrival(&self, txid: &Txid) -> Option<u64> {
        self.entries.get(txid).map(|e| e.seq)
    }

    /// The pool transactions that arrived at `seq` or later, in arrival order (parents
    /// first), each with its arrival number (relay refills an overflowed outbox).
    pub fn arrived_since(&self, seq: u64) -> Vec<(u64, Txid)> {
        let mut out: Vec<(u64, Txid)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.seq >= seq)
            .map(|(t, e)| (e.seq, *t))
            .collect();
        out.sort_unstable();
        out
    }

    /// The unix time a pool transaction entered the pool.
    pub fn entered(&self, txid: &Txid) -> Option<u64> {
        self.entries.get(txid).map(|e| e.entered)
    }

    /// After a reorganisation: re-admits the non-coinbase transactions of the disconnected
    /// blocks (oldest block first, block order) that are still valid on the new chain,
    /// ignoring those that are not, then drops pool transactions the new chain made invalid
    /// ([`Mempool::revalidate`]). Returns the re-admitted txids.
    pub fn reinsert_after_reorg(
        &mut self,
        disconnected: Vec<Transaction>,
        chain: &impl UtxoView,
        next_height: Height,
        params: &NetworkParams,
        genesis_hash: &BlockHash,
        sig_cache: &SigCache,
    ) -> Vec<Txid> {
        let mut readmitted = Vec::new();
        for tx in disconnected {
            if let Ok(accepted) =
                self.accept(tx, chain, next_height, params, genesis_hash, sig_cache)
            {
                if !accepted.already_known {
                    readmitted.push(accepted.txid);
                }
            }
        }
        let removed: HashSet<Txid> = self
            .revalidate(chain, next_height, params)
            .into_iter()
            .collect();
        readmitted.retain(|t| !removed.contains(t));
        readmitted
    }

    /// Re-checks every pool transaction against a new tip (every rule but signatures,
    /// which do not depend on the chain) and removes the invalid ones with their
    /// descendants. Returns the removed txids.
    pub fn revalidate(
        &mut self,
        chain: &impl UtxoView,
        next_height: Height,
        params: &NetworkParams,
    ) -> Vec<Txid> {
        let mut removed = Vec::new();
        for txid in self.topological_order() {
            let Some(entry) = self.entries.get(&txid) else {
                continue; // already removed as a descendant
            };
            let view = PoolView {
                pool: self,
                chain,
                height: next_height,
                checking: Some(txid),
            };
            if check_transaction_inputs(&entry.tx, &view, next_height, params).is_err() {
                removed.extend(self.remove_with_descendants(&txid));
            }
        }
        self.shrink_tables();
        removed
    }

    /// Every pool txid, parents before children, otherwise in arrival order.
    fn topological_order(&self) -> Vec<Txid> {
        let mut missing: HashMap<Txid, usize> = HashMap::with_capacity(self.entries.len());
        let mut ready = BTreeSet::new();
        for (txid, entry) in &self.entries {
            missing.insert(*txid, entry.parents.len());
            if entry.parents.is_empty() {
                ready.insert((entry.seq, *txid));
            }
        }
        let mut order = Vec::with_capacity(self.entries.len());
        while let Some((seq, txid)) = ready.iter().next().copied() {
            ready.remove(&(seq, txid));
            order.push(txid);
            let Some(entry) = self.entries.get(&txid) else {
                continue;
            };
            for child in &entry.children {
                if let (Some(count), Some(c)) = (missing.get_mut(child), self.entries.get(child)) {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        ready.insert((c.seq, *child));
                    }
                }
            }
        }
        order
    }

    // ---- mining --------------------------------------------------------------------

    /// The txids a block of at most `max_bytes` of transactions would carry: highest fee
    /// rate first, but a transaction only once all its in-pool parents are in. A
    /// transaction that does not fit is skipped (and with it its descendants) and the next
    /// one tried.
    fn select(&self, max_bytes: usize) -> Vec<Txid> {
        let mut missing: HashMap<Txid, usize> = HashMap::new();
        let mut eligible = BinaryHeap::new();
        for (txid, entry) in &self.entries {
            if entry.parents.is_empty() {
                eligible.push(entry.key(*txid));
            } else {
                missing.insert(*txid, entry.parents.len());
            }
        }
        let mut room = max_bytes;
        let mut selected = Vec::new();
        while let Some(key) = eligible.pop() {
            let Some(entry) = self.entries.get(&key.txid) else {
                continue;
            };
            if entry.size > room {
                continue;
            }
            room -= entry.size;
            selected.push(key.txid);
            for child in &entry.children {
                if let Some(count) = missing.get_mut(child) {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        if let Some(c) = self.entries.get(child) {
                            eligible.push(c.key(*child));
                        }
                    }
                }
            }
        }
        selected
    }

    /// Transactions for a block with at most `max_bytes` of non-coinbase transactions, each
    /// with its fee, in the order they must appear: by fee rate, highest first, parents
    /// always before children.
    pub fn block_template(&self, max_bytes: usize) -> Vec<(Transaction, Amount)> {
        self.select(max_bytes)
            .into_iter()
            .filter_map(|txid| self.entries.get(&txid).map(|e| (e.tx.clone(), e.fee)))
            .collect()
    }

    // ---- queries -------------------------------------------------------------------

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sum of the encoded sizes of the pool's transactions (what a block would carry).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The pool's memory use, the quantity `max_usage` bounds: an estimate (see
    /// [`memusage`] and `docs/mempool.md`) of the heap held by its transactions, their
    /// parent and child lists, the txid and spent-outpoint hash tables (at their real
    /// capacity) and the fee-rate and address indexes. Several times [`Mempool::bytes`]
    /// for small transactions.
    pub fn usage(&self) -> usize {
        self.shape().usage()
    }

    pub fn contains(&self, txid: &Txid) -> bool {
        self.entries.contains_key(txid)
    }

    pub fn get(&self, txid: &Txid) -> Option<&Transaction> {
        self.entries.get(txid).map(|e| &e.tx)
    }

    pub fn fee(&self, txid: &Txid) -> Option<Amount> {
        self.entries.get(txid).map(|e| e.fee)
    }

    /// The fee rate of a pool transaction.
    pub fn fee_rate(&self, txid: &Txid) -> Option<FeeRate> {
        self.entries.get(txid).map(|e| FeeRate::new(e.fee, e.size))
    }

    /// Every pool txid, highest fee rate first (equal rates: oldest first). Not the mining
    /// order, which also keeps parents first (see [`Mempool::block_template`]).
    pub fn txids_by_fee_rate(&self) -> Vec<Txid> {
        self.by_rate.iter().rev().map(|k| k.txid).collect()
    }

    /// The `limit` most recently admitted pool transactions, newest first, with their
    /// size and fee (for the explorer). One pass over the pool, keeping `limit` at most.
    pub fn newest(&self, limit: usize) -> Vec<(Txid, usize, Amount)> {
        let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(u64, Txid)>> =
            std::collections::BinaryHeap::with_capacity(limit.saturating_add(1).min(1024));
        if limit == 0 {
            return Vec::new();
        }
        for (txid, e) in &self.entries {
            heap.push(std::cmp::Reverse((e.seq, *txid)));
            if heap.len() > limit {
                heap.pop();
            }
        }
        let mut out: Vec<(u64, Txid)> = heap.into_iter().map(|r| r.0).collect();
        out.sort_unstable_by_key(|b| std::cmp::Reverse(b.0));
        out.into_iter()
            .filter_map(|(_, t)| self.entries.get(&t).map(|e| (t, e.size, e.fee)))
            .collect()
    }

    /// Pool transactions and their bytes by fee rate: bucket `i` counts the rates (base
    /// units per byte, rounded down) from `edges[i]` up to `edges[i + 1]`; the last bucket
    /// has no upper end, and rates below `edges[0]` count in the first. `edges` ascending.
    pub fn fee_rate_histogram(&self, edges: &[u64]) -> Vec<(u64, u64)> {
        let mut buckets = vec![(0u64, 0u64); edges.len()];
        if edges.is_empty() {
            return buckets;
        }
        for key in &self.by_rate {
            let rate = key.rate.per_byte_floor();
            let i = edges
                .partition_point(|&edge| edge <= rate)
                .saturating_sub(1);
            if let Some(b) = buckets.get_mut(i) {
                b.0 += 1;
                b.1 += key.rate.size() as u64;
            }
        }
        buckets
    }

    /// One page of [`Mempool::txids_by_fee_rate`]: at most `limit` txids after `after`
    /// (from the start when `None`). `None` when `after` is not in the pool (it was mined
    /// or evicted since the previous page: the client starts over).
    pub fn txids_by_fee_rate_page(&self, after: Option<&Txid>, limit: usize) -> Option<Vec<Txid>> {
        let page = match after {
            None => self
                .by_rate
                .iter()
                .rev()
                .take(limit)
                .map(|k| k.txid)
                .collect(),
            Some(txid) => {
                let key = self.entries.get(txid)?.key(*txid);
                self.by_rate
                    .range(..key)
                    .rev()
                    .take(limit)
                    .map(|k| k.txid)
                    .collect()
            }
        };
        Some(page)
    }

    /// The pool members of `txids`, each after its pool ancestors among them (relay sends
    /// parents first), otherwise in arrival order. Txids not in the pool are left out.
    pub fn ancestors_first(&self, txids: &[Txid]) -> Vec<Txid> {
        let wanted: HashSet<Txid> = txids
            .iter()
            .filter(|t| self.entries.contains_key(*t))
            .copied()
            .collect();
        let mut by_arrival: Vec<(u64, Txid)> = wanted
            .iter()
            .filter_map(|t| self.entries.get(t).map(|e| (e.seq, *t)))
            .collect();
        by_arrival.sort_unstable();
        let mut out = Vec::with_capacity(by_arrival.len());
        let mut placed: HashSet<Txid> = HashSet::with_capacity(by_arrival.len());
        let mut entered: HashSet<Txid> = HashSet::with_capacity(by_arrival.len());
        for (_, txid) in by_arrival {
            // Depth-first over the in-set parents, iteratively (chains may be long).
            let mut stack = vec![(txid, false)];
            while let Some((t, expanded)) = stack.pop() {
                if placed.contains(&t) {
                    continue;
                }
                if expanded {
                    placed.insert(t);
                    out.push(t);
                    continue;
                }
                if !entered.insert(t) {
                    continue;
                }
                stack.push((t, true));
                if let Some(e) = self.entries.get(&t) {
                    for p in &e.parents {
                        if wanted.contains(p) && !placed.contains(p) {
                            stack.push((*p, false));
                        }
                    }
                }
            }
        }
        out
    }

    /// The pool transaction spending `outpoint`, if any.
    pub fn spender(&self, outpoint: &OutPoint) -> Option<Txid> {
        self.spenders.get(outpoint).copied()
    }

    /// An output of a pool transaction, whether or not another pool transaction spends it
    /// (ask [`Mempool::spender`]). Unconfirmed outputs are reported as non-coinbase with
    /// height 0, since they have no height yet.
    pub fn coin(&self, outpoint: &OutPoint) -> Option<Coin> {
        let entry = self.entries.get(&outpoint.txid)?;
        let output = entry.tx.outputs.get(outpoint.vout as usize)?;
        Some(Coin {
            output: *output,
            height: Height::GENESIS,
            coinbase: false,
        })
    }

    /// The whole rate in base units per byte a transaction must pay to enter now: the
    /// configured minimum while the pool's usage leaves room for a largest-size
    /// transaction (`max_tx_size` × 4 bytes of memory), otherwise the smallest whole rate
    /// strictly above the lowest rate in the pool (what eviction requires to displace it),
    /// if that is higher.
    pub fn min_fee_rate(&self) -> u64 {
        let floor = self.config.min_fee_rate;
        let room = self
            .config
            .max_tx_size
            .saturating_mul(LARGEST_TX_USAGE_PER_BYTE);
        if self.usage().saturating_add(room) <= self.config.max_usage {
            return floor;
        }
        match self.by_rate.first() {
            Some(lowest) => floor.max(lowest.rate.next_whole_rate()),
            None => floor,
        }
    }

    /// A whole rate in base units per byte that would put a transaction in the next block
    /// of `max_block_bytes` of transactions: [`Mempool::min_fee_rate`] when the whole pool
    /// fits in that block, otherwise the smallest whole rate strictly above the lowest rate
    /// the block template takes (and at least the minimum).
    pub fn recommended_fee_rate(&self, max_block_bytes: usize) -> u64 {
        let selected = self.select(max_block_bytes);
        let floor = self.min_fee_rate();
        if selected.len() == self.entries.len() {
            return floor;
        }
        selected
            .iter()
            .filter_map(|t| self.fee_rate(t))
            .min()
            .map_or(floor, |lowest| floor.max(lowest.next_whole_rate()))
    }

    /// The pool's effect on an address's balance, in base units: plus what pool
    /// transactions pay to it, minus the value of its coins that pool transactions spend.
    /// A spent coin is looked up among pool outputs, then in `chain` (the confirmed UTXO
    /// set at the tip).
    pub fn address_delta(&self, address: &PubkeyHash, chain: &impl UtxoView) -> i128 {
        let mut delta = 0i128;
        for entry in self.txids_for(address).filter_map(|t| self.entries.get(&t)) {
            for output in entry
                .tx
                .outputs
                .iter()
                .filter(|o| o.pubkey_hash == *address)
            {
                delta += i128::from(output.value.to_base_units());
            }
            for input in &entry.tx.inputs {
                let coin = self.coin(&input.prev).or_else(|| chain.coin(&input.prev));
                if let Some(coin) = coin.filter(|c| c.output.pubkey_hash == *address) {
                    delta -= i128::from(coin.output.value.to_base_units());
                }
            }
        }
        delta
    }

    /// Pool transactions paying to or spending from an address, oldest first.
    pub fn transactions_for(&self, address: &PubkeyHash) -> Vec<Txid> {
        let mut found: Vec<(u64, Txid)> = self
            .txids_for(address)
            .filter_map(|t| self.entries.get(&t).map(|e| (e.seq, t)))
            .collect();
        found.sort_unstable();
        found.into_iter().map(|(_, t)| t).collect()
    }

    /// The address index's txids for `address`, in txid order.
    fn txids_for(&self, address: &PubkeyHash) -> impl Iterator<Item = Txid> + '_ {
        self.by_address
            .range((*address, Txid([0; 32]))..=(*address, Txid([0xff; 32])))
            .map(|(_, t)| *t)
    }

    /// Gives memory back after many transactions left (a block, a reorg): hash tables
    /// keep their capacity when entries leave, so one far emptier than needed is shrunk.
    fn shrink_tables(&mut self) {
        if self.entries.capacity() > 4 * self.entries.len() + 64 {
            self.entries.shrink_to(2 * self.entries.len());
        }
        if self.spenders.capacity() > 4 * self.spenders.len() + 64 {
            self.spenders.shrink_to(2 * self.spenders.len());
        }
    }

    /// [`Mempool::usage`]'s heap total recomputed from scratch (tests check that the
    /// running total never drifts).
    #[cfg(test)]
    fn heap_from_scratch(&self) -> usize {
        self.entries.values().map(Entry::heap).sum()
    }
}

#[cfg(test)]
mod tests;
