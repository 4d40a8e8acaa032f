//! The `pipeline.toml` and `monitors.toml` the quickstart writes into its directory.

/// The registered model, the endpoint of the prediction log and the pipeline's name.
pub const NAME: &str = "demand";
/// The monitor watching the endpoint's accuracy.
pub const MONITOR: &str = "demand-accuracy";
/// The retrain policy.
pub const POLICY: &str = "demand-retrain";
/// The policy's rule, as its decisions name it.
pub const RULE: &str = "smape > band.upper";
/// Days of the holdout the gate compares the challenger and the champion on.
pub const HOLDOUT_DAYS: usize = 3;
/// Consecutive out-of-band windows the policy waits for.
pub const RULE_WINDOWS: usize = 7;
/// Windows that make the alarm band.
pub const BAND_WINDOWS: usize = 14;
/// Days between a day's sales and their arrival as ground truth.
pub const LABEL_DELAY_DAYS: usize = 2;

/// The continuous-training pipeline: the last `HOLDOUT_DAYS` days are held out; `tune`
/// chooses between seasonal naive and seasonally adjusted naive on the rest; `evaluate`
/// scores the choice and the champion on the holdout and `gate` requires the challenger's
/// MASE to be at least 5 % lower; `refit` runs the same search on every day (the holdout
/// included), and that model is registered and, when blessed, made the champion.
pub fn pipeline_toml() -> String {
    format!(
        r#"# Written by `esteira quickstart`: daily demand per store and product, retrained when the
# monitors in monitors.toml say so (the hook trigger "monitor").
[pipeline]
name = "{NAME}"
description = "Daily units per store and product"

[params]
data = "./data/sales/*.parquet"
holdout = {HOLDOUT_DAYS}

[steps.ingest]
type = "ingest"
params = {{ path = "${{params.data}}" }}

[steps.validate]
type = "validate"
inputs = {{ data = "ingest.data" }}
params = {{ schema = {{ store_item = "string", date = "date", units = "float", promo = "int", holiday = "int" }}, min_rows = 100, ranges = {{ units = {{ min = 0 }} }}, max_null_fraction = 0.0 }}

[steps.split]
type = "split"
inputs = {{ data = "validate.data" }}
params = {{ time = "date", id = "store_item", horizon = "${{params.holdout}}" }}

[steps.tune]
type = "tune"
inputs = {{ train = "split.train" }}
params = {{ kind = "forecast", id = "store_item", time = "date", target = "units", horizon = "${{params.holdout}}", season = 7, space = {{ method = {{ choice = ["snaive", "naive2"] }} }}, strategy = "grid", metric = "mase" }}

[steps.evaluate]
type = "evaluate"
inputs = {{ model = "tune.model", test = "split.test" }}
params = {{ champion = "{NAME}@champion" }}
cache = false

[steps.gate]
type = "gate"
inputs = {{ report = "evaluate.report" }}
params = {{ rules = {{ mase = {{ greater_is_better = false, threshold = 3.0, min_relative_change = 0.05 }} }} }}

[steps.refit]
type = "tune"
inputs = {{ train = "validate.data" }}
params = {{ kind = "forecast", id = "store_item", time = "date", target = "units", horizon = "${{params.holdout}}", season = 7, space = {{ method = {{ choice = ["snaive", "naive2"] }} }}, strategy = "grid", metric = "mase" }}

[steps.register]
type = "register"
inputs = {{ model = "refit.model", blessing = "gate.blessing" }}
params = {{ name = "{NAME}" }}

[steps.deploy]
type = "deploy"
inputs = {{ version = "register.version", blessing = "gate.blessing" }}
params = {{ alias = "champion" }}

[[triggers]]
name = "monitor"
type = "hook"
"#
    )
}

/// The accuracy monitor of the endpoint and the retrain policy.
pub fn monitors_toml() -> String {
    format!(
        r#"# Written by `esteira quickstart`: the accuracy of the forecasts served by the "{NAME}"
# endpoint, judged every day on the ground truth that arrived that day.
[[monitor]]
name = "{MONITOR}"
endpoint = "{NAME}"
every = "1d"

[monitor.performance]
metric = "smape"
label_delay = "{delay}d"
band = {{ k = 3.0, reference_windows = {BAND_WINDOWS} }}

[[policy]]
name = "{POLICY}"
pipeline = "{NAME}"
trigger = "monitor"
cooldown = "21d"
budget = {{ retrains = 2, per = "30d" }}
rules = [{{ monitor = "{MONITOR}", when = "{RULE}", windows = {RULE_WINDOWS} }}]
"#,
        delay = LABEL_DELAY_DAYS + 1
    )
}
