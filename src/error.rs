//! Stable error codes (API.md "Error codes"). Every rejection type in the library
//! implements [`ErrorCode`]; the API layer gives each [`Code`] its HTTP status in one
//! exhaustive `match` (`crate::wire::status`), so a code without a status does not compile.

use std::fmt;

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)+) => {
        /// Every error code an API answer can carry (API.md, "Error codes").
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($(#[$doc])* $variant,)+
        }

        impl Code {
            /// Every code, in the order of API.md's table.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)+];

            /// The stable kebab-case word clients match on.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)+
                }
            }

            /// The code named `text`, if it is one.
            pub fn parse(text: &str) -> Option<Code> {
                match text {
                    $($text => Some(Code::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

codes! {
    /// Not parseable, wrong types, unknown fields, trailing bytes, bad hex, float or
    /// negative amounts.
    Malformed = "malformed",
    /// Transaction or header version is not 1.
    BadVersion = "bad-version",
    NoInputs = "no-inputs",
    NoOutputs = "no-outputs",
    CoinbaseNotAllowed = "coinbase-not-allowed",
    DuplicateInput = "duplicate-input",
    MissingInput = "missing-input",
    PubkeyMismatch = "pubkey-mismatch",
    BadSignature = "bad-signature",
    ValueOutOfRange = "value-out-of-range",
    OutputsExceedInputs = "outputs-exceed-inputs",
    ImmatureCoinbase = "immature-coinbase",
    NonFinal = "non-final",
    WrongNetwork = "wrong-network",
    TxTooLarge = "tx-too-large",
    FeeTooLow = "fee-too-low",
    DoubleSpend = "double-spend",
    MempoolFull = "mempool-full",
    BadPrev = "bad-prev",
    BadTarget = "bad-target",
    BadPow = "bad-pow",
    TimeTooOld = "time-too-old",
    /// More than 2 hours ahead; try later.
    TimeTooNew = "time-too-new",
    BlockTooLarge = "block-too-large",
    BadCoinbase = "bad-coinbase",
    DuplicateTx = "duplicate-tx",
    BadMerkleRoot = "bad-merkle-root",
    BadCoinbaseValue = "bad-coinbase-value",
    /// Parent not known yet; kept as an orphan, sync started.
    UnknownParent = "unknown-parent",
    NotFound = "not-found",
    /// Registration: the announced node did not answer.
    Unreachable = "unreachable",
    GenerateDisabled = "generate-disabled",
    BodyTooLarge = "body-too-large",
    UnsupportedMediaType = "unsupported-media-type",
    /// Too many requests or connections from this source; `Retry-After` says when.
    RateLimited = "rate-limited",
    /// The request's headers or body did not arrive in time.
    RequestTimeout = "request-timeout",
    /// This peer misbehaved recently (PROTOCOL.md section 9).
    Discouraged = "discouraged",
    /// Starting, shutting down, or overloaded.
    NotReady = "not-ready",
    MethodNotAllowed = "method-not-allowed",
    /// A bug or a storage failure; logged with detail.
    Internal = "internal",
    /// A side block outside the side-branch window (PROTOCOL.md section 8).
    StaleBranch = "stale-branch",
    Dust = "dust",
    /// Registration: the announced host is not the request's source address.
    SourceMismatch = "source-mismatch",
    /// Seed registration: this source already has as many nodes listed as allowed.
    TooManyNodes = "too-many-nodes",
    /// Seed registration: the seed's list is full.
    SeedFull = "seed-full",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A rejection with a stable code.
pub trait ErrorCode {
    fn code(&self) -> Code;
}

impl ErrorCode for crate::primitives::DecodeError {
    fn code(&self) -> Code {
        match self {
            crate::primitives::DecodeError::ValueOutOfRange(_) => Code::ValueOutOfRange,
            _ => Code::Malformed,
        }
    }
}

impl ErrorCode for crate::primitives::AddressError {
    fn code(&self) -> Code {
        match self {
            crate::primitives::AddressError::WrongNetwork { .. } => Code::WrongNetwork,
            _ => Code::Malformed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_text() {
        for &code in Code::ALL {
            assert_eq!(Code::parse(code.as_str()), Some(code));
            assert!(code
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-'));
        }
        assert_eq!(Code::parse("no-such-code"), None);
        let mut texts: Vec<_> = Code::ALL.iter().map(|c| c.as_str()).collect();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), Code::ALL.len(), "two codes share a text");
    }
}
