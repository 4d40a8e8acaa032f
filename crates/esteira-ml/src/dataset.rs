//! Tables on Arrow: reading CSV and Parquet files into record batches, typed column access
//! with errors that name the column, and writing results back as CSV or Parquet.
//!
//! The format is chosen by the file extension: `.csv` (header row, schema inferred from the
//! first 10 000 rows) or `.parquet` / `.pq`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::{DataType, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit};

/// Errors reading, writing or accessing a table.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot open {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: unsupported file type (expected .csv, .parquet or .pq)")]
    UnsupportedFormat { path: PathBuf },
    #[error("{path}: {message}")]
    Malformed { path: PathBuf, message: String },
    #[error("{path}: the file has no rows")]
    Empty { path: PathBuf },
    #[error("unknown column '{column}' (columns: {available})")]
    UnknownColumn { column: String, available: String },
    #[error("column '{column}' has type {found}, expected {expected}")]
    WrongType {
        column: String,
        expected: &'static str,
        found: String,
    },
}

/// Result of dataset operations.
pub type Result<T> = std::result::Result<T, DatasetError>;

/// A table: one schema and its rows as a single record batch.
#[derive(Debug, Clone)]
pub struct Table {
    batch: RecordBatch,
}

/// Values of a time column: seconds since the Unix epoch (dates, timestamps and date-time
/// strings), or plain integers (a period index).
#[derive(Debug, Clone, PartialEq)]
pub enum TimeColumn {
    /// Seconds since 1970-01-01T00:00:00 (UTC, or naive local time taken as UTC).
    Seconds(Vec<Option<i64>>),
    /// Integer periods (1, 2, 3, ...).
    Index(Vec<Option<i64>>),
}

impl Table {
    /// A table over one record batch.
    pub fn new(batch: RecordBatch) -> Self {
        Self { batch }
    }

    /// Reads a CSV or Parquet file (by extension).
    ///
    /// # Errors
    /// [`DatasetError::Io`] when the file cannot be opened, [`DatasetError::UnsupportedFormat`]
    /// for another extension, [`DatasetError::Malformed`] when it does not parse and
    /// [`DatasetError::Empty`] when it has no rows.
    pub fn read(path: &Path) -> Result<Table> {
        let file = File::open(path).map_err(io_error(path))?;
        let malformed = malformed(path);
        let (schema, batches) = match Format::of(path)? {
            Format::Csv => read_csv(file).map_err(|e| malformed(&e))?,
            Format::Parquet => read_parquet(file).map_err(|e| malformed(&e))?,
        };
        let batch = concat_batches(&schema, &batches).map_err(|e| malformed(&e))?;
        if batch.num_rows() == 0 {
            return Err(DatasetError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(Table { batch })
    }

    /// Writes the table as CSV or Parquet (by extension), replacing the file.
    ///
    /// # Errors
    /// [`DatasetError::UnsupportedFormat`], [`DatasetError::Io`] or [`DatasetError::Malformed`]
    /// when the encoder fails.
    pub fn write(&self, path: &Path) -> Result<()> {
        let format = Format::of(path)?;
        let file = File::create(path).map_err(io_error(path))?;
        let malformed = malformed(path);
        match format {
            Format::Csv => {
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(file);
                writer.write(&self.batch).map_err(|e| malformed(&e))
            }
            Format::Parquet => {
                let mut writer =
                    parquet::arrow::ArrowWriter::try_new(file, self.batch.schema(), None)
                        .map_err(|e| malformed(&e))?;
                writer.write(&self.batch).map_err(|e| malformed(&e))?;
                writer.close().map(drop).map_err(|e| malformed(&e))
            }
        }
    }

    /// The record batch holding every row.
    pub fn batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// The schema.
    pub fn schema(&self) -> SchemaRef {
        self.batch.schema()
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// Column names in schema order.
    pub fn column_names(&self) -> Vec<String> {
        self.schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// The column called `name`.
    ///
    /// # Errors
    /// [`DatasetError::UnknownColumn`] listing the columns there are.
    pub fn column(&self, name: &str) -> Result<&ArrayRef> {
        self.batch
            .column_by_name(name)
            .ok_or_else(|| DatasetError::UnknownColumn {
                column: name.to_string(),
                available: self.column_names().join(", "),
            })
    }

    /// A numeric column (integers, floats, decimals) as `f64`, `None` for nulls.
    ///
    /// # Errors
    /// [`DatasetError::UnknownColumn`], or [`DatasetError::WrongType`] for other types.
    pub fn f64_column(&self, name: &str) -> Result<Vec<Option<f64>>> {
        let array = self.column(name)?;
        if !array.data_type().is_numeric() {
            return Err(wrong_type(name, "a number", array.data_type()));
        }
        let cast = cast(array, &DataType::Float64)
            .map_err(|_| wrong_type(name, "a number", array.data_type()))?;
        Ok(cast.as_primitive::<Float64Type>().iter().collect())
    }

    /// Any column as text (numbers and dates formatted), `None` for nulls.
    ///
    /// # Errors
    /// [`DatasetError::UnknownColumn`], or [`DatasetError::WrongType`] for nested types.
    pub fn string_column(&self, name: &str) -> Result<Vec<Option<String>>> {
        let array = self.column(name)?;
        let cast = cast(array, &DataType::Utf8)
            .map_err(|_| wrong_type(name, "text", array.data_type()))?;
        Ok(cast
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect())
    }

    /// A time column: dates, timestamps or date-time strings as seconds since the epoch, or
    /// integers as a period index.
    ///
    /// # Errors
    /// [`DatasetError::UnknownColumn`], or [`DatasetError::WrongType`] for other types and
    /// strings that are not dates.
    pub fn time_column(&self, name: &str) -> Result<TimeColumn> {
        let array = self.column(name)?;
        let data_type = array.data_type();
        if data_type.is_integer() {
            let ints = cast(array, &DataType::Int64)
                .map_err(|_| wrong_type(name, "a date, a timestamp or an integer", data_type))?;
            return Ok(TimeColumn::Index(
                ints.as_primitive::<Int64Type>().iter().collect(),
            ));
        }
        let castable = matches!(
            data_type,
            DataType::Date32
                | DataType::Date64
                | DataType::Timestamp(_, _)
                | DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
        );
        let expected = "a date, a timestamp or an integer";
        if !castable {
            return Err(wrong_type(name, expected, data_type));
        }
        let seconds = cast(array, &DataType::Timestamp(TimeUnit::Second, None))
            .map_err(|_| wrong_type(name, expected, data_type))?;
        if seconds.null_count() > array.null_count() {
            return Err(wrong_type(name, expected, data_type));
        }
        let values = seconds
            .as_primitive::<arrow::datatypes::TimestampSecondType>()
            .iter()
            .collect();
        Ok(TimeColumn::Seconds(values))
    }
}

/// Builds a table from named columns (all of one length).
///
/// # Errors
/// [`DatasetError::Malformed`] when lengths differ (the path is empty).
pub fn table_from_columns(columns: Vec<(String, ArrayRef)>) -> Result<Table> {
    let fields: Vec<arrow::datatypes::Field> = columns
        .iter()
        .map(|(name, array)| arrow::datatypes::Field::new(name, array.data_type().clone(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let arrays = columns.into_iter().map(|(_, a)| a).collect();
    RecordBatch::try_new(schema, arrays)
        .map(Table::new)
        .map_err(|e| DatasetError::Malformed {
            path: PathBuf::new(),
            message: e.to_string(),
        })
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> DatasetError + '_ {
    move |source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn malformed(path: &Path) -> impl Fn(&dyn std::fmt::Display) -> DatasetError + '_ {
    move |e| DatasetError::Malformed {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn wrong_type(column: &str, expected: &'static str, found: &DataType) -> DatasetError {
    DatasetError::WrongType {
        column: column.to_string(),
        expected,
        found: found.to_string(),
    }
}

enum Format {
    Csv,
    Parquet,
}

impl Format {
    fn of(path: &Path) -> Result<Format> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("parquet" | "pq") => Ok(Format::Parquet),
            _ => Err(DatasetError::UnsupportedFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

type Batches = (SchemaRef, Vec<RecordBatch>);

/// Reads the CSV or Parquet file at `path` in batches of at most `rows` rows and calls
/// `each` with every batch in order, holding one batch in memory at a time. Returns the
/// number of rows read.
///
/// # Errors
/// As [`Table::read`]; and whatever `each` returns, which stops the reading.
pub fn for_each_batch<E: From<DatasetError>>(
    path: &Path,
    rows: usize,
    mut each: impl FnMut(Table) -> std::result::Result<(), E>,
) -> std::result::Result<usize, E> {
    use std::io::Seek;
    let mut file = File::open(path).map_err(io_error(path))?;
    let malformed = malformed(path);
    let batches: Box<dyn Iterator<Item = std::result::Result<RecordBatch, String>>> =
        match Format::of(path)? {
            Format::Csv => {
                let format = arrow::csv::reader::Format::default().with_header(true);
                let (schema, _) = format
                    .infer_schema(&mut file, Some(10_000))
                    .map_err(|e| malformed(&e))?;
                file.rewind().map_err(io_error(path))?;
                let reader = arrow::csv::ReaderBuilder::new(Arc::new(schema))
                    .with_format(format)
                    .with_batch_size(rows.max(1))
                    .build(file)
                    .map_err(|e| malformed(&e))?;
                Box::new(reader.map(|b| b.map_err(|e| e.to_string())))
            }
            Format::Parquet => {
                let reader =
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                        .map_err(|e| malformed(&e))?
                        .with_batch_size(rows.max(1))
                        .build()
                        .map_err(|e| malformed(&e))?;
                Box::new(reader.map(|b| b.map_err(|e| e.to_string())))
            }
        };
    let mut total = 0;
    for batch in batches {
        let batch = batch.map_err(|e| malformed(&e))?;
        total += batch.num_rows();
        each(Table { batch })?;
    }
    if total == 0 {
        return Err(DatasetError::Empty {
            path: path.to_path_buf(),
        }
        .into());
    }
    Ok(total)
}

/// Writes tables one after the other into one CSV or Parquet file (by extension); the
/// first table fixes the schema.
pub struct TableWriter {
    path: std::path::PathBuf,
    sink: Sink,
}

enum Sink {
    Csv(arrow::csv::Writer<File>),
    Parquet(Option<parquet::arrow::ArrowWriter<File>>, Option<File>),
}

impl TableWriter {
    /// Creates (or replaces) the file at `path`.
    ///
    /// # Errors
    /// [`DatasetError::UnsupportedFormat`] or [`DatasetError::Io`].
    pub fn create(path: &Path) -> Result<TableWriter> {
        let format = Format::of(path)?;
        let file = File::create(path).map_err(io_error(path))?;
        let sink = match format {
            Format::Csv => Sink::Csv(
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(file),
            ),
            Format::Parquet => Sink::Parquet(None, Some(file)),
        };
        Ok(TableWriter {
            path: path.to_path_buf(),
            sink,
        })
    }

    /// Appends `table`.
    ///
    /// # Errors
    /// [`DatasetError::Malformed`] when the encoder fails (a schema unlike the first
    /// table's, for Parquet).
    pub fn write(&mut self, table: &Table) -> Result<()> {
        let malformed = malformed(&self.path);
        match &mut self.sink {
            Sink::Csv(w) => w.write(&table.batch).map_err(|e| malformed(&e)),
            Sink::Parquet(writer, file) => {
                if writer.is_none() {
                    let file = file
                        .take()
                        .ok_or_else(|| malformed(&"the file is closed"))?;
                    *writer = Some(
                        parquet::arrow::ArrowWriter::try_new(file, table.batch.schema(), None)
                            .map_err(|e| malformed(&e))?,
                    );
                }
                match writer {
                    Some(w) => w.write(&table.batch).map_err(|e| malformed(&e)),
                    None => Err(malformed(&"the file is closed")),
                }
            }
        }
    }

    /// Flushes and closes the file.
    ///
    /// # Errors
    /// [`DatasetError::Malformed`] when the encoder fails.
    pub fn finish(self) -> Result<()> {
        let malformed = malformed(&self.path);
        match self.sink {
            Sink::Csv(w) => {
                drop(w.into_inner());
                Ok(())
            }
            Sink::Parquet(Some(w), _) => w.close().map(drop).map_err(|e| malformed(&e)),
            Sink::Parquet(None, _) => Err(malformed(&"nothing was written")),
        }
    }
}

fn read_csv(mut file: File) -> std::result::Result<Batches, arrow::error::ArrowError> {
    use std::io::Seek;
    let format = arrow::csv::reader::Format::default().with_header(true);
    let (schema, _) = format.infer_schema(&mut file, Some(10_000))?;
    file.rewind()?;
    let schema = Arc::new(schema);
    let reader = arrow::csv::ReaderBuilder::new(schema.clone())
        .with_format(format)
        .with_batch_size(65_536)
        .build(file)?;
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}

fn read_parquet(file: File) -> std::result::Result<Batches, parquet::errors::ParquetError> {
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?;
    let schema = builder.schema().clone();
    let reader = builder.with_batch_size(65_536).build()?;
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}
