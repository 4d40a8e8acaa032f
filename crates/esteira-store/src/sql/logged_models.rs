//! MLflow 3 logged models: created by `log_model` before its files upload, then finalized.

use esteira_core::entities::{
    LifecycleStage, LoggedModel, LoggedModelData, LoggedModelInfo, LoggedModelStatus, Metric,
    Param, Registration, Tag,
};
use esteira_core::validation;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::runs::insert_params;
use super::{Bind, SqlStore, dyn_query, found, now_ms, placeholders, text, upsert_key_values};
use crate::error::{Result, invalid, not_found};
use crate::{LoggedModelQuery, NewLoggedModel, Page};

const MODEL_COLUMNS: &str = "lm.model_id, lm.experiment_id, lm.name, lm.artifact_location, lm.creation_time, \
    lm.last_updated_time, lm.status, lm.model_type, lm.source_run_id, lm.status_message";

fn info_from_row(row: &AnyRow) -> Result<LoggedModelInfo> {
    Ok(LoggedModelInfo {
        model_id: row.try_get("model_id")?,
        experiment_id: row.try_get::<i64, _>("experiment_id")?.to_string(),
        name: text(row, "name")?,
        creation_timestamp_ms: row.try_get("creation_time")?,
        last_updated_timestamp_ms: row.try_get("last_updated_time")?,
        artifact_uri: text(row, "artifact_location")?,
        status: LoggedModelStatus::parse(&row.try_get::<String, _>("status")?)?,
        model_type: row.try_get("model_type")?,
        source_run_id: row.try_get("source_run_id")?,
        status_message: row.try_get("status_message")?,
        tags: Vec::new(),
        registrations: Vec::new(),
    })
}

fn missing(model_id: &str) -> String {
    format!("Logged model with ID '{model_id}' not found.")
}

impl SqlStore {
    async fn active_logged_model_exists(&self, model_id: &str) -> Result<()> {
        let row = sqlx::query("SELECT lifecycle_stage FROM logged_models WHERE model_id = $1")
            .bind(model_id)
            .fetch_optional(&self.reader)
            .await?;
        let stage: String = found(row, || missing(model_id))?.try_get("lifecycle_stage")?;
        if stage != LifecycleStage::Active.as_str() {
            return Err(not_found(missing(model_id)));
        }
        Ok(())
    }

    async fn complete_logged_model(&self, info: LoggedModelInfo) -> Result<LoggedModel> {
        let id = info.model_id.clone();
        let pairs = |sql: &'static str| {
            let id = id.clone();
            async move {
                sqlx::query(sql)
                    .bind(id)
                    .fetch_all(&self.reader)
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(Tag {
                            key: r.try_get("key")?,
                            value: r.try_get("value")?,
                        })
                    })
                    .collect::<Result<Vec<Tag>>>()
            }
        };
        let tags =
            pairs("SELECT key, value FROM logged_model_tags WHERE model_id = $1 ORDER BY key")
                .await?;
        let params: Vec<Param> =
            pairs("SELECT key, value FROM logged_model_params WHERE model_id = $1 ORDER BY key")
                .await?;
        let metrics = sqlx::query(
            "SELECT run_uuid, key, value, is_nan, timestamp, step, dataset_name, dataset_digest FROM metrics
             WHERE model_id = $1 ORDER BY key, step, timestamp",
        )
        .bind(id.as_str())
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(|r| {
            let nan: i64 = r.try_get("is_nan")?;
            Ok(Metric {
                key: r.try_get("key")?,
                value: if nan != 0 { f64::NAN } else { r.try_get("value")? },
                timestamp: r.try_get("timestamp")?,
                step: r.try_get("step")?,
                dataset_name: r.try_get("dataset_name")?,
                dataset_digest: r.try_get("dataset_digest")?,
                model_id: Some(id.clone()),
                run_id: Some(r.try_get("run_uuid")?),
            })
        })
        .collect::<Result<Vec<_>>>()?;
        let registrations = sqlx::query(
            "SELECT name, version FROM model_versions WHERE model_id = $1 ORDER BY name, version",
        )
        .bind(id.as_str())
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(|r| {
            Ok(Registration {
                name: r.try_get("name")?,
                version: r.try_get::<i64, _>("version")?.to_string(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
        Ok(LoggedModel {
            info: LoggedModelInfo {
                tags,
                registrations,
                ..info
            },
            data: LoggedModelData { params, metrics },
        })
    }

    pub(crate) async fn create_logged_model(&self, new: NewLoggedModel) -> Result<LoggedModel> {
        let experiment_id = super::experiment_id(&new.experiment_id)?;
        let experiment = self.require_active_experiment(experiment_id).await?;
        new.params.iter().try_for_each(validation::param)?;
        new.tags.iter().try_for_each(validation::run_tag)?;
        let hex = uuid::Uuid::new_v4().simple().to_string();
        let model_id = format!("m-{hex}");
        let name = new
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("model-{}", &hex[..8]));
        let artifact_location = format!(
            "{}/models/{model_id}/artifacts",
            experiment.artifact_location.trim_end_matches('/')
        );
        let mut tx = self.begin().await?;
        let now = now_ms();
        sqlx::query(
            "INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, creation_time,
                                        last_updated_time, status, lifecycle_stage, model_type, source_run_id)
             VALUES ($1, $2, $3, $4, $5, $5, 'LOGGED_MODEL_PENDING', 'active', $6, $7)",
        )
        .bind(model_id.as_str())
        .bind(experiment_id)
        .bind(name.as_str())
        .bind(artifact_location.as_str())
        .bind(now)
        .bind(new.model_type.as_deref())
        .bind(new.source_run_id.as_deref().filter(|s| !s.is_empty()))
        .execute(&mut *tx)
        .await?;
        insert_params(
            &mut tx,
            "logged_model_params",
            "model_id",
            &model_id,
            &new.params,
            "model ID",
        )
        .await?;
        let owner = [Bind::Text(model_id.clone())];
        upsert_key_values(
            &mut tx,
            "logged_model_tags",
            &["model_id"],
            &owner,
            &new.tags,
        )
        .await?;
        tx.commit().await?;
        self.get_logged_model(&model_id).await
    }

    pub(crate) async fn get_logged_model(&self, model_id: &str) -> Result<LoggedModel> {
        let row = dyn_query(format!(
            "SELECT {MODEL_COLUMNS} FROM logged_models lm WHERE lm.model_id = $1 AND lm.lifecycle_stage = 'active'"
        ))
        .bind(model_id)
        .fetch_optional(&self.reader)
        .await?;
        let info = info_from_row(&found(row, || missing(model_id))?)?;
        self.complete_logged_model(info).await
    }

    pub(crate) async fn finalize_logged_model(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
    ) -> Result<LoggedModel> {
        self.active_logged_model_exists(model_id).await?;
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE logged_models SET status = $1, last_updated_time = $2 WHERE model_id = $3",
        )
        .bind(status.as_str())
        .bind(now_ms())
        .bind(model_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.get_logged_model(model_id).await
    }

    pub(crate) async fn delete_logged_model(&self, model_id: &str) -> Result<()> {
        self.active_logged_model_exists(model_id).await?;
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE logged_models SET lifecycle_stage = 'deleted', last_updated_time = $1 WHERE model_id = $2")
            .bind(now_ms())
            .bind(model_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn set_logged_model_tags(&self, model_id: &str, tags: &[Tag]) -> Result<()> {
        tags.iter().try_for_each(validation::run_tag)?;
        self.active_logged_model_exists(model_id).await?;
        let mut tx = self.begin().await?;
        let owner = [Bind::Text(model_id.to_string())];
        upsert_key_values(&mut tx, "logged_model_tags", &["model_id"], &owner, tags).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()> {
        self.active_logged_model_exists(model_id).await?;
        let mut tx = self.begin().await?;
        let res = sqlx::query("DELETE FROM logged_model_tags WHERE model_id = $1 AND key = $2")
            .bind(model_id)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        if res.rows_affected() == 0 {
            return Err(not_found(format!(
                "No tag with key {key:?} on logged model {model_id}"
            )));
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn log_logged_model_params(
        &self,
        model_id: &str,
        params: &[Param],
    ) -> Result<()> {
        params.iter().try_for_each(validation::param)?;
        self.active_logged_model_exists(model_id).await?;
        let mut tx = self.begin().await?;
        insert_params(
            &mut tx,
            "logged_model_params",
            "model_id",
            model_id,
            params,
            "model ID",
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn search_logged_models(
        &self,
        query: &LoggedModelQuery,
    ) -> Result<Page<LoggedModel>> {
        let ids = query
            .experiment_ids
            .iter()
            .map(|id| super::experiment_id(id))
            .collect::<Result<Vec<_>>>()?;
        if ids.is_empty() {
            return Err(invalid(
                "Missing value for required parameter 'experiment_ids'.",
            ));
        }
        let mut binds: Vec<Bind> = ids.iter().map(|i| Bind::Int(*i)).collect();
        let base = format!(
            "SELECT {MODEL_COLUMNS} FROM logged_models lm {{joins}} WHERE lm.lifecycle_stage = 'active' AND lm.experiment_id IN ({})",
            placeholders(1, ids.len())
        );
        let search = super::search::logged_models(
            self.dialect,
            query.filter.as_deref(),
            &query.order_by,
            &mut binds,
        )?;
        let page = self
            .search_page(&search, &base, &binds, &query.paging, info_from_row)
            .await?;
        let next_page_token = page.next_page_token;
        let mut items = Vec::with_capacity(page.items.len());
        for info in page.items {
            items.push(self.complete_logged_model(info).await?);
        }
        Ok(Page {
            items,
            next_page_token,
        })
    }
}
