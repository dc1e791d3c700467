/**
 * Peer for the health benchmark: a minimal Fastify 5 server answering the same route with the
 * same JSON body the engine returns (captured from the engine at the start of the run).
 */
import Fastify from 'fastify';

const port = Number(process.argv[2]);
const body = process.argv[3] ?? '{}';
const app = Fastify({ logger: false });
app.get('/api/v1/health', (_req, reply) => {
  reply.header('content-type', 'application/json; charset=utf-8').send(body);
});
await app.listen({ host: '127.0.0.1', port });
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
