//! Distances between a reference and a current sample, with the definitions of
//! Evidently 0.7.23 (`evidently/legacy/calculations/stattests/`) and the numpy 2 / scipy 1.17
//! functions they call, so that scores agree with Evidently's to rounding.
//!
//! Every function here takes cleaned samples: no NaN, no infinity (Evidently drops them
//! before any test), and the `_sorted` functions take samples sorted ascending (see
//! [`sort_values`]). Column handling (nulls, kinds, the method choice) is in [`super`].

use super::{CompensatedSum, tie_groups};
use crate::{MonitorError, Result};

/// The Wasserstein distance is divided by `max(std(reference), NORM_FLOOR)`.
pub const NORM_FLOOR: f64 = 0.001;

/// Reference samples with more distinct values than this are binned into a histogram by
/// [`numeric_shares`]; fewer are compared value by value (Evidently's `get_binned_data`).
pub const HISTOGRAM_MIN_DISTINCT: usize = 20;

/// Permutations drawn by [`tvd_permutation_p_value`] (Evidently's `iterations=1000`).
pub const TVD_PERMUTATIONS: usize = 1000;

/// Samples at least this long are sorted by radix rather than by comparison.
const RADIX_SORT_MIN: usize = 4096;

/// Sorts values ascending in place (the order every `_sorted` function expects), in
/// `f64::total_cmp` order (so `-0.0` before `0.0`, which compare equal everywhere here).
/// Long samples are sorted by a least-significant-digit radix sort on the order-preserving
/// integer image of the floats (four 16-bit passes), which needs a scratch copy.
pub fn sort_values(values: &mut [f64]) {
    if values.len() < RADIX_SORT_MIN {
        values.sort_unstable_by(f64::total_cmp);
        return;
    }
    let mut keys: Vec<u64> = values.iter().map(|v| order_key(*v)).collect();
    let mut scratch = vec![0u64; keys.len()];
    let mut counts = vec![0usize; 4 << 16];
    for &key in &keys {
        for pass in 0..4 {
            counts[(pass << 16) + digit(key, pass)] += 1;
        }
    }
    for (pass, count) in counts.chunks_exact_mut(1 << 16).enumerate() {
        if count.contains(&keys.len()) {
            continue;
        }
        let mut offset = 0;
        for slot in count.iter_mut() {
            let here = *slot;
            *slot = offset;
            offset += here;
        }
        for &key in &keys {
            let slot = &mut count[digit(key, pass)];
            scratch[*slot] = key;
            *slot += 1;
        }
        std::mem::swap(&mut keys, &mut scratch);
    }
    for (value, key) in values.iter_mut().zip(&keys) {
        *value = from_order_key(*key);
    }
}

/// The float's bits mapped so that unsigned order is `f64::total_cmp` order.
fn order_key(value: f64) -> u64 {
    let bits = value.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

fn from_order_key(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
}

fn digit(key: u64, pass: usize) -> usize {
    ((key >> (16 * pass)) & 0xffff) as usize
}

/// Population standard deviation (ddof = 0), as `np.std` of a pandas Series: the mean,
/// then the mean of the squared deviations, both summed with compensation.
/// Returns NaN for an empty slice.
pub fn population_std(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = compensated_sum(values.iter().copied()) / n;
    let squares = compensated_sum(values.iter().map(|x| (x - mean) * (x - mean)));
    (squares / n).sqrt()
}

/// First Wasserstein distance of two sorted samples, as `scipy.stats.wasserstein_distance(u, v)`:
/// `Σ |U(x_k) − V(x_k)| (x_{k+1} − x_k)` over the merged sorted values `x_k`, where `U`, `V`
/// are the empirical CDFs. Computed by one merge of the two sorted samples, O(n + m).
///
/// Errors: [`MonitorError::NotComputed`] if either sample is empty.
pub fn wasserstein_sorted(u: &[f64], v: &[f64]) -> Result<f64> {
    require_non_empty(u, v)?;
    let (nu, nv) = (u.len() as f64, v.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut total = CompensatedSum::default();
    let mut previous = u[0].min(v[0]);
    while i < u.len() || j < v.len() {
        let next = if j >= v.len() || (i < u.len() && u[i] <= v[j]) {
            u[i]
        } else {
            v[j]
        };
        let gap = next - previous;
        if gap > 0.0 {
            total.add((i as f64 / nu - j as f64 / nv).abs() * gap);
        }
        if j >= v.len() || (i < u.len() && u[i] <= v[j]) {
            i += 1;
        } else {
            j += 1;
        }
        previous = next;
    }
    Ok(total.value())
}

/// Evidently's `wasserstein` score: `wasserstein_distance(reference, current) /
/// max(std(reference), 0.001)` with the population standard deviation.
///
/// Errors: [`MonitorError::NotComputed`] if either sample is empty.
pub fn wasserstein_normed_sorted(reference: &[f64], current: &[f64]) -> Result<f64> {
    let distance = wasserstein_sorted(reference, current)?;
    Ok(distance / population_std(reference).max(NORM_FLOOR))
}

/// The shares of a reference and a current sample per bin or per category, aligned.
#[derive(Clone, Debug, PartialEq)]
pub struct Shares {
    /// Reference share of every bin or category.
    pub reference: Vec<f64>,
    /// Current share of every bin or category, in the same order.
    pub current: Vec<f64>,
}

/// Shares of two category count vectors aligned over the union of categories, as the
/// categorical branch of Evidently's `get_binned_data` (count / sample size), without the
/// zero filling (see [`fill_zeroes`]).
///
/// Errors: [`MonitorError::NotComputed`] if the vectors differ in length or a side has no values.
pub fn count_shares(reference_counts: &[u64], current_counts: &[u64]) -> Result<Shares> {
    if reference_counts.len() != current_counts.len() {
        return Err(MonitorError::NotComputed(format!(
            "category counts are not aligned: {} reference categories, {} current",
            reference_counts.len(),
            current_counts.len()
        )));
    }
    let n_reference: u64 = reference_counts.iter().sum();
    let n_current: u64 = current_counts.iter().sum();
    if n_reference == 0 || n_current == 0 {
        return Err(MonitorError::NotComputed("a sample has no values".into()));
    }
    Ok(Shares {
        reference: divide_counts(reference_counts, n_reference),
        current: divide_counts(current_counts, n_current),
    })
}

/// The numeric branch of Evidently's `get_binned_data` on two sorted samples, without the
/// zero filling: if the reference has more than 20 distinct values, the shares of the
/// histogram whose edges are numpy's `histogram_bin_edges(reference ∪ current, "sturges")`
/// (see [`sturges_edges`]); otherwise the shares of every distinct value of the union.
/// `integer` says the column is of an integer type (numpy's integer rule for bin widths).
///
/// Errors: [`MonitorError::NotComputed`] if either sample is empty.
pub fn numeric_shares(reference: &[f64], current: &[f64], integer: bool) -> Result<Shares> {
    require_non_empty(reference, current)?;
    if count_distinct_sorted(reference) > HISTOGRAM_MIN_DISTINCT {
        let min = reference[0].min(current[0]);
        let max = reference[reference.len() - 1].max(current[current.len() - 1]);
        let edges = sturges_edges(min, max, reference.len() + current.len(), integer);
        Ok(Shares {
            reference: divide_counts(&histogram_sorted(reference, &edges), reference.len() as u64),
            current: divide_counts(&histogram_sorted(current, &edges), current.len() as u64),
        })
    } else {
        let (_, reference_counts, current_counts) = value_counts_sorted(reference, current);
        count_shares(&reference_counts, &current_counts)
    }
}

/// Evidently's "feel zeroes" step: every zero share becomes `min(non-zero shares) / 10⁶` when
/// that minimum is at most 0.0001, else 0.0001. Shares that are all zero stay unchanged.
pub fn fill_zeroes(shares: &mut [f64]) {
    let smallest = shares
        .iter()
        .copied()
        .filter(|&s| s != 0.0)
        .fold(f64::INFINITY, f64::min);
    if smallest.is_infinite() {
        return;
    }
    let fill = if smallest <= 0.0001 {
        smallest / 1e6
    } else {
        0.0001
    };
    for share in shares.iter_mut().filter(|s| **s == 0.0) {
        *share = fill;
    }
}

/// Jensen-Shannon distance (natural logarithm) as `scipy.spatial.distance.jensenshannon(p, q)`:
/// both vectors are normalised to sum 1, `m = (p + q) / 2`, and the result is
/// `sqrt((Σ rel_entr(p, m) + Σ rel_entr(q, m)) / 2)`. Evidently's `jensenshannon` applies it
/// to [`numeric_shares`] / [`count_shares`] without zero filling.
pub fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    let p = normalised(p);
    let q = normalised(q);
    let mut left = CompensatedSum::default();
    let mut right = CompensatedSum::default();
    for (&a, &b) in p.iter().zip(&q) {
        let m = (a + b) / 2.0;
        left.add(relative_entropy(a, m));
        right.add(relative_entropy(b, m));
    }
    ((left.value() + right.value()) / 2.0).sqrt()
}

/// L-infinity distance `max_i |p_i − q_i|` between two aligned share vectors (0 for empty
/// vectors). Our `linf` method, not an Evidently one: it applies this to the shares Evidently's
/// `jensenshannon` uses ([`numeric_shares`] / [`count_shares`], no zero filling), so it is
/// the largest difference in the share of one bin or category, between 0 and 1.
pub fn linf_distance(p: &[f64], q: &[f64]) -> f64 {
    p.iter()
        .zip(q)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

/// Population stability index, Evidently's `psi`: `Σ (r − c) ln(r / c)` over shares that
/// went through [`fill_zeroes`].
pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    let mut total = CompensatedSum::default();
    for (&r, &c) in reference.iter().zip(current) {
        total.add((r - c) * (r / c).ln());
    }
    total.value()
}

/// Kullback-Leibler divergence `D(reference ‖ current)` (natural logarithm) as
/// `scipy.stats.entropy(reference, current)`: both normalised to sum 1, then
/// `Σ rel_entr(r, c)`. Evidently's `kl_div` applies it to zero-filled shares.
pub fn kl_divergence(reference: &[f64], current: &[f64]) -> f64 {
    let reference = normalised(reference);
    let current = normalised(current);
    let mut total = CompensatedSum::default();
    for (&r, &c) in reference.iter().zip(&current) {
        total.add(relative_entropy(r, c));
    }
    total.value()
}

/// Evidently's `hellinger` for a categorical column: with `p`, `q` the category shares
/// (count / sample size), `sqrt(1 − clip(Σ sqrt(p q), 0, 1))`.
///
/// Errors: as [`count_shares`].
pub fn hellinger_counts(reference_counts: &[u64], current_counts: &[u64]) -> Result<f64> {
    let shares = count_shares(reference_counts, current_counts)?;
    let overlap: f64 = shares
        .reference
        .iter()
        .zip(&shares.current)
        .map(|(p, q)| (p * q).sqrt())
        .sum();
    Ok((1.0 - overlap.clamp(0.0, 1.0)).sqrt())
}

/// Evidently's `hellinger` for a numeric column, on two sorted samples: the bin edges are
/// `histogram_bin_edges(distinct values of reference ∪ current, "sturges")`, `h1`, `h2` the
/// density histograms (`count / bin width / sample size`) of each sample, and the result is
/// `sqrt(1 − clip(Σ sqrt(h1 h2) · w, 0, 1))` with `w = (last edge − first edge) / bins`.
///
/// Errors: [`MonitorError::NotComputed`] if either sample is empty.
pub fn hellinger_numeric_sorted(reference: &[f64], current: &[f64], integer: bool) -> Result<f64> {
    require_non_empty(reference, current)?;
    let (distinct, _, _) = value_counts_sorted(reference, current);
    let edges = sturges_edges(
        distinct[0],
        distinct[distinct.len() - 1],
        distinct.len(),
        integer,
    );
    let bins = edges.len() - 1;
    let width = (edges[bins] - edges[0]) / bins as f64;
    let reference_counts = histogram_sorted(reference, &edges);
    let current_counts = histogram_sorted(current, &edges);
    let (n_reference, n_current) = (reference.len() as f64, current.len() as f64);
    let mut overlap = 0.0;
    for bin in 0..bins {
        let bin_width = edges[bin + 1] - edges[bin];
        let h1 = reference_counts[bin] as f64 / bin_width / n_reference;
        let h2 = current_counts[bin] as f64 / bin_width / n_current;
        overlap += (h1 * h2).sqrt() * width;
    }
    Ok((1.0 - overlap.clamp(0.0, 1.0)).sqrt())
}

/// Bin edges of `numpy.histogram_bin_edges(data, bins="sturges")` for data with the given
/// minimum, maximum and size: bin width `(max − min) / (log2(size) + 1)` (at least 1 for
/// integer data), `ceil((max − min) / width)` bins (one if the width is zero), edges from
/// `numpy.linspace`; a constant sample gets the single bin `[min − 0.5, max + 0.5]`.
pub fn sturges_edges(min: f64, max: f64, size: usize, integer: bool) -> Vec<f64> {
    let (first, last) = if min == max {
        (min - 0.5, max + 0.5)
    } else {
        (min, max)
    };
    let mut width = (max - min) / ((size as f64).log2() + 1.0);
    let bins = if width != 0.0 {
        if integer && width < 1.0 {
            width = 1.0;
        }
        ((last - first) / width).ceil() as usize
    } else {
        1
    };
    linspace(first, last, bins + 1)
}

/// Counts of a sorted sample per bin as `numpy.histogram(sample, edges)`: bin `i` holds
/// `edges[i] <= x < edges[i + 1]`, the last bin also its right edge; values outside are
/// not counted. `edges` must be increasing with at least two entries.
pub fn histogram_sorted(sorted: &[f64], edges: &[f64]) -> Vec<u64> {
    let below = |edge: f64| sorted.partition_point(|&x| x < edge);
    let last = edges.len() - 1;
    let mut counts = Vec::with_capacity(last);
    let mut start = below(edges[0]);
    for (index, &edge) in edges.iter().enumerate().skip(1) {
        let end = if index == last {
            sorted.partition_point(|&x| x <= edge)
        } else {
            below(edge)
        };
        counts.push((end - start) as u64);
        start = end;
    }
    counts
}

/// The distinct values of two sorted samples (ascending) with the count of each in either
/// sample: `pd.concat([reference, current]).value_counts()` aligned over the union.
pub fn value_counts_sorted(reference: &[f64], current: &[f64]) -> (Vec<f64>, Vec<u64>, Vec<u64>) {
    let (mut values, mut reference_counts, mut current_counts) =
        (Vec::new(), Vec::new(), Vec::new());
    for group in tie_groups(reference, current) {
        values.push(group.value);
        reference_counts.push(group.a.len() as u64);
        current_counts.push(group.b.len() as u64);
    }
    (values, reference_counts, current_counts)
}

/// Number of distinct values of a sorted sample.
pub fn count_distinct_sorted(sorted: &[f64]) -> usize {
    if sorted.is_empty() {
        return 0;
    }
    1 + sorted.windows(2).filter(|pair| pair[0] != pair[1]).count()
}

/// Evidently's `TVD` test, a permutation p-value: the statistic is the total variation
/// distance `0.5 Σ |r_k / n_r − c_k / n_c|` between the category shares; the reference and
/// current codes are pooled (reference first), and 1000 times a new reference is drawn
/// without replacement as `np.random.seed(0)` then `np.random.choice(pooled, n_r,
/// replace=False)` draw it (numpy's legacy MT19937 permutation, reproduced exactly), the rest
/// being the new current. The p-value is the share of permutations whose distance is at least
/// the observed one. The distances are compared exactly, in integers (`Σ |r_k n_c − c_k n_r|`):
/// Evidently compares floats summed in its set's order, so a permutation whose distance
/// equals the observed one may fall either side there (by its hash seed), which makes its
/// p-value at most this one. `codes` index categories `0..categories`.
///
/// Errors: [`MonitorError::NotComputed`] if a sample is empty or a code is out of range.
pub fn tvd_permutation_p_value(
    reference: &[u32],
    current: &[u32],
    categories: usize,
) -> Result<f64> {
    if reference.is_empty() || current.is_empty() {
        return Err(MonitorError::NotComputed("a sample has no values".into()));
    }
    if reference
        .iter()
        .chain(current)
        .any(|&code| code as usize >= categories)
    {
        return Err(MonitorError::NotComputed(
            "a category code is out of range".into(),
        ));
    }
    let pooled: Vec<u32> = reference.iter().chain(current).copied().collect();
    let totals = count_codes(&pooled, categories);
    let sizes = (reference.len() as i128, current.len() as i128);
    let observed = scaled_tvd(&count_codes(reference, categories), &totals, sizes);
    let mut generator = Mt19937::new(0);
    let mut order: Vec<u32> = Vec::with_capacity(pooled.len());
    let mut counts = vec![0u64; categories];
    let mut at_least = 0usize;
    for _ in 0..TVD_PERMUTATIONS {
        order.clear();
        order.extend(0..pooled.len() as u32);
        generator.shuffle(&mut order);
        counts.iter_mut().for_each(|c| *c = 0);
        for &index in &order[..reference.len()] {
            counts[pooled[index as usize] as usize] += 1;
        }
        if scaled_tvd(&counts, &totals, sizes) >= observed {
            at_least += 1;
        }
    }
    Ok(at_least as f64 / TVD_PERMUTATIONS as f64)
}

fn count_codes(codes: &[u32], categories: usize) -> Vec<u64> {
    let mut counts = vec![0u64; categories];
    for &code in codes {
        counts[code as usize] += 1;
    }
    counts
}

/// `2 n_r n_c` times the TVD between a reference with `reference_counts` and the rest of the
/// pooled counts `totals`: `Σ |r_k n_c − c_k n_r|`, exact.
fn scaled_tvd(
    reference_counts: &[u64],
    totals: &[u64],
    (n_reference, n_current): (i128, i128),
) -> i128 {
    reference_counts
        .iter()
        .zip(totals)
        .map(|(&r, &t)| {
            let (r, c) = (r as i128, (t - r) as i128);
            (r * n_current - c * n_reference).abs()
        })
        .sum()
}

/// numpy's legacy `RandomState` generator: MT19937 seeded with `init_genrand`, bounded
/// integers by masked rejection (`random_interval`), Fisher-Yates shuffle from the end.
struct Mt19937 {
    state: [u32; 624],
    index: usize,
}

impl Mt19937 {
    fn new(seed: u32) -> Self {
        let mut state = [0u32; 624];
        state[0] = seed;
        for i in 1..624 {
            let previous = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(previous ^ (previous >> 30))
                .wrapping_add(i as u32);
        }
        Self { state, index: 624 }
    }

    fn twist(&mut self) {
        for i in 0..624 {
            let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % 624] & 0x7fff_ffff);
            let mut next = self.state[(i + 397) % 624] ^ (y >> 1);
            if y & 1 != 0 {
                next ^= 0x9908_b0df;
            }
            self.state[i] = next;
        }
        self.index = 0;
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            self.twist();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// A uniform integer in `0..=max` (numpy's `random_interval` for `max < 2³²`).
    fn interval(&mut self, max: u32) -> u32 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        mask |= mask >> 1;
        mask |= mask >> 2;
        mask |= mask >> 4;
        mask |= mask >> 8;
        mask |= mask >> 16;
        loop {
            let value = self.next_u32() & mask;
            if value <= max {
                return value;
            }
        }
    }

    fn shuffle(&mut self, values: &mut [u32]) {
        for i in (1..values.len()).rev() {
            let j = self.interval(i as u32) as usize;
            values.swap(i, j);
        }
    }
}

fn require_non_empty(reference: &[f64], current: &[f64]) -> Result<()> {
    match (reference.is_empty(), current.is_empty()) {
        (true, _) => Err(MonitorError::NotComputed(
            "the reference sample is empty".into(),
        )),
        (_, true) => Err(MonitorError::NotComputed(
            "the current sample is empty".into(),
        )),
        _ => Ok(()),
    }
}

/// `numpy.linspace(first, last, count)` with `count >= 2`: `i · step + first`, the last
/// entry exactly `last`.
fn linspace(first: f64, last: f64, count: usize) -> Vec<f64> {
    let divisions = (count - 1) as f64;
    let delta = last - first;
    let step = delta / divisions;
    let mut edges: Vec<f64> = (0..count)
        .map(|i| {
            if step == 0.0 {
                i as f64 / divisions * delta + first
            } else {
                i as f64 * step + first
            }
        })
        .collect();
    edges[count - 1] = last;
    edges
}

fn divide_counts(counts: &[u64], total: u64) -> Vec<f64> {
    counts.iter().map(|&c| c as f64 / total as f64).collect()
}

fn normalised(values: &[f64]) -> Vec<f64> {
    let total = compensated_sum(values.iter().copied());
    values.iter().map(|v| v / total).collect()
}

/// scipy's `rel_entr(x, y)`: `x ln(x / y)`, 0 when `x == 0`, infinite when `y == 0 < x`.
fn relative_entropy(x: f64, y: f64) -> f64 {
    if x == 0.0 && y >= 0.0 {
        0.0
    } else if x > 0.0 && y > 0.0 {
        x * (x / y).ln()
    } else {
        f64::INFINITY
    }
}

fn compensated_sum(values: impl Iterator<Item = f64>) -> f64 {
    let mut total = CompensatedSum::default();
    values.for_each(|v| total.add(v));
    total.value()
}
