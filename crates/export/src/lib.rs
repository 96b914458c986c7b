//! Writers for billcenter's lists: CSV (UTF-8 with a byte-order mark, CRLF, formula injection
//! neutralised), XLSX (typed cells, a totals row, an About sheet), JSON and aligned text. They
//! work on [`Table`]s of ready-formatted cells and know nothing of databases or HTTP.

mod focus;
mod pdf;
mod xlsx;

pub use focus::{
    FOCUS_APPLICABILITY, FOCUS_QUANTITY_SCALE, FOCUS_RULES_THAT_CANNOT_APPLY, FocusCsv, FocusError, FocusFile, FocusParquet, FocusRow,
    focus_columns,
};
pub use pdf::{Amounts, InvoiceDocument, InvoiceLine, Issuer, PdfError, WorkspaceLines, invoice_pdf};
pub use xlsx::{About, XlsxError, XlsxSheet, write_xlsx};

use std::io::{self, Write};

/// An amount string (`-1234.50`) with its thousands grouped (`-1,234.50`).
pub fn group_thousands(amount: &str) -> String {
    let (sign, digits) = amount.strip_prefix('-').map_or(("", amount), |d| ("-", d));
    let (whole, fraction) = digits.split_once('.').map_or((digits, None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// One cell, kept as the exact text every format starts from; the variant says what the text
/// is, so a spreadsheet can store it as a number or a date. `Number` and `Money` are exact
/// decimal strings (a leading minus is a sign, not a formula); `Money` is an amount with the
/// currency's digits. `Date` is `YYYY-MM-DD`, `Time` is `YYYY-MM-DD HH:MM:SS` in the zone its
/// column names. Everything else is `Text`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Text(String),
    Number(String),
    Money(String),
    Date(String),
    Time(String),
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }
    pub fn number(s: impl Into<String>) -> Cell {
        Cell::Number(s.into())
    }
    pub fn money(s: impl Into<String>) -> Cell {
        Cell::Money(s.into())
    }
    pub fn date(d: jiff::civil::Date) -> Cell {
        Cell::Date(d.to_string())
    }
    /// A moment as the wall-clock time of a zone, to the second.
    pub fn time(at: jiff::civil::DateTime) -> Cell {
        Cell::Time(at.strftime("%Y-%m-%d %H:%M:%S").to_string())
    }
    pub fn as_str(&self) -> &str {
        match self {
            Cell::Text(s) | Cell::Number(s) | Cell::Money(s) | Cell::Date(s) | Cell::Time(s) => s,
        }
    }
    /// Numbers and amounts align right; text, dates and times left.
    pub fn is_numeric(&self) -> bool {
        matches!(self, Cell::Number(_) | Cell::Money(_))
    }
}

/// A list as exported: column names (stating currency and time zone where they apply) and rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// Columns whose amounts add up to a meaningful total (a spreadsheet's totals row).
    pub totals: Vec<usize>,
}

impl Table {
    pub fn new(columns: &[&str]) -> Table {
        Table { columns: columns.iter().map(|c| (*c).to_owned()).collect(), rows: Vec::new(), totals: Vec::new() }
    }

    /// Marks the columns (by [`Table::keys`] name) that a totals row sums.
    ///
    /// # Panics
    /// When a name is not a column: the lists name their own columns.
    pub fn with_totals(mut self, keys: &[&str]) -> Table {
        let all = self.keys();
        self.totals =
            keys.iter().map(|k| all.iter().position(|c| c == k).unwrap_or_else(|| panic!("`{k}` is not a column of {all:?}"))).collect();
        self
    }

    /// Machine names of the columns: the title without its parenthesised note, in snake case
    /// (`gross (CNY)` is `gross`, `billing day (Asia/Shanghai)` is `billing_day`).
    pub fn keys(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|c| {
                let bare = c.split(" (").next().unwrap_or(c);
                bare.trim().to_lowercase().replace([' ', '-'], "_")
            })
            .collect()
    }

    /// The rows as JSON objects keyed by [`Table::keys`], every value a string.
    pub fn json_rows(&self) -> Vec<serde_json::Value> {
        let keys = self.keys();
        self.rows
            .iter()
            .map(|row| {
                let map = keys.iter().zip(row).map(|(k, v)| (k.clone(), serde_json::Value::String(v.as_str().to_owned()))).collect();
                serde_json::Value::Object(map)
            })
            .collect()
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        assert_eq!(row.len(), self.columns.len(), "a row has one cell per column");
        self.rows.push(row);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Text,
}

impl Format {
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "text" => Some(Format::Text),
            _ => None,
        }
    }
}

pub fn write(table: &Table, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Csv => write_csv(table, out),
        Format::Json => write_json(table, out),
        Format::Text => write_text(table, out),
    }
}

/// Text cells a spreadsheet would read as a formula get a leading apostrophe.
fn neutralise(cell: &Cell) -> String {
    match cell {
        Cell::Number(s) | Cell::Money(s) | Cell::Date(s) | Cell::Time(s) => s.clone(),
        Cell::Text(s) if s.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{s}"),
        Cell::Text(s) => s.clone(),
    }
}

/// A CSV file being written row by row: the byte-order mark and header first, then each row
/// as it comes (memory does not grow with the rows).
pub struct CsvSheet<W: Write> {
    w: csv::Writer<W>,
}

impl<W: Write> CsvSheet<W> {
    pub fn new(columns: &[String], mut out: W) -> io::Result<CsvSheet<W>> {
        out.write_all("\u{feff}".as_bytes())?;
        let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out);
        w.write_record(columns)?;
        Ok(CsvSheet { w })
    }

    pub fn push(&mut self, row: &[Cell]) -> io::Result<()> {
        self.w.write_record(row.iter().map(neutralise))?;
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<()> {
        self.w.flush()
    }
}

pub fn write_csv(table: &Table, out: &mut dyn Write) -> io::Result<()> {
    let mut sheet = CsvSheet::new(&table.columns, out)?;
    for row in &table.rows {
        sheet.push(row)?;
    }
    sheet.finish()
}

/// An array of objects, one per row, every value a string (amounts stay exact decimals).
pub fn write_json(table: &Table, out: &mut dyn Write) -> io::Result<()> {
    let rows: Vec<serde_json::Value> = table
        .rows
        .iter()
        .map(|row| {
            let map = table.columns.iter().zip(row).map(|(c, v)| (c.clone(), serde_json::Value::String(v.as_str().to_owned()))).collect();
            serde_json::Value::Object(map)
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &rows)?;
    writeln!(out)
}

/// Aligned columns for a terminal: numbers right-aligned, text left-aligned.
pub fn write_text(table: &Table, out: &mut dyn Write) -> io::Result<()> {
    let width = |s: &str| s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum::<usize>();
    let mut widths: Vec<usize> = table.columns.iter().map(|c| width(c)).collect();
    for row in &table.rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell.as_str()));
        }
    }
    let line = |cells: Vec<(&str, bool)>| -> String {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|((s, right), w)| {
                let pad = " ".repeat(w - width(s));
                if *right { format!("{pad}{s}") } else { format!("{s}{pad}") }
            })
            .collect();
        parts.join("  ").trim_end().to_owned()
    };
    writeln!(out, "{}", line(table.columns.iter().map(|c| (c.as_str(), false)).collect()))?;
    for row in &table.rows {
        writeln!(out, "{}", line(row.iter().map(|c| (c.as_str(), c.is_numeric())).collect()))?;
    }
    if table.rows.is_empty() {
        writeln!(out, "(no rows)")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_bom_crlf_and_neutralises_formulas() {
        let mut t = Table::new(&["name", "amount"]);
        t.push(vec![Cell::text("=HYPERLINK(\"x\")"), Cell::number("-12.50")]);
        t.push(vec![Cell::text("@SUM(A1)"), Cell::number("3.00")]);
        t.push(vec![Cell::text("日志"), Cell::number("0.00")]);
        t.push(vec![Cell::text("\tx"), Cell::number("1.00")]);
        let mut out = Vec::new();
        write_csv(&t, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with('\u{feff}'));
        assert_eq!(
            text.trim_start_matches('\u{feff}'),
            "name,amount\r\n\"'=HYPERLINK(\"\"x\"\")\",-12.50\r\n'@SUM(A1),3.00\r\n日志,0.00\r\n'\tx,1.00\r\n"
        );
    }

    #[test]
    fn json_values_are_strings() {
        let mut t = Table::new(&["amount"]);
        t.push(vec![Cell::number("0.10")]);
        let mut out = Vec::new();
        write_json(&t, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v[0]["amount"], "0.10");
    }
}
