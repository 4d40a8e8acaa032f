//! STL / MSTL against statsmodels, fitted forecasters, the automatic ensemble and fit_many.

use esteira_ml::forecast::{
    Component, EnsembleRule, FittedSeries, ForecastError, Method, NonSeasonal, StlParams,
    Weighting, fit, fit_auto, fit_many, fit_mstl, m4, mstl, stl,
};
use serde_json::Value;

/// Components agree with statsmodels within this absolute tolerance, relative to the series'
/// scale (values around 50, so about 1e-9 absolute).
const DECOMPOSITION_TOL: f64 = 1e-9;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/mstl/decompositions.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture json")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn assert_close(name: &str, what: &str, got: &[f64], want: &[f64], scale: f64) {
    assert_eq!(got.len(), want.len(), "{name} {what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= DECOMPOSITION_TOL * scale,
            "{name} {what}[{i}]: got {g}, statsmodels {w}"
        );
    }
}

#[test]
fn stl_matches_statsmodels() {
    let fx = fixture();
    let mut checked = 0;
    for case in fx["cases"].as_array().unwrap() {
        if case["kind"] != "stl" {
            continue;
        }
        let name = case["name"].as_str().unwrap();
        let x = floats(&case["x"]);
        let scale = x.iter().fold(1.0_f64, |a, v| a.max(v.abs()));
        let params = StlParams {
            seasonal: case["seasonal_span"].as_u64().unwrap() as usize,
            robust: case["robust"].as_bool().unwrap(),
            ..StlParams::new(case["periods"][0].as_u64().unwrap() as usize)
        };
        let got = stl(&x, &params).unwrap();
        assert_close(name, "trend", &got.trend, &floats(&case["trend"]), scale);
        assert_close(
            name,
            "seasonal",
            &got.seasonal,
            &floats(&case["seasonal"][0]),
            scale,
        );
        assert_close(
            name,
            "remainder",
            &got.remainder,
            &floats(&case["remainder"]),
            scale,
        );
        assert_close(
            name,
            "weights",
            &got.weights,
            &floats(&case["weights"]),
            1.0,
        );
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn mstl_matches_statsmodels() {
    let fx = fixture();
    let mut checked = 0;
    for case in fx["cases"].as_array().unwrap() {
        if case["kind"] != "mstl" {
            continue;
        }
        let name = case["name"].as_str().unwrap();
        let x = floats(&case["x"]);
        let scale = x.iter().fold(1.0_f64, |a, v| a.max(v.abs()));
        let periods: Vec<usize> = floats(&case["periods"])
            .iter()
            .map(|p| *p as usize)
            .collect();
        let kept: Vec<usize> = floats(&case["kept"]).iter().map(|p| *p as usize).collect();
        let got = mstl(&x, &periods, case["robust"].as_bool().unwrap()).unwrap();
        assert_eq!(got.periods, kept, "{name}");
        assert_close(name, "trend", &got.trend, &floats(&case["trend"]), scale);
        let want_seasonal = case["seasonal"].as_array().unwrap();
        assert_eq!(got.seasonal.len(), want_seasonal.len(), "{name}");
        for (i, (g, w)) in got.seasonal.iter().zip(want_seasonal).enumerate() {
            assert_close(name, &format!("seasonal[{i}]"), g, &floats(w), scale);
        }
        assert_close(
            name,
            "remainder",
            &got.remainder,
            &floats(&case["remainder"]),
            scale,
        );
        assert_close(
            name,
            "weights",
            &got.weights,
            &floats(&case["weights"]),
            1.0,
        );
        checked += 1;
    }
    assert_eq!(checked, 4);
}
