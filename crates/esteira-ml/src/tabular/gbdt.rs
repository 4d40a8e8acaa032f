//! Histogram gradient boosting like scikit-learn's `HistGradientBoostingRegressor` /
//! `HistGradientBoostingClassifier` (scoring `"loss"`, no sample weights, numeric features).
//!
//! - Binning: each design column gets at most `max_bins` bins for its non-missing values
//!   (thresholds are midpoints between distinct values when there are at most `max_bins` of them,
//!   else percentiles by numpy's `averaged_inverted_cdf`, computed on a random subsample of
//!   200 000 rows when there are more, as scikit-learn 1.9 does); missing values (NaN) get one
//!   extra bin.
//! - Losses: half squared error (regression, baseline = mean), binary log loss (baseline = log
//!   odds), multiclass softmax (one tree per class and iteration, baseline = log priors).
//! - Trees grow leaf-wise: the leaf with the largest gain splits next, until `max_leaf_nodes`
//!   leaves, `max_depth`, or no split with positive gain leaves each child at least
//!   `min_samples_leaf` samples and hessian sum 1e-3. Gain and leaf values use
//!   `l2_regularization`; leaf values are scaled by `learning_rate`. As in scikit-learn, the
//!   root's gradient total is numpy's pairwise sum of feature 0's histogram, and when a child
//!   may split, one child is built from its samples (the left one if it has strictly fewer
//!   samples, else the right one) and its sibling's histogram is the parent's minus it.
//! - Gradients and hessians are stored as `f32` (histogram sums are `f64`), as in scikit-learn;
//!   this reproduces scikit-learn's trees split for split on the test fixtures.
//! - Missing values: if a column had NaNs at fit, every split tries sending them left and right
//!   and keeps the better; otherwise NaNs at predict go left iff the left child had strictly
//!   more samples.
//! - Early stopping (scoring `"loss"` only): `"auto"` turns it on above 10 000 rows. It holds out
//!   `validation_fraction` of the rows (stratified by class for classification; our own random
//!   split, so not scikit-learn's rows), fits the bins and trees on the rest, and stops once the
//!   last `n_iter_no_change` validation losses do not beat the one before them by more than
//!   `tol`; with `validation_fraction = null` it scores the training loss (deterministic, and
//!   then identical to scikit-learn). The trees of those last iterations are kept, as there.
//! - Not implemented: native categorical splits (categoricals arrive one-hot encoded), other
//!   early-stopping scorers, monotonic and interaction constraints, sample weights.
//!
//! Parallelism (rayon): histograms and split finding run over feature groups (one per thread;
//! each bin still sums its samples in order, so results do not depend on the thread count),
//! large nodes are partitioned in parallel chunks (branch-free, stable), gradients and raw-score
//! updates run over row chunks, and the trees of one multiclass iteration grow in parallel.
//! Histogram buffers and index buffers are reused across nodes and iterations.

use std::borrow::Cow;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::rng::Rng;
use super::{Algorithm, HandleUnknown, Result, TabularError, bad_param, sigmoid};

/// Rows used to compute bin thresholds (scikit-learn's `subsample` of `_BinMapper`).
const BIN_SUBSAMPLE: usize = 200_000;
/// Above this many rows, `early_stopping = "auto"` turns early stopping on.
const AUTO_EARLY_STOPPING_ROWS: usize = 10_000;
/// Smallest hessian sum of a child (scikit-learn's `min_hessian_to_split`).
const MIN_HESSIAN: f64 = 1e-3;
/// Histogram slots per feature: up to 255 value bins and the missing bin.
const SLOTS: usize = 256;

/// Params of [`Algorithm::Gbdt`] (scikit-learn's `HistGradientBoosting*` defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GbdtParams {
    /// Shrinkage of each tree's leaf values, `> 0`. Default 0.1.
    pub learning_rate: f64,
    /// Boosting iterations (trees per class), `>= 1`. Default 100.
    pub max_iter: usize,
    /// Maximum leaves per tree, `>= 2`, or `null` for no limit. Default 31.
    pub max_leaf_nodes: Option<usize>,
    /// Maximum depth (edges from the root), `>= 1`, or `null` for no limit. Default `null`.
    pub max_depth: Option<usize>,
    /// Minimum samples per leaf, `>= 1`. Default 20.
    pub min_samples_leaf: usize,
    /// L2 penalty on leaf values, `>= 0`. Default 0.
    pub l2_regularization: f64,
    /// Bins for non-missing values per column, in `2..=255`. Default 255.
    pub max_bins: usize,
    /// Early stopping: `"auto"` (default: on when there are more than 10 000 rows, as
    /// scikit-learn), `true` or `false`.
    pub early_stopping: EarlyStopping,
    /// Share of the rows held out (stratified for classification) to score early stopping, in
    /// `(0, 1)`; `null` scores on the training loss instead. Default 0.1.
    pub validation_fraction: Option<f64>,
    /// Stop when the last `n_iter_no_change` scores do not beat the one before them by more
    /// than `tol`, `>= 1`. Default 10.
    pub n_iter_no_change: usize,
    /// Improvement tolerance of early stopping (on the mean loss), finite and `>= 0`. Default 1e-7.
    pub tol: f64,
    /// Seed of the binning subsample (above 200 000 rows) and of the early-stopping split;
    /// `null` = random. Default `null`.
    pub random_state: Option<u64>,
    /// Unseen categories at predict: `"error"` (default) or `"ignore"`.
    pub handle_unknown: HandleUnknown,
}

impl Default for GbdtParams {
    fn default() -> Self {
        Self {
            learning_rate: 0.1,
            max_iter: 100,
            max_leaf_nodes: Some(31),
            max_depth: None,
            min_samples_leaf: 20,
            l2_regularization: 0.0,
            max_bins: 255,
            early_stopping: EarlyStopping::Named(EarlyStoppingName::Auto),
            validation_fraction: Some(0.1),
            n_iter_no_change: 10,
            tol: 1e-7,
            random_state: None,
            handle_unknown: HandleUnknown::Error,
        }
    }
}

impl GbdtParams {
    pub(crate) fn validate(&self) -> Result<()> {
        let a = Algorithm::Gbdt;
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(bad_param(
                a,
                "learning_rate",
                self.learning_rate,
                "a finite number > 0",
            ));
        }
        if self.max_iter == 0 {
            return Err(bad_param(a, "max_iter", self.max_iter, "an integer >= 1"));
        }
        if let Some(v) = self.max_leaf_nodes
            && v < 2
        {
            return Err(bad_param(a, "max_leaf_nodes", v, "an integer >= 2 or null"));
        }
        if let Some(v) = self.max_depth
            && v < 1
        {
            return Err(bad_param(a, "max_depth", v, "an integer >= 1 or null"));
        }
        if self.min_samples_leaf == 0 {
            return Err(bad_param(a, "min_samples_leaf", 0, "an integer >= 1"));
        }
        if !(self.l2_regularization.is_finite() && self.l2_regularization >= 0.0) {
            return Err(bad_param(
                a,
                "l2_regularization",
                self.l2_regularization,
                "a finite number >= 0",
            ));
        }
        if !(2..=255).contains(&self.max_bins) {
            return Err(bad_param(
                a,
                "max_bins",
                self.max_bins,
                "an integer in [2, 255]",
            ));
        }
        if let Some(f) = self.validation_fraction
            && !(f > 0.0 && f < 1.0)
        {
            return Err(bad_param(
                a,
                "validation_fraction",
                f,
                "a number in (0, 1) or null",
            ));
        }
        if self.n_iter_no_change == 0 {
            return Err(bad_param(a, "n_iter_no_change", 0, "an integer >= 1"));
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(bad_param(a, "tol", self.tol, "a finite number >= 0"));
        }
        Ok(())
    }

    /// Whether early stopping runs for `n` rows.
    fn early_stopping_on(&self, n: usize) -> bool {
        match self.early_stopping {
            EarlyStopping::Flag(on) => on,
            EarlyStopping::Named(EarlyStoppingName::Auto) => n > AUTO_EARLY_STOPPING_ROWS,
        }
    }
}

/// `early_stopping`: a boolean or `"auto"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EarlyStopping {
    /// `true` or `false`.
    Flag(bool),
    /// `"auto"`.
    Named(EarlyStoppingName),
}

/// The named `early_stopping` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EarlyStoppingName {
    /// On above 10 000 rows.
    Auto,
}

/// A tree node; children are indices into the tree's node list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum TreeNode<L> {
    /// `x[feature] <= threshold` goes left; NaN goes left iff `missing_left`.
    Split {
        feature: u32,
        threshold: f64,
        missing_left: bool,
        left: u32,
        right: u32,
    },
    /// A leaf's value (boosting: the additive raw score; forests: the prediction vector).
    Leaf(L),
}

/// Checks that `nodes` is a tree rooted at 0 with in-range features and children pointing forward.
pub(crate) fn validate_nodes<L>(nodes: &[TreeNode<L>], width: usize, what: &str) -> Result<()> {
    if nodes.is_empty() {
        return Err(TabularError::InvalidModel(format!("{what}: empty tree")));
    }
    for (i, node) in nodes.iter().enumerate() {
        if let TreeNode::Split {
            feature,
            left,
            right,
            threshold,
            ..
        } = node
            && (*feature as usize >= width
                || *left as usize <= i
                || *right as usize <= i
                || *left as usize >= nodes.len()
                || *right as usize >= nodes.len()
                || threshold.is_nan())
        {
            return Err(TabularError::InvalidModel(format!(
                "{what}: node {i} has an out-of-range feature or child"
            )));
        }
    }
    Ok(())
}

/// The leaf index a row reaches in `nodes` (validated); `value(j)` is the row's design column `j`.
pub(crate) fn leaf_of<L>(nodes: &[TreeNode<L>], value: impl Fn(usize) -> f64) -> usize {
    let mut i = 0;
    while let TreeNode::Split {
        feature,
        threshold,
        missing_left,
        left,
        right,
    } = &nodes[i]
    {
        let v = value(*feature as usize);
        let go_left = if v.is_nan() {
            *missing_left
        } else {
            v <= *threshold
        };
        i = if go_left { *left } else { *right } as usize;
    }
    i
}

/// Rows `first..first + rows` of the column-major `x`, row-major.
pub(crate) fn row_block(x: &[Vec<f64>], first: usize, rows: usize) -> Vec<f64> {
    let p = x.len();
    let mut out = vec![0.0; rows * p];
    for (j, col) in x.iter().enumerate() {
        for (r, v) in col[first..first + rows].iter().enumerate() {
            out[r * p + j] = *v;
        }
    }
    out
}

/// Fitted boosting model: baseline raw scores and trees (tree `t` adds to score `t % scores`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GbdtModel {
    baseline: Vec<f64>,
    trees: Vec<Vec<TreeNode<f64>>>,
}

impl GbdtModel {
    pub(crate) fn validate(&self, width: usize, n_classes: Option<usize>) -> Result<()> {
        let k = scores_for(n_classes);
        if self.baseline.len() != k || !self.trees.len().is_multiple_of(k) {
            return Err(TabularError::InvalidModel(format!(
                "gbdt model needs {k} baseline scores and a multiple of {k} trees"
            )));
        }
        for (t, tree) in self.trees.iter().enumerate() {
            validate_nodes(tree, width, &format!("gbdt tree {t}"))?;
        }
        Ok(())
    }

    /// Raw scores per row (one per score column). Rows go in row-major blocks, tree by tree.
    pub(crate) fn predict_raw(&self, x: &[Vec<f64>], n: usize) -> Vec<Vec<f64>> {
        const BLOCK: usize = 512;
        let k = self.baseline.len();
        let p = x.len();
        let mut out = vec![0.0; n * k];
        out.par_chunks_mut(k * BLOCK)
            .enumerate()
            .for_each(|(b, raw)| {
                let rows = raw.len() / k;
                let xb = row_block(x, b * BLOCK, rows);
                for r in raw.chunks_exact_mut(k) {
                    r.copy_from_slice(&self.baseline);
                }
                for (t, tree) in self.trees.iter().enumerate() {
                    for (r, raw_r) in raw.chunks_exact_mut(k).enumerate() {
                        let row = &xb[r * p..(r + 1) * p];
                        if let TreeNode::Leaf(v) = tree[leaf_of(tree, |j| row[j])] {
                            raw_r[t % k] += v;
                        }
                    }
                }
            });
        out.chunks_exact(k).map(<[f64]>::to_vec).collect()
    }
}

fn scores_for(n_classes: Option<usize>) -> usize {
    match n_classes {
        None | Some(2) => 1,
        Some(k) => k,
    }
}

/// What to fit.
pub(crate) enum GbdtTarget<'a> {
    Regression(&'a [f64]),
    /// Class codes and the number of classes (>= 2).
    Classes(&'a [usize], usize),
}

/// Binned design matrix.
struct Binned {
    /// Bin per row and feature, row-major (`n_features` bytes per row), so that one cache line
    /// serves several features when a node's histograms are built from scattered rows.
    rows: Vec<u8>,
    n_features: usize,
    /// Upper edges of the non-missing bins but the last, per feature.
    thresholds: Vec<Vec<f64>>,
    /// Whether the feature had NaNs at fit.
    has_missing: Vec<bool>,
    /// Bin index of missing values (`max_bins`).
    missing_bin: usize,
}

fn bin_features(x: &[Vec<f64>], max_bins: usize, rng: &mut Rng) -> Binned {
    let n = x.first().map_or(0, Vec::len);
    let p = x.len();
    let sample: Option<Vec<usize>> = (n > BIN_SUBSAMPLE).then(|| {
        let mut idx: Vec<usize> = (0..n).collect();
        for i in 0..BIN_SUBSAMPLE {
            let j = i + rng.below(n - i);
            idx.swap(i, j);
        }
        idx.truncate(BIN_SUBSAMPLE);
        idx
    });
    let per_feature: Vec<(Vec<u8>, Vec<f64>, bool)> = x
        .par_iter()
        .map(|col| {
            let mut values: Vec<f64> = match &sample {
                Some(idx) => idx
                    .iter()
                    .map(|&i| col[i])
                    .filter(|v| !v.is_nan())
                    .collect(),
                None => col.iter().copied().filter(|v| !v.is_nan()).collect(),
            };
            sort_floats(&mut values);
            let thresholds = bin_thresholds(&values, max_bins);
            let mut has_missing = false;
            let bins = col
                .iter()
                .map(|v| {
                    if v.is_nan() {
                        has_missing = true;
                        max_bins as u8
                    } else {
                        thresholds.partition_point(|t| t < v) as u8
                    }
                })
                .collect();
            (bins, thresholds, has_missing)
        })
        .collect();
    let mut rows = vec![0u8; n * p];
    rows.par_chunks_mut(p.max(1))
        .enumerate()
        .for_each(|(i, row)| {
            for (r, (bins, _, _)) in row.iter_mut().zip(&per_feature) {
                *r = bins[i];
            }
        });
    let (thresholds, has_missing) = per_feature.into_iter().map(|(_, t, m)| (t, m)).unzip();
    Binned {
        rows,
        n_features: p,
        thresholds,
        has_missing,
        missing_bin: max_bins,
    }
}

/// Sorts non-NaN floats ascending (as `total_cmp`) by sorting their order-preserving integer
/// keys, about twice as fast as comparing floats.
fn sort_floats(values: &mut [f64]) {
    const SIGN: u64 = 1 << 63;
    let key = |v: f64| {
        let b = v.to_bits();
        if b & SIGN != 0 { !b } else { b | SIGN }
    };
    let mut keys: Vec<u64> = values.iter().map(|v| key(*v)).collect();
    keys.sort_unstable();
    for (v, k) in values.iter_mut().zip(keys) {
        *v = f64::from_bits(if k & SIGN != 0 { k & !SIGN } else { !k });
    }
}

/// Bin edges for sorted non-missing `values` (scikit-learn 1.9's `_find_binning_thresholds`):
/// midpoints of distinct values if there are at most `max_bins`, else the percentiles
/// `100·i/max_bins` (`i = 1..max_bins`) by numpy's `averaged_inverted_cdf` method, deduplicated.
fn bin_thresholds(sorted: &[f64], max_bins: usize) -> Vec<f64> {
    let mut distinct: Vec<f64> = sorted.to_vec();
    distinct.dedup();
    if distinct.len() <= max_bins {
        return distinct.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect();
    }
    let n = sorted.len();
    let step = 100.0 / max_bins as f64;
    let at = |i: usize| sorted[i.min(n - 1)];
    let mut out: Vec<f64> = (1..max_bins)
        .map(|i| {
            // numpy: virtual index n·q − 1; an exact integer averages two order statistics.
            let q = (i as f64 * step) / 100.0;
            let virtual_index = n as f64 * q - 1.0;
            let prev = virtual_index.floor();
            let lo = if prev < 0.0 { 0 } else { prev as usize };
            let (a, b) = (at(lo), at(lo + 1));
            if virtual_index - prev == 0.0 {
                a + (b - a) * 0.5
            } else {
                b
            }
        })
        .collect();
    out.dedup();
    out
}

/// Gradient, sample and hessian sums of one histogram bin. The count is an `f64` (exact below
/// 2^53) next to the gradient sum, so that both are updated by one two-lane vector addition.
#[derive(Clone, Copy, Default)]
#[repr(C, align(16))]
struct Bin {
    g: f64,
    n: f64,
    h: f64,
}

/// One feature's histogram: the value bins `0..max_bins`, the missing bin `max_bins`, then
/// unused zero slots (a fixed size, so that indexing by a `u8` bin needs no bounds check).
type FeatureHist = [Bin; SLOTS];

#[derive(Clone, Copy, Default)]
struct Sums {
    g: f64,
    h: f64,
    n: usize,
}

impl Sums {
    fn add(&mut self, b: &Bin) {
        self.g += b.g;
        self.h += b.h;
        self.n += b.n as usize;
    }

    fn minus(&self, o: &Sums) -> Sums {
        Sums {
            g: self.g - o.g,
            h: self.h - o.h,
            n: self.n - o.n,
        }
    }
}

#[derive(Clone, Copy)]
struct SplitInfo {
    gain: f64,
    feature: usize,
    /// Non-missing bins `<= bin` go left.
    bin: usize,
    missing_left: bool,
    left: Sums,
    right: Sums,
}

/// The better of two splits: `b` only if its gain is strictly larger, so that among equal gains
/// the one found first in scan order (`a`) wins.
fn better(a: Option<SplitInfo>, b: Option<SplitInfo>) -> Option<SplitInfo> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.gain > x.gain { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

/// numpy's pairwise summation of `f` over `bins` (what `np.sum` gives for a float64 array:
/// 8 interleaved partial sums for up to 128 values, halves at multiples of 8 above that).
fn pairwise_sum(bins: &[Bin], f: fn(&Bin) -> f64) -> f64 {
    const BLOCK: usize = 128;
    let n = bins.len();
    if n < 8 {
        bins.iter().fold(0.0, |s, b| s + f(b))
    } else if n <= BLOCK {
        let mut r = [0.0; 8];
        for (rj, b) in r.iter_mut().zip(bins) {
            *rj = f(b);
        }
        let whole = n - n % 8;
        for chunk in bins[8..whole].chunks_exact(8) {
            for (rj, b) in r.iter_mut().zip(chunk) {
                *rj += f(b);
            }
        }
        let mut sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for b in &bins[whole..] {
            sum += f(b);
        }
        sum
    } else {
        let half = n / 2 - (n / 2) % 8;
        pairwise_sum(&bins[..half], f) + pairwise_sum(&bins[half..], f)
    }
}

/// A grown tree: its nodes and, per leaf, the sample range in the index buffer and the value.
type Grown = (Vec<TreeNode<f64>>, Vec<(usize, usize, f64)>);

/// A leaf that may still split.
struct Candidate {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    /// Gradient, hessian and sample totals of the node.
    sums: Sums,
    hist: Vec<FeatureHist>,
    split: SplitInfo,
}

/// A child of a node just split: its node, sample range, totals and whether it may split.
struct Child {
    node: usize,
    start: usize,
    end: usize,
    sums: Sums,
    may_split: bool,
}

/// Buffers of one tree's growth, kept across boosting iterations so that growing allocates
/// little: the sample indices (each leaf ends as a contiguous ascending range), the partition
/// scratch and spare histograms.
#[derive(Default)]
struct Workspace {
    idx: Vec<u32>,
    scratch: Vec<u32>,
    spare: Vec<Vec<FeatureHist>>,
}

impl Workspace {
    /// A histogram buffer for `p` features (contents unspecified).
    fn histogram(&mut self, p: usize) -> Vec<FeatureHist> {
        self.spare
            .pop()
            .unwrap_or_else(|| vec![[Bin::default(); SLOTS]; p])
    }
}

/// Nodes with at least this many samples are partitioned in parallel chunks.
const PARALLEL_PARTITION: usize = 1 << 15;

/// Fixed inputs of tree growing.
struct Grower<'a> {
    data: &'a Binned,
    params: &'a GbdtParams,
    /// Hessians are all 1 (squared error): histograms count instead of summing them.
    constant_hessian: bool,
    /// Features per parallel task of histogram building and split finding.
    group: usize,
}

impl Grower<'_> {
    fn n_features(&self) -> usize {
        self.data.n_features
    }

    /// Overwrites `hist`, the histograms of features `f0..f0 + hist.len()`, with the sums over
    /// the samples `idx` (`None` = all rows in order). Every bin adds its samples in order, so
    /// the result does not depend on the number of threads; with constant hessians the hessian
    /// sums are the counts, as in scikit-learn. The bins of a sample's features are adjacent in
    /// the row-major bin matrix, so a scattered sample costs one cache line per feature group.
    fn fill(&self, hist: &mut [FeatureHist], f0: usize, idx: Option<&[u32]>, g: &[f32], h: &[f32]) {
        if self.constant_hessian {
            self.fill_with::<false>(hist, f0, idx, g, h);
        } else {
            self.fill_with::<true>(hist, f0, idx, g, h);
        }
    }

    fn fill_with<const HESSIAN: bool>(
        &self,
        hist: &mut [FeatureHist],
        f0: usize,
        idx: Option<&[u32]>,
        g: &[f32],
        h: &[f32],
    ) {
        for fh in hist.iter_mut() {
            fh.fill(Bin::default());
        }
        let p = self.n_features();
        let width = hist.len();
        let rows = &self.data.rows;
        let mut add = |i: usize, gi: f64, hi: f64| {
            for (fh, &b) in hist.iter_mut().zip(&rows[i * p + f0..i * p + f0 + width]) {
                let bin = &mut fh[usize::from(b)];
                bin.g += gi;
                bin.n += 1.0;
                if HESSIAN {
                    bin.h += hi;
                }
            }
        };
        match idx {
            Some(idx) => {
                for &i in idx {
                    let i = i as usize;
                    add(
                        i,
                        f64::from(g[i]),
                        if HESSIAN { f64::from(h[i]) } else { 0.0 },
                    );
                }
            }
            None => {
                for (i, (gi, hi)) in g.iter().zip(h).enumerate() {
                    add(i, f64::from(*gi), f64::from(*hi));
                }
            }
        }
        if !HESSIAN {
            for b in hist.iter_mut().flat_map(|fh| fh.iter_mut()) {
                b.h = b.n;
            }
        }
    }

    fn gain_term(&self, s: &Sums) -> f64 {
        s.g * s.g / (s.h + self.params.l2_regularization)
    }

    /// The best split over features `f0..f0 + hist.len()` of a node with totals `total`, if any
    /// has positive gain; among equal gains the first in scan order wins.
    fn best_split(&self, hist: &[FeatureHist], f0: usize, total: &Sums) -> Option<SplitInfo> {
        let msl = self.params.min_samples_leaf;
        let parent = self.gain_term(total);
        let mut best: Option<SplitInfo> = None;
        let mut consider = |feature: usize, bin: usize, missing_left: bool, left: Sums| {
            let right = total.minus(&left);
            if left.n < msl || right.n < msl || left.h < MIN_HESSIAN || right.h < MIN_HESSIAN {
                return;
            }
            let gain = self.gain_term(&left) + self.gain_term(&right) - parent;
            if gain > 0.0 && best.is_none_or(|b| gain > b.gain) {
                best = Some(SplitInfo {
                    gain,
                    feature,
                    bin,
                    missing_left,
                    left,
                    right,
                });
            }
        };
        for (k, hf) in hist.iter().enumerate() {
            let feature = f0 + k;
            let n_bins = self.data.thresholds[feature].len() + 1;
            let has_missing = self.data.has_missing[feature];
            // Missing values go right; with missing values, also "all non-missing left".
            let mut left = Sums::default();
            let end = if has_missing { n_bins } else { n_bins - 1 };
            for (bin, b) in hf.iter().enumerate().take(end) {
                left.add(b);
                consider(feature, bin, false, left);
            }
            if has_missing {
                // Missing values go left: scan from the top as scikit-learn does, so that among
                // equal gains (empty bins) the highest threshold wins, as there.
                let mut right = Sums::default();
                for bin in (0..n_bins - 1).rev() {
                    right.add(&hf[bin + 1]);
                    consider(feature, bin, true, total.minus(&right));
                }
            }
        }
        best
    }

    fn may_split(&self, n: usize, depth: usize) -> bool {
        n >= 2 * self.params.min_samples_leaf && self.params.max_depth.is_none_or(|d| depth < d)
    }

    /// Builds the root's histogram into `hist` (all `g.len()` rows) and returns the root's totals
    /// and, if it may split, its best split. The totals are scikit-learn's: the pairwise sum
    /// of feature 0's `max_bins + 1` bins (the count for constant hessians).
    fn root(&self, hist: &mut [FeatureHist], g: &[f32], h: &[f32]) -> (Sums, Option<SplitInfo>) {
        let n = g.len();
        let group = self.group;
        hist.par_chunks_mut(group)
            .enumerate()
            .for_each(|(k, hg)| self.fill(hg, k * group, None, g, h));
        let total = match hist.first() {
            Some(h0) => {
                let bins = &h0[..=self.data.missing_bin];
                Sums {
                    g: pairwise_sum(bins, |b| b.g),
                    h: if self.constant_hessian {
                        n as f64
                    } else {
                        pairwise_sum(bins, |b| b.h)
                    },
                    n,
                }
            }
            None => Sums {
                g: g.iter().map(|&v| f64::from(v)).sum(),
                h: h.iter().map(|&v| f64::from(v)).sum(),
                n,
            },
        };
        if !self.may_split(n, 0) {
            return (total, None);
        }
        let found: Vec<Option<SplitInfo>> = hist
            .par_chunks(group)
            .enumerate()
            .map(|(k, hg)| self.best_split(hg, k * group, &total))
            .collect();
        (total, found.into_iter().fold(None, better))
    }

    /// Histograms and best splits of the two children of a split node, as scikit-learn does:
    /// the child with fewer samples (`small`, into `small_hist`) from its samples in `idx`,
    /// the other (`large`) as the parent's histogram minus it, in place in `parent_hist` (only
    /// when `large` may split). Feature groups go in parallel. Returns the best split of each
    /// (`None` if it may not split or has no split with positive gain).
    fn children(
        &self,
        (g, h): (&[f32], &[f32]),
        idx: &[u32],
        parent_hist: &mut [FeatureHist],
        small_hist: &mut [FeatureHist],
        small: &Child,
        large: &Child,
    ) -> (Option<SplitInfo>, Option<SplitInfo>) {
        let group = self.group;
        let samples = &idx[small.start..small.end];
        let found: Vec<(Option<SplitInfo>, Option<SplitInfo>)> = small_hist
            .par_chunks_mut(group)
            .zip(parent_hist.par_chunks_mut(group))
            .enumerate()
            .map(|(k, (sg, pg))| {
                let f0 = k * group;
                self.fill(sg, f0, Some(samples), g, h);
                let best_small = if small.may_split {
                    self.best_split(sg, f0, &small.sums)
                } else {
                    None
                };
                if !large.may_split {
                    return (best_small, None);
                }
                for (pf, sf) in pg.iter_mut().zip(sg.iter()) {
                    for (a, b) in pf.iter_mut().zip(sf) {
                        a.g -= b.g;
                        a.h -= b.h;
                        a.n -= b.n;
                    }
                }
                (best_small, self.best_split(pg, f0, &large.sums))
            })
            .collect();
        found.into_iter().fold((None, None), |(s, l), (fs, fl)| {
            (better(s, fs), better(l, fl))
        })
    }

    /// Grows one tree on gradients `g` and hessians `h`; returns the nodes and, per leaf, the
    /// sample range in `ws.idx` and the leaf value.
    fn grow(&self, g: &[f32], h: &[f32], ws: &mut Workspace) -> Grown {
        let n = g.len();
        let p = self.n_features();
        ws.idx.clear();
        ws.idx.extend(0..n as u32);
        ws.scratch.resize(n, 0);
        let lr = self.params.learning_rate;
        let l2 = self.params.l2_regularization;
        let leaf_value = |s: &Sums| -lr * s.g / (s.h + l2 + 1e-15);
        let max_leaves = self.params.max_leaf_nodes.unwrap_or(usize::MAX);
        let mut nodes = vec![TreeNode::Leaf(0.0)];
        let mut leaves: Vec<(usize, usize, f64)> = Vec::new();
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut finish =
            |nodes: &mut Vec<TreeNode<f64>>, node: usize, start: usize, end: usize, s: &Sums| {
                let v = leaf_value(s);
                nodes[node] = TreeNode::Leaf(v);
                leaves.push((start, end, v));
            };
        let mut hist = ws.histogram(p);
        match self.root(&mut hist, g, h) {
            (total, Some(split)) => candidates.push(Candidate {
                node: 0,
                start: 0,
                end: n,
                depth: 0,
                sums: total,
                hist,
                split,
            }),
            (total, None) => {
                finish(&mut nodes, 0, 0, n, &total);
                ws.spare.push(hist);
            }
        }
        let mut n_leaves = 1;
        while n_leaves < max_leaves && !candidates.is_empty() {
            let pick = (0..candidates.len())
                .reduce(|a, b| {
                    if candidates[b].split.gain > candidates[a].split.gain {
                        b
                    } else {
                        a
                    }
                })
                .unwrap_or(0);
            let Candidate {
                node,
                start,
                end,
                depth,
                mut hist,
                split: s,
                ..
            } = candidates.swap_remove(pick);
            let mid =
                start + self.partition(&mut ws.idx[start..end], &s, &mut ws.scratch[..end - start]);
            let (left, right) = (nodes.len(), nodes.len() + 1);
            nodes.push(TreeNode::Leaf(0.0));
            nodes.push(TreeNode::Leaf(0.0));
            let missing_left = if self.data.has_missing[s.feature] {
                s.missing_left
            } else {
                // scikit-learn: missing values at predict follow the strictly larger child.
                s.left.n > s.right.n
            };
            nodes[node] = TreeNode::Split {
                feature: s.feature as u32,
                threshold: self.data.thresholds[s.feature]
                    .get(s.bin)
                    .copied()
                    .unwrap_or(f64::MAX),
                missing_left,
                left: left as u32,
                right: right as u32,
            };
            n_leaves += 1;
            let depth = depth + 1;
            let room = n_leaves < max_leaves;
            let child = |node: usize, start: usize, end: usize, sums: Sums| Child {
                node,
                start,
                end,
                sums,
                may_split: room && self.may_split(end - start, depth),
            };
            let left = child(left, start, mid, s.left);
            let right = child(right, mid, end, s.right);
            if !(left.may_split || right.may_split) {
                finish(&mut nodes, left.node, left.start, left.end, &left.sums);
                finish(&mut nodes, right.node, right.start, right.end, &right.sums);
                ws.spare.push(hist);
                continue;
            }
            // scikit-learn builds the left child from its samples only if it has strictly fewer.
            let left_small = left.end - left.start < right.end - right.start;
            let mut small_hist = ws.histogram(p);
            let (small, large) = if left_small {
                (&left, &right)
            } else {
                (&right, &left)
            };
            let (best_small, best_large) =
                self.children((g, h), &ws.idx, &mut hist, &mut small_hist, small, large);
            let (outcome_left, outcome_right) = if left_small {
                ((small_hist, best_small), (hist, best_large))
            } else {
                ((hist, best_large), (small_hist, best_small))
            };
            for (c, (hist, split)) in [(left, outcome_left), (right, outcome_right)] {
                match split {
                    Some(split) => candidates.push(Candidate {
                        node: c.node,
                        start: c.start,
                        end: c.end,
                        depth,
                        sums: c.sums,
                        hist,
                        split,
                    }),
                    None => {
                        finish(&mut nodes, c.node, c.start, c.end, &c.sums);
                        ws.spare.push(hist);
                    }
                }
            }
        }
        for c in candidates {
            finish(&mut nodes, c.node, c.start, c.end, &c.sums);
            ws.spare.push(c.hist);
        }
        (nodes, leaves)
    }

    /// Stable partition of `idx` by `split` (the samples going left first, each side in
    /// order), using `scratch` (as long as `idx`); returns the number going left. Branch-free;
    /// nodes of at least [`PARALLEL_PARTITION`] samples go in parallel chunks.
    fn partition(&self, idx: &mut [u32], split: &SplitInfo, scratch: &mut [u32]) -> usize {
        let p = self.n_features();
        let rows = &self.data.rows;
        let mut left_of = [false; SLOTS];
        for (b, l) in left_of.iter_mut().enumerate() {
            *l = if b == self.data.missing_bin {
                split.missing_left
            } else {
                b <= split.bin
            };
        }
        let goes_left = |i: u32| left_of[usize::from(rows[i as usize * p + split.feature])];
        if idx.len() < PARALLEL_PARTITION {
            let n_left = split_in_two(idx, scratch, goes_left);
            let (lefts, rights) = idx.split_at_mut(n_left);
            unsplit(&scratch[..], lefts, rights);
            return n_left;
        }
        let chunk = idx
            .len()
            .div_ceil(4 * rayon::current_num_threads())
            .max(PARALLEL_PARTITION / 4);
        let counts: Vec<usize> = idx
            .par_chunks(chunk)
            .zip(scratch.par_chunks_mut(chunk))
            .map(|(src, dst)| split_in_two(src, dst, goes_left))
            .collect();
        let n_left = counts.iter().sum();
        let (mut lefts, mut rights) = idx.split_at_mut(n_left);
        let mut jobs = Vec::with_capacity(counts.len());
        for (src, &k) in scratch.chunks(chunk).zip(&counts) {
            let (l, rest) = std::mem::take(&mut lefts).split_at_mut(k);
            lefts = rest;
            let (r, rest) = std::mem::take(&mut rights).split_at_mut(src.len() - k);
            rights = rest;
            jobs.push((src, l, r));
        }
        jobs.into_par_iter()
            .for_each(|(src, l, r)| unsplit(src, l, r));
        n_left
    }
}

/// Writes the samples of `src` going left to the front of `dst` in order and the others to
/// its back in reverse order, without branching on the side; returns the number going left.
fn split_in_two(src: &[u32], dst: &mut [u32], goes_left: impl Fn(u32) -> bool) -> usize {
    let (mut l, mut r) = (0, src.len());
    for &i in src {
        let left = goes_left(i);
        // Both slots are written; the one not kept is overwritten by a later sample.
        dst[l] = i;
        dst[r - 1] = i;
        l += usize::from(left);
        r -= usize::from(!left);
    }
    l
}

/// Copies a [`split_in_two`] result `src` into `lefts` (its front) and `rights` (its back,
/// reversed back into order).
fn unsplit(src: &[u32], lefts: &mut [u32], rights: &mut [u32]) {
    lefts.copy_from_slice(&src[..lefts.len()]);
    for (d, s) in rights.iter_mut().zip(src[lefts.len()..].iter().rev()) {
        *d = *s;
    }
}

/// Adds each leaf's value to the raw scores of its samples (`leaves`: ranges of `idx`, each
/// ascending), in parallel over blocks of rows.
fn add_leaves(raw: &mut [f64], idx: &[u32], leaves: &[(usize, usize, f64)]) {
    const BLOCK: usize = 1 << 14;
    raw.par_chunks_mut(BLOCK)
        .enumerate()
        .for_each(|(b, block)| {
            let lo = (b * BLOCK) as u32;
            let hi = lo + block.len() as u32;
            for &(start, end, v) in leaves {
                let samples = &idx[start..end];
                let from = samples.partition_point(|&i| i < lo);
                let to = samples.partition_point(|&i| i < hi);
                for &i in &samples[from..to] {
                    block[(i - lo) as usize] += v;
                }
            }
        });
}

/// Rows `idx` of the column-major `x`.
fn rows(x: &[Vec<f64>], idx: &[usize]) -> Vec<Vec<f64>> {
    x.par_iter()
        .map(|col| idx.iter().map(|&i| col[i]).collect())
        .collect()
}

/// Splits `0..n` into (train, validation) with `ceil(fraction · n)` validation rows, stratified by
/// `codes` when given (each class keeps at least one training row).
fn holdout(
    n: usize,
    fraction: f64,
    codes: Option<(&[usize], usize)>,
    rng: &mut Rng,
) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let n_val = ((fraction * n as f64).ceil() as usize).min(n.saturating_sub(1));
    let mut is_val = vec![false; n];
    match codes {
        None => order.iter().take(n_val).for_each(|&i| is_val[i] = true),
        Some((codes, k)) => {
            let mut count = vec![0usize; k];
            codes.iter().for_each(|&c| count[c] += 1);
            // Largest-remainder allocation of the validation rows to classes.
            let exact: Vec<f64> = count
                .iter()
                .map(|&c| c as f64 * n_val as f64 / n as f64)
                .collect();
            let mut quota: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
            let mut by_remainder: Vec<usize> = (0..k).collect();
            by_remainder.sort_by(|&a, &b| {
                (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor()))
            });
            let mut left = n_val.saturating_sub(quota.iter().sum::<usize>());
            for &c in by_remainder.iter().cycle().take(k * 2) {
                if left == 0 {
                    break;
                }
                if quota[c] + 1 < count[c] {
                    quota[c] += 1;
                    left -= 1;
                }
            }
            for c in 0..k {
                quota[c] = quota[c].min(count[c].saturating_sub(1));
            }
            for &i in &order {
                if quota[codes[i]] > 0 {
                    quota[codes[i]] -= 1;
                    is_val[i] = true;
                }
            }
        }
    }
    (0..n).partition(|&i| !is_val[i])
}

/// Held-out rows for early stopping: design and target.
type Validation = (Vec<Vec<f64>>, Owned);

/// The owned training target.
enum Owned {
    Regression(Vec<f64>),
    Classes(Vec<usize>, usize),
}

impl Owned {
    fn view(&self) -> GbdtTarget<'_> {
        match self {
            Owned::Regression(y) => GbdtTarget::Regression(y),
            Owned::Classes(c, k) => GbdtTarget::Classes(c, *k),
        }
    }

    fn subset(&self, idx: &[usize]) -> Owned {
        match self {
            Owned::Regression(y) => Owned::Regression(idx.iter().map(|&i| y[i]).collect()),
            Owned::Classes(c, k) => Owned::Classes(idx.iter().map(|&i| c[i]).collect(), *k),
        }
    }
}

/// Mean loss at the raw scores (half squared error, binomial or multinomial log loss).
fn mean_loss(target: &GbdtTarget<'_>, raw: &[Vec<f64>]) -> f64 {
    let n = raw[0].len();
    let total: f64 = match target {
        GbdtTarget::Regression(y) => raw[0]
            .par_iter()
            .zip(*y)
            .map(|(r, y)| 0.5 * (y - r) * (y - r))
            .sum(),
        GbdtTarget::Classes(codes, 2) => raw[0]
            .par_iter()
            .zip(*codes)
            .map(|(r, &c)| {
                let softplus = if *r > 0.0 {
                    r + (-r).exp().ln_1p()
                } else {
                    r.exp().ln_1p()
                };
                softplus - if c == 1 { *r } else { 0.0 }
            })
            .sum(),
        GbdtTarget::Classes(codes, k) => (0..n)
            .into_par_iter()
            .map(|i| {
                let max = (0..*k).map(|c| raw[c][i]).fold(f64::NEG_INFINITY, f64::max);
                let lse = max + (0..*k).map(|c| (raw[c][i] - max).exp()).sum::<f64>().ln();
                lse - raw[codes[i]][i]
            })
            .sum(),
    };
    total / n as f64
}

/// scikit-learn's `_should_stop` on scores (negative losses, the first before any tree).
fn should_stop(scores: &[f64], n_iter_no_change: usize, tol: f64) -> bool {
    if scores.len() <= n_iter_no_change {
        return false;
    }
    let reference = scores[scores.len() - n_iter_no_change - 1] + tol;
    !scores[scores.len() - n_iter_no_change..]
        .iter()
        .any(|s| *s > reference)
}

/// Features per parallel task of histogram building and split finding: one task per rayon
/// thread, as every task reads the rows of the node (more, smaller tasks measured slower).
fn feature_group(p: usize) -> usize {
    p.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

/// Fits the boosting model on the column-major design `x` (NaN = missing).
pub(crate) fn fit(x: &[Vec<f64>], target: GbdtTarget<'_>, params: &GbdtParams) -> GbdtModel {
    let n_all = x.first().map_or(0, Vec::len);
    let rng = Rng::new(params.random_state);
    let owned = match target {
        GbdtTarget::Regression(y) => Owned::Regression(y.to_vec()),
        GbdtTarget::Classes(c, k) => Owned::Classes(c.to_vec(), k),
    };
    let early = params.early_stopping_on(n_all);
    // (training design, training target, validation design and target)
    let (x_train, train, val): (Cow<'_, [Vec<f64>]>, Owned, Option<Validation>) =
        match params.validation_fraction.filter(|_| early && n_all >= 2) {
            Some(fraction) => {
                let codes = match &owned {
                    Owned::Classes(c, k) => Some((c.as_slice(), *k)),
                    Owned::Regression(_) => None,
                };
                let (tr, va) = holdout(n_all, fraction, codes, &mut rng.fork(1));
                let val = (rows(x, &va), owned.subset(&va));
                (rows(x, &tr).into(), owned.subset(&tr), Some(val))
            }
            None => (x.into(), owned, None),
        };
    let x_train: &[Vec<f64>] = &x_train;
    let target = train.view();
    let n = x_train.first().map_or(0, Vec::len);
    let data = bin_features(x_train, params.max_bins, &mut rng.fork(0));
    let grower = Grower {
        data: &data,
        params,
        constant_hessian: matches!(target, GbdtTarget::Regression(_)),
        group: feature_group(data.n_features),
    };
    let (k, baseline): (usize, Vec<f64>) = match &target {
        GbdtTarget::Regression(y) => (1, vec![y.iter().sum::<f64>() / n as f64]),
        GbdtTarget::Classes(codes, n_classes) => {
            let mut counts = vec![0.0; *n_classes];
            for &c in *codes {
                counts[c] += 1.0;
            }
            let prior: Vec<f64> = counts.iter().map(|c| c / n as f64).collect();
            if *n_classes == 2 {
                (1, vec![(prior[1] / prior[0]).ln()])
            } else {
                let logs: Vec<f64> = prior.iter().map(|p| p.ln()).collect();
                let mean = logs.iter().sum::<f64>() / logs.len() as f64;
                (*n_classes, logs.iter().map(|l| l - mean).collect())
            }
        }
    };
    let mut raw: Vec<Vec<f64>> = baseline.iter().map(|b| vec![*b; n]).collect();
    let mut raw_val: Vec<Vec<f64>> = match &val {
        Some((xv, _)) => baseline.iter().map(|b| vec![*b; xv[0].len()]).collect(),
        None => Vec::new(),
    };
    let score = |raw: &[Vec<f64>], raw_val: &[Vec<f64>]| match &val {
        Some((_, yv)) => -mean_loss(&yv.view(), raw_val),
        None => -mean_loss(&target, raw),
    };
    let mut scores = Vec::new();
    if early {
        scores.push(score(&raw, &raw_val));
    }
    let mut grad = vec![vec![0.0f32; n]; k];
    let mut hess = vec![vec![1.0f32; n]; k];
    let mut workspaces: Vec<Workspace> = (0..k).map(|_| Workspace::default()).collect();
    let mut trees = Vec::with_capacity(params.max_iter * k);
    for _ in 0..params.max_iter {
        gradients(&target, &raw, &mut grad, &mut hess);
        let grown: Vec<Grown> = grad
            .par_iter()
            .zip(&hess)
            .zip(workspaces.par_iter_mut())
            .map(|((g, h), ws)| grower.grow(g, h, ws))
            .collect();
        for (c, (nodes, leaves)) in grown.into_iter().enumerate() {
            add_leaves(&mut raw[c], &workspaces[c].idx, &leaves);
            if let Some((xv, _)) = &val {
                raw_val[c].par_iter_mut().enumerate().for_each(|(row, r)| {
                    if let TreeNode::Leaf(v) = nodes[leaf_of(&nodes, |j| xv[j][row])] {
                        *r += v;
                    }
                });
            }
            trees.push(nodes);
        }
        if early {
            scores.push(score(&raw, &raw_val));
            if should_stop(&scores, params.n_iter_no_change, params.tol) {
                break;
            }
        }
    }
    GbdtModel { baseline, trees }
}

/// Gradients and hessians of the loss at the raw scores.
fn gradients(
    target: &GbdtTarget<'_>,
    raw: &[Vec<f64>],
    grad: &mut [Vec<f32>],
    hess: &mut [Vec<f32>],
) {
    match target {
        GbdtTarget::Regression(y) => {
            grad[0]
                .par_iter_mut()
                .zip(&raw[0])
                .zip(*y)
                .for_each(|((g, r), y)| *g = (r - y) as f32);
        }
        GbdtTarget::Classes(codes, 2) => {
            grad[0]
                .par_iter_mut()
                .zip(hess[0].par_iter_mut())
                .zip(&raw[0])
                .zip(*codes)
                .for_each(|(((g, h), r), &c)| {
                    let p = sigmoid(*r);
                    *g = (p - if c == 1 { 1.0 } else { 0.0 }) as f32;
                    *h = (p * (1.0 - p)) as f32;
                });
        }
        GbdtTarget::Classes(codes, k) => {
            let k = *k;
            let mut probs = vec![0.0; codes.len() * k];
            probs.par_chunks_mut(k).enumerate().for_each(|(i, p)| {
                let mut max = f64::NEG_INFINITY;
                for (c, pc) in p.iter_mut().enumerate() {
                    *pc = raw[c][i];
                    max = max.max(*pc);
                }
                let mut sum = 0.0;
                for pc in p.iter_mut() {
                    *pc = (*pc - max).exp();
                    sum += *pc;
                }
                p.iter_mut().for_each(|pc| *pc /= sum);
            });
            for c in 0..k {
                grad[c]
                    .par_iter_mut()
                    .zip(hess[c].par_iter_mut())
                    .zip(probs.par_chunks(k))
                    .zip(*codes)
                    .for_each(|(((g, h), p), &code)| {
                        *g = (p[c] - if code == c { 1.0 } else { 0.0 }) as f32;
                        *h = (p[c] * (1.0 - p[c])) as f32;
                    });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fitted trees must not depend on the number of rayon threads (feature groups, partition
    /// chunks and parallel trees are split by thread count; every sum keeps its order).
    #[test]
    fn fit_does_not_depend_on_the_thread_count() {
        let (n, p) = (70_000, 7);
        let mut rng = Rng::new(Some(7));
        let mut unit = move || rng.next_u64() as f64 / u64::MAX as f64;
        let mut x: Vec<Vec<f64>> = (0..p).map(|_| (0..n).map(|_| unit()).collect()).collect();
        for v in x[1].iter_mut().step_by(13) {
            *v = f64::NAN;
        }
        let signal: Vec<f64> = (0..n)
            .map(|i| x[0][i] * 3.0 + (x[2][i] * 6.0).sin() + x[3][i] * x[4][i] + 0.3 * unit())
            .collect();
        let y: Vec<f64> = signal.iter().map(|s| s - 1.5).collect();
        let classes: Vec<usize> = signal
            .iter()
            .map(|s| usize::from(*s > 1.3) + usize::from(*s > 2.0))
            .collect();
        let params = GbdtParams {
            max_iter: 15,
            early_stopping: EarlyStopping::Flag(false),
            ..GbdtParams::default()
        };
        let fit_on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool");
            pool.install(|| {
                (
                    fit(&x, GbdtTarget::Regression(&y), &params),
                    fit(&x, GbdtTarget::Classes(&classes, 3), &params),
                )
            })
        };
        let one = fit_on(1);
        assert_eq!(one, fit_on(2));
        assert_eq!(one, fit_on(3));
    }
}
