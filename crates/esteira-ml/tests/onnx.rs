//! ONNX models on ONNX Runtime: predictions equal scikit-learn's on 1000 rows.
//!
//! Fixtures come from `tests/fixtures/onnx/generate.py`. The ONNX Runtime library comes from the
//! `onnxruntime` wheel in `.venv` (`scripts/setup.sh`) or `ORT_DYLIB_PATH`. Without it the tests
//! skip loudly, or fail under `CI=true` / `ESTEIRA_REQUIRE_SERVICES=1`.

use std::io::Write;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use esteira_ml::onnx::{
    Column, OnnxError, OnnxModel, Outputs, SessionOptions, find_runtime_library, init_runtime_from,
};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx")
}

/// True when ONNX Runtime is available; otherwise fails under CI, or skips loudly.
fn runtime_available(test: &str) -> bool {
    match find_runtime_library() {
        Ok(_) => true,
        Err(e) => {
            let required = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
                || std::env::var("ESTEIRA_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
            if required {
                panic!("{test}: ONNX Runtime is required (CI / ESTEIRA_REQUIRE_SERVICES) but {e}");
            }
            // Straight to stderr, past the test harness's output capture, so the skip is visible.
            let _ = writeln!(std::io::stderr(), "*** SKIPPING {test}: {e} ***");
            false
        }
    }
}

fn read_json(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The 1000 fixture rows as named columns.
fn input_columns() -> (Vec<(String, Vec<f64>)>, usize) {
    let json = read_json("inputs.json");
    let names: Vec<String> = json["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let rows = json["rows"].as_array().unwrap();
    let columns = names
        .iter()
        .enumerate()
        .map(|(c, name)| {
            (
                name.clone(),
                rows.iter().map(|r| r[c].as_f64().unwrap()).collect(),
            )
        })
        .collect();
    (columns, rows.len())
}

fn assert_close(what: &str, got: f64, want: f64) {
    let tol = (1e-5 * want.abs()).max(1e-6);
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} (tolerance {tol})"
    );
}

fn check_regressor(model: &OnnxModel, name: &str) {
    let (columns, rows) = input_columns();
    assert_eq!(rows, 1000);
    let expected = read_json(&format!("{name}.expected.json"));
    let want: Vec<f64> = expected["variable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let outputs: Outputs = model.predict_f64(&columns, rows).unwrap();
    let out = outputs.get("variable").expect("output 'variable'");
    assert_eq!((out.rows, out.cols), (1000, 1), "{name}");
    for (r, w) in want.iter().enumerate() {
        assert_close(&format!("{name} row {r}"), out.get(r, 0).unwrap(), *w);
    }
}

fn regressor(name: &str) {
    if !runtime_available(name) {
        return;
    }
    let model = OnnxModel::load(fixtures().join(format!("{name}.onnx"))).unwrap();
    let inputs = model.inputs();
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0].element_type, "float");
    assert_eq!(inputs[0].shape, vec![-1, 10]);
    check_regressor(&model, name);
}

#[test]
fn linear_regression_matches_sklearn() {
    regressor("linear");
}

#[test]
fn gradient_boosting_matches_sklearn() {
    regressor("gbr");
}

#[test]
fn one_intra_op_thread_gives_the_same_predictions() {
    if !runtime_available("one_intra_op_thread_gives_the_same_predictions") {
        return;
    }
    let options = SessionOptions {
        intra_op_threads: Some(NonZeroUsize::new(1).unwrap()),
        intra_op_spinning: None,
    };
    let model = OnnxModel::load_with(fixtures().join("gbr.onnx"), options).unwrap();
    check_regressor(&model, "gbr");
    let model =
        OnnxModel::load_with(fixtures().join("gbr.onnx"), SessionOptions::serving()).unwrap();
    check_regressor(&model, "gbr");
}

#[test]
fn mlp_matches_sklearn() {
    regressor("mlp");
}

#[test]
fn random_forest_classifier_matches_sklearn() {
    if !runtime_available("random_forest_classifier") {
        return;
    }
    let model = OnnxModel::load(fixtures().join("rf_classifier.onnx")).unwrap();
    let (columns, rows) = input_columns();
    let expected = read_json("rf_classifier.expected.json");
    let outputs = model.predict_f64(&columns, rows).unwrap();
    assert_eq!(outputs.names(), vec!["label", "probabilities"]);

    let labels = outputs.get("label").unwrap();
    assert_eq!((labels.rows, labels.cols), (1000, 1));
    for (r, want) in expected["label"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            labels.get(r, 0).unwrap() as i64,
            want.as_i64().unwrap(),
            "label of row {r}"
        );
    }

    let proba = outputs.get("probabilities").unwrap();
    assert_eq!((proba.rows, proba.cols), (1000, 3));
    for (r, row) in expected["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        for (c, want) in row.as_array().unwrap().iter().enumerate() {
            assert_close(
                &format!("probability row {r} class {c}"),
                proba.get(r, c).unwrap(),
                want.as_f64().unwrap(),
            );
        }
    }
}

#[test]
fn mlflow_model_directory_loads() {
    if !runtime_available("mlflow_model_directory_loads") {
        return;
    }
    let dir = fixtures().join("mlflow_linear");
    let model = OnnxModel::load(&dir).unwrap();
    assert_eq!(model.path(), dir.join("model.onnx"));
    check_regressor(&model, "linear");
}

#[test]
fn several_inputs_are_matched_by_name() {
    if !runtime_available("several_inputs_are_matched_by_name") {
        return;
    }
    let model = OnnxModel::load(fixtures().join("two_inputs.onnx")).unwrap();
    let types: Vec<(&str, &str)> = model
        .inputs()
        .iter()
        .map(|i| (i.name.as_str(), i.element_type.as_str()))
        .collect();
    assert_eq!(types, vec![("a", "float"), ("b", "int64")]);

    // Given in the other order: matched by name, not position.
    let columns = vec![
        ("b".to_string(), vec![1.0, 2.0, 3.0]),
        ("a".to_string(), vec![0.5, 0.25, -1.0]),
    ];
    let out = model.predict_f64(&columns, 3).unwrap();
    let out = out.get("out").unwrap();
    assert_eq!(out.data, Column::F64(vec![1.5, 2.25, 2.0]));

    let err = model.predict_f64(&columns[..1], 3).unwrap_err();
    assert!(
        matches!(&err, OnnxError::MissingColumn(c) if c == "a"),
        "{err}"
    );
    assert!(err.to_string().contains("'a'"), "{err}");

    let mut extra = columns.clone();
    extra.push(("c".to_string(), vec![0.0; 3]));
    let err = model.predict_f64(&extra, 3).unwrap_err();
    assert!(
        matches!(&err, OnnxError::ExtraColumn(c) if c == "c"),
        "{err}"
    );
}

#[test]
fn wrong_column_count_is_an_error_naming_the_input() {
    if !runtime_available("wrong_column_count_is_an_error_naming_the_input") {
        return;
    }
    let model = OnnxModel::load(fixtures().join("linear.onnx")).unwrap();
    let input = model.inputs()[0].name.clone();
    let (mut columns, rows) = input_columns();
    columns.pop();
    let err = model.predict_f64(&columns, rows).unwrap_err();
    assert!(matches!(err, OnnxError::WrongShape { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&input) && msg.contains("10") && msg.contains("9"),
        "{msg}"
    );

    // A column shorter than the row count.
    let (mut columns, rows) = input_columns();
    columns[3].1.pop();
    let err = model.predict_f64(&columns, rows).unwrap_err();
    assert!(err.to_string().contains("x3"), "{err}");
}

#[test]
fn non_onnx_file_is_a_load_error() {
    if !runtime_available("non_onnx_file_is_a_load_error") {
        return;
    }
    let path = fixtures().join("inputs.json");
    let err = OnnxModel::load(&path).unwrap_err();
    assert!(matches!(err, OnnxError::ModelLoad { .. }), "{err}");
    assert!(err.to_string().contains("inputs.json"), "{err}");

    let err = OnnxModel::load(fixtures().join("missing.onnx")).unwrap_err();
    assert!(matches!(err, OnnxError::ModelLoad { .. }), "{err}");

    // A directory without MLmodel.
    let err = OnnxModel::load(fixtures()).unwrap_err();
    assert!(err.to_string().contains("MLmodel"), "{err}");
}

#[test]
fn missing_library_path_is_a_clear_error() {
    let missing = Path::new("/nonexistent/onnxruntime/libonnxruntime.so.1.31.1");
    let err = init_runtime_from(missing).unwrap_err();
    assert!(matches!(err, OnnxError::LibraryNotFound { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent/onnxruntime/libonnxruntime.so.1.31.1"),
        "{msg}"
    );
    assert!(msg.contains("ORT_DYLIB_PATH"), "{msg}");

    let err =
        esteira_ml::onnx::find_runtime_library_in(None, &[PathBuf::from("/nonexistent/venv")])
            .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/venv/lib/python3*"),
        "{err}"
    );
}

#[test]
fn library_is_found_in_the_workspace_venv() {
    if !runtime_available("library_is_found_in_the_workspace_venv") {
        return;
    }
    let path = find_runtime_library().unwrap();
    assert!(
        path.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("libonnxruntime.so"),
        "{}",
        path.display()
    );
    let loaded = esteira_ml::onnx::init_runtime().unwrap();
    assert!(loaded.is_file());
}

/// A ZipMap fixture's expected probabilities: one `{label: probability}` object per row.
fn expected_zipmap(expected: &Value) -> Vec<Vec<(String, f64)>> {
    expected["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
                .collect()
        })
        .collect()
}

fn check_zipmap(proba: &esteira_ml::onnx::OutputMatrix, expected: &Value, labels: &[&str]) {
    assert_eq!(proba.column_labels, labels);
    let want = expected_zipmap(expected);
    assert_eq!((proba.rows, proba.cols), (want.len(), labels.len()));
    for (r, row) in want.iter().enumerate() {
        assert_eq!(row.len(), labels.len(), "keys of row {r}");
        for (label, p) in row {
            let got = proba
                .get_labelled(r, label)
                .unwrap_or_else(|| panic!("row {r} has no class {label}"));
            assert_close(&format!("probability row {r} class {label}"), got, *p);
        }
    }
}

#[test]
fn zipmap_probabilities_match_onnxruntime() {
    if !runtime_available("zipmap_probabilities_match_onnxruntime") {
        return;
    }
    let model = OnnxModel::load(fixtures().join("rf_zipmap.onnx")).unwrap();
    let (columns, rows) = input_columns();
    let expected = read_json("rf_zipmap.expected.json");
    let outputs = model.predict_f64(&columns, rows).unwrap();
    assert_eq!(outputs.names(), vec!["output_label", "output_probability"]);

    let labels = outputs.get("output_label").unwrap();
    assert_eq!((labels.rows, labels.cols), (1000, 1));
    let want: Vec<f64> = expected["label"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap() as f64)
        .collect();
    assert_eq!(labels.data, Column::F64(want));

    let proba = outputs.get("output_probability").unwrap();
    check_zipmap(proba, &expected, &["0", "1", "2"]);
    assert_eq!(proba.get(1000, 0), None);
    assert_eq!(proba.get_str(0, 0), None);
}

#[test]
fn string_labels_match_onnxruntime() {
    if !runtime_available("string_labels_match_onnxruntime") {
        return;
    }
    let model = OnnxModel::load(fixtures().join("string_labels.onnx")).unwrap();
    let (columns, rows) = input_columns();
    let expected = read_json("string_labels.expected.json");
    let outputs = model.predict_f64(&columns, rows).unwrap();
    assert_eq!(outputs.names(), vec!["output_label", "output_probability"]);

    let labels = outputs.get("output_label").unwrap();
    assert_eq!((labels.rows, labels.cols), (1000, 1));
    let want: Vec<String> = expected["label"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(labels.data, Column::Str(want.clone()));
    assert_eq!(labels.get_str(7, 0), Some(want[7].as_str()));
    assert_eq!(labels.get(7, 0), None);

    // String keys sort as strings, like scikit-learn's classes_.
    check_zipmap(
        outputs.get("output_probability").unwrap(),
        &expected,
        &["high", "low", "mid"],
    );
}

/// `mixed_inputs.json`: a string column `city` and float columns `x0`..`x2`.
fn mixed_columns() -> (Vec<(String, Column)>, usize) {
    let json = read_json("mixed_inputs.json");
    let city: Vec<String> = json["city"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let rows = city.len();
    // Numeric columns first: the model's inputs are matched by name, not position.
    let mut columns: Vec<(String, Column)> = ["x2", "x0", "x1"]
        .iter()
        .map(|name| {
            let values = json[*name]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            (name.to_string(), Column::F64(values))
        })
        .collect();
    columns.push(("city".to_string(), Column::Str(city)));
    (columns, rows)
}

#[test]
fn string_and_numeric_inputs_match_onnxruntime() {
    if !runtime_available("string_and_numeric_inputs_match_onnxruntime") {
        return;
    }
    let model = OnnxModel::load(fixtures().join("mixed_inputs.onnx")).unwrap();
    let types: Vec<(&str, &str)> = model
        .inputs()
        .iter()
        .map(|i| (i.name.as_str(), i.element_type.as_str()))
        .collect();
    assert_eq!(
        types,
        vec![
            ("city", "string"),
            ("x0", "float"),
            ("x1", "float"),
            ("x2", "float")
        ]
    );
    let (columns, rows) = mixed_columns();
    assert_eq!(rows, 500);
    let expected = read_json("mixed_inputs.expected.json");
    let outputs = model.predict(&columns, rows).unwrap();
    let out = outputs.get("variable").unwrap();
    assert_eq!((out.rows, out.cols), (rows, 1));
    for (r, want) in expected["variable"].as_array().unwrap().iter().enumerate() {
        assert_close(
            &format!("mixed row {r}"),
            out.get(r, 0).unwrap(),
            want.as_f64().unwrap(),
        );
    }
}

#[test]
fn single_string_input_takes_the_columns_side_by_side() {
    if !runtime_available("single_string_input_takes_the_columns_side_by_side") {
        return;
    }
    let model = OnnxModel::load(fixtures().join("onehot_pair.onnx")).unwrap();
    assert_eq!(model.inputs()[0].element_type, "string");
    assert_eq!(model.inputs()[0].shape, vec![-1, 2]);
    let expected = read_json("onehot_pair.expected.json");
    let strings = |key: &str| -> Vec<String> {
        expected[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let columns = vec![
        ("city".to_string(), Column::Str(strings("city"))),
        ("colour".to_string(), Column::from(strings("colour"))),
    ];
    let outputs = model.predict(&columns, 50).unwrap();
    let out = outputs.get("variable").unwrap();
    let want: Vec<f64> = expected["onehot"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
        .collect();
    assert_eq!((out.rows, out.cols), (50, 7));
    assert_eq!(out.data, Column::F64(want));
}

fn assert_column_type(err: &OnnxError, input: &str, column: &str, given: &str) {
    assert!(
        matches!(err, OnnxError::ColumnType { input: i, column: c, given: g, .. }
            if i == input && c == column && *g == given),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("'{input}'")) && msg.contains(&format!("'{column}'")),
        "{msg}"
    );
}

#[test]
fn string_column_for_a_numeric_input_is_an_error_naming_it() {
    if !runtime_available("string_column_for_a_numeric_input_is_an_error_naming_it") {
        return;
    }
    // Several inputs: x1 given as strings.
    let model = OnnxModel::load(fixtures().join("mixed_inputs.onnx")).unwrap();
    let (mut columns, rows) = mixed_columns();
    let x1 = columns.iter_mut().find(|(n, _)| n == "x1").unwrap();
    x1.1 = Column::Str(vec!["1.5".to_string(); rows]);
    let err = model.predict(&columns, rows).unwrap_err();
    assert_column_type(&err, "x1", "x1", "string");
    assert!(err.to_string().contains("tensor(float)"), "{err}");

    // A single float input: one string column among numeric ones.
    let model = OnnxModel::load(fixtures().join("linear.onnx")).unwrap();
    let input = model.inputs()[0].name.clone();
    let (numeric, rows) = input_columns();
    let mut columns: Vec<(String, Column)> = numeric
        .into_iter()
        .map(|(n, v)| (n, Column::F64(v)))
        .collect();
    columns[4].1 = Column::Str(vec!["a".to_string(); rows]);
    let err = model.predict(&columns, rows).unwrap_err();
    assert_column_type(&err, &input, "x4", "string");

    // All strings for a float input.
    let strings: Vec<(String, Column)> = (0..10)
        .map(|c| (format!("x{c}"), Column::from(vec!["0"; 3])))
        .collect();
    let err = model.predict(&strings, 3).unwrap_err();
    assert_column_type(&err, &input, "x0", "string");
    assert!(err.to_string().contains("tensor(float)"), "{err}");
}

#[test]
fn numeric_column_for_a_string_input_is_an_error_naming_it() {
    if !runtime_available("numeric_column_for_a_string_input_is_an_error_naming_it") {
        return;
    }
    let model = OnnxModel::load(fixtures().join("mixed_inputs.onnx")).unwrap();
    let (mut columns, rows) = mixed_columns();
    let city = columns.iter_mut().find(|(n, _)| n == "city").unwrap();
    city.1 = Column::F64(vec![1.0; rows]);
    let err = model.predict(&columns, rows).unwrap_err();
    assert_column_type(&err, "city", "city", "numeric");
    assert!(err.to_string().contains("tensor(string)"), "{err}");

    // predict_f64 on a model with a string input.
    let numeric: Vec<(String, Vec<f64>)> = ["city", "x0", "x1", "x2"]
        .iter()
        .map(|n| (n.to_string(), vec![0.0; 2]))
        .collect();
    let err = model.predict_f64(&numeric, 2).unwrap_err();
    assert_column_type(&err, "city", "city", "numeric");

    // A single string input: the second column is numeric.
    let model = OnnxModel::load(fixtures().join("onehot_pair.onnx")).unwrap();
    let columns = vec![
        ("city".to_string(), Column::from(vec!["Porto", "Faro"])),
        ("colour".to_string(), Column::F64(vec![1.0, 2.0])),
    ];
    let err = model.predict(&columns, 2).unwrap_err();
    assert_column_type(&err, "pair", "colour", "numeric");
    // Or all numeric.
    let columns = vec![
        ("city".to_string(), Column::F64(vec![1.0, 2.0])),
        ("colour".to_string(), Column::F64(vec![1.0, 2.0])),
    ];
    let err = model.predict(&columns, 2).unwrap_err();
    assert_column_type(&err, "pair", "city", "numeric");
    assert!(err.to_string().contains("tensor(string)"), "{err}");
}

#[test]
fn string_columns_are_checked_for_length_and_duplicates() {
    if !runtime_available("string_columns_are_checked_for_length_and_duplicates") {
        return;
    }
    let model = OnnxModel::load(fixtures().join("mixed_inputs.onnx")).unwrap();
    let (mut columns, rows) = mixed_columns();
    if let Column::Str(city) = &mut columns[3].1 {
        city.pop();
    }
    let err = model.predict(&columns, rows).unwrap_err();
    assert!(
        matches!(&err, OnnxError::WrongShape { input, .. } if input == "city"),
        "{err}"
    );
    assert!(err.to_string().contains("499 values"), "{err}");

    let (mut columns, rows) = mixed_columns();
    columns.push(("x0".to_string(), Column::F64(vec![0.0; rows])));
    let err = model.predict(&columns, rows).unwrap_err();
    assert!(
        matches!(&err, OnnxError::DuplicateColumn(c) if c == "x0"),
        "{err}"
    );

    // The two-column string input declares 2 columns.
    let model = OnnxModel::load(fixtures().join("onehot_pair.onnx")).unwrap();
    let err = model
        .predict(&[("city".to_string(), Column::from(vec!["Porto"]))], 1)
        .unwrap_err();
    assert!(
        matches!(&err, OnnxError::WrongShape { input, .. } if input == "pair"),
        "{err}"
    );
    assert!(
        err.to_string().contains("expects 2 columns, got 1"),
        "{err}"
    );
}

#[test]
fn values_the_input_type_cannot_hold_are_errors_naming_input_column_and_row() {
    if !runtime_available(
        "values_the_input_type_cannot_hold_are_errors_naming_input_column_and_row",
    ) {
        return;
    }
    let check = |err: OnnxError, input: &str, column: &str, row: usize, what: &str| {
        assert!(
            matches!(&err, OnnxError::BadValue { input: i, column: c, row: r, message }
                if i == input && c == column && *r == row && message.contains(what)),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("'{input}'")) && msg.contains(&format!("'{column}' row {row}")),
            "{msg}"
        );
    };

    // float32 overflow in the single-input matrix path: the column and row are named.
    let model = OnnxModel::load(fixtures().join("linear.onnx")).unwrap();
    let input = model.inputs()[0].name.clone();
    let (mut columns, rows) = input_columns();
    columns[3].1[5] = 1e300;
    let err = model.predict_f64(&columns, rows).unwrap_err();
    check(err, &input, "x3", 5, "1e300 is beyond the range of float32");

    // int64 input: fractions, NaN and out-of-range values.
    let model = OnnxModel::load(fixtures().join("two_inputs.onnx")).unwrap();
    for (bad, what) in [
        (1.5, "1.5 is not an int64 integer"),
        (f64::NAN, "NaN is not an int64 integer"),
        (1e19, "1e19 is not an int64 integer"),
    ] {
        let columns = vec![
            ("a".to_string(), vec![0.5, 0.25, -1.0]),
            ("b".to_string(), vec![1.0, bad, 3.0]),
        ];
        let err = model.predict_f64(&columns, 3).unwrap_err();
        check(err, "b", "b", 1, what);
    }

    // A NUL byte cannot cross into ONNX Runtime's C strings.
    let model = OnnxModel::load(fixtures().join("mixed_inputs.onnx")).unwrap();
    let (mut columns, rows) = mixed_columns();
    if let Column::Str(city) = &mut columns[3].1 {
        city[7] = "Por\0to".to_string();
    }
    let err = model.predict(&columns, rows).unwrap_err();
    check(err, "city", "city", 7, "contains a NUL byte");
}
