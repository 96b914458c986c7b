//! XLSX: one sheet with the list (a frozen, filtered header row; amounts and quantities as
//! numbers, dates and times as spreadsheet dates; text always as text, never a formula; a
//! totals row under the summed columns; widths that fit) and an "About" sheet saying what the
//! file holds. Rows stream through a constant-memory worksheet: memory stays bounded whatever
//! the number of rows.

use std::io::Write;
use std::str::FromStr;

use rust_decimal::Decimal;
use rust_xlsxwriter::{ExcelDateTime, Format, FormatAlign, Workbook, Worksheet};

use crate::{Cell, Table};

/// What a file holds: shown on its "About" sheet.
#[derive(Clone, Debug, Default)]
pub struct About {
    /// The list's title, e.g. "Detailed expenses".
    pub list: String,
    pub account_id: String,
    pub account_name: String,
    /// ISO 4217 code and the digits of its minor unit (2 for CNY, 0 for JPY).
    pub currency: String,
    pub currency_digits: u32,
    pub time_zone: String,
    /// The filter as the user gave it, e.g. `month=2026-11 item=log_events`.
    pub filter: String,
    /// When the file was made, in the account's zone.
    pub made_at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum XlsxError {
    #[error("spreadsheet: {0}")]
    Writer(#[from] rust_xlsxwriter::XlsxError),
    #[error("spreadsheet: cell `{text}` of column `{column}` is not a {kind}")]
    Cell { column: String, text: String, kind: &'static str },
    #[error("spreadsheet: {0}")]
    Io(#[from] std::io::Error),
}

/// The widest a column grows to fit its cells (characters).
const MAX_WIDTH: usize = 60;
/// The sheet's name of the list.
const SHEET: &str = "List";

/// A list being written row by row.
pub struct XlsxSheet {
    workbook: Workbook,
    sheet: Worksheet,
    columns: Vec<String>,
    widths: Vec<usize>,
    /// Summed columns, their exact running totals, and whether they hold amounts.
    totals: Vec<(usize, Decimal, bool)>,
    /// Index of the next row to write (the header is row 0).
    row: u32,
    money: Format,
    number: Format,
    date: Format,
    time: Format,
    text: Format,
    bold: Format,
    about: About,
}

fn width(text: &str) -> usize {
    // East Asian characters take two columns.
    text.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
}

impl XlsxSheet {
    pub fn new(columns: &[String], totals: &[usize], about: About) -> Result<XlsxSheet, XlsxError> {
        let mut workbook = Workbook::new();
        let mut sheet = workbook.new_worksheet_with_constant_memory()?;
        sheet.set_name(SHEET)?;
        let money_pattern = match about.currency_digits {
            0 => "#,##0".to_owned(),
            d => format!("#,##0.{}", "0".repeat(d as usize)),
        };
        let bold = Format::new().set_bold();
        let header = Format::new().set_bold().set_text_wrap().set_align(FormatAlign::Top);
        for (col, name) in columns.iter().enumerate() {
            sheet.write_string_with_format(0, col as u16, name, &header)?;
        }
        sheet.set_freeze_panes(1, 0)?;
        Ok(XlsxSheet {
            workbook,
            sheet,
            widths: columns.iter().map(|c| width(c).min(24)).collect(),
            columns: columns.to_vec(),
            totals: totals.iter().map(|c| (*c, Decimal::ZERO, false)).collect(),
            row: 1,
            money: Format::new().set_num_format(&money_pattern),
            number: Format::new().set_num_format("General"),
            date: Format::new().set_num_format("yyyy-mm-dd").set_align(FormatAlign::Left),
            time: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss").set_align(FormatAlign::Left),
            text: Format::new().set_num_format("@"),
            bold,
            about,
        })
    }

    fn bad(&self, col: usize, text: &str, kind: &'static str) -> XlsxError {
        XlsxError::Cell { column: self.columns[col].clone(), text: text.to_owned(), kind }
    }

    /// Writes one row: one cell per column.
    pub fn push(&mut self, cells: &[Cell]) -> Result<(), XlsxError> {
        assert_eq!(cells.len(), self.columns.len(), "a row has one cell per column");
        let row = self.row;
        for (col, cell) in cells.iter().enumerate() {
            let c = col as u16;
            let text = cell.as_str();
            self.widths[col] = self.widths[col].max(width(text));
            if text.is_empty() {
                continue;
            }
            match cell {
                Cell::Text(s) => {
                    self.sheet.write_string_with_format(row, c, s, &self.text)?;
                }
                Cell::Number(s) | Cell::Money(s) => {
                    let value = Decimal::from_str(s).map_err(|_| self.bad(col, s, "decimal number"))?;
                    if let Some((_, total, money)) = self.totals.iter_mut().find(|(i, _, _)| *i == col) {
                        *total += value;
                        *money = matches!(cell, Cell::Money(_));
                    }
                    let format = if matches!(cell, Cell::Money(_)) { &self.money } else { &self.number };
                    self.sheet.write_with_format(row, c, value, format)?;
                }
                // A spreadsheet's calendar starts in 1900: an earlier day keeps its exact text.
                Cell::Date(s) | Cell::Time(s) if s.get(..4).and_then(|y| y.parse::<u16>().ok()).is_some_and(|y| y < 1900) => {
                    self.sheet.write_string_with_format(row, c, s, &self.text)?;
                }
                Cell::Date(s) | Cell::Time(s) => {
                    let at = ExcelDateTime::parse_from_str(s).map_err(|_| self.bad(col, s, "date"))?;
                    let format = if matches!(cell, Cell::Date(_)) { &self.date } else { &self.time };
                    self.sheet.write_datetime_with_format(row, c, at, format)?;
                }
            }
        }
        self.row += 1;
        Ok(())
    }

    /// Adds the totals row, the filter, the widths and the About sheet; writes the archive to
    /// `out` as it is made (the rows go from their temporary file into it without a copy of
    /// the whole file in memory).
    pub fn finish<W: Write + Send>(self, out: W) -> Result<(), XlsxError> {
        let mut workbook = self.close()?;
        workbook.save_to_writer(out)?;
        Ok(())
    }

    fn close(mut self) -> Result<Workbook, XlsxError> {
        let last_data_row = self.row - 1;
        let last_col = (self.columns.len() - 1) as u16;
        if !self.totals.is_empty() {
            let row = self.row;
            self.sheet.write_string_with_format(row, 0, "total", &self.bold)?;
            let money = self.money.clone().set_bold();
            let number = self.number.clone().set_bold();
            for (col, total, is_money) in &self.totals {
                self.sheet.write_with_format(row, *col as u16, *total, if *is_money { &money } else { &number })?;
                self.widths[*col] = self.widths[*col].max(width(&total.to_string()) + 2);
            }
        }
        self.sheet.autofilter(0, 0, last_data_row, last_col)?;
        for (col, w) in self.widths.iter().enumerate() {
            // A little room for the filter button.
            self.sheet.set_column_width(col as u16, (*w + 3).min(MAX_WIDTH) as u32)?;
        }
        let sheet = std::mem::replace(&mut self.sheet, Worksheet::new());
        self.workbook.push_worksheet(sheet);
        let about = self.workbook.add_worksheet();
        about.set_name("About")?;
        let a = &self.about;
        let rows = [
            ("list", a.list.as_str()),
            ("billing account", a.account_id.as_str()),
            ("account name", a.account_name.as_str()),
            ("currency", a.currency.as_str()),
            ("time zone", a.time_zone.as_str()),
            ("filter", if a.filter.is_empty() { "none" } else { a.filter.as_str() }),
            ("made at", a.made_at.as_str()),
            ("rows", &(last_data_row).to_string()),
        ];
        for (i, (key, value)) in rows.iter().enumerate() {
            about.write_string_with_format(i as u32, 0, *key, &self.bold)?;
            about.write_string(i as u32, 1, *value)?;
        }
        about.set_column_width(0, 18)?;
        about.set_column_width(1, 48)?;
        Ok(self.workbook)
    }
}

/// Writes a whole table as XLSX.
pub fn write_xlsx(table: &Table, about: About, out: &mut dyn Write) -> Result<(), XlsxError> {
    let mut sheet = XlsxSheet::new(&table.columns, &table.totals, about)?;
    for row in &table.rows {
        sheet.push(row)?;
    }
    let mut archive = Vec::new();
    sheet.finish(&mut archive)?;
    out.write_all(&archive)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use calamine::{Data, Reader, Xlsx};

    use super::*;

    fn read(bytes: Vec<u8>) -> Xlsx<std::io::Cursor<Vec<u8>>> {
        Xlsx::new(std::io::Cursor::new(bytes)).expect("a readable workbook")
    }

    fn sample() -> Table {
        let mut t = Table::new(&["billing day (Asia/Shanghai)", "workspace", "quantity", "gross (CNY)", "time (Asia/Shanghai)"])
            .with_totals(&["gross"]);
        t.push(vec![
            Cell::Date("2026-11-01".into()),
            Cell::text("=HYPERLINK(\"http://x\")"),
            Cell::number("2000000.5"),
            Cell::money("12.34"),
            Cell::Time("2026-11-01 09:30:00".into()),
        ]);
        t.push(vec![Cell::Date("2026-11-02".into()), Cell::text("日志-工作区"), Cell::number("0"), Cell::money("-0.01"), Cell::text("")]);
        t
    }

    fn about() -> About {
        About { list: "Detailed expenses".into(), currency: "CNY".into(), currency_digits: 2, ..About::default() }
    }

    #[test]
    fn cells_keep_their_types_and_text_never_becomes_a_formula() {
        let mut out = Vec::new();
        write_xlsx(&sample(), about(), &mut out).unwrap();
        let mut book = read(out);
        assert_eq!(book.sheet_names(), vec!["List".to_owned(), "About".to_owned()]);
        let range = book.worksheet_range("List").unwrap();
        assert_eq!(range.get_value((0, 0)), Some(&Data::String("billing day (Asia/Shanghai)".into())));
        assert!(matches!(range.get_value((1, 0)), Some(Data::DateTime(_))), "{:?}", range.get_value((1, 0)));
        assert_eq!(range.get_value((1, 1)), Some(&Data::String("=HYPERLINK(\"http://x\")".into())));
        assert_eq!(range.get_value((2, 1)), Some(&Data::String("日志-工作区".into())));
        assert!(matches!(range.get_value((1, 2)), Some(Data::Float(_))));
        assert_eq!(range.get_value((1, 3)).map(|d| d.to_string()), Some("12.34".into()));
        assert!(matches!(range.get_value((1, 4)), Some(Data::DateTime(_))));
        // The totals row sums the money column exactly.
        assert_eq!(range.get_value((3, 0)), Some(&Data::String("total".into())));
        assert_eq!(range.get_value((3, 3)).map(|d| d.to_string()), Some("12.33".into()));
        let formulas = book.worksheet_formula("List").unwrap();
        assert!(formulas.used_cells().all(|(_, _, f)| f.is_empty()), "no cell is a formula");
        let about = book.worksheet_range("About").unwrap();
        assert_eq!(about.get_value((3, 1)), Some(&Data::String("CNY".into())));
    }

    #[test]
    fn a_day_before_the_spreadsheet_calendar_keeps_its_text() {
        let mut t = Table::new(&["valid from", "valid until"]);
        t.push(vec![Cell::Date("0288-03-08".into()), Cell::Date("2026-12-31".into())]);
        let mut out = Vec::new();
        write_xlsx(&t, about(), &mut out).unwrap();
        let range = read(out).worksheet_range("List").unwrap();
        assert_eq!(range.get_value((1, 0)), Some(&Data::String("0288-03-08".into())));
        assert!(matches!(range.get_value((1, 1)), Some(Data::DateTime(_))));
    }

    #[test]
    fn the_sheet_freezes_and_filters_its_header_and_formats_money_by_currency() {
        let mut out = Vec::new();
        let jpy = About { currency: "JPY".into(), currency_digits: 0, ..about() };
        write_xlsx(&sample(), jpy, &mut out).unwrap();
        let mut zip = zip_entry(&out, "xl/worksheets/sheet1.xml");
        assert!(zip.contains("<autoFilter ref=\"A1:E3\""), "{zip}");
        assert!(zip.contains("state=\"frozen\""), "{zip}");
        assert!(zip.contains("<cols>"), "{zip}");
        zip = zip_entry(&out, "xl/styles.xml");
        assert!(zip.contains("formatCode=\"#,##0\""), "{zip}");
        assert!(!zip.contains("formatCode=\"#,##0.00\""), "{zip}");
    }

    fn zip_entry(bytes: &[u8], name: &str) -> String {
        // An XLSX is a zip archive; calamine's reader gives no access to the raw parts, so
        // find the entry's text by reading the archive with calamine's own zip dependency.
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut archive.by_name(name).unwrap(), &mut text).unwrap();
        text
    }
}
