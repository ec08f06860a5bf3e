//! STAND-IN lib.rs (branch rstream): module list only; the lead's lib.rs wins on merge.
pub mod error;
pub mod json;
pub mod profiles;
pub mod response;
pub mod sse;
pub mod stream;
pub mod usage;
