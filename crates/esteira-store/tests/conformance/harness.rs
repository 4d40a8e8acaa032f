//! The runner side of the conformance suite: one fresh store per test, on SQLite or on
//! PostgreSQL, and the helpers every test uses.

use std::future::Future;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use esteira_core::ErrorCode;
use esteira_core::entities::{Metric, Tag, ViewType};
use esteira_store::{
    ExperimentQuery, MetadataStore, NewExperiment, NewRun, Page, Paging, PipelineStore,
    RegistryQuery, RunQuery, SqlStore, Store,
};
use sqlx::Connection;

/// The back end a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What a test gets: the store (through the trait only) and the URL it was opened with, so
/// that a test may open the same database a second time.
#[derive(Clone)]
pub struct Ctx {
    pub store: Arc<dyn Store>,
    pub url: String,
}

impl std::ops::Deref for Ctx {
    type Target = dyn MetadataStore;
    fn deref(&self) -> &Self::Target {
        &*self.store
    }
}

impl Ctx {
    /// The pipeline side of the store.
    pub fn pipes(&self) -> &dyn PipelineStore {
        &*self.store
    }
}

/// Cleans up what `setup` made.
enum Guard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, database: String },
}

const PG_ENV: &str = "ESTEIRA_TEST_POSTGRES_URL";

/// True when missing services must fail the test instead of skipping it.
fn services_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("ESTEIRA_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// `url` with its database name replaced by `database` (query string kept).
fn with_database(url: &str, database: &str) -> Result<String> {
    let scheme_end = url.find("://").context("postgres URL without ://")? + 3;
    let (head, rest) = url.split_at(scheme_end);
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let query = path.find('?').map(|i| &path[i..]).unwrap_or("");
    Ok(format!("{head}{authority}/{database}{query}"))
}

async fn setup(backend: Backend, test: &str) -> Result<Option<(SqlStore, String, Guard)>> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}", dir.path().join("esteira.db").display());
            let store = SqlStore::open(&url)
                .await
                .with_context(|| format!("opening {url}"))?;
            Ok(Some((store, url, Guard::Sqlite(dir))))
        }
        Backend::Postgres => {
            let Ok(admin_url) = std::env::var(PG_ENV) else {
                if services_required() {
                    bail!(
                        "{PG_ENV} is not set but CI=true or ESTEIRA_REQUIRE_SERVICES=1: PostgreSQL is required"
                    );
                }
                // Straight to the process's stderr (not `eprintln!`, which the test harness
                // captures and hides for passing tests), once per run.
                static BANNER: std::sync::Once = std::sync::Once::new();
                BANNER.call_once(|| {
                    use std::io::Write;
                    let _ = writeln!(
                        std::io::stderr(),
                        "\n******** conformance: PostgreSQL tests skipped: PostgreSQL not configured \
                         (set {PG_ENV}=postgres://USER@HOST:PORT/DB; CI=true or \
                         ESTEIRA_REQUIRE_SERVICES=1 makes this a failure) ********\n"
                    );
                });
                println!("{test}: skipped: PostgreSQL not configured");
                return Ok(None);
            };
            let database = format!("esteira_c_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::PgConnection::connect(&admin_url)
                .await
                .with_context(|| format!("connecting to {PG_ENV}={admin_url}"))?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
                .execute(&mut admin)
                .await
                .with_context(|| format!("CREATE DATABASE {database}"))?;
            admin.close().await?;
            let url = with_database(&admin_url, &database)?;
            let store = SqlStore::open(&url)
                .await
                .with_context(|| format!("opening {url}"))?;
            Ok(Some((
                store,
                url,
                Guard::Postgres {
                    admin_url,
                    database,
                },
            )))
        }
    }
}

async fn teardown(store: SqlStore, guard: Guard) {
    store.close().await;
    match guard {
        Guard::Sqlite(dir) => drop(dir),
        Guard::Postgres {
            admin_url,
            database,
        } => {
            let dropped = async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await?;
                admin.close().await
            };
            if let Err(e) = dropped.await {
                eprintln!("warning: could not drop test database {database}: {e}");
            }
        }
    }
}

/// Runs one conformance test on one back end: a fresh store, the test in its own task (so
/// that a failed assertion still lets the database be dropped), then clean-up.
pub async fn run<F, Fut>(backend: Backend, test: &str, body: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let Some((store, url, guard)) = setup(backend, test)
        .await
        .unwrap_or_else(|e| panic!("{test} on {backend:?}: setup failed: {e:#}"))
    else {
        return;
    };
    let ctx = Ctx {
        store: Arc::new(store.clone()),
        url,
    };
    let outcome = tokio::spawn(body(ctx)).await;
    teardown(store, guard).await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{test} on {backend:?}: {e:#}"),
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(join) => panic!("{test} on {backend:?}: {join}"),
    }
}

// ---------------------------------------------------------------------------------------
// Helpers shared by the tests
// ---------------------------------------------------------------------------------------

/// Asserts that `res` failed with `code`; returns the message.
#[track_caller]
pub fn expect_code<T: std::fmt::Debug>(res: esteira_store::Result<T>, code: ErrorCode) -> String {
    match res {
        Ok(v) => panic!("expected {code}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.code(), code, "wrong error code; message: {}", e.message());
            e.message()
        }
    }
}

pub fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.into(),
        value: value.into(),
    }
}

pub fn metric(key: &str, value: f64, timestamp: i64, step: i64) -> Metric {
    Metric {
        key: key.into(),
        value,
        timestamp,
        step,
        dataset_name: None,
        dataset_digest: None,
        model_id: None,
        run_id: None,
    }
}

pub fn paging(max_results: i64) -> Paging {
    Paging {
        max_results,
        page_token: None,
    }
}

pub fn page_after(max_results: i64, token: &Option<String>) -> Paging {
    Paging {
        max_results,
        page_token: token.clone(),
    }
}

/// The value of `key` among `tags`, if any.
pub fn tag_value<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key == key).map(|t| t.value.as_str())
}

/// Creates an experiment with a default artifact location.
pub async fn experiment(s: &dyn MetadataStore, name: &str) -> Result<String> {
    Ok(s.create_experiment(NewExperiment {
        name: name.into(),
        ..Default::default()
    })
    .await?)
}

/// Creates a run named `name` started at `start_time`; returns its id.
pub async fn run_named(
    s: &dyn MetadataStore,
    experiment_id: &str,
    name: &str,
    start_time: i64,
) -> Result<String> {
    Ok(s.create_run(NewRun {
        experiment_id: experiment_id.into(),
        user_id: "tester".into(),
        run_name: Some(name.into()),
        start_time: Some(start_time),
        tags: vec![],
    })
    .await?
    .info
    .run_id)
}

pub fn run_query(experiment_ids: &[&str], filter: &str) -> RunQuery {
    RunQuery {
        experiment_ids: experiment_ids.iter().map(|s| s.to_string()).collect(),
        filter: (!filter.is_empty()).then(|| filter.to_string()),
        view_type: ViewType::ActiveOnly,
        order_by: vec![],
        paging: paging(1000),
    }
}

/// The run ids a search returns, in order (one page of up to 1000).
pub async fn search_run_ids(s: &dyn MetadataStore, query: RunQuery) -> Result<Vec<String>> {
    let page = s.search_runs(&query).await?;
    if page.next_page_token.is_some() {
        return Err(anyhow!("unexpected second page"));
    }
    Ok(page.items.into_iter().map(|r| r.info.run_id).collect())
}

/// Run ids of a search with `filter` in `experiment_ids`.
pub async fn filter_runs(
    s: &dyn MetadataStore,
    experiment_ids: &[&str],
    filter: &str,
) -> Result<Vec<String>> {
    search_run_ids(s, run_query(experiment_ids, filter)).await
}

pub fn experiment_query(filter: &str, order_by: &[&str], view_type: ViewType) -> ExperimentQuery {
    ExperimentQuery {
        view_type,
        filter: (!filter.is_empty()).then(|| filter.to_string()),
        order_by: order_by.iter().map(|s| s.to_string()).collect(),
        paging: paging(1000),
    }
}

pub fn registry_query(filter: &str, order_by: &[&str]) -> RegistryQuery {
    RegistryQuery {
        filter: (!filter.is_empty()).then(|| filter.to_string()),
        order_by: order_by.iter().map(|s| s.to_string()).collect(),
        paging: paging(1000),
    }
}

/// Walks every page of a search, `fetch` given each page's paging; asserts the last page
/// has no token and returns all items.
pub async fn all_pages<T, F, Fut>(max_results: i64, mut fetch: F) -> Result<Vec<T>>
where
    F: FnMut(Paging) -> Fut,
    Fut: Future<Output = esteira_store::Result<Page<T>>>,
{
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..1000 {
        let page = fetch(page_after(max_results, &token)).await?;
        assert!(
            page.items.len() as i64 <= max_results,
            "a page holds more than max_results items"
        );
        let done = page.next_page_token.is_none();
        if !done {
            assert_eq!(
                page.items.len() as i64,
                max_results,
                "a page before the last is not full"
            );
        }
        items.extend(page.items);
        if done {
            return Ok(items);
        }
        token = page.next_page_token;
    }
    bail!("paging did not end after 1000 pages")
}

/// Sleeps long enough for the store's millisecond clock to move on.
pub async fn tick() {
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_names_are_replaced() {
        assert_eq!(
            super::with_database("postgres://u@h:1/esteira_test", "x").unwrap(),
            "postgres://u@h:1/x"
        );
        assert_eq!(
            super::with_database("postgres://u:p@h:1/db?sslmode=disable", "x").unwrap(),
            "postgres://u:p@h:1/x?sslmode=disable"
        );
        assert_eq!(
            super::with_database("postgresql://h", "x").unwrap(),
            "postgresql://h/x"
        );
    }
}
