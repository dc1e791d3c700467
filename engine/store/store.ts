/**
 * The repositories over the one database, built once: each prepares its statements at
 * construction, so a request pays only for binding and stepping.
 */
import type { Db } from './database.js';
import { AgentsRepo } from './repositories/agents.js';
import { AudioFilesRepo } from './repositories/audio-files.js';
import { AnalyticsRepo } from './repositories/analytics.js';
import { ApiKeysRepo } from './repositories/api-keys.js';
import { IdempotencyKeysRepo } from './repositories/idempotency-keys.js';
import { LivenessRepo } from './repositories/liveness.js';
import { RefreshTokensRepo } from './repositories/refresh-tokens.js';
import { CallsRepo } from './repositories/calls.js';
import { ErrorLogsRepo } from './repositories/error-logs.js';
import { PhoneNumbersRepo } from './repositories/phone-numbers.js';
import { ProvidersRepo } from './repositories/providers.js';
import { SipTrunksRepo } from './repositories/sip-trunks.js';
import { SipUsersRepo } from './repositories/sip-users.js';
import { TenantsRepo } from './repositories/tenants.js';
import { ToolsRepo } from './repositories/tools.js';
import { UsersRepo } from './repositories/users.js';
import { WebhookDeliveriesRepo } from './repositories/webhook-deliveries.js';
import { WebhooksRepo } from './repositories/webhooks.js';
import { WorkflowsRepo } from './repositories/workflows.js';

export class Store {
  readonly tenants: TenantsRepo;
  readonly users: UsersRepo;
  readonly apiKeys: ApiKeysRepo;
  readonly refreshTokens: RefreshTokensRepo;
  readonly idempotencyKeys: IdempotencyKeysRepo;
  readonly agents: AgentsRepo;
  readonly workflows: WorkflowsRepo;
  readonly tools: ToolsRepo;
  readonly audioFiles: AudioFilesRepo;
  readonly providers: ProvidersRepo;
  readonly phoneNumbers: PhoneNumbersRepo;
  readonly sipTrunks: SipTrunksRepo;
  readonly sipUsers: SipUsersRepo;
  readonly calls: CallsRepo;
  readonly errorLogs: ErrorLogsRepo;
  readonly analytics: AnalyticsRepo;
  readonly liveness: LivenessRepo;
  readonly webhooks: WebhooksRepo;
  readonly webhookDeliveries: WebhookDeliveriesRepo;

  constructor(readonly db: Db) {
    this.tenants = new TenantsRepo(db);
    this.users = new UsersRepo(db);
    this.apiKeys = new ApiKeysRepo(db);
    this.refreshTokens = new RefreshTokensRepo(db);
    this.idempotencyKeys = new IdempotencyKeysRepo(db);
    this.agents = new AgentsRepo(db);
    this.workflows = new WorkflowsRepo(db);
    this.tools = new ToolsRepo(db);
    this.audioFiles = new AudioFilesRepo(db);
    this.providers = new ProvidersRepo(db);
    this.phoneNumbers = new PhoneNumbersRepo(db);
    this.sipTrunks = new SipTrunksRepo(db);
    this.sipUsers = new SipUsersRepo(db);
    this.calls = new CallsRepo(db);
    this.errorLogs = new ErrorLogsRepo(db);
    this.analytics = new AnalyticsRepo(db);
    this.liveness = new LivenessRepo(db);
    this.webhooks = new WebhooksRepo(db);
    this.webhookDeliveries = new WebhookDeliveriesRepo(db);
  }
}
