//! The API contract in types (API.md): a request or response struct for every endpoint of
//! the node and the seed, the error body, and the one exhaustive `match` that gives each
//! error [`Code`] its HTTP status ([`status`]).
//!
//! The node's handlers serialize these, the seed serves [`NodeEntry`] and [`SeedHealth`],
//! the wallet and the peers' probes parse [`Info`] and the rest, the wallet's fake node
//! and the tests build them, and `/openapi.json` is generated from them (`ToSchema`), so
//! the contract is written once. Transaction and block bodies are
//! [`crate::json`]'s shapes.
//!
//! Responses may gain fields (API.md: "fields may still be added everywhere"), so the
//! types that clients parse from other nodes ignore unknown fields; request bodies and
//! queries refuse them (`malformed`).

use crate::error::Code;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use crate::json::{
    BlockJson, HeaderJson, InputJson, OutputJson, TransactionJson, TxStatusJson,
};

/// The HTTP status of each error code (API.md, "Error codes"): the one place codes meet
/// statuses. Exhaustive: a new [`Code`] does not compile until it has a status here.
pub const fn status(code: Code) -> StatusCode {
    use Code::*;
    match code {
        Malformed | BadVersion | NoInputs | NoOutputs | CoinbaseNotAllowed | DuplicateInput
        | MissingInput | PubkeyMismatch | BadSignature | ValueOutOfRange | OutputsExceedInputs
        | ImmatureCoinbase | NonFinal | WrongNetwork | TxTooLarge | FeeTooLow | DoubleSpend
        | MempoolFull | BadPrev | BadTarget | BadPow | TimeTooOld | BlockTooLarge | BadCoinbase
        | DuplicateTx | BadMerkleRoot | BadCoinbaseValue | Unreachable | Dust | SourceMismatch
        | TooManyNodes => StatusCode::BAD_REQUEST,
        TimeTooNew | UnknownParent | StaleBranch => StatusCode::CONFLICT,
        NotFound => StatusCode::NOT_FOUND,
        GenerateDisabled | Discouraged => StatusCode::FORBIDDEN,
        BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        RateLimited => StatusCode::TOO_MANY_REQUESTS,
        RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        NotReady | SeedFull => StatusCode::SERVICE_UNAVAILABLE,
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The body of every non-2xx answer: `{"error": {"code", "message"}}`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct ErrorDetail {
    /// Stable kebab-case code (API.md, "Error codes").
    pub code: String,
    /// Human-readable detail.
    pub message: String,
}

/// `GET /health` (node).
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub status: String,
    pub height: u64,
}

/// Mempool totals in `GET /info`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq, Default)]
pub struct MempoolSummary {
    pub count: u64,
    /// Serialized bytes.
    pub bytes: u64,
    /// Real memory in bytes (second round; 0 from nodes that do not report it).
    #[serde(default)]
    pub usage: u64,
}

/// One entry of the rich list in `GET /info`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct RichEntry {
    pub address: String,
    /// Base units.
    pub balance: u64,
}

/// `GET /info`: the node, its network and its chain. Parsed in one place for every
/// client: peers' probes, the seed, the wallet. Every field is a claim of the node that
/// answered.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub name: String,
    /// 64 hex digits.
    pub genesis_hash: String,
    pub address_hrp: String,
    pub height: u64,
    pub best_hash: String,
    /// Total work of the active chain, 64 hex digits.
    pub chain_work: String,
    pub target: String,
    pub difficulty: u64,
    /// Target seconds between blocks.
    pub block_time: u64,
    /// Mean seconds between the last retarget-interval blocks (null at genesis).
    pub average_block_time: Option<u64>,
    /// Subsidy of the next block, base units.
    pub block_reward: u64,
    pub total_transactions: u64,
    pub total_addresses: u64,
    pub circulating_supply: u64,
    pub mempool: MempoolSummary,
    pub peers: u64,
    pub syncing: bool,
    /// Optional endpoints this node offers (second round); missing means none.
    #[serde(default)]
    pub features: Vec<String>,
    pub version: String,
    /// The top 10 addresses by balance.
    pub rich_list: Vec<RichEntry>,
}

impl Info {
    /// An `/info` of a node at `height` on the network `genesis_hash` with every other
    /// field zero or empty: what fakes and test peers answer.
    pub fn bare(name: &str, genesis_hash: &str, height: u64) -> Info {
        Info {
            name: name.to_owned(),
            genesis_hash: genesis_hash.to_owned(),
            address_hrp: String::new(),
            height,
            best_hash: "00".repeat(32),
            chain_work: "00".repeat(32),
            target: "00".repeat(32),
            difficulty: 1,
            block_time: 0,
            average_block_time: None,
            block_reward: 0,
            total_transactions: 0,
            total_addresses: 0,
            circulating_supply: 0,
            mempool: MempoolSummary::default(),
            peers: 0,
            syncing: false,
            features: Vec::new(),
            version: String::new(),
            rich_list: Vec::new(),
        }
    }

    /// Whether the node says it offers `feature`.
    pub fn offers(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }

    /// Whether the node says it offers what headers-first sync needs.
    pub fn can_serve_sync(&self) -> bool {
        self.offers(FEATURE_HEADERS_LOCATOR) && self.offers(FEATURE_BLOCKS_BY_HASH)
    }
}

/// Optional endpoints this node offers, listed in `GET /info` `features` (API.md, second
/// round). A peer lacking one is fallen back from, never punished.
pub const FEATURES: &[&str] = &[
    FEATURE_HEADERS_LOCATOR,
    FEATURE_BLOCKS_BY_HASH,
    FEATURE_RELAY_ANNOUNCE,
    FEATURE_RELAY_TRANSACTIONS,
    FEATURE_COMPACT_BLOCKS,
    FEATURE_MEMPOOL_PAGES,
];
/// `GET /headers?locator=H1,H2,…`.
pub const FEATURE_HEADERS_LOCATOR: &str = "headers-locator";
/// `GET /blocks?hashes=H1,H2,…`.
pub const FEATURE_BLOCKS_BY_HASH: &str = "blocks-by-hash";

/// `POST /relay/announce`: txids and block hashes announced by a peer (docs/relay.md).
pub const FEATURE_RELAY_ANNOUNCE: &str = "relay-announce";
/// `POST /relay/transactions`: several mempool transactions by txid at once, binary.
pub const FEATURE_RELAY_TRANSACTIONS: &str = "relay-transactions";
/// `GET /relay/compact/{hash}`: a block as header, salt and short ids (after BIP 152).
pub const FEATURE_COMPACT_BLOCKS: &str = "compact-blocks";
/// `GET /mempool?limit=N&after=TXID` with `tip_hash` (API.md, second round).
pub const FEATURE_MEMPOOL_PAGES: &str = "mempool-pages";

/// Most txids one `POST /relay/announce` carries.
pub const MAX_ANNOUNCE_TXIDS: usize = 5_000;
/// Most block hashes one `POST /relay/announce` carries.
pub const MAX_ANNOUNCE_BLOCKS: usize = 16;
/// Most txids one `POST /relay/transactions` asks for.
pub const MAX_FETCH_TXIDS: usize = 1_000;

/// Body of `POST /relay/announce`: a peer says it has these transactions (in the order it
/// accepted them, parents first) and these blocks. A claim: the receiver fetches what it
/// lacks from `from` and checks it.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RelayAnnounce {
    /// The announcer's `ip:port` (its public address); the host must be the request's
    /// source address.
    pub from: String,
    /// Txids, 64 hex digits each, at most 5 000.
    #[serde(default)]
    #[schema(max_items = 5000)]
    pub txids: Vec<String>,
    /// Block hashes of new tips, 64 hex digits each, at most 16.
    #[serde(default)]
    #[schema(max_items = 16)]
    pub blocks: Vec<String>,
}

/// Answer of `POST /relay/announce`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct RelayAnnounced {
    /// How many of the announced txids, from the first, the receiver took note of; the
    /// announcer announces the rest again later (the receiver's tables were full).
    pub taken: u64,
    /// How many of them the receiver lacks and will fetch.
    pub wanted: u64,
}

/// Body of `POST /relay/transactions`: the txids wanted. The answer
/// (`application/octet-stream`) is a `u32` count and the transactions the node has among
/// them, parents first; unknown txids are left out.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RelayFetch {
    /// Txids, 64 hex digits each, 1 to 1 000.
    #[schema(min_items = 1, max_items = 1000)]
    pub txids: Vec<String>,
}

/// `GET /mempool`: one page of txids.
#[derive(Deserialize, IntoParams, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MempoolQuery {
    /// At most 5 000 (default 1 000).
    #[param(minimum = 1)]
    pub limit: Option<i64>,
    /// A txid of the previous page: this page starts after it (404 `not-found` when it
    /// left the mempool meanwhile: start over).
    pub after: Option<String>,
}

/// One entry of `GET /richlist`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct RichRank {
    pub rank: u64,
    pub address: String,
    pub balance: u64,
}

/// One entry of `GET /headers` (JSON form).
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct HeaderItem {
    pub hash: String,
    pub header: HeaderJson,
}

/// `GET /addresses/{address}`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct AddressSummary {
    pub address: String,
    pub balance: u64,
    pub received: u64,
    pub sent: u64,
    pub tx_count: u64,
    pub utxo_count: u64,
    /// Net effect of mempool transactions on the balance, base units (may be negative).
    pub unconfirmed_balance: i64,
}

/// One entry of `GET /addresses/{address}/utxos`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct Utxo {
    pub txid: String,
    pub vout: u32,
    pub value: u64,
    pub height: u64,
    pub coinbase: bool,
    /// Mature and not spent by a mempool transaction.
    pub spendable: bool,
}

/// How an output was spent, in `GET /outputs/{txid}/{vout}`: `false`, or the spender.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
#[serde(untagged)]
pub enum Spent {
    /// The spender is confirmed at `height`.
    Confirmed { txid: String, height: u64 },
    /// The spender waits in the mempool (`mempool` is always true).
    Mempool { txid: String, mempool: bool },
    /// Unspent: `false`.
    Unspent(bool),
}

/// `GET /outputs/{txid}/{vout}`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct OutputView {
    pub txid: String,
    pub vout: u32,
    pub value: u64,
    pub address: String,
    /// Height of the block holding the transaction; null while in the mempool.
    pub height: Option<u64>,
    pub coinbase: bool,
    pub spent: Spent,
}

/// `GET /mempool`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct MempoolView {
    pub count: u64,
    pub bytes: u64,
    #[serde(default)]
    pub usage: u64,
    pub min_fee_rate: u64,
    /// This page's txids (`?limit`, `?after`), highest fee rate first.
    pub txids: Vec<String>,
    /// The tip the page was read at (second round; empty from older nodes): a client
    /// paging across a new block can notice and start over.
    #[serde(default)]
    pub tip_hash: String,
}

/// `GET /fees`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct Fees {
    pub min_fee_rate: u64,
    pub recommended_fee_rate: u64,
}

/// A known node: an entry of the node's and the seed's `GET /nodes`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct NodeEntry {
    /// `ip:port`.
    pub address: String,
    pub height: u64,
    /// Unix seconds.
    pub last_seen: u64,
}

/// `POST /nodes` on the node and the seed: a node announces itself.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Announce {
    /// `ip:port`; the host must be the request's source address.
    pub address: String,
}

/// Answer of `POST /nodes`: `added`, `already-known` or `not-added` from a node,
/// `registered` from the seed.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct AnnounceStatus {
    pub status: String,
}

/// Answer of `POST /transactions`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct TxSubmitted {
    pub txid: String,
    /// `accepted` or `already-known`.
    pub status: String,
}

/// Answer of `POST /blocks`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct BlockSubmitted {
    pub hash: String,
    /// `connected`, `side-chain`, `reorganized` or `already-known`.
    pub status: String,
}

/// Body of `POST /mining/generate`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    /// 1 to 1 000.
    #[schema(minimum = 1, maximum = 1000)]
    pub blocks: u32,
    pub address: String,
}

/// Answer of `POST /mining/generate`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub hashes: Vec<String>,
}

/// `GET /health` of the seed.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct SeedHealth {
    pub status: String,
    /// Listed nodes, including those whose last probe failed.
    pub nodes: u64,
    /// Listed nodes whose last probe succeeded (the ones `GET /nodes` serves).
    pub live: u64,
}

/// `?limit=N`: a page size (at least 1; larger values are lowered to the endpoint's
/// maximum). Query integers are `i64` so that the schema's `int64` is what is parsed.
#[derive(Deserialize, IntoParams, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    #[param(minimum = 1)]
    pub limit: Option<i64>,
}

/// `GET /blocks`: `from` and `limit`, or `hashes`.
#[derive(Deserialize, IntoParams, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BlocksQuery {
    /// First height (default 0).
    #[param(minimum = 0)]
    pub from: Option<i64>,
    /// At most 500 (default 100).
    #[param(minimum = 1)]
    pub limit: Option<i64>,
    /// Comma-separated block hashes (1 to 128), any branch, in the order asked.
    pub hashes: Option<String>,
}

/// `GET /headers`: `from` or `locator`, and `limit`.
#[derive(Deserialize, IntoParams, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HeadersQuery {
    #[param(minimum = 0)]
    pub from: Option<i64>,
    /// At most 2 000 (the default).
    #[param(minimum = 1)]
    pub limit: Option<i64>,
    /// Comma-separated block hashes, newest first (1 to 128).
    pub locator: Option<String>,
}

/// `GET /addresses/{address}/transactions`.
#[derive(Deserialize, IntoParams, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// At most 500 (default 50).
    #[param(minimum = 1)]
    pub limit: Option<i64>,
    /// A txid: the page starts after it.
    pub before: Option<String>,
}

/// `GET /addresses/{address}/utxos`.
#[derive(Deserialize, IntoParams, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UtxoQuery {
    /// At most 5 000 (default 1 000).
    #[param(minimum = 1)]
    pub limit: Option<i64>,
    /// `TXID:VOUT`: the page starts after this outpoint.
    pub after: Option<String>,
}

/// Header of a paged answer: the tip the page was read at.
pub const TIP_HASH_HEADER: &str = "ferro-tip-hash";
/// Header of a page that may have a successor: the `after` value of the next page.
pub const NEXT_AFTER_HEADER: &str = "ferro-next-after";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_table_of_api_md() {
        for (code, expected) in [
            (Code::Malformed, 400),
            (Code::BadSignature, 400),
            (Code::TimeTooNew, 409),
            (Code::UnknownParent, 409),
            (Code::StaleBranch, 409),
            (Code::NotFound, 404),
            (Code::GenerateDisabled, 403),
            (Code::Discouraged, 403),
            (Code::BodyTooLarge, 413),
            (Code::UnsupportedMediaType, 415),
            (Code::RateLimited, 429),
            (Code::RequestTimeout, 408),
            (Code::NotReady, 503),
            (Code::MethodNotAllowed, 405),
            (Code::Internal, 500),
            (Code::Unreachable, 400),
        ] {
            assert_eq!(status(code).as_u16(), expected, "{code}");
        }
    }

    #[test]
    fn info_from_an_older_node_parses_without_second_round_fields() {
        let text = r#"{"name":"devnet","genesis_hash":"00","address_hrp":"fdev","height":3,
            "best_hash":"11","chain_work":"22","target":"33","difficulty":1,"block_time":10,
            "average_block_time":null,"block_reward":5,"total_transactions":4,
            "total_addresses":2,"circulating_supply":15,"mempool":{"count":0,"bytes":0},
            "peers":1,"syncing":false,"version":"0.1.0","rich_list":[],"later":"ignored"}"#;
        let info: Info = serde_json::from_str(text).expect("parses");
        assert_eq!(info.height, 3);
        assert!(info.features.is_empty());
        assert_eq!(info.mempool.usage, 0);
    }

    #[test]
    fn spent_has_the_three_shapes_of_api_md() {
        let shapes = [
            (Spent::Unspent(false), "false"),
            (
                Spent::Confirmed {
                    txid: "ab".into(),
                    height: 7,
                },
                r#"{"txid":"ab","height":7}"#,
            ),
            (
                Spent::Mempool {
                    txid: "ab".into(),
                    mempool: true,
                },
                r#"{"txid":"ab","mempool":true}"#,
            ),
        ];
        for (value, text) in shapes {
            assert_eq!(serde_json::to_string(&value).expect("serializes"), text);
            assert_eq!(serde_json::from_str::<Spent>(text).expect("parses"), value);
        }
    }
}
