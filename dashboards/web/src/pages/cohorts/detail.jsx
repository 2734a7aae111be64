// One saved cohort (`#/cohorts/<name>`): its definition in words and JSON, its size over time,
// "Compute now", its members, who entered and exited, its syncs, and Delete; `…/edit` opens the
// definition in the editor.
import { useEffect, useMemo, useState } from "preact/hooks";
import { del, get, post } from "../../api.js";
import { refreshCatalog } from "../../catalog.js";
import { EChart } from "../../charts/echart.jsx";
import { num } from "../../charts/format.js";
import { navigate } from "../../router.js";
import { canEdit, useSession } from "../../session.js";
import { CohortEditor } from "./editor.jsx";
import { Changes, Members } from "./members.jsx";
import { cohortPath, fmtTime, summarize } from "./model.js";
import { Syncs } from "./syncs.jsx";

/** Size, entered and exited per computation, on a time axis in the cohort's zone (so runs minutes apart sit minutes apart). */
function historyOption(history, timeZone) {
  const at = (h, value) => [h.computed_ms, value];
  return {
    tooltip: {
      trigger: "axis",
      formatter: (points) =>
        [fmtTime(points[0].value[0], timeZone), ...points.map((p) => `${p.marker}${p.seriesName} <b>${num(p.value[1])}</b>`)].join("<br>"),
    },
    legend: { bottom: 0 },
    grid: { left: 50, right: 20, top: 30, bottom: 56 },
    xAxis: { type: "time", axisLabel: { hideOverlap: true, formatter: (ms) => fmtTime(ms, timeZone) } },
    yAxis: { type: "value", name: "persons", minInterval: 1 },
    series: [
      { name: "size", type: "line", data: history.map((h) => at(h, h.size)), symbolSize: 7, itemStyle: { color: "#4e6ef2" }, z: 3 },
      { name: "entered", type: "bar", data: history.map((h) => at(h, h.entered)), itemStyle: { color: "#12b76a" }, barMaxWidth: 24 },
      { name: "exited", type: "bar", data: history.map((h) => at(h, h.exited)), itemStyle: { color: "#f04438" }, barMaxWidth: 24 },
    ],
  };
}

function History({ history, timeZone }) {
  const option = useMemo(() => historyOption(history, timeZone), [history, timeZone]);
  return (
    <section class="card">
      <h2>Size over time</h2>
      {history.length ? (
        <EChart option={option} height={280} testid="cohort-history-chart" />
      ) : (
        <p class="hint" data-testid="cohort-history-chart">No computation yet.</p>
      )}
      {history.length > 0 && (
        <details>
          <summary>Every computation ({history.length})</summary>
          <div class="table-scroll">
            <table class="data" data-testid="cohort-history-table">
              <thead><tr><th>computed</th><th>as of</th><th>size</th><th>entered</th><th>exited</th></tr></thead>
              <tbody>
                {[...history].reverse().map((h) => (
                  <tr><td>{fmtTime(h.computed_ms, timeZone)}</td><td>{h.as_of}</td><td class="n">{num(h.size)}</td><td class="n">{num(h.entered)}</td><td class="n">{num(h.exited)}</td></tr>
                ))}
              </tbody>
            </table>
          </div>
        </details>
      )}
    </section>
  );
}

export function CohortPage({ name, edit }) {
  const me = useSession();
  const [data, setData] = useState(null);
  const [cohorts, setCohorts] = useState([]);
  const [error, setError] = useState(null);
  const [version, setVersion] = useState(0);
  const [action, setAction] = useState({ busy: null, error: null, notice: null });
  useEffect(() => {
    setError(null);
    get(`/cohorts/${encodeURIComponent(name)}`).then(setData, (e) => setError(e));
  }, [name, version]);
  useEffect(() => {
    if (edit) get("/cohorts").then((c) => setCohorts(c.cohorts), () => {});
  }, [edit]);
  if (error) {
    return (
      <div class="page">
        <p class="error" role="alert" data-testid="cohort-error">{error.message}</p>
        <a href="#/cohorts">All cohorts</a>
      </div>
    );
  }
  if (!data || data.cohort.name !== name) return <p class="loading">Loading…</p>;
  const { cohort, history } = data;
  if (edit && canEdit(me)) {
    return (
      <CohortEditor
        cohort={cohort}
        cohorts={cohorts}
        onCancel={() => navigate(cohortPath(name))}
        onSaved={() => {
          setVersion((v) => v + 1);
          navigate(cohortPath(name));
        }}
      />
    );
  }
  const latest = history.length ? history[history.length - 1] : null;
  const compute = async () => {
    setAction({ busy: "compute", error: null, notice: null });
    try {
      const made = await post(`/cohorts/${encodeURIComponent(name)}/compute`, {});
      refreshCatalog();
      setAction({ busy: null, error: null, notice: `Computed: ${num(made.run.size)} persons, ${num(made.run.entered)} entered, ${num(made.run.exited)} exited.` });
      setVersion((v) => v + 1);
    } catch (e) {
      setAction({ busy: null, error: e.message, notice: null });
    }
  };
  const remove = async () => {
    if (!window.confirm(`Delete the cohort “${name}”, its history and members? Syncs that send it will fail until changed.`)) return;
    setAction({ busy: "delete", error: null, notice: null });
    try {
      await del(`/cohorts/${encodeURIComponent(name)}`);
      refreshCatalog();
      navigate("/cohorts");
    } catch (e) {
      setAction({ busy: null, error: e.message, notice: null });
    }
  };
  return (
    <div class="page cohort-page" data-testid="cohort-page">
      <p class="crumbs"><a href="#/cohorts">Cohorts</a> /</p>
      <div class="cohort-head">
        <div>
          <h1 data-testid="cohort-title">{cohort.name}</h1>
          {cohort.description && <p class="hint">{cohort.description}</p>}
          <p class="hint">
            {cohort.owner ? `owner ${cohort.owner} · ` : ""}
            {cohort.project ? `${cohort.project} · ` : ""}
            {cohort.time_zone}
          </p>
        </div>
        {canEdit(me) && (
          <div class="cohort-actions">
            <button type="button" class="primary" data-testid="cohort-compute" disabled={!!action.busy} onClick={compute}>
              {action.busy === "compute" ? "Computing…" : "Compute now"}
            </button>
            <button type="button" data-testid="cohort-edit" onClick={() => navigate(`/cohorts/${encodeURIComponent(name)}/edit`)}>Edit</button>
            <button type="button" class="link danger" data-testid="cohort-delete" disabled={!!action.busy} onClick={remove}>Delete</button>
          </div>
        )}
      </div>
      {action.error && <p class="error" role="alert" data-testid="cohort-action-error">{action.error}</p>}
      {action.notice && <p class="ok" data-testid="cohort-notice">{action.notice}</p>}
      <div class="cohort-grid">
        <section class="card cohort-latest">
          <h2>Latest</h2>
          {latest ? (
            <>
              <p><strong class="big" data-testid="cohort-size">{num(latest.size)}</strong> persons</p>
              <p class="hint" data-testid="cohort-computed">
                computed {fmtTime(latest.computed_ms, cohort.time_zone)} ({cohort.time_zone || "UTC"}) as of {latest.as_of} · <span class="good">+{num(latest.entered)}</span> <span class="bad">−{num(latest.exited)}</span>
              </p>
            </>
          ) : (
            <p class="hint" data-testid="cohort-size">Not computed yet.{canEdit(me) ? " Compute it now to see its members." : ""}</p>
          )}
        </section>
        <section class="card cohort-definition" data-testid="cohort-definition-view">
          <h2>Definition</h2>
          <p data-testid="cohort-summary">{summarize(cohort.definition)}</p>
          <details>
            <summary>JSON</summary>
            <pre data-testid="cohort-definition-json">{JSON.stringify(cohort.definition, null, 2)}</pre>
          </details>
        </section>
      </div>
      <History history={history} timeZone={cohort.time_zone} />
      <Members name={name} latest={latest} />
      <Changes name={name} latest={latest} />
      <Syncs name={name} latest={latest} timeZone={cohort.time_zone} version={version} onRan={() => setVersion((v) => v + 1)} />
    </div>
  );
}
