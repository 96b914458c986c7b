//! The crash harness of the nightly run (`cargo xtask crash`, run by `cargo xtask ci`): a month
//! of usage for 20,000 accounts is billed twice from the same store — once without
//! interruption, once by a run killed with SIGKILL at moments drawn from a fixed seed, restarted
//! each time and verified after each restart — and the two stores must end equal, table by
//! table and row by row.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::root;

/// Accounts are opened when November begins in Shanghai; usage is imported once it ended; the
/// run bills the month and issues its invoices.
const OPENED: &str = "2026-10-31T16:00:00Z";
const IMPORTED: &str = "2026-12-01T00:30:00Z";
const RUN_AT: &str = "2026-12-04T01:00:00Z";

/// `--accounts N` (20,000), `--kills K` (100), `--seed S`.
pub fn crash(args: &[String]) -> Result<()> {
    let (mut accounts, mut kills, mut seed) = (20_000usize, 100usize, 20_261_204u64);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().context("a value is missing").and_then(|v| v.parse::<u64>().context("not a number"));
        match a.as_str() {
            "--accounts" => accounts = value()? as usize,
            "--kills" => kills = value()? as usize,
            "--seed" => seed = value()?,
            other => bail!("unknown option {other} (cargo xtask crash [--accounts N] [--kills K] [--seed S])"),
        }
    }
    // The release build, as the benchmark's: a night of 20,000 accounts takes seconds.
    let bin = crate::build_billcenter(true)?;
    let work = root().join("target/crash");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let cli = |db: &Path, now: &str, args: &[&str]| -> Result<String> {
        let out = Command::new(&bin).arg("--db").arg(db).args(["--now", now]).args(args).output()?;
        if !out.status.success() {
            bail!("billcenter {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8(out.stdout)?)
    };

    // The month's input: accounts, a few with cash, hourly-ish usage of two items every day.
    let started = Instant::now();
    let base = work.join("base.db");
    let mut rng = fastrand::Rng::with_seed(seed);
    cli(&base, OPENED, &["catalog", "import", root().join("catalog/demo.toml").to_str().unwrap()])?;
    let mut csv = String::from("id,name,currency,time_zone,workspaces\n");
    for a in 0..accounts {
        csv += &format!("c{a:05},Crash {a},CNY,Asia/Shanghai,c{a:05}-ws\n");
    }
    std::fs::write(work.join("accounts.csv"), csv)?;
    cli(&base, OPENED, &["account", "import", work.join("accounts.csv").to_str().unwrap()])?;
    for a in (0..accounts).step_by((accounts / 50).max(1)) {
        cli(&base, OPENED, &["topup", "--account", &format!("c{a:05}"), "--amount", "200.00"])?;
    }
    let mut ndjson = String::new();
    for a in 0..accounts {
        for day in 1..=30 {
            let hour = rng.u8(0..24);
            ndjson += &format!(
                "{{\"record_id\":\"l{a}-{day}\",\"workspace\":\"c{a:05}-ws\",\"item\":\"log_events\",\"timestamp\":\"2026-11-{day:02}T{hour:02}:10:00+08:00\",\"quantity\":\"{}\",\"dimensions\":{{\"retention_days\":\"7\"}}}}\n",
                rng.u64(1..5_000_000)
            );
            if rng.u8(0..4) == 0 {
                ndjson += &format!(
                    "{{\"record_id\":\"s{a}-{day}\",\"workspace\":\"c{a:05}-ws\",\"item\":\"sms\",\"timestamp\":\"2026-11-{day:02}T{hour:02}:20:00+08:00\",\"quantity\":\"{}\"}}\n",
                    rng.u64(1..300)
                );
            }
        }
    }
    std::fs::write(work.join("usage.ndjson"), ndjson)?;
    cli(&base, IMPORTED, &["usage", "import", work.join("usage.ndjson").to_str().unwrap()])?;
    eprintln!("crash: {accounts} accounts with a month of usage prepared in {:.0?}", started.elapsed());

    // Uninterrupted.
    let whole = work.join("whole.db");
    std::fs::copy(&base, &whole)?;
    let started = Instant::now();
    cli(&whole, RUN_AT, &["run"])?;
    let run_time = started.elapsed();
    eprintln!("crash: the uninterrupted run took {run_time:.1?}");

    // Killed at random moments within the run's time, restarted, verified after each restart.
    let killed = work.join("killed.db");
    std::fs::copy(&base, &killed)?;
    let window = run_time.as_millis().max(50) as u64;
    let (mut done, mut survived, mut finished_early) = (0, 0, 0);
    while done < kills {
        let mut child = Command::new(&bin)
            .arg("--db")
            .arg(&killed)
            .args(["--now", RUN_AT, "run"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start billcenter run")?;
        std::thread::sleep(Duration::from_millis(rng.u64(5..window)));
        if child.try_wait()?.is_some() {
            // It finished before the kill: the store is billed; start again from the input.
            finished_early += 1;
            std::fs::copy(&base, &killed)?;
            let _ = std::fs::remove_file(killed.with_extension("db-wal"));
            let _ = std::fs::remove_file(killed.with_extension("db-shm"));
            continue;
        }
        child.kill()?; // SIGKILL
        child.wait()?;
        done += 1;
        let verify = cli(&killed, RUN_AT, &["verify"]).context("verify after a kill")?;
        if !verify.trim_end().ends_with("verify: clean") {
            bail!("verify after kill {done}: {verify}");
        }
        survived += 1;
    }
    cli(&killed, RUN_AT, &["run"])?;
    let verify = cli(&killed, RUN_AT, &["verify"])?;
    if !verify.trim_end().ends_with("verify: clean") {
        bail!("verify after the last run: {verify}");
    }
    let (tables, rows) = same_rows(&whole, &killed)?;
    eprintln!(
        "crash: {done} kills of the nightly run ({finished_early} runs finished before their kill and started over), verify clean after each of {survived} restarts; \
         the killed store equals the uninterrupted one in all {tables} tables, {rows} rows"
    );
    Ok(())
}

/// Every table of the two stores, row by row (Python's sqlite3 reads them), except SQLite's
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
