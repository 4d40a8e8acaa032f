//! Serving endpoints: a name and its definition (routes and shadow) as JSON text, which
//! the serving crate parses and validates.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::Result;

/// A stored endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    /// Its name (the `{name}` of `/serving-endpoints/{name}/invocations`).
    pub name: String,
    /// Its definition, as JSON.
    pub spec: String,
    /// Milliseconds since the epoch.
    pub created_time: i64,
    /// Milliseconds since the epoch.
    pub updated_time: i64,
}

/// Serving endpoints.
#[async_trait]
pub trait EndpointStore: Send + Sync {
    /// Creates the endpoint, or replaces its definition.
    async fn put_endpoint(&self, name: &str, spec: &str) -> Result<EndpointRecord>;
    /// An endpoint. `RESOURCE_DOES_NOT_EXIST` when unknown.
    async fn get_endpoint(&self, name: &str) -> Result<EndpointRecord>;
    /// Every endpoint, by name.
    async fn list_endpoints(&self) -> Result<Vec<EndpointRecord>>;
    /// Deletes an endpoint. `RESOURCE_DOES_NOT_EXIST` when unknown.
    async fn delete_endpoint(&self, name: &str) -> Result<()>;
}
