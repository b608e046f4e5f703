import { expect } from 'chai';
import { ConfigError, describeConfig, loadConfig } from '../../src/config.js';

describe('DATABASE_URL', () => {
  const PASSWORD = 'hunter2-s3cret';

  it('is unset by default: SQLite in DATA_DIR', () => {
    const config = loadConfig({});
    expect(config.databaseUrl).to.equal(undefined);
    expect(describeConfig(config)).to.include({ database: 'sqlite' });
  });

  it('selects PostgreSQL with postgres:// or postgresql://, described by host and database only', () => {
    for (const scheme of ['postgres', 'postgresql']) {
      const url = `${scheme}://gateway:${PASSWORD}@db.example.com:6432/calls?sslmode=require`;
      const config = loadConfig({ DATABASE_URL: url });
      expect(config.databaseUrl).to.equal(url);
      const described = describeConfig(config);
      expect(described).to.include({ database: 'postgres db.example.com:6432/calls' });
      expect(JSON.stringify(described)).not.to.contain(PASSWORD).and.not.to.contain('gateway:');
    }
  });

  it('refuses a malformed URL or another scheme without quoting the password', () => {
    for (const url of [`postgres://gateway:${PASSWORD}@db.example.com:99999999/calls`, `mysql://gateway:${PASSWORD}@db.example.com/calls`, `gateway:${PASSWORD}`]) {
      let error: unknown;
      try {
        loadConfig({ DATABASE_URL: url });
      } catch (caught) {
        error = caught;
      }
      expect(error, url).to.be.instanceOf(ConfigError);
      expect((error as ConfigError).variable).to.equal('DATABASE_URL');
      expect((error as Error).message).not.to.contain(PASSWORD);
    }
  });
});
