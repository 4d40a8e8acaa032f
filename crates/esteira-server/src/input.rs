//! Request input: a GET's query string or a JSON body, read into one JSON object and then
//! into a typed request whose errors name the offending field.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};
use esteira_core::ErrorCode;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::AppState;
use crate::error::ApiError;

/// The request's parameters as a JSON object: query-string pairs for GET (a repeated key
/// becomes an array), the JSON body otherwise (an empty body is `{}`).
#[derive(Debug)]
pub struct Input(pub Value);

impl Input {
    /// Deserializes into `T`.
    ///
    /// # Errors
    /// `INVALID_PARAMETER_VALUE` naming the field and why its value is wrong.
    pub fn parse<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        serde_path_to_error::deserialize(self.0).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                ApiError::invalid(format!("Invalid request: {inner}"))
            } else {
                ApiError::invalid(format!("Invalid value for parameter '{path}': {inner}"))
            }
        })
    }
}

/// Parses a query string into a JSON object of strings (arrays for repeated keys).
pub fn query_object(query: &str) -> Value {
    let mut map = Map::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let v = Value::String(v.into_owned());
        match map.get_mut(k.as_ref()) {
            Some(Value::Array(items)) => items.push(v),
            Some(first) => {
                let prev = first.take();
                *first = Value::Array(vec![prev, v]);
            }
            None => {
                map.insert(k.into_owned(), v);
            }
        }
    }
    Value::Object(map)
}

impl FromRequest<AppState> for Input {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, state: &AppState) -> Result<Self, Self::Rejection> {
        if req.method() == Method::GET {
            let query = req.uri().query().unwrap_or_default();
            return Ok(Input(query_object(query)));
        }
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_ascii_lowercase();
        let bytes = read_body(req.into_body(), state.max_body_bytes).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Input(Value::Object(Map::new())));
        }
        if !content_type.starts_with("application/json") && !content_type.starts_with("text/plain")
        {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!("Unsupported content type '{content_type}': send application/json"),
            ));
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("Malformed JSON request body: {e}"),
            )
        })?;
        if !value.is_object() {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "Malformed JSON request body: expected a JSON object",
            ));
        }
        Ok(Input(value))
    }
}

/// Reads a whole body, refusing one over `limit` bytes with `PAYLOAD_TOO_LARGE`.
pub async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.to_string().contains("length limit"))
            || e.to_string().contains("length limit");
        if too_large {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("Request body exceeds the limit of {limit} bytes"),
            )
        } else {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("Could not read the request body: {e}"),
            )
        }
    })
}

/// Serde helpers for request fields sent by GET (always strings) or POST (typed JSON).
pub mod de {
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    /// A list of strings given as an array or as a single string.
    pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(Vec::new()),
            Value::String(s) => Ok(vec![s]),
            Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(serde::de::Error::custom(format!(
                        "expected a string, got {other}"
                    ))),
                })
                .collect(),
            Value::Number(n) => Ok(vec![n.to_string()]),
            other => Err(serde::de::Error::custom(format!(
                "expected a string or a list of strings, got {other}"
            ))),
        }
    }

    /// A boolean given as JSON or as "true"/"false".
    pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::Bool(b) => Ok(Some(b)),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            other => Err(serde::de::Error::custom(format!(
                "expected true or false, got {other}"
            ))),
        }
    }

    /// A string given as a JSON string or number (ids such as `experiment_id`, `version`).
    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            Value::Number(n) => Ok(Some(n.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected a string, got {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_query_keys_become_arrays() {
        let v = query_object("run_ids=a&run_ids=b&metric_key=loss&x=%2Fy");
        assert_eq!(v["run_ids"], serde_json::json!(["a", "b"]));
        assert_eq!(v["metric_key"], "loss");
        assert_eq!(v["x"], "/y");
    }

    #[test]
    fn parse_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct R {
            #[serde(deserialize_with = "esteira_core::json::de_i64")]
            max_results: i64,
        }
        let err = Input(serde_json::json!({"max_results": "lots"}))
            .parse::<R>()
            .unwrap_err();
        assert!(err.message.contains("'max_results'"), "{}", err.message);
    }
}
