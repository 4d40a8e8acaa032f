//! A small Nelder-Mead minimiser (the variant of R's `optim(method = "Nelder-Mead")`:
//! reflection 1, expansion 2, contraction 0.5, shrink 0.5, relative tolerance stop).

/// Minimises `f` from `x0` with initial simplex steps `steps` (one per coordinate).
/// Returns the best point and its value. Non-finite values count as +infinity.
pub(crate) fn nelder_mead(
    f: &dyn Fn(&[f64]) -> f64,
    x0: &[f64],
    steps: &[f64],
    max_iter: usize,
    reltol: f64,
) -> (Vec<f64>, f64) {
    let d = x0.len();
    let eval = |x: &[f64]| {
        let v = f(x);
        if v.is_finite() { v } else { f64::INFINITY }
    };
    let mut simplex: Vec<Vec<f64>> = Vec::with_capacity(d + 1);
    simplex.push(x0.to_vec());
    for i in 0..d {
        let mut p = x0.to_vec();
        p[i] += steps[i];
        simplex.push(p);
    }
    let mut values: Vec<f64> = simplex.iter().map(|p| eval(p)).collect();
    for _ in 0..max_iter {
        // Order: best first.
        let mut order: Vec<usize> = (0..=d).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        simplex = order.iter().map(|&i| simplex[i].clone()).collect();
        values = order.iter().map(|&i| values[i]).collect();
        let (best, worst) = (values[0], values[d]);
        if best.is_finite() && (worst - best).abs() <= reltol * (best.abs() + reltol) {
            break;
        }
        let centroid: Vec<f64> = (0..d)
            .map(|j| simplex[..d].iter().map(|p| p[j]).sum::<f64>() / d as f64)
            .collect();
        let along = |t: f64| -> Vec<f64> {
            (0..d)
                .map(|j| centroid[j] + t * (simplex[d][j] - centroid[j]))
                .collect()
        };
        let xr = along(-1.0);
        let fr = eval(&xr);
        if fr < values[0] {
            let xe = along(-2.0);
            let fe = eval(&xe);
            if fe < fr {
                simplex[d] = xe;
                values[d] = fe;
            } else {
                simplex[d] = xr;
                values[d] = fr;
            }
        } else if fr < values[d - 1] {
            simplex[d] = xr;
            values[d] = fr;
        } else {
            let (xc, fc) = if fr < values[d] {
                let xc = along(-0.5);
                let fc = eval(&xc);
                (xc, fc)
            } else {
                let xc = along(0.5);
                let fc = eval(&xc);
                (xc, fc)
            };
            if fc < values[d].min(fr) {
                simplex[d] = xc;
                values[d] = fc;
            } else {
                for i in 1..=d {
                    let p: Vec<f64> = (0..d)
                        .map(|j| simplex[0][j] + 0.5 * (simplex[i][j] - simplex[0][j]))
                        .collect();
                    values[i] = eval(&p);
                    simplex[i] = p;
                }
            }
        }
    }
    let best = (0..=d)
        .min_by(|&a, &b| values[a].total_cmp(&values[b]))
        .unwrap_or(0);
    (simplex[best].clone(), values[best])
}

/// Nelder-Mead exactly as R's `nmmin` (used by `optim` and by `forecast::ets`), so that fits
/// reproduce R's, local optima included: one initial step for every coordinate (10% of the
/// largest |parameter|), non-finite values replaced by 1e35, convergence when the simplex's
/// value range falls below `intol * (|f(x0)| + intol)`, at most `maxit` evaluations.
/// Returns `None` when `f(x0)` is not finite.
pub(crate) fn nmmin_r(
    f: &dyn Fn(&[f64]) -> f64,
    x0: &[f64],
    intol: f64,
    maxit: usize,
) -> Option<(Vec<f64>, f64)> {
    const BIG: f64 = 1.0e35;
    const ALPHA: f64 = 1.0;
    const BETA: f64 = 0.5;
    const GAMMA: f64 = 2.0;
    let n = x0.len();
    let mut b = x0.to_vec();
    let f0 = f(&b);
    if !f0.is_finite() {
        return None;
    }
    let eval = |x: &[f64]| {
        let v = f(x);
        if v.is_finite() { v } else { BIG }
    };
    let mut funcount = 1usize;
    let convtol = intol * (f0.abs() + intol);
    let n1 = n + 1;
    // p[j] is vertex j, fv[j] its value.
    let mut p: Vec<Vec<f64>> = vec![b.clone(); n1];
    let mut fv = vec![0.0; n1];
    fv[0] = f0;
    let mut l = 0usize;
    let mut step = 0.0_f64;
    for v in &b {
        if 0.1 * v.abs() > step {
            step = 0.1 * v.abs();
        }
    }
    if step == 0.0 {
        step = 0.1;
    }
    let mut size = 0.0;
    for j in 1..n1 {
        p[j] = b.clone();
        let mut trystep = step;
        while p[j][j - 1] == b[j - 1] {
            p[j][j - 1] = b[j - 1] + trystep;
            trystep *= 10.0;
        }
        size += trystep;
    }
    let mut oldsize = size;
    let mut calcvert = true;
    loop {
        if calcvert {
            for j in 0..n1 {
                if j != l {
                    fv[j] = eval(&p[j]);
                    funcount += 1;
                }
            }
            calcvert = false;
        }
        let mut vl = fv[l];
        let mut vh = vl;
        let mut h = l;
        // As in R, `l` moves during the scan and later vertices are compared with the new `l`.
        for (j, &v) in fv.iter().enumerate() {
            if j != l {
                if v < vl {
                    l = j;
                    vl = v;
                }
                if v > vh {
                    h = j;
                    vh = v;
                }
            }
        }
        if vh <= vl + convtol {
            break;
        }
        // Centroid of all vertices but the highest.
        let mut c = vec![0.0; n];
        for (i, ci) in c.iter_mut().enumerate() {
            let mut temp = -p[h][i];
            for pj in &p {
                temp += pj[i];
            }
            *ci = temp / n as f64;
        }
        for i in 0..n {
            b[i] = (1.0 + ALPHA) * c[i] - ALPHA * p[h][i];
        }
        let fr = eval(&b);
        funcount += 1;
        let vr = fr;
        if vr < vl {
            // Try an extension; the reflected point goes to the centroid slot.
            let reflected = b.clone();
            for i in 0..n {
                b[i] = GAMMA * reflected[i] + (1.0 - GAMMA) * c[i];
            }
            c = reflected;
            let fe = eval(&b);
            funcount += 1;
            if fe < vr {
                p[h] = b.clone();
                fv[h] = fe;
            } else {
                p[h] = c.clone();
                fv[h] = vr;
            }
        } else {
            if vr < vh {
                p[h] = b.clone();
                fv[h] = vr;
            }
            for i in 0..n {
                b[i] = (1.0 - BETA) * p[h][i] + BETA * c[i];
            }
            let fc = eval(&b);
            funcount += 1;
            if fc < fv[h] {
                p[h] = b.clone();
                fv[h] = fc;
            } else if vr >= vh {
                // Shrink towards the lowest vertex.
                calcvert = true;
                size = 0.0;
                let low = p[l].clone();
                for (j, pj) in p.iter_mut().enumerate() {
                    if j != l {
                        for i in 0..n {
                            pj[i] = BETA * (pj[i] - low[i]) + low[i];
                            size += (pj[i] - low[i]).abs();
                        }
                    }
                }
                if size < oldsize {
                    oldsize = size;
                } else {
                    break;
                }
            }
        }
        if funcount > maxit {
            break;
        }
    }
    Some((p[l].clone(), fv[l]))
}

/// Reusable buffers of [`BoundedNelderMead`], so that repeated minimisations allocate nothing.
#[derive(Debug, Default, Clone)]
pub(crate) struct NmWork {
    /// `(d + 1) * d` vertex coordinates, row-major.
    simplex: Vec<f64>,
    values: Vec<f64>,
    centroid: Vec<f64>,
    trial: Vec<f64>,
    trial2: Vec<f64>,
}

/// Nelder-Mead over a box: every trial point is clamped into `[lower, upper]` coordinate-wise,
/// with the dimension-adaptive coefficients of Gao and Han (2012) (expansion `1 + 2/d`,
/// contraction `3/4 - 1/(2d)`, shrink `1 - 1/d`), the variant statsforecast runs for ETS.
/// The initial simplex moves coordinate `i` by `steps[i]` (reversed when that leaves the
/// box). Stops when the population standard deviation of the vertex values falls below
/// `tol_std`, or after `max_iter` iterations.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BoundedNelderMead {
    pub tol_std: f64,
    pub max_iter: usize,
}

impl BoundedNelderMead {
    /// Minimises `f` from `x` (overwritten with the best point); returns the best value and the
    /// number of function evaluations. Non-finite values count as +infinity.
    pub(crate) fn minimize(
        &self,
        f: &mut impl FnMut(&[f64]) -> f64,
        x: &mut [f64],
        steps: &[f64],
        lower: &[f64],
        upper: &[f64],
        w: &mut NmWork,
    ) -> (f64, usize) {
        let d = x.len();
        let mut evals = 0usize;
        let mut eval = |p: &[f64]| {
            evals += 1;
            let v = f(p);
            if v.is_nan() { f64::INFINITY } else { v }
        };
        for (i, xi) in x.iter_mut().enumerate() {
            *xi = xi.clamp(lower[i], upper[i]);
        }
        if d == 0 {
            let v = eval(x);
            return (v, evals);
        }
        let dn = d as f64;
        let (refl, expand, contract, shrink) =
            (1.0, 1.0 + 2.0 / dn, 0.75 - 0.5 / dn, 1.0 - 1.0 / dn);
        w.simplex.clear();
        for i in 0..=d {
            w.simplex.extend_from_slice(x);
            if i < d {
                let v = x[i];
                let mut moved = v + steps[i];
                if moved > upper[i] || moved < lower[i] {
                    moved = v - steps[i];
                }
                w.simplex[i * d + i] = moved.clamp(lower[i], upper[i]);
            }
        }
        w.values.clear();
        for i in 0..=d {
            let v = eval(&w.simplex[i * d..(i + 1) * d]);
            w.values.push(v);
        }
        w.centroid.resize(d, 0.0);
        w.trial.resize(d, 0.0);
        w.trial2.resize(d, 0.0);
        let clamp_into = |out: &mut [f64]| {
            for (i, o) in out.iter_mut().enumerate() {
                *o = o.clamp(lower[i], upper[i]);
            }
        };
        for _ in 0..self.max_iter {
            // Best, worst and second worst vertices.
            let (mut best, mut worst) = (0usize, 0usize);
            for i in 1..=d {
                if w.values[i] < w.values[best] {
                    best = i;
                }
                if w.values[i] >= w.values[worst] {
                    worst = i;
                }
            }
            let mut second = if worst == 0 { 1 } else { 0 };
            for i in 0..=d {
                if i != worst && w.values[i] >= w.values[second] {
                    second = i;
                }
            }
            if population_sd(&w.values) < self.tol_std {
                break;
            }
            let (fb, fs, fw) = (w.values[best], w.values[second], w.values[worst]);
            // Centroid of every vertex but the worst.
            for j in 0..d {
                let mut s = 0.0;
                for i in 0..=d {
                    if i != worst {
                        s += w.simplex[i * d + j];
                    }
                }
                w.centroid[j] = s / dn;
            }
            let worst_row = worst * d;
            for j in 0..d {
                let c = w.centroid[j];
                w.trial[j] = c + refl * (c - w.simplex[worst_row + j]);
            }
            clamp_into(&mut w.trial);
            let fr = eval(&w.trial);
            if fb <= fr && fr < fs {
                w.simplex[worst_row..worst_row + d].copy_from_slice(&w.trial);
                w.values[worst] = fr;
                continue;
            }
            if fr < fb {
                for j in 0..d {
                    let c = w.centroid[j];
                    w.trial2[j] = c + expand * (w.trial[j] - c);
                }
                clamp_into(&mut w.trial2);
                let fe = eval(&w.trial2);
                let (src, fv) = if fe < fr {
                    (&w.trial2, fe)
                } else {
                    (&w.trial, fr)
                };
                w.simplex[worst_row..worst_row + d].copy_from_slice(src);
                w.values[worst] = fv;
                continue;
            }
            if fs <= fr && fr < fw {
                // Outside contraction.
                for j in 0..d {
                    let c = w.centroid[j];
                    w.trial2[j] = c + contract * (w.trial[j] - c);
                }
                clamp_into(&mut w.trial2);
                let fc = eval(&w.trial2);
                if fc <= fr {
                    w.simplex[worst_row..worst_row + d].copy_from_slice(&w.trial2);
                    w.values[worst] = fc;
                    continue;
                }
            } else {
                // Inside contraction.
                for j in 0..d {
                    let c = w.centroid[j];
                    w.trial2[j] = c - contract * (w.trial[j] - c);
                }
                clamp_into(&mut w.trial2);
                let fc = eval(&w.trial2);
                if fc < fw {
                    w.simplex[worst_row..worst_row + d].copy_from_slice(&w.trial2);
                    w.values[worst] = fc;
                    continue;
                }
            }
            // Shrink towards the best vertex.
            let best_row = best * d;
            for i in 0..=d {
                if i == best {
                    continue;
                }
                for j in 0..d {
                    let b = w.simplex[best_row + j];
                    let v = b + shrink * (w.simplex[i * d + j] - b);
                    w.simplex[i * d + j] = v.clamp(lower[j], upper[j]);
                }
                w.values[i] = eval(&w.simplex[i * d..(i + 1) * d]);
            }
        }
        let mut best = 0usize;
        for i in 1..=d {
            if w.values[i] < w.values[best] {
                best = i;
            }
        }
        x.copy_from_slice(&w.simplex[best * d..(best + 1) * d]);
        (w.values[best], evals)
    }
}

/// Population standard deviation; infinite when any value is infinite.
fn population_sd(v: &[f64]) -> f64 {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if !mean.is_finite() {
        return f64::INFINITY;
    }
    (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt()
}
