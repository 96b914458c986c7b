//! Documents a finance team files: every list's XLSX export holds, cell for cell, what the CSV
//! export of the same filter holds, with typed cells (amounts and quantities as numbers, days
//! and times as dates) and a formula-looking text kept as text.

use std::path::Path;
use std::str::FromStr;

use calamine::{Data, Reader, Xlsx};
use rust_decimal::Decimal;

const NOW: &str = "2026-11-26T04:00:00Z";
/// The next night, when late usage is rated.
const NEXT_NIGHT: &str = "2026-11-27T04:00:00Z";

async fn cli(dir: &Path, args: &[&str]) -> String {
    cli_at(dir, NOW, args).await
}

async fn cli_at(dir: &Path, now: &str, args: &[&str]) -> String {
    let mut all = vec!["billcenter", "--db", "demo.db", "--now", now];
    all.extend_from_slice(args);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = billcenter::cli::main(all.iter().map(|s| s.to_string()).collect(), dir, &mut out, &mut err).await;
    let text = String::from_utf8(out).unwrap() + &String::from_utf8(err).unwrap();
    assert_eq!(code, 0, "billcenter {args:?}: {text}");
    text
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect()
}

/// A spreadsheet date serial (days since 1899-12-30, the fraction the time of day) as the CSV
/// writes it: `YYYY-MM-DD`, or `YYYY-MM-DD HH:MM:SS` when it has a time.
fn serial_text(serial: f64, with_time: bool) -> String {
    let seconds = (serial * 86_400.0).round() as i64;
    let base: jiff::civil::DateTime = "1899-12-30T00:00:00".parse().unwrap();
    let at = base.checked_add(jiff::SignedDuration::from_secs(seconds)).unwrap();
    if with_time { at.strftime("%Y-%m-%d %H:%M:%S").to_string() } else { at.date().to_string() }
}

/// Compares one cell of the spreadsheet with the CSV's text of it.
fn same(xlsx: &Data, csv: &str) -> bool {
    match xlsx {
        Data::Empty => csv.is_empty(),
        // CSV neutralises formula-looking text with an apostrophe; the spreadsheet keeps it as text.
        Data::String(s) => s == csv || format!("'{s}") == csv,
        Data::Float(f) => Decimal::from_str(&f.to_string()).ok() == Decimal::from_str(csv).ok(),
        Data::Int(i) => Decimal::from(*i) == Decimal::from_str(csv).unwrap_or_default(),
        Data::DateTime(d) => serial_text(d.as_f64(), csv.len() > 10) == csv,
        other => panic!("unexpected cell {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lists_xlsx_holds_what_its_csv_holds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    cli(d, &["demo", "--no-serve", "--days", "40"]).await;
    // A workspace whose id looks like a formula (and a number): late usage makes it a line.
    cli(d, &["workspace", "create", "--account", "acme", "--id=-1"]).await;
    std::fs::write(
        d.join("late.csv"),
        "record_id,workspace,item,timestamp,quantity,retention_days\nlate-1,-1,log_events,2026-11-20T10:00:00+08:00,3000000,7\n",
    )
    .unwrap();
    cli(d, &["usage", "import", "late.csv"]).await;
    cli_at(d, NEXT_NIGHT, &["run"]).await;

    let cases: [(&str, &[&str]); 5] = [
        ("invoices", &["--account", "acme"]),
        ("expenses", &["--account", "acme", "--month", "2026-11"]),
        ("transactions", &["--account", "cedar", "--from", "2026-10-01"]),
        ("coupons", &["--account", "cedar"]),
        ("cards", &["--account", "fjord"]),
    ];
    let mut formula_text_seen = false;
    for (list, filter) in cases {
        let mut csv_args = vec!["export", list, "--format", "csv", "--output", "out.csv"];
        csv_args.extend_from_slice(filter);
        cli(d, &csv_args).await;
        let mut xlsx_args = vec!["export", list, "--format", "xlsx", "--output", "out.xlsx"];
        xlsx_args.extend_from_slice(filter);
        cli(d, &xlsx_args).await;

        let csv = csv_rows(&d.join("out.csv"));
        assert!(csv.len() > 1, "{list} has rows");
        let mut book: Xlsx<_> = calamine::open_workbook(d.join("out.xlsx")).unwrap();
        let sheet = book.worksheet_range("List").unwrap();
        let header = &csv[0];
        for (r, csv_row) in csv.iter().enumerate() {
            for (c, text) in csv_row.iter().enumerate() {
                let cell = sheet.get_value((r as u32, c as u32)).unwrap_or(&Data::Empty);
                assert!(same(cell, text), "{list} row {r} column `{}`: xlsx {cell:?}, csv `{text}`", header[c]);
                formula_text_seen |= *cell == Data::String("-1".into()) && text == "'-1";
            }
        }
        // Under the rows: the totals row, each summed column the exact sum of the CSV's.
        let totals_row = csv.len() as u32;
        if let Some(Data::String(label)) = sheet.get_value((totals_row, 0)) {
            assert_eq!(label, "total");
            for (c, name) in header.iter().enumerate().skip(1) {
                let Some(Data::Float(total)) = sheet.get_value((totals_row, c as u32)) else { continue };
                let sum: Decimal = csv[1..].iter().map(|row| Decimal::from_str(&row[c]).unwrap()).sum();
                assert_eq!(Decimal::from_str(&total.to_string()).unwrap(), sum, "{list} total of `{name}`");
            }
        } else {
            assert!(list == "transactions", "{list} has a totals row");
        }
        let about = book.worksheet_range("About").unwrap();
        let value = |key: &str| -> String {
            (0..about.height() as u32)
                .find(|r| about.get_value((*r, 0)) == Some(&Data::String(key.into())))
                .and_then(|r| about.get_value((r, 1)))
                .map(|v| v.to_string())
                .unwrap_or_default()
        };
        assert_eq!(value("currency"), "CNY");
        assert_eq!(value("rows"), (csv.len() - 1).to_string());
        assert!(value("time zone").contains('/'), "{list}: {}", value("time zone"));
        if list == "expenses" {
            assert_eq!(value("filter"), "month=2026-11");
        }
    }
    assert!(formula_text_seen, "the workspace `-1` is text in the spreadsheet and neutralised in the CSV");

    // Without a filter, the streamed CSV (a billing day at a time) holds every line the list
    // holds, in its order: the list's JSON (built whole) and the CSV agree row by row.
    cli(d, &["export", "expenses", "--account", "ember", "--format", "csv", "--output", "all.csv"]).await;
    let json: serde_json::Value =
        serde_json::from_str(&cli(d, &["export", "expenses", "--account", "ember", "--format", "json"]).await).unwrap();
    let listed = json.as_array().unwrap();
    let streamed = csv_rows(&d.join("all.csv"));
    assert_eq!(streamed.len() - 1, listed.len());
    assert!(listed.len() > 100, "ember has a long history");
    for (row, obj) in streamed[1..].iter().zip(listed) {
        let values: Vec<&str> = obj.as_object().unwrap().values().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(row.iter().map(String::as_str).collect::<Vec<_>>(), values);
    }
}
