import { AsyncLocalStorage } from 'node:async_hooks';
import { HttpException } from '@nestjs/common';
import type { SessionRequest } from './session.http.js';
import { messages } from './session.messages.js';
import type { RequestSessions } from './session.request.js';
import { isModified, type Session } from './session.js';

/**
 * @internal What a WebSocket client may carry of the HTTP request that opened
 * it: socket.io keeps it as `handshake` (and `request`); the `ws` package
 * keeps nothing, so gateways hand it over with `SessionService.bindSocket`.
 */
interface SocketLike {
  handshake?: { headers?: SessionRequest['headers'] };
  request?: { headers?: SessionRequest['headers'] };
}

/** The handshake headers of `ws` sockets, from `SessionService.bindSocket`. */
const bound = new WeakMap<object, SessionRequest['headers']>();

/** The per-message request a socket session was loaded for, so it can be saved. */
const messageRequests = new WeakMap<Session, SessionRequest>();

/** The socket message being handled, for `@Session()`. */
const currentMessage = new AsyncLocalStorage<MessageSession>();

/** @internal Remembers the headers of the request that opened `client`. */
export function bindSocket(client: object, request: { headers?: unknown }): void {
  bound.set(client, (request?.headers ?? {}) as SessionRequest['headers']);
}

/**
 * @internal A fresh stand-in request for one message of `client`, carrying
 * the headers of its handshake (its Cookie header, or the session header) (and no response: a socket cannot set a
 * cookie). Throws when the handshake is unknown.
 */
export async function messageRequestOf(client: object): Promise<SessionRequest> {
  const socket = client as SocketLike;
  const headers = socket.handshake?.headers ?? bound.get(client) ?? socket.request?.headers;
  if (headers === undefined) throw await socketError(messages.socketNotBound());
  // The headers as a whole: with the header transport, the token is one of them.
  return { headers };
}

/** @internal `SessionService.loadForSocket`: a fresh read, through a stand-in request. */
export async function loadForSocket(requests: RequestSessions, client: object): Promise<Session> {
  const request = await messageRequestOf(client);
  let session: Session;
  try {
    session = await requests.load(request);
  } catch (error) {
    throw await socketError(error as Error);
  }
  messageRequests.set(session, request);
  return session;
}

/** @internal `SessionService.saveForSocket`: a delta save that never creates a session. */
export async function saveForSocket(requests: RequestSessions, session: Session): Promise<void> {
  const request = messageRequests.get(session);
  if (!request) throw new Error(messages.notSocketSession());
  if (createsSession(session)) throw await socketError(messages.socketNewSession());
  const writes = isModified(session) && session.keys().length > 0;
  try {
    await requests.commit(request);
  } catch (error) {
    throw await socketError(error as Error);
  }
  // The record was gone (an HTTP logout won the race): the store left it
  // ended and turned this session into a new, empty one. Tell the client.
  if (writes && session.isNew) throw await socketError(messages.socketSessionEnded());
}

/**
 * @internal A new session changed over a socket could never be reached: its
 * cookie cannot be sent. True when that is the case (changes that leave it
 * empty are harmless).
 */
export function createsSession(session: Session): boolean {
  return session.isNew && isModified(session) && session.keys().length > 0;
}

/**
 * @internal The session of one socket message, read on first use: a message
 * whose handler never asks for it costs no backend call, and a client whose
 * handshake is unknown fails only the handlers that use a session.
 */
export class MessageSession {
  private loading?: Promise<Session>;

  constructor(private readonly loader: () => Promise<Session>) {}

  /** The session, read on the first call. */
  get(): Promise<Session> {
    return (this.loading ??= this.loader());
  }

  /** Saves with `save` a session that was read; nothing when it was not (or its read failed). */
  async save(save: (session: Session) => Promise<void>): Promise<void> {
    if (!this.loading) return;
    let session: Session;
    try {
      session = await this.loading;
    } catch {
      return; // the handler got the error
    }
    await save(session);
  }
}

/** @internal Runs `fn` with `message` as the socket message being handled. */
export function withMessageSession<R>(message: MessageSession, fn: () => R): R {
  return currentMessage.run(message, fn);
}

/** @internal The socket message being handled, if the interceptor runs around it. */
export function currentMessageSession(): MessageSession | undefined {
  return currentMessage.getStore();
}

type WsExceptionClass = new (error: string | object) => Error;
let wsException: WsExceptionClass | null | undefined;

/**
 * @internal An error that Nest's WebSocket exception filter sends to the
 * client as it is: a `WsException` (from `@nestjs/websockets`, which is
 * installed wherever a gateway runs; loaded only here, so the package does
 * not depend on it). Its message is `message`; an `HttpException` (the 503 of
 * a failing store) keeps its own.
 */
export async function socketError(message: string | Error): Promise<Error> {
  const text =
    message instanceof HttpException
      ? message.message
      : typeof message === 'string'
        ? message
        : undefined;
  if (text === undefined) return message as Error;
  if (wsException === undefined) {
    try {
      ({ WsException: wsException } = (await import('@nestjs/websockets')) as {
        WsException: WsExceptionClass;
      });
    } catch {
      wsException = null;
    }
  }
  return wsException ? new wsException(text) : new Error(text);
}
