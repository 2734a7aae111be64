// Runs a spec and shows its answer: progress while it runs (elapsed time, cancel), the API's
// error where the chart would be, then the chart views, a table view (the server's CSV) and a
// CSV download. Clicks on a chart point can make a cohort (editors).
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, post } from "../api.js";
import { explainError, oneReturn } from "../spec.js";
import { EChart } from "../charts/echart.jsx";
import { chartOption, clickedPoint, flatten, viewsOf } from "../charts/options.js";
import { duration, num, pct } from "../charts/format.js";
import { parseCsv } from "../charts/csv.js";
import { canEdit, useSession } from "../session.js";
import { refreshCatalog } from "../catalog.js";

/** Runs `spec` (when it changes) and hands back {result, error, running, elapsed, cancel}. */
export function useQuery(spec, chartId) {
  const [state, setState] = useState({ result: null, error: null, running: false, started: 0 });
  const [now, setNow] = useState(Date.now());
  const controller = useRef(null);
  const key = spec ? JSON.stringify(spec) : null;
  useEffect(() => {
    if (!key) return undefined;
    controller.current?.abort();
    const abort = new AbortController();
    controller.current = abort;
    setState((s) => ({ ...s, running: true, error: null, started: Date.now() }));
    api("POST", "/query", { body: JSON.parse(key), chart: chartId, signal: abort.signal }).then(
      (result) => setState({ result, error: null, running: false, started: 0, answered: key }),
      (e) => {
        if (e.name === "AbortError") return;
        setState({ result: null, error: e.message, running: false, started: 0, answered: key });
      },
    );
    return () => abort.abort();
  }, [key, chartId]);
  useEffect(() => {
    if (!state.running) return undefined;
    const timer = setInterval(() => setNow(Date.now()), 100);
    return () => clearInterval(timer);
  }, [state.running]);
  const cancel = () => {
    controller.current?.abort();
    setState((s) => ({ ...s, running: false, error: "Cancelled." }));
  };
  return { ...state, elapsed: state.running ? (now - state.started) / 1000 : 0, cancel };
}

export function Progress({ elapsed, cancel }) {
  return (
    <div class="progress" role="status" data-testid="progress">
      <span class="spinner" /> Running… {elapsed.toFixed(1)} s
      {elapsed > 2 && <span class="hint"> (large date ranges take longer)</span>}
      <button type="button" class="link" onClick={cancel}>Cancel</button>
    </div>
  );
}

async function downloadCsv(spec, name) {
  const text = await api("POST", "/query", { body: spec, accept: "csv" });
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = `${(name || spec.analysis).replace(/[^\w.-]+/g, "-")}.csv`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

const NUMBER = /^-?\d+(\.\d+)?(e-?\d+)?$/;
const shown = new Intl.NumberFormat("en", { maximumFractionDigits: 4 });
/** Columns holding a fraction of 1 (a share, a conversion, a rate): shown as percentages. */
const FRACTION = /(^|[_ ])(share|conversion|rate)([_ ]|$)/i;

/**
 * A CSV cell: numbers right-aligned with thousands separators, fractions of 1 in a share or
 * conversion column as percentages, long fractions cut to 4 digits; the exact text (what the CSV
 * holds) is the cell's title. A column whose name ends in `_ms`, `year` or `id` is left as is.
 */
function Cell({ text, column = "" }) {
  if (!NUMBER.test(text)) return <td>{text}</td>;
  const n = Number(text);
  const raw = /(_ms|year|id)$/i.test(column);
  const value = raw ? text : FRACTION.test(column) && n >= 0 && n <= 1 ? pct(n) : shown.format(n);
  return (
    <td class="n" title={text}>
      {value}
    </td>
  );
}

/** The table view: the query's CSV (what the download holds), as a table. */
function CsvTable({ spec }) {
  const [table, setTable] = useState(null);
  const [error, setError] = useState(null);
  const key = JSON.stringify(spec);
  useEffect(() => {
    setTable(null);
    api("POST", "/query", { body: spec, accept: "csv" }).then((text) => setTable(parseCsv(text)), (e) => setError(e.message));
  }, [key]);
  if (error) return <p class="error">{error}</p>;
  if (!table) return <p class="loading">Loading the table…</p>;
  const [head, ...rows] = table;
  return (
    <div class="table-scroll">
      <table class="data" data-testid="result-table">
        <thead>
          <tr>{head.map((h) => <th>{h}</th>)}</tr>
        </thead>
        <tbody>
          {rows.slice(0, 2000).map((r) => (
            <tr>{r.map((c, i) => <Cell text={c} column={head[i]} />)}</tr>
          ))}
        </tbody>
      </table>
      {rows.length > 2000 && <p class="hint">First 2,000 of {num(rows.length)} rows; the CSV has them all.</p>}
    </div>
  );
}

/** Each step's persons and conversion, as numbers a reader (and a test) can read exactly. */
/** Each step's persons, conversion and drop-off; `label` names a compared segment's (no testids). */
function FunnelSummary({ result, label }) {
  const id = (suffix) => (label ? undefined : `funnel-${suffix}`);
  return (
    <ol class="funnel-summary" data-testid={id("summary")} aria-label={label ?? undefined}>
      {label && <li class="funnel-summary-label"><strong>{label}</strong></li>}
      {result.steps.map((name, i) => {
        const s = result.overall.steps[i];
        return (
          <li data-testid={id(`step-${i + 1}`)}>
            <span class="step-name">{name}</span>
            <strong data-testid={id(`step-${i + 1}-persons`)}>{num(s.persons)}</strong>
            <span>{pct(s.conversion_from_first)} of step 1</span>
            {i > 0 && <span class="drop">−{num(s.drop_off)} dropped ({pct(1 - s.conversion_from_previous)})</span>}
          </li>
        );
      })}
    </ol>
  );
}

/** Time to convert in words: the median and average, and each step's average from the one before. */
function TimeToConvertSummary({ result }) {
  const parts = flatten(result).filter(({ result: r }) => r.time_to_convert);
  return (
    <div class="ttc-summary" data-testid="ttc-summary">
      {parts.map(({ label, result: r }) => {
        const t = r.time_to_convert;
        return (
          <p>
            {label && <strong>{label}: </strong>}
            {num(t.persons)} persons went from step {t.from_step} to step {t.to_step}: median <strong data-testid="ttc-median">{duration(t.median_ms)}</strong>, average{" "}
            {duration(t.average_ms)}.
            {t.steps?.length > 0 && (
              <span class="hint">
                {" "}From the step before, on average: {t.steps.map((s) => `step ${s.step} ${duration(s.average_ms)}`).join(" · ")}.
              </span>
            )}
          </p>
        );
      })}
    </div>
  );
}

const returnName = (e) => (e === "_all" ? "any event" : e);

/** One retention table: the All row, then a row per cohort, cells shaded by rate. */
function RetentionRows({ r, caption, testid, onCell }) {
  return (
    <table class="data retention" data-testid={testid}>
      {caption && <caption>{caption}</caption>}
      <thead>
        <tr>
          <th>Cohort</th>
          <th>Persons</th>
          {r.columns.map((c) => <th>{c}</th>)}
        </tr>
      </thead>
      <tbody>
        <tr class="overall">
          <td>All</td>
          <td class="n">{num(r.overall.persons)}</td>
          {r.overall.rate.map((x, j) => <td class="n">{r.overall.eligible[j] && x !== null ? pct(x) : "–"}</td>)}
        </tr>
        {r.cohorts.map((c) => (
          <tr>
            <td>{c.period}</td>
            <td class="n">{num(c.persons)}</td>
            {c.returned.map((n, j) => {
              const rate = c.persons ? n / c.persons : 0;
              return (
                <td
                  class={`n cell ${c.complete[j] ? "" : "incomplete"}`}
                  style={{ background: `rgba(78, 110, 242, ${rate * 0.85})`, color: rate > 0.5 ? "#fff" : "" }}
                  title={`${num(n)} of ${num(c.persons)}${c.complete[j] ? "" : " (period not over yet)"}`}
                  onClick={() => onCell?.(c, j, n)}
                >
                  {/* a period not over yet with nobody back so far (or not begun): no 0 % to mislead */}
                  {c.persons && (c.complete[j] || n > 0) ? pct(rate) : "–"}
                </td>
              );
            })}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * The retention tables: cohorts by period, cells shaded by rate; a click makes a cohort. With two
 * return events (`second_return`), the second event's table follows the first, over the same
 * cohorts. `returns`: the spec's return events, to name them.
 */
function RetentionTable({ result, onCell, returns }) {
  const join = (label, text) => (label ? `${label} · ${text}` : text);
  return (
    <div class="retention-tables">
      {flatten(result).map(({ label, result: r }) => {
        const second = r.second_return;
        if (!second) {
          return (
            <div class="table-scroll">
              <RetentionRows r={r} caption={label} testid="retention-table" onCell={label ? null : onCell?.(0)} />
            </div>
          );
        }
        // Each table scrolls on its own, so the second is in sight without scrolling the first.
        return (
          <>
            <div class="table-scroll half">
              <RetentionRows r={r} caption={join(label, `Return event 1: ${returnName(returns?.[0]?.event_type ?? "?")}`)} testid="retention-table" onCell={label ? null : onCell?.(0)} />
            </div>
            <div class="table-scroll half">
              <RetentionRows
                r={{ ...second, columns: r.columns }}
                caption={join(label, `Return event 2: ${returnName(second.return_event)}`)}
                testid="retention-table-2"
                onCell={label ? null : onCell?.(1)}
              />
            </div>
          </>
        );
      })}
    </div>
  );
}

/** Strips what `from-funnel` refuses: the cohort is the plain funnel's point. */
function plainFunnel(spec) {
  const { breakdown, group_by, group_limit, segments, hold_constant, interval, time_to_convert, ...rest } = spec;
  return rest;
}

function CohortDialog({ spec, point, onClose }) {
  const [name, setName] = useState(point.key.replace(/[^a-z0-9_-]/g, "-").slice(0, 40));
  const [state, setState] = useState({ busy: false, error: null, made: null });
  const save = async (e) => {
    e.preventDefault();
    setState({ busy: true, error: null, made: null });
    const body = { ...point.body };
    if (point.route === "from-funnel") body.funnel = plainFunnel(spec);
    if (point.route === "from-lifecycle") body.lifecycle = spec;
    if (point.route === "from-retention") body.retention = oneReturn(spec, point.returnIndex);
    try {
      const made = await post(`/cohorts/${encodeURIComponent(name)}/${point.route}`, body);
      refreshCatalog();
      setState({ busy: false, error: null, made });
    } catch (err) {
      setState({ busy: false, error: err.message, made: null });
    }
  };
  return (
    <div class="dialog" role="dialog" data-testid="cohort-dialog">
      <form onSubmit={save}>
        <h3>Save as a cohort</h3>
        <p>
          The {num(point.persons)} persons who {point.what}. The cohort is recomputed with the data, like any saved
          cohort.
        </p>
        <label class="field">
          <span>Name</span>
          <input value={name} data-testid="cohort-name" pattern="[a-z0-9_\-]{1,64}" title="1–64 of a-z 0-9 - _" onInput={(e) => setName(e.target.value)} />
        </label>
        {state.error && <p class="error" role="alert">{state.error}</p>}
        {state.made ? (
          <p class="ok" data-testid="cohort-made">
            Cohort <a href={`#/cohorts/${state.made.cohort.name}`}>{state.made.cohort.name}</a> saved:{" "}
            <strong data-testid="cohort-made-size">{num(state.made.run.size)}</strong> persons.
          </p>
        ) : null}
        <div class="buttons">
          {!state.made && (
            <button type="submit" class="primary" disabled={state.busy} data-testid="cohort-save">
              {state.busy ? "Saving…" : "Save cohort"}
            </button>
          )}
          <button type="button" onClick={onClose}>Close</button>
        </div>
      </form>
    </div>
  );
}

/**
 * The answer to `spec`: `view` is the chosen view key (null: the result's default);
 * `onView(key)` changes it; `compact` (a dashboard tile) hides the toolbar's extras.
 */
export function Result({ spec, chartId, view, onView, compact = false, name, height = 360 }) {
  const me = useSession();
  const query = useQuery(spec, chartId);
  const [point, setPoint] = useState(null);
  const { result } = query;
  const views = useMemo(() => (result ? viewsOf(result) : []), [result]);
  const chosen = views.find(([key]) => key === view)?.[0] ?? views[0]?.[0];
  // Labels follow the chart's width: a narrow chart (a phone, a small tile) gets step numbers
  // under its bars and fewer labels inside them.
  const option = useMemo(
    () => (result && chosen && chartOption(result, chosen, { width: 800, spec }) ? (width) => chartOption(result, chosen, { width, spec }) : null),
    [result, chosen],
  );
  if (!spec) return null;
  const editable = canEdit(me) && !compact;
  const onClick = (params) => {
    if (!editable) return;
    const p = clickedPoint(result, chosen, params);
    if (p) setPoint(p);
  };
  // A cell of the i-th return event's table (`from-retention` refuses "Return On or After").
  const onRetentionCell = editable && spec.method !== "return_on_or_after"
    ? (returnIndex) => (cohort, column, returned) => {
      const event = spec.return_events?.[returnIndex]?.event_type;
      setPoint({
        route: "from-retention",
        returnIndex,
        body: { cohort: cohort.period, column, returned: true },
        persons: returned,
        what: `started in ${cohort.period} and returned${event ? ` (${returnName(event)})` : ""} in period ${column}`,
        key: `returned-${event && returnIndex ? `${returnIndex + 1}-` : ""}${cohort.period}-${column}`,
      });
    }
    : null;
  return (
    // `data-answered`: the spec whose answer (or error) is shown, so a reader knows it is current.
    <div class={`result ${compact ? "compact" : ""}`} data-testid="result" data-answered={query.answered ?? ""}>
      {query.running && <Progress elapsed={query.elapsed} cancel={query.cancel} />}
      {query.error && <p class="error" role="alert" data-testid="query-error">{explainError(query.error)}</p>}
      {result && (
        <>
          <div class="toolbar">
            <span class="views" role="tablist">
              {views.map(([key, label]) => (
                <button type="button" role="tab" aria-selected={key === chosen} class={key === chosen ? "on" : ""} data-testid={`view-${key}`} onClick={() => onView?.(key)}>
                  {label}
                </button>
              ))}
            </span>
            <button type="button" class="link" data-testid="download-csv" onClick={() => downloadCsv(spec, name)}>
              Download CSV
            </button>
          </div>
          {chosen === "table" && <CsvTable spec={spec} />}
          {chosen === "retention_table" && <RetentionTable result={result} onCell={onRetentionCell} returns={spec.return_events} />}
          {option && <EChart option={option} onClick={onClick} height={height} testid={`chart-${chosen}`} />}
          {result.analysis === "funnel" && !compact && <FunnelSummary result={result} />}
          {result.analysis === "segments" && !compact && chosen === "funnel_bars" &&
            flatten(result).filter((part) => part.result.analysis === "funnel").map((part) => <FunnelSummary result={part.result} label={part.label} />)}
          {chosen === "time_to_convert" && !compact && <TimeToConvertSummary result={result} />}
          {editable && (chosen === "funnel_bars" || chosen === "lifecycle_bars") && result.analysis !== "segments" && (
            <p class="hint">Click a bar to save its persons as a cohort.</p>
          )}
          {onRetentionCell && chosen === "retention_table" && flatten(result).every((part) => !part.label) && (
            <p class="hint">Click a cell to save the persons who returned there as a cohort.</p>
          )}
        </>
      )}
      {point && <CohortDialog spec={spec} point={point} onClose={() => setPoint(null)} />}
    </div>
  );
}
