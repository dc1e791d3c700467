/**
 * The live call feed: Server-Sent Events from `GET /api/v1/events`, authenticated with a ticket
 * (`POST /api/v1/events/tickets`: single-use, one minute), as EventSource cannot send headers.
 * When the stream breaks, EventSource would reconnect with the spent ticket and get 401, so the
 * feed closes it and opens a new one with a fresh ticket and `lastEventId`: no event is lost.
 */
import { api } from './api';

export const CALL_EVENT_TYPES = ['call.started', 'call.ringing', 'call.answered', 'call.ended'] as const;

export interface FeedEvent {
  id: number;
  type: string;
  callId: string | null;
}

export type FeedState = 'connecting' | 'live' | 'reconnecting';

/** Opens the feed; returns the function that closes it. */
export function openCallFeed(onEvent: (e: FeedEvent) => void, onState: (s: FeedState) => void): () => void {
  let source: EventSource | null = null;
  let lastId: string | null = null;
  let closed = false;
  let retry: ReturnType<typeof setTimeout> | undefined;
  const again = (ms: number) => {
    onState('reconnecting');
    retry = setTimeout(() => void open(), ms);
  };
  const open = async () => {
    if (closed) return;
    let ticket: string;
    try {
      ticket = (await api<{ ticket: string }>('POST', '/api/v1/events/tickets')).ticket;
    } catch {
      again(5000);
      return;
    }
    if (closed) return;
    const q = new URLSearchParams({ ticket, types: CALL_EVENT_TYPES.join(',') });
    if (lastId) q.set('lastEventId', lastId);
    const es = new EventSource(`/api/v1/events?${q}`);
    source = es;
    for (const type of CALL_EVENT_TYPES) {
      es.addEventListener(type, (m: MessageEvent<string>) => {
        if (m.lastEventId) lastId = m.lastEventId;
        try {
          const data = JSON.parse(m.data) as { id?: number; callId?: string | null };
          onEvent({ id: data.id ?? 0, type, callId: data.callId ?? null });
        } catch {
          // Not JSON: not an event of ours.
        }
      });
    }
    es.onopen = () => onState('live');
    es.onerror = () => {
      es.close();
      if (source === es) source = null;
      if (!closed) again(2000);
    };
  };
  onState('connecting');
  void open();
  return () => {
    closed = true;
    clearTimeout(retry);
    source?.close();
  };
}
