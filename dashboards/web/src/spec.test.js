import assert from "node:assert/strict";
import { test } from "node:test";
import { cleanSpec, defaultSpec, describeSpec, explainError, formatMs, missing, oneReturn, ordered, parseDurations, parseNumbers, removeStep, strictConflicts, todayIn } from "./spec.js";

const catalog = { events: [{ name: "Service Viewed" }], project: "marketplace", timeZone: "Asia/Seoul" };

test("every analysis starts from a spec in the project's time zone", () => {
  for (const analysis of ["segmentation", "funnel", "retention", "lifecycle", "stickiness", "paths"]) {
    const spec = defaultSpec(analysis, catalog);
    assert.equal(spec.analysis, analysis);
    assert.equal(spec.version, 1);
    assert.equal(spec.project, "marketplace");
    assert.equal(spec.time_zone, "Asia/Seoul");
  }
  assert.equal(defaultSpec("paths", catalog).anchor.event_type, "Service Viewed");
});

test("half-filled rows are not sent", () => {
  const spec = {
    analysis: "funnel",
    steps: [
      { event_type: "A", where: [{ kind: "event", property: "", op: "is", values: [] }] },
      { event_type: "B", where: [{ kind: "event", property: "category", op: "is", values: ["design"] }, { kind: "event", property: "price", op: "is", values: [] }] },
    ],
    exclusions: [{ event_type: "" }],
    group_by: [{ kind: "event", property: "" }],
    segments: [{ name: "iOS", where: [{ kind: "field", property: "platform", op: "set" }] }],
    formulas: [{ formula: "  " }],
  };
  assert.deepEqual(cleanSpec(spec), {
    analysis: "funnel",
    steps: [{ event_type: "A" }, { event_type: "B", where: [{ kind: "event", property: "category", op: "is", values: ["design"] }] }],
    segments: [{ name: "iOS", where: [{ kind: "field", property: "platform", op: "set" }] }],
  });
});

test("a funnel waits for every step's event, and unsaved charts are titled by their question", () => {
  const funnel = { analysis: "funnel", steps: [{ event_type: "A" }, { event_type: "" }] };
  assert.match(missing(funnel), /every step/);
  funnel.steps[1].event_type = "B";
  assert.equal(missing(funnel), null);
  assert.equal(describeSpec(funnel), "Funnel: A → B");
  assert.equal(describeSpec({ analysis: "retention", start_event: { event_type: "_new" }, return_event: { event_type: "_all" } }), "Retention: new users → any event");
});

test("removing a funnel step renumbers what names later steps, and drops what named it", () => {
  const spec = {
    analysis: "funnel",
    steps: [{ event_type: "A" }, { event_type: "B" }, { event_type: "C" }, { event_type: "D" }],
    group_by: [{ kind: "user", property: "plan" }, { kind: "event", property: "package", step: 4 }],
    exclusions: [{ event_type: "X", between: [2, 3] }, { event_type: "Y", between: [3, 4] }, { event_type: "Z" }],
    time_to_convert: { from_step: 3, to_step: 4 },
  };
  const out = removeStep(spec, 1); // B goes: C is step 2, D step 3
  assert.deepEqual(out.steps.map((s) => s.event_type), ["A", "C", "D"]);
  assert.deepEqual(out.group_by[1], { kind: "event", property: "package", step: 3 });
  // X was between B and C: the gaps A→B and B→C are now A→C, which is [1, 2].
  assert.deepEqual(out.exclusions, [{ event_type: "X", between: [1, 2] }, { event_type: "Y", between: [2, 3] }, { event_type: "Z" }]);
  assert.deepEqual(out.time_to_convert, { from_step: 2 });
  const last = removeStep(spec, 3); // D goes: the group-by on step 4 reads step 1 again
  assert.deepEqual(last.group_by[1], { kind: "event", property: "package" });
  assert.deepEqual(last.exclusions[1], { event_type: "Y" }, "its gap C→D is gone: back to first–last, shown in the form");
  assert.deepEqual(last.time_to_convert, {}, "from C to D becomes from C to C: the defaults");
  const first = removeStep(spec, 0); // A goes
  assert.deepEqual(first.exclusions[0], { event_type: "X", between: [1, 2] });
});

test("strict modes name what they cannot be combined with", () => {
  assert.deepEqual(strictConflicts({ order: "any", counting: "totals", exclusions: [{}], time_to_convert: {} }), ["any order", "event totals", "exclusions", "time to convert"]);
  assert.deepEqual(strictConflicts({ order: "this" }), []);
});

test("buckets: numbers and durations as typed; what is not one goes to the server as text", () => {
  assert.deepEqual(parseNumbers("1, 2,3, 5"), [1, 2, 3, 5]);
  assert.deepEqual(parseNumbers("1, x"), [1, "x"]);
  assert.deepEqual(parseDurations("0, 30s, 10m, 1h, 7d, 250"), [0, 30000, 600000, 3600000, 604800000, 250]);
  assert.deepEqual([0, 30000, 600000, 3600000, 604800000, 250].map(formatMs), ["0", "30s", "10m", "1h", "7d", "250ms"]);
  assert.deepEqual(parseDurations("1 week"), ["1 week"]);
});

test("two return events are sent cleaned and named in the title", () => {
  const spec = { analysis: "retention", start_event: { event_type: "_new" }, return_events: [{ event_type: "A", where: [{ kind: "event", property: "" }] }, { event_type: "" }] };
  assert.deepEqual(cleanSpec(spec).return_events, [{ event_type: "A" }, { event_type: "" }]);
  assert.match(missing(spec), /second return event/);
  spec.return_events[1].event_type = "B";
  assert.equal(describeSpec(spec), "Retention: new users → A, B");
});

test("a cell of the second return event's table is the cell of that return event's own chart", () => {
  const two = { version: 1, analysis: "retention", start_event: { event_type: "_new" }, return_events: [{ event_type: "A" }, { event_type: "B", where: [{ kind: "event", property: "p", op: "is", values: ["x"] }] }], date_range: { last_days: 14 } };
  assert.deepEqual(oneReturn(two, 1), { version: 1, analysis: "retention", start_event: { event_type: "_new" }, return_event: two.return_events[1], date_range: { last_days: 14 } });
  assert.equal(oneReturn(two, 0).return_event.event_type, "A");
  const one = { analysis: "retention", return_event: { event_type: "A" } };
  assert.equal(oneReturn(one, 0), one, "a spec with one return event is sent as it is");
});

test("a date range's days stay in order: the day moved past the other takes it along", () => {
  assert.deepEqual(ordered("2026-12-01", "2026-12-05", "from"), { from: "2026-12-01", to: "2026-12-05" });
  assert.deepEqual(ordered("2026-12-10", "2026-12-05", "from"), { from: "2026-12-10", to: "2026-12-10" });
  assert.deepEqual(ordered("2026-12-10", "2026-12-05", "to"), { from: "2026-12-05", to: "2026-12-05" });
  assert.deepEqual(ordered("", "2026-12-05", "from"), { from: "", to: "2026-12-05" }, "a cleared day is left for the form to ask for");
});

test("a new paths chart starts at the busiest event a person chose, not a session marker", () => {
  const busy = { events: [{ name: "session_end" }, { name: "$identify" }, { name: "[Amplitude] Page Viewed" }, { name: "Service Viewed" }], project: null, timeZone: "UTC" };
  assert.equal(defaultSpec("paths", busy).anchor.event_type, "Service Viewed");
  assert.equal(defaultSpec("paths", { events: [{ name: "session_start" }] }).anchor.event_type, "session_start", "unless there is nothing else");
});

test("an API error names its place as the form numbers it, the API's words kept", () => {
  const api = 'invalid query spec: steps[0].where[0]: "greater": "abc" is not a number';
  assert.equal(explainError(api), `Step 1, filter 1 — ${api}`);
  assert.equal(explainError("invalid query spec: events[1].property: needed"), "Series B — invalid query spec: events[1].property: needed");
  assert.equal(explainError("date_range: from (2026-12-10) is after to (2026-12-05)"), "date_range: from (2026-12-10) is after to (2026-12-05)", "no list item: as it is");
  assert.equal(explainError('invalid query spec: invalid type: string "a", expected u64'), 'invalid query spec: invalid type: string "a", expected u64');
  const shape = 'invalid query spec: events[0].frequency_buckets[1]: invalid type: string "two", expected u64';
  assert.equal(explainError(shape), `Series A, bucket 2 — ${shape}`, "a shape error's path is read too");
  assert.equal(explainError(null), null);
});

test("today is the day in the chart's zone: 16:00 UTC on the 5th is the 6th in Seoul", () => {
  const at = new Date(Date.UTC(2026, 11, 5, 16, 0));
  assert.equal(todayIn("Asia/Seoul", at), "2026-12-06");
  assert.equal(todayIn("UTC", at), "2026-12-05");
  assert.match(todayIn("Not/AZone", at), /^\d{4}-\d{2}-\d{2}$/, "an unknown zone falls back to the browser's");
});
