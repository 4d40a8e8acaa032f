//! HTML building blocks: escaping, URL encoding, the page layout, the pager and the
//! formatting of times, durations and numbers.

use std::fmt::Write;

use axum::response::Html;
use chrono::{DateTime, Utc};

/// The stylesheet, inlined in every page (the UI loads nothing else).
const STYLE: &str = include_str!("../../assets/ui.css");

/// The sections of the navigation bar: (path, label).
const SECTIONS: [(&str, &str); 6] = [
    ("/ui/experiments", "Experiments"),
    ("/ui/models", "Models"),
    ("/ui/pipelines", "Pipelines"),
    ("/ui/endpoints", "Endpoints"),
    ("/ui/monitors", "Monitors"),
    ("/ui/decisions", "Decisions"),
];

pub use esteira_core::markup::escape;

/// Percent-encodes `text` for a URL path segment or a query value: every byte except the
/// unreserved characters of RFC 3986 (`A-Z a-z 0-9 - . _ ~`) becomes `%XX`.
pub fn enc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A query string `?k=v&...` of the pairs whose value is not empty (`""` when none is).
pub fn query(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// `<a href="href">text</a>`, `href` escaped as an attribute and `text` as content.
pub fn link(href: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", escape(href), escape(text))
}

/// The whole page: the navigation bar (with `section` marked active), the title as `<h1>`,
/// and `body` (HTML the caller built, with every user string already escaped).
pub fn page(section: &str, title: &str, body: &str) -> Html<String> {
    let mut out = String::with_capacity(body.len() + STYLE.len() + 1024);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><link rel=\"icon\" href=\"data:,\">\
         <title>{t} · Esteira</title><style>{STYLE}</style></head><body>\
         <header><a class=\"brand\" href=\"/ui/\">Esteira</a>",
        t = escape(title)
    );
    for (href, label) in SECTIONS {
        let class = if href == section {
            " class=\"active\""
        } else {
            ""
        };
        let _ = write!(out, "<a{class} href=\"{href}\">{label}</a>");
    }
    let _ = write!(
        out,
        "</header><main><h1>{}</h1>{body}</main></body></html>",
        escape(title)
    );
    Html(out)
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS` UTC; empty for `None`.
pub fn time(ms: Option<i64>) -> String {
    match ms {
        None => String::new(),
        Some(ms) => DateTime::<Utc>::from_timestamp_millis(ms)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| ms.to_string()),
    }
}

/// A duration in milliseconds for people: `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{} min {:02} s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{} h {:02} min", ms / 3_600_000, (ms / 60_000) % 60)
    }
}

/// The duration between two optional times, empty when either is missing.
pub fn span(start: Option<i64>, end: Option<i64>) -> String {
    match (start, end) {
        (Some(s), Some(e)) => duration(e - s),
        _ => String::new(),
    }
}

/// A number for a table: up to 4 decimals without trailing zeros for magnitudes in
/// [1e-3, 1e7), scientific notation with 3 decimals otherwise, `NaN`/`inf` as such.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let magnitude = v.abs();
    if v == 0.0 || (1e-3..1e7).contains(&magnitude) {
        let fixed = format!("{v:.4}");
        let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
        if trimmed == "-0" {
            "0".into()
        } else {
            trimmed.to_string()
        }
    } else {
        format!("{v:.3e}")
    }
}

/// `number` of an optional value, empty for `None`.
pub fn opt_number(v: Option<f64>) -> String {
    v.map(number).unwrap_or_default()
}

/// The links under a table of token-paged results: the first page (when not on it) and the
/// next one (when there is one). `base` is the path with the other query pairs.
pub fn token_pager(
    base: &[(&str, &str)],
    path: &str,
    current: Option<&str>,
    next: Option<&str>,
) -> String {
    let mut out = String::from("<nav class=\"pager\">");
    if current.is_some() {
        out.push_str(&link(&format!("{path}{}", query(base)), "« First page"));
    }
    if let Some(token) = next {
        let mut pairs = base.to_vec();
        pairs.push(("page_token", token));
        out.push_str(&link(&format!("{path}{}", query(&pairs)), "Next page »"));
    }
    out.push_str("</nav>");
    out
}

/// The links under a table of numbered pages (`page` starts at 1).
pub fn number_pager(base: &[(&str, &str)], path: &str, page: usize, has_next: bool) -> String {
    let mut out = String::from("<nav class=\"pager\">");
    let at = |n: usize| {
        let n = n.to_string();
        let mut pairs = base.to_vec();
        pairs.push(("page", &n));
        format!("{path}{}", query(&pairs))
    };
    if page > 1 {
        out.push_str(&link(&at(page - 1), "« Previous page"));
    }
    let _ = write!(out, "<span class=\"muted\">page {page}</span>");
    if has_next {
        out.push_str(&link(&at(page + 1), "Next page »"));
    }
    out.push_str("</nav>");
    out
}

/// A `<table>` with a header row of `headers` (already HTML) and `rows` of cells (already
/// HTML); `empty` is shown instead when there is no row.
pub fn table(headers: &[String], rows: &[Vec<String>], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"muted\">{}</p>", escape(empty));
    }
    let mut out = String::from("<table><thead><tr>");
    for h in headers {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// Plain-text headers, escaped.
pub fn headers(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| escape(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }

    #[test]
    fn encodes_reserved_bytes_and_utf8() {
        assert_eq!(enc("a b/c?d=é"), "a%20b%2Fc%3Fd%3D%C3%A9");
        assert_eq!(
            query(&[("filter", "metrics.x < 1"), ("order", "")]),
            "?filter=metrics.x%20%3C%201"
        );
    }

    #[test]
    fn formats_numbers_and_durations() {
        assert_eq!(number(0.123456), "0.1235");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(1.5e-5), "1.500e-5");
        assert_eq!(duration(61_000), "1 min 01 s");
        assert_eq!(duration(250), "250 ms");
    }
}
