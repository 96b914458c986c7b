//! Tax invoices customers request against what they paid, and cash refunds: each one database
//! transaction, the rules in `billing::tax_invoice`.

use billing::{
    Amount, Book, InvoiceableBalance, Month, TaxInvoiceDecision, TaxInvoiceError, TaxInvoiceKind, TaxInvoiceStatus, Transaction,
};
use export::{Cell, Table};
use jiff::Timestamp;
use store::{CashRefundRow, EventRow, TaxInvoicePdfRow, TaxInvoiceRow, Tx};

use crate::context::{Account, LedgerWriter, load_account, parse_date};
use crate::lists::month_arg;
use crate::{App, AppError, Result};

/// What a customer asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaxInvoiceRequest {
    pub amount: String,
    /// Months (`YYYY-MM`) to draw on; every month with an issued invoice when empty.
    pub months: Vec<String>,
    /// `ordinary` (default) or `special_vat`.
    pub kind: String,
    pub title: String,
    pub tax_id: String,
    /// Required for a special VAT invoice.
    pub address: String,
    pub email: String,
}

/// What an operator decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Issued with the tax authority's number, on a day (`YYYY-MM-DD`; today when empty), with
    /// the tax invoice's PDF when the operator has it at hand (see `attach_tax_invoice_pdf`).
    Issue {
        invoice_no: String,
        issued_on: String,
        pdf: Option<Vec<u8>>,
    },
    Reject {
        reason: String,
    },
    /// A red-letter reversal of an issued tax invoice.
    Reverse {
        reason: String,
    },
}

/// What a refund did, for the caller to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundReceipt {
    pub refund: CashRefundRow,
    pub amount: String,
    pub cash_after: String,
    /// What the refund took off the invoiceable amount.
    pub invoiceable_reduced: String,
}

/// A text field a person typed: trimmed, not empty, at most `max` characters, no control
/// characters.
fn text_field(field: &str, text: &str, max: usize, required: bool) -> Result<String> {
    let t = text.trim();
    if required && t.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    if t.chars().count() > max {
        return Err(AppError::invalid(field, format!("is longer than {max} characters")));
    }
    if t.chars().any(char::is_control) {
        return Err(AppError::invalid(field, "holds control characters"));
    }
    Ok(t.to_owned())
}

/// A taxpayer id: 15 to 20 letters and digits (the unified social credit code has 18).
fn tax_id(text: &str) -> Result<String> {
    let t = text.trim().to_ascii_uppercase();
    if !(15..=20).contains(&t.len()) || !t.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(AppError::invalid("tax_id", format!("`{}` is not 15 to 20 letters and digits", text.trim())));
    }
    Ok(t)
}

fn email(text: &str) -> Result<String> {
    let t = text.trim();
    let ok = t.len() <= 254
        && !t.chars().any(|c| c.is_whitespace() || c.is_control())
        && t.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.starts_with('.'));
    if !ok {
        return Err(AppError::invalid("email", format!("`{t}` is not an email address")));
    }
    Ok(t.to_owned())
}

/// The largest tax invoice PDF taken: an electronic tax invoice is some tens of kilobytes.
pub const MAX_PDF_BYTES: usize = 4 * 1024 * 1024;

/// Checks that a file is a PDF before it is stored: the PDF header at its start, the end-of-file
/// marker in its last kilobyte, and at most `MAX_PDF_BYTES`.
pub fn check_pdf(content: &[u8]) -> Result<()> {
    if content.len() > MAX_PDF_BYTES {
        return Err(AppError::invalid("pdf", format!("is {} bytes, over the {MAX_PDF_BYTES}-byte limit", content.len())));
    }
    let tail = &content[content.len().saturating_sub(1024)..];
    if !content.starts_with(b"%PDF-") || !tail.windows(5).any(|w| w == b"%%EOF") {
        return Err(AppError::invalid("pdf", "is not a PDF file (no %PDF- header or no %%EOF at its end)"));
    }
    Ok(())
}

fn pdf_row(account_id: &str, request_no: i64, content: Vec<u8>, now: Timestamp) -> TaxInvoicePdfRow {
    let sha256 = crate::operator::sha256_hex(&content);
    TaxInvoicePdfRow { account_id: account_id.to_owned(), request_no, content, sha256, attached_at: now }
}

/// The event that a tax invoice's PDF is there to download.
fn pdf_event(account: &mut Account, row: &TaxInvoiceRow, bytes: usize, now: Timestamp) -> EventRow {
    let number = row.invoice_no.as_deref().unwrap_or_default();
    event(account, "tax_invoice.pdf_attached", now, format!("request {} {number} PDF of {bytes} bytes", row.request_no))
}

fn drawn_text(draw: &[(Month, Amount)]) -> Vec<(String, i64)> {
    draw.iter().map(|(m, a)| (m.to_string(), a.minor())).collect()
}

/// An account's invoiceable balance as stored: its issued invoices and the draws that count.
async fn balance_of(tx: &mut Tx, account_id: &str) -> Result<InvoiceableBalance> {
    let month = |text: &str| Month::parse(text).ok_or_else(|| AppError::Store(store::StoreError::Corrupt(format!("month `{text}`"))));
    let mut months = Vec::new();
    for inv in tx.invoices(account_id).await? {
        months.push((month(&inv.month)?, Amount(inv.invoiceable)));
    }
    let mut balance = InvoiceableBalance::new(months);
    for d in tx.invoiceable_draws(Some(account_id)).await?.into_iter().filter(|d| d.counts) {
        if d.source == "refund" {
            balance.add_refund(month(&d.month)?, Amount(d.amount));
        } else {
            balance.add_draw(month(&d.month)?, Amount(d.amount));
        }
    }
    Ok(balance)
}

fn domain_error(account: &Account, e: TaxInvoiceError) -> AppError {
    match e {
        TaxInvoiceError::NotPositive => AppError::invalid("amount", "must be positive"),
        TaxInvoiceError::NoInvoice { month } => AppError::invalid("months", format!("{month} has no issued invoice to draw on")),
        TaxInvoiceError::MoreThanAvailable { asked, available } => AppError::InsufficientFunds {
            field: "amount",
            available: format!("{} invoiceable", account.currency.format(available)),
            required: account.currency.format(asked),
        },
        TaxInvoiceError::NotAllowed { status, decision } => {
            AppError::invalid("status", format!("a request that is {status} cannot be {decision}d"))
        }
    }
}

/// An event of the account, numbered from its counter, dated today in its zone.
pub(crate) fn event(account: &mut Account, kind: &str, now: Timestamp, detail: String) -> EventRow {
    EventRow {
        account_id: account.row.account_id.clone(),
        event_no: store::take(&mut account.row.counters.next_event),
        kind: kind.to_owned(),
        happened_on: account.today(now),
        created_at: now,
        detail,
    }
}

impl App {
    /// A customer's request for a tax invoice: its amount drawn from the chosen months (oldest
    /// first) and held until an operator issues or rejects it.
    pub async fn request_tax_invoice(&self, now: Timestamp, account_id: &str, req: &TaxInvoiceRequest) -> Result<TaxInvoiceRow> {
        let kind_text = if req.kind.trim().is_empty() { "ordinary" } else { req.kind.trim() };
        let kind = TaxInvoiceKind::parse(kind_text)
            .ok_or_else(|| AppError::invalid("kind", format!("`{kind_text}` is not ordinary or special_vat")))?;
        let title = text_field("title", &req.title, 200, true)?;
        let tax_id = tax_id(&req.tax_id)?;
        let address = text_field("address", &req.address, 300, kind == TaxInvoiceKind::SpecialVat)?;
        let email = email(&req.email)?;
        let months: Vec<Month> = req.months.iter().map(|m| month_arg("months", m.trim())).collect::<Result<_>>()?;
        let mut tx = self.store.begin().await?;
        let mut account = load_account(&mut tx, account_id).await?;
        let amount = account.currency.parse_amount(&req.amount).map_err(|e| AppError::invalid("amount", e.to_string()))?;
        let balance = balance_of(&mut tx, account_id).await?;
        let draw = balance.draw(amount, (!months.is_empty()).then_some(months.as_slice())).map_err(|e| domain_error(&account, e))?;
        let row = TaxInvoiceRow {
            account_id: account_id.to_owned(),
            request_no: tx.next_tax_invoice_no(account_id).await?,
            amount: amount.minor(),
            kind: kind.as_str().to_owned(),
            title,
            tax_id,
            address,
            email,
            status: TaxInvoiceStatus::Requested.as_str().to_owned(),
            requested_at: now,
            decided_at: None,
            invoice_no: None,
            issued_on: None,
            reason: None,
            pdf_sha256: None,
        };
        tx.insert_tax_invoice(&row, &drawn_text(&draw)).await?;
        let detail = format!("request {} {}", row.request_no, account.currency.format(amount));
        let ev = event(&mut account, "tax_invoice.requested", now, detail);
        tx.insert_events(&[ev]).await?;
        tx.update_account(&account.row).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// An operator's decision on a request: issue or reject it, or reverse an issued one.
    pub async fn decide_tax_invoice(
        &self,
        now: Timestamp,
        account_id: &str,
        request_no: i64,
        decision: &Decision,
    ) -> Result<TaxInvoiceRow> {
        if let Decision::Issue { pdf: Some(pdf), .. } = decision {
            check_pdf(pdf)?;
        }
        let mut tx = self.store.begin().await?;
        let mut account = load_account(&mut tx, account_id).await?;
        let mut row = request(&mut tx, account_id, request_no).await?;
        let status = TaxInvoiceStatus::parse(&row.status)
            .ok_or_else(|| AppError::Store(store::StoreError::Corrupt(format!("tax invoice status `{}`", row.status))))?;
        let (kind, event_kind) = match decision {
            Decision::Issue { .. } => (TaxInvoiceDecision::Issue, "tax_invoice.issued"),
            Decision::Reject { .. } => (TaxInvoiceDecision::Reject, "tax_invoice.rejected"),
            Decision::Reverse { .. } => (TaxInvoiceDecision::Reverse, "tax_invoice.reversed"),
        };
        let next = status.decide(kind).map_err(|e| domain_error(&account, e))?;
        let mut attached = None;
        match decision {
            Decision::Issue { invoice_no, issued_on, pdf } => {
                row.invoice_no = Some(text_field("number", invoice_no, 64, true)?);
                let day = if issued_on.trim().is_empty() { account.today(now) } else { parse_date("issued_on", issued_on)? };
                row.issued_on = Some(day.to_string());
                if let Some(pdf) = pdf {
                    let stored = pdf_row(account_id, request_no, pdf.clone(), now);
                    tx.put_tax_invoice_pdf(&stored).await?;
                    row.pdf_sha256 = Some(stored.sha256);
                    attached = Some(pdf.len());
                }
            }
            Decision::Reject { reason } | Decision::Reverse { reason } => row.reason = Some(text_field("reason", reason, 500, true)?),
        }
        row.status = next.as_str().to_owned();
        row.decided_at = Some(now);
        if !tx.decide_tax_invoice(&row, status.as_str()).await? {
            return Err(AppError::invalid("status", format!("request {request_no} was decided by another operator at the same time")));
        }
        let detail = format!("request {request_no} {}", account.currency.format(Amount(row.amount)));
        let mut events = vec![event(&mut account, event_kind, now, detail)];
        if let Some(bytes) = attached {
            events.push(pdf_event(&mut account, &row, bytes, now));
        }
        tx.insert_events(&events).await?;
        tx.update_account(&account.row).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Attaches the PDF of an issued tax invoice (as the tax authority's system produced it),
    /// replacing one attached before.
    pub async fn attach_tax_invoice_pdf(
        &self,
        now: Timestamp,
        account_id: &str,
        request_no: i64,
        content: Vec<u8>,
    ) -> Result<TaxInvoiceRow> {
        check_pdf(&content)?;
        let mut tx = self.store.begin().await?;
        let mut account = load_account(&mut tx, account_id).await?;
        let mut row = request(&mut tx, account_id, request_no).await?;
        if row.status != TaxInvoiceStatus::Issued.as_str() {
            return Err(AppError::invalid(
                "status",
                format!("request {request_no} is {}: only an issued tax invoice takes a PDF", row.status),
            ));
        }
        let ev = pdf_event(&mut account, &row, content.len(), now);
        let stored = pdf_row(account_id, request_no, content, now);
        tx.put_tax_invoice_pdf(&stored).await?;
        row.pdf_sha256 = Some(stored.sha256);
        tx.insert_events(&[ev]).await?;
        tx.update_account(&account.row).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The PDF attached to a tax invoice, with the request it belongs to.
    pub async fn tax_invoice_pdf(&self, account_id: &str, request_no: i64) -> Result<(TaxInvoiceRow, TaxInvoicePdfRow)> {
        let mut tx = self.store.read().await?;
        load_account(&mut tx, account_id).await?;
        let row = request(&mut tx, account_id, request_no).await?;
        let pdf = tx
            .tax_invoice_pdf(account_id, request_no)
            .await?
            .ok_or_else(|| AppError::NotFound { what: "tax invoice PDF", key: format!("{account_id} {request_no}") })?;
        tx.commit().await?;
        Ok((row, pdf))
    }

    /// Pays cash back to a customer (at most its cash balance). The refunded amount is no
    /// longer invoiceable, as far as tax invoices do not already hold it.
    pub async fn refund(&self, now: Timestamp, account_id: &str, amount: &str, reason: &str) -> Result<RefundReceipt> {
        let reason = text_field("reason", reason, 500, true)?;
        let mut tx = self.store.begin().await?;
        let mut account = load_account(&mut tx, account_id).await?;
        let amount = account.currency.parse_amount(amount).map_err(|e| AppError::invalid("amount", e.to_string()))?;
        if !amount.is_positive() {
            return Err(AppError::invalid("amount", "must be positive"));
        }
        if amount.minor() > account.row.cash {
            return Err(AppError::InsufficientFunds {
                field: "amount",
                available: account.currency.format(Amount(account.row.cash.max(0))),
                required: account.currency.format(amount),
            });
        }
        let balance = balance_of(&mut tx, account_id).await?;
        let reduction = balance.refund_reduction(amount);
        let row = &mut account.row;
        let refund_no = tx.next_refund_no(account_id).await?;
        let mut ledger = LedgerWriter::new(&row.account_id, [(Book::Cash, row.cash)]);
        let document = format!("REFUND-{refund_no}");
        let tx_no = ledger.post(row, &Transaction::cash_refund(amount), now, &document, &reason);
        row.cash -= amount.minor();
        let refund = CashRefundRow { account_id: account_id.to_owned(), refund_no, amount: amount.minor(), reason, tx_no, created_at: now };
        ledger.write(&mut tx).await?;
        tx.insert_cash_refund(&refund, &drawn_text(&reduction)).await?;
        tx.update_account(&account.row).await?;
        tx.commit().await?;
        let reduced: Amount = reduction.iter().map(|(_, a)| *a).sum();
        Ok(RefundReceipt {
            refund,
            amount: account.currency.format(amount),
            cash_after: account.currency.format(Amount(account.row.cash)),
            invoiceable_reduced: account.currency.format(reduced),
        })
    }

    /// An account's invoiceable amounts by issued month and what is drawn on them.
    pub async fn invoiceable_balance(&self, account_id: &str) -> Result<InvoiceableBalance> {
        let mut tx = self.store.read().await?;
        load_account(&mut tx, account_id).await?;
        let balance = balance_of(&mut tx, account_id).await?;
        tx.commit().await?;
        Ok(balance)
    }

    /// The tax invoice requests of an account, oldest first.
    pub async fn tax_invoice_requests(&self, account_id: &str) -> Result<Vec<TaxInvoiceRow>> {
        let mut tx = self.store.read().await?;
        load_account(&mut tx, account_id).await?;
        let rows = tx.tax_invoices(Some(account_id)).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// The tax invoice requests of an account, newest first, optionally of one status.
    pub async fn list_tax_invoices(&self, account_id: &str, status: Option<&str>) -> Result<Table> {
        if let Some(s) = status.filter(|s| TaxInvoiceStatus::parse(s).is_none()) {
            let all: Vec<&str> = TaxInvoiceStatus::ALL.iter().map(|s| s.as_str()).collect();
            return Err(AppError::invalid("status", format!("`{s}` is not one of {}", all.join(", "))));
        }
        let mut tx = self.store.read().await?;
        let account = load_account(&mut tx, account_id).await?;
        let rows = tx.tax_invoices(Some(account_id)).await?;
        let draws = tx.invoiceable_draws(Some(account_id)).await?;
        tx.commit().await?;
        let zone = &account.row.time_zone;
        let mut table = Table::new(&[
            "request no",
            &format!("amount ({})", account.currency.code()),
            "status",
            "pdf sha256",
            "kind",
            "title",
            "tax id",
            "months",
            &format!("requested at ({zone})"),
            "tax invoice no",
            "issued on",
            "reason",
            "email",
            "address",
        ])
        .with_totals(&["amount"]);
        for r in rows.iter().rev().filter(|r| status.is_none_or(|s| s == r.status)) {
            let months: Vec<&str> =
                draws.iter().filter(|d| d.source == "tax_invoice" && d.source_no == r.request_no).map(|d| d.month.as_str()).collect();
            table.push(vec![
                Cell::number(r.request_no.to_string()),
                Cell::money(account.currency.format(Amount(r.amount))),
                Cell::text(r.status.clone()),
                Cell::text(r.pdf_sha256.clone().unwrap_or_default()),
                Cell::text(r.kind.clone()),
                Cell::text(r.title.clone()),
                Cell::text(r.tax_id.clone()),
                Cell::text(months.join(" ")),
                Cell::time(r.requested_at.to_zoned(account.tz.clone()).datetime()),
                Cell::text(r.invoice_no.clone().unwrap_or_default()),
                Cell::text(r.issued_on.clone().unwrap_or_default()),
                Cell::text(r.reason.clone().unwrap_or_default()),
                Cell::text(r.email.clone()),
                Cell::text(r.address.clone()),
            ]);
        }
        Ok(table)
    }

    /// Each issued month's invoiceable amount, what tax invoices hold of it, what refunds took
    /// and what is left, oldest first.
    pub async fn invoiceable(&self, account_id: &str) -> Result<Table> {
        let mut tx = self.store.read().await?;
        let account = load_account(&mut tx, account_id).await?;
        let balance = balance_of(&mut tx, account_id).await?;
        tx.commit().await?;
        let c = account.currency.code();
        let mut table = Table::new(&["month", &format!("invoiceable ({c})"), "held or invoiced", "refunded", "available"]).with_totals(&[
            "invoiceable",
            "held_or_invoiced",
            "refunded",
            "available",
        ]);
        let money = |a: Amount| Cell::money(account.currency.format(a));
        for (month, total, drawn, refunded, left) in balance.months() {
            table.push(vec![Cell::text(month.to_string()), money(total), money(drawn), money(refunded), money(left)]);
        }
        Ok(table)
    }
}

async fn request(tx: &mut Tx, account_id: &str, request_no: i64) -> Result<TaxInvoiceRow> {
    tx.tax_invoice(account_id, request_no)
        .await?
        .ok_or_else(|| AppError::NotFound { what: "tax invoice request", key: format!("{account_id} {request_no}") })
}

/// What `verify` finds wrong with tax invoices and refunds: a month drawn beyond its
/// invoiceable amount, a request whose months do not add up to its amount, a refund that took
/// more than itself. Returns how many accounts were checked.
pub(crate) async fn invoiceable_problems(tx: &mut Tx) -> Result<(usize, Vec<String>)> {
    let draws = tx.invoiceable_draws(None).await?;
    let mut accounts: Vec<&str> = draws.iter().map(|d| d.account_id.as_str()).collect();
    accounts.dedup();
    let mut problems = Vec::new();
    for account_id in &accounts {
        for (month, left) in balance_of(tx, account_id).await?.overdrawn() {
            problems.push(format!("{account_id} {month}: drawn {} minor units beyond its invoiceable amount", -left.minor()));
        }
        let sum = |source: &str, no: i64| {
            draws.iter().filter(|d| d.account_id == *account_id && d.source == source && d.source_no == no).map(|d| d.amount).sum::<i64>()
        };
        for r in tx.tax_invoices(Some(account_id)).await? {
            if sum("tax_invoice", r.request_no) != r.amount {
                problems.push(format!(
                    "{account_id} tax invoice request {}: its months hold {} of {}",
                    r.request_no,
                    sum("tax_invoice", r.request_no),
                    r.amount
                ));
            }
        }
        for r in tx.cash_refunds(account_id).await? {
            if sum("refund", r.refund_no) > r.amount {
                problems.push(format!(
                    "{account_id} refund {}: took {} off the invoiceable amount, more than its {}",
                    r.refund_no,
                    sum("refund", r.refund_no),
                    r.amount
                ));
            }
        }
    }
    Ok((accounts.len(), problems))
}

/// What `verify` finds wrong with tax invoice PDFs: content that is not what its SHA-256 says
/// (changed after it was attached). Returns how many PDFs were checked.
pub(crate) async fn pdf_problems(tx: &mut Tx) -> Result<(usize, Vec<String>)> {
    let mut problems = Vec::new();
    // One PDF in memory at a time.
    let pdfs = tx.tax_invoice_pdf_keys().await?;
    for (account_id, request_no) in &pdfs {
        let pdf = tx.tax_invoice_pdf(account_id, *request_no).await?.expect("a listed PDF is there in the same transaction");
        let found = crate::operator::sha256_hex(&pdf.content);
        if found != pdf.sha256 {
            problems.push(format!("{account_id} tax invoice request {request_no}: its PDF hashes to {found}, not {}", pdf.sha256));
        }
    }
    Ok((pdfs.len(), problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pdf_is_taken_by_its_header_and_end_marker_up_to_the_limit() {
        let pdf = |body: &[u8]| [b"%PDF-1.7\n".as_slice(), body, b"\n%%EOF\n"].concat();
        assert!(check_pdf(&pdf(b"")).is_ok());
        // The end marker may be followed by a little trailing data, as some writers leave.
        assert!(check_pdf(&[pdf(b"x").as_slice(), &[b' '; 500]].concat()).is_ok());
        let refused = |bytes: &[u8]| matches!(check_pdf(bytes), Err(AppError::Invalid { field, .. }) if field == "pdf");
        assert!(refused(b""));
        assert!(refused(b"hello, not a pdf"));
        assert!(refused(b"%PDF-1.7\nno end marker"));
        assert!(refused(&[b"%%EOF".as_slice(), b"%PDF-1.7"].concat()), "the header comes first");
        assert!(refused(&[pdf(b"x").as_slice(), &[b' '; 2000]].concat()), "the end marker is in the last kilobyte");
        let filler = vec![b'0'; MAX_PDF_BYTES - pdf(b"").len()];
        assert!(check_pdf(&pdf(&filler)).is_ok(), "exactly the limit");
        assert!(refused(&pdf(&[filler.as_slice(), b"0"].concat())), "one byte over");
    }
}
