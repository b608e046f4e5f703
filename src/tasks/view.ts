// What the API shows of a task. The recording's server path stays inside the gateway: clients
// get the URL that serves it instead.
import type { Task } from './model.js';
import type { TaskSummary } from './store.js';

export type TaskView = Omit<Task, 'recordingPath'> & {
  /** Present once the call's WAV is kept. */
  audioUrl?: string;
  /** GET /api/tasks/{id} only, once a call was placed: the task's calls, oldest first (GET /api/calls/{id}). */
  callIds?: string[];
};

/** A list entry: everything but the transcript, which GET /api/tasks/{id} carries. */
export type TaskSummaryView = Omit<TaskView, 'transcript'>;

/** The task (or list entry) as clients see it: the recording as a URL, never a server path. */
function withAudioUrl<T extends TaskSummary>(task: T): Omit<T, 'recordingPath'> & { audioUrl?: string } {
  const { recordingPath, ...rest } = task;
  return recordingPath === undefined ? rest : { ...rest, audioUrl: `/api/tasks/${encodeURIComponent(task.id)}/audio` };
}

export const taskView: (task: Task) => TaskView = withAudioUrl;
export const taskSummaryView: (task: TaskSummary) => TaskSummaryView = withAudioUrl;
