//! Integration tests of the triggers, with an injected clock (nothing sleeps).
//!
//! Reference times for time zones come from Python's `zoneinfo` (the IANA database), e.g.
//! `datetime(2026, 7, 10, 3, tzinfo=ZoneInfo("Europe/Lisbon")).astimezone(timezone.utc)` is
//! 02:00 UTC; the DST transitions used are Lisbon 2026-03-29 01:00 UTC (01:00 WET -> 02:00
//! WEST) and 2026-10-25 01:00 UTC (02:00 WEST -> 01:00 WET), Berlin 2026-03-29 01:00 UTC
//! (02:00 CET -> 03:00 CEST).
//!
//! Services:
//! - S3: `s3_prefix_listing_against_moto` starts its own moto server on a free loopback port
//!   (the project's `.venv`) and runs `s3_listing_in_child` in a child process with the
//!   `AWS_*` variables pointing at it. It is skipped, with a notice, when moto cannot be
//!   imported, unless `CI=true` or `ESTEIRA_REQUIRE_SERVICES=1`, where it fails.
//! - PostgreSQL: the watermark tests read `ESTEIRA_TEST_POSTGRES_URL` (set by
//!   `scripts/test.sh`); without it they are skipped with a notice, with the same exception.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use esteira_artifacts::{ArtifactPath, ArtifactStore};
use esteira_pipeline::Error;
use esteira_pipeline::spec::{CatchUp, PipelineSpec};
use esteira_pipeline::trigger::{
    CronDue, Firing, GlobError, MAX_CATCH_UP, TriggerError, check_schedule, check_timezone,
    cron_due, glob_files, hook_firing, next_fire, scan_new_data, upstream_firing, watermark,
};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// The engine's tick in these tests, used as the `catch_up = "none"` tolerance.
const TICK: Duration = Duration::from_secs(60);

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .unwrap_or_else(|| panic!("{y}-{mo}-{d} {h}:{mi}:{s} is a valid UTC time"))
}

fn due(
    schedule: &str,
    timezone: &str,
    catch_up: CatchUp,
    cursor: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> anyhow::Result<CronDue> {
    Ok(cron_due(
        "nightly", schedule, timezone, catch_up, TICK, cursor, now,
    )?)
}

fn scheduled(firings: &[Firing]) -> Vec<DateTime<Utc>> {
    firings.iter().filter_map(|f| f.scheduled_for).collect()
}

fn keys(firings: &[Firing]) -> Vec<&str> {
    firings.iter().map(|f| f.idempotency_key.as_str()).collect()
}

fn services_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("ESTEIRA_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

fn skip_notice(test: &str, why: &str) {
    eprintln!("\n**********\nSKIPPED {test}: {why}\n**********");
}

// ---------------------------------------------------------------- cron

#[test]
fn all_fires_every_quarter_hour_of_a_day_with_stable_keys() -> anyhow::Result<()> {
    let midnight = utc(2026, 11, 26, 0, 0, 0);
    let next_midnight = utc(2026, 11, 27, 0, 0, 0);
    let first = due(
        "*/15 * * * *",
        "UTC",
        CatchUp::All,
        Some(midnight),
        next_midnight,
    )?;
    // (00:00, 24:00] holds 24 * 4 = 96 quarter hours: 00:15, 00:30, ..., 24:00.
    let expected: Vec<DateTime<Utc>> = (1..=96)
        .map(|k| midnight + TimeDelta::minutes(15 * k))
        .collect();
    assert_eq!(scheduled(&first.firings), expected);
    assert_eq!(
        first.firings[0].idempotency_key,
        "cron:2026-11-26T00:15:00Z"
    );
    assert_eq!(
        first.firings[95].idempotency_key,
        "cron:2026-11-27T00:00:00Z"
    );
    assert_eq!(
        first.firings[0].cause,
        "cron */15 * * * * (UTC) due 2026-11-26T00:15:00Z, caught up at 2026-11-27T00:00:00Z"
    );
    assert_eq!(
        first.firings[95].cause,
        "cron */15 * * * * (UTC) due 2026-11-27T00:00:00Z"
    );
    assert!(
        first
            .firings
            .iter()
            .all(|f| f.trigger == "nightly" && f.params.is_empty())
    );
    assert_eq!((first.skipped, first.note.as_deref()), (0, None));
    assert_eq!(first.cursor, next_midnight);

    let again = due(
        "*/15 * * * *",
        "UTC",
        CatchUp::All,
        Some(midnight),
        next_midnight,
    )?;
    assert_eq!(
        again, first,
        "the same window gives the same firings and keys"
    );
    Ok(())
}

#[test]
fn ticking_through_a_day_fires_each_time_once_when_it_is_due() -> anyhow::Result<()> {
    for catch_up in [CatchUp::None, CatchUp::Latest, CatchUp::All] {
        // Ticks every 60 s, 37 s past the minute, from 23:59:37 the day before.
        let mut now = utc(2026, 11, 25, 23, 59, 37);
        let mut cursor = due("*/15 * * * *", "UTC", catch_up, None, now)?.cursor;
        let mut fired = Vec::new();
        while now < utc(2026, 11, 27, 0, 0, 0) {
            now += TimeDelta::seconds(60);
            let result = due("*/15 * * * *", "UTC", catch_up, Some(cursor), now)?;
            for firing in &result.firings {
                let at = firing.scheduled_for.context("a cron firing has its time")?;
                ensure!(
                    at > cursor && at <= now && now - at < TimeDelta::seconds(60),
                    "{catch_up:?}: {at} fired at {now}, cursor {cursor}"
                );
            }
            ensure!(result.skipped == 0, "{catch_up:?}: skipped at {now}");
            fired.extend(result.firings);
            cursor = result.cursor;
        }
        let midnight = utc(2026, 11, 26, 0, 0, 0);
        // 00:00 to 23:45 of the 26th, plus 00:00 of the 27th; ticks end at 00:00:37.
        let expected: Vec<DateTime<Utc>> = (0..=96)
            .map(|k| midnight + TimeDelta::minutes(15 * k))
            .collect();
        assert_eq!(scheduled(&fired), expected, "{catch_up:?}");
    }
    Ok(())
}

#[test]
fn catch_up_policies_after_a_three_hour_outage() -> anyhow::Result<()> {
    let last_tick = utc(2026, 11, 26, 9, 0, 30);
    let back = utc(2026, 11, 26, 12, 0, 30);
    // Missed: 09:15, 09:30, ..., 12:00 = 12 quarter hours; 12:00 is 30 s old, within the tick.
    let missed: Vec<DateTime<Utc>> = (1..=12)
        .map(|k| utc(2026, 11, 26, 9, 0, 0) + TimeDelta::minutes(15 * k))
        .collect();

    let all = due("*/15 * * * *", "UTC", CatchUp::All, Some(last_tick), back)?;
    assert_eq!(scheduled(&all.firings), missed);
    assert_eq!((all.skipped, all.note), (0, None));
    assert!(
        all.firings[0]
            .cause
            .ends_with(", caught up at 2026-11-26T12:00:30Z")
    );

    let latest = due(
        "*/15 * * * *",
        "UTC",
        CatchUp::Latest,
        Some(last_tick),
        back,
    )?;
    assert_eq!(
        scheduled(&latest.firings),
        vec![utc(2026, 11, 26, 12, 0, 0)]
    );
    assert_eq!(latest.skipped, 11);
    assert_eq!(
        latest.note.as_deref(),
        Some(
            "catch_up = \"latest\": 11 older scheduled times since 2026-11-26T09:00:30Z were \
             skipped"
        )
    );

    let none = due("*/15 * * * *", "UTC", CatchUp::None, Some(last_tick), back)?;
    assert_eq!(scheduled(&none.firings), vec![utc(2026, 11, 26, 12, 0, 0)]);
    assert_eq!(none.skipped, 11);

    // Back at 12:05:30 instead: 12:00 is 5 minutes old, beyond the tolerance.
    let later = utc(2026, 11, 26, 12, 5, 30);
    let none = due("*/15 * * * *", "UTC", CatchUp::None, Some(last_tick), later)?;
    assert!(none.firings.is_empty());
    assert_eq!(none.skipped, 12);
    assert!(
        none.note
            .as_deref()
            .is_some_and(|n| n.contains("12 scheduled times"))
    );
    let latest = due(
        "*/15 * * * *",
        "UTC",
        CatchUp::Latest,
        Some(last_tick),
        later,
    )?;
    assert_eq!(
        scheduled(&latest.firings),
        vec![utc(2026, 11, 26, 12, 0, 0)]
    );
    assert_eq!(latest.cursor, later);
    Ok(())
}

#[test]
fn catch_up_all_is_capped_at_the_latest_thousand() -> anyhow::Result<()> {
    let now = utc(2026, 11, 26, 12, 0, 0);
    let cursor = now - TimeDelta::hours(2);
    // Every second: (cursor, now] holds 7200 times; the latest 1000 fire, 6200 are skipped.
    let result = due("* * * * * *", "UTC", CatchUp::All, Some(cursor), now)?;
    assert_eq!(MAX_CATCH_UP, 1000);
    assert_eq!(result.firings.len(), 1000);
    assert_eq!(
        result.firings[0].scheduled_for,
        Some(now - TimeDelta::seconds(999))
    );
    assert_eq!(result.firings[999].scheduled_for, Some(now));
    assert_eq!(result.skipped, 6200);
    let note = result.note.context("a capped catch-up says so")?;
    assert!(
        note.contains("at most 1000") && note.contains("6200"),
        "{note}"
    );
    Ok(())
}

#[test]
fn catch_up_none_fires_every_time_within_the_tolerance() -> anyhow::Result<()> {
    let now = utc(2026, 11, 26, 12, 0, 0);
    // Every second, back after an hour: the 60 times in (11:59:00, 12:00:00] are on time,
    // the 3600 - 60 = 3540 before them were missed.
    let result = due(
        "* * * * * *",
        "UTC",
        CatchUp::None,
        Some(now - TimeDelta::hours(1)),
        now,
    )?;
    let expected: Vec<DateTime<Utc>> = (0..60).rev().map(|k| now - TimeDelta::seconds(k)).collect();
    assert_eq!(scheduled(&result.firings), expected);
    assert_eq!(result.skipped, 3540);
    assert_eq!(
        result.note.as_deref(),
        Some(
            "catch_up = \"none\": 3540 scheduled times since 2026-11-26T11:00:00Z were missed \
             and skipped (the ones due within the tolerance fire)"
        )
    );
    Ok(())
}

#[test]
fn first_evaluation_fires_nothing_from_the_past() -> anyhow::Result<()> {
    let now = utc(2026, 11, 26, 12, 0, 0);
    for catch_up in [CatchUp::None, CatchUp::Latest, CatchUp::All] {
        // 12:00 itself is a scheduled time; it is not fired either.
        let first = due("*/15 * * * *", "UTC", catch_up, None, now)?;
        assert!(first.firings.is_empty(), "{catch_up:?}");
        assert_eq!((first.cursor, first.skipped), (now, 0));
    }
    // A clock that went back: nothing fires and the cursor stays.
    let ahead = now + TimeDelta::hours(1);
    let back = due("*/15 * * * *", "UTC", CatchUp::All, Some(ahead), now)?;
    assert!(back.firings.is_empty());
    assert_eq!(back.cursor, ahead);
    Ok(())
}

#[test]
fn lisbon_three_am_is_three_utc_in_winter_and_two_in_summer() -> anyhow::Result<()> {
    let winter = next_fire("n", "0 3 * * *", "Europe/Lisbon", utc(2026, 1, 10, 0, 0, 0))?;
    assert_eq!(winter, Some(utc(2026, 1, 10, 3, 0, 0)));
    let summer = next_fire("n", "0 3 * * *", "Europe/Lisbon", utc(2026, 7, 10, 0, 0, 0))?;
    assert_eq!(summer, Some(utc(2026, 7, 10, 2, 0, 0)));
    // Strictly after: from the firing time itself, the next one is a day later.
    let after = next_fire("n", "0 3 * * *", "Europe/Lisbon", utc(2026, 1, 10, 3, 0, 0))?;
    assert_eq!(after, Some(utc(2026, 1, 11, 3, 0, 0)));

    // Across the spring-forward day (2026-03-29), evaluated as one catch-up window.
    let result = due(
        "0 3 * * *",
        "Europe/Lisbon",
        CatchUp::All,
        Some(utc(2026, 3, 27, 12, 0, 0)),
        utc(2026, 3, 30, 0, 0, 0),
    )?;
    assert_eq!(
        scheduled(&result.firings),
        vec![utc(2026, 3, 28, 3, 0, 0), utc(2026, 3, 29, 2, 0, 0)]
    );
    assert_eq!(
        result.firings[1].cause,
        "cron 0 3 * * * (Europe/Lisbon) due 2026-03-29T02:00:00Z, caught up at \
         2026-03-30T00:00:00Z"
    );
    Ok(())
}

#[test]
fn a_time_in_the_spring_forward_gap_fires_once_right_after_it() -> anyhow::Result<()> {
    // Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day.
    // The firing comes at 03:00 CEST = 01:00 UTC; the days around keep 02:30 local
    // (01:30 UTC in winter, 00:30 UTC in summer).
    let result = due(
        "30 2 * * *",
        "Europe/Berlin",
        CatchUp::All,
        Some(utc(2026, 3, 27, 12, 0, 0)),
        utc(2026, 3, 30, 12, 0, 0),
    )?;
    assert_eq!(
        scheduled(&result.firings),
        vec![
            utc(2026, 3, 28, 1, 30, 0),
            utc(2026, 3, 29, 1, 0, 0),
            utc(2026, 3, 30, 0, 30, 0)
        ]
    );
    let next = next_fire(
        "n",
        "30 2 * * *",
        "Europe/Berlin",
        utc(2026, 3, 28, 12, 0, 0),
    )?;
    assert_eq!(next, Some(utc(2026, 3, 29, 1, 0, 0)));
    Ok(())
}

#[test]
fn the_fall_back_overlap_fires_a_fixed_time_once_and_steps_twice() -> anyhow::Result<()> {
    // Lisbon, 2026-10-25: 01:30 local happens at 00:30 UTC (WEST) and at 01:30 UTC (WET).
    let fixed = due(
        "30 1 * * *",
        "Europe/Lisbon",
        CatchUp::All,
        Some(utc(2026, 10, 24, 12, 0, 0)),
        utc(2026, 10, 25, 12, 0, 0),
    )?;
    assert_eq!(scheduled(&fixed.firings), vec![utc(2026, 10, 25, 0, 30, 0)]);

    // The local day 2026-10-25 lasts 25 hours, from 23:00 UTC the day before to 00:00 UTC
    // the day after: a half-hourly schedule fires 50 times in it.
    let stepped = due(
        "*/30 * * * *",
        "Europe/Lisbon",
        CatchUp::All,
        Some(utc(2026, 10, 24, 23, 0, 0)),
        utc(2026, 10, 26, 0, 0, 0),
    )?;
    let expected: Vec<DateTime<Utc>> = (1..=50)
        .map(|k| utc(2026, 10, 24, 23, 0, 0) + TimeDelta::minutes(30 * k))
        .collect();
    assert_eq!(scheduled(&stepped.firings), expected);
    Ok(())
}

#[test]
fn invalid_cron_expressions_are_refused_naming_the_field() {
    let cases = [
        ("61 * * * *", "minute 61 out of range 0-59"),
        ("0 24 * * *", "hour 24 out of range 0-23"),
        ("0 0 0 * *", "day-of-month 0 out of range 1-31"),
        ("0 0 * 13 *", "month 13 out of range 1-12"),
        ("0 0 * * 8", "day-of-week 8 out of range 0-7"),
        ("0 0-70 * * *", "hour 70 out of range 0-23"),
        ("60 0 0 * * *", "second 60 out of range 0-59"),
        ("*/0 * * * *", "minute field \"*/0\": step cannot be zero"),
        (
            "0 0 x * *",
            "day-of-month field \"x\": it contains a character cron does not accept",
        ),
        (
            "* * *",
            "it has 3 fields; expected 5 (minute hour day-of-month month day-of-week) or 6 \
             (second minute hour day-of-month month day-of-week)",
        ),
        (
            "0 0 30 2 *",
            "it never matches a real date (such as 30 February)",
        ),
        (
            "@fortnightly",
            "unknown nickname; expected @yearly, @annually, @monthly, @weekly, @daily or \
             @hourly",
        ),
        ("  ", "it is empty"),
    ];
    for (schedule, reason) in cases {
        assert_eq!(
            check_schedule(schedule),
            Err(format!("invalid cron expression {schedule:?}: {reason}")),
        );
    }
    for fine in [
        "@daily",
        "0 3 * * MON-FRI",
        "0 0 29 2 *",
        "30 0 3 * * *",
        "0 0 L * *",
    ] {
        assert_eq!(check_schedule(fine), Ok(()), "{fine}");
    }
}

#[test]
fn unknown_time_zones_are_refused_with_a_suggestion() {
    assert_eq!(
        check_timezone("Europe/Lisbo"),
        Err(
            "unknown time zone \"Europe/Lisbo\" (not an IANA time zone name); did you mean \
             \"Europe/Lisbon\"?"
                .into()
        )
    );
    assert_eq!(
        check_timezone("europe/lisbon"),
        Err(
            "unknown time zone \"europe/lisbon\" (not an IANA time zone name); did you mean \
             \"Europe/Lisbon\"?"
                .into()
        )
    );
    assert_eq!(
        check_timezone("Mars/Olympus_Mons"),
        Err("unknown time zone \"Mars/Olympus_Mons\" (not an IANA time zone name)".into())
    );
    assert_eq!(
        check_timezone(""),
        Err("the time zone is empty; use an IANA name such as \"UTC\" or \"Europe/Lisbon\"".into())
    );
    for fine in [
        "UTC",
        "Europe/Lisbon",
        "America/Argentina/Buenos_Aires",
        "Etc/GMT+2",
    ] {
        assert_eq!(check_timezone(fine), Ok(()), "{fine}");
    }
}

#[test]
fn evaluating_a_bad_trigger_names_it() {
    let now = utc(2026, 11, 26, 12, 0, 0);
    let bad_schedule = cron_due(
        "nightly",
        "61 * * * *",
        "UTC",
        CatchUp::All,
        TICK,
        None,
        now,
    );
    match bad_schedule {
        Err(e @ TriggerError::Schedule { .. }) => assert_eq!(
            e.to_string(),
            "trigger \"nightly\": invalid cron expression \"61 * * * *\": minute 61 out of range \
             0-59"
        ),
        other => panic!("expected a schedule error, got {other:?}"),
    }
    match next_fire("nightly", "0 3 * * *", "Europe/Lisbo", now) {
        Err(e @ TriggerError::Timezone { .. }) => {
            assert!(
                e.to_string()
                    .starts_with("trigger \"nightly\": unknown time zone"),
                "{e}"
            );
        }
        other => panic!("expected a time zone error, got {other:?}"),
    }
}

#[test]
fn pipeline_files_with_a_bad_schedule_or_zone_are_refused() {
    let file = |schedule: &str, timezone: &str| {
        format!(
            "[pipeline]\nname = \"p\"\n\n[steps.a]\ncommand = [\"true\"]\n\n[[triggers]]\n\
             type = \"cron\"\nschedule = \"{schedule}\"\ntimezone = \"{timezone}\"\n"
        )
    };
    match PipelineSpec::parse("pipeline.toml", &file("61 * * * *", "UTC")) {
        Err(Error::Spec(problems)) => {
            assert_eq!(problems.len(), 1);
            assert_eq!(problems[0].key, "triggers[0].schedule");
            assert_eq!(
                problems[0].message,
                "invalid cron expression \"61 * * * *\": minute 61 out of range 0-59"
            );
        }
        other => panic!("expected a spec error, got {other:?}"),
    }
    match PipelineSpec::parse("pipeline.toml", &file("0 3 * * *", "Europe/Lisbo")) {
        Err(Error::Spec(problems)) => {
            assert_eq!(problems[0].key, "triggers[0].timezone");
            assert!(
                problems[0]
                    .message
                    .contains("did you mean \"Europe/Lisbon\"?")
            );
        }
        other => panic!("expected a spec error, got {other:?}"),
    }
    assert!(PipelineSpec::parse("pipeline.toml", &file("0 3 * * *", "Europe/Lisbon")).is_ok());
}

// ---------------------------------------------------------------- upstream and hook

#[test]
fn upstream_and_hook_firings() {
    let up = upstream_firing("after-etl", "etl", "run-42");
    assert_eq!(up.trigger, "after-etl");
    assert_eq!(up.idempotency_key, "upstream:run-42");
    assert_eq!(up.cause, "pipeline etl run run-42 succeeded");
    assert!(up.params.is_empty() && up.scheduled_for.is_none());

    let params = BTreeMap::from([("reason".to_string(), json!("drift"))]);
    let keyed = hook_firing(
        "hook",
        Some("drift-7".into()),
        "drift alert".into(),
        params.clone(),
    );
    assert_eq!(keyed.idempotency_key, "drift-7");
    assert_eq!(
        (keyed.cause.as_str(), &keyed.params),
        ("drift alert", &params)
    );

    let a = hook_firing("hook", None, "manual".into(), BTreeMap::new());
    let b = hook_firing("hook", None, "manual".into(), BTreeMap::new());
    assert!(a.idempotency_key.starts_with("hook:"));
    assert_ne!(
        a.idempotency_key, b.idempotency_key,
        "unkeyed calls fire each time"
    );
}

// ---------------------------------------------------------------- local files

/// Writes `bytes` to `dir/rel` (creating directories) with the modification time `mtime`.
fn write_file(dir: &Path, rel: &str, bytes: &[u8], mtime: DateTime<Utc>) -> anyhow::Result<()> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, bytes)?;
    let file = std::fs::File::options().write(true).open(&path)?;
    file.set_modified(SystemTime::from(mtime))?;
    Ok(())
}

fn param_paths(firings: &[Firing]) -> Vec<&str> {
    firings
        .iter()
        .filter_map(|f| f.params.get("file").and_then(Value::as_str))
        .collect()
}

#[tokio::test]
async fn a_new_file_fires_once_and_again_when_rewritten() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let base = dir.path();
    let t1 = utc(2026, 11, 26, 10, 0, 0);
    write_file(base, "data/in/a.csv", b"x,y", t1)?;
    write_file(base, "data/in/notes.txt", b"not csv", t1)?;
    write_file(base, "data/in/.partial.csv", b"hidden", t1)?;

    let first = scan_new_data("landing", "data/in/*.csv", "file", base).await?;
    let a = base.join("data/in/a.csv");
    let a = a.to_str().context("temp path is UTF-8")?;
    assert_eq!(param_paths(&first), vec![a]);
    assert_eq!(
        first[0].idempotency_key,
        format!("new_data:{a}:3:2026-11-26T10:00:00.000000000Z")
    );
    assert_eq!(
        first[0].cause,
        format!("new file {a} (3 bytes, modified 2026-11-26T10:00:00.000000000Z)")
    );
    assert_eq!(first[0].trigger, "landing");

    let again = scan_new_data("landing", "data/in/*.csv", "file", base).await?;
    assert_eq!(
        again, first,
        "an unchanged file gives the same key on every scan"
    );

    // An older file appears: it is listed first; a's key is unchanged.
    write_file(base, "data/in/b.csv", b"1,2,3", t1 - TimeDelta::hours(1))?;
    let both = scan_new_data("landing", "data/in/*.csv", "file", base).await?;
    let b = base.join("data/in/b.csv");
    assert_eq!(param_paths(&both), vec![b.to_str().context("UTF-8")?, a]);
    assert_eq!(both[1], first[0]);

    // a.csv rewritten with another size (same modification time): a new key.
    write_file(base, "data/in/a.csv", b"x,y\n1,2", t1)?;
    let rewritten = scan_new_data("landing", "data/in/*.csv", "file", base).await?;
    assert_eq!(rewritten[0], both[0], "b.csv did not change");
    assert_eq!(
        rewritten[1].idempotency_key,
        format!("new_data:{a}:7:2026-11-26T10:00:00.000000000Z")
    );
    // Touched only (same size, later time): a new key as well.
    write_file(
        base,
        "data/in/a.csv",
        b"x,y\n1,2",
        t1 + TimeDelta::seconds(1),
    )?;
    let touched = scan_new_data("landing", "data/in/*.csv", "file", base).await?;
    assert_ne!(touched[1].idempotency_key, rewritten[1].idempotency_key);
    Ok(())
}

#[tokio::test]
async fn bad_new_data_paths_are_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let missing = scan_new_data("landing", "nowhere/*.csv", "file", dir.path()).await;
    match missing {
        Err(
            e @ TriggerError::Glob {
                source: GlobError::StartDir { .. },
                ..
            },
        ) => {
            let text = e.to_string();
            assert!(text.starts_with("trigger \"landing\": glob pattern \"nowhere/*.csv\""));
            assert!(text.ends_with("nowhere does not exist"), "{text}");
        }
        other => panic!("expected a missing-directory error, got {other:?}"),
    }
    std::fs::write(dir.path().join("plain"), b"a file")?;
    match scan_new_data("landing", "plain/*.csv", "file", dir.path()).await {
        Err(e) => assert!(e.to_string().ends_with("plain is not a directory"), "{e}"),
        Ok(v) => bail!("a file is not a directory to scan, got {v:?}"),
    }
    let cases = [
        ("gs://bucket/x.csv", "unsupported scheme \"gs\""),
        (
            "s3://bucket/*/x.csv",
            "wildcards are allowed in the last segment only",
        ),
        ("s3://bucket/in/**", "`**` is not supported in s3 paths"),
        ("s3://bucket/in/[abc", "a `[` is not closed by `]`"),
    ];
    for (path, reason) in cases {
        match scan_new_data("landing", path, "file", dir.path()).await {
            Err(e @ TriggerError::Path { .. }) => {
                assert!(e.to_string().contains(reason), "{path}: {e}");
            }
            other => panic!("{path}: expected a path error, got {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn a_matching_file_name_that_is_not_utf8_is_refused() -> anyhow::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir()?;
    let name = std::ffi::OsStr::from_bytes(b"bad-\xff.csv");
    std::fs::write(dir.path().join(name), b"1")?;
    std::fs::write(dir.path().join("good.csv"), b"1")?;
    match glob_files(dir.path(), "*.csv") {
        Err(e @ GlobError::NotUtf8 { .. }) => {
            assert!(
                e.to_string().ends_with("bad-\u{fffd}.csv is not UTF-8"),
                "{e}"
            );
        }
        other => bail!("expected a UTF-8 error, got {other:?}"),
    }
    // Not matching, it is no obstacle.
    assert_eq!(
        glob_files(dir.path(), "good.*")?,
        [dir.path().join("good.csv")]
    );
    Ok(())
}

fn names(base: &Path, found: &[PathBuf]) -> Vec<String> {
    found
        .iter()
        .map(|p| {
            p.strip_prefix(base)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn glob_files_walks_directories_and_matches_names() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let base = dir.path();
    let t = utc(2026, 11, 26, 10, 0, 0);
    for rel in [
        "top.csv",
        "a/1.csv",
        "a/b/2.csv",
        "a/b/c/3.csv",
        "a/b/c/3.txt",
        "a/.hidden/4.csv",
        "x/p1.csv",
        "x/p2.csv",
        "x/pa.csv",
        "x/p10.csv",
    ] {
        write_file(base, rel, b"1", t)?;
    }
    std::os::unix::fs::symlink(base.join("a/b"), base.join("a/link"))?;

    let glob = |pattern: &str| -> anyhow::Result<Vec<String>> {
        Ok(names(base, &glob_files(base, pattern)?))
    };
    assert_eq!(
        glob("**/*.csv")?,
        [
            "a/1.csv",
            "a/b/2.csv",
            "a/b/c/3.csv",
            "top.csv",
            "x/p1.csv",
            "x/p10.csv",
            "x/p2.csv",
            "x/pa.csv"
        ]
    );
    assert_eq!(
        glob("a/**")?,
        ["a/1.csv", "a/b/2.csv", "a/b/c/3.csv", "a/b/c/3.txt"]
    );
    assert_eq!(glob("a/**/c/*")?, ["a/b/c/3.csv", "a/b/c/3.txt"]);
    assert_eq!(glob("x/p?.csv")?, ["x/p1.csv", "x/p2.csv", "x/pa.csv"]);
    assert_eq!(glob("x/p[0-9].csv")?, ["x/p1.csv", "x/p2.csv"]);
    assert_eq!(glob("x/p[!0-9]*")?, ["x/pa.csv"]);
    assert_eq!(glob("a/.hidden/*")?, ["a/.hidden/4.csv"]);
    // A named link is followed; `**` does not enter it.
    assert_eq!(glob("a/link/*.csv")?, ["a/link/2.csv"]);
    assert_eq!(glob("top.csv")?, ["top.csv"]);
    assert_eq!(glob("missing.csv")?, Vec::<String>::new());
    // Absolute patterns ignore the base directory.
    let absolute = format!("{}/x/p1*", base.display());
    assert_eq!(
        glob_files(Path::new("/elsewhere"), &absolute)?,
        [base.join("x/p1.csv"), base.join("x/p10.csv")]
    );
    Ok(())
}

#[test]
fn bad_glob_patterns_are_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cases = [
        ("", "invalid glob pattern \"\": it is empty"),
        (
            "data/",
            "invalid glob pattern \"data/\": it ends with '/'; add a file pattern such as `dir/*`",
        ),
        (
            "a**/x",
            "invalid glob pattern \"a**/x\": `**` must be a whole path segment, not part of \
             \"a**\"",
        ),
        (
            "[abc",
            "invalid glob pattern \"[abc\": a `[` is not closed by `]`",
        ),
        (
            "[z-a]",
            "invalid glob pattern \"[z-a]\": the range `z-a` in `[...]` is reversed",
        ),
    ];
    for (pattern, message) in cases {
        match glob_files(dir.path(), pattern) {
            Err(e @ GlobError::Pattern { .. }) => assert_eq!(e.to_string(), message),
            other => bail!("{pattern:?}: expected a pattern error, got {other:?}"),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- S3 (moto)

const S3_BUCKET: &str = "esteira-triggers";

/// A moto server in its own process group, stopped (group and all) on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn venv_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
}

fn moto_importable() -> bool {
    Command::new(venv_python())
        .args(["-c", "import moto.server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn start_moto(log: &Path) -> anyhow::Result<Moto> {
    let port = free_port()?;
    let log = std::fs::File::create(log)?;
    let child = Command::new(venv_python())
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("starting moto")?;
    let moto = Moto { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        ensure!(
            Instant::now() < deadline,
            "moto did not listen on port {port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let create = format!(
        "import urllib.request as r; r.urlopen(r.Request('http://127.0.0.1:{port}/{S3_BUCKET}', \
         method='PUT'))"
    );
    let made = Command::new(venv_python()).args(["-c", &create]).status()?;
    ensure!(made.success(), "creating bucket {S3_BUCKET} in moto failed");
    Ok(moto)
}

#[test]
fn s3_prefix_listing_against_moto() -> anyhow::Result<()> {
    if !moto_importable() {
        ensure!(
            !services_required(),
            "moto is required here (CI=true or ESTEIRA_REQUIRE_SERVICES=1) but cannot be \
             imported from {}",
            venv_python().display()
        );
        skip_notice("s3_prefix_listing_against_moto", "moto cannot be imported");
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("moto.log");
    let moto = start_moto(&log)?;
    // The S3 settings come from the environment; a child process gets them without this
    // (multi-threaded) test process changing its own.
    let output = Command::new(std::env::current_exe()?)
        .args(["--exact", "s3_listing_in_child", "--ignored", "--nocapture"])
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", moto.port),
        )
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ALLOW_HTTP", "true")
        .env("ESTEIRA_TRIGGERS_S3_BUCKET", S3_BUCKET)
        .output()?;
    drop(moto);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        output.status.success() && stdout.contains("1 passed"),
        "the S3 child test failed:\n{stdout}\n{stderr}\nmoto log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    Ok(())
}

#[tokio::test]
#[ignore = "run by s3_prefix_listing_against_moto, with moto's S3 in its environment"]
async fn s3_listing_in_child() -> anyhow::Result<()> {
    let bucket = std::env::var("ESTEIRA_TRIGGERS_S3_BUCKET")
        .context("run through s3_prefix_listing_against_moto")?;
    let store = ArtifactStore::from_url(&format!("s3://{bucket}"))?;
    let put = |path: &'static str, body: &'static [u8]| {
        let store = store.clone();
        async move {
            store
                .put_bytes(&ArtifactPath::parse(path)?, Bytes::from_static(body))
                .await
                .with_context(|| format!("uploading {path}"))
        }
    };
    put("in/b.csv", b"1,2,3").await?;
    put("in/a.csv", b"x,y").await?;
    put("in/notes.txt", b"text").await?;
    put("in/sub/c.csv", b"c").await?;
    put("other/x.csv", b"x").await?;
    let base = Path::new("/unused");

    let csv = format!("s3://{bucket}/in/*.csv");
    let first = scan_new_data("landing", &csv, "file", base).await?;
    assert_eq!(
        param_paths(&first),
        [
            format!("s3://{bucket}/in/a.csv"),
            format!("s3://{bucket}/in/b.csv")
        ]
    );
    assert_eq!(
        keys(&first),
        [
            format!("new_data:s3://{bucket}/in/a.csv:3"),
            format!("new_data:s3://{bucket}/in/b.csv:5")
        ]
    );
    assert_eq!(
        first[0].cause,
        format!("new object s3://{bucket}/in/a.csv (3 bytes)")
    );
    assert_eq!(scan_new_data("landing", &csv, "file", base).await?, first);

    let everything = scan_new_data("landing", &format!("s3://{bucket}/in"), "file", base).await?;
    assert_eq!(
        param_paths(&everything),
        [
            format!("s3://{bucket}/in/a.csv"),
            format!("s3://{bucket}/in/b.csv"),
            format!("s3://{bucket}/in/notes.txt"),
            format!("s3://{bucket}/in/sub/c.csv")
        ]
    );

    put("in/b.csv", b"1,2,3,4,5").await?;
    let rewritten = scan_new_data("landing", &csv, "file", base).await?;
    assert_eq!(rewritten[0], first[0]);
    assert_eq!(
        rewritten[1].idempotency_key,
        format!("new_data:s3://{bucket}/in/b.csv:9")
    );
    Ok(())
}

// ---------------------------------------------------------------- watermark (PostgreSQL)

fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("ESTEIRA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                !services_required(),
                "{test}: PostgreSQL is required here (CI=true or ESTEIRA_REQUIRE_SERVICES=1) \
                 but ESTEIRA_TEST_POSTGRES_URL is not set"
            );
            skip_notice(test, "set ESTEIRA_TEST_POSTGRES_URL to run it");
            None
        }
    }
}

async fn value_of(url: &str, query: &str) -> anyhow::Result<Option<String>> {
    let firing = watermark("fresh", url, query, "since").await?;
    Ok(firing.map(|f| {
        let value = f.params["since"].as_str().unwrap_or_default().to_string();
        assert_eq!(f.idempotency_key, format!("watermark:{value}"));
        value
    }))
}

#[tokio::test]
async fn watermark_values_render_as_postgres_text() -> anyhow::Result<()> {
    let Some(url) = postgres_url("watermark_values_render_as_postgres_text") else {
        return Ok(());
    };
    // Expected texts are PostgreSQL's own output formats for these literals.
    assert_eq!(
        value_of(&url, "SELECT DATE '2026-11-25'").await?.as_deref(),
        Some("2026-11-25")
    );
    assert_eq!(
        value_of(&url, "SELECT 42::bigint").await?.as_deref(),
        Some("42")
    );
    assert_eq!(
        value_of(&url, "SELECT 1.50::numeric").await?.as_deref(),
        Some("1.50")
    );
    assert_eq!(
        value_of(&url, "SELECT 'v2'::text").await?.as_deref(),
        Some("v2")
    );
    assert_eq!(value_of(&url, "SELECT NULL::date").await?, None);
    assert_eq!(value_of(&url, "SELECT 1 WHERE false").await?, None);

    let firing = watermark("fresh", &url, "SELECT DATE '2026-11-25'", "since")
        .await?
        .context("a value fires")?;
    assert_eq!(firing.trigger, "fresh");
    assert_eq!(firing.cause, "watermark since = 2026-11-25");
    assert_eq!(
        firing.params,
        BTreeMap::from([("since".to_string(), json!("2026-11-25"))])
    );
    Ok(())
}

async fn exec(db: &mut PgConnection, sql: String) -> anyhow::Result<()> {
    sqlx::raw_sql(AssertSqlSafe(sql)).execute(db).await?;
    Ok(())
}

#[tokio::test]
async fn a_new_watermark_value_gets_a_new_key() -> anyhow::Result<()> {
    let Some(url) = postgres_url("a_new_watermark_value_gets_a_new_key") else {
        return Ok(());
    };
    let table = format!("triggers_wm_{}", uuid::Uuid::new_v4().simple());
    let mut db = PgConnection::connect(&url).await?;
    exec(&mut db, format!("CREATE TABLE {table} (loaded date)")).await?;
    let query = format!("SELECT max(loaded) FROM {table}");
    let outcome = async {
        assert_eq!(
            value_of(&url, &query).await?,
            None,
            "an empty table has no watermark"
        );
        exec(
            &mut db,
            format!("INSERT INTO {table} VALUES ('2026-11-24')"),
        )
        .await?;
        let first = watermark("fresh", &url, &query, "since").await?;
        let again = watermark("fresh", &url, &query, "since").await?;
        assert_eq!(first, again, "an unchanged value keeps its key");
        exec(
            &mut db,
            format!("INSERT INTO {table} VALUES ('2026-11-25')"),
        )
        .await?;
        let newer = watermark("fresh", &url, &query, "since").await?;
        assert_eq!(
            keys(&[first.context("a value")?, newer.context("a value")?]),
            ["watermark:2026-11-24", "watermark:2026-11-25"]
        );
        anyhow::Ok(())
    }
    .await;
    exec(&mut db, format!("DROP TABLE {table}")).await?;
    outcome
}

#[tokio::test]
async fn bad_watermark_queries_are_refused() -> anyhow::Result<()> {
    let Some(url) = postgres_url("bad_watermark_queries_are_refused") else {
        return Ok(());
    };
    for (query, reason) in [
        (
            "SELECT 1, 2",
            "the query returns 2 columns; a watermark query returns one",
        ),
        ("SELEC 1", "syntax error at or near \"SELEC\""),
        (
            "SELECT * FROM no_such_table_here",
            "relation \"no_such_table_here\" does not exist",
        ),
    ] {
        match watermark("fresh", &url, query, "since").await {
            Err(e @ TriggerError::Watermark { .. }) => assert_eq!(
                e.to_string(),
                format!("trigger \"fresh\": watermark query: {reason}")
            ),
            other => bail!("{query}: expected a watermark error, got {other:?}"),
        }
    }
    Ok(())
}

#[tokio::test]
async fn watermark_connection_errors_hide_the_password() -> anyhow::Result<()> {
    // Nothing listens on port 1 of the loopback: the connection is refused at once.
    let url = "postgres://user:hunter2@127.0.0.1:1/db";
    match watermark("fresh", url, "SELECT 1", "since").await {
        Err(e @ TriggerError::Watermark { .. }) => {
            let text = e.to_string();
            assert!(
                text.starts_with("trigger \"fresh\": watermark query: connecting:"),
                "{text}"
            );
            assert!(!text.contains("hunter2"), "{text}");
        }
        other => bail!("expected a connection error, got {other:?}"),
    }
    match watermark(
        "fresh",
        "postgres://u:hunter2@127.0.0.1:port/db",
        "SELECT 1",
        "since",
    )
    .await
    {
        Err(e) => assert_eq!(
            e.to_string(),
            "trigger \"fresh\": watermark query: the url is not a valid PostgreSQL url: invalid \
             port number"
        ),
        Ok(v) => bail!("a url without a numeric port must be refused, got {v:?}"),
    }
    match watermark("fresh", "mysql://db/x", "SELECT 1", "since").await {
        Err(e) => assert_eq!(
            e.to_string(),
            "trigger \"fresh\": watermark query: the url must start with postgres:// or \
             postgresql://"
        ),
        Ok(v) => bail!("a mysql url must be refused, got {v:?}"),
    }
    Ok(())
}
