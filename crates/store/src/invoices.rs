//! Invoices, month totals, the lists' reads of lines and ledger entries, events.

use super::*;

impl Tx {
    /// Writes issued invoices and the cards they list, many per statement. An invoice's lines
    /// are its month's running totals (`month_line_totals`), frozen by issuing it.
    pub async fn insert_invoices(&mut self, invoices: &[InvoiceRow], cards: &[InvoiceCardRow]) -> Result<()> {
        on!(self, conn => {
            for chunk in invoices.chunks(INSERT_CHUNK) {
                let mut q = QueryBuilder::<Db>::new(
                    "INSERT INTO invoice (account_id, month, invoice_no, issued_at, gross, rounding_discount, coupon, card, cash, arrears, cards_total, invoiceable) ",
                );
                q.push_values(chunk, |mut b, inv| {
                    let t = &inv.totals;
                    b.push_bind(inv.account_id.as_str())
                        .push_bind(inv.month.as_str())
                        .push_bind(inv.invoice_no.as_str())
                        .push_bind(micros(inv.issued_at))
                        .push_bind(t.gross)
                        .push_bind(t.rounding_discount)
                        .push_bind(t.coupon)
                        .push_bind(t.card)
                        .push_bind(t.cash)
                        .push_bind(t.arrears)
                        .push_bind(inv.cards_total)
                        .push_bind(inv.invoiceable);
                });
                if let Err(e) = q.build().execute(&mut *conn).await {
                    return Err(if is_unique_violation(&e) {
                        let keys: Vec<String> = chunk.iter().map(|i| format!("{}/{}", i.account_id, i.month)).collect();
                        StoreError::Duplicate { what: "invoice", key: format!("one of {}", keys.join(", ")) }
                    } else {
                        e.into()
                    });
                }
            }
            for chunk in cards.chunks(INSERT_CHUNK) {
                let mut q = QueryBuilder::<Db>::new("INSERT INTO invoice_card (account_id, month, instrument_id, face_value) ");
                q.push_values(chunk, |mut b, c| {
                    b.push_bind(c.account_id.as_str()).push_bind(c.month.as_str()).push_bind(c.instrument_id).push_bind(c.face_value);
                });
                q.build().execute(&mut *conn).await?;
            }
            Ok(())
        })
    }

    /// The accounts in `[first_id, last_id]` whose invoice of `month` is issued.
    pub async fn invoiced_between(&mut self, first_id: &str, last_id: &str, month: &str) -> Result<Vec<String>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>("SELECT account_id FROM invoice WHERE account_id >= $1 AND account_id <= $2 AND month = $3")
                .bind(first_id)
                .bind(last_id)
                .bind(month)
                .fetch_all(&mut *conn)
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    pub async fn invoice_exists(&mut self, account_id: &str, month: &str) -> Result<bool> {
        on!(self, conn => {
            let row = sqlx::query::<Db>("SELECT 1 FROM invoice WHERE account_id = $1 AND month = $2")
                .bind(account_id)
                .bind(month)
                .fetch_optional(&mut *conn)
                .await?;
            Ok(row.is_some())
        })
    }

    /// A month's line sums per workspace × item × charge type of the given accounts, in
    /// (account, workspace, item, charge type) order, from the running totals.
    pub async fn month_line_totals(&mut self, account_ids: &[&str], month: &str) -> Result<Vec<InvoiceLineRow>> {
        // Each account-month's stored row parsed here (in byte order of its keys), not
        // expanded row by row by the `month_line_total` view: an account of thousands of
        // workspaces reads one row.
        let stored = self.month_total_groups(account_ids, &[month]).await?;
        let mut accounts: Vec<(String, String)> = stored.into_iter().map(|((account_id, _), text)| (account_id, text)).collect();
        accounts.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut found = Vec::new();
        for (account_id, text) in accounts {
            for ((workspace_id, item, charge_type), totals) in bulk::parse_group_totals(&account_id, month, &text)? {
                found.push(InvoiceLineRow {
                    account_id: account_id.clone(),
                    month: month.to_owned(),
                    workspace_id,
                    item,
                    charge_type,
                    totals,
                });
            }
        }
        Ok(found)
    }

    /// A month's running totals summed per account, for the given accounts, in account order.
    /// An account without lines in the month is absent. (Summed here from each account-month's
    /// row: one row read per account, not a row per group expanded by the view.)
    pub async fn month_sums(&mut self, account_ids: &[&str], month: &str) -> Result<Vec<(String, TotalsRow)>> {
        let stored = self.month_total_groups(account_ids, &[month]).await?;
        let mut found = stored
            .into_iter()
            .map(|((account_id, month), text)| {
                let groups = bulk::parse_group_totals(&account_id, &month, &text)?;
                let mut sum = TotalsRow::default();
                for totals in groups.into_values() {
                    sum += totals;
                }
                Ok((account_id, sum))
            })
            .collect::<Result<Vec<_>>>()?;
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }

    /// Every running month total whose lines do not add up to it (or lines with no total):
    /// (account, month, workspace, item, charge type, kept, summed from the lines).
    pub async fn month_total_drift(&mut self) -> Result<Vec<(InvoiceLineRow, TotalsRow)>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "WITH summed AS (SELECT account_id, SUBSTR(billing_day, 1, 7) AS month, workspace_id, item, charge_type, \
                   CAST(SUM(gross) AS BIGINT) AS gross, CAST(SUM(rounding_discount) AS BIGINT) AS rounding_discount, \
                   CAST(SUM(coupon) AS BIGINT) AS coupon, CAST(SUM(card) AS BIGINT) AS card, CAST(SUM(cash) AS BIGINT) AS cash, \
                   CAST(SUM(arrears) AS BIGINT) AS arrears \
                 FROM expense_line GROUP BY account_id, SUBSTR(billing_day, 1, 7), workspace_id, item, charge_type), \
                 keys AS (SELECT account_id, month, workspace_id, item, charge_type FROM summed \
                   UNION SELECT account_id, month, workspace_id, item, charge_type FROM month_line_total) \
                 SELECT k.account_id, k.month, k.workspace_id, k.item, k.charge_type, \
                   COALESCE(t.gross, 0), COALESCE(t.rounding_discount, 0), COALESCE(t.coupon, 0), COALESCE(t.card, 0), COALESCE(t.cash, 0), COALESCE(t.arrears, 0), \
                   COALESCE(s.gross, 0), COALESCE(s.rounding_discount, 0), COALESCE(s.coupon, 0), COALESCE(s.card, 0), COALESCE(s.cash, 0), COALESCE(s.arrears, 0) \
                 FROM keys k \
                 LEFT JOIN month_line_total t ON t.account_id = k.account_id AND t.month = k.month AND t.workspace_id = k.workspace_id AND t.item = k.item AND t.charge_type = k.charge_type \
                 LEFT JOIN summed s ON s.account_id = k.account_id AND s.month = k.month AND s.workspace_id = k.workspace_id AND s.item = k.item AND s.charge_type = k.charge_type \
                 WHERE t.account_id IS NULL OR s.account_id IS NULL OR t.gross <> s.gross OR t.rounding_discount <> s.rounding_discount \
                   OR t.coupon <> s.coupon OR t.card <> s.card OR t.cash <> s.cash OR t.arrears <> s.arrears \
                 ORDER BY k.account_id, k.month, k.workspace_id, k.item, k.charge_type",
            )
            .fetch_all(&mut *conn)
            .await?;
            Ok(rows
                .iter()
                .map(|r| (month_group_row(r), r.totals_at(11)))
                .collect())
        })
    }

    /// The gross by account, billing day and item that the line groups keep beside their lines
    /// (what the daily spend chart reads) where it differs from the lines' own sum: the number
    /// of line groups, and each difference as (account, day, item, kept, summed from the lines).
    pub async fn day_item_drift(&mut self) -> Result<(i64, Vec<(String, String, String, i64, i64)>)> {
        on!(self, conn => {
            let groups: i64 = sqlx::query_scalar::<Db, i64>("SELECT COUNT(*) FROM expense_line_group").fetch_one(&mut *conn).await?;
            let rows = sqlx::query::<Db>(
                "WITH summed AS (SELECT account_id, billing_day, item, CAST(SUM(gross) AS BIGINT) AS gross \
                   FROM expense_line GROUP BY account_id, billing_day, item), \
                 kept AS (SELECT account_id, billing_day, item, CAST(SUM(gross) AS BIGINT) AS gross \
                   FROM line_group_item_gross GROUP BY account_id, billing_day, item), \
                 keys AS (SELECT account_id, billing_day, item FROM summed UNION SELECT account_id, billing_day, item FROM kept) \
                 SELECT k.account_id, k.billing_day, k.item, COALESCE(t.gross, 0), COALESCE(s.gross, 0) \
                 FROM keys k \
                 LEFT JOIN kept t ON t.account_id = k.account_id AND t.billing_day = k.billing_day AND t.item = k.item \
                 LEFT JOIN summed s ON s.account_id = k.account_id AND s.billing_day = k.billing_day AND s.item = k.item \
                 WHERE t.account_id IS NULL OR s.account_id IS NULL OR t.gross <> s.gross \
                 ORDER BY k.account_id, k.billing_day, k.item",
            )
            .fetch_all(&mut *conn)
            .await?;
            Ok((groups, rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))).collect()))
        })
    }

    pub async fn invoices(&mut self, account_id: &str) -> Result<Vec<InvoiceRow>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT account_id, month, invoice_no, issued_at, gross, rounding_discount, coupon, card, cash, arrears, cards_total, invoiceable \
                 FROM invoice WHERE account_id = $1 ORDER BY month",
            )
            .bind(account_id)
            .fetch_all(&mut *conn)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(InvoiceRow {
                        account_id: r.get(0),
                        month: r.get(1),
                        invoice_no: r.get(2),
                        issued_at: from_micros(r.get(3))?,
                        totals: r.totals_at(4),
                        cards_total: r.get(10),
                        invoiceable: r.get(11),
                    })
                })
                .collect()
        })
    }

    /// Expense line totals per month (`YYYY-MM` of the billing day), oldest first.
    pub async fn monthly_line_totals(&mut self, account_id: &str) -> Result<Vec<(String, TotalsRow)>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT SUBSTR(billing_day, 1, 7) AS month, CAST(SUM(gross) AS BIGINT), CAST(SUM(rounding_discount) AS BIGINT), CAST(SUM(coupon) AS BIGINT), CAST(SUM(card) AS BIGINT), CAST(SUM(cash) AS BIGINT), CAST(SUM(arrears) AS BIGINT) \
                 FROM expense_line WHERE account_id = $1 GROUP BY SUBSTR(billing_day, 1, 7) ORDER BY month",
            )
            .bind(account_id)
            .fetch_all(&mut *conn)
            .await?;
            Ok(rows
                .iter()
                .map(|r| {
                    let totals = r.totals_at(1);
                    (r.get(0), totals)
                })
                .collect())
        })
    }

    /// An account's running month totals by workspace × item × charge type, every month it
    /// has lines, in month order: what its lines sum to without reading them.
    pub async fn account_month_groups(&mut self, account_id: &str) -> Result<Vec<InvoiceLineRow>> {
        let stored: Vec<(String, String)> = on!(self, conn => {
            let rows = sqlx::query::<Db>("SELECT month, totals FROM month_total_group WHERE account_id = $1 ORDER BY month")
                .bind(account_id)
                .fetch_all(&mut *conn)
                .await?;
            rows.iter().map(|r| (r.get(0), r.get(1))).collect()
        });
        let mut found = Vec::new();
        for (month, text) in stored {
            for ((workspace_id, item, charge_type), totals) in bulk::parse_group_totals(account_id, &month, &text)? {
                found.push(InvoiceLineRow {
                    account_id: account_id.to_owned(),
                    month: month.clone(),
                    workspace_id,
                    item,
                    charge_type,
                    totals,
                });
            }
        }
        Ok(found)
    }

    /// Gross by billing day and item in `[from, to)`: what a daily spend chart draws, from the
    /// sums each line group keeps (`line_group_item_gross`), not from the lines.
    pub async fn daily_item_gross(&mut self, account_id: &str, from: Date, to: Date) -> Result<Vec<(Date, String, i64)>> {
        let rows: Vec<(String, String, i64)> = on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT billing_day, item, CAST(SUM(gross) AS BIGINT) FROM line_group_item_gross \
                 WHERE account_id = $1 AND billing_day >= $2 AND billing_day < $3 GROUP BY billing_day, item ORDER BY billing_day, item",
            )
            .bind(account_id)
            .bind(day_text(from))
            .bind(day_text(to))
            .fetch_all(&mut *conn)
            .await?;
            rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect()
        });
        rows.into_iter().map(|(day, item, gross)| Ok((parse_day(&day)?, item, gross))).collect()
    }

    /// The newest lines of one billing day that a filter keeps, below line `below` when given,
    /// at most `limit` of them, newest first. Reads the day's line groups newest first and
    /// parses only as many lines from each group's end as it needs: a page of a day of tens of
    /// thousands of lines does not expand them all. (A group's lines are numbered above every
    /// earlier group's of the account: groups are runs of the lines in number order.)
    pub async fn newest_expense_lines(
        &mut self,
        account_id: &str,
        day: Date,
        filter: &LineFilter,
        below: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ExpenseLineRow>> {
        let groups: Vec<(i64, String, String, String)> = on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT first_line, usage_day, document, lines FROM expense_line_group \
                 WHERE account_id = $1 AND billing_day = $2 AND first_line < $3 ORDER BY first_line DESC",
            )
            .bind(account_id)
            .bind(day_text(day))
            .bind(below.unwrap_or(i64::MAX))
            .fetch_all(&mut *conn)
            .await?;
            rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect()
        });
        let limit = usize::try_from(limit).unwrap_or(0);
        let mut found = Vec::new();
        for (first_line, usage_day, document, lines) in &groups {
            if found.len() >= limit {
                break;
            }
            let group =
                bulk::GroupOfLines { account_id, billing_day: day, usage_day: parse_day(usage_day)?, document, first_line: *first_line };
            group.newest(lines, filter, below, limit, &mut found)?;
        }
        Ok(found)
    }

    /// The billing days before `before` (all when `None`) and from `from` on, on which the
    /// account has expense lines, newest first, at most `limit` of them.
    pub async fn expense_days_before(
        &mut self,
        account_id: &str,
        before: Option<Date>,
        from: Option<Date>,
        limit: i64,
    ) -> Result<Vec<Date>> {
        let days: Vec<String> = on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT DISTINCT billing_day FROM expense_line_group WHERE account_id = $1 AND billing_day < $2 AND billing_day >= $3 \
                 ORDER BY billing_day DESC LIMIT $4",
            )
            .bind(account_id)
            .bind(before.map_or_else(|| "9999-12-31".to_owned(), day_text))
            .bind(from.map_or_else(|| "0000-01-01".to_owned(), day_text))
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?;
            rows.iter().map(|r| r.get(0)).collect()
        });
        days.iter().map(|d| parse_day(d)).collect()
    }

    /// Expense lines of one account with billing day in `[from, to)` and optional filters,
    /// in billing day and line order.
    pub async fn expense_lines(&mut self, account_id: &str, filter: &LineFilter) -> Result<Vec<ExpenseLineRow>> {
        on!(self, conn => {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT account_id, line_no, billing_day, usage_day, workspace_id, item, dims, charge_type, quantity, covered, chargeable, \
                 priced_dims, unit_price, gross, rounding_discount, coupon, card, cash, arrears, document FROM expense_line WHERE account_id = ",
            );
            q.push_bind(account_id.to_owned());
            if let Some(from) = filter.from {
                q.push(" AND billing_day >= ").push_bind(day_text(from));
            }
            if let Some(to) = filter.to {
                q.push(" AND billing_day < ").push_bind(day_text(to));
            }
            if let Some(w) = &filter.workspace {
                q.push(" AND workspace_id = ").push_bind(w.clone());
            }
            if let Some(i) = &filter.item {
                q.push(" AND item = ").push_bind(i.clone());
            }
            if let Some(c) = &filter.charge_type {
                q.push(" AND charge_type = ").push_bind(c.clone());
            }
            q.push(" ORDER BY billing_day, line_no");
            let rows = q.build().fetch_all(&mut *conn).await?;
            rows.iter()
                .map(|r| {
                    Ok(ExpenseLineRow {
                        account_id: r.get(0),
                        line_no: r.get(1),
                        billing_day: parse_day(&r.get::<String, _>(2))?,
                        usage_day: parse_day(&r.get::<String, _>(3))?,
                        workspace_id: r.get(4),
                        item: r.get(5),
                        dims: r.get(6),
                        charge_type: r.get(7),
                        quantity: r.get(8),
                        covered: r.get(9),
                        chargeable: r.get(10),
                        priced_dims: r.get(11),
                        unit_price: r.get(12),
                        money: r.totals_at(13),
                        document: r.get(19),
                    })
                })
                .collect()
        })
    }

    /// Ledger entries of the accounts from `first` to `last` (inclusive; one account when they
    /// are the same), by account, with their transaction, posted in `[from, to)`, oldest
    /// first; `funds_only` keeps the customer's side (cash, coupons, cards).
    pub async fn ledger_entries(
        &mut self,
        (first, last): (&str, &str),
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        funds_only: bool,
    ) -> Result<Vec<(LedgerTxRow, LedgerEntryRow)>> {
        on!(self, conn => {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT t.account_id, t.tx_no, t.kind, t.posted_at, t.document, t.remark, e.entry_no, e.book, e.fund_id, e.amount, e.balance_after, \
                 t.hash FROM ledger_tx t JOIN ledger_entry e ON e.account_id = t.account_id AND e.tx_no = t.tx_no WHERE 1 = 1",
            );
            q.push(" AND t.account_id BETWEEN ").push_bind(first.to_owned()).push(" AND ").push_bind(last.to_owned());
            if let Some(from) = from {
                q.push(" AND t.posted_at >= ").push_bind(micros(from));
            }
            if let Some(to) = to {
                q.push(" AND t.posted_at < ").push_bind(micros(to));
            }
            if funds_only {
                q.push(" AND e.book IN ('cash', 'coupon', 'card')");
            }
            q.push(" ORDER BY t.account_id, t.tx_no, e.entry_no");
            let rows = q.build().fetch_all(&mut *conn).await?;
            rows.iter()
                .map(|r| {
                    let tx = LedgerTxRow {
                        account_id: r.get(0),
                        tx_no: r.get(1),
                        kind: r.get(2),
                        posted_at: from_micros(r.get(3))?,
                        document: r.get(4),
                        remark: r.get(5),
                        hash: r.get(11),
                    };
                    let entry = LedgerEntryRow {
                        account_id: tx.account_id.clone(),
                        tx_no: tx.tx_no,
                        entry_no: r.get(6),
                        book: r.get(7),
                        fund_id: r.get(8),
                        amount: r.get(9),
                        balance_after: r.get(10),
                    };
                    Ok((tx, entry))
                })
                .collect()
        })
    }

    pub async fn events(&mut self, account_id: &str) -> Result<Vec<EventRow>> {
        on!(self, conn => {
            let rows = sqlx::query::<Db>(
                "SELECT account_id, event_no, kind, happened_on, created_at, detail FROM account_event WHERE account_id = $1 ORDER BY event_no",
            )
            .bind(account_id)
            .fetch_all(&mut *conn)
            .await?;
            rows.iter().map(event_row).collect()
        })
    }
}
