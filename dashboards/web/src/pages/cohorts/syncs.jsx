// The syncs that send this cohort somewhere (`GET /syncs`, filtered by cohort): destination,
// schedule, how the last run went, the delivery log, and "Run sync now" for editors.
import { useEffect, useState } from "preact/hooks";
import { get, post } from "../../api.js";
import { num } from "../../charts/format.js";
import { canEdit, useSession } from "../../session.js";
import { fmtEvery, fmtTime } from "./model.js";

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

/** How the last run went, from the log's last `sync` entry and the state. */
function status(state, log, latest) {
  const last = [...(log ?? [])].reverse().find((e) => e.kind === "sync");
  const rest = state.pending ? ` (${state.pending.delivered?.length ?? 0} batches delivered; the next try sends the rest)` : "";
  if (last && !last.completed) return { cls: "bad", text: `failed: ${last.detail ?? "not every batch was delivered"}${rest}` };
  if (state.pending) return { cls: "warn", text: `under way or incomplete${rest}` };
  if (!state.synced_run_ms) return { cls: "", text: "never synced" };
  const current = latest && state.synced_run_ms === latest.computed_ms;
  return { cls: current ? "good" : "warn", text: current ? "up to date with the latest computation" : `holds the computation of ${fmtTime(state.synced_run_ms)}` };
}

function Log({ entries }) {
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
                <td>{fmtTime(e.at_ms)}</td>
                <td>sync of {fmtTime(e.run_ms)}</td>
                <td class="n">+{num(e.entered)} / −{num(e.exited)}</td>
                <td class="n">{num(e.sent)}/{num(e.batches)} batches</td>
                <td class={e.completed ? "good" : "bad"}>{e.completed ? "completed" : "stopped"}</td>
                <td class="detail">{e.detail ?? ""}</td>
              </tr>
            ) : (
              <tr>
                <td>{fmtTime(e.at_ms)}</td>
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

function SyncCard({ item, latest, onRan }) {
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
  const s = status(state, log.entries, latest);
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
          </span>
        )}
      </div>
      <dl class="facts">
        <dt>destination</dt><dd data-testid="sync-destination"><strong>{sync.destination.kind}</strong> <span class="hint">{destinationText(sync.destination)}</span></dd>
        <dt>schedule</dt><dd>{fmtEvery(sync.every_secs)}</dd>
        <dt>last run</dt><dd class={s.cls} data-testid="sync-status">{s.text}{state.last_attempt_ms ? ` (tried ${fmtTime(state.last_attempt_ms)})` : ""}</dd>
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
      <details class="sync-log-box">
        <summary>Delivery log{log.entries ? ` (${log.entries.length})` : ""}</summary>
        {log.error && <p class="error" role="alert">{log.error}</p>}
        {!log.entries && !log.error && <p class="loading">Loading…</p>}
        {log.entries && <Log entries={log.entries} />}
      </details>
    </li>
  );
}

export function Syncs({ name, latest, version, onRan }) {
  const [state, setState] = useState({ syncs: null, error: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    get("/syncs").then(
      (s) => setState({ syncs: s.syncs.filter((x) => x.sync.cohort === name), error: null }),
      (e) => setState({ syncs: null, error: e.message }),
    );
  }, [name, version, tick, latest?.computed_ms]);
  const ran = (computed) => {
    setTick((t) => t + 1);
    if (computed) onRan();
  };
  return (
    <section class="card" data-testid="cohort-syncs">
      <h2>Syncs</h2>
      {state.error && <p class="error" role="alert">{state.error}</p>}
      {!state.syncs && !state.error && <p class="loading">Loading…</p>}
      {state.syncs && !state.syncs.length && (
        <p class="hint">No sync sends this cohort. Syncs are set up with <code>PUT /api/v1/syncs/NAME</code> or <code>sluice cohort sync save</code>.</p>
      )}
      {state.syncs?.length > 0 && (
        <ul class="syncs">
          {state.syncs.map((item) => <SyncCard key={item.sync.name} item={item} latest={latest} onRan={ran} />)}
        </ul>
      )}
    </section>
  );
}
