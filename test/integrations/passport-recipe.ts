import { Injectable, UnauthorizedException } from '@nestjs/common';
import { PassportSerializer, PassportStrategy } from '@nestjs/passport';
import { Strategy } from 'passport-local';

// The providers of the NestJS documentation's Passport session recipe, as the
// documentation writes them, shared by the Express and Fastify specs (their
// guards and controllers differ by platform and stay in each spec).

export interface User {
  userId: number;
  username: string;
  password?: string;
}

@Injectable()
export class UsersService {
  private readonly users: User[] = [
    { userId: 1, username: 'john', password: 'changeme' },
    { userId: 2, username: 'maria', password: 'guess' },
  ];

  async findOne(username: string): Promise<User | undefined> {
    return this.users.find((user) => user.username === username);
  }
}

@Injectable()
export class AuthService {
  constructor(private readonly usersService: UsersService) {}

  async validateUser(username: string, pass: string): Promise<Omit<User, 'password'> | null> {
    const user = await this.usersService.findOne(username);
    if (user && user.password === pass) {
      const { password: _password, ...result } = user;
      return result;
    }
    return null;
  }
}

@Injectable()
export class LocalStrategy extends PassportStrategy(Strategy) {
  constructor(private readonly authService: AuthService) {
    super();
  }

  async validate(username: string, password: string): Promise<unknown> {
    const user = await this.authService.validateUser(username, password);
    if (!user) throw new UnauthorizedException();
    return user;
  }
}

@Injectable()
export class SessionSerializer extends PassportSerializer {
  serializeUser(user: unknown, done: (err: Error | null, user: unknown) => void): void {
    done(null, user);
  }

  deserializeUser(payload: unknown, done: (err: Error | null, payload: unknown) => void): void {
    done(null, payload);
  }
}
