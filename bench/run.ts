/**
 * Benchmark runner: `npm run bench -- <name> [options]`. Each benchmark measures the engine and
 * a peer side by side in the same run, and prints raw figures plus the ratio.
 */
const benches: Record<string, () => Promise<{ run(args: string[]): Promise<void> }>> = {
  health: () => import('./health.js'),
  'agents-list': () => import('./agents-list.js'),
  'media-echo': () => import('./media-echo.js'),
  'agent-audio': () => import('./agent-audio.js'),
  'sip-cps': () => import('./sip-cps.js'),
  'sip-concurrent': () => import('./sip-concurrent.js'),
  'sip-flood': () => import('./sip-flood.js'),
  crash: () => import('./crash.js'),
  'llm-stream': () => import('./llm-stream.js'),
  'event-fanout': () => import('./event-fanout.js'),
  'outbound-cps': () => import('./outbound-cps.js'),
  'opus-codec': () => import('./opus-codec.js'),
  'control-channel': () => import('./control-channel.js'),
};

async function main(): Promise<void> {
  const [name, ...args] = process.argv.slice(2);
  const load = name ? benches[name] : undefined;
  if (!load) {
    process.stderr.write(`usage: npm run bench -- <name>\n  names: ${Object.keys(benches).join(', ')}\n`);
    process.exit(2);
  }
  await (await load()).run(args);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
