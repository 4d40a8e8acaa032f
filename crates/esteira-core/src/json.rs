//! Serde helpers for MLflow's JSON: int64 values that arrive as numbers or strings, and
//! doubles that may be `"NaN"`, `"Infinity"` or `"-Infinity"`.

use serde::{Deserialize, Deserializer, Serializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Int(i64),
    Float(f64),
    Text(String),
}

fn to_i64<E: serde::de::Error>(v: NumberOrString) -> Result<i64, E> {
    match v {
        NumberOrString::Int(i) => Ok(i),
        NumberOrString::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(f as i64),
        NumberOrString::Float(f) => Err(E::custom(format!("expected an integer, got {f}"))),
        NumberOrString::Text(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| E::custom(format!("expected an integer, got {s:?}"))),
    }
}

fn to_f64<E: serde::de::Error>(v: NumberOrString) -> Result<f64, E> {
    match v {
        NumberOrString::Int(i) => Ok(i as f64),
        NumberOrString::Float(f) => Ok(f),
        NumberOrString::Text(s) => match s.trim() {
            "NaN" | "nan" => Ok(f64::NAN),
            "Infinity" | "inf" => Ok(f64::INFINITY),
            "-Infinity" | "-inf" => Ok(f64::NEG_INFINITY),
            other => other
                .parse::<f64>()
                .map_err(|_| E::custom(format!("expected a number, got {s:?}"))),
        },
    }
}

/// Deserializes an int64 sent as a JSON number or string.
pub fn de_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    to_i64(NumberOrString::deserialize(d)?)
}

/// Deserializes an optional int64 sent as a JSON number, string or null.
pub fn de_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<NumberOrString>::deserialize(d)?
        .map(to_i64)
        .transpose()
}

/// Deserializes a double sent as a JSON number or one of MLflow's special strings.
pub fn de_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    to_f64(NumberOrString::deserialize(d)?)
}

/// Deserializes an optional double (see [`de_f64`]).
pub fn de_opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Option::<NumberOrString>::deserialize(d)?
        .map(to_f64)
        .transpose()
}

/// Serializes a double as a JSON number, or as `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub fn ser_f64<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_nan() {
        s.serialize_str("NaN")
    } else if *v == f64::INFINITY {
        s.serialize_str("Infinity")
    } else if *v == f64::NEG_INFINITY {
        s.serialize_str("-Infinity")
    } else {
        s.serialize_f64(*v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Deserialize, Serialize)]
    struct M {
        #[serde(deserialize_with = "de_i64")]
        step: i64,
        #[serde(deserialize_with = "de_f64", serialize_with = "ser_f64")]
        value: f64,
    }

    #[test]
    fn accepts_numbers_and_strings() {
        let m: M = serde_json::from_str(r#"{"step": "12", "value": "NaN"}"#).unwrap();
        assert_eq!(m.step, 12);
        assert!(m.value.is_nan());
        let m: M = serde_json::from_str(r#"{"step": 3, "value": -1.5}"#).unwrap();
        assert_eq!((m.step, m.value), (3, -1.5));
        let m: M = serde_json::from_str(r#"{"step": 3, "value": "-Infinity"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"step":3,"value":"-Infinity"}"#
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(serde_json::from_str::<M>(r#"{"step": "x", "value": 1}"#).is_err());
        assert!(serde_json::from_str::<M>(r#"{"step": 1.5, "value": 1}"#).is_err());
        assert!(serde_json::from_str::<M>(r#"{"step": 1, "value": "abc"}"#).is_err());
    }
}
