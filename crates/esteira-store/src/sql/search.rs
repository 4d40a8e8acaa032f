//! Translation of parsed MLflow search filters and order-by clauses into SQL.
//!
//! Every condition becomes an indexed probe (`EXISTS` on a primary key or a column of the
//! searched table); nothing joins metrics × params × tags. Values are always bound, never
//! spliced into the SQL text.

use esteira_core::search::{
    self, Comparator, Condition, EntityType, FilterValue, OrderBy, RegistryKind,
};

use super::{Bind, Dialect};
use crate::error::{Result, invalid};

/// Where each entity type of a filter lives for one searched table.
pub(crate) struct Schema {
    /// SQL expression of the searched row's key (e.g. `r.run_uuid`).
    owner: &'static str,
    /// Column of a filterable attribute, by canonical key; numeric attributes are marked.
    attribute: fn(&str) -> Option<(&'static str, bool)>,
    /// (table, owner column) of tags.
    tags: Option<(&'static str, &'static str)>,
    /// (table, owner column) of params.
    params: Option<(&'static str, &'static str)>,
    /// (table, owner column, extra condition) of metrics.
    metrics: Option<(&'static str, &'static str, &'static str)>,
    /// Whether `datasets.*` applies.
    datasets: bool,
}

fn run_attribute(key: &str) -> Option<(&'static str, bool)> {
    Some(match key {
        "run_id" | "run_uuid" => ("r.run_uuid", false),
        "run_name" => ("r.name", false),
        "status" => ("r.status", false),
        "user_id" => ("r.user_id", false),
        "artifact_uri" => ("r.artifact_uri", false),
        "lifecycle_stage" => ("r.lifecycle_stage", false),
        "start_time" | "created" => ("r.start_time", true),
        "end_time" => ("r.end_time", true),
        "experiment_id" => ("r.experiment_id", true),
        _ => return None,
    })
}

const RUNS: Schema = Schema {
    owner: "r.run_uuid",
    attribute: run_attribute,
    tags: Some(("tags", "run_uuid")),
    params: Some(("params", "run_uuid")),
    metrics: Some(("latest_metrics", "run_uuid", "x.is_nan = 0")),
    datasets: true,
};

fn experiment_attribute(key: &str) -> Option<(&'static str, bool)> {
    Some(match key {
        "name" => ("e.name", false),
        "experiment_id" => ("e.experiment_id", true),
        "creation_time" => ("e.creation_time", true),
        "last_update_time" => ("e.last_update_time", true),
        _ => return None,
    })
}

const EXPERIMENTS: Schema = Schema {
    owner: "e.experiment_id",
    attribute: experiment_attribute,
    tags: Some(("experiment_tags", "experiment_id")),
    params: None,
    metrics: None,
    datasets: false,
};

/// The tag that marks a registered model (and its versions) as a prompt.
const IS_PROMPT_TAG: &str = "mlflow.prompt.is_prompt";

/// Registry searches return models, not prompts, unless the filter asks for prompts
/// (`tags.mlflow.prompt.is_prompt = 'true'` or `!= 'false'`), as MLflow does: the client adds
/// `tags.mlflow.prompt.is_prompt != 'true'` to every model search, and models have no such tag.
/// Returns the conditions to translate and, when prompts are excluded, the exclusion clause.
fn without_prompts(
    parsed: Vec<Condition>,
    tag_table: &str,
    owner: &str,
) -> (Vec<Condition>, Option<String>) {
    let is_prompt_condition = |c: &Condition| c.entity == EntityType::Tag && c.key == IS_PROMPT_TAG;
    let wants_prompts = parsed
        .iter()
        .find(|c| is_prompt_condition(c))
        .is_some_and(|c| {
            let value = match &c.value {
                FilterValue::String(v) => v.to_ascii_lowercase(),
                _ => String::new(),
            };
            (c.comparator == Comparator::Eq && value == "true")
                || (c.comparator == Comparator::Ne && value == "false")
        });
    if wants_prompts {
        return (parsed, None);
    }
    let kept = parsed
        .into_iter()
        .filter(|c| !is_prompt_condition(c))
        .collect();
    let exclusion = format!(
        "NOT EXISTS (SELECT 1 FROM {tag_table} p WHERE p.name = {owner} AND p.key = '{IS_PROMPT_TAG}' AND p.value = 'true')"
    );
    (kept, Some(exclusion))
}

fn registered_model_attribute(key: &str) -> Option<(&'static str, bool)> {
    Some(match key {
        "name" => ("rm.name", false),
        "creation_timestamp" => ("rm.creation_time", true),
        "last_updated_timestamp" | "timestamp" => ("rm.last_updated_time", true),
        _ => return None,
    })
}

const REGISTERED_MODELS: Schema = Schema {
    owner: "rm.name",
    attribute: registered_model_attribute,
    tags: Some(("registered_model_tags", "name")),
    params: None,
    metrics: None,
    datasets: false,
};

fn model_version_attribute(key: &str) -> Option<(&'static str, bool)> {
    Some(match key {
        "name" => ("mv.name", false),
        "version_number" | "version" => ("mv.version", true),
        "run_id" => ("mv.run_id", false),
        "source_path" | "source" => ("mv.source", false),
        "current_stage" => ("mv.current_stage", false),
        "model_id" => ("mv.model_id", false),
        "creation_timestamp" => ("mv.creation_time", true),
        "last_updated_timestamp" | "timestamp" => ("mv.last_updated_time", true),
        _ => return None,
    })
}

/// Model versions' tags are keyed by (name, version); the owner expression covers both.
const MODEL_VERSIONS: Schema = Schema {
    owner: "mv.name",
    attribute: model_version_attribute,
    tags: Some(("model_version_tags", "name")),
    params: None,
    metrics: None,
    datasets: false,
};

fn logged_model_attribute(key: &str) -> Option<(&'static str, bool)> {
    Some(match key {
        "name" => ("lm.name", false),
        "model_id" => ("lm.model_id", false),
        "model_type" => ("lm.model_type", false),
        "status" => ("lm.status", false),
        "source_run_id" => ("lm.source_run_id", false),
        "experiment_id" => ("lm.experiment_id", true),
        "creation_timestamp" | "creation_time" => ("lm.creation_time", true),
        "last_updated_timestamp" | "last_updated_time" => ("lm.last_updated_time", true),
        _ => return None,
    })
}

const LOGGED_MODELS: Schema = Schema {
    owner: "lm.model_id",
    attribute: logged_model_attribute,
    tags: Some(("logged_model_tags", "model_id")),
    params: Some(("logged_model_params", "model_id")),
    metrics: Some(("metrics", "model_id", "x.is_nan = 0")),
    datasets: false,
};

/// Appends a bind and returns its placeholder.
fn push(binds: &mut Vec<Bind>, b: Bind) -> String {
    binds.push(b);
    format!("${}", binds.len())
}

/// `column <op> value` with the value bound.
fn compare(d: Dialect, column: &str, c: &Condition, binds: &mut Vec<Bind>) -> Result<String> {
    let value = |binds: &mut Vec<Bind>| -> Result<String> {
        Ok(match &c.value {
            FilterValue::Number(n) => push(binds, Bind::Float(*n)),
            FilterValue::String(s) if c.comparator == Comparator::Like => {
                push(binds, Bind::Text(d.like_pattern(s)))
            }
            FilterValue::String(s) => push(binds, Bind::Text(s.clone())),
            FilterValue::List(_) | FilterValue::Null => {
                return Err(invalid(format!(
                    "Invalid value for '{}': expected a single value for comparator '{}'",
                    c.key,
                    c.comparator.as_str()
                )));
            }
        })
    };
    Ok(match c.comparator {
        Comparator::Like => {
            let p = value(binds)?;
            d.like(column, &p)
        }
        Comparator::ILike => {
            let p = value(binds)?;
            d.ilike(column, &p)
        }
        Comparator::In | Comparator::NotIn => {
            let FilterValue::List(items) = &c.value else {
                return Err(invalid(format!(
                    "Invalid value for '{}': '{}' needs a list such as ('a', 'b')",
                    c.key,
                    c.comparator.as_str()
                )));
            };
            if items.is_empty() {
                return Ok(if c.comparator == Comparator::In {
                    "1 = 0"
                } else {
                    "1 = 1"
                }
                .into());
            }
            let list: Vec<String> = items
                .iter()
                .map(|s| push(binds, Bind::Text(s.clone())))
                .collect();
            format!("{column} {} ({})", c.comparator.as_str(), list.join(", "))
        }
        Comparator::IsNull | Comparator::IsNotNull => {
            format!("{column} {}", c.comparator.as_str())
        }
        op => {
            let v = value(binds)?;
            format!("{column} {} {v}", op.as_str())
        }
    })
}

/// `[NOT] EXISTS (SELECT 1 FROM table x WHERE x.owner = OWNER AND x.key = $k [AND ...])`.
fn exists_keyed(
    d: Dialect,
    schema: &Schema,
    (table, owner_col): (&str, &str),
    extra: Option<&str>,
    c: &Condition,
    binds: &mut Vec<Bind>,
) -> Result<String> {
    let key = push(binds, Bind::Text(c.key.clone()));
    let mut probe = format!(
        "SELECT 1 FROM {table} x WHERE x.{owner_col} = {} AND x.key = {key}",
        schema.owner
    );
    if table == "model_version_tags" {
        probe.push_str(" AND x.version = mv.version");
    }
    if let Some(extra) = extra {
        probe.push_str(" AND ");
        probe.push_str(extra);
    }
    Ok(match c.comparator {
        Comparator::IsNull => format!("NOT EXISTS ({probe})"),
        Comparator::IsNotNull => format!("EXISTS ({probe})"),
        _ => format!("EXISTS ({probe} AND {})", compare(d, "x.value", c, binds)?),
    })
}

fn condition(d: Dialect, schema: &Schema, c: &Condition, binds: &mut Vec<Bind>) -> Result<String> {
    let unsupported = |what: &str| {
        invalid(format!(
            "Filtering on {what} is not supported here ('{}')",
            c.key
        ))
    };
    match c.entity {
        EntityType::Attribute => {
            let (column, numeric) = (schema.attribute)(&c.key)
                .ok_or_else(|| invalid(format!("Invalid attribute key '{}' specified.", c.key)))?;
            if numeric && matches!(c.value, FilterValue::String(_) | FilterValue::List(_)) {
                // e.g. `experiment_id IN ('1', '2')`: PostgreSQL has no bigint = text.
                return compare(d, &format!("CAST({column} AS TEXT)"), c, binds);
            }
            compare(d, column, c, binds)
        }
        EntityType::Tag => {
            let t = schema.tags.ok_or_else(|| unsupported("tags"))?;
            exists_keyed(d, schema, t, None, c, binds)
        }
        EntityType::Param => {
            let t = schema.params.ok_or_else(|| unsupported("params"))?;
            exists_keyed(d, schema, t, None, c, binds)
        }
        EntityType::Metric => {
            let (table, owner, extra) = schema.metrics.ok_or_else(|| unsupported("metrics"))?;
            exists_keyed(d, schema, (table, owner), Some(extra), c, binds)
        }
        EntityType::Dataset if schema.datasets => dataset_condition(d, c, binds),
        EntityType::Dataset => Err(unsupported("datasets")),
    }
}

fn dataset_condition(d: Dialect, c: &Condition, binds: &mut Vec<Bind>) -> Result<String> {
    if c.key == "context" {
        let key = push(binds, Bind::Text("mlflow.data.context".into()));
        return Ok(format!(
            "EXISTS (SELECT 1 FROM run_input_tags t WHERE t.run_uuid = r.run_uuid AND t.key = {key} AND {})",
            compare(d, "t.value", c, binds)?
        ));
    }
    let column = match c.key.as_str() {
        "name" => "ds.name",
        "digest" => "ds.digest",
        other => return Err(invalid(format!("Invalid dataset key '{other}' specified."))),
    };
    Ok(format!(
        "EXISTS (SELECT 1 FROM run_inputs i JOIN datasets ds ON ds.dataset_uuid = i.source_id
                 WHERE i.run_uuid = r.run_uuid AND i.kind = 'dataset' AND {})",
        compare(d, column, c, binds)?
    ))
}

fn conditions(
    d: Dialect,
    schema: &Schema,
    parsed: &[Condition],
    binds: &mut Vec<Bind>,
) -> Result<Vec<String>> {
    parsed
        .iter()
        .map(|c| condition(d, schema, c, binds))
        .collect()
}

/// ORDER BY terms for one clause, adding a LEFT JOIN for keyed entities.
fn order_term(
    schema: &Schema,
    o: &OrderBy,
    n: usize,
    joins: &mut Vec<String>,
    binds: &mut Vec<Bind>,
) -> Result<Vec<(String, &'static str)>> {
    let dir = if o.ascending { "ASC" } else { "DESC" };
    let keyed = |table: &str, owner: &str, joins: &mut Vec<String>, binds: &mut Vec<Bind>| {
        let alias = format!("o{n}");
        let key = push(binds, Bind::Text(o.key.clone()));
        joins.push(format!(
            "LEFT JOIN {table} {alias} ON {alias}.{owner} = {} AND {alias}.key = {key}",
            schema.owner
        ));
        alias
    };
    match o.entity {
        EntityType::Attribute => {
            let (column, _) = (schema.attribute)(&o.key)
                .ok_or_else(|| invalid(format!("Invalid order_by key '{}' specified.", o.key)))?;
            // NULLs last in both directions, as MLflow (the databases disagree otherwise).
            Ok(vec![
                (
                    format!("CASE WHEN {column} IS NULL THEN 1 ELSE 0 END"),
                    "ASC",
                ),
                (column.to_string(), dir),
            ])
        }
        EntityType::Metric => {
            let (table, owner, _) = schema
                .metrics
                .ok_or_else(|| invalid(format!("Cannot order by metric '{}' here", o.key)))?;
            let a = if table == "metrics" {
                // The full history (logged models): join only each owner's latest point
                // (by timestamp, then step, as MLflow), not every point of the key.
                let alias = format!("o{n}");
                let key = push(binds, Bind::Text(o.key.clone()));
                joins.push(format!(
                    "LEFT JOIN (SELECT ranked.{owner}, ranked.value, ranked.is_nan FROM (
                         SELECT x.{owner}, x.value, x.is_nan, ROW_NUMBER() OVER (
                             PARTITION BY x.{owner} ORDER BY x.timestamp DESC, x.step DESC, x.run_uuid ASC) AS rn
                         FROM metrics x WHERE x.{owner} IS NOT NULL AND x.key = {key}) ranked
                     WHERE ranked.rn = 1) {alias} ON {alias}.{owner} = {}",
                    schema.owner
                ));
                alias
            } else {
                keyed(table, owner, joins, binds)
            };
            Ok(vec![
                (
                    format!(
                        "CASE WHEN {a}.value IS NULL THEN 2 WHEN {a}.is_nan = 1 THEN 1 ELSE 0 END"
                    ),
                    "ASC",
                ),
                (format!("{a}.value"), dir),
            ])
        }
        EntityType::Param | EntityType::Tag => {
            let table = if o.entity == EntityType::Param {
                schema.params
            } else {
                schema.tags
            };
            let (table, owner) =
                table.ok_or_else(|| invalid(format!("Cannot order by '{}' here", o.key)))?;
            let a = keyed(table, owner, joins, binds);
            Ok(vec![
                (
                    format!("CASE WHEN {a}.value IS NULL THEN 1 ELSE 0 END"),
                    "ASC",
                ),
                (format!("{a}.value"), dir),
            ])
        }
        EntityType::Dataset => Err(invalid("Cannot order by datasets")),
    }
}

/// The SQL pieces of one search: WHERE conditions, JOINs for ordering, ORDER BY terms.
pub(crate) struct SqlSearch {
    pub conditions: Vec<String>,
    pub joins: Vec<String>,
    /// (expression, `ASC` or `DESC`), most significant first.
    pub order: Vec<(String, &'static str)>,
}

impl SqlSearch {
    /// Completes `base` (a SELECT with a `{joins}` marker before its WHERE clause) with the
    /// joins, conditions, order and page window.
    pub(crate) fn select(&self, base: &str, limit: i64, offset: u64) -> String {
        let mut sql = base.replace("{joins}", &self.joins.join(" "));
        for c in &self.conditions {
            sql.push_str(" AND ");
            sql.push_str(c);
        }
        let order: Vec<String> = self
            .order
            .iter()
            .map(|(e, dir)| format!("{e} {dir}"))
            .collect();
        sql.push_str(&format!(
            " ORDER BY {} LIMIT {limit} OFFSET {offset}",
            order.join(", ")
        ));
        sql
    }

    /// Like [`SqlSearch::select`], but the page comes back as one row whose column `rows` is
    /// a JSON array of arrays of `columns` (the output names of `base`'s select list), in the
    /// search's order: each ORDER BY term becomes a column `sN` of the inner query (`base`
    /// has a `{sort_columns}` marker after its select list) and the aggregate sorts by them.
    pub(crate) fn select_json(
        &self,
        d: Dialect,
        base: &str,
        columns: &[&str],
        limit: i64,
        offset: u64,
    ) -> String {
        let sort_columns: String = self
            .order
            .iter()
            .enumerate()
            .map(|(i, (e, _))| format!(", {e} AS s{i}"))
            .collect();
        let inner = self.select(
            &base.replace("{sort_columns}", &sort_columns),
            limit,
            offset,
        );
        let order: Vec<String> = self
            .order
            .iter()
            .enumerate()
            .map(|(i, (_, dir))| format!("s{i} {dir}"))
            .collect();
        format!(
            "SELECT {} AS rows FROM ({inner}) page",
            d.json_rows_ordered(columns, &order.join(", "))
        )
    }
}

fn build(
    d: Dialect,
    schema: &Schema,
    parsed: &[Condition],
    orders: &[OrderBy],
    tiebreak: &[(&str, &'static str)],
    binds: &mut Vec<Bind>,
) -> Result<SqlSearch> {
    let conditions = conditions(d, schema, parsed, binds)?;
    let mut joins = Vec::new();
    let mut order = Vec::new();
    for (n, o) in orders.iter().enumerate() {
        order.extend(order_term(schema, o, n, &mut joins, binds)?);
    }
    order.extend(tiebreak.iter().map(|(e, dir)| (e.to_string(), *dir)));
    Ok(SqlSearch {
        conditions,
        joins,
        order,
    })
}

/// The SQL of a run search.
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` naming the malformed filter or order-by clause.
pub(crate) fn runs(
    d: Dialect,
    filter: Option<&str>,
    order_by: &[String],
    binds: &mut Vec<Bind>,
) -> Result<SqlSearch> {
    let parsed = search::parse_run_filter(filter.unwrap_or_default())?;
    let orders = order_by
        .iter()
        .map(|o| search::parse_run_order_by(o))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    build(
        d,
        &RUNS,
        &parsed,
        &orders,
        &[("r.start_time", "DESC"), ("r.run_uuid", "ASC")],
        binds,
    )
}

/// The SQL of an experiment search (default order: newest first).
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` naming the malformed filter or order-by clause.
pub(crate) fn experiments(
    d: Dialect,
    filter: Option<&str>,
    order_by: &[String],
    binds: &mut Vec<Bind>,
) -> Result<SqlSearch> {
    let parsed = search::parse_experiment_filter(filter.unwrap_or_default())?;
    let orders = order_by
        .iter()
        .map(|o| search::parse_experiment_order_by(o))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    build(
        d,
        &EXPERIMENTS,
        &parsed,
        &orders,
        &[("e.creation_time", "DESC"), ("e.experiment_id", "ASC")],
        binds,
    )
}

/// The SQL of a registered model search (default order: by name).
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` naming the malformed filter or order-by clause.
pub(crate) fn registered_models(
    d: Dialect,
    filter: Option<&str>,
    order_by: &[String],
    binds: &mut Vec<Bind>,
) -> Result<SqlSearch> {
    let parsed = search::parse_registered_model_filter(filter.unwrap_or_default())?;
    let (parsed, exclusion) = without_prompts(parsed, "registered_model_tags", "rm.name");
    let orders = order_by
        .iter()
        .map(|o| search::parse_registry_order_by(o, RegistryKind::RegisteredModel))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut search = build(
        d,
        &REGISTERED_MODELS,
        &parsed,
        &orders,
        &[("rm.name", "ASC")],
        binds,
    )?;
    search.conditions.extend(exclusion);
    Ok(search)
}

/// The SQL of a model version search (default order: newest version first per model).
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` naming the malformed filter or order-by clause.
pub(crate) fn model_versions(
    d: Dialect,
    filter: Option<&str>,
    order_by: &[String],
    binds: &mut Vec<Bind>,
) -> Result<SqlSearch> {
    let parsed = search::parse_model_version_filter(filter.unwrap_or_default())?;
    let (parsed, exclusion) = without_prompts(parsed, "model_version_tags", "mv.name");
    let orders = order_by
        .iter()
        .map(|o| search::parse_registry_order_by(o, RegistryKind::ModelVersion))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut search = build(
        d,
        &MODEL_VERSIONS,
        &parsed,
        &orders,
        &[("mv.name", "ASC"), ("mv.version", "DESC")],
        binds,
    )?;
    search.conditions.extend(exclusion);
    Ok(search)
}

/// The SQL of a logged model search (default order: newest first).
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` naming the malformed filter or order-by field.
pub(crate) fn logged_models(
    d: Dialect,
    filter: Option<&str>,
    order_by: &[(String, bool)],
    binds: &mut Vec<Bind>,
) -> Result<SqlSearch> {
    let parsed = search::parse_logged_model_filter(filter.unwrap_or_default())?;
    let orders = order_by
        .iter()
        .map(|(field, ascending)| {
            let (entity, key) = match field.split_once('.') {
                Some(("metrics", k)) => (EntityType::Metric, k),
                Some(("params", k)) => (EntityType::Param, k),
                Some(("tags", k)) => (EntityType::Tag, k),
                Some(("attributes", k)) => (EntityType::Attribute, k),
                _ => (EntityType::Attribute, field.as_str()),
            };
            OrderBy {
                entity,
                key: key.to_string(),
                ascending: *ascending,
            }
        })
        .collect::<Vec<_>>();
    build(
        d,
        &LOGGED_MODELS,
        &parsed,
        &orders,
        &[("lm.creation_time", "DESC"), ("lm.model_id", "ASC")],
        binds,
    )
}
