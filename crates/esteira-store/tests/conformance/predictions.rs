//! The prediction log's index and the ground truth.

use anyhow::Result;
use esteira_core::ErrorCode;
use esteira_store::predictions::{GroundTruth, PredictionFile, PredictionStore};
use serde_json::json;

use crate::harness::{Ctx, expect_code};

fn file(endpoint: &str, path: &str, first_time: i64, last_time: i64) -> PredictionFile {
    PredictionFile {
        endpoint: endpoint.into(),
        path: path.into(),
        rows: 10,
        first_time,
        last_time,
    }
}

fn by_request(endpoint: &str, request_id: &str, value: serde_json::Value, at: i64) -> GroundTruth {
    GroundTruth {
        endpoint: endpoint.into(),
        request_id: Some(request_id.into()),
        series: None,
        time: None,
        value,
        received_ms: at,
    }
}

fn by_series(endpoint: &str, series: &str, time: &str, value: f64, at: i64) -> GroundTruth {
    GroundTruth {
        endpoint: endpoint.into(),
        request_id: None,
        series: Some(series.into()),
        time: Some(time.into()),
        value: json!(value),
        received_ms: at,
    }
}

fn paths(files: &[PredictionFile]) -> Vec<&str> {
    files.iter().map(|f| f.path.as_str()).collect()
}

pub async fn files_are_listed_by_overlapping_window(s: Ctx) -> Result<()> {
    let p: &dyn PredictionStore = &*s.store;
    // Files of "e" covering [100, 199], [200, 299], [300, 399]; one of "other".
    p.add_prediction_file(&file("e", "log/e/b", 200, 299))
        .await?;
    p.add_prediction_file(&file("e", "log/e/a", 100, 199))
        .await?;
    p.add_prediction_file(&file("e", "log/e/c", 300, 399))
        .await?;
    p.add_prediction_file(&file("other", "log/other/a", 100, 399))
        .await?;
    let all = p.list_prediction_files("e", 0, 1000).await?;
    assert_eq!(paths(&all), ["log/e/a", "log/e/b", "log/e/c"]);
    assert_eq!(all[1], file("e", "log/e/b", 200, 299));
    // [199, 200) meets only a's last millisecond; [250, 300) only b; [299, 301) b and c.
    assert_eq!(
        paths(&p.list_prediction_files("e", 199, 200).await?),
        ["log/e/a"]
    );
    assert_eq!(
        paths(&p.list_prediction_files("e", 250, 300).await?),
        ["log/e/b"]
    );
    assert_eq!(
        paths(&p.list_prediction_files("e", 299, 301).await?),
        ["log/e/b", "log/e/c"]
    );
    assert!(p.list_prediction_files("e", 400, 500).await?.is_empty());
    assert!(p.list_prediction_files("e", 0, 100).await?.is_empty());
    assert!(p.list_prediction_files("nobody", 0, 1000).await?.is_empty());
    Ok(())
}

pub async fn adding_a_file_again_changes_nothing(s: Ctx) -> Result<()> {
    let p: &dyn PredictionStore = &*s.store;
    p.add_prediction_file(&file("e", "log/e/a", 100, 199))
        .await?;
    p.add_prediction_file(&file("e", "log/e/a", 100, 199))
        .await?;
    assert_eq!(
        p.list_prediction_files("e", 0, 1000).await?,
        [file("e", "log/e/a", 100, 199)]
    );
    Ok(())
}

pub async fn bad_prediction_files_are_refused(s: Ctx) -> Result<()> {
    let p: &dyn PredictionStore = &*s.store;
    let cases = [
        (file("", "log/a", 1, 2), "'endpoint'"),
        (file("e", " ", 1, 2), "'path'"),
        (
            PredictionFile {
                rows: 0,
                ..file("e", "log/a", 1, 2)
            },
            "'rows'",
        ),
        (file("e", "log/a", 3, 2), "'first_time'"),
    ];
    for (bad, field) in cases {
        let message = expect_code(
            p.add_prediction_file(&bad).await,
            ErrorCode::InvalidParameterValue,
        );
        assert!(message.contains(field), "{message:?} does not name {field}");
    }
    assert!(p.list_prediction_files("e", 0, 1000).await?.is_empty());
    Ok(())
}

pub async fn ground_truth_is_listed_by_received_time(s: Ctx) -> Result<()> {
    let p: &dyn PredictionStore = &*s.store;
    let first = vec![
        by_request("e", "r1", json!(1.5), 20),
        by_series("e", "store-7", "2026-11-01", 42.0, 10),
        by_request("other", "r1", json!("cat"), 15),
    ];
    p.add_ground_truth(&first).await?;
    // The same request again: both are kept, the later listed after.
    p.add_ground_truth(&[by_request("e", "r1", json!(2.5), 20)])
        .await?;
    let listed = p.list_ground_truth("e", 0, 100).await?;
    assert_eq!(
        listed,
        [
            by_series("e", "store-7", "2026-11-01", 42.0, 10),
            by_request("e", "r1", json!(1.5), 20),
            by_request("e", "r1", json!(2.5), 20),
        ]
    );
    assert_eq!(
        p.list_ground_truth("other", 0, 100).await?,
        [by_request("other", "r1", json!("cat"), 15)]
    );
    // Half-open windows: [10, 20) holds only the value received at 10.
    assert_eq!(p.list_ground_truth("e", 10, 20).await?.len(), 1);
    assert!(p.list_ground_truth("e", 21, 100).await?.is_empty());
    Ok(())
}

pub async fn many_ground_truth_values_in_one_call(s: Ctx) -> Result<()> {
    let p: &dyn PredictionStore = &*s.store;
    // More rows than one multi-row INSERT takes (900 binds / 6 columns = 150 rows).
    let records: Vec<GroundTruth> = (0..1000)
        .map(|i| by_request("e", &format!("r{i}"), json!(i), i))
        .collect();
    p.add_ground_truth(&records).await?;
    assert_eq!(p.list_ground_truth("e", 0, 1000).await?, records);
    Ok(())
}

pub async fn bad_ground_truth_is_refused_whole(s: Ctx) -> Result<()> {
    let p: &dyn PredictionStore = &*s.store;
    let good = by_request("e", "ok", json!(1), 5);
    let cases = [
        (
            GroundTruth {
                endpoint: " ".into(),
                ..good.clone()
            },
            "'endpoint'",
        ),
        (
            GroundTruth {
                request_id: None,
                ..good.clone()
            },
            "'request_id'",
        ),
        (
            GroundTruth {
                request_id: Some(String::new()),
                ..good.clone()
            },
            "'request_id'",
        ),
        (
            GroundTruth {
                request_id: None,
                series: Some("s".into()),
                ..good.clone()
            },
            "'time'",
        ),
        (
            GroundTruth {
                request_id: None,
                time: Some("2026-01-01".into()),
                ..good.clone()
            },
            "'series'",
        ),
        (
            GroundTruth {
                value: serde_json::Value::Null,
                ..good.clone()
            },
            "'value'",
        ),
    ];
    for (bad, field) in cases {
        // The bad record is second: the message names its index and nothing is stored.
        let message = expect_code(
            p.add_ground_truth(&[good.clone(), bad]).await,
            ErrorCode::InvalidParameterValue,
        );
        assert!(
            message.contains("records[1]") && message.contains(field),
            "{message:?} does not name records[1] and {field}"
        );
    }
    assert!(p.list_ground_truth("e", 0, 100).await?.is_empty());
    Ok(())
}
