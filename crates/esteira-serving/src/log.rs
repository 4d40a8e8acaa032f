//! The prediction log (the "inference table"): every prediction an endpoint serves, kept
//! as Parquet files in the artifact store and indexed in the metadata store.
//!
//! [`PredictionLog::log`] hands a [`PredictionRecord`] to a bounded queue and returns at
//! once: it never waits and never fails the request. When the queue is full the record is
//! dropped and counted ([`LogStats::dropped`]). A writer task gathers the queued records per
//! endpoint into batches of [`LogConfig::batch_rows`] rows (or whatever has arrived when
//! [`LogConfig::flush_interval`] ticks), writes each batch as one zstd-compressed Parquet
//! file at `<root>/<endpoint>/<yyyy-mm-dd>/<first time_ms>-<uuid>.parquet` (the date, UTC,
//! of the batch's earliest prediction) and indexes it with
//! [`PredictionStore::add_prediction_file`]. A failed write is logged, counted and retried
//! once; a batch that fails twice is lost and counted ([`LogStats::lost_rows`]).
//!
//! Outputs are always logged; inputs only for the requests that [`input_sampled`] picks at
//! [`LogConfig::input_sample_rate`]. [`read_predictions`] reads a time window back.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray, UInt16Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use esteira_artifacts::{ArtifactPath, ArtifactStore};
use esteira_store::predictions::{PredictionFile, PredictionStore};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;

/// One served prediction (one request to one route).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredictionRecord {
    /// The request's id.
    pub request_id: String,
    /// When the request was served, milliseconds since the epoch.
    pub time_ms: i64,
    /// The endpoint's name.
    pub endpoint: String,
    /// The route that served it.
    pub route: String,
    /// The registered model (or model URI) of the route.
    pub model: String,
    /// The model version that answered.
    pub version: String,
    /// The request's rows as JSON; `None` when the request was not sampled for inputs.
    pub inputs: Option<String>,
    /// The predictions as JSON (for forecasts: the series, times and values).
    pub outputs: String,
    /// How long the prediction took, microseconds.
    pub latency_us: i64,
    /// The HTTP status answered.
    pub status: u16,
    /// The forecast series the request was about, if any.
    pub series: Option<String>,
}

/// The prediction log's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    /// How many records may wait for the writer; more are dropped. At least 1.
    pub queue_capacity: usize,
    /// Rows per Parquet file (a file is written as soon as an endpoint has this many). At
    /// least 1.
    pub batch_rows: usize,
    /// How often the writer writes whatever it holds, whatever the batch size. Not zero.
    pub flush_interval: Duration,
    /// The share of requests whose inputs are logged, from 0 to 1 (outputs always are).
    pub input_sample_rate: f64,
    /// The artifact directory under which the files go (e.g. `prediction-log`).
    pub root: ArtifactPath,
}

impl LogConfig {
    /// The defaults of the servers: 100 000 records may wait, files of at most 10 000 rows
    /// written at least every second, every request's inputs kept, under `prediction-log/`.
    pub fn server_default() -> LogConfig {
        LogConfig {
            queue_capacity: 100_000,
            batch_rows: 10_000,
            flush_interval: Duration::from_secs(1),
            input_sample_rate: 1.0,
            root: ArtifactPath::parse("prediction-log").unwrap_or_default(),
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`LogError::Config`] naming the setting: `queue_capacity` or `batch_rows` of 0, a
    /// zero `flush_interval`, an `input_sample_rate` outside `0..=1` (or NaN).
    pub fn validate(&self) -> Result<(), LogError> {
        let bad = |field: &'static str, reason: &str| {
            Err(LogError::Config {
                field,
                reason: reason.to_string(),
            })
        };
        if self.queue_capacity == 0 {
            return bad("queue_capacity", "must be at least 1");
        }
        if self.batch_rows == 0 {
            return bad("batch_rows", "must be at least 1");
        }
        if self.flush_interval.is_zero() {
            return bad("flush_interval", "must be longer than zero");
        }
        if !(0.0..=1.0).contains(&self.input_sample_rate) {
            return bad(
                "input_sample_rate",
                &format!("{} is not between 0 and 1", self.input_sample_rate),
            );
        }
        Ok(())
    }
}

/// A prediction log failure.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A setting is out of range.
    #[error("prediction log setting '{field}': {reason}")]
    Config {
        /// The setting.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The metadata store failed.
    #[error("prediction log index: {0}")]
    Store(#[from] esteira_store::Error),
    /// A prediction file could not be named, written, read or decoded.
    #[error("prediction log file {path}: {reason}")]
    File {
        /// The file's artifact path (or the endpoint, when no path could be made).
        path: String,
        /// What failed.
        reason: String,
    },
}

impl LogError {
    fn file(path: impl Into<String>, reason: impl ToString) -> Self {
        LogError::File {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}

/// The prediction log's counters since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LogStats {
    /// Records accepted into the queue.
    pub logged: u64,
    /// Records refused because the queue was full (or the log shut down).
    pub dropped: u64,
    /// Records written and indexed.
    pub written_rows: u64,
    /// Files written and indexed.
    pub written_files: u64,
    /// Failed write attempts (a batch retried once and written counts one).
    pub write_errors: u64,
    /// Records lost because their batch failed twice.
    pub lost_rows: u64,
}

#[derive(Debug, Default)]
struct Counters {
    logged: AtomicU64,
    dropped: AtomicU64,
    written_rows: AtomicU64,
    written_files: AtomicU64,
    write_errors: AtomicU64,
    lost_rows: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn snapshot(&self) -> LogStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LogStats {
            logged: get(&self.logged),
            dropped: get(&self.dropped),
            written_rows: get(&self.written_rows),
            written_files: get(&self.written_files),
            write_errors: get(&self.write_errors),
            lost_rows: get(&self.lost_rows),
        }
    }
}

enum Command {
    Record(Box<PredictionRecord>),
    Flush(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

/// A handle on the prediction log; clones share the same queue, writer and counters.
#[derive(Clone, Debug)]
pub struct PredictionLog {
    sender: mpsc::Sender<Command>,
    counters: Arc<Counters>,
    input_sample_rate: f64,
}

/// The pause before a failed batch is tried again.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

impl PredictionLog {
    /// Starts the writer task and returns the handle that feeds it.
    ///
    /// # Errors
    /// [`LogError::Config`] for settings out of range (see [`LogConfig::validate`]).
    ///
    /// # Panics
    /// When called outside a Tokio runtime.
    pub fn start(
        config: LogConfig,
        artifacts: ArtifactStore,
        store: Arc<dyn PredictionStore>,
    ) -> Result<PredictionLog, LogError> {
        config.validate()?;
        let (sender, receiver) = mpsc::channel(config.queue_capacity);
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            root: config.root,
            batch_rows: config.batch_rows,
            artifacts,
            store,
            counters: counters.clone(),
            buffers: HashMap::new(),
        };
        tokio::spawn(writer.run(receiver, config.flush_interval));
        Ok(PredictionLog {
            sender,
            counters,
            input_sample_rate: config.input_sample_rate,
        })
    }

    /// Whether the inputs of `request_id` will be kept (so that a caller can skip
    /// serialising inputs that would be dropped): [`input_sampled`] at the configured rate.
    pub fn samples_inputs(&self, request_id: &str) -> bool {
        input_sampled(request_id, self.input_sample_rate)
    }

    /// Queues `record` without waiting; its inputs are cleared unless
    /// [`PredictionLog::samples_inputs`] picks its request. Returns whether it was queued: a
    /// full queue (or a log that was shut down) drops it and counts it in
    /// [`LogStats::dropped`].
    pub fn log(&self, mut record: PredictionRecord) -> bool {
        if !self.samples_inputs(&record.request_id) {
            record.inputs = None;
        }
        let queued = self
            .sender
            .try_send(Command::Record(Box::new(record)))
            .is_ok();
        let counter = if queued {
            &self.counters.logged
        } else {
            &self.counters.dropped
        };
        Counters::add(counter, 1);
        queued
    }

    /// The counters so far.
    pub fn stats(&self) -> LogStats {
        self.counters.snapshot()
    }

    /// Waits until every record queued before this call is written (or counted lost).
    /// Returns at once when the log was shut down.
    pub async fn flush(&self) {
        let (done, finished) = oneshot::channel();
        if self.sender.send(Command::Flush(done)).await.is_ok() {
            let _ = finished.await;
        }
    }

    /// Writes everything queued and stops the writer; afterwards every handle's
    /// [`PredictionLog::log`] drops its records.
    pub async fn shutdown(self) {
        let (done, finished) = oneshot::channel();
        if self.sender.send(Command::Shutdown(done)).await.is_ok() {
            let _ = finished.await;
        }
    }
}

/// Whether the inputs of request `request_id` are kept at `rate` (0 to 1): the FNV-1a
/// 64-bit hash of the id's UTF-8 bytes, mixed by MurmurHash3's 64-bit finaliser (FNV-1a
/// alone barely moves its high bits when only the last byte differs), its top 53 bits
/// read as a fraction of 2^53, is below `rate`. The same id always gives the same answer;
/// rate 0 keeps none, rate 1 all.
pub fn input_sampled(request_id: &str, rate: f64) -> bool {
    let fnv = request_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let mut h = fnv ^ (fnv >> 33);
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    ((h >> 11) as f64 / (1_u64 << 53) as f64) < rate
}

/// The writer task's state: the records waiting per endpoint.
struct Writer {
    root: ArtifactPath,
    batch_rows: usize,
    artifacts: ArtifactStore,
    store: Arc<dyn PredictionStore>,
    counters: Arc<Counters>,
    buffers: HashMap<String, Vec<PredictionRecord>>,
}

/// A batch encoded and named, ready to store.
struct EncodedBatch {
    path: ArtifactPath,
    bytes: Bytes,
    index: PredictionFile,
}

impl Writer {
    async fn run(mut self, mut receiver: mpsc::Receiver<Command>, flush_interval: Duration) {
        let mut ticker = tokio::time::interval(flush_interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                command = receiver.recv() => match command {
                    Some(Command::Record(record)) => self.add(*record).await,
                    Some(Command::Flush(done)) => {
                        self.write_all().await;
                        let _ = done.send(());
                    }
                    Some(Command::Shutdown(done)) => {
                        self.drain(receiver, done).await;
                        return;
                    }
                    None => {
                        self.write_all().await;
                        return;
                    }
                },
                _ = ticker.tick() => self.write_all().await,
            }
        }
    }

    /// Closes the queue, writes what it still holds, then answers every waiting caller.
    async fn drain(&mut self, mut receiver: mpsc::Receiver<Command>, done: oneshot::Sender<()>) {
        receiver.close();
        let mut waiting = vec![done];
        while let Some(command) = receiver.recv().await {
            match command {
                Command::Record(record) => self.add(*record).await,
                Command::Flush(done) | Command::Shutdown(done) => waiting.push(done),
            }
        }
        self.write_all().await;
        for done in waiting {
            let _ = done.send(());
        }
    }

    async fn add(&mut self, record: PredictionRecord) {
        let buffer = self.buffers.entry(record.endpoint.clone()).or_default();
        buffer.push(record);
        if buffer.len() >= self.batch_rows {
            let endpoint = buffer[0].endpoint.clone();
            let batch = std::mem::take(buffer);
            self.write(&endpoint, batch).await;
        }
    }

    async fn write_all(&mut self) {
        let buffers: Vec<_> = self
            .buffers
            .iter_mut()
            .filter(|(_, records)| !records.is_empty())
            .map(|(endpoint, records)| (endpoint.clone(), std::mem::take(records)))
            .collect();
        for (endpoint, records) in buffers {
            self.write(&endpoint, records).await;
        }
    }

    /// Writes one batch, retrying once; counts the outcome.
    async fn write(&self, endpoint: &str, records: Vec<PredictionRecord>) {
        let rows = records.len() as u64;
        // Encoding is CPU work: off the runtime's worker threads.
        let (root, name) = (self.root.clone(), endpoint.to_string());
        let encoded = tokio::task::spawn_blocking(move || encode_batch(&root, &name, &records))
            .await
            .unwrap_or_else(|e| Err(LogError::file(endpoint, format!("encoding failed: {e}"))));
        let encoded = match encoded {
            Ok(encoded) => encoded,
            Err(e) => {
                tracing::error!(endpoint, rows, error = %e, "prediction log batch lost");
                Counters::add(&self.counters.write_errors, 1);
                Counters::add(&self.counters.lost_rows, rows);
                return;
            }
        };
        for attempt in 1..=2 {
            match self.store_batch(&encoded).await {
                Ok(()) => {
                    Counters::add(&self.counters.written_files, 1);
                    Counters::add(&self.counters.written_rows, rows);
                    return;
                }
                Err(e) if attempt == 1 => {
                    tracing::warn!(endpoint, rows, error = %e, "prediction log write failed; retrying");
                    Counters::add(&self.counters.write_errors, 1);
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(e) => {
                    tracing::error!(endpoint, rows, error = %e, "prediction log batch lost after a retry");
                    Counters::add(&self.counters.write_errors, 1);
                }
            }
        }
        Counters::add(&self.counters.lost_rows, rows);
    }

    async fn store_batch(&self, batch: &EncodedBatch) -> Result<(), LogError> {
        self.artifacts
            .put_bytes(&batch.path, batch.bytes.clone())
            .await
            .map_err(|e| LogError::file(batch.path.as_str(), e))?;
        self.store.add_prediction_file(&batch.index).await?;
        Ok(())
    }
}

/// Names and encodes a non-empty batch of `endpoint`'s records.
fn encode_batch(
    root: &ArtifactPath,
    endpoint: &str,
    records: &[PredictionRecord],
) -> Result<EncodedBatch, LogError> {
    let first_time = records.iter().map(|r| r.time_ms).min().unwrap_or_default();
    let last_time = records.iter().map(|r| r.time_ms).max().unwrap_or_default();
    let path = file_path(root, endpoint, first_time)?;
    let bytes = to_parquet(records).map_err(|e| LogError::file(path.as_str(), e))?;
    Ok(EncodedBatch {
        index: PredictionFile {
            endpoint: endpoint.to_string(),
            path: path.as_str().to_string(),
            rows: records.len() as i64,
            first_time,
            last_time,
        },
        path,
        bytes,
    })
}

/// `<root>/<endpoint>/<yyyy-mm-dd>/<first_time>-<uuid>.parquet`.
fn file_path(
    root: &ArtifactPath,
    endpoint: &str,
    first_time: i64,
) -> Result<ArtifactPath, LogError> {
    let segment = ArtifactPath::parse(endpoint).map_err(|e| LogError::file(endpoint, e))?;
    if segment.segments().count() != 1 {
        return Err(LogError::file(
            endpoint,
            "an endpoint name must be one path segment",
        ));
    }
    let day = chrono::DateTime::from_timestamp_millis(first_time)
        .ok_or_else(|| LogError::file(endpoint, format!("time {first_time} is out of range")))?
        .format("%Y-%m-%d");
    let name = format!("{day}/{first_time}-{}.parquet", uuid::Uuid::new_v4());
    let relative = ArtifactPath::parse(&name).map_err(|e| LogError::file(endpoint, e))?;
    Ok(root.join(&segment).join(&relative))
}

/// The Arrow schema of a prediction file (one column per [`PredictionRecord`] field).
pub fn prediction_schema() -> SchemaRef {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("request_id", false),
        Field::new("time_ms", DataType::Int64, false),
        text("endpoint", false),
        text("route", false),
        text("model", false),
        text("version", false),
        text("inputs", true),
        text("outputs", false),
        Field::new("latency_us", DataType::Int64, false),
        Field::new("status", DataType::UInt16, false),
        text("series", true),
    ]))
}

fn to_parquet(records: &[PredictionRecord]) -> Result<Bytes, String> {
    let text = |field: fn(&PredictionRecord) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(records.iter().map(field)))
    };
    let optional = |field: fn(&PredictionRecord) -> Option<&str>| -> ArrayRef {
        Arc::new(records.iter().map(field).collect::<StringArray>())
    };
    let columns = vec![
        text(|r| &r.request_id),
        Arc::new(Int64Array::from_iter_values(
            records.iter().map(|r| r.time_ms),
        )) as ArrayRef,
        text(|r| &r.endpoint),
        text(|r| &r.route),
        text(|r| &r.model),
        text(|r| &r.version),
        optional(|r| r.inputs.as_deref()),
        text(|r| &r.outputs),
        Arc::new(Int64Array::from_iter_values(
            records.iter().map(|r| r.latency_us),
        )),
        Arc::new(UInt16Array::from_iter_values(
            records.iter().map(|r| r.status),
        )),
        optional(|r| r.series.as_deref()),
    ];
    let schema = prediction_schema();
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut writer =
        ArrowWriter::try_new(Vec::new(), schema, Some(properties)).map_err(|e| e.to_string())?;
    writer.write(&batch).map_err(|e| e.to_string())?;
    Ok(Bytes::from(writer.into_inner().map_err(|e| e.to_string())?))
}

/// The predictions of `endpoint` made in `from_ms <= time_ms < to_ms`, by time: the
/// indexed files overlapping the window are read and their rows outside it left out.
///
/// # Errors
/// [`LogError::Store`] when the index cannot be read; [`LogError::File`] naming the file
/// when an indexed file is missing, is not Parquet or lacks a column of
/// [`prediction_schema`] (with its type, and without nulls where the schema has none).
pub async fn read_predictions(
    artifacts: &ArtifactStore,
    store: &dyn PredictionStore,
    endpoint: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<PredictionRecord>, LogError> {
    let mut records = Vec::new();
    for file in store
        .list_prediction_files(endpoint, from_ms, to_ms)
        .await?
    {
        let bytes = read_file(artifacts, &file.path).await?;
        let decoded = from_parquet(bytes).map_err(|e| LogError::file(&file.path, e))?;
        records.extend(
            decoded
                .into_iter()
                .filter(|r| (from_ms..to_ms).contains(&r.time_ms)),
        );
    }
    records.sort_by_key(|r| r.time_ms);
    Ok(records)
}

async fn read_file(artifacts: &ArtifactStore, path: &str) -> Result<Bytes, LogError> {
    let artifact = ArtifactPath::parse(path).map_err(|e| LogError::file(path, e))?;
    let download = artifacts
        .get(&artifact)
        .await
        .map_err(|e| LogError::file(path, e))?;
    download
        .into_bytes()
        .await
        .map_err(|e| LogError::file(path, e))
}

fn from_parquet(bytes: Bytes) -> Result<Vec<PredictionRecord>, String> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|builder| builder.build())
        .map_err(|e| e.to_string())?;
    let mut records = Vec::new();
    for batch in reader {
        records.extend(records_of(&batch.map_err(|e| e.to_string())?)?);
    }
    Ok(records)
}

fn records_of(batch: &RecordBatch) -> Result<Vec<PredictionRecord>, String> {
    let required = |name: &str| {
        column::<StringArray>(batch, name, &DataType::Utf8).and_then(|a| no_nulls(a, name))
    };
    let optional = |name: &str| column::<StringArray>(batch, name, &DataType::Utf8);
    let request_id = required("request_id")?;
    let time_ms = column::<Int64Array>(batch, "time_ms", &DataType::Int64)
        .and_then(|a| no_nulls(a, "time_ms"))?;
    let endpoint = required("endpoint")?;
    let route = required("route")?;
    let model = required("model")?;
    let version = required("version")?;
    let inputs = optional("inputs")?;
    let outputs = required("outputs")?;
    let latency_us = column::<Int64Array>(batch, "latency_us", &DataType::Int64)
        .and_then(|a| no_nulls(a, "latency_us"))?;
    let status = column::<UInt16Array>(batch, "status", &DataType::UInt16)
        .and_then(|a| no_nulls(a, "status"))?;
    let series = optional("series")?;
    let maybe = |a: &StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_string());
    Ok((0..batch.num_rows())
        .map(|i| PredictionRecord {
            request_id: request_id.value(i).to_string(),
            time_ms: time_ms.value(i),
            endpoint: endpoint.value(i).to_string(),
            route: route.value(i).to_string(),
            model: model.value(i).to_string(),
            version: version.value(i).to_string(),
            inputs: maybe(inputs, i),
            outputs: outputs.value(i).to_string(),
            latency_us: latency_us.value(i),
            status: status.value(i),
            series: maybe(series, i),
        })
        .collect())
}

fn column<'a, T: Array + 'static>(
    batch: &'a RecordBatch,
    name: &str,
    expected: &DataType,
) -> Result<&'a T, String> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| format!("no column '{name}'"))?;
    array.as_any().downcast_ref::<T>().ok_or_else(|| {
        format!(
            "column '{name}' is {}, expected {expected}",
            array.data_type()
        )
    })
}

fn no_nulls<'a, T: Array>(array: &'a T, name: &str) -> Result<&'a T, String> {
    if array.null_count() > 0 {
        return Err(format!("column '{name}' has {} nulls", array.null_count()));
    }
    Ok(array)
}
