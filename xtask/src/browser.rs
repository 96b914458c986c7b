//! The browser tests of the Billing Center (`tests/browser/billing-center.mjs`), run by
//! `cargo xtask ci` after the Rust tests: Debian's Chromium (installed when missing), the
//! test's npm packages from its lock file, and a served demo on a free loopback port with the
//! test clock fixed, so every run sees the same demo.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::root;
use anyhow::{Context, Result, bail};

/// The demo's clock: its data are the 60 days before it.
/// The operator named on the demo's invoices and FOCUS files during the browser tests.
const ISSUER: &str = "Northwind Observability Cloud Co., Ltd.";
pub(crate) const DEMO_NOW: &str = "2026-11-26T04:00:00Z";

/// Kills the served demo when the tests end, however they end.
pub(crate) struct Served(pub(crate) std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn browser_tests() -> Result<()> {
    crate::install_missing("/usr/bin/chromium", "chromium")?;
    let dir = root().join("tests/browser");
    eprintln!("$ npm ci (tests/browser)");
    let npm = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir).status().context("cannot run npm")?;
    if !npm.success() {
        bail!("npm ci failed in tests/browser");
    }
    let bin = crate::build_billcenter(false)?;
    let work = root().join("target/browser");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let db = work.join("demo.db");
    eprintln!("$ billcenter --now {DEMO_NOW} demo --days 60 --listen 127.0.0.1:0");
    let mut child = Command::new(&bin)
        .arg("--db")
        .arg(&db)
        .args(["--now", DEMO_NOW, "demo", "--days", "60", "--listen", "127.0.0.1:0"])
        // The issuer the pages' documents name; the tests' own `billcenter export` runs name the
        // same one, so that their files compare byte for byte.
        .env("BILLCENTER_ISSUER_NAME", ISSUER)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start the demo")?;
    let stdout = child.stdout.take().expect("piped stdout");
    let served = Served(child);
    let mut users: Vec<(String, String, String)> = Vec::new();
    let mut base = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() >= 3 && words[0].contains('@') {
            users.push((words[0].to_owned(), words[1].to_owned(), words[2].trim_end_matches(':').to_owned()));
        }
        if let Some(rest) = line.strip_prefix("listening on ") {
            base = rest.split_whitespace().next().map(str::to_owned);
            break;
        }
    }
    let base = base.context("the demo did not start serving")?;
    let user = |account: &str| -> Result<(String, String)> {
        users.iter().find(|u| u.2 == account).map(|u| (u.0.clone(), u.1.clone())).with_context(|| format!("no demo user of {account}"))
    };
    let (customer, customer_pw) = user("cedar")?;
    let (operator, operator_pw) = user("operator")?;
    let (lock, lock_pw) = user("bolt")?;
    eprintln!("$ node tests/browser/billing-center.mjs ({base})");
    let status = Command::new("node")
        .arg("billing-center.mjs")
        .current_dir(&dir)
        .env("BASE_URL", &base)
        .env("BILLCENTER_ISSUER_NAME", ISSUER)
        .env("BILLCENTER_BIN", &bin)
        .env("BILLCENTER_DB", &db)
        .env("BILLCENTER_NOW", DEMO_NOW)
        .env("SCREENSHOTS", root().join("target/screenshots"))
        .env("CUSTOMER_EMAIL", customer)
        .env("CUSTOMER_PASSWORD", customer_pw)
        .env("CUSTOMER_ACCOUNT", "cedar")
        .env("OTHER_ACCOUNT", "acme")
        .env("OPERATOR_EMAIL", operator)
        .env("OPERATOR_PASSWORD", operator_pw)
        .env("LOCK_EMAIL", lock)
        .env("LOCK_PASSWORD", lock_pw)
        .status()
        .context("cannot run node")?;
    drop(served);
    if !status.success() {
        bail!("the browser tests failed");
    }
    Ok(())
}
