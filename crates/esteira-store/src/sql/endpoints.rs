//! [`EndpointStore`] on SQLite and PostgreSQL.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{SqlStore, found, now_ms};
use crate::Result;
use crate::endpoints::{EndpointRecord, EndpointStore};

fn endpoint_from_row(row: &AnyRow) -> Result<EndpointRecord> {
    Ok(EndpointRecord {
        name: row.try_get("name")?,
        spec: row.try_get("spec")?,
        created_time: row.try_get("created_time")?,
        updated_time: row.try_get("updated_time")?,
    })
}

#[async_trait]
impl EndpointStore for SqlStore {
    async fn put_endpoint(&self, name: &str, spec: &str) -> Result<EndpointRecord> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO serving_endpoints (name, spec, created_time, updated_time) VALUES ($1, $2, $3, $3)
             ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_time = excluded.updated_time",
        )
        .bind(name)
        .bind(spec)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.get_endpoint(name).await
    }

    async fn get_endpoint(&self, name: &str) -> Result<EndpointRecord> {
        let row = sqlx::query(
            "SELECT name, spec, created_time, updated_time FROM serving_endpoints WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.writer)
        .await?;
        endpoint_from_row(&found(row, || {
            format!("Endpoint '{name}' does not exist.")
        })?)
    }

    async fn list_endpoints(&self) -> Result<Vec<EndpointRecord>> {
        sqlx::query(
            "SELECT name, spec, created_time, updated_time FROM serving_endpoints ORDER BY name",
        )
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(endpoint_from_row)
        .collect()
    }

    async fn delete_endpoint(&self, name: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM serving_endpoints WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        found((deleted > 0).then_some(()), || {
            format!("Endpoint '{name}' does not exist.")
        })
    }
}
