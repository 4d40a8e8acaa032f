//! The `ingest` step: reads CSV or Parquet files, or the result of a PostgreSQL query, into
//! one dataset.
//!
//! Params (exactly one of `path` and `query`):
//! - `path`: a string or a list of strings, each a file or a glob. A local pattern is relative
//!   to the pipeline's directory unless absolute; `s3://bucket/dir/name` reads from S3
//!   (configured by the `AWS_*` environment variables), with a glob allowed in the last
//!   segment only. Globs know `*` (any run of characters), `?` (one character), `[abc]`,
//!   `[a-z]` and `[!abc]` (one character of, or not of, a set; a `[` must be closed) and,
//!   locally, a `**` segment (any number of directories; a final one: every file below), as
//!   in [`crate::glob`], wildcards matching names that start with `.` too. The format follows the extension (`.csv`, `.parquet`,
//!   `.pq`). Every file matched is read and the tables are concatenated in sorted path order;
//!   each file must have the columns of the first (in any order). A column that is an integer
//!   in some files and a float in others becomes a float.
//! - `query` with `url`: one SQL statement run on the PostgreSQL database at `url`. Column
//!   types map to Arrow as: `int2`/`int4`/`int8` → Int64, `float4`/`float8`/`numeric` →
//!   Float64, `text`/`varchar`/`char`/`name` → Utf8, `bool` → Boolean, `date` → Date32,
//!   `timestamp` → Timestamp(ms), `timestamptz` → Timestamp(ms, UTC) (sub-millisecond digits
//!   are dropped, rounding down). Another type is an error naming the column. A query
//!   that returns no rows is an error, as an empty file is.
//!
//! Output `data`; metrics `rows` and `files` (0 for a query).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder,
    RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use esteira_artifacts::{ArtifactPath, ArtifactStore};
use esteira_ml::dataset::Table;
use futures::TryStreamExt;
use sqlx::postgres::{PgConnection, PgRow, PgValueFormat, PgValueRef};
use sqlx::{
    AssertSqlSafe, Column, Connection, Executor, Row, SqlSafeStr, Statement, TypeInfo, ValueRef,
};
use tokio::io::AsyncWriteExt;

use super::io::{self, param_error};
use crate::glob::{GlobOptions, NamePattern, glob_with, has_wildcard};
use crate::step::{StepContext, StepError, StepOutput};

/// Runs the step.
///
/// # Errors
/// [`StepError::Param`] when both or neither of `path` and `query` are given, `url` is
/// missing or misplaced, a pattern is malformed or matches no file, or the query cannot run or returns a
/// column of an unsupported type; [`StepError::Failed`] when a file cannot be read or
/// differs in its columns from the first one, or the query returns no rows.
pub async fn run(ctx: &StepContext<'_>) -> Result<StepOutput, StepError> {
    let (table, files) = match Source::from_params(ctx)? {
        Source::Files(patterns) => {
            let read = read_files(ctx, &patterns).await;
            remove_downloads(ctx).await?;
            read?
        }
        Source::Query { sql, url } => (query_postgres(&url, &sql).await?, 0),
    };
    let rows = table.num_rows();
    ctx.log.line(format!(
        "ingested {rows} rows and {} columns ({}) from {}",
        table.schema().fields().len(),
        table.column_names().join(", "),
        if files == 0 {
            "a PostgreSQL query".to_string()
        } else {
            format!("{files} file(s)")
        }
    ));
    let path = io::write_table(ctx, "data", &table)?;
    Ok(StepOutput {
        outputs: [("data".to_string(), path)].into(),
        metrics: [
            ("rows".to_string(), rows as f64),
            ("files".to_string(), files as f64),
        ]
        .into(),
    })
}

/// The local files an ingest step with these params reads, sorted; `None` when it reads S3
/// objects or a SQL query (which cannot be known without reading them). The executor
/// digests these files into the step's cache key and records them in the lineage graph.
///
/// # Errors
/// [`StepError::Param`] for a `path` that is not a string or a list of strings, or a
/// malformed or unreadable pattern.
pub fn local_sources(
    pipeline_dir: &Path,
    params: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<Vec<PathBuf>>, StepError> {
    if params.contains_key("query") {
        return Ok(None);
    }
    let patterns: Vec<String> = match params.get("path") {
        Some(serde_json::Value::String(p)) => vec![p.clone()],
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| param_error("path", format!("has a non-string item {v}")))
            })
            .collect::<Result<_, _>>()?,
        _ => return Ok(None),
    };
    if patterns.iter().any(|p| p.contains("://")) {
        return Ok(None);
    }
    let mut files = BTreeSet::new();
    for pattern in &patterns {
        files.extend(glob_local(pipeline_dir, pattern)?);
    }
    Ok(Some(files.into_iter().collect()))
}

/// The params this step knows.
const KNOWN_PARAMS: [&str; 3] = ["path", "query", "url"];

/// Reads and concatenates the files that `patterns` match; returns the table and the number
/// of files.
async fn read_files(
    ctx: &StepContext<'_>,
    patterns: &[String],
) -> Result<(Table, usize), StepError> {
    let sources = resolve_patterns(ctx, patterns).await?;
    let count = sources.len();
    let table = io::spawn_cpu(move || read_and_concat(&sources)).await?;
    Ok((table, count))
}

/// Where the rows come from.
enum Source {
    Files(Vec<String>),
    Query { sql: String, url: String },
}

impl Source {
    fn from_params(ctx: &StepContext<'_>) -> Result<Source, StepError> {
        io::reject_unknown_params(ctx, &KNOWN_PARAMS)?;
        let patterns = io::str_list(ctx, "path")?;
        let sql = io::optional_str(ctx, "query")?;
        let url = io::optional_str(ctx, "url")?;
        let has_path = io::param(ctx, "path").is_some();
        match (has_path, sql, url) {
            (true, Some(_), _) => Err(param_error(
                "path",
                "give either `path` or `query`, not both".into(),
            )),
            (false, None, _) => Err(param_error(
                "path",
                "give `path` (files or globs) or `query` with `url`".into(),
            )),
            (true, None, Some(_)) => Err(param_error(
                "url",
                "is only used with `query`; files are read from `path`".into(),
            )),
            (true, None, None) if patterns.is_empty() => {
                Err(param_error("path", "is an empty list".into()))
            }
            (true, None, None) => Ok(Source::Files(patterns)),
            (false, Some(_), None) => Err(param_error(
                "url",
                "is required with `query` (postgres://user@host:port/db)".into(),
            )),
            (false, Some(sql), Some(url)) => Ok(Source::Query {
                sql: sql.to_string(),
                url: url.to_string(),
            }),
        }
    }
}

/// The directory below `out_dir` where S3 objects are downloaded before reading; removed
/// once they are read.
const DOWNLOADS: &str = ".ingest-downloads";

/// Removes the downloaded S3 objects, if any.
async fn remove_downloads(ctx: &StepContext<'_>) -> Result<(), StepError> {
    let dir = ctx.out_dir.join(DOWNLOADS);
    match tokio::fs::remove_dir_all(&dir).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StepError::Failed(format!(
            "removing {}: {e}",
            dir.display()
        ))),
    }
}

/// A file to read: how to name it in messages, and where it is on disk.
struct SourceFile {
    name: String,
    local: PathBuf,
}

/// Every file the patterns match, sorted by name, S3 objects downloaded below `out_dir`.
async fn resolve_patterns(
    ctx: &StepContext<'_>,
    patterns: &[String],
) -> Result<Vec<SourceFile>, StepError> {
    let mut local = BTreeSet::new();
    let mut remote = BTreeSet::new();
    for pattern in patterns {
        let found = if pattern.starts_with("s3://") {
            let matched = list_s3(pattern).await?;
            let count = matched.len();
            remote.extend(matched);
            count
        } else {
            let base = ctx.pipeline_dir.to_path_buf();
            let owned = pattern.clone();
            let matched = io::spawn_cpu(move || glob_local(&base, &owned)).await?;
            let count = matched.len();
            local.extend(matched);
            count
        };
        if found == 0 {
            return Err(param_error("path", format!("no file matches `{pattern}`")));
        }
    }
    let mut files: Vec<SourceFile> = local
        .into_iter()
        .map(|path| SourceFile {
            name: path.display().to_string(),
            local: path,
        })
        .collect();
    let downloads = ctx.out_dir.join(DOWNLOADS);
    for (i, object) in remote.into_iter().enumerate() {
        files.push(download_s3(&object, &downloads, i).await?);
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// The files that the local `pattern` (relative to `base` unless absolute) matches. Unlike a
/// new-data trigger's glob, wildcards match names starting with `.`, and a pattern whose
/// leading directories do not exist matches nothing (the caller says so).
fn glob_local(base: &Path, pattern: &str) -> Result<Vec<PathBuf>, StepError> {
    let options = GlobOptions {
        hidden: true,
        any_entry: false,
        missing_start_matches_nothing: true,
    };
    glob_with(base, pattern, options).map_err(|e| param_error("path", e.to_string()))
}

/// An S3 object a pattern matched.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct S3Object {
    bucket: String,
    key: String,
}

impl S3Object {
    fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

fn s3_store(bucket: &str) -> Result<ArtifactStore, StepError> {
    ArtifactStore::from_url(&format!("s3://{bucket}"))
        .map_err(|e| param_error("path", e.to_string()))
}

/// The objects `s3://bucket/dir/glob` matches.
async fn list_s3(pattern: &str) -> Result<Vec<S3Object>, StepError> {
    let rest = pattern.trim_start_matches("s3://");
    let (bucket, key) = rest.split_once('/').ok_or_else(|| {
        param_error(
            "path",
            format!("`{pattern}` names no object (s3://bucket/dir/file)"),
        )
    })?;
    let (dir, last) = key.rsplit_once('/').unwrap_or(("", key));
    if has_wildcard(dir) || last.is_empty() {
        return Err(param_error(
            "path",
            format!(
                "`{pattern}`: an S3 glob may only be in the last segment, which must be a name"
            ),
        ));
    }
    let name_pattern =
        NamePattern::parse(pattern, last).map_err(|e| param_error("path", e.to_string()))?;
    let store = s3_store(bucket)?;
    let dir_path =
        ArtifactPath::parse(dir).map_err(|e| param_error("path", format!("`{pattern}`: {e}")))?;
    let listing = store
        .list(Some(&dir_path))
        .await
        .map_err(|e| StepError::Failed(format!("listing {pattern}: {e}")))?;
    Ok(listing
        .into_iter()
        .filter(|entry| !entry.is_dir && name_pattern.matches_hidden(&entry.path))
        .map(|entry| S3Object {
            bucket: bucket.to_string(),
            key: if dir.is_empty() {
                entry.path
            } else {
                format!("{dir}/{}", entry.path)
            },
        })
        .collect())
}

/// Downloads `object` into `dir`, streaming it to disk, under a name that keeps its extension.
async fn download_s3(object: &S3Object, dir: &Path, index: usize) -> Result<SourceFile, StepError> {
    let failed =
        |e: &dyn std::fmt::Display| StepError::Failed(format!("downloading {}: {e}", object.url()));
    let store = s3_store(&object.bucket)?;
    let path = ArtifactPath::parse(&object.key).map_err(|e| failed(&e))?;
    let mut stream = store.get(&path).await.map_err(|e| failed(&e))?.stream;
    let file_name = path.file_name().unwrap_or("object");
    let local = dir.join(format!("{index}-{file_name}"));
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| failed(&e))?;
    let mut file = tokio::fs::File::create(&local)
        .await
        .map_err(|e| failed(&e))?;
    while let Some(chunk) = stream.try_next().await.map_err(|e| failed(&e))? {
        file.write_all(&chunk).await.map_err(|e| failed(&e))?;
    }
    file.flush().await.map_err(|e| failed(&e))?;
    Ok(SourceFile {
        name: object.url(),
        local,
    })
}

/// Reads every file and concatenates them.
fn read_and_concat(files: &[SourceFile]) -> Result<Table, StepError> {
    let tables = files
        .iter()
        .map(|file| {
            Table::read(&file.local)
                .map(|table| (file.name.as_str(), table))
                .map_err(|e| StepError::Failed(format!("reading {}: {e}", file.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let schema = unified_schema(&tables)?;
    let batches = tables
        .iter()
        .map(|(name, table)| conform(table, &schema, name))
        .collect::<Result<Vec<_>, _>>()?;
    let batch = concat_batches(&schema, &batches)
        .map_err(|e| StepError::Failed(format!("concatenating the files: {e}")))?;
    Ok(Table::new(batch))
}

/// The columns of the first table, each with the type every table agrees on (integers and
/// floats mixed give floats). Each table comes with its file's name.
fn unified_schema(tables: &[(&str, Table)]) -> Result<SchemaRef, StepError> {
    let Some(((first_name, first), rest)) = tables.split_first() else {
        return Err(StepError::Failed("no file to read".into()));
    };
    let first = first.schema();
    let mut fields = Vec::with_capacity(first.fields().len());
    for field in first.fields() {
        let mut data_type = field.data_type().clone();
        for (name, table) in rest {
            let Ok(other) = table.column(field.name()) else {
                return Err(StepError::Failed(format!(
                    "{name} has no column `{}`, which {first_name} has",
                    field.name()
                )));
            };
            data_type = common_type(&data_type, other.data_type()).ok_or_else(|| {
                StepError::Failed(format!(
                    "column `{}` is {} in {first_name} but {} in {name}",
                    field.name(),
                    field.data_type(),
                    other.data_type(),
                ))
            })?;
        }
        fields.push(Field::new(field.name(), data_type, true));
    }
    for (name, table) in rest {
        if let Some(extra) = table
            .column_names()
            .into_iter()
            .find(|column| first.field_with_name(column).is_err())
        {
            return Err(StepError::Failed(format!(
                "{name} has a column `{extra}` that {first_name} does not have"
            )));
        }
    }
    Ok(Arc::new(Schema::new(fields)))
}

fn common_type(a: &DataType, b: &DataType) -> Option<DataType> {
    if a == b {
        Some(a.clone())
    } else if (a.is_integer() || a.is_floating()) && (b.is_integer() || b.is_floating()) {
        Some(DataType::Float64)
    } else {
        None
    }
}

/// `table`'s columns in `schema`'s order, cast to its types.
fn conform(table: &Table, schema: &SchemaRef, name: &str) -> Result<RecordBatch, StepError> {
    let failed = |e: &dyn std::fmt::Display| StepError::Failed(format!("{name}: {e}"));
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let column = table.column(field.name()).map_err(|e| failed(&e))?;
            cast(column, field.data_type()).map_err(|e| failed(&e))
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| failed(&e))
}

/// How a PostgreSQL result column becomes an Arrow column.
#[derive(Clone, Copy)]
enum PgKind {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Text,
    Bool,
    Date,
    Timestamp,
    TimestampTz,
}

impl PgKind {
    fn of(type_name: &str) -> Option<PgKind> {
        Some(match type_name {
            "INT2" => PgKind::Int2,
            "INT4" => PgKind::Int4,
            "INT8" => PgKind::Int8,
            "FLOAT4" => PgKind::Float4,
            "FLOAT8" => PgKind::Float8,
            "NUMERIC" => PgKind::Numeric,
            "TEXT" | "VARCHAR" | "CHAR" | "NAME" => PgKind::Text,
            "BOOL" => PgKind::Bool,
            "DATE" => PgKind::Date,
            "TIMESTAMP" => PgKind::Timestamp,
            "TIMESTAMPTZ" => PgKind::TimestampTz,
            _ => return None,
        })
    }

    fn builder(self, capacity: usize) -> Box<dyn ArrayBuilder> {
        match self {
            PgKind::Int2 | PgKind::Int4 | PgKind::Int8 => {
                Box::new(Int64Builder::with_capacity(capacity))
            }
            PgKind::Float4 | PgKind::Float8 | PgKind::Numeric => {
                Box::new(Float64Builder::with_capacity(capacity))
            }
            PgKind::Text => Box::new(StringBuilder::with_capacity(capacity, capacity * 16)),
            PgKind::Bool => Box::new(BooleanBuilder::with_capacity(capacity)),
            PgKind::Date => Box::new(Date32Builder::with_capacity(capacity)),
            PgKind::Timestamp => Box::new(TimestampMillisecondBuilder::with_capacity(capacity)),
            PgKind::TimestampTz => {
                Box::new(TimestampMillisecondBuilder::with_capacity(capacity).with_timezone("UTC"))
            }
        }
    }
}

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const PG_EPOCH_DAYS: i32 = 10_957;
/// Milliseconds from 1970-01-01 to 2000-01-01.
const PG_EPOCH_MILLIS: i64 = 946_684_800_000;

/// Runs `sql` on the PostgreSQL database at `url` and converts the result to a table.
///
/// # Errors
/// [`StepError::Param`] naming `url` (cannot connect) or `query` (the database refused it,
/// or a column has a type without an Arrow equivalent); [`StepError::Failed`] when the
/// query returns no rows.
pub async fn query_postgres(url: &str, sql: &str) -> Result<Table, StepError> {
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|e| param_error("url", format!("cannot connect to PostgreSQL: {e}")))?;
    let statement = (&mut conn)
        .prepare(AssertSqlSafe(sql).into_sql_str())
        .await
        .map_err(|e| param_error("query", e.to_string()))?;
    let columns = statement
        .columns()
        .iter()
        .map(|column| {
            let type_name = column.type_info().name();
            PgKind::of(type_name)
                .map(|kind| (column.name().to_string(), kind))
                .ok_or_else(|| {
                    param_error(
                        "query",
                        format!(
                            "column `{}` has the unsupported type {type_name}",
                            column.name()
                        ),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let rows = statement
        .query()
        .fetch_all(&mut conn)
        .await
        .map_err(|e| param_error("query", e.to_string()))?;
    let _ = conn.close().await;
    if rows.is_empty() {
        return Err(StepError::Failed("the query returned no rows".into()));
    }
    io::spawn_cpu(move || rows_to_table(&columns, &rows)).await
}

fn rows_to_table(columns: &[(String, PgKind)], rows: &[PgRow]) -> Result<Table, StepError> {
    let mut builders: Vec<Box<dyn ArrayBuilder>> = columns
        .iter()
        .map(|(_, kind)| kind.builder(rows.len()))
        .collect();
    for row in rows {
        for (i, ((name, kind), builder)) in columns.iter().zip(&mut builders).enumerate() {
            let bad = |e: &dyn std::fmt::Display| {
                StepError::Failed(format!("decoding column `{name}`: {e}"))
            };
            let value = row.try_get_raw(i).map_err(|e| bad(&e))?;
            append_value(builder.as_mut(), *kind, value, row, i).map_err(|e| bad(&e))?;
        }
    }
    let arrays: Vec<ArrayRef> = builders.iter_mut().map(|b| b.finish()).collect();
    let fields: Vec<Field> = columns
        .iter()
        .zip(&arrays)
        .map(|((name, _), array)| Field::new(name, array.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map(Table::new)
        .map_err(|e| StepError::Failed(format!("building the table: {e}")))
}

type DecodeError = Box<dyn std::error::Error + Send + Sync>;

fn downcast<T: 'static>(builder: &mut dyn ArrayBuilder) -> Result<&mut T, DecodeError> {
    builder
        .as_any_mut()
        .downcast_mut::<T>()
        .ok_or_else(|| "internal: column builder of the wrong type".into())
}

/// Appends column `i` of `row` (whose raw value is `value`) to `builder`.
fn append_value(
    builder: &mut dyn ArrayBuilder,
    kind: PgKind,
    value: PgValueRef<'_>,
    row: &PgRow,
    i: usize,
) -> Result<(), DecodeError> {
    if value.is_null() {
        append_null(builder, kind)?;
        return Ok(());
    }
    match kind {
        PgKind::Int2 => {
            downcast::<Int64Builder>(builder)?.append_value(row.try_get::<i16, _>(i)?.into())
        }
        PgKind::Int4 => {
            downcast::<Int64Builder>(builder)?.append_value(row.try_get::<i32, _>(i)?.into())
        }
        PgKind::Int8 => downcast::<Int64Builder>(builder)?.append_value(row.try_get::<i64, _>(i)?),
        PgKind::Float4 => {
            downcast::<Float64Builder>(builder)?.append_value(row.try_get::<f32, _>(i)?.into())
        }
        PgKind::Float8 => {
            downcast::<Float64Builder>(builder)?.append_value(row.try_get::<f64, _>(i)?)
        }
        PgKind::Numeric => {
            downcast::<Float64Builder>(builder)?.append_value(numeric_to_f64(binary(&value)?)?)
        }
        PgKind::Text => {
            downcast::<StringBuilder>(builder)?.append_value(row.try_get::<&str, _>(i)?)
        }
        PgKind::Bool => {
            downcast::<BooleanBuilder>(builder)?.append_value(row.try_get::<bool, _>(i)?)
        }
        PgKind::Date => {
            let days = i32::from_be_bytes(fixed(binary(&value)?)?);
            let unix_days = days
                .checked_add(PG_EPOCH_DAYS)
                .ok_or("a date out of range (infinity?)")?;
            downcast::<Date32Builder>(builder)?.append_value(unix_days);
        }
        PgKind::Timestamp | PgKind::TimestampTz => {
            let micros = i64::from_be_bytes(fixed(binary(&value)?)?);
            let millis = micros
                .div_euclid(1000)
                .checked_add(PG_EPOCH_MILLIS)
                .ok_or("a timestamp out of range (infinity?)")?;
            downcast::<TimestampMillisecondBuilder>(builder)?.append_value(millis);
        }
    }
    Ok(())
}

fn append_null(builder: &mut dyn ArrayBuilder, kind: PgKind) -> Result<(), DecodeError> {
    match kind {
        PgKind::Int2 | PgKind::Int4 | PgKind::Int8 => {
            downcast::<Int64Builder>(builder)?.append_null()
        }
        PgKind::Float4 | PgKind::Float8 | PgKind::Numeric => {
            downcast::<Float64Builder>(builder)?.append_null()
        }
        PgKind::Text => downcast::<StringBuilder>(builder)?.append_null(),
        PgKind::Bool => downcast::<BooleanBuilder>(builder)?.append_null(),
        PgKind::Date => downcast::<Date32Builder>(builder)?.append_null(),
        PgKind::Timestamp | PgKind::TimestampTz => {
            downcast::<TimestampMillisecondBuilder>(builder)?.append_null()
        }
    }
    Ok(())
}

/// The bytes of a value sent in PostgreSQL's binary format.
fn binary<'r>(value: &PgValueRef<'r>) -> Result<&'r [u8], DecodeError> {
    if value.format() != PgValueFormat::Binary {
        return Err("expected a value in binary format".into());
    }
    value.as_bytes()
}

fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], DecodeError> {
    bytes
        .try_into()
        .map_err(|_| format!("expected {N} bytes, got {}", bytes.len()).into())
}

/// Decodes PostgreSQL's binary `numeric`: digit count, weight, sign and display scale (each
/// 16 bits), then base-10000 digits, the first worth 10000^weight.
fn numeric_to_f64(bytes: &[u8]) -> Result<f64, DecodeError> {
    let word = |i: usize| -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(fixed(
            bytes.get(2 * i..2 * i + 2).ok_or("truncated numeric")?,
        )?))
    };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(word(1)? as i16);
    let sign = word(2)?;
    match sign {
        0xC000 => return Ok(f64::NAN),
        0xD000 => return Ok(f64::INFINITY),
        0xF000 => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    let mut digits = String::with_capacity(4 * ndigits);
    for i in 0..ndigits {
        digits.push_str(&format!("{:04}", word(4 + i)?));
    }
    if digits.is_empty() {
        return Ok(0.0);
    }
    // 0.DIGITS × 10^(4·(weight+1)); Rust's parser rounds the decimal text correctly.
    let text = format!("0.{digits}e{}", 4 * (weight + 1));
    let magnitude: f64 = text.parse()?;
    Ok(if sign == 0x4000 {
        -magnitude
    } else {
        magnitude
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_decodes_postgres_binary_digits() {
        // 12345.678 = digits [1, 2345, 6780], weight 1, positive, dscale 3.
        let bytes: Vec<u8> = [3u16, 1, 0, 3, 1, 2345, 6780]
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect();
        assert_eq!(numeric_to_f64(&bytes).unwrap(), 12345.678);
        // -0.0042 = digits [42], weight -1, negative, dscale 4.
        let bytes: Vec<u8> = [1u16, (-1i16) as u16, 0x4000, 4, 42]
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect();
        assert_eq!(numeric_to_f64(&bytes).unwrap(), -0.0042);
    }
}
