// The builder's shared controls, each editing one part of a query spec: the date range, the
// interval, conditions (`where`), group-by and compared segments.
import { Picker, keyRef, propertyOptions, refKey } from "./picker.jsx";
import { ordered, todayIn } from "../spec.js";

const PRESETS = [7, 14, 30, 60, 90, 180, 365];

/**
 * `{"last_days": N}` or `{"from", "to"}`; with `none` (its label), also null: no range of its
 * own. Dates stay in order: moving one past the other moves both. `timeZone` says which day is today.
 */
export function DateRange({ value, onChange, testid = "date-range", none = null, timeZone }) {
  const custom = value && value.from !== undefined;
  const today = todayIn(timeZone); // "between" starts on today in the chart's zone
  const shown = custom ? "custom" : value ? String(value.last_days ?? 30) : "";
  return (
    <span class="date-range">
      <select
        data-testid={testid}
        value={shown}
        onChange={(e) => {
          const v = e.target.value;
          if (v === "") onChange(null);
          else if (v === "custom") onChange({ from: today, to: today });
          else onChange({ last_days: Number(v) });
        }}
      >
        {none && <option value="">{none}</option>}
        {PRESETS.map((n) => <option value={String(n)}>Last {n} days</option>)}
        {!custom && value?.last_days && !PRESETS.includes(value.last_days) && (
          <option value={String(value.last_days)}>Last {value.last_days} days</option>
        )}
        <option value="custom">Between dates…</option>
      </select>
      {custom && (
        <>
          <input type="date" value={value.from} max={value.to} data-testid={`${testid}-from`} onChange={(e) => onChange(ordered(e.target.value, value.to, "from"))} />
          –
          <input type="date" value={value.to} min={value.from} data-testid={`${testid}-to`} onChange={(e) => onChange(ordered(value.from, e.target.value, "to"))} />
        </>
      )}
    </span>
  );
}

/** `options`: values, or [value, label] (or [value, label, disabled]) pairs. */
export function Select({ value, options, onChange, testid, disabled = false, title }) {
  return (
    <select data-testid={testid} value={value} disabled={disabled} title={title} onChange={(e) => onChange(e.target.value)}>
      {options.map((o) => (Array.isArray(o) ? <option value={o[0]} disabled={!!o[2]}>{o[1]}</option> : <option value={o}>{o}</option>))}
    </select>
  );
}

export function Field({ label, children }) {
  return (
    <label class="field">
      <span>{label}</span>
      {children}
    </label>
  );
}

export const OPS = [
  ["is", "is"],
  ["is_not", "is not"],
  ["contains", "contains"],
  ["does_not_contain", "does not contain"],
  ["greater", ">"],
  ["greater_or_equal", "≥"],
  ["less", "<"],
  ["less_or_equal", "≤"],
  ["set", "is set"],
  ["not_set", "is not set"],
];
export const NUMERIC = ["greater", "greater_or_equal", "less", "less_or_equal"];

export function parseValues(text, op) {
  const parts = text.split(",").map((s) => s.trim()).filter(Boolean);
  if (NUMERIC.includes(op)) return parts.slice(0, 1).map((p) => (Number.isNaN(Number(p)) ? p : Number(p)));
  return parts;
}

/** One condition: property, operator, values (comma-separated; a plan's enum is suggested). */
function Condition({ condition, onChange, onRemove, catalog, testid }) {
  const prop = catalog.properties.find((p) => p.kind === condition.kind && p.property === condition.property);
  const cohort = condition.kind === "cohort";
  const ops = cohort ? OPS.filter(([op]) => op === "is" || op === "is_not") : OPS;
  const noValues = cohort || condition.op === "set" || condition.op === "not_set";
  const listId = `enum-${testid}`;
  return (
    <div class="condition" data-testid={testid}>
      <Picker
        options={propertyOptions(catalog)}
        value={refKey(condition)}
        placeholder="property…"
        allowCustom
        testid={`${testid}-property`}
        onChange={(key) => {
          const ref = key.includes(":") ? keyRef(key) : { kind: "event", property: key };
          const next = { ...ref, op: condition.op || "is" };
          if (ref.kind === "cohort") next.op = "is";
          else next.values = condition.values ?? [];
          onChange(next);
        }}
      />
      <Select
        value={condition.op}
        options={ops}
        testid={`${testid}-op`}
        onChange={(op) => {
          const next = { ...condition, op };
          if (op === "set" || op === "not_set" || cohort) delete next.values;
          else next.values = parseValues((condition.values ?? []).join(", "), op);
          onChange(next);
        }}
      />
      {!noValues && (
        <>
          <input
            class="values"
            list={listId}
            placeholder={NUMERIC.includes(condition.op) ? "a number" : "values, comma-separated"}
            data-testid={`${testid}-values`}
            value={(condition.values ?? []).join(", ")}
            onChange={(e) => onChange({ ...condition, values: parseValues(e.target.value, condition.op) })}
          />
          {prop?.enum && (
            <datalist id={listId}>
              {prop.enum.map((v) => <option value={v} />)}
            </datalist>
          )}
        </>
      )}
      <button type="button" class="icon" title="Remove this condition" onClick={onRemove}>×</button>
    </div>
  );
}

/** A `where` list: conditions that must all hold. */
export function WhereList({ value = [], onChange, catalog, testid = "where", label = "+ filter" }) {
  const update = (i, c) => onChange(value.map((x, j) => (j === i ? c : x)));
  const remove = (i) => onChange(value.filter((_, j) => j !== i));
  return (
    <div class="where">
      {value.map((c, i) => (
        <Condition condition={c} catalog={catalog} testid={`${testid}-${i}`} onChange={(x) => update(i, x)} onRemove={() => remove(i)} />
      ))}
      <button
        type="button"
        class="link"
        data-testid={`${testid}-add`}
        onClick={() => onChange([...value, { kind: "event", property: "", op: "is", values: [] }])}
      >
        {label}
      </button>
    </div>
  );
}

const picked = (key) => (key.includes(":") ? keyRef(key) : { kind: "event", property: key });

/**
 * Up to `max` group-by properties (also the funnel's held properties). `extra(ref, i)` adds a
 * control beside an entry (the funnel's "on step k"); an entry's `step` stays while it is an
 * event property.
 */
export function GroupBy({ value = [], onChange, catalog, max = 2, testid = "group-by", placeholder = "+ group by", cohorts = true, extra }) {
  const options = propertyOptions(catalog, { cohorts });
  const replace = (r, key) => {
    const next = picked(key);
    return r.step !== undefined && next.kind === "event" ? { ...next, step: r.step } : next;
  };
  return (
    <div class="group-by">
      {value.map((ref, i) => (
        <span class="chip">
          <Picker
            options={options}
            value={refKey(ref)}
            testid={`${testid}-${i}`}
            allowCustom
            onChange={(key) => onChange(value.map((r, j) => (j === i ? replace(r, key) : r)))}
          />
          {extra?.(ref, i)}
          <button type="button" class="icon" title="Remove" onClick={() => onChange(value.filter((_, j) => j !== i))}>×</button>
        </span>
      ))}
      {value.length < max && (
        <Picker
          options={options}
          value=""
          placeholder={placeholder}
          testid={`${testid}-add`}
          allowCustom
          onChange={(key) => onChange([...value, picked(key)])}
        />
      )}
    </div>
  );
}

/** Segments compared side by side: each a name and conditions. */
export function Segments({ value = [], onChange, catalog }) {
  const update = (i, s) => onChange(value.map((x, j) => (j === i ? s : x)));
  return (
    <div class="segments">
      {value.map((s, i) => (
        <div class="segment" data-testid={`segment-${i}`}>
          <input
            class="segment-name"
            value={s.name ?? ""}
            placeholder={`segment ${i + 1}`}
            onChange={(e) => update(i, { ...s, name: e.target.value })}
          />
          <button type="button" class="icon" title="Remove this segment" onClick={() => onChange(value.filter((_, j) => j !== i))}>×</button>
          <WhereList value={s.where} catalog={catalog} testid={`segment-${i}-where`} onChange={(w) => update(i, { ...s, where: w })} />
        </div>
      ))}
      {value.length < 10 && (
        <button
          type="button"
          class="link"
          data-testid="segment-add"
          onClick={() => onChange([...value, { name: value.length ? `segment ${value.length + 1}` : "everyone", where: [] }])}
        >
          + compare a segment
        </button>
      )}
    </div>
  );
}
