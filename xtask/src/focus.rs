//! Python test tools from PyPI in virtual environments under `target/`: the FinOps Foundation's
//! FOCUS validator for the export tests (`focus-validator` 2.2.1 needs Python 3.12 — with
//! another version pip picks an old validator — and `pyarrow<22`), and the contract test's
//! tools.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

const VALIDATOR: &str = "focus-validator==2.2.1";

/// The Python of the validator's environment, installing it when missing.
pub(crate) fn validator_python() -> Result<PathBuf> {
    Ok(python_tools("focus-validator", &[VALIDATOR, "pyarrow<22"])?.join("bin/python"))
}

/// A virtual environment of Python 3.12 under `target/NAME` with `packages` from PyPI, made
/// once (again when the packages change).
pub(crate) fn python_tools(name: &str, packages: &[&str]) -> Result<PathBuf> {
    let venv = crate::root().join("target").join(name);
    let ready = venv.join("installed");
    if std::fs::read_to_string(&ready).is_ok_and(|said| said == packages.join("\n")) {
        return Ok(venv);
    }
    let base = python312().context("the test tools need Python 3.12 (python3.12 on PATH or under ~/.pyenv/versions)")?;
    eprintln!("installing {} with {}", packages.join(", "), base.display());
    let _ = std::fs::remove_dir_all(&venv);
    if !Command::new(&base).args(["-m", "venv"]).arg(&venv).status()?.success() {
        bail!("cannot make a virtual environment at {}", venv.display());
    }
    let ok = Command::new(venv.join("bin/python"))
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .args(packages)
        .status()?
        .success();
    if !ok {
        bail!("cannot install {}", packages.join(", "));
    }
    std::fs::write(&ready, packages.join("\n"))?;
    Ok(venv)
}

fn python312() -> Option<PathBuf> {
    let on_path = Command::new("python3.12").arg("--version").output().ok().filter(|o| o.status.success());
    if on_path.is_some() {
        return Some(PathBuf::from("python3.12"));
    }
    let versions = PathBuf::from(std::env::var("HOME").ok()?).join(".pyenv/versions");
    let mut found: Vec<PathBuf> =
        std::fs::read_dir(versions).ok()?.filter_map(|e| e.ok().map(|e| e.path().join("bin/python3.12"))).filter(|p| p.exists()).collect();
    found.sort();
    found.pop()
}
