//! Monitors, policies, monitor results and retrain decisions.

use anyhow::Result;
use esteira_core::ErrorCode;
use esteira_store::monitors::{DefinitionKind, MonitorStore, NewDecision, NewMonitorResult};

use crate::harness::{Ctx, expect_code};

const MONITOR: DefinitionKind = DefinitionKind::Monitor;
const POLICY: DefinitionKind = DefinitionKind::Policy;

fn window(start: i64, end: i64, alarm: bool) -> NewMonitorResult {
    NewMonitorResult {
        window_start: start,
        window_end: end,
        alarm,
        drift_share: Some(0.25),
        report: format!(r#"{{"end":{end}}}"#),
    }
}

fn decision(at: i64, outcome: &str) -> NewDecision {
    NewDecision {
        evaluated_time: at,
        outcome: outcome.into(),
        reasons: r#"["mase above band"]"#.into(),
        pipeline: "demand".into(),
        firing_id: (outcome == "retrain").then(|| format!("f-{at}")),
        compute_seconds: Some(12.5),
    }
}

pub async fn definitions_are_kept_per_kind(s: Ctx) -> Result<()> {
    let m: &dyn MonitorStore = &*s.store;
    let created = m
        .put_definition(MONITOR, "acc", r#"{"window":"7d"}"#, false)
        .await?;
    assert_eq!(created.state, "{}");
    assert_eq!(created.state_version, 0);
    m.put_definition(POLICY, "acc", r#"{"pipeline":"demand"}"#, false)
        .await?;
    m.put_definition(MONITOR, "drift", "{}", false).await?;
    let names = |records: Vec<esteira_store::monitors::DefinitionRecord>| {
        records.into_iter().map(|r| r.name).collect::<Vec<_>>()
    };
    assert_eq!(names(m.list_definitions(MONITOR).await?), ["acc", "drift"]);
    assert_eq!(names(m.list_definitions(POLICY).await?), ["acc"]);
    assert_eq!(
        m.get_definition(POLICY, "acc").await?.spec,
        r#"{"pipeline":"demand"}"#
    );
    m.delete_definition(MONITOR, "drift").await?;
    let msg = expect_code(
        m.get_definition(MONITOR, "drift").await,
        ErrorCode::ResourceDoesNotExist,
    );
    assert!(msg.contains("Monitor 'drift'"), "{msg}");
    expect_code(
        m.delete_definition(POLICY, "drift").await,
        ErrorCode::ResourceDoesNotExist,
    );
    Ok(())
}

pub async fn redefining_keeps_the_state_unless_reset(s: Ctx) -> Result<()> {
    let m: &dyn MonitorStore = &*s.store;
    m.put_definition(MONITOR, "acc", r#"{"v":1}"#, false)
        .await?;
    m.record_monitor_results("acc", 0, r#"{"cursor":10}"#, &[])
        .await?;
    let kept = m
        .put_definition(MONITOR, "acc", r#"{"v":2}"#, false)
        .await?;
    assert_eq!(
        (kept.spec.as_str(), kept.state.as_str(), kept.state_version),
        (r#"{"v":2}"#, r#"{"cursor":10}"#, 1)
    );
    let reset = m.put_definition(MONITOR, "acc", r#"{"v":3}"#, true).await?;
    assert_eq!((reset.state.as_str(), reset.state_version), ("{}", 2));
    Ok(())
}

pub async fn results_and_state_move_together(s: Ctx) -> Result<()> {
    let m: &dyn MonitorStore = &*s.store;
    m.put_definition(MONITOR, "acc", "{}", false).await?;
    m.record_monitor_results(
        "acc",
        0,
        r#"{"cursor":200}"#,
        &[window(100, 200, false), window(0, 100, true)],
    )
    .await?;
    // A second evaluation that read version 0 loses: nothing of it is recorded.
    let msg = expect_code(
        m.record_monitor_results("acc", 0, r#"{"cursor":300}"#, &[window(200, 300, true)])
            .await,
        ErrorCode::InvalidState,
    );
    assert!(msg.contains("state version 1, expected 0"), "{msg}");
    // A window end recorded twice fails the whole call, state included.
    expect_code(
        m.record_monitor_results(
            "acc",
            1,
            r#"{"cursor":300}"#,
            &[window(200, 300, false), window(100, 200, false)],
        )
        .await,
        ErrorCode::InvalidState,
    );
    let record = m.get_definition(MONITOR, "acc").await?;
    assert_eq!(
        (record.state.as_str(), record.state_version),
        (r#"{"cursor":200}"#, 1)
    );
    let results = m.list_monitor_results("acc", 0, 1000).await?;
    let ends: Vec<(i64, bool)> = results.iter().map(|r| (r.window_end, r.alarm)).collect();
    assert_eq!(ends, [(100, true), (200, false)]);
    assert_eq!(results[0].drift_share, Some(0.25));
    assert_eq!(results[0].report, r#"{"end":100}"#);
    // Half-open on the window end.
    let only_first = m.list_monitor_results("acc", 100, 200).await?;
    assert_eq!(only_first.len(), 1);
    assert_eq!(only_first[0].window_end, 100);
    Ok(())
}

pub async fn bad_monitor_writes_are_refused(s: Ctx) -> Result<()> {
    let m: &dyn MonitorStore = &*s.store;
    let msg = expect_code(
        m.put_definition(MONITOR, " ", "{}", false).await,
        ErrorCode::InvalidParameterValue,
    );
    assert!(msg.contains("'name'"), "{msg}");
    let msg = expect_code(
        m.put_definition(MONITOR, "acc", "window = 7d", false).await,
        ErrorCode::InvalidParameterValue,
    );
    assert!(msg.contains("spec must be JSON"), "{msg}");
    expect_code(
        m.record_monitor_results("nope", 0, "{}", &[]).await,
        ErrorCode::ResourceDoesNotExist,
    );
    m.put_definition(MONITOR, "acc", "{}", false).await?;
    let msg = expect_code(
        m.record_monitor_results("acc", 0, "{}", &[window(100, 100, false)])
            .await,
        ErrorCode::InvalidParameterValue,
    );
    assert!(
        msg.contains("window end 100 is not after its start 100"),
        "{msg}"
    );
    let msg = expect_code(
        m.record_monitor_results("acc", 0, "not json", &[]).await,
        ErrorCode::InvalidParameterValue,
    );
    assert!(msg.contains("monitor state must be JSON"), "{msg}");
    assert_eq!(m.get_definition(MONITOR, "acc").await?.state_version, 0);
    Ok(())
}

pub async fn decisions_are_recorded_once_per_evaluation(s: Ctx) -> Result<()> {
    let m: &dyn MonitorStore = &*s.store;
    m.put_definition(POLICY, "retrain", "{}", false).await?;
    m.put_definition(POLICY, "other", "{}", false).await?;
    let first = m
        .record_decision("retrain", 0, r#"{"last":100}"#, &decision(100, "avoided"))
        .await?;
    assert_eq!(first.policy, "retrain");
    assert_eq!(first.compute_seconds, Some(12.5));
    m.record_decision("retrain", 1, "{}", &decision(200, "retrain"))
        .await?;
    m.record_decision("other", 0, "{}", &decision(150, "cooldown"))
        .await?;
    // The same evaluation time again: refused, state unchanged.
    expect_code(
        m.record_decision("retrain", 2, r#"{"x":1}"#, &decision(200, "budget"))
            .await,
        ErrorCode::InvalidState,
    );
    assert_eq!(m.get_definition(POLICY, "retrain").await?.state, "{}");
    let all = m.list_decisions(None, 0, 1000, 100).await?;
    let seen: Vec<(&str, i64, &str)> = all
        .iter()
        .map(|d| (d.policy.as_str(), d.evaluated_time, d.outcome.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("retrain", 100, "avoided"),
            ("other", 150, "cooldown"),
            ("retrain", 200, "retrain")
        ]
    );
    assert_eq!(all[2].firing_id.as_deref(), Some("f-200"));
    let latest_two = m.list_decisions(None, 0, 1000, 2).await?;
    assert_eq!(latest_two[0].evaluated_time, 150);
    let of_one = m.list_decisions(Some("retrain"), 150, 1000, 100).await?;
    assert_eq!(of_one.len(), 1);
    assert_eq!(of_one[0].evaluated_time, 200);
    Ok(())
}

pub async fn bad_decisions_are_refused(s: Ctx) -> Result<()> {
    let m: &dyn MonitorStore = &*s.store;
    m.put_definition(POLICY, "retrain", "{}", false).await?;
    let cases: [(NewDecision, &str); 4] = [
        (decision(1, "maybe"), "'outcome' \"maybe\""),
        (
            NewDecision {
                pipeline: "".into(),
                ..decision(1, "avoided")
            },
            "'pipeline'",
        ),
        (
            NewDecision {
                reasons: "mase".into(),
                ..decision(1, "avoided")
            },
            "'reasons' must be JSON",
        ),
        (
            NewDecision {
                compute_seconds: Some(f64::NAN),
                ..decision(1, "avoided")
            },
            "'compute_seconds'",
        ),
    ];
    for (bad, expected) in cases {
        let msg = expect_code(
            m.record_decision("retrain", 0, "{}", &bad).await,
            ErrorCode::InvalidParameterValue,
        );
        assert!(msg.contains(expected), "{msg} lacks {expected}");
    }
    expect_code(
        m.record_decision("nope", 0, "{}", &decision(1, "avoided"))
            .await,
        ErrorCode::ResourceDoesNotExist,
    );
    assert!(m.list_decisions(None, 0, 100, 10).await?.is_empty());
    Ok(())
}
