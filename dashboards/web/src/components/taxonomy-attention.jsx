// What in the data does not match the tracking plan: events the plan does not declare, events it
// rejected (the quarantine), and declared events nobody sent in the window. Each links to its row.
import { num } from "../charts/format.js";
import { LastSeen } from "./event-list.jsx";

function Group({ title, kind, rows, hrefFor, timeZone, empty, filtered, count, seen, explain }) {
  return (
    <div class={`attention-group ${kind}`} data-testid={`taxonomy-${kind}`}>
      <h3>
        <span class={`badge ${kind}`}>{rows.length}</span> {title}
      </h3>
      <p class="hint">{explain}</p>
      {rows.length ? (
        <ul>
          {rows.map((row) => (
            <li data-testid={`taxonomy-${kind}-${row.name}`}>
              <a href={`#${hrefFor(row.name)}`}>{row.name}</a>
              {count && <span class="n">{count(row)}</span>}
              {seen && <LastSeen ms={seen(row)} timeZone={timeZone} />}
            </li>
          ))}
        </ul>
      ) : (
        filtered ? <p class="hint">None match the search.</p> : <p class="ok">{empty}</p>
      )}
    </div>
  );
}

/** `filtered`: `rows` are those matching a search, so an empty group says nothing of the data. */
export function Attention({ rows, hrefFor, timeZone, days, hasPlan, filtered }) {
  if (!hasPlan) {
    return (
      <section class="attention" data-testid="taxonomy-attention">
        <p class="hint">The server runs without a tracking plan (sluice serve --tracking-plan): no event is checked.</p>
      </section>
    );
  }
  const unplanned = rows.filter((r) => r.planned === false && r.events > 0);
  const quarantined = rows.filter((r) => r.quarantine);
  const unseen = rows.filter((r) => r.unseen);
  return (
    <section class="attention" data-testid="taxonomy-attention">
      <Group
        title="Unplanned events"
        kind="unplanned"
        rows={unplanned}
        hrefFor={hrefFor}
        timeZone={timeZone}
        filtered={filtered}
        count={(r) => `${num(r.events)} events`}
        seen={(r) => r.last_seen_ms}
        explain="Stored, but not declared in the tracking plan: a typo, a new feature, or something to remove."
        empty="None: every stored event is in the plan."
      />
      <Group
        title="Quarantined events"
        kind="quarantined"
        rows={quarantined}
        hrefFor={hrefFor}
        timeZone={timeZone}
        filtered={filtered}
        count={(r) => `${num(r.quarantine.events)} rejected`}
        seen={(r) => r.quarantine.last_seen_ms}
        explain="Rejected by the plan and kept aside, not counted by any chart (sluice quarantine list)."
        empty="None: the plan rejected nothing."
      />
      <Group
        title={`Planned, not seen in ${days.length} days`}
        kind="unseen"
        rows={unseen}
        hrefFor={hrefFor}
        timeZone={timeZone}
        filtered={filtered}
        count={null}
        seen={null}
        explain="Declared in the plan, but no event arrived in this window."
        empty="None: every planned event arrived."
      />
    </section>
  );
}
