//! The Billing Center: server-rendered pages for customers and operators. Sign-in with email
//! and password (server-side sessions in the store, an HttpOnly cookie, CSRF tokens on every
//! form that changes something), then one page per list with the API's filters as query
//! parameters, exports of the whole filtered set, and an overview with a daily spend chart.
//! Everything a page loads comes from this server (a Content-Security-Policy says so).

mod chart;
pub mod i18n;
mod pages;

use std::time::Duration;

use app::users::{SignIn, WebSession};
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::ApiState;
use i18n::{LANGS, Lang, Tr};

pub use pages::{PAGE_LISTS, money_text};

const SESSION_COOKIE: &str = "bc_session";
const LOGIN_COOKIE: &str = "bc_login";
const LANG_COOKIE: &str = "bc_lang";

/// Where the pages may load from: this server only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/accounts", get(pages::accounts))
        .route("/accounts/{account}", get(|Path(a): Path<String>| async move { Redirect::to(&format!("/accounts/{a}/")) }))
        .route("/accounts/{account}/", get(pages::overview))
        .route("/accounts/{account}/invoices/{month}", get(pages::invoice_or_export))
        .route("/accounts/{account}/invoices/{month}/export", get(pages::invoice_export))
        .route("/accounts/{account}/{list}", get(pages::list).post(pages::tax_request))
        .route("/accounts/{account}/tax-invoices/{request}/{decision}", get(pages::tax_invoice_file).post(pages::tax_decision))
        .route("/accounts/{account}/actions/{action}", post(pages::account_action))
        .route("/accounts/{account}/{list}/export", get(pages::export))
        .route("/assets/app.css", get(|| async { asset("text/css; charset=utf-8", include_str!("../../assets/app.css").as_bytes()) }))
        .route(
            "/assets/fonts/NotoSansSC-Regular.subset.woff2",
            get(|| async { asset("font/woff2", include_bytes!("../../assets/fonts/NotoSansSC-Regular.subset.woff2")) }),
        )
        .route(
            "/assets/fonts/NotoSansSC-Bold.subset.woff2",
            get(|| async { asset("font/woff2", include_bytes!("../../assets/fonts/NotoSansSC-Bold.subset.woff2")) }),
        )
        .route("/favicon.ico", get(|| async { asset("image/svg+xml", FAVICON.as_bytes()) }))
        .layer(axum::middleware::map_response(security_headers))
}

/// A small mark for the browser's tab: the letter B on the header's blue.
const FAVICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#14233a"/><text x="16" y="23" font-size="20" font-family="sans-serif" font-weight="700" fill="#fff" text-anchor="middle">B</text></svg>"##;

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// A request's cookie by name.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Served behind a TLS-terminating proxy, cookies are marked Secure.
fn over_tls(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age_secs: i64) -> (header::HeaderName, String) {
    let secure = if over_tls(headers) { "; Secure" } else { "" };
    (header::SET_COOKIE, format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"))
}

#[derive(Deserialize, Default)]
pub(crate) struct LangQuery {
    lang: Option<String>,
}

/// The language of a request: `?lang=` (remembered in a cookie), else the cookie, else the
/// browser's `Accept-Language`. The second value is the cookie to set, if any.
fn language(headers: &HeaderMap, asked: Option<&str>) -> (Lang, Option<(header::HeaderName, String)>) {
    if let Some(lang) = asked.and_then(Lang::parse) {
        return (lang, Some(set_cookie(headers, LANG_COOKIE, lang.tag(), 365 * 24 * 3600)));
    }
    if let Some(lang) = cookie(headers, LANG_COOKIE).and_then(Lang::parse) {
        return (lang, None);
    }
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    (Lang::from_accept_language(accept), None)
}

/// What every signed-in page knows about its request.
pub(crate) struct Ctx {
    pub t: Tr,
    pub session: WebSession,
    pub now: jiff::Timestamp,
    /// The request's path and query, for the language links.
    pub uri: Uri,
    set_lang: Option<(header::HeaderName, String)>,
}

impl Ctx {
    /// Answers a rendered page with the request's language cookie, if it chose one.
    pub fn page(&self, status: StatusCode, html: String) -> Response {
        let mut r = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
        if let Some((name, value)) = &self.set_lang {
            r.headers_mut().append(name, HeaderValue::from_str(value).expect("cookie values are ASCII"));
        }
        r
    }

    /// The current page in each language, for the switcher.
    pub fn lang_links(&self) -> Vec<LangLink> {
        LANGS
            .into_iter()
            .map(|lang| {
                let kept: Vec<(String, String)> = self
                    .uri
                    .query()
                    .map(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(k, _)| k != "lang")
                    .chain([("lang".to_owned(), lang.tag().to_owned())])
                    .collect();
                let query = serde_urlencoded::to_string(&kept).unwrap_or_default();
                LangLink {
                    label: Tr { lang }.t("lang-name"),
                    tag: lang.tag(),
                    href: format!("{}?{query}", self.uri.path()),
                    current: lang == self.t.lang,
                }
            })
            .collect()
    }
}

pub(crate) struct LangLink {
    pub label: &'static str,
    pub tag: &'static str,
    pub href: String,
    pub current: bool,
}

/// The signed-in session of a request, or the answer that sends the visitor to sign in.
pub(crate) async fn signed_in(st: &ApiState, headers: &HeaderMap, uri: &Uri, asked_lang: Option<&str>) -> Result<Ctx, Response> {
    let now = st.clock.now();
    let session = match cookie(headers, SESSION_COOKIE) {
        Some(token) => st.app.web_session(now, token).await.map_err(|e| crate::ApiError::from(e).into_response())?,
        None => None,
    };
    let Some(session) = session else {
        let next = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
        return Err(Redirect::to(&format!("/login?{query}")).into_response());
    };
    let (lang, set_lang) = language(headers, asked_lang);
    Ok(Ctx { t: Tr { lang }, session, now, uri: uri.clone(), set_lang })
}

async fn home(State(st): State<ApiState>, headers: HeaderMap, uri: Uri) -> Response {
    match signed_in(&st, &headers, &uri, None).await {
        Err(to_login) => to_login,
        Ok(ctx) => match &ctx.session.user.account_id {
            Some(account) => Redirect::to(&format!("/accounts/{account}/")).into_response(),
            None => Redirect::to("/accounts").into_response(),
        },
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    t: Tr,
    csrf: String,
    next: String,
    email: String,
    message: Option<String>,
    /// The message says why signing in failed (shown as a warning), not that signing out
    /// succeeded.
    refused: bool,
    langs: Vec<LangLink>,
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    next: Option<String>,
    lang: Option<String>,
    signed_out: Option<String>,
}

/// Only paths of this site may follow a sign-in.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

fn login_langs(next: &str) -> Vec<LangLink> {
    LANGS
        .into_iter()
        .map(|lang| LangLink {
            label: Tr { lang }.t("lang-name"),
            tag: lang.tag(),
            href: format!("/login?{}", serde_urlencoded::to_string([("next", next), ("lang", lang.tag())]).unwrap_or_default()),
            current: false,
        })
        .collect()
}

fn render_login(headers: &HeaderMap, lang: Lang, status: StatusCode, next: String, email: String, message: Option<String>) -> Response {
    let csrf = app::users::new_token();
    let mut langs = login_langs(&next);
    for l in &mut langs {
        l.current = l.tag == lang.tag();
    }
    let page = LoginPage { t: Tr { lang }, csrf: csrf.clone(), next, email, message, refused: !status.is_success(), langs };
    let html = page.render().expect("the login template renders");
    let (name, value) = set_cookie(headers, LOGIN_COOKIE, &csrf, 3600);
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()), (name, value)], html).into_response()
}

async fn login_page(headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    let (lang, set_lang) = language(&headers, q.lang.as_deref());
    let message = q.signed_out.as_ref().map(|_| Tr { lang }.t("signed-out").to_owned());
    let mut r = render_login(&headers, lang, StatusCode::OK, safe_next(q.next.as_deref()), String::new(), message);
    if let Some((name, value)) = set_lang {
        r.headers_mut().append(name, HeaderValue::from_str(&value).expect("cookie values are ASCII"));
    }
    r
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: Option<String>,
}

/// Each failed sign-in in a row answers this much later than the one before.
const FAILURE_DELAY: Duration = Duration::from_millis(250);

async fn login(State(st): State<ApiState>, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    let (lang, _) = language(&headers, None);
    let t = Tr { lang };
    let next = safe_next(form.next.as_deref());
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !app::users::same_token(expected, &form.csrf) {
        return render_login(&headers, lang, StatusCode::FORBIDDEN, next, form.email, Some(t.t("login-form-expired").to_owned()));
    }
    let now = st.clock.now();
    match st.app.sign_in(now, &form.email, &form.password).await {
        Err(e) => crate::ApiError::from(e).into_response(),
        Ok(SignIn::Ok { token, session }) => {
            let to = if next == "/" {
                match &session.user.account_id {
                    Some(a) => format!("/accounts/{a}/"),
                    None => "/accounts".to_owned(),
                }
            } else {
                next
            };
            let max_age = app::users::SESSION_FOR.as_secs();
            let (name, value) = set_cookie(&headers, SESSION_COOKIE, &token, max_age);
            let (clear_name, clear_value) = set_cookie(&headers, LOGIN_COOKIE, "", 0);
            let mut r = Redirect::to(&to).into_response();
            r.headers_mut().append(name, HeaderValue::from_str(&value).expect("tokens are ASCII"));
            r.headers_mut().append(clear_name, HeaderValue::from_str(&clear_value).expect("ASCII"));
            r
        }
        Ok(SignIn::Refused { failures }) => {
            tokio::time::sleep(FAILURE_DELAY * failures.clamp(0, 8) as u32).await;
            render_login(&headers, lang, StatusCode::UNAUTHORIZED, next, form.email, Some(t.t("login-wrong").to_owned()))
        }
        Ok(SignIn::Locked { until }) => {
            let zone = jiff::tz::TimeZone::UTC;
            let at = until.to_zoned(zone).strftime("%Y-%m-%d %H:%M UTC").to_string();
            render_login(&headers, lang, StatusCode::TOO_MANY_REQUESTS, next, form.email, Some(t.f("login-locked", &[("until", &at)])))
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(State(st): State<ApiState>, headers: HeaderMap, uri: Uri, Form(form): Form<CsrfForm>) -> Response {
    let ctx = match signed_in(&st, &headers, &uri, None).await {
        Ok(ctx) => ctx,
        Err(to_login) => return to_login,
    };
    if !app::users::same_token(&ctx.session.csrf_token, &form.csrf) {
        return pages::refused(&ctx);
    }
    if let Some(token) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = st.app.sign_out(token).await
    {
        return crate::ApiError::from(e).into_response();
    }
    let (name, value) = set_cookie(&headers, SESSION_COOKIE, "", 0);
    let mut r = Redirect::to("/login?signed_out=1").into_response();
    r.headers_mut().append(name, HeaderValue::from_str(&value).expect("ASCII"));
    r
}

/// The page of a path no route has.
pub(crate) async fn not_found(headers: HeaderMap) -> Response {
    let (lang, _) = language(&headers, None);
    pages::plain_not_found(Tr { lang })
}
