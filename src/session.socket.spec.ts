import { ServiceUnavailableException } from '@nestjs/common';
import { WsException } from '@nestjs/websockets';
import { resolveSessionOptions } from './session.options.js';
import { SessionService } from './session.service.js';
import { bindSocket, createsSession, messageRequestOf, socketError } from './session.socket.js';
import { Session } from './session.js';

const SECRET = 'unit-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

describe('session.socket', () => {
  it('reads the handshake of socket.io clients and the bound request of ws clients', async () => {
    const io = { handshake: { headers: { cookie: 'session=a' } } };
    expect((await messageRequestOf(io)).headers).toEqual({ cookie: 'session=a' });
    const ws = {};
    bindSocket(ws, { headers: { cookie: 'session=b' } });
    expect((await messageRequestOf(ws)).headers).toEqual({ cookie: 'session=b' });
    // A fresh request per message: nothing carries over from one to the next.
    expect(await messageRequestOf(ws)).not.toBe(await messageRequestOf(ws));
  });

  it('fails an unbound ws client with a WsException naming bindSocket', async () => {
    await expect(messageRequestOf({})).rejects.toThrow(WsException);
    await expect(messageRequestOf({})).rejects.toThrow(/bindSocket\(client, request\)/);
  });

  it('turns messages and HTTP exceptions into WsExceptions, and leaves other errors alone', async () => {
    const fromHttp = await socketError(new ServiceUnavailableException('store down'));
    expect(fromHttp).toBeInstanceOf(WsException);
    expect(fromHttp.message).toBe('store down');
    const other = new TypeError('bug');
    expect(await socketError(other)).toBe(other);
  });

  it('counts as creating a session only a new one left with data', () => {
    const session = new Session();
    expect(createsSession(session)).toBe(false);
    session.set('a', 1);
    expect(createsSession(session)).toBe(true);
    session.delete('a');
    expect(createsSession(session)).toBe(false);
  });

  it('refuses to save over a socket a session that loadForSocket did not give', async () => {
    const service = new SessionService(resolveSessionOptions({ secretKey: SECRET }));
    await expect(service.saveForSocket(new Session())).rejects.toThrow(
      /saveForSocket\(\) saves a session from loadForSocket\(\)/,
    );
  });
});
