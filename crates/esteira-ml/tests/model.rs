//! Long-format datasets (CSV, Parquet), series rules, and the saved forecast model.

use std::path::{Path, PathBuf};

use esteira_ml::dataset::{DatasetError, Table};
use esteira_ml::model::{self, ForecastConfig, ForecastModel, LoadedModel, ModelError, ModelKind};
use esteira_ml::series::{Calendar, LongFormat, SeriesError, SeriesSet, TimeKind, series_ids};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn format(id: &[&str]) -> LongFormat {
    LongFormat {
        id: id.iter().map(|s| s.to_string()).collect(),
        time: "date".into(),
        target: "units".into(),
        exog: Vec::new(),
    }
}

/// Two stores × two items, `days` days from 2024-01-01, units = 10·store + item + day.
fn daily_csv(days: usize) -> String {
    let mut text = String::from("store,item,date,units\n");
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    for store in 1..=2 {
        for item in 1..=2 {
            for d in 0..days {
                let date = start + chrono::Days::new(d as u64);
                let units = 10 * store + item + d;
                text.push_str(&format!("{store},{item},{date},{units}\n"));
            }
        }
    }
    text
}

fn read_set(path: &Path, id: &[&str]) -> Result<SeriesSet, SeriesError> {
    SeriesSet::from_table(&Table::read(path)?, &format(id))
}

#[test]
fn csv_long_format_becomes_daily_series() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let set = read_set(
        &write(dir.path(), "sales.csv", &daily_csv(30)),
        &["store", "item"],
    )?;
    assert_eq!(set.series.len(), 4);
    assert_eq!(set.kind, TimeKind::Seconds);
    assert_eq!(set.calendar, Calendar::Fixed(86_400));
    assert_eq!(set.calendar.candidate_seasons(set.kind), vec![7, 365]);
    let s = &set.series[3];
    assert_eq!(s.id, "2/2");
    assert_eq!(s.id_parts, vec!["2", "2"]);
    assert_eq!(s.values.len(), 30);
    assert_eq!(s.values[0], 22.0);
    assert_eq!(s.values[29], 51.0);
    assert_eq!(s.filled, 0);
    Ok(())
}

#[test]
fn parquet_round_trip_gives_the_same_series() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let csv = write(dir.path(), "sales.csv", &daily_csv(20));
    let table = Table::read(&csv)?;
    let parquet = dir.path().join("sales.parquet");
    table.write(&parquet)?;
    let from_csv = SeriesSet::from_table(&table, &format(&["store", "item"]))?;
    let from_parquet = read_set(&parquet, &["store", "item"])?;
    assert_eq!(from_csv, from_parquet);
    Ok(())
}

#[test]
fn gaps_and_null_targets_are_interpolated_and_counted() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let text = "id,date,units\n\
                a,2024-01-01,1\n\
                a,2024-01-02,\n\
                a,2024-01-05,7\n\
                a,2024-01-04,5\n\
                b,2024-01-01,3\n\
                b,2024-01-02,4\n";
    let set = read_set(&write(dir.path(), "g.csv", text), &["id"])?;
    let a = &set.series[0];
    // Jan 2 (null) and Jan 3 (absent) lie between 1 (Jan 1) and 5 (Jan 4).
    assert_eq!(
        a.values,
        vec![1.0, 1.0 + 4.0 / 3.0, 1.0 + 8.0 / 3.0, 5.0, 7.0]
    );
    assert_eq!(a.filled, 2);
    assert_eq!(set.series[1].filled, 0);
    Ok(())
}

#[test]
fn monthly_and_integer_calendars_are_detected() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut monthly = String::from("id,date,units\n");
    for m in 1..=12 {
        monthly.push_str(&format!("x,2023-{m:02}-01,{m}\n"));
    }
    let set = read_set(&write(dir.path(), "m.csv", &monthly), &["id"])?;
    assert_eq!(set.calendar, Calendar::Months(1));
    assert_eq!(set.calendar.candidate_seasons(set.kind), vec![12]);
    let last = set.last_time(&set.series[0]);
    let next = set.calendar.advance(last, 1);
    assert_eq!(
        esteira_ml::series::format_time(set.kind, next),
        "2024-01-01"
    );

    let periods = "id,date,units\nx,1,1\nx,2,2\nx,3,3\n";
    let set = read_set(&write(dir.path(), "i.csv", periods), &["id"])?;
    assert_eq!(
        (set.kind, set.calendar),
        (TimeKind::Index, Calendar::Fixed(1))
    );
    Ok(())
}

#[test]
fn bad_tables_are_errors_naming_the_column_or_series() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let sales = write(d, "sales.csv", &daily_csv(5));
    let table = Table::read(&sales)?;

    let unknown = SeriesSet::from_table(
        &table,
        &LongFormat {
            target: "sold".into(),
            ..format(&["store"])
        },
    );
    assert!(
        matches!(unknown, Err(SeriesError::Dataset(DatasetError::UnknownColumn { ref column, .. })) if column == "sold")
    );

    let text_target = SeriesSet::from_table(
        &table,
        &LongFormat {
            target: "date".into(),
            ..format(&["store", "item"])
        },
    );
    assert!(
        matches!(text_target, Err(SeriesError::Dataset(DatasetError::WrongType { ref column, .. })) if column == "date")
    );

    let empty = Table::read(&write(d, "empty.csv", "id,date,units\n"));
    assert!(matches!(empty, Err(DatasetError::Empty { .. })));

    let dup = read_set(
        &write(
            d,
            "dup.csv",
            "id,date,units\na,2024-01-01,1\na,2024-01-01,2\n",
        ),
        &["id"],
    );
    let msg = dup.unwrap_err().to_string();
    assert!(
        msg.contains("series 'a'") && msg.contains("2024-01-01"),
        "{msg}"
    );

    let nan = read_set(
        &write(
            d,
            "nan.csv",
            "id,date,units\na,2024-01-01,1\nb,2024-01-01,NaN\n",
        ),
        &["id"],
    );
    assert!(matches!(nan, Err(SeriesError::NonFiniteTarget { ref series, .. }) if series == "b"));

    let inf = read_set(
        &write(
            d,
            "inf.csv",
            "id,date,units\na,2024-01-01,1\na,2024-01-02,inf\n",
        ),
        &["id"],
    );
    assert!(
        matches!(inf, Err(SeriesError::NonFiniteTarget { ref series, ref time, .. }) if series == "a" && time == "2024-01-02")
    );

    let mixed =
        "id,date,units\na,2024-01-01,1\na,2024-01-02,1\na,2024-01-03,1\na,2024-01-03 06:00:00,1\n";
    let off = read_set(&write(d, "mixed.csv", mixed), &["id"]);
    assert!(
        matches!(off, Err(SeriesError::IrregularTime { ref series, .. }) if series == "a"),
        "{off:?}"
    );

    let null_id = read_set(
        &write(
            d,
            "nullid.csv",
            "id,date,units\na,2024-01-01,1\n,2024-01-02,2\n",
        ),
        &["id"],
    );
    assert!(matches!(null_id, Err(SeriesError::Null { ref column, row: 1 }) if column == "id"));

    let bad_date = read_set(
        &write(d, "baddate.csv", "id,date,units\na,soon,1\n"),
        &["id"],
    );
    assert!(
        matches!(bad_date, Err(SeriesError::Dataset(DatasetError::WrongType { ref column, .. })) if column == "date")
    );

    assert!(matches!(
        Table::read(&d.join("missing.csv")),
        Err(DatasetError::Io { .. })
    ));
    assert!(matches!(
        Table::read(&write(d, "x.xlsx", "")),
        Err(DatasetError::UnsupportedFormat { .. })
    ));
    assert!(matches!(
        Table::read(&write(d, "broken.parquet", "not parquet")),
        Err(DatasetError::Malformed { .. })
    ));
    Ok(())
}

fn config(method: &str, horizon: usize, seasons: Option<Vec<usize>>) -> ForecastConfig {
    ForecastConfig {
        format: format(&["store", "item"]),
        method: method.into(),
        horizon,
        seasons,
    }
}

#[test]
fn a_saved_forecast_model_loads_and_predicts_the_same() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let set = read_set(
        &write(dir.path(), "s.csv", &daily_csv(60)),
        &["store", "item"],
    )?;
    let (model, report) = ForecastModel::train(&set, config("theta", 14, None), &|| ())?;
    assert_eq!(report.series, 4);
    assert_eq!(report.observations, 240);
    let before = model.predict(None, 14)?;
    assert_eq!(before.num_rows(), 56);

    let out = dir.path().join("model");
    let manifest = model::new_manifest(
        ModelKind::Forecast,
        model.signature(),
        model.input_example(),
        serde_json::json!({}),
    );
    model::save(&out, &manifest, &model)?;
    for file in [
        "MLmodel",
        "esteira.json",
        "model.json",
        "input_example.json",
    ] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let mlmodel = std::fs::read_to_string(out.join("MLmodel"))?;
    assert!(
        mlmodel.contains("flavors:\n  esteira:\n    data: model.json"),
        "{mlmodel}"
    );
    assert!(mlmodel.contains("\"name\":\"store\""), "{mlmodel}");
    let LoadedModel::Forecast(loaded, m) = model::load(&out)? else {
        panic!("not a forecast model");
    };
    assert_eq!(m.format_version, model::FORMAT_VERSION);
    assert_eq!(*loaded, model);
    let after = loaded.predict(None, 14)?;
    assert_eq!(before.batch(), after.batch());

    let again = model::save(&out, &manifest, &model);
    assert!(matches!(again, Err(ModelError::Exists { .. })));
    Ok(())
}

#[test]
fn forecast_table_has_dates_steps_and_intervals() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let set = read_set(
        &write(dir.path(), "s.csv", &daily_csv(30)),
        &["store", "item"],
    )?;
    let (model, _) = ForecastModel::train(&set, config("naive", 3, None), &|| ())?;
    let table = model.predict(Some(&["1/2".to_string()]), 3)?;
    let out = dir.path().join("f.csv");
    table.write(&out)?;
    let text = std::fs::read_to_string(out)?;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "store,item,date,step,forecast,lo_95,lo_80,hi_80,hi_95"
    );
    // Last value of 1/2 is 12 + 29 = 41 on 2024-01-30; naive repeats it.
    assert!(
        lines[1].starts_with("1,2,2024-01-31,1,41.0,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[3].starts_with("1,2,2024-02-02,3,41.0,"),
        "{}",
        lines[3]
    );
    let unknown = model.predict(Some(&["9/9".to_string()]), 3);
    assert!(matches!(unknown, Err(ModelError::UnknownSeries { ref series }) if series == "9/9"));
    assert!(matches!(
        model.predict(None, 0),
        Err(ModelError::Invalid {
            field: "horizon",
            ..
        })
    ));
    Ok(())
}

#[test]
fn short_series_fall_back_and_edge_series_forecast_finite_values() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut text = String::from("store,item,date,units\n");
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let series: [(&str, Vec<f64>); 5] = [
        ("long", (0..40).map(|d| 10.0 + (d % 7) as f64).collect()),
        ("short", vec![5.0, 6.0, 7.0]),
        ("constant", vec![3.0; 20]),
        ("zeros", vec![0.0; 20]),
        ("negative", (0..20).map(|d| -100.0 - d as f64).collect()),
    ];
    for (id, values) in &series {
        for (d, v) in values.iter().enumerate() {
            let date = start + chrono::Days::new(d as u64);
            text.push_str(&format!("{id},x,{date},{v}\n"));
        }
    }
    let set = read_set(&write(dir.path(), "e.csv", &text), &["store", "item"])?;
    for method in [
        "naive", "snaive", "naive2", "ses", "holt", "damped", "theta", "mstl", "auto",
    ] {
        let (model, report) = ForecastModel::train(&set, config(method, 7, Some(vec![7])), &|| ())?;
        let fallen: Vec<&str> = report.fallbacks.iter().map(|f| f.0.as_str()).collect();
        let short = ["short/x", "constant/x", "zeros/x", "negative/x"];
        assert!(
            short.iter().all(|s| fallen.contains(s)),
            "{method}: {fallen:?}"
        );
        assert!(
            report.fallbacks[0].1.contains("season 7"),
            "{}",
            report.fallbacks[0].1
        );
        let table = model.predict(None, 7)?;
        let forecasts = table.f64_column("forecast")?;
        assert!(
            forecasts.iter().all(|v| v.is_some_and(f64::is_finite)),
            "{method}: {forecasts:?}"
        );
    }
    let bad = ForecastModel::train(&set, config("prophet", 7, None), &|| ());
    assert!(matches!(
        bad,
        Err(ModelError::Invalid {
            field: "method",
            ..
        })
    ));
    let zero = ForecastModel::train(&set, config("naive", 7, Some(vec![0])), &|| ());
    assert!(matches!(
        zero,
        Err(ModelError::Invalid {
            field: "season",
            ..
        })
    ));
    Ok(())
}

#[test]
fn evaluation_joins_actuals_by_series_and_time() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let train = read_set(
        &write(dir.path(), "train.csv", &daily_csv(30)),
        &["store", "item"],
    )?;
    let all = Table::read(&write(dir.path(), "all.csv", &daily_csv(33)))?;
    let (model, _) = ForecastModel::train(&train, config("naive", 3, None), &|| ())?;
    let actuals = SeriesSet::from_table(&all, &format(&["store", "item"]))?;
    let eval = model.evaluate(&actuals)?;
    // Naive repeats the value of day 29; the actuals grow by 1 a day: errors 1, 2, 3.
    assert_eq!(eval.points, 12);
    assert!((eval.overall["mae"] - 2.0).abs() < 1e-12);
    assert!((eval.overall["bias"] + 2.0).abs() < 1e-12);
    // In-sample seasonal-naive scale for a daily ramp with no season is 1.
    assert!((eval.overall["mase"] - 2.0).abs() < 1e-12);
    assert_eq!(eval.per_step_mae.get(&3), Some(&3.0));
    assert_eq!(eval.per_series.len(), 4);

    let other = Table::read(&write(
        dir.path(),
        "o.csv",
        "store,item,date,units\n7,7,2024-02-01,1\n",
    ))?;
    let unknown = model.evaluate(&SeriesSet::from_table(&other, &format(&["store", "item"]))?);
    assert!(matches!(unknown, Err(ModelError::UnknownSeries { .. })));
    let past = Table::read(&write(dir.path(), "p.csv", &daily_csv(10)))?;
    let nothing = model.evaluate(&SeriesSet::from_table(&past, &format(&["store", "item"]))?);
    assert!(matches!(
        nothing,
        Err(ModelError::Invalid {
            field: "actuals",
            ..
        })
    ));
    Ok(())
}

#[test]
fn newer_formats_and_non_models_are_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let set = read_set(
        &write(dir.path(), "s.csv", &daily_csv(10)),
        &["store", "item"],
    )?;
    let (model, _) = ForecastModel::train(&set, config("naive", 2, None), &|| ())?;
    let mut manifest = model::new_manifest(
        ModelKind::Forecast,
        model.signature(),
        model.input_example(),
        serde_json::json!({}),
    );
    manifest.format_version = model::FORMAT_VERSION + 1;
    let out = dir.path().join("future");
    model::save(&out, &manifest, &model)?;
    assert!(
        matches!(model::load(&out), Err(ModelError::NewerFormat { found, .. }) if found == model::FORMAT_VERSION + 1)
    );
    assert!(matches!(
        model::load(dir.path()),
        Err(ModelError::NotAModel { .. })
    ));
    std::fs::write(out.join("model.json"), "{\"config\": 1}")?;
    std::fs::write(
        out.join("esteira.json"),
        std::fs::read_to_string(out.join("esteira.json"))?
            .replace("\"format_version\": 2", "\"format_version\": 1"),
    )?;
    assert!(matches!(model::load(&out), Err(ModelError::Json { .. })));
    Ok(())
}

/// Models saved by Esteira 0.1.0 (format 1) still load and predict what they did then.
#[test]
fn models_of_format_1_still_load_and_predict_the_same() -> anyhow::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/v1");
    let same = |got: &Table, expected: &Path| -> anyhow::Result<()> {
        let out = tempfile::tempdir()?;
        let written = out.path().join("got.csv");
        got.write(&written)?;
        let (got, want) = (
            std::fs::read_to_string(written)?,
            std::fs::read_to_string(expected)?,
        );
        assert_eq!(got.lines().count(), want.lines().count());
        for (g, w) in got.lines().zip(want.lines()) {
            for (a, b) in g.split(',').zip(w.split(',')) {
                match (a.parse::<f64>(), b.parse::<f64>()) {
                    (Ok(x), Ok(y)) => {
                        assert!((x - y).abs() <= 1e-9 * y.abs().max(1.0), "{g} vs {w}")
                    }
                    _ => assert_eq!(a, b),
                }
            }
        }
        Ok(())
    };
    let LoadedModel::Forecast(forecast, manifest) = model::load(&dir.join("forecast"))? else {
        panic!("not a forecast model");
    };
    assert_eq!(manifest.format_version, 1);
    assert!(
        forecast.series.iter().any(|s| s.model.contains("ETS(")),
        "ensembles with ETS members"
    );
    same(
        &forecast.predict(None, forecast.config.horizon)?,
        &dir.join("forecast.expected.csv"),
    )?;
    let LoadedModel::Tabular(tabular, manifest) = model::load(&dir.join("tabular"))? else {
        panic!("not a tabular model");
    };
    assert_eq!(manifest.format_version, 1);
    let input = Table::read(&dir.join("houses.input.csv"))?;
    same(
        &model::tabular::predict_table(&tabular, &input)?,
        &dir.join("tabular.expected.csv"),
    )?;
    Ok(())
}

/// Series a and b: 50 (b: 80) + 6 on promotion days + a weekly pattern + small noise; promotions
/// on a deterministic pattern. Rows from day `from` to day `to` (exclusive); `target` false
/// leaves the units column out (future rows).
fn promo_csv(from: usize, to: usize, target: bool) -> String {
    let mut text = String::from(if target {
        "id,date,promo,units\n"
    } else {
        "id,date,promo\n"
    });
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    for (i, id) in ["a", "b"].iter().enumerate() {
        for d in from..to {
            let promo = u8::from((d * 7 + i) % 5 == 0);
            let date = start + chrono::Days::new(d as u64);
            let units = 50.0
                + 30.0 * i as f64
                + 6.0 * f64::from(promo)
                + [0.0, 2.0, 3.0, 1.0, -1.0, -2.0, -3.0][d % 7]
                + ((d * 7919 + i) % 7) as f64 / 10.0;
            if target {
                text.push_str(&format!("{id},{date},{promo},{units:.3}\n"));
            } else {
                text.push_str(&format!("{id},{date},{promo}\n"));
            }
        }
    }
    text
}

#[test]
fn exogenous_columns_are_regressed_out_and_added_back_with_future_values() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let with_exog = LongFormat {
        id: vec!["id".into()],
        time: "date".into(),
        target: "units".into(),
        exog: vec!["promo".into()],
    };
    let train = SeriesSet::from_table(
        &Table::read(&write(dir.path(), "t.csv", &promo_csv(0, 140, true)))?,
        &with_exog,
    )?;
    assert_eq!(train.series[0].exog.len(), 1);
    let config = |format: LongFormat| ForecastConfig {
        format,
        method: "theta".into(),
        horizon: 14,
        seasons: None,
    };
    let (model, _) = ForecastModel::train(&train, config(with_exog.clone()), &|| ())?;
    for s in &model.series {
        assert!(
            (s.exog_coefficients[0] - 6.0).abs() < 0.3,
            "{}: {:?}",
            s.id,
            s.exog_coefficients
        );
    }
    let future_table = Table::read(&write(dir.path(), "f.csv", &promo_csv(140, 154, false)))?;
    let future = SeriesSet::future_from_table(&future_table, &with_exog, model.calendar)?;
    let forecasts = model.predict_future(&future)?;
    assert_eq!(forecasts.num_rows(), 28);
    let actual = SeriesSet::from_table(
        &Table::read(&write(dir.path(), "a.csv", &promo_csv(140, 154, true)))?,
        &with_exog,
    )?;
    let eval = model.evaluate(&actual)?;
    let plain_format = LongFormat {
        exog: Vec::new(),
        ..with_exog.clone()
    };
    let plain_train =
        SeriesSet::from_table(&Table::read(&dir.path().join("t.csv"))?, &plain_format)?;
    let (plain, _) = ForecastModel::train(&plain_train, config(plain_format.clone()), &|| ())?;
    let plain_eval = plain.evaluate(&SeriesSet::from_table(
        &Table::read(&dir.path().join("a.csv"))?,
        &plain_format,
    )?)?;
    assert!(
        eval.overall["mae"] < 0.6 * plain_eval.overall["mae"],
        "{} vs {}",
        eval.overall["mae"],
        plain_eval.overall["mae"]
    );

    let needs_future = model.predict(None, 14);
    assert!(matches!(
        needs_future,
        Err(ModelError::Invalid { field: "input", .. })
    ));
    let late = Table::read(&write(dir.path(), "late.csv", &promo_csv(145, 150, false)))?;
    let late = model.predict_future(&SeriesSet::future_from_table(
        &late,
        &with_exog,
        model.calendar,
    )?);
    assert!(
        matches!(late, Err(ModelError::Invalid { ref reason, .. }) if reason.contains("must start at 2024-05-20")),
        "{late:?}"
    );
    let no_promo = Table::read(&write(dir.path(), "np.csv", "id,date\na,2024-05-20\n"))?;
    let missing = SeriesSet::future_from_table(&no_promo, &with_exog, model.calendar);
    assert!(
        matches!(missing, Err(SeriesError::Dataset(DatasetError::UnknownColumn { ref column, .. })) if column == "promo")
    );
    let inf = "id,date,promo,units\na,2024-01-01,0,1\na,2024-01-02,inf,2\n";
    let bad = SeriesSet::from_table(
        &Table::read(&write(dir.path(), "inf.csv", inf))?,
        &with_exog,
    );
    assert!(
        matches!(bad, Err(SeriesError::NonFiniteExog { ref series, ref column, .. }) if series == "a" && column == "promo")
    );
    Ok(())
}

#[test]
fn series_ids_are_distinct_in_order_of_first_appearance() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let table = Table::read(&write(
        dir.path(),
        "future.csv",
        "store,item,date\nb,x,2024-01-01\na,x,2024-01-01\nb,x,2024-01-02\na,y,2024-01-01\n",
    ))?;
    let ids = series_ids(&table, &["store".into(), "item".into()])?;
    assert_eq!(ids, ["b/x", "a/x", "a/y"]);
    let with_null = Table::read(&write(dir.path(), "null.csv", "store,item\na,x\n,y\n"))?;
    match series_ids(&with_null, &["store".into(), "item".into()]) {
        Err(e @ SeriesError::Null { .. }) => {
            assert_eq!(e.to_string(), "column 'store' is null at row 1");
        }
        other => panic!("expected a null id, got {other:?}"),
    }
    assert!(matches!(
        series_ids(&table, &["region".into()]),
        Err(SeriesError::Dataset(DatasetError::UnknownColumn { ref column, .. })) if column == "region"
    ));
    Ok(())
}

#[test]
fn a_series_subset_is_a_seeded_share_of_the_series() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let set = read_set(
        &write(dir.path(), "sales.csv", &daily_csv(10)),
        &["store", "item"],
    )?;
    assert_eq!(set.series.len(), 4);
    // Budget 1 keeps every series in its order.
    assert_eq!(set.subset(1.0, 7), set);
    // ceil(4 × 0.3) = 2 and ceil(4 × 0.6) = 3 distinct series of the set; the same seed picks
    // the same ones, and a larger budget adds to the smaller one's pick.
    let small = set.subset(0.3, 7);
    let large = set.subset(0.6, 7);
    assert_eq!(small.series.len(), 2);
    assert_eq!(large.series.len(), 3);
    assert_eq!(small, set.subset(0.3, 7));
    assert_eq!(small.series[..], large.series[..2]);
    let mut ids: Vec<&str> = large.series.iter().map(|s| s.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    assert!(large.series.iter().all(|s| set.series.contains(s)));
    assert_eq!(
        (large.format, large.calendar),
        (set.format.clone(), set.calendar)
    );
    // A tiny budget still keeps one series.
    assert_eq!(set.subset(0.01, 7).series.len(), 1);
    Ok(())
}
