// Cohorts: the saved list (`#/cohorts`), the definition builder for a new one (`#/cohorts/new`),
// and one cohort's page (`#/cohorts/<name>`, `#/cohorts/<name>/edit`). The parts are in
// pages/cohorts/: model.js (definitions in words, checks), conditions.jsx (the builder's rows),
// editor.jsx (builder, JSON, preview, save), detail.jsx, members.jsx and syncs.jsx.
import { useEffect, useState } from "preact/hooks";
import { get } from "../api.js";
import { num } from "../charts/format.js";
import { navigate } from "../router.js";
import { canEdit, useSession } from "../session.js";
import { CohortPage } from "./cohorts/detail.jsx";
import { CohortEditor } from "./cohorts/editor.jsx";
import { cohortPath, fmtTime, summarize } from "./cohorts/model.js";

function useCohorts() {
  const [state, setState] = useState({ cohorts: null, error: null });
  useEffect(() => {
    get("/cohorts").then(
      (c) => setState({ cohorts: [...c.cohorts].sort((a, b) => a.cohort.name.localeCompare(b.cohort.name)), error: null }),
      (e) => setState({ cohorts: null, error: e.message }),
    );
  }, []);
  return state;
}

/** Whether a listed cohort matches the filter's words (each in its name, description, owner or definition). */
function cohortMatches({ cohort }, filter) {
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return true;
  const text = [cohort.name, cohort.description ?? "", cohort.owner ?? "", summarize(cohort.definition)].join(" ").toLowerCase();
  return words.every((w) => text.includes(w));
}

function CohortList() {
  const me = useSession();
  const { cohorts, error } = useCohorts();
  const [filter, setFilter] = useState("");
  const shown = cohorts?.filter((c) => cohortMatches(c, filter));
  return (
    <div class="page">
      <div class="section-head">
        <h1>Cohorts</h1>
        {canEdit(me) && (
          <button type="button" class="primary" data-testid="cohort-new" onClick={() => navigate("/cohorts/new")}>New cohort</button>
        )}
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {!cohorts && !error && <p class="loading">Loading…</p>}
      {cohorts && !cohorts.length && (
        <p class="hint" data-testid="cohort-list">No saved cohorts yet. Make one here, or from a funnel, retention or lifecycle chart's point.</p>
      )}
      {cohorts?.length > 0 && (
        <div class="card">
          <label class="list-filter">
            <input type="search" data-testid="cohort-filter" placeholder="Filter by name, description, owner or definition" value={filter} onInput={(e) => setFilter(e.target.value)} />
            <span class="hint">{shown.length === cohorts.length ? `${num(cohorts.length)} cohorts` : `${num(shown.length)} of ${num(cohorts.length)}`}</span>
          </label>
          <table class="data cohort-list" data-testid="cohort-list">
            <thead>
              <tr><th>name</th><th class="n">size</th><th>computed</th><th>description</th><th>owner</th></tr>
            </thead>
            <tbody>
              {shown.map(({ cohort, latest }) => (
                <tr data-testid={`cohort-row-${cohort.name}`}>
                  <td class="name"><a href={`#${cohortPath(cohort.name)}`}>{cohort.name}</a></td>
                  <td class="n" data-label="size">{latest ? num(latest.size) : "–"}</td>
                  <td data-label="computed">{latest ? `${fmtTime(latest.computed_ms, cohort.time_zone)} (as of ${latest.as_of})` : <span class="hint">never</span>}</td>
                  <td class="wrap" title={summarize(cohort.definition)}>{cohort.description ?? <span class="hint">{summarize(cohort.definition)}</span>}</td>
                  <td data-label="owner">{cohort.owner ?? "–"}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {!shown.length && <p class="hint">No cohort matches “{filter}”.</p>}
        </div>
      )}
    </div>
  );
}

function NewCohort() {
  const me = useSession();
  const { cohorts, error } = useCohorts();
  if (!canEdit(me)) return <p class="error" role="alert">Viewers cannot make cohorts: ask an editor.</p>;
  if (error) return <p class="error" role="alert">{error}</p>;
  if (!cohorts) return <p class="loading">Loading…</p>;
  return <CohortEditor cohort={null} cohorts={cohorts} onCancel={() => navigate("/cohorts")} onSaved={(c) => navigate(cohortPath(c.name))} />;
}

export function CohortsPage({ route }) {
  const [, name, sub] = route.parts;
  if (!name) return <CohortList />;
  if (name === "new" && !sub) return <NewCohort />;
  return <CohortPage name={decodeURIComponent(name)} edit={sub === "edit"} />;
}
