//! Versioned migrations, embedded in the binary and applied in order on open.

use sqlx::Row;

use super::{Dialect, SqlStore, now_ms};
use crate::error::{Error, Result};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sqlite: include_str!("../../migrations/sqlite/0001_initial.sql"),
        postgres: include_str!("../../migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "pipelines",
        sqlite: include_str!("../../migrations/sqlite/0002_pipelines.sql"),
        postgres: include_str!("../../migrations/postgres/0002_pipelines.sql"),
    },
    Migration {
        version: 3,
        name: "endpoints",
        sqlite: include_str!("../../migrations/sqlite/0003_endpoints.sql"),
        postgres: include_str!("../../migrations/postgres/0003_endpoints.sql"),
    },
    Migration {
        version: 4,
        name: "predictions",
        sqlite: include_str!("../../migrations/sqlite/0004_predictions.sql"),
        postgres: include_str!("../../migrations/postgres/0004_predictions.sql"),
    },
    Migration {
        version: 5,
        name: "monitors",
        sqlite: include_str!("../../migrations/sqlite/0005_monitors.sql"),
        postgres: include_str!("../../migrations/postgres/0005_monitors.sql"),
    },
];

/// The newest schema version this build knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Applies every migration newer than the database's version, each in its own transaction.
/// On PostgreSQL an advisory lock serialises replicas starting at the same time.
pub(super) async fn apply(store: &SqlStore) -> Result<()> {
    let mut tx = store.begin().await?;
    if store.dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(7311245)")
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS esteira_migrations (
            version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM esteira_migrations")
        .fetch_one(&mut *tx)
        .await?
        .try_get("v")?;
    if current > latest_version() {
        return Err(Error::Migration {
            version: current,
            name: "unknown".into(),
            cause: sqlx::Error::Protocol(format!(
                "the database is at schema version {current}, newer than this build's {}; upgrade Esteira",
                latest_version()
            )),
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let sql = match store.dialect {
            Dialect::Sqlite => m.sqlite,
            Dialect::Postgres => m.postgres,
        };
        let failed = |cause| Error::Migration {
            version: m.version,
            name: m.name.to_string(),
            cause,
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        sqlx::query(
            "INSERT INTO esteira_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
    }
    tx.commit().await?;
    Ok(())
}
