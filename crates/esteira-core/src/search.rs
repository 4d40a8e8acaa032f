//! The MLflow search language (filter and order_by), parsed into an AST.
//!
//! MLflow's REST API takes search filters such as
//! `metrics.rmse < 0.5 AND params.model = 'cnn' AND tags.\`mlflow.runName\` LIKE 'exp-%'`
//! and order-by clauses such as `metrics.rmse DESC`. This module parses and validates
//! them with the rules the MLflow 3.x tracking server applies (its `SearchUtils`,
//! `SearchModelUtils`, `SearchModelVersionUtils` and `search_logged_model_utils`, together
//! with the checks its SQLAlchemy stores perform), and produces a small AST that a SQL
//! store can translate into a query.
//!
//! # Contract
//!
//! * Every function is total: any input string yields `Ok` or `Err(SearchError)`, never a
//!   panic. Error messages name the problem and the offending token, in MLflow-like wording.
//! * A filter is a conjunction: `condition (AND condition)*`. An empty or whitespace-only
//!   filter is `Ok(vec![])`. `OR`, `NOT`, parentheses for grouping, comments and `;` are
//!   rejected.
//! * Keywords (`AND`, `LIKE`, `ILIKE`, `IN`, `NOT IN`, `IS NULL`, `IS NOT NULL`, `ASC`,
//!   `DESC`) are case-insensitive. Entity prefixes (`metrics.` …) and keys are
//!   case-sensitive, as in MLflow.
//! * An identifier is `entity.key` or a bare `key`. The key is either a dotted chain of
//!   bare words (`metrics.a.b` has key `a.b`) or one quoted part: backticks, double or
//!   single quotes (`tags.\`mlflow.runName\``, `params."my param"`). The quotes are
//!   removed but, as in MLflow, doubled quote characters inside are *not* unescaped.
//!   There must be no whitespace around the dots. An empty key is an error.
//! * Scalar string values are single- or double-quoted; the text between the quotes is
//!   taken verbatim (MLflow does not unescape `''` or `\'` either). A literal ends at the
//!   same place as in MLflow's SQL tokenizer (`'it''s'` and `'a\'b'` are one literal each).
//! * Numbers: optional `-`, digits, optional fraction, optional exponent
//!   (`1`, `-2.5`, `.5`, `5.`, `1e3`, `1.5E-3`). `+1`, hex and `1_000` are rejected.
//! * Lists (for `IN` / `NOT IN`): `('a', "b")`, a trailing comma allowed, at least one item,
//!   items must be quoted strings. Items are decoded like Python string literals (MLflow
//!   evaluates the list with `ast.literal_eval`), so `'a\'b'` becomes `a'b`.
//! * Keys and canonical attribute names in the AST are what a store must use: aliases are
//!   resolved (e.g. runs' `created` becomes `start_time`).
//!
//! # Intentional differences from MLflow
//!
//! These are inputs MLflow accepts by accident (or answers with an internal error); here
//! they are rejected with a precise message, or accepted where MLflow crashes on a
//! harmless spelling:
//! * conditions not separated by `AND` (`a = 1 b = 2`), and a leading/trailing/doubled
//!   `AND`, are errors;
//! * an empty key (`metrics.`) is an error;
//! * a list value is only allowed with `IN`/`NOT IN` (MLflow lets `run_id = ('a')` through);
//! * adjacent string literals (`('a' 'b')`, `('a''b')`: Python concatenation) and nested
//!   parentheses (`(('a'))`) inside a list are errors;
//! * a whitespace-only filter is an empty conjunction (MLflow: "could not be parsed");
//! * order_by clauses may have surrounding whitespace, a quoted key is accepted wherever
//!   a bare one is, and SQL keywords are fine as key parts (`metrics.from`);
//! * registry searches reject `IS NULL`/`IS NOT NULL` with a message (MLflow: HTTP 500);
//! * logged-model search: double-quoted values and keys are unquoted (MLflow keeps the
//!   quotes, so they could never match), a quoted number for a numeric field is a message
//!   instead of a 500, unknown attribute names are rejected up front (MLflow's SQL store
//!   fails on them later), and `inf`/`nan` are not numbers.

use std::fmt;

// ---------------------------------------------------------------------------------------
// Public AST
// ---------------------------------------------------------------------------------------

/// What a condition or order-by key refers to.
#[derive(Debug, Clone, PartialEq)]
pub enum EntityType {
    /// `metrics.<key>` (aliases `metric.`): a run's latest metric value, or a logged model's metric.
    Metric,
    /// `params.<key>` (aliases `param.`, `parameter.`, `parameters.`).
    Param,
    /// `tags.<key>` (alias `tag.`).
    Tag,
    /// `attributes.<key>` (aliases `attribute.`, `attr.`, `run.` for runs) or a bare key:
    /// a column of the searched entity. The key is the canonical attribute name.
    Attribute,
    /// `datasets.<name|digest|context>` (alias `dataset.`): runs only.
    Dataset,
}

impl EntityType {
    /// Lower-case singular name, as used in error messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            EntityType::Metric => "metric",
            EntityType::Param => "param",
            EntityType::Tag => "tag",
            EntityType::Attribute => "attribute",
            EntityType::Dataset => "dataset",
        }
    }
}

impl fmt::Display for EntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// SQL `LIKE` (case-sensitive in MLflow, also on MySQL).
    Like,
    /// Case-insensitive `LIKE`.
    ILike,
    /// Value is a [`FilterValue::List`].
    In,
    /// Value is a [`FilterValue::List`].
    NotIn,
    /// Value is [`FilterValue::Null`]; for runs, "the run has no such param/tag".
    IsNull,
    /// Value is [`FilterValue::Null`]; for runs, "the run has such a param/tag".
    IsNotNull,
}

impl Comparator {
    /// The operator as written in SQL (`=`, `!=`, `LIKE`, `NOT IN`, `IS NULL`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Comparator::Eq => "=",
            Comparator::Ne => "!=",
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
            Comparator::Like => "LIKE",
            Comparator::ILike => "ILIKE",
            Comparator::In => "IN",
            Comparator::NotIn => "NOT IN",
            Comparator::IsNull => "IS NULL",
            Comparator::IsNotNull => "IS NOT NULL",
        }
    }
}

impl fmt::Display for Comparator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The right-hand side of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    /// Metrics, numeric attributes (timestamps, `version_number`). Integral for
    /// `version_number`.
    Number(f64),
    /// Params, tags, string attributes, dataset fields (also `LIKE` patterns).
    String(String),
    /// With [`Comparator::In`] / [`Comparator::NotIn`]; never empty.
    List(Vec<String>),
    /// With [`Comparator::IsNull`] / [`Comparator::IsNotNull`].
    Null,
}

/// One `entity.key <comparator> value` clause of a conjunction.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub entity: EntityType,
    /// The metric/param/tag key, or the canonical attribute / dataset field name.
    pub key: String,
    pub comparator: Comparator,
    pub value: FilterValue,
}

/// One order-by clause: `<entity.key> [ASC|DESC]`, ascending by default.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub entity: EntityType,
    /// The metric/param/tag key, or the canonical attribute name.
    pub key: String,
    pub ascending: bool,
}

/// A filter or order-by clause that MLflow would reject (`INVALID_PARAMETER_VALUE`).
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct SearchError(pub String);

/// Which model-registry search an order-by clause belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryKind {
    /// `registered-models/search`.
    RegisteredModel,
    /// `model-versions/search`.
    ModelVersion,
}

// ---------------------------------------------------------------------------------------
// Public entry points
// ---------------------------------------------------------------------------------------

/// Parses a `runs/search` filter into a conjunction of conditions.
///
/// Accepted (entity prefixes and their aliases in parentheses):
/// * `metrics.<k>` (`metric`): `= != < <= > >=` with a number.
/// * `params.<k>` (`param`, `parameter`, `parameters`) and `tags.<k>` (`tag`):
///   `= != LIKE ILIKE` with a quoted string, or `IS NULL` / `IS NOT NULL`.
/// * `attributes.<k>` (`attribute`, `attr`, `run`) or a bare `<k>`:
///   - numeric `start_time` (alias `created`, `Created`), `end_time`:
///     `= != < <= > >=` with a number;
///   - string `run_id`, `run_name` (alias `run name`, `Run name`, `Run Name`; MLflow
///     matches it against the `mlflow.runName` tag), `status`, `user_id`, `artifact_uri`:
///     `= != LIKE ILIKE` with a quoted string, and for `run_id` only also
///     `IN` / `NOT IN` with a list.
/// * `datasets.<name|digest|context>` (`dataset`): `= != LIKE ILIKE` with a quoted string,
///   `IN` / `NOT IN` with a list.
pub fn parse_run_filter(filter: &str) -> Result<Vec<Condition>, SearchError> {
    parse_filter(filter, resolve_run_condition)
}

/// Parses one `runs/search` order-by clause: `<identifier> [ASC|DESC]`.
///
/// The identifier is `metrics.<k>`, `params.<k>`, `tags.<k>` (with the same aliases as
/// in filters) or an attribute (prefixed or bare): `run_id`, `run_name`, `status`,
/// `user_id`, `artifact_uri`, `start_time` (alias `created`, `Created`), `end_time`.
/// Datasets cannot be ordered by.
pub fn parse_run_order_by(clause: &str) -> Result<OrderBy, SearchError> {
    let (ident, ascending) = parse_order_by_clause(clause)?;
    let (entity, key) = resolve_run_identifier(&ident, true)?;
    if entity == EntityType::Dataset {
        return Err(err(format!(
            "Invalid order_by entity type 'dataset' in order_by clause '{clause}'. \
             Only metrics, params, tags and attributes can be ordered by."
        )));
    }
    Ok(OrderBy {
        entity,
        key,
        ascending,
    })
}

/// Parses a `registered-models/search` filter.
///
/// Accepted: the attribute `name` (bare or `attribute.name`) with `= != LIKE ILIKE`
/// and a quoted string, or `IN` / `NOT IN` with a list; `tags.<k>` (`tag.<k>`) with
/// `= != LIKE ILIKE` and a quoted string. The only entity prefixes are `attribute`,
/// `tag` and `tags`.
pub fn parse_registered_model_filter(filter: &str) -> Result<Vec<Condition>, SearchError> {
    parse_filter(filter, |raw| {
        resolve_registry_condition(raw, RegistryKind::RegisteredModel)
    })
}

/// Parses a `model-versions/search` filter.
///
/// Accepted attributes (bare or `attribute.<k>`): `name` and `run_id` (`= != LIKE ILIKE`
/// with a quoted string, `IN` / `NOT IN` with a list), `source_path` (`= != LIKE ILIKE`),
/// `version_number` (`= != < <= > >=` with an integer, or a quoted integer such as `'3'`).
/// Tags: `tags.<k>` / `tag.<k>` with `= != LIKE ILIKE` and a quoted string.
pub fn parse_model_version_filter(filter: &str) -> Result<Vec<Condition>, SearchError> {
    parse_filter(filter, |raw| {
        resolve_registry_condition(raw, RegistryKind::ModelVersion)
    })
}

/// Parses one model-registry order-by clause: `<key> [ASC|DESC]`.
///
/// * Registered models (MLflow's SQL store): bare `name`, `last_updated_timestamp`, or its
///   alias `timestamp` (canonical key `last_updated_timestamp`). `creation_timestamp` and
///   prefixed keys are rejected, as by MLflow's SQL store.
/// * Model versions: `name`, `version_number`, `creation_timestamp`,
///   `last_updated_timestamp`, bare or prefixed with `attribute.`.
///
/// The entity is always [`EntityType::Attribute`].
pub fn parse_registry_order_by(clause: &str, kind: RegistryKind) -> Result<OrderBy, SearchError> {
    let (ident, ascending) = parse_order_by_clause(clause)?;
    let key = match kind {
        RegistryKind::RegisteredModel => {
            const VALID: &str = "['name', 'timestamp', 'last_updated_timestamp']";
            let key = match resolve_identifier(&ident)? {
                Ident::Bare(key) => key,
                Ident::Prefixed { .. } => {
                    return Err(err(format!(
                        "Invalid order by key '{}' specified. Valid keys are {VALID}",
                        ident.text
                    )));
                }
            };
            match key.as_str() {
                "name" => "name",
                "timestamp" | "last_updated_timestamp" => "last_updated_timestamp",
                _ => {
                    return Err(err(format!(
                        "Invalid order by key '{key}' specified. Valid keys are {VALID}"
                    )));
                }
            }
        }
        RegistryKind::ModelVersion => {
            const VALID: &str =
                "['name', 'version_number', 'creation_timestamp', 'last_updated_timestamp']";
            let key = match resolve_identifier(&ident)? {
                Ident::Bare(key) => key,
                Ident::Prefixed { entity, key } => match entity.as_str() {
                    "attribute" => key,
                    "tag" | "tags" => {
                        return Err(err(format!(
                            "Invalid order by key '{}' specified. Model versions can only be \
                             ordered by attributes: {VALID}",
                            ident.text
                        )));
                    }
                    _ => {
                        return Err(err(format!(
                            "Invalid entity type '{entity}'. Valid entity types are \
                             ('attribute', 'tag', 'tags')"
                        )));
                    }
                },
            };
            match key.as_str() {
                "name" => "name",
                "version_number" => "version_number",
                "creation_timestamp" => "creation_timestamp",
                "last_updated_timestamp" => "last_updated_timestamp",
                _ => {
                    return Err(err(format!(
                        "Invalid order by key '{key}' specified. Valid keys are {VALID}"
                    )));
                }
            }
        }
    };
    Ok(OrderBy {
        entity: EntityType::Attribute,
        key: key.to_string(),
        ascending,
    })
}

/// Parses an `experiments/search` filter.
///
/// Accepted: the attributes `name` (`= != LIKE ILIKE` with a quoted string),
/// `experiment_id` (the same, plus `IN` / `NOT IN` with a list), `creation_time` and
/// `last_update_time` (`= != < <= > >=` with a number), bare or prefixed with
/// `attribute.`; `tags.<k>` / `tag.<k>` with `= != LIKE ILIKE` and a quoted string, or
/// `IS NULL` / `IS NOT NULL`.
pub fn parse_experiment_filter(filter: &str) -> Result<Vec<Condition>, SearchError> {
    parse_filter(filter, resolve_experiment_condition)
}

/// Parses one `experiments/search` order-by clause: `name`, `experiment_id`,
/// `creation_time` or `last_update_time`, bare or prefixed with `attribute.`.
pub fn parse_experiment_order_by(clause: &str) -> Result<OrderBy, SearchError> {
    let (ident, ascending) = parse_order_by_clause(clause)?;
    let (entity, key) = experiment_identifier(&ident)?;
    if entity != EntityType::Attribute {
        return Err(err(format!(
            "Invalid order_by clause '{clause}': experiments can only be ordered by {EXPERIMENT_ATTRIBUTES}"
        )));
    }
    Ok(OrderBy {
        entity,
        key,
        ascending,
    })
}

const EXPERIMENT_ATTRIBUTES: &str =
    "['name', 'experiment_id', 'creation_time', 'last_update_time']";

fn experiment_identifier(ident: &RawIdent) -> Result<(EntityType, String), SearchError> {
    let (entity, key) = match resolve_identifier(ident)? {
        Ident::Bare(key) => (EntityType::Attribute, key),
        Ident::Prefixed { entity, key } => match entity.as_str() {
            "attribute" => (EntityType::Attribute, key),
            "tag" | "tags" => (EntityType::Tag, key),
            _ => {
                return Err(err(format!(
                    "Invalid entity type '{entity}'. Valid entity types are {REGISTRY_ENTITY_TYPES}"
                )));
            }
        },
    };
    let valid = ["name", "experiment_id", "creation_time", "last_update_time"];
    if entity == EntityType::Attribute && !valid.contains(&key.as_str()) {
        return Err(err(format!(
            "Invalid attribute key '{key}' specified. Valid keys are {EXPERIMENT_ATTRIBUTES}"
        )));
    }
    Ok((entity, key))
}

fn resolve_experiment_condition(raw: RawCondition) -> Result<Condition, SearchError> {
    let (entity, key) = experiment_identifier(&raw.ident)?;
    let what = describe(&entity, &key);
    let numeric = matches!(key.as_str(), "creation_time" | "last_update_time")
        && entity == EntityType::Attribute;
    let allowed = match (&entity, key.as_str()) {
        (EntityType::Tag, _) => PARAM_TAG_COMPARATORS,
        _ if numeric => NUMERIC_COMPARATORS,
        (_, "experiment_id") => STRING_LIST_COMPARATORS,
        _ => STRING_COMPARATORS,
    };
    let comparator = check_comparator(&raw.op, allowed, &what)?;
    let value = match comparator {
        Comparator::IsNull | Comparator::IsNotNull => FilterValue::Null,
        _ if numeric => numeric_value(&raw.value, &what)?,
        _ => string_or_list_value(&raw.value, comparator, &what, quoted_string_value)?,
    };
    Ok(Condition {
        entity,
        key,
        comparator,
        value,
    })
}

#[cfg(test)]
mod experiment_tests {
    use super::*;

    #[test]
    fn experiment_filters() {
        let c = parse_experiment_filter(
            "name LIKE 'demand%' and tags.team = 'ops' and creation_time > 5",
        )
        .unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].comparator, Comparator::Like);
        assert_eq!(c[1].entity, EntityType::Tag);
        assert_eq!(c[2].value, FilterValue::Number(5.0));
        let c = parse_experiment_filter("tags.owner IS NULL").unwrap();
        assert_eq!(c[0].comparator, Comparator::IsNull);
        assert!(parse_experiment_filter("metrics.x > 1").is_err());
        assert!(
            parse_experiment_filter("owner = 'a'")
                .unwrap_err()
                .0
                .contains("owner")
        );
        assert!(parse_experiment_filter("creation_time > 'x'").is_err());
        assert!(
            !parse_experiment_order_by("last_update_time DESC")
                .unwrap()
                .ascending
        );
        assert!(parse_experiment_order_by("tags.x").is_err());
    }
}

/// Parses a `logged-models/search` filter (MLflow 3).
///
/// The only entity prefixes are exactly `attributes.`, `metrics.`, `params.`, `tags.`
/// (no aliases); a bare key is an attribute.
/// * Numeric: `metrics.<k>`, `creation_timestamp` (alias `creation_time`),
///   `last_updated_timestamp` (alias `last_updated_time`): `= != < <= > >=` with a number.
/// * String: `params.<k>`, `tags.<k>`, `name`, `model_id`, `model_type`, `status`,
///   `source_run_id`: `= != LIKE ILIKE` with a value, `IN` / `NOT IN` with a list. As in
///   MLflow the value may also be an unquoted number or word, taken as its text
///   (`params.lr = 0.01` compares with `"0.01"`).
/// * `IS NULL` / `IS NOT NULL` are not supported.
pub fn parse_logged_model_filter(filter: &str) -> Result<Vec<Condition>, SearchError> {
    parse_filter(filter, resolve_logged_model_condition)
}

// ---------------------------------------------------------------------------------------
// Errors and small helpers
// ---------------------------------------------------------------------------------------

fn err(message: impl Into<String>) -> SearchError {
    SearchError(message.into())
}

fn describe(entity: &EntityType, key: &str) -> String {
    format!("{entity} '{key}'")
}

fn list_of(comparators: &[Comparator]) -> String {
    let items: Vec<String> = comparators
        .iter()
        .map(|c| format!("'{}'", c.as_str()))
        .collect();
    format!("[{}]", items.join(", "))
}

const NUMERIC_COMPARATORS: &[Comparator] = &[
    Comparator::Eq,
    Comparator::Ne,
    Comparator::Lt,
    Comparator::Le,
    Comparator::Gt,
    Comparator::Ge,
];
const PARAM_TAG_COMPARATORS: &[Comparator] = &[
    Comparator::Eq,
    Comparator::Ne,
    Comparator::Like,
    Comparator::ILike,
    Comparator::IsNull,
    Comparator::IsNotNull,
];
const STRING_COMPARATORS: &[Comparator] = &[
    Comparator::Eq,
    Comparator::Ne,
    Comparator::Like,
    Comparator::ILike,
];
const STRING_LIST_COMPARATORS: &[Comparator] = &[
    Comparator::Eq,
    Comparator::Ne,
    Comparator::Like,
    Comparator::ILike,
    Comparator::In,
    Comparator::NotIn,
];

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_digit(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_digit())
}

// ---------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tk {
    /// A bare word: letters, digits, `_` (also a malformed number such as `1abc`).
    Word(String),
    /// `'...'`, verbatim content.
    SQuote(String),
    /// `"..."`, verbatim content.
    DQuote(String),
    /// `` `...` ``, verbatim content.
    BQuote(String),
    /// A numeric literal, verbatim.
    Number(String),
    /// A run of `< > = ~ !`.
    Op(String),
    LParen,
    RParen,
    Comma,
    Dot,
}

/// A token and its span, in character offsets into the input.
#[derive(Debug, Clone)]
struct Token {
    tk: Tk,
    start: usize,
    end: usize,
}

impl Token {
    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(&self.tk, Tk::Word(w) if w.eq_ignore_ascii_case(keyword))
    }

    fn is_key_part(&self) -> bool {
        matches!(
            self.tk,
            Tk::Word(_) | Tk::SQuote(_) | Tk::DQuote(_) | Tk::BQuote(_)
        )
    }
}

const RESERVED_WORDS: &[&str] = &["AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE"];

fn is_reserved(word: &str) -> bool {
    RESERVED_WORDS.iter().any(|k| word.eq_ignore_ascii_case(k))
}

/// For each offset `p`, where a quoted literal whose content starts at `p` ends (the
/// offset just past its closing quote), reproducing the backtracking regex MLflow's SQL
/// tokenizer uses: `'(''|\\'|[^'])*'` (and the same for `"`; backticks without the
/// backslash alternative). Computed right to left, so linear in the input length.
fn literal_ends(chars: &[char], quote: char, backslash_escapes: bool) -> Vec<Option<usize>> {
    let n = chars.len();
    let mut ends: Vec<Option<usize>> = vec![None; n + 2];
    for p in (0..n).rev() {
        let Some(&c) = chars.get(p) else { continue };
        let next = chars.get(p + 1).copied();
        let at = |ends: &[Option<usize>], i: usize| ends.get(i).copied().flatten();
        let mut found = None;
        if c == quote && next == Some(quote) {
            found = at(&ends, p + 2);
        }
        if found.is_none() && backslash_escapes && c == '\\' && next == Some(quote) {
            found = at(&ends, p + 2);
        }
        if found.is_none() && c != quote {
            found = at(&ends, p + 1);
        }
        if found.is_none() && c == quote {
            found = Some(p + 1);
        }
        if let Some(slot) = ends.get_mut(p) {
            *slot = found;
        }
    }
    ends
}

struct Source<'a> {
    /// "filter" or "order_by clause", for messages.
    noun: &'static str,
    text: &'a str,
    chars: Vec<char>,
}

impl Source<'_> {
    fn slice(&self, start: usize, end: usize) -> String {
        self.chars
            .get(start..end)
            .map(|cs| cs.iter().collect())
            .unwrap_or_default()
    }

    fn token_text(&self, token: &Token) -> String {
        self.slice(token.start, token.end)
    }

    fn error_at(&self, position: usize, problem: &str) -> SearchError {
        err(format!(
            "Invalid {} '{}': {problem} at position {position}.",
            self.noun, self.text
        ))
    }
}

fn lex(src: &Source<'_>) -> Result<Vec<Token>, SearchError> {
    let chars = &src.chars;
    let mut single: Option<Vec<Option<usize>>> = None;
    let mut double: Option<Vec<Option<usize>>> = None;
    let mut backtick: Option<Vec<Option<usize>>> = None;
    let mut tokens: Vec<Token> = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let prev_is_adjacent_key_part = tokens
            .last()
            .is_some_and(|t| t.end == start && t.is_key_part());
        let after_adjacent_dot = tokens
            .last()
            .is_some_and(|t| t.end == start && t.tk == Tk::Dot);
        let next = chars.get(i + 1).copied();
        let (tk, end) = match c {
            '\'' | '"' | '`' => {
                let table = match c {
                    '\'' => single.get_or_insert_with(|| literal_ends(chars, '\'', true)),
                    '"' => double.get_or_insert_with(|| literal_ends(chars, '"', true)),
                    _ => backtick.get_or_insert_with(|| literal_ends(chars, '`', false)),
                };
                let Some(end) = table.get(i + 1).copied().flatten() else {
                    return Err(src.error_at(
                        start,
                        &format!("unterminated quoted string starting with {c}"),
                    ));
                };
                let content = src.slice(i + 1, end.saturating_sub(1));
                let tk = match c {
                    '\'' => Tk::SQuote(content),
                    '"' => Tk::DQuote(content),
                    _ => Tk::BQuote(content),
                };
                (tk, end)
            }
            '(' => (Tk::LParen, i + 1),
            ')' => (Tk::RParen, i + 1),
            ',' => (Tk::Comma, i + 1),
            '<' | '>' | '=' | '~' | '!' => {
                let mut j = i;
                while chars
                    .get(j)
                    .is_some_and(|c| matches!(c, '<' | '>' | '=' | '~' | '!'))
                {
                    j += 1;
                }
                (Tk::Op(src.slice(i, j)), j)
            }
            '.' if prev_is_adjacent_key_part || !is_digit(next) => (Tk::Dot, i + 1),
            _ if after_adjacent_dot && is_word_char(c) => {
                // A key part after `entity.`: any run of word characters, even `1x`.
                let mut j = i;
                while chars.get(j).is_some_and(|&c| is_word_char(c)) {
                    j += 1;
                }
                (Tk::Word(src.slice(i, j)), j)
            }
            '.' | '-' | '0'..='9' => match lex_number(chars, i) {
                Some(end) => {
                    if chars.get(end).is_some_and(|&c| is_word_char(c) || c == '.') {
                        // `1abc`, `1.5.5`: not a number; keep the whole run as one word so
                        // the error names it.
                        let mut j = end;
                        while chars.get(j).is_some_and(|&c| is_word_char(c) || c == '.') {
                            j += 1;
                        }
                        (Tk::Word(src.slice(i, j)), j)
                    } else {
                        (Tk::Number(src.slice(i, end)), end)
                    }
                }
                None => {
                    return Err(src.error_at(start, &format!("unexpected character '{c}'")));
                }
            },
            _ if is_word_char(c) => {
                let mut j = i;
                while chars.get(j).is_some_and(|&c| is_word_char(c)) {
                    j += 1;
                }
                (Tk::Word(src.slice(i, j)), j)
            }
            _ => {
                return Err(src.error_at(start, &format!("unexpected character '{c}'")));
            }
        };
        tokens.push(Token { tk, start, end });
        i = end.max(i + 1);
    }
    Ok(tokens)
}

/// Matches MLflow's numeric literals at `start`: `-?\d+(\.\d+)?[eE]-?\d+`,
/// `-?(\d+\.\d*|\.\d+)` or `-?\d+`. Returns the end offset.
fn lex_number(chars: &[char], start: usize) -> Option<usize> {
    let digits_from = |mut j: usize| {
        while is_digit(chars.get(j).copied()) {
            j += 1;
        }
        j
    };
    let mut j = start;
    if chars.get(j) == Some(&'-') {
        j += 1;
    }
    let int_end = digits_from(j);
    let has_int = int_end > j;
    if has_int {
        // Exponent form.
        let mut k = int_end;
        if chars.get(k) == Some(&'.') && is_digit(chars.get(k + 1).copied()) {
            k = digits_from(k + 1);
        }
        if matches!(chars.get(k), Some('e' | 'E')) {
            let mut m = k + 1;
            if chars.get(m) == Some(&'-') {
                m += 1;
            }
            let exp_end = digits_from(m);
            if exp_end > m {
                return Some(exp_end);
            }
        }
        if chars.get(int_end) == Some(&'.') {
            return Some(digits_from(int_end + 1));
        }
        return Some(int_end);
    }
    if chars.get(j) == Some(&'.') && is_digit(chars.get(j + 1).copied()) {
        return Some(digits_from(j + 1));
    }
    None
}

// ---------------------------------------------------------------------------------------
// Parser: tokens -> raw conditions (syntax only)
// ---------------------------------------------------------------------------------------

/// One part of an identifier: a bare word or the content of a quoted part.
#[derive(Debug, Clone)]
struct Part {
    text: String,
    quote: Option<char>,
}

/// `part(.part)*` as written, before any entity resolution.
#[derive(Debug, Clone)]
struct RawIdent {
    parts: Vec<Part>,
    /// Ends in a `.` with nothing after it (`metrics.`).
    trailing_dot: bool,
    /// The identifier as written.
    text: String,
}

#[derive(Debug, Clone)]
enum RawOp {
    Known(Comparator),
    /// Something in operator position that MLflow does not support (`~`, `<>`, `==`,
    /// `NOT LIKE`, `RLIKE`...).
    Unsupported(String),
}

#[derive(Debug, Clone)]
enum RawItem {
    /// A quoted string, decoded like a Python literal.
    Str(String),
    /// Anything else, as written.
    Other(String),
}

#[derive(Debug, Clone)]
enum RawValue {
    /// After `IS NULL` / `IS NOT NULL`.
    Absent,
    Quoted {
        text: String,
        quote: char,
    },
    Backticked(String),
    Number(String),
    Bare(String),
    List {
        items: Vec<RawItem>,
        text: String,
    },
}

impl RawValue {
    /// The value as written, for messages.
    fn written(&self) -> String {
        match self {
            RawValue::Absent => String::new(),
            RawValue::Quoted { text, quote } => format!("{quote}{text}{quote}"),
            RawValue::Backticked(text) => format!("`{text}`"),
            RawValue::Number(text) | RawValue::Bare(text) => text.clone(),
            RawValue::List { text, .. } => text.clone(),
        }
    }
}

#[derive(Debug, Clone)]
struct RawCondition {
    ident: RawIdent,
    op: RawOp,
    value: RawValue,
}

struct Parser<'a> {
    src: &'a Source<'a>,
    tokens: &'a [Token],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a Token> {
        self.tokens.get(self.pos)
    }

    fn bump(&mut self) -> Option<&'a Token> {
        let token = self.tokens.get(self.pos);
        if token.is_some() {
            self.pos += 1;
        }
        token
    }

    fn end_position(&self) -> usize {
        self.src.chars.len()
    }

    fn identifier(&mut self) -> Result<RawIdent, SearchError> {
        let Some(first) = self.bump() else {
            return Err(self
                .src
                .error_at(self.end_position(), "expected an identifier"));
        };
        let first_part = match &first.tk {
            Tk::Word(w) if is_reserved(w) && !self.peek().is_some_and(|t| t.tk == Tk::Dot) => {
                let message = if w.eq_ignore_ascii_case("OR") {
                    "'OR' is not supported, only conditions joined with AND".to_string()
                } else if w.eq_ignore_ascii_case("NOT") {
                    "'NOT' is not supported".to_string()
                } else {
                    format!("expected an identifier but found keyword '{w}'")
                };
                return Err(self.src.error_at(first.start, &message));
            }
            Tk::Word(w) => Part {
                text: w.clone(),
                quote: None,
            },
            Tk::BQuote(s) => Part {
                text: s.clone(),
                quote: Some('`'),
            },
            Tk::DQuote(s) => Part {
                text: s.clone(),
                quote: Some('"'),
            },
            Tk::LParen => {
                return Err(self.src.error_at(
                    first.start,
                    "parentheses are not supported, only conditions joined with AND",
                ));
            }
            _ => {
                return Err(self.src.error_at(
                    first.start,
                    &format!(
                        "expected an identifier but found '{}'",
                        self.src.token_text(first)
                    ),
                ));
            }
        };
        let start = first.start;
        let mut end = first.end;
        let mut parts = vec![first_part];
        let mut trailing_dot = false;
        while let Some(dot) = self.peek() {
            if dot.tk != Tk::Dot || dot.start != end {
                break;
            }
            self.pos += 1;
            end = dot.end;
            let part = match self.peek() {
                Some(t) if t.start == end => match &t.tk {
                    Tk::Word(w) => Some((w.clone(), None, t.end)),
                    Tk::SQuote(s) => Some((s.clone(), Some('\''), t.end)),
                    Tk::DQuote(s) => Some((s.clone(), Some('"'), t.end)),
                    Tk::BQuote(s) => Some((s.clone(), Some('`'), t.end)),
                    _ => None,
                },
                _ => None,
            };
            match part {
                Some((text, quote, part_end)) => {
                    self.pos += 1;
                    end = part_end;
                    parts.push(Part { text, quote });
                }
                None => {
                    trailing_dot = true;
                    break;
                }
            }
        }
        if let Some(t) = self.peek()
            && t.tk == Tk::Dot
            && !trailing_dot
        {
            return Err(self.src.error_at(
                t.start,
                "whitespace is not allowed around '.' in an identifier",
            ));
        }
        Ok(RawIdent {
            parts,
            trailing_dot,
            text: self.src.slice(start, end),
        })
    }

    fn operator(&mut self, ident: &RawIdent) -> Result<RawOp, SearchError> {
        let Some(token) = self.bump() else {
            return Err(err(format!(
                "Invalid comparison clause '{}' in {} '{}': missing comparison operator.",
                ident.text, self.src.noun, self.src.text
            )));
        };
        let unexpected = |found: &Token| {
            self.src.error_at(
                found.start,
                &format!(
                    "expected a comparison operator after '{}' but found '{}'",
                    ident.text,
                    self.src.token_text(found)
                ),
            )
        };
        match &token.tk {
            Tk::Op(op) => Ok(match op.as_str() {
                "=" => RawOp::Known(Comparator::Eq),
                "!=" => RawOp::Known(Comparator::Ne),
                "<" => RawOp::Known(Comparator::Lt),
                "<=" => RawOp::Known(Comparator::Le),
                ">" => RawOp::Known(Comparator::Gt),
                ">=" => RawOp::Known(Comparator::Ge),
                other => RawOp::Unsupported(other.to_string()),
            }),
            Tk::Word(w) => {
                let upper = w.to_ascii_uppercase();
                match upper.as_str() {
                    "LIKE" => Ok(RawOp::Known(Comparator::Like)),
                    "ILIKE" => Ok(RawOp::Known(Comparator::ILike)),
                    "IN" => Ok(RawOp::Known(Comparator::In)),
                    "RLIKE" | "REGEXP" => Ok(RawOp::Unsupported(upper)),
                    "NOT" => match self.bump() {
                        Some(t) if t.is_keyword("IN") => Ok(RawOp::Known(Comparator::NotIn)),
                        Some(t)
                            if t.is_keyword("LIKE")
                                || t.is_keyword("ILIKE")
                                || t.is_keyword("RLIKE")
                                || t.is_keyword("REGEXP") =>
                        {
                            Ok(RawOp::Unsupported(format!(
                                "NOT {}",
                                self.src.token_text(t).to_ascii_uppercase()
                            )))
                        }
                        Some(t) => Err(self.src.error_at(
                            t.start,
                            &format!(
                                "expected IN after NOT but found '{}'",
                                self.src.token_text(t)
                            ),
                        )),
                        None => Err(self
                            .src
                            .error_at(self.end_position(), "expected IN after NOT")),
                    },
                    "IS" => {
                        let negated = self.peek().is_some_and(|t| t.is_keyword("NOT"));
                        if negated {
                            self.pos += 1;
                        }
                        match self.bump() {
                            Some(t) if t.is_keyword("NULL") => Ok(RawOp::Known(if negated {
                                Comparator::IsNotNull
                            } else {
                                Comparator::IsNull
                            })),
                            Some(t) => Err(self.src.error_at(
                                t.start,
                                &format!(
                                    "expected NULL or NOT NULL after IS but found '{}'",
                                    self.src.token_text(t)
                                ),
                            )),
                            None => Err(self.src.error_at(
                                self.end_position(),
                                "expected NULL or NOT NULL after IS",
                            )),
                        }
                    }
                    _ => Err(unexpected(token)),
                }
            }
            _ => Err(unexpected(token)),
        }
    }

    fn value(&mut self, op: &RawOp) -> Result<RawValue, SearchError> {
        let op_text = match op {
            RawOp::Known(c) => c.as_str().to_string(),
            RawOp::Unsupported(s) => s.clone(),
        };
        let Some(token) = self.bump() else {
            return Err(self.src.error_at(
                self.end_position(),
                &format!("expected a value after '{op_text}'"),
            ));
        };
        Ok(match &token.tk {
            Tk::SQuote(s) => RawValue::Quoted {
                text: s.clone(),
                quote: '\'',
            },
            Tk::DQuote(s) => RawValue::Quoted {
                text: s.clone(),
                quote: '"',
            },
            Tk::BQuote(s) => RawValue::Backticked(s.clone()),
            Tk::Number(n) => RawValue::Number(n.clone()),
            Tk::Word(w) if !is_reserved(w) => RawValue::Bare(w.clone()),
            Tk::LParen => self.list(token)?,
            _ => {
                return Err(self.src.error_at(
                    token.start,
                    &format!(
                        "expected a value after '{op_text}' but found '{}'",
                        self.src.token_text(token)
                    ),
                ));
            }
        })
    }

    /// `( [item (, item)* [,]] )`, the `(` already consumed.
    fn list(&mut self, open: &Token) -> Result<RawValue, SearchError> {
        let ill_formed = |problem: String| {
            err(format!(
                "While parsing a list in the query, expected a non-empty list of string \
                 values, but got ill-formed list: {problem}."
            ))
        };
        let mut items = Vec::new();
        let mut expect_item = true;
        loop {
            let Some(token) = self.bump() else {
                return Err(ill_formed(format!(
                    "missing ')' for the '(' at position {}",
                    open.start
                )));
            };
            match (&token.tk, expect_item) {
                (Tk::RParen, _) => {
                    return Ok(RawValue::List {
                        items,
                        text: self.src.slice(open.start, token.end),
                    });
                }
                (Tk::Comma, false) => expect_item = true,
                (Tk::SQuote(s), true) => {
                    items.push(RawItem::Str(
                        decode_python_string(s, '\'').map_err(&ill_formed)?,
                    ));
                    expect_item = false;
                }
                (Tk::DQuote(s), true) => {
                    items.push(RawItem::Str(
                        decode_python_string(s, '"').map_err(&ill_formed)?,
                    ));
                    expect_item = false;
                }
                (Tk::Number(_) | Tk::Word(_) | Tk::BQuote(_), true) => {
                    items.push(RawItem::Other(self.src.token_text(token)));
                    expect_item = false;
                }
                (_, true) => {
                    return Err(ill_formed(format!(
                        "unexpected '{}' at position {}",
                        self.src.token_text(token),
                        token.start
                    )));
                }
                (_, false) => {
                    return Err(ill_formed(format!(
                        "expected ',' or ')' but found '{}' at position {}",
                        self.src.token_text(token),
                        token.start
                    )));
                }
            }
        }
    }

    fn condition(&mut self) -> Result<RawCondition, SearchError> {
        let ident = self.identifier()?;
        let op = self.operator(&ident)?;
        let value = match op {
            RawOp::Known(Comparator::IsNull | Comparator::IsNotNull) => RawValue::Absent,
            _ => self.value(&op)?,
        };
        Ok(RawCondition { ident, op, value })
    }
}

/// Decodes the content of a Python string literal (the quotes already removed), as
/// `ast.literal_eval` would: backslash escapes, and a doubled quote (two adjacent
/// literals) concatenates.
fn decode_python_string(content: &str, quote: char) -> Result<String, String> {
    let mut out = String::with_capacity(content.len());
    let mut chars = content.chars().peekable();
    let hex = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize| {
        let mut value: u32 = 0;
        for _ in 0..n {
            let digit = chars
                .next()
                .and_then(|c| c.to_digit(16))
                .ok_or_else(|| format!("truncated \\x, \\u or \\U escape in '{content}'"))?;
            value = value.wrapping_mul(16).wrapping_add(digit);
        }
        char::from_u32(value).ok_or_else(|| format!("invalid escape in '{content}'"))
    };
    while let Some(c) = chars.next() {
        if c == quote {
            // `'a''b'` is two adjacent literals in Python.
            if chars.next() != Some(quote) {
                return Err(format!("unbalanced quote in '{content}'"));
            }
            return Err(format!(
                "adjacent string literals are not supported in '{content}'"
            ));
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            return Err(format!("trailing backslash in '{content}'"));
        };
        match e {
            '\n' => {}
            '\\' | '\'' | '"' => out.push(e),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '0'..='7' => {
                let mut value = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            value = value * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(value).unwrap_or('\u{fffd}'));
            }
            'x' => out.push(hex(&mut chars, 2)?),
            'u' => out.push(hex(&mut chars, 4)?),
            'U' => out.push(hex(&mut chars, 8)?),
            'N' => {
                return Err(format!(
                    "\\N{{...}} escapes are not supported in '{content}'"
                ));
            }
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

fn parse_filter(
    filter: &str,
    resolve: impl Fn(RawCondition) -> Result<Condition, SearchError>,
) -> Result<Vec<Condition>, SearchError> {
    if filter.trim().is_empty() {
        return Ok(Vec::new());
    }
    let src = Source {
        noun: "filter",
        text: filter,
        chars: filter.chars().collect(),
    };
    let tokens = lex(&src)?;
    let mut parser = Parser {
        src: &src,
        tokens: &tokens,
        pos: 0,
    };
    let mut conditions = Vec::new();
    loop {
        let raw = parser.condition()?;
        conditions.push(resolve(raw)?);
        let Some(token) = parser.bump() else { break };
        if token.is_keyword("AND") {
            if parser.peek().is_none() {
                return Err(src.error_at(token.start, "expected a condition after 'AND'"));
            }
            continue;
        }
        if token.is_keyword("OR") {
            return Err(src.error_at(
                token.start,
                "'OR' is not supported, only conditions joined with AND",
            ));
        }
        return Err(src.error_at(
            token.start,
            &format!(
                "unexpected '{}' after a complete condition; conditions must be joined with AND",
                src.token_text(token)
            ),
        ));
    }
    Ok(conditions)
}

/// `<identifier> [ASC|DESC]`, returning the identifier and whether it is ascending.
fn parse_order_by_clause(clause: &str) -> Result<(RawIdent, bool), SearchError> {
    let could_not_parse = |why: &str| {
        err(format!(
            "Invalid order_by clause '{clause}'. Could not be parsed: {why}."
        ))
    };
    if clause.trim().is_empty() {
        return Err(could_not_parse("it is empty"));
    }
    let src = Source {
        noun: "order_by clause",
        text: clause,
        chars: clause.chars().collect(),
    };
    let tokens = lex(&src)?;
    let mut parser = Parser {
        src: &src,
        tokens: &tokens,
        pos: 0,
    };
    let ident = parser.identifier()?;
    let ascending = match parser.bump() {
        None => true,
        Some(t) if t.is_keyword("ASC") => true,
        Some(t) if t.is_keyword("DESC") => false,
        Some(t) if matches!(t.tk, Tk::Word(_)) => {
            return Err(err(format!(
                "Invalid ordering key '{}' in order_by clause '{clause}'. Expected ASC or DESC.",
                src.token_text(t)
            )));
        }
        Some(t) => {
            return Err(could_not_parse(&format!(
                "unexpected '{}' at position {}",
                src.token_text(t),
                t.start
            )));
        }
    };
    if let Some(t) = parser.peek() {
        return Err(could_not_parse(&format!(
            "unexpected '{}' at position {}",
            src.token_text(t),
            t.start
        )));
    }
    Ok((ident, ascending))
}

// ---------------------------------------------------------------------------------------
// Resolution: raw conditions -> validated AST, per search kind
// ---------------------------------------------------------------------------------------

/// An identifier split into entity and key, quotes removed.
#[derive(Debug)]
enum Ident {
    Bare(String),
    Prefixed { entity: String, key: String },
}

fn resolve_identifier(ident: &RawIdent) -> Result<Ident, SearchError> {
    let invalid = |why: &str| {
        err(format!(
            "Invalid identifier '{}': {why}. Columns should be specified as \
             '<entity>.<key>' or '<attribute>'.",
            ident.text
        ))
    };
    let (first, rest) = match ident.parts.split_first() {
        Some(split) => split,
        None => return Err(invalid("it is empty")),
    };
    if rest.is_empty() && !ident.trailing_dot {
        return Ok(Ident::Bare(first.text.clone()));
    }
    if matches!(first.quote, Some('"' | '\'')) {
        return Err(err(format!(
            "Invalid entity type '{}{}{}': an entity type may only be quoted with backticks",
            first.quote.unwrap_or('"'),
            first.text,
            first.quote.unwrap_or('"'),
        )));
    }
    let key = match rest {
        [] => String::new(),
        [only] => only.text.clone(),
        several => {
            if several.iter().any(|p| p.quote.is_some()) {
                return Err(invalid(
                    "a quoted key must be the whole key; quote it as a single part, e.g. \
                     tags.`a.b`",
                ));
            }
            let texts: Vec<&str> = several.iter().map(|p| p.text.as_str()).collect();
            texts.join(".")
        }
    };
    if key.is_empty() || ident.trailing_dot {
        return Err(invalid("the key is empty"));
    }
    Ok(Ident::Prefixed {
        entity: first.text.clone(),
        key,
    })
}

const RUN_ENTITY_TYPES: &str = "['metric', 'parameter', 'tag', 'attribute', 'dataset']";
const RUN_SEARCH_ATTRIBUTES: &str = "['artifact_uri', 'created', 'end_time', 'run_id', \
     'run_name', 'start_time', 'status', 'user_id']";
const DATASET_KEYS: &str = "['context', 'digest', 'name']";

fn run_entity(name: &str) -> Option<EntityType> {
    match name {
        "metric" | "metrics" => Some(EntityType::Metric),
        "parameter" | "parameters" | "param" | "params" => Some(EntityType::Param),
        "tag" | "tags" => Some(EntityType::Tag),
        "attribute" | "attributes" | "attr" | "run" => Some(EntityType::Attribute),
        "dataset" | "datasets" => Some(EntityType::Dataset),
        _ => None,
    }
}

/// Canonical run attribute for a (possibly alias) key. The `run name` spellings are
/// filter-only in MLflow; `order_by` accepts only `created` / `Created` as aliases.
fn run_attribute(key: &str, order_by: bool) -> Option<&'static str> {
    Some(match key {
        "run_id" => "run_id",
        "run_name" => "run_name",
        "run name" | "Run name" | "Run Name" if !order_by => "run_name",
        "user_id" => "user_id",
        "status" => "status",
        "start_time" | "created" | "Created" => "start_time",
        "end_time" => "end_time",
        "artifact_uri" => "artifact_uri",
        _ => return None,
    })
}

fn resolve_run_identifier(
    ident: &RawIdent,
    order_by: bool,
) -> Result<(EntityType, String), SearchError> {
    let (entity, key) = match resolve_identifier(ident)? {
        Ident::Bare(key) => (EntityType::Attribute, key),
        Ident::Prefixed { entity, key } => match run_entity(&entity) {
            Some(e) => (e, key),
            None => {
                return Err(err(format!(
                    "Invalid entity type '{entity}'. Valid values are {RUN_ENTITY_TYPES}"
                )));
            }
        },
    };
    match entity {
        EntityType::Attribute => match run_attribute(&key, order_by) {
            Some(canonical) => Ok((entity, canonical.to_string())),
            None => Err(err(format!(
                "Invalid attribute key '{key}' specified. Valid keys are {RUN_SEARCH_ATTRIBUTES}"
            ))),
        },
        EntityType::Dataset => match key.as_str() {
            "name" | "digest" | "context" => Ok((entity, key)),
            _ => Err(err(format!(
                "Invalid dataset key '{key}' specified. Valid keys are {DATASET_KEYS}"
            ))),
        },
        _ => Ok((entity, key)),
    }
}

fn check_comparator(
    op: &RawOp,
    allowed: &[Comparator],
    what: &str,
) -> Result<Comparator, SearchError> {
    let written = match op {
        RawOp::Known(c) if allowed.contains(c) => return Ok(*c),
        RawOp::Known(c) => c.as_str().to_string(),
        RawOp::Unsupported(s) => s.clone(),
    };
    Err(err(format!(
        "Invalid comparator '{written}' for {what}. Expected one of {}",
        list_of(allowed)
    )))
}

fn parse_f64(text: &str) -> Option<f64> {
    text.parse::<f64>().ok()
}

fn numeric_value(value: &RawValue, what: &str) -> Result<FilterValue, SearchError> {
    match value {
        RawValue::Number(n) => parse_f64(n)
            .map(FilterValue::Number)
            .ok_or_else(|| err(format!("Expected numeric value type for {what}. Found {n}"))),
        other => Err(err(format!(
            "Expected numeric value type for {what}. Found {}",
            other.written()
        ))),
    }
}

fn quoted_string_value(value: &RawValue, what: &str) -> Result<FilterValue, SearchError> {
    match value {
        RawValue::Quoted { text, .. } => Ok(FilterValue::String(text.clone())),
        RawValue::Bare(_) | RawValue::Backticked(_) => Err(err(format!(
            "Value for {what} is either not quoted or uses an unsupported quote type: {}. \
             Use either single or double quotes.",
            value.written()
        ))),
        other => Err(err(format!(
            "Expected a quoted string value for {what} (e.g. 'my-value'). Got value {}",
            other.written()
        ))),
    }
}

fn list_value(
    value: &RawValue,
    comparator: Comparator,
    what: &str,
) -> Result<FilterValue, SearchError> {
    let RawValue::List { items, text } = value else {
        return Err(err(format!(
            "Expected a parenthesized list of quoted string values after {comparator} for \
             {what} (e.g. ('a', 'b')). Got value {}",
            value.written()
        )));
    };
    if items.is_empty() {
        return Err(err(
            "While parsing a list in the query, expected a non-empty list of string values, \
             but got empty list",
        ));
    }
    let mut strings = Vec::with_capacity(items.len());
    for item in items {
        match item {
            RawItem::Str(s) => strings.push(s.clone()),
            RawItem::Other(other) => {
                return Err(err(format!(
                    "While parsing a list in the query, expected string values, but got \
                     {other} in list: {text}"
                )));
            }
        }
    }
    Ok(FilterValue::List(strings))
}

/// A string value, or a list with IN / NOT IN, for entities that support both.
fn string_or_list_value(
    value: &RawValue,
    comparator: Comparator,
    what: &str,
    string: impl Fn(&RawValue, &str) -> Result<FilterValue, SearchError>,
) -> Result<FilterValue, SearchError> {
    match comparator {
        Comparator::In | Comparator::NotIn => list_value(value, comparator, what),
        _ if matches!(value, RawValue::List { .. }) => Err(err(format!(
            "A list of values can only be compared with IN or NOT IN, not with '{comparator}', \
             for {what}. Got value {}",
            value.written()
        ))),
        _ => string(value, what),
    }
}

fn only_tags_and_params_nullable(
    comparator: &RawOp,
    entity: &EntityType,
    key: &str,
) -> Result<(), SearchError> {
    if let RawOp::Known(c @ (Comparator::IsNull | Comparator::IsNotNull)) = comparator
        && !matches!(entity, EntityType::Param | EntityType::Tag)
    {
        return Err(err(format!(
            "{c} is only supported for tags and params, not for {}",
            describe(entity, key)
        )));
    }
    Ok(())
}

fn resolve_run_condition(raw: RawCondition) -> Result<Condition, SearchError> {
    let (entity, key) = resolve_run_identifier(&raw.ident, false)?;
    let what = describe(&entity, &key);
    only_tags_and_params_nullable(&raw.op, &entity, &key)?;
    let numeric_attribute =
        entity == EntityType::Attribute && matches!(key.as_str(), "start_time" | "end_time");
    let allowed = match entity {
        EntityType::Metric => NUMERIC_COMPARATORS,
        EntityType::Param | EntityType::Tag => PARAM_TAG_COMPARATORS,
        EntityType::Attribute if numeric_attribute => NUMERIC_COMPARATORS,
        EntityType::Attribute | EntityType::Dataset => STRING_LIST_COMPARATORS,
    };
    let comparator = check_comparator(&raw.op, allowed, &what)?;
    if entity == EntityType::Attribute
        && matches!(comparator, Comparator::In | Comparator::NotIn)
        && key != "run_id"
    {
        return Err(err(format!(
            "Only ['run_id'] attributes support comparison with a list of quoted string \
             values, not {what}."
        )));
    }
    let value = match entity {
        EntityType::Metric => numeric_value(&raw.value, &what)?,
        EntityType::Attribute if numeric_attribute => numeric_value(&raw.value, &what)?,
        EntityType::Param | EntityType::Tag => match comparator {
            Comparator::IsNull | Comparator::IsNotNull => FilterValue::Null,
            _ => quoted_string_value(&raw.value, &what)?,
        },
        EntityType::Attribute | EntityType::Dataset => {
            string_or_list_value(&raw.value, comparator, &what, quoted_string_value)?
        }
    };
    Ok(Condition {
        entity,
        key,
        comparator,
        value,
    })
}

const REGISTRY_ENTITY_TYPES: &str = "('attribute', 'tag', 'tags')";

fn resolve_registry_condition(
    raw: RawCondition,
    kind: RegistryKind,
) -> Result<Condition, SearchError> {
    let (entity, key) = match resolve_identifier(&raw.ident)? {
        Ident::Bare(key) => (EntityType::Attribute, key),
        Ident::Prefixed { entity, key } => match entity.as_str() {
            "attribute" => (EntityType::Attribute, key),
            "tag" | "tags" => (EntityType::Tag, key),
            _ => {
                return Err(err(format!(
                    "Invalid entity type '{entity}'. Valid entity types are {REGISTRY_ENTITY_TYPES}"
                )));
            }
        },
    };
    if entity == EntityType::Attribute {
        let valid = match kind {
            RegistryKind::RegisteredModel => &["name"][..],
            RegistryKind::ModelVersion => &["name", "version_number", "run_id", "source_path"][..],
        };
        if !valid.contains(&key.as_str()) {
            let listed: Vec<String> = valid.iter().map(|k| format!("'{k}'")).collect();
            return Err(err(format!(
                "Invalid attribute key '{key}' specified. Valid keys are [{}]",
                listed.join(", ")
            )));
        }
    }
    let what = describe(&entity, &key);
    let allowed = match (&entity, key.as_str()) {
        (EntityType::Attribute, "version_number") => NUMERIC_COMPARATORS,
        (EntityType::Attribute, "source_path") => STRING_COMPARATORS,
        (EntityType::Attribute, _) => STRING_LIST_COMPARATORS,
        _ => STRING_COMPARATORS,
    };
    let comparator = check_comparator(&raw.op, allowed, &what)?;
    let value = match (&entity, key.as_str()) {
        (EntityType::Attribute, "version_number") => integer_value(&raw.value, &what)?,
        (EntityType::Attribute, _) => {
            string_or_list_value(&raw.value, comparator, &what, |value, what| {
                if kind == RegistryKind::ModelVersion && matches!(value, RawValue::Number(_)) {
                    return Err(err(format!(
                        "Only the 'version_number' attribute supports comparison with numeric \
                         values, not {what}."
                    )));
                }
                quoted_string_value(value, what)
            })?
        }
        _ => quoted_string_value(&raw.value, &what)?,
    };
    Ok(Condition {
        entity,
        key,
        comparator,
        value,
    })
}

/// `version_number`: an integer literal, or a quoted string holding an integer (MLflow
/// applies Python's `int()` to it).
fn integer_value(value: &RawValue, what: &str) -> Result<FilterValue, SearchError> {
    let invalid = || {
        err(format!(
            "Invalid value for numeric {what}: {}. Expected an integer.",
            value.written()
        ))
    };
    let text = match value {
        RawValue::Number(n) if !n.contains(['.', 'e', 'E']) => n.as_str(),
        RawValue::Quoted { text, .. } => text.trim(),
        _ => return Err(invalid()),
    };
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid());
    }
    match text.parse::<i64>() {
        Ok(n) => Ok(FilterValue::Number(n as f64)),
        Err(_) => Err(invalid()),
    }
}

const LOGGED_MODEL_ENTITY_TYPES: &str = "['attributes', 'metrics', 'params', 'tags']";
const LOGGED_MODEL_ATTRIBUTES: &str = "['name', 'model_id', 'model_type', 'status', \
     'source_run_id', 'creation_timestamp', 'last_updated_timestamp']";

fn logged_model_attribute(key: &str) -> Option<&'static str> {
    Some(match key {
        "name" => "name",
        "model_id" => "model_id",
        "model_type" => "model_type",
        "status" => "status",
        "source_run_id" => "source_run_id",
        "creation_timestamp" | "creation_time" => "creation_timestamp",
        "last_updated_timestamp" | "last_updated_time" => "last_updated_timestamp",
        _ => return None,
    })
}

/// Logged-model string values: quoted, or (as MLflow) an unquoted number or word.
fn logged_model_string_value(value: &RawValue, what: &str) -> Result<FilterValue, SearchError> {
    match value {
        RawValue::Quoted { text, .. } => Ok(FilterValue::String(text.clone())),
        RawValue::Number(text) | RawValue::Bare(text) => Ok(FilterValue::String(text.clone())),
        other => Err(err(format!(
            "Expected a quoted string value for {what} (e.g. 'my-value'). Got value {}",
            other.written()
        ))),
    }
}

fn resolve_logged_model_condition(raw: RawCondition) -> Result<Condition, SearchError> {
    let (entity, key) = match resolve_identifier(&raw.ident)? {
        Ident::Bare(key) => (EntityType::Attribute, key),
        Ident::Prefixed { entity, key } => match entity.as_str() {
            "attributes" => (EntityType::Attribute, key),
            "metrics" => (EntityType::Metric, key),
            "params" => (EntityType::Param, key),
            "tags" => (EntityType::Tag, key),
            _ => {
                return Err(err(format!(
                    "Invalid entity type: '{entity}'. Expected one of {LOGGED_MODEL_ENTITY_TYPES}."
                )));
            }
        },
    };
    let key = if entity == EntityType::Attribute {
        match logged_model_attribute(&key) {
            Some(canonical) => canonical.to_string(),
            None => {
                return Err(err(format!(
                    "Invalid attribute key '{key}' specified. Valid keys are \
                     {LOGGED_MODEL_ATTRIBUTES}"
                )));
            }
        }
    } else {
        key
    };
    let what = describe(&entity, &key);
    let numeric = entity == EntityType::Metric
        || (entity == EntityType::Attribute
            && matches!(
                key.as_str(),
                "creation_timestamp" | "last_updated_timestamp"
            ));
    let allowed = if numeric {
        NUMERIC_COMPARATORS
    } else {
        STRING_LIST_COMPARATORS
    };
    let comparator = check_comparator(&raw.op, allowed, &what)?;
    let value = if numeric {
        numeric_value(&raw.value, &what)?
    } else {
        string_or_list_value(&raw.value, comparator, &what, logged_model_string_value)?
    };
    Ok(Condition {
        entity,
        key,
        comparator,
        value,
    })
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use Comparator as C;
    use EntityType as E;

    fn c(entity: EntityType, key: &str, comparator: Comparator, value: FilterValue) -> Condition {
        Condition {
            entity,
            key: key.to_string(),
            comparator,
            value,
        }
    }
    fn s(v: &str) -> FilterValue {
        FilterValue::String(v.to_string())
    }
    fn n(v: f64) -> FilterValue {
        FilterValue::Number(v)
    }
    fn l(items: &[&str]) -> FilterValue {
        FilterValue::List(items.iter().map(|i| i.to_string()).collect())
    }
    fn ob(entity: EntityType, key: &str, ascending: bool) -> OrderBy {
        OrderBy {
            entity,
            key: key.to_string(),
            ascending,
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Kind {
        Run,
        Rm,
        Mv,
        Lm,
    }

    fn parse(kind: Kind, filter: &str) -> Result<Vec<Condition>, SearchError> {
        match kind {
            Kind::Run => parse_run_filter(filter),
            Kind::Rm => parse_registered_model_filter(filter),
            Kind::Mv => parse_model_version_filter(filter),
            Kind::Lm => parse_logged_model_filter(filter),
        }
    }

    #[test]
    fn valid_filters() {
        use Kind::*;
        let null = FilterValue::Null;
        let cases: Vec<(Kind, &str, Vec<Condition>)> = vec![
            // Empty conjunctions.
            (Run, "", vec![]),
            (Run, "  \t\n ", vec![]),
            (Rm, "", vec![]),
            (Mv, " ", vec![]),
            (Lm, "", vec![]),
            // Metrics: numbers in every MLflow spelling, entity aliases.
            (
                Run,
                "metrics.rmse > 1",
                vec![c(E::Metric, "rmse", C::Gt, n(1.0))],
            ),
            (
                Run,
                "metrics.rmse>-1",
                vec![c(E::Metric, "rmse", C::Gt, n(-1.0))],
            ),
            (
                Run,
                "metric.rmse <= 1e3",
                vec![c(E::Metric, "rmse", C::Le, n(1000.0))],
            ),
            (
                Run,
                "metrics.rmse >= 1.5E-3",
                vec![c(E::Metric, "rmse", C::Ge, n(0.0015))],
            ),
            (
                Run,
                "metrics.rmse != .5",
                vec![c(E::Metric, "rmse", C::Ne, n(0.5))],
            ),
            (
                Run,
                "metrics.rmse = 5.",
                vec![c(E::Metric, "rmse", C::Eq, n(5.0))],
            ),
            (
                Run,
                "metrics.rmse < -.25",
                vec![c(E::Metric, "rmse", C::Lt, n(-0.25))],
            ),
            // Keys: quoted, dotted, starting with a digit, unicode.
            (
                Run,
                "metrics.`a b` < 2",
                vec![c(E::Metric, "a b", C::Lt, n(2.0))],
            ),
            (
                Run,
                "metrics.\"a.b\" = 1",
                vec![c(E::Metric, "a.b", C::Eq, n(1.0))],
            ),
            (
                Run,
                "metrics.'a b' = 1",
                vec![c(E::Metric, "a b", C::Eq, n(1.0))],
            ),
            (
                Run,
                "metrics.a.b.c = 1",
                vec![c(E::Metric, "a.b.c", C::Eq, n(1.0))],
            ),
            (
                Run,
                "metrics.1x = 1",
                vec![c(E::Metric, "1x", C::Eq, n(1.0))],
            ),
            (
                Run,
                "`metrics`.x = 1",
                vec![c(E::Metric, "x", C::Eq, n(1.0))],
            ),
            (Run, "params.é = 'ü'", vec![c(E::Param, "é", C::Eq, s("ü"))]),
            // Params and tags: quoting, LIKE/ILIKE, IS [NOT] NULL, case-insensitive keywords.
            (Run, "params.x = 'a'", vec![c(E::Param, "x", C::Eq, s("a"))]),
            (
                Run,
                "param.x = \"a\"",
                vec![c(E::Param, "x", C::Eq, s("a"))],
            ),
            (
                Run,
                "parameter.x LIKE '%a'",
                vec![c(E::Param, "x", C::Like, s("%a"))],
            ),
            (
                Run,
                "parameters.x ilike 'A%'",
                vec![c(E::Param, "x", C::ILike, s("A%"))],
            ),
            (Run, "params.x = ''", vec![c(E::Param, "x", C::Eq, s(""))]),
            (
                Run,
                "params.x = 'it''s'",
                vec![c(E::Param, "x", C::Eq, s("it''s"))],
            ),
            (
                Run,
                r"params.x = 'a\'b'",
                vec![c(E::Param, "x", C::Eq, s(r"a\'b"))],
            ),
            (
                Run,
                "params.x = \"a'b\"",
                vec![c(E::Param, "x", C::Eq, s("a'b"))],
            ),
            (
                Run,
                "params.x IS NULL",
                vec![c(E::Param, "x", C::IsNull, null.clone())],
            ),
            (
                Run,
                "tags.x is not null",
                vec![c(E::Tag, "x", C::IsNotNull, null.clone())],
            ),
            (
                Run,
                "tags.x Is  Not \t Null",
                vec![c(E::Tag, "x", C::IsNotNull, null.clone())],
            ),
            (
                Run,
                "tags.`mlflow.runName` = 'r'",
                vec![c(E::Tag, "mlflow.runName", C::Eq, s("r"))],
            ),
            (
                Run,
                "tags.\"mlflow.runName\" = 'r'",
                vec![c(E::Tag, "mlflow.runName", C::Eq, s("r"))],
            ),
            (
                Run,
                "tags.mlflow.runName != 'r'",
                vec![c(E::Tag, "mlflow.runName", C::Ne, s("r"))],
            ),
            (
                Run,
                "tag.x = 'a AND b'",
                vec![c(E::Tag, "x", C::Eq, s("a AND b"))],
            ),
            // Attributes: aliases, bare keys, canonical names.
            (
                Run,
                "attributes.status = 'FINISHED'",
                vec![c(E::Attribute, "status", C::Eq, s("FINISHED"))],
            ),
            (
                Run,
                "attribute.status != 'RUNNING'",
                vec![c(E::Attribute, "status", C::Ne, s("RUNNING"))],
            ),
            (
                Run,
                "attr.user_id LIKE 'a%'",
                vec![c(E::Attribute, "user_id", C::Like, s("a%"))],
            ),
            (
                Run,
                "run.artifact_uri = 's3://b'",
                vec![c(E::Attribute, "artifact_uri", C::Eq, s("s3://b"))],
            ),
            (
                Run,
                "status ILIKE 'fin%'",
                vec![c(E::Attribute, "status", C::ILike, s("fin%"))],
            ),
            (
                Run,
                "`status` = 'x'",
                vec![c(E::Attribute, "status", C::Eq, s("x"))],
            ),
            (
                Run,
                "created > 5",
                vec![c(E::Attribute, "start_time", C::Gt, n(5.0))],
            ),
            (
                Run,
                "attributes.Created >= 5",
                vec![c(E::Attribute, "start_time", C::Ge, n(5.0))],
            ),
            (
                Run,
                "attributes.start_time > 5.5",
                vec![c(E::Attribute, "start_time", C::Gt, n(5.5))],
            ),
            (
                Run,
                "end_time < 10",
                vec![c(E::Attribute, "end_time", C::Lt, n(10.0))],
            ),
            (
                Run,
                "attributes.`Run name` = 'x'",
                vec![c(E::Attribute, "run_name", C::Eq, s("x"))],
            ),
            (
                Run,
                "\"Run Name\" = 'x'",
                vec![c(E::Attribute, "run_name", C::Eq, s("x"))],
            ),
            (
                Run,
                "run_name ILIKE '%x'",
                vec![c(E::Attribute, "run_name", C::ILike, s("%x"))],
            ),
            (
                Run,
                "attributes.run_id IN ('a', \"b\")",
                vec![c(E::Attribute, "run_id", C::In, l(&["a", "b"]))],
            ),
            (
                Run,
                "run_id not in ('a',)",
                vec![c(E::Attribute, "run_id", C::NotIn, l(&["a"]))],
            ),
            (
                Run,
                r"attributes.run_id IN('a\'b', 'c\\d', 'e\x41')",
                vec![c(E::Attribute, "run_id", C::In, l(&["a'b", r"c\d", "eA"]))],
            ),
            // Datasets.
            (
                Run,
                "datasets.name = 'ds'",
                vec![c(E::Dataset, "name", C::Eq, s("ds"))],
            ),
            (
                Run,
                "dataset.digest IN ('a','b')",
                vec![c(E::Dataset, "digest", C::In, l(&["a", "b"]))],
            ),
            (
                Run,
                "datasets.context LIKE 'tr%'",
                vec![c(E::Dataset, "context", C::Like, s("tr%"))],
            ),
            (
                Run,
                "datasets.`name` NOT IN ('x')",
                vec![c(E::Dataset, "name", C::NotIn, l(&["x"]))],
            ),
            // Conjunctions.
            (
                Run,
                "metrics.rmse < 5 and params.x = 'y' AND tags.z LIKE 'w%'",
                vec![
                    c(E::Metric, "rmse", C::Lt, n(5.0)),
                    c(E::Param, "x", C::Eq, s("y")),
                    c(E::Tag, "z", C::Like, s("w%")),
                ],
            ),
            (
                Run,
                "params.x='a'AND params.y='b'",
                vec![
                    c(E::Param, "x", C::Eq, s("a")),
                    c(E::Param, "y", C::Eq, s("b")),
                ],
            ),
            (
                Run,
                "tags.x IS NULL AND tags.x = 'b'",
                vec![
                    c(E::Tag, "x", C::IsNull, null.clone()),
                    c(E::Tag, "x", C::Eq, s("b")),
                ],
            ),
            // Registered models.
            (
                Rm,
                "name = 'm'",
                vec![c(E::Attribute, "name", C::Eq, s("m"))],
            ),
            (
                Rm,
                "name = \"m\"",
                vec![c(E::Attribute, "name", C::Eq, s("m"))],
            ),
            (
                Rm,
                "attribute.name LIKE 'm%'",
                vec![c(E::Attribute, "name", C::Like, s("m%"))],
            ),
            (
                Rm,
                "name ILIKE 'M%'",
                vec![c(E::Attribute, "name", C::ILike, s("M%"))],
            ),
            (
                Rm,
                "name IN ('a', 'b')",
                vec![c(E::Attribute, "name", C::In, l(&["a", "b"]))],
            ),
            (
                Rm,
                "name NOT IN ('a')",
                vec![c(E::Attribute, "name", C::NotIn, l(&["a"]))],
            ),
            (
                Rm,
                "tag.`a.b` != 'a'",
                vec![c(E::Tag, "a.b", C::Ne, s("a"))],
            ),
            (
                Rm,
                "name = 'a' AND tags.x LIKE 'b%'",
                vec![
                    c(E::Attribute, "name", C::Eq, s("a")),
                    c(E::Tag, "x", C::Like, s("b%")),
                ],
            ),
            // Model versions.
            (
                Mv,
                "name = 'm' AND version_number = 3",
                vec![
                    c(E::Attribute, "name", C::Eq, s("m")),
                    c(E::Attribute, "version_number", C::Eq, n(3.0)),
                ],
            ),
            (
                Mv,
                "version_number > '3'",
                vec![c(E::Attribute, "version_number", C::Gt, n(3.0))],
            ),
            (
                Mv,
                "version_number <= ' 12 '",
                vec![c(E::Attribute, "version_number", C::Le, n(12.0))],
            ),
            (
                Mv,
                "version_number != -1",
                vec![c(E::Attribute, "version_number", C::Ne, n(-1.0))],
            ),
            (
                Mv,
                "run_id IN ('r1', 'r2')",
                vec![c(E::Attribute, "run_id", C::In, l(&["r1", "r2"]))],
            ),
            (
                Mv,
                "run_id NOT IN ('r1')",
                vec![c(E::Attribute, "run_id", C::NotIn, l(&["r1"]))],
            ),
            (
                Mv,
                "name IN ('a')",
                vec![c(E::Attribute, "name", C::In, l(&["a"]))],
            ),
            (
                Mv,
                "source_path LIKE 's3://%'",
                vec![c(E::Attribute, "source_path", C::Like, s("s3://%"))],
            ),
            (
                Mv,
                "attribute.run_id = 'r'",
                vec![c(E::Attribute, "run_id", C::Eq, s("r"))],
            ),
            (
                Mv,
                "tags.x ILIKE 'a'",
                vec![c(E::Tag, "x", C::ILike, s("a"))],
            ),
            // Logged models.
            (
                Lm,
                "name = 'a'",
                vec![c(E::Attribute, "name", C::Eq, s("a"))],
            ),
            (Lm, "name = a", vec![c(E::Attribute, "name", C::Eq, s("a"))]),
            (
                Lm,
                "name = \"a\"",
                vec![c(E::Attribute, "name", C::Eq, s("a"))],
            ),
            (
                Lm,
                "attributes.name LIKE 'a%'",
                vec![c(E::Attribute, "name", C::Like, s("a%"))],
            ),
            (
                Lm,
                "params.lr = 0.01",
                vec![c(E::Param, "lr", C::Eq, s("0.01"))],
            ),
            (
                Lm,
                "metrics.acc > 0.5",
                vec![c(E::Metric, "acc", C::Gt, n(0.5))],
            ),
            (
                Lm,
                "creation_time > 5",
                vec![c(E::Attribute, "creation_timestamp", C::Gt, n(5.0))],
            ),
            (
                Lm,
                "creation_timestamp != 5",
                vec![c(E::Attribute, "creation_timestamp", C::Ne, n(5.0))],
            ),
            (
                Lm,
                "attributes.last_updated_time <= 7",
                vec![c(E::Attribute, "last_updated_timestamp", C::Le, n(7.0))],
            ),
            (
                Lm,
                "model_id IN ('m-1', 'm-2')",
                vec![c(E::Attribute, "model_id", C::In, l(&["m-1", "m-2"]))],
            ),
            (
                Lm,
                "params.lr NOT IN ('a')",
                vec![c(E::Param, "lr", C::NotIn, l(&["a"]))],
            ),
            (
                Lm,
                "tags.t ILIKE '%x%'",
                vec![c(E::Tag, "t", C::ILike, s("%x%"))],
            ),
            (
                Lm,
                "source_run_id = 'r' and model_type like 'x%'",
                vec![
                    c(E::Attribute, "source_run_id", C::Eq, s("r")),
                    c(E::Attribute, "model_type", C::Like, s("x%")),
                ],
            ),
            (
                Lm,
                "status = 'READY' AND metrics.`a b` >= -2",
                vec![
                    c(E::Attribute, "status", C::Eq, s("READY")),
                    c(E::Metric, "a b", C::Ge, n(-2.0)),
                ],
            ),
        ];
        for (kind, input, expected) in cases {
            assert_eq!(
                parse(kind, input),
                Ok(expected),
                "{kind:?} filter {input:?}"
            );
        }
    }

    #[test]
    fn invalid_filters() {
        use Kind::*;
        let cases: &[(Kind, &str, &str)] = &[
            // Comparators per entity.
            (
                Run,
                "metrics.rmse ~ 1",
                "Invalid comparator '~' for metric 'rmse'",
            ),
            (
                Run,
                "metrics.rmse <> 1",
                "Invalid comparator '<>' for metric 'rmse'",
            ),
            (Run, "metrics.rmse == 1", "Invalid comparator '=='"),
            (
                Run,
                "metrics.rmse LIKE 1",
                "Invalid comparator 'LIKE' for metric 'rmse'",
            ),
            (
                Run,
                "metrics.x IN (1)",
                "Invalid comparator 'IN' for metric 'x'",
            ),
            (
                Run,
                "metrics.rmse IS NULL",
                "IS NULL is only supported for tags and params, not for metric 'rmse'",
            ),
            (
                Run,
                "params.x > 'a'",
                "Invalid comparator '>' for param 'x'",
            ),
            (
                Run,
                "params.x NOT LIKE 'a'",
                "Invalid comparator 'NOT LIKE' for param 'x'",
            ),
            (
                Run,
                "params.x RLIKE 'a'",
                "Invalid comparator 'RLIKE' for param 'x'",
            ),
            (
                Run,
                "params.x IN ('a')",
                "Invalid comparator 'IN' for param 'x'",
            ),
            (
                Run,
                "attributes.start_time LIKE 5",
                "Invalid comparator 'LIKE' for attribute 'start_time'",
            ),
            (
                Run,
                "attributes.status > 'a'",
                "Invalid comparator '>' for attribute 'status'",
            ),
            (
                Run,
                "attributes.status IS NULL",
                "only supported for tags and params, not for attribute 'status'",
            ),
            (
                Run,
                "attributes.run_name IN ('a')",
                "Only ['run_id'] attributes support comparison with a list",
            ),
            (
                Run,
                "datasets.name > 'a'",
                "Invalid comparator '>' for dataset 'name'",
            ),
            (Run, "datasets.name IS NULL", "not for dataset 'name'"),
            // Values of the wrong type.
            (
                Run,
                "metrics.rmse > '1'",
                "Expected numeric value type for metric 'rmse'. Found '1'",
            ),
            (
                Run,
                "metrics.rmse > abc",
                "Expected numeric value type for metric 'rmse'. Found abc",
            ),
            (Run, "metrics.rmse > 1abc", "Found 1abc"),
            (Run, "metrics.rmse > 1.5.5", "Found 1.5.5"),
            (Run, "metrics.rmse > 0x10", "Found 0x10"),
            (
                Run,
                "attributes.start_time > '5'",
                "Expected numeric value type for attribute 'start_time'",
            ),
            (
                Run,
                "params.x = a",
                "not quoted or uses an unsupported quote type: a",
            ),
            (
                Run,
                "params.x = `a`",
                "not quoted or uses an unsupported quote type: `a`",
            ),
            (
                Run,
                "params.x = 1",
                "Expected a quoted string value for param 'x'",
            ),
            (
                Run,
                "attributes.status = 1",
                "Expected a quoted string value for attribute 'status'",
            ),
            (
                Run,
                "datasets.name = 1",
                "Expected a quoted string value for dataset 'name'",
            ),
            // Lists.
            (
                Run,
                "attributes.run_id = ('a')",
                "only be compared with IN or NOT IN",
            ),
            (
                Run,
                "attributes.run_id IN 'a'",
                "Expected a parenthesized list",
            ),
            (Run, "attributes.run_id IN ()", "but got empty list"),
            (
                Run,
                "attributes.run_id IN (1, 2)",
                "expected string values, but got 1",
            ),
            (Run, "attributes.run_id IN ('a',,'b')", "ill-formed list"),
            (Run, "attributes.run_id IN ('a' 'b')", "expected ',' or ')'"),
            (Run, "attributes.run_id IN ('a'", "missing ')'"),
            (Run, "attributes.run_id IN (('a'))", "ill-formed list"),
            (Run, r"attributes.run_id IN ('\x4')", "truncated"),
            // Identifiers.
            (Run, "Metrics.rmse = 1", "Invalid entity type 'Metrics'"),
            (
                Run,
                "foo.rmse = 1",
                "Invalid entity type 'foo'. Valid values are",
            ),
            (
                Run,
                "\"metrics\".x = 1",
                "Invalid entity type '\"metrics\"'",
            ),
            (Run, "rmse = 1", "Invalid attribute key 'rmse' specified"),
            (
                Run,
                "attributes.lifecycle_stage = 'active'",
                "Invalid attribute key 'lifecycle_stage'",
            ),
            (
                Run,
                "attributes.experiment_id = '1'",
                "Invalid attribute key 'experiment_id'",
            ),
            (Run, "datasets.foo = 'a'", "Invalid dataset key 'foo'"),
            (Run, "metrics. = 1", "the key is empty"),
            (Run, "metrics.`` = 1", "the key is empty"),
            (
                Run,
                "metrics . x > 1",
                "whitespace is not allowed around '.'",
            ),
            (
                Run,
                "tags.`a`.b = 'x'",
                "a quoted key must be the whole key",
            ),
            (
                Run,
                "'status' = 'x'",
                "expected an identifier but found ''status''",
            ),
            // Lexing.
            (Run, "params.x = 'abc", "unterminated quoted string"),
            (Run, "params.x = \"abc", "unterminated quoted string"),
            (Run, "tags.`abc = 'x'", "unterminated quoted string"),
            (
                Run,
                r"params.x = 'a\' AND params.y = 'b'",
                "unterminated quoted string",
            ),
            (Run, "metrics.rmse > +1", "unexpected character '+'"),
            (
                Run,
                "metrics.a > 1; metrics.b > 1",
                "unexpected character ';'",
            ),
            (Run, "metrics.a > 1 -- comment", "unexpected character '-'"),
            (Run, "#", "unexpected character '#' at position 0"),
            // Structure: AND only, no trailing tokens.
            (
                Run,
                "metrics.a > 1 OR metrics.b < 2",
                "'OR' is not supported",
            ),
            (
                Run,
                "metrics.a > 1 metrics.b < 2",
                "conditions must be joined with AND",
            ),
            (
                Run,
                "params.x = 'abc' extra",
                "unexpected 'extra' after a complete condition",
            ),
            (Run, "params.x = 'a' 'b'", "unexpected ''b''"),
            (Run, "metrics.a = 1 = 2", "unexpected '='"),
            (Run, "metrics.a > 1 AND", "expected a condition after 'AND'"),
            (Run, "AND metrics.a > 1", "keyword 'AND'"),
            (Run, "metrics.a > 1 AND AND metrics.b > 1", "keyword 'AND'"),
            (Run, "NOT metrics.a > 1", "'NOT' is not supported"),
            (Run, "(metrics.a > 1)", "parentheses are not supported"),
            (Run, "metrics.a", "missing comparison operator"),
            (Run, "metrics.a >", "expected a value after '>'"),
            (
                Run,
                "params.x = NULL",
                "expected a value after '=' but found 'NULL'",
            ),
            (
                Run,
                "params.x foo 'a'",
                "expected a comparison operator after 'params.x' but found 'foo'",
            ),
            (Run, "params.x IS 'a'", "expected NULL or NOT NULL after IS"),
            (Run, "params.x NOT 'a'", "expected IN after NOT"),
            // Registered models.
            (
                Rm,
                "name > 'a'",
                "Invalid comparator '>' for attribute 'name'",
            ),
            (
                Rm,
                "name IS NULL",
                "Invalid comparator 'IS NULL' for attribute 'name'",
            ),
            (
                Rm,
                "tags.x IS NOT NULL",
                "Invalid comparator 'IS NOT NULL' for tag 'x'",
            ),
            (Rm, "tags.x IN ('a')", "Invalid comparator 'IN' for tag 'x'"),
            (
                Rm,
                "tags.x = 1",
                "Expected a quoted string value for tag 'x'",
            ),
            (Rm, "name = a", "not quoted"),
            (
                Rm,
                "name = 1",
                "Expected a quoted string value for attribute 'name'",
            ),
            (
                Rm,
                "attributes.name = 'a'",
                "Invalid entity type 'attributes'. Valid entity types are ('attribute', 'tag', 'tags')",
            ),
            (Rm, "metrics.x > 1", "Invalid entity type 'metrics'"),
            (
                Rm,
                "creation_timestamp > 1",
                "Invalid attribute key 'creation_timestamp'",
            ),
            (Rm, "name = 'a' OR tags.x = 'b'", "'OR' is not supported"),
            // Model versions.
            (Mv, "version_number = 3.5", "Expected an integer"),
            (Mv, "version_number = 'abc'", "Expected an integer"),
            (Mv, "version_number = 1e3", "Expected an integer"),
            (
                Mv,
                "version_number LIKE 3",
                "Invalid comparator 'LIKE' for attribute 'version_number'",
            ),
            (
                Mv,
                "version_number IN ('3')",
                "Invalid comparator 'IN' for attribute 'version_number'",
            ),
            (
                Mv,
                "source_path IN ('a')",
                "Invalid comparator 'IN' for attribute 'source_path'",
            ),
            (
                Mv,
                "name = 3",
                "Only the 'version_number' attribute supports comparison with numeric values",
            ),
            (
                Mv,
                "creation_timestamp > 1",
                "Invalid attribute key 'creation_timestamp'",
            ),
            (Mv, "tags.x > 'a'", "Invalid comparator '>' for tag 'x'"),
            (Mv, "run_id = ('a')", "only be compared with IN or NOT IN"),
            (
                Mv,
                "attributes.run_id = 'a'",
                "Invalid entity type 'attributes'",
            ),
            // Logged models.
            (
                Lm,
                "attribute.name = 'a'",
                "Invalid entity type: 'attribute'. Expected one of ['attributes', 'metrics', 'params', 'tags'].",
            ),
            (Lm, "metric.acc > 1", "Invalid entity type: 'metric'"),
            (
                Lm,
                "creation_timestamp > '5'",
                "Expected numeric value type for attribute 'creation_timestamp'",
            ),
            (
                Lm,
                "creation_timestamp LIKE 5",
                "Invalid comparator 'LIKE' for attribute 'creation_timestamp'",
            ),
            (
                Lm,
                "metrics.acc > '0.5'",
                "Expected numeric value type for metric 'acc'",
            ),
            (
                Lm,
                "metrics.acc IN (1)",
                "Invalid comparator 'IN' for metric 'acc'",
            ),
            (
                Lm,
                "params.lr IS NULL",
                "Invalid comparator 'IS NULL' for param 'lr'",
            ),
            (Lm, "tags.t > 'a'", "Invalid comparator '>' for tag 't'"),
            (Lm, "foo = 'a'", "Invalid attribute key 'foo'"),
            (
                Lm,
                "params.lr = `x`",
                "Expected a quoted string value for param 'lr'",
            ),
            (Lm, "params.lr IN ()", "empty list"),
            (
                Lm,
                "metrics.a > 1 OR metrics.b > 1",
                "'OR' is not supported",
            ),
        ];
        for (kind, input, expected) in cases {
            match parse(*kind, input) {
                Err(SearchError(message)) => assert!(
                    message.contains(expected),
                    "{kind:?} filter {input:?}: message {message:?} lacks {expected:?}"
                ),
                Ok(parsed) => panic!("{kind:?} filter {input:?} should fail, got {parsed:?}"),
            }
        }
    }

    #[test]
    fn run_order_by() {
        let valid = [
            ("metrics.rmse", ob(E::Metric, "rmse", true)),
            ("metrics.rmse DESC", ob(E::Metric, "rmse", false)),
            ("metric.rmse desc", ob(E::Metric, "rmse", false)),
            ("metrics.rmse Asc", ob(E::Metric, "rmse", true)),
            ("metrics.`a b` DESC", ob(E::Metric, "a b", false)),
            ("metrics.\"a b\" desc", ob(E::Metric, "a b", false)),
            ("metrics.a.b", ob(E::Metric, "a.b", true)),
            ("params.x ASC", ob(E::Param, "x", true)),
            (
                "tags.`mlflow.runName` DESC",
                ob(E::Tag, "mlflow.runName", false),
            ),
            (
                "attributes.start_time DESC",
                ob(E::Attribute, "start_time", false),
            ),
            ("start_time", ob(E::Attribute, "start_time", true)),
            ("created", ob(E::Attribute, "start_time", true)),
            ("Created DESC", ob(E::Attribute, "start_time", false)),
            ("attributes.run_name", ob(E::Attribute, "run_name", true)),
            ("run_name", ob(E::Attribute, "run_name", true)),
            ("attr.status DESC", ob(E::Attribute, "status", false)),
            ("run.run_id", ob(E::Attribute, "run_id", true)),
            ("user_id", ob(E::Attribute, "user_id", true)),
            ("end_time", ob(E::Attribute, "end_time", true)),
            ("artifact_uri", ob(E::Attribute, "artifact_uri", true)),
            ("  metrics.rmse   DESC  ", ob(E::Metric, "rmse", false)),
        ];
        for (input, expected) in valid {
            assert_eq!(
                parse_run_order_by(input),
                Ok(expected),
                "order_by {input:?}"
            );
        }
        let invalid = [
            ("", "Could not be parsed"),
            ("   ", "Could not be parsed"),
            (
                "metrics.rmse DESC extra",
                "Could not be parsed: unexpected 'extra'",
            ),
            (
                "metrics.rmse,params.x",
                "Could not be parsed: unexpected ','",
            ),
            ("metrics.rmse up", "Invalid ordering key 'up'"),
            ("metrics.rmse NULLS LAST", "Invalid ordering key 'NULLS'"),
            ("attributes.`Run name`", "Invalid attribute key 'Run name'"),
            ("lifecycle_stage", "Invalid attribute key 'lifecycle_stage'"),
            ("timestamp", "Invalid attribute key 'timestamp'"),
            ("datasets.name", "Invalid order_by entity type 'dataset'"),
            ("foo.bar", "Invalid entity type 'foo'"),
            ("metrics.", "the key is empty"),
            ("metrics.rmse ~", "Could not be parsed: unexpected '~'"),
            ("'metrics.rmse'", "expected an identifier"),
        ];
        for (input, expected) in invalid {
            match parse_run_order_by(input) {
                Err(SearchError(message)) => assert!(
                    message.contains(expected),
                    "order_by {input:?}: message {message:?} lacks {expected:?}"
                ),
                Ok(parsed) => panic!("order_by {input:?} should fail, got {parsed:?}"),
            }
        }
    }

    #[test]
    fn registry_order_by() {
        use RegistryKind::{ModelVersion as Mv, RegisteredModel as Rm};
        let valid = [
            (Rm, "name", ob(E::Attribute, "name", true)),
            (Rm, "name DESC", ob(E::Attribute, "name", false)),
            (Rm, "`name` desc", ob(E::Attribute, "name", false)),
            (
                Rm,
                "timestamp",
                ob(E::Attribute, "last_updated_timestamp", true),
            ),
            (
                Rm,
                "timestamp DESC",
                ob(E::Attribute, "last_updated_timestamp", false),
            ),
            (
                Rm,
                "last_updated_timestamp ASC",
                ob(E::Attribute, "last_updated_timestamp", true),
            ),
            (Mv, "name", ob(E::Attribute, "name", true)),
            (
                Mv,
                "version_number DESC",
                ob(E::Attribute, "version_number", false),
            ),
            (
                Mv,
                "`version_number` DESC",
                ob(E::Attribute, "version_number", false),
            ),
            (
                Mv,
                "creation_timestamp",
                ob(E::Attribute, "creation_timestamp", true),
            ),
            (
                Mv,
                "last_updated_timestamp ASC",
                ob(E::Attribute, "last_updated_timestamp", true),
            ),
            (Mv, "attribute.name desc", ob(E::Attribute, "name", false)),
        ];
        for (kind, input, expected) in valid {
            assert_eq!(
                parse_registry_order_by(input, kind),
                Ok(expected),
                "{kind:?} {input:?}"
            );
        }
        let invalid = [
            (
                Rm,
                "creation_timestamp",
                "Invalid order by key 'creation_timestamp'",
            ),
            (
                Rm,
                "attribute.name",
                "Invalid order by key 'attribute.name'",
            ),
            (Rm, "tags.x", "Invalid order by key 'tags.x'"),
            (Rm, "name up", "Invalid ordering key 'up'"),
            (Rm, "", "Could not be parsed"),
            (Mv, "timestamp", "Invalid order by key 'timestamp'"),
            (Mv, "run_id", "Invalid order by key 'run_id'"),
            (Mv, "attributes.name", "Invalid entity type 'attributes'"),
            (
                Mv,
                "tags.x",
                "Model versions can only be ordered by attributes",
            ),
            (Mv, "name DESC DESC", "Could not be parsed"),
        ];
        for (kind, input, expected) in invalid {
            match parse_registry_order_by(input, kind) {
                Err(SearchError(message)) => assert!(
                    message.contains(expected),
                    "{kind:?} {input:?}: message {message:?} lacks {expected:?}"
                ),
                Ok(parsed) => panic!("{kind:?} {input:?} should fail, got {parsed:?}"),
            }
        }
    }

    #[test]
    fn literal_ends_follow_mlflow_tokenizer() {
        // `'a\'` alone: the backslash is content and the quote closes it.
        assert_eq!(
            parse_run_filter(r"params.x = 'a\'"),
            Ok(vec![c(E::Param, "x", C::Eq, s(r"a\"))])
        );
        // A doubled quote stays part of the literal; a lone trailing one is unterminated.
        assert_eq!(
            parse_run_filter("params.x = 'a'''"),
            Ok(vec![c(E::Param, "x", C::Eq, s("a''"))])
        );
        assert!(parse_run_filter("params.x = 'a''").is_err());
        assert_eq!(
            parse_run_filter("params.`x``y` = 'a'"),
            Ok(vec![c(E::Param, "x``y", C::Eq, s("a"))])
        );
    }

    // ---- property-style tests -----------------------------------------------------------

    /// xorshift64*: tiny, deterministic.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
        fn chance(&mut self, percent: u64) -> bool {
            self.next() % 100 < percent
        }
    }

    /// Runs every entry point on `input`; they must return (not panic), deterministically,
    /// and errors must say something.
    fn exercise(input: &str) {
        type FilterParser = fn(&str) -> Result<Vec<Condition>, SearchError>;
        let filters: [FilterParser; 4] = [
            parse_run_filter,
            parse_registered_model_filter,
            parse_model_version_filter,
            parse_logged_model_filter,
        ];
        for f in filters {
            let first = f(input);
            assert_eq!(first, f(input), "non-deterministic on {input:?}");
            if let Err(SearchError(message)) = &first {
                assert!(!message.is_empty(), "empty error for {input:?}");
            }
            if let Ok(conditions) = &first {
                for cond in conditions {
                    assert!(!cond.key.is_empty(), "empty key accepted in {input:?}");
                    if let FilterValue::List(items) = &cond.value {
                        assert!(!items.is_empty(), "empty list accepted in {input:?}");
                    }
                }
            }
        }
        let _ = parse_run_order_by(input);
        let _ = parse_registry_order_by(input, RegistryKind::RegisteredModel);
        let _ = parse_registry_order_by(input, RegistryKind::ModelVersion);
    }

    #[test]
    fn random_garbage_never_panics() {
        const FRAGMENTS: &[&str] = &[
            "metrics",
            "params",
            "tags",
            "attributes",
            "datasets",
            "attr",
            "run",
            ".",
            "`",
            "'",
            "\"",
            "\\",
            "(",
            ")",
            ",",
            " ",
            "  ",
            "\t",
            "\n",
            "AND",
            "and",
            "OR",
            "IN",
            "not",
            "NOT",
            "IS",
            "NULL",
            "LIKE",
            "ilike",
            "=",
            "!=",
            "<",
            "<=",
            ">",
            ">=",
            "~",
            "<>",
            "-",
            "1",
            "0.5",
            ".5",
            "1e3",
            "e",
            "E-",
            "x",
            "run_id",
            "start_time",
            "created",
            "version_number",
            "name",
            "status",
            "é",
            "\u{0}",
            "''",
            "``",
            "\"\"",
            ";",
            "#",
            "+",
            "ASC",
            "DESC",
            "\\'",
            "\\x",
            "\\u12",
            "0x",
            "_",
            "€",
            "𝄞",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let len = rng.below(24);
            let mut input = String::new();
            for _ in 0..len {
                if rng.chance(10) {
                    // Any char, including controls and non-ASCII.
                    let code = rng.below(0x3000) as u32;
                    input.push(char::from_u32(code).unwrap_or('?'));
                } else {
                    let fragment: &str = rng.pick::<&str>(FRAGMENTS);
                    input.push_str(fragment);
                }
            }
            exercise(&input);
        }
    }

    #[test]
    fn truncations_and_deletions_never_panic() {
        let valid = [
            "metrics.rmse < 5 and params.x = 'y' AND tags.`mlflow.runName` LIKE 'w%'",
            r#"attributes.run_id IN ('a\'b', "c") AND datasets.name NOT IN ('d',)"#,
            "params.x IS NOT NULL AND tags.y is null AND created >= -1.5E-3",
            "name = 'm' AND version_number > '3' AND run_id NOT IN ('r1', 'r2')",
            "status = READY AND metrics.`a b` >= -2 AND params.lr = 0.01",
            "metrics.rmse DESC",
            "`version_number` desc",
        ];
        for filter in valid {
            let boundaries: Vec<usize> = filter
                .char_indices()
                .map(|(i, _)| i)
                .chain([filter.len()])
                .collect();
            for &b in &boundaries {
                exercise(&filter[..b]);
                exercise(&filter[b..]);
            }
            for w in boundaries.windows(2) {
                let deleted = format!("{}{}", &filter[..w[0]], &filter[w[1]..]);
                exercise(&deleted);
            }
        }
    }

    #[test]
    fn pathological_inputs_are_fast_and_total() {
        // Many unclosed quotes and deep parentheses: linear-time, no recursion.
        let quotes = "'".repeat(50_001);
        exercise(&quotes);
        let parens = format!("run_id IN {}", "(".repeat(100_000));
        exercise(&parens);
        let long = vec!["metrics.a > 1"; 5_000].join(" AND ");
        assert_eq!(parse_run_filter(&long).map(|v| v.len()), Ok(5_000));
    }

    /// Renders a random valid run condition in a random MLflow spelling, and the AST that
    /// spelling must parse to.
    fn random_run_condition(rng: &mut Rng) -> (String, Condition) {
        const KEYS: &[&str] = &[
            "rmse",
            "a.b",
            "with space",
            "mlflow.runName",
            "x_1",
            "ümlaut",
            "1x",
        ];
        const STRINGS: &[&str] = &[
            "a",
            "with space",
            "it's",
            "say \"hi\"",
            "%like_",
            "AND",
            "",
            "ü",
        ];
        const NUMBERS: &[(&str, f64)] = &[
            ("1", 1.0),
            ("-1", -1.0),
            ("2.5", 2.5),
            (".5", 0.5),
            ("1e3", 1000.0),
            ("-1.5E-3", -0.0015),
            ("5.", 5.0),
        ];
        fn case(rng: &mut Rng, word: &str) -> String {
            match rng.below(3) {
                0 => word.to_ascii_lowercase(),
                1 => word.to_ascii_uppercase(),
                _ => word
                    .chars()
                    .enumerate()
                    .map(|(i, c)| {
                        if i % 2 == 0 {
                            c.to_ascii_uppercase()
                        } else {
                            c.to_ascii_lowercase()
                        }
                    })
                    .collect(),
            }
        }
        fn quote_key(rng: &mut Rng, key: &str) -> String {
            let bare_ok = key
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(is_word_char));
            if bare_ok && rng.chance(50) {
                key.to_string()
            } else if rng.chance(50) {
                format!("`{key}`")
            } else {
                format!("\"{key}\"")
            }
        }
        fn quote_value(rng: &mut Rng, value: &str) -> String {
            let q = if value.contains('\'') {
                '"'
            } else if value.contains('"') || rng.chance(50) {
                '\''
            } else {
                '"'
            };
            format!("{q}{value}{q}")
        }
        let ws = |rng: &mut Rng| rng.pick(&[" ", "  ", "\t", " \n "]).to_string();

        let entity = rng
            .pick(&[E::Metric, E::Param, E::Tag, E::Attribute, E::Dataset])
            .clone();
        let (ident, key, numeric) = match entity {
            E::Metric | E::Param | E::Tag => {
                let prefixes: &[&str] = match entity {
                    E::Metric => &["metrics", "metric"],
                    E::Param => &["params", "param", "parameter", "parameters"],
                    _ => &["tags", "tag"],
                };
                let key = *rng.pick(KEYS);
                let ident = format!("{}.{}", rng.pick(prefixes), quote_key(rng, key));
                (ident, key.to_string(), entity == E::Metric)
            }
            E::Attribute => {
                let (written, canonical, numeric) = *rng.pick(&[
                    ("run_id", "run_id", false),
                    ("run_name", "run_name", false),
                    ("Run name", "run_name", false),
                    ("status", "status", false),
                    ("user_id", "user_id", false),
                    ("artifact_uri", "artifact_uri", false),
                    ("start_time", "start_time", true),
                    ("created", "start_time", true),
                    ("Created", "start_time", true),
                    ("end_time", "end_time", true),
                ]);
                let key = if written.contains(' ') || rng.chance(20) {
                    format!("`{written}`")
                } else {
                    written.to_string()
                };
                let prefix = *rng.pick(&["", "attributes.", "attribute.", "attr.", "run."]);
                (format!("{prefix}{key}"), canonical.to_string(), numeric)
            }
            E::Dataset => {
                let key = *rng.pick(&["name", "digest", "context"]);
                let prefix = *rng.pick(&["datasets", "dataset"]);
                (format!("{prefix}.{key}"), key.to_string(), false)
            }
        };
        let comparators: &[Comparator] = if numeric {
            NUMERIC_COMPARATORS
        } else {
            match (&entity, key.as_str()) {
                (E::Param | E::Tag, _) => PARAM_TAG_COMPARATORS,
                (E::Attribute, "run_id") | (E::Dataset, _) => STRING_LIST_COMPARATORS,
                _ => STRING_COMPARATORS,
            }
        };
        let comparator = *rng.pick(comparators);
        let op = match comparator {
            C::Like | C::ILike | C::In | C::NotIn | C::IsNull | C::IsNotNull => comparator
                .as_str()
                .split(' ')
                .map(|w| case(rng, w))
                .collect::<Vec<_>>()
                .join(" "),
            _ => comparator.as_str().to_string(),
        };
        let (value_text, value) = match comparator {
            C::IsNull | C::IsNotNull => (String::new(), FilterValue::Null),
            C::In | C::NotIn => {
                let count = 1 + rng.below(3);
                let items: Vec<&str> = (0..count).map(|_| *rng.pick(STRINGS)).collect();
                let mut text = items
                    .iter()
                    .map(|i| quote_value(rng, i))
                    .collect::<Vec<_>>()
                    .join(", ");
                if rng.chance(20) {
                    text.push(',');
                }
                (format!("({text})"), l(&items))
            }
            _ if numeric => {
                let (text, value) = *rng.pick(NUMBERS);
                (text.to_string(), n(value))
            }
            _ => {
                let value = *rng.pick(STRINGS);
                (quote_value(rng, value), s(value))
            }
        };
        let text = if value_text.is_empty() {
            format!("{ident}{}{op}", ws(rng))
        } else {
            format!("{ident}{}{op}{}{value_text}", ws(rng), ws(rng))
        };
        (
            text,
            Condition {
                entity,
                key,
                comparator,
                value,
            },
        )
    }

    #[test]
    fn random_valid_run_filters_round_trip() {
        let mut rng = Rng(0x0123_4567_89AB_CDEF);
        for _ in 0..5_000 {
            let count = 1 + rng.below(4);
            let mut parts = Vec::new();
            let mut expected = Vec::new();
            for _ in 0..count {
                let (text, cond) = random_run_condition(&mut rng);
                parts.push(text);
                expected.push(cond);
            }
            let joiner = format!(" {} ", rng.pick(&["AND", "and", "And"]));
            let filter = parts.join(&joiner);
            assert_eq!(parse_run_filter(&filter), Ok(expected), "filter {filter:?}");
        }
    }
}
