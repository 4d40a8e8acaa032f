//! The graph pictures of `tests/fixtures/command/pipeline.toml`:
//!
//! ```text
//! ingest → validate → split → train → evaluate → gate → register
//!                        └──────────────↗   │  └──────────────────↗
//!                                           └→ report ← ./data/holidays.csv
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, ensure};
use esteira_pipeline::graph::{dot, svg, text};
use esteira_pipeline::spec::{InputRef, PipelineSpec};
use serde_json::{Value, json};

fn fixture() -> PipelineSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/command/pipeline.toml");
    PipelineSpec::read(&path).expect("valid fixture")
}

fn python() -> String {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv.exists() {
        venv.display().to_string()
    } else {
        "python3".into()
    }
}

#[test]
fn text_lists_the_steps_by_level() {
    // Levels by hand: ingest 0, validate 1, split 2, train 3; evaluate reads train (3)
    // and split (2), so 4; report reads train, so 4; gate 5; register reads gate, so 6.
    let expected = "\
pipeline demand: 8 steps in 7 levels
level 0
  ingest (ingest)
level 1
  validate (validate)  data ← ingest.data
level 2
  split (split)  data ← validate.data
level 3
  train (train)  train ← split.train
level 4
  evaluate (evaluate)  model ← train.model, test ← split.test
  report (command: python report.py)  holidays ← ./data/holidays.csv, model ← train.model
level 5
  gate (gate)  report ← evaluate.report
level 6
  register (register)  blessing ← gate.blessing, model ← train.model
";
    assert_eq!(text(&fixture()), expected);
}

/// The `(from, to, label)` of every `"from" -> "to" [label="..."];` line.
fn dot_edges(dot: &str) -> Vec<(String, String, String)> {
    dot.lines()
        .filter(|l| l.contains(" -> "))
        .map(|line| {
            let quoted: Vec<&str> = line.split('"').collect();
            // `  "from" -> "to" [label="label"];` splits into 7 parts around quotes.
            assert_eq!(quoted.len(), 7, "{line}");
            (
                quoted[1].to_string(),
                quoted[3].to_string(),
                quoted[5].to_string(),
            )
        })
        .collect()
}

#[test]
fn dot_has_every_node_and_every_edge_once() {
    let dot = dot(&fixture());
    assert!(dot.starts_with("digraph \"demand\" {\n"), "{dot}");
    assert!(dot.ends_with("}\n"));
    assert_eq!(dot.matches('{').count(), dot.matches('}').count());
    let edges = dot_edges(&dot);
    let expected: Vec<(&str, &str, &str)> = vec![
        ("step:ingest", "step:validate", "data→data"),
        ("step:validate", "step:split", "data→data"),
        ("step:split", "step:train", "train→train"),
        ("step:train", "step:evaluate", "model→model"),
        ("step:split", "step:evaluate", "test→test"),
        ("step:evaluate", "step:gate", "report→report"),
        ("step:train", "step:register", "model→model"),
        ("step:gate", "step:register", "blessing→blessing"),
        ("step:train", "step:report", "model→model"),
        ("input:./data/holidays.csv", "step:report", "holidays"),
    ];
    assert_eq!(edges.len(), expected.len(), "{dot}");
    for (from, to, label) in expected {
        let found = edges
            .iter()
            .filter(|e| e.0 == from && e.1 == to && e.2 == label)
            .count();
        assert_eq!(found, 1, "edge {from} -> {to} [{label}] in\n{dot}");
    }
    for step in [
        "ingest", "validate", "split", "train", "evaluate", "gate", "register",
    ] {
        let declaration = format!("  \"step:{step}\" [label=\"{step}\\n({step})\"];");
        assert_eq!(dot.matches(&declaration).count(), 1, "{declaration}");
    }
    assert!(dot.contains("  \"step:report\" [label=\"report\\n(command)\"];"));
    assert!(dot.contains(
        "  \"input:./data/holidays.csv\" [shape=note, style=\"\", label=\"./data/holidays.csv\"];"
    ));
}

#[test]
fn dot_escapes_quotes_in_names() {
    let spec = PipelineSpec::parse(
        "p.toml",
        "[pipeline]\nname = 'say \"hi\"'\n[steps.'load \"raw\"']\ntype = \"ingest\"\n",
    )
    .expect("valid");
    let dot = dot(&spec);
    assert!(dot.starts_with("digraph \"say \\\"hi\\\"\" {"), "{dot}");
    assert!(
        dot.contains("\"step:load \\\"raw\\\"\" [label=\"load \\\"raw\\\"\\n(ingest)\"];"),
        "{dot}"
    );
}

/// Parses `svg` with Python's `xml.etree` and returns, per step, its `class`, the `fill`
/// and `x` of its box and its texts; and the number of inputs and edges, and the edge
/// tooltips.
fn parse_svg(svg: &str) -> Result<Value> {
    run_python(SVG_SUMMARY, svg)
}

const SVG_SUMMARY: &str = r#"
import json, sys
import xml.etree.ElementTree as ET
ns = {"s": "http://www.w3.org/2000/svg"}
root = ET.fromstring(sys.stdin.read())
steps = {}
for g in root.findall("s:g", ns):
    if g.get("class", "").split()[0] == "step":
        rect = g.find("s:rect", ns)
        steps[g.get("data-step")] = {
            "class": g.get("class"),
            "fill": rect.get("fill"),
            "x": float(rect.get("x")),
            "texts": [t.text for t in g.findall("s:text", ns)],
        }
inputs = [g.get("data-input") for g in root.findall("s:g", ns) if g.get("class") == "input"]
edges = sorted(p.find("s:title", ns).text for p in root.findall("s:path", ns) if p.get("class") == "edge")
print(json.dumps({"steps": steps, "inputs": inputs, "edges": edges}))
"#;

/// Runs `script` with Python on `input`, and reads its output as JSON.
fn run_python(script: &str, input: &str) -> Result<Value> {
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(input.as_bytes())?;
    let output = child.wait_with_output()?;
    ensure!(
        output.status.success(),
        "python failed (is the SVG well-formed XML?)"
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

#[test]
fn svg_is_well_formed_and_draws_every_step_input_and_edge() -> Result<()> {
    let parsed = parse_svg(&svg(&fixture(), None))?;
    let steps = parsed["steps"].as_object().context("steps")?;
    let names: BTreeSet<&str> = steps.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "evaluate", "gate", "ingest", "register", "report", "split", "train", "validate"
        ])
    );
    assert_eq!(steps["train"]["texts"], json!(["train", "train"]));
    assert_eq!(steps["report"]["texts"], json!(["report", "command"]));
    assert_eq!(steps["train"]["class"], "step");
    assert_eq!(steps["train"]["fill"], "#ffffff");
    assert_eq!(parsed["inputs"], json!(["./data/holidays.csv"]));
    let mut edges: Vec<&str> = vec![
        "data→data",
        "data→data",
        "train→train",
        "model→model",
        "test→test",
        "report→report",
        "model→model",
        "blessing→blessing",
        "model→model",
        "holidays",
    ];
    edges.sort_unstable();
    assert_eq!(parsed["edges"], json!(edges));
    Ok(())
}

#[test]
fn svg_columns_follow_the_levels() -> Result<()> {
    let parsed = parse_svg(&svg(&fixture(), None))?;
    let x = |step: &str| parsed["steps"][step]["x"].as_f64().expect("x");
    let by_level = [
        "ingest", "validate", "split", "train", "evaluate", "gate", "register",
    ];
    for pair in by_level.windows(2) {
        assert!(x(pair[0]) < x(pair[1]), "{pair:?}");
    }
    assert_eq!(x("report"), x("evaluate"));
    Ok(())
}

#[test]
fn svg_fills_steps_by_status() -> Result<()> {
    let status: BTreeMap<String, String> = [
        ("ingest", "succeeded"),
        ("validate", "cached"),
        ("split", "failed"),
        ("train", "running"),
        ("evaluate", "waiting"),
        ("gate", "something new"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let parsed = parse_svg(&svg(&fixture(), Some(&status)))?;
    let step = |name: &str| &parsed["steps"][name];
    let expected = [
        ("ingest", "step status-succeeded", "#c8e6c9"),
        ("validate", "step status-cached", "#bbdefb"),
        ("split", "step status-failed", "#ffcdd2"),
        ("train", "step status-running", "#fff59d"),
        ("evaluate", "step status-waiting", "#eeeeee"),
        ("gate", "step status-something-new", "#ffffff"),
        ("register", "step", "#ffffff"),
    ];
    for (name, class, fill) in expected {
        assert_eq!(step(name)["class"], class, "{name}");
        assert_eq!(step(name)["fill"], fill, "{name}");
    }
    assert_eq!(step("split")["texts"], json!(["split", "split · failed"]));
    Ok(())
}

#[test]
fn svg_escapes_markup_in_names() -> Result<()> {
    let spec = PipelineSpec::parse(
        "p.toml",
        "[pipeline]\nname = \"a<b\"\n[steps.'load&<raw>']\ntype = \"ingest\"\n[steps.use]\ncommand = [\"true\"]\ninputs = { data = \"load&<raw>.data\", extra = \"./x&y.csv\" }\n",
    )
    .expect("valid");
    let parsed = parse_svg(&svg(&spec, None))?;
    assert_eq!(parsed["steps"]["load&<raw>"]["texts"][0], "load&<raw>");
    assert_eq!(parsed["inputs"], json!(["./x&y.csv"]));
    Ok(())
}

/// Samples every edge of an SVG (its `M`, `C` and `L` commands) and lists the points that
/// fall inside a step's or an input's box (shrunk by 1px, so touching a border is fine).
const EDGE_CROSSINGS: &str = r#"
import json, re, sys
import xml.etree.ElementTree as ET
ns = {"s": "http://www.w3.org/2000/svg"}
root = ET.fromstring(sys.stdin.read())
boxes = []
for g in root.findall("s:g", ns):
    rect = g.find("s:rect", ns)
    if rect is not None:
        boxes.append([float(rect.get(k)) for k in ("x", "y", "width", "height")])
    else:
        m = re.match(r"M([\d.]+),([\d.]+) h([\d.]+) l10,10 v([\d.]+)", g.find("s:path", ns).get("d"))
        x, y, w, h = map(float, m.groups())
        boxes.append([x, y, w + 10, h + 10])
def sample(points, n=40):
    if len(points) == 2:
        (x0, y0), (x1, y1) = points
        return [(x0 + (x1 - x0) * t / n, y0 + (y1 - y0) * t / n) for t in range(n + 1)]
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points
    out = []
    for i in range(n + 1):
        t = i / n
        a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t ** 2, t ** 3
        out.append((a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3))
    return out
crossings, edges, samples = [], 0, 0
for path in root.findall("s:path", ns):
    if path.get("class") != "edge":
        continue
    edges += 1
    current = None
    for command, args in re.findall(r"([MCL])([^MCL]*)", path.get("d")):
        points = [tuple(map(float, a.split(","))) for a in args.split()]
        if command != "M":
            for x, y in sample([current] + points):
                samples += 1
                for bx, by, bw, bh in boxes:
                    if bx + 1 < x < bx + bw - 1 and by + 1 < y < by + bh - 1:
                        crossings.append([path.find("s:title", ns).text, x, y])
        current = points[-1]
print(json.dumps({"edges": edges, "samples": samples, "crossings": crossings}))
"#;

#[test]
fn svg_edges_go_around_the_boxes() -> Result<()> {
    // train → register spans three levels and split → evaluate two: they are routed
    // through the columns between, beside the boxes there.
    let checked = run_python(EDGE_CROSSINGS, &svg(&fixture(), None))?;
    assert_eq!(checked["edges"], 10);
    assert!(checked["samples"].as_u64().context("samples")? > 10 * 40);
    assert_eq!(checked["crossings"], json!([]));
    Ok(())
}

#[test]
fn svg_puts_an_external_input_just_before_its_reader() -> Result<()> {
    let parsed = parse_svg(&svg(&fixture(), None))?;
    let script = r#"
import json, re, sys
import xml.etree.ElementTree as ET
ns = {"s": "http://www.w3.org/2000/svg"}
root = ET.fromstring(sys.stdin.read())
g = [g for g in root.findall("s:g", ns) if g.get("class") == "input"][0]
print(json.dumps(float(re.match(r"M([\d.]+),", g.find("s:path", ns).get("d")).group(1))))
"#;
    let input_x = run_python(script, &svg(&fixture(), None))?;
    // holidays.csv is read by report (level 4) only, so it sits in the column of level 3
    // (train's); no step reads an external input at level 0, so ingest is in the first
    // column.
    assert_eq!(input_x, parsed["steps"]["train"]["x"]);
    assert_eq!(parsed["steps"]["ingest"]["x"], 16.0);
    Ok(())
}

#[test]
fn an_unvalidated_spec_with_a_cycle_or_a_missing_step_is_still_drawn() -> Result<()> {
    // `parse` refuses both; a spec built or deserialized by hand may have them.
    let mut spec = fixture();
    let ingest = spec.steps.get_mut("ingest").context("ingest")?;
    ingest.inputs.insert(
        "loop".into(),
        InputRef::Step {
            step: "register".into(),
            output: "version".into(),
        },
    );
    ingest.inputs.insert(
        "ghost".into(),
        InputRef::Step {
            step: "ghost".into(),
            output: "data".into(),
        },
    );
    // Every step now waits on the cycle, so all are in the one extra level.
    let listing = text(&spec);
    assert!(listing.starts_with("pipeline demand: 8 steps in 1 level\nlevel 0\n"));
    assert_eq!(listing.lines().count(), 10, "{listing}");
    let parsed = parse_svg(&svg(&spec, None))?;
    assert_eq!(parsed["steps"].as_object().context("steps")?.len(), 8);
    Ok(())
}
