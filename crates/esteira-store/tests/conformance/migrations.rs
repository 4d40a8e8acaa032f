//! Migrations: applied on open, idempotent, and the Default experiment.

use anyhow::Result;
use esteira_core::entities::{LifecycleStage, ViewType};
use esteira_store::{MetadataStore, SqlStore};

use crate::harness::*;

pub async fn default_experiment_exists(s: Ctx) -> Result<()> {
    let e = s.get_experiment("0").await?;
    assert_eq!(e.experiment_id, "0");
    assert_eq!(e.name, "Default");
    assert_eq!(e.artifact_location, "mlflow-artifacts:/0");
    assert_eq!(e.lifecycle_stage, LifecycleStage::Active);
    assert!(e.creation_time > 0, "creation_time {}", e.creation_time);
    let by_name = s.get_experiment_by_name("Default").await?;
    assert_eq!(by_name.experiment_id, "0");
    // A run without an experiment goes to the Default experiment.
    let run = s
        .create_run(esteira_store::NewRun {
            experiment_id: String::new(),
            ..Default::default()
        })
        .await?;
    assert_eq!(run.info.experiment_id, "0");
    assert_eq!(
        run.info.artifact_uri,
        format!("mlflow-artifacts:/0/{}/artifacts", run.info.run_id)
    );
    Ok(())
}

pub async fn open_twice_is_idempotent(s: Ctx) -> Result<()> {
    let id = experiment(&*s, "survives-reopen").await?;
    let run = run_named(&*s, &id, "r", 1).await?;
    // A second open of the same database applies nothing and loses nothing.
    let again = SqlStore::open(&s.url).await?;
    let third = SqlStore::open(&s.url).await?;
    let all = again
        .search_experiments(&experiment_query("", &[], ViewType::All))
        .await?;
    let mut names: Vec<String> = all.items.iter().map(|e| e.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["Default", "survives-reopen"]);
    assert_eq!(third.get_experiment(&id).await?.name, "survives-reopen");
    assert_eq!(third.get_run(&run).await?.info.run_name, "r");
    // The reopened store keeps numbering where the first left off.
    let next = experiment(&again, "after-reopen").await?;
    assert_ne!(next, id);
    assert_ne!(next, "0");
    again.close().await;
    third.close().await;
    Ok(())
}
