//! Pictures of a pipeline's step graph: a text listing, Graphviz DOT and a self-contained
//! SVG.
//!
//! All three group the steps by level: a step without step inputs is at level 0, any
//! other one level below the deepest step it reads from.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::spec::{InputRef, PipelineSpec, StepKind, StepSpec};

/// The steps by level, each level in [`PipelineSpec::order`].
fn levels(spec: &PipelineSpec) -> Vec<Vec<&str>> {
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    let mut levels: Vec<Vec<&str>> = Vec::new();
    for name in spec.order() {
        let level = spec.steps[name]
            .upstream()
            .iter()
            .filter_map(|u| depth.get(u))
            .map(|d| d + 1)
            .max()
            .unwrap_or(0);
        depth.insert(name, level);
        if levels.len() <= level {
            levels.resize(level + 1, Vec::new());
        }
        levels[level].push(name);
    }
    levels
}

/// `train` for a built-in step, `command` for a command step.
fn type_name(step: &StepSpec) -> &'static str {
    match &step.kind {
        StepKind::Builtin(b) => b.name(),
        StepKind::Command(_) => "command",
    }
}

/// `step.output`, or the external path.
fn source_name(input: &InputRef) -> String {
    match input {
        InputRef::Step { step, output } => format!("{step}.{output}"),
        InputRef::External(path) => path.clone(),
    }
}

/// A readable listing, one line per level header and per step:
///
/// ```text
/// pipeline demand: 3 steps in 2 levels
/// level 0
///   ingest (ingest)
/// level 1
///   train (train)  train ← ingest.data
///   report (command: python report.py)  model ← train.model, extra ← ./extra.csv
/// ```
pub fn text(spec: &PipelineSpec) -> String {
    let levels = levels(spec);
    let mut out = format!(
        "pipeline {}: {} steps in {} levels\n",
        spec.name,
        spec.steps.len(),
        levels.len()
    );
    for (index, level) in levels.iter().enumerate() {
        let _ = writeln!(out, "level {index}");
        for name in level {
            let step = &spec.steps[*name];
            let kind = match &step.kind {
                StepKind::Builtin(b) => b.name().to_string(),
                StepKind::Command(argv) => format!("command: {}", argv.join(" ")),
            };
            let _ = write!(out, "  {name} ({kind})");
            let inputs: Vec<String> = step
                .inputs
                .iter()
                .map(|(port, input)| format!("{port} ← {}", source_name(input)))
                .collect();
            if !inputs.is_empty() {
                let _ = write!(out, "  {}", inputs.join(", "));
            }
            out.push('\n');
        }
    }
    out
}

/// Graphviz DOT, laid out left to right: a rounded box per step (`step:<name>`, labelled
/// with its name and type), a note per distinct external input (`input:<path>`), and an
/// edge per connected input port, labelled `output→port` (`port` for an external input).
pub fn dot(spec: &PipelineSpec) -> String {
    let mut out = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"sans-serif\"];\n  edge [fontname=\"sans-serif\", fontsize=10];\n",
        dot_escape(&spec.name)
    );
    for level in levels(spec) {
        for name in level {
            let label = format!("{name}\n({})", type_name(&spec.steps[name]));
            let _ = writeln!(
                out,
                "  \"step:{}\" [label=\"{}\"];",
                dot_escape(name),
                dot_escape(&label)
            );
        }
    }
    for path in external_inputs(spec) {
        let _ = writeln!(
            out,
            "  \"input:{0}\" [shape=note, style=\"\", label=\"{0}\"];",
            dot_escape(path)
        );
    }
    for (name, step) in &spec.steps {
        for (port, input) in &step.inputs {
            let (from, label) = match input {
                InputRef::Step { step, output } => {
                    (format!("step:{step}"), format!("{output}→{port}"))
                }
                InputRef::External(path) => (format!("input:{path}"), port.clone()),
            };
            let _ = writeln!(
                out,
                "  \"{}\" -> \"step:{}\" [label=\"{}\"];",
                dot_escape(&from),
                dot_escape(name),
                dot_escape(&label)
            );
        }
    }
    out.push_str("}\n");
    out
}

/// The distinct external input paths, sorted.
fn external_inputs(spec: &PipelineSpec) -> Vec<&str> {
    let mut paths: Vec<&str> = spec
        .steps
        .values()
        .flat_map(|s| s.inputs.values())
        .filter_map(|i| match i {
            InputRef::External(path) => Some(path.as_str()),
            InputRef::Step { .. } => None,
        })
        .collect();
    paths.sort_unstable();
    paths.dedup();
    paths
}

fn dot_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Width of one character of the 12px sans-serif labels, in pixels (an estimate).
const CHAR_WIDTH: f64 = 7.2;
/// Height of a box.
const BOX_HEIGHT: f64 = 44.0;
/// Horizontal space between columns.
const COLUMN_GAP: f64 = 64.0;
/// Vertical space between boxes of a column.
const ROW_GAP: f64 = 20.0;
/// Space around the drawing.
const MARGIN: f64 = 16.0;
/// The most characters of an external path shown in its box (the rest is in its tooltip).
const PATH_CHARS: usize = 28;

/// The fill colour of a step in status `status`: `succeeded` green, `failed` red,
/// `cached` blue, `running` yellow, `cancelled` orange, `waiting`/`pending`/`skipped`
/// grey; any other status white.
fn status_fill(status: &str) -> &'static str {
    match status {
        "succeeded" => "#c8e6c9",
        "failed" => "#ffcdd2",
        "cached" => "#bbdefb",
        "running" => "#fff59d",
        "cancelled" => "#ffe0b2",
        "waiting" | "pending" | "skipped" => "#eeeeee",
        _ => "#ffffff",
    }
}

/// A node of the drawing: a step or an external input, at its column and row.
struct Node {
    x: f64,
    y: f64,
}

/// A self-contained SVG of the graph, drawn with a layered layout: external inputs in the
/// first column, then one column per level, rows ordered to keep edges short. Each step is
/// a `<g class="step status-<status>" data-step="<name>">` with a box holding its name and
/// type (and status, when `status` gives one), filled as [`status_fill`] says; each
/// external input a note-shaped `<g class="input">`; each input port an arrow
/// `<path class="edge">` whose tooltip is `output→port`.
pub fn svg(spec: &PipelineSpec, status: Option<&BTreeMap<String, String>>) -> String {
    let inputs = external_inputs(spec);
    let mut columns: Vec<Vec<String>> = Vec::new();
    if !inputs.is_empty() {
        columns.push(inputs.iter().map(|p| format!("input:{p}")).collect());
    }
    columns.extend(
        levels(spec)
            .into_iter()
            .map(|level| level.into_iter().map(|n| format!("step:{n}")).collect()),
    );
    order_rows(spec, &mut columns);
    let box_width = box_width(spec, &inputs);
    let rows = columns.iter().map(Vec::len).max().unwrap_or(0);
    let height = 2.0 * MARGIN + rows as f64 * BOX_HEIGHT + rows.saturating_sub(1) as f64 * ROW_GAP;
    let width = 2.0 * MARGIN
        + columns.len() as f64 * box_width
        + columns.len().saturating_sub(1) as f64 * COLUMN_GAP;
    let mut nodes: BTreeMap<&str, Node> = BTreeMap::new();
    for (column, ids) in columns.iter().enumerate() {
        let offset = (rows - ids.len()) as f64 * (BOX_HEIGHT + ROW_GAP) / 2.0;
        for (row, id) in ids.iter().enumerate() {
            nodes.insert(
                id,
                Node {
                    x: MARGIN + column as f64 * (box_width + COLUMN_GAP),
                    y: MARGIN + offset + row as f64 * (BOX_HEIGHT + ROW_GAP),
                },
            );
        }
    }
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"12\">\n<title>{}</title>\n<defs><marker id=\"esteira-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#666\"/></marker></defs>\n",
        xml_escape(&spec.name)
    );
    draw_edges(spec, &nodes, box_width, &mut out);
    for path in &inputs {
        draw_input(
            path,
            &nodes[format!("input:{path}").as_str()],
            box_width,
            &mut out,
        );
    }
    for (name, step) in &spec.steps {
        let state = status.and_then(|s| s.get(name)).map(String::as_str);
        draw_step(
            name,
            step,
            state,
            &nodes[format!("step:{name}").as_str()],
            box_width,
            &mut out,
        );
    }
    out.push_str("</svg>\n");
    out
}

/// Orders each column after the first by the mean row of the nodes its steps read from.
fn order_rows(spec: &PipelineSpec, columns: &mut [Vec<String>]) {
    let mut row_of: BTreeMap<String, f64> = BTreeMap::new();
    for column in columns.iter_mut() {
        let mut keyed: Vec<(f64, usize, String)> = column
            .drain(..)
            .enumerate()
            .map(|(index, id)| {
                let sources: Vec<f64> = id
                    .strip_prefix("step:")
                    .map(|name| {
                        spec.steps[name]
                            .inputs
                            .values()
                            .map(node_id)
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|source| row_of.get(source).copied())
                    .collect();
                let mean = if sources.is_empty() {
                    index as f64
                } else {
                    sources.iter().sum::<f64>() / sources.len() as f64
                };
                (mean, index, id)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (row, (_, _, id)) in keyed.into_iter().enumerate() {
            row_of.insert(id.clone(), row as f64);
            column.push(id);
        }
    }
}

fn node_id(input: &InputRef) -> String {
    match input {
        InputRef::Step { step, .. } => format!("step:{step}"),
        InputRef::External(path) => format!("input:{path}"),
    }
}

/// One width for every box, wide enough for the longest label.
fn box_width(spec: &PipelineSpec, inputs: &[&str]) -> f64 {
    let step_chars = spec
        .steps
        .iter()
        .map(|(name, step)| name.chars().count().max(type_name(step).len() + 12))
        .max()
        .unwrap_or(0);
    let input_chars = inputs
        .iter()
        .map(|p| p.chars().count().min(PATH_CHARS + 1))
        .max()
        .unwrap_or(0);
    (step_chars.max(input_chars) as f64 * CHAR_WIDTH + 24.0).max(120.0)
}

fn draw_edges(spec: &PipelineSpec, nodes: &BTreeMap<&str, Node>, box_width: f64, out: &mut String) {
    for (name, step) in &spec.steps {
        let to = &nodes[format!("step:{name}").as_str()];
        for (port, input) in &step.inputs {
            let from = &nodes[node_id(input).as_str()];
            let label = match input {
                InputRef::Step { output, .. } => format!("{output}→{port}"),
                InputRef::External(_) => port.clone(),
            };
            let (x1, y1) = (from.x + box_width, from.y + BOX_HEIGHT / 2.0);
            let (x2, y2) = (to.x, to.y + BOX_HEIGHT / 2.0);
            let bend = (x2 - x1) / 2.0;
            let _ = writeln!(
                out,
                "<path class=\"edge\" d=\"M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}\" fill=\"none\" stroke=\"#666\" stroke-width=\"1.5\" marker-end=\"url(#esteira-arrow)\"><title>{}</title></path>",
                x1 + bend,
                x2 - bend,
                xml_escape(&label)
            );
        }
    }
}

fn draw_input(path: &str, at: &Node, box_width: f64, out: &mut String) {
    let fold = 10.0;
    let shown: String = if path.chars().count() > PATH_CHARS {
        let tail: Vec<char> = path.chars().rev().take(PATH_CHARS).collect();
        format!("…{}", tail.into_iter().rev().collect::<String>())
    } else {
        path.to_string()
    };
    let _ = writeln!(
        out,
        "<g class=\"input\" data-input=\"{0}\"><title>{0}</title><path d=\"M{x:.1},{y:.1} h{w:.1} l{fold},{fold} v{h:.1} h{back:.1} z\" fill=\"#fafafa\" stroke=\"#888\"/><text x=\"{cx:.1}\" y=\"{cy:.1}\" text-anchor=\"middle\">{1}</text></g>",
        xml_escape(path),
        xml_escape(&shown),
        back = -box_width,
        x = at.x,
        y = at.y,
        w = box_width - fold,
        h = BOX_HEIGHT - fold,
        cx = at.x + box_width / 2.0,
        cy = at.y + BOX_HEIGHT / 2.0 + 4.0,
    );
}

fn draw_step(
    name: &str,
    step: &StepSpec,
    status: Option<&str>,
    at: &Node,
    box_width: f64,
    out: &mut String,
) {
    let kind = type_name(step);
    let (class, fill, subtitle) = match status {
        Some(s) => (
            format!("step status-{}", class_safe(s)),
            status_fill(s),
            format!("{kind} · {s}"),
        ),
        None => ("step".to_string(), "#ffffff", kind.to_string()),
    };
    let _ = writeln!(
        out,
        "<g class=\"{class}\" data-step=\"{0}\"><title>{0} ({1})</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{box_width:.1}\" height=\"{BOX_HEIGHT:.1}\" rx=\"6\" fill=\"{fill}\" stroke=\"#444\"/><text x=\"{cx:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\" font-weight=\"bold\">{0}</text><text x=\"{cx:.1}\" y=\"{sy:.1}\" text-anchor=\"middle\" fill=\"#555\" font-size=\"11\">{1}</text></g>",
        xml_escape(name),
        xml_escape(&subtitle),
        x = at.x,
        y = at.y,
        cx = at.x + box_width / 2.0,
        ty = at.y + 18.0,
        sy = at.y + 34.0,
    );
}

/// `status` with every character other than an ASCII letter, digit or `-` as `-`.
fn class_safe(status: &str) -> String {
    status
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}
