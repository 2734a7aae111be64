// The syncs that send this cohort somewhere (`GET /syncs`, filtered by cohort): destination,
// schedule, how the last run went, the delivery log, and for editors "Run sync now", "New sync",
// "Edit" (the form of sync-editor.jsx, filled from `GET /syncs/{name}`) and "Delete".
import { useEffect, useState } from "preact/hooks";
import { del, get, post } from "../../api.js";
import { num } from "../../charts/format.js";
import { canEdit, useSession } from "../../session.js";
import { fmtEvery, fmtTime } from "./model.js";
import { SyncEditor } from "./sync-editor.jsx";

function destinationText(d) {
  switch (d.kind) {
    case "braze":
      return `Braze · ${d.url}`;
    case "webhook":
      return `webhook · ${d.url}`;
    case "file":
      return `${d.format ?? "csv"} files · ${d.dir}`;
    case "kafka":
      return `Kafka · ${d.topic} @ ${Array.isArray(d.brokers) ? d.brokers.join(", ") : d.brokers}`;
    default:
      return d.kind;
  }
}

/** How a destination's secret is held: an environment variable's name, or a stored (hidden) value. */
function secretText(d) {
  const secret = d.kind === "braze" ? d.api_key : d.kind === "webhook" ? d.secret : undefined;
  if (secret === undefined || secret === null) return d.kind === "webhook" ? "none (messages not signed)" : null;
  if (typeof secret === "object") return `from the environment variable ${secret.env}`;
  return "stored in the data directory (hidden)";
}

/** How the last run went, from the log's last `sync` entry and the state. */
function status(state, log, latest, timeZone) {
  const last = [...(log ?? [])].reverse().find((e) => e.kind === "sync");
  const rest = state.pending ? ` (${state.pending.delivered?.length ?? 0} batches delivered; the next try sends the rest)` : "";
  if (last && !last.completed) return { cls: "bad", text: `failed: ${last.detail ?? "not every batch was delivered"}${rest}` };
  if (state.pending) return { cls: "warn", text: `under way or incomplete${rest}` };
  if (!state.synced_run_ms) return { cls: "", text: "never synced" };
  const current = latest && state.synced_run_ms === latest.computed_ms;
  return { cls: current ? "good" : "warn", text: current ? "up to date with the latest computation" : `holds the computation of ${fmtTime(state.synced_run_ms, timeZone)}` };
}

function Log({ entries, timeZone }) {
  if (!entries.length) return <p class="hint">Nothing sent yet.</p>;
  return (
    <div class="table-scroll">
      <table class="data sync-log">
        <thead>
          <tr><th>at</th><th>what</th><th>users</th><th>tries</th><th>result</th><th>detail</th></tr>
        </thead>
        <tbody>
          {[...entries].reverse().map((e) =>
            e.kind === "sync" ? (
              <tr class="sync-row">
                <td>{fmtTime(e.at_ms, timeZone)}</td>
                <td>sync of the computation of {fmtTime(e.run_ms, timeZone)}</td>
                <td class="n" title="entered / exited">+{num(e.entered)} / −{num(e.exited)}</td>
                <td />
                <td class={e.completed ? "good" : "bad"}>
                  {e.completed ? "completed" : "stopped"} ({num(e.sent)} of {num(e.batches)} batch{e.batches === 1 ? "" : "es"} sent)
                </td>
                <td class="detail">{e.detail ?? ""}</td>
              </tr>
            ) : (
              <tr>
                <td>{fmtTime(e.at_ms, timeZone)}</td>
                <td title={e.message_id}>{e.in_cohort ? "enter" : "exit"} batch</td>
                <td class="n">{num(e.users)}{e.unmatched ? ` (${num(e.unmatched)} unmatched)` : ""}</td>
                <td class="n">{num(e.attempts)}</td>
                <td class={e.delivered ? "good" : "bad"}>{e.delivered ? "delivered" : `not delivered${e.status ? ` (${e.status})` : ""}`}</td>
                <td class="detail">{e.detail ?? ""}</td>
              </tr>
            ),
          )}
        </tbody>
      </table>
    </div>
  );
}

/** "Edit": the form, filled from `GET /syncs/{name}` (the listing may be older than the sync). */
function EditSync({ name, latest, cohort, onSaved, onCancel }) {
  const [saved, setSaved] = useState({ sync: null, error: null });
  useEffect(() => {
    get(`/syncs/${encodeURIComponent(name)}`).then((s) => setSaved({ sync: s.sync, error: null }), (e) => setSaved({ sync: null, error: e.message }));
  }, [name]);
  if (saved.error) {
    return (
      <li class="sync">
        <p class="error" role="alert" data-testid="sync-error">{saved.error}</p>
        <button type="button" onClick={onCancel}>Back</button>
      </li>
    );
  }
  if (!saved.sync) return <li class="sync"><p class="loading">Loading…</p></li>;
  return (
    <li class="sync editing">
      <SyncEditor saved={saved.sync} cohort={cohort} cohortSize={latest?.size} onSaved={onSaved} onCancel={onCancel} />
    </li>
  );
}

function SyncCard({ item, latest, timeZone, onRan, onEdit, onDeleted }) {
  const me = useSession();
  const { sync, state } = item;
  const [log, setLog] = useState({ entries: null, error: null });
  const [run, setRun] = useState({ busy: false, report: null, error: null });
  const [compute, setCompute] = useState(false);
  const loadLog = () =>
    get(`/syncs/${encodeURIComponent(sync.name)}/log?limit=50`).then((l) => setLog({ entries: l.entries, error: null }), (e) => setLog({ entries: null, error: e.message }));
  useEffect(() => {
    loadLog();
  }, [sync.name, state.last_attempt_ms]);
  const runNow = async () => {
    setRun({ busy: true, report: null, error: null });
    try {
      const report = await post(`/syncs/${encodeURIComponent(sync.name)}/run`, compute ? { compute: true } : {});
      setRun({ busy: false, report, error: null });
    } catch (e) {
      let report = null;
      try {
        report = JSON.parse(e.message); // a failed run answers 502 with its report
      } catch {
        // a plain error
      }
      setRun({ busy: false, report: report?.outcome ? report : null, error: report?.outcome ? report.detail : e.message });
    }
    onRan(compute);
  };
  const [removing, setRemoving] = useState({ busy: false, error: null });
  const remove = async () => {
    if (!window.confirm(`Delete the sync “${sync.name}”? Its state and delivery log are deleted; the destination keeps what it was sent. Recreating it later sends every member again.`)) return;
    setRemoving({ busy: true, error: null });
    try {
      await del(`/syncs/${encodeURIComponent(sync.name)}`);
      onDeleted(sync.name);
    } catch (e) {
      setRemoving({ busy: false, error: e.message });
    }
  };
  const s = status(state, log.entries, latest, timeZone);
  const r = run.report;
  return (
    <li class="sync" data-testid={`sync-${sync.name}`}>
      <div class="section-head">
        <h3>{sync.name}</h3>
        {canEdit(me) && (
          <span class="sync-run">
            <label title="Compute the cohort afresh before sending">
              <input type="checkbox" checked={compute} onChange={(e) => setCompute(e.target.checked)} /> compute first
            </label>
            <button type="button" data-testid={`sync-run-${sync.name}`} disabled={run.busy} onClick={runNow}>{run.busy ? "Sending…" : "Run sync now"}</button>
            <button type="button" data-testid={`sync-edit-${sync.name}`} disabled={run.busy || removing.busy} onClick={onEdit}>Edit</button>
            <button type="button" class="link danger" data-testid={`sync-delete-${sync.name}`} disabled={run.busy || removing.busy} onClick={remove}>
              {removing.busy ? "Deleting…" : "Delete"}
            </button>
          </span>
        )}
      </div>
      <dl class="facts">
        <dt>destination</dt><dd data-testid="sync-destination"><strong>{sync.destination.kind}</strong> <span class="hint">{destinationText(sync.destination)}</span></dd>
        {secretText(sync.destination) && <><dt>secret</dt><dd data-testid="sync-secret-kind">{secretText(sync.destination)}</dd></>}
        <dt>schedule</dt><dd>{fmtEvery(sync.every_secs)}</dd>
        <dt>last run</dt><dd class={s.cls} data-testid="sync-status">{s.text}{state.last_attempt_ms ? ` (tried ${fmtTime(state.last_attempt_ms, timeZone)})` : ""}</dd>
      </dl>
      {r && (
        <p class={r.outcome === "failed" ? "error" : "ok"} data-testid="sync-report">
          {r.outcome === "up_to_date"
            ? "Up to date: nothing to send."
            : r.outcome === "completed" && !r.entered && !r.exited
              ? "Completed: nobody entered or exited since the computation the destination held."
              : `${r.outcome}: ${num(r.entered)} entered, ${num(r.exited)} exited, ${num(r.sent)} of ${num(r.batches)} batches sent.`}
          {r.outcome === "failed" && r.detail ? ` ${r.detail}` : ""}
        </p>
      )}
      {run.error && !r && <p class="error" role="alert">{run.error}</p>}
      {removing.error && <p class="error" role="alert" data-testid="sync-delete-error">{removing.error}</p>}
      <details class="sync-log-box">
        <summary>Delivery log{log.entries ? ` (${log.entries.length})` : ""}</summary>
        {log.error && <p class="error" role="alert">{log.error}</p>}
        {!log.entries && !log.error && <p class="loading">Loading…</p>}
        {log.entries && <Log entries={log.entries} timeZone={timeZone} />}
        {log.entries && <p class="hint">Times in {timeZone || "your browser's time zone"}. A run with nothing to send adds no entry; “last run” above says when it was tried.</p>}
      </details>
    </li>
  );
}

/** The syncs sending cohort `name`; times are shown in `timeZone`, the cohort's, as its computations are. */
export function Syncs({ name, latest, timeZone, version, onRan }) {
  const me = useSession();
  const [state, setState] = useState({ syncs: null, error: null });
  const [tick, setTick] = useState(0);
  const [editing, setEditing] = useState(null); // null, "new", or a sync's name
  const [notice, setNotice] = useState(null);
  useEffect(() => {
    get("/syncs").then(
      (s) => setState({ syncs: s.syncs.filter((x) => x.sync.cohort === name), error: null }),
      (e) => setState({ syncs: null, error: e.message }),
    );
  }, [name, version, tick, latest?.computed_ms]);
  useEffect(() => setEditing(null), [name]);
  const ran = (computed) => {
    setTick((t) => t + 1);
    if (computed) onRan();
  };
  const saved = (answer, restarted) => {
    const sync = answer.sync;
    const isNew = editing === "new";
    setEditing(null);
    setTick((t) => t + 1);
    let text = `${isNew ? "Created" : "Saved"} the sync “${sync.name}”.`;
    if (sync.cohort !== name) text += ` It now sends the cohort ${sync.cohort}, so it is listed on that cohort's page.`;
    else if (isNew || restarted) text += " Its next run sends every member of the cohort.";
    setNotice({ text, other: sync.cohort !== name ? sync.cohort : null });
  };
  const deleted = (sync) => {
    setTick((t) => t + 1);
    setNotice({ text: `Deleted the sync “${sync}”.`, other: null });
  };
  const edit = (which) => {
    setNotice(null);
    setEditing(which);
  };
  return (
    <section class="card" data-testid="cohort-syncs">
      <div class="section-head">
        <h2>Syncs</h2>
        {canEdit(me) && editing !== "new" && (
          <button type="button" class="primary" data-testid="sync-new" onClick={() => edit("new")}>New sync</button>
        )}
      </div>
      {notice && (
        <p class="ok" data-testid="sync-notice">
          {notice.text}
          {notice.other && <> <a href={`#/cohorts/${encodeURIComponent(notice.other)}`}>Open {notice.other}</a></>}
        </p>
      )}
      {editing === "new" && (
        <SyncEditor saved={null} cohort={name} cohortSize={latest?.size} onSaved={saved} onCancel={() => setEditing(null)} />
      )}
      {state.error && <p class="error" role="alert">{state.error}</p>}
      {!state.syncs && !state.error && <p class="loading">Loading…</p>}
      {state.syncs && !state.syncs.length && editing !== "new" && (
        <p class="hint">
          No sync sends this cohort.{" "}
          {canEdit(me) ? "“New sync” sends its members to Braze, a webhook, files or Kafka, and keeps them up to date." : "Editors can set one up here."}
        </p>
      )}
      {state.syncs?.length > 0 && (
        <ul class="syncs">
          {state.syncs.map((item) =>
            editing === item.sync.name ? (
              <EditSync key={item.sync.name} name={item.sync.name} cohort={name} latest={latest} onSaved={saved} onCancel={() => setEditing(null)} />
            ) : (
              <SyncCard
                key={item.sync.name}
                item={item}
                latest={latest}
                timeZone={timeZone}
                onRan={ran}
                onEdit={() => edit(item.sync.name)}
                onDeleted={deleted}
              />
            ),
          )}
        </ul>
      )}
    </section>
  );
}
