//! The crash harness (`cargo xtask crash`, in `.ci/run`). Every writer of the store is killed
//! with SIGKILL at moments drawn from a fixed seed, started again, checked after each kill, and
//! must end equal — table by table, row by row — to an uninterrupted run of the same input:
//!
//! - the nightly run over a month of usage (`--kills` kills; `verify` after each restart);
//! - invoice issuing: the run once the month's days are billed (a quarter as many kills);
//! - a catalog import (a quarter as many; after each kill the store holds the old catalog or
//!   the new one whole);
//! - `serve` while NDJSON and JSON usage batches stream in (`--kills` kills; after each, every
//!   record of an acknowledged batch is stored, and a batch sent again stores nothing twice);
//! - the nightly run on PostgreSQL with the server itself stopped in immediate mode and started
//!   again (a fifth as many).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::root;

/// Accounts are opened when November begins in Shanghai; usage is imported once it ended; the
/// run bills the month and issues its invoices.
const OPENED: &str = "2026-10-31T16:00:00Z";
const IMPORTED: &str = "2026-12-01T00:30:00Z";
const RUN_AT: &str = "2026-12-04T01:00:00Z";
/// December 2 has ended in Shanghai, the invoice day (December 3) not yet.
const BEFORE_INVOICE_DAY: &str = "2026-12-02T17:00:00Z";
/// Usage records per HTTP batch in the ingestion phase.
const BATCH: usize = 2_000;

/// The writers, in the order they are killed.
const WRITERS: [&str; 5] = ["night", "invoices", "catalog", "ingestion", "postgres"];

/// `--accounts N` (20,000), `--kills K` (100), `--seed S`, `--only WRITER` (all of `WRITERS`).
pub fn crash(args: &[String]) -> Result<()> {
    let (mut accounts, mut kills, mut seed) = (20_000usize, 100usize, 20_261_204u64);
    let mut only: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().context("a value is missing").and_then(|v| v.parse::<u64>().context("not a number"));
        match a.as_str() {
            "--accounts" => accounts = value()? as usize,
            "--kills" => kills = value()? as usize,
            "--seed" => seed = value()?,
            "--only" => {
                only = Some(
                    it.next()
                        .filter(|w| WRITERS.contains(&w.as_str()))
                        .context("--only takes one of night, invoices, catalog, ingestion, postgres")?
                        .clone(),
                )
            }
            other => bail!("unknown option {other} (cargo xtask crash [--accounts N] [--kills K] [--seed S] [--only WRITER])"),
        }
    }
    let runs = |writer: &str| only.as_deref().is_none_or(|o| o == writer);
    // The release build, as the benchmark's: a night of 20,000 accounts takes seconds.
    let bin = crate::build_billcenter(true)?;
    let work = root().join("target/crash");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let mut h = Harness { bin, work, rng: fastrand::Rng::with_seed(seed) };

    let started = Instant::now();
    let input = h.input(accounts)?;
    let prepared = h.work.join("prepared.db");
    let key = h.prepare(&Store::File(prepared.clone()), &input)?;
    let base = h.work.join("base.db");
    std::fs::copy(&prepared, &base)?;
    h.cli(&Store::File(base.clone()), IMPORTED, &["usage", "import", path(&input.usage)])?;
    eprintln!("crash: {accounts} accounts with a month of usage prepared in {:.0?}", started.elapsed());

    let mut report = Vec::new();
    if runs("night") {
        report.push(h.night(&base, kills)?);
    }
    if runs("invoices") {
        report.push(h.invoices(&base, kills.div_ceil(4))?);
    }
    if runs("catalog") {
        report.push(h.catalog(&prepared, kills.div_ceil(4))?);
    }
    if runs("ingestion") {
        report.push(h.ingestion(&prepared, &key, &input, kills)?);
    }
    if runs("postgres") {
        let url = crate::start_postgres()?;
        let pg = h.postgres_night(&url, &input, kills.div_ceil(5));
        crate::stop_postgres();
        report.push(pg?);
    }
    eprintln!("crash: every writer survived its kills ({accounts} accounts, seed {seed}):");
    for line in report {
        eprintln!("crash:   {line}");
    }
    Ok(())
}

/// The month's input, written once.
struct Input {
    accounts: PathBuf,
    usage: PathBuf,
    /// The usage file's lines, each with its account and record id.
    records: Vec<Record>,
    top_ups: Vec<String>,
}

struct Record {
    account: String,
    id: String,
    line: String,
}

/// A store the binary is pointed at.
#[derive(Clone)]
enum Store {
    File(PathBuf),
    Pg(String),
}

impl Store {
    fn args(&self) -> Vec<OsString> {
        match self {
            Store::File(p) => vec!["--db".into(), p.into()],
            Store::Pg(url) => vec!["--database-url".into(), url.into()],
        }
    }
}

/// How a writer's kills went.
struct Kills {
    /// The span the moments were drawn from, after each start.
    span: (Duration, Duration),
    landed: usize,
    /// Starts that finished before their kill; the store was set back to the input and the
    /// writer started again.
    finished_early: usize,
}

struct Harness {
    bin: PathBuf,
    work: PathBuf,
    rng: fastrand::Rng,
}

fn path(p: &Path) -> &str {
    p.to_str().expect("the work folder's path is UTF-8")
}

impl Harness {
    fn command(&self, store: &Store, now: &str, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(store.args()).args(["--now", now]).args(args);
        c
    }

    fn cli(&self, store: &Store, now: &str, args: &[&str]) -> Result<String> {
        let out = self.command(store, now, args).output()?;
        if !out.status.success() {
            bail!("billcenter {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    fn verify(&self, store: &Store, what: &str) -> Result<()> {
        let out = self.cli(store, RUN_AT, &["verify"]).with_context(|| format!("verify {what}"))?;
        if !out.trim_end().ends_with("verify: clean") {
            bail!("verify {what}: {out}");
        }
        Ok(())
    }

    /// The month's input: accounts, a few with cash, usage of two items every day.
    fn input(&mut self, accounts: usize) -> Result<Input> {
        let mut csv = String::from("id,name,currency,time_zone,workspaces\n");
        for a in 0..accounts {
            csv += &format!("c{a:05},Crash {a},CNY,Asia/Shanghai,c{a:05}-ws\n");
        }
        let accounts_file = self.work.join("accounts.csv");
        std::fs::write(&accounts_file, csv)?;
        let top_ups = (0..accounts).step_by((accounts / 50).max(1)).map(|a| format!("c{a:05}")).collect();
        let mut records = Vec::new();
        let rng = &mut self.rng;
        for a in 0..accounts {
            for day in 1..=30 {
                let hour = rng.u8(0..24);
                let id = format!("l{a}-{day}");
                let line = format!(
                    "{{\"record_id\":\"{id}\",\"workspace\":\"c{a:05}-ws\",\"item\":\"log_events\",\"timestamp\":\"2026-11-{day:02}T{hour:02}:10:00+08:00\",\"quantity\":\"{}\",\"dimensions\":{{\"retention_days\":\"7\"}}}}",
                    rng.u64(1..5_000_000)
                );
                records.push(Record { account: format!("c{a:05}"), id, line });
                if rng.u8(0..4) == 0 {
                    let id = format!("s{a}-{day}");
                    let line = format!(
                        "{{\"record_id\":\"{id}\",\"workspace\":\"c{a:05}-ws\",\"item\":\"sms\",\"timestamp\":\"2026-11-{day:02}T{hour:02}:20:00+08:00\",\"quantity\":\"{}\"}}",
                        rng.u64(1..300)
                    );
                    records.push(Record { account: format!("c{a:05}"), id, line });
                }
            }
        }
        let usage = self.work.join("usage.ndjson");
        let mut text = String::new();
        for r in &records {
            text += &r.line;
            text.push('\n');
        }
        std::fs::write(&usage, text)?;
        Ok(Input { accounts: accounts_file, usage, records, top_ups })
    }

    /// The catalog, the accounts, their top-ups and an operator key (answered); no usage yet.
    fn prepare(&self, store: &Store, input: &Input) -> Result<String> {
        self.cli(store, OPENED, &["catalog", "import", path(&root().join("catalog/demo.toml"))])?;
        self.cli(store, OPENED, &["account", "import", path(&input.accounts)])?;
        for account in &input.top_ups {
            self.cli(store, OPENED, &["topup", "--account", account, "--amount", "200.00"])?;
        }
        let key = self.cli(store, OPENED, &["key", "create", "--operator"])?;
        Ok(key.lines().next().context("no key printed")?.to_owned())
    }

    /// Starts a writer again and again and kills each start at a moment drawn within `window`,
    /// until `kills` kills landed; `check` runs after each. A start that finished before its
    /// kill is counted, `reset` sets the store back to the input, and the next one starts.
    ///
    /// The moments are drawn between `earliest` (the binary started and opened the store:
    /// see `startup`) and `window` (the uninterrupted run's time), so that short writers are
    /// killed inside their work rather than before it began or after it ended.
    #[allow(clippy::too_many_arguments)]
    fn kill_loop(
        &mut self,
        kills: usize,
        earliest: Duration,
        window: Duration,
        mut start: impl FnMut(&Self) -> Result<Child>,
        mut kill: impl FnMut(&mut Child) -> Result<()>,
        mut reset: impl FnMut() -> Result<()>,
        mut check: impl FnMut(&Self, usize) -> Result<()>,
    ) -> Result<Kills> {
        let hi = window.as_micros() as u64;
        let lo = (earliest.as_micros() as u64).min(hi * 3 / 4);
        let hi = hi.max(lo + 1_000);
        let mut k = Kills { span: (Duration::from_micros(lo), Duration::from_micros(hi)), landed: 0, finished_early: 0 };
        let started = Instant::now();
        while k.landed < kills {
            let mut child = start(self)?;
            std::thread::sleep(Duration::from_micros(self.rng.u64(lo..hi)));
            if child.try_wait()?.is_some() {
                k.finished_early += 1;
                reset()?;
                continue;
            }
            kill(&mut child)?;
            k.landed += 1;
            check(self, k.landed)?;
            progress(k.landed, kills, started);
        }
        Ok(k)
    }

    /// How long the binary takes to start and open the store: the fastest of three one-row
    /// reads.
    fn startup(&self, store: &Store) -> Result<Duration> {
        let mut fastest = Duration::MAX;
        for _ in 0..3 {
            let started = Instant::now();
            self.cli(store, RUN_AT, &["list", "balances", "--account", "c00000"])?;
            fastest = fastest.min(started.elapsed());
        }
        Ok(fastest)
    }

    fn sigkill(child: &mut Child) -> Result<()> {
        child.kill()?;
        child.wait()?;
        Ok(())
    }

    /// A copy of an SQLite store in place of another (its journal files gone).
    fn copy_store(from: &Path, to: &Path) -> Result<()> {
        let _ = std::fs::remove_file(to.with_extension("db-wal"));
        let _ = std::fs::remove_file(to.with_extension("db-shm"));
        std::fs::copy(from, to)?;
        Ok(())
    }

    /// Runs `args` on a copy of `input` without interruption and on another copy killed
    /// `kills` times, `verify` after each restart; then the two copies are compared.
    /// `check` looks at the killed store after each kill, besides `verify`.
    fn killed_command(
        &mut self,
        name: &str,
        input: &Path,
        now: &str,
        args: &[&str],
        kills: usize,
        check: impl Fn(&Path) -> Result<()>,
    ) -> Result<String> {
        let whole = self.work.join(format!("{name}-whole.db"));
        std::fs::copy(input, &whole)?;
        let started = Instant::now();
        self.cli(&Store::File(whole.clone()), now, args)?;
        let took = started.elapsed();
        let killed = self.work.join(format!("{name}-killed.db"));
        std::fs::copy(input, &killed)?;
        let store = Store::File(killed.clone());
        let earliest = self.startup(&store)?;
        let k = self.kill_loop(
            kills,
            earliest,
            took,
            |h| Ok(h.command(&store, now, args).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?),
            Self::sigkill,
            || Self::copy_store(input, &killed),
            |h, n| {
                h.verify(&store, &format!("after kill {n} of the {name}"))?;
                check(&killed)
            },
        )?;
        self.cli(&store, now, args)?;
        self.verify(&store, &format!("after the last {name}"))?;
        let (tables, rows) = same_rows(&whole, &killed)?;
        Ok(format!(
            "{name} ({took:.1?} uninterrupted): {} kills at {:.1?}–{:.1?} after the start, {} starts finished before their kill, verify clean after each; equal to the uninterrupted store in {tables} tables, {rows} rows",
            k.landed, k.span.0, k.span.1, k.finished_early
        ))
    }

    fn night(&mut self, base: &Path, kills: usize) -> Result<String> {
        let line = self.killed_command("nightly run", base, RUN_AT, &["run"], kills, |_| Ok(()))?;
        eprintln!("crash: {line}");
        Ok(line)
    }

    /// November billed through December 2 first; the run that bills December 3, the invoice
    /// day, and issues every account's November invoice is the one killed.
    fn invoices(&mut self, base: &Path, kills: usize) -> Result<String> {
        let billed = self.work.join("billed.db");
        std::fs::copy(base, &billed)?;
        self.cli(&Store::File(billed.clone()), BEFORE_INVOICE_DAY, &["run"])?;
        if sql(&billed, "SELECT count(*) FROM invoice")? != "0" {
            bail!("invoices were issued before the invoice day");
        }
        let line = self.killed_command("invoice issuing", &billed, RUN_AT, &["run"], kills, |_| Ok(()))?;
        let issued = sql(&self.work.join("invoice issuing-killed.db"), "SELECT count(*) FROM invoice")?;
        let line = format!("{line}; {issued} invoices issued");
        eprintln!("crash: {line}");
        Ok(line)
    }

    /// A new catalog version (SMS at a new price from January) imported over the demo's:
    /// after each kill the store holds one of the two catalogs, whole.
    fn catalog(&mut self, prepared: &Path, kills: usize) -> Result<String> {
        let demo = std::fs::read_to_string(root().join("catalog/demo.toml"))?;
        let next = format!("{demo}\n[[items.sms.prices]]\neffective_from = \"2027-01-01\"\nrate = \"1.1\"\n");
        let file = self.work.join("catalog.toml");
        std::fs::write(&file, &next)?;
        let catalogs = |db: &Path| -> Result<()> {
            // How many versions, and the length of the latest one's source.
            let latest = sql(
                db,
                "SELECT (SELECT count(*) FROM catalog_version) || ' ' || length(source) FROM catalog_version ORDER BY version DESC LIMIT 1",
            )?;
            let (one, two) = (format!("1 {}", demo.len()), format!("2 {}", next.len()));
            if latest != one && latest != two {
                bail!("after a killed catalog import the store holds neither catalog whole: {latest}");
            }
            Ok(())
        };
        let line = self.killed_command("catalog import", prepared, OPENED, &["catalog", "import", path(&file)], kills, catalogs)?;
        eprintln!("crash: {line}");
        Ok(line)
    }

    /// `serve` killed while batches of the month's usage stream in, alternately as NDJSON and
    /// as JSON. A batch counts as acknowledged when its answer arrived whole; after each kill
    /// every record of every acknowledged batch must be stored, the batch in flight is sent
    /// again, and so is the last acknowledged one, whose answer must be all duplicates.
    fn ingestion(&mut self, prepared: &Path, key: &str, input: &Input, kills: usize) -> Result<String> {
        let batches: Vec<Batch> = input.records.chunks(BATCH).enumerate().map(|(n, records)| Batch::new(n % 2 == 0, records)).collect();
        let whole = self.work.join("ingestion-whole.db");
        std::fs::copy(prepared, &whole)?;
        let started = Instant::now();
        let mut server = Serve::start(&self.bin, &whole)?;
        for b in &batches {
            b.send(server.port, key)?.context("a batch sent to a server nobody kills")?;
        }
        server.stop();
        let took = started.elapsed();

        let killed = self.work.join("ingestion-killed.db");
        std::fs::copy(prepared, &killed)?;
        let window = took.as_millis().max(50) as u64;
        let (mut landed, mut finished_early, mut resent, mut acked_total) = (0, 0, 0, 0usize);
        let mut next = 0usize;
        let started = Instant::now();
        while landed < kills {
            let server = Serve::start(&self.bin, &killed)?;
            let port = server.port;
            let at = Duration::from_millis(self.rng.u64(5..window));
            let killer = std::thread::spawn(move || {
                std::thread::sleep(at);
                let mut server = server;
                server.stop();
            });
            // An acknowledged batch sent again stores nothing.
            if next > 0
                && let Some(answer) = batches[next - 1].send(port, key)?
            {
                if answer.accepted != 0 {
                    bail!("batch {} sent again stored {} records a second time", next - 1, answer.accepted);
                }
                resent += 1;
            }
            while next < batches.len() {
                match batches[next].send(port, key)? {
                    Some(_) => {
                        next += 1;
                        acked_total += 1;
                    }
                    None => break,
                }
            }
            let all_sent = next == batches.len();
            killer.join().expect("the killer thread does not panic");
            if all_sent {
                // Every batch went in before the kill: start over from no usage.
                finished_early += 1;
                Self::copy_store(prepared, &killed)?;
                next = 0;
                continue;
            }
            landed += 1;
            let acked: Vec<&(String, String)> = batches[..next].iter().flat_map(|b| b.ids.iter()).collect();
            let stored = stored_ids(&killed, &acked)?;
            if stored != acked.len() {
                bail!("after kill {landed} of serve, {} of {} acknowledged records are stored", stored, acked.len());
            }
            self.verify(&Store::File(killed.clone()), &format!("after kill {landed} of serve"))?;
            progress(landed, kills, started);
        }
        let mut server = Serve::start(&self.bin, &killed)?;
        for b in &batches[next..] {
            b.send(server.port, key)?.context("a batch sent to a server nobody kills")?;
        }
        server.stop();
        self.verify(&Store::File(killed.clone()), "after the last ingestion")?;
        let (tables, rows) = same_rows(&whole, &killed)?;
        let line = format!(
            "serve ingesting {} records in {} batches ({took:.1?} uninterrupted): {landed} kills, {finished_early} times every batch went in before the kill, \
             {acked_total} batches acknowledged, {resent} acknowledged batches sent again (all duplicates), every acknowledged record stored after each kill; \
             equal to the uninterrupted store in {tables} tables, {rows} rows",
            input.records.len(),
            batches.len()
        );
        eprintln!("crash: {line}");
        Ok(line)
    }

    /// The nightly run on PostgreSQL, with the server stopped in immediate mode at seeded
    /// moments and started again; the run is started again after each, and `verify` run.
    fn postgres_night(&mut self, admin: &str, input: &Input, kills: usize) -> Result<String> {
        let database = |name: &str| admin.rsplit_once('/').map(|(server, _)| format!("{server}/{name}")).expect("a URL with a database");
        for name in ["crash_base", "crash_whole", "crash_killed"] {
            psql(admin, &format!("DROP DATABASE IF EXISTS {name}"))?;
        }
        psql(admin, "CREATE DATABASE crash_base")?;
        let base = Store::Pg(database("crash_base"));
        self.prepare(&base, input)?;
        self.cli(&base, IMPORTED, &["usage", "import", path(&input.usage)])?;
        psql(admin, "CREATE DATABASE crash_whole TEMPLATE crash_base")?;
        let whole = Store::Pg(database("crash_whole"));
        let started = Instant::now();
        self.cli(&whole, RUN_AT, &["run"])?;
        let took = started.elapsed();

        psql(admin, "CREATE DATABASE crash_killed TEMPLATE crash_base")?;
        let killed = Store::Pg(database("crash_killed"));
        let earliest = self.startup(&killed)?;
        let k = self.kill_loop(
            kills,
            earliest,
            took,
            |h| Ok(h.command(&killed, RUN_AT, &["run"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?),
            |child| {
                crash_postgres()?;
                // The run fails on its lost connections, or finishes on new ones.
                let deadline = Instant::now() + Duration::from_secs(120);
                while child.try_wait()?.is_none() {
                    if Instant::now() > deadline {
                        child.kill()?;
                        bail!("the run did not end within 2 minutes of the server's crash");
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(())
            },
            || {
                psql(admin, "DROP DATABASE crash_killed")?;
                psql(admin, "CREATE DATABASE crash_killed TEMPLATE crash_base").map(drop)
            },
            |h, n| h.verify(&killed, &format!("after crash {n} of the PostgreSQL server")),
        )?;
        self.cli(&killed, RUN_AT, &["run"])?;
        self.verify(&killed, "after the last run on PostgreSQL")?;
        let (tables, rows) = same_rows_pg(&database("crash_whole"), &database("crash_killed"))?;
        let line = format!(
            "nightly run on PostgreSQL ({took:.1?} uninterrupted): {} immediate-mode crashes of the server at {:.1?}–{:.1?} after the run's start, {} starts finished before their crash, \
             verify clean after each; equal to the uninterrupted database in {tables} tables, {rows} rows",
            k.landed, k.span.0, k.span.1, k.finished_early
        );
        eprintln!("crash: {line}");
        Ok(line)
    }
}

/// A line every tenth kill, for the long runs.
fn progress(landed: usize, kills: usize, started: Instant) {
    if landed.is_multiple_of(10) && landed < kills {
        eprintln!("crash:   {landed} of {kills} kills in {:.0?}", started.elapsed());
    }
}

/// One HTTP batch of usage records.
struct Batch {
    ndjson: bool,
    body: String,
    /// Each record's account and id.
    ids: Vec<(String, String)>,
}

/// What the server answered a batch.
#[derive(Debug)]
struct Answer {
    accepted: u64,
}

impl Batch {
    fn new(ndjson: bool, records: &[Record]) -> Batch {
        let lines: Vec<&str> = records.iter().map(|r| r.line.as_str()).collect();
        let body = if ndjson { lines.join("\n") + "\n" } else { format!("{{\"records\":[{}]}}", lines.join(",")) };
        Batch { ndjson, body, ids: records.iter().map(|r| (r.account.clone(), r.id.clone())).collect() }
    }

    /// Sends the batch; `None` when no whole answer came back (the server died); an error when
    /// the server answered anything but every record stored or known.
    fn send(&self, port: u16, key: &str) -> Result<Option<Answer>> {
        let (path, content_type) =
            if self.ndjson { ("/api/v1/usage/ndjson", "application/x-ndjson") } else { ("/api/v1/usage", "application/json") };
        let Ok((status, body)) = http(port, "POST", path, Some(key), content_type, self.body.as_bytes()) else {
            return Ok(None);
        };
        let Ok(answer) = serde_json::from_str::<serde_json::Value>(&body) else {
            return Ok(None);
        };
        if status != 200 {
            bail!("a usage batch was answered {status}: {body}");
        }
        let count = |field: &str| answer[field].as_u64().unwrap_or(u64::MAX);
        let rejected = answer["rejected"].as_array().map_or(usize::MAX, Vec::len);
        if rejected != 0 || count("accepted").saturating_add(count("duplicate")) != self.ids.len() as u64 {
            bail!("a usage batch of {} records was answered {body}", self.ids.len());
        }
        Ok(Some(Answer { accepted: count("accepted") }))
    }
}

/// A `serve` process on an SQLite store, its scheduler off, its clock at the import moment.
struct Serve {
    child: Child,
    port: u16,
}

impl Serve {
    fn start(bin: &Path, db: &Path) -> Result<Serve> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(bin)
            .arg("--db")
            .arg(db)
            .args(["--now", IMPORTED, "serve", "--scheduler-interval-secs", "0", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start billcenter serve")?;
        let mut server = Serve { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if matches!(http(port, "GET", "/readyz", None, "text/plain", b""), Ok((200, _))) {
                return Ok(server);
            }
            if Instant::now() > deadline || server.child.try_wait()?.is_some() {
                server.stop();
                bail!("billcenter serve did not become ready");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL.
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request over loopback: the status and the body (the server answers with a
/// length, and closes the connection).
fn http(port: u16, method: &str, path: &str, key: Option<&str>, content_type: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(300)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(key) = key {
        head += &format!("Authorization: Bearer {key}\r\n");
    }
    head += "\r\n";
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    let broken = || std::io::Error::other("not a whole HTTP answer");
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(broken)?;
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(broken)?;
    let length: Option<usize> =
        head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").and_then(|n| n.trim().parse().ok()));
    if length.is_some_and(|n| n != body.len()) {
        return Err(broken());
    }
    Ok((status, body.to_owned()))
}

/// How many of `ids` the store's ingestion has recorded (Python's sqlite3 reads it).
fn stored_ids(db: &Path, ids: &[&(String, String)]) -> Result<usize> {
    let list = db.with_extension("acked");
    std::fs::write(&list, ids.iter().map(|(account, id)| format!("{account} {id}\n")).collect::<String>())?;
    let script = r#"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("CREATE TEMP TABLE acked (account_id TEXT, record_id TEXT, PRIMARY KEY (account_id, record_id))")
ids = [line.split(" ") for line in open(sys.argv[2]).read().split("\n") if line]
c.executemany("INSERT INTO acked VALUES (?, ?)", ids)
print(c.execute("SELECT count(*) FROM acked a JOIN usage_record_id u ON u.account_id = a.account_id AND u.record_id = a.record_id").fetchone()[0])
"#;
    let out = Command::new("python3").arg("-c").arg(script).arg(db).arg(&list).output().context("cannot run python3")?;
    if !out.status.success() {
        bail!("reading the stored record ids failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}

/// One value an SQL query on an SQLite store answers.
fn sql(db: &Path, query: &str) -> Result<String> {
    let script = "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])";
    let out = Command::new("python3").arg("-c").arg(script).arg(db).arg(query).output().context("cannot run python3")?;
    if !out.status.success() {
        bail!("{query}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// The PostgreSQL server's `psql`.
fn psql_bin() -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir("/usr/lib/postgresql")?.filter_map(|e| e.ok().map(|e| e.path().join("bin/psql"))).collect();
    dirs.sort();
    dirs.pop().context("no PostgreSQL server installed")
}

/// Runs one SQL statement (or answers one query's rows, one per line).
fn psql(url: &str, statement: &str) -> Result<String> {
    let out = Command::new(psql_bin()?).args([url, "-v", "ON_ERROR_STOP=1", "-At", "-c", statement]).output()?;
    if !out.status.success() {
        bail!("psql {statement}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// Stops the test server in immediate mode and starts it again (`scripts/pg.sh crash`).
fn crash_postgres() -> Result<()> {
    let out = Command::new(root().join("scripts/pg.sh")).arg("crash").output()?;
    if !out.status.success() {
        bail!("scripts/pg.sh crash failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// Every table of two PostgreSQL databases, row by row (each table's rows as text, sorted,
/// hashed); the number of tables and rows compared.
fn same_rows_pg(a: &str, b: &str) -> Result<(usize, usize)> {
    let tables = psql(a, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations' ORDER BY 1")?;
    let (mut count, mut rows) = (0, 0);
    for table in tables.lines() {
        let query = format!("SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM \"{table}\" t");
        let (left, right) = (psql(a, &query)?, psql(b, &query)?);
        if left != right {
            bail!("table {table} differs after the crashes: {left} against {right}");
        }
        count += 1;
        rows += left.split(' ').next().and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
    }
    Ok((count, rows))
}

/// Every table of two SQLite stores, row by row (Python's sqlite3 reads them), except SQLite's
/// own bookkeeping; the number of tables and rows compared.
fn same_rows(a: &Path, b: &Path) -> Result<(usize, usize)> {
    let script = r#"
import sqlite3, sys, hashlib
def dump(path):
    c = sqlite3.connect(path)
    tables = [t for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name")]
    out = {}
    for t in tables:
        rows = sorted(repr(r) for r in c.execute(f'SELECT * FROM "{t}"'))
        out[t] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return out
a, b = dump(sys.argv[1]), dump(sys.argv[2])
diff = [t for t in sorted(set(a) | set(b)) if a.get(t) != b.get(t)]
if diff:
    print("differ: " + ", ".join(f"{t} {a.get(t)} {b.get(t)}" for t in diff))
    sys.exit(1)
print(len(a), sum(n for n, _ in a.values()))
"#;
    let out = Command::new("python3").arg("-c").arg(script).arg(a).arg(b).output().context("cannot run python3")?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() {
        bail!("the killed store differs from the uninterrupted one: {text} {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut parts = text.split_whitespace().map(|n| n.parse::<usize>().unwrap_or(0));
    Ok((parts.next().unwrap_or(0), parts.next().unwrap_or(0)))
}
