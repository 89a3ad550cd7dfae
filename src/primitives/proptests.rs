//! Property tests: every encoding round-trips (binary and JSON), and decoding arbitrary
//! bytes never panics.

use super::block::{decode_header_list, encode_header_list};
use super::*;
use crate::error::ErrorCode;
use crate::json::{self, BlockJson, TransactionJson};
use proptest::prelude::*;

const HRP: &str = "fdev";

pub fn any_amount() -> impl Strategy<Value = Amount> {
    prop_oneof![
        Just(Amount::ZERO),
        Just(Amount::MAX),
        (0..=MAX_MONEY).prop_map(|v| Amount::from_base_units(v).expect("in range")),
    ]
}

pub fn any_txin() -> impl Strategy<Value = TxIn> {
    (
        any::<[u8; 32]>(),
        any::<u32>(),
        any::<[u8; 33]>(),
        prop::collection::vec(any::<u8>(), 64),
    )
        .prop_map(|(txid, vout, pk, sig)| TxIn {
            prev: OutPoint {
                txid: Txid(txid),
                vout,
            },
            pubkey: PublicKey(pk),
            signature: Signature(sig.try_into().expect("64 bytes")),
        })
}

pub fn any_txout() -> impl Strategy<Value = TxOut> {
    (any_amount(), any::<[u8; 20]>()).prop_map(|(value, h)| TxOut {
        value,
        pubkey_hash: PubkeyHash(h),
    })
}

pub fn any_transaction() -> impl Strategy<Value = Transaction> {
    (
        any::<u32>(),
        prop::collection::vec(any_txin(), 0..4),
        prop::collection::vec(any_txout(), 0..4),
        any::<u32>(),
    )
        .prop_map(|(version, inputs, outputs, lock_time)| Transaction {
            version,
            inputs,
            outputs,
            lock_time,
        })
}

pub fn any_header() -> impl Strategy<Value = Header> {
    (
        any::<u32>(),
        any::<u64>(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<u64>(),
        any::<[u8; 32]>(),
        any::<u64>(),
    )
        .prop_map(
            |(version, height, prev, merkle, timestamp, target, nonce)| Header {
                version,
                height: Height(height),
                prev_hash: BlockHash(prev),
                merkle_root: Hash256(merkle),
                timestamp,
                target: Target::from_be_bytes(target),
                nonce,
            },
        )
}

pub fn any_block() -> impl Strategy<Value = Block> {
    (any_header(), prop::collection::vec(any_transaction(), 0..4)).prop_map(
        |(header, transactions)| Block {
            header,
            transactions,
        },
    )
}

proptest! {
    #[test]
    fn transaction_binary_round_trip(tx in any_transaction()) {
        let bytes = tx.to_bytes();
        prop_assert_eq!(bytes.len(), tx.size());
        prop_assert_eq!(Transaction::from_bytes(&bytes), Ok(tx));
    }

    #[test]
    fn header_binary_round_trip(h in any_header()) {
        let bytes = h.to_bytes();
        prop_assert_eq!(bytes.len(), HEADER_SIZE);
        prop_assert_eq!(Header::from_bytes(&bytes), Ok(h));
    }

    #[test]
    fn block_binary_round_trip(b in any_block()) {
        let bytes = b.to_bytes();
        prop_assert_eq!(bytes.len(), b.size());
        prop_assert_eq!(Block::from_bytes(&bytes), Ok(b));
    }

    #[test]
    fn header_list_round_trip(hs in prop::collection::vec(any_header(), 0..5)) {
        let mut bytes = Vec::new();
        encode_header_list(&hs, &mut bytes);
        prop_assert_eq!(decode_header_list(&bytes), Ok(hs));
    }

    #[test]
    fn trailing_bytes_are_refused(tx in any_transaction(), extra in 1usize..8) {
        let mut bytes = tx.to_bytes();
        bytes.extend(std::iter::repeat_n(0u8, extra));
        prop_assert_eq!(Transaction::from_bytes(&bytes), Err(DecodeError::TrailingBytes(extra)));
    }

    #[test]
    fn truncation_is_refused(b in any_block(), cut in 1usize..64) {
        let bytes = b.to_bytes();
        let cut = cut.min(bytes.len());
        prop_assert!(Block::from_bytes(&bytes[..bytes.len() - cut]).is_err());
    }

    #[test]
    fn transaction_json_round_trip(tx in any_transaction(), fee in prop::option::of(any_amount())) {
        let j = TransactionJson::from_transaction(&tx, HRP, fee);
        let text = serde_json::to_string(&j).expect("serializes");
        let parsed: TransactionJson = json::parse(text.as_bytes()).expect("parses");
        prop_assert_eq!(parsed.to_transaction(HRP), Ok(tx));
    }

    #[test]
    fn block_json_round_trip(b in any_block()) {
        let j = BlockJson::from_block(&b, HRP, None);
        let text = serde_json::to_string(&j).expect("serializes");
        let parsed: BlockJson = json::parse(text.as_bytes()).expect("parses");
        prop_assert_eq!(parsed.to_block(HRP), Ok(b));
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = Transaction::from_bytes(&bytes);
        let _ = Header::from_bytes(&bytes);
        let _ = Block::from_bytes(&bytes);
        let _ = decode_header_list(&bytes);
    }

    #[test]
    fn mutated_encodings_never_panic(b in any_block(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = b.to_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let _ = Block::from_bytes(&bytes);
    }

    #[test]
    fn random_json_never_panics(text in "\\PC{0,200}") {
        if let Ok(j) = json::parse::<TransactionJson>(text.as_bytes()) { let _ = j.to_transaction(HRP); }
        if let Ok(j) = json::parse::<BlockJson>(text.as_bytes()) { let _ = j.to_block(HRP); }
    }
}

#[test]
fn hostile_counts_do_not_allocate() {
    // version, then an input count of 2^32 - 1 with nothing behind it.
    let mut bytes = 1u32.to_le_bytes().to_vec();
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Transaction::from_bytes(&bytes),
        Err(DecodeError::CountTooLarge { .. })
    ));
    let mut block = vec![0u8; HEADER_SIZE];
    block.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Block::from_bytes(&block),
        Err(DecodeError::CountTooLarge { .. })
    ));
}

#[test]
fn value_above_max_money_is_value_out_of_range() {
    let tx = Transaction::coinbase(
        0,
        vec![TxOut {
            value: Amount::MAX,
            pubkey_hash: PubkeyHash([1; 20]),
        }],
    );
    let mut bytes = tx.to_bytes();
    // The value sits after version, the two counts: bytes 12..20.
    bytes[12..20].copy_from_slice(&(MAX_MONEY + 1).to_le_bytes());
    let err = Transaction::from_bytes(&bytes).expect_err("above MAX_MONEY");
    assert_eq!(err.code(), "value-out-of-range");
}

fn sample_json() -> serde_json::Value {
    let tx = Transaction {
        version: 1,
        inputs: vec![TxIn {
            prev: OutPoint {
                txid: Txid([1; 32]),
                vout: 0,
            },
            pubkey: PublicKey([2; 33]),
            signature: Signature([3; 64]),
        }],
        outputs: vec![TxOut {
            value: Amount::from_base_units(5000).expect("in range"),
            pubkey_hash: PubkeyHash([4; 20]),
        }],
        lock_time: 0,
    };
    serde_json::to_value(TransactionJson::from_transaction(&tx, HRP, None)).expect("serializes")
}

fn json_code(v: &serde_json::Value) -> Result<(), &'static str> {
    json::parse::<TransactionJson>(v.to_string().as_bytes())
        .and_then(|j| j.to_transaction(HRP))
        .map(|_| ())
        .map_err(|e| e.code().as_str())
}

#[test]
fn json_strictness() {
    let base = sample_json();
    assert_eq!(json_code(&base), Ok(()));
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "float amount",
            Box::new(|v| v["outputs"][0]["value"] = serde_json::json!(5000.5)),
            "malformed",
        ),
        (
            "float with zero fraction",
            Box::new(|v| v["outputs"][0]["value"] = serde_json::json!(5000.0)),
            "malformed",
        ),
        (
            "negative amount",
            Box::new(|v| v["outputs"][0]["value"] = serde_json::json!(-1)),
            "malformed",
        ),
        (
            "string amount",
            Box::new(|v| v["outputs"][0]["value"] = serde_json::json!("5000")),
            "malformed",
        ),
        (
            "above max money",
            Box::new(|v| v["outputs"][0]["value"] = serde_json::json!(MAX_MONEY + 1)),
            "value-out-of-range",
        ),
        (
            "unknown field",
            Box::new(|v| v["extra"] = serde_json::json!(1)),
            "malformed",
        ),
        (
            "unknown input field",
            Box::new(|v| v["inputs"][0]["script"] = serde_json::json!("")),
            "malformed",
        ),
        (
            "bad hex",
            Box::new(|v| v["inputs"][0]["txid"] = serde_json::json!("zz")),
            "malformed",
        ),
        (
            "short signature",
            Box::new(|v| v["inputs"][0]["signature"] = serde_json::json!("00")),
            "malformed",
        ),
        (
            "txid mismatch",
            Box::new(|v| v["txid"] = serde_json::json!("00".repeat(32))),
            "malformed",
        ),
        (
            "bad address checksum",
            Box::new(|v| {
                let a = v["outputs"][0]["address"]
                    .as_str()
                    .expect("string")
                    .to_string();
                let mut chars: Vec<char> = a.chars().collect();
                let last = chars.len() - 1;
                chars[last] = if chars[last] == 'q' { 'p' } else { 'q' };
                v["outputs"][0]["address"] =
                    serde_json::json!(chars.into_iter().collect::<String>());
            }),
            "malformed",
        ),
        (
            "other network's address",
            Box::new(|v| {
                let a = Address::new("fmain", PubkeyHash([4; 20])).expect("valid hrp");
                v["outputs"][0]["address"] = serde_json::json!(a.to_string());
            }),
            "wrong-network",
        ),
        (
            "missing field",
            Box::new(|v| {
                v.as_object_mut().expect("object").remove("lock_time");
            }),
            "malformed",
        ),
        (
            "negative version",
            Box::new(|v| v["version"] = serde_json::json!(-1)),
            "malformed",
        ),
    ];
    for (name, edit, expected) in cases {
        let mut v = base.clone();
        edit(&mut v);
        assert_eq!(json_code(&v), Err(expected), "{name}");
    }
    // Computed fields on input are ignored, not trusted.
    let mut v = base.clone();
    v["size"] = serde_json::json!(1);
    v["fee"] = serde_json::json!(99);
    assert_eq!(json_code(&v), Ok(()));
}
