//! Distances between a reference and a current sample.
