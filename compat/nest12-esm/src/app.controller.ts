import { Controller, Get, Req } from '@nestjs/common';
import { Session, SessionService } from 'pselfastapise-async';

declare module 'pselfastapise-async' {
  interface SessionData {
    username?: string;
    user_id?: number;
    visits?: number;
  }
}

/** The login / profile / logout flow of the seed article, plus a page that starts an anonymous session. */
@Controller()
export class AppController {
  constructor(private readonly sessions: SessionService) {}

  @Get('visit')
  visit(@Session() session: Session): { visits: number } {
    const visits = (session.get('visits') ?? 0) + 1;
    session.set('visits', visits);
    return { visits };
  }

  @Get('login')
  async login(@Req() request: object, @Session() session: Session): Promise<{ message: string }> {
    session.set('username', 'Alice');
    session.set('user_id', 123);
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
