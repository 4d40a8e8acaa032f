//! [`PredictionStore`] on SQLite and PostgreSQL.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Bind, SqlStore, insert_rows, now_ms};
use crate::Result;
use crate::error::{Error, invalid};
use crate::predictions::{GroundTruth, PredictionFile, PredictionStore};

fn file_from_row(row: &AnyRow) -> Result<PredictionFile> {
    Ok(PredictionFile {
        endpoint: row.try_get("endpoint")?,
        path: row.try_get("path")?,
        rows: row.try_get("row_count")?,
        first_time: row.try_get("first_time")?,
        last_time: row.try_get("last_time")?,
    })
}

fn ground_truth_from_row(row: &AnyRow) -> Result<GroundTruth> {
    let value: String = row.try_get("value")?;
    Ok(GroundTruth {
        endpoint: row.try_get("endpoint")?,
        request_id: row.try_get("request_id")?,
        series: row.try_get("series")?,
        time: row.try_get("series_time")?,
        value: serde_json::from_str(&value).map_err(|e| {
            Error::Domain(esteira_core::Error::internal(format!(
                "stored ground truth value {value:?} is not JSON: {e}"
            )))
        })?,
        received_ms: row.try_get("received_ms")?,
    })
}

fn optional_text(value: &Option<String>) -> Bind {
    value.clone().map_or(Bind::Null, Bind::Text)
}

#[async_trait]
impl PredictionStore for SqlStore {
    async fn add_prediction_file(&self, file: &PredictionFile) -> Result<()> {
        file.validate()?;
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO prediction_files (path, endpoint, row_count, first_time, last_time, created_time)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (path) DO NOTHING",
        )
        .bind(&file.path)
        .bind(&file.endpoint)
        .bind(file.rows)
        .bind(file.first_time)
        .bind(file.last_time)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_prediction_files(
        &self,
        endpoint: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<PredictionFile>> {
        sqlx::query(
            "SELECT endpoint, path, row_count, first_time, last_time FROM prediction_files
             WHERE endpoint = $1 AND first_time < $2 AND last_time >= $3
             ORDER BY first_time, path",
        )
        .bind(endpoint)
        .bind(to_ms)
        .bind(from_ms)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(file_from_row)
        .collect()
    }

    async fn add_ground_truth(&self, records: &[GroundTruth]) -> Result<()> {
        for (i, record) in records.iter().enumerate() {
            record
                .validate()
                .map_err(|e| invalid(format!("records[{i}]: {}", e.message())))?;
        }
        let rows = records
            .iter()
            .map(|r| {
                vec![
                    Bind::Text(r.endpoint.clone()),
                    optional_text(&r.request_id),
                    optional_text(&r.series),
                    optional_text(&r.time),
                    Bind::Text(r.value.to_string()),
                    Bind::Int(r.received_ms),
                ]
            })
            .collect();
        let mut tx = self.begin().await?;
        insert_rows(
            &mut tx,
            "ground_truth",
            &[
                "endpoint",
                "request_id",
                "series",
                "series_time",
                "value",
                "received_ms",
            ],
            rows,
            "",
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_ground_truth(
        &self,
        endpoint: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<GroundTruth>> {
        sqlx::query(
            "SELECT endpoint, request_id, series, series_time, value, received_ms FROM ground_truth
             WHERE endpoint = $1 AND received_ms >= $2 AND received_ms < $3
             ORDER BY received_ms, id",
        )
        .bind(endpoint)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(ground_truth_from_row)
        .collect()
    }
}
