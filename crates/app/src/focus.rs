//! A billing month as a FOCUS 1.2 cost and usage dataset (docs/exports.md):
//! - every expense line is a charge at its gross amount: `Usage` (pay-as-you-go and
//!   adjustments) or `Purchase` (annual packages); a package's purchase covers future usage, so
//!   its effective cost is 0 and a `Usage` row beside it recognises the package's cost in the
//!   month bought (as the invoice does) with no billed cost of its own;
//! - what coupons paid of a line is a `Credit` that lowers both billed and effective cost;
//! - what prepaid cards paid of a line is a `Credit` that lowers billed cost only (the card was
//!   billed when it was bought; the usage still cost what it cost);
//! - every prepaid card bought in the month is a `Purchase` billed at its face value, with no
//!   effective cost of its own (that cost shows in the usage it pays for).
//!
//! So, per account and month, BilledCost adds up to cash + arrears + cards bought (what the
//! month's invoice bills) and EffectiveCost to gross − coupons.

use billing::money::from_scaled;
use billing::period::{day_start, next_day};
use billing::{Catalog, Month};
use export::{FOCUS_QUANTITY_SCALE, FocusRow};
use jiff::Timestamp;
use rust_decimal::Decimal;
use store::{ExpenseLineRow, LineFilter};

use crate::context::{Account, load_account, load_catalog};
use crate::usage::QUANTITY_SCALE;
use crate::{App, AppError, Result};

/// FOCUS's service category and subcategory of every billable item: the service is
/// observability (metrics, logs, traces, real-user monitoring, alerts).
const SERVICE_CATEGORY: &str = "Management and Governance";
const SERVICE_SUBCATEGORY: &str = "Observability";

/// Accounts read per store round trip when every account is exported.
const ACCOUNTS_PER_READ: i64 = 500;

impl App {
    /// Hands every FOCUS row of `month` to `row`: of one account, or of every account (in
    /// account order) when `account_id` is `None`. Reads one day of one account at a time in a
    /// single read transaction, so a month of millions of lines is never held at once.
    /// Returns the rows written.
    pub async fn stream_focus(
        &self,
        month: &str,
        account_id: Option<&str>,
        row: &mut (dyn FnMut(&FocusRow) -> std::io::Result<()> + Send),
    ) -> Result<usize> {
        let m = crate::lists::month_arg("month", month)?;
        let output = |e: std::io::Error| AppError::invalid("output", e.to_string());
        let mut tx = self.store.read_scan().await?;
        let catalog = load_catalog(&mut tx).await?;
        let ids: Vec<String> = match account_id {
            Some(id) => vec![load_account(&mut tx, id).await?.row.account_id],
            None => {
                let mut ids: Vec<String> = Vec::new();
                loop {
                    let after = ids.last().cloned().unwrap_or_default();
                    let page = tx.accounts_after(&after, ACCOUNTS_PER_READ).await?;
                    if page.is_empty() {
                        break;
                    }
                    ids.extend(page.into_iter().map(|a| a.account_id));
                }
                ids
            }
        };
        let mut written = 0;
        for id in &ids {
            let account = load_account(&mut tx, id).await?;
            // An open month's charges belong to its provisional invoice, named so.
            let invoice_no = tx
                .invoices(id)
                .await?
                .into_iter()
                .find(|i| i.month == m.to_string())
                .map_or_else(|| format!("PROVISIONAL-{}-{id}", m.to_string().replace('-', "")), |i| i.invoice_no);
            let names = tx.workspaces(id).await?.into_iter().map(|w| (w.workspace_id, w.name)).collect();
            let month = MonthRows::new(&account, &catalog, m, invoice_no, self.issuer().name.clone(), names);
            let days = m.days();
            let mut day = days.start;
            while day < days.end {
                let next = next_day(day);
                let filter = LineFilter { from: Some(day), to: Some(next), ..LineFilter::default() };
                for line in tx.expense_lines(id, &filter).await? {
                    for r in month.line(&line) {
                        row(&r).map_err(output)?;
                        written += 1;
                    }
                }
                day = next;
            }
            for card in tx.instruments(id).await? {
                if card.kind == "card" && card.origin == "purchased" && m.contains(account.today(card.created_at)) {
                    row(&month.card_purchase(&card)).map_err(output)?;
                    written += 1;
                }
            }
        }
        tx.commit().await?;
        Ok(written)
    }
}

impl App {
    /// Writes the FOCUS file of `month` (see [`App::stream_focus`]) as CSV or Parquet to `out`.
    /// Returns the rows written.
    pub async fn write_focus(
        &self,
        month: &str,
        account_id: Option<&str>,
        parquet: bool,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<usize> {
        let output = |e: export::FocusError| AppError::invalid("output", e.to_string());
        let mut file = export::FocusFile::new(parquet, out).map_err(output)?;
        let rows = self.stream_focus(month, account_id, &mut |r| file.push(r).map_err(std::io::Error::other)).await?;
        file.finish().map_err(output)?;
        Ok(rows)
    }
}

/// What every row of one account's month shares, and how its charges become rows.
struct MonthRows<'a> {
    account: &'a Account,
    catalog: &'a Catalog,
    base: FocusRow,
    workspaces: std::collections::HashMap<String, String>,
}

impl<'a> MonthRows<'a> {
    fn new(
        account: &'a Account,
        catalog: &'a Catalog,
        m: Month,
        invoice_no: String,
        issuer: String,
        workspaces: std::collections::HashMap<String, String>,
    ) -> MonthRows<'a> {
        let days = m.days();
        let issuer = if issuer.is_empty() { "billcenter".to_owned() } else { issuer };
        let base = FocusRow {
            billing_account_id: account.row.account_id.clone(),
            billing_account_name: account.row.name.clone(),
            billing_currency: account.currency.code().to_owned(),
            billing_period_start: day_start(days.start, &account.tz),
            billing_period_end: day_start(days.end, &account.tz),
            invoice_id: Some(invoice_no),
            issuer,
            service_category: SERVICE_CATEGORY,
            service_subcategory: SERVICE_SUBCATEGORY,
            ..FocusRow::default()
        };
        MonthRows { account, catalog, base, workspaces }
    }

    fn money(&self, minor: i64) -> Decimal {
        self.account.currency.to_decimal(billing::Amount(minor))
    }

    /// The day's charge period: `[start, end)` of the day in the account's zone, in UTC.
    fn day(&self, day: jiff::civil::Date) -> (Timestamp, Timestamp) {
        (day_start(day, &self.account.tz), day_start(next_day(day), &self.account.tz))
    }

    /// An expense line's charge, and a credit for each of coupons and cards that paid it.
    fn line(&self, l: &ExpenseLineRow) -> Vec<FocusRow> {
        let item = self.catalog.items.get(&l.item);
        let package = self.catalog.packages.get(&l.item);
        let pack = self.catalog.packs.get(&l.item);
        // What is bought upfront: an annual package, or a resource pack (its purchase has no
        // workspace; a pack's line of a workspace is usage it covered, at no cost).
        let package_line = l.charge_type == billing::invoice::ChargeType::AnnualPackage.as_str()
            || (l.charge_type == billing::invoice::ChargeType::ResourcePack.as_str() && l.workspace_id.is_empty());
        let unit_bought = if pack.is_some() { "pack" } else { "package" };
        // A package's line of negative gross is the credit for the unused days of an upgraded
        // one: a Credit that lowers both costs, not a purchase.
        let package_credit = package_line && l.money.gross < 0;
        let purchase = package_line && !package_credit;
        // A line that bills usage of an earlier, already invoiced period corrects that period.
        let correction = l.usage_day != l.billing_day;
        let (start, end) = self.day(l.usage_day);
        let service = item
            .map(|i| i.name.clone())
            .or_else(|| package.map(|p| p.name.clone()))
            .or_else(|| pack.map(|p| p.name.clone()))
            .unwrap_or_else(|| l.item.clone());
        let price = l.unit_price.map(|p| from_scaled(p, QUANTITY_SCALE));
        let (pricing_quantity, pricing_unit, consumed_quantity, consumed_unit) = match item {
            Some(i) => (
                Some((from_scaled(l.chargeable, QUANTITY_SCALE) / i.unit_size).round_dp(FOCUS_QUANTITY_SCALE).normalize()),
                Some(pricing_unit(&i.unit)),
                Some(from_scaled(l.quantity, QUANTITY_SCALE)),
                Some(consumed_unit(&i.unit)),
            ),
            None => (Some(Decimal::ONE), Some(unit_bought.to_owned()), None, None),
        };
        let gross = self.money(l.money.gross);
        let dims = (!l.dims.is_empty()).then(|| l.dims.clone());
        let sub_account = Some(l.workspace_id.clone());
        let charge = FocusRow {
            billed_cost: gross,
            effective_cost: if purchase { Decimal::ZERO } else { gross },
            list_cost: gross,
            contracted_cost: gross,
            list_unit_price: if purchase { Some(gross) } else { price },
            contracted_unit_price: if purchase { Some(gross) } else { price },
            pricing_quantity,
            pricing_unit,
            consumed_quantity,
            consumed_unit,
            charge_period_start: start,
            charge_period_end: end,
            charge_category: if purchase { "Purchase" } else { "Usage" },
            charge_class: correction.then_some("Correction"),
            charge_description: match &dims {
                Some(d) => format!("{service} ({d}), {}", l.usage_day),
                None => format!("{service}, {}", l.usage_day),
            },
            charge_frequency: if purchase { "One-Time" } else { "Usage-Based" },
            service_name: service.clone(),
            sku_id: Some(l.item.clone()),
            sku_price_id: Some(if l.priced_dims.is_empty() { l.item.clone() } else { format!("{}:{}", l.item, l.priced_dims) }),
            sku_meter: Some(service.clone()),
            sku_price_details: price_details(&l.priced_dims),
            sub_account_id: sub_account.clone(),
            sub_account_name: self.workspaces.get(&l.workspace_id).cloned().or(sub_account.clone()),
            x_charge_type: l.charge_type.clone(),
            x_line_no: Some(l.line_no),
            x_usage_day: Some(l.usage_day.to_string()),
            x_dimensions: dims,
            x_rounding_discount: Some(from_scaled(l.money.rounding_discount, billing::money::EXACT_SCALE)),
            ..self.base.clone()
        };
        let charge = if package_credit {
            FocusRow {
                list_cost: Decimal::ZERO,
                contracted_cost: Decimal::ZERO,
                list_unit_price: None,
                contracted_unit_price: None,
                pricing_quantity: None,
                pricing_unit: None,
                charge_category: "Credit",
                charge_description: format!("{service}: credit for the unused days of an upgraded package"),
                charge_frequency: "One-Time",
                ..charge
            }
        } else {
            charge
        };
        let credit = |paid: i64, fund: &str, effective: bool| FocusRow {
            billed_cost: -self.money(paid),
            effective_cost: if effective { -self.money(paid) } else { Decimal::ZERO },
            list_cost: Decimal::ZERO,
            contracted_cost: Decimal::ZERO,
            list_unit_price: None,
            contracted_unit_price: None,
            pricing_quantity: None,
            pricing_unit: None,
            consumed_quantity: None,
            consumed_unit: None,
            charge_category: "Credit",
            // The credit is granted now, whatever period its charge corrects.
            charge_class: None,
            charge_description: format!("{fund} applied to line {} ({})", l.line_no, charge.charge_description),
            charge_frequency: "One-Time",
            x_rounding_discount: None,
            ..charge.clone()
        };
        let mut rows = Vec::with_capacity(4);
        if purchase {
            rows.push(FocusRow {
                billed_cost: Decimal::ZERO,
                effective_cost: gross,
                list_cost: Decimal::ZERO,
                contracted_cost: Decimal::ZERO,
                list_unit_price: Some(Decimal::ZERO),
                contracted_unit_price: Some(Decimal::ZERO),
                consumed_quantity: Some(Decimal::ONE),
                consumed_unit: Some(unit_bought.to_owned()),
                charge_category: "Usage",
                charge_description: format!("{service}: the {unit_bought}'s cost, recognised in the month bought"),
                charge_frequency: "One-Time",
                x_rounding_discount: None,
                ..charge.clone()
            });
        }
        if l.money.coupon != 0 {
            rows.push(credit(l.money.coupon, "Coupons", true));
        }
        if l.money.card != 0 {
            rows.push(credit(l.money.card, "Prepaid cards", false));
        }
        rows.insert(0, charge);
        rows
    }

    /// A prepaid card bought in the month: billed at its face value on the day bought.
    fn card_purchase(&self, card: &store::InstrumentRow) -> FocusRow {
        let face = self.money(card.face_value);
        let (start, end) = self.day(self.account.today(card.created_at));
        FocusRow {
            billed_cost: face,
            effective_cost: Decimal::ZERO,
            list_cost: face,
            contracted_cost: face,
            list_unit_price: Some(face),
            contracted_unit_price: Some(face),
            pricing_quantity: Some(Decimal::ONE),
            pricing_unit: Some("card".to_owned()),
            charge_period_start: start,
            charge_period_end: end,
            charge_category: "Purchase",
            charge_description: format!("Prepaid card {} (face value {face} {})", card.code, self.account.currency.code()),
            charge_frequency: "One-Time",
            service_name: "Prepaid card".to_owned(),
            x_charge_type: "prepaid_card".to_owned(),
            ..self.base.clone()
        }
    }
}

/// The unit one record counts in, from the priced unit's text: `1,000,000 events` → `events`.
fn consumed_unit(priced: &str) -> String {
    match priced.split_once(' ') {
        Some((count, rest)) if count.chars().all(|c| c.is_ascii_digit() || c == ',') => rest.to_owned(),
        _ => priced.to_owned(),
    }
}

/// The priced unit in FOCUS's unit format: the count without thousands separators
/// (`1,000,000 events` → `1000000 events`).
fn pricing_unit(priced: &str) -> String {
    match priced.split_once(' ') {
        Some((count, rest)) if count.chars().all(|c| c.is_ascii_digit() || c == ',') => format!("{} {rest}", count.replace(',', "")),
        _ => priced.to_owned(),
    }
}

/// The dimensions a price was chosen by, as FOCUS's JSON object (`{"retention_days":"7"}`).
fn price_details(priced_dims: &str) -> Option<String> {
    if priced_dims.is_empty() {
        return None;
    }
    let map: serde_json::Map<String, serde_json::Value> = priced_dims
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned())))
        .collect();
    Some(serde_json::Value::Object(map).to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_record_counts_in_the_priced_units_noun() {
        assert_eq!(super::consumed_unit("1,000,000 events"), "events");
        assert_eq!(super::consumed_unit("GB"), "GB");
        assert_eq!(super::pricing_unit("1,000,000 events"), "1000000 events");
        assert_eq!(super::pricing_unit("GB"), "GB");
        assert_eq!(super::price_details("retention_days=7").as_deref(), Some(r#"{"retention_days":"7"}"#));
        assert_eq!(super::price_details(""), None);
    }
}
