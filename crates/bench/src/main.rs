//! `billcenter-bench`: the benchmark's workloads and the jobs it times in process, driven by
//! `cargo xtask bench` (see `bench/README.md`). It opens a store as `billcenter` does and
//! runs the product's own code; it is a binary of its own so that the shipped `billcenter`
//! carries no benchmark command.

mod workload;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use app::App;
use clap::{Parser, Subcommand};
use jiff::Timestamp;

/// mimalloc, as in the product binary: the night allocates and frees millions of small texts.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(name = "billcenter-bench", about = "The benchmark's workloads and in-process timings (cargo xtask bench)")]
struct Cli {
    /// The SQLite database file.
    #[arg(long, global = true, default_value = "billcenter.db")]
    db: PathBuf,
    /// A PostgreSQL store in place of the SQLite file.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// The moment the timed jobs act at (RFC 3339).
    #[arg(long, global = true)]
    now: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create the accounts and their funds, and write one day of usage as NDJSON.
    Setup {
        #[arg(long, default_value_t = 2000)]
        accounts: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        usage: PathBuf,
    },
    /// Time the floor and the engine over the day's records, before the nightly run.
    Job {
        #[arg(long)]
        usage: PathBuf,
    },
    /// Create the accounts and funds and load the day as 20 daily aggregates per account.
    SetupAggregated {
        #[arg(long, default_value_t = 2000)]
        accounts: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Create the accounts and funds and load every day of November 2026 as daily aggregates.
    SetupMonth {
        #[arg(long, default_value_t = 2000)]
        accounts: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// One account whose November holds about `lines` expense lines, as daily aggregates.
    SetupExport {
        #[arg(long, default_value_t = 1_000_000)]
        lines: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Export the export account's November with the product's `export` command, timed in this
    /// process, with its peak RSS.
    Export {
        /// csv, xlsx (detailed expenses) or csv, parquet (FOCUS).
        #[arg(long)]
        format: String,
        #[arg(long)]
        output: PathBuf,
        /// The month's FOCUS file instead of its detailed expenses.
        #[arg(long)]
        focus: bool,
    },
    /// Render the Billing Center's pages of an account through the router in this process,
    /// timed (median milliseconds of `runs` requests each).
    Pages {
        #[arg(long)]
        account: String,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// The nightly run at `--now`, timed in this process, with its peak RSS.
    Night,
    /// After the nightly run: compare what it stored with the engine job's answer.
    Check {
        #[arg(long)]
        usage: PathBuf,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let cwd = std::env::current_dir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let answer = runtime.block_on(run(&cli, &cwd))?;
    println!("{answer}");
    Ok(())
}

async fn open(cli: &Cli, cwd: &Path) -> Result<App> {
    match &cli.database_url {
        Some(url) => App::connect(url, &store::PgSettings::default()).await.context("--database-url: cannot connect"),
        None => {
            let db = cwd.join(&cli.db);
            App::open(&db).await.with_context(|| format!("--db: cannot open {}", db.display()))
        }
    }
}

async fn run(cli: &Cli, cwd: &Path) -> Result<serde_json::Value> {
    let now = match &cli.now {
        Some(text) => text.parse::<Timestamp>().map_err(|_| anyhow!("--now: `{text}` is not an RFC 3339 timestamp"))?,
        None => Timestamp::now(),
    };
    if let Command::Export { format, output, focus } = &cli.command {
        // The product's own command, in this process: its time and memory are the figure.
        let (list, now_text) = (if *focus { "focus" } else { "expenses" }, now.to_string());
        let output = cwd.join(output);
        let mut args: Vec<String> = vec!["billcenter".into()];
        match &cli.database_url {
            Some(url) => args.extend(["--database-url".into(), url.clone()]),
            None => args.extend(["--db".into(), cwd.join(&cli.db).display().to_string()]),
        }
        args.extend(
            ["--now", &now_text, "export", list, "--account", &workload::account_id(0), "--month", "2026-11", "--format", format]
                .map(String::from),
        );
        args.extend(["--output".into(), output.display().to_string()]);
        let start = std::time::Instant::now();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        if billcenter::cli::main(args, cwd, &mut out, &mut err).await != 0 {
            return Err(anyhow!("the export failed: {}", String::from_utf8_lossy(&err)));
        }
        let seconds = start.elapsed().as_secs_f64();
        let rows = String::from_utf8_lossy(&out).split_whitespace().find_map(|w| w.parse::<u64>().ok()).unwrap_or(0);
        return Ok(serde_json::json!({"rows": rows, "seconds": seconds, "peak_rss_mib": workload::peak_rss_mib()}));
    }
    let app = open(cli, cwd).await?;
    let answer = match &cli.command {
        Command::Setup { accounts, seed, usage } => {
            let n = workload::setup(&app, *accounts, *seed, &cwd.join(usage)).await?;
            serde_json::json!({"accounts": accounts, "records": n})
        }
        Command::Job { usage } => {
            let r = workload::job(&app, &cwd.join(usage)).await?;
            serde_json::json!({"records": r.records, "floor_s": r.floor_s, "engine_s": r.engine_s, "engine_cores_s": r.engine_cores_s,
                "engine_fold_s": r.engine_fold_s, "lines": r.lines, "cores": r.cores, "engine_total_minor": r.engine_total_minor,
                "floor_checksum": r.floor_checksum, "peak_rss_mib": workload::peak_rss_mib()})
        }
        Command::SetupAggregated { accounts, seed } => {
            let n = workload::setup_aggregated(&app, *accounts, *seed).await?;
            serde_json::json!({"accounts": accounts, "aggregates": n})
        }
        Command::SetupMonth { accounts, seed } => {
            let n = workload::setup_month(&app, *accounts, *seed).await?;
            serde_json::json!({"accounts": accounts, "aggregates": n})
        }
        Command::SetupExport { lines, seed } => {
            let n = workload::setup_export(&app, *lines, *seed).await?;
            serde_json::json!({"account": workload::account_id(0), "aggregates": n})
        }
        Command::Pages { account, runs } => {
            let medians = workload::pages(&app, now, account, (*runs).max(1)).await?;
            serde_json::Value::Object(medians.into_iter().map(|(name, ms)| (format!("{name}_ms"), serde_json::json!(ms))).collect())
        }
        Command::Night => {
            let (seconds, r, rss) = workload::night(&app, now).await?;
            serde_json::json!({"seconds": seconds, "accounts": r.accounts_billed, "lines": r.lines,
                "invoices_issued": r.invoices_issued, "peak_rss_mib": rss})
        }
        Command::Check { usage } => {
            let compared = workload::check(&app, &cwd.join(usage)).await?;
            serde_json::json!({"accounts_compared": compared, "matches_nightly_run": true})
        }
        Command::Export { .. } => unreachable!("answered above"),
    };
    app.close().await;
    Ok(answer)
}
