// What the API shows of a task. The recording's server path stays inside the gateway: clients
// get the URL that serves it instead.
import type { Task } from './model.js';

export type TaskView = Omit<Task, 'recordingPath'> & {
  /** Present once the call's WAV is kept. */
  audioUrl?: string;
};

/** A list entry: everything but the transcript, which GET /api/tasks/{id} carries. */
export type TaskSummaryView = Omit<TaskView, 'transcript'>;

export function taskView(task: Task): TaskView {
  const { recordingPath, ...rest } = task;
  return recordingPath === undefined ? rest : { ...rest, audioUrl: `/api/tasks/${encodeURIComponent(task.id)}/audio` };
}

export function taskSummaryView(task: Task): TaskSummaryView {
  const { transcript: _transcript, ...rest } = taskView(task);
  return rest;
}
