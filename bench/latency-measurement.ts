import type { Operation } from '../src/wan/latency-forecast.js';

// What the latency bench measures, apart from the bench that measures it, so that the claims
// it is judged against (latency-claims.ts) and the bench itself both import it.

export interface Percentiles {
  p50: number;
  p95: number;
  samples: number;
}

export interface OperationResult extends Percentiles {
  /** The model's network time for the same requests (latency-forecast.ts): what the emulation adds, without server time. */
  forecastMs: number;
  /** The region home to the operation's service for the market, and the round trip to it. */
  home: string;
  rttMs: number;
}

export interface PhaseMeasurement {
  phase: string;
  /** Whether a CDN (the edge cache) served static content: not before phase 1. */
  cdn: boolean;
  /** market → operation → measured ms, and the model's network time for the same requests. */
  markets: Record<string, Record<Operation, OperationResult>>;
  migration: { rows: number; seconds: number } | null;
}
