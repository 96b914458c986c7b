//! `cargo xtask bench [--accounts N] [--runs R]`: times the nightly job and its parts on a
//! fixed-seed workload and writes `bench/results/latest.{md,json}`. See `bench/README.md`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

struct Args {
    accounts: usize,
    runs: usize,
    /// Where results go (default bench/results).
    out: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Args> {
    let mut a = Args { accounts: 100_000, runs: 3, out: None };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--accounts" => a.accounts = value.parse()?,
            "--runs" => a.runs = value.parse()?,
            "--out" => a.out = Some(PathBuf::from(value)),
            other => bail!("unknown option {other} (--accounts N, --runs R, --out DIR)"),
        }
    }
    if a.runs == 0 || a.accounts == 0 {
        bail!("--accounts and --runs must be positive");
    }
    Ok(a)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs billcenter with arguments; returns its stdout and the wall time in seconds.
fn billcenter(bin: &Path, args: &[&str]) -> Result<(String, f64)> {
    let start = Instant::now();
    let out = Command::new(bin).args(args).stderr(Stdio::inherit()).output().with_context(|| format!("cannot run {}", bin.display()))?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("billcenter {args:?} failed");
    }
    Ok((String::from_utf8(out.stdout)?, secs))
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
    totals_match: bool,
    peak_rss_mib: f64,
}

pub fn bench(args: &[String]) -> Result<()> {
    let a = parse(args)?;
    let status = Command::new(env!("CARGO")).args(["build", "--release", "--locked", "-p", "billcenter"]).status()?;
    if !status.success() {
        bail!("release build failed");
    }
    let bin = root().join("target/release/billcenter");
    let dir = root().join("target/bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
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
        totals_match: true,
        peak_rss_mib: 0.0,
    };
    for run in 0..a.runs {
        eprintln!("bench run {} of {} ({} accounts)", run + 1, a.runs, a.accounts);
        let db = dir.join(format!("run{run}.db")).display().to_string();
        let (setup, _) = billcenter(&bin, &["--db", &db, "bench", "setup", "--accounts", &a.accounts.to_string(), "--usage", &usage_arg])?;
        f.records = json_field(&setup, "records").context("setup reports records")?.parse()?;
        let (_, ingest) = billcenter(&bin, &["--db", &db, "--now", "2026-11-02T00:10:00+08:00", "usage", "import", &usage_arg])?;
        let (_, nightly) = billcenter(&bin, &["--db", &db, "--now", "2026-11-02T00:30:00+08:00", "run"])?;
        let (job, _) = billcenter(&bin, &["--db", &db, "bench", "job", "--usage", &usage_arg])?;
        f.ingest_s.push(ingest);
        f.run_s.push(nightly);
        f.floor_s.push(json_field(&job, "floor_s").context("floor_s")?.parse()?);
        f.engine_s.push(json_field(&job, "engine_s").context("engine_s")?.parse()?);
        f.totals_match &= json_field(&job, "matches_nightly_run").as_deref() == Some("true");
        f.peak_rss_mib = f.peak_rss_mib.max(json_field(&job, "peak_rss_mib").and_then(|v| v.parse().ok()).unwrap_or(0.0));
        f.ingest_http_s.push(http_ingest(&bin, &dir, run, a.accounts, &usage)?);
        if let Some(url) = &pg {
            let database = create_database(url, &format!("bench_{}_{run}", std::process::id()))?;
            billcenter(
                &bin,
                &["--database-url", &database, "bench", "setup", "--accounts", &a.accounts.to_string(), "--usage", &usage_arg],
            )?;
            billcenter(&bin, &["--database-url", &database, "--now", "2026-11-02T00:10:00+08:00", "usage", "import", &usage_arg])?;
            let (_, nightly_pg) = billcenter(&bin, &["--database-url", &database, "--now", "2026-11-02T00:30:00+08:00", "run"])?;
            f.run_pg_s.push(nightly_pg);
        }
    }
    if pg.is_some() {
        crate::stop_postgres();
    }
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
    billcenter(bin, &["--db", &db, "bench", "setup", "--accounts", &accounts.to_string(), "--usage", &usage_arg])?;
    let (key, _) = billcenter(bin, &["--db", &db, "key", "create", "--operator"])?;
    let key = key.lines().next().context("a key")?.to_owned();
    let text = std::fs::read_to_string(usage)?;
    let lines: Vec<&str> = text.lines().collect();
    let total = lines.len();
    let mut parts = Vec::new();
    for (n, chunk) in lines.chunks(500_000).enumerate() {
        let part = dir.join(format!("part{n}.ndjson"));
        std::fs::write(&part, chunk.join("\n") + "\n")?;
        parts.push(part);
    }
    let mut server = Command::new(bin)
        .args(["--db", &db, "serve", "--listen", "127.0.0.1:0", "--test-clock", "--scheduler-interval-secs", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(server.stdout.as_mut().context("stdout")?), &mut line)?;
    let address = line.split("http://").nth(1).and_then(|r| r.split_whitespace().next()).context("server address")?.to_owned();
    let start = Instant::now();
    let mut accepted = 0usize;
    for part in &parts {
        let out = Command::new("curl")
            .args(["-sS", "--fail", "-H", &format!("Authorization: Bearer {key}"), "-H", "Billcenter-Now: 2026-11-02T00:10:00+08:00"])
            .args(["-H", "Content-Type: application/x-ndjson", "--data-binary", &format!("@{}", part.display())])
            .arg(format!("http://{address}/api/v1/usage/ndjson"))
            .output()?;
        if !out.status.success() {
            bail!("HTTP ingest failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        accepted += json_field(&String::from_utf8_lossy(&out.stdout), "accepted").context("accepted")?.parse::<usize>()?;
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = server.kill();
    let _ = server.wait();
    if accepted != total {
        bail!("HTTP ingest accepted {accepted} of {total} records");
    }
    Ok(secs)
}

fn create_database(admin: &str, name: &str) -> Result<String> {
    let status = Command::new("psql").args([admin, "-qc", &format!("CREATE DATABASE {name}")]).status().context("psql")?;
    if !status.success() {
        bail!("cannot create database {name}");
    }
    Ok(format!("{}/{name}", admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin)))
}

fn write_results(a: &Args, f: &Figures) -> Result<()> {
    let out = a.out.clone().unwrap_or_else(|| root().join("bench/results"));
    std::fs::create_dir_all(&out)?;
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%dT%H:%M:%SZ")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned()))
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let (ingest, run, floor, engine) =
        (median(f.ingest_s.clone()), median(f.run_s.clone()), median(f.floor_s.clone()), median(f.engine_s.clone()));
    let run_pg = (!f.run_pg_s.is_empty()).then(|| median(f.run_pg_s.clone()));
    let num = |v: Option<f64>| v.map_or("null".to_owned(), |x| format!("{x:.6}"));
    let json = format!(
        "{{\n  \"accounts\": {},\n  \"records_per_day\": {},\n  \"runs\": {},\n  \"totals_match\": {},\n  \"ingest_bulk_records_per_s\": {:.0},\n  \"ingest_http_records_per_s\": {:.0},\n  \"nightly_run_sqlite_s\": {:.6},\n  \"nightly_run_postgres_s\": {},\n  \"nightly_run_1m_accounts_s\": null,\n  \"invoice_month_s\": null,\n  \"engine_job_s\": {:.6},\n  \"duckdb_job_s\": null,\n  \"postgres_sql_job_s\": null,\n  \"floor_s\": {:.6},\n  \"engine_over_floor\": {:.2},\n  \"peak_rss_mib\": {:.1},\n  \"commit\": \"{commit}\",\n  \"date\": \"{date}\"\n}}\n",
        a.accounts,
        f.records,
        a.runs,
        f.totals_match,
        f.records as f64 / ingest,
        f.records as f64 / median(f.ingest_http_s.clone()),
        run,
        num(run_pg),
        engine,
        floor,
        engine / floor.max(1e-9),
        f.peak_rss_mib
    );
    std::fs::write(out.join("latest.json"), &json)?;
    let md = format!(
        "# Benchmark results\n\nMachine: {cpu}, {cores} cores. Date: {date}. Commit: {commit}.\n\
         Workload: {} accounts, {} usage records for one day (fixed seed); {} runs, median (min–max).\n\n\
         | figure | value | spread |\n|---|---|---|\n\
         | bulk ingest through the CLI (SQLite) | {:.0} records/s | {} s |\n\
         | ingest through HTTP NDJSON (SQLite) | {:.0} records/s | {} s |\n\
         | nightly run, end to end, durable (SQLite) | {:.3} s | {} s |\n\
         | nightly run, end to end (PostgreSQL) | {} s | {} |\n\
         | engine job: aggregate, rate, deduct (in memory) | {:.4} s | {} s |\n\
         | floor: one pass summing the same records | {:.4} s | {} s |\n\
         | engine / floor | {:.1}× | |\n\
         | engine totals equal the nightly run's | {} | |\n\
         | peak RSS of the job process | {:.0} MiB | |\n\n\
         Not measured yet (null in latest.json): the 1,000,000-account night, a month's invoices, \
         and the DuckDB and PostgreSQL-SQL versions of the job.\n",
        a.accounts,
        f.records,
        a.runs,
        f.records as f64 / ingest,
        spread(&f.ingest_s),
        f.records as f64 / median(f.ingest_http_s.clone()),
        spread(&f.ingest_http_s),
        run,
        spread(&f.run_s),
        num(run_pg),
        if f.run_pg_s.is_empty() { "-".to_owned() } else { spread(&f.run_pg_s) },
        engine,
        spread(&f.engine_s),
        floor,
        spread(&f.floor_s),
        engine / floor.max(1e-9),
        f.totals_match,
        f.peak_rss_mib
    );
    std::fs::write(out.join("latest.md"), &md)?;
    println!("{md}");
    Ok(())
}
