import { jest } from '@jest/globals';
import type { ExecutionContext } from '@nestjs/common';
import { graphqlRequestOf, sessionOf } from './session.context.js';
import { MessageSession, withMessageSession } from './session.socket.js';
import { Session } from './session.js';

/** The parts of an ExecutionContext the helpers use. */
function context(type: string, args: unknown[]): ExecutionContext {
  return { getType: () => type, getArgs: () => args } as unknown as ExecutionContext;
}

describe('session.context', () => {
  it('takes a GraphQL resolver’s request from the context’s req', () => {
    const req = { headers: {} };
    expect(graphqlRequestOf(context('graphql', [{}, {}, { req }, {}]))).toBe(req);
  });

  it.each([
    ['no GraphQL context', [{}, {}]],
    ['a context without req', [{}, {}, {}]],
    ['a req that is not an object', [{}, {}, { req: 'request' }]],
  ])('fails with how to configure the context on %s', (_case, args) => {
    expect(() => graphqlRequestOf(context('graphql', args))).toThrow(
      /GraphQL context has no `req`.*context: \(\{ req, res \}\) => \(\{ req, res \}\)/,
    );
  });

  it('gives @Session() the socket message’s session, read once, and fails clearly without one', async () => {
    const session = new Session();
    const loader = jest.fn(() => Promise.resolve(session));
    const message = new MessageSession(loader);
    const ws = context('ws', [{}, {}]);
    expect(loader).not.toHaveBeenCalled();
    await expect(withMessageSession(message, () => sessionOf(ws))).resolves.toBe(session);
    await expect(withMessageSession(message, () => sessionOf(ws))).resolves.toBe(session);
    expect(loader).toHaveBeenCalledTimes(1);
    expect(() => sessionOf(ws)).toThrow(/SessionInterceptor did not run/);
  });
});
