//! Resource packs: bought (paid upfront by the waterfall, without arrears) or granted, drawn on
//! by the nightly run after an annual package's quota and before pay-as-you-go
//! (`billing::pack`), listed with their volume left and days left.

use std::collections::{HashMap, HashSet};

use billing::money::from_scaled;
use billing::{Amount, Charge, ChargeType, Quantity, Validity};
use export::{Cell, Table};
use jiff::Timestamp;
use jiff::civil::Date;
use store::{PackRow, Tx};

use crate::context::{load_account, load_catalog, parse_date};
use crate::funds::{pay_upfront, purchase_line};
use crate::lists::EXPIRING_SOON_DAYS;
use crate::tax_invoice::event;
use crate::usage::QUANTITY_SCALE;
use crate::{App, AppError, Result};

/// How a pack was acquired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackOrigin {
    /// Paid by the customer's funds: a `resource_pack` expense line.
    Bought,
    /// Given by an operator: no money moves.
    Granted,
}

impl PackOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            PackOrigin::Bought => "bought",
            PackOrigin::Granted => "granted",
        }
    }
}

/// A pack's status as the customer reads it on `today`.
pub fn pack_status(p: &PackRow, today: Date) -> &'static str {
    if p.remaining == 0 {
        "used_up"
    } else if today > p.valid_until {
        "expired"
    } else if today < p.valid_from {
        "not_yet_valid"
    } else {
        "active"
    }
}

pub const PACK_STATUSES: [&str; 4] = ["active", "not_yet_valid", "used_up", "expired"];

/// A stored quantity (scaled by 10^6) as the plain decimal it is, such as a pack's volume.
pub fn quantity_text(v: i64) -> String {
    from_scaled(v, QUANTITY_SCALE).normalize().to_string()
}

impl App {
    /// Buys (`Bought`) or grants (`Granted`) a pack of catalog offer `offer`, valid from
    /// `start` (today in the account's zone when `None`) for the offer's months. A bought pack
    /// is paid now, coupons then cards then cash, and may not create arrears.
    pub async fn add_pack(
        &self,
        now: Timestamp,
        account_id: &str,
        offer: &str,
        start: Option<&str>,
        origin: PackOrigin,
    ) -> Result<PackRow> {
        let mut tx = self.store.begin().await?;
        let catalog = load_catalog(&mut tx).await?;
        let offer = catalog.pack(offer).map_err(|e| AppError::invalid("pack", e.to_string()))?;
        let mut account = load_account(&mut tx, account_id).await?;
        let today = account.today(now);
        let start = match start {
            Some(text) => parse_date("start", text)?,
            None => today,
        };
        if start < today {
            return Err(AppError::invalid("start", format!("{start} is in the past (today is {today} in {})", account.row.time_zone)));
        }
        let validity = offer.validity(start);
        let pack_no = tx.next_pack_no(account_id).await?;
        let document = format!("RP-{pack_no}");
        let price = match origin {
            PackOrigin::Bought => {
                let coupon_eligible = catalog.item(&offer.item).map(|i| i.coupon_eligible).unwrap_or(true);
                let charge = Charge { day: today, item: &offer.item, coupon_eligible, amount: offer.price };
                let remark = format!("resource pack {}", offer.name);
                let deduction = pay_upfront(&mut tx, &mut account, &charge, "pack", &document, &remark, now).await?;
                let exponent = account.currency.exponent();
                let line = purchase_line(
                    &mut account.row,
                    today,
                    ChargeType::ResourcePack,
                    &offer.code,
                    offer.price,
                    &deduction,
                    &document,
                    exponent,
                );
                tx.insert_lines(&[line]).await?;
                offer.price
            }
            PackOrigin::Granted => Amount::ZERO,
        };
        let row = PackRow {
            account_id: account_id.to_owned(),
            pack_no,
            offer: offer.code.clone(),
            item: offer.item.clone(),
            volume: offer.volume.0,
            remaining: offer.volume.0,
            valid_from: validity.from,
            valid_until: validity.until,
            origin: origin.as_str().to_owned(),
            price: price.minor(),
            created_at: now,
        };
        tx.insert_pack(&row).await?;
        let kind = match origin {
            PackOrigin::Bought => "resource_pack.bought",
            PackOrigin::Granted => "resource_pack.granted",
        };
        let detail = format!(
            "{document} {} {} {} valid {} to {}",
            offer.code,
            quantity_text(offer.volume.0),
            offer.item,
            validity.from,
            validity.until
        );
        tx.insert_events(&[event(&mut account, kind, now, detail)]).await?;
        tx.update_account(&account.row).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The packs list: volume, used and remaining, validity, days left, expiring soon; oldest
    /// first (as every list; the pages show the newest first), optionally only those of one
    /// status.
    pub async fn list_packs(&self, now: Timestamp, account_id: &str, status: Option<&str>) -> Result<Table> {
        if let Some(s) = status.filter(|s| !PACK_STATUSES.contains(s)) {
            return Err(AppError::invalid("status", format!("`{s}` is not one of {}", PACK_STATUSES.join(", "))));
        }
        let mut tx = self.store.read().await?;
        let account = load_account(&mut tx, account_id).await?;
        let packs = tx.packs(Some(account_id)).await?;
        let catalog = load_catalog(&mut tx).await?;
        tx.commit().await?;
        let today = account.today(now);
        let c = account.currency.code();
        let mut table = Table::new(&[
            "pack no",
            "pack",
            "item",
            "volume",
            "used",
            "remaining",
            "unit",
            "used percent",
            "valid from",
            "valid until",
            &format!("acquired at ({})", account.row.time_zone),
            "origin",
            &format!("price ({c})"),
            "status",
            "days left",
            "expiring soon",
        ])
        .with_totals(&["price"]);
        for p in &packs {
            let st = pack_status(p, today);
            if status.is_some_and(|s| s != st) {
                continue;
            }
            let left = if st == "active" || st == "not_yet_valid" {
                Validity { from: p.valid_from, until: p.valid_until }.days_left(today)
            } else {
                0
            };
            let soon = if st == "active" && left <= EXPIRING_SOON_DAYS { "yes" } else { "" };
            let pack = billing::Pack {
                no: p.pack_no,
                item: p.item.clone(),
                validity: Validity { from: p.valid_from, until: p.valid_until },
                volume: Quantity(p.volume),
                remaining: Quantity(p.remaining),
            };
            let name = catalog.packs.get(&p.offer).map(|o| o.name.clone()).unwrap_or_else(|| p.offer.clone());
            let unit = catalog.items.get(&p.item).map(|i| i.unit.clone()).unwrap_or_default();
            table.push(vec![
                Cell::text(format!("RP-{}", p.pack_no)),
                Cell::text(name),
                Cell::text(p.item.clone()),
                Cell::number(quantity_text(p.volume)),
                Cell::number(quantity_text(p.volume - p.remaining)),
                Cell::number(quantity_text(p.remaining)),
                Cell::text(unit),
                Cell::number(pack.used_percent().to_string()),
                Cell::date(p.valid_from),
                Cell::date(p.valid_until),
                Cell::time(p.created_at.to_zoned(account.tz.clone()).datetime()),
                Cell::text(p.origin.clone()),
                Cell::money(account.currency.format(Amount(p.price))),
                Cell::text(st),
                Cell::number(left.to_string()),
                Cell::text(soon),
            ]);
        }
        Ok(table)
    }
}

/// What `verify` finds wrong with packs: a pack whose remaining volume is not its volume less
/// its draws, a `resource_pack` line whose quantity is not the sum of its draws, a draw on a
/// line that does not exist. Returns how many packs were checked.
pub(crate) async fn pack_problems(tx: &mut Tx) -> Result<(usize, Vec<String>)> {
    let packs = tx.packs(None).await?;
    let draws = tx.pack_draws(None).await?;
    let lines = tx.pack_lines(None).await?;
    // What the draws took, by (account, pack) and by (account, line).
    let mut by_pack: HashMap<(&str, i64), i64> = HashMap::new();
    let mut by_line: HashMap<(&str, i64), i64> = HashMap::new();
    for d in &draws {
        *by_pack.entry((d.account_id.as_str(), d.pack_no)).or_default() += d.quantity;
        *by_line.entry((d.account_id.as_str(), d.line_no)).or_default() += d.quantity;
    }
    let mut problems = Vec::new();
    for p in &packs {
        let drawn = by_pack.get(&(p.account_id.as_str(), p.pack_no)).copied().unwrap_or(0);
        if p.volume - drawn != p.remaining {
            problems.push(format!(
                "{} RP-{}: volume {} less draws {} is not its remaining {}",
                p.account_id,
                p.pack_no,
                quantity_text(p.volume),
                quantity_text(drawn),
                quantity_text(p.remaining)
            ));
        }
    }
    for (account_id, line_no, quantity) in &lines {
        let drawn = by_line.get(&(account_id.as_str(), *line_no)).copied().unwrap_or(0);
        if drawn != *quantity {
            problems.push(format!(
                "{account_id} line {line_no}: covered {} by resource packs, its draws give {}",
                quantity_text(*quantity),
                quantity_text(drawn)
            ));
        }
    }
    let lines: HashSet<(&str, i64)> = lines.iter().map(|(a, n, _)| (a.as_str(), *n)).collect();
    let pack_nos: HashSet<(&str, i64)> = packs.iter().map(|p| (p.account_id.as_str(), p.pack_no)).collect();
    for d in &draws {
        if !lines.contains(&(d.account_id.as_str(), d.line_no)) {
            problems.push(format!("{} line {}: a draw on RP-{} without its resource_pack line", d.account_id, d.line_no, d.pack_no));
        }
        if !pack_nos.contains(&(d.account_id.as_str(), d.pack_no)) {
            problems.push(format!("{} line {}: a draw on RP-{}, which does not exist", d.account_id, d.line_no, d.pack_no));
        }
    }
    Ok((packs.len(), problems))
}
