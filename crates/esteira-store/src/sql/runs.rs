//! Runs: creation, status, the atomic `log_batch`, inputs and outputs, metric history.

use std::collections::{HashMap, HashSet};

use esteira_core::entities::{
    Dataset, DatasetInput, LifecycleStage, Metric, ModelInput, ModelOutput, Param, Run, RunInfo,
    RunStatus, Tag,
};
use esteira_core::{page, validation};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{
    Bind, SqlStore, bind_all, dyn_query, found, insert_rows, now_ms, page_of, placeholders, text,
    upsert_key_values,
};
use crate::error::{Result, invalid, not_found};
use crate::{MetricHistoryQuery, NewRun, Page, RunQuery, RunUpdate};

/// The tag MLflow keeps in step with the run name.
pub(crate) const RUN_NAME_TAG: &str = "mlflow.runName";
/// Ids per `IN (...)` list when hydrating runs.
const IN_CHUNK: usize = 500;

const RUN_COLUMNS: &str = "r.run_uuid, r.name, r.experiment_id, r.user_id, r.status, r.start_time, \
                           r.end_time, r.lifecycle_stage, r.artifact_uri";

/// A run's columns in [`RUN_COLUMNS`] order.
type RunColumns = (
    String,
    String,
    i64,
    String,
    String,
    Option<i64>,
    Option<i64>,
    String,
    String,
);

/// The output names of [`RUN_COLUMNS`].
const RUN_COLUMN_NAMES: [&str; 9] = [
    "run_uuid",
    "name",
    "experiment_id",
    "user_id",
    "status",
    "start_time",
    "end_time",
    "lifecycle_stage",
    "artifact_uri",
];

fn run_info(columns: RunColumns) -> Result<RunInfo> {
    let (run_id, name, experiment_id, user_id, status, start_time, end_time, stage, artifact_uri) =
        columns;
    Ok(RunInfo {
        run_uuid: run_id.clone(),
        run_id,
        run_name: name,
        experiment_id: experiment_id.to_string(),
        user_id,
        status: RunStatus::parse(&status)?,
        start_time,
        end_time,
        artifact_uri,
        lifecycle_stage: LifecycleStage::parse(&stage)?,
    })
}

pub(crate) fn run_info_from_row(row: &AnyRow) -> Result<RunInfo> {
    run_info((
        row.try_get("run_uuid")?,
        text(row, "name")?,
        row.try_get("experiment_id")?,
        text(row, "user_id")?,
        row.try_get("status")?,
        row.try_get("start_time")?,
        row.try_get("end_time")?,
        row.try_get("lifecycle_stage")?,
        text(row, "artifact_uri")?,
    ))
}

/// A short generated run name, like MLflow's `bold-owl-123`.
fn generated_run_name(run_id: &str) -> String {
    const ADJECTIVES: &[&str] = &[
        "bold", "calm", "eager", "fancy", "gentle", "happy", "keen", "lucky", "merry", "nimble",
        "quiet", "rapid", "sunny", "tidy", "vivid", "witty",
    ];
    const NOUNS: &[&str] = &[
        "owl", "fox", "lark", "otter", "heron", "lynx", "moth", "panda", "robin", "seal", "trout",
        "wren", "yak", "zebra", "crane", "finch",
    ];
    let n = u64::from_str_radix(run_id.get(..12).unwrap_or("0"), 16).unwrap_or(0);
    format!(
        "{}-{}-{}",
        ADJECTIVES[(n % 16) as usize],
        NOUNS[((n / 16) % 16) as usize],
        (n / 256) % 1000
    )
}

impl SqlStore {
    /// The run's info; RESOURCE_DOES_NOT_EXIST when absent.
    async fn run_info(&self, run_id: &str) -> Result<RunInfo> {
        let row = dyn_query(format!(
            "SELECT {RUN_COLUMNS} FROM runs r WHERE r.run_uuid = $1"
        ))
        .bind(run_id)
        .fetch_optional(&self.reader)
        .await?;
        run_info_from_row(&found(row, || format!("Run with id={run_id} not found"))?)
    }

    /// Locks nothing but checks, inside `tx`, that the run exists and is active.
    async fn require_active_run(tx: &mut Transaction<'static, Any>, run_id: &str) -> Result<()> {
        let row = sqlx::query("SELECT lifecycle_stage FROM runs WHERE run_uuid = $1")
            .bind(run_id)
            .fetch_optional(&mut **tx)
            .await?;
        let stage: String =
            found(row, || format!("Run with id={run_id} not found"))?.try_get("lifecycle_stage")?;
        if stage != LifecycleStage::Active.as_str() {
            return Err(invalid(format!(
                "The run {run_id} must be in the 'active' state. Current state is {stage}."
            )));
        }
        Ok(())
    }

    pub(crate) async fn create_run(&self, new: NewRun) -> Result<Run> {
        let experiment_id = if new.experiment_id.is_empty() {
            0
        } else {
            super::experiment_id(&new.experiment_id)?
        };
        let experiment = self.require_active_experiment(experiment_id).await?;
        new.tags.iter().try_for_each(validation::run_tag)?;
        let tag_name = new
            .tags
            .iter()
            .rev()
            .find(|t| t.key == RUN_NAME_TAG)
            .map(|t| t.value.clone());
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        let run_name = match (new.run_name.filter(|n| !n.is_empty()), tag_name) {
            (Some(a), Some(b)) if a != b => {
                return Err(invalid(format!(
                    "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='{a}', mlflow.runName='{b}')."
                )));
            }
            (Some(a), _) | (None, Some(a)) => a,
            (None, None) => generated_run_name(&run_id),
        };
        let artifact_uri = format!(
            "{}/{run_id}/artifacts",
            experiment.artifact_location.trim_end_matches('/')
        );
        let start_time = new.start_time.unwrap_or_else(now_ms);
        let mut tags = new.tags;
        tags.retain(|t| t.key != RUN_NAME_TAG);
        tags.push(Tag {
            key: RUN_NAME_TAG.into(),
            value: run_name.clone(),
        });
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, start_time, end_time,
                               lifecycle_stage, artifact_uri)
             VALUES ($1, $2, $3, $4, 'RUNNING', $5, NULL, 'active', $6)",
        )
        .bind(run_id.as_str())
        .bind(run_name.as_str())
        .bind(experiment_id)
        .bind(new.user_id.as_str())
        .bind(start_time)
        .bind(artifact_uri.as_str())
        .execute(&mut *tx)
        .await?;
        upsert_tags(&mut tx, &run_id, &tags).await?;
        tx.commit().await?;
        self.get_run(&run_id).await
    }

    pub(crate) async fn get_run(&self, run_id: &str) -> Result<Run> {
        let info = self.run_info(run_id).await?;
        Ok(self.hydrate_runs(vec![info]).await?.remove(0))
    }

    /// Adds latest metrics, params, tags, inputs and outputs to each run, keeping order.
    pub(crate) async fn hydrate_runs(&self, infos: Vec<RunInfo>) -> Result<Vec<Run>> {
        let mut runs: Vec<Run> = infos
            .into_iter()
            .map(|info| Run {
                info,
                ..Default::default()
            })
            .collect();
        let index: HashMap<String, usize> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.info.run_id.clone(), i))
            .collect();
        let ids: Vec<String> = runs.iter().map(|r| r.info.run_id.clone()).collect();
        for chunk in ids.chunks(IN_CHUNK) {
            let binds: Vec<Bind> = chunk.iter().map(|s| Bind::Text(s.clone())).collect();
            let list = placeholders(1, chunk.len());
            if self.hydrate_data(&mut runs, &index, &binds, &list).await? {
                self.hydrate_inputs(&mut runs, &index, &binds, &list)
                    .await?;
            }
        }
        for run in &mut runs {
            run.data.metrics.sort_by(|a, b| a.key.cmp(&b.key));
            run.data.params.sort_by(|a, b| a.key.cmp(&b.key));
            run.data.tags.sort_by(|a, b| a.key.cmp(&b.key));
            run.outputs
                .model_outputs
                .sort_by(|a, b| a.model_id.cmp(&b.model_id));
        }
        Ok(runs)
    }

    /// Fills latest metrics, params, tags and outputs of the runs in `list` from one
    /// aggregated query; returns whether any of them has inputs.
    async fn hydrate_data(
        &self,
        runs: &mut [Run],
        index: &HashMap<String, usize>,
        binds: &[Bind],
        list: &str,
    ) -> Result<bool> {
        let sql = format!(
            "SELECT {rows} AS rows FROM (
                SELECT 'm' AS kind, run_uuid, key, '' AS value, value_bits AS bits, timestamp, step
                  FROM latest_metrics WHERE run_uuid IN ({list})
                UNION ALL SELECT 'p', run_uuid, key, value, 0, 0, 0 FROM params WHERE run_uuid IN ({list})
                UNION ALL SELECT 't', run_uuid, key, value, 0, 0, 0 FROM tags WHERE run_uuid IN ({list})
                UNION ALL SELECT 'o', run_uuid, model_id, '', 0, 0, step FROM run_outputs WHERE run_uuid IN ({list})
                UNION ALL SELECT 'i', run_uuid, source_id, '', 0, 0, 0 FROM run_inputs WHERE run_uuid IN ({list})
             ) entries",
            rows = self.dialect.json_rows(&["kind", "run_uuid", "key", "value", "bits", "timestamp", "step"]),
        );
        type Entry = (String, String, String, String, i64, i64, i64);
        let entries: Vec<Entry> = self.json_query(sql, binds).await?;
        let mut has_inputs = false;
        for (kind, run_id, key, value, bits, timestamp, step) in entries {
            let Some(&i) = index.get(&run_id) else {
                continue;
            };
            let run = &mut runs[i];
            match kind.as_str() {
                "m" => run.data.metrics.push(Metric {
                    key,
                    value: f64::from_bits(bits as u64),
                    timestamp,
                    step,
                    dataset_name: None,
                    dataset_digest: None,
                    model_id: None,
                    run_id: None,
                }),
                "p" => run.data.params.push(Tag { key, value }),
                "t" => run.data.tags.push(Tag { key, value }),
                "o" => run.outputs.model_outputs.push(ModelOutput {
                    model_id: key,
                    step,
                }),
                _ => has_inputs = true,
            }
        }
        Ok(has_inputs)
    }

    async fn hydrate_inputs(
        &self,
        runs: &mut [Run],
        index: &HashMap<String, usize>,
        binds: &[Bind],
        list: &str,
    ) -> Result<()> {
        let q = |sql: String| bind_all(dyn_query(sql), binds);
        let inputs = q(format!(
            "SELECT i.run_uuid, i.kind, i.source_id, d.name, d.digest, d.source_type, d.source, d.schema, d.profile
             FROM run_inputs i LEFT JOIN datasets d ON i.kind = 'dataset' AND d.dataset_uuid = i.source_id
             WHERE i.run_uuid IN ({list}) ORDER BY i.seq"
        ))
        .fetch_all(&self.reader)
        .await?;
        let tag_rows = q(format!(
            "SELECT run_uuid, source_id, key, value FROM run_input_tags WHERE run_uuid IN ({list}) ORDER BY key"
        ))
        .fetch_all(&self.reader)
        .await?;
        let mut input_tags: HashMap<(String, String), Vec<Tag>> = HashMap::new();
        for row in &tag_rows {
            input_tags
                .entry((row.try_get("run_uuid")?, row.try_get("source_id")?))
                .or_default()
                .push(Tag {
                    key: row.try_get("key")?,
                    value: row.try_get("value")?,
                });
        }
        for row in &inputs {
            let run_id: String = row.try_get("run_uuid")?;
            let source_id: String = row.try_get("source_id")?;
            let run = &mut runs[index[&run_id]];
            if row.try_get::<String, _>("kind")? == "model" {
                run.inputs.model_inputs.push(ModelInput {
                    model_id: source_id,
                });
                continue;
            }
            run.inputs.dataset_inputs.push(DatasetInput {
                tags: input_tags.remove(&(run_id, source_id)).unwrap_or_default(),
                dataset: Dataset {
                    name: text(row, "name")?,
                    digest: text(row, "digest")?,
                    source_type: text(row, "source_type")?,
                    source: text(row, "source")?,
                    schema: row.try_get("schema")?,
                    profile: row.try_get("profile")?,
                },
            });
        }
        Ok(())
    }

    pub(crate) async fn update_run(&self, run_id: &str, update: RunUpdate) -> Result<RunInfo> {
        let mut tx = self.begin().await?;
        Self::require_active_run(&mut tx, run_id).await?;
        if let Some(status) = update.status {
            sqlx::query("UPDATE runs SET status = $1 WHERE run_uuid = $2")
                .bind(status.as_str())
                .bind(run_id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(end_time) = update.end_time {
            sqlx::query("UPDATE runs SET end_time = $1 WHERE run_uuid = $2")
                .bind(end_time)
                .bind(run_id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(name) = update.run_name.filter(|n| !n.is_empty()) {
            let tag = Tag {
                key: RUN_NAME_TAG.into(),
                value: name,
            };
            validation::run_tag(&tag)?;
            upsert_tags(&mut tx, run_id, &[tag]).await?;
        }
        tx.commit().await?;
        self.run_info(run_id).await
    }

    pub(crate) async fn set_run_stage(&self, run_id: &str, stage: LifecycleStage) -> Result<()> {
        let mut tx = self.begin().await?;
        let deleted_time = (stage == LifecycleStage::Deleted).then(now_ms);
        let res = sqlx::query(
            "UPDATE runs SET lifecycle_stage = $1, deleted_time = $2 WHERE run_uuid = $3",
        )
        .bind(stage.as_str())
        .bind(deleted_time)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 0 {
            return Err(not_found(format!("Run with id={run_id} not found")));
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[Tag],
    ) -> Result<()> {
        validation::batch(metrics, params, tags)?;
        self.batcher.submit(run_id, metrics, params, tags).await
    }

    pub(crate) async fn delete_run_tag(&self, run_id: &str, key: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        Self::require_active_run(&mut tx, run_id).await?;
        let res = sqlx::query("DELETE FROM tags WHERE run_uuid = $1 AND key = $2")
            .bind(run_id)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        if res.rows_affected() == 0 {
            return Err(not_found(format!(
                "No tag with name: {key} in run with id {run_id}"
            )));
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn log_inputs(
        &self,
        run_id: &str,
        datasets: &[DatasetInput],
        models: &[ModelInput],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        Self::require_active_run(&mut tx, run_id).await?;
        let experiment_id: i64 = sqlx::query("SELECT experiment_id FROM runs WHERE run_uuid = $1")
            .bind(run_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("experiment_id")?;
        let mut seq: i64 =
            sqlx::query("SELECT COALESCE(MAX(seq), 0) AS s FROM run_inputs WHERE run_uuid = $1")
                .bind(run_id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("s")?;
        for input in datasets {
            let d = &input.dataset;
            validation::required("dataset.name", Some(&d.name))?;
            validation::required("dataset.digest", Some(&d.digest))?;
            let dataset_id = upsert_dataset(&mut tx, experiment_id, d).await?;
            seq += 1;
            link_input(&mut tx, run_id, "dataset", &dataset_id, seq).await?;
            let owner = [
                Bind::Text(run_id.to_string()),
                Bind::Text(dataset_id.clone()),
            ];
            upsert_key_values(
                &mut tx,
                "run_input_tags",
                &["run_uuid", "source_id"],
                &owner,
                &input.tags,
            )
            .await?;
        }
        for model in models {
            seq += 1;
            link_input(&mut tx, run_id, "model", &model.model_id, seq).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn log_outputs(&self, run_id: &str, models: &[ModelOutput]) -> Result<()> {
        let mut tx = self.begin().await?;
        Self::require_active_run(&mut tx, run_id).await?;
        for m in models {
            sqlx::query(
                "INSERT INTO run_outputs (run_uuid, model_id, step) VALUES ($1, $2, $3)
                 ON CONFLICT (run_uuid, model_id) DO UPDATE SET step = excluded.step",
            )
            .bind(run_id)
            .bind(m.model_id.as_str())
            .bind(m.step)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn search_runs(&self, query: &RunQuery) -> Result<Page<Run>> {
        let experiment_ids = query
            .experiment_ids
            .iter()
            .map(|id| super::experiment_id(id))
            .collect::<Result<Vec<_>>>()?;
        if experiment_ids.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next_page_token: None,
            });
        }
        let mut binds: Vec<Bind> = experiment_ids.iter().map(|i| Bind::Int(*i)).collect();
        let stages = query.view_type.stages();
        binds.extend(stages.iter().map(|s| Bind::Text(s.as_str().to_string())));
        let base = format!(
            "SELECT {RUN_COLUMNS}{{sort_columns}} FROM runs r {{joins}} WHERE r.experiment_id IN ({}) AND r.lifecycle_stage IN ({})",
            placeholders(1, experiment_ids.len()),
            placeholders(experiment_ids.len() + 1, stages.len())
        );
        let search = super::search::runs(
            self.dialect,
            query.filter.as_deref(),
            &query.order_by,
            &mut binds,
        )?;
        let offset = page::decode(query.paging.page_token.as_deref())?;
        let limit = query.paging.max_results + 1;
        let sql = search.select_json(self.dialect, &base, &RUN_COLUMN_NAMES, limit, offset);
        let rows: Vec<RunColumns> = self.json_query(sql, &binds).await?;
        let infos = rows.into_iter().map(run_info).collect::<Result<Vec<_>>>()?;
        let page = page_of(infos, &query.paging, offset);
        Ok(Page {
            items: self.hydrate_runs(page.items).await?,
            next_page_token: page.next_page_token,
        })
    }

    pub(crate) async fn get_metric_history(
        &self,
        query: &MetricHistoryQuery,
    ) -> Result<Page<Metric>> {
        if query.run_ids.is_empty() {
            return Err(invalid("Missing value for required parameter 'run_id'."));
        }
        let offset = page::decode(query.paging.page_token.as_deref())?;
        self.require_runs_exist(&query.run_ids).await?;
        let mut binds = vec![Bind::Text(query.metric_key.clone())];
        binds.extend(query.run_ids.iter().map(|r| Bind::Text(r.clone())));
        let columns = [
            "run_uuid",
            "value_bits",
            "timestamp",
            "step",
            "model_id",
            "dataset_name",
            "dataset_digest",
        ];
        let sql = format!(
            "SELECT {rows} AS rows FROM (
                 SELECT id, {columns} FROM metrics WHERE key = $1 AND run_uuid IN ({runs})
                 ORDER BY run_uuid, id LIMIT {limit} OFFSET {offset}
             ) history",
            rows = self.dialect.json_rows_ordered(&columns, "run_uuid, id"),
            columns = columns.join(", "),
            runs = placeholders(2, query.run_ids.len()),
            limit = query.paging.max_results + 1,
        );
        type Point = (
            String,
            i64,
            i64,
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let multi = query.run_ids.len() > 1;
        let points: Vec<Point> = self.json_query(sql, &binds).await?;
        let items = points
            .into_iter()
            .map(
                |(run_id, bits, timestamp, step, model_id, dataset_name, dataset_digest)| Metric {
                    key: query.metric_key.clone(),
                    value: f64::from_bits(bits as u64),
                    timestamp,
                    step,
                    dataset_name,
                    dataset_digest,
                    model_id,
                    run_id: multi.then_some(run_id),
                },
            )
            .collect();
        Ok(page_of(items, &query.paging, offset))
    }

    /// Fails with RESOURCE_DOES_NOT_EXIST naming the first of `run_ids` that is missing.
    async fn require_runs_exist(&self, run_ids: &[String]) -> Result<()> {
        let binds: Vec<Bind> = run_ids.iter().map(|r| Bind::Text(r.clone())).collect();
        let sql = format!(
            "SELECT run_uuid FROM runs WHERE run_uuid IN ({})",
            placeholders(1, run_ids.len())
        );
        let found: HashSet<String> = bind_all(dyn_query(sql), &binds)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(|r| r.try_get("run_uuid"))
            .collect::<std::result::Result<_, _>>()?;
        match run_ids.iter().find(|r| !found.contains(*r)) {
            Some(missing) => Err(not_found(format!("Run with id={missing} not found"))),
            None => Ok(()),
        }
    }
}

/// Upserts run tags (last write wins, also within `tags`), keeping the run name in step.
pub(crate) async fn upsert_tags(
    tx: &mut Transaction<'static, Any>,
    run_id: &str,
    tags: &[Tag],
) -> Result<()> {
    let owner = [Bind::Text(run_id.to_string())];
    upsert_key_values(tx, "tags", &["run_uuid"], &owner, tags).await?;
    if let Some(name) = tags.iter().rev().find(|t| t.key == RUN_NAME_TAG) {
        sqlx::query("UPDATE runs SET name = $1 WHERE run_uuid = $2")
            .bind(name.value.as_str())
            .bind(run_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Inserts write-once params into `table` keyed by `owner_column`: a key already logged with
/// the same value is accepted, with another value the whole transaction fails.
pub(crate) async fn insert_params(
    tx: &mut Transaction<'static, Any>,
    table: &str,
    owner_column: &str,
    owner: &str,
    params: &[Param],
    owner_label: &str,
) -> Result<()> {
    if params.is_empty() {
        return Ok(());
    }
    let mut unique: HashMap<&str, &Param> = HashMap::with_capacity(params.len());
    for p in params {
        unique.entry(p.key.as_str()).or_insert(p);
    }
    let rows = unique
        .values()
        .map(|p| {
            vec![
                Bind::Text(owner.to_string()),
                Bind::Text(p.key.clone()),
                Bind::Text(p.value.clone()),
            ]
        })
        .collect();
    // A key logged before, or by a concurrent writer, is left as it is and compared below.
    let tail = format!("ON CONFLICT ({owner_column}, key) DO NOTHING");
    insert_rows(tx, table, &[owner_column, "key", "value"], rows, &tail).await?;
    let mut binds = vec![Bind::Text(owner.to_string())];
    binds.extend(unique.keys().map(|k| Bind::Text(k.to_string())));
    let sql = format!(
        "SELECT key, value FROM {table} WHERE {owner_column} = $1 AND key IN ({})",
        placeholders(2, unique.len())
    );
    for row in bind_all(dyn_query(sql), &binds)
        .fetch_all(&mut **tx)
        .await?
    {
        let key: String = row.try_get("key")?;
        let stored: String = row.try_get("value")?;
        match unique.get(key.as_str()) {
            Some(p) if p.value != stored => {
                return Err(invalid(format!(
                    "Changing param values is not allowed. Param with key='{}' was already logged with value='{}' for {owner_label}='{owner}'. Attempted logging new value '{}'.",
                    p.key, stored, p.value
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Appends metric points in order (a point already logged, by key, timestamp, step and
/// value, is kept once and gains the new point's model link) and raises each key's latest value where the new point
/// is later by (step, timestamp, value).
pub(crate) async fn insert_metrics(
    tx: &mut Transaction<'static, Any>,
    batches: &[(&str, &[Metric])],
) -> Result<()> {
    let point = |run_id: &str, m: &Metric| {
        let nan = m.value.is_nan();
        vec![
            Bind::Text(run_id.to_string()),
            Bind::Text(m.key.clone()),
            Bind::Float(if nan { 0.0 } else { m.value }),
            Bind::Int(i64::from(nan)),
            Bind::Int(m.timestamp),
            Bind::Int(m.step),
        ]
    };
    let optional = |v: &Option<String>| {
        v.clone()
            .filter(|s| !s.is_empty())
            .map_or(Bind::Null, Bind::Text)
    };
    let mut seen = HashSet::new();
    let mut history = Vec::new();
    let mut latest: HashMap<(&str, &str), &Metric> = HashMap::new();
    for (run_id, metrics) in batches {
        for m in metrics.iter() {
            let value_bits = if m.value.is_nan() {
                u64::MAX
            } else {
                m.value.to_bits()
            };
            if seen.insert((*run_id, m.key.as_str(), m.timestamp, m.step, value_bits)) {
                let mut row = point(run_id, m);
                row.extend([
                    optional(&m.model_id),
                    optional(&m.dataset_name),
                    optional(&m.dataset_digest),
                    Bind::Int(m.value.to_bits() as i64),
                ]);
                history.push(row);
            }
            latest
                .entry((*run_id, m.key.as_str()))
                .and_modify(|slot| {
                    if is_later(m, slot) {
                        *slot = m;
                    }
                })
                .or_insert(m);
        }
    }
    if history.is_empty() {
        return Ok(());
    }
    insert_rows(
        tx,
        "metrics",
        &[
            "run_uuid",
            "key",
            "value",
            "is_nan",
            "timestamp",
            "step",
            "model_id",
            "dataset_name",
            "dataset_digest",
            "value_bits",
        ],
        history,
        "ON CONFLICT (run_uuid, key, timestamp, step, value, is_nan) DO UPDATE SET
             model_id = COALESCE(excluded.model_id, metrics.model_id),
             dataset_name = COALESCE(excluded.dataset_name, metrics.dataset_name),
             dataset_digest = COALESCE(excluded.dataset_digest, metrics.dataset_digest)",
    )
    .await?;
    let latest_row = |(run_id, m): (&str, &Metric)| {
        let mut row = point(run_id, m);
        row.push(Bind::Int(m.value.to_bits() as i64));
        row
    };
    insert_rows(
        tx,
        "latest_metrics",
        &["run_uuid", "key", "value", "is_nan", "timestamp", "step", "value_bits"],
        latest.into_iter().map(|((run_id, _), m)| latest_row((run_id, m))).collect(),
        "ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value, is_nan = excluded.is_nan,
             timestamp = excluded.timestamp, step = excluded.step, value_bits = excluded.value_bits
         WHERE excluded.step > latest_metrics.step
            OR (excluded.step = latest_metrics.step AND excluded.timestamp > latest_metrics.timestamp)
            OR (excluded.step = latest_metrics.step AND excluded.timestamp = latest_metrics.timestamp
                AND excluded.is_nan = 0 AND (latest_metrics.is_nan = 1 OR excluded.value >= latest_metrics.value))",
    )
    .await
}

/// True when `a` replaces `b` as the latest point: later step, then later timestamp, then
/// a greater value (NaN is lowest).
fn is_later(a: &Metric, b: &Metric) -> bool {
    (a.step, a.timestamp) > (b.step, b.timestamp)
        || ((a.step, a.timestamp) == (b.step, b.timestamp)
            && !a.value.is_nan()
            && (b.value.is_nan() || a.value >= b.value))
}

async fn upsert_dataset(
    tx: &mut Transaction<'static, Any>,
    experiment_id: i64,
    d: &Dataset,
) -> Result<String> {
    let existing = sqlx::query(
        "SELECT dataset_uuid FROM datasets WHERE experiment_id = $1 AND name = $2 AND digest = $3",
    )
    .bind(experiment_id)
    .bind(d.name.as_str())
    .bind(d.digest.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(row) = existing {
        return Ok(row.try_get("dataset_uuid")?);
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    // Another run of the experiment may be logging the same dataset right now (PostgreSQL):
    // then its row is the dataset.
    sqlx::query(
        "INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, source_type, source, schema, profile)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (experiment_id, name, digest) DO NOTHING",
    )
    .bind(id.as_str())
    .bind(experiment_id)
    .bind(d.name.as_str())
    .bind(d.digest.as_str())
    .bind(d.source_type.as_str())
    .bind(d.source.as_str())
    .bind(d.schema.as_deref())
    .bind(d.profile.as_deref())
    .execute(&mut **tx)
    .await?;
    Ok(sqlx::query(
        "SELECT dataset_uuid FROM datasets WHERE experiment_id = $1 AND name = $2 AND digest = $3",
    )
    .bind(experiment_id)
    .bind(d.name.as_str())
    .bind(d.digest.as_str())
    .fetch_one(&mut **tx)
    .await?
    .try_get("dataset_uuid")?)
}

async fn link_input(
    tx: &mut Transaction<'static, Any>,
    run_id: &str,
    kind: &str,
    source_id: &str,
    seq: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO run_inputs (run_uuid, kind, source_id, seq) VALUES ($1, $2, $3, $4)
         ON CONFLICT (run_uuid, kind, source_id) DO NOTHING",
    )
    .bind(run_id)
    .bind(kind)
    .bind(source_id)
    .bind(seq)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
