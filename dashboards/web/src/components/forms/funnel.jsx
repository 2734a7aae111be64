// The funnel form: steps, conversion window and modes (order, counting, strict), conversion over
// time, time to convert (between which steps, which buckets), held properties, exclusions
// (between which steps) and the group-by, whose event properties may be read on a later step.
import { Field, GroupBy, Select } from "../controls.jsx";
import { formatMs, parseDurations, removeStep, strictConflicts } from "../../spec.js";
import { Common, PickedEvent } from "./common.jsx";

const STRICT = [
  ["strict_deduplication", "strict deduplication", "A step already reached (other than step 1) firing again ends the person's scan"],
  ["strict_increase", "strict increase", "Each step strictly after the previous step's time"],
];

/** [value, label] options for steps `from`..`to` (1-based), named by their events. */
function stepOptions(steps, from = 1, to = steps.length) {
  const out = [];
  for (let k = from; k <= to; k++) {
    const name = steps[k - 1]?.event_type || "?";
    out.push([String(k), `${k}. ${name.length > 22 ? `${name.slice(0, 21)}…` : name}`]);
  }
  return out;
}

/** "between step a and step b" of an exclusion; first–last when absent (left out of the spec). */
function Between({ value, steps, onChange, testid }) {
  const n = steps.length;
  const [a, b] = value ?? [1, n];
  const put = (x, y) => onChange(x === 1 && y === n ? undefined : [x, y]);
  return (
    <span class="between" title="The exclusion counts only strictly between these steps">
      <span class="hint">between</span>
      <Select testid={`${testid}-from`} value={String(a)} options={stepOptions(steps, 1, n - 1)} onChange={(v) => put(Number(v), Math.max(b, Number(v) + 1))} />
      <span class="hint">and</span>
      <Select testid={`${testid}-to`} value={String(b)} options={stepOptions(steps, a + 1, n)} onChange={(v) => put(a, Number(v))} />
    </span>
  );
}

/** Time to convert: from which step to which, and the histogram's buckets. */
function TimeToConvert({ value, steps, onChange }) {
  const n = steps.length;
  const from = value.from_step ?? 1;
  const to = value.to_step ?? n;
  const put = (patch) => {
    const next = { ...value, ...patch };
    for (const [k, v] of Object.entries(patch)) if (v === undefined) delete next[k];
    onChange(next);
  };
  return (
    <div class="sub-fields">
      <Field label="from">
        <Select
          testid="ttc-from"
          value={String(from)}
          options={stepOptions(steps, 1, n - 1)}
          onChange={(v) => {
            const f = Number(v);
            put({ from_step: f === 1 ? undefined : f, ...(to <= f ? { to_step: f + 1 === n ? undefined : f + 1 } : {}) });
          }}
        />
      </Field>
      <Field label="to">
        <Select testid="ttc-to" value={String(to)} options={stepOptions(steps, from + 1, n)} onChange={(v) => put({ to_step: Number(v) === n ? undefined : Number(v) })} />
      </Field>
      <Field label="buckets">
        <input
          class="buckets"
          data-testid="ttc-buckets"
          placeholder="default: 0, 1s, 10s, 1m, 10m, 1h, 1d, 7d, 30d"
          title="The histogram's lower bounds, strictly increasing from 0: 0, 30s, 5m, 1h, 1d (ms without a unit)"
          value={(value.buckets_ms ?? []).map(formatMs).join(", ")}
          onChange={(e) => {
            const b = parseDurations(e.target.value);
            put({ buckets_ms: b.length ? b : undefined });
          }}
        />
      </Field>
    </div>
  );
}

export function FunnelForm({ spec, set, catalog }) {
  const update = (i, s) => set({ steps: spec.steps.map((x, j) => (j === i ? s : x)) });
  const window = spec.conversion_window ?? { value: 1, unit: "day" };
  const strict = spec.strict ?? [];
  const locked = strict.length > 0;
  const conflicts = strictConflicts(spec);
  const lockedTitle = "Not with the strict modes";
  const groups = spec.group_by ?? (spec.breakdown ? [spec.breakdown] : []);
  // At most one group-by property may read a step other than step 1.
  const laterStep = groups.findIndex((g) => (g.step ?? 1) !== 1);
  const groupExtra = (ref, i) =>
    ref.kind === "event" && (
      <Select
        testid={`group-by-${i}-step`}
        title="Read the property on the event of this step of the person's counted path"
        value={String(ref.step ?? 1)}
        options={stepOptions(spec.steps).map(([k, label]) => [k, `on ${label}`, k !== "1" && laterStep >= 0 && laterStep !== i])}
        onChange={(v) => {
          const { step, ...rest } = ref;
          const next = Number(v) === 1 ? rest : { ...rest, step: Number(v) };
          set({ group_by: groups.map((g, j) => (j === i ? next : g)), breakdown: undefined });
        }}
      />
    );
  return (
    <Common
      spec={spec}
      set={set}
      catalog={catalog}
      intervals={null}
      groupLimit={{ max: 1000, placeholder: spec.group_by ? "10" : "all" }}
      groupExtra={groupExtra}
    >
      <fieldset>
        <legend>Steps</legend>
        {spec.steps.map((s, i) => (
          <PickedEvent
            value={s}
            catalog={catalog}
            specials={[]}
            testid={`step-${i}`}
            label={`${i + 1}`}
            onChange={(v) => update(i, v)}
            onRemove={spec.steps.length > 2 ? () => set(removeStep(spec, i)) : null}
          />
        ))}
        {spec.steps.length < 32 && (
          <button type="button" class="link" data-testid="step-add" onClick={() => set({ steps: [...spec.steps, { event_type: "" }] })}>
            + add a step
          </button>
        )}
      </fieldset>
      <fieldset>
        <legend>Conversion</legend>
        <Field label="within">
          <input
            type="number"
            min="1"
            class="short"
            data-testid="window-value"
            value={window.value}
            onChange={(e) => set({ conversion_window: { ...window, value: Number(e.target.value) } })}
          />
          <Select value={window.unit} options={["second", "minute", "hour", "day"]} onChange={(unit) => set({ conversion_window: { ...window, unit } })} />
        </Field>
        <Field label="order">
          <Select
            testid="funnel-order"
            value={spec.order ?? "this"}
            disabled={locked && (spec.order ?? "this") === "this"}
            title={locked ? lockedTitle : undefined}
            options={[["this", "this order"], ["any", "any order"], ["exact", "exact order"]]}
            onChange={(order) => set({ order })}
          />
        </Field>
        <Field label="count">
          <Select
            testid="funnel-counting"
            value={spec.counting ?? "persons"}
            options={[["persons", "unique persons"], ["totals", "event totals", locked && spec.counting !== "totals"]]}
            onChange={(counting) => set({ counting: counting === "persons" ? undefined : counting })}
          />
        </Field>
        <Field label="over time">
          <Select
            testid="funnel-interval"
            value={spec.interval ?? ""}
            options={[["", "no"], ["day", "daily"], ["week", "weekly"], ["month", "monthly"]]}
            onChange={(interval) => set({ interval: interval || undefined })}
          />
        </Field>
        <Field label="time to convert">
          <input
            type="checkbox"
            data-testid="time-to-convert"
            disabled={locked && !spec.time_to_convert}
            title={locked ? lockedTitle : undefined}
            checked={!!spec.time_to_convert}
            onChange={(e) => set({ time_to_convert: e.target.checked ? {} : undefined })}
          />
        </Field>
        {spec.time_to_convert && <TimeToConvert value={spec.time_to_convert} steps={spec.steps} onChange={(time_to_convert) => set({ time_to_convert })} />}
      </fieldset>
      <fieldset>
        <legend>Strict modes (ClickHouse windowFunnel)</legend>
        {STRICT.map(([mode, label, title]) => {
          const on = strict.includes(mode);
          return (
            <label class="field" title={!on && conflicts.length ? `Not with ${conflicts.join(", ")}` : title}>
              <input
                type="checkbox"
                data-testid={mode.replace("_", "-")}
                checked={on}
                disabled={!on && conflicts.length > 0}
                onChange={(e) => {
                  const next = e.target.checked ? [...strict, mode] : strict.filter((m) => m !== mode);
                  set({ strict: next.length ? STRICT.map(([m]) => m).filter((m) => next.includes(m)) : undefined });
                }}
              />
              <span>{label}</span>
            </label>
          );
        })}
        {!locked && conflicts.length > 0 && <p class="hint small">Not with {conflicts.join(", ")}.</p>}
        {locked && <p class="hint small">Strict modes take this order and unique persons, without exclusions or time to convert.</p>}
      </fieldset>
      <fieldset>
        <legend>Hold property constant</legend>
        <GroupBy
          value={spec.hold_constant ?? []}
          catalog={catalog}
          max={3}
          cohorts={false}
          testid="hold-constant"
          placeholder="+ hold a property constant"
          onChange={(v) => set({ hold_constant: v.length ? v : undefined })}
        />
      </fieldset>
      <fieldset>
        <legend>Exclude people who did</legend>
        {(spec.exclusions ?? []).map((x, i) => (
          <PickedEvent
            value={x}
            catalog={catalog}
            specials={[]}
            testid={`exclusion-${i}`}
            onChange={(v) => set({ exclusions: spec.exclusions.map((y, j) => (j === i ? v : y)) })}
            onRemove={() => set({ exclusions: spec.exclusions.length > 1 ? spec.exclusions.filter((_, j) => j !== i) : undefined })}
            extra={
              <Between
                value={x.between}
                steps={spec.steps}
                testid={`exclusion-${i}-between`}
                onChange={(between) => {
                  const { between: _, ...rest } = x;
                  set({ exclusions: spec.exclusions.map((y, j) => (j === i ? (between ? { ...rest, between } : rest) : y)) });
                }}
              />
            }
          />
        ))}
        {(spec.exclusions ?? []).length < 31 && (
          <button
            type="button"
            class="link"
            data-testid="exclusion-add"
            disabled={locked}
            title={locked ? lockedTitle : undefined}
            onClick={() => set({ exclusions: [...(spec.exclusions ?? []), { event_type: "" }] })}
          >
            + exclude an event between the steps
          </button>
        )}
      </fieldset>
    </Common>
  );
}
