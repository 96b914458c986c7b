//! Changes of an annual package during its term.
//!
//! An upgrade ends the package in force on the day it is made and starts the new one that day;
//! the days the old one will not cover are credited back pro rata by day: `price × unused days
//! / days of the term`, rounded down to the minor unit (the customer's favour is never more than
//! what was paid; the rounding rule of lines, `Currency::round_down`, cuts the same way).

use jiff::civil::Date;

use crate::money::Amount;

/// The credit for the days `[on, end)` of a package bought for `price` covering `[start, end)`.
/// Nothing when `on` is at or after the end; the whole price when it is at or before the start.
pub fn unused_credit(price: Amount, start: Date, end: Date, on: Date) -> Amount {
    let term = i128::from((end - start).get_days());
    assert!(term > 0, "a package covers at least one day ({start} to {end})");
    let unused = i128::from((end - on.max(start).min(end)).get_days());
    let credit = i128::from(price.minor()) * unused / term;
    Amount(i64::try_from(credit).expect("a credit is at most the price"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    /// A Starter package of 3,600.00 bought for 2026-03-01 to 2027-03-01 (365 days), upgraded on
    /// its 200th day (2026-09-16): 166 days unused, 3,600.00 × 166 / 365 = 1,637.2602… → 1,637.26.
    #[test]
    fn an_upgrade_on_the_200th_day_credits_the_unused_days_to_the_cent() {
        let (start, end) = (date(2026, 3, 1), date(2027, 3, 1));
        let on = start.checked_add(jiff::Span::new().days(199)).unwrap();
        assert_eq!(on, date(2026, 9, 16));
        assert_eq!(unused_credit(Amount(360_000), start, end, on), Amount(163_726));
        assert_eq!(unused_credit(Amount(360_000), start, end, start), Amount(360_000));
        assert_eq!(unused_credit(Amount(360_000), start, end, end), Amount(0));
        assert_eq!(unused_credit(Amount(360_000), start, end, date(2030, 1, 1)), Amount(0));
    }

    proptest! {
        /// The credit never exceeds the price, falls as the term is used, and is the exact
        /// share rounded down: credit × term ≤ price × unused < (credit + 1) × term.
        #[test]
        fn the_credit_is_the_unused_share_rounded_down(price in 0i64..10_000_000_000, days in 0i32..400, leap in proptest::bool::ANY) {
            let start = if leap { date(2027, 6, 1) } else { date(2026, 6, 1) };
            let end = start.checked_add(jiff::Span::new().years(1)).unwrap();
            let on = start.checked_add(jiff::Span::new().days(days)).unwrap();
            let credit = unused_credit(Amount(price), start, end, on).minor();
            let term = i128::from((end - start).get_days());
            let unused = i128::from((end - on.min(end)).get_days());
            prop_assert!(credit <= price);
            prop_assert!(i128::from(credit) * term <= i128::from(price) * unused);
            prop_assert!(i128::from(price) * unused < (i128::from(credit) + 1) * term);
            let next = unused_credit(Amount(price), start, end, on.tomorrow().unwrap()).minor();
            prop_assert!(next <= credit);
        }
    }
}
