//! Daily usage: ingestion's merges, the night's reads, late keys.

use super::*;

impl Tx {
    /// Claims the record ids of a batch of usage (each pair at most once): an id new here is
    /// stored with its fingerprint (`None` in the answer); an id seen before answers the
    /// fingerprint stored with it. In the order given.
    pub async fn claim_record_ids(&mut self, claims: &[RecordClaim<'_>]) -> Result<Vec<Option<i64>>> {
        match &mut self.inner {
            TxInner::Sqlite(tx) => bulk::sqlite_claims(tx, claims).await,
            TxInner::Postgres(tx) => bulk::postgres_claims(tx, claims).await,
        }
    }

    /// Folds a batch's aggregates of one kind into the daily usage: for `max` items the larger
    /// peak wins, otherwise quantities add. A row sent with `late` (its day is already billed)
    /// marks the key late when it changes the stored quantity.
    pub async fn merge_usage_daily(&mut self, rows: &[UsageDailyRow], max: bool) -> Result<()> {
        let conflict = if max {
            "ON CONFLICT (account_id, billing_day, workspace_id, item, dims) DO UPDATE SET \
             late = CASE WHEN excluded.late = 1 AND excluded.quantity > usage_daily.quantity THEN 1 ELSE usage_daily.late END, \
             quantity = CASE WHEN excluded.quantity > usage_daily.quantity THEN excluded.quantity ELSE usage_daily.quantity END"
        } else {
            "ON CONFLICT (account_id, billing_day, workspace_id, item, dims) DO UPDATE SET \
             late = CASE WHEN excluded.late = 1 AND excluded.quantity > 0 THEN 1 ELSE usage_daily.late END, \
             quantity = usage_daily.quantity + excluded.quantity"
        };
        bulk!(self, rows, conflict, "daily usage")
    }

    /// Daily usage of a batch of accounts `[first, last]` for days in `(after, through]`.
    /// The daily usage of the given accounts on the days after `after` through `through`, in
    /// (account, day, key) order. One key seek per account: a range over account ids would
    /// read every day each account ever had.
    pub async fn usage_daily_between(&mut self, account_ids: &[&str], after: Option<Date>, through: Date) -> Result<Vec<UsageDailyRow>> {
        const HEAD: &str = "SELECT account_id, billing_day, workspace_id, item, dims, quantity, late FROM usage_daily WHERE billing_day > ";
        const ORDER: &str = " ORDER BY account_id, billing_day, workspace_id, item, dims";
        // Room for a day's usage of every account up front (unused room is never touched, so
        // costs no memory): the night's biggest read, grown by doubling, copied its rows
        // several times over.
        let days = after.map_or(1, |a| (through - a).get_days().max(1) as usize);
        let mut found = Vec::with_capacity(account_ids.len().saturating_mul(days).saturating_mul(USAGE_KEYS_EXPECTED).min(1 << 22));
        let (after, through) = (after.map(day_text).unwrap_or_default(), day_text(through));
        for chunk in account_ids.chunks(INSERT_CHUNK) {
            match &mut self.inner {
                TxInner::Sqlite(tx) => {
                    // The night's biggest read: rows mapped in place (see `bulk`).
                    let sql = format!("{HEAD}?1 AND billing_day <= ?2 AND account_id IN ({}){ORDER}", bulk::parameters(3, chunk.len()));
                    let binds: Vec<&str> = [after.as_str(), through.as_str()].into_iter().chain(chunk.iter().copied()).collect();
                    bulk::sqlite_rows_into(tx, &sql, &binds, &mut found, |r| usage_daily_row(r)).await?;
                }
                TxInner::Postgres(tx) => {
                    let mut q = QueryBuilder::<sqlx::Postgres>::new(HEAD);
                    q.push_bind(after.as_str()).push(" AND billing_day <= ").push_bind(through.as_str()).push(" AND account_id IN (");
                    push_id_list(&mut q, chunk);
                    q.push(ORDER);
                    for r in &q.build().fetch_all(&mut **tx).await? {
                        found.push(usage_daily_row(r)?);
                    }
                }
            }
        }
        Ok(found)
    }

    /// Keys of a batch of accounts that changed after their day was billed.
    pub async fn late_usage(&mut self, first: &str, last: &str) -> Result<Vec<UsageDailyRow>> {
        let sql = "SELECT account_id, billing_day, workspace_id, item, dims, quantity, late FROM usage_daily \
                   WHERE account_id >= $1 AND account_id <= $2 AND late = 1 ORDER BY account_id, billing_day, workspace_id, item, dims";
        text_rows!(self, sql, [first, last], usage_daily_row)
    }

    pub async fn clear_late(&mut self, account_id: &str, day: Date) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>("UPDATE usage_daily SET late = 0 WHERE account_id = $1 AND billing_day = $2 AND late = 1")
                .bind(account_id)
                .bind(day_text(day))
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    /// What the lines of one usage day billed so far, per workspace × item × dimensions (the
    /// usage lines: packages bought and what resource packs covered are not usage billed).
    pub async fn billed_usage(&mut self, account_id: &str, usage_day: Date) -> Result<Vec<BilledUsageRow>> {
        on!(self, conn => {
            // The lines of a usage day are those billed on it for it, and those billed on
            // another day for it (found through the partial index of such lines).
            let rows = sqlx::query::<Db>(
                "SELECT workspace_id, item, dims, CAST(SUM(quantity) AS BIGINT), CAST(SUM(covered) AS BIGINT), CAST(SUM(chargeable) AS BIGINT) FROM ( \
                   SELECT workspace_id, item, dims, quantity, covered, chargeable, charge_type FROM expense_line \
                     WHERE account_id = $1 AND billing_day = $2 AND usage_day = billing_day \
                   UNION ALL SELECT workspace_id, item, dims, quantity, covered, chargeable, charge_type FROM expense_line \
                     WHERE account_id = $1 AND usage_day = $2 AND usage_day <> billing_day) AS day_lines \
                 WHERE charge_type NOT IN ('annual_package', 'resource_pack') GROUP BY workspace_id, item, dims",
            )
            .bind(account_id)
            .bind(day_text(usage_day))
            .fetch_all(&mut *conn)
            .await?;
            Ok(rows
                .iter()
                .map(|r| BilledUsageRow {
                    workspace_id: r.get(0),
                    item: r.get(1),
                    dims: r.get(2),
                    quantity: r.get(3),
                    covered: r.get(4),
                    chargeable: r.get(5),
                })
                .collect())
        })
    }
}
