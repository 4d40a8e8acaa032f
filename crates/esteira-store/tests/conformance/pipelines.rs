//! The pipeline side of the store: the step queue with leases, completion, lineage,
//! firings, deploys and the alias history.

use std::collections::BTreeSet;

use anyhow::{Result, ensure};
use esteira_store::pipelines::*;
use esteira_store::{NewModelVersion, NewRegisteredModel};

use crate::harness::Ctx;

/// A run of a pipeline `a → b, a → c, (b, c) → d`, with `retries` for every step.
fn diamond(run_id: &str, retries: i64) -> NewPipelineRun {
    let step = |s: &str| NewStepRun {
        step: s.into(),
        step_type: "command".into(),
        retries,
        reuse_execution_id: None,
    };
    NewPipelineRun {
        run_id: run_id.into(),
        pipeline: "p".into(),
        pipeline_version: None,
        digest: "d".into(),
        spec: "{}".into(),
        pipeline_dir: "/tmp".into(),
        params: "{}".into(),
        git_commit: Some("abc".into()),
        git_dirty: Some(false),
        firing_id: None,
        no_cache: false,
        experiment_id: "0".into(),
        steps: ["a", "b", "c", "d"].into_iter().map(step).collect(),
        edges: [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]
            .into_iter()
            .map(|(u, s)| (u.to_string(), s.to_string()))
            .collect(),
    }
}

fn artifact(id: &str) -> ArtifactRecord {
    ArtifactRecord {
        artifact_id: id.into(),
        kind: "dataset".into(),
        uri: format!("mlflow-artifacts:/x/{id}"),
        digest: Some(format!("sha-{id}")),
        properties: "{}".into(),
        created_time: 1,
    }
}

fn succeeded(c: &ClaimedStep, outputs: &[&str], inputs: &[&str]) -> Completion {
    Completion {
        run_id: c.run.run_id.clone(),
        step: c.step.clone(),
        lease_token: c.lease_token.clone(),
        execution_id: c.execution_id.clone(),
        outcome: Outcome::Succeeded {
            outputs: outputs
                .iter()
                .map(|o| PortArtifact {
                    port: "out".into(),
                    artifact: artifact(o),
                })
                .collect(),
            reused_execution_id: None,
        },
        inputs: inputs
            .iter()
            .map(|i| PortArtifact {
                port: format!("in_{i}"),
                artifact: artifact(i),
            })
            .collect(),
        cache_key: Some(format!("key-{}", c.step)),
        cache_document: Some("{}".into()),
        reason: None,
        log_tail: Some("ok".into()),
        metrics: Some("{}".into()),
    }
}

fn failed(c: &ClaimedStep, retry_at: Option<i64>) -> Completion {
    Completion {
        outcome: Outcome::Failed {
            retry_at,
            exit_code: Some(3),
        },
        reason: Some("exit code 3".into()),
        cache_key: None,
        ..succeeded(c, &[], &[])
    }
}

async fn claim(ctx: &Ctx, worker: &str) -> Result<Option<ClaimedStep>> {
    Ok(ctx.pipes().claim_step(worker, "host", 60_000, None).await?)
}

async fn statuses(ctx: &Ctx, run: &str) -> Result<Vec<(String, StepStatus)>> {
    Ok(ctx
        .pipes()
        .list_step_runs(run)
        .await?
        .into_iter()
        .map(|s| (s.step, s.status))
        .collect())
}

pub async fn steps_run_in_dag_order_and_the_run_ends(ctx: Ctx) -> Result<()> {
    let p = ctx.pipes();
    let run = p.create_pipeline_run(diamond("r1", 0)).await?;
    ensure!(run.status == RunStatus::Queued);
    let a = claim(&ctx, "w1").await?.expect("a is ready");
    ensure!(a.step == "a" && a.attempt == 1, "{a:?}");
    ensure!(claim(&ctx, "w2").await?.is_none(), "b and c wait for a");
    ensure!(p.get_pipeline_run("r1").await?.status == RunStatus::Running);
    ensure!(p.complete_step(succeeded(&a, &["A"], &[])).await? == Completed::Recorded);
    let b = claim(&ctx, "w1").await?.expect("b ready");
    let c = claim(&ctx, "w2").await?.expect("c ready");
    let names: BTreeSet<_> = [b.step.clone(), c.step.clone()].into();
    ensure!(
        names == BTreeSet::from(["b".into(), "c".into()]),
        "{names:?}"
    );
    ensure!(claim(&ctx, "w3").await?.is_none(), "d waits for both");
    p.complete_step(succeeded(&b, &["B"], &["A"])).await?;
    ensure!(claim(&ctx, "w3").await?.is_none(), "d still waits for c");
    p.complete_step(succeeded(&c, &["C"], &["A"])).await?;
    let d = claim(&ctx, "w3").await?.expect("d ready");
    let done = p.complete_step(succeeded(&d, &["D"], &["B", "C"])).await?;
    ensure!(
        done == Completed::RunEnded(RunStatus::Succeeded),
        "{done:?}"
    );
    let run = p.get_pipeline_run("r1").await?;
    ensure!(run.status == RunStatus::Succeeded && run.end_time.is_some());
    ensure!(run.git_commit.as_deref() == Some("abc") && run.git_dirty == Some(false));
    let executions = p.list_executions("r1").await?;
    ensure!(executions.len() == 4);
    ensure!(
        executions
            .iter()
            .all(|e| e.status == "SUCCEEDED" && e.worker_id.starts_with('w'))
    );
    Ok(())
}

pub async fn a_final_failure_skips_dependents_and_fails_the_run(ctx: Ctx) -> Result<()> {
    let p = ctx.pipes();
    p.create_pipeline_run(diamond("r2", 0)).await?;
    let a = claim(&ctx, "w").await?.expect("a");
    p.complete_step(succeeded(&a, &["A"], &[])).await?;
    let first = claim(&ctx, "w").await?.expect("b or c");
    let second = claim(&ctx, "w").await?.expect("the other");
    p.complete_step(failed(&first, Some(0))).await?;
    let st = statuses(&ctx, "r2").await?;
    ensure!(
        st.contains(&(first.step.clone(), StepStatus::Failed)),
        "{st:?}"
    );
    ensure!(st.contains(&("d".into(), StepStatus::Skipped)), "{st:?}");
    ensure!(
        st.contains(&(second.step.clone(), StepStatus::Running)),
        "the other branch goes on"
    );
    let done = p.complete_step(succeeded(&second, &["X"], &["A"])).await?;
    ensure!(done == Completed::RunEnded(RunStatus::Failed), "{done:?}");
    let run = p.get_pipeline_run("r2").await?;
    ensure!(
        run.message
            .as_deref()
            .is_some_and(|m| m.contains("exit code 3") && m.contains(&first.step))
    );
    Ok(())
}

pub async fn failures_are_retried_until_the_budget_is_spent(ctx: Ctx) -> Result<()> {
    let p = ctx.pipes();
    p.create_pipeline_run(diamond("r3", 2)).await?;
    for attempt in 1..=3 {
        let a = claim(&ctx, "w").await?.expect("a is ready again");
        ensure!(a.step == "a" && a.attempt == attempt, "{a:?}");
        p.complete_step(failed(&a, Some(0))).await?;
    }
    ensure!(
        claim(&ctx, "w").await?.is_none(),
        "two retries, then no more"
    );
    ensure!(p.get_pipeline_run("r3").await?.status == RunStatus::Failed);
    let failures: Vec<_> = p
        .list_executions("r3")
        .await?
        .into_iter()
        .map(|e| e.status)
        .collect();
    ensure!(failures == ["FAILED", "FAILED", "FAILED"], "{failures:?}");
    p.create_pipeline_run(diamond("r3b", 1)).await?;
    let a = claim(&ctx, "w").await?.expect("a");
    p.complete_step(failed(&a, Some(i64::MAX))).await?;
    ensure!(
        claim(&ctx, "w").await?.is_none(),
        "the retry is not due before retry_at"
    );
    Ok(())
}

pub async fn an_expired_lease_is_reclaimed_and_the_old_holder_cannot_commit(
    ctx: Ctx,
) -> Result<()> {
    let p = ctx.pipes();
    p.create_pipeline_run(diamond("r4", 0)).await?;
    let a = p.claim_step("dead", "h", 1, None).await?.expect("a");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    ensure!(
        p.heartbeat("r4", "a", &a.lease_token, 1).await? == Heartbeat::Extended,
        "still ours until taken"
    );
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let again = claim(&ctx, "alive")
        .await?
        .expect("the expired lease is reclaimed");
    ensure!(again.step == "a" && again.attempt == 2 && again.lease_token != a.lease_token);
    ensure!(p.heartbeat("r4", "a", &a.lease_token, 60_000).await? == Heartbeat::Lost);
    ensure!(p.complete_step(succeeded(&a, &["STALE"], &[])).await? == Completed::LeaseLost);
    p.complete_step(succeeded(&again, &["A"], &[])).await?;
    let executions = p.list_executions("r4").await?;
    let by_id = |id: &str| {
        executions
            .iter()
            .find(|e| e.execution_id == id)
            .map(|e| e.status.clone())
    };
    ensure!(
        by_id(&a.execution_id).as_deref() == Some("LOST"),
        "{executions:?}"
    );
    ensure!(by_id(&again.execution_id).as_deref() == Some("SUCCEEDED"));
    ensure!(
        p.find_artifacts_by_uri("mlflow-artifacts:/x/STALE")
            .await?
            .is_empty(),
        "nothing of the lost execution is recorded"
    );
    Ok(())
}

pub async fn concurrent_claims_never_hand_out_a_step_twice(ctx: Ctx) -> Result<()> {
    let p = ctx.store.clone();
    let mut run = diamond("r5", 0);
    run.edges.clear();
    run.steps = (0..40)
        .map(|i| NewStepRun {
            step: format!("s{i:02}"),
            step_type: "command".into(),
            retries: 0,
            reuse_execution_id: None,
        })
        .collect();
    p.create_pipeline_run(run).await?;
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = p.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(c) = store
                .claim_step(&format!("w{w}"), "h", 60_000, None)
                .await?
            {
                got.push(c.step);
            }
            anyhow::Ok(got)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let unique: BTreeSet<_> = all.iter().cloned().collect();
    ensure!(
        all.len() == 40 && unique.len() == 40,
        "{} claims, {} distinct",
        all.len(),
        unique.len()
    );
    Ok(())
}

pub async fn cancel_stops_waiting_steps(ctx: Ctx) -> Result<()> {
    let p = ctx.pipes();
    p.create_pipeline_run(diamond("r6", 0)).await?;
    let a = claim(&ctx, "w").await?.expect("a");
    let run = p.cancel_pipeline_run("r6").await?;
    ensure!(run.cancel_requested && run.status == RunStatus::Running);
    ensure!(p.heartbeat("r6", "a", &a.lease_token, 60_000).await? == Heartbeat::Cancelled);
    let mut c = succeeded(&a, &[], &[]);
    c.outcome = Outcome::Cancelled;
    ensure!(p.complete_step(c).await? == Completed::RunEnded(RunStatus::Cancelled));
    let st = statuses(&ctx, "r6").await?;
    ensure!(
        st.iter()
            .all(|(_, s)| *s == StepStatus::Cancelled || *s == StepStatus::Skipped),
        "{st:?}"
    );
    p.create_pipeline_run(diamond("r7", 0)).await?;
    ensure!(
        p.cancel_pipeline_run("r7").await?.status == RunStatus::Cancelled,
        "nothing running: ends at once"
    );
    Ok(())
}

pub async fn cached_executions_are_found_by_key(ctx: Ctx) -> Result<()> {
    let p = ctx.pipes();
    p.create_pipeline_run(diamond("r8", 0)).await?;
    let a = claim(&ctx, "w").await?.expect("a");
    ensure!(p.find_cached_execution("key-a").await?.is_none());
    p.complete_step(succeeded(&a, &["A8"], &[])).await?;
    let hit = p.find_cached_execution("key-a").await?.expect("cached");
    ensure!(hit.execution_id == a.execution_id);
    let outputs = p.execution_outputs(&hit.execution_id).await?;
    ensure!(outputs.len() == 1 && outputs[0].artifact.artifact_id == "A8");
    p.create_pipeline_run(diamond("r9", 0)).await?;
    let again = p
        .claim_step("w", "h", 60_000, Some("r9"))
        .await?
        .expect("a of r9");
    ensure!(
        again.run.run_id == "r9" && again.step == "a",
        "only r9's steps: {again:?}"
    );
    let mut reuse = succeeded(&again, &[], &[]);
    reuse.outcome = Outcome::Succeeded {
        outputs,
        reused_execution_id: Some(hit.execution_id.clone()),
    };
    p.complete_step(reuse).await?;
    let st = statuses(&ctx, "r9").await?;
    ensure!(st.contains(&("a".into(), StepStatus::Cached)), "{st:?}");
    let e = p.get_execution(&again.execution_id).await?;
    ensure!(
        e.status == "CACHED" && e.reused_execution_id.as_deref() == Some(a.execution_id.as_str())
    );
    Ok(())
}

pub async fn lineage_events_link_both_ways(ctx: Ctx) -> Result<()> {
    let p = ctx.pipes();
    p.create_pipeline_run(diamond("r10", 0)).await?;
    let a = claim(&ctx, "w").await?.expect("a");
    p.complete_step(succeeded(&a, &["L1"], &["RAW"])).await?;
    let b = claim(&ctx, "w").await?.expect("b or c");
    p.complete_step(succeeded(&b, &["L2"], &["L1"])).await?;
    let on_l1 = p.artifact_events("L1").await?;
    let dirs: BTreeSet<_> = on_l1
        .iter()
        .map(|e| (e.direction.clone(), e.execution_id.clone()))
        .collect();
    ensure!(dirs.contains(&("OUTPUT".into(), a.execution_id.clone())));
    ensure!(dirs.contains(&("INPUT".into(), b.execution_id.clone())));
    let of_b = p.execution_events(&b.execution_id).await?;
    ensure!(
        of_b.iter()
            .any(|e| e.direction == "INPUT" && e.artifact_id == "L1")
    );
    ensure!(
        of_b.iter()
            .any(|e| e.direction == "OUTPUT" && e.artifact_id == "L2")
    );
    ensure!(p.get_artifact("L2").await?.digest.as_deref() == Some("sha-L2"));
    p.add_output_artifact(
        &b.execution_id,
        "model_version",
        ArtifactRecord {
            uri: "models:/m/1".into(),
            ..artifact("MV")
        },
    )
    .await?;
    ensure!(p.find_artifacts_by_uri("models:/m/1").await?[0].artifact_id == "MV");
    Ok(())
}

pub async fn firings_collapse_by_idempotency_key(ctx: Ctx) -> Result<()> {
    let p = ctx.pipes();
    let firing = |key: &str| NewFiring {
        pipeline: "p".into(),
        trigger_name: "nightly".into(),
        kind: "cron".into(),
        idempotency_key: key.into(),
        cause: "due".into(),
        params: "{}".into(),
    };
    let first = p
        .record_firing(firing("2026-11-26T03:00"))
        .await?
        .expect("new");
    ensure!(first.status == "FIRED");
    ensure!(
        p.record_firing(firing("2026-11-26T03:00")).await?.is_none(),
        "duplicate collapses"
    );
    p.set_firing_outcome(&first.firing_id, "STARTED", Some("r1"), None)
        .await?;
    p.record_firing(firing("2026-11-27T03:00"))
        .await?
        .expect("another key");
    let history = p.list_firings(Some("p"), 10).await?;
    ensure!(history.len() == 2);
    ensure!(
        history
            .iter()
            .any(|f| f.status == "STARTED" && f.run_id.as_deref() == Some("r1"))
    );
    Ok(())
}

pub async fn run_and_firing_listings_filter_by_pipeline_and_limit(ctx: Ctx) -> Result<()> {
    let p = ctx.pipes();
    p.create_pipeline_run(diamond("r1", 0)).await?;
    p.create_pipeline_run(diamond("r2", 0)).await?;
    p.create_pipeline_run(NewPipelineRun {
        pipeline: "q".into(),
        ..diamond("r3", 0)
    })
    .await?;
    let ids = |runs: Vec<PipelineRunRecord>| {
        let mut ids: Vec<String> = runs.into_iter().map(|r| r.run_id).collect();
        ids.sort();
        ids
    };
    ensure!(ids(p.list_pipeline_runs(None, 10).await?) == ["r1", "r2", "r3"]);
    ensure!(ids(p.list_pipeline_runs(Some("p"), 10).await?) == ["r1", "r2"]);
    ensure!(ids(p.list_pipeline_runs(Some("q"), 10).await?) == ["r3"]);
    ensure!(p.list_pipeline_runs(None, 2).await?.len() == 2);
    ensure!(p.list_pipeline_runs(Some("nope"), 10).await?.is_empty());
    for pipeline in ["p", "q"] {
        p.record_firing(NewFiring {
            pipeline: pipeline.into(),
            trigger_name: "nightly".into(),
            kind: "cron".into(),
            idempotency_key: "k".into(),
            cause: "due".into(),
            params: "{}".into(),
        })
        .await?
        .expect("new");
    }
    ensure!(p.list_firings(None, 10).await?.len() == 2);
    ensure!(p.list_firings(None, 1).await?.len() == 1);
    let q = p.list_firings(Some("q"), 10).await?;
    ensure!(q.len() == 1 && q[0].pipeline == "q");
    Ok(())
}

pub async fn deploy_versions_and_keeps_trigger_cursors(ctx: Ctx) -> Result<()> {
    let p = ctx.pipes();
    let record = |digest: &str| PipelineRecord {
        name: "p".into(),
        version: 0,
        digest: digest.into(),
        spec: "{}".into(),
        pipeline_dir: "/tmp".into(),
        experiment_id: "0".into(),
        created_time: 0,
        updated_time: 0,
    };
    let trigger = |name: &str, spec: &str| TriggerRecord {
        pipeline: "p".into(),
        name: name.into(),
        kind: "cron".into(),
        spec: spec.into(),
        cursor: None,
    };
    ensure!(
        p.deploy_pipeline(record("d1"), vec![trigger("t", "A")])
            .await?
            .version
            == 1
    );
    p.set_trigger_cursor("p", "t", 42).await?;
    ensure!(
        p.deploy_pipeline(record("d1"), vec![trigger("t", "A")])
            .await?
            .version
            == 1,
        "same digest, same version"
    );
    ensure!(
        p.list_triggers().await?[0].cursor == Some(42),
        "unchanged trigger keeps its cursor"
    );
    ensure!(
        p.deploy_pipeline(record("d2"), vec![trigger("t", "B"), trigger("u", "A")])
            .await?
            .version
            == 2
    );
    let triggers = p.list_triggers().await?;
    ensure!(
        triggers.len() == 2 && triggers.iter().all(|t| t.cursor.is_none()),
        "{triggers:?}"
    );
    ensure!(p.deploy_pipeline(record("d3"), vec![]).await?.version == 3);
    ensure!(p.list_triggers().await?.is_empty());
    ensure!(p.get_pipeline("nope").await.is_err());
    Ok(())
}

pub async fn alias_moves_are_recorded(ctx: Ctx) -> Result<()> {
    ctx.create_registered_model(NewRegisteredModel {
        name: "m".into(),
        tags: vec![],
        description: None,
    })
    .await?;
    for _ in 0..2 {
        ctx.create_model_version(NewModelVersion {
            name: "m".into(),
            source: "mlflow-artifacts:/x".into(),
            ..NewModelVersion::default()
        })
        .await?;
    }
    ctx.set_registered_model_alias("m", "champion", "1").await?;
    let previous = ctx
        .pipes()
        .move_alias("m", "champion", "2", "ana@laptop", "better MASE")
        .await?;
    ensure!(previous == Some(1));
    ctx.delete_registered_model_alias("m", "champion").await?;
    let history = ctx.pipes().alias_history("m", Some("champion")).await?;
    let summary: Vec<_> = history
        .iter()
        .map(|h| {
            (
                h.version,
                h.previous_version,
                h.actor.as_str(),
                h.reason.as_str(),
            )
        })
        .collect();
    ensure!(
        summary
            == [
                (Some(1), None, "mlflow-api", "set through the MLflow API"),
                (Some(2), Some(1), "ana@laptop", "better MASE"),
                (None, Some(2), "mlflow-api", "alias deleted"),
            ],
        "{summary:?}"
    );
    ensure!(
        ctx.pipes()
            .move_alias("m", "champion", "9", "x", "y")
            .await
            .is_err(),
        "unknown version"
    );
    Ok(())
}
