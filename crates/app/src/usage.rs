//! Usage ingestion: validation, idempotency by `record_id`, and the daily aggregates kept at
//! ingest so the nightly run never scans raw records.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;

use billing::money::to_scaled;
use billing::{Aggregation, Catalog};
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use serde::Deserialize;
use store::{UsageDailyRow, UsageRecordRow};

use crate::context::{Account, load_catalog};
use crate::{App, AppError, Result};

/// Quantities are stored as integers at this scale (six decimals).
pub const QUANTITY_SCALE: u32 = 6;
/// How far back usage is accepted.
pub const LATE_WINDOW_DAYS: i64 = 180;
/// How far ahead of the clock a timestamp may be.
pub const FUTURE_TOLERANCE: SignedDuration = SignedDuration::from_hours(1);
/// Records per database transaction when importing a file.
pub const IMPORT_BATCH: usize = 10_000;

/// One usage record as it arrives, unparsed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageInput {
    pub record_id: String,
    pub workspace: String,
    pub item: String,
    pub timestamp: String,
    pub quantity: QuantityText,
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
}

/// A quantity as sent: a JSON string, or a JSON number kept as its exact digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityText(pub String);

impl<'de> Deserialize<'de> for QuantityText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::String(s) => Ok(QuantityText(s)),
            serde_json::Value::Number(n) => Ok(QuantityText(n.to_string())),
            other => Err(serde::de::Error::custom(format!("quantity must be a decimal string or number, not {other}"))),
        }
    }
}

/// A record refused, with its position (1-based line or index) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub position: usize,
    pub field: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    pub accepted: usize,
    pub duplicate: usize,
    pub rejected: Vec<Rejected>,
}

impl IngestReport {
    fn absorb(&mut self, other: IngestReport) {
        self.accepted += other.accepted;
        self.duplicate += other.duplicate;
        self.rejected.extend(other.rejected);
    }
}

/// Records read from a file with their line numbers, and the lines that could not be read.
pub type ReadUsage = (Vec<(usize, UsageInput)>, Vec<Rejected>);

/// Reads a usage file: CSV (header `record_id,workspace,item,timestamp,quantity` then one
/// column per dimension) or NDJSON (one JSON object per line). Lines that cannot be read
/// become rejections; the rest are returned with their line numbers.
pub fn read_usage_file(reader: impl BufRead, ndjson: bool) -> Result<ReadUsage> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    if ndjson {
        for (i, line) in reader.lines().enumerate() {
            let line = line.map_err(|e| AppError::invalid("file", e.to_string()))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<UsageInput>(&line) {
                Ok(input) => good.push((i + 1, input)),
                Err(e) => bad.push(Rejected { position: i + 1, field: "record".into(), reason: e.to_string() }),
            }
        }
        return Ok((good, bad));
    }
    let mut csv = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).from_reader(reader);
    let header: Vec<String> = csv.headers().map_err(|e| AppError::invalid("file", e.to_string()))?.iter().map(str::to_owned).collect();
    let fixed = ["record_id", "workspace", "item", "timestamp", "quantity"];
    if header.len() < fixed.len() || header[..fixed.len()] != fixed {
        return Err(AppError::invalid("file", format!("the CSV header must start with {}", fixed.join(","))));
    }
    for (i, record) in csv.records().enumerate() {
        let line = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                bad.push(Rejected { position: line, field: "record".into(), reason: e.to_string() });
                continue;
            }
        };
        let dimensions = header[fixed.len()..]
            .iter()
            .zip(record.iter().skip(fixed.len()))
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.clone(), v.to_owned()))
            .collect();
        good.push((
            line,
            UsageInput {
                record_id: record[0].to_owned(),
                workspace: record[1].to_owned(),
                item: record[2].to_owned(),
                timestamp: record[3].to_owned(),
                quantity: QuantityText(record[4].to_owned()),
                dimensions,
            },
        ));
    }
    Ok((good, bad))
}

/// A record that passed validation.
struct Valid {
    position: usize,
    row: UsageRecordRow,
    aggregation: Aggregation,
}

fn validate(
    catalog: &Catalog,
    accounts: &HashMap<String, Account>,
    directory: &HashMap<String, String>,
    now: Timestamp,
    position: usize,
    input: &UsageInput,
) -> std::result::Result<Valid, Rejected> {
    let reject = |field: &str, reason: String| Rejected { position, field: field.to_owned(), reason };
    if input.record_id.is_empty() || input.record_id.len() > 128 {
        return Err(reject("record_id", "must be 1 to 128 characters".into()));
    }
    let account_id =
        directory.get(&input.workspace).ok_or_else(|| reject("workspace", format!("unknown workspace `{}`", input.workspace)))?;
    let account = &accounts[account_id];
    let item = catalog.item(&input.item).map_err(|e| reject("item", e.to_string()))?;
    let dims = item.dims_for(&input.dimensions).map_err(|e| reject("dimensions", e.to_string()))?;
    let at: Timestamp =
        input.timestamp.trim().parse().map_err(|_| reject("timestamp", format!("`{}` is not an RFC 3339 timestamp", input.timestamp)))?;
    if at > now + FUTURE_TOLERANCE {
        return Err(reject("timestamp", format!("{at} is more than 1 hour in the future")));
    }
    if at < now - SignedDuration::from_hours(24 * LATE_WINDOW_DAYS) {
        return Err(reject("timestamp", format!("{at} is older than the {LATE_WINDOW_DAYS}-day late-usage window")));
    }
    if at < account.row.created_at {
        return Err(reject("timestamp", format!("{at} is before billing account `{account_id}` existed")));
    }
    let text = input.quantity.0.trim();
    let quantity: Decimal = text.parse().map_err(|_| reject("quantity", format!("`{text}` is not a decimal number")))?;
    if quantity.is_sign_negative() && !quantity.is_zero() {
        return Err(reject("quantity", format!("`{text}` is negative")));
    }
    let scaled = to_scaled(quantity, QUANTITY_SCALE)
        .filter(|v| *v < 1_000_000_000_000_000_000)
        .ok_or_else(|| reject("quantity", format!("`{text}` has more than {QUANTITY_SCALE} decimals or is too large")))?;
    Ok(Valid {
        position,
        aggregation: item.aggregation,
        row: UsageRecordRow {
            account_id: account_id.clone(),
            record_id: input.record_id.clone(),
            workspace_id: input.workspace.clone(),
            item: input.item.clone(),
            dims: dims.as_str().to_owned(),
            recorded_at: at,
            quantity: scaled,
            billing_day: billing::period::billing_day(at, &account.tz),
        },
    })
}

fn same_content(a: &UsageRecordRow, b: &UsageRecordRow) -> bool {
    a.workspace_id == b.workspace_id && a.item == b.item && a.dims == b.dims && a.recorded_at == b.recorded_at && a.quantity == b.quantity
}

impl App {
    /// Ingests a batch of records in one transaction: all valid records are stored, none of
    /// the refused ones. A record id seen before with the same content is a duplicate; with
    /// other content it is refused as a conflict.
    pub async fn ingest(&self, now: Timestamp, batch: &[(usize, UsageInput)]) -> Result<IngestReport> {
        let mut report = IngestReport::default();
        for chunk in batch.chunks(IMPORT_BATCH) {
            // A chunk that fails transiently is rolled back whole and tried again.
            let mut attempt = 0u32;
            let chunk_report = loop {
                match self.ingest_chunk(now, chunk).await {
                    Err(AppError::Store(e)) if e.is_transient() && attempt < 5 => {
                        attempt += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(10u64 << attempt)).await;
                    }
                    other => break other?,
                }
            };
            report.absorb(chunk_report);
        }
        Ok(report)
    }

    async fn ingest_chunk(&self, now: Timestamp, batch: &[(usize, UsageInput)]) -> Result<IngestReport> {
        let mut tx = self.store.begin().await?;
        let catalog = load_catalog(&mut tx).await?;
        // Only the workspaces this chunk names: the directory of every workspace would cost
        // each chunk a read of the whole table.
        let named: std::collections::BTreeSet<&str> = batch.iter().map(|(_, i)| i.workspace.as_str()).collect();
        let named: Vec<&str> = named.into_iter().collect();
        let directory: HashMap<String, String> = tx.workspace_accounts(&named).await?.into_iter().collect();
        // Accounts are read (and on PostgreSQL locked) in id order, as the nightly run locks
        // them, so concurrent ingestion and billing never wait on each other in a cycle.
        let ids: std::collections::BTreeSet<&String> = batch.iter().filter_map(|(_, i)| directory.get(&i.workspace)).collect();
        let mut accounts: HashMap<String, Account> = HashMap::new();
        for account_id in ids {
            let row = tx.account(account_id).await?.expect("workspace directory points at an account");
            accounts.insert(account_id.clone(), Account::from_row(row)?);
        }
        let mut report = IngestReport::default();
        let mut valid: Vec<Valid> = Vec::new();
        for (position, input) in batch {
            match validate(&catalog, &accounts, &directory, now, *position, input) {
                Ok(v) => valid.push(v),
                Err(r) => report.rejected.push(r),
            }
        }
        // Idempotency: compare with records stored before and with earlier ones in this batch.
        let mut by_account: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for v in &valid {
            by_account.entry(&v.row.account_id).or_default().push(&v.row.record_id);
        }
        // Records stored before, by account and record id.
        let mut seen: HashMap<String, HashMap<String, UsageRecordRow>> = HashMap::new();
        for (account_id, ids) in by_account {
            for row in tx.usage_records(account_id, &ids).await? {
                seen.entry(row.account_id.clone()).or_default().insert(row.record_id.clone(), row);
            }
        }
        // First decide each record's fate, borrowing from the batch (no copies on the hot
        // path): new, a duplicate, or a conflict with a stored or earlier record.
        let mut first_in_batch: HashMap<(&str, &str), usize> = HashMap::with_capacity(valid.len());
        let mut keep = vec![false; valid.len()];
        for (n, v) in valid.iter().enumerate() {
            let key = (v.row.account_id.as_str(), v.row.record_id.as_str());
            let stored = seen.get(key.0).and_then(|records| records.get(key.1));
            let earlier = stored.or_else(|| first_in_batch.get(&key).map(|&i| &valid[i].row));
            match earlier {
                Some(existing) if same_content(existing, &v.row) => report.duplicate += 1,
                Some(_) => report.rejected.push(Rejected {
                    position: v.position,
                    field: "record_id".into(),
                    reason: format!("`{}` was already ingested with other content", v.row.record_id),
                }),
                None => {
                    first_in_batch.insert(key, n);
                    keep[n] = true;
                    report.accepted += 1;
                }
            }
        }
        // The batch's aggregates per account × day × workspace × item × dimensions, in scaled
        // integer quantities.
        type DailyKey<'a> = (&'a str, jiff::civil::Date, &'a str, &'a str, &'a str);
        let mut daily: BTreeMap<DailyKey, (Aggregation, i64)> = BTreeMap::new();
        for (v, _) in valid.iter().zip(&keep).filter(|(_, k)| **k) {
            let r = &v.row;
            let entry = daily.entry((&r.account_id, r.billing_day, &r.workspace_id, &r.item, &r.dims)).or_insert((v.aggregation, 0));
            entry.1 = v.aggregation.fold(entry.1, r.quantity);
        }
        let (mut sums, mut maxes) = (Vec::new(), Vec::new());
        for ((account_id, day, workspace_id, item, dims), (aggregation, quantity)) in daily {
            let late = accounts[account_id].row.billed_through.is_some_and(|through| day <= through);
            let row = UsageDailyRow {
                account_id: account_id.to_owned(),
                billing_day: day,
                workspace_id: workspace_id.to_owned(),
                item: item.to_owned(),
                dims: dims.to_owned(),
                quantity,
                late,
            };
            match aggregation {
                Aggregation::Sum => sums.push(row),
                Aggregation::Max => maxes.push(row),
            }
        }
        let fresh: Vec<UsageRecordRow> = valid.into_iter().zip(keep).filter(|(_, k)| *k).map(|(v, _)| v.row).collect();
        tx.insert_usage_records(&fresh).await?;
        tx.merge_usage_daily(&sums, false).await?;
        tx.merge_usage_daily(&maxes, true).await?;
        tx.commit().await?;
        report.rejected.sort_by_key(|r| r.position);
        Ok(report)
    }
}

impl App {
    /// Loads daily aggregates as they stand, in one transaction: the benchmark's fixture for a
    /// night "from pre-aggregated usage". Rows are merged with the item's aggregation exactly as
    /// ingested records are, but trusted: no record ids, no validation of workspaces or
    /// dimensions. Not an operator path; the CLI and API ingest records.
    #[doc(hidden)]
    pub async fn load_daily_usage(&self, rows: Vec<UsageDailyRow>) -> Result<usize> {
        let mut tx = self.store.begin().await?;
        let catalog = load_catalog(&mut tx).await?;
        let mut aggregation = HashMap::new();
        for (code, item) in &catalog.items {
            aggregation.insert(code.as_str(), item.aggregation);
        }
        let n = rows.len();
        let (maxes, sums): (Vec<UsageDailyRow>, Vec<UsageDailyRow>) =
            rows.into_iter().partition(|r| aggregation.get(r.item.as_str()) == Some(&Aggregation::Max));
        tx.merge_usage_daily(&sums, false).await?;
        tx.merge_usage_daily(&maxes, true).await?;
        tx.commit().await?;
        Ok(n)
    }
}
