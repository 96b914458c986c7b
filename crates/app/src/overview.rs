//! The Billing Center's overview of one account: balances and standing, this month's spend
//! and last month's, a daily spend series by billable item, and the month's largest
//! workspaces and items. Amounts are minor units of the account's currency.

use std::collections::BTreeMap;

use billing::Month;
use billing::period::next_day;
use jiff::Timestamp;
use jiff::ToSpan;
use jiff::civil::Date;

use crate::context::load_account;
use crate::{Account, App, AppError, Result};

/// The longest daily chart.
pub const MAX_CHART_DAYS: i32 = 366;

#[derive(Clone, Debug)]
pub struct Overview {
    pub account: Account,
    /// The account's billing day at the moment asked.
    pub today: Date,
    pub cash: i64,
    /// Usable today: active and not past their validity.
    pub coupons: i64,
    pub cards: i64,
    pub arrears: i64,
    /// The day an overdue account will be suspended unless it repays.
    pub suspends_on: Option<Date>,
    pub month: Month,
    /// Gross of this month's lines so far.
    pub month_to_date: i64,
    pub last_month_total: i64,
    /// The chart's days `[from, to)`, each with its gross by item (items in `items` order).
    pub chart_from: Date,
    pub chart_to: Date,
    pub items: Vec<String>,
    pub daily: Vec<(Date, Vec<i64>)>,
    /// This month's gross by workspace and by item, largest first.
    pub top_workspaces: Vec<(String, i64)>,
    pub top_items: Vec<(String, i64)>,
    /// The annual packages in force today or later, earliest first.
    pub packages: Vec<store::PackageRow>,
    /// The resource packs with volume left that are valid today or later, oldest first.
    pub packs: Vec<store::PackRow>,
    /// Coupons and cards with a balance that can pay today and expire within
    /// `EXPIRING_SOON_DAYS` (today counted), soonest first, with their days left.
    pub expiring: Vec<(store::InstrumentRow, i64)>,
}

fn largest_first(sums: BTreeMap<String, i64>) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = sums.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

impl App {
    /// The overview at `now`, with a daily chart of the `chart_days` days up to yesterday (in
    /// the account's zone) or of `[from, to]` when both are given.
    pub async fn overview(&self, now: Timestamp, account_id: &str, chart_days: i32, range: Option<(Date, Date)>) -> Result<Overview> {
        if !(1..=MAX_CHART_DAYS).contains(&chart_days) {
            return Err(AppError::invalid("days", format!("must be 1 to {MAX_CHART_DAYS}")));
        }
        let mut tx = self.store.read().await?;
        let account = load_account(&mut tx, account_id).await?;
        let today = account.today(now);
        let (chart_from, chart_to) = match range {
            Some((from, to)) if from > to => return Err(AppError::invalid("from", format!("{from} is after {to}"))),
            Some((from, to)) if (to - from).get_days() >= MAX_CHART_DAYS => {
                return Err(AppError::invalid("to", format!("a chart shows at most {MAX_CHART_DAYS} days")));
            }
            Some((from, to)) => (from, next_day(to)),
            None => (today.checked_sub(chart_days.days()).map_err(|e| AppError::invalid("days", e.to_string()))?, today),
        };
        let month = Month::of(today);
        let last = month.previous();
        // The months' figures from their running totals, the chart summed by the database:
        // an account of millions of lines a month is not read line by line.
        let groups = tx.account_month_groups(account_id).await?;
        let daily = tx.daily_item_gross(account_id, chart_from, chart_to).await?;
        let instruments = tx.instruments(account_id).await?;
        let mut packages: Vec<store::PackageRow> =
            tx.packages_between(account_id, account_id).await?.into_iter().filter(|p| p.end_day > today).collect();
        packages.sort_by_key(|p| p.start_day);
        let packs: Vec<store::PackRow> =
            tx.packs(Some(account_id)).await?.into_iter().filter(|p| p.remaining > 0 && p.valid_until >= today).collect();
        tx.commit().await?;

        let mut expiring: Vec<(store::InstrumentRow, i64)> = instruments
            .iter()
            .filter(|i| crate::lists::expires_soon(i, today))
            .map(|i| (i.clone(), crate::lists::days_left(i, today)))
            .collect();
        expiring.sort_by_key(|(i, _)| (i.valid_until, i.instrument_id));
        let usable = |cards: bool| crate::lists::usable_balance(&instruments, today, cards);
        let mut o = Overview {
            cash: account.row.cash,
            coupons: usable(false),
            cards: usable(true),
            arrears: -account.row.cash.min(0),
            suspends_on: account.suspends_on(),
            account,
            today,
            month,
            month_to_date: 0,
            last_month_total: 0,
            chart_from,
            chart_to,
            items: Vec::new(),
            daily: Vec::new(),
            top_workspaces: Vec::new(),
            top_items: Vec::new(),
            packages,
            packs,
            expiring,
        };
        let (this_text, last_text) = (month.to_string(), last.to_string());
        let (mut workspaces, mut items) = (BTreeMap::new(), BTreeMap::new());
        for g in &groups {
            if g.month == this_text {
                o.month_to_date += g.totals.gross;
                *workspaces.entry(g.workspace_id.clone()).or_insert(0) += g.totals.gross;
                *items.entry(g.item.clone()).or_insert(0) += g.totals.gross;
            } else if g.month == last_text {
                o.last_month_total += g.totals.gross;
            }
        }
        let mut by_day: BTreeMap<Date, BTreeMap<&str, i64>> = BTreeMap::new();
        for (day, item, gross) in &daily {
            *by_day.entry(*day).or_default().entry(item.as_str()).or_insert(0) += gross;
        }
        let mut chart_items: BTreeMap<&str, i64> = BTreeMap::new();
        for sums in by_day.values() {
            for (item, gross) in sums {
                *chart_items.entry(item).or_insert(0) += gross;
            }
        }
        o.items = largest_first(chart_items.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()).into_iter().map(|(k, _)| k).collect();
        let mut day = chart_from;
        while day < chart_to {
            let sums = by_day.get(&day);
            o.daily.push((day, o.items.iter().map(|i| sums.and_then(|s| s.get(i.as_str())).copied().unwrap_or(0)).collect()));
            day = next_day(day);
        }
        o.top_workspaces = largest_first(workspaces);
        o.top_items = largest_first(items);
        Ok(o)
    }
}
