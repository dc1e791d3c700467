/**
 * A small typed event emitter. The event map gives each event's arguments as a tuple. A listener
 * that throws is reported through `onListenerError` (a log line), never to the emitter.
 */
type EventMap = Record<string, unknown[]>;
type Listener<A extends unknown[]> = (...args: A) => void;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- storage type; `on`/`emit` keep the typing.
type AnyListener = (...args: any[]) => void;

export class TypedEmitter<E extends EventMap> {
  readonly #listeners = new Map<keyof E, Set<AnyListener>>();

  constructor(private readonly onListenerError: (event: string, error: unknown) => void = () => {}) {}

  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => this.off(event, listener);
  }

  once<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    const off = this.on(event, ((...args: E[K]) => {
      off();
      listener(...args);
    }) as Listener<E[K]>);
    return off;
  }

  off<K extends keyof E>(event: K, listener: Listener<E[K]>): void {
    this.#listeners.get(event)?.delete(listener);
  }

  emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.#listeners.get(event);
    if (!set?.size) return;
    // A listener may remove itself or others (`once`) or add more: the listeners of this emit are
    // those present when it began, so several are copied first; one alone needs no copy.
    if (set.size === 1) {
      this.#call(event, set.values().next().value!, args);
      return;
    }
    for (const l of [...set]) this.#call(event, l, args);
  }

  #call(event: keyof E, l: AnyListener, args: unknown[]): void {
    try {
      l(...args);
    } catch (error) {
      this.onListenerError(String(event), error);
    }
  }

  listenerCount(event: keyof E): number {
    return this.#listeners.get(event)?.size ?? 0;
  }

  removeAllListeners(): void {
    this.#listeners.clear();
  }
}
