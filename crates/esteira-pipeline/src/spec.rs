//! `pipeline.toml`: parsing, validation and parameter substitution.
//!
//! ```toml
//! [pipeline]
//! name = "demand"
//!
//! [params]
//! horizon = 14
//!
//! [steps.ingest]
//! type = "ingest"
//! params = { path = "data/sales.csv" }
//!
//! [steps.train]
//! type = "train"
//! inputs = { train = "ingest.data" }
//! params = { kind = "forecast", horizon = "${params.horizon}" }
//! retries = 2
//! timeout = "30m"
//!
//! [steps.report]
//! command = ["python", "report.py"]
//! inputs = { model = "train.model" }
//! outputs = { summary = "file" }
//!
//! [[triggers]]
//! type = "cron"
//! schedule = "0 3 * * *"
//! timezone = "Europe/Lisbon"
//! ```
//!
//! An input is either `"<step>.<output>"` or an external path (it contains `://`, or starts
//! with `/`, `./` or `../`), which is resolved against the pipeline file's directory.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::error::{Error, Result, SpecProblem};
use crate::step::{ArtifactKind, BuiltinKind, Port};
use crate::trigger;

/// A parsed and validated pipeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PipelineSpec {
    /// The pipeline's name (also its MLflow experiment's name).
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The author's version label, if the file gives one.
    pub version: Option<String>,
    /// Params and their default values.
    pub params: BTreeMap<String, Value>,
    /// The steps, by name.
    pub steps: BTreeMap<String, StepSpec>,
    /// The triggers.
    pub triggers: Vec<TriggerSpec>,
    /// The SHA-256 of the file's bytes, in hex.
    pub digest: String,
    /// The file's text.
    pub source: String,
}

/// What a step runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// A built-in type.
    Builtin(BuiltinKind),
    /// An executable and its arguments.
    Command(Vec<String>),
}

/// Where an input comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputRef {
    /// An output of another step.
    Step {
        /// The producing step.
        step: String,
        /// Its output port.
        output: String,
    },
    /// A path or URL outside the pipeline (may contain `${params.*}`).
    External(String),
}

/// One step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepSpec {
    /// What it runs.
    pub kind: StepKind,
    /// Its params (may contain `${params.*}`).
    pub params: Map<String, Value>,
    /// Its connected inputs, by port name.
    pub inputs: BTreeMap<String, InputRef>,
    /// Its outputs, by port name.
    pub outputs: BTreeMap<String, ArtifactKind>,
    /// Files or globs (relative to the pipeline file) whose content is part of the cache key.
    pub code: Vec<String>,
    /// How many times a failed attempt is retried.
    pub retries: u32,
    /// The wait before the first retry; it doubles for each further one.
    pub retry_backoff: Duration,
    /// How long one attempt may run.
    pub timeout: Option<Duration>,
    /// Whether a matching earlier execution may be reused.
    pub cache: bool,
    /// Extra environment variables for command steps.
    pub env: BTreeMap<String, String>,
}

impl StepSpec {
    /// The steps this one reads from.
    pub fn upstream(&self) -> BTreeSet<&str> {
        self.inputs
            .values()
            .filter_map(|i| match i {
                InputRef::Step { step, .. } => Some(step.as_str()),
                InputRef::External(_) => None,
            })
            .collect()
    }

    /// The step's params with `${params.NAME}` replaced from `params`. A string that is
    /// exactly one placeholder takes the param's JSON value; elsewhere the value is
    /// spliced into the text.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming an unknown param.
    pub fn resolved_params(&self, params: &BTreeMap<String, Value>) -> Result<Map<String, Value>> {
        self.params
            .iter()
            .map(|(k, v)| Ok((k.clone(), substitute(v, params)?)))
            .collect()
    }
}

/// A trigger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerSpec {
    /// Its name, unique in the pipeline (defaults to its type).
    pub name: String,
    /// What fires it.
    pub kind: TriggerKind,
}

/// What to do with cron firings missed while nothing was running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Skip them.
    None,
    /// Fire once for the latest missed time.
    Latest,
    /// Fire once per missed time.
    All,
}

/// The kinds of trigger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum TriggerKind {
    /// A cron schedule.
    Cron {
        /// 5 or 6 fields.
        schedule: String,
        /// An IANA time zone name.
        timezone: String,
        /// Missed firings.
        catch_up: CatchUp,
        /// Firings beyond this many active runs are recorded as skipped.
        max_concurrent: u32,
    },
    /// New files under a local glob or an S3 prefix; each new file fires once and is
    /// passed as `param`.
    NewData {
        /// A local glob (relative to the pipeline file) or `s3://bucket/prefix`.
        path: String,
        /// The pipeline param that receives the new file's path.
        param: String,
    },
    /// A SQL query returning one value; each new value fires once and is passed as `param`.
    Watermark {
        /// A PostgreSQL URL.
        url: String,
        /// The query.
        query: String,
        /// The pipeline param that receives the new value.
        param: String,
    },
    /// Another pipeline's run finishing successfully.
    Upstream {
        /// The upstream pipeline's name.
        pipeline: String,
    },
    /// Called through the API or `esteira pipeline trigger` (the monitoring policies use it).
    Hook,
}

impl TriggerKind {
    /// The name used as `type = "..."`.
    pub fn type_name(&self) -> &'static str {
        match self {
            TriggerKind::Cron { .. } => "cron",
            TriggerKind::NewData { .. } => "new_data",
            TriggerKind::Watermark { .. } => "watermark",
            TriggerKind::Upstream { .. } => "upstream",
            TriggerKind::Hook => "hook",
        }
    }
}

impl PipelineSpec {
    /// Parses and validates `source`, the content of `file`.
    ///
    /// # Errors
    /// [`Error::Spec`] with every problem found, each with its line, column and key.
    pub fn parse(file: &str, source: &str) -> Result<PipelineSpec> {
        let locate = Locator { file, source };
        let raw: RawFile = toml::from_str(source).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            Error::Spec(vec![locate.problem(at, None, e.message().to_string())])
        })?;
        let mut problems = Vec::new();
        let spec = build(raw, source, &locate, &mut problems);
        if problems.is_empty() {
            Ok(spec)
        } else {
            problems.sort_by_key(|p| (p.line, p.column));
            Err(Error::Spec(problems))
        }
    }

    /// Reads and parses the file at `path`.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read, [`Error::Spec`] as [`PipelineSpec::parse`].
    pub fn read(path: &std::path::Path) -> Result<PipelineSpec> {
        let source = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        PipelineSpec::parse(&path.display().to_string(), &source)
    }

    /// The steps in an order where every step comes after the steps it reads from (ties by
    /// name).
    pub fn order(&self) -> Vec<&str> {
        let mut waiting: BTreeMap<&str, usize> = self
            .steps
            .iter()
            .map(|(n, s)| (n.as_str(), s.upstream().len()))
            .collect();
        let mut order = Vec::with_capacity(self.steps.len());
        while let Some(next) = waiting.iter().find(|(_, n)| **n == 0).map(|(s, _)| *s) {
            waiting.remove(next);
            order.push(next);
            for (name, step) in &self.steps {
                if step.upstream().contains(next)
                    && let Some(n) = waiting.get_mut(name.as_str())
                {
                    *n -= 1;
                }
            }
        }
        order
    }

    /// The steps that read, directly or not, from `step` (not including it).
    pub fn downstream(&self, step: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut frontier = vec![step.to_string()];
        while let Some(current) = frontier.pop() {
            for (name, s) in &self.steps {
                if s.upstream().contains(current.as_str()) && found.insert(name.clone()) {
                    frontier.push(name.clone());
                }
            }
        }
        found
    }

    /// The default params overridden by `overrides` (`name=value` pairs). A value is read
    /// as JSON when the default is not a string, else taken as text.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming an unknown param, a pair without `=`, or a value that is
    /// not of the default's type.
    pub fn params_with(&self, overrides: &[String]) -> Result<BTreeMap<String, Value>> {
        let mut params = self.params.clone();
        for pair in overrides {
            let (name, text) = pair
                .split_once('=')
                .ok_or_else(|| Error::invalid("--param", format!("{pair:?} is not NAME=VALUE")))?;
            let default = params.get(name).ok_or_else(|| {
                Error::invalid(
                    "--param",
                    format!(
                        "unknown param {name:?}; the pipeline has {:?}",
                        self.param_names()
                    ),
                )
            })?;
            let value = typed_param(name, default, text)?;
            params.insert(name.to_string(), value);
        }
        Ok(params)
    }

    fn param_names(&self) -> Vec<&str> {
        self.params.keys().map(String::as_str).collect()
    }

    /// The output ports of `step`, by name.
    pub fn outputs_of(&self, step: &str) -> Option<&BTreeMap<String, ArtifactKind>> {
        self.steps.get(step).map(|s| &s.outputs)
    }
}

/// `text` read as a value of the same type as `default` (JSON for non-strings).
///
/// # Errors
/// [`Error::Invalid`] naming the param when `text` is not of that type.
pub fn typed_param(name: &str, default: &Value, text: &str) -> Result<Value> {
    let wrong = |what: &str| {
        Error::invalid(
            format!("params.{name}"),
            format!("{text:?} is not {what} like the default {default}"),
        )
    };
    match default {
        Value::String(_) => Ok(Value::String(text.to_string())),
        Value::Bool(_) => text
            .parse::<bool>()
            .map(Value::Bool)
            .map_err(|_| wrong("a boolean")),
        Value::Number(n) if n.is_i64() || n.is_u64() => text
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| wrong("an integer")),
        Value::Number(_) => text
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Value::from)
            .ok_or_else(|| wrong("a finite number")),
        _ => serde_json::from_str(text).map_err(|_| wrong("JSON")),
    }
}

/// Replaces `${params.NAME}` in `value` (recursively).
///
/// # Errors
/// [`Error::Invalid`] naming an unknown param.
pub fn substitute(value: &Value, params: &BTreeMap<String, Value>) -> Result<Value> {
    match value {
        Value::String(s) => substitute_text(s, params),
        Value::Array(items) => items
            .iter()
            .map(|v| substitute(v, params))
            .collect::<Result<Vec<_>>>()
            .map(Value::Array),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), substitute(v, params)?)))
            .collect::<Result<Map<_, _>>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

/// Replaces `${params.NAME}` in `text`; a text that is exactly one placeholder becomes the
/// param's value.
///
/// # Errors
/// [`Error::Invalid`] naming an unknown param.
pub fn substitute_text(text: &str, params: &BTreeMap<String, Value>) -> Result<Value> {
    let lookup = |name: &str| {
        params
            .get(name)
            .ok_or_else(|| Error::invalid(format!("${{params.{name}}}"), "no such param"))
    };
    if let Some(name) = text
        .strip_prefix("${params.")
        .and_then(|t| t.strip_suffix('}'))
        .filter(|n| !n.contains('}'))
    {
        return lookup(name).cloned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${params.") {
        out.push_str(&rest[..start]);
        let after = &rest[start + "${params.".len()..];
        let end = after
            .find('}')
            .ok_or_else(|| Error::invalid(text, "unterminated ${params.…}"))?;
        match lookup(&after[..end])? {
            Value::String(s) => out.push_str(s),
            other => out.push_str(&other.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

/// Parses `500ms`, `2s`, `10m`, `1h`, `1d`.
///
/// # Errors
/// A message saying what is accepted.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 30s, 10m, 2h or 1d"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        _ => return Err(format!("{text:?} has no unit; use ms, s, m, h or d")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    pipeline: RawHeader,
    #[serde(default)]
    params: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    steps: BTreeMap<String, Spanned<RawStep>>,
    #[serde(default)]
    triggers: Vec<Spanned<RawTrigger>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    name: Spanned<String>,
    description: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(rename = "type")]
    kind: Option<Spanned<String>>,
    command: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    params: BTreeMap<String, toml::Value>,
    #[serde(default)]
    inputs: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    outputs: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    code: Vec<String>,
    #[serde(default)]
    retries: u32,
    retry_backoff: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    cache: Option<bool>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    schedule: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    catch_up: Option<Spanned<String>>,
    max_concurrent: Option<u32>,
    path: Option<String>,
    param: Option<Spanned<String>>,
    url: Option<String>,
    query: Option<String>,
    pipeline: Option<String>,
}

struct Locator<'a> {
    file: &'a str,
    source: &'a str,
}

impl Locator<'_> {
    fn problem(&self, offset: usize, key: Option<String>, message: String) -> SpecProblem {
        let offset = offset.min(self.source.len());
        let before = &self.source[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        SpecProblem {
            file: self.file.to_string(),
            line,
            column,
            key: key.unwrap_or_else(|| key_at(self.source, offset)),
            message,
        }
    }
}

/// The dotted key of the line holding `offset`: the enclosing table header plus the key
/// before `=` on that line.
fn key_at(source: &str, offset: usize) -> String {
    let before = &source[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[offset..]
        .find('\n')
        .map_or(source.len(), |i| offset + i);
    let line = source[line_start..line_end].trim();
    let header = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    if line.starts_with('[') {
        return line
            .trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_string();
    }
    let key = line.split('=').next().unwrap_or("").trim();
    match (header, key.is_empty()) {
        (Some(h), false) => format!("{h}.{key}"),
        (Some(h), true) => h,
        (None, _) => key.to_string(),
    }
}

fn build(
    raw: RawFile,
    source: &str,
    at: &Locator,
    problems: &mut Vec<SpecProblem>,
) -> PipelineSpec {
    let name = raw.pipeline.name.get_ref().trim().to_string();
    if name.is_empty() || name.contains(['/', '\\']) {
        problems.push(at.problem(
            raw.pipeline.name.span().start,
            Some("pipeline.name".into()),
            "must be a non-empty name without slashes".into(),
        ));
    }
    let params: BTreeMap<String, Value> = raw
        .params
        .iter()
        .map(|(k, v)| (k.clone(), toml_to_json(v.get_ref())))
        .collect();
    let mut steps = BTreeMap::new();
    for (step_name, step) in &raw.steps {
        if let Some(spec) = build_step(step_name, step, &params, at, problems) {
            steps.insert(step_name.clone(), spec);
        }
    }
    check_inputs(&raw, &steps, at, problems);
    check_cycles(&raw, &steps, at, problems);
    let triggers = build_triggers(&raw, &params, at, problems);
    PipelineSpec {
        name,
        description: raw.pipeline.description,
        version: raw.pipeline.version,
        params,
        steps,
        triggers,
        digest: hex_digest(source.as_bytes()),
        source: source.to_string(),
    }
}

/// The SHA-256 of `bytes` in lower-case hex.
pub fn hex_digest(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

fn build_step(
    name: &str,
    step: &Spanned<RawStep>,
    params: &BTreeMap<String, Value>,
    at: &Locator,
    problems: &mut Vec<SpecProblem>,
) -> Option<StepSpec> {
    let raw = step.get_ref();
    let key = |k: &str| Some(format!("steps.{name}.{k}"));
    let start = problems.len();
    let kind = step_kind(name, step, at, problems)?;
    let outputs = match &kind {
        StepKind::Builtin(b) => {
            if let Some((port, _)) = raw.outputs.iter().next() {
                problems.push(at.problem(
                    raw.outputs[port].span().start,
                    key(&format!("outputs.{port}")),
                    format!(
                        "built-in step type `{}` has fixed outputs; remove `outputs`",
                        b.name()
                    ),
                ));
            }
            b.outputs()
                .iter()
                .map(|p| (p.name.to_string(), p.kind))
                .collect()
        }
        StepKind::Command(_) => command_outputs(name, raw, at, problems),
    };
    let params_json: Map<String, Value> = raw
        .params
        .iter()
        .map(|(k, v)| (k.clone(), toml_to_json(v)))
        .collect();
    if let Err(e) = substitute(&Value::Object(params_json.clone()), params) {
        problems.push(at.problem(step.span().start, key("params"), e.to_string()));
    }
    let duration = |field: &Option<Spanned<String>>, k: &str, problems: &mut Vec<SpecProblem>| {
        field
            .as_ref()
            .and_then(|d| match parse_duration(d.get_ref()) {
                Ok(v) => Some(v),
                Err(e) => {
                    problems.push(at.problem(d.span().start, key(k), e));
                    None
                }
            })
    };
    let retry_backoff =
        duration(&raw.retry_backoff, "retry_backoff", problems).unwrap_or(Duration::from_secs(1));
    let timeout = duration(&raw.timeout, "timeout", problems);
    if timeout.is_some_and(|t| t.is_zero()) {
        let span = raw.timeout.as_ref().map_or(0, |t| t.span().start);
        problems.push(at.problem(span, key("timeout"), "must be more than zero".into()));
    }
    let inputs = raw
        .inputs
        .iter()
        .map(|(port, value)| (port.clone(), input_ref(value.get_ref())))
        .collect();
    (problems.len() == start).then(|| StepSpec {
        kind,
        params: params_json,
        inputs,
        outputs,
        code: raw.code.clone(),
        retries: raw.retries,
        retry_backoff,
        timeout,
        cache: raw.cache.unwrap_or(true),
        env: raw.env.clone(),
    })
}

fn step_kind(
    name: &str,
    step: &Spanned<RawStep>,
    at: &Locator,
    problems: &mut Vec<SpecProblem>,
) -> Option<StepKind> {
    let raw = step.get_ref();
    let type_key = Some(format!("steps.{name}.type"));
    match (&raw.kind, &raw.command) {
        (Some(kind), None) if kind.get_ref() == "command" => {
            problems.push(at.problem(
                kind.span().start,
                Some(format!("steps.{name}.command")),
                "a command step needs `command = [\"program\", \"arg\", ...]`".into(),
            ));
            None
        }
        (Some(kind), None) => match BuiltinKind::from_name(kind.get_ref()) {
            Some(b) => Some(StepKind::Builtin(b)),
            None => {
                let known: Vec<&str> = BuiltinKind::ALL.iter().map(|k| k.name()).collect();
                problems.push(at.problem(
                    kind.span().start,
                    type_key,
                    format!(
                        "unknown step type {:?}; expected one of {}, or `command`",
                        kind.get_ref(),
                        known.join(", ")
                    ),
                ));
                None
            }
        },
        (kind, Some(command)) => {
            if let Some(k) = kind.as_ref().filter(|k| k.get_ref() != "command") {
                problems.push(at.problem(
                    k.span().start,
                    type_key,
                    format!(
                        "a step with `command` has type \"command\", not {:?}",
                        k.get_ref()
                    ),
                ));
                return None;
            }
            if command.get_ref().is_empty() || command.get_ref()[0].trim().is_empty() {
                problems.push(at.problem(
                    command.span().start,
                    Some(format!("steps.{name}.command")),
                    "must name a program".into(),
                ));
                return None;
            }
            Some(StepKind::Command(command.get_ref().clone()))
        }
        (None, None) => {
            problems.push(at.problem(
                step.span().start,
                type_key,
                "missing: give `type = \"...\"` or `command = [...]`".into(),
            ));
            None
        }
    }
}

fn command_outputs(
    name: &str,
    raw: &RawStep,
    at: &Locator,
    problems: &mut Vec<SpecProblem>,
) -> BTreeMap<String, ArtifactKind> {
    let mut outputs = BTreeMap::new();
    for (port, kind) in &raw.outputs {
        match ArtifactKind::from_name(kind.get_ref()) {
            Some(k) => {
                outputs.insert(port.clone(), k);
            }
            None => {
                let known: Vec<&str> = ArtifactKind::ALL.iter().map(|k| k.name()).collect();
                problems.push(at.problem(
                    kind.span().start,
                    Some(format!("steps.{name}.outputs.{port}")),
                    format!(
                        "unknown artifact type {:?}; expected one of {}",
                        kind.get_ref(),
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    outputs
}

fn is_external(value: &str) -> bool {
    value.contains("://")
        || value.starts_with('/')
        || value.starts_with("./")
        || value.starts_with("../")
        || value.starts_with("${params.")
}

fn input_ref(value: &str) -> InputRef {
    match value.split_once('.') {
        Some((step, output)) if !is_external(value) => InputRef::Step {
            step: step.to_string(),
            output: output.to_string(),
        },
        _ => InputRef::External(value.to_string()),
    }
}

fn check_inputs(
    raw: &RawFile,
    steps: &BTreeMap<String, StepSpec>,
    at: &Locator,
    problems: &mut Vec<SpecProblem>,
) {
    for (name, step) in steps {
        let raw_step = raw.steps[name].get_ref();
        let ports: Option<&[Port]> = match step.kind {
            StepKind::Builtin(b) => Some(b.inputs()),
            StepKind::Command(_) => None,
        };
        for (port, input) in &step.inputs {
            let span = raw_step.inputs[port].span().start;
            let key = Some(format!("steps.{name}.inputs.{port}"));
            let expected = match ports {
                Some(ports) => match ports.iter().find(|p| p.name == *port) {
                    Some(p) => Some(p.kind),
                    None => {
                        let names: Vec<&str> = ports.iter().map(|p| p.name).collect();
                        problems.push(at.problem(
                            span,
                            key,
                            format!("step type has no input {port:?}; its inputs are {names:?}"),
                        ));
                        continue;
                    }
                },
                None => None,
            };
            check_input(
                name,
                port,
                input,
                expected,
                steps,
                raw,
                (span, key),
                at,
                problems,
            );
        }
        for p in ports.unwrap_or(&[]).iter().filter(|p| p.required) {
            if !step.inputs.contains_key(p.name) {
                problems.push(at.problem(
                    raw.steps[name].span().start,
                    Some(format!("steps.{name}.inputs.{}", p.name)),
                    format!("required input ({}) is not connected", p.kind.name()),
                ));
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn check_input(
    name: &str,
    port: &str,
    input: &InputRef,
    expected: Option<ArtifactKind>,
    steps: &BTreeMap<String, StepSpec>,
    raw: &RawFile,
    (span, key): (usize, Option<String>),
    at: &Locator,
    problems: &mut Vec<SpecProblem>,
) {
    let InputRef::Step { step, output } = input else {
        if let Some(kind) = expected.filter(|k| {
            matches!(
                k,
                ArtifactKind::Blessing | ArtifactKind::ModelVersion | ArtifactKind::Report
            )
        }) {
            problems.push(at.problem(
                span,
                key,
                format!(
                    "input {port:?} takes a {} made by a step, not an external path",
                    kind.name()
                ),
            ));
        }
        return;
    };
    if step == name {
        problems.push(at.problem(span, key, "a step cannot read its own output".into()));
        return;
    }
    let Some(upstream) = steps.get(step) else {
        let message = if raw.steps.contains_key(step) {
            format!("step {step:?} has errors of its own")
        } else {
            let known: Vec<&str> = steps.keys().map(String::as_str).collect();
            format!(
                "unknown step {step:?}; steps are {known:?} (external paths start with ./, ../, / or a URL scheme)"
            )
        };
        problems.push(at.problem(span, key, message));
        return;
    };
    match upstream.outputs.get(output) {
        None => {
            let names: Vec<&str> = upstream.outputs.keys().map(String::as_str).collect();
            problems.push(at.problem(
                span,
                key,
                format!("step {step:?} has no output {output:?}; its outputs are {names:?}"),
            ));
        }
        Some(found) => {
            if let Some(expected) = expected.filter(|e| e != found) {
                problems.push(at.problem(
                    span,
                    key,
                    format!(
                        "type mismatch: input {port:?} takes a {}, but {step}.{output} is a {}",
                        expected.name(),
                        found.name()
                    ),
                ));
            }
        }
    }
}

fn check_cycles(
    raw: &RawFile,
    steps: &BTreeMap<String, StepSpec>,
    at: &Locator,
    problems: &mut Vec<SpecProblem>,
) {
    let spec_like = PipelineSpec {
        name: String::new(),
        description: None,
        version: None,
        params: BTreeMap::new(),
        steps: steps.clone(),
        triggers: Vec::new(),
        digest: String::new(),
        source: String::new(),
    };
    let ordered: BTreeSet<&str> = spec_like.order().into_iter().collect();
    let in_cycle: Vec<&String> = steps
        .keys()
        .filter(|s| !ordered.contains(s.as_str()))
        .filter(|s| steps[*s].upstream().iter().all(|u| steps.contains_key(*u)))
        .collect();
    if let Some(first) = in_cycle.first() {
        let names: Vec<&str> = in_cycle.iter().map(|s| s.as_str()).collect();
        problems.push(at.problem(
            raw.steps[*first].span().start,
            Some(format!("steps.{first}.inputs")),
            format!("cycle: the steps {names:?} depend on each other"),
        ));
    }
}

fn build_triggers(
    raw: &RawFile,
    params: &BTreeMap<String, Value>,
    at: &Locator,
    problems: &mut Vec<SpecProblem>,
) -> Vec<TriggerSpec> {
    let mut triggers = Vec::new();
    let mut names = BTreeSet::new();
    for (i, t) in raw.triggers.iter().enumerate() {
        let r = t.get_ref();
        let name = r.name.clone().unwrap_or_else(|| r.kind.get_ref().clone());
        let key = |k: &str| Some(format!("triggers[{i}].{k}"));
        if !names.insert(name.clone()) {
            problems.push(at.problem(
                t.span().start,
                key("name"),
                format!("two triggers are named {name:?}; give each a distinct `name`"),
            ));
            continue;
        }
        let missing = |field: &str, problems: &mut Vec<SpecProblem>| {
            problems.push(at.problem(
                r.kind.span().start,
                key(field),
                format!("a {} trigger needs `{field}`", r.kind.get_ref()),
            ));
        };
        let param = |problems: &mut Vec<SpecProblem>| match &r.param {
            None => {
                missing("param", problems);
                None
            }
            Some(p) if !params.contains_key(p.get_ref()) => {
                problems.push(at.problem(
                    p.span().start,
                    key("param"),
                    format!("{:?} is not a param of the pipeline", p.get_ref()),
                ));
                None
            }
            Some(p) => Some(p.get_ref().clone()),
        };
        let kind = match r.kind.get_ref().as_str() {
            "cron" => cron_trigger(r, at, &key, problems),
            "new_data" => match (&r.path, param(problems)) {
                (Some(path), Some(param)) => Some(TriggerKind::NewData {
                    path: path.clone(),
                    param,
                }),
                (None, _) => {
                    missing("path", problems);
                    None
                }
                _ => None,
            },
            "watermark" => match (&r.url, &r.query, param(problems)) {
                (Some(url), Some(query), Some(param)) => Some(TriggerKind::Watermark {
                    url: url.clone(),
                    query: query.clone(),
                    param,
                }),
                (None, _, _) => {
                    missing("url", problems);
                    None
                }
                (_, None, _) => {
                    missing("query", problems);
                    None
                }
                _ => None,
            },
            "upstream" => match &r.pipeline {
                Some(p) => Some(TriggerKind::Upstream {
                    pipeline: p.clone(),
                }),
                None => {
                    missing("pipeline", problems);
                    None
                }
            },
            "hook" => Some(TriggerKind::Hook),
            other => {
                problems.push(at.problem(
                    r.kind.span().start,
                    key("type"),
                    format!(
                        "unknown trigger type {other:?}; expected cron, new_data, watermark, upstream or hook"
                    ),
                ));
                None
            }
        };
        if let Some(kind) = kind {
            triggers.push(TriggerSpec { name, kind });
        }
    }
    triggers
}

fn cron_trigger(
    r: &RawTrigger,
    at: &Locator,
    key: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<SpecProblem>,
) -> Option<TriggerKind> {
    let Some(schedule) = &r.schedule else {
        problems.push(at.problem(
            r.kind.span().start,
            key("schedule"),
            "a cron trigger needs `schedule`".into(),
        ));
        return None;
    };
    let timezone = r
        .timezone
        .as_ref()
        .map_or_else(|| "UTC".to_string(), |t| t.get_ref().clone());
    if let Err(e) = trigger::check_schedule(schedule.get_ref()) {
        problems.push(at.problem(schedule.span().start, key("schedule"), e));
        return None;
    }
    if let Err(e) = trigger::check_timezone(&timezone) {
        let span = r.timezone.as_ref().map_or(0, |t| t.span().start);
        problems.push(at.problem(span, key("timezone"), e));
        return None;
    }
    let catch_up = match r.catch_up.as_ref().map(|c| c.get_ref().as_str()) {
        None | Some("latest") => CatchUp::Latest,
        Some("none") => CatchUp::None,
        Some("all") => CatchUp::All,
        Some(other) => {
            let span = r.catch_up.as_ref().map_or(0, |c| c.span().start);
            problems.push(at.problem(
                span,
                key("catch_up"),
                format!("{other:?} is not one of none, latest, all"),
            ));
            return None;
        }
    };
    let max_concurrent = r.max_concurrent.unwrap_or(1);
    if max_concurrent == 0 {
        problems.push(at.problem(
            r.kind.span().start,
            key("max_concurrent"),
            "must be at least 1".into(),
        ));
        return None;
    }
    Some(TriggerKind::Cron {
        schedule: schedule.get_ref().clone(),
        timezone,
        catch_up,
        max_concurrent,
    })
}
