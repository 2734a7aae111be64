// The login page: name and password, `POST /api/v1/login`, which sets the session cookie.
import { useState } from "preact/hooks";
import { post } from "../api.js";

export function Login({ onLogin }) {
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const me = await post("/login", { name, password });
      onLogin({ ...me, via: "session" });
    } catch (err) {
      setError(err.status === 401 ? "Wrong name or password." : err.message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="login" onSubmit={submit}>
      <h1>Sluice</h1>
      <label>
        Name
        <input name="name" autocomplete="username" value={name} onInput={(e) => setName(e.target.value)} required />
      </label>
      <label>
        Password
        <input
          name="password"
          type="password"
          autocomplete="current-password"
          value={password}
          onInput={(e) => setPassword(e.target.value)}
          required
        />
      </label>
      {error && <p class="error" role="alert">{error}</p>}
      <button type="submit" class="primary" disabled={busy}>{busy ? "Logging in…" : "Log in"}</button>
      <p class="hint">Accounts are made with <code>sluice user add NAME --role viewer|editor|admin</code>.</p>
    </form>
  );
}
