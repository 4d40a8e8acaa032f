//! search_runs: every comparator on metrics, params, tags, attributes and datasets;
//! ordering; paging; view types; errors; several experiments.

use anyhow::Result;
use esteira_core::ErrorCode;
use esteira_core::entities::{Dataset, DatasetInput, RunStatus, ViewType};
use esteira_store::{MetadataStore, RunQuery, RunUpdate};

use crate::harness::*;

/// Three runs in a fresh experiment (default order, newest first: run-c, run-b, run-a):
///
/// | run   | start | status   | end  | acc | loss | params             | tags        |
/// |-------|-------|----------|------|-----|------|--------------------|-------------|
/// | run-a | 1000  | FINISHED | 5000 | 0.5 | 0.3  | model=CNN opt=adam | team=Alpha  |
/// | run-b | 2000  | RUNNING  | -    | 0.7 | NaN  | model=cnn opt=sgd  | team=beta   |
/// | run-c | 3000  | FAILED   | 4000 | -   | -    | other=1            | -           |
struct Fixture {
    exp: String,
    a: String,
    b: String,
    c: String,
}

async fn fixture(s: &dyn MetadataStore, name: &str) -> Result<Fixture> {
    let exp = experiment(s, name).await?;
    let a = run_named(s, &exp, "run-a", 1000).await?;
    let b = run_named(s, &exp, "run-b", 2000).await?;
    let c = run_named(s, &exp, "run-c", 3000).await?;
    s.log_batch(
        &a,
        &[metric("acc", 0.5, 1, 0), metric("loss", 0.3, 1, 0)],
        &[tag("model", "CNN"), tag("opt", "adam")],
        &[tag("team", "Alpha")],
    )
    .await?;
    s.log_batch(
        &b,
        &[metric("acc", 0.7, 1, 0), metric("loss", f64::NAN, 1, 0)],
        &[tag("model", "cnn"), tag("opt", "sgd")],
        &[tag("team", "beta")],
    )
    .await?;
    s.log_batch(&c, &[], &[tag("other", "1")], &[]).await?;
    for (id, status, end) in [
        (&a, RunStatus::Finished, Some(5000)),
        (&c, RunStatus::Failed, Some(4000)),
    ] {
        s.update_run(
            id,
            RunUpdate {
                status: Some(status),
                end_time: end,
                run_name: None,
            },
        )
        .await?;
    }
    Ok(Fixture { exp, a, b, c })
}

/// Run names of a search in `exp` (default order unless `order_by`).
async fn names(
    s: &dyn MetadataStore,
    exp: &str,
    filter: &str,
    order_by: &[&str],
) -> Result<Vec<String>> {
    let mut q = run_query(&[exp], filter);
    q.order_by = order_by.iter().map(|o| o.to_string()).collect();
    let page = s.search_runs(&q).await?;
    Ok(page.items.into_iter().map(|r| r.info.run_name).collect())
}

macro_rules! check {
    ($s:expr, $f:expr, $filter:expr, [$($want:expr),*]) => {{
        let got = names(&*$s, &$f.exp, &$filter, &[]).await?;
        let want: Vec<&str> = vec![$($want),*];
        assert_eq!(got, want, "filter {:?}", $filter);
    }};
}

pub async fn metric_comparators(s: Ctx) -> Result<()> {
    let f = fixture(&*s, "metrics").await?;
    check!(s, f, "metrics.acc = 0.5", ["run-a"]);
    check!(s, f, "metrics.acc != 0.5", ["run-b"]);
    check!(s, f, "metrics.acc < 0.7", ["run-a"]);
    check!(s, f, "metrics.acc <= 0.7", ["run-b", "run-a"]);
    check!(s, f, "metrics.acc > 0.5", ["run-b"]);
    check!(s, f, "metrics.acc >= 0.5", ["run-b", "run-a"]);
    check!(s, f, "metrics.acc > 0.7", []);
    check!(s, f, "metric.acc >= 5e-1", ["run-b", "run-a"]);
    check!(s, f, "metrics.`acc` = 0.7", ["run-b"]);
    check!(s, f, "metrics.acc > 0.1 AND metrics.acc < 0.6", ["run-a"]);
    check!(s, f, "metrics.missing > 0", []);
    // A NaN latest value matches no comparison (Esteira; see the report).
    check!(s, f, "metrics.loss < 100", ["run-a"]);
    check!(s, f, "metrics.loss != 0.3", []);
    Ok(())
}

pub async fn param_comparators(s: Ctx) -> Result<()> {
    let f = fixture(&*s, "params").await?;
    check!(s, f, "params.model = 'CNN'", ["run-a"]);
    check!(s, f, "params.model = \"cnn\"", ["run-b"]);
    check!(s, f, "params.model != 'CNN'", ["run-b"]);
    // LIKE is case-sensitive, ILIKE is not.
    check!(s, f, "params.model LIKE 'CN%'", ["run-a"]);
    check!(s, f, "params.model LIKE 'c_n'", ["run-b"]);
    check!(s, f, "params.model LIKE '%N'", ["run-a"]);
    check!(s, f, "params.model ILIKE 'cn%'", ["run-b", "run-a"]);
    check!(s, f, "params.model ILIKE '%N%'", ["run-b", "run-a"]);
    check!(s, f, "params.model IS NULL", ["run-c"]);
    check!(s, f, "params.model IS NOT NULL", ["run-b", "run-a"]);
    check!(
        s,
        f,
        "params.model = 'CNN' AND params.opt = 'adam'",
        ["run-a"]
    );
    check!(s, f, "params.model = 'CNN' AND params.opt = 'sgd'", []);
    check!(s, f, "parameter.other = '1'", ["run-c"]);
    Ok(())
}

pub async fn tag_comparators(s: Ctx) -> Result<()> {
    let f = fixture(&*s, "tags").await?;
    check!(s, f, "tags.team = 'Alpha'", ["run-a"]);
    check!(s, f, "tags.team != 'Alpha'", ["run-b"]);
    check!(s, f, "tags.team LIKE 'a%'", []);
    check!(s, f, "tags.team LIKE 'A%'", ["run-a"]);
    check!(s, f, "tags.team LIKE '%a'", ["run-b", "run-a"]);
    check!(s, f, "tags.team ILIKE 'ALPHA'", ["run-a"]);
    check!(s, f, "tags.team ILIKE '%E%'", ["run-b"]);
    check!(s, f, "tags.team IS NULL", ["run-c"]);
    check!(s, f, "tag.team IS NOT NULL", ["run-b", "run-a"]);
    check!(s, f, "tags.`mlflow.runName` = 'run-b'", ["run-b"]);
    check!(
        s,
        f,
        "tags.\"mlflow.runName\" LIKE 'run-%'",
        ["run-c", "run-b", "run-a"]
    );
    Ok(())
}

pub async fn attribute_filters(s: Ctx) -> Result<()> {
    let f = fixture(&*s, "attributes").await?;
    let (a, b, c) = (&f.a, &f.b, &f.c);
    check!(s, f, format!("attributes.run_id = '{b}'"), ["run-b"]);
    check!(
        s,
        f,
        format!("run_id IN ('{a}', '{c}')"),
        ["run-c", "run-a"]
    );
    check!(
        s,
        f,
        format!("attributes.run_id NOT IN ('{a}')"),
        ["run-c", "run-b"]
    );
    check!(s, f, format!("run_id NOT IN ('{a}', '{b}', '{c}')"), []);
    check!(s, f, "run_id IN ('nope')", []);
    check!(s, f, "attributes.run_name = 'run-b'", ["run-b"]);
    check!(s, f, "run_name != 'run-b'", ["run-c", "run-a"]);
    check!(s, f, "run_name LIKE 'run-%'", ["run-c", "run-b", "run-a"]);
    check!(s, f, "run_name LIKE 'RUN-%'", []);
    check!(s, f, "run_name ILIKE 'RUN-A'", ["run-a"]);
    check!(s, f, "attributes.status = 'FINISHED'", ["run-a"]);
    check!(s, f, "status != 'RUNNING'", ["run-c", "run-a"]);
    check!(s, f, "status LIKE 'F%'", ["run-c", "run-a"]);
    check!(s, f, "attributes.start_time > 1500", ["run-c", "run-b"]);
    check!(s, f, "start_time = 2000", ["run-b"]);
    check!(s, f, "start_time != 2000", ["run-c", "run-a"]);
    check!(s, f, "attributes.start_time <= 2000", ["run-b", "run-a"]);
    check!(s, f, "start_time < 1000", []);
    check!(s, f, "start_time >= 1000", ["run-c", "run-b", "run-a"]);
    check!(s, f, "attributes.created > 2500", ["run-c"]);
    check!(s, f, "end_time < 4500", ["run-c"]);
    check!(s, f, "end_time >= 4000", ["run-c", "run-a"]);
    check!(s, f, "end_time = 5000", ["run-a"]);
    check!(s, f, "end_time > 4000 AND status = 'FINISHED'", ["run-a"]);
    check!(s, f, "user_id = 'tester'", ["run-c", "run-b", "run-a"]);
    check!(
        s,
        f,
        format!(
            "metrics.acc >= 0.5 AND params.opt = 'sgd' AND run_id = '{b}' AND tags.team ILIKE 'b%'"
        ),
        ["run-b"]
    );
    Ok(())
}

fn dataset(name: &str, digest: &str, context: &str) -> DatasetInput {
    DatasetInput {
        tags: vec![tag("mlflow.data.context", context)],
        dataset: Dataset {
            name: name.into(),
            digest: digest.into(),
            source_type: "local".into(),
            source: "{\"uri\": \"/data\"}".into(),
            schema: None,
            profile: None,
        },
    }
}

pub async fn dataset_filters(s: Ctx) -> Result<()> {
    let f = fixture(&*s, "datasets").await?;
    s.log_inputs(&f.a, &[dataset("train-ds", "d1", "training")], &[])
        .await?;
    s.log_inputs(
        &f.b,
        &[
            dataset("eval-ds", "d2", "evaluation"),
            dataset("train-ds", "d1", "training"),
        ],
        &[],
    )
    .await?;
    check!(s, f, "datasets.name = 'eval-ds'", ["run-b"]);
    check!(s, f, "datasets.name = 'train-ds'", ["run-b", "run-a"]);
    check!(s, f, "datasets.name IN ('eval-ds', 'nope')", ["run-b"]);
    check!(s, f, "datasets.name LIKE 'tr%'", ["run-b", "run-a"]);
    check!(s, f, "datasets.name LIKE 'TR%'", []);
    check!(s, f, "datasets.name ILIKE 'EVAL%'", ["run-b"]);
    check!(s, f, "datasets.digest = 'd1'", ["run-b", "run-a"]);
    check!(s, f, "datasets.digest != 'd1'", ["run-b"]);
    check!(s, f, "datasets.context = 'evaluation'", ["run-b"]);
    check!(s, f, "dataset.context = 'training'", ["run-b", "run-a"]);
    check!(
        s,
        f,
        "datasets.name = 'train-ds' AND metrics.acc < 0.6",
        ["run-a"]
    );
    Ok(())
}

pub async fn order_by_metrics(s: Ctx) -> Result<()> {
    let f = fixture(&*s, "order-metrics").await?;
    let e = &f.exp;
    assert_eq!(
        names(&*s, e, "", &["metrics.acc DESC"]).await?,
        ["run-b", "run-a", "run-c"]
    );
    assert_eq!(
        names(&*s, e, "", &["metrics.acc ASC"]).await?,
        ["run-a", "run-b", "run-c"]
    );
    assert_eq!(
        names(&*s, e, "", &["metrics.acc"]).await?,
        ["run-a", "run-b", "run-c"]
    );
    // NaN after numbers, missing last, in both directions.
    assert_eq!(
        names(&*s, e, "", &["metrics.loss ASC"]).await?,
        ["run-a", "run-b", "run-c"]
    );
    assert_eq!(
        names(&*s, e, "", &["metrics.loss DESC"]).await?,
        ["run-a", "run-b", "run-c"]
    );
    // Ties broken by the next clause.
    let d = run_named(&*s, e, "run-d", 4000).await?;
    s.log_batch(&d, &[metric("acc", 0.5, 1, 0)], &[], &[])
        .await?;
    assert_eq!(
        names(&*s, e, "", &["metrics.acc DESC", "start_time ASC"]).await?,
        ["run-b", "run-a", "run-d", "run-c"]
    );
    assert_eq!(
        names(&*s, e, "", &["metrics.acc DESC", "start_time DESC"]).await?,
        ["run-b", "run-d", "run-a", "run-c"]
    );
    Ok(())
}

pub async fn order_by_params_and_attributes(s: Ctx) -> Result<()> {
    let f = fixture(&*s, "order-attributes").await?;
    let e = &f.exp;
    assert_eq!(
        names(&*s, e, "", &["params.opt ASC"]).await?,
        ["run-a", "run-b", "run-c"]
    );
    assert_eq!(
        names(&*s, e, "", &["params.opt DESC"]).await?,
        ["run-b", "run-a", "run-c"]
    );
    assert_eq!(
        names(&*s, e, "", &["tags.team DESC"]).await?,
        ["run-b", "run-a", "run-c"]
    );
    assert_eq!(
        names(&*s, e, "", &["start_time ASC"]).await?,
        ["run-a", "run-b", "run-c"]
    );
    assert_eq!(
        names(&*s, e, "", &["attributes.start_time DESC"]).await?,
        ["run-c", "run-b", "run-a"]
    );
    assert_eq!(
        names(&*s, e, "", &["run_name DESC"]).await?,
        ["run-c", "run-b", "run-a"]
    );
    assert_eq!(
        names(&*s, e, "", &["attributes.status ASC"]).await?,
        ["run-c", "run-a", "run-b"]
    );
    // A run without an end time sorts last either way, as in MLflow.
    assert_eq!(
        names(&*s, e, "", &["end_time ASC"]).await?,
        ["run-c", "run-a", "run-b"]
    );
    assert_eq!(
        names(&*s, e, "", &["end_time DESC"]).await?,
        ["run-a", "run-c", "run-b"]
    );
    // Filter and order together.
    assert_eq!(
        names(&*s, e, "params.opt IS NOT NULL", &["params.opt DESC"]).await?,
        ["run-b", "run-a"]
    );
    Ok(())
}

pub async fn default_order_and_paging(s: Ctx) -> Result<()> {
    let f = fixture(&*s, "paging").await?;
    // Same start time as run-b: ties are broken by run id, ascending.
    let twin = run_named(&*s, &f.exp, "run-b2", 2000).await?;
    let mut twins = [f.b.clone(), twin.clone()];
    twins.sort();
    let all = filter_runs(&*s, &[&f.exp], "").await?;
    assert_eq!(
        all,
        [f.c.clone(), twins[0].clone(), twins[1].clone(), f.a.clone()]
    );
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut token = None;
    loop {
        let mut q = run_query(&[&f.exp], "");
        q.paging = page_after(3, &token);
        let page = s.search_runs(&q).await?;
        sizes.push(page.items.len());
        seen.extend(page.items.into_iter().map(|r| r.info.run_id));
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(sizes, [3, 1]);
    assert_eq!(seen, all);
    // Paging with an order_by visits every run once too.
    let store = s.store.clone();
    let exp = f.exp.clone();
    let items = all_pages(2, move |p| {
        let store = store.clone();
        let mut q = run_query(&[&exp], "");
        q.order_by = vec!["metrics.acc DESC".into()];
        q.paging = p;
        async move { store.search_runs(&q).await }
    })
    .await?;
    let names: Vec<String> = items.into_iter().map(|r| r.info.run_name).collect();
    assert_eq!(names.len(), 4);
    assert_eq!(&names[..2], ["run-b", "run-a"]);
    // Searched runs carry their data like get_run.
    let page = s
        .search_runs(&run_query(&[&f.exp], &format!("run_id = '{}'", f.a)))
        .await?;
    assert_eq!(page.items, vec![s.get_run(&f.a).await?]);
    Ok(())
}

pub async fn view_types(s: Ctx) -> Result<()> {
    let f = fixture(&*s, "views").await?;
    s.delete_run(&f.c).await?;
    let view = |v: ViewType| {
        let mut q = run_query(&[&f.exp], "");
        q.view_type = v;
        q
    };
    assert_eq!(
        search_run_ids(&*s, view(ViewType::ActiveOnly)).await?,
        [f.b.clone(), f.a.clone()]
    );
    assert_eq!(
        search_run_ids(&*s, view(ViewType::DeletedOnly)).await?,
        [f.c.clone()]
    );
    assert_eq!(
        search_run_ids(&*s, view(ViewType::All)).await?,
        [f.c.clone(), f.b.clone(), f.a.clone()]
    );
    let mut q = view(ViewType::All);
    q.filter = Some("params.other = '1'".into());
    assert_eq!(search_run_ids(&*s, q).await?, [f.c.clone()]);
    Ok(())
}

pub async fn malformed_queries_are_invalid(s: Ctx) -> Result<()> {
    let f = fixture(&*s, "malformed").await?;
    for filter in [
        "metrics.acc >> 1",
        "metrics.acc = 'x'",
        "params.model = CNN",
        "params.model > 'a'",
        "acc > 1",
        "metrics.acc > 1 OR metrics.acc < 0",
        "tags.team = 'a' AND",
        "metrics. > 1",
        "run_id IN ()",
        "datasets.size = 'x'",
        "start_time > 'yesterday'",
    ] {
        expect_code(
            s.search_runs(&run_query(&[&f.exp], filter)).await,
            ErrorCode::InvalidParameterValue,
        );
    }
    for order in [
        "metrics.acc SIDEWAYS",
        "datasets.name",
        "nonsense_attr",
        "metrics.acc DESC extra",
    ] {
        let mut q = run_query(&[&f.exp], "");
        q.order_by = vec![order.into()];
        expect_code(s.search_runs(&q).await, ErrorCode::InvalidParameterValue);
    }
    let q = RunQuery {
        paging: esteira_store::Paging {
            max_results: 10,
            page_token: Some("!!not-a-token!!".into()),
        },
        ..run_query(&[&f.exp], "")
    };
    expect_code(s.search_runs(&q).await, ErrorCode::InvalidParameterValue);
    Ok(())
}

pub async fn several_experiments(s: Ctx) -> Result<()> {
    let f = fixture(&*s, "first").await?;
    let other = experiment(&*s, "second").await?;
    let d = run_named(&*s, &other, "run-d", 2500).await?;
    s.log_batch(&d, &[metric("acc", 0.6, 1, 0)], &[], &[])
        .await?;
    let both = [f.exp.as_str(), other.as_str()];
    assert_eq!(
        filter_runs(&*s, &both, "").await?,
        [f.c.clone(), d.clone(), f.b.clone(), f.a.clone()]
    );
    assert_eq!(
        filter_runs(&*s, &both, "metrics.acc > 0.55").await?,
        [d.clone(), f.b.clone()]
    );
    assert_eq!(filter_runs(&*s, &[&other], "").await?, [d.clone()]);
    let mut q = run_query(&both, "");
    q.order_by = vec!["metrics.acc ASC".into()];
    assert_eq!(
        search_run_ids(&*s, q).await?,
        [f.a.clone(), d.clone(), f.b.clone(), f.c.clone()]
    );
    // Runs of an experiment not searched stay out.
    assert!(filter_runs(&*s, &["0"], "").await?.is_empty());
    Ok(())
}
