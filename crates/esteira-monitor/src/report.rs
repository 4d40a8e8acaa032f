//! A monitor's history as one self-contained HTML page for people: the latest window's
//! alerts and per-column drift, the drift share and the watched metric against its band
//! over time (inline SVG charts), and every window's summary. It holds statistics only,
//! never a row of the monitored data, and loads nothing from the network.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use esteira_core::markup::escape;

use crate::window::WindowReport;

/// The HTML page of `reports` (one monitor's windows, oldest first).
pub fn html(monitor: &str, reports: &[WindowReport]) -> String {
    let mut page = String::with_capacity(16 * 1024);
    let _ = write!(
        page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Monitor {name}</title><style>{STYLE}</style></head><body>\
         <h1>Monitor <code>{name}</code></h1>",
        name = escape(monitor)
    );
    let Some(latest) = reports.last() else {
        page.push_str("<p>No window has been evaluated yet.</p></body></html>");
        return page;
    };
    let _ = write!(
        page,
        "<p>{} window(s) from {} to {}.</p>",
        reports.len(),
        time(reports[0].window_start),
        time(latest.window_end)
    );
    latest_section(&mut page, latest);
    charts(&mut page, reports);
    history_table(&mut page, reports);
    page.push_str("</body></html>");
    page
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}\
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}\
.alarm{color:#b00020;font-weight:600}.ok{color:#1b5e20}svg{background:#fafafa;border:1px solid #ddd}\
.muted{color:#777}";

fn latest_section(page: &mut String, w: &WindowReport) {
    let _ = write!(
        page,
        "<h2>Latest window: {} to {}</h2><p>{} row(s).</p>",
        time(w.window_start),
        time(w.window_end),
        w.rows
    );
    if w.alerts.is_empty() {
        page.push_str("<p class=\"ok\">No alert.</p>");
    } else {
        page.push_str("<ul class=\"alarm\">");
        for a in &w.alerts {
            let _ = write!(page, "<li>{}</li>", escape(a));
        }
        page.push_str("</ul>");
    }
    if let Some(why) = &w.drift_not_computed {
        let _ = write!(
            page,
            "<p class=\"muted\">Drift not computed: {}</p>",
            escape(why)
        );
    }
    if let Some(d) = &w.drift {
        page.push_str(
            "<h3>Drift per column</h3><table><tr><th>column</th><th>kind</th><th>method</th>\
             <th>threshold</th><th>score</th><th>drifted</th><th>not computed</th></tr>",
        );
        for c in &d.columns {
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
                escape(&c.column),
                c.kind
                    .map(|k| format!("{k:?}").to_lowercase())
                    .unwrap_or_default(),
                c.method.map(|m| m.name().to_string()).unwrap_or_default(),
                number(c.threshold),
                number(c.score),
                if c.drifted == Some(true) {
                    "alarm"
                } else {
                    "ok"
                },
                c.drifted.map(|d| d.to_string()).unwrap_or_default(),
                escape(c.not_computed.as_deref().unwrap_or("")),
            );
        }
        let _ = write!(
            page,
            "</table><p>Drifted share {} (dataset drift at {}).</p>",
            number(d.share),
            d.drift_share
        );
    }
    profile_table(page, w);
    if let Some(p) = &w.performance {
        let _ = write!(
            page,
            "<h3>Performance</h3><p>{} = {} over {} pair(s); band {}; verdict {}.</p>",
            escape(&p.metric),
            number(p.value),
            p.pairs,
            p.band
                .as_ref()
                .map(|b| format!("[{:.4}, {:.4}]", b.lower, b.upper))
                .unwrap_or_else(|| "not yet known".into()),
            p.verdict
                .map(|v| format!("{v:?}").to_lowercase())
                .unwrap_or_else(|| "none".into())
        );
        if let Some(why) = &p.not_computed {
            let _ = write!(page, "<p class=\"muted\">Not computed: {}</p>", escape(why));
        }
    }
}

/// The reference's profile summary beside the window's, per compared column.
fn profile_table(page: &mut String, w: &WindowReport) {
    if w.profiles.is_empty() {
        return;
    }
    page.push_str(
        "<h3>Reference and window</h3><table><tr><th>column</th><th>reference</th><th>window</th></tr>",
    );
    for c in &w.profiles {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.column),
            escape(&summary_text(c.reference.as_ref())),
            escape(&summary_text(c.current.as_ref()))
        );
    }
    page.push_str("</table>");
}

fn summary_text(s: Option<&crate::window::ProfileSummary>) -> String {
    let Some(s) = s else {
        return "none".into();
    };
    let nulls = format!("{} values, {} null", s.count, s.nulls);
    if let Some([p5, p50, p95]) = s.quantiles {
        return format!(
            "{nulls}; mean {}, sd {}; p5 {}, median {}, p95 {}",
            number(s.mean),
            number(s.std_dev),
            short(p5),
            short(p50),
            short(p95)
        );
    }
    let top: Vec<String> = s
        .top
        .iter()
        .map(|(value, share)| format!("{value} {:.1}%", share * 100.0))
        .collect();
    format!("{nulls}; {}", top.join(", "))
}

fn charts(page: &mut String, reports: &[WindowReport]) {
    let shares: Vec<Option<f64>> = reports.iter().map(|r| r.summary.drift_share).collect();
    if shares.iter().any(Option::is_some) {
        let threshold = reports
            .iter()
            .rev()
            .find_map(|r| r.drift.as_ref().map(|d| d.drift_share));
        page.push_str("<h2>Drifted share of columns</h2>");
        page.push_str(&line_chart("drift-share", &shares, None, threshold));
    }
    let values: Vec<Option<f64>> = reports
        .iter()
        .map(|r| r.summary.metric.as_ref().map(|m| m.value))
        .collect();
    if values.iter().any(Option::is_some) {
        let bands: Vec<Option<(f64, f64)>> = reports
            .iter()
            .map(|r| {
                r.performance
                    .as_ref()
                    .and_then(|p| p.band.as_ref())
                    .map(|b| (b.lower, b.upper))
            })
            .collect();
        let name = reports
            .iter()
            .find_map(|r| r.performance.as_ref().map(|p| p.metric.clone()))
            .unwrap_or_default();
        let _ = write!(page, "<h2>{} against its band</h2>", escape(&name));
        page.push_str(&line_chart("metric", &values, Some(&bands), None));
    }
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const PAD: f64 = 36.0;

/// An SVG line chart of `values` (gaps where `None`), with an optional band per point and
/// an optional horizontal threshold.
fn line_chart(
    id: &str,
    values: &[Option<f64>],
    bands: Option<&[Option<(f64, f64)>]>,
    threshold: Option<f64>,
) -> String {
    let mut all: Vec<f64> = values.iter().flatten().copied().collect();
    if let Some(b) = bands {
        all.extend(b.iter().flatten().flat_map(|(lo, hi)| [*lo, *hi]));
    }
    all.extend(threshold);
    let (lo, hi) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 1.0, hi + 1.0)
    };
    let n = values.len().max(2) as f64 - 1.0;
    let x = |i: usize| PAD + (WIDTH - 2.0 * PAD) * i as f64 / n;
    let y = |v: f64| HEIGHT - PAD - (HEIGHT - 2.0 * PAD) * (v - lo) / (hi - lo);
    let mut svg = format!(
        "<svg id=\"{id}\" role=\"img\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\">"
    );
    if let Some(bands) = bands {
        for (i, band) in bands.iter().enumerate() {
            if let Some((blo, bhi)) = band {
                let w = (WIDTH - 2.0 * PAD) / (n + 1.0);
                let _ = write!(
                    svg,
                    "<rect class=\"band\" x=\"{:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"#c8e6c9\"/>",
                    x(i) - w / 2.0,
                    y(*bhi),
                    (y(*blo) - y(*bhi)).max(1.0)
                );
            }
        }
    }
    if let Some(t) = threshold {
        let _ = write!(
            svg,
            "<line class=\"threshold\" x1=\"{PAD}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#b00020\" stroke-dasharray=\"4\"/>",
            WIDTH - PAD,
            y(t),
            y(t)
        );
    }
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", x(i), y(v))))
        .collect();
    let _ = write!(
        svg,
        "<polyline class=\"series\" fill=\"none\" stroke=\"#1565c0\" stroke-width=\"2\" points=\"{}\"/>",
        points.join(" ")
    );
    for (i, v) in values.iter().enumerate() {
        if let Some(v) = v {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"#1565c0\"><title>{}</title></circle>",
                x(i),
                y(*v),
                v
            );
        }
    }
    let _ = write!(
        svg,
        "<text x=\"4\" y=\"{:.1}\" font-size=\"11\">{}</text><text x=\"4\" y=\"{:.1}\" font-size=\"11\">{}</text></svg>",
        y(hi) + 4.0,
        short(hi),
        y(lo) + 4.0,
        short(lo)
    );
    svg
}

fn history_table(page: &mut String, reports: &[WindowReport]) {
    page.push_str(
        "<h2>Every window</h2><table><tr><th>window end</th><th>rows</th><th>drifted share</th>\
         <th>metric</th><th>alerts</th></tr>",
    );
    for r in reports.iter().rev() {
        let metric = r
            .summary
            .metric
            .as_ref()
            .map(|m| format!("{} {}", m.name, short(m.value)))
            .unwrap_or_default();
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
            time(r.window_end),
            r.rows,
            number(r.summary.drift_share),
            escape(&metric),
            if r.summary.alarm { "alarm" } else { "ok" },
            escape(&r.alerts.join("; "))
        );
    }
    page.push_str("</table>");
}

fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn number(v: Option<f64>) -> String {
    v.map(short).unwrap_or_default()
}

fn short(v: f64) -> String {
    format!("{:.4}", v)
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string()
}
