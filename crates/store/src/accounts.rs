//! The catalog in force, billing accounts and workspaces.

use super::*;

impl Tx {
    pub async fn latest_catalog(&mut self) -> Result<Option<String>> {
        on!(self, conn => {
            let row = sqlx::query::<Db>("SELECT source FROM catalog_version ORDER BY version DESC LIMIT 1").fetch_optional(&mut *conn).await?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    pub async fn insert_catalog(&mut self, source: &str, at: Timestamp) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>(
                "INSERT INTO catalog_version (version, source, imported_at) SELECT COALESCE(MAX(version), 0) + 1, $1, $2 FROM catalog_version",
            )
            .bind(source)
            .bind(micros(at))
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    }

    /// The latest billing day billed for any account, which bounds catalog changes.
    pub async fn max_billed_through(&mut self) -> Result<Option<Date>> {
        on!(self, conn => {
            let row = sqlx::query::<Db>("SELECT MAX(billed_through) FROM billing_account").fetch_one(&mut *conn).await?;
            opt_day(row.get(0))
        })
    }

    // ---- accounts and workspaces -----------------------------------------------------------

    pub async fn insert_account(&mut self, a: &AccountRow) -> Result<()> {
        on!(self, conn => {
            let result = sqlx::query::<Db>(
                "INSERT INTO billing_account (account_id, name, currency, time_zone, created_at, first_day) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&a.account_id)
            .bind(&a.name)
            .bind(&a.currency)
            .bind(&a.time_zone)
            .bind(micros(a.created_at))
            .bind(day_text(a.first_day))
            .execute(&mut *conn)
            .await;
            inserted(result, "billing account", || a.account_id.clone())
        })
    }

    pub(crate) const ACCOUNT_COLUMNS: &'static str = "account_id, name, currency, time_zone, created_at, first_day, billed_through, cash, state, overdue_since, next_line, next_tx, next_instrument, next_invoice, next_event, next_package, ledger_head";

    pub(crate) fn account_row(r: &impl Cols) -> Result<AccountRow> {
        Ok(AccountRow {
            account_id: r.col(0),
            name: r.col(1),
            currency: r.col(2),
            time_zone: r.col(3),
            created_at: from_micros(r.col(4))?,
            first_day: parse_day(&r.text(5))?,
            billed_through: opt_day(r.col(6))?,
            cash: r.col(7),
            state: r.col(8),
            overdue_since: opt_day(r.col(9))?,
            counters: Counters {
                next_line: r.col(10),
                next_tx: r.col(11),
                next_instrument: r.col(12),
                next_invoice: r.col(13),
                next_event: r.col(14),
                next_package: r.col(15),
            },
            ledger_head: r.col(16),
        })
    }

    pub async fn account(&mut self, account_id: &str) -> Result<Option<AccountRow>> {
        let lock = self.lock_clause();
        on!(self, conn => {
            let sql = format!("SELECT {} FROM billing_account WHERE account_id = $1{lock}", Self::ACCOUNT_COLUMNS);
            let row = sqlx::query::<Db>(sqlx::AssertSqlSafe(sql)).bind(account_id).fetch_optional(&mut *conn).await?;
            row.as_ref().map(Self::account_row).transpose()
        })
    }

    /// The given accounts that exist, in id order, read in chunks of sorted ids; on PostgreSQL
    /// locked in that order, as every writer locks accounts, so two transactions never wait on
    /// each other in a cycle.
    pub async fn accounts(&mut self, account_ids: &[&str]) -> Result<Vec<AccountRow>> {
        let lock = self.lock_clause();
        let mut sorted = account_ids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut found = Vec::with_capacity(sorted.len());
        for chunk in sorted.chunks(INSERT_CHUNK) {
            match &mut self.inner {
                // Read in place (see `bulk`): ingestion reads a chunk's accounts per chunk.
                TxInner::Sqlite(tx) => {
                    let sql = format!(
                        "SELECT {} FROM billing_account WHERE account_id IN ({}) ORDER BY account_id",
                        Self::ACCOUNT_COLUMNS,
                        bulk::parameters(1, chunk.len())
                    );
                    found.extend(bulk::sqlite_rows(tx, &sql, chunk, |r| Self::account_row(r)).await?);
                }
                TxInner::Postgres(tx) => {
                    let mut q = QueryBuilder::<sqlx::Postgres>::new(format!(
                        "SELECT {} FROM billing_account WHERE account_id IN (",
                        Self::ACCOUNT_COLUMNS
                    ));
                    push_id_list(&mut q, chunk);
                    q.push(" ORDER BY account_id").push(lock);
                    for r in q.build().fetch_all(&mut **tx).await? {
                        found.push(Self::account_row(&r)?);
                    }
                }
            }
        }
        Ok(found)
    }

    /// The next batch of accounts in id order after `after` (keyset pagination).
    pub async fn accounts_after(&mut self, after: &str, limit: i64) -> Result<Vec<AccountRow>> {
        let lock = self.lock_clause();
        on!(self, conn => {
            let sql = format!("SELECT {} FROM billing_account WHERE account_id > $1 ORDER BY account_id LIMIT $2{lock}", Self::ACCOUNT_COLUMNS);
            let rows = sqlx::query::<Db>(sqlx::AssertSqlSafe(sql)).bind(after).bind(limit).fetch_all(&mut *conn).await?;
            rows.iter().map(Self::account_row).collect()
        })
    }

    /// Claims the next batch of accounts in id order after `after` that may have days to
    /// bill (never billed, or billed before `due_before`). On PostgreSQL the rows are locked
    /// and rows another worker holds are skipped (`FOR UPDATE SKIP LOCKED`): the claim lasts
    /// as long as the transaction, and a worker that dies releases it with its connection.
    /// On SQLite the write transaction itself is the claim.
    pub async fn claim_accounts(&mut self, after: &str, due_before: Date, limit: i64) -> Result<Vec<AccountRow>> {
        let lock = if self.lock_clause().is_empty() { "" } else { " FOR UPDATE SKIP LOCKED" };
        // A batch's worth of accounts (the night claims 10,000 at a time).
        let sql = format!(
            "SELECT {} FROM billing_account WHERE account_id > $1 AND (billed_through IS NULL OR billed_through < $2) \
             ORDER BY account_id LIMIT {limit}{lock}",
            Self::ACCOUNT_COLUMNS
        );
        text_rows!(self, sql, [after, day_text(due_before).as_str()], Self::account_row)
    }

    /// Writes back an account's balances, standing, billing progress and counters.
    pub async fn update_account(&mut self, a: &AccountRow) -> Result<()> {
        on!(self, conn => {
            let c = &a.counters;
            sqlx::query::<Db>(
                "UPDATE billing_account SET billed_through = $2, cash = $3, state = $4, overdue_since = $5, next_line = $6, next_tx = $7, \
                 next_instrument = $8, next_invoice = $9, next_event = $10, next_package = $11, ledger_head = $12 WHERE account_id = $1",
            )
            .bind(&a.account_id)
            .bind(a.billed_through.map(day_text))
            .bind(a.cash)
            .bind(&a.state)
            .bind(a.overdue_since.map(day_text))
            .bind(c.next_line)
            .bind(c.next_tx)
            .bind(c.next_instrument)
            .bind(c.next_invoice)
            .bind(c.next_event)
            .bind(c.next_package)
            .bind(&a.ledger_head)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    }

    /// Writes back many accounts at once (one statement per chunk), as the nightly run does.
    pub async fn update_accounts(&mut self, accounts: &[AccountRow]) -> Result<()> {
        if let TxInner::Sqlite(tx) = &mut self.inner {
            // One prepared statement, executed per account on the transaction's connection.
            let sql = "UPDATE billing_account SET billed_through = ?2, cash = ?3, state = ?4, overdue_since = ?5, next_line = ?6, \
                       next_tx = ?7, next_instrument = ?8, next_invoice = ?9, next_event = ?10, next_package = ?11, ledger_head = ?12 \
                       WHERE account_id = ?1";
            return bulk::sqlite_each(tx, sql, accounts, "account").await;
        }
        on!(self, conn => {
            for chunk in accounts.chunks(INSERT_CHUNK) {
                let mut q = QueryBuilder::<Db>::new(
                    "UPDATE billing_account SET billed_through = v.column2, cash = v.column3, state = v.column4, overdue_since = v.column5, \
                     next_line = v.column6, next_tx = v.column7, next_instrument = v.column8, next_invoice = v.column9, next_event = v.column10, \
                     next_package = v.column11, ledger_head = v.column12 FROM (",
                );
                q.push_values(chunk, |mut b, a| {
                    let c = &a.counters;
                    b.push_bind(a.account_id.clone())
                        .push_bind(a.billed_through.map(day_text))
                        .push_bind(a.cash)
                        .push_bind(a.state.clone())
                        .push_bind(a.overdue_since.map(day_text))
                        .push_bind(c.next_line)
                        .push_bind(c.next_tx)
                        .push_bind(c.next_instrument)
                        .push_bind(c.next_invoice)
                        .push_bind(c.next_event)
                        .push_bind(c.next_package)
                        .push_bind(a.ledger_head.clone());
                });
                q.push(") AS v WHERE billing_account.account_id = v.column1");
                q.build().execute(&mut *conn).await?;
            }
            Ok(())
        })
    }

    pub async fn insert_workspace(&mut self, w: &WorkspaceRow) -> Result<()> {
        on!(self, conn => {
            let result = sqlx::query::<Db>("INSERT INTO workspace (workspace_id, account_id, name, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&w.workspace_id)
                .bind(&w.account_id)
                .bind(&w.name)
                .bind(micros(w.created_at))
                .execute(&mut *conn)
                .await;
            inserted(result, "workspace", || w.workspace_id.clone())
        })
    }

    pub async fn workspaces(&mut self, account_id: &str) -> Result<Vec<WorkspaceRow>> {
        on!(self, conn => {
            let rows =
                sqlx::query::<Db>("SELECT workspace_id, account_id, name, created_at FROM workspace WHERE account_id = $1 ORDER BY workspace_id")
                    .bind(account_id)
                    .fetch_all(&mut *conn)
                    .await?;
            rows.iter()
                .map(|r| Ok(WorkspaceRow { workspace_id: r.get(0), account_id: r.get(1), name: r.get(2), created_at: from_micros(r.get(3))? }))
                .collect()
        })
    }

    /// The workspace directory for the given workspaces: workspace id to account id, for
    /// those that exist.
    pub async fn workspace_accounts(&mut self, workspace_ids: &[&str]) -> Result<Vec<(String, String)>> {
        let mut found = Vec::new();
        for chunk in workspace_ids.chunks(INSERT_CHUNK) {
            match &mut self.inner {
                TxInner::Sqlite(tx) => {
                    let sql = format!(
                        "SELECT workspace_id, account_id FROM workspace WHERE workspace_id IN ({})",
                        bulk::parameters(1, chunk.len())
                    );
                    found.extend(bulk::sqlite_rows(tx, &sql, chunk, |r| Ok((r.col(0), r.col(1)))).await?);
                }
                TxInner::Postgres(tx) => {
                    let mut q =
                        QueryBuilder::<sqlx::Postgres>::new("SELECT workspace_id, account_id FROM workspace WHERE workspace_id IN (");
                    push_id_list(&mut q, chunk);
                    let rows = q.build().fetch_all(&mut **tx).await?;
                    found.extend(rows.iter().map(|r| (r.get(0), r.get(1))));
                }
            }
        }
        Ok(found)
    }
}
