//! Access to the query and admin APIs on the real binary: no token, no answer (401); a viewer
//! reads and queries but cannot save or delete (403); a user logs in with a password and gets a
//! session cookie, which logging out ends; the collector stays key-only, as SDKs expect.

use std::process::Command;

use serde_json::json;

use crate::support::Server;

const KEY: &str = "access-e2e-key";

fn sluice(args: &[&str], data: &std::path::Path, password: Option<&str>) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command.args(args).arg("--data-dir").arg(data);
    if let Some(password) = password {
        command.env("SLUICE_PASSWORD", password);
    }
    let output = command.output().expect("running sluice");
    assert!(
        output.status.success(),
        "sluice {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apis_need_a_token_or_a_session_and_roles_limit_changes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--api-key", KEY]);
    let base = &server.base_url;
    let anonymous = reqwest::Client::new();
    let spec = json!({"version": 1, "analysis": "segmentation", "date_range": {"last_days": 7},
                      "events": [{"event_type": "_all"}]});

    // Logged out: 401 with what to do; the collector still takes events with its key.
    let refused = anonymous
        .post(format!("{base}/api/v1/query"))
        .json(&spec)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let message = refused.text().await.unwrap();
    assert!(message.contains("log in"), "{message}");
    let events = json!({"api_key": KEY, "events": [{"event_type": "Service Viewed",
        "user_id": "user-1", "device_id": "device-1", "time": 1_767_225_600_000_i64}]});
    let collected = anonymous
        .post(format!("{base}/2/httpapi"))
        .json(&events)
        .send()
        .await
        .unwrap();
    assert_eq!(collected.status(), 200);

    // A viewer's token queries and reads, but cannot save or delete.
    let viewer = sluice(
        &["user", "token", "dashboard-reader", "--role", "viewer"],
        &data,
        None,
    );
    let as_viewer = |request: reqwest::RequestBuilder| request.bearer_auth(&viewer);
    let query = as_viewer(anonymous.post(format!("{base}/api/v1/query")).json(&spec))
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 200);
    let charts = as_viewer(anonymous.get(format!("{base}/api/v1/charts")))
        .send()
        .await
        .unwrap();
    assert_eq!(charts.status(), 200);
    let save = as_viewer(anonymous.post(format!("{base}/api/v1/charts")))
        .json(&json!({"name": "Daily", "spec": spec}))
        .send()
        .await
        .unwrap();
    assert_eq!(save.status(), 403);
    let delete = as_viewer(anonymous.delete(format!("{base}/api/v1/cohorts/anything")))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 403);
    let users = as_viewer(anonymous.get(format!("{base}/api/v1/users")))
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), 403);
    let forged = anonymous
        .get(format!("{base}/api/v1/charts"))
        .bearer_auth("slt_0000")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    // An editor logs in with a password: the session cookie saves a chart; logging out ends it.
    sluice(
        &["user", "add", "mina", "--role", "editor"],
        &data,
        Some("a long enough password"),
    );
    let browser = reqwest::Client::new();
    let wrong = browser
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"name": "mina", "password": "not her password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let login = browser
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"name": "mina", "password": "a long enough password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    // What a browser sends back.
    let session = cookie.split(';').next().unwrap().to_owned();
    let me: serde_json::Value = browser
        .get(format!("{base}/api/v1/me"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        me,
        json!({"name": "mina", "role": "editor", "via": "session"})
    );
    let saved = browser
        .post(format!("{base}/api/v1/charts"))
        .header("cookie", &session)
        .json(&json!({"name": "Daily", "spec": spec}))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 201);
    let out = browser
        .post(format!("{base}/api/v1/logout"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    // The old cookie, sent again, is refused: the session ended on the server.
    let after = browser
        .get(format!("{base}/api/v1/charts"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);

    // Who used what: the viewer's query and mina's, by member (admins only).
    let usage: serde_json::Value = server
        .client()
        .get(format!("{base}/api/v1/usage"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let members: Vec<(&str, u64)> = usage["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user"].as_str().unwrap(), m["queries"].as_u64().unwrap()))
        .collect();
    assert_eq!(members, [("dashboard-reader", 1)], "{usage}");
    assert_eq!(usage["members"][0]["by_analysis"]["segmentation"], 1);

    // The admin token lists the users (names and roles only).
    let users: serde_json::Value = server
        .client()
        .get(format!("{base}/api/v1/users"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        users,
        json!({"users": [{"name": "mina", "role": "editor"}]})
    );
    server.stop();
}

/// What a browser holds after logging `name` in: the `name=value` part of the session cookie.
async fn log_in(base: &str, name: &str, password: &str) -> String {
    let login = reqwest::Client::new()
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"name": name, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

async fn me(base: &str, session: &str) -> (u16, serde_json::Value) {
    let answer = reqwest::Client::new()
        .get(format!("{base}/api/v1/me"))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_restart_follow_role_changes_and_end_with_their_user() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let password = "a long enough password";
    sluice(
        &["user", "add", "mina", "--role", "editor"],
        &data,
        Some(password),
    );
    let server = Server::start(&data, &["--api-key", KEY]);
    let session = log_in(&server.base_url, "mina", password).await;
    assert_eq!(me(&server.base_url, &session).await.1["role"], "editor");
    server.stop();

    // A restart keeps the session; the role is the user's role now, not at login.
    sluice(
        &["user", "add", "mina", "--role", "viewer"],
        &data,
        Some(password),
    );
    let server = Server::start(&data, &["--api-key", KEY]);
    let (status, now) = me(&server.base_url, &session).await;
    assert_eq!(status, 200, "{now}");
    assert_eq!(
        now,
        json!({"name": "mina", "role": "viewer", "via": "session"})
    );

    // Deleting the user ends her sessions, even while the server runs.
    sluice(&["user", "delete", "mina"], &data, None);
    assert_eq!(me(&server.base_url, &session).await.0, 401);
    server.stop();
}
