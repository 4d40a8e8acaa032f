//! Pictures of a pipeline's step graph: a text listing, Graphviz DOT and a self-contained
//! SVG.
//!
//! All three group the steps by level: a step without step inputs is at level 0, any
//! other one level below the deepest step it reads from.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::spec::{InputRef, PipelineSpec, StepKind, StepSpec};

/// The steps by level, each level in [`PipelineSpec::order`]. Steps that a cycle keeps out
/// of the order (possible only in a spec that did not come from [`PipelineSpec::parse`])
/// come last, in one more level.
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
    let cyclic: Vec<&str> = spec
        .steps
        .keys()
        .map(String::as_str)
        .filter(|name| !depth.contains_key(name))
        .collect();
    if !cyclic.is_empty() {
        levels.push(cyclic);
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
///   report (command: python report.py)  extra ← ./extra.csv, model ← train.model
/// ```
///
/// Inputs are listed by port name.
pub fn text(spec: &PipelineSpec) -> String {
    let levels = levels(spec);
    let mut out = format!(
        "pipeline {}: {} in {}\n",
        spec.name,
        counted(spec.steps.len(), "step"),
        counted(levels.len(), "level")
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

/// `1 step`, `2 steps`.
fn counted(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
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
    for edge in edges(spec) {
        let _ = writeln!(
            out,
            "  \"{}\" -> \"{}\" [label=\"{}\"];",
            dot_escape(&edge.from),
            dot_escape(&edge.to),
            dot_escape(&edge.label)
        );
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

/// An input port's connection, as drawn: from a node (`step:<name>` or `input:<path>`)
/// to a step's node.
struct Edge {
    from: String,
    to: String,
    label: String,
}

fn node_id(input: &InputRef) -> String {
    match input {
        InputRef::Step { step, .. } => format!("step:{step}"),
        InputRef::External(path) => format!("input:{path}"),
    }
}

/// The edges whose ends are both drawn, left to right (in a spec from
/// [`PipelineSpec::parse`], all of them).
fn drawable_edges(spec: &PipelineSpec, column_of: &BTreeMap<String, usize>) -> Vec<Edge> {
    edges(spec)
        .into_iter()
        .filter(|e| match (column_of.get(&e.from), column_of.get(&e.to)) {
            (Some(from), Some(to)) => from < to,
            _ => false,
        })
        .collect()
}

fn edges(spec: &PipelineSpec) -> Vec<Edge> {
    let mut edges = Vec::new();
    for (name, step) in &spec.steps {
        for (port, input) in &step.inputs {
            let label = match input {
                InputRef::Step { output, .. } => format!("{output}→{port}"),
                InputRef::External(_) => port.clone(),
            };
            edges.push(Edge {
                from: node_id(input),
                to: format!("step:{name}"),
                label,
            });
        }
    }
    edges
}

/// What takes a place in a column: a node, or an edge (by index) passing through on its
/// way to a later column.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Node(String),
    Pass(usize),
}

/// Where everything is drawn. Columns are levels; an edge spanning several columns takes
/// a place in each column between its ends, so that no edge crosses a box.
struct Layout {
    box_width: f64,
    rows: usize,
    columns: Vec<Vec<Slot>>,
    column_of: BTreeMap<String, usize>,
    row_of: BTreeMap<(usize, Slot), usize>,
    edges: Vec<Edge>,
}

impl Layout {
    fn new(spec: &PipelineSpec) -> Layout {
        let inputs = external_inputs(spec);
        let column_of = node_columns(spec, &inputs);
        let edges = drawable_edges(spec, &column_of);
        let width = column_of.values().max().map_or(0, |c| c + 1);
        let mut columns: Vec<Vec<Slot>> = vec![Vec::new(); width];
        for (id, column) in &column_of {
            columns[*column].push(Slot::Node(id.clone()));
        }
        for (index, edge) in edges.iter().enumerate() {
            let (from, to) = (column_of[&edge.from], column_of[&edge.to]);
            for passed in &mut columns[from + 1..to] {
                passed.push(Slot::Pass(index));
            }
        }
        let mut layout = Layout {
            box_width: box_width(spec, &inputs),
            rows: columns.iter().map(Vec::len).max().unwrap_or(0),
            columns,
            column_of,
            row_of: BTreeMap::new(),
            edges,
        };
        layout.order_rows();
        layout
    }

    /// Orders each column by the mean row of what feeds its slots from the column
    /// before (slots fed by nothing keep their place).
    fn order_rows(&mut self) {
        for column in 0..self.columns.len() {
            let mut keyed: Vec<(f64, usize, Slot)> = std::mem::take(&mut self.columns[column])
                .into_iter()
                .enumerate()
                .map(|(index, slot)| (self.feeding_mean(column, &slot, index), index, slot))
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (row, (_, _, slot)) in keyed.into_iter().enumerate() {
                self.row_of.insert((column, slot.clone()), row);
                self.columns[column].push(slot);
            }
        }
    }

    fn feeding_mean(&self, column: usize, slot: &Slot, fallback: usize) -> f64 {
        let edges = &self.edges;
        let feeding: Vec<usize> = match slot {
            Slot::Node(id) => (0..edges.len()).filter(|e| edges[*e].to == *id).collect(),
            Slot::Pass(e) => vec![*e],
        };
        let rows: Vec<f64> = feeding
            .iter()
            .filter_map(|e| self.row_of.get(&self.slot_before(*e, &edges[*e], column)))
            .map(|r| *r as f64)
            .collect();
        if rows.is_empty() {
            fallback as f64
        } else {
            rows.iter().sum::<f64>() / rows.len() as f64
        }
    }

    /// The place edge `index` takes in the column before `column`.
    fn slot_before(&self, index: usize, edge: &Edge, column: usize) -> (usize, Slot) {
        let before = column.saturating_sub(1);
        if self.column_of[&edge.from] == before {
            (before, Slot::Node(edge.from.clone()))
        } else {
            (before, Slot::Pass(index))
        }
    }

    fn x(&self, column: usize) -> f64 {
        MARGIN + column as f64 * (self.box_width + COLUMN_GAP)
    }

    /// The top of `slot` in `column`; each column is centred vertically.
    fn y(&self, column: usize, slot: &Slot) -> f64 {
        let offset = (self.rows - self.columns[column].len()) as f64 * (BOX_HEIGHT + ROW_GAP) / 2.0;
        let row = self.row_of[&(column, slot.clone())];
        MARGIN + offset + row as f64 * (BOX_HEIGHT + ROW_GAP)
    }

    /// The top left corner of node `id`.
    fn corner(&self, id: &str) -> (f64, f64) {
        let column = self.column_of[id];
        (self.x(column), self.y(column, &Slot::Node(id.to_string())))
    }

    fn width(&self) -> f64 {
        let columns = self.columns.len();
        2.0 * MARGIN
            + columns as f64 * self.box_width
            + columns.saturating_sub(1) as f64 * COLUMN_GAP
    }

    fn height(&self) -> f64 {
        2.0 * MARGIN + self.rows as f64 * BOX_HEIGHT + self.rows.saturating_sub(1) as f64 * ROW_GAP
    }
}

/// Each node's column: a step's level, an external input's the column before its first
/// reader's. Steps move one column right when an input is read by a level-0 step.
fn node_columns(spec: &PipelineSpec, inputs: &[&str]) -> BTreeMap<String, usize> {
    let levels = levels(spec);
    let first_reader = |path: &str| {
        levels.iter().position(|level| {
            level.iter().any(|name| {
                spec.steps[*name]
                    .inputs
                    .values()
                    .any(|i| matches!(i, InputRef::External(p) if p == path))
            })
        })
    };
    let shift = usize::from(inputs.iter().any(|p| first_reader(p) == Some(0)));
    let mut column_of = BTreeMap::new();
    for (level, names) in levels.iter().enumerate() {
        for name in names {
            column_of.insert(format!("step:{name}"), level + shift);
        }
    }
    for path in inputs {
        let column = first_reader(path).map_or(0, |level| level + shift - 1);
        column_of.insert(format!("input:{path}"), column);
    }
    column_of
}

/// A self-contained SVG of the graph, drawn with a layered layout: one column per level,
/// each external input in the column before its first reader, rows ordered to keep
/// edges short, and edges spanning several columns routed between the boxes. Each step
/// is a `<g class="step status-<status>" data-step="<name>">` with a box holding its
/// name and type (and status, when `status` gives one), filled as [`status_fill`] says;
/// each external input a note-shaped `<g class="input" data-input="<path>">`; each input
/// port an arrow `<path class="edge">` whose tooltip is `output→port`.
pub fn svg(spec: &PipelineSpec, status: Option<&BTreeMap<String, String>>) -> String {
    let layout = Layout::new(spec);
    let (width, height) = (layout.width(), layout.height());
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"12\">\n<title>{}</title>\n<defs><marker id=\"esteira-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#666\"/></marker></defs>\n",
        esteira_core::markup::escape(&spec.name)
    );
    let anchors = Anchors::new(&layout);
    for (index, edge) in layout.edges.iter().enumerate() {
        draw_edge(&layout, &anchors, index, edge, &mut out);
    }
    for path in external_inputs(spec) {
        let corner = layout.corner(&format!("input:{path}"));
        draw_input(path, corner, layout.box_width, &mut out);
    }
    for (name, step) in &spec.steps {
        let state = status.and_then(|s| s.get(name)).map(String::as_str);
        let corner = layout.corner(&format!("step:{name}"));
        draw_step(name, step, state, corner, layout.box_width, &mut out);
    }
    out.push_str("</svg>\n");
    out
}

/// Where each edge leaves its source and reaches its target: the edges at one side of a
/// box are spread evenly along it, in the order of where they come from or go to.
struct Anchors {
    start: Vec<f64>,
    end: Vec<f64>,
}

impl Anchors {
    fn new(layout: &Layout) -> Anchors {
        let edges = &layout.edges;
        let mut anchors = Anchors {
            start: vec![0.0; edges.len()],
            end: vec![0.0; edges.len()],
        };
        for id in layout.column_of.keys() {
            let top = layout.corner(id).1;
            let outgoing: Vec<(f64, usize)> = (0..edges.len())
                .filter(|e| edges[*e].from == *id)
                .map(|e| (path_points(layout, e, &edges[e])[1].1, e))
                .collect();
            for (e, y) in spread(outgoing, top) {
                anchors.start[e] = y;
            }
            let incoming: Vec<(f64, usize)> = (0..edges.len())
                .filter(|e| edges[*e].to == *id)
                .map(|e| {
                    let points = path_points(layout, e, &edges[e]);
                    (points[points.len() - 2].1, e)
                })
                .collect();
            for (e, y) in spread(incoming, top) {
                anchors.end[e] = y;
            }
        }
        anchors
    }
}

/// The edges `(y of the other end, edge)` spread evenly along a box side whose top is
/// at `top`, in the order of the other ends.
fn spread(mut ends: Vec<(f64, usize)>, top: f64) -> Vec<(usize, f64)> {
    ends.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let step = BOX_HEIGHT / (ends.len() + 1) as f64;
    ends.into_iter()
        .enumerate()
        .map(|(k, (_, e))| (e, top + step * (k + 1) as f64))
        .collect()
}

/// The places an edge goes through, each as the left `x` and the middle `y` of its
/// column's box: its source, each column it passes, its target.
fn path_points(layout: &Layout, index: usize, edge: &Edge) -> Vec<(f64, f64)> {
    let (from, to) = (layout.column_of[&edge.from], layout.column_of[&edge.to]);
    let mut points = vec![(
        layout.x(from),
        layout.corner(&edge.from).1 + BOX_HEIGHT / 2.0,
    )];
    for column in from + 1..to {
        let y = layout.y(column, &Slot::Pass(index)) + BOX_HEIGHT / 2.0;
        points.push((layout.x(column), y));
    }
    points.push((layout.x(to), layout.corner(&edge.to).1 + BOX_HEIGHT / 2.0));
    points
}

/// An edge: out of its source's right side, a curve to each column it passes through,
/// straight across it, and a curve into its target's left side.
fn draw_edge(layout: &Layout, anchors: &Anchors, index: usize, edge: &Edge, out: &mut String) {
    let mut points = path_points(layout, index, edge);
    let last = points.len() - 1;
    points[0].1 = anchors.start[index];
    points[last].1 = anchors.end[index];
    let mut d = format!("M{:.1},{:.1}", points[0].0 + layout.box_width, points[0].1);
    for (k, (x, y)) in points.iter().enumerate().skip(1) {
        let (from_x, from_y) = (points[k - 1].0 + layout.box_width, points[k - 1].1);
        let bend = (x - from_x) / 2.0;
        let _ = write!(
            d,
            " C{:.1},{from_y:.1} {:.1},{y:.1} {x:.1},{y:.1}",
            from_x + bend,
            x - bend
        );
        if k < last {
            let _ = write!(d, " L{:.1},{y:.1}", x + layout.box_width);
        }
    }
    let _ = writeln!(
        out,
        "<path class=\"edge\" d=\"{d}\" fill=\"none\" stroke=\"#666\" stroke-width=\"1.5\" marker-end=\"url(#esteira-arrow)\"><title>{}</title></path>",
        esteira_core::markup::escape(&edge.label)
    );
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

fn draw_input(path: &str, (x, y): (f64, f64), box_width: f64, out: &mut String) {
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
        esteira_core::markup::escape(path),
        esteira_core::markup::escape(&shown),
        back = -box_width,
        w = box_width - fold,
        h = BOX_HEIGHT - fold,
        cx = x + box_width / 2.0,
        cy = y + BOX_HEIGHT / 2.0 + 4.0,
    );
}

fn draw_step(
    name: &str,
    step: &StepSpec,
    status: Option<&str>,
    (x, y): (f64, f64),
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
        esteira_core::markup::escape(name),
        esteira_core::markup::escape(&subtitle),
        cx = x + box_width / 2.0,
        ty = y + 18.0,
        sy = y + 34.0,
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
