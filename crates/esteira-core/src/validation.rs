//! MLflow's validation rules and limits, with its error wording, so that a client sees the
//! same `INVALID_PARAMETER_VALUE` messages from Esteira as from MLflow.

use crate::entities::{Metric, Param, Tag};
use crate::{Error, Result};

/// Most metrics in one `log-batch`.
pub const MAX_METRICS_PER_BATCH: usize = 1000;
/// Most params, and most tags, in one `log-batch`.
pub const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;
/// Most entities of all kinds in one `log-batch`.
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;
/// Longest metric, param or tag key.
pub const MAX_ENTITY_KEY_LENGTH: usize = 250;
/// Longest param value.
pub const MAX_PARAM_VAL_LENGTH: usize = 6000;
/// Longest run tag value.
pub const MAX_TAG_VAL_LENGTH: usize = 8000;
/// Longest experiment name.
pub const MAX_EXPERIMENT_NAME_LENGTH: usize = 500;
/// Longest experiment tag value.
pub const MAX_EXPERIMENT_TAG_VAL_LENGTH: usize = 20000;
/// Longest registry tag key.
pub const MAX_REGISTRY_TAG_KEY_LENGTH: usize = 250;
/// Longest registry tag value.
pub const MAX_REGISTRY_TAG_VAL_LENGTH: usize = 100_000;
/// Longest registered model alias.
pub const MAX_ALIAS_LENGTH: usize = 255;
/// Most results one search page returns.
pub const MAX_RESULTS_PER_PAGE: i64 = 50_000;

fn invalid_value(path: &str, value: &str, reason: &str) -> Error {
    let quoted = serde_json::to_string(value).unwrap_or_else(|_| format!("{value:?}"));
    Error::invalid(format!(
        "Invalid value {quoted} for parameter '{path}' supplied: {reason}"
    ))
}

/// A required string field: present and not empty.
///
/// # Errors
/// `INVALID_PARAMETER_VALUE`: "Missing value for required parameter 'PATH'."
pub fn required<'a>(path: &str, value: Option<&'a str>) -> Result<&'a str> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(Error::invalid(format!(
            "Missing value for required parameter '{path}'."
        ))),
    }
}

/// A value no longer than `limit` characters.
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` naming the field and the limit.
pub fn max_length(path: &str, value: &str, limit: usize) -> Result<()> {
    let len = value.chars().count();
    if len > limit {
        return Err(Error::invalid(format!(
            "'{path}' exceeds the maximum length of {limit} characters (got {len})"
        )));
    }
    Ok(())
}

/// A metric, param or tag key: alphanumerics, `_`, `-`, `.`, ` `, `:`, `/`; at most 250
/// characters; and it must not resolve to another name when treated as a path.
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` naming `path` and the reason.
pub fn key(path: &str, name: &str) -> Result<()> {
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | ':' | '/');
    if !name.chars().all(allowed) {
        return Err(invalid_value(
            path,
            name,
            "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).",
        ));
    }
    if !is_normal_path(name) {
        return Err(invalid_value(
            path,
            name,
            "Names may be treated as files in certain cases, and must not resolve to other names when treated as such.",
        ));
    }
    max_length(path, name, MAX_ENTITY_KEY_LENGTH)
}

/// True when `name` equals its POSIX-normalised form and stays below its root.
fn is_normal_path(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.ends_with('/')
        && name
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

/// A run id: an alphanumeric first character, then word characters and dashes, at most 256.
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` naming `path`.
pub fn run_id(path: &str, id: &str) -> Result<()> {
    let mut chars = id.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && id.len() <= 256;
    if ok {
        Ok(())
    } else {
        Err(invalid_value(path, id, "not a valid run id"))
    }
}

/// An experiment name: not empty, at most 500 characters.
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` naming `name`.
pub fn experiment_name(name: Option<&str>) -> Result<&str> {
    let name = required("name", name)?;
    if name.trim().is_empty() {
        return Err(invalid_value(
            "name",
            name,
            "the experiment name must not be blank",
        ));
    }
    max_length("name", name, MAX_EXPERIMENT_NAME_LENGTH)?;
    Ok(name)
}

/// A param: a valid key and a value of at most 6000 characters.
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` naming the field.
pub fn param(p: &Param) -> Result<()> {
    key("key", &p.key)?;
    max_length(
        &format!("params[{}].value", p.key),
        &p.value,
        MAX_PARAM_VAL_LENGTH,
    )
}

/// A run tag: a valid key and a value of at most 8000 characters.
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` naming the field.
pub fn run_tag(t: &Tag) -> Result<()> {
    key("key", &t.key)?;
    max_length(
        &format!("tags[{}].value", t.key),
        &t.value,
        MAX_TAG_VAL_LENGTH,
    )
}

/// An experiment tag: a valid key and a value of at most 20000 characters.
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` naming the field.
pub fn experiment_tag(t: &Tag) -> Result<()> {
    key("key", &t.key)?;
    max_length("value", &t.value, MAX_EXPERIMENT_TAG_VAL_LENGTH)
}

/// A registry tag (registered model or model version).
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` naming the field.
pub fn registry_tag(t: &Tag) -> Result<()> {
    required("key", Some(&t.key))?;
    key("key", &t.key)?;
    max_length("key", &t.key, MAX_REGISTRY_TAG_KEY_LENGTH)?;
    max_length("value", &t.value, MAX_REGISTRY_TAG_VAL_LENGTH)
}

/// A metric: a valid key.
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` naming the field.
pub fn metric(m: &Metric) -> Result<()> {
    key("key", &m.key)
}

/// The sizes of a `log-batch` request: at most 1000 metrics, 100 params, 100 tags and
/// 1000 entities in all; and no param key twice.
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` naming the limit that was exceeded.
pub fn batch(metrics: &[Metric], params: &[Param], tags: &[Tag]) -> Result<()> {
    let too_many = |what: &str, n: usize, limit: usize| {
        Error::invalid(format!(
            "A batch logging request can contain at most {limit} {what}. Got {n} {what}. Please split up {what} across multiple requests and try again."
        ))
    };
    if metrics.len() > MAX_METRICS_PER_BATCH {
        return Err(too_many("metrics", metrics.len(), MAX_METRICS_PER_BATCH));
    }
    if params.len() > MAX_PARAMS_TAGS_PER_BATCH {
        return Err(too_many("params", params.len(), MAX_PARAMS_TAGS_PER_BATCH));
    }
    if tags.len() > MAX_PARAMS_TAGS_PER_BATCH {
        return Err(too_many("tags", tags.len(), MAX_PARAMS_TAGS_PER_BATCH));
    }
    let total = metrics.len() + params.len() + tags.len();
    if total > MAX_ENTITIES_PER_BATCH {
        return Err(too_many(
            "metrics, params, and tags",
            total,
            MAX_ENTITIES_PER_BATCH,
        ));
    }
    let mut seen = std::collections::HashMap::new();
    for p in params {
        if let Some(prev) = seen.insert(p.key.as_str(), p.value.as_str())
            && prev != p.value
        {
            return Err(Error::invalid(format!(
                "Duplicate parameter keys have been submitted: ['{}']. Please ensure the request contains only one param value per param key.",
                p.key
            )));
        }
    }
    metrics.iter().try_for_each(metric)?;
    params.iter().try_for_each(param)?;
    tags.iter().try_for_each(run_tag)
}

/// A registered model alias: word characters and dashes, at most 255 characters, not
/// `latest` (any case) and not version-like (`v3`).
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` naming `alias` and the reason.
pub fn alias(alias: &str) -> Result<()> {
    if alias.is_empty() {
        return Err(Error::invalid(
            "Registered model alias name cannot be empty.",
        ));
    }
    if !alias
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Err(Error::invalid(format!(
            "Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores (_), and dashes (-)."
        )));
    }
    max_length("alias", alias, MAX_ALIAS_LENGTH)?;
    if alias.eq_ignore_ascii_case("latest") {
        return Err(Error::invalid(
            "'latest' alias name (case insensitive) is reserved.",
        ));
    }
    let version_like = alias.len() > 1
        && (alias.starts_with('v') || alias.starts_with('V'))
        && alias[1..].chars().all(|c| c.is_ascii_digit());
    if version_like {
        return Err(Error::invalid(format!(
            "Version alias name '{alias}' is reserved."
        )));
    }
    Ok(())
}

/// A model version number: a positive integer.
///
/// # Errors
/// `INVALID_PARAMETER_VALUE`: "Parameter 'version' must be an integer, got 'X'."
pub fn version_number(version: &str) -> Result<i64> {
    version
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| {
            Error::invalid(format!(
                "Parameter 'version' must be an integer, got '{version}'."
            ))
        })
}

/// `max_results` of a search: between 1 and 50000.
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` naming `max_results`.
pub fn max_results(value: i64, limit: i64) -> Result<i64> {
    if value <= 0 || value > limit {
        return Err(Error::invalid(format!(
            "Invalid value {value} for parameter 'max_results' supplied. It must be a positive integer at most {limit}"
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn keys() {
        for ok in ["rmse", "a/b", "val loss", "x:y", "ünïcode_1", "a.b-c"] {
            assert!(key("key", ok).is_ok(), "{ok}");
        }
        for bad in ["", "a//b", "/a", "a/", "../a", "a/./b", "a$b", "a\\b"] {
            let err = key("key", bad).unwrap_err();
            assert!(err.message.contains("'key'"), "{bad}: {err}");
        }
        assert!(
            key("key", &"k".repeat(251))
                .unwrap_err()
                .message
                .contains("250")
        );
    }

    #[test]
    fn batch_limits() {
        let params: Vec<_> = (0..101).map(|i| tag(&format!("p{i}"), "v")).collect();
        assert!(
            batch(&[], &params, &[])
                .unwrap_err()
                .message
                .contains("at most 100 params")
        );
        let dup = [tag("a", "1"), tag("a", "2")];
        assert!(
            batch(&[], &dup, &[])
                .unwrap_err()
                .message
                .contains("Duplicate")
        );
        let same = [tag("a", "1"), tag("a", "1")];
        assert!(batch(&[], &same, &[]).is_ok());
        let long = [tag("a", &"x".repeat(6001))];
        assert!(batch(&[], &long, &[]).unwrap_err().message.contains("6000"));
    }

    #[test]
    fn aliases_and_versions() {
        assert!(alias("champion").is_ok());
        assert!(alias("Latest").unwrap_err().message.contains("reserved"));
        assert!(alias("v3").unwrap_err().message.contains("reserved"));
        assert!(alias("a b").unwrap_err().message.contains("Invalid alias"));
        assert_eq!(version_number("3").unwrap(), 3);
        assert!(version_number("x").is_err());
        assert!(version_number("0").is_err());
        assert!(max_results(0, 100).is_err());
        assert!(run_id("run_id", "abc123").is_ok());
        assert!(run_id("run_id", "../x").is_err());
    }
}
