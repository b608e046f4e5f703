import { expect } from 'chai';
import { ConfigError, loadConfig, type Env } from '../../src/config.js';

const configError = (env: Env): ConfigError => {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

describe('persistence service configuration', () => {
  it('is off without DJANGO_BASE_URL', () => {
    expect(loadConfig({ INGEST_TOKEN: 'tok' }).persistence).to.equal(undefined);
  });

  it('reads the base URL (without a trailing slash), the token and the defaults', () => {
    const config = loadConfig({ DJANGO_BASE_URL: 'https://backoffice.example.com/voice/', INGEST_TOKEN: 'tok' });
    expect(config.persistence).to.deep.equal({
      baseUrl: 'https://backoffice.example.com/voice',
      ingestToken: 'tok',
      validateTimeoutMs: 3000,
      ingestTimeoutMs: 10_000,
      retryMinMs: 1000,
      retryMaxMs: 300_000,
    });
  });

  it('reads the timeouts and the retry delays', () => {
    const config = loadConfig({
      DJANGO_BASE_URL: 'http://127.0.0.1:8000',
      INGEST_TOKEN: 'tok',
      DJANGO_VALIDATE_TIMEOUT_MS: '500',
      INGEST_TIMEOUT_MS: '2000',
      INGEST_RETRY_MIN_MS: '50',
      INGEST_RETRY_MAX_MS: '400',
    });
    expect(config.persistence).to.deep.include({ validateTimeoutMs: 500, ingestTimeoutMs: 2000, retryMinMs: 50, retryMaxMs: 400 });
  });

  it('needs INGEST_TOKEN with DJANGO_BASE_URL, and names a bad URL without quoting it', () => {
    expect(configError({ DJANGO_BASE_URL: 'https://backoffice.example.com' }).message).to.equal(
      'INGEST_TOKEN: is required when DJANGO_BASE_URL is set: every request to the persistence service carries it',
    );
    const bad = configError({ DJANGO_BASE_URL: 'ftp://user:secret@host', INGEST_TOKEN: 'tok' });
    expect(bad.variable).to.equal('DJANGO_BASE_URL');
    expect(bad.message).not.to.contain('secret');
    expect(configError({ INGEST_RETRY_MIN_MS: '5000', INGEST_RETRY_MAX_MS: '1000' }).variable).to.equal('INGEST_RETRY_MAX_MS');
    const withUser = configError({ DJANGO_BASE_URL: 'https://svc:hunter2@backoffice.example.com', INGEST_TOKEN: 'tok' });
    expect(withUser.message).to.equal('DJANGO_BASE_URL: must not hold a user or password: the service is authenticated with INGEST_TOKEN');
    expect(configError({ DJANGO_BASE_URL: 'https://backoffice.example.com/?x=1', INGEST_TOKEN: 'tok' }).variable).to.equal('DJANGO_BASE_URL');
  });
});
