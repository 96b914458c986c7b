//! Project automation: `cargo xtask ci` runs the format check, clippy with warnings as errors
//! and every test, exactly as CI does.

use std::process::Command;

use anyhow::{Context, Result, bail};

fn cargo(args: &[&str]) -> Result<()> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO")).args(args).status().with_context(|| format!("cannot run cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => {
            cargo(&["fmt", "--all", "--check"])?;
            cargo(&["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"])?;
            cargo(&["test", "--workspace", "--locked"])?;
            Ok(())
        }
        _ => bail!("usage: cargo xtask ci"),
    }
}
