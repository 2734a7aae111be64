// The taxonomy browser ("Data"): every event type of the tracking plan and of the data, side by
// side, for a newcomer to learn the data model. `#/taxonomy/<event>?days=N&q=…` reproduces the
// view: the window (7, 30 or 90 days), the search text, and the event opened onto its properties.
import { useEffect, useMemo, useState } from "preact/hooks";
import { get } from "../api.js";
import { num } from "../charts/format.js";
import { Select } from "../components/controls.jsx";
import { PropertyTable } from "../components/event-detail.jsx";
import { EventList } from "../components/event-list.jsx";
import { Attention } from "../components/taxonomy-attention.jsx";
import { navigate, replaceRoute } from "../router.js";
import { eventRows, matches, taxonomyPath } from "../taxonomy.js";

const WINDOWS = [7, 30, 90];

function useTaxonomy(days) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  useEffect(() => {
    const abort = new AbortController();
    setState((s) => ({ ...s, error: null, loading: true }));
    get(`/taxonomy?days=${days}`, { signal: abort.signal }).then(
      (data) => setState({ data, error: null, loading: false }),
      (e) => e.name !== "AbortError" && setState({ data: null, error: e.message, loading: false }),
    );
    return () => abort.abort();
  }, [days]);
  return state;
}

function Summary({ rows, shown, days }) {
  const seen = rows.filter((r) => r.events > 0).length;
  const planned = rows.filter((r) => r.def).length;
  const total = rows.reduce((n, r) => n + r.events, 0);
  return (
    <p class="summary" data-testid="taxonomy-summary">
      <strong>{rows.length}</strong> event types: <strong>{planned}</strong> in the plan, <strong>{seen}</strong> seen in the
      last {days.length} days ({num(total)} events, {days[0]} – {days[days.length - 1]}).
      {shown !== rows.length && <> Showing {shown} that match the search.</>}
    </p>
  );
}

function propertyRows(defs, q) {
  const text = q.trim().toLowerCase();
  return Object.entries(defs ?? {})
    .filter(([name, def]) => !text || name.toLowerCase().includes(text) || (def.description ?? "").toLowerCase().includes(text))
    .map(([name, def]) => ({ name, def }));
}

function Properties({ plan, q }) {
  const users = propertyRows(plan.user_properties, q);
  const events = propertyRows(plan.event_properties, q);
  return (
    <>
      <section class="card" data-testid="taxonomy-user-properties-section">
        <h2>User properties ({users.length})</h2>
        <p class="hint">Set on people by identify calls and carried on each of their events; every analysis can filter or group by them.</p>
        {users.length ? <PropertyTable rows={users} testid="taxonomy-user-properties" /> : <p class="hint">None match.</p>}
      </section>
      <details class="card" data-testid="taxonomy-glossary-section">
        <summary><h2>All event properties ({events.length})</h2></summary>
        <p class="hint">One name has one type across every event; open an event above to see which it sends.</p>
        <PropertyTable rows={events} testid="taxonomy-glossary" />
      </details>
    </>
  );
}

export function TaxonomyPage({ route }) {
  // A window from the link: whole days from 1 to 366 (the API's bounds), else the default 30.
  const askedText = route.params.get("days");
  const asked = Number(askedText);
  const days = Number.isInteger(asked) && asked >= 1 && asked <= 366 ? asked : 30;
  const refusedWindow = askedText !== null && days !== asked ? askedText : null;
  const openName = route.parts[1] ? decodeURIComponent(route.parts[1]) : null;
  const urlQ = route.params.get("q") ?? "";
  const [q, setQ] = useState(urlQ);
  useEffect(() => setQ(urlQ), [urlQ]);
  const { data, error, loading } = useTaxonomy(days);
  const rows = useMemo(() => (data ? eventRows(data) : []), [data]);
  const shown = rows.filter((r) => r.name === openName || matches(r, q));
  const hrefFor = (name) => taxonomyPath(name, days, q);
  useEffect(() => {
    if (!openName || !data) return;
    document.querySelector(`[data-event="${CSS.escape(openName)}"]`)?.scrollIntoView({ block: "start" });
  }, [openName, data]);

  const plan = data?.plan;
  const timeZone = plan?.project?.time_zone ?? "UTC";
  const options = WINDOWS.includes(days) ? WINDOWS : [...WINDOWS, days].sort((a, b) => a - b);
  return (
    <div class="page taxonomy" data-testid="taxonomy-page">
      <div class="board-head">
        <h1>Data</h1>
        <div class="board-controls">
          <input
            type="search"
            placeholder="Search events and properties"
            value={q}
            data-testid="taxonomy-search"
            aria-label="Search events"
            onInput={(e) => {
              setQ(e.target.value);
              replaceRoute(taxonomyPath(openName, days, e.target.value));
            }}
          />
          <Select
            value={String(days)}
            options={options.map((n) => [String(n), `Last ${n} days`])}
            testid="taxonomy-days"
            onChange={(n) => navigate(taxonomyPath(openName, Number(n), q))}
          />
        </div>
      </div>
      <p class="hint intro">
        Every event type the tracking plan declares and every one the data holds{plan?.project ? <> for project <code>{plan.project.name}</code> (volumes by UTC day, as the data is stored; times in {timeZone})</> : ""}.
        Open an event to see its properties; anything the plan did not expect is flagged below.
      </p>
      {refusedWindow !== null && (
        <p class="warn-note" data-testid="taxonomy-window-notice">
          The link asked for a window of “{refusedWindow}” days; the window is 1 to 366 whole days, so the last 30 are shown.
        </p>
      )}
      {error && <p class="error" role="alert" data-testid="taxonomy-error">{error}</p>}
      {loading && !data && <p class="loading" data-testid="taxonomy-loading">Loading the taxonomy…</p>}
      {data && (
        <div class={loading ? "stale" : ""} aria-busy={loading ? "true" : "false"}>
          <Summary rows={rows} shown={shown.length} days={data.days} />
          <Attention rows={shown} hrefFor={hrefFor} timeZone={timeZone} days={data.days} hasPlan={!!plan} filtered={shown.length !== rows.length} />
          <h2 class="section-title">Events</h2>
          {openName && !rows.some((r) => r.name === openName) && (
            <p class="error" data-testid="taxonomy-unknown-event">
              No event “{openName}” in the plan or in the last {days} days. <a href={`#${hrefFor(null)}`}>Show all events</a>
            </p>
          )}
          {shown.length ? (
            <EventList rows={shown} openName={openName} hrefFor={hrefFor} days={data.days} plan={plan} timeZone={timeZone} />
          ) : (
            <p class="hint" data-testid="taxonomy-no-match">No event matches “{q}”.</p>
          )}
          {plan && <Properties plan={plan} q={q} />}
        </div>
      )}
    </div>
  );
}
