//! scratch
use crate::spec::PipelineSpec;
use std::collections::BTreeMap;
pub fn text(_s: &PipelineSpec) -> String {
    String::new()
}
pub fn dot(_s: &PipelineSpec) -> String {
    String::new()
}
pub fn svg(_s: &PipelineSpec, _x: Option<&BTreeMap<String, String>>) -> String {
    String::new()
}
