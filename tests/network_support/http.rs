//! The tests' blocking HTTP client lives in the shared `test_support` crate.

#[allow(unused_imports)]
pub use test_support::http::blocking::{get, get_ok, post};
#[allow(unused_imports)]
pub use test_support::http::Reply;
