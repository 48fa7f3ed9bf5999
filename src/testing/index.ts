export {
  describeSessionBackend,
  type DescribeSessionBackendOptions,
  type SessionBackendFactory,
} from './describe-session-backend.js';
export { type BackendCapability, type SessionBackendTarget } from './suite-context.js';
