//! A loaded model that predicts tables.
