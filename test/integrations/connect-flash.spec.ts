import { Controller, Get, Post, Req, Res, type INestApplication } from '@nestjs/common';
import flash from 'connect-flash';
import type { Response } from 'express';
import request from 'supertest';
import { sessionMiddleware, SessionModule } from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import { cookieFrom, SECRET } from '../support/fixtures/http.js';

type FlashRequest = { flash(type: string, message?: string): string[] | number };

@Controller('items')
class ItemsController {
  @Post()
  create(@Req() req: FlashRequest, @Res() res: Response): void {
    req.flash('info', 'Item saved');
    res.redirect(303, '/items');
  }

  @Get()
  list(@Req() req: FlashRequest): unknown {
    return { info: req.flash('info') };
  }
}

describe('connect-flash', () => {
  let app: INestApplication;

  beforeEach(async () => {
    app = await createApp(
      {
        imports: [SessionModule.forRoot({ secretKey: SECRET })],
        controllers: [ItemsController],
      },
      {
        beforeInit: (nest) => {
          nest.use(sessionMiddleware(nest));
          nest.use(flash());
        },
      },
    );
  });

  afterEach(() => app.close());

  it('shows a flash set before a redirect once, on the next request', async () => {
    const redirect = await request(app.getHttpServer()).post('/items').expect(303);
    expect(redirect.headers.location).toBe('/items');
    const cookie = cookieFrom(redirect);
    const first = await request(app.getHttpServer()).get('/items').set('Cookie', cookie);
    expect(first.body).toEqual({ info: ['Item saved'] });
    const second = await request(app.getHttpServer()).get('/items').set('Cookie', cookie);
    expect(second.body).toEqual({ info: [] });
  });

  it('keeps flashes set on two requests until they are shown', async () => {
    const cookie = cookieFrom(await request(app.getHttpServer()).post('/items').expect(303));
    await request(app.getHttpServer()).post('/items').set('Cookie', cookie).expect(303);
    const shown = await request(app.getHttpServer()).get('/items').set('Cookie', cookie);
    expect(shown.body).toEqual({ info: ['Item saved', 'Item saved'] });
  });
});
