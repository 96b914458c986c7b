//! `cargo xtask bench [--accounts N] [--runs R]`: times the nightly job and its parts on a
//! fixed-seed workload and writes `bench/results/latest.{md,json}`. See `bench/README.md`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::root;
use anyhow::{Context, Result, bail};

struct Args {
    accounts: usize,
    /// Accounts of the night from pre-aggregated usage (default 1,000,000).
    night_accounts: usize,
    /// Accounts of the month whose invoices are issued (default 100,000).
    month_accounts: usize,
    /// Expense lines in the month the export figures write (default 1,000,000).
    export_lines: usize,
    /// Expense lines in the month of the account whose pages are rendered (default 500,000).
    page_lines: usize,
    runs: usize,
    /// Where results go (default bench/results).
    out: Option<PathBuf>,
    /// Where prepared databases are kept for later commands (`--setups DIR`); by default
    /// they are kept for the runs of this command only.
    setups: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Args> {
    let mut a = Args {
        accounts: 100_000,
        night_accounts: 1_000_000,
        month_accounts: 100_000,
        export_lines: 1_000_000,
        page_lines: 500_000,
        runs: 3,
        out: None,
        setups: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--accounts" => a.accounts = value.parse()?,
            "--night-accounts" => a.night_accounts = value.parse()?,
            "--month-accounts" => a.month_accounts = value.parse()?,
            "--export-lines" => a.export_lines = value.parse()?,
            "--page-lines" => a.page_lines = value.parse()?,
            "--runs" => a.runs = value.parse()?,
            "--out" => a.out = Some(PathBuf::from(value)),
            "--setups" => a.setups = Some(PathBuf::from(value)),
            other => bail!(
                "unknown option {other} (--accounts N, --night-accounts N, --month-accounts N, --export-lines N, --page-lines N, --runs R, --out DIR, --setups DIR)"
            ),
        }
    }
    if a.runs == 0 || a.accounts == 0 || a.night_accounts == 0 || a.month_accounts == 0 {
        bail!("--accounts and --runs must be positive");
    }
    Ok(a)
}

/// Runs billcenter with arguments; returns its stdout and the wall time in seconds.
/// Runs the benchmark's own commands: `billcenter-bench`, built beside `billcenter`.
fn workload(bin: &Path, args: &[&str]) -> Result<(String, f64)> {
    billcenter(&bin.with_file_name("billcenter-bench"), args)
}

fn billcenter(bin: &Path, args: &[&str]) -> Result<(String, f64)> {
    let start = Instant::now();
    let out = Command::new(bin).args(args).stderr(Stdio::inherit()).output().with_context(|| format!("cannot run {}", bin.display()))?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("billcenter {args:?} failed");
    }
    Ok((String::from_utf8(out.stdout)?, secs))
}

/// The pages `billcenter-bench pages` renders, as it names them.
const PAGES: [&str; 7] = ["overview", "expenses", "expenses_month", "expenses_workspace", "invoices", "invoice", "transactions"];

const RUN_AT: &str = "2026-11-02T00:30:00+08:00";

/// Removes a SQLite database and its WAL files, so every figure starts from a fresh file.
/// A prepared database: copied from `--setups DIR` when it was kept there (same workload, size
/// and seed), else made by `prepare` (which answers its setup's report) and, with
/// `--setups`, kept there for the next time. Every run times its job on a fresh copy.
fn prepared(setups: &Option<PathBuf>, name: &str, db: &str, prepare: impl FnOnce() -> Result<String>) -> Result<String> {
    remove_db(db);
    let Some(dir) = setups else { return prepare() };
    let (kept, report) = (dir.join(format!("{name}.db")), dir.join(format!("{name}.json")));
    if kept.exists() && report.exists() {
        eprintln!("bench: {name} copied from {}", dir.display());
        std::fs::copy(&kept, db)?;
        return Ok(std::fs::read_to_string(report)?);
    }
    let out = prepare()?;
    std::fs::create_dir_all(dir)?;
    // The database whole in its file (no write-ahead log left beside it), then kept.
    let status = Command::new("python3")
        .args(["-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.close()", db])
        .status()?;
    if !status.success() {
        bail!("cannot checkpoint {db}");
    }
    std::fs::copy(db, &kept)?;
    std::fs::write(report, &out)?;
    Ok(out)
}

fn remove_db(db: &str) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{db}{suffix}"));
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).expect("timings are numbers"));
    xs[xs.len() / 2]
}

fn spread(xs: &[f64]) -> String {
    let lo = xs.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    format!("{lo:.3}–{hi:.3}")
}

fn json_field(text: &str, key: &str) -> Option<String> {
    let at = text.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &text[at..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim().trim_matches('"').to_owned())
}

struct Figures {
    records: usize,
    ingest_s: Vec<f64>,
    ingest_http_s: Vec<f64>,
    run_s: Vec<f64>,
    run_pg_s: Vec<f64>,
    floor_s: Vec<f64>,
    engine_s: Vec<f64>,
    engine_cores_s: Vec<f64>,
    engine_fold_s: Vec<f64>,
    lines: usize,
    duckdb_s: Vec<f64>,
    duckdb_version: String,
    pg_sql_s: Vec<f64>,
    night_s: Vec<f64>,
    night_aggregates: usize,
    night_peak_rss_mib: Option<f64>,
    invoice_s: Vec<f64>,
    /// Exports of one account's month: rows, and per format seconds and peak RSS (MiB).
    export_rows: usize,
    export_xlsx_s: Vec<f64>,
    export_xlsx_rss_mib: Option<f64>,
    export_csv_s: Vec<f64>,
    export_csv_rss_mib: Option<f64>,
    /// FOCUS files of the same month: rows (a line and its credits), seconds, peak RSS.
    export_focus_rows: usize,
    export_focus_csv_s: Vec<f64>,
    export_focus_csv_rss_mib: Option<f64>,
    export_focus_parquet_s: Vec<f64>,
    export_focus_parquet_rss_mib: Option<f64>,
    /// The Billing Center's pages of an account: its lines in the month, and each page's
    /// name and median milliseconds.
    page_lines: usize,
    pages_ms: Vec<(&'static str, Option<f64>)>,
    totals_match: bool,
    peak_rss_mib: f64,
}

pub fn bench(args: &[String]) -> Result<()> {
    let mut a = parse(args)?;
    let bin = crate::build_billcenter(true)?;
    crate::cargo(&["build", "--release", "--locked", "-p", "billcenter-bench"])?;
    let dir = root().join("target/bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    // Each workload is prepared once and copied for every run; `--setups DIR` keeps the
    // prepared databases for the next command too.
    a.setups = Some(a.setups.take().unwrap_or_else(|| dir.join("setups")));
    let usage = dir.join("day.ndjson");
    let usage_arg = usage.display().to_string();
    let pg = crate::start_postgres().ok();
    let mut f = Figures {
        records: 0,
        ingest_s: vec![],
        ingest_http_s: vec![],
        run_s: vec![],
        run_pg_s: vec![],
        floor_s: vec![],
        engine_s: vec![],
        engine_cores_s: vec![],
        engine_fold_s: vec![],
        lines: 0,
        duckdb_s: vec![],
        duckdb_version: String::new(),
        pg_sql_s: vec![],
        night_s: vec![],
        night_aggregates: 0,
        night_peak_rss_mib: None,
        invoice_s: vec![],
        export_rows: 0,
        export_xlsx_s: vec![],
        export_xlsx_rss_mib: None,
        export_csv_s: vec![],
        export_csv_rss_mib: None,
        export_focus_rows: 0,
        export_focus_csv_s: vec![],
        export_focus_csv_rss_mib: None,
        export_focus_parquet_s: vec![],
        export_focus_parquet_rss_mib: None,
        page_lines: 0,
        pages_ms: vec![],
        totals_match: true,
        peak_rss_mib: 0.0,
    };
    for run in 0..a.runs {
        eprintln!("bench run {} of {} ({} accounts)", run + 1, a.runs, a.accounts);
        let db = dir.join(format!("run{run}.db")).display().to_string();
        let (setup, _) = workload(&bin, &["--db", &db, "setup", "--accounts", &a.accounts.to_string(), "--usage", &usage_arg])?;
        f.records = json_field(&setup, "records").context("setup reports records")?.parse()?;
        let (_, ingest) = billcenter(&bin, &["--db", &db, "--now", "2026-11-02T00:10:00+08:00", "usage", "import", &usage_arg])?;
        let (job, _) = workload(&bin, &["--db", &db, "job", "--usage", &usage_arg])?;
        let (_, nightly) = billcenter(&bin, &["--db", &db, "--now", "2026-11-02T00:30:00+08:00", "run"])?;
        let (check, _) = workload(&bin, &["--db", &db, "check", "--usage", &usage_arg])?;
        f.ingest_s.push(ingest);
        f.run_s.push(nightly);
        f.floor_s.push(json_field(&job, "floor_s").context("floor_s")?.parse()?);
        f.engine_s.push(json_field(&job, "engine_s").context("engine_s")?.parse()?);
        f.engine_cores_s.push(json_field(&job, "engine_cores_s").context("engine_cores_s")?.parse()?);
        f.engine_fold_s.push(json_field(&job, "engine_fold_s").context("engine_fold_s")?.parse()?);
        f.lines = json_field(&job, "lines").context("lines")?.parse()?;
        f.totals_match &= json_field(&check, "matches_nightly_run").as_deref() == Some("true");
        f.peak_rss_mib = f.peak_rss_mib.max(json_field(&job, "peak_rss_mib").and_then(|v| v.parse().ok()).unwrap_or(0.0));
        let (duck_s, duck_version) = duckdb_job(&dir)?;
        f.duckdb_s.push(duck_s);
        f.duckdb_version = duck_version;
        f.totals_match &= same_answer(&dir, "duckdb.csv")?;
        if let Some(url) = &pg {
            f.pg_sql_s.push(postgres_sql_job(url, &dir, run)?);
            f.totals_match &= same_answer(&dir, "postgres.csv")?;
        }
        f.ingest_http_s.push(http_ingest(&bin, &dir, run, a.accounts, &usage)?);
        if let Some(url) = &pg {
            let database = create_database(url, &format!("bench_{}_{run}", std::process::id()))?;
            workload(&bin, &["--database-url", &database, "setup", "--accounts", &a.accounts.to_string(), "--usage", &usage_arg])?;
            billcenter(&bin, &["--database-url", &database, "--now", "2026-11-02T00:10:00+08:00", "usage", "import", &usage_arg])?;
            let (_, nightly_pg) = billcenter(&bin, &["--database-url", &database, "--now", "2026-11-02T00:30:00+08:00", "run"])?;
            f.run_pg_s.push(nightly_pg);
            drop_database(url, &database)?;
        }
        remove_db(&db);
    }
    // The day's files (9.4 GB of NDJSON and its CSV at 100,000 accounts) are not needed by the
    // workloads that follow.
    for file in std::fs::read_dir(&dir)? {
        let path = file?.path();
        if path.extension().is_some_and(|e| e == "ndjson" || e == "csv") {
            std::fs::remove_file(path)?;
        }
    }
    if pg.is_some() {
        crate::stop_postgres();
    }
    for run in 0..a.runs {
        eprintln!("bench: night of {} accounts from pre-aggregated usage, run {} of {}", a.night_accounts, run + 1, a.runs);
        let db = dir.join("night.db").display().to_string();
        let setup = prepared(&a.setups, &format!("night-{}", a.night_accounts), &db, || {
            Ok(workload(&bin, &["--db", &db, "setup-aggregated", "--accounts", &a.night_accounts.to_string()])?.0)
        })?;
        f.night_aggregates = json_field(&setup, "aggregates").context("aggregates")?.parse()?;
        let (night, _) = workload(&bin, &["--db", &db, "--now", RUN_AT, "night"])?;
        f.night_s.push(json_field(&night, "seconds").context("seconds")?.parse()?);
        f.night_peak_rss_mib = highest_rss(&night, f.night_peak_rss_mib);
        remove_db(&db);
    }
    for run in 0..a.runs {
        eprintln!("bench: a month's invoices for {} accounts, run {} of {}", a.month_accounts, run + 1, a.runs);
        let db = dir.join("month.db").display().to_string();
        // November billed day by day through Dec 2; the timed run on Dec 4 bills Dec 3 (no
        // usage) and issues every account's November invoice.
        prepared(&a.setups, &format!("month-{}", a.month_accounts), &db, || {
            workload(&bin, &["--db", &db, "setup-month", "--accounts", &a.month_accounts.to_string()])?;
            Ok(billcenter(&bin, &["--db", &db, "--now", "2026-12-03T00:30:00+08:00", "run"])?.0)
        })?;
        let (night, _) = workload(&bin, &["--db", &db, "--now", "2026-12-04T00:30:00+08:00", "night"])?;
        let issued: usize = json_field(&night, "invoices_issued").context("invoices_issued")?.parse()?;
        if issued != a.month_accounts {
            bail!("the invoice run issued {issued} invoices for {} accounts", a.month_accounts);
        }
        f.invoice_s.push(json_field(&night, "seconds").context("seconds")?.parse()?);
        remove_db(&db);
    }
    eprintln!("bench: exports of one account's month of about {} expense lines", a.export_lines);
    let db = dir.join("export.db").display().to_string();
    prepared(&a.setups, &format!("export-{}", a.export_lines), &db, || {
        workload(&bin, &["--db", &db, "setup-export", "--lines", &a.export_lines.to_string()])?;
        Ok(billcenter(&bin, &["--db", &db, "--now", "2026-12-02T00:30:00+08:00", "run"])?.0)
    })?;
    for run in 0..a.runs {
        let (mut lines, mut focus_rows) = (0, 0);
        for (format, focus, secs, rss) in [
            ("xlsx", false, &mut f.export_xlsx_s, &mut f.export_xlsx_rss_mib),
            ("csv", false, &mut f.export_csv_s, &mut f.export_csv_rss_mib),
            ("csv", true, &mut f.export_focus_csv_s, &mut f.export_focus_csv_rss_mib),
            ("parquet", true, &mut f.export_focus_parquet_s, &mut f.export_focus_parquet_rss_mib),
        ] {
            let what = if focus { "FOCUS " } else { "" };
            eprintln!("bench: {what}{format} export, run {} of {}", run + 1, a.runs);
            let file = dir.join(format!("export.{format}")).display().to_string();
            let mut args = vec!["--db", &db, "--now", "2026-12-02T00:30:00+08:00", "export", "--format", format, "--output", &file];
            if focus {
                args.push("--focus");
            }
            let (out, _) = workload(&bin, &args)?;
            *(if focus { &mut focus_rows } else { &mut lines }) = json_field(&out, "rows").context("rows")?.parse()?;
            secs.push(json_field(&out, "seconds").context("seconds")?.parse()?);
            *rss = highest_rss(&out, *rss);
            let _ = std::fs::remove_file(&file);
        }
        (f.export_rows, f.export_focus_rows) = (lines, focus_rows);
    }
    remove_db(&db);
    eprintln!("bench: the Billing Center's pages of an account of about {} expense lines in the month", a.page_lines);
    let db = dir.join("pages.db").display().to_string();
    let setup = prepared(&a.setups, &format!("pages-{}", a.page_lines), &db, || {
        let (setup, _) = workload(&bin, &["--db", &db, "setup-export", "--lines", &a.page_lines.to_string()])?;
        billcenter(&bin, &["--db", &db, "--now", "2026-12-02T00:30:00+08:00", "run"])?;
        Ok(setup)
    })?;
    f.page_lines = json_field(&setup, "aggregates").context("aggregates")?.parse()?;
    let runs = a.runs.max(3).to_string();
    let (out, _) = workload(&bin, &["--db", &db, "--now", "2026-12-02T00:30:00+08:00", "pages", "--account", "b0000000", "--runs", &runs])?;
    for name in PAGES {
        f.pages_ms.push((name, json_field(&out, &format!("{name}_ms")).and_then(|v| v.parse().ok())));
    }
    remove_db(&db);
    write_results(&a, &f)?;
    if !f.totals_match {
        bail!("the engine's per-account totals differ from the nightly run's: no figure counts");
    }
    Ok(())
}

/// Ingests the day through `POST /api/v1/usage/ndjson` of a server on a fresh database, in
/// bodies of 500,000 records (the route takes up to 1,000,000); returns the seconds spent.
fn http_ingest(bin: &Path, dir: &Path, run: usize, accounts: usize, usage: &Path) -> Result<f64> {
    let db = dir.join(format!("http{run}.db")).display().to_string();
    let usage_arg = usage.display().to_string();
    workload(bin, &["--db", &db, "setup", "--accounts", &accounts.to_string(), "--usage", &usage_arg])?;
    let (key, _) = billcenter(bin, &["--db", &db, "key", "create", "--operator"])?;
    let key = key.lines().next().context("a key")?.to_owned();
    let mut server = Command::new(bin)
        .args(["--db", &db, "serve", "--listen", "127.0.0.1:0", "--test-clock", "--scheduler-interval-secs", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(server.stdout.as_mut().context("stdout")?), &mut line)?;
    let address = line.split("http://").nth(1).and_then(|r| r.split_whitespace().next()).context("server address")?.to_owned();
    // The day is sent a body at a time, each body written to its file before its request and
    // removed after it (the day at 100,000 accounts is 9.4 GB); only the requests are timed.
    let part = dir.join("part.ndjson");
    let mut records = std::io::BufRead::lines(std::io::BufReader::new(std::fs::File::open(usage)?));
    let (mut total, mut accepted, mut secs) = (0usize, 0usize, 0.0);
    loop {
        let mut body = std::io::BufWriter::new(std::fs::File::create(&part)?);
        let mut count = 0;
        for record in records.by_ref().take(500_000) {
            writeln!(body, "{}", record?)?;
            count += 1;
        }
        body.flush()?;
        drop(body);
        if count == 0 {
            break;
        }
        total += count;
        let start = Instant::now();
        let out = Command::new("curl")
            .args(["-sS", "--fail", "-H", &format!("Authorization: Bearer {key}"), "-H", "Billcenter-Now: 2026-11-02T00:10:00+08:00"])
            .args(["-H", "Content-Type: application/x-ndjson", "--data-binary", &format!("@{}", part.display())])
            .arg(format!("http://{address}/api/v1/usage/ndjson"))
            .output()?;
        secs += start.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!("HTTP ingest failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        accepted += json_field(&String::from_utf8_lossy(&out.stdout), "accepted").context("accepted")?.parse::<usize>()?;
    }
    let _ = std::fs::remove_file(&part);
    let _ = server.kill();
    let _ = server.wait();
    remove_db(&db);
    if accepted != total {
        bail!("HTTP ingest accepted {accepted} of {total} records");
    }
    Ok(secs)
}

/// Runs `bench/duckdb_job.py` on the files of the day (installing the `duckdb` package from
/// PyPI when it is missing); returns the seconds of the job query and DuckDB's version.
fn duckdb_job(dir: &Path) -> Result<(f64, String)> {
    let have = Command::new("python3").args(["-c", "import duckdb"]).stderr(Stdio::null()).status()?.success();
    if !have {
        eprintln!("installing the duckdb package from PyPI");
        let ok = Command::new("python3").args(["-m", "pip", "install", "--quiet", "duckdb==2.0.0"]).status()?.success();
        if !ok {
            bail!("pip install duckdb failed");
        }
    }
    let out = Command::new("python3").arg(root().join("bench/duckdb_job.py")).arg(dir).stderr(Stdio::inherit()).output()?;
    if !out.status.success() {
        bail!("the DuckDB job failed");
    }
    let text = String::from_utf8(out.stdout)?;
    Ok((json_field(&text, "duckdb_job_s").context("duckdb_job_s")?.parse()?, json_field(&text, "version").unwrap_or_default()))
}

/// Runs `bench/job.sql` in a fresh PostgreSQL database loaded with the files of the day;
/// returns the seconds of the job query (psql's `\timing`), and writes `postgres.csv`.
fn postgres_sql_job(admin: &str, dir: &Path, run: usize) -> Result<f64> {
    let database = create_database(admin, &format!("bench_sql_{}_{run}", std::process::id()))?;
    let job = std::fs::read_to_string(root().join("bench/job.sql"))?.replace("//", "/");
    let mut script = String::from("\\set ON_ERROR_STOP on\n");
    script += &std::fs::read_to_string(root().join("bench/schema.sql"))?;
    for (table, file) in [
        ("usage", "day.csv"),
        ("items", "items.csv"),
        ("prices", "prices.csv"),
        ("quotas", "quotas.csv"),
        ("factors", "factors.csv"),
        ("accounts", "accounts.csv"),
    ] {
        script += &format!("\\copy {table} FROM '{}' CSV HEADER\n", dir.join(file).display());
    }
    script += "ANALYZE;\nSET work_mem = '256MB';\n\\timing on\n";
    script += &job;
    script +=
        &format!("\n\\timing off\n\\copy (SELECT * FROM result ORDER BY account) TO '{}' CSV HEADER\n", dir.join("postgres.csv").display());
    let path = dir.join("job_pg.sql");
    std::fs::write(&path, script)?;
    let out = Command::new("psql").args([&database, "-qX", "-f"]).arg(&path).stderr(Stdio::inherit()).output().context("psql")?;
    if !out.status.success() {
        bail!("the PostgreSQL job failed");
    }
    drop_database(admin, &database)?;
    let text = String::from_utf8(out.stdout)?;
    let ms: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Time: "))
        .and_then(|t| t.split_whitespace().next())
        .context("psql printed no timing")?
        .parse()?;
    Ok(ms / 1000.0)
}

/// Whether a contender's per-account answer equals the engine's, row for row.
fn same_answer(dir: &Path, file: &str) -> Result<bool> {
    let engine = std::fs::read_to_string(dir.join("engine.csv"))?;
    let other = std::fs::read_to_string(dir.join(file))?;
    let rows = |t: &str| t.lines().map(str::to_owned).collect::<Vec<_>>();
    let (a, b) = (rows(&engine), rows(&other));
    if a != b {
        let first = a.iter().zip(&b).find(|(x, y)| x != y);
        eprintln!("{file} differs from engine.csv ({} vs {} rows); first difference: {first:?}", b.len(), a.len());
        return Ok(false);
    }
    Ok(true)
}

fn create_database(admin: &str, name: &str) -> Result<String> {
    let status = Command::new("psql").args([admin, "-qc", &format!("CREATE DATABASE {name}")]).status().context("psql")?;
    if !status.success() {
        bail!("cannot create database {name}");
    }
    Ok(format!("{}/{name}", admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin)))
}

/// Drops a database `create_database` made (its URL), so that the next run has the disk.
fn drop_database(admin: &str, url: &str) -> Result<()> {
    let name = url.rsplit('/').next().context("a database name")?;
    let status = Command::new("psql").args([admin, "-qc", &format!("DROP DATABASE {name}")]).status().context("psql")?;
    if !status.success() {
        bail!("cannot drop database {name}");
    }
    Ok(())
}

/// The higher of a workload's reported `peak_rss_mib` and the peak so far (either may be
/// missing: not every platform reports it).
fn highest_rss(report: &str, so_far: Option<f64>) -> Option<f64> {
    let peak: Option<f64> = json_field(report, "peak_rss_mib").and_then(|v| v.parse().ok());
    match (peak, so_far) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// A figure's median, or `null` in JSON when it was not measured.
fn med(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| median(xs.to_vec()))
}

fn page(f: &Figures, name: &str) -> Option<f64> {
    f.pages_ms.iter().find(|(n, _)| *n == name).and_then(|(_, v)| *v)
}

fn write_results(a: &Args, f: &Figures) -> Result<()> {
    let out = a.out.clone().unwrap_or_else(|| root().join("bench/results"));
    std::fs::create_dir_all(&out)?;
    let text = |cmd: &str, args: &[&str]| {
        Command::new(cmd).args(args).output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default()
    };
    let commit = text("git", &["rev-parse", "--short", "HEAD"]);
    let date = text("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned()))
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let records = f.records as f64;
    let rate = |xs: &[f64]| med(xs).map(|s| records / s);
    let (engine, floor, engine_cores) = (med(&f.engine_s), med(&f.floor_s), med(&f.engine_cores_s));
    let ratio = |x: Option<f64>, y: Option<f64>| Some(x? / y?.max(1e-9));
    let fold = med(&f.engine_fold_s);
    // What the engine spends a line after its pass over the records, in nanoseconds.
    let ns_per_line = engine.zip(fold).filter(|_| f.lines > 0).map(|(e, d)| (e - d) / f.lines as f64 * 1e9);
    let num = |v: Option<f64>, dp: usize| v.map_or("null".to_owned(), |x| format!("{x:.dp$}"));
    let fields: Vec<(&str, String)> = vec![
        ("accounts", a.accounts.to_string()),
        ("records_per_day", f.records.to_string()),
        ("runs", a.runs.to_string()),
        ("totals_match", f.totals_match.to_string()),
        ("ingest_bulk_records_per_s", num(rate(&f.ingest_s), 0)),
        ("ingest_http_records_per_s", num(rate(&f.ingest_http_s), 0)),
        ("nightly_run_sqlite_s", num(med(&f.run_s), 6)),
        ("nightly_run_postgres_s", num(med(&f.run_pg_s), 6)),
        ("night_aggregated_s", num(med(&f.night_s), 6)),
        ("night_accounts", a.night_accounts.to_string()),
        ("night_aggregates", f.night_aggregates.to_string()),
        ("month_accounts", a.month_accounts.to_string()),
        ("invoice_month_s", num(med(&f.invoice_s), 6)),
        ("export_rows", f.export_rows.to_string()),
        ("export_xlsx_s", num(med(&f.export_xlsx_s), 3)),
        ("export_xlsx_rows_per_s", num(med(&f.export_xlsx_s).map(|s| f.export_rows as f64 / s), 0)),
        ("export_xlsx_peak_rss_mib", num(f.export_xlsx_rss_mib, 1)),
        ("export_csv_s", num(med(&f.export_csv_s), 3)),
        ("export_csv_rows_per_s", num(med(&f.export_csv_s).map(|s| f.export_rows as f64 / s), 0)),
        ("export_csv_peak_rss_mib", num(f.export_csv_rss_mib, 1)),
        ("export_focus_rows", f.export_focus_rows.to_string()),
        ("export_focus_csv_s", num(med(&f.export_focus_csv_s), 3)),
        ("export_focus_csv_rows_per_s", num(med(&f.export_focus_csv_s).map(|s| f.export_focus_rows as f64 / s), 0)),
        ("export_focus_csv_peak_rss_mib", num(f.export_focus_csv_rss_mib, 1)),
        ("export_focus_parquet_s", num(med(&f.export_focus_parquet_s), 3)),
        ("export_focus_parquet_rows_per_s", num(med(&f.export_focus_parquet_s).map(|s| f.export_focus_rows as f64 / s), 0)),
        ("export_focus_parquet_peak_rss_mib", num(f.export_focus_parquet_rss_mib, 1)),
        ("page_lines", f.page_lines.to_string()),
        ("page_overview_ms", num(page(f, "overview"), 1)),
        ("page_expenses_ms", num(page(f, "expenses"), 1)),
        ("page_expenses_month_ms", num(page(f, "expenses_month"), 1)),
        ("page_expenses_workspace_ms", num(page(f, "expenses_workspace"), 1)),
        ("page_invoices_ms", num(page(f, "invoices"), 1)),
        ("page_invoice_ms", num(page(f, "invoice"), 1)),
        ("page_transactions_ms", num(page(f, "transactions"), 1)),
        ("engine_job_s", num(engine, 6)),
        ("engine_job_all_cores_s", num(engine_cores, 6)),
        ("duckdb_job_s", num(med(&f.duckdb_s), 6)),
        ("postgres_sql_job_s", num(med(&f.pg_sql_s), 6)),
        ("floor_s", num(floor, 6)),
        ("duckdb_over_engine", num(ratio(med(&f.duckdb_s), engine), 2)),
        ("duckdb_over_engine_all_cores", num(ratio(med(&f.duckdb_s), engine_cores), 2)),
        ("postgres_sql_over_engine", num(ratio(med(&f.pg_sql_s), engine), 2)),
        ("engine_over_floor", num(ratio(engine, floor), 2)),
        ("engine_fold_s", num(fold, 6)),
        ("engine_fold_over_floor", num(ratio(fold, floor), 2)),
        ("lines_per_day", f.lines.to_string()),
        ("engine_ns_per_line_after_fold", num(ns_per_line, 1)),
        ("peak_rss_mib", num(Some(f.peak_rss_mib), 1)),
        ("night_peak_rss_mib", num(f.night_peak_rss_mib, 1)),
        ("duckdb_version", format!("\"{}\"", f.duckdb_version)),
        ("commit", format!("\"{commit}\"")),
        ("date", format!("\"{date}\"")),
    ];
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("  \"{k}\": {v}")).collect();
    std::fs::write(out.join("latest.json"), format!("{{\n{}\n}}\n", body.join(",\n")))?;
    append_history(&out.join("history.csv"), &cpu, &fields)?;

    let secs = |xs: &[f64], dp: usize| med(xs).map_or("not measured".to_owned(), |m| format!("{m:.dp$} s"));
    let per_s = |xs: &[f64]| rate(xs).map_or("not measured".to_owned(), |r| format!("{r:.0} records/s"));
    let range = |xs: &[f64]| if xs.is_empty() { String::new() } else { format!("{} s", spread(xs)) };
    let times = |v: Option<f64>| v.map_or("-".to_owned(), |x| format!("{x:.1}×"));
    let night_label = format!("night of {} accounts from pre-aggregated usage, end to end, durable (SQLite)", a.night_accounts);
    let month_label = format!("the invoice day of a 30-day month: {} accounts' invoices (SQLite)", a.month_accounts);
    let export_label = |format: &str| format!("{format} export of one account's month, {} expense lines (rows/s, peak RSS)", f.export_rows);
    let export_value = |xs: &[f64], rss: Option<f64>, rows: usize| {
        med(xs).map_or("not measured".to_owned(), |s| {
            format!("{:.0} rows/s, {}", rows as f64 / s, rss.map_or("RSS not measured".to_owned(), |m| format!("{m:.0} MiB")))
        })
    };
    let (xlsx_label, csv_label) = (export_label("XLSX"), export_label("CSV"));
    let focus_label = |format: &str| format!("FOCUS {format} of that month, {} rows (rows/s, peak RSS)", f.export_focus_rows);
    let (focus_csv_label, focus_parquet_label) = (focus_label("CSV"), focus_label("Parquet"));
    let pages_label = format!("Billing Center pages of an account of {} lines in the month, rendered in process (median ms)", f.page_lines);
    let pages_value =
        f.pages_ms.iter().map(|(n, v)| format!("{n} {}", v.map_or("-".to_owned(), |ms| format!("{ms:.0}")))).collect::<Vec<_>>().join(", ");
    let rows: [(&str, String, String); 25] = [
        ("bulk ingest through the CLI (SQLite)", per_s(&f.ingest_s), range(&f.ingest_s)),
        ("ingest through HTTP NDJSON (SQLite)", per_s(&f.ingest_http_s), range(&f.ingest_http_s)),
        ("nightly run, end to end, durable (SQLite)", secs(&f.run_s, 3), range(&f.run_s)),
        ("nightly run, end to end (PostgreSQL)", secs(&f.run_pg_s, 3), range(&f.run_pg_s)),
        (
            &night_label,
            secs(&f.night_s, 1),
            if f.night_s.is_empty() { String::new() } else { format!("{} aggregates; {}", f.night_aggregates, range(&f.night_s)) },
        ),
        (&month_label, secs(&f.invoice_s, 3), range(&f.invoice_s)),
        ("engine job: aggregate, rate, deduct (in memory, 1 thread)", secs(&f.engine_s, 4), range(&f.engine_s)),
        ("engine job on every core (whole accounts per thread)", secs(&f.engine_cores_s, 4), range(&f.engine_cores_s)),
        (
            "the same job as SQL in DuckDB (in memory)",
            secs(&f.duckdb_s, 4),
            if f.duckdb_s.is_empty() { String::new() } else { format!("DuckDB {}; {}", f.duckdb_version, range(&f.duckdb_s)) },
        ),
        ("the same job as SQL in PostgreSQL", secs(&f.pg_sql_s, 4), range(&f.pg_sql_s)),
        ("floor: one pass summing the same records", secs(&f.floor_s, 4), range(&f.floor_s)),
        ("DuckDB / engine (1 thread)", times(ratio(med(&f.duckdb_s), engine)), String::new()),
        ("DuckDB / engine, both on every core", times(ratio(med(&f.duckdb_s), engine_cores)), String::new()),
        ("PostgreSQL SQL / engine", times(ratio(med(&f.pg_sql_s), engine)), String::new()),
        ("engine / floor (both 1 thread)", times(ratio(engine, floor)), String::new()),
        ("the engine's pass over the records alone (aggregate per key) / floor", times(ratio(fold, floor)), range(&f.engine_fold_s)),
        (
            "the engine after that pass: rating and settling, a line",
            ns_per_line.map_or("-".to_owned(), |n| format!("{n:.0} ns")),
            format!("{} lines", f.lines),
        ),
        ("every contender's per-account totals and deductions equal the nightly run's", f.totals_match.to_string(), String::new()),
        ("peak RSS of the job process", format!("{:.0} MiB", f.peak_rss_mib), String::new()),
        ("peak RSS of that night", f.night_peak_rss_mib.map_or("not measured".to_owned(), |m| format!("{m:.0} MiB")), String::new()),
        (&xlsx_label, export_value(&f.export_xlsx_s, f.export_xlsx_rss_mib, f.export_rows), range(&f.export_xlsx_s)),
        (&csv_label, export_value(&f.export_csv_s, f.export_csv_rss_mib, f.export_rows), range(&f.export_csv_s)),
        (
            &focus_csv_label,
            export_value(&f.export_focus_csv_s, f.export_focus_csv_rss_mib, f.export_focus_rows),
            range(&f.export_focus_csv_s),
        ),
        (
            &focus_parquet_label,
            export_value(&f.export_focus_parquet_s, f.export_focus_parquet_rss_mib, f.export_focus_rows),
            range(&f.export_focus_parquet_s),
        ),
        (&pages_label, pages_value, String::new()),
    ];
    let mut md = format!(
        "# Benchmark results\n\nMachine: {cpu}, {cores} cores. Date: {date}. Commit: {commit}.\n\
         Workload: {} accounts, {} usage records for one day (fixed seed); {} runs, median (min–max).\n\n\
         | figure | value | spread |\n|---|---|---|\n",
        a.accounts, f.records, a.runs
    );
    for (figure, value, spread) in rows {
        md += &format!("| {figure} | {value} | {spread} |\n");
    }
    std::fs::write(out.join("latest.md"), &md)?;
    println!("{md}");
    Ok(())
}

/// Adds the run to `history.csv`: one row per recorded run (date, commit, machine, then every
/// figure of latest.json). When the figures change, the older rows move under the new header
/// by column name (a figure they lack is empty; one no longer recorded is dropped).
fn append_history(path: &std::path::Path, machine: &str, fields: &[(&str, String)]) -> Result<()> {
    let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).filter(|k| !matches!(*k, "commit" | "date")).collect();
    let header = format!("date,commit,machine,{}", keys.join(","));
    let value = |k: &str| fields.iter().find(|(f, _)| *f == k).map(|(_, v)| v.trim_matches('"').replace(',', ";")).unwrap_or_default();
    let row = format!(
        "{},{},{},{}",
        value("date"),
        value("commit"),
        machine.replace(',', ";"),
        keys.iter().map(|k| value(k)).collect::<Vec<_>>().join(",")
    );
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines = old.lines();
    let old_keys: Vec<&str> = lines.next().map(|h| h.split(',').collect()).unwrap_or_default();
    let new_keys: Vec<&str> = header.split(',').collect();
    let mut text = format!("{header}\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let cells: Vec<&str> = line.split(',').collect();
        let cell = |k: &&str| old_keys.iter().position(|o| o == k).and_then(|i| cells.get(i)).copied().unwrap_or("");
        text.push_str(&new_keys.iter().map(cell).collect::<Vec<_>>().join(","));
        text.push('\n');
    }
    text.push_str(&row);
    text.push('\n');
    std::fs::write(path, text)?;
    Ok(())
}
