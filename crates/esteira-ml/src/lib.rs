//! Esteira's models: forecasting methods over many series, forecast and tabular metrics, and
//! the promotion gate that decides whether a candidate may replace the model in production.
//! No IO here except the example binaries.

pub mod backtest;
pub mod forecast;
pub mod gate;
pub mod metrics;
pub mod onnx;
pub mod tune;
