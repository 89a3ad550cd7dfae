//! End-to-end tests of the `wallet` binary against a node on 127.0.0.1.
//!
//! The node is the in-process fake of `support::fake_node`, which validates submitted
//! transactions with the consensus code and lets these tests shape the node's answers
//! (rejections, fee rates); `real_node.rs` runs the same kind of send against the real
//! full node. The wallet is the real binary run as a process, password from
//! `WALLET_PASSWORD`.
#![allow(clippy::unwrap_used)]

mod support;

use ferro::primitives::{Address, PubkeyHash, Txid};
use support::fake_node::{FakeNode, RECOMMENDED_FEE_RATE};
use support::wallet::*;
use wallet::file::MAX_ADDRESS_INDEX;
use wallet::keys::Chain;

#[test]
fn full_send_moves_funds_and_returns_change() {
    let node = FakeNode::start();
    let faucet = Wallet::restored(node.url(), FAUCET);
    let other = Wallet::restored(node.url(), OTHER);
    assert_eq!(faucet.receive_address(), FAUCET_ADDRESS);
    assert_eq!(faucet.confirmed_balance(), PREMINE);
    assert_eq!(other.confirmed_balance(), 0);

    // Send 1.5 coins at the node's recommended fee rate.
    let to = other.receive_address();
    let sent = faucet.json(&["send", "--to", &to, "--amount", "1.5", "--yes"]);
    let txid = sent["txid"].as_str().unwrap();
    assert_eq!(node.accepted_txids(), vec![Txid::from_hex(txid).unwrap()]);
    let fee = sent["fee"].as_u64().unwrap();
    // One input, recipient and change: 16 + 133 + 2 * 28 = 205 bytes.
    assert_eq!(sent["size"], 205);
    assert_eq!(fee, RECOMMENDED_FEE_RATE * 205);
    assert_eq!(sent["amount"], 150_000_000);

    // The change went to the first change address of the faucet wallet.
    let change_hash = key_hash(FAUCET, Chain::Change, 0);
    let change_value = PREMINE - 150_000_000 - fee;
    assert_eq!(sent["change"]["value"], change_value);
    assert_eq!(
        sent["change"]["address"],
        Address::new("fdev", change_hash).unwrap().to_string()
    );
    assert_eq!(sent["change"]["path"], "m/44'/1'/0'/1/0");
    assert_eq!(node.ledger().balance_of(change_hash), change_value);

    // Balances moved, as the wallet sees them through the node.
    assert_eq!(other.confirmed_balance(), 150_000_000);
    assert_eq!(faucet.confirmed_balance(), change_value);
    let utxos = faucet.json(&["utxos"]);
    let list = utxos["utxos"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["path"], "m/44'/1'/0'/1/0");
    assert_eq!(list[0]["txid"], txid);

    // The wallet spends its own change, and the next change goes to a fresh address.
    let out = faucet.run(&[
        "send",
        "--to",
        &to,
        "--amount",
        "0.00001",
        "--fee-rate",
        "1",
        "--yes",
    ]);
    assert_success(&out);
    let second = stdout(&out).trim().to_string();
    assert_eq!(
        node.accepted_txids()[1],
        Txid::from_hex(&second).unwrap(),
        "the printed txid is the node's"
    );
    let change1 = key_hash(FAUCET, Chain::Change, 1);
    assert_eq!(
        node.ledger().balance_of(change1),
        change_value - 1_000 - 205
    );
    assert_eq!(other.confirmed_balance(), 150_000_000 + 1_000);

    // History shows both transactions, newest first, with the wallet's net effect.
    let history = other.json(&["history"]);
    let rows = history["transactions"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["txid"], second.as_str());
    assert_eq!(rows[0]["net"], 1_000);
    let history = faucet.json(&["history"]);
    let rows = history["transactions"].as_array().unwrap();
    assert_eq!(rows[1]["net"], -(150_000_000 + fee as i64));
}

#[test]
fn insufficient_funds_says_available_and_needed() {
    let node = FakeNode::start();
    let faucet = Wallet::restored(node.url(), FAUCET);
    let out = faucet.run(&[
        "send",
        "--to",
        FAUCET_ADDRESS,
        "--amount",
        "1000000",
        "--fee-rate",
        "1",
        "--yes",
    ]);
    let err = assert_fails(&out);
    assert!(err.contains("insufficient funds"), "{err}");
    assert!(err.contains("1000000.00000000 coins spendable"), "{err}");
    assert!(err.contains("1000000.00000177 needed"), "{err}");
    assert!(node.accepted_txids().is_empty());

    let out = faucet.run(&[
        "--json",
        "send",
        "--to",
        FAUCET_ADDRESS,
        "--amount",
        "2000000",
        "--yes",
    ]);
    assert_fails(&out);
    let body: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(body["error"]["code"], "insufficient-funds");
}

#[test]
fn foreign_and_damaged_addresses_are_refused() {
    let node = FakeNode::start();
    let faucet = Wallet::restored(node.url(), FAUCET);
    let foreign = Address::new("fmain", PubkeyHash([7; 20]))
        .unwrap()
        .to_string();
    let out = faucet.run(&["--json", "send", "--to", &foreign, "--amount", "1", "--yes"]);
    let err = assert_fails(&out);
    assert!(err.contains("wrong-network"), "{err}");
    assert!(err.contains("fdev"), "{err}");

    // One changed character breaks the bech32m checksum.
    let mut damaged = FAUCET_ADDRESS.to_string();
    damaged.replace_range(10..11, if &damaged[10..11] == "q" { "p" } else { "q" });
    let out = faucet.run(&["send", "--to", &damaged, "--amount", "1", "--yes"]);
    let err = assert_fails(&out);
    assert!(err.contains("invalid address"), "{err}");
    assert!(node.accepted_txids().is_empty());
}

#[test]
fn unreachable_node_is_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let node = FakeNode::start();
    let mut faucet = Wallet::restored(node.url(), FAUCET);
    faucet.node = url;
    let out = faucet.run(&["balance"]);
    let err = assert_fails(&out);
    assert!(err.contains("unreachable"), "{err}");
    assert!(err.contains("--node"), "{err}");
    let out = faucet.run(&["send", "--to", FAUCET_ADDRESS, "--amount", "1", "--yes"]);
    assert!(assert_fails(&out).contains("unreachable"));
}

#[test]
fn node_rejection_keeps_its_code() {
    let node = FakeNode::start();
    let faucet = Wallet::restored(node.url(), FAUCET);
    // Rate 0 is below the node's minimum.
    let out = faucet.run(&[
        "send",
        "--to",
        FAUCET_ADDRESS,
        "--amount",
        "1",
        "--fee-rate",
        "0",
        "--yes",
    ]);
    let err = assert_fails(&out);
    assert!(err.contains("rejected"), "{err}");
    assert!(err.contains("fee-too-low"), "{err}");
    assert!(node.accepted_txids().is_empty());
}

#[test]
fn wrong_password_and_corrupted_file() {
    let node = FakeNode::start();
    let faucet = Wallet::restored(node.url(), FAUCET);
    let out = faucet
        .command(&["--json", "balance"])
        .env("WALLET_PASSWORD", "not it")
        .output()
        .unwrap();
    let err = assert_fails(&out);
    assert!(err.contains("wrong-password"), "{err}");

    // A password file works like the variable (one trailing newline is ignored).
    let pw = faucet.path.with_file_name("pw.txt");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let out = faucet
        .command(&["address", "--password-file", pw.to_str().unwrap()])
        .env_remove("WALLET_PASSWORD")
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(stdout(&out).trim(), FAUCET_ADDRESS);

    // Damage the encrypted part.
    let text = std::fs::read_to_string(&faucet.path).unwrap();
    let mut file: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ct = file["cipher"]["ciphertext"].as_str().unwrap().to_string();
    let flipped = format!(
        "{}{}",
        if ct.starts_with('0') { "1" } else { "0" },
        &ct[1..]
    );
    file["cipher"]["ciphertext"] = flipped.into();
    std::fs::write(&faucet.path, file.to_string()).unwrap();
    let err = assert_fails(&faucet.run(&["balance"]));
    assert!(err.contains("is corrupted"), "{err}");

    std::fs::write(&faucet.path, "{\"format\": \"ferro-wal").unwrap();
    let err = assert_fails(&faucet.run(&["balance"]));
    assert!(err.contains("is corrupted"), "{err}");

    std::fs::remove_file(&faucet.path).unwrap();
    let err = assert_fails(&faucet.run(&["balance"]));
    assert!(err.contains("wallet new"), "{err}");
}

#[test]
fn new_shows_the_mnemonic_once_and_never_overwrites() {
    let node = FakeNode::start();
    let w = Wallet::new(node.url());
    let out = w.run(&["--json", "new", "--words", "24"]);
    assert_success(&out);
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mnemonic = created["mnemonic"].as_str().unwrap().to_string();
    assert_eq!(mnemonic.split(' ').count(), 24);
    let file = std::fs::read_to_string(&w.path).unwrap();
    // No run of two mnemonic words appears (single words can: "salt" is a bip39 word).
    let words: Vec<&str> = mnemonic.split(' ').collect();
    for pair in words.windows(2) {
        assert!(
            !file.contains(&pair.join(" ")),
            "plaintext words in the file"
        );
    }
    assert!(!file.contains(&mnemonic));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&w.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Nothing else prints it.
    let address = w.receive_address();
    for args in [&["address"][..], &["balance"], &["utxos"], &["history"]] {
        let out = w.run(args);
        assert_success(&out);
        assert!(!stdout(&out).contains(&mnemonic) && !stderr(&out).contains(&mnemonic));
    }

    // A second `new` is refused and the file is untouched.
    let err = assert_fails(&w.run(&["new"]));
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&w.path).unwrap(), file);

    // The mnemonic restores the same keys elsewhere.
    let copy = Wallet::restored(node.url(), &mnemonic);
    assert_eq!(copy.receive_address(), address);
    // `address --new` hands out the next one, and remembers it.
    let fresh = copy.json(&["address", "--new"]);
    assert_eq!(fresh["path"], "m/44'/1'/0'/0/1");
    assert_eq!(copy.json(&["address"])["path"], "m/44'/1'/0'/0/1");
}

#[test]
fn restore_refuses_bad_mnemonics() {
    let node = FakeNode::start();
    let w = Wallet::new(node.url());
    let bad_word = FAUCET.replace("about", "abuot");
    let out = w.run_with_stdin(&["restore"], &format!("{bad_word}\n"));
    let err = assert_fails(&out);
    assert!(
        err.contains("word 12 (\"abuot\") is not in the bip39 english word list"),
        "{err}"
    );
    let bad_sum = FAUCET.replace("about", "zoo");
    let err = assert_fails(&w.run_with_stdin(&["restore"], &format!("{bad_sum}\n")));
    assert!(err.contains("checksum"), "{err}");
    assert!(!w.path.exists());

    // With a bip39 passphrase on the second line the keys differ.
    let out = w.run_with_stdin(&["restore"], &format!("{FAUCET}\nTREZOR\n"));
    assert_success(&out);
    assert_ne!(w.receive_address(), FAUCET_ADDRESS);
}

#[test]
fn confirmation_is_required_without_yes() {
    let node = FakeNode::start();
    let faucet = Wallet::restored(node.url(), FAUCET);
    // stdin is closed: no answer, nothing sent.
    let out = faucet.run(&["send", "--to", FAUCET_ADDRESS, "--amount", "1"]);
    let err = assert_fails(&out);
    assert!(err.contains("--yes"), "{err}");
    assert!(
        err.contains("send   1.00000000 coins to"),
        "summary first: {err}"
    );
    assert!(node.accepted_txids().is_empty());
    // "n" cancels, "y" sends.
    let out = faucet.run_with_stdin(&["send", "--to", FAUCET_ADDRESS, "--amount", "1"], "n\n");
    assert!(assert_fails(&out).contains("cancelled"));
    let out = faucet.run_with_stdin(&["send", "--to", FAUCET_ADDRESS, "--amount", "1"], "y\n");
    assert_success(&out);
    assert_eq!(node.accepted_txids().len(), 1);
}

#[test]
fn usage_errors_exit_2() {
    let w = Wallet::new("http://127.0.0.1:1");
    for args in [
        &["send", "--to", FAUCET_ADDRESS, "--amount", "1.000000001"][..],
        &["send", "--to", FAUCET_ADDRESS, "--amount", "-1"],
        &["send", "--amount", "1"],
        &["new", "--words", "13"],
        &["frobnicate"],
    ] {
        let out = w.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let help = w.run(&["send", "--help"]);
    assert_success(&help);
    let text = stdout(&help);
    for needle in ["--fee-rate", "WALLET_FEE_RATE", "--yes", "WALLET_NODE"] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
}

// --- A node that lies to the wallet (issue 11) -------------------------------------------

/// The faucet's 1 000 000-coin premine reported as 20 coins: with the balance told
/// truthfully, then consistently with the lie, the wallet refuses before signing and names
/// the node; a node that also lies about the previous transaction gets a transaction that
/// fails the real signature check (sighash v2), so the real fee can never be what it hid.
#[test]
fn coin_value_lie_is_refused_naming_the_node() {
    let node = FakeNode::start();
    let faucet = Wallet::restored(node.url(), FAUCET);
    let premine = node.ledger().premine_outpoint();
    node.ledger()
        .lies
        .utxo_values
        .insert(premine, 20 * ferro::primitives::COIN);
    let send = ["send", "--to", FAUCET_ADDRESS, "--amount", "10", "--yes"];

    // The listed coins do not add up to the reported balance.
    let err = assert_fails(&faucet.run(&send));
    assert!(err.contains("inconsistent answers"), "{err}");
    assert!(err.contains(node.url()), "names the node: {err}");
    assert!(err.contains("balance"), "{err}");

    // The balance follows the lie: the previous transaction does not.
    node.ledger().lies.balance_follows_listing = true;
    let err = assert_fails(&faucet.run(&send));
    assert!(err.contains(node.url()), "{err}");
    assert!(
        err.contains("1000000.00000000"),
        "shows the true value: {err}"
    );

    // Every answer lies consistently: the wallet signs over 20 coins, which the node's
    // consensus check refuses, because the coin is worth 1 000 000.
    node.ledger().lies.transactions_follow_listing = true;
    let err = assert_fails(&faucet.run(&send));
    assert!(err.contains("bad-signature"), "{err}");
    assert!(node.accepted_txids().is_empty());
    assert_eq!(
        node.ledger()
            .balance_of(key_hash(FAUCET, Chain::Receive, 0)),
        PREMINE
    );
}

/// `/fees` answering 10^9 base units per byte: refused even with `--yes`, by name.
#[test]
fn fee_rate_lie_is_refused_even_with_yes() {
    let node = FakeNode::start();
    let faucet = Wallet::restored(node.url(), FAUCET);
    node.ledger().lies.fee_rate = Some(1_000_000_000);
    let out = faucet.run(&["send", "--to", FAUCET_ADDRESS, "--amount", "10", "--yes"]);
    let err = assert_fails(&out);
    assert!(
        err.contains("above the limit of 1000 base units/byte"),
        "{err}"
    );
    assert!(err.contains(node.url()), "{err}");
    let out = faucet.run(&[
        "--json",
        "send",
        "--to",
        FAUCET_ADDRESS,
        "--amount",
        "10",
        "--yes",
    ]);
    assert!(stderr(&out).contains("fee-too-high"), "{}", stderr(&out));
    // The absolute cap holds too, with the user's own rate.
    let out = faucet.run(&[
        "send",
        "--to",
        FAUCET_ADDRESS,
        "--amount",
        "10",
        "--fee-rate",
        "900",
        "--max-fee",
        "0.001",
        "--yes",
    ]);
    let err = assert_fails(&out);
    assert!(err.contains("above the limit of 0.00100000 coins"), "{err}");
    // Raising the limits on purpose is possible: 900 x 205 bytes = 0.001845 coins.
    let out = faucet.run(&[
        "send",
        "--to",
        FAUCET_ADDRESS,
        "--amount",
        "10",
        "--fee-rate",
        "900",
        "--yes",
    ]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("0.00184500 coins, 0.02% of the amount"),
        "{}",
        stderr(&out)
    );
    assert_eq!(node.accepted_txids().len(), 1);
}

/// The summary shows the fee's share of the amount and warns above 1 %.
#[test]
fn summary_warns_when_the_fee_is_above_one_percent() {
    let node = FakeNode::start();
    let faucet = Wallet::restored(node.url(), FAUCET);
    // 410 base units of fee on 10 000: 4.10 %.
    let out = faucet.run(&[
        "send",
        "--to",
        FAUCET_ADDRESS,
        "--amount",
        "0.0001",
        "--yes",
    ]);
    assert_success(&out);
    let err = stderr(&out);
    assert!(err.contains("4.10% of the amount"), "{err}");
    assert!(
        err.contains("warning: the fee is more than 1% of the amount"),
        "{err}"
    );
}

/// 1 001 dust outputs whose txid sorts before the real coin: the wallet pages past them,
/// sees every coin, and the send still works.
#[test]
fn dust_sorting_before_the_real_coin_does_not_hide_it() {
    let node = FakeNode::start();
    let faucet = Wallet::restored(node.url(), FAUCET);
    let faucet_hash = key_hash(FAUCET, Chain::Receive, 0);
    node.ledger()
        .add_dust(Txid([0; 32]), faucet_hash, 1_001, 29);
    let sent = faucet.json(&["send", "--to", FAUCET_ADDRESS, "--amount", "1", "--yes"]);
    assert_eq!(sent["inputs"], 1);
    assert_eq!(node.accepted_txids().len(), 1);
    assert!(node.ledger().utxo_pages_served >= 2, "the wallet paged");
    // The dust, the payment to itself and the change.
    let listed = faucet.json(&["utxos"]);
    assert_eq!(listed["utxos"].as_array().unwrap().len(), 1_003);
}

/// A tip that changes on every page: the listing starts over a bounded number of times,
/// then says so.
#[test]
fn a_tip_that_never_settles_is_reported() {
    let node = FakeNode::start();
    let faucet = Wallet::restored(node.url(), FAUCET);
    node.ledger().add_dust(
        Txid([0; 32]),
        key_hash(FAUCET, Chain::Receive, 0),
        1_500,
        29,
    );
    node.ledger().lies.moving_tip = true;
    let out = faucet.run(&["send", "--to", FAUCET_ADDRESS, "--amount", "1", "--yes"]);
    let err = assert_fails(&out);
    assert!(err.contains("tip changed"), "{err}");
    assert!(node.ledger().utxo_pages_served <= 12);
    assert!(node.accepted_txids().is_empty());
}

/// `consolidate` sweeps many small coins into one output back to the wallet.
#[test]
fn consolidate_sweeps_small_coins_into_one() {
    let node = FakeNode::start();
    let faucet = Wallet::restored(node.url(), FAUCET);
    let other = Wallet::restored(node.url(), OTHER);
    let to = other.receive_address();
    for _ in 0..4 {
        faucet.json(&["send", "--to", &to, "--amount", "0.5", "--yes"]);
    }
    assert_eq!(other.json(&["utxos"])["utxos"].as_array().unwrap().len(), 4);
    // Without --yes and no answer: nothing happens.
    let out = other.run(&["consolidate"]);
    assert!(assert_fails(&out).contains("consolidate 4 coins"));
    let done = other.json(&["consolidate", "--yes"]);
    assert_eq!(done["inputs"], 4);
    // 4 inputs, 1 output at the node's minimum rate of 1: 16 + 4 * 133 + 28 = 576 bytes.
    assert_eq!(done["size"], 576);
    assert_eq!(done["fee"], 576);
    let utxos = other.json(&["utxos"]);
    let list = utxos["utxos"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["value"], 200_000_000u64 - 576);
    assert_eq!(list[0]["path"], "m/44'/1'/0'/1/0");
    // One coin left: nothing to consolidate.
    let err = assert_fails(&other.run(&["consolidate", "--yes"]));
    assert!(err.contains("nothing to consolidate"), "{err}");
}

/// Edits a field of the wallet file's JSON.
fn edit_wallet(w: &Wallet, edit: impl Fn(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&w.path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&w.path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// KDF memory edited to 4 GiB: refused from the numbers, before any allocation.
#[test]
fn tampered_kdf_memory_is_refused_before_allocating() {
    let node = FakeNode::start();
    let faucet = Wallet::restored(node.url(), FAUCET);
    edit_wallet(&faucet, |v| {
        v["kdf"]["memory_kib"] = (4u64 * 1024 * 1024).into()
    });
    let started = std::time::Instant::now();
    let err = assert_fails(&faucet.run(&["balance"]));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(err.contains("kdf memory 4194304 KiB is outside"), "{err}");
}

/// Edited address counters: far out of bounds is refused at once; within bounds the
/// authentication code catches the edit.
#[test]
fn tampered_receive_index_is_refused_quickly() {
    let node = FakeNode::start();
    let faucet = Wallet::restored(node.url(), FAUCET);
    for index in [200_000u64, (1u64 << 31) - 21] {
        edit_wallet(&faucet, |v| v["state"]["receive_index"] = index.into());
        let started = std::time::Instant::now();
        let err = assert_fails(&faucet.run(&["balance"]));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(
            err.contains(&format!(
                "receive_index {index} is above the limit {MAX_ADDRESS_INDEX}"
            )),
            "{err}"
        );
    }
    edit_wallet(&faucet, |v| v["state"]["receive_index"] = 50.into());
    let err = assert_fails(&faucet.run(&["balance"]));
    assert!(err.contains("was altered"), "{err}");
}
