//! Shared helpers: a guard around a running `esteira server`, the CLI runner, a small REST
//! client, throw-away PostgreSQL databases and a seeded pseudo-random source.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_esteira");

/// How long a server may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one CLI invocation may take before it is killed and the test fails.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// Removes every variable that could steer the binary (`ESTEIRA_*`, `MLFLOW_*`), so that the
/// developer's or CI's environment cannot change what a test sees.
fn scrub_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("ESTEIRA_") || k.starts_with("MLFLOW_") {
            cmd.env_remove(k);
        }
    }
}

/// A running `esteira server`; dropping it kills the process (SIGKILL) and reaps it.
pub struct Server {
    child: Option<Child>,
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    /// The file that receives the server's stderr (its logs).
    pub log: PathBuf,
}

impl Server {
    /// Starts `esteira server --host 127.0.0.1 --port 0 ARGS...` in `cwd` with `envs` set and
    /// waits for the line that names the bound address. The server's logs go to `log`.
    pub fn start(args: &[&str], envs: &[(&str, &str)], cwd: &Path, log: &Path) -> Server {
        let mut full = vec!["server", "--host", "127.0.0.1", "--port", "0"];
        full.extend_from_slice(args);
        Self::start_raw(&full, envs, cwd, log)
    }

    /// Starts the binary with exactly `args` (which must make it serve) and waits for the
    /// listening line.
    pub fn start_raw(args: &[&str], envs: &[(&str, &str)], cwd: &Path, log: &Path) -> Server {
        Self::start_until(args, envs, cwd, log, "Esteira server listening on ")
    }

    /// Starts `esteira worker ARGS...` and waits for its line naming its tracking server.
    pub fn start_worker(args: &[&str], envs: &[(&str, &str)], cwd: &Path, log: &Path) -> Server {
        let mut full = vec!["worker"];
        full.extend_from_slice(args);
        Self::start_until(&full, envs, cwd, log, "esteira worker tracking ")
    }

    /// Starts `esteira ARGS...` (a `serve` command) and waits for its listening line.
    pub fn start_serving(args: &[&str], envs: &[(&str, &str)], cwd: &Path, log: &Path) -> Server {
        Self::start_until(args, envs, cwd, log, "Esteira scoring server listening on ")
    }

    /// Starts the binary with `args` and waits for a stdout line starting with `prefix`
    /// followed by a loopback URL.
    fn start_until(
        args: &[&str],
        envs: &[(&str, &str)],
        cwd: &Path,
        log: &Path,
        prefix: &'static str,
    ) -> Server {
        let log_file = std::fs::File::create(log).expect("create the server log file");
        let mut cmd = Command::new(BIN);
        scrub_env(&mut cmd);
        cmd.args(args)
            .envs(envs.iter().copied())
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        let mut child = cmd.spawn().expect("spawn esteira server");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Keeps reading until EOF so the server never writes into a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix(prefix) {
                    let _ = tx.send(rest.trim().to_string());
                }
            }
        });
        let mut server = Server {
            child: Some(child),
            url: String::new(),
            log: log.to_path_buf(),
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(url) => {
                assert!(
                    url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
                    "unexpected listening URL {url:?}"
                );
                server.url = url;
                server
            }
            Err(e) => {
                let status = server.kill9();
                panic!(
                    "esteira server did not print its listening line ({e}); exit {status:?}; \
                     log:\n{}",
                    server.log_text()
                );
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server still owned").id()
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`: no chance to clean up. Returns the exit status once reaped.
    pub fn kill9(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = child.kill(); // SIGKILL on Unix
        child.wait().ok()
    }

    /// Sends SIGTERM (graceful shutdown) without waiting.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends the signal `name` (e.g. `INT`) without waiting.
    pub fn signal(&self, name: &str) {
        let status = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("kill -{name} {}", self.pid()))
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed: {status}");
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the URL")
    }

    /// Waits at most `limit` for the process to exit; `None` if it is still running (then it
    /// stays owned and is killed on drop).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            let child = self.child.as_mut()?;
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then asserts a clean exit (status 0) within `limit`.
    pub fn stop_gracefully(&mut self, limit: Duration) {
        self.terminate();
        let status = self.wait_exit(limit);
        assert!(
            status.is_some_and(|s| s.success()),
            "server did not exit cleanly within {limit:?} after SIGTERM: {status:?}; log:\n{}",
            self.log_text()
        );
    }

    /// A REST client for this server.
    pub fn api(&self) -> Api {
        Api::new(&self.url, None)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The outcome of one CLI invocation.
#[derive(Debug)]
pub struct Out {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "command failed: {self:#?}");
        &self.stdout
    }

    /// Asserts success and parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        let text = self.ok();
        serde_json::from_str(text).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {text}"))
    }

    /// Asserts a failure with exit code 1 and an `error: ` line on stderr containing every
    /// one of `needles`.
    #[track_caller]
    pub fn fails_with(&self, needles: &[&str]) {
        assert_eq!(self.code, Some(1), "expected exit 1: {self:#?}");
        assert!(
            self.stderr.contains("error: "),
            "no 'error: ' on stderr: {self:#?}"
        );
        for n in needles {
            assert!(self.stderr.contains(n), "stderr lacks {n:?}: {self:#?}");
        }
    }
}

/// Runs the binary with `args` in `cwd`, a scrubbed environment plus `envs`, and no stdin.
/// Fails the test if it takes longer than a minute (the process is then killed).
pub async fn cli(args: &[&str], envs: &[(&str, &str)], cwd: &Path) -> Out {
    let mut std_cmd = Command::new(BIN);
    scrub_env(&mut std_cmd);
    std_cmd
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(cwd)
        .stdin(Stdio::null());
    let mut cmd = tokio::process::Command::from(std_cmd);
    cmd.kill_on_drop(true);
    let output = tokio::time::timeout(CLI_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("`esteira {}` took over {CLI_TIMEOUT:?}", args.join(" ")))
        .expect("run esteira");
    Out {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A small MLflow REST client.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    /// A client for `base` with an optional bearer token.
    pub fn new(base: &str, token: Option<&str>) -> Api {
        Api {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("build the HTTP client"),
            base: base.trim_end_matches('/').to_string(),
            token: token.map(String::from),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/2.0/mlflow/{path}", self.base)
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// POSTs `body`, returning the status and the JSON answer (`Null` when not JSON).
    pub async fn try_post(&self, path: &str, body: &Value) -> reqwest::Result<(u16, Value)> {
        let resp = self
            .auth(self.client.post(self.url(path)).json(body))
            .send()
            .await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// GETs with a query, returning the status and the JSON answer.
    pub async fn try_get(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> reqwest::Result<(u16, Value)> {
        let resp = self
            .auth(self.client.get(self.url(path)).query(query))
            .send()
            .await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// POSTs and asserts 200.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (status, v) = self
            .try_post(path, &body)
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        assert_eq!(status, 200, "POST {path} {body}: {v}");
        v
    }

    /// GETs and asserts 200.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let (status, v) = self
            .try_get(path, query)
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(status, 200, "GET {path} {query:?}: {v}");
        v
    }

    /// Creates an experiment and returns its id.
    pub async fn create_experiment(&self, name: &str) -> String {
        let v = self
            .post("experiments/create", serde_json::json!({ "name": name }))
            .await;
        v["experiment_id"]
            .as_str()
            .expect("experiment_id")
            .to_string()
    }

    /// Creates a run and returns its id.
    pub async fn create_run(&self, experiment_id: &str, name: &str) -> String {
        let v = self
            .post(
                "runs/create",
                serde_json::json!({
                    "experiment_id": experiment_id,
                    "run_name": name,
                    "start_time": now_ms(),
                }),
            )
            .await;
        v["run"]["info"]["run_id"]
            .as_str()
            .expect("run_id")
            .to_string()
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// True when missing services must fail tests instead of skipping them.
pub fn services_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("ESTEIRA_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// `ESTEIRA_TEST_POSTGRES_URL`, or `None` after a loud skip notice; panics when services are
/// required (CI=true or ESTEIRA_REQUIRE_SERVICES=1) but the variable is unset.
pub fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("ESTEIRA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                !services_required(),
                "{test}: PostgreSQL is required here (CI=true or ESTEIRA_REQUIRE_SERVICES=1) \
                 but ESTEIRA_TEST_POSTGRES_URL is not set"
            );
            // Written to the file descriptor, past the test harness's output capture, so
            // that the skip shows in a passing run.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n**********\nSKIPPED {test}: set ESTEIRA_TEST_POSTGRES_URL \
                 (e.g. postgres://postgres@127.0.0.1:5432/esteira_test) to run it\n**********\n"
            );
            None
        }
    }
}

/// A fresh PostgreSQL database, created next to the one `ESTEIRA_TEST_POSTGRES_URL` names.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    /// URL of the fresh database.
    pub url: String,
}

impl PgDatabase {
    /// Creates `esteira_it_<tag>_<unique>` through `admin_url`.
    pub async fn create(admin_url: &str, tag: &str) -> PgDatabase {
        use sqlx::Connection;
        let name = format!(
            "esteira_it_{tag}_{}_{}",
            std::process::id(),
            now_ms() % 1_000_000_000
        );
        let mut conn = sqlx::postgres::PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("connect to ESTEIRA_TEST_POSTGRES_URL: {e}"));
        // `name` is built here from digits and a fixed tag, never from input.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        conn.close().await.ok();
        PgDatabase {
            admin_url: admin_url.to_string(),
            url: with_database(admin_url, &name),
            name,
        }
    }

    /// Drops the database (best effort; call once its servers are stopped).
    pub async fn drop_database(self) {
        use sqlx::Connection;
        if let Ok(mut conn) = sqlx::postgres::PgConnection::connect(&self.admin_url).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
            {
                eprintln!("could not drop {}: {e}", self.name);
            }
            conn.close().await.ok();
        }
    }
}

/// `url` with its database (path) replaced by `db`, keeping any query string.
fn with_database(url: &str, db: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let (head, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let authority_end = head[scheme_end..]
        .find('/')
        .map_or(head.len(), |i| scheme_end + i);
    format!("{}/{db}{query}", &head[..authority_end])
}

/// A small deterministic generator (xorshift64*), seeded from the clock unless
/// `ESTEIRA_TEST_SEED` is set; the seed is printed so that a failure can be replayed.
pub struct Rng(u64);

impl Rng {
    /// A generator; prints its seed under `label`.
    pub fn new(label: &str) -> Rng {
        let seed = std::env::var("ESTEIRA_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("{label}: ESTEIRA_TEST_SEED={seed}");
        Rng(seed.max(1))
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        lo + self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % (hi - lo).max(1)
    }
}

#[test]
fn database_urls_are_rewritten() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/esteira_test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h:1/db?sslmode=disable", "x"),
        "postgres://u:p@h:1/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h:1", "x"), "postgres://h:1/x");
}
