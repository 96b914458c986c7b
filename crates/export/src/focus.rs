//! FOCUS cost files (FinOps Open Cost and Usage Specification 1.2): one [`FocusRow`] per
//! charge, written as CSV or Parquet. The rows come ready-made (the application maps expense
//! lines, credits and purchases to them); this module knows only the columns and the formats.
//! Both writers stream: CSV row by row, Parquet a row group at a time.

use std::io::Write;
use std::sync::Arc;

use jiff::Timestamp;
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, FixedLenByteArray, FixedLenByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use rust_decimal::Decimal;

/// Decimals of the quantity and unit-price columns in Parquet (and the most a row may carry).
pub const FOCUS_QUANTITY_SCALE: u32 = 12;

/// Decimals of the cost columns in Parquet: enough for any currency's minor unit, so one file
/// can hold accounts of several currencies.
const MONEY_SCALE: u32 = 6;

/// What billcenter's FOCUS files claim of FOCUS 1.2's applicability criteria (the conditions
/// under which conditional columns and rules apply): accounts have names, the catalog is a
/// public unit price list, usage is measured, and workspaces are sub accounts.
pub const FOCUS_APPLICABILITY: &str =
    "ACCOUNT_NAMING_SUPPORTED,PUBLIC_PRICE_LIST_SUPPORTED,USAGE_MEASUREMENT_SUPPORTED,UNIT_PRICING_SUPPORTED,SUB_ACCOUNT_SUPPORTED";

/// Rules of the FinOps Foundation's focus-validator 2.2.1 that fail on a correct file because
/// they cannot apply as the validator states them (docs/exports.md says why):
/// `InvoiceId-C-004-C` demands a null InvoiceId on every row, where FOCUS asks it only of
/// charges not associated with any invoice; every billcenter charge belongs to its month's
/// invoice, issued or provisional (and `InvoiceId-C-005-C`, that it MUST NOT be null then,
/// passes).
pub const FOCUS_RULES_THAT_CANNOT_APPLY: [&str; 1] = ["InvoiceId-C-004-C"];

/// Rows per Parquet row group: what the writer holds before it writes.
const ROW_GROUP_ROWS: usize = 65_536;

#[derive(Debug, thiserror::Error)]
pub enum FocusError {
    #[error("writing the FOCUS file: {0}")]
    Io(#[from] std::io::Error),
    #[error("writing the FOCUS Parquet file: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("writing the FOCUS CSV file: {0}")]
    Csv(#[from] csv::Error),
}

/// One charge of a FOCUS cost and usage dataset. Costs are exact amounts with the billing
/// currency's digits (`12.30` CNY, `1230` JPY); periods are instants (written in UTC).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FocusRow {
    pub billed_cost: Decimal,
    pub effective_cost: Decimal,
    pub list_cost: Decimal,
    pub contracted_cost: Decimal,
    pub list_unit_price: Option<Decimal>,
    pub contracted_unit_price: Option<Decimal>,
    pub pricing_quantity: Option<Decimal>,
    pub pricing_unit: Option<String>,
    pub consumed_quantity: Option<Decimal>,
    pub consumed_unit: Option<String>,
    pub billing_account_id: String,
    pub billing_account_name: String,
    pub billing_currency: String,
    pub billing_period_start: Timestamp,
    pub billing_period_end: Timestamp,
    pub charge_period_start: Timestamp,
    pub charge_period_end: Timestamp,
    /// `Usage`, `Purchase`, `Credit`.
    pub charge_category: &'static str,
    /// `Correction` for a charge that corrects an earlier, invoiced period.
    pub charge_class: Option<&'static str>,
    pub charge_description: String,
    /// `One-Time`, `Recurring` or `Usage-Based`.
    pub charge_frequency: &'static str,
    pub invoice_id: Option<String>,
    /// Invoice issuer, provider and publisher: the operator of the service.
    pub issuer: String,
    pub service_category: &'static str,
    pub service_subcategory: &'static str,
    pub service_name: String,
    pub sku_id: Option<String>,
    pub sku_price_id: Option<String>,
    pub sku_meter: Option<String>,
    pub sku_price_details: Option<String>,
    pub sub_account_id: Option<String>,
    pub sub_account_name: Option<String>,
    /// billcenter's own columns (FOCUS custom columns start with `x_`).
    pub x_charge_type: String,
    pub x_line_no: Option<i64>,
    pub x_usage_day: Option<String>,
    pub x_dimensions: Option<String>,
    pub x_rounding_discount: Option<Decimal>,
}

/// How a column's value is stored.
#[derive(Clone, Copy)]
enum Kind {
    Money,
    Decimal,
    Text,
    Instant,
    Int,
}

/// The columns in file order: FOCUS 1.2 names, then the 1.3 provider columns, then billcenter's.
const COLUMNS: &[(&str, Kind, bool)] = &[
    // (name, kind, nullable)
    ("BilledCost", Kind::Money, false),
    ("BillingAccountId", Kind::Text, false),
    ("BillingAccountName", Kind::Text, false),
    ("BillingCurrency", Kind::Text, false),
    ("BillingPeriodEnd", Kind::Instant, false),
    ("BillingPeriodStart", Kind::Instant, false),
    ("ChargeCategory", Kind::Text, false),
    ("ChargeClass", Kind::Text, true),
    ("ChargeDescription", Kind::Text, false),
    ("ChargeFrequency", Kind::Text, false),
    ("ChargePeriodEnd", Kind::Instant, false),
    ("ChargePeriodStart", Kind::Instant, false),
    // No commitment discounts: the column is there, and null, so rules that name it can run.
    ("CommitmentDiscountStatus", Kind::Text, true),
    ("ConsumedQuantity", Kind::Decimal, true),
    ("ConsumedUnit", Kind::Text, true),
    ("ContractedCost", Kind::Money, false),
    ("ContractedUnitPrice", Kind::Decimal, true),
    ("EffectiveCost", Kind::Money, false),
    ("InvoiceId", Kind::Text, true),
    ("InvoiceIssuerName", Kind::Text, false),
    ("ListCost", Kind::Money, false),
    ("ListUnitPrice", Kind::Decimal, true),
    ("PricingCurrency", Kind::Text, false),
    ("PricingCurrencyContractedUnitPrice", Kind::Decimal, true),
    ("PricingCurrencyEffectiveCost", Kind::Money, false),
    ("PricingCurrencyListUnitPrice", Kind::Decimal, true),
    ("PricingQuantity", Kind::Decimal, true),
    ("PricingUnit", Kind::Text, true),
    ("ProviderName", Kind::Text, false),
    ("PublisherName", Kind::Text, false),
    ("ServiceCategory", Kind::Text, false),
    ("ServiceName", Kind::Text, false),
    ("ServiceSubcategory", Kind::Text, false),
    ("SkuId", Kind::Text, true),
    ("SkuMeter", Kind::Text, true),
    ("SkuPriceDetails", Kind::Text, true),
    ("SkuPriceId", Kind::Text, true),
    ("SubAccountId", Kind::Text, true),
    ("SubAccountName", Kind::Text, true),
    ("ServiceProviderName", Kind::Text, false),
    ("HostProviderName", Kind::Text, false),
    ("x_ChargeType", Kind::Text, false),
    ("x_LineNo", Kind::Int, true),
    ("x_UsageDay", Kind::Text, true),
    ("x_Dimensions", Kind::Text, true),
    ("x_RoundingDiscount", Kind::Decimal, true),
];

/// The column names of a FOCUS file, in order.
pub fn focus_columns() -> Vec<&'static str> {
    COLUMNS.iter().map(|(name, _, _)| *name).collect()
}

/// One value of a row, by column.
enum Value<'a> {
    Money(Decimal),
    Decimal(Option<Decimal>),
    Text(Option<&'a str>),
    Instant(Timestamp),
    Int(Option<i64>),
}

impl FocusRow {
    fn values(&self) -> [Value<'_>; 46] {
        [
            Value::Money(self.billed_cost),
            Value::Text(Some(&self.billing_account_id)),
            Value::Text(Some(&self.billing_account_name)),
            Value::Text(Some(&self.billing_currency)),
            Value::Instant(self.billing_period_end),
            Value::Instant(self.billing_period_start),
            Value::Text(Some(self.charge_category)),
            Value::Text(self.charge_class),
            Value::Text(Some(&self.charge_description)),
            Value::Text(Some(self.charge_frequency)),
            Value::Instant(self.charge_period_end),
            Value::Instant(self.charge_period_start),
            Value::Text(None),
            Value::Decimal(self.consumed_quantity),
            Value::Text(self.consumed_unit.as_deref()),
            Value::Money(self.contracted_cost),
            Value::Decimal(self.contracted_unit_price),
            Value::Money(self.effective_cost),
            Value::Text(self.invoice_id.as_deref()),
            Value::Text(Some(&self.issuer)),
            Value::Money(self.list_cost),
            Value::Decimal(self.list_unit_price),
            // Prices are in the billing currency: the pricing-currency columns repeat them.
            Value::Text(Some(&self.billing_currency)),
            Value::Decimal(self.contracted_unit_price),
            Value::Money(self.effective_cost),
            Value::Decimal(self.list_unit_price),
            Value::Decimal(self.pricing_quantity),
            Value::Text(self.pricing_unit.as_deref()),
            Value::Text(Some(&self.issuer)),
            Value::Text(Some(&self.issuer)),
            Value::Text(Some(self.service_category)),
            Value::Text(Some(&self.service_name)),
            Value::Text(Some(self.service_subcategory)),
            Value::Text(self.sku_id.as_deref()),
            Value::Text(self.sku_meter.as_deref()),
            Value::Text(self.sku_price_details.as_deref()),
            Value::Text(self.sku_price_id.as_deref()),
            Value::Text(self.sub_account_id.as_deref()),
            Value::Text(self.sub_account_name.as_deref()),
            Value::Text(Some(&self.issuer)),
            Value::Text(Some(&self.issuer)),
            Value::Text(Some(&self.x_charge_type)),
            Value::Int(self.x_line_no),
            Value::Text(self.x_usage_day.as_deref()),
            Value::Text(self.x_dimensions.as_deref()),
            Value::Decimal(self.x_rounding_discount),
        ]
    }
}

/// A quantity or price as text, always with a decimal point (`4038163.0`), so that a reader
/// that guesses a column's type from its text sees a decimal column, not an integer one.
fn decimal_text(d: Decimal) -> String {
    let d = d.normalize();
    if d.scale() == 0 { format!("{d}.0") } else { d.to_string() }
}

/// An instant as FOCUS writes it in text: UTC, to the second, `Z`.
fn instant_text(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A FOCUS CSV file: a header row, then one row per charge (no byte-order mark: FinOps tools
/// read plain UTF-8). Text is written as it is; nothing in a cost file is a formula.
pub struct FocusCsv<W: Write> {
    out: csv::Writer<W>,
}

impl<W: Write> FocusCsv<W> {
    pub fn new(out: W) -> Result<FocusCsv<W>, FocusError> {
        let mut out = csv::WriterBuilder::new().from_writer(out);
        out.write_record(focus_columns())?;
        Ok(FocusCsv { out })
    }

    pub fn push(&mut self, row: &FocusRow) -> Result<(), FocusError> {
        let fields: Vec<String> = row
            .values()
            .iter()
            .map(|v| match v {
                Value::Money(m) => m.to_string(),
                Value::Decimal(d) => d.map(decimal_text).unwrap_or_default(),
                Value::Text(t) => t.unwrap_or_default().to_owned(),
                Value::Instant(at) => instant_text(*at),
                Value::Int(i) => i.map(|i| i.to_string()).unwrap_or_default(),
            })
            .collect();
        self.out.write_record(&fields)?;
        Ok(())
    }

    pub fn finish(mut self) -> Result<(), FocusError> {
        self.out.flush()?;
        Ok(())
    }
}

/// A FOCUS Parquet file: money as DECIMAL(38, 6), quantities and prices as
/// DECIMAL(38, 12), periods as UTC timestamps in milliseconds, text as UTF-8 strings; nulls
/// where FOCUS allows them. Rows are held a row group at a time.
pub struct FocusParquet<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    rows: Vec<FocusRow>,
}

impl<W: Write + Send> FocusParquet<W> {
    pub fn new(out: W) -> Result<FocusParquet<W>, FocusError> {
        let mut schema = String::from("message focus {\n");
        for (name, kind, nullable) in COLUMNS {
            let repetition = if *nullable { "OPTIONAL" } else { "REQUIRED" };
            let ty = match kind {
                Kind::Money => format!("FIXED_LEN_BYTE_ARRAY (16) {name} (DECIMAL(38, {MONEY_SCALE}))"),
                Kind::Decimal => format!("FIXED_LEN_BYTE_ARRAY (16) {name} (DECIMAL(38, {FOCUS_QUANTITY_SCALE}))"),
                Kind::Text => format!("BYTE_ARRAY {name} (UTF8)"),
                Kind::Instant => format!("INT64 {name} (TIMESTAMP(MILLIS, true))"),
                Kind::Int => format!("INT64 {name}"),
            };
            schema.push_str(&format!("  {repetition} {ty};\n"));
        }
        schema.push('}');
        let schema = Arc::new(parse_message_type(&schema)?);
        let props = Arc::new(WriterProperties::builder().set_compression(Compression::SNAPPY).set_created_by("billcenter".into()).build());
        Ok(FocusParquet { writer: SerializedFileWriter::new(out, schema, props)?, rows: Vec::new() })
    }

    pub fn push(&mut self, row: &FocusRow) -> Result<(), FocusError> {
        self.rows.push(row.clone());
        if self.rows.len() >= ROW_GROUP_ROWS {
            self.flush_group()?;
        }
        Ok(())
    }

    fn flush_group(&mut self) -> Result<(), FocusError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        let values: Vec<_> = rows.iter().map(FocusRow::values).collect();
        let mut group = self.writer.next_row_group()?;
        let mut c = 0;
        while let Some(mut column) = group.next_column()? {
            let (_, kind, nullable) = COLUMNS[c];
            let cells = values.iter().map(|v| &v[c]);
            let defs: Vec<i16> = cells.clone().map(|v| i16::from(!is_null(v))).collect();
            let defs = nullable.then_some(defs.as_slice());
            match kind {
                Kind::Money | Kind::Decimal => {
                    let scale = if matches!(kind, Kind::Money) { MONEY_SCALE } else { FOCUS_QUANTITY_SCALE };
                    let data: Vec<FixedLenByteArray> = cells
                        .filter_map(|v| match v {
                            Value::Money(m) => Some(scaled(*m, scale)),
                            Value::Decimal(d) => d.map(|d| scaled(d, scale)),
                            _ => unreachable!("a decimal column holds decimals"),
                        })
                        .map(|m| FixedLenByteArray::from(m.to_be_bytes().to_vec()))
                        .collect();
                    column.typed::<FixedLenByteArrayType>().write_batch(&data, defs, None)?;
                }
                Kind::Text => {
                    let data: Vec<ByteArray> = cells
                        .filter_map(|v| match v {
                            Value::Text(t) => t.map(|t| ByteArray::from(t.as_bytes().to_vec())),
                            _ => unreachable!("a text column holds text"),
                        })
                        .collect();
                    column.typed::<ByteArrayType>().write_batch(&data, defs, None)?;
                }
                Kind::Instant | Kind::Int => {
                    let data: Vec<i64> = cells
                        .filter_map(|v| match v {
                            Value::Instant(at) => Some(at.as_millisecond()),
                            Value::Int(i) => *i,
                            _ => unreachable!("an integer column holds integers"),
                        })
                        .collect();
                    column.typed::<Int64Type>().write_batch(&data, defs, None)?;
                }
            }
            column.close()?;
            c += 1;
        }
        group.close()?;
        Ok(())
    }

    pub fn finish(mut self) -> Result<(), FocusError> {
        self.flush_group()?;
        self.writer.close()?;
        Ok(())
    }
}

/// A FOCUS file in either format, chosen when it is made.
pub enum FocusFile<W: Write + Send> {
    Csv(FocusCsv<W>),
    Parquet(FocusParquet<W>),
}

impl<W: Write + Send> FocusFile<W> {
    pub fn new(parquet: bool, out: W) -> Result<FocusFile<W>, FocusError> {
        Ok(if parquet { FocusFile::Parquet(FocusParquet::new(out)?) } else { FocusFile::Csv(FocusCsv::new(out)?) })
    }

    pub fn push(&mut self, row: &FocusRow) -> Result<(), FocusError> {
        match self {
            FocusFile::Csv(f) => f.push(row),
            FocusFile::Parquet(f) => f.push(row),
        }
    }

    pub fn finish(self) -> Result<(), FocusError> {
        match self {
            FocusFile::Csv(f) => f.finish(),
            FocusFile::Parquet(f) => f.finish(),
        }
    }
}

fn is_null(v: &Value<'_>) -> bool {
    matches!(v, Value::Decimal(None) | Value::Text(None) | Value::Int(None))
}

/// A decimal as an integer at `scale` decimals.
///
/// # Panics
/// When it has more decimals than `scale`: the rows are made at the file's scales.
fn scaled(d: Decimal, scale: u32) -> i128 {
    let d = d.normalize();
    assert!(d.scale() <= scale, "{d} has more than {scale} decimals");
    d.mantissa() * 10i128.pow(scale - d.scale())
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    fn row(billed: &str) -> FocusRow {
        FocusRow {
            billed_cost: billed.parse().unwrap(),
            effective_cost: billed.parse().unwrap(),
            consumed_quantity: Some(Decimal::from(4_038_163)),
            pricing_quantity: Some("8.771856".parse().unwrap()),
            billing_account_id: "acme".into(),
            charge_category: "Usage",
            charge_frequency: "Usage-Based",
            x_line_no: Some(7),
            ..FocusRow::default()
        }
    }

    #[test]
    fn csv_writes_every_column_and_decimals_look_decimal() {
        let mut out = Vec::new();
        let mut file = FocusCsv::new(&mut out).unwrap();
        file.push(&row("-13.15")).unwrap();
        file.finish().unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), focus_columns().join(","));
        let cells: Vec<&str> = lines.next().unwrap().split(',').collect();
        let at = |name: &str| cells[focus_columns().iter().position(|c| *c == name).unwrap()];
        assert_eq!(at("BilledCost"), "-13.15");
        assert_eq!(at("ConsumedQuantity"), "4038163.0");
        assert_eq!(at("PricingQuantity"), "8.771856");
        assert_eq!(at("ChargePeriodStart"), "1970-01-01T00:00:00Z");
        assert_eq!(at("x_LineNo"), "7");
        assert_eq!(at("ListUnitPrice"), "", "a null is an empty cell");
    }

    #[test]
    fn parquet_holds_every_row_in_row_groups() {
        let mut out = Vec::new();
        let mut file = FocusParquet::new(&mut out).unwrap();
        for i in 0..(ROW_GROUP_ROWS + 10) {
            file.push(&row(&format!("{i}.25"))).unwrap();
        }
        file.finish().unwrap();
        let reader = SerializedFileReader::new(bytes::Bytes::from(out)).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.file_metadata().num_rows(), (ROW_GROUP_ROWS + 10) as i64);
        assert_eq!(meta.num_row_groups(), 2, "a full group, then the rest");
        let names: Vec<&str> = meta.file_metadata().schema_descr().columns().iter().map(|c| c.name()).collect();
        assert_eq!(names, focus_columns());
    }

    #[test]
    fn decimals_scale_exactly() {
        assert_eq!(scaled("13.15".parse().unwrap(), 6), 13_150_000);
        assert_eq!(scaled("-0.000001".parse().unwrap(), 6), -1);
        assert!(std::panic::catch_unwind(|| scaled("0.0000001".parse().unwrap(), 6)).is_err());
    }
}
