// One form per analysis; each edits its part of the spec and leaves the rest alone.
import { DateRange, Field, GroupBy, Segments, Select, WhereList } from "./controls.jsx";
import { Picker, eventOptions, keyRef, propertyOptions, refKey } from "./picker.jsx";

const INTERVALS = [["hour", "Hourly"], ["day", "Daily"], ["week", "Weekly"], ["month", "Monthly"]];

/** The parts every analysis shares: dates, time zone, and (most of them) segments and group-by. */
function Common({ spec, set, catalog, intervals = INTERVALS, groupBy = true, children }) {
  return (
    <>
      {children}
      <fieldset>
        <legend>When</legend>
        <DateRange value={spec.date_range} onChange={(v) => set({ date_range: v })} />
        {intervals && (
          <Select testid="interval" value={spec.interval ?? intervals[0][0]} options={intervals} onChange={(v) => set({ interval: v })} />
        )}
        <input class="tz" title="Time zone (IANA name) that cuts the days" value={spec.time_zone ?? "UTC"} onChange={(e) => set({ time_zone: e.target.value })} />
      </fieldset>
      {groupBy && (
        <fieldset>
          <legend>Group by</legend>
          {/* A funnel's one-property `breakdown` shows as its group-by; an edit makes it a group_by. */}
          <GroupBy
            value={spec.group_by ?? (spec.breakdown ? [spec.breakdown] : [])}
            catalog={catalog}
            onChange={(v) => set({ group_by: v, breakdown: undefined })}
          />
        </fieldset>
      )}
      <fieldset>
        <legend>Compare segments</legend>
        <Segments value={spec.segments ?? []} catalog={catalog} onChange={(v) => set({ segments: v })} />
      </fieldset>
    </>
  );
}

/** An event with its conditions (a step, a series, the start event…). */
function PickedEvent({ value, onChange, catalog, specials = ["_all"], testid, label, extra, onRemove }) {
  return (
    <div class="picked-event" data-testid={testid}>
      <div class="row">
        {label && <span class="step-label">{label}</span>}
        <Picker
          options={eventOptions(catalog, specials)}
          value={value.event_type}
          placeholder="Choose an event…"
          testid={`${testid}-event`}
          onChange={(event_type) => onChange({ ...value, event_type })}
        />
        {extra}
        {onRemove && <button type="button" class="icon" title="Remove" onClick={onRemove}>×</button>}
      </div>
      <WhereList value={value.where} catalog={catalog} testid={`${testid}-where`} onChange={(where) => onChange({ ...value, where })} label="+ where" />
    </div>
  );
}

const MEASURES = [
  ["uniques", "Uniques"],
  ["totals", "Event totals"],
  ["active_percent", "Active %"],
  ["average", "Average per person"],
  ["frequency", "Frequency"],
  ["property_sum", "Sum of property"],
  ["property_average", "Average of property"],
  ["property_median", "Median of property"],
  ["property_min", "Min of property"],
  ["property_max", "Max of property"],
  ["property_distinct_count", "Distinct values of property"],
];

/** Each point on its own, cumulative, or a rolling average or window of N points. */
function SegmentationView({ value, onChange }) {
  const kind = value === "cumulative" ? "cumulative" : value?.rolling_average ? "rolling_average" : value?.rolling_window ? "rolling_window" : "";
  const n = value?.rolling_average ?? value?.rolling_window ?? 7;
  return (
    <>
      <Select
        testid="segmentation-view"
        value={kind}
        options={[["", "each point"], ["cumulative", "cumulative"], ["rolling_average", "rolling average of"], ["rolling_window", "rolling window of"]]}
        onChange={(k) => onChange(k === "" ? undefined : k === "cumulative" ? "cumulative" : { [k]: n })}
      />
      {kind.startsWith("rolling") && (
        <input type="number" min="1" max="90" class="short" title="points" value={n} onChange={(e) => onChange({ [kind]: Number(e.target.value) })} />
      )}
    </>
  );
}

/** Formulas over the series (`UNIQUES(B)/UNIQUES(A)`), each with an optional name. */
function Formulas({ value, onChange }) {
  const update = (i, f) => onChange(value.map((x, j) => (j === i ? f : x)));
  return (
    <div class="formulas">
      {value.map((f, i) => (
        <div class="row">
          <input class="formula" data-testid={`formula-${i}`} placeholder="UNIQUES(B) / UNIQUES(A)" value={f.formula} onChange={(e) => update(i, { ...f, formula: e.target.value })} />
          <input class="formula-name" placeholder="name" value={f.name ?? ""} onChange={(e) => update(i, { ...f, name: e.target.value || undefined })} />
          <Select
            value={f.format ?? ""}
            options={[["", "number"], ["percent", "percent"]]}
            onChange={(format) => update(i, { ...f, format: format || undefined })}
          />
          <button type="button" class="icon" title="Remove" onClick={() => onChange(value.filter((_, j) => j !== i))}>×</button>
        </div>
      ))}
      <button type="button" class="link" data-testid="formula-add" onClick={() => onChange([...value, { formula: "" }])}>
        + add a formula
      </button>
    </div>
  );
}

function SegmentationForm({ spec, set, catalog }) {
  const update = (i, e) => set({ events: spec.events.map((x, j) => (j === i ? e : x)) });
  return (
    <Common spec={spec} set={set} catalog={catalog}>
      <fieldset>
        <legend>Events</legend>
        {spec.events.map((e, i) => (
          <PickedEvent
            value={e}
            catalog={catalog}
            testid={`series-${i}`}
            label={String.fromCharCode(65 + i)}
            onChange={(v) => update(i, v)}
            onRemove={spec.events.length > 1 ? () => set({ events: spec.events.filter((_, j) => j !== i) }) : null}
            extra={
              <>
                <Select
                  value={e.measure ?? "uniques"}
                  options={MEASURES}
                  testid={`series-${i}-measure`}
                  onChange={(measure) => {
                    const next = { ...e, measure };
                    if (!measure.startsWith("property_")) delete next.property;
                    update(i, next);
                  }}
                />
                {e.measure?.startsWith("property_") && (
                  <Picker
                    options={propertyOptions(catalog, { cohorts: false })}
                    value={refKey(e.property)}
                    placeholder="property…"
                    onChange={(key) => update(i, { ...e, property: keyRef(key) })}
                  />
                )}
              </>
            }
          />
        ))}
        {spec.events.length < 10 && (
          <button type="button" class="link" data-testid="series-add" onClick={() => set({ events: [...spec.events, { event_type: "", measure: "uniques" }] })}>
            + add a series
          </button>
        )}
      </fieldset>
      <fieldset>
        <legend>Show</legend>
        <SegmentationView value={spec.view} onChange={(view) => set({ view })} />
      </fieldset>
      <fieldset>
        <legend>Formulas</legend>
        <Formulas value={spec.formulas ?? []} onChange={(formulas) => set({ formulas: formulas.length ? formulas : undefined })} />
      </fieldset>
    </Common>
  );
}

function FunnelForm({ spec, set, catalog }) {
  const update = (i, s) => set({ steps: spec.steps.map((x, j) => (j === i ? s : x)) });
  const window = spec.conversion_window ?? { value: 1, unit: "day" };
  return (
    <Common spec={spec} set={set} catalog={catalog} intervals={null}>
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
            onRemove={spec.steps.length > 2 ? () => set({ steps: spec.steps.filter((_, j) => j !== i) }) : null}
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
            value={spec.order ?? "this"}
            options={[["this", "this order"], ["any", "any order"], ["exact", "exact order"]]}
            onChange={(order) => set({ order })}
          />
        </Field>
        <Field label="count">
          <Select
            value={spec.counting ?? "persons"}
            options={[["persons", "unique persons"], ["totals", "event totals"]]}
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
            checked={!!spec.time_to_convert}
            onChange={(e) => set({ time_to_convert: e.target.checked ? {} : undefined })}
          />
        </Field>
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
            onRemove={() => set({ exclusions: spec.exclusions.filter((_, j) => j !== i) })}
          />
        ))}
        <button type="button" class="link" onClick={() => set({ exclusions: [...(spec.exclusions ?? []), { event_type: "" }] })}>
          + exclude an event between the steps
        </button>
      </fieldset>
    </Common>
  );
}

function RetentionForm({ spec, set, catalog }) {
  const method = typeof spec.method === "string" ? spec.method : "return_on";
  return (
    <Common spec={spec} set={set} catalog={catalog} intervals={INTERVALS.slice(1)}>
      <fieldset>
        <legend>Start event</legend>
        <PickedEvent value={spec.start_event} catalog={catalog} specials={["_new", "_all"]} testid="start" onChange={(v) => set({ start_event: v })} />
        <legend>Return event</legend>
        <PickedEvent value={spec.return_event ?? spec.return_events?.[0] ?? { event_type: "_all" }} catalog={catalog} testid="return" onChange={(v) => set({ return_event: v, return_events: undefined })} />
      </fieldset>
      <fieldset>
        <legend>Measured</legend>
        <Field label="periods">
          <input type="number" min="0" max="366" class="short" data-testid="periods" value={spec.periods} onChange={(e) => set({ periods: Number(e.target.value) })} />
        </Field>
        <Field label="method">
          <Select
            value={method}
            options={[["return_on", "return on"], ["return_on_or_after", "return on or after"]]}
            onChange={(m) => set({ method: m })}
          />
        </Field>
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

function OneEventForm({ spec, set, catalog, intervals }) {
  return (
    <Common spec={spec} set={set} catalog={catalog} intervals={intervals}>
      <fieldset>
        <legend>Event</legend>
        <PickedEvent value={spec.event} catalog={catalog} testid="event" onChange={(v) => set({ event: v })} />
      </fieldset>
    </Common>
  );
}

function PathsForm({ spec, set, catalog }) {
  return (
    <Common spec={spec} set={set} catalog={catalog} intervals={null}>
      <fieldset>
        <legend>Paths</legend>
        <Select value={spec.direction ?? "after"} options={[["after", "after"], ["before", "before"]]} onChange={(direction) => set({ direction })} />
        <PickedEvent value={spec.anchor} catalog={catalog} testid="anchor" onChange={(v) => set({ anchor: v })} />
        <Field label="steps">
          <input type="number" min="1" max="10" class="short" value={spec.depth ?? 3} onChange={(e) => set({ depth: Number(e.target.value) })} />
        </Field>
        <Field label="top paths">
          <input type="number" min="1" max="1000" class="short" value={spec.limit ?? 20} onChange={(e) => set({ limit: Number(e.target.value) })} />
        </Field>
        <Field label="collapse repeats">
          <input type="checkbox" checked={!!spec.collapse_repeats} onChange={(e) => set({ collapse_repeats: e.target.checked })} />
        </Field>
      </fieldset>
    </Common>
  );
}

export function AnalysisForm({ spec, onChange, catalog }) {
  const set = (patch) => {
    const next = { ...spec, ...patch };
    for (const [k, v] of Object.entries(patch)) if (v === undefined) delete next[k];
    onChange(next);
  };
  const props = { spec, set, catalog };
  switch (spec.analysis) {
    case "funnel":
      return <FunnelForm {...props} />;
    case "retention":
      return <RetentionForm {...props} />;
    case "lifecycle":
      return <OneEventForm {...props} intervals={INTERVALS.slice(1)} />;
    case "stickiness":
      return <OneEventForm {...props} intervals={[["week", "Weekly"], ["month", "Monthly"]]} />;
    case "paths":
      return <PathsForm {...props} />;
    case "segmentation":
      return <SegmentationForm {...props} />;
    default:
      return <p class="hint">This chart's analysis ({spec.analysis}) has no builder; its spec is shown below and runs as saved.</p>;
  }
}
