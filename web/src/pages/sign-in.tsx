/** Sign-in with the API's own login (`POST /api/v1/auth/login`). */
import { useState } from 'preact/hooks';
import { login } from '../api';
import { ErrorBox, Field } from '../ui';

export function SignIn() {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(email, password);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <main class="sign-in" id="main">
      <h1>Agent Studio</h1>
      <form onSubmit={submit} aria-label="Sign in">
        <Field label="E-mail">
          {(id) => <input id={id} name="email" type="email" autoComplete="username" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />}
        </Field>
        <Field label="Password">
          {(id) => (
            <input id={id} name="password" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          )}
        </Field>
        <ErrorBox error={error} />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
