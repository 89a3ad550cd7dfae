//! The network file (genesis/README.md): the JSON form of a [`Network`], read and
//! written here, above the consensus layer, because the genesis block in it is in the
//! API's JSON shape ([`crate::json::BlockJson`]). Consensus itself only checks the
//! parameters and the genesis block ([`Network::from_parts`]).

use crate::consensus::{GenesisError, Network, NetworkDefaults, NetworkParams, RULES_VERSION};
use crate::json::{BlockJson, JsonError};
use crate::primitives::{Amount, Target};
use serde::{Deserialize, Serialize};

/// The on-disk form of a network file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkFile {
    /// Absent in files from before the field existed, which were version 1.
    #[serde(default)]
    rules_version: Option<u32>,
    name: String,
    address_hrp: String,
    initial_reward: u64,
    halving_interval: u64,
    target_block_time: u64,
    retarget_interval: u64,
    pow_limit: String,
    coinbase_maturity: u64,
    max_block_size: u64,
    genesis: BlockJson,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    dns_seeds: Vec<String>,
}

/// The devnet network file, shipped as the default network.
pub const DEVNET_JSON: &str = include_str!("../genesis/devnet.json");

impl Network {
    /// The default development network.
    pub fn devnet() -> Network {
        Network::from_json(DEVNET_JSON).expect("the shipped devnet file is valid (tested)")
    }

    /// Parses and checks a network file: the parameters, the genesis `prev_hash`, and every
    /// derived field (block hash, txids, merkle root).
    pub fn from_json(text: &str) -> Result<Network, GenesisError> {
        // The version first, on its own, so an older or newer file gets the message that says
        // what to do even when its other fields differ from what this node parses.
        #[derive(Deserialize)]
        struct Version {
            rules_version: Option<u32>,
        }
        let version: Version =
            serde_json::from_str(text).map_err(|e| GenesisError::Json(e.to_string()))?;
        let found = version.rules_version.unwrap_or(1);
        if found != RULES_VERSION {
            return Err(GenesisError::RulesVersion { found });
        }
        let file: NetworkFile =
            serde_json::from_str(text).map_err(|e| GenesisError::Json(e.to_string()))?;
        let params = NetworkParams {
            name: file.name,
            address_hrp: file.address_hrp,
            initial_reward: Amount::from_base_units(file.initial_reward)
                .map_err(|e| GenesisError::Params(format!("initial_reward: {e}")))?,
            halving_interval: file.halving_interval,
            target_block_time: file.target_block_time,
            retarget_interval: file.retarget_interval,
            pow_limit: Target::from_hex(&file.pow_limit)
                .map_err(|e| GenesisError::Params(format!("pow_limit: {e}")))?,
            coinbase_maturity: file.coinbase_maturity,
            max_block_size: file.max_block_size,
        };
        params.validate()?;
        let genesis = file
            .genesis
            .to_block(&params.address_hrp)
            .map_err(|e: JsonError| GenesisError::Genesis(e.to_string()))?;
        let mut network = Network::from_parts(params, genesis)?;
        network.defaults = NetworkDefaults {
            default_port: file.default_port,
            dns_seeds: file.dns_seeds,
        };
        Ok(network)
    }

    /// The network file, pretty-printed JSON.
    pub fn to_json(&self) -> String {
        let p = &self.params;
        let file = NetworkFile {
            rules_version: Some(RULES_VERSION),
            name: p.name.clone(),
            address_hrp: p.address_hrp.clone(),
            initial_reward: p.initial_reward.to_base_units(),
            halving_interval: p.halving_interval,
            target_block_time: p.target_block_time,
            retarget_interval: p.retarget_interval,
            pow_limit: p.pow_limit.to_hex(),
            coinbase_maturity: p.coinbase_maturity,
            max_block_size: p.max_block_size,
            genesis: BlockJson::from_block(&self.genesis, &p.address_hrp, Some(&[])),
            default_port: self.defaults.default_port,
            dns_seeds: self.defaults.dns_seeds.clone(),
        };
        let mut text = serde_json::to_string_pretty(&file).expect("network file serializes");
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::{Address, PubkeyHash, COIN};

    /// The devnet faucet: `m/44'/1'/0'/0/0` of the all-"abandon" test mnemonic.
    fn faucet_pubkey_hash() -> PubkeyHash {
        let mnemonic = bip39::Mnemonic::parse(
            "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
        )
        .expect("valid test mnemonic");
        let seed = mnemonic.to_seed("");
        let path: bip32::DerivationPath = "m/44'/1'/0'/0/0".parse().expect("valid path");
        let key = bip32::XPrv::derive_from_path(&seed, &path).expect("derivable");
        let pubkey = crate::primitives::PublicKey(key.public_key().to_bytes());
        pubkey.pubkey_hash()
    }

    #[test]
    fn devnet_file_is_valid_and_premines_to_the_faucet() {
        let net = Network::devnet();
        let p = &net.params;
        assert_eq!(p.name, "devnet");
        assert_eq!(p.address_hrp, "fdev");
        assert_eq!(p.initial_reward.to_base_units(), 50 * COIN);
        assert_eq!(p.halving_interval, 210_000);
        assert_eq!(p.target_block_time, 10);
        assert_eq!(p.retarget_interval, 20);
        assert_eq!(p.pow_limit, Target::with_leading_zeros(16));
        assert_eq!(p.coinbase_maturity, 10);
        assert_eq!(p.max_block_size, 1_000_000);
        let coinbase = &net.genesis.transactions[0];
        assert_eq!(coinbase.outputs.len(), 1);
        assert_eq!(coinbase.outputs[0].value.to_base_units(), 1_000_000 * COIN);
        assert_eq!(coinbase.outputs[0].pubkey_hash, faucet_pubkey_hash());
        assert!(p.pow_limit.is_met_by(&net.genesis_hash.0));
        // The file is exactly what Network::create and to_json produce.
        assert_eq!(net.to_json(), DEVNET_JSON);
    }

    #[test]
    fn devnet_is_reproducible() {
        let net = Network::devnet();
        let again = Network::create(
            net.params.clone(),
            net.genesis.transactions[0].outputs.clone(),
            net.genesis.header.timestamp,
        )
        .expect("valid parameters");
        assert_eq!(again, net);
    }

    #[test]
    fn faucet_address() {
        let a = Address::new("fdev", faucet_pubkey_hash()).expect("valid hrp");
        println!("FAUCET {a}");
    }

    fn reparse_with(edit: impl Fn(&mut serde_json::Value)) -> Result<Network, GenesisError> {
        let mut v: serde_json::Value = serde_json::from_str(DEVNET_JSON).expect("json");
        edit(&mut v);
        Network::from_json(&v.to_string())
    }

    #[test]
    fn tampered_files_are_refused() {
        assert!(reparse_with(|_| {}).is_ok());
        // Changing any parameter changes the params hash, so prev_hash no longer matches.
        assert!(matches!(
            reparse_with(|v| v["coinbase_maturity"] = 11.into()),
            Err(GenesisError::Genesis(_))
        ));
        assert!(matches!(
            reparse_with(|v| v["retarget_interval"] = 1.into()),
            Err(GenesisError::Params(_))
        ));
        assert!(matches!(
            reparse_with(|v| v["target_block_time"] = 0.into()),
            Err(GenesisError::Params(_))
        ));
        assert!(matches!(
            reparse_with(|v| v["halving_interval"] = 0.into()),
            Err(GenesisError::Params(_))
        ));
        assert!(matches!(
            reparse_with(|v| v["pow_limit"] = "00".repeat(32).into()),
            Err(GenesisError::Params(_))
        ));
        // Derived fields are recomputed.
        assert!(matches!(
            reparse_with(|v| v["genesis"]["hash"] = "00".repeat(32).into()),
            Err(GenesisError::Genesis(_))
        ));
        assert!(matches!(
            reparse_with(|v| v["genesis"]["transactions"][0]["txid"] = "11".repeat(32).into()),
            Err(GenesisError::Genesis(_))
        ));
        assert!(matches!(
            reparse_with(|v| {
                v["genesis"]["transactions"][0]["outputs"][0]["value"] = 1.into();
                v["genesis"]["transactions"][0]
                    .as_object_mut()
                    .expect("object")
                    .remove("txid");
                v["genesis"].as_object_mut().expect("object").remove("hash");
            }),
            Err(GenesisError::Genesis(_))
        ));
        assert!(matches!(
            reparse_with(|v| v["extra"] = 1.into()),
            Err(GenesisError::Json(_))
        ));
    }

    #[test]
    fn rules_version_is_hashed_first_and_checked() {
        let net = Network::devnet();
        assert_eq!(net.params.encode()[..4], RULES_VERSION.to_le_bytes());
        let mut v: serde_json::Value = serde_json::from_str(DEVNET_JSON).expect("json");
        assert_eq!(v["rules_version"], 2);
        // A file of version 1 (or one from before the field, which was version 1), or of a
        // version this node does not know, is refused with what to do.
        for edit in [Some(1), None, Some(3)] {
            match edit {
                Some(n) => v["rules_version"] = n.into(),
                None => {
                    v.as_object_mut().expect("object").remove("rules_version");
                }
            }
            let err = Network::from_json(&v.to_string()).expect_err("other rules");
            let found = edit.unwrap_or(1);
            assert_eq!(err, GenesisError::RulesVersion { found });
            let text = err.to_string();
            assert!(text.contains(&format!("version {found}")), "{text}");
            assert!(text.contains("implements version 2"), "{text}");
            assert!(text.contains("full_node genesis"), "{text}");
        }
    }

    #[test]
    fn network_defaults_are_optional_and_not_hashed() {
        let with = reparse_with(|v| {
            v["default_port"] = 9333.into();
            v["dns_seeds"] = serde_json::json!(["seed.example.org"]);
        })
        .expect("defaults are accepted");
        let net = Network::devnet();
        assert_eq!(with.genesis_hash, net.genesis_hash);
        assert_eq!(with.defaults.default_port, Some(9333));
        assert_eq!(
            with.defaults.dns_seeds,
            vec!["seed.example.org".to_string()]
        );
        // They survive a round trip; the shipped file has none.
        assert_eq!(Network::from_json(&with.to_json()), Ok(with));
        assert_eq!(net.defaults, NetworkDefaults::default());
    }
}
