//! Content digests and cache keys. Reference digests come from `sha256sum`, Python's
//! `hashlib`/`json`, or the published SHA-256 test vectors.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, ensure};
use esteira_pipeline::Error;
use esteira_pipeline::digest::{
    cache_key, cache_key_parts, code_digest, dir_digest, explain_difference, file_digest,
    path_digest,
};
use esteira_pipeline::spec::{PipelineSpec, StepSpec};
use serde_json::{Map, Value, json};

/// SHA-256 of no bytes (FIPS 180-2 / NIST test vectors).
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn python() -> String {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv.exists() {
        venv.display().to_string()
    } else {
        "python3".into()
    }
}

/// Runs `script` with Python, `args` as its arguments, `stdin` as its input; returns its
/// trimmed standard output.
fn run_python(script: &str, args: &[&str], stdin: &str) -> Result<String> {
    use std::io::Write;
    let mut child = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(stdin.as_bytes())?;
    let output = child.wait_with_output()?;
    ensure!(output.status.success(), "python failed");
    Ok(String::from_utf8(output.stdout)?.trim().to_string())
}

fn write(path: &Path, content: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(path, content).expect("write");
}

#[test]
fn file_digest_matches_the_standard_vector_and_sha256sum() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let small = dir.path().join("abc");
    fs::write(&small, "abc")?;
    // FIPS 180-2, appendix B.1: SHA-256("abc").
    assert_eq!(
        file_digest(&small)?,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    // Larger than the 64 KiB read chunk, so several chunks are hashed.
    let large = dir.path().join("large");
    let content: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(&large, &content)?;
    let sha256sum = Command::new("sha256sum").arg(&large).output()?;
    let expected = String::from_utf8(sha256sum.stdout)?;
    assert_eq!(
        file_digest(&large)?,
        expected.split_whitespace().next().context("digest")?
    );
    Ok(())
}

#[test]
fn file_digest_of_a_missing_file_names_it() {
    let missing = Path::new("/nonexistent/esteira/data.csv");
    match file_digest(missing) {
        Err(Error::Io { path, .. }) => assert_eq!(path, "/nonexistent/esteira/data.csv"),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

/// A tree of two files, one of them nested, and an empty directory.
fn sample_tree(root: &Path) {
    write(&root.join("b.txt"), "beta");
    write(&root.join("sub/a.txt"), "alpha");
    fs::create_dir_all(root.join("empty")).expect("mkdir");
}

#[test]
fn dir_digest_follows_the_documented_format() -> Result<()> {
    let dir = tempfile::tempdir()?;
    sample_tree(dir.path());
    // The documented format, written independently in Python: entries sorted by relative
    // path, `f\0path\0digest\0` for a file and `d\0path\0\0` for a directory.
    let script = r#"
import hashlib, os, sys
root = sys.argv[1]
entries = []
for dirpath, dirnames, filenames in os.walk(root):
    for d in dirnames:
        entries.append((os.path.relpath(os.path.join(dirpath, d), root), None))
    for f in filenames:
        path = os.path.join(dirpath, f)
        entries.append((os.path.relpath(path, root), hashlib.sha256(open(path, 'rb').read()).hexdigest()))
h = hashlib.sha256()
for rel, digest in sorted(entries, key=lambda e: e[0].encode()):
    h.update((b'f\0' if digest else b'd\0') + rel.encode() + b'\0' + (digest or '').encode() + b'\0')
print(h.hexdigest())
"#;
    let root = dir.path().display().to_string();
    assert_eq!(dir_digest(dir.path())?, run_python(script, &[&root], "")?);
    assert_eq!(path_digest(dir.path())?, dir_digest(dir.path())?);
    assert_eq!(
        path_digest(&dir.path().join("b.txt"))?,
        file_digest(&dir.path().join("b.txt"))?
    );
    Ok(())
}

#[test]
fn dir_digest_ignores_creation_order_and_mtimes() -> Result<()> {
    let first = tempfile::tempdir()?;
    sample_tree(first.path());
    let second = tempfile::tempdir()?;
    fs::create_dir_all(second.path().join("empty"))?;
    write(&second.path().join("sub/a.txt"), "alpha");
    write(&second.path().join("b.txt"), "beta");
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    fs::File::options()
        .write(true)
        .open(second.path().join("b.txt"))?
        .set_modified(old)?;
    assert_eq!(dir_digest(first.path())?, dir_digest(second.path())?);
    Ok(())
}

/// A change made to a copy of [`sample_tree`].
type TreeChange = fn(&Path);

#[test]
fn every_change_to_a_tree_changes_dir_digest() -> Result<()> {
    let dir = tempfile::tempdir()?;
    sample_tree(dir.path());
    let original = dir_digest(dir.path())?;
    let changes: [(&str, TreeChange); 5] = [
        ("edit", |r| write(&r.join("b.txt"), "BETA")),
        ("rename", |r| {
            fs::rename(r.join("b.txt"), r.join("c.txt")).expect("rename")
        }),
        ("move to another dir", |r| {
            fs::rename(r.join("b.txt"), r.join("sub/b.txt")).expect("move")
        }),
        ("add an empty dir", |r| {
            fs::create_dir(r.join("more")).expect("mkdir")
        }),
        ("remove the empty dir", |r| {
            fs::remove_dir(r.join("empty")).expect("rmdir")
        }),
    ];
    for (what, change) in changes {
        let copy = tempfile::tempdir()?;
        sample_tree(copy.path());
        change(copy.path());
        assert_ne!(dir_digest(copy.path())?, original, "{what}");
    }
    Ok(())
}

#[test]
fn a_symlink_inside_a_tree_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    sample_tree(dir.path());
    std::os::unix::fs::symlink(dir.path().join("b.txt"), dir.path().join("sub/link"))?;
    match dir_digest(dir.path()) {
        Err(Error::Invalid { field, reason }) => {
            assert_eq!(field, dir.path().join("sub/link").display().to_string());
            assert!(reason.starts_with("is a symbolic link"), "{reason}");
        }
        other => panic!("expected the link to be refused, got {other:?}"),
    }
    Ok(())
}

#[test]
fn path_digest_of_a_missing_path_names_it() {
    match path_digest(Path::new("/nonexistent/esteira")) {
        Err(Error::Io { path, .. }) => assert_eq!(path, "/nonexistent/esteira"),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

/// The step `name` of a pipeline made of `steps` (TOML `[steps.*]` tables).
fn step(steps: &str, name: &str) -> StepSpec {
    let source = format!("[pipeline]\nname = \"p\"\n[params]\nhorizon = 14\n{steps}");
    let spec = PipelineSpec::parse("pipeline.toml", &source).expect("valid pipeline");
    spec.steps[name].clone()
}

/// A pipeline directory with code files.
fn code_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    write(&dir.path().join("train.py"), "print('train')");
    write(&dir.path().join("notes.md"), "not code");
    write(&dir.path().join("src/lib.py"), "x = 1");
    write(&dir.path().join("src/deep/util.py"), "y = 2");
    write(&dir.path().join("src/deep/data.csv"), "a\n1");
    write(&dir.path().join("conf/a1.yaml"), "a: 1");
    write(&dir.path().join("conf/a22.yaml"), "a: 22");
    dir
}

/// The documented code digest, computed in Python from `relative path → file` pairs.
fn python_code_digest(root: &Path, files: &[&str]) -> String {
    let script = r#"
import hashlib, sys
root, files = sys.argv[1], sorted(sys.argv[2:])
h = hashlib.sha256()
for rel in files:
    h.update(rel.encode() + b'\0' + hashlib.sha256(open(root + '/' + rel, 'rb').read()).hexdigest().encode() + b'\0')
print(h.hexdigest())
"#;
    let root = root.display().to_string();
    let mut args = vec![root.as_str()];
    args.extend_from_slice(files);
    run_python(script, &args, "").expect("python")
}

#[test]
fn a_builtin_step_without_code_has_the_empty_digest() -> Result<()> {
    let dir = code_tree();
    let ingest = step("[steps.ingest]\ntype = \"ingest\"\n", "ingest");
    assert_eq!(code_digest(dir.path(), "ingest", &ingest)?, EMPTY_SHA256);
    Ok(())
}

#[test]
fn a_command_step_digests_the_files_its_arguments_name() -> Result<()> {
    let dir = code_tree();
    let report = step(
        "[steps.report]\ncommand = [\"python\", \"train.py\", \"--in\", \"{input.x}\", \"src\", \"/etc/hostname\"]\n",
        "report",
    );
    // `python` and `{input.x}` name no file, `src` is a directory and `/etc/hostname`
    // is absolute: only train.py counts.
    let digest = code_digest(dir.path(), "report", &report)?;
    assert_eq!(digest, python_code_digest(dir.path(), &["train.py"]));
    write(&dir.path().join("notes.md"), "edited, still not code");
    assert_eq!(code_digest(dir.path(), "report", &report)?, digest);
    write(&dir.path().join("train.py"), "print('train v2')");
    assert_ne!(code_digest(dir.path(), "report", &report)?, digest);
    Ok(())
}

/// Asserts that each pattern, as a step's only `code` pattern, digests exactly its files.
fn assert_code_globs(root: &Path, cases: &[(&str, &[&str])]) -> Result<()> {
    for (pattern, files) in cases {
        let tune = step(
            &format!("[steps.tune]\ntype = \"ingest\"\ncode = [\"{pattern}\"]\n"),
            "tune",
        );
        assert_eq!(
            code_digest(root, "tune", &tune)?,
            python_code_digest(root, files),
            "{pattern}"
        );
    }
    Ok(())
}

#[test]
fn code_globs_match_star_question_mark_and_double_star() -> Result<()> {
    let dir = code_tree();
    let cases: [(&str, &[&str]); 6] = [
        ("src/*.py", &["src/lib.py"]),
        ("src/**/*.py", &["src/deep/util.py", "src/lib.py"]),
        ("**/util.py", &["src/deep/util.py"]),
        ("conf/a?.yaml", &["conf/a1.yaml"]),
        ("conf/a*.yaml", &["conf/a1.yaml", "conf/a22.yaml"]),
        // A directory covers every file under it.
        (
            "src",
            &["src/deep/data.csv", "src/deep/util.py", "src/lib.py"],
        ),
    ];
    assert_code_globs(dir.path(), &cases)
}

#[test]
fn a_code_pattern_matching_nothing_names_the_step_and_pattern() {
    let dir = code_tree();
    let train = step(
        "[steps.train]\ntype = \"ingest\"\ncode = [\"src/*.py\", \"models/*.py\"]\n",
        "train",
    );
    match code_digest(dir.path(), "train", &train) {
        Err(Error::Invalid { field, reason }) => {
            assert_eq!(field, "steps.train.code");
            assert!(
                reason.starts_with("pattern \"models/*.py\" matches no file under"),
                "{reason}"
            );
        }
        other => panic!("expected an invalid pattern, got {other:?}"),
    }
}

/// Asserts that the `code` patterns `code` (TOML array items) of step `train` are refused
/// with an error keyed `steps.train.code` whose reason holds `needle`.
fn assert_code_refused(root: &Path, code: &str, needle: &str) {
    let train = step(
        &format!("[steps.train]\ntype = \"ingest\"\ncode = [{code}]\n"),
        "train",
    );
    match code_digest(root, "train", &train) {
        Err(Error::Invalid { field, reason }) => {
            assert_eq!(field, "steps.train.code");
            assert!(reason.contains(needle), "{code}: {reason}");
        }
        other => panic!("{code}: expected a refused pattern, got {other:?}"),
    }
}

#[test]
fn absolute_malformed_and_link_matching_code_patterns_are_refused() -> Result<()> {
    let dir = code_tree();
    assert_code_refused(dir.path(), "\"/etc/*.conf\"", "is absolute");
    assert_code_refused(
        dir.path(),
        "\"conf/a[1.yaml\"",
        "a `[` is not closed by `]`",
    );
    std::os::unix::fs::symlink(dir.path().join("train.py"), dir.path().join("src/link.py"))?;
    assert_code_refused(dir.path(), "\"src/*.py\"", "which is a symbolic link");
    Ok(())
}

const TRAIN: &str = r#"
[steps.train]
command = ["python", "train.py"]
inputs = { data = "./sales.csv" }
outputs = { model = "model" }
env = { SEED = "1" }
code = ["src/*.py"]
params = { horizon = "${params.horizon}" }
"#;

struct KeyInputs {
    name: String,
    step: StepSpec,
    params: Map<String, Value>,
    digests: BTreeMap<String, String>,
    code: String,
    version: String,
}

impl KeyInputs {
    fn new() -> KeyInputs {
        let step = step(TRAIN, "train");
        KeyInputs {
            name: "train".into(),
            params: step
                .resolved_params(&BTreeMap::from([("horizon".to_string(), json!(14))]))
                .expect("params"),
            step,
            digests: BTreeMap::from([("data".to_string(), "a".repeat(64))]),
            code: "c".repeat(64),
            version: "0.4.0".into(),
        }
    }

    fn key(&self) -> String {
        cache_key(
            &self.name,
            &self.step,
            &self.params,
            &self.digests,
            &self.code,
            &self.version,
        )
    }

    fn parts(&self) -> Value {
        cache_key_parts(
            &self.name,
            &self.step,
            &self.params,
            &self.digests,
            &self.code,
            &self.version,
        )
    }
}

#[test]
fn the_cache_key_is_the_sha256_of_the_sorted_compact_json_of_its_parts() -> Result<()> {
    let inputs = KeyInputs::new();
    // Python re-serializes the parts with sorted keys and no spaces, and hashes that.
    let script = "import hashlib, json, sys\n\
        doc = json.load(sys.stdin)\n\
        text = json.dumps(doc, sort_keys=True, separators=(',', ':'), ensure_ascii=False)\n\
        print(hashlib.sha256(text.encode()).hexdigest())";
    let from_python = run_python(script, &[], &inputs.parts().to_string())?;
    assert_eq!(inputs.key(), from_python);
    assert_eq!(
        inputs.parts(),
        json!({
            "step": "train",
            "type": "command",
            "command": ["python", "train.py"],
            "inputs": {"data": "./sales.csv"},
            "outputs": {"model": "model"},
            "env": {"SEED": "1"},
            "code": ["src/*.py"],
            "params": {"horizon": 14},
            "input_digests": {"data": "a".repeat(64)},
            "code_digest": "c".repeat(64),
            "version": "0.4.0",
        })
    );
    Ok(())
}

#[test]
fn the_cache_key_does_not_depend_on_key_order() {
    let mut first = KeyInputs::new();
    let mut second = KeyInputs::new();
    first.params = serde_json::from_str(r#"{"a": {"x": 1, "y": [1, {"q": 1, "p": 2}]}, "b": 2}"#)
        .expect("json");
    second.params = serde_json::from_str(r#"{"b": 2, "a": {"y": [1, {"p": 2, "q": 1}], "x": 1}}"#)
        .expect("json");
    assert_eq!(first.key(), second.key());
    assert_eq!(first.key(), first.key());
}

/// A change made to [`KeyInputs::new`].
type KeyChange = Box<dyn Fn(&mut KeyInputs)>;

#[test]
fn every_part_changes_the_cache_key() {
    let original = KeyInputs::new().key();
    let changes: Vec<(&str, KeyChange)> = vec![
        ("step name", Box::new(|k| k.name = "train2".into())),
        (
            "command",
            Box::new(|k| {
                k.step.kind = esteira_pipeline::spec::StepKind::Command(vec![
                    "python".into(),
                    "train2.py".into(),
                ])
            }),
        ),
        (
            "type",
            Box::new(|k| {
                k.step.kind = esteira_pipeline::spec::StepKind::Builtin(
                    esteira_pipeline::step::BuiltinKind::Train,
                )
            }),
        ),
        (
            "inputs",
            Box::new(|k| {
                k.step.inputs.insert(
                    "data".into(),
                    esteira_pipeline::spec::InputRef::External("./other.csv".into()),
                );
            }),
        ),
        (
            "outputs",
            Box::new(|k| {
                k.step.outputs.insert(
                    "model".into(),
                    esteira_pipeline::step::ArtifactKind::Directory,
                );
            }),
        ),
        (
            "env",
            Box::new(|k| {
                k.step.env.insert("SEED".into(), "2".into());
            }),
        ),
        (
            "code patterns",
            Box::new(|k| k.step.code.push("lib/*.py".into())),
        ),
        (
            "params",
            Box::new(|k| {
                k.params.insert("horizon".into(), json!(28));
            }),
        ),
        (
            "param type",
            Box::new(|k| {
                k.params.insert("horizon".into(), json!("14"));
            }),
        ),
        (
            "input digest",
            Box::new(|k| {
                k.digests.insert("data".into(), "b".repeat(64));
            }),
        ),
        ("code digest", Box::new(|k| k.code = "d".repeat(64))),
        ("version", Box::new(|k| k.version = "0.5.0".into())),
    ];
    for (what, change) in changes {
        let mut inputs = KeyInputs::new();
        change(&mut inputs);
        assert_ne!(inputs.key(), original, "{what}");
    }
}

#[test]
fn retries_timeout_and_cache_flags_keep_the_cache_key() {
    let original = KeyInputs::new().key();
    let mut inputs = KeyInputs::new();
    inputs.step.retries = 5;
    inputs.step.retry_backoff = std::time::Duration::from_secs(30);
    inputs.step.timeout = Some(std::time::Duration::from_secs(60));
    inputs.step.cache = false;
    assert_eq!(inputs.key(), original);
}

#[test]
fn explain_difference_names_what_changed() {
    let old = KeyInputs::new();
    let mut new = KeyInputs::new();
    new.params.insert("horizon".into(), json!(28));
    new.params
        .insert("model".into(), json!({"depth": 5, "kind": "gbdt"}));
    new.digests.insert("data".into(), "b".repeat(64));
    new.digests.insert("holidays".into(), "e".repeat(64));
    new.code = "d".repeat(64);
    new.version = "0.5.0".into();
    new.step.env.remove("SEED");
    let lines = explain_difference(&old.parts(), &new.parts());
    assert_eq!(
        lines,
        vec![
            "code changed: cccccccccccc… → dddddddddddd…",
            "env removed: SEED (was 1)",
            "input changed: data aaaaaaaaaaaa… → bbbbbbbbbbbb…",
            "input added: holidays = eeeeeeeeeeee…",
            "params changed: horizon 14 → 28",
            "params added: model = {\"depth\":5,\"kind\":\"gbdt\"}",
            "esteira version changed: 0.4.0 → 0.5.0",
        ]
    );
}

#[test]
fn explain_difference_names_nested_params_and_commands() {
    let mut old = KeyInputs::new();
    old.params.insert("model".into(), json!({"depth": 3}));
    let mut new = KeyInputs::new();
    new.params.insert("model".into(), json!({"depth": 5}));
    new.step.kind =
        esteira_pipeline::spec::StepKind::Command(vec!["python".into(), "train2.py".into()]);
    assert_eq!(
        explain_difference(&old.parts(), &new.parts()),
        vec![
            "command changed: [\"python\",\"train.py\"] → [\"python\",\"train2.py\"]",
            "params changed: model.depth 3 → 5",
        ]
    );
    assert!(explain_difference(&old.parts(), &old.parts()).is_empty());
}

#[test]
fn explain_difference_of_documents_that_are_not_objects_says_so() {
    assert_eq!(
        explain_difference(&json!("old"), &KeyInputs::new().parts()),
        vec!["the cache key documents are not comparable objects"]
    );
}

#[test]
fn code_globs_know_classes_trailing_slashes_and_hidden_names() -> Result<()> {
    let dir = code_tree();
    write(&dir.path().join("src/.env.py"), "z = 3");
    let cases: [(&str, &[&str]); 3] = [
        ("conf/a[0-9].yaml", &["conf/a1.yaml"]),
        // Wildcards match a leading `.` in code patterns.
        ("src/*.py", &["src/.env.py", "src/lib.py"]),
        (
            "src/",
            &[
                "src/.env.py",
                "src/deep/data.csv",
                "src/deep/util.py",
                "src/lib.py",
            ],
        ),
    ];
    assert_code_globs(dir.path(), &cases)
}
