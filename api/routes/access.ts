/**
 * Who may do what to the tenant's resources. Every role reads; members and up write agents,
 * workflows, tools and audio files (and test tools); only admins and owners change phone numbers
 * and SIP trunks, which route real calls and carry carrier credentials, SIP users (credentials
 * too), and providers, which carry paid speech and language credentials. API keys with scopes also need
 * `<resource>:read` or `<resource>:write`.
 *
 * | resource       | read (GET)                  | write (POST, PATCH, DELETE, actions) |
 * |----------------|-----------------------------|--------------------------------------|
 * | agents         | all roles, agents:read      | owner admin member, agents:write     |
 * | workflows      | all roles, workflows:read   | owner admin member, workflows:write  |
 * | tools          | all roles, tools:read       | owner admin member, tools:write      |
 * | audio files    | all roles, audio_files:read | owner admin member, audio_files:write |
 * | phone numbers  | all roles, phone_numbers:read | owner admin, phone_numbers:write   |
 * | SIP trunks     | all roles, sip_trunks:read  | owner admin, sip_trunks:write        |
 * | SIP users      | all roles, sip_users:read   | owner admin, sip_users:write         |
 * | providers      | all roles, providers:read   | owner admin, providers:write         |
 * | webhooks       | all roles, webhooks:read    | owner admin, webhooks:write          |
 * | calls          | all roles, calls:read       | (created and controlled elsewhere)   |
 * | analytics      | all roles, analytics:read   | —                                    |
 */
import type { AuthRequirement, Role } from '../http/route.js';

/** Roles that edit what an agent does. */
export const editors: readonly Role[] = ['owner', 'admin', 'member'];
/** Roles that change call routing and carrier settings. */
export const managers: readonly Role[] = ['owner', 'admin'];

export interface Access {
  read: Exclude<AuthRequirement, false>;
  write: Exclude<AuthRequirement, false>;
}

/** Reading a resource: any role; a scoped key needs `<resource>:read`. */
export const readAccess = (resource: string): Access['read'] => ({ scope: `${resource}:read` });

/** The read and write requirements of one resource. */
export function access(resource: string, writers: readonly Role[]): Access {
  return { read: readAccess(resource), write: { roles: writers, scope: `${resource}:write` } };
}
