import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { heartbeatSeconds } from '../../src/source/binlog-heartbeat.ts';

describe('server heartbeat period', () => {
  it('fits three heartbeats in the stall bound, to a tenth of a second, and is at most 30 s', () => {
    assert.equal(heartbeatSeconds(2), 0.7);
    assert.equal(heartbeatSeconds(4), 1.3);
    assert.equal(heartbeatSeconds(60), 20);
    assert.equal(heartbeatSeconds(86_400), 30);
  });
});
