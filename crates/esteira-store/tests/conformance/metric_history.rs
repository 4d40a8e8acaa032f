//! get_metric_history: paging, several runs, links to models and datasets.

use anyhow::Result;
use esteira_core::ErrorCode;
use esteira_core::entities::Metric;
use esteira_store::{MetricHistoryQuery, Paging};

use crate::harness::*;

fn query(run_ids: &[&str], key: &str, paging: Paging) -> MetricHistoryQuery {
    MetricHistoryQuery {
        run_ids: run_ids.iter().map(|s| s.to_string()).collect(),
        metric_key: key.into(),
        paging,
    }
}

pub async fn paging(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "history-paging").await?;
    let id = run_named(&*s, &exp, "r", 1000).await?;
    let points: Vec<Metric> = (0..7)
        .map(|i| metric("loss", 10.0 - i as f64, 100 + i, 6 - i))
        .collect();
    s.log_batch(&id, &points, &[], &[]).await?;
    let store = s.store.clone();
    let mut sizes = Vec::new();
    let mut token = None;
    let mut all = Vec::new();
    loop {
        let page = store
            .get_metric_history(&query(&[&id], "loss", page_after(3, &token)))
            .await?;
        sizes.push(page.items.len());
        all.extend(page.items);
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(sizes, [3, 3, 1]);
    let got: Vec<(f64, i64, i64)> = all.iter().map(|m| (m.value, m.timestamp, m.step)).collect();
    let want: Vec<(f64, i64, i64)> = points
        .iter()
        .map(|m| (m.value, m.timestamp, m.step))
        .collect();
    assert_eq!(got, want);
    // One run: run_id need not be filled, but when it is it must be right.
    assert!(
        all.iter()
            .all(|m| m.run_id.as_deref().is_none_or(|r| r == id))
    );
    // A page exactly as large as the history has no next page.
    let page = s
        .get_metric_history(&query(&[&id], "loss", self::paging_of(7)))
        .await?;
    assert_eq!(page.items.len(), 7);
    assert_eq!(page.next_page_token, None);
    expect_code(
        s.get_metric_history(&query(
            &["0123456789abcdef0123456789abcdef"],
            "loss",
            paging_of(10),
        ))
        .await,
        ErrorCode::ResourceDoesNotExist,
    );
    Ok(())
}

fn paging_of(n: i64) -> Paging {
    crate::harness::paging(n)
}

pub async fn several_runs_fill_run_id(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "history-bulk").await?;
    let a = run_named(&*s, &exp, "a", 1000).await?;
    let b = run_named(&*s, &exp, "b", 2000).await?;
    let c = run_named(&*s, &exp, "c", 3000).await?;
    s.log_batch(
        &a,
        &[metric("m", 1.0, 10, 2), metric("m", 2.0, 20, 1)],
        &[],
        &[],
    )
    .await?;
    s.log_batch(&b, &[metric("m", 3.0, 30, 0)], &[], &[])
        .await?;
    s.log_batch(&c, &[metric("m", 4.0, 40, 0)], &[], &[])
        .await?;
    let store = s.store.clone();
    let (a2, b2) = (a.clone(), b.clone());
    let items = all_pages(2, move |p| {
        let store = store.clone();
        let q = query(&[&a2, &b2], "m", p);
        async move { store.get_metric_history(&q).await }
    })
    .await?;
    assert_eq!(items.len(), 3, "{items:?}");
    let of = |run: &str| -> Vec<(f64, i64)> {
        items
            .iter()
            .filter(|m| m.run_id.as_deref() == Some(run))
            .map(|m| (m.value, m.step))
            .collect()
    };
    assert_eq!(of(&a), [(1.0, 2), (2.0, 1)]);
    assert_eq!(of(&b), [(3.0, 0)]);
    assert!(of(&c).is_empty());
    Ok(())
}

pub async fn model_and_dataset_links_are_kept(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "history-links").await?;
    let id = run_named(&*s, &exp, "r", 1000).await?;
    let mut m = metric("acc", 0.9, 10, 1);
    m.model_id = Some("m-0123".into());
    m.dataset_name = Some("eval".into());
    m.dataset_digest = Some("abc".into());
    s.log_batch(&id, &[m, metric("acc", 0.8, 5, 0)], &[], &[])
        .await?;
    let h = s
        .get_metric_history(&query(&[&id], "acc", paging_of(10)))
        .await?
        .items;
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].model_id.as_deref(), Some("m-0123"));
    assert_eq!(h[0].dataset_name.as_deref(), Some("eval"));
    assert_eq!(h[0].dataset_digest.as_deref(), Some("abc"));
    assert_eq!(h[1].model_id, None);
    assert_eq!(h[1].dataset_name, None);
    Ok(())
}
