// The segmentation form: series (event, measure, a property or frequency buckets), the view
// (each point, cumulative, rolling) and formulas.
import { Field, Select } from "../controls.jsx";
import { Picker, keyRef, propertyOptions, refKey } from "../picker.jsx";
import { parseNumbers } from "../../spec.js";
import { Common, PickedEvent } from "./common.jsx";

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

export function SegmentationForm({ spec, set, catalog }) {
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
                    if (measure !== "frequency") delete next.frequency_buckets;
                    update(i, next);
                  }}
                />
                {e.measure === "frequency" && (
                  <Field label="buckets">
                    <input
                      class="buckets"
                      data-testid={`series-${i}-buckets`}
                      placeholder="1, 2, … 10+"
                      title="Lower bounds of the buckets, strictly increasing from 1: 1, 2, 3, 5 gives 1, 2, 3–4 and 5+ (1 to 10+ when empty)"
                      value={(e.frequency_buckets ?? []).join(", ")}
                      onChange={(ev) => {
                        const buckets = parseNumbers(ev.target.value);
                        const next = { ...e, frequency_buckets: buckets };
                        if (!buckets.length) delete next.frequency_buckets;
                        update(i, next);
                      }}
                    />
                  </Field>
                )}
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

