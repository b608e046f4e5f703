// The call's end of the recorder: opens it without holding up the call, replays audio that arrived
// while it opened, and says what happened to the recording in the call's own log lines: an open
// failure, the first failed write at the moment it happens (later ones are counted, not logged
// per block), and at the end how many blocks are missing from the file.
import type { CallContext } from '../agents/bridge.js';
import { CallRecorder, type CallRecorderOptions, type RecordingInfo } from '../audio/recorder.js';
import type { Logger } from '../telemetry/logger.js';

/** The call's ids as its log lines carry them. */
export type RecorderLogIds = { callSid?: string; streamSid?: string; taskId?: string };

/** The recorder opens asynchronously; audio that arrives meanwhile is copied and replayed into it in order. */
export class RecorderSlot {
  private recorder: CallRecorder | undefined;
  private pending: Array<(r: CallRecorder) => void> | undefined = [];
  private readonly opened: Promise<CallRecorder | undefined>;

  constructor(
    options: CallRecorderOptions,
    private readonly log: Logger,
    private readonly ids: RecorderLogIds,
  ) {
    this.opened = CallRecorder.open({ ...options, onWriteError: (err) => this.onWriteError(err) }).then(
      (recorder) => {
        this.recorder = recorder;
        for (const op of this.pending ?? []) op(recorder);
        this.pending = undefined;
        return recorder;
      },
      (err: Error) => {
        this.pending = undefined;
        this.log.error('recording could not be opened', { ...this.ids, error: err.message });
        return undefined;
      },
    );
  }

  callerAudio(audio: Buffer, atMs: number): void {
    if (this.recorder) return this.recorder.callerAudio(audio, atMs);
    const copy = Buffer.from(audio);
    this.pending?.push((r) => r.callerAudio(copy, atMs));
  }

  agentAudio(audio: Buffer, atMs: number): void {
    if (this.recorder) return this.recorder.agentAudio(audio, atMs);
    const copy = Buffer.from(audio);
    this.pending?.push((r) => r.agentAudio(copy, atMs));
  }

  cutAgentFrom(atMs: number): void {
    if (this.recorder) return this.recorder.cutAgentFrom(atMs);
    this.pending?.push((r) => r.cutAgentFrom(atMs));
  }

  /** The finished recording (undefined if it never opened); rejects only when nothing could be saved. */
  async finalize(endAtMs: number): Promise<RecordingInfo | undefined> {
    const info = await (await this.opened)?.finalize(endAtMs);
    if (info && info.failedWrites > 0) {
      this.log.warn('recording is incomplete: some blocks could not be written', { ...this.ids, recording: info.path, failedWrites: info.failedWrites, durationMs: info.durationMs });
    }
    return info;
  }

  private onWriteError(err: Error): void {
    const file = this.recorder?.partPath;
    this.log.error('recording write failed; the call goes on and the recording keeps what reached the disk', { ...this.ids, file, error: err.message });
  }
}

/** A file stem safe on any filesystem: the UTC start time, then the call and stream ids with anything unusual replaced. */
export function recordingName(startedAt: Date, call: CallContext): string {
  const stamp = startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}_${recordingIdPart(call.callSid)}_${recordingIdPart(call.streamSid)}`;
}

/** How an id appears in a recording's name (Twilio's own sids are unchanged). */
export function recordingIdPart(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
}

/** Whether a recording's file name (`<stamp>_<callSid>_<streamSid>...`) is of the call with this CallSid. */
export function isRecordingOfCall(fileName: string, callSid: string): boolean {
  const afterStamp = fileName.slice(fileName.indexOf('_') + 1);
  return afterStamp.startsWith(`${recordingIdPart(callSid)}_`);
}
