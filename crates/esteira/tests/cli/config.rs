//! Configuration layers: built-in defaults < `--config FILE` < `ESTEIRA_*` < flags.

use std::time::Duration;

use crate::support::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_env_and_flags_layer_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let (a, b, c) = (cwd.join("a"), cwd.join("b"), cwd.join("c"));
    let config = cwd.join("esteira.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nhost = \"127.0.0.1\"\nport = 5000\ndata_dir = {:?}\n",
            a.to_str().expect("utf-8 path")
        ),
    )
    .expect("write config");
    let config = config.to_str().expect("utf-8 path");
    let b_s = b.to_str().expect("utf-8 path");
    let c_s = c.to_str().expect("utf-8 path");

    // The file's data_dir; ESTEIRA_PORT over the file's port. SIGINT stops it cleanly too.
    let mut server = Server::start_raw(
        &["--config", config, "server"],
        &[("ESTEIRA_PORT", "0")],
        cwd,
        &cwd.join("s1.log"),
    );
    assert_ne!(server.port(), 5000, "ESTEIRA_PORT must override the file");
    assert!(
        a.join("esteira.db").is_file(),
        "the file's data_dir is used"
    );
    server.signal("INT");
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "SIGINT: {status:?}");

    // ESTEIRA_DATA_DIR over the file (the file named by ESTEIRA_CONFIG this time).
    let mut server = Server::start_raw(
        &["server"],
        &[
            ("ESTEIRA_CONFIG", config),
            ("ESTEIRA_PORT", "0"),
            ("ESTEIRA_DATA_DIR", b_s),
        ],
        cwd,
        &cwd.join("s2.log"),
    );
    assert!(b.join("esteira.db").is_file(), "ESTEIRA_DATA_DIR is used");
    server.stop_gracefully(Duration::from_secs(10));

    // Flags over the environment.
    let mut server = Server::start_raw(
        &[
            "--config",
            config,
            "server",
            "--port",
            "0",
            "--data-dir",
            c_s,
        ],
        &[("ESTEIRA_PORT", "5000"), ("ESTEIRA_DATA_DIR", b_s)],
        cwd,
        &cwd.join("s3.log"),
    );
    assert_ne!(server.port(), 5000, "--port must override ESTEIRA_PORT");
    assert!(c.join("esteira.db").is_file(), "--data-dir is used");
    assert!(c.join("artifacts").is_dir());
    server.stop_gracefully(Duration::from_secs(10));
    assert!(
        !cwd.join("esteira-data").exists(),
        "the default was not used"
    );
}
