//! The HTML output's chart: analysed cores per bucket over time, as stacked bars
//! in an inline SVG (no script, no external resource).
//!
//! Time runs left to right in bins of one unit, the finest of hour, 3/6/12 hours,
//! day, week (from Monday), month, quarter, year (then several years) that covers
//! the cores' span in at most [`MAX_BINS`] bins, in UTC; every bin between the
//! first and the last is drawn, empty or not. Cores whose `timestamp` is missing or
//! unreadable are counted in an "unknown time" column at the right. Each bucket is
//! one `<g class="series" data-bucket="ID">` holding one `<rect>` per non-empty
//! bin; past [`MAX_SERIES`] buckets the smallest are drawn together as `other`.

use std::collections::HashMap;
use std::io::{self, Write};

use jiff::Timestamp;
use jiff::tz::Offset;

use super::html::esc;
use crate::triage::model::{Bucket, Status, TriageDoc};

/// At most this many time bins.
pub const MAX_BINS: i64 = 60;
/// At most this many series; the buckets past `MAX_SERIES - 1` are drawn as one.
pub const MAX_SERIES: usize = 12;

/// Colours of the series (colour-blind-friendly palette), then grey for `other`.
const PALETTE: [&str; 11] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#17becf", "#bcbd22",
];
const OTHER_COLOR: &str = "#9d9d9d";

/// A bin width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Hours(i64),
    Days,
    Weeks,
    Months(i64),
    Years(i64),
}

impl Unit {
    /// The bin of a time: consecutive bins have consecutive keys.
    fn key(self, t: Timestamp) -> i64 {
        let s = t.as_second();
        match self {
            Unit::Hours(n) => s.div_euclid(3600 * n),
            Unit::Days => s.div_euclid(86_400),
            // 1970-01-01 was a Thursday: weeks start three days later in the count.
            Unit::Weeks => (s + 3 * 86_400).div_euclid(7 * 86_400),
            Unit::Months(n) => {
                let d = Offset::UTC.to_datetime(t);
                (i64::from(d.year()) * 12 + i64::from(d.month()) - 1).div_euclid(n)
            }
            Unit::Years(n) => i64::from(Offset::UTC.to_datetime(t).year()).div_euclid(n),
        }
    }

    /// The label of a bin (its start, UTC).
    fn label(self, key: i64) -> String {
        let at = |s: i64, f: &str| {
            Timestamp::from_second(s)
                .map(|t| t.strftime(f).to_string())
                .unwrap_or_else(|_| "?".to_string())
        };
        match self {
            Unit::Hours(n) => at(key * 3600 * n, "%Y-%m-%d %H:00"),
            Unit::Days => at(key * 86_400, "%Y-%m-%d"),
            Unit::Weeks => at(key * 7 * 86_400 - 3 * 86_400, "%Y-%m-%d"),
            Unit::Months(n) => {
                let m = key * n;
                format!("{:04}-{:02}", m.div_euclid(12), m.rem_euclid(12) + 1)
            }
            Unit::Years(1) => format!("{key}"),
            Unit::Years(n) => format!("{}–{}", key * n, key * n + n - 1),
        }
    }

    fn name(self) -> String {
        match self {
            Unit::Hours(1) => "hour".into(),
            Unit::Hours(n) => format!("{n} hours"),
            Unit::Days => "day".into(),
            Unit::Weeks => "week (from Monday)".into(),
            Unit::Months(1) => "month".into(),
            Unit::Months(3) => "quarter".into(),
            Unit::Months(n) => format!("{n} months"),
            Unit::Years(1) => "year".into(),
            Unit::Years(n) => format!("{n} years"),
        }
    }
}

/// A chart's data.
#[derive(Debug)]
pub(crate) struct Timeline {
    unit: Unit,
    /// Key of the first bin.
    first: i64,
    /// Number of time bins (the unknown-time column comes after them).
    bins: usize,
    /// Some core has no usable time.
    unknown: bool,
    series: Vec<Series>,
}

#[derive(Debug)]
struct Series {
    /// A bucket id, or `other`.
    id: String,
    label: String,
    color: &'static str,
    /// Per time bin, then the unknown-time column.
    counts: Vec<u64>,
}

impl Timeline {
    /// The chart of the analysed cores of `doc`, by bucket (`buckets` in display
    /// order); `None` when no analysed core has a bucket.
    pub(crate) fn build(doc: &TriageDoc, buckets: &[&Bucket]) -> Option<Timeline> {
        // The first buckets are drawn each on its own; the rest, and cores naming a
        // bucket the document lacks, together as `other`.
        let named = if buckets.len() > MAX_SERIES {
            MAX_SERIES - 1
        } else {
            buckets.len()
        };
        let index: HashMap<&str, usize> = buckets
            .iter()
            .take(named)
            .enumerate()
            .map(|(i, b)| (b.id.as_str(), i))
            .collect();
        // (series, time) of every analysed core with a bucket.
        let points: Vec<(Option<usize>, Option<Timestamp>)> = doc
            .cores
            .iter()
            .filter(|c| c.status == Status::Analysed)
            .filter_map(|c| {
                let b = c.bucket.as_deref()?;
                let t = c.timestamp.as_deref().and_then(|t| t.parse().ok());
                Some((index.get(b).copied(), t))
            })
            .collect();
        if points.is_empty() {
            return None;
        }
        let with_other = points.iter().any(|(s, _)| s.is_none());
        let other = named;

        let times: Vec<Timestamp> = points.iter().filter_map(|(_, t)| *t).collect();
        let (unit, first, bins) = match (times.iter().min(), times.iter().max()) {
            (Some(lo), Some(hi)) => {
                let units = [
                    Unit::Hours(1),
                    Unit::Hours(3),
                    Unit::Hours(6),
                    Unit::Hours(12),
                    Unit::Days,
                    Unit::Weeks,
                    Unit::Months(1),
                    Unit::Months(3),
                    Unit::Years(1),
                ];
                let fits = |u: Unit| u.key(*hi) - u.key(*lo) < MAX_BINS;
                let unit = units.into_iter().find(|u| fits(*u)).unwrap_or_else(|| {
                    let span = Unit::Years(1).key(*hi) - Unit::Years(1).key(*lo) + 1;
                    let mut n = (span + MAX_BINS - 1) / MAX_BINS;
                    while !fits(Unit::Years(n)) {
                        n += 1;
                    }
                    Unit::Years(n)
                });
                let first = unit.key(*lo);
                (unit, first, (unit.key(*hi) - first + 1) as usize)
            }
            _ => (Unit::Days, 0, 0),
        };
        let unknown = points.iter().any(|(_, t)| t.is_none());

        let mut series: Vec<Series> = buckets
            .iter()
            .take(named)
            .enumerate()
            .map(|(i, b)| Series {
                id: b.id.clone(),
                label: format!(
                    "{} {} ({})",
                    b.id,
                    b.code.as_deref().unwrap_or("no finding"),
                    b.count
                ),
                color: PALETTE[i % PALETTE.len()],
                counts: vec![0; bins + 1],
            })
            .collect();
        if with_other {
            series.push(Series {
                id: "other".to_string(),
                label: "other buckets".to_string(),
                color: OTHER_COLOR,
                counts: vec![0; bins + 1],
            });
        }
        for (s, t) in points {
            let col = match t {
                Some(t) => (unit.key(t) - first) as usize,
                None => bins,
            };
            series[s.unwrap_or(other)].counts[col] += 1;
        }
        Some(Timeline {
            unit,
            first,
            bins,
            unknown,
            series,
        })
    }

    /// Writes the chart as `<svg id="timeline">`.
    pub(crate) fn svg<W: Write + ?Sized>(&self, w: &mut W) -> io::Result<()> {
        const LEFT: f64 = 52.0;
        const TOP: f64 = 12.0;
        const PLOT_H: f64 = 240.0;
        const SLOT: f64 = 26.0;
        const BAR: f64 = 18.0;
        const LABELS_H: f64 = 110.0;
        const LEGEND_ROW: f64 = 18.0;
        let cols = self.bins + usize::from(self.unknown);
        // The unknown column is set apart by half a slot.
        let x_of =
            |c: usize| LEFT + 8.0 + c as f64 * SLOT + if c >= self.bins { SLOT / 2.0 } else { 0.0 };
        let plot_w = x_of(cols.max(1)) - LEFT;
        let width = (LEFT + plot_w + 16.0).max(720.0);
        let legend_top = TOP + PLOT_H + LABELS_H;
        let height = legend_top + self.series.len() as f64 * LEGEND_ROW + 12.0;

        let column_total = |c: usize| self.series.iter().map(|s| s.counts[c]).sum::<u64>();
        let columns: Vec<usize> = (0..self.bins)
            .chain(self.unknown.then_some(self.bins))
            .collect();
        let max = columns
            .iter()
            .map(|c| column_total(*c))
            .max()
            .unwrap_or(0)
            .max(1);
        let step = nice_step(max);
        let top = max.div_ceil(step) * step;
        let y_of = |v: u64| TOP + PLOT_H - v as f64 / top as f64 * PLOT_H;

        writeln!(
            w,
            r#"<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" role="img" aria-labelledby="timeline-title" data-unit="{}" data-bins="{}" data-unknown="{}">"#,
            esc(&self.unit.name()),
            self.bins,
            self.unknown
        )?;
        writeln!(
            w,
            r#"<title id="timeline-title">Analysed cores per bucket and {}</title>"#,
            esc(&self.unit.name())
        )?;
        // Grid and y axis.
        writeln!(w, r##"<g class="axis" font-size="11" fill="#444">"##)?;
        let mut v = 0;
        while v <= top {
            let y = y_of(v);
            writeln!(
                w,
                r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v}</text>"##,
                LEFT + plot_w,
                LEFT - 6.0,
                y + 4.0
            )?;
            v += step;
        }
        // Labels under the columns: every one when they fit, else every k-th.
        let every = self.bins.div_ceil(30).max(1);
        for c in columns.iter().copied() {
            if c < self.bins && c % every != 0 {
                continue;
            }
            let label = if c < self.bins {
                self.unit.label(self.first + c as i64)
            } else {
                "unknown time".to_string()
            };
            let x = x_of(c) + BAR / 2.0;
            let y = TOP + PLOT_H + 10.0;
            writeln!(
                w,
                r#"<text class="{}" x="{x:.1}" y="{y:.1}" text-anchor="end" transform="rotate(-60 {x:.1} {y:.1})">{}</text>"#,
                if c < self.bins { "bin" } else { "bin-unknown" },
                esc(&label)
            )?;
        }
        writeln!(w, "</g>")?;
        // Bars, stacked from the bottom in bucket order.
        let mut base = vec![0u64; self.bins + 1];
        for s in &self.series {
            writeln!(
                w,
                r#"<g class="series" data-bucket="{}" fill="{}">"#,
                esc(&s.id),
                s.color
            )?;
            for c in columns.iter().copied() {
                let n = s.counts[c];
                if n == 0 {
                    continue;
                }
                let (y0, y1) = (y_of(base[c]), y_of(base[c] + n));
                base[c] += n;
                let label = if c < self.bins {
                    self.unit.label(self.first + c as i64)
                } else {
                    "unknown time".to_string()
                };
                writeln!(
                    w,
                    r#"<rect class="bar" data-bin="{}" data-count="{n}" x="{:.1}" y="{y1:.2}" width="{BAR}" height="{:.2}"><title>{}: {n} {} ({})</title></rect>"#,
                    esc(&label),
                    x_of(c),
                    y0 - y1,
                    esc(&s.id),
                    if n == 1 { "core" } else { "cores" },
                    esc(&label)
                )?;
            }
            writeln!(w, "</g>")?;
        }
        // Legend.
        writeln!(w, r##"<g class="legend" font-size="12" fill="#222">"##)?;
        for (i, s) in self.series.iter().enumerate() {
            let y = legend_top + i as f64 * LEGEND_ROW;
            writeln!(
                w,
                r#"<g class="legend-item" data-bucket="{}"><rect x="{LEFT}" y="{y:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
                esc(&s.id),
                s.color,
                LEFT + 18.0,
                y + 10.5,
                esc(&s.label)
            )?;
        }
        writeln!(w, "</g>")?;
        writeln!(w, "</svg>")
    }
}

/// A round step (1, 2 or 5 × 10ⁿ) giving about four grid lines up to `max`.
fn nice_step(max: u64) -> u64 {
    let raw = (max as f64 / 4.0).max(1.0);
    let mag = 10f64.powi(raw.log10().floor() as i32);
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    (step as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn units_bin_and_label() {
        let t = ts("2026-11-30T10:42:00+02:00");
        assert_eq!(
            Unit::Hours(1).label(Unit::Hours(1).key(t)),
            "2026-11-30 08:00"
        );
        assert_eq!(Unit::Days.label(Unit::Days.key(t)), "2026-11-30");
        // 2026-11-30 is a Monday; the Sunday before belongs to the previous week.
        assert_eq!(Unit::Weeks.label(Unit::Weeks.key(t)), "2026-11-30");
        assert_eq!(
            Unit::Weeks.label(Unit::Weeks.key(ts("2026-11-29T23:00:00Z"))),
            "2026-11-23"
        );
        assert_eq!(Unit::Months(1).label(Unit::Months(1).key(t)), "2026-11");
        assert_eq!(Unit::Months(3).label(Unit::Months(3).key(t)), "2026-10");
        assert_eq!(Unit::Years(10).label(Unit::Years(10).key(t)), "2020–2029");
        assert_eq!(Unit::Days.key(ts("1969-12-31T23:00:00Z")), -1);
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(1), 1);
        assert_eq!(nice_step(4), 1);
        assert_eq!(nice_step(7), 2);
        assert_eq!(nice_step(18), 5);
        assert_eq!(nice_step(40), 10);
        assert_eq!(nice_step(1234), 500);
    }
}
