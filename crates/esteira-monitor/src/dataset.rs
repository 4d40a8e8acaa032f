//! Column-by-column drift over two datasets (files or Arrow batches).
//!
//! A [`ColumnSource`] reads one column at a time (Parquet with a column projection, CSV with
//! a projection, or in-memory record batches), so [`dataset_drift`] holds about one column
//! of each side per worker thread; columns are processed in parallel by at most
//! [`DriftOptions::parallel_columns`] threads.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::drift::{Categories, ColumnDrift, ColumnKind, ColumnValues, Method, column_drift};
use crate::{MonitorError, Result};

/// Rows per batch when reading files.
const BATCH_ROWS: usize = 65_536;

/// A tabular source read one column at a time.
pub trait ColumnSource: Send + Sync {
    /// The source's name in messages (a file path or a label).
    fn name(&self) -> &str;
    /// The columns and their Arrow types.
    fn schema(&self) -> SchemaRef;
    /// Number of rows.
    fn rows(&self) -> u64;
    /// Hands every batch of one column, in order, to `sink`.
    ///
    /// Errors: [`MonitorError::Input`] naming the source if the column is unknown or the data
    /// cannot be read; any error of `sink`.
    fn read_column(
        &self,
        column: &str,
        sink: &mut dyn FnMut(&ArrayRef) -> Result<()>,
    ) -> Result<()>;
}

/// A Parquet file; every read decodes only the asked column (`ProjectionMask::roots`).
pub struct ParquetSource {
    path: PathBuf,
    name: String,
    metadata: ArrowReaderMetadata,
}

impl ParquetSource {
    /// Opens a Parquet file and reads its footer.
    ///
    /// Errors: [`MonitorError::Input`] naming the file if it cannot be opened or is not Parquet.
    pub fn open(path: &Path) -> Result<Self> {
        let file = open_file(path)?;
        let metadata = ArrowReaderMetadata::load(&file, ArrowReaderOptions::default())
            .map_err(|e| input_error(path, format!("not a readable Parquet file: {e}")))?;
        Ok(Self {
            path: path.to_owned(),
            name: path.display().to_string(),
            metadata,
        })
    }
}

impl ColumnSource for ParquetSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn schema(&self) -> SchemaRef {
        self.metadata.schema().clone()
    }

    fn rows(&self) -> u64 {
        self.metadata.metadata().file_metadata().num_rows().max(0) as u64
    }

    fn read_column(
        &self,
        column: &str,
        sink: &mut dyn FnMut(&ArrayRef) -> Result<()>,
    ) -> Result<()> {
        let index = column_index(&self.schema(), column, &self.name)?;
        let file = open_file(&self.path)?;
        let builder =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone());
        let mask = ProjectionMask::roots(builder.parquet_schema(), [index]);
        let reader = builder
            .with_projection(mask)
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| input_error(&self.path, format!("column {column}: {e}")))?;
        for batch in reader {
            let batch =
                batch.map_err(|e| input_error(&self.path, format!("column {column}: {e}")))?;
            sink(batch.column(0))?;
        }
        Ok(())
    }
}

/// A CSV file with a header row; the types are inferred from the whole file when opened,
/// and every read parses only the asked column.
pub struct CsvSource {
    path: PathBuf,
    name: String,
    schema: SchemaRef,
    rows: u64,
}

impl CsvSource {
    /// Opens a CSV file and infers its schema from every record.
    ///
    /// Errors: [`MonitorError::Input`] naming the file if it cannot be opened or parsed.
    pub fn open(path: &Path) -> Result<Self> {
        let file = open_file(path)?;
        let (schema, rows) = arrow::csv::reader::Format::default()
            .with_header(true)
            .infer_schema(file, None)
            .map_err(|e| input_error(path, format!("not a readable CSV file: {e}")))?;
        Ok(Self {
            path: path.to_owned(),
            name: path.display().to_string(),
            schema: Arc::new(schema),
            rows: rows as u64,
        })
    }
}

impl ColumnSource for CsvSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn rows(&self) -> u64 {
        self.rows
    }

    fn read_column(
        &self,
        column: &str,
        sink: &mut dyn FnMut(&ArrayRef) -> Result<()>,
    ) -> Result<()> {
        let index = column_index(&self.schema, column, &self.name)?;
        let reader = arrow::csv::ReaderBuilder::new(self.schema.clone())
            .with_header(true)
            .with_batch_size(BATCH_ROWS)
            .with_projection(vec![index])
            .build(open_file(&self.path)?)
            .map_err(|e| input_error(&self.path, format!("column {column}: {e}")))?;
        for batch in reader {
            let batch =
                batch.map_err(|e| input_error(&self.path, format!("column {column}: {e}")))?;
            sink(batch.column(0))?;
        }
        Ok(())
    }
}

/// Record batches in memory.
pub struct BatchSource {
    name: String,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

impl BatchSource {
    /// Batches of one schema, under a name used in messages.
    ///
    /// Errors: [`MonitorError::Input`] if a batch's schema differs from `schema`.
    pub fn new(name: &str, schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<Self> {
        if let Some(position) = batches
            .iter()
            .position(|b| b.schema().fields() != schema.fields())
        {
            return Err(MonitorError::Input {
                source_name: name.to_owned(),
                reason: format!("batch {position} does not have the source's schema"),
            });
        }
        Ok(Self {
            name: name.to_owned(),
            schema,
            batches,
        })
    }
}

impl ColumnSource for BatchSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn rows(&self) -> u64 {
        self.batches.iter().map(|b| b.num_rows() as u64).sum()
    }

    fn read_column(
        &self,
        column: &str,
        sink: &mut dyn FnMut(&ArrayRef) -> Result<()>,
    ) -> Result<()> {
        let index = column_index(&self.schema, column, &self.name)?;
        self.batches
            .iter()
            .try_for_each(|batch| sink(batch.column(index)))
    }
}

/// Opens a file as a [`ParquetSource`] (`.parquet`, `.pq`) or a [`CsvSource`] (`.csv`).
///
/// Errors: [`MonitorError::Input`] naming the file if its extension is neither, or as the
/// sources' `open`.
pub fn open_source(path: &Path) -> Result<Box<dyn ColumnSource>> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("parquet" | "pq") => Ok(Box::new(ParquetSource::open(path)?)),
        Some("csv") => Ok(Box::new(CsvSource::open(path)?)),
        _ => Err(input_error(
            path,
            "unknown file type: expected .parquet, .pq or .csv".into(),
        )),
    }
}

/// Settings of [`dataset_drift`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftOptions {
    /// Columns to compare, in this order; `None`: every column of the reference.
    pub columns: Option<Vec<String>>,
    /// Method for every column without its own; `None`: Evidently's default choice.
    pub method: Option<Method>,
    /// Method per column.
    pub methods: HashMap<String, Method>,
    /// Threshold for every column without its own; `None`: the method's default.
    pub threshold: Option<f64>,
    /// Threshold per column.
    pub thresholds: HashMap<String, f64>,
    /// The dataset drifts when the share of drifted columns is at least this (Evidently's
    /// `drift_share`, default 0.5).
    pub drift_share: f64,
    /// Columns processed at the same time (each holds one column of each side in memory);
    /// `None`: rayon's thread count.
    pub parallel_columns: Option<usize>,
}

impl Default for DriftOptions {
    fn default() -> Self {
        Self {
            columns: None,
            method: None,
            methods: HashMap::new(),
            threshold: None,
            thresholds: HashMap::new(),
            drift_share: 0.5,
            parallel_columns: None,
        }
    }
}

/// Drift of a dataset: every column's verdict and the dataset's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetDrift {
    /// Every compared column, in order.
    pub columns: Vec<ColumnDrift>,
    /// Columns with a verdict.
    pub computed_count: usize,
    /// Columns that drifted.
    pub drifted_count: usize,
    /// `drifted_count / computed_count`; none when no column has a verdict.
    pub share: Option<f64>,
    /// The `drift_share` used.
    pub drift_share: f64,
    /// `share >= drift_share`; none when no column has a verdict.
    pub dataset_drift: Option<bool>,
    /// Rows of the reference source.
    pub rows_reference: u64,
    /// Rows of the current source.
    pub rows_current: u64,
}

/// Compares every selected column of `current` with `reference` (see [`column_drift`]).
///
/// A column missing in the current data, of a changed kind (numeric vs categorical) or of an
/// unsupported Arrow type is reported as not computed with the reason; the others are still
/// computed. Numeric Arrow types (integers, floats, decimals) are compared as numbers (cast to
/// `f64`), strings, dictionaries and booleans as categories.
///
/// Errors: [`MonitorError::Config`] for invalid options (a `drift_share` outside (0, 1], a
/// negative or non-finite threshold, `parallel_columns` of 0, a method or threshold for a
/// column that is not compared, an empty column list, a column not in the reference);
/// [`MonitorError::Input`] naming the source when a column cannot be read.
pub fn dataset_drift(
    reference: &dyn ColumnSource,
    current: &dyn ColumnSource,
    options: &DriftOptions,
) -> Result<DatasetDrift> {
    let reference_schema = reference.schema();
    let columns = selected_columns(&reference_schema, reference.name(), options)?;
    check_options(&columns, options)?;
    let threads = options
        .parallel_columns
        .unwrap_or_else(rayon::current_num_threads);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| MonitorError::Config {
            field: "parallel_columns".into(),
            reason: format!("cannot start {threads} threads: {e}"),
        })?;
    let current_schema = current.schema();
    let results: Vec<Result<ColumnDrift>> = pool.install(|| {
        columns
            .par_iter()
            .map(|column| {
                compare_column(
                    column,
                    reference,
                    &reference_schema,
                    current,
                    &current_schema,
                    options,
                )
            })
            .collect()
    });
    let columns = results.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(summarise(
        columns,
        options.drift_share,
        reference.rows(),
        current.rows(),
    ))
}

fn selected_columns(schema: &Schema, source: &str, options: &DriftOptions) -> Result<Vec<String>> {
    let Some(columns) = &options.columns else {
        return Ok(schema.fields().iter().map(|f| f.name().clone()).collect());
    };
    if columns.is_empty() {
        return Err(config_error("columns", "the list is empty".into()));
    }
    if let Some(missing) = columns.iter().find(|c| schema.index_of(c).is_err()) {
        return Err(config_error(
            "columns",
            format!("column {missing} is not in the reference data ({source})"),
        ));
    }
    Ok(columns.clone())
}

fn check_options(columns: &[String], options: &DriftOptions) -> Result<()> {
    if !(options.drift_share > 0.0 && options.drift_share <= 1.0) {
        return Err(config_error(
            "drift_share",
            format!("{}: expected a share in (0, 1]", options.drift_share),
        ));
    }
    if options.parallel_columns == Some(0) {
        return Err(config_error(
            "parallel_columns",
            "must be at least 1".into(),
        ));
    }
    let thresholds = options
        .threshold
        .map(|t| ("threshold".to_owned(), t))
        .into_iter()
        .chain(
            options
                .thresholds
                .iter()
                .map(|(c, &t)| (format!("thresholds.{c}"), t)),
        );
    for (field, threshold) in thresholds {
        if !(threshold.is_finite() && threshold >= 0.0) {
            return Err(config_error(
                &field,
                format!("{threshold}: expected a finite number >= 0"),
            ));
        }
    }
    let named = options
        .methods
        .keys()
        .map(|c| ("methods", c))
        .chain(options.thresholds.keys().map(|c| ("thresholds", c)));
    for (field, column) in named {
        if !columns.contains(column) {
            return Err(config_error(
                &format!("{field}.{column}"),
                "no such compared column".into(),
            ));
        }
    }
    Ok(())
}

fn compare_column(
    column: &str,
    reference: &dyn ColumnSource,
    reference_schema: &Schema,
    current: &dyn ColumnSource,
    current_schema: &Schema,
    options: &DriftOptions,
) -> Result<ColumnDrift> {
    let reference_type = reference_schema
        .field_with_name(column)
        .map_err(|e| input_source_error(reference.name(), format!("column {column}: {e}")))?
        .data_type();
    let Some(kind) = column_kind(reference_type) else {
        return Ok(ColumnDrift::not_computed(
            column,
            None,
            format!("unsupported type {reference_type} in the reference data"),
        ));
    };
    let Ok(current_field) = current_schema.field_with_name(column) else {
        return Ok(ColumnDrift::not_computed(
            column,
            Some(kind),
            "missing in the current data",
        ));
    };
    let current_type = current_field.data_type();
    if column_kind(current_type) != Some(kind) {
        return Ok(ColumnDrift::not_computed(
            column,
            Some(kind),
            format!(
                "type changed: {reference_type} ({kind}) in the reference, {current_type} in the current data"
            ),
        ));
    }
    let reference_values = read_values(reference, column, kind)?;
    let current_values = read_values(current, column, kind)?;
    let method = options.methods.get(column).copied().or(options.method);
    let threshold = options
        .thresholds
        .get(column)
        .copied()
        .or(options.threshold);
    Ok(column_drift(
        column,
        reference_values,
        current_values,
        method,
        threshold,
    ))
}

/// The kind of values an Arrow type holds, `None` when unsupported.
pub fn column_kind(data_type: &DataType) -> Option<ColumnKind> {
    match data_type {
        t if t.is_integer() || t.is_floating() || t.is_decimal() => Some(ColumnKind::Numeric),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean => {
            Some(ColumnKind::Categorical)
        }
        DataType::Dictionary(_, value) => match value.as_ref() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                Some(ColumnKind::Categorical)
            }
            _ => None,
        },
        _ => None,
    }
}

/// Reads one column of a source into [`ColumnValues`]: numbers as `f64` (nulls as NaN,
/// integer when the type is an integer one and there is no null), labels as categories.
fn read_values(source: &dyn ColumnSource, column: &str, kind: ColumnKind) -> Result<ColumnValues> {
    let field_type = source
        .schema()
        .field_with_name(column)
        .map(|f| f.data_type().clone())
        .map_err(|e| input_source_error(source.name(), format!("column {column}: {e}")))?;
    match kind {
        ColumnKind::Numeric => {
            let mut values = Vec::with_capacity(source.rows() as usize);
            let mut nulls = 0usize;
            source.read_column(column, &mut |array| {
                nulls += array.null_count();
                append_numbers(array, &mut values)
                    .map_err(|e| input_source_error(source.name(), format!("column {column}: {e}")))
            })?;
            Ok(ColumnValues::Numeric {
                values,
                integer: field_type.is_integer() && nulls == 0,
            })
        }
        ColumnKind::Categorical => {
            let mut categories = Categories::new();
            source.read_column(column, &mut |array| {
                append_labels(array, &mut categories)
                    .map_err(|e| input_source_error(source.name(), format!("column {column}: {e}")))
            })?;
            Ok(ColumnValues::Categorical(categories))
        }
    }
}

fn append_numbers(array: &ArrayRef, values: &mut Vec<f64>) -> std::result::Result<(), String> {
    let floats = cast(array, &DataType::Float64).map_err(|e| e.to_string())?;
    let floats = floats.as_primitive::<Float64Type>();
    if floats.null_count() == 0 {
        values.extend_from_slice(floats.values());
    } else {
        values.extend(floats.iter().map(|v| v.unwrap_or(f64::NAN)));
    }
    Ok(())
}

fn append_labels(array: &ArrayRef, categories: &mut Categories) -> std::result::Result<(), String> {
    let labels = cast(array, &DataType::Utf8).map_err(|e| e.to_string())?;
    labels
        .as_string::<i32>()
        .iter()
        .for_each(|label| categories.push(label));
    Ok(())
}

fn summarise(
    columns: Vec<ColumnDrift>,
    drift_share: f64,
    rows_reference: u64,
    rows_current: u64,
) -> DatasetDrift {
    let computed_count = columns.iter().filter(|c| c.drifted.is_some()).count();
    let drifted_count = columns.iter().filter(|c| c.drifted == Some(true)).count();
    let share = (computed_count > 0).then(|| drifted_count as f64 / computed_count as f64);
    DatasetDrift {
        columns,
        computed_count,
        drifted_count,
        share,
        drift_share,
        dataset_drift: share.map(|s| s >= drift_share),
        rows_reference,
        rows_current,
    }
}

fn column_index(schema: &Schema, column: &str, source: &str) -> Result<usize> {
    schema
        .index_of(column)
        .map_err(|_| input_source_error(source, format!("no column {column}")))
}

fn open_file(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| input_error(path, format!("cannot open: {e}")))
}

fn input_error(path: &Path, reason: String) -> MonitorError {
    input_source_error(&path.display().to_string(), reason)
}

fn input_source_error(source: &str, reason: String) -> MonitorError {
    MonitorError::Input {
        source_name: source.to_owned(),
        reason,
    }
}

fn config_error(field: &str, reason: String) -> MonitorError {
    MonitorError::Config {
        field: field.to_owned(),
        reason,
    }
}
