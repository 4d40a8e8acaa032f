//! Runs: create, names, get, update, delete/restore.

use anyhow::Result;
use esteira_core::ErrorCode;
use esteira_core::entities::{LifecycleStage, ModelOutput, RunStatus, ViewType};
use esteira_store::{NewRun, RunUpdate};

use crate::harness::*;

const RUN_NAME: &str = "mlflow.runName";

pub async fn create_with_generated_name(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "runs").await?;
    let run = s
        .create_run(NewRun {
            experiment_id: exp.clone(),
            user_id: "ana".into(),
            run_name: None,
            start_time: Some(1_700_000_000_000),
            tags: vec![tag("source", "test")],
        })
        .await?;
    let info = &run.info;
    assert_eq!(info.run_id.len(), 32, "{}", info.run_id);
    assert!(info.run_id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(info.run_uuid, info.run_id);
    assert_eq!(info.experiment_id, exp);
    assert_eq!(info.user_id, "ana");
    assert_eq!(info.status, RunStatus::Running);
    assert_eq!(info.lifecycle_stage, LifecycleStage::Active);
    assert_eq!(info.start_time, Some(1_700_000_000_000));
    assert_eq!(info.end_time, None);
    assert_eq!(
        info.artifact_uri,
        format!("mlflow-artifacts:/{exp}/{}/artifacts", info.run_id)
    );
    assert!(!info.run_name.is_empty());
    assert_eq!(
        tag_value(&run.data.tags, RUN_NAME),
        Some(info.run_name.as_str())
    );
    assert_eq!(tag_value(&run.data.tags, "source"), Some("test"));
    assert!(run.data.metrics.is_empty() && run.data.params.is_empty());
    // get_run reads back the same run.
    let got = s.get_run(&info.run_id).await?;
    assert_eq!(got, run);
    // Two runs get two ids.
    let other = s
        .create_run(NewRun {
            experiment_id: exp,
            ..Default::default()
        })
        .await?;
    assert_ne!(other.info.run_id, info.run_id);
    assert!(other.info.start_time.is_some_and(|t| t > 0));
    Ok(())
}

pub async fn create_with_explicit_name_or_tag(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "names").await?;
    let named = s
        .create_run(NewRun {
            experiment_id: exp.clone(),
            run_name: Some("explicit".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(named.info.run_name, "explicit");
    assert_eq!(tag_value(&named.data.tags, RUN_NAME), Some("explicit"));

    let by_tag = s
        .create_run(NewRun {
            experiment_id: exp.clone(),
            tags: vec![tag(RUN_NAME, "from-tag")],
            ..Default::default()
        })
        .await?;
    assert_eq!(by_tag.info.run_name, "from-tag");
    assert_eq!(tag_value(&by_tag.data.tags, RUN_NAME), Some("from-tag"));

    let both = s
        .create_run(NewRun {
            experiment_id: exp,
            run_name: Some("same".into()),
            tags: vec![tag(RUN_NAME, "same")],
            ..Default::default()
        })
        .await?;
    assert_eq!(both.info.run_name, "same");
    assert_eq!(
        both.data.tags.iter().filter(|t| t.key == RUN_NAME).count(),
        1
    );
    Ok(())
}

pub async fn conflicting_run_name_and_tag_is_refused(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "conflict").await?;
    expect_code(
        s.create_run(NewRun {
            experiment_id: exp.clone(),
            run_name: Some("a".into()),
            tags: vec![tag(RUN_NAME, "b")],
            ..Default::default()
        })
        .await,
        ErrorCode::InvalidParameterValue,
    );
    // Nothing was created.
    let mut q = run_query(&[&exp], "");
    q.view_type = ViewType::All;
    assert!(search_run_ids(&*s, q).await?.is_empty());
    Ok(())
}

pub async fn get_missing_run_is_not_found(s: Ctx) -> Result<()> {
    let missing = "0123456789abcdef0123456789abcdef";
    expect_code(s.get_run(missing).await, ErrorCode::ResourceDoesNotExist);
    expect_code(
        s.update_run(missing, RunUpdate::default()).await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(s.delete_run(missing).await, ErrorCode::ResourceDoesNotExist);
    expect_code(
        s.restore_run(missing).await,
        ErrorCode::ResourceDoesNotExist,
    );
    expect_code(
        s.log_batch(missing, &[metric("m", 1.0, 1, 0)], &[], &[])
            .await,
        ErrorCode::ResourceDoesNotExist,
    );
    Ok(())
}

pub async fn update_status_end_time_and_name(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "updates").await?;
    let id = run_named(&*s, &exp, "before", 1000).await?;
    let info = s
        .update_run(
            &id,
            RunUpdate {
                status: Some(RunStatus::Finished),
                end_time: Some(5000),
                run_name: None,
            },
        )
        .await?;
    assert_eq!(info.status, RunStatus::Finished);
    assert_eq!(info.end_time, Some(5000));
    assert_eq!(info.run_name, "before");
    let info = s
        .update_run(
            &id,
            RunUpdate {
                run_name: Some("after".into()),
                ..Default::default()
            },
        )
        .await?;
    // Fields not given are kept.
    assert_eq!(info.status, RunStatus::Finished);
    assert_eq!(info.end_time, Some(5000));
    assert_eq!(info.run_name, "after");
    let run = s.get_run(&id).await?;
    assert_eq!(run.info.run_name, "after");
    assert_eq!(run.info.status, RunStatus::Finished);
    assert_eq!(run.info.end_time, Some(5000));
    assert_eq!(run.info.start_time, Some(1000));
    assert_eq!(tag_value(&run.data.tags, RUN_NAME), Some("after"));
    s.update_run(
        &id,
        RunUpdate {
            status: Some(RunStatus::Killed),
            ..Default::default()
        },
    )
    .await?;
    assert_eq!(s.get_run(&id).await?.info.status, RunStatus::Killed);
    Ok(())
}

pub async fn run_name_tag_renames_the_run(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "rename-by-tag").await?;
    let id = run_named(&*s, &exp, "first", 1000).await?;
    s.log_batch(&id, &[], &[], &[tag(RUN_NAME, "second")])
        .await?;
    let run = s.get_run(&id).await?;
    assert_eq!(run.info.run_name, "second");
    assert_eq!(tag_value(&run.data.tags, RUN_NAME), Some("second"));
    assert_eq!(
        filter_runs(&*s, &[&exp], "attributes.run_name = 'second'").await?,
        [id.clone()]
    );
    assert!(
        filter_runs(&*s, &[&exp], "run_name = 'first'")
            .await?
            .is_empty()
    );
    Ok(())
}

pub async fn delete_and_restore(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "deletions").await?;
    let keep = run_named(&*s, &exp, "keep", 1000).await?;
    let gone = run_named(&*s, &exp, "gone", 2000).await?;
    s.delete_run(&gone).await?;
    let run = s.get_run(&gone).await?;
    assert_eq!(run.info.lifecycle_stage, LifecycleStage::Deleted);
    assert_eq!(filter_runs(&*s, &[&exp], "").await?, [keep.clone()]);
    s.restore_run(&gone).await?;
    assert_eq!(
        s.get_run(&gone).await?.info.lifecycle_stage,
        LifecycleStage::Active
    );
    assert_eq!(filter_runs(&*s, &[&exp], "").await?, [gone, keep]);
    Ok(())
}

pub async fn writes_to_deleted_run_are_refused(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "deleted-writes").await?;
    let id = run_named(&*s, &exp, "r", 1000).await?;
    s.log_batch(&id, &[], &[], &[tag("keep", "me")]).await?;
    s.delete_run(&id).await?;
    let invalid = ErrorCode::InvalidParameterValue;
    expect_code(
        s.log_batch(&id, &[metric("m", 1.0, 1, 0)], &[], &[]).await,
        invalid,
    );
    expect_code(s.log_batch(&id, &[], &[tag("p", "1")], &[]).await, invalid);
    expect_code(s.log_batch(&id, &[], &[], &[tag("t", "1")]).await, invalid);
    expect_code(
        s.update_run(
            &id,
            RunUpdate {
                status: Some(RunStatus::Finished),
                ..Default::default()
            },
        )
        .await,
        invalid,
    );
    expect_code(s.delete_run_tag(&id, "keep").await, invalid);
    expect_code(
        s.log_outputs(
            &id,
            &[ModelOutput {
                model_id: "m-x".into(),
                step: 0,
            }],
        )
        .await,
        invalid,
    );
    let run = s.get_run(&id).await?;
    assert!(run.data.metrics.is_empty());
    assert!(run.data.params.is_empty());
    assert_eq!(tag_value(&run.data.tags, "keep"), Some("me"));
    assert_eq!(tag_value(&run.data.tags, "t"), None);
    assert_eq!(run.info.status, RunStatus::Running);
    assert!(run.outputs.model_outputs.is_empty());
    // Restored, it accepts writes again.
    s.restore_run(&id).await?;
    s.log_batch(&id, &[metric("m", 1.0, 1, 0)], &[], &[])
        .await?;
    assert_eq!(s.get_run(&id).await?.data.metrics.len(), 1);
    Ok(())
}
