//! MLflow's artifact proxy (`/api/2.0/mlflow-artifacts`): streamed upload and download,
//! listing, deletion and multipart uploads that span requests and replicas.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use esteira_artifacts::ArtifactPath;
use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::required;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::input::{Input, query_object};
use crate::service::FileInfo;

fn artifact_path(raw: &str) -> ApiResult<ArtifactPath> {
    Ok(ArtifactPath::parse(raw)?)
}

fn body_stream(
    body: Body,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + Unpin {
    body.into_data_stream().map_err(std::io::Error::other)
}

pub(super) async fn download(
    State(s): State<AppState>,
    Path(path): Path<String>,
) -> ApiResult<Response> {
    send(&s, &artifact_path(&path)?).await
}

/// Streams one stored file with its length.
async fn send(s: &AppState, path: &ArtifactPath) -> ApiResult<Response> {
    let download = s.artifacts.get(path).await?;
    let stream = download.stream.map_err(std::io::Error::other);
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(download.size));
    Ok(response)
}

pub(super) async fn upload(
    State(s): State<AppState>,
    Path(path): Path<String>,
    req: Request,
) -> ApiResult<Json<Value>> {
    let path = artifact_path(&path)?;
    s.artifacts.put(&path, body_stream(req.into_body())).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct RunArtifact {
    run_id: Option<String>,
    run_uuid: Option<String>,
    path: Option<String>,
}

/// `GET /get-artifact?run_id=&path=`: one file of a run, as the MLflow web UI fetches it.
pub(crate) async fn run_artifact(State(s): State<AppState>, input: Input) -> ApiResult<Response> {
    let r: RunArtifact = input.parse()?;
    let run_id = required(&r.run_id, "run_id")
        .or_else(|e| required(&r.run_uuid, "run_id").map_err(|_| e))?;
    let run = s.store.get_run(run_id).await?;
    let root = crate::service::proxied_path(&run.info.artifact_uri)?;
    send(&s, &root.join(&artifact_path(required(&r.path, "path")?)?)).await
}

#[derive(Deserialize)]
struct VersionArtifact {
    name: Option<String>,
    #[serde(default, deserialize_with = "crate::input::de::opt_string")]
    version: Option<String>,
    path: Option<String>,
}

/// `GET /model-versions/get-artifact?name=&version=&path=`: one file of a model version.
pub(crate) async fn model_version_artifact(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Response> {
    let r: VersionArtifact = input.parse()?;
    let uri = s
        .store
        .get_model_version_download_uri(
            required(&r.name, "name")?,
            required(&r.version, "version")?,
        )
        .await?;
    let root = crate::service::proxied_path(&uri)?;
    send(&s, &root.join(&artifact_path(required(&r.path, "path")?)?)).await
}

#[derive(Deserialize)]
struct ListQuery {
    path: Option<String>,
}

pub(super) async fn list(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: ListQuery = input.parse()?;
    let dir = artifact_path(r.path.as_deref().unwrap_or_default())?;
    let files: Vec<FileInfo> = s
        .artifacts
        .list(Some(&dir))
        .await?
        .into_iter()
        .map(|e| FileInfo {
            path: e.path,
            is_dir: e.is_dir,
            file_size: e.file_size,
        })
        .collect();
    Ok(Json(json!({ "files": files })))
}

pub(super) async fn delete(
    State(s): State<AppState>,
    Path(path): Path<String>,
) -> ApiResult<Json<Value>> {
    s.artifacts.delete(&artifact_path(&path)?).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct Multipart {
    path: Option<String>,
    upload_id: Option<String>,
    #[serde(default, deserialize_with = "esteira_core::json::de_opt_i64")]
    num_parts: Option<i64>,
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
struct Part {
    #[serde(deserialize_with = "esteira_core::json::de_i64")]
    part_number: i64,
}

impl Multipart {
    /// The target object: the URL's directory joined with the file name in `path`.
    fn target(&self, dir: &str) -> ApiResult<ArtifactPath> {
        let local = required(&self.path, "path")?;
        let file_name = local.rsplit(['/', '\\']).next().unwrap_or(local);
        Ok(artifact_path(dir)?.join(&artifact_path(file_name)?))
    }
}

/// The most parts one multipart upload may have.
const MAX_PARTS: i64 = 10_000;

pub(super) async fn mpu_create(
    State(s): State<AppState>,
    Path(dir): Path<String>,
    headers: HeaderMap,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: Multipart = input.parse()?;
    let target = r.target(&dir)?;
    let num_parts = r.num_parts.unwrap_or(1);
    if !(1..=MAX_PARTS).contains(&num_parts) {
        return Err(ApiError::invalid(format!(
            "Invalid value {num_parts} for parameter 'num_parts': must be between 1 and {MAX_PARTS}"
        )));
    }
    let upload_id = s.artifacts.create_multipart(&target).await?;
    let header_text = |name| {
        headers
            .get(name)
            .and_then(|h: &HeaderValue| h.to_str().ok())
    };
    let host = header_text(header::HOST).unwrap_or("127.0.0.1");
    let scheme = header_text(header::HeaderName::from_static("x-forwarded-proto"))
        .filter(|p| *p == "https")
        .unwrap_or("http");
    let mut part_headers = serde_json::Map::new();
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
    {
        part_headers.insert("Authorization".into(), Value::String(auth.to_string()));
    }
    let credentials: Vec<Value> = (1..=num_parts)
        .map(|n| {
            json!({
                "part_number": n,
                "url": format!(
                    "{scheme}://{host}/api/2.0/mlflow-artifacts/mpu/upload-part/{}?upload_id={upload_id}&part_number={n}",
                    target.as_str()
                ),
                "headers": part_headers,
            })
        })
        .collect();
    Ok(Json(
        json!({ "upload_id": upload_id, "credentials": credentials }),
    ))
}

pub(super) async fn mpu_upload_part(
    State(s): State<AppState>,
    Path(path): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let query = query_object(req.uri().query().unwrap_or_default());
    let upload_id = query["upload_id"].as_str().unwrap_or_default().to_string();
    let part_number: u32 = query["part_number"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| {
            ApiError::invalid(
                "Invalid value for parameter 'part_number': expected a positive integer",
            )
        })?;
    let path = artifact_path(&path)?;
    s.artifacts
        .upload_part(
            &path,
            required(&Some(upload_id), "upload_id")?,
            part_number,
            body_stream(req.into_body()),
        )
        .await?;
    let etag = format!("\"{part_number}\"");
    Ok(([(header::ETAG, etag)], Json(json!({}))).into_response())
}

pub(super) async fn mpu_complete(
    State(s): State<AppState>,
    Path(dir): Path<String>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: Multipart = input.parse()?;
    let target = r.target(&dir)?;
    let parts = r
        .parts
        .iter()
        .map(|p| {
            u32::try_from(p.part_number)
                .map_err(|_| ApiError::invalid("Invalid value for parameter 'parts.part_number'"))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    s.artifacts
        .complete_multipart(&target, required(&r.upload_id, "upload_id")?, &parts)
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn mpu_abort(
    State(s): State<AppState>,
    Path(dir): Path<String>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: Multipart = input.parse()?;
    let target = r.target(&dir)?;
    s.artifacts
        .abort_multipart(&target, required(&r.upload_id, "upload_id")?)
        .await?;
    Ok(Json(json!({})))
}

/// `mlflow-artifacts` routes MLflow has that Esteira answers with a clear refusal: presigned
/// URLs point at object storage directly, and this server always proxies.
pub(super) async fn presigned_unsupported() -> ApiError {
    ApiError::new(
        esteira_core::ErrorCode::EndpointNotFound,
        "Presigned artifact URLs are not offered: this server proxies artifacts",
    )
}
