// express-session ships no types and @types/express-session is not worth a
// dependency for three calls.
declare module 'express-session' {
  const session: (
    options: Record<string, unknown>,
  ) => (req: unknown, res: unknown, next: () => void) => void;
  export default session;
  export class MemoryStore {}
}
