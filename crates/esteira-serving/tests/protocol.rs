//! MLflow's scoring protocol against what MLflow 3 itself makes of the same bodies.
//!
//! `fixtures/protocol/cases.json` is written by `fixtures/protocol/make_fixtures.py`, which
//! runs MLflow's `infer_and_parse_data` / `parse_csv_input` and `_enforce_schema` on each
//! body and records the DataFrame (columns, dtypes, values) or the exception.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail, ensure};
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampNanosecondArray,
};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int32Type, Int64Type, TimeUnit, TimestampNanosecondType,
};
use esteira_ml::dataset::{Table, table_from_columns};
use esteira_ml::model::{ColumnSpec, Signature};
use esteira_serving::Error;
use esteira_serving::protocol::{
    Format, Request, content_type, encode_predictions, parse_csv, parse_json,
};
use serde_json::{Value, json};

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/protocol/cases.json")).expect("fixture is JSON")
}

fn case<'a>(fixture: &'a Value, name: &str) -> &'a Value {
    fixture["cases"]
        .as_array()
        .and_then(|cases| cases.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no fixture case {name}"))
}

fn signature_of(spec: &Value) -> Option<Signature> {
    let columns = spec.as_array()?;
    let inputs = columns
        .iter()
        .map(|c| ColumnSpec {
            name: c[0].as_str().expect("name").to_string(),
            data_type: c[1].as_str().expect("type").to_string(),
            required: c[2].as_bool().expect("required"),
        })
        .collect();
    Some(Signature {
        inputs,
        outputs: Vec::new(),
    })
}

fn run(case: &Value) -> esteira_serving::Result<Request> {
    let signature = signature_of(&case["signature"]);
    let body = case["body"].as_str().expect("body").as_bytes();
    match case["format"].as_str() {
        Some("csv") => parse_csv(body, signature.as_ref()),
        _ => parse_json(body, signature.as_ref()),
    }
}

fn parsed(fixture: &Value, name: &str) -> RecordBatch {
    match run(case(fixture, name)) {
        Ok(request) => request.table.batch().clone(),
        Err(e) => panic!("{name}: {e}"),
    }
}

fn bad_input(fixture: &Value, name: &str) -> (String, String) {
    match run(case(fixture, name)) {
        Err(Error::BadInput { field, reason }) => (field, reason),
        other => panic!("{name}: expected BadInput, got {other:?}"),
    }
}

/// The Arrow type pandas' dtype corresponds to.
fn arrow_type(dtype: &str) -> Result<DataType> {
    Ok(match dtype {
        "int64" => DataType::Int64,
        "float64" => DataType::Float64,
        "object" => DataType::Utf8,
        "bool" => DataType::Boolean,
        "datetime64[ns]" => DataType::Timestamp(TimeUnit::Nanosecond, None),
        other => bail!("no Arrow type for dtype {other}"),
    })
}

/// A column's values as JSON, timestamps as epoch nanoseconds (as the fixture writes them).
fn json_values(array: &ArrayRef) -> Result<Vec<Value>> {
    (0..array.len())
        .map(|row| {
            if array.is_null(row) {
                return Ok(Value::Null);
            }
            Ok(match array.data_type() {
                DataType::Int64 => json!(array.as_primitive::<Int64Type>().value(row)),
                DataType::Int32 => json!(array.as_primitive::<Int32Type>().value(row)),
                DataType::Float64 => json!(array.as_primitive::<Float64Type>().value(row)),
                DataType::Float32 => json!(array.as_primitive::<Float32Type>().value(row)),
                DataType::Utf8 => json!(array.as_string::<i32>().value(row)),
                DataType::Boolean => json!(array.as_boolean().value(row)),
                DataType::Timestamp(TimeUnit::Nanosecond, None) => {
                    json!(array.as_primitive::<TimestampNanosecondType>().value(row))
                }
                other => bail!("unexpected type {other}"),
            })
        })
        .collect()
}

fn check_table(batch: &RecordBatch, expected: &Value) -> Result<()> {
    let names: Vec<&str> = batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    let expected_names: Vec<&str> = expected["columns"]
        .as_array()
        .context("columns")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    ensure!(
        names == expected_names,
        "columns {names:?} != {expected_names:?}"
    );
    let records = expected["records"].as_array().context("records")?;
    ensure!(
        batch.num_rows() == records.len(),
        "{} rows != {}",
        batch.num_rows(),
        records.len()
    );
    for (index, dtype) in expected["dtypes"]
        .as_array()
        .context("dtypes")?
        .iter()
        .enumerate()
    {
        let column = batch.column(index);
        let want = arrow_type(dtype.as_str().context("dtype")?)?;
        ensure!(
            *column.data_type() == want,
            "{}: {} != {want}",
            names[index],
            column.data_type()
        );
        let want_values: Vec<Value> = records.iter().map(|r| r[index].clone()).collect();
        let values = json_values(column)?;
        ensure!(
            values == want_values,
            "{}: {values:?} != {want_values:?}",
            names[index]
        );
    }
    Ok(())
}

fn check_case(fixture: &Value, case: &Value) -> Result<()> {
    let field = case["field"].as_str();
    match (case["esteira"].as_str().unwrap_or_default(), run(case)) {
        ("same", Ok(request)) => {
            let expected = case["mlflow"]
                .get("ok")
                .context("MLflow refused this body")?;
            check_table(request.table.batch(), expected)
        }
        ("same" | "refuse", Err(Error::BadInput { field: got, .. })) => {
            let want = field.context("no field for an error case")?;
            ensure!(got == want, "error names {got:?}, expected {want:?}");
            if case["esteira"] == "same" {
                ensure!(
                    case["mlflow"].get("error").is_some(),
                    "MLflow accepted this body"
                );
            }
            Ok(())
        }
        ("accept", Ok(request)) => {
            let same_as = case["same_as"].as_str().context("same_as")?;
            ensure!(
                case["mlflow"].get("error").is_some(),
                "MLflow accepted this body"
            );
            ensure!(
                *request.table.batch() == parsed(fixture, same_as),
                "differs from {same_as}"
            );
            Ok(())
        }
        (expected, outcome) => Err(anyhow!("expected {expected}, got {outcome:?}")),
    }
}

#[test]
fn every_fixture_case_matches_mlflow_or_its_documented_divergence() {
    let fixture = fixture();
    let cases = fixture["cases"].as_array().expect("cases");
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            check_case(&fixture, c)
                .err()
                .map(|e| format!("{}: {e:#}", c["name"]))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn mlflow_errors_name_the_same_column_as_esteira_for_type_and_missing_column_errors() {
    let fixture = fixture();
    let named_by_both = [
        "missing_required_column",
        "missing_required_column_inputs",
        "null_in_long",
        "not_a_number",
        "not_a_date",
        "datetime_utc",
        "two_input_keys",
        "csv_missing_column",
    ];
    for name in named_by_both {
        assert_eq!(
            case(&fixture, name)["mlflow"]["mlflow_mentions_field"],
            true,
            "{name}"
        );
    }
}

#[test]
fn all_four_json_formats_and_csv_give_the_identical_table() {
    let fixture = fixture();
    let signed = parsed(&fixture, "split");
    for name in [
        "split_with_index",
        "records",
        "instances_records",
        "inputs_columns",
        "inputs_records",
        "instances_columns",
        "csv_with_datetime",
    ] {
        assert_eq!(parsed(&fixture, name), signed, "{name}");
    }
    let unsigned = parsed(&fixture, "unsigned_split");
    for name in [
        "unsigned_records",
        "unsigned_instances",
        "unsigned_inputs_columns",
        "unsigned_inputs_records",
        "unsigned_instances_columns",
        "unsigned_csv",
    ] {
        assert_eq!(parsed(&fixture, name), unsigned, "{name}");
    }
    assert_eq!(
        parsed(&fixture, "csv"),
        parsed(&fixture, "split_no_datetime")
    );
}

#[test]
fn a_value_error_names_the_column_the_row_and_the_value() {
    let fixture = fixture();
    let (field, reason) = bad_input(&fixture, "not_a_number");
    assert_eq!(field, "b");
    assert!(
        reason.contains("row 1") && reason.contains("\"abc\"") && reason.contains("double"),
        "{reason}"
    );
    let (field, reason) = bad_input(&fixture, "fraction_to_long");
    assert_eq!(field, "a");
    assert!(
        reason.contains("row 1") && reason.contains("1.5") && reason.contains("fractional"),
        "{reason}"
    );
    let (_, reason) = bad_input(&fixture, "not_a_date");
    assert!(
        reason.contains("row 1") && reason.contains("\"notadate\""),
        "{reason}"
    );
    let (_, reason) = bad_input(&fixture, "datetime_with_offset");
    assert!(
        reason.contains("row 0") && reason.contains("time zone"),
        "{reason}"
    );
    let (_, reason) = bad_input(&fixture, "null_in_long");
    assert!(
        reason.contains("row 1") && reason.contains("null"),
        "{reason}"
    );
    let (field, reason) = bad_input(&fixture, "csv_bad_number");
    assert_eq!(field, "a");
    assert!(
        reason.contains("row 1") && reason.contains("\"x\""),
        "{reason}"
    );
}

#[test]
fn a_missing_column_and_a_wrong_envelope_say_what_is_expected() {
    let fixture = fixture();
    let (_, reason) = bad_input(&fixture, "missing_required_column");
    assert!(reason.contains("missing column `c`"), "{reason}");
    for name in [
        "two_input_keys",
        "no_input_key",
        "no_key_at_all",
        "malformed_json",
        "body_is_a_list",
        "unknown_key_beside_input",
    ] {
        let (_, reason) = bad_input(&fixture, name);
        assert!(
            reason.contains("exactly one of the input fields dataframe_split, dataframe_records, instances, inputs"),
            "{name}: {reason}"
        );
    }
    let (_, reason) = bad_input(&fixture, "empty_records");
    assert!(reason.contains("no rows"), "{reason}");
    let error = run(case(&fixture, "empty_records")).expect_err("empty");
    assert_eq!(error.code(), esteira_core::ErrorCode::BadRequest);
}

#[test]
fn params_come_back_and_csv_has_none() -> Result<()> {
    let fixture = fixture();
    let request = run(case(&fixture, "records_with_params"))?;
    assert_eq!(Value::Object(request.params), json!({"k": 1}));
    assert!(run(case(&fixture, "csv"))?.params.is_empty());
    Ok(())
}

#[test]
fn without_a_signature_columns_keep_the_request_order() -> Result<()> {
    let request = parse_json(
        br#"{"dataframe_records": [{"z": 1, "a": "p"}, {"a": "q", "z": 2}]}"#,
        None,
    )?;
    assert_eq!(request.table.column_names(), ["z", "a"]);
    Ok(())
}

#[test]
fn records_missing_a_key_get_a_null_there() -> Result<()> {
    let request = parse_json(br#"{"dataframe_records": [{"n": 1}, {"m": true}]}"#, None)?;
    let batch = request.table.batch();
    // pandas makes an integer column with a missing value float64, and so does Esteira.
    assert_eq!(batch.column(0).data_type(), &DataType::Float64);
    assert_eq!(json_values(batch.column(0))?, [json!(1.0), Value::Null]);
    assert_eq!(json_values(batch.column(1))?, [Value::Null, json!(true)]);
    Ok(())
}

#[test]
fn lists_of_lists_become_positional_columns() -> Result<()> {
    // pandas names the columns of DataFrame([[1, 2], [3, 4]]) 0 and 1.
    let request = parse_json(br#"{"instances": [[1, 2.5], [3, 4]]}"#, None)?;
    assert_eq!(request.table.column_names(), ["0", "1"]);
    assert_eq!(
        request.table.batch().column(1).data_type(),
        &DataType::Float64
    );
    Ok(())
}

#[test]
fn nested_values_are_refused_naming_column_and_row() {
    let error =
        parse_json(br#"{"dataframe_records": [{"a": 1}, {"a": [1, 2]}]}"#, None).unwrap_err();
    let Error::BadInput { field, reason } = error else {
        panic!("{error:?}")
    };
    assert_eq!(field, "a");
    assert!(
        reason.contains("row 1") && reason.contains("list"),
        "{reason}"
    );
}

#[test]
fn integer_and_float_signature_columns_are_32_bit() -> Result<()> {
    let signature = Signature {
        inputs: vec![
            ColumnSpec::required("i", "integer"),
            ColumnSpec::required("f", "float"),
        ],
        outputs: Vec::new(),
    };
    let request = parse_json(
        br#"{"inputs": {"i": [3, "4"], "f": [0.5, 2]}}"#,
        Some(&signature),
    )?;
    let batch = request.table.batch();
    assert_eq!(json_values(batch.column(0))?, [json!(3), json!(4)]);
    assert_eq!(json_values(batch.column(1))?, [json!(0.5), json!(2.0)]);
    let too_big = parse_json(
        br#"{"inputs": {"i": [3000000000], "f": [1]}}"#,
        Some(&signature),
    )
    .unwrap_err();
    assert!(
        matches!(&too_big, Error::BadInput { field, reason } if field == "i" && reason.contains("32-bit")),
        "{too_big:?}"
    );
    Ok(())
}

#[test]
fn a_signature_type_that_is_not_tabular_is_refused_naming_the_column() {
    let signature = Signature {
        inputs: vec![ColumnSpec::required("img", "binary")],
        outputs: Vec::new(),
    };
    let error = parse_json(br#"{"inputs": {"img": ["aGk="]}}"#, Some(&signature)).unwrap_err();
    assert!(
        matches!(&error, Error::BadInput { field, reason } if field == "img" && reason.contains("binary")),
        "{error:?}"
    );
}

#[test]
fn an_absent_optional_column_stays_absent_as_in_mlflow() -> Result<()> {
    let fixture = fixture();
    assert_eq!(parsed(&fixture, "records").num_columns(), 5);
    assert_eq!(
        parsed(&fixture, "records_optional_present").num_columns(),
        6
    );
    Ok(())
}

#[test]
fn csv_quoting_empty_fields_and_malformed_bodies() -> Result<()> {
    let signature = Signature {
        inputs: vec![
            ColumnSpec::required("name", "string"),
            ColumnSpec::optional("score", "double"),
        ],
        outputs: Vec::new(),
    };
    let request = parse_csv(
        b"name,score\n\"Smith, J\",\n\"x\"\"y\",2\n",
        Some(&signature),
    )?;
    let batch = request.table.batch();
    assert_eq!(
        json_values(batch.column(0))?,
        [json!("Smith, J"), json!("x\"y")]
    );
    assert_eq!(json_values(batch.column(1))?, [Value::Null, json!(2.0)]);
    for body in [&b"name,score\n1,2,3\n"[..], b"", b"name,score\n\xff,1\n"] {
        let error = parse_csv(body, Some(&signature)).unwrap_err();
        assert!(
            matches!(&error, Error::BadInput { field, .. } if field == "body"),
            "{error:?}"
        );
    }
    Ok(())
}

#[test]
fn content_types_follow_mlflow_with_application_csv_and_a_missing_header_as_json() {
    // MLflow's `invocations` accepts these media types with charset=utf-8 and answers 415
    // for another charset or any other parameter.
    assert_eq!(
        content_type(Some("application/json")).unwrap(),
        Format::Json
    );
    assert_eq!(
        content_type(Some("application/json; charset=UTF-8")).unwrap(),
        Format::Json
    );
    assert_eq!(content_type(Some("text/csv")).unwrap(), Format::Csv);
    assert_eq!(
        content_type(Some("text/csv;charset=utf-8")).unwrap(),
        Format::Csv
    );
    assert_eq!(content_type(Some("application/csv")).unwrap(), Format::Csv);
    assert_eq!(content_type(None).unwrap(), Format::Json);
    for header in [
        "text/plain",
        "application/json; charset=latin-1",
        "application/json; charset=utf8",
        "application/json; format=pandas-split",
        "application/vnd.apache.parquet",
    ] {
        let error = content_type(Some(header)).unwrap_err();
        assert!(
            matches!(&error, Error::UnsupportedMediaType(h) if h == header),
            "{error:?}"
        );
        assert_eq!(error.code(), esteira_core::ErrorCode::UnsupportedMediaType);
    }
}

fn prediction_table(case: &Value) -> Result<Table> {
    let arrays = case["columns"]
        .as_array()
        .context("columns")?
        .iter()
        .map(|column| {
            let name = column[0].as_str().context("name")?.to_string();
            let values = column[2].as_array().context("values")?;
            let array: ArrayRef = match column[1].as_str() {
                Some("float64") => Arc::new(Float64Array::from(
                    values
                        .iter()
                        .map(|v| v.as_f64().or(Some(f64::NAN)))
                        .collect::<Vec<_>>(),
                )),
                Some("int64") => Arc::new(Int64Array::from(
                    values.iter().map(Value::as_i64).collect::<Vec<_>>(),
                )),
                Some("bool") => Arc::new(BooleanArray::from(
                    values.iter().map(Value::as_bool).collect::<Vec<_>>(),
                )),
                Some("object") => Arc::new(StringArray::from(
                    values.iter().map(Value::as_str).collect::<Vec<_>>(),
                )),
                other => bail!("dtype {other:?}"),
            };
            Ok((name, array))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(table_from_columns(arrays)?)
}

#[test]
fn predictions_are_encoded_as_mlflow_does_with_nan_as_null() -> Result<()> {
    // The fixture's float nulls were NaN in pandas; they are built as NaN here.
    let fixture = fixture();
    for case in fixture["predictions"].as_array().context("predictions")? {
        let table = prediction_table(case)?;
        assert_eq!(
            encode_predictions(&table),
            case["expected"],
            "{}",
            case["name"]
        );
    }
    Ok(())
}

#[test]
fn narrow_numeric_predictions_stay_numbers() -> Result<()> {
    let classes: ArrayRef = Arc::new(arrow::array::UInt8Array::from(vec![Some(2), None]));
    let scores: ArrayRef = Arc::new(arrow::array::Float32Array::from(vec![0.5, f32::NAN]));
    let table = table_from_columns(vec![
        ("class".to_string(), classes),
        ("score".to_string(), scores),
    ])?;
    assert_eq!(
        encode_predictions(&table),
        json!({"predictions": [{"class": 2, "score": 0.5}, {"class": null, "score": null}]})
    );
    Ok(())
}

#[test]
fn timestamp_predictions_are_iso_8601() -> Result<()> {
    // 1704164645 s after the epoch is 2024-01-02T03:04:05 UTC.
    let stamps: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![
        Some(1_704_164_645_000_000_000),
        None,
    ]));
    let table = table_from_columns(vec![("t".to_string(), stamps)])?;
    assert_eq!(
        encode_predictions(&table),
        json!({"predictions": ["2024-01-02T03:04:05", null]})
    );
    Ok(())
}
