//! [`SqlStore`]: the metadata store on SQLite or PostgreSQL through sqlx's `Any` driver.
//!
//! One body of SQL serves both databases: placeholders are `$N` (SQLite accepts them), types
//! are `BIGINT`, `DOUBLE PRECISION` and `TEXT`, upserts use `ON CONFLICT`. What differs goes
//! through [`Dialect`]: how a write transaction begins, how `LIKE`/`ILIKE` are spelled, and
//! which folder of migrations applies. On SQLite all writes go through one connection (one
//! writer, many readers, WAL); on PostgreSQL both pools are the same pool.

mod experiments;
mod logged_models;
mod migrate;
mod registry;
mod runs;
mod search;
mod store_impl;

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, AssertSqlSafe, Row, Transaction};

use crate::error::{Error, Result, not_found};

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
}

/// The metadata store on SQLite or PostgreSQL.
#[derive(Clone)]
pub struct SqlStore {
    dialect: Dialect,
    reader: AnyPool,
    writer: AnyPool,
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
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(30))
                .connect(url)
                .await?;
            SqlStore {
                dialect: Dialect::Postgres,
                reader: pool.clone(),
                writer: pool,
            }
        } else {
            return Err(Error::InvalidUrl {
                url: url.to_string(),
                reason: "expected sqlite:PATH or postgres://...".to_string(),
            });
        };
        migrate::apply(&store).await?;
        Ok(store)
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
        let options = sqlx::any::AnyConnectOptions::from_str(&connect_url)?;
        let pool = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::raw_sql(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                        )
                        .execute(&mut *conn)
                        .await?;
                        Ok(())
                    })
                })
        };
        let writer = pool(1).connect_with(options.clone()).await?;
        let reader = pool(4).connect_with(options).await?;
        Ok(SqlStore {
            dialect: Dialect::Sqlite,
            reader,
            writer,
        })
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
        };
    }
    q
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
