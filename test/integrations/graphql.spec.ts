import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import {
  Injectable,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
} from '@nestjs/common';
import {
  Args,
  Context,
  Field,
  GqlExecutionContext,
  GraphQLModule,
  Int,
  Mutation,
  ObjectType,
  Query,
  ResolveField,
  Resolver,
} from '@nestjs/graphql';
import request from 'supertest';
import { RedisBackend } from '../../src/backends/redis.backend.js';
import {
  MemoryBackend,
  Session,
  SessionModule,
  SessionService,
  type SessionBackend,
} from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import {
  cookieFrom,
  newId,
  SECRET,
  sessionSetCookie,
  signedValue,
} from '../support/fixtures/http.js';
import { instrument, type Instrumented } from '../support/instrument.js';
import { redisUrl, uniquePrefix } from '../support/redis-clients.js';

// Apollo on Express. (On Fastify, Apollo needs @as-integrations/fastify and
// Mercurius is another driver; neither is supported yet, so this spec lives
// under test/integrations, which only the Express project runs.)

@ObjectType()
class Me {
  @Field(() => String, { nullable: true })
  user!: string | null;
}

@Injectable()
class SignedInGuard implements CanActivate {
  constructor(private readonly sessions: SessionService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const { req } = GqlExecutionContext.create(context).getContext<{ req: object }>();
    const session = await this.sessions.load(req);
    return session.has('user');
  }
}

@Resolver(() => Me)
class MeResolver {
  constructor(private readonly sessions: SessionService) {}

  @Mutation(() => Boolean)
  login(@Args('name') name: string, @Session() session: Session): boolean {
    session.set('user', name);
    return true;
  }

  /** Login with fixation protection: a new id, the same data. */
  @Mutation(() => Boolean)
  async relogin(
    @Args('name') name: string,
    @Context('req') req: object,
    @Session() session: Session,
  ): Promise<boolean> {
    session.set('user', name);
    await this.sessions.regenerate(req);
    return true;
  }

  @Mutation(() => Boolean)
  async logout(@Context('req') req: object): Promise<boolean> {
    await this.sessions.destroy(req);
    return true;
  }

  @Mutation(() => Int)
  addToCart(@Args('item') item: string, @Session() session: Session): number {
    const cart = [...(session.get('cart', []) as string[]), item];
    session.set('cart', cart);
    return cart.length;
  }

  @Query(() => Me)
  me(@Session('user') user: string | undefined): { user: string | null } {
    return { user: user ?? null };
  }

  /** A root resolver that does not use the session, under field resolvers that do. */
  @Query(() => Me)
  plain(): { user: null } {
    return { user: null };
  }

  @Query(() => Int)
  cartSize(@Session() session: Session): number {
    return (session.get('cart', []) as string[]).length;
  }

  @Query(() => String)
  @UseGuards(SignedInGuard)
  secret(): string {
    return 'for members';
  }

  @ResolveField(() => Int)
  visits(@Session() session: Session): number {
    const visits = (session.get('visits', 0) as number) + 1;
    session.set('visits', visits);
    return visits;
  }

  @ResolveField(() => [String])
  cart(@Session('cart') cart: string[] | undefined): string[] {
    return cart ?? [];
  }
}

const backends: [string, () => SessionBackend][] = [
  ['memory', () => new MemoryBackend()],
  ['Redis', () => new RedisBackend({ url: redisUrl(), prefix: uniquePrefix('graphql') })],
];

describe.each(backends)('GraphQL resolvers (Apollo, Express) on %s', (_name, make) => {
  let app: INestApplication;
  let backend: Instrumented<SessionBackend>;

  beforeAll(async () => {
    backend = instrument(make());
    app = await createApp({
      imports: [
        GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true }),
        SessionModule.forRoot({ secretKey: SECRET, backend }),
      ],
      providers: [MeResolver, SignedInGuard],
    });
  });

  afterAll(async () => {
    await backend.clear();
    await app.close();
  });

  beforeEach(() => backend.resetCalls());

  function gql(query: string, cookie?: string): request.Test {
    const req = request(app.getHttpServer()).post('/graphql').send({ query });
    return cookie === undefined ? req : req.set('Cookie', cookie);
  }

  async function login(name = 'alice'): Promise<string> {
    const response = await gql(`mutation { login(name: "${name}") }`).expect(200);
    expect(response.body).toEqual({ data: { login: true } });
    return cookieFrom(response);
  }

  it('logs in with a mutation: the session cookie is on the response', async () => {
    const response = await gql('mutation { login(name: "alice") }').expect(200);
    const cookie = sessionSetCookie(response);
    expect(cookie?.attributes.httponly).toBe(true);
    expect(backend.writes).toBe(1);
  });

  it('regenerates the session in a mutation: a new cookie, the same data', async () => {
    const cookie = await login('zoe');
    const response = await gql('mutation { relogin(name: "zoe2") }', cookie).expect(200);
    const renewed = cookieFrom(response);
    expect(renewed).not.toBe(cookie);
    const old = await gql('{ me { user } }', cookie).expect(200);
    expect(old.body.data.me.user).toBeNull();
    const fresh = await gql('{ me { user } }', renewed).expect(200);
    expect(fresh.body.data.me.user).toBe('zoe2');
  });

  it('reads the session in a query sent with the cookie', async () => {
    const cookie = await login('bob');
    const response = await gql('{ me { user } }', cookie).expect(200);
    expect(response.body).toEqual({ data: { me: { user: 'bob' } } });
    // Read only: nothing written, no cookie.
    expect(sessionSetCookie(response)).toBeUndefined();
  });

  it('reads and writes once for a request running several resolvers, field resolvers included', async () => {
    const cookie = await login('carol');
    backend.resetCalls();
    const response = await gql(
      '{ me { user visits cart } cartSize again: me { visits } }',
      cookie,
    ).expect(200);
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data.me).toEqual({ user: 'carol', visits: 1, cart: [] });
    expect(response.body.data.cartSize).toBe(0);
    // Both field resolvers changed the same session object.
    expect(response.body.data.again).toEqual({ visits: 2 });
    expect(backend.reads).toBe(1);
    expect(backend.writes).toBe(1);

    const next = await gql('{ me { user visits } }', cookie).expect(200);
    expect(next.body.data.me).toEqual({ user: 'carol', visits: 3 });
  });

  it('gives field resolvers the session when their root resolver does not use it', async () => {
    const cookie = await login('gail');
    backend.resetCalls();
    const response = await gql('{ plain { visits cart } }', cookie).expect(200);
    expect(response.body).toEqual({ data: { plain: { visits: 1, cart: [] } } });
    expect(backend.reads).toBe(1);
    expect(backend.writes).toBe(1);
    const next = await gql('{ me { visits } }', cookie).expect(200);
    expect(next.body.data.me.visits).toBe(2);
  });

  it('keeps the changes of several mutations in one request, in one write', async () => {
    const cookie = await login('dave');
    backend.resetCalls();
    const response = await gql(
      'mutation { a: addToCart(item: "apple") b: addToCart(item: "pear") }',
      cookie,
    ).expect(200);
    expect(response.body.data).toEqual({ a: 1, b: 2 });
    expect(backend.reads).toBe(1);
    expect(backend.writes).toBe(1);
    const cart = await gql('{ me { cart } }', cookie).expect(200);
    expect(cart.body.data.me.cart).toEqual(['apple', 'pear']);
  });

  it('creates a session in a request without a cookie, with its cookie on that response', async () => {
    const response = await gql('mutation { addToCart(item: "fig") }').expect(200);
    const cookie = cookieFrom(response);
    const read = await gql('{ cartSize }', cookie).expect(200);
    expect(read.body.data.cartSize).toBe(1);
  });

  it('lets a guard load the session with SessionService.load(context.req), read once', async () => {
    const denied = await gql('{ secret }').expect(200);
    expect(denied.body.errors[0].message).toMatch(/Forbidden/);
    const cookie = await login('erin');
    backend.resetCalls();
    const allowed = await gql('{ secret me { user } }', cookie).expect(200);
    expect(allowed.body.data).toEqual({ secret: 'for members', me: { user: 'erin' } });
    expect(backend.reads).toBe(1);
    expect(backend.writes).toBe(0);
  });

  it('ends the session with SessionService.destroy in a mutation: cookie cleared, record gone', async () => {
    const cookie = await login('frank');
    const response = await gql('mutation { logout }', cookie).expect(200);
    expect(sessionSetCookie(response)?.attributes['max-age']).toBe('0');
    const after = await gql('{ me { user } }', cookie).expect(200);
    expect(after.body.data.me.user).toBeNull();
  });

  it.each([
    ['no cookie', undefined],
    ['a bad signature', `session=${newId()}.${'A'.repeat(43)}`],
    [
      'a duplicated cookie',
      () => `session=${signedValue(newId())}; session=${signedValue(newId())}`,
    ],
  ])('treats %s as no session, without a backend call', async (_case, cookie) => {
    const header = typeof cookie === 'function' ? cookie() : cookie;
    const response = await gql('{ me { user } cartSize }', header).expect(200);
    expect(response.body.data).toEqual({ me: { user: null }, cartSize: 0 });
    expect(backend.total).toBe(0);
    expect(sessionSetCookie(response)).toBeUndefined();
  });
});
