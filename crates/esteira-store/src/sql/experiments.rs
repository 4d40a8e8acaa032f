//! Experiments and their tags.

use esteira_core::entities::{Experiment, LifecycleStage, Tag};
use esteira_core::validation;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    Bind, SqlStore, bind_all, dyn_query, experiment_id, found, is_unique_violation, now_ms, text,
    upsert_key_values,
};
use crate::error::{Result, invalid};
use crate::{ExperimentQuery, NewExperiment, Page};

impl SqlStore {
    /// The experiment row, or RESOURCE_DOES_NOT_EXIST.
    pub(crate) async fn experiment_row(&self, id: i64) -> Result<Experiment> {
        let row = sqlx::query(
            "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time
             FROM experiments WHERE experiment_id = $1",
        )
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        let row = found(row, || format!("No Experiment with id={id} exists"))?;
        experiment_from_row(&row)
    }

    pub(crate) async fn experiment_tags(&self, ids: &[i64]) -> Result<Vec<(i64, Tag)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT experiment_id, key, value FROM experiment_tags WHERE experiment_id IN ({}) ORDER BY key",
            super::placeholders(1, ids.len())
        );
        let binds: Vec<Bind> = ids.iter().map(|i| Bind::Int(*i)).collect();
        let rows = bind_all(dyn_query(sql), &binds)
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>("experiment_id")?,
                    Tag {
                        key: r.try_get("key")?,
                        value: r.try_get("value")?,
                    },
                ))
            })
            .collect()
    }

    pub(crate) async fn with_tags(
        &self,
        mut experiments: Vec<Experiment>,
    ) -> Result<Vec<Experiment>> {
        let ids: Vec<i64> = experiments
            .iter()
            .filter_map(|e| e.experiment_id.parse().ok())
            .collect();
        for (id, tag) in self.experiment_tags(&ids).await? {
            if let Some(e) = experiments
                .iter_mut()
                .find(|e| e.experiment_id == id.to_string())
            {
                e.tags.push(tag);
            }
        }
        Ok(experiments)
    }

    /// Fails with INVALID_STATE unless the experiment is active.
    pub(crate) async fn require_active_experiment(&self, id: i64) -> Result<Experiment> {
        let e = self.experiment_row(id).await?;
        if e.lifecycle_stage != LifecycleStage::Active {
            return Err(esteira_core::Error::invalid_state(format!(
                "The experiment {id} must be in the 'active' state. Current state is deleted."
            ))
            .into());
        }
        Ok(e)
    }

    pub(crate) async fn set_experiment_stage(
        &self,
        id: &str,
        from: LifecycleStage,
        to: LifecycleStage,
    ) -> Result<()> {
        let id = experiment_id(id)?;
        if id == 0 && to == LifecycleStage::Deleted {
            return Err(invalid(
                "Cannot delete the default experiment '0'. This is an internally reserved experiment.",
            ));
        }
        let mut tx = self.begin().await?;
        let now = now_ms();
        let updated = sqlx::query(
            "UPDATE experiments SET lifecycle_stage = $1, last_update_time = $2 WHERE experiment_id = $3",
        )
        .bind(to.as_str())
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(crate::error::not_found(format!(
                "No Experiment with id={id} exists"
            )));
        }
        let deleted_time = (to == LifecycleStage::Deleted).then_some(now);
        sqlx::query(
            "UPDATE runs SET lifecycle_stage = $1, deleted_time = $2 WHERE experiment_id = $3 AND lifecycle_stage = $4",
        )
        .bind(to.as_str())
        .bind(deleted_time)
        .bind(id)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn experiment_from_row(row: &AnyRow) -> Result<Experiment> {
    Ok(Experiment {
        experiment_id: row.try_get::<i64, _>("experiment_id")?.to_string(),
        name: row.try_get("name")?,
        artifact_location: text(row, "artifact_location")?,
        lifecycle_stage: LifecycleStage::parse(&row.try_get::<String, _>("lifecycle_stage")?)?,
        creation_time: row.try_get("creation_time")?,
        last_update_time: row.try_get("last_update_time")?,
        tags: Vec::new(),
    })
}

impl SqlStore {
    pub(crate) async fn create_experiment(&self, new: NewExperiment) -> Result<String> {
        let name = validation::experiment_name(Some(&new.name))?;
        if let Some(loc) = &new.artifact_location
            && loc.starts_with("runs:")
        {
            return Err(invalid(format!(
                "Artifact location cannot be a runs:/ URI. Given: '{loc}'"
            )));
        }
        new.tags.iter().try_for_each(validation::experiment_tag)?;
        let mut tx = self.begin().await?;
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time)
             VALUES ($1, $2, 'active', $3, $3) RETURNING experiment_id",
        )
        .bind(name)
        .bind(new.artifact_location.clone().unwrap_or_default())
        .bind(now)
        .fetch_one(&mut *tx)
        .await;
        let id: i64 = match inserted {
            Ok(row) => row.try_get("experiment_id")?,
            Err(e) if is_unique_violation(&e) => {
                return Err(esteira_core::Error::already_exists(format!(
                    "Experiment(name={name}) already exists."
                ))
                .into());
            }
            Err(e) => return Err(e.into()),
        };
        if new
            .artifact_location
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        {
            sqlx::query("UPDATE experiments SET artifact_location = $1 WHERE experiment_id = $2")
                .bind(format!("mlflow-artifacts:/{id}"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        upsert_key_values(
            &mut tx,
            "experiment_tags",
            &["experiment_id"],
            &[Bind::Int(id)],
            &new.tags,
        )
        .await?;
        tx.commit().await?;
        Ok(id.to_string())
    }

    pub(crate) async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment> {
        let e = self
            .experiment_row(super::experiment_id(experiment_id)?)
            .await?;
        Ok(self.with_tags(vec![e]).await?.remove(0))
    }

    pub(crate) async fn get_experiment_by_name(&self, name: &str) -> Result<Experiment> {
        let row = sqlx::query("SELECT experiment_id FROM experiments WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        let row = found(row, || {
            format!("Could not find experiment with name '{name}'")
        })?;
        let id: i64 = row.try_get("experiment_id")?;
        self.get_experiment(&id.to_string()).await
    }

    pub(crate) async fn search_experiments(
        &self,
        query: &ExperimentQuery,
    ) -> Result<Page<Experiment>> {
        let stages: Vec<Bind> = query
            .view_type
            .stages()
            .iter()
            .map(|s| Bind::Text(s.as_str().to_string()))
            .collect();
        let mut binds = stages.clone();
        let sql = format!(
            "SELECT e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.creation_time, e.last_update_time
             FROM experiments e {{joins}} WHERE e.lifecycle_stage IN ({})",
            super::placeholders(1, stages.len())
        );
        let search = super::search::experiments(
            self.dialect,
            query.filter.as_deref(),
            &query.order_by,
            &mut binds,
        )?;
        let page = self
            .search_page(&search, &sql, &binds, &query.paging, experiment_from_row)
            .await?;
        Ok(Page {
            items: self.with_tags(page.items).await?,
            next_page_token: page.next_page_token,
        })
    }

    pub(crate) async fn rename_experiment(
        &self,
        experiment_id: &str,
        new_name: &str,
    ) -> Result<()> {
        let id = super::experiment_id(experiment_id)?;
        let name = validation::experiment_name(Some(new_name))?;
        self.require_active_experiment(id).await?;
        let mut tx = self.begin().await?;
        let res = sqlx::query(
            "UPDATE experiments SET name = $1, last_update_time = $2 WHERE experiment_id = $3",
        )
        .bind(name)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => Err(esteira_core::Error::already_exists(format!(
                "Experiment(name={name}) already exists."
            ))
            .into()),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(tx.commit().await?),
        }
    }

    pub(crate) async fn delete_experiment(&self, experiment_id: &str) -> Result<()> {
        self.set_experiment_stage(
            experiment_id,
            LifecycleStage::Active,
            LifecycleStage::Deleted,
        )
        .await
    }

    pub(crate) async fn restore_experiment(&self, experiment_id: &str) -> Result<()> {
        self.set_experiment_stage(
            experiment_id,
            LifecycleStage::Deleted,
            LifecycleStage::Active,
        )
        .await
    }

    pub(crate) async fn set_experiment_tag(&self, experiment_id: &str, tag: &Tag) -> Result<()> {
        validation::experiment_tag(tag)?;
        let id = super::experiment_id(experiment_id)?;
        self.require_active_experiment(id).await?;
        let mut tx = self.begin().await?;
        upsert_key_values(
            &mut tx,
            "experiment_tags",
            &["experiment_id"],
            &[Bind::Int(id)],
            std::slice::from_ref(tag),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> Result<()> {
        let id = super::experiment_id(experiment_id)?;
        self.require_active_experiment(id).await?;
        let mut tx = self.begin().await?;
        let res = sqlx::query("DELETE FROM experiment_tags WHERE experiment_id = $1 AND key = $2")
            .bind(id)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        if res.rows_affected() == 0 {
            return Err(crate::error::not_found(format!(
                "No tag with name: {key} in experiment with id {id}"
            )));
        }
        tx.commit().await?;
        Ok(())
    }
}
