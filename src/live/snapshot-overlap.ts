// In a fleet, an event can reach a worker after the store already holds its effect: the worker
// that caused it writes the store first, then publishes, and the message crosses the primary. A
// watcher whose snapshot was read in between would see it twice, once in the snapshot and once
// as an event. Each kind of event a snapshot can hold is recognized by what the store keeps of it;
// latency figures and call_ended are not kept in that form, so they always go through.
import type { TranscriptLine } from '../tasks/model.js';
import type { TaskView } from '../tasks/view.js';
import type { LiveEvent } from './bus.js';

/** A test of whether an event is already in `snapshot`, built once per watcher. */
export function inSnapshot(snapshot: TaskView): (event: LiveEvent) => boolean {
  const lines = new Set(snapshot.transcript.map(lineKey));
  const changes = new Set(snapshot.history.map((change) => `${change.status}@${change.at}`));
  const analysis = snapshot.analysis && snapshot.analysis.state !== 'pending' ? JSON.stringify(snapshot.analysis) : undefined;
  return (event) => {
    switch (event.type) {
      case 'transcript':
        return lines.has(lineKey(event.line));
      case 'status':
        return changes.has(`${event.status}@${event.at}`);
      case 'analysis': {
        if (analysis === undefined) return false;
        const { type: _type, ...state } = event;
        return JSON.stringify(state) === analysis;
      }
      default:
        return false;
    }
  };
}

function lineKey(line: TranscriptLine): string {
  return `${line.atMs}\u0000${line.role}\u0000${line.interrupted === true}\u0000${line.text}`;
}
