//! CSV bodies into request columns: every field as text, or typed by inference.

use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::csv::ReaderBuilder;
use arrow::csv::reader::Format;
use arrow::datatypes::{DataType, Field, Schema};

use super::cells::{Cell, RawColumn, parse_boolean};
use crate::error::{Error, Result};

/// The texts pandas' `read_csv` takes for a missing value by default.
const NULL_MARKERS: [&str; 19] = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
];

/// The columns of a CSV body with a header row; empty fields and pandas' other missing-value
/// markers (`NA`, `null`, `NaN`, ...) are nulls. With `infer`, each
/// column's text becomes integers, numbers or booleans when all its values are; otherwise
/// every value stays text, for the signature to convert.
pub(super) fn parse(body: &[u8], infer: bool) -> Result<Vec<RawColumn>> {
    let text_columns = read_text_columns(body)?;
    if text_columns.first().is_none_or(|c| c.cells.is_empty()) {
        return Err(Error::bad_input("body", "the CSV has no rows"));
    }
    Ok(if infer {
        text_columns.into_iter().map(infer_cells).collect()
    } else {
        text_columns
    })
}

fn read_text_columns(body: &[u8]) -> Result<Vec<RawColumn>> {
    let malformed =
        |e: &dyn std::fmt::Display| Error::bad_input("body", format!("malformed CSV: {e}"));
    std::str::from_utf8(body)
        .map_err(|e| Error::bad_input("body", format!("the CSV is not UTF-8: {e}")))?;
    let (header, _) = Format::default()
        .with_header(true)
        .infer_schema(Cursor::new(body), Some(0))
        .map_err(|e| malformed(&e))?;
    let names: Vec<String> = header.fields().iter().map(|f| f.name().clone()).collect();
    if names.is_empty() {
        return Err(Error::bad_input("body", "the CSV has no header row"));
    }
    let schema = Schema::new(
        names
            .iter()
            .map(|name| Field::new(name, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    );
    let reader = ReaderBuilder::new(Arc::new(schema))
        .with_header(true)
        .build(Cursor::new(body))
        .map_err(|e| malformed(&e))?;
    let mut columns: Vec<RawColumn> = names
        .into_iter()
        .map(|name| RawColumn {
            name,
            cells: Vec::new(),
        })
        .collect();
    for batch in reader {
        let batch = batch.map_err(|e| malformed(&e))?;
        for (column, array) in columns.iter_mut().zip(batch.columns()) {
            let strings = array.as_string::<i32>();
            column.cells.extend((0..strings.len()).map(|row| {
                if strings.is_null(row) || NULL_MARKERS.contains(&strings.value(row)) {
                    Cell::Null
                } else {
                    Cell::Text(strings.value(row).to_string())
                }
            }));
        }
    }
    Ok(columns)
}

/// Integers when every value parses as one, else numbers when every value does, else
/// booleans, else the text as it is.
fn infer_cells(column: RawColumn) -> RawColumn {
    let texts: Vec<&str> = column
        .cells
        .iter()
        .filter_map(|c| match c {
            Cell::Text(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    let convert: Option<fn(&str) -> Option<Cell>> =
        if texts.iter().all(|t| t.trim().parse::<i64>().is_ok()) {
            Some(|t| t.trim().parse().ok().map(Cell::Int))
        } else if texts.iter().all(|t| t.trim().parse::<f64>().is_ok()) {
            Some(|t| t.trim().parse().ok().map(Cell::Float))
        } else if texts.iter().all(|t| parse_boolean(t).is_some()) {
            Some(|t| parse_boolean(t).map(Cell::Bool))
        } else {
            None
        };
    let Some(convert) = convert else {
        return column;
    };
    let cells = column
        .cells
        .into_iter()
        .map(|cell| match &cell {
            Cell::Text(text) => convert(text).unwrap_or(cell),
            _ => cell,
        })
        .collect();
    RawColumn {
        name: column.name,
        cells,
    }
}
