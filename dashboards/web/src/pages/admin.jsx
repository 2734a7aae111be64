// Placeholder until the page is built.
export function AdminPage() {
  return <p class="hint">Not built yet.</p>;
}
