//! Model serving as a library with no HTTP types, so the same runtime serves REST
//! endpoints, batch scoring and embedding.
//!
//! - [`protocol`]: MLflow's scoring protocol: JSON (`dataframe_split`, `dataframe_records`,
//!   `instances`, `inputs`, with optional `params`) and CSV bodies into a [`Table`], checked
//!   against the model's signature; predictions back into `{"predictions": ...}`.
//! - [`runtime`]: a loaded model of any kind (tabular, ONNX, forecast) that predicts a table.
//! - [`slot`]: a model slot whose model can be swapped atomically while requests run.
//! - [`batch`]: micro-batching of concurrent requests to one model slot.
//! - [`log`]: the prediction log, Parquet files of every served prediction, written off
//!   the request path.
//!
//! [`Table`]: esteira_ml::dataset::Table

pub mod batch;
pub mod endpoint;
pub mod error;
pub mod log;
pub mod protocol;
pub mod runtime;
pub mod slot;
pub mod source;

pub use error::{Error, Result};
pub use esteira_ml::dataset::Table;
