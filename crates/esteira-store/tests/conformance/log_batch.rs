//! log_batch: write-once params, last-write-wins tags, append-only metrics, atomicity,
//! limits and validation.

use anyhow::Result;
use esteira_core::ErrorCode;
use esteira_core::entities::{Metric, Run};
use esteira_store::{MetadataStore, MetricHistoryQuery};

use crate::harness::*;

async fn history(s: &dyn MetadataStore, run_id: &str, key: &str) -> Result<Vec<Metric>> {
    let page = s
        .get_metric_history(&MetricHistoryQuery {
            run_ids: vec![run_id.to_string()],
            metric_key: key.to_string(),
            paging: paging(10_000),
        })
        .await?;
    assert!(page.next_page_token.is_none());
    Ok(page.items)
}

fn latest<'a>(run: &'a Run, key: &str) -> Option<&'a Metric> {
    run.data.metrics.iter().find(|m| m.key == key)
}

fn points(h: &[Metric]) -> Vec<(f64, i64, i64)> {
    h.iter().map(|m| (m.value, m.timestamp, m.step)).collect()
}

pub async fn params_are_write_once_and_batches_atomic(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "params").await?;
    let id = run_named(&*s, &exp, "r", 1000).await?;
    s.log_batch(&id, &[], &[tag("lr", "0.1"), tag("opt", "adam")], &[])
        .await?;
    // The same value again is accepted, also twice in one batch.
    s.log_batch(&id, &[], &[tag("lr", "0.1"), tag("lr", "0.1")], &[])
        .await?;
    // A different value fails the whole batch: its metrics, tags and new params are absent.
    let msg = expect_code(
        s.log_batch(
            &id,
            &[metric("loss", 0.5, 10, 1)],
            &[tag("new_param", "x"), tag("lr", "0.2")],
            &[tag("phase", "two")],
        )
        .await,
        ErrorCode::InvalidParameterValue,
    );
    assert!(msg.contains("lr"), "{msg}");
    let run = s.get_run(&id).await?;
    assert_eq!(run.data.params, vec![tag("lr", "0.1"), tag("opt", "adam")]);
    assert!(run.data.metrics.is_empty(), "{:?}", run.data.metrics);
    assert_eq!(tag_value(&run.data.tags, "phase"), None);
    assert!(history(&*s, &id, "loss").await?.is_empty());
    // Two different values for one key in one batch are refused up front.
    expect_code(
        s.log_batch(&id, &[], &[tag("k", "1"), tag("k", "2")], &[])
            .await,
        ErrorCode::InvalidParameterValue,
    );
    assert_eq!(s.get_run(&id).await?.data.params.len(), 2);
    // Params of one run do not constrain another.
    let other = run_named(&*s, &exp, "o", 2000).await?;
    s.log_batch(&other, &[], &[tag("lr", "0.2")], &[]).await?;
    assert_eq!(s.get_run(&other).await?.data.params, vec![tag("lr", "0.2")]);
    Ok(())
}

pub async fn tags_last_write_wins(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "tags").await?;
    let id = run_named(&*s, &exp, "r", 1000).await?;
    s.log_batch(
        &id,
        &[],
        &[],
        &[tag("t", "a"), tag("u", "1"), tag("t", "b")],
    )
    .await?;
    let run = s.get_run(&id).await?;
    assert_eq!(tag_value(&run.data.tags, "t"), Some("b"));
    assert_eq!(run.data.tags.iter().filter(|t| t.key == "t").count(), 1);
    s.log_batch(&id, &[], &[], &[tag("t", "c")]).await?;
    let run = s.get_run(&id).await?;
    assert_eq!(tag_value(&run.data.tags, "t"), Some("c"));
    assert_eq!(tag_value(&run.data.tags, "u"), Some("1"));
    // Tags come back in key order.
    let keys: Vec<&str> = run.data.tags.iter().map(|t| t.key.as_str()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    // An empty value is a value.
    s.log_batch(&id, &[], &[], &[tag("empty", "")]).await?;
    assert_eq!(
        tag_value(&s.get_run(&id).await?.data.tags, "empty"),
        Some("")
    );
    s.delete_run_tag(&id, "t").await?;
    assert_eq!(tag_value(&s.get_run(&id).await?.data.tags, "t"), None);
    expect_code(
        s.delete_run_tag(&id, "t").await,
        ErrorCode::ResourceDoesNotExist,
    );
    Ok(())
}

pub async fn metric_history_keeps_append_order(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "history").await?;
    let id = run_named(&*s, &exp, "r", 1000).await?;
    s.log_batch(
        &id,
        &[
            metric("loss", 3.0, 300, 3),
            metric("loss", 1.0, 100, 1),
            metric("acc", 0.1, 100, 1),
        ],
        &[],
        &[],
    )
    .await?;
    s.log_batch(
        &id,
        &[metric("loss", 2.0, 200, 2), metric("loss", 0.5, 50, 0)],
        &[],
        &[],
    )
    .await?;
    let h = history(&*s, &id, "loss").await?;
    assert_eq!(
        points(&h),
        [(3.0, 300, 3), (1.0, 100, 1), (2.0, 200, 2), (0.5, 50, 0)]
    );
    assert!(h.iter().all(|m| m.key == "loss"));
    assert_eq!(points(&history(&*s, &id, "acc").await?), [(0.1, 100, 1)]);
    assert!(history(&*s, &id, "absent").await?.is_empty());
    Ok(())
}

pub async fn identical_points_are_stored_once(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "dedup").await?;
    let id = run_named(&*s, &exp, "r", 1000).await?;
    let p = metric("m", 1.5, 100, 7);
    s.log_batch(&id, &[p.clone(), p.clone()], &[], &[]).await?;
    s.log_batch(&id, &[p.clone()], &[], &[]).await?;
    // Differing in any of value, timestamp or step: a new point.
    s.log_batch(
        &id,
        &[
            metric("m", 2.5, 100, 7),
            metric("m", 1.5, 101, 7),
            metric("m", 1.5, 100, 8),
            p.clone(),
        ],
        &[],
        &[],
    )
    .await?;
    assert_eq!(
        points(&history(&*s, &id, "m").await?),
        [(1.5, 100, 7), (2.5, 100, 7), (1.5, 101, 7), (1.5, 100, 8)]
    );
    Ok(())
}

pub async fn latest_metric_is_max_by_step_timestamp_value(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "latest").await?;
    let id = run_named(&*s, &exp, "r", 1000).await?;
    let latest_of = |run: Run| latest(&run, "m").map(|m| (m.value, m.timestamp, m.step));
    s.log_batch(&id, &[metric("m", 1.0, 100, 5)], &[], &[])
        .await?;
    // A later timestamp at an earlier step does not win.
    s.log_batch(&id, &[metric("m", 9.0, 900, 3)], &[], &[])
        .await?;
    assert_eq!(latest_of(s.get_run(&id).await?), Some((1.0, 100, 5)));
    // Same step, later timestamp wins even with a smaller value.
    s.log_batch(&id, &[metric("m", 0.5, 200, 5)], &[], &[])
        .await?;
    assert_eq!(latest_of(s.get_run(&id).await?), Some((0.5, 200, 5)));
    // Same step and timestamp: the greater value wins, in whatever order they come.
    s.log_batch(
        &id,
        &[metric("m", 4.0, 200, 5), metric("m", 2.0, 200, 5)],
        &[],
        &[],
    )
    .await?;
    assert_eq!(latest_of(s.get_run(&id).await?), Some((4.0, 200, 5)));
    s.log_batch(&id, &[metric("m", 3.0, 200, 5)], &[], &[])
        .await?;
    assert_eq!(latest_of(s.get_run(&id).await?), Some((4.0, 200, 5)));
    // Inside one batch the max is taken too, not the last point.
    s.log_batch(
        &id,
        &[metric("m", 7.0, 10, 9), metric("m", 6.0, 5, 8)],
        &[],
        &[],
    )
    .await?;
    assert_eq!(latest_of(s.get_run(&id).await?), Some((7.0, 10, 9)));
    // The history still has every point.
    assert_eq!(history(&*s, &id, "m").await?.len(), 8);
    Ok(())
}

pub async fn nan_and_infinities_round_trip(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "nan").await?;
    let id = run_named(&*s, &exp, "r", 1000).await?;
    s.log_batch(
        &id,
        &[
            metric("nan", f64::NAN, 10, 1),
            metric("pinf", f64::INFINITY, 10, 1),
            metric("ninf", f64::NEG_INFINITY, 10, 1),
            metric("big", f64::MAX, 10, 1),
            metric("tiny", -f64::MIN_POSITIVE, 10, 1),
        ],
        &[],
        &[],
    )
    .await?;
    // The same NaN point again is the same point.
    s.log_batch(&id, &[metric("nan", f64::NAN, 10, 1)], &[], &[])
        .await?;
    let run = s.get_run(&id).await?;
    assert!(latest(&run, "nan").unwrap().value.is_nan());
    assert_eq!(latest(&run, "pinf").unwrap().value, f64::INFINITY);
    assert_eq!(latest(&run, "ninf").unwrap().value, f64::NEG_INFINITY);
    assert_eq!(latest(&run, "big").unwrap().value, f64::MAX);
    assert_eq!(latest(&run, "tiny").unwrap().value, -f64::MIN_POSITIVE);
    let h = history(&*s, &id, "nan").await?;
    assert_eq!(h.len(), 1);
    assert!(h[0].value.is_nan());
    assert_eq!(history(&*s, &id, "pinf").await?[0].value, f64::INFINITY);
    assert_eq!(history(&*s, &id, "ninf").await?[0].value, f64::NEG_INFINITY);
    // A real value at the same step and timestamp replaces a NaN as the latest.
    s.log_batch(&id, &[metric("nan", -1.0, 10, 1)], &[], &[])
        .await?;
    assert_eq!(latest(&s.get_run(&id).await?, "nan").unwrap().value, -1.0);
    Ok(())
}

/// Every double comes back bit for bit, through a run, a search and a history.
pub async fn doubles_round_trip_exactly(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "doubles").await?;
    let id = run_named(&*s, &exp, "r", 1000).await?;
    let values = [
        0.1 + 0.2,
        1.0 / 3.0,
        5e-324,
        123_456_789.123_456_79,
        -2.5e-300,
        1e21 + 1.0,
        1e300,
    ];
    let metrics: Vec<Metric> = values
        .iter()
        .enumerate()
        .map(|(i, v)| metric(&format!("m{i}"), *v, 10, 0))
        .collect();
    s.log_batch(&id, &metrics, &[], &[]).await?;
    let run = s.get_run(&id).await?;
    for (i, v) in values.iter().enumerate() {
        let key = format!("m{i}");
        assert_eq!(
            latest(&run, &key).unwrap().value.to_bits(),
            v.to_bits(),
            "{key}"
        );
        assert_eq!(
            history(&*s, &id, &key).await?[0].value.to_bits(),
            v.to_bits(),
            "{key}"
        );
    }
    let found = filter_runs(&*s, &[&exp], "metrics.m0 > 0.3").await?;
    assert_eq!(found.len(), 1, "0.1 + 0.2 is stored above 0.3");
    Ok(())
}

pub async fn limits_and_key_validation(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "limits").await?;
    let id = run_named(&*s, &exp, "r", 1000).await?;
    let invalid = ErrorCode::InvalidParameterValue;
    let many = |n: usize| -> Vec<Metric> {
        (0..n)
            .map(|i| metric("m", i as f64, i as i64, i as i64))
            .collect()
    };
    let msg = expect_code(s.log_batch(&id, &many(1001), &[], &[]).await, invalid);
    assert!(msg.contains("1000"), "{msg}");
    assert!(history(&*s, &id, "m").await?.is_empty());
    let params: Vec<_> = (0..101).map(|i| tag(&format!("p{i}"), "v")).collect();
    expect_code(s.log_batch(&id, &[], &params, &[]).await, invalid);
    expect_code(s.log_batch(&id, &[], &[], &params).await, invalid);
    expect_code(
        s.log_batch(&id, &many(1000), &[tag("p", "v")], &[]).await,
        invalid,
    );
    // Exactly at the limits is fine, and every point is kept in order.
    s.log_batch(&id, &many(1000), &[], &[]).await?;
    let h = history(&*s, &id, "m").await?;
    assert_eq!(h.len(), 1000);
    assert!(h.iter().enumerate().all(|(i, m)| m.step == i as i64));
    let params: Vec<_> = (0..100).map(|i| tag(&format!("p{i}"), "v")).collect();
    s.log_batch(&id, &[], &params, &params).await?;
    let run = s.get_run(&id).await?;
    assert_eq!(run.data.params.len(), 100);

    let fresh = run_named(&*s, &exp, "fresh", 2000).await?;
    for bad in ["bad$key", "../up", "/abs", "a//b", "trailing/", ""] {
        expect_code(
            s.log_batch(&fresh, &[metric(bad, 1.0, 1, 0)], &[], &[])
                .await,
            invalid,
        );
        expect_code(
            s.log_batch(&fresh, &[], &[tag(bad, "v")], &[]).await,
            invalid,
        );
        expect_code(
            s.log_batch(&fresh, &[], &[], &[tag(bad, "v")]).await,
            invalid,
        );
    }
    let long_key = "k".repeat(251);
    expect_code(
        s.log_batch(&fresh, &[metric(&long_key, 1.0, 1, 0)], &[], &[])
            .await,
        invalid,
    );
    expect_code(
        s.log_batch(&fresh, &[], &[tag("p", &"x".repeat(6001))], &[])
            .await,
        invalid,
    );
    expect_code(
        s.log_batch(&fresh, &[], &[], &[tag("t", &"x".repeat(8001))])
            .await,
        invalid,
    );
    // Allowed characters.
    s.log_batch(
        &fresh,
        &[metric("val/loss:x y-z.w_1", 1.0, 1, 0)],
        &[tag("p", &"x".repeat(6000))],
        &[],
    )
    .await?;
    let run = s.get_run(&fresh).await?;
    assert_eq!(run.data.metrics.len(), 1);
    assert_eq!(run.data.metrics[0].key, "val/loss:x y-z.w_1");
    assert_eq!(run.data.params[0].value.len(), 6000);
    // Nothing of the refused batches was written.
    assert_eq!(
        run.data
            .tags
            .iter()
            .map(|t| t.key.as_str())
            .collect::<Vec<_>>(),
        ["mlflow.runName"]
    );
    Ok(())
}

pub async fn concurrent_writers_of_one_param(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "concurrent-params").await?;
    let id = run_named(&*s, &exp, "r", 1000).await?;
    // Workers of one job each log the same params (and their own metric point): all succeed.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = s.store.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            store
                .log_batch(
                    &id,
                    &[metric("loss", i as f64, i, i)],
                    &[tag("lr", "0.1"), tag("batch", "32")],
                    &[tag("worker", &i.to_string())],
                )
                .await
        }));
    }
    for t in tasks {
        t.await??;
    }
    let run = s.get_run(&id).await?;
    assert_eq!(run.data.params, vec![tag("batch", "32"), tag("lr", "0.1")]);
    assert_eq!(history(&*s, &id, "loss").await?.len(), 8);
    // Racing different values: the losers get INVALID_PARAMETER_VALUE, never a database
    // error, and the stored value is one of the winners'.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = s.store.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            store
                .log_batch(&id, &[], &[tag("seed", &i.to_string())], &[])
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await? {
            Ok(()) => ok += 1,
            Err(e) => assert_eq!(
                e.code(),
                ErrorCode::InvalidParameterValue,
                "{}",
                e.message()
            ),
        }
    }
    assert_eq!(ok, 1, "exactly one writer of a param wins");
    let run = s.get_run(&id).await?;
    assert!(tag_value(&run.data.params, "seed").is_some());
    Ok(())
}
