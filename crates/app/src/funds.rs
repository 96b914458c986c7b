//! Funds: top-ups, coupons, prepaid cards and annual packages.

use billing::{Amount, Book, Charge, ChargeType, Standing, Transaction, Validity};
use jiff::Timestamp;
use jiff::ToSpan;
use store::{EventRow, ExpenseLineRow, InstrumentRow, PackageRow};

use crate::context::{LedgerWriter, funds_of, instrument_book, load_account, load_catalog, parse_date};
use crate::{App, AppError, Result};

pub const TOP_UP_CHANNELS: [&str; 3] = ["bank_transfer", "online", "manual_adjustment"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponRequest {
    pub amount: String,
    pub kind: String,
    pub valid_from: String,
    pub valid_until: String,
    /// Billable items the coupon may pay; empty for all.
    pub items: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRequest {
    pub amount: String,
    pub valid_from: String,
    pub valid_until: String,
    /// Bought with cash (true) or granted by the operator (false).
    pub purchase: bool,
}

/// A coupon or card just created, with its face value formatted in the account currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInstrument {
    pub row: InstrumentRow,
    pub face_value: String,
}

/// What a funds operation did, for the caller to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundsReceipt {
    pub account_id: String,
    pub document: String,
    pub amount: String,
    pub cash_after: String,
    pub state: String,
}

pub(crate) fn state_event(
    account_id: &str,
    next_event: &mut i64,
    change: billing::StateChange,
    day: jiff::civil::Date,
    now: Timestamp,
) -> EventRow {
    EventRow {
        account_id: account_id.to_owned(),
        event_no: store::take(next_event),
        kind: change.event().to_owned(),
        happened_on: day,
        created_at: now,
        detail: String::new(),
    }
}

impl App {
    /// Adds cash. Arrears are repaid first, simply because cash rises from below zero.
    pub async fn top_up(&self, now: Timestamp, account_id: &str, amount: &str, channel: &str) -> Result<FundsReceipt> {
        if !TOP_UP_CHANNELS.contains(&channel) {
            return Err(AppError::invalid("channel", format!("`{channel}` is not one of {}", TOP_UP_CHANNELS.join(", "))));
        }
        let mut tx = self.store.begin().await?;
        let mut account = load_account(&mut tx, account_id).await?;
        let amount = account.currency.parse_amount(amount).map_err(|e| AppError::invalid("amount", e.to_string()))?;
        if !amount.is_positive() {
            return Err(AppError::invalid("amount", "must be positive"));
        }
        let today = account.today(now);
        let row = &mut account.row;
        let mut ledger = LedgerWriter::new(&row.account_id, [(Book::Cash, row.cash)]);
        let document = format!("TOPUP-{}", row.counters.next_tx);
        ledger.post(row, &Transaction::top_up(amount), now, &document, &format!("channel: {channel}"));
        row.cash += amount.minor();
        let mut standing = standing_of(row)?;
        let mut events = Vec::new();
        if let Some(change) = standing.update(Amount(row.cash), today) {
            events.push(state_event(&row.account_id, &mut row.counters.next_event, change, today, now));
        }
        set_standing(row, standing);
        ledger.write(&mut tx).await?;
        tx.insert_events(&events).await?;
        tx.update_account(row).await?;
        tx.commit().await?;
        Ok(FundsReceipt {
            account_id: account_id.to_owned(),
            document,
            amount: account.currency.format(amount),
            cash_after: account.currency.format(Amount(account.row.cash)),
            state: account.row.state.clone(),
        })
    }

    pub async fn issue_coupon(&self, now: Timestamp, account_id: &str, req: CouponRequest) -> Result<NewInstrument> {
        let mut tx = self.store.begin().await?;
        let issued = issue_coupon_in(&mut tx, now, account_id, &req, "issued").await?;
        tx.commit().await?;
        Ok(issued)
    }

    /// Sells (with positive cash) or grants a prepaid card. Denominations are whole multiples
    /// of 100 of the currency, at least 100.
    pub async fn add_card(&self, now: Timestamp, account_id: &str, req: CardRequest) -> Result<NewInstrument> {
        let mut tx = self.store.begin().await?;
        let mut account = load_account(&mut tx, account_id).await?;
        let currency = account.currency;
        let amount = currency.parse_amount(&req.amount).map_err(|e| AppError::invalid("amount", e.to_string()))?;
        let hundred = 100 * 10i64.pow(currency.exponent());
        if amount.minor() < hundred || amount.minor() % hundred != 0 {
            return Err(AppError::invalid("amount", format!("a card's denomination is a multiple of 100 {currency} (at least 100)")));
        }
        let validity = validity(&req.valid_from, &req.valid_until)?;
        let row = &mut account.row;
        if req.purchase && row.cash < amount.minor() {
            return Err(AppError::InsufficientFunds {
                field: "amount",
                available: currency.format(Amount(row.cash.max(0))),
                required: currency.format(amount),
            });
        }
        let id = store::take(&mut row.counters.next_instrument);
        let instrument = InstrumentRow {
            account_id: row.account_id.clone(),
            instrument_id: id,
            kind: "card".into(),
            origin: if req.purchase { "purchased" } else { "granted" }.into(),
            code: format!("PC-{id}"),
            face_value: amount.minor(),
            balance: amount.minor(),
            valid_from: validity.from,
            valid_until: validity.until,
            scope: None,
            active: true,
            created_at: now,
        };
        let mut ledger = LedgerWriter::new(&row.account_id, [(Book::Cash, row.cash)]);
        let (posting, remark) = if req.purchase {
            row.cash -= amount.minor();
            (Transaction::card_purchased(id, amount), "prepaid card bought with cash")
        } else {
            (Transaction::card_granted(id, amount), "prepaid card granted")
        };
        ledger.post(row, &posting, now, &instrument.code, remark);
        tx.insert_instrument(&instrument).await?;
        ledger.write(&mut tx).await?;
        tx.update_account(row).await?;
        tx.commit().await?;
        Ok(NewInstrument { row: instrument, face_value: account.currency.format(amount) })
    }

    /// Sells an annual package: paid upfront (coupons, cards, cash; never arrears), it grants
    /// its daily quotas for one year from `start`.
    pub async fn buy_package(&self, now: Timestamp, account_id: &str, plan: &str, start: &str) -> Result<PackageRow> {
        let mut tx = self.store.begin().await?;
        let catalog = load_catalog(&mut tx).await?;
        let plan = catalog.package(plan).map_err(|e| AppError::invalid("package", e.to_string()))?;
        let mut account = load_account(&mut tx, account_id).await?;
        let start = parse_date("start", start)?;
        let today = account.today(now);
        if start < today {
            return Err(AppError::invalid("start", format!("{start} is in the past (today is {today} in {})", account.row.time_zone)));
        }
        let package = sell_package(&mut tx, &mut account, plan, start, now, false).await?;
        tx.update_account(&account.row).await?;
        tx.commit().await?;
        Ok(package)
    }

    /// Upgrades the annual package in force today to a dearer plan: the old one ends today and
    /// its unused days are credited to cash pro rata by day (`billing::package::unused_credit`,
    /// an `annual_package` line of minus the credit); the new one starts today and is paid like
    /// a purchase. A cheaper plan is a downgrade: it is bought for the next term instead.
    pub async fn upgrade_package(&self, now: Timestamp, account_id: &str, plan: &str) -> Result<PackageUpgrade> {
        let mut tx = self.store.begin().await?;
        let catalog = load_catalog(&mut tx).await?;
        let plan = catalog.package(plan).map_err(|e| AppError::invalid("package", e.to_string()))?;
        let mut account = load_account(&mut tx, account_id).await?;
        let today = account.today(now);
        let first = account.id().to_owned();
        let held = tx.packages_between(&first, &first).await?;
        let Some(old) = held.into_iter().find(|p| p.start_day <= today && today < p.end_day) else {
            return Err(AppError::invalid("package", format!("no annual package is in force on {today}")));
        };
        if old.plan == plan.code {
            return Err(AppError::invalid("package", format!("{} is the package in force", plan.code)));
        }
        if plan.price.minor() <= old.price {
            return Err(AppError::invalid(
                "package",
                format!(
                    "{} costs no more than {}: a downgrade takes effect at the next term (buy it to start on {})",
                    plan.code, old.plan, old.end_day
                ),
            ));
        }
        let credit = billing::package::unused_credit(Amount(old.price), old.start_day, old.end_day, today);
        let document = format!("PKG-{}", old.package_no);
        tx.end_package(account.id(), old.package_no, today).await?;
        if credit.is_positive() {
            let row = &mut account.row;
            let mut ledger = LedgerWriter::new(&row.account_id, [(Book::Cash, row.cash)]);
            let remark = format!("unused days of annual package {} after {today}", old.plan);
            ledger.post(row, &Transaction::refund(credit), now, &document, &remark);
            row.cash += credit.minor();
            let line = ExpenseLineRow {
                account_id: row.account_id.clone(),
                line_no: store::take(&mut row.counters.next_line),
                billing_day: today,
                usage_day: today,
                workspace_id: String::new(),
                item: old.plan.clone(),
                dims: String::new(),
                charge_type: ChargeType::AnnualPackage.as_str().to_owned(),
                quantity: 0,
                covered: 0,
                chargeable: 0,
                priced_dims: String::new(),
                unit_price: None,
                money: store::TotalsRow {
                    gross: -credit.minor(),
                    rounding_discount: 0,
                    coupon: 0,
                    card: 0,
                    cash: -credit.minor(),
                    arrears: 0,
                },
                document,
            };
            tx.insert_lines(&[line]).await?;
            ledger.write(&mut tx).await?;
        }
        let new = sell_package(&mut tx, &mut account, plan, today, now, old.auto_renew).await?;
        tx.update_account(&account.row).await?;
        tx.commit().await?;
        Ok(PackageUpgrade { ended: PackageRow { end_day: today, ..old }, new, credit: account.currency.format(credit) })
    }
}

impl App {
    /// Buys the next term of the account's latest package (of the same plan, or of `plan`: a
    /// downgrade or an upgrade from the next term on), starting the day the latest ends (today
    /// if that has passed). The new term renews itself if the latest did.
    pub async fn renew_package(&self, now: Timestamp, account_id: &str, plan: Option<&str>) -> Result<PackageRow> {
        let mut tx = self.store.begin().await?;
        let catalog = load_catalog(&mut tx).await?;
        let mut account = load_account(&mut tx, account_id).await?;
        let first = account.id().to_owned();
        let latest = tx.packages_between(&first, &first).await?.into_iter().max_by_key(|p| p.end_day);
        let Some(latest) = latest else {
            return Err(AppError::invalid("package", "the account has no annual package to renew"));
        };
        let code = plan.unwrap_or(&latest.plan);
        let plan = catalog.package(code).map_err(|e| AppError::invalid("package", e.to_string()))?;
        let start = latest.end_day.max(account.today(now));
        let package = sell_package(&mut tx, &mut account, plan, start, now, latest.auto_renew).await?;
        tx.update_account(&account.row).await?;
        tx.commit().await?;
        Ok(package)
    }

    /// Sets whether the account's latest package renews itself for another year at its end
    /// (the nightly run buys the next term when it bills the last day covered; reminders go out
    /// 30 and 7 days before the end either way).
    pub async fn set_package_auto_renew(&self, account_id: &str, auto_renew: bool) -> Result<PackageRow> {
        let mut tx = self.store.begin().await?;
        let account = load_account(&mut tx, account_id).await?;
        let first = account.id().to_owned();
        let Some(latest) = tx.packages_between(&first, &first).await?.into_iter().max_by_key(|p| p.end_day) else {
            return Err(AppError::invalid("package", "the account has no annual package"));
        };
        tx.set_package_auto_renew(account_id, latest.package_no, auto_renew).await?;
        tx.commit().await?;
        Ok(PackageRow { auto_renew, ..latest })
    }
}

/// What an upgrade did: the package it ended (on its new end day), the one it started, and the
/// credit for the ended one's unused days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageUpgrade {
    pub ended: PackageRow,
    pub new: PackageRow,
    pub credit: String,
}

/// Sells `plan` from `start` for one year inside the caller's transaction: refused when it
/// overlaps a package held, paid by the waterfall without arrears, its purchase an
/// `annual_package` line. The caller writes the account row.
async fn sell_package(
    tx: &mut store::Tx,
    account: &mut crate::Account,
    plan: &billing::PackagePlan,
    start: jiff::civil::Date,
    now: Timestamp,
    auto_renew: bool,
) -> Result<PackageRow> {
    let today = account.today(now);
    let end = start.checked_add(1.year()).map_err(|e| AppError::invalid("start", e.to_string()))?;
    let first = account.id().to_owned();
    for held in tx.packages_between(&first, &first).await? {
        if held.start_day < end && start < held.end_day {
            return Err(AppError::invalid(
                "start",
                format!("overlaps package {} ({}, {} to {})", held.package_no, held.plan, held.start_day, held.end_day),
            ));
        }
    }
    let package_no = store::take(&mut account.row.counters.next_package);
    let document = format!("PKG-{package_no}");
    let charge = Charge { day: today, item: &plan.code, coupon_eligible: true, amount: plan.price };
    let deduction = pay_upfront(tx, account, &charge, "package", &document, &format!("annual package {}", plan.name), now).await?;
    let row = &mut account.row;
    let line = package_line(row, today, plan, &deduction, &document, account.currency.exponent());
    let package = PackageRow {
        account_id: row.account_id.clone(),
        package_no,
        plan: plan.code.clone(),
        start_day: start,
        end_day: end,
        price: plan.price.minor(),
        purchased_at: now,
        auto_renew,
    };
    tx.insert_package(&package).await?;
    tx.insert_lines(&[line]).await?;
    Ok(package)
}

/// Pays `charge` now by the waterfall without arrears (coupons, then cards, then cash) inside
/// the caller's transaction: the ledger's deduction under `document`, the instruments' new
/// balances and the account's cash (the caller writes the account row). Refused with
/// `insufficient_funds` on `field` when the funds cannot pay all of it.
pub(crate) async fn pay_upfront(
    tx: &mut store::Tx,
    account: &mut crate::Account,
    charge: &Charge<'_>,
    field: &'static str,
    document: &str,
    remark: &str,
    now: Timestamp,
) -> Result<billing::Deduction> {
    let instruments: Vec<InstrumentRow> = tx.instruments(account.id()).await?.into_iter().filter(|i| i.active).collect();
    let mut funds = funds_of(account.row.cash, &instruments)?;
    let mut draws = Vec::new();
    let deduction = funds.deduct(charge, false, &mut draws).map_err(|billing::DeductionError::InsufficientFunds { short }| {
        AppError::InsufficientFunds {
            field,
            available: account.currency.format(charge.amount - short),
            required: account.currency.format(charge.amount),
        }
    })?;
    let row = &mut account.row;
    let mut ledger = LedgerWriter::new(
        &row.account_id,
        std::iter::once((Book::Cash, row.cash)).chain(instruments.iter().map(|i| (instrument_book(i), i.balance))),
    );
    ledger.post(row, &Transaction::deduction(std::slice::from_ref(&deduction), &draws), now, document, remark);
    for i in &instruments {
        let after = funds.instruments.iter().find(|f| f.id == i.instrument_id).expect("same instruments").balance.minor();
        if after != i.balance {
            tx.update_instrument(&i.account_id, i.instrument_id, after, true).await?;
        }
    }
    row.cash = funds.cash.minor();
    ledger.write(tx).await?;
    Ok(deduction)
}

/// The expense line of a package bought (or renewed) on `day`: one package at its price, paid
/// as `deduction` says, numbered from the account's counter.
pub(crate) fn package_line<S: for<'a> From<&'a str>>(
    row: &mut store::AccountRow,
    day: jiff::civil::Date,
    plan: &billing::PackagePlan,
    deduction: &billing::Deduction,
    document: &str,
    currency_exponent: u32,
) -> ExpenseLineRow<S> {
    purchase_line(row, day, ChargeType::AnnualPackage, &plan.code, plan.price, deduction, document, currency_exponent)
}

/// The expense line of one thing bought upfront on `day` (an annual package or a resource
/// pack): no workspace, the catalog code as its item, one unit at `price`, paid as
/// `deduction` says, numbered from the account's counter.
#[allow(clippy::too_many_arguments)]
pub(crate) fn purchase_line<S: for<'a> From<&'a str>>(
    row: &mut store::AccountRow,
    day: jiff::civil::Date,
    charge_type: ChargeType,
    code: &str,
    price: Amount,
    deduction: &billing::Deduction,
    document: &str,
    currency_exponent: u32,
) -> ExpenseLineRow<S> {
    ExpenseLineRow {
        account_id: row.account_id.as_str().into(),
        line_no: store::take(&mut row.counters.next_line),
        billing_day: day,
        usage_day: day,
        workspace_id: "".into(),
        item: code.into(),
        dims: "".into(),
        charge_type: charge_type.as_str().into(),
        quantity: 1_000_000,
        covered: 0,
        chargeable: 1_000_000,
        priced_dims: "".into(),
        unit_price: Some(price.minor() * 10i64.pow(6 - currency_exponent)),
        money: store::TotalsRow {
            gross: price.minor(),
            rounding_discount: 0,
            coupon: deduction.coupon.minor(),
            card: deduction.card.minor(),
            cash: deduction.cash.minor(),
            arrears: deduction.arrears.minor(),
        },
        document: document.into(),
    }
}

/// Checks a coupon request against the catalog; returns its kind, amount and validity.
pub(crate) fn check_coupon(
    catalog: &billing::Catalog,
    currency: billing::Currency,
    req: &CouponRequest,
) -> Result<(&'static str, Amount, Validity)> {
    let kind = match req.kind.as_str() {
        "regular" => "regular",
        "discount" => "discount",
        other => return Err(AppError::invalid("kind", format!("`{other}` is not regular or discount"))),
    };
    let amount = currency.parse_amount(&req.amount).map_err(|e| AppError::invalid("amount", e.to_string()))?;
    if !amount.is_positive() {
        return Err(AppError::invalid("amount", "must be positive"));
    }
    let validity = validity(&req.valid_from, &req.valid_until)?;
    for item in &req.items {
        catalog.item(item).map_err(|e| AppError::invalid("items", e.to_string()))?;
    }
    Ok((kind, amount, validity))
}

/// Issues a coupon inside a transaction: `origin` is `issued` (by the operator) or
/// `activated` (a code redeemed by the customer).
pub(crate) async fn issue_coupon_in(
    tx: &mut store::Tx,
    now: Timestamp,
    account_id: &str,
    req: &CouponRequest,
    origin: &str,
) -> Result<NewInstrument> {
    let catalog = load_catalog(tx).await?;
    let mut account = load_account(tx, account_id).await?;
    let (kind, amount, validity) = check_coupon(&catalog, account.currency, req)?;
    let row = &mut account.row;
    let id = store::take(&mut row.counters.next_instrument);
    let instrument = InstrumentRow {
        account_id: row.account_id.clone(),
        instrument_id: id,
        kind: kind.to_owned(),
        origin: origin.to_owned(),
        code: format!("CPN-{id}"),
        face_value: amount.minor(),
        balance: amount.minor(),
        valid_from: validity.from,
        valid_until: validity.until,
        scope: (!req.items.is_empty()).then(|| req.items.join(",")),
        active: true,
        created_at: now,
    };
    let mut ledger = LedgerWriter::new(&row.account_id, []);
    ledger.post(row, &Transaction::coupon_issued(id, amount), now, &instrument.code, &format!("{kind} coupon ({origin})"));
    tx.insert_instrument(&instrument).await?;
    ledger.write(tx).await?;
    tx.update_account(row).await?;
    Ok(NewInstrument { row: instrument, face_value: account.currency.format(amount) })
}

fn validity(from: &str, until: &str) -> Result<Validity> {
    let from = parse_date("valid_from", from)?;
    let until = parse_date("valid_until", until)?;
    Validity::new(from, until).map_err(|e| AppError::invalid("valid_until", e.to_string()))
}

pub(crate) fn standing_of(row: &store::AccountRow) -> Result<Standing> {
    let state = billing::AccountState::parse(&row.state)
        .ok_or_else(|| AppError::Store(store::StoreError::Corrupt(format!("account state `{}`", row.state))))?;
    Ok(Standing { state, overdue_since: row.overdue_since })
}

pub(crate) fn set_standing(row: &mut store::AccountRow, standing: Standing) {
    row.state = standing.state.as_str().to_owned();
    row.overdue_since = standing.overdue_since;
}
