// Making or changing a cohort: its name, description and time zone, the definition in the
// builder (or as raw JSON), a preview that runs it (`POST /query`, a cohort spec) and Save
// (`PUT /cohorts/{name}`). Errors the server names a field in are shown beside that field.
import { useMemo, useState } from "preact/hooks";
import { post, put } from "../../api.js";
import { refreshCatalog, useCatalog } from "../../catalog.js";
import { num, pct } from "../../charts/format.js";
import { useSession } from "../../session.js";
import { todayIn } from "../../spec.js";
import { Node } from "./conditions.jsx";
import { NAME_RE, NAME_RULE, claimPath, cleanDefinition, editable, emptyDefinition, errorPath, fromRoot, missing, previewCaveats, summarize, toRoot } from "./model.js";

function hasReadOnly(node) {
  if (!node || typeof node !== "object") return false;
  if (!editable(node)) return true;
  return [...(node.all ?? []), ...(node.any ?? []), ...(node.not ? [node.not] : [])].some(hasReadOnly);
}

/** Which field an API error is about: `name`, `time_zone`, `json`, a definition path, or none. */
function placeError(message, { mode, root, wrapped }) {
  if (/cohort name/.test(message)) return { field: "name" };
  if (/\btime_zone\b/.test(message)) return { field: "time_zone" };
  const path = errorPath(message, wrapped && root.all?.length === 1);
  if (path && mode === "json") return { field: "json" };
  if (path) return { field: "definition", at: claimPath(root, path) };
  return { field: null };
}

function Preview({ state, stale, today }) {
  if (state.busy) return <p class="progress"><span class="spinner" /> Counting…</p>;
  const r = state.result;
  if (!r) return null;
  const caveats = previewCaveats(JSON.parse(state.of).definition, state.asOf || today, !!state.asOf);
  return (
    <div class="card cohort-preview" data-testid="cohort-preview-result">
      {stale && <p class="hint" data-testid="cohort-preview-stale">The definition changed since this preview: preview again.</p>}
      <p>
        <strong class="big" data-testid="cohort-preview-size">{num(r.size)}</strong> of {num(r.persons)} persons ({pct(r.persons ? r.size / r.persons : null)}) {state.asOf ? <>as of {state.asOf}</> : "today"}.
      </p>
      {caveats.map((text) => <p class="warn-note" data-testid="cohort-preview-caveat">{text}</p>)}
      {r.members?.length > 0 && (
        <div class="table-scroll">
          <table class="data">
            <thead><tr><th>person</th><th>user id</th><th>device id</th></tr></thead>
            <tbody>
              {r.members.map((m) => <tr><td class="n">{m.person_id}</td><td>{m.user_id ?? "–"}</td><td>{m.device_id}</td></tr>)}
            </tbody>
          </table>
          {r.size > r.members.length && <p class="hint">The first {r.members.length} members.</p>}
        </div>
      )}
    </div>
  );
}

export function CohortEditor({ cohort, cohorts, onSaved, onCancel }) {
  const me = useSession();
  const catalog = useCatalog();
  const start = useMemo(() => toRoot(cohort?.definition ?? emptyDefinition()), [cohort]);
  const [root, setRoot] = useState(start.root);
  const [wrapped, setWrapped] = useState(start.wrapped);
  const [name, setName] = useState(cohort?.name ?? "");
  const [description, setDescription] = useState(cohort?.description ?? "");
  const [timeZone, setTimeZone] = useState(cohort?.time_zone ?? null);
  const [mode, setMode] = useState("builder");
  const [json, setJson] = useState("");
  const [preview, setPreview] = useState({ busy: false, result: null });
  const [error, setError] = useState(null); // {message, field, at}
  const [saving, setSaving] = useState(false);
  const [asOf, setAsOf] = useState(""); // the preview's day; empty: today
  const zone = timeZone ?? catalog.timeZone ?? "UTC";
  const project = cohort ? cohort.project : catalog.project;

  const fail = (message, place) => setError({ message, ...place });
  /** The definition to send, or null (and the reason shown) when it is not ready. */
  const definition = () => {
    if (mode === "json") {
      try {
        return JSON.parse(json);
      } catch (e) {
        fail(`This is not JSON: ${e.message}`, { field: "json" });
        return null;
      }
    }
    const why = missing(root);
    if (why) {
      fail(why.message, { field: "definition", at: why.path });
      return null;
    }
    return cleanDefinition(fromRoot(root, wrapped));
  };
  const switchMode = (next) => {
    setError(null);
    if (next === "json") {
      setJson(JSON.stringify(cleanDefinition(fromRoot(root, wrapped)), null, 2));
      setMode("json");
      return;
    }
    try {
      const next = toRoot(JSON.parse(json));
      setRoot(next.root);
      setWrapped(next.wrapped);
      setMode("builder");
    } catch (e) {
      fail(`This is not JSON: ${e.message}`, { field: "json" });
    }
  };
  const spec = (def) => ({ version: 1, analysis: "cohort", ...(project ? { project } : {}), time_zone: zone, definition: def });
  // A saved cohort is always computed as of its computation's day; only a preview looks back.
  const previewSpec = (def) => ({ ...spec(def), ...(asOf ? { as_of: asOf } : {}) });
  const runPreview = async () => {
    setError(null);
    const def = definition();
    if (!def) return;
    setPreview({ busy: true, result: null });
    try {
      const result = await post("/query", { ...previewSpec(def), limit: 10 });
      setPreview({ busy: false, result, of: JSON.stringify(previewSpec(def)), asOf });
    } catch (e) {
      setPreview({ busy: false, result: null });
      fail(e.message, placeError(e.message, { mode, root, wrapped }));
    }
  };
  const save = async () => {
    setError(null);
    if (!NAME_RE.test(name)) return fail(`Name the cohort with ${NAME_RULE}.`, { field: "name" });
    if (!cohort && cohorts.some((c) => c.cohort.name === name) && !window.confirm(`A cohort named “${name}” exists. Replace its definition?`)) return undefined;
    const def = definition();
    if (!def) return undefined;
    setSaving(true);
    try {
      const body = spec(def);
      const owner = cohort ? cohort.owner : me.name; // an existing cohort keeps its owner, or none
      if (owner) body.owner = owner;
      delete body.version;
      delete body.analysis;
      if (description.trim()) body.description = description.trim();
      const saved = await put(`/cohorts/${encodeURIComponent(name)}`, body);
      refreshCatalog();
      // Computed at once, as a saved definition is in Amplitude, so its page has members,
      // downloads and something for syncs to send. A failure here leaves it saved, not computed:
      // its page says so and offers "Compute now".
      await post(`/cohorts/${encodeURIComponent(name)}/compute`, {}).catch(() => null);
      onSaved(saved.cohort);
    } catch (err) {
      setSaving(false);
      fail(err.message, placeError(err.message, { mode, root, wrapped }));
    }
    return undefined;
  };

  const ctx = { catalog, cohorts, self: cohort?.name, error: error?.message, errorAt: error?.field === "definition" ? error.at ?? "definition" : null };
  const fieldError = (field) => error?.field === field && <p class="error" role="alert" data-testid="cohort-field-error">{error.message}</p>;
  let summary = "";
  let current = null;
  try {
    const def = mode === "builder" ? fromRoot(root, wrapped) : JSON.parse(json);
    summary = summarize(def);
    current = JSON.stringify(previewSpec(mode === "builder" ? cleanDefinition(def) : def));
  } catch {
    summary = "";
  }
  return (
    // Not a <form>: Enter in a picker's search box or a values box must not save.
    <div class="page cohort-editor" data-testid="cohort-editor">
      <h1>{cohort ? <>Edit cohort <code>{cohort.name}</code></> : "New cohort"}</h1>
      {catalog.error && <p class="error" role="alert">The event catalog could not be loaded: {catalog.error}</p>}
      <section class="card cohort-fields">
        {!cohort && (
          <label class="field stacked">
            <span>Name</span>
            <input value={name} data-testid="cohort-name" placeholder="e.g. design-lookers" pattern="[a-z0-9_\-]{1,64}" title={NAME_RULE} onInput={(e) => setName(e.target.value)} />
            <small class="hint">{NAME_RULE}</small>
            {fieldError("name")}
          </label>
        )}
        <label class="field stacked grow">
          <span>Description</span>
          <input value={description} data-testid="cohort-description" placeholder="who they are, in a sentence" onInput={(e) => setDescription(e.target.value)} />
        </label>
        <label class="field stacked">
          <span>Time zone</span>
          <input class="tz" value={zone} data-testid="cohort-time-zone" title="IANA name: cuts the days of every range" onInput={(e) => setTimeZone(e.target.value)} />
          {fieldError("time_zone")}
        </label>
      </section>
      <section class="card">
        <div class="views" role="tablist">
          <button type="button" role="tab" class={mode === "builder" ? "on" : ""} data-testid="cohort-mode-builder" onClick={() => mode !== "builder" && switchMode("builder")}>Builder</button>
          <button type="button" role="tab" class={mode === "json" ? "on" : ""} data-testid="cohort-mode-json" onClick={() => mode !== "json" && switchMode("json")}>JSON</button>
        </div>
        {mode === "builder" ? (
          <>
            {hasReadOnly(root) && (
              <p class="hint">Parts of this definition use options the builder has no controls for: they are shown read-only and saved unchanged. Edit them as JSON.</p>
            )}
            <Node node={root} path="definition" testid="cohort-definition" ctx={ctx} onChange={setRoot} />
          </>
        ) : (
          <>
            <textarea class="cohort-json" data-testid="cohort-json" spellcheck={false} value={json} onInput={(e) => setJson(e.target.value)} />
            <p class="hint">The definition only (docs/query-api.md, “Cohort spec”); project, time zone and name are set above.</p>
            {fieldError("json")}
          </>
        )}
        {summary && <p class="cohort-summary" data-testid="cohort-summary"><strong>Who:</strong> {summary}</p>}
      </section>
      {error && !error.field && <p class="error" role="alert" data-testid="cohort-error">{error.message}</p>}
      {error?.field === "definition" && mode === "builder" && !claimable(root, ctx.errorAt) && <p class="error" role="alert">{error.message}</p>}
      <div class="cohort-actions">
        <button type="button" data-testid="cohort-preview" onClick={runPreview} disabled={preview.busy}>Preview size</button>
        <label class="as-of" title="Count the cohort as it was at the end of this day (its ranges end then); empty: today">
          as of
          <input type="date" value={asOf} max={todayIn(zone)} data-testid="cohort-preview-as-of" onChange={(e) => setAsOf(e.target.value)} />
        </label>
        <button type="button" class="primary" data-testid="cohort-save" disabled={saving} onClick={save}>{saving ? "Saving and computing…" : "Save and compute"}</button>
        <button type="button" class="link" onClick={onCancel}>Cancel</button>
      </div>
      <Preview state={preview} stale={current !== preview.of} today={todayIn(zone)} />
    </div>
  );
}

/** Whether a node of the builder shows the error at `at` (else it is shown under the builder). */
function claimable(root, at) {
  return !!at && claimPath(root, at) !== null;
}
