//! Saved charts and dashboards over HTTP on the real binary: a chart saved with its spec and
//! view, put on a board with a date range, renamed, protected from deletion while on the board.

use serde_json::{Value, json};

use crate::support::{Server, post_json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chart_is_saved_put_on_a_board_and_kept_while_it_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--api-key", "boards-e2e-key"]);
    let http = server.client();
    let base = &server.base_url;
    let funnel = json!({"version": 1, "analysis": "funnel", "date_range": {"last_days": 30},
        "steps": [{"event_type": "Category Viewed"}, {"event_type": "Service Viewed"},
                  {"event_type": "Purchase Completed"}],
        "breakdown": {"kind": "event", "property": "category"}});
    let (status, chart) = post_json(
        &http,
        &format!("{base}/api/v1/charts"),
        &json!({"name": "Category funnel", "owner": "category-team", "spec": funnel,
                "view": {"type": "funnel_bars"}}),
    )
    .await;
    assert_eq!(status, 201, "{chart}");
    let id = chart["id"].as_str().unwrap().to_owned();
    // The spec comes back as the engine reads it: defaults written out.
    assert_eq!(chart["spec"]["steps"], funnel["steps"]);
    assert_eq!(
        chart["spec"]["conversion_window"],
        json!({"value": 1, "unit": "day"})
    );

    // A spec the engine refuses is a 400 naming the field.
    let mut bad = funnel.clone();
    bad["steps"] = json!([]);
    let (status, refused) = post_json(
        &http,
        &format!("{base}/api/v1/charts"),
        &json!({"name": "Broken", "spec": bad}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().starts_with("spec: "),
        "{refused}"
    );
    // A body of the wrong shape: the path names the field, with no position in a body the
    // caller's program built.
    let mut misshapen = funnel.clone();
    misshapen["steps"] = json!(3);
    let (status, refused) = post_json(
        &http,
        &format!("{base}/api/v1/charts"),
        &json!({"name": "Broken", "spec": misshapen}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(
        refused["error"],
        "invalid chart: spec: steps: invalid type: integer `3`, expected a sequence",
        "{refused}"
    );

    let (status, board) = post_json(
        &http,
        &format!("{base}/api/v1/boards"),
        &json!({"name": "Key metrics", "date_range": {"last_days": 14},
                "charts": [{"chart_id": id, "width": 12}]}),
    )
    .await;
    assert_eq!(status, 201, "{board}");
    let board_id = board["id"].as_str().unwrap().to_owned();

    // Renamed: same id, same creation time.
    let renamed = http
        .put(format!("{base}/api/v1/charts/{id}"))
        .json(&json!({"name": "Category → purchase", "spec": funnel}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    let renamed: Value = renamed.json().await.unwrap();
    assert_eq!(renamed["created_ms"], chart["created_ms"]);
    let listing: Value = http
        .get(format!("{base}/api/v1/charts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listing["charts"][0]["name"], "Category → purchase");

    // On a board, the chart stays; the board goes first.
    let kept = http
        .delete(format!("{base}/api/v1/charts/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(kept.status(), 409);
    for url in [
        format!("{base}/api/v1/boards/{board_id}"),
        format!("{base}/api/v1/charts/{id}"),
    ] {
        let gone = http.delete(&url).send().await.unwrap();
        assert_eq!(gone.status(), 204, "{url}");
        assert_eq!(http.get(&url).send().await.unwrap().status(), 404, "{url}");
    }
    server.stop();
}
