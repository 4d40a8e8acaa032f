//! M4 competition scoring and data parsing (pure functions; the caller reads the files).

/// sMAPE of one forecast, in percent: mean over steps of `200 |y - f| / (|y| + |f|)`.
/// A step where both are zero counts as 0.
pub fn smape(actual: &[f64], forecast: &[f64]) -> f64 {
    let n = actual.len().min(forecast.len());
    if n == 0 {
        return f64::NAN;
    }
    let total: f64 = actual
        .iter()
        .zip(forecast)
        .map(|(y, f)| {
            let den = y.abs() + f.abs();
            if den == 0.0 {
                0.0
            } else {
                200.0 * (y - f).abs() / den
            }
        })
        .sum();
    total / n as f64
}

/// The MASE scale of a history: mean of `|x_t - x_{t-m}|` over `t >= m` (0-based).
/// NaN when the history has no more than `m` values.
pub fn mase_scale(history: &[f64], m: usize) -> f64 {
    let m = m.max(1);
    if history.len() <= m {
        return f64::NAN;
    }
    let total: f64 = (m..history.len())
        .map(|t| (history[t] - history[t - m]).abs())
        .sum();
    total / (history.len() - m) as f64
}

/// MASE of one forecast: mean absolute error divided by [`mase_scale`] of the history.
pub fn mase(history: &[f64], actual: &[f64], forecast: &[f64], m: usize) -> f64 {
    let n = actual.len().min(forecast.len());
    if n == 0 {
        return f64::NAN;
    }
    let mae: f64 = actual
        .iter()
        .zip(forecast)
        .map(|(y, f)| (y - f).abs())
        .sum::<f64>()
        / n as f64;
    mae / mase_scale(history, m)
}

/// OWA relative to Naive2's sMAPE and MASE on the same subset.
pub fn owa(smape: f64, mase: f64, naive2_smape: f64, naive2_mase: f64) -> f64 {
    0.5 * (smape / naive2_smape + mase / naive2_mase)
}

/// Parses an M4 CSV (header row, then one series per row: quoted id, then quoted values,
/// ragged with empty trailing cells). Returns `(id, values)` per row, or the 1-based line
/// number and cell of the first value that is not a number.
pub fn parse_m4_csv(text: &str) -> Result<Vec<(String, Vec<f64>)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let mut cells = line.split(',').map(|c| c.trim().trim_matches('"'));
        let id = cells.next().unwrap_or_default().to_string();
        let mut values = Vec::new();
        for cell in cells {
            if cell.is_empty() || cell == "NA" {
                continue;
            }
            let v: f64 = cell
                .parse()
                .map_err(|_| format!("line {}: {cell:?} is not a number", i + 1))?;
            values.push(v);
        }
        out.push((id, values));
    }
    Ok(out)
}
