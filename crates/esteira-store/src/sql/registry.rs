//! The model registry: registered models, versions, stages, tags and aliases.

use std::collections::HashMap;

use esteira_core::entities::{Alias, ModelVersion, RegisteredModel, Stage, Tag};
use esteira_core::validation;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    Bind, SqlStore, bind_all, dyn_query, found, is_unique_violation, now_ms, placeholders, text,
    upsert_key_values,
};
use crate::error::{Result, invalid, not_found};
use crate::{NewModelVersion, NewRegisteredModel, Page, RegistryQuery};

/// The actor recorded in the alias history for moves made through the MLflow API.
const MLFLOW_API_ACTOR: &str = "mlflow-api";

const VERSION_COLUMNS: &str = "mv.name, mv.version, mv.creation_time, mv.last_updated_time, mv.description, \
    mv.user_id, mv.current_stage, mv.source, mv.run_id, mv.run_link, mv.status, mv.status_message, mv.model_id";

fn version_from_row(row: &AnyRow) -> Result<ModelVersion> {
    Ok(ModelVersion {
        name: row.try_get("name")?,
        version: row.try_get::<i64, _>("version")?.to_string(),
        creation_timestamp: row.try_get("creation_time")?,
        last_updated_timestamp: row.try_get("last_updated_time")?,
        user_id: text(row, "user_id")?,
        current_stage: Stage::parse(&row.try_get::<String, _>("current_stage")?)?,
        description: text(row, "description")?,
        source: text(row, "source")?,
        run_id: text(row, "run_id")?,
        status: text(row, "status")?,
        status_message: text(row, "status_message")?,
        tags: Vec::new(),
        run_link: text(row, "run_link")?,
        aliases: Vec::new(),
        model_id: row.try_get("model_id")?,
    })
}

fn model_from_row(row: &AnyRow) -> Result<RegisteredModel> {
    Ok(RegisteredModel {
        name: row.try_get("name")?,
        creation_timestamp: row.try_get("creation_time")?,
        last_updated_timestamp: row.try_get("last_updated_time")?,
        user_id: text(row, "user_id")?,
        description: text(row, "description")?,
        ..Default::default()
    })
}

fn missing_model(name: &str) -> String {
    format!("Registered Model with name={name} not found")
}

fn missing_version(name: &str, version: i64) -> String {
    format!("Model Version (name={name}, version={version}) not found")
}

impl SqlStore {
    pub(crate) async fn model_exists(&self, name: &str) -> Result<()> {
        let row = sqlx::query("SELECT name FROM registered_models WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        found(row, || missing_model(name)).map(|_| ())
    }

    /// Fills tags and aliases of versions.
    async fn decorate_versions(&self, versions: &mut [ModelVersion]) -> Result<()> {
        let names: Vec<String> = {
            let mut n: Vec<String> = versions.iter().map(|v| v.name.clone()).collect();
            n.sort();
            n.dedup();
            n
        };
        if names.is_empty() {
            return Ok(());
        }
        let binds: Vec<Bind> = names.iter().map(|n| Bind::Text(n.clone())).collect();
        let list = placeholders(1, names.len());
        let mut tags: HashMap<(String, i64), Vec<Tag>> = HashMap::new();
        let rows = bind_all(
            dyn_query(format!(
                "SELECT name, version, key, value FROM model_version_tags WHERE name IN ({list}) ORDER BY key"
            )),
            &binds,
        )
        .fetch_all(&self.reader)
        .await?;
        for r in &rows {
            tags.entry((r.try_get("name")?, r.try_get("version")?))
                .or_default()
                .push(Tag {
                    key: r.try_get("key")?,
                    value: r.try_get("value")?,
                });
        }
        let mut aliases: HashMap<(String, i64), Vec<String>> = HashMap::new();
        let rows = bind_all(
            dyn_query(format!(
                "SELECT name, alias, version FROM registered_model_aliases WHERE name IN ({list}) ORDER BY alias"
            )),
            &binds,
        )
        .fetch_all(&self.reader)
        .await?;
        for r in &rows {
            aliases
                .entry((r.try_get("name")?, r.try_get("version")?))
                .or_default()
                .push(r.try_get("alias")?);
        }
        for v in versions.iter_mut() {
            let key = (v.name.clone(), v.version.parse::<i64>().unwrap_or_default());
            v.tags = tags.remove(&key).unwrap_or_default();
            v.aliases = aliases.remove(&key).unwrap_or_default();
        }
        Ok(())
    }

    /// Fills tags, aliases and latest versions of registered models.
    async fn decorate_models(&self, models: &mut [RegisteredModel]) -> Result<()> {
        for m in models.iter_mut() {
            m.tags = sqlx::query(
                "SELECT key, value FROM registered_model_tags WHERE name = $1 ORDER BY key",
            )
            .bind(m.name.as_str())
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(|r| {
                Ok(Tag {
                    key: r.try_get("key")?,
                    value: r.try_get("value")?,
                })
            })
            .collect::<Result<_>>()?;
            m.aliases = sqlx::query(
                "SELECT alias, version FROM registered_model_aliases WHERE name = $1 ORDER BY alias",
            )
            .bind(m.name.as_str())
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(|r| {
                Ok(Alias {
                    alias: r.try_get("alias")?,
                    version: r.try_get::<i64, _>("version")?.to_string(),
                })
            })
            .collect::<Result<_>>()?;
            m.latest_versions = self.get_latest_versions(&m.name, &[]).await?;
        }
        Ok(())
    }

    pub(crate) async fn create_registered_model(
        &self,
        new: NewRegisteredModel,
    ) -> Result<RegisteredModel> {
        validation::required("name", Some(&new.name))?;
        new.tags.iter().try_for_each(validation::registry_tag)?;
        let mut tx = self.begin().await?;
        let now = now_ms();
        let res = sqlx::query(
            "INSERT INTO registered_models (name, creation_time, last_updated_time, description) VALUES ($1, $2, $2, $3)",
        )
        .bind(new.name.as_str())
        .bind(now)
        .bind(new.description.clone().unwrap_or_default())
        .execute(&mut *tx)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => {
                return Err(esteira_core::Error::already_exists(format!(
                    "Registered Model (name={}) already exists.",
                    new.name
                ))
                .into());
            }
            other => other?,
        };
        let owner = [Bind::Text(new.name.clone())];
        upsert_key_values(
            &mut tx,
            "registered_model_tags",
            &["name"],
            &owner,
            &new.tags,
        )
        .await?;
        tx.commit().await?;
        self.get_registered_model(&new.name).await
    }

    pub(crate) async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        validation::required("name", Some(name))?;
        let row = sqlx::query(
            "SELECT name, creation_time, last_updated_time, user_id, description FROM registered_models WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.reader)
        .await?;
        let mut models = vec![model_from_row(&found(row, || missing_model(name))?)?];
        self.decorate_models(&mut models).await?;
        Ok(models.remove(0))
    }

    pub(crate) async fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
    ) -> Result<RegisteredModel> {
        validation::required("new_name", Some(new_name))?;
        let mut tx = self.begin().await?;
        let res = sqlx::query(
            "UPDATE registered_models SET name = $1, last_updated_time = $2 WHERE name = $3",
        )
        .bind(new_name)
        .bind(now_ms())
        .bind(name)
        .execute(&mut *tx)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => {
                return Err(esteira_core::Error::already_exists(format!(
                    "Registered Model (name={new_name}) already exists."
                ))
                .into());
            }
            Ok(r) if r.rows_affected() == 0 => return Err(not_found(missing_model(name))),
            other => other?,
        };
        tx.commit().await?;
        self.get_registered_model(new_name).await
    }

    pub(crate) async fn update_registered_model(
        &self,
        name: &str,
        description: &str,
    ) -> Result<RegisteredModel> {
        let mut tx = self.begin().await?;
        let res = sqlx::query(
            "UPDATE registered_models SET description = $1, last_updated_time = $2 WHERE name = $3",
        )
        .bind(description)
        .bind(now_ms())
        .bind(name)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 0 {
            return Err(not_found(missing_model(name)));
        }
        tx.commit().await?;
        self.get_registered_model(name).await
    }

    pub(crate) async fn delete_registered_model(&self, name: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        for table in [
            "model_version_tags",
            "registered_model_aliases",
            "model_versions",
            "registered_model_tags",
        ] {
            dyn_query(format!("DELETE FROM {table} WHERE name = $1"))
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        let res = sqlx::query("DELETE FROM registered_models WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if res.rows_affected() == 0 {
            return Err(not_found(missing_model(name)));
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn search_registered_models(
        &self,
        query: &RegistryQuery,
    ) -> Result<Page<RegisteredModel>> {
        let mut binds = Vec::new();
        let search = super::search::registered_models(
            self.dialect,
            query.filter.as_deref(),
            &query.order_by,
            &mut binds,
        )?;
        let mut page = self
            .search_page(
                &search,
                "SELECT rm.name, rm.creation_time, rm.last_updated_time, rm.user_id, rm.description
             FROM registered_models rm {joins} WHERE 1 = 1",
                &binds,
                &query.paging,
                model_from_row,
            )
            .await?;
        self.decorate_models(&mut page.items).await?;
        Ok(page)
    }

    pub(crate) async fn get_latest_versions(
        &self,
        name: &str,
        stages: &[Stage],
    ) -> Result<Vec<ModelVersion>> {
        self.model_exists(name).await?;
        let rows = dyn_query(format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions mv WHERE mv.name = $1 AND mv.version = (
                 SELECT MAX(v2.version) FROM model_versions v2 WHERE v2.name = mv.name AND v2.current_stage = mv.current_stage)
             ORDER BY mv.version"
        ))
        .bind(name)
        .fetch_all(&self.reader)
        .await?;
        let mut versions = rows
            .iter()
            .map(version_from_row)
            .collect::<Result<Vec<_>>>()?;
        if !stages.is_empty() {
            versions.retain(|v| stages.contains(&v.current_stage));
        }
        self.decorate_versions(&mut versions).await?;
        Ok(versions)
    }

    pub(crate) async fn set_registered_model_tag(&self, name: &str, tag: &Tag) -> Result<()> {
        validation::registry_tag(tag)?;
        self.model_exists(name).await?;
        let mut tx = self.begin().await?;
        let owner = [Bind::Text(name.to_string())];
        upsert_key_values(
            &mut tx,
            "registered_model_tags",
            &["name"],
            &owner,
            std::slice::from_ref(tag),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()> {
        self.model_exists(name).await?;
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM registered_model_tags WHERE name = $1 AND key = $2")
            .bind(name)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn create_model_version(&self, new: NewModelVersion) -> Result<ModelVersion> {
        validation::required("name", Some(&new.name))?;
        validation::required("source", Some(&new.source))?;
        new.tags.iter().try_for_each(validation::registry_tag)?;
        let (storage_location, source_run_id) = self.resolve_source(&new.source).await?;
        let model_id = new.model_id.clone().filter(|m| !m.is_empty());
        let (storage_location, linked_run_id) = match &model_id {
            Some(id) if source_run_id.is_none() => {
                let model = self.get_logged_model(id).await?;
                (storage_location, model.info.source_run_id)
            }
            _ => (storage_location, source_run_id),
        };
        let run_id = new
            .run_id
            .clone()
            .filter(|r| !r.is_empty())
            .or(linked_run_id);
        let mut tx = self.begin().await?;
        let now = now_ms();
        let row = sqlx::query(
            "UPDATE registered_models SET next_version = next_version + 1, last_updated_time = $1
             WHERE name = $2 RETURNING next_version",
        )
        .bind(now)
        .bind(new.name.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let version =
            found(row, || missing_model(&new.name))?.try_get::<i64, _>("next_version")? - 1;
        sqlx::query(
            "INSERT INTO model_versions (name, version, creation_time, last_updated_time, description, current_stage,
                                         source, run_id, run_link, status, model_id, storage_location)
             VALUES ($1, $2, $3, $3, $4, 'None', $5, $6, $7, 'READY', $8, $9)",
        )
        .bind(new.name.as_str())
        .bind(version)
        .bind(now)
        .bind(new.description.clone().unwrap_or_default())
        .bind(new.source.as_str())
        .bind(run_id.unwrap_or_default())
        .bind(new.run_link.clone().unwrap_or_default())
        .bind(model_id)
        .bind(storage_location)
        .execute(&mut *tx)
        .await?;
        let owner = [Bind::Text(new.name.clone()), Bind::Int(version)];
        upsert_key_values(
            &mut tx,
            "model_version_tags",
            &["name", "version"],
            &owner,
            &new.tags,
        )
        .await?;
        tx.commit().await?;
        self.get_model_version(&new.name, &version.to_string())
            .await
    }

    /// Where a new version's files are, and the run behind them, for its `source`:
    /// `models:/<model_id>` is a logged model's location, `models:/<name>/<version>` and
    /// `models:/<name>@<alias>` another version's; anything else is itself.
    async fn resolve_source(&self, source: &str) -> Result<(String, Option<String>)> {
        let Some(rest) = source.strip_prefix("models:/") else {
            return Ok((source.to_string(), None));
        };
        let rest = rest.trim_end_matches('/');
        if let Some((name, alias)) = rest.split_once('@') {
            let v = self.get_model_version_by_alias(name, alias).await?;
            let location = self
                .get_model_version_download_uri(name, &v.version)
                .await?;
            return Ok((location, Some(v.run_id).filter(|r| !r.is_empty())));
        }
        if let Some((name, version)) = rest.rsplit_once('/') {
            let v = self.get_model_version(name, version).await?;
            let location = self.get_model_version_download_uri(name, version).await?;
            return Ok((location, Some(v.run_id).filter(|r| !r.is_empty())));
        }
        let model = self.get_logged_model(rest).await.map_err(|_| {
            invalid(format!(
                "Unable to fetch model from model URI source artifact location '{source}'."
            ))
        })?;
        Ok((model.info.artifact_uri, model.info.source_run_id))
    }

    pub(crate) async fn get_model_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<ModelVersion> {
        let v = validation::version_number(version)?;
        let row = dyn_query(format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions mv WHERE mv.name = $1 AND mv.version = $2"
        ))
        .bind(name)
        .bind(v)
        .fetch_optional(&self.reader)
        .await?;
        let mut versions = vec![version_from_row(&found(row, || missing_version(name, v))?)?];
        self.decorate_versions(&mut versions).await?;
        Ok(versions.remove(0))
    }

    pub(crate) async fn get_model_version_download_uri(
        &self,
        name: &str,
        version: &str,
    ) -> Result<String> {
        let v = validation::version_number(version)?;
        let row = sqlx::query(
            "SELECT storage_location FROM model_versions WHERE name = $1 AND version = $2",
        )
        .bind(name)
        .bind(v)
        .fetch_optional(&self.reader)
        .await?;
        text(
            &found(row, || missing_version(name, v))?,
            "storage_location",
        )
    }

    async fn touch_version(
        &self,
        sql: &'static str,
        name: &str,
        version: &str,
        value: &str,
    ) -> Result<ModelVersion> {
        let v = validation::version_number(version)?;
        let mut tx = self.begin().await?;
        let res = sqlx::query(sql)
            .bind(value)
            .bind(now_ms())
            .bind(name)
            .bind(v)
            .execute(&mut *tx)
            .await?;
        if res.rows_affected() == 0 {
            return Err(not_found(missing_version(name, v)));
        }
        tx.commit().await?;
        self.get_model_version(name, version).await
    }

    pub(crate) async fn update_model_version(
        &self,
        name: &str,
        version: &str,
        description: &str,
    ) -> Result<ModelVersion> {
        self.touch_version(
            "UPDATE model_versions SET description = $1, last_updated_time = $2 WHERE name = $3 AND version = $4",
            name,
            version,
            description,
        )
        .await
    }

    pub(crate) async fn delete_model_version(&self, name: &str, version: &str) -> Result<()> {
        let v = validation::version_number(version)?;
        let mut tx = self.begin().await?;
        for table in ["model_version_tags", "registered_model_aliases"] {
            dyn_query(format!(
                "DELETE FROM {table} WHERE name = $1 AND version = $2"
            ))
            .bind(name)
            .bind(v)
            .execute(&mut *tx)
            .await?;
        }
        let res = sqlx::query("DELETE FROM model_versions WHERE name = $1 AND version = $2")
            .bind(name)
            .bind(v)
            .execute(&mut *tx)
            .await?;
        if res.rows_affected() == 0 {
            return Err(not_found(missing_version(name, v)));
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn transition_model_version_stage(
        &self,
        name: &str,
        version: &str,
        stage: Stage,
        archive_existing_versions: bool,
    ) -> Result<ModelVersion> {
        let v = validation::version_number(version)?;
        if archive_existing_versions && !matches!(stage, Stage::Staging | Stage::Production) {
            return Err(invalid(format!(
                "Model version transition cannot archive existing model versions because '{}' is not an Active stage. Valid stages are Staging and Production.",
                stage.as_str()
            )));
        }
        let mut tx = self.begin().await?;
        let now = now_ms();
        let res = sqlx::query(
            "UPDATE model_versions SET current_stage = $1, last_updated_time = $2 WHERE name = $3 AND version = $4",
        )
        .bind(stage.as_str())
        .bind(now)
        .bind(name)
        .bind(v)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 0 {
            return Err(not_found(missing_version(name, v)));
        }
        if archive_existing_versions {
            sqlx::query(
                "UPDATE model_versions SET current_stage = 'Archived', last_updated_time = $1
                 WHERE name = $2 AND version != $3 AND current_stage = $4",
            )
            .bind(now)
            .bind(name)
            .bind(v)
            .bind(stage.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.get_model_version(name, version).await
    }

    pub(crate) async fn search_model_versions(
        &self,
        query: &RegistryQuery,
    ) -> Result<Page<ModelVersion>> {
        let mut binds = Vec::new();
        let search = super::search::model_versions(
            self.dialect,
            query.filter.as_deref(),
            &query.order_by,
            &mut binds,
        )?;
        let mut page = self
            .search_page(
                &search,
                &format!("SELECT {VERSION_COLUMNS} FROM model_versions mv {{joins}} WHERE 1 = 1"),
                &binds,
                &query.paging,
                version_from_row,
            )
            .await?;
        self.decorate_versions(&mut page.items).await?;
        Ok(page)
    }

    pub(crate) async fn set_model_version_tag(
        &self,
        name: &str,
        version: &str,
        tag: &Tag,
    ) -> Result<()> {
        validation::registry_tag(tag)?;
        let v = validation::version_number(version)?;
        self.get_model_version(name, version).await?;
        let mut tx = self.begin().await?;
        let owner = [Bind::Text(name.to_string()), Bind::Int(v)];
        upsert_key_values(
            &mut tx,
            "model_version_tags",
            &["name", "version"],
            &owner,
            std::slice::from_ref(tag),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn delete_model_version_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
    ) -> Result<()> {
        let v = validation::version_number(version)?;
        self.get_model_version(name, version).await?;
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM model_version_tags WHERE name = $1 AND version = $2 AND key = $3")
            .bind(name)
            .bind(v)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn set_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
    ) -> Result<()> {
        validation::alias(alias)?;
        let v = validation::version_number(version)?;
        self.get_model_version(name, version).await?;
        let mut tx = self.begin().await?;
        self.set_alias_in(
            &mut tx,
            name,
            alias,
            v,
            MLFLOW_API_ACTOR,
            "set through the MLflow API",
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn delete_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
    ) -> Result<()> {
        self.model_exists(name).await?;
        let mut tx = self.begin().await?;
        self.delete_alias_in(&mut tx, name, alias, MLFLOW_API_ACTOR)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn get_model_version_by_alias(
        &self,
        name: &str,
        alias: &str,
    ) -> Result<ModelVersion> {
        self.model_exists(name).await?;
        let row = sqlx::query(
            "SELECT version FROM registered_model_aliases WHERE name = $1 AND alias = $2",
        )
        .bind(name)
        .bind(alias)
        .fetch_optional(&self.reader)
        .await?;
        // MLflow answers a missing alias with INVALID_PARAMETER_VALUE, and clients expect it.
        let version: i64 = row
            .ok_or_else(|| invalid(format!("Registered model alias {alias} not found.")))?
            .try_get("version")?;
        self.get_model_version(name, &version.to_string()).await
    }
}
