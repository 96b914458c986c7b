//! Daily bills, expense lines with their month totals, ledger transactions.

use super::*;

impl Tx {
    pub async fn insert_daily_bills(&mut self, bills: &[DailyBillRow]) -> Result<()> {
        bulk!(self, bills, "", "daily bill")
    }

    /// Writes expense lines and adds them to their months' running totals
    /// (`month_total_group`), in the same transaction.
    pub async fn insert_lines(&mut self, lines: &[ExpenseLineRow]) -> Result<()> {
        self.insert_prepared_lines(&PreparedLines::new(lines)).await
    }

    /// `insert_lines` for lines prepared before (on another thread, as the nightly run does).
    pub async fn insert_prepared_lines(&mut self, prepared: &PreparedLines) -> Result<()> {
        let month_text = |(year, month): (i16, i8)| format!("{year:04}-{month:02}");
        // Each account-month's stored totals, with these added, written back whole.
        let mut ids: Vec<&str> = prepared.sums.keys().map(|(account_id, _)| account_id.as_str()).collect();
        ids.dedup();
        let months: std::collections::BTreeSet<String> = prepared.sums.keys().map(|(_, month)| month_text(*month)).collect();
        let months: Vec<&str> = months.iter().map(String::as_str).collect();
        let mut stored = self.month_total_groups(&ids, &months).await?;
        let mut rows = Vec::with_capacity(prepared.sums.len());
        for ((account_id, month), added) in &prepared.sums {
            let month = month_text(*month);
            let totals = match stored.remove(&(account_id.clone(), month.clone())) {
                Some(text) => {
                    let mut totals = bulk::parse_group_totals(account_id, &month, &text)?;
                    for (key, sum) in added {
                        *totals.entry(key.clone()).or_default() += *sum;
                    }
                    bulk::group_totals_json(&totals)
                }
                None => bulk::group_totals_json(added),
            };
            rows.push(bulk::MonthTotalGroup { account_id, month, totals });
        }
        bulk!(self, &rows, bulk::MONTH_TOTAL_REPLACES, "month total")?;
        bulk!(self, &prepared.groups, "", "expense line")
    }

    /// The stored month totals (JSON) of the given accounts and months, by (account, month).
    pub(crate) async fn month_total_groups(
        &mut self,
        account_ids: &[&str],
        months: &[&str],
    ) -> Result<std::collections::HashMap<(String, String), String>> {
        let mut found = std::collections::HashMap::new();
        if months.is_empty() {
            return Ok(found);
        }
        if let TxInner::Sqlite(tx) = &mut self.inner {
            for chunk in account_ids.chunks(INSERT_CHUNK) {
                let sql = format!(
                    "SELECT account_id, month, totals FROM month_total_group WHERE month IN ({}) AND account_id IN ({})",
                    bulk::parameters(1, months.len()),
                    bulk::parameters(months.len() + 1, chunk.len())
                );
                let binds: Vec<&str> = months.iter().chain(chunk).copied().collect();
                for (key, totals) in bulk::sqlite_rows(tx, &sql, &binds, |r| Ok(((r.col(0), r.col(1)), r.col(2)))).await? {
                    found.insert(key, totals);
                }
            }
            return Ok(found);
        }
        on!(self, conn => {
            for chunk in account_ids.chunks(INSERT_CHUNK) {
                let mut q = QueryBuilder::<Db>::new("SELECT account_id, month, totals FROM month_total_group WHERE month IN (");
                push_id_list(&mut q, months);
                q.push(" AND account_id IN (");
                push_id_list(&mut q, chunk);
                for r in q.build().fetch_all(&mut *conn).await? {
                    found.insert((r.get(0), r.get(1)), r.get(2));
                }
            }
            Ok(found)
        })
    }

    pub async fn insert_ledger(&mut self, txs: &[LedgerTxRow], entries: &[LedgerEntryRow]) -> Result<()> {
        bulk!(self, txs, "", "ledger transaction")?;
        bulk!(self, entries, "", "ledger entry")
    }
}
