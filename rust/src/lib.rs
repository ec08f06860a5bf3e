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

// The PyO3 classes wrap these and must be usable from any thread (`#[pyclass]` without
// `unsendable` requires Send + Sync). Checked here so that `cargo test` alone catches a regression.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<stream::Translator>();
    send_sync::<sse::SseDecoder>();
};
