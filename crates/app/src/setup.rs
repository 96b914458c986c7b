//! Setting up: importing the catalog, creating billing accounts and workspaces.

use billing::Currency;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use store::{AccountRow, Counters, WorkspaceRow};

use crate::context::{Account, load_account, load_catalog};
use crate::{App, AppError, Result, catalog_file};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogSummary {
    pub items: usize,
    pub price_versions: usize,
    pub packages: usize,
    pub changed: bool,
}

/// Identifiers are short, printable and safe in file names and URLs.
fn check_id(field: &str, id: &str) -> Result<()> {
    let ok = !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok { Ok(()) } else { Err(AppError::invalid(field, format!("`{id}` must be 1 to 64 letters, digits, '-', '_' or '.'"))) }
}

impl App {
    /// Imports a catalog. Refused when it would change a price already used for billed days.
    pub async fn import_catalog(&self, now: Timestamp, source: &str) -> Result<CatalogSummary> {
        let catalog = catalog_file::parse(source)?;
        let mut tx = self.store.begin().await?;
        let changed = match tx.latest_catalog().await? {
            Some(old_source) if old_source == source => false,
            Some(old_source) => {
                let old = catalog_file::parse(&old_source)?;
                let billed = tx.max_billed_through().await?;
                catalog.check_replaces(&old, billed).map_err(|e| AppError::invalid("catalog", e.to_string()))?;
                true
            }
            None => true,
        };
        if changed {
            tx.insert_catalog(source, now).await?;
        }
        tx.commit().await?;
        Ok(CatalogSummary {
            items: catalog.items.len(),
            price_versions: catalog.prices.values().map(Vec::len).sum(),
            packages: catalog.packages.len(),
            changed,
        })
    }

    pub async fn create_account(&self, now: Timestamp, id: &str, name: &str, currency: &str, time_zone: &str) -> Result<Account> {
        let mut tx = self.store.begin().await?;
        let catalog = match tx.latest_catalog().await? {
            Some(source) => Some(catalog_file::parse(&source)?),
            None => None,
        };
        let row = new_account(catalog.as_ref(), now, id, name, currency, time_zone)?;
        tx.insert_account(&row).await?;
        tx.commit().await?;
        Account::from_row(row)
    }

    /// Creates many accounts with their workspaces in one transaction: all or none. Each
    /// entry is (id, name, currency, time zone, workspace ids).
    pub async fn import_accounts(&self, now: Timestamp, accounts: &[(String, String, String, String, Vec<String>)]) -> Result<usize> {
        let mut tx = self.store.begin().await?;
        let catalog = match tx.latest_catalog().await? {
            Some(source) => Some(catalog_file::parse(&source)?),
            None => None,
        };
        for (n, (id, name, currency, zone, workspaces)) in accounts.iter().enumerate() {
            let at_line = |e: AppError| match e {
                AppError::Invalid { field, reason } => AppError::Invalid { field: format!("line {}: {field}", n + 2), reason },
                other => other,
            };
            let row = new_account(catalog.as_ref(), now, id, name, currency, zone).map_err(at_line)?;
            tx.insert_account(&row).await?;
            for w in workspaces {
                check_id("workspace", w).map_err(at_line)?;
                tx.insert_workspace(&WorkspaceRow { workspace_id: w.clone(), account_id: id.clone(), name: w.clone(), created_at: now })
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(accounts.len())
    }
}

/// Validates a new account and builds its row.
fn new_account(
    catalog: Option<&billing::Catalog>,
    now: Timestamp,
    id: &str,
    name: &str,
    currency: &str,
    time_zone: &str,
) -> Result<AccountRow> {
    check_id("id", id)?;
    if name.trim().is_empty() {
        return Err(AppError::invalid("name", "must not be empty"));
    }
    let currency = Currency::parse(currency).map_err(|e| AppError::invalid("currency", e.to_string()))?;
    let tz = TimeZone::get(time_zone).map_err(|_| AppError::invalid("time_zone", format!("`{time_zone}` is not an IANA time zone")))?;
    if let Some(catalog) = catalog
        && catalog.currency != currency
    {
        return Err(AppError::invalid("currency", format!("the catalog prices in {}, not {currency}", catalog.currency)));
    }
    Ok(AccountRow {
        account_id: id.to_owned(),
        name: name.trim().to_owned(),
        currency: currency.code().to_owned(),
        time_zone: time_zone.to_owned(),
        created_at: now,
        first_day: billing::period::billing_day(now, &tz),
        billed_through: None,
        cash: 0,
        state: billing::AccountState::Active.as_str().to_owned(),
        overdue_since: None,
        counters: Counters::START,
        ledger_head: String::new(),
    })
}

impl App {
    pub async fn create_workspace(&self, now: Timestamp, account_id: &str, id: &str, name: Option<&str>) -> Result<WorkspaceRow> {
        check_id("id", id)?;
        let mut tx = self.store.begin().await?;
        load_account(&mut tx, account_id).await?;
        let row = WorkspaceRow {
            workspace_id: id.to_owned(),
            account_id: account_id.to_owned(),
            name: name.unwrap_or(id).to_owned(),
            created_at: now,
        };
        tx.insert_workspace(&row).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The catalog in force, for the layers that show item names and units.
    pub async fn catalog(&self) -> Result<std::sync::Arc<billing::Catalog>> {
        let mut tx = self.store.read().await?;
        let catalog = load_catalog(&mut tx).await?;
        tx.commit().await?;
        Ok(catalog)
    }

    /// Every billing account, in id order.
    pub async fn accounts(&self) -> Result<Vec<Account>> {
        let mut tx = self.store.read().await?;
        let mut all = Vec::new();
        let mut after = String::new();
        loop {
            let batch = tx.accounts_after(&after, 1_000).await?;
            let Some(last) = batch.last() else { break };
            after = last.account_id.clone();
            for row in batch {
                all.push(Account::from_row(row)?);
            }
        }
        tx.commit().await?;
        Ok(all)
    }

    pub async fn workspaces(&self, account_id: &str) -> Result<Vec<WorkspaceRow>> {
        let mut tx = self.store.read().await?;
        load_account(&mut tx, account_id).await?;
        let rows = tx.workspaces(account_id).await?;
        tx.commit().await?;
        Ok(rows)
    }

    pub async fn account(&self, account_id: &str) -> Result<Account> {
        let mut tx = self.store.read().await?;
        let account = load_account(&mut tx, account_id).await?;
        tx.commit().await?;
        Ok(account)
    }
}
