//! A billcenter server process for tests: a fresh database, an operator key, and
//! `billcenter serve` on a free loopback port with the test clock.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_billcenter");

pub fn cli(db: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN).arg("--db").arg(db).args(args).output().expect("run billcenter");
    assert!(out.status.success(), "billcenter {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

pub struct Server {
    pub child: Child,
    pub base: String,
    pub operator: String,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    /// The store's arguments: `--db FILE` or `--database-url URL`.
    pub store: Vec<String>,
}

impl Server {
    /// A server on a fresh SQLite file.
    pub fn start(extra: &[&str]) -> Server {
        Server::start_on(None, extra)
    }

    /// A server on the PostgreSQL database `database_url`, or on a fresh SQLite file.
    pub fn start_on(database_url: Option<&str>, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store: Vec<String> = match database_url {
            Some(url) => vec!["--database-url".into(), url.into()],
            None => vec!["--db".into(), dir.path().join("server.db").to_string_lossy().into_owned()],
        };
        Server::start_in(dir, store, extra)
    }

    /// A second server on this one's store.
    pub fn another(&self, extra: &[&str]) -> Server {
        Server::start_in(tempfile::tempdir().unwrap(), self.store.clone(), extra)
    }

    /// A server on a store prepared beforehand (`--db FILE` or `--database-url URL`).
    pub fn start_on_store(store: &[&str], extra: &[&str]) -> Server {
        Server::start_in(tempfile::tempdir().unwrap(), store.iter().map(|s| s.to_string()).collect(), extra)
    }

    fn start_in(dir: tempfile::TempDir, store: Vec<String>, extra: &[&str]) -> Server {
        let out = Command::new(BIN).args(&store).args(["key", "create", "--operator"]).output().expect("run billcenter");
        assert!(out.status.success(), "billcenter key create: {}", String::from_utf8_lossy(&out.stderr));
        let operator = String::from_utf8(out.stdout).unwrap().lines().next().unwrap().to_owned();
        let mut child = Command::new(BIN)
            .args(&store)
            .args(["serve", "--listen", "127.0.0.1:0", "--test-clock"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        let address =
            line.split("http://").nth(1).and_then(|r| r.split_whitespace().next()).unwrap_or_else(|| panic!("no address in `{line}`"));
        Server { child, base: format!("http://{address}"), operator, dir, http: reqwest::Client::new(), store }
    }

    pub fn db(&self) -> std::path::PathBuf {
        self.dir.path().join("server.db")
    }

    /// Runs the CLI on the server's store.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(BIN).args(&self.store).args(args).output().expect("run billcenter");
        assert!(out.status.success(), "billcenter {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Sends a request; `now` sets the test clock. Returns the status and the JSON body
    /// (`Null` when the body is not JSON).
    pub async fn call(&self, method: &str, path: &str, key: Option<&str>, now: Option<&str>, body: Option<String>) -> (u16, Value) {
        let (status, text) = self.raw(method, path, key, now, body, &[]).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        now: Option<&str>,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        let mut req = self.http.request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        if let Some(n) = now {
            req = req.header("billcenter-now", n);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        // Bytes, not text(): text() would drop a byte-order mark.
        // (Lossy: a PDF or Parquet body is not text; only its status and header are read.)
        (status, String::from_utf8_lossy(&resp.bytes().await.unwrap()).into_owned())
    }

    pub async fn ok(&self, method: &str, path: &str, now: &str, body: Value) -> Value {
        let (status, value) = self.call(method, path, Some(&self.operator), Some(now), Some(body.to_string())).await;
        assert!((200..300).contains(&status), "{method} {path}: {status} {value}");
        value
    }

    /// Asks the server to stop as an operator's SIGTERM would, and waits for it.
    pub fn stop(mut self) -> (bool, String) {
        Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        let status = self.child.wait().unwrap();
        let mut rest = String::new();
        if let Some(out) = self.child.stdout.as_mut() {
            let _ = std::io::Read::read_to_string(out, &mut rest);
        }
        (status.success(), rest)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const CATALOG: &str = include_str!("../../../../catalog/demo.toml");

/// Two stores' dumps (`App::dump`) must hold the same rows, table by table; a difference is
/// named with the two stores' names.
pub fn assert_same_dumps(left: &[(String, Vec<String>)], right: &[(String, Vec<String>)], names: (&str, &str)) {
    for ((table, a), (_, b)) in left.iter().zip(right) {
        assert_eq!(a.len(), b.len(), "{table}: row counts differ");
        if let Some((x, y)) = a.iter().zip(b).find(|(x, y)| x != y) {
            panic!("{table} differs:\n  {}: {x}\n  {}: {y}", names.0, names.1);
        }
    }
}
