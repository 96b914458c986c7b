//! Usage ingestion: validation, idempotency by `record_id`, and the daily aggregates kept at
//! ingest so the nightly run never scans raw records.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;

use billing::money::to_scaled;
use billing::{Aggregation, Catalog, Dims};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use store::{RecordClaim, UsageDailyRow};

use crate::context::{Account, load_catalog};
use crate::{App, AppError, Result};

/// Maps keyed by a batch's texts (ids sent by clients: a seeded hash).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Quantities are stored as integers at this scale (six decimals), as the billing core keeps them.
pub use billing::money::QUANTITY_SCALE;
/// How far back usage is accepted.
pub const LATE_WINDOW_DAYS: i64 = 180;
/// How far ahead of the clock a timestamp may be.
pub const FUTURE_TOLERANCE: SignedDuration = SignedDuration::from_hours(1);
/// Records per database transaction when importing a file.
pub const IMPORT_BATCH: usize = 50_000;

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
    pub fn absorb(&mut self, other: IngestReport) {
        self.accepted += other.accepted;
        self.duplicate += other.duplicate;
        self.rejected.extend(other.rejected);
    }
}

/// Records read from a file (prepared, with their line numbers), and the lines that could not
/// be read.
pub type ReadUsage = (Vec<Prepared>, Vec<Rejected>);

/// What a record says that needs nothing stored to check: its instant, its quantity at
/// `QUANTITY_SCALE` decimals and its fingerprint. Worked out where the record is read (on a
/// file import, the reader's thread), so the transaction only looks things up.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub position: usize,
    pub input: UsageInput,
    at: Option<Timestamp>,
    quantity: std::result::Result<i64, QuantityProblem>,
    fingerprint: i64,
}

#[derive(Debug, Clone, Copy)]
enum QuantityProblem {
    NotDecimal,
    Negative,
    TooFine,
}

impl Prepared {
    /// The quantity in the store's scaled integers, when the record's text is one.
    pub fn quantity(&self) -> Option<i64> {
        self.quantity.ok()
    }

    pub fn new(position: usize, input: UsageInput) -> Prepared {
        let at = input.timestamp.trim().parse::<Timestamp>().ok();
        let quantity = match billing::money::plain_decimal(input.quantity.0.trim()).ok_or(()) {
            Err(()) => Err(QuantityProblem::NotDecimal),
            Ok(q) if q.is_sign_negative() && !q.is_zero() => Err(QuantityProblem::Negative),
            Ok(q) => to_scaled(q, QUANTITY_SCALE).filter(|v| *v < 1_000_000_000_000_000_000).ok_or(QuantityProblem::TooFine),
        };
        let fingerprint = match (at, quantity) {
            (Some(at), Ok(quantity)) => fingerprint(&input, at, quantity),
            _ => 0,
        };
        Prepared { position, input, at, quantity, fingerprint }
    }
}

/// Reads a usage file: CSV (header `record_id,workspace,item,timestamp,quantity` then one
/// column per dimension) or NDJSON (one JSON object per line), `IMPORT_BATCH` records at a
/// time: `each` gets every chunk's records with their line numbers and the lines among them
/// that could not be read (as rejections), and stops the reading by answering `false`.
pub fn read_usage_chunks(mut reader: impl BufRead, ndjson: bool, mut each: impl FnMut(ReadUsage) -> bool) -> Result<()> {
    let mut good = Vec::with_capacity(IMPORT_BATCH);
    let mut bad = Vec::new();
    let mut full = |good: &mut Vec<Prepared>, bad: &mut Vec<Rejected>, last: bool| {
        if good.len() >= IMPORT_BATCH || (last && !(good.is_empty() && bad.is_empty())) {
            each((std::mem::replace(good, Vec::with_capacity(IMPORT_BATCH)), std::mem::take(bad)))
        } else {
            true
        }
    };
    if ndjson {
        let mut line = Vec::new();
        let mut number = 0;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(|e| AppError::invalid("file", e.to_string()))? == 0 {
                break;
            }
            number += 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<UsageInput>(&line) {
                Ok(input) => good.push(Prepared::new(number, input)),
                Err(e) => bad.push(Rejected { position: number, field: "record".into(), reason: e.to_string() }),
            }
            if !full(&mut good, &mut bad, false) {
                return Ok(());
            }
        }
        full(&mut good, &mut bad, true);
        return Ok(());
    }
    let mut csv = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).from_reader(reader);
    let header: Vec<String> = csv.headers().map_err(|e| AppError::invalid("file", e.to_string()))?.iter().map(str::to_owned).collect();
    let fixed = ["record_id", "workspace", "item", "timestamp", "quantity"];
    if header.len() < fixed.len() || header[..fixed.len()] != fixed {
        return Err(AppError::invalid("file", format!("the CSV header must start with {}", fixed.join(","))));
    }
    for (i, record) in csv.records().enumerate() {
        let line = i + 2;
        match record {
            Ok(record) => {
                let dimensions = header[fixed.len()..]
                    .iter()
                    .zip(record.iter().skip(fixed.len()))
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (k.clone(), v.to_owned()))
                    .collect();
                good.push(Prepared::new(
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
            Err(e) => bad.push(Rejected { position: line, field: "record".into(), reason: e.to_string() }),
        }
        if !full(&mut good, &mut bad, false) {
            return Ok(());
        }
    }
    full(&mut good, &mut bad, true);
    Ok(())
}

/// A record that passed validation, borrowing its text from the input.
struct Valid<'a> {
    position: usize,
    account_id: &'a str,
    input: &'a UsageInput,
    dims: Dims,
    billing_day: jiff::civil::Date,
    /// Scaled by 10^`QUANTITY_SCALE`.
    quantity: i64,
    aggregation: Aggregation,
    fingerprint: i64,
}

/// Checks a record against the catalog, the clock and its workspace's account (`owner`:
/// `None` when no such workspace exists).
fn validate<'a>(
    catalog: &Catalog,
    owner: Option<(&'a str, &Account)>,
    now: Timestamp,
    prepared: &'a Prepared,
) -> std::result::Result<Valid<'a>, Rejected> {
    let (position, input) = (prepared.position, &prepared.input);
    let reject = |field: &str, reason: String| Rejected { position, field: field.to_owned(), reason };
    if input.record_id.is_empty() || input.record_id.chars().count() > 128 || input.record_id.chars().any(char::is_control) {
        return Err(reject("record_id", "must be 1 to 128 characters without control characters".into()));
    }
    let (account_id, account) = owner.ok_or_else(|| reject("workspace", format!("unknown workspace `{}`", input.workspace)))?;
    let item = catalog.item(&input.item).map_err(|e| reject("item", e.to_string()))?;
    let dims = item.dims_for(&input.dimensions).map_err(|e| reject("dimensions", e.to_string()))?;
    let at = prepared.at.ok_or_else(|| reject("timestamp", format!("`{}` is not an RFC 3339 timestamp", input.timestamp)))?;
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
    let quantity = prepared.quantity.map_err(|problem| match problem {
        QuantityProblem::NotDecimal => reject("quantity", format!("`{text}` is not a decimal number")),
        QuantityProblem::Negative => reject("quantity", format!("`{text}` is negative")),
        QuantityProblem::TooFine => reject("quantity", format!("`{text}` has more than {QUANTITY_SCALE} decimals or is too large")),
    })?;
    Ok(Valid {
        position,
        account_id,
        input,
        fingerprint: prepared.fingerprint,
        dims,
        billing_day: billing::period::billing_day(at, &account.tz),
        quantity,
        aggregation: item.aggregation,
    })
}

/// A record's content as ingestion remembers it under its id: the first 8 bytes of the
/// SHA-256 of its workspace, item, dimensions (their count, then key and value in key order; a
/// valid record's are its canonical ones), instant and scaled quantity, every text length-prefixed so no two
/// contents share an encoding. Never 0, which marks an id whose content is not known.
fn fingerprint(input: &UsageInput, at: Timestamp, quantity: i64) -> i64 {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    fn text(h: &mut sha2::Sha256, t: &str) {
        h.update(u32::try_from(t.len()).expect("a record's texts are short").to_le_bytes());
        h.update(t.as_bytes());
    }
    text(&mut h, &input.workspace);
    text(&mut h, &input.item);
    h.update(u32::try_from(input.dimensions.len()).expect("a record names few dimensions").to_le_bytes());
    for (key, value) in &input.dimensions {
        text(&mut h, key);
        text(&mut h, value);
    }
    h.update(at.as_microsecond().to_le_bytes());
    h.update(quantity.to_le_bytes());
    let digest = h.finalize();
    let value = i64::from_le_bytes(digest[..8].try_into().expect("a SHA-256 digest has 32 bytes"));
    if value == 0 { 1 } else { value }
}

/// A record's fate against the one stored (or met earlier) under its id.
fn repeat_fate(earlier: i64, now: &Valid<'_>, report: &mut IngestReport) {
    if earlier == 0 || earlier == now.fingerprint {
        report.duplicate += 1;
    } else {
        report.rejected.push(Rejected {
            position: now.position,
            field: "record_id".into(),
            reason: format!("`{}` was already ingested with other content", now.input.record_id),
        });
    }
}

impl App {
    /// Ingests a batch of records in one transaction: all valid records are stored, none of
    /// the refused ones. A record id seen before with the same content is a duplicate; with
    /// other content it is refused as a conflict.
    pub async fn ingest(&self, now: Timestamp, batch: Vec<(usize, UsageInput)>) -> Result<IngestReport> {
        let prepared: Vec<Prepared> = batch.into_iter().map(|(position, input)| Prepared::new(position, input)).collect();
        self.ingest_prepared(now, &prepared).await
    }

    /// `ingest` for records prepared where they were read.
    pub async fn ingest_prepared(&self, now: Timestamp, batch: &[Prepared]) -> Result<IngestReport> {
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

    /// Imports a usage file (as `read_usage_chunks` reads it): the file is read and parsed on
    /// a thread of its own while the chunk before is stored, one transaction per chunk. Stored
    /// chunks go back to the reading thread to be freed: their texts were allocated there, and
    /// freeing them here cost this thread a fifth of its time.
    pub async fn import_usage(&self, now: Timestamp, reader: impl BufRead + Send + 'static, ndjson: bool) -> Result<IngestReport> {
        let (send, mut receive) = tokio::sync::mpsc::channel::<Result<ReadUsage>>(2);
        let (done, freed) = std::sync::mpsc::channel::<Vec<Prepared>>();
        let reading = std::thread::spawn(move || {
            let each = |chunk| {
                freed.try_iter().for_each(drop);
                send.blocking_send(Ok(chunk)).is_ok()
            };
            if let Err(e) = read_usage_chunks(reader, ndjson, each) {
                let _ = send.blocking_send(Err(e));
            }
        });
        let mut report = IngestReport::default();
        while let Some(chunk) = receive.recv().await {
            let (records, unreadable) = chunk?;
            report.absorb(self.ingest_prepared(now, &records).await?);
            report.rejected.extend(unreadable);
            // The reader may have stopped (at the end of the file) and left the chunk here.
            let _ = done.send(records);
        }
        reading.join().expect("the usage file's reader thread does not panic");
        report.rejected.sort_by_key(|r| r.position);
        Ok(report)
    }

    async fn ingest_chunk(&self, now: Timestamp, batch: &[Prepared]) -> Result<IngestReport> {
        let mut tx = self.store.begin().await?;
        let catalog = load_catalog(&mut tx).await?;
        // Only the workspaces this chunk names: the directory of every workspace would cost
        // each chunk a read of the whole table.
        let named: std::collections::BTreeSet<&str> = batch.iter().map(|p| p.input.workspace.as_str()).collect();
        let named: Vec<&str> = named.into_iter().collect();
        let directory: HashMap<String, String> = tx.workspace_accounts(&named).await?.into_iter().collect();
        // Accounts are read (and on PostgreSQL locked) in id order, as the nightly run locks
        // them, so concurrent ingestion and billing never wait on each other in a cycle.
        let ids: std::collections::BTreeSet<&str> = directory.values().map(String::as_str).collect();
        let ids: Vec<&str> = ids.into_iter().collect();
        let mut accounts: HashMap<String, Account> = HashMap::with_capacity(ids.len());
        for row in tx.accounts(&ids).await? {
            accounts.insert(row.account_id.clone(), Account::from_row(row)?);
        }
        assert_eq!(accounts.len(), ids.len(), "the workspace directory points at accounts that exist");
        let mut report = IngestReport::default();
        let mut valid: Vec<Valid> = Vec::with_capacity(batch.len());
        // A file names a workspace for many records in a row: its owner is looked up once.
        let mut last: Option<(&str, Option<(&str, &Account)>)> = None;
        for prepared in batch {
            let workspace = prepared.input.workspace.as_str();
            let owner = match last {
                Some((seen, owner)) if seen == workspace => owner,
                _ => {
                    let owner = directory.get(workspace).map(|id| (id.as_str(), &accounts[id]));
                    last = Some((workspace, owner));
                    owner
                }
            };
            match validate(&catalog, owner, now, prepared) {
                Ok(v) => valid.push(v),
                Err(r) => report.rejected.push(r),
            }
        }
        // Idempotency: the first record under each id in this batch claims the id; the store
        // answers the fingerprint of an id it held already. Later records under an id are
        // compared with what was stored, or else with the first.
        let mut first: FastMap<(&str, &str), usize> = FastMap::with_capacity_and_hasher(valid.len(), Default::default());
        let (mut claims, mut claimed, mut repeats) = (Vec::with_capacity(valid.len()), Vec::with_capacity(valid.len()), Vec::new());
        for (n, v) in valid.iter().enumerate() {
            match first.entry((v.account_id, v.input.record_id.as_str())) {
                std::collections::hash_map::Entry::Occupied(e) => repeats.push((n, *e.get())),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(n);
                    claimed.push(n);
                    claims.push(RecordClaim { account_id: v.account_id, record_id: &v.input.record_id, fingerprint: v.fingerprint });
                }
            }
        }
        let answers = tx.claim_record_ids(&claims).await?;
        let mut keep = vec![false; valid.len()];
        let mut stored: HashMap<usize, i64> = HashMap::new();
        for (&n, answer) in claimed.iter().zip(answers) {
            match answer {
                None => {
                    keep[n] = true;
                    report.accepted += 1;
                }
                Some(fingerprint) => {
                    stored.insert(n, fingerprint);
                    repeat_fate(fingerprint, &valid[n], &mut report);
                }
            }
        }
        for (n, f) in repeats {
            let earlier = stored.get(&f).copied().unwrap_or(valid[f].fingerprint);
            repeat_fate(earlier, &valid[n], &mut report);
        }
        // The batch's aggregates per account × day × workspace × item × dimensions, in scaled
        // integer quantities.
        // A file's records of one key mostly follow each other: the key before is tried first.
        type DailyKey<'a> = (&'a str, jiff::civil::Date, &'a str, &'a str, &'a str);
        let mut daily: Vec<(DailyKey, Aggregation, i64)> = Vec::new();
        let mut at: FastMap<DailyKey, usize> = FastMap::default();
        let mut previous: Option<usize> = None;
        for (v, _) in valid.iter().zip(&keep).filter(|(_, k)| **k) {
            let key = (v.account_id, v.billing_day, v.input.workspace.as_str(), v.input.item.as_str(), v.dims.as_str());
            let n = match previous {
                Some(n) if daily[n].0 == key => n,
                _ => *at.entry(key).or_insert_with(|| {
                    daily.push((key, v.aggregation, 0));
                    daily.len() - 1
                }),
            };
            previous = Some(n);
            daily[n].2 = v.aggregation.fold(daily[n].2, v.quantity);
        }
        daily.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let (mut sums, mut maxes) = (Vec::new(), Vec::new());
        for ((account_id, day, workspace_id, item, dims), aggregation, quantity) in daily {
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
        if report.accepted > 0 {
            tx.merge_usage_daily(&sums, false).await?;
            tx.merge_usage_daily(&maxes, true).await?;
            tx.commit().await?;
        }
        // A chunk that accepted nothing wrote nothing: its transaction ends without a commit.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_in_chunks_with_its_line_numbers() {
        let mut text = String::new();
        let lines = 2 * IMPORT_BATCH + 5_003;
        for i in 1..=lines {
            match i {
                7 => text.push_str("{not json\n"),
                8 => text.push_str("   \n"),
                _ => text.push_str(&format!(
                    r#"{{"record_id":"r{i}","workspace":"w","item":"sms","timestamp":"2026-11-01T00:00:00Z","quantity":"1"}}"#
                )),
            }
            if i != 7 && i != 8 {
                text.push('\n');
            }
        }
        let mut chunks = Vec::new();
        read_usage_chunks(text.as_bytes(), true, |chunk| {
            chunks.push(chunk);
            true
        })
        .unwrap();
        assert_eq!(chunks.iter().map(|(good, _)| good.len()).collect::<Vec<_>>(), [IMPORT_BATCH, IMPORT_BATCH, 5_001]);
        assert_eq!(chunks[0].1.iter().map(|r| r.position).collect::<Vec<_>>(), [7], "the unreadable line, by its number");
        let (last, _) = chunks.last().unwrap();
        let first_of_last = 2 * IMPORT_BATCH + 3;
        assert_eq!((last[0].position, last[0].input.record_id.clone()), (first_of_last, format!("r{first_of_last}")));
        assert_eq!(last.last().unwrap().position, lines);
        assert_eq!(last[0].quantity.ok(), Some(1_000_000), "read and prepared");
        // A reader that answers `false` stops the reading.
        let mut seen = 0;
        read_usage_chunks(text.as_bytes(), true, |_| {
            seen += 1;
            false
        })
        .unwrap();
        assert_eq!(seen, 1);
    }

    #[test]
    fn a_repeated_id_is_a_duplicate_unless_its_content_differs() {
        let input = UsageInput {
            record_id: "r1".into(),
            workspace: "w".into(),
            item: "sms".into(),
            timestamp: "2026-11-01T00:00:00Z".into(),
            quantity: QuantityText("1".into()),
            dimensions: BTreeMap::new(),
        };
        let prepared = Prepared::new(3, input);
        let valid = Valid {
            position: 3,
            account_id: "a",
            input: &prepared.input,
            dims: Dims::none(),
            billing_day: jiff::civil::date(2026, 11, 1),
            quantity: 1_000_000,
            aggregation: Aggregation::Sum,
            fingerprint: prepared.fingerprint,
        };
        let mut report = IngestReport::default();
        repeat_fate(prepared.fingerprint, &valid, &mut report);
        repeat_fate(0, &valid, &mut report);
        assert_eq!((report.duplicate, report.rejected.len()), (2, 0), "the same content, or an id stored before fingerprints");
        repeat_fate(prepared.fingerprint ^ 1, &valid, &mut report);
        assert_eq!(report.rejected.iter().map(|r| (r.position, r.field.as_str())).collect::<Vec<_>>(), [(3, "record_id")]);
    }

    #[test]
    fn a_fingerprint_changes_with_every_part_of_the_content() {
        let at: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
        let record = |workspace: &str, item: &str, dims: &[(&str, &str)]| UsageInput {
            record_id: "r".into(),
            workspace: workspace.into(),
            item: item.into(),
            timestamp: String::new(),
            quantity: QuantityText(String::new()),
            dimensions: dims.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        let base = fingerprint(&record("w", "sms", &[]), at, 1);
        let others = [
            fingerprint(&record("w2", "sms", &[]), at, 1),
            fingerprint(&record("w", "log_events", &[]), at, 1),
            fingerprint(&record("w", "sms", &[("retention_days", "7")]), at, 1),
            fingerprint(&record("w", "sms", &[("retention_days", "14")]), at, 1),
            fingerprint(&record("w", "sms", &[]), at + SignedDuration::from_micros(1), 1),
            fingerprint(&record("w", "sms", &[]), at, 2),
            // The same bytes split differently between the texts.
            fingerprint(&record("ws", "ms", &[]), at, 1),
        ];
        // Stored fingerprints outlive versions: the encoding is fixed (checked against Python's
        // hashlib over the same bytes).
        assert_eq!(base, 5_284_103_806_934_482_520);
        for (i, other) in others.iter().enumerate() {
            assert_ne!(base, *other, "variant {i}");
            assert_ne!(*other, 0, "0 marks an id of unknown content");
        }
        assert_eq!(others[2], fingerprint(&record("w", "sms", &[("retention_days", "7")]), at, 1), "a function of the content alone");
    }
}
