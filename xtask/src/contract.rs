//! The API's contract test (`cargo xtask contract`, run by `cargo xtask ci`): Schemathesis
//! against `billcenter serve` on a demo database, once with an operator's key and once with an
//! account's key (every check, a fixed seed, a time budget, its stateful phase following the
//! document's links), then a client generated from `docs/openapi.json` by
//! openapi-python-client doing what an integration does (`tests/contract/client_test.py`).
//! Both tools are pinned and installed from PyPI into a virtual environment under `target/`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::browser::{DEMO_NOW, Served};
use crate::root;

const TOOLS: [&str; 2] = ["schemathesis==4.32.5", "openapi-python-client==0.29.1"];
const SEED: &str = "20261126";

/// `--max-time SECS`: Schemathesis's budget for each key (default 60).
pub fn contract(args: &[String]) -> Result<()> {
    let mut max_time = "60".to_owned();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--max-time" => max_time = it.next().context("--max-time takes seconds")?.clone(),
            other => bail!("unknown option {other} (cargo xtask contract [--max-time SECS])"),
        }
    }
    let venv = crate::focus::python_tools("contract-tools", &TOOLS)?;
    let bin = crate::build_billcenter(false)?;
    let work = root().join("target/contract");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let db = work.join("demo.db");
    let cli = |args: &[&str]| -> Result<String> {
        let out = Command::new(&bin).arg("--db").arg(&db).args(["--now", DEMO_NOW]).args(args).output()?;
        if !out.status.success() {
            bail!("billcenter {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8(out.stdout)?)
    };
    eprintln!("$ billcenter --now {DEMO_NOW} demo --days 30 --no-serve");
    cli(&["demo", "--days", "30", "--no-serve"])?;
    let key = |args: &[&str]| -> Result<String> {
        let out = cli(&[&["--json", "key", "create"], args].concat())?;
        let v: serde_json::Value = serde_json::from_str(&out)?;
        v["key"].as_str().map(str::to_owned).context("key create printed no key")
    };
    let operator = key(&["--operator"])?;
    let account = key(&["--account", "acme"])?;

    let mut child = Command::new(&bin)
        .arg("--db")
        .arg(&db)
        .args(["--now", DEMO_NOW, "serve", "--listen", "127.0.0.1:0", "--scheduler-interval-secs", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start billcenter serve")?;
    let stdout = child.stdout.take().expect("piped stdout");
    let served = Served(child);
    let mut base = None;
    for line in BufReader::new(stdout).lines() {
        if let Some(rest) = line?.strip_prefix("listening on ") {
            base = rest.split_whitespace().next().map(str::to_owned);
            break;
        }
    }
    let base = base.context("billcenter serve did not start")?;

    let cases = |who: &str, key: &str| -> Result<u64> {
        eprintln!("$ st run {base}/api/v1/openapi.json --checks all --seed {SEED} --max-time {max_time} ({who} key)");
        let log = work.join(format!("schemathesis-{who}.log"));
        let status = Command::new(venv.join("bin/st"))
            .args(["run", &format!("{base}/api/v1/openapi.json"), "--url", &base, "--checks", "all", "--seed", SEED])
            .args(["--max-time", &max_time, "--workers", "2", "-H", &format!("Authorization: Bearer {key}")])
            .current_dir(root().join("tests/contract"))
            .env("SCHEMATHESIS_HOOKS", "hooks")
            .stdout(std::fs::File::create(&log)?)
            .status()?;
        let text = std::fs::read_to_string(&log)?;
        let summary = text.lines().rev().find(|l| l.contains("generated")).unwrap_or("(no summary)").trim().to_owned();
        eprintln!("schemathesis ({who} key): {summary}");
        if !status.success() {
            eprintln!("{text}");
            bail!("the contract test found failures with the {who} key (log: {})", log.display());
        }
        Ok(summary.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0))
    };
    let generated = cases("operator", &operator)? + cases("account", &account)?;

    eprintln!("$ openapi-python-client generate --path docs/openapi.json");
    let client = work.join("billcenter_client");
    let status = Command::new(venv.join("bin/openapi-python-client"))
        .arg("generate")
        .arg("--path")
        .arg(root().join("docs/openapi.json"))
        .arg("--output-path")
        .arg(&client)
        .args(["--meta", "none", "--overwrite", "--config"])
        .arg(root().join("tests/contract/client.yml"))
        .stdout(Stdio::null())
        .status()?;
    if !status.success() || !client.join("client.py").exists() {
        bail!("openapi-python-client could not generate a client from docs/openapi.json");
    }
    let status = Command::new(venv.join("bin/python"))
        .arg(root().join("tests/contract/client_test.py"))
        .env("PYTHONPATH", &work)
        .env("BASE_URL", &base)
        .env("OPERATOR_KEY", &operator)
        .env("ACCOUNT_KEY", &account)
        .status()?;
    drop(served);
    if !status.success() {
        bail!("the generated client's test failed");
    }
    eprintln!("contract: {generated} requests generated, no failure; the generated client works");
    Ok(())
}
