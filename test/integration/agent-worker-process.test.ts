// `npm run agent` as an operator runs it: a process of its own that registers with LiveKit (a
// fake /agent endpoint here), runs a dispatched job, and on SIGTERM drains (tells LiveKit it is
// full, so no new job comes) and exits 0.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkerStatus } from '@livekit/protocol';
import { openSqliteSessionStore } from '../../src/rooms/sqlite-store.js';
import { FakeLivekitAgentServer } from '../helpers/fake-livekit-agent-server.js';

const TSX = import.meta.resolve('tsx');
const SCRIPT = fileURLToPath(new URL('../../scripts/agent.ts', import.meta.url));

describe('npm run agent', function () {
  this.timeout(120_000);

  it('registers, runs a dispatched room session, refuses a dispatch without a session, and drains and exits 0 on SIGTERM', async () => {
    const server = await FakeLivekitAgentServer.start();
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'agent-cwd-'));
    const child = spawn(process.execPath, ['--import', TSX, SCRIPT], {
      cwd,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '',
        DATA_DIR: path.join(cwd, 'data'),
        LIVEKIT_URL: server.url,
        LIVEKIT_API_KEY: 'APIprocess',
        LIVEKIT_API_SECRET: 'process-secret-long-enough-for-hs256-signing',
        LIVEKIT_AGENT_NAME: 'separate-agent',
        LIVEKIT_AGENT_IDLE_PROCESSES: '0',
        DRAIN_TIMEOUT_S: '5',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const register = await server.next('register', 60_000);
      expect(register.message.value.agentName).to.equal('separate-agent');

      // The session as POST /session would have stored it, in the store this process shares with the gateway.
      const store = openSqliteSessionStore(path.join(cwd, 'data'));
      const { session } = await store.create({ room: 'room-sep' });
      server.offerJob({ id: 'AJ_sep', room: 'room-sep', agentName: 'separate-agent', metadata: JSON.stringify({ session_id: session.id }) });
      let ended: Awaited<ReturnType<typeof store.get>>;
      await untilAsync(async () => (ended = await store.get(session.id))?.endedAt !== undefined, 'the session ended in the store', () => out);
      // The job process reached the worker's sink: started (its job id kept), then ended without a room (no SFU here).
      expect(ended!.jobId).to.equal('AJ_sep');
      expect(ended!.endReason).to.match(/^room_unreachable/);
      await store.close();

      // A dispatch without a session id: the job says why and ends, quoting none of the metadata.
      server.offerJob({ id: 'AJ_bad', room: 'room-bad', agentName: 'separate-agent', metadata: JSON.stringify({ system_prompt: 'Confidential prompt' }) });
      await until(() => /a room agent job cannot start/.test(out), 'the bad job was refused', () => out);
      expect(out).to.include('the dispatch metadata is invalid at session_id');
      expect(out).not.to.include('Confidential prompt');

      child.kill('SIGTERM');
      expect(await exited).to.equal(0);
      const full = server.received.find((m) => m.message.case === 'updateWorker' && m.message.value.status === WorkerStatus.WS_FULL);
      expect(full, 'the worker told LiveKit it takes no new job').to.not.equal(undefined);
      expect(out).not.to.include('process-secret');
    } finally {
      child.kill('SIGKILL');
      await server.close();
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});

async function untilAsync(condition: () => Promise<boolean>, what: string, output: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}; output:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function until(condition: () => boolean, what: string, output: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}; output:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
