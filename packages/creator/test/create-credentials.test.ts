/** Credentials in URLs: used to fetch (as Basic auth), never shown (url-credentials.ts). */
import { PonchoError } from '@poncho/core/errors';
import { describe, expect, it } from 'vitest';
import {
  redactError,
  redactingLogger,
  redactUrlCredentials,
  splitUrlCredentials,
} from '../dist/url-credentials.js';
import { captureLogger } from './capture-logger.js';

describe('URL credentials', () => {
  it('redacts user:password, a lone token user, and conda /t/ tokens, in any text', () => {
    expect(
      redactUrlCredentials(
        'cannot reach https://alice:tok3n@h.example/c/linux-64/repodata.json: ECONNREFUSED',
      ),
    ).toBe('cannot reach https://***@h.example/c/linux-64/repodata.json: ECONNREFUSED');
    expect(redactUrlCredentials("git clone 'https://ghp_abc123@github.com/o/r.git'")).toBe(
      "git clone 'https://***@github.com/o/r.git'",
    );
    expect(redactUrlCredentials('https://conda.example/t/tk-123/main/noarch')).toBe(
      'https://conda.example/t/***/main/noarch',
    );
    // Nothing to hide: unchanged (an e-mail address is not a URL, a folder named t is no token).
    const plain = 'see https://h.example/a@b and write to a@b.example; file:///home/t/chan';
    expect(redactUrlCredentials(plain)).toBe(plain);
  });

  it('moves user:password into an Authorization header', () => {
    expect(splitUrlCredentials('https://al%40ice:p%3Ass@h.example/x?y=1')).toEqual({
      url: 'https://h.example/x?y=1',
      headers: { authorization: `Basic ${Buffer.from('al@ice:p:ss').toString('base64')}` },
    });
    expect(splitUrlCredentials('https://h.example/x')).toEqual({
      url: 'https://h.example/x',
      headers: {},
    });
  });

  it('redacts an error, its hint, its stack and its causes', () => {
    const cause = new TypeError('Request cannot be constructed from https://u:secret@h/x');
    const error = redactError(
      new PonchoError('ERR_X', 'failed: https://u:secret@h/x', {
        hint: 'check https://u:secret@h/x',
        cause,
      }),
    );
    expect(
      `${error.message} ${error.hint} ${error.stack} ${cause.message} ${cause.stack}`,
    ).not.toContain('secret');
    expect(error.message).toBe('failed: https://***@h/x');
  });

  it('redacts every logged message', () => {
    const captured = captureLogger();
    const logger = redactingLogger(captured.logger);
    for (const log of [logger.error, logger.warn, logger.info, logger.debug])
      log('fetching https://u:secret@h/x');
    expect(captured.text().match(/fetching https:\/\/\*\*\*@h\/x/g)).toHaveLength(4);
    expect(captured.text()).not.toContain('secret');
    expect(logger.level).toBe('debug');
  });
});
