//! The sequential detectors against river 0.26 (`river.drift.PageHinkley`,
//! `river.drift.ADWIN`) and a numpy transcription of the textbook CUSUM: identical change
//! points on the seeded streams of `vectors/detect.json` (made by `vectors/detect_gen.py`).

use esteira_monitor::MonitorError;
use esteira_monitor::detect::{
    Adwin, AdwinParams, ChangeDetector, Cusum, CusumParams, PageHinkley, PageHinkleyMode,
    PageHinkleyParams, change_points,
};
use serde_json::Value;

fn vectors() -> anyhow::Result<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/detect.json");
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

fn stream(vectors: &Value, name: &str) -> anyhow::Result<Vec<f64>> {
    Ok(serde_json::from_value(vectors["streams"][name].clone())?)
}

fn detector(kind: &str, params: &Value) -> anyhow::Result<Box<dyn ChangeDetector>> {
    Ok(match kind {
        "page_hinkley" => Box::new(PageHinkley::new(serde_json::from_value(params.clone())?)?),
        "adwin" => Box::new(Adwin::new(serde_json::from_value(params.clone())?)?),
        "cusum" => Box::new(Cusum::new(serde_json::from_value(params.clone())?)?),
        other => anyhow::bail!("unknown detector {other}"),
    })
}

fn check_cases(kind: &str) -> anyhow::Result<usize> {
    let v = vectors()?;
    let mut checked = 0;
    let cases = v["cases"].as_array().cloned().unwrap_or_default();
    for case in cases.iter().filter(|c| c["detector"] == kind) {
        let values = stream(&v, case["stream"].as_str().unwrap_or_default())?;
        let expected: Vec<usize> = serde_json::from_value(case["change_points"].clone())?;
        let mut d = detector(kind, &case["params"])?;
        let got = change_points(d.as_mut(), &values)?;
        assert_eq!(
            got, expected,
            "{kind} on {} with {}",
            case["stream"], case["params"]
        );
        checked += 1;
    }
    Ok(checked)
}

#[test]
fn page_hinkley_finds_rivers_change_points() -> anyhow::Result<()> {
    assert_eq!(check_cases("page_hinkley")?, 28);
    Ok(())
}

#[test]
fn adwin_finds_rivers_change_points() -> anyhow::Result<()> {
    assert_eq!(check_cases("adwin")?, 28);
    Ok(())
}

#[test]
fn cusum_finds_the_textbook_change_points() -> anyhow::Result<()> {
    assert_eq!(check_cases("cusum")?, 12);
    Ok(())
}

#[test]
fn river_docstring_examples_are_reproduced() -> anyhow::Result<()> {
    // river's own docstrings: PageHinkley() reports index 1006, ADWIN() index 1023 on
    // random.Random(12345).choices([0, 1], k=1000) + .choices(range(4, 8), k=1000).
    let values = stream(&vectors()?, "river_doc")?;
    let mut ph = PageHinkley::new(PageHinkleyParams::default())?;
    assert_eq!(change_points(&mut ph, &values)?, vec![1006]);
    let mut adwin = Adwin::new(AdwinParams::default())?;
    assert_eq!(change_points(&mut adwin, &values)?, vec![1023]);
    Ok(())
}

#[test]
fn cusum_hand_worked_example() -> anyhow::Result<()> {
    // target 10, σ 2, k 0.5, h 2; values 10 12 14 15 9 4 4 → z = 0 1 2 2.5 −0.5 −3 −3.
    // C⁺: 0, 0.5, 2.0 (= h, not above: no signal), 4.0 > 2 → signal at 3, sums restart;
    // then z = −0.5: C⁺ 0, C⁻ max(0, 0 + 0.5 − 0.5) = 0; z = −3: C⁻ = 2.5 > 2 → signal at 5,
    // restart; z = −3 again: C⁻ = 2.5 → signal at 6.
    let mut cusum = Cusum::new(CusumParams {
        target: 10.0,
        sigma: 2.0,
        k: 0.5,
        h: 2.0,
    })?;
    let values = [10.0, 12.0, 14.0];
    assert_eq!(change_points(&mut cusum, &values)?, Vec::<usize>::new());
    assert_eq!(cusum.state().upper, 2.0);
    assert_eq!(cusum.state().lower, 0.0);
    let mut cusum = Cusum::new(cusum.params().clone())?;
    let values = [10.0, 12.0, 14.0, 15.0, 9.0, 4.0, 4.0];
    assert_eq!(change_points(&mut cusum, &values)?, vec![3, 5, 6]);
    Ok(())
}

#[test]
fn cusum_defaults_are_k_half_and_h_five() -> anyhow::Result<()> {
    let params: CusumParams = serde_json::from_str(r#"{"target": 1.0, "sigma": 2.0}"#)?;
    assert_eq!(params, CusumParams::new(1.0, 2.0));
    assert_eq!((params.k, params.h), (0.5, 5.0));
    Ok(())
}

#[test]
fn river_defaults() {
    let ph = PageHinkleyParams::default();
    assert_eq!(ph.min_instances, 30);
    assert_eq!(ph.delta, 0.005);
    assert_eq!(ph.threshold, 50.0);
    assert_eq!(ph.alpha, 1.0 - 0.0001);
    assert_eq!(ph.mode, PageHinkleyMode::Both);
    let adwin = AdwinParams::default();
    assert_eq!(
        (
            adwin.delta,
            adwin.clock,
            adwin.max_buckets,
            adwin.min_window_length,
            adwin.grace_period
        ),
        (0.002, 32, 5, 5, 10)
    );
}

/// Persisting a detector half-way and restoring it gives the change points of one run.
fn resumes_after_persisting<D>(mut first: D, values: &[f64]) -> anyhow::Result<()>
where
    D: ChangeDetector + Clone + serde::Serialize + serde::de::DeserializeOwned,
{
    let mut whole = first.clone();
    let expected = change_points(&mut whole, values)?;
    assert!(!expected.is_empty(), "the stream should have changes");
    let half = values.len() / 2;
    let mut got = change_points(&mut first, &values[..half])?;
    let saved = serde_json::to_string(&first)?;
    let mut restored: D = serde_json::from_str(&saved)?;
    got.extend(
        change_points(&mut restored, &values[half..])?
            .into_iter()
            .map(|i| i + half),
    );
    assert_eq!(got, expected);
    Ok(())
}

#[test]
fn detectors_resume_from_their_serialised_state() -> anyhow::Result<()> {
    let values = stream(&vectors()?, "shifts_up_down")?;
    resumes_after_persisting(PageHinkley::new(PageHinkleyParams::default())?, &values)?;
    let adwin = AdwinParams {
        clock: 1,
        ..AdwinParams::default()
    };
    resumes_after_persisting(Adwin::new(adwin)?, &values)?;
    resumes_after_persisting(Cusum::new(CusumParams::new(0.0, 1.0))?, &values)?;
    Ok(())
}

#[test]
fn reset_forgets_the_stream() -> anyhow::Result<()> {
    let values = stream(&vectors()?, "shift_up")?;
    let mut ph = PageHinkley::new(PageHinkleyParams::default())?;
    let fresh = ph.clone();
    change_points(&mut ph, &values[..500])?;
    assert_ne!(ph, fresh);
    ph.reset();
    assert_eq!(ph, fresh);
    let mut adwin = Adwin::new(AdwinParams::default())?;
    change_points(&mut adwin, &values[..500])?;
    assert_eq!(adwin.state().width, 500);
    assert!((adwin.mean() - values[..500].iter().sum::<f64>() / 500.0).abs() < 1e-12);
    adwin.reset();
    assert_eq!(adwin.state().width, 0);
    assert_eq!(adwin.mean(), 0.0);
    let mut cusum = Cusum::new(CusumParams::new(0.0, 1.0))?;
    cusum.update(3.0)?;
    cusum.reset();
    assert_eq!((cusum.state().upper, cusum.state().lower), (0.0, 0.0));
    Ok(())
}

#[test]
fn adwin_buckets_form_an_exponential_histogram() -> anyhow::Result<()> {
    // At most 5 buckets per size: a 6th bucket in a row merges the row's two oldest into the
    // next row. 13 values: the 6th, 8th, 10th and 12th values each merge two singles, so row
    // 0 holds 13 − 8 = 5 singles and row 1 four pairs; every bucket of row i sums 2^i ones.
    let mut adwin = Adwin::new(AdwinParams::default())?;
    for _ in 0..13 {
        adwin.update(1.0)?;
    }
    let rows = &adwin.state().rows;
    let held: f64 = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.iter()
                .for_each(|sum| assert_eq!(*sum, f64::from(1u32 << i)));
            r.len() as f64 * f64::from(1u32 << i)
        })
        .sum();
    assert_eq!(held, 13.0);
    assert!(rows.iter().all(|r| r.len() <= 5));
    assert_eq!(rows[0].len(), 5);
    assert_eq!(rows[1].len(), 4);
    assert_eq!(rows.len(), 2);
    Ok(())
}

fn is_config(result: Result<impl std::fmt::Debug, MonitorError>, field: &str) {
    match result {
        Err(MonitorError::Config { field: f, .. }) => assert_eq!(f, field),
        other => panic!("expected a config error on {field}, got {other:?}"),
    }
}

#[test]
fn bad_parameters_are_refused_naming_the_field() {
    let c = CusumParams::new(0.0, 1.0);
    is_config(
        Cusum::new(CusumParams {
            target: f64::NAN,
            ..c.clone()
        }),
        "target",
    );
    is_config(
        Cusum::new(CusumParams {
            sigma: 0.0,
            ..c.clone()
        }),
        "sigma",
    );
    is_config(
        Cusum::new(CusumParams {
            sigma: -1.0,
            ..c.clone()
        }),
        "sigma",
    );
    is_config(
        Cusum::new(CusumParams {
            k: -0.1,
            ..c.clone()
        }),
        "k",
    );
    is_config(
        Cusum::new(CusumParams {
            h: 0.0,
            ..c.clone()
        }),
        "h",
    );
    is_config(
        Cusum::new(CusumParams {
            h: f64::INFINITY,
            ..c
        }),
        "h",
    );

    let p = PageHinkleyParams::default();
    is_config(
        PageHinkley::new(PageHinkleyParams {
            min_instances: 0,
            ..p.clone()
        }),
        "min_instances",
    );
    is_config(
        PageHinkley::new(PageHinkleyParams {
            delta: -1.0,
            ..p.clone()
        }),
        "delta",
    );
    is_config(
        PageHinkley::new(PageHinkleyParams {
            threshold: 0.0,
            ..p.clone()
        }),
        "threshold",
    );
    is_config(
        PageHinkley::new(PageHinkleyParams {
            alpha: 0.0,
            ..p.clone()
        }),
        "alpha",
    );
    is_config(
        PageHinkley::new(PageHinkleyParams {
            alpha: 1.5,
            ..p.clone()
        }),
        "alpha",
    );
    is_config(
        PageHinkley::new(PageHinkleyParams {
            alpha: f64::NAN,
            ..p
        }),
        "alpha",
    );

    let a = AdwinParams::default();
    is_config(
        Adwin::new(AdwinParams {
            delta: 0.0,
            ..a.clone()
        }),
        "delta",
    );
    is_config(
        Adwin::new(AdwinParams {
            delta: 1.0,
            ..a.clone()
        }),
        "delta",
    );
    is_config(
        Adwin::new(AdwinParams {
            clock: 0,
            ..a.clone()
        }),
        "clock",
    );
    is_config(
        Adwin::new(AdwinParams {
            max_buckets: 0,
            ..a.clone()
        }),
        "max_buckets",
    );
    is_config(
        Adwin::new(AdwinParams {
            min_window_length: 0,
            ..a
        }),
        "min_window_length",
    );
}

#[test]
fn unknown_mode_and_fields_are_refused() {
    let mode = serde_json::from_str::<PageHinkleyParams>(r#"{"mode": "sideways"}"#);
    assert!(mode.is_err());
    let typo = serde_json::from_str::<AdwinParams>(r#"{"clocks": 4}"#);
    assert!(typo.unwrap_err().to_string().contains("clocks"));
}

#[test]
fn a_stored_detector_with_bad_parameters_is_refused() -> anyhow::Result<()> {
    let adwin = Adwin::new(AdwinParams::default())?;
    let mut stored = serde_json::to_value(&adwin)?;
    stored["params"]["clock"] = 0.into();
    let err = serde_json::from_value::<Adwin>(stored).unwrap_err();
    assert!(err.to_string().contains("clock"), "{err}");
    let cusum = Cusum::new(CusumParams::new(0.0, 1.0))?;
    let mut stored = serde_json::to_value(&cusum)?;
    stored["params"]["sigma"] = (-2.0).into();
    assert!(serde_json::from_value::<Cusum>(stored).is_err());
    Ok(())
}

#[test]
fn nan_and_infinite_values_are_errors_and_change_nothing() -> anyhow::Result<()> {
    let mut detectors: Vec<Box<dyn ChangeDetector>> = vec![
        Box::new(Cusum::new(CusumParams::new(0.0, 1.0))?),
        Box::new(PageHinkley::new(PageHinkleyParams::default())?),
        Box::new(Adwin::new(AdwinParams::default())?),
    ];
    for d in &mut detectors {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(matches!(d.update(bad), Err(MonitorError::Input { .. })));
        }
    }
    let mut ph = PageHinkley::new(PageHinkleyParams::default())?;
    ph.update(1.0)?;
    let before = ph.clone();
    assert!(ph.update(f64::NAN).is_err());
    assert_eq!(ph, before);

    let mut adwin = Adwin::new(AdwinParams::default())?;
    match change_points(&mut adwin, &[0.5, 1.0, f64::NAN, 2.0]) {
        Err(MonitorError::Input { reason, .. }) => {
            assert!(reason.contains("position 2"), "{reason}")
        }
        other => panic!("expected an input error, got {other:?}"),
    }
    assert_eq!(adwin.state().width, 2);
    Ok(())
}

#[test]
fn an_empty_stream_has_no_change_points() -> anyhow::Result<()> {
    let mut adwin = Adwin::new(AdwinParams::default())?;
    assert!(change_points(&mut adwin, &[])?.is_empty());
    Ok(())
}
