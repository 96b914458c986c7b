//! Command-line parsing and printing. Global options: `--db PATH`, `--now RFC3339` (the test
//! clock: every command acts as if the clock read that moment) and `--json`.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use app::lists::{ExpenseFilter, InvoiceFilter, TransactionFilter};
use app::run::RunOptions;
use app::{App, AppError};
use clap::{Args, Parser, Subcommand, ValueEnum};
use export::{Format, Table};
use jiff::Timestamp;

#[derive(Parser, Debug)]
#[command(name = "billcenter", version, about = "Billing engine and Billing Center for a usage-priced cloud service")]
pub struct Cli {
    /// The SQLite database file.
    #[arg(long, global = true, default_value = "billcenter.db", env = "BILLCENTER_DB")]
    db: PathBuf,
    /// A PostgreSQL store (`postgres://user@host/db`) in place of the SQLite file.
    #[arg(long, global = true, env = "BILLCENTER_DATABASE_URL")]
    database_url: Option<String>,
    /// PostgreSQL: connections in the pool.
    #[arg(long, global = true, env = "BILLCENTER_PG_POOL", default_value_t = 8)]
    pg_pool: u32,
    /// PostgreSQL: statement timeout in milliseconds (0: none).
    #[arg(long, global = true, env = "BILLCENTER_PG_STATEMENT_TIMEOUT_MS", default_value_t = 300_000)]
    pg_statement_timeout_ms: u64,
    /// PostgreSQL: lock timeout in milliseconds (0: none).
    #[arg(long, global = true, env = "BILLCENTER_PG_LOCK_TIMEOUT_MS", default_value_t = 30_000)]
    pg_lock_timeout_ms: u64,
    /// Act as if the clock read this moment (RFC 3339); default: the real clock.
    #[arg(long, global = true, env = "BILLCENTER_NOW")]
    now: Option<String>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    /// The issuer printed on invoices and named in FOCUS files: the operator's legal name.
    #[arg(long, global = true, env = "BILLCENTER_ISSUER_NAME")]
    issuer_name: Option<String>,
    /// The issuer's postal address, printed on invoices.
    #[arg(long, global = true, env = "BILLCENTER_ISSUER_ADDRESS")]
    issuer_address: Option<String>,
    /// The issuer's tax id, printed on invoices.
    #[arg(long, global = true, env = "BILLCENTER_ISSUER_TAX_ID")]
    issuer_tax_id: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Load billable items, prices and packages.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Billing accounts.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Workspaces.
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
    /// Usage records.
    Usage {
        #[command(subcommand)]
        command: UsageCommand,
    },
    /// Add cash to an account (repays arrears first).
    Topup {
        #[arg(long)]
        account: String,
        #[arg(long)]
        amount: String,
        #[arg(long, default_value = "bank_transfer")]
        channel: String,
    },
    /// Coupons.
    Coupon {
        #[command(subcommand)]
        command: CouponCommand,
    },
    /// Prepaid cards.
    Card {
        #[command(subcommand)]
        command: CardCommand,
    },
    /// Tax invoices drawn on the invoiceable amount: a customer's requests and the operator's
    /// decisions (`list tax-invoices` and `list invoiceable` show them).
    TaxInvoice {
        #[command(subcommand)]
        command: TaxInvoiceCommand,
    },
    /// Pay cash back to a customer (at most its cash balance); what is refunded is no longer
    /// invoiceable, as far as tax invoices do not already hold it.
    Refund {
        #[arg(long)]
        account: String,
        #[arg(long)]
        amount: String,
        #[arg(long)]
        reason: String,
    },
    /// Annual packages.
    Package {
        #[command(subcommand)]
        command: PackageCommand,
    },
    /// Resource packs: prepaid volume of one billable item, used after an annual package's
    /// daily quota and before pay-as-you-go.
    Pack {
        #[command(subcommand)]
        command: PackCommand,
    },
    /// The nightly job: bill every ended day, expire instruments, move standings, issue invoices.
    Run {
        /// Invoices for month M are issued once this day of M+1 has ended.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i8).range(1..=28))]
        invoice_day: i8,
        /// Accounts per database transaction.
        #[arg(long, default_value_t = app::run::RunOptions::default().batch_accounts as u32, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch: u32,
    },
    /// Show a list of the Billing Center.
    List(ListArgs),
    /// Export a list of the Billing Center as CSV, XLSX or JSON (all rows of the filter).
    Export {
        #[command(flatten)]
        list: ListArgs,
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Recompute every balance and total from the ledger and the lines; fail on any difference.
    Verify,
    /// Write a consistent copy of the SQLite store to a new file while it stays in use
    /// (PostgreSQL: pg_dump).
    Backup {
        /// The copy; must not exist.
        #[arg(long)]
        output: PathBuf,
    },
    /// A billing worker: runs the nightly job in passes, sharing the accounts with any other
    /// workers on the same database (each batch of accounts is claimed in the database).
    Worker {
        /// Seconds between passes when nothing is due.
        #[arg(long, default_value_t = 30)]
        interval_secs: u64,
        /// Exit once every due account-day is billed (by this worker or another).
        #[arg(long)]
        once: bool,
        /// Minutes after a billing day ends before it is billed (0 with --now in tests).
        #[arg(long, default_value_t = 30)]
        run_delay_minutes: i64,
        /// Accounts per batch (one transaction).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch: u32,
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i8).range(1..=28))]
        invoice_day: i8,
    },
    /// Serve the HTTP API with the nightly scheduler and webhook delivery.
    Serve(ServeArgs),
    /// Users of the web Billing Center.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// API keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Fill the database with a realistic demo, create a sign-in for each demo account and an
    /// operator, and serve the Billing Center.
    Demo {
        /// Only fill the database; do not serve the Billing Center.
        #[arg(long)]
        no_serve: bool,
        /// Address to serve on; default 127.0.0.1:8080.
        #[arg(long)]
        listen: Option<String>,
        /// Days of usage to generate, ending yesterday.
        #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u16).range(7..=170))]
        days: u16,
        #[arg(long, default_value_t = 20261126)]
        seed: u64,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create a user; the password is read from standard input (one line).
    Create {
        #[arg(long)]
        email: String,
        /// A user of the operator: every page of every account.
        #[arg(long, conflicts_with = "account", required_unless_present = "account")]
        operator: bool,
        /// A user of one billing account: its pages only.
        #[arg(long)]
        account: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// Create a key and print it once (only its hash is stored).
    Create {
        /// A key of the operator: every operation on every account.
        #[arg(long, conflicts_with = "account", required_unless_present = "account")]
        operator: bool,
        /// A key of one billing account: its lists and exports, and redeeming coupon codes.
        #[arg(long)]
        account: Option<String>,
    },
}

/// Options of `serve`. Each may also come from the environment (`BILLCENTER_...`) or from the
/// `--config` TOML file (same names with underscores); flags win over the environment, which
/// wins over the file.
#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// A TOML file with any of the options below.
    #[arg(long, env = "BILLCENTER_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port); default 127.0.0.1:8080.
    #[arg(long, env = "BILLCENTER_LISTEN")]
    listen: Option<String>,
    /// Let requests carry a `Billcenter-Now` header and enable `POST /api/v1/run`.
    #[arg(long, env = "BILLCENTER_TEST_CLOCK")]
    test_clock: bool,
    /// Invoices for month M are issued once this day of M+1 has ended; default 3.
    #[arg(long, env = "BILLCENTER_INVOICE_DAY")]
    invoice_day: Option<i8>,
    /// Minutes after a billing day ends before it is billed; default 30.
    #[arg(long, env = "BILLCENTER_RUN_DELAY_MINUTES")]
    run_delay_minutes: Option<i64>,
    /// Seconds between scheduler ticks; default 60; 0 turns the scheduler off.
    #[arg(long, env = "BILLCENTER_SCHEDULER_INTERVAL_SECS")]
    scheduler_interval_secs: Option<u64>,
    /// Log format: text (default) or json.
    #[arg(long, env = "BILLCENTER_LOG_FORMAT")]
    log_format: Option<String>,
    /// Requests in flight at once; more are answered 503 with Retry-After; default 512.
    #[arg(long, env = "BILLCENTER_MAX_IN_FLIGHT")]
    max_in_flight: Option<usize>,
}

#[derive(serde::Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct ServeFile {
    listen: Option<String>,
    test_clock: Option<bool>,
    invoice_day: Option<i8>,
    run_delay_minutes: Option<i64>,
    scheduler_interval_secs: Option<u64>,
    log_format: Option<String>,
    max_in_flight: Option<usize>,
}

#[derive(Subcommand, Debug)]
enum CatalogCommand {
    Import { file: PathBuf },
}

#[derive(Subcommand, Debug)]
enum AccountCommand {
    /// Create many accounts from a CSV file with the header
    /// `id,name,currency,time_zone,workspaces` (workspace ids separated by `;`), all or none.
    Import { file: PathBuf },
    Create {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "CNY")]
        currency: String,
        #[arg(long, default_value = "Asia/Shanghai")]
        tz: String,
    },
}

#[derive(Subcommand, Debug)]
enum WorkspaceCommand {
    Create {
        #[arg(long)]
        account: String,
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum UsageCommand {
    /// Import a CSV or NDJSON file (by extension: .ndjson or .jsonl is NDJSON).
    Import { file: PathBuf },
}

#[derive(Subcommand, Debug)]
enum CouponCommand {
    Issue {
        #[arg(long)]
        account: String,
        #[arg(long)]
        amount: String,
        #[arg(long, default_value = "regular")]
        kind: String,
        #[arg(long)]
        valid_from: String,
        #[arg(long)]
        valid_until: String,
        /// Billable items the coupon may pay (comma separated); default all.
        #[arg(long, value_delimiter = ',')]
        items: Vec<String>,
    },
}

#[derive(Args, Debug)]
struct CardArgs {
    #[arg(long)]
    account: String,
    #[arg(long)]
    amount: String,
    #[arg(long)]
    valid_from: String,
    #[arg(long)]
    valid_until: String,
}

#[derive(Subcommand, Debug)]
enum CardCommand {
    /// Sell a card for cash.
    Buy(CardArgs),
    /// Grant a card (never invoiced).
    Grant(CardArgs),
}

#[derive(Subcommand, Debug)]
enum PackageCommand {
    Buy {
        #[arg(long)]
        account: String,
        #[arg(long)]
        package: String,
        #[arg(long)]
        start: String,
    },
    /// Upgrade the package in force today to a dearer plan: the old one ends today, its unused
    /// days credited to cash pro rata by day; the new one starts today. (A downgrade is a
    /// purchase for the next term: `package buy --start` the old one's end.)
    Upgrade {
        #[arg(long)]
        account: String,
        #[arg(long)]
        package: String,
    },
    /// Buy the next term of the latest package (the same plan, or --package), starting the day
    /// it ends.
    Renew {
        #[arg(long)]
        account: String,
        #[arg(long)]
        package: Option<String>,
    },
    /// Let the latest package renew itself at its end (the nightly run buys the next term), or
    /// stop that with --off.
    AutoRenew {
        #[arg(long)]
        account: String,
        #[arg(long)]
        off: bool,
    },
}

#[derive(Subcommand, Debug)]
enum PackCommand {
    /// Buy a pack of the catalog (paid now: coupons, then cards, then cash; never arrears).
    Buy(PackArgs),
    /// Grant a pack of the catalog (no money moves).
    Grant(PackArgs),
}

#[derive(Args, Debug)]
struct PackArgs {
    #[arg(long)]
    account: String,
    /// The catalog's code of the pack, e.g. log_events_500m.
    #[arg(long)]
    pack: String,
    /// The first day it covers (YYYY-MM-DD, in the account's zone); today when left out.
    #[arg(long)]
    start: Option<String>,
}

#[derive(Subcommand, Debug)]
enum TaxInvoiceCommand {
    /// Request a tax invoice for an amount, drawn from the given months (oldest first) or from
    /// every month with an issued invoice.
    Request {
        #[arg(long)]
        account: String,
        #[arg(long)]
        amount: String,
        /// The buyer's name as printed on the tax invoice.
        #[arg(long)]
        title: String,
        /// The buyer's taxpayer id (unified social credit code).
        #[arg(long)]
        tax_id: String,
        /// Months to draw on, `YYYY-MM` (repeat or separate with commas); all when absent.
        #[arg(long, value_delimiter = ',')]
        months: Vec<String>,
        /// ordinary or special_vat.
        #[arg(long, default_value = "ordinary")]
        kind: String,
        /// The buyer's address (required for special_vat).
        #[arg(long, default_value = "")]
        address: String,
        /// Where the tax invoice is sent.
        #[arg(long)]
        email: String,
    },
    /// Issue a requested tax invoice with the number the tax authority gave it.
    Issue {
        #[arg(long)]
        account: String,
        #[arg(long)]
        request: i64,
        #[arg(long)]
        number: String,
        /// The day printed on it (YYYY-MM-DD); today in the account's zone when absent.
        #[arg(long, default_value = "")]
        date: String,
        /// The tax invoice's PDF, as the tax authority's system produced it (or attach it later).
        #[arg(long)]
        pdf: Option<PathBuf>,
    },
    /// Attach the PDF of an issued tax invoice (replacing one attached before).
    Attach {
        #[arg(long)]
        account: String,
        #[arg(long)]
        request: i64,
        #[arg(long)]
        pdf: PathBuf,
    },
    /// Write the PDF attached to a tax invoice to a file.
    Pdf {
        #[arg(long)]
        account: String,
        #[arg(long)]
        request: i64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Reject a request; its amount becomes available again.
    Reject {
        #[arg(long)]
        account: String,
        #[arg(long)]
        request: i64,
        #[arg(long)]
        reason: String,
    },
    /// Reverse an issued tax invoice (red-letter); its amount becomes available again.
    Reverse {
        #[arg(long)]
        account: String,
        #[arg(long)]
        request: i64,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ListKind {
    Invoices,
    /// One monthly invoice (`--month`): its summary and its lines by workspace and item;
    /// `export invoice --format pdf` prints it.
    Invoice,
    /// A FOCUS 1.2 cost and usage file of a month (`export focus --month M`, CSV or Parquet),
    /// of one account or, without `--account`, of every account.
    Focus,
    Expenses,
    Transactions,
    Coupons,
    Cards,
    Balances,
    Events,
    /// Tax invoice requests (`--status requested|issued|rejected|reversed`).
    TaxInvoices,
    /// Resource packs with their volume left and days left (`--status active|not_yet_valid|used_up|expired`).
    Packs,
    /// Each issued month's invoiceable amount, what tax invoices hold and refunds took of it,
    /// and what is left.
    Invoiceable,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ExportFormat {
    Csv,
    Json,
    /// A spreadsheet: typed cells, a totals row, an About sheet.
    Xlsx,
    /// One invoice as an A4 document (`export invoice`).
    Pdf,
    /// A FOCUS file as Apache Parquet (`export focus`).
    Parquet,
}

#[derive(Args, Debug)]
struct ListArgs {
    #[arg(value_enum)]
    list: ListKind,
    /// The billing account (every list but `focus` needs one).
    #[arg(long)]
    account: Option<String>,
    /// Start: a month (invoices), a day (expenses) or a day or instant (transactions).
    #[arg(long)]
    from: Option<String>,
    /// End, included for months and days, excluded for instants.
    #[arg(long)]
    to: Option<String>,
    /// Billing period of detailed expenses (YYYY-MM).
    #[arg(long)]
    month: Option<String>,
    #[arg(long)]
    workspace: Option<String>,
    #[arg(long)]
    item: Option<String>,
    #[arg(long)]
    charge_type: Option<String>,
    /// Transaction type, e.g. deduction or top_up.
    #[arg(long = "type")]
    kind: Option<String>,
    /// Fund: cash, coupon, card, CPN-<n> or PC-<n>.
    #[arg(long)]
    fund: Option<String>,
    /// Coupon or card status: active, not_yet_valid, used_up, expired.
    #[arg(long)]
    status: Option<String>,
}

impl ListArgs {
    fn account(&self) -> Result<&str> {
        self.account.as_deref().ok_or_else(|| AppError::invalid("account", "is required for this list (--account ID)").into())
    }

    fn month(&self) -> Result<&str> {
        self.month.as_deref().ok_or_else(|| AppError::invalid("month", "is required for this list (--month YYYY-MM)").into())
    }

    fn filter_text(&self) -> String {
        app::lists::describe_filter(&[
            ("from", self.from.as_deref()),
            ("to", self.to.as_deref()),
            ("month", self.month.as_deref()),
            ("workspace", self.workspace.as_deref()),
            ("item", self.item.as_deref()),
            ("charge_type", self.charge_type.as_deref()),
            ("type", self.kind.as_deref()),
            ("fund", self.fund.as_deref()),
            ("status", self.status.as_deref()),
        ])
    }
}

/// Runs the command line and returns the process exit code. Errors print one line naming the
/// field and the reason to `err` (or a JSON error object to `out` with `--json`).
pub async fn main(args: Vec<String>, cwd: &Path, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            if e.use_stderr() {
                let _ = write!(err, "{}", e.render());
                return 2;
            }
            let _ = write!(out, "{}", e.render());
            return 0;
        }
    };
    let json = cli.json;
    match execute(cli, cwd, out).await {
        Ok(()) => 0,
        Err(e) => {
            let (code, field) = match e.downcast_ref::<AppError>() {
                Some(AppError::Invalid { field, .. }) => ("invalid_input", Some(field.clone())),
                Some(AppError::InsufficientFunds { field, .. }) => ("insufficient_funds", Some((*field).to_owned())),
                Some(other) => (other.code(), None),
                None => ("error", None),
            };
            if json {
                let body = serde_json::json!({"error": {"code": code, "message": format!("{e:#}"), "field": field}});
                let _ = writeln!(out, "{body}");
            } else {
                let _ = writeln!(err, "error: {e:#}");
            }
            1
        }
    }
}

/// Runs one parsed command, writing its output to `out`.
pub async fn execute(cli: Cli, cwd: &Path, out: &mut dyn Write) -> Result<()> {
    let fixed = match &cli.now {
        Some(text) => Some(text.parse::<Timestamp>().map_err(|_| anyhow!("--now: `{text}` is not an RFC 3339 timestamp"))?),
        None => None,
    };
    let clock = app::Clock::from_option(fixed);
    let app = match &cli.database_url {
        Some(url) => {
            let settings = store::PgSettings {
                max_connections: cli.pg_pool,
                statement_timeout_ms: cli.pg_statement_timeout_ms,
                lock_timeout_ms: cli.pg_lock_timeout_ms,
            };
            App::connect(url, &settings).await.context("--database-url: cannot connect")?
        }
        None => {
            let db = cwd.join(&cli.db);
            App::open(&db).await.with_context(|| format!("--db: cannot open {}", db.display()))?
        }
    };
    let app = match &cli.issuer_name {
        Some(name) => app.with_issuer(export::Issuer {
            name: name.clone(),
            address: cli.issuer_address.clone().unwrap_or_default(),
            tax_id: cli.issuer_tax_id.clone().unwrap_or_default(),
        }),
        // The demo's operator, so its invoices show a whole issuer block.
        None if matches!(cli.command, Command::Demo { .. }) => app.with_issuer(crate::demo::issuer()),
        None => app,
    };
    let result = command(&app, &cli, cwd, clock, out).await;
    app.close().await;
    result
}

fn read_file(cwd: &Path, file: &Path) -> Result<String> {
    let path = cwd.join(file);
    std::fs::read_to_string(&path).map_err(|e| AppError::invalid("file", format!("cannot read {}: {e}", file.display())).into())
}

/// A package as `--json` prints it: plan, number, first and last day.
fn package_json(p: &store::PackageRow) -> serde_json::Value {
    let last = billing::period::previous_day(p.end_day);
    serde_json::json!({"package": p.plan, "number": format!("PKG-{}", p.package_no), "start": p.start_day.to_string(), "until": last.to_string()})
}

fn print_json(out: &mut dyn Write, value: serde_json::Value) -> Result<()> {
    writeln!(out, "{value}")?;
    Ok(())
}

async fn command(app: &App, cli: &Cli, cwd: &Path, clock: app::Clock, out: &mut dyn Write) -> Result<()> {
    let json = cli.json;
    // A one-shot command acts at one moment; `serve` and `worker` keep reading the clock.
    let now = clock.now();
    match &cli.command {
        Command::Catalog { command: CatalogCommand::Import { file } } => {
            let source = read_file(cwd, file)?;
            let s = app.import_catalog(now, &source).await?;
            if json {
                print_json(
                    out,
                    serde_json::json!({"items": s.items, "price_versions": s.price_versions, "packages": s.packages, "changed": s.changed}),
                )?;
            } else if s.changed {
                writeln!(out, "imported catalog: {} items, {} price versions, {} packages", s.items, s.price_versions, s.packages)?;
            } else {
                writeln!(out, "catalog unchanged: {} items, {} price versions, {} packages", s.items, s.price_versions, s.packages)?;
            }
        }
        Command::Account { command: AccountCommand::Create { id, name, currency, tz } } => {
            let a = app.create_account(now, id, name, currency, tz).await?;
            if json {
                print_json(
                    out,
                    serde_json::json!({"account": a.id(), "currency": a.row.currency, "time_zone": a.row.time_zone, "first_day": a.row.first_day.to_string()}),
                )?;
            } else {
                writeln!(
                    out,
                    "created billing account {} ({}, {}), first billing day {}",
                    a.id(),
                    a.row.currency,
                    a.row.time_zone,
                    a.row.first_day
                )?;
            }
        }
        Command::Account { command: AccountCommand::Import { file } } => {
            let text = read_file(cwd, file)?;
            let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
            let header: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
            if header != ["id", "name", "currency", "time_zone", "workspaces"] {
                return Err(AppError::invalid("file", "the CSV header must be id,name,currency,time_zone,workspaces").into());
            }
            let mut rows = Vec::new();
            for (n, record) in reader.records().enumerate() {
                let r = record.map_err(|e| AppError::invalid("file", format!("line {}: {e}", n + 2)))?;
                let workspaces = r[4].split(';').filter(|w| !w.is_empty()).map(str::to_owned).collect();
                rows.push((r[0].to_owned(), r[1].to_owned(), r[2].to_owned(), r[3].to_owned(), workspaces));
            }
            let n = app.import_accounts(now, &rows).await?;
            if json {
                print_json(out, serde_json::json!({"accounts": n}))?;
            } else {
                writeln!(out, "created {n} billing accounts")?;
            }
        }
        Command::Worker { interval_secs, once, run_delay_minutes, batch, invoice_day } => {
            let options = RunOptions {
                batch_accounts: *batch as usize,
                invoice_day: *invoice_day,
                delay: jiff::SignedDuration::from_mins(*run_delay_minutes),
                ..RunOptions::default()
            };
            let mut total = app::run::RunReport::default();
            loop {
                let at = clock.now();
                let r = app.run(at, options, &mut |_, _| {}).await?;
                total.days_billed += r.days_billed;
                total.lines += r.lines;
                total.invoices_issued += r.invoices_issued;
                if r.days_billed > 0 {
                    continue;
                }
                if *once && app.pending_accounts(at, options.delay).await? == 0 {
                    break;
                }
                let pause = if *once { 200 } else { interval_secs * 1000 };
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            }
            if json {
                print_json(
                    out,
                    serde_json::json!({"days": total.days_billed, "lines": total.lines, "invoices_issued": total.invoices_issued}),
                )?;
            } else {
                writeln!(
                    out,
                    "worker billed {} account-days: {} lines, {} invoices issued",
                    total.days_billed, total.lines, total.invoices_issued
                )?;
            }
        }
        Command::Workspace { command: WorkspaceCommand::Create { account, id, name } } => {
            let w = app.create_workspace(now, account, id, name.as_deref()).await?;
            if json {
                print_json(out, serde_json::json!({"workspace": w.workspace_id, "account": w.account_id}))?;
            } else {
                writeln!(out, "created workspace {} for billing account {}", w.workspace_id, w.account_id)?;
            }
        }
        Command::Usage { command: UsageCommand::Import { file } } => {
            let path = cwd.join(file);
            let reader =
                std::fs::File::open(&path).map_err(|e| AppError::invalid("file", format!("cannot read {}: {e}", file.display())))?;
            let ndjson = matches!(path.extension().and_then(|e| e.to_str()), Some("ndjson" | "jsonl"));
            let report = app.import_usage(now, BufReader::with_capacity(1 << 20, reader), ndjson).await?;
            if json {
                let rejected: Vec<_> =
                    report.rejected.iter().map(|r| serde_json::json!({"line": r.position, "field": r.field, "reason": r.reason})).collect();
                print_json(out, serde_json::json!({"accepted": report.accepted, "duplicate": report.duplicate, "rejected": rejected}))?;
            } else {
                writeln!(out, "accepted {}, duplicate {}, rejected {}", report.accepted, report.duplicate, report.rejected.len())?;
                for r in &report.rejected {
                    writeln!(out, "  line {}: {}: {}", r.position, r.field, r.reason)?;
                }
            }
        }
        Command::Topup { account, amount, channel } => {
            let r = app.top_up(now, account, amount, channel).await?;
            if json {
                print_json(out, serde_json::json!({"document": r.document, "amount": r.amount, "cash": r.cash_after, "state": r.state}))?;
            } else {
                writeln!(out, "top-up {}: {} to {}; cash {}, state {}", r.document, r.amount, r.account_id, r.cash_after, r.state)?;
            }
        }
        Command::TaxInvoice { command } => {
            let (account, row) = match command {
                TaxInvoiceCommand::Request { account, amount, title, tax_id, months, kind, address, email } => {
                    let req = app::tax_invoice::TaxInvoiceRequest {
                        amount: amount.clone(),
                        months: months.clone(),
                        kind: kind.clone(),
                        title: title.clone(),
                        tax_id: tax_id.clone(),
                        address: address.clone(),
                        email: email.clone(),
                    };
                    (account, app.request_tax_invoice(now, account, &req).await?)
                }
                TaxInvoiceCommand::Issue { account, request, number, date, pdf } => {
                    let pdf = pdf.as_deref().map(|p| read_pdf(cwd, p)).transpose()?;
                    let d = app::tax_invoice::Decision::Issue { invoice_no: number.clone(), issued_on: date.clone(), pdf };
                    (account, app.decide_tax_invoice(now, account, *request, &d).await?)
                }
                TaxInvoiceCommand::Attach { account, request, pdf } => {
                    (account, app.attach_tax_invoice_pdf(now, account, *request, read_pdf(cwd, pdf)?).await?)
                }
                TaxInvoiceCommand::Pdf { account, request, out: path } => {
                    let (_, pdf) = app.tax_invoice_pdf(account, *request).await?;
                    std::fs::write(cwd.join(path), &pdf.content).with_context(|| format!("cannot write {}", path.display()))?;
                    if json {
                        print_json(out, serde_json::json!({"file": path, "bytes": pdf.content.len(), "sha256": pdf.sha256}))?;
                    } else {
                        writeln!(out, "wrote {} ({} bytes, sha256 {})", path.display(), pdf.content.len(), pdf.sha256)?;
                    }
                    return Ok(());
                }
                TaxInvoiceCommand::Reject { account, request, reason } => {
                    let d = app::tax_invoice::Decision::Reject { reason: reason.clone() };
                    (account, app.decide_tax_invoice(now, account, *request, &d).await?)
                }
                TaxInvoiceCommand::Reverse { account, request, reason } => {
                    let d = app::tax_invoice::Decision::Reverse { reason: reason.clone() };
                    (account, app.decide_tax_invoice(now, account, *request, &d).await?)
                }
            };
            let amount = app.account(account).await?.currency.format(billing::Amount(row.amount));
            if json {
                print_json(
                    out,
                    serde_json::json!({"account": row.account_id, "request": row.request_no, "amount": amount, "status": row.status,
                        "tax_invoice_no": row.invoice_no, "issued_on": row.issued_on, "reason": row.reason, "pdf_sha256": row.pdf_sha256}),
                )?;
            } else {
                let number = row.invoice_no.as_deref().map(|n| format!(", number {n}")).unwrap_or_default();
                writeln!(out, "tax invoice request {} of {}: {} {}{number}", row.request_no, row.account_id, amount, row.status)?;
            }
        }
        Command::Refund { account, amount, reason } => {
            let r = app.refund(now, account, amount, reason).await?;
            if json {
                print_json(
                    out,
                    serde_json::json!({"refund": r.refund.refund_no, "amount": r.amount, "cash": r.cash_after,
                        "invoiceable_reduced": r.invoiceable_reduced}),
                )?;
            } else {
                writeln!(
                    out,
                    "refund {} to {}: {}; cash {}, invoiceable reduced by {}",
                    r.refund.refund_no, account, r.amount, r.cash_after, r.invoiceable_reduced
                )?;
            }
        }
        Command::Coupon { command: CouponCommand::Issue { account, amount, kind, valid_from, valid_until, items } } => {
            let req = app::funds::CouponRequest {
                amount: amount.clone(),
                kind: kind.clone(),
                valid_from: valid_from.clone(),
                valid_until: valid_until.clone(),
                items: items.clone(),
            };
            let c = app.issue_coupon(now, account, req).await?;
            print_instrument(out, json, "issued", &c)?;
        }
        Command::Card { command } => {
            let (args, purchase) = match command {
                CardCommand::Buy(a) => (a, true),
                CardCommand::Grant(a) => (a, false),
            };
            let req = app::funds::CardRequest {
                amount: args.amount.clone(),
                valid_from: args.valid_from.clone(),
                valid_until: args.valid_until.clone(),
                purchase,
            };
            let c = app.add_card(now, &args.account, req).await?;
            print_instrument(out, json, if purchase { "sold" } else { "granted" }, &c)?;
        }
        Command::Pack { command } => {
            let (args, origin) = match command {
                PackCommand::Buy(args) => (args, app::packs::PackOrigin::Bought),
                PackCommand::Grant(args) => (args, app::packs::PackOrigin::Granted),
            };
            let p = app.add_pack(now, &args.account, &args.pack, args.start.as_deref(), origin).await?;
            let volume = app::packs::quantity_text(p.volume);
            if json {
                print_json(
                    out,
                    serde_json::json!({"pack": p.offer, "number": format!("RP-{}", p.pack_no), "item": p.item, "volume": volume,
                        "valid_from": p.valid_from.to_string(), "valid_until": p.valid_until.to_string(), "origin": p.origin}),
                )?;
            } else {
                let what = if p.origin == "granted" { "granted" } else { "sold" };
                writeln!(
                    out,
                    "{what} resource pack {} (RP-{}) to {}: {volume} {}, valid {} to {}",
                    p.offer, p.pack_no, p.account_id, p.item, p.valid_from, p.valid_until
                )?;
            }
        }
        Command::Package { command: PackageCommand::Buy { account, package, start } } => {
            let p = app.buy_package(now, account, package, start).await?;
            let last = billing::period::previous_day(p.end_day);
            if json {
                print_json(out, package_json(&p))?;
            } else {
                writeln!(out, "sold package {} (PKG-{}) to {}, valid {} to {}", p.plan, p.package_no, p.account_id, p.start_day, last)?;
            }
        }
        Command::Package { command: PackageCommand::Renew { account, package } } => {
            let p = app.renew_package(now, account, package.as_deref()).await?;
            let last = billing::period::previous_day(p.end_day);
            if json {
                print_json(out, package_json(&p))?;
            } else {
                writeln!(out, "renewed {}: package {} (PKG-{}), valid {} to {}", p.account_id, p.plan, p.package_no, p.start_day, last)?;
            }
        }
        Command::Package { command: PackageCommand::AutoRenew { account, off } } => {
            let p = app.set_package_auto_renew(account, !off).await?;
            let last = billing::period::previous_day(p.end_day);
            let what = if p.auto_renew { "renews itself at its end" } else { "ends without renewing itself" };
            if json {
                print_json(
                    out,
                    serde_json::json!({"number": format!("PKG-{}", p.package_no), "until": last.to_string(), "auto_renew": p.auto_renew}),
                )?;
            } else {
                writeln!(out, "package {} (PKG-{}) of {}, valid to {last}, {what}", p.plan, p.package_no, p.account_id)?;
            }
        }
        Command::Package { command: PackageCommand::Upgrade { account, package } } => {
            let u = app.upgrade_package(now, account, package).await?;
            let last = billing::period::previous_day(u.new.end_day);
            if json {
                print_json(
                    out,
                    serde_json::json!({"ended": format!("PKG-{}", u.ended.package_no), "ended_on": u.ended.end_day.to_string(), "credit": u.credit,
                        "package": u.new.plan, "number": format!("PKG-{}", u.new.package_no), "start": u.new.start_day.to_string(), "until": last.to_string()}),
                )?;
            } else {
                writeln!(
                    out,
                    "upgraded {} from {} (PKG-{}, ended {}, {} credited for its unused days) to {} (PKG-{}), valid {} to {}",
                    account,
                    u.ended.plan,
                    u.ended.package_no,
                    u.ended.end_day,
                    u.credit,
                    u.new.plan,
                    u.new.package_no,
                    u.new.start_day,
                    last
                )?;
            }
        }
        Command::Run { invoice_day, batch } => {
            let options = RunOptions { batch_accounts: *batch as usize, invoice_day: *invoice_day, ..RunOptions::default() };
            let r = app.run(now, options, &mut |_, _| {}).await?;
            if json {
                print_json(
                    out,
                    serde_json::json!({"accounts": r.accounts_billed, "days": r.days_billed, "lines": r.lines, "adjustment_lines": r.adjustment_lines,
                        "invoices_issued": r.invoices_issued, "instruments_expired": r.instruments_expired, "state_changes": r.state_changes}),
                )?;
            } else {
                writeln!(
                    out,
                    "billed {} accounts, {} days: {} lines ({} adjustments), {} invoices issued, {} instruments expired, {} state changes",
                    r.accounts_billed,
                    r.days_billed,
                    r.lines,
                    r.adjustment_lines,
                    r.invoices_issued,
                    r.instruments_expired,
                    r.state_changes
                )?;
            }
        }
        Command::List(args) => {
            let format = if json { Format::Json } else { Format::Text };
            for table in list(app, now, args).await? {
                export::write(&table, format, out)?;
            }
        }
        Command::Export { list: args, format, output } if matches!(args.list, ListKind::Invoice | ListKind::Focus) => {
            let rows = export_document(app, args, *format, output.as_deref().map(|p| cwd.join(p)).as_deref(), out).await?;
            if let (Some(path), false) = (output, json) {
                writeln!(out, "exported {rows} rows to {}", path.display())?;
            }
        }
        Command::Export { list: args, format, output }
            if matches!(args.list, ListKind::Expenses) && !matches!(format, ExportFormat::Json) =>
        {
            let rows = export_expenses(app, now, args, *format, output.as_deref().map(|p| cwd.join(p)).as_deref(), out).await?;
            if let (Some(path), false) = (output, json) {
                writeln!(out, "exported {rows} rows to {}", path.display())?;
            }
        }
        Command::Export { list: args, format, output } => {
            let tables = list(app, now, args).await?;
            let table = tables.into_iter().next().expect("every list has a table");
            let mut file = match output {
                Some(path) => Some(
                    std::fs::File::create(cwd.join(path))
                        .map_err(|e| AppError::invalid("output", format!("cannot write {}: {e}", path.display())))?,
                ),
                None => None,
            };
            let sink: &mut dyn Write = match &mut file {
                Some(f) => f,
                None => out,
            };
            match format {
                ExportFormat::Csv => export::write(&table, Format::Csv, sink)?,
                ExportFormat::Json => export::write(&table, Format::Json, sink)?,
                ExportFormat::Xlsx => {
                    let name = args.list.to_possible_value().expect("lists are named").get_name().to_owned();
                    let about = app.export_about(now, args.account()?, &name, args.filter_text()).await?;
                    export::write_xlsx(&table, about, sink)?;
                }
                ExportFormat::Pdf | ExportFormat::Parquet => {
                    return Err(AppError::invalid("format", "pdf is for `export invoice`, parquet for `export focus`").into());
                }
            }
            if let (Some(path), false) = (output, json) {
                writeln!(out, "exported {} rows to {}", table.rows.len(), path.display())?;
            }
        }
        Command::Backup { output } => {
            let path = cwd.join(output);
            app.backup(&path).await?;
            if json {
                print_json(out, serde_json::json!({"backup": path.display().to_string()}))?;
            } else {
                writeln!(out, "backed up to {}", path.display())?;
            }
        }
        Command::Verify => {
            let report = app.verify().await?;
            print_verify(out, json, &report)?;
            if !report.is_clean() {
                return Err(anyhow!("verify found differences"));
            }
        }
        Command::User { command: UserCommand::Create { email, operator: _, account } } => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .map_err(|e| AppError::invalid("password", format!("cannot read standard input: {e}")))?;
            let password = password.trim_end_matches(['\n', '\r']);
            let user = app.create_user(now, email, password, account.as_deref()).await?;
            if json {
                print_json(out, serde_json::json!({"email": user.email, "account": user.account_id}))?;
            } else {
                match &user.account_id {
                    Some(a) => writeln!(out, "created user {} of billing account {a}", user.email)?,
                    None => writeln!(out, "created operator user {}", user.email)?,
                }
            }
        }
        Command::Key { command: KeyCommand::Create { operator: _, account } } => {
            let key = app.create_key(now, account.as_deref()).await?;
            if json {
                print_json(out, serde_json::json!({"key": key, "account": account}))?;
            } else {
                writeln!(out, "{key}")?;
                writeln!(out, "(shown once: billcenter stores only its hash)")?;
            }
        }
        Command::Serve(args) => serve(app.clone(), args, cwd, clock, out).await?,
        Command::Demo { no_serve, listen, days, seed } => {
            // The demo's documents go beside its database file (or into the working folder on
            // PostgreSQL).
            let documents = match &cli.database_url {
                Some(_) => cwd.to_path_buf(),
                None => cwd.join(&cli.db).parent().map_or_else(|| cwd.to_path_buf(), Path::to_path_buf),
            };
            crate::demo::run(app, &documents, now, *days, *seed, out).await?;
            let report = app.verify().await?;
            print_verify(out, json, &report)?;
            if !report.is_clean() {
                return Err(anyhow!("verify found differences"));
            }
            if !no_serve {
                let users = crate::demo::users(app, now).await?;
                writeln!(out, "\nSign in to the Billing Center with one of these (passwords are new for this database):")?;
                for (email, password, account) in &users {
                    writeln!(out, "  {email:<34} {password}  {}", account.unwrap_or("operator: every account"))?;
                }
                let args = ServeArgs { listen: listen.clone(), ..ServeArgs::default() };
                serve(app.clone(), &args, cwd, clock, out).await?;
            }
        }
    }
    Ok(())
}

fn print_instrument(out: &mut dyn Write, json: bool, verb: &str, new: &app::funds::NewInstrument) -> Result<()> {
    let i = &new.row;
    let what = if i.kind == "card" { "prepaid card".to_owned() } else { format!("{} coupon", i.kind) };
    if json {
        print_json(
            out,
            serde_json::json!({"code": i.code, "kind": i.kind, "face_value": new.face_value, "valid_from": i.valid_from.to_string(), "valid_until": i.valid_until.to_string()}),
        )?;
    } else {
        writeln!(out, "{verb} {what} {} of {} to {}, valid {} to {}", i.code, new.face_value, i.account_id, i.valid_from, i.valid_until)?;
    }
    Ok(())
}

fn print_verify(out: &mut dyn Write, json: bool, report: &app::verify::VerifyReport) -> Result<()> {
    if json {
        let checks: Vec<_> =
            report.checks.iter().map(|c| serde_json::json!({"check": c.name, "checked": c.checked, "problems": c.problems})).collect();
        return print_json(out, serde_json::json!({"clean": report.is_clean(), "checks": checks}));
    }
    for c in &report.checks {
        writeln!(out, "{} {} ({} checked)", if c.problems.is_empty() { "ok  " } else { "FAIL" }, c.name, c.checked)?;
        for p in &c.problems {
            writeln!(out, "       {p}")?;
        }
    }
    writeln!(out, "verify: {}", if report.is_clean() { "clean" } else { "differences found" })?;
    Ok(())
}

async fn list(app: &App, now: Timestamp, a: &ListArgs) -> Result<Vec<Table>> {
    let account = a.account();
    Ok(match a.list {
        ListKind::Invoice => {
            let detail = app.invoice_detail(account?, a.month()?).await?;
            let lines = invoice_lines_table(&detail.document(app.issuer()));
            vec![detail.summary, lines]
        }
        ListKind::Focus => return Err(AppError::invalid("list", "focus is a file: billcenter export focus --month YYYY-MM").into()),
        ListKind::Invoices => vec![app.list_invoices(account?, &InvoiceFilter { from: a.from.clone(), to: a.to.clone() }).await?],
        ListKind::Expenses => {
            let f = ExpenseFilter {
                month: a.month.clone(),
                from: a.from.clone(),
                to: a.to.clone(),
                workspace: a.workspace.clone(),
                item: a.item.clone(),
                charge_type: a.charge_type.clone(),
            };
            vec![app.list_expenses(account?, &f).await?]
        }
        ListKind::Transactions => {
            let f = TransactionFilter { from: a.from.clone(), to: a.to.clone(), kind: a.kind.clone(), fund: a.fund.clone() };
            let (rows, summary) = app.list_transactions(now, account?, &f).await?;
            vec![rows, summary]
        }
        ListKind::Coupons => vec![app.list_instruments(now, account?, false, a.status.as_deref()).await?],
        ListKind::Cards => vec![app.list_instruments(now, account?, true, a.status.as_deref()).await?],
        ListKind::Balances => vec![app.balances(now, account?).await?],
        ListKind::Events => vec![app.list_events(account?).await?],
        ListKind::TaxInvoices => vec![app.list_tax_invoices(account?, a.status.as_deref()).await?],
        ListKind::Invoiceable => vec![app.invoiceable(account?).await?],
        ListKind::Packs => vec![app.list_packs(now, account?, a.status.as_deref()).await?],
    })
}

/// Exports detailed expenses as CSV or XLSX, streamed a billing day at a time: memory stays
/// bounded however many lines the filter holds (a month of an account can hold millions).
async fn export_expenses(
    app: &App,
    now: Timestamp,
    args: &ListArgs,
    format: ExportFormat,
    output: Option<&Path>,
    out: &mut dyn Write,
) -> Result<usize> {
    let filter = ExpenseFilter {
        month: args.month.clone(),
        from: args.from.clone(),
        to: args.to.clone(),
        workspace: args.workspace.clone(),
        item: args.item.clone(),
        charge_type: args.charge_type.clone(),
    };
    let xlsx = matches!(format, ExportFormat::Xlsx);
    let rows = match output {
        Some(path) => {
            let file =
                std::fs::File::create(path).map_err(|e| AppError::invalid("output", format!("cannot write {}: {e}", path.display())))?;
            let mut file = std::io::BufWriter::new(file);
            let rows = app.write_expenses(now, args.account()?, &filter, &args.filter_text(), xlsx, &mut file).await?;
            file.flush()?;
            rows
        }
        None => {
            // Standard output is not for sending between threads: the file is made in memory.
            let mut buffer = Vec::new();
            let rows = app.write_expenses(now, args.account()?, &filter, &args.filter_text(), xlsx, &mut buffer).await?;
            out.write_all(&buffer)?;
            rows
        }
    };
    Ok(rows)
}

/// An invoice's lines as a table: workspace, item, charge type and the money columns.
fn invoice_lines_table(doc: &export::InvoiceDocument) -> Table {
    let mut table = Table::new(&[
        "workspace",
        "item",
        "charge type",
        &format!("gross ({})", doc.currency),
        "rounding discount",
        "coupons",
        "prepaid cards",
        "cash",
        "arrears",
    ]);
    for w in &doc.workspaces {
        for l in &w.lines {
            let a = &l.amounts;
            let cells = [&w.workspace, &l.item, &l.charge_type].map(|t| export::Cell::text(t.clone()));
            let money = [&a.gross, &a.rounding_discount, &a.coupons, &a.prepaid_cards, &a.cash, &a.arrears]
                .map(|m| export::Cell::money(m.replace(',', "")));
            table.push(cells.into_iter().chain(money).collect());
        }
    }
    table
}

/// `export invoice` (PDF) and `export focus` (CSV or Parquet): documents of a month.
async fn export_document(app: &App, args: &ListArgs, format: ExportFormat, output: Option<&Path>, out: &mut dyn Write) -> Result<usize> {
    let month = args.month()?;
    // Standard output is not for sending between threads: without a file, the file is made in memory.
    let mut buffer = Vec::new();
    let mut file = match output {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| AppError::invalid("output", format!("cannot write {}: {e}", path.display())))?,
        )),
        None => None,
    };
    let sink_ref: &mut (dyn Write + Send) = match &mut file {
        Some(f) => f,
        None => &mut buffer,
    };
    let rows = match (args.list, format) {
        (ListKind::Invoice, ExportFormat::Pdf) => {
            let doc = app.invoice_document(args.account()?, month).await?;
            sink_ref.write_all(&export::invoice_pdf(&doc)?)?;
            doc.workspaces.iter().map(|w| w.lines.len()).sum()
        }
        (ListKind::Invoice, _) => return Err(AppError::invalid("format", "an invoice exports as pdf (--format pdf)").into()),
        (ListKind::Focus, ExportFormat::Csv | ExportFormat::Parquet) => {
            app.write_focus(month, args.account.as_deref(), matches!(format, ExportFormat::Parquet), &mut *sink_ref).await?
        }
        (ListKind::Focus, _) => return Err(AppError::invalid("format", "a FOCUS file is csv or parquet").into()),
        _ => unreachable!("only invoices and FOCUS files are documents"),
    };
    sink_ref.flush()?;
    out.write_all(&buffer)?;
    Ok(rows)
}

/// Runs the HTTP server, the scheduler and webhook delivery until SIGINT or SIGTERM, then
/// finishes requests in flight and the scheduler's current tick before returning.
async fn serve(app: App, args: &ServeArgs, cwd: &Path, clock: app::Clock, out: &mut dyn Write) -> Result<()> {
    let file: ServeFile = match &args.config {
        Some(path) => toml::from_str(&read_file(cwd, path)?).map_err(|e| AppError::invalid("config", e.to_string()))?,
        None => ServeFile::default(),
    };
    let listen = args.listen.clone().or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".into());
    let test_clock = args.test_clock || file.test_clock.unwrap_or(false);
    let invoice_day = args.invoice_day.or(file.invoice_day).unwrap_or(3);
    if !(1..=28).contains(&invoice_day) {
        return Err(AppError::invalid("invoice_day", "must be 1 to 28").into());
    }
    let delay = args.run_delay_minutes.or(file.run_delay_minutes).unwrap_or(30);
    let interval = args.scheduler_interval_secs.or(file.scheduler_interval_secs).unwrap_or(60);
    let log_format = args.log_format.clone().or(file.log_format).unwrap_or_else(|| "text".into());
    let filter = tracing_subscriber::EnvFilter::try_from_env("BILLCENTER_LOG").unwrap_or_else(|_| "info,sqlx=warn".into());
    let _ = match log_format.as_str() {
        "json" => tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).try_init(),
        _ => tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init(),
    };
    let config = billcenter_http::ServeConfig {
        listen,
        clock,
        test_clock,
        invoice_day,
        run_delay: jiff::SignedDuration::from_mins(delay),
        scheduler_interval: (interval > 0).then(|| std::time::Duration::from_secs(interval)),
        max_in_flight: args.max_in_flight.or(file.max_in_flight).unwrap_or(billcenter_http::MAX_IN_FLIGHT),
    };
    let mut announce = |address: std::net::SocketAddr| {
        let _ =
            writeln!(out, "listening on http://{address} (Billing Center at http://{address}/, API docs at http://{address}/api/v1/docs)");
        let _ = out.flush();
    };
    billcenter_http::serve(app, config, &mut announce).await.map_err(|e| AppError::invalid("listen", e.to_string()))?;
    writeln!(out, "stopped")?;
    Ok(())
}

/// A PDF file an operator hands in.
fn read_pdf(cwd: &Path, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(cwd.join(path)).with_context(|| format!("cannot read {}", path.display()))
}
