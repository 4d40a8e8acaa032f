//! Inline SVG line charts: one or more series of (x, y) points, an optional band (a shaded
//! area between a lower and an upper line) and an optional horizontal threshold.

use std::fmt::Write;

use super::html::{escape, number, time};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 30.0;

/// Colours of the series, in order (repeated past the last).
pub const COLOURS: [&str; 8] = [
    "#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037", "#ad1457",
];

/// One line.
pub struct Series {
    /// Its name, in the legend and the tooltips.
    pub name: String,
    /// Its points, in x order; non-finite values are left out.
    pub points: Vec<(f64, f64)>,
}

/// What to draw.
pub struct Chart<'a> {
    /// The `id` of the `<svg>` element.
    pub id: &'a str,
    /// The lines.
    pub series: Vec<Series>,
    /// A band: (x, lower, upper) per point.
    pub band: Vec<(f64, f64, f64)>,
    /// A horizontal line at this y.
    pub threshold: Option<f64>,
    /// Values the y axis covers even when no point reaches them (e.g. `[0, 1]` for a share).
    pub y_include: &'a [f64],
    /// Whether x is milliseconds since the epoch (labelled as dates) or a plain number.
    pub x_is_time: bool,
}

/// The smallest and largest of `values`, widened by 1 on each side when they are equal;
/// `None` when there is no value.
fn range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if lo > hi {
        None
    } else if lo == hi {
        Some((lo - 1.0, hi + 1.0))
    } else {
        Some((lo, hi))
    }
}

impl Chart<'_> {
    /// The `<svg>` (with a legend before it when there are several series), or a note when
    /// there is no finite point.
    pub fn render(&self) -> String {
        let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
        let points = || {
            self.series
                .iter()
                .flat_map(|s| s.points.iter().filter(finite))
        };
        let bands = || {
            self.band
                .iter()
                .filter(|b| b.0.is_finite() && b.1.is_finite() && b.2.is_finite())
        };
        let xs = points().map(|p| p.0).chain(bands().map(|b| b.0));
        let ys = points()
            .map(|p| p.1)
            .chain(bands().flat_map(|b| [b.1, b.2]))
            .chain(self.threshold)
            .chain(self.y_include.iter().copied());
        let (Some((x0, x1)), Some((y0, y1))) = (range(xs), range(ys.filter(|y| y.is_finite())))
        else {
            return "<p class=\"muted\">No finite value to chart.</p>".into();
        };
        let px = |x: f64| LEFT + (WIDTH - LEFT - RIGHT) * (x - x0) / (x1 - x0);
        let py = |y: f64| HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * (y - y0) / (y1 - y0);
        let mut svg = String::new();
        if self.series.len() > 1 {
            svg.push_str("<div class=\"legend\">");
            for (i, s) in self.series.iter().enumerate() {
                let _ = write!(
                    svg,
                    "<span><i style=\"background:{}\"></i>{}</span>",
                    COLOURS[i % COLOURS.len()],
                    escape(&s.name)
                );
            }
            svg.push_str("</div>");
        }
        let _ = write!(
            svg,
            "<svg class=\"chart\" id=\"{}\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-size=\"11\">",
            escape(self.id)
        );
        let band: Vec<&(f64, f64, f64)> = bands().collect();
        if !band.is_empty() {
            let upper = band
                .iter()
                .map(|b| format!("{:.1},{:.1}", px(b.0), py(b.2)));
            let lower = band
                .iter()
                .rev()
                .map(|b| format!("{:.1},{:.1}", px(b.0), py(b.1)));
            let outline: Vec<String> = upper.chain(lower).collect();
            let _ = write!(
                svg,
                "<polygon class=\"band\" fill=\"#c8e6c9\" fill-opacity=\"0.7\" stroke=\"#81c784\" points=\"{}\"/>",
                outline.join(" ")
            );
        }
        if let Some(t) = self.threshold {
            let _ = write!(
                svg,
                "<line class=\"threshold\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#b00020\" stroke-dasharray=\"5 4\"><title>threshold {}</title></line>",
                WIDTH - RIGHT,
                number(t),
                y = py(t)
            );
        }
        for (i, s) in self.series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let coords: Vec<String> = s
                .points
                .iter()
                .filter(finite)
                .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
                .collect();
            let _ = write!(
                svg,
                "<polyline class=\"series\" data-series=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
                escape(&s.name),
                coords.join(" ")
            );
            for (x, y) in s.points.iter().filter(finite) {
                let _ = write!(
                    svg,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{colour}\"><title>{}: {} at {}</title></circle>",
                    px(*x),
                    py(*y),
                    escape(&s.name),
                    number(*y),
                    self.x_label(*x)
                );
            }
        }
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{b:.1}\" stroke=\"#999\"/><line x1=\"{LEFT}\" x2=\"{r:.1}\" y1=\"{b:.1}\" y2=\"{b:.1}\" stroke=\"#999\"/>\
             <text x=\"{lx:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><text x=\"{lx:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <text x=\"{LEFT}\" y=\"{:.1}\">{}</text><text x=\"{r:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text></svg>",
            py(y1) + 4.0,
            number(y1),
            py(y0) + 4.0,
            number(y0),
            HEIGHT - 8.0,
            self.x_label(x0),
            HEIGHT - 8.0,
            self.x_label(x1),
            b = HEIGHT - BOTTOM,
            r = WIDTH - RIGHT,
            lx = LEFT - 6.0,
        );
        svg
    }

    fn x_label(&self, x: f64) -> String {
        if self.x_is_time {
            time(Some(x as i64))
        } else {
            number(x)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: Vec<Series>) -> String {
        Chart {
            id: "c",
            series,
            band: vec![],
            threshold: None,
            y_include: &[],
            x_is_time: false,
        }
        .render()
    }

    #[test]
    fn maps_the_extremes_to_the_plot_corners() {
        let svg = chart(vec![Series {
            name: "loss".into(),
            points: vec![(0.0, 1.0), (10.0, 3.0)],
        }]);
        // x 0 → LEFT (64), x 10 → WIDTH − RIGHT (744); y 1 → HEIGHT − BOTTOM (210), y 3 → TOP (14).
        assert!(svg.contains("points=\"64.0,210.0 744.0,14.0\""), "{svg}");
    }

    #[test]
    fn leaves_out_non_finite_points_and_says_when_nothing_is_left() {
        let svg = chart(vec![Series {
            name: "x".into(),
            points: vec![(0.0, f64::NAN), (1.0, 2.0), (2.0, f64::INFINITY)],
        }]);
        assert_eq!(svg.matches("<circle").count(), 1);
        let none = chart(vec![Series {
            name: "x".into(),
            points: vec![(0.0, f64::NAN)],
        }]);
        assert!(none.contains("No finite value"));
    }
}
