//! Ferro core library.
pub mod http;
