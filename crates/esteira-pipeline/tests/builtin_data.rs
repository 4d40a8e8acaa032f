//! The data steps (`ingest`, `validate`, `split`, `transform`) through the public API.
//!
//! Reference values come from pandas / pyarrow (`fixtures/data/make_fixtures.py` wrote the
//! `*_expected.json` files) or are worked out by hand in the comments.
//!
//! Services:
//! - S3: with `ESTEIRA_TEST_S3_BUCKET` (and the `AWS_*` variables) set, as `scripts/test.sh`
//!   does, the S3 test uses that bucket. Otherwise it starts its own moto server with
//!   `scripts/moto.sh` and runs itself again in a child process with the variables set. It
//!   is skipped only when neither is possible (and fails instead when `CI=true` or
//!   `ESTEIRA_REQUIRE_SERVICES=1`).
//! - PostgreSQL: `ESTEIRA_TEST_POSTGRES_URL`, as for the store's conformance suite; skipped
//!   without it (a failure when `CI=true` or `ESTEIRA_REQUIRE_SERVICES=1`).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use support::NoRegistry;

use anyhow::{Context, Result, bail, ensure};
use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use esteira_ml::dataset::Table;
use esteira_pipeline::builtin;
use esteira_pipeline::step::{
    BuiltinKind, StepContext, StepError, StepLog, StepOrigin, StepOutput,
};
use serde_json::{Map, Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data")
}

/// A step run: its directories, and what it returned and logged.
struct Run {
    out_dir: tempfile::TempDir,
    result: Result<StepOutput, StepError>,
    log: Vec<String>,
}

impl Run {
    fn output(&self) -> Result<&StepOutput> {
        match &self.result {
            Ok(output) => Ok(output),
            Err(e) => bail!("the step failed: {e}"),
        }
    }

    fn error(&self) -> Result<&StepError> {
        match &self.result {
            Ok(_) => bail!("the step succeeded but should have failed"),
            Err(e) => Ok(e),
        }
    }

    fn table(&self, port: &str) -> Result<Table> {
        let path = self.output()?.outputs.get(port).context("no such output")?;
        ensure!(
            path.starts_with(self.out_dir.path()),
            "output {port} is not in out_dir"
        );
        Ok(Table::read(path)?)
    }

    fn metric(&self, name: &str) -> Result<f64> {
        self.output()?
            .metrics
            .get(name)
            .copied()
            .with_context(|| format!("no metric {name}"))
    }
}

async fn run_step(
    kind: BuiltinKind,
    pipeline_dir: &Path,
    params: Value,
    inputs: &[(&str, PathBuf)],
) -> Result<Run> {
    let Value::Object(params) = params else {
        bail!("params must be an object");
    };
    let params: Map<String, Value> = params;
    let inputs: BTreeMap<String, PathBuf> = inputs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let out_dir = tempfile::tempdir()?;
    let origin = StepOrigin {
        pipeline: "test".into(),
        step: kind.name().into(),
        ..StepOrigin::default()
    };
    let log = StepLog::default();
    let ctx = StepContext {
        origin: &origin,
        params: &params,
        inputs: &inputs,
        out_dir: out_dir.path(),
        pipeline_dir,
        registry: &NoRegistry,
        log: &log,
    };
    let result = builtin::run(kind, &ctx).await;
    Ok(Run {
        out_dir,
        result,
        log: log.lines(),
    })
}

/// Asserts that `error` is a `StepError::Param` about `param` whose reason mentions `needle`.
fn assert_param_error(error: &StepError, param: &str, needle: &str) {
    match error {
        StepError::Param { param: p, reason } => {
            assert_eq!(p, param, "wrong param in: {error}");
            assert!(reason.contains(needle), "`{needle}` not in: {error}");
        }
        other => panic!("expected a param error about {param}, got: {other}"),
    }
}

fn assert_failed(error: &StepError, needles: &[&str]) {
    match error {
        StepError::Failed(message) => {
            for needle in needles {
                assert!(message.contains(needle), "`{needle}` not in: {message}");
            }
        }
        other => panic!("expected StepError::Failed, got: {other}"),
    }
}

fn strings(table: &Table, column: &str) -> Result<Vec<Option<String>>> {
    Ok(table.string_column(column)?)
}

fn floats(table: &Table, column: &str) -> Result<Vec<Option<f64>>> {
    Ok(table.f64_column(column)?)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

// ---------------------------------------------------------------- ingest

fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)?;
    Ok(())
}

#[tokio::test]
async fn ingest_concatenates_a_glob_of_csv_files_in_path_order() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // Written out of order; `units` is an integer in one file and a float in the other.
    write(
        dir.path(),
        "data/sales-2024-02.csv",
        "day,store,units\n2024-02-01,north,2.5\n",
    )?;
    write(
        dir.path(),
        "data/sales-2024-01.csv",
        "store,day,units\nnorth,2024-01-01,3\nsouth,2024-01-02,4\n",
    )?;
    write(dir.path(), "data/notes.txt", "not data\n")?;
    let run = run_step(
        BuiltinKind::Ingest,
        dir.path(),
        json!({ "path": "data/sales-*.csv" }),
        &[],
    )
    .await?;
    let table = run.table("data")?;
    assert_eq!(table.column_names(), ["store", "day", "units"]);
    assert_eq!(
        strings(&table, "store")?,
        [
            Some("north".into()),
            Some("south".into()),
            Some("north".into())
        ]
    );
    assert_eq!(floats(&table, "units")?, [Some(3.0), Some(4.0), Some(2.5)]);
    assert_eq!(table.column("day")?.data_type(), &DataType::Date32);
    assert_eq!(run.metric("rows")?, 3.0);
    assert_eq!(run.metric("files")?, 2.0);
    assert!(
        run.log.iter().any(|l| l.contains("3 rows")),
        "{:?}",
        run.log
    );
    // The output is Parquet inside out_dir.
    let path = &run.output()?.outputs["data"];
    assert_eq!(path.extension().and_then(|e| e.to_str()), Some("parquet"));
    Ok(())
}

#[tokio::test]
async fn ingest_takes_a_list_of_patterns_and_absolute_paths() -> Result<()> {
    let dir = tempfile::tempdir()?;
    write(dir.path(), "a/one.csv", "x\n1\n")?;
    write(dir.path(), "b/deep/two.csv", "x\n2\n")?;
    let absolute = dir.path().join("a/one.csv");
    let run = run_step(
        BuiltinKind::Ingest,
        Path::new("/nonexistent"),
        json!({ "path": [absolute.to_str().context("utf-8")?, format!("{}/b/**/*.csv", dir.path().display())] }),
        &[],
    )
    .await?;
    let table = run.table("data")?;
    assert_eq!(floats(&table, "x")?, [Some(1.0), Some(2.0)]);
    assert_eq!(run.metric("files")?, 2.0);
    Ok(())
}

#[tokio::test]
async fn ingest_reads_a_parquet_file_written_by_pyarrow() -> Result<()> {
    let run = run_step(
        BuiltinKind::Ingest,
        &fixtures(),
        json!({ "path": "ingest_sales.parquet" }),
        &[],
    )
    .await?;
    let table = run.table("data")?;
    // The values make_fixtures.py wrote.
    assert_eq!(table.column_names(), ["store", "day", "sales", "units"]);
    assert_eq!(
        strings(&table, "store")?,
        [
            Some("north".into()),
            Some("south".into()),
            None,
            Some("east".into())
        ]
    );
    assert_eq!(table.column("day")?.data_type(), &DataType::Date32);
    assert_eq!(strings(&table, "day")?[3].as_deref(), Some("2024-01-04"));
    assert_eq!(
        floats(&table, "sales")?,
        [Some(10.5), None, Some(7.25), Some(3.0)]
    );
    assert_eq!(table.column("units")?.data_type(), &DataType::Int64);
    assert_eq!(run.metric("rows")?, 4.0);
    assert_eq!(run.metric("files")?, 1.0);
    Ok(())
}

#[tokio::test]
async fn ingest_names_both_files_and_the_column_when_columns_differ() -> Result<()> {
    let dir = tempfile::tempdir()?;
    write(dir.path(), "d/1.csv", "a,b\n1,2\n")?;
    write(dir.path(), "d/2.csv", "a,c\n1,2\n")?;
    let run = run_step(
        BuiltinKind::Ingest,
        dir.path(),
        json!({ "path": "d/*.csv" }),
        &[],
    )
    .await?;
    assert_failed(run.error()?, &["2.csv", "1.csv", "`b`"]);

    // Extra column in the second file.
    write(dir.path(), "e/1.csv", "a\n1\n")?;
    write(dir.path(), "e/2.csv", "a,z\n1,2\n")?;
    let run = run_step(
        BuiltinKind::Ingest,
        dir.path(),
        json!({ "path": "e/*.csv" }),
        &[],
    )
    .await?;
    assert_failed(run.error()?, &["2.csv", "1.csv", "`z`"]);

    // Same name, incompatible types.
    write(dir.path(), "f/1.csv", "a\n1\n")?;
    write(dir.path(), "f/2.csv", "a\nhello\n")?;
    let run = run_step(
        BuiltinKind::Ingest,
        dir.path(),
        json!({ "path": "f/*.csv" }),
        &[],
    )
    .await?;
    assert_failed(run.error()?, &["2.csv", "1.csv", "`a`", "Int64", "Utf8"]);
    Ok(())
}

#[tokio::test]
async fn ingest_globs_match_hidden_names_and_a_final_double_star() -> Result<()> {
    let dir = tempfile::tempdir()?;
    write(dir.path(), "in/.early.csv", "x\n1\n")?;
    write(dir.path(), "in/late.csv", "x\n2\n")?;
    write(dir.path(), "in/.old/deep.csv", "x\n3\n")?;
    // `*` takes the leading dot of `.early.csv`; `.old/deep.csv` is one directory down.
    let run = run_step(
        BuiltinKind::Ingest,
        dir.path(),
        json!({ "path": "in/*.csv" }),
        &[],
    )
    .await?;
    assert_eq!(floats(&run.table("data")?, "x")?, [Some(1.0), Some(2.0)]);
    // A final `**` is every file below, hidden directories included, in path order.
    let run = run_step(
        BuiltinKind::Ingest,
        dir.path(),
        json!({ "path": "in/**" }),
        &[],
    )
    .await?;
    assert_eq!(
        floats(&run.table("data")?, "x")?,
        [Some(1.0), Some(3.0), Some(2.0)]
    );
    Ok(())
}

#[tokio::test]
async fn ingest_rejects_patterns_that_match_nothing_and_bad_params() -> Result<()> {
    let dir = tempfile::tempdir()?;
    write(dir.path(), "x.csv", "a\n1\n")?;
    let cases = [
        (json!({ "path": "nothing/*.csv" }), "path", "nothing/*.csv"),
        (json!({ "path": "missing.csv" }), "path", "missing.csv"),
        (json!({}), "path", "give `path`"),
        (json!({ "path": [] }), "path", "empty"),
        (json!({ "path": 3 }), "path", "string"),
        (
            json!({ "path": "x.csv", "query": "SELECT 1" }),
            "path",
            "not both",
        ),
        (json!({ "query": "SELECT 1" }), "url", "required"),
        (
            json!({ "path": "x.csv", "url": "postgres://localhost/db" }),
            "url",
            "only used with `query`",
        ),
        (
            json!({ "path": "x.csv", "paths": "y.csv" }),
            "paths",
            "unknown param",
        ),
        (json!({ "path": "s3://bucket" }), "path", "names no object"),
        (
            json!({ "path": "s3://bucket/*/x.csv" }),
            "path",
            "last segment",
        ),
        (json!({ "path": "x[.csv" }), "path", "a `[` is not closed"),
        (
            json!({ "path": "s3://bucket/dir/x[.csv" }),
            "path",
            "a `[` is not closed",
        ),
    ];
    for (params, param, needle) in cases {
        let run = run_step(BuiltinKind::Ingest, dir.path(), params.clone(), &[]).await?;
        assert_param_error(run.error()?, param, needle);
    }
    // A file that is not CSV or Parquet.
    write(dir.path(), "notes.txt", "hello\n")?;
    let run = run_step(
        BuiltinKind::Ingest,
        dir.path(),
        json!({ "path": "*.txt" }),
        &[],
    )
    .await?;
    assert_failed(run.error()?, &["notes.txt", "unsupported file type"]);
    // A Parquet file that is not Parquet inside.
    write(dir.path(), "broken.parquet", "PAR1 but not really")?;
    let run = run_step(
        BuiltinKind::Ingest,
        dir.path(),
        json!({ "path": "broken.parquet" }),
        &[],
    )
    .await?;
    assert_failed(run.error()?, &["reading", "broken.parquet"]);
    Ok(())
}

fn services_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("ESTEIRA_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A moto server started by `scripts/moto.sh`, stopped on drop.
struct Moto {
    dir: tempfile::TempDir,
    port: u16,
}

const MOTO_BUCKET: &str = "esteira-pipeline-test";

impl Moto {
    fn start() -> Result<Moto> {
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let status = std::process::Command::new(repo_root().join("scripts/moto.sh"))
            .args(["start", &port.to_string()])
            .arg(dir.path().join("moto.log"))
            .env("ESTEIRA_MOTO_PIDFILE", dir.path().join("moto.pid"))
            .env("ESTEIRA_TEST_S3_BUCKET", MOTO_BUCKET)
            .status()?;
        ensure!(status.success(), "scripts/moto.sh start failed");
        Ok(Moto { dir, port })
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = std::process::Command::new(repo_root().join("scripts/moto.sh"))
            .arg("stop")
            .env("ESTEIRA_MOTO_PIDFILE", self.dir.path().join("moto.pid"))
            .status();
    }
}

#[tokio::test]
async fn ingest_reads_an_s3_glob() -> Result<()> {
    if let Ok(bucket) = std::env::var("ESTEIRA_TEST_S3_BUCKET")
        && !bucket.is_empty()
    {
        return ingest_s3_case(&bucket).await;
    }
    let moto_server = repo_root().join(".venv/bin/moto_server");
    if !moto_server.exists() {
        ensure!(
            !services_required(),
            "S3 is required (CI=true or ESTEIRA_REQUIRE_SERVICES=1) but neither \
             ESTEIRA_TEST_S3_BUCKET is set nor {} exists",
            moto_server.display()
        );
        eprintln!("ingest_reads_an_s3_glob: skipped: no ESTEIRA_TEST_S3_BUCKET and no moto");
        return Ok(());
    }
    // The step reads the AWS_* variables of its process: run this test again in a child
    // process that has them, against our own moto.
    let moto = Moto::start()?;
    let output = std::process::Command::new(std::env::current_exe()?)
        .args(["ingest_reads_an_s3_glob", "--exact", "--nocapture"])
        .env("ESTEIRA_TEST_S3_BUCKET", MOTO_BUCKET)
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", moto.port),
        )
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ALLOW_HTTP", "true")
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success() && stdout.contains("1 passed"),
        "the S3 test failed in its child process:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

async fn ingest_s3_case(bucket: &str) -> Result<()> {
    let prefix = format!("pipeline-ingest-{}", uuid::Uuid::new_v4().simple());
    let store = esteira_artifacts::ArtifactStore::from_url(&format!("s3://{bucket}/{prefix}"))?;
    let put = |name: &str, text: &str| {
        let path = esteira_artifacts::ArtifactPath::parse(name);
        let bytes = bytes::Bytes::from(text.to_string());
        let store = store.clone();
        async move { store.put_bytes(&path?, bytes).await }
    };
    put("in/sales-2.csv", "store,units\nsouth,4\n").await?;
    put("in/sales-1.csv", "store,units\nnorth,3\neast,5\n").await?;
    put("in/other.csv", "unrelated\n1\n").await?;
    put("in/sub/sales-3.csv", "store,units\nwest,9\n").await?;

    let dir = tempfile::tempdir()?;
    let pattern = format!("s3://{bucket}/{prefix}/in/sales-*.csv");
    let run = run_step(
        BuiltinKind::Ingest,
        dir.path(),
        json!({ "path": pattern }),
        &[],
    )
    .await?;
    let table = run.table("data")?;
    // sales-1 then sales-2; other.csv and the sub-directory are not matched.
    assert_eq!(
        strings(&table, "store")?,
        [
            Some("north".into()),
            Some("east".into()),
            Some("south".into())
        ]
    );
    assert_eq!(floats(&table, "units")?, [Some(3.0), Some(5.0), Some(4.0)]);
    assert_eq!(run.metric("files")?, 2.0);
    // Only the output is left in out_dir.
    let left: Vec<_> = std::fs::read_dir(run.out_dir.path())?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    assert_eq!(left, ["data.parquet"]);

    let missing = format!("s3://{bucket}/{prefix}/in/nothing-*.csv");
    let run = run_step(
        BuiltinKind::Ingest,
        dir.path(),
        json!({ "path": missing }),
        &[],
    )
    .await?;
    assert_param_error(run.error()?, "path", "nothing-*.csv");
    Ok(())
}

fn postgres_url(test: &str) -> Result<Option<String>> {
    match std::env::var("ESTEIRA_TEST_POSTGRES_URL") {
        Ok(url) => Ok(Some(url)),
        Err(_) if services_required() => bail!(
            "{test}: PostgreSQL is required (CI=true or ESTEIRA_REQUIRE_SERVICES=1) but \
             ESTEIRA_TEST_POSTGRES_URL is not set"
        ),
        Err(_) => {
            eprintln!("{test}: skipped: set ESTEIRA_TEST_POSTGRES_URL to run it");
            Ok(None)
        }
    }
}

#[tokio::test]
async fn ingest_converts_a_postgres_query_to_arrow_types() -> Result<()> {
    let Some(url) = postgres_url("ingest_converts_a_postgres_query_to_arrow_types")? else {
        return Ok(());
    };
    let query = "\
        SELECT * FROM (VALUES \
          (1::int2, 2::int4, 3000000000::int8, 1.5::float4, 2.25::float8, 12345.678::numeric, \
           'x'::text, 'yy'::varchar(5), 'z'::char(2), true, DATE '2024-03-01', \
           TIMESTAMP '2024-03-01 12:34:56.789', TIMESTAMPTZ '2024-03-01 12:34:56+02'), \
          (NULL, NULL, -7, NULL, NULL, -0.0042, NULL, NULL, NULL, NULL, DATE '1969-12-31', \
           TIMESTAMP '1999-12-31 23:59:59', NULL) \
        ) AS t(small, mid, big, f4, f8, num, txt, vc, ch, flag, day, ts, tstz)";
    let dir = tempfile::tempdir()?;
    let run = run_step(
        BuiltinKind::Ingest,
        dir.path(),
        json!({ "query": query, "url": url }),
        &[],
    )
    .await?;
    let table = run.table("data")?;
    let types: Vec<DataType> = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    let ms = |tz: Option<&str>| DataType::Timestamp(TimeUnit::Millisecond, tz.map(Into::into));
    assert_eq!(
        types,
        [
            DataType::Int64,
            DataType::Int64,
            DataType::Int64,
            DataType::Float64,
            DataType::Float64,
            DataType::Float64,
            DataType::Utf8,
            DataType::Utf8,
            DataType::Utf8,
            DataType::Boolean,
            DataType::Date32,
            ms(None),
            ms(Some("UTC")),
        ]
    );
    let ints = |c: &str| -> Result<Vec<Option<i64>>> {
        Ok(table
            .column(c)?
            .as_primitive::<Int64Type>()
            .iter()
            .collect())
    };
    assert_eq!(ints("small")?, [Some(1), None]);
    assert_eq!(ints("big")?, [Some(3_000_000_000), Some(-7)]);
    assert_eq!(floats(&table, "f4")?, [Some(1.5), None]);
    assert_eq!(floats(&table, "num")?, [Some(12345.678), Some(-0.0042)]);
    assert_eq!(strings(&table, "vc")?, [Some("yy".into()), None]);
    assert_eq!(strings(&table, "ch")?, [Some("z ".into()), None]);
    assert_eq!(strings(&table, "flag")?, [Some("true".into()), None]);
    // 2024-03-01 is day 19783 since 1970-01-01; 1969-12-31 is day -1.
    let days: Vec<Option<i32>> = table
        .column("day")?
        .as_primitive::<arrow::datatypes::Date32Type>()
        .iter()
        .collect();
    assert_eq!(days, [Some(19_783), Some(-1)]);
    let millis = |c: &str| -> Result<Vec<Option<i64>>> {
        let column = arrow::compute::cast(table.column(c)?, &DataType::Int64)?;
        Ok(column.as_primitive::<Int64Type>().iter().collect())
    };
    // 19783 days × 86 400 000 ms + 12:34:56.789; 1999-12-31 23:59:59 is 946684799 s; the
    // +02 time is 10:34:56 UTC.
    assert_eq!(
        millis("ts")?,
        [Some(1_709_296_496_789), Some(946_684_799_000)]
    );
    assert_eq!(millis("tstz")?, [Some(1_709_289_296_000), None]);
    assert_eq!(run.metric("rows")?, 2.0);

    let run = run_step(
        BuiltinKind::Ingest,
        dir.path(),
        json!({ "query": "SELECT 1::int4 AS n, '{}'::jsonb AS doc", "url": url }),
        &[],
    )
    .await?;
    assert_param_error(
        run.error()?,
        "query",
        "column `doc` has the unsupported type JSONB",
    );

    let run = run_step(
        BuiltinKind::Ingest,
        dir.path(),
        json!({ "query": "SELECT nope FROM", "url": url }),
        &[],
    )
    .await?;
    assert_param_error(run.error()?, "query", "syntax");

    let run = run_step(
        BuiltinKind::Ingest,
        dir.path(),
        json!({ "query": "SELECT 1::int4 AS n WHERE false", "url": url }),
        &[],
    )
    .await?;
    assert_failed(run.error()?, &["no rows"]);
    Ok(())
}

#[tokio::test]
async fn ingest_reports_an_unreachable_database_against_url() -> Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = tempfile::tempdir()?;
    let run = run_step(
        BuiltinKind::Ingest,
        dir.path(),
        json!({ "query": "SELECT 1", "url": format!("postgres://nobody@127.0.0.1:{port}/db") }),
        &[],
    )
    .await?;
    assert_param_error(run.error()?, "url", "cannot connect");
    Ok(())
}

// ---------------------------------------------------------------- validate

fn validate_input() -> (&'static str, PathBuf) {
    ("data", fixtures().join("validate_data.csv"))
}

async fn validate(params: Value) -> Result<Run> {
    run_step(
        BuiltinKind::Validate,
        &fixtures(),
        params,
        &[validate_input()],
    )
    .await
}

/// The report, read from out_dir (it is written even when the step fails).
fn read_report(run: &Run) -> Result<Value> {
    let text = std::fs::read(run.out_dir.path().join("report.json"))?;
    Ok(serde_json::from_slice(&text)?)
}

/// The anomalies as (rule, column, severity).
fn anomalies(report: &Value) -> Vec<(String, String, String)> {
    report["anomalies"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let text = |k: &str| a[k].as_str().unwrap_or("").to_string();
            (text("rule"), text("column"), text("severity"))
        })
        .collect()
}

fn anomaly(rule: &str, column: &str, severity: &str) -> (String, String, String) {
    (rule.into(), column.into(), severity.into())
}

#[tokio::test]
async fn validate_statistics_match_pandas() -> Result<()> {
    let run = validate(json!({})).await?;
    let output = run.output()?;
    assert_eq!(
        output.outputs["data"],
        validate_input().1,
        "data is passed through"
    );
    let report = read_report(&run)?;
    let expected: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("validate_expected.json"))?)?;
    assert_eq!(report["rows"], expected["rows"]);
    assert_eq!(
        report["schema"],
        json!({ "id": "int", "price": "float", "qty": "int", "category": "string",
                "active": "bool", "day": "date" })
    );
    let columns = report["columns"].as_array().context("columns")?;
    let names: Vec<&str> = columns.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["id", "price", "qty", "category", "active", "day"]);
    for column in columns {
        let name = column["name"].as_str().context("name")?;
        let want = expected["columns"][name]
            .as_object()
            .context("expected column")?;
        for (key, value) in want {
            let got = &column[key];
            match (value.as_f64(), got.as_f64()) {
                (Some(w), Some(g)) => assert!(close(w, g), "{name}.{key}: {g} != pandas {w}"),
                _ => assert_eq!(got, value, "{name}.{key}"),
            }
        }
    }
    assert_eq!(report["anomalies"], json!([]));
    assert_eq!(report["passed"], json!(true));
    assert_eq!(run.metric("rows")?, 12.0);
    assert_eq!(run.metric("anomalies_failed")?, 0.0);
    assert_eq!(run.metric("anomalies_warned")?, 0.0);
    Ok(())
}

#[tokio::test]
async fn validate_schema_rules_fire_with_their_default_severities() -> Result<()> {
    let declared = json!({ "id": "int", "price": "int", "category": "string", "region": "string" });
    let run = validate(json!({ "schema": declared })).await?;
    let error = run.error()?;
    // The failing anomalies are listed; the warnings are not.
    assert_failed(error, &["`region`", "`price` is float, expected int"]);
    assert!(!error.to_string().contains("`qty`"), "{error}");
    let report = read_report(&run)?;
    assert_eq!(report["passed"], json!(false));
    let mut found = anomalies(&report);
    found.sort();
    assert_eq!(
        found,
        [
            anomaly("missing_columns", "region", "fail"),
            anomaly("new_columns", "active", "warn"),
            anomaly("new_columns", "day", "warn"),
            anomaly("new_columns", "qty", "warn"),
            anomaly("type_changes", "price", "fail"),
        ]
    );

    // Every severity can be changed; with warnings only the step passes.
    let run = validate(json!({ "schema": declared, "missing_columns": "warn",
                               "type_changes": "warn", "new_columns": "fail" }))
    .await?;
    let report = read_report(&run)?;
    assert_eq!(
        anomalies(&report).iter().filter(|a| a.2 == "fail").count(),
        3
    );

    let run = validate(json!({ "schema": declared, "missing_columns": "warn",
                               "type_changes": "warn" }))
    .await?;
    assert_eq!(run.metric("anomalies_warned")?, 5.0);
    assert_eq!(run.metric("anomalies_failed")?, 0.0);
    assert!(
        run.log.iter().any(|l| l.contains("`region`")),
        "{:?}",
        run.log
    );
    Ok(())
}

#[tokio::test]
async fn validate_reuses_a_previous_reports_schema() -> Result<()> {
    let first = validate(json!({})).await?;
    let dir = tempfile::tempdir()?;
    let schema = read_report(&first)?["schema"].clone();
    std::fs::write(dir.path().join("schema.json"), serde_json::to_vec(&schema)?)?;
    let run = run_step(
        BuiltinKind::Validate,
        dir.path(),
        json!({ "schema_file": "schema.json" }),
        &[validate_input()],
    )
    .await?;
    assert_eq!(read_report(&run)?["anomalies"], json!([]));

    // The same file with a column retyped is a type change.
    let mut changed = schema.clone();
    changed["qty"] = json!("float");
    std::fs::write(
        dir.path().join("changed.json"),
        serde_json::to_vec(&changed)?,
    )?;
    let run = run_step(
        BuiltinKind::Validate,
        dir.path(),
        json!({ "schema_file": "changed.json" }),
        &[validate_input()],
    )
    .await?;
    assert_eq!(
        anomalies(&read_report(&run)?),
        [anomaly("type_changes", "qty", "fail")]
    );

    let run = run_step(
        BuiltinKind::Validate,
        dir.path(),
        json!({ "schema_file": "absent.json" }),
        &[validate_input()],
    )
    .await?;
    assert_param_error(run.error()?, "schema_file", "absent.json");
    Ok(())
}

#[tokio::test]
async fn validate_min_rows_fires_below_the_limit_only() -> Result<()> {
    // The fixture has 12 rows.
    let run = validate(json!({ "min_rows": { "value": 13, "severity": "fail" } })).await?;
    assert_failed(run.error()?, &["12 rows"]);
    assert_eq!(
        anomalies(&read_report(&run)?),
        [anomaly("min_rows", "", "fail")]
    );

    let run = validate(json!({ "min_rows": 12 })).await?;
    assert_eq!(anomalies(&read_report(&run)?), []);

    let run = validate(json!({ "min_rows": { "value": 100, "severity": "warn" } })).await?;
    assert_eq!(run.metric("anomalies_warned")?, 1.0);
    Ok(())
}

#[tokio::test]
async fn validate_max_null_fraction_globally_and_per_column() -> Result<()> {
    // Null fractions: price 2/12, qty, category and active 1/12, id and day 0.
    let run =
        validate(json!({ "max_null_fraction": { "value": 0.1, "severity": "warn" } })).await?;
    assert_eq!(
        anomalies(&read_report(&run)?),
        [anomaly("max_null_fraction", "price", "warn")]
    );
    assert_eq!(run.metric("anomalies_warned")?, 1.0);

    let run = validate(json!({ "max_null_fraction": 0.2 })).await?;
    assert_eq!(anomalies(&read_report(&run)?), []);

    let run = validate(json!({ "max_null_fraction": {
        "value": 0.2,
        "columns": { "qty": { "value": 0.05, "severity": "fail" }, "active": 0.0 }
    } }))
    .await?;
    assert_failed(run.error()?, &["`qty`"]);
    assert_eq!(
        anomalies(&read_report(&run)?),
        [
            anomaly("max_null_fraction", "qty", "fail"),
            anomaly("max_null_fraction", "active", "warn"),
        ]
    );

    // A per-column limit on an absent column is an anomaly with that limit's severity.
    let run = validate(json!({ "max_null_fraction": {
        "severity": "warn",
        "columns": { "weight": 0.1 }
    } }))
    .await?;
    assert_eq!(
        anomalies(&read_report(&run)?),
        [anomaly("max_null_fraction", "weight", "warn")]
    );
    Ok(())
}

#[tokio::test]
async fn validate_ranges_count_the_values_outside() -> Result<()> {
    // price values: 10.5, 7.25, 3, 12.75, 99.5, 0.5, 42, 5.5, 1.25, 8 (and two nulls).
    let run = validate(json!({ "ranges": { "price": { "min": 1, "max": 50 } } })).await?;
    assert_failed(run.error()?, &["2 values of `price`"]);
    let report_json = read_report(&run)?;
    assert_eq!(report_json["anomalies"][0]["count"], json!(2));
    assert_eq!(
        anomalies(&report_json),
        [anomaly("ranges", "price", "fail")]
    );

    let run =
        validate(json!({ "ranges": { "price": { "min": 0, "max": 1e6 }, "qty": { "max": 9 } } }))
            .await?;
    assert_eq!(anomalies(&read_report(&run)?), []);

    let run = validate(json!({ "ranges": {
        "category": { "min": 0, "severity": "warn" },
        "weight": { "max": 5, "severity": "warn" },
    } }))
    .await?;
    let report_json = read_report(&run)?;
    assert_eq!(
        anomalies(&report_json),
        [
            anomaly("ranges", "category", "warn"),
            anomaly("ranges", "weight", "warn")
        ]
    );
    assert!(
        report_json["anomalies"][1]["message"]
            .as_str()
            .is_some_and(|m| m.contains("missing"))
    );
    Ok(())
}

#[tokio::test]
async fn validate_rejects_bad_params_by_name() -> Result<()> {
    let cases = [
        (json!({ "min_row": 3 }), "min_row", "unknown param"),
        (
            json!({ "missing_columns": "error" }),
            "missing_columns",
            "\"fail\" or \"warn\"",
        ),
        (
            json!({ "min_rows": { "value": 3, "severity": "loud" } }),
            "min_rows.severity",
            "\"fail\" or \"warn\"",
        ),
        (
            json!({ "min_rows": { "severity": "warn" } }),
            "min_rows.value",
            "required",
        ),
        (
            json!({ "schema": { "id": "integer" } }),
            "schema.id",
            "unknown type",
        ),
        (
            json!({ "schema": { "id": "int" }, "schema_file": "x.json" }),
            "schema",
            "not both",
        ),
        (
            json!({ "max_null_fraction": 1.5 }),
            "max_null_fraction",
            "[0, 1]",
        ),
        (
            json!({ "max_null_fraction": { "value": 0.1, "limit": 2 } }),
            "max_null_fraction.limit",
            "unknown key",
        ),
        (
            json!({ "ranges": { "price": { "mn": 0 } } }),
            "ranges.price.mn",
            "unknown key",
        ),
        (
            json!({ "ranges": { "price": {} } }),
            "ranges.price",
            "`min`, `max`",
        ),
        (
            json!({ "ranges": { "price": { "min": 5, "max": 1 } } }),
            "ranges.price",
            "above max",
        ),
        (
            json!({ "ranges": { "price": { "min": "zero" } } }),
            "ranges.price.min",
            "finite number",
        ),
    ];
    for (params, param, needle) in cases {
        let run = validate(params.clone()).await?;
        assert_param_error(run.error()?, param, needle);
    }
    let run = run_step(BuiltinKind::Validate, &fixtures(), json!({}), &[]).await?;
    assert!(
        matches!(run.error()?, StepError::Input { input, .. } if input == "data"),
        "an unconnected input is an input error"
    );
    let not_a_table = ("data", fixtures().join("make_fixtures.py"));
    let run = run_step(
        BuiltinKind::Validate,
        &fixtures(),
        json!({}),
        &[not_a_table],
    )
    .await?;
    assert!(
        matches!(run.error()?, StepError::Input { input, reason } if input == "data" && reason.contains("make_fixtures.py")),
        "an unreadable input is an input error naming the file"
    );
    Ok(())
}

// ---------------------------------------------------------------- split

/// Two series over five days, rows not sorted by time.
const SERIES_CSV: &str = "\
store,day,y
A,2024-01-01,1
B,2024-01-01,2
A,2024-01-02,3
B,2024-01-03,4
A,2024-01-03,5
A,2024-01-04,6
B,2024-01-04,7
B,2024-01-05,8
";

async fn split_csv(csv: &str, params: Value) -> Result<Run> {
    let dir = tempfile::tempdir()?;
    write(dir.path(), "data.csv", csv)?;
    let input = ("data", dir.path().join("data.csv"));
    run_step(BuiltinKind::Split, dir.path(), params, &[input]).await
}

fn y_values(table: &Table) -> Result<Vec<f64>> {
    Ok(floats(table, "y")?.into_iter().flatten().collect())
}

#[tokio::test]
async fn split_by_time_horizon_cutoff_and_fraction() -> Result<()> {
    // horizon 2 per store: A has days 1, 2, 3, 4 → 3 and 4 (y 5, 6) to test; B has days
    // 1, 3, 4, 5 → 4 and 5 (y 7, 8).
    let run = split_csv(
        SERIES_CSV,
        json!({ "time": "day", "id": "store", "horizon": 2 }),
    )
    .await?;
    assert_eq!(y_values(&run.table("train")?)?, [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(y_values(&run.table("test")?)?, [5.0, 6.0, 7.0, 8.0]);
    assert_eq!(run.metric("train_rows")?, 4.0);
    assert_eq!(run.metric("test_rows")?, 4.0);

    // horizon 2 without ids: the last two days of the table, 4 and 5.
    let run = split_csv(SERIES_CSV, json!({ "time": "day", "horizon": 2 })).await?;
    assert_eq!(y_values(&run.table("test")?)?, [6.0, 7.0, 8.0]);

    // cutoff: day > 2024-01-03.
    let run = split_csv(SERIES_CSV, json!({ "time": "day", "cutoff": "2024-01-03" })).await?;
    assert_eq!(y_values(&run.table("train")?)?, [1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(y_values(&run.table("test")?)?, [6.0, 7.0, 8.0]);

    // test_fraction 0.5 of 5 distinct days: the last ⌈2.5⌉ = 3 days, 3 to 5.
    let run = split_csv(
        SERIES_CSV,
        json!({ "method": "time", "time": "day", "test_fraction": 0.5 }),
    )
    .await?;
    assert_eq!(y_values(&run.table("train")?)?, [1.0, 2.0, 3.0]);
    assert_eq!(y_values(&run.table("test")?)?, [4.0, 5.0, 6.0, 7.0, 8.0]);

    // An integer period column takes an integer cutoff.
    let run = split_csv(
        "t,y\n3,30\n1,10\n4,40\n2,20\n",
        json!({ "time": "t", "cutoff": 2 }),
    )
    .await?;
    assert_eq!(y_values(&run.table("train")?)?, [10.0, 20.0]);
    assert_eq!(y_values(&run.table("test")?)?, [30.0, 40.0]);
    Ok(())
}

/// Rows `0..n` with a class column: `sizes[i]` rows of class `c{i}`, interleaved.
fn classes_csv(sizes: &[usize]) -> String {
    let mut left = sizes.to_vec();
    let mut csv = String::from("row,label\n");
    let mut row = 0;
    while left.iter().any(|&n| n > 0) {
        for (class, n) in left.iter_mut().enumerate() {
            if *n > 0 {
                csv.push_str(&format!("{row},c{class}\n"));
                row += 1;
                *n -= 1;
            }
        }
    }
    csv
}

fn row_numbers(table: &Table) -> Result<Vec<i64>> {
    Ok(floats(table, "row")?
        .into_iter()
        .flatten()
        .map(|x| x as i64)
        .collect())
}

/// Train and test are disjoint, cover every row and keep the input order.
fn assert_partition(train: &[i64], test: &[i64], n: usize) {
    assert!(train.windows(2).all(|w| w[0] < w[1]), "train order");
    assert!(test.windows(2).all(|w| w[0] < w[1]), "test order");
    let mut all: Vec<i64> = train.iter().chain(test).copied().collect();
    all.sort();
    assert_eq!(all, (0..n as i64).collect::<Vec<_>>());
}

fn count_labels(table: &Table) -> Result<BTreeMap<String, usize>> {
    let mut counts = BTreeMap::new();
    for label in strings(table, "label")?.into_iter().flatten() {
        *counts.entry(label).or_default() += 1;
    }
    Ok(counts)
}

#[tokio::test]
async fn split_stratified_preserves_class_proportions() -> Result<()> {
    // 20% of 30, 15 and 5 rows is 6, 3 and 1: each class keeps exactly its share (60%, 30%,
    // 10% of the rows) in test. The class of one row stays in train.
    let csv = classes_csv(&[30, 15, 5, 1]);
    let run = split_csv(
        &csv,
        json!({ "method": "stratified", "column": "label", "test_fraction": 0.2, "seed": 7 }),
    )
    .await?;
    let (train, test) = (run.table("train")?, run.table("test")?);
    assert_partition(&row_numbers(&train)?, &row_numbers(&test)?, 51);
    let test_counts = count_labels(&test)?;
    let expected: BTreeMap<String, usize> =
        [("c0".into(), 6), ("c1".into(), 3), ("c2".into(), 1)].into();
    assert_eq!(test_counts, expected);
    let total: usize = test_counts.values().sum();
    for (class, share) in [("c0", 0.6), ("c1", 0.3), ("c2", 0.1)] {
        assert!(close(test_counts[class] as f64 / total as f64, share));
    }
    assert_eq!(count_labels(&train)?["c3"], 1);

    // Small classes still land in both sets: 2 rows and a 0.1 fraction give one test row.
    let run = split_csv(
        &classes_csv(&[2, 10]),
        json!({ "method": "stratified", "column": "label", "test_fraction": 0.1 }),
    )
    .await?;
    assert_eq!(count_labels(&run.table("test")?)?["c0"], 1);
    assert_eq!(count_labels(&run.table("train")?)?["c0"], 1);
    Ok(())
}

#[tokio::test]
async fn split_random_is_seeded_and_sized() -> Result<()> {
    let csv = classes_csv(&[50]);
    let rows_of = |run: &Run, port: &str| -> Result<Vec<i64>> { row_numbers(&run.table(port)?) };
    let a = split_csv(&csv, json!({ "method": "random", "seed": 1 })).await?;
    let b = split_csv(&csv, json!({ "method": "random", "seed": 1 })).await?;
    let c = split_csv(&csv, json!({ "seed": 2 })).await?;
    // The default fraction 0.2 of 50 rows is 10.
    assert_eq!(rows_of(&a, "test")?.len(), 10);
    assert_partition(&rows_of(&a, "train")?, &rows_of(&a, "test")?, 50);
    assert_eq!(rows_of(&a, "test")?, rows_of(&b, "test")?);
    assert_ne!(rows_of(&a, "test")?, rows_of(&c, "test")?);
    let d = split_csv(&csv, json!({ "test_fraction": 0.5 })).await?;
    assert_eq!(d.metric("test_rows")?, 25.0);
    Ok(())
}

#[tokio::test]
async fn split_rejects_bad_params_and_empty_sides() -> Result<()> {
    let cases = [
        (json!({ "time": "when", "horizon": 1 }), "time", "when"),
        (
            json!({ "time": "day", "id": "shop", "horizon": 1 }),
            "id",
            "shop",
        ),
        (
            json!({ "method": "stratified", "column": "kind" }),
            "column",
            "kind",
        ),
        (
            json!({ "method": "random", "test_fraction": 0.0 }),
            "test_fraction",
            "between 0 and 1",
        ),
        (
            json!({ "method": "random", "test_fraction": 1.5 }),
            "test_fraction",
            "between 0 and 1",
        ),
        (
            json!({ "time": "day", "test_fraction": 1.0 }),
            "test_fraction",
            "between 0 and 1",
        ),
        (
            json!({ "time": "day", "horizon": 0 }),
            "horizon",
            "at least 1",
        ),
        (json!({ "time": "day" }), "horizon", "exactly one"),
        (
            json!({ "time": "day", "horizon": 1, "cutoff": "2024-01-02" }),
            "horizon",
            "exactly one",
        ),
        (json!({ "time": "day", "cutoff": "soon" }), "cutoff", "soon"),
        (json!({ "time": "day", "cutoff": 3 }), "cutoff", "date"),
        (json!({ "method": "shuffle" }), "method", "unknown method"),
        (
            json!({ "time": "day", "horizon": 1, "seed": 3 }),
            "seed",
            "not a param of the `time` method",
        ),
        (
            json!({ "method": "random", "seed": -1 }),
            "seed",
            "non-negative",
        ),
    ];
    for (params, param, needle) in cases {
        let run = split_csv(SERIES_CSV, params.clone()).await?;
        assert_param_error(run.error()?, param, needle);
    }
    // Every day of every store in test: train is empty.
    let run = split_csv(
        SERIES_CSV,
        json!({ "time": "day", "id": "store", "horizon": 4 }),
    )
    .await?;
    assert_failed(run.error()?, &["`train` empty"]);
    let run = split_csv(SERIES_CSV, json!({ "time": "day", "cutoff": "2024-02-01" })).await?;
    assert_failed(run.error()?, &["`test` empty"]);
    // A null time cannot be placed on either side.
    let run = split_csv(
        "day,y\n2024-01-01,1\n,2\n2024-01-03,3\n",
        json!({ "time": "day", "horizon": 1 }),
    )
    .await?;
    assert!(
        matches!(run.error()?, StepError::Input { reason, .. } if reason.contains("`day` is null in row 1")),
        "a null time is an input error naming the row"
    );
    Ok(())
}

// ---------------------------------------------------------------- transform

async fn transform(params: Value) -> Result<Run> {
    let input = ("data", fixtures().join("transform_series.csv"));
    run_step(BuiltinKind::Transform, &fixtures(), params, &[input]).await
}

fn full_transform_params() -> Value {
    json!({
        "time": "ts",
        "id": "store",
        "target": "y",
        "lags": [1, 3],
        "rolling_mean": [2, 4],
        "calendar": ["dayofweek", "month", "dayofyear", "weekofyear", "hour", "is_weekend", "year"],
    })
}

fn expected_transform() -> Result<Vec<Map<String, Value>>> {
    let text = std::fs::read(fixtures().join("transform_expected.json"))?;
    let rows: Vec<Value> = serde_json::from_slice(&text)?;
    rows.into_iter()
        .map(|r| match r {
            Value::Object(m) => Ok(m),
            other => bail!("not a row: {other}"),
        })
        .collect()
}

/// Compares every column of `expected` (pandas) with `table`, row by row.
fn assert_matches_pandas(table: &Table, expected: &[Map<String, Value>]) -> Result<()> {
    assert_eq!(table.num_rows(), expected.len());
    let columns = expected.first().context("no expected rows")?.keys();
    for column in columns {
        let got = strings(table, column)?;
        let numbers = table.f64_column(column).ok();
        for (row, want) in expected.iter().enumerate() {
            let want = &want[column];
            match (want, &numbers) {
                (Value::Null, _) => assert_eq!(got[row], None, "{column}[{row}]"),
                (Value::Number(w), Some(numbers)) => {
                    let (w, g) = (w.as_f64().context("f64")?, numbers[row]);
                    assert!(
                        g.is_some_and(|g| close(g, w)),
                        "{column}[{row}]: {g:?} != pandas {w}"
                    );
                }
                (Value::String(w), _) => {
                    assert_eq!(got[row].as_deref(), Some(w.as_str()), "{column}[{row}]")
                }
                (other, _) => bail!("{column}[{row}]: unexpected {other}"),
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn transform_lags_rolling_means_and_calendar_match_pandas() -> Result<()> {
    let run = transform(full_transform_params()).await?;
    let table = run.table("data")?;
    let expected = expected_transform()?;
    assert_matches_pandas(&table, &expected)?;
    assert_eq!(table.column("y_lag_1")?.data_type(), &DataType::Float64);
    assert_eq!(
        table
            .column("ts_weekofyear")?
            .as_primitive::<Int64Type>()
            .value(7),
        53,
        "2021-01-01 is in ISO week 53 of 2020"
    );
    assert_eq!(run.metric("features")?, 11.0);
    assert_eq!(run.metric("dropped_rows")?, 0.0);
    assert_eq!(run.metric("rows")?, 21.0);
    Ok(())
}

#[tokio::test]
async fn transform_drop_incomplete_keeps_only_rows_with_full_history() -> Result<()> {
    let mut params = full_transform_params();
    params["drop_incomplete"] = json!(true);
    let run = transform(params).await?;
    let table = run.table("data")?;
    let history = ["y_lag_1", "y_lag_3", "y_rolling_mean_2", "y_rolling_mean_4"];
    let expected: Vec<Map<String, Value>> = expected_transform()?
        .into_iter()
        .filter(|row| history.iter().all(|c| !row[*c].is_null()))
        .collect();
    assert_matches_pandas(&table, &expected)?;
    assert_eq!(run.metric("dropped_rows")?, (21 - expected.len()) as f64);
    for column in history {
        assert_eq!(table.column(column)?.null_count(), 0);
    }
    Ok(())
}

#[tokio::test]
async fn transform_rolling_mean_uses_only_earlier_rows() -> Result<()> {
    // One series 1, 2, 4, 8: the rolling mean of 2 at row 3 is (2 + 4) / 2 = 3, never
    // including the row's own 8; the lag of 1 is the previous value.
    let dir = tempfile::tempdir()?;
    write(dir.path(), "d.csv", "t,y\n4,8\n2,2\n1,1\n3,4\n")?;
    let run = run_step(
        BuiltinKind::Transform,
        dir.path(),
        json!({ "time": "t", "target": "y", "lags": [1], "rolling_mean": [2] }),
        &[("data", dir.path().join("d.csv"))],
    )
    .await?;
    let table = run.table("data")?;
    assert_eq!(
        floats(&table, "y")?,
        [Some(1.0), Some(2.0), Some(4.0), Some(8.0)]
    );
    assert_eq!(
        floats(&table, "y_lag_1")?,
        [None, Some(1.0), Some(2.0), Some(4.0)]
    );
    assert_eq!(
        floats(&table, "y_rolling_mean_2")?,
        [None, None, Some(1.5), Some(3.0)]
    );
    let column = table.column("y_rolling_mean_2")?;
    assert_eq!(column.as_primitive::<Float64Type>().len(), 4);
    Ok(())
}

#[tokio::test]
async fn transform_rejects_bad_params_by_name() -> Result<()> {
    let cases = [
        (
            json!({ "time": "when", "calendar": ["month"] }),
            "time",
            "when",
        ),
        (
            json!({ "time": "ts", "id": "shop", "calendar": ["month"] }),
            "id",
            "shop",
        ),
        (
            json!({ "time": "ts", "target": "sales", "lags": [1] }),
            "target",
            "sales",
        ),
        (
            json!({ "time": "ts", "target": "y", "lags": [0] }),
            "lags",
            "positive",
        ),
        (
            json!({ "time": "ts", "target": "y", "lags": [-2] }),
            "lags",
            "positive",
        ),
        (
            json!({ "time": "ts", "target": "y", "lags": 1 }),
            "lags",
            "list",
        ),
        (
            json!({ "time": "ts", "target": "y", "rolling_mean": [0] }),
            "rolling_mean",
            "positive",
        ),
        (
            json!({ "time": "ts", "calendar": ["weekday"] }),
            "calendar",
            "unknown feature `weekday`",
        ),
        (json!({ "time": "ts", "lags": [1] }), "target", "required"),
        (json!({ "time": "ts" }), "lags", "nothing to compute"),
        (
            json!({ "time": "ts", "calendar": ["month"], "drop_incomplete": "yes" }),
            "drop_incomplete",
            "true or false",
        ),
        (
            json!({ "time": "y", "calendar": ["month"] }),
            "time",
            "Float64",
        ),
        (
            json!({ "time": "ts", "target": "store", "lags": [1] }),
            "target",
            "Utf8",
        ),
        (
            json!({ "time": "ts", "calendar": ["month"], "lag": [1] }),
            "lag",
            "unknown param",
        ),
    ];
    for (params, param, needle) in cases {
        let run = transform(params.clone()).await?;
        assert_param_error(run.error()?, param, needle);
    }
    // Calendar features need dates or timestamps, not a period index.
    let dir = tempfile::tempdir()?;
    write(dir.path(), "i.csv", "t,y\n1,1\n2,2\n")?;
    let run = run_step(
        BuiltinKind::Transform,
        dir.path(),
        json!({ "time": "t", "calendar": ["month"] }),
        &[("data", dir.path().join("i.csv"))],
    )
    .await?;
    assert_param_error(run.error()?, "calendar", "integer column");
    // A null time cannot be sorted into its series.
    write(dir.path(), "n.csv", "t,y\n2024-01-01,1\n,2\n")?;
    let run = run_step(
        BuiltinKind::Transform,
        dir.path(),
        json!({ "time": "t", "calendar": ["month"] }),
        &[("data", dir.path().join("n.csv"))],
    )
    .await?;
    assert!(
        matches!(run.error()?, StepError::Input { reason, .. } if reason.contains("`t` is null in row 1")),
        "a null time is an input error naming the row"
    );
    // A feature column whose name is taken.
    write(dir.path(), "d.csv", "t,y,y_lag_1\n1,1,0\n2,2,1\n")?;
    let run = run_step(
        BuiltinKind::Transform,
        dir.path(),
        json!({ "time": "t", "target": "y", "lags": [1] }),
        &[("data", dir.path().join("d.csv"))],
    )
    .await?;
    assert!(
        matches!(run.error()?, StepError::Input { reason, .. } if reason.contains("`y_lag_1`")),
        "a taken name is an input error"
    );
    Ok(())
}
