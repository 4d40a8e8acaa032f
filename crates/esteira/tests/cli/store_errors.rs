//! A store that cannot be opened: the error names the store and the cause, once, and soon.

use std::time::{Duration, Instant};

use crate::support::{Out, cli};

/// Asserts `needle` appears exactly once on stderr.
#[track_caller]
fn once(out: &Out, needle: &str) {
    assert_eq!(
        out.stderr.matches(needle).count(),
        1,
        "{needle:?} should appear exactly once: {out:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unopenable_store_names_the_store_and_the_cause_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    // A directory where the database file should be.
    let not_a_file = cwd.join("dir.db");
    std::fs::create_dir(&not_a_file).expect("mkdir");
    let url = format!("sqlite://{}", not_a_file.display());
    let out = cli(&["experiments", "list", "--store", &url], &[], cwd).await;
    out.fails_with(&["cannot open the metadata store", &url]);
    once(&out, "unable to open database file");
    let data = cwd.join("data");
    let out = cli(
        &[
            "server",
            "--port",
            "0",
            "--data-dir",
            data.to_str().expect("utf-8 path"),
            "--store",
            &url,
        ],
        &[],
        cwd,
    )
    .await;
    out.fails_with(&["cannot open the metadata store", &url]);
    once(&out, "unable to open database file");

    // A database URL's password is never shown.
    let out = cli(
        &[
            "experiments",
            "list",
            "--store",
            "postgres://bob:hunter2@127.0.0.1:notaport/db",
        ],
        &[],
        cwd,
    )
    .await;
    out.fails_with(&["postgres://bob:***@127.0.0.1:notaport/db", "port"]);
    assert!(!out.stderr.contains("hunter2"), "{out:#?}");
    // ... and a URL without a password is not shown as if it had one.
    cli(
        &[
            "experiments",
            "list",
            "--store",
            "postgres://bob@127.0.0.1:notaport/db",
        ],
        &[],
        cwd,
    )
    .await
    .fails_with(&["postgres://bob@127.0.0.1:notaport/db"]);

    // A scheme the store does not know.
    cli(
        &["experiments", "list", "--store", "mysql://db/x"],
        &[],
        cwd,
    )
    .await
    .fails_with(&["mysql://db/x", "sqlite", "postgres"]);
}

/// Runs `args` and asserts it fails within 10 s with every one of `needles` on stderr.
async fn fails_fast(args: &[&str], needles: &[&str], cwd: &std::path::Path) {
    let started = Instant::now();
    let out = cli(args, &[], cwd).await;
    let took = started.elapsed();
    out.fails_with(needles);
    assert!(
        took < Duration::from_secs(10),
        "took {took:?} to fail (expected well under 10 s): {out:#?}"
    );
}

// A store that cannot be opened fails at once with its real cause, not after a pool's
// connection timeout with only "pool timed out".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_sqlite_store_fails_fast_naming_the_cause() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let bad = cwd.join("bad.db");
    std::fs::write(
        &bad,
        "this is not a SQLite database, just text. ".repeat(200),
    )
    .expect("write");
    let url = format!("sqlite://{}", bad.display());
    fails_fast(
        &["experiments", "list", "--store", &url],
        &["not a database"],
        cwd,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_postgres_fails_fast_naming_the_cause() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens on port 1 of the loopback interface.
    fails_fast(
        &[
            "experiments",
            "list",
            "--store",
            "postgres://postgres@127.0.0.1:1/esteira",
        ],
        &["refused"],
        dir.path(),
    )
    .await;
}
