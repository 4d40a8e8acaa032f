//! The JSON envelope: one of the four input keys (and `params`) into request columns.

use esteira_ml::model::Signature;
use serde_json::{Map, Value};

use super::cells::{Cell, RawColumn};
use super::ordered::{Json, into_map};
use crate::error::{Error, Result};

const DATAFRAME_SPLIT: &str = "dataframe_split";
const DATAFRAME_RECORDS: &str = "dataframe_records";
const INSTANCES: &str = "instances";
const INPUTS: &str = "inputs";
const PARAMS: &str = "params";
const INPUT_KEYS: [&str; 4] = [DATAFRAME_SPLIT, DATAFRAME_RECORDS, INSTANCES, INPUTS];
const ACCEPTED: &str = "the body must be a JSON object with exactly one of the input fields \
     dataframe_split, dataframe_records, instances, inputs (and optionally params)";

/// The request columns (in request order) and the `params` object.
pub(super) fn parse(
    body: &[u8],
    signature: Option<&Signature>,
) -> Result<(Vec<RawColumn>, Map<String, Value>)> {
    let mut object = decode_object(body)?;
    let params = take_params(&mut object)?;
    let (key, input) = single_input(object)?;
    let columns = match key.as_str() {
        DATAFRAME_SPLIT => split_columns(input)?,
        DATAFRAME_RECORDS => match input {
            Json::List(rows) => records_columns(&key, rows)?,
            other => return Err(not_a(&key, "a list of records", &other)),
        },
        _ => tensor_input(&key, input, signature)?,
    };
    if columns.first().is_none_or(|c| c.cells.is_empty()) {
        return Err(Error::bad_input(&key, "the input has no rows"));
    }
    Ok((columns, params))
}

fn decode_object(body: &[u8]) -> Result<Vec<(String, Json)>> {
    let value: Json = serde_json::from_slice(body)
        .map_err(|e| Error::bad_input("body", format!("invalid JSON: {e}; {ACCEPTED}")))?;
    match value {
        Json::Object(object) => Ok(object),
        other => Err(Error::bad_input(
            "body",
            format!("{ACCEPTED}; got {}", other.kind()),
        )),
    }
}

/// Removes the entry `key` from an object.
fn take(object: &mut Vec<(String, Json)>, key: &str) -> Option<Json> {
    let position = object.iter().position(|(k, _)| k == key)?;
    Some(object.remove(position).1)
}

fn take_params(object: &mut Vec<(String, Json)>) -> Result<Map<String, Value>> {
    match take(object, PARAMS) {
        None => Ok(Map::new()),
        Some(Json::Object(params)) => Ok(into_map(params)),
        Some(other) => Err(not_a(PARAMS, "an object", &other)),
    }
}

/// The one input key and its value; any other key is refused.
fn single_input(object: Vec<(String, Json)>) -> Result<(String, Json)> {
    if let Some((unknown, _)) = object
        .iter()
        .find(|(k, _)| !INPUT_KEYS.contains(&k.as_str()))
    {
        return Err(Error::bad_input(
            unknown,
            format!("unknown field `{unknown}`; {ACCEPTED}"),
        ));
    }
    let keys: Vec<&str> = object.iter().map(|(k, _)| k.as_str()).collect();
    if keys.len() > 1 {
        return Err(Error::bad_input(
            keys.join(", "),
            format!("several input fields ({}); {ACCEPTED}", keys.join(", ")),
        ));
    }
    object
        .into_iter()
        .next()
        .ok_or_else(|| Error::bad_input("body", format!("no input field; {ACCEPTED}")))
}

/// `{"columns": [...], "data": [[...]], "index": [...]}`; without `columns` the columns are
/// named by position (`"0"`, `"1"`, ...) as pandas does.
fn split_columns(input: Json) -> Result<Vec<RawColumn>> {
    let Json::Object(mut split) = input else {
        return Err(not_a(DATAFRAME_SPLIT, "an object", &input));
    };
    if let Some((extra, _)) = split
        .iter()
        .find(|(k, _)| !["columns", "data", "index"].contains(&k.as_str()))
    {
        return Err(Error::bad_input(
            DATAFRAME_SPLIT,
            format!("unknown field `{extra}`; expected data and optionally columns and index"),
        ));
    }
    let rows = match take(&mut split, "data") {
        Some(Json::List(rows)) => rows,
        Some(other) => return Err(not_a("dataframe_split.data", "a list of rows", &other)),
        None => {
            return Err(Error::bad_input(
                DATAFRAME_SPLIT,
                "missing field `data`; expected data and optionally columns and index",
            ));
        }
    };
    let names = match take(&mut split, "columns") {
        Some(columns) => column_names(columns)?,
        None => positional_names(rows.first().map_or(0, row_width)),
    };
    check_index(take(&mut split, "index"), rows.len())?;
    rows_columns("dataframe_split.data", names, rows)
}

fn column_names(columns: Json) -> Result<Vec<String>> {
    let Json::List(names) = columns else {
        return Err(not_a(
            "dataframe_split.columns",
            "a list of names",
            &columns,
        ));
    };
    names
        .into_iter()
        .map(|name| match name {
            Json::Text(s) => Ok(s),
            other => Err(not_a("dataframe_split.columns", "a list of names", &other)),
        })
        .collect()
}

fn check_index(index: Option<Json>, rows: usize) -> Result<()> {
    match index {
        None => Ok(()),
        Some(Json::List(labels)) if labels.len() == rows => Ok(()),
        Some(Json::List(labels)) => Err(Error::bad_input(
            "dataframe_split.index",
            format!("{} index labels for {rows} rows", labels.len()),
        )),
        Some(other) => Err(not_a("dataframe_split.index", "a list", &other)),
    }
}

fn row_width(row: &Json) -> usize {
    match row {
        Json::List(values) => values.len(),
        _ => 1,
    }
}

fn positional_names(width: usize) -> Vec<String> {
    (0..width).map(|i| i.to_string()).collect()
}

/// Rows given as lists, each as wide as `names`.
fn rows_columns(key: &str, names: Vec<String>, rows: Vec<Json>) -> Result<Vec<RawColumn>> {
    let mut columns = empty_columns(names);
    for (row_number, row) in rows.into_iter().enumerate() {
        let Json::List(values) = row else {
            return Err(not_a(key, "a list of rows (lists)", &row));
        };
        if values.len() != columns.len() {
            return Err(Error::bad_input(
                key,
                format!(
                    "row {row_number} has {} values for {} columns",
                    values.len(),
                    columns.len()
                ),
            ));
        }
        for (column, value) in columns.iter_mut().zip(values) {
            let cell = to_cell(&column.name, row_number, value)?;
            column.cells.push(cell);
        }
    }
    Ok(columns)
}

/// Records (`[{column: value}, ...]`): the columns in order of first appearance, a key a
/// record lacks is null there.
fn records_columns(key: &str, rows: Vec<Json>) -> Result<Vec<RawColumn>> {
    let mut columns: Vec<RawColumn> = Vec::new();
    for (row_number, row) in rows.into_iter().enumerate() {
        let Json::Object(record) = row else {
            return Err(not_a(key, "a list of records (objects)", &row));
        };
        for (name, value) in record {
            let cell = to_cell(&name, row_number, value)?;
            let position = match columns.iter().position(|c| c.name == name) {
                Some(position) => position,
                None => {
                    columns.push(RawColumn {
                        name,
                        cells: Vec::new(),
                    });
                    columns.len() - 1
                }
            };
            let column = &mut columns[position];
            column.cells.resize(row_number, Cell::Null);
            column.cells.push(cell);
        }
    }
    let row_count = columns.iter().map(|c| c.cells.len()).max().unwrap_or(0);
    for column in &mut columns {
        column.cells.resize(row_count, Cell::Null);
    }
    Ok(columns)
}

/// `instances` / `inputs`: records, a column mapping, plain values for a single input (named by a one-column signature, else `"0"`), or lists of values (columns
/// `"0"`, `"1"`, ...).
fn tensor_input(key: &str, input: Json, signature: Option<&Signature>) -> Result<Vec<RawColumn>> {
    let is_object = |v: &Json| matches!(v, Json::Object(_));
    match input {
        Json::Object(mapping) => mapping_columns(key, mapping),
        Json::List(rows) if rows.iter().all(is_object) => records_columns(key, rows),
        Json::List(rows) if rows.iter().any(is_object) => Err(Error::bad_input(
            key,
            "mixes records (objects) with other values",
        )),
        Json::List(rows) if rows.iter().all(|r| matches!(r, Json::List(_))) => {
            let width = rows.first().map_or(0, row_width);
            rows_columns(key, positional_names(width), rows)
        }
        Json::List(values) => {
            let name = single_input_name(signature);
            let cells = values
                .into_iter()
                .enumerate()
                .map(|(row, value)| to_cell(&name, row, value))
                .collect::<Result<Vec<_>>>()?;
            Ok(vec![RawColumn { name, cells }])
        }
        other => Err(not_a(
            key,
            "a list of records or values, or an object of columns",
            &other,
        )),
    }
}

fn single_input_name(signature: Option<&Signature>) -> String {
    match signature.map(|s| s.inputs.as_slice()) {
        Some([only]) => only.name.clone(),
        _ => "0".to_string(),
    }
}

/// `{"column": [values...], ...}`: every column as long as the first.
fn mapping_columns(key: &str, mapping: Vec<(String, Json)>) -> Result<Vec<RawColumn>> {
    let mut columns: Vec<RawColumn> = Vec::with_capacity(mapping.len());
    for (name, values) in mapping {
        let Json::List(values) = values else {
            return Err(not_a(&name, "a list of column values", &values));
        };
        let cells = values
            .into_iter()
            .enumerate()
            .map(|(row, value)| to_cell(&name, row, value))
            .collect::<Result<Vec<_>>>()?;
        if let Some(first) = columns.first().filter(|f| f.cells.len() != cells.len()) {
            return Err(Error::bad_input(
                key,
                format!(
                    "the length of values for each input/column name are not the same: `{}` \
                     has {}, `{name}` has {}",
                    first.name,
                    first.cells.len(),
                    cells.len()
                ),
            ));
        }
        columns.push(RawColumn { name, cells });
    }
    Ok(columns)
}

fn empty_columns(names: Vec<String>) -> Vec<RawColumn> {
    names
        .into_iter()
        .map(|name| RawColumn {
            name,
            cells: Vec::new(),
        })
        .collect()
}

fn to_cell(column: &str, row: usize, value: Json) -> Result<Cell> {
    Ok(match value {
        Json::Null => Cell::Null,
        Json::Bool(b) => Cell::Bool(b),
        Json::Int(i) => Cell::Int(i),
        Json::Float(f) => Cell::Float(f),
        Json::Text(s) => Cell::Text(s),
        nested @ (Json::List(_) | Json::Object(_)) => {
            return Err(Error::bad_input(
                column,
                format!(
                    "row {row}: {} is not a tabular value (expected a string, number, boolean \
                     or null)",
                    nested.kind()
                ),
            ));
        }
    })
}

fn not_a(field: &str, expected: &str, got: &Json) -> Error {
    Error::bad_input(field, format!("must be {expected}, got {}", got.kind()))
}
