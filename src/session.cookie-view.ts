import { MAX_COOKIE_MAX_AGE } from './session.constants.js';
import { messages } from './session.messages.js';
import type { ResolvedSessionOptions } from './session.options.js';
import { recordOf } from './session.record.js';
import { type Session, sessionInternals } from './session.js';

const internals = sessionInternals();

/**
 * `request.session.cookie`: the session cookie as express-session describes
 * it, in milliseconds as there. `maxAge` can be assigned, as in
 * express-session: a number of milliseconds gives the session a lifetime of
 * its own (`session.setMaxAge(ms / 1000)`), `null` makes the cookie a
 * browser-session cookie. The other attributes come from the module's options
 * and are read-only.
 */
export class SessionCookie {
  /** @internal */
  constructor(
    private readonly options: ResolvedSessionOptions,
    private readonly session: Session,
  ) {}

  /** False for a browser-session cookie (no `Max-Age` nor `Expires`). */
  get persistent(): boolean {
    return internals.lifetime(this.session).persistent ?? this.options.cookie.persistent;
  }

  /** Milliseconds until the cookie expires; null for a browser-session cookie. */
  get maxAge(): number | null {
    if (!this.persistent) return null;
    const record = recordOf(this.session);
    if (!record?.stored || internals.lifetimeChanged(this.session)) return this.lifetime;
    return Math.max(0, record.expiresAt - Date.now());
  }

  /** A lifetime of this session's own, in milliseconds; null: a browser-session cookie. */
  set maxAge(value: number | null) {
    if (value === null) {
      this.session.setMaxAge(this.session.maxAge ?? null, { persistent: false });
      return;
    }
    if (
      typeof value !== 'number' ||
      !Number.isFinite(value) ||
      value <= 0 ||
      value > MAX_COOKIE_MAX_AGE * 1000
    ) {
      throw new RangeError(messages.cookieMaxAge(value));
    }
    this.session.setMaxAge(Math.max(1, Math.round(value / 1000)), { persistent: true });
  }

  /** When the cookie expires; null for a browser-session cookie. */
  get expires(): Date | null {
    const maxAge = this.maxAge;
    return maxAge === null ? null : new Date(Date.now() + maxAge);
  }

  set expires(_value: Date | null) {
    throw new TypeError(messages.cookieReadOnly('expires'));
  }

  /** The session's lifetime in milliseconds (its own, else the `maxAge` option); null for a browser-session cookie. */
  get originalMaxAge(): number | null {
    return this.persistent ? this.lifetime : null;
  }

  get httpOnly(): boolean {
    return this.options.cookie.httpOnly;
  }

  /** The `cookieHttpsOnly` option. */
  get secure(): boolean {
    return this.options.cookieHttpsOnly;
  }

  get sameSite(): string {
    return this.options.cookie.sameSite;
  }

  get path(): string {
    return this.options.cookie.path;
  }

  get domain(): string | undefined {
    return this.options.cookie.domain;
  }

  /** The attributes, as express-session's cookie serialises them. */
  toJSON(): Record<string, unknown> {
    return {
      originalMaxAge: this.originalMaxAge,
      expires: this.expires,
      secure: this.secure,
      httpOnly: this.httpOnly,
      domain: this.domain,
      path: this.path,
      sameSite: this.sameSite,
    };
  }

  private get lifetime(): number {
    return (this.session.maxAge ?? this.options.maxAge) * 1000;
  }
}
