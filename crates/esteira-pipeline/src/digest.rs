//! scratch
use crate::spec::StepSpec;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
pub fn path_digest(_p: &std::path::Path) -> Result<String, String> {
    Ok(String::new())
}
pub fn code_digest(_d: &std::path::Path, _s: &StepSpec) -> Result<String, String> {
    Ok(String::new())
}
pub fn cache_key(
    _n: &str,
    _s: &StepSpec,
    _p: &Map<String, Value>,
    _i: &BTreeMap<String, String>,
    _c: &str,
    _v: &str,
) -> String {
    String::new()
}
pub fn cache_key_parts(
    _n: &str,
    _s: &StepSpec,
    _p: &Map<String, Value>,
    _i: &BTreeMap<String, String>,
    _c: &str,
    _v: &str,
) -> Value {
    Value::Null
}
pub fn explain_difference(_o: &Value, _n: &Value) -> Vec<String> {
    Vec::new()
}
