//! `billcenter demo`: the demo catalog, six accounts in different situations, and hourly usage
//! generated from a fixed seed for the last N days, billed night by night as production would.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::Result;
use app::App;
use app::funds::{CardRequest, CouponRequest};
use app::run::RunOptions;
use app::usage::{QuantityText, UsageInput};
use billing::period::{billing_day, day_start, next_day};
use export::{Cell, Table};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

const CATALOG: &str = include_str!("../../../catalog/demo.toml");

/// One stream of usage: a workspace's item at a retention, with its typical daily quantity
/// (for `max` items, the typical peak).
struct Stream {
    workspace: &'static str,
    item: &'static str,
    retention: Option<&'static str>,
    daily: i64,
    max: bool,
}

const fn sum(workspace: &'static str, item: &'static str, retention: Option<&'static str>, daily: i64) -> Stream {
    Stream { workspace, item, retention, daily, max: false }
}
const fn peak(workspace: &'static str, item: &'static str, retention: Option<&'static str>, daily: i64) -> Stream {
    Stream { workspace, item, retention, daily, max: true }
}

struct DemoAccount {
    id: &'static str,
    name: &'static str,
    tz: &'static str,
    workspaces: &'static [&'static str],
    streams: Vec<Stream>,
}

fn accounts() -> Vec<DemoAccount> {
    vec![
        DemoAccount {
            id: "acme",
            name: "Acme Analytics (annual package, upgraded)",
            tz: "Asia/Shanghai",
            workspaces: &["acme-prod", "acme-stage"],
            streams: vec![
                sum("acme-prod", "log_events", Some("30"), 25_000_000),
                sum("acme-prod", "apm_traces", Some("7"), 4_000_000),
                sum("acme-prod", "rum_pv", Some("7"), 300_000),
                sum("acme-prod", "task_calls", None, 150_000),
                peak("acme-prod", "time_series", Some("14"), 6_000),
                sum("acme-prod", "sms", None, 30),
                sum("acme-stage", "log_events", Some("7"), 8_000_000),
            ],
        },
        DemoAccount {
            id: "bolt",
            name: "Bolt Mobility (runs into arrears)",
            tz: "Asia/Shanghai",
            workspaces: &["bolt-app"],
            streams: vec![
                sum("bolt-app", "log_events", Some("7"), 20_000_000),
                peak("bolt-app", "time_series", Some("7"), 10_000),
                peak("bolt-app", "network_hosts", None, 5),
                sum("bolt-app", "sms", None, 100),
            ],
        },
        DemoAccount {
            id: "cedar",
            name: "Cedar Retail (coupons and cards expire mid-month)",
            tz: "Asia/Shanghai",
            workspaces: &["cedar-shop"],
            streams: vec![
                sum("cedar-shop", "log_events", Some("7"), 10_000_000),
                sum("cedar-shop", "rum_pv", Some("14"), 100_000),
                sum("cedar-shop", "sms", None, 20),
            ],
        },
        DemoAccount {
            id: "dune",
            name: "Dune Labs (New York time)",
            tz: "America/New_York",
            workspaces: &["dune-lab"],
            streams: vec![
                sum("dune-lab", "apm_traces", Some("3"), 3_000_000),
                peak("dune-lab", "time_series", Some("30"), 2_000),
                sum("dune-lab", "data_forwarding", None, 10),
                sum("dune-lab", "scheduled_reports", None, 4),
            ],
        },
        DemoAccount {
            id: "ember",
            name: "Ember Games (four workspaces, late usage, resource pack)",
            tz: "Asia/Shanghai",
            workspaces: &["ember-api", "ember-data", "ember-ops", "ember-web"],
            streams: vec![
                sum("ember-api", "log_events", Some("14"), 15_000_000),
                sum("ember-api", "apm_traces", Some("7"), 2_000_000),
                sum("ember-web", "rum_pv", Some("7"), 400_000),
                peak("ember-web", "session_replay", None, 2_000),
                sum("ember-ops", "synthetic_tests", None, 30_000),
                sum("ember-ops", "sms", None, 40),
                sum("ember-ops", "task_calls", None, 50_000),
                sum("ember-data", "log_events", Some("60"), 4_000_000),
                sum("ember-data", "apm_profiles", Some("7"), 200_000),
            ],
        },
        DemoAccount {
            id: "fjord",
            name: "Fjord Health (prepaid cards, pays on time)",
            tz: "Asia/Shanghai",
            workspaces: &["fjord-main"],
            streams: vec![
                sum("fjord-main", "log_events", Some("3"), 12_000_000),
                peak("fjord-main", "time_series", Some("3"), 6_000),
                sum("fjord-main", "task_calls", None, 20_000),
            ],
        },
    ]
}

fn at(day: Date, hour: i8, minute: i8, tz: &TimeZone) -> Timestamp {
    day.at(hour, minute, 0, 0).to_zoned(tz.clone()).expect("valid local time").timestamp()
}

/// The hourly samples of one account-day. Quantities are integers; noise and the daily curve
/// use integer arithmetic only.
fn day_usage(account: &DemoAccount, day: Date, tz: &TimeZone, rng: &mut fastrand::Rng, suffix: &str) -> Vec<(Timestamp, UsageInput)> {
    let mut out = Vec::new();
    for s in &account.streams {
        for hour in 0..24i8 {
            let weight = if (9..21).contains(&hour) { 3 } else { 1 };
            let noise = i64::from(rng.u32(800..1200));
            let quantity = if s.max { s.daily * noise / 1000 } else { s.daily * weight * noise / (48 * 1000) };
            let timestamp = at(day, hour, 0, tz);
            let mut dimensions = BTreeMap::new();
            if let Some(r) = s.retention {
                dimensions.insert("retention_days".to_owned(), r.to_owned());
            }
            out.push((
                timestamp,
                UsageInput {
                    record_id: format!("{}-{}-{}-{}-{day}T{hour:02}{suffix}", account.id, s.workspace, s.item, s.retention.unwrap_or("-")),
                    workspace: s.workspace.to_owned(),
                    item: s.item.to_owned(),
                    timestamp: timestamp.to_string(),
                    quantity: QuantityText(quantity.to_string()),
                    dimensions,
                },
            ));
        }
    }
    out
}

pub async fn run(app: &App, documents: &Path, now: Timestamp, days: u16, seed: u64, out: &mut dyn Write) -> Result<()> {
    let home = TimeZone::get("Asia/Shanghai")?;
    let today = billing_day(now, &home);
    let start = today.checked_sub(i32::from(days).days())?;
    let t0 = at(start, 0, 5, &home);
    if app.account("acme").await.is_ok() {
        anyhow::bail!("--db: the database already holds the demo; give demo a new file");
    }
    app.import_catalog(t0, CATALOG).await?;
    let accounts = accounts();
    let mut next_ingest: BTreeMap<&str, Date> = BTreeMap::new();
    for a in &accounts {
        app.create_account(t0, a.id, a.name, "CNY", a.tz).await?;
        for w in a.workspaces {
            app.create_workspace(t0, a.id, w, None).await?;
        }
        let tz = TimeZone::get(a.tz)?;
        next_ingest.insert(a.id, next_day(billing_day(t0, &tz)));
    }
    // Mid-month expiry for cedar: the 15th of this month once it has passed, else of last month;
    // in a demo shorter than that, half-way through it (never before it starts).
    let mid = {
        let this = today.first_of_month().checked_add(14.days())?;
        let fifteenth = if today > this.checked_add(1.day())? { this } else { this.checked_sub(1.month())? };
        fifteenth.max(start.checked_add(i32::from(days / 2).days())?)
    };
    let yesterday = today.yesterday()?;
    let opening = |d: Date| -> Result<Timestamp> { Ok(at(d, 10, 0, &home)) };
    let text = |d: Date| d.to_string();

    let pb = if std::io::stderr().is_terminal() {
        ProgressBar::new(u64::from(days))
    } else {
        ProgressBar::with_draw_target(Some(u64::from(days)), ProgressDrawTarget::hidden())
    };
    pb.set_style(ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} days").expect("valid template").progress_chars("=> "));
    pb.set_message("billing");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut held_back: Vec<(Date, Vec<(usize, UsageInput)>)> = Vec::new();
    let mut records = 0usize;
    let mut day = start;
    let mut index = 0u32;
    while day <= yesterday {
        let t = opening(day)?;
        // The operators' and customers' doings of the day.
        if day == start {
            app.top_up(t, "acme", "50000.00", "bank_transfer").await?;
            app.buy_package(t, "acme", "starter", &text(day)).await?;
            app.top_up(t, "bolt", "300.00", "online").await?;
            app.top_up(t, "cedar", "1200.00", "online").await?;
            app.issue_coupon(t, "cedar", coupon("300.00", "regular", day, mid, &[])).await?;
            app.issue_coupon(t, "cedar", coupon("100.00", "discount", day, mid, &["log_events"])).await?;
            app.add_card(t, "cedar", card("500", day, mid, false)).await?;
            app.add_card(t, "cedar", card("1000", day, mid.checked_add(2.months())?, true)).await?;
            app.top_up(t, "dune", "1000.00", "bank_transfer").await?;
            app.top_up(t, "ember", "3000.00", "bank_transfer").await?;
            app.issue_coupon(t, "ember", coupon("500.00", "regular", day, day.checked_add(59.days())?, &[])).await?;
            app.top_up(t, "fjord", "6000.00", "bank_transfer").await?;
            app.add_card(t, "fjord", card("3000", day, day.checked_add(1.year())?, true)).await?;
        }
        if day.day() == 5 {
            app.top_up(t, "dune", "500.00", "bank_transfer").await?;
        }
        if day.day() == 1 {
            app.top_up(t, "cedar", "1000.00", "online").await?;
        }
        if index % 14 == 13 {
            app.top_up(t, "ember", "1500.00", "online").await?;
        }
        // acme outgrows its Starter package: it pays in and upgrades to Growth ten days ago (the
        // unused days of Starter come back to cash).
        if day == today.checked_sub(10.days())? {
            app.top_up(t, "acme", "300000.00", "bank_transfer").await?;
            app.upgrade_package(t, "acme", "growth").await?;
        }
        // Resource packs: bolt is granted 500 M log events 45 days ago (used up within the month);
        // ember buys one 20 days ago, which its log events have been drawing on since.
        if day == today.checked_sub(45.days())? {
            app.add_pack(t, "bolt", "log_events_500m", None, app::packs::PackOrigin::Granted).await?;
        }
        if day == today.checked_sub(20.days())? {
            app.add_pack(t, "ember", "log_events_500m", None, app::packs::PackOrigin::Bought).await?;
            app.add_card(t, "fjord", card("500", day, today.checked_add(5.days())?, false)).await?;
            app.issue_coupon(t, "cedar", coupon("50.00", "regular", day, today.checked_add(4.days())?, &[])).await?;
        }
        // Tax invoices: fjord asks on the 8th for everything its issued months hold (the cards
        // it bought), as a special VAT invoice; the operator issues it on the 10th with the
        // tax authority's PDF (a stand-in the demo writes).
        if day.day() == 8 {
            let available = app.invoiceable_balance("fjord").await?.available();
            if available.is_positive() {
                app.request_tax_invoice(t, "fjord", &tax_request("fjord", available, "special_vat")).await?;
            }
        }
        if day.day() == 10 {
            for r in app.tax_invoice_requests("fjord").await?.into_iter().filter(|r| r.status == "requested") {
                let number = format!("2433200000{:010}", r.request_no);
                let amount = billing::Currency::parse("CNY").expect("the demo bills in CNY").format(billing::Amount(r.amount));
                let pdf = stand_in_tax_invoice_pdf(&[
                    "Electronic tax invoice (special VAT) - demo stand-in".to_owned(),
                    format!("Number: {number}"),
                    format!("Issued on: {day}"),
                    format!("Buyer: {} / {}", r.title, r.tax_id),
                    format!("Amount with tax: CNY {amount}"),
                ]);
                let issue = app::tax_invoice::Decision::Issue { invoice_no: number, issued_on: String::new(), pdf: Some(pdf) };
                app.decide_tax_invoice(t, "fjord", r.request_no, &issue).await?;
            }
        }
        // The night after: usage of every ended account-day arrives, then the nightly run.
        let night = at(next_day(day), 0, 30, &home).min(now);
        let mut batch: Vec<(usize, UsageInput)> = Vec::new();
        for a in &accounts {
            let tz = TimeZone::get(a.tz)?;
            while let Some(d) = next_ingest.get(a.id).copied().filter(|d| day_start(next_day(*d), &tz) <= night) {
                for (_, input) in day_usage(a, d, &tz, &mut rng, "") {
                    // Some of ember's late evening logs arrive two days late.
                    let late = a.id == "ember" && input.workspace == "ember-api" && index % 10 == 5 && input.timestamp.contains("T14:");
                    if late {
                        held_back.push((next_day(next_day(day)), vec![(0, input)]));
                    } else {
                        batch.push((batch.len() + 1, input));
                    }
                }
                next_ingest.insert(a.id, next_day(d));
            }
        }
        let (due, later): (Vec<_>, Vec<_>) = held_back.into_iter().partition(|(d, _)| *d <= day);
        held_back = later;
        for (_, inputs) in due {
            batch.extend(inputs);
        }
        // A correction: usage of a day in an already invoiced month, found a week before the end.
        if day == yesterday.checked_sub(7.days())? {
            let tz = TimeZone::get("Asia/Shanghai")?;
            let old = start.checked_add(3.days())?;
            let ember = accounts.iter().find(|a| a.id == "ember").expect("ember");
            batch.extend(day_usage(ember, old, &tz, &mut rng, "-resent").into_iter().take(6).map(|(_, i)| (0, i)));
        }
        let report = app.ingest(night, batch).await?;
        anyhow::ensure!(report.rejected.is_empty(), "demo usage rejected: {:?}", report.rejected.first());
        records += report.accepted;
        app.run(night, RunOptions::default(), &mut |_, _| {}).await?;
        pb.inc(1);
        day = next_day(day);
        index += 1;
    }
    app.run(now, RunOptions::default(), &mut |_, _| {}).await?;
    // acme asks for a tax invoice of half of what its issued months hold: still to be decided.
    let available = app.invoiceable_balance("acme").await?.available();
    if available.is_positive() {
        app.request_tax_invoice(now, "acme", &tax_request("acme", billing::Amount(available.minor() / 2), "ordinary")).await?;
    }
    pb.finish_and_clear();

    writeln!(out, "demo: {} accounts, {days} days from {start} to {yesterday}, {records} usage records", accounts.len())?;
    let mut summary = Table::new(&["account", "name", "time zone", "cash (CNY)", "state", "billed through"]);
    for a in &accounts {
        let b = app.account(a.id).await?;
        summary.push(vec![
            Cell::text(a.id),
            Cell::text(a.name),
            Cell::text(a.tz),
            Cell::number(b.currency.format(billing::Amount(b.row.cash))),
            Cell::text(b.row.state.clone()),
            Cell::text(b.row.billed_through.map(|d| d.to_string()).unwrap_or_default()),
        ]);
    }
    export::write_text(&summary, out)?;

    // A document to open: acme's detailed expenses of the last whole month, as a spreadsheet.
    let month = billing::Month::of(today).previous().to_string();
    let path = documents.join(format!("demo-acme-expenses-{month}.xlsx"));
    let filter = app::lists::ExpenseFilter { month: Some(month.clone()), ..Default::default() };
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let rows = app.write_expenses(now, "acme", &filter, &format!("month={month}"), true, &mut file).await?;
    file.flush()?;
    writeln!(out, "wrote {} ({rows} expense lines of acme in {month})", path.display())?;
    // And the same month's invoice, as the PDF a finance team files (a demo shorter than the
    // current month has none yet: then the open month's provisional statement).
    let (month, doc) = match app.invoice_document("acme", &month).await {
        Ok(doc) => (month, doc),
        Err(app::AppError::NotFound { .. }) => {
            let current = billing::Month::of(today).to_string();
            (current.clone(), app.invoice_document("acme", &current).await?)
        }
        Err(e) => return Err(e.into()),
    };
    let path = documents.join(format!("demo-acme-invoice-{month}.pdf"));
    std::fs::write(&path, export::invoice_pdf(&doc)?)?;
    let status = if doc.number.is_empty() { "provisional".to_owned() } else { doc.number.clone() };
    writeln!(out, "wrote {} (acme's invoice for {month}: {status})", path.display())?;
    Ok(())
}

/// The operator the demo's invoices name as their issuer, unless one is configured.
pub fn issuer() -> export::Issuer {
    export::Issuer {
        name: "Northwind Observability Cloud Co., Ltd. (北风可观测云有限公司)".to_owned(),
        address: "88 Wensan Road, Xihu District, Hangzhou 310012, China".to_owned(),
        tax_id: "91330106MA2H4K7X3Q".to_owned(),
    }
}

/// A one-page PDF of a few lines of ASCII text: what the demo attaches where a tax authority's
/// system would have produced the tax invoice's PDF.
fn stand_in_tax_invoice_pdf(lines: &[String]) -> Vec<u8> {
    let escaped = |t: &str| t.replace('\\', "\\\\").replace('(', "\\(").replace(')', "\\)");
    let text: String = lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("BT /F1 {} Tf 56 {} Td ({}) Tj ET\n", if i == 0 { 14 } else { 11 }, 780 - 24 * i, escaped(l)))
        .collect();
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>".to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{text}endstream", text.len()),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        pdf.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes());
    pdf
}

/// A demo account's tax invoice request for `amount`, drawn from every issued month.
fn tax_request(account: &str, amount: billing::Amount, kind: &str) -> app::tax_invoice::TaxInvoiceRequest {
    let currency = billing::Currency::parse("CNY").expect("the demo bills in CNY");
    let name = accounts().into_iter().find(|a| a.id == account).map_or(account, |a| a.name);
    let title = name.split(" (").next().unwrap_or(name).to_owned();
    app::tax_invoice::TaxInvoiceRequest {
        amount: currency.format(amount),
        months: Vec::new(),
        kind: kind.to_owned(),
        title: format!("{title} Ltd."),
        tax_id: if account == "fjord" { "91330106MA2K8F0J7P".into() } else { "91310115MA1H9ACM3E".into() },
        address: if kind == "special_vat" { "12 Harbour Street, Qingdao".into() } else { String::new() },
        email: format!("finance@{account}.example"),
    }
}

fn coupon(amount: &str, kind: &str, from: Date, until: Date, items: &[&str]) -> CouponRequest {
    CouponRequest {
        amount: amount.into(),
        kind: kind.into(),
        valid_from: from.to_string(),
        valid_until: until.to_string(),
        items: items.iter().map(|i| (*i).to_owned()).collect(),
    }
}

fn card(amount: &str, from: Date, until: Date, purchase: bool) -> CardRequest {
    CardRequest { amount: amount.into(), valid_from: from.to_string(), valid_until: until.to_string(), purchase }
}

/// The demo's sign-ins: one customer user per demo account and one operator, each with a
/// fresh random password. Returns (email, password, account) to print.
pub async fn users(app: &App, now: Timestamp) -> Result<Vec<(String, String, Option<&'static str>)>> {
    let mut made = Vec::new();
    let password = || app::users::new_token()[..16].to_owned();
    let operator = ("operator@billcenter.example".to_owned(), password(), None);
    app.create_user(now, &operator.0, &operator.1, None).await?;
    made.push(operator);
    for a in accounts() {
        let user = (format!("finance@{}.example", a.id), password(), Some(a.id));
        app.create_user(now, &user.0, &user.1, user.2).await?;
        made.push(user);
    }
    Ok(made)
}
