// One event type opened in the taxonomy browser: what the plan says about it, its properties
// (type, description, allowed values, required or not), its daily volume, and a link to chart it.
import { num } from "../charts/format.js";
import { NOT_CHARTABLE, chartLink } from "../taxonomy.js";
import { Sparkline } from "./sparkline.jsx";

/** Property definitions as a table: `rows` are `{name, def, required}`. */
export function PropertyTable({ rows, showRequired = false, testid }) {
  return (
    <div class="table-scroll">
      <table class="data props" data-testid={testid}>
        <thead>
          <tr>
            <th>Property</th>
            <th>Type</th>
            {showRequired && <th>Required</th>}
            <th>Description</th>
            <th>Allowed values</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ name, def, required }) => (
            <tr data-testid={`${testid}-${name}`}>
              <td><code>{name}</code></td>
              <td>{def?.type ?? <span class="hint">not defined</span>}</td>
              {showRequired && <td>{required ? <span class="badge required">required</span> : <span class="hint">optional</span>}</td>}
              <td class="wrap">{def?.description || <span class="hint">–</span>}</td>
              <td class="wrap">{def?.enum ? def.enum.map((v) => <code class="enum">{String(v)}</code>) : <span class="hint">any</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function PlanFacts({ def }) {
  return (
    <dl class="facts">
      <dt>Category</dt>
      <dd>{def.category || "–"}</dd>
      <dt>Owner</dt>
      <dd>{def.owner || "–"}</dd>
      {def.policy && (
        <>
          <dt>Policy</dt>
          <dd>{def.policy}</dd>
        </>
      )}
    </dl>
  );
}

export function EventDetail({ row, plan, days }) {
  const def = row.def;
  const required = new Set(def?.required ?? []);
  const props = (def?.properties ?? []).map((name) => ({ name, def: plan?.event_properties?.[name], required: required.has(name) }));
  const chartable = !NOT_CHARTABLE.includes(row.name);
  return (
    <div class="event-detail" data-testid="taxonomy-detail">
      {def ? (
        <>
          {def.description && <p class="description">{def.description}</p>}
          <PlanFacts def={def} />
        </>
      ) : (
        <p class="warn-note">
          {plan ? (
            <>
              The tracking plan does not declare this event, so it has no documented properties. Declare it under{" "}
              <code>[events."{row.name}"]</code> in the plan (docs/tracking-plan.md) or fix the code that sends it.
            </>
          ) : (
            "The server runs without a tracking plan (sluice serve --tracking-plan), so nothing is documented."
          )}
        </p>
      )}
      {row.quarantine && (
        <p class="warn-note danger">
          {num(row.quarantine.events)} events of this type were rejected by the plan and wait in the quarantine:{" "}
          <code>sluice quarantine list</code> shows why; fix the plan and <code>sluice quarantine replay</code>.
        </p>
      )}
      <div class="detail-actions">
        {chartable ? (
          <a href={chartLink(row.name, plan?.project, days.length)} class="chart-link" data-testid="taxonomy-chart-link">
            Chart its events per day →
          </a>
        ) : (
          <span class="hint">Identify calls are stored as events but the analyses do not count them.</span>
        )}
      </div>
      <h4>Events per day</h4>
      <Sparkline days={days} daily={row.daily} quarantined={row.quarantine?.daily} axes height={160} testid="taxonomy-detail-chart" />
      {def && (
        <>
          <h4>Properties ({props.length})</h4>
          {props.length ? (
            <PropertyTable rows={props} showRequired testid="taxonomy-properties" />
          ) : (
            <p class="hint">The plan declares no properties for this event.</p>
          )}
        </>
      )}
    </div>
  );
}
