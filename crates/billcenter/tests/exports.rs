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

/// The invoices list of an account as JSON objects, by month.
async fn invoices(dir: &Path, account: &str) -> std::collections::BTreeMap<String, serde_json::Value> {
    let text = cli(dir, &["--json", "list", "invoices", "--account", account]).await;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    rows.into_iter().map(|r| (r["month"].as_str().unwrap().to_owned(), r)).collect()
}

/// A decimal field of an invoice row (`"gross (CNY)"` is found by its start `gross`).
fn field(row: &serde_json::Value, key: &str) -> Decimal {
    let (_, v) = row.as_object().unwrap().iter().find(|(k, _)| k.split(" (").next() == Some(key)).unwrap();
    Decimal::from_str(v.as_str().unwrap()).unwrap()
}

/// The text of a PDF: laid out as on the page (`-layout`), or in the order it was drawn (`-raw`).
fn pdf_text(pdf: &Path, layout: bool) -> String {
    let out = std::process::Command::new("pdftotext")
        .arg(if layout { "-layout" } else { "-raw" })
        .args([pdf.as_os_str(), "-".as_ref()])
        .output()
        .expect("pdftotext (poppler-utils) is installed by cargo xtask ci");
    assert!(out.status.success(), "pdftotext {}", pdf.display());
    String::from_utf8(out.stdout).unwrap()
}

/// `1234.50` as the invoice prints it: `1,234.50`.
fn grouped(d: Decimal) -> String {
    export::group_thousands(&d.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_pdf_holds_the_invoice_and_is_the_same_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    cli(d, &["demo", "--no-serve", "--days", "40"]).await;
    // Issued: acme's October.
    let october = &invoices(d, "acme").await["2026-10"];
    let number = october["invoice no"].as_str().unwrap();
    assert!(number.starts_with("INV-202610-acme-"), "{october}");
    cli(d, &["export", "invoice", "--account", "acme", "--month", "2026-10", "--format", "pdf", "--output", "a.pdf"]).await;
    cli(d, &["export", "invoice", "--account", "acme", "--month", "2026-10", "--format", "pdf", "--output", "b.pdf"]).await;
    let (a, b) = (std::fs::read(d.join("a.pdf")).unwrap(), std::fs::read(d.join("b.pdf")).unwrap());
    assert_eq!(a, b, "the same invoice renders to the same bytes");
    assert!(a.len() < 300 * 1024, "a typical invoice stays under 300 KiB: {} bytes", a.len());
    let text = pdf_text(&d.join("a.pdf"), true);
    assert!(text.contains(number), "{text}");
    // The watermark's letters come out of rotated text one run at a time: read it without spaces.
    let joined = |t: &str| t.split_whitespace().collect::<String>();
    assert!(!joined(&pdf_text(&d.join("a.pdf"), false)).contains("PROVISIONAL"));
    for workspace in ["acme-prod", "acme-stage"] {
        assert!(text.contains(&format!("Workspace {workspace}")), "{workspace}: {text}");
    }
    let total_line = text.lines().find(|l| l.contains("Month total (CNY)")).expect("a month total row");
    for key in ["gross", "coupons", "prepaid cards", "cash", "arrears"] {
        assert!(total_line.contains(&grouped(field(october, key))), "{key} {} in {total_line}", field(october, key));
    }
    let invoiceable = text.lines().find(|l| l.contains("Invoiceable amount")).unwrap();
    assert!(invoiceable.contains(&format!("{} CNY", grouped(field(october, "invoiceable")))), "{invoiceable}");

    // Provisional, and a Chinese name: a new account's open month.
    cli(d, &["account", "create", "--id", "hz", "--name", "杭州云帆科技有限公司"]).await;
    cli(d, &["workspace", "create", "--account", "hz", "--id", "hz-prod"]).await;
    std::fs::write(
        d.join("hz.csv"),
        "record_id,workspace,item,timestamp,quantity,retention_days\nhz-1,hz-prod,log_events,2026-11-26T15:00:00+08:00,5000000,7\n",
    )
    .unwrap();
    cli_at(d, NEXT_NIGHT, &["usage", "import", "hz.csv"]).await;
    cli_at(d, NEXT_NIGHT, &["run"]).await;
    cli_at(d, NEXT_NIGHT, &["export", "invoice", "--account", "hz", "--month", "2026-11", "--format", "pdf", "--output", "hz.pdf"]).await;
    let text = pdf_text(&d.join("hz.pdf"), true);
    assert!(text.contains("杭州云帆科技有限公司"), "{text}");
    assert!(text.contains("Workspace hz-prod"), "{text}");
    assert!(joined(&pdf_text(&d.join("hz.pdf"), false)).contains("PROVISIONAL") && text.contains("Provisional statement"), "{text}");
}

/// A FOCUS file's costs per account: (BilledCost, EffectiveCost) sums.
fn focus_sums(path: &Path) -> std::collections::BTreeMap<String, (Decimal, Decimal)> {
    let rows = csv_rows(path);
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap_or_else(|| panic!("no column {name}"));
    let (account, billed, effective) = (col("BillingAccountId"), col("BilledCost"), col("EffectiveCost"));
    let mut sums: std::collections::BTreeMap<String, (Decimal, Decimal)> = Default::default();
    for r in &rows[1..] {
        let s = sums.entry(r[account].clone()).or_default();
        s.0 += Decimal::from_str(&r[billed]).unwrap();
        s.1 += Decimal::from_str(&r[effective]).unwrap();
    }
    sums
}

/// Runs the FinOps Foundation's focus-validator on a file and returns the rules that failed.
/// `BILLCENTER_FOCUS_PYTHON` is the Python of its installation (`cargo xtask ci` makes one).
fn focus_validator_failures(file: &Path) -> Option<Vec<String>> {
    let python = std::env::var("BILLCENTER_FOCUS_PYTHON").ok()?;
    // It opens its rule files relative to the working directory: its package's folder.
    let out = std::process::Command::new(&python)
        .args(["-c", "import focus_validator, os; print(os.path.dirname(os.path.dirname(focus_validator.__file__)))"])
        .output()
        .unwrap();
    let packages = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let out = std::process::Command::new(&python)
        .current_dir(&packages)
        .args(["-m", "focus_validator.main", "--validate-version", "1.2", "--block-download", "--data-file"])
        .arg(file)
        .args(["--applicability-criteria", export::FOCUS_APPLICABILITY])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // It exits 0 whatever it finds: its summary line says it ran, its ❌ lines what failed.
    let summary = report.lines().find(|l| l.starts_with("Total:")).unwrap_or_else(|| panic!("no validator summary: {report}"));
    let passed: u32 = summary.split("Pass: ").nth(1).and_then(|s| s.split(' ').next()).and_then(|n| n.parse().ok()).unwrap();
    assert!(passed > 150, "{summary}");
    Some(report.lines().filter_map(|l| l.strip_prefix("❌ ")).map(|l| l.split(':').next().unwrap().to_owned()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn focus_files_bill_what_the_invoices_bill_and_pass_the_validator() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    cli(d, &["demo", "--no-serve", "--days", "60"]).await;
    let accounts = ["acme", "bolt", "cedar", "dune", "ember", "fjord"];
    let mut lists = std::collections::BTreeMap::new();
    for a in accounts {
        lists.insert(a, invoices(d, a).await);
    }
    let mut checked = 0;
    for month in ["2026-09", "2026-10", "2026-11"] {
        let file = format!("focus-{month}.csv");
        cli(d, &["export", "focus", "--month", month, "--output", &file]).await;
        let sums = focus_sums(&d.join(&file));
        for a in accounts {
            let Some(row) = lists[a].get(month) else {
                assert!(!sums.contains_key(a), "{a} has no {month} invoice and no FOCUS rows");
                continue;
            };
            let (billed, effective) = sums[a];
            // What the month bills: cash, arrears and the cards bought.
            assert_eq!(billed, field(row, "cash") + field(row, "arrears") + field(row, "cards bought"), "{a} {month} BilledCost");
            // What the month's usage cost after credits.
            assert_eq!(effective, field(row, "gross") - field(row, "coupons"), "{a} {month} EffectiveCost");
            checked += 1;
        }
        // One account's file holds the same rows as its part of the whole file.
        if month == "2026-10" {
            cli(d, &["export", "focus", "--month", month, "--account", "cedar", "--output", "cedar.csv"]).await;
            assert_eq!(focus_sums(&d.join("cedar.csv"))["cedar"], sums["cedar"]);
            cli(d, &["export", "focus", "--month", month, "--format", "parquet", "--output", "focus.parquet"]).await;
        }
        if let Some(failures) = focus_validator_failures(&d.join(&file)) {
            assert_eq!(failures, export::FOCUS_RULES_THAT_CANNOT_APPLY, "{month}");
        }
    }
    assert!(checked >= 15, "{checked} account-months checked");
    if let Some(failures) = focus_validator_failures(&d.join("focus.parquet")) {
        assert_eq!(failures, export::FOCUS_RULES_THAT_CANNOT_APPLY, "parquet");
    }
}
