import type { SourcePosition } from '../core/position.ts';

/**
 * What the source last committed to Kafka: the stored position and when. The coordinator moves it
 * on every commit; the service shows it, and the retention check measures from it.
 */
export class CommittedPosition {
  position: SourcePosition | undefined;
  /** When the last commit happened (ms; 0 before the first of this process). */
  lastCommitAt = 0;
  /** Commit time of the last change the stored position covers (now, when idle commits moved it). */
  positionTime = 0;

  /** The position read back at start (`tsMs` is when its last change was committed, 0 when unknown). */
  restore(position: SourcePosition | undefined, tsMs: number): void {
    this.position = position;
    this.positionTime = tsMs;
  }

  committed(position: SourcePosition, tsMs: number): void {
    this.position = position;
    this.lastCommitAt = Date.now();
    this.positionTime = tsMs;
  }
}
