//! Content digests and step cache keys.
//!
//! Every digest is a SHA-256 in lower-case hex. A file's digest is over its bytes; a
//! directory's over its tree (see [`dir_digest`]); a step's code digest over the files it
//! runs (see [`code_digest`]).
//!
//! A step's cache key ([`cache_key`]) is the SHA-256 of one canonical JSON document
//! ([`cache_key_parts`]) holding everything that decides what the step writes:
//!
//! - `step`: its name (a built-in step's outputs may record it, e.g. in lineage tags);
//! - `type`, `command`, `inputs` (the wiring), `outputs`, `env` and `code` (the patterns):
//!   the step's definition;
//! - `params`: the resolved params;
//! - `input_digests`: the content digest of each input, by port;
//! - `code_digest`: see [`code_digest`];
//! - `version`: the esteira version, since a new release may change a built-in step.
//!
//! `retries`, `retry_backoff`, `timeout` and `cache` are left out on purpose: they decide
//! how a step is run, not what it writes, so changing them keeps the cached result.
//!
//! Canonical means objects have their keys sorted at every depth, so the key does not
//! depend on the order in which the file or the caller listed them.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::glob::{GlobOptions, glob_with};
use crate::spec::{InputRef, StepKind, StepSpec, hex_digest};

/// Bytes read at a time when hashing a file.
const CHUNK: usize = 64 * 1024;

/// How many hex digits of a digest [`explain_difference`] shows.
const SHORT_DIGEST: usize = 12;

/// The SHA-256 of the file at `path`, read in chunks. A symbolic link is followed.
///
/// # Errors
/// [`Error::Io`] naming the file when it cannot be opened or read.
pub fn file_digest(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let read = file.read(&mut buffer).map_err(|e| Error::io(path, e))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex(&hasher.finalize()))
}

/// The SHA-256 of the directory tree at `path`: over every entry's path relative to
/// `path` (components joined by `/`, sorted bytewise), whether it is a directory, and
/// each file's [`file_digest`]. Renaming, adding, removing or editing any file or
/// directory changes it; modification times and listing order do not.
///
/// `path` itself may be a symbolic link to a directory; a link inside the tree is refused,
/// since its target could lie outside the tree or change without the tree changing.
///
/// # Errors
/// [`Error::Invalid`] naming a symbolic link or special file (socket, FIFO, device) in the
/// tree; [`Error::Io`] naming an entry that cannot be read.
pub fn dir_digest(path: &Path) -> Result<String> {
    let mut entries = Vec::new();
    collect_tree(path, &mut Vec::new(), &mut entries)?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hasher = Sha256::new();
    for (relative, digest) in &entries {
        match digest {
            Some(_) => hasher.update(b"f\0"),
            None => hasher.update(b"d\0"),
        }
        hasher.update(relative);
        hasher.update(b"\0");
        if let Some(d) = digest {
            hasher.update(d.as_bytes());
        }
        hasher.update(b"\0");
    }
    Ok(hex(&hasher.finalize()))
}

/// One entry of a tree: its relative path as bytes, and its digest (`None` for a
/// directory).
type TreeEntry = (Vec<u8>, Option<String>);

fn collect_tree(root: &Path, prefix: &mut Vec<u8>, entries: &mut Vec<TreeEntry>) -> Result<()> {
    let dir = if prefix.is_empty() {
        root.to_path_buf()
    } else {
        root.join(std::ffi::OsStr::from_bytes(prefix))
    };
    let listing = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
    for entry in listing {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
        let start = prefix.len();
        if !prefix.is_empty() {
            prefix.push(b'/');
        }
        prefix.extend_from_slice(entry.file_name().as_bytes());
        if kind.is_dir() {
            entries.push((prefix.clone(), None));
            collect_tree(root, prefix, entries)?;
        } else if kind.is_file() {
            entries.push((prefix.clone(), Some(file_digest(&path)?)));
        } else {
            return Err(unsupported_entry(&path, kind.is_symlink()));
        }
        prefix.truncate(start);
    }
    Ok(())
}

fn unsupported_entry(path: &Path, is_symlink: bool) -> Error {
    let what = if is_symlink {
        "is a symbolic link"
    } else {
        "is not a regular file or directory"
    };
    Error::invalid(
        path.display().to_string(),
        format!("{what}; digests cover regular files and directories only"),
    )
}

/// [`file_digest`] or [`dir_digest`], as `path` is a file or a directory (a symbolic link
/// is followed).
///
/// # Errors
/// [`Error::Io`] when `path` does not exist or cannot be read; [`Error::Invalid`] when it
/// is neither a file nor a directory, or as [`dir_digest`].
pub fn path_digest(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        dir_digest(path)
    } else if meta.is_file() {
        file_digest(path)
    } else {
        Err(unsupported_entry(path, false))
    }
}

/// The digest of the code step `step_name` runs, over the relative path and digest of
/// each file (sorted by path):
///
/// - for a command step, every argument of the command that is a relative path naming an
///   existing regular file under `pipeline_dir` (`train.py`, `./scripts/prep.sh`);
///   arguments naming directories or nothing are not code;
/// - every file matched by a pattern of the step's `code`, relative to `pipeline_dir`, a
///   glob as in [`crate::glob`]: `?` matches one character, `*` any run of characters
///   and `[...]` one of a set within one path component (a leading `.` included), `**`
///   any number of whole components; a pattern that matches a directory covers every file
///   under it. `**` does not descend into symbolic links.
///
/// A built-in step without `code` has the digest of nothing (the SHA-256 of no bytes).
///
/// # Errors
/// [`Error::Invalid`] keyed `steps.<step>.code` naming a pattern that is absolute,
/// malformed or matches no file, or a matched symbolic link; [`Error::Io`] naming a file that cannot be
/// read.
pub fn code_digest(pipeline_dir: &Path, step_name: &str, step: &StepSpec) -> Result<String> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    if let StepKind::Command(argv) = &step.kind {
        for arg in argv {
            let path = pipeline_dir.join(arg);
            if Path::new(arg).is_relative() && path.is_file() {
                files.insert(arg.clone(), file_digest(&path)?);
            }
        }
    }
    for pattern in &step.code {
        let matched = glob(pipeline_dir, pattern).map_err(|reason| {
            Error::invalid(
                format!("steps.{step_name}.code"),
                format!("pattern {pattern:?} {reason}"),
            )
        })?;
        if matched.is_empty() {
            return Err(Error::invalid(
                format!("steps.{step_name}.code"),
                format!(
                    "pattern {pattern:?} matches no file under {}",
                    pipeline_dir.display()
                ),
            ));
        }
        for relative in matched {
            let digest = file_digest(&pipeline_dir.join(&relative))?;
            files.insert(relative, digest);
        }
    }
    let mut hasher = Sha256::new();
    for (relative, digest) in &files {
        hasher.update(relative.as_bytes());
        hasher.update(b"\0");
        hasher.update(digest.as_bytes());
        hasher.update(b"\0");
    }
    Ok(hex(&hasher.finalize()))
}

/// The files under `root` matched by `pattern` (see [`glob_with`]; wildcards match a leading
/// `.`, and a matched directory stands for every file under it), as relative paths joined
/// by `/`.
///
/// # Errors
/// Why the pattern cannot be used (absolute, malformed, a matched link, an unreadable
/// directory), as a message completing "pattern ...".
fn glob(root: &Path, pattern: &str) -> std::result::Result<Vec<String>, String> {
    if Path::new(pattern).is_absolute() {
        return Err("is absolute; code patterns are relative to the pipeline directory".into());
    }
    let options = GlobOptions {
        hidden: true,
        any_entry: true,
        missing_start_matches_nothing: true,
    };
    // `src/` names the directory `src`, which a glob (made for files) would refuse.
    let pattern = pattern.trim_end_matches('/');
    let matched = glob_with(root, pattern, options).map_err(|e| format!("cannot be used: {e}"))?;
    let mut found = Vec::new();
    for path in matched {
        let relative = path
            .strip_prefix(root)
            .map_err(|_| format!("matches {}, outside {}", path.display(), root.display()))?;
        add_matched(root, relative, &mut found)?;
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// Adds the file at `relative`, or every file under the directory at `relative`.
fn add_matched(
    root: &Path,
    relative: &Path,
    found: &mut Vec<String>,
) -> std::result::Result<(), String> {
    let path = root.join(relative);
    let meta = path
        .symlink_metadata()
        .map_err(|e| format!("could not read {}: {e}", path.display()))?;
    let base = relative_text(relative);
    if meta.is_file() {
        found.push(base);
    } else if meta.is_dir() {
        let mut tree = Vec::new();
        collect_tree(&path, &mut Vec::new(), &mut tree).map_err(|e| format!("matched {e}"))?;
        for (inside, digest) in tree {
            if digest.is_some() {
                let inside = String::from_utf8_lossy(&inside).into_owned();
                found.push(if base.is_empty() {
                    inside
                } else {
                    format!("{base}/{inside}")
                });
            }
        }
    } else {
        let kind = if meta.is_symlink() {
            "a symbolic link"
        } else {
            "not a regular file or directory"
        };
        return Err(format!(
            "matches {}, which is {kind}; code must be regular files",
            path.display()
        ));
    }
    Ok(())
}

/// `relative`'s components joined by `/`.
fn relative_text(relative: &Path) -> String {
    relative
        .iter()
        .map(|c| c.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The canonical document a step's cache key is the digest of; see the module
/// documentation for its fields. The engine stores it beside the key so that
/// [`explain_difference`] can say why a later run missed the cache.
pub fn cache_key_parts(
    step_name: &str,
    step: &StepSpec,
    resolved_params: &Map<String, Value>,
    input_digests: &BTreeMap<String, String>,
    code_digest: &str,
    esteira_version: &str,
) -> Value {
    let (kind, command) = match &step.kind {
        StepKind::Builtin(b) => (b.name(), Value::Null),
        StepKind::Command(argv) => ("command", json!(argv)),
    };
    let inputs: BTreeMap<&str, String> = step
        .inputs
        .iter()
        .map(|(port, input)| {
            let source = match input {
                InputRef::Step { step, output } => format!("{step}.{output}"),
                InputRef::External(path) => path.clone(),
            };
            (port.as_str(), source)
        })
        .collect();
    let outputs: BTreeMap<&str, &str> = step
        .outputs
        .iter()
        .map(|(port, kind)| (port.as_str(), kind.name()))
        .collect();
    canonical(&json!({
        "step": step_name,
        "type": kind,
        "command": command,
        "inputs": inputs,
        "outputs": outputs,
        "env": step.env,
        "code": step.code,
        "params": resolved_params,
        "input_digests": input_digests,
        "code_digest": code_digest,
        "version": esteira_version,
    }))
}

/// The SHA-256 of the compact JSON text of [`cache_key_parts`] with the same arguments.
pub fn cache_key(
    step_name: &str,
    step: &StepSpec,
    resolved_params: &Map<String, Value>,
    input_digests: &BTreeMap<String, String>,
    code_digest: &str,
    esteira_version: &str,
) -> String {
    let parts = cache_key_parts(
        step_name,
        step,
        resolved_params,
        input_digests,
        code_digest,
        esteira_version,
    );
    hex_digest(parts.to_string().as_bytes())
}

/// `value` with the keys of every object, at every depth, in sorted order.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// One line per difference between two [`cache_key_parts`] documents, e.g.
/// `params changed: horizon 14 → 28`, `input changed: train 3f2a…  → 9e8d…`,
/// `code changed: …`, `esteira version changed: 0.3.0 → 0.4.0`. Nested values are named
/// by a dotted path (`params changed: model.depth 3 → 5`). Empty when they are equal.
pub fn explain_difference(old: &Value, new: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    let (Value::Object(old_map), Value::Object(new_map)) = (old, new) else {
        if old != new {
            lines.push("the cache key documents are not comparable objects".into());
        }
        return lines;
    };
    let mut fields: Vec<&String> = old_map.keys().chain(new_map.keys()).collect();
    fields.sort();
    fields.dedup();
    for field in fields {
        let label = field_label(field);
        let shorten = matches!(field.as_str(), "input_digests" | "code_digest");
        let mut changes = Vec::new();
        diff_values(
            "",
            old_map.get(field.as_str()),
            new_map.get(field.as_str()),
            &mut changes,
        );
        for change in changes {
            lines.push(change.describe(label, shorten));
        }
    }
    lines
}

fn field_label(field: &str) -> &str {
    match field {
        "step" => "step name",
        "type" => "step type",
        "code" => "code patterns",
        "code_digest" => "code",
        "input_digests" => "input",
        "version" => "esteira version",
        other => other,
    }
}

/// One difference, at a dotted path inside a field (empty for the field itself).
enum Change<'a> {
    Changed(String, &'a Value, &'a Value),
    Added(String, &'a Value),
    Removed(String, &'a Value),
}

impl Change<'_> {
    fn describe(&self, label: &str, shorten: bool) -> String {
        let show = |v: &Value| match v {
            Value::String(s) if shorten => s.chars().take(SHORT_DIGEST).collect::<String>() + "…",
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let at = |path: &str| {
            if path.is_empty() {
                String::new()
            } else {
                format!("{path} ")
            }
        };
        match self {
            Change::Changed(path, old, new) => {
                format!("{label} changed: {}{} → {}", at(path), show(old), show(new))
            }
            Change::Added(path, new) => format!("{label} added: {}= {}", at(path), show(new)),
            Change::Removed(path, old) => {
                format!("{label} removed: {}(was {})", at(path), show(old))
            }
        }
    }
}

fn diff_values<'a>(
    path: &str,
    old: Option<&'a Value>,
    new: Option<&'a Value>,
    changes: &mut Vec<Change<'a>>,
) {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let nested = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                diff_values(&nested, a.get(key.as_str()), b.get(key.as_str()), changes);
            }
        }
        (Some(a), Some(b)) if a != b => changes.push(Change::Changed(path.to_string(), a, b)),
        (None, Some(b)) => changes.push(Change::Added(path.to_string(), b)),
        (Some(a), None) => changes.push(Change::Removed(path.to_string(), a)),
        _ => {}
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
