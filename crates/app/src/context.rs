//! The application handle and what every use case needs: the catalog, accounts with their
//! zone and currency, and a ledger writer that keeps each fund's running balance.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use billing::{Book, Catalog, Currency, Transaction};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use store::{AccountRow, LedgerEntryRow, LedgerTxRow, Store, Tx};

use crate::{AppError, Result, catalog_file};

/// The handle the binary (and later the HTTP server) holds.
#[derive(Clone)]
pub struct App {
    pub(crate) store: Store,
    /// Who issues the invoices (printed on every PDF invoice), from the operator's configuration.
    pub(crate) issuer: Arc<export::Issuer>,
}

impl App {
    pub async fn open(path: &Path) -> Result<App> {
        Ok(App { store: Store::open(path).await?, issuer: Arc::default() })
    }

    /// Connects to a PostgreSQL store (`postgres://...`).
    pub async fn connect(url: &str, settings: &store::PgSettings) -> Result<App> {
        Ok(App { store: Store::connect(url, settings).await?, issuer: Arc::default() })
    }

    /// The same store, with invoices issued by `issuer`.
    pub fn with_issuer(mut self, issuer: export::Issuer) -> App {
        self.issuer = Arc::new(issuer);
        self
    }

    pub fn issuer(&self) -> &export::Issuer {
        &self.issuer
    }

    pub async fn close(self) {
        self.store.close().await;
    }
}

pub(crate) async fn load_catalog(tx: &mut Tx) -> Result<Arc<Catalog>> {
    /// The catalog read last, by its source: every ingest chunk and billing batch reads the
    /// catalog in its own transaction, and parsing it again cost a few milliseconds each.
    static LAST: Mutex<Option<(String, Arc<Catalog>)>> = Mutex::new(None);
    let source = tx
        .latest_catalog()
        .await?
        .ok_or_else(|| AppError::invalid("catalog", "no catalog imported yet (billcenter catalog import FILE)"))?;
    if let Some((text, catalog)) = &*LAST.lock().expect("the catalog cache is never poisoned")
        && *text == source
    {
        return Ok(catalog.clone());
    }
    let catalog = Arc::new(catalog_file::parse(&source)?);
    *LAST.lock().expect("the catalog cache is never poisoned") = Some((source, catalog.clone()));
    Ok(catalog)
}

/// A billing account with its zone and currency resolved.
#[derive(Clone, Debug)]
pub struct Account {
    pub row: AccountRow,
    pub tz: TimeZone,
    pub currency: Currency,
}

impl Account {
    pub fn from_row(row: AccountRow) -> Result<Account> {
        let tz = TimeZone::get(&row.time_zone).map_err(|e| AppError::invalid("time_zone", e.to_string()))?;
        let currency = Currency::parse(&row.currency).map_err(|e| AppError::invalid("currency", e.to_string()))?;
        Ok(Account { row, tz, currency })
    }

    pub fn id(&self) -> &str {
        &self.row.account_id
    }

    pub fn today(&self, now: Timestamp) -> Date {
        billing::period::billing_day(now, &self.tz)
    }

    /// The day an overdue account will be suspended unless it repays (its grace period's end).
    pub fn suspends_on(&self) -> Option<Date> {
        match (self.row.state.as_str(), self.row.overdue_since) {
            ("overdue", Some(since)) => since.checked_add(jiff::Span::new().days(billing::account::GRACE_DAYS)).ok(),
            _ => None,
        }
    }
}

pub(crate) async fn load_account(tx: &mut Tx, account_id: &str) -> Result<Account> {
    let row = tx.account(account_id).await?.ok_or_else(|| AppError::NotFound { what: "billing account", key: account_id.to_owned() })?;
    Account::from_row(row)
}

/// The hash of a ledger transaction in its account's chain: SHA-256 over the previous
/// transaction's hash (empty for the first) and every stored field of the transaction and its
/// entries, each field length-prefixed so no two ledgers hash alike; lowercase hex.
pub(crate) fn chain_hash(previous: &str, tx: &LedgerTxRow, entries: &[LedgerEntryRow]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(previous.as_bytes());
    field(tx.account_id.as_bytes());
    field(&tx.tx_no.to_le_bytes());
    field(tx.kind.as_bytes());
    field(&tx.posted_at.as_microsecond().to_le_bytes());
    field(tx.document.as_bytes());
    field(tx.remark.as_bytes());
    for e in entries {
        field(&e.entry_no.to_le_bytes());
        field(e.book.as_bytes());
        field(&e.fund_id.to_le_bytes());
        field(&e.amount.to_le_bytes());
        field(&e.balance_after.map_or(i64::MIN, |b| b).to_le_bytes());
        field(&[u8::from(e.balance_after.is_some())]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Turns domain transactions into ledger rows, numbering them from the account's counter and
/// keeping every fund's running balance for `balance_after`.
pub(crate) struct LedgerWriter {
    account_id: String,
    balances: HashMap<Book, i64>,
    pub txs: Vec<LedgerTxRow>,
    pub entries: Vec<LedgerEntryRow>,
}

impl LedgerWriter {
    /// `balances` are the funds' balances before anything this writer posts.
    pub fn new(account_id: &str, balances: impl IntoIterator<Item = (Book, i64)>) -> LedgerWriter {
        LedgerWriter { account_id: account_id.to_owned(), balances: balances.into_iter().collect(), txs: Vec::new(), entries: Vec::new() }
    }

    /// Posts `tx` as the account's next ledger transaction, chained to the account's last one:
    /// takes its number from the account's counter and moves the account's chain head to it.
    pub fn post(&mut self, account: &mut AccountRow, tx: &Transaction, at: Timestamp, document: &str, remark: &str) -> i64 {
        debug_assert_eq!(account.account_id, self.account_id, "a writer posts for its own account");
        let tx_no = store::take(&mut account.counters.next_tx);
        let first_entry = self.entries.len();
        for (i, p) in tx.postings().iter().enumerate() {
            let balance_after = p.book.is_fund().then(|| {
                let b = self.balances.entry(p.book).or_insert(0);
                *b += p.amount.minor();
                *b
            });
            self.entries.push(LedgerEntryRow {
                account_id: self.account_id.clone(),
                tx_no,
                entry_no: i as i64 + 1,
                book: p.book.kind().to_owned(),
                fund_id: p.book.fund_id(),
                amount: p.amount.minor(),
                balance_after,
            });
        }
        let mut row = LedgerTxRow {
            account_id: self.account_id.clone(),
            tx_no,
            kind: tx.kind().as_str().to_owned(),
            posted_at: at,
            document: document.to_owned(),
            remark: remark.to_owned(),
            hash: String::new(),
        };
        row.hash = chain_hash(&account.ledger_head, &row, &self.entries[first_entry..]);
        account.ledger_head = row.hash.clone();
        self.txs.push(row);
        tx_no
    }

    pub fn balance(&self, book: Book) -> i64 {
        self.balances.get(&book).copied().unwrap_or(0)
    }

    pub async fn write(self, tx: &mut Tx) -> Result<()> {
        tx.insert_ledger(&self.txs, &self.entries).await?;
        Ok(())
    }
}

/// Parses a civil date argument.
pub(crate) fn parse_date(field: &str, text: &str) -> Result<Date> {
    text.trim().parse().map_err(|_| AppError::invalid(field, format!("`{text}` is not a date (YYYY-MM-DD)")))
}

/// The waterfall's view of stored instruments and cash.
pub(crate) fn funds_of(cash: i64, instruments: &[store::InstrumentRow]) -> Result<billing::Funds> {
    let instruments = instruments
        .iter()
        .map(|i| {
            Ok(billing::Instrument {
                kind: instrument_kind(&i.kind)?,
                id: i.instrument_id,
                balance: billing::Amount(i.balance),
                validity: billing::Validity { from: i.valid_from, until: i.valid_until },
                scope: i.scope.as_ref().map(|s| s.split(',').map(str::to_owned).collect()),
                active: i.active,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(billing::Funds { instruments, cash: billing::Amount(cash) })
}

pub(crate) fn instrument_kind(kind: &str) -> Result<billing::InstrumentKind> {
    Ok(match kind {
        "regular" => billing::InstrumentKind::RegularCoupon,
        "discount" => billing::InstrumentKind::DiscountCoupon,
        "card" => billing::InstrumentKind::PrepaidCard,
        other => return Err(AppError::Store(store::StoreError::Corrupt(format!("instrument kind `{other}`")))),
    })
}

/// The ledger book of a stored instrument.
pub(crate) fn instrument_book(i: &store::InstrumentRow) -> Book {
    if i.kind == "card" { Book::Card(i.instrument_id) } else { Book::Coupon(i.instrument_id) }
}
