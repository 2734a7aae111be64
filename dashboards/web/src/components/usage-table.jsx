// Who used what (`GET /api/v1/usage`): per member their queries, when they last ran one, how many
// of each analysis, and the saved charts they ran (names from `GET /api/v1/charts`).
import { ago, dateTime, num } from "../charts/format.js";

/** The analyses any member ran, most used first, as the table's columns. */
function analysisColumns(members) {
  const totals = {};
  for (const m of members) {
    for (const [a, n] of Object.entries(m.by_analysis ?? {})) totals[a] = (totals[a] ?? 0) + n;
  }
  return Object.keys(totals).sort((a, b) => totals[b] - totals[a] || a.localeCompare(b));
}

/** The most used charts shown at once; the rest fold under "+N more". */
const CHARTS_SHOWN = 5;

function ChartsUsed({ byChart, charts }) {
  const used = Object.entries(byChart ?? {}).sort((a, b) => b[1] - a[1]);
  if (!used.length) return <span class="hint">–</span>;
  const item = ([id, n]) => (
    <li>
      <a href={`#/charts/${id}`} data-testid={`usage-chart-${id}`} title={id}>
        {charts.get(id)?.name ?? <span class="hint">{id} (deleted)</span>}
      </a>{" "}
      <small>×{num(n)}</small>
    </li>
  );
  const rest = used.slice(CHARTS_SHOWN);
  return (
    <>
      <ul class="charts-used">{used.slice(0, CHARTS_SHOWN).map(item)}</ul>
      {rest.length > 0 && (
        <details class="charts-more">
          <summary>+{num(rest.length)} more</summary>
          <ul class="charts-used">{rest.map(item)}</ul>
        </details>
      )}
    </>
  );
}

/** `members` from the usage route; `charts` a Map from chart id to chart. */
export function UsageTable({ members, charts }) {
  if (!members.length) return <p class="hint" data-testid="usage-empty">Nobody has run a query yet.</p>;
  const columns = analysisColumns(members);
  return (
    <div class="table-scroll">
      <table class="data usage" data-testid="usage-table">
        <thead>
          <tr>
            <th>Member</th>
            <th class="n">Queries</th>
            <th>Last used</th>
            {columns.map((a) => <th class="n">{a}</th>)}
            <th>Charts used</th>
          </tr>
        </thead>
        <tbody>
          {members.map((m) => (
            <tr data-testid={`usage-row-${m.user}`}>
              <td><strong>{m.user}</strong></td>
              <td class="n">{num(m.queries)}</td>
              <td title={m.last_at_ms ? new Date(m.last_at_ms).toISOString() : ""}>
                {m.last_at_ms ? (
                  <span class="last-seen">
                    {ago(m.last_at_ms)}
                    <small>{dateTime(m.last_at_ms)}</small>
                  </span>
                ) : (
                  <span class="hint">never</span>
                )}
              </td>
              {columns.map((a) => <td class="n">{m.by_analysis?.[a] ? num(m.by_analysis[a]) : <span class="hint">–</span>}</td>)}
              <td class="wrap"><ChartsUsed byChart={m.by_chart} charts={charts} /></td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
