//! Esteira's models: forecasting methods over many series, forecast and tabular metrics, and
//! the promotion gate that decides whether a candidate may replace the model in production.
//! IO is limited to reading and writing datasets ([`dataset`]) and model directories
//! ([`model`]); the example binaries are benchmarks.

pub mod backtest;
pub mod dataset;
pub mod forecast;
pub mod gate;
pub mod metrics;
pub mod model;
pub mod onnx;
pub mod rng;
pub mod series;
pub mod tabular;
pub mod tune;
