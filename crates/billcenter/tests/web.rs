//! The Billing Center's pages over real HTTP: sign-in with its CSRF token and lock, every page
//! of an account in both languages, exports equal to the CLI's, every page, export and form of
//! every other account not found for a customer (and operators' forms forbidden), sign-out,
//! and the operator's account list.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_billcenter");
const NOW: &str = "2026-11-26T04:00:00Z";
const PASSWORD: &str = "correct horse battery";

fn run(db: &Path, args: &[&str], stdin: Option<&str>) -> String {
    run_at(db, NOW, args, stdin)
}

fn run_at(db: &Path, now: &str, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(["--now", now])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "billcenter {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

struct Site {
    child: Child,
    base: String,
    db: PathBuf,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("web.db");
    run(&db, &["demo", "--no-serve", "--days", "40"], None);
    run(&db, &["user", "create", "--account", "cedar", "--email", "Finance@Cedar.example"], Some(&format!("{PASSWORD}\n")));
    run(&db, &["user", "create", "--account", "bolt", "--email", "finance@bolt.example"], Some(&format!("{PASSWORD}\n")));
    run(&db, &["user", "create", "--operator", "--email", "ops@billcenter.example"], Some(&format!("{PASSWORD}\n")));
    let mut child = Command::new(BIN)
        .arg("--db")
        .arg(&db)
        .args(["--now", NOW, "serve", "--listen", "127.0.0.1:0", "--scheduler-interval-secs", "0"])
        .env("BILLCENTER_LOG", "debug,sqlx=warn,hyper=info,h2=info,reqwest=info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("server.log")).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let address = line.split("http://").nth(1).and_then(|r| r.split_whitespace().next()).expect("an address").to_owned();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    Site { child, base: format!("http://{address}"), db, http, _dir: dir }
}

/// A browser's cookie jar, by hand: name → value.
#[derive(Default, Clone)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn take(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all("set-cookie") {
            let text = v.to_str().unwrap();
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.0.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.0.push((name.to_owned(), value.to_owned()));
            }
        }
    }
    fn header(&self) -> String {
        self.0.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }
}

struct Answer {
    status: u16,
    location: String,
    body: String,
    headers: reqwest::header::HeaderMap,
}

impl Site {
    async fn get(&self, jar: &mut Jar, path: &str) -> Answer {
        let r = self.http.get(format!("{}{path}", self.base)).header("cookie", jar.header()).send().await.unwrap();
        self.answer(jar, r).await
    }

    async fn post(&self, jar: &mut Jar, path: &str, form: &[(&str, &str)]) -> Answer {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", jar.header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap())
            .send()
            .await
            .unwrap();
        self.answer(jar, r).await
    }

    /// Posts a form as multipart/form-data, as a browser does a form with a file input: the
    /// texts, then the file (name, file name, bytes).
    async fn post_multipart(&self, jar: &mut Jar, path: &str, form: &[(&str, &str)], file: (&str, &str, &[u8])) -> Answer {
        let boundary = "----billcenter-test-boundary";
        let mut body = Vec::new();
        for (name, value) in form {
            body.extend(format!("--{boundary}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes());
        }
        let (name, file_name, bytes) = file;
        body.extend(
            format!("--{boundary}\r\ncontent-disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\ncontent-type: application/pdf\r\n\r\n")
                .bytes(),
        );
        body.extend(bytes);
        body.extend(format!("\r\n--{boundary}--\r\n").bytes());
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", jar.header())
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await
            .unwrap();
        self.answer(jar, r).await
    }

    async fn answer(&self, jar: &mut Jar, r: reqwest::Response) -> Answer {
        jar.take(&r);
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let location = headers.get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        // Bytes, not text(): text() would drop a byte-order mark.
        // (A PDF is not text: its binary parts are replaced, its header stays readable.)
        Answer { status, location, body: String::from_utf8_lossy(&r.bytes().await.unwrap()).into_owned(), headers }
    }

    /// Signs in; returns the jar and the answer to the form.
    async fn sign_in(&self, email: &str, password: &str) -> (Jar, Answer) {
        let mut jar = Jar::default();
        let page = self.get(&mut jar, "/login").await;
        let csrf = hidden(&page.body, "csrf");
        let answer = self.post(&mut jar, "/login", &[("email", email), ("password", password), ("csrf", &csrf), ("next", "/")]).await;
        (jar, answer)
    }
}

fn hidden(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\" value=\"")).unwrap_or_else(|| panic!("no {name} field in {html}")) + name.len() + 15;
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_signs_in_sees_its_pages_and_only_its_own() {
    let site = site();
    // Signed out, every page leads to sign-in.
    let mut nobody = Jar::default();
    let home = site.get(&mut nobody, "/").await;
    assert_eq!((home.status, home.location.as_str()), (303, "/login?next=%2F"));
    let page = site.get(&mut nobody, "/accounts/cedar/expenses").await;
    assert_eq!(page.status, 303);
    assert!(page.location.starts_with("/login?next="), "{}", page.location);

    // A sign-in form without the token its page set is refused.
    let refused =
        site.post(&mut Jar::default(), "/login", &[("email", "finance@cedar.example"), ("password", PASSWORD), ("csrf", "x")]).await;
    assert_eq!(refused.status, 403);

    let (mut jar, signed) = site.sign_in("finance@cedar.example", PASSWORD).await;
    assert_eq!((signed.status, signed.location.as_str()), (303, "/accounts/cedar/"), "emails compare without case");
    let cookie =
        signed.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).find(|c| c.starts_with("bc_session=")).unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && !cookie.contains("Secure"), "{cookie}");

    // Every page, in both languages, with the policy that nothing loads from elsewhere.
    let pages: [(&str, &str, &str); 8] = [
        ("/accounts/cedar/", "Daily spend", "每日消费"),
        ("/accounts/cedar/invoices", "INV-202610-cedar-0001", "月度账单"),
        ("/accounts/cedar/invoices/2026-10", "Lines by workspace and billable item", "按工作空间和计费项的明细"),
        ("/accounts/cedar/expenses", "Total of every row of the filter", "筛选结果全部行合计"),
        ("/accounts/cedar/transactions?from=2026-10-01", "Summary of the range by fund and type", "按资金和类型汇总的本范围收支"),
        ("/accounts/cedar/coupons", "CPN-1", "代金券"),
        ("/accounts/cedar/cards", "PC-", "储值卡"),
        ("/accounts/cedar/tax-invoices", "Invoiceable amount by month", "按月可开票金额"),
    ];
    for (path, english, chinese) in pages {
        let en = site.get(&mut jar, path).await;
        assert_eq!(en.status, 200, "{path}");
        assert!(en.body.contains(english), "{path} shows `{english}`");
        assert!(en.body.contains("<html lang=\"en\">"), "{path}");
        let csp = en.headers["content-security-policy"].to_str().unwrap();
        let elsewhere = ["src=\"http", "href=\"http", "url(http", "src=\"//", "href=\"//"].iter().any(|p| en.body.contains(p));
        assert!(csp.contains("default-src 'self'") && !elsewhere, "{path} loads only from its own origin");
        let sep = if path.contains('?') { '&' } else { '?' };
        let zh = site.get(&mut jar, &format!("{path}{sep}lang=zh-CN")).await;
        assert!(zh.body.contains("<html lang=\"zh-CN\">") && zh.body.contains(chinese), "{path} in Chinese shows `{chinese}`");
        // The choice is remembered without the parameter.
        let again = site.get(&mut jar, path).await;
        assert!(again.body.contains("<html lang=\"zh-CN\">"), "{path} remembers Chinese");
        site.get(&mut jar, &format!("{path}{sep}lang=en")).await;
    }
    // The overview's chart is drawn by the server; provisional months say so.
    let overview = site.get(&mut jar, "/accounts/cedar/").await;
    assert!(overview.body.contains("<svg class=\"chart\"") && overview.body.contains("<rect"), "the chart");
    let provisional = site.get(&mut jar, "/accounts/cedar/invoices/2026-11").await;
    assert!(provisional.body.contains("Provisional: this month is still open"));

    // Filters narrow the rows, pages follow each other, totals cover the whole filter.
    let rows_of = |html: &str| html.split("<tbody>").nth(1).map_or(0, |b| b.split("</tbody>").next().unwrap().matches("<tr").count());
    let total = |html: &str| html.split("<tfoot>").nth(1).unwrap().split("</tfoot>").next().unwrap().to_owned();
    let month = site.get(&mut jar, "/accounts/cedar/expenses?month=2026-11&item=log_events&workspace=&charge_type=").await;
    assert_eq!(rows_of(&month.body), 25, "November's 25 days of log events");
    assert!(!month.body.contains("rel=\"next\""), "one page holds them");
    // Detailed expenses page by a cursor (a billing day and line): following the next links
    // visits every line once, newest first, and every page shows the same totals.
    let listed = run(&site.db, &["--json", "list", "expenses", "--account", "cedar"], None);
    let all: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let lines = all.as_array().unwrap().len();
    let mut path = "/accounts/cedar/expenses".to_owned();
    let (mut seen, mut pages, mut first_total) = (0, 0, None);
    loop {
        let page = site.get(&mut jar, &path).await;
        assert_eq!(page.status, 200, "{path}");
        seen += rows_of(&page.body);
        pages += 1;
        let t = total(&page.body);
        assert_eq!(first_total.get_or_insert_with(|| t.clone()), &t, "the totals are the filter's on every page");
        let Some(at) = page.body.find("rel=\"next\"") else { break };
        let href = page.body[..at].rsplit("href=\"").next().unwrap().split('"').next().unwrap().replace("&#38;", "&");
        path = href;
    }
    assert_eq!((seen, pages), (lines, lines.div_ceil(50)), "{lines} lines on their pages");
    // The totals row is the list's: gross summed from the CLI's rows.
    let gross: rust_decimal::Decimal =
        all.as_array().unwrap().iter().map(|r| r["gross"].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap()).sum();
    assert!(first_total.unwrap().contains(&format!(">{}<", billcenter_http::web::money_text(&gross.to_string()))), "gross total {gross}");
    let bad = site.get(&mut jar, "/accounts/cedar/expenses?month=November").await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("A month is written YYYY-MM") && bad.body.contains("is not a month"), "{}", bad.body);
    // The same refusal in Chinese says it in Chinese only.
    let zh = site.get(&mut jar, "/accounts/cedar/expenses?month=November&lang=zh-CN").await;
    assert_eq!(zh.status, 422);
    assert!(zh.body.contains("月份的格式为 YYYY-MM") && !zh.body.contains("is not a month"), "{}", zh.body);
    let unknown = site.get(&mut jar, "/accounts/cedar/transactions?fund=gold").await;
    assert!(unknown.body.contains("资金类型为现金、代金券或储值卡"), "{}", unknown.body);
    site.get(&mut jar, "/accounts/cedar/?lang=en").await;

    // The page's export is the CLI's export of the same filter.
    let csv = site.get(&mut jar, "/accounts/cedar/expenses/export?month=2026-11&item=log_events&format=csv").await;
    assert_eq!(csv.status, 200);
    let cli = run(&site.db, &["export", "expenses", "--account", "cedar", "--month", "2026-11", "--item", "log_events"], None);
    assert_eq!(csv.body, cli);

    // The invoice page's PDF, and the expenses page's FOCUS file (the CLI's, for this account).
    let pdf = site.get(&mut jar, "/accounts/cedar/invoices/2026-10/export?format=pdf").await;
    assert_eq!((pdf.status, pdf.headers["content-type"].to_str().unwrap()), (200, "application/pdf"));
    assert!(pdf.body.starts_with("%PDF-"));
    let focus = site.get(&mut jar, "/accounts/cedar/expenses/export?month=2026-10&format=focus").await;
    assert_eq!(focus.status, 200);
    assert_eq!(focus.body, run(&site.db, &["export", "focus", "--account", "cedar", "--month", "2026-10"], None));
    assert!(focus.body.starts_with("BilledCost,"), "{}", focus.body);

    // Another account's pages, invoices and exports do not exist for this user.
    for path in [
        "/accounts/acme/invoices/2026-10/export?format=pdf",
        "/accounts/acme/expenses/export?month=2026-10&format=focus",
        "/accounts/acme/",
        "/accounts/acme/expenses",
        "/accounts/acme/invoices/2026-10",
        "/accounts/acme/coupons/export?format=csv",
        "/accounts/acme/tax-invoices",
        "/accounts",
    ] {
        let other = site.get(&mut jar, path).await;
        if path == "/accounts" {
            assert_eq!((other.status, other.location.as_str()), (303, "/accounts/cedar/"), "the account list is the operator's");
        } else {
            assert_eq!(other.status, 404, "{path}");
            assert!(!other.body.contains("Acme"), "{path} says nothing of acme");
        }
    }

    // Signing out needs the session's CSRF token, then ends the session.
    let forged = site.post(&mut jar, "/logout", &[("csrf", "forged")]).await;
    assert_eq!(forged.status, 403);
    let page = site.get(&mut jar, "/accounts/cedar/").await;
    assert_eq!(page.status, 200, "a forged form leaves the session alone");
    let csrf = hidden(&page.body, "csrf");
    let old = jar.clone();
    let out = site.post(&mut jar, "/logout", &[("csrf", &csrf)]).await;
    assert_eq!((out.status, out.location.as_str()), (303, "/login?signed_out=1"));
    let said = site.get(&mut jar, "/login?signed_out=1").await;
    assert!(said.body.contains("<p class=\"notice\" role=\"status\">You are signed out.</p>"), "{}", said.body);
    let mut stale = old;
    assert_eq!(site.get(&mut stale, "/accounts/cedar/").await.status, 303, "the old cookie no longer signs in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_slow_and_then_lock_a_sign_in() {
    let site = site();
    for attempt in 1..=4 {
        let (_, answer) = site.sign_in("finance@bolt.example", "not the password").await;
        assert_eq!(answer.status, 401, "attempt {attempt}");
        assert!(answer.body.contains("<p class=\"warning\" role=\"alert\">The email or password is not right."), "{}", answer.body);
    }
    let (_, locked) = site.sign_in("finance@bolt.example", "not the password").await;
    assert_eq!(locked.status, 429);
    assert!(locked.body.contains("<p class=\"warning\" role=\"alert\">Too many failed sign-ins"), "{}", locked.body);
    let (_, still) = site.sign_in("finance@bolt.example", PASSWORD).await;
    assert_eq!(still.status, 429, "locked even with the right password");
    // Another email is not affected, and an unknown one is refused like a wrong password.
    let (_, other) = site.sign_in("finance@cedar.example", PASSWORD).await;
    assert_eq!(other.status, 303);
    let (_, unknown) = site.sign_in("nobody@example.com", PASSWORD).await;
    assert_eq!(unknown.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_finds_and_opens_any_account() {
    let site = site();
    let (mut jar, signed) = site.sign_in("ops@billcenter.example", PASSWORD).await;
    assert_eq!((signed.status, signed.location.as_str()), (303, "/accounts"));
    let all = site.get(&mut jar, "/accounts").await;
    for id in ["acme", "bolt", "cedar", "dune", "ember", "fjord"] {
        assert!(all.body.contains(&format!("href=\"/accounts/{id}/\"")), "{id} is listed");
    }
    let found = site.get(&mut jar, "/accounts?q=EMBER").await;
    assert!(found.body.contains("/accounts/ember/") && !found.body.contains("/accounts/acme/"));
    for path in ["/accounts/acme/", "/accounts/bolt/transactions", "/accounts/dune/invoices"] {
        assert_eq!(site.get(&mut jar, path).await.status, 200, "{path}");
    }
    let bolt = site.get(&mut jar, "/accounts/bolt/").await;
    assert!(bolt.body.contains("Suspended") || bolt.body.contains("Will be suspended"), "bolt's standing shows");
    assert_eq!(site.get(&mut jar, "/accounts/nobody/").await.status, 404);
    assert_eq!(site.get(&mut jar, "/no/such/page").await.status, 404);
}

/// An account of more workspaces than an invoice page holds: its invoice shows them a page at a
/// time, whole, each once, and says which of how many it shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_of_many_workspaces_shows_them_a_page_at_a_time() {
    let site = site();
    let later = "2026-11-27T01:00:00Z";
    run(&site.db, &["account", "create", "--id", "many", "--name", "Many Workspaces Ltd"], None);
    let mut usage = String::from("record_id,workspace,item,timestamp,quantity,retention_days\n");
    for w in 0..30 {
        run(&site.db, &["workspace", "create", "--account", "many", "--id", &format!("ws-{w:02}")], None);
        for (n, item) in ["log_events", "sms"].iter().enumerate() {
            let retention = if *item == "log_events" { "7" } else { "" };
            usage.push_str(&format!("r{w}-{n},ws-{w:02},{item},2026-11-26T15:00:00+08:00,{},{retention}\n", 1_000_000 + w));
        }
    }
    std::fs::write(site.db.with_file_name("many.csv"), usage).unwrap();
    run_at(&site.db, later, &["usage", "import", site.db.with_file_name("many.csv").to_str().unwrap()], None);
    run_at(&site.db, later, &["run"], None);

    let (mut jar, _) = site.sign_in("ops@billcenter.example", PASSWORD).await;
    let mut path = "/accounts/many/invoices/2026-11".to_owned();
    let (mut seen, mut pages) = (Vec::new(), 0);
    loop {
        let page = site.get(&mut jar, &path).await;
        assert_eq!(page.status, 200, "{path}");
        pages += 1;
        if pages == 1 {
            assert!(page.body.contains("Workspaces 1–25 of 30"), "the first page says what it shows: {}", page.body);
            assert!(page.body.contains("Provisional: this month is still open"));
        }
        for group in page.body.split("<tr class=\"group\">").skip(1) {
            let workspace = group.split("Workspace: ").nth(1).unwrap().split('<').next().unwrap().to_owned();
            let body = group.split("</tbody>").next().unwrap();
            assert_eq!(body.matches("<tr>").count(), 2, "{workspace} shows both its items");
            seen.push(workspace);
        }
        let Some(at) = page.body.find("rel=\"next\"") else { break };
        path = page.body[..at].rsplit("href=\"").next().unwrap().split('"').next().unwrap().replace("&#38;", "&");
    }
    let expected: Vec<String> = (0..30).map(|w| format!("ws-{w:02}")).collect();
    assert_eq!((pages, seen), (2, expected), "every workspace once, in order");
}

/// A customer requests a tax invoice on its page (refused with a reason in its language when the
/// form is wrong, the values kept; refused without the form's token), and an operator issues it
/// there; a customer cannot decide one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tax_invoice_is_requested_and_issued_on_its_page() {
    let site = site();
    let (mut jar, _) = site.sign_in("finance@cedar.example", PASSWORD).await;
    let page = site.get(&mut jar, "/accounts/cedar/tax-invoices").await;
    assert!(page.body.contains("No tax invoice requests yet") && page.body.contains("Invoiceable amount by month"));
    let csrf = hidden(&page.body, "csrf");
    let form = |csrf: &str, tax_id: &str, amount: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("amount", amount.to_owned()),
            ("months", "2026-10".to_owned()),
            ("kind", "ordinary".to_owned()),
            ("title", "Cedar Retail Ltd.".to_owned()),
            ("tax_id", tax_id.to_owned()),
            ("address", String::new()),
            ("email", "tax@cedar.example".to_owned()),
        ]
    };
    // Without the page's token: refused.
    let refused = send(&site, &mut jar, "/accounts/cedar/tax-invoices", form("forged", "91330100MA2AAAAA1X", "100.00")).await;
    assert_eq!(refused.status, 403);
    // A wrong taxpayer id, in Chinese: said in Chinese, the form keeps what was typed.
    site.get(&mut jar, "/accounts/cedar/tax-invoices?lang=zh-CN").await;
    let wrong = send(&site, &mut jar, "/accounts/cedar/tax-invoices", form(&csrf, "12345", "100.00")).await;
    assert_eq!(wrong.status, 422);
    assert!(
        wrong.body.contains("纳税人识别号由 15 到 20 位字母和数字组成") && wrong.body.contains("value=\"Cedar Retail Ltd.\""),
        "{}",
        wrong.body
    );
    let too_much = send(&site, &mut jar, "/accounts/cedar/tax-invoices", form(&csrf, "91330100MA2AAAAA1X", "9999999.00")).await;
    assert_eq!(too_much.status, 409);
    assert!(too_much.body.contains("超出了所选月份的可开票金额"), "{}", too_much.body);
    site.get(&mut jar, "/accounts/cedar/tax-invoices?lang=en").await;
    let made = send(&site, &mut jar, "/accounts/cedar/tax-invoices", form(&csrf, "91330100MA2AAAAA1X", "100.00")).await;
    assert_eq!((made.status, made.location.as_str()), (303, "/accounts/cedar/tax-invoices?requested=1"));
    let listed = site.get(&mut jar, "/accounts/cedar/tax-invoices?requested=1").await;
    assert!(listed.body.contains("Request 1 was received") && listed.body.contains("Requested") && listed.body.contains("100.00"));
    assert!(!listed.body.contains("/tax-invoices/1/issue"), "a customer has no decision forms");
    let not_theirs =
        send(&site, &mut jar, "/accounts/cedar/tax-invoices/1/issue", vec![("csrf", csrf.clone()), ("number", "1".into())]).await;
    assert_eq!(not_theirs.status, 403, "a customer cannot issue its own request");

    // The operator issues it from the same page.
    let (mut ops, _) = site.sign_in("ops@billcenter.example", PASSWORD).await;
    let page = site.get(&mut ops, "/accounts/cedar/tax-invoices").await;
    assert!(page.body.contains("/accounts/cedar/tax-invoices/1/issue"), "the operator decides open requests");
    let ops_csrf = hidden(&page.body, "csrf");
    // Issued with the tax authority's PDF, from the issue form's file input.
    let first_pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
    let issue_form = [("csrf", ops_csrf.as_str()), ("number", "24332000000000000042"), ("date", "")];
    let issued = site.post_multipart(&mut ops, "/accounts/cedar/tax-invoices/1/issue", &issue_form, ("pdf", "fapiao.pdf", first_pdf)).await;
    assert_eq!((issued.status, issued.location.as_str()), (303, "/accounts/cedar/tax-invoices?decided=1"));
    let csv = run(&site.db, &["export", "tax-invoices", "--account", "cedar"], None);
    assert!(csv.contains("issued") && csv.contains("24332000000000000042"), "{csv}");
    // A file that is not a PDF is refused and changes nothing; another PDF replaces the first.
    let page = site.get(&mut ops, "/accounts/cedar/tax-invoices").await;
    assert!(page.body.contains("/accounts/cedar/tax-invoices/1/attach"), "an issued tax invoice takes a PDF");
    let attach_form = [("csrf", ops_csrf.as_str())];
    let not_pdf =
        site.post_multipart(&mut ops, "/accounts/cedar/tax-invoices/1/attach", &attach_form, ("pdf", "notes.txt", b"hello")).await;
    assert_eq!(not_pdf.status, 422);
    assert!(
        not_pdf.body.contains("Choose the tax invoice&#39;s PDF file") || not_pdf.body.contains("Choose the tax invoice's PDF file"),
        "{}",
        not_pdf.body
    );
    let first = site.get(&mut jar, "/accounts/cedar/tax-invoices/1/pdf").await;
    assert_eq!((first.status, first.body.as_bytes()), (200, &first_pdf[..]), "the refused file left the first in place");
    let second_pdf = b"%PDF-1.7\n% the reissued file\ntrailer << >>\n%%EOF";
    let attached =
        site.post_multipart(&mut ops, "/accounts/cedar/tax-invoices/1/attach", &attach_form, ("pdf", "fapiao-2.pdf", second_pdf)).await;
    assert_eq!((attached.status, attached.location.as_str()), (303, "/accounts/cedar/tax-invoices?decided=1"));
    // The customer downloads it from its list, named by the tax invoice's number; it cannot
    // attach one.
    let listed = site.get(&mut jar, "/accounts/cedar/tax-invoices").await;
    assert!(listed.body.contains("href=\"tax-invoices/1/pdf\" download>Download PDF</a>"), "{}", listed.body);
    let pdf = site.get(&mut jar, "/accounts/cedar/tax-invoices/1/pdf").await;
    assert_eq!((pdf.status, pdf.body.as_bytes()), (200, &second_pdf[..]));
    assert_eq!(pdf.headers["content-type"], "application/pdf");
    assert_eq!(pdf.headers["content-disposition"], "attachment; filename=\"cedar-tax-invoice-24332000000000000042.pdf\"");
    let theirs = site
        .post_multipart(&mut jar, "/accounts/cedar/tax-invoices/1/attach", &[("csrf", csrf.as_str())], ("pdf", "x.pdf", second_pdf))
        .await;
    assert_eq!(theirs.status, 403, "a customer cannot attach a tax invoice's PDF");
    assert_eq!(site.get(&mut jar, "/accounts/cedar/tax-invoices/2/pdf").await.status, 404, "no such request");
    let (mut bolt, _) = site.sign_in("finance@bolt.example", PASSWORD).await;
    let elsewhere = site.get(&mut bolt, "/accounts/cedar/tax-invoices/1/pdf").await;
    assert!(elsewhere.status == 404 && !elsewhere.body.contains("%PDF"), "another account's customer finds no PDF");
    let csv = run(&site.db, &["export", "tax-invoices", "--account", "cedar"], None);
    let sha = run(
        &site.db,
        &[
            "--json",
            "tax-invoice",
            "pdf",
            "--account",
            "cedar",
            "--request",
            "1",
            "--out",
            &site.db.with_extension("pdf").to_string_lossy(),
        ],
        None,
    );
    let sha: serde_json::Value = serde_json::from_str(&sha).unwrap();
    assert!(csv.contains(sha["sha256"].as_str().unwrap()), "the export names the PDF by its SHA-256: {csv}");
    assert_eq!(std::fs::read(site.db.with_extension("pdf")).unwrap(), second_pdf);
    let verify = run(&site.db, &["verify"], None);
    assert!(verify.contains("verify: clean"), "{verify}");
}

async fn send(site: &Site, jar: &mut Jar, path: &str, fields: Vec<(&str, String)>) -> Answer {
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    site.post(jar, path, &pairs).await
}

/// An operator refunds cash and changes an account's annual package from its overview; a
/// customer sees its package but cannot do either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_refunds_and_changes_the_package_from_the_overview() {
    let site = site();
    let (mut jar, _) = site.sign_in("finance@cedar.example", PASSWORD).await;
    let page = site.get(&mut jar, "/accounts/cedar/").await;
    assert!(page.body.contains("No annual package") && !page.body.contains("/actions/refund"), "a customer has no operator forms");
    let csrf = hidden(&page.body, "csrf");
    let refused =
        send(&site, &mut jar, "/accounts/cedar/actions/refund", vec![("csrf", csrf), ("amount", "1.00".into()), ("reason", "x".into())])
            .await;
    assert_eq!(refused.status, 403);

    let (mut ops, _) = site.sign_in("ops@billcenter.example", PASSWORD).await;
    let page = site.get(&mut ops, "/accounts/cedar/").await;
    let csrf = hidden(&page.body, "csrf");
    let forged = send(
        &site,
        &mut ops,
        "/accounts/cedar/actions/refund",
        vec![("csrf", "x".into()), ("amount", "1.00".into()), ("reason", "x".into())],
    )
    .await;
    assert_eq!(forged.status, 403, "a form without its token is refused");
    let done = send(
        &site,
        &mut ops,
        "/accounts/cedar/actions/refund",
        vec![("csrf", csrf.clone()), ("amount", "25.00".into()), ("reason", "goodwill".into())],
    )
    .await;
    assert_eq!((done.status, done.location.as_str()), (303, "/accounts/cedar/?done=refund"));
    assert!(site.get(&mut ops, "/accounts/cedar/?done=refund").await.body.contains("The cash refund was made."));
    let listed = run(&site.db, &["list", "transactions", "--account", "cedar", "--type", "cash_refund", "--from", "2026-11-01"], None);
    assert!(listed.contains("25.00") && listed.contains("goodwill"), "{listed}");
    let too_much = send(
        &site,
        &mut ops,
        "/accounts/cedar/actions/refund",
        vec![("csrf", csrf.clone()), ("amount", "999999.00".into()), ("reason", "x".into())],
    )
    .await;
    assert_eq!(too_much.status, 409);

    // acme's package (Growth since the demo's upgrade): renew it automatically; a dearer plan
    // it cannot pay for is refused.
    let page = site.get(&mut ops, "/accounts/acme/").await;
    assert!(page.body.contains("Growth") && page.body.contains("/actions/upgrade"), "the package and the upgrade form");
    let on = send(&site, &mut ops, "/accounts/acme/actions/auto-renew-on", vec![("csrf", csrf.clone())]).await;
    assert_eq!(on.status, 303);
    let page = site.get(&mut ops, "/accounts/acme/?done=auto-renew-on").await;
    assert!(page.body.contains("The package renews itself at its end."));
    let upgrade = send(&site, &mut ops, "/accounts/acme/actions/upgrade", vec![("csrf", csrf), ("package", "enterprise".into())]).await;
    assert_eq!(upgrade.status, 409, "{}", upgrade.body);
    let verify = run(&site.db, &["verify"], None);
    assert!(verify.contains("verify: clean"), "{verify}");
}

/// Resource packs on their page: a customer buys one with its own funds (refused when they
/// cannot pay, as packs never go into arrears) but cannot grant one; an operator grants one;
/// the pack bought in the demo shows what its usage drew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packs_are_bought_and_granted_on_their_page() {
    let site = site();
    let (mut jar, _) = site.sign_in("finance@bolt.example", PASSWORD).await;
    let page = site.get(&mut jar, "/accounts/bolt/packs").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Buy a resource pack") && page.body.contains("log_events_500m"), "the buy form offers the catalog's packs");
    assert!(!page.body.contains("/actions/grant-pack"), "a customer is not offered to grant");
    let csrf = hidden(&page.body, "csrf");
    let pack = |csrf: &str, code: &str| vec![("csrf", csrf.to_owned()), ("pack", code.to_owned())];
    let short = send(&site, &mut jar, "/accounts/bolt/actions/buy-pack", pack(&csrf, "log_events_5b")).await;
    assert_eq!(short.status, 409, "bolt is in arrears: {}", short.body);
    assert!(short.body.contains("cannot pay for this"), "{}", short.body);
    let grant = send(&site, &mut jar, "/accounts/bolt/actions/grant-pack", pack(&csrf, "log_events_500m")).await;
    assert_eq!(grant.status, 403);
    let forged = send(&site, &mut jar, "/accounts/bolt/actions/buy-pack", pack("x", "log_events_500m")).await;
    assert_eq!(forged.status, 403, "a form without its token is refused");
    let other = send(&site, &mut jar, "/accounts/cedar/actions/buy-pack", pack(&csrf, "log_events_500m")).await;
    assert_eq!(other.status, 404, "another account's action does not exist for a customer");

    let (mut ops, _) = site.sign_in("ops@billcenter.example", PASSWORD).await;
    let page = site.get(&mut ops, "/accounts/bolt/packs").await;
    assert!(page.body.contains("/actions/grant-pack"), "operators may grant");
    let csrf = hidden(&page.body, "csrf");
    let granted = send(&site, &mut ops, "/accounts/bolt/actions/grant-pack", pack(&csrf, "sms_10k")).await;
    assert_eq!((granted.status, granted.location.as_str()), (303, "/accounts/bolt/packs?done=grant-pack"));
    let page = site.get(&mut ops, "/accounts/bolt/packs?done=grant-pack").await;
    assert!(page.body.contains("The resource pack was granted.") && page.body.contains("SMS 10,000"), "{}", page.body);
    let unknown = send(&site, &mut ops, "/accounts/bolt/actions/grant-pack", pack(&csrf, "gpu_hours")).await;
    assert_eq!(unknown.status, 422);

    // ember bought 500 M log events in the demo 20 days ago: its logs have drawn on it since.
    let listed = run(&site.db, &["--json", "list", "packs", "--account", "ember"], None);
    let rows: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let row = &rows[0];
    assert_eq!(row["pack no"], "RP-1", "{listed}");
    let used: rust_decimal::Decimal = row["used"].as_str().unwrap().parse().unwrap();
    assert!(used > rust_decimal::Decimal::ZERO, "{listed}");
    let page = site.get(&mut ops, "/accounts/ember/packs").await;
    assert!(page.body.contains("RP-1") && page.body.contains("Log events 500 M"), "the page lists the pack");
    let lines = run(&site.db, &["list", "expenses", "--account", "ember", "--charge-type", "resource_pack"], None);
    assert!(lines.contains("RP-1") && lines.contains("log_events"), "the purchase and the usage it covered: {lines}");
    let verify = run(&site.db, &["verify"], None);
    assert!(verify.contains("verify: clean"), "{verify}");
}

/// A value a browser could send in a form field: good ones, near misses and hostile text.
fn field_value(rng: &mut fastrand::Rng) -> String {
    const SAMPLES: [&str; 34] = [
        "",
        " ",
        "0",
        "-1",
        "1e3",
        "0.001",
        "100.00",
        "99999999999999999999999999",
        "NaN",
        "2026-11-01",
        "2027-02-29",
        "2026-13-01",
        "2026-11",
        "0000-00-00",
        "9999-12-31",
        "starter",
        "growth",
        "log_events_500m",
        "sms_10k",
        "special_vat",
        "ordinary",
        "91330100MA2AAAAA1X",
        "tax@cedar.example",
        "<script>alert(1)</script>",
        "'; DROP TABLE account; --",
        "../../etc/passwd",
        "%00",
        "\u{0}",
        "\u{202e}evil",
        "日志事件",
        "=HYPERLINK(\"http://x\")",
        "2026-10,2026-11",
        "/accounts/acme/",
        "https://evil.example/",
    ];
    match rng.u8(0..10) {
        0 => (0..rng.usize(1..3000)).map(|_| rng.char(..)).collect(),
        1 => "9".repeat(rng.usize(1..400)),
        _ => SAMPLES[rng.usize(..SAMPLES.len())].to_owned(),
    }
}

/// Every form the pages offer, posted with what a browser can send — missing fields, near
/// misses, hostile text, a forged or missing token, unknown actions — answers a page, a
/// redirect or a refusal, never a server error; and `verify` stays clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_form_answers_a_server_error() {
    let site = site();
    let mut rng = fastrand::Rng::with_seed(20261126);
    let (mut ops, _) = site.sign_in("ops@billcenter.example", PASSWORD).await;
    let (mut customer, _) = site.sign_in("finance@cedar.example", PASSWORD).await;
    let ops_csrf = hidden(&site.get(&mut ops, "/accounts/cedar/").await.body, "csrf");
    let customer_csrf = hidden(&site.get(&mut customer, "/accounts/cedar/").await.body, "csrf");
    let forms: [(&str, &[&str]); 13] = [
        ("/accounts/cedar/tax-invoices", &["amount", "months", "kind", "title", "tax_id", "address", "email"]),
        ("/accounts/cedar/tax-invoices/1/issue", &["number", "date"]),
        ("/accounts/cedar/tax-invoices/1/reject", &["reason"]),
        ("/accounts/cedar/tax-invoices/1/reverse", &["reason"]),
        ("/accounts/cedar/tax-invoices/0/nonsense", &["reason"]),
        ("/accounts/cedar/actions/buy-pack", &["pack"]),
        ("/accounts/cedar/actions/grant-pack", &["pack"]),
        ("/accounts/cedar/actions/refund", &["amount", "reason"]),
        ("/accounts/cedar/actions/upgrade", &["package"]),
        ("/accounts/cedar/actions/renew", &[]),
        ("/accounts/cedar/actions/auto-renew-on", &[]),
        ("/accounts/cedar/actions/nonsense", &["amount"]),
        ("/accounts/cedar/coupons", &["amount"]),
    ];
    let mut sent = 0;
    let mut statuses: std::collections::BTreeMap<(u16, bool), usize> = Default::default();
    for round in 0..30 {
        for (path, fields) in forms {
            for (jar, csrf) in [(&mut ops, &ops_csrf), (&mut customer, &customer_csrf)] {
                let mut form: Vec<(String, String)> = Vec::new();
                // Mostly the page's own token, so the handler reads the fields.
                let token = if rng.u8(0..10) == 0 { field_value(&mut rng) } else { csrf.clone() };
                if rng.u8(0..20) != 0 {
                    form.push(("csrf".into(), token));
                }
                for f in fields.iter() {
                    if rng.u8(0..5) != 0 {
                        form.push(((*f).into(), field_value(&mut rng)));
                    }
                }
                if rng.u8(0..4) == 0 {
                    form.push((field_value(&mut rng), field_value(&mut rng)));
                }
                let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let answer = site.post(jar, path, &pairs).await;
                assert!(answer.status < 500, "round {round}: POST {path} {form:?} answered {}: {}", answer.status, answer.body);
                *statuses.entry((answer.status, answer.location.contains("done="))).or_insert(0) += 1;
                sent += 1;
            }
        }
        // The pages and exports with hostile filters.
        let mut query: Vec<(String, String)> = Vec::new();
        for k in ["from", "to", "month", "workspace", "item", "charge_type", "type", "fund", "status", "cursor", "format", "lang"] {
            if rng.bool() {
                query.push((k.to_owned(), field_value(&mut rng)));
            }
        }
        let query = serde_urlencoded::to_string(&query).unwrap();
        for list in
            ["", "expenses", "transactions", "invoices", "coupons", "cards", "packs", "tax-invoices", "expenses/export", "invoices/2026-13"]
        {
            let path = format!("/accounts/cedar/{list}?{query}");
            let answer = site.get(&mut ops, &path).await;
            assert!(answer.status < 500, "GET {path} answered {}: {}", answer.status, answer.body);
            sent += 1;
        }
    }
    assert!(sent > 1000, "{sent} requests");
    // The forms were read, not only refused at the door: some acted, some were refused by
    // their fields' rules (a page with the error) and some by the token (403).
    let count = |f: &dyn Fn(&(u16, bool)) -> bool| statuses.iter().filter(|(k, _)| f(k)).map(|(_, n)| n).sum::<usize>();
    assert!(count(&|k| k.1) > 0 && count(&|k| k.0 == 200 || k.0 == 422) > 0 && count(&|k| k.0 == 403) > 0, "{statuses:?}");
    let verify = run(&site.db, &["verify"], None);
    assert!(verify.contains("verify: clean"), "{verify}");
}

/// Neither an error message nor a log line carries a key, a password, a session id, a CSRF
/// token or a webhook secret: the server logs at debug level through sign-ins (right and
/// wrong), pages, API calls with good, wrong and out-of-scope keys and a webhook's creation,
/// and its log is searched for every one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_line_or_error_carries_a_secret() {
    let site = site();
    let wrong_password = "Tr0ub4dor&3-wrong";
    let (_, refused) = site.sign_in("finance@cedar.example", wrong_password).await;
    assert_eq!(refused.status, 401, "the sign-in page again, with its error");
    let (mut jar, _) = site.sign_in("finance@cedar.example", PASSWORD).await;
    let page = site.get(&mut jar, "/accounts/cedar/").await;
    let csrf = hidden(&page.body, "csrf");
    site.get(&mut jar, "/accounts/acme/").await;
    let session: Vec<String> = jar.0.iter().map(|(_, v)| v.clone()).collect();
    assert!(!session.is_empty());

    let operator = run(&site.db, &["key", "create", "--operator"], None).lines().next().unwrap().to_owned();
    let account = run(&site.db, &["key", "create", "--account", "bolt"], None).lines().next().unwrap().to_owned();
    let wrong_key = format!("{}x", &operator[..operator.len() - 1]);
    let call = |key: &str, method: &str, path: &str, body: serde_json::Value| {
        site.http
            .request(method.parse().unwrap(), format!("{}{path}", site.base))
            .header("authorization", format!("Bearer {key}"))
            .body(body.to_string())
            .send()
    };
    let made: serde_json::Value =
        call(&operator, "POST", "/api/v1/webhooks", serde_json::json!({"url": "https://hooks.example/x", "events": ["invoice.issued"]}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let secret = made["secret"].as_str().expect("the secret, once").to_owned();
    let mut errors = String::new();
    for (key, method, path) in [
        (wrong_key.as_str(), "GET", "/api/v1/accounts"),
        (account.as_str(), "GET", "/api/v1/accounts/cedar"),
        (account.as_str(), "POST", "/api/v1/verify"),
        (operator.as_str(), "POST", "/api/v1/accounts/bolt/top-ups"),
    ] {
        errors += &call(key, method, path, serde_json::json!({"amount": "1e3"})).await.unwrap().text().await.unwrap();
    }
    site.post(&mut jar, "/logout", &[("csrf", &csrf)]).await;
    // The server writes its log as it goes; it is read once the last answer arrived.
    let log = std::fs::read_to_string(site._dir.path().join("server.log")).unwrap();
    assert!(log.contains("request"), "the log has the requests: {}", &log[..log.len().min(500)]);
    let mut secrets = vec![PASSWORD.to_owned(), wrong_password.to_owned(), operator, account, wrong_key, secret, csrf];
    secrets.extend(session);
    for s in &secrets {
        assert!(!log.contains(s.as_str()), "the log carries a secret ({} characters)", s.len());
        assert!(!errors.contains(s.as_str()), "an error message carries a secret: {errors}");
    }
}

/// Every page, export and form of the Billing Center, walked by one customer against every
/// other account: each answers 404 and names nothing of that account, while an operator opens
/// the same pages (so each path is real); on its own account the customer's operator-only forms
/// answer 403 and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_reaches_no_page_or_form_of_another_account() {
    let site = site();
    let (mut customer, _) = site.sign_in("finance@cedar.example", PASSWORD).await;
    let (mut operator, _) = site.sign_in("ops@billcenter.example", PASSWORD).await;
    let csrf = hidden(&site.get(&mut customer, "/accounts/cedar/").await.body, "csrf");
    let lists = billcenter_http::web::PAGE_LISTS;
    let actions = ["buy-pack", "grant-pack", "refund", "upgrade", "renew", "auto-renew-on", "auto-renew-off"];
    let (mut pages, mut forms, mut name_seen) = (0, 0, Vec::new());
    for other in ["acme", "bolt", "dune", "ember", "fjord"] {
        let mut paths = vec![format!("/accounts/{other}/"), format!("/accounts/{other}/invoices/2026-10")];
        paths.push(format!("/accounts/{other}/invoices/2026-10/export?format=pdf"));
        paths.push(format!("/accounts/{other}/expenses/export?month=2026-10&format=focus"));
        for list in lists {
            paths.push(format!("/accounts/{other}/{list}"));
            for format in ["csv", "xlsx"] {
                paths.push(format!("/accounts/{other}/{list}/export?format={format}"));
            }
        }
        let name = site.get(&mut operator, &format!("/accounts/{other}/")).await.body;
        let name =
            name.split("<h1").nth(1).and_then(|h| h.split('>').nth(1)).and_then(|t| t.split('<').next()).unwrap_or(other).trim().to_owned();
        name_seen.push(name.clone());
        assert!(name.len() > 3, "{other}'s page is headed by its name, not `{name}`");
        for path in &paths {
            assert_eq!(site.get(&mut operator, path).await.status, 200, "the operator opens {path}");
            let answer = site.get(&mut customer, path).await;
            assert_eq!(answer.status, 404, "{path}");
            assert!(!answer.body.contains(&name), "{path} names {name}");
            pages += 1;
        }
        let mut posts: Vec<String> = lists.iter().map(|list| format!("/accounts/{other}/{list}")).collect();
        posts.extend(["issue", "reject", "reverse", "attach"].map(|d| format!("/accounts/{other}/tax-invoices/1/{d}")));
        posts.extend(actions.map(|a| format!("/accounts/{other}/actions/{a}")));
        for path in &posts {
            let form = [("csrf", csrf.as_str()), ("amount", "1.00"), ("pack", "log_events_100m"), ("reason", "x"), ("package", "pro")];
            let answer = site.post(&mut customer, path, &form).await;
            assert_eq!(answer.status, 404, "POST {path}");
            assert!(!answer.body.contains(&name), "POST {path} names {name}");
            forms += 1;
        }
    }
    let writes = || run(&site.db, &["verify"], None);
    let before = (writes(), site.get(&mut operator, "/accounts/cedar/transactions").await.body);
    for path in actions[1..]
        .iter()
        .map(|a| format!("/accounts/cedar/actions/{a}"))
        .chain(["issue", "reject", "reverse", "attach"].map(|d| format!("/accounts/cedar/tax-invoices/1/{d}")))
    {
        let form = [
            ("csrf", csrf.as_str()),
            ("amount", "1.00"),
            ("pack", "log_events_100m"),
            ("reason", "x"),
            ("package", "pro"),
            ("number", "1"),
            ("date", "2026-11-01"),
        ];
        assert_eq!(site.post(&mut customer, &path, &form).await.status, 403, "POST {path}");
        forms += 1;
    }
    let after = (writes(), site.get(&mut operator, "/accounts/cedar/transactions").await.body);
    assert_eq!(before, after, "a refused form changes nothing");
    eprintln!(
        "tenancy: {} accounts, {pages} pages and exports and {forms} forms of other accounts and operators walked by a customer",
        name_seen.len()
    );
}

/// The overview names the coupons and cards whose balance expires within 7 days, linked to
/// their list; one valid for longer, or with nothing left, is not named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_names_balances_about_to_expire() {
    let site = site();
    let (mut ops, _) = site.sign_in("ops@billcenter.example", PASSWORD).await;
    // fjord: a granted card of 500 valid until December 1 (6 days left on November 26), and
    // the card it bought, valid for a year.
    let page = site.get(&mut ops, "/accounts/fjord/").await;
    let section = page.body.split("<section class=\"card expiring\"").nth(1).and_then(|s| s.split("</section>").next()).unwrap_or_default();
    assert!(section.contains("Expiring within 7 days"), "{}", page.body);
    assert!(section.contains("<a href=\"/accounts/fjord/cards\">PC-2</a>") && section.contains("2026-12-01"), "{section}");
    assert!(section.contains("<td class=\"num\">6</td>"), "{section}");
    assert!(!section.contains("PC-1"), "a card valid for a year is not about to expire: {section}");
    let cards = run(&site.db, &["list", "cards", "--account", "fjord"], None);
    assert!(cards.lines().any(|l| l.starts_with("PC-2") && l.trim_end().ends_with("yes")), "the list agrees: {cards}");
    // cedar's coupons are used up: nothing to say.
    let (mut jar, _) = site.sign_in("finance@cedar.example", PASSWORD).await;
    let page = site.get(&mut jar, "/accounts/cedar/").await;
    assert!(!page.body.contains("card expiring"), "{}", page.body);
}
