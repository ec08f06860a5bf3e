//! PLACEHOLDER (wire branch): only the contract §7 signatures, so that python.rs compiles.
//! The real stream translator comes from another branch on merge.

use crate::error::EngineError;
use crate::profiles::Profile;

pub struct Translator {
    _private: (),
}

impl Translator {
    pub fn new(
        _profile: &'static Profile,
        _model: &str,
        _response_id: &str,
        _created_at: i64,
        _tool_map: Option<&[u8]>,
        _echo: Option<&[u8]>,
    ) -> Result<Self, EngineError> {
        Err(EngineError::new("not implemented yet"))
    }

    pub fn start(&mut self, _out: &mut Vec<u8>) {}

    pub fn feed(&mut self, _input: &[u8], _out: &mut Vec<u8>) {}

    pub fn finish(&mut self, _out: &mut Vec<u8>) {}

    pub fn fail(&mut self, _code: &str, _message: &str, _out: &mut Vec<u8>) {}

    pub fn status(&self) -> &'static str {
        "in_progress"
    }

    pub fn is_done(&self) -> bool {
        false
    }

    pub fn terminal_response(&self) -> Option<&[u8]> {
        None
    }

    pub fn degraded(&self) -> &[String] {
        &[]
    }

    pub fn event_counts(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}
