//! New-data and watermark triggers: firings from what files, objects and databases hold.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use esteira_artifacts::{ArtifactPath, ArtifactStore};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Row};

use super::{Firing, TriggerError};
use crate::glob::{NamePattern, glob_files, has_wildcard};

/// How long [`watermark()`] waits for the connection and the query together.
pub const WATERMARK_TIMEOUT: Duration = Duration::from_secs(30);

/// One version of a file or object that a new-data trigger sees.
struct Seen {
    /// The local path or the `s3://` URL, as passed to the run.
    location: String,
    size: u64,
    /// The modification time; S3 listings do not carry it.
    modified: Option<DateTime<Utc>>,
}

/// One firing per file currently matching `path`, oldest first; the engine's idempotency keys
/// make each file version fire once, so returning every current file on each scan is correct.
///
/// `path` is either
/// - a local glob (see [`glob_files`]), relative to `base_dir` unless absolute: each matching
///   file fires with `param` set to its path (`base_dir` joined with the match) and the key
///   `new_data:<path>:<size>:<modification time, RFC 3339 in ns>`, so a file rewritten with
///   another size or modification time fires again; files are ordered by modification time,
///   then path; or
/// - `s3://bucket/prefix`: every object below the prefix, or `s3://bucket/dir/<pattern>` with
///   wildcards in the last segment only (the same syntax as one glob segment): the objects
///   directly in `dir` whose names match. Each fires with `param` set to its `s3://` URL and
///   the key `new_data:<url>:<size>`. The artifact store's listing gives no modification time
///   nor ETag, so an object rewritten with the same size does not fire again, and objects are
///   ordered by URL rather than age. The bucket is reached with the `AWS_*` environment
///   variables, as for the artifact store.
///
/// A local walk blocks the calling thread while it reads the directories.
///
/// # Errors
/// [`TriggerError::Path`] for another `scheme://`, wildcards before the last segment of an S3
/// path or `**` in it, or a bucket URL the artifact store refuses; [`TriggerError::Glob`] as
/// [`glob_files`]; [`TriggerError::Io`] when a matched file's metadata cannot be read;
/// [`TriggerError::Storage`] when listing the bucket fails.
pub async fn scan_new_data(
    name: &str,
    path: &str,
    param: &str,
    base_dir: &Path,
) -> Result<Vec<Firing>, TriggerError> {
    let seen = match path.split_once("://") {
        None => local_files(name, path, base_dir)?,
        Some(("s3", _)) => s3_objects(name, path).await?,
        Some((scheme, _)) => {
            return Err(TriggerError::Path {
                trigger: name.to_string(),
                path: path.to_string(),
                reason: format!(
                    "unsupported scheme {scheme:?}; use a local glob or s3://bucket/prefix"
                ),
            });
        }
    };
    Ok(seen.into_iter().map(|s| s.firing(name, param)).collect())
}

impl Seen {
    fn firing(self, trigger: &str, param: &str) -> Firing {
        let (key, cause) = match self.modified {
            Some(modified) => {
                let stamp = modified.to_rfc3339_opts(SecondsFormat::Nanos, true);
                (
                    format!("new_data:{}:{}:{stamp}", self.location, self.size),
                    format!(
                        "new file {} ({} bytes, modified {stamp})",
                        self.location, self.size
                    ),
                )
            }
            None => (
                format!("new_data:{}:{}", self.location, self.size),
                format!("new object {} ({} bytes)", self.location, self.size),
            ),
        };
        Firing {
            trigger: trigger.to_string(),
            idempotency_key: key,
            cause,
            params: BTreeMap::from([(param.to_string(), Value::String(self.location))]),
            scheduled_for: None,
        }
    }
}

fn local_files(name: &str, pattern: &str, base_dir: &Path) -> Result<Vec<Seen>, TriggerError> {
    let paths = glob_files(base_dir, pattern).map_err(|source| TriggerError::Glob {
        trigger: name.to_string(),
        source,
    })?;
    let mut seen = paths
        .into_iter()
        .map(|path| local_file(name, path))
        .collect::<Result<Vec<_>, _>>()?;
    seen.sort_by(|a, b| (a.modified, &a.location).cmp(&(b.modified, &b.location)));
    Ok(seen)
}

fn local_file(name: &str, path: PathBuf) -> Result<Seen, TriggerError> {
    let metadata = std::fs::metadata(&path).and_then(|m| Ok((m.len(), m.modified()?)));
    let (size, modified) = metadata.map_err(|source| TriggerError::Io {
        trigger: name.to_string(),
        path: path.clone(),
        source,
    })?;
    Ok(Seen {
        // glob_files returns UTF-8 paths only.
        location: path.to_string_lossy().into_owned(),
        size,
        modified: Some(DateTime::<Utc>::from(modified)),
    })
}

/// Where an S3 new-data path points: the directory URL and, when the last segment has
/// wildcards, the pattern names must match (else every object below, recursively).
fn split_s3(name: &str, url: &str) -> Result<(String, Option<NamePattern>), TriggerError> {
    let invalid = |reason: String| TriggerError::Path {
        trigger: name.to_string(),
        path: url.to_string(),
        reason,
    };
    let (dir, last) = match url.rsplit_once('/') {
        Some((dir, last)) if dir.len() > "s3:/".len() => (dir, last),
        _ => (url, ""),
    };
    if !has_wildcard(last) {
        if has_wildcard(url) {
            return Err(invalid(
                "wildcards are allowed in the last segment only".into(),
            ));
        }
        return Ok((url.trim_end_matches('/').to_string(), None));
    }
    if has_wildcard(dir) {
        return Err(invalid(
            "wildcards are allowed in the last segment only".into(),
        ));
    }
    if last == "**" {
        return Err(invalid(
            "`**` is not supported in s3 paths; a prefix without wildcards matches every \
             object below it"
                .into(),
        ));
    }
    let pattern = NamePattern::parse(url, last).map_err(|e| invalid(e.to_string()))?;
    Ok((dir.to_string(), Some(pattern)))
}

async fn s3_objects(name: &str, url: &str) -> Result<Vec<Seen>, TriggerError> {
    let (dir_url, pattern) = split_s3(name, url)?;
    let store = ArtifactStore::from_url(&dir_url).map_err(|e| TriggerError::Path {
        trigger: name.to_string(),
        path: url.to_string(),
        reason: e.to_string(),
    })?;
    let storage_error = |source| TriggerError::Storage {
        trigger: name.to_string(),
        url: dir_url.clone(),
        source,
    };
    let mut seen = Vec::new();
    let mut pending = vec![ArtifactPath::root()];
    while let Some(dir) = pending.pop() {
        let listing = store.list(Some(&dir)).await.map_err(storage_error)?;
        for entry in listing {
            let child = ArtifactPath::parse(&entry.path).map_err(storage_error)?;
            let path = dir.join(&child);
            match (&pattern, entry.is_dir, entry.file_size) {
                (None, true, _) => pending.push(path),
                (None, false, Some(size)) => seen.push(object(&dir_url, &path, size)),
                (Some(p), false, Some(size)) if p.matches(&entry.path) => {
                    seen.push(object(&dir_url, &path, size));
                }
                _ => {}
            }
        }
    }
    seen.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(seen)
}

fn object(dir_url: &str, path: &ArtifactPath, size: u64) -> Seen {
    Seen {
        location: format!("{dir_url}/{}", path.as_str()),
        size,
        modified: None,
    }
}

/// Runs the watermark `query` on the PostgreSQL database at `url` and returns a firing keyed
/// `watermark:<value>` with `param` set to the value, or `None` when the query returns no row
/// or NULL. The first row's only column may be of any type: it is read as PostgreSQL renders
/// it in text (`2026-11-25`, `42`, `1.50`, `2026-11-25 10:00:00+00`), because the query is
/// sent as a simple (unprepared) query. Each distinct value fires once; a value seen before
/// does not fire again, even after others.
///
/// # Errors
/// [`TriggerError::Watermark`] when `url` is not `postgres://` / `postgresql://`, when the
/// connection or the query fails or does not finish within [`WATERMARK_TIMEOUT`], or when the
/// row has other than one column. The messages never contain the URL (it may hold a
/// password).
pub async fn watermark(
    name: &str,
    url: &str,
    query: &str,
    param: &str,
) -> Result<Option<Firing>, TriggerError> {
    let failed = |reason: String| TriggerError::Watermark {
        trigger: name.to_string(),
        reason,
    };
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(failed(
            "the url must start with postgres:// or postgresql://".into(),
        ));
    }
    let value = tokio::time::timeout(WATERMARK_TIMEOUT, query_value(url, query))
        .await
        .map_err(|_| {
            failed(format!(
                "no answer within {} s",
                WATERMARK_TIMEOUT.as_secs()
            ))
        })?
        .map_err(failed)?;
    Ok(value.map(|value| Firing {
        trigger: name.to_string(),
        idempotency_key: format!("watermark:{value}"),
        cause: format!("watermark {param} = {value}"),
        params: BTreeMap::from([(param.to_string(), Value::String(value))]),
        scheduled_for: None,
    }))
}

async fn query_value(url: &str, query: &str) -> Result<Option<String>, String> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| format!("the url is not a valid PostgreSQL url: {}", sql_reason(&e)))?;
    let mut connection: PgConnection = options
        .connect()
        .await
        .map_err(|e| format!("connecting: {}", sql_reason(&e)))?;
    let row = sqlx::raw_sql(AssertSqlSafe(query.to_string()))
        .fetch_optional(&mut connection)
        .await
        .map_err(|e| sql_reason(&e))?;
    let Some(row) = row else {
        return Ok(None);
    };
    if row.len() != 1 {
        return Err(format!(
            "the query returns {} columns; a watermark query returns one",
            row.len()
        ));
    }
    // Simple queries come back in PostgreSQL's text format, whatever the column's type.
    row.try_get_unchecked::<Option<String>, _>(0)
        .map_err(|e| format!("reading the value: {}", sql_reason(&e)))
}

/// An sqlx error in words, without the connection URL.
fn sql_reason(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => db.message().to_string(),
        sqlx::Error::Configuration(e) => e.to_string(),
        other => other.to_string(),
    }
}
