//! Known-answer tests against `testdata/`, whose vectors come from an independent
//! Python implementation of PROTOCOL.md (`testdata/gen_vectors.py`).

use crate::consensus::pow::retarget;
use crate::consensus::{merkle_root, subsidy, Network, NetworkParams};
use crate::primitives::address::decode_bech32m;
use crate::primitives::{
    hash160, sha256d, Address, Amount, BlockHash, Decode, Encode, Height, PublicKey, SecretKey,
    Target, Transaction, Txid, U256,
};
use crate::primitives::{OutPoint, PubkeyHash, Signature, TxIn, TxOut};
use serde_json::Value;

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

#[test]
fn signed_transaction_txid_and_sighash() {
    let v = load("transaction.json");
    let genesis = BlockHash::from_hex(s(&v["genesis_hash"])).expect("hex");
    assert_eq!(genesis, Network::devnet().genesis_hash);
    let t = &v["transaction"];
    let tx = Transaction {
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
            .map(|o| TxOut {
                value: Amount::from_base_units(n(&o["value"])).expect("in range"),
                pubkey_hash: PubkeyHash::from_hex(s(&o["pubkey_hash"])).expect("hex"),
            })
            .collect(),
        lock_time: n(&t["lock_time"]) as u32,
    };
    let encoding = tx.to_bytes();
    assert_eq!(hex::encode(&encoding), s(&v["encoding"]));
    assert_eq!(tx.size() as u64, n(&v["size"]));
    assert_eq!(Transaction::from_bytes(&encoding), Ok(tx.clone()));
    assert_eq!(tx.txid().to_hex(), s(&v["txid"]));
    let sighash = tx.sighash(&genesis);
    assert_eq!(sighash.to_hex(), s(&v["sighash"]));
    // Our RFC 6979 signer reproduces python-ecdsa's signature bit for bit, and it verifies.
    let secret: [u8; 32] = hex::decode(s(&v["secret_key"]))
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let key = SecretKey::from_bytes(&secret).expect("valid key");
    assert_eq!(key.public_key(), tx.inputs[0].pubkey);
    assert_eq!(key.sign(&sighash), tx.inputs[0].signature);
    assert!(tx.inputs[0]
        .pubkey
        .verify(&sighash, &tx.inputs[0].signature));
    // The same signature under another network's genesis hash does not verify.
    assert!(!tx.inputs[0]
        .pubkey
        .verify(&tx.sighash(&BlockHash([1; 32])), &tx.inputs[0].signature));
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
