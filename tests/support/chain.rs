//! A test network and the transactions and blocks tests build by hand.
//!
//! The network has the easiest useful proof of work (4 leading zero bits, about 16
//! hashes a block) and never retargets, so mining is instant and every block has the
//! same work: the chain with more blocks has more work.

use ferro::consensus::{Network, NetworkParams, ParentInfo};
use ferro::json::{BlockJson, TransactionJson};
use ferro::primitives::{
    Address, Amount, Block, BlockHash, OutPoint, PubkeyHash, SecretKey, Signature, Target,
    Transaction, TxIn, TxOut,
};
use serde_json::Value;

/// Premine outputs paying alice, 1000 coins each (vouts `0..ALICE_OUTPUTS`).
pub const ALICE_OUTPUTS: u32 = 6;
/// Coins in every premine output.
pub const PREMINE_COINS: u64 = 1000;

/// secp256k1's group order `n`, big-endian.
const CURVE_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

/// `units` base units (test amounts are far below `MAX_MONEY`).
pub fn units(units: u64) -> Amount {
    Amount::from_base_units(units).expect("test amounts are below MAX_MONEY")
}

/// `n` whole coins.
pub fn coins(n: u64) -> Amount {
    Amount::from_coins(n).expect("test amounts are below MAX_MONEY")
}

fn key(byte: u8) -> SecretKey {
    SecretKey::from_bytes(&[byte; 32]).expect("a repeated small byte is a valid secret key")
}

/// Local unix time in seconds.
pub fn now() -> u64 {
    ferro::node::unix_now()
}

/// A test network with keys holding its premine.
pub struct TestNet {
    pub network: Network,
    pub hrp: String,
    /// Holds premine vouts `0..ALICE_OUTPUTS`.
    pub alice: SecretKey,
    /// Holds premine vout `ALICE_OUTPUTS`.
    pub bob: SecretKey,
    /// Receives mined blocks; holds nothing at genesis.
    pub miner: SecretKey,
    /// Outputs of the transactions signed here, so a child signs over its parent's
    /// outputs (sighash v2) without the test naming them.
    made: std::sync::Mutex<std::collections::HashMap<OutPoint, TxOut>>,
}

impl TestNet {
    pub fn new() -> anyhow::Result<TestNet> {
        Self::with_name("nodetest")
    }

    /// A network named `name`: another name is another genesis, hence another network.
    pub fn with_name(name: &str) -> anyhow::Result<TestNet> {
        let (alice, bob, miner) = (key(1), key(2), key(3));
        let params = NetworkParams {
            name: name.into(),
            address_hrp: "ftest".into(),
            initial_reward: coins(50),
            halving_interval: 1000,
            target_block_time: 10,
            retarget_interval: 1_000_000,
            pow_limit: Target::with_leading_zeros(4),
            coinbase_maturity: 2,
            max_block_size: 1_000_000,
        };
        let mut premine: Vec<TxOut> = (0..ALICE_OUTPUTS)
            .map(|_| TxOut {
                value: coins(PREMINE_COINS),
                pubkey_hash: alice.public_key().pubkey_hash(),
            })
            .collect();
        premine.push(TxOut {
            value: coins(PREMINE_COINS),
            pubkey_hash: bob.public_key().pubkey_hash(),
        });
        // In the past: blocks need a timestamp above the median time past.
        let network = Network::create(params, premine, now() - 3600)?;
        Ok(TestNet {
            hrp: network.params.address_hrp.clone(),
            network,
            alice,
            bob,
            miner,
            made: Default::default(),
        })
    }

    pub fn genesis_hash(&self) -> BlockHash {
        self.network.genesis_hash
    }

    /// Premine output `vout` (see [`ALICE_OUTPUTS`]).
    pub fn premine(&self, vout: u32) -> OutPoint {
        OutPoint {
            txid: self.network.genesis.transactions[0].txid(),
            vout,
        }
    }

    pub fn address(&self, key: &SecretKey) -> String {
        self.address_of(key.public_key().pubkey_hash())
    }

    pub fn address_of(&self, pkh: PubkeyHash) -> String {
        Address::new(&self.hrp, pkh)
            .expect("the test hrp is valid")
            .to_string()
    }

    /// Fills every input's signature with `key`'s signature of the sighash, over the
    /// spent outputs as far as this test network knows them: the premine and the outputs
    /// of transactions signed here. Any other input (a mined coinbase, an unknown output)
    /// is signed over as a zero output of `key`: use [`TestNet::sign_over`] to be exact.
    pub fn sign(&self, tx: Transaction, key: &SecretKey) -> Transaction {
        let genesis = &self.network.genesis.transactions[0];
        let genesis_txid = genesis.txid();
        let spent: Vec<TxOut> = {
            let made = self.made.lock().unwrap_or_else(|e| e.into_inner());
            tx.inputs
                .iter()
                .map(|i| {
                    let premine = (i.prev.txid == genesis_txid)
                        .then(|| genesis.outputs.get(i.prev.vout as usize).copied())
                        .flatten();
                    premine
                        .or_else(|| made.get(&i.prev).copied())
                        .unwrap_or(TxOut {
                            value: Amount::ZERO,
                            pubkey_hash: key.public_key().pubkey_hash(),
                        })
                })
                .collect()
        };
        self.sign_over(tx, key, &spent)
    }

    /// Fills every input's signature with `key`'s signature of the sighash over `spent`
    /// (one output per input), and remembers the transaction's outputs.
    pub fn sign_over(&self, mut tx: Transaction, key: &SecretKey, spent: &[TxOut]) -> Transaction {
        let sighash = tx.sighash(&self.genesis_hash(), spent);
        for input in &mut tx.inputs {
            input.signature = key.sign(&sighash);
        }
        let txid = tx.txid();
        let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        for (vout, output) in tx.outputs.iter().enumerate() {
            made.insert(
                OutPoint {
                    txid,
                    vout: vout as u32,
                },
                *output,
            );
        }
        tx
    }

    /// A version 1 transaction spending `inputs` (all `key`'s) to `outputs`, signed.
    pub fn spend(&self, key: &SecretKey, inputs: &[OutPoint], outputs: Vec<TxOut>) -> Transaction {
        self.sign(Self::unsigned(key, inputs, outputs), key)
    }

    /// A version 1 transaction spending `inputs` with `key`, signatures zeroed.
    fn unsigned(key: &SecretKey, inputs: &[OutPoint], outputs: Vec<TxOut>) -> Transaction {
        Transaction {
            version: 1,
            inputs: inputs
                .iter()
                .map(|prev| TxIn {
                    prev: *prev,
                    pubkey: key.public_key(),
                    signature: Signature([0; 64]),
                })
                .collect(),
            outputs,
            lock_time: 0,
        }
    }

    /// Spends `from` (worth `value`, owned by `key`): `amount` to `to`, `fee` to the
    /// miner, the rest back to `key`.
    pub fn pay(
        &self,
        key: &SecretKey,
        from: OutPoint,
        value: Amount,
        to: &SecretKey,
        amount: Amount,
        fee: Amount,
    ) -> Transaction {
        let change = value
            .checked_sub(amount)
            .and_then(|v| v.checked_sub(fee))
            .expect("test payments fit their input");
        let mut outputs = vec![TxOut {
            value: amount,
            pubkey_hash: to.public_key().pubkey_hash(),
        }];
        if !change.is_zero() {
            outputs.push(TxOut {
                value: change,
                pubkey_hash: key.public_key().pubkey_hash(),
            });
        }
        let spent = [TxOut {
            value,
            pubkey_hash: key.public_key().pubkey_hash(),
        }];
        self.sign_over(Self::unsigned(key, &[from], outputs), key, &spent)
    }

    /// A premine payment from alice's output `vout` to bob, paying `fee`.
    pub fn alice_pays_bob(&self, vout: u32, amount: Amount, fee: Amount) -> Transaction {
        self.pay(
            &self.alice,
            self.premine(vout),
            coins(PREMINE_COINS),
            &self.bob,
            amount,
            fee,
        )
    }

    pub fn tx_json(&self, tx: &Transaction) -> Value {
        serde_json::to_value(TransactionJson::from_transaction(tx, &self.hrp, None))
            .expect("a transaction always converts to json")
    }

    pub fn block_json(&self, block: &Block) -> Value {
        serde_json::to_value(BlockJson::from_block(block, &self.hrp, None))
            .expect("a block always converts to json")
    }

    /// An unsolved block on the hand-made block `parent` (whose timestamp, the latest of
    /// its chain in these tests, stands in for its median time past).
    pub fn template_on(&self, parent: &Block, txs: Vec<(Transaction, Amount)>) -> Block {
        let info = ParentInfo {
            hash: parent.hash(),
            height: parent.header.height,
            median_time_past: parent.header.timestamp,
            next_target: parent.header.target,
        };
        self.template(&info, txs)
    }

    /// An unsolved block on `parent` paying the miner subsidy plus the fees of `txs`.
    pub fn template(&self, parent: &ParentInfo, txs: Vec<(Transaction, Amount)>) -> Block {
        ferro::miner::block_template(
            &self.network.params,
            parent,
            txs,
            self.miner.public_key().pubkey_hash(),
            now(),
        )
    }
}

/// Recomputes the merkle root after the transactions changed.
pub fn remerkle(block: &mut Block) {
    let txids: Vec<_> = block.transactions.iter().map(Transaction::txid).collect();
    block.header.merkle_root = ferro::consensus::merkle_root(&txids);
}

/// Finds a nonce meeting the header's target.
pub fn solve(block: &mut Block) {
    assert!(
        ferro::miner::solve(block, &|| false),
        "an uncancelled search always ends with a solution"
    );
}

/// [`remerkle`] then [`solve`]: a block whose only faults are the ones a test put in.
pub fn seal(mut block: Block) -> Block {
    remerkle(&mut block);
    solve(&mut block);
    block
}

/// Picks a nonce whose block hash is above the target: a block without proof of work.
pub fn unsolve(block: &mut Block) {
    block.header.nonce = 0;
    while block.header.target.is_met_by(&block.hash().0) {
        block.header.nonce += 1;
    }
}

/// The same signature with `s` replaced by `n - s`: just as valid for plain ECDSA, but
/// high-S, which the protocol refuses.
pub fn high_s(signature: &Signature) -> Signature {
    let mut out = signature.0;
    let mut borrow = 0u16;
    for i in (0..32).rev() {
        let s = u16::from(signature.0[32 + i]) + borrow;
        let n = u16::from(CURVE_ORDER[i]);
        if n >= s {
            out[32 + i] = (n - s) as u8;
            borrow = 0;
        } else {
            out[32 + i] = (n + 256 - s) as u8;
            borrow = 1;
        }
    }
    Signature(out)
}
