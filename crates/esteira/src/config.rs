//! Configuration: built-in defaults < a TOML file < `ESTEIRA_*` environment variables <
//! command-line flags. Unknown fields in the file are errors.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The `[server]` section of the configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1`. Env `ESTEIRA_HOST`.
    pub host: Option<String>,
    /// Port to listen on; 0 picks a free one. Default 5000. Env `ESTEIRA_PORT`.
    pub port: Option<u16>,
    /// Directory of the embedded defaults (SQLite database and artifact folder), created
    /// when missing. Default `./esteira-data`. Env `ESTEIRA_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// Metadata store URL: `sqlite://PATH` or `postgres://...`. Default
    /// `sqlite://<data_dir>/esteira.db`. Env `ESTEIRA_STORE`.
    pub store: Option<String>,
    /// Artifact store URL: a directory, `file:///...`, `s3://bucket/prefix` or `memory://`.
    /// Default `<data_dir>/artifacts`. Env `ESTEIRA_ARTIFACTS`.
    pub artifacts: Option<String>,
    /// File with one accepted bearer token per line (`#` comments allowed); when set, every
    /// API call needs `Authorization: Bearer <token>`. Env `ESTEIRA_AUTH_TOKEN_FILE`.
    pub auth_token_file: Option<PathBuf>,
    /// Accepted bearer tokens, comma-separated in the environment. Env `ESTEIRA_AUTH_TOKENS`.
    pub auth_tokens: Option<Vec<String>>,
    /// Largest JSON request body in bytes. Default 16 MiB. Env `ESTEIRA_MAX_BODY_BYTES`.
    pub max_body_bytes: Option<usize>,
    /// Seconds a shutdown (SIGTERM, SIGINT) waits for in-flight requests before closing the
    /// connections still open. Default 30. Env `ESTEIRA_DRAIN_SECONDS`.
    pub drain_seconds: Option<u64>,
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Server settings.
    #[serde(default)]
    pub server: ServerConfig,
}

impl Config {
    /// Reads a TOML configuration file.
    ///
    /// # Errors
    /// When the file cannot be read, or has an unknown field or a value of the wrong type
    /// (the message names the field).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    /// Applies `ESTEIRA_*` variables from `env` over the file's values.
    ///
    /// # Errors
    /// A variable with a value of the wrong type, naming the variable.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<()> {
        let s = &mut self.server;
        if let Some(v) = env("ESTEIRA_HOST") {
            s.host = Some(v);
        }
        if let Some(v) = env("ESTEIRA_PORT") {
            s.port = Some(
                v.parse()
                    .with_context(|| format!("ESTEIRA_PORT: invalid port {v:?}"))?,
            );
        }
        if let Some(v) = env("ESTEIRA_DATA_DIR") {
            s.data_dir = Some(v.into());
        }
        if let Some(v) = env("ESTEIRA_STORE") {
            s.store = Some(v);
        }
        if let Some(v) = env("ESTEIRA_ARTIFACTS") {
            s.artifacts = Some(v);
        }
        if let Some(v) = env("ESTEIRA_AUTH_TOKEN_FILE") {
            s.auth_token_file = Some(v.into());
        }
        if let Some(v) = env("ESTEIRA_AUTH_TOKENS") {
            s.auth_tokens = Some(split_tokens(&v));
        }
        if let Some(v) = env("ESTEIRA_DRAIN_SECONDS") {
            s.drain_seconds = Some(v.parse().with_context(|| {
                format!("ESTEIRA_DRAIN_SECONDS: invalid number of seconds {v:?}")
            })?);
        }
        if let Some(v) = env("ESTEIRA_MAX_BODY_BYTES") {
            s.max_body_bytes =
                Some(v.parse().with_context(|| {
                    format!("ESTEIRA_MAX_BODY_BYTES: invalid byte count {v:?}")
                })?);
        }
        Ok(())
    }
}

fn split_tokens(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.starts_with('#'))
        .map(String::from)
        .collect()
}

/// The server settings once every layer is applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedServer {
    /// Address to listen on.
    pub host: String,
    /// Port (0: any free port).
    pub port: u16,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Metadata store URL.
    pub store: String,
    /// Artifact store URL.
    pub artifacts: String,
    /// Accepted tokens; `None` when authentication is off.
    pub auth_tokens: Option<Vec<String>>,
    /// Largest JSON body.
    pub max_body_bytes: usize,
    /// How long a shutdown drains.
    pub drain: std::time::Duration,
}

impl ServerConfig {
    /// Fills defaults and reads the token file.
    ///
    /// # Errors
    /// An unreadable or empty token file.
    pub fn resolve(&self) -> Result<ResolvedServer> {
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("esteira-data"));
        let mut tokens = self.auth_tokens.clone().unwrap_or_default();
        if let Some(file) = &self.auth_token_file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read auth token file {}", file.display()))?;
            let from_file = split_tokens(&text);
            if from_file.is_empty() {
                bail!("auth token file {} holds no token", file.display());
            }
            tokens.extend(from_file);
        }
        Ok(ResolvedServer {
            host: self.host.clone().unwrap_or_else(|| "127.0.0.1".into()),
            port: self.port.unwrap_or(5000),
            store: self
                .store
                .clone()
                .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("esteira.db").display())),
            artifacts: self
                .artifacts
                .clone()
                .unwrap_or_else(|| data_dir.join("artifacts").display().to_string()),
            data_dir,
            auth_tokens: (!tokens.is_empty()).then_some(tokens),
            max_body_bytes: self
                .max_body_bytes
                .unwrap_or(esteira_server::DEFAULT_MAX_BODY_BYTES),
            drain: std::time::Duration::from_secs(self.drain_seconds.unwrap_or(30)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() {
        let mut c: Config = toml::from_str("[server]\nport = 7000\nhost = \"0.0.0.0\"").unwrap();
        c.apply_env(|k| (k == "ESTEIRA_PORT").then(|| "7100".to_string()))
            .unwrap();
        let r = c.server.resolve().unwrap();
        assert_eq!((r.host.as_str(), r.port), ("0.0.0.0", 7100));
        assert!(r.store.ends_with("esteira-data/esteira.db"));
        assert_eq!(r.auth_tokens, None);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_errors() {
        let err = toml::from_str::<Config>("[server]\nprot = 1").unwrap_err();
        assert!(err.to_string().contains("prot"), "{err}");
        let mut c = Config::default();
        let err = c
            .apply_env(|k| (k == "ESTEIRA_PORT").then(|| "x".into()))
            .unwrap_err();
        assert!(err.to_string().contains("ESTEIRA_PORT"));
    }

    #[test]
    fn tokens_from_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens");
        std::fs::write(&file, "# ops\nalpha\n\nbeta\n").unwrap();
        let mut c = Config::default();
        c.apply_env(|k| (k == "ESTEIRA_AUTH_TOKENS").then(|| "gamma, delta".into()))
            .unwrap();
        c.server.auth_token_file = Some(file);
        let tokens = c.server.resolve().unwrap().auth_tokens.unwrap();
        assert_eq!(tokens, ["gamma", "delta", "alpha", "beta"]);
        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        c.server.auth_token_file = Some(dir.path().join("empty"));
        assert!(c.server.resolve().is_err());
    }
}
