//! Block templates and the proof-of-work search.
//!
//! The template takes mempool transactions by fee rate, parents first, and a coinbase
//! paying subsidy plus fees. The nonce search is CPU work: it runs on a blocking thread
//! and checks a cancellation flag every few thousand hashes, so it is abandoned as soon as
//! the tip changes or the node shuts down.

use crate::consensus::NetworkParams;
use crate::consensus::{merkle_root, subsidy, ParentInfo};
use crate::primitives::{Amount, Block, Header, PubkeyHash, Transaction, TxOut, Txid};

/// Hashes between two looks at the cancellation flag.
const CHECK_EVERY: u64 = 4_096;
/// Bytes kept free in a template for the header, counts and coinbase.
const TEMPLATE_RESERVE: usize = 1_000;

/// Builds an unsolved block on `parent` with `transactions` (each with its fee), paying the
/// subsidy plus fees to `reward_to`. `now` is local unix time.
pub fn block_template(
    params: &NetworkParams,
    parent: &ParentInfo,
    transactions: Vec<(Transaction, Amount)>,
    reward_to: PubkeyHash,
    now: u64,
) -> Block {
    let height = parent
        .height
        .next()
        .expect("a chain of 2^64 blocks cannot exist");
    let fees = Amount::checked_sum(transactions.iter().map(|(_, f)| *f)).unwrap_or(Amount::ZERO);
    let reward = subsidy(params, height)
        .checked_add(fees)
        .unwrap_or(Amount::MAX);
    let mut txs = vec![Transaction::coinbase(
        height.get() as u32,
        vec![TxOut {
            value: reward,
            pubkey_hash: reward_to,
        }],
    )];
    txs.extend(transactions.into_iter().map(|(t, _)| t));
    let txids: Vec<Txid> = txs.iter().map(Transaction::txid).collect();
    Block {
        header: Header {
            version: crate::primitives::block::HEADER_VERSION,
            height,
            prev_hash: parent.hash,
            merkle_root: merkle_root(&txids),
            timestamp: now.max(parent.median_time_past + 1),
            target: parent.next_target,
            nonce: 0,
        },
        transactions: txs,
    }
}

/// How many bytes of mempool transactions fit in a block of this network.
pub fn template_space(params: &NetworkParams) -> usize {
    (params.max_block_size as usize).saturating_sub(TEMPLATE_RESERVE)
}

/// Searches nonces until the header meets its target (`true`) or `stop()` says to give
/// up (`false`); `stop` is asked every few thousand hashes. When the nonce space runs out
/// the timestamp moves one second forward.
pub fn solve(block: &mut Block, stop: &dyn Fn() -> bool) -> bool {
    let mut header = block.header.to_array();
    let mut nonce = block.header.nonce;
    let target = block.header.target;
    loop {
        for _ in 0..CHECK_EVERY {
            header[116..124].copy_from_slice(&nonce.to_le_bytes());
            let hash = crate::primitives::sha256d(&header);
            if target.is_met_by(&hash.0) {
                block.header.nonce = nonce;
                return true;
            }
            nonce = match nonce.checked_add(1) {
                Some(n) => n,
                None => {
                    block.header.timestamp += 1;
                    header[76..84].copy_from_slice(&block.header.timestamp.to_le_bytes());
                    0
                }
            };
        }
        if stop() {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::validation::{check_block, check_header, connect_block};
    use crate::consensus::Network;
    use crate::primitives::{BlockHash, Height, Target};
    use std::collections::HashMap;

    #[test]
    fn template_is_a_valid_block_once_solved() {
        let net = Network::devnet();
        let parent = ParentInfo {
            hash: net.genesis_hash,
            height: Height(0),
            median_time_past: net.genesis.header.timestamp,
            next_target: net.params.pow_limit,
        };
        let mut block = block_template(&net.params, &parent, vec![], PubkeyHash([1; 20]), 0);
        assert_eq!(block.header.timestamp, net.genesis.header.timestamp + 1);
        assert!(solve(&mut block, &|| false));
        check_header(&block.header, &parent, block.header.timestamp).expect("valid header");
        let txids = check_block(&block, &net.params).expect("valid body");
        let view: HashMap<_, _> = HashMap::new();
        connect_block(
            &block,
            &txids,
            &view,
            &net.params,
            &net.genesis_hash,
            &|_| false,
        )
        .expect("coinbase pays exactly the subsidy");
    }

    #[test]
    fn cancelled_search_gives_up() {
        let mut block = Block {
            header: Header {
                version: 1,
                height: Height(1),
                prev_hash: BlockHash([0; 32]),
                merkle_root: Default::default(),
                timestamp: 0,
                target: Target::with_leading_zeros(255),
                nonce: 0,
            },
            transactions: vec![],
        };
        assert!(!solve(&mut block, &|| true));
    }
}
