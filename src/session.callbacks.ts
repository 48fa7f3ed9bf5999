import { SessionCookie } from './session.cookie-view.js';
import { messages } from './session.messages.js';
import type { ResolvedSessionOptions } from './session.options.js';
import { recordOf, setRecord } from './session.record.js';
import type { RequestSessions } from './session.request.js';
import type { RequestState } from './session.request-state.js';
import type { SessionStore } from './session.store.js';
import type { SessionCallback, SessionCalls } from './session.state.js';
import { Session, sessionInternals } from './session.js';

const internals = sessionInternals();

/**
 * @internal express-session's session methods (`regenerate(cb)`, `save(cb)`,
 * `destroy(cb)`, `reload(cb)`, `cookie`), for the sessions of one
 * application: a session calls them with its request's state.
 */
export class ExpressSessionCalls implements SessionCalls {
  constructor(
    private readonly store: SessionStore,
    private readonly requests: RequestSessions,
    private readonly options: ResolvedSessionOptions,
    private readonly destroyRequest: (request: object) => Promise<void>,
  ) {}

  /** The stored record is deleted and the request gets a new, empty session object. */
  regenerate(context: unknown, done: SessionCallback): void {
    const state = context as RequestState;
    settle(
      this.requests.exclusive(state, () => this.fresh(state)),
      done,
    );
  }

  save(context: unknown, done: SessionCallback): void {
    settle(this.requests.saveNow(context as RequestState), done);
  }

  destroy(context: unknown, done: SessionCallback): void {
    settle(this.destroyRequest((context as RequestState).holder), done);
  }

  reload(context: unknown, done: SessionCallback): void {
    const state = context as RequestState;
    settle(
      this.requests.exclusive(state, () => this.reread(state)),
      done,
    );
  }

  cookie(context: unknown): SessionCookie {
    return new SessionCookie(this.options, (context as RequestState).session!);
  }

  private async fresh(state: RequestState): Promise<void> {
    const old = state.session!;
    const stored = recordOf(old)?.stored === true;
    try {
      await this.store.end(old);
    } catch (error) {
      throw this.requests.fail(state, 'regenerate', error, messages.saveFailed());
    }
    const fresh = new Session();
    this.requests.replace(state, fresh);
    if (stored || this.requests.hasToken(state.holder)) this.requests.apply(state, 'clear');
    this.requests.settled(state, fresh);
  }

  private async reread(state: RequestState): Promise<void> {
    const session = state.session!;
    const record = recordOf(session);
    let loaded: Session | undefined;
    if (record?.stored) {
      try {
        const { id, storageKey } = record;
        loaded = await this.store.load({ id, storageKey, keyIndex: 0 }, state.pending);
      } catch (error) {
        throw this.requests.fail(state, 'load', error, messages.loadFailed());
      }
    }
    const found = loaded && recordOf(loaded);
    internals.reset(session, found ? { ...internals.data(loaded!) } : {});
    if (!found) {
      this.requests.settled(state, session);
      throw new Error(messages.reloadGone());
    }
    setRecord(session, found);
    internals.restoreLifetime(session, internals.lifetime(loaded!));
    this.requests.watch(state, session);
  }
}

function settle(work: Promise<void>, done: SessionCallback): void {
  work.then(() => done(), done);
}
