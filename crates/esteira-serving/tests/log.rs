//! The prediction log: no loss under concurrent logging, drops instead of waiting when the
//! writer is stalled, deterministic input sampling, retries, and files pyarrow can read.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use async_trait::async_trait;
use esteira_artifacts::{ArtifactPath, ArtifactStore};
use esteira_serving::log::{
    LogConfig, LogError, LogStats, PredictionLog, PredictionRecord, input_sampled, read_predictions,
};
use esteira_store::SqlStore;
use esteira_store::predictions::{GroundTruth, PredictionFile, PredictionStore};
use tokio::sync::{mpsc, watch};

/// 2023-11-14T22:13:20Z; midnight UTC follows 6400 s later, at 1_700_006_400_000.
const T0: i64 = 1_700_000_000_000;
const MIDNIGHT: i64 = 1_700_006_400_000;

/// A fresh SQLite metadata store and local artifact store in `dir`.
async fn stores(dir: &Path) -> Result<(SqlStore, ArtifactStore)> {
    let store = SqlStore::open(&format!("sqlite://{}", dir.join("meta.db").display())).await?;
    let artifacts = ArtifactStore::from_url(dir.join("artifacts").to_str().context("path")?)?;
    Ok((store, artifacts))
}

fn config(queue_capacity: usize, batch_rows: usize, input_sample_rate: f64) -> LogConfig {
    LogConfig {
        queue_capacity,
        batch_rows,
        flush_interval: Duration::from_secs(3600),
        input_sample_rate,
        root: ArtifactPath::parse("prediction-log").expect("valid path"),
    }
}

fn record(endpoint: &str, i: i64) -> PredictionRecord {
    PredictionRecord {
        request_id: format!("req-{i}"),
        time_ms: T0 + i * 1000,
        endpoint: endpoint.into(),
        route: if i % 2 == 0 { "champion" } else { "challenger" }.into(),
        model: "churn".into(),
        version: (1 + i % 3).to_string(),
        inputs: Some(format!(r#"[{{"x": {i}}}]"#)),
        outputs: format!("[{}]", i as f64 / 4.0),
        latency_us: 100 + i,
        status: if i % 10 == 0 { 500 } else { 200 },
        series: (i % 5 == 0).then(|| format!("s{}", i % 7)),
    }
}

fn ids(records: &[PredictionRecord]) -> BTreeSet<String> {
    records.iter().map(|r| r.request_id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_records_from_eight_tasks_are_all_read_back() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, artifacts) = stores(dir.path()).await?;
    let index: Arc<dyn PredictionStore> = Arc::new(store.clone());
    let log = PredictionLog::start(config(10_000, 64, 1.0), artifacts.clone(), index.clone())?;
    // Eight tasks of 1250 records each; even records go to endpoint "a", odd ones to "b".
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let log = log.clone();
            tokio::spawn(async move {
                for i in (task * 1250)..((task + 1) * 1250) {
                    let endpoint = if i % 2 == 0 { "a" } else { "b" };
                    assert!(log.log(record(endpoint, i)), "record {i} was not queued");
                    if i % 100 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    log.flush().await;
    // 5000 rows per endpoint in batches of 64: 78 full files and one of 8 each.
    assert_eq!(
        log.stats(),
        LogStats {
            logged: 10_000,
            dropped: 0,
            written_rows: 10_000,
            written_files: 2 * 79,
            write_errors: 0,
            lost_rows: 0,
        }
    );
    for (endpoint, parity) in [("a", 0), ("b", 1)] {
        let expected: Vec<PredictionRecord> = (0..10_000)
            .filter(|i| i % 2 == parity)
            .map(|i| record(endpoint, i))
            .collect();
        let read = read_predictions(&artifacts, &*index, endpoint, T0, T0 + 10_000_000).await?;
        // Read back sorted by time, which is the order of `expected`.
        assert_eq!(read.len(), 5000);
        assert!(read == expected, "endpoint {endpoint}: records differ");
        let files = index
            .list_prediction_files(endpoint, T0, T0 + 10_000_000)
            .await?;
        assert_eq!(files.len(), 79);
        assert_eq!(files.iter().map(|f| f.rows).sum::<i64>(), 5000);
        let mut days = BTreeSet::new();
        for f in &files {
            let day = if f.first_time < MIDNIGHT {
                "2023-11-14"
            } else {
                "2023-11-15"
            };
            days.insert(day);
            let prefix = format!("prediction-log/{endpoint}/{day}/{}-", f.first_time);
            ensure!(
                f.path.starts_with(&prefix) && f.path.ends_with(".parquet"),
                "{} does not start with {prefix}",
                f.path
            );
            ensure!(
                artifacts.exists(&ArtifactPath::parse(&f.path)?).await?,
                "{} is indexed but missing",
                f.path
            );
        }
        assert_eq!(days.len(), 2, "the records span midnight UTC");
    }
    // A window keeps only its records: [T0 + 100 s, T0 + 200 s) of "a" is 100, 102, ... 198.
    let window = read_predictions(&artifacts, &*index, "a", T0 + 100_000, T0 + 200_000).await?;
    let expected: Vec<PredictionRecord> = (100..200).step_by(2).map(|i| record("a", i)).collect();
    assert_eq!(window, expected);
    log.shutdown().await;
    store.close().await;
    Ok(())
}

/// A store whose `add_prediction_file` reports that it was entered, then waits until the
/// gate opens.
struct GatedStore {
    inner: SqlStore,
    entered: mpsc::UnboundedSender<()>,
    gate: watch::Receiver<bool>,
}

#[async_trait]
impl PredictionStore for GatedStore {
    async fn add_prediction_file(&self, file: &PredictionFile) -> esteira_store::Result<()> {
        let _ = self.entered.send(());
        let mut gate = self.gate.clone();
        let _ = gate.wait_for(|open| *open).await;
        self.inner.add_prediction_file(file).await
    }
    async fn list_prediction_files(
        &self,
        endpoint: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> esteira_store::Result<Vec<PredictionFile>> {
        self.inner
            .list_prediction_files(endpoint, from_ms, to_ms)
            .await
    }
    async fn add_ground_truth(&self, records: &[GroundTruth]) -> esteira_store::Result<()> {
        self.inner.add_ground_truth(records).await
    }
    async fn list_ground_truth(
        &self,
        endpoint: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> esteira_store::Result<Vec<GroundTruth>> {
        self.inner.list_ground_truth(endpoint, from_ms, to_ms).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_writer_makes_log_drop_instead_of_wait() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, artifacts) = stores(dir.path()).await?;
    let (entered_tx, mut entered) = mpsc::unbounded_channel();
    let (open, gate) = watch::channel(false);
    let index: Arc<dyn PredictionStore> = Arc::new(GatedStore {
        inner: store.clone(),
        entered: entered_tx,
        gate,
    });
    let log = PredictionLog::start(config(4, 1, 1.0), artifacts.clone(), index.clone())?;
    // Record 0 is a batch of one: the writer takes it and stalls in the index.
    assert!(log.log(record("e", 0)));
    tokio::time::timeout(Duration::from_secs(10), entered.recv())
        .await?
        .context("the writer never reached the index")?;
    // Now the queue holds 4 records and refuses the rest, without waiting: the gate stays
    // shut until every call has returned, so a call that waited would never return; the
    // time bound (generous for a loaded debug build) catches a call that waits a while.
    let started = Instant::now();
    let queued: Vec<bool> = (1..=100).map(|i| log.log(record("e", i))).collect();
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(200),
        "100 calls took {elapsed:?}"
    );
    let accepted: Vec<i64> = (1..=100).filter(|i| queued[*i as usize - 1]).collect();
    assert_eq!(accepted, [1, 2, 3, 4]);
    let stats = log.stats();
    assert_eq!((stats.logged, stats.dropped), (5, 96));
    assert_eq!(stats.logged + stats.dropped, 101);
    // Opened, the writer writes exactly the queued records.
    open.send(true)?;
    log.flush().await;
    let read = read_predictions(&artifacts, &*index, "e", T0, T0 + 1_000_000).await?;
    assert_eq!(
        ids(&read),
        ids(&[0, 1, 2, 3, 4].map(|i| record("e", i))),
        "written records"
    );
    let stats = log.stats();
    assert_eq!((stats.written_rows, stats.written_files), (5, 5));
    log.shutdown().await;
    store.close().await;
    Ok(())
}

#[test]
fn input_sampling_follows_the_hash_of_the_request_id() {
    // Reference: the same FNV-1a + MurmurHash3 finaliser in Python (plain integer
    // arithmetic modulo 2^64), fraction of the top 53 bits; at 0.5 it picks req-0, req-1,
    // req-3, req-8, req-9, req-10, req-11, req-12, req-15, req-16, req-19 of req-0..req-19,
    // and 500 of req-0..req-999 (256 at 0.25).
    let picked: Vec<i64> = (0..20)
        .filter(|i| input_sampled(&format!("req-{i}"), 0.5))
        .collect();
    assert_eq!(picked, [0, 1, 3, 8, 9, 10, 11, 12, 15, 16, 19]);
    let count = |rate| {
        (0..1000)
            .filter(|i| input_sampled(&format!("req-{i}"), rate))
            .count()
    };
    assert_eq!(count(0.5), 500);
    assert_eq!(count(0.25), 256);
    assert_eq!(count(0.0), 0);
    assert_eq!(count(1.0), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_stores_the_inputs_of_the_picked_requests_only() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, artifacts) = stores(dir.path()).await?;
    let index: Arc<dyn PredictionStore> = Arc::new(store.clone());
    let log = PredictionLog::start(config(2000, 100, 0.5), artifacts.clone(), index.clone())?;
    for i in 0..1000 {
        assert_eq!(
            log.samples_inputs(&format!("req-{i}")),
            input_sampled(&format!("req-{i}"), 0.5)
        );
        assert!(log.log(record("e", i)));
    }
    log.flush().await;
    let read = read_predictions(&artifacts, &*index, "e", T0, T0 + 10_000_000).await?;
    assert_eq!(read.len(), 1000);
    let with_inputs: Vec<i64> = (0..1000)
        .filter(|i| read[*i as usize].inputs.is_some())
        .collect();
    // 500 of req-0..req-999 (the Python count above), and exactly the picked ones, with
    // their inputs intact; outputs are kept for all.
    assert_eq!(with_inputs.len(), 500);
    for (i, r) in read.iter().enumerate() {
        let expected = record("e", i as i64);
        let picked = input_sampled(&r.request_id, 0.5);
        assert_eq!(r.inputs, picked.then(|| expected.inputs.clone()).flatten());
        assert_eq!(r.outputs, expected.outputs);
    }
    log.shutdown().await;
    store.close().await;
    Ok(())
}

/// A store whose `add_prediction_file` fails its first `failures` calls.
struct FailingStore {
    inner: SqlStore,
    failures: usize,
    calls: AtomicUsize,
}

#[async_trait]
impl PredictionStore for FailingStore {
    async fn add_prediction_file(&self, file: &PredictionFile) -> esteira_store::Result<()> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
            return Err(esteira_store::Error::Domain(esteira_core::Error::internal(
                "injected failure",
            )));
        }
        self.inner.add_prediction_file(file).await
    }
    async fn list_prediction_files(
        &self,
        endpoint: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> esteira_store::Result<Vec<PredictionFile>> {
        self.inner
            .list_prediction_files(endpoint, from_ms, to_ms)
            .await
    }
    async fn add_ground_truth(&self, records: &[GroundTruth]) -> esteira_store::Result<()> {
        self.inner.add_ground_truth(records).await
    }
    async fn list_ground_truth(
        &self,
        endpoint: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> esteira_store::Result<Vec<GroundTruth>> {
        self.inner.list_ground_truth(endpoint, from_ms, to_ms).await
    }
}

async fn log_with_failures(failures: usize) -> Result<(LogStats, Vec<PredictionRecord>)> {
    let dir = tempfile::tempdir()?;
    let (store, artifacts) = stores(dir.path()).await?;
    let index: Arc<dyn PredictionStore> = Arc::new(FailingStore {
        inner: store.clone(),
        failures,
        calls: AtomicUsize::new(0),
    });
    let log = PredictionLog::start(config(100, 10, 1.0), artifacts.clone(), index.clone())?;
    // Two batches of 10: the failures hit the first.
    for i in 0..20 {
        assert!(log.log(record("e", i)));
    }
    log.flush().await;
    let stats = log.stats();
    let read = read_predictions(&artifacts, &*index, "e", T0, T0 + 1_000_000).await?;
    log.shutdown().await;
    store.close().await;
    Ok((stats, read))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_is_retried_once() -> Result<()> {
    let (stats, read) = log_with_failures(1).await?;
    assert_eq!(
        (
            stats.written_files,
            stats.written_rows,
            stats.write_errors,
            stats.lost_rows
        ),
        (2, 20, 1, 0)
    );
    assert_eq!(read, (0..20).map(|i| record("e", i)).collect::<Vec<_>>());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_failing_twice_is_lost_and_counted_and_the_log_goes_on() -> Result<()> {
    let (stats, read) = log_with_failures(2).await?;
    assert_eq!(
        (
            stats.written_files,
            stats.written_rows,
            stats.write_errors,
            stats.lost_rows
        ),
        (1, 10, 2, 10)
    );
    assert_eq!(read, (10..20).map(|i| record("e", i)).collect::<Vec<_>>());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artifact_store_that_cannot_write_loses_the_batch_without_indexing_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, artifacts) = stores(dir.path()).await?;
    // The store's directory becomes a plain file: every write fails (even as root).
    let root = dir.path().join("artifacts");
    std::fs::remove_dir_all(&root)?;
    std::fs::write(&root, b"in the way")?;
    let index: Arc<dyn PredictionStore> = Arc::new(store.clone());
    let log = PredictionLog::start(config(100, 5, 1.0), artifacts, index.clone())?;
    for i in 0..5 {
        assert!(log.log(record("e", i)));
    }
    log.flush().await;
    let stats = log.stats();
    assert_eq!(
        (stats.written_files, stats.write_errors, stats.lost_rows),
        (0, 2, 5)
    );
    assert!(
        index
            .list_prediction_files("e", T0, T0 + 1_000_000)
            .await?
            .is_empty()
    );
    log.shutdown().await;
    store.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_name_that_is_not_one_path_segment_loses_its_batch() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, artifacts) = stores(dir.path()).await?;
    let index: Arc<dyn PredictionStore> = Arc::new(store.clone());
    let log = PredictionLog::start(config(100, 1, 1.0), artifacts, index)?;
    assert!(log.log(record("a/b", 0)));
    assert!(log.log(record("..", 1)));
    assert!(log.log(record("ok", 2)));
    log.flush().await;
    let stats = log.stats();
    assert_eq!(
        (stats.written_files, stats.write_errors, stats.lost_rows),
        (1, 2, 2)
    );
    log.shutdown().await;
    store.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flush_interval_writes_without_a_full_batch() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, artifacts) = stores(dir.path()).await?;
    let index: Arc<dyn PredictionStore> = Arc::new(store.clone());
    let log = PredictionLog::start(
        LogConfig {
            flush_interval: Duration::from_millis(100),
            ..config(100, 1000, 1.0)
        },
        artifacts.clone(),
        index.clone(),
    )?;
    for i in 0..3 {
        assert!(log.log(record("e", i)));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while log.stats().written_rows < 3 {
        ensure!(Instant::now() < deadline, "not written: {:?}", log.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let read = read_predictions(&artifacts, &*index, "e", T0, T0 + 1_000_000).await?;
    assert_eq!(read.len(), 3);
    log.shutdown().await;
    store.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_writes_what_is_queued_and_later_records_are_dropped() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, artifacts) = stores(dir.path()).await?;
    let index: Arc<dyn PredictionStore> = Arc::new(store.clone());
    let log = PredictionLog::start(config(100, 1000, 1.0), artifacts.clone(), index.clone())?;
    let other = log.clone();
    for i in 0..10 {
        assert!(log.log(record("e", i)));
    }
    log.shutdown().await;
    assert!(!other.log(record("e", 10)));
    other.flush().await;
    let stats = other.stats();
    assert_eq!(
        (
            stats.logged,
            stats.dropped,
            stats.written_rows,
            stats.written_files
        ),
        (10, 1, 10, 1)
    );
    let read = read_predictions(&artifacts, &*index, "e", T0, T0 + 1_000_000).await?;
    assert_eq!(read, (0..10).map(|i| record("e", i)).collect::<Vec<_>>());
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn bad_settings_are_refused_by_name() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, artifacts) = stores(dir.path()).await?;
    let index: Arc<dyn PredictionStore> = Arc::new(store.clone());
    let cases = [
        (config(0, 1, 1.0), "queue_capacity"),
        (config(1, 0, 1.0), "batch_rows"),
        (
            LogConfig {
                flush_interval: Duration::ZERO,
                ..config(1, 1, 1.0)
            },
            "flush_interval",
        ),
        (config(1, 1, 1.5), "input_sample_rate"),
        (config(1, 1, -0.1), "input_sample_rate"),
        (config(1, 1, f64::NAN), "input_sample_rate"),
    ];
    for (bad, expected) in cases {
        match PredictionLog::start(bad, artifacts.clone(), index.clone()) {
            Err(LogError::Config { field, .. }) => assert_eq!(field, expected),
            other => panic!("expected a Config error for {expected}, got {other:?}"),
        }
    }
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn reading_a_missing_or_foreign_file_names_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, artifacts) = stores(dir.path()).await?;
    let index = |path: &str| PredictionFile {
        endpoint: "e".into(),
        path: path.into(),
        rows: 1,
        first_time: T0,
        last_time: T0,
    };
    store
        .add_prediction_file(&index("prediction-log/e/gone.parquet"))
        .await?;
    match read_predictions(&artifacts, &store, "e", T0, T0 + 1).await {
        Err(LogError::File { path, .. }) => assert_eq!(path, "prediction-log/e/gone.parquet"),
        other => panic!("expected a File error, got {other:?}"),
    }
    let dir2 = tempfile::tempdir()?;
    let (store2, artifacts2) = stores(dir2.path()).await?;
    let text = ArtifactPath::parse("prediction-log/e/text.parquet")?;
    artifacts2
        .put_bytes(&text, bytes::Bytes::from_static(b"not parquet"))
        .await?;
    store2.add_prediction_file(&index(text.as_str())).await?;
    match read_predictions(&artifacts2, &store2, "e", T0, T0 + 1).await {
        Err(LogError::File { path, .. }) => assert_eq!(path, text.as_str()),
        other => panic!("expected a File error, got {other:?}"),
    }
    store.close().await;
    store2.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyarrow_reads_the_files() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, artifacts) = stores(dir.path()).await?;
    let index: Arc<dyn PredictionStore> = Arc::new(store.clone());
    let log = PredictionLog::start(config(100, 1000, 1.0), artifacts, index.clone())?;
    for i in [0, 3, 5] {
        assert!(log.log(record("e", i)));
    }
    log.flush().await;
    let files = index.list_prediction_files("e", T0, T0 + 1_000_000).await?;
    assert_eq!(files.len(), 1);
    let local = dir.path().join("artifacts").join(&files[0].path);
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    let script = r#"
import json, sys
import pyarrow.parquet as pq
f = pq.ParquetFile(sys.argv[1])
t = f.read()
print(json.dumps({
    "types": {field.name: str(field.type) for field in t.schema},
    "codec": f.metadata.row_group(0).column(0).compression,
    "rows": t.to_pylist(),
}))
"#;
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&local)
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    ensure!(
        out.status.success(),
        "pyarrow failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(
        seen["types"],
        serde_json::json!({
            "request_id": "string", "time_ms": "int64", "endpoint": "string", "route": "string",
            "model": "string", "version": "string", "inputs": "string", "outputs": "string",
            "latency_us": "int64", "status": "uint16", "series": "string",
        })
    );
    assert_eq!(seen["codec"], "ZSTD");
    // Hand-written from `record`: i = 5 is odd (challenger), version 1 + 5 % 3 = 3,
    // status 200, series s5 (5 % 5 == 0, 5 % 7 == 5), outputs 5 / 4 = 1.25.
    assert_eq!(
        seen["rows"][2],
        serde_json::json!({
            "request_id": "req-5", "time_ms": 1_700_000_005_000_i64, "endpoint": "e",
            "route": "challenger", "model": "churn", "version": "3",
            "inputs": "[{\"x\": 5}]", "outputs": "[1.25]", "latency_us": 105,
            "status": 200, "series": "s5",
        })
    );
    // i = 3: no series (null), i = 0: status 500.
    assert_eq!(seen["rows"][1]["series"], serde_json::Value::Null);
    assert_eq!(seen["rows"][0]["status"], 500);
    log.shutdown().await;
    store.close().await;
    Ok(())
}
