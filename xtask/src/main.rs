//! Project automation: `cargo xtask ci` runs the format check, clippy with warnings as errors,
//! every test and the browser tests (`browser.rs`), exactly as CI does; `cargo xtask test-dates` runs the tests again at far
//! dates (see `dates.rs`).

mod bench;
mod browser;
mod contract;
mod crash;
mod dates;
mod focus;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

fn cargo(args: &[&str]) -> Result<()> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO")).args(args).status().with_context(|| format!("cannot run cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Builds the `billcenter` binary (the release build, as the benchmark measures it, or the
/// debug one) and answers its path. The debug binary is the one `cargo test --workspace` builds
/// for the integration tests: built by `cargo build -p billcenter` instead, its dependencies
/// would resolve without the test-only crates' features and compile a second time beside it.
pub(crate) fn build_billcenter(release: bool) -> Result<std::path::PathBuf> {
    let args: &[&str] =
        if release { &["build", "--release", "--locked", "-p", "billcenter"] } else { &["test", "--workspace", "--locked", "--no-run"] };
    let status = Command::new(env!("CARGO")).args(args).status()?;
    if !status.success() {
        bail!("building billcenter failed");
    }
    Ok(root().join(if release { "target/release/billcenter" } else { "target/debug/billcenter" }))
}

/// The repository's root folder.
pub(crate) fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Installs a Debian package (as root) unless `file`, which it provides, is already there.
pub(crate) fn install_missing(file: &str, package: &str) -> Result<()> {
    if std::path::Path::new(file).exists() {
        return Ok(());
    }
    eprintln!("installing {package} from the distribution");
    let ok = Command::new("apt-get").args(["update", "-qq"]).status()?.success()
        && Command::new("apt-get").args(["install", "-y", "-qq", package]).env("DEBIAN_FRONTEND", "noninteractive").status()?.success();
    if !ok || !std::path::Path::new(file).exists() {
        bail!("cannot install {package} (apt-get install {package}, as root)");
    }
    Ok(())
}

/// Starts the private PostgreSQL server of the tests (installing it when missing) and returns
/// its admin URL.
pub(crate) fn start_postgres() -> Result<String> {
    eprintln!("$ scripts/pg.sh start");
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg.sh"))
        .arg("start")
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run scripts/pg.sh")?;
    if !out.status.success() {
        bail!("scripts/pg.sh start failed");
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

pub(crate) fn stop_postgres() {
    let _ = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg.sh")).arg("stop").status();
}

/// Runs the test suite against SQLite and a real PostgreSQL server, echoing its output, and
/// ends with one plain line that sums every test binary's result: `tests: N passed, N failed`.
fn test() -> Result<()> {
    // The document tests read PDFs back as text and run the FOCUS validator.
    install_missing("/usr/bin/pdftotext", "poppler-utils")?;
    let focus = focus::validator_python()?;
    let url = start_postgres()?;
    let result = run_tests(&url, &focus);
    stop_postgres();
    result
}

fn run_tests(pg_url: &str, focus_python: &std::path::Path) -> Result<()> {
    let args = ["test", "--workspace", "--locked"];
    eprintln!("$ BILLCENTER_TEST_PG={pg_url} cargo {}", args.join(" "));
    let mut child = Command::new(env!("CARGO"))
        .args(args)
        .env("BILLCENTER_TEST_PG", pg_url)
        .env("BILLCENTER_FOCUS_PYTHON", focus_python)
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run cargo test")?;
    let (mut passed, mut failed) = (0u64, 0u64);
    for line in BufReader::new(child.stdout.take().expect("piped stdout")).lines() {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            let count = |word: &str| -> u64 {
                rest.split(';')
                    .find_map(|part| part.trim().strip_suffix(word).and_then(|n| n.trim().rsplit(' ').next()?.parse().ok()))
                    .unwrap_or(0)
            };
            passed += count(" passed");
            failed += count(" failed");
        }
    }
    let status = child.wait()?;
    println!("tests: {passed} passed, {failed} failed");
    if !status.success() || failed > 0 {
        bail!("cargo test failed ({status})");
    }
    if passed == 0 {
        bail!("cargo test ran no test");
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => {
            cargo(&["fmt", "--all", "--check"])?;
            cargo(&["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"])?;
            test()?;
            browser::browser_tests()?;
            contract::contract(&[])
        }
        Some("bench") => bench::bench(&args[1..]),
        Some("contract") => contract::contract(&args[1..]),
        Some("crash") => crash::crash(&args[1..]),
        Some("test-dates") => {
            let url = start_postgres()?;
            let result = dates::test_dates(&url);
            stop_postgres();
            result
        }
        _ => bail!(
            "usage: cargo xtask ci | cargo xtask test-dates | cargo xtask contract [--max-time SECS] | cargo xtask bench [--accounts N] [--runs R]"
        ),
    }
}
