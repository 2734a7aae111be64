// The taxonomy browser's event rows: name and badges, category and owner, events in the window,
// last seen, and a sparkline; a row opens (its URL is `#/taxonomy/<name>`) onto its details.
import { ago, dateTime, num } from "../charts/format.js";
import { EventDetail } from "./event-detail.jsx";
import { Sparkline } from "./sparkline.jsx";

/** The badges of a row: unplanned, quarantined, planned but not seen. */
export function Badges({ row }) {
  return (
    <>
      {row.planned === false && <span class="badge unplanned" title="Not declared in the tracking plan">unplanned</span>}
      {row.quarantine && (
        <span class="badge quarantined" title="Rejected by the tracking plan: in the quarantine">
          quarantined {num(row.quarantine.events)}
        </span>
      )}
      {row.unseen && <span class="badge unseen" title="Declared in the plan, no event in this window">not seen</span>}
    </>
  );
}

/** Last seen: how long ago, and the time in the project's time zone. */
export function LastSeen({ ms, timeZone }) {
  if (ms === null || ms === undefined) return <span class="hint">not in this window</span>;
  const abs = dateTime(ms, timeZone);
  return (
    <span class="last-seen" title={`${abs} (${timeZone})`}>
      {ago(ms)}
      <small>{abs}</small>
    </span>
  );
}

function rowClass(row, open) {
  const c = ["event-row"];
  if (row.planned === false) c.push("unplanned");
  if (row.quarantine) c.push("quarantined");
  if (row.unseen) c.push("unseen");
  if (open) c.push("open");
  return c.join(" ");
}

function EventRow({ row, open, href, days, plan, timeZone }) {
  const def = row.def ?? {};
  return (
    <li class={rowClass(row, open)} data-testid={`taxonomy-event-${row.name}`} data-event={row.name}>
      <a class="event-summary" href={href} aria-expanded={open ? "true" : "false"}>
        <span class="ev-name">
          <span class="ev-title">
            <span class="caret" aria-hidden="true">{open ? "▾" : "▸"}</span>
            <strong>{row.name}</strong>
            <Badges row={row} />
          </span>
          {def.description && <small class="ev-desc">{def.description}</small>}
        </span>
        <span class="ev-cat">
          {def.category ?? <span class="hint">–</span>}
          {def.owner && <small>{def.owner}</small>}
        </span>
        <span class="ev-count" data-testid={`taxonomy-count-${row.name}`}>
          {num(row.events)}
          <small class="ev-unit"> events</small>
        </span>
        <span class="ev-seen">
          <LastSeen ms={row.last_seen_ms ?? row.quarantine?.last_seen_ms} timeZone={timeZone} />
        </span>
        <span class="ev-spark">
          <Sparkline days={days} daily={row.daily} quarantined={row.quarantine?.daily} testid={`sparkline-${row.name}`} />
        </span>
      </a>
      {open && <EventDetail row={row} plan={plan} days={days} />}
    </li>
  );
}

/** `rows` in order; `openName` is the opened one; `hrefFor(name)` opens or closes a row. */
export function EventList({ rows, openName, hrefFor, days, plan, timeZone, testid = "taxonomy-events" }) {
  return (
    <ul class="event-list" data-testid={testid}>
      <li class="event-head" aria-hidden="true">
        <span>Event</span>
        <span>Category / owner</span>
        <span class="n">Events</span>
        <span>Last seen</span>
        <span>Per day</span>
      </li>
      {rows.map((row) => (
        <EventRow
          key={row.name}
          row={row}
          open={row.name === openName}
          href={`#${hrefFor(row.name === openName ? null : row.name)}`}
          days={days}
          plan={plan}
          timeZone={timeZone}
        />
      ))}
    </ul>
  );
}
