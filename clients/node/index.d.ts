// Types for the License Companion host client (clients/node/index.js).
import { EventEmitter } from 'events';

export interface TrackFields {
  /** Exactly one of value, xy or text. */
  value?: number;
  xy?: [number, number];
  text?: string;
  /** A flat object of texts, numbers, true/false. */
  payload?: Record<string, string | number | boolean>;
  /** Seconds since the epoch, UTC (default: now). */
  timestamp?: number;
  session?: string;
}

export interface ConnectOptions {
  /** The vendor's [product] id (default: LICENSE_COMPANION_PRODUCT). */
  product?: string;
  /** Override the socket (default: derived from the product, or LICENSE_COMPANION_HOST_SOCKET). */
  socketPath?: string;
  /** Override the inbox directory (default: <state dir>/inbox). */
  inbox?: string;
}

export interface LicenseAnswer {
  ok: boolean;
  license: { state: 'valid' | 'invalid' | 'unknown' | 'no-key'; [key: string]: unknown };
  offline: { counts_as_valid: boolean; until: number | null; reason: string; [key: string]: unknown };
  keyring: string;
  [key: string]: unknown;
}

export class ClientError extends Error {
  /** The protocol's error code, or not_running / connection / timeout / inbox. */
  code: string;
  /** The offending field ("value", "xy.x", "payload.key"), or "". */
  field: string;
  /** On a flush() rejection: how many events were refused since the last flush. */
  refused?: number;
}

export class Client extends EventEmitter {
  readonly socketPath: string;
  readonly inbox: string;
  /** Hands one event over without waiting; returns its event_id. */
  track(name: string, fields: TrackFields): string;
  /** Resolves once every event so far is acknowledged (or in the inbox). */
  flush(timeoutMs?: number): Promise<void>;
  license(refresh?: boolean): Promise<LicenseAnswer>;
  consent(): Promise<Record<string, unknown>>;
  /** Any request object, or a raw line; resolves with the answer object (ok true or false). */
  request(message: Record<string, unknown> | string, timeoutMs?: number): Promise<Record<string, any>>;
  /** Ends the connection; what is unacknowledged goes to the inbox. */
  close(): void;
  on(event: 'error', listener: (err: ClientError) => void): this;
  on(event: 'push', listener: (push: Record<string, unknown>) => void): this;
}

export function connect(options?: ConnectOptions): Client;
export function productSlug(product: string): string;
export function socketPath(product: string, env?: Record<string, string | undefined>): string;
export function stateDir(env?: Record<string, string | undefined>): string;
/** The Windows pipe: \\.\pipe\license-companion-<product slug>-<user SID> (default: this user's SID). */
export function pipeName(product: string, sid?: string): string;
