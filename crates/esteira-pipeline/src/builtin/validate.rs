//! The `validate` step: infers the dataset's schema, computes per-column statistics, checks
//! anomaly rules and writes it all as a JSON report.
//!
//! Params (all optional; any other param is an error):
//! - `schema = { column = "int" | "float" | "string" | "bool" | "date" | "timestamp" | "other" }`:
//!   the expected schema; or `schema_file`, a JSON file (relative to the pipeline's directory)
//!   in the same format, such as the `schema` of an earlier report. Without either the schema
//!   is only inferred and recorded, and the three schema rules do not apply.
//! - Schema rules, each a severity `"fail"` or `"warn"`: `missing_columns` (a declared column
//!   is absent; default `"fail"`), `new_columns` (a column is not declared; default `"warn"`),
//!   `type_changes` (a column's type differs from the declared one; default `"fail"`).
//! - `min_rows = { value = 100, severity = "fail" }` (or just a number; severity defaults to
//!   `"fail"`): fewer rows is an anomaly. Not checked by default.
//! - `max_null_fraction = { value = 0.1, severity = "warn", columns = { price = 0.0 } }` (or
//!   just a number; severity defaults to `"warn"`): a column whose fraction of nulls exceeds
//!   the limit is an anomaly. `columns` overrides the limit per column, with a number or a
//!   `{ value, severity }` table. Not checked by default.
//! - `ranges = { price = { min = 0, max = 1e6, severity = "fail" } }`: a numeric column with
//!   values below `min` or above `max` (either may be left out) is an anomaly that reports
//!   how many; severity defaults to `"fail"`.
//!
//! A rule naming a column that is absent, or a range on a column that is not numeric, is an
//! anomaly of that rule.
//!
//! Types are inferred from Arrow: integers → `int`; floats and decimals → `float`; strings →
//! `string`; booleans → `bool`; dates → `date`; timestamps → `timestamp`; anything else →
//! `other`. For statistics a float NaN counts as a null (as in pandas).
//!
//! The report (output `report`) has `rows`, `schema` (the inferred one), `columns` (per
//! column, in table order: `name`, `type`, `count` of non-null values, `nulls`,
//! `null_fraction`; for numbers `min`, `max`, `mean` and `std` (sample, n−1; null below two
//! values); for dates and timestamps `min` and `max` as ISO text; for strings `distinct` and
//! `top`, the 5 most frequent values with their counts, ties by value), `anomalies` (each with
//! `rule`, `column` when it is about one, `severity`, `message` and, for ranges, `count`) and
//! `passed` (no anomaly of severity `"fail"`). Output `data` is the input, unchanged.
//! Metrics: `rows`, `anomalies_failed`, `anomalies_warned`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use arrow::datatypes::DataType;
use esteira_ml::dataset::Table;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::io::{self, param_error};
use crate::step::{StepContext, StepError, StepOutput};

/// The params this step knows.
const KNOWN_PARAMS: [&str; 8] = [
    "schema",
    "schema_file",
    "missing_columns",
    "new_columns",
    "type_changes",
    "min_rows",
    "max_null_fraction",
    "ranges",
];

/// How many most frequent values the report lists for a string column.
const TOP_VALUES: usize = 5;

/// Runs the step.
///
/// # Errors
/// [`StepError::Param`] for an unknown param, severity or type name, or a malformed rule;
/// [`StepError::Input`] when `data` cannot be read; [`StepError::Failed`] when an anomaly
/// of severity `"fail"` was found (after the report is written), listing them.
pub async fn run(ctx: &StepContext<'_>) -> Result<StepOutput, StepError> {
    let rules = Rules::from_params(ctx)?;
    let input = io::input_path(ctx, "data")?;
    let table = io::read_table(ctx, "data")?;
    let report = io::spawn_cpu(move || Ok(build_report(&table, &rules))).await?;
    let report_path = io::write_json(ctx, "report", &report)?;
    let failed: Vec<&Anomaly> = report
        .anomalies
        .iter()
        .filter(|a| a.severity == Severity::Fail)
        .collect();
    let warned = report.anomalies.len() - failed.len();
    ctx.log.line(format!(
        "{} rows, {} columns: {} failing and {warned} warning anomalies",
        report.rows,
        report.columns.len(),
        failed.len()
    ));
    for anomaly in &report.anomalies {
        ctx.log
            .line(format!("{:?}: {}", anomaly.severity, anomaly.message));
    }
    if !failed.is_empty() {
        let messages: Vec<&str> = failed.iter().map(|a| a.message.as_str()).collect();
        return Err(StepError::Failed(format!(
            "validation failed: {}",
            messages.join("; ")
        )));
    }
    Ok(StepOutput {
        outputs: [
            ("data".to_string(), input),
            ("report".to_string(), report_path),
        ]
        .into(),
        metrics: [
            ("rows".to_string(), report.rows as f64),
            ("anomalies_failed".to_string(), 0.0),
            ("anomalies_warned".to_string(), warned as f64),
        ]
        .into(),
    })
}

/// A column type as the schema names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// Any integer.
    Int,
    /// Floats and decimals.
    Float,
    /// Text.
    String,
    /// Booleans.
    Bool,
    /// Dates.
    Date,
    /// Timestamps.
    Timestamp,
    /// Any other Arrow type.
    Other,
}

impl ColumnType {
    const NAMES: [(&'static str, ColumnType); 7] = [
        ("int", ColumnType::Int),
        ("float", ColumnType::Float),
        ("string", ColumnType::String),
        ("bool", ColumnType::Bool),
        ("date", ColumnType::Date),
        ("timestamp", ColumnType::Timestamp),
        ("other", ColumnType::Other),
    ];

    fn from_name(name: &str) -> Option<ColumnType> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
    }

    fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, t)| *t == self)
            .map_or("other", |(n, _)| n)
    }

    fn of(data_type: &DataType) -> ColumnType {
        match data_type {
            t if t.is_integer() => ColumnType::Int,
            t if t.is_floating() => ColumnType::Float,
            DataType::Decimal32(..)
            | DataType::Decimal64(..)
            | DataType::Decimal128(..)
            | DataType::Decimal256(..) => ColumnType::Float,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColumnType::String,
            DataType::Boolean => ColumnType::Bool,
            DataType::Date32 | DataType::Date64 => ColumnType::Date,
            DataType::Timestamp(..) => ColumnType::Timestamp,
            _ => ColumnType::Other,
        }
    }

    fn is_numeric(self) -> bool {
        matches!(self, ColumnType::Int | ColumnType::Float)
    }
}

/// How bad an anomaly is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The step fails.
    Fail,
    /// Reported only.
    Warn,
}

/// A limit with the severity of breaking it.
#[derive(Clone, Copy, Debug)]
struct Limit {
    value: f64,
    severity: Severity,
}

/// An allowed range of a numeric column.
#[derive(Clone, Copy, Debug)]
struct Range {
    min: Option<f64>,
    max: Option<f64>,
    severity: Severity,
}

/// The checks to run.
#[derive(Debug)]
struct Rules {
    declared: Option<BTreeMap<String, ColumnType>>,
    missing_columns: Severity,
    new_columns: Severity,
    type_changes: Severity,
    min_rows: Option<Limit>,
    max_null_fraction: Option<Limit>,
    column_null_fractions: BTreeMap<String, Limit>,
    ranges: BTreeMap<String, Range>,
}

impl Rules {
    fn from_params(ctx: &StepContext<'_>) -> Result<Rules, StepError> {
        io::reject_unknown_params(ctx, &KNOWN_PARAMS)?;
        let (max_null_fraction, column_null_fractions) = match io::param(ctx, "max_null_fraction") {
            None => (None, BTreeMap::new()),
            Some(value) => parse_null_fractions(value)?,
        };
        Ok(Rules {
            declared: declared_schema(ctx)?,
            missing_columns: severity_param(ctx, "missing_columns", Severity::Fail)?,
            new_columns: severity_param(ctx, "new_columns", Severity::Warn)?,
            type_changes: severity_param(ctx, "type_changes", Severity::Fail)?,
            min_rows: io::param(ctx, "min_rows")
                .map(|v| parse_limit("min_rows", v, Severity::Fail))
                .transpose()?,
            max_null_fraction,
            column_null_fractions,
            ranges: match io::param(ctx, "ranges") {
                None => BTreeMap::new(),
                Some(value) => parse_ranges(value)?,
            },
        })
    }
}

fn severity_param(
    ctx: &StepContext<'_>,
    name: &str,
    default: Severity,
) -> Result<Severity, StepError> {
    io::param(ctx, name).map_or(Ok(default), |v| parse_severity(name, v))
}

fn parse_severity(param: &str, value: &Value) -> Result<Severity, StepError> {
    match value.as_str() {
        Some("fail") => Ok(Severity::Fail),
        Some("warn") => Ok(Severity::Warn),
        _ => Err(param_error(
            param,
            format!("severity must be \"fail\" or \"warn\", not {value}"),
        )),
    }
}

fn as_object<'a>(param: &str, value: &'a Value) -> Result<&'a Map<String, Value>, StepError> {
    value
        .as_object()
        .ok_or_else(|| param_error(param, format!("must be a table, not {value}")))
}

fn reject_unknown_keys(
    param: &str,
    table: &Map<String, Value>,
    known: &[&str],
) -> Result<(), StepError> {
    match table.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(param_error(
            &format!("{param}.{key}"),
            format!("unknown key (known: {})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

fn finite_number(param: &str, value: &Value) -> Result<f64, StepError> {
    value
        .as_f64()
        .filter(|x| x.is_finite())
        .ok_or_else(|| param_error(param, format!("must be a finite number, not {value}")))
}

/// A number, or `{ value, severity }`.
fn parse_limit(param: &str, value: &Value, default: Severity) -> Result<Limit, StepError> {
    if value.is_number() {
        return Ok(Limit {
            value: finite_number(param, value)?,
            severity: default,
        });
    }
    let table = as_object(param, value)?;
    reject_unknown_keys(param, table, &["value", "severity"])?;
    let limit = table
        .get("value")
        .ok_or_else(|| param_error(&format!("{param}.value"), "is required".into()))?;
    Ok(Limit {
        value: finite_number(&format!("{param}.value"), limit)?,
        severity: table.get("severity").map_or(Ok(default), |s| {
            parse_severity(&format!("{param}.severity"), s)
        })?,
    })
}

type NullFractions = (Option<Limit>, BTreeMap<String, Limit>);

/// `max_null_fraction`: a number, or `{ value?, severity?, columns? }`.
fn parse_null_fractions(value: &Value) -> Result<NullFractions, StepError> {
    const PARAM: &str = "max_null_fraction";
    let check = |param: &str, limit: Limit| {
        if (0.0..=1.0).contains(&limit.value) {
            Ok(limit)
        } else {
            Err(param_error(
                param,
                format!("must be within [0, 1], not {}", limit.value),
            ))
        }
    };
    if value.is_number() {
        let limit = parse_limit(PARAM, value, Severity::Warn)?;
        return Ok((Some(check(PARAM, limit)?), BTreeMap::new()));
    }
    let table = as_object(PARAM, value)?;
    reject_unknown_keys(PARAM, table, &["value", "severity", "columns"])?;
    let severity = table.get("severity").map_or(Ok(Severity::Warn), |s| {
        parse_severity(&format!("{PARAM}.severity"), s)
    })?;
    let global = table
        .get("value")
        .map(|v| {
            let param = format!("{PARAM}.value");
            let value = finite_number(&param, v)?;
            check(&param, Limit { value, severity })
        })
        .transpose()?;
    let mut columns = BTreeMap::new();
    if let Some(per_column) = table.get("columns") {
        let param = format!("{PARAM}.columns");
        for (column, limit) in as_object(&param, per_column)? {
            let param = format!("{param}.{column}");
            let limit = check(&param, parse_limit(&param, limit, severity)?)?;
            columns.insert(column.clone(), limit);
        }
    }
    Ok((global, columns))
}

/// `ranges = { column = { min?, max?, severity? } }`.
fn parse_ranges(value: &Value) -> Result<BTreeMap<String, Range>, StepError> {
    let mut ranges = BTreeMap::new();
    for (column, spec) in as_object("ranges", value)? {
        let param = format!("ranges.{column}");
        let table = as_object(&param, spec)?;
        reject_unknown_keys(&param, table, &["min", "max", "severity"])?;
        let bound = |key: &str| {
            table
                .get(key)
                .map(|v| finite_number(&format!("{param}.{key}"), v))
                .transpose()
        };
        let range = Range {
            min: bound("min")?,
            max: bound("max")?,
            severity: table.get("severity").map_or(Ok(Severity::Fail), |s| {
                parse_severity(&format!("{param}.severity"), s)
            })?,
        };
        match (range.min, range.max) {
            (None, None) => {
                return Err(param_error(&param, "give `min`, `max` or both".into()));
            }
            (Some(min), Some(max)) if min > max => {
                return Err(param_error(&param, format!("min {min} is above max {max}")));
            }
            _ => {}
        }
        ranges.insert(column.clone(), range);
    }
    Ok(ranges)
}

/// The schema from `schema` or `schema_file`, if either is given.
fn declared_schema(
    ctx: &StepContext<'_>,
) -> Result<Option<BTreeMap<String, ColumnType>>, StepError> {
    match (
        io::param(ctx, "schema"),
        io::optional_str(ctx, "schema_file")?,
    ) {
        (Some(_), Some(_)) => Err(param_error(
            "schema",
            "give either `schema` or `schema_file`, not both".into(),
        )),
        (Some(schema), None) => parse_schema("schema", schema).map(Some),
        (None, Some(file)) => read_schema_file(ctx.pipeline_dir, file).map(Some),
        (None, None) => Ok(None),
    }
}

fn read_schema_file(
    pipeline_dir: &Path,
    file: &str,
) -> Result<BTreeMap<String, ColumnType>, StepError> {
    let path = pipeline_dir.join(file);
    let text = std::fs::read(&path)
        .map_err(|e| param_error("schema_file", format!("{}: {e}", path.display())))?;
    let value: Value = serde_json::from_slice(&text)
        .map_err(|e| param_error("schema_file", format!("{}: {e}", path.display())))?;
    parse_schema("schema_file", &value)
}

fn parse_schema(param: &str, value: &Value) -> Result<BTreeMap<String, ColumnType>, StepError> {
    as_object(param, value)?
        .iter()
        .map(|(column, type_name)| {
            type_name
                .as_str()
                .and_then(ColumnType::from_name)
                .map(|t| (column.clone(), t))
                .ok_or_else(|| {
                    let names: Vec<&str> = ColumnType::NAMES.iter().map(|(n, _)| *n).collect();
                    param_error(
                        &format!("{param}.{column}"),
                        format!("unknown type {type_name} (known: {})", names.join(", ")),
                    )
                })
        })
        .collect()
}

/// The validation report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Number of rows.
    pub rows: usize,
    /// The inferred schema.
    pub schema: BTreeMap<String, ColumnType>,
    /// Statistics per column, in table order.
    pub columns: Vec<ColumnStats>,
    /// Every rule broken.
    pub anomalies: Vec<Anomaly>,
    /// Whether no anomaly has severity `fail`.
    pub passed: bool,
}

/// Statistics of one column.
#[derive(Debug, Serialize)]
pub struct ColumnStats {
    /// The column's name.
    pub name: String,
    /// Its inferred type.
    #[serde(rename = "type")]
    pub column_type: ColumnType,
    /// Non-null values.
    pub count: usize,
    /// Null values (and NaN).
    pub nulls: usize,
    /// `nulls / rows`.
    pub null_fraction: f64,
    /// Smallest value (numbers; dates and timestamps as ISO text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<Value>,
    /// Largest value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<Value>,
    /// Mean (numbers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Sample standard deviation (numbers with at least two values).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
    /// Number of distinct values (strings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct: Option<usize>,
    /// Most frequent values (strings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top: Option<Vec<TopValue>>,
}

/// A frequent value and how often it occurs.
#[derive(Debug, Serialize)]
pub struct TopValue {
    /// The value.
    pub value: String,
    /// Its number of occurrences.
    pub count: usize,
}

/// A broken rule.
#[derive(Debug, Serialize)]
pub struct Anomaly {
    /// The rule's param name.
    pub rule: &'static str,
    /// The column, when the rule is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// How bad it is.
    pub severity: Severity,
    /// What was found.
    pub message: String,
    /// How many values broke the rule (ranges).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
}

impl Anomaly {
    fn new(rule: &'static str, column: Option<&str>, severity: Severity, message: String) -> Self {
        Anomaly {
            rule,
            column: column.map(str::to_string),
            severity,
            message,
            count: None,
        }
    }
}

fn build_report(table: &Table, rules: &Rules) -> Report {
    let schema: BTreeMap<String, ColumnType> = table
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), ColumnType::of(f.data_type())))
        .collect();
    let columns: Vec<ColumnStats> = table
        .schema()
        .fields()
        .iter()
        .map(|f| column_stats(table, f.name(), ColumnType::of(f.data_type())))
        .collect();
    let mut anomalies = Vec::new();
    if let Some(declared) = &rules.declared {
        check_schema(declared, &schema, rules, &mut anomalies);
    }
    check_min_rows(table.num_rows(), rules, &mut anomalies);
    check_null_fractions(&columns, rules, &mut anomalies);
    check_ranges(table, &schema, rules, &mut anomalies);
    let passed = anomalies.iter().all(|a| a.severity != Severity::Fail);
    Report {
        rows: table.num_rows(),
        schema,
        columns,
        anomalies,
        passed,
    }
}

fn check_schema(
    declared: &BTreeMap<String, ColumnType>,
    actual: &BTreeMap<String, ColumnType>,
    rules: &Rules,
    anomalies: &mut Vec<Anomaly>,
) {
    for (column, expected) in declared {
        match actual.get(column) {
            None => anomalies.push(Anomaly::new(
                "missing_columns",
                Some(column),
                rules.missing_columns,
                format!("column `{column}` ({}) is missing", expected.name()),
            )),
            Some(found) if found != expected => anomalies.push(Anomaly::new(
                "type_changes",
                Some(column),
                rules.type_changes,
                format!(
                    "column `{column}` is {}, expected {}",
                    found.name(),
                    expected.name()
                ),
            )),
            Some(_) => {}
        }
    }
    for (column, found) in actual {
        if !declared.contains_key(column) {
            anomalies.push(Anomaly::new(
                "new_columns",
                Some(column),
                rules.new_columns,
                format!("column `{column}` ({}) is not in the schema", found.name()),
            ));
        }
    }
}

fn check_min_rows(rows: usize, rules: &Rules, anomalies: &mut Vec<Anomaly>) {
    if let Some(limit) = rules.min_rows
        && (rows as f64) < limit.value
    {
        anomalies.push(Anomaly::new(
            "min_rows",
            None,
            limit.severity,
            format!("{rows} rows, fewer than the minimum {}", limit.value),
        ));
    }
}

fn check_null_fractions(columns: &[ColumnStats], rules: &Rules, anomalies: &mut Vec<Anomaly>) {
    for (column, limit) in rules
        .column_null_fractions
        .iter()
        .filter(|(name, _)| !columns.iter().any(|c| &&c.name == name))
    {
        anomalies.push(missing_rule_column(
            "max_null_fraction",
            column,
            limit.severity,
        ));
    }
    for stats in columns {
        let limit = rules
            .column_null_fractions
            .get(&stats.name)
            .or(rules.max_null_fraction.as_ref());
        if let Some(limit) = limit
            && stats.null_fraction > limit.value
        {
            anomalies.push(Anomaly::new(
                "max_null_fraction",
                Some(&stats.name),
                limit.severity,
                format!(
                    "column `{}` has {} nulls ({:.4} of the rows), above the limit {}",
                    stats.name, stats.nulls, stats.null_fraction, limit.value
                ),
            ));
        }
    }
}

fn missing_rule_column(rule: &'static str, column: &str, severity: Severity) -> Anomaly {
    Anomaly::new(
        rule,
        Some(column),
        severity,
        format!("column `{column}`, which `{rule}` checks, is missing"),
    )
}

fn check_ranges(
    table: &Table,
    schema: &BTreeMap<String, ColumnType>,
    rules: &Rules,
    anomalies: &mut Vec<Anomaly>,
) {
    for (column, range) in &rules.ranges {
        let values = match schema.get(column) {
            None => {
                anomalies.push(missing_rule_column("ranges", column, range.severity));
                continue;
            }
            Some(t) if !t.is_numeric() => {
                anomalies.push(Anomaly::new(
                    "ranges",
                    Some(column),
                    range.severity,
                    format!("column `{column}` is {}, not a number", t.name()),
                ));
                continue;
            }
            Some(_) => non_null_numbers(table, column),
        };
        let outside = values
            .iter()
            .filter(|&&x| range.min.is_some_and(|m| x < m) || range.max.is_some_and(|m| x > m))
            .count();
        if outside > 0 {
            let mut anomaly = Anomaly::new(
                "ranges",
                Some(column),
                range.severity,
                format!(
                    "{outside} values of `{column}` are outside [{}, {}]",
                    range.min.map_or("-inf".into(), |m| m.to_string()),
                    range.max.map_or("inf".into(), |m| m.to_string())
                ),
            );
            anomaly.count = Some(outside);
            anomalies.push(anomaly);
        }
    }
}

/// The non-null, non-NaN values of a numeric column.
fn non_null_numbers(table: &Table, column: &str) -> Vec<f64> {
    table
        .f64_column(column)
        .map(|values| {
            values
                .into_iter()
                .flatten()
                .filter(|x| !x.is_nan())
                .collect()
        })
        .unwrap_or_default()
}

fn column_stats(table: &Table, name: &str, column_type: ColumnType) -> ColumnStats {
    let rows = table.num_rows();
    let mut stats = ColumnStats {
        name: name.to_string(),
        column_type,
        count: 0,
        nulls: 0,
        null_fraction: 0.0,
        min: None,
        max: None,
        mean: None,
        std: None,
        distinct: None,
        top: None,
    };
    match column_type {
        ColumnType::Int | ColumnType::Float => {
            let values = non_null_numbers(table, name);
            stats.count = values.len();
            add_number_stats(&mut stats, &values);
        }
        ColumnType::String => {
            let values: Vec<String> = table
                .string_column(name)
                .map(|v| v.into_iter().flatten().collect())
                .unwrap_or_default();
            stats.count = values.len();
            add_string_stats(&mut stats, &values);
        }
        ColumnType::Date | ColumnType::Timestamp => {
            let values: Vec<String> = table
                .string_column(name)
                .map(|v| v.into_iter().flatten().collect())
                .unwrap_or_default();
            stats.count = values.len();
            stats.min = values.iter().min().map(|v| Value::String(v.clone()));
            stats.max = values.iter().max().map(|v| Value::String(v.clone()));
        }
        ColumnType::Bool | ColumnType::Other => {
            stats.count = table
                .column(name)
                .map_or(0, |c| c.len() - c.logical_null_count());
        }
    }
    stats.nulls = rows - stats.count;
    stats.null_fraction = if rows == 0 {
        0.0
    } else {
        stats.nulls as f64 / rows as f64
    };
    stats
}

fn number(x: f64) -> Option<Value> {
    serde_json::Number::from_f64(x).map(Value::Number)
}

fn add_number_stats(stats: &mut ColumnStats, values: &[f64]) {
    if values.is_empty() {
        return;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    stats.min = number(values.iter().copied().fold(f64::INFINITY, f64::min));
    stats.max = number(values.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    stats.mean = Some(mean);
    if values.len() >= 2 {
        let squares: f64 = values.iter().map(|x| (x - mean) * (x - mean)).sum();
        stats.std = Some((squares / (n - 1.0)).sqrt());
    }
}

fn add_string_stats(stats: &mut ColumnStats, values: &[String]) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for value in values {
        *counts.entry(value).or_default() += 1;
    }
    let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    stats.distinct = Some(ranked.len());
    stats.top = Some(
        ranked
            .into_iter()
            .take(TOP_VALUES)
            .map(|(value, count)| TopValue {
                value: value.to_string(),
                count,
            })
            .collect(),
    );
}
