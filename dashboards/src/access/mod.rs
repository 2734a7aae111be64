//! Access to the query and admin APIs (`/api/v1/*`): every request needs an API token
//! (`Authorization: Bearer slt_…`) or a session cookie from `POST /api/v1/login`; the
//! collector routes keep their project keys. Viewers read and query; editors also save and
//! delete; admins also manage accounts. Passwords are argon2id hashes, tokens and session ids
//! are stored as SHA-256 hashes (`accounts.rs`); sessions survive restarts (`sessions.rs`).

pub mod accounts;
mod sessions;

use std::path::Path;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;

use accounts::{Accounts, Role};
use sessions::Sessions;

use crate::api::{error, parse};

/// The session cookie.
const COOKIE: &str = "sluice_session";

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Caller {
    /// The user's or token's name.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// `session` or `token`.
    pub via: &'static str,
}

/// Accounts and the open sessions.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    accounts: Accounts,
    sessions: Sessions,
}

impl Access {
    pub(crate) fn new(data_dir: &Path) -> Self {
        Access {
            accounts: Accounts::new(data_dir),
            sessions: Sessions::load(data_dir),
        }
    }

    /// The caller of the session `id`, with their role as it is now; a deleted user's
    /// sessions end.
    fn session(&self, id: &str) -> Result<Option<Caller>, accounts::AccountError> {
        let Some(name) = self.sessions.user(id) else {
            return Ok(None);
        };
        match self.accounts.role_of(&name)? {
            Some(role) => Ok(Some(Caller {
                name,
                role,
                via: "session",
            })),
            None => {
                self.sessions.end_all_of(&name);
                Ok(None)
            }
        }
    }

    /// The caller of a request with `headers`: a token, else a session cookie.
    fn caller(&self, headers: &HeaderMap) -> Result<Option<Caller>, accounts::AccountError> {
        if let Some(token) = bearer(headers) {
            return Ok(self.accounts.token(token)?.map(|(name, role)| Caller {
                name,
                role,
                via: "token",
            }));
        }
        match cookie(headers) {
            Some(id) => self.session(id),
            None => Ok(None),
        }
    }
}

/// The role a request needs: reading and querying are a viewer's; accounts are an admin's;
/// every other change is an editor's.
fn needed(method: &Method, path: &str) -> Role {
    if path.starts_with("/api/v1/users") || path == "/api/v1/usage" {
        Role::Admin
    } else if method == Method::GET || method == Method::HEAD || path == "/api/v1/query" {
        Role::Viewer
    } else {
        Role::Editor
    }
}

/// The middleware of `/api/v1/*`: 401 without a caller, 403 for a role too low; the caller is
/// handed to the routes as a request extension. `POST /api/v1/login` is open.
pub(crate) async fn require(
    State(access): State<Access>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if path == "/api/v1/login" {
        return next.run(request).await;
    }
    let caller = match access.caller(request.headers()) {
        Ok(Some(caller)) => caller,
        Ok(None) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "log in (POST /api/v1/login) or send a token (Authorization: Bearer …; sluice user token)"
                    .to_owned(),
            );
        }
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let role = needed(request.method(), &path);
    if caller.role < role {
        return error(
            StatusCode::FORBIDDEN,
            format!(
                "{} is a{} {:?}; this needs {:?}",
                caller.name,
                if caller.role == Role::Admin { "n" } else { "" },
                caller.role,
                role
            )
            .to_lowercase(),
        );
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The login, logout and "who am I" routes.
pub(crate) fn router(access: Access) -> Router {
    Router::new()
        .route("/api/v1/login", post(log_in))
        .route("/api/v1/logout", post(log_out))
        .route("/api/v1/me", get(me))
        .route("/api/v1/users", get(users))
        .with_state(access)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogIn {
    name: String,
    password: String,
}

/// `POST /api/v1/login` with `{"name", "password"}`: 200 `{"name", "role"}` and the session
/// cookie; 401 for a wrong name or password (the same answer for both).
async fn log_in(State(access): State<Access>, headers: HeaderMap, body: Bytes) -> Response {
    let login: LogIn = match parse(&body, "invalid login") {
        Ok(login) => login,
        Err(response) => return *response,
    };
    let accounts = access.accounts.clone();
    let (name, password) = (login.name.clone(), login.password);
    // argon2 takes tens of milliseconds: off the async threads.
    let checked = tokio::task::spawn_blocking(move || accounts.log_in(&name, &password)).await;
    let role = match checked {
        Ok(Ok(Some(role))) => role,
        Ok(Ok(None)) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "wrong name or password".to_owned(),
            );
        }
        Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let id = access.sessions.start(&login.name);
    let cookie = format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/{}",
        secure(&headers)
    );
    (
        StatusCode::OK,
        [(header::SET_COOKIE, cookie)],
        axum::Json(json!({"name": login.name, "role": role})),
    )
        .into_response()
}

/// `POST /api/v1/logout`: ends the session (204) and clears the cookie.
async fn log_out(State(access): State<Access>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers) {
        access.sessions.end(id);
    }
    let expired = format!(
        "{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}",
        secure(&headers)
    );
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, expired)],
        Body::empty(),
    )
        .into_response()
}

/// `GET /api/v1/me`: `{"name", "role", "via"}`.
async fn me(caller: Option<axum::Extension<Caller>>) -> Response {
    match caller {
        Some(axum::Extension(caller)) => axum::Json(caller).into_response(),
        None => error(StatusCode::UNAUTHORIZED, "not logged in".to_owned()),
    }
}

/// `GET /api/v1/users` (admins): every user's name and role.
async fn users(State(access): State<Access>) -> Response {
    match access.accounts.users() {
        Ok(users) => {
            let users: Vec<_> = users
                .into_iter()
                .map(|(name, role)| json!({"name": name, "role": role}))
                .collect();
            axum::Json(json!({"users": users})).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `; Secure` when the browser reached Sluice over HTTPS through a proxy that says so
/// (`X-Forwarded-Proto: https`): the cookie then never travels over plain HTTP.
fn secure(headers: &HeaderMap) -> &'static str {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    if https { "; Secure" } else { "" }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_and_querying_are_a_viewers_changes_an_editors_accounts_an_admins() {
        assert_eq!(needed(&Method::GET, "/api/v1/charts"), Role::Viewer);
        assert_eq!(needed(&Method::POST, "/api/v1/query"), Role::Viewer);
        assert_eq!(needed(&Method::POST, "/api/v1/charts"), Role::Editor);
        assert_eq!(needed(&Method::DELETE, "/api/v1/cohorts/x"), Role::Editor);
        assert_eq!(needed(&Method::GET, "/api/v1/users"), Role::Admin);
        assert_eq!(needed(&Method::GET, "/api/v1/usage"), Role::Admin);
    }

    #[test]
    fn the_cookie_is_secure_behind_an_https_proxy_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(secure(&headers), "");
        headers.insert("x-forwarded-proto", "HTTPS".parse().unwrap());
        assert_eq!(secure(&headers), "; Secure");
        headers.insert("x-forwarded-proto", "http".parse().unwrap());
        assert_eq!(secure(&headers), "");
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; sluice_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, "Bearer slt_x".parse().unwrap());
        assert_eq!(bearer(&headers), Some("slt_x"));
    }
}
