// What the pickers offer: event types and properties from the taxonomy route (the tracking plan
// beside the data), top-level fields, and saved cohorts. Loaded once per page load.
import { useEffect, useState } from "preact/hooks";
import { get } from "./api.js";

/** Top-level event fields a condition or group-by may read (`kind: "field"`). */
export const FIELDS = [
  "platform", "os_name", "os_version", "device_brand", "device_model", "country", "region",
  "city", "language", "app_version", "library",
];

let loading = null;

function load() {
  loading ??= Promise.all([get("/taxonomy?days=30"), get("/cohorts").catch(() => ({ cohorts: [] }))])
    .then(([taxonomy, cohorts]) => build(taxonomy, cohorts.cohorts))
    .catch((e) => {
      loading = null;
      throw e;
    });
  return loading;
}

/** Forget the catalog (after saving a cohort, say), so the next picker sees the change. */
export function refreshCatalog() {
  loading = null;
}

function build(taxonomy, cohorts) {
  const plan = taxonomy.plan;
  const planned = plan?.events ?? {};
  const seen = new Map(taxonomy.events.map((e) => [e.event_type, e]));
  const names = [...new Set([...seen.keys(), ...Object.keys(planned)])];
  const events = names
    .map((name) => ({
      name,
      events: seen.get(name)?.events ?? 0,
      description: planned[name]?.description ?? "",
      planned: seen.get(name)?.planned ?? name in planned,
    }))
    .sort((a, b) => b.events - a.events || a.name.localeCompare(b.name));
  const properties = [];
  for (const [name, def] of Object.entries(plan?.event_properties ?? {})) {
    properties.push({ kind: "event", property: name, type: def.type, enum: def.enum, description: def.description });
  }
  for (const [name, def] of Object.entries(plan?.user_properties ?? {})) {
    properties.push({ kind: "user", property: name, type: def.type, enum: def.enum, description: def.description });
  }
  for (const name of FIELDS) properties.push({ kind: "field", property: name, type: "string" });
  for (const c of cohorts) {
    if (c.latest) {
      properties.push({ kind: "cohort", property: c.cohort.name, type: "cohort", description: c.cohort.description });
    }
  }
  return {
    events,
    properties,
    project: plan?.project?.name ?? null,
    timeZone: plan?.project?.time_zone ?? "UTC",
  };
}

export function useCatalog() {
  const [catalog, setCatalog] = useState({ events: [], properties: [], error: null });
  useEffect(() => {
    load().then(setCatalog, (e) => setCatalog({ events: [], properties: [], error: e.message }));
  }, []);
  return catalog;
}

export const KIND_LABEL = { event: "event prop", user: "user prop", field: "field", cohort: "cohort" };

export function propertyLabel(ref) {
  if (!ref) return "";
  return ref.kind === "cohort" ? `cohort: ${ref.property}` : ref.property;
}
