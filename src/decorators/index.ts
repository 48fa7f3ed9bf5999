export { Session } from './session.decorator.js';
