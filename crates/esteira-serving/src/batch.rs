//! Micro-batching: concurrent requests to one model slot gathered into one `predict` call.
//!
//! A [`Batcher`] is one Tokio task fed by a bounded mpsc channel. Requests send it a job (their
//! model, their rows, a oneshot for the answer) and await the answer; the task never scores
//! anything itself, so it is never the bottleneck. It gathers a batch from the first job until
//! the batch holds `max_rows` rows or `max_wait` has passed since that job arrived, then keeps
//! gathering while every scoring worker is busy (at most one batch per core is scored at
//! once, on the blocking pool), so batches grow with the load instead of queueing.
//!
//! A batch is scored by one model (the `Arc<ServedModel>` its requests took, so a hot swap
//! never mixes versions within a batch) on one schema: a job whose model, column names or
//! types differ from the batch's, or whose rows would overflow it, closes the batch and
//! starts the next one. The batch's tables are concatenated, scored in one call, and the
//! predictions sliced back per request in order. When that call fails (or does not answer
//! one row per input row), every request of the batch is scored alone, so a request the
//! model refuses gets its own error and its neighbours their predictions.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow::compute::concat_batches;
use serde::{Deserialize, Serialize};
use serde_json::Map;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::Table;
use crate::error::{Error, Result};
use crate::protocol::Request;
use crate::runtime::ServedModel;

/// How a model slot gathers concurrent requests into batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Most rows scored in one call; a request with more rows is scored alone.
    pub max_rows: usize,
    /// How long a batch waits for more requests after its first one arrived, in
    /// microseconds.
    pub max_wait_us: u64,
}

impl BatchConfig {
    /// The default largest batch: 64 rows.
    pub const DEFAULT_MAX_ROWS: usize = 64;
    /// The default wait for more requests: none. A batch then holds what queued while the
    /// scoring workers were busy, so batches grow with the load and an idle server adds no
    /// delay (a 2 ms wait quartered the throughput of `bench/serve.sh`'s model).
    pub const DEFAULT_MAX_WAIT: Duration = Duration::ZERO;
    /// The largest `max_rows` accepted.
    pub const LIMIT_ROWS: usize = 65_536;
    /// The longest `max_wait` accepted: 1 s.
    pub const LIMIT_WAIT: Duration = Duration::from_secs(1);

    /// A configuration of at most `max_rows` rows per batch and `max_wait` of waiting.
    ///
    /// # Errors
    /// [`Error::BadInput`] naming `max_rows` when it is 0 or above [`Self::LIMIT_ROWS`], or
    /// `max_wait` when it is above [`Self::LIMIT_WAIT`].
    pub fn new(max_rows: usize, max_wait: Duration) -> Result<BatchConfig> {
        let config = BatchConfig {
            max_rows,
            max_wait_us: u64::try_from(max_wait.as_micros()).unwrap_or(u64::MAX),
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks the bounds [`BatchConfig::new`] documents.
    ///
    /// # Errors
    /// As [`BatchConfig::new`].
    pub fn validate(&self) -> Result<()> {
        if self.max_rows == 0 || self.max_rows > Self::LIMIT_ROWS {
            return Err(Error::bad_input(
                "max_rows",
                format!(
                    "must be between 1 and {}, not {}",
                    Self::LIMIT_ROWS,
                    self.max_rows
                ),
            ));
        }
        if self.max_wait() > Self::LIMIT_WAIT {
            return Err(Error::bad_input(
                "max_wait",
                format!(
                    "must be at most {:?}, not {:?}",
                    Self::LIMIT_WAIT,
                    self.max_wait()
                ),
            ));
        }
        Ok(())
    }

    /// How long a batch waits for more requests.
    pub fn max_wait(&self) -> Duration {
        Duration::from_micros(self.max_wait_us)
    }
}

/// Upper bounds (rows) of the batch size histogram's buckets.
const ROW_BUCKETS: [u64; 12] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096, 65_536];

/// Jobs waiting for the batcher task beyond this many make senders wait.
const QUEUE_CAPACITY: usize = 4096;

/// Lock-free counters of the batches gathered.
#[derive(Default)]
struct Stats {
    /// Batches per bucket (not cumulative): index of the first bound at or above the size.
    buckets: [AtomicU64; ROW_BUCKETS.len()],
    batches: AtomicU64,
    rows: AtomicU64,
    rescored: AtomicU64,
}

impl Stats {
    fn record(&self, rows: usize) {
        let rows = rows as u64;
        let bucket = ROW_BUCKETS
            .iter()
            .position(|bound| rows <= *bound)
            .unwrap_or(ROW_BUCKETS.len() - 1);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.rows.fetch_add(rows, Ordering::Relaxed);
    }
}

/// What a batcher has gathered so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchCounts {
    /// Cumulative histogram of rows per batch: `(upper bound, batches of at most that many
    /// rows)`, the bounds increasing.
    pub buckets: Vec<(u64, u64)>,
    /// Batches scored (a request scored through the batcher on its own counts as a batch).
    pub batches: u64,
    /// Rows scored in them.
    pub rows: u64,
    /// Batches whose joint prediction failed, so that each request was scored alone.
    pub rescored: u64,
}

/// The micro-batcher of one model slot (see the module documentation).
pub struct Batcher {
    config: BatchConfig,
    jobs: mpsc::Sender<Job>,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("config", &self.config)
            .finish()
    }
}

/// One request waiting to be scored.
struct Job {
    model: Arc<ServedModel>,
    table: Table,
    arrived: Instant,
    answer: oneshot::Sender<Result<Table>>,
}

impl Batcher {
    /// Starts the batcher task of one model slot on the current Tokio runtime; it stops
    /// once the `Batcher` is dropped and the batches it gathered have been scored.
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub fn start(config: BatchConfig) -> Batcher {
        let (jobs, queue) = mpsc::channel(QUEUE_CAPACITY);
        let stats = Arc::new(Stats::default());
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        tokio::spawn(gather(config, queue, stats.clone(), workers));
        Batcher {
            config,
            jobs,
            stats,
        }
    }

    /// Its configuration.
    pub fn config(&self) -> BatchConfig {
        self.config
    }

    /// Whether `request` for `model` goes through the batcher: a row-wise model (not a
    /// forecast), no params, and between 1 and `max_rows` rows.
    pub fn takes(&self, model: &ServedModel, request: &Request) -> bool {
        let rows = request.table.num_rows();
        !model.is_forecast()
            && request.params.is_empty()
            && rows >= 1
            && rows <= self.config.max_rows
    }

    /// The predictions of `table` by `model`, scored within a batch: exactly the rows
    /// `model.predict(&table, &{})` answers alone. Dropping the future (a timeout) gives up
    /// the request's place without affecting the others of its batch.
    ///
    /// # Errors
    /// The error `model.predict` gives this table alone; [`Error::Predict`] when the
    /// batcher or the scoring thread has stopped.
    pub async fn predict(&self, model: Arc<ServedModel>, table: Table) -> Result<Table> {
        let (answer, answered) = oneshot::channel();
        let job = Job {
            model,
            table,
            arrived: Instant::now(),
            answer,
        };
        self.jobs
            .send(job)
            .await
            .map_err(|_| Error::Predict("the batcher has stopped".to_string()))?;
        answered
            .await
            .map_err(|_| Error::Predict("the batch scoring thread failed".to_string()))?
    }

    /// The batches gathered so far.
    pub fn counts(&self) -> BatchCounts {
        let mut cumulative = 0;
        let buckets = ROW_BUCKETS
            .iter()
            .zip(&self.stats.buckets)
            .map(|(bound, n)| {
                cumulative += n.load(Ordering::Relaxed);
                (*bound, cumulative)
            })
            .collect();
        BatchCounts {
            buckets,
            batches: self.stats.batches.load(Ordering::Relaxed),
            rows: self.stats.rows.load(Ordering::Relaxed),
            rescored: self.stats.rescored.load(Ordering::Relaxed),
        }
    }
}

/// The Prometheus text exposition of the batchers' counts, one series per
/// `(endpoint, route)`: the histogram `esteira_serving_batch_rows` and the counter
/// `esteira_serving_batch_rescored_total`. Empty when `series` is.
pub fn render_prometheus(series: &[(String, String, BatchCounts)]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if series.is_empty() {
        return out;
    }
    out.push_str("# HELP esteira_serving_batch_rows Rows per micro-batch scored.\n");
    out.push_str("# TYPE esteira_serving_batch_rows histogram\n");
    let labels_of = |endpoint: &str, route: &str| {
        format!(
            "endpoint=\"{}\",route=\"{}\"",
            escape_label(endpoint),
            escape_label(route)
        )
    };
    for (endpoint, route, counts) in series {
        let labels = labels_of(endpoint, route);
        for (bound, n) in &counts.buckets {
            let _ = writeln!(
                out,
                "esteira_serving_batch_rows_bucket{{{labels},le=\"{bound}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "esteira_serving_batch_rows_bucket{{{labels},le=\"+Inf\"}} {}",
            counts.batches
        );
        let _ = writeln!(
            out,
            "esteira_serving_batch_rows_sum{{{labels}}} {}",
            counts.rows
        );
        let _ = writeln!(
            out,
            "esteira_serving_batch_rows_count{{{labels}}} {}",
            counts.batches
        );
    }
    out.push_str(
        "# HELP esteira_serving_batch_rescored_total Micro-batches whose joint prediction failed, so each request was scored alone.\n",
    );
    out.push_str("# TYPE esteira_serving_batch_rescored_total counter\n");
    for (endpoint, route, counts) in series {
        let _ = writeln!(
            out,
            "esteira_serving_batch_rescored_total{{{}}} {}",
            labels_of(endpoint, route),
            counts.rescored
        );
    }
    out
}

/// A Prometheus label value with `\`, `"` and newlines escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A batch being gathered: jobs of one model and one schema, at most `max_rows` rows.
struct Gathered {
    jobs: Vec<Job>,
    rows: usize,
    max_rows: usize,
}

impl Gathered {
    fn new(first: Job, max_rows: usize) -> Gathered {
        Gathered {
            rows: first.table.num_rows(),
            jobs: vec![first],
            max_rows,
        }
    }

    fn full(&self) -> bool {
        self.rows >= self.max_rows
    }

    /// Adds `job`, or gives it back when its model or schema differs from the batch's or
    /// its rows do not fit.
    fn add(&mut self, job: Job) -> std::result::Result<(), Job> {
        let first = &self.jobs[0];
        let fits = self.rows + job.table.num_rows() <= self.max_rows;
        if fits
            && Arc::ptr_eq(&first.model, &job.model)
            && first.table.schema() == job.table.schema()
        {
            self.rows += job.table.num_rows();
            self.jobs.push(job);
            Ok(())
        } else {
            Err(job)
        }
    }
}

/// The batcher task: gathers batches from `queue` and scores them on the blocking pool, at
/// most `workers` at once.
async fn gather(
    config: BatchConfig,
    mut queue: mpsc::Receiver<Job>,
    stats: Arc<Stats>,
    workers: usize,
) {
    let workers = Arc::new(Semaphore::new(workers));
    let mut carried: Option<Job> = None;
    let mut open = true;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None if open => match queue.recv().await {
                Some(job) => job,
                None => return,
            },
            None => return,
        };
        let deadline = first.arrived + config.max_wait();
        let mut batch = Gathered::new(first, config.max_rows);
        while open && carried.is_none() && !batch.full() {
            match next_before(&mut queue, deadline).await {
                Arrival::Job(job) => carried = batch.add(job).err(),
                Arrival::Closed => open = false,
                Arrival::Late => break,
            }
        }
        let permit = loop {
            if !open || carried.is_some() || batch.full() {
                break workers.clone().acquire_owned().await;
            }
            tokio::select! {
                biased;
                permit = workers.clone().acquire_owned() => break permit,
                job = queue.recv() => match job {
                    Some(job) => carried = batch.add(job).err(),
                    None => open = false,
                },
            }
        };
        let Ok(permit) = permit else { return };
        let stats = stats.clone();
        tokio::task::spawn_blocking(move || {
            score(batch, &stats);
            drop(permit);
        });
    }
}

/// What the queue gave before a deadline.
enum Arrival {
    Job(Job),
    Closed,
    Late,
}

/// The next job of `queue`: one already queued at once (with no timer, so a zero wait
/// costs none), else the first to arrive before `deadline`.
async fn next_before(queue: &mut mpsc::Receiver<Job>, deadline: Instant) -> Arrival {
    match queue.try_recv() {
        Ok(job) => return Arrival::Job(job),
        Err(mpsc::error::TryRecvError::Disconnected) => return Arrival::Closed,
        Err(mpsc::error::TryRecvError::Empty) if Instant::now() >= deadline => {
            return Arrival::Late;
        }
        Err(mpsc::error::TryRecvError::Empty) => {}
    }
    let deadline = tokio::time::Instant::from_std(deadline);
    match tokio::time::timeout_at(deadline, queue.recv()).await {
        Ok(Some(job)) => Arrival::Job(job),
        Ok(None) => Arrival::Closed,
        Err(_) => Arrival::Late,
    }
}

/// Scores a gathered batch and answers each of its jobs still waiting.
fn score(batch: Gathered, stats: &Stats) {
    let jobs: Vec<Job> = batch
        .jobs
        .into_iter()
        .filter(|job| !job.answer.is_closed())
        .collect();
    let rows: usize = jobs.iter().map(|job| job.table.num_rows()).sum();
    if jobs.is_empty() {
        return;
    }
    stats.record(rows);
    if jobs.len() > 1 {
        match predict_together(&jobs, rows) {
            Ok(predictions) => return answer_slices(jobs, &predictions),
            Err(_) => {
                stats.rescored.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    for job in jobs {
        let alone = job.model.predict(&job.table, &Map::new());
        let _ = job.answer.send(alone);
    }
}

/// One prediction over the concatenated tables of `jobs` (one model, one schema), checked to
/// answer one row per input row.
fn predict_together(jobs: &[Job], rows: usize) -> Result<Table> {
    let schema = jobs[0].table.schema();
    let together = concat_batches(&schema, jobs.iter().map(|job| job.table.batch()))
        .map_err(|e| Error::Predict(e.to_string()))?;
    let predictions = jobs[0].model.predict(&Table::new(together), &Map::new())?;
    if predictions.num_rows() != rows {
        return Err(Error::Predict(format!(
            "{rows} rows in, {} predictions out",
            predictions.num_rows()
        )));
    }
    Ok(predictions)
}

/// Answers each job with its rows of `predictions`, in order.
fn answer_slices(jobs: Vec<Job>, predictions: &Table) {
    let mut offset = 0;
    for job in jobs {
        let rows = job.table.num_rows();
        let part = Table::new(predictions.batch().slice(offset, rows));
        offset += rows;
        let _ = job.answer.send(Ok(part));
    }
}
