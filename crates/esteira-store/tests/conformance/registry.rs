//! The model registry: registered models, versions, stages, tags, aliases, searches.

use anyhow::Result;
use esteira_core::ErrorCode;
use esteira_core::entities::{ModelVersion, Stage};
use esteira_store::{MetadataStore, NewLoggedModel, NewModelVersion, NewRegisteredModel};

use crate::harness::*;

async fn model(s: &dyn MetadataStore, name: &str) -> Result<()> {
    s.create_registered_model(NewRegisteredModel {
        name: name.into(),
        ..Default::default()
    })
    .await?;
    Ok(())
}

async fn version(s: &dyn MetadataStore, name: &str, source: &str) -> Result<ModelVersion> {
    Ok(s.create_model_version(NewModelVersion {
        name: name.into(),
        source: source.into(),
        ..Default::default()
    })
    .await?)
}

fn versions(v: &[ModelVersion]) -> Vec<(String, String)> {
    v.iter()
        .map(|v| (v.name.clone(), v.version.clone()))
        .collect()
}

fn nv(name: &str, version: &str) -> (String, String) {
    (name.to_string(), version.to_string())
}

pub async fn registered_model_lifecycle(s: Ctx) -> Result<()> {
    let created = s
        .create_registered_model(NewRegisteredModel {
            name: "fraud".into(),
            tags: vec![tag("team", "risk"), tag("a", "1")],
            description: Some("detects fraud".into()),
        })
        .await?;
    assert_eq!(created.name, "fraud");
    assert_eq!(created.description, "detects fraud");
    assert_eq!(created.tags, vec![tag("a", "1"), tag("team", "risk")]);
    assert!(created.latest_versions.is_empty() && created.aliases.is_empty());
    assert!(created.creation_timestamp > 0);
    assert_eq!(s.get_registered_model("fraud").await?, created);
    expect_code(
        s.create_registered_model(NewRegisteredModel {
            name: "fraud".into(),
            ..Default::default()
        })
        .await,
        ErrorCode::ResourceAlreadyExists,
    );
    expect_code(
        s.create_registered_model(NewRegisteredModel::default())
            .await,
        ErrorCode::InvalidParameterValue,
    );
    expect_code(
        s.get_registered_model("nope").await,
        ErrorCode::ResourceDoesNotExist,
    );
    tick().await;
    let updated = s.update_registered_model("fraud", "v2 text").await?;
    assert_eq!(updated.description, "v2 text");
    assert!(updated.last_updated_timestamp >= created.last_updated_timestamp);
    assert_eq!(
        s.get_registered_model("fraud").await?.description,
        "v2 text"
    );
    expect_code(
        s.update_registered_model("nope", "x").await,
        ErrorCode::ResourceDoesNotExist,
    );

    version(&*s, "fraud", "s3://b/1").await?;
    version(&*s, "fraud", "s3://b/2").await?;
    s.set_registered_model_alias("fraud", "champion", "2")
        .await?;
    s.set_model_version_tag("fraud", "1", &tag("k", "v"))
        .await?;
    s.delete_registered_model("fraud").await?;
    expect_code(
        s.get_registered_model("fraud").await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.get_model_version("fraud", "1").await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.delete_registered_model("fraud").await,
        ErrorCode::ResourceDoesNotExist,
    );
    // The name is free again, with a fresh version sequence and nothing left over.
    model(&*s, "fraud").await?;
    let v = version(&*s, "fraud", "s3://b/new").await?;
    assert_eq!(v.version, "1");
    assert!(v.tags.is_empty() && v.aliases.is_empty());
    let m = s.get_registered_model("fraud").await?;
    assert!(m.tags.is_empty() && m.aliases.is_empty());
    assert_eq!(m.description, "");
    Ok(())
}

pub async fn rename_carries_versions_tags_and_aliases(s: Ctx) -> Result<()> {
    model(&*s, "old").await?;
    model(&*s, "taken").await?;
    s.set_registered_model_tag("old", &tag("team", "x")).await?;
    version(&*s, "old", "s3://1").await?;
    version(&*s, "old", "s3://2").await?;
    s.set_model_version_tag("old", "2", &tag("vk", "vv"))
        .await?;
    s.set_registered_model_alias("old", "champion", "2").await?;
    s.transition_model_version_stage("old", "1", Stage::Production, false)
        .await?;

    expect_code(
        s.rename_registered_model("old", "taken").await,
        ErrorCode::ResourceAlreadyExists,
    );
    expect_code(
        s.rename_registered_model("missing", "fresh").await,
        ErrorCode::ResourceDoesNotExist,
    );
    let renamed = s.rename_registered_model("old", "new").await?;
    assert_eq!(renamed.name, "new");
    assert_eq!(renamed.tags, vec![tag("team", "x")]);
    assert_eq!(renamed.aliases.len(), 1);
    assert_eq!(renamed.aliases[0].alias, "champion");
    assert_eq!(renamed.aliases[0].version, "2");
    assert_eq!(
        versions(&renamed.latest_versions),
        [nv("new", "1"), nv("new", "2")]
    );
    expect_code(
        s.get_registered_model("old").await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.get_model_version("old", "1").await,
        ErrorCode::ResourceDoesNotExist,
    );
    let v2 = s.get_model_version("new", "2").await?;
    assert_eq!(v2.name, "new");
    assert_eq!(v2.source, "s3://2");
    assert_eq!(v2.tags, vec![tag("vk", "vv")]);
    assert_eq!(v2.aliases, ["champion"]);
    assert_eq!(
        s.get_model_version("new", "1").await?.current_stage,
        Stage::Production
    );
    assert_eq!(
        s.get_model_version_by_alias("new", "champion")
            .await?
            .version,
        "2"
    );
    // Numbering continues under the new name.
    assert_eq!(version(&*s, "new", "s3://3").await?.version, "3");
    let page = s
        .search_model_versions(&registry_query("name = 'old'", &[]))
        .await?;
    assert!(page.items.is_empty());
    Ok(())
}

pub async fn versions_are_numbered(s: Ctx) -> Result<()> {
    model(&*s, "m").await?;
    model(&*s, "other").await?;
    let exp = experiment(&*s, "registry-runs").await?;
    let run = run_named(&*s, &exp, "r", 1000).await?;
    let v1 = s
        .create_model_version(NewModelVersion {
            name: "m".into(),
            source: "runs:/abc/model".into(),
            run_id: Some(run.clone()),
            tags: vec![tag("k", "v")],
            run_link: Some("http://link".into()),
            description: Some("first".into()),
            model_id: None,
        })
        .await?;
    assert_eq!(v1.version, "1");
    assert_eq!(v1.name, "m");
    assert_eq!(v1.source, "runs:/abc/model");
    assert_eq!(v1.run_id, run);
    assert_eq!(v1.run_link, "http://link");
    assert_eq!(v1.description, "first");
    assert_eq!(v1.tags, vec![tag("k", "v")]);
    assert_eq!(v1.current_stage, Stage::None);
    assert_eq!(v1.status, "READY");
    assert!(v1.creation_timestamp > 0);
    assert_eq!(version(&*s, "m", "s3://2").await?.version, "2");
    assert_eq!(version(&*s, "other", "s3://o").await?.version, "1");
    assert_eq!(version(&*s, "m", "s3://3").await?.version, "3");
    assert_eq!(s.get_model_version("m", "1").await?, v1);
    expect_code(
        s.create_model_version(NewModelVersion {
            name: "missing".into(),
            source: "s3://x".into(),
            ..Default::default()
        })
        .await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.create_model_version(NewModelVersion {
            name: "m".into(),
            ..Default::default()
        })
        .await,
        ErrorCode::InvalidParameterValue,
    );
    // Model updated by new versions.
    let m = s.get_registered_model("m").await?;
    assert!(m.last_updated_timestamp >= v1.creation_timestamp);
    Ok(())
}

pub async fn concurrent_versions_are_numbered_without_gaps(s: Ctx) -> Result<()> {
    model(&*s, "busy").await?;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = s.store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create_model_version(NewModelVersion {
                    name: "busy".into(),
                    source: format!("s3://b/{i}"),
                    ..Default::default()
                })
                .await
        }));
    }
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.push(t.await??.version.parse::<i64>()?);
    }
    numbers.sort();
    assert_eq!(numbers, (1..=10).collect::<Vec<_>>());
    let page = s
        .search_model_versions(&registry_query("name = 'busy'", &[]))
        .await?;
    let mut sources: Vec<String> = page.items.iter().map(|v| v.source.clone()).collect();
    sources.sort();
    let mut expected: Vec<String> = (0..10).map(|i| format!("s3://b/{i}")).collect();
    expected.sort();
    assert_eq!(sources, expected);
    assert_eq!(version(&*s, "busy", "s3://b/last").await?.version, "11");
    Ok(())
}

pub async fn version_get_update_delete(s: Ctx) -> Result<()> {
    model(&*s, "m").await?;
    for i in 1..=3 {
        version(&*s, "m", &format!("s3://{i}")).await?;
    }
    tick().await;
    let before = s.get_model_version("m", "2").await?;
    let updated = s.update_model_version("m", "2", "better").await?;
    assert_eq!(updated.description, "better");
    assert!(updated.last_updated_timestamp >= before.last_updated_timestamp);
    assert_eq!(s.get_model_version("m", "2").await?.description, "better");
    assert_eq!(s.get_model_version("m", "1").await?.description, "");
    expect_code(
        s.update_model_version("m", "9", "x").await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.get_model_version("m", "9").await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.get_model_version("m", "abc").await,
        ErrorCode::InvalidParameterValue,
    );
    s.delete_model_version("m", "3").await?;
    expect_code(
        s.get_model_version("m", "3").await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.delete_model_version("m", "3").await,
        ErrorCode::ResourceDoesNotExist,
    );
    // Numbers are not reused.
    assert_eq!(version(&*s, "m", "s3://4").await?.version, "4");
    let latest = s.get_registered_model("m").await?.latest_versions;
    assert_eq!(versions(&latest), [nv("m", "4")]);
    Ok(())
}

pub async fn tags(s: Ctx) -> Result<()> {
    model(&*s, "m").await?;
    version(&*s, "m", "s3://1").await?;
    version(&*s, "m", "s3://2").await?;
    s.set_registered_model_tag("m", &tag("b", "1")).await?;
    s.set_registered_model_tag("m", &tag("a", "2")).await?;
    s.set_registered_model_tag("m", &tag("b", "3")).await?;
    assert_eq!(
        s.get_registered_model("m").await?.tags,
        vec![tag("a", "2"), tag("b", "3")]
    );
    s.delete_registered_model_tag("m", "a").await?;
    assert_eq!(s.get_registered_model("m").await?.tags, vec![tag("b", "3")]);
    expect_code(
        s.set_registered_model_tag("nope", &tag("a", "b")).await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.set_registered_model_tag("m", &tag("", "b")).await,
        ErrorCode::InvalidParameterValue,
    );

    s.set_model_version_tag("m", "1", &tag("stage", "qa"))
        .await?;
    s.set_model_version_tag("m", "1", &tag("stage", "prod"))
        .await?;
    s.set_model_version_tag("m", "2", &tag("other", "x"))
        .await?;
    assert_eq!(
        s.get_model_version("m", "1").await?.tags,
        vec![tag("stage", "prod")]
    );
    assert_eq!(
        s.get_model_version("m", "2").await?.tags,
        vec![tag("other", "x")]
    );
    s.delete_model_version_tag("m", "1", "stage").await?;
    assert!(s.get_model_version("m", "1").await?.tags.is_empty());
    assert_eq!(s.get_model_version("m", "2").await?.tags.len(), 1);
    expect_code(
        s.set_model_version_tag("m", "7", &tag("a", "b")).await,
        ErrorCode::ResourceDoesNotExist,
    );
    Ok(())
}

pub async fn stages_and_latest_versions(s: Ctx) -> Result<()> {
    model(&*s, "m").await?;
    for i in 1..=4 {
        version(&*s, "m", &format!("s3://{i}")).await?;
    }
    let v = s
        .transition_model_version_stage("m", "1", Stage::Production, false)
        .await?;
    assert_eq!(v.current_stage, Stage::Production);
    s.transition_model_version_stage("m", "2", Stage::Staging, false)
        .await?;
    // Without archiving, two versions may share a stage.
    s.transition_model_version_stage("m", "3", Stage::Staging, false)
        .await?;
    assert_eq!(
        s.get_model_version("m", "2").await?.current_stage,
        Stage::Staging
    );
    let latest = |stages: Vec<Stage>| {
        let store = s.store.clone();
        async move {
            let v = store.get_latest_versions("m", &stages).await?;
            Ok::<_, anyhow::Error>(
                v.into_iter()
                    .map(|v| (v.version, v.current_stage))
                    .collect::<Vec<_>>(),
            )
        }
    };
    assert_eq!(
        latest(vec![Stage::Staging]).await?,
        [("3".to_string(), Stage::Staging)]
    );
    assert_eq!(
        latest(vec![]).await?,
        [
            ("1".to_string(), Stage::Production),
            ("3".to_string(), Stage::Staging),
            ("4".to_string(), Stage::None)
        ]
    );
    // Moving 4 to Production archiving the others there archives 1 only.
    let v4 = s
        .transition_model_version_stage("m", "4", Stage::Production, true)
        .await?;
    assert_eq!(v4.current_stage, Stage::Production);
    assert_eq!(
        s.get_model_version("m", "1").await?.current_stage,
        Stage::Archived
    );
    assert_eq!(
        s.get_model_version("m", "2").await?.current_stage,
        Stage::Staging
    );
    assert_eq!(
        latest(vec![Stage::Production, Stage::Archived]).await?,
        [
            ("1".to_string(), Stage::Archived),
            ("4".to_string(), Stage::Production)
        ]
    );
    assert!(latest(vec![Stage::None]).await?.is_empty());
    let rm = s.get_registered_model("m").await?;
    assert_eq!(
        versions(&rm.latest_versions),
        [nv("m", "1"), nv("m", "3"), nv("m", "4")]
    );
    // Archiving only makes sense for Staging and Production.
    expect_code(
        s.transition_model_version_stage("m", "2", Stage::Archived, true)
            .await,
        ErrorCode::InvalidParameterValue,
    );
    assert_eq!(
        s.get_model_version("m", "2").await?.current_stage,
        Stage::Staging
    );
    expect_code(
        s.transition_model_version_stage("m", "99", Stage::Staging, false)
            .await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.get_latest_versions("nope", &[]).await,
        ErrorCode::ResourceDoesNotExist,
    );
    Ok(())
}

pub async fn aliases(s: Ctx) -> Result<()> {
    model(&*s, "m").await?;
    for i in 1..=3 {
        version(&*s, "m", &format!("s3://{i}")).await?;
    }
    s.set_registered_model_alias("m", "champion", "1").await?;
    s.set_registered_model_alias("m", "challenger", "2").await?;
    let v = s.get_model_version_by_alias("m", "champion").await?;
    assert_eq!(v.version, "1");
    assert_eq!(v.aliases, ["champion"]);
    // Move champion to 2.
    s.set_registered_model_alias("m", "champion", "2").await?;
    assert_eq!(
        s.get_model_version_by_alias("m", "champion").await?.version,
        "2"
    );
    assert!(s.get_model_version("m", "1").await?.aliases.is_empty());
    assert_eq!(
        s.get_model_version("m", "2").await?.aliases,
        ["challenger", "champion"]
    );
    let rm = s.get_registered_model("m").await?;
    assert_eq!(
        rm.aliases
            .iter()
            .map(|a| (a.alias.as_str(), a.version.as_str()))
            .collect::<Vec<_>>(),
        [("challenger", "2"), ("champion", "2")]
    );
    s.delete_registered_model_alias("m", "challenger").await?;
    expect_code(
        s.get_model_version_by_alias("m", "challenger").await,
        ErrorCode::InvalidParameterValue,
    );
    // An alias on a deleted version disappears with it.
    s.set_registered_model_alias("m", "shadow", "3").await?;
    s.delete_model_version("m", "3").await?;
    expect_code(
        s.get_model_version_by_alias("m", "shadow").await,
        ErrorCode::InvalidParameterValue,
    );
    let rm = s.get_registered_model("m").await?;
    assert_eq!(
        rm.aliases
            .iter()
            .map(|a| a.alias.as_str())
            .collect::<Vec<_>>(),
        ["champion"]
    );
    expect_code(
        s.set_registered_model_alias("m", "ghost", "3").await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.set_registered_model_alias("nope", "a", "1").await,
        ErrorCode::ResourceDoesNotExist,
    );
    for bad in ["latest", "v1", "has space", ""] {
        expect_code(
            s.set_registered_model_alias("m", bad, "1").await,
            ErrorCode::InvalidParameterValue,
        );
    }
    expect_code(
        s.get_model_version_by_alias("nope", "champion").await,
        ErrorCode::ResourceDoesNotExist,
    );
    Ok(())
}

async fn model_names(
    s: &dyn MetadataStore,
    filter: &str,
    order_by: &[&str],
) -> Result<Vec<String>> {
    let page = s
        .search_registered_models(&registry_query(filter, order_by))
        .await?;
    Ok(page.items.into_iter().map(|m| m.name).collect())
}

pub async fn search_registered_models(s: Ctx) -> Result<()> {
    for name in ["search-b", "search-a", "other-c", "search-d"] {
        model(&*s, name).await?;
        tick().await;
    }
    s.set_registered_model_tag("search-a", &tag("team", "risk"))
        .await?;
    s.set_registered_model_tag("other-c", &tag("team", "Risk"))
        .await?;
    // Default order: by name.
    assert_eq!(
        model_names(&*s, "", &[]).await?,
        ["other-c", "search-a", "search-b", "search-d"]
    );
    assert_eq!(
        model_names(&*s, "name LIKE 'search-%'", &[]).await?,
        ["search-a", "search-b", "search-d"]
    );
    assert_eq!(
        model_names(&*s, "name LIKE 'SEARCH-%'", &[]).await?,
        Vec::<String>::new()
    );
    assert_eq!(
        model_names(&*s, "name ILIKE 'SEARCH-%'", &["name DESC"]).await?,
        ["search-d", "search-b", "search-a"]
    );
    assert_eq!(
        model_names(&*s, "name = 'other-c'", &[]).await?,
        ["other-c"]
    );
    assert_eq!(
        model_names(&*s, "name != 'other-c'", &[]).await?,
        ["search-a", "search-b", "search-d"]
    );
    assert_eq!(
        model_names(&*s, "tags.team = 'risk'", &[]).await?,
        ["search-a"]
    );
    assert_eq!(
        model_names(&*s, "tags.team ILIKE 'risk'", &[]).await?,
        ["other-c", "search-a"]
    );
    assert_eq!(
        model_names(&*s, "tags.team = 'risk' AND name LIKE '%-a'", &[]).await?,
        ["search-a"]
    );
    assert_eq!(
        model_names(&*s, "name IN ('search-d', 'other-c')", &[]).await?,
        ["other-c", "search-d"]
    );
    // Creation order was b, a, c, d; touching b makes it the most recently updated.
    assert_eq!(
        model_names(&*s, "", &["last_updated_timestamp ASC"]).await?,
        ["search-b", "search-a", "other-c", "search-d"]
    );
    tick().await;
    s.update_registered_model("search-b", "touched").await?;
    assert_eq!(
        model_names(&*s, "", &["last_updated_timestamp DESC"]).await?,
        ["search-b", "search-d", "other-c", "search-a"]
    );
    assert_eq!(
        model_names(&*s, "", &["timestamp DESC"]).await?,
        ["search-b", "search-d", "other-c", "search-a"]
    );
    // Paging through all of them.
    let store = s.store.clone();
    let items = all_pages(2, move |p| {
        let store = store.clone();
        let mut q = registry_query("", &[]);
        q.paging = p;
        async move { store.search_registered_models(&q).await }
    })
    .await?;
    assert_eq!(
        items.into_iter().map(|m| m.name).collect::<Vec<_>>(),
        ["other-c", "search-a", "search-b", "search-d"]
    );
    for bad in ["name >> 'x'", "metrics.x > 1", "tags.team IS NULL"] {
        expect_code(
            s.search_registered_models(&registry_query(bad, &[])).await,
            ErrorCode::InvalidParameterValue,
        );
    }
    expect_code(
        s.search_registered_models(&registry_query("", &["description"]))
            .await,
        ErrorCode::InvalidParameterValue,
    );
    // Prompts (registered models tagged as such) stay out of model searches unless asked for.
    s.create_registered_model(NewRegisteredModel {
        name: "search-prompt".into(),
        tags: vec![tag("mlflow.prompt.is_prompt", "true")],
        ..Default::default()
    })
    .await?;
    assert_eq!(
        model_names(&*s, "name LIKE 'search-%'", &[]).await?,
        ["search-a", "search-b", "search-d"]
    );
    assert_eq!(
        model_names(&*s, "tags.`mlflow.prompt.is_prompt` = 'true'", &[]).await?,
        ["search-prompt"]
    );
    Ok(())
}

async fn mv_search(
    s: &dyn MetadataStore,
    filter: &str,
    order_by: &[&str],
) -> Result<Vec<(String, String)>> {
    let page = s
        .search_model_versions(&registry_query(filter, order_by))
        .await?;
    Ok(versions(&page.items))
}

pub async fn search_model_versions(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "mv-search").await?;
    let run_a = run_named(&*s, &exp, "a", 1000).await?;
    let run_b = run_named(&*s, &exp, "b", 2000).await?;
    model(&*s, "alpha").await?;
    model(&*s, "beta").await?;
    for (name, run) in [
        ("alpha", &run_a),
        ("alpha", &run_b),
        ("alpha", &run_a),
        ("beta", &run_b),
    ] {
        s.create_model_version(NewModelVersion {
            name: name.into(),
            source: format!("runs:/{run}/model"),
            run_id: Some(run.clone()),
            ..Default::default()
        })
        .await?;
        tick().await;
    }
    s.set_model_version_tag("alpha", "2", &tag("quality", "good"))
        .await?;
    s.set_model_version_tag("beta", "1", &tag("quality", "Good"))
        .await?;
    // Default order: name ascending, newest version first.
    assert_eq!(
        mv_search(&*s, "", &[]).await?,
        [
            nv("alpha", "3"),
            nv("alpha", "2"),
            nv("alpha", "1"),
            nv("beta", "1")
        ]
    );
    assert_eq!(
        mv_search(&*s, "name = 'alpha'", &[]).await?,
        [nv("alpha", "3"), nv("alpha", "2"), nv("alpha", "1")]
    );
    assert_eq!(
        mv_search(&*s, &format!("run_id = '{run_b}'"), &[]).await?,
        [nv("alpha", "2"), nv("beta", "1")]
    );
    assert_eq!(
        mv_search(&*s, &format!("run_id IN ('{run_a}')"), &[]).await?,
        [nv("alpha", "3"), nv("alpha", "1")]
    );
    assert_eq!(
        mv_search(&*s, "name = 'alpha' AND version_number > 1", &[]).await?,
        [nv("alpha", "3"), nv("alpha", "2")]
    );
    assert_eq!(
        mv_search(&*s, "version_number = 1", &[]).await?,
        [nv("alpha", "1"), nv("beta", "1")]
    );
    assert_eq!(
        mv_search(&*s, "version_number <= 2 AND version_number >= 2", &[]).await?,
        [nv("alpha", "2")]
    );
    assert_eq!(
        mv_search(&*s, "version_number != 1", &[]).await?,
        [nv("alpha", "3"), nv("alpha", "2")]
    );
    assert_eq!(
        mv_search(&*s, "version_number < 2 AND name = 'beta'", &[]).await?,
        [nv("beta", "1")]
    );
    assert_eq!(
        mv_search(&*s, "tags.quality = 'good'", &[]).await?,
        [nv("alpha", "2")]
    );
    assert_eq!(
        mv_search(&*s, "tags.quality ILIKE 'GOOD'", &[]).await?,
        [nv("alpha", "2"), nv("beta", "1")]
    );
    assert_eq!(
        mv_search(
            &*s,
            "source_path LIKE 'runs:/%'",
            &["version_number ASC", "name ASC"]
        )
        .await?,
        [
            nv("alpha", "1"),
            nv("beta", "1"),
            nv("alpha", "2"),
            nv("alpha", "3")
        ]
    );
    assert_eq!(
        mv_search(&*s, "name LIKE 'al%'", &["version_number ASC"]).await?,
        [nv("alpha", "1"), nv("alpha", "2"), nv("alpha", "3")]
    );
    assert_eq!(
        mv_search(&*s, "", &["creation_timestamp DESC"]).await?,
        [
            nv("beta", "1"),
            nv("alpha", "3"),
            nv("alpha", "2"),
            nv("alpha", "1")
        ]
    );
    assert_eq!(
        mv_search(&*s, "", &["name DESC", "version_number ASC"]).await?,
        [
            nv("beta", "1"),
            nv("alpha", "1"),
            nv("alpha", "2"),
            nv("alpha", "3")
        ]
    );
    // Paging.
    let store = s.store.clone();
    let items = all_pages(3, move |p| {
        let store = store.clone();
        let mut q = registry_query("", &[]);
        q.paging = p;
        async move { store.search_model_versions(&q).await }
    })
    .await?;
    assert_eq!(items.len(), 4);
    for bad in ["version_number > 'x'", "metrics.a > 1", "name >> 'a'"] {
        expect_code(
            s.search_model_versions(&registry_query(bad, &[])).await,
            ErrorCode::InvalidParameterValue,
        );
    }
    expect_code(
        s.search_model_versions(&registry_query("", &["tags.quality"]))
            .await,
        ErrorCode::InvalidParameterValue,
    );
    Ok(())
}

pub async fn download_uri(s: Ctx) -> Result<()> {
    model(&*s, "m").await?;
    version(&*s, "m", "s3://bucket/path/model").await?;
    assert_eq!(
        s.get_model_version_download_uri("m", "1").await?,
        "s3://bucket/path/model"
    );
    let exp = experiment(&*s, "download").await?;
    let lm = s
        .create_logged_model(NewLoggedModel {
            experiment_id: exp,
            name: Some("lm".into()),
            ..Default::default()
        })
        .await?;
    let v2 = s
        .create_model_version(NewModelVersion {
            name: "m".into(),
            source: format!("models:/{}", lm.info.model_id),
            model_id: Some(lm.info.model_id.clone()),
            ..Default::default()
        })
        .await?;
    assert_eq!(v2.model_id.as_deref(), Some(lm.info.model_id.as_str()));
    assert_eq!(v2.source, format!("models:/{}", lm.info.model_id));
    assert_eq!(
        s.get_model_version_download_uri("m", "2").await?,
        lm.info.artifact_uri
    );
    expect_code(
        s.get_model_version_download_uri("m", "9").await,
        ErrorCode::ResourceDoesNotExist,
    );
    // A `models:/` source naming a missing logged model is refused as MLflow does; so is
    // a model_id naming one.
    let msg = expect_code(
        s.create_model_version(NewModelVersion {
            name: "m".into(),
            source: "models:/m-missing".into(),
            model_id: Some("m-missing".into()),
            ..Default::default()
        })
        .await,
        ErrorCode::InvalidParameterValue,
    );
    assert!(msg.contains("models:/m-missing"), "{msg}");
    expect_code(
        s.create_model_version(NewModelVersion {
            name: "m".into(),
            source: "s3://b/x".into(),
            model_id: Some("m-missing".into()),
            ..Default::default()
        })
        .await,
        ErrorCode::ResourceDoesNotExist,
    );
    // `models:/<name>/<version>` resolves to that version's location.
    let v3 = s
        .create_model_version(NewModelVersion {
            name: "m".into(),
            source: "models:/m/1".into(),
            ..Default::default()
        })
        .await?;
    assert_eq!(
        s.get_model_version_download_uri("m", &v3.version).await?,
        "s3://bucket/path/model"
    );
    assert_eq!(version(&*s, "m", "s3://b/next").await?.version, "4");
    Ok(())
}
