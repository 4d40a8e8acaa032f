//! "A kill -9 during a log-batch leaves all of the batch or none of it": concurrent clients
//! fire large `runs/log-batch` requests, the server is SIGKILLed while batches are in flight,
//! restarted on the same data, and every batch must be complete or absent, and complete
//! when it had been acknowledged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::batches::{self, Outcome, Record};
use crate::support::{PgDatabase, Rng, Server, postgres_url};

/// Concurrent clients.
const WORKERS: usize = 6;
/// Runs the batches are spread over.
const RUNS: usize = 4;

/// Runs `cycles` kill -9 / restart / verify cycles against a server started with `store`
/// (`None`: the embedded SQLite in the data dir).
async fn kill9_cycles(label: &str, store: Option<&str>, cycles: usize) {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf-8 path");
    let mut args = vec!["--data-dir", data];
    if let Some(store) = store {
        args.extend(["--store", store]);
    }
    let start = |n: usize| {
        Server::start(
            &args,
            &[],
            dir.path(),
            &dir.path().join(format!("s{n}.log")),
        )
    };

    let mut server = start(0);
    let api = server.api();
    let experiment = api.create_experiment("crash").await;
    let mut runs = Vec::new();
    for i in 0..RUNS {
        runs.push(api.create_run(&experiment, &format!("crash-{i}")).await);
    }
    let runs = Arc::new(runs);
    let mut rng = Rng::new(label);
    let next_id = Arc::new(AtomicU64::new(0));
    let mut ledger: Vec<Record> = Vec::new();

    for cycle in 0..cycles {
        let api = server.api();
        let acked = Arc::new(AtomicUsize::new(0));
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..WORKERS {
            let (api, runs, next_id, acked) =
                (api.clone(), runs.clone(), next_id.clone(), acked.clone());
            workers.spawn(async move {
                let mut sent = Vec::new();
                loop {
                    let id = next_id.fetch_add(1, Ordering::SeqCst);
                    let run_id = runs[id as usize % runs.len()].clone();
                    let body = batches::body(id, &run_id);
                    let outcome = match api.try_post("runs/log-batch", &body).await {
                        Ok((200, _)) => {
                            acked.fetch_add(1, Ordering::SeqCst);
                            Outcome::Acked
                        }
                        Ok((status, v)) => Outcome::Rejected(status, v),
                        Err(e) => Outcome::Unknown(e.to_string()),
                    };
                    let stop = matches!(outcome, Outcome::Unknown(_));
                    sent.push(Record {
                        id,
                        run_id,
                        outcome,
                    });
                    if stop {
                        return sent;
                    }
                }
            });
        }
        // Let some batches land, then kill at a random moment while others are in flight.
        let want = 6 + rng.range(0, 18) as usize;
        let deadline = Instant::now() + Duration::from_secs(180);
        while acked.load(Ordering::SeqCst) < want {
            assert!(
                Instant::now() < deadline,
                "{label}: only {} of {want} batches acknowledged in 180 s; log:\n{}",
                acked.load(Ordering::SeqCst),
                server.log_text()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.range(0, 300))).await;
        let status = server.kill9();
        assert!(
            status.is_some_and(|s| !s.success()),
            "the server was not running when killed: {status:?}"
        );
        let mut this_cycle = Vec::new();
        while let Some(sent) = workers.join_next().await {
            this_cycle.extend(sent.expect("worker task"));
        }
        let in_flight = this_cycle
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Unknown(_)))
            .count();
        ledger.extend(this_cycle);

        server = start(cycle + 1);
        let tally = batches::verify(&server.api(), &ledger).await;
        eprintln!(
            "{label}: cycle {}: {} batches sent so far, {in_flight} unanswered at the kill; \
             verified {tally:?}",
            cycle + 1,
            ledger.len()
        );
        assert_eq!(
            tally.rejected,
            0,
            "{label}: the server rejected batches under load: {:?}",
            ledger
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Rejected(..)))
                .map(|r| format!("batch {}: {}", r.id, r.outcome.describe()))
                .collect::<Vec<_>>()
        );
    }
    server.stop_gracefully(Duration::from_secs(10));
    eprintln!(
        "{label}: {cycles} kill -9 cycles in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_log_batch_is_all_or_nothing_sqlite() {
    kill9_cycles("kill9/sqlite", None, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_log_batch_is_all_or_nothing_postgres() {
    let Some(admin) = postgres_url("kill9_during_log_batch_is_all_or_nothing_postgres") else {
        return;
    };
    let db = PgDatabase::create(&admin, "kill9").await;
    kill9_cycles("kill9/postgres", Some(&db.url), 1).await;
    db.drop_database().await;
}
