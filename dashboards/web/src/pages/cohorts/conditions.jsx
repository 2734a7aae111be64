// The definition builder's controls: a group (all / any / none of) of conditions, each a row —
// did / did not do an event (with `where`, a measure and a range), did one event then another,
// did one more often than another, a user property, in / not in a cohort, new in a range, an RFM
// segment, reached or dropped off at a funnel step, returned (or not) in a retention period, a
// lifecycle state — edited in place in the definition's own JSON. A condition the builder has no
// controls for (a funnel's strict options, say, written as JSON) is shown read-only (its summary
// and JSON) and kept as it is.
import { NUMERIC, OPS, Select, WhereList, parseValues } from "../../components/controls.jsx";
import { Picker, eventOptions } from "../../components/picker.jsx";
import { RFM_SEGMENTS } from "../../charts/format.js";
import { ordered, todayIn } from "../../spec.js";
import {
  COUNT_OPS, FUNNEL_ORDERS, INTERVALS, LIFECYCLE_STATES, MEASURES, RELATIVE_OPS, WEEK_STARTS, WINDOW_UNITS,
  editable, measureOf, newCondition, ordinal, periodStart, summarize,
} from "./model.js";

const RANGE_KINDS = [
  ["last_days", "in the last"],
  ["between", "between"],
  ["since", "since"],
  ["first_use", "within … of first use"],
];

/** A range `R`: last N days, between two dates, since a day, within N days of first use. */
export function RangeEditor({ value = { last_days: 30 }, onChange, testid, firstUse = true }) {
  const kind = value.from !== undefined ? "between" : value.since !== undefined ? "since" : value.within_days_of_first_use !== undefined ? "first_use" : "last_days";
  const today = todayIn(); // the browser's day; the cohort's zone cuts the range
  const change = (k) => {
    if (k === "between") onChange({ from: today, to: today });
    else if (k === "since") onChange({ since: today });
    else if (k === "first_use") onChange({ within_days_of_first_use: 7 });
    else onChange({ last_days: 30 });
  };
  const days = (v) => Math.max(0, Math.floor(Number(v) || 0));
  return (
    <span class="range" data-testid={testid}>
      <Select value={kind} options={firstUse ? RANGE_KINDS : RANGE_KINDS.slice(0, 3)} onChange={change} testid={`${testid}-kind`} />
      {kind === "last_days" && (
        <>
          <input type="number" min="1" class="short" data-testid={`${testid}-days`} value={value.last_days} onChange={(e) => onChange({ last_days: Math.max(1, days(e.target.value)) })} />
          days
        </>
      )}
      {kind === "first_use" && (
        <>
          <input type="number" min="0" max="366" class="short" data-testid={`${testid}-days`} value={value.within_days_of_first_use} onChange={(e) => onChange({ within_days_of_first_use: Math.min(366, days(e.target.value)) })} />
          days of first use
        </>
      )}
      {kind === "since" && <input type="date" value={value.since} onChange={(e) => onChange({ since: e.target.value })} />}
      {kind === "between" && (
        <>
          <input type="date" value={value.from} max={value.to} data-testid={`${testid}-from`} onChange={(e) => onChange(ordered(e.target.value, value.to, "from"))} />
          and
          <input type="date" value={value.to} min={value.from} data-testid={`${testid}-to`} onChange={(e) => onChange(ordered(value.from, e.target.value, "to"))} />
        </>
      )}
    </span>
  );
}

const NTH = [1, 2, 3, 4, 5].map((n) => [String(n), ordinal(n)]);

/** The plan's properties of one kind (`event`, `user`) as picker options, keyed by name. */
function propertiesOfKind(catalog, kind) {
  return catalog.properties.filter((p) => p.kind === kind).map((p) => ({ key: p.property, label: p.property, hint: p.type, title: p.description ?? "" }));
}

/** A number input (`whole`: rounded down) kept within `min` and `max` when they are given. */
function NumberInput({ value, onChange, testid, min, max, whole = true }) {
  const clamp = (raw) => {
    let n = Number(raw);
    if (!Number.isFinite(n)) n = min ?? 0;
    if (whole) n = Math.floor(n);
    if (min !== undefined) n = Math.max(min, n);
    return max === undefined ? n : Math.min(max, n);
  };
  return <input type="number" min={min} max={max} step={whole ? 1 : "any"} class="short" data-testid={testid} value={value} onChange={(e) => onChange(clamp(e.target.value))} />;
}

/** How `performed` measures its event: at least once, a count, a property's sum or distinct values, days, n-th time. */
function MeasureEditor({ c, onChange, ctx, testid }) {
  const kind = measureOf(c);
  const m = c[kind];
  const change = (next) => {
    const out = { ...c };
    for (const [k] of MEASURES) if (k) delete out[k];
    if (next === "count" || next === "distinct_days") out[next] = { op: "greater_or_equal", value: 2 };
    else if (next === "sum" || next === "distinct_values") out[next] = { property: "", op: "greater_or_equal", value: next === "sum" ? 100 : 2 };
    else if (next === "nth_time") out.nth_time = 1;
    onChange(out);
  };
  const set = (patch) => onChange({ ...c, [kind]: { ...m, ...patch } });
  // A count of 0 or fewer than 1 is refused by the server (that is `did_not_perform`); a sum may be anything.
  const comparison = (unit, whole = true) => (
    <>
      <Select value={m.op} options={COUNT_OPS} testid={`${testid}-measure-op`} onChange={(op) => set({ op })} />
      <NumberInput value={m.value} whole={whole} min={whole ? 1 : undefined} testid={`${testid}-measure-value`} onChange={(value) => set({ value })} />
      {unit}
    </>
  );
  const property = (
    <Picker options={propertiesOfKind(ctx.catalog, "event")} value={m?.property} placeholder="property…" allowCustom testid={`${testid}-measure-property`} onChange={(p) => set({ property: p })} />
  );
  return (
    <span class="measure">
      <Select value={kind} options={MEASURES} testid={`${testid}-measure`} onChange={change} />
      {kind === "count" && comparison("times")}
      {kind === "distinct_days" && comparison("different days")}
      {kind === "sum" && <>{property} {comparison("", false)}</>}
      {kind === "distinct_values" && <>{property} {comparison("different values")}</>}
      {kind === "nth_time" && (
        <>
          <Select value={String(c.nth_time)} options={NTH} testid={`${testid}-nth`} onChange={(n) => onChange({ ...c, nth_time: Number(n) })} />
          time ever, which fell
        </>
      )}
    </span>
  );
}

function Remove({ onRemove, what = "this condition" }) {
  return onRemove ? <button type="button" class="icon" title={`Remove ${what}`} onClick={onRemove}>×</button> : null;
}

function EventRow({ node, onChange, onRemove, ctx, testid }) {
  const did = !!node.performed;
  const c = node.performed ?? node.did_not_perform;
  const set = (patch) => onChange(did ? { performed: { ...c, ...patch } } : { did_not_perform: { ...c, ...patch } });
  return (
    <div class="cond">
      <div class="cond-row">
        <Select
          value={did ? "did" : "did_not"}
          testid={`${testid}-verb`}
          options={[["did", "did"], ["did_not", "did not do"]]}
          onChange={(v) => onChange(v === "did" ? { performed: { event: c.event, during: c.during } } : { did_not_perform: { event: c.event, during: c.during } })}
        />
        <Picker options={eventOptions(ctx.catalog, ["_all"])} value={c.event.event_type} placeholder="Choose an event…" testid={`${testid}-event`} onChange={(event_type) => set({ event: { ...c.event, event_type } })} />
        {did && <MeasureEditor c={c} ctx={ctx} testid={testid} onChange={(next) => onChange({ performed: next })} />}
        <RangeEditor value={c.during} testid={`${testid}-range`} onChange={(during) => set({ during })} />
        <Remove onRemove={onRemove} />
      </div>
      <WhereList value={c.event.where ?? []} catalog={ctx.catalog} testid={`${testid}-where`} label="+ where" onChange={(where) => set({ event: { ...c.event, where } })} />
    </div>
  );
}

function UserPropertyRow({ up, negated, onChange, onRemove, ctx, testid }) {
  const emit = (next, neg = negated) => onChange(neg ? { not: { user_property: next } } : { user_property: next });
  const set = (patch) => emit({ ...up, ...patch });
  const options = propertiesOfKind(ctx.catalog, "user");
  const prop = ctx.catalog.properties.find((p) => p.kind === "user" && p.property === up.property);
  const noValues = up.op === "set" || up.op === "not_set";
  return (
    <div class="cond">
      <div class="cond-row">
        <Select value={negated ? "not" : "has"} testid={`${testid}-verb`} options={[["has", "has"], ["not", "does not have"]]} onChange={(v) => emit(up, v === "not")} />
        <span class="cond-word">user property</span>
        <Picker options={options} value={up.property} placeholder="property…" allowCustom testid={`${testid}-property`} onChange={(property) => set({ property })} />
        <Select
          value={up.op}
          options={OPS}
          testid={`${testid}-op`}
          onChange={(op) => set({ op, values: op === "set" || op === "not_set" ? [] : parseValues((up.values ?? []).join(", "), op) })}
        />
        {!noValues && (
          <>
            <input
              class="values"
              list={`${testid}-enum`}
              data-testid={`${testid}-values`}
              placeholder={NUMERIC.includes(up.op) ? "a number" : "values, comma-separated"}
              value={(up.values ?? []).join(", ")}
              onChange={(e) => set({ values: parseValues(e.target.value, up.op) })}
            />
            {prop?.enum && <datalist id={`${testid}-enum`}>{prop.enum.map((v) => <option value={v} />)}</datalist>}
          </>
        )}
        <Select value={up.mode ?? "most_recent"} testid={`${testid}-mode`} options={[["most_recent", "most recently"], ["any_time", "at any time"]]} onChange={(mode) => set({ mode })} />
        <RangeEditor value={up.during} testid={`${testid}-range`} onChange={(during) => set({ during })} />
        <Remove onRemove={onRemove} />
      </div>
    </div>
  );
}

function CohortRow({ name, negated, onChange, onRemove, ctx, testid }) {
  const emit = (n, neg) => onChange(neg ? { not: { in_cohort: n } } : { in_cohort: n });
  const options = ctx.cohorts.filter((c) => c.cohort.name !== ctx.self).map((c) => ({
    key: c.cohort.name,
    label: c.cohort.name,
    hint: c.latest ? `${c.latest.size}` : "never computed",
    title: c.cohort.description ?? "",
  }));
  return (
    <div class="cond">
      <div class="cond-row">
        <Select value={negated ? "not" : "in"} testid={`${testid}-verb`} options={[["in", "is in cohort"], ["not", "is not in cohort"]]} onChange={(v) => emit(name, v === "not")} />
        <Picker options={options} value={name} placeholder="Choose a cohort…" testid={`${testid}-cohort`} onChange={(n) => emit(n, negated)} />
        <Remove onRemove={onRemove} />
      </div>
    </div>
  );
}

function WasNewRow({ node, onChange, onRemove, testid }) {
  return (
    <div class="cond">
      <div class="cond-row">
        <span class="cond-word">first used the product (was new)</span>
        <RangeEditor value={node.was_new.during} firstUse={false} testid={`${testid}-range`} onChange={(during) => onChange({ was_new: { during } })} />
        <Remove onRemove={onRemove} />
      </div>
    </div>
  );
}

/** An event with its filters: a picker, and a `where` list below it. */
function EventWithWhere({ value, onChange, ctx, testid, label = "+ where", specials = ["_all"], placeholder = "Choose an event…" }) {
  return (
    <span class="event-with-where">
      <Picker options={eventOptions(ctx.catalog, specials)} value={value.event_type} placeholder={placeholder} testid={`${testid}-event`} onChange={(event_type) => onChange({ ...value, event_type })} />
      <WhereList value={value.where ?? []} catalog={ctx.catalog} testid={`${testid}-where`} label={label} onChange={(where) => onChange({ ...value, where })} />
    </span>
  );
}

function ThenRow({ node, onChange, onRemove, ctx, testid }) {
  const c = node.then;
  const set = (patch) => onChange({ then: { ...c, ...patch } });
  return (
    <div class="cond">
      <div class="cond-row">
        <span class="cond-word">did</span>
        <EventWithWhere value={c.first} ctx={ctx} testid={`${testid}-first`} onChange={(first) => set({ first })} />
        <span class="cond-word">then, later,</span>
        <EventWithWhere value={c.then} ctx={ctx} testid={`${testid}-then`} onChange={(then) => set({ then })} />
        <RangeEditor value={c.during} testid={`${testid}-range`} onChange={(during) => set({ during })} />
        <Remove onRemove={onRemove} />
      </div>
    </div>
  );
}

function RelativeCountRow({ node, onChange, onRemove, ctx, testid }) {
  const c = node.relative_count;
  const set = (patch) => onChange({ relative_count: { ...c, ...patch } });
  return (
    <div class="cond">
      <div class="cond-row">
        <span class="cond-word">did</span>
        <EventWithWhere value={c.event} ctx={ctx} testid={`${testid}-event1`} onChange={(event) => set({ event })} />
        <Select value={c.op} options={RELATIVE_OPS} testid={`${testid}-op`} onChange={(op) => set({ op })} />
        <EventWithWhere value={c.compared_to} ctx={ctx} testid={`${testid}-event2`} onChange={(compared_to) => set({ compared_to })} />
        <RangeEditor value={c.during} testid={`${testid}-range`} onChange={(during) => set({ during })} />
        <Remove onRemove={onRemove} />
      </div>
    </div>
  );
}

function RfmRow({ node, onChange, onRemove, ctx, testid }) {
  const c = node.rfm;
  const set = (patch) => onChange({ rfm: { ...c, ...patch } });
  return (
    <div class="cond">
      <div class="cond-row">
        <span class="cond-word">is a buyer in RFM segment</span>
        <Select value={c.segment} options={RFM_SEGMENTS} testid={`${testid}-segment`} onChange={(segment) => set({ segment })} />
        <span class="cond-word">scoring purchases</span>
        <EventWithWhere value={c.revenue_event} ctx={ctx} specials={[]} placeholder="the purchase event…" testid={`${testid}-revenue`} onChange={(revenue_event) => set({ revenue_event })} />
        <span class="cond-word">amount in</span>
        <Picker options={propertiesOfKind(ctx.catalog, "event")} value={c.revenue_property} placeholder="property…" allowCustom testid={`${testid}-amount`} onChange={(revenue_property) => set({ revenue_property })} />
        <RangeEditor value={c.during} firstUse={false} testid={`${testid}-range`} onChange={(during) => set({ during })} />
        <Remove onRemove={onRemove} />
      </div>
    </div>
  );
}

/** "Entered the funnel … and reached step k" / "… reached step k but not k + 1". */
function FunnelRow({ node, onChange, onRemove, ctx, testid }) {
  const c = node.funnel;
  const set = (patch) => onChange({ funnel: { ...c, ...patch } });
  const steps = c.steps;
  const outcome = c.dropped_after !== undefined ? "dropped_after" : "reached";
  const at = c.dropped_after ?? c.reached;
  const last = outcome === "dropped_after" ? steps.length - 1 : steps.length;
  const setOutcome = (kind, k) => {
    const { reached, dropped_after, ...rest } = c;
    const max = kind === "dropped_after" ? rest.steps.length - 1 : rest.steps.length;
    onChange({ funnel: { ...rest, [kind]: Math.max(1, Math.min(k, max)) } });
  };
  const setSteps = (next) => {
    const { reached, dropped_after, ...rest } = c;
    const max = outcome === "dropped_after" ? next.length - 1 : next.length;
    onChange({ funnel: { ...rest, steps: next, [outcome]: Math.max(1, Math.min(at, max)) } });
  };
  const window = c.conversion_window ?? { value: 1, unit: "day" };
  const label = (i) => `${i + 1}${steps[i]?.event_type ? ` (${steps[i].event_type})` : ""}`;
  return (
    <div class="cond cond-funnel">
      <div class="cond-row">
        <span class="cond-word">entered the funnel</span>
        <RangeEditor value={c.during} firstUse={false} testid={`${testid}-range`} onChange={(during) => set({ during })} />
        <span class="cond-word">(its first step), steps</span>
        <Select value={c.order ?? "this"} options={FUNNEL_ORDERS} testid={`${testid}-order`} onChange={(order) => set({ order })} />
        <span class="cond-word">within</span>
        <NumberInput value={window.value} min={1} testid={`${testid}-window-value`} onChange={(value) => set({ conversion_window: { ...window, value } })} />
        <Select value={window.unit} options={WINDOW_UNITS.map((u) => [u, window.value === 1 ? u : `${u}s`])} testid={`${testid}-window-unit`} onChange={(unit) => set({ conversion_window: { ...window, unit } })} />
        <Remove onRemove={onRemove} />
      </div>
      <ol class="funnel-steps">
        {steps.map((step, i) => (
          <li>
            <EventWithWhere value={step} ctx={ctx} specials={[]} testid={`${testid}-step-${i}`} onChange={(x) => setSteps(steps.map((y, j) => (j === i ? x : y)))} />
            {steps.length > 2 && <button type="button" class="icon" title="Remove this step" data-testid={`${testid}-step-${i}-remove`} onClick={() => setSteps(steps.filter((_, j) => j !== i))}>×</button>}
          </li>
        ))}
      </ol>
      {steps.length < 32 && <button type="button" class="link" data-testid={`${testid}-add-step`} onClick={() => setSteps([...steps, { event_type: "" }])}>+ step</button>}
      {c.exclusions?.length > 0 && <p class="hint">Its {c.exclusions.length} exclusion step{c.exclusions.length === 1 ? "" : "s"} are kept as they are (edit them as JSON).</p>}
      <div class="cond-row">
        <span class="cond-word">and</span>
        <Select value={outcome} options={[["reached", "reached at least step"], ["dropped_after", "reached, but went no further than, step"]]} testid={`${testid}-outcome`} onChange={(kind) => setOutcome(kind, at)} />
        <Select value={String(at)} options={Array.from({ length: last }, (_, i) => [String(i + 1), label(i)])} testid={`${testid}-outcome-step`} onChange={(k) => setOutcome(outcome, Number(k))} />
      </div>
    </div>
  );
}

/** A condition's `interval` (and `week_start`, kept only for weeks): `onChange` gets the condition. */
function IntervalPicker({ c, onChange, testid }) {
  const interval = c.interval ?? "day";
  const change = (patch) => {
    const next = { ...c, ...patch };
    if (next.interval !== "week") delete next.week_start;
    onChange(next);
  };
  return (
    <>
      <Select value={interval} options={INTERVALS} testid={`${testid}-interval`} onChange={(i) => change({ interval: i })} />
      {interval === "week" && <Select value={c.week_start ?? "monday"} options={WEEK_STARTS} testid={`${testid}-week-start`} onChange={(w) => change({ week_start: w })} />}
    </>
  );
}

/** Started in a range, then returned (or not) in period N, or in any of periods a…b, after it. */
function RetentionRow({ node, onChange, onRemove, ctx, testid }) {
  const c = node.retention;
  const set = (patch) => onChange({ retention: { ...c, ...patch } });
  const unit = c.interval ?? "day";
  const bracket = c.periods !== undefined;
  const setWhen = (kind) => {
    const { period, periods, ...rest } = c;
    const first = period ?? periods?.[0] ?? 1;
    onChange({ retention: kind === "bracket" ? { ...rest, periods: [first, first + 7] } : { ...rest, period: first } });
  };
  return (
    <div class="cond">
      <div class="cond-row">
        <span class="cond-word">started with</span>
        <EventWithWhere value={c.start_event} ctx={ctx} specials={["_new", "_all"]} testid={`${testid}-start`} onChange={(start_event) => set({ start_event })} />
        <RangeEditor value={c.started_during} firstUse={false} testid={`${testid}-range`} onChange={(started_during) => set({ started_during })} />
        <Remove onRemove={onRemove} />
      </div>
      <div class="cond-row">
        <span class="cond-word">and</span>
        <Select value={String(c.returned)} options={[["true", "returned"], ["false", "did not return"]]} testid={`${testid}-returned`} onChange={(v) => set({ returned: v === "true" })} />
        <span class="cond-word">with</span>
        <EventWithWhere value={c.return_event} ctx={ctx} testid={`${testid}-return`} onChange={(return_event) => set({ return_event })} />
        <Select value={bracket ? "bracket" : "period"} options={[["period", `in ${unit}`], ["bracket", `in any ${unit} from`]]} testid={`${testid}-when`} onChange={setWhen} />
        {bracket ? (
          <>
            <NumberInput value={c.periods[0]} min={0} testid={`${testid}-from`} onChange={(a) => set({ periods: [a, Math.max(a + 1, c.periods[1])] })} />
            to
            <NumberInput value={c.periods[1] - 1} min={c.periods[0]} testid={`${testid}-to`} onChange={(b) => set({ periods: [c.periods[0], b + 1] })} />
          </>
        ) : (
          <NumberInput value={c.period} min={0} testid={`${testid}-period`} onChange={(period) => set({ period })} />
        )}
        <span class="cond-word">after it; a period is a</span>
        <IntervalPicker c={c} testid={testid} onChange={(next) => onChange({ retention: next })} />
        <Select
          value={c.boundaries ?? "rolling"}
          options={[["rolling", `in 24-hour windows from the start`], ["calendar", `in calendar ${unit}s`]]}
          testid={`${testid}-boundaries`}
          onChange={(boundaries) => set({ boundaries })}
        />
      </div>
    </div>
  );
}

/** New, current, resurrected or dormant for an event in the day, week or month starting on a day. */
function LifecycleRow({ node, onChange, onRemove, ctx, testid }) {
  const c = node.lifecycle;
  const emit = (next) => onChange({ lifecycle: { ...next, in: periodStart(next.in, next.interval ?? "day", next.week_start ?? "monday") } });
  return (
    <div class="cond">
      <div class="cond-row">
        <span class="cond-word">was</span>
        <Select value={c.state} options={LIFECYCLE_STATES} testid={`${testid}-state`} onChange={(state) => emit({ ...c, state })} />
        <span class="cond-word">for</span>
        <EventWithWhere value={c.event} ctx={ctx} testid={testid} onChange={(event) => emit({ ...c, event })} />
        <span class="cond-word">in the</span>
        <IntervalPicker c={c} testid={testid} onChange={emit} />
        <span class="cond-word">starting</span>
        <input type="date" value={c.in} data-testid={`${testid}-in`} onChange={(e) => emit({ ...c, in: e.target.value })} />
        <Remove onRemove={onRemove} />
      </div>
    </div>
  );
}

function ReadOnly({ node, onRemove, testid }) {
  return (
    <div class="cond cond-readonly" data-testid={`${testid}-readonly`}>
      <div class="cond-row">
        <span>{summarize(node)}</span>
        <Remove onRemove={onRemove} />
      </div>
      <details>
        <summary>JSON (the builder has no controls for this condition; it is kept as it is)</summary>
        <pre>{JSON.stringify(node, null, 2)}</pre>
      </details>
    </div>
  );
}

const ADD = [
  ["performed", "+ did event"],
  ["did_not_perform", "+ did not do event"],
  ["user_property", "+ user property"],
  ["in_cohort", "+ in cohort"],
  ["was_new", "+ first used"],
  ["then", "+ did A, then B"],
  ["relative_count", "+ did A more than B"],
  ["funnel", "+ funnel step reached / dropped"],
  ["rfm", "+ RFM segment"],
  ["retention", "+ returned / did not return"],
  ["lifecycle", "+ lifecycle state"],
  ["group", "+ group (or)"],
];

function Group({ mode, list, path, onChange, onRemove, ctx, testid, depth }) {
  const emit = (m, l) => onChange(m === "none" ? { not: { any: l } } : { [m]: l });
  const listPath = mode === "none" ? `${path}.not.any` : `${path}.${mode}`;
  return (
    <div class={`cond-group depth-${depth}`} data-testid={testid}>
      <div class="cond-row">
        <Select value={mode} testid={`${testid}-mode`} options={[["all", "All of these (AND)"], ["any", "Any of these (OR)"], ["none", "None of these"]]} onChange={(m) => emit(m, list)} />
        <Remove onRemove={onRemove} what="this group" />
      </div>
      <ol class="cond-list">
        {list.map((c, i) => (
          <li>
            {i > 0 && <span class="joint">{mode === "all" ? "and" : "or"}</span>}
            <Node
              node={c}
              path={`${listPath}[${i}]`}
              testid={`${testid === "cohort-definition" ? "cond" : testid}-${i}`}
              ctx={ctx}
              depth={depth + 1}
              onChange={(x) => emit(mode, list.map((y, j) => (j === i ? x : y)))}
              onRemove={list.length > 1 || onRemove ? () => emit(mode, list.filter((_, j) => j !== i)) : null}
            />
          </li>
        ))}
      </ol>
      <div class="cond-add">
        {ADD.filter(([k]) => k !== "group" || depth < 3).map(([kind, label]) => (
          <button type="button" class="link" data-testid={`${testid}-add-${kind}`} onClick={() => emit(mode, [...list, newCondition(kind)])}>
            {label}
          </button>
        ))}
      </div>
    </div>
  );
}

/** One node of the definition, at `path` (the server's name for it, so its errors show here). */
export function Node({ node, path, onChange, onRemove, ctx, testid, depth = 0 }) {
  const props = { onChange, onRemove, ctx, testid };
  const absorbsNot = !!(node?.not && (node.not.any || node.not.user_property || node.not.in_cohort !== undefined));
  const mine = ctx.errorAt === path || (absorbsNot && ctx.errorAt === `${path}.not`);
  let body;
  if (!editable(node)) body = <ReadOnly node={node} {...props} />;
  else if (node.all || node.any) body = <Group mode={node.all ? "all" : "any"} list={node.all ?? node.any} path={path} depth={depth} {...props} />;
  else if (node.not?.any) body = <Group mode="none" list={node.not.any} path={path} depth={depth} {...props} />;
  else if (node.not?.user_property) body = <UserPropertyRow up={node.not.user_property} negated {...props} />;
  else if (node.user_property) body = <UserPropertyRow up={node.user_property} negated={false} {...props} />;
  else if (node.not?.in_cohort !== undefined) body = <CohortRow name={node.not.in_cohort} negated {...props} />;
  else if (node.in_cohort !== undefined) body = <CohortRow name={node.in_cohort} negated={false} {...props} />;
  else if (node.not) {
    body = (
      <div class="cond cond-not">
        <div class="cond-row">
          <strong>NOT</strong>
          <button type="button" class="link" onClick={() => onChange(node.not)}>remove “not”</button>
          <Remove onRemove={onRemove} />
        </div>
        <Node node={node.not} path={`${path}.not`} ctx={ctx} testid={`${testid}-not`} depth={depth + 1} onChange={(x) => onChange({ not: x })} />
      </div>
    );
  } else if (node.was_new) body = <WasNewRow node={node} {...props} />;
  else if (node.then) body = <ThenRow node={node} {...props} />;
  else if (node.relative_count) body = <RelativeCountRow node={node} {...props} />;
  else if (node.rfm) body = <RfmRow node={node} {...props} />;
  else if (node.funnel) body = <FunnelRow node={node} {...props} />;
  else if (node.retention) body = <RetentionRow node={node} {...props} />;
  else if (node.lifecycle) body = <LifecycleRow node={node} {...props} />;
  else body = <EventRow node={node} {...props} />;
  return (
    <div class="cond-node" data-testid={node.all || node.any || node.not?.any ? undefined : testid}>
      {body}
      {mine && <p class="error" role="alert" data-testid="cohort-field-error">{ctx.error}</p>}
    </div>
  );
}
