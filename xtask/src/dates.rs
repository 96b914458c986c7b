//! `cargo xtask test-dates`: runs every test binary again with the machine's clock moved by
//! libfaketime to far dates (a leap day, a daylight-saving change in the accounts' zones, the
//! last seconds of a year several years ahead), so no test passes only in the month it was
//! written. The binaries are built first at the real date; each then runs with `LD_PRELOAD` and
//! an offset (`FAKETIME=+Ns`) that the processes it starts (billcenter servers, CLI runs)
//! inherit, so a test and the product it drives read the same moved clock.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// The moments each run starts at (UTC), and why each was chosen.
const DATES: [(&str, &str); 3] = [
    ("2028-02-29T11:59:50Z", "a leap day"),
    // 2031-03-09 is the second Sunday of March: New York moves from 02:00 EST to 03:00 EDT at
    // 07:00 UTC, and the day has 23 hours there.
    ("2031-03-09T06:59:50Z", "the spring daylight-saving change in America/New_York"),
    ("2033-12-31T23:59:55Z", "the last seconds of a year"),
];

const LIBRARY: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

/// Builds the workspace's test binaries and returns each with the folder of its package.
fn test_binaries() -> Result<Vec<(PathBuf, PathBuf)>> {
    let out = Command::new(env!("CARGO"))
        .args(["test", "--workspace", "--locked", "--no-run", "--message-format=json"])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo test --no-run")?;
    if !out.status.success() {
        bail!("building the test binaries failed");
    }
    let mut binaries = Vec::new();
    for line in String::from_utf8(out.stdout)?.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if message["reason"] != "compiler-artifact" || message["profile"]["test"] != true {
            continue;
        }
        let (Some(executable), Some(manifest)) = (message["executable"].as_str(), message["manifest_path"].as_str()) else { continue };
        let folder = Path::new(manifest).parent().context("a manifest has a folder")?.to_path_buf();
        binaries.push((PathBuf::from(executable), folder));
    }
    if binaries.is_empty() {
        bail!("cargo built no test binary");
    }
    Ok(binaries)
}

pub fn test_dates(pg_url: &str) -> Result<()> {
    crate::install_missing(LIBRARY, "faketime")?;
    let binaries = test_binaries()?;
    let mut failed = Vec::new();
    for (start, why) in DATES {
        let start = start.parse::<jiff::Timestamp>()?.as_second();
        for (binary, folder) in &binaries {
            // The offset is taken just before each binary starts, so each begins at the moment.
            let offset = start - jiff::Timestamp::now().as_second();
            let name = binary.file_name().and_then(|n| n.to_str()).unwrap_or("?");
            eprintln!("$ FAKETIME={offset:+} {name}  ({why})");
            let status = Command::new(binary)
                .current_dir(folder)
                .env("LD_PRELOAD", LIBRARY)
                .env("FAKETIME", format!("{offset:+}"))
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
                .env("BILLCENTER_TEST_PG", pg_url)
                .status()
                .with_context(|| format!("cannot run {}", binary.display()))?;
            if !status.success() {
                failed.push(format!("{name} from {why}"));
            }
        }
    }
    if !failed.is_empty() {
        bail!("tests failed with the clock moved: {}", failed.join(", "));
    }
    eprintln!("test-dates: every test binary passed at {} moved dates", DATES.len());
    Ok(())
}
