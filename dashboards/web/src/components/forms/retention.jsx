// The retention form: start event, one or two return events (`return_event`, or
// `return_events` with two), periods, method (return on, on or after, or brackets) and boundaries.
import { Field, Select } from "../controls.jsx";
import { Common, INTERVALS, PickedEvent } from "./common.jsx";

/** `[[a, b], …]`: returned in any period a ≤ N < b of each bracket. */
function Brackets({ value, periods, onChange }) {
  const update = (i, pair) => onChange(value.map((x, j) => (j === i ? pair : x)));
  const last = value[value.length - 1];
  return (
    <div class="brackets" data-testid="brackets">
      {value.map(([a, b], i) => (
        <span class="chip bracket">
          <span class="hint">[</span>
          <input type="number" min="0" max={periods} class="tiny" data-testid={`bracket-${i}-from`} value={a} onChange={(e) => update(i, [Number(e.target.value), b])} />
          <span class="hint">,</span>
          <input type="number" min="1" max={periods + 1} class="tiny" data-testid={`bracket-${i}-to`} value={b} onChange={(e) => update(i, [a, Number(e.target.value)])} />
          <span class="hint">)</span>
          {value.length > 1 && <button type="button" class="icon" title="Remove this bracket" onClick={() => onChange(value.filter((_, j) => j !== i))}>×</button>}
        </span>
      ))}
      {value.length < 100 && (
        <button type="button" class="link" data-testid="bracket-add" onClick={() => onChange([...value, last ? [last[1], last[1] + 1] : [1, 2]])}>
          + bracket
        </button>
      )}
    </div>
  );
}

function defaultBrackets(periods) {
  return periods >= 2 ? [[1, 2], [2, periods + 1]] : [[0, periods + 1]];
}

export function RetentionForm({ spec, set, catalog }) {
  const brackets = spec.method?.brackets;
  const method = brackets ? "brackets" : typeof spec.method === "string" ? spec.method : "return_on";
  // One return event is `return_event` (or a one-entry `return_events`, kept as loaded); two are
  // `return_events`.
  const returns = spec.return_events ?? [spec.return_event ?? { event_type: "_all" }];
  const setReturns = (list) => {
    if (list.length > 1 || spec.return_events) set({ return_events: list, return_event: undefined });
    else set({ return_event: list[0], return_events: undefined });
  };
  return (
    <Common spec={spec} set={set} catalog={catalog} intervals={INTERVALS.slice(1)}>
      <fieldset>
        <legend>Start event</legend>
        <PickedEvent value={spec.start_event} catalog={catalog} specials={["_new", "_all"]} testid="start" onChange={(v) => set({ start_event: v })} />
        <legend>Return event</legend>
        <PickedEvent value={returns[0]} catalog={catalog} testid="return" label={returns.length > 1 ? "1" : undefined} onChange={(v) => setReturns(returns.map((x, j) => (j === 0 ? v : x)))} />
        {returns.length > 1 ? (
          <PickedEvent
            value={returns[1]}
            catalog={catalog}
            testid="return-2"
            label="2"
            onChange={(v) => setReturns(returns.map((x, j) => (j === 1 ? v : x)))}
            onRemove={() => set({ return_event: returns[0], return_events: undefined })}
          />
        ) : (
          <button type="button" class="link" data-testid="return-add" onClick={() => set({ return_events: [returns[0], { event_type: "" }], return_event: undefined })}>
            + a second return event
          </button>
        )}
      </fieldset>
      <fieldset>
        <legend>Measured</legend>
        <Field label="periods">
          <input type="number" min="0" max="366" class="short" data-testid="periods" value={spec.periods} onChange={(e) => set({ periods: Number(e.target.value) })} />
        </Field>
        <Field label="method">
          <Select
            testid="retention-method"
            value={method}
            options={[["return_on", "return on"], ["return_on_or_after", "return on or after"], ["brackets", "brackets"]]}
            onChange={(m) => set({ method: m === "brackets" ? { brackets: defaultBrackets(spec.periods ?? 7) } : m })}
          />
        </Field>
        {brackets && <Brackets value={brackets} periods={spec.periods ?? 7} onChange={(b) => set({ method: { ...spec.method, brackets: b } })} />}
        <Field label="periods are">
          <Select
            value={spec.boundaries ?? "rolling"}
            options={[["rolling", "24-hour windows"], ["calendar", "calendar periods"]]}
            onChange={(boundaries) => set({ boundaries })}
          />
        </Field>
      </fieldset>
    </Common>
  );
}
