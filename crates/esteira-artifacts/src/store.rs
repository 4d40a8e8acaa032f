//! The artifact store itself.

use std::fmt;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayloadMut, WriteMultipart};

use crate::error::{Error, Result};
use crate::path::{ArtifactPath, RESERVED_DIR};

/// Bodies up to this size are stored with one `put`; larger ones are streamed as a multipart
/// upload in parts of this size (S3 needs at least 5 MiB per part but the last).
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one streamed upload in flight at once.
const MAX_PARTS_IN_FLIGHT: usize = 4;
/// The highest part number of a multipart upload (as in S3).
pub const MAX_PART_NUMBER: u32 = 10_000;
/// Name of the marker object of a multipart upload; it holds the target artifact path.
const UPLOAD_MARKER: &str = "target";

/// One entry of a directory listing, as MLflow's `mlflow-artifacts` list returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// The entry's name, relative to the listed directory (`"x.txt"`, `"sub"`).
    pub path: String,
    /// Whether the entry is a directory (a prefix that has objects below it).
    pub is_dir: bool,
    /// The size in bytes of a file; `None` for a directory.
    pub file_size: Option<u64>,
}

/// A download in progress: the object's size and a stream of its bytes.
pub struct ArtifactDownload {
    /// The size of the whole object in bytes.
    pub size: u64,
    /// The object's bytes; an item is an error if the back end fails mid-stream.
    pub stream: BoxStream<'static, Result<Bytes>>,
}

impl ArtifactDownload {
    /// Collects the whole object in memory; meant for small objects and tests.
    ///
    /// # Errors
    ///
    /// The first error of the stream.
    pub async fn into_bytes(self) -> Result<Bytes> {
        let capacity = usize::try_from(self.size).unwrap_or(0).min(PART_SIZE);
        let mut out = Vec::with_capacity(capacity);
        let mut stream = self.stream;
        while let Some(chunk) = stream.try_next().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(out))
    }
}

impl fmt::Debug for ArtifactDownload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArtifactDownload")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// An artifact store: an [`ObjectStore`] (in memory, a local directory or an S3 bucket),
/// optionally below a key prefix, addressed by validated [`ArtifactPath`]s.
///
/// Cheap to clone; clones share the back end.
///
/// For a local directory, symbolic links below the root are followed only while they resolve
/// to somewhere inside the root: any operation whose path passes through a link that leads
/// outside fails with [`Error::InvalidPath`], listings leave such links out, and deleting a
/// directory removes links inside it without touching their targets. (The check runs right
/// before each operation; an attacker who can create links in the root concurrently with the
/// server is out of scope.)
#[derive(Clone)]
pub struct ArtifactStore {
    inner: Arc<dyn ObjectStore>,
    url: Arc<str>,
    /// The canonical root directory, for the local back end only.
    local_root: Option<Arc<PathBuf>>,
}

impl fmt::Debug for ArtifactStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArtifactStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl ArtifactStore {
    /// Opens the store that `url` names:
    ///
    /// - `memory://`: a fresh, empty in-memory store (each call gets its own);
    /// - `file:///abs/dir`, `/abs/dir` or `rel/dir`: a local directory, created if missing;
    /// - `s3://bucket` or `s3://bucket/key/prefix`: an S3 bucket, configured from the standard
    ///   `AWS_*` environment variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
    ///   `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ALLOW_HTTP`, ...).
    ///   The region defaults to `us-east-1`. When an endpoint is set, requests are path-style
    ///   (unless `AWS_VIRTUAL_HOSTED_STYLE_REQUEST` says otherwise), and an `http://` endpoint
    ///   is allowed without `AWS_ALLOW_HTTP`. Nothing is sent to the bucket here.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] for an unknown scheme, a malformed URL, credentials, a query or a
    /// fragment in the URL, an invalid key prefix, a directory that cannot be created, or an
    /// S3 configuration that the builder refuses.
    pub fn from_url(url: &str) -> Result<Self> {
        if url.is_empty() {
            return Err(Error::invalid_url(url, "the url is empty"));
        }
        if let Some(rest) = url.strip_prefix("memory://") {
            if !(rest.is_empty() || rest == "/") {
                return Err(Error::invalid_url(url, "memory:// takes no path"));
            }
            return Ok(Self::new(Arc::new(InMemory::new()), url, None));
        }
        if !url.contains("://") {
            if looks_like_scheme(url) {
                return Err(Error::invalid_url(
                    url,
                    "looks like a url without '//'; write scheme://... or ./path",
                ));
            }
            return Self::local(url, PathBuf::from(url));
        }
        let parsed = url::Url::parse(url).map_err(|e| Error::invalid_url(url, e.to_string()))?;
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(Error::invalid_url(
                url,
                "a query or fragment is not supported",
            ));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(Error::invalid_url(
                url,
                "credentials in the url are not supported; use the environment",
            ));
        }
        match parsed.scheme() {
            "file" => {
                let dir = parsed.to_file_path().map_err(|()| {
                    Error::invalid_url(url, "not a local absolute path (is there a host?)")
                })?;
                Self::local(url, dir)
            }
            "s3" => Self::s3(url, &parsed),
            other => Err(Error::invalid_url(
                url,
                format!("unsupported scheme {other:?} (use memory://, file://, s3:// or a path)"),
            )),
        }
    }

    fn new(inner: Arc<dyn ObjectStore>, url: &str, local_root: Option<PathBuf>) -> Self {
        Self {
            inner,
            url: Arc::from(url),
            local_root: local_root.map(Arc::new),
        }
    }

    fn local(url: &str, dir: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::invalid_url(url, format!("cannot create the directory: {e}")))?;
        let root = std::fs::canonicalize(&dir)
            .map_err(|e| Error::invalid_url(url, format!("cannot resolve the directory: {e}")))?;
        if !root.is_dir() {
            return Err(Error::invalid_url(url, "not a directory"));
        }
        let fs = LocalFileSystem::new_with_prefix(&root)
            .map_err(|e| Error::invalid_url(url, e.to_string()))?;
        Ok(Self::new(Arc::new(fs), url, Some(root)))
    }

    fn s3(url: &str, parsed: &url::Url) -> Result<Self> {
        let bucket = parsed.host_str().unwrap_or_default();
        if bucket.is_empty() {
            return Err(Error::invalid_url(url, "no bucket name"));
        }
        // The key prefix is taken from the url as written (the url parser would resolve `..`
        // segments and percent escapes); query and fragment were refused by the caller.
        let after_scheme = url.split_once("://").map_or("", |(_, rest)| rest);
        let raw_prefix = after_scheme.split_once('/').map_or("", |(_, path)| path);
        let prefix = ArtifactPath::parse(raw_prefix)
            .map_err(|e| Error::invalid_url(url, format!("bad key prefix: {e}")))?;

        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if builder
            .get_config_value(&AmazonS3ConfigKey::Region)
            .is_none()
        {
            builder = builder.with_region("us-east-1");
        }
        if let Some(endpoint) = builder.get_config_value(&AmazonS3ConfigKey::Endpoint) {
            if endpoint.starts_with("http://") {
                builder = builder.with_allow_http(true);
            }
            if std::env::var_os("AWS_VIRTUAL_HOSTED_STYLE_REQUEST").is_none() {
                builder = builder.with_virtual_hosted_style_request(false);
            }
        }
        let s3 = builder
            .build()
            .map_err(|e| Error::invalid_url(url, e.to_string()))?;
        let inner: Arc<dyn ObjectStore> = if prefix.is_root() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, to_key(&prefix)?))
        };
        Ok(Self::new(inner, url, None))
    }

    /// The URL the store was opened with, for display.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stores the bytes of `body` at `path`, replacing any existing file, and returns how many
    /// bytes were written. Bodies over 8 MiB are streamed as a multipart upload, so memory use
    /// stays bounded (about 40 MiB per upload at most). The object appears only once the body
    /// has been read to its end without error.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPath`] for the root, a path through a link that leaves a local root, or
    /// (local back end only) a file name ending in `#` and digits, which it keeps for its
    /// staging files; [`Error::Body`] if `body` yields an error (the partial upload is discarded);
    /// [`Error::Backend`] / [`Error::Io`] if storing fails.
    pub async fn put(
        &self,
        path: &ArtifactPath,
        body: impl Stream<Item = std::io::Result<Bytes>> + Send + Unpin,
    ) -> Result<u64> {
        let key = self.file_key(path)?;
        self.guard(&key, path.as_str()).await?;
        self.write_stream(&key, body.map_err(Error::Body)).await
    }

    /// Stores `bytes` at `path` in one request, replacing any existing file.
    ///
    /// # Errors
    ///
    /// As [`ArtifactStore::put`].
    pub async fn put_bytes(&self, path: &ArtifactPath, bytes: Bytes) -> Result<()> {
        let key = self.file_key(path)?;
        self.guard(&key, path.as_str()).await?;
        self.inner.put(&key, bytes.into()).await?;
        Ok(())
    }

    /// Opens the file at `path` for reading.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if there is no file at `path` (a directory is not a file);
    /// [`Error::InvalidPath`] for the root or a path through a link that leaves a local root;
    /// [`Error::Backend`] for other failures.
    pub async fn get(&self, path: &ArtifactPath) -> Result<ArtifactDownload> {
        let key = self.file_key(path)?;
        self.guard(&key, path.as_str()).await?;
        let result = self
            .inner
            .get(&key)
            .await
            .map_err(|e| not_found_as(e, path))?;
        Ok(ArtifactDownload {
            size: result.meta.size,
            stream: result.into_stream().map_err(Error::from).boxed(),
        })
    }

    /// Lists the direct children of directory `dir` (the root when `None`): files with their
    /// size and sub-directories, named relative to `dir`, sorted by name. A directory that does
    /// not exist, or a file, lists as empty.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPath`] for a path through a link that leaves a local root;
    /// [`Error::Backend`] for other failures.
    pub async fn list(&self, dir: Option<&ArtifactPath>) -> Result<Vec<FileInfo>> {
        let dir = dir.cloned().unwrap_or_default();
        let key = to_key(&dir)?;
        self.guard(&key, dir.as_str()).await?;
        let prefix = (!dir.is_root()).then_some(&key);
        let listing = match self.inner.list_with_delimiter(prefix).await {
            Ok(listing) => listing,
            Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut entries: Vec<(Path, FileInfo)> = Vec::new();
        for sub in listing.common_prefixes {
            let Some(name) = sub.filename().map(str::to_string) else {
                continue;
            };
            if dir.is_root() && name == RESERVED_DIR {
                continue;
            }
            let info = FileInfo {
                path: name,
                is_dir: true,
                file_size: None,
            };
            entries.push((sub, info));
        }
        for object in listing.objects {
            let Some(name) = object.location.filename().map(str::to_string) else {
                continue;
            };
            let info = FileInfo {
                path: name,
                is_dir: false,
                file_size: Some(object.size),
            };
            entries.push((object.location, info));
        }
        if let Some(root) = &self.local_root {
            entries = keep_inside_root(Arc::clone(root), entries).await?;
        }
        let mut infos: Vec<FileInfo> = entries.into_iter().map(|(_, info)| info).collect();
        infos.sort_by(|a, b| a.path.cmp(&b.path).then(b.is_dir.cmp(&a.is_dir)));
        Ok(infos)
    }

    /// Deletes the file at `path` and everything below `path` taken as a directory.
    /// Deleting something that does not exist succeeds. As in an object store, a directory
    /// left empty by the deletion disappears (the local back end removes it).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPath`] for the root (refused) or a path through a link that leaves a
    /// local root; [`Error::Backend`] / [`Error::Io`] if a deletion fails.
    pub async fn delete(&self, path: &ArtifactPath) -> Result<()> {
        if path.is_root() {
            return Err(Error::invalid_path(
                "",
                "refusing to delete the artifact root",
            ));
        }
        let key = to_key(path)?;
        self.guard(&key, path.as_str()).await?;
        self.remove_tree(&key).await
    }

    /// Starts a multipart upload to `path` and returns its id. The upload lives in the store
    /// itself (below a hidden prefix), so parts may be sent to any server replica.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPath`] for the root or a path through a link that leaves a local root;
    /// [`Error::Backend`] if the upload's marker cannot be stored.
    pub async fn create_multipart(&self, path: &ArtifactPath) -> Result<String> {
        let key = self.file_key(path)?;
        self.guard(&key, path.as_str()).await?;
        let upload_id = uuid::Uuid::new_v4().simple().to_string();
        let marker = upload_dir(&upload_id).join(UPLOAD_MARKER);
        self.guard(&marker, path.as_str()).await?;
        let target = Bytes::copy_from_slice(path.as_str().as_bytes());
        self.inner.put(&marker, target.into()).await?;
        Ok(upload_id)
    }

    /// Stores part `part_number` (1 to 10 000) of upload `upload_id` to `path`, replacing an
    /// earlier upload of the same part. Parts may be of any size and arrive in any order.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUpload`] for a malformed id, a part number out of range or an upload
    /// made for another path; [`Error::UploadNotFound`] if the upload does not exist;
    /// [`Error::InvalidPath`], [`Error::Body`], [`Error::Backend`] as for [`ArtifactStore::put`].
    pub async fn upload_part(
        &self,
        path: &ArtifactPath,
        upload_id: &str,
        part_number: u32,
        body: impl Stream<Item = std::io::Result<Bytes>> + Send + Unpin,
    ) -> Result<()> {
        check_part_number(upload_id, part_number)?;
        self.check_upload(path, upload_id).await?;
        let key = part_key(upload_id, part_number);
        self.guard(&key, path.as_str()).await?;
        self.write_stream(&key, body.map_err(Error::Body)).await?;
        Ok(())
    }

    /// Finishes upload `upload_id`: concatenates the listed parts, in the given order, into the
    /// file at `path` (streaming; the parts are not held in memory), then removes the upload
    /// with all its parts (best effort: left-overs are removed by
    /// [`ArtifactStore::abort_stale_multipart`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUpload`] for a malformed id, an upload made for another path, an empty
    /// part list, part numbers out of range or not strictly increasing, or a listed part that
    /// was never uploaded; [`Error::UploadNotFound`] if the upload does not exist;
    /// [`Error::InvalidPath`] / [`Error::Backend`] as for [`ArtifactStore::put`]. On error
    /// the upload is kept, so completing can be retried.
    pub async fn complete_multipart(
        &self,
        path: &ArtifactPath,
        upload_id: &str,
        part_numbers: &[u32],
    ) -> Result<()> {
        if part_numbers.is_empty() {
            return Err(Error::invalid_upload(upload_id, "no parts were listed"));
        }
        for &n in part_numbers {
            check_part_number(upload_id, n)?;
        }
        if part_numbers.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::invalid_upload(
                upload_id,
                "part numbers must be strictly increasing",
            ));
        }
        let key = self.file_key(path)?;
        self.check_upload(path, upload_id).await?;
        self.guard(&key, path.as_str()).await?;
        for &n in part_numbers {
            let part = part_key(upload_id, n);
            self.guard(&part, path.as_str()).await?;
            match self.inner.head(&part).await {
                Ok(_) => {}
                Err(object_store::Error::NotFound { .. }) => {
                    return Err(Error::invalid_upload(
                        upload_id,
                        format!("part {n} has not been uploaded"),
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        let store = Arc::clone(&self.inner);
        let parts: Vec<Path> = part_numbers
            .iter()
            .map(|&n| part_key(upload_id, n))
            .collect();
        let body = stream::iter(parts)
            .then(move |part| {
                let store = Arc::clone(&store);
                async move {
                    let result = store.get(&part).await?;
                    Ok::<_, Error>(result.into_stream().map_err(Error::from))
                }
            })
            .try_flatten()
            .boxed();
        self.write_stream(&key, body).await?;
        // The file is complete; failing to clean up is not the caller's problem.
        let _ = self.remove_tree(&upload_dir(upload_id)).await;
        Ok(())
    }

    /// Cancels upload `upload_id` and removes all its parts.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUpload`] for a malformed id or an upload made for another path;
    /// [`Error::UploadNotFound`] if the upload does not exist; [`Error::Backend`] /
    /// [`Error::Io`] if a deletion fails.
    pub async fn abort_multipart(&self, path: &ArtifactPath, upload_id: &str) -> Result<()> {
        self.check_upload(path, upload_id).await?;
        self.remove_tree(&upload_dir(upload_id)).await
    }

    /// Removes multipart uploads in which nothing has been written for at least `max_age`,
    /// and returns how many were removed. Meant to be run now and then by one replica.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] / [`Error::Io`] if listing or deleting fails.
    pub async fn abort_stale_multipart(&self, max_age: Duration) -> Result<usize> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let max_age = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
        let reserved = Path::from(RESERVED_DIR);
        let uploads = match self.inner.list_with_delimiter(Some(&reserved)).await {
            Ok(listing) => listing.common_prefixes,
            Err(object_store::Error::NotFound { .. }) => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        let mut removed = 0;
        for upload in uploads {
            let newest = self
                .inner
                .list(Some(&upload))
                .try_fold(i64::MIN, |newest, meta| async move {
                    Ok(newest.max(meta.last_modified.timestamp()))
                })
                .await?;
            if now.saturating_sub(newest) >= max_age {
                self.remove_tree(&upload).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The key of a file: like [`to_key`] but the root is refused, and so are, on the local
    /// back end, file names ending in `#` and digits (its staging files are named so).
    fn file_key(&self, path: &ArtifactPath) -> Result<Path> {
        let Some(name) = path.file_name() else {
            return Err(Error::invalid_path(
                "",
                "a file path is required, not the root",
            ));
        };
        if self.local_root.is_some()
            && let Some((_, suffix)) = name.rsplit_once('#')
            && !suffix.is_empty()
            && suffix.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(Error::invalid_path(
                path.as_str(),
                "file names ending in '#' and digits are reserved by the local store",
            ));
        }
        to_key(path)
    }

    /// For the local back end, refuses `key` if it passes through a symbolic link that
    /// resolves outside the root. `shown` is the path to name in the error.
    async fn guard(&self, key: &Path, shown: &str) -> Result<()> {
        let Some(root) = &self.local_root else {
            return Ok(());
        };
        let root = Arc::clone(root);
        let segments: Vec<String> = key.parts().map(|p| p.as_ref().to_string()).collect();
        let inside = tokio::task::spawn_blocking(move || stays_inside(&root, &segments))
            .await
            .map_err(std::io::Error::other)??;
        if inside {
            Ok(())
        } else {
            Err(Error::invalid_path(
                shown,
                "the path passes through a symbolic link that leads outside the artifact root",
            ))
        }
    }

    /// Checks that upload `upload_id` exists and was made for `path`.
    async fn check_upload(&self, path: &ArtifactPath, upload_id: &str) -> Result<()> {
        check_upload_id(upload_id)?;
        let marker = upload_dir(upload_id).join(UPLOAD_MARKER);
        self.guard(&marker, path.as_str()).await?;
        let target = match self.inner.get(&marker).await {
            Ok(result) => result.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::UploadNotFound {
                    upload_id: upload_id.to_string(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        if target.as_ref() == path.as_str().as_bytes() {
            Ok(())
        } else {
            Err(Error::invalid_upload(
                upload_id,
                "the upload was created for another artifact path",
            ))
        }
    }

    /// Writes a stream to `key`: one `put` if it fits in a part, else a multipart upload that
    /// is aborted if the stream or the back end fails.
    async fn write_stream<S>(&self, key: &Path, mut body: S) -> Result<u64>
    where
        S: Stream<Item = Result<Bytes>> + Send + Unpin,
    {
        let mut written: u64 = 0;
        let mut buffer = PutPayloadMut::new();
        let mut upload: Option<WriteMultipart> = None;
        loop {
            let chunk = match body.next().await {
                None => break,
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => {
                    if let Some(upload) = upload {
                        let _ = upload.abort().await;
                    }
                    return Err(e);
                }
            };
            written += chunk.len() as u64;
            if let Some(writer) = upload.as_mut() {
                if let Err(e) = writer.wait_for_capacity(MAX_PARTS_IN_FLIGHT).await {
                    if let Some(upload) = upload {
                        let _ = upload.abort().await;
                    }
                    return Err(e.into());
                }
                writer.put(chunk);
            } else if buffer.content_length() + chunk.len() <= PART_SIZE {
                buffer.push(chunk);
            } else {
                let multipart = self.inner.put_multipart(key).await?;
                let mut writer = WriteMultipart::new_with_chunk_size(multipart, PART_SIZE);
                for buffered in std::mem::take(&mut buffer).freeze() {
                    writer.put(buffered);
                }
                writer.put(chunk);
                upload = Some(writer);
            }
        }
        match upload {
            Some(writer) => {
                writer.finish().await?;
            }
            None => {
                self.inner.put(key, buffer.freeze()).await?;
            }
        }
        Ok(written)
    }

    /// Removes the object at `key` and everything below it; missing is fine.
    async fn remove_tree(&self, key: &Path) -> Result<()> {
        if let Some(root) = &self.local_root {
            // Removing through the file system also removes the emptied directories, and
            // `remove_dir_all` never follows symbolic links.
            let target = key
                .parts()
                .fold(root.as_ref().clone(), |dir, part| dir.join(part.as_ref()));
            let root = Arc::clone(root);
            return tokio::task::spawn_blocking(move || remove_local(&root, &target))
                .await
                .map_err(std::io::Error::other)?
                .map_err(Error::from);
        }
        match self.inner.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let below = self
            .inner
            .list(Some(key))
            .map_ok(|meta| meta.location)
            .boxed();
        let mut deleted = self.inner.delete_stream(below);
        while let Some(result) = deleted.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// `name:` in front (two or more scheme characters, no `/` before the colon), as in `s3:bucket`
/// or `memory:`; a single letter is a drive letter, not a scheme.
fn looks_like_scheme(raw: &str) -> bool {
    match raw.split_once(':') {
        Some((head, _)) => {
            head.len() >= 2
                && head.starts_with(|c: char| c.is_ascii_alphabetic())
                && head
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

/// The object key of an artifact path (already validated, so kept literally).
fn to_key(path: &ArtifactPath) -> Result<Path> {
    Path::parse(path.as_str()).map_err(|e| Error::invalid_path(path.as_str(), e.to_string()))
}

fn not_found_as(error: object_store::Error, path: &ArtifactPath) -> Error {
    match error {
        object_store::Error::NotFound { .. } => Error::NotFound {
            path: path.as_str().to_string(),
        },
        other => Error::Backend(other),
    }
}

fn upload_dir(upload_id: &str) -> Path {
    Path::from(RESERVED_DIR).join(upload_id)
}

fn part_key(upload_id: &str, part_number: u32) -> Path {
    upload_dir(upload_id).join(format!("{part_number:05}"))
}

fn check_upload_id(upload_id: &str) -> Result<()> {
    let well_formed = !upload_id.is_empty()
        && upload_id.len() <= 64
        && upload_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if well_formed {
        Ok(())
    } else {
        Err(Error::invalid_upload(upload_id, "malformed upload id"))
    }
}

fn check_part_number(upload_id: &str, part_number: u32) -> Result<()> {
    check_upload_id(upload_id)?;
    if (1..=MAX_PART_NUMBER).contains(&part_number) {
        Ok(())
    } else {
        Err(Error::invalid_upload(
            upload_id,
            format!("part number {part_number} is not between 1 and {MAX_PART_NUMBER}"),
        ))
    }
}

/// Whether `root/segments...` stays inside `root` (canonical) when symbolic links along it are
/// resolved. Segments that do not exist yet are fine: they will be created as plain entries.
fn stays_inside(root: &FsPath, segments: &[String]) -> std::io::Result<bool> {
    let mut current = root.to_path_buf();
    for segment in segments {
        current.push(segment);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => match std::fs::canonicalize(&current) {
                Ok(resolved) if resolved.starts_with(root) => current = resolved,
                // Leads outside, or dangles (a write would create its target).
                _ => return Ok(false),
            },
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(true);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Keeps the listing entries whose paths stay inside the local root.
async fn keep_inside_root(
    root: Arc<PathBuf>,
    entries: Vec<(Path, FileInfo)>,
) -> Result<Vec<(Path, FileInfo)>> {
    let kept = tokio::task::spawn_blocking(move || {
        let mut kept = Vec::with_capacity(entries.len());
        for (key, info) in entries {
            let segments: Vec<String> = key.parts().map(|p| p.as_ref().to_string()).collect();
            if stays_inside(&root, &segments)? {
                kept.push((key, info));
            }
        }
        Ok::<_, std::io::Error>(kept)
    })
    .await
    .map_err(std::io::Error::other)??;
    Ok(kept)
}

/// Removes a file, a symbolic link (not its target) or a whole directory below `root`;
/// missing is fine. Then removes the directories above it that this left empty, as an object
/// store has no empty directories either.
fn remove_local(root: &FsPath, target: &FsPath) -> std::io::Result<()> {
    let result = match std::fs::symlink_metadata(target) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(target),
        Ok(_) => std::fs::remove_file(target),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {}
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) => {}
        Err(e) => return Err(e),
    }
    let mut dir = target.parent();
    while let Some(current) = dir {
        // `remove_dir` only removes an empty directory; stop at the first one in use.
        if current == root || !current.starts_with(root) || std::fs::remove_dir(current).is_err() {
            break;
        }
        dir = current.parent();
    }
    Ok(())
}
