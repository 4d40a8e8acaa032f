//! Custom command steps: `command = ["program", "arg", ...]` in `pipeline.toml`.
//!
//! # What a command sees
//!
//! - **Program**: the first word is looked up on `PATH` (the step's `env` may set `PATH`),
//!   unless it contains a `/`, in which case it is a path relative to the pipeline
//!   directory (`./train.sh`) or absolute. To run a script of the pipeline directory, name
//!   its interpreter (`["python", "train.py"]`) or write it with a slash (`./train.py`).
//! - **Working directory**: the pipeline directory (where `pipeline.toml` is).
//! - **Environment**: the worker's environment, then the step's `env`, then:
//!   - `ESTEIRA_INPUT_<PORT>`: the local path of each connected input;
//!   - `ESTEIRA_OUTPUT_<PORT>`: where the command must write each declared output:
//!     `<output dir>/<port>` for a `model` or `directory` (the command creates the
//!     directory), `<port>.parquet` for a `dataset`, `<port>.json` for a `report`,
//!     `blessing` or `model_version`, `<port>` with no extension for a `file`;
//!   - `ESTEIRA_OUTPUT_DIR`: the step's output directory;
//!   - `ESTEIRA_PARAMS`: the path of a JSON file holding the step's resolved params, and
//!     `ESTEIRA_PARAMS_JSON`: the same JSON inline;
//!   - `ESTEIRA_METRICS`: a path where the command may write metrics, either a JSON
//!     object `{"name": number}` or lines `name value` (blank lines and lines starting
//!     with `#` are skipped; a later line for the same name wins);
//!   - `ESTEIRA_STEP`, `ESTEIRA_RUN_ID`, `ESTEIRA_PIPELINE`;
//!   - with MLflow tracking, `MLFLOW_TRACKING_URI`, `MLFLOW_RUN_ID` and
//!     `MLFLOW_EXPERIMENT_ID`, so that `mlflow.log_metric` in the command logs to the
//!     step's own run.
//!
//!   `<PORT>` is the port name upper-cased, with every character other than an ASCII
//!   letter or digit replaced by `_`. Inherited `ESTEIRA_INPUT_*` and `ESTEIRA_OUTPUT_*`
//!   variables are removed first. Every path is absolute. The params and metrics files
//!   are under `<output dir>/.esteira/`, so an output port's name cannot start with `.`.
//! - **Arguments**: `{input.PORT}`, `{output.PORT}`, `{params}` and `{metrics}` anywhere in
//!   an argument are replaced by the same paths. Other braces are left alone.
//! - **Standard input** is empty; **standard output and error** go to the step's log line
//!   by line (error lines prefixed `stderr: `), after a first line `$ <command>`, in the
//!   order they are read (lines written to both at nearly the same moment may swap). A
//!   line longer than 64 KiB is cut into several.
//!
//! # When it fails
//!
//! - A non-zero exit code fails the step with "exit code N" and the last 20 log lines;
//!   death by a signal names the signal.
//! - After a zero exit, every declared output must exist as a file or a directory as its
//!   type says, and the metrics file, when written, must parse.
//!
//! # Processes
//!
//! The command runs in a process group of its own. When it exits, whatever it left running
//! in that group is killed. When the step is cancelled (the engine's timeouts cancel too),
//! the group gets `SIGTERM`, then `SIGKILL` 5 s later if anything in it is still alive, and
//! the step fails with "cancelled". Should the future be dropped instead, the group gets
//! `SIGKILL` at once. Signals are sent to the whole group with kill(2) on the
//! negated group id, since the standard library only signals single processes.
//! A process that moves itself out of the group (`setsid`) escapes all this.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::step::{ArtifactKind, StepContext, StepError, StepLog, StepOutput};

/// How long a cancelled command may take to exit after `SIGTERM`.
const TERM_GRACE: Duration = Duration::from_secs(5);

/// How often a cancelled command is checked for having exited.
const EXIT_POLL: Duration = Duration::from_millis(50);

/// How long output is still read after the command exited (its pipes may be held open
/// by a process that escaped the group).
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How many log lines a failure message repeats.
const TAIL_LINES: usize = 20;

/// The longest log line; longer output is cut into several lines.
const MAX_LINE: usize = 64 * 1024;

/// The step's MLflow run, passed to the command as `MLFLOW_*` variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracking {
    /// The tracking server's URI (`MLFLOW_TRACKING_URI`).
    pub uri: String,
    /// The step's run (`MLFLOW_RUN_ID`).
    pub run_id: String,
    /// The pipeline's experiment (`MLFLOW_EXPERIMENT_ID`).
    pub experiment_id: String,
}

/// Runs the command `argv` as step `ctx.origin.step`, as the module documentation
/// describes. `outputs` are the step's declared outputs and `env` its extra variables.
/// The step is cancelled when `cancel` becomes `true` (a dropped sender never cancels).
///
/// # Errors
/// - [`StepError::Input`] naming an input whose path does not exist, or a `{input.PORT}`
///   placeholder whose port is not connected;
/// - [`StepError::Failed`] when `argv` is empty, a `{output.PORT}` placeholder names no
///   declared output, two ports map to the same variable name, the program is not found
///   or cannot start, it exits non-zero or by a signal, an output is missing or of the
///   wrong kind, the metrics file is malformed, the step's files cannot be written, or the
///   step was cancelled (`"cancelled"`).
pub async fn run_command(
    argv: &[String],
    ctx: &StepContext<'_>,
    outputs: &BTreeMap<String, ArtifactKind>,
    env: &BTreeMap<String, String>,
    tracking: Option<&Tracking>,
    mut cancel: watch::Receiver<bool>,
) -> Result<StepOutput, StepError> {
    if argv.is_empty() {
        return Err(StepError::Failed("the command is empty".into()));
    }
    if !ctx.pipeline_dir.is_dir() {
        return Err(StepError::Failed(format!(
            "the pipeline directory {} is not a directory",
            ctx.pipeline_dir.display()
        )));
    }
    let files = StepFiles::prepare(ctx, outputs)?;
    let args: Vec<String> = argv
        .iter()
        .map(|arg| expand_placeholders(arg, &files))
        .collect::<Result<_, _>>()?;
    let program = resolve_program(&args[0], ctx.pipeline_dir, env)?;
    let command = build_command(&program, &args[1..], ctx, env, &files, tracking)?;
    if *cancel.borrow() {
        return Err(cancelled());
    }
    let log_start = ctx.log.lines().len();
    ctx.log.line(format!("$ {}", args.join(" ")));
    let mut child = spawn(command, &args[0], &program)?;
    let mut group = ProcessGroup::of(&child)?;
    let status = supervise(&mut child, &mut group, ctx.log, &mut cancel).await?;
    check_status(status, &args[0], ctx.log, log_start)?;
    check_outputs(&files.out_dir, outputs)?;
    Ok(StepOutput {
        metrics: read_metrics(&files.metrics)?,
        outputs: files.outputs,
    })
}

fn cancelled() -> StepError {
    StepError::Failed("cancelled".into())
}

/// The absolute paths a command is given.
struct StepFiles {
    out_dir: PathBuf,
    inputs: BTreeMap<String, PathBuf>,
    outputs: BTreeMap<String, PathBuf>,
    params: PathBuf,
    params_json: String,
    metrics: PathBuf,
}

impl StepFiles {
    /// Computes the paths and writes the params file under `<out_dir>/.esteira/`.
    fn prepare(
        ctx: &StepContext<'_>,
        outputs: &BTreeMap<String, ArtifactKind>,
    ) -> Result<StepFiles, StepError> {
        let out_dir = absolute(ctx.out_dir)?;
        let inputs = ctx
            .inputs
            .iter()
            .map(|(port, path)| Ok((port.clone(), existing_input(port, path)?)))
            .collect::<Result<_, StepError>>()?;
        let outputs = outputs
            .iter()
            .map(|(port, kind)| Ok((port.clone(), output_path(&out_dir, port, *kind)?)))
            .collect::<Result<_, StepError>>()?;
        let private = out_dir.join(".esteira");
        std::fs::create_dir_all(&private).map_err(|e| file_error(&private, &e))?;
        let metrics = private.join("metrics");
        match std::fs::remove_file(&metrics) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(file_error(&metrics, &e));
            }
            _ => {}
        }
        let params = private.join("params.json");
        let params_json = Value::Object(ctx.params.clone()).to_string();
        std::fs::write(&params, &params_json).map_err(|e| file_error(&params, &e))?;
        Ok(StepFiles {
            out_dir,
            inputs,
            outputs,
            params,
            params_json,
            metrics,
        })
    }
}

/// The absolute path of input `port`.
///
/// # Errors
/// [`StepError::Input`] when nothing exists at `path`.
fn existing_input(port: &str, path: &Path) -> Result<PathBuf, StepError> {
    if !path.exists() {
        return Err(StepError::Input {
            input: port.to_string(),
            reason: format!("{} does not exist", path.display()),
        });
    }
    absolute(path)
}

fn absolute(path: &Path) -> Result<PathBuf, StepError> {
    std::path::absolute(path).map_err(|e| file_error(path, &e))
}

fn file_error(path: &Path, error: &std::io::Error) -> StepError {
    StepError::Failed(format!("{}: {error}", path.display()))
}

/// Where output `port` of kind `kind` is to be written, as the module documentation
/// says.
///
/// # Errors
/// [`StepError::Failed`] when `port` cannot be a file name: empty, starting with `.` or
/// holding a `/` or a NUL.
pub fn output_path(out_dir: &Path, port: &str, kind: ArtifactKind) -> Result<PathBuf, StepError> {
    if port.is_empty() || port.starts_with('.') || port.contains(['/', '\0']) {
        return Err(StepError::Failed(format!(
            "output port {port:?} cannot be a file name: it must not be empty, start with `.` or hold `/`"
        )));
    }
    let extension = match kind {
        ArtifactKind::Dataset => ".parquet",
        ArtifactKind::Report | ArtifactKind::Blessing | ArtifactKind::ModelVersion => ".json",
        ArtifactKind::Model | ArtifactKind::Directory | ArtifactKind::File => "",
    };
    Ok(out_dir.join(format!("{port}{extension}")))
}

/// `arg` with `{input.PORT}`, `{output.PORT}`, `{params}` and `{metrics}` replaced.
fn expand_placeholders(arg: &str, files: &StepFiles) -> Result<String, StepError> {
    let mut expanded = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(start) = rest.find('{') {
        expanded.push_str(&rest[..start]);
        let tail = &rest[start..];
        match placeholder(tail, files)? {
            Some((path, length)) => {
                expanded.push_str(&path.display().to_string());
                rest = &tail[length..];
            }
            None => {
                expanded.push('{');
                rest = &tail[1..];
            }
        }
    }
    expanded.push_str(rest);
    Ok(expanded)
}

/// The path a placeholder at the start of `tail` stands for, and the placeholder's
/// length; `None` when `tail` does not start with one.
fn placeholder<'a>(
    tail: &str,
    files: &'a StepFiles,
) -> Result<Option<(&'a PathBuf, usize)>, StepError> {
    let Some(end) = tail.find('}') else {
        return Ok(None);
    };
    let name = &tail[1..end];
    let path = match name.split_once('.') {
        _ if name == "params" => &files.params,
        _ if name == "metrics" => &files.metrics,
        Some(("input", port)) => files.inputs.get(port).ok_or_else(|| StepError::Input {
            input: port.to_string(),
            reason: format!(
                "the command uses {{input.{port}}} but the port is not connected; connected: {:?}",
                files.inputs.keys().collect::<Vec<_>>()
            ),
        })?,
        Some(("output", port)) => files.outputs.get(port).ok_or_else(|| {
            StepError::Failed(format!(
                "the command uses {{output.{port}}} but the step declares no output {port:?}; outputs: {:?}",
                files.outputs.keys().collect::<Vec<_>>()
            ))
        })?,
        _ => return Ok(None),
    };
    Ok(Some((path, end + 1)))
}

/// The program `name` as the module documentation says: relative to `pipeline_dir` when
/// it contains a `/`, else the first executable file named `name` on `PATH`.
fn resolve_program(
    name: &str,
    pipeline_dir: &Path,
    env: &BTreeMap<String, String>,
) -> Result<PathBuf, StepError> {
    if name.contains('/') {
        return absolute(&pipeline_dir.join(name));
    }
    let search = env
        .get("PATH")
        .map(std::ffi::OsString::from)
        .or_else(|| std::env::var_os("PATH"))
        .unwrap_or_default();
    std::env::split_paths(&search)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| pipeline_dir.join(dir).join(name))
        .find(|candidate| is_executable(candidate))
        .map_or_else(
            || {
                Err(StepError::Failed(format!(
                    "program `{name}` not found on PATH ({}); a program in the pipeline directory is written with a slash, like `./{name}`",
                    search.to_string_lossy()
                )))
            },
            |found| absolute(&found),
        )
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn build_command(
    program: &Path,
    args: &[String],
    ctx: &StepContext<'_>,
    env: &BTreeMap<String, String>,
    files: &StepFiles,
    tracking: Option<&Tracking>,
) -> Result<Command, StepError> {
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(ctx.pipeline_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    die_with_parent(&mut command);
    for (name, _) in std::env::vars_os() {
        let bytes = name.as_bytes();
        if bytes.starts_with(b"ESTEIRA_INPUT_") || bytes.starts_with(b"ESTEIRA_OUTPUT_") {
            command.env_remove(name);
        }
    }
    command.envs(env);
    for (variable, path) in port_variables("ESTEIRA_INPUT_", &files.inputs)? {
        command.env(variable, path);
    }
    for (variable, path) in port_variables("ESTEIRA_OUTPUT_", &files.outputs)? {
        command.env(variable, path);
    }
    command
        .env("ESTEIRA_OUTPUT_DIR", &files.out_dir)
        .env("ESTEIRA_PARAMS", &files.params)
        .env("ESTEIRA_PARAMS_JSON", &files.params_json)
        .env("ESTEIRA_METRICS", &files.metrics)
        .env("ESTEIRA_STEP", &ctx.origin.step)
        .env("ESTEIRA_RUN_ID", &ctx.origin.run_id)
        .env("ESTEIRA_PIPELINE", &ctx.origin.pipeline);
    if let Some(tracking) = tracking {
        command
            .env("MLFLOW_TRACKING_URI", &tracking.uri)
            .env("MLFLOW_RUN_ID", &tracking.run_id)
            .env("MLFLOW_EXPERIMENT_ID", &tracking.experiment_id);
    }
    Ok(command)
}

/// `prefix` + each port's name as a variable name, with its path.
///
/// # Errors
/// [`StepError::Failed`] naming two ports whose variable names are the same.
fn port_variables<'a>(
    prefix: &str,
    ports: &'a BTreeMap<String, PathBuf>,
) -> Result<BTreeMap<String, &'a PathBuf>, StepError> {
    let mut variables: BTreeMap<String, (&str, &PathBuf)> = BTreeMap::new();
    for (port, path) in ports {
        let variable = port_variable(prefix, port);
        if let Some((other, _)) = variables.get(&variable) {
            return Err(StepError::Failed(format!(
                "ports {other:?} and {port:?} would both be passed as {variable}; rename one"
            )));
        }
        variables.insert(variable, (port, path));
    }
    Ok(variables.into_iter().map(|(v, (_, p))| (v, p)).collect())
}

/// `prefix` + `port` upper-cased, with characters other than ASCII letters and digits as
/// `_` (`ESTEIRA_INPUT_` + `train-data` is `ESTEIRA_INPUT_TRAIN_DATA`).
pub fn port_variable(prefix: &str, port: &str) -> String {
    let name: String = port
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}{name}")
}

/// Makes the kernel kill the step (SIGKILL) when the thread that started it dies, so a
/// worker killed with SIGKILL leaves no step running: its lease expires and the step runs
/// again elsewhere, never twice at the same time. (The runtime's worker threads live as long
/// as the process.) Only the step's own process gets the signal; processes it starts
/// itself are killed with the group on cancellation, not on a worker's death.
fn die_with_parent(command: &mut Command) {
    // SAFETY: the closure runs in the child between fork and exec; it only calls prctl,
    // which is async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn spawn(mut command: Command, name: &str, program: &Path) -> Result<Child, StepError> {
    command.spawn().map_err(|e| {
        let at = program.display();
        StepError::Failed(match e.kind() {
            std::io::ErrorKind::NotFound if !program.exists() => {
                format!("program `{name}` not found at {at}")
            }
            std::io::ErrorKind::NotFound => format!(
                "could not start `{name}` ({at}): {e}; is the interpreter on its #! line installed?"
            ),
            std::io::ErrorKind::PermissionDenied => {
                format!("program `{name}` ({at}) is not executable: {e}")
            }
            _ => format!("could not start `{name}` ({at}): {e}"),
        })
    })
}

/// The command's process group. Dropping it while armed sends `SIGKILL` to the group.
struct ProcessGroup {
    id: u32,
    armed: bool,
}

impl ProcessGroup {
    /// The group `child` leads (it was spawned with `process_group(0)`).
    fn of(child: &Child) -> Result<ProcessGroup, StepError> {
        let id = child
            .id()
            .ok_or_else(|| StepError::Failed("the command exited before it was tracked".into()))?;
        Ok(ProcessGroup { id, armed: true })
    }

    /// Sends `signal` (`libc::SIGTERM`, `libc::SIGKILL`, or 0 to probe) to the group.
    /// Returns whether a process in it received it.
    fn signal(&self, signal: i32) -> bool {
        let Ok(group) = i32::try_from(self.id) else {
            return false;
        };
        // SAFETY: kill(2) with a negative pid signals that process group; it touches no
        // memory of ours.
        unsafe { libc::kill(-group, signal) == 0 }
    }

    /// Kills whatever is left in the group once the command has exited, and disarms the
    /// drop guard.
    fn kill_rest(&mut self) {
        self.signal(libc::SIGKILL);
        self.armed = false;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if self.armed {
            self.signal(libc::SIGKILL);
        }
    }
}

/// Logs the command's output until it exits and its output ends, or until `cancel`.
async fn supervise(
    child: &mut Child,
    group: &mut ProcessGroup,
    log: &StepLog,
    cancel: &mut watch::Receiver<bool>,
) -> Result<ExitStatus, StepError> {
    let mut stdout = LineReader::new(child.stdout.take());
    let mut stderr = LineReader::new(child.stderr.take());
    let mut status = None;
    let mut drain_until = None;
    loop {
        if status.is_some() && stdout.finished && stderr.finished {
            break;
        }
        tokio::select! {
            () = cancel_requested(cancel) => {
                terminate(child, group, log).await;
                return Err(cancelled());
            }
            line = stdout.next_line(), if !stdout.finished => {
                if let Some(line) = line {
                    log.line(line);
                }
            }
            line = stderr.next_line(), if !stderr.finished => {
                if let Some(line) = line {
                    log.line(format!("stderr: {line}"));
                }
            }
            exit = child.wait(), if status.is_none() => {
                let exit = exit.map_err(|e| StepError::Failed(format!("waiting for the command: {e}")))?;
                status = Some(exit);
                group.kill_rest();
                drain_until = Some(Instant::now() + DRAIN_GRACE);
            }
            () = sleep_until(drain_until), if drain_until.is_some() => {
                log.line("the command exited but its output stayed open; stopped reading it");
                break;
            }
        }
    }
    status.ok_or_else(|| StepError::Failed("the command's exit was not seen".into()))
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Resolves when `cancel` is `true`; never when its sender is gone.
async fn cancel_requested(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// `SIGTERM` to the group, then `SIGKILL` once [`TERM_GRACE`] has passed with anything in
/// it still alive.
async fn terminate(child: &mut Child, group: &mut ProcessGroup, log: &StepLog) {
    log.line("cancelled: sending SIGTERM to the command's process group");
    group.signal(libc::SIGTERM);
    let deadline = Instant::now() + TERM_GRACE;
    while Instant::now() < deadline {
        let leader_exited = !matches!(child.try_wait(), Ok(None));
        if leader_exited && !group.signal(0) {
            group.armed = false;
            return;
        }
        tokio::time::sleep(EXIT_POLL).await;
    }
    log.line("cancelled: still running after SIGTERM; sending SIGKILL");
    group.kill_rest();
    if matches!(child.try_wait(), Ok(None))
        && let Err(e) = child.kill().await
    {
        log.line(format!("cancelled: could not kill the command: {e}"));
    }
}

/// Reads lines from a child's pipe without holding more than one line.
struct LineReader<R> {
    reader: Option<R>,
    pending: Vec<u8>,
    chunk: Box<[u8]>,
    finished: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    fn new(reader: Option<R>) -> LineReader<R> {
        LineReader {
            finished: reader.is_none(),
            reader,
            pending: Vec::new(),
            chunk: vec![0u8; 8192].into_boxed_slice(),
        }
    }

    /// The next line without its end; `None` at the end of the output. Cancel-safe: a
    /// dropped call loses nothing.
    async fn next_line(&mut self) -> Option<String> {
        loop {
            let window = &self.pending[..self.pending.len().min(MAX_LINE)];
            if let Some(end) = window.iter().position(|b| *b == b'\n') {
                return Some(self.take(end, 1));
            }
            if self.pending.len() >= MAX_LINE {
                return Some(self.take(MAX_LINE, 0));
            }
            let read = match self.reader.as_mut() {
                Some(reader) => reader.read(&mut self.chunk).await,
                None => Ok(0),
            };
            match read {
                Ok(0) => return self.finish(None),
                Ok(n) => self.pending.extend_from_slice(&self.chunk[..n]),
                Err(e) => return self.finish(Some(e)),
            }
        }
    }

    fn finish(&mut self, error: Option<std::io::Error>) -> Option<String> {
        self.finished = true;
        self.reader = None;
        let mut rest = (!self.pending.is_empty()).then(|| self.take(self.pending.len(), 0));
        if let Some(e) = error {
            let note = format!("(reading the output failed: {e})");
            rest = Some(rest.map_or(note.clone(), |r| format!("{r} {note}")));
        }
        rest
    }

    /// The first `length` pending bytes as text, removing them and `skip` more.
    fn take(&mut self, length: usize, skip: usize) -> String {
        let mut line: Vec<u8> = self.pending.drain(..length + skip).collect();
        line.truncate(length);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        String::from_utf8_lossy(&line).into_owned()
    }
}

fn check_status(
    status: ExitStatus,
    program: &str,
    log: &StepLog,
    log_start: usize,
) -> Result<(), StepError> {
    if status.success() {
        return Ok(());
    }
    let cause = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal} ({})", signal_name(signal)),
        (None, None) => format!("ended abnormally ({status})"),
    };
    let lines = log.lines();
    let lines = &lines[log_start.min(lines.len())..];
    let tail = &lines[lines.len().saturating_sub(TAIL_LINES)..];
    Err(StepError::Failed(format!(
        "`{program}` failed: {cause}; last log lines:\n{}",
        tail.join("\n")
    )))
}

/// The name of Linux signal `number`.
fn signal_name(number: i32) -> &'static str {
    match number {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => "another signal",
    }
}

/// Checks that every declared output exists as its kind says.
fn check_outputs(out_dir: &Path, kinds: &BTreeMap<String, ArtifactKind>) -> Result<(), StepError> {
    for (port, kind) in kinds {
        let path = output_path(out_dir, port, *kind)?;
        let expected = if kind.is_directory() {
            "directory"
        } else {
            "file"
        };
        let found = match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => "directory",
            Ok(meta) if meta.is_file() => "file",
            Ok(_) => "special file",
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StepError::Failed(format!(
                    "output `{port}` ({}) was not written: the command must create the {expected} {} ($ESTEIRA_OUTPUT_*)",
                    kind.name(),
                    path.display()
                )));
            }
            Err(e) => return Err(file_error(&path, &e)),
        };
        if found != expected {
            return Err(StepError::Failed(format!(
                "output `{port}` ({}) at {} is a {found}, but must be a {expected}",
                kind.name(),
                path.display()
            )));
        }
    }
    Ok(())
}

/// The metrics the command wrote at `path`, or none when it wrote nothing.
///
/// # Errors
/// [`StepError::Failed`] naming the file and the bad line or metric.
pub fn read_metrics(path: &Path) -> Result<BTreeMap<String, f64>, StepError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(file_error(path, &e)),
    };
    let bad = |what: String| StepError::Failed(format!("metrics file {}: {what}", path.display()));
    if text.trim_start().starts_with('{') {
        let object: Map<String, Value> =
            serde_json::from_str(&text).map_err(|e| bad(format!("not a JSON object: {e}")))?;
        return object
            .into_iter()
            .map(
                |(name, value)| match value.as_f64().filter(|v| v.is_finite()) {
                    Some(v) => Ok((name, v)),
                    None => Err(bad(format!(
                        "metric {name:?} is {value}, not a finite number"
                    ))),
                },
            )
            .collect();
    }
    let mut metrics = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let parsed = match (words.next(), words.next(), words.next()) {
            (Some(name), Some(value), None) => value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(|v| (name.to_string(), v)),
            _ => None,
        };
        let (name, value) = parsed.ok_or_else(|| {
            bad(format!(
                "line {}: expected `name value` with a finite number, got {line:?}",
                index + 1
            ))
        })?;
        metrics.insert(name, value);
    }
    Ok(metrics)
}
