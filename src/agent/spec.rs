//! When a schedule fires: an interval (`every = "15s"`, `start_after`) or a
//! standard five-field cron expression (parsed and evaluated by `croner`, in
//! UTC or a named IANA time zone read through `jiff`).
//!
//! Cron follows Vixie cron, as croner defines it: fields minute, hour,
//! day of month, month, day of week; `*`, ranges `a-b`, steps `*/n` and
//! `a-b/n` (every n-th value counted from the start of the range), lists,
//! month and weekday names (`JAN`, `MON`), Sunday = 0 or 7, the macros
//! `@yearly`, `@monthly`, `@weekly`, `@daily`, `@hourly`; when both day
//! fields are restricted a day matching *either* fires. In a time zone with
//! daylight saving time, a wall-clock time that does not exist (skipped in
//! spring) and one that happens twice (in autumn) fire as croner decides:
//! see the README.

use std::str::FromStr;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::Millis;

/// When a schedule fires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Spec {
    /// Every `period_ms`, the first tick `start_after_ms` after the schedule
    /// was registered.
    Every {
        /// The period in milliseconds.
        period_ms: u64,
        /// The delay before the first tick, in milliseconds.
        start_after_ms: u64,
    },
    /// At the times a five-field cron expression names, in a time zone.
    Cron {
        /// The expression as written (`0 */4 * * *`, `@daily`).
        expr: String,
        /// An IANA time zone name (`UTC`, `Europe/Paris`).
        tz: String,
    },
}

/// The shortest period an interval schedule may have.
pub const MIN_PERIOD_MS: u64 = 10;

/// The names of the five cron fields, in order.
pub const CRON_FIELDS: [&str; 5] = ["minute", "hour", "day of month", "month", "day of week"];

impl Spec {
    /// An interval schedule from durations as written (`"15s"`, `"500ms"`,
    /// `"1h30m"`).
    pub fn every(period: &str, start_after: Option<&str>) -> Result<Spec, String> {
        let period_ms = parse_duration(period).map_err(|e| format!("every = \"{period}\": {e}"))?;
        if period_ms < MIN_PERIOD_MS {
            return Err(format!("every = \"{period}\" is shorter than the shortest period, {MIN_PERIOD_MS}ms"));
        }
        let start_after_ms = match start_after {
            Some(s) => parse_duration(s).map_err(|e| format!("start_after = \"{s}\": {e}"))?,
            None => 0,
        };
        Ok(Spec::Every { period_ms, start_after_ms })
    }

    /// A cron schedule; `tz` defaults to UTC. The error names the
    /// expression, the field at fault and what is wrong with it.
    pub fn cron(expr: &str, tz: Option<&str>) -> Result<Spec, String> {
        parse_cron(expr)?;
        let tz = tz.unwrap_or("UTC");
        zone(tz)?;
        let spec = Spec::Cron { expr: expr.trim().to_owned(), tz: tz.to_owned() };
        // An expression no date matches (`0 0 31 2 *`) never fires.
        spec.next_after(0).map_err(|e| format!("cron expression `{expr}` never fires: {e}"))?;
        Ok(spec)
    }

    /// The first tick of a schedule registered at `anchor`.
    pub fn first(&self, anchor: Millis) -> Result<Millis, String> {
        match self {
            Spec::Every { start_after_ms, .. } => Ok(anchor.saturating_add(ms(*start_after_ms))),
            Spec::Cron { .. } => self.next_after(anchor),
        }
    }

    /// The first tick strictly after `t`, for a schedule anchored at
    /// `anchor` (intervals count from `anchor + start_after`).
    pub fn next_from(&self, anchor: Millis, t: Millis) -> Result<Millis, String> {
        match self {
            Spec::Every { period_ms, start_after_ms } => {
                let base = anchor.saturating_add(ms(*start_after_ms));
                let period = ms(*period_ms).max(1);
                if t < base {
                    return Ok(base);
                }
                let k = (t - base) / period + 1;
                Ok(base.saturating_add(k.saturating_mul(period)))
            }
            Spec::Cron { .. } => self.next_after(t),
        }
    }

    /// The next cron occurrence strictly after `t` (cron only; an interval
    /// anchored at 0 otherwise).
    fn next_after(&self, t: Millis) -> Result<Millis, String> {
        match self {
            Spec::Every { .. } => self.next_from(0, t),
            Spec::Cron { expr, tz } => {
                let cron = parse_cron(expr)?;
                let zone = zone(tz)?;
                // Cron has whole-minute times: start from the second at or
                // before `t`, so that a tick at exactly `t` is not repeated.
                let at = Timestamp::from_millisecond(t.div_euclid(1000) * 1000)
                    .map_err(|e| format!("time {t} is out of range: {e}"))?
                    .to_zoned(zone);
                let next = cron.find_next_occurrence(&at, false).map_err(|e| e.to_string())?;
                Ok(next.timestamp().as_millisecond())
            }
        }
    }

    /// How a person reads it: `every 15s (first after 3s)`, `cron 0 */4 * * * (UTC)`.
    pub fn describe(&self) -> String {
        match self {
            Spec::Every { period_ms, start_after_ms: 0 } => format!("every {}", show_duration(*period_ms)),
            Spec::Every { period_ms, start_after_ms } => {
                format!("every {} (first after {})", show_duration(*period_ms), show_duration(*start_after_ms))
            }
            Spec::Cron { expr, tz } => format!("cron {expr} ({tz})"),
        }
    }
}

fn ms(v: u64) -> Millis {
    Millis::try_from(v).unwrap_or(Millis::MAX)
}

/// The standard five-field parser: no seconds, no years, Vixie day fields.
fn parser() -> CronParser {
    CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).dom_and_dow(false).build()
}

/// Parses a five-field cron expression or macro; the error names the
/// expression and, when one can be told, the field.
pub fn parse_cron(expr: &str) -> Result<Cron, String> {
    let trimmed = expr.trim();
    // Vixie cron's `@midnight` is `@daily`; croner knows only the latter.
    let known = if trimmed.eq_ignore_ascii_case("@midnight") { "@daily" } else { trimmed };
    match parser().parse(known) {
        Ok(c) => Ok(c),
        Err(e) => Err(explain_cron(trimmed, &e.to_string())),
    }
}

/// Says which field of `expr` is wrong, trying each field alone.
fn explain_cron(expr: &str, whole: &str) -> String {
    let lead = format!("invalid cron expression `{expr}`");
    if expr.starts_with('@') {
        return format!(
            "{lead}: unknown macro (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)"
        );
    }
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if fields.len() != 5 {
        return format!(
            "{lead}: it has {} field(s); a cron expression has 5: minute hour day-of-month month day-of-week \
             (e.g. `0 */4 * * *`), or is a macro such as @daily",
            fields.len()
        );
    }
    for (i, field) in fields.iter().enumerate() {
        let mut alone = ["*"; 5];
        alone[i] = field;
        if let Err(e) = parser().parse(&alone.join(" ")) {
            return format!("{lead}: field {} ({}) `{field}`: {e}", i + 1, CRON_FIELDS[i]);
        }
    }
    format!("{lead}: {whole}")
}

/// The time zone named `name`.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    if name.eq_ignore_ascii_case("utc") {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(name).map_err(|e| {
        format!(
            "unknown time zone `{name}` ({e}): name an IANA zone such as `UTC`, `Europe/Paris` or `America/New_York`"
        )
    })
}

/// Parses a duration: whole numbers with units `ms`, `s`, `m`, `h`, `d`,
/// one after the other (`15s`, `500ms`, `1h30m`).
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let bad =
        || format!("`{text}` is not a duration: write a number and a unit (ms, s, m, h, d), e.g. 15s, 500ms, 1h30m");
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
    }
    Ok(total)
}

/// A duration as `parse_duration` reads it: `15s`, `1h30m`, `250ms`.
pub fn show_duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

impl FromStr for Spec {
    type Err = String;

    /// `every 15s`, `every 15s after 3s`, or a cron expression (`0 */4 * * *`,
    /// `@daily`, with ` in Europe/Paris` for a time zone).
    fn from_str(s: &str) -> Result<Spec, String> {
        let s = s.trim();
        if let Some(rest) = s.strip_prefix("every ") {
            let (period, after) = match rest.split_once(" after ") {
                Some((p, a)) => (p, Some(a)),
                None => (rest, None),
            };
            return Spec::every(period.trim(), after.map(str::trim));
        }
        match s.rsplit_once(" in ") {
            Some((expr, tz)) => Spec::cron(expr, Some(tz.trim())),
            None => Spec::cron(s, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        for (text, ms) in [("15s", 15_000), ("500ms", 500), ("1h30m", 5_400_000), ("2d", 172_800_000), ("1m1s", 61_000)]
        {
            assert_eq!(parse_duration(text), Ok(ms), "{text}");
            assert_eq!(parse_duration(&show_duration(ms)), Ok(ms));
        }
        for bad in ["", "15", "s", "1.5s", "15 sec", "-1s", "1y"] {
            assert!(parse_duration(bad).unwrap_err().contains("not a duration"), "{bad}");
        }
    }

    #[test]
    fn intervals_count_from_the_anchor() {
        let spec = Spec::every("10s", Some("3s")).expect("valid");
        assert_eq!(spec.first(1_000), Ok(4_000));
        assert_eq!(spec.next_from(1_000, 0), Ok(4_000));
        assert_eq!(spec.next_from(1_000, 4_000), Ok(14_000));
        assert_eq!(spec.next_from(1_000, 13_999), Ok(14_000));
        assert_eq!(spec.next_from(1_000, 14_000), Ok(24_000));
        assert!(Spec::every("1ms", None).unwrap_err().contains("shortest"));
    }

    #[test]
    fn cron_errors_name_the_expression_and_the_field() {
        let e = Spec::cron("61 * * * *", None).unwrap_err();
        assert!(e.contains("`61 * * * *`") && e.contains("field 1 (minute) `61`"), "{e}");
        let e = Spec::cron("0 0 * 13 *", None).unwrap_err();
        assert!(e.contains("field 4 (month) `13`"), "{e}");
        let e = Spec::cron("0 0 * *", None).unwrap_err();
        assert!(e.contains("4 field(s)") && e.contains("5"), "{e}");
        let e = Spec::cron("@sometimes", None).unwrap_err();
        assert!(e.contains("unknown macro"), "{e}");
        let e = Spec::cron("0 0 * * *", Some("Mars/Olympus")).unwrap_err();
        assert!(e.contains("Mars/Olympus"), "{e}");
        let e = Spec::cron("0 0 31 2 *", None).unwrap_err();
        assert!(e.contains("never fires"), "{e}");
    }

    #[test]
    fn specs_read_from_text() {
        assert_eq!("every 15s".parse(), Ok(Spec::Every { period_ms: 15_000, start_after_ms: 0 }));
        assert_eq!("every 1m after 3s".parse(), Ok(Spec::Every { period_ms: 60_000, start_after_ms: 3_000 }));
        assert_eq!(
            "0 6 * * MON in Europe/Paris".parse(),
            Ok(Spec::Cron { expr: "0 6 * * MON".into(), tz: "Europe/Paris".into() })
        );
        assert_eq!("@daily".parse(), Ok(Spec::Cron { expr: "@daily".into(), tz: "UTC".into() }));
    }
}
