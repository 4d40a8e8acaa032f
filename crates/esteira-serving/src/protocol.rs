//! MLflow's scoring protocol for tabular inputs, as `mlflow models serve` accepts it.
//!
//! Bodies become a [`Table`]:
//! - JSON with exactly one of `dataframe_split`, `dataframe_records`, `instances`, `inputs`,
//!   and an optional `params` object;
//! - CSV with a header row.
//!
//! With a [`Signature`], columns come out in the signature's order and typed by it; without
//! one, in the request's order with types inferred from the values. Predictions go back as
//! `{"predictions": ...}`.
//!
//! Where Esteira differs from MLflow 3 (checked against its `infer_and_parse_data` and
//! `_enforce_schema`):
//! - an unknown top-level JSON key is refused (MLflow ignores it);
//! - a number with a fractional part for a `long`/`integer` column is refused (MLflow's
//!   `astype` truncates `1.5` to `1`), and so is any value but `true`/`false` (or the text
//!   `"true"`/`"false"`) for a `boolean` column (MLflow's `astype(bool)` turns `"yes"` into
//!   `true`);
//! - a null in a required column is refused for every type (MLflow refuses it for integer
//!   columns only and passes NaN or None on for the others);
//! - without a signature, a column mixing numbers, strings and booleans is refused (pandas
//!   keeps an `object` column);
//! - a column name given twice is refused (pandas keeps both);
//! - CSV is read against a `datetime` column (pandas' `read_csv`, as MLflow calls it, refuses
//!   the dtype), and date-times may mix `YYYY-MM-DD` and `YYYY-MM-DDTHH:MM:SS` forms (pandas
//!   infers one format from the first value);
//! - `params` that is not an object is refused (MLflow passes it on to the model);
//! - without a signature, a boolean or string column with nulls keeps its type with nulls
//!   (pandas makes it `object`);
//! - `application/csv` is accepted besides `text/csv`, and a missing `Content-Type` means
//!   JSON (MLflow's server fails on a missing header);
//! - NaN predictions are written as `null` (MLflow writes the non-JSON token `NaN`).
//!
//! As in MLflow, columns the signature does not list are dropped, an absent optional column
//! stays absent, numeric strings are accepted for numeric columns, integers are accepted for
//! `double`/`float` columns, whole numbers (`1.0`) for `long`/`integer` columns, and
//! date-times with a time zone (`Z` or an offset) are refused.

mod cells;
mod csv;
mod encode;
mod json;
mod ordered;

use esteira_ml::dataset::Table;
use esteira_ml::model::Signature;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A parsed scoring request.
#[derive(Debug)]
pub struct Request {
    /// The input rows.
    pub table: Table,
    /// The optional `params` object (empty when absent, and for CSV).
    pub params: Map<String, Value>,
}

/// The body format named by a `Content-Type` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`.
    Json,
    /// `text/csv` or `application/csv`.
    Csv,
}

/// The body format of a request from its `Content-Type` header: `application/json`,
/// `text/csv` or `application/csv` (case-insensitive), optionally with `charset=utf-8`. A
/// missing header means JSON.
///
/// # Errors
/// [`Error::UnsupportedMediaType`] for another media type, another charset, or another
/// parameter (as MLflow's server answers 415 for them).
pub fn content_type(header: Option<&str>) -> Result<Format> {
    let Some(header) = header else {
        return Ok(Format::Json);
    };
    let mut parts = header.split(';').map(str::trim);
    let media_type = parts.next().unwrap_or_default().to_ascii_lowercase();
    let format = match media_type.as_str() {
        "application/json" => Format::Json,
        "text/csv" | "application/csv" => Format::Csv,
        _ => return Err(Error::UnsupportedMediaType(header.to_string())),
    };
    for parameter in parts.filter(|p| !p.is_empty()) {
        let (key, value) = parameter.split_once('=').unwrap_or((parameter, ""));
        let is_utf8 = key.trim().eq_ignore_ascii_case("charset")
            && value.trim().eq_ignore_ascii_case("utf-8");
        if !is_utf8 {
            return Err(Error::UnsupportedMediaType(header.to_string()));
        }
    }
    Ok(format)
}

/// Parses a JSON body with exactly one of `dataframe_split`, `dataframe_records`,
/// `instances`, `inputs` (and optional `params`), checked and coerced against `signature`.
///
/// # Errors
/// [`Error::BadInput`] naming the key or column and the reason: malformed JSON, a body that
/// is not an object, zero or several input keys, an unknown key, a malformed or empty input,
/// `params` that is not an object, a missing required column, or a value that cannot be
/// coerced to its column's type (with its row, counted from 0).
pub fn parse_json(body: &[u8], signature: Option<&Signature>) -> Result<Request> {
    let (columns, params) = json::parse(body, signature)?;
    let table = cells::build_table(columns, signature)?;
    Ok(Request { table, params })
}

/// Parses a CSV body (a header row, then rows), checked and coerced against `signature`;
/// without one, a column is `long` when every value is an integer, `double` when every value
/// is a number, `boolean` when every value is `true`/`false`, else `string`. Empty fields and
/// pandas' missing-value markers (`NA`, `null`, `NaN`, ...) are nulls.
///
/// # Errors
/// [`Error::BadInput`] naming `body` when the CSV is malformed, not UTF-8 or has no rows, or
/// naming the column for a missing required column or a value that cannot be coerced.
pub fn parse_csv(body: &[u8], signature: Option<&Signature>) -> Result<Request> {
    let columns = csv::parse(body, signature.is_none())?;
    let table = cells::build_table(columns, signature)?;
    Ok(Request {
        table,
        params: Map::new(),
    })
}

/// The response body `{"predictions": ...}` for a prediction table: a flat list for a single
/// column, else a list of records (pandas' `orient="records"`). NaN, infinities and nulls
/// become `null`; timestamps and other non-JSON types are written as Arrow displays them
/// (ISO 8601 for timestamps).
pub fn encode_predictions(table: &Table) -> Value {
    encode::predictions(table)
}
