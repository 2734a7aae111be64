// The chart builder: an analysis's form on the left, its answer on the right. The spec being
// built is in the URL (`#/chart?spec=…`, or `#/charts/<id>?spec=…` when editing a saved chart),
// so a link or a reload reproduces the chart. Editors save it, optionally onto a dashboard.
import { useEffect, useMemo, useState } from "preact/hooks";
import { get, post, put } from "../api.js";
import { useCatalog } from "../catalog.js";
import { AnalysisForm } from "../components/forms/index.jsx";
import { Result } from "../components/result.jsx";
import { decodeState, encodeState, navigate, replaceRoute } from "../router.js";
import { canEdit, useSession } from "../session.js";
import { ANALYSES, cleanSpec, defaultSpec, describeSpec, missing } from "../spec.js";

function useDebounced(value, ms) {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return debounced;
}

/** Whether two specs ask the same (cleaned, keys in any order). */
function sameSpec(a, b) {
  const canonical = (v) =>
    Array.isArray(v) ? v.map(canonical) : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])])) : v;
  return JSON.stringify(canonical(cleanSpec(a))) === JSON.stringify(canonical(cleanSpec(b)));
}

function SaveDialog({ chart, spec, view, onSaved, onClose }) {
  const me = useSession();
  const [name, setName] = useState(chart?.name ?? describeSpec(spec));
  const [description, setDescription] = useState(chart?.description ?? "");
  const [boards, setBoards] = useState([]);
  const [board, setBoard] = useState("");
  const [newBoard, setNewBoard] = useState("");
  const [state, setState] = useState({ busy: false, error: null });
  useEffect(() => {
    get("/boards").then((b) => setBoards(b.boards), () => {});
  }, []);
  const save = async (e, asNew) => {
    e.preventDefault();
    if (board === "new" && !newBoard.trim()) return setState({ busy: false, error: "Name the new dashboard, or choose “(none)”." });
    setState({ busy: true, error: null });
    try {
      const body = { name, description: description || null, owner: chart?.owner ?? me.name, spec, view: { type: view } };
      const saved = chart && !asNew ? await put(`/charts/${chart.id}`, { ...chart, ...body }) : await post("/charts", body);
      let boardId = null;
      if (board === "new" && newBoard.trim()) {
        boardId = (await post("/boards", { name: newBoard.trim(), owner: me.name, charts: [{ chart_id: saved.id, width: 6 }] })).id;
      } else if (board && board !== "new") {
        const current = await get(`/boards/${board}`);
        if (!current.charts.some((t) => t.chart_id === saved.id)) {
          await put(`/boards/${board}`, { ...current, charts: [...current.charts, { chart_id: saved.id, width: 6 }] });
        }
        boardId = board;
      }
      onSaved(saved, boardId);
    } catch (err) {
      setState({ busy: false, error: err.message });
    }
    return undefined;
  };
  return (
    <div class="dialog" role="dialog" data-testid="save-dialog">
      <form onSubmit={(e) => save(e, false)}>
        <h3>{chart ? "Save chart" : "Save as a chart"}</h3>
        <label class="field">
          <span>Name</span>
          <input required value={name} data-testid="chart-name" onInput={(e) => setName(e.target.value)} />
        </label>
        <label class="field">
          <span>Description</span>
          <textarea value={description} onInput={(e) => setDescription(e.target.value)} />
        </label>
        <label class="field">
          <span>Add to dashboard</span>
          <select value={board} data-testid="chart-board" onChange={(e) => setBoard(e.target.value)}>
            <option value="">(none)</option>
            {boards.map((b) => <option value={b.id}>{b.name}</option>)}
            <option value="new">New dashboard…</option>
          </select>
        </label>
        {board === "new" && (
          <label class="field">
            <span>Dashboard name</span>
            <input value={newBoard} data-testid="new-board-name" onInput={(e) => setNewBoard(e.target.value)} />
          </label>
        )}
        {state.error && <p class="error" role="alert">{state.error}</p>}
        <div class="buttons">
          <button type="submit" class="primary" disabled={state.busy} data-testid="save-confirm">
            {state.busy ? "Saving…" : "Save"}
          </button>
          {chart && <button type="button" onClick={(e) => save(e, true)}>Save as new</button>}
          <button type="button" onClick={onClose}>Cancel</button>
        </div>
      </form>
    </div>
  );
}

export function BuilderPage({ route }) {
  const catalog = useCatalog();
  const me = useSession();
  const savedId = route.parts[0] === "charts" ? route.parts[1] : null;
  const [chart, setChart] = useState(null);
  const [spec, setSpec] = useState(null);
  const [view, setView] = useState(route.params.get("view"));
  const [error, setError] = useState(null);
  const [saving, setSaving] = useState(false);
  const [notice, setNotice] = useState(null);
  const urlSpec = route.params.get("spec");

  // Where the spec comes from: the URL, else the saved chart, else a default once the catalog is
  // in. Runs again on every navigation (a pasted link, Back), not on the builder's own edits,
  // which replace the URL without navigating.
  useEffect(() => {
    setError(null);
    setView(route.params.get("view"));
    if (urlSpec) {
      try {
        setSpec(decodeState(urlSpec));
      } catch {
        setError("This link's chart could not be read.");
      }
    } else if (!savedId) {
      setSpec(null);
    }
    if (savedId) {
      get(`/charts/${savedId}`).then(
        (c) => {
          setChart(c);
          if (!urlSpec) setSpec(c.spec);
          if (!route.params.get("view")) setView(c.view?.type ?? null);
        },
        (e) => setError(e.message),
      );
    } else {
      setChart(null);
    }
  }, [savedId, urlSpec, route.seq]);
  useEffect(() => {
    if (!spec && !urlSpec && !savedId && catalog.events.length) {
      setSpec(defaultSpec(route.params.get("analysis") ?? "segmentation", catalog));
    }
  }, [catalog, spec]);

  // The URL follows the spec and the view.
  useEffect(() => {
    if (!spec) return;
    const base = savedId ? `/charts/${savedId}` : "/chart";
    const params = new URLSearchParams({ spec: encodeState(spec) });
    if (view) params.set("view", view);
    replaceRoute(`${base}?${params}`);
  }, [spec, view]);

  const debounced = useDebounced(spec, 350);
  const runnable = useMemo(() => (debounced && !missing(debounced) ? cleanSpec(debounced) : null), [debounced]);
  if (error) return <p class="error" role="alert">{error}</p>;
  if (catalog.error) return <p class="error" role="alert">The taxonomy could not be loaded: {catalog.error}</p>;
  if (!spec) return <p class="loading">Loading…</p>;
  const why = missing(spec);
  const changeAnalysis = (analysis) => {
    setView(null);
    setSpec(defaultSpec(analysis, catalog));
  };
  return (
    <div class="builder">
      <section class="builder-form">
        <div class="analysis-tabs" role="tablist">
          {ANALYSES.map(([key, label]) => (
            <button type="button" role="tab" class={spec.analysis === key ? "on" : ""} aria-selected={spec.analysis === key} data-testid={`analysis-${key}`} onClick={() => changeAnalysis(key)}>
              {label}
            </button>
          ))}
        </div>
        <AnalysisForm
          spec={spec}
          onChange={(next) => {
            setNotice(null); // "Saved." is about the chart before this edit
            setSpec(next);
          }}
          catalog={catalog}
        />
        <details class="spec-json">
          <summary>Query spec (JSON)</summary>
          <pre>{JSON.stringify(cleanSpec(spec), null, 2)}</pre>
        </details>
      </section>
      <section class="builder-result">
        <div class="chart-head">
          <h2 data-testid="chart-title">{chart ? chart.name : describeSpec(spec)}</h2>
          {chart?.description && <p class="hint">{chart.description}</p>}
          <span class="actions">
            <button type="button" class="link" onClick={() => navigator.clipboard?.writeText(window.location.href).then(() => setNotice("Link copied."))}>
              Copy link
            </button>
            {canEdit(me) && (
              <button type="button" class="primary" data-testid="save-chart" disabled={!!why} onClick={() => setSaving(true)}>
                Save
              </button>
            )}
          </span>
        </div>
        {notice && <p class="ok" data-testid="notice">{notice}</p>}
        {!notice && chart && !sameSpec(spec, chart.spec) && (
          <p class="hint" data-testid="unsaved">Changed since it was saved: Save to keep the changes.</p>
        )}
        {why ? <p class="hint" data-testid="missing">{why}</p> : <Result spec={runnable} chartId={savedId} view={view} onView={setView} name={chart?.name} />}
      </section>
      {saving && (
        <SaveDialog
          chart={chart}
          spec={cleanSpec(spec)}
          view={view}
          onClose={() => setSaving(false)}
          onSaved={(saved, boardId) => {
            setSaving(false);
            setChart(saved);
            setNotice(boardId ? "Saved, and added to the dashboard." : "Saved.");
            if (saved.id !== savedId) navigate(`/charts/${saved.id}?spec=${encodeState(saved.spec)}${view ? `&view=${view}` : ""}`);
            if (boardId) setNotice(<>Saved to the dashboard. <a href={`#/boards/${boardId}`} data-testid="open-board">Open it</a></>);
          }}
        />
      )}
    </div>
  );
}
