//! PLACEHOLDER (wire branch): only the contract §7 signatures, so that python.rs compiles.
//! The real request conversion comes from another branch on merge.

use crate::error::EngineError;
use crate::profiles::Profile;

pub struct ConvertedRequest {
    pub body: Vec<u8>,
    pub degraded: Vec<String>,
    pub tool_map: Vec<u8>,
    pub echo: Vec<u8>,
    pub stream: bool,
    pub model: String,
}

pub fn convert_request(
    _body: &[u8],
    _profile: &Profile,
    _model: Option<&str>,
) -> Result<ConvertedRequest, EngineError> {
    Err(EngineError::new("not implemented yet"))
}
