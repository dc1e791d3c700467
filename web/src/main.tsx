/** The dashboard: sign-in, then a shell with navigation and one page per route (`#/…`). */
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { logout, onSessionChange, refresh, signedIn } from './api';
import { href, useRoute, type Route } from './router';
import { AgentEditor, AgentList } from './pages/agents';
import { Analytics } from './pages/analytics';
import { CallDetail } from './pages/call-detail';
import { Calls } from './pages/calls';
import { Numbers } from './pages/numbers';
import { SignIn } from './pages/sign-in';
import { Softphone } from './pages/softphone';
import { Trunks } from './pages/trunks';

const nav: { path: string; label: string; pages: Route['page'][] }[] = [
  { path: 'calls', label: 'Calls', pages: ['calls', 'call'] },
  { path: 'agents', label: 'Agents', pages: ['agents', 'agent'] },
  { path: 'numbers', label: 'Phone numbers', pages: ['numbers'] },
  { path: 'trunks', label: 'SIP trunks', pages: ['trunks'] },
  { path: 'analytics', label: 'Analytics', pages: ['analytics'] },
  { path: 'softphone', label: 'Softphone', pages: ['softphone'] },
];

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'calls':
      return <Calls />;
    case 'call':
      return <CallDetail id={route.id} />;
    case 'agents':
      return <AgentList />;
    case 'agent':
      return <AgentEditor id={route.id} />;
    case 'numbers':
      return <Numbers />;
    case 'trunks':
      return <Trunks />;
    case 'analytics':
      return <Analytics />;
    case 'softphone':
      return <Softphone />;
  }
}

function Shell() {
  const route = useRoute();
  const main = useRef<HTMLElement>(null);
  // A new page moves focus to its heading, so keyboard and screen-reader users start there.
  useEffect(() => {
    main.current?.querySelector<HTMLElement>('h1')?.focus({ preventScroll: true });
  }, [route.page]);
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), main.current?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Agent Studio</span>
        <nav aria-label="Main">
          <ul>
            {nav.map((n) => (
              <li key={n.path}>
                <a href={href(n.path)} aria-current={n.pages.includes(route.page) ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <button type="button" class="secondary" onClick={() => void logout()}>
          Sign out
        </button>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <Page route={route} />
      </main>
    </>
  );
}

function App() {
  const [state, setState] = useState<'resuming' | 'in' | 'out'>(signedIn() ? 'in' : 'resuming');
  useEffect(() => {
    const off = onSessionChange((on) => setState(on ? 'in' : 'out'));
    // A reload: the refresh token in sessionStorage, if any, brings the session back.
    if (!signedIn()) void refresh().then((ok) => setState(ok ? 'in' : 'out'));
    return off;
  }, []);
  if (state === 'resuming') return <p role="status">Loading…</p>;
  return state === 'in' ? <Shell /> : <SignIn />;
}

render(<App />, document.getElementById('app')!);
