// A cohort's people at its latest computation: a sample of the members (the export's first 50
// rows, read from the CSV download itself), the download links, and who entered and exited.
import { useEffect, useState } from "preact/hooks";
import { errorMessage, get } from "../../api.js";
import { parseCsv } from "../../charts/csv.js";
import { num } from "../../charts/format.js";

const SAMPLE = 50;

/** The header and the first `rows` members of the export, without reading the rest of a large file. */
async function exportHead(name, rows) {
  const response = await fetch(`/api/v1/cohorts/${encodeURIComponent(name)}/export?format=csv`, { credentials: "same-origin" });
  if (!response.ok) throw new Error(await errorMessage(response));
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    if (text.split("\n").length > rows + 1) {
      reader.cancel().catch(() => {});
      text = text.split("\n").slice(0, rows + 1).join("\n");
      break;
    }
  }
  return parseCsv(text).filter((r) => r.length > 1 || r[0]);
}

function PeopleTable({ header, rows, testid }) {
  return (
    <div class="table-scroll">
      <table class="data" data-testid={testid}>
        <thead><tr>{header.map((h) => <th>{h}</th>)}</tr></thead>
        <tbody>
          {rows.map((r) => <tr>{r.map((c, i) => <td class={i === 0 ? "n" : ""}>{c === "" || c === null ? "–" : c}</td>)}</tr>)}
        </tbody>
      </table>
    </div>
  );
}

export function Members({ name, latest }) {
  const [state, setState] = useState({ rows: null, error: null });
  useEffect(() => {
    if (!latest) return;
    setState({ rows: null, error: null });
    exportHead(name, SAMPLE).then((rows) => setState({ rows, error: null }), (e) => setState({ rows: null, error: e.message }));
  }, [name, latest?.computed_ms]);
  const base = `/api/v1/cohorts/${encodeURIComponent(name)}/export`;
  return (
    <section class="card" data-testid="cohort-members">
      <div class="section-head">
        <h2>Members</h2>
        {latest && (
          <span class="downloads">
            Download all {num(latest.size)}: <a href={`${base}?format=csv`} download={`${name}.csv`} data-testid="cohort-download-csv">CSV</a>{" · "}
            <a href={`${base}?format=parquet`} download={`${name}.parquet`} data-testid="cohort-download-parquet">Parquet</a>
          </span>
        )}
      </div>
      {!latest && <p class="hint">Not computed yet: compute it to list its members.</p>}
      {state.error && <p class="error" role="alert">{state.error}</p>}
      {latest && !state.rows && !state.error && <p class="loading">Loading…</p>}
      {state.rows && state.rows.length <= 1 && <p class="hint">Nobody is in this cohort.</p>}
      {state.rows && state.rows.length > 1 && (
        <>
          <PeopleTable header={state.rows[0]} rows={state.rows.slice(1)} testid="cohort-members-table" />
          <p class="hint">{latest.size > SAMPLE ? `The first ${SAMPLE} of ${num(latest.size)}, by person id.` : "Everyone, by person id."}</p>
        </>
      )}
    </section>
  );
}

export function Changes({ name, latest }) {
  const [state, setState] = useState({ data: null, error: null });
  useEffect(() => {
    if (!latest) return;
    setState({ data: null, error: null });
    get(`/cohorts/${encodeURIComponent(name)}/changes?limit=${SAMPLE}`).then((data) => setState({ data, error: null }), (e) => setState({ data: null, error: e.message }));
  }, [name, latest?.computed_ms]);
  if (!latest) return null;
  const d = state.data;
  // A person since merged into another (an anonymous device that logged in) shows the ids of
  // the person it is now, and says so.
  const rows = (list) => list.map((p) => [p.merged_into == null ? String(p.person_id) : `${p.person_id} (now ${p.merged_into})`, p.user_id ?? "", p.device_id ?? ""]);
  const side = (label, list, total, testid) => (
    <div class="change-side">
      <h3>{label} <small>({num(total)})</small></h3>
      {list.length ? <PeopleTable header={["person_id", "user_id", "device_id"]} rows={rows(list)} testid={testid} /> : <p class="hint">Nobody.</p>}
      {total > list.length && list.length > 0 && <p class="hint">The first {list.length}.</p>}
      {list.some((p) => p.merged_into != null) && <p class="hint">“now N”: the person has since been merged into person N (a device that logged in); N's ids are shown.</p>}
    </div>
  );
  return (
    <section class="card" data-testid="cohort-changes">
      <h2>Changes at the latest computation</h2>
      {state.error && <p class="error" role="alert">{state.error}</p>}
      {!d && !state.error && <p class="loading">Loading…</p>}
      {d && (
        <>
          <p class="hint">{d.previous_ms === null ? "The first computation: everyone entered." : "Compared with the computation before."}</p>
          <div class="changes">
            {side("Entered", d.entered, d.run.entered, "cohort-entered")}
            {side("Exited", d.exited, d.run.exited, "cohort-exited")}
          </div>
        </>
      )}
    </section>
  );
}
