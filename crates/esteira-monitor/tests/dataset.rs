//! Dataset drift over Parquet and CSV files and record batches: verdicts per column, columns
//! missing or changed in the current data, and every bad file and option.
//!
//! The data are designed so that the verdicts are known: with 3000 reference rows Evidently's
//! default methods are `wasserstein` (numeric) and `jensenshannon` (categorical), both with
//! threshold 0.1. `num_shift` moves N(0, 1) to N(1, 1) (normed Wasserstein ≈ 1), `cat_shift`
//! turns shares (0.6, 0.3, 0.1) into (0.1, 0.3, 0.6) (Jensen-Shannon ≈ 0.39); `num_same`,
//! `int_same`, `cat_same` are independent draws of one distribution (scores ≈ 0.03 or less).

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use esteira_monitor::MonitorError;
use esteira_monitor::dataset::{
    BatchSource, ColumnSource, DatasetDrift, DriftOptions, ParquetSource, dataset_drift,
    open_source,
};
use esteira_monitor::drift::{ColumnDrift, ColumnValues, Method, column_drift};
use parquet::arrow::ArrowWriter;

const REFERENCE_ROWS: usize = 3000;
const CURRENT_ROWS: usize = 2500;

/// A small deterministic generator (xorshift64*), normal draws by Box-Muller.
struct Draws(u64);

impl Draws {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self, mean: f64) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        mean + (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    fn label(&mut self, shares: [f64; 3]) -> &'static str {
        let u = self.uniform();
        if u < shares[0] {
            "a"
        } else if u < shares[0] + shares[1] {
            "b"
        } else {
            "c"
        }
    }
}

struct Table {
    num_shift: Vec<f64>,
    num_same: Vec<f64>,
    int_same: Vec<i64>,
    cat_shift: Vec<&'static str>,
    cat_same: Vec<&'static str>,
    gone: Vec<f64>,
}

fn table(rows: usize, seed: u64, current: bool) -> Table {
    let mut draws = Draws(seed);
    let shift_shares = if current {
        [0.1, 0.3, 0.6]
    } else {
        [0.6, 0.3, 0.1]
    };
    Table {
        num_shift: (0..rows)
            .map(|_| draws.normal(if current { 1.0 } else { 0.0 }))
            .collect(),
        num_same: (0..rows).map(|_| draws.normal(0.0)).collect(),
        int_same: (0..rows)
            .map(|_| (draws.uniform() * 100.0) as i64)
            .collect(),
        cat_shift: (0..rows).map(|_| draws.label(shift_shares)).collect(),
        cat_same: (0..rows).map(|_| draws.label([0.5, 0.3, 0.2])).collect(),
        gone: (0..rows).map(|_| draws.normal(0.0)).collect(),
    }
}

fn batch(table: &Table, with_gone: bool) -> Result<RecordBatch> {
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        (
            "num_shift",
            Arc::new(Float64Array::from(table.num_shift.clone())),
        ),
        (
            "num_same",
            Arc::new(Float64Array::from(table.num_same.clone())),
        ),
        (
            "int_same",
            Arc::new(Int64Array::from(table.int_same.clone())),
        ),
        (
            "cat_shift",
            Arc::new(StringArray::from(table.cat_shift.clone())),
        ),
        (
            "cat_same",
            Arc::new(StringArray::from(table.cat_same.clone())),
        ),
    ];
    if with_gone {
        columns.push(("gone", Arc::new(Float64Array::from(table.gone.clone()))));
    }
    Ok(RecordBatch::try_from_iter(columns)?)
}

fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<()> {
    let mut writer = ArrowWriter::try_new(File::create(path)?, batch.schema(), None)?;
    // Several batches, so that a column spans several record batches when read.
    for offset in (0..batch.num_rows()).step_by(1000) {
        writer.write(&batch.slice(offset, 1000.min(batch.num_rows() - offset)))?;
    }
    writer.close()?;
    Ok(())
}

fn write_csv(path: &Path, batch: &RecordBatch) -> Result<()> {
    let mut writer = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(File::create(path)?);
    writer.write(batch)?;
    Ok(())
}

fn reference_and_current() -> Result<(RecordBatch, RecordBatch)> {
    let reference = batch(&table(REFERENCE_ROWS, 0x9e37_79b9_7f4a_7c15, false), true)?;
    let current = batch(&table(CURRENT_ROWS, 0xd1b5_4a32_d192_ed03, true), false)?;
    Ok((reference, current))
}

fn by_column(drift: &DatasetDrift) -> HashMap<&str, &ColumnDrift> {
    drift
        .columns
        .iter()
        .map(|c| (c.column.as_str(), c))
        .collect()
}

fn assert_designed_verdicts(drift: &DatasetDrift) {
    let columns = by_column(drift);
    let names: Vec<&str> = drift.columns.iter().map(|c| c.column.as_str()).collect();
    assert_eq!(
        names,
        [
            "num_shift",
            "num_same",
            "int_same",
            "cat_shift",
            "cat_same",
            "gone"
        ]
    );
    for (name, drifted) in [
        ("num_shift", true),
        ("num_same", false),
        ("int_same", false),
        ("cat_shift", true),
        ("cat_same", false),
    ] {
        assert_eq!(
            columns[name].drifted,
            Some(drifted),
            "{name}: {:?}",
            columns[name]
        );
    }
    assert_eq!(columns["num_shift"].method, Some(Method::Wasserstein));
    assert_eq!(columns["cat_shift"].method, Some(Method::JensenShannon));
    assert_eq!(
        columns["gone"].not_computed.as_deref(),
        Some("missing in the current data")
    );
    assert_eq!((drift.computed_count, drift.drifted_count), (5, 2));
    assert_eq!(drift.share, Some(0.4));
    assert_eq!(drift.dataset_drift, Some(false));
    assert_eq!((drift.rows_reference, drift.rows_current), (3000, 2500));
}

/// The scores equal column drift on the same values in memory (checked against Evidently in
/// tests/distance.rs): the file plumbing loses nothing.
fn assert_scores_match_in_memory(
    drift: &DatasetDrift,
    reference: &RecordBatch,
    current: &RecordBatch,
) -> Result<()> {
    for computed in drift.columns.iter().filter(|c| c.score.is_some()) {
        let name = computed.column.as_str();
        let values = |batch: &RecordBatch| -> Result<ColumnValues> {
            let array = batch.column_by_name(name).context("column")?;
            Ok(match array.data_type() {
                DataType::Utf8 => {
                    let labels = array
                        .as_any()
                        .downcast_ref::<StringArray>()
                        .context("strings")?;
                    ColumnValues::labels(labels.iter())
                }
                DataType::Int64 => {
                    let ints = array
                        .as_any()
                        .downcast_ref::<Int64Array>()
                        .context("ints")?;
                    ColumnValues::integers(ints.values().iter().copied())
                }
                _ => {
                    let floats = array
                        .as_any()
                        .downcast_ref::<Float64Array>()
                        .context("floats")?;
                    ColumnValues::floats(floats.values().to_vec())
                }
            })
        };
        let expected = column_drift(name, values(reference)?, values(current)?, None, None);
        assert_eq!(computed, &expected, "{name}");
    }
    Ok(())
}

#[test]
fn parquet_files_two_of_six_columns_drift_one_missing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (reference, current) = reference_and_current()?;
    write_parquet(&dir.path().join("ref.parquet"), &reference)?;
    write_parquet(&dir.path().join("cur.parquet"), &current)?;
    let reference_source = open_source(&dir.path().join("ref.parquet"))?;
    let current_source = open_source(&dir.path().join("cur.parquet"))?;
    let drift = dataset_drift(
        reference_source.as_ref(),
        current_source.as_ref(),
        &DriftOptions::default(),
    )?;
    assert_designed_verdicts(&drift);
    assert_scores_match_in_memory(&drift, &reference, &current)?;
    let one_at_a_time = DriftOptions {
        parallel_columns: Some(1),
        ..DriftOptions::default()
    };
    let sequential = dataset_drift(
        reference_source.as_ref(),
        current_source.as_ref(),
        &one_at_a_time,
    )?;
    assert_eq!(sequential, drift);
    let lower_share = DriftOptions {
        drift_share: 0.4,
        ..DriftOptions::default()
    };
    let drift = dataset_drift(
        reference_source.as_ref(),
        current_source.as_ref(),
        &lower_share,
    )?;
    assert_eq!(drift.dataset_drift, Some(true));
    Ok(())
}

#[test]
fn csv_files_and_batches_give_the_parquet_verdicts() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (reference, current) = reference_and_current()?;
    write_csv(&dir.path().join("ref.csv"), &reference)?;
    write_csv(&dir.path().join("cur.csv"), &current)?;
    let drift = dataset_drift(
        open_source(&dir.path().join("ref.csv"))?.as_ref(),
        open_source(&dir.path().join("cur.csv"))?.as_ref(),
        &DriftOptions::default(),
    )?;
    assert_designed_verdicts(&drift);
    let reference_batches = BatchSource::new(
        "reference",
        reference.schema(),
        vec![reference.slice(0, 1000), reference.slice(1000, 2000)],
    )?;
    let current_batches = BatchSource::new("current", current.schema(), vec![current.clone()])?;
    let drift = dataset_drift(
        &reference_batches,
        &current_batches,
        &DriftOptions::default(),
    )?;
    assert_designed_verdicts(&drift);
    assert_scores_match_in_memory(&drift, &reference, &current)?;
    Ok(())
}

#[test]
fn methods_thresholds_and_columns_per_column() -> Result<()> {
    let (reference, current) = reference_and_current()?;
    let reference = BatchSource::new("reference", reference.schema(), vec![reference])?;
    let current = BatchSource::new("current", current.schema(), vec![current])?;
    let options = DriftOptions {
        columns: Some(vec!["cat_same".into(), "num_same".into()]),
        method: Some(Method::Psi),
        methods: HashMap::from([("num_same".to_owned(), Method::Hellinger)]),
        thresholds: HashMap::from([("cat_same".to_owned(), 0.0)]),
        ..DriftOptions::default()
    };
    let drift = dataset_drift(&reference, &current, &options)?;
    let columns = by_column(&drift);
    assert_eq!(drift.columns.len(), 2);
    assert_eq!(columns["cat_same"].method, Some(Method::Psi));
    // A threshold of 0 makes any distance drift.
    assert_eq!(
        (columns["cat_same"].threshold, columns["cat_same"].drifted),
        (Some(0.0), Some(true))
    );
    assert_eq!(columns["num_same"].method, Some(Method::Hellinger));
    assert_eq!(columns["num_same"].threshold, Some(0.1));
    Ok(())
}

#[test]
fn changed_types_all_null_and_unsupported_columns_are_not_computed() -> Result<()> {
    let schema = |second: DataType| {
        Arc::new(Schema::new(vec![
            Field::new("x", DataType::Float64, true),
            Field::new("y", second, true),
            Field::new("d", DataType::Date32, true),
            Field::new("n", DataType::Float64, true),
        ]))
    };
    let numbers: Vec<f64> = (0..1500).map(f64::from).collect();
    let reference = RecordBatch::try_new(
        schema(DataType::Float64),
        vec![
            Arc::new(Float64Array::from(numbers.clone())),
            Arc::new(Float64Array::from(numbers.clone())),
            Arc::new(Date32Array::from(vec![1; 1500])),
            Arc::new(Float64Array::from(numbers.clone())),
        ],
    )?;
    let current = RecordBatch::try_new(
        schema(DataType::Utf8),
        vec![
            Arc::new(Float64Array::from(numbers.clone())),
            Arc::new(StringArray::from(vec!["a"; 1500])),
            Arc::new(Date32Array::from(vec![1; 1500])),
            Arc::new(Float64Array::from(vec![None; 1500])),
        ],
    )?;
    let reference = BatchSource::new("reference", reference.schema(), vec![reference])?;
    let current = BatchSource::new("current", current.schema(), vec![current])?;
    let drift = dataset_drift(&reference, &current, &DriftOptions::default())?;
    let columns = by_column(&drift);
    assert_eq!(columns["x"].drifted, Some(false));
    assert_eq!(
        columns["y"].not_computed.as_deref(),
        Some("type changed: Float64 (numeric) in the reference, Utf8 in the current data")
    );
    assert_eq!(
        columns["d"].not_computed.as_deref(),
        Some("unsupported type Date32 in the reference data")
    );
    assert_eq!(
        columns["n"].not_computed.as_deref(),
        Some("the current sample has only nulls (1500)")
    );
    assert_eq!((drift.computed_count, drift.share), (1, Some(0.0)));
    Ok(())
}

#[test]
fn no_verdict_at_all_gives_no_share() -> Result<()> {
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, true)]));
    let empty = BatchSource::new("empty", schema.clone(), vec![])?;
    let drift = dataset_drift(&empty, &empty, &DriftOptions::default())?;
    assert_eq!(
        drift.columns[0].not_computed.as_deref(),
        Some("the reference sample is empty")
    );
    assert_eq!((drift.share, drift.dataset_drift), (None, None));
    Ok(())
}

fn input_error<T>(result: Result<T, MonitorError>) -> Result<(String, String)> {
    match result {
        Err(MonitorError::Input {
            source_name,
            reason,
        }) => Ok((source_name, reason)),
        Err(other) => bail!("expected an input error, got {other}"),
        Ok(_) => bail!("expected an input error"),
    }
}

#[test]
fn bad_files_are_errors_naming_the_file() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("missing.parquet");
    let (source, reason) = input_error(open_source(&missing))?;
    assert_eq!(source, missing.display().to_string());
    assert!(reason.starts_with("cannot open: "), "{reason}");
    let garbage = dir.path().join("garbage.parquet");
    std::fs::write(&garbage, "this is not parquet")?;
    let (source, reason) = input_error(ParquetSource::open(&garbage))?;
    assert_eq!(source, garbage.display().to_string());
    assert!(
        reason.starts_with("not a readable Parquet file: "),
        "{reason}"
    );
    let text = dir.path().join("data.txt");
    std::fs::write(&text, "a,b\n1,2\n")?;
    let (source, reason) = input_error(open_source(&text))?;
    assert_eq!(source, text.display().to_string());
    assert_eq!(reason, "unknown file type: expected .parquet, .pq or .csv");
    let ragged = dir.path().join("ragged.csv");
    std::fs::write(&ragged, "a,b\n1,2\n3\n")?;
    let (source, reason) = input_error(open_source(&ragged))?;
    assert_eq!(source, ragged.display().to_string());
    assert!(reason.starts_with("not a readable CSV file: "), "{reason}");
    Ok(())
}

#[test]
fn batches_of_another_schema_are_refused() -> Result<()> {
    let (reference, current) = reference_and_current()?;
    let (source, reason) = input_error(BatchSource::new(
        "reference",
        reference.schema(),
        vec![current],
    ))?;
    assert_eq!(
        (source.as_str(), reason.as_str()),
        ("reference", "batch 0 does not have the source's schema")
    );
    Ok(())
}

#[test]
fn invalid_options_are_config_errors() -> Result<()> {
    let (reference, current) = reference_and_current()?;
    let reference = BatchSource::new("reference", reference.schema(), vec![reference])?;
    let current = BatchSource::new("current", current.schema(), vec![current])?;
    let cases: Vec<(DriftOptions, &str, &str)> = vec![
        (
            DriftOptions {
                drift_share: 0.0,
                ..DriftOptions::default()
            },
            "drift_share",
            "0: expected a share in (0, 1]",
        ),
        (
            DriftOptions {
                drift_share: 1.5,
                ..DriftOptions::default()
            },
            "drift_share",
            "1.5: expected a share in (0, 1]",
        ),
        (
            DriftOptions {
                drift_share: f64::NAN,
                ..DriftOptions::default()
            },
            "drift_share",
            "NaN: expected a share in (0, 1]",
        ),
        (
            DriftOptions {
                threshold: Some(-1.0),
                ..DriftOptions::default()
            },
            "threshold",
            "-1: expected a finite number >= 0",
        ),
        (
            DriftOptions {
                thresholds: HashMap::from([("num_same".to_owned(), f64::INFINITY)]),
                ..DriftOptions::default()
            },
            "thresholds.num_same",
            "inf: expected a finite number >= 0",
        ),
        (
            DriftOptions {
                methods: HashMap::from([("nope".to_owned(), Method::Psi)]),
                ..DriftOptions::default()
            },
            "methods.nope",
            "no such compared column",
        ),
        (
            DriftOptions {
                columns: Some(vec!["num_same".into()]),
                thresholds: HashMap::from([("cat_same".to_owned(), 0.2)]),
                ..DriftOptions::default()
            },
            "thresholds.cat_same",
            "no such compared column",
        ),
        (
            DriftOptions {
                columns: Some(vec![]),
                ..DriftOptions::default()
            },
            "columns",
            "the list is empty",
        ),
        (
            DriftOptions {
                columns: Some(vec!["nope".into()]),
                ..DriftOptions::default()
            },
            "columns",
            "column nope is not in the reference data (reference)",
        ),
        (
            DriftOptions {
                parallel_columns: Some(0),
                ..DriftOptions::default()
            },
            "parallel_columns",
            "must be at least 1",
        ),
    ];
    for (options, expected_field, expected_reason) in cases {
        match dataset_drift(&reference, &current, &options) {
            Err(MonitorError::Config { field, reason }) => {
                assert_eq!(
                    (field.as_str(), reason.as_str()),
                    (expected_field, expected_reason)
                );
            }
            other => bail!("{expected_field}: expected a config error, got {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn sources_report_rows_and_schema() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (reference, _) = reference_and_current()?;
    write_parquet(&dir.path().join("ref.parquet"), &reference)?;
    let source = ParquetSource::open(&dir.path().join("ref.parquet"))?;
    assert_eq!(source.rows(), 3000);
    assert_eq!(source.schema().fields().len(), 6);
    let mut rows = 0;
    source.read_column("int_same", &mut |array| {
        rows += array.len();
        Ok(())
    })?;
    assert_eq!(rows, 3000);
    let (name, reason) = input_error(source.read_column("nope", &mut |_| Ok(())))?;
    assert_eq!(
        (name, reason.as_str()),
        (source.name().to_owned(), "no column nope")
    );
    Ok(())
}
