//! PLACEHOLDER (wire branch): only the contract §7 signatures, so that python.rs compiles.
//! The real §1 JSON writer/reader comes from another branch on merge.

use crate::error::EngineError;

pub fn write_str(_out: &mut Vec<u8>, _s: &str) {
    unimplemented!("json::write_str: placeholder")
}

pub fn write_value(_out: &mut Vec<u8>, _v: &serde_json::Value) {
    unimplemented!("json::write_value: placeholder")
}

pub fn parse(_input: &[u8]) -> Result<serde_json::Value, EngineError> {
    Err(EngineError::new("not implemented yet"))
}
