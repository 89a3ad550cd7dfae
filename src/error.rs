//! Stable error codes (API.md "Error codes"). Every rejection type in the library
//! implements [`ErrorCode`]; the HTTP layer maps codes to statuses in one place.

/// A rejection with a stable kebab-case code.
pub trait ErrorCode {
    fn code(&self) -> &'static str;
}

impl ErrorCode for crate::primitives::DecodeError {
    fn code(&self) -> &'static str {
        match self {
            crate::primitives::DecodeError::ValueOutOfRange(_) => "value-out-of-range",
            _ => "malformed",
        }
    }
}

impl ErrorCode for crate::primitives::AddressError {
    fn code(&self) -> &'static str {
        match self {
            crate::primitives::AddressError::WrongNetwork { .. } => "wrong-network",
            _ => "malformed",
        }
    }
}
