import { Body, Controller, Get, Next, Post, Req, Res, Response, Sse } from '@nestjs/common';
import { of } from 'rxjs';
import {
  handlerSendsResponse,
  handlerStreamsEvents,
  NEXT_PARAMTYPE,
  RESPONSE_PARAMTYPE,
  RESPONSE_PASSTHROUGH_METADATA,
  ROUTE_ARGS_METADATA,
} from './session.route-args.js';

@Controller()
class RoutesController {
  @Get('plain')
  plain(@Req() _request: unknown, @Body() _body: unknown) {
    return 'ok';
  }

  @Sse('events')
  events() {
    return of({ data: 'a' });
  }

  @Get('none')
  none() {
    return 'ok';
  }

  @Get('res')
  res(@Res() _response: unknown) {}

  @Get('response')
  response(@Req() _request: unknown, @Response() _response: unknown) {}

  @Get('passthrough')
  passthrough(@Res({ passthrough: true }) _response: unknown) {
    return 'ok';
  }

  @Get('res-false')
  resFalse(@Res({ passthrough: false }) _response: unknown) {}

  @Post('next')
  next(@Body() _body: unknown, @Next() _next: unknown) {}

  @Get('passthrough-next')
  passthroughNext(@Res({ passthrough: true }) _response: unknown, @Next() _next: unknown) {
    return 'ok';
  }
}

class SubController extends RoutesController {}

describe('Nest metadata the interceptor reads', () => {
  const args = (method: string) =>
    Object.keys(Reflect.getMetadata(ROUTE_ARGS_METADATA, RoutesController, method) ?? {});

  it('records @Res() and @Next() under their parameter types and positions', () => {
    expect(args('res')).toEqual([`${RESPONSE_PARAMTYPE}:0`]);
    expect(args('response')).toContain(`${RESPONSE_PARAMTYPE}:1`);
    expect(args('next')).toContain(`${NEXT_PARAMTYPE}:1`);
    expect(args('plain')).not.toContain(`${RESPONSE_PARAMTYPE}:0`);
    expect(args('plain')).toHaveLength(2);
  });

  it('records passthrough on the handler, not in its arguments', () => {
    expect(
      Reflect.getMetadata(RESPONSE_PASSTHROUGH_METADATA, RoutesController, 'passthrough'),
    ).toBe(true);
    expect(
      Reflect.getMetadata(RESPONSE_PASSTHROUGH_METADATA, RoutesController, 'res'),
    ).toBeUndefined();
  });
});

describe('handlerSendsResponse', () => {
  it('is false for a handler that returns its response', () => {
    expect(handlerSendsResponse(RoutesController, 'plain')).toBe(false);
    expect(handlerSendsResponse(RoutesController, 'none')).toBe(false);
  });

  it('is true for a handler that takes @Res() or @Response()', () => {
    expect(handlerSendsResponse(RoutesController, 'res')).toBe(true);
    expect(handlerSendsResponse(RoutesController, 'response')).toBe(true);
    expect(handlerSendsResponse(RoutesController, 'resFalse')).toBe(true);
  });

  it('is false for @Res({ passthrough: true }): Nest still sends what the handler returns', () => {
    expect(handlerSendsResponse(RoutesController, 'passthrough')).toBe(false);
    expect(handlerSendsResponse(RoutesController, 'passthroughNext')).toBe(false);
  });

  it('is true for a handler that takes @Next()', () => {
    expect(handlerSendsResponse(RoutesController, 'next')).toBe(true);
  });

  it('reads handlers a controller inherits', () => {
    expect(handlerSendsResponse(SubController, 'res')).toBe(true);
    expect(handlerSendsResponse(SubController, 'passthrough')).toBe(false);
  });

  it('is false for a name with no handler behind it', () => {
    expect(handlerSendsResponse(RoutesController, 'missing')).toBe(false);
  });
});

describe('handlerStreamsEvents', () => {
  it('is true for an @Sse() handler only', () => {
    const proto = RoutesController.prototype;
    expect(handlerStreamsEvents(proto.events)).toBe(true);
    expect(handlerStreamsEvents(proto.plain)).toBe(false);
    expect(handlerStreamsEvents(proto.res)).toBe(false);
  });
});
