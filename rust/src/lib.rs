//! codex-convert-proxy engine: Chat Completions SSE → Responses SSE, request and response
//! conversion. The core has no Python dependency (`cargo test` alone); the PyO3 module
//! `codex_convert_proxy._rust` is compiled only with the cargo feature `python`.
//! The rules are in docs/engine-contract.md; the pure-Python twin lives in
//! python/codex_convert_proxy/{wire,engine}.

pub mod error;
pub mod json;
pub mod profiles;
pub mod request;
pub mod response;
pub mod sse;
pub mod stream;
pub mod usage;

#[cfg(feature = "python")]
mod python;

pub use error::EngineError;
