//! Experiments: create, get, rename, delete/restore, tags, search.

use std::collections::HashSet;

use anyhow::Result;
use esteira_core::ErrorCode;
use esteira_core::entities::{LifecycleStage, ViewType};
use esteira_store::{MetadataStore, NewExperiment, NewRun};

use crate::harness::*;

pub async fn create_with_default_and_explicit_locations(s: Ctx) -> Result<()> {
    let before = esteira_now();
    let a = s
        .create_experiment(NewExperiment {
            name: "alpha".into(),
            artifact_location: None,
            tags: vec![tag("team", "ml"), tag("owner", "ana")],
        })
        .await?;
    let b = s
        .create_experiment(NewExperiment {
            name: "beta".into(),
            artifact_location: Some("s3://bucket/custom/path".into()),
            tags: vec![],
        })
        .await?;
    assert_ne!(a, b);
    assert_ne!(a, "0");
    a.parse::<i64>()?;
    let ea = s.get_experiment(&a).await?;
    assert_eq!(ea.name, "alpha");
    assert_eq!(ea.artifact_location, format!("mlflow-artifacts:/{a}"));
    assert_eq!(ea.lifecycle_stage, LifecycleStage::Active);
    assert!(ea.creation_time >= before - 1000, "{}", ea.creation_time);
    assert!(ea.last_update_time >= ea.creation_time);
    // Tags come back in key order.
    assert_eq!(ea.tags, vec![tag("owner", "ana"), tag("team", "ml")]);
    let eb = s.get_experiment(&b).await?;
    assert_eq!(eb.artifact_location, "s3://bucket/custom/path");
    assert!(eb.tags.is_empty());
    // Runs of each experiment live under its artifact location.
    let run = s
        .create_run(NewRun {
            experiment_id: b.clone(),
            ..Default::default()
        })
        .await?;
    assert_eq!(
        run.info.artifact_uri,
        format!("s3://bucket/custom/path/{}/artifacts", run.info.run_id)
    );
    // Invalid names.
    expect_code(
        s.create_experiment(NewExperiment::default()).await,
        ErrorCode::InvalidParameterValue,
    );
    Ok(())
}

fn esteira_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub async fn duplicate_name_is_refused(s: Ctx) -> Result<()> {
    experiment(&*s, "dup").await?;
    let msg = expect_code(
        s.create_experiment(NewExperiment {
            name: "dup".into(),
            ..Default::default()
        })
        .await,
        ErrorCode::ResourceAlreadyExists,
    );
    assert!(msg.contains("dup"), "{msg}");
    expect_code(
        s.create_experiment(NewExperiment {
            name: "Default".into(),
            ..Default::default()
        })
        .await,
        ErrorCode::ResourceAlreadyExists,
    );
    // Only one experiment named "dup" exists.
    let page = s
        .search_experiments(&experiment_query("name = 'dup'", &[], ViewType::All))
        .await?;
    assert_eq!(page.items.len(), 1);
    Ok(())
}

pub async fn missing_experiments_are_not_found(s: Ctx) -> Result<()> {
    expect_code(
        s.get_experiment("987654").await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.get_experiment_by_name("nope").await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.rename_experiment("987654", "x").await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.delete_experiment("987654").await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.set_experiment_tag("987654", &tag("a", "b")).await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.create_run(NewRun {
            experiment_id: "987654".into(),
            ..Default::default()
        })
        .await,
        ErrorCode::ResourceDoesNotExist,
    );
    Ok(())
}

pub async fn rename(s: Ctx) -> Result<()> {
    let id = experiment(&*s, "old-name").await?;
    experiment(&*s, "taken").await?;
    s.rename_experiment(&id, "new-name").await?;
    assert_eq!(s.get_experiment(&id).await?.name, "new-name");
    assert_eq!(
        s.get_experiment_by_name("new-name").await?.experiment_id,
        id
    );
    expect_code(
        s.get_experiment_by_name("old-name").await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.rename_experiment(&id, "taken").await,
        ErrorCode::ResourceAlreadyExists,
    );
    assert_eq!(s.get_experiment(&id).await?.name, "new-name");
    expect_code(
        s.rename_experiment(&id, "").await,
        ErrorCode::InvalidParameterValue,
    );
    Ok(())
}

pub async fn delete_and_restore_follow_runs(s: Ctx) -> Result<()> {
    let id = experiment(&*s, "doomed").await?;
    let r1 = run_named(&*s, &id, "r1", 1000).await?;
    let r2 = run_named(&*s, &id, "r2", 2000).await?;
    s.delete_experiment(&id).await?;
    let e = s.get_experiment(&id).await?;
    assert_eq!(e.lifecycle_stage, LifecycleStage::Deleted);
    // Still found by name (active or deleted).
    assert_eq!(s.get_experiment_by_name("doomed").await?.experiment_id, id);
    for r in [&r1, &r2] {
        assert_eq!(
            s.get_run(r).await?.info.lifecycle_stage,
            LifecycleStage::Deleted
        );
    }
    assert!(filter_runs(&*s, &[&id], "").await?.is_empty());
    let mut q = run_query(&[&id], "");
    q.view_type = ViewType::DeletedOnly;
    let mut deleted = search_run_ids(&*s, q).await?;
    deleted.sort();
    let mut expected = vec![r1.clone(), r2.clone()];
    expected.sort();
    assert_eq!(deleted, expected);
    // Hidden from the default experiment search, visible in DELETED_ONLY.
    let active = s
        .search_experiments(&experiment_query("", &[], ViewType::ActiveOnly))
        .await?;
    assert!(active.items.iter().all(|e| e.experiment_id != id));
    let gone = s
        .search_experiments(&experiment_query("", &[], ViewType::DeletedOnly))
        .await?;
    assert_eq!(
        gone.items
            .iter()
            .map(|e| e.experiment_id.clone())
            .collect::<Vec<_>>(),
        [id.clone()]
    );

    s.restore_experiment(&id).await?;
    assert_eq!(
        s.get_experiment(&id).await?.lifecycle_stage,
        LifecycleStage::Active
    );
    for r in [&r1, &r2] {
        assert_eq!(
            s.get_run(r).await?.info.lifecycle_stage,
            LifecycleStage::Active
        );
    }
    assert_eq!(filter_runs(&*s, &[&id], "").await?, [r2, r1]);
    Ok(())
}

pub async fn default_experiment_cannot_be_deleted(s: Ctx) -> Result<()> {
    expect_code(
        s.delete_experiment("0").await,
        ErrorCode::InvalidParameterValue,
    );
    assert_eq!(
        s.get_experiment("0").await?.lifecycle_stage,
        LifecycleStage::Active
    );
    Ok(())
}

pub async fn deleted_experiment_refuses_writes(s: Ctx) -> Result<()> {
    let id = experiment(&*s, "frozen").await?;
    s.delete_experiment(&id).await?;
    expect_code(
        s.create_run(NewRun {
            experiment_id: id.clone(),
            ..Default::default()
        })
        .await,
        ErrorCode::InvalidState,
    );
    expect_code(
        s.set_experiment_tag(&id, &tag("k", "v")).await,
        ErrorCode::InvalidState,
    );
    expect_code(
        s.rename_experiment(&id, "thawed").await,
        ErrorCode::InvalidState,
    );
    let e = s.get_experiment(&id).await?;
    assert_eq!(e.name, "frozen");
    assert!(e.tags.is_empty());
    Ok(())
}

pub async fn tags_set_overwrite_delete(s: Ctx) -> Result<()> {
    let id = experiment(&*s, "tagged").await?;
    s.set_experiment_tag(&id, &tag("b", "1")).await?;
    s.set_experiment_tag(&id, &tag("a", "x")).await?;
    s.set_experiment_tag(&id, &tag("b", "2")).await?;
    assert_eq!(
        s.get_experiment(&id).await?.tags,
        vec![tag("a", "x"), tag("b", "2")]
    );
    s.delete_experiment_tag(&id, "a").await?;
    assert_eq!(s.get_experiment(&id).await?.tags, vec![tag("b", "2")]);
    expect_code(
        s.delete_experiment_tag(&id, "a").await,
        ErrorCode::ResourceDoesNotExist,
    );
    // Tags of one experiment do not show on another.
    let other = experiment(&*s, "untagged").await?;
    assert!(s.get_experiment(&other).await?.tags.is_empty());
    expect_code(
        s.set_experiment_tag(&id, &tag("bad$key", "v")).await,
        ErrorCode::InvalidParameterValue,
    );
    Ok(())
}

/// Names of the experiments matching `filter`, sorted here (byte order) so that the
/// database's collation does not matter.
async fn names(s: &dyn MetadataStore, filter: &str) -> Result<Vec<String>> {
    let page = s
        .search_experiments(&experiment_query(filter, &[], ViewType::All))
        .await?;
    let mut names: Vec<String> = page.items.into_iter().map(|e| e.name).collect();
    names.sort();
    Ok(names)
}

pub async fn search_filters(s: Ctx) -> Result<()> {
    let a = experiment(&*s, "proj-a").await?;
    tick().await;
    let b = experiment(&*s, "proj-b").await?;
    tick().await;
    let c = experiment(&*s, "Proj-C").await?;
    s.set_experiment_tag(&a, &tag("team", "vision")).await?;
    s.set_experiment_tag(&b, &tag("team", "Vision")).await?;
    s.set_experiment_tag(&c, &tag("team", "nlp")).await?;

    assert_eq!(
        names(&*s, "name LIKE 'proj-%'").await?,
        ["proj-a", "proj-b"]
    );
    assert_eq!(
        names(&*s, "name ILIKE 'proj-%'").await?,
        ["Proj-C", "proj-a", "proj-b"]
    );
    assert_eq!(names(&*s, "name = 'proj-b'").await?, ["proj-b"]);
    assert_eq!(
        names(&*s, "name != 'proj-b'").await?,
        ["Default", "Proj-C", "proj-a"]
    );
    assert_eq!(names(&*s, "tags.team = 'vision'").await?, ["proj-a"]);
    assert_eq!(
        names(&*s, "tags.team ILIKE 'VISION'").await?,
        ["proj-a", "proj-b"]
    );
    assert_eq!(names(&*s, "tags.team LIKE 'V%'").await?, ["proj-b"]);
    assert_eq!(names(&*s, "tags.team IS NULL").await?, ["Default"]);
    assert_eq!(
        names(&*s, "tags.team IS NOT NULL AND name LIKE '%-%'").await?,
        ["Proj-C", "proj-a", "proj-b"]
    );
    let cb = s.get_experiment(&b).await?.creation_time;
    assert_eq!(
        names(
            &*s,
            &format!("creation_time >= {cb} AND name ILIKE 'proj%'")
        )
        .await?,
        ["Proj-C", "proj-b"]
    );
    assert_eq!(
        names(
            &*s,
            &format!("attribute.creation_time < {cb} AND name != 'Default'")
        )
        .await?,
        ["proj-a"]
    );
    assert_eq!(
        names(&*s, &format!("experiment_id IN ('{a}', '{c}')")).await?,
        ["Proj-C", "proj-a"]
    );
    expect_code(
        s.search_experiments(&experiment_query(
            "name = 'x' OR name = 'y'",
            &[],
            ViewType::All,
        ))
        .await,
        ErrorCode::InvalidParameterValue,
    );
    expect_code(
        s.search_experiments(&experiment_query("metrics.x > 1", &[], ViewType::All))
            .await,
        ErrorCode::InvalidParameterValue,
    );
    Ok(())
}

pub async fn search_order_and_view_types(s: Ctx) -> Result<()> {
    let first = experiment(&*s, "m-first").await?;
    tick().await;
    let second = experiment(&*s, "z-second").await?;
    tick().await;
    let third = experiment(&*s, "a-third").await?;
    s.delete_experiment(&second).await?;

    let ids = |v: Vec<esteira_core::entities::Experiment>| -> Vec<String> {
        v.into_iter().map(|e| e.experiment_id).collect()
    };
    // Default order: newest first; Default ("0") is the oldest.
    let page = s
        .search_experiments(&experiment_query("", &[], ViewType::ActiveOnly))
        .await?;
    assert_eq!(ids(page.items), [third.clone(), first.clone(), "0".into()]);
    let page = s
        .search_experiments(&experiment_query(
            "name LIKE '%-%'",
            &["name DESC"],
            ViewType::All,
        ))
        .await?;
    assert_eq!(
        page.items
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>(),
        ["z-second", "m-first", "a-third"]
    );
    let page = s
        .search_experiments(&experiment_query(
            "",
            &["creation_time ASC"],
            ViewType::ActiveOnly,
        ))
        .await?;
    assert_eq!(
        ids(page.items),
        ["0".to_string(), first.clone(), third.clone()]
    );
    let page = s
        .search_experiments(&experiment_query(
            "",
            &["experiment_id DESC"],
            ViewType::All,
        ))
        .await?;
    assert_eq!(
        ids(page.items),
        [third.clone(), second.clone(), first.clone(), "0".into()]
    );
    let page = s
        .search_experiments(&experiment_query("", &[], ViewType::DeletedOnly))
        .await?;
    assert_eq!(ids(page.items), [second.clone()]);
    expect_code(
        s.search_experiments(&experiment_query("", &["tags.x"], ViewType::All))
            .await,
        ErrorCode::InvalidParameterValue,
    );
    Ok(())
}

pub async fn search_paging_visits_every_experiment_once(s: Ctx) -> Result<()> {
    let mut expected: HashSet<String> = HashSet::from(["0".to_string()]);
    for i in 0..6 {
        expected.insert(experiment(&*s, &format!("page-{i}")).await?);
    }
    for order in [vec![], vec!["name ASC".to_string()]] {
        let store = s.store.clone();
        let items = all_pages(2, |paging| {
            let store = store.clone();
            let mut q = experiment_query("", &[], ViewType::ActiveOnly);
            q.order_by = order.clone();
            q.paging = paging;
            async move { store.search_experiments(&q).await }
        })
        .await?;
        let ids: Vec<String> = items.into_iter().map(|e| e.experiment_id).collect();
        let unique: HashSet<String> = ids.iter().cloned().collect();
        assert_eq!(ids.len(), unique.len(), "duplicates across pages: {ids:?}");
        assert_eq!(unique, expected);
    }
    expect_code(
        s.search_experiments(&esteira_store::ExperimentQuery {
            paging: esteira_store::Paging {
                max_results: 2,
                page_token: Some("garbage".into()),
            },
            ..experiment_query("", &[], ViewType::All)
        })
        .await,
        ErrorCode::InvalidParameterValue,
    );
    Ok(())
}
