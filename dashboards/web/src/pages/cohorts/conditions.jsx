// The definition builder's controls: a group (all / any / none of) of conditions, each a row —
// did / did not do an event (with `where`, a count and a range), a user property, in / not in a
// cohort, new in a range — edited in place in the definition's own JSON. A condition the builder
// has no controls for is shown read-only (its summary and JSON) and kept as it is.
import { NUMERIC, OPS, Select, WhereList, parseValues } from "../../components/controls.jsx";
import { Picker, eventOptions } from "../../components/picker.jsx";
import { COUNT_OPS, editable, newCondition, summarize } from "./model.js";

const RANGE_KINDS = [
  ["last_days", "in the last"],
  ["between", "between"],
  ["since", "since"],
  ["first_use", "within … of first use"],
];

/** A range `R`: last N days, between two dates, since a day, within N days of first use. */
export function RangeEditor({ value = { last_days: 30 }, onChange, testid, firstUse = true }) {
  const kind = value.from !== undefined ? "between" : value.since !== undefined ? "since" : value.within_days_of_first_use !== undefined ? "first_use" : "last_days";
  const today = new Date().toISOString().slice(0, 10);
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
          <input type="date" value={value.from} max={value.to} data-testid={`${testid}-from`} onChange={(e) => onChange({ ...value, from: e.target.value })} />
          and
          <input type="date" value={value.to} min={value.from} data-testid={`${testid}-to`} onChange={(e) => onChange({ ...value, to: e.target.value })} />
        </>
      )}
    </span>
  );
}

function CountEditor({ value, onChange, testid }) {
  return (
    <span class="count">
      <Select
        value={value?.op ?? ""}
        testid={`${testid}-count`}
        options={[["", "at least once"], ...COUNT_OPS]}
        onChange={(op) => onChange(op ? { op, value: value?.value ?? 1 } : undefined)}
      />
      {value && (
        <>
          <input type="number" min="1" class="short" data-testid={`${testid}-count-value`} value={value.value} onChange={(e) => onChange({ ...value, value: Math.max(1, Math.floor(Number(e.target.value) || 1)) })} />
          times
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
  const set = (patch) => {
    const next = { ...c, ...patch };
    if (!next.count) delete next.count;
    onChange(did ? { performed: next } : { did_not_perform: next });
  };
  return (
    <div class="cond">
      <div class="cond-row">
        <Select
          value={did ? "did" : "did_not"}
          testid={`${testid}-verb`}
          options={[["did", "did"], ["did_not", "did not do"]]}
          onChange={(v) => {
            const { count, ...rest } = c;
            onChange(v === "did" ? { performed: rest } : { did_not_perform: rest });
          }}
        />
        <Picker options={eventOptions(ctx.catalog, ["_all"])} value={c.event.event_type} placeholder="Choose an event…" testid={`${testid}-event`} onChange={(event_type) => set({ event: { ...c.event, event_type } })} />
        {did && <CountEditor value={c.count} testid={testid} onChange={(count) => set({ count })} />}
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
  const options = ctx.catalog.properties.filter((p) => p.kind === "user").map((p) => ({ key: p.property, label: p.property, hint: p.type, title: p.description ?? "" }));
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
  else body = <EventRow node={node} {...props} />;
  return (
    <div class="cond-node" data-testid={node.all || node.any || node.not?.any ? undefined : testid}>
      {body}
      {mine && <p class="error" role="alert" data-testid="cohort-field-error">{ctx.error}</p>}
    </div>
  );
}
