// One form per analysis; each edits its part of the spec and leaves the rest alone (a field a
// form does not show stays in the spec as it was).
import { Field, Select } from "../controls.jsx";
import { Common, INTERVALS, PickedEvent } from "./common.jsx";
import { FunnelForm } from "./funnel.jsx";
import { RetentionForm } from "./retention.jsx";
import { SegmentationForm } from "./segmentation.jsx";

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
        <Field label="paths in the table">
          <input type="number" min="1" max="1000" class="short" title="The Sankey draws every person's path; the table lists this many of the most common" value={spec.limit ?? 20} onChange={(e) => set({ limit: Number(e.target.value) })} />
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
