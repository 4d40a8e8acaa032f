//! A model slot whose model is swapped atomically: requests take the current model (an
//! `Arc`) and finish on it even if a new version is installed meanwhile.

use std::sync::{Arc, RwLock};

use crate::runtime::ServedModel;

/// The model an endpoint route serves, and the last load failure.
#[derive(Debug)]
pub struct ModelSlot {
    current: RwLock<Arc<ServedModel>>,
    last_error: RwLock<Option<(String, String)>>,
}

impl ModelSlot {
    /// A slot serving `model`.
    pub fn new(model: ServedModel) -> Self {
        ModelSlot {
            current: RwLock::new(Arc::new(model)),
            last_error: RwLock::new(None),
        }
    }

    /// The model serving now.
    pub fn get(&self) -> Arc<ServedModel> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Installs `model`; requests already running finish on the model they took.
    pub fn install(&self, model: ServedModel) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(model);
        *self.last_error.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Records that `version` failed to load with `error`; the current model keeps serving.
    pub fn record_failure(&self, version: &str, error: String) {
        *self.last_error.write().unwrap_or_else(|p| p.into_inner()) =
            Some((version.to_string(), error));
    }

    /// The last load failure since the last successful install, as `version V: cause`.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(v, e)| format!("version {v}: {e}"))
    }

    /// Whether `version` is the one that last failed to load (it is not retried until the
    /// alias moves elsewhere).
    pub fn failed(&self, version: &str) -> bool {
        self.last_error
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|(v, _)| v == version)
    }
}
