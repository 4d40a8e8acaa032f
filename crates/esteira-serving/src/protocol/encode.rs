//! Prediction tables into `{"predictions": ...}`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, UInt64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use esteira_ml::dataset::Table;
use serde_json::{Map, Value, json};

/// A flat list for one column, records for several.
pub(super) fn predictions(table: &Table) -> Value {
    let names = table.column_names();
    let columns: Vec<Vec<Value>> = table.batch().columns().iter().map(column_values).collect();
    let predictions = match columns.as_slice() {
        [only] => Value::Array(only.clone()),
        _ => Value::Array(
            (0..table.num_rows())
                .map(|row| {
                    let record: Map<String, Value> = names
                        .iter()
                        .zip(&columns)
                        .map(|(name, values)| (name.clone(), values[row].clone()))
                        .collect();
                    Value::Object(record)
                })
                .collect(),
        ),
    };
    json!({ "predictions": predictions })
}

/// A column's values as JSON: nulls, NaN and infinities as `null`.
fn column_values(array: &ArrayRef) -> Vec<Value> {
    let array = &widened(array);
    let value_at = |row: usize| -> Value {
        if array.is_null(row) {
            return Value::Null;
        }
        match array.data_type() {
            DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
            DataType::Int64 => json!(array.as_primitive::<Int64Type>().value(row)),
            DataType::UInt64 => json!(array.as_primitive::<UInt64Type>().value(row)),
            DataType::Float64 => float(array.as_primitive::<Float64Type>().value(row)),
            DataType::Utf8 => Value::String(array.as_string::<i32>().value(row).to_string()),
            _ => displayed(array, row),
        }
    };
    (0..array.len()).map(value_at).collect()
}

/// Narrower integers as Int64 and narrower floats as Float64 (both lossless); other types
/// unchanged.
fn widened(array: &ArrayRef) -> ArrayRef {
    let wider = match array.data_type() {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => DataType::Int64,
        DataType::Float16 | DataType::Float32 => DataType::Float64,
        _ => return Arc::clone(array),
    };
    cast(array, &wider).unwrap_or_else(|_| Arc::clone(array))
}

fn float(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

/// Any other type as Arrow displays it (ISO 8601 for timestamps); `null` when Arrow cannot
/// display the type.
fn displayed(array: &ArrayRef, row: usize) -> Value {
    let options = FormatOptions::default();
    ArrayFormatter::try_new(array.as_ref(), &options)
        .ok()
        .and_then(|formatter| formatter.value(row).try_to_string().ok())
        .map_or(Value::Null, Value::String)
}
