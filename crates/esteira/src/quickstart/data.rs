//! The quickstart's demand: daily units sold per store and product, generated from a seed.
//!
//! For store `i`, product `j` and day `t` (0 = the first day of the history):
//!
//! ```text
//! units = base_i · scale_j · (1 + growth_i · t / 365) · weekly_j(weekday) · yearly_j(day of year)
//!         · holiday(date) · promo_ij(t) · shock_i(t) · noise_ij(t) · policy_i(t)
//! ```
//!
//! - `base_i = exp(N(ln 30, 0.4))`, `scale_j = exp(N(0, 0.5))`, `growth_i ~ U(-0.01, 0.04)`;
//! - `weekly_j = 1 + k_j · W[weekday]` with `W = (−0.12, −0.10, −0.06, 0, 0.10, 0.24, −0.06)`
//!   from Monday and `k_j ~ U(0.6, 1.4)`;
//! - `yearly_j = 1 + a_j · cos(2π (day of year − peak_j) / 365.25)`, `a_j ~ U(0.02, 0.06)`;
//! - holidays (1 January, 1 May, 15 August, 1 November, 25 and 26 December) sell 0.75 times,
//!   their eves 1.1 times;
//! - promotions run for whole weeks: each (series, week) with probability 0.08, selling
//!   `1 + u_j` times, `u_j ~ U(0.25, 0.6)`;
//! - `shock_i(t) = exp(N(0, 0.03))`, shared by a store's products on a day (weather);
//! - `noise_ij(t) = exp(N(0, 0.10))`;
//! - `policy_i(t)` is 1 before the change day and `m_i ~ U(1.3, 1.5)` from it on: a new
//!   promotion policy (everyday low prices) that lifts demand at every store.
//!
//! Units are rounded to one decimal. Every draw comes from [`SplitMix64`] streams seeded from
//! the seed and the series (or store), so a seed always gives the same data.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, StringArray};
use chrono::{Datelike, NaiveDate};
use esteira_ml::dataset::{Table, table_from_columns};
use esteira_ml::rng::SplitMix64;

/// The weekly profile `W`, Monday first.
const WEEKLY: [f64; 7] = [-0.12, -0.10, -0.06, 0.0, 0.10, 0.24, -0.06];
/// (month, day) of the holidays.
const HOLIDAYS: [(u32, u32); 6] = [(1, 1), (5, 1), (8, 15), (11, 1), (12, 25), (12, 26)];
const HOLIDAY_FACTOR: f64 = 0.75;
const HOLIDAY_EVE_FACTOR: f64 = 1.1;
const PROMO_WEEK_PROBABILITY: f64 = 0.08;

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct DemandSpec {
    /// The seed of every draw.
    pub seed: u64,
    /// Number of stores.
    pub stores: usize,
    /// Number of products (each store sells every product).
    pub products: usize,
    /// The first day.
    pub start: NaiveDate,
    /// How many days, history and replay together.
    pub days: usize,
    /// The first day (index from `start`) of the new promotion policy.
    pub change_day: usize,
}

/// The generated demand, with its calendar columns.
#[derive(Clone, Debug)]
pub struct Demand {
    spec: DemandSpec,
    /// Series ids, `s01-p01` style, store-major.
    pub series: Vec<String>,
    /// Units per series, day-major within a series: `units[s * days + t]`.
    units: Vec<f64>,
    /// Whether a promotion ran, same layout.
    promo: Vec<bool>,
}

/// The id column of the long format.
pub const ID: &str = "store_item";
/// The time column.
pub const TIME: &str = "date";
/// The target column.
pub const TARGET: &str = "units";

/// A standard normal draw (Box-Muller on two uniforms).
fn normal(rng: &mut SplitMix64) -> f64 {
    let u1 = rng.unit().max(f64::MIN_POSITIVE);
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn uniform(rng: &mut SplitMix64, low: f64, high: f64) -> f64 {
    low + (high - low) * rng.unit()
}

/// A stream of its own for each (seed, purpose, index).
fn stream(seed: u64, purpose: u64, index: usize) -> SplitMix64 {
    SplitMix64::new(
        seed ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (index as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93),
    )
}

struct StoreDraws {
    base: f64,
    growth: f64,
    lift: f64,
    shocks: Vec<f64>,
}

struct ProductDraws {
    scale: f64,
    weekly: f64,
    yearly: f64,
    peak: f64,
    promo_uplift: f64,
}

/// The calendar effect of `date`: holidays and their eves.
fn holiday_factor(date: NaiveDate) -> f64 {
    let key = (date.month(), date.day());
    let eve = date.succ_opt().map(|d| (d.month(), d.day()));
    if HOLIDAYS.contains(&key) {
        HOLIDAY_FACTOR
    } else if eve.is_some_and(|e| HOLIDAYS.contains(&e)) {
        HOLIDAY_EVE_FACTOR
    } else {
        1.0
    }
}

/// Whether `date` is a holiday.
pub fn is_holiday(date: NaiveDate) -> bool {
    HOLIDAYS.contains(&(date.month(), date.day()))
}

/// "a holiday" or "a holiday's eve" when `date` is one, for the story.
pub fn calendar_note(date: NaiveDate) -> Option<&'static str> {
    if is_holiday(date) {
        Some("a holiday")
    } else if date.succ_opt().is_some_and(is_holiday) {
        Some("a holiday's eve")
    } else {
        None
    }
}

impl Demand {
    /// Generates the demand of `spec` (see the module's documentation for the model).
    pub fn generate(spec: &DemandSpec) -> Demand {
        let stores: Vec<StoreDraws> = (0..spec.stores)
            .map(|i| {
                let mut rng = stream(spec.seed, 1, i);
                StoreDraws {
                    base: (30f64.ln() + 0.4 * normal(&mut rng)).exp(),
                    growth: uniform(&mut rng, -0.01, 0.04),
                    lift: uniform(&mut rng, 1.3, 1.5),
                    shocks: (0..spec.days)
                        .map(|_| (0.03 * normal(&mut rng)).exp())
                        .collect(),
                }
            })
            .collect();
        let products: Vec<ProductDraws> = (0..spec.products)
            .map(|j| {
                let mut rng = stream(spec.seed, 2, j);
                ProductDraws {
                    scale: (0.5 * normal(&mut rng)).exp(),
                    weekly: uniform(&mut rng, 0.6, 1.4),
                    yearly: uniform(&mut rng, 0.02, 0.06),
                    peak: uniform(&mut rng, 0.0, 365.0),
                    promo_uplift: uniform(&mut rng, 0.25, 0.6),
                }
            })
            .collect();
        let dates: Vec<NaiveDate> = spec.start.iter_days().take(spec.days).collect();
        let mut series = Vec::with_capacity(spec.stores * spec.products);
        let mut units = Vec::with_capacity(spec.stores * spec.products * spec.days);
        let mut promo = Vec::with_capacity(units.capacity());
        for (i, store) in stores.iter().enumerate() {
            for (j, product) in products.iter().enumerate() {
                series.push(format!("s{:02}-p{:02}", i + 1, j + 1));
                let mut rng = stream(spec.seed, 3, i * spec.products + j);
                let mut promo_week = false;
                for (t, date) in dates.iter().enumerate() {
                    if t % 7 == 0 {
                        promo_week = rng.unit() < PROMO_WEEK_PROBABILITY;
                    }
                    let value = store.base
                        * product.scale
                        * (1.0 + store.growth * t as f64 / 365.0)
                        * (1.0
                            + product.weekly
                                * WEEKLY[date.weekday().num_days_from_monday() as usize])
                        * (1.0
                            + product.yearly
                                * (2.0
                                    * std::f64::consts::PI
                                    * (f64::from(date.ordinal()) - product.peak)
                                    / 365.25)
                                    .cos())
                        * holiday_factor(*date)
                        * if promo_week {
                            1.0 + product.promo_uplift
                        } else {
                            1.0
                        }
                        * store.shocks[t]
                        * (0.10 * normal(&mut rng)).exp()
                        * if t >= spec.change_day {
                            store.lift
                        } else {
                            1.0
                        };
                    units.push((value * 10.0).round() / 10.0);
                    promo.push(promo_week);
                }
            }
        }
        Demand {
            spec: spec.clone(),
            series,
            units,
            promo,
        }
    }

    /// Products per store (the series of a store are consecutive).
    pub fn products(&self) -> usize {
        self.spec.products
    }

    /// The date of day `t`.
    pub fn date(&self, t: usize) -> NaiveDate {
        self.spec.start + chrono::Days::new(t as u64)
    }

    /// Units of series `s` on day `t`.
    pub fn units(&self, s: usize, t: usize) -> f64 {
        self.units[s * self.spec.days + t]
    }

    /// The long-format table of days `from..to` (every series, each series' days in order):
    /// `store_item`, `date`, `units`, `promo` (0/1), `holiday` (0/1).
    ///
    /// # Errors
    /// When Arrow refuses the columns (never for a generated demand).
    pub fn table(&self, from: usize, to: usize) -> esteira_ml::dataset::Result<Table> {
        let rows = self.series.len() * (to - from);
        let mut ids = Vec::with_capacity(rows);
        let mut dates = Vec::with_capacity(rows);
        let mut units = Vec::with_capacity(rows);
        let mut promos = Vec::with_capacity(rows);
        let mut holidays = Vec::with_capacity(rows);
        let epoch = NaiveDate::default();
        for (s, id) in self.series.iter().enumerate() {
            for t in from..to {
                let date = self.date(t);
                ids.push(id.as_str());
                dates.push((date - epoch).num_days() as i32);
                units.push(self.units(s, t));
                promos.push(i64::from(self.promo[s * self.spec.days + t]));
                holidays.push(i64::from(is_holiday(date)));
            }
        }
        let columns: Vec<(String, ArrayRef)> = vec![
            (ID.into(), Arc::new(StringArray::from(ids))),
            (TIME.into(), Arc::new(Date32Array::from(dates))),
            (TARGET.into(), Arc::new(Float64Array::from(units))),
            ("promo".into(), Arc::new(Int64Array::from(promos))),
            ("holiday".into(), Arc::new(Int64Array::from(holidays))),
        ];
        table_from_columns(columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> DemandSpec {
        DemandSpec {
            seed,
            stores: 10,
            products: 10,
            // A Monday.
            start: NaiveDate::from_ymd_opt(2024, 1, 1).expect("a date"),
            days: 364,
            change_day: 182,
        }
    }

    /// Mean of `units` over the series and the days `t` for which `pick` holds.
    fn mean(d: &Demand, pick: impl Fn(usize) -> bool) -> f64 {
        let mut sum = 0.0;
        let mut n = 0.0;
        for s in 0..d.series.len() {
            for t in (0..364).filter(|t| pick(*t)) {
                sum += d.units(s, t);
                n += 1.0;
            }
        }
        sum / n
    }

    #[test]
    fn a_seed_always_gives_the_same_demand_and_another_seed_another() {
        let a = Demand::generate(&spec(1));
        let b = Demand::generate(&spec(1));
        let c = Demand::generate(&spec(2));
        assert_eq!(a.units, b.units);
        assert_eq!(a.promo, b.promo);
        assert_ne!(a.units, c.units);
        assert_eq!(a.series[0], "s01-p01");
        assert_eq!(a.series[99], "s10-p10");
    }

    #[test]
    fn the_effects_have_the_documented_sizes() {
        let d = Demand::generate(&spec(3));
        // The new policy multiplies by m ~ U(1.3, 1.5) (mean 1.4); the same weeks of the
        // two halves differ otherwise by the trend and the yearly cycle only (a few %).
        let before = mean(&d, |t| t < 182);
        let after = mean(&d, |t| t >= 182);
        assert!((1.3..1.5).contains(&(after / before)), "{}", after / before);
        // Saturdays (W = 0.24) over Tuesdays (W = −0.10), k ~ U(0.6, 1.4) with mean 1:
        // about 1.24 / 0.90 = 1.38.
        let saturday = mean(&d, |t| t < 182 && t % 7 == 5 && !is_holiday(d.date(t)));
        let tuesday = mean(&d, |t| t < 182 && t % 7 == 1 && !is_holiday(d.date(t)));
        assert!(
            (1.3..1.46).contains(&(saturday / tuesday)),
            "{}",
            saturday / tuesday
        );
        // Promotions run in 8 % of the weeks.
        let share = d.promo.iter().filter(|p| **p).count() as f64 / d.promo.len() as f64;
        assert!((0.06..0.10).contains(&share), "{share}");
        // 1 May 2024 (day 121, a Wednesday) sells about 0.75 times the Wednesdays around it.
        let holiday = mean(&d, |t| t == 121);
        let wednesdays = mean(&d, |t| t == 114 || t == 128);
        assert!(
            (0.65..0.85).contains(&(holiday / wednesdays)),
            "{}",
            holiday / wednesdays
        );
        assert!(d.units.iter().all(|u| *u >= 0.0 && u.is_finite()));
    }

    #[test]
    fn the_table_is_the_long_format_of_the_days_asked() {
        let d = Demand::generate(&spec(4));
        let table = d.table(10, 13).expect("a table");
        assert_eq!(table.num_rows(), 100 * 3);
        assert_eq!(
            table.column_names(),
            ["store_item", "date", "units", "promo", "holiday"]
        );
        let units = table.f64_column(TARGET).expect("units");
        assert_eq!(units[0], Some(d.units(0, 10)));
        assert_eq!(units[3], Some(d.units(1, 10)));
        assert_eq!(
            calendar_note(NaiveDate::from_ymd_opt(2024, 12, 24).expect("a date")),
            Some("a holiday's eve")
        );
        assert_eq!(
            calendar_note(NaiveDate::from_ymd_opt(2024, 12, 25).expect("a date")),
            Some("a holiday")
        );
        assert_eq!(
            calendar_note(NaiveDate::from_ymd_opt(2024, 12, 27).expect("a date")),
            None
        );
    }
}
