//! Esteira's domain: entities in MLflow's shape, error codes, validation rules and the
//! MLflow search language. This crate does no IO.

pub mod entities;
pub mod error;
pub mod json;
pub mod markup;
pub mod page;
pub mod search;
pub mod validation;

pub use error::{Error, ErrorCode, Result};
