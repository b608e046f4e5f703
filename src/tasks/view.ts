// What the API shows of a task. The recording's server path stays inside the gateway: clients
// get the URL that serves it instead.
import type { Task } from './model.js';
import type { TaskSummary } from './store.js';

export type TaskView = Omit<Task, 'recordingPath'> & {
  /** Present once the call's WAV is kept. */
  audioUrl?: string;
};

/** A list entry: everything but the transcript, which GET /api/tasks/{id} carries. */
export type TaskSummaryView = Omit<TaskView, 'transcript'>;

export function taskView(task: Task): TaskView {
  const { recordingPath, ...rest } = task;
  return recordingPath === undefined ? rest : { ...rest, audioUrl: audioUrl(task.id) };
}

export function taskSummaryView(task: TaskSummary): TaskSummaryView {
  const { recordingPath, ...rest } = task;
  return recordingPath === undefined ? rest : { ...rest, audioUrl: audioUrl(task.id) };
}

const audioUrl = (taskId: string): string => `/api/tasks/${encodeURIComponent(taskId)}/audio`;
