//! SIGTERM drains: requests in flight when the signal arrives complete with 200 and are
//! stored, and the process then exits with status 0 within a few seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::batches::{self, Outcome, Record};
use crate::support::Server;

/// Sends `body` to `runs/log-batch` over a raw connection with `Expect: 100-continue`: the
/// head, then (once the server's `100 Continue` proves it accepted the connection and its
/// handler is reading the body) the first half of the body, and the rest only once `release`
/// turns true. The request is thus certainly in flight while the server is asked to stop.
/// Returns the whole raw final answer.
async fn trickled_log_batch(
    addr: String,
    body: String,
    connected: Arc<AtomicUsize>,
    mut release: tokio::sync::watch::Receiver<bool>,
) -> String {
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/2.0/mlflow/runs/log-batch HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    stream.write_all(head.as_bytes()).await.expect("send head");
    let mut interim = Vec::new();
    while !interim.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        let n = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut byte))
            .await
            .expect("no 100 Continue in 60 s")
            .expect("read 100 Continue");
        assert_eq!(n, 1, "connection closed before 100 Continue: {interim:?}");
        interim.push(byte[0]);
    }
    assert!(
        interim.starts_with(b"HTTP/1.1 100"),
        "expected 100 Continue, got {:?}",
        String::from_utf8_lossy(&interim)
    );
    stream.write_all(first).await.expect("send first half");
    stream.flush().await.expect("flush");
    connected.fetch_add(1, Ordering::SeqCst);
    release.wait_for(|go| *go).await.expect("release");
    if let Err(e) = stream.write_all(rest).await {
        return format!("(could not send the rest of the body: {e})");
    }
    let mut answer = Vec::new();
    match tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await {
        Ok(Ok(_)) => String::from_utf8_lossy(&answer).into_owned(),
        Ok(Err(e)) => format!("(read error: {e})"),
        Err(_) => "(no answer in 30 s)".to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_and_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let args = ["--data-dir", data.to_str().expect("utf-8 path")];
    let mut server = Server::start(&args, &[], dir.path(), &dir.path().join("s0.log"));
    let api = server.api();
    let experiment = api.create_experiment("drain").await;
    let runs = Arc::new(vec![
        api.create_run(&experiment, "drain-0").await,
        api.create_run(&experiment, "drain-1").await,
    ]);

    // A steady stream of ordinary requests from a few clients.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let mut stream = tokio::task::JoinSet::new();
    for w in 0..3u64 {
        let (api, runs, stop, acked) = (api.clone(), runs.clone(), stop.clone(), acked.clone());
        stream.spawn(async move {
            let mut sent = Vec::new();
            for n in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let id = 1000 + w * 10_000 + n;
                let run_id = runs[(id % 2) as usize].clone();
                let outcome = match api
                    .try_post("runs/log-batch", &batches::body(id, &run_id))
                    .await
                {
                    Ok((200, _)) => {
                        acked.fetch_add(1, Ordering::SeqCst);
                        Outcome::Acked
                    }
                    Ok((status, v)) => Outcome::Rejected(status, v),
                    Err(e) => Outcome::Unknown(e.to_string()),
                };
                let done = matches!(outcome, Outcome::Unknown(_));
                sent.push(Record {
                    id,
                    run_id,
                    outcome,
                });
                if done {
                    break;
                }
            }
            sent
        });
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.load(Ordering::SeqCst) < 3 {
        assert!(Instant::now() < deadline, "no batch acknowledged in 120 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Requests that are certainly in flight: their bodies are only half sent.
    let addr = server.url.trim_start_matches("http://").to_string();
    let connected = Arc::new(AtomicUsize::new(0));
    let (release, released) = tokio::sync::watch::channel(false);
    let mut trickles = Vec::new();
    for t in 0..3u64 {
        let body = batches::body(t, &runs[(t % 2) as usize]).to_string();
        trickles.push(tokio::spawn(trickled_log_batch(
            addr.clone(),
            body,
            connected.clone(),
            released.clone(),
        )));
    }
    while connected.load(Ordering::SeqCst) < trickles.len() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await; // the first halves arrive

    let signalled = Instant::now();
    server.terminate();
    tokio::time::sleep(Duration::from_millis(700)).await; // draining, bodies still pending
    release.send(true).expect("release the trickled requests");
    let mut ledger = Vec::new();
    for (t, handle) in trickles.into_iter().enumerate() {
        let answer = handle.await.expect("trickle task");
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "in-flight request {t} did not complete with 200 after SIGTERM: {answer:?}; log:\n{}",
            server.log_text()
        );
        ledger.push(Record {
            id: t as u64,
            run_id: runs[t % 2].clone(),
            outcome: Outcome::Acked,
        });
    }
    stop.store(true, Ordering::SeqCst);
    let status = tokio::task::block_in_place(|| server.wait_exit(Duration::from_secs(10)));
    let took = signalled.elapsed();
    assert!(
        status.is_some_and(|s| s.code() == Some(0)),
        "the server did not exit with status 0 within 10 s of SIGTERM: {status:?}; log:\n{}",
        server.log_text()
    );
    assert!(took < Duration::from_secs(10), "exit took {took:?}");
    while let Some(sent) = stream.join_next().await {
        ledger.extend(sent.expect("stream task"));
    }
    let rejected: Vec<_> = ledger
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Rejected(..)))
        .map(|r| format!("batch {}: {}", r.id, r.outcome.describe()))
        .collect();
    assert!(
        rejected.is_empty(),
        "requests failed while draining: {rejected:?}"
    );
    eprintln!(
        "drain: exited {:.2} s after SIGTERM; {} requests recorded",
        took.as_secs_f64(),
        ledger.len()
    );

    // What was acknowledged is stored.
    let server = Server::start(&args, &[], dir.path(), &dir.path().join("s1.log"));
    batches::verify(&server.api(), &ledger).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_right_after_the_listening_line_still_exit_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let args = ["--data-dir", data.to_str().expect("utf-8 path")];
    for (n, signal) in ["TERM", "INT", "TERM", "INT"].into_iter().enumerate() {
        let log = dir.path().join(format!("s{n}.log"));
        let mut server = Server::start(&args, &[], dir.path(), &log);
        server.signal(signal);
        let status = tokio::task::block_in_place(|| server.wait_exit(Duration::from_secs(10)));
        assert!(
            status.is_some_and(|s| s.code() == Some(0)),
            "SIG{signal} right after start: {status:?}; log:\n{}",
            server.log_text()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_cannot_hold_shutdown_past_the_drain_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let args = [
        "--data-dir",
        data.to_str().expect("utf-8 path"),
        "--drain-seconds",
        "1",
    ];
    let mut server = Server::start(&args, &[], dir.path(), &dir.path().join("s.log"));
    let api = server.api();
    let experiment = api.create_experiment("stall").await;
    let run_id = api.create_run(&experiment, "stall-0").await;
    let addr = server.url.trim_start_matches("http://").to_string();
    let connected = Arc::new(AtomicUsize::new(0));
    let (_never_released, released) = tokio::sync::watch::channel(false);
    let body = batches::body(1, &run_id).to_string();
    let stalled = tokio::spawn(trickled_log_batch(addr, body, connected.clone(), released));
    while connected.load(Ordering::SeqCst) < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let signalled = Instant::now();
    server.terminate();
    let status = tokio::task::block_in_place(|| server.wait_exit(Duration::from_secs(10)));
    let took = signalled.elapsed();
    assert!(
        status.is_some_and(|s| s.code() == Some(0)),
        "the server did not exit with status 0 past its 1 s drain deadline: {status:?}; log:\n{}",
        server.log_text()
    );
    assert!(
        took >= Duration::from_millis(900),
        "exited before the deadline: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "exit took {took:?}");
    assert!(server.log_text().contains("Drain deadline passed"));
    stalled.abort();
}
