//! Network parameters and the genesis file (PROTOCOL.md section 7).

use super::merkle::merkle_root;
use crate::primitives::encoding::{put_u32, put_u64};
use crate::primitives::{
    sha256d, Amount, Block, BlockHash, Header, Height, Target, Transaction, TxOut,
};

/// The version of PROTOCOL.md's consensus rules this node implements: the first field of
/// the hashed parameter encoding. 1 was the rule set before sighash v2.
pub const RULES_VERSION: u32 = 2;

/// The rules that differ between networks. `MAX_MONEY` is not one of them. Every network
/// this node holds follows [`RULES_VERSION`]; a file of another version is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkParams {
    pub name: String,
    /// Human-readable part of this network's addresses.
    pub address_hrp: String,
    pub initial_reward: Amount,
    pub halving_interval: u64,
    /// Seconds the retarget aims for between blocks.
    pub target_block_time: u64,
    pub retarget_interval: u64,
    /// The easiest target any block may have.
    pub pow_limit: Target,
    pub coinbase_maturity: u64,
    pub max_block_size: u64,
}

/// A whole network: its parameters and its genesis block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    pub params: NetworkParams,
    pub genesis: Block,
    pub genesis_hash: BlockHash,
    /// Defaults that are not consensus and not hashed (PROTOCOL.md section 7).
    pub defaults: NetworkDefaults,
}

/// Network defaults a file may carry beside its rules; changing them never changes the
/// genesis hash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkDefaults {
    /// The port users assume when DNS gives only an address.
    pub default_port: Option<u16>,
    /// Names a node may resolve to find peers when given no `--seed`/`--peer`.
    pub dns_seeds: Vec<String>,
}

/// Why a network file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    #[error("network file is not valid JSON of the expected shape: {0}")]
    Json(String),
    #[error("invalid network parameter: {0}")]
    Params(String),
    #[error("invalid genesis block: {0}")]
    Genesis(String),
    #[error(
        "this network file uses consensus rules version {found}; this node implements version \
         {RULES_VERSION}: use the genesis/devnet.json shipped with this version, or make a new \
         network with `full_node genesis`"
    )]
    RulesVersion { found: u32 },
}

impl NetworkParams {
    /// The encoding hashed into the genesis `prev_hash`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_u32(&mut out, RULES_VERSION);
        for text in [&self.name, &self.address_hrp] {
            put_u32(&mut out, text.len() as u32);
            out.extend_from_slice(text.as_bytes());
        }
        put_u64(&mut out, self.initial_reward.to_base_units());
        put_u64(&mut out, self.halving_interval);
        put_u64(&mut out, self.target_block_time);
        put_u64(&mut out, self.retarget_interval);
        out.extend_from_slice(&self.pow_limit.to_be_bytes());
        put_u64(&mut out, self.coinbase_maturity);
        put_u64(&mut out, self.max_block_size);
        out
    }

    /// `SHA256d` of [`NetworkParams::encode`]: the genesis block's `prev_hash`.
    pub fn hash(&self) -> BlockHash {
        BlockHash(sha256d(&self.encode()).0)
    }

    /// The sanity conditions of PROTOCOL.md section 5, plus a usable name and hrp.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let bad = |m: &str| Err(GenesisError::Params(m.to_string()));
        if self.name.is_empty() || self.name.len() > 64 {
            return bad("name must be 1 to 64 bytes");
        }
        if crate::primitives::Address::new(&self.address_hrp, Default::default()).is_err()
            || self.address_hrp.chars().any(|c| c.is_ascii_uppercase())
        {
            return bad("address_hrp must be a lower-case bech32 human-readable part");
        }
        if self.retarget_interval < 2 {
            return bad("retarget_interval must be at least 2");
        }
        match (self.retarget_interval - 1).checked_mul(self.target_block_time) {
            Some(expected) if expected >= 4 => {}
            _ => return bad(
                "(retarget_interval - 1) * target_block_time must be at least 4 and fit in 64 bits",
            ),
        }
        if self.halving_interval < 1 {
            return bad("halving_interval must be at least 1");
        }
        if self.pow_limit.0.is_zero() {
            return bad("pow_limit must be above zero");
        }
        if self.max_block_size < 1000 {
            return bad("max_block_size must be at least 1000 bytes");
        }
        Ok(())
    }
}

impl Network {
    /// Checks a genesis block against its parameters.
    pub fn from_parts(params: NetworkParams, genesis: Block) -> Result<Network, GenesisError> {
        params.validate()?;
        let bad = |m: String| Err(GenesisError::Genesis(m));
        let header = &genesis.header;
        if header.height != Height::GENESIS {
            return bad(format!("height is {}, expected 0", header.height));
        }
        if header.prev_hash != params.hash() {
            return bad(format!(
                "prev_hash {} is not the hash of the network parameters {}",
                header.prev_hash,
                params.hash()
            ));
        }
        match genesis.transactions.first() {
            Some(cb) if cb.is_coinbase() && cb.lock_time == 0 => {}
            _ => return bad("the first transaction must be a coinbase with lock_time 0".into()),
        }
        if genesis.transactions.len() != 1 {
            return bad("the genesis block holds exactly one transaction, its coinbase".into());
        }
        let txids: Vec<_> = genesis.transactions.iter().map(Transaction::txid).collect();
        if merkle_root(&txids) != header.merkle_root {
            return bad("merkle_root does not match the transactions".into());
        }
        let genesis_hash = genesis.hash();
        Ok(Network {
            params,
            genesis,
            genesis_hash,
            defaults: NetworkDefaults::default(),
        })
    }

    /// Builds a new network: a genesis coinbase paying `premine`, with the proof of work
    /// searched at `pow_limit` so the genesis hash also meets it.
    pub fn create(
        params: NetworkParams,
        premine: Vec<TxOut>,
        timestamp: u64,
    ) -> Result<Network, GenesisError> {
        params.validate()?;
        if premine.is_empty() {
            return Err(GenesisError::Genesis(
                "the genesis coinbase needs at least one output".into(),
            ));
        }
        if Amount::checked_sum(premine.iter().map(|o| o.value)).is_none() {
            return Err(GenesisError::Genesis(
                "premine sum exceeds MAX_MONEY".into(),
            ));
        }
        let coinbase = Transaction::coinbase(0, premine);
        let mut header = Header {
            version: crate::primitives::block::HEADER_VERSION,
            height: Height::GENESIS,
            prev_hash: params.hash(),
            merkle_root: merkle_root(&[coinbase.txid()]),
            timestamp,
            target: params.pow_limit,
            nonce: 0,
        };
        while !header.target.is_met_by(&header.hash().0) {
            header.nonce = header.nonce.wrapping_add(1);
        }
        Network::from_parts(
            params,
            Block {
                header,
                transactions: vec![coinbase],
            },
        )
    }
}
