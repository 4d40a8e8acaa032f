//! Copies between local files and directories and the store.

use std::path::{Path, PathBuf};

use futures::TryStreamExt;
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};
use crate::path::ArtifactPath;
use crate::store::ArtifactStore;

impl ArtifactStore {
    /// Streams the local file `local` to `dest`.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; as [`ArtifactStore::put`] otherwise.
    pub async fn upload_file(&self, local: &Path, dest: &ArtifactPath) -> Result<u64> {
        let file = tokio::fs::File::open(local).await?;
        let body = tokio_util::io::ReaderStream::new(file);
        self.put(dest, body).await
    }

    /// Uploads every file under the local directory `local` to `dest`, keeping relative
    /// paths. Symbolic links are refused.
    ///
    /// # Errors
    /// [`Error::InvalidPath`] for a symbolic link or a name the store refuses; as
    /// [`ArtifactStore::upload_file`] otherwise.
    pub async fn upload_dir(&self, local: &Path, dest: &ArtifactPath) -> Result<u64> {
        let mut total = 0;
        for (relative, path) in local_files(local)? {
            let target = dest.join(&ArtifactPath::parse(&relative)?);
            total += self.upload_file(&path, &target).await?;
        }
        Ok(total)
    }

    /// Streams the file at `src` into the local file `local` (its parent is created).
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no file at `src`; [`Error::Io`] when writing fails.
    pub async fn download_file(&self, src: &ArtifactPath, local: &Path) -> Result<u64> {
        if let Some(parent) = local.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let download = self.get(src).await?;
        let mut file = tokio::fs::File::create(local).await?;
        let mut stream = download.stream;
        let mut written = 0;
        while let Some(chunk) = stream.try_next().await? {
            file.write_all(&chunk).await?;
            written += chunk.len() as u64;
        }
        file.flush().await?;
        Ok(written)
    }

    /// Downloads every file under the directory `src` into the local directory `local`.
    /// Returns how many files were copied (0 when `src` is empty or missing).
    ///
    /// # Errors
    /// As [`ArtifactStore::download_file`].
    pub async fn download_dir(&self, src: &ArtifactPath, local: &Path) -> Result<usize> {
        tokio::fs::create_dir_all(local).await?;
        let mut count = 0;
        let mut pending = vec![(src.clone(), local.to_path_buf())];
        while let Some((dir, target)) = pending.pop() {
            for entry in self.list(Some(&dir)).await? {
                let child = dir.join(&ArtifactPath::parse(&entry.path)?);
                let local_child = target.join(&entry.path);
                if entry.is_dir {
                    pending.push((child, local_child));
                } else {
                    self.download_file(&child, &local_child).await?;
                    count += 1;
                }
            }
        }
        Ok(count)
    }

    /// Whether a file exists at `path`, or a directory with at least one file below it.
    ///
    /// # Errors
    /// As [`ArtifactStore::list`].
    pub async fn exists(&self, path: &ArtifactPath) -> Result<bool> {
        if !self.list(Some(path)).await?.is_empty() {
            return Ok(true);
        }
        match self.get(path).await {
            Ok(_) => Ok(true),
            Err(Error::NotFound { .. } | Error::InvalidPath { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Every file under `root`, as (relative path with `/`, absolute path), sorted.
fn local_files(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_symlink() {
                return Err(Error::InvalidPath {
                    path: path.display().to_string(),
                    reason: "symbolic links are not uploaded".into(),
                });
            }
            if kind.is_dir() {
                pending.push(path);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                files.push((relative, path));
            }
        }
    }
    files.sort();
    Ok(files)
}
