//! Per-column profiles checked against numpy, scipy and pandas (see
//! `vectors/profile_gen.py`), built whole and as seven uneven partitions merged in a
//! shuffled order.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, bail, ensure};
use arrow::array::{
    ArrayRef, DictionaryArray, Float64Array, Int64Array, RecordBatch, RecordBatchReader,
    StringArray, StringViewArray,
};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Int32Type, Schema};
use esteira_monitor::MonitorError;
use esteira_monitor::profile::hll::RELATIVE_STANDARD_ERROR;
use esteira_monitor::profile::kll::RANK_ERROR_BOUND;
use esteira_monitor::profile::{ColumnProfile, DatasetProfile, ProfileBuilder};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

/// Row boundaries of the seven uneven partitions of the 20 000 rows.
const PARTITIONS: [usize; 8] = [0, 600, 2_900, 3_100, 9_000, 12_500, 19_000, 20_000];
/// The order in which the partitions' profiles are merged.
const MERGE_ORDER: [usize; 7] = [4, 1, 6, 0, 3, 5, 2];

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn load_data() -> Result<RecordBatch> {
    let file = File::open(vectors().join("profile_data.parquet"))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_batch_size(4_096)
        .build()?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    Ok(concat_batches(&schema, &batches)?)
}

fn load_expected() -> Result<Value> {
    let text = std::fs::read_to_string(vectors().join("profile_expected.json"))?;
    Ok(serde_json::from_str(&text)?)
}

/// Profiles `rows` of `data`, fed in batches of `batch_rows`.
fn profile_rows(
    data: &RecordBatch,
    rows: std::ops::Range<usize>,
    batch_rows: usize,
) -> Result<DatasetProfile> {
    let mut builder = ProfileBuilder::new(&data.schema())?;
    let mut start = rows.start;
    while start < rows.end {
        let length = batch_rows.min(rows.end - start);
        builder.update(&data.slice(start, length))?;
        start += length;
    }
    Ok(builder.finish())
}

/// The whole file's profile and the merge of its seven partitions' profiles, built once.
fn whole_and_merged() -> Result<(&'static DatasetProfile, &'static DatasetProfile)> {
    static PROFILES: OnceLock<Result<(DatasetProfile, DatasetProfile), String>> = OnceLock::new();
    let profiles = PROFILES.get_or_init(|| build_whole_and_merged().map_err(|e| format!("{e:#}")));
    match profiles {
        Ok((whole, merged)) => Ok((whole, merged)),
        Err(error) => bail!("{error}"),
    }
}

fn build_whole_and_merged() -> Result<(DatasetProfile, DatasetProfile)> {
    let data = load_data()?;
    let whole = profile_rows(&data, 0..data.num_rows(), 3_000)?;
    let mut merged = DatasetProfile::empty(&data.schema())?;
    for part in MERGE_ORDER {
        let rows = PARTITIONS[part]..PARTITIONS[part + 1];
        merged.merge(&profile_rows(&data, rows, 700 + 311 * part)?)?;
    }
    Ok((whole, merged))
}

fn expected_columns(expected: &Value) -> Result<&serde_json::Map<String, Value>> {
    expected["columns"].as_object().context("expected columns")
}

fn column<'a>(profile: &'a DatasetProfile, name: &str) -> Result<&'a ColumnProfile> {
    profile
        .columns
        .get(name)
        .with_context(|| format!("column {name} missing"))
}

fn as_u64(value: &Value, key: &str) -> Result<u64> {
    value[key]
        .as_u64()
        .with_context(|| format!("{key} missing"))
}

fn close(actual: Option<f64>, expected: &Value, what: &str) -> Result<()> {
    match (actual, expected.as_f64()) {
        (None, None) => Ok(()),
        (Some(a), Some(e)) => {
            let tolerance = 1e-9 * e.abs().max(1e-3);
            ensure!((a - e).abs() <= tolerance, "{what}: {a} vs {e}");
            Ok(())
        }
        (a, _) => bail!("{what}: {a:?} vs {expected}"),
    }
}

#[test]
fn numeric_statistics_match_numpy_and_scipy_whole_and_merged() -> Result<()> {
    let expected = load_expected()?;
    let (whole, merged) = whole_and_merged()?;
    ensure!(whole.rows == 20_000 && merged.rows == 20_000);
    for (name, truth) in expected_columns(&expected)? {
        if truth["kind"] != "numeric" {
            continue;
        }
        for profile in [whole, merged] {
            let numeric = column(profile, name)?.as_numeric().context("numeric")?;
            let counts = [
                (numeric.count, "count"),
                (numeric.nulls, "nulls"),
                (numeric.nan, "nan"),
                (numeric.positive_infinity, "positive_infinity"),
                (numeric.negative_infinity, "negative_infinity"),
                (numeric.finite(), "finite"),
            ];
            for (actual, key) in counts {
                ensure!(
                    actual == as_u64(truth, key)?,
                    "{name}.{key}: {actual} vs {}",
                    truth[key]
                );
            }
            ensure!(numeric.min == truth["min"].as_f64(), "{name}.min");
            ensure!(numeric.max == truth["max"].as_f64(), "{name}.max");
            close(numeric.mean(), &truth["mean"], &format!("{name}.mean"))?;
            close(
                numeric.variance(),
                &truth["variance"],
                &format!("{name}.variance"),
            )?;
            close(
                numeric.skewness(),
                &truth["skewness"],
                &format!("{name}.skewness"),
            )?;
            close(
                numeric.kurtosis(),
                &truth["kurtosis"],
                &format!("{name}.kurtosis"),
            )?;
        }
    }
    Ok(())
}

#[test]
fn quantiles_and_cdf_are_within_the_documented_rank_error() -> Result<()> {
    let expected = load_expected()?;
    ensure!(expected["rank_error"].as_f64() == Some(RANK_ERROR_BOUND));
    let (whole, merged) = whole_and_merged()?;
    let mut checked = 0;
    for (name, truth) in expected_columns(&expected)? {
        let Some(bands) = truth["quantile_bands"].as_array() else {
            continue;
        };
        for profile in [whole, merged] {
            let profile = column(profile, name)?;
            for band in bands {
                let q = band["q"].as_f64().context("q")?;
                let (low, high) = (
                    band["low"].as_f64().context("low")?,
                    band["high"].as_f64().context("high")?,
                );
                let value = profile.quantile(q)?.context("a quantile")?;
                ensure!(
                    low <= value && value <= high,
                    "{name} q={q}: {value} outside [{low}, {high}]"
                );
                checked += 1;
            }
            for point in truth["cdf_points"].as_array().context("cdf points")? {
                let x = point["x"].as_f64().context("x")?;
                let truth_cdf = point["cdf"].as_f64().context("cdf")?;
                let cdf = profile.cdf(x).context("a cdf")?;
                ensure!(
                    (cdf - truth_cdf).abs() <= RANK_ERROR_BOUND,
                    "{name} cdf({x}) = {cdf} vs {truth_cdf}"
                );
            }
            ensure!(
                profile.quantile(0.0)? == truth["min"].as_f64()
                    && profile.quantile(1.0)? == truth["max"].as_f64()
            );
        }
    }
    ensure!(checked > 200, "only {checked} quantiles checked");
    Ok(())
}

#[test]
fn a_sketch_of_a_million_values_has_its_rank_error_and_stays_tens_of_kb() -> Result<()> {
    // 7919 is prime to 10^6, so i·7919 mod 10^6 visits every integer below 10^6 once:
    // exactly v values are below v, so a returned value's rank is the value itself.
    const N: i64 = 1_000_000;
    let values: Vec<i64> = (0..N).map(|i| (i * 7_919) % N).collect();
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    let mut builder = ProfileBuilder::new(&schema)?;
    for chunk in values.chunks(65_536) {
        let array: ArrayRef = Arc::new(Int64Array::from(chunk.to_vec()));
        builder.update(&RecordBatch::try_new(schema.clone(), vec![array])?)?;
    }
    let profile = builder.finish();
    let x = column(&profile, "x")?;
    for step in 1..100 {
        let q = f64::from(step) / 100.0;
        let value = x.quantile(q)?.context("a quantile")?;
        let rank_error = (value - q * N as f64).abs() / N as f64;
        ensure!(
            rank_error <= RANK_ERROR_BOUND,
            "q={q}: {value} has rank error {rank_error}"
        );
    }
    let json = serde_json::to_string(x)?;
    ensure!(
        json.len() <= 64 * 1024,
        "a 1M-row column serialises to {} bytes",
        json.len()
    );
    Ok(())
}

#[test]
fn histogram_counts_equal_numpy_bucket_counts_whole_and_merged() -> Result<()> {
    let expected = load_expected()?;
    let (whole, merged) = whole_and_merged()?;
    for (name, truth) in expected_columns(&expected)? {
        let Some(buckets) = truth["histogram"].as_array() else {
            continue;
        };
        let mut truth_buckets = Vec::new();
        for bucket in buckets {
            let triple = bucket.as_array().context("a [sign, index, count] triple")?;
            let sign = triple[0].as_i64().context("sign")?;
            let index = triple[1].as_i64().context("index")?;
            truth_buckets.push((sign, index, triple[2].as_u64().context("count")?));
        }
        truth_buckets.sort_unstable();
        for profile in [whole, merged] {
            let histogram = column(profile, name)?.histogram().context("a histogram")?;
            let mut ours: Vec<(i64, i64, u64)> = histogram
                .iter()
                .map(|b| (i64::from(b.sign), i64::from(b.index), b.count))
                .collect();
            ours.sort_unstable();
            ensure!(
                ours == truth_buckets,
                "{name}: histogram differs from numpy's bucket counts"
            );
        }
    }
    Ok(())
}

#[test]
fn distinct_estimates_are_within_three_standard_errors() -> Result<()> {
    let expected = load_expected()?;
    let (whole, merged) = whole_and_merged()?;
    let mut dense = 0;
    for (name, truth) in expected_columns(&expected)? {
        let Some(true_distinct) = truth["distinct"].as_u64() else {
            continue;
        };
        for profile in [whole, merged] {
            let estimate = column(profile, name)?
                .distinct_estimate()
                .context("an estimate")?;
            if estimate.exact {
                ensure!(
                    estimate.estimate == true_distinct as f64,
                    "{name}: {estimate:?} vs {true_distinct}"
                );
            } else {
                let bound = 3.0 * RELATIVE_STANDARD_ERROR * true_distinct as f64;
                ensure!(
                    (estimate.estimate - true_distinct as f64).abs() <= bound,
                    "{name}: {estimate:?} vs {true_distinct}"
                );
                dense += 1;
            }
        }
    }
    // At least distinct_1500, _3k, _6k, _15k, _all and the string ids are past the exact
    // phase, in both profiles.
    ensure!(dense >= 12, "{dense} dense estimates");
    Ok(())
}

#[test]
fn distinct_estimates_of_large_known_counts() -> Result<()> {
    // Each value of 0..d repeated: exactly d distinct values by construction.
    for distinct in [50_000_i64, 200_000, 1_000_000] {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let mut builder = ProfileBuilder::new(&schema)?;
        let rows: Vec<i64> = (0..distinct + distinct / 2)
            .map(|i| (i * 31) % distinct)
            .collect();
        for chunk in rows.chunks(100_000) {
            let array: ArrayRef = Arc::new(Int64Array::from(chunk.to_vec()));
            builder.update(&RecordBatch::try_new(schema.clone(), vec![array])?)?;
        }
        let estimate = column(&builder.finish(), "id")?
            .distinct_estimate()
            .context("an estimate")?;
        let error = (estimate.estimate - distinct as f64).abs() / distinct as f64;
        ensure!(
            error <= 3.0 * RELATIVE_STANDARD_ERROR,
            "{distinct}: estimate {estimate:?}"
        );
    }
    Ok(())
}

fn true_counts(truth: &Value) -> Result<BTreeMap<String, u64>> {
    let counts = truth["value_counts"].as_object().context("value counts")?;
    counts
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.as_u64().context("a count")?)))
        .collect()
}

#[test]
fn category_counts_are_exact_under_the_cap() -> Result<()> {
    let expected = load_expected()?;
    let (whole, merged) = whole_and_merged()?;
    for name in ["city", "colour_dict", "flag", "words_large"] {
        let truth = &expected["columns"][name];
        let counts = true_counts(truth)?;
        for profile in [whole, merged] {
            let categorical = column(profile, name)?
                .as_categorical()
                .context("categorical")?;
            ensure!(
                categorical.count == as_u64(truth, "count")?
                    && categorical.nulls == as_u64(truth, "nulls")?
            );
            ensure!(categorical.categories.is_exact(), "{name} should be exact");
            let ours: BTreeMap<String, u64> = categorical
                .categories
                .ranked()
                .into_iter()
                .map(|(v, c)| (v.to_owned(), c))
                .collect();
            ensure!(
                ours == counts,
                "{name}: counts differ from pandas value_counts"
            );
            let top = categorical.top_categories(3);
            let mut true_top: Vec<u64> = counts.values().copied().collect();
            true_top.sort_unstable_by(|a, b| b.cmp(a));
            ensure!(
                top.iter().map(|c| c.count).collect::<Vec<_>>()
                    == true_top[..3.min(true_top.len())]
            );
            for category in &top {
                let share = counts[&category.value] as f64 / categorical.count as f64;
                ensure!(
                    (category.share - share).abs() < 1e-15,
                    "{name}: share of {}",
                    category.value
                );
            }
        }
    }
    Ok(())
}

#[test]
fn heavy_hitters_stay_within_their_bound_above_the_cap() -> Result<()> {
    let expected = load_expected()?;
    let truth = &expected["columns"]["zipf_cat"];
    let counts = true_counts(truth)?;
    ensure!(counts.len() > 1_000, "the column must exceed the exact cap");
    let (whole, merged) = whole_and_merged()?;
    for profile in [whole, merged] {
        let categorical = column(profile, "zipf_cat")?
            .as_categorical()
            .context("categorical")?;
        let summary = &categorical.categories;
        let error = summary.error_bound();
        ensure!(!summary.is_exact() && error > 0);
        let kept: u64 = summary.ranked().iter().map(|&(_, c)| c).sum();
        // Δ ≤ (n − Σ kept) / (counters + 1), with 500 counters.
        ensure!(
            error * 501 <= categorical.count - kept,
            "error bound {error} too large"
        );
        for (value, &true_count) in &counts {
            let count = summary.count_of(value);
            ensure!(
                count <= true_count && true_count <= count + error,
                "{value}: kept {count}, true {true_count}, error {error}"
            );
        }
        let top = categorical.top_categories(5);
        let mut true_ranked: Vec<(&String, &u64)> = counts.iter().collect();
        true_ranked.sort_unstable_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        for (category, (true_value, _)) in top.iter().zip(&true_ranked) {
            ensure!(
                &category.value == *true_value,
                "top categories differ: {} vs {true_value}",
                category.value
            );
        }
    }
    Ok(())
}

#[test]
fn merged_partitions_equal_the_whole_for_the_exact_parts() -> Result<()> {
    let (whole, merged) = whole_and_merged()?;
    ensure!(whole.columns.keys().eq(merged.columns.keys()));
    for (name, mine) in &whole.columns {
        match (mine, column(merged, name)?) {
            (ColumnProfile::Numeric(a), ColumnProfile::Numeric(b)) => {
                ensure!(
                    (a.count, a.nulls, a.nan, a.finite(), a.min, a.max)
                        == (b.count, b.nulls, b.nan, b.finite(), b.min, b.max)
                );
                ensure!(a.histogram == b.histogram, "{name}: histograms differ");
                ensure!(a.distinct == b.distinct, "{name}: distinct sketches differ");
            }
            (ColumnProfile::Categorical(a), ColumnProfile::Categorical(b)) => {
                ensure!((a.count, a.nulls) == (b.count, b.nulls));
                ensure!(a.distinct == b.distinct, "{name}: distinct sketches differ");
                if a.categories.is_exact() {
                    ensure!(a.categories == b.categories, "{name}: exact counts differ");
                }
            }
            (ColumnProfile::NotProfiled(a), ColumnProfile::NotProfiled(b)) => ensure!(a == b),
            (a, b) => bail!("{name}: kinds {} and {}", a.kind(), b.kind()),
        }
    }
    Ok(())
}

#[test]
fn a_profile_round_trips_through_json() -> Result<()> {
    let (whole, merged) = whole_and_merged()?;
    for profile in [whole, merged] {
        let json = profile.to_json()?;
        ensure!(json.contains("\"format_version\":1"));
        ensure!(DatasetProfile::from_json(&json)? == *profile);
    }
    Ok(())
}

#[test]
fn unsupported_arrow_types_are_reported_not_profiled() -> Result<()> {
    let (whole, _) = whole_and_merged()?;
    for name in ["blob", "tags", "point", "when"] {
        let ColumnProfile::NotProfiled(reason) = column(whole, name)? else {
            bail!("{name} should not be profiled");
        };
        ensure!(!reason.reason.is_empty() && !reason.arrow_type.is_empty());
        ensure!(column(whole, name)?.quantile(0.5)?.is_none());
    }
    ensure!(whole.to_json()?.contains("\"kind\":\"not_profiled\""));
    Ok(())
}

fn one_column(name: &str, array: ArrayRef) -> Result<RecordBatch> {
    let field = Field::new(name, array.data_type().clone(), true);
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(vec![field])),
        vec![array],
    )?)
}

fn profile_of(batch: &RecordBatch) -> Result<DatasetProfile> {
    let mut builder = ProfileBuilder::new(&batch.schema())?;
    builder.update(batch)?;
    Ok(builder.finish())
}

fn input_error_source(error: MonitorError) -> Result<String> {
    match error {
        MonitorError::Input { source_name, .. } => Ok(source_name),
        other => bail!("expected an input error, got {other}"),
    }
}

#[test]
fn merging_different_kinds_names_the_column_and_changes_nothing() -> Result<()> {
    let numeric = profile_of(&one_column(
        "x",
        Arc::new(Float64Array::from(vec![1.0, 2.0])),
    )?)?;
    let text = profile_of(&one_column(
        "x",
        Arc::new(StringArray::from(vec!["a", "b"])),
    )?)?;
    let mut target = numeric.clone();
    let error = target.merge(&text).err().context("kinds differ")?;
    ensure!(input_error_source(error)? == "x");
    ensure!(target == numeric, "a failed merge changed the profile");
    let other_column = profile_of(&one_column("y", Arc::new(Float64Array::from(vec![1.0])))?)?;
    let error = target
        .merge(&other_column)
        .err()
        .context("columns differ")?;
    ensure!(["x", "y"].contains(&input_error_source(error)?.as_str()));
    Ok(())
}

#[test]
fn profiles_of_another_format_version_are_refused() -> Result<()> {
    let profile = profile_of(&one_column("x", Arc::new(Float64Array::from(vec![1.0])))?)?;
    let mut future = profile.clone();
    future.format_version = 2;
    let mut target = profile.clone();
    ensure!(
        input_error_source(target.merge(&future).err().context("versions differ")?)? == "profile"
    );
    let json = future.to_json()?;
    ensure!(
        input_error_source(
            DatasetProfile::from_json(&json)
                .err()
                .context("version 2")?
        )? == "profile"
    );
    Ok(())
}

#[test]
fn damaged_json_is_an_error_not_a_panic() -> Result<()> {
    let profile = profile_of(&one_column(
        "x",
        Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0])),
    )?)?;
    let json = profile.to_json()?;
    // The sketch's item weights no longer add up to n.
    let tampered = json.replacen("\"k\":200,\"n\":3", "\"k\":200,\"n\":4", 1);
    ensure!(tampered != json);
    ensure!(DatasetProfile::from_json(&tampered).is_err());
    ensure!(DatasetProfile::from_json("{\"format_version\":1}").is_err());
    ensure!(DatasetProfile::from_json("not json").is_err());
    Ok(())
}

#[test]
fn empty_and_all_null_columns_have_no_quantiles() -> Result<()> {
    let schema = Schema::new(vec![Field::new("x", DataType::Float64, true)]);
    let empty = ProfileBuilder::new(&schema)?.finish();
    let x = column(&empty, "x")?;
    ensure!(x.quantile(0.5)?.is_none() && x.cdf(0.0).is_none());
    let nulls = profile_of(&one_column(
        "x",
        Arc::new(Float64Array::from(vec![None, None])),
    )?)?;
    let numeric = column(&nulls, "x")?.as_numeric().context("numeric")?;
    ensure!(numeric.nulls == 2 && numeric.count == 0);
    ensure!(
        numeric.quantile(0.5)?.is_none()
            && numeric.mean().is_none()
            && numeric.variance().is_none()
    );
    let single = profile_of(&one_column("x", Arc::new(Float64Array::from(vec![4.0])))?)?;
    let numeric = column(&single, "x")?.as_numeric().context("numeric")?;
    ensure!(
        numeric.mean() == Some(4.0) && numeric.variance().is_none() && numeric.skewness().is_none()
    );
    Ok(())
}

#[test]
fn a_probability_outside_zero_one_is_a_config_error() -> Result<()> {
    let profile = profile_of(&one_column("x", Arc::new(Float64Array::from(vec![1.0])))?)?;
    for q in [-0.1, 1.5, f64::NAN] {
        match column(&profile, "x")?.quantile(q) {
            Err(MonitorError::Config { field, .. }) => ensure!(field == "quantile"),
            other => bail!("q = {q}: {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn batches_that_do_not_fit_the_schema_name_the_column_and_change_nothing() -> Result<()> {
    let schema = Schema::new(vec![
        Field::new("x", DataType::Float64, true),
        Field::new("city", DataType::Utf8, true),
    ]);
    let mut builder = ProfileBuilder::new(&schema)?;
    let x: ArrayRef = Arc::new(Float64Array::from(vec![1.0]));
    let wrong_kind = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("x", DataType::Float64, true),
            Field::new("city", DataType::Float64, true),
        ])),
        vec![x.clone(), x.clone()],
    )?;
    ensure!(
        input_error_source(builder.update(&wrong_kind).err().context("wrong kind")?)? == "city"
    );
    ensure!(
        input_error_source(
            builder
                .update(&one_column("x", x.clone())?)
                .err()
                .context("missing")?
        )? == "city"
    );
    ensure!(
        input_error_source(
            builder
                .update(&one_column("z", x)?)
                .err()
                .context("unknown")?
        )? == "z"
    );
    let untouched = builder.finish();
    ensure!(untouched.rows == 0 && column(&untouched, "x")?.quantile(0.5)?.is_none());
    let twice = Schema::new(vec![
        Field::new("x", DataType::Float64, true),
        Field::new("x", DataType::Utf8, true),
    ]);
    ensure!(input_error_source(ProfileBuilder::new(&twice).err().context("duplicate")?)? == "x");
    Ok(())
}

#[test]
fn an_integer_partition_merges_with_a_float_partition() -> Result<()> {
    // Numbers are read as f64, so an Int64 partition and a Float64 one of the same column
    // merge: 1, 2, 3 and 4.5 → mean 2.625, min 1, max 4.5.
    let ints = profile_of(&one_column("x", Arc::new(Int64Array::from(vec![1, 2, 3])))?)?;
    let floats = profile_of(&one_column("x", Arc::new(Float64Array::from(vec![4.5])))?)?;
    let mut merged = ints;
    merged.merge(&floats)?;
    let numeric = column(&merged, "x")?.as_numeric().context("numeric")?;
    ensure!((numeric.mean(), numeric.min, numeric.max) == (Some(2.625), Some(1.0), Some(4.5)));
    Ok(())
}

#[test]
fn numeric_dictionaries_and_string_views_are_profiled() -> Result<()> {
    // Keys 0, 1, 1, null over the values 10 and 20: the numbers 10, 20, 20 and a null.
    let keys = arrow::array::Int32Array::from(vec![Some(0), Some(1), Some(1), None]);
    let dictionary =
        DictionaryArray::<Int32Type>::try_new(keys, Arc::new(Int64Array::from(vec![10, 20])))?;
    let profile = profile_of(&one_column("d", Arc::new(dictionary))?)?;
    let numeric = column(&profile, "d")?.as_numeric().context("numeric")?;
    ensure!((numeric.count, numeric.nulls, numeric.max) == (3, 1, Some(20.0)));
    ensure!((numeric.mean().context("a mean")? - 50.0 / 3.0).abs() < 1e-12);
    let views = StringViewArray::from(vec![Some("a"), Some("b"), None, Some("a")]);
    let profile = profile_of(&one_column("v", Arc::new(views))?)?;
    let top = column(&profile, "v")?.top_categories(5);
    let counts: Vec<(&str, u64)> = top.iter().map(|c| (c.value.as_str(), c.count)).collect();
    ensure!(counts == [("a", 2), ("b", 1)], "{counts:?}");
    ensure!(column(&profile, "v")?.nulls() == 1);
    Ok(())
}
