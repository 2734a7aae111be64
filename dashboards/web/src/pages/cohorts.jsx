// Placeholder until the page is built.
export function CohortsPage() {
  return <p class="hint">Not built yet.</p>;
}
