import assert from "node:assert/strict";
import { test } from "node:test";
import { cleanSpec, defaultSpec, describeSpec, missing } from "./spec.js";

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
