//! The catalog: billable items, their prices (versioned by effective date, possibly varying by
//! one dimension such as `retention_days`) and annual package plans.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use jiff::civil::Date;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use crate::money::{Amount, Currency, PRICE_MAX_DECIMALS, QUANTITY_SCALE, Quantity};
use crate::rating::{UnitRate, UsageKey};

/// How a day's hourly samples of an item become the day's quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregation {
    /// Events, calls, messages: the day's quantity is the sum of the samples.
    Sum,
    /// Time series, hosts: the day's quantity is the peak sample.
    Max,
}

impl Aggregation {
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregation::Sum => "sum",
            Aggregation::Max => "max",
        }
    }
    /// Folds one more sample into a running daily aggregate. Quantities are integers at a
    /// fixed scale (six decimals in storage), so the fold is exact.
    #[inline]
    pub fn fold(self, running: i64, sample: i64) -> i64 {
        match self {
            Aggregation::Sum => running.checked_add(sample).expect("a day's quantity fits i64 at six decimals"),
            Aggregation::Max => running.max(sample),
        }
    }
}

/// The dimension values of a usage record or expense line in canonical form:
/// `key=value` pairs sorted by key and joined by `;`, empty when the item has none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Dims(Arc<str>);

/// Text order, quick where it can be: shared text is equal without a look, and a differing
/// first byte decides without a call to `memcmp`.
pub(crate) fn shared_text_order(a: &Arc<str>, b: &Arc<str>) -> Ordering {
    if Arc::ptr_eq(a, b) {
        return Ordering::Equal;
    }
    match (a.as_bytes().first(), b.as_bytes().first()) {
        (Some(x), Some(y)) if x != y => x.cmp(y),
        _ => a.cmp(b),
    }
}

/// Text equality, without a look at the bytes where the texts are one (a key's dimensions
/// from `DayPrices::usage_key`) or empty (items without a dimension).
#[inline]
fn same_text(a: &str, b: &str) -> bool {
    a.len() == b.len() && (std::ptr::eq(a.as_ptr(), b.as_ptr()) || a.is_empty() || a == b)
}

impl Ord for Dims {
    fn cmp(&self, other: &Self) -> Ordering {
        shared_text_order(&self.0, &other.0)
    }
}

impl PartialOrd for Dims {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Dims {
    /// No dimensions: the form of every item without a dimension.
    pub fn none() -> Dims {
        Dims(Arc::from(""))
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Dims {
        let sorted: BTreeMap<&str, &str> = pairs.into_iter().collect();
        let text = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(";");
        Dims(text.into())
    }

    /// Reads the canonical text back; used by the store, which keeps the text as is.
    pub fn from_canonical(text: &str) -> Dims {
        Dims(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text itself, to share rather than copy.
    pub fn shared_text(&self) -> &Arc<str> {
        &self.0
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.split(';').filter(|p| !p.is_empty()).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k == key).then_some(v)
        })
    }

    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.split(';').filter(|p| !p.is_empty()).filter_map(|p| p.split_once('='))
    }
}

impl fmt::Display for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillableItem {
    pub code: String,
    pub name: String,
    /// The unit a customer reads, e.g. `1,000,000 events`.
    pub unit: String,
    /// How many of the metered quantity make one priced unit (1,000,000 for log events).
    pub unit_size: Decimal,
    pub aggregation: Aggregation,
    /// The one dimension prices may vary by, with its allowed values, each with its canonical
    /// dimensions (made once, shared by every record that names the value); `None` for items
    /// without.
    pub dimension: Option<(String, BTreeMap<String, Dims>)>,
    /// Items such as `sms` take no coupons at all.
    pub coupon_eligible: bool,
}

impl BillableItem {
    /// Checks a usage record's dimensions against the item and returns them canonical.
    pub fn dims_for(&self, given: &BTreeMap<String, String>) -> Result<Dims, CatalogError> {
        match &self.dimension {
            None => match given.keys().next() {
                None => Ok(Dims::none()),
                Some(key) => Err(CatalogError::UnexpectedDimension { item: self.code.clone(), key: key.clone() }),
            },
            Some((key, allowed)) => {
                if let Some(extra) = given.keys().find(|k| *k != key) {
                    return Err(CatalogError::UnexpectedDimension { item: self.code.clone(), key: extra.clone() });
                }
                let value = given.get(key).ok_or_else(|| CatalogError::MissingDimension { item: self.code.clone(), key: key.clone() })?;
                allowed.get(value).cloned().ok_or_else(|| CatalogError::DimensionValue {
                    item: self.code.clone(),
                    key: key.clone(),
                    value: value.clone(),
                })
            }
        }
    }
}

/// One tier of a graduated or volume price. `up_to` is inclusive, counted in units;
/// the last tier is open (`None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tier {
    pub up_to: Option<Decimal>,
    pub unit_price: Decimal,
    pub flat_fee: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PriceModel {
    PerUnit {
        unit_price: Decimal,
    },
    /// Each tier's units at that tier's rate, plus the flat fee of every tier reached.
    Graduated {
        tiers: Vec<Tier>,
    },
    /// All units at the rate of the tier reached, plus that tier's flat fee.
    Volume {
        tiers: Vec<Tier>,
    },
    /// Per started block of `block_units` units.
    Package {
        block_units: Decimal,
        block_price: Decimal,
    },
}

impl PriceModel {
    pub fn name(&self) -> &'static str {
        match self {
            PriceModel::PerUnit { .. } => "per_unit",
            PriceModel::Graduated { .. } => "graduated",
            PriceModel::Volume { .. } => "volume",
            PriceModel::Package { .. } => "package",
        }
    }
}

/// How an item's daily quantity becomes money on one dimension value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Price {
    pub model: PriceModel,
    /// A free daily quota, in the item's metered quantity, taken off before pricing.
    pub free_quantity: Decimal,
}

/// The prices of one item from `effective_from` on, by dimension value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceVersion {
    pub effective_from: Date,
    pub rates: BTreeMap<Dims, Price>,
}

/// What an annual package grants per day for one billable item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Daily quantity at the base dimension value.
    pub quantity: Decimal,
    /// The dimensions the quota is counted at, e.g. `retention_days=14`.
    pub base: Dims,
    /// How much one unit of usage counts against the quota, by dimension value; values not
    /// listed are not covered by the package at all.
    pub factors: BTreeMap<String, Decimal>,
}

impl Quota {
    /// The factor for usage with these dimensions, or `None` when the quota does not cover it.
    pub fn factor(&self, dims: &Dims) -> Option<u32> {
        match dims.pairs().next() {
            None => Some(1),
            Some((_, value)) => self.factors.get(value).map(|f| whole_factor(*f).expect("validated: factors are whole numbers")),
        }
    }

    /// The daily quota as a quantity.
    pub fn daily(&self) -> Quantity {
        Quantity::from_decimal(self.quantity).expect("validated: quotas keep six decimals")
    }
}

/// A retention factor as the whole number it must be (at least 1), or `None`.
fn whole_factor(factor: Decimal) -> Option<u32> {
    crate::money::to_scaled(factor, 0).and_then(|f| u32::try_from(f).ok()).filter(|&f| f >= 1)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackagePlan {
    pub code: String,
    pub name: String,
    /// Price for one year, paid upfront.
    pub price: Amount,
    pub quotas: BTreeMap<String, Quota>,
}

/// A resource pack the catalog sells: prepaid volume of one billable item, valid for a number
/// of months from the day it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackOffer {
    pub code: String,
    pub name: String,
    pub item: String,
    pub volume: Quantity,
    pub price: Amount,
    /// Months of validity: a pack starting on day D is valid through the day before D plus
    /// this many months.
    pub valid_months: i8,
}

impl PackOffer {
    /// The days a pack of this offer starting on `start` is valid (both ends included).
    pub fn validity(&self, start: Date) -> crate::period::Validity {
        let end = start.checked_add(jiff::Span::new().months(self.valid_months)).expect("pack validity is far from the end of time");
        crate::period::Validity { from: start, until: end.yesterday().expect("a pack is valid at least a month") }
    }
}

/// The prices of one billing day (`Catalog::on`): each item with the price version in force
/// that day (or why there is none), and each (item, dimension value) with its price, since
/// rating looks one up for every line.
#[derive(Debug)]
pub struct DayPrices<'c> {
    pub catalog: &'c Catalog,
    pub day: Date,
    /// In catalog order; `index` finds an item by its code's text, `addresses` by the
    /// address and length of the day's own copy of it (a scan of a few words, no text to
    /// compare).
    items: Vec<DayItem<'c>>,
    index: FxHashMap<&'c str, usize>,
    addresses: Vec<(usize, usize)>,
    /// Each (item, dimension value) of the day by the addresses of the day's own texts of
    /// both, with their lengths (an index into `rates`): a key from `usage_key` finds its
    /// price in one probe.
    shared: FxHashMap<(usize, usize), u32>,
    /// Every (item, dimension value) the day prices; a `RateId` of this day points here.
    rates: Vec<SharedRate<'c>>,
    /// This day's prices among every `DayPrices` the process made: a `RateId` names its own.
    stamp: std::num::NonZeroU64,
}

/// A key's rate resolved once, when the key was made (`DayPrices::resolve`): the key's item
/// and price on the day that made it, found again without a look at the key's texts.
/// Another day's prices do not take it for theirs; they look the key up as usual.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RateId {
    stamp: std::num::NonZeroU64,
    index: u32,
}

/// The stamps of `DayPrices`: each is made with the next.
static NEXT_STAMP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

#[derive(Debug, Clone, Copy)]
struct SharedRate<'c> {
    lengths: (usize, usize),
    rate: DayRate<'c>,
}

/// An item's price on a day for one dimension value, with the price as integers where it
/// has them (`Price::unit_rate`, made once per rate of the day).
#[derive(Debug, Clone, Copy)]
pub struct DayRate<'c> {
    pub item: &'c BillableItem,
    pub price: &'c Price,
    pub unit_rate: Option<UnitRate>,
}

impl<'c> DayRate<'c> {
    fn new(item: &'c BillableItem, price: &'c Price, currency: Currency) -> DayRate<'c> {
        DayRate { item, price, unit_rate: price.unit_rate(item.unit_size, currency) }
    }
}

/// The addresses of an item code and a dimension text, as `DayPrices::shared` keys them.
fn text_address(code: &str, dims: &str) -> (usize, usize) {
    (code.as_ptr() as usize, dims.as_ptr() as usize)
}

/// An item as one day prices it: its price version in force and that version's rates by
/// dimension value (a handful per item, searched in order). The code and dimensions are this
/// day's own copies, shared by the usage keys `DayPrices::usage_key` makes.
#[derive(Debug)]
struct DayItem<'c> {
    item: &'c BillableItem,
    code: Arc<str>,
    /// Each dimension value with its rate's slot in `DayPrices::rates`.
    rates: Result<SmallVec<[(Dims, u32); 4]>, CatalogError>,
}

impl<'c> DayPrices<'c> {
    /// An item of the day: by pointer where the code is this day's own text (a key from
    /// `usage_key`), else by its text.
    fn day_item(&self, code: &str) -> Result<&DayItem<'c>, CatalogError> {
        let address = (code.as_ptr() as usize, code.len());
        let at = self.addresses.iter().position(|&a| a == address).or_else(|| self.index.get(code).copied());
        at.map(|i| &self.items[i]).ok_or_else(|| CatalogError::UnknownItem(code.to_owned()))
    }

    pub fn item(&self, code: &str) -> Result<&'c BillableItem, CatalogError> {
        self.day_item(code).map(|i| i.item)
    }

    /// An item and its price on this day for a dimension value.
    pub fn price(&self, code: &str, dims: &Dims) -> Result<&DayRate<'c>, CatalogError> {
        if let Some(slot) = self.own_slot(code, dims.as_str()) {
            return Ok(&self.rates[slot as usize].rate);
        }
        let day_item = self.day_item(code)?;
        let rates = day_item.rates.as_ref().map_err(Clone::clone)?;
        let wanted = dims.as_str();
        let slot = rates
            .iter()
            .find(|(d, _)| same_text(d.as_str(), wanted))
            .map(|&(_, slot)| slot)
            .ok_or_else(|| CatalogError::NoRate { item: code.to_owned(), dims: dims.to_string() })?;
        Ok(&self.rates[slot as usize].rate)
    }

    /// The usage key of a workspace's item and dimensions (canonical text), made of this day's
    /// own texts where the day prices them: a loader's keys then share the item code and
    /// dimensions instead of copying them, and `price` finds them by pointer. Text the day
    /// does not price is copied (rating refuses it with the error it deserves).
    pub fn usage_key(&self, workspace: Arc<str>, item: &str, dims: &str) -> UsageKey {
        let known = self.index.get(item).map(|&i| &self.items[i]);
        let shared = known.and_then(|i| Some((i, i.rates.as_ref().ok()?.iter().find(|(d, _)| d.as_str() == dims)?)));
        match shared {
            Some((i, (d, _))) => UsageKey { workspace, item: i.code.clone(), dims: d.clone() },
            None => UsageKey { workspace, item: known.map_or_else(|| item.into(), |i| i.code.clone()), dims: Dims::from_canonical(dims) },
        }
    }

    /// The rate of a key this day made of its own texts (`usage_key`), to keep with the key:
    /// `rate` then finds the key's price without reading the key. `None` for any other key.
    pub fn resolve(&self, key: &UsageKey) -> Option<RateId> {
        self.own_slot(&key.item, key.dims.as_str()).map(|index| RateId { stamp: self.stamp, index })
    }

    /// The rate slot of an item code and dimension text that are this day's own texts: the
    /// same address and length is the same text.
    fn own_slot(&self, code: &str, dims: &str) -> Option<u32> {
        let slot = *self.shared.get(&text_address(code, dims))?;
        (self.rates[slot as usize].lengths == (code.len(), dims.len())).then_some(slot)
    }

    /// The item and price of a key on this day: by its resolved rate where this day resolved
    /// it, else by its item and dimensions (`price`).
    #[inline]
    pub fn rate(&self, key: &UsageKey, rate: Option<RateId>) -> Result<&DayRate<'c>, CatalogError> {
        match rate {
            Some(id) if id.stamp == self.stamp => Ok(&self.rates[id.index as usize].rate),
            _ => self.price(&key.item, &key.dims),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catalog {
    pub currency: Currency,
    pub items: BTreeMap<String, BillableItem>,
    /// Price versions per item, ascending by effective date.
    pub prices: BTreeMap<String, Vec<PriceVersion>>,
    pub packages: BTreeMap<String, PackagePlan>,
    pub packs: BTreeMap<String, PackOffer>,
}

impl Catalog {
    pub fn item(&self, code: &str) -> Result<&BillableItem, CatalogError> {
        self.items.get(code).ok_or_else(|| CatalogError::UnknownItem(code.to_owned()))
    }

    pub fn package(&self, code: &str) -> Result<&PackagePlan, CatalogError> {
        self.packages.get(code).ok_or_else(|| CatalogError::UnknownPackage(code.to_owned()))
    }

    pub fn pack(&self, code: &str) -> Result<&PackOffer, CatalogError> {
        self.packs.get(code).ok_or_else(|| CatalogError::UnknownPack(code.to_owned()))
    }

    /// The price version of an item in force on a billing day.
    pub fn version(&self, item: &str, day: Date) -> Result<&PriceVersion, CatalogError> {
        let versions = self.prices.get(item).ok_or_else(|| CatalogError::UnknownItem(item.to_owned()))?;
        versions.iter().rev().find(|v| v.effective_from <= day).ok_or_else(|| CatalogError::NoPriceInForce { item: item.to_owned(), day })
    }

    /// The price in force on a billing day for an item's dimension value.
    pub fn price(&self, item: &str, day: Date, dims: &Dims) -> Result<&Price, CatalogError> {
        self.version(item, day)?.rates.get(dims).ok_or_else(|| CatalogError::NoRate { item: item.to_owned(), dims: dims.to_string() })
    }

    /// The catalog as it prices one billing day: each item and rate resolved once.
    pub fn on(&self, day: Date) -> DayPrices<'_> {
        let mut rates = Vec::new();
        let items = self
            .items
            .iter()
            .map(|(code, item)| {
                // Copies of the texts, not the catalog's: a thread's keys count their shares on
                // counters no other thread touches.
                let code: Arc<str> = code.as_str().into();
                let item_rates = self.version(&item.code, day).map(|v| {
                    v.rates
                        .iter()
                        .map(|(dims, price)| {
                            let dims = Dims::from_canonical(dims.as_str());
                            let slot = u32::try_from(rates.len()).expect("a day's rates are few");
                            let lengths = (code.len(), dims.as_str().len());
                            rates.push(SharedRate { lengths, rate: DayRate::new(item, price, self.currency) });
                            (dims, slot)
                        })
                        .collect()
                });
                DayItem { item, code, rates: item_rates }
            })
            .collect::<Vec<_>>();
        let index = items.iter().enumerate().map(|(i, d)| (d.item.code.as_str(), i)).collect();
        let addresses = items.iter().map(|d| (d.code.as_ptr() as usize, d.code.len())).collect();
        let mut shared = FxHashMap::default();
        for d in &items {
            for (dims, slot) in d.rates.as_ref().map(|r| r.as_slice()).unwrap_or_default() {
                shared.insert(text_address(&d.code, dims.as_str()), *slot);
            }
        }
        let stamp = std::num::NonZeroU64::new(NEXT_STAMP.fetch_add(1, std::sync::atomic::Ordering::Relaxed)).expect("stamps start at 1");
        DayPrices { catalog: self, day, items, index, addresses, shared, rates, stamp }
    }

    /// Checks everything that must hold before a catalog is used.
    pub fn validate(&self) -> Result<(), CatalogError> {
        for item in self.items.values() {
            let bad = |reason: &str| CatalogError::Invalid { what: format!("item {}", item.code), reason: reason.to_owned() };
            if item.unit_size <= Decimal::ZERO {
                return Err(bad("unit_size must be positive"));
            }
            let versions = self.prices.get(&item.code).ok_or_else(|| bad("has no price"))?;
            if versions.is_empty() {
                return Err(bad("has no price"));
            }
            for pair in versions.windows(2) {
                if pair[0].effective_from >= pair[1].effective_from {
                    return Err(bad("price versions must have distinct, ascending effective dates"));
                }
            }
            let expected: BTreeSet<Dims> = match &item.dimension {
                None => [Dims::none()].into(),
                Some((key, values)) => {
                    for (v, dims) in values {
                        assert_eq!(*dims, Dims::from_pairs([(key.as_str(), v.as_str())]), "{key}={v} carries its canonical dimensions");
                    }
                    values.values().cloned().collect()
                }
            };
            for version in versions {
                let have: BTreeSet<Dims> = version.rates.keys().cloned().collect();
                if have != expected {
                    return Err(bad(&format!("price from {} must have exactly one rate per dimension value", version.effective_from)));
                }
                for price in version.rates.values() {
                    validate_price(price).map_err(|r| bad(&r))?;
                }
            }
        }
        if let Some(code) = self.prices.keys().find(|code| !self.items.contains_key(*code)) {
            return Err(CatalogError::UnknownItem(code.clone()));
        }
        for offer in self.packs.values() {
            let bad = |reason: String| CatalogError::Invalid { what: format!("resource pack {}", offer.code), reason };
            self.item(&offer.item)?;
            if !offer.volume.is_positive() {
                return Err(bad("volume must be positive".into()));
            }
            if offer.price.is_negative() {
                return Err(bad("price must not be negative".into()));
            }
            if !(1..=36).contains(&offer.valid_months) {
                return Err(bad("valid_months must be 1 to 36".into()));
            }
            if self.packages.contains_key(&offer.code) || self.items.contains_key(&offer.code) {
                return Err(bad("its code is already a package's or an item's".into()));
            }
        }
        for plan in self.packages.values() {
            let bad = |reason: String| CatalogError::Invalid { what: format!("package {}", plan.code), reason };
            if !plan.price.is_positive() {
                return Err(bad("price must be positive".into()));
            }
            for (code, quota) in &plan.quotas {
                let item = self.item(code)?;
                if quota.quantity <= Decimal::ZERO {
                    return Err(bad(format!("quota for {code} must be positive")));
                }
                if Quantity::from_decimal(quota.quantity).is_none() {
                    return Err(bad(format!("quota for {code} may have at most {QUANTITY_SCALE} decimals")));
                }
                if quota.factors.values().any(|f| whole_factor(*f).is_none()) {
                    return Err(bad(format!("factors for {code} must be whole numbers of at least 1")));
                }
                match &item.dimension {
                    None => {
                        if !quota.base.as_str().is_empty() {
                            return Err(bad(format!("{code} has no dimension to base the quota on")));
                        }
                    }
                    Some((key, values)) => {
                        let base = quota.base.get(key).ok_or_else(|| bad(format!("quota for {code} needs a base {key}")))?;
                        if !values.contains_key(base) || quota.factors.keys().any(|v| !values.contains_key(v)) {
                            return Err(bad(format!("quota for {code} names a {key} the item does not have")));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// A new catalog may not change what already-billed days were rated with: every price
    /// version in force on or before `billed_through` must stay as it is, no new version may
    /// start on or before it, and billed items keep their unit and aggregation.
    pub fn check_replaces(&self, old: &Catalog, billed_through: Option<Date>) -> Result<(), CatalogError> {
        let Some(through) = billed_through else { return Ok(()) };
        if old.currency != self.currency {
            return Err(CatalogError::RewritesBilledPrice { item: "currency".into(), day: through });
        }
        for (code, old_item) in &old.items {
            let changed = |day| CatalogError::RewritesBilledPrice { item: code.clone(), day };
            let Some(new_item) = self.items.get(code) else { return Err(changed(through)) };
            if new_item.unit_size != old_item.unit_size || new_item.aggregation != old_item.aggregation {
                return Err(changed(through));
            }
            let billed = |versions: &Vec<PriceVersion>| -> Vec<PriceVersion> {
                versions.iter().filter(|v| v.effective_from <= through).cloned().collect()
            };
            let old_versions = billed(&old.prices[code]);
            let new_versions = billed(&self.prices[code]);
            if old_versions != new_versions {
                return Err(changed(through));
            }
        }
        Ok(())
    }
}

fn validate_price(price: &Price) -> Result<(), String> {
    let ok = |d: Decimal| d >= Decimal::ZERO && d.normalize().scale() <= PRICE_MAX_DECIMALS;
    if price.free_quantity < Decimal::ZERO {
        return Err("free quantity must not be negative".into());
    }
    match &price.model {
        PriceModel::PerUnit { unit_price } => {
            if !ok(*unit_price) {
                return Err(format!("unit price must be non-negative with at most {PRICE_MAX_DECIMALS} decimals"));
            }
        }
        PriceModel::Graduated { tiers } | PriceModel::Volume { tiers } => {
            if tiers.is_empty() {
                return Err("tiers must not be empty".into());
            }
            let mut previous = Decimal::ZERO;
            for (i, tier) in tiers.iter().enumerate() {
                if !ok(tier.unit_price) || !ok(tier.flat_fee) {
                    return Err(format!("tier prices must be non-negative with at most {PRICE_MAX_DECIMALS} decimals"));
                }
                match tier.up_to {
                    Some(up_to) if up_to <= previous => return Err("tier bounds must ascend".into()),
                    Some(up_to) => previous = up_to,
                    None if i + 1 != tiers.len() => return Err("only the last tier may be open".into()),
                    None => {}
                }
            }
            if tiers.last().is_some_and(|t| t.up_to.is_some()) {
                return Err("the last tier must be open (no up_to)".into());
            }
        }
        PriceModel::Package { block_units, block_price } => {
            if *block_units <= Decimal::ZERO || !ok(*block_price) {
                return Err("package blocks need positive units and a non-negative price".into());
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("unknown billable item `{0}`")]
    UnknownItem(String),
    #[error("unknown package `{0}`")]
    UnknownPackage(String),
    #[error("unknown resource pack `{0}`")]
    UnknownPack(String),
    #[error("item `{item}` has no dimension `{key}`")]
    UnexpectedDimension { item: String, key: String },
    #[error("item `{item}` needs dimension `{key}`")]
    MissingDimension { item: String, key: String },
    #[error("item `{item}` has no {key} = {value}")]
    DimensionValue { item: String, key: String, value: String },
    #[error("item `{item}` has no price in force on {day}")]
    NoPriceInForce { item: String, day: Date },
    #[error("item `{item}` has no rate for `{dims}`")]
    NoRate { item: String, dims: String },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error(
        "`{item}`: the change alters a price already used for days billed through {day}; give the new price an effective date after it"
    )]
    RewritesBilledPrice { item: String, day: Date },
}
