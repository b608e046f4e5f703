// The entry of an agent worker thread: it builds hosted bridges on request, feeds them the caller
// audio from the ring and the control messages from the media thread, and posts their sink calls
// back in order. A bridge that throws loses its own call only; the worker goes on.
import { parentPort, workerData } from 'node:worker_threads';
import type { AgentBridge, AgentSink } from '../bridge.js';
import { inCallScope, installFaultGuard } from '../../call/fault-guard.js';
import { silentLogger } from '../../telemetry/logger.js';
import { epochMs } from '../../util/clock.js';
import { toError } from '../../util/errors.js';
import { AudioRingReader } from './audio-ring.js';
import { lowerThreadPriority } from './thread-priority.js';
import { droppedFramesOf, type FromWorker, type HostedAgentFactory, type HostedAgentKind, type SinkEvent, type ToWorker, type WorkerSetup } from './protocol.js';

if (!parentPort) throw new Error('src/agents/worker/host is a worker thread entry, not a module to import');
const port = parentPort;
const { config, ring } = workerData as WorkerSetup;

/** Held for a call whose bridge is still being built: 5 s of frames, then the oldest goes. */
const MAX_HELD_FRAMES = 250;

/** Something for a bridge that is still being built: a caller frame (copied out of the ring), a digit... */
type Held = (bridge: AgentBridge) => void;

interface HostedCall {
  bridge: AgentBridge | undefined;
  /** What arrived before the bridge existed, in order; given to it once built. */
  held: Held[];
  /** Set when the media thread closed the call, possibly before its bridge finished starting. */
  closed: boolean;
  /** The bridge's sink calls go to the media thread: also while it closes, as in-process, until `closed` is posted. */
  reporting: boolean;
}

const calls = new Map<number, HostedCall>();
// As on the media thread: an exception in what a call's bridge set going (a timer, a socket
// callback) ends that call; one outside every call ends the worker, whose calls the pool then
// fails. The media thread logs both.
installFaultGuard(silentLogger());
/**
 * The ring and the message port are separate channels: a call's first frames can arrive before
 * its `start`. Call ids only grow, so a frame for an id above every started one is early, not late.
 */
const early = new Map<number, Held[]>();
let newestCallId = 0;
const factories = new Map<string, Promise<HostedAgentFactory>>();
const reader = new AudioRingReader(ring);

const post = (message: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(message, transfer);

if (config.agentWorkerNice > 0) {
  const outcome = lowerThreadPriority(config.agentWorkerNice);
  post({ type: 'priority', nice: config.agentWorkerNice, ok: outcome.ok, ...(!outcome.ok && { reason: outcome.reason }) });
}

function loadFactory(kind: HostedAgentKind): Promise<HostedAgentFactory> {
  const key = `${kind.module}#${kind.export}`;
  let factory = factories.get(key);
  if (!factory) {
    factory = import(kind.module).then((mod: Record<string, unknown>) => {
      const found = mod[kind.export];
      if (typeof found !== 'function') throw new Error(`${kind.module} has no function export ${kind.export}`);
      return found as HostedAgentFactory;
    });
    factories.set(key, factory);
  }
  return factory;
}

/** The hosted bridge's sink: each call becomes one message; agent audio is copied once and transferred. */
function sinkFor(callId: number, call: HostedCall): AgentSink {
  const send = (event: SinkEvent, transfer?: ArrayBuffer[]) => {
    if (call.reporting) post({ type: 'sink', callId, event }, transfer);
  };
  return {
    audio(chunk) {
      // The bridge may reuse its buffer once this returns, and it may be a view of a larger one.
      const own = new Uint8Array(chunk.length);
      own.set(chunk);
      send({ type: 'audio', chunk: own }, [own.buffer]);
    },
    turnStarted: () => send({ type: 'turnStarted' }),
    utteranceDone: () => send({ type: 'utteranceDone' }),
    bargeIn: (signalledAt = epochMs()) => send({ type: 'bargeIn', signalledAt }),
    transcript: (line) => send({ type: 'transcript', line }),
    latency(metric, ms, extra) {
      try {
        send({ type: 'latency', metric, ms, ...(extra && { extra }) });
      } catch {
        send({ type: 'latency', metric, ms }); // extra held something that cannot cross threads
      }
    },
    action: (action) => send({ type: 'action', action }),
    error: (err, fatal) => send({ type: 'error', message: err.message, fatal }),
  };
}

/**
 * Runs one call into the hosted bridge, or holds it while the bridge is being built; if it throws,
 * the call is dropped here and ended there.
 */
function guarded(callId: number, use: Held): void {
  const call = calls.get(callId);
  if (!call || call.closed) return;
  if (!call.bridge) return hold(call.held, use);
  try {
    use(call.bridge);
  } catch (err) {
    crash(callId, call, toError(err));
  }
}

function crash(callId: number, call: HostedCall, err: Error): void {
  call.closed = true;
  call.reporting = false;
  calls.delete(callId);
  post({ type: 'crashed', callId, message: err.message });
  void closeQuietly(call.bridge, 'agent_error');
}

async function closeQuietly(bridge: AgentBridge | undefined, reason: string): Promise<void> {
  try {
    await bridge?.close(reason);
  } catch {
    // close() must not throw; one that does changes nothing: the call is over either way.
  }
}

function start(callId: number, kind: HostedAgentKind, context: Parameters<HostedAgentFactory>[0]): Promise<void> {
  newestCallId = Math.max(newestCallId, callId);
  const call: HostedCall = { bridge: undefined, held: early.get(callId) ?? [], closed: false, reporting: true };
  early.delete(callId);
  calls.set(callId, call);
  const scope = {
    ids: () => ({ callSid: context.callSid }),
    fault: (err: unknown) => {
      if (calls.get(callId) === call) crash(callId, call, toError(err));
    },
  };
  // What the bridge sets going from here (timers, sockets, promise chains) is this call's.
  return inCallScope(scope, () => build(callId, call, kind, context));
}

async function build(callId: number, call: HostedCall, kind: HostedAgentKind, context: Parameters<HostedAgentFactory>[0]): Promise<void> {
  try {
    const factory = await loadFactory(kind);
    if (call.closed) return;
    call.bridge = factory(context, sinkFor(callId, call), config);
    // As in-process: the session pushes audio as soon as start() is called, not once it resolves.
    const started = call.bridge.start();
    for (const use of call.held.splice(0)) guarded(callId, use);
    await started;
    if (!call.closed) post({ type: 'started', callId });
  } catch (err) {
    if (call.closed) return;
    calls.delete(callId);
    call.reporting = false;
    post({ type: 'startFailed', callId, message: toError(err).message });
    await closeQuietly(call.bridge, 'agent_error');
  }
}

async function close(callId: number, reason: string): Promise<void> {
  const call = calls.get(callId);
  if (call) {
    call.closed = true;
    calls.delete(callId);
    await closeQuietly(call.bridge, reason);
    call.reporting = false;
  }
  post({ type: 'closed', callId, droppedFrames: droppedFramesOf(call?.bridge) });
}

async function shutdown(): Promise<void> {
  reader.stop();
  const open = [...calls.values()];
  calls.clear();
  for (const call of open) {
    call.closed = true;
    call.reporting = false; // the media thread is shutting down: nothing is waiting for reports
  }
  await Promise.all(open.map((call) => closeQuietly(call.bridge, 'shutdown')));
  // Ends the thread even if a hosted agent left handles open (rtc-node's FFI handle keeps a loop
  // alive). Not rtc-node's dispose(): its FFI server is one per process, shared by every thread.
  process.exit(0);
}

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'start':
      return void start(message.callId, message.kind, message.call);
    case 'load': {
      // At spawn: the first call should not wait for the agent's code, and bad code fails start-up.
      const { module, export: name } = message.kind;
      return void loadFactory(message.kind).then(
        () => post({ type: 'loaded', module, export: name }),
        (err) => post({ type: 'loaded', module, export: name, error: toError(err).message }),
      );
    }
    case 'audio':
      return callerAudio(message.callId, Buffer.from(message.frame.buffer, message.frame.byteOffset, message.frame.length), message.atMs);
    case 'dtmf':
      return guarded(message.callId, (b) => b.pushDtmf(message.digit));
    case 'played':
      return guarded(message.callId, (b) => b.utterancePlayed(message.played));
    case 'close':
      return void close(message.callId, message.reason);
    case 'shutdown':
      return void shutdown();
  }
});

function callerAudio(callId: number, frame: Buffer, atMs: number): void {
  const call = calls.get(callId);
  if (call?.bridge) {
    // As guarded() does, without a closure per frame: this runs for every caller frame.
    if (call.closed) return;
    try {
      call.bridge.pushCallerAudio(frame, atMs);
    } catch (err) {
      crash(callId, call, toError(err));
    }
    return;
  }
  // The ring's slot is reused once we return: a frame kept for later is copied.
  const copy = Buffer.from(frame);
  const push: Held = (b) => b.pushCallerAudio(copy, atMs);
  if (call) return guarded(callId, push);
  if (callId > newestCallId) {
    let held = early.get(callId);
    if (!held) early.set(callId, (held = []));
    hold(held, push);
  }
}

function hold(held: Held[], use: Held): void {
  if (held.length === MAX_HELD_FRAMES) held.shift();
  held.push(use);
}

reader.start(callerAudio);
