//! The account page (SPEC §13): `GET /account` lists the signed-in user's live sessions (the
//! session cookie's user), each with a button that ends it and one that signs out everywhere
//! else; the buttons are plain HTML forms posting to `/account` (`end=<sid>`, `others=1`),
//! answered with a 303 back to the page (post/redirect/get). Ending this browser's own session
//! is a sign-out: the cookie is cleared and the browser goes to the login page.
//!
//! The login page's look, headers and CSRF rules: no script, `no-store`, no framing, and a
//! post whose `Origin` is not this server's (or, without one, whose `Sec-Fetch-Site` is not
//! `same-origin`) is refused (403) before anything is read or ended. Everything a client
//! wrote (the user agents, the addresses as recorded) is escaped.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{STYLE, html_escape, page_headers, see_other, set_cookie};
use crate::authority::Listed;
use crate::clock::utc;
use crate::error::Error;
use crate::serve::App;
use crate::serve::calls::{self, Checking, off_worker};
use crate::serve::error::log_unavailable;
use crate::serve::extract::{ClientAddr, OwnOrigin, SessionCookies};
use crate::sessions::Client;

/// The page's own path (and the `rd` the login page is given).
const ACCOUNT: &str = "/account";

/// What the page adds to the login page's style: a wider column and one box per session.
const ACCOUNT_STYLE: &str = "body{max-width:40rem}\
ul.sessions{list-style:none;padding:0;margin:0}\
li.session{border:1px solid #999;border-radius:4px;padding:.6rem .8rem;margin:.75rem 0}\
li.current{border:2px solid #1747b8}\
li.session h2{font-size:1rem;margin:0 0 .4rem}\
.badge{display:inline-block;margin-left:.5rem;padding:0 .4rem;font-size:.8rem;\
border-radius:4px;background:#1747b8;color:#fff;vertical-align:middle}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.1rem .8rem;margin:0}\
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}\
li.session button{width:auto;margin-top:.6rem;padding:.35rem .8rem;background:#fff;\
color:#8a0019;border:1px solid #8a0019}";

/// A button's form: which session to end (`end=<sid>`), or every other one (`others=1`).
#[derive(Deserialize, ToSchema)]
pub struct AccountForm {
    /// The `sid` of one of the signed-in user's sessions to end.
    end: Option<String>,
    /// Present (any value): end every session of the user but this browser's.
    others: Option<String>,
}

/// The signed-in user as the session cookie says: the user and this browser's `sid`.
struct SignedIn {
    sub: String,
    sid: Option<String>,
}

/// Why there is no page for this request.
enum NotSignedIn {
    /// No valid session cookie: to the login page.
    Login,
    /// A store or key error: a 503 page.
    Unavailable(Error),
}

/// The session cookie's user ([`calls::session`]: any valid cookie counts; valid ones of
/// different users, none).
async fn signed_in(
    app: &Arc<App>,
    cookies: Option<SessionCookies>,
) -> Result<SignedIn, NotSignedIn> {
    let Some(SessionCookies(cookies)) = cookies else {
        return Err(NotSignedIn::Login);
    };
    match off_worker(app, move |app| {
        calls::session(app, Checking::Access, &cookies)
    })
    .await
    {
        Ok(Some((v, _))) => Ok(SignedIn {
            sub: v.sub.unwrap_or_default(),
            sid: v.sid,
        }),
        Ok(None) | Err(Error::Token(_)) => Err(NotSignedIn::Login),
        Err(e) => Err(NotSignedIn::Unavailable(e)),
    }
}

/// The login page (`login_url`, else `/login`), with `rd` when given: a path here, or this
/// server's URL of it when the login page is on another host.
fn login_location(app: &App, origin: &OwnOrigin, rd: Option<&str>) -> String {
    let opts = app.opts();
    let login = opts.login_url.as_deref().unwrap_or("/login");
    let Some(rd) = rd else {
        return login.to_string();
    };
    let rd = if login.starts_with('/') {
        rd.to_string()
    } else {
        origin.url(rd).unwrap_or_else(|| rd.to_string())
    };
    let sep = if login.contains('?') { '&' } else { '?' };
    let query = serde_urlencoded::to_string([("rd", rd.as_str())]).unwrap_or_default();
    format!("{login}{sep}{query}")
}

/// An answer for a request without a page: the 303 to the login page (back here after the
/// sign-in), or the 503 page.
fn not_signed_in(app: &App, origin: &OwnOrigin, why: NotSignedIn) -> Response {
    match why {
        NotSignedIn::Login => see_other(&login_location(app, origin, Some(ACCOUNT)), None),
        NotSignedIn::Unavailable(e) => unavailable(&e),
    }
}

/// The 503 page (the detail logged, never shown).
fn unavailable(e: &Error) -> Response {
    log_unavailable(e);
    let mut res = message_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "The service is busy. Try again shortly.",
    );
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    res
}

/// A page with only a message (a refused post, the service unavailable).
fn message_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta name=\"robots\" content=\"noindex\">\n<title>Your sessions</title>\n\
<style>{STYLE}{ACCOUNT_STYLE}</style>\n</head>\n<body>\n<main>\n<h1>Your sessions</h1>\n\
<p class=\"error\" id=\"account-error\" role=\"alert\">{}</p>\n\
<p><a href=\"{ACCOUNT}\">Back to your sessions</a></p>\n</main>\n</body>\n</html>\n",
        html_escape(message),
    );
    let mut res = (status, body).into_response();
    page_headers(res.headers_mut());
    res
}

/// A time as the page shows it: `2026-12-08 02:18:00 UTC`.
fn when(t: i64) -> String {
    utc(t).replacen('T', " ", 1).replace('Z', " UTC")
}

/// A user agent in a few words (`Chrome on Linux`, `curl`), for people: the browser and the
/// system it names, else its first product token; the whole string goes in a tooltip.
pub(super) fn short_user_agent(ua: &str) -> String {
    const BROWSERS: [(&str, &str); 9] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("CriOS/", "Chrome"),
        ("FxiOS/", "Firefox"),
        ("Version/", "Safari"),
    ];
    const SYSTEMS: [(&str, &str); 7] = [
        ("Windows", "Windows"),
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ];
    let browser = BROWSERS
        .iter()
        .find(|(token, _)| ua.contains(token))
        .map(|(_, name)| (*name).to_string());
    let system = SYSTEMS
        .iter()
        .find(|(token, _)| ua.contains(token))
        .map(|(_, name)| *name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b,
        (None, _) => {
            let first = ua.split([' ', '/']).next().unwrap_or("");
            let short: String = first.chars().take(40).collect();
            if short.is_empty() {
                "unknown".to_string()
            } else {
                short
            }
        }
    }
}

/// The authentication methods (`amr`, RFC 8176) in words.
fn methods(amr: &[String]) -> String {
    let words: Vec<String> = amr
        .iter()
        .map(|m| match m.as_str() {
            "pwd" => "password".to_string(),
            "otp" => "one-time code".to_string(),
            other => html_escape(other),
        })
        .collect();
    if words.is_empty() {
        "unknown".to_string()
    } else {
        words.join(" and ")
    }
}

/// One session as a list item (`current`: this browser's), with its button: headed by the
/// client in a few words (the whole `User-Agent` in a tooltip), then its times, address and
/// methods.
fn session_item(l: &Listed, current: bool) -> String {
    let s = &l.session;
    let (heading, title, address) = match &s.client {
        Client::Cli => (
            "The command line".to_string(),
            String::new(),
            "—".to_string(),
        ),
        Client::Http {
            address,
            user_agent,
        } => (
            user_agent.as_deref().map_or_else(
                || "A client without a User-Agent".to_string(),
                |ua| html_escape(&short_user_agent(ua)),
            ),
            user_agent.as_deref().map_or(String::new(), |ua| {
                format!(" title=\"{}\"", html_escape(ua))
            }),
            html_escape(address),
        ),
    };
    let began = when(s.created_at);
    let (class, badge, button) = if current {
        (
            "session current",
            "<span class=\"badge\">this browser</span>",
            "Sign out",
        )
    } else {
        ("session", "", "End this session")
    };
    format!(
        "<li class=\"{class}\">\n<h2{title}>{heading}{badge}</h2>\n<dl>\n\
<dt>Began</dt><dd>{began}</dd>\n\
<dt>Last used</dt><dd>{last}</dd>\n\
<dt>Ends</dt><dd>{ends}</dd>\n\
<dt>From</dt><dd>{address}</dd>\n\
<dt>With</dt><dd>{with}</dd>\n</dl>\n\
<form method=\"post\" action=\"{ACCOUNT}\">\n\
<input type=\"hidden\" name=\"end\" value=\"{sid}\">\n\
<button type=\"submit\" aria-label=\"{button}: the session begun {began}\">{button}</button>\n\
</form>\n</li>\n",
        last = when(l.last_used_at),
        ends = when(l.expires_at),
        with = methods(&s.amr),
        sid = html_escape(&s.sid),
    )
}

/// The page: the user's sessions, this browser's first, then newest first (as listed);
/// `error` in an alert above them.
fn account_page_of(
    status: StatusCode,
    who: &SignedIn,
    sessions: &[Listed],
    error: Option<&str>,
) -> Response {
    let current = |l: &Listed| who.sid.as_deref() == Some(l.session.sid.as_str());
    let mut items = String::new();
    for l in sessions.iter().filter(|l| current(l)) {
        items.push_str(&session_item(l, true));
    }
    for l in sessions.iter().filter(|l| !current(l)) {
        items.push_str(&session_item(l, false));
    }
    let others = sessions.iter().filter(|l| !current(l)).count();
    let error_html = error.map_or(String::new(), |e| {
        format!(
            "<p class=\"error\" id=\"account-error\" role=\"alert\">{}</p>\n",
            html_escape(e)
        )
    });
    let everywhere = if others > 0 {
        format!(
            "<form method=\"post\" action=\"{ACCOUNT}\">\n\
<input type=\"hidden\" name=\"others\" value=\"1\">\n\
<button type=\"submit\">Sign out everywhere else</button>\n</form>\n"
        )
    } else {
        "<p>You are not signed in anywhere else.</p>\n".to_string()
    };
    // A cookie of no listed session (a token made without one) can still sign out.
    let sign_out = if sessions.iter().any(current) {
        ""
    } else {
        "<form method=\"post\" action=\"/logout\">\n<button type=\"submit\">Sign out</button>\n</form>\n"
    };
    let body = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta name=\"robots\" content=\"noindex\">\n<title>Your sessions</title>\n\
<style>{STYLE}{ACCOUNT_STYLE}</style>\n</head>\n<body>\n<main>\n<h1>Your sessions</h1>\n\
<p>Signed in as <strong>{user}</strong>. Each sign-in is a session; end any you do not \
recognise.</p>\n{error_html}<ul class=\"sessions\">\n{items}</ul>\n{everywhere}{sign_out}\
</main>\n</body>\n</html>\n",
        user = html_escape(&who.sub),
    );
    let mut res = (status, body).into_response();
    page_headers(res.headers_mut());
    res
}

/// The signed-in user's live sessions, through `off_worker`.
async fn listed(app: &Arc<App>, sub: &str) -> Result<Vec<Listed>, Error> {
    let sub = sub.to_string();
    off_worker(app, move |app| app.authority()?.sessions(Some(&sub))).await
}

/// The page for `who`, or the 503 page.
async fn render(
    app: &Arc<App>,
    status: StatusCode,
    who: &SignedIn,
    error: Option<&str>,
) -> Response {
    match listed(app, &who.sub).await {
        Ok(sessions) => account_page_of(status, who, &sessions, error),
        Err(e) => unavailable(&e),
    }
}

#[utoipa::path(get, path = "/account", tag = "forward", security((), ("session" = [])),
    responses(
        (status = 200, description = "The account page: the signed-in user's live sessions (began, last used, ends, client), each with a button that ends it, and \"Sign out everywhere else\"", body = String, content_type = "text/html"),
        (status = 303, description = "No valid session cookie: to the login page with `rd=/account`"),
        (status = 503, description = "Busy or unavailable", body = String, content_type = "text/html"),
    ))]
pub(in crate::serve) async fn account_page(
    State(app): State<Arc<App>>,
    origin: OwnOrigin,
    cookies: Option<SessionCookies>,
) -> Response {
    match signed_in(&app, cookies).await {
        Ok(who) => render(&app, StatusCode::OK, &who, None).await,
        Err(why) => not_signed_in(&app, &origin, why),
    }
}

#[utoipa::path(post, path = "/account", tag = "forward", security((), ("session" = [])),
    request_body(content = AccountForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Done: back to `/account`; or, this browser's own session ended (a sign-out), the cookie cleared and to the login page; or no valid session cookie: to the login page with `rd=/account`"),
        (status = 400, description = "Neither or both of `end` and `others`, or a malformed form: the page again with a message", body = String, content_type = "text/html"),
        (status = 403, description = "A cross-site form post: nothing is ended", body = String, content_type = "text/html"),
        (status = 404, description = "`end` names no live session of the signed-in user: the page again with a message", body = String, content_type = "text/html"),
        (status = 503, description = "Busy or unavailable: nothing is ended", body = String, content_type = "text/html"),
    ))]
pub(in crate::serve) async fn account_submit(
    State(app): State<Arc<App>>,
    ClientAddr(client): ClientAddr,
    origin: OwnOrigin,
    cookies: Option<SessionCookies>,
    body: Bytes,
) -> Response {
    if origin.cross_origin() {
        return message_page(
            StatusCode::FORBIDDEN,
            "This form was sent from another site. Nothing was changed.",
        );
    }
    let who = match signed_in(&app, cookies).await {
        Ok(who) => who,
        Err(why) => return not_signed_in(&app, &origin, why),
    };
    let form = serde_urlencoded::from_bytes::<AccountForm>(&body);
    let ended = match form {
        Ok(AccountForm {
            end: Some(sid),
            others: None,
        }) if !sid.is_empty() => {
            let own = who.sid.as_deref() == Some(sid.as_str());
            match calls::end_session(&app, sid, who.sub.clone(), ACCOUNT, client).await {
                // This browser's own session: a sign-out.
                Ok(()) if own => {
                    let login = login_location(&app, &origin, None);
                    return see_other(&login, set_cookie(&app, "", 0));
                }
                out => out,
            }
        }
        Ok(AccountForm {
            end: None,
            others: Some(_),
        }) => {
            let (sub, keep) = (who.sub.clone(), who.sid.clone());
            calls::end_other_sessions(&app, sub, keep, ACCOUNT, client)
                .await
                .map(drop)
        }
        _ => {
            return render(
                &app,
                StatusCode::BAD_REQUEST,
                &who,
                Some("Choose one session to end, or sign out everywhere else."),
            )
            .await;
        }
    };
    match ended {
        Ok(()) => see_other(ACCOUNT, None),
        Err(Error::SessionNotFound(_)) => {
            render(
                &app,
                StatusCode::NOT_FOUND,
                &who,
                Some("That session is not one of yours, or it has ended already."),
            )
            .await
        }
        Err(e) => unavailable(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_are_told_in_a_few_words() {
        for (ua, want) in [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
                "Headless Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
                "Firefox on Linux",
            ),
            ("curl/8.5.0", "curl"),
            ("<script>alert(1)</script>", "<script>alert(1)<"),
            ("", "unknown"),
        ] {
            assert_eq!(short_user_agent(ua), want, "{ua:?}");
        }
    }

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(when(1_800_000_000), "2027-01-15 08:00:00 UTC");
    }
}
