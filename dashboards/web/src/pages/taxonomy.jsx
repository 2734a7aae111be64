// Placeholder until the page is built.
export function TaxonomyPage() {
  return <p class="hint">Not built yet.</p>;
}
