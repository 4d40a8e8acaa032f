//! MLflow 3 logged models: create, finalize, tags, params, search, delete, registrations.

use anyhow::Result;
use esteira_core::ErrorCode;
use esteira_core::entities::{LoggedModel, LoggedModelStatus, Metric, Registration};
use esteira_store::{
    LoggedModelQuery, MetadataStore, NewLoggedModel, NewModelVersion, NewRegisteredModel,
};

use crate::harness::*;

async fn logged_model(s: &dyn MetadataStore, exp: &str, name: &str) -> Result<LoggedModel> {
    Ok(s.create_logged_model(NewLoggedModel {
        experiment_id: exp.into(),
        name: Some(name.into()),
        ..Default::default()
    })
    .await?)
}

pub async fn create_and_finalize(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "lm").await?;
    let run = run_named(&*s, &exp, "trainer", 1000).await?;
    let lm = s
        .create_logged_model(NewLoggedModel {
            experiment_id: exp.clone(),
            name: Some("classifier".into()),
            model_type: Some("sklearn".into()),
            source_run_id: Some(run.clone()),
            params: vec![tag("lr", "0.1"), tag("depth", "3")],
            tags: vec![tag("stage", "dev")],
        })
        .await?;
    let id = lm.info.model_id.clone();
    assert!(id.starts_with("m-"), "{id}");
    assert_eq!(id.len(), 34, "{id}");
    assert!(id[2..].chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(lm.info.experiment_id, exp);
    assert_eq!(lm.info.name, "classifier");
    assert_eq!(
        lm.info.artifact_uri,
        format!("mlflow-artifacts:/{exp}/models/{id}/artifacts")
    );
    assert_eq!(lm.info.status, LoggedModelStatus::LoggedModelPending);
    assert_eq!(lm.info.model_type.as_deref(), Some("sklearn"));
    assert_eq!(lm.info.source_run_id.as_deref(), Some(run.as_str()));
    assert!(lm.info.creation_timestamp_ms > 0);
    assert_eq!(lm.info.tags, vec![tag("stage", "dev")]);
    assert_eq!(lm.data.params, vec![tag("depth", "3"), tag("lr", "0.1")]);
    assert!(lm.data.metrics.is_empty() && lm.info.registrations.is_empty());
    assert_eq!(s.get_logged_model(&id).await?, lm);

    let ready = s
        .finalize_logged_model(&id, LoggedModelStatus::LoggedModelReady)
        .await?;
    assert_eq!(ready.info.status, LoggedModelStatus::LoggedModelReady);
    assert_eq!(
        s.get_logged_model(&id).await?.info.status,
        LoggedModelStatus::LoggedModelReady
    );
    assert!(ready.info.last_updated_timestamp_ms >= lm.info.last_updated_timestamp_ms);

    // A generated name when none is given; ids differ.
    let anon = s
        .create_logged_model(NewLoggedModel {
            experiment_id: exp.clone(),
            ..Default::default()
        })
        .await?;
    assert!(!anon.info.name.is_empty());
    assert_ne!(anon.info.model_id, id);

    expect_code(
        s.get_logged_model("m-00000000000000000000000000000000")
            .await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.create_logged_model(NewLoggedModel {
            experiment_id: "424242".into(),
            ..Default::default()
        })
        .await,
        ErrorCode::ResourceDoesNotExist,
    );
    s.delete_experiment(&exp).await?;
    expect_code(
        s.create_logged_model(NewLoggedModel {
            experiment_id: exp.clone(),
            ..Default::default()
        })
        .await,
        ErrorCode::InvalidState,
    );
    Ok(())
}

pub async fn tags_and_params(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "lm-tags").await?;
    let id = logged_model(&*s, &exp, "m").await?.info.model_id;
    s.set_logged_model_tags(&id, &[tag("b", "1"), tag("a", "2")])
        .await?;
    s.set_logged_model_tags(&id, &[tag("b", "3")]).await?;
    assert_eq!(
        s.get_logged_model(&id).await?.info.tags,
        vec![tag("a", "2"), tag("b", "3")]
    );
    s.delete_logged_model_tag(&id, "a").await?;
    assert_eq!(
        s.get_logged_model(&id).await?.info.tags,
        vec![tag("b", "3")]
    );
    expect_code(
        s.delete_logged_model_tag(&id, "a").await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.set_logged_model_tags(&id, &[tag("bad$", "x")]).await,
        ErrorCode::InvalidParameterValue,
    );

    s.log_logged_model_params(&id, &[tag("lr", "0.1")]).await?;
    s.log_logged_model_params(&id, &[tag("lr", "0.1"), tag("epochs", "5")])
        .await?;
    expect_code(
        s.log_logged_model_params(&id, &[tag("batch", "32"), tag("lr", "0.2")])
            .await,
        ErrorCode::InvalidParameterValue,
    );
    assert_eq!(
        s.get_logged_model(&id).await?.data.params,
        vec![tag("epochs", "5"), tag("lr", "0.1")]
    );
    let missing = "m-00000000000000000000000000000000";
    expect_code(
        s.set_logged_model_tags(missing, &[tag("a", "b")]).await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.log_logged_model_params(missing, &[tag("a", "b")]).await,
        ErrorCode::ResourceDoesNotExist,
    );
    Ok(())
}

fn lm_query(exps: &[&str], filter: &str, order_by: &[(&str, bool)]) -> LoggedModelQuery {
    LoggedModelQuery {
        experiment_ids: exps.iter().map(|s| s.to_string()).collect(),
        filter: (!filter.is_empty()).then(|| filter.to_string()),
        order_by: order_by.iter().map(|(f, a)| (f.to_string(), *a)).collect(),
        paging: paging(1000),
    }
}

async fn lm_names(
    s: &dyn MetadataStore,
    exps: &[&str],
    filter: &str,
    order_by: &[(&str, bool)],
) -> Result<Vec<String>> {
    let page = s
        .search_logged_models(&lm_query(exps, filter, order_by))
        .await?;
    Ok(page.items.into_iter().map(|m| m.info.name).collect())
}

fn model_metric(key: &str, value: f64, ts: i64, step: i64, model_id: &str) -> Metric {
    let mut m = metric(key, value, ts, step);
    m.model_id = Some(model_id.into());
    m
}

pub async fn search(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "lm-search").await?;
    let other = experiment(&*s, "lm-other").await?;
    let run = run_named(&*s, &exp, "trainer", 1000).await?;
    let alpha = logged_model(&*s, &exp, "alpha").await?.info.model_id;
    tick().await;
    let beta = logged_model(&*s, &exp, "beta").await?.info.model_id;
    tick().await;
    let gamma = logged_model(&*s, &exp, "gamma").await?.info.model_id;
    logged_model(&*s, &other, "elsewhere").await?;
    s.log_logged_model_params(&alpha, &[tag("lr", "0.1")])
        .await?;
    s.log_logged_model_params(&beta, &[tag("lr", "0.2")])
        .await?;
    s.set_logged_model_tags(&alpha, &[tag("stage", "prod")])
        .await?;
    s.set_logged_model_tags(&gamma, &[tag("stage", "dev")])
        .await?;
    // alpha's accuracy history: 0.1 then 0.9 (latest); beta: 0.7.
    s.log_batch(
        &run,
        &[
            model_metric("acc", 0.1, 1, 0, &alpha),
            model_metric("acc", 0.9, 2, 1, &alpha),
            model_metric("acc", 0.7, 1, 0, &beta),
        ],
        &[],
        &[],
    )
    .await?;
    let e = [exp.as_str()];
    assert_eq!(
        lm_names(&*s, &e, "", &[]).await?,
        ["gamma", "beta", "alpha"]
    );
    assert_eq!(
        lm_names(&*s, &[&exp, &other], "", &[("name", true)]).await?,
        ["alpha", "beta", "elsewhere", "gamma"]
    );
    assert_eq!(lm_names(&*s, &e, "name = 'alpha'", &[]).await?, ["alpha"]);
    assert_eq!(
        lm_names(&*s, &e, "name != 'alpha'", &[]).await?,
        ["gamma", "beta"]
    );
    assert_eq!(
        lm_names(&*s, &e, "name LIKE '%a'", &[]).await?,
        ["gamma", "beta", "alpha"]
    );
    assert_eq!(
        lm_names(&*s, &e, "metrics.acc > 0.8", &[]).await?,
        ["alpha"]
    );
    assert_eq!(
        lm_names(&*s, &e, "metrics.acc >= 0.7", &[]).await?,
        ["beta", "alpha"]
    );
    assert_eq!(
        lm_names(&*s, &e, "metrics.acc < 0.05", &[]).await?,
        Vec::<String>::new()
    );
    assert_eq!(lm_names(&*s, &e, "params.lr = '0.2'", &[]).await?, ["beta"]);
    assert_eq!(
        lm_names(&*s, &e, "params.lr != '0.2'", &[]).await?,
        ["alpha"]
    );
    assert_eq!(
        lm_names(&*s, &e, "tags.stage = 'prod'", &[]).await?,
        ["alpha"]
    );
    assert_eq!(
        lm_names(&*s, &e, "tags.stage LIKE '%' AND metrics.acc > 0.5", &[]).await?,
        ["alpha"]
    );
    // Ordering by a metric uses each model's latest value; models without it come last.
    assert_eq!(
        lm_names(&*s, &e, "", &[("metrics.acc", false)]).await?,
        ["alpha", "beta", "gamma"]
    );
    assert_eq!(
        lm_names(&*s, &e, "", &[("metrics.acc", true)]).await?,
        ["beta", "alpha", "gamma"]
    );
    assert_eq!(
        lm_names(&*s, &e, "", &[("name", false)]).await?,
        ["gamma", "beta", "alpha"]
    );
    assert_eq!(
        lm_names(&*s, &e, "", &[("creation_timestamp", true)]).await?,
        ["alpha", "beta", "gamma"]
    );
    // Paging visits each model once, also when ordering by a metric.
    let store = s.store.clone();
    let exp2 = exp.clone();
    let items = all_pages(2, move |p| {
        let store = store.clone();
        let mut q = lm_query(&[&exp2], "", &[("metrics.acc", false)]);
        q.paging = p;
        async move { store.search_logged_models(&q).await }
    })
    .await?;
    assert_eq!(
        items
            .iter()
            .map(|m| m.info.name.as_str())
            .collect::<Vec<_>>(),
        ["alpha", "beta", "gamma"]
    );
    // The metrics logged with the model show on it, with their run.
    let got = s.get_logged_model(&alpha).await?;
    let latest = got
        .data
        .metrics
        .iter()
        .find(|m| m.key == "acc" && m.value == 0.9)
        .expect("alpha's acc metric");
    assert_eq!(latest.run_id.as_deref(), Some(run.as_str()));
    assert_eq!(latest.model_id.as_deref(), Some(alpha.as_str()));
    assert!(got.data.metrics.iter().all(|m| m.key == "acc"));
    for bad in ["metrics.acc > 'x'", "nonsense = 'a'", "name >> 'a'"] {
        expect_code(
            s.search_logged_models(&lm_query(&e, bad, &[])).await,
            ErrorCode::InvalidParameterValue,
        );
    }
    expect_code(
        s.search_logged_models(&lm_query(&[], "", &[])).await,
        ErrorCode::InvalidParameterValue,
    );
    Ok(())
}

pub async fn delete(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "lm-delete").await?;
    let keep = logged_model(&*s, &exp, "keep").await?.info.model_id;
    let gone = logged_model(&*s, &exp, "gone").await?.info.model_id;
    s.delete_logged_model(&gone).await?;
    expect_code(
        s.get_logged_model(&gone).await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.delete_logged_model(&gone).await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.finalize_logged_model(&gone, LoggedModelStatus::LoggedModelReady)
            .await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.set_logged_model_tags(&gone, &[tag("a", "b")]).await,
        ErrorCode::ResourceDoesNotExist,
    );
    assert_eq!(lm_names(&*s, &[&exp], "", &[]).await?, ["keep"]);
    assert_eq!(s.get_logged_model(&keep).await?.info.name, "keep");
    Ok(())
}

pub async fn registrations(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "lm-registry").await?;
    let run = run_named(&*s, &exp, "trainer", 1000).await?;
    let lm = s
        .create_logged_model(NewLoggedModel {
            experiment_id: exp.clone(),
            name: Some("net".into()),
            source_run_id: Some(run.clone()),
            ..Default::default()
        })
        .await?;
    let id = lm.info.model_id.clone();
    for name in ["reg-a", "reg-b"] {
        s.create_registered_model(NewRegisteredModel {
            name: name.into(),
            ..Default::default()
        })
        .await?;
    }
    s.create_model_version(NewModelVersion {
        name: "reg-a".into(),
        source: "s3://unrelated".into(),
        ..Default::default()
    })
    .await?;
    let mut created = Vec::new();
    for name in ["reg-b", "reg-a", "reg-a"] {
        created.push(
            s.create_model_version(NewModelVersion {
                name: name.into(),
                source: format!("models:/{id}"),
                model_id: Some(id.clone()),
                ..Default::default()
            })
            .await?,
        );
    }
    // As in MLflow, a version registered from a logged model gets the model's run.
    assert!(created.iter().all(|v| v.run_id == run), "{created:?}");
    let got = s.get_logged_model(&id).await?;
    let reg = |n: &str, v: &str| Registration {
        name: n.into(),
        version: v.into(),
    };
    assert_eq!(
        got.info.registrations,
        vec![reg("reg-a", "2"), reg("reg-a", "3"), reg("reg-b", "1")]
    );
    s.delete_model_version("reg-a", "3").await?;
    assert_eq!(
        s.get_logged_model(&id).await?.info.registrations,
        vec![reg("reg-a", "2"), reg("reg-b", "1")]
    );
    Ok(())
}
