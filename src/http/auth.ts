/**
 * The current-user hook (the seed's `get_current_user`). One function from request credentials to
 * an Actor; `AUTH_MODE=none` is the stub admin `anonymous`, `api-key` checks `API_KEYS`. Another
 * mode (JWT, say) replaces `createAuthenticator` and nothing else. Used by HTTP and WebSocket.
 */
import { timingSafeEqual } from 'node:crypto';
import type { ApiKeyEntry, AuthMode } from '../config.js';
import type { Actor } from '../engine/api.js';

export interface Credentials {
  authorization?: string | undefined;
  apiKey?: string | undefined;
  /** `?access_token=` (WebSocket clients that cannot set headers). */
  accessToken?: string | undefined;
}

/** Returns the caller, or null when the credentials do not identify anyone. */
export type Authenticator = (credentials: Credentials) => Actor | null;

export const ANONYMOUS: Actor = Object.freeze({ id: 'anonymous', admin: true });

function sameKey(a: string, b: string): boolean {
  const ba = Buffer.from(a);
  const bb = Buffer.from(b);
  return ba.length === bb.length && timingSafeEqual(ba, bb);
}

export function createAuthenticator(mode: AuthMode, keys: readonly ApiKeyEntry[]): Authenticator {
  if (mode === 'none') return () => ANONYMOUS;
  return ({ authorization, apiKey, accessToken }) => {
    const bearer = authorization && /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
    const presented = bearer || apiKey || accessToken;
    if (!presented) return null;
    // Compare against every key so the time taken does not tell which prefix matched.
    let match: ApiKeyEntry | undefined;
    for (const entry of keys) if (sameKey(entry.key, presented)) match = entry;
    return match ? { id: match.user, admin: match.admin } : null;
  };
}
