//! The data of one monitor window: rows of files or of a query placed by their time
//! column, or an endpoint's prediction log with its ground truth.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{BooleanArray, RecordBatch};
use arrow::compute::{concat_batches, filter_record_batch};
use esteira_artifacts::ArtifactStore;
use esteira_ml::dataset::{Table, TimeColumn};
use esteira_pipeline::glob::{GlobOptions, glob_with};
use esteira_serving::log::{PredictionRecord, read_predictions};
use esteira_store::Store;
use esteira_store::predictions::GroundTruth;

use crate::error::{MonitorError, Result};
use crate::spec::MonitorSpec;

/// What a window holds.
#[derive(Debug, Default)]
pub struct WindowData {
    /// The monitored rows: for files and queries the rows whose time falls in the window;
    /// for an endpoint the inputs of the logged requests (those whose inputs were sampled).
    pub rows: Option<Table>,
    /// Endpoint only: the predictions made in the window and up to the monitor's
    /// `label_delay` before it (so that late ground truth still finds its prediction).
    pub predictions: Vec<PredictionRecord>,
    /// Endpoint only: the ground truth received in the window.
    pub truth: Vec<GroundTruth>,
    /// What could not be read, each with its reason (e.g. a request body that is not
    /// a table).
    pub skipped: Vec<String>,
}

/// Where the window's data is read from.
pub struct SourceContext<'a> {
    /// The metadata store (the prediction log's index and the ground truth).
    pub store: &'a dyn Store,
    /// The artifact store holding the prediction log's files.
    pub artifacts: &'a ArtifactStore,
}

/// Reads the data of the window `[start, end)` (milliseconds since the epoch).
///
/// # Errors
/// [`MonitorError::Input`] naming the file, the query or the column at fault: no file
/// matches, a file cannot be read, files whose columns differ, a time column that is not
/// a time, a query the database refuses; [`MonitorError::Log`] when the prediction log
/// cannot be read.
pub async fn load_window(
    spec: &MonitorSpec,
    ctx: &SourceContext<'_>,
    start: i64,
    end: i64,
) -> Result<WindowData> {
    if let Some(endpoint) = &spec.endpoint {
        return load_endpoint(endpoint, ctx, start, end, spec.label_delay_ms()?).await;
    }
    let time_column = spec.time_column.as_deref().unwrap_or_default();
    let table = if let Some(pattern) = &spec.files {
        let pattern = pattern.clone();
        tokio::task::spawn_blocking(move || read_files(&pattern))
            .await
            .map_err(|e| input("files", format!("reading stopped: {e}")))??
    } else {
        let (Some(sql), Some(url)) = (&spec.query, &spec.database) else {
            return Err(input("query", "a query monitor needs query and database"));
        };
        esteira_pipeline::builtin::query_postgres(url, sql)
            .await
            .map_err(|e| input("query", e.to_string()))?
    };
    let rows = rows_in_window(&table, time_column, start, end)?;
    Ok(WindowData {
        rows: Some(rows),
        ..WindowData::default()
    })
}

fn input(source_name: &str, reason: impl Into<String>) -> MonitorError {
    MonitorError::Input {
        source_name: source_name.to_string(),
        reason: reason.into(),
    }
}

/// The files matching `pattern` (an absolute path or glob).
///
/// # Errors
/// [`MonitorError::Input`] when nothing matches or the pattern cannot be walked.
pub fn matching_files(pattern: &str) -> Result<Vec<PathBuf>> {
    let options = GlobOptions {
        hidden: false,
        any_entry: false,
        missing_start_matches_nothing: true,
    };
    let files =
        glob_with(Path::new("/"), pattern, options).map_err(|e| input(pattern, e.to_string()))?;
    if files.is_empty() {
        return Err(input(pattern, "no file matches"));
    }
    Ok(files)
}

/// Reads every file matching `pattern` (Parquet or CSV) into one table.
///
/// # Errors
/// [`MonitorError::Input`] naming the file that cannot be read or whose columns differ
/// from the first file's.
pub fn read_files(pattern: &str) -> Result<Table> {
    let mut batches: Vec<RecordBatch> = Vec::new();
    let mut first: Option<PathBuf> = None;
    for path in matching_files(pattern)? {
        let table =
            Table::read(&path).map_err(|e| input(&path.display().to_string(), e.to_string()))?;
        let batch = table.batch().clone();
        if let (Some(head), Some(first_path)) = (batches.first(), &first)
            && head.schema() != batch.schema()
        {
            return Err(input(
                &path.display().to_string(),
                format!(
                    "its columns ({}) differ from those of {} ({})",
                    describe(&batch),
                    first_path.display(),
                    describe(head)
                ),
            ));
        }
        first.get_or_insert(path);
        batches.push(batch);
    }
    let schema = batches[0].schema();
    let all = concat_batches(&schema, &batches).map_err(|e| input(pattern, e.to_string()))?;
    Ok(Table::new(all))
}

fn describe(batch: &RecordBatch) -> String {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rows of `table` whose `time_column` is in `[start, end)` (milliseconds); dates,
/// timestamps and date-time strings are read as UTC, integers as seconds since the epoch.
///
/// # Errors
/// [`MonitorError::Input`] naming the column when it is missing or not a time.
pub fn rows_in_window(table: &Table, time_column: &str, start: i64, end: i64) -> Result<Table> {
    let times = table
        .time_column(time_column)
        .map_err(|e| input(time_column, e.to_string()))?;
    let seconds = match times {
        TimeColumn::Seconds(v) | TimeColumn::Index(v) => v,
    };
    let mask: BooleanArray = seconds
        .iter()
        .map(|s| Some(s.is_some_and(|s| (start..end).contains(&(s.saturating_mul(1000))))))
        .collect();
    let kept =
        filter_record_batch(table.batch(), &mask).map_err(|e| input(time_column, e.to_string()))?;
    Ok(Table::new(kept))
}

async fn load_endpoint(
    endpoint: &str,
    ctx: &SourceContext<'_>,
    start: i64,
    end: i64,
    label_delay: i64,
) -> Result<WindowData> {
    let predictions =
        read_predictions(ctx.artifacts, ctx.store, endpoint, start - label_delay, end).await?;
    let truth = ctx.store.list_ground_truth(endpoint, start, end).await?;
    let in_window: Vec<&PredictionRecord> = predictions
        .iter()
        .filter(|p| (start..end).contains(&p.time_ms))
        .collect();
    let (rows, skipped) = request_inputs(&in_window);
    Ok(WindowData {
        rows,
        predictions,
        truth,
        skipped,
    })
}

/// The logged request bodies of successful predictions as one table: each body is read
/// as MLflow's scoring protocol (JSON, else CSV); bodies that cannot be read or whose
/// columns differ from the first body's are skipped with their reason.
fn request_inputs(records: &[&PredictionRecord]) -> (Option<Table>, Vec<String>) {
    let mut batches: Vec<RecordBatch> = Vec::new();
    let mut skipped = Vec::new();
    for record in records.iter().filter(|r| r.status < 400) {
        let Some(body) = &record.inputs else { continue };
        let parsed = esteira_serving::protocol::parse_json(body.as_bytes(), None)
            .or_else(|_| esteira_serving::protocol::parse_csv(body.as_bytes(), None));
        match parsed {
            Ok(request) => {
                let batch = request.table.batch().clone();
                match batches.first() {
                    Some(head) if head.schema() != batch.schema() => skipped.push(format!(
                        "request {}: its columns ({}) differ from the window's ({})",
                        record.request_id,
                        describe(&batch),
                        describe(head)
                    )),
                    _ => batches.push(batch),
                }
            }
            Err(e) => skipped.push(format!("request {}: {e}", record.request_id)),
        }
    }
    let Some(head) = batches.first() else {
        return (None, skipped);
    };
    let schema: Arc<_> = head.schema();
    match concat_batches(&schema, &batches) {
        Ok(all) if all.num_rows() > 0 => (Some(Table::new(all)), skipped),
        Ok(_) => (None, skipped),
        Err(e) => {
            skipped.push(format!("the window's inputs: {e}"));
            (None, skipped)
        }
    }
}
