//! Request values before typing, and their conversion into a typed [`Table`].

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array, StringArray,
    TimestampNanosecondArray,
};
use arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;
use esteira_ml::dataset::{Table, table_from_columns};
use esteira_ml::model::{ColumnSpec, Signature};

use crate::error::{Error, Result};

/// One request value, as JSON or CSV gave it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl Cell {
    /// The value as the request wrote it, for error messages.
    fn describe(&self) -> String {
        match self {
            Cell::Null => "null".to_string(),
            Cell::Bool(b) => b.to_string(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => f.to_string(),
            Cell::Text(s) => format!("{s:?}"),
        }
    }

    /// What kind of value this is, for error messages.
    fn kind(&self) -> &'static str {
        match self {
            Cell::Null => "null",
            Cell::Bool(_) => "boolean",
            Cell::Int(_) | Cell::Float(_) => "number",
            Cell::Text(_) => "string",
        }
    }
}

/// A named column of request values, in request order.
#[derive(Debug)]
pub(super) struct RawColumn {
    pub name: String,
    pub cells: Vec<Cell>,
}

/// The typed table: in the signature's order and types when given, else in the request's
/// order with inferred types.
pub(super) fn build_table(columns: Vec<RawColumn>, signature: Option<&Signature>) -> Result<Table> {
    if let Some(duplicate) = columns
        .iter()
        .enumerate()
        .find(|(i, c)| columns[..*i].iter().any(|earlier| earlier.name == c.name))
    {
        let name = &duplicate.1.name;
        return Err(Error::bad_input(
            name,
            format!("column `{name}` appears more than once"),
        ));
    }
    let typed = match signature {
        Some(signature) => enforce_signature(columns, signature)?,
        None => columns
            .into_iter()
            .map(|c| infer_column(&c.name, c.cells).map(|array| (c.name, array)))
            .collect::<Result<Vec<_>>>()?,
    };
    if typed.is_empty() {
        return Err(Error::bad_input(
            "body",
            "no input column matches the model signature",
        ));
    }
    table_from_columns(typed).map_err(|e| Error::bad_input("body", e.to_string()))
}

fn enforce_signature(
    mut columns: Vec<RawColumn>,
    signature: &Signature,
) -> Result<Vec<(String, ArrayRef)>> {
    let mut typed = Vec::with_capacity(signature.inputs.len());
    for spec in &signature.inputs {
        let Some(position) = columns.iter().position(|c| c.name == spec.name) else {
            if spec.required {
                return Err(Error::bad_input(
                    &spec.name,
                    format!(
                        "missing column `{}` required by the model signature",
                        spec.name
                    ),
                ));
            }
            continue;
        };
        let column = columns.swap_remove(position);
        typed.push((spec.name.clone(), coerce_column(spec, &column.cells)?));
    }
    Ok(typed)
}

/// Coerces one column to its signature type.
fn coerce_column(spec: &ColumnSpec, cells: &[Cell]) -> Result<ArrayRef> {
    let array: ArrayRef = match spec.data_type.as_str() {
        "long" => Arc::new(Int64Array::from(coerce_cells(spec, cells, to_long)?)),
        "integer" => Arc::new(Int32Array::from(coerce_cells(spec, cells, to_integer)?)),
        "double" => Arc::new(Float64Array::from(coerce_cells(spec, cells, to_double)?)),
        "float" => Arc::new(Float32Array::from(coerce_cells(spec, cells, to_float)?)),
        "boolean" => Arc::new(BooleanArray::from(coerce_cells(spec, cells, to_boolean)?)),
        "string" => Arc::new(StringArray::from(coerce_cells(spec, cells, to_text)?)),
        "datetime" => Arc::new(TimestampNanosecondArray::from(coerce_cells(
            spec,
            cells,
            to_datetime,
        )?)),
        other => {
            return Err(Error::bad_input(
                &spec.name,
                format!(
                    "the model signature's type `{other}` is not a tabular type (expected \
                     string, double, float, long, integer, boolean or datetime)"
                ),
            ));
        }
    };
    Ok(array)
}

/// Converts every cell with `convert` (which gives the reason a value is refused); nulls
/// are refused in a required column.
fn coerce_cells<T>(
    spec: &ColumnSpec,
    cells: &[Cell],
    convert: impl Fn(&Cell) -> Result<T, String>,
) -> Result<Vec<Option<T>>> {
    cells
        .iter()
        .enumerate()
        .map(|(row, cell)| match cell {
            Cell::Null if spec.required => Err(Error::bad_input(
                &spec.name,
                format!("row {row}: null in required column `{}`", spec.name),
            )),
            Cell::Null => Ok(None),
            cell => convert(cell).map(Some).map_err(|reason| {
                Error::bad_input(
                    &spec.name,
                    format!(
                        "row {row}: cannot convert {} to {}: {reason}",
                        cell.describe(),
                        spec.data_type
                    ),
                )
            }),
        })
        .collect()
}

fn to_long(cell: &Cell) -> Result<i64, String> {
    match cell {
        Cell::Int(i) => Ok(*i),
        Cell::Float(f) => whole_number(*f),
        Cell::Text(s) => match s.trim().parse::<i64>() {
            Ok(i) => Ok(i),
            Err(_) => whole_number(parse_number(s)?),
        },
        other => Err(format!("a {} is not a number", other.kind())),
    }
}

fn whole_number(f: f64) -> Result<i64, String> {
    // 2^63 is exactly representable; every finite f64 below it in magnitude fits an i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.fract() != 0.0 || !f.is_finite() {
        return Err("it has a fractional part".to_string());
    }
    if !(-LIMIT..LIMIT).contains(&f) {
        return Err("it is out of range".to_string());
    }
    Ok(f as i64)
}

fn to_integer(cell: &Cell) -> Result<i32, String> {
    let long = to_long(cell)?;
    i32::try_from(long).map_err(|_| "it is out of the 32-bit integer range".to_string())
}

fn to_double(cell: &Cell) -> Result<f64, String> {
    match cell {
        Cell::Int(i) => Ok(*i as f64),
        Cell::Float(f) => Ok(*f),
        Cell::Text(s) => parse_number(s),
        other => Err(format!("a {} is not a number", other.kind())),
    }
}

fn to_float(cell: &Cell) -> Result<f32, String> {
    let double = to_double(cell)?;
    let float = double as f32;
    if float.is_infinite() && double.is_finite() {
        return Err("it is out of the 32-bit float range".to_string());
    }
    Ok(float)
}

fn parse_number(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .map_err(|_| "it is not a number".to_string())
}

fn to_boolean(cell: &Cell) -> Result<bool, String> {
    match cell {
        Cell::Bool(b) => Ok(*b),
        Cell::Text(s) => parse_boolean(s).ok_or_else(|| "expected true or false".to_string()),
        other => Err(format!("a {} is not a boolean", other.kind())),
    }
}

/// `true`/`false` in any letter case, as pandas reads booleans from CSV.
pub(super) fn parse_boolean(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn to_text(cell: &Cell) -> Result<String, String> {
    Ok(match cell {
        Cell::Text(s) => s.clone(),
        other => other.describe(),
    })
}

/// A naive ISO 8601 date or date-time; like MLflow, a time zone (`Z` or an offset) is
/// refused rather than converted.
fn to_datetime(cell: &Cell) -> Result<i64, String> {
    match cell {
        Cell::Text(s) if has_time_zone(s.trim()) => {
            Err("date-times must not carry a time zone (send naive date-times)".to_string())
        }
        Cell::Text(s) => string_to_timestamp_nanos(s.trim())
            .map_err(|_| "expected an ISO 8601 date or date-time".to_string()),
        other => Err(format!(
            "a {} is not an ISO 8601 date-time string",
            other.kind()
        )),
    }
}

/// Whether the time part (after the `YYYY-MM-DD` date) names a zone: `Z` or a `+`/`-`
/// offset.
fn has_time_zone(text: &str) -> bool {
    text.get(10..)
        .is_some_and(|time| time.contains(['Z', 'z', '+', '-']))
}

/// A column typed by its values as pandas types them: integers without nulls → Int64, other
/// numbers → Float64 (nulls as nulls, where pandas has NaN), booleans → Boolean, strings →
/// Utf8; an all-null column is Float64.
fn infer_column(name: &str, cells: Vec<Cell>) -> Result<ArrayRef> {
    let kinds: Vec<&'static str> = distinct_kinds(&cells);
    let needs_float = cells
        .iter()
        .any(|c| matches!(c, Cell::Float(_) | Cell::Null));
    let array: ArrayRef = match kinds.as_slice() {
        [] => Arc::new(Float64Array::from(vec![None::<f64>; cells.len()])),
        ["number"] if needs_float => Arc::new(Float64Array::from(
            cells.iter().map(|c| to_double(c).ok()).collect::<Vec<_>>(),
        )),
        ["number"] => Arc::new(Int64Array::from(
            cells.iter().map(|c| to_long(c).ok()).collect::<Vec<_>>(),
        )),
        ["boolean"] => Arc::new(BooleanArray::from(
            cells.iter().map(|c| to_boolean(c).ok()).collect::<Vec<_>>(),
        )),
        ["string"] => Arc::new(StringArray::from(
            cells.into_iter().map(into_text).collect::<Vec<_>>(),
        )),
        mixed => {
            return Err(Error::bad_input(
                name,
                format!(
                    "column `{name}` mixes value types ({}); send one type per column or \
                     serve the model with a signature",
                    mixed.join(", ")
                ),
            ));
        }
    };
    Ok(array)
}

fn distinct_kinds(cells: &[Cell]) -> Vec<&'static str> {
    let mut kinds = Vec::new();
    for cell in cells.iter().filter(|c| **c != Cell::Null) {
        if !kinds.contains(&cell.kind()) {
            kinds.push(cell.kind());
        }
    }
    kinds
}

fn into_text(cell: Cell) -> Option<String> {
    match cell {
        Cell::Text(s) => Some(s),
        _ => None,
    }
}
