//! The catalog file format (TOML, documented in `docs/catalog.md`) and its translation into
//! the domain catalog. Decimals are written as strings (or integers), never as TOML floats.

use std::collections::BTreeMap;

use billing::{Aggregation, BillableItem, Catalog, Currency, Dims, PackOffer, PackagePlan, Price, PriceModel, PriceVersion, Quota, Tier};
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::AppError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    currency: String,
    #[serde(default)]
    items: BTreeMap<String, ItemFile>,
    #[serde(default)]
    packages: BTreeMap<String, PackageFile>,
    #[serde(default)]
    packs: BTreeMap<String, PackFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PackFile {
    name: String,
    item: String,
    volume: Num,
    price: Num,
    valid_months: i8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemFile {
    name: String,
    unit: String,
    unit_size: Num,
    aggregation: String,
    dimension: Option<String>,
    #[serde(default)]
    values: Vec<Num>,
    #[serde(default = "yes")]
    coupons: bool,
    prices: Vec<PriceFile>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    effective_from: String,
    #[serde(default)]
    free_quantity: Option<Num>,
    /// For an item without a dimension.
    rate: Option<RateFile>,
    /// For an item with a dimension: one rate per dimension value.
    #[serde(default)]
    rates: BTreeMap<String, RateFile>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RateFile {
    Model(ModelFile),
    UnitPrice(Num),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    model: String,
    unit_price: Option<Num>,
    #[serde(default)]
    tiers: Vec<TierFile>,
    block_units: Option<Num>,
    block_price: Option<Num>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TierFile {
    up_to: Option<Num>,
    unit_price: Num,
    #[serde(default)]
    flat_fee: Option<Num>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PackageFile {
    name: String,
    price: Num,
    quotas: BTreeMap<String, QuotaFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaFile {
    quantity: Num,
    base: Option<Num>,
    #[serde(default)]
    factors: BTreeMap<String, Num>,
}

/// A decimal written as a string or an integer. Any other TOML value (a float above all: it
/// is binary, not exact) is refused with a message.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum Num {
    Text(String),
    Int(i64),
    Other(toml::Value),
}

impl Num {
    fn decimal(&self, field: &str) -> Result<Decimal, AppError> {
        match self {
            Num::Text(t) => t.trim().parse().map_err(|_| AppError::invalid(field, format!("`{t}` is not a decimal"))),
            Num::Int(i) => Ok(Decimal::from(*i)),
            Num::Other(_) => Err(AppError::invalid(field, "write decimals as strings, e.g. \"1.2\" (TOML floats are not exact)")),
        }
    }
    fn text(&self) -> String {
        match self {
            Num::Text(t) => t.trim().to_owned(),
            Num::Int(i) => i.to_string(),
            Num::Other(v) => v.to_string(),
        }
    }
}

fn date(text: &str, field: &str) -> Result<Date, AppError> {
    text.parse().map_err(|_| AppError::invalid(field, format!("`{text}` is not a date (YYYY-MM-DD)")))
}

fn model(rate: &RateFile, field: &str) -> Result<PriceModel, AppError> {
    let m = match rate {
        RateFile::UnitPrice(n) => return Ok(PriceModel::PerUnit { unit_price: n.decimal(field)? }),
        RateFile::Model(m) => m,
    };
    let need = |v: &Option<Num>, name: &str| -> Result<Decimal, AppError> {
        v.as_ref().ok_or_else(|| AppError::invalid(field, format!("model {} needs `{name}`", m.model)))?.decimal(&format!("{field}.{name}"))
    };
    let tiers = || -> Result<Vec<Tier>, AppError> {
        m.tiers
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let f = format!("{field}.tiers[{i}]");
                Ok(Tier {
                    up_to: t.up_to.as_ref().map(|u| u.decimal(&f)).transpose()?,
                    unit_price: t.unit_price.decimal(&f)?,
                    flat_fee: t.flat_fee.as_ref().map(|u| u.decimal(&f)).transpose()?.unwrap_or_default(),
                })
            })
            .collect()
    };
    Ok(match m.model.as_str() {
        "per_unit" => PriceModel::PerUnit { unit_price: need(&m.unit_price, "unit_price")? },
        "graduated" => PriceModel::Graduated { tiers: tiers()? },
        "volume" => PriceModel::Volume { tiers: tiers()? },
        "package" => {
            PriceModel::Package { block_units: need(&m.block_units, "block_units")?, block_price: need(&m.block_price, "block_price")? }
        }
        other => return Err(AppError::invalid(field, format!("unknown price model `{other}` (per_unit, graduated, volume, package)"))),
    })
}

/// Parses and validates a catalog file.
pub fn parse(source: &str) -> Result<Catalog, AppError> {
    let file: File = toml::from_str(source).map_err(|e| AppError::invalid("catalog", e.to_string().trim().replace('\n', " ")))?;
    let currency = Currency::parse(&file.currency).map_err(|e| AppError::invalid("currency", e.to_string()))?;
    let mut items = BTreeMap::new();
    let mut prices = BTreeMap::new();
    for (code, f) in &file.items {
        let field = format!("items.{code}");
        let aggregation = match f.aggregation.as_str() {
            "sum" => Aggregation::Sum,
            "max" => Aggregation::Max,
            other => return Err(AppError::invalid(&format!("{field}.aggregation"), format!("`{other}` is not sum or max"))),
        };
        let dimension = match &f.dimension {
            None => {
                if !f.values.is_empty() {
                    return Err(AppError::invalid(&format!("{field}.values"), "values need a dimension"));
                }
                None
            }
            Some(key) => {
                let values: BTreeMap<String, Dims> =
                    f.values.iter().map(Num::text).map(|v| (v.clone(), Dims::from_pairs([(key.as_str(), v.as_str())]))).collect();
                if values.is_empty() {
                    return Err(AppError::invalid(&format!("{field}.values"), "a dimension needs its values"));
                }
                Some((key.clone(), values))
            }
        };
        let mut versions = Vec::new();
        for (i, p) in f.prices.iter().enumerate() {
            let pf = format!("{field}.prices[{i}]");
            let free_quantity =
                p.free_quantity.as_ref().map(|n| n.decimal(&format!("{pf}.free_quantity"))).transpose()?.unwrap_or_default();
            let mut rates = BTreeMap::new();
            match (&dimension, &p.rate) {
                (None, Some(rate)) => {
                    rates.insert(Dims::none(), Price { model: model(rate, &format!("{pf}.rate"))?, free_quantity });
                }
                (Some((key, _)), None) => {
                    for (value, rate) in &p.rates {
                        let dims = Dims::from_pairs([(key.as_str(), value.as_str())]);
                        rates.insert(dims, Price { model: model(rate, &format!("{pf}.rates.{value}"))?, free_quantity });
                    }
                }
                (None, None) => return Err(AppError::invalid(&pf, "needs `rate`")),
                (Some(_), Some(_)) => return Err(AppError::invalid(&pf, "an item with a dimension takes `rates`, one per value")),
            }
            versions.push(PriceVersion { effective_from: date(&p.effective_from, &format!("{pf}.effective_from"))?, rates });
        }
        versions.sort_by_key(|v| v.effective_from);
        items.insert(
            code.clone(),
            BillableItem {
                code: code.clone(),
                name: f.name.clone(),
                unit: f.unit.clone(),
                unit_size: f.unit_size.decimal(&format!("{field}.unit_size"))?,
                aggregation,
                dimension,
                coupon_eligible: f.coupons,
            },
        );
        prices.insert(code.clone(), versions);
    }
    let mut packages = BTreeMap::new();
    for (code, p) in &file.packages {
        let field = format!("packages.{code}");
        let price = currency.parse_amount(&p.price.text()).map_err(|e| AppError::invalid(&format!("{field}.price"), e.to_string()))?;
        let mut quotas = BTreeMap::new();
        for (item, q) in &p.quotas {
            let qf = format!("{field}.quotas.{item}");
            let dim_key = items.get(item).and_then(|i: &BillableItem| i.dimension.as_ref().map(|d| d.0.clone()));
            let base = match (&q.base, dim_key) {
                (Some(b), Some(key)) => Dims::from_pairs([(key.as_str(), b.text().as_str())]),
                (None, None) => Dims::none(),
                (Some(_), None) => return Err(AppError::invalid(&format!("{qf}.base"), "the item has no dimension")),
                (None, Some(key)) => return Err(AppError::invalid(&format!("{qf}.base"), format!("needs the base {key}"))),
            };
            let factors = q
                .factors
                .iter()
                .map(|(k, v)| Ok((k.clone(), v.decimal(&format!("{qf}.factors.{k}"))?)))
                .collect::<Result<_, AppError>>()?;
            quotas.insert(item.clone(), Quota { quantity: q.quantity.decimal(&format!("{qf}.quantity"))?, base, factors });
        }
        packages.insert(code.clone(), PackagePlan { code: code.clone(), name: p.name.clone(), price, quotas });
    }
    let mut packs = BTreeMap::new();
    for (code, p) in &file.packs {
        let field = format!("packs.{code}");
        let price = currency.parse_amount(&p.price.text()).map_err(|e| AppError::invalid(&format!("{field}.price"), e.to_string()))?;
        let volume = p.volume.decimal(&format!("{field}.volume"))?;
        let volume = billing::Quantity::from_decimal(volume)
            .ok_or_else(|| AppError::invalid(&format!("{field}.volume"), "a quantity of at most 6 decimals"))?;
        let offer =
            PackOffer { code: code.clone(), name: p.name.clone(), item: p.item.clone(), volume, price, valid_months: p.valid_months };
        packs.insert(code.clone(), offer);
    }
    let catalog = Catalog { currency, items, prices, packages, packs };
    catalog.validate().map_err(|e| AppError::invalid("catalog", e.to_string()))?;
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = include_str!("../../../catalog/demo.toml");

    /// Package quotas are quantities (six decimals at most) and retention factors count usage
    /// a whole number of times: anything else is refused with the field's reason, before a
    /// night could rate usage into a quantity storage cannot keep.
    #[test]
    fn quotas_keep_six_decimals_and_factors_are_whole() {
        assert!(parse(DEMO).is_ok());
        let starter = "quantity = 40000000\nbase = 14\nfactors = { \"3\" = 1, \"7\" = 1, \"14\" = 1, \"30\" = 2, \"60\" = 3 }";
        assert!(DEMO.contains(starter), "the demo's starter quota for log events");
        for (changed, reason) in [
            (starter.replace("\"30\" = 2", "\"30\" = \"1.5\""), "whole numbers of at least 1"),
            (starter.replace("\"30\" = 2", "\"30\" = 0"), "whole numbers of at least 1"),
            (starter.replace("quantity = 40000000", "quantity = \"0.0000001\""), "at most 6 decimals"),
        ] {
            let message = parse(&DEMO.replacen(starter, &changed, 1)).unwrap_err().to_string();
            assert!(message.contains(reason), "{message}");
        }
    }
}
