//! The retrain policy engine: rules over consecutive windows, cooldown, budget, reasons.

use std::collections::BTreeMap;

use esteira_monitor::MonitorError;
use esteira_monitor::policy::{MetricValue, Outcome, WindowSummary, evaluate, human_duration};
use esteira_monitor::spec::{BudgetSpec, PolicySpec, RuleSpec};

const DAY: i64 = 86_400_000;

fn policy(rules: &[(&str, &str, usize)]) -> PolicySpec {
    PolicySpec {
        name: "retrain".into(),
        pipeline: "demand".into(),
        trigger: "monitor".into(),
        cooldown: None,
        budget: None,
        rules: rules
            .iter()
            .map(|(monitor, when, windows)| RuleSpec {
                monitor: monitor.to_string(),
                when: when.to_string(),
                windows: *windows,
            })
            .collect(),
    }
}

/// Daily drift windows ending on days 1..=n with the given shares (drifted at >= 0.5).
fn drift_days(shares: &[f64]) -> Vec<WindowSummary> {
    shares
        .iter()
        .enumerate()
        .map(|(i, share)| WindowSummary {
            window_end: (i as i64 + 1) * DAY,
            drift: Some(*share >= 0.5),
            drift_share: Some(*share),
            ..WindowSummary::default()
        })
        .collect()
}

/// Daily accuracy windows with an MAE and the band [8, 12] (none for the first `unbanded`).
fn mae_days(values: &[f64], unbanded: usize) -> Vec<WindowSummary> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| WindowSummary {
            window_end: (i as i64 + 1) * DAY,
            alarm: *v > 12.0,
            metric: Some(MetricValue {
                name: "mae".into(),
                value: *v,
                band_lower: (i >= unbanded).then_some(8.0),
                band_upper: (i >= unbanded).then_some(12.0),
            }),
            ..WindowSummary::default()
        })
        .collect()
}

fn history(monitor: &str, windows: Vec<WindowSummary>) -> BTreeMap<String, Vec<WindowSummary>> {
    BTreeMap::from([(monitor.to_string(), windows)])
}

#[test]
fn a_rule_over_three_windows_needs_three_consecutive_drifted_windows() -> anyhow::Result<()> {
    let p = policy(&[("drift", "drift_share >= 0.5", 3)]);
    let h = history("drift", drift_days(&[0.6, 0.2, 0.6, 0.6, 0.6, 0.1]));
    let outcomes: Vec<Outcome> = (1..=6)
        .map(|day| evaluate(&p, day * DAY, &h, &[]).map(|v| v.outcome))
        .collect::<Result<_, _>>()?;
    use Outcome::*;
    assert_eq!(
        outcomes,
        [Avoided, Avoided, Avoided, Avoided, Retrain, Avoided]
    );
    let early = evaluate(&p, 2 * DAY, &h, &[])?;
    assert_eq!(
        early.rules[0].detail,
        "needs 3 window(s), the monitor has 2 so far"
    );
    let broken = evaluate(&p, 4 * DAY, &h, &[])?;
    assert_eq!(
        broken.rules[0].detail,
        "not met: drift_share 0.2 >= 0.5 is false (needed in each of the last 3 windows)"
    );
    let fired = evaluate(&p, 5 * DAY, &h, &[])?;
    assert!(fired.rules[0].met);
    assert_eq!(
        fired.rules[0].detail,
        "met: drift_share 0.6 >= 0.5 is true; drift_share 0.6 >= 0.5 is true; drift_share 0.6 >= 0.5 is true"
    );
    Ok(())
}

#[test]
fn a_metric_above_its_band_retrains_and_a_missing_band_does_not() -> anyhow::Result<()> {
    let p = policy(&[("acc", "mae > band.upper", 1)]);
    let h = history("acc", mae_days(&[20.0, 10.0, 13.5], 1));
    let no_band = evaluate(&p, DAY, &h, &[])?;
    assert_eq!(no_band.outcome, Outcome::Avoided);
    assert_eq!(no_band.rules[0].detail, "not computed: mae has no band yet");
    let inside = evaluate(&p, 2 * DAY, &h, &[])?;
    assert_eq!(inside.outcome, Outcome::Avoided);
    assert_eq!(
        inside.rules[0].detail,
        "not met: mae 10 > band.upper 12 is false"
    );
    let above = evaluate(&p, 3 * DAY, &h, &[])?;
    assert_eq!(above.outcome, Outcome::Retrain);
    assert_eq!(
        above.rules[0].detail,
        "met: mae 13.5 > band.upper 12 is true"
    );
    // Evaluated between windows, the latest window before that time counts.
    assert_eq!(
        evaluate(&p, 3 * DAY + 5, &h, &[])?.outcome,
        Outcome::Retrain
    );
    Ok(())
}

#[test]
fn any_rule_suffices_and_each_rule_reports() -> anyhow::Result<()> {
    let p = policy(&[
        ("acc", "mae > 15", 1),
        ("drift", "drift", 1),
        ("acc", "detector page_hinkley", 1),
        ("missing", "alarm", 1),
    ]);
    let mut h = history("acc", mae_days(&[13.0], 0));
    h.insert("drift".into(), drift_days(&[0.7]));
    let v = evaluate(&p, DAY, &h, &[])?;
    assert_eq!(v.outcome, Outcome::Retrain);
    let met: Vec<bool> = v.rules.iter().map(|r| r.met).collect();
    assert_eq!(met, [false, true, false, false]);
    assert_eq!(v.rules[0].detail, "not met: mae 13 > 15 is false");
    assert_eq!(
        v.rules[2].detail,
        "not met: detector page_hinkley fired false"
    );
    assert_eq!(
        v.rules[3].detail,
        "needs 1 window(s), the monitor has 0 so far"
    );
    Ok(())
}

#[test]
fn cooldown_holds_a_retrain_back_until_it_has_passed() -> anyhow::Result<()> {
    let mut p = policy(&[("acc", "alarm", 1)]);
    p.cooldown = Some("7d".into());
    let h = history("acc", mae_days(&[20.0; 20], 0));
    let held = evaluate(&p, 12 * DAY, &h, &[10 * DAY])?;
    assert_eq!(held.outcome, Outcome::Cooldown);
    assert_eq!(
        held.held_back.as_deref(),
        Some("the previous retrain was 2d ago, within the cooldown of 7d")
    );
    // Exactly one cooldown later the retrain goes ahead.
    assert_eq!(
        evaluate(&p, 17 * DAY, &h, &[10 * DAY])?.outcome,
        Outcome::Retrain
    );
    // A retrain recorded at the same time (being re-evaluated) does not hold itself back.
    assert_eq!(
        evaluate(&p, 10 * DAY, &h, &[10 * DAY])?.outcome,
        Outcome::Retrain
    );
    Ok(())
}

#[test]
fn the_budget_caps_retrains_per_period() -> anyhow::Result<()> {
    let mut p = policy(&[("acc", "alarm", 1)]);
    p.budget = Some(BudgetSpec {
        retrains: 4,
        per: "30d".into(),
    });
    let h = history("acc", mae_days(&[20.0; 40], 0));
    let past = [DAY, 8 * DAY, 15 * DAY, 22 * DAY];
    let spent = evaluate(&p, 29 * DAY, &h, &past)?;
    assert_eq!(spent.outcome, Outcome::Budget);
    assert_eq!(
        spent.held_back.as_deref(),
        Some("4 retrain(s) in the last 30d already spend the budget of 4")
    );
    // On day 31 the day-1 retrain has left the 30-day period.
    assert_eq!(evaluate(&p, 31 * DAY, &h, &past)?.outcome, Outcome::Retrain);
    Ok(())
}

#[test]
fn a_simulated_year_respects_cooldown_and_budget() -> anyhow::Result<()> {
    // A monitor that alarms every day for a year: with a 7-day cooldown and at most 4
    // retrains in 30 days the policy retrains every 7 days (at most 4 per 30 days).
    let mut p = policy(&[("acc", "alarm", 1)]);
    p.cooldown = Some("7d".into());
    p.budget = Some(BudgetSpec {
        retrains: 4,
        per: "30d".into(),
    });
    let h = history("acc", mae_days(&[20.0; 365], 0));
    let mut retrains = Vec::new();
    let mut counts = BTreeMap::new();
    for day in 1..=365 {
        let v = evaluate(&p, day * DAY, &h, &retrains)?;
        *counts.entry(v.outcome.as_str()).or_insert(0) += 1;
        if v.outcome == Outcome::Retrain {
            retrains.push(day * DAY);
        }
    }
    for pair in retrains.windows(2) {
        assert!(pair[1] - pair[0] >= 7 * DAY, "{pair:?}");
    }
    for (i, t) in retrains.iter().enumerate() {
        let in_period = retrains[..=i].iter().filter(|r| t - **r < 30 * DAY).count();
        assert!(in_period <= 4, "{in_period} retrains in 30 days up to {t}");
    }
    // Worked by hand: days 1, 8, 15 and 22 retrain; on days 29 and 30 those four lie within
    // 30 days (budget); day 31 (day 1 has left the period) retrains, then 38, 45, 52; the
    // budget binds again on 59 and 60, and so on: 4 retrains per 30-day cycle from days 1,
    // 31, ..., 331 (12 cycles) plus day 361: 49.
    let days: Vec<i64> = retrains.iter().map(|t| t / DAY).collect();
    assert_eq!(days[..9], [1, 8, 15, 22, 31, 38, 45, 52, 61]);
    assert_eq!(retrains.len(), 49);
    assert_eq!(counts.get("budget"), Some(&(2 * 12)));
    assert_eq!(counts.get("cooldown"), Some(&(365 - 49 - 24)));
    Ok(())
}

#[test]
fn a_budget_binds_before_the_cooldown_when_it_is_tighter() -> anyhow::Result<()> {
    let mut p = policy(&[("acc", "alarm", 1)]);
    p.cooldown = Some("1d".into());
    p.budget = Some(BudgetSpec {
        retrains: 2,
        per: "30d".into(),
    });
    let h = history("acc", mae_days(&[20.0; 60], 0));
    let mut retrains = Vec::new();
    for day in 1..=60 {
        if evaluate(&p, day * DAY, &h, &retrains)?.outcome == Outcome::Retrain {
            retrains.push(day * DAY);
        }
    }
    assert_eq!(retrains, [DAY, 2 * DAY, 31 * DAY, 32 * DAY]);
    Ok(())
}

#[test]
fn bad_conditions_are_refused_naming_the_rule() {
    let cases = [
        ("mae >", "is not a condition"),
        ("latency > 3", "unknown value \"latency\""),
        ("mae => 3", "unknown comparison \"=>\""),
        ("mae > band.middle", "\"band.middle\" is neither a number"),
        ("mae > inf", "\"inf\" is neither a number"),
        ("detector kswin", "unknown detector \"kswin\""),
    ];
    for (when, expected) in cases {
        let p = policy(&[("acc", "alarm", 1), ("acc", when, 1)]);
        match evaluate(&p, DAY, &BTreeMap::new(), &[]) {
            Err(MonitorError::Config { field, reason }) => {
                assert_eq!(field, "policy 'retrain'.rules[1].when");
                assert!(reason.contains(expected), "{reason} lacks {expected}");
            }
            other => panic!("{when}: expected a config error, got {other:?}"),
        }
    }
}

#[test]
fn durations_read_as_people_write_them() {
    assert_eq!(human_duration(2 * DAY + 3_600_000 * 4 + 60_000), "2d 4h");
    assert_eq!(human_duration(90_000), "1m 30s");
    assert_eq!(human_duration(250), "250ms");
}
