//! The tests' HTTP client lives in the shared `test_support` crate.

pub use test_support::http::{assert_rejected, post_huge, Http, Reply, BINARY};
