//! Cron schedules: validation, due times and catch-up.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};

use super::{Firing, TriggerError};
use crate::spec::CatchUp;

/// The most firings one [`cron_due`] call returns. With `catch_up = "all"`, older missed times
/// beyond this many are dropped (and reported in [`CronDue::note`]).
pub const MAX_CATCH_UP: usize = 1000;

/// [`CronDue::skipped`] counts up to this many times, then stops counting.
pub const SKIPPED_COUNT_LIMIT: usize = 10_000;

/// What one evaluation of a cron trigger decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronDue {
    /// The firings due, oldest first.
    pub firings: Vec<Firing>,
    /// The cursor to store for the next evaluation.
    pub cursor: DateTime<Utc>,
    /// How many scheduled times after the old cursor were passed over without a firing,
    /// counted up to [`SKIPPED_COUNT_LIMIT`] (that value means "at least that many").
    pub skipped: usize,
    /// A sentence for the engine's log when times were skipped.
    pub note: Option<String>,
}

/// A parsed schedule in its time zone.
struct Schedule<'a> {
    trigger: &'a str,
    text: &'a str,
    timezone: &'a str,
    cron: Cron,
    tz: Tz,
}

/// The fields of a cron expression: name, smallest and largest value.
const MINUTE_TO_WEEKDAY: [(&str, u32, u32); 5] = [
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
];
const SECOND: (&str, u32, u32) = ("second", 0, 59);

/// Checks a cron expression: 5 fields (minute hour day-of-month month day-of-week), 6 fields
/// (a second field first), or one of `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`,
/// `@hourly`. Fields take numbers, `*`, ranges `a-b`, lists `a,b`, steps `*/n`, month and
/// weekday names (`JAN`, `MON`), and `L`, `W`, `#` as croner reads them. An expression that
/// never matches a real date (`0 0 30 2 *`) is refused.
///
/// # Errors
/// A sentence quoting the expression and naming the field at fault, such as
/// `invalid cron expression "61 * * * *": minute 61 out of range 0-59`.
pub fn check_schedule(schedule: &str) -> Result<(), String> {
    parse_schedule(schedule).map(|_| ())
}

/// Checks an IANA time zone name (`UTC`, `Europe/Lisbon`); names are case-sensitive.
///
/// # Errors
/// A sentence quoting the name, with the closest known name when one is near.
pub fn check_timezone(timezone: &str) -> Result<(), String> {
    parse_timezone(timezone).map(|_| ())
}

/// Decides which scheduled times of a cron trigger fire now.
///
/// `cursor` is the `now` of the previous evaluation of this trigger (`None` for the first one),
/// and the candidates are the scheduled times in `(cursor, now]`:
///
/// - first evaluation (`cursor` is `None`): nothing fires, whatever the past held; the cursor
///   becomes `now`;
/// - `CatchUp::All`: every candidate fires, oldest first; past [`MAX_CATCH_UP`] of them only the
///   latest `MAX_CATCH_UP` fire and the older ones are skipped, with a note;
/// - `CatchUp::Latest`: only the latest candidate fires; older ones are skipped;
/// - `CatchUp::None`: only candidates within `tolerance` before `now` (the engine's tick) fire,
///   every one of them (up to [`MAX_CATCH_UP`]); older ones were missed and are skipped.
///
/// In normal running (`cursor` one tick before `now`), all three fire each scheduled time once,
/// at the first evaluation at or after it (`Latest` coalesces several times due within one tick
/// into the last). The returned cursor is `now`; when `now` is not after `cursor` (a clock that
/// went back), nothing fires and the cursor is kept.
///
/// Each firing is keyed `cron:<scheduled time in UTC, RFC 3339>`, so evaluating the same
/// window twice gives the same keys. Its cause reads
/// `cron 0 3 * * * (Europe/Lisbon) due 2026-11-26T03:00:00Z`, plus `, caught up at <now>`
/// when it is older than `tolerance`.
///
/// Daylight-saving changes follow croner's rules, on wall-clock time in `timezone`:
/// - in a spring-forward gap, a fixed time that does not exist that day (02:30 in
///   Europe/Berlin on 2026-03-29, when 02:00 jumps to 03:00) fires once at the first instant
///   after the gap (03:00 local); wildcard and step fields (`*/15`) simply have no times
///   inside the gap;
/// - in a fall-back overlap, a fixed time (01:30 in Europe/Lisbon on 2026-10-25) fires once,
///   at its first occurrence (summer time); wildcard and step fields fire in both passes.
///
/// # Errors
/// [`TriggerError::Schedule`] / [`TriggerError::Timezone`] as [`check_schedule`] /
/// [`check_timezone`] would refuse them; [`TriggerError::Evaluate`] if croner fails on a
/// date.
pub fn cron_due(
    name: &str,
    schedule: &str,
    timezone: &str,
    catch_up: CatchUp,
    tolerance: Duration,
    cursor: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<CronDue, TriggerError> {
    let parsed = Schedule::new(name, schedule, timezone)?;
    let Some(cursor) = cursor.filter(|c| *c < now) else {
        return Ok(CronDue {
            firings: Vec::new(),
            cursor: cursor.map_or(now, |c| c.max(now)),
            skipped: 0,
            note: None,
        });
    };
    let on_time_since = on_time_since(now, tolerance);
    let (lower, limit) = match catch_up {
        CatchUp::All => (cursor, MAX_CATCH_UP),
        CatchUp::Latest => (cursor, 1),
        CatchUp::None => (cursor.max(on_time_since), MAX_CATCH_UP),
    };
    let local_now = now.with_timezone(&parsed.tz);
    let mut due = parsed.times_back(&local_now, true, lower, limit)?;
    let skipped = match due.last() {
        Some(oldest) => parsed.times_back(oldest, false, cursor, SKIPPED_COUNT_LIMIT)?,
        None => parsed.times_back(&local_now, true, cursor, SKIPPED_COUNT_LIMIT)?,
    }
    .len();
    due.reverse();
    let note = (skipped > 0).then(|| skip_note(catch_up, skipped, cursor, &due));
    let firings = due
        .iter()
        .map(|t| parsed.firing(*t, now, on_time_since))
        .collect();
    Ok(CronDue {
        firings,
        cursor: now,
        skipped,
        note,
    })
}

/// The first scheduled time strictly after `after`, or `None` when there is none before the
/// year 5000 (croner's search limit).
///
/// # Errors
/// As [`cron_due`].
pub fn next_fire(
    name: &str,
    schedule: &str,
    timezone: &str,
    after: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, TriggerError> {
    let parsed = Schedule::new(name, schedule, timezone)?;
    let start = after.with_timezone(&parsed.tz);
    match parsed.cron.find_next_occurrence(&start, false) {
        Ok(t) => Ok(Some(t.with_timezone(&Utc))),
        Err(CronError::TimeSearchLimitExceeded) => Ok(None),
        Err(e) => Err(parsed.evaluate_error(&e)),
    }
}

impl<'a> Schedule<'a> {
    fn new(trigger: &'a str, text: &'a str, timezone: &'a str) -> Result<Self, TriggerError> {
        let cron = parse_schedule(text).map_err(|reason| TriggerError::Schedule {
            trigger: trigger.to_string(),
            reason,
        })?;
        let tz = parse_timezone(timezone).map_err(|reason| TriggerError::Timezone {
            trigger: trigger.to_string(),
            reason,
        })?;
        Ok(Schedule {
            trigger,
            text,
            timezone,
            cron,
            tz,
        })
    }

    /// Scheduled times after `lower` and before `from` (or at it, when `inclusive`), newest
    /// first, at most `limit`. The times keep their zone so that a search continuing from one
    /// stays on the same side of a fall-back overlap.
    fn times_back(
        &self,
        from: &DateTime<Tz>,
        inclusive: bool,
        lower: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DateTime<Tz>>, TriggerError> {
        let mut times = Vec::new();
        let mut at = *from;
        let mut inclusive = inclusive;
        while times.len() < limit {
            let previous = match self.cron.find_previous_occurrence(&at, inclusive) {
                Ok(t) => t,
                Err(CronError::TimeSearchLimitExceeded) => break,
                Err(e) => return Err(self.evaluate_error(&e)),
            };
            if previous.with_timezone(&Utc) <= lower {
                break;
            }
            times.push(previous);
            at = previous;
            inclusive = false;
        }
        Ok(times)
    }

    fn firing(&self, at: DateTime<Tz>, now: DateTime<Utc>, on_time_since: DateTime<Utc>) -> Firing {
        let at = at.with_timezone(&Utc);
        let stamp = at.to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut cause = format!("cron {} ({}) due {stamp}", self.text, self.timezone);
        if at < on_time_since {
            cause.push_str(&format!(
                ", caught up at {}",
                now.to_rfc3339_opts(SecondsFormat::Secs, true)
            ));
        }
        Firing {
            trigger: self.trigger.to_string(),
            idempotency_key: format!("cron:{stamp}"),
            cause,
            params: Default::default(),
            scheduled_for: Some(at),
        }
    }

    fn evaluate_error(&self, error: &CronError) -> TriggerError {
        TriggerError::Evaluate {
            trigger: self.trigger.to_string(),
            schedule: self.text.to_string(),
            reason: error.to_string(),
        }
    }
}

/// The oldest scheduled time that still counts as on time at `now`.
fn on_time_since(now: DateTime<Utc>, tolerance: Duration) -> DateTime<Utc> {
    // A tolerance too long for TimeDelta reaches back further than any cursor.
    TimeDelta::from_std(tolerance)
        .ok()
        .and_then(|t| now.checked_sub_signed(t))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn skip_note(
    catch_up: CatchUp,
    skipped: usize,
    cursor: DateTime<Utc>,
    due: &[DateTime<Tz>],
) -> String {
    let count = if skipped >= SKIPPED_COUNT_LIMIT {
        format!("at least {skipped}")
    } else {
        skipped.to_string()
    };
    let since = cursor.to_rfc3339_opts(SecondsFormat::Secs, true);
    match catch_up {
        CatchUp::All => format!(
            "catch_up = \"all\" fires at most {MAX_CATCH_UP} missed times at once: \
             {count} older scheduled times since {since} were skipped"
        ),
        CatchUp::Latest => format!(
            "catch_up = \"latest\": {count} older scheduled times since {since} were skipped"
        ),
        CatchUp::None => format!(
            "catch_up = \"none\": {count} scheduled times since {since} were missed and skipped{}",
            if due.is_empty() {
                ""
            } else {
                " (the ones due within the tolerance fire)"
            }
        ),
    }
}

fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
}

fn parse_schedule(schedule: &str) -> Result<Cron, String> {
    let invalid = |reason: String| format!("invalid cron expression {schedule:?}: {reason}");
    let trimmed = schedule.trim();
    if trimmed.is_empty() {
        return Err(invalid("it is empty".into()));
    }
    if trimmed.starts_with('@') {
        return parser().parse(trimmed).map_err(|_| {
            invalid(
                "unknown nickname; expected @yearly, @annually, @monthly, @weekly, @daily or \
                 @hourly"
                    .into(),
            )
        });
    }
    let fields: Vec<&str> = trimmed.split_whitespace().collect();
    let specs: Vec<(&str, u32, u32)> = match fields.len() {
        5 => MINUTE_TO_WEEKDAY.to_vec(),
        6 => std::iter::once(SECOND).chain(MINUTE_TO_WEEKDAY).collect(),
        n => {
            return Err(invalid(format!(
                "it has {n} fields; expected 5 (minute hour day-of-month month day-of-week) or \
                 6 (second minute hour day-of-month month day-of-week)"
            )));
        }
    };
    let cron = parser()
        .parse(trimmed)
        .map_err(|e| invalid(field_problem(&fields, &specs, &e)))?;
    let start = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single();
    if let Some(start) = start
        && let Err(CronError::TimeSearchLimitExceeded) = cron.find_next_occurrence(&start, false)
    {
        return Err(invalid(
            "it never matches a real date (such as 30 February)".into(),
        ));
    }
    Ok(cron)
}

/// Names the field that makes croner refuse the expression, by parsing each field alone with
/// `*` in the others.
fn field_problem(fields: &[&str], specs: &[(&str, u32, u32)], error: &CronError) -> String {
    for (i, (field, spec)) in fields.iter().zip(specs).enumerate() {
        let alone: Vec<&str> = (0..fields.len())
            .map(|j| if j == i { *field } else { "*" })
            .collect();
        if let Err(e) = parser().parse(&alone.join(" ")) {
            return explain_field(field, *spec, &e);
        }
    }
    readable(error)
}

fn explain_field(text: &str, (name, min, max): (&str, u32, u32), error: &CronError) -> String {
    match out_of_range(text, min, max) {
        Some(n) => format!("{name} {n} out of range {min}-{max}"),
        None => format!("{name} field {text:?}: {}", readable(error)),
    }
}

/// The first value (not a step after `/`, nor an occurrence after `#`) outside `min..=max`.
fn out_of_range(text: &str, min: u32, max: u32) -> Option<u64> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let is_step = start > 0 && matches!(bytes[start - 1], b'/' | b'#');
        let n = text[start..i].parse::<u64>().unwrap_or(u64::MAX);
        if !is_step && !(u64::from(min)..=u64::from(max)).contains(&n) {
            return Some(n);
        }
    }
    None
}

fn readable(error: &CronError) -> String {
    match error {
        CronError::ComponentError(m) | CronError::InvalidPattern(m) => {
            let m = m.trim_end_matches('.');
            let mut chars = m.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_lowercase().chain(chars).collect()
            })
        }
        CronError::IllegalCharacters(_) => "it contains a character cron does not accept".into(),
        other => other.to_string(),
    }
}

fn parse_timezone(timezone: &str) -> Result<Tz, String> {
    if timezone.trim().is_empty() {
        return Err(
            "the time zone is empty; use an IANA name such as \"UTC\" or \"Europe/Lisbon\"".into(),
        );
    }
    timezone.parse::<Tz>().map_err(|_| {
        let hint = closest_zone(timezone)
            .map(|z| format!("; did you mean {z:?}?"))
            .unwrap_or_default();
        format!("unknown time zone {timezone:?} (not an IANA time zone name){hint}")
    })
}

/// The known zone name equal to `name` ignoring case, else the one within 3 edits of it.
fn closest_zone(name: &str) -> Option<&'static str> {
    let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
    if let Some(same) = names.clone().find(|n| n.eq_ignore_ascii_case(name)) {
        return Some(same);
    }
    names
        .map(|n| (edit_distance(&n.to_lowercase(), &name.to_lowercase()), n))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, n)| n)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_character_edits() {
        // Hand-computed: kitten -> sitten -> sittin -> sitting.
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("lisbon", "lisbon"), 0);
    }

    #[test]
    fn out_of_range_ignores_steps_and_occurrences() {
        assert_eq!(out_of_range("61", 0, 59), Some(61));
        assert_eq!(out_of_range("1-70", 0, 59), Some(70));
        assert_eq!(out_of_range("*/90", 0, 59), None);
        assert_eq!(out_of_range("5#3", 0, 7), None);
        assert_eq!(out_of_range("0", 1, 31), Some(0));
    }
}
