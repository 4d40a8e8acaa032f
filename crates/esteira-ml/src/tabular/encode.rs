//! The input schema learned at fit and the one-hot design matrix built from it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{Algorithm, ColumnKind, FeatureColumn, Features, Result, TabularError};

/// What predict does with a category not seen at fit (scikit-learn's `OneHotEncoder.handle_unknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandleUnknown {
    /// [`TabularError::UnseenCategory`] naming the column, the value and the row (default).
    #[default]
    Error,
    /// All indicators of that column are 0.
    Ignore,
}

/// One input column as seen at fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnSpec {
    name: String,
    kind: ColumnKind,
    /// Sorted categories, the missing one (`null`) last; empty for numeric columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    categories: Vec<Option<String>>,
}

/// The input columns a model was fitted with and how they are encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Schema {
    columns: Vec<ColumnSpec>,
    handle_unknown: HandleUnknown,
}

impl Schema {
    /// Learns the columns and categories of `features`.
    pub(crate) fn learn(features: &Features) -> Self {
        let columns = features
            .names()
            .iter()
            .zip(features.columns())
            .map(|(name, column)| match column {
                FeatureColumn::Numeric(_) => ColumnSpec {
                    name: name.clone(),
                    kind: ColumnKind::Numeric,
                    categories: Vec::new(),
                },
                FeatureColumn::Categorical(values) => {
                    let distinct: BTreeSet<Option<&String>> =
                        values.iter().map(Option::as_ref).collect();
                    // `BTreeSet` orders `None` first; scikit-learn puts the missing category last.
                    let mut categories: Vec<Option<String>> = distinct
                        .iter()
                        .flatten()
                        .map(|s| Some((*s).clone()))
                        .collect();
                    if distinct.contains(&None) {
                        categories.push(None);
                    }
                    ColumnSpec {
                        name: name.clone(),
                        kind: ColumnKind::Categorical,
                        categories,
                    }
                }
            })
            .collect();
        Self {
            columns,
            handle_unknown: HandleUnknown::Error,
        }
    }

    pub(crate) fn set_handle_unknown(&mut self, h: HandleUnknown) {
        self.handle_unknown = h;
    }

    /// Checks a deserialised schema: at least one column, unique names, categorical columns with
    /// sorted distinct categories, numeric columns without.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.columns.is_empty() {
            return Err(TabularError::InvalidModel("schema has no columns".into()));
        }
        let mut names = BTreeSet::new();
        for c in &self.columns {
            if !names.insert(c.name.as_str()) {
                return Err(TabularError::InvalidModel(format!(
                    "schema repeats column '{}'",
                    c.name
                )));
            }
            let ok = match c.kind {
                ColumnKind::Numeric => c.categories.is_empty(),
                ColumnKind::Categorical => {
                    !c.categories.is_empty()
                        && c.categories.windows(2).all(|w| {
                            matches!((&w[0], &w[1]), (Some(a), Some(b)) if a < b)
                                || matches!((&w[0], &w[1]), (Some(_), None))
                        })
                }
            };
            if !ok {
                return Err(TabularError::InvalidModel(format!(
                    "column '{}': categories must be sorted, distinct, missing last, and present only for categorical columns",
                    c.name
                )));
            }
        }
        Ok(())
    }

    /// Input column names.
    pub(crate) fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    /// Number of design-matrix columns.
    pub(crate) fn width(&self) -> usize {
        self.columns
            .iter()
            .map(|c| match c.kind {
                ColumnKind::Numeric => 1,
                ColumnKind::Categorical => c.categories.len(),
            })
            .sum()
    }

    /// Names of the design-matrix columns.
    pub(crate) fn design_names(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.width());
        for c in &self.columns {
            match c.kind {
                ColumnKind::Numeric => out.push(c.name.clone()),
                ColumnKind::Categorical => {
                    for cat in &c.categories {
                        match cat {
                            Some(v) => out.push(format!("{}={v}", c.name)),
                            None => out.push(format!("{}=<missing>", c.name)),
                        }
                    }
                }
            }
        }
        out
    }

    /// The column-major design matrix of `features` (columns looked up by name, extras ignored).
    ///
    /// # Errors
    /// [`TabularError::MissingColumn`], [`TabularError::WrongColumnKind`],
    /// [`TabularError::NonFiniteFeature`] (infinity), [`TabularError::MissingValue`] (NaN when
    /// `allow_nan` is false), [`TabularError::UnseenCategory`] (with `handle_unknown = error`).
    pub(crate) fn transform(
        &self,
        features: &Features,
        algorithm: Algorithm,
        allow_nan: bool,
    ) -> Result<Vec<Vec<f64>>> {
        let n = features.n_rows();
        let mut out = Vec::with_capacity(self.width());
        for spec in &self.columns {
            let column = features
                .column(&spec.name)
                .ok_or_else(|| TabularError::MissingColumn(spec.name.clone()))?;
            match (spec.kind, column) {
                (ColumnKind::Numeric, FeatureColumn::Numeric(values)) => {
                    for (row, v) in values.iter().enumerate() {
                        if v.is_nan() {
                            if !allow_nan {
                                return Err(TabularError::MissingValue {
                                    column: spec.name.clone(),
                                    row,
                                    algorithm,
                                });
                            }
                        } else if v.is_infinite() {
                            return Err(TabularError::NonFiniteFeature {
                                column: spec.name.clone(),
                                row,
                                value: *v,
                            });
                        }
                    }
                    out.push(values.clone());
                }
                (ColumnKind::Categorical, FeatureColumn::Categorical(values)) => {
                    let start = out.len();
                    out.extend((0..spec.categories.len()).map(|_| vec![0.0; n]));
                    for (row, v) in values.iter().enumerate() {
                        match self.category_index(spec, v) {
                            Some(k) => out[start + k][row] = 1.0,
                            None if self.handle_unknown == HandleUnknown::Ignore => {}
                            None => {
                                return Err(TabularError::UnseenCategory {
                                    column: spec.name.clone(),
                                    value: v.clone(),
                                    row,
                                });
                            }
                        }
                    }
                }
                (expected, found) => {
                    return Err(TabularError::WrongColumnKind {
                        column: spec.name.clone(),
                        expected,
                        found: found.kind(),
                    });
                }
            }
        }
        Ok(out)
    }

    fn category_index(&self, spec: &ColumnSpec, value: &Option<String>) -> Option<usize> {
        match value {
            None => match spec.categories.last() {
                Some(None) => Some(spec.categories.len() - 1),
                _ => None,
            },
            Some(v) => {
                let known = match spec.categories.last() {
                    Some(None) => &spec.categories[..spec.categories.len() - 1],
                    _ => &spec.categories[..],
                };
                known
                    .binary_search_by(|c| c.as_deref().unwrap_or_default().cmp(v.as_str()))
                    .ok()
            }
        }
    }
}
