//! The Billing Center's pages: the account list (operators), an account's overview, its five
//! lists, one invoice, and exports.

use std::str::FromStr;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::i18n::Tr;
use super::{Ctx, LangLink, LangQuery, chart, signed_in};
use crate::routes::{ListQuery, export_file, tables};
use crate::{ApiError, ApiState};

/// Rows on one page of a list.
pub const PAGE_ROWS: usize = 50;
/// The lists that have a page, in the navigation's order.
pub const PAGE_LISTS: [&str; 7] = ["invoices", "expenses", "transactions", "coupons", "cards", "packs", "tax-invoices"];

pub use export::group_thousands as money_text;

/// What the frame of every signed-in page shows.
pub(crate) struct Frame {
    pub t: Tr,
    pub title: String,
    pub email: String,
    pub csrf: String,
    pub operator: bool,
    pub langs: Vec<LangLink>,
    /// The navigation entry of this page.
    pub nav: &'static str,
    pub account: Option<AccountBar>,
}

/// The balances on top of every page of an account.
pub(crate) struct AccountBar {
    pub id: String,
    pub name: String,
    pub zone: String,
    pub currency: String,
    pub cash: String,
    pub coupons: String,
    pub cards: String,
    pub arrears: String,
    pub arrears_due: bool,
    pub state: String,
    pub state_label: String,
    pub suspends: Option<String>,
    pub billed: String,
}

impl Frame {
    fn new(ctx: &Ctx, title: String, nav: &'static str, account: Option<AccountBar>) -> Frame {
        Frame {
            t: ctx.t,
            title,
            email: ctx.session.user.email.clone(),
            csrf: ctx.session.csrf_token.clone(),
            operator: ctx.session.user.is_operator(),
            langs: ctx.lang_links(),
            nav,
            account,
        }
    }

    /// The id of the page's account (empty on pages of no account).
    pub fn account_id(&self) -> &str {
        self.account.as_ref().map_or("", |a| a.id.as_str())
    }

    pub fn is_current(&self, nav: &str) -> bool {
        self.nav == nav
    }

    /// The navigation of an account's pages: (key, label, href).
    pub fn nav_links(&self) -> Vec<(&'static str, &'static str, String)> {
        let Some(a) = &self.account else { return Vec::new() };
        let mut links = vec![("overview", self.t.t("nav-overview"), format!("/accounts/{}/", a.id))];
        for list in PAGE_LISTS {
            links.push((list, self.t.t(&format!("nav-{list}")), format!("/accounts/{}/{list}", a.id)));
        }
        links
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    f: Frame,
    heading: String,
    text: String,
}

/// The page of something that does not exist, or is another account's.
fn not_found_page(ctx: &Ctx) -> Response {
    let f = Frame::new(ctx, ctx.t.t("not-found-title").to_owned(), "", None);
    let page = MessagePage { heading: ctx.t.t("not-found-title").to_owned(), text: ctx.t.t("not-found-text").to_owned(), f };
    ctx.page(StatusCode::NOT_FOUND, page.render().expect("the message template renders"))
}

#[derive(Template)]
#[template(path = "plain.html")]
struct PlainPage {
    t: Tr,
    heading: String,
    text: String,
}

/// A 404 page for a visitor who may not be signed in.
pub(crate) fn plain_not_found(t: Tr) -> Response {
    let page = PlainPage { t, heading: t.t("not-found-title").to_owned(), text: t.t("not-found-text").to_owned() };
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page.render().expect("renders")).into_response()
}

/// The answer to a form that does not carry the session's CSRF token.
pub(crate) fn refused(ctx: &Ctx) -> Response {
    let f = Frame::new(ctx, ctx.t.t("error-title").to_owned(), "", None);
    let page = MessagePage { heading: ctx.t.t("error-title").to_owned(), text: ctx.t.t("form-refused").to_owned(), f };
    ctx.page(StatusCode::FORBIDDEN, page.render().expect("the message template renders"))
}

/// A refused filter or another error of the request, shown on a page.
fn error_page(ctx: &Ctx, e: ApiError) -> Response {
    if e.status == StatusCode::NOT_FOUND {
        return not_found_page(ctx);
    }
    if e.status.is_server_error() {
        return e.into_response();
    }
    let f = Frame::new(ctx, ctx.t.t("error-title").to_owned(), "", None);
    let page = MessagePage { heading: ctx.t.t("error-title").to_owned(), text: error_text(ctx.t, &e), f };
    ctx.page(e.status, page.render().expect("the message template renders"))
}

/// What a page says of a refused request, in the page's language: the catalogue's message of
/// the field at fault (or of the error's code). English adds the server's own words, which
/// name the value refused.
fn error_text(t: Tr, e: &ApiError) -> String {
    let said = match (e.code, e.field.as_deref()) {
        ("invalid_input", Some(field)) => t.get(&format!("error-invalid-{field}")).map_or_else(
            || {
                let label = t.get(&format!("col-{}", field.replace('-', "_"))).unwrap_or(field);
                t.f("error-invalid", &[("field", label)])
            },
            str::to_owned,
        ),
        (code, _) => t.get(&format!("error-code-{code}")).unwrap_or_else(|| t.t("error-code-other")).to_owned(),
    };
    match t.lang {
        super::i18n::Lang::En => format!("{said} ({})", e.message),
        _ => said,
    }
}

/// The bar of an account this user may see; `None` when the account is another's or absent.
async fn account_bar(st: &ApiState, ctx: &Ctx, account_id: &str) -> Result<Option<AccountBar>, ApiError> {
    if !ctx.session.user.may_see(account_id) {
        return Ok(None);
    }
    let account = match st.app.account(account_id).await {
        Ok(a) => a,
        Err(app::AppError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let balances = st.app.balances(ctx.now, account_id).await?;
    let row = &balances.rows[0];
    let t = ctx.t;
    let state = account.row.state.clone();
    let suspends = account.suspends_on().map(|d| t.f("suspends-on", &[("day", &d.to_string())]));
    Ok(Some(AccountBar {
        id: account.id().to_owned(),
        name: account.row.name.clone(),
        zone: account.row.time_zone.clone(),
        currency: account.row.currency.clone(),
        cash: money_text(row[1].as_str()),
        coupons: money_text(row[2].as_str()),
        cards: money_text(row[3].as_str()),
        arrears: money_text(row[4].as_str()),
        arrears_due: account.row.cash < 0,
        state_label: t.t(&format!("state-{state}")).to_owned(),
        state,
        suspends,
        billed: match account.row.billed_through {
            Some(d) => t.f("billed-through", &[("day", &d.to_string())]),
            None => t.t("not-billed-yet").to_owned(),
        },
    }))
}

/// Signs in and finds the account's bar, or answers the page that says why not.
async fn account_page(
    st: &ApiState,
    headers: &HeaderMap,
    uri: &Uri,
    lang: Option<&str>,
    account_id: &str,
) -> Result<(Ctx, AccountBar), Response> {
    let ctx = signed_in(st, headers, uri, lang).await?;
    match account_bar(st, &ctx, account_id).await {
        Ok(Some(bar)) => Ok((ctx, bar)),
        Ok(None) => Err(not_found_page(&ctx)),
        Err(e) => Err(error_page(&ctx, e)),
    }
}

/// `account_page` for a form posted to an account's page: refused unless it carries the
/// session's CSRF token.
async fn posted_to_account(
    st: &ApiState,
    headers: &HeaderMap,
    uri: &Uri,
    account_id: &str,
    csrf: &str,
) -> Result<(Ctx, AccountBar), Response> {
    let (ctx, bar) = account_page(st, headers, uri, None, account_id).await?;
    if !app::users::same_token(&ctx.session.csrf_token, csrf) {
        return Err(refused(&ctx));
    }
    Ok((ctx, bar))
}

// ---- the operator's account list ----------------------------------------------------------

#[derive(Deserialize, Default)]
pub(crate) struct AccountsQuery {
    q: Option<String>,
    lang: Option<String>,
}

pub(crate) struct AccountRowView {
    pub id: String,
    pub name: String,
    pub state: String,
    pub state_label: String,
    pub cash: String,
    pub currency: String,
    pub zone: String,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    f: Frame,
    q: String,
    rows: Vec<AccountRowView>,
}

pub(crate) async fn accounts(State(st): State<ApiState>, headers: HeaderMap, uri: Uri, Query(q): Query<AccountsQuery>) -> Response {
    let ctx = match signed_in(&st, &headers, &uri, q.lang.as_deref()).await {
        Ok(ctx) => ctx,
        Err(r) => return r,
    };
    if let Some(own) = &ctx.session.user.account_id {
        return axum::response::Redirect::to(&format!("/accounts/{own}/")).into_response();
    }
    let all = match st.app.accounts().await {
        Ok(a) => a,
        Err(e) => return error_page(&ctx, e.into()),
    };
    let needle = q.q.clone().unwrap_or_default().trim().to_lowercase();
    let rows = all
        .iter()
        .filter(|a| needle.is_empty() || a.id().to_lowercase().contains(&needle) || a.row.name.to_lowercase().contains(&needle))
        .map(|a| AccountRowView {
            id: a.id().to_owned(),
            name: a.row.name.clone(),
            state_label: ctx.t.t(&format!("state-{}", a.row.state)).to_owned(),
            state: a.row.state.clone(),
            cash: money_text(&a.currency.format(billing::Amount(a.row.cash))),
            currency: a.row.currency.clone(),
            zone: a.row.time_zone.clone(),
        })
        .collect();
    let f = Frame::new(&ctx, ctx.t.t("accounts-title").to_owned(), "accounts", None);
    let page = AccountsPage { f, q: q.q.unwrap_or_default(), rows };
    ctx.page(StatusCode::OK, page.render().expect("the accounts template renders"))
}

// ---- overview -----------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub(crate) struct OverviewQuery {
    days: Option<i32>,
    from: Option<String>,
    to: Option<String>,
    lang: Option<String>,
    /// An operator's action just done (see `account_action`).
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    f: Frame,
    month_to_date: String,
    last_month_total: String,
    chart_svg: String,
    legend: Vec<(String, &'static str)>,
    chart_has_spend: bool,
    days: i32,
    from: String,
    to: String,
    top_workspaces: Vec<(String, String)>,
    top_items: Vec<(String, String)>,
    zone_note: String,
    /// The packages in force or bought ahead: (plan name, from, until, renews itself).
    packages: Vec<(String, String, String, bool)>,
    /// The resource packs with volume left: (name, what is left of the volume, valid until).
    packs: Vec<(String, String, String)>,
    /// Coupons and cards expiring within 7 days: (code, list page, balance, valid until, days left).
    expiring: Vec<(String, &'static str, String, String, String)>,
    /// Plans an operator may upgrade the package in force to: (code, name with price).
    upgrades: Vec<(String, String)>,
    /// What the operator's form just did, said once.
    notice: Option<String>,
}

pub(crate) async fn overview(
    State(st): State<ApiState>,
    headers: HeaderMap,
    uri: Uri,
    Path(account_id): Path<String>,
    Query(q): Query<OverviewQuery>,
) -> Response {
    let (ctx, bar) = match account_page(&st, &headers, &uri, q.lang.as_deref(), &account_id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let date = |field: &str, text: &Option<String>| -> Result<Option<jiff::civil::Date>, ApiError> {
        match text.as_deref().filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => s.parse().map(Some).map_err(|_| ApiError::invalid(field, format!("`{s}` is not a date (YYYY-MM-DD)"))),
        }
    };
    let range = match (date("from", &q.from), date("to", &q.to)) {
        (Ok(Some(from)), Ok(Some(to))) => Some((from, to)),
        (Err(e), _) | (_, Err(e)) => return error_page(&ctx, e),
        _ => None,
    };
    let days = q.days.unwrap_or(30);
    let o = match st.app.overview(ctx.now, &account_id, days, range).await {
        Ok(o) => o,
        Err(e) => return error_page(&ctx, e.into()),
    };
    let cur = o.account.currency;
    let fmt = |minor: i64| format!("{} {}", money_text(&cur.format(billing::Amount(minor))), cur.code());
    let svg = chart::daily_spend(&o, ctx.t);
    let legend = o.items.iter().enumerate().map(|(i, item)| (item.clone(), chart::color(i))).collect();
    // Package purchases belong to no workspace: the account's own row.
    let named = |k: &str| if k.is_empty() { ctx.t.t("account-level").to_owned() } else { k.to_owned() };
    let top = |v: &[(String, i64)]| v.iter().take(5).map(|(k, a)| (named(k), fmt(*a))).collect();
    let catalog = st.app.catalog().await.ok();
    let plan_name = |code: &str| catalog.as_ref().and_then(|c| c.packages.get(code)).map_or(code.to_owned(), |p| p.name.clone());
    let packages = o
        .packages
        .iter()
        .map(|p| {
            let until = p.end_day.yesterday().map(|d| d.to_string()).unwrap_or_default();
            (plan_name(&p.plan), p.start_day.to_string(), until, p.auto_renew)
        })
        .collect();
    let packs = o
        .packs
        .iter()
        .map(|p| {
            let name = catalog.as_ref().and_then(|c| c.packs.get(&p.offer)).map(|o| o.name.clone()).unwrap_or_else(|| p.offer.clone());
            let q = |v: i64| money_text(&app::packs::quantity_text(v));
            let left = ctx.t.f("pack-left", &[("remaining", &q(p.remaining)), ("volume", &q(p.volume))]);
            (name, left, p.valid_until.to_string())
        })
        .collect();
    let expiring = o
        .expiring
        .iter()
        .map(|(i, left)| {
            let list = if i.kind == "card" { "cards" } else { "coupons" };
            (i.code.clone(), list, fmt(i.balance), i.valid_until.to_string(), left.to_string())
        })
        .collect();
    let in_force = o.packages.iter().find(|p| p.start_day <= o.today);
    let upgrades = match (&catalog, in_force) {
        (Some(c), Some(p)) => c
            .packages
            .values()
            .filter(|plan| plan.price.minor() > p.price)
            .map(|plan| (plan.code.clone(), format!("{} · {}", plan.name, fmt(plan.price.minor()))))
            .collect(),
        _ => Vec::new(),
    };
    let notice = q.done.as_deref().and_then(|d| ctx.t.get(&format!("done-{d}"))).map(str::to_owned);
    let f = Frame::new(&ctx, format!("{} · {}", ctx.t.t("nav-overview"), bar.name), "overview", Some(bar));
    let zone_note = ctx.t.f("all-times-in", &[("zone", o.account.row.time_zone.as_str())]);
    let page = OverviewPage {
        month_to_date: fmt(o.month_to_date),
        last_month_total: ctx.t.f("last-month-total", &[("amount", &fmt(o.last_month_total))]),
        chart_has_spend: o.daily.iter().any(|(_, v)| v.iter().any(|a| *a > 0)),
        chart_svg: svg,
        legend,
        days,
        from: o.chart_from.to_string(),
        to: o.chart_to.yesterday().map(|d| d.to_string()).unwrap_or_default(),
        top_workspaces: top(&o.top_workspaces),
        top_items: top(&o.top_items),
        zone_note,
        packages,
        packs,
        expiring,
        upgrades,
        notice,
        f,
    };
    ctx.page(StatusCode::OK, page.render().expect("the overview template renders"))
}

#[derive(Deserialize, Default)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    package: String,
    #[serde(default)]
    pack: String,
}

/// An action on an account: an operator's `refund` of cash, `upgrade` or `renew` of the annual
/// package, `auto-renew-on` / `auto-renew-off` (from the overview) and `grant-pack`; anyone
/// who may see the account may `buy-pack` (from the resource packs page) with its funds.
pub(crate) async fn account_action(
    State(st): State<ApiState>,
    headers: HeaderMap,
    uri: Uri,
    Path((account_id, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    let (ctx, _) = match posted_to_account(&st, &headers, &uri, &account_id, &form.csrf).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if action != "buy-pack" && !ctx.session.user.is_operator() {
        return error_page(&ctx, ApiError::forbidden());
    }
    let (app, now, id) = (&st.app, ctx.now, account_id.as_str());
    let pack = |origin| app.add_pack(now, id, &form.pack, None, origin);
    let done: Result<(), app::AppError> = match action.as_str() {
        "buy-pack" => pack(app::packs::PackOrigin::Bought).await.map(drop),
        "grant-pack" => pack(app::packs::PackOrigin::Granted).await.map(drop),
        "refund" => app.refund(now, id, &form.amount, &form.reason).await.map(drop),
        "upgrade" => app.upgrade_package(now, id, &form.package).await.map(drop),
        "renew" => app.renew_package(now, id, None).await.map(drop),
        "auto-renew-on" => app.set_package_auto_renew(id, true).await.map(drop),
        "auto-renew-off" => app.set_package_auto_renew(id, false).await.map(drop),
        _ => return not_found_page(&ctx),
    };
    let page = if action.ends_with("-pack") { "packs" } else { "" };
    match done {
        Ok(()) => Redirect::to(&format!("/accounts/{account_id}/{page}?done={action}")).into_response(),
        Err(e) => error_page(&ctx, e.into()),
    }
}

// ---- lists --------------------------------------------------------------------------------

pub(crate) struct Head {
    pub label: String,
    pub numeric: bool,
}

pub(crate) struct CellView {
    pub text: String,
    pub numeric: bool,
    /// A download the cell links to (a tax invoice's PDF), relative to the list's page.
    pub href: Option<String>,
}

pub(crate) struct RowView {
    pub cells: Vec<CellView>,
    pub soon: bool,
}

/// A table as a page shows it: translated headers (with the column's currency or zone note),
/// translated values, grouped amounts.
pub(crate) struct TableView {
    pub heads: Vec<Head>,
    pub rows: Vec<RowView>,
    /// The totals row over every row of the filter, not only the page's.
    pub totals: Option<Vec<CellView>>,
}

/// Columns of quantities, shown with their thousands grouped (exports keep plain numbers).
const QUANTITIES: [&str; 6] = ["quantity", "package_covered", "priced_quantity", "volume", "used", "remaining"];

/// Columns whose values are codes the catalogue translates.
const TRANSLATED: [&str; 8] = ["status", "charge_type", "type", "direction", "kind", "origin", "expiring_soon", "scope"];

fn heads(table: &export::Table, t: Tr) -> Vec<Head> {
    let numeric_column = |c: usize| table.rows.first().is_some_and(|r| r[c].is_numeric()) || table.totals.contains(&c);
    table
        .keys()
        .iter()
        .zip(&table.columns)
        .enumerate()
        .map(|(c, (key, title))| {
            let note = title.split_once(" (").map(|(_, n)| format!(" ({n}")).unwrap_or_default();
            Head { label: format!("{}{note}", t.t(&format!("col-{key}"))), numeric: numeric_column(c) }
        })
        .collect()
}

fn cell_view(key: &str, cell: &export::Cell, t: Tr) -> CellView {
    let text = match cell {
        // The page links to the PDF its fingerprint names (the exports keep the fingerprint).
        export::Cell::Text(s) if key == "pdf_sha256" && !s.is_empty() => t.t("tax-pdf-download").to_owned(),
        export::Cell::Money(s) => money_text(s),
        export::Cell::Number(s) if QUANTITIES.contains(&key) => money_text(s),
        export::Cell::Text(s) if TRANSLATED.contains(&key) && !s.is_empty() => t.value(s),
        other => other.as_str().to_owned(),
    };
    CellView { text, numeric: cell.is_numeric(), href: None }
}

fn table_view(table: &export::Table, rows: &[Vec<export::Cell>], t: Tr, with_totals: bool) -> TableView {
    let keys = table.keys();
    let soon_col = keys.iter().position(|k| k == "expiring_soon");
    let totals = (with_totals && !table.totals.is_empty() && !table.rows.is_empty()).then(|| {
        (0..keys.len())
            .map(|c| {
                if c == 0 {
                    return CellView {
                        text: t.f("total-all-rows", &[("count", &table.rows.len().to_string())]),
                        numeric: false,
                        href: None,
                    };
                }
                if !table.totals.contains(&c) {
                    return CellView { text: String::new(), numeric: false, href: None };
                }
                let sum: Decimal = table.rows.iter().filter_map(|r| Decimal::from_str(r[c].as_str()).ok()).sum();
                let money = matches!(table.rows[0][c], export::Cell::Money(_));
                let digits = table.rows[0][c].as_str().split_once('.').map_or(0, |(_, f)| f.len() as u32);
                let text = if money { money_text(&sum.round_dp(digits).to_string()) } else { sum.normalize().to_string() };
                CellView { text, numeric: true, href: None }
            })
            .collect()
    });
    TableView {
        heads: heads(table, t),
        rows: rows
            .iter()
            .map(|r| RowView {
                cells: r
                    .iter()
                    .zip(&keys)
                    .map(|(cell, key)| {
                        let mut view = cell_view(key, cell, t);
                        if key == "pdf_sha256" && !cell.as_str().is_empty() {
                            view.href = Some(format!("tax-invoices/{}/pdf", r[0].as_str()));
                        }
                        view
                    })
                    .collect(),
                soon: soon_col.is_some_and(|c| r[c].as_str() == "yes"),
            })
            .collect(),
        totals,
    }
}

/// One filter field of a list page.
pub(crate) struct Field {
    pub name: &'static str,
    pub label: String,
    /// `month`, `date`, `text` or `select`.
    pub kind: &'static str,
    pub value: String,
    /// For selects: (value, label); the first is "any".
    pub options: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "list.html")]
struct ListPage {
    f: Frame,
    list: String,
    heading: String,
    fields: Vec<Field>,
    table: TableView,
    summary: Option<TableView>,
    count: usize,
    page_note: String,
    next_href: Option<String>,
    first_href: Option<String>,
    exports: Vec<(String, String)>,
    empty: String,
    zone_note: String,
    summary_title: String,
    /// A change this page's form just made, said once.
    notice: Option<String>,
    /// The tax invoice request form and the operator's decisions (the tax invoices page).
    tax: Option<TaxForms>,
    /// The catalog's packs to buy (or grant), as (code, label) (the resource packs page).
    pack_offers: Option<Vec<(String, String)>>,
}

/// What a customer fills in to request a tax invoice, as the form last held it.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct TaxRequestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    months: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    tax_id: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    email: String,
}

/// The tax invoices page's forms: the request (with what it last held and why it was
/// refused) and, for operators, a decision form for each open or issued request.
pub(crate) struct TaxForms {
    pub form: TaxRequestForm,
    pub error: Option<String>,
    pub kinds: Vec<(String, String)>,
    pub currency: String,
    /// (request no, status label, amount, can issue or reject, can reverse)
    pub decisions: Vec<(i64, String, String, bool, bool)>,
}

/// A filter value the form left empty means no filter.
fn given(v: &Option<String>) -> Option<String> {
    v.as_ref().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn cleaned(q: &ListQuery) -> ListQuery {
    ListQuery {
        from: given(&q.from),
        to: given(&q.to),
        month: given(&q.month),
        workspace: given(&q.workspace),
        item: given(&q.item),
        charge_type: given(&q.charge_type),
        kind: given(&q.kind),
        fund: given(&q.fund),
        status: given(&q.status),
        limit: None,
        cursor: given(&q.cursor),
        format: None,
    }
}

fn query_of(q: &ListQuery) -> String {
    serde_urlencoded::to_string(q).unwrap_or_default()
}

async fn fields(st: &ApiState, t: Tr, list: &str, account: &str, q: &ListQuery) -> Result<Vec<Field>, ApiError> {
    let any = || (String::new(), t.t("any").to_owned());
    let select = |name: &'static str, value: &Option<String>, values: Vec<String>| Field {
        name,
        label: t.t(&format!("filter-{name}")).to_owned(),
        kind: "select",
        value: value.clone().unwrap_or_default(),
        options: std::iter::once(any()).chain(values.into_iter().map(|v| (v.clone(), t.value(&v)))).collect(),
    };
    let input = |name: &'static str, label: &str, kind: &'static str, value: &Option<String>| Field {
        name,
        label: t.t(label).to_owned(),
        kind,
        value: value.clone().unwrap_or_default(),
        options: Vec::new(),
    };
    let statuses = || ["active", "not_yet_valid", "used_up", "expired"].map(str::to_owned).to_vec();
    Ok(match list {
        "invoices" => vec![input("from", "filter-from-month", "month", &q.from), input("to", "filter-to-month", "month", &q.to)],
        "expenses" => {
            let workspaces = st.app.workspaces(account).await?.into_iter().map(|w| w.workspace_id).collect();
            let items = st.app.catalog().await.map(|c| c.items.keys().cloned().collect()).unwrap_or_default();
            vec![
                input("month", "filter-month", "month", &q.month),
                input("from", "filter-from", "date", &q.from),
                input("to", "filter-to", "date", &q.to),
                select("workspace", &q.workspace, workspaces),
                select("item", &q.item, items),
                select("charge_type", &q.charge_type, billing::ChargeType::ALL.iter().map(|c| c.as_str().to_owned()).collect()),
            ]
        }
        "transactions" => vec![
            input("from", "filter-from", "date", &q.from),
            input("to", "filter-to", "date", &q.to),
            select("type", &q.kind, billing::TxKind::ALL.iter().map(|k| k.as_str().to_owned()).collect()),
            select("fund", &q.fund, ["cash", "coupon", "card"].map(str::to_owned).to_vec()),
        ],
        "tax-invoices" => {
            vec![select("status", &q.status, billing::TaxInvoiceStatus::ALL.iter().map(|s| s.as_str().to_owned()).collect())]
        }
        _ => vec![select("status", &q.status, statuses())],
    })
}

/// Notices a list page says once, after one of its forms changed something.
#[derive(Deserialize, Default)]
pub(crate) struct NoticeQuery {
    requested: Option<i64>,
    decided: Option<i64>,
    /// An action that succeeded (`buy-pack`, `grant-pack`).
    done: Option<String>,
}

pub(crate) async fn list(
    State(st): State<ApiState>,
    headers: HeaderMap,
    uri: Uri,
    Path((account_id, list)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
    Query(lang): Query<LangQuery>,
    Query(notice): Query<NoticeQuery>,
) -> Response {
    let (ctx, bar) = match account_page(&st, &headers, &uri, lang.lang.as_deref(), &account_id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !PAGE_LISTS.contains(&list.as_str()) {
        return not_found_page(&ctx);
    }
    let t = ctx.t;
    let said = match (notice.requested, notice.decided) {
        (Some(no), _) => Some(t.f("tax-requested", &[("no", &no.to_string())])),
        (_, Some(no)) => Some(t.f("tax-decided", &[("no", &no.to_string())])),
        _ => notice.done.and_then(|d| t.get(&format!("done-{d}"))).map(str::to_owned),
    };
    render_list(&st, &ctx, bar, &account_id, list, &cleaned(&q), said, TaxRequestForm::default(), None, StatusCode::OK).await
}

/// A list page: its filters, a page of rows, the totals, the exports; on the tax invoices page
/// the request form (as it was last filled in, with why it was refused) and the decisions.
#[allow(clippy::too_many_arguments)]
async fn render_list(
    st: &ApiState,
    ctx: &Ctx,
    bar: AccountBar,
    account_id: &str,
    list: String,
    q: &ListQuery,
    notice: Option<String>,
    form: TaxRequestForm,
    form_error: Option<String>,
    status: StatusCode,
) -> Response {
    let t = ctx.t;
    let shown = if list == "expenses" {
        expense_rows(st, t, account_id, &bar.currency, q).await
    } else {
        listed_rows(st, ctx.now, t, account_id, &list, q).await
    };
    let shown = match shown {
        Ok(s) => s,
        Err(e) => return error_page(ctx, e),
    };
    let base = format!("/accounts/{account_id}/{list}");
    let with_cursor = |cursor: Option<String>| {
        let query = query_of(&ListQuery { cursor, ..q.clone() });
        if query.is_empty() { base.clone() } else { format!("{base}?{query}") }
    };
    let next_href = shown.next.clone().map(|c| with_cursor(Some(c)));
    let first_href = q.cursor.is_some().then(|| with_cursor(None));
    let export_query = query_of(&ListQuery { cursor: None, ..q.clone() });
    let formats: &[&str] = if list == "expenses" { &["csv", "xlsx", "focus"] } else { &["csv", "xlsx"] };
    let exports = formats
        .iter()
        .map(|fmt| {
            let sep = if export_query.is_empty() { "" } else { "&" };
            (t.t(&format!("export-{fmt}")).to_owned(), format!("{base}/export?{export_query}{sep}format={fmt}"))
        })
        .collect();
    let fields = match fields(st, t, &list, account_id, q).await {
        Ok(f) => f,
        Err(e) => return error_page(ctx, e),
    };
    let tax = if list == "tax-invoices" {
        match tax_forms(st, ctx, account_id, form, form_error).await {
            Ok(forms) => Some(forms),
            Err(e) => return error_page(ctx, e),
        }
    } else {
        None
    };
    let pack_offers = if list == "packs" {
        match st.app.catalog().await {
            Ok(c) => Some(
                c.packs
                    .values()
                    .map(|o| {
                        let volume = money_text(&o.volume.to_decimal().normalize().to_string());
                        let item = c.items.get(&o.item).map(|i| i.name.as_str()).unwrap_or(&o.item);
                        let price = money_text(&c.currency.format(o.price));
                        (o.code.clone(), format!("{} · {volume} {item} · {} {price}", o.name, c.currency.code()))
                    })
                    .collect(),
            ),
            Err(e) => return error_page(ctx, e.into()),
        }
    } else {
        None
    };
    let heading = t.t(&format!("nav-{list}")).to_owned();
    let zone_note = t.f("all-times-in", &[("zone", &bar.zone)]);
    let f = Frame::new(ctx, format!("{heading} · {}", bar.name), PAGE_LISTS.iter().find(|l| **l == list).copied().unwrap_or(""), Some(bar));
    let page = ListPage {
        f,
        heading,
        fields,
        table: shown.view,
        summary: shown.summary,
        count: shown.count,
        page_note: shown.note,
        next_href,
        first_href,
        exports,
        empty: t.t(&format!("empty-{list}")).to_owned(),
        zone_note,
        summary_title: t.get(&format!("summary-title-{list}")).unwrap_or_default().to_owned(),
        notice,
        tax,
        pack_offers,
        list,
    };
    ctx.page(status, page.render().expect("the list template renders"))
}

async fn tax_forms(st: &ApiState, ctx: &Ctx, account_id: &str, form: TaxRequestForm, error: Option<String>) -> Result<TaxForms, ApiError> {
    let t = ctx.t;
    let mut decisions = Vec::new();
    let account = st.app.account(account_id).await?;
    if ctx.session.user.is_operator() {
        for r in st.app.tax_invoice_requests(account_id).await?.iter().rev() {
            let (open, issued) = (r.status == "requested", r.status == "issued");
            if open || issued {
                let amount = format!("{} {}", money_text(&account.currency.format(billing::Amount(r.amount))), account.currency.code());
                decisions.push((r.request_no, t.value(&r.status), amount, open, issued));
            }
        }
    }
    let kinds = billing::TaxInvoiceKind::ALL.iter().map(|k| (k.as_str().to_owned(), t.value(k.as_str()))).collect();
    Ok(TaxForms { form, error, kinds, currency: account.currency.code().to_owned(), decisions })
}

/// A customer's (or an operator's, for the customer) request for a tax invoice, from the tax
/// invoices page's form.
pub(crate) async fn tax_request(
    State(st): State<ApiState>,
    headers: HeaderMap,
    uri: Uri,
    Path((account_id, list)): Path<(String, String)>,
    Form(form): Form<TaxRequestForm>,
) -> Response {
    let (ctx, bar) = match account_page(&st, &headers, &uri, None, &account_id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if list != "tax-invoices" {
        return not_found_page(&ctx);
    }
    if !app::users::same_token(&ctx.session.csrf_token, &form.csrf) {
        return refused(&ctx);
    }
    let req = app::tax_invoice::TaxInvoiceRequest {
        amount: form.amount.clone(),
        months: form.months.split([',', ' ']).map(str::trim).filter(|m| !m.is_empty()).map(str::to_owned).collect(),
        kind: form.kind.clone(),
        title: form.title.clone(),
        tax_id: form.tax_id.clone(),
        address: form.address.clone(),
        email: form.email.clone(),
    };
    match st.app.request_tax_invoice(ctx.now, &account_id, &req).await {
        Ok(row) => Redirect::to(&format!("/accounts/{account_id}/tax-invoices?requested={}", row.request_no)).into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status.is_server_error() {
                return e.into_response();
            }
            let said = if e.code == "insufficient_funds" {
                let english = if ctx.t.lang == super::i18n::Lang::En { format!(" ({})", e.message) } else { String::new() };
                format!("{}{english}", ctx.t.t("error-tax-more-than-available"))
            } else {
                error_text(ctx.t, &e)
            };
            let status = e.status;
            render_list(&st, &ctx, bar, &account_id, list, &ListQuery::default(), None, form, Some(said), status).await
        }
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct TaxDecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    reason: String,
}

/// A decision form as posted: URL-encoded, or multipart when it carries a file (the issue and
/// attach forms' PDF, in the `pdf` field; absent when no file was chosen).
async fn decision_form(request: axum::extract::Request) -> Result<(TaxDecisionForm, Option<Vec<u8>>), ApiError> {
    use axum::extract::FromRequest;
    let multipart = request.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"multipart/form-data"));
    if !multipart {
        let Form(form) = Form::<TaxDecisionForm>::from_request(request, &()).await.map_err(|e| ApiError::invalid("form", e.body_text()))?;
        return Ok((form, None));
    }
    let bad = |e: axum::extract::multipart::MultipartError| ApiError::invalid("form", e.body_text());
    let mut parts = axum::extract::Multipart::from_request(request, &()).await.map_err(|e| ApiError::invalid("form", e.body_text()))?;
    let (mut form, mut pdf) = (TaxDecisionForm::default(), None);
    while let Some(part) = parts.next_field().await.map_err(bad)? {
        let name = part.name().unwrap_or_default().to_owned();
        if name == "pdf" {
            let chosen = part.file_name().is_some_and(|f| !f.is_empty());
            let bytes = part.bytes().await.map_err(bad)?;
            pdf = (chosen || !bytes.is_empty()).then(|| bytes.to_vec());
            continue;
        }
        let text = part.text().await.map_err(bad)?;
        match name.as_str() {
            "csrf" => form.csrf = text,
            "number" => form.number = text,
            "date" => form.date = text,
            "reason" => form.reason = text,
            _ => {}
        }
    }
    Ok((form, pdf))
}

/// An operator's decision on a tax invoice request, from the tax invoices page: issue (with its
/// PDF if one is chosen), reject, reverse, or attach the PDF of an issued one.
pub(crate) async fn tax_decision(
    State(st): State<ApiState>,
    headers: HeaderMap,
    uri: Uri,
    Path((account_id, request_no, decision)): Path<(String, String, String)>,
    request: axum::extract::Request,
) -> Response {
    let posted = decision_form(request).await;
    let csrf = posted.as_ref().map(|(f, _)| f.csrf.as_str()).unwrap_or_default();
    let (ctx, _) = match posted_to_account(&st, &headers, &uri, &account_id, csrf).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (form, pdf) = match posted {
        Ok(v) => v,
        Err(e) => return error_page(&ctx, e),
    };
    if !ctx.session.user.is_operator() {
        return error_page(&ctx, ApiError::forbidden());
    }
    let Ok(request_no) = request_no.parse::<i64>() else { return not_found_page(&ctx) };
    let d = match decision.as_str() {
        "issue" => app::tax_invoice::Decision::Issue { invoice_no: form.number, issued_on: form.date, pdf },
        "reject" => app::tax_invoice::Decision::Reject { reason: form.reason },
        "reverse" => app::tax_invoice::Decision::Reverse { reason: form.reason },
        "attach" => {
            let Some(pdf) = pdf else { return error_page(&ctx, ApiError::invalid("pdf", "choose the tax invoice's PDF file")) };
            return match st.app.attach_tax_invoice_pdf(ctx.now, &account_id, request_no, pdf).await {
                Ok(_) => Redirect::to(&format!("/accounts/{account_id}/tax-invoices?decided={request_no}")).into_response(),
                Err(e) => error_page(&ctx, e.into()),
            };
        }
        _ => return not_found_page(&ctx),
    };
    match st.app.decide_tax_invoice(ctx.now, &account_id, request_no, &d).await {
        Ok(_) => Redirect::to(&format!("/accounts/{account_id}/tax-invoices?decided={request_no}")).into_response(),
        Err(e) => error_page(&ctx, e.into()),
    }
}

/// The PDF attached to a tax invoice, from the tax invoices page's link (`.../{request}/pdf`).
pub(crate) async fn tax_invoice_file(
    State(st): State<ApiState>,
    headers: HeaderMap,
    uri: Uri,
    Path((account_id, request_no, file)): Path<(String, String, String)>,
) -> Response {
    let (ctx, _) = match account_page(&st, &headers, &uri, None, &account_id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (true, Ok(request_no)) = (file == "pdf", request_no.parse::<i64>()) else { return not_found_page(&ctx) };
    match crate::routes::tax_invoice_pdf_file(&st, &account_id, request_no).await {
        Ok(file) => file,
        Err(e) => error_page(&ctx, e),
    }
}

/// What a list page shows of its filter: one page of rows, the totals of them all, a summary.
struct Shown {
    view: TableView,
    summary: Option<TableView>,
    /// Rows on this page (zero: the empty state).
    count: usize,
    note: String,
    /// The next page's cursor.
    next: Option<String>,
}

/// A list held whole (invoices, transactions, coupons, cards: an account has few of them),
/// paged in memory, newest first.
async fn listed_rows(st: &ApiState, now: jiff::Timestamp, t: Tr, account: &str, list: &str, q: &ListQuery) -> Result<Shown, ApiError> {
    let (mut table, summary) = tables(st, now, account, list, q).await?;
    table.rows.reverse();
    let count = table.rows.len();
    let start = match q.cursor.as_deref().map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) if n <= count => n,
        Some(_) => return Err(ApiError::invalid("cursor", "not a page of this list")),
    };
    let end = (start + PAGE_ROWS).min(count);
    let note = if count == 0 {
        String::new()
    } else {
        t.f("page-of", &[("from", &(start + 1).to_string()), ("to", &end.to_string()), ("count", &count.to_string())])
    };
    Ok(Shown {
        view: table_view(&table, &table.rows[start..end], t, true),
        summary: summary.map(|s| table_view(&s, &s.rows, t, false)),
        count: end - start,
        note,
        next: (end < count).then(|| end.to_string()),
    })
}

/// Detailed expenses, which run to millions of lines a month: a page read by its cursor (a
/// billing day and line), the totals from the running month totals where the filter allows.
async fn expense_rows(st: &ApiState, t: Tr, account: &str, currency: &str, q: &ListQuery) -> Result<Shown, ApiError> {
    let filter = q.expense_filter();
    let (table, next) = st.app.expense_page(account, &filter, q.cursor.as_deref(), PAGE_ROWS).await?;
    let sums = st.app.expense_totals(account, &filter).await?;
    let currency = billing::Currency::parse(currency).map_err(|e| ApiError::invalid("currency", e.to_string()))?;
    let money = |minor: i64| money_text(&currency.format(billing::Amount(minor)));
    let mut view = table_view(&table, &table.rows, t, false);
    if !table.rows.is_empty() {
        let totals = table
            .keys()
            .iter()
            .enumerate()
            .map(|(c, key)| {
                let text = match key.as_str() {
                    _ if c == 0 => t.t("total-filter").to_owned(),
                    "gross" => money(sums.gross),
                    "rounding_discount" => {
                        billing::money::from_scaled(sums.rounding_discount, billing::money::EXACT_SCALE).normalize().to_string()
                    }
                    "coupon" => money(sums.coupon),
                    "prepaid_card" => money(sums.card),
                    "cash" => money(sums.cash),
                    "arrears" => money(sums.arrears),
                    _ => return CellView { text: String::new(), numeric: false, href: None },
                };
                CellView { text, numeric: c > 0, href: None }
            })
            .collect();
        view.totals = Some(totals);
    }
    let count = table.rows.len();
    Ok(Shown { view, summary: None, count, note: t.f("page-rows", &[("count", &count.to_string())]), next })
}

/// A list's export: the whole filtered set as CSV or XLSX, like the API's export.
pub(crate) async fn export(
    State(st): State<ApiState>,
    headers: HeaderMap,
    uri: Uri,
    Path((account_id, list)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> Response {
    let (ctx, bar) = match account_page(&st, &headers, &uri, None, &account_id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !PAGE_LISTS.contains(&list.as_str()) {
        return not_found_page(&ctx);
    }
    if list == "expenses" && q.format.as_deref() == Some("focus") {
        // A FOCUS file is a whole billing month: the filter's month, or the month its days start in.
        let month = q.month.clone().filter(|m| !m.is_empty()).or_else(|| q.from.as_ref().and_then(|d| d.get(..7)).map(str::to_owned));
        let zone = jiff::tz::TimeZone::get(&bar.zone).unwrap_or(jiff::tz::TimeZone::UTC);
        let month = month.unwrap_or_else(|| billing::Month::of(ctx.now.to_zoned(zone).date()).to_string());
        return match crate::routes::focus_download(&st, &account_id, &month, "csv").await {
            Ok(file) => file,
            Err(e) => error_page(&ctx, e),
        };
    }
    let format = q.format.clone();
    let q = ListQuery { format, ..cleaned(&q) };
    match export_file(&st, ctx.now, &account_id, &list, &q).await {
        Ok(file) => file,
        Err(e) => error_page(&ctx, e),
    }
}

// ---- one invoice --------------------------------------------------------------------------

/// One invoice's document: `format=pdf` (the only format an invoice has on its own).
pub(crate) async fn invoice_export(
    State(st): State<ApiState>,
    headers: HeaderMap,
    uri: Uri,
    Path((account_id, month)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> Response {
    let (ctx, _) = match account_page(&st, &headers, &uri, None, &account_id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if q.format.as_deref().unwrap_or("pdf") != "pdf" {
        return error_page(&ctx, crate::ApiError::invalid("format", "an invoice exports as pdf"));
    }
    match crate::routes::invoice_pdf_file(&st, &account_id, &month).await {
        Ok(file) => file,
        Err(e) => error_page(&ctx, e),
    }
}

pub(crate) struct WorkspaceGroup {
    pub workspace: String,
    pub lines: Vec<Vec<String>>,
    pub subtotal: Vec<String>,
}

#[derive(Template)]
#[template(path = "invoice.html")]
struct InvoicePage {
    f: Frame,
    heading: String,
    status: String,
    status_label: String,
    number: String,
    issued_at: String,
    period: String,
    summary: Vec<(String, String)>,
    groups: Vec<WorkspaceGroup>,
    money_heads: Vec<String>,
    cards: Vec<(String, String, String)>,
    downloads: Vec<(String, String)>,
    zone_note: String,
    /// "Workspaces 1–25 of 1,389" when they do not fit one page.
    workspaces_shown: Option<String>,
    next_href: Option<String>,
    first_href: Option<String>,
}

/// Workspaces on one page of an invoice (each with all its lines).
pub const INVOICE_WORKSPACES_PER_PAGE: usize = 25;

pub(crate) async fn invoice_or_export(
    State(st): State<ApiState>,
    headers: HeaderMap,
    uri: Uri,
    Path((account_id, month)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
    Query(lang): Query<LangQuery>,
) -> Response {
    if month == "export" {
        return export(State(st), headers, uri, Path((account_id, "invoices".to_owned())), Query(q)).await;
    }
    let (ctx, bar) = match account_page(&st, &headers, &uri, lang.lang.as_deref(), &account_id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let t = ctx.t;
    let d = match st.app.invoice_detail(&account_id, &month).await {
        Ok(d) => d,
        Err(e) => return error_page(&ctx, e.into()),
    };
    let keys = d.summary.keys();
    let row = &d.summary.rows[0];
    let get = |key: &str| keys.iter().position(|k| k == key).map(|c| row[c].as_str().to_owned()).unwrap_or_default();
    let cur = d.account.currency;
    let page = d.workspace_page(q.cursor.as_deref(), INVOICE_WORKSPACES_PER_PAGE);
    let doc = d.document_of(st.app.issuer(), page.lines);
    let base = format!("/accounts/{account_id}/invoices/{}", d.month);
    let next_href = page.next.as_ref().map(|c| format!("{base}?{}", serde_urlencoded::to_string([("cursor", c)]).unwrap_or_default()));
    let first_href = q.cursor.is_some().then(|| base.clone());
    let workspaces_shown = (page.of > INVOICE_WORKSPACES_PER_PAGE || q.cursor.is_some()).then(|| {
        let n = |v: usize| money_text(&v.to_string());
        t.f("invoice-workspaces-shown", &[("first", &n(page.first)), ("last", &n(page.last)), ("count", &n(page.of))])
    });
    let money = |a: &export::Amounts| {
        vec![a.gross.clone(), a.rounding_discount.clone(), a.coupons.clone(), a.prepaid_cards.clone(), a.cash.clone(), a.arrears.clone()]
    };
    let groups = doc
        .workspaces
        .iter()
        .map(|w| WorkspaceGroup {
            workspace: w.workspace.clone(),
            lines: w.lines.iter().map(|l| [vec![l.item.clone(), t.value(&l.charge_type)], money(&l.amounts)].concat()).collect(),
            subtotal: money(&w.subtotal),
        })
        .collect();
    let summary =
        ["gross", "rounding_discount", "coupons", "prepaid_cards", "cash", "arrears", "outstanding", "cards_bought", "invoiceable"]
            .iter()
            .map(|k| {
                let v = get(k);
                let shown = if *k == "rounding_discount" { v } else { format!("{} {}", money_text(&v), cur.code()) };
                (t.t(&format!("col-{k}")).to_owned(), shown)
            })
            .collect();
    let status = get("status");
    let month_text = d.month.to_string();
    let days = d.month.days();
    let expenses_query = serde_urlencoded::to_string([("month", month_text.as_str())]).unwrap_or_default();
    let pdf = (t.t("export-pdf").to_owned(), format!("/accounts/{account_id}/invoices/{month_text}/export?format=pdf"));
    let downloads = std::iter::once(pdf)
        .chain(["csv", "xlsx"].iter().map(|fmt| {
            (t.t(&format!("export-{fmt}")).to_owned(), format!("/accounts/{account_id}/expenses/export?{expenses_query}&format={fmt}"))
        }))
        .collect();
    let zone_note = t.f("all-times-in", &[("zone", &bar.zone)]);
    let heading = t.f("invoice", &[("month", &month_text)]);
    let f = Frame::new(&ctx, format!("{heading} · {}", bar.name), "invoices", Some(bar));
    let page = InvoicePage {
        f,
        heading,
        status_label: t.value(&status),
        status,
        number: get("invoice_no"),
        issued_at: get("issued_at"),
        period: format!("{} – {}", days.start, days.end.yesterday().map(|d| d.to_string()).unwrap_or_default()),
        summary,
        groups,
        money_heads: ["gross", "rounding_discount", "coupon", "prepaid_card", "cash", "arrears"]
            .iter()
            .map(|k| t.t(&format!("col-{k}")).to_owned())
            .collect(),
        cards: doc.cards,
        downloads,
        zone_note,
        workspaces_shown,
        next_href,
        first_href,
    };
    ctx.page(StatusCode::OK, page.render().expect("the invoice template renders"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn amounts_group_their_thousands() {
        assert_eq!(super::money_text("1234567.89"), "1,234,567.89");
        assert_eq!(super::money_text("-1234.50"), "-1,234.50");
        assert_eq!(super::money_text("999"), "999");
        assert_eq!(super::money_text("0.00"), "0.00");
        assert_eq!(super::money_text("100000"), "100,000");
    }
}
