import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CdcError } from '../../src/core/errors.ts';
import { OperatorPause } from '../../src/source/operator-pause.ts';

describe('operator pause', () => {
  it('applies to SCHEMA_INCOMPATIBLE only', () => {
    assert.ok(OperatorPause.appliesTo(new CdcError('SCHEMA_INCOMPATIBLE', 'x')));
    assert.ok(!OperatorPause.appliesTo(new CdcError('SOURCE_POSITION_PURGED', 'x')));
  });

  it('holds until retryNow(), which an admin command can call; false when not paused', async () => {
    const pause = new OperatorPause();
    assert.equal(pause.retryNow(), false);
    const held = pause.hold(3_600_000, new AbortController().signal);
    assert.ok(pause.paused);
    assert.equal(pause.retryNow(), true);
    await held;
    assert.ok(!pause.paused);
  });

  it('ends the hold when the service stops', async () => {
    const pause = new OperatorPause();
    const stop = new AbortController();
    const held = pause.hold(3_600_000, stop.signal);
    stop.abort();
    await held;
    assert.ok(!pause.paused);
  });
});
