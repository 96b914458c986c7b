//! Tax invoice requests, cash refunds and what they draw on each month's invoiceable amount
//! (migration 0012); the PDFs of issued tax invoices (migration 0016).

use jiff::Timestamp;
use sqlx::Row;

use crate::{Col, Cols, Result, Tx, from_micros, inserted, micros, on};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaxInvoiceRow {
    pub account_id: String,
    pub request_no: i64,
    pub amount: i64,
    /// `ordinary` or `special_vat`.
    pub kind: String,
    pub title: String,
    pub tax_id: String,
    pub address: String,
    pub email: String,
    /// `requested`, `issued`, `rejected` or `reversed`.
    pub status: String,
    pub requested_at: Timestamp,
    /// When it was issued or rejected (and, once reversed, when that happened).
    pub decided_at: Option<Timestamp>,
    pub invoice_no: Option<String>,
    /// The day printed on the issued tax invoice (`YYYY-MM-DD`).
    pub issued_on: Option<String>,
    /// Why it was rejected or reversed.
    pub reason: Option<String>,
    /// The SHA-256 of its attached PDF (`tax_invoice_pdf`), if one is attached; read, never
    /// written with the request.
    pub pdf_sha256: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CashRefundRow {
    pub account_id: String,
    pub refund_no: i64,
    pub amount: i64,
    pub reason: String,
    pub tx_no: i64,
    pub created_at: Timestamp,
}

/// One month's part of a request or refund (`source` is `tax_invoice` or `refund`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceableDrawRow {
    pub account_id: String,
    pub source: String,
    pub source_no: i64,
    pub month: String,
    pub amount: i64,
    /// Whether it still counts: a refund's always, a request's while requested or issued.
    pub counts: bool,
}

/// The PDF attached to an issued tax invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaxInvoicePdfRow {
    pub account_id: String,
    pub request_no: i64,
    pub content: Vec<u8>,
    /// The content's SHA-256, hex.
    pub sha256: String,
    pub attached_at: Timestamp,
}

/// A request's columns and its PDF's hash, from `tax_invoice t LEFT JOIN tax_invoice_pdf p`.
const TAX_INVOICE_COLUMNS: &str = "t.account_id, t.request_no, t.amount, t.kind, t.title, t.tax_id, t.address, t.email, t.status, \
                                   t.requested_at, t.decided_at, t.invoice_no, t.issued_on, t.reason, p.sha256";
const TAX_INVOICE_FROM: &str = "tax_invoice t LEFT JOIN tax_invoice_pdf p ON p.account_id = t.account_id AND p.request_no = t.request_no";

fn tax_invoice_row(r: &impl Cols) -> Result<TaxInvoiceRow> {
    Ok(TaxInvoiceRow {
        account_id: r.text(0),
        request_no: r.int(1),
        amount: r.int(2),
        kind: r.text(3),
        title: r.text(4),
        tax_id: r.text(5),
        address: r.text(6),
        email: r.text(7),
        status: r.text(8),
        requested_at: from_micros(r.int(9))?,
        decided_at: r.opt_int(10).map(from_micros).transpose()?,
        invoice_no: Col::<Option<String>>::col(r, 11),
        issued_on: Col::<Option<String>>::col(r, 12),
        reason: Col::<Option<String>>::col(r, 13),
        pdf_sha256: Col::<Option<String>>::col(r, 14),
    })
}

impl Tx {
    /// The next free request (`tax_invoice`) or refund (`cash_refund`) number of an account.
    async fn next_number(&mut self, table: &'static str, column: &'static str, account_id: &str) -> Result<i64> {
        let sql = format!("SELECT COALESCE(MAX({column}), 0) + 1 FROM {table} WHERE account_id = $1");
        on!(self, conn => {
            Ok(sqlx::query_scalar::<Db, i64>(sqlx::AssertSqlSafe(sql)).bind(account_id).fetch_one(&mut *conn).await?)
        })
    }

    pub async fn next_tax_invoice_no(&mut self, account_id: &str) -> Result<i64> {
        self.next_number("tax_invoice", "request_no", account_id).await
    }

    pub async fn next_refund_no(&mut self, account_id: &str) -> Result<i64> {
        self.next_number("cash_refund", "refund_no", account_id).await
    }

    /// A new request and its draws on the months.
    pub async fn insert_tax_invoice(&mut self, t: &TaxInvoiceRow, draws: &[(String, i64)]) -> Result<()> {
        on!(self, conn => {
            let result = sqlx::query::<Db>(
                "INSERT INTO tax_invoice (account_id, request_no, amount, kind, title, tax_id, address, email, status, requested_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&t.account_id)
            .bind(t.request_no)
            .bind(t.amount)
            .bind(&t.kind)
            .bind(&t.title)
            .bind(&t.tax_id)
            .bind(&t.address)
            .bind(&t.email)
            .bind(&t.status)
            .bind(micros(t.requested_at))
            .execute(&mut *conn)
            .await;
            inserted(result, "tax invoice request", || format!("{} {}", t.account_id, t.request_no))
        })?;
        self.insert_draws(&t.account_id, "tax_invoice", t.request_no, draws).await
    }

    async fn insert_draws(&mut self, account_id: &str, source: &str, source_no: i64, draws: &[(String, i64)]) -> Result<()> {
        for (month, amount) in draws {
            on!(self, conn => {
                let result = sqlx::query::<Db>(
                    "INSERT INTO invoiceable_draw (account_id, source, source_no, month, amount) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(account_id)
                .bind(source)
                .bind(source_no)
                .bind(month)
                .bind(*amount)
                .execute(&mut *conn)
                .await;
                inserted(result, "invoiceable draw", || format!("{account_id} {source} {source_no} {month}"))
            })?;
        }
        Ok(())
    }

    /// A request's new status and what decided it, if it was still in status `from`; false when
    /// another writer decided it first.
    pub async fn decide_tax_invoice(&mut self, t: &TaxInvoiceRow, from: &str) -> Result<bool> {
        let n = on!(self, conn => {
            sqlx::query::<Db>(
                "UPDATE tax_invoice SET status = $3, decided_at = $4, invoice_no = $5, issued_on = $6, reason = $7 \
                 WHERE account_id = $1 AND request_no = $2 AND status = $8",
            )
            .bind(&t.account_id)
            .bind(t.request_no)
            .bind(&t.status)
            .bind(t.decided_at.map(micros))
            .bind(&t.invoice_no)
            .bind(&t.issued_on)
            .bind(&t.reason)
            .bind(from)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Requests of one account (every account when `None`), oldest first.
    pub async fn tax_invoices(&mut self, account_id: Option<&str>) -> Result<Vec<TaxInvoiceRow>> {
        let rows: Vec<TaxInvoiceRow> = on!(self, conn => {
            let sql = format!(
                "SELECT {TAX_INVOICE_COLUMNS} FROM {TAX_INVOICE_FROM} WHERE ($1 IS NULL OR t.account_id = $1) ORDER BY t.account_id, t.request_no"
            );
            let rows = sqlx::query::<Db>(sqlx::AssertSqlSafe(sql)).bind(account_id).fetch_all(&mut *conn).await?;
            rows.iter().map(tax_invoice_row).collect::<Result<_>>()?
        });
        Ok(rows)
    }

    pub async fn tax_invoice(&mut self, account_id: &str, request_no: i64) -> Result<Option<TaxInvoiceRow>> {
        on!(self, conn => {
            let sql = format!("SELECT {TAX_INVOICE_COLUMNS} FROM {TAX_INVOICE_FROM} WHERE t.account_id = $1 AND t.request_no = $2");
            let row = sqlx::query::<Db>(sqlx::AssertSqlSafe(sql)).bind(account_id).bind(request_no).fetch_optional(&mut *conn).await?;
            row.as_ref().map(tax_invoice_row).transpose()
        })
    }

    pub async fn insert_cash_refund(&mut self, r: &CashRefundRow, draws: &[(String, i64)]) -> Result<()> {
        on!(self, conn => {
            let result = sqlx::query::<Db>(
                "INSERT INTO cash_refund (account_id, refund_no, amount, reason, tx_no, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&r.account_id)
            .bind(r.refund_no)
            .bind(r.amount)
            .bind(&r.reason)
            .bind(r.tx_no)
            .bind(micros(r.created_at))
            .execute(&mut *conn)
            .await;
            inserted(result, "cash refund", || format!("{} {}", r.account_id, r.refund_no))
        })?;
        self.insert_draws(&r.account_id, "refund", r.refund_no, draws).await
    }

    pub async fn cash_refunds(&mut self, account_id: &str) -> Result<Vec<CashRefundRow>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT account_id, refund_no, amount, reason, tx_no, created_at FROM cash_refund WHERE account_id = $1 ORDER BY refund_no",
            )
            .bind(account_id)
            .fetch_all(&mut *conn)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(CashRefundRow {
                        account_id: r.get(0),
                        refund_no: r.get(1),
                        amount: r.get(2),
                        reason: r.get(3),
                        tx_no: r.get(4),
                        created_at: from_micros(r.get(5))?,
                    })
                })
                .collect()
        })
    }

    /// Every draw of one account (every account when `None`), with whether it still counts.
    pub async fn invoiceable_draws(&mut self, account_id: Option<&str>) -> Result<Vec<InvoiceableDrawRow>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT d.account_id, d.source, d.source_no, d.month, d.amount, \
                   CASE WHEN d.source = 'refund' OR t.status IN ('requested', 'issued') THEN 1 ELSE 0 END \
                 FROM invoiceable_draw d \
                 LEFT JOIN tax_invoice t ON d.source = 'tax_invoice' AND t.account_id = d.account_id AND t.request_no = d.source_no \
                 WHERE ($1 IS NULL OR d.account_id = $1) ORDER BY d.account_id, d.source, d.source_no, d.month",
            )
            .bind(account_id)
            .fetch_all(&mut *conn)
            .await?;
            Ok(rows
                .iter()
                .map(|r| InvoiceableDrawRow {
                    account_id: r.get(0),
                    source: r.get(1),
                    source_no: r.get(2),
                    month: r.get(3),
                    amount: r.get(4),
                    counts: r.get::<i32, _>(5) == 1,
                })
                .collect())
        })
    }

    /// Attaches a tax invoice's PDF, replacing one attached before.
    pub async fn put_tax_invoice_pdf(&mut self, p: &TaxInvoicePdfRow) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>(
                "INSERT INTO tax_invoice_pdf (account_id, request_no, content, sha256, attached_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (account_id, request_no) DO UPDATE SET content = excluded.content, sha256 = excluded.sha256, \
                 attached_at = excluded.attached_at",
            )
            .bind(&p.account_id)
            .bind(p.request_no)
            .bind(&p.content)
            .bind(&p.sha256)
            .bind(micros(p.attached_at))
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }

    pub async fn tax_invoice_pdf(&mut self, account_id: &str, request_no: i64) -> Result<Option<TaxInvoicePdfRow>> {
        on!(self, conn => {
            let row = sqlx::query::<Db>(
                "SELECT account_id, request_no, content, sha256, attached_at FROM tax_invoice_pdf WHERE account_id = $1 AND request_no = $2",
            )
            .bind(account_id)
            .bind(request_no)
            .fetch_optional(&mut *conn)
            .await?;
            row.map(|r| {
                Ok(TaxInvoicePdfRow {
                    account_id: r.get(0),
                    request_no: r.get(1),
                    content: r.get(2),
                    sha256: r.get(3),
                    attached_at: from_micros(r.get(4))?,
                })
            })
            .transpose()
        })
    }

    /// Every attached PDF's account and request, in key order.
    pub async fn tax_invoice_pdf_keys(&mut self) -> Result<Vec<(String, i64)>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>("SELECT account_id, request_no FROM tax_invoice_pdf ORDER BY account_id, request_no")
                .fetch_all(&mut *conn)
                .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }
}
