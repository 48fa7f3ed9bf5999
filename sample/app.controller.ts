import { Controller, Get, Req } from '@nestjs/common';
import { Session, SessionService } from '../src/index.js';

declare module '../src/index.js' {
  interface SessionData {
    username?: string;
    user_id?: number;
  }
}

/** The login / profile / logout flow from the article the library grew from. */
@Controller()
export class AppController {
  constructor(private readonly sessions: SessionService) {}

  @Get('login')
  async login(@Req() request: object, @Session() session: Session): Promise<{ message: string }> {
    session.set('username', 'Alice');
    session.set('user_id', 123);
    // A new id after login: an id planted before login (session fixation) is worthless.
    await this.sessions.regenerate(request);
    return { message: 'Logged in as Alice.' };
  }

  @Get('profile')
  profile(@Session() session: Session): { message: string } {
    const username = session.get('username');
    if (username === undefined) return { message: 'Please log in first.' };
    return { message: `Welcome back, ${username}! Your ID is ${session.get('user_id')}.` };
  }

  @Get('logout')
  async logout(@Req() request: object): Promise<{ message: string }> {
    await this.sessions.destroy(request);
    return { message: 'Logged out successfully.' };
  }
}
