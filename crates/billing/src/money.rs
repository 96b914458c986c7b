//! Money: settled amounts are integers of the currency's minor unit; exact intermediate
//! amounts are `Decimal`s. The rounding contract lives here and nowhere else.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

/// Sub-minor amounts (rounding discounts) are kept at this many decimals of the major unit.
/// Prices carry at most [`PRICE_MAX_DECIMALS`] decimals and unit counts two, so every exact
/// line amount fits this scale without loss.
pub const EXACT_SCALE: u32 = 8;
/// The most decimals a price (unit price, flat fee, block price) may carry.
pub const PRICE_MAX_DECIMALS: u32 = 6;
/// Quantities (usage, package quotas, what a line bills) are integers at this many decimals
/// of the item's unit.
pub const QUANTITY_SCALE: u32 = 6;

/// Zero, signs and checked arithmetic for an integer newtype of money or quantity (an
/// overflow is a broken invariant: every input is bounded well inside i64, never a wrapped
/// value); with `at scale`, its exact decimal at that fixed scale too. `min` and `max` are
/// `Ord`'s.
macro_rules! integer_ops {
    ($t:ident, $overflow:literal, at scale $scale:ident) => {
        integer_ops!($t, $overflow);

        impl $t {
            /// The exact decimal, normalized (no trailing zeros).
            pub fn to_decimal(self) -> Decimal {
                from_scaled(self.0, $scale)
            }

            /// A decimal with at most the scale's decimals that fits, else `None`.
            pub fn from_decimal(value: Decimal) -> Option<$t> {
                to_scaled(value, $scale).map($t)
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.to_decimal().fmt(f)
            }
        }
    };
    ($t:ident, $overflow:literal) => {
        impl $t {
            pub const ZERO: $t = $t(0);

            pub fn is_zero(self) -> bool {
                self.0 == 0
            }
            pub fn is_positive(self) -> bool {
                self.0 > 0
            }
            pub fn is_negative(self) -> bool {
                self.0 < 0
            }
        }

        impl std::ops::Add for $t {
            type Output = $t;
            fn add(self, rhs: $t) -> $t {
                $t(self.0.checked_add(rhs.0).expect($overflow))
            }
        }
        impl std::ops::Sub for $t {
            type Output = $t;
            fn sub(self, rhs: $t) -> $t {
                $t(self.0.checked_sub(rhs.0).expect($overflow))
            }
        }
        impl std::ops::Neg for $t {
            type Output = $t;
            fn neg(self) -> $t {
                $t(self.0.checked_neg().expect($overflow))
            }
        }
        impl std::ops::AddAssign for $t {
            fn add_assign(&mut self, rhs: $t) {
                *self = *self + rhs;
            }
        }
        impl std::ops::SubAssign for $t {
            fn sub_assign(&mut self, rhs: $t) {
                *self = *self - rhs;
            }
        }
        impl std::iter::Sum for $t {
            fn sum<I: Iterator<Item = $t>>(iter: I) -> $t {
                iter.fold($t(0), |a, b| a + b)
            }
        }
    };
}

/// The account currency: an ISO 4217 code and the number of decimals of its minor unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Currency {
    code: iso_currency::Currency,
    exponent: u32,
}

impl Currency {
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        let iso = iso_currency::Currency::from_code(code).ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))?;
        let exponent = iso.exponent().ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))?;
        Ok(Currency { code: iso, exponent: u32::from(exponent) })
    }

    pub fn code(&self) -> &'static str {
        self.code.code()
    }

    /// Decimals of the minor unit (2 for CNY, 0 for JPY).
    pub fn exponent(&self) -> u32 {
        self.exponent
    }

    /// Parses a decimal string such as `100.00` into minor units. More decimals than the
    /// currency has is an error, never a silent rounding.
    pub fn parse_amount(&self, text: &str) -> Result<Amount, MoneyError> {
        let text = text.trim();
        let value = plain_decimal(text).ok_or_else(|| MoneyError::Malformed(text.to_owned()))?;
        if value.scale() > self.exponent && value.normalize().scale() > self.exponent {
            return Err(MoneyError::TooManyDecimals { text: text.to_owned(), currency: self.code(), decimals: self.exponent });
        }
        let minor = value * Decimal::from(10i64.pow(self.exponent));
        let minor = i64::try_from(minor.normalize()).map_err(|_| MoneyError::OutOfRange(text.to_owned()))?;
        if minor.unsigned_abs() > Amount::MAX.0 as u64 {
            return Err(MoneyError::OutOfRange(text.to_owned()));
        }
        Ok(Amount(minor))
    }

    /// An amount as a decimal string with exactly the currency's digits.
    pub fn format(&self, amount: Amount) -> String {
        self.to_decimal(amount).to_string()
    }

    pub fn to_decimal(&self, amount: Amount) -> Decimal {
        Decimal::new(amount.0, self.exponent)
    }

    /// The rounding contract (SPEC 4.3): an exact, non-negative line amount is rounded down to
    /// the minor unit; the cut-off fraction is returned as the rounding discount.
    pub fn round_down(&self, exact: Decimal) -> Rounded {
        assert!(is_non_negative(exact), "exact line amounts are never negative: {exact}");
        let (m, s) = (exact.mantissa(), exact.scale());
        // exact = m / 10^s, so the minor units are m / 10^(s - e) truncated, and the
        // remainder is the cut-off fraction at scale s.
        let (minor, cut, cut_scale) = if s <= self.exponent {
            (m * pow10(self.exponent - s), 0, 0)
        } else if let (Ok(m), Some(divisor)) = (u64::try_from(m), pow10_u64(s - self.exponent)) {
            // A line's amount nearly always: one 64-bit division gives both parts.
            (i128::from(m / divisor), i128::from(m % divisor), s)
        } else {
            let divisor = pow10(s - self.exponent);
            let minor = quotient(m, divisor);
            (minor, m - minor * divisor, s)
        };
        let minor = i64::try_from(minor).expect("line amount within i64 minor units");
        let rounding_discount = RoundingDiscount::of_cut(cut, cut_scale)
            .unwrap_or_else(|| panic!("the rounding discount of {m}e-{s} keeps more than {EXACT_SCALE} decimals"));
        Rounded { amount: Amount(minor), rounding_discount }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A settled amount in minor units of the account currency. Negative only where a balance may
/// be negative (cash in arrears) or for the operator's side of a ledger transaction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(pub i64);

impl Amount {
    /// The largest amount billcenter accepts anywhere (10^15 minor units); sums of many such
    /// amounts still fit an i64.
    pub const MAX: Amount = Amount(1_000_000_000_000_000);

    pub fn minor(self) -> i64 {
        self.0
    }
}

integer_ops!(Amount, "amount overflow");

/// A quantity of a billable item's unit: an integer count of 10^-[`QUANTITY_SCALE`] units,
/// as usage is recorded, aggregated and stored. Never negative where it is usage; the
/// difference late usage makes is taken only where it is positive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(pub i64);

impl Quantity {
    /// The quantity counted `factor` times (a package's retention factor).
    pub fn times(self, factor: u32) -> Quantity {
        Quantity(self.0.checked_mul(i64::from(factor)).expect("a counted quantity fits i64 at six decimals"))
    }
}

integer_ops!(Quantity, "quantity overflow", at scale QUANTITY_SCALE);

/// A line amount after the rounding contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rounded {
    pub amount: Amount,
    pub rounding_discount: RoundingDiscount,
}

impl Rounded {
    /// The exact amount that was rounded: the minor units plus the cut-off fraction.
    pub fn exact(&self, currency: Currency) -> Decimal {
        currency.to_decimal(self.amount) + self.rounding_discount.to_decimal()
    }
}

/// The fraction of a minor unit a line's exact amount gave up to the rounding contract, as
/// an integer count of 10^-[`EXACT_SCALE`] of the currency's major unit (every exact line
/// amount fits that scale; storage keeps it so too). Negative for a credit's line, which
/// rounds toward zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoundingDiscount(pub i64);

impl RoundingDiscount {
    /// The cut-off `cut / 10^scale` of a major unit, or `None` when it needs more than
    /// [`EXACT_SCALE`] decimals (or does not fit).
    pub(crate) fn of_cut(cut: i128, scale: u32) -> Option<RoundingDiscount> {
        let at_exact_scale = if scale <= EXACT_SCALE {
            cut.checked_mul(pow10(EXACT_SCALE - scale))?
        } else {
            let divisor = *POW10.get((scale - EXACT_SCALE) as usize)?;
            if cut % divisor != 0 {
                return None;
            }
            cut / divisor
        };
        i64::try_from(at_exact_scale).ok().map(RoundingDiscount)
    }
}

integer_ops!(RoundingDiscount, "rounding discount overflow", at scale EXACT_SCALE);

/// `n / d` truncated, for non-negative `n` and positive `d`: in 64 bits where both fit (the
/// common case of a line amount, several times faster than a 128-bit division).
#[inline]
pub(crate) fn quotient(n: i128, d: i128) -> i128 {
    debug_assert!(n >= 0 && d > 0);
    match (u64::try_from(n), u64::try_from(d)) {
        (Ok(n), Ok(d)) => i128::from(n / d),
        _ => n / d,
    }
}

/// A decimal as an integer at a fixed scale, for storage; `None` when it does not fit exactly.
/// On the mantissa (`value` = m / 10^s): m × 10^(scale − s), or m / 10^(s − scale) when
/// that leaves no remainder; the night stores several such integers per line.
/// A decimal written plainly: an optional sign, digits, and optionally a point and more digits
/// (`12`, `-0.50`, `3.`). Exponent forms (`1e3`), spaces inside, `_` separators and anything
/// else are not amounts or quantities; `None` for them.
pub fn plain_decimal(text: &str) -> Option<Decimal> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = !whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()) && fraction.bytes().all(|b| b.is_ascii_digit());
    if !plain {
        return None;
    }
    Decimal::from_str(text).ok()
}

pub fn to_scaled(value: Decimal, scale: u32) -> Option<i64> {
    if scale > 18 {
        // 10^scale does not fit i64: nothing but zero could, and storage never asks.
        return None;
    }
    let (m, s) = (value.mantissa(), value.scale());
    let scaled = if s <= scale {
        m.checked_mul(pow10(scale - s))?
    } else {
        let divisor = pow10(s - scale);
        if m % divisor != 0 {
            return None;
        }
        m / divisor
    };
    i64::try_from(scaled).ok()
}

/// Whether a decimal is zero or positive, without `Decimal`'s general comparison.
#[inline]
pub(crate) fn is_non_negative(d: Decimal) -> bool {
    d.is_zero() || d.is_sign_positive()
}

/// 10 to the power `exp` as an i128, from a table (exponents up to 28, a decimal's scale
/// range, and beyond up to 38).
#[inline]
pub(crate) fn pow10(exp: u32) -> i128 {
    POW10[exp as usize]
}

const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// 10^exp as a `u64`, where it fits (exp ≤ 19).
#[inline]
pub(crate) fn pow10_u64(exp: u32) -> Option<u64> {
    (exp <= 19).then(|| pow10(exp) as u64)
}

/// A non-negative integer at a scale as a decimal, without a 128-bit detour.
#[inline]
pub(crate) fn decimal_from_u64(value: u64, scale: u32) -> Decimal {
    Decimal::from_parts(value as u32, (value >> 32) as u32, 0, false, scale)
}

/// `a × b` for non-negative decimals, exactly: on the mantissas in 64 bits where the product
/// fits (a line's units times its unit price, nearly always), else by `Decimal`'s product.
#[inline]
pub(crate) fn product(a: Decimal, b: Decimal) -> Decimal {
    debug_assert!(is_non_negative(a) && is_non_negative(b));
    let scale = a.scale() + b.scale();
    if let (Ok(x), Ok(y)) = (u64::try_from(a.mantissa()), u64::try_from(b.mantissa()))
        && scale <= 28
        && let Some(p) = x.checked_mul(y)
    {
        return decimal_from_u64(p, scale);
    }
    a * b
}

/// The inverse of [`to_scaled`].
pub fn from_scaled(value: i64, scale: u32) -> Decimal {
    // Normalized on the integer: trailing zeros come off before the decimal is built (an odd
    // number has none; a whole number, the common case, goes in one step).
    if value & 1 == 1 {
        return Decimal::new(value, scale);
    }
    if let Some(whole) = pow10_u64(scale).and_then(|p| i64::try_from(p).ok()).filter(|p| value % p == 0) {
        return Decimal::new(value / whole, 0);
    }
    let (mut value, mut scale) = (value, scale);
    while scale > 0 && value % 10 == 0 {
        value /= 10;
        scale -= 1;
    }
    Decimal::new(value, scale)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency `{0}`")]
    UnknownCurrency(String),
    #[error("`{0}` is not a decimal amount")]
    Malformed(String),
    #[error("`{text}` has more than {decimals} decimals, the most {currency} allows")]
    TooManyDecimals { text: String, currency: &'static str, decimals: u32 },
    #[error("`{0}` is out of range")]
    OutOfRange(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cny() -> Currency {
        Currency::parse("CNY").unwrap()
    }

    /// `from_scaled` gives the normalized decimal, the same as building and normalizing it.
    #[test]
    fn scaled_integers_read_back_normalized() {
        for (value, scale) in [
            (0, 6),
            (1_500_000, 6),
            (-120, 2),
            (7, 0),
            (123_456_789, 6),
            (i64::MIN, 6),
            (10, 1),
            (5_000_000, 6),
            (-3_000, 3),
            (i64::MAX, 18),
        ] {
            let expected = Decimal::new(value, scale).normalize();
            let got = from_scaled(value, scale);
            assert_eq!((got, got.scale()), (expected, expected.scale()), "{value} at scale {scale}");
        }
    }

    #[test]
    fn powers_of_ten_and_signs() {
        for exp in 0..=38 {
            assert_eq!(pow10(exp), 10i128.pow(exp));
        }
        let negative_zero = -Decimal::ZERO;
        for (d, expected) in [(Decimal::ZERO, true), (negative_zero, true), (Decimal::new(1, 28), true), (Decimal::new(-1, 28), false)] {
            assert_eq!(is_non_negative(d), expected, "{d}");
            assert_eq!(is_non_negative(d), d >= Decimal::ZERO);
        }
    }

    #[test]
    fn parses_and_formats_amounts() {
        let c = cny();
        assert_eq!(c.parse_amount("100.00").unwrap(), Amount(10_000));
        assert_eq!(c.parse_amount("0.1").unwrap(), Amount(10));
        assert_eq!(c.parse_amount("7").unwrap(), Amount(700));
        assert_eq!(c.format(Amount(-1234)), "-12.34");
        assert_eq!(c.format(Amount(5)), "0.05");
        assert!(matches!(c.parse_amount("1.005"), Err(MoneyError::TooManyDecimals { .. })));
        assert!(matches!(c.parse_amount("abc"), Err(MoneyError::Malformed(_))));
        for text in ["1e3", "1E3", "1.5e2", "1_000", "1 000", ".5", "", "-", "0x10", "1.2.3", "١٢"] {
            assert!(matches!(c.parse_amount(text), Err(MoneyError::Malformed(_))), "{text}");
        }
        assert_eq!(c.parse_amount("+12.50"), Ok(Amount(1250)));
        assert_eq!(c.parse_amount("3."), Ok(Amount(300)));
        assert!(c.parse_amount("1e30").is_err());
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(jpy.parse_amount("500").unwrap(), Amount(500));
        assert!(jpy.parse_amount("500.5").is_err());
        assert!(Currency::parse("XYZ").is_err());
    }

    #[test]
    fn rounds_down_and_keeps_the_fraction() {
        let r = cny().round_down(Decimal::new(123_456, 4));
        assert_eq!(r.amount, Amount(1234));
        assert_eq!(r.rounding_discount, RoundingDiscount(560_000));
        assert_eq!(r.rounding_discount.to_decimal().to_string(), "0.0056");
        let r = cny().round_down(Decimal::new(1340, 2));
        assert_eq!(r.amount, Amount(1340));
        assert_eq!(r.rounding_discount, RoundingDiscount::ZERO);
    }

    #[test]
    fn scaled_round_trip() {
        assert_eq!(to_scaled(Decimal::new(15, 1), 6), Some(1_500_000));
        assert_eq!(to_scaled(Decimal::new(1, 7), 6), None);
        assert_eq!(from_scaled(1_500_000, 6), Decimal::new(15, 1));
    }
}
