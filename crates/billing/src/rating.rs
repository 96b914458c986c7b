//! Rating: a day's aggregated usage becomes exact line amounts, after the free quota and an
//! annual package's quota. Late usage is rated as the difference it makes to what was billed.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::civil::Date;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::catalog::{CatalogError, DayPrices, DayRate, Dims, PackagePlan, Price, PriceModel, RateId};
use crate::invoice::ChargeType;
use crate::money::{Amount, Currency, EXACT_SCALE, QUANTITY_SCALE, Quantity, Rounded, RoundingDiscount, is_non_negative, pow10, pow10_u64};
use crate::pack::{PackDraw, PackPool};

/// `quantity / unit_size`, kept to two decimals and truncated (never rounded up).
pub fn units(quantity: Decimal, unit_size: Decimal) -> Decimal {
    assert!(!unit_size.is_zero() && unit_size.is_sign_positive() && is_non_negative(quantity));
    // Exactly, on the mantissas: (mq / 10^sq) / (mu / 10^su) × 100, floored: in 64 bits where
    // that fits (a line's quantity and unit size almost always), else in 128; decimal division
    // is the fallback only where that overflows i128.
    if let Some(hundredths) = hundredths_u64(quantity, unit_size) {
        return crate::money::decimal_from_u64(hundredths, 2);
    }
    let scaled = |m: i128, by: u32| if by > 38 { None } else { m.checked_mul(pow10(by)) };
    let numerator = scaled(quantity.mantissa(), unit_size.scale() + 2);
    let denominator = scaled(unit_size.mantissa(), quantity.scale());
    let exact = match (numerator, denominator) {
        (Some(n), Some(d)) => Decimal::try_from_i128_with_scale(crate::money::quotient(n, d), 2).ok(),
        _ => None,
    };
    exact.unwrap_or_else(|| (quantity / unit_size).round_dp_with_strategy(2, RoundingStrategy::ToZero))
}

/// `units(quantity, unit_size)` in hundredths, on the mantissas in 64 bits: (mq / 10^sq) /
/// (mu / 10^su) × 100 = mq × 10^(su + 2) / (mu × 10^sq), truncated; `None` where a step does
/// not fit 64 bits (or a mantissa is negative).
fn hundredths_u64(quantity: Decimal, unit_size: Decimal) -> Option<u64> {
    let (mq, mu) = (u64::try_from(quantity.mantissa()).ok()?, u64::try_from(unit_size.mantissa()).ok()?);
    let numerator = mq.checked_mul(pow10_u64(unit_size.scale() + 2)?)?;
    let denominator = mu.checked_mul(pow10_u64(quantity.scale())?)?;
    assert!(denominator > 0, "unit sizes are positive");
    Some(numerator / denominator)
}

impl Price {
    /// The exact amount for a day's quantity of one line (free quota first, then the model).
    pub fn amount(&self, quantity: Decimal, unit_size: Decimal) -> Decimal {
        if quantity.is_zero() {
            return Decimal::ZERO;
        }
        let billable = if self.free_quantity.is_zero() { quantity } else { (quantity - self.free_quantity).max(Decimal::ZERO) };
        self.model.amount(units(billable, unit_size))
    }

    /// The line amount for a day's quantity billed the first time, rounded by the rounding
    /// contract: `round_line(currency, self.amount(quantity, unit_size))`, computed by the
    /// price's `UnitRate` where it has one and everything fits 64 bits (nearly every line),
    /// with no decimal built on the way.
    pub fn rounded(&self, quantity: Decimal, unit_size: Decimal, currency: Currency) -> Rounded {
        match Quantity::from_decimal(quantity) {
            Some(q) => self.rounded_by(self.unit_rate(unit_size, currency), q, unit_size, currency),
            None => round_line(currency, self.amount(quantity, unit_size)),
        }
    }

    /// `rounded` of a quantity, given the price's `unit_rate` for the unit size and currency
    /// (made once for many lines).
    #[inline]
    pub fn rounded_by(&self, unit_rate: Option<UnitRate>, quantity: Quantity, unit_size: Decimal, currency: Currency) -> Rounded {
        match unit_rate.and_then(|rate| rate.rounded(quantity)) {
            Some(rounded) => rounded,
            None => round_line(currency, self.amount(quantity.to_decimal(), unit_size)),
        }
    }

    /// The price as integers for an item's unit size and a currency, where the model is per
    /// unit, there is no free quantity, and the amount's decimals (hundredths of units × the
    /// unit price's) are at least the currency's and at most `EXACT_SCALE`.
    pub fn unit_rate(&self, unit_size: Decimal, currency: Currency) -> Option<UnitRate> {
        let PriceModel::PerUnit { unit_price } = &self.model else { return None };
        if !self.free_quantity.is_zero() {
            return None;
        }
        let scale = 2 + unit_price.scale();
        // Negative mantissas do not convert: those take the general path and its checks.
        let unit = u64::try_from(unit_size.mantissa()).ok().filter(|&u| u > 0)?;
        Some(UnitRate {
            hundredths: pow10_u64(unit_size.scale() + 2)?,
            unit: unit.checked_mul(pow10_u64(QUANTITY_SCALE)?)?,
            price: u64::try_from(unit_price.mantissa()).ok()?,
            minor: pow10_u64(scale.checked_sub(currency.exponent())?)?,
            discount: pow10_u64(EXACT_SCALE.checked_sub(scale)?)?,
        })
    }

    /// The unit price a customer reads on a line, where the model has a single one.
    pub fn unit_price(&self) -> Option<Decimal> {
        match &self.model {
            PriceModel::PerUnit { unit_price } => Some(*unit_price),
            _ => None,
        }
    }
}

impl PriceModel {
    /// The exact amount for a count of units.
    pub fn amount(&self, units: Decimal) -> Decimal {
        assert!(is_non_negative(units));
        if units.is_zero() {
            return Decimal::ZERO;
        }
        match self {
            PriceModel::PerUnit { unit_price } => crate::money::product(units, *unit_price),
            PriceModel::Graduated { tiers } => {
                let mut total = Decimal::ZERO;
                let mut lower = Decimal::ZERO;
                for tier in tiers {
                    let upper = tier.up_to.map_or(units, |u| u.min(units));
                    if upper > lower {
                        total += (upper - lower) * tier.unit_price + tier.flat_fee;
                    }
                    match tier.up_to {
                        Some(u) if u < units => lower = u,
                        _ => break,
                    }
                }
                total
            }
            PriceModel::Volume { tiers } => {
                let tier = tiers.iter().find(|t| t.up_to.is_none_or(|u| units <= u)).expect("validated: the last tier is open");
                units * tier.unit_price + tier.flat_fee
            }
            PriceModel::Package { block_units, block_price } => (units / block_units).ceil() * block_price,
        }
    }
}

/// A per-unit price without free quantity as integers, for one unit size and currency
/// (`Price::unit_rate`; a day's prices keep one with each rate): a quantity's line amount is
/// then a multiplication and a division to hundredths of units, a multiplication by the
/// price and one division to minor units and the cut-off fraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnitRate {
    /// 10^(the unit size's scale + 2): units are counted in hundredths.
    hundredths: u64,
    /// The unit size's mantissa × 10^`QUANTITY_SCALE`: (q / 10^6) / (mantissa / 10^scale)
    /// × 100 = q × `hundredths` / `unit`.
    unit: u64,
    /// The unit price's mantissa: hundredths of units times it is the amount at `scale`
    /// (2 + the price's scale) decimals.
    price: u64,
    /// 10^(scale − the currency's exponent): the amount's minor units and cut-off.
    minor: u64,
    /// 10^(`EXACT_SCALE` − scale): the cut-off as a rounding discount.
    discount: u64,
}

impl UnitRate {
    /// `Price::rounded` of a quantity: `None` where the quantity is negative or a step does
    /// not fit 64 bits (the caller then takes the general path).
    #[inline]
    pub fn rounded(&self, quantity: Quantity) -> Option<Rounded> {
        let q = u64::try_from(quantity.0).ok()?;
        // Units, truncated to hundredths, times the price.
        let amount = (q.checked_mul(self.hundredths)? / self.unit).checked_mul(self.price)?;
        let minor = i64::try_from(amount / self.minor).ok()?;
        // The cut-off is below 10^(scale − exponent), so at EXACT_SCALE below 10^(8 − exponent).
        let discount = i64::try_from(amount % self.minor * self.discount).ok()?;
        Some(Rounded { amount: Amount(minor), rounding_discount: RoundingDiscount(discount) })
    }
}

/// What was billed for one usage key of one day, so late usage can be rated as a difference.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Billed {
    /// The aggregated quantity billed so far.
    pub quantity: Quantity,
    /// Counted quantity (after the package's factor) covered by the package quota.
    pub covered: Quantity,
    /// The quantity priced, at the priced dimensions.
    pub chargeable: Quantity,
}

/// What a day's usage and its expense line are kept by: workspace × billable item ×
/// dimensions. Ordered in that order, which is also the order lines are paid in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UsageKey {
    pub workspace: Arc<str>,
    pub item: Arc<str>,
    pub dims: Dims,
}

impl Ord for UsageKey {
    fn cmp(&self, other: &Self) -> Ordering {
        // Loaders share the text of a workspace or item between keys: equal pointers are
        // equal text, without reading it.
        let text = crate::catalog::shared_text_order;
        text(&self.workspace, &other.workspace).then_with(|| text(&self.item, &other.item)).then_with(|| self.dims.cmp(&other.dims))
    }
}

impl PartialOrd for UsageKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One key of a day's usage with the current aggregate and what was already billed of it
/// (`None` when the day was never billed). The line it rates to refers to its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyUsage {
    pub key: Arc<UsageKey>,
    pub quantity: Quantity,
    /// Boxed: late usage is rare, and every key of a day is read by rating.
    pub billed: Option<Box<Billed>>,
    /// The key's rate, where the day's prices that rate it made the key (`DayPrices::resolve`).
    pub rate: Option<RateId>,
}

impl KeyUsage {
    /// A key's usage, its rate resolved by the day's prices that will rate it.
    pub fn new(prices: &DayPrices<'_>, key: Arc<UsageKey>, quantity: Quantity, billed: Option<Billed>) -> KeyUsage {
        let rate = prices.resolve(&key);
        KeyUsage { key, quantity, billed: billed.map(Box::new), rate }
    }
}

/// A rated expense line before deduction, of a key of the usage it was rated from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RatedLine<'k> {
    pub key: &'k UsageKey,
    /// The billing day the line is dated on (and judged by for instrument validity): the
    /// usage day, or for a correction of an already invoiced month the day it is rated.
    pub billing_day: Date,
    /// The day the usage belongs to (the day `rate_day` priced).
    pub usage_day: Date,
    /// Pay-as-you-go for a day billed the first time, an adjustment for late usage.
    pub charge_type: ChargeType,
    /// Whether coupons may pay the line (from the item).
    pub coupon_eligible: bool,
    /// The quantity this line bills (the whole day, or the late difference).
    pub quantity: Quantity,
    /// Part of `quantity`, as counted against the package quota, that the package covered.
    pub covered: Quantity,
    /// The quantity priced, at `priced_dims()`.
    pub chargeable: Quantity,
    /// The dimensions priced at when they are not the key's own (usage counted at a factor
    /// above 1 is priced at the package's base dimension).
    pub priced_base: Option<&'k Dims>,
    pub unit_price: Option<Decimal>,
    /// The exact amount, rounded down to the minor unit (`Rounded::exact` gives it back).
    pub rounded: Rounded,
    /// What resource packs gave a `resource_pack` line (empty on every other line).
    pub pack_draws: Vec<PackDraw>,
}

impl RatedLine<'_> {
    /// The dimensions the line was priced at.
    pub fn priced_dims(&self) -> &Dims {
        self.priced_base.unwrap_or(&self.key.dims)
    }
}

/// Rates one billing day's keys for one account at the day's prices (`Catalog::on`). `keys`
/// are sorted by (workspace, item, dims), which is also the package fill order; `quota_used`
/// is the quota of that day already consumed by earlier billing of the day (empty for a day
/// billed the first time). What the package leaves is covered by `packs` where they can
/// (each such key gets a `resource_pack` line after its own, of the quantity covered and no
/// amount), and the rest is priced.
pub fn rate_day<'k>(
    prices: &DayPrices<'_>,
    package: Option<&'k PackagePlan>,
    quota_used: &BTreeMap<String, Quantity>,
    packs: &mut PackPool,
    keys: &'k [KeyUsage],
) -> Result<Vec<RatedLine<'k>>, CatalogError> {
    let mut lines = Vec::with_capacity(keys.len());
    rate_day_into(prices, package, quota_used, packs, keys, &mut lines)?;
    Ok(lines)
}

/// `rate_day`, appending the lines to `lines` (a buffer kept between days, for callers that
/// rate many). On an error, `lines` may hold some of the day's lines.
pub fn rate_day_into<'k>(
    prices: &DayPrices<'_>,
    package: Option<&'k PackagePlan>,
    quota_used: &BTreeMap<String, Quantity>,
    packs: &mut PackPool,
    keys: &'k [KeyUsage],
    lines: &mut Vec<RatedLine<'k>>,
) -> Result<(), CatalogError> {
    // The order is the package's fill order and the order the lines are paid in. It is
    // checked here where a package fills (its quotas read the keys anyway) and in debug
    // builds; loaders check it where they make the keys (the nightly run) or make them in
    // order (the bench's image). A check here reads every key's texts, which rating a
    // resolved key never does: it cost the bench's engine a quarter of its time.
    if package.is_some() || cfg!(debug_assertions) {
        assert!(keys.windows(2).all(|w| w[0].key < w[1].key), "usage keys must be sorted and distinct");
    }
    let mut remaining: BTreeMap<&str, Quantity> = BTreeMap::new();
    if let Some(plan) = package {
        for (item, quota) in &plan.quotas {
            let used = quota_used.get(item).copied().unwrap_or_default();
            remaining.insert(item.as_str(), (quota.daily() - used).max(Quantity::ZERO));
        }
    }
    let (currency, day) = (prices.catalog.currency, prices.day);
    lines.reserve(keys.len());
    for usage in keys {
        let key: &'k UsageKey = &usage.key;
        // The usage not billed yet (all of it on a day billed the first time).
        let billed = usage.billed.as_deref().copied();
        let delta = match billed {
            None => usage.quantity,
            Some(before) => usage.quantity - before.quantity,
        };
        if !delta.is_positive() {
            continue;
        }
        let quota = package.and_then(|p| p.quotas.get(&*key.item));
        let (covered, chargeable_delta, priced_base) = match quota.and_then(|q| q.factor(&key.dims).map(|f| (q, f))) {
            Some((quota, factor)) => {
                let left = remaining.get_mut(&*key.item).expect("quota registered above");
                let counted = delta.times(factor);
                let covered = counted.min(*left);
                *left -= covered;
                // Usage counted at a factor above 1 is priced, past the quota, at the package's
                // base dimension; usage counted one-for-one keeps its own price.
                let priced = (factor > 1).then_some(&quota.base);
                (covered, counted - covered, priced)
            }
            None => (Quantity::ZERO, delta, None),
        };
        // Resource packs cover what the package left, before it is priced.
        let mut pack_draws = Vec::new();
        let pack_covered = if packs.is_empty() || !chargeable_delta.is_positive() {
            Quantity::ZERO
        } else {
            packs.cover(&key.item, day, chargeable_delta, &mut pack_draws)
        };
        let chargeable_delta = chargeable_delta - pack_covered;
        let &DayRate { item, price, unit_rate } = match priced_base {
            None => prices.rate(key, usage.rate)?,
            Some(base) => prices.price(&key.item, base)?,
        };
        let rounded = match billed {
            None => price.rounded_by(unit_rate, chargeable_delta, item.unit_size, currency),
            Some(before) => round_line(
                currency,
                price.amount((before.chargeable + chargeable_delta).to_decimal(), item.unit_size)
                    - price.amount(before.chargeable.to_decimal(), item.unit_size),
            ),
        };
        lines.push(RatedLine {
            key,
            billing_day: day,
            usage_day: day,
            charge_type: if billed.is_none() { ChargeType::PayAsYouGo } else { ChargeType::Adjustment },
            coupon_eligible: item.coupon_eligible,
            quantity: delta,
            covered,
            chargeable: chargeable_delta,
            priced_base,
            unit_price: price.unit_price(),
            rounded,
            pack_draws: Vec::new(),
        });
        if pack_covered.is_positive() {
            lines.push(RatedLine {
                key,
                billing_day: day,
                usage_day: day,
                charge_type: ChargeType::ResourcePack,
                coupon_eligible: item.coupon_eligible,
                // The quantity the packs covered; nothing of it is the package's or priced.
                quantity: pack_covered,
                covered: Quantity::ZERO,
                chargeable: Quantity::ZERO,
                priced_base,
                unit_price: None,
                rounded: Rounded { amount: Amount::ZERO, rounding_discount: RoundingDiscount::default() },
                pack_draws,
            });
        }
    }
    Ok(())
}

/// The rounding contract for a line: down to the minor unit. A negative line (a late-usage
/// credit under volume or package pricing) rounds toward zero, so a credit never exceeds
/// its exact value either.
pub fn round_line(currency: Currency, exact: Decimal) -> Rounded {
    if is_non_negative(exact) {
        currency.round_down(exact)
    } else {
        let r = currency.round_down(-exact);
        Rounded { amount: -r.amount, rounding_discount: -r.rounding_discount }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Tier;
    use crate::money::Amount;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn tiers(spec: &[(Option<&str>, &str, &str)]) -> Vec<Tier> {
        spec.iter().map(|(up, price, flat)| Tier { up_to: up.map(d), unit_price: d(price), flat_fee: d(flat) }).collect()
    }

    /// Worked examples of graduated pricing: tiers [0-10 at 10 + 2; 11-20 at 5 + 3; 21+ at 5 + 3].
    #[test]
    fn graduated_worked_example() {
        let model = PriceModel::Graduated { tiers: tiers(&[(Some("10"), "10", "2"), (Some("20"), "5", "3"), (None, "5", "3")]) };
        for (units, expected) in [("0", "0"), ("1", "12"), ("10", "102"), ("11", "110"), ("12", "115"), ("21", "163")] {
            assert_eq!(model.amount(d(units)), d(expected), "{units} units");
        }
    }

    /// Worked examples of volume pricing: tiers [0-100 at 2 + 10; 101-200 at 1; 201+ at 0.5 + 50].
    #[test]
    fn volume_worked_example() {
        let model = PriceModel::Volume { tiers: tiers(&[(Some("100"), "2", "10"), (Some("200"), "1", "0"), (None, "0.5", "50")]) };
        for (units, expected) in [("0", "0"), ("1", "12"), ("100", "210"), ("101", "101"), ("300", "200")] {
            assert_eq!(model.amount(d(units)), d(expected), "{units} units");
        }
    }

    #[test]
    fn package_model_charges_started_blocks() {
        let model = PriceModel::Package { block_units: d("100"), block_price: d("5") };
        assert_eq!(model.amount(d("1")), d("5"));
        assert_eq!(model.amount(d("100")), d("5"));
        assert_eq!(model.amount(d("100.01")), d("10"));
    }

    #[test]
    fn units_are_truncated_to_two_decimals() {
        assert_eq!(units(d("1999999"), d("1000000")), d("1.99"));
        assert_eq!(units(d("6000"), d("1000")), d("6"));
        assert_eq!(units(d("1"), d("3")), d("0.33"));
    }

    /// The integer path of `units` agrees with decimal division wherever both apply.
    #[test]
    fn units_agree_with_decimal_division() {
        for (q, u) in [("0", "1"), ("123456.789012", "1000"), ("999999.999999", "0.3"), ("7", "0.001"), ("1e20", "7"), ("5.5", "2.5")] {
            let (q, u) = (q.parse::<Decimal>().unwrap_or_else(|_| Decimal::from_scientific(q).unwrap()), d(u));
            assert_eq!(units(q, u), (q / u).round_dp_with_strategy(2, RoundingStrategy::ToZero), "{q} / {u}");
        }
        assert_eq!(units(Decimal::MAX, d("1")), Decimal::MAX.round_dp_with_strategy(2, RoundingStrategy::ToZero));
    }

    /// Keys order by workspace, item, dimensions, whether or not they share their text.
    #[test]
    fn usage_keys_order_by_text_not_by_sharing() {
        let key = |ws: &str, item: &str| UsageKey { workspace: ws.into(), item: item.into(), dims: Dims::none() };
        let (a, b) = (key("w1", "log_events"), key("w1", "sms"));
        let shared = UsageKey { workspace: a.workspace.clone(), ..b.clone() };
        assert_eq!(a.cmp(&b), Ordering::Less);
        assert_eq!(shared.cmp(&a), Ordering::Greater);
        assert_eq!(UsageKey { workspace: a.workspace.clone(), ..key("w1", "log_events") }.cmp(&a), Ordering::Equal);
        assert_eq!(key("w2", "a").cmp(&key("w10", "z")), "w2".cmp("w10"));
    }

    /// Keys made by the day's prices share its texts and rate as keys with texts of their
    /// own; text the day does not price is copied, and rating refuses it as before.
    #[test]
    fn keys_sharing_the_days_texts_rate_as_their_own() {
        use crate::catalog::{Aggregation, BillableItem, Catalog, PriceVersion};
        let per_unit = |p: &str| Price { model: PriceModel::PerUnit { unit_price: d(p) }, free_quantity: Decimal::ZERO };
        let item = |code: &str, dimension: Option<(String, BTreeMap<String, Dims>)>| BillableItem {
            code: code.to_owned(),
            name: code.to_owned(),
            unit: "GB".to_owned(),
            unit_size: Decimal::ONE,
            aggregation: Aggregation::Sum,
            dimension,
            coupon_eligible: true,
        };
        let (seven, thirty) = (Dims::from_pairs([("retention_days", "7")]), Dims::from_pairs([("retention_days", "30")]));
        let values = BTreeMap::from([("7".to_owned(), seven.clone()), ("30".to_owned(), thirty.clone())]);
        let from = jiff::civil::date(2026, 1, 1);
        let catalog = Catalog {
            currency: Currency::parse("CNY").unwrap(),
            items: BTreeMap::from([
                ("logs".to_owned(), item("logs", Some(("retention_days".to_owned(), values)))),
                ("sms".to_owned(), item("sms", None)),
            ]),
            prices: BTreeMap::from([
                (
                    "logs".to_owned(),
                    vec![PriceVersion { effective_from: from, rates: BTreeMap::from([(seven, per_unit("0.5")), (thirty, per_unit("2"))]) }],
                ),
                ("sms".to_owned(), vec![PriceVersion { effective_from: from, rates: BTreeMap::from([(Dims::none(), per_unit("0.045"))]) }]),
            ]),
            packages: BTreeMap::new(),
            packs: BTreeMap::new(),
        };
        let prices = catalog.on(jiff::civil::date(2026, 11, 2));
        let ws: Arc<str> = "w1".into();
        let usage = |key: UsageKey, q: &str| KeyUsage {
            key: Arc::new(key),
            quantity: Quantity::from_decimal(d(q)).unwrap(),
            billed: None,
            rate: None,
        };
        let own = |item: &str, dims: &str| UsageKey { workspace: ws.clone(), item: item.into(), dims: Dims::from_canonical(dims) };
        let (a, b) = (prices.usage_key(ws.clone(), "logs", "retention_days=30"), prices.usage_key(ws.clone(), "logs", "retention_days=30"));
        assert!(Arc::ptr_eq(&a.item, &b.item) && std::ptr::eq(a.dims.as_str(), b.dims.as_str()), "one day's keys share its texts");
        // A text that starts where the day's own does is not it unless it is as long.
        assert!(matches!(prices.price(&a.item[..2], &a.dims), Err(CatalogError::UnknownItem(code)) if code == "lo"));
        let seven_shared = prices.usage_key(ws.clone(), "logs", "retention_days=7").dims;
        let copied = Dims::from_canonical(seven_shared.as_str());
        assert_eq!(prices.price(&a.item, &copied).unwrap().price, prices.price(&a.item, &seven_shared).unwrap().price);
        let shared = vec![usage(a, "3"), usage(prices.usage_key(ws.clone(), "sms", ""), "10")];
        let copied = vec![usage(own("logs", "retention_days=30"), "3"), usage(own("sms", ""), "10")];
        let amounts = |keys: &[KeyUsage]| {
            rate_day(&prices, None, &BTreeMap::new(), &mut PackPool::default(), keys)
                .unwrap()
                .iter()
                .map(|l| l.rounded.exact(catalog.currency))
                .collect::<Vec<_>>()
        };
        assert_eq!(amounts(&shared), vec![d("6"), d("0.45")]);
        assert_eq!(amounts(&shared), amounts(&copied));
        let unknown = prices.usage_key(ws.clone(), "logs", "retention_days=90");
        assert_eq!(unknown.dims.as_str(), "retention_days=90");
        assert!(matches!(
            rate_day(&prices, None, &BTreeMap::new(), &mut PackPool::default(), &[usage(unknown, "1")]),
            Err(CatalogError::NoRate { .. })
        ));
        let stranger = prices.usage_key(ws, "gpu", "");
        assert_eq!(&*stranger.item, "gpu");
        assert!(matches!(
            rate_day(&prices, None, &BTreeMap::new(), &mut PackPool::default(), &[usage(stranger, "1")]),
            Err(CatalogError::UnknownItem(_))
        ));
    }

    /// A key keeps the rate the day's prices resolved when they made it, and rates as a key
    /// looked up by its texts; prices of another day (or another copy of the same day) do not
    /// take that rate for theirs and look the key up instead.
    #[test]
    fn resolved_rates_belong_to_the_prices_that_resolved_them() {
        use crate::catalog::{Aggregation, BillableItem, Catalog, PriceVersion};
        let per_unit = |p: &str| Price { model: PriceModel::PerUnit { unit_price: d(p) }, free_quantity: Decimal::ZERO };
        let item = BillableItem {
            code: "sms".to_owned(),
            name: "SMS".to_owned(),
            unit: "message".to_owned(),
            unit_size: Decimal::ONE,
            aggregation: Aggregation::Sum,
            dimension: None,
            coupon_eligible: false,
        };
        let version =
            |day: Date, price: &str| PriceVersion { effective_from: day, rates: BTreeMap::from([(Dims::none(), per_unit(price))]) };
        let (november, december) = (jiff::civil::date(2026, 11, 1), jiff::civil::date(2026, 12, 1));
        let catalog = Catalog {
            currency: Currency::parse("CNY").unwrap(),
            items: BTreeMap::from([("sms".to_owned(), item)]),
            prices: BTreeMap::from([("sms".to_owned(), vec![version(november, "0.05"), version(december, "0.04")])]),
            packages: BTreeMap::new(),
            packs: BTreeMap::new(),
        };
        let (nov, dec, nov_again) = (catalog.on(november), catalog.on(december), catalog.on(november));
        let key = Arc::new(nov.usage_key("w1".into(), "sms", ""));
        let resolved = KeyUsage::new(&nov, key.clone(), Quantity(10_000_000), None);
        assert!(resolved.rate.is_some(), "the day's own texts resolve");
        let looked_up = KeyUsage { rate: None, ..resolved.clone() };
        let amount = |prices: &DayPrices<'_>, keys: &[KeyUsage]| {
            rate_day(prices, None, &BTreeMap::new(), &mut PackPool::default(), keys).unwrap()[0].rounded.amount
        };
        assert_eq!(amount(&nov, std::slice::from_ref(&resolved)), amount(&nov, std::slice::from_ref(&looked_up)));
        assert_eq!(amount(&nov, std::slice::from_ref(&resolved)), Amount(50));
        // December's prices rate November's resolved key at December's price.
        assert_eq!(amount(&dec, std::slice::from_ref(&resolved)), Amount(40));
        assert_eq!(dec.resolve(&key), None, "a key of another day's texts is not resolved");
        assert_eq!(amount(&nov_again, std::slice::from_ref(&resolved)), Amount(50));
        let copied = UsageKey { workspace: key.workspace.clone(), item: "sms".into(), dims: Dims::none() };
        assert_eq!(nov.resolve(&copied), None, "a key with texts of its own is looked up");
    }

    #[test]
    fn free_quantity_comes_off_first() {
        let price = Price { model: PriceModel::PerUnit { unit_price: d("1") }, free_quantity: d("5000") };
        assert_eq!(price.amount(d("4000"), d("1000")), d("0"));
        assert_eq!(price.amount(d("7500"), d("1000")), d("2.5"));
    }
}
