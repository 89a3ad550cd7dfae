//! Known-answer tests against `testdata/`, whose vectors come from an independent
//! Python implementation of PROTOCOL.md (`testdata/gen_vectors.py`).

use crate::consensus::pow::retarget;
use crate::consensus::{connect_block, Coin};
use crate::consensus::{merkle_root, subsidy, Network, NetworkParams};
use crate::error::ErrorCode;
use crate::primitives::address::decode_bech32m;
use crate::primitives::{
    hash160, sha256d, Address, Amount, BlockHash, Decode, Encode, Height, PublicKey, SecretKey,
    Target, Transaction, Txid, U256,
};
use crate::primitives::{Block, Hash256, Header, OutPoint, PubkeyHash, Signature, TxIn, TxOut};
use serde_json::Value;
use std::collections::HashMap;

fn load(name: &str) -> Value {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("test vector file exists");
    serde_json::from_str(&text).expect("test vector file is JSON")
}

fn s(v: &Value) -> &str {
    v.as_str().expect("string field")
}

fn n(v: &Value) -> u64 {
    v.as_u64().expect("integer field")
}

#[test]
fn hash160_and_sha256d() {
    for case in load("hash160.json").as_array().expect("list") {
        let input = hex::decode(s(&case["input"])).expect("hex");
        assert_eq!(hash160(&input).to_hex(), s(&case["hash160"]));
        assert_eq!(sha256d(&input).to_hex(), s(&case["sha256d"]));
    }
}

#[test]
fn bech32m_bip350_vectors() {
    let v = load("bech32m.json");
    for text in v["valid"].as_array().expect("list") {
        assert!(decode_bech32m(s(text)).is_ok(), "valid {text}");
    }
    for case in v["invalid"].as_array().expect("list") {
        assert!(
            decode_bech32m(s(&case["string"])).is_err(),
            "invalid ({}): {:?}",
            s(&case["reason"]),
            s(&case["string"])
        );
    }
    for text in v["bech32_not_bech32m"].as_array().expect("list") {
        assert!(decode_bech32m(s(text)).is_err(), "bech32 checksum {text}");
    }
    for case in v["addresses"].as_array().expect("list") {
        let hrp = s(&case["hrp"]);
        let hash = PubkeyHash::from_hex(s(&case["pubkey_hash"])).expect("hex");
        let address = Address::new(hrp, hash).expect("valid hrp");
        assert_eq!(address.to_string(), s(&case["address"]));
        assert_eq!(Address::parse(s(&case["address"]), hrp), Ok(address));
    }
}

fn tx_from_json(t: &Value) -> Transaction {
    Transaction {
        version: n(&t["version"]) as u32,
        inputs: t["inputs"]
            .as_array()
            .expect("list")
            .iter()
            .map(|i| TxIn {
                prev: OutPoint {
                    txid: Txid::from_hex(s(&i["txid"])).expect("hex"),
                    vout: n(&i["vout"]) as u32,
                },
                pubkey: PublicKey::from_hex(s(&i["public_key"])).expect("hex"),
                signature: Signature::from_hex(s(&i["signature"])).expect("hex"),
            })
            .collect(),
        outputs: t["outputs"]
            .as_array()
            .expect("list")
            .iter()
            .map(out_from_json)
            .collect(),
        lock_time: n(&t["lock_time"]) as u32,
    }
}

fn out_from_json(o: &Value) -> TxOut {
    TxOut {
        value: Amount::from_base_units(n(&o["value"])).expect("in range"),
        pubkey_hash: PubkeyHash::from_hex(s(&o["pubkey_hash"])).expect("hex"),
    }
}

/// The outputs a vector transaction spends (its `spent` list).
fn spent_from_json(t: &Value) -> Vec<TxOut> {
    t["spent"]
        .as_array()
        .expect("list")
        .iter()
        .map(out_from_json)
        .collect()
}

/// Each case is a block's regular transactions over a UTXO view: encodings, txids and
/// sighash v2 (over the outputs spent, including a parent's earlier in the same block and
/// a 0-value coinbase output) match the Python implementation, and so does the verdict
/// (a signature over a lied value, a key with x >= p: `bad-signature`).
#[test]
fn transactions_sighash_v2_and_block_verdicts() {
    let v = load("transaction.json");
    let net = Network::devnet();
    let genesis = BlockHash::from_hex(s(&v["genesis_hash"])).expect("hex");
    assert_eq!(genesis, net.genesis_hash);
    let height = Height(n(&v["height"]));
    let keys: Vec<SecretKey> = v["secret_keys"]
        .as_array()
        .expect("list")
        .iter()
        .map(|k| {
            let bytes: [u8; 32] = hex::decode(s(k))
                .expect("hex")
                .try_into()
                .expect("32 bytes");
            SecretKey::from_bytes(&bytes).expect("valid key")
        })
        .collect();
    let cases = v["cases"].as_array().expect("list");
    assert!(cases.len() >= 7);
    for case in cases {
        let name = s(&case["name"]);
        let mut view: HashMap<OutPoint, Coin> = HashMap::new();
        for u in case["utxos"].as_array().expect("list") {
            view.insert(
                OutPoint {
                    txid: Txid::from_hex(s(&u["txid"])).expect("hex"),
                    vout: n(&u["vout"]) as u32,
                },
                Coin {
                    output: out_from_json(u),
                    height: Height(n(&u["height"])),
                    coinbase: u["coinbase"].as_bool().expect("bool"),
                },
            );
        }
        let mut transactions = vec![Transaction::coinbase(
            height.get() as u32,
            vec![TxOut {
                value: Amount::ZERO,
                pubkey_hash: PubkeyHash([0; 20]),
            }],
        )];
        for t in case["transactions"].as_array().expect("list") {
            let tx = tx_from_json(&t["transaction"]);
            let encoding = tx.to_bytes();
            assert_eq!(hex::encode(&encoding), s(&t["encoding"]), "{name}");
            assert_eq!(tx.size() as u64, n(&t["size"]), "{name}");
            assert_eq!(Transaction::from_bytes(&encoding), Ok(tx.clone()), "{name}");
            assert_eq!(tx.txid().to_hex(), s(&t["txid"]), "{name}");
            let spent = spent_from_json(t);
            let sighash = tx.sighash(&genesis, &spent);
            assert_eq!(sighash.to_hex(), s(&t["sighash"]), "{name}");
            // Our RFC 6979 signer reproduces python-ecdsa's signatures bit for bit.
            for input in &tx.inputs {
                if let Some(key) = keys.iter().find(|k| k.public_key() == input.pubkey) {
                    if case["verdict"] == "ok" {
                        assert_eq!(key.sign(&sighash), input.signature, "{name}");
                    }
                }
            }
            transactions.push(tx);
        }
        let block = Block {
            header: Header {
                version: 1,
                height,
                prev_hash: BlockHash([0; 32]),
                merkle_root: Hash256([0; 32]),
                timestamp: 0,
                target: net.params.pow_limit,
                nonce: 0,
            },
            transactions,
        };
        let txids: Vec<Txid> = block.transactions.iter().map(Transaction::txid).collect();
        let verdict = connect_block(&block, &txids, &view, &net.params, &genesis, &|_| false);
        match (s(&case["verdict"]), verdict) {
            ("ok", Ok(undo)) => assert_eq!(undo.fees.to_base_units(), n(&case["fees"]), "{name}"),
            (code, Err(e)) => assert_eq!(e.code(), code, "{name}: {e}"),
            (code, Ok(_)) => panic!("{name}: expected {code}, the block connected"),
        }
    }
    // The same signature under another network's genesis hash does not verify.
    let first = &cases[0]["transactions"][0];
    let tx = tx_from_json(&first["transaction"]);
    let spent = spent_from_json(first);
    assert!(tx.inputs[0]
        .pubkey
        .verify(&tx.sighash(&genesis, &spent), &tx.inputs[0].signature));
    assert!(!tx.inputs[0].pubkey.verify(
        &tx.sighash(&BlockHash([1; 32]), &spent),
        &tx.inputs[0].signature
    ));
}

#[test]
fn network_parameter_encoding_starts_with_rules_version() {
    let v = load("network.json");
    let net = Network::devnet();
    assert_eq!(
        n(&v["rules_version"]),
        u64::from(crate::consensus::RULES_VERSION)
    );
    assert_eq!(hex::encode(net.params.encode()), s(&v["encoding"]));
    assert_eq!(net.params.hash().to_hex(), s(&v["params_hash"]));
    assert_eq!(net.genesis.header.prev_hash, net.params.hash());
    assert_eq!(net.genesis_hash.to_hex(), s(&v["genesis_hash"]));
}

#[test]
fn merkle_roots_of_one_to_five_leaves() {
    for case in load("merkle.json").as_array().expect("list") {
        let txids: Vec<Txid> = case["txids"]
            .as_array()
            .expect("list")
            .iter()
            .map(|t| Txid::from_hex(s(t)).expect("hex"))
            .collect();
        assert_eq!(
            merkle_root(&txids).to_hex(),
            s(&case["root"]),
            "{} leaves",
            txids.len()
        );
    }
}

fn params_with(initial: u64, halving: u64, r: u64, t: u64, pow_limit: Target) -> NetworkParams {
    NetworkParams {
        initial_reward: Amount::from_base_units(initial).expect("in range"),
        halving_interval: halving,
        retarget_interval: r,
        target_block_time: t,
        pow_limit,
        ..Network::devnet().params
    }
}

#[test]
fn subsidy_at_halving_boundaries() {
    let cases = load("subsidy.json");
    assert!(cases.as_array().expect("list").len() > 20);
    for case in cases.as_array().expect("list") {
        let p = params_with(
            n(&case["initial_reward"]),
            n(&case["halving_interval"]),
            20,
            10,
            Target::with_leading_zeros(16),
        );
        assert_eq!(
            subsidy(&p, Height(n(&case["height"]))).to_base_units(),
            n(&case["subsidy"]),
            "{case}"
        );
    }
}

#[test]
fn retarget_at_clamps_and_caps() {
    for case in load("retarget.json").as_array().expect("list") {
        let target = |k: &str| Target::from_hex(s(&case[k])).expect("hex");
        let p = params_with(
            1,
            1,
            n(&case["retarget_interval"]),
            n(&case["target_block_time"]),
            target("pow_limit"),
        );
        assert_eq!(
            retarget(&p, target("prev_target"), n(&case["actual_timespan"])),
            target("target"),
            "{}",
            s(&case["name"])
        );
    }
}

#[test]
fn work_of_targets() {
    for case in load("work.json").as_array().expect("list") {
        let t = Target(U256::from_hex(s(&case["target"])).expect("hex"));
        assert_eq!(t.work().to_hex(), s(&case["work"]));
    }
}

/// `(public key, digest, signature, expected verdict when known)`.
pub(crate) type SignatureVector = ([u8; 33], [u8; 32], [u8; 64], Option<bool>);

/// Every input of `transaction.json` as `(public key, sighash v2, signature, verdict)`:
/// the verdict is `Some(true)` for inputs of transactions whose case connects, `None`
/// where the case fails with `bad-signature` on some input (that input is not named).
/// For comparing signature backends.
pub(crate) fn signature_vectors() -> Vec<SignatureVector> {
    let v = load("transaction.json");
    let genesis = BlockHash::from_hex(s(&v["genesis_hash"])).expect("hex");
    let mut out = Vec::new();
    for case in v["cases"].as_array().expect("list") {
        let ok = case["verdict"] == "ok";
        for t in case["transactions"].as_array().expect("list") {
            let tx = tx_from_json(&t["transaction"]);
            let spent = spent_from_json(t);
            let sighash = tx.sighash(&genesis, &spent);
            for input in &tx.inputs {
                out.push((
                    input.pubkey.0,
                    sighash.0,
                    input.signature.0,
                    ok.then_some(true),
                ));
            }
        }
    }
    out
}
