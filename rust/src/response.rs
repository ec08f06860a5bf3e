//! PLACEHOLDER (wire branch): only the contract §7 signatures, so that python.rs compiles.
//! The real response conversion comes from another branch on merge.

use crate::error::EngineError;
use crate::profiles::Profile;

pub struct ConvertedResponse {
    pub body: Vec<u8>,
    pub degraded: Vec<String>,
}

pub fn convert_response(
    _body: &[u8],
    _profile: &Profile,
    _model: Option<&str>,
    _response_id: &str,
    _created_at: i64,
    _tool_map: Option<&[u8]>,
    _echo: Option<&[u8]>,
) -> Result<ConvertedResponse, EngineError> {
    Err(EngineError::new("not implemented yet"))
}
