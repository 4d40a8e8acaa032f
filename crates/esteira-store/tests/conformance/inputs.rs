//! log_inputs (datasets and models) and log_outputs.

use anyhow::Result;
use esteira_core::ErrorCode;
use esteira_core::entities::{Dataset, DatasetInput, ModelInput, ModelOutput};

use crate::harness::*;

fn input(name: &str, digest: &str, source: &str, tags: &[(&str, &str)]) -> DatasetInput {
    DatasetInput {
        tags: tags.iter().map(|(k, v)| tag(k, v)).collect(),
        dataset: Dataset {
            name: name.into(),
            digest: digest.into(),
            source_type: "s3".into(),
            source: source.into(),
            schema: Some("{\"mlflow_colspec\": []}".into()),
            profile: Some("{\"num_rows\": 10}".into()),
        },
    }
}

pub async fn datasets_dedup_per_experiment_with_input_tags(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "inputs").await?;
    let r1 = run_named(&*s, &exp, "r1", 1000).await?;
    let r2 = run_named(&*s, &exp, "r2", 2000).await?;
    let train = input(
        "train",
        "d1",
        "{\"uri\": \"s3://b/train\"}",
        &[("mlflow.data.context", "training")],
    );
    s.log_inputs(&r1, &[train.clone()], &[]).await?;
    let run = s.get_run(&r1).await?;
    assert_eq!(run.inputs.dataset_inputs, vec![train.clone()]);
    assert_eq!(
        tag_value(&run.inputs.dataset_inputs[0].tags, "mlflow.data.context"),
        Some("training")
    );
    // Logging the same dataset again on the same run adds no second input.
    s.log_inputs(&r1, &[train.clone()], &[]).await?;
    assert_eq!(s.get_run(&r1).await?.inputs.dataset_inputs.len(), 1);

    // Same (name, digest) in the same experiment: the dataset is shared, so the first
    // source recorded is the one every run sees.
    let same_again = input(
        "train",
        "d1",
        "{\"uri\": \"s3://elsewhere\"}",
        &[("mlflow.data.context", "validation")],
    );
    let eval = input("eval", "d2", "{\"uri\": \"s3://b/eval\"}", &[]);
    s.log_inputs(&r2, &[same_again, eval.clone()], &[]).await?;
    let run = s.get_run(&r2).await?;
    assert_eq!(run.inputs.dataset_inputs.len(), 2);
    let shared = &run.inputs.dataset_inputs[0];
    assert_eq!(shared.dataset, train.dataset);
    // Input tags belong to the use, not to the dataset.
    assert_eq!(
        tag_value(&shared.tags, "mlflow.data.context"),
        Some("validation")
    );
    assert_eq!(run.inputs.dataset_inputs[1], eval);
    assert_eq!(
        tag_value(
            &s.get_run(&r1).await?.inputs.dataset_inputs[0].tags,
            "mlflow.data.context"
        ),
        Some("training")
    );

    // Another experiment gets its own dataset with its own source.
    let other = experiment(&*s, "inputs-2").await?;
    let r3 = run_named(&*s, &other, "r3", 3000).await?;
    let own = input("train", "d1", "{\"uri\": \"s3://other\"}", &[]);
    s.log_inputs(&r3, &[own.clone()], &[]).await?;
    assert_eq!(s.get_run(&r3).await?.inputs.dataset_inputs, vec![own]);

    // Name and digest are required; nothing of a refused call is written.
    let mut nameless = input("", "d9", "{}", &[]);
    expect_code(
        s.log_inputs(&r3, &[eval.clone(), nameless.clone()], &[])
            .await,
        ErrorCode::InvalidParameterValue,
    );
    nameless.dataset.name = "n".into();
    nameless.dataset.digest = String::new();
    expect_code(
        s.log_inputs(&r3, &[nameless], &[]).await,
        ErrorCode::InvalidParameterValue,
    );
    assert_eq!(s.get_run(&r3).await?.inputs.dataset_inputs.len(), 1);
    s.delete_run(&r3).await?;
    expect_code(
        s.log_inputs(&r3, &[eval], &[]).await,
        ErrorCode::InvalidParameterValue,
    );
    Ok(())
}

pub async fn model_inputs_and_outputs(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "models-io").await?;
    let r = run_named(&*s, &exp, "r", 1000).await?;
    s.log_inputs(
        &r,
        &[],
        &[
            ModelInput {
                model_id: "m-in1".into(),
            },
            ModelInput {
                model_id: "m-in2".into(),
            },
        ],
    )
    .await?;
    s.log_outputs(
        &r,
        &[
            ModelOutput {
                model_id: "m-out1".into(),
                step: 3,
            },
            ModelOutput {
                model_id: "m-out2".into(),
                step: 0,
            },
        ],
    )
    .await?;
    let run = s.get_run(&r).await?;
    assert_eq!(
        run.inputs
            .model_inputs
            .iter()
            .map(|m| m.model_id.as_str())
            .collect::<Vec<_>>(),
        ["m-in1", "m-in2"]
    );
    assert!(run.inputs.dataset_inputs.is_empty());
    assert_eq!(
        run.outputs.model_outputs,
        vec![
            ModelOutput {
                model_id: "m-out1".into(),
                step: 3
            },
            ModelOutput {
                model_id: "m-out2".into(),
                step: 0
            },
        ]
    );
    // The same model input again is one input.
    s.log_inputs(
        &r,
        &[],
        &[ModelInput {
            model_id: "m-in1".into(),
        }],
    )
    .await?;
    assert_eq!(s.get_run(&r).await?.inputs.model_inputs.len(), 2);
    expect_code(
        s.log_outputs("0123456789abcdef0123456789abcdef", &[]).await,
        ErrorCode::ResourceDoesNotExist,
    );
    Ok(())
}

pub async fn concurrent_runs_log_one_dataset(s: Ctx) -> Result<()> {
    let exp = experiment(&*s, "concurrent-inputs").await?;
    let mut runs = Vec::new();
    for i in 0..6 {
        runs.push(run_named(&*s, &exp, &format!("r{i}"), 1000 + i).await?);
    }
    let ds = input("shared", "d0", "{\"uri\": \"s3://b/shared\"}", &[]);
    let mut tasks = Vec::new();
    for r in &runs {
        let store = s.store.clone();
        let (r, ds) = (r.clone(), ds.clone());
        tasks.push(tokio::spawn(async move {
            store.log_inputs(&r, &[ds], &[]).await
        }));
    }
    for t in tasks {
        t.await??;
    }
    for r in &runs {
        assert_eq!(s.get_run(r).await?.inputs.dataset_inputs, vec![ds.clone()]);
    }
    Ok(())
}
