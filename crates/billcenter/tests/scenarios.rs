//! Scenario tests: billing stories written as command lines and the output they must print.
//!
//! Each `tests/scenarios/*.scn` file runs in a fresh directory with its own SQLite database
//! and a copy of `catalog/`. Its lines are:
//! - `# ...` comments and blank lines (ignored);
//! - `@now RFC3339`: the clock for the following commands (passed as `--now`);
//! - `--- file NAME` ... `---`: writes a file into the scenario directory;
//! - `$ ARGS`: runs `billcenter ARGS`; the lines after it are the output it must print
//!   (standard output, then standard error, then `[exit N]` when N is not 0).
//!
//! Every scenario runs twice: on a SQLite file and on a fresh PostgreSQL database, against the
//! same expected output. `UPDATE_SCENARIOS=1 cargo test --test scenarios` rewrites the
//! expected outputs (from the SQLite run).

use std::path::{Path, PathBuf};

enum Block {
    Text(String),
    Command { line: String, expected: Vec<String> },
}

fn parse(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(cmd) = line.strip_prefix("$ ") {
            let mut expected = Vec::new();
            while let Some(next) = lines.peek() {
                if next.starts_with("$ ")
                    || next.starts_with('#')
                    || next.starts_with("@now")
                    || next.starts_with("--- file")
                    || next.is_empty()
                {
                    break;
                }
                expected.push(lines.next().unwrap().to_owned());
            }
            blocks.push(Block::Command { line: cmd.to_owned(), expected });
        } else if line.starts_with("--- file") {
            let mut block = vec![line.to_owned()];
            for next in lines.by_ref() {
                block.push(next.to_owned());
                if next == "---" {
                    break;
                }
            }
            blocks.push(Block::Text(block.join("\n")));
        } else {
            blocks.push(Block::Text(line.to_owned()));
        }
    }
    blocks
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

async fn check(name: &str, postgres: bool) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios").join(format!("{name}.scn"));
    let text = std::fs::read_to_string(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root.join("catalog"), &dir.path().join("catalog"));
    let database: Vec<String> = if postgres {
        vec!["--database-url".into(), store::testing::fresh_pg_database().await]
    } else {
        vec!["--db".into(), "test.db".into()]
    };
    let mut now: Option<String> = None;
    let mut rewritten = Vec::new();
    let mut failures = Vec::new();
    for block in parse(&text) {
        match block {
            Block::Text(t) => {
                if let Some(n) = t.strip_prefix("@now ") {
                    now = Some(n.trim().to_owned());
                } else if let Some(rest) = t.strip_prefix("--- file ") {
                    let (file, body) = rest.split_once('\n').unwrap();
                    let body = body.strip_suffix("---").unwrap_or(body);
                    std::fs::write(dir.path().join(file.trim()), body).unwrap();
                }
                rewritten.push(t);
            }
            Block::Command { line, expected } => {
                let mut args = vec!["billcenter".to_owned()];
                args.extend(database.iter().cloned());
                if let Some(n) = now.as_ref().filter(|_| !line.contains("--now")) {
                    args.extend(["--now".to_owned(), n.clone()]);
                }
                args.extend(shlex::split(&line).unwrap_or_else(|| panic!("{name}: cannot split `{line}`")));
                let (mut out, mut err) = (Vec::new(), Vec::new());
                let code = billcenter::cli::main(args, dir.path(), &mut out, &mut err).await;
                let mut actual: Vec<String> = String::from_utf8_lossy(&out)
                    .lines()
                    .chain(String::from_utf8_lossy(&err).lines())
                    .map(|l| l.trim_end().to_owned())
                    .collect();
                actual.retain(|l| !l.is_empty());
                if code != 0 {
                    actual.push(format!("[exit {code}]"));
                }
                if actual != expected {
                    failures.push(format!("$ {line}\n--- expected\n{}\n--- actual\n{}", expected.join("\n"), actual.join("\n")));
                }
                rewritten.push(format!("$ {line}\n{}", actual.join("\n")).trim_end().to_owned());
            }
        }
    }
    if std::env::var_os("UPDATE_SCENARIOS").is_some() && !postgres {
        std::fs::write(&path, rewritten.join("\n") + "\n").unwrap();
        return;
    }
    assert!(failures.is_empty(), "scenario {name} differs (UPDATE_SCENARIOS=1 rewrites it):\n\n{}", failures.join("\n\n"));
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                check(stringify!($name), false).await;
            }
        )*
        /// The same scenarios, with the same expected output, on PostgreSQL.
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::check(stringify!($name), true).await;
                }
            )*
        }
        /// Every scenario file has a test, so a new file cannot be forgotten.
        #[test]
        fn every_scenario_file_is_listed() {
            let listed = [$(stringify!($name)),*];
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
                assert!(listed.contains(&stem.as_str()), "tests/scenarios/{stem}.scn has no test in scenarios!()");
            }
        }
    };
}

scenarios!(
    spec_example_day,
    waterfall,
    sms_skips_coupons,
    coupon_expiry_boundary,
    expiry_notices,
    package_two_workspaces,
    late_usage,
    month_boundary_zones,
    invoice_issue_day,
    bad_input,
    price_models,
    tax_invoices,
    package_upgrade,
    package_renewal,
    resource_packs
);
