//! Drift methods: statistical tests ([`pvalue`]) and distances ([`distance`]).

pub mod distance;
pub mod pvalue;
