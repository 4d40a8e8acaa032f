//! MLflow's scoring protocol.

use esteira_ml::dataset::Table;
use esteira_ml::model::Signature;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A parsed scoring request.
#[derive(Debug)]
pub struct Request {
    /// The input rows.
    pub table: Table,
    /// The optional `params` object.
    pub params: Map<String, Value>,
}

/// Parses a JSON body with exactly one of `dataframe_split`, `dataframe_records`,
/// `instances`, `inputs` (and optional `params`), checked and coerced against `signature`.
///
/// # Errors
/// [`Error::BadInput`] naming the key or column and the reason.
pub fn parse_json(body: &[u8], signature: Option<&Signature>) -> Result<Request> {
    let _ = (body, signature);
    Err(Error::bad_input(
        "body",
        "the JSON scoring protocol is being written",
    ))
}

/// Parses a CSV body (a header row, then rows), checked and coerced against `signature`.
///
/// # Errors
/// [`Error::BadInput`] naming the column and the reason.
pub fn parse_csv(body: &[u8], signature: Option<&Signature>) -> Result<Request> {
    let _ = (body, signature);
    Err(Error::bad_input(
        "body",
        "the CSV scoring protocol is being written",
    ))
}

/// The response body `{"predictions": ...}` for a prediction table.
pub fn encode_predictions(table: &Table) -> Value {
    let _ = table;
    Value::Null
}

/// A request body's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `application/json`.
    Json,
    /// `text/csv`.
    Csv,
}

/// The format a `Content-Type` header names; JSON when absent.
///
/// # Errors
/// [`Error::UnsupportedMediaType`] for any other type.
pub fn content_type(header: Option<&str>) -> Result<Format> {
    let Some(value) = header else {
        return Ok(Format::Json);
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => Ok(Format::Json),
        "text/csv" | "application/csv" => Ok(Format::Csv),
        _ => Err(Error::UnsupportedMediaType(value.to_string())),
    }
}
