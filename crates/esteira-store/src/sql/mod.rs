//! [`SqlStore`]: the metadata store on SQLite or PostgreSQL through sqlx's `Any` driver.
//!
//! One body of SQL serves both databases: placeholders are `$N` (SQLite accepts them), types
//! are `BIGINT`, `DOUBLE PRECISION` and `TEXT`, upserts use `ON CONFLICT`. What differs goes
//! through [`Dialect`]: how a write transaction begins, how `LIKE`/`ILIKE` are spelled, and
//! which folder of migrations applies. On SQLite all writes go through one connection (one
//! writer, many readers, WAL); on PostgreSQL both pools are the same pool.

mod batcher;
mod endpoints;
mod experiments;
mod logged_models;
mod migrate;
mod monitors;
mod pipelines;
mod predictions;
mod registry;
mod runs;
mod search;
mod store_impl;

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::Connection;
use sqlx::any::{AnyArguments, AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, AssertSqlSafe, Row, Transaction};

use esteira_core::entities::Tag;
use esteira_core::page;

use crate::error::{Error, Result, not_found};
use crate::{Page, Paging};

/// The SQL dialect of the connected database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3.35 or newer.
    Sqlite,
    /// PostgreSQL 12 or newer.
    Postgres,
}

impl Dialect {
    fn begin_write(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        }
    }

    /// `column LIKE pattern`, case-sensitive on both databases (SQLite's LIKE is not, so
    /// SQLite gets `GLOB` and the pattern goes through [`Dialect::like_pattern`]).
    fn like(self, column: &str, placeholder: &str) -> String {
        match self {
            Dialect::Sqlite => format!("{column} GLOB {placeholder}"),
            Dialect::Postgres => format!("{column} LIKE {placeholder}"),
        }
    }

    /// An aggregate turning the rows of a query into one JSON text, an array of arrays of
    /// `columns` (one round trip instead of one hand-off per row), `[]` for no rows.
    fn json_rows(self, columns: &[&str]) -> String {
        self.json_rows_ordered(columns, "")
    }

    /// [`Dialect::json_rows`] with the array in the order of `order_by` (empty: any order).
    fn json_rows_ordered(self, columns: &[&str], order_by: &str) -> String {
        let columns = columns.join(", ");
        let order = if order_by.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {order_by}")
        };
        match self {
            Dialect::Sqlite => format!("json_group_array(json_array({columns}){order})"),
            Dialect::Postgres => {
                format!("COALESCE(json_agg(json_build_array({columns}){order}), '[]'::json)::text")
            }
        }
    }

    /// The bind value for a `LIKE` pattern in this dialect.
    fn like_pattern(self, pattern: &str) -> String {
        match self {
            Dialect::Sqlite => like_to_glob(pattern),
            Dialect::Postgres => pattern.to_string(),
        }
    }

    /// `column ILIKE pattern`.
    fn ilike(self, column: &str, placeholder: &str) -> String {
        match self {
            Dialect::Sqlite => format!("LOWER({column}) LIKE LOWER({placeholder})"),
            Dialect::Postgres => format!("{column} ILIKE {placeholder}"),
        }
    }
}

/// Translates a SQL `LIKE` pattern (`%`, `_`) into an equivalent `GLOB` pattern.
fn like_to_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    for c in pattern.chars() {
        match c {
            '%' => out.push('*'),
            '_' => out.push('?'),
            '*' => out.push_str("[*]"),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            other => out.push(other),
        }
    }
    out
}

/// A bind value of a dynamically built query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
    Float(f64),
    Null,
}

/// The metadata store on SQLite or PostgreSQL.
#[derive(Clone)]
pub struct SqlStore {
    dialect: Dialect,
    reader: AnyPool,
    writer: AnyPool,
    batcher: std::sync::Arc<batcher::Batcher>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("dialect", &self.dialect)
            .finish()
    }
}

impl SqlStore {
    /// Opens the store at `url` and applies pending migrations.
    ///
    /// URLs: `sqlite:///abs/path.db`, `sqlite://rel/path.db`, `sqlite:path.db` (the file is
    /// created when missing), `postgres://user:pass@host:port/db` or `postgresql://...`.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for another scheme; [`Error::Database`] when the database cannot
    /// be reached; [`Error::Migration`] when a migration fails (nothing of it is applied).
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let store = if url.starts_with("sqlite:") {
            Self::open_sqlite(url).await?
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            probe(&AnyConnectOptions::from_str(url)?, "SELECT 1").await?;
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(30))
                .connect(url)
                .await?;
            SqlStore::new(Dialect::Postgres, pool.clone(), pool)
        } else {
            return Err(Error::InvalidUrl {
                url: url.to_string(),
                reason: "expected sqlite:PATH or postgres://...".to_string(),
            });
        };
        migrate::apply(&store).await?;
        Ok(store)
    }

    fn new(dialect: Dialect, reader: AnyPool, writer: AnyPool) -> Self {
        let batcher = std::sync::Arc::new(batcher::Batcher::start(dialect, writer.clone()));
        SqlStore {
            dialect,
            reader,
            writer,
            batcher,
        }
    }

    async fn open_sqlite(url: &str) -> Result<Self> {
        let path = url
            .trim_start_matches("sqlite:")
            .trim_start_matches("//")
            .split('?')
            .next()
            .unwrap_or_default();
        if path.is_empty() || path.contains(":memory:") {
            return Err(Error::InvalidUrl {
                url: url.to_string(),
                reason: "a SQLite store needs a file path".to_string(),
            });
        }
        let file = std::path::Path::new(path);
        if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::InvalidUrl {
                url: url.to_string(),
                reason: format!("cannot create {}: {e}", parent.display()),
            })?;
        }
        let connect_url = format!("sqlite://{path}?mode=rwc");
        let options = AnyConnectOptions::from_str(&connect_url)?;
        probe(&options, SQLITE_PRAGMAS).await?;
        let pool = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::raw_sql(SQLITE_PRAGMAS).execute(&mut *conn).await?;
                        Ok(())
                    })
                })
        };
        let writer = pool(1).connect_with(options.clone()).await?;
        let reader = pool(4).connect_with(options).await?;
        Ok(SqlStore::new(Dialect::Sqlite, reader, writer))
    }

    /// The dialect of the connected database.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Closes both pools, waiting for checked-out connections to return.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    async fn begin(&self) -> Result<Transaction<'static, Any>> {
        Ok(self.writer.begin_with(self.dialect.begin_write()).await?)
    }
}

/// Settings of every SQLite connection: WAL (readers never block the writer), commits that
/// survive a killed process, a wait instead of an error when the file is locked, and
/// enforced foreign keys.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                              PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;";

/// Opens one connection and runs `sql` on it, so that an unreachable server or a file that
/// is not a database fails at once with its real cause (a pool would retry until its
/// timeout and report only that).
async fn probe(options: &AnyConnectOptions, sql: &'static str) -> Result<()> {
    let mut conn = sqlx::AnyConnection::connect_with(options).await?;
    sqlx::raw_sql(sql).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// A query from a dynamically built SQL string.
pub(crate) fn dyn_query<'a>(sql: String) -> Query<'a, Any, AnyArguments> {
    sqlx::query(AssertSqlSafe(sql))
}

/// Binds values in order.
pub(crate) fn bind_all<'a>(
    mut q: Query<'a, Any, AnyArguments>,
    binds: &'a [Bind],
) -> Query<'a, Any, AnyArguments> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s.as_str()),
            Bind::Int(i) => q.bind(*i),
            Bind::Float(f) => q.bind(*f),
            Bind::Null => q.bind(None::<String>),
        };
    }
    q
}

/// Most binds in one multi-row INSERT (well under SQLite's and PostgreSQL's limits).
const MAX_BINDS_PER_INSERT: usize = 900;

/// Inserts `rows` (each one bind per column) with multi-row `VALUES`, in chunks; `tail`
/// follows the values (an `ON CONFLICT` clause, or empty).
pub(crate) async fn insert_rows(
    tx: &mut Transaction<'static, Any>,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<Bind>>,
    tail: &str,
) -> Result<()> {
    let width = columns.len();
    let per_chunk = (MAX_BINDS_PER_INSERT / width.max(1)).max(1);
    // SQLite looks a named parameter (`$N`) up by a linear scan of all names, and sqlx does
    // that for every parameter: quadratic for a large INSERT. Anonymous `?` parameters bind
    // in order with no lookup.
    let anonymous = tx.backend_name() == "SQLite";
    let row_placeholders = |start: usize| {
        if anonymous {
            vec!["?"; width].join(", ")
        } else {
            placeholders(start, width)
        }
    };
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut binds = Vec::with_capacity(per_chunk * width);
        let mut values = Vec::with_capacity(per_chunk);
        for row in rows.by_ref().take(per_chunk) {
            values.push(format!("({})", row_placeholders(binds.len() + 1)));
            binds.extend(row);
        }
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES {} {tail}",
            columns.join(", "),
            values.join(", ")
        );
        bind_all(dyn_query(sql), &binds).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Upserts key/value pairs (tags) owned by the row whose key columns are `owner_columns`
/// with values `owner`: the last value of a key wins, also within `pairs`.
pub(crate) async fn upsert_key_values(
    tx: &mut Transaction<'static, Any>,
    table: &str,
    owner_columns: &[&str],
    owner: &[Bind],
    pairs: &[Tag],
) -> Result<()> {
    let mut last: HashMap<&str, &str> = HashMap::with_capacity(pairs.len());
    for pair in pairs {
        last.insert(pair.key.as_str(), pair.value.as_str());
    }
    let rows = last
        .into_iter()
        .map(|(key, value)| {
            let mut row = owner.to_vec();
            row.push(Bind::Text(key.to_string()));
            row.push(Bind::Text(value.to_string()));
            row
        })
        .collect();
    let mut columns = owner_columns.to_vec();
    columns.extend(["key", "value"]);
    let tail = format!(
        "ON CONFLICT ({}, key) DO UPDATE SET value = excluded.value",
        owner_columns.join(", ")
    );
    insert_rows(tx, table, &columns, rows, &tail).await
}

impl SqlStore {
    /// Runs a search: `base` completed by `search` with the page window of `paging`, each
    /// row mapped by `map`, and the token of the next page.
    pub(crate) async fn search_page<T>(
        &self,
        search: &search::SqlSearch,
        base: &str,
        binds: &[Bind],
        paging: &Paging,
        map: impl Fn(&AnyRow) -> Result<T>,
    ) -> Result<Page<T>> {
        let offset = page::decode(paging.page_token.as_deref())?;
        let sql = search.select(base, paging.max_results + 1, offset);
        let rows = bind_all(dyn_query(sql), binds)
            .fetch_all(&self.reader)
            .await?;
        let items = rows.iter().map(map).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, paging, offset))
    }

    /// Runs `sql`, whose one row has one column `rows` made by [`Dialect::json_rows`], and
    /// parses that JSON array of arrays into `T`s.
    pub(crate) async fn json_query<T: serde::de::DeserializeOwned>(
        &self,
        sql: String,
        binds: &[Bind],
    ) -> Result<Vec<T>> {
        let row = bind_all(dyn_query(sql), binds)
            .fetch_one(&self.reader)
            .await?;
        let json: Option<String> = row.try_get("rows")?;
        serde_json::from_str(json.as_deref().unwrap_or("[]")).map_err(|e| {
            Error::Domain(esteira_core::Error::internal(format!(
                "unreadable aggregated rows: {e}"
            )))
        })
    }
}

/// A page of `items` fetched with one look-ahead item beyond `paging.max_results` from
/// `offset`: the look-ahead is dropped and becomes the next page's token.
pub(crate) fn page_of<T>(mut items: Vec<T>, paging: &Paging, offset: u64) -> Page<T> {
    let max = usize::try_from(paging.max_results).unwrap_or(usize::MAX);
    let next_page_token = (items.len() > max).then(|| {
        items.truncate(max);
        page::encode(offset + max as u64)
    });
    Page {
        items,
        next_page_token,
    }
}

/// `$start, $start+1, ...` for `n` values.
pub(crate) fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads a text column that may be NULL as an empty string.
pub(crate) fn text(row: &AnyRow, col: &str) -> Result<String> {
    Ok(row.try_get::<Option<String>, _>(col)?.unwrap_or_default())
}

/// Parses an experiment id given by a client.
pub(crate) fn experiment_id(id: &str) -> Result<i64> {
    id.trim().parse::<i64>().map_err(|_| {
        crate::error::invalid(format!(
            "Invalid value {id:?} for parameter 'experiment_id': must be an integer"
        ))
    })
}

/// Maps "no row" from a lookup to `RESOURCE_DOES_NOT_EXIST` with the given message.
pub(crate) fn found<T>(row: Option<T>, what: impl FnOnce() -> String) -> Result<T> {
    row.ok_or_else(|| not_found(what()))
}

/// True when the database error is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_become_globs() {
        assert_eq!(like_to_glob("a%b_c"), "a*b?c");
        assert_eq!(like_to_glob("x*y?[z]"), "x[*]y[?][[]z]");
    }
}
