//! `verify`: recomputes what must hold everywhere and reports every difference.

use std::collections::{BTreeMap, HashMap};

use crate::AppError;
use crate::{App, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub checked: usize,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub checks: Vec<Check>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.checks.iter().all(|c| c.problems.is_empty())
    }
}

impl App {
    /// Whether the store answers a question now (a server's readiness).
    pub async fn ready(&self) -> Result<()> {
        let mut tx = self.store.read().await?;
        tx.ping().await?;
        tx.commit().await?;
        Ok(())
    }

    /// A consistent copy of the SQLite store at `path`, made while it stays in use; refused
    /// when `path` exists (nothing is overwritten) and on PostgreSQL (use `pg_dump`).
    pub async fn backup(&self, path: &std::path::Path) -> Result<()> {
        if path.exists() {
            return Err(AppError::invalid("output", format!("{} exists; a backup never overwrites a file", path.display())));
        }
        if !self.store.backup(path).await? {
            return Err(AppError::invalid("database", "a PostgreSQL store is copied with pg_dump (see README, Backups)"));
        }
        Ok(())
    }

    pub async fn verify(&self) -> Result<VerifyReport> {
        let mut tx = self.store.read().await?;
        let mut report = VerifyReport::default();

        let (count, unbalanced) = tx.unbalanced_transactions().await?;
        report.checks.push(Check {
            name: "ledger transactions sum to zero",
            checked: count as usize,
            problems: unbalanced.iter().map(|(a, t, s)| format!("{a} TX-{t:06} sums to {s} minor units")).collect(),
        });

        // The ledger is read a slice of accounts at a time, so that memory stays bounded
        // whatever the number of accounts.
        let mut funds = FundCheck::default();
        let mut chain = ChainCheck::default();
        let mut after = String::new();
        loop {
            let accounts = tx.accounts_after(&after, VERIFY_SLICE).await?;
            let (Some(first), Some(last)) = (accounts.first(), accounts.last()) else { break };
            let (first, last) = (first.account_id.clone(), last.account_id.clone());
            funds.slice(&mut tx, &accounts, &first, &last).await?;
            chain.slice(&mut tx, &accounts, &first, &last).await?;
            after = last;
        }
        report.checks.push(Check {
            name: "fund balances equal the sum of their ledger entries",
            checked: funds.checked,
            problems: funds.balance_problems,
        });
        report.checks.push(Check {
            name: "no coupon or card below zero or above its face value",
            checked: funds.instruments,
            problems: funds.instrument_problems,
        });
        report.checks.push(Check {
            name: "every account's ledger is an unbroken hash chain ending at the account's head",
            checked: chain.checked,
            problems: chain.problems,
        });

        let (count, unsettled) = tx.unsettled_lines().await?;
        report.checks.push(Check {
            name: "every expense line equals its deductions plus arrears",
            checked: count as usize,
            problems: unsettled.iter().map(|(a, l)| format!("{a} line {l}")).collect(),
        });
        report.checks.push(Check {
            name: "no line number is used twice in an account",
            checked: count as usize,
            problems: tx.reused_line_numbers().await?.iter().map(|(a, l)| format!("{a} line {l} is used more than once")).collect(),
        });

        let (count, bills) = tx.mismatched_daily_bills().await?;
        report.checks.push(Check {
            name: "every daily bill equals the sum of its lines",
            checked: count as usize,
            problems: bills.iter().map(|(a, d)| format!("{a} daily bill {d}")).collect(),
        });

        let (line_totals, running_totals) = tx.month_totals_everywhere().await?;
        let lines: HashMap<(String, String), store::TotalsRow> = line_totals.into_iter().map(|(a, m, t)| ((a, m), t)).collect();
        let running: HashMap<(String, String), store::TotalsRow> = running_totals.into_iter().map(|(a, m, t)| ((a, m), t)).collect();
        let invoices = tx.all_invoices().await?;
        let mut invoice_problems = Vec::new();
        for inv in &invoices {
            let key = (inv.account_id.clone(), inv.month.clone());
            let month_lines = lines.get(&key).copied().unwrap_or_default();
            let grouped = running.get(&key).copied().unwrap_or_default();
            if inv.totals != month_lines {
                invoice_problems
                    .push(format!("{}: totals {:?} but the month's lines sum to {:?}", inv.invoice_no, inv.totals, month_lines));
            }
            if inv.totals != grouped {
                invoice_problems.push(format!(
                    "{}: totals {:?} but its lines (the month's running totals) sum to {:?}",
                    inv.invoice_no, inv.totals, grouped
                ));
            }
            if inv.invoiceable != inv.totals.cash + inv.cards_total {
                invoice_problems.push(format!(
                    "{}: invoiceable {} is not cash {} + cards {}",
                    inv.invoice_no, inv.invoiceable, inv.totals.cash, inv.cards_total
                ));
            }
        }
        report.checks.push(Check {
            name: "every invoice equals the sum of its month's lines",
            checked: invoices.len(),
            problems: invoice_problems,
        });

        let drift = tx.month_total_drift().await?;
        report.checks.push(Check {
            name: "every month's running totals equal the sum of its lines",
            checked: lines.len(),
            problems: drift
                .iter()
                .map(|(kept, summed)| {
                    format!(
                        "{} {} {} {} {}: kept {:?} but the lines sum to {:?}",
                        kept.account_id, kept.month, kept.workspace_id, kept.item, kept.charge_type, kept.totals, summed
                    )
                })
                .collect(),
        });

        let (count, drift) = tx.day_item_drift().await?;
        report.checks.push(Check {
            name: "every day's gross by item (the spend chart's) equals the sum of its lines",
            checked: count as usize,
            problems: drift
                .iter()
                .map(|(account, day, item, kept, summed)| format!("{account} {day} {item}: kept {kept} but the lines sum to {summed}"))
                .collect(),
        });

        let (count, problems) = crate::tax_invoice::invoiceable_problems(&mut tx).await?;
        report.checks.push(Check { name: "no month's invoiceable amount is drawn beyond it", checked: count, problems });
        let (count, problems) = crate::tax_invoice::pdf_problems(&mut tx).await?;
        report.checks.push(Check { name: "every tax invoice PDF is the file its SHA-256 names", checked: count, problems });
        let (count, problems) = crate::packs::pack_problems(&mut tx).await?;
        report.checks.push(Check { name: "every resource pack's remaining volume is its volume less its draws", checked: count, problems });
        tx.commit().await?;
        Ok(report)
    }
}

impl App {
    /// Every row of the account tables, table by table, in a fixed order: two stores that
    /// billed the same input must give the same dump.
    pub async fn dump(&self) -> Result<Vec<(String, Vec<String>)>> {
        let mut tx = self.store.read().await?;
        let mut out = Vec::new();
        for (table, columns, order) in store::testing::ACCOUNT_TABLES {
            out.push((table.to_owned(), tx.dump(table, columns, order).await?));
        }
        tx.commit().await?;
        Ok(out)
    }
}

impl App {
    /// An account's funds as the waterfall sees them now.
    pub async fn funds_snapshot(&self, account_id: &str) -> Result<billing::Funds> {
        let mut tx = self.store.read().await?;
        let account = crate::context::load_account(&mut tx, account_id).await?;
        let instruments: Vec<store::InstrumentRow> = tx.instruments(account_id).await?.into_iter().filter(|i| i.active).collect();
        tx.commit().await?;
        crate::context::funds_of(account.row.cash, &instruments)
    }

    /// Whether an annual package covers the account on a day.
    pub async fn has_package_on(&self, account_id: &str, day: jiff::civil::Date) -> Result<bool> {
        let mut tx = self.store.read().await?;
        let packages = tx.packages_between(account_id, account_id).await?;
        tx.commit().await?;
        Ok(packages.iter().any(|p| p.start_day <= day && day < p.end_day))
    }

    /// What every account's pay-as-you-go lines of one billing day came to (gross, coupon, card, cash,
    /// arrears in minor units), by account id.
    pub async fn day_paid(&self, day: jiff::civil::Date) -> Result<std::collections::HashMap<String, [i64; 5]>> {
        let mut tx = self.store.read().await?;
        let paid = tx.day_paid(day).await?;
        tx.commit().await?;
        Ok(paid.into_iter().collect())
    }
}

/// Accounts whose ledger `verify` reads at once.
const VERIFY_SLICE: i64 = 2_000;

/// Every fund: each entry's balance-after is the running sum, and the final sum is the stored
/// balance; no instrument outside its bounds.
#[derive(Default)]
struct FundCheck {
    checked: usize,
    instruments: usize,
    balance_problems: Vec<String>,
    instrument_problems: Vec<String>,
}

impl FundCheck {
    async fn slice(&mut self, tx: &mut store::Tx, accounts: &[store::AccountRow], first: &str, last: &str) -> Result<()> {
        let mut sums: BTreeMap<(String, String, i64), i64> = BTreeMap::new();
        for (account, book, fund, amount, after) in tx.fund_entries(first, last).await? {
            let sum = sums.entry((account.clone(), book.clone(), fund)).or_insert(0);
            *sum += amount;
            if after != Some(*sum) {
                self.balance_problems.push(format!("{account} {book} {fund}: balance after {after:?} but running sum {sum}"));
            }
        }
        for account in accounts {
            self.checked += 1;
            let ledger = sums.remove(&(account.account_id.clone(), "cash".into(), 0)).unwrap_or(0);
            if ledger != account.cash {
                self.balance_problems.push(format!("{} cash: stored {}, ledger {ledger}", account.account_id, account.cash));
            }
        }
        for i in tx.instruments_between(first, last).await? {
            self.checked += 1;
            self.instruments += 1;
            let book = if i.kind == "card" { "card" } else { "coupon" };
            let ledger = sums.remove(&(i.account_id.clone(), book.into(), i.instrument_id)).unwrap_or(0);
            if ledger != i.balance {
                self.balance_problems.push(format!("{} {}: stored {}, ledger {ledger}", i.account_id, i.code, i.balance));
            }
            if i.balance < 0 || i.balance > i.face_value {
                self.instrument_problems.push(format!("{} {}: balance {} outside 0..={}", i.account_id, i.code, i.balance, i.face_value));
            }
            if !i.active && i.balance != 0 {
                self.instrument_problems.push(format!("{} {}: expired with balance {}", i.account_id, i.code, i.balance));
            }
        }
        for ((account, book, fund), sum) in sums {
            self.balance_problems.push(format!("{account} {book} {fund}: ledger has {sum} for a fund that does not exist"));
        }
        Ok(())
    }
}

/// Recomputes each account's hash chain from its first ledger transaction and names, per
/// account, the first transaction that is missing, was changed or was inserted out of order,
/// and a head the ledger does not reach (its last transactions deleted).
#[derive(Default)]
struct ChainCheck {
    checked: usize,
    problems: Vec<String>,
}

impl ChainCheck {
    async fn slice(&mut self, tx: &mut store::Tx, accounts: &[store::AccountRow], first: &str, last: &str) -> Result<()> {
        let rows = tx.ledger_entries((first, last), None, None, false).await?;
        let mut broken: std::collections::BTreeSet<String> = Default::default();
        // Where each account's chain stands: the next transaction number and the last hash.
        let mut at: BTreeMap<String, (i64, String)> = BTreeMap::new();
        let mut i = 0;
        while i < rows.len() {
            let (t, _) = &rows[i];
            let end = rows[i..].iter().position(|(u, _)| u.account_id != t.account_id || u.tx_no != t.tx_no).map_or(rows.len(), |n| i + n);
            let entries: Vec<store::LedgerEntryRow> = rows[i..end].iter().map(|(_, e)| e.clone()).collect();
            i = end;
            self.checked += 1;
            if broken.contains(&t.account_id) {
                continue;
            }
            let (next, previous) = at.entry(t.account_id.clone()).or_insert((1, String::new()));
            let problem = if t.tx_no != *next {
                Some(format!("{}: ledger transaction {} is missing (the next one is {})", t.account_id, next, t.tx_no))
            } else if crate::context::chain_hash(previous, t, &entries) != t.hash {
                Some(format!(
                    "{}: ledger transaction {} ({}) was changed or inserted out of order: its hash does not follow from it and its predecessor",
                    t.account_id, t.tx_no, t.document
                ))
            } else {
                None
            };
            match problem {
                Some(p) => {
                    self.problems.push(p);
                    broken.insert(t.account_id.clone());
                }
                None => *at.get_mut(&t.account_id).expect("entered above") = (t.tx_no + 1, t.hash.clone()),
            }
        }
        for account in accounts {
            if broken.contains(&account.account_id) {
                continue;
            }
            let reached = at.get(&account.account_id).map_or("", |(_, h)| h.as_str());
            if reached != account.ledger_head {
                self.problems.push(format!(
                    "{}: the ledger ends before the account's chain head (its last transactions are missing)",
                    account.account_id
                ));
            }
        }
        Ok(())
    }
}
