// What the API shows of a call: the recording as the URL that serves it, never its server path;
// whether there is a transcript at all. The analysis has its own route.
import type { Call, CallEntry } from './model.js';
import type { CallSummaryView, CallView } from './schemas.js';

export function callAudioUrl(id: string): string {
  return `/api/calls/${encodeURIComponent(id)}/audio`;
}

export function callSummaryView(call: CallEntry): CallSummaryView {
  const { recordingPath, analysis: _analysis, transcriptNote, ...rest } = call;
  return {
    ...rest,
    ...(recordingPath !== undefined && { audioUrl: callAudioUrl(call.id) }),
    transcriptAvailable: transcriptNote === undefined,
    ...(transcriptNote !== undefined && { transcriptNote }),
  };
}

export function callView(call: Call): CallView {
  const { transcript, events, ...entry } = call;
  return { ...callSummaryView(entry), transcript, events };
}
