import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import * as ddb from '#shared/adapters/dynamodb.ts';

/** The error the SDK throws for a transaction DynamoDB cancelled with these reason codes. */
const cancelled = (...codes: string[]) =>
  new TransactionCanceledException({
    message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`,
    $metadata: { httpStatusCode: 400 },
    CancellationReasons: codes.map((Code) => ({ Code })),
  });

describe('a cancelled transaction', () => {
  it('is a failed condition when every reason is ConditionalCheckFailed or None', () => {
    for (const codes of [
      ['ConditionalCheckFailed'],
      ['None', 'ConditionalCheckFailed'],
      ['ConditionalCheckFailed', 'ConditionalCheckFailed', 'None'],
    ]) {
      const error = cancelled(...codes);
      expect(ddb.isTransactionConditionFailed(error), codes.join()).toBe(true);
      expect(ddb.isTransientCancellation(error), codes.join()).toBe(false);
      expect(ddb.isRetryableError(error), codes.join()).toBe(false);
    }
  });

  it('is transient, not a failed condition, when any reason is a conflict or throttling', () => {
    for (const codes of [
      ['None', 'TransactionConflict'],
      ['ConditionalCheckFailed', 'TransactionConflict'],
      ['ThrottlingError', 'None'],
      ['None', 'ProvisionedThroughputExceeded'],
    ]) {
      const error = cancelled(...codes);
      expect(ddb.isTransactionConditionFailed(error), codes.join()).toBe(false);
      expect(ddb.isTransientCancellation(error), codes.join()).toBe(true);
      expect(ddb.isRetryableError(error), codes.join()).toBe(true);
    }
  });

  it('is neither when its reasons are missing, all None, or a validation error', () => {
    for (const codes of [[], ['None', 'None'], ['ValidationError', 'None']]) {
      const error = cancelled(...codes);
      expect(ddb.isTransactionConditionFailed(error), codes.join()).toBe(false);
      expect(ddb.isTransientCancellation(error), codes.join()).toBe(false);
    }
  });

  it('is not confused with other errors', () => {
    const conditional = Object.assign(new Error('The conditional request failed'), {
      name: 'ConditionalCheckFailedException',
    });
    expect(ddb.isConditionalCheckFailed(conditional)).toBe(true);
    expect(ddb.isTransactionConditionFailed(conditional)).toBe(false);
    expect(ddb.isTransientCancellation(new Error('TransactionConflict'))).toBe(false);
  });
});
