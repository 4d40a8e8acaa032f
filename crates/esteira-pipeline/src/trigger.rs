//! Triggers: cron schedules, new data, watermarks, upstream pipelines and hooks.

/// Checks a cron expression (5 or 6 fields).
///
/// # Errors
/// Why the expression is invalid.
pub fn check_schedule(schedule: &str) -> Result<(), String> {
    let fields = schedule.split_whitespace().count();
    if (5..=6).contains(&fields) {
        Ok(())
    } else {
        Err(format!(
            "{schedule:?} has {fields} fields; a cron expression has 5 or 6"
        ))
    }
}

/// Checks an IANA time zone name.
///
/// # Errors
/// Why the name is not a known time zone.
pub fn check_timezone(timezone: &str) -> Result<(), String> {
    if timezone.is_empty() {
        Err("empty time zone".into())
    } else {
        Ok(())
    }
}
