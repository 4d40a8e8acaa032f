//! Random forests like scikit-learn's `RandomForestRegressor` / `RandomForestClassifier`.
//!
//! Each tree is a CART tree grown to purity (by default) on a bootstrap sample (drawn with
//! replacement, `n` draws; a row drawn `c` times has weight `c`, as in scikit-learn), choosing at
//! each node the best exact split among `max_features` randomly drawn columns (constant columns
//! in the node do not count, as in scikit-learn). The criterion is squared error (regression) or
//! Gini impurity (classification), both weighted. Thresholds are midpoints between consecutive
//! distinct values. Missing values (NaN) are tried on both sides of every split, and the split
//! "non-missing left, missing right" is tried too; where a node had no missing values, NaNs at
//! predict go to the child with more samples. A regression forest predicts the mean of its trees;
//! a classifier averages the trees' class frequencies (`predict_proba`). Trees grow in parallel.
//!
//! The random streams differ from numpy's, so a seeded forest is reproducible within Esteira but
//! not equal to scikit-learn's forest for the same `random_state`.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::gbdt::{TreeNode, leaf_of, row_block, validate_nodes};
use super::rng::Rng;
use super::{Algorithm, HandleUnknown, Result, TabularError, bad_param};

/// sklearn's `FEATURE_THRESHOLD`: values closer than this are not split apart.
const FEATURE_THRESHOLD: f64 = 1e-7;

/// Named `max_features` rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxFeaturesName {
    /// `max(1, floor(sqrt(p)))`.
    Sqrt,
    /// `max(1, floor(log2(p)))`.
    Log2,
}

/// Columns drawn per split, as scikit-learn's `max_features` (`p` = design-matrix width).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MaxFeatures {
    /// A JSON integer: that many columns, in `1..=p`.
    Count(usize),
    /// A JSON float in `(0, 1]`: `max(1, floor(fraction · p))` columns.
    Fraction(f64),
    /// `"sqrt"` or `"log2"`.
    Name(MaxFeaturesName),
}

/// Params of [`Algorithm::RandomForest`] (scikit-learn's defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForestParams {
    /// Number of trees, `>= 1`. Default 100.
    pub n_estimators: usize,
    /// Maximum depth, `>= 1`, or `null` for none. Default `null`.
    pub max_depth: Option<usize>,
    /// Minimum samples to split a node, `>= 2`. Default 2.
    pub min_samples_split: usize,
    /// Minimum samples per leaf, `>= 1`. Default 1.
    pub min_samples_leaf: usize,
    /// Columns drawn per split. Default (`null`): `"sqrt"` for classification, `1.0` (all) for
    /// regression. Unlike scikit-learn, `null` does not mean "all": pass `1.0` for that.
    pub max_features: Option<MaxFeatures>,
    /// Bootstrap samples (true) or the whole data for every tree. Default true.
    pub bootstrap: bool,
    /// Seed; `null` = random per fit. Default `null`.
    pub random_state: Option<u64>,
    /// Unseen categories at predict: `"error"` (default) or `"ignore"`.
    pub handle_unknown: HandleUnknown,
}

impl Default for ForestParams {
    fn default() -> Self {
        Self {
            n_estimators: 100,
            max_depth: None,
            min_samples_split: 2,
            min_samples_leaf: 1,
            max_features: None,
            bootstrap: true,
            random_state: None,
            handle_unknown: HandleUnknown::Error,
        }
    }
}

impl ForestParams {
    /// Range checks; `width` is the design-matrix width (for `max_features` counts).
    pub(crate) fn validate(&self, width: usize) -> Result<()> {
        let a = Algorithm::RandomForest;
        if self.n_estimators == 0 {
            return Err(bad_param(a, "n_estimators", 0, "an integer >= 1"));
        }
        if let Some(d) = self.max_depth
            && d == 0
        {
            return Err(bad_param(a, "max_depth", 0, "an integer >= 1 or null"));
        }
        if self.min_samples_split < 2 {
            return Err(bad_param(
                a,
                "min_samples_split",
                self.min_samples_split,
                "an integer >= 2",
            ));
        }
        if self.min_samples_leaf == 0 {
            return Err(bad_param(a, "min_samples_leaf", 0, "an integer >= 1"));
        }
        match self.max_features {
            Some(MaxFeatures::Count(c)) if c == 0 || c > width => {
                return Err(bad_param(
                    a,
                    "max_features",
                    c,
                    &format!(
                        "an integer in [1, {width}] (the encoded width), a float in (0, 1], \"sqrt\" or \"log2\""
                    ),
                ));
            }
            Some(MaxFeatures::Fraction(f)) if !(f > 0.0 && f <= 1.0) => {
                return Err(bad_param(
                    a,
                    "max_features",
                    f,
                    "a float in (0, 1], an integer count, \"sqrt\" or \"log2\"",
                ));
            }
            _ => {}
        }
        Ok(())
    }

    fn resolved_max_features(&self, width: usize, classification: bool) -> usize {
        let rule = self.max_features.unwrap_or(if classification {
            MaxFeatures::Name(MaxFeaturesName::Sqrt)
        } else {
            MaxFeatures::Fraction(1.0)
        });
        let k = match rule {
            MaxFeatures::Count(c) => c,
            MaxFeatures::Fraction(f) => (f * width as f64) as usize,
            MaxFeatures::Name(MaxFeaturesName::Sqrt) => (width as f64).sqrt() as usize,
            MaxFeatures::Name(MaxFeaturesName::Log2) => (width as f64).log2() as usize,
        };
        k.clamp(1, width.max(1))
    }
}

/// One tree: leaves hold an index into `values`, which holds `dims` numbers per leaf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForestTree {
    nodes: Vec<TreeNode<u32>>,
    values: Vec<f64>,
}

/// Fitted forest: each leaf holds `[mean]` (regression) or class frequencies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForestModel {
    /// Numbers per leaf: 1 (regression) or the number of classes.
    dims: usize,
    trees: Vec<ForestTree>,
}

impl ForestModel {
    pub(crate) fn validate(&self, width: usize, n_classes: Option<usize>) -> Result<()> {
        let dims = n_classes.unwrap_or(1);
        if self.trees.is_empty() || self.dims != dims {
            return Err(TabularError::InvalidModel(format!(
                "forest needs trees and {dims} values per leaf"
            )));
        }
        for (t, tree) in self.trees.iter().enumerate() {
            validate_nodes(&tree.nodes, width, &format!("forest tree {t}"))?;
            let ok = tree.values.len().is_multiple_of(dims)
                && tree.nodes.iter().all(|node| match node {
                    TreeNode::Leaf(v) => (*v as usize + 1) * dims <= tree.values.len(),
                    TreeNode::Split { .. } => true,
                });
            if !ok {
                return Err(TabularError::InvalidModel(format!(
                    "forest tree {t}: leaf index outside its values"
                )));
            }
        }
        Ok(())
    }

    /// Mean of the trees' leaf vectors per row.
    ///
    /// Rows go in row-major blocks, and within a block tree by tree, so that the block's values
    /// and the upper levels of a deep tree stay in cache.
    pub(crate) fn predict(&self, x: &[Vec<f64>], n: usize) -> Vec<Vec<f64>> {
        const BLOCK: usize = 8192;
        let dims = self.dims;
        let p = x.len();
        let scale = 1.0 / self.trees.len() as f64;
        let mut out = vec![0.0; n * dims];
        out.par_chunks_mut(dims * BLOCK)
            .enumerate()
            .for_each(|(b, acc)| {
                let xb = row_block(x, b * BLOCK, acc.len() / dims);
                for tree in &self.trees {
                    for (r, a) in acc.chunks_exact_mut(dims).enumerate() {
                        let row = &xb[r * p..(r + 1) * p];
                        if let TreeNode::Leaf(leaf) = tree.nodes[leaf_of(&tree.nodes, |j| row[j])] {
                            let start = leaf as usize * dims;
                            a.iter_mut()
                                .zip(&tree.values[start..start + dims])
                                .for_each(|(a, v)| *a += v);
                        }
                    }
                }
                acc.iter_mut().for_each(|a| *a *= scale);
            });
        out.chunks_exact(dims).map(<[f64]>::to_vec).collect()
    }
}

/// What to fit.
pub(crate) enum ForestTarget<'a> {
    Regression(&'a [f64]),
    /// Class codes and the number of classes (>= 2).
    Classes(&'a [usize], usize),
}

/// Per-sample criterion contribution: the sample adds `weight · amount` to statistic `component`
/// (regression: component 0, amount `y`; classification: component = class, amount 1).
struct Problem<'a> {
    x: &'a [Vec<f64>],
    component: Vec<usize>,
    amount: Vec<f64>,
    /// Length of the statistic vector (1 or the number of classes).
    dims: usize,
    classification: bool,
    y: &'a [f64],
    max_features: usize,
    params: &'a ForestParams,
}

/// Sufficient statistics of a set of weighted samples.
#[derive(Clone)]
struct Stats {
    s: Vec<f64>,
    /// Σ s_k² (kept incrementally).
    sq: f64,
    w: f64,
    n: usize,
}

impl Stats {
    fn new(dims: usize) -> Self {
        Stats {
            s: vec![0.0; dims],
            sq: 0.0,
            w: 0.0,
            n: 0,
        }
    }

    fn add(&mut self, c: usize, a: f64, w: f64, count: isize) {
        let old = self.s[c];
        let new = old + a;
        self.s[c] = new;
        self.sq += new * new - old * old;
        self.w += w;
        self.n = (self.n as isize + count) as usize;
    }

    fn proxy(&self) -> f64 {
        if self.w > 0.0 { self.sq / self.w } else { 0.0 }
    }
}

struct Best {
    proxy: f64,
    feature: usize,
    threshold: f64,
    missing_left: bool,
}

impl Problem<'_> {
    fn stats(&self, idx: &[u32], weight: &[f64]) -> Stats {
        let mut st = Stats::new(self.dims);
        for &i in idx {
            let i = i as usize;
            st.add(self.component[i], weight[i] * self.amount[i], weight[i], 1);
        }
        st.sq = st.s.iter().map(|v| v * v).sum();
        st
    }

    /// Weighted impurity per unit weight: variance (regression) or Gini (classification).
    fn impurity(&self, idx: &[u32], weight: &[f64], st: &Stats) -> f64 {
        if self.classification {
            1.0 - st.sq / (st.w * st.w)
        } else {
            let mean = st.s[0] / st.w;
            idx.iter()
                .map(|&i| {
                    let d = self.y[i as usize] - mean;
                    weight[i as usize] * d * d
                })
                .sum::<f64>()
                / st.w
        }
    }

    /// The best split of the node `idx` among the features drawn from `rng`.
    fn best_split(
        &self,
        idx: &[u32],
        weight: &[f64],
        total: &Stats,
        rng: &mut Rng,
    ) -> Option<Best> {
        let p = self.x.len();
        let msl = self.params.min_samples_leaf;
        let mut order: Vec<usize> = (0..p).collect();
        let mut visited = 0;
        let mut best: Option<Best> = None;
        let mut values: Vec<(f64, u32)> = Vec::with_capacity(idx.len());
        let mut missing: Vec<u32> = Vec::new();
        for drawn in 0..p {
            if visited >= self.max_features {
                break;
            }
            let j = drawn + rng.below(p - drawn);
            order.swap(drawn, j);
            let f = order[drawn];
            let col = &self.x[f];
            values.clear();
            missing.clear();
            for &i in idx {
                let v = col[i as usize];
                if v.is_nan() {
                    missing.push(i);
                } else {
                    values.push((v, i));
                }
            }
            let (lo, hi) = values
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (v, _)| {
                    (a.min(*v), b.max(*v))
                });
            let constant = missing.is_empty() && hi <= lo + FEATURE_THRESHOLD;
            let all_missing = values.is_empty();
            if constant || all_missing {
                continue;
            }
            visited += 1;
            values.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
            let miss = self.stats(&missing, weight);
            let mut consider = |proxy: f64, threshold: f64, missing_left: bool| {
                if best.as_ref().is_none_or(|b| proxy > b.proxy) {
                    best = Some(Best {
                        proxy,
                        feature: f,
                        threshold,
                        missing_left,
                    });
                }
            };
            // Missing right (pass 0) and, when the node has missing values, missing left (pass 1).
            let passes = if missing.is_empty() { 1 } else { 2 };
            for pass in 0..passes {
                let mut left = if pass == 0 {
                    Stats::new(self.dims)
                } else {
                    miss.clone()
                };
                let mut right = total.clone();
                if pass == 1 {
                    for (c, v) in right.s.iter_mut().zip(&miss.s) {
                        *c -= v;
                    }
                    right.sq = right.s.iter().map(|v| v * v).sum();
                    right.w -= miss.w;
                    right.n -= miss.n;
                }
                for k in 0..values.len() {
                    let i = values[k].1 as usize;
                    let (c, a, w) = (self.component[i], weight[i] * self.amount[i], weight[i]);
                    left.add(c, a, w, 1);
                    right.add(c, -a, -w, -1);
                    let last = k + 1 == values.len();
                    if last {
                        // All non-missing left, missing right: a split only when missing exist.
                        if pass == 0 && !missing.is_empty() && left.n >= msl && right.n >= msl {
                            consider(left.proxy() + right.proxy(), f64::MAX, false);
                        }
                        break;
                    }
                    let (v, next) = (values[k].0, values[k + 1].0);
                    if next <= v + FEATURE_THRESHOLD || left.n < msl || right.n < msl {
                        continue;
                    }
                    let mut threshold = 0.5 * (v + next);
                    if threshold >= next || !threshold.is_finite() {
                        threshold = v;
                    }
                    let missing_left = if missing.is_empty() {
                        left.n >= right.n
                    } else {
                        pass == 1
                    };
                    consider(left.proxy() + right.proxy(), threshold, missing_left);
                }
            }
        }
        best
    }

    fn grow(&self, weight: &[f64], mut idx: Vec<u32>, rng: &mut Rng) -> ForestTree {
        let mut nodes: Vec<TreeNode<u32>> = vec![TreeNode::Leaf(0)];
        let mut values: Vec<f64> = Vec::new();
        // (node, start, end, depth)
        let mut stack = vec![(0usize, 0usize, idx.len(), 0usize)];
        let mut scratch: Vec<u32> = Vec::new();
        while let Some((node, start, end, depth)) = stack.pop() {
            let part = &idx[start..end];
            let st = self.stats(part, weight);
            let n = part.len();
            let leaf_only = self.params.max_depth.is_some_and(|d| depth >= d)
                || n < self.params.min_samples_split
                || n < 2 * self.params.min_samples_leaf
                || self.impurity(part, weight, &st) <= f64::EPSILON;
            let split = if leaf_only {
                None
            } else {
                self.best_split(part, weight, &st, rng)
            };
            let Some(b) = split else {
                nodes[node] = TreeNode::Leaf((values.len() / self.dims) as u32);
                values.extend(st.s.iter().map(|v| v / st.w));
                continue;
            };
            let col = &self.x[b.feature];
            scratch.clear();
            let part = &mut idx[start..end];
            let mut w = 0;
            for r in 0..part.len() {
                let i = part[r];
                let v = col[i as usize];
                let left = if v.is_nan() {
                    b.missing_left
                } else {
                    v <= b.threshold
                };
                if left {
                    part[w] = i;
                    w += 1;
                } else {
                    scratch.push(i);
                }
            }
            part[w..].copy_from_slice(&scratch);
            let (l, r) = (nodes.len(), nodes.len() + 1);
            nodes.push(TreeNode::Leaf(0));
            nodes.push(TreeNode::Leaf(0));
            nodes[node] = TreeNode::Split {
                feature: b.feature as u32,
                threshold: b.threshold,
                missing_left: b.missing_left,
                left: l as u32,
                right: r as u32,
            };
            stack.push((r, start + w, end, depth + 1));
            stack.push((l, start, start + w, depth + 1));
        }
        ForestTree { nodes, values }
    }
}

/// Fits the forest on the column-major design `x` (NaN = missing).
pub(crate) fn fit(x: &[Vec<f64>], target: ForestTarget<'_>, params: &ForestParams) -> ForestModel {
    let n = x.first().map_or(0, Vec::len);
    let (component, amount, dims, classification, y): (Vec<usize>, Vec<f64>, usize, bool, &[f64]) =
        match target {
            ForestTarget::Regression(y) => (vec![0; n], y.to_vec(), 1, false, y),
            ForestTarget::Classes(codes, k) => (codes.to_vec(), vec![1.0; n], k, true, &[]),
        };
    let problem = Problem {
        x,
        component,
        amount,
        dims,
        classification,
        y,
        max_features: params.resolved_max_features(x.len(), classification),
        params,
    };
    let root = Rng::new(params.random_state);
    let trees = (0..params.n_estimators)
        .into_par_iter()
        .map(|t| {
            let mut rng = root.fork(t as u64);
            let mut weight = vec![0.0; n];
            if params.bootstrap {
                for _ in 0..n {
                    weight[rng.below(n)] += 1.0;
                }
            } else {
                weight.iter_mut().for_each(|w| *w = 1.0);
            }
            let idx: Vec<u32> = (0..n as u32)
                .filter(|&i| weight[i as usize] > 0.0)
                .collect();
            problem.grow(&weight, idx, &mut rng)
        })
        .collect();
    ForestModel { dims, trees }
}
