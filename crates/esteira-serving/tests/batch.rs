//! Micro-batching: concurrent requests scored together answer exactly what each gets alone.
//!
//! Reference values: the ONNX fixtures' `*.expected.json` are scikit-learn's own predictions
//! (`crates/esteira-ml/tests/fixtures/onnx/generate.py`); the tabular model is an ordinary
//! least squares fit on data that lie exactly on `y = 3 + 2x + 5·[city = b]`, so its
//! predictions are that formula, computed by hand in the test.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use esteira_ml::dataset::{Table, table_from_columns};
use esteira_ml::model::{self, ModelKind, tabular};
use esteira_ml::tabular::{Algorithm, FeatureColumn, Features, Target, Task, fit};
use esteira_serving::Error;
use esteira_serving::batch::{BatchConfig, BatchCounts, Batcher, render_prometheus};
use esteira_serving::endpoint::EndpointSpec;
use esteira_serving::protocol::{Request, parse_json};
use esteira_serving::runtime::ServedModel;
use serde_json::{Value, json};

fn onnx_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../esteira-ml/tests/fixtures/onnx")
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    Ok(serde_json::from_str(&text)?)
}

/// The fixture rows (x0..x9) and scikit-learn's predictions of `model` for them.
struct OnnxCase {
    columns: Value,
    rows: Vec<Value>,
    expected: Vec<f64>,
}

fn onnx_case(model: &str) -> Result<OnnxCase> {
    let inputs = read_json(&onnx_fixtures().join("inputs.json"))?;
    let expected = read_json(&onnx_fixtures().join(format!("{model}.expected.json")))?;
    Ok(OnnxCase {
        columns: inputs["columns"].clone(),
        rows: inputs["rows"].as_array().context("rows")?.clone(),
        expected: expected["variable"]
            .as_array()
            .context("variable")?
            .iter()
            .filter_map(Value::as_f64)
            .collect(),
    })
}

fn onnx_model(model: &str, version: &str) -> Result<Arc<ServedModel>> {
    let path = onnx_fixtures().join(format!("{model}.onnx"));
    Ok(Arc::new(ServedModel::load(&path, model, version)?))
}

/// The table a `dataframe_split` request of `rows` parses to.
fn request_table(columns: &Value, rows: &[Value]) -> Result<Table> {
    let body = json!({"dataframe_split": {"columns": columns, "data": rows}});
    Ok(parse_json(body.to_string().as_bytes(), None)?.table)
}

fn floats(table: &Table, column: &str) -> Result<Vec<f64>> {
    Ok(table
        .f64_column(column)?
        .into_iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect())
}

fn close_to(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= (rel * want.abs()).max(1e-9)
}

/// Sends every `(model, table)` to `batcher` at once (one task each, started in order) and
/// collects the answers in that order.
async fn predict_all(
    batcher: &Arc<Batcher>,
    jobs: Vec<(Arc<ServedModel>, Table)>,
) -> Result<Vec<esteira_serving::Result<Table>>> {
    let tasks: Vec<_> = jobs
        .into_iter()
        .map(|(model, table)| {
            let batcher = batcher.clone();
            tokio::spawn(async move { batcher.predict(model, table).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await?);
    }
    Ok(answers)
}

fn config(max_rows: usize, wait: Duration) -> Result<BatchConfig> {
    Ok(BatchConfig::new(max_rows, wait)?)
}

/// The batches of at most `bound` rows in `counts`' cumulative histogram.
fn at_most(counts: &BatchCounts, bound: u64) -> u64 {
    counts
        .buckets
        .iter()
        .find(|(b, _)| *b == bound)
        .map_or(0, |(_, n)| *n)
}

/// Request `i` of an ONNX batch: 1 to 3 consecutive fixture rows starting at row `3 i`.
fn onnx_request_rows(case: &OnnxCase, i: usize) -> (usize, &[Value]) {
    let start = 3 * i;
    (start, &case.rows[start..start + i % 3 + 1])
}

#[tokio::test]
async fn concurrent_onnx_requests_in_one_batch_answer_what_each_gets_alone() -> Result<()> {
    let case = onnx_case("gbr")?;
    let model = onnx_model("gbr", "1")?;
    let requests: Vec<(usize, Table)> = (0..16)
        .map(|i| {
            let (start, rows) = onnx_request_rows(&case, i);
            Ok((start, request_table(&case.columns, rows)?))
        })
        .collect::<Result<_>>()?;
    let total: usize = requests.iter().map(|(_, t)| t.num_rows()).sum();
    // The batch is full once every request has arrived, so it never waits the second out.
    let batcher = Arc::new(Batcher::start(config(total, Duration::from_secs(1))?));
    let jobs = requests.iter().map(|(_, t)| (model.clone(), t.clone()));
    let answers = predict_all(&batcher, jobs.collect()).await?;
    for ((start, table), answer) in requests.iter().zip(answers) {
        let batched = answer?;
        let alone = model.predict(table, &serde_json::Map::new())?;
        ensure!(
            batched.batch() == alone.batch(),
            "row {start}: batched != alone"
        );
        for (k, got) in floats(&batched, "variable")?.iter().enumerate() {
            let want = case.expected[start + k];
            ensure!(
                close_to(*got, want, 1e-5),
                "row {}: {got} vs {want}",
                start + k
            );
        }
    }
    let counts = batcher.counts();
    assert_eq!(counts.batches, 1, "{counts:?}");
    assert_eq!(counts.rows, total as u64);
    assert_eq!(at_most(&counts, 16), 0, "the one batch has {total} rows");
    assert_eq!(at_most(&counts, 64), 1);
    assert_eq!(counts.rescored, 0);
    Ok(())
}

/// An OLS model of `y = 3 + 2x + 5·[city = b]` fitted on exact data, saved and loaded.
fn tabular_model(dir: &Path) -> Result<Arc<ServedModel>> {
    let x: Vec<f64> = (0..40).map(|i| f64::from(i) * 0.5).collect();
    let city: Vec<String> = (0..40).map(|i| ["a", "b"][i % 2].to_string()).collect();
    let y: Vec<f64> = x
        .iter()
        .zip(&city)
        .map(|(x, c)| expected_tabular(*x, c))
        .collect();
    let features = Features::new(
        vec!["x".into(), "city".into()],
        vec![
            FeatureColumn::Numeric(x),
            FeatureColumn::Categorical(city.into_iter().map(Some).collect()),
        ],
    )?;
    let fitted = fit(
        Task::Regression,
        Algorithm::Linear,
        &json!({}),
        &features,
        Target::Values(&y),
    )?;
    let manifest = model::new_manifest(
        ModelKind::Tabular,
        tabular::signature(&fitted, &features),
        tabular::input_example(&features, 2),
        json!({}),
    );
    let out = dir.join("model");
    model::save(&out, &manifest, &fitted)?;
    Ok(Arc::new(ServedModel::load(&out, "ols", "1")?))
}

fn expected_tabular(x: f64, city: &str) -> f64 {
    3.0 + 2.0 * x + if city == "b" { 5.0 } else { 0.0 }
}

fn tabular_table(x: ArrayRef, city: &[&str]) -> Result<Table> {
    let city: ArrayRef = Arc::new(StringArray::from(city.to_vec()));
    Ok(table_from_columns(vec![
        ("x".to_string(), x),
        ("city".to_string(), city),
    ])?)
}

#[tokio::test]
async fn concurrent_tabular_requests_and_one_of_another_schema_answer_the_formula() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let model = tabular_model(dir.path())?;
    let mut requests: Vec<(Vec<f64>, Vec<&str>, Table)> = (0..12)
        .map(|i| {
            let x = vec![f64::from(i) + 0.25, f64::from(i) * 3.0];
            let city = vec!["a", "b"];
            let table = tabular_table(Arc::new(Float64Array::from(x.clone())), &city)?;
            Ok((x, city, table))
        })
        .collect::<Result<_>>()?;
    // Integers where the others have floats: a schema of its own, so a batch of its own.
    let odd = tabular_table(Arc::new(Int64Array::from(vec![7, -2])), &["b", "a"])?;
    requests.insert(5, (vec![7.0, -2.0], vec!["b", "a"], odd));
    let batcher = Arc::new(Batcher::start(config(24, Duration::from_millis(50))?));
    let jobs = requests.iter().map(|(_, _, t)| (model.clone(), t.clone()));
    let answers = predict_all(&batcher, jobs.collect()).await?;
    for ((x, city, table), answer) in requests.iter().zip(answers) {
        let batched = answer?;
        let alone = model.predict(table, &serde_json::Map::new())?;
        ensure!(
            batched.batch() == alone.batch(),
            "x {x:?}: batched != alone"
        );
        let got = floats(&batched, tabular::PREDICTION_COLUMN)?;
        for ((x, c), g) in x.iter().zip(city).zip(got) {
            let want = expected_tabular(*x, c);
            ensure!(close_to(g, want, 1e-9), "x {x} city {c}: {g} vs {want}");
        }
    }
    let counts = batcher.counts();
    assert_eq!(counts.rows, 26);
    assert!(
        counts.batches >= 2,
        "the integer request cannot share a batch: {counts:?}"
    );
    assert!(
        at_most(&counts, 2) < counts.batches,
        "some batch has more than one two-row request: {counts:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_request_the_model_refuses_gets_its_own_error_and_its_batch_the_rest() -> Result<()> {
    let case = onnx_case("gbr")?;
    let model = onnx_model("gbr", "1")?;
    let mut bad_row = case.rows[40].clone();
    bad_row[3] = Value::Null;
    let bad = request_table(&case.columns, &[bad_row])?;
    let good: Vec<Table> = (0..8)
        .map(|i| request_table(&case.columns, &case.rows[i..=i]))
        .collect::<Result<_>>()?;
    ensure!(
        bad.schema() == good[0].schema(),
        "a null keeps the schema, so the bad request joins the batch"
    );
    let batcher = Arc::new(Batcher::start(config(9, Duration::from_secs(1))?));
    let mut tables = good.clone();
    tables.insert(4, bad.clone());
    let jobs = tables.into_iter().map(|t| (model.clone(), t));
    let answers = predict_all(&batcher, jobs.collect()).await?;
    let alone = model.predict(&bad, &serde_json::Map::new());
    let (Err(Error::BadInput { field, reason }), Err(alone)) = (&answers[4], alone) else {
        panic!(
            "the null row must be refused: {:?}",
            answers[4].as_ref().err()
        );
    };
    assert_eq!(field, "data");
    assert_eq!(
        reason, "column 'x3' is null at row 0",
        "the row counts within the request, not the batch"
    );
    assert_eq!(
        answers[4].as_ref().err().map(ToString::to_string),
        Some(alone.to_string())
    );
    let good_answers = answers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 4)
        .map(|(_, a)| a);
    for (i, answer) in good_answers.enumerate() {
        let got = floats(
            answer.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?,
            "variable",
        )?;
        ensure!(close_to(got[0], case.expected[i], 1e-5), "row {i}");
    }
    let counts = batcher.counts();
    assert_eq!((counts.batches, counts.rescored), (1, 1), "{counts:?}");
    Ok(())
}

#[tokio::test]
async fn a_request_that_gives_up_leaves_its_batch_answering_the_others() -> Result<()> {
    let case = onnx_case("gbr")?;
    let model = onnx_model("gbr", "1")?;
    // One row more than the others bring: the batch fills only with the one that gives up.
    let batcher = Arc::new(Batcher::start(config(9, Duration::from_secs(1))?));
    let first = request_table(&case.columns, &case.rows[100..101])?;
    let gave_up = tokio::time::timeout(Duration::ZERO, batcher.predict(model.clone(), first)).await;
    assert!(
        gave_up.is_err(),
        "a zero timeout elapses before any batch answers"
    );
    let tables: Vec<Table> = (0..8)
        .map(|i| request_table(&case.columns, &case.rows[i..=i]))
        .collect::<Result<_>>()?;
    let jobs = tables.into_iter().map(|t| (model.clone(), t));
    let answers = predict_all(&batcher, jobs.collect()).await?;
    for (i, answer) in answers.into_iter().enumerate() {
        let got = floats(&answer?, "variable")?;
        ensure!(close_to(got[0], case.expected[i], 1e-5), "row {i}");
    }
    let counts = batcher.counts();
    assert_eq!(
        counts.rows, 8,
        "the abandoned row is not scored: {counts:?}"
    );
    Ok(())
}

#[tokio::test]
async fn requests_taken_on_two_versions_are_never_scored_together() -> Result<()> {
    let gbr = onnx_case("gbr")?;
    let linear = onnx_case("linear")?;
    let v1 = onnx_model("gbr", "1")?;
    let v2 = onnx_model("linear", "2")?;
    let batcher = Arc::new(Batcher::start(config(20, Duration::from_millis(50))?));
    let requests: Vec<(usize, Arc<ServedModel>, Table)> = (0..20)
        .map(|i| {
            let model = if i % 3 == 0 { v2.clone() } else { v1.clone() };
            Ok((i, model, request_table(&gbr.columns, &gbr.rows[i..=i])?))
        })
        .collect::<Result<_>>()?;
    let jobs = requests.iter().map(|(_, m, t)| (m.clone(), t.clone()));
    let answers = predict_all(&batcher, jobs.collect()).await?;
    for ((i, model, _), answer) in requests.iter().zip(answers) {
        let got = floats(&answer?, "variable")?[0];
        let want = if model.version == "2" {
            linear.expected[*i]
        } else {
            gbr.expected[*i]
        };
        ensure!(
            close_to(got, want, 1e-5),
            "row {i} version {}: {got} vs {want}",
            model.version
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_batcher_takes_row_wise_requests_within_its_rows_and_without_params() -> Result<()> {
    let case = onnx_case("gbr")?;
    let model = onnx_model("gbr", "1")?;
    let batcher = Batcher::start(config(2, Duration::from_millis(1))?);
    let take = |body: Value| -> Result<bool> {
        Ok(batcher.takes(&model, &parse_json(body.to_string().as_bytes(), None)?))
    };
    let split = |rows: &[Value]| json!({"columns": case.columns, "data": rows});
    assert!(take(json!({"dataframe_split": split(&case.rows[..2])}))?);
    assert!(
        !take(json!({"dataframe_split": split(&case.rows[..3])}))?,
        "3 rows > 2"
    );
    let no_rows = Request {
        table: Table::new(
            request_table(&case.columns, &case.rows[..1])?
                .batch()
                .slice(0, 0),
        ),
        params: serde_json::Map::new(),
    };
    assert!(!batcher.takes(&model, &no_rows), "no rows");
    assert!(
        !take(json!({"dataframe_split": split(&case.rows[..1]), "params": {"k": 1}}))?,
        "params go alone, to be refused as they are without batching"
    );
    Ok(())
}

#[test]
fn batch_bounds_are_checked_naming_the_field() {
    let zero = BatchConfig::new(0, Duration::from_millis(2));
    assert!(matches!(zero, Err(Error::BadInput { ref field, .. }) if field == "max_rows"));
    let huge = BatchConfig::new(BatchConfig::LIMIT_ROWS + 1, Duration::from_millis(2));
    assert!(matches!(huge, Err(Error::BadInput { ref field, .. }) if field == "max_rows"));
    let long = BatchConfig::new(8, Duration::from_millis(1001));
    assert!(matches!(long, Err(Error::BadInput { ref field, .. }) if field == "max_wait"));
    let ok = BatchConfig::new(8, Duration::from_micros(2500)).expect("in bounds");
    assert_eq!((ok.max_rows, ok.max_wait_us), (8, 2500));
}

#[test]
fn an_endpoint_definition_carries_its_batching_and_checks_it() -> Result<()> {
    let batch = BatchConfig::new(32, Duration::from_millis(2))?;
    let spec = EndpointSpec::from_flags(&["main=demand@champion".to_string()], None, Some(batch))?;
    let stored = serde_json::to_value(&spec)?;
    assert_eq!(
        stored["batch"],
        json!({"max_rows": 32, "max_wait_us": 2000})
    );
    let back: EndpointSpec = serde_json::from_value(stored)?;
    assert_eq!(back, spec);
    let unbatched = EndpointSpec::from_flags(&["main=demand@champion".to_string()], None, None)?;
    assert!(serde_json::to_value(&unbatched)?.get("batch").is_none());
    let mut bad = spec;
    bad.batch = Some(BatchConfig {
        max_rows: 0,
        max_wait_us: 10,
    });
    assert!(matches!(bad.validate(), Err(Error::BadInput { ref field, .. }) if field == "batch"));
    Ok(())
}

#[test]
fn the_batch_size_histogram_is_cumulative_per_endpoint_and_route() {
    let counts = BatchCounts {
        buckets: vec![(1, 2), (2, 2), (4, 5)],
        batches: 6,
        rows: 19,
        rescored: 1,
    };
    let text = render_prometheus(&[("demand".into(), "champion".into(), counts)]);
    let labels = "endpoint=\"demand\",route=\"champion\"";
    for line in [
        "# TYPE esteira_serving_batch_rows histogram".to_string(),
        format!("esteira_serving_batch_rows_bucket{{{labels},le=\"1\"}} 2"),
        format!("esteira_serving_batch_rows_bucket{{{labels},le=\"4\"}} 5"),
        format!("esteira_serving_batch_rows_bucket{{{labels},le=\"+Inf\"}} 6"),
        format!("esteira_serving_batch_rows_sum{{{labels}}} 19"),
        format!("esteira_serving_batch_rows_count{{{labels}}} 6"),
        format!("esteira_serving_batch_rescored_total{{{labels}}} 1"),
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    assert_eq!(render_prometheus(&[]), "");
    let quoted = BatchCounts {
        buckets: vec![(1, 1)],
        batches: 1,
        rows: 1,
        rescored: 0,
    };
    let text = render_prometheus(&[("a\"b".into(), "c\\d".into(), quoted)]);
    assert!(
        text.contains("esteira_serving_batch_rows_count{endpoint=\"a\\\"b\",route=\"c\\\\d\"} 1"),
        "label values are escaped as Prometheus' text format says:\n{text}"
    );
}
