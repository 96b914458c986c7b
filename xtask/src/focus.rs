//! The FinOps Foundation's FOCUS validator for the export tests: `focus-validator` 2.2.1 from
//! PyPI in a virtual environment under `target/`, made once. It needs Python 3.12 (the machine
//! image's pyenv has one; with another version pip picks an old validator) and `pyarrow<22`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

const VALIDATOR: &str = "focus-validator==2.2.1";

/// The Python of the validator's environment, installing it when missing.
pub(crate) fn validator_python() -> Result<PathBuf> {
    let venv = crate::root().join("target/focus-validator");
    let python = venv.join("bin/python");
    let ready = venv.join("installed-2.2.1");
    if ready.exists() {
        return Ok(python);
    }
    let base = python312().context("focus-validator needs Python 3.12 (python3.12 on PATH or under ~/.pyenv/versions)")?;
    eprintln!("installing {VALIDATOR} with {}", base.display());
    let _ = std::fs::remove_dir_all(&venv);
    if !Command::new(&base).args(["-m", "venv"]).arg(&venv).status()?.success() {
        bail!("cannot make a virtual environment at {}", venv.display());
    }
    let ok = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", VALIDATOR, "pyarrow<22"])
        .status()?
        .success();
    if !ok {
        bail!("cannot install {VALIDATOR}");
    }
    std::fs::write(&ready, VALIDATOR)?;
    Ok(python)
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
