//! Whole-store reads for `verify` and the run's checks.

use super::*;

impl Tx {
    /// Transactions whose postings do not sum to zero, and how many transactions there are.
    pub async fn unbalanced_transactions(&mut self) -> Result<(i64, Vec<(String, i64, i64)>)> {
        on!(self, conn => {
            let count: i64 = sqlx::query::<Db>("SELECT COUNT(*) FROM ledger_tx").fetch_one(&mut *conn).await?.get(0);
            let rows =
                sqlx::query::<Db>("SELECT account_id, tx_no, CAST(SUM(amount) AS BIGINT) FROM ledger_entry GROUP BY account_id, tx_no HAVING CAST(SUM(amount) AS BIGINT) <> 0")
                    .fetch_all(&mut *conn)
                    .await?;
            Ok((count, rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect()))
        })
    }

    /// Every fund entry of the accounts from `first` to `last` (inclusive) in posting order per
    /// fund: (account, book, fund id, amount, balance after).
    pub async fn fund_entries(&mut self, first: &str, last: &str) -> Result<Vec<(String, String, i64, i64, Option<i64>)>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT account_id, book, fund_id, amount, balance_after FROM ledger_entry \
                 WHERE account_id BETWEEN $1 AND $2 AND book IN ('cash', 'coupon', 'card') \
                 ORDER BY account_id, book, fund_id, tx_no, entry_no",
            )
            .bind(first)
            .bind(last)
            .fetch_all(&mut *conn)
            .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))).collect())
        })
    }

    /// Every instrument of the accounts from `first` to `last` (inclusive).
    pub async fn instruments_between(&mut self, first: &str, last: &str) -> Result<Vec<InstrumentRow>> {
        on!(self, conn => {
            let sql = format!(
                "SELECT {} FROM instrument WHERE account_id BETWEEN $1 AND $2 ORDER BY account_id, instrument_id",
                Self::INSTRUMENT_COLUMNS
            );
            let rows = sqlx::query::<Db>(sqlx::AssertSqlSafe(sql)).bind(first).bind(last).fetch_all(&mut *conn).await?;
            rows.iter().map(Self::instrument_row).collect()
        })
    }

    /// Lines whose amount differs from their deductions plus arrears, and how many lines there are.
    pub async fn unsettled_lines(&mut self) -> Result<(i64, Vec<(String, i64)>)> {
        on!(self, conn => {
            let count: i64 = sqlx::query::<Db>("SELECT COUNT(*) FROM expense_line").fetch_one(&mut *conn).await?.get(0);
            let rows = sqlx::query::<Db>("SELECT account_id, line_no FROM expense_line WHERE gross <> coupon + card + cash + arrears")
                .fetch_all(&mut *conn)
                .await?;
            Ok((count, rows.iter().map(|r| (r.get(0), r.get(1))).collect()))
        })
    }

    /// Line numbers an account uses for more than one line (the key is account, billing day
    /// and line: the database does not keep numbers unique by itself).
    pub async fn reused_line_numbers(&mut self) -> Result<Vec<(String, i64)>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT account_id, line_no FROM expense_line GROUP BY account_id, line_no HAVING COUNT(*) > 1 ORDER BY account_id, line_no",
            )
            .fetch_all(&mut *conn)
            .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    /// Expense line totals per account and month, and running totals per account and month.
    pub async fn month_totals_everywhere(&mut self) -> Result<(Vec<(String, String, TotalsRow)>, Vec<(String, String, TotalsRow)>)> {
        on!(self, conn => {
            let totals = |r: &<Db as sqlx::Database>::Row| r.totals_at(2);
            let lines = sqlx::query::<Db>(
                "SELECT account_id, SUBSTR(billing_day, 1, 7), CAST(SUM(gross) AS BIGINT), CAST(SUM(rounding_discount) AS BIGINT), CAST(SUM(coupon) AS BIGINT), CAST(SUM(card) AS BIGINT), CAST(SUM(cash) AS BIGINT), CAST(SUM(arrears) AS BIGINT) \
                 FROM expense_line GROUP BY account_id, SUBSTR(billing_day, 1, 7)",
            )
            .fetch_all(&mut *conn)
            .await?;
            let invoiced = sqlx::query::<Db>(
                "SELECT account_id, month, CAST(SUM(gross) AS BIGINT), CAST(SUM(rounding_discount) AS BIGINT), CAST(SUM(coupon) AS BIGINT), CAST(SUM(card) AS BIGINT), CAST(SUM(cash) AS BIGINT), CAST(SUM(arrears) AS BIGINT) \
                 FROM month_line_total GROUP BY account_id, month",
            )
            .fetch_all(&mut *conn)
            .await?;
            Ok((
                lines.iter().map(|r| (r.get(0), r.get(1), totals(r))).collect(),
                invoiced.iter().map(|r| (r.get(0), r.get(1), totals(r))).collect(),
            ))
        })
    }

    /// Every invoice of every account.
    pub async fn all_invoices(&mut self) -> Result<Vec<InvoiceRow>> {
        let ids: Vec<String> = on!(self, conn => {
            let rows = sqlx::query::<Db>("SELECT DISTINCT account_id FROM invoice ORDER BY account_id").fetch_all(&mut *conn).await?;
            rows.iter().map(|r| r.get(0)).collect()
        });
        let mut all = Vec::new();
        for id in ids {
            all.extend(self.invoices(&id).await?);
        }
        Ok(all)
    }

    /// Daily bills whose total differs from the sum of the lines they settled.
    pub async fn mismatched_daily_bills(&mut self) -> Result<(i64, Vec<(String, String)>)> {
        on!(self, conn => {
            let count: i64 = sqlx::query::<Db>("SELECT COUNT(*) FROM daily_bill").fetch_one(&mut *conn).await?.get(0);
            let rows = sqlx::query::<Db>(
                "SELECT b.account_id, b.billing_day FROM daily_bill b WHERE b.total <> (SELECT COALESCE(CAST(SUM(l.gross) AS BIGINT), 0) FROM expense_line l \
                 WHERE l.account_id = b.account_id AND l.document = 'DB-' || REPLACE(b.billing_day, '-', ''))",
            )
            .fetch_all(&mut *conn)
            .await?;
            Ok((count, rows.iter().map(|r| (r.get(0), r.get(1))).collect()))
        })
    }

    /// Every account's daily bill total for one billing day.
    /// What every account's pay-as-you-go lines of one billing day came to: gross, coupon,
    /// card, cash and arrears, in minor units, by account id.
    pub async fn day_paid(&mut self, day: Date) -> Result<Vec<(String, [i64; 5])>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT account_id, CAST(SUM(gross) AS BIGINT), CAST(SUM(coupon) AS BIGINT), CAST(SUM(card) AS BIGINT), \
                 CAST(SUM(cash) AS BIGINT), CAST(SUM(arrears) AS BIGINT) FROM expense_line WHERE billing_day = $1 AND charge_type = 'pay_as_you_go' \
                 GROUP BY account_id ORDER BY account_id",
            )
            .bind(day_text(day))
            .fetch_all(&mut *conn)
            .await?;
            Ok(rows.iter().map(|r| (r.get(0), [r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)])).collect())
        })
    }

    pub async fn count_accounts(&mut self) -> Result<i64> {
        on!(self, conn => {
            let row = sqlx::query::<Db>("SELECT COUNT(*) FROM billing_account").fetch_one(&mut *conn).await?;
            Ok(row.get(0))
        })
    }

    pub async fn insert_events(&mut self, events: &[EventRow]) -> Result<()> {
        bulk!(self, events, "", "account event")
    }
}
