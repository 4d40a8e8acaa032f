//! Integration tests of the real `esteira` binary: every test starts the binary as a child
//! process (servers on 127.0.0.1 with `--port 0`, each process killed on drop) and talks to
//! it over HTTP or runs its CLI.
//!
//! - `crash`: a kill -9 during log-batch leaves each batch complete or absent (SQLite, and
//!   PostgreSQL when `ESTEIRA_TEST_POSTGRES_URL` is set; required when `CI=true` or
//!   `ESTEIRA_REQUIRE_SERVICES=1`).
//! - `docs`: `docs/cli.md` is what `scripts/cli-docs.sh` makes of the binary's `--help`.
//! - `drain`: SIGTERM finishes in-flight requests and exits 0.
//! - `commands`: the CLI over a server and on the store directly, and bad input.
//! - `auth`: bearer tokens.
//! - `config`: configuration layers.
//! - `monitor`: `esteira monitor` and `esteira decisions`: a drift monitor whose policy fires
//!   a pipeline once, the HTML report, the ledger, bad input.
//! - `pipeline`: `esteira pipeline` runs (built-in and Python steps, caching, resume,
//!   failures, retries, timeouts), lineage, rollback and pipeline-file errors.
//! - `quickstart`: `esteira quickstart --no-serve` on a small world: one alarm episode and
//!   one retrain after the change, the retrained version as champion, determinism, bad flags.
//! - `replicas`: two servers on one PostgreSQL database and one artifact store.
//! - `serve`: `esteira serve`: the scoring protocol, an alias flipped under load, a version
//!   that fails to load.
//! - `store_errors`: a store that cannot be opened fails at once with its cause.
//! - `train`: `esteira train`, `predict`, `evaluate` (the promotion gate) and `backtest`.
//! - `workers`: two `esteira worker` processes on PostgreSQL; one is killed mid-step.
//! - `zero_setup`: `esteira server` with no flags.
//!
//! `ESTEIRA_TEST_SEED` replays the random kill timing of a failed crash test.

#[path = "cli/auth.rs"]
mod auth;
#[path = "cli/batches.rs"]
mod batches;
#[path = "cli/commands.rs"]
mod commands;
#[path = "cli/config.rs"]
mod config;
#[path = "cli/crash.rs"]
mod crash;
#[path = "cli/docs.rs"]
mod docs;
#[path = "cli/drain.rs"]
mod drain;
#[path = "cli/monitor.rs"]
mod monitor;
#[path = "cli/pipeline.rs"]
mod pipeline;
#[path = "cli/quickstart.rs"]
mod quickstart;
#[path = "cli/replicas.rs"]
mod replicas;
#[path = "cli/serve.rs"]
mod serve;
#[path = "cli/store_errors.rs"]
mod store_errors;
#[path = "cli/support.rs"]
mod support;
#[path = "cli/train.rs"]
mod train;
#[path = "cli/workers.rs"]
mod workers;
#[path = "cli/zero_setup.rs"]
mod zero_setup;
