// What every analysis form shares: dates and time zone, group-by (with its group limit),
// compared segments, and an event picked with its conditions.
import { DateRange, GroupBy, Segments, Select, WhereList } from "../controls.jsx";
import { Picker, eventOptions } from "../picker.jsx";

export const INTERVALS = [["hour", "Hourly"], ["day", "Daily"], ["week", "Weekly"], ["month", "Monthly"]];

/** A whole number, or nothing (the field is then left out of the spec). */
export function OptionalNumber({ value, onChange, min = 1, max, placeholder, testid, title }) {
  return (
    <input
      type="number"
      class="short"
      min={min}
      max={max}
      placeholder={placeholder}
      title={title}
      data-testid={testid}
      value={value ?? ""}
      onChange={(e) => onChange(e.target.value === "" ? undefined : Number(e.target.value))}
    />
  );
}

/**
 * The parts every analysis shares: dates, time zone, and (most of them) segments and group-by.
 * `groupLimit`: {max, placeholder} of `group_limit`, shown once something is grouped (1–100 and
 * 10 by default outside funnels); `groupExtra(ref, i)`: a control beside a group-by entry.
 */
export function Common({ spec, set, catalog, intervals = INTERVALS, groupBy = true, groupLimit = { max: 100, placeholder: "10" }, groupExtra, children }) {
  // A funnel's one-property `breakdown` shows as its group-by; an edit makes it a group_by.
  const groups = spec.group_by ?? (spec.breakdown ? [spec.breakdown] : []);
  return (
    <>
      {children}
      <fieldset>
        <legend>When</legend>
        <DateRange value={spec.date_range} timeZone={spec.time_zone} onChange={(v) => set({ date_range: v })} />
        {intervals && (
          <Select testid="interval" value={spec.interval ?? intervals[0][0]} options={intervals} onChange={(v) => set({ interval: v })} />
        )}
        <input class="tz" title="Time zone (IANA name) that cuts the days" value={spec.time_zone ?? "UTC"} onChange={(e) => set({ time_zone: e.target.value })} />
      </fieldset>
      {groupBy && (
        <fieldset>
          <legend>Group by</legend>
          <GroupBy
            value={groups}
            catalog={catalog}
            extra={groupExtra}
            onChange={(v) => set({ group_by: v, breakdown: undefined, ...(v.length ? {} : { group_limit: undefined }) })}
          />
          {(groups.length > 0 || spec.group_limit !== undefined) && (
            <label class="field" title="How many groups are listed; the rest are summed into one (other) row">
              <span>top</span>
              <OptionalNumber
                testid="group-limit"
                max={groupLimit.max}
                placeholder={groupLimit.placeholder}
                value={spec.group_limit}
                onChange={(group_limit) => set({ group_limit })}
              />
              <span>groups</span>
            </label>
          )}
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
export function PickedEvent({ value, onChange, catalog, specials = ["_all"], testid, label, extra, onRemove }) {
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
