//! Billing days and months. A billing day is a civil date in the account's billing time zone;
//! every range is half-open `[start, end)`.

use std::fmt;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// The billing day of a moment: its civil date in the account's time zone.
pub fn billing_day(at: Timestamp, tz: &TimeZone) -> Date {
    at.to_zoned(tz.clone()).date()
}

/// The first instant of a billing day in the account's time zone.
pub fn day_start(day: Date, tz: &TimeZone) -> Timestamp {
    day.to_zoned(tz.clone()).expect("every civil date of the supported range has a start").timestamp()
}

pub fn next_day(day: Date) -> Date {
    day.checked_add(1.day()).expect("date within range")
}

pub fn previous_day(day: Date) -> Date {
    day.checked_sub(1.day()).expect("date within range")
}

/// The last billing day that has fully ended at `now` in the zone.
pub fn last_ended_day(now: Timestamp, tz: &TimeZone) -> Date {
    previous_day(billing_day(now, tz))
}

/// A billing month, e.g. `2026-11`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i16,
    pub month: i8,
}

impl Month {
    pub fn of(day: Date) -> Month {
        Month { year: day.year(), month: day.month() }
    }

    pub fn parse(text: &str) -> Option<Month> {
        let (y, m) = text.split_once('-')?;
        let year: i16 = y.parse().ok()?;
        let month: i8 = m.parse().ok()?;
        if y.len() != 4 || m.len() != 2 || !(1..=12).contains(&month) {
            return None;
        }
        Some(Month { year, month })
    }

    pub fn first_day(self) -> Date {
        Date::new(self.year, self.month, 1).expect("valid month")
    }

    pub fn next(self) -> Month {
        if self.month == 12 { Month { year: self.year + 1, month: 1 } } else { Month { year: self.year, month: self.month + 1 } }
    }

    pub fn previous(self) -> Month {
        if self.month == 1 { Month { year: self.year - 1, month: 12 } } else { Month { year: self.year, month: self.month - 1 } }
    }

    /// The month's days as a half-open range of dates `[first, first of next)`.
    pub fn days(self) -> DayRange {
        DayRange { start: self.first_day(), end: self.next().first_day() }
    }

    pub fn contains(self, day: Date) -> bool {
        Month::of(day) == self
    }

    /// `202611`, as used in invoice numbers.
    pub fn compact(self) -> String {
        format!("{:04}{:02}", self.year, self.month)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A half-open range of billing days `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayRange {
    pub start: Date,
    pub end: Date,
}

impl DayRange {
    pub fn contains(&self, day: Date) -> bool {
        self.start <= day && day < self.end
    }
}

/// The validity of a coupon or prepaid card as the operator states it: calendar dates, both
/// ends included. Internally it is the half-open day range `[from, until + 1 day)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub from: Date,
    pub until: Date,
}

impl Validity {
    pub fn new(from: Date, until: Date) -> Result<Validity, PeriodError> {
        if until < from {
            return Err(PeriodError::UntilBeforeFrom { from, until });
        }
        Ok(Validity { from, until })
    }

    pub fn range(&self) -> DayRange {
        DayRange { start: self.from, end: next_day(self.until) }
    }

    /// Whether an expense line of this billing day may be paid from the instrument.
    pub fn covers(&self, day: Date) -> bool {
        // `self.range().contains(day)`, without making the day after `until` for every
        // line the waterfall offers the instrument.
        self.from <= day && day <= self.until
    }

    /// Days left counted from `today`, including today and the last day; 0 once it has ended.
    pub fn days_left(&self, today: Date) -> i64 {
        if today > self.until {
            return 0;
        }
        let start = if today < self.from { self.from } else { today };
        i64::from((self.until - start).get_days()) + 1
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("the last day {until} is before the first day {from}")]
    UntilBeforeFrom { from: Date, until: Date },
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn billing_day_follows_the_zone() {
        let at: Timestamp = "2026-10-31T17:30:00Z".parse().unwrap();
        let shanghai = TimeZone::get("Asia/Shanghai").unwrap();
        assert_eq!(billing_day(at, &shanghai), date(2026, 11, 1));
        assert_eq!(billing_day(at, &TimeZone::UTC), date(2026, 10, 31));
        assert_eq!(day_start(date(2026, 11, 1), &shanghai), "2026-10-31T16:00:00Z".parse().unwrap());
    }

    #[test]
    fn validity_includes_both_named_days() {
        let v = Validity::new(date(2026, 10, 1), date(2026, 10, 31)).unwrap();
        assert!(v.covers(date(2026, 10, 31)));
        assert!(v.covers(date(2026, 10, 1)));
        assert!(!v.covers(date(2026, 11, 1)));
        assert!(!v.covers(date(2026, 9, 30)));
        assert_eq!(v.days_left(date(2026, 10, 25)), 7);
        assert_eq!(v.days_left(date(2026, 11, 1)), 0);
        assert!(Validity::new(date(2026, 10, 2), date(2026, 10, 1)).is_err());
        // Both ends included is the half-open range that ends the day after `until`.
        let (one_day, year_end) =
            (Validity::new(date(2026, 2, 28), date(2026, 2, 28)).unwrap(), Validity::new(date(2026, 12, 31), date(2026, 12, 31)).unwrap());
        for v in [v, one_day, year_end] {
            for offset in -3..=3 {
                for end in [v.from, v.until] {
                    let day = end.checked_add(jiff::Span::new().days(offset)).unwrap();
                    assert_eq!(v.covers(day), v.range().contains(day), "{v:?} on {day}");
                }
            }
        }
    }

    #[test]
    fn months() {
        let m = Month::parse("2026-12").unwrap();
        assert_eq!(m.next().to_string(), "2027-01");
        assert_eq!(m.days().end, date(2027, 1, 1));
        assert_eq!(m.compact(), "202612");
        assert!(Month::parse("2026-13").is_none());
    }
}
