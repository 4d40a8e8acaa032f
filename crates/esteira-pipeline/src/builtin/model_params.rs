//! Params shared by the model steps (`train`, `tune`, `evaluate`, `batch_predict`), the
//! mapping of model-library errors to step errors, and running CPU-heavy work off the async
//! runtime.

use esteira_ml::forecast::Method;
use esteira_ml::model::forecast::method_by_name;
use esteira_ml::model::{ForecastConfig, ModelError};
use esteira_ml::series::LongFormat;
use esteira_ml::tabular::{Algorithm, TabularError, Task};
use serde_json::{Map, Value};

use super::io::{optional_str, param, param_error, required_str, str_list, usize_or};
use crate::step::{StepContext, StepError};

/// What a model step trains or scores: the `kind` param.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelTask {
    /// Many series in long format.
    Forecast,
    /// A number from feature columns.
    Regression,
    /// A label from feature columns.
    Classification,
}

impl ModelTask {
    /// The name used as `kind = "..."`.
    pub fn name(self) -> &'static str {
        match self {
            ModelTask::Forecast => "forecast",
            ModelTask::Regression => "regression",
            ModelTask::Classification => "classification",
        }
    }

    /// The tabular task, `None` for forecasts.
    pub fn tabular(self) -> Option<Task> {
        match self {
            ModelTask::Forecast => None,
            ModelTask::Regression => Some(Task::Regression),
            ModelTask::Classification => Some(Task::Classification),
        }
    }
}

/// The required `kind` param.
///
/// # Errors
/// [`StepError::Param`] when it is missing or not one of the three kinds.
pub fn model_task(ctx: &StepContext<'_>) -> Result<ModelTask, StepError> {
    let kind = required_str(ctx, "kind")?;
    [
        ModelTask::Forecast,
        ModelTask::Regression,
        ModelTask::Classification,
    ]
    .into_iter()
    .find(|k| k.name() == kind)
    .ok_or_else(|| {
        param_error(
            "kind",
            format!("unknown kind `{kind}` (kinds: forecast, regression, classification)"),
        )
    })
}

/// Checks that every param of the step is in `known`.
///
/// # Errors
/// [`StepError::Param`] naming the first param that is not, and listing `known`.
pub fn check_known_params(
    ctx: &StepContext<'_>,
    what: &str,
    known: &[&str],
) -> Result<(), StepError> {
    match ctx.params.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(unknown) => Err(param_error(
            unknown,
            format!("not a param of {what} (params: {})", known.join(", ")),
        )),
    }
}

/// Params of a forecast model's columns and fit.
pub const FORECAST_PARAMS: [&str; 10] = [
    "kind",
    "id",
    "time",
    "target",
    "exog",
    "horizon",
    "method",
    "season",
    "seasons",
    "backtest_windows",
];

/// Params of a tabular model's columns and fit.
pub const TABULAR_PARAMS: [&str; 7] = [
    "kind",
    "target",
    "features",
    "algorithm",
    "hyperparams",
    "test_fraction",
    "seed",
];

/// The forecast config of the params `id`, `time`, `target`, `exog` (long format),
/// `horizon` (required), `method` (default `auto`) and `season` / `seasons` (default:
/// detected per series).
///
/// # Errors
/// [`StepError::Param`] naming a missing or malformed param, an unknown method or a zero
/// horizon or season.
pub fn forecast_config(ctx: &StepContext<'_>) -> Result<ForecastConfig, StepError> {
    let id = str_list(ctx, "id")?;
    if id.is_empty() {
        return Err(param_error(
            "id",
            "is required for kind = \"forecast\" (the column(s) naming a series)".into(),
        ));
    }
    let format = LongFormat {
        id,
        time: required_str(ctx, "time")?.to_string(),
        target: required_str(ctx, "target")?.to_string(),
        exog: str_list(ctx, "exog")?,
    };
    let horizon = match param(ctx, "horizon") {
        None | Some(Value::Null) => {
            return Err(param_error(
                "horizon",
                "is required for kind = \"forecast\"".into(),
            ));
        }
        Some(_) => usize_or(ctx, "horizon", 0)?,
    };
    if horizon == 0 {
        return Err(param_error("horizon", "must be at least 1".into()));
    }
    let method = optional_str(ctx, "method")?.unwrap_or("auto");
    let method = method_by_name(method).ok_or_else(|| {
        param_error(
            "method",
            format!(
                "unknown method `{method}` (methods: {})",
                Method::EVERY.map(Method::name).join(", ")
            ),
        )
    })?;
    Ok(ForecastConfig {
        format,
        method: method.name().to_string(),
        horizon,
        seasons: seasons(ctx)?,
    })
}

/// The seasonal periods of `season` or `seasons`: an integer or a list of integers, each at
/// least 1; `None` (detect per series) when neither is given.
fn seasons(ctx: &StepContext<'_>) -> Result<Option<Vec<usize>>, StepError> {
    let given: Vec<&str> = ["season", "seasons"]
        .into_iter()
        .filter(|n| !matches!(param(ctx, n), None | Some(Value::Null)))
        .collect();
    let name = match given.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        _ => {
            return Err(param_error(
                "seasons",
                "give `season` or `seasons`, not both".into(),
            ));
        }
    };
    let bad = |v: &Value| {
        param_error(
            name,
            format!("must be a positive integer or a list of them, not {v}"),
        )
    };
    let value = param(ctx, name).unwrap_or(&Value::Null);
    let items: Vec<&Value> = match value {
        Value::Array(items) if !items.is_empty() => items.iter().collect(),
        Value::Number(_) => vec![value],
        other => return Err(bad(other)),
    };
    items
        .into_iter()
        .map(|v| {
            v.as_u64()
                .filter(|&m| m >= 1)
                .and_then(|m| usize::try_from(m).ok())
                .ok_or_else(|| bad(v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The settings of a tabular model.
#[derive(Clone, Debug)]
pub struct TabularSettings {
    /// Regression or classification.
    pub task: Task,
    /// The target column.
    pub target: String,
    /// The feature columns (empty: every other column).
    pub features: Vec<String>,
    /// The learner.
    pub algorithm: Algorithm,
    /// The learner's params.
    pub hyperparams: Map<String, Value>,
    /// Share of the rows held out for scoring (0: none).
    pub test_fraction: f64,
    /// Seed of the holdout split (and of random search).
    pub seed: u64,
}

/// The tabular settings of the params `target` (required), `features`, `algorithm` (default
/// `gbdt`), `hyperparams` (a table), `test_fraction` (default 0) and `seed` (default 0).
///
/// # Errors
/// [`StepError::Param`] naming a missing or malformed param or an unknown algorithm.
pub fn tabular_settings(ctx: &StepContext<'_>, task: Task) -> Result<TabularSettings, StepError> {
    let hyperparams = match param(ctx, "hyperparams") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(other) => {
            return Err(param_error(
                "hyperparams",
                format!("must be a table of the algorithm's params, not {other}"),
            ));
        }
    };
    let test_fraction = super::io::f64_or(ctx, "test_fraction", 0.0)?;
    if !(0.0..1.0).contains(&test_fraction) {
        return Err(param_error(
            "test_fraction",
            format!("must be at least 0 and below 1, not {test_fraction}"),
        ));
    }
    Ok(TabularSettings {
        task,
        target: required_str(ctx, "target")?.to_string(),
        features: str_list(ctx, "features")?,
        algorithm: algorithm(ctx)?,
        hyperparams,
        test_fraction,
        seed: usize_or(ctx, "seed", 0)? as u64,
    })
}

/// The `algorithm` param, by the CLI's names (`random-forest` or `random_forest`).
fn algorithm(ctx: &StepContext<'_>) -> Result<Algorithm, StepError> {
    let name = optional_str(ctx, "algorithm")?.unwrap_or("gbdt");
    [
        Algorithm::Linear,
        Algorithm::Ridge,
        Algorithm::Logistic,
        Algorithm::Gbdt,
        Algorithm::RandomForest,
    ]
    .into_iter()
    .find(|a| a.to_string() == name.replace('-', "_"))
    .ok_or_else(|| {
        param_error(
            "algorithm",
            format!(
                "unknown algorithm `{name}` (algorithms: linear, ridge, logistic, gbdt, random-forest)"
            ),
        )
    })
}

/// A `NAME@ALIAS` reference to a registered model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AliasRef {
    /// The registered model's name.
    pub name: String,
    /// The alias.
    pub alias: String,
}

impl std::fmt::Display for AliasRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.alias)
    }
}

/// The optional `NAME@ALIAS` param `name`.
///
/// # Errors
/// [`StepError::Param`] when it is not a string of a non-empty name, one `@` and a non-empty
/// alias.
pub fn alias_ref(ctx: &StepContext<'_>, name: &str) -> Result<Option<AliasRef>, StepError> {
    let Some(text) = optional_str(ctx, name)? else {
        return Ok(None);
    };
    match text.split_once('@') {
        Some((model, alias)) if !model.is_empty() && !alias.is_empty() && !alias.contains('@') => {
            Ok(Some(AliasRef {
                name: model.to_string(),
                alias: alias.to_string(),
            }))
        }
        _ => Err(param_error(
            name,
            format!("must be NAME@ALIAS (e.g. sales@champion), not `{text}`"),
        )),
    }
}

/// A model-library error met while reading the data of input `input` or fitting on it:
/// bad hyperparameters and algorithm/task mismatches are param errors, data problems are
/// input errors, the rest (a fit that fails) are step failures.
pub fn fit_error(input: &str, e: ModelError) -> StepError {
    match e {
        ModelError::Tabular(
            ref t @ (TabularError::UnknownParam { .. }
            | TabularError::BadParam { .. }
            | TabularError::ParamsNotObject { .. }),
        ) => param_error("hyperparams", t.to_string()),
        ModelError::Tabular(ref t @ TabularError::UnsupportedTask { .. }) => {
            param_error("algorithm", t.to_string())
        }
        ModelError::Invalid { field, reason }
            if matches!(field, "method" | "horizon" | "season") =>
        {
            param_error(field, reason)
        }
        ModelError::Dataset(_)
        | ModelError::Series(_)
        | ModelError::Tabular(_)
        | ModelError::Invalid { .. } => input_error(input, e),
        other => StepError::Failed(other.to_string()),
    }
}

/// A [`StepError::Input`] for port `input`.
pub fn input_error(input: &str, reason: impl std::fmt::Display) -> StepError {
    StepError::Input {
        input: input.to_string(),
        reason: reason.to_string(),
    }
}

/// Runs `work` on the blocking thread pool.
///
/// # Errors
/// `work`'s error, or [`StepError::Failed`] when it panicked.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StepError> + Send + 'static,
) -> Result<T, StepError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StepError::Failed(format!("the step's work did not finish: {e}")))?
}
