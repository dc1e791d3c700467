/** Routing by the URL's fragment (`#/agents/42`): the server serves one page, whatever the route. */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { page: 'calls' }
  | { page: 'call'; id: string }
  | { page: 'agents' }
  | { page: 'agent'; id: string | null }
  | { page: 'numbers' }
  | { page: 'trunks' }
  | { page: 'analytics' }
  | { page: 'softphone' };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return '';
    }
  });
  const [head, id] = parts;
  switch (head) {
    case 'calls':
      return id ? { page: 'call', id } : { page: 'calls' };
    case 'agents':
      return id ? { page: 'agent', id: id === 'new' ? null : id } : { page: 'agents' };
    case 'numbers':
    case 'trunks':
    case 'analytics':
    case 'softphone':
      return { page: head };
    default:
      return { page: 'calls' };
  }
}

export const href = (path: string): string => `#/${path}`;

export function navigate(path: string): void {
  location.hash = `/${path}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}
