//! The artifact store of Esteira: files logged by runs and models, kept in memory, in a local
//! directory or in an S3 bucket, behind one API ([`ArtifactStore`]) that MLflow's
//! `mlflow-artifacts` endpoints are served from.
//!
//! Every path from a client goes through [`ArtifactPath::parse`], which rejects traversal
//! (`..`, absolute paths, drive letters, backslashes, control characters and their
//! percent-encoded forms). The local back end additionally refuses paths that pass through a
//! symbolic link leading out of its root.
//!
//! Multipart uploads ([`ArtifactStore::create_multipart`] and friends) keep their parts as
//! ordinary objects below the hidden top-level prefix `.esteira-mpu/`, so they work across
//! requests and across server replicas sharing one store.

mod error;
mod path;
mod store;
mod transfer;

pub use error::{Error, Result};
pub use path::{ArtifactPath, MAX_PATH_LEN, PROXY_SCHEME};
pub use store::{ArtifactDownload, ArtifactStore, FileInfo, MAX_PART_NUMBER};
