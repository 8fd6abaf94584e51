/** Moved to core/probe.ts (services must not import http/); kept for the modules that still import it here. */
export { readiness, secondsSince, type Readiness } from '../core/probe.ts';
