//! Transaction and block validation (PROTOCOL.md sections 3 and 4) as pure functions.
//!
//! Rules are checked cheapest first; signatures, by far the most expensive, come last and
//! in a block are verified in parallel across cores.

use super::merkle::merkle_root;
use super::params::NetworkParams;
use super::pow::subsidy;
use crate::error::{Code, ErrorCode};
use crate::primitives::block::HEADER_VERSION;
use crate::primitives::transaction::TX_VERSION;
use crate::primitives::{
    Amount, Block, BlockHash, Header, Height, OutPoint, PublicKey, Sighash, Signature, Target,
    Transaction, TxOut, Txid,
};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

/// Policy: how far ahead of local time a block's timestamp may be (seconds).
pub const MAX_FUTURE_BLOCK_TIME: u64 = 2 * 60 * 60;

/// An unspent output with the facts the rules need about where it was created.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Coin {
    pub output: TxOut,
    pub height: Height,
    pub coinbase: bool,
}

/// Read access to unspent outputs: the chain's UTXO set, a test map, or an overlay.
pub trait UtxoView {
    fn coin(&self, outpoint: &OutPoint) -> Option<Coin>;
}

impl<S: BuildHasher> UtxoView for HashMap<OutPoint, Coin, S> {
    fn coin(&self, outpoint: &OutPoint) -> Option<Coin> {
        self.get(outpoint).copied()
    }
}

/// A transaction rule that was broken. `index` is the input or output concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("transaction version {0} is not 1")]
    BadVersion(u32),
    #[error("transaction has no inputs")]
    NoInputs,
    #[error("transaction has no outputs")]
    NoOutputs,
    #[error("a coinbase cannot be submitted as a loose transaction")]
    CoinbaseNotAllowed,
    #[error("input {index} spends an outpoint already spent by an earlier input")]
    DuplicateInput { index: usize },
    #[error("input {index} spends {outpoint_txid}:{vout}, which is unknown or already spent")]
    MissingInput {
        index: usize,
        outpoint_txid: Txid,
        vout: u32,
    },
    #[error("input {index}: HASH160 of the public key is not the spent output's pubkey hash")]
    PubkeyMismatch { index: usize },
    #[error("input {index}: signature does not verify, is high-S, or r/s is out of range")]
    BadSignature { index: usize },
    #[error("value out of range: {0}")]
    ValueOutOfRange(String),
    #[error("outputs ({outputs}) exceed inputs ({inputs})")]
    OutputsExceedInputs { inputs: Amount, outputs: Amount },
    #[error("input {index} spends a coinbase output from height {created} before maturity (spendable at height {mature})")]
    ImmatureCoinbase {
        index: usize,
        created: Height,
        mature: Height,
    },
    #[error(
        "lock_time {lock_time} is above the height {height} the transaction would be mined at"
    )]
    NonFinal { lock_time: u32, height: Height },
}

impl ErrorCode for TxError {
    fn code(&self) -> Code {
        match self {
            TxError::BadVersion(_) => Code::BadVersion,
            TxError::NoInputs => Code::NoInputs,
            TxError::NoOutputs => Code::NoOutputs,
            TxError::CoinbaseNotAllowed => Code::CoinbaseNotAllowed,
            TxError::DuplicateInput { .. } => Code::DuplicateInput,
            TxError::MissingInput { .. } => Code::MissingInput,
            TxError::PubkeyMismatch { .. } => Code::PubkeyMismatch,
            TxError::BadSignature { .. } => Code::BadSignature,
            TxError::ValueOutOfRange(_) => Code::ValueOutOfRange,
            TxError::OutputsExceedInputs { .. } => Code::OutputsExceedInputs,
            TxError::ImmatureCoinbase { .. } => Code::ImmatureCoinbase,
            TxError::NonFinal { .. } => Code::NonFinal,
        }
    }
}

/// A block rule that was broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("header version {0} is not 1")]
    BadVersion(u32),
    #[error("height or prev_hash inconsistent with the parent: {0}")]
    BadPrev(String),
    #[error("target {found} differs from the required target {required}")]
    BadTarget { found: Target, required: Target },
    #[error("block hash {0} is above the target")]
    BadPow(BlockHash),
    #[error("timestamp {timestamp} is not above the median time past {mtp}")]
    TimeTooOld { timestamp: u64, mtp: u64 },
    #[error("timestamp {timestamp} is more than two hours ahead of local time {now}; try later")]
    TimeTooNew { timestamp: u64, now: u64 },
    #[error("block is {size} bytes, above max_block_size {max}")]
    BlockTooLarge { size: usize, max: u64 },
    #[error("bad coinbase: {0}")]
    BadCoinbase(String),
    #[error("transaction {0} appears twice in the block")]
    DuplicateTx(Txid),
    #[error("merkle root does not match the transactions")]
    BadMerkleRoot,
    #[error("coinbase pays {paid}, above subsidy plus fees {allowed}")]
    BadCoinbaseValue { paid: Amount, allowed: Amount },
    #[error("transaction {index} ({txid}): {error}")]
    Transaction {
        index: usize,
        txid: Txid,
        error: TxError,
    },
}

impl ErrorCode for BlockError {
    fn code(&self) -> Code {
        match self {
            BlockError::BadVersion(_) => Code::BadVersion,
            BlockError::BadPrev(_) => Code::BadPrev,
            BlockError::BadTarget { .. } => Code::BadTarget,
            BlockError::BadPow(_) => Code::BadPow,
            BlockError::TimeTooOld { .. } => Code::TimeTooOld,
            BlockError::TimeTooNew { .. } => Code::TimeTooNew,
            BlockError::BlockTooLarge { .. } => Code::BlockTooLarge,
            BlockError::BadCoinbase(_) => Code::BadCoinbase,
            BlockError::DuplicateTx(_) => Code::DuplicateTx,
            BlockError::BadMerkleRoot => Code::BadMerkleRoot,
            BlockError::BadCoinbaseValue { .. } => Code::BadCoinbaseValue,
            BlockError::Transaction { error, .. } => error.code(),
        }
    }
}

/// What a block's header is checked against: facts about its parent from the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParentInfo {
    pub hash: BlockHash,
    pub height: Height,
    /// `MTP(parent)`.
    pub median_time_past: u64,
    /// The target required of the child (section 5).
    pub next_target: Target,
}

/// The outputs a valid transaction spends and the fee it pays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxSpend {
    pub fee: Amount,
    /// The spent coins, in input order (undo data).
    pub spent: Vec<Coin>,
}

impl TxSpend {
    /// The sighash of `tx` (the transaction these coins were found for) over the outputs
    /// it spends, as rule 3 found them: the message rule 5 checks.
    pub fn sighash(&self, tx: &Transaction, genesis_hash: &BlockHash) -> Sighash {
        let outputs: Vec<TxOut> = self.spent.iter().map(|c| c.output).collect();
        tx.sighash(genesis_hash, &outputs)
    }
}

/// What connecting a block consumed: enough to undo it, and its fees.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BlockUndo {
    pub fees: Amount,
    /// The fee of each non-coinbase transaction, in block order.
    pub tx_fees: Vec<Amount>,
    /// Every spent outpoint with its coin, in the order spent.
    pub spent: Vec<(OutPoint, Coin)>,
}

/// Context-free rules of a regular transaction: version, non-empty input and output
/// lists, no outpoint spent twice, output values in range.
pub fn check_transaction_shape(tx: &Transaction) -> Result<(), TxError> {
    // Only version 1 exists; others are reserved for upgrades.
    if tx.version != TX_VERSION {
        return Err(TxError::BadVersion(tx.version));
    }
    // A regular transaction spends something.
    if tx.inputs.is_empty() {
        return Err(TxError::NoInputs);
    }
    // And pays something.
    if tx.outputs.is_empty() {
        return Err(TxError::NoOutputs);
    }
    // Rule 2: no outpoint twice among the inputs.
    let mut seen = HashSet::with_capacity(tx.inputs.len());
    for (index, input) in tx.inputs.iter().enumerate() {
        if !seen.insert(input.prev) {
            return Err(TxError::DuplicateInput { index });
        }
    }
    // Rule 6: every output above zero, their sum within MAX_MONEY.
    if let Some(index) = tx.outputs.iter().position(|o| o.value.is_zero()) {
        return Err(TxError::ValueOutOfRange(format!(
            "output {index} has value 0"
        )));
    }
    if tx.output_sum().is_none() {
        return Err(TxError::ValueOutOfRange(
            "sum of outputs exceeds MAX_MONEY".into(),
        ));
    }
    Ok(())
}

/// Every rule of section 3 except signatures, for a transaction to be mined at `height`.
pub fn check_transaction_inputs(
    tx: &Transaction,
    view: &impl UtxoView,
    height: Height,
    params: &NetworkParams,
) -> Result<TxSpend, TxError> {
    check_transaction_shape(tx)?;
    let mut spent = Vec::with_capacity(tx.inputs.len());
    for (index, input) in tx.inputs.iter().enumerate() {
        // Rule 3: the outpoint exists and is unspent.
        let coin = view.coin(&input.prev).ok_or(TxError::MissingInput {
            index,
            outpoint_txid: input.prev.txid,
            vout: input.prev.vout,
        })?;
        // Rule 4: the key is the one the output pays to.
        if input.pubkey.pubkey_hash() != coin.output.pubkey_hash {
            return Err(TxError::PubkeyMismatch { index });
        }
        // Rule 8: coinbase outputs mature after coinbase_maturity blocks.
        let mature = coin.height.saturating_add(params.coinbase_maturity);
        if coin.coinbase && height < mature {
            return Err(TxError::ImmatureCoinbase {
                index,
                created: coin.height,
                mature,
            });
        }
        spent.push(coin);
    }
    // Rule 6: the input sum within MAX_MONEY.
    let inputs = Amount::checked_sum(spent.iter().map(|c| c.output.value))
        .ok_or_else(|| TxError::ValueOutOfRange("sum of inputs exceeds MAX_MONEY".into()))?;
    let outputs = tx
        .output_sum()
        .ok_or_else(|| TxError::ValueOutOfRange("sum of outputs exceeds MAX_MONEY".into()))?;
    // Rule 7: no value created.
    let fee = inputs
        .checked_sub(outputs)
        .ok_or(TxError::OutputsExceedInputs { inputs, outputs })?;
    // Rule 9: final at the height it is mined at.
    if u64::from(tx.lock_time) > height.get() {
        return Err(TxError::NonFinal {
            lock_time: tx.lock_time,
            height,
        });
    }
    Ok(TxSpend { fee, spent })
}

/// Rule 5: every input's signature verifies against its key and the sighash.
pub fn verify_signatures(tx: &Transaction, sighash: &Sighash) -> Result<(), TxError> {
    match tx
        .inputs
        .iter()
        .position(|i| !i.pubkey.verify(sighash, &i.signature))
    {
        Some(index) => Err(TxError::BadSignature { index }),
        None => Ok(()),
    }
}

/// Rule 5 like [`verify_signatures`], the inputs spread over the cores when there are
/// several; the first failing input in order is reported.
pub fn verify_signatures_parallel(tx: &Transaction, sighash: &Sighash) -> Result<(), TxError> {
    if tx.inputs.len() < 2 {
        return verify_signatures(tx, sighash);
    }
    match tx
        .inputs
        .par_iter()
        .position_first(|i| !i.pubkey.verify(sighash, &i.signature))
    {
        Some(index) => Err(TxError::BadSignature { index }),
        None => Ok(()),
    }
}

/// Every rule of section 3 for a loose transaction (mempool) to be mined at `height`.
/// A transaction without inputs is a coinbase, which only a block may carry.
pub fn check_transaction(
    tx: &Transaction,
    view: &impl UtxoView,
    height: Height,
    params: &NetworkParams,
    genesis_hash: &BlockHash,
) -> Result<TxSpend, TxError> {
    if tx.is_coinbase() {
        return Err(TxError::CoinbaseNotAllowed);
    }
    let spend = check_transaction_inputs(tx, view, height, params)?;
    verify_signatures(tx, &spend.sighash(tx, genesis_hash))?;
    Ok(spend)
}

/// Rules 1-3 of section 4: the header against its parent. `now` is local time in unix
/// seconds, for the time-too-new policy.
pub fn check_header(header: &Header, parent: &ParentInfo, now: u64) -> Result<(), BlockError> {
    // Only version 1 exists.
    if header.version != HEADER_VERSION {
        return Err(BlockError::BadVersion(header.version));
    }
    // Rule 1: links to the parent, one height above it.
    if header.prev_hash != parent.hash {
        return Err(BlockError::BadPrev(format!(
            "prev_hash {} is not the parent {}",
            header.prev_hash, parent.hash
        )));
    }
    if Some(header.height) != parent.height.next() {
        return Err(BlockError::BadPrev(format!(
            "height {} is not parent height {} + 1",
            header.height, parent.height
        )));
    }
    // Rule 2: the required target, and proof of work against it.
    if header.target != parent.next_target {
        return Err(BlockError::BadTarget {
            found: header.target,
            required: parent.next_target,
        });
    }
    let hash = header.hash();
    if !header.target.is_met_by(&hash.0) {
        return Err(BlockError::BadPow(hash));
    }
    // Rule 3: after the median time past, and (policy) not too far in the future.
    if header.timestamp <= parent.median_time_past {
        return Err(BlockError::TimeTooOld {
            timestamp: header.timestamp,
            mtp: parent.median_time_past,
        });
    }
    if header.timestamp > now.saturating_add(MAX_FUTURE_BLOCK_TIME) {
        return Err(BlockError::TimeTooNew {
            timestamp: header.timestamp,
            now,
        });
    }
    Ok(())
}

/// Rules 4-5 of section 4, which need no chain state: size, coinbase placement and
/// lock_time, unique txids, merkle root. Returns the txids in block order.
pub fn check_block(block: &Block, params: &NetworkParams) -> Result<Vec<Txid>, BlockError> {
    let height = block.header.height;
    // Rule 4: within the size limit, at least one transaction.
    let size = block.size();
    if size as u64 > params.max_block_size {
        return Err(BlockError::BlockTooLarge {
            size,
            max: params.max_block_size,
        });
    }
    let Some(coinbase) = block.transactions.first() else {
        return Err(BlockError::BadCoinbase("block has no transactions".into()));
    };
    // Rule 5: the first transaction, and only it, is a coinbase locked to the height.
    if !coinbase.is_coinbase() {
        return Err(BlockError::BadCoinbase(
            "the first transaction is not a coinbase".into(),
        ));
    }
    if u64::from(coinbase.lock_time) != height.get() {
        return Err(BlockError::BadCoinbase(format!(
            "coinbase lock_time {} is not the block height {height}",
            coinbase.lock_time
        )));
    }
    if let Some(index) = block.transactions[1..]
        .iter()
        .position(Transaction::is_coinbase)
    {
        return Err(BlockError::BadCoinbase(format!(
            "transaction {} is a second coinbase",
            index + 1
        )));
    }
    let txids: Vec<Txid> = block.transactions.iter().map(Transaction::txid).collect();
    // The coinbase obeys the version rule and rule 6 (zero values allowed).
    let coinbase_err = |error| BlockError::Transaction {
        index: 0,
        txid: txids[0],
        error,
    };
    if coinbase.version != TX_VERSION {
        return Err(coinbase_err(TxError::BadVersion(coinbase.version)));
    }
    if coinbase.outputs.is_empty() {
        return Err(coinbase_err(TxError::NoOutputs));
    }
    if coinbase.output_sum().is_none() {
        return Err(coinbase_err(TxError::ValueOutOfRange(
            "sum of coinbase outputs exceeds MAX_MONEY".into(),
        )));
    }
    // No txid twice.
    let mut seen = HashSet::with_capacity(txids.len());
    if let Some(dup) = txids.iter().find(|t| !seen.insert(**t)) {
        return Err(BlockError::DuplicateTx(*dup));
    }
    if merkle_root(&txids) != block.header.merkle_root {
        return Err(BlockError::BadMerkleRoot);
    }
    Ok(txids)
}

/// The UTXO view inside a block: the parent's UTXO set plus the outputs of earlier
/// transactions of the block, minus what they spent.
struct BlockView<'a, V> {
    base: &'a V,
    created: HashMap<OutPoint, Coin>,
    spent: HashSet<OutPoint>,
}

impl<V: UtxoView> UtxoView for BlockView<'_, V> {
    fn coin(&self, outpoint: &OutPoint) -> Option<Coin> {
        if let Some(coin) = self.created.get(outpoint) {
            return Some(*coin);
        }
        if self.spent.contains(outpoint) {
            return None;
        }
        self.base.coin(outpoint)
    }
}

impl<V> BlockView<'_, V> {
    fn add_outputs(&mut self, txid: Txid, tx: &Transaction, height: Height) {
        for (vout, output) in tx.outputs.iter().enumerate() {
            self.created.insert(
                OutPoint {
                    txid,
                    vout: vout as u32,
                },
                Coin {
                    output: *output,
                    height,
                    coinbase: tx.is_coinbase(),
                },
            );
        }
    }

    fn spend(&mut self, outpoint: OutPoint) {
        if self.created.remove(&outpoint).is_none() {
            self.spent.insert(outpoint);
        }
    }
}

/// One signature to verify.
struct SigCheck<'a> {
    tx_index: usize,
    input_index: usize,
    pubkey: &'a PublicKey,
    signature: &'a Signature,
    sighash: Sighash,
}

/// Rules 6-7 of section 4: applies the block's transactions in order to `view` (the UTXO
/// set after the parent) and checks each against section 3 and the coinbase value.
/// `txids` come from [`check_block`]. Signatures of transactions for which
/// `known_valid(txid)` holds (a signature cache) are not verified again; the rest are
/// verified in parallel once every cheaper rule has passed.
pub fn connect_block(
    block: &Block,
    txids: &[Txid],
    view: &impl UtxoView,
    params: &NetworkParams,
    genesis_hash: &BlockHash,
    known_valid: &(dyn Fn(&Txid) -> bool + Sync),
) -> Result<BlockUndo, BlockError> {
    let (undo, signatures) =
        connect_block_deferred(block, txids, view, params, genesis_hash, known_valid)?;
    signatures.verify()?;
    Ok(undo)
}

/// The signatures of a block left to verify once every other rule of
/// [`connect_block_deferred`] has passed.
pub struct BlockSignatures<'a> {
    checks: Vec<SigCheck<'a>>,
    txids: &'a [Txid],
}

impl BlockSignatures<'_> {
    /// Rule 5 for every input, in parallel across the cores; the first failure in block
    /// order is reported.
    pub fn verify(&self) -> Result<(), BlockError> {
        match self
            .checks
            .par_iter()
            .find_first(|c| !c.pubkey.verify(&c.sighash, c.signature))
        {
            Some(bad) => Err(BlockError::Transaction {
                index: bad.tx_index,
                txid: self.txids[bad.tx_index],
                error: TxError::BadSignature {
                    index: bad.input_index,
                },
            }),
            None => Ok(()),
        }
    }

    /// Signatures to verify.
    pub fn len(&self) -> usize {
        self.checks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }
}

/// [`connect_block`] with the signatures left for the caller to verify (for example
/// while it records the block's changes, which it must discard if they fail): every rule
/// but rule 5, and the signature checks that remain.
pub fn connect_block_deferred<'a>(
    block: &'a Block,
    txids: &'a [Txid],
    view: &impl UtxoView,
    params: &NetworkParams,
    genesis_hash: &BlockHash,
    known_valid: &(dyn Fn(&Txid) -> bool + Sync),
) -> Result<(BlockUndo, BlockSignatures<'a>), BlockError> {
    let height = block.header.height;
    let mut overlay = BlockView {
        base: view,
        created: HashMap::new(),
        spent: HashSet::new(),
    };
    let mut undo = BlockUndo::default();
    let mut checks = Vec::new();
    let tx_err = |index: usize, error| BlockError::Transaction {
        index,
        txid: txids[index],
        error,
    };
    overlay.add_outputs(txids[0], &block.transactions[0], height);
    for (index, tx) in block.transactions.iter().enumerate().skip(1) {
        let spend =
            check_transaction_inputs(tx, &overlay, height, params).map_err(|e| tx_err(index, e))?;
        for (input, coin) in tx.inputs.iter().zip(&spend.spent) {
            overlay.spend(input.prev);
            undo.spent.push((input.prev, *coin));
        }
        overlay.add_outputs(txids[index], tx, height);
        undo.fees = undo.fees.checked_add(spend.fee).ok_or_else(|| {
            tx_err(
                index,
                TxError::ValueOutOfRange("block fees exceed MAX_MONEY".into()),
            )
        })?;
        undo.tx_fees.push(spend.fee);
        if !known_valid(&txids[index]) {
            // Over the coins found in the block's view, so an output created earlier in
            // this block is committed to like any other.
            let sighash = spend.sighash(tx, genesis_hash);
            for (input_index, input) in tx.inputs.iter().enumerate() {
                checks.push(SigCheck {
                    tx_index: index,
                    input_index,
                    pubkey: &input.pubkey,
                    signature: &input.signature,
                    sighash,
                });
            }
        }
    }
    // Rule 7: the coinbase claims at most subsidy plus fees.
    let paid = block.transactions[0]
        .output_sum()
        .ok_or_else(|| tx_err(0, TxError::ValueOutOfRange("coinbase sum".into())))?;
    let allowed = subsidy(params, height)
        .checked_add(undo.fees)
        .unwrap_or(Amount::MAX);
    if paid > allowed {
        return Err(BlockError::BadCoinbaseValue { paid, allowed });
    }
    Ok((undo, BlockSignatures { checks, txids }))
}

#[cfg(test)]
#[path = "validation_tests.rs"]
mod tests;
