//! Tabular learners against scikit-learn: reference values in `tests/fixtures/tabular/*.json`,
//! produced by `tests/fixtures/tabular/generate.py` (scikit-learn 1.9). Plus every bad-input error,
//! column matching by name, and the JSON model format.

use anyhow::{Context, Result, anyhow, bail, ensure};
use esteira_ml::tabular::{
    self, Algorithm, ColumnKind, FeatureColumn, Features, TabularError, TabularModel, Target, Task,
};
use serde_json::{Value, json};

fn fixture(name: &str) -> Result<Value> {
    let path = format!(
        "{}/tests/fixtures/tabular/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    Ok(serde_json::from_str(&text)?)
}

fn f64s(v: &Value) -> Result<Vec<f64>> {
    v.as_array()
        .ok_or_else(|| anyhow!("not an array: {v}"))?
        .iter()
        .map(|x| match x {
            Value::Null => Ok(f64::NAN),
            _ => x.as_f64().ok_or_else(|| anyhow!("not a number: {x}")),
        })
        .collect()
}

fn strings(v: &Value) -> Result<Vec<String>> {
    v.as_array()
        .ok_or_else(|| anyhow!("not an array: {v}"))?
        .iter()
        .map(|x| {
            x.as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow!("not a string: {x}"))
        })
        .collect()
}

fn matrix(v: &Value) -> Result<Vec<Vec<f64>>> {
    v.as_array()
        .ok_or_else(|| anyhow!("not an array: {v}"))?
        .iter()
        .map(f64s)
        .collect()
}

/// A fixture table: `[{"name", "kind", "values"}]` (null = missing).
fn table(v: &Value) -> Result<Features> {
    let mut names = Vec::new();
    let mut columns = Vec::new();
    for c in v
        .as_array()
        .ok_or_else(|| anyhow!("table is not an array"))?
    {
        names.push(c["name"].as_str().context("name")?.to_string());
        let values = c["values"].as_array().context("values")?;
        columns.push(match c["kind"].as_str() {
            Some("numeric") => FeatureColumn::Numeric(f64s(&c["values"])?),
            Some("categorical") => FeatureColumn::Categorical(
                values
                    .iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect(),
            ),
            other => bail!("unknown kind {other:?}"),
        });
    }
    Ok(Features::new(names, columns)?)
}

/// `|got - want| <= rtol * max(|got|, |want|, floor)`.
fn close(got: f64, want: f64, rtol: f64, floor: f64, what: &str) -> Result<()> {
    let tol = rtol * got.abs().max(want.abs()).max(floor);
    ensure!(
        (got - want).abs() <= tol,
        "{what}: got {got:?}, want {want:?} (tol {tol:e})"
    );
    Ok(())
}

fn all_close(got: &[f64], want: &[f64], rtol: f64, floor: f64, what: &str) -> Result<()> {
    ensure!(
        got.len() == want.len(),
        "{what}: length {} vs {}",
        got.len(),
        want.len()
    );
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        close(*g, *w, rtol, floor, &format!("{what}[{i}]"))?;
    }
    Ok(())
}

fn r2(y: &[f64], p: &[f64]) -> f64 {
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let ss_res: f64 = y.iter().zip(p).map(|(a, b)| (a - b).powi(2)).sum();
    let ss_tot: f64 = y.iter().map(|a| (a - mean).powi(2)).sum();
    1.0 - ss_res / ss_tot
}

fn accuracy(y: &[String], p: &[String]) -> f64 {
    y.iter().zip(p).filter(|(a, b)| a == b).count() as f64 / y.len() as f64
}

fn num(f: &[f64]) -> FeatureColumn {
    FeatureColumn::Numeric(f.to_vec())
}

fn cat(v: &[Option<&str>]) -> FeatureColumn {
    FeatureColumn::Categorical(v.iter().map(|s| s.map(str::to_string)).collect())
}

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

/// A small valid table: numeric `x` and categorical `c`, 6 rows.
fn small() -> Result<Features> {
    Ok(Features::new(
        names(&["x", "c"]),
        vec![
            num(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            cat(&[Some("a"), Some("b"), Some("a"), None, Some("b"), Some("a")]),
        ],
    )?)
}

const SMALL_Y: [f64; 6] = [1.0, 2.5, 2.9, 4.2, 5.1, 5.8];

fn small_labels() -> Vec<String> {
    names(&["p", "q", "p", "q", "q", "p"])
}

// --------------------------------------------------------------------------------------
// Linear and ridge: coefficients and predictions to 1e-6 relative
// --------------------------------------------------------------------------------------

#[test]
fn linear_and_ridge_match_sklearn() -> Result<()> {
    let fx = fixture("linear.json")?;
    let y = f64s(&fx["y"])?;
    for (case, algorithm, params, train, test) in [
        ("ols", Algorithm::Linear, json!({}), "train", "test"),
        ("ridge_1", Algorithm::Ridge, json!({}), "train", "test"),
        (
            "ridge_10",
            Algorithm::Ridge,
            json!({"alpha": 10.0}),
            "train",
            "test",
        ),
        (
            "ols_collinear",
            Algorithm::Linear,
            json!(null),
            "train_collinear",
            "test_collinear",
        ),
        (
            "ridge_collinear",
            Algorithm::Ridge,
            json!({"alpha": 1.0}),
            "train_collinear",
            "test_collinear",
        ),
    ] {
        let want = &fx["cases"][case];
        let model = tabular::fit(
            Task::Regression,
            algorithm,
            &params,
            &table(&fx[train])?,
            Target::Values(&y),
        )?;
        let (coef, intercept) = model.linear_coefficients().context("coefficients")?;
        all_close(
            coef,
            &f64s(&want["coef"])?,
            1e-6,
            1e-3,
            &format!("{case} coef"),
        )?;
        close(
            intercept,
            want["intercept"].as_f64().context("intercept")?,
            1e-6,
            1e-3,
            &format!("{case} intercept"),
        )?;
        let pred = model.predict(&table(&fx[test])?)?;
        all_close(
            &pred,
            &f64s(&want["test_pred"])?,
            1e-6,
            1e-3,
            &format!("{case} predictions"),
        )?;
    }
    Ok(())
}

#[test]
fn design_columns_follow_input_order_with_sorted_categories_missing_last() -> Result<()> {
    let fx = fixture("linear.json")?;
    let y = f64s(&fx["y"])?;
    let model = tabular::fit(
        Task::Regression,
        Algorithm::Linear,
        &json!({}),
        &table(&fx["train"])?,
        Target::Values(&y),
    )?;
    assert_eq!(
        model.design_names(),
        names(&[
            "x0",
            "color=blue",
            "color=green",
            "color=red",
            "color=<missing>",
            "x1",
            "x2",
            "size=L",
            "size=M",
            "size=S",
            "size=XL",
            "x3"
        ])
    );
    assert_eq!(
        model.feature_names(),
        vec!["x0", "color", "x1", "x2", "size", "x3"]
    );
    Ok(())
}

#[test]
fn unseen_category_is_an_error_or_all_zero_indicators_with_ignore() -> Result<()> {
    let fx = fixture("linear.json")?;
    let y = f64s(&fx["y"])?;
    let train = table(&fx["train"])?;
    let mut test = table(&fx["test"])?;
    let mut cols = test.columns().to_vec();
    if let FeatureColumn::Categorical(v) = &mut cols[1] {
        v[3] = Some("purple".to_string());
    }
    test = Features::new(test.names().to_vec(), cols)?;
    let strict = tabular::fit(
        Task::Regression,
        Algorithm::Linear,
        &json!({}),
        &train,
        Target::Values(&y),
    )?;
    assert_eq!(
        strict.predict(&test),
        Err(TabularError::UnseenCategory {
            column: "color".into(),
            value: Some("purple".into()),
            row: 3
        })
    );
    // With "ignore", the row's color indicators are all 0 (OneHotEncoder(handle_unknown="ignore")):
    // the prediction is scikit-learn's intercept + coefficients over the other design columns.
    let lenient = tabular::fit(
        Task::Regression,
        Algorithm::Linear,
        &json!({"handle_unknown": "ignore"}),
        &train,
        Target::Values(&y),
    )?;
    let pred = lenient.predict(&test)?;
    let want = &fx["cases"]["ols"];
    let coef = f64s(&want["coef"])?;
    let sklearn_pred = f64s(&want["test_pred"])?;
    // Design columns 1..=4 are color=blue, green, red, <missing>.
    let original = fx["test"][1]["values"][3].as_str().map(str::to_string);
    let k = match original.as_deref() {
        Some("blue") => 1,
        Some("green") => 2,
        Some("red") => 3,
        _ => 4,
    };
    let expected = sklearn_pred[3] - coef[k];
    close(pred[3], expected, 1e-6, 1e-3, "ignored-category prediction")?;
    all_close(&pred[..3], &sklearn_pred[..3], 1e-6, 1e-3, "other rows")?;
    Ok(())
}

// --------------------------------------------------------------------------------------
// Logistic: probabilities to 1e-4
// --------------------------------------------------------------------------------------

#[test]
fn logistic_matches_sklearn() -> Result<()> {
    let fx = fixture("logistic.json")?;
    let train = table(&fx["train"])?;
    let test = table(&fx["test"])?;
    for (case, labels) in [
        ("binary_C1", "binary"),
        ("binary_C0.1", "binary"),
        ("multi_C1", "multi"),
        ("multi_C0.1", "multi"),
    ] {
        let want = &fx["cases"][case];
        let y = strings(&fx[labels])?;
        let model = tabular::fit(
            Task::Classification,
            Algorithm::Logistic,
            &json!({"C": want["C"]}),
            &train,
            Target::Labels(&y),
        )?;
        let proba = model.predict_proba(&test)?;
        assert_eq!(proba.classes, strings(&want["classes"])?, "{case} classes");
        let expected = matrix(&want["test_proba"])?;
        for (i, (got, exp)) in proba.rows.iter().zip(&expected).enumerate() {
            for (g, e) in got.iter().zip(exp) {
                ensure!((g - e).abs() <= 1e-4, "{case} row {i}: {got:?} vs {exp:?}");
            }
            ensure!((got.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        assert_eq!(
            model.predict_labels(&test)?,
            strings(&want["test_labels"])?,
            "{case} labels"
        );
        let (coef, intercept) = model.logistic_coefficients().context("coef")?;
        for (g, w) in coef.iter().zip(matrix(&want["coef"])?) {
            all_close(g, &w, 1e-4, 1.0, &format!("{case} coef"))?;
        }
        all_close(
            intercept,
            &f64s(&want["intercept"])?,
            1e-4,
            1.0,
            &format!("{case} intercept"),
        )?;
    }
    Ok(())
}

// --------------------------------------------------------------------------------------
// GBDT and random forest: held-out quality within a tolerance of scikit-learn's
// --------------------------------------------------------------------------------------

struct Ensemble {
    train: Features,
    test: Features,
    n_train: usize,
    fx: Value,
}

fn ensemble() -> Result<Ensemble> {
    let fx = fixture("ensemble.json")?;
    Ok(Ensemble {
        train: table(&fx["train"])?,
        test: table(&fx["test"])?,
        n_train: fx["n_train"].as_u64().context("n_train")? as usize,
        fx,
    })
}

impl Ensemble {
    fn values(&self) -> Result<(Vec<f64>, Vec<f64>)> {
        let y = f64s(&self.fx["y_reg"])?;
        Ok((y[..self.n_train].to_vec(), y[self.n_train..].to_vec()))
    }

    fn labels(&self, key: &str) -> Result<(Vec<String>, Vec<String>)> {
        let y = strings(&self.fx[key])?;
        Ok((y[..self.n_train].to_vec(), y[self.n_train..].to_vec()))
    }

    fn expected(&self, case: &str, metric: &str) -> Result<f64> {
        self.fx["expected"][case][metric]
            .as_f64()
            .with_context(|| format!("{case}.{metric}"))
    }
}

fn log_loss(classes: &[String], y: &[String], rows: &[Vec<f64>]) -> f64 {
    let mut s = 0.0;
    for (label, row) in y.iter().zip(rows) {
        let k = classes.iter().position(|c| c == label).unwrap_or(0);
        s -= row[k].clamp(1e-15, 1.0).ln();
    }
    s / y.len() as f64
}

/// Quality tolerances against scikit-learn on the 500-row held-out split.
const R2_TOL: f64 = 0.02;
const ACC_TOL: f64 = 0.02;
const LOG_LOSS_TOL: f64 = 0.03;

#[test]
fn gbdt_regression_matches_sklearn_quality_and_predictions() -> Result<()> {
    let e = ensemble()?;
    let (y, y_test) = e.values()?;
    let model = tabular::fit(
        Task::Regression,
        Algorithm::Gbdt,
        &json!({}),
        &e.train,
        Target::Values(&y),
    )?;
    let pred = model.predict(&e.test)?;
    let ours = r2(&y_test, &pred);
    let theirs = e.expected("gbdt_regression", "r2")?;
    ensure!(
        (ours - theirs).abs() <= R2_TOL,
        "R² {ours} vs sklearn {theirs}"
    );
    // Same binning, f32 gradients and growth rules: the trees are scikit-learn's, so the
    // predictions agree to float rounding.
    let sk = f64s(&e.fx["expected"]["gbdt_regression"]["test_pred"])?;
    let max_diff = pred
        .iter()
        .zip(&sk)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    ensure!(
        max_diff <= GBDT_PRED_TOL,
        "max |pred - sklearn| = {max_diff:e}"
    );
    Ok(())
}

/// Largest allowed difference between our GBDT outputs and scikit-learn's on the fixtures.
const GBDT_PRED_TOL: f64 = 1e-9;

#[test]
fn gbdt_classification_matches_sklearn_quality() -> Result<()> {
    let e = ensemble()?;
    for (key, case) in [("y_bin", "gbdt_binary"), ("y_multi", "gbdt_multi")] {
        let (y, y_test) = e.labels(key)?;
        let model = tabular::fit(
            Task::Classification,
            Algorithm::Gbdt,
            &json!({}),
            &e.train,
            Target::Labels(&y),
        )?;
        let proba = model.predict_proba(&e.test)?;
        for row in &proba.rows {
            ensure!(
                (row.iter().sum::<f64>() - 1.0).abs() < 1e-12,
                "{case}: row sums to {}",
                row.iter().sum::<f64>()
            );
        }
        let acc = accuracy(&y_test, &model.predict_labels(&e.test)?);
        let want = e.expected(case, "accuracy")?;
        ensure!(
            (acc - want).abs() <= ACC_TOL,
            "{case}: accuracy {acc} vs sklearn {want}"
        );
        let ll = log_loss(&proba.classes, &y_test, &proba.rows);
        let want_ll = e.expected(case, "log_loss")?;
        ensure!(
            (ll - want_ll).abs() <= LOG_LOSS_TOL,
            "{case}: log loss {ll} vs sklearn {want_ll}"
        );
        let sk = matrix(&e.fx["expected"][case]["test_proba"])?;
        let max_diff = proba
            .rows
            .iter()
            .zip(&sk)
            .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
            .fold(0.0, f64::max);
        ensure!(
            max_diff <= GBDT_PRED_TOL,
            "{case}: max |p - p_sklearn| = {max_diff:e}"
        );
    }
    Ok(())
}

#[test]
fn gbdt_with_non_default_params_matches_sklearn_predictions() -> Result<()> {
    let e = ensemble()?;
    let (y, _) = e.values()?;
    let want = &e.fx["expected"]["gbdt_regression_params"];
    let params = want["params"].clone();
    assert!(params["max_leaf_nodes"].is_null() && params["max_depth"] == json!(3));
    let model = tabular::fit(
        Task::Regression,
        Algorithm::Gbdt,
        &params,
        &e.train,
        Target::Values(&y),
    )?;
    let pred = model.predict(&e.test)?;
    let sk = f64s(&want["test_pred"])?;
    let max_diff = pred
        .iter()
        .zip(&sk)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    ensure!(
        max_diff <= GBDT_PRED_TOL,
        "regression: max |pred - sklearn| = {max_diff:e}"
    );

    let (labels, _) = e.labels("y_bin")?;
    let want = &e.fx["expected"]["gbdt_binary_params"];
    let model = tabular::fit(
        Task::Classification,
        Algorithm::Gbdt,
        &want["params"],
        &e.train,
        Target::Labels(&labels),
    )?;
    let proba = model.predict_proba(&e.test)?;
    assert_eq!(proba.classes, strings(&want["classes"])?);
    let sk = f64s(&want["test_proba_1"])?;
    let max_diff = proba
        .rows
        .iter()
        .zip(&sk)
        .map(|(r, p)| (r[1] - p).abs())
        .fold(0.0, f64::max);
    ensure!(
        max_diff <= GBDT_PRED_TOL,
        "binary: max |p - p_sklearn| = {max_diff:e}"
    );
    Ok(())
}

/// Number of trees in a serialised GBDT model.
fn n_trees(model: &TabularModel) -> Result<usize> {
    let v = serde_json::to_value(model)?;
    Ok(v["fitted"]["trees"].as_array().context("trees")?.len())
}

#[test]
fn gbdt_early_stopping_on_training_loss_matches_sklearn() -> Result<()> {
    let e = ensemble()?;
    let (y, _) = e.values()?;
    let want = &e.fx["expected"]["gbdt_regression_early_stopping"];
    let model = tabular::fit(
        Task::Regression,
        Algorithm::Gbdt,
        &want["params"],
        &e.train,
        Target::Values(&y),
    )?;
    assert_eq!(
        n_trees(&model)? as u64,
        want["n_iter"].as_u64().context("n_iter")?
    );
    let sk = f64s(&want["test_pred_head"])?;
    let pred = model.predict(&e.test)?;
    let max_diff = pred
        .iter()
        .zip(&sk)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    ensure!(
        max_diff <= GBDT_PRED_TOL,
        "regression: max |pred - sklearn| = {max_diff:e}"
    );

    let (labels, _) = e.labels("y_multi")?;
    let want = &e.fx["expected"]["gbdt_multi_early_stopping"];
    let model = tabular::fit(
        Task::Classification,
        Algorithm::Gbdt,
        &want["params"],
        &e.train,
        Target::Labels(&labels),
    )?;
    assert_eq!(
        n_trees(&model)? as u64,
        3 * want["n_iter"].as_u64().context("n_iter")?
    );
    let sk = matrix(&want["test_proba_head"])?;
    let proba = model.predict_proba(&e.test)?;
    let max_diff = proba
        .rows
        .iter()
        .zip(&sk)
        .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
        .fold(0.0, f64::max);
    ensure!(
        max_diff <= GBDT_PRED_TOL,
        "multiclass: max |p - p_sklearn| = {max_diff:e}"
    );
    Ok(())
}

/// With a validation split, the held-out rows differ from scikit-learn's (different random
/// streams), so the check is quality within the tolerances (accuracy: 3 points, since both the
/// training rows and the stopping point move) and that the multiclass fit stops early as
/// scikit-learn's does.
#[test]
fn gbdt_early_stopping_on_validation_split_matches_sklearn_quality() -> Result<()> {
    let e = ensemble()?;
    let (y, y_test) = e.values()?;
    let want = &e.fx["expected"]["gbdt_regression_validation"];
    let mut params = want["params"].clone();
    params["random_state"] = json!(0);
    let model = tabular::fit(
        Task::Regression,
        Algorithm::Gbdt,
        &params,
        &e.train,
        Target::Values(&y),
    )?;
    let ours = r2(&y_test, &model.predict(&e.test)?);
    let theirs = want["r2"].as_f64().context("r2")?;
    ensure!(
        (ours - theirs).abs() <= R2_TOL,
        "R² {ours} vs sklearn {theirs}"
    );

    let (labels, y_test) = e.labels("y_multi")?;
    let want = &e.fx["expected"]["gbdt_multi_validation"];
    let mut params = want["params"].clone();
    params["random_state"] = json!(0);
    let model = tabular::fit(
        Task::Classification,
        Algorithm::Gbdt,
        &params,
        &e.train,
        Target::Labels(&labels),
    )?;
    let trees = n_trees(&model)?;
    ensure!(
        trees < 3 * 100,
        "no early stop: {trees} trees (sklearn stopped after {} iterations)",
        want["n_iter"]
    );
    let acc = accuracy(&y_test, &model.predict_labels(&e.test)?);
    let theirs = want["accuracy"].as_f64().context("accuracy")?;
    ensure!(
        (acc - theirs).abs() <= 0.03,
        "accuracy {acc} vs sklearn {theirs}"
    );
    Ok(())
}

#[test]
fn gbdt_early_stopping_auto_is_off_up_to_10000_rows() -> Result<()> {
    // scikit-learn's "auto" turns early stopping on only above 10 000 rows: on the 1 500-row
    // fixture the default model equals early_stopping=false (and scikit-learn's predictions,
    // checked in gbdt_regression_matches_sklearn_quality_and_predictions).
    let e = ensemble()?;
    let (y, _) = e.values()?;
    let auto = tabular::fit(
        Task::Regression,
        Algorithm::Gbdt,
        &json!({"max_iter": 30}),
        &e.train,
        Target::Values(&y),
    )?;
    let off = tabular::fit(
        Task::Regression,
        Algorithm::Gbdt,
        &json!({"max_iter": 30, "early_stopping": false}),
        &e.train,
        Target::Values(&y),
    )?;
    assert_eq!(auto.predict(&e.test)?, off.predict(&e.test)?);
    assert_eq!(n_trees(&auto)?, 30);
    assert_eq!(auto.params()["early_stopping"], json!("auto"));
    Ok(())
}

/// Our random streams differ from numpy's, so the forests differ from scikit-learn's tree for
/// tree: the check is held-out quality, averaged over three seeds, within the tolerances of
/// scikit-learn's averaged over five seeds.
#[test]
fn random_forest_matches_sklearn_quality() -> Result<()> {
    let e = ensemble()?;
    let seeds = [0u64, 1, 2];
    let (y, y_test) = e.values()?;
    let mut ours = 0.0;
    for seed in seeds {
        let params = json!({ "random_state": seed });
        let model = tabular::fit(
            Task::Regression,
            Algorithm::RandomForest,
            &params,
            &e.train,
            Target::Values(&y),
        )?;
        ours += r2(&y_test, &model.predict(&e.test)?) / seeds.len() as f64;
    }
    let theirs = e.expected("rf_regression", "r2")?;
    eprintln!("rf_regression: mean R² {ours:.4} (sklearn {theirs:.4})");
    ensure!(
        (ours - theirs).abs() <= R2_TOL,
        "RF R² {ours} vs sklearn {theirs}"
    );
    for (key, case) in [("y_bin", "rf_binary"), ("y_multi", "rf_multi")] {
        let (y, y_test) = e.labels(key)?;
        let (mut acc, mut ll) = (0.0, 0.0);
        for seed in seeds {
            let params = json!({ "random_state": seed });
            let model = tabular::fit(
                Task::Classification,
                Algorithm::RandomForest,
                &params,
                &e.train,
                Target::Labels(&y),
            )?;
            let proba = model.predict_proba(&e.test)?;
            for row in &proba.rows {
                ensure!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            }
            acc += accuracy(&y_test, &model.predict_labels(&e.test)?) / seeds.len() as f64;
            ll += log_loss(&proba.classes, &y_test, &proba.rows) / seeds.len() as f64;
        }
        let want = e.expected(case, "accuracy")?;
        let want_ll = e.expected(case, "log_loss")?;
        eprintln!(
            "{case}: mean accuracy {acc:.4} (sklearn {want:.4}), log loss {ll:.4} (sklearn {want_ll:.4})"
        );
        ensure!(
            (acc - want).abs() <= ACC_TOL,
            "{case}: accuracy {acc} vs sklearn {want}"
        );
        ensure!(
            (ll - want_ll).abs() <= LOG_LOSS_TOL,
            "{case}: log loss {ll} vs sklearn {want_ll}"
        );
    }
    Ok(())
}

#[test]
fn random_forest_is_reproducible_with_random_state() -> Result<()> {
    let e = ensemble()?;
    let (y, _) = e.values()?;
    let fit = |seed: u64| {
        tabular::fit(
            Task::Regression,
            Algorithm::RandomForest,
            &json!({"random_state": seed, "n_estimators": 10}),
            &e.train,
            Target::Values(&y),
        )
    };
    let a = fit(1)?.predict(&e.test)?;
    assert_eq!(a, fit(1)?.predict(&e.test)?);
    assert_ne!(a, fit(2)?.predict(&e.test)?);
    Ok(())
}

// --------------------------------------------------------------------------------------
// Model format: serde round trip, version, validation
// --------------------------------------------------------------------------------------

fn every_model() -> Result<(Ensemble, Vec<TabularModel>)> {
    let e = ensemble()?;
    let (y, _) = e.values()?;
    let (labels, _) = e.labels("y_multi")?;
    let (bin, _) = e.labels("y_bin")?;
    // The linear models do not take NaN: drop the column with missing values.
    let keep: Vec<usize> = (0..e.train.n_columns())
        .filter(|&i| e.train.names()[i] != "x1")
        .collect();
    let train_linear = Features::new(
        keep.iter().map(|&i| e.train.names()[i].clone()).collect(),
        keep.iter().map(|&i| e.train.columns()[i].clone()).collect(),
    )?;
    let small = json!({"max_iter": 10});
    let models = vec![
        tabular::fit(
            Task::Regression,
            Algorithm::Linear,
            &json!({}),
            &train_linear,
            Target::Values(&y),
        )?,
        tabular::fit(
            Task::Regression,
            Algorithm::Ridge,
            &json!({"alpha": 3.0}),
            &train_linear,
            Target::Values(&y),
        )?,
        tabular::fit(
            Task::Classification,
            Algorithm::Logistic,
            &json!({}),
            &train_linear,
            Target::Labels(&labels),
        )?,
        tabular::fit(
            Task::Regression,
            Algorithm::Gbdt,
            &small,
            &e.train,
            Target::Values(&y),
        )?,
        tabular::fit(
            Task::Classification,
            Algorithm::Gbdt,
            &small,
            &e.train,
            Target::Labels(&bin),
        )?,
        tabular::fit(
            Task::Classification,
            Algorithm::Gbdt,
            &small,
            &e.train,
            Target::Labels(&labels),
        )?,
        tabular::fit(
            Task::Regression,
            Algorithm::RandomForest,
            &json!({"n_estimators": 5, "random_state": 1}),
            &e.train,
            Target::Values(&y),
        )?,
        tabular::fit(
            Task::Classification,
            Algorithm::RandomForest,
            &json!({"n_estimators": 5, "random_state": 1}),
            &e.train,
            Target::Labels(&labels),
        )?,
    ];
    Ok((e, models))
}

#[test]
fn serde_round_trip_gives_identical_predictions() -> Result<()> {
    let (e, models) = every_model()?;
    // The test table has x1 with NaNs; the linear models were fitted without x1 and ignore it.
    let test_no_nan = {
        let keep: Vec<usize> = (0..e.test.n_columns())
            .filter(|&i| e.test.names()[i] != "x1")
            .collect();
        Features::new(
            keep.iter().map(|&i| e.test.names()[i].clone()).collect(),
            keep.iter().map(|&i| e.test.columns()[i].clone()).collect(),
        )?
    };
    for model in models {
        let text = serde_json::to_string(&model)?;
        let v: Value = serde_json::from_str(&text)?;
        assert_eq!(v["format_version"], json!(1));
        let back: TabularModel = serde_json::from_str(&text)?;
        assert_eq!(back, model);
        let input = if matches!(
            model.algorithm(),
            Algorithm::Linear | Algorithm::Ridge | Algorithm::Logistic
        ) {
            &test_no_nan
        } else {
            &e.test
        };
        match model.task() {
            Task::Regression => assert_eq!(back.predict(input)?, model.predict(input)?),
            Task::Classification => {
                assert_eq!(back.predict_proba(input)?, model.predict_proba(input)?);
                assert_eq!(back.predict_labels(input)?, model.predict_labels(input)?);
            }
        }
    }
    Ok(())
}

#[test]
fn params_are_stored_resolved() -> Result<()> {
    let f = small()?;
    let m = tabular::fit(
        Task::Regression,
        Algorithm::Gbdt,
        &json!({"max_iter": 3}),
        &f,
        Target::Values(&SMALL_Y),
    )?;
    assert_eq!(m.params()["max_iter"], json!(3));
    assert_eq!(m.params()["learning_rate"], json!(0.1));
    assert_eq!(m.params()["max_leaf_nodes"], json!(31));
    assert_eq!(m.params()["min_samples_leaf"], json!(20));
    assert_eq!(m.params()["max_bins"], json!(255));
    Ok(())
}

#[test]
fn invalid_model_files_are_errors() -> Result<()> {
    let f = small()?;
    let m = tabular::fit(
        Task::Regression,
        Algorithm::Gbdt,
        &json!({"max_iter": 2, "min_samples_leaf": 1}),
        &f,
        Target::Values(&SMALL_Y),
    )?;
    let mut v = serde_json::to_value(&m)?;
    v["format_version"] = json!(2);
    let err = serde_json::from_value::<TabularModel>(v)
        .err()
        .context("version 2 accepted")?;
    ensure!(err.to_string().contains("format_version 2"), "{err}");

    let mut v = serde_json::to_value(&m)?;
    v["fitted"]["trees"][0][0]["split"]["left"] = json!(999);
    let err = serde_json::from_value::<TabularModel>(v)
        .err()
        .context("bad child accepted")?;
    ensure!(err.to_string().contains("out-of-range"), "{err}");

    let mut v = serde_json::to_value(&m)?;
    v["algorithm"] = json!("linear");
    let err = serde_json::from_value::<TabularModel>(v)
        .err()
        .context("kind mismatch accepted")?;
    ensure!(err.to_string().contains("does not match"), "{err}");

    let mut v = serde_json::to_value(&m)?;
    v["surprise"] = json!(true);
    ensure!(serde_json::from_value::<TabularModel>(v).is_err());
    Ok(())
}

// --------------------------------------------------------------------------------------
// Columns by name
// --------------------------------------------------------------------------------------

#[test]
fn predict_matches_columns_by_name_and_ignores_extras() -> Result<()> {
    let f = small()?;
    let m = tabular::fit(
        Task::Regression,
        Algorithm::Ridge,
        &json!({}),
        &f,
        Target::Values(&SMALL_Y),
    )?;
    let reordered = Features::new(
        names(&["extra", "c", "x"]),
        vec![
            cat(&[Some("z"); 6]),
            f.columns()[1].clone(),
            f.columns()[0].clone(),
        ],
    )?;
    assert_eq!(m.predict(&reordered)?, m.predict(&f)?);

    let missing = Features::new(names(&["x"]), vec![f.columns()[0].clone()])?;
    assert_eq!(
        m.predict(&missing),
        Err(TabularError::MissingColumn("c".into()))
    );

    let wrong = Features::new(
        names(&["x", "c"]),
        vec![f.columns()[0].clone(), num(&[1.0; 6])],
    )?;
    assert_eq!(
        m.predict(&wrong),
        Err(TabularError::WrongColumnKind {
            column: "c".into(),
            expected: ColumnKind::Categorical,
            found: ColumnKind::Numeric
        })
    );
    Ok(())
}

#[test]
fn prediction_methods_check_the_task() -> Result<()> {
    let f = small()?;
    let reg = tabular::fit(
        Task::Regression,
        Algorithm::Linear,
        &json!({}),
        &f,
        Target::Values(&SMALL_Y),
    )?;
    assert!(matches!(
        reg.predict_proba(&f),
        Err(TabularError::WrongTask {
            method: "predict_proba",
            ..
        })
    ));
    assert!(matches!(
        reg.predict_labels(&f),
        Err(TabularError::WrongTask {
            method: "predict_labels",
            ..
        })
    ));
    let cls = tabular::fit(
        Task::Classification,
        Algorithm::Logistic,
        &json!({}),
        &f,
        Target::Labels(&small_labels()),
    )?;
    assert!(matches!(
        cls.predict(&f),
        Err(TabularError::WrongTask {
            method: "predict",
            ..
        })
    ));
    Ok(())
}

// --------------------------------------------------------------------------------------
// Bad input
// --------------------------------------------------------------------------------------

#[test]
fn features_constructor_errors() {
    assert_eq!(
        Features::new(vec![], vec![]),
        Err(TabularError::Empty { what: "no columns" })
    );
    assert_eq!(
        Features::new(names(&["a"]), vec![num(&[])]),
        Err(TabularError::Empty { what: "no rows" })
    );
    assert_eq!(
        Features::new(names(&["a", "a"]), vec![num(&[1.0]), num(&[2.0])]),
        Err(TabularError::DuplicateColumn("a".into()))
    );
    assert_eq!(
        Features::new(
            names(&["a", "b"]),
            vec![num(&[1.0, 2.0]), cat(&[Some("x")])]
        ),
        Err(TabularError::ColumnLength {
            column: "b".into(),
            len: 1,
            first: "a".into(),
            expected: 2
        })
    );
    assert_eq!(
        Features::new(names(&["a"]), vec![num(&[1.0]), num(&[2.0])]),
        Err(TabularError::NameCount {
            names: 1,
            columns: 2
        })
    );
}

#[test]
fn target_errors() -> Result<()> {
    let f = small()?;
    let p = json!({});
    assert_eq!(
        tabular::fit(
            Task::Regression,
            Algorithm::Linear,
            &p,
            &f,
            Target::Values(&[1.0, 2.0])
        )
        .err(),
        Some(TabularError::TargetLength { target: 2, rows: 6 })
    );
    let mut y = SMALL_Y;
    y[4] = f64::NAN;
    assert!(matches!(
        tabular::fit(
            Task::Regression,
            Algorithm::Gbdt,
            &p,
            &f,
            Target::Values(&y)
        ),
        Err(TabularError::NonFiniteTarget { row: 4, .. })
    ));
    y[4] = f64::INFINITY;
    assert!(matches!(
        tabular::fit(
            Task::Regression,
            Algorithm::RandomForest,
            &p,
            &f,
            Target::Values(&y)
        ),
        Err(TabularError::NonFiniteTarget { row: 4, .. })
    ));
    let one = names(&["k"; 6]);
    assert_eq!(
        tabular::fit(
            Task::Classification,
            Algorithm::Logistic,
            &p,
            &f,
            Target::Labels(&one)
        )
        .err(),
        Some(TabularError::SingleClass { class: "k".into() })
    );
    assert!(matches!(
        tabular::fit(
            Task::Classification,
            Algorithm::Gbdt,
            &p,
            &f,
            Target::Values(&SMALL_Y)
        ),
        Err(TabularError::TargetKind {
            task: Task::Classification,
            ..
        })
    ));
    assert!(matches!(
        tabular::fit(
            Task::Regression,
            Algorithm::Gbdt,
            &p,
            &f,
            Target::Labels(&small_labels())
        ),
        Err(TabularError::TargetKind {
            task: Task::Regression,
            ..
        })
    ));
    assert_eq!(
        tabular::fit(
            Task::Classification,
            Algorithm::Ridge,
            &p,
            &f,
            Target::Labels(&small_labels())
        )
        .err(),
        Some(TabularError::UnsupportedTask {
            algorithm: Algorithm::Ridge,
            task: Task::Classification
        })
    );
    assert_eq!(
        tabular::fit(
            Task::Regression,
            Algorithm::Logistic,
            &p,
            &f,
            Target::Values(&SMALL_Y)
        )
        .err(),
        Some(TabularError::UnsupportedTask {
            algorithm: Algorithm::Logistic,
            task: Task::Regression
        })
    );
    Ok(())
}

#[test]
fn feature_value_errors() -> Result<()> {
    let with = |x: Vec<f64>| -> Result<Features> {
        Ok(Features::new(
            names(&["x", "c"]),
            vec![num(&x), small()?.columns()[1].clone()],
        )?)
    };
    let p = json!({});
    let inf = with(vec![1.0, 2.0, f64::NEG_INFINITY, 4.0, 5.0, 6.0])?;
    for algorithm in [Algorithm::Linear, Algorithm::Gbdt, Algorithm::RandomForest] {
        assert!(matches!(
            tabular::fit(Task::Regression, algorithm, &p, &inf, Target::Values(&SMALL_Y)),
            Err(TabularError::NonFiniteFeature { ref column, row: 2, .. }) if column == "x"
        ));
    }
    let nan = with(vec![1.0, f64::NAN, 3.0, 4.0, 5.0, 6.0])?;
    for algorithm in [Algorithm::Linear, Algorithm::Ridge] {
        assert_eq!(
            tabular::fit(
                Task::Regression,
                algorithm,
                &p,
                &nan,
                Target::Values(&SMALL_Y)
            )
            .err(),
            Some(TabularError::MissingValue {
                column: "x".into(),
                row: 1,
                algorithm
            })
        );
    }
    assert_eq!(
        tabular::fit(
            Task::Classification,
            Algorithm::Logistic,
            &p,
            &nan,
            Target::Labels(&small_labels())
        )
        .err(),
        Some(TabularError::MissingValue {
            column: "x".into(),
            row: 1,
            algorithm: Algorithm::Logistic
        })
    );
    // NaN is fine for the tree models, at fit and at predict.
    let m = tabular::fit(
        Task::Regression,
        Algorithm::Gbdt,
        &json!({"min_samples_leaf": 1}),
        &nan,
        Target::Values(&SMALL_Y),
    )?;
    assert!(m.predict(&nan)?.iter().all(|v| v.is_finite()));
    // At predict, the linear model rejects NaN and infinity too.
    let lin = tabular::fit(
        Task::Regression,
        Algorithm::Linear,
        &p,
        &small()?,
        Target::Values(&SMALL_Y),
    )?;
    assert!(matches!(
        lin.predict(&nan),
        Err(TabularError::MissingValue { row: 1, .. })
    ));
    assert!(matches!(
        lin.predict(&inf),
        Err(TabularError::NonFiniteFeature { row: 2, .. })
    ));
    // An unseen missing category is an unseen category too.
    let f = Features::new(
        names(&["x", "c"]),
        vec![num(&[1.0, 2.0]), cat(&[Some("a"), Some("b")])],
    )?;
    let m = tabular::fit(
        Task::Regression,
        Algorithm::Linear,
        &p,
        &f,
        Target::Values(&[1.0, 2.0]),
    )?;
    let g = Features::new(names(&["x", "c"]), vec![num(&[1.0]), cat(&[None])])?;
    assert_eq!(
        m.predict(&g),
        Err(TabularError::UnseenCategory {
            column: "c".into(),
            value: None,
            row: 0
        })
    );
    Ok(())
}

#[test]
fn param_errors_name_the_parameter() -> Result<()> {
    let f = small()?;
    let y = Target::Values(&SMALL_Y);
    let labels = small_labels();
    let fit = |algorithm: Algorithm, p: Value| {
        let task = if algorithm == Algorithm::Logistic {
            Task::Classification
        } else {
            Task::Regression
        };
        let target = if algorithm == Algorithm::Logistic {
            Target::Labels(&labels)
        } else {
            y
        };
        tabular::fit(task, algorithm, &p, &f, target).err()
    };
    match fit(Algorithm::Gbdt, json!({"learning_rat": 0.1})) {
        Some(TabularError::UnknownParam {
            algorithm: Algorithm::Gbdt,
            param,
            known,
        }) => {
            assert_eq!(param, "learning_rat");
            assert!(known.contains("learning_rate"));
        }
        other => bail!("{other:?}"),
    }
    assert!(
        matches!(fit(Algorithm::Linear, json!({"alpha": 1.0})), Some(TabularError::UnknownParam { ref param, .. }) if param == "alpha")
    );
    assert!(matches!(
        fit(Algorithm::Ridge, json!([1])),
        Some(TabularError::ParamsNotObject {
            got: "an array",
            ..
        })
    ));
    let bad = [
        (Algorithm::Ridge, json!({"alpha": -1.0}), "alpha"),
        (Algorithm::Ridge, json!({"alpha": "big"}), "alpha"),
        (Algorithm::Logistic, json!({"C": 0.0}), "C"),
        (Algorithm::Logistic, json!({"max_iter": 0}), "max_iter"),
        (Algorithm::Logistic, json!({"tol": -1.0}), "tol"),
        (
            Algorithm::Gbdt,
            json!({"learning_rate": 0.0}),
            "learning_rate",
        ),
        (Algorithm::Gbdt, json!({"max_iter": 0}), "max_iter"),
        (Algorithm::Gbdt, json!({"max_iter": 2.5}), "max_iter"),
        (
            Algorithm::Gbdt,
            json!({"max_leaf_nodes": 1}),
            "max_leaf_nodes",
        ),
        (Algorithm::Gbdt, json!({"max_depth": 0}), "max_depth"),
        (
            Algorithm::Gbdt,
            json!({"min_samples_leaf": 0}),
            "min_samples_leaf",
        ),
        (
            Algorithm::Gbdt,
            json!({"l2_regularization": -0.5}),
            "l2_regularization",
        ),
        (Algorithm::Gbdt, json!({"max_bins": 256}), "max_bins"),
        (
            Algorithm::Gbdt,
            json!({"handle_unknown": "drop"}),
            "handle_unknown",
        ),
        (
            Algorithm::RandomForest,
            json!({"n_estimators": 0}),
            "n_estimators",
        ),
        (
            Algorithm::RandomForest,
            json!({"min_samples_split": 1}),
            "min_samples_split",
        ),
        (
            Algorithm::RandomForest,
            json!({"min_samples_leaf": 0}),
            "min_samples_leaf",
        ),
        (
            Algorithm::RandomForest,
            json!({"max_depth": 0}),
            "max_depth",
        ),
        (
            Algorithm::RandomForest,
            json!({"max_features": 0}),
            "max_features",
        ),
        (
            Algorithm::RandomForest,
            json!({"max_features": 5}),
            "max_features",
        ),
        (
            Algorithm::RandomForest,
            json!({"max_features": 1.5}),
            "max_features",
        ),
        (
            Algorithm::RandomForest,
            json!({"max_features": "half"}),
            "max_features",
        ),
        (
            Algorithm::RandomForest,
            json!({"bootstrap": "yes"}),
            "bootstrap",
        ),
        (
            Algorithm::RandomForest,
            json!({"random_state": -1}),
            "random_state",
        ),
    ];
    for (algorithm, p, name) in bad {
        match fit(algorithm, p.clone()) {
            Some(TabularError::BadParam {
                algorithm: a,
                param,
                ..
            }) if a == algorithm && param == name => {}
            other => bail!("{algorithm} {p}: {other:?}"),
        }
    }
    // Accepted forms of max_features.
    for mf in [
        json!("sqrt"),
        json!("log2"),
        json!(2),
        json!(0.5),
        json!(1.0),
    ] {
        tabular::fit(
            Task::Regression,
            Algorithm::RandomForest,
            &json!({"max_features": mf, "n_estimators": 2}),
            &f,
            y,
        )?;
    }
    Ok(())
}

#[test]
fn solver_failures_are_errors_not_nan() -> Result<()> {
    // Newton's method needs several steps on the logistic fixture: one is not enough.
    let fx = fixture("logistic.json")?;
    let y = strings(&fx["multi"])?;
    let err = tabular::fit(
        Task::Classification,
        Algorithm::Logistic,
        &json!({"max_iter": 1}),
        &table(&fx["train"])?,
        Target::Labels(&y),
    )
    .err();
    assert!(
        matches!(err, Some(TabularError::NotConverged { iterations: 1, .. })),
        "{err:?}"
    );
    // Squares of 1e300 overflow: a numerical error, never NaN coefficients.
    let huge = Features::new(names(&["x"]), vec![num(&[1e300, -1e300, 5e299])])?;
    let err = tabular::fit(
        Task::Regression,
        Algorithm::Linear,
        &json!({}),
        &huge,
        Target::Values(&[1.0, 2.0, 3.0]),
    )
    .err();
    assert!(
        matches!(
            err,
            Some(TabularError::Numerical {
                algorithm: Algorithm::Linear,
                ..
            })
        ),
        "{err:?}"
    );
    // A finite model on inputs whose prediction overflows: an error naming the row.
    let f = Features::new(names(&["x"]), vec![num(&[0.0, 1.0, 2.0])])?;
    let m = tabular::fit(
        Task::Regression,
        Algorithm::Linear,
        &json!({}),
        &f,
        Target::Values(&[0.0, 2.0, 4.0]),
    )?;
    let big = Features::new(names(&["x"]), vec![num(&[1.0, f64::MAX])])?;
    match m.predict(&big) {
        Err(TabularError::Numerical { reason, .. }) => {
            ensure!(reason.contains("row 1"), "{reason}")
        }
        other => bail!("{other:?}"),
    }
    Ok(())
}

#[test]
fn rank_deficient_and_tiny_inputs_do_not_panic() -> Result<()> {
    // One row, constant columns, more columns than rows.
    let one = Features::new(names(&["a", "b"]), vec![num(&[3.0]), cat(&[Some("x")])])?;
    let m = tabular::fit(
        Task::Regression,
        Algorithm::Linear,
        &json!({}),
        &one,
        Target::Values(&[2.0]),
    )?;
    assert_eq!(m.predict(&one)?, vec![2.0]);
    let wide = Features::new(
        names(&["a", "b", "c", "d"]),
        vec![
            num(&[1.0, 2.0]),
            num(&[3.0, 3.0]),
            num(&[0.0, 5.0]),
            num(&[2.0, 4.0]),
        ],
    )?;
    for algorithm in [
        Algorithm::Linear,
        Algorithm::Ridge,
        Algorithm::Gbdt,
        Algorithm::RandomForest,
    ] {
        let m = tabular::fit(
            Task::Regression,
            algorithm,
            &json!({}),
            &wide,
            Target::Values(&[1.0, 2.0]),
        )?;
        assert!(
            m.predict(&wide)?.iter().all(|v| v.is_finite()),
            "{algorithm}"
        );
    }
    // Separable classes with weak regularisation still converge (the L2 term bounds the optimum).
    let sep = Features::new(names(&["a"]), vec![num(&[-2.0, -1.0, 1.0, 2.0])])?;
    let m = tabular::fit(
        Task::Classification,
        Algorithm::Logistic,
        &json!({"C": 1e4}),
        &sep,
        Target::Labels(&names(&["n", "n", "y", "y"])),
    )?;
    assert_eq!(m.predict_labels(&sep)?, names(&["n", "n", "y", "y"]));
    Ok(())
}
