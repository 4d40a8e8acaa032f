//! Integration tests of the artifact store.
//!
//! The behaviours in `cases` are written once and run against every back end: memory, a local
//! directory in a temporary directory, and S3. The S3 run needs a real S3 HTTP API (moto's
//! server in development and CI) and reads:
//!
//! - `ESTEIRA_TEST_S3_BUCKET`: an existing bucket; each test works below its own unique prefix,
//!   so tests run in parallel against one bucket;
//! - the standard `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!   `AWS_REGION`, `AWS_ALLOW_HTTP`.
//!
//! Without `ESTEIRA_TEST_S3_BUCKET` the S3 tests print "skipped: S3 not configured" and pass,
//! unless `CI=true` or `ESTEIRA_REQUIRE_SERVICES=1`, where they fail.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use esteira_artifacts::{ArtifactPath, ArtifactStore, Error, FileInfo};
use futures::stream::{self, BoxStream, StreamExt};

#[derive(Clone, Copy, Debug)]
enum Backend {
    Memory,
    Local,
    S3,
}

/// A store under test, and the temporary directory that must outlive it.
struct Fixture {
    store: ArtifactStore,
    _dir: Option<tempfile::TempDir>,
}

/// A name no other test (in this or a concurrent run) uses.
fn unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("t{nanos:x}-{}-{n}", std::process::id())
}

fn services_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("ESTEIRA_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// Opens a fresh store of `backend`; `None` when S3 is not configured and not required.
fn open(backend: Backend) -> anyhow::Result<Option<Fixture>> {
    let fixture = match backend {
        Backend::Memory => Fixture {
            store: ArtifactStore::from_url("memory://")?,
            _dir: None,
        },
        Backend::Local => {
            let dir = tempfile::tempdir()?;
            let root = dir.path().join("artifacts");
            let url = root.to_str().context("temp dir is not UTF-8")?;
            Fixture {
                store: ArtifactStore::from_url(url)?,
                _dir: Some(dir),
            }
        }
        Backend::S3 => {
            let bucket = std::env::var("ESTEIRA_TEST_S3_BUCKET").unwrap_or_default();
            if bucket.is_empty() {
                if services_required() {
                    bail!(
                        "S3 is required here (CI=true or ESTEIRA_REQUIRE_SERVICES=1) but \
                         ESTEIRA_TEST_S3_BUCKET is not set"
                    );
                }
                eprintln!(
                    "\n************************************************************\n\
                     *** skipped: S3 not configured (set ESTEIRA_TEST_S3_BUCKET and AWS_ENDPOINT_URL etc.)\n\
                     ************************************************************"
                );
                return Ok(None);
            }
            let url = format!("s3://{bucket}/esteira-tests/{}", unique());
            Fixture {
                store: ArtifactStore::from_url(&url)?,
                _dir: None,
            }
        }
    };
    Ok(Some(fixture))
}

async fn run<F, Fut>(backend: Backend, case: F) -> anyhow::Result<()>
where
    F: FnOnce(ArtifactStore) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let Some(fixture) = open(backend)? else {
        return Ok(());
    };
    case(fixture.store.clone())
        .await
        .with_context(|| format!("back end {backend:?} ({})", fixture.store.url()))
}

fn p(raw: &str) -> ArtifactPath {
    match ArtifactPath::parse(raw) {
        Ok(path) => path,
        Err(e) => panic!("test path {raw:?} must be valid: {e}"),
    }
}

/// Deterministic pseudo-random bytes, different per seed.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// `data` as a stream of chunks of `chunk` bytes.
fn chunked(data: &[u8], chunk: usize) -> BoxStream<'static, std::io::Result<Bytes>> {
    let chunks: Vec<std::io::Result<Bytes>> = data
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(chunks).boxed()
}

async fn read(store: &ArtifactStore, path: &str) -> anyhow::Result<Bytes> {
    Ok(store.get(&p(path)).await?.into_bytes().await?)
}

fn file(name: &str, size: u64) -> FileInfo {
    FileInfo {
        path: name.to_string(),
        is_dir: false,
        file_size: Some(size),
    }
}

fn dir(name: &str) -> FileInfo {
    FileInfo {
        path: name.to_string(),
        is_dir: true,
        file_size: None,
    }
}

/// The behaviours every back end must have.
mod cases {
    use std::time::Duration;

    use super::*;

    pub async fn round_trip_small(store: ArtifactStore) -> anyhow::Result<()> {
        store
            .put_bytes(&p("hello.txt"), Bytes::from_static(b"hello"))
            .await?;
        let download = store.get(&p("hello.txt")).await?;
        ensure!(download.size == 5, "size {}", download.size);
        ensure!(download.into_bytes().await? == "hello");

        // Streamed put, nested, replacing an existing file.
        let n = store
            .put(&p("a/b/c.bin"), chunked(b"first version", 4))
            .await?;
        ensure!(n == 13);
        let n = store.put(&p("a/b/c.bin"), chunked(b"second", 2)).await?;
        ensure!(n == 6);
        ensure!(read(&store, "a/b/c.bin").await? == "second");

        // Empty files, and names that look encoded or unusual are kept literally.
        store.put(&p("empty"), chunked(b"", 1)).await?;
        ensure!(read(&store, "empty").await?.is_empty());
        for name in ["a%20b.txt", "sp ace.txt", "ünï.txt", "x#y.txt", "100%"] {
            store
                .put_bytes(&p(name), Bytes::copy_from_slice(name.as_bytes()))
                .await
                .with_context(|| format!("put {name:?}"))?;
            ensure!(read(&store, name).await? == name.as_bytes(), "{name:?}");
        }
        let names: Vec<String> = store
            .list(None)
            .await?
            .into_iter()
            .map(|f| f.path)
            .collect();
        for name in ["a%20b.txt", "sp ace.txt", "ünï.txt", "x#y.txt", "100%"] {
            ensure!(names.iter().any(|n| n == name), "{name:?} not in {names:?}");
        }
        Ok(())
    }

    pub async fn round_trip_large_streamed(store: ArtifactStore) -> anyhow::Result<()> {
        // 20 MiB in 64 KiB chunks: more than two 8 MiB parts, so the multipart path is used.
        let data = pattern(20 * 1024 * 1024 + 123, 7);
        let n = store
            .put(&p("big/model.bin"), chunked(&data, 64 * 1024))
            .await?;
        ensure!(n == data.len() as u64, "wrote {n}");
        let download = store.get(&p("big/model.bin")).await?;
        ensure!(download.size == data.len() as u64);
        let mut stream = download.stream;
        let mut offset = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            ensure!(
                data.get(offset..offset + chunk.len()) == Some(&chunk[..]),
                "mismatch at {offset}"
            );
            offset += chunk.len();
        }
        ensure!(offset == data.len(), "read {offset} of {}", data.len());
        ensure!(store.list(Some(&p("big"))).await? == [file("model.bin", n)]);
        Ok(())
    }

    pub async fn list_nested(store: ArtifactStore) -> anyhow::Result<()> {
        for (path, body) in [
            ("top.txt", "1"),
            ("a/x.txt", "22"),
            ("a/sub/y.txt", "333"),
            ("a/sub/deeper/z.txt", "4444"),
            ("ab/other.txt", "55555"),
        ] {
            store.put_bytes(&p(path), Bytes::from(body)).await?;
        }
        ensure!(store.list(None).await? == [dir("a"), dir("ab"), file("top.txt", 1)]);
        ensure!(store.list(Some(&ArtifactPath::root())).await? == store.list(None).await?);
        ensure!(store.list(Some(&p("a"))).await? == [dir("sub"), file("x.txt", 2)]);
        ensure!(store.list(Some(&p("a/"))).await? == [dir("sub"), file("x.txt", 2)]);
        ensure!(store.list(Some(&p("a/sub"))).await? == [dir("deeper"), file("y.txt", 3)]);
        ensure!(store.list(Some(&p("a/sub/deeper"))).await? == [file("z.txt", 4)]);
        ensure!(store.list(Some(&p("missing"))).await?.is_empty());
        ensure!(store.list(Some(&p("a/x.txt"))).await?.is_empty());

        // An upload in progress is invisible.
        let _id = store.create_multipart(&p("a/pending.bin")).await?;
        ensure!(store.list(None).await? == [dir("a"), dir("ab"), file("top.txt", 1)]);
        ensure!(store.list(Some(&p("a"))).await? == [dir("sub"), file("x.txt", 2)]);
        Ok(())
    }

    pub async fn delete_file_and_directory(store: ArtifactStore) -> anyhow::Result<()> {
        for path in [
            "keep.txt",
            "a/x.txt",
            "a/sub/y.txt",
            "a/sub/z/w.txt",
            "ab/k.txt",
        ] {
            store.put_bytes(&p(path), Bytes::from("data")).await?;
        }
        store.delete(&p("a/x.txt")).await?;
        ensure!(matches!(
            store.get(&p("a/x.txt")).await,
            Err(Error::NotFound { .. })
        ));
        ensure!(store.list(Some(&p("a"))).await? == [dir("sub")]);
        // A directory whose last file is deleted is gone too.
        store.delete(&p("a/sub/z/w.txt")).await?;
        ensure!(store.list(Some(&p("a/sub"))).await? == [file("y.txt", 4)]);

        store.delete(&p("a")).await?;
        ensure!(store.list(Some(&p("a"))).await?.is_empty());
        ensure!(matches!(
            store.get(&p("a/sub/y.txt")).await,
            Err(Error::NotFound { .. })
        ));
        // A sibling sharing the name as a string prefix is untouched.
        ensure!(store.list(None).await? == [dir("ab"), file("keep.txt", 4)]);
        ensure!(read(&store, "ab/k.txt").await? == "data");

        // Deleting what is not there succeeds; the root is refused.
        store.delete(&p("a")).await?;
        store.delete(&p("never/was")).await?;
        ensure!(matches!(
            store.delete(&ArtifactPath::root()).await,
            Err(Error::InvalidPath { .. })
        ));
        ensure!(read(&store, "keep.txt").await? == "data");
        Ok(())
    }

    pub async fn not_found(store: ArtifactStore) -> anyhow::Result<()> {
        match store.get(&p("nope/missing.txt")).await {
            Err(Error::NotFound { path }) => ensure!(path == "nope/missing.txt"),
            other => bail!("expected NotFound, got {other:?}"),
        }
        store.put_bytes(&p("d/f.txt"), Bytes::from("x")).await?;
        ensure!(
            matches!(store.get(&p("d")).await, Err(Error::NotFound { .. })),
            "a directory is not a file"
        );
        ensure!(matches!(
            store.get(&ArtifactPath::root()).await,
            Err(Error::InvalidPath { .. })
        ));
        ensure!(matches!(
            store.put_bytes(&ArtifactPath::root(), Bytes::new()).await,
            Err(Error::InvalidPath { .. })
        ));
        Ok(())
    }

    pub async fn multipart_complete(store: ArtifactStore) -> anyhow::Result<()> {
        let target = p("models/m/weights.bin");
        let id = store.create_multipart(&target).await?;
        // Part 1 is larger than one internal part, so storing it is itself multipart.
        let parts = [
            pattern(9 * 1024 * 1024, 1),
            pattern(5 * 1024 * 1024, 2),
            pattern(1234, 3),
        ];
        // Out of order, and part 2 uploaded twice (the second upload wins).
        store
            .upload_part(&target, &id, 3, chunked(&parts[2], 1000))
            .await?;
        store
            .upload_part(&target, &id, 2, chunked(b"to be replaced", 3))
            .await?;
        store
            .upload_part(&target, &id, 1, chunked(&parts[0], 256 * 1024))
            .await?;
        store
            .upload_part(&target, &id, 2, chunked(&parts[1], 256 * 1024))
            .await?;
        ensure!(matches!(
            store.get(&target).await,
            Err(Error::NotFound { .. })
        ));
        store.complete_multipart(&target, &id, &[1, 2, 3]).await?;

        let expected: Vec<u8> = parts.concat();
        let got = read(&store, target.as_str()).await?;
        ensure!(got.len() == expected.len(), "length {}", got.len());
        ensure!(got == expected, "content differs");
        ensure!(
            store.list(Some(&p("models/m"))).await? == [file("weights.bin", expected.len() as u64)]
        );

        // The upload is gone once completed.
        ensure!(matches!(
            store
                .upload_part(&target, &id, 4, chunked(b"late", 4))
                .await,
            Err(Error::UploadNotFound { .. })
        ));
        ensure!(matches!(
            store.complete_multipart(&target, &id, &[1]).await,
            Err(Error::UploadNotFound { .. })
        ));

        // A subset of the uploaded parts may be completed.
        let small = p("small.txt");
        let id = store.create_multipart(&small).await?;
        for (n, body) in [(1, "one,"), (2, "two,"), (5, "five")] {
            store
                .upload_part(&small, &id, n, chunked(body.as_bytes(), 2))
                .await?;
        }
        store.complete_multipart(&small, &id, &[1, 5]).await?;
        ensure!(read(&store, "small.txt").await? == "one,five");
        Ok(())
    }

    pub async fn multipart_errors(store: ArtifactStore) -> anyhow::Result<()> {
        let target = p("out.bin");
        let id = store.create_multipart(&target).await?;
        store
            .upload_part(&target, &id, 1, chunked(b"abc", 2))
            .await?;
        store
            .upload_part(&target, &id, 2, chunked(b"def", 2))
            .await?;

        let invalid = |r: Result<(), Error>| matches!(r, Err(Error::InvalidUpload { .. }));
        ensure!(invalid(store.complete_multipart(&target, &id, &[]).await));
        ensure!(invalid(
            store.complete_multipart(&target, &id, &[2, 1]).await
        ));
        ensure!(invalid(
            store.complete_multipart(&target, &id, &[1, 1]).await
        ));
        ensure!(invalid(
            store.complete_multipart(&target, &id, &[1, 3]).await
        ));
        ensure!(invalid(
            store.complete_multipart(&target, &id, &[0, 1]).await
        ));
        ensure!(invalid(
            store.upload_part(&target, &id, 0, chunked(b"x", 1)).await
        ));
        ensure!(invalid(
            store
                .upload_part(&target, &id, 10_001, chunked(b"x", 1))
                .await
        ));
        // The id belongs to another path.
        ensure!(invalid(
            store
                .upload_part(&p("other.bin"), &id, 1, chunked(b"x", 1))
                .await
        ));
        ensure!(invalid(store.abort_multipart(&p("other.bin"), &id).await));
        // Malformed ids never reach the store.
        for bad in ["", "../x", "a/b", "..", "x y", &"a".repeat(65)] {
            ensure!(
                invalid(store.abort_multipart(&target, bad).await),
                "id {bad:?}"
            );
        }
        ensure!(matches!(
            store
                .complete_multipart(&target, "0123456789abcdef", &[1])
                .await,
            Err(Error::UploadNotFound { .. })
        ));
        ensure!(matches!(
            store.get(&target).await,
            Err(Error::NotFound { .. })
        ));

        // After the failures, completing still works.
        store.complete_multipart(&target, &id, &[1, 2]).await?;
        ensure!(read(&store, "out.bin").await? == "abcdef");
        Ok(())
    }

    pub async fn multipart_abort(store: ArtifactStore) -> anyhow::Result<()> {
        let target = p("aborted/file.bin");
        let id = store.create_multipart(&target).await?;
        store
            .upload_part(&target, &id, 1, chunked(&pattern(100_000, 9), 4096))
            .await?;
        store.abort_multipart(&target, &id).await?;
        ensure!(matches!(
            store.complete_multipart(&target, &id, &[1]).await,
            Err(Error::UploadNotFound { .. })
        ));
        ensure!(matches!(
            store.abort_multipart(&target, &id).await,
            Err(Error::UploadNotFound { .. })
        ));
        ensure!(matches!(
            store.get(&target).await,
            Err(Error::NotFound { .. })
        ));
        ensure!(store.list(None).await?.is_empty());
        Ok(())
    }

    pub async fn multipart_stale_cleanup(store: ArtifactStore) -> anyhow::Result<()> {
        let target = p("stale.bin");
        let id = store.create_multipart(&target).await?;
        store
            .upload_part(&target, &id, 1, chunked(b"part", 2))
            .await?;
        ensure!(
            store
                .abort_stale_multipart(Duration::from_secs(3600))
                .await?
                == 0
        );
        store
            .upload_part(&target, &id, 2, chunked(b"more", 2))
            .await?;
        ensure!(store.abort_stale_multipart(Duration::ZERO).await? == 1);
        ensure!(matches!(
            store.complete_multipart(&target, &id, &[1]).await,
            Err(Error::UploadNotFound { .. })
        ));
        ensure!(store.abort_stale_multipart(Duration::ZERO).await? == 0);
        Ok(())
    }

    pub async fn failing_body_stores_nothing(store: ArtifactStore) -> anyhow::Result<()> {
        for size in [1000, 12 * 1024 * 1024] {
            let data = pattern(size, 4);
            let chunks: Vec<std::io::Result<Bytes>> = data
                .chunks(64 * 1024)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .chain([Err(std::io::Error::other("client went away"))])
                .collect();
            let result = store.put(&p("broken.bin"), stream::iter(chunks)).await;
            ensure!(
                matches!(result, Err(Error::Body(_))),
                "size {size}: {result:?}"
            );
            ensure!(matches!(
                store.get(&p("broken.bin")).await,
                Err(Error::NotFound { .. })
            ));
            ensure!(store.list(None).await?.is_empty(), "size {size}");
        }
        Ok(())
    }

    pub async fn path_traversal_rejected(store: ArtifactStore) -> anyhow::Result<()> {
        let bad = [
            "..",
            "../x",
            "/etc/passwd",
            "a/../../b",
            "%2e%2e/x",
            "%2E%2E%2Fx",
            "a%2f..%2f..%2fb",
            "a\\b",
            "..\\..\\x",
            "a%5c..%5cb",
            "C:/x",
            "c:\\x",
            "a\0b",
            "a%00b",
            "a//b",
            ".esteira-mpu/x",
        ];
        for raw in bad {
            match ArtifactPath::parse(raw) {
                Err(Error::InvalidPath { path, reason }) => {
                    ensure!(path == raw, "{raw:?} reported as {path:?}");
                    ensure!(!reason.is_empty());
                }
                other => bail!("{raw:?} must be rejected, got {other:?}"),
            }
        }
        // Nothing was created, and the store is unaffected.
        ensure!(store.list(None).await?.is_empty());
        store.put_bytes(&p("ok.txt"), Bytes::from("ok")).await?;
        ensure!(store.list(None).await? == [file("ok.txt", 2)]);
        Ok(())
    }
}

/// One test per case for the back end `$backend`, in a module named `$module`.
macro_rules! backend_tests {
    ($module:ident, $backend:expr, [$($case:ident),* $(,)?]) => {
        mod $module {
            $(
                #[tokio::test]
                async fn $case() -> anyhow::Result<()> {
                    crate::run($backend, crate::cases::$case).await
                }
            )*
        }
    };
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        backend_tests!(memory, crate::Backend::Memory, [$($case),*]);
        backend_tests!(local, crate::Backend::Local, [$($case),*]);
        backend_tests!(s3, crate::Backend::S3, [$($case),*]);
    };
}

suite!(
    round_trip_small,
    round_trip_large_streamed,
    list_nested,
    delete_file_and_directory,
    not_found,
    multipart_complete,
    multipart_errors,
    multipart_abort,
    multipart_stale_cleanup,
    failing_body_stores_nothing,
    path_traversal_rejected,
);

/// Tests of one back end or of opening stores.
mod specific {
    use std::path::Path;

    use super::*;

    fn invalid_path<T: std::fmt::Debug>(result: Result<T, Error>) -> anyhow::Result<()> {
        match result {
            Err(Error::InvalidPath { reason, .. }) => {
                ensure!(reason.contains("symbolic link"), "reason {reason:?}");
                Ok(())
            }
            other => bail!("expected InvalidPath, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn local_symlinks_out_of_the_root_are_refused() -> anyhow::Result<()> {
        let outside = tempfile::tempdir()?;
        let secret = outside.path().join("secret.txt");
        std::fs::write(&secret, "secret")?;
        let base = tempfile::tempdir()?;
        let root = base.path().join("root");
        std::fs::create_dir_all(root.join("real"))?;
        std::fs::write(root.join("real/inside.txt"), "inside")?;
        std::os::unix::fs::symlink(outside.path(), root.join("link"))?;
        std::os::unix::fs::symlink(&secret, root.join("leak.txt"))?;
        std::os::unix::fs::symlink(outside.path().join("new.txt"), root.join("dangling"))?;
        std::os::unix::fs::symlink(root.join("real"), root.join("alias"))?;
        let store = ArtifactStore::from_url(root.to_str().context("utf-8")?)?;

        // Reads.
        invalid_path(store.get(&p("link/secret.txt")).await)?;
        invalid_path(store.get(&p("leak.txt")).await)?;
        invalid_path(store.list(Some(&p("link"))).await)?;
        // Writes.
        invalid_path(
            store
                .put_bytes(&p("link/secret.txt"), Bytes::from("pwned"))
                .await,
        )?;
        invalid_path(store.put(&p("link/new.txt"), chunked(b"pwned", 2)).await)?;
        invalid_path(store.put_bytes(&p("leak.txt"), Bytes::from("pwned")).await)?;
        invalid_path(store.put_bytes(&p("dangling"), Bytes::from("pwned")).await)?;
        invalid_path(store.create_multipart(&p("link/mpu.bin")).await)?;
        // Deletes.
        invalid_path(store.delete(&p("link/secret.txt")).await)?;
        invalid_path(store.delete(&p("link")).await)?;
        invalid_path(store.delete(&p("leak.txt")).await)?;

        ensure!(std::fs::read_to_string(&secret)? == "secret");
        ensure!(!outside.path().join("new.txt").exists());
        ensure!(!outside.path().join("mpu.bin").exists());

        // Links out of the root are not listed; links inside it work.
        ensure!(store.list(None).await? == [dir("alias"), dir("real")]);
        ensure!(read(&store, "alias/inside.txt").await? == "inside");
        ensure!(store.list(Some(&p("alias"))).await? == [file("inside.txt", 6)]);

        // Deleting a directory that holds a link out removes the link, not its target.
        std::fs::create_dir_all(root.join("d/e"))?;
        std::os::unix::fs::symlink(outside.path(), root.join("d/e/out"))?;
        std::fs::write(root.join("d/e/f.txt"), "f")?;
        store.delete(&p("d")).await?;
        ensure!(!root.join("d").exists());
        ensure!(std::fs::read_to_string(&secret)? == "secret");

        // The hidden multipart directory is checked too.
        std::os::unix::fs::symlink(outside.path(), root.join(".esteira-mpu"))?;
        invalid_path(store.create_multipart(&p("x.bin")).await)?;
        ensure!(std::fs::read_dir(outside.path())?.count() == 1);
        Ok(())
    }

    #[tokio::test]
    async fn local_files_are_plain_files_on_disk() -> anyhow::Result<()> {
        let base = tempfile::tempdir()?;
        let root = base.path().join("deep/new/root");
        let url = format!("file://{}", root.display());
        let store = ArtifactStore::from_url(&url)?;
        ensure!(store.url() == url);
        ensure!(root.is_dir(), "the directory is created");

        store
            .put_bytes(&p("run1/model/MLmodel"), Bytes::from("flavors: {}"))
            .await?;
        ensure!(std::fs::read_to_string(root.join("run1/model/MLmodel"))? == "flavors: {}");

        // Files put there by other means (an existing mlruns directory) are served.
        std::fs::create_dir_all(root.join("run2"))?;
        std::fs::write(root.join("run2/metrics.json"), "{}")?;
        ensure!(read(&store, "run2/metrics.json").await? == "{}");
        ensure!(store.list(None).await? == [dir("run1"), dir("run2")]);

        // An upload leaves nothing behind once completed.
        let id = store.create_multipart(&p("run2/big.bin")).await?;
        store
            .upload_part(&p("run2/big.bin"), &id, 1, chunked(b"12345", 2))
            .await?;
        store
            .complete_multipart(&p("run2/big.bin"), &id, &[1])
            .await?;
        ensure!(!root.join(".esteira-mpu").exists());
        ensure!(Path::new(&root.join("run2/big.bin")).is_file());

        // Deleting the last file of a directory removes the emptied directories, as on S3.
        store.delete(&p("run1/model/MLmodel")).await?;
        ensure!(!root.join("run1").exists());
        ensure!(root.is_dir());
        ensure!(store.list(None).await? == [dir("run2")]);

        // The staging names of the local back end are refused as paths, not as a failure.
        let staged = store.put_bytes(&p("name#12"), Bytes::from("x")).await;
        ensure!(
            matches!(staged, Err(Error::InvalidPath { .. })),
            "{staged:?}"
        );
        Ok(())
    }

    #[test]
    fn urls() -> anyhow::Result<()> {
        let store = ArtifactStore::from_url("memory://")?;
        ensure!(store.url() == "memory://");
        ArtifactStore::from_url("memory:///")?;

        let invalid_url = |url: &str| match ArtifactStore::from_url(url) {
            Err(Error::InvalidUrl { url, reason }) => Ok((url, reason)),
            other => bail!("{url:?} must be rejected, got {other:?}"),
        };
        invalid_url("")?;
        invalid_url("memory://somewhere")?;
        invalid_url("gs://bucket/x")?;
        invalid_url("http://example.invalid/x")?;
        invalid_url("s3://")?;
        invalid_url("s3:///path-only")?;
        invalid_url("s3://bucket/a/../../b")?;
        invalid_url("s3://bucket/x?versionId=1")?;
        invalid_url("file://remote-host/dir")?;
        invalid_url("s3:bucket")?;
        invalid_url("memory:")?;
        let (shown, _) = invalid_url("s3://key:hunter2@bucket/x")?;
        ensure!(!shown.contains("hunter2"), "password leaked: {shown}");

        let file = tempfile::NamedTempFile::new()?;
        invalid_url(file.path().to_str().context("utf-8")?)?;
        Ok(())
    }

    #[test]
    fn s3_urls_open_without_contacting_the_bucket() -> anyhow::Result<()> {
        let store = ArtifactStore::from_url("s3://some-bucket/some/prefix")?;
        ensure!(store.url() == "s3://some-bucket/some/prefix");
        ArtifactStore::from_url("s3://some-bucket")?;
        ArtifactStore::from_url("s3://some-bucket/")?;
        Ok(())
    }
}
